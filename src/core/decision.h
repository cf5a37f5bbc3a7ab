/* decision.h -- one decision as plain data (what was asked, by whom, what was decided, each
 * finding with a stable key), and the sinks that are told of it: audit lines, metrics, Events,
 * a command's output. Built from a webhook result (serve, check) or an audit change (audit,
 * audit --watch); observers read this record and never the request. */
#ifndef LG_DECISION_H
#define LG_DECISION_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "lease.h"
#include "rules.h"
#include "times.h"

/* What a decision is built from (webhook.h, audit.h): observers need not see them. */
typedef struct lg_webhook_result lg_webhook_result;
typedef struct lg_audit_change lg_audit_change;

typedef enum {
  LG_DECISION_SERVE, /* an admission request to the webhook */
  LG_DECISION_CHECK, /* `leaseguard check` */
  LG_DECISION_FILE,  /* `leaseguard audit FILE`: a recorded history */
  LG_DECISION_WATCH  /* `leaseguard audit --watch` */
} lg_decision_source;

/* "rule\nnamespace/name\nreason\n<16 hex digits of the writer and the holders>"; names longer
 * than Kubernetes allows are cut. */
#define LG_DECISION_KEY_MAX 400

typedef struct {
  lg_rule rule;
  lg_mode mode;                  /* AUDIT, WARN or ENFORCE */
  const char *reason;            /* the rule's static code; "" when it gave none */
  const char *message;           /* borrowed from the verdict */
  const lg_finding *finding;     /* borrowed: the whole finding (warning text, ...) */
  char key[LG_DECISION_KEY_MAX]; /* the same for every repeat of this violation: rule,
                                  * namespace/name, reason, writer and holders, never times */
} lg_decision_finding;

/* Every pointer is borrowed from the webhook result or the audit change it was built from,
 * and valid as long as that is; the record owns nothing and needs no freeing. */
typedef struct {
  lg_decision_source source;
  lg_time when;         /* serve/check: the clock it was judged at; audit: the change's */
  bool usable;          /* false: unusable input, never judged (serve/check: HTTP 400) */
  int http_status;      /* serve/check: the answer's status (0 for audit) */
  const char *response; /* serve/check: the answer's body (NULL for audit) */
  /* what was asked */
  const char *operation; /* "CREATE", "UPDATE", "DELETE", "CONNECT" or as sent */
  const char *namespace, *name;
  const char *request_uid;          /* serve/check: the AdmissionReview's uid; NULL for audit */
  const char *object_uid;           /* metadata.uid of the new, else the old version; or NULL */
  const char *resource_version;     /* metadata.resourceVersion, likewise; or NULL */
  const char *old_resource_version; /* audit: of the last version seen before, or NULL */
  bool dry_run;
  const char *kind;                      /* serve/check: request.kind.kind */
  const char *ignored;                   /* non-NULL: not a Lease, let through; why */
  const lg_lease *old_lease, *new_lease; /* NULL when absent */
  /* by whom */
  const char *username; /* "" when unknown (audit) */
  const char *pod;      /* the requester's pod, or NULL */
  const json_t *groups; /* userInfo.groups (array), or NULL */
  /* what was decided */
  bool allowed;
  lg_mode mode;    /* the strongest mode among the findings (OFF when none) */
  bool has_offset; /* serve: the write measured its writer's clock: */
  lg_time offset;  /* new renewTime minus the webhook's clock */
  double latency;  /* serve: seconds spent judging (set by the caller) */
  lg_decision_finding findings[LG_RULE_COUNT];
  size_t n;
} lg_decision;

/* Fills *d from a webhook result (serve or check, as source) judged at now; d borrows from
 * res, which must outlive it. */
void lg_decision_from_webhook(const lg_webhook_result *res, lg_decision_source source, lg_time now,
                              lg_decision *d);

/* Fills *d from a judged audit change (source FILE or WATCH); d borrows from c. */
void lg_decision_from_audit(const lg_audit_change *c, lg_decision_source source, lg_decision *d);

/* "serve", "check", "file" or "watch". */
const char *lg_decision_source_name(lg_decision_source s);

/* Something told of decisions: emit(ctx, d) must not keep d past the call. */
typedef struct {
  void (*emit)(void *ctx, const lg_decision *d);
  void *ctx;
} lg_sink;

/* Hands d to each of the n sinks once, in order (a sink whose emit is NULL is skipped). */
void lg_decision_emit(const lg_decision *d, const lg_sink *sinks, size_t n);

#endif
