/* test_metrics.c -- the Prometheus registry (src/obs/metrics.c): exact rendered lines, and
 * Prometheus's own linter (promtool check metrics) on the whole text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "metrics.h"
#include "policy.h"
#include "webhook.h"

static lg_policy *policy;

static int setup(void **state) {
  char err[256];
  (void)state;
  if (lg_policy_default(&policy, err, sizeof err) != LG_OK) {
    print_error("default policy: %s\n", err);
    return -1;
  }
  return 0;
}

static int teardown(void **state) {
  (void)state;
  lg_policy_free(policy);
  return 0;
}

static lg_time at(const char *rfc3339) {
  lg_time t = 0;
  assert_int_equal(lg_time_parse(rfc3339, &t), LG_OK);
  return t;
}

/* Counts res as serve does: through the decision record, with latency seconds. */
static void count_result(lg_metrics *m, const lg_webhook_result *res, double seconds) {
  lg_decision d;
  lg_decision_from_webhook(res, LG_DECISION_SERVE, 0, &d);
  d.latency = seconds;
  lg_metrics_decision(m, &d);
}

/* Judges the fixture review at time now (default policy) and counts it with latency seconds. */
static void review(lg_metrics *m, const char *fixture, const char *now, double seconds) {
  char path[512];
  char *body;
  lg_webhook_result res;
  snprintf(path, sizeof path, "%s/reviews/%s", LG_FIXTURES, fixture);
  body = lgt_read_file(path, NULL);
  assert_non_null(body);
  lg_webhook_handle(body, strlen(body),
                    &(lg_webhook_env){policy, LG_MODE_INHERIT, at(now), 0, NULL}, &res);
  count_result(m, &res, seconds);
  lg_webhook_result_free(&res);
  free(body);
}

/* A result made by hand: an answered request (rc, HTTP status, operation, allowed). */
static void fake_review(lg_metrics *m, lg_rc rc, int status, const char *op, bool allowed,
                        double seconds) {
  lg_webhook_result res;
  memset(&res, 0, sizeof res);
  res.rc = rc;
  res.http_status = status;
  res.review.operation = op;
  res.verdict.allowed = allowed;
  count_result(m, &res, seconds);
}

static bool has_line(const char *text, const char *line) {
  size_t len = strlen(line);
  for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
    if (strncmp(p, line, len) == 0 && (p[len] == '\n' || p[len] == '\0'))
      return true;
  return false;
}

static int count_lines_with(const char *text, const char *needle) {
  int n = 0;
  const char *p = text;
  while (p && *p) {
    const char *end = strchr(p, '\n');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    char *line = strndup(p, len);
    assert_non_null(line);
    n += strstr(line, needle) != NULL;
    free(line);
    p = end ? end + 1 : NULL;
  }
  return n;
}

#define EXPECT_LINE(text, line)                                           \
  do {                                                                    \
    if (!has_line((text), (line)))                                        \
      fail_msg("missing line: %s\n--- rendered ---\n%s", (line), (text)); \
  } while (0)

#define EXPECT_NO(text, needle)                                              \
  do {                                                                       \
    if (strstr((text), (needle)))                                            \
      fail_msg("unexpected \"%s\"\n--- rendered ---\n%s", (needle), (text)); \
  } while (0)

static char *render(lg_metrics *m, lg_time now) {
  char *text = lg_metrics_render(m, now);
  assert_non_null(text);
  return text;
}

