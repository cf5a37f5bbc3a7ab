/* test_certsecret.c -- src/certsecret.c: the controller's Secret read from JSON (bad values
 * noted, never fatal), judged (a table of broken Secrets and what the view says of each), each
 * action's new data, the data written back and the caBundle it implies. */
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

#include <jansson.h>

#include "b64.h"
#include "certinfo.h"
#include "certs.h"
#include "certsecret.h"

static const char *const names[] = {"webhook.lg.svc", "127.0.0.1"};
static const lg_certsecret_params params = {names, 2, 3600};

/* Material made once: a CA with its serving pair, another CA, a pair from that other CA. */
static struct {
  int64_t now;
  lg_certs_pem ca, tls, ca2, tls2;
} m;

static int setup(void **state) {
  (void)state;
  m.now = (int64_t)time(NULL);
  return lg_certs_make_ca(m.now, 7200, &m.ca, NULL, 0) ||
                 lg_certs_make_serving(&m.ca, names, 2, m.now, 3600, &m.tls, NULL, 0) ||
                 lg_certs_make_ca(m.now, 7200, &m.ca2, NULL, 0) ||
                 lg_certs_make_serving(&m.ca2, names, 2, m.now, 3600, &m.tls2, NULL, 0)
             ? -1
             : 0;
}

static int teardown(void **state) {
  (void)state;
  lg_certs_pem_free(&m.ca);
  lg_certs_pem_free(&m.tls);
  lg_certs_pem_free(&m.ca2);
  lg_certs_pem_free(&m.tls2);
  return 0;
}

/* A Secret object whose data holds key = base64(pem) for each pair given (NULL-ended); a
 * value starting with '!' is put in as it is (not encoded). */
static json_t *secret_of(const char *key, ...) {
  json_t *data = json_object();
  va_list ap;
  va_start(ap, key);
  for (const char *k = key; k; k = va_arg(ap, const char *)) {
    const char *v = va_arg(ap, const char *);
    char *enc = v[0] == '!' ? strdup(v + 1) : lg_b64_encode(v, strlen(v));
    json_object_set_new(data, k, json_string(enc));
    free(enc);
  }
  va_end(ap);
  return json_pack("{s:s, s:o}", "kind", "Secret", "data", data);
}

static void view_of(json_t *secret, lg_certsecret *s, lg_certrot_view *v, char *problem,
                    size_t len) {
  memset(s, 0, sizeof *s);
  assert_int_equal(lg_certsecret_read(secret, s), LG_OK);
  lg_certsecret_view(s, names, 2, v, problem, len);
  json_decref(secret);
}

static void test_read(void **state) {
  json_t *sec = secret_of("ca.crt", "!not base64", "tls.crt", "hello", "other", "x", NULL);
  lg_certsecret s = {0};
  (void)state;
  json_object_set_new(json_object_get(sec, "data"), "tls.key", json_integer(5));
  json_object_set_new(json_object_get(sec, "data"), "ca.key", json_string("AGE=")); /* "\0a" */
  assert_int_equal(lg_certsecret_read(sec, &s), LG_OK);
  assert_true(s.not_base64[LG_CS_CA_CRT]);
  assert_string_equal(s.pem[LG_CS_CA_CRT], "");
  assert_false(s.not_base64[LG_CS_TLS_CRT]);
  assert_string_equal(s.pem[LG_CS_TLS_CRT], "hello");
  assert_true(s.not_base64[LG_CS_TLS_KEY]); /* not a string */
  assert_true(s.not_base64[LG_CS_CA_KEY]);  /* a NUL inside: not text */
  assert_null(s.pem[LG_CS_NEXT_CRT]);
  /* Reading again replaces what was there. */
  json_decref(sec);
  sec = secret_of("ca-previous.crt", "x", NULL);
  assert_int_equal(lg_certsecret_read(sec, &s), LG_OK);
  assert_null(s.pem[LG_CS_CA_CRT]);
  assert_false(s.not_base64[LG_CS_CA_CRT]);
  assert_string_equal(s.pem[LG_CS_PREV_CRT], "x");
  lg_certsecret_free(&s);
  lg_certsecret_free(&s);
  lg_certsecret_free(NULL);
  json_decref(sec);
  assert_string_equal(lg_certsecret_key_name(LG_CS_NEXT_KEY), "ca-next.key");
}

