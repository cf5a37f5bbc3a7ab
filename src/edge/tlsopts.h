/* tlsopts.h -- --tls-min-version and --tls-cipher-suites, with the names and values Kubernetes
 * components take, to a GnuTLS priority string; ECDHE with AEAD suites by default. */
#ifndef LG_TLSOPTS_H
#define LG_TLSOPTS_H

#include <stddef.h>

#include "rc.h"

typedef struct {
  char priority[512]; /* the GnuTLS priority string for libmicrohttpd */
  char suites[1024];  /* the suites it enables, IANA names comma-separated, for the start log */
  char warning[768];  /* when not empty: what to warn about at start (legacy suites named, or
                       * suites enabled beyond the named ones) */
} lg_tlsopts;

/* Builds out from min_version ("VersionTLS12" or "VersionTLS13"; NULL = VersionTLS12) and
 * suites (comma-separated names as in kube-apiserver's --tls-cipher-suites; NULL = the
 * ECDHE AEAD suites). Unknown names, insecure suites (static RSA key exchange, RC4, 3DES, CBC
 * with SHA-256) and TLS 1.0/1.1 are refused with the reason in err. */
lg_rc lg_tlsopts_build(const char *min_version, const char *suites, lg_tlsopts *out, char *err,
                       size_t errlen);

#endif