static void test_fresh_registry(void **state) {
  (void)state;
  lg_metrics *m = lg_metrics_new(false);
  assert_non_null(m);
  char *text = render(m, 0);
  static const char *const want =
      "# HELP leaseguard_build_info The leaseguard version, always 1.\n"
      "# TYPE leaseguard_build_info gauge\n"
      "leaseguard_build_info{version=\"" LG_VERSION "\"} 1\n"
      "# HELP leaseguard_admission_duration_seconds Time to answer one admission request, in "
      "seconds.\n"
      "# TYPE leaseguard_admission_duration_seconds histogram\n"
      "leaseguard_admission_duration_seconds_bucket{le=\"0.00005\"} 0\n"
      "leaseguard_admission_duration_seconds_bucket{le=\"0.0001\"} 0\n"
      "leaseguard_admission_duration_seconds_bucket{le=\"0.00025\"} 0\n"
      "leaseguard_admission_duration_seconds_bucket{le=\"0.0005\"} 0\n"
      "leaseguard_admission_duration_seconds_bucket{le=\"0.001\"} 0\n"
      "leaseguard_admission_duration_seconds_bucket{le=\"0.0025\"} 0\n"
      "leaseguard_admission_duration_seconds_bucket{le=\"0.005\"} 0\n"
      "leaseguard_admission_duration_seconds_bucket{le=\"0.01\"} 0\n"
      "leaseguard_admission_duration_seconds_bucket{le=\"0.025\"} 0\n"
      "leaseguard_admission_duration_seconds_bucket{le=\"0.1\"} 0\n"
      "leaseguard_admission_duration_seconds_bucket{le=\"+Inf\"} 0\n"
      "leaseguard_admission_duration_seconds_sum 0\n"
      "leaseguard_admission_duration_seconds_count 0\n"
      "# HELP leaseguard_policy_reloads_total Policy reload attempts, by result.\n"
      "# TYPE leaseguard_policy_reloads_total counter\n"
      "leaseguard_policy_reloads_total{result=\"failure\"} 0\n"
      "leaseguard_policy_reloads_total{result=\"success\"} 0\n"
      "# HELP leaseguard_events_total Kubernetes Events, by outcome.\n"
      "# TYPE leaseguard_events_total counter\n"
      "leaseguard_events_total{outcome=\"aggregated\"} 0\n"
      "leaseguard_events_total{outcome=\"dropped\"} 0\n"
      "leaseguard_events_total{outcome=\"failed\"} 0\n"
      "leaseguard_events_total{outcome=\"invalid\"} 0\n"
      "leaseguard_events_total{outcome=\"posted\"} 0\n"
      "# HELP leaseguard_log_lines_dropped_total Log lines dropped because the stream's reader "
      "was too slow, stalled or gone.\n"
      "# TYPE leaseguard_log_lines_dropped_total counter\n"
      "leaseguard_log_lines_dropped_total{stream=\"stdout\"} 0\n"
      "leaseguard_log_lines_dropped_total{stream=\"stderr\"} 0\n"
      "# HELP leaseguard_file_reloads_total Reloads of the policy, serving certificate and client "
      "CA files, by file and result.\n"
      "# TYPE leaseguard_file_reloads_total counter\n"
      "leaseguard_file_reloads_total{file=\"client-ca\",result=\"failure\"} 0\n"
      "leaseguard_file_reloads_total{file=\"client-ca\",result=\"success\"} 0\n"
      "leaseguard_file_reloads_total{file=\"policy\",result=\"failure\"} 0\n"
      "leaseguard_file_reloads_total{file=\"policy\",result=\"success\"} 0\n"
      "leaseguard_file_reloads_total{file=\"tls-certificate\",result=\"failure\"} 0\n"
      "leaseguard_file_reloads_total{file=\"tls-certificate\",result=\"success\"} 0\n"
      "# HELP leaseguard_connection_errors_total Connections that failed before a request was "
      "answered, by reason (logged once per 10 s in total).\n"
      "# TYPE leaseguard_connection_errors_total counter\n"
      "leaseguard_connection_errors_total{reason=\"client-certificate\"} 0\n"
      "leaseguard_connection_errors_total{reason=\"http\"} 0\n"
      "leaseguard_connection_errors_total{reason=\"max-connections\"} 0\n"
      "leaseguard_connection_errors_total{reason=\"tls-handshake\"} 0\n"
      "# HELP leaseguard_metrics_series_dropped_total Updates that found their family at its "
      "series limit: counted in an _overflow series, or (lease gauges) not recorded.\n"
      "# TYPE leaseguard_metrics_series_dropped_total counter\n"
      "leaseguard_metrics_series_dropped_total{family=\"admission_requests\"} 0\n"
      "leaseguard_metrics_series_dropped_total{family=\"events\"} 0\n"
      "leaseguard_metrics_series_dropped_total{family=\"lease_violations\"} 0\n"
      "leaseguard_metrics_series_dropped_total{family=\"leases\"} 0\n";
  if (strcmp(text, want) != 0)
    fail_msg("fresh registry renders\n%s\n--- want ---\n%s", text, want);
  free(text);
  lg_metrics_free(m);
}

static void test_requests_and_violations(void **state) {
  (void)state;
  lg_metrics *m = lg_metrics_new(false);
  assert_non_null(m);
  review(m, "kcm-steal-future.json", "2026-11-25T10:00:12Z", 0.0001);
  review(m, "kcm-steal-future.json", "2026-11-25T10:00:12Z", 0.0001);
  review(m, "kcm-renew.json", "2026-11-25T10:00:02.05Z", 0.0001);
  review(m, "kcm-create.json", "2026-11-25T10:00:00.1Z", 0.0001);
  review(m, "configmap.json", "2026-11-25T10:00:12Z", 0.0001);
  review(m, "node-lease-backdate.json", "2026-11-25T10:00:10Z", 0.0001);
  review(m, "malformed.json", "2026-11-25T10:00:12Z", 0.0001);
  fake_review(m, LG_OK, 500, "CREATE", true, 0.0001);     /* answered, but not 200 */
  fake_review(m, LG_ENOMEM, 200, "DELETE", true, 0.0001); /* rc says it failed */
  fake_review(m, LG_OK, 200, "BOGUS\"", true, 0.0001);    /* never a label value */
  char *text = render(m, 0);
  /* sorted by (operation, decision) */
  if (!strstr(text,
              "# TYPE leaseguard_admission_requests_total counter\n"
              "leaseguard_admission_requests_total{operation=\"CREATE\",decision=\"allowed\"} 1\n"
              "leaseguard_admission_requests_total{operation=\"CREATE\",decision=\"error\"} 1\n"
              "leaseguard_admission_requests_total{operation=\"DELETE\",decision=\"error\"} 1\n"
              "leaseguard_admission_requests_total{operation=\"UPDATE\",decision=\"allowed\"} 3\n"
              "leaseguard_admission_requests_total{operation=\"UPDATE\",decision=\"denied\"} 2\n"
              "leaseguard_admission_requests_total{operation=\"unknown\",decision=\"allowed\"} 1\n"
              "leaseguard_admission_requests_total{operation=\"unknown\",decision=\"error\"} 1\n#"))
    fail_msg("admission_requests_total block wrong:\n%s", text);
  if (!strstr(text, "# TYPE leaseguard_lease_violations_total counter\n"
                    "leaseguard_lease_violations_total{rule=\"holder-renew\",mode=\"enforce\","
                    "namespace=\"kube-system\"} 2\n"
                    "leaseguard_lease_violations_total{rule=\"renew-monotonic\",mode=\"audit\","
                    "namespace=\"kube-node-lease\"} 1\n"
                    "leaseguard_lease_violations_total{rule=\"timestamps\",mode=\"warn\","
                    "namespace=\"kube-system\"} 2\n#"))
    fail_msg("lease_violations_total block wrong:\n%s", text);
  EXPECT_NO(text, "lease=");
  EXPECT_NO(text, "BOGUS");
  EXPECT_LINE(text, "leaseguard_admission_duration_seconds_count 10");
  free(text);
  lg_metrics_free(m);
}

