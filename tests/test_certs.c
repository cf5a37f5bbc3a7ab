/* test_certs.c -- unit tests for src/certs.c: generated files (and pairs in memory) chain, match
 * and expire as asked. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs.h"
#include "harness.h"

#define PATH_LEN LGT_PATH_LEN

/* ---- helpers ---- */

/* Returns the number of entries in dir other than . and .., or -1 if it cannot be opened. */
static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  if (!d)
    return -1;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      n++;
  closedir(d);
  return n;
}

static X509 *load_cert(const char *dir, const char *name) {
  char p[PATH_LEN];
  FILE *fp;
  X509 *x;
  lgt_path(p, dir, name);
  fp = fopen(p, "r");
  assert_non_null(fp);
  x = PEM_read_X509(fp, NULL, NULL, NULL);
  fclose(fp);
  assert_non_null(x);
  return x;
}

static EVP_PKEY *load_key(const char *dir) {
  char p[PATH_LEN];
  char first[64] = "";
  FILE *fp;
  EVP_PKEY *k;
  lgt_path(p, dir, "tls.key");
  fp = fopen(p, "r");
  assert_non_null(fp);
  assert_non_null(fgets(first, sizeof first, fp));
  assert_string_equal(first, "-----BEGIN PRIVATE KEY-----\n"); /* PKCS#8, unencrypted */
  rewind(fp);
  k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
  fclose(fp);
  assert_non_null(k);
  return k;
}

/* Verifies leaf for SSL server use against ca alone; returns the X509_V_* result. */
static int verify_with(X509 *leaf, X509 *ca) {
  X509_STORE *store = X509_STORE_new();
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  int rc;
  assert_non_null(store);
  assert_non_null(ctx);
  assert_int_equal(X509_STORE_add_cert(store, ca), 1);
  assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
  assert_int_equal(X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER), 1);
  rc = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
  if (rc == X509_V_OK) /* 1 with an error set would be a bug in the verifier */
    assert_int_equal(X509_STORE_CTX_get_error(ctx), X509_V_OK);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return rc;
}

static int64_t seconds_from_now(const ASN1_TIME *t) {
  int days = 0, secs = 0;
  assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL, t), 1);
  return (int64_t)days * 86400 + secs;
}

static void assert_cn(X509 *x, const char *want) {
  char cn[256] = "";
  assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn) >
              0);
  assert_string_equal(cn, want);
}

static void assert_mode(const char *dir, const char *name, mode_t want) {
  char p[PATH_LEN];
  struct stat st;
  lgt_path(p, dir, name);
  assert_int_equal(stat(p, &st), 0);
  assert_int_equal(st.st_mode & 07777, want);
}

