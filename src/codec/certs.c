/* certs.c -- OpenSSL: make a CA and a serving certificate (as files, or as PEM text for the
 * certificate controller); read a certificate's expiry. */
#include "certs.h"

#include "certinfo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define MAX_DAYS     36500 /* 100 years; keeps notAfter well inside GeneralizedTime */
#define MAX_NAME     253   /* longest DNS name */
#define MAX_CN       64    /* ub-common-name (RFC 5280) */
#define SKEW_SECONDS LG_CERTS_BACKDATE_S
#define PATH_LEN     4096

enum { F_CA, F_CRT, F_KEY, F_COUNT };
static const char *const file_names[F_COUNT] = {"ca.crt", "tls.crt", "tls.key"};
static const char *const default_names[] = {"localhost", "127.0.0.1"};

/* Fails with LG_ETLS: the formatted text, then the oldest queued OpenSSL reason; clears the queue. */
__attribute__((format(printf, 3, 4))) static lg_rc ossl_fail(char *err, size_t errlen,
                                                             const char *fmt, ...) {
  char what[PATH_LEN + 64];
  char reason[256] = "no OpenSSL detail";
  unsigned long e = ERR_get_error();
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  if (e)
    ERR_error_string_n(e, reason, sizeof reason);
  ERR_clear_error();
  return lg_fail(err, errlen, LG_ETLS, "%s: %s", what, reason);
}

/* Stores the 4 or 16 address bytes of name in buf and returns their count, or 0 if not an IP. */
static int parse_ip(const char *name, unsigned char buf[16]) {
  if (inet_pton(AF_INET, name, buf) == 1)
    return 4;
  if (inet_pton(AF_INET6, name, buf) == 1)
    return 16;
  return 0;
}

