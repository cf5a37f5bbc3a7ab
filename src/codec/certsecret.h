/* certsecret.h -- the certificate controller's Secret: its data keys as PEM text, what the
 * rotation state machine sees in it, the data each action writes, the caBundle it implies.
 * No API calls; OpenSSL through certs.c and certinfo.c. */
#ifndef LG_CERTSECRET_H
#define LG_CERTSECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "certrot.h"
#include "rc.h"

/* X(name, data key) */
#define LG_CERTSECRET_KEYS(X)      \
  X(LG_CS_CA_CRT, "ca.crt")        \
  X(LG_CS_CA_KEY, "ca.key")        \
  X(LG_CS_TLS_CRT, "tls.crt")      \
  X(LG_CS_TLS_KEY, "tls.key")      \
  X(LG_CS_NEXT_CRT, "ca-next.crt") \
  X(LG_CS_NEXT_KEY, "ca-next.key") \
  X(LG_CS_PREV_CRT, "ca-previous.crt")

typedef enum {
#define LG_CS_ENUM(name, key) name,
  LG_CERTSECRET_KEYS(LG_CS_ENUM)
#undef LG_CS_ENUM
      LG_CS_COUNT
} lg_certsecret_key;

/* The data keys of the Secret that the controller uses, decoded. */
typedef struct {
  char *pem[LG_CS_COUNT];       /* new strings; NULL when the key is absent */
  bool not_base64[LG_CS_COUNT]; /* present, but not base64 of text (pem is then "") */
} lg_certsecret;

/* What actions make: the serving certificate's names and both certificates' validity. */
typedef struct {
  const char *const *names; /* DNS names (or IP addresses) of the serving certificate, >= 1 */
  size_t n_names;
  int64_t validity; /* seconds, of a new CA and of a new serving certificate */
} lg_certsecret_params;

/* The data key of k ("ca-next.crt"). */
const char *lg_certsecret_key_name(lg_certsecret_key k);

/* Reads the keys from a Secret object's data (borrowed; other keys ignored). Never fails on
 * bad values (they are noted for the view); LG_ENOMEM only. out is freed first. */
lg_rc lg_certsecret_read(const json_t *secret, lg_certsecret *out);

/* Frees every string (keys wiped first); NULL is a no-op. */
void lg_certsecret_free(lg_certsecret *s);

/* What the state machine sees: each certificate parsed and checked against its key, the
 * serving certificate against the CA and names. problem (len bytes) receives the first thing
 * found wrong, in the state machine's order (CA, serving pair, previous CA, next CA); the view
 * points at it. exists is set true. */
void lg_certsecret_view(const lg_certsecret *s, const char *const *names, size_t n_names,
                        lg_certrot_view *v, char *problem, size_t len);

/* The data after action a at time now, as a new set in out (cur is not changed). All or
 * nothing: on failure out holds nothing and err says why. */
lg_rc lg_certsecret_apply(const lg_certsecret *cur, lg_certrot_action a,
                          const lg_certsecret_params *p, int64_t now, lg_certsecret *out, char *err,
                          size_t errlen);

/* The Secret's data object: base64 of each key s holds, and the keys of base (the current
 * data, borrowed, may be NULL) that are not the controller's. New, NULL on no memory. */
json_t *lg_certsecret_data(const lg_certsecret *s, const json_t *base);

/* The caBundle the Secret implies: its CA, next and previous certificates that v (its view)
 * finds usable, in that order, re-encoded as PEM. New string ("" when none), NULL on no memory. */
char *lg_certsecret_bundle(const lg_certsecret *s, const lg_certrot_view *v);

#endif