typedef struct {
  const char *name;
  json_t *secret;
  lg_certrot_state ca, tls, next, prev;
  bool issued_by_ca, names_ok;
  const char *problem;
} view_case;

static void test_view(void **state) {
  view_case cases[] = {
      {"healthy",
       secret_of("ca.crt", m.ca.cert, "ca.key", m.ca.key, "tls.crt", m.tls.cert, "tls.key",
                 m.tls.key, NULL),
       LG_CERTROT_OK, LG_CERTROT_OK, LG_CERTROT_ABSENT, LG_CERTROT_ABSENT, true, true, ""},
      {"mid-rotation",
       secret_of("ca.crt", m.ca.cert, "ca.key", m.ca.key, "tls.crt", m.tls.cert, "tls.key",
                 m.tls.key, "ca-next.crt", m.ca2.cert, "ca-next.key", m.ca2.key, "ca-previous.crt",
                 m.ca2.cert, NULL),
       LG_CERTROT_OK, LG_CERTROT_OK, LG_CERTROT_OK, LG_CERTROT_OK, true, true, ""},
      {"empty", secret_of(NULL), LG_CERTROT_ABSENT, LG_CERTROT_ABSENT, LG_CERTROT_ABSENT,
       LG_CERTROT_ABSENT, false, false, ""},
      {"CA key missing",
       secret_of("ca.crt", m.ca.cert, "tls.crt", m.tls.cert, "tls.key", m.tls.key, NULL),
       LG_CERTROT_BAD, LG_CERTROT_OK, LG_CERTROT_ABSENT, LG_CERTROT_ABSENT, false, true,
       "ca.key is missing"},
      {"CA certificate not base64", secret_of("ca.crt", "!@@@@", "ca.key", m.ca.key, NULL),
       LG_CERTROT_BAD, LG_CERTROT_ABSENT, LG_CERTROT_ABSENT, LG_CERTROT_ABSENT, false, false,
       "ca.crt is not base64"},
      {"CA certificate not PEM", secret_of("ca.crt", "garbage", "ca.key", m.ca.key, NULL),
       LG_CERTROT_BAD, LG_CERTROT_ABSENT, LG_CERTROT_ABSENT, LG_CERTROT_ABSENT, false, false,
       "ca.crt: the certificate is not a PEM certificate"},
      {"CA that is no CA",
       secret_of("ca.crt", m.tls.cert, "ca.key", m.tls.key, "tls.crt", m.tls.cert, "tls.key",
                 m.tls.key, NULL),
       LG_CERTROT_BAD, LG_CERTROT_OK, LG_CERTROT_ABSENT, LG_CERTROT_ABSENT, false, true,
       "ca.crt is not a CA certificate"},
      {"serving key of another pair",
       secret_of("ca.crt", m.ca.cert, "ca.key", m.ca.key, "tls.crt", m.tls.cert, "tls.key",
                 m.tls2.key, NULL),
       LG_CERTROT_OK, LG_CERTROT_BAD, LG_CERTROT_ABSENT, LG_CERTROT_ABSENT, false, false,
       "tls.key: the key does not match the certificate"},
      {"serving pair of another CA",
       secret_of("ca.crt", m.ca.cert, "ca.key", m.ca.key, "tls.crt", m.tls2.cert, "tls.key",
                 m.tls2.key, NULL),
       LG_CERTROT_OK, LG_CERTROT_OK, LG_CERTROT_ABSENT, LG_CERTROT_ABSENT, false, true, ""},
      {"first problem wins",
       secret_of("ca.crt", m.ca.cert, "ca.key", m.ca.key, "tls.crt", "x", "tls.key", m.tls.key,
                 "ca-previous.crt", "!%%", NULL),
       LG_CERTROT_OK, LG_CERTROT_BAD, LG_CERTROT_ABSENT, LG_CERTROT_BAD, false, false,
       "tls.crt: the certificate is not a PEM certificate"},
      {"next CA without its key",
       secret_of("ca.crt", m.ca.cert, "ca.key", m.ca.key, "tls.crt", m.tls.cert, "tls.key",
                 m.tls.key, "ca-next.crt", m.ca2.cert, NULL),
       LG_CERTROT_OK, LG_CERTROT_OK, LG_CERTROT_BAD, LG_CERTROT_ABSENT, true, true,
       "ca-next.key is missing"},
  };
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const view_case *c = &cases[i];
    lg_certsecret s;
    lg_certrot_view v;
    char problem[256];
    view_of(c->secret, &s, &v, problem, sizeof problem);
    if (!v.exists || v.ca.state != c->ca || v.tls.state != c->tls || v.next.state != c->next ||
        v.prev.state != c->prev || v.tls_issued_by_ca != c->issued_by_ca ||
        v.tls_names != c->names_ok || strcmp(problem, c->problem) != 0 || v.problem != problem)
      fail_msg("case \"%s\": ca %d tls %d next %d prev %d issued %d names %d problem \"%s\"",
               c->name, v.ca.state, v.tls.state, v.next.state, v.prev.state, v.tls_issued_by_ca,
               v.tls_names, problem);
    if (v.ca.state == LG_CERTROT_OK && (v.ca.issued != m.now || v.ca.not_after != m.now + 7200))
      fail_msg("case \"%s\": CA issued %lld until %lld", c->name, (long long)v.ca.issued,
               (long long)v.ca.not_after);
    lg_certsecret_free(&s);
  }
}