static lg_rc check_name(const char *name, size_t idx, char *err, size_t errlen) {
  unsigned char ip[16];
  size_t len;
  if (!name || !*name)
    return lg_fail(err, errlen, LG_EINVAL, "name %zu is empty", idx);
  len = strlen(name);
  if (len > MAX_NAME)
    return lg_fail(err, errlen, LG_EINVAL, "name %zu is longer than %d characters", idx, MAX_NAME);
  if (idx == 0 && len > MAX_CN)
    return lg_fail(err, errlen, LG_EINVAL,
                   "first name \"%s\" is the subject CN and may not pass %d characters", name,
                   MAX_CN);
  if (strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-*:") != len)
    return lg_fail(err, errlen, LG_EINVAL, "name \"%s\" has a character outside [A-Za-z0-9.-*:]",
                   name);
  if (strchr(name, ':') && !parse_ip(name, ip))
    return lg_fail(err, errlen, LG_EINVAL, "name \"%s\" has ':' but is not an IP address", name);
  return LG_OK;
}

lg_rc lg_certs_check_names(const char *const *names, size_t n, char *err, size_t errlen) {
  lg_rc rc = LG_OK;
  if (n > 0 && !names)
    return lg_fail(err, errlen, LG_EINVAL, "names is NULL");
  for (size_t i = 0; i < n && !rc; i++)
    rc = check_name(names[i], i, err, errlen);
  return rc;
}

static lg_rc check_opts(const lg_certs_opts *o, char *err, size_t errlen) {
  lg_rc rc = LG_OK;
  if (!o || !o->out_dir || !*o->out_dir)
    return lg_fail(err, errlen, LG_EINVAL, "no output directory");
  if (strlen(o->out_dir) > PATH_LEN - 32) /* room for "/.tls.crt.XXXXXX" */
    return lg_fail(err, errlen, LG_EINVAL, "output directory path is too long");
  if (o->days <= 0 || o->days > MAX_DAYS)
    return lg_fail(err, errlen, LG_EINVAL, "days must be 1..%d, not %d", MAX_DAYS, o->days);
  if (o->n_names > 0 && !o->names)
    return lg_fail(err, errlen, LG_EINVAL, "names is NULL");
  for (size_t i = 0; i < o->n_names && !rc; i++)
    rc = check_name(o->names[i], i, err, errlen);
  return rc;
}

/* Writes dir + "/" + name into buf; fails when it does not fit. */
static lg_rc join(char *buf, size_t len, const char *dir, const char *name, char *err,
                  size_t errlen) {
  size_t dl = strlen(dir);
  const char *sep = dl && dir[dl - 1] == '/' ? "" : "/";
  int n = snprintf(buf, len, "%s%s%s", dir, sep, name);
  if (n < 0 || (size_t)n >= len)
    return lg_fail(err, errlen, LG_EINVAL, "path too long: %s%s%s", dir, sep, name);
  return LG_OK;
}

/* Makes dir (mode 0755) if missing; *made is set when this call created it. */
static lg_rc ensure_dir(const char *dir, int *made, char *err, size_t errlen) {
  struct stat st;
  *made = 0;
  if (mkdir(dir, 0755) == 0) {
    *made = 1;
    return LG_OK;
  }
  if (errno != EEXIST)
    return lg_fail(err, errlen, LG_EIO, "mkdir %s: %s", dir, strerror(errno));
  if (stat(dir, &st) != 0)
    return lg_fail(err, errlen, LG_EIO, "stat %s: %s", dir, strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return lg_fail(err, errlen, LG_EIO, "%s exists and is not a directory", dir);
  return LG_OK;
}

/* Fails if a target name is a directory, which rename cannot replace; checked before
 * the first rename so that the renames do not stop halfway for that reason. */
static lg_rc check_targets(const char *dir, char *err, size_t errlen) {
  char p[PATH_LEN];
  struct stat st;
  lg_rc rc = LG_OK;
  for (int f = 0; f < F_COUNT && !rc; f++) {
    rc = join(p, sizeof p, dir, file_names[f], err, errlen);
    if (!rc && lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
      rc = lg_fail(err, errlen, LG_EIO, "%s is a directory", p);
  }
  return rc;
}

/* Sets a random, positive, exactly 128-bit serial number. */
static int set_serial(X509 *x) {
  BIGNUM *bn = BN_new();
  int ok = bn && BN_rand(bn, 128, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) &&
           BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
  BN_free(bn);
  return ok;
}

/* Returns a new v3 certificate with serial, subject CN, validity [from, until] and public key. */
static X509 *new_cert(EVP_PKEY *key, const char *cn, time_t from, time_t until) {
  X509 *x = X509_new();
  X509_NAME *subj = x ? X509_get_subject_name(x) : NULL;
  int ok =
      x && X509_set_version(x, X509_VERSION_3) && set_serial(x) &&
      X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0) &&
      X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &from) &&
      X509_time_adj_ex(X509_getm_notAfter(x), 0, 0, &until) && X509_set_pubkey(x, key);
  if (!ok) {
    X509_free(x);
    x = NULL;
  }
  return x;
}

/* Adds extension nid from its config-string form; issuer is used for authorityKeyIdentifier. */
static int add_ext(X509 *x, X509 *issuer, int nid, const char *value) {
  X509V3_CTX ctx;
  X509_EXTENSION *ext;
  int ok;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
  ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  ok = ext && X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  return ok;
}

/* Adds subjectAltName: IP for entries that parse as addresses, DNS for the rest. */
static int add_san(X509 *x, const char *const *names, size_t n) {
  GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
  int ok = gens != NULL;
  for (size_t i = 0; ok && i < n; i++) {
    unsigned char ip[16];
    int iplen = parse_ip(names[i], ip);
    GENERAL_NAME *gen = GENERAL_NAME_new();
    ASN1_STRING *val = iplen ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
    ok = gen && val &&
         (iplen ? ASN1_STRING_set(val, ip, iplen) : ASN1_STRING_set(val, names[i], -1));
    if (ok) {
      GENERAL_NAME_set0_value(gen, iplen ? GEN_IPADD : GEN_DNS, val);
      val = NULL;
      ok = sk_GENERAL_NAME_push(gens, gen) > 0;
    }
    if (ok)
      gen = NULL;
    ASN1_STRING_free(val);
    GENERAL_NAME_free(gen);
  }
  ok = ok && X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1;
  GENERAL_NAMES_free(gens);
  return ok;
}

/* Returns a new self-signed CA certificate for key, named cn, valid until until. */
static X509 *make_ca(EVP_PKEY *key, const char *cn, time_t now, time_t until) {
  X509 *x = new_cert(key, cn, now - SKEW_SECONDS, until);
  int ok = x && X509_set_issuer_name(x, X509_get_subject_name(x)) &&
           add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") &&
           add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") &&
           add_ext(x, x, NID_subject_key_identifier, "hash") && X509_sign(x, key, EVP_sha256()) > 0;
  if (!ok) {
    X509_free(x);
    x = NULL;
  }
  return x;
}

/* Returns a new serving certificate for key, signed by ca / ca_key, CN = names[0], valid
 * until until. */
static X509 *make_serving(EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key, const char *const *names,
                          size_t n, time_t now, time_t until) {
  X509 *x = new_cert(key, names[0], now - SKEW_SECONDS, until);
  int ok = x && X509_set_issuer_name(x, X509_get_subject_name(ca)) &&
           add_ext(x, ca, NID_basic_constraints, "CA:FALSE") &&
           add_ext(x, ca, NID_key_usage, "critical,digitalSignature,keyEncipherment") &&
           add_ext(x, ca, NID_ext_key_usage, "serverAuth") && add_san(x, names, n) &&
           add_ext(x, ca, NID_subject_key_identifier, "hash") &&
           add_ext(x, ca, NID_authority_key_identifier, "keyid:always") &&
           X509_sign(x, ca_key, EVP_sha256()) > 0;
  if (!ok) {
    X509_free(x);
    x = NULL;
  }
  return x;
}

/* Writes cert (or, when NULL, key as unencrypted PKCS#8) to a new temp file beside its
 * final name; tmp receives the temp path and stays "" if none was created. */
static lg_rc write_temp(const char *dir, const char *name, mode_t mode, X509 *cert, EVP_PKEY *key,
                        char *tmp, size_t tmplen, char *err, size_t errlen) {
  char base[64];
  lg_rc rc;
  int fd = -1;
  BIO *bio = NULL;
  snprintf(base, sizeof base, ".%s.XXXXXX", name);
  rc = join(tmp, tmplen, dir, base, err, errlen);
  if (rc) {
    tmp[0] = '\0';
    goto out;
  }
  fd = mkstemp(tmp);
  if (fd < 0) {
    rc = lg_fail(err, errlen, LG_EIO, "create %s: %s", tmp, strerror(errno));
    tmp[0] = '\0';
    goto out;
  }
  if (fchmod(fd, mode) != 0) {
    rc = lg_fail(err, errlen, LG_EIO, "chmod %s: %s", tmp, strerror(errno));
    goto out;
  }
  bio = BIO_new_fd(fd, BIO_NOCLOSE);
  if (!bio ||
      !(cert ? PEM_write_bio_X509(bio, cert)
             : PEM_write_bio_PKCS8PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)) ||
      BIO_flush(bio) != 1) {
    rc = ossl_fail(err, errlen, "write %s", tmp);
    goto out;
  }
  if (fsync(fd) != 0) {
    rc = lg_fail(err, errlen, LG_EIO, "fsync %s: %s", tmp, strerror(errno));
    goto out;
  }
out:
  BIO_free(bio);
  if (fd >= 0 && close(fd) != 0 && !rc)
    rc = lg_fail(err, errlen, LG_EIO, "close %s: %s", tmp, strerror(errno));
  return rc;
}

