/* certs.h -- OpenSSL: make a CA and a serving certificate; read a certificate's expiry. */
#ifndef LG_CERTS_H
#define LG_CERTS_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef struct {
  const char *out_dir;      /* directory to write ca.crt, tls.crt, tls.key into (created if missing) */
  const char *const *names; /* SAN entries; an entry that parses as an IPv4/IPv6 address becomes an IP SAN */
  size_t n_names;           /* 0 = defaults: DNS localhost, IP 127.0.0.1 */
  int days;                 /* validity of both certificates, > 0 */
} lg_certs_opts;

/* Makes a self-signed CA and a serving certificate signed by it (EC P-256, SHA-256,
 * serverAuth, the given SANs) and writes ca.crt, tls.crt and tls.key (mode 0600).
 * All or nothing: on failure no file is left half-written. Detail goes into err. */
lg_rc lg_certs_generate(const lg_certs_opts *opts, char *err, size_t errlen);

/* Reads the first PEM certificate of path and stores its notAfter (Unix seconds). */
lg_rc lg_certs_not_after(const char *path, int64_t *not_after, char *err, size_t errlen);

#endif
