/* rules.h -- the election rules: pure functions of (old, new, requester, config, now). */
#ifndef LG_RULES_H
#define LG_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "lease.h"
#include "times.h"

/* What a violation of a rule does. Ordered by severity. INHERIT only appears in policy
 * layers ("not set here"); a resolved lg_rule_config never holds it. */
typedef enum {
  LG_MODE_INHERIT = -1,
  LG_MODE_OFF,
  LG_MODE_AUDIT,
  LG_MODE_WARN,
  LG_MODE_ENFORCE
} lg_mode;

typedef enum { LG_OP_CREATE, LG_OP_UPDATE, LG_OP_DELETE, LG_OP_CONNECT } lg_operation;

/* The operations a rule judges (bits of 1 << lg_operation). */
#define LG_ON_CREATE (1u << LG_OP_CREATE)
#define LG_ON_UPDATE (1u << LG_OP_UPDATE)
#define LG_ON_DELETE (1u << LG_OP_DELETE)

/* A rule's parameters in the policy: minSeconds/maxSeconds, allowedUsernames; advice only
 * (never enforce). */
#define LG_PARAM_RANGE     1u
#define LG_PARAM_USERNAMES 2u
#define LG_PARAM_ADVICE    4u

/* The rules, one entry each: X(enum, id, default mode (INHERIT: the policy's defaultMode),
 * operations, parameters, default min and max seconds, default usernames (a NULL-ended
 * list or NULL), function in rules.c (rule_<fn>)). The order is the order of findings.
 * Adding a rule: one entry here, its function in rules.c, one row in tests/test_rules.c. */
#define LG_RULE_MAP(X)                                                                             \
  X(LG_RULE_HOLDER_RENEW, "holder-renew", LG_MODE_INHERIT, LG_ON_CREATE | LG_ON_UPDATE, 0, 0, 0,   \
    NULL, holder_renew)                                                                            \
  X(LG_RULE_TRANSITIONS, "transitions", LG_MODE_INHERIT, LG_ON_CREATE | LG_ON_UPDATE, 0, 0, 0,     \
    NULL, transitions)                                                                             \
  X(LG_RULE_DURATION, "duration", LG_MODE_INHERIT, LG_ON_CREATE | LG_ON_UPDATE, LG_PARAM_RANGE, 2, \
    3600, NULL, duration)                                                                          \
  X(LG_RULE_DURATION_RECOMMENDED, "duration-recommended", LG_MODE_WARN,                            \
    LG_ON_CREATE | LG_ON_UPDATE, LG_PARAM_RANGE | LG_PARAM_ADVICE, 5, 300, NULL,                   \
    duration_recommended)                                                                          \
  X(LG_RULE_RENEW_MONOTONIC, "renew-monotonic", LG_MODE_INHERIT, LG_ON_UPDATE, 0, 0, 0, NULL,      \
    renew_monotonic)                                                                               \
  X(LG_RULE_TIMESTAMPS, "timestamps", LG_MODE_INHERIT, LG_ON_CREATE | LG_ON_UPDATE, 0, 0, 0, NULL, \
    timestamps)                                                                                    \
  X(LG_RULE_HOLDER_IDENTITY, "holder-identity", LG_MODE_OFF, LG_ON_CREATE | LG_ON_UPDATE,          \
    LG_PARAM_USERNAMES, 0, 0, NULL, holder_identity)                                               \
  X(LG_RULE_DELETE_HELD, "delete-held", LG_MODE_INHERIT, LG_ON_DELETE, LG_PARAM_USERNAMES, 0, 0,   \
    lg_rules_default_deleters, delete_held)                                                        \
  X(LG_RULE_FENCING, "fencing", LG_MODE_INHERIT, 0, 0, 0, 0, NULL, fencing)

typedef enum {
#define LG_RULE_ENUM(e, id, mode, ops, params, min, max, users, fn) e,
  LG_RULE_MAP(LG_RULE_ENUM)
#undef LG_RULE_ENUM
      LG_RULE_COUNT
} lg_rule;

/* Who deletes leases for Kubernetes itself: the garbage collector (owner gone), the
 * namespace controller (namespace deleted), both as kube-controller-manager's own user when
 * it runs without per-controller credentials. NULL-ended. */
extern const char *const lg_rules_default_deleters[];

/* What the table says of a rule (for the policy and the tools around it). */
typedef struct {
  const char *id;
  lg_mode default_mode;
  unsigned ops, params;
  int64_t min, max;
  const char *const *usernames; /* NULL-ended, or NULL */
} lg_rule_info;

/* The table entry of rule r (r < LG_RULE_COUNT). */
const lg_rule_info *lg_rules_info(lg_rule r);