lg_rc lg_certs_generate(const lg_certs_opts *opts, char *err, size_t errlen) {
  const char *const *names;
  size_t n;
  char tmp[F_COUNT][PATH_LEN] = {{0}};
  char dst[PATH_LEN];
  int made_dir = 0;
  EVP_PKEY *ca_key = NULL, *key = NULL;
  X509 *ca = NULL, *crt = NULL;
  time_t now = time(NULL);
  lg_rc rc = check_opts(opts, err, errlen);
  if (rc)
    return rc;
  names = opts->n_names ? opts->names : default_names;
  n = opts->n_names ? opts->n_names : sizeof default_names / sizeof default_names[0];

  rc = ensure_dir(opts->out_dir, &made_dir, err, errlen);
  if (rc)
    goto out;
  ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  key = ca_key ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256") : NULL;
  if (!key) {
    rc = ossl_fail(err, errlen, "generate EC P-256 key");
    goto out;
  }
  ca = make_ca(ca_key, "leaseguard-ca", now, now + (time_t)opts->days * 86400);
  if (!ca) {
    rc = ossl_fail(err, errlen, "build CA certificate");
    goto out;
  }
  crt = make_serving(key, ca, ca_key, names, n, now, now + (time_t)opts->days * 86400);
  if (!crt) {
    rc = ossl_fail(err, errlen, "build serving certificate");
    goto out;
  }

  rc =
      write_temp(opts->out_dir, file_names[F_CA], 0644, ca, NULL, tmp[F_CA], PATH_LEN, err, errlen);
  if (!rc)
    rc = write_temp(opts->out_dir, file_names[F_CRT], 0644, crt, NULL, tmp[F_CRT], PATH_LEN, err,
                    errlen);
  if (!rc)
    rc = write_temp(opts->out_dir, file_names[F_KEY], 0600, NULL, key, tmp[F_KEY], PATH_LEN, err,
                    errlen);
  if (!rc)
    rc = check_targets(opts->out_dir, err, errlen);
  /* Three renames in one directory are not one atomic step, but each file is always
   * either its old content or the complete new one. */
  for (int f = 0; f < F_COUNT && !rc; f++) {
    rc = join(dst, sizeof dst, opts->out_dir, file_names[f], err, errlen);
    if (!rc && rename(tmp[f], dst) != 0)
      rc = lg_fail(err, errlen, LG_EIO, "rename %s to %s: %s", tmp[f], dst, strerror(errno));
    if (!rc)
      tmp[f][0] = '\0';
  }

out:
  for (int f = 0; f < F_COUNT; f++)
    if (tmp[f][0])
      unlink(tmp[f]);
  if (rc && made_dir)
    rmdir(opts->out_dir);
  X509_free(crt);
  X509_free(ca);
  EVP_PKEY_free(key);
  EVP_PKEY_free(ca_key);
  return rc;
}

