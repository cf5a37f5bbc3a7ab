/* test_webhook.c -- AdmissionReview fixtures end to end (src/webhook.c), in process and
 * through `leaseguard check`, which must give the same answer byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"
#include "policy.h"
#include "times.h"
#include "jarena.h"
#include "webhook.h"

/* Runs `leaseguard check ARGS`; returns its exit status and its stdout (new string). */
static int run_check(const char *args, char **out) {
  char cmd[2048], buf[65536];
  size_t n;
  FILE *p;
  snprintf(cmd, sizeof cmd, "'%s' check %s 2>/dev/null", LEASEGUARD_BIN, args);
  p = popen(cmd, "r");
  assert_non_null(p);
  n = fread(buf, 1, sizeof buf - 1, p);
  buf[n] = '\0';
  *out = strdup(buf);
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int check_case(const json_t *tc) {
  const char *name = json_string_value(json_object_get(tc, "name"));
  const char *review = json_string_value(json_object_get(tc, "review"));
  const char *now_s = json_string_value(json_object_get(tc, "now"));
  const char *mode_s = json_string_value(json_object_get(tc, "mode"));
  const char *policy_s = json_string_value(json_object_get(tc, "policy"));
  int want_status = (int)json_integer_value(json_object_get(tc, "status"));
  char path[512], ppath[512], args[1536], err[256];
  lg_policy *policy = NULL;
  lg_webhook_result res;
  json_t *doc = NULL, *resp;
  lg_time now;
  char *body, *cli_out = NULL;
  size_t len = 0;
  int failures = 0, want_exit;

#define EXPECT(cond, ...)                 \
  do {                                    \
    if (!(cond)) {                        \
      print_error("case \"%s\": ", name); \
      print_error(__VA_ARGS__);           \
      print_error("\n");                  \
      failures++;                         \
    }                                     \
  } while (0)

  snprintf(path, sizeof path, "%s/reviews/%s", LG_FIXTURES, review);
  snprintf(ppath, sizeof ppath, "%s/policies/%s", LG_FIXTURES, policy_s ? policy_s : "");
  body = lgt_read_file(path, &len);
  assert_non_null(body);
  assert_int_equal(lg_time_parse(now_s, &now), LG_OK);
  assert_int_equal(policy_s ? lg_policy_load_file(ppath, &policy, err, sizeof err)
                            : lg_policy_default(&policy, err, sizeof err),
                   LG_OK);
  lg_webhook_handle(body, len,
                    &(lg_webhook_env){policy,
                                      mode_s ? lg_rules_parse_mode(mode_s) : LG_MODE_INHERIT, now,
                                      0, NULL},
                    &res);
  EXPECT(res.http_status == want_status, "HTTP status %d, want %d (%s)", res.http_status,
         want_status, res.error);
  doc = json_loads(res.body, JSON_ALLOW_NUL, NULL); /* a uid may hold U+0000 */
  EXPECT(doc != NULL, "response is not JSON: %s", res.body);
  if (doc && want_status == 400) {
    EXPECT(json_integer_value(json_object_get(doc, "code")) == 400 &&
               json_string_length(json_object_get(doc, "message")) > 0,
           "400 without a Status: %s", res.body);
    want_exit = 2;
  } else if (doc) {
    json_t *reqdoc = json_loads(body, JSON_ALLOW_NUL, NULL),
           *req = json_object_get(reqdoc, "request");
    const json_t *rules = json_object_get(tc, "rules"), *v, *ann, *warnings;
    bool allowed = json_is_true(json_object_get(tc, "allowed"));
    size_t i;
    resp = json_object_get(doc, "response");
    /* jansson alone cannot read a body with U+0000 in a key: then the uid decoded is used. */
    EXPECT(reqdoc ? json_equal(json_object_get(resp, "uid"), json_object_get(req, "uid"))
                  : json_is_string(json_object_get(resp, "uid")) && res.review.uid &&
                        !strcmp(json_string_value(json_object_get(resp, "uid")), res.review.uid),
           "uid not echoed");
    EXPECT(json_is_true(json_object_get(resp, "allowed")) == allowed, "allowed %d, want %d: %s",
           json_is_true(json_object_get(resp, "allowed")), allowed, res.body);
    if (!allowed)
      EXPECT(json_integer_value(json_object_get(json_object_get(resp, "status"), "code")) == 403,
             "denial without status.code 403: %s", res.body);
    ann = json_object_get(resp, "auditAnnotations");
    EXPECT(json_object_size(ann) == json_array_size(rules), "%zu auditAnnotations: %s",
           json_object_size(ann), res.body);
    json_array_foreach(rules, i, v) EXPECT(json_object_get(ann, json_string_value(v)) != NULL,
                                           "no finding of %s: %s", json_string_value(v), res.body);
    warnings = json_object_get(resp, "warnings");
    EXPECT((int)json_array_size(warnings) ==
               (int)json_integer_value(json_object_get(tc, "warnings")),
           "%zu warnings: %s", json_array_size(warnings), res.body);
    json_array_foreach(warnings, i, v) EXPECT(json_string_length(v) <= 120, "warning too long");
    want_exit = allowed ? 0 : 1;
    json_decref(reqdoc);
  } else {
    want_exit = -1;
  }
  /* the same answer through the CLI */
  snprintf(args, sizeof args, "--now=%s%s%s%s%s '%s'", now_s, mode_s ? " --mode=" : "",
           mode_s ? mode_s : "", policy_s ? " --policy-file=" : "", policy_s ? ppath : "", path);
  int code = run_check(args, &cli_out);
  EXPECT(code == want_exit, "check exited %d, want %d", code, want_exit);
  if (want_exit != 2)
    EXPECT(strncmp(cli_out, res.body, strlen(res.body)) == 0, "check printed %s", cli_out);
  free(cli_out);
  json_decref(doc);
  lg_webhook_result_free(&res);
  lg_policy_free(policy);
  free(body);
  return failures;
}

static void test_fixtures(void **state) {
  (void)state;
  json_error_t jerr;
  json_t *cases = json_load_file(LG_FIXTURES "/cases.json", 0, &jerr), *tc;
  size_t i;
  int failures = 0;
  if (!cases)
    fail_msg("cases.json: %s line %d", jerr.text, jerr.line);
  assert_true(json_array_size(cases) >= 20);
  json_array_foreach(cases, i, tc) failures += check_case(tc);
  json_decref(cases);
  assert_int_equal(failures, 0);
}

/* Messages quote what the request says (here the object's kind); cut to their buffers,
 * a long non-ASCII value must still give a 400 with a Status, not a 500 (found by
 * fuzz_review: the cut split a character and jansson refused the message). */
static void test_long_non_ascii_values(void **state) {
  char err[256];
  lg_policy *policy = NULL;
  lg_time now;
  (void)state;
  assert_int_equal(lg_policy_default(&policy, err, sizeof err), LG_OK);
  assert_int_equal(lg_time_parse("2026-11-25T10:00:12Z", &now), LG_OK);
  for (size_t shift = 0; shift < 3; shift++) { /* the cut falls in each byte of a character */
    json_error_t jerr;
    json_t *review = json_load_file(LG_FIXTURES "/reviews/kcm-renew.json", 0, &jerr), *st;
    json_t *obj = json_object_get(json_object_get(review, "request"), "object");
    char kind[1200] = "Leas", *body;
    lg_webhook_result res;
    assert_non_null(obj);
    for (size_t i = 0; i < shift; i++)
      strcat(kind, "x");
    for (size_t i = 0; i < 300; i++)
      strcat(kind, "\xe2\x82\xac"); /* the euro sign: 3 bytes */
    json_object_set_new(obj, "kind", json_string(kind));
    body = json_dumps(review, JSON_COMPACT);
    json_decref(review);
    lg_webhook_handle(body, strlen(body), &(lg_webhook_env){policy, LG_MODE_INHERIT, now, 0, NULL},
                      &res);
    assert_int_equal(res.http_status, 400);
    assert_non_null(res.body);
    st = json_loads(res.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(st, "kind")), "Status");
    assert_non_null(strstr(json_string_value(json_object_get(st, "message")), "not a Lease"));
    /* the Status names the request by its uid, for the API server's log */
    assert_non_null(strstr(json_string_value(json_object_get(st, "message")),
                           "(request uid 0f1e2d3c-4b5a-4968-8776-000000000002)"));
    json_decref(st);
    lg_webhook_result_free(&res);
    free(body);
  }
  lg_policy_free(policy);
}