static void test_lease_label(void **state) {
  (void)state;
  lg_metrics *on = lg_metrics_new(true), *off = lg_metrics_new(false);
  assert_non_null(on);
  assert_non_null(off);
  review(on, "kcm-steal-future.json", "2026-11-25T10:00:12Z", 0);
  review(off, "kcm-steal-future.json", "2026-11-25T10:00:12Z", 0);
  lg_metrics_violation(on, LG_RULE_DURATION, LG_MODE_WARN, "apps", "a");
  lg_metrics_violation(on, LG_RULE_DURATION, LG_MODE_WARN, "apps", "b");
  lg_metrics_violation(on, LG_RULE_DURATION, LG_MODE_WARN, "apps", "b");
  lg_metrics_violation(off, LG_RULE_DURATION, LG_MODE_WARN, "apps", "a");
  lg_metrics_violation(off, LG_RULE_DURATION, LG_MODE_WARN, "apps", "b");
  lg_metrics_violation(off, LG_RULE_DURATION, LG_MODE_AUDIT, "apps", NULL);
  lg_metrics_violation(off, LG_RULE_COUNT, LG_MODE_WARN, "apps", "a"); /* ignored */
  char *t_on = render(on, 0), *t_off = render(off, 0);
  EXPECT_LINE(t_on, "leaseguard_lease_violations_total{rule=\"holder-renew\",mode=\"enforce\","
                    "namespace=\"kube-system\",lease=\"kube-controller-manager\"} 1");
  EXPECT_LINE(t_on, "leaseguard_lease_violations_total{rule=\"duration\",mode=\"warn\","
                    "namespace=\"apps\",lease=\"a\"} 1");
  EXPECT_LINE(t_on, "leaseguard_lease_violations_total{rule=\"duration\",mode=\"warn\","
                    "namespace=\"apps\",lease=\"b\"} 2");
  EXPECT_LINE(t_off, "leaseguard_lease_violations_total{rule=\"holder-renew\",mode=\"enforce\","
                     "namespace=\"kube-system\"} 1");
  EXPECT_LINE(t_off, "leaseguard_lease_violations_total{rule=\"duration\",mode=\"warn\","
                     "namespace=\"apps\"} 2");
  EXPECT_LINE(t_off, "leaseguard_lease_violations_total{rule=\"duration\",mode=\"audit\","
                     "namespace=\"apps\"} 1");
  assert_int_equal(count_lines_with(t_off, "leaseguard_lease_violations_total{"), 4);
  EXPECT_NO(t_off, "lease=");
  EXPECT_NO(t_off, "unknown");
  free(t_on);
  free(t_off);
  lg_metrics_free(on);
  lg_metrics_free(off);
}

static void test_histogram(void **state) {
  (void)state;
  static const struct {
    const char *le;
    int count;
  } want[] = {{"0.00005", 3}, {"0.0001", 3}, {"0.00025", 4}, {"0.0005", 4},
              {"0.001", 4},   {"0.0025", 5}, {"0.005", 5},   {"0.01", 6},
              {"0.025", 6},   {"0.1", 6},    {"+Inf", 7}};
  /* powers of two, so that the sum is exact */
  static const double latencies[] = {0x1p-15, 0x1p-15, 0x1p-12, 0x1p-9, 0x1p-7, 0.5, -1 /* as 0 */};
  char line[160];
  lg_metrics *m = lg_metrics_new(false), *edge = lg_metrics_new(false);
  assert_non_null(m);
  assert_non_null(edge);
  for (size_t i = 0; i < sizeof latencies / sizeof *latencies; i++)
    fake_review(m, LG_OK, 200, "UPDATE", true, latencies[i]);
  char *text = render(m, 0);
  for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
    snprintf(line, sizeof line, "leaseguard_admission_duration_seconds_bucket{le=\"%s\"} %d",
             want[i].le, want[i].count);
    EXPECT_LINE(text, line);
  }
  EXPECT_LINE(text, "leaseguard_admission_duration_seconds_sum 0.51007080078125");
  EXPECT_LINE(text, "leaseguard_admission_duration_seconds_count 7");
  free(text);
  /* a latency equal to a bound falls in that bucket (le is "less or equal") */
  fake_review(edge, LG_OK, 200, "UPDATE", true, 0.0001);
  fake_review(edge, LG_OK, 200, "UPDATE", true, 0.1);
  text = render(edge, 0);
  EXPECT_LINE(text, "leaseguard_admission_duration_seconds_bucket{le=\"0.00005\"} 0");
  EXPECT_LINE(text, "leaseguard_admission_duration_seconds_bucket{le=\"0.0001\"} 1");
  EXPECT_LINE(text, "leaseguard_admission_duration_seconds_bucket{le=\"0.025\"} 1");
  EXPECT_LINE(text, "leaseguard_admission_duration_seconds_bucket{le=\"0.1\"} 2");
  EXPECT_LINE(text, "leaseguard_admission_duration_seconds_bucket{le=\"+Inf\"} 2");
  /* 0.0001 + 0.1 in binary, written as Go's FormatFloat would */
  EXPECT_LINE(text, "leaseguard_admission_duration_seconds_sum 0.10010000000000001");
  free(text);
  lg_metrics_free(m);
  lg_metrics_free(edge);
}

