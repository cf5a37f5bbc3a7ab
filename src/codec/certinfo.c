/* certinfo.c -- OpenSSL: read what PEM certificates and keys are and how they relate. */
#include "certinfo.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* The first certificate of pem, new; NULL (reason in err) when there is none. */
static X509 *read_cert(const char *pem, const char *what, char *err, size_t errlen) {
  BIO *b = pem ? BIO_new_mem_buf(pem, -1) : NULL;
  X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
  BIO_free(b);
  ERR_clear_error();
  if (!x)
    lg_fail(err, errlen, LG_ETLS, "%s is not a PEM certificate", what);
  return x;
}

/* The Unix time of t; *ok is 0 when it cannot be read. */
static int64_t unix_time(const ASN1_TIME *t, int *ok) {
  ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
  int days = 0, secs = 0;
  *ok = epoch && ASN1_TIME_diff(&days, &secs, epoch, t);
  ASN1_TIME_free(epoch);
  return *ok ? (int64_t)days * 86400 + secs : 0;
}

lg_rc lg_certinfo_read(const char *pem, lg_certinfo *out, char *err, size_t errlen) {
  X509 *x = read_cert(pem, "the certificate", err, errlen);
  lg_certinfo info;
  int ok_from = 0, ok_until = 0;

  if (!x)
    return LG_ETLS;
  info.not_before = unix_time(X509_get0_notBefore(x), &ok_from);
  info.not_after = unix_time(X509_get0_notAfter(x), &ok_until);
  info.is_ca = X509_check_ca(x) >= 1 && (X509_get_key_usage(x) & KU_KEY_CERT_SIGN);
  X509_free(x);
  if (!ok_from || !ok_until)
    return lg_fail(err, errlen, LG_ETLS, "the certificate has an unreadable validity period");
  *out = info;
  return LG_OK;
}

lg_rc lg_certinfo_key_matches(const char *cert_pem, const char *key_pem, char *err, size_t errlen) {
  X509 *x = read_cert(cert_pem, "the certificate", err, errlen);
  BIO *b = NULL;
  EVP_PKEY *key = NULL;
  lg_rc rc = LG_OK;

  if (!x)
    return LG_ETLS;
  b = key_pem ? BIO_new_mem_buf(key_pem, -1) : NULL;
  key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
  if (!key)
    rc = lg_fail(err, errlen, LG_ETLS, "the key is not a PEM private key");
  else if (X509_check_private_key(x, key) != 1)
    rc = lg_fail(err, errlen, LG_ETLS, "the key does not match the certificate");
  ERR_clear_error();
  EVP_PKEY_free(key);
  BIO_free(b);
  X509_free(x);
  return rc;
}

lg_rc lg_certinfo_issued_by(const char *cert_pem, const char *ca_pem, char *err, size_t errlen) {
  X509 *x = read_cert(cert_pem, "the certificate", err, errlen);
  X509 *ca = x ? read_cert(ca_pem, "the CA certificate", err, errlen) : NULL;
  EVP_PKEY *pub;
  lg_rc rc = LG_OK;

  if (!ca) {
    X509_free(x);
    return LG_ETLS;
  }
  pub = X509_get0_pubkey(ca);
  if (X509_check_issued(ca, x) != X509_V_OK || !pub || X509_verify(x, pub) != 1)
    rc = lg_fail(err, errlen, LG_ETLS, "the certificate was not issued by the CA");
  ERR_clear_error();
  X509_free(ca);
  X509_free(x);
  return rc;
}

/* True when gens holds name: a DNS entry equal to it without case, or an IP entry of the same
 * address. */
static bool has_name(const GENERAL_NAMES *gens, const char *name) {
  unsigned char ip[16];
  int iplen = inet_pton(AF_INET, name, ip) == 1 ? 4 : inet_pton(AF_INET6, name, ip) == 1 ? 16 : 0;

  for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
    int type;
    const ASN1_STRING *v = GENERAL_NAME_get0_value(g, &type);
    const unsigned char *data = ASN1_STRING_get0_data(v);
    size_t len = (size_t)ASN1_STRING_length(v);
    if (iplen && type == GEN_IPADD && len == (size_t)iplen && !memcmp(data, ip, len))
      return true;
    if (!iplen && type == GEN_DNS && len == strlen(name) &&
        !strncasecmp((const char *)data, name, len))
      return true;
  }
  return false;
}

lg_rc lg_certinfo_covers(const char *cert_pem, const char *const *names, size_t n, char *err,
                         size_t errlen) {
  X509 *x = read_cert(cert_pem, "the certificate", err, errlen);
  GENERAL_NAMES *gens = NULL;
  lg_rc rc = LG_OK;

  if (!x)
    return LG_ETLS;
  gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
  for (size_t i = 0; i < n && !rc; i++)
    if (!names[i] || !has_name(gens, names[i]))
      rc = lg_fail(err, errlen, LG_ETLS, "the certificate does not name %s",
                   names[i] ? names[i] : "(null)");
  GENERAL_NAMES_free(gens);
  X509_free(x);
  return rc;
}

char *lg_certinfo_normalize(const char *pem) {
  X509 *x = read_cert(pem, "the certificate", NULL, 0);
  BIO *b = x ? BIO_new(BIO_s_mem()) : NULL;
  char *data = NULL, *out = NULL;
  long n;

  if (b && PEM_write_bio_X509(b, x) && (n = BIO_get_mem_data(b, &data)) > 0 &&
      (out = malloc((size_t)n + 1))) {
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
  }
  ERR_clear_error();
  BIO_free(b);
  X509_free(x);
  return out;
}