/* The resolved settings for one lease and one requester (see lg_policy_resolve).
 * String arrays are borrowed from the policy. */
typedef struct {
  lg_mode mode[LG_RULE_COUNT];
  lg_time skew; /* the writer clock error tolerated, microseconds */
  int64_t min[LG_RULE_COUNT], max[LG_RULE_COUNT]; /* LG_PARAM_RANGE: seconds */
  const char *const *usernames[LG_RULE_COUNT];    /* LG_PARAM_USERNAMES: globs */
  size_t n_usernames[LG_RULE_COUNT];
  const char *const *controller_usernames; /* coordinated election controller (system:apiserver) */
  size_t n_controller_usernames;
  const char *exempt_reason; /* non-NULL: the request is exempt from every rule */
} lg_rule_config;

/* Whether the requester is the one who has been writing for the old holder (lg_witness). */
typedef enum { LG_WRITER_UNKNOWN, LG_WRITER_SAME, LG_WRITER_OTHER } lg_writer_match;

/* What the webhook saw of a lease beyond the fields of its old version (see lg_witness).
 * All zero: nothing known, expiry is judged from renewTime alone. */
typedef struct {
  bool seen;               /* the old record (holder, renewTime) was first seen here ... */
  int64_t seen_age;        /* ... this long ago (microseconds, monotonic clock) */
  int64_t seen_slack;      /* how late that sighting may have been (a watch's delay) */
  bool seen_by_controller; /* that record was written by the election controller */
  bool term_seen;          /* a record of the old version's term (same holder, acquireTime
                            * and leaseTransitions) was seen here ... */
  int64_t term_seen_age;   /* ... this long ago at the latest: the term runs at least until
                            * then + leaseDurationSeconds */
  int64_t term_seen_slack;
  bool has_offset;            /* the old holder's clock offset is known: */
  lg_time offset;             /* its renewTime minus the webhook's clock, from its own writes */
  lg_writer_match writer;     /* is the requester the old holder's usual writer */
  bool anonymous;             /* the writer is not known (audit of a history): a coordinated
                            * lease's move may be the controller's and is not judged */
  bool tombstone;             /* CREATE: this lease was deleted here while still live, ... */
  int64_t tombstone_left;     /* ... its term ending this long from now (microseconds), ... */
  bool tombstone_same_holder; /* ... and the new holder is the deleted lease's */
} lg_evidence;

typedef struct {
  const char *username; /* "" when unknown */
  const char *pod_name; /* userInfo.extra["authentication.kubernetes.io/pod-name"][0], or NULL */
} lg_requester;

typedef struct {
  lg_operation op;
  const char *namespace, *name; /* of the object, for messages */
  const lg_lease *old_lease;    /* NULL on CREATE */
  const lg_lease *new_lease;    /* NULL on DELETE */
  const lg_requester *requester;
  const lg_evidence *evidence; /* NULL: nothing known beyond the two versions */
} lg_rules_input;

#define LG_MESSAGE_MAX 640
#define LG_WARNING_MAX 120

typedef struct {
  lg_rule rule;
  lg_mode mode;                     /* AUDIT, WARN or ENFORCE */
  const char *reason;               /* static code of the case ("taken-before-expiry"): what
                                       * makes repeats the same finding, whatever their times */
  char message[LG_MESSAGE_MAX];     /* "[rule] ns/name: detail": denials, logs, audit annotations */
  char warning[LG_WARNING_MAX + 1]; /* the same, at most 120 bytes, for `warnings` */
} lg_finding;

typedef struct {
  lg_finding findings[LG_RULE_COUNT]; /* at most one per rule, in rule order */
  size_t n;
  bool allowed;        /* false when a finding is in ENFORCE mode */
  const char *skipped; /* non-NULL: why no rule ran (static string) */
  bool old_live;       /* UPDATE/DELETE: the old version was live ... */
  lg_time old_expiry;  /* ... until this time (the webhook's clock) */
} lg_verdict;

/* Judges one write. Pure: no I/O, no clock (now is an argument), no globals. */
void lg_rules_evaluate(const lg_rules_input *in, const lg_rule_config *cfg, lg_time now,
                       lg_verdict *out);

/* Whether held lease l's term still runs at now, judged as holder-renew judges it (by
 * what the webhook saw, e; may be NULL) with cfg's skew; *expiry (may be NULL) gets its end. */
bool lg_rules_live(const lg_lease *l, const lg_evidence *e, const lg_rule_config *cfg, lg_time now,
                   lg_time *expiry);

/* True when username matches the coordinated-election controller globs of cfg. */
bool lg_rules_is_controller(const lg_rule_config *cfg, const char *username);

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