/* Checks everything about a generated directory that does not depend on the names. */
static void check_common(const char *dir, int days) {
  X509 *ca = load_cert(dir, "ca.crt");
  X509 *crt = load_cert(dir, "tls.crt");
  EVP_PKEY *key = load_key(dir);
  char p[PATH_LEN];
  int64_t not_after = 0;
  int64_t want = (int64_t)time(NULL) + (int64_t)days * 86400;
  BIGNUM *s1 = ASN1_INTEGER_to_BN(X509_get0_serialNumber(ca), NULL);
  BIGNUM *s2 = ASN1_INTEGER_to_BN(X509_get0_serialNumber(crt), NULL);

  assert_int_equal(count_entries(dir), 3); /* no temp files, no CA key */
  assert_mode(dir, "tls.key", 0600);
  assert_mode(dir, "tls.crt", 0644);
  assert_mode(dir, "ca.crt", 0644);

  assert_int_equal(verify_with(crt, ca), X509_V_OK);
  assert_int_equal(X509_check_private_key(crt, key), 1);
  assert_true(EVP_PKEY_is_a(key, "EC"));
  assert_int_equal(EVP_PKEY_get_bits(key), 256);
  assert_cn(ca, "leaseguard-ca");
  assert_int_equal(X509_get_version(crt), X509_VERSION_3);
  assert_true(X509_check_ca(ca) > 0);
  assert_int_equal(X509_check_ca(crt), 0);
  assert_true(X509_get_key_usage(crt) & KU_DIGITAL_SIGNATURE);
  assert_false(X509_get_key_usage(crt) & KU_KEY_CERT_SIGN);
  assert_true(X509_get_extended_key_usage(crt) & XKU_SSL_SERVER);
  assert_int_equal(X509_get_signature_nid(crt), NID_ecdsa_with_SHA256);

  /* random, positive, 128-bit serials */
  assert_non_null(s1);
  assert_non_null(s2);
  assert_false(BN_is_negative(s1));
  assert_int_equal(BN_num_bits(s1), 128);
  assert_int_equal(BN_num_bits(s2), 128);
  assert_int_not_equal(BN_cmp(s1, s2), 0);

  /* notBefore is backdated 5 minutes; notAfter is now + days */
  assert_in_range(seconds_from_now(X509_get0_notBefore(crt)) + 300 + 60, 0, 120);
  assert_in_range(seconds_from_now(X509_get0_notAfter(ca)) - (int64_t)days * 86400 + 60, 0, 120);
  lgt_path(p, dir, "tls.crt");
  assert_int_equal(lg_certs_not_after(p, &not_after, NULL, 0), LG_OK);
  assert_true(not_after > want - 60 && not_after < want + 60);

  BN_free(s1);
  BN_free(s2);
  EVP_PKEY_free(key);
  X509_free(crt);
  X509_free(ca);
}

/* ---- fixtures ---- */

static int setup(void **state) {
  char *dir = malloc(LGT_PATH_LEN);
  if (!dir || lgt_temp_dir(dir, "certs") != 0) {
    free(dir);
    return -1;
  }
  *state = dir;
  return 0;
}

static int teardown(void **state) {
  lgt_rm_tree(*state);
  free(*state);
  return 0;
}

/* ---- tests ---- */

static void test_defaults(void **state) {
  const char *dir = *state;
  char err[256] = "";
  lg_certs_opts o = {.out_dir = dir, .names = NULL, .n_names = 0, .days = 30};
  X509 *crt;
  assert_int_equal(lg_certs_generate(&o, err, sizeof err), LG_OK);
  check_common(dir, 30);
  crt = load_cert(dir, "tls.crt");
  assert_cn(crt, "localhost");
  assert_int_equal(X509_check_host(crt, "localhost", 0, 0, NULL), 1);
  assert_int_equal(X509_check_ip_asc(crt, "127.0.0.1", 0), 1);
  assert_int_equal(X509_check_host(crt, "example.com", 0, 0, NULL), 0);
  assert_int_equal(X509_check_ip_asc(crt, "127.0.0.2", 0), 0);
  assert_int_equal(X509_check_ip_asc(crt, "::1", 0), 0);
  X509_free(crt);
}

static void test_custom_names_new_dir(void **state) {
  char dir[PATH_LEN];
  char err[256] = "";
  const char *names[] = {"leaseguard.leaseguard-system.svc", "::1", "10.1.2.3",
                         "*.leaseguard-system.svc.cluster.local"};
  lg_certs_opts o = {.out_dir = dir, .names = names, .n_names = 4, .days = 400};
  X509 *crt;
  lgt_path(dir, *state, "out"); /* does not exist yet */
  assert_int_equal(lg_certs_generate(&o, err, sizeof err), LG_OK);
  check_common(dir, 400);
  crt = load_cert(dir, "tls.crt");
  assert_cn(crt, "leaseguard.leaseguard-system.svc");
  assert_int_equal(X509_check_host(crt, "leaseguard.leaseguard-system.svc", 0, 0, NULL), 1);
  assert_int_equal(X509_check_host(crt, "webhook.leaseguard-system.svc.cluster.local", 0, 0, NULL),
                   1);
  assert_int_equal(X509_check_ip_asc(crt, "::1", 0), 1);
  assert_int_equal(X509_check_ip_asc(crt, "10.1.2.3", 0), 1);
  assert_int_equal(X509_check_host(crt, "localhost", 0, 0, NULL), 0);
  assert_int_equal(X509_check_ip_asc(crt, "127.0.0.1", 0), 0);
  /* an IP entry is not also a DNS entry */
  assert_int_equal(X509_check_host(crt, "10.1.2.3", 0, 0, NULL), 0);
  X509_free(crt);
}

