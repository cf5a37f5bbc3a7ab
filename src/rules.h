/* rules.h -- the election rules: pure functions of (old, new, requester, config, now). */
#ifndef LG_RULES_H
#define LG_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "lease.h"
#include "timefmt.h"

/* X(enum, id): the stable ids used in messages, policy files and metrics. */
#define LG_RULE_MAP(X)                                  \
  X(LG_RULE_HOLDER_RENEW, "holder-renew")               \
  X(LG_RULE_TRANSITIONS, "transitions")                 \
  X(LG_RULE_DURATION, "duration")                       \
  X(LG_RULE_DURATION_RECOMMENDED, "duration-recommended") \
  X(LG_RULE_RENEW_MONOTONIC, "renew-monotonic")         \
  X(LG_RULE_TIMESTAMPS, "timestamps")                   \
  X(LG_RULE_HOLDER_IDENTITY, "holder-identity")         \
  X(LG_RULE_DELETE_HELD, "delete-held")

typedef enum {
#define LG_RULE_ENUM(e, id) e,
  LG_RULE_MAP(LG_RULE_ENUM)
#undef LG_RULE_ENUM
  LG_RULE_COUNT
} lg_rule;

/* What a violation of a rule does. Ordered by severity. INHERIT only appears in policy
 * layers ("not set here"); a resolved lg_rule_config never holds it. */
typedef enum { LG_MODE_INHERIT = -1, LG_MODE_OFF, LG_MODE_AUDIT, LG_MODE_WARN, LG_MODE_ENFORCE } lg_mode;

typedef enum { LG_OP_CREATE, LG_OP_UPDATE, LG_OP_DELETE, LG_OP_CONNECT } lg_operation;

/* The resolved settings for one lease and one requester (see lg_policy_resolve).
 * String arrays are borrowed from the policy. */
typedef struct {
  lg_mode mode[LG_RULE_COUNT];
  lg_time skew;                          /* clock-skew tolerance, microseconds */
  int64_t duration_min, duration_max;    /* duration: allowed leaseDurationSeconds */
  int64_t recommended_min, recommended_max; /* duration-recommended: the band */
  const char *const *allowed_usernames;  /* holder-identity: globs; none = anyone */
  size_t n_allowed_usernames;
  const char *const *controller_usernames; /* coordinated election controller (system:apiserver) */
  size_t n_controller_usernames;
  const char *exempt_reason;             /* non-NULL: the request is exempt from every rule */
} lg_rule_config;

typedef struct {
  const char *username; /* "" when unknown */
  const char *pod_name; /* userInfo.extra["authentication.kubernetes.io/pod-name"][0], or NULL */
} lg_requester;

typedef struct {
  lg_operation op;
  const char *namespace, *name;  /* of the object, for messages */
  const lg_lease *old_lease;     /* NULL on CREATE */
  const lg_lease *new_lease;     /* NULL on DELETE */
  const lg_requester *requester;
} lg_rules_input;

#define LG_MESSAGE_MAX 640
#define LG_WARNING_MAX 120

typedef struct {
  lg_rule rule;
  lg_mode mode;                       /* AUDIT, WARN or ENFORCE */
  char message[LG_MESSAGE_MAX];       /* "[rule] ns/name: detail": denials, logs, audit annotations */
  char warning[LG_WARNING_MAX + 1];   /* the same, at most 120 bytes, for `warnings` */
} lg_finding;

typedef struct {
  lg_finding findings[LG_RULE_COUNT]; /* at most one per rule, in rule order */
  size_t n;
  bool allowed;                       /* false when a finding is in ENFORCE mode */
  const char *skipped;                /* non-NULL: why no rule ran (static string) */
} lg_verdict;

/* Judges one write. Pure: no I/O, no clock (now is an argument), no globals. */
void lg_rules_evaluate(const lg_rules_input *in, const lg_rule_config *cfg, lg_time now,
                       lg_verdict *out);

/* The stable id of rule r ("holder-renew"). */
const char *lg_rules_id(lg_rule r);

/* Parses a rule id; returns LG_RULE_COUNT when unknown. */
lg_rule lg_rules_parse_id(const char *id);

/* The name of mode m ("enforce"). */
const char *lg_rules_mode_name(lg_mode m);

/* Parses "off", "audit", "warn", "enforce"; returns LG_MODE_INHERIT when unknown. */
lg_mode lg_rules_parse_mode(const char *s);

/* Parses "CREATE", "UPDATE", "DELETE", "CONNECT"; returns -1 when unknown. */
int lg_rules_parse_operation(const char *s);

#endif
