/* certrot.h -- the certificate controller's rotation state machine: given what the Secret holds
 * and the clock, what to write next. Pure: no OpenSSL, no API calls, the time is an argument. */
#ifndef LG_CERTROT_H
#define LG_CERTROT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What one certificate of the Secret is: absent, present but unusable, or usable. */
typedef enum { LG_CERTROT_ABSENT, LG_CERTROT_BAD, LG_CERTROT_OK } lg_certrot_state;

typedef struct {
  lg_certrot_state state;
  int64_t issued;    /* when it was made (Unix seconds): notBefore + LG_CERTS_BACKDATE_S */
  int64_t not_after; /* Unix seconds */
} lg_certrot_cert;

/* The Secret as the state machine sees it. Keys: ca.crt + ca.key (the CA that signs the
 * serving pair), tls.crt + tls.key (the serving pair), ca-next.crt + ca-next.key (a new CA
 * announced, trusted but not yet signing), ca-previous.crt (the CA before the last switch,
 * still trusted for a while). */
typedef struct {
  bool exists;           /* the Secret exists */
  lg_certrot_cert ca;    /* OK: a CA certificate with its key */
  lg_certrot_cert tls;   /* OK: a certificate with its key */
  bool tls_issued_by_ca; /* tls.crt was signed by ca.crt */
  bool tls_names;        /* tls.crt names every DNS name asked for */
  lg_certrot_cert next;  /* OK: a CA certificate with its key */
  lg_certrot_cert prev;  /* OK: a certificate */
  const char *problem;   /* what is wrong with the BAD ones, for the reason; may be NULL */
} lg_certrot_view;

typedef struct {
  int64_t renew_before; /* seconds before notAfter at which a certificate is renewed */
  int64_t overlap;      /* seconds a new CA is trusted before it signs, and the old one after */
} lg_certrot_policy;

/* X(name, word): the actions, and the word of each in logs and metrics. */
#define LG_CERTROT_ACTIONS(X)                                                               \
  X(LG_CERTROT_NONE, "none")         /* use what is there */                                \
  X(LG_CERTROT_CREATE, "create")     /* no Secret: a new CA and serving pair */             \
  X(LG_CERTROT_REPAIR, "repair")     /* the CA is unusable or expired: start over */        \
  X(LG_CERTROT_REISSUE, "reissue")   /* a new serving pair from the same CA */              \
  X(LG_CERTROT_ANNOUNCE, "announce") /* a new CA as ca-next: trusted, not yet signing */    \
  X(LG_CERTROT_SWITCH, "switch")     /* ca-next signs a new pair; the old CA -> previous */ \
  X(LG_CERTROT_DROP, "drop")         /* ca-previous is no longer trusted */

typedef enum {
#define LG_CERTROT_ENUM(name, word) name,
  LG_CERTROT_ACTIONS(LG_CERTROT_ENUM)
#undef LG_CERTROT_ENUM
      LG_CERTROT_ACTION_COUNT
} lg_certrot_action;

typedef struct {
  lg_certrot_action action;
  bool broken;      /* the Secret holds something unusable (the action replaces it) */
  char reason[256]; /* why, for the log */
} lg_certrot_plan;

/* The word of an action ("switch"). */
const char *lg_certrot_word(lg_certrot_action a);

/* Decides the next step at time now (Unix seconds). bundle_has_next: the webhook
 * configuration's caBundle is known to trust ca-next (the switch waits for it). */
lg_certrot_plan lg_certrot_decide(const lg_certrot_view *v, const lg_certrot_policy *p, int64_t now,
                                  bool bundle_has_next);

#endif