static void test_regenerate_replaces(void **state) {
  const char *dir = *state;
  char err[256] = "";
  lg_certs_opts o = {.out_dir = dir, .names = NULL, .n_names = 0, .days = 1};
  X509 *old_ca, *new_ca, *new_crt;
  assert_int_equal(lg_certs_generate(&o, err, sizeof err), LG_OK);
  old_ca = load_cert(dir, "ca.crt");
  assert_int_equal(lg_certs_generate(&o, err, sizeof err), LG_OK);
  check_common(dir, 1);
  new_ca = load_cert(dir, "ca.crt");
  new_crt = load_cert(dir, "tls.crt");
  assert_int_not_equal(X509_cmp(old_ca, new_ca), 0);
  /* a different CA must not verify */
  assert_int_equal(verify_with(new_crt, old_ca), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  X509_free(new_crt);
  X509_free(new_ca);
  X509_free(old_ca);
}

static void test_invalid_inputs(void **state) {
  static const char *const bad_char[] = {"good.example", "bad_name"};
  static const char *const empty[] = {""};
  static const char *const null_name[] = {NULL};
  static const char *const colon_dns[] = {"host:8443"};
  static const char *const space[] = {"a b"};
  static const char *const long_cn[] = {
      "a123456789.b123456789.c123456789.d123456789.e123456789.f123456789.g"};
  static const struct {
    const char *name;
    const char *const *names;
    size_t n;
    int days;
  } cases[] = {
      {"days 0", NULL, 0, 0},
      {"days negative", NULL, 0, -5},
      {"days beyond 100 years", NULL, 0, 36501},
      {"underscore in a later name", bad_char, 2, 365},
      {"empty name", empty, 1, 365},
      {"NULL name", null_name, 1, 365},
      {"names NULL with n_names 1", NULL, 1, 365},
      {"colon in a non-IP name", colon_dns, 1, 365},
      {"space in name", space, 1, 365},
      {"CN over 64 characters", long_cn, 1, 365},
  };
  char dir[PATH_LEN];
  lgt_path(dir, *state, "never");
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char err[256] = "";
    lg_certs_opts o = {
        .out_dir = dir, .names = cases[i].names, .n_names = cases[i].n, .days = cases[i].days};
    lg_rc rc = lg_certs_generate(&o, err, sizeof err);
    if (rc != LG_EINVAL)
      fail_msg("case \"%s\": rc %d, want LG_EINVAL", cases[i].name, (int)rc);
    if (!err[0])
      fail_msg("case \"%s\": no detail", cases[i].name);
    if (access(dir, F_OK) == 0 || errno != ENOENT)
      fail_msg("case \"%s\": left %s behind", cases[i].name, dir);
    /* the same into an existing directory leaves it empty */
    o.out_dir = *state;
    assert_int_equal(lg_certs_generate(&o, NULL, 0), LG_EINVAL);
    if (count_entries(*state) != 0)
      fail_msg("case \"%s\": left files in %s", cases[i].name, (const char *)*state);
  }
  assert_int_equal(lg_certs_generate(NULL, NULL, 0), LG_EINVAL);
}

