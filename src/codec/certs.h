/* certs.h -- OpenSSL: make a CA and a serving certificate (files, or PEM text); read a
 * certificate's expiry. */
#ifndef LG_CERTS_H
#define LG_CERTS_H

#include <stddef.h>
#include <stdint.h>

#include "rc.h"

/* Every certificate made here has notBefore this many seconds before its making (clock skew). */
#define LG_CERTS_BACKDATE_S 300

typedef struct {
  const char *out_dir; /* directory to write ca.crt, tls.crt, tls.key into (created if missing) */
  const char *const
      *names;     /* SAN entries; an entry that parses as an IPv4/IPv6 address becomes an IP SAN */
  size_t n_names; /* 0 = defaults: DNS localhost, IP 127.0.0.1 */
  int days;       /* validity of both certificates, > 0 */
} lg_certs_opts;

/* Makes a self-signed CA and a serving certificate signed by it (EC P-256, SHA-256,
 * serverAuth, the given SANs) and writes ca.crt, tls.crt and tls.key (mode 0600).
 * All or nothing: on failure no file is left half-written. Detail goes into err. */
lg_rc lg_certs_generate(const lg_certs_opts *opts, char *err, size_t errlen);

/* LG_OK when every name may go into a serving certificate (as lg_certs_opts.names: DNS names,
 * wildcards or IP addresses; the first at most 64 characters, being the CN); else LG_EINVAL
 * naming the first that may not. */
lg_rc lg_certs_check_names(const char *const *names, size_t n, char *err, size_t errlen);

/* Reads the first PEM certificate of path and stores its notAfter (Unix seconds). */
lg_rc lg_certs_not_after(const char *path, int64_t *not_after, char *err, size_t errlen);

/* A certificate and its private key (unencrypted PKCS#8) as PEM text, both new strings. */
typedef struct {
  char *cert;
  char *key;
} lg_certs_pem;

/* Makes a self-signed CA (EC P-256, CN "leaseguard-ca@<now>") valid until now + validity_s
 * (1 s..100 years). All or nothing: on failure out holds nothing and err says why. */
lg_rc lg_certs_make_ca(int64_t now, int64_t validity_s, lg_certs_pem *out, char *err,
                       size_t errlen);

/* Makes a serving certificate for names (as lg_certs_opts; CN = names[0]) signed by ca,
 * valid until now + validity_s or the CA's notAfter, whichever is first. All or nothing. */
lg_rc lg_certs_make_serving(const lg_certs_pem *ca, const char *const *names, size_t n, int64_t now,
                            int64_t validity_s, lg_certs_pem *out, char *err, size_t errlen);

/* Frees both strings (the key wiped first) and sets them NULL; NULL is a no-op. */
void lg_certs_pem_free(lg_certs_pem *p);

#endif
