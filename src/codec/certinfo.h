/* certinfo.h -- OpenSSL: what a PEM certificate and key are (validity, CA or not), whether a
 * key belongs to a certificate, a certificate to a CA, and names to its SANs. */
#ifndef LG_CERTINFO_H
#define LG_CERTINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc.h"

typedef struct {
  int64_t not_before, not_after; /* Unix seconds */
  bool is_ca;                    /* basicConstraints CA:TRUE and keyCertSign */
} lg_certinfo;

/* Reads the first PEM certificate of pem into out. LG_ETLS (reason in err) when there is none
 * or it cannot be read; out is then untouched. */
lg_rc lg_certinfo_read(const char *pem, lg_certinfo *out, char *err, size_t errlen);

/* LG_OK when key_pem is a PEM private key whose public half is the one of cert_pem's first
 * certificate; LG_ETLS with the reason otherwise. */
lg_rc lg_certinfo_key_matches(const char *cert_pem, const char *key_pem, char *err, size_t errlen);

/* LG_OK when the first certificate of cert_pem names ca_pem's as its issuer and carries its
 * signature; LG_ETLS with the reason otherwise. */
lg_rc lg_certinfo_issued_by(const char *cert_pem, const char *ca_pem, char *err, size_t errlen);

/* LG_OK when the first certificate of cert_pem has every one of names among its subject
 * alternative names (DNS names compared without case, IP addresses by value); LG_ETLS naming
 * the first one missing otherwise. */
lg_rc lg_certinfo_covers(const char *cert_pem, const char *const *names, size_t n, char *err,
                         size_t errlen);

/* The first certificate of pem, PEM-encoded anew (header, base64, footer and nothing else), as
 * a new string; NULL when pem holds none. */
char *lg_certinfo_normalize(const char *pem);

#endif