/* Applies a to s, checks the result's view is healthy, and replaces s with it. */
static lg_certrot_view step(lg_certsecret *s, lg_certrot_action a, int64_t now) {
  lg_certsecret out;
  lg_certrot_view v;
  char err[256] = "", problem[256];
  if (lg_certsecret_apply(s, a, &params, now, &out, err, sizeof err) != LG_OK)
    fail_msg("%s: %s", lg_certrot_word(a), err);
  lg_certsecret_view(&out, names, 2, &v, problem, sizeof problem);
  if (problem[0] || v.ca.state != LG_CERTROT_OK || v.tls.state != LG_CERTROT_OK ||
      !v.tls_issued_by_ca || !v.tls_names)
    fail_msg("after %s: %s", lg_certrot_word(a), problem);
  lg_certsecret_free(s);
  *s = out;
  return v;
}

static void test_actions(void **state) {
  lg_certsecret s = {0};
  lg_certrot_view v;
  char *ca1, *tls1, *ca2;
  (void)state;

  v = step(&s, LG_CERTROT_CREATE, m.now);
  assert_int_equal(v.next.state, LG_CERTROT_ABSENT);
  assert_int_equal(v.tls.not_after, m.now + 3600);
  ca1 = strdup(s.pem[LG_CS_CA_CRT]);
  tls1 = strdup(s.pem[LG_CS_TLS_CRT]);

  v = step(&s, LG_CERTROT_REISSUE, m.now + 10);
  assert_string_equal(s.pem[LG_CS_CA_CRT], ca1);
  assert_string_not_equal(s.pem[LG_CS_TLS_CRT], tls1);
  assert_int_equal(v.tls.issued, m.now + 10);

  v = step(&s, LG_CERTROT_ANNOUNCE, m.now + 20);
  assert_int_equal(v.next.state, LG_CERTROT_OK);
  assert_int_equal(v.next.issued, m.now + 20);
  assert_string_equal(s.pem[LG_CS_CA_CRT], ca1);
  ca2 = strdup(s.pem[LG_CS_NEXT_CRT]);

  v = step(&s, LG_CERTROT_SWITCH, m.now + 30);
  assert_string_equal(s.pem[LG_CS_CA_CRT], ca2);
  assert_string_equal(s.pem[LG_CS_PREV_CRT], ca1);
  assert_null(s.pem[LG_CS_NEXT_CRT]);
  assert_null(s.pem[LG_CS_NEXT_KEY]);
  assert_int_equal(v.prev.state, LG_CERTROT_OK);
  assert_int_equal(lg_certinfo_issued_by(s.pem[LG_CS_TLS_CRT], ca2, NULL, 0), LG_OK);

  v = step(&s, LG_CERTROT_DROP, m.now + 40);
  assert_int_equal(v.prev.state, LG_CERTROT_ABSENT);
  assert_string_equal(s.pem[LG_CS_CA_CRT], ca2);

  v = step(&s, LG_CERTROT_REPAIR, m.now + 50);
  assert_string_not_equal(s.pem[LG_CS_CA_CRT], ca2);
  v = step(&s, LG_CERTROT_NONE, m.now + 60);
  (void)v;
  free(ca1);
  free(ca2);
  free(tls1);
  lg_certsecret_free(&s);
}