lg_rc lg_certs_not_after(const char *path, int64_t *not_after, char *err, size_t errlen) {
  FILE *fp = NULL;
  X509 *x = NULL;
  ASN1_TIME *epoch = NULL;
  int days = 0, secs = 0;
  lg_rc rc = LG_OK;
  if (!path || !not_after)
    return lg_fail(err, errlen, LG_EINVAL, "no path or result pointer");

  fp = fopen(path, "r");
  if (!fp) {
    rc = lg_fail(err, errlen, LG_EIO, "open %s: %s", path, strerror(errno));
    goto out;
  }
  x = PEM_read_X509(fp, NULL, NULL, NULL);
  if (!x) {
    rc = ossl_fail(err, errlen, "%s: no PEM certificate", path);
    goto out;
  }
  epoch = ASN1_TIME_set(NULL, 0);
  if (!epoch || !ASN1_TIME_diff(&days, &secs, epoch, X509_get0_notAfter(x))) {
    rc = ossl_fail(err, errlen, "%s: unreadable notAfter", path);
    goto out;
  }
  *not_after = (int64_t)days * 86400 + secs;

out:
  ASN1_TIME_free(epoch);
  X509_free(x);
  if (fp)
    fclose(fp);
  return rc;
}

/* ---- in memory: the certificate controller's CA and serving pairs ---- */

/* A new NUL-terminated copy of what the memory BIO b holds, or NULL. */
static char *bio_text(BIO *b) {
  char *data = NULL, *s;
  long n = BIO_get_mem_data(b, &data);
  if (n <= 0 || !(s = malloc((size_t)n + 1)))
    return NULL;
  memcpy(s, data, (size_t)n);
  s[n] = '\0';
  return s;
}

/* Stores cert and key (unencrypted PKCS#8) as new PEM strings in out; 0 on failure. */
static int to_pem(X509 *cert, EVP_PKEY *key, lg_certs_pem *out) {
  BIO *c = BIO_new(BIO_s_mem()), *k = BIO_new(BIO_s_mem());
  int ok = c && k && PEM_write_bio_X509(c, cert) &&
           PEM_write_bio_PKCS8PrivateKey(k, key, NULL, NULL, 0, NULL, NULL) &&
           (out->cert = bio_text(c)) && (out->key = bio_text(k));
  if (k) {
    char *data = NULL;
    long n = BIO_get_mem_data(k, &data);
    if (n > 0)
      OPENSSL_cleanse(data, (size_t)n);
  }
  BIO_free(c);
  BIO_free(k);
  return ok;
}