/* Holders are quoted as the text format wants; namespaces and names are Kubernetes names,
 * so anything else in them is not a label value at all. */
static void test_label_escaping(void **state) {
  (void)state;
  lg_metrics *m = lg_metrics_new(true);
  assert_non_null(m);
  lg_metrics_lease(m, "ns", "l", "a\"b\\c\nd", 0, false, 0);
  lg_metrics_violation(m, LG_RULE_HOLDER_IDENTITY, LG_MODE_AUDIT, "q\"ns", "back\\slash\n");
  char *text = render(m, 0);
  EXPECT_LINE(text, "leaseguard_lease_holder_info{namespace=\"ns\",name=\"l\","
                    "holder=\"a\\\"b\\\\c\\nd\"} 1");
  EXPECT_LINE(text, "leaseguard_lease_violations_total{rule=\"holder-identity\",mode=\"audit\","
                    "namespace=\"_invalid\",lease=\"_invalid\"} 1");
  free(text);
  lg_metrics_free(m);
}

/* Label values from a request are bounded to what Kubernetes accepts: a namespace or name that
 * is too long, upper-case, dotted wrongly or not ASCII becomes "_invalid"; every valid one
 * is kept as it is, up to 63 and 253 bytes. Holders are cut at 256 bytes on a character. */
static void test_label_bounds(void **state) {
  static const struct {
    const char *name, *ns, *lease, *want_ns, *want_lease;
  } cases[] = {
      {"plain", "kube-system", "kube-scheduler", "kube-system", "kube-scheduler"},
      {"dotted name", "a", "x.example.com", "a", "x.example.com"},
      {"63-byte namespace", "n23456789012345678901234567890123456789012345678901234567890123", "l",
       "n23456789012345678901234567890123456789012345678901234567890123", "l"},
      {"64-byte namespace", "n234567890123456789012345678901234567890123456789012345678901234", "l",
       "_invalid", "l"},
      {"upper case", "Kube", "Lease", "_invalid", "_invalid"},
      {"dot segments", "..", "../x", "_invalid", "_invalid"},
      {"query", "a?dryRun=All", "b?x=1", "_invalid", "_invalid"},
      {"escapes", "%2e%2e", "%2fx", "_invalid", "_invalid"},
      {"unicode", "n\xc3\xa9", "l\xe2\x9c\x93", "_invalid", "_invalid"},
      {"dash at an end", "-a", "a-", "_invalid", "_invalid"},
      {"empty label in name", "a", "x..y", "a", "_invalid"},
      {"empty", "", "", "", ""},
  };
  char long_name[300], want[512], holder[400], *text;
  lg_metrics *m;
  (void)state;

  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    m = lg_metrics_new(true);
    assert_non_null(m);
    lg_metrics_violation(m, LG_RULE_DURATION, LG_MODE_WARN, cases[i].ns, cases[i].lease);
    text = render(m, 0);
    snprintf(want, sizeof want,
             "leaseguard_lease_violations_total{rule=\"duration\",mode=\"warn\","
             "namespace=\"%s\",lease=\"%s\"} 1",
             cases[i].want_ns, cases[i].want_lease);
    if (!has_line(text, want))
      fail_msg("%s: missing %s\n--- rendered ---\n%s", cases[i].name, want, text);
    free(text);
    lg_metrics_free(m);
  }
  /* 253 bytes of name are kept, 254 are not; a 1 MB namespace costs nothing. */
  m = lg_metrics_new(true);
  memset(long_name, 'a', 254);
  long_name[254] = '\0';
  lg_metrics_violation(m, LG_RULE_DURATION, LG_MODE_WARN, "ns", long_name);
  long_name[253] = '\0';
  lg_metrics_violation(m, LG_RULE_DURATION, LG_MODE_WARN, "ns", long_name);
  char *huge = malloc(1 << 20);
  assert_non_null(huge);
  memset(huge, 'a', (1 << 20) - 1);
  huge[(1 << 20) - 1] = '\0';
  for (int i = 0; i < 40; i++)
    lg_metrics_violation(m, LG_RULE_DURATION, LG_MODE_WARN, huge, huge);
  /* A holder of 300 bytes ending in 2-byte characters is cut on a character. */
  memset(holder, 'h', 255);
  for (int i = 255; i < 299; i += 2)
    memcpy(holder + i, "\xc3\xa9", 2);
  holder[299] = '\0';
  lg_metrics_lease(m, "ns", "l", holder, 1, false, 0);
  lg_metrics_lease(m, "ns", huge, "x", 1, false, 0);
  text = render(m, 0);
  snprintf(want, sizeof want,
           "leaseguard_lease_violations_total{rule=\"duration\",mode=\"warn\","
           "namespace=\"ns\",lease=\"%s\"} 1",
           long_name);
  EXPECT_LINE(text, want);
  EXPECT_LINE(text, "leaseguard_lease_violations_total{rule=\"duration\",mode=\"warn\","
                    "namespace=\"ns\",lease=\"_invalid\"} 1");
  EXPECT_LINE(text, "leaseguard_lease_violations_total{rule=\"duration\",mode=\"warn\","
                    "namespace=\"_invalid\",lease=\"_invalid\"} 40");
  holder[255] = '\0'; /* 255 'h' and no half of a character */
  snprintf(want, sizeof want,
           "leaseguard_lease_holder_info{namespace=\"ns\",name=\"l\","
           "holder=\"%s\"} 1",
           holder);
  EXPECT_LINE(text, want);
  EXPECT_LINE(text, "leaseguard_metrics_series_dropped_total{family=\"leases\"} 1");
  assert_true(strlen(text) < 8192);
  free(text);
  free(huge);
  lg_metrics_free(m);
}