static void test_check_usage(void **state) {
  (void)state;
  char *out = NULL;
  assert_int_equal(run_check("--help", &out), 0);
  assert_non_null(strstr(out, "Usage: leaseguard check"));
  free(out);
  assert_int_equal(run_check("--mode=block " LG_FIXTURES "/reviews/kcm-renew.json", &out), 2);
  free(out);
  assert_int_equal(run_check("--now=yesterday " LG_FIXTURES "/reviews/kcm-renew.json", &out), 2);
  free(out);
  assert_int_equal(run_check("/nonexistent.json", &out), 2);
  free(out);
  assert_int_equal(run_check("--policy-file=" LG_FIXTURES "/reviews/kcm-renew.json " LG_FIXTURES
                             "/reviews/kcm-renew.json",
                             &out),
                   2);
  free(out);
  /* stdin works as "-" */
  assert_int_equal(run_check("--now=2026-11-25T10:00:12Z - < " LG_FIXTURES
                             "/reviews/kcm-huge-duration.json",
                             &out),
                   1);
  assert_non_null(strstr(out, "[duration] kube-system/kube-controller-manager"));
  free(out);
}

int main(void) {
  lg_jarena_install(); /* reviews in arenas, as in serve */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixtures),
      cmocka_unit_test(test_long_non_ascii_values),
      cmocka_unit_test(test_check_usage),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
