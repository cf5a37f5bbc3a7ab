/* fence.h -- fencing tokens: a fenced object's write carries the epoch of the leadership it
 * was made under (`<namespace>/<lease>/<holderIdentity>/<leaseTransitions>` in the
 * annotation leaseguard.io/fencing-token), and is allowed only while that lease is still
 * held by that holder in that epoch and live. Parsing and the decision; pure. */
#ifndef LG_FENCE_H
#define LG_FENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules.h"
#include "rc.h"
#include "times.h"

#define LG_FENCE_ANNOTATION "leaseguard.io/fencing-token"
#define LG_FENCE_LABEL      "leaseguard.io/fenced"
#define LG_FENCE_HOLDER_MAX 1024 /* longer holder identities are refused */

/* A parsed token; the strings are its own. */
typedef struct {
  char namespace[64]; /* a DNS-1123 label */
  char name[254];     /* a DNS-1123 subdomain */
  char holder[LG_FENCE_HOLDER_MAX + 1];
  int64_t transitions; /* 0 .. INT32_MAX */
} lg_fence_token;

/* Parses s (len bytes, need not be NUL-terminated). The holder is everything between the
 * second '/' and the last one, so it may hold '/' itself. LG_EINVAL with the reason in err
 * when s is not a token. */
lg_rc lg_fence_token_parse(const char *s, size_t len, lg_fence_token *out, char *err,
                           size_t errlen);

/* Writes the token of (ns, name, holder, transitions) into buf; returns what snprintf does. */
int lg_fence_token_format(char *buf, size_t size, const char *ns, const char *name,
                          const char *holder, int64_t transitions);

/* True when s is a DNS-1123 label (namespace) or subdomain (most object names). */
bool lg_fence_dns_label(const char *s);
bool lg_fence_dns_subdomain(const char *s);

/* What is known of the lease a token names. */
typedef enum {
  LG_FENCE_LEASE_UNKNOWN, /* no cache entry and the API could not say: see on_unknown */
  LG_FENCE_LEASE_ABSENT,  /* the lease does not exist */
  LG_FENCE_LEASE_PRESENT
} lg_fence_lease_state;

typedef struct {
  lg_fence_lease_state state;
  const char *holder;  /* PRESENT: "" when not held */
  int64_t transitions; /* PRESENT */
  bool live;           /* PRESENT: the term runs, by the rules' liveness model */
  lg_time expiry;      /* PRESENT and held: when the term ends (or ended) */
} lg_fence_lease;

typedef struct {
  lg_operation op;
  const char *kind, *namespace, *name; /* of the fenced object, for messages */
  const char *token;                   /* its annotation (the old object's on DELETE); NULL
                                        * when absent */
  size_t token_len;
  const char *old_token; /* UPDATE: the old object's, NULL when absent */
  size_t old_token_len;
  const lg_fence_lease *lease; /* of the lease the token names (when it parsed) */
  lg_mode mode;                /* the fencing rule's mode for this object */
  bool unknown_allows;         /* the operator's choice when the lease is unknown */
} lg_fence_input;

typedef struct {
  bool allowed;
  bool violation; /* a finding (in mode) */
  lg_mode mode;
  const char *reason;           /* static code of the case ("stale-token") */
  char message[LG_MESSAGE_MAX]; /* "[fencing] ns/Kind/name: ..." */
  char warning[LG_WARNING_MAX + 1];
} lg_fence_verdict;

/* The lease a token names, when it parses (for the caller to look it up). */
typedef struct {
  bool ok;
  lg_fence_token token;
} lg_fence_target;

/* Parses in->token into *t (t->ok false when absent or malformed). */
void lg_fence_target_of(const lg_fence_input *in, lg_fence_target *t);

/* Decides one write of a fenced object. Pure. */
void lg_fence_decide(const lg_fence_input *in, const lg_fence_target *t, lg_time now,
                     lg_fence_verdict *out);

#endif