/* Renewals count forward moves of renewTime; a new leader records the failover gap. */
static void test_renewals_and_failover(void **state) {
  (void)state;
  lg_metrics *m = lg_metrics_new(false);
  const lg_time t0 = INT64_C(1795600800000000), s = LG_USEC_PER_SEC;
  assert_non_null(m);
  lg_metrics_lease(m, "ns", "l", "a", 0, true, t0);
  lg_metrics_lease(m, "ns", "l", "a", 0, true, t0 + 2 * s);
  lg_metrics_lease(m, "ns", "l", "a", 0, true, t0 + 4 * s);
  lg_metrics_lease(m, "ns", "l", "a", 0, true, t0 + 4 * s); /* not a renewal */
  char *text = render(m, t0 + 5 * s);
  EXPECT_LINE(text, "leaseguard_lease_renewals_total{namespace=\"ns\",name=\"l\"} 2");
  assert_null(strstr(text, "leaseguard_lease_last_failover_seconds{"));
  free(text);
  /* the holder died after its renewal at 4 s; b took over at 21.5 s */
  lg_metrics_lease(m, "ns", "l", "b", 1, true, t0 + 21500000);
  text = render(m, t0 + 22 * s);
  EXPECT_LINE(text, "leaseguard_lease_last_failover_seconds{namespace=\"ns\",name=\"l\"} 17.5");
  EXPECT_LINE(text, "leaseguard_lease_renewals_total{namespace=\"ns\",name=\"l\"} 2");
  free(text);
  lg_metrics_free(m);
}

static void test_leader_changes(void **state) {
  (void)state;
  static const struct {
    const char *holder;
    int64_t transitions;
    int changes;
  } steps[] = {{"a", 3, 0},                            /* first sighting */
               {"a", 3, 0},                            /* renewal */
               {"b", 4, 1}, {"b", 4, 1}, {NULL, 4, 1}, /* released: not a new leader */
               {"", 4, 1},                             /* still released */
               {"a", 5, 2}};
  char line[200];
  lg_metrics *m = lg_metrics_new(false);
  assert_non_null(m);
  for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
    lg_metrics_lease(m, "kube-system", "kcm", steps[i].holder, steps[i].transitions, false, 0);
    lg_metrics_lease(m, "kube-system", "other", "x", 0, false, 0);
    char *text = render(m, 0);
    snprintf(line, sizeof line,
             "leaseguard_lease_leader_changes_total{namespace=\"kube-system\",name=\"kcm\"} %d",
             steps[i].changes);
    if (!has_line(text, line))
      fail_msg("step %zu: missing %s\n%s", i, line, text);
    snprintf(line, sizeof line,
             "leaseguard_lease_holder_info{namespace=\"kube-system\",name=\"kcm\",holder=\"%s\"} 1",
             steps[i].holder ? steps[i].holder : "");
    if (!has_line(text, line))
      fail_msg("step %zu: missing %s\n%s", i, line, text);
    snprintf(line, sizeof line,
             "leaseguard_lease_transitions{namespace=\"kube-system\",name=\"kcm\"} %d",
             (int)steps[i].transitions);
    if (!has_line(text, line))
      fail_msg("step %zu: missing %s\n%s", i, line, text);
    /* one holder series per lease */
    if (count_lines_with(text, "leaseguard_lease_holder_info{") != 2)
      fail_msg("step %zu: not one holder_info series per lease\n%s", i, text);
    EXPECT_LINE(text, "leaseguard_lease_leader_changes_total{namespace=\"kube-system\","
                      "name=\"other\"} 0");
    free(text);
  }
  lg_metrics_free(m);
}

static void test_seconds_since_renewal(void **state) {
  (void)state;
  lg_metrics *m = lg_metrics_new(false);
  assert_non_null(m);
  lg_time now = at("2026-11-25T10:00:12.5Z");
  lg_metrics_lease(m, "a", "half", "h", 1, true, at("2026-11-25T10:00:00Z"));
  lg_metrics_lease(m, "a", "whole", "h", 1, true, at("2026-11-25T10:00:09.5Z"));
  lg_metrics_lease(m, "a", "micro", "h", 1, true, at("2026-11-25T10:00:12.499999Z"));
  lg_metrics_lease(m, "a", "future", "h", 1, true, at("2026-11-25T10:00:12.75Z"));
  lg_metrics_lease(m, "a", "node", "n", 0, false, 0);
  char *text = render(m, now);
#define SSR "leaseguard_lease_seconds_since_renewal{namespace=\"a\","
  if (!strstr(text, "# TYPE leaseguard_lease_seconds_since_renewal gauge\n" SSR
                    "name=\"future\"} -0.25\n" SSR "name=\"half\"} 12.5\n" SSR
                    "name=\"micro\"} 0.000001\n" SSR "name=\"whole\"} 3\n#"))
    fail_msg("seconds_since_renewal block wrong:\n%s", text);
#undef SSR
  EXPECT_LINE(text, "leaseguard_lease_holder_info{namespace=\"a\",name=\"node\",holder=\"n\"} 1");
  free(text);
  /* the renewal moves on with the next sighting; the gauge with now */
  lg_metrics_lease(m, "a", "half", "h", 1, true, at("2026-11-25T10:00:10Z"));
  text = render(m, at("2026-11-25T10:00:20Z"));
  EXPECT_LINE(text, "leaseguard_lease_seconds_since_renewal{namespace=\"a\",name=\"half\"} 10");
  EXPECT_LINE(text, "leaseguard_lease_seconds_since_renewal{namespace=\"a\",name=\"whole\"} 10.5");
  free(text);
  /* a lease that loses its renewTime loses the series */
  lg_metrics_lease(m, "a", "half", "h", 1, false, 0);
  text = render(m, now);
  EXPECT_NO(text, "leaseguard_lease_seconds_since_renewal{namespace=\"a\",name=\"half\"}");
  free(text);
  lg_metrics_free(m);
}

