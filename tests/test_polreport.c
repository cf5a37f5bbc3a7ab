/* test_polreport.c -- findings as PolicyReports (src/polreport.c): one result per lease and
 * rule, the latest finding, bounded, expired, removed with the lease, stable documents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "polreport.h"

#define SEC LG_USEC_PER_SEC
#define T0  INT64_C(1795600800000000)

static lg_finding finding(lg_rule r, lg_mode m, const char *ns, const char *name, const char *msg) {
  lg_finding f = {.rule = r, .mode = m};
  snprintf(f.message, sizeof f.message, "[%s] %s/%s: %s", lg_rules_id(r), ns, name, msg);
  return f;
}

static size_t dirty_count(lg_polreport *r) {
  json_t *d = lg_polreport_dirty(r);
  size_t n = json_array_size(d);
  json_decref(d);
  return n;
}

static void test_reports(void **state) {
  (void)state;
  lg_polreport *r = lg_polreport_new(3, 3600 * SEC);
  lg_finding steal =
      finding(LG_RULE_HOLDER_RENEW, LG_MODE_ENFORCE, "team-a", "lock", "takeover before expiry");
  lg_finding skip = finding(LG_RULE_TRANSITIONS, LG_MODE_WARN, "team-a", "lock", "skipped");
  lg_finding again =
      finding(LG_RULE_HOLDER_RENEW, LG_MODE_ENFORCE, "team-a", "lock", "second steal");
  json_t *doc, *res;

  assert_null(lg_polreport_document(r, "team-a"));
  lg_polreport_add(r, "team-a", "lock", "uid-1", &steal, "system:serviceaccount:evil:x", T0);
  lg_polreport_add(r, "team-a", "lock", "uid-1", &skip, "", T0 + SEC);
  lg_polreport_add(r, "team-a", "lock", "uid-1", &again, "", T0 + 2 * SEC); /* replaces */
  assert_int_equal(dirty_count(r), 1);
  doc = lg_polreport_document(r, "team-a");
  assert_non_null(doc);
  assert_string_equal(json_string_value(json_object_get(doc, "apiVersion")),
                      "wgpolicyk8s.io/v1alpha2");
  assert_string_equal(json_string_value(json_object_get(doc, "kind")), "PolicyReport");
  assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "metadata"), "name")),
                      LG_POLREPORT_NAME);
  assert_int_equal(json_array_size(json_object_get(doc, "results")), 2);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "summary"), "fail")), 1);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "summary"), "warn")), 1);
  res = json_array_get(json_object_get(doc, "results"), 0); /* sorted: lease, then rule */
  assert_string_equal(json_string_value(json_object_get(res, "rule")), "holder-renew");
  assert_string_equal(json_string_value(json_object_get(res, "message")), "second steal");
  assert_string_equal(json_string_value(json_object_get(res, "severity")), "critical");
  assert_string_equal(json_string_value(json_object_get(res, "result")), "fail");
  assert_int_equal(
      json_integer_value(json_object_get(json_object_get(res, "timestamp"), "seconds")),
      (T0 + 2 * SEC) / SEC);
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(res, "properties"), "writer")), "unknown");
  json_t *rsrc = json_array_get(json_object_get(res, "resources"), 0);
  assert_string_equal(json_string_value(json_object_get(rsrc, "kind")), "Lease");
  assert_string_equal(json_string_value(json_object_get(rsrc, "uid")), "uid-1");
  json_decref(doc);
  lg_polreport_written(r, "team-a");
  assert_int_equal(dirty_count(r), 0);
  /* bounded: the oldest result goes */
  for (int i = 0; i < 5; i++) {
    char name[16];
    snprintf(name, sizeof name, "l%d", i);
    lg_finding f = finding(LG_RULE_DURATION, LG_MODE_ENFORCE, "team-b", name, "huge");
    lg_polreport_add(r, "team-b", name, "", &f, "", T0 + (lg_time)i * SEC);
  }
  doc = lg_polreport_document(r, "team-b");
  assert_int_equal(json_array_size(json_object_get(doc, "results")), 3);
  char *first = json_dumps(
      json_object_get(json_array_get(json_object_get(doc, "results"), 0), "resources"), 0);
  assert_non_null(strstr(first, "\"l2\"")); /* l0 and l1 were dropped */
  free(first);
  json_decref(doc);
  /* the lease goes: its results go; an empty report is to be deleted */
  lg_polreport_lease_deleted(r, "team-a", "lock");
  assert_null(lg_polreport_document(r, "team-a"));
  lg_polreport_written(r, "team-a");
  lg_polreport_written(r, "team-b");
  /* expiry */
  lg_polreport_expire(r, T0 + 2 * 3600 * SEC);
  assert_int_equal(dirty_count(r), 1);
  assert_null(lg_polreport_document(r, "team-b"));
  lg_polreport_free(r);
}

/* The document, whole, is tests/fixtures/policyreport.json: the chart test validates that
 * file against the PolicyReport CRD the chart installs, so the two cannot drift apart. */
static void test_document_fixture(void **state) {
  (void)state;
  lg_polreport *r = lg_polreport_new(10, 3600 * SEC);
  lg_finding steal = finding(LG_RULE_HOLDER_RENEW, LG_MODE_ENFORCE, "team-a", "payments-lock",
                             "takeover before expiry: holder \"pod-a_1\" -> \"pod-b_2\"");
  lg_finding band = finding(LG_RULE_DURATION_RECOMMENDED, LG_MODE_WARN, "team-a", "payments-lock",
                            "leaseDurationSeconds 600 is outside the recommended 5..300");
  json_error_t err;
  json_t *want = json_load_file(LG_FIXTURES "/policyreport.json", 0, &err), *doc;
  char *got;

  if (!want)
    fail_msg("%s line %d: %s", LG_FIXTURES "/policyreport.json", err.line, err.text);
  lg_polreport_add(r, "team-a", "payments-lock", "9f1b6c2e-4d7a-4c1e-8b0f-2a5d3e6f7a81", &steal,
                   "system:serviceaccount:team-a:payments", T0);
  lg_polreport_add(r, "team-a", "payments-lock", "9f1b6c2e-4d7a-4c1e-8b0f-2a5d3e6f7a81", &band, "",
                   T0 + SEC / 2);
  doc = lg_polreport_document(r, "team-a");
  got = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
  if (!json_equal(doc, want))
    fail_msg("the document differs from tests/fixtures/policyreport.json:\n%s", got);
  free(got);
  json_decref(doc);
  json_decref(want);
  lg_polreport_free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_reports),
                                     cmocka_unit_test(test_document_fixture)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