void lg_certs_pem_free(lg_certs_pem *p) {
  if (!p)
    return;
  free(p->cert);
  if (p->key) {
    OPENSSL_cleanse(p->key, strlen(p->key));
    free(p->key);
  }
  p->cert = p->key = NULL;
}

static lg_rc check_validity(int64_t validity_s, char *err, size_t errlen) {
  if (validity_s < 1 || validity_s > (int64_t)MAX_DAYS * 86400)
    return lg_fail(err, errlen, LG_EINVAL, "validity must be 1 s..%d days, not %lld s", MAX_DAYS,
                   (long long)validity_s);
  return LG_OK;
}

lg_rc lg_certs_make_ca(int64_t now, int64_t validity_s, lg_certs_pem *out, char *err,
                       size_t errlen) {
  EVP_PKEY *key = NULL;
  X509 *ca = NULL;
  char cn[MAX_CN];
  lg_rc rc;

  memset(out, 0, sizeof *out);
  if ((rc = check_validity(validity_s, err, errlen)))
    return rc;
  /* Each CA is named by its making time, as Kubernetes' self-signed CAs are: CAs trusted
   * side by side during a rotation have different subjects. */
  snprintf(cn, sizeof cn, "leaseguard-ca@%lld", (long long)now);
  if (!(key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"))) {
    rc = ossl_fail(err, errlen, "generate EC P-256 key");
    goto out;
  }
  if (!(ca = make_ca(key, cn, (time_t)now, (time_t)(now + validity_s)))) {
    rc = ossl_fail(err, errlen, "build CA certificate");
    goto out;
  }
  if (!to_pem(ca, key, out)) {
    lg_certs_pem_free(out);
    rc = ossl_fail(err, errlen, "encode CA certificate and key as PEM");
  }
out:
  X509_free(ca);
  EVP_PKEY_free(key);
  return rc;
}

lg_rc lg_certs_make_serving(const lg_certs_pem *ca, const char *const *names, size_t n, int64_t now,
                            int64_t validity_s, lg_certs_pem *out, char *err, size_t errlen) {
  BIO *b = NULL;
  X509 *ca_cert = NULL, *crt = NULL;
  EVP_PKEY *ca_key = NULL, *key = NULL;
  int64_t until = now + validity_s;
  lg_certinfo info;
  lg_rc rc;

  memset(out, 0, sizeof *out);
  if ((rc = check_validity(validity_s, err, errlen)))
    return rc;
  if (!names || n == 0)
    return lg_fail(err, errlen, LG_EINVAL, "no DNS names for the serving certificate");
  if ((rc = lg_certs_check_names(names, n, err, errlen)))
    return rc;
  if (!ca || !ca->cert || !ca->key)
    return lg_fail(err, errlen, LG_EINVAL, "no CA certificate and key");
  if (!(b = BIO_new_mem_buf(ca->cert, -1)) || !(ca_cert = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
    rc = ossl_fail(err, errlen, "read the CA certificate");
    goto out;
  }
  BIO_free(b);
  if (!(b = BIO_new_mem_buf(ca->key, -1)) ||
      !(ca_key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL))) {
    rc = ossl_fail(err, errlen, "read the CA key");
    goto out;
  }
  /* A serving certificate never outlives its CA: the chain would stop verifying first. */
  if ((rc = lg_certinfo_read(ca->cert, &info, err, errlen)))
    goto out;
  if (info.not_after <= now) {
    rc = lg_fail(err, errlen, LG_ETLS, "the CA has expired");
    goto out;
  }
  if (until > info.not_after)
    until = info.not_after;
  if (!(key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"))) {
    rc = ossl_fail(err, errlen, "generate EC P-256 key");
    goto out;
  }
  if (!(crt = make_serving(key, ca_cert, ca_key, names, n, (time_t)now, (time_t)until))) {
    rc = ossl_fail(err, errlen, "build serving certificate");
    goto out;
  }
  if (!to_pem(crt, key, out)) {
    lg_certs_pem_free(out);
    rc = ossl_fail(err, errlen, "encode serving certificate and key as PEM");
  }
out:
  BIO_free(b);
  X509_free(crt);
  X509_free(ca_cert);
  EVP_PKEY_free(key);
  EVP_PKEY_free(ca_key);
  return rc;
}
