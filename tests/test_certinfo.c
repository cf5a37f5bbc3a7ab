/* test_certinfo.c -- src/certinfo.c: validity and CA flag of PEM certificates, keys against
 * certificates, certificates against CAs, names against SANs, and what is not PEM. */
#define _GNU_SOURCE /* asprintf */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certinfo.h"
#include "certs.h"

#define NOW INT64_C(1800000000)

static struct { lg_certs_pem ca, other_ca, tls; } m;

static const char *const names[] = {"webhook.lg.svc", "127.0.0.1", "::1", "*.lg.svc.cluster.local"};

static int setup(void **state) {
  (void)state;
  if (lg_certs_make_ca(NOW, 86400, &m.ca, NULL, 0) ||
      lg_certs_make_ca(NOW, 86400, &m.other_ca, NULL, 0) ||
      lg_certs_make_serving(&m.ca, names, 4, NOW, 3600, &m.tls, NULL, 0))
    return -1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  lg_certs_pem_free(&m.ca);
  lg_certs_pem_free(&m.other_ca);
  lg_certs_pem_free(&m.tls);
  return 0;
}

static void test_read(void **state) {
  lg_certinfo ca = {0}, tls = {0}, untouched = {1, 2, true};
  char err[256] = "";
  (void)state;
  assert_int_equal(lg_certinfo_read(m.ca.cert, &ca, err, sizeof err), LG_OK);
  assert_true(ca.is_ca);
  assert_int_equal(ca.not_before, NOW - LG_CERTS_BACKDATE_S);
  assert_int_equal(ca.not_after, NOW + 86400);
  assert_int_equal(lg_certinfo_read(m.tls.cert, &tls, err, sizeof err), LG_OK);
  assert_false(tls.is_ca);
  assert_int_equal(tls.not_after, NOW + 3600);
  assert_int_equal(lg_certinfo_read("not PEM", &untouched, err, sizeof err), LG_ETLS);
  assert_string_equal(err, "the certificate is not a PEM certificate");
  assert_int_equal(untouched.not_after, 2);
  assert_int_equal(lg_certinfo_read(m.tls.key, &untouched, NULL, 0), LG_ETLS);
  assert_int_equal(lg_certinfo_read(NULL, &untouched, NULL, 0), LG_ETLS);
}

static void test_relations(void **state) {
  static const struct {
    const char *name;
    int what; /* 0 key_matches, 1 issued_by */
    const char **a, **b;
    lg_rc want;
    const char *err;
  } cases[] = {
      {"serving key", 0, (const char **)&m.tls.cert, (const char **)&m.tls.key, LG_OK, ""},
      {"CA key for the serving certificate", 0, (const char **)&m.tls.cert,
       (const char **)&m.ca.key, LG_ETLS, "the key does not match the certificate"},
      {"a certificate as the key", 0, (const char **)&m.tls.cert, (const char **)&m.tls.cert,
       LG_ETLS, "the key is not a PEM private key"},
      {"issued by its CA", 1, (const char **)&m.tls.cert, (const char **)&m.ca.cert, LG_OK, ""},
      {"issued by another CA", 1, (const char **)&m.tls.cert, (const char **)&m.other_ca.cert,
       LG_ETLS, "the certificate was not issued by the CA"},
      {"a key as the CA", 1, (const char **)&m.tls.cert, (const char **)&m.ca.key, LG_ETLS,
       "the CA certificate is not a PEM certificate"},
      {"CA self-issued", 1, (const char **)&m.ca.cert, (const char **)&m.ca.cert, LG_OK, ""},
  };
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char err[256] = "";
    lg_rc rc = cases[i].what == 0
                   ? lg_certinfo_key_matches(*cases[i].a, *cases[i].b, err, sizeof err)
                   : lg_certinfo_issued_by(*cases[i].a, *cases[i].b, err, sizeof err);
    if (rc != cases[i].want || strcmp(err, cases[i].err) != 0)
      fail_msg("case \"%s\": rc %d \"%s\", want %d \"%s\"", cases[i].name, (int)rc, err,
               (int)cases[i].want, cases[i].err);
  }
}

static void test_covers(void **state) {
  static const struct {
    const char *name;
    const char *names[3];
    size_t n;
    const char *err; /* "" when covered */
  } cases[] = {
      {"all of them", {"webhook.lg.svc", "127.0.0.1", "::1"}, 3, ""},
      {"DNS names without case", {"Webhook.LG.svc"}, 1, ""},
      {"an IPv6 address written otherwise", {"0:0::1"}, 1, ""},
      {"a wildcard entry as itself", {"*.lg.svc.cluster.local"}, 1, ""},
      {"none asked", {NULL}, 0, ""},
      {"a name it lacks",
       {"webhook.lg.svc", "other.lg.svc"},
       2,
       "the certificate does not name other.lg.svc"},
      {"an address it lacks", {"127.0.0.2"}, 1, "the certificate does not name 127.0.0.2"},
      {"an address is not a DNS name",
       {"webhook.lg.svc.", "::2"},
       1,
       "the certificate does not name webhook.lg.svc."},
  };
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char err[256] = "";
    lg_rc rc = lg_certinfo_covers(m.tls.cert, cases[i].names, cases[i].n, err, sizeof err);
    if ((rc == LG_OK) != !cases[i].err[0] || strcmp(err, cases[i].err) != 0)
      fail_msg("case \"%s\": rc %d \"%s\", want \"%s\"", cases[i].name, (int)rc, err, cases[i].err);
  }
}

static void test_normalize(void **state) {
  char *wrapped = NULL, *norm, *again;
  (void)state;
  assert_true(asprintf(&wrapped, "subject=junk\r\n%s\n\ntrailing text\n", m.ca.cert) > 0);
  norm = lg_certinfo_normalize(wrapped);
  assert_non_null(norm);
  assert_string_equal(norm, m.ca.cert);
  again = lg_certinfo_normalize(norm);
  assert_string_equal(again, norm);
  assert_null(lg_certinfo_normalize("no certificate here"));
  assert_null(lg_certinfo_normalize(NULL));
  free(again);
  free(norm);
  free(wrapped);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_read),
      cmocka_unit_test(test_relations),
      cmocka_unit_test(test_covers),
      cmocka_unit_test(test_normalize),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