/* A failing action leaves nothing behind and cur as it was. */
static void test_apply_fails_whole(void **state) {
  json_t *sec = secret_of("ca.crt", "garbage", "ca.key", "garbage", "tls.crt", m.tls.cert,
                          "tls.key", m.tls.key, NULL);
  lg_certsecret s = {0}, out;
  char err[256] = "";
  (void)state;
  assert_int_equal(lg_certsecret_read(sec, &s), LG_OK);
  assert_int_not_equal(
      lg_certsecret_apply(&s, LG_CERTROT_REISSUE, &params, m.now, &out, err, sizeof err), LG_OK);
  assert_true(err[0]);
  for (int k = 0; k < LG_CS_COUNT; k++)
    assert_null(out.pem[k]);
  assert_string_equal(s.pem[LG_CS_TLS_CRT], m.tls.cert);
  assert_int_not_equal(
      lg_certsecret_apply(&s, LG_CERTROT_SWITCH, &params, m.now, &out, err, sizeof err),
      LG_OK); /* no ca-next */
  lg_certsecret_free(&s);
  json_decref(sec);
}

static void test_data_and_bundle(void **state) {
  json_t *sec = secret_of("ca.crt", m.ca.cert, "ca.key", m.ca.key, "tls.crt", m.tls.cert, "tls.key",
                          m.tls.key, "ca-next.crt", m.ca2.cert, "ca-next.key", m.ca2.key,
                          "ca-previous.crt", "not PEM", "extra", "kept", NULL);
  lg_certsecret s = {0}, back = {0};
  lg_certrot_view v;
  json_t *data, *again;
  char problem[256], *bundle, *want = NULL;
  (void)state;

  assert_int_equal(lg_certsecret_read(sec, &s), LG_OK);
  data = lg_certsecret_data(&s, json_object_get(sec, "data"));
  assert_non_null(data);
  assert_true(json_equal(data, json_object_get(sec, "data")));
  again = json_pack("{s:O}", "data", data);
  assert_int_equal(lg_certsecret_read(again, &back), LG_OK);
  for (int k = 0; k < LG_CS_COUNT; k++)
    assert_string_equal(back.pem[k], s.pem[k]);
  /* Without the old data, only the controller's keys. */
  json_decref(data);
  free(s.pem[LG_CS_PREV_CRT]);
  s.pem[LG_CS_PREV_CRT] = NULL;
  data = lg_certsecret_data(&s, NULL);
  assert_int_equal(json_object_size(data), 6);
  assert_null(json_object_get(data, "extra"));
  json_decref(data);

  /* The bundle: the CA, then the next one; an unusable previous one is left out. */
  s.pem[LG_CS_PREV_CRT] = strdup("not PEM");
  lg_certsecret_view(&s, names, 2, &v, problem, sizeof problem);
  bundle = lg_certsecret_bundle(&s, &v);
  assert_true(asprintf(&want, "%s%s", m.ca.cert, m.ca2.cert) > 0);
  assert_string_equal(bundle, want);
  free(bundle);
  free(want);
  /* A next CA equal to the current one appears once. */
  free(s.pem[LG_CS_NEXT_CRT]);
  s.pem[LG_CS_NEXT_CRT] = strdup(m.ca.cert);
  free(s.pem[LG_CS_NEXT_KEY]);
  s.pem[LG_CS_NEXT_KEY] = strdup(m.ca.key);
  lg_certsecret_view(&s, names, 2, &v, problem, sizeof problem);
  bundle = lg_certsecret_bundle(&s, &v);
  assert_string_equal(bundle, m.ca.cert);
  free(bundle);
  memset(&v, 0, sizeof v);
  bundle = lg_certsecret_bundle(&s, &v);
  assert_string_equal(bundle, "");
  free(bundle);

  json_decref(again);
  json_decref(sec);
  lg_certsecret_free(&back);
  lg_certsecret_free(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_read),
      cmocka_unit_test(test_view),
      cmocka_unit_test(test_actions),
      cmocka_unit_test(test_apply_fails_whole),
      cmocka_unit_test(test_data_and_bundle),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