static void test_out_dir_too_long(void **state) {
  char *dir = malloc(5000);
  lg_certs_opts o = {.out_dir = dir, .names = NULL, .n_names = 0, .days = 1};
  assert_non_null(dir);
  memset(dir, 'd', 4999);
  dir[4999] = '\0';
  memcpy(dir, "/tmp/", 5);
  assert_int_equal(lg_certs_generate(&o, NULL, 0), LG_EINVAL);
  free(dir);
  (void)state;
}

static void test_out_dir_unusable(void **state) {
  char file[PATH_LEN], dir[PATH_LEN], err[256] = "";
  lg_certs_opts o = {.out_dir = file, .names = NULL, .n_names = 0, .days = 1};
  FILE *fp;
  lgt_path(file, *state, "plain");
  fp = fopen(file, "w");
  assert_non_null(fp);
  fclose(fp);
  assert_int_equal(lg_certs_generate(&o, err, sizeof err), LG_EIO);
  assert_non_null(strstr(err, "not a directory"));
  lgt_path(dir, *state, "missing/child"); /* parent missing: one level only */
  o.out_dir = dir;
  assert_int_equal(lg_certs_generate(&o, err, sizeof err), LG_EIO);
  assert_int_equal(count_entries(*state), 1);
}

/* A target that cannot be replaced fails the whole run: nothing renamed, no temp files. */
static void test_target_is_directory(void **state) {
  char sub[PATH_LEN], err[256] = "";
  lg_certs_opts o = {.out_dir = *state, .names = NULL, .n_names = 0, .days = 1};
  lgt_path(sub, *state, "tls.key");
  assert_int_equal(mkdir(sub, 0700), 0);
  assert_int_equal(lg_certs_generate(&o, err, sizeof err), LG_EIO);
  assert_non_null(strstr(err, "tls.key"));
  assert_int_equal(count_entries(*state), 1);
}

static void test_not_after_errors(void **state) {
  char p[PATH_LEN], err[256] = "";
  int64_t t = 42;
  FILE *fp;
  lgt_path(p, *state, "absent.crt");
  assert_int_equal(lg_certs_not_after(p, &t, err, sizeof err), LG_EIO);
  assert_non_null(strstr(err, "absent.crt"));
  lgt_path(p, *state, "junk.crt");
  fp = fopen(p, "w");
  assert_non_null(fp);
  fputs("not a certificate\n", fp);
  fclose(fp);
  assert_int_equal(lg_certs_not_after(p, &t, err, sizeof err), LG_ETLS);
  assert_int_equal(t, 42); /* untouched on failure */
}

/* ---- in memory ---- */

static X509 *pem_cert(const char *pem) {
  BIO *b = BIO_new_mem_buf(pem, -1);
  X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
  BIO_free(b);
  assert_non_null(x);
  return x;
}