static void test_lease_deleted(void **state) {
  (void)state;
  lg_metrics *m = lg_metrics_new(false);
  assert_non_null(m);
  lg_metrics_lease(m, "ns", "gone", "a", 1, true, 0);
  lg_metrics_lease(m, "ns", "gone", "b", 2, true, 0);
  lg_metrics_lease(m, "ns", "kept", "a", 1, true, 0);
  lg_metrics_lease_deleted(m, "ns", "gone");
  lg_metrics_lease_deleted(m, "ns", "never-seen");
  lg_metrics_lease_deleted(m, NULL, NULL);
  char *text = render(m, 0);
  assert_int_equal(count_lines_with(text, "name=\"gone\""), 0);
  assert_int_equal(count_lines_with(text, "name=\"kept\""), 5); /* five lease families */
  free(text);
  /* seen again: a first sighting, no leader change carried over */
  lg_metrics_lease(m, "ns", "gone", "c", 3, false, 0);
  text = render(m, 0);
  EXPECT_LINE(text, "leaseguard_lease_leader_changes_total{namespace=\"ns\",name=\"gone\"} 0");
  EXPECT_LINE(text, "leaseguard_lease_transitions{namespace=\"ns\",name=\"gone\"} 3");
  free(text);
  /* no leases, no lease families */
  lg_metrics_lease_deleted(m, "ns", "gone");
  lg_metrics_lease_deleted(m, "ns", "kept");
  text = render(m, 0);
  EXPECT_NO(text, "leaseguard_lease_");
  free(text);
  lg_metrics_free(m);
}

/* Violations: 2,000 series, then one _overflow series per rule and mode that keeps the
 * total; leases (audit --watch gauges): 10,000, then not recorded. Both counted. */
static void test_series_cap(void **state) {
  (void)state;
  char ns[32], name[32];
  lg_metrics *m = lg_metrics_new(false);
  assert_non_null(m);
  for (int i = 0; i < 2005; i++) {
    snprintf(ns, sizeof ns, "ns-%05d", i);
    lg_metrics_violation(m, LG_RULE_DURATION, LG_MODE_WARN, ns, "l");
  }
  for (int i = 0; i < 10005; i++) {
    snprintf(name, sizeof name, "lease-%05d", i);
    lg_metrics_lease(m, "ns", name, "h", 0, true, 0);
  }
  lg_metrics_violation(m, LG_RULE_DURATION, LG_MODE_WARN, "ns-00000", "l"); /* still counted */
  lg_metrics_violation(m, LG_RULE_DURATION, LG_MODE_WARN, "ns-99999", "l"); /* overflow */
  lg_metrics_violation(m, LG_RULE_TRANSITIONS, LG_MODE_ENFORCE, "ns-99999", "l"); /* overflow */
  lg_metrics_lease(m, "ns", "lease-00000", "h2", 0, true, 0); /* still updated */
  char *text = render(m, 0);
  assert_int_equal(count_lines_with(text, "leaseguard_lease_violations_total{"), 2002);
  assert_int_equal(count_lines_with(text, "leaseguard_lease_holder_info{"), 10000);
  assert_int_equal(count_lines_with(text, "leaseguard_lease_transitions{"), 10000);
  EXPECT_LINE(text, "leaseguard_lease_violations_total{rule=\"duration\",mode=\"warn\","
                    "namespace=\"ns-00000\"} 2");
  EXPECT_LINE(text, "leaseguard_lease_violations_total{rule=\"duration\",mode=\"warn\","
                    "namespace=\"_overflow\"} 6");
  EXPECT_LINE(text, "leaseguard_lease_violations_total{rule=\"transitions\",mode=\"enforce\","
                    "namespace=\"_overflow\"} 1");
  EXPECT_NO(text, "ns-02000");
  EXPECT_NO(text, "lease-10000");
  EXPECT_LINE(text,
              "leaseguard_lease_leader_changes_total{namespace=\"ns\",name=\"lease-00000\"} 1");
  EXPECT_LINE(text, "leaseguard_metrics_series_dropped_total{family=\"lease_violations\"} 7");
  EXPECT_LINE(text, "leaseguard_metrics_series_dropped_total{family=\"leases\"} 5");
  free(text);
  /* a deletion makes room */
  lg_metrics_lease_deleted(m, "ns", "lease-00001");
  lg_metrics_lease(m, "ns", "lease-10003", "h", 7, false, 0);
  text = render(m, 0);
  EXPECT_LINE(text, "leaseguard_lease_transitions{namespace=\"ns\",name=\"lease-10003\"} 7");
  EXPECT_LINE(text, "leaseguard_metrics_series_dropped_total{family=\"leases\"} 5");
  free(text);
  lg_metrics_free(m);
}

