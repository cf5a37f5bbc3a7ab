/* elector.h -- client-go's leader election (tools/leaderelection, Lease lock) as a state
 * machine: the caller supplies the clocks and the API calls, so tests drive it with a
 * fake clock and a fake API. */
#ifndef LG_ELECTOR_H
#define LG_ELECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "rules.h"
#include "rc.h"
#include "times.h"

/* Wrong writes on purpose, for self-tests only: each is what one webhook rule stops
 * (LG_RULE_COUNT: none). */
#define LG_MISBEHAVE_MAP(X)                                                 \
  X(LG_MISBEHAVE_NONE, "none", LG_RULE_COUNT)                               \
  X(LG_MISBEHAVE_STEAL, "steal", LG_RULE_HOLDER_RENEW)                      \
  X(LG_MISBEHAVE_SKIP_TRANSITION, "skip-transition", LG_RULE_TRANSITIONS)   \
  X(LG_MISBEHAVE_BACKDATE_RENEW, "backdate-renew", LG_RULE_RENEW_MONOTONIC) \
  X(LG_MISBEHAVE_HUGE_DURATION, "huge-duration", LG_RULE_DURATION)          \
  X(LG_MISBEHAVE_FUTURE_RENEW, "future-renew", LG_RULE_TIMESTAMPS)

typedef enum {
#define LG_MISBEHAVE_ENUM(e, name, rule) e,
  LG_MISBEHAVE_MAP(LG_MISBEHAVE_ENUM)
#undef LG_MISBEHAVE_ENUM
      LG_MISBEHAVE_COUNT
} lg_misbehave;

/* The Lease API the elector writes through. Each call returns the HTTP status (0 when no
 * answer came); on 2xx *out is the object the server returned (new reference). On an
 * error the server's message goes into msg. deadline is the monotonic time (the clock of
 * lg_elector_step) by which the call must have ended, INT64_MAX for none: a leader's
 * renewals end by its renew deadline, as client-go's context does. */
typedef struct {
  long (*get)(void *ctx, int64_t deadline, json_t **out, char *msg, size_t msglen);
  long (*create)(void *ctx, int64_t deadline, const json_t *lease, json_t **out, char *msg,
                 size_t msglen);
  long (*update)(void *ctx, int64_t deadline, const json_t *lease, json_t **out, char *msg,
                 size_t msglen);
  void *ctx;
} lg_lease_api;

typedef struct {
  const char *namespace, *name, *identity;              /* borrowed; must outlive the elector */
  int64_t lease_duration, renew_deadline, retry_period; /* microseconds */
  lg_misbehave misbehave;
} lg_elector_config;

/* What a step saw happen (a bit set). */
enum {
  LG_ELECT_BECAME_LEADER = 1,
  LG_ELECT_LOST_LEADERSHIP = 2,
  LG_ELECT_NEW_LEADER = 4,   /* the observed holder changed: see lg_elector_leader */
  LG_ELECT_WRITE_FAILED = 8, /* a create/update failed: see lg_elector_last_error */
  LG_ELECT_GET_FAILED = 16   /* reading the lease failed (no answer, 401, 403...): same */
};

typedef struct lg_elector lg_elector;

/* Checks client-go's constraints: lease duration > renew deadline > 1.2 x retry period > 0. */
lg_rc lg_elector_validate(const lg_elector_config *cfg, char *err, size_t errlen);

/* A new elector (a candidate, not yet leader). cfg and api are copied. */
lg_rc lg_elector_new(const lg_elector_config *cfg, const lg_lease_api *api, lg_elector **out,
                     char *err, size_t errlen);

/* Frees e; NULL is a no-op. */
void lg_elector_free(lg_elector *e);

/* Runs the attempt due at monotonic time mono (microseconds; any origin) and wall-clock
 * time wall. jitter is a random draw in [0, 1) for client-go's retry jitter. Sets *events
 * and returns the monotonic time at which the next step is due. */
int64_t lg_elector_step(lg_elector *e, int64_t mono, lg_time wall, double jitter, unsigned *events);

/* Gives the lease up if this elector leads (holder "", duration 1 s, transitions kept,
 * as client-go's ReleaseOnCancel). LG_OK when not leading or the write succeeded. */
lg_rc lg_elector_release(lg_elector *e, int64_t mono, lg_time wall);

/* True between becoming leader and losing (or releasing) leadership. */
bool lg_elector_is_leader(const lg_elector *e);

/* The fencing token of the term this elector leads,
 * "<namespace>/<lease>/<identity>/<leaseTransitions>" (see fence.h), into buf; false (buf
 * "") when not leading. It changes only when leadership is lost and won again. */
bool lg_elector_fencing_token(const lg_elector *e, char *buf, size_t len);

/* The holder last observed ("" when none). Borrowed until the next step. */
const char *lg_elector_leader(const lg_elector *e);

/* The last failed write: HTTP status (0 = none or no answer) and message. */
long lg_elector_last_status(const lg_elector *e);
const char *lg_elector_last_error(const lg_elector *e);

/* Parses a --misbehave value; returns LG_MISBEHAVE_COUNT when unknown. */
lg_misbehave lg_elector_parse_misbehave(const char *s);

/* The webhook rule a misbehaviour must trip ("holder-renew"); "" for none. */
const char *lg_elector_misbehave_rule(lg_misbehave m);

#endif