static void test_memory_pairs(void **state) {
  const char *names[] = {"leaseguard.lg.svc", "127.0.0.1"};
  int64_t now = (int64_t)time(NULL);
  lg_certs_pem ca = {0}, tls = {0}, other = {0};
  char err[256] = "", cn[64];
  X509 *ca_x, *tls_x, *other_x;
  EVP_PKEY *key;
  BIO *b;
  (void)state;

  assert_int_equal(lg_certs_make_ca(now, 7200, &ca, err, sizeof err), LG_OK);
  assert_int_equal(lg_certs_make_ca(now, 7200, &other, err, sizeof err), LG_OK);
  assert_int_equal(lg_certs_make_serving(&ca, names, 2, now, 600, &tls, err, sizeof err), LG_OK);
  assert_non_null(strstr(tls.key, "-----BEGIN PRIVATE KEY-----"));
  ca_x = pem_cert(ca.cert);
  tls_x = pem_cert(tls.cert);
  other_x = pem_cert(other.cert);
  snprintf(cn, sizeof cn, "leaseguard-ca@%lld", (long long)now);
  assert_cn(ca_x, cn);
  assert_cn(tls_x, "leaseguard.lg.svc");
  assert_true(X509_check_ca(ca_x) > 0);
  assert_int_equal(verify_with(tls_x, ca_x), X509_V_OK);
  assert_int_equal(verify_with(tls_x, other_x), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  assert_int_equal(X509_check_ip_asc(tls_x, "127.0.0.1", 0), 1);
  b = BIO_new_mem_buf(tls.key, -1);
  key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
  BIO_free(b);
  assert_int_equal(X509_check_private_key(tls_x, key), 1);
  assert_in_range(seconds_from_now(X509_get0_notAfter(tls_x)), 600 - 60, 600 + 60);
  assert_in_range(seconds_from_now(X509_get0_notBefore(ca_x)) + 300 + 60, 0, 120);
  EVP_PKEY_free(key);
  X509_free(tls_x);
  lg_certs_pem_free(&tls);

  /* A serving certificate never outlives its CA. */
  assert_int_equal(lg_certs_make_serving(&ca, names, 2, now, 86400, &tls, err, sizeof err), LG_OK);
  tls_x = pem_cert(tls.cert);
  assert_int_equal(ASN1_TIME_compare(X509_get0_notAfter(tls_x), X509_get0_notAfter(ca_x)), 0);
  X509_free(tls_x);
  lg_certs_pem_free(&tls);
  lg_certs_pem_free(&tls); /* twice is harmless */
  X509_free(other_x);
  X509_free(ca_x);
  lg_certs_pem_free(&ca);
  lg_certs_pem_free(&other);
}

static void test_memory_refusals(void **state) {
  const char *names[] = {"ok.svc"}, *bad_names[] = {"bad_name"};
  int64_t now = (int64_t)time(NULL);
  lg_certs_pem ca = {0}, out = {0}, junk = {"not PEM", "not PEM"};
  const struct {
    const char *name;
    const lg_certs_pem *ca;
    const char *const *names;
    size_t n;
    int64_t now, validity;
    lg_rc want;
  } cases[] = {
      {"no names", &ca, names, 0, now, 60, LG_EINVAL},
      {"a bad name", &ca, bad_names, 1, now, 60, LG_EINVAL},
      {"validity 0", &ca, names, 1, now, 0, LG_EINVAL},
      {"validity past 100 years", &ca, names, 1, now, INT64_C(36501) * 86400, LG_EINVAL},
      {"a CA that is not PEM", &junk, names, 1, now, 60, LG_ETLS},
      {"an expired CA", &ca, names, 1, now + 4000, 60, LG_ETLS},
  };
  (void)state;
  assert_int_equal(lg_certs_make_ca(now, 3600, &ca, NULL, 0), LG_OK);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char err[256] = "";
    lg_rc rc = lg_certs_make_serving(cases[i].ca, cases[i].names, cases[i].n, cases[i].now,
                                     cases[i].validity, &out, err, sizeof err);
    if (rc != cases[i].want || !err[0] || out.cert || out.key)
      fail_msg("case \"%s\": rc %d (\"%s\"), want %d and nothing made", cases[i].name, (int)rc, err,
               (int)cases[i].want);
  }
  assert_int_equal(lg_certs_make_ca(now, 0, &out, NULL, 0), LG_EINVAL);
  assert_null(out.cert);
  lg_certs_pem_free(&ca);
  lg_certs_pem_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
      cmocka_unit_test_setup_teardown(test_custom_names_new_dir, setup, teardown),
      cmocka_unit_test_setup_teardown(test_regenerate_replaces, setup, teardown),
      cmocka_unit_test_setup_teardown(test_invalid_inputs, setup, teardown),
      cmocka_unit_test(test_out_dir_too_long),
      cmocka_unit_test_setup_teardown(test_out_dir_unusable, setup, teardown),
      cmocka_unit_test_setup_teardown(test_target_is_directory, setup, teardown),
      cmocka_unit_test_setup_teardown(test_not_after_errors, setup, teardown),
      cmocka_unit_test(test_memory_pairs),
      cmocka_unit_test(test_memory_refusals),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