static void test_reloads_cert_events(void **state) {
  (void)state;
  lg_metrics *m = lg_metrics_new(false);
  assert_non_null(m);
  char *text = render(m, 0);
  EXPECT_NO(text, "leaseguard_serving_certificate_expiration_timestamp_seconds");
  free(text);
  lg_metrics_policy_reload(m, true);
  lg_metrics_policy_reload(m, true);
  lg_metrics_policy_reload(m, false);
  lg_metrics_cert_expiry(m, 1700000000);
  lg_metrics_cert_expiry(m, 1800000000);
  lg_metrics_event(m, "posted");
  lg_metrics_event(m, "posted");
  lg_metrics_event(m, "aggregated");
  lg_metrics_event(m, "dropped");
  lg_metrics_event(m, NULL);
  text = render(m, 0);
  EXPECT_LINE(text, "leaseguard_policy_reloads_total{result=\"success\"} 2");
  EXPECT_LINE(text, "leaseguard_policy_reloads_total{result=\"failure\"} 1");
  EXPECT_LINE(text, "# TYPE leaseguard_serving_certificate_expiration_timestamp_seconds gauge");
  EXPECT_LINE(text, "leaseguard_serving_certificate_expiration_timestamp_seconds 1800000000");
  EXPECT_LINE(text, "leaseguard_events_total{outcome=\"posted\"} 2");
  EXPECT_LINE(text, "leaseguard_events_total{outcome=\"aggregated\"} 1");
  EXPECT_LINE(text, "leaseguard_events_total{outcome=\"dropped\"} 1");
  EXPECT_LINE(text, "leaseguard_events_total{outcome=\"failed\"} 0");
  EXPECT_LINE(text, "leaseguard_build_info{version=\"" LG_VERSION "\"} 1");
  free(text);
  lg_metrics_free(m);
}

/* File reloads by file and result, connection errors by reason; unknown labels are ignored,
 * so both families stay bounded. */
static void test_file_reloads_and_connection_errors(void **state) {
  static const struct {
    const char *file;
    bool ok;
  } reloads[] = {{"policy", true},     {"policy", false},         {"client-ca", false},
                 {"client-ca", false}, {"tls-certificate", true}, {"other", false},
                 {NULL, true}};
  static const char *const lines[] = {
      "leaseguard_file_reloads_total{file=\"policy\",result=\"success\"} 1",
      "leaseguard_file_reloads_total{file=\"policy\",result=\"failure\"} 1",
      "leaseguard_file_reloads_total{file=\"client-ca\",result=\"failure\"} 2",
      "leaseguard_file_reloads_total{file=\"client-ca\",result=\"success\"} 0",
      "leaseguard_file_reloads_total{file=\"tls-certificate\",result=\"success\"} 1",
      "leaseguard_connection_errors_total{reason=\"tls-handshake\"} 600",
      "leaseguard_connection_errors_total{reason=\"max-connections\"} 1",
      "leaseguard_connection_errors_total{reason=\"http\"} 0",
  };
  (void)state;
  lg_metrics *m = lg_metrics_new(false);
  assert_non_null(m);
  for (size_t i = 0; i < sizeof reloads / sizeof reloads[0]; i++)
    lg_metrics_file_reload(m, reloads[i].file, reloads[i].ok);
  lg_metrics_connection_errors(m, "tls-handshake", 599);
  lg_metrics_connection_errors(m, "tls-handshake", 1);
  lg_metrics_connection_errors(m, "max-connections", 1);
  lg_metrics_connection_errors(m, "from a stranger", 5);
  lg_metrics_connection_errors(NULL, "http", 1);
  lg_metrics_file_reload(NULL, "policy", true);
  char *text = render(m, 0);
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
    EXPECT_LINE(text, lines[i]);
  EXPECT_NO(text, "other");
  EXPECT_NO(text, "stranger");
  free(text);
  lg_metrics_free(m);
}

static void test_null_registry(void **state) {
  (void)state;
  lg_webhook_result res;
  memset(&res, 0, sizeof res);
  count_result(NULL, &res, 0.1);
  lg_metrics_violation(NULL, LG_RULE_DURATION, LG_MODE_WARN, "a", "b");
  lg_metrics_policy_reload(NULL, true);
  lg_metrics_cert_expiry(NULL, 1);
  lg_metrics_event(NULL, "posted");
  lg_metrics_lease(NULL, "a", "b", "c", 1, true, 1);
  lg_metrics_lease_deleted(NULL, "a", "b");
  assert_null(lg_metrics_render(NULL, 0));
  lg_metrics_free(NULL);
  lg_metrics *m = lg_metrics_new(false);
  assert_non_null(m);
  lg_metrics_decision(m, NULL);
  char *text = render(m, 0);
  EXPECT_LINE(text, "leaseguard_admission_duration_seconds_count 0");
  free(text);
  lg_metrics_free(m);
}

#define THREADS 4
#define ROUNDS  1000

typedef struct {
  lg_metrics *m;
  int id;
} worker_arg;

static void *worker(void *p) {
  worker_arg *a = p;
  char name[16];
  snprintf(name, sizeof name, "l%d", a->id);
  for (int i = 0; i < ROUNDS; i++) {
    fake_review(a->m, LG_OK, 200, "UPDATE", true, 0.0002);
    lg_metrics_lease(a->m, "ns", name, i % 2 ? "b" : "a", i, true, 0);
    lg_metrics_event(a->m, "posted");
    if (i % 100 == 0)
      free(lg_metrics_render(a->m, 0));
  }
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  pthread_t t[THREADS];
  worker_arg args[THREADS];
  char line[160];
  lg_metrics *m = lg_metrics_new(false);
  assert_non_null(m);
  for (int i = 0; i < THREADS; i++) {
    args[i] = (worker_arg){m, i};
    assert_int_equal(pthread_create(&t[i], NULL, worker, &args[i]), 0);
  }
  for (int i = 0; i < THREADS; i++)
    pthread_join(t[i], NULL);
  char *text = render(m, 0);
  snprintf(line, sizeof line,
           "leaseguard_admission_requests_total{operation=\"UPDATE\",decision=\"allowed\"} %d",
           THREADS * ROUNDS);
  EXPECT_LINE(text, line);
  snprintf(line, sizeof line, "leaseguard_admission_duration_seconds_count %d", THREADS * ROUNDS);
  EXPECT_LINE(text, line);
  snprintf(line, sizeof line, "leaseguard_events_total{outcome=\"posted\"} %d", THREADS * ROUNDS);
  EXPECT_LINE(text, line);
  for (int i = 0; i < THREADS; i++) {
    snprintf(line, sizeof line,
             "leaseguard_lease_leader_changes_total{namespace=\"ns\",name=\"l%d\"} %d", i,
             ROUNDS - 1);
    EXPECT_LINE(text, line);
  }
  free(text);
  lg_metrics_free(m);
}

/* Runs `promtool check metrics` on text; returns its exit status, its output in *out (new). */
static int promtool_check(const char *text, char **out) {
  char in_path[512], out_path[512], cmd[1200];
  FILE *f;
  int fd, st;
  snprintf(in_path, sizeof in_path, "%s/metrics-XXXXXX", LG_TEST_TMPDIR);
  fd = mkstemp(in_path);
  assert_true(fd >= 0);
  f = fdopen(fd, "w");
  assert_non_null(f);
  assert_int_equal(fputs(text, f) >= 0, 1);
  assert_int_equal(fclose(f), 0);
  snprintf(out_path, sizeof out_path, "%s.out", in_path);
  snprintf(cmd, sizeof cmd, "promtool check metrics < '%s' > '%s' 2>&1", in_path, out_path);
  st = system(cmd);
  *out = lgt_read_file(out_path, NULL);
  assert_non_null(*out);
  unlink(in_path);
  unlink(out_path);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_promtool(void **state) {
  (void)state;
  char *out = NULL;
  if (system("command -v promtool > /dev/null 2>&1") != 0)
    fail_msg("promtool not found: install the Debian package 'prometheus' "
             "(apt-get install prometheus), which provides /usr/bin/promtool");
  /* the linter must catch a problem, or its silence below proves nothing */
  int rc = promtool_check("# HELP bad_requests Bad.\n# TYPE bad_requests counter\nbad_requests 1\n",
                          &out);
  if (rc == 0 || !strstr(out, "_total"))
    fail_msg("promtool accepted a counter without _total (exit %d): %s", rc, out);
  free(out);

  lg_metrics *m = lg_metrics_new(true);
  assert_non_null(m);
  review(m, "kcm-steal-future.json", "2026-11-25T10:00:12Z", 0.0003);
  review(m, "kcm-renew.json", "2026-11-25T10:00:02.05Z", 0.00004);
  review(m, "node-lease-backdate.json", "2026-11-25T10:00:10Z", 0.2);
  review(m, "malformed.json", "2026-11-25T10:00:12Z", 0.001);
  lg_metrics_violation(m, LG_RULE_DELETE_HELD, LG_MODE_WARN, "q\"ns", "back\\slash\n");
  for (int i = 0; i < 2010; i++) { /* up to the cap, then the overflow series */
    char ns[32];
    snprintf(ns, sizeof ns, "team-%d", i);
    lg_metrics_violation(m, LG_RULE_DURATION, LG_MODE_WARN, ns, "l");
  }
  lg_metrics_policy_reload(m, true);
  lg_metrics_policy_reload(m, false);
  lg_metrics_cert_expiry(m, 1800000000);
  lg_metrics_event(m, "posted");
  lg_metrics_event(m, "failed");
  lg_metrics_lease(m, "kube-system", "kcm", "cp-1", 0, true, at("2026-11-25T10:00:00Z"));
  lg_metrics_lease(m, "kube-system", "kcm", "cp-2", 1, true, at("2026-11-25T10:00:10Z"));
  lg_metrics_lease(m, "kube-system", "odd", "a\"b\\c\nd", 0, true, at("2026-11-25T10:00:11Z"));
  lg_metrics_lease(m, "kube-node-lease", "node-1", NULL, 0, false, 0);
  char *text = render(m, at("2026-11-25T10:00:12.25Z"));
  rc = promtool_check(text, &out);
  if (rc != 0 || out[0] != '\0')
    fail_msg("promtool check metrics exited %d:\n%s\n--- rendered ---\n%s", rc, out, text);
  free(out);
  free(text);
  lg_metrics_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fresh_registry),
      cmocka_unit_test(test_requests_and_violations),
      cmocka_unit_test(test_lease_label),
      cmocka_unit_test(test_histogram),
      cmocka_unit_test(test_label_escaping),
      cmocka_unit_test(test_label_bounds),
      cmocka_unit_test(test_leader_changes),
      cmocka_unit_test(test_renewals_and_failover),
      cmocka_unit_test(test_seconds_since_renewal),
      cmocka_unit_test(test_lease_deleted),
      cmocka_unit_test(test_series_cap),
      cmocka_unit_test(test_reloads_cert_events),
      cmocka_unit_test(test_file_reloads_and_connection_errors),
      cmocka_unit_test(test_null_registry),
      cmocka_unit_test(test_threads),
      cmocka_unit_test(test_promtool),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
