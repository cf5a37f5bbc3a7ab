/* test_polreportsync.c -- `audit --watch --policy-reports` against lg-test-apiserver
 * (src/polreportsync.c, src/polreport.c): findings become one wgpolicyk8s.io/v1alpha2
 * PolicyReport per namespace (results per lease and rule, a summary), updated in place by
 * resourceVersion while another writer races it (409s), emptied and removed with the leases,
 * expired by --policy-report-ttl; without the CRD, a log line and a metric. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "harness.h"

#define AUDIT_USER    "system:serviceaccount:leaseguard:lease-health"
#define REPORTS       "/apis/wgpolicyk8s.io/v1alpha2"
#define REPORT_OF(ns) REPORTS "/namespaces/" ns "/policyreports/leaseguard-leases"
#define LEASES_OF(ns) "/apis/coordination.k8s.io/v1/namespaces/" ns "/leases"

typedef struct {
  pid_t pid;
  int port, http;
  char out[LGT_PATH_LEN], err[LGT_PATH_LEN];
} proc;

static struct {
  lgt_tls tls;
  char tokens[LGT_PATH_LEN];
  proc api;
} env;

/* ---- processes ---- */

/* lg-test-apiserver (no webhook) with one more flag (may be NULL). Every write of a stored
 * object waits 200 ms between its read and its store, so that writers race. */
static void start_api(proc *p, const char *name, const char *extra) {
  char portfile[LGT_PATH_LEN], file[64];
  snprintf(file, sizeof file, "%s.port", name);
  lgt_path(portfile, env.tls.dir, file);
  snprintf(file, sizeof file, "%s.out", name);
  lgt_path(p->out, env.tls.dir, file);
  const lgt_apiserver as = {.cert = env.tls.cert,
                            .key = env.tls.key,
                            .ca = env.tls.ca,
                            .tokens = env.tokens,
                            .port_file = portfile,
                            .extra = (const char *[]){"--write-delay=200", extra, NULL},
                            .out = p->out,
                            .err = p->out};
  p->port = lgt_apiserver_start(&as, &p->pid);
}

/* `leaseguard audit --watch --policy-reports` against api, with two more flags (may be NULL),
 * once it has listed the leases. */
static void start_audit(proc *p, const char *name, const proc *api, const char *extra,
                        const char *extra2) {
  char server[64], tok[LGT_PATH_LEN + 32], ca[LGT_PATH_LEN + 32], http[64], file[64];
  snprintf(file, sizeof file, "%s.out", name);
  lgt_path(p->out, env.tls.dir, file);
  snprintf(file, sizeof file, "%s.err", name);
  lgt_path(p->err, env.tls.dir, file);
  snprintf(server, sizeof server, "--server=https://127.0.0.1:%d", api->port);
  snprintf(tok, sizeof tok, "--token-file=%s/audit.token", env.tls.dir);
  snprintf(ca, sizeof ca, "--certificate-authority=%s", env.tls.ca);
  p->http = lgt_free_port();
  snprintf(http, sizeof http, "--http=127.0.0.1:%d", p->http);
  char *argv[] = {LEASEGUARD_BIN,
                  "audit",
                  "--watch",
                  "--policy-reports",
                  server,
                  tok,
                  ca,
                  http,
                  "--watch-timeout=30s",
                  (char *)extra,
                  (char *)extra2,
                  NULL};
  p->pid = lgt_spawn(argv, p->out, p->err);
  if (!lgt_wait_for_text(p->err, "\"listed leases\"", lgt_slow(10000)))
    fail_msg("audit --watch did not list the leases; see %s", p->err);
}

static void stop(proc *p) {
  int st;
  if (p->pid <= 0)
    return;
  st = lgt_stop(p->pid, SIGTERM, lgt_slow(10000));
  p->pid = -1;
  assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* ---- API calls ---- */

static long api(const proc *a, const char *method, const char *path, const char *body,
                json_t **doc) {
  lgt_reply r;
  lgt_http(env.tls.ca, method, a->port, "test-token", path, body, &r);
  if (r.rc != CURLE_OK)
    fail_msg("%s %s: %s", method, path, curl_easy_strerror(r.rc));
  if (doc)
    *doc = r.body ? json_loads(r.body, 0, NULL) : NULL;
  free(r.body);
  return r.status;
}

/* Creates lease ns/name held by holder for duration seconds, renewed now. */
static void create_lease(const proc *a, const char *ns, const char *name, const char *holder,
                         int duration) {
  char path[128], body[512], now[40];
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%S.000000Z", &tm);
  snprintf(path, sizeof path, "/apis/coordination.k8s.io/v1/namespaces/%s/leases", ns);
  snprintf(body, sizeof body,
           "{\"metadata\":{\"name\":\"%s\"},\"spec\":{\"holderIdentity\":\"%s\","
           "\"leaseDurationSeconds\":%d,\"acquireTime\":\"%s\",\"renewTime\":\"%s\","
           "\"leaseTransitions\":0}}",
           name, holder, duration, now, now);
  assert_int_equal(api(a, "POST", path, body, NULL), 201);
}

/* Sets spec.<field> of lease ns/name to the integer v (a read and a PUT). */
static void set_lease_int(const proc *a, const char *ns, const char *name, const char *field,
                          int v) {
  char path[160], *text;
  json_t *lease;
  snprintf(path, sizeof path, "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", ns, name);
  assert_int_equal(api(a, "GET", path, NULL, &lease), 200);
  json_object_set_new(json_object_get(lease, "spec"), field, json_integer(v));
  text = json_dumps(lease, 0);
  assert_int_equal(api(a, "PUT", path, text, NULL), 200);
  free(text);
  json_decref(lease);
}

static void delete_lease(const proc *a, const char *ns, const char *name) {
  char path[160];
  snprintf(path, sizeof path, "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", ns, name);
  assert_int_equal(api(a, "DELETE", path, NULL, NULL), 200);
}

/* "lease/rule/result" of each result of a report, joined by spaces (new), in its order. */
static char *results_of(const json_t *report) {
  char buf[2048] = "";
  size_t i, o = 0;
  const json_t *r;
  json_array_foreach(json_object_get(report, "results"), i, r) {
    const json_t *res = json_array_get(json_object_get(r, "resources"), 0);
    o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s/%s/%s", o ? " " : "",
                          json_string_value(json_object_get(res, "name")),
                          json_string_value(json_object_get(r, "rule")),
                          json_string_value(json_object_get(r, "result")));
    if (o >= sizeof buf)
      break;
  }
  return strdup(buf);
}

/* Waits (bounded) until the report at path lists exactly want (see results_of); "" waits for
 * the report to be gone (404). Returns it (new) or NULL when gone. */
static json_t *wait_report(const proc *a, const char *path, const char *want, long limit_ms) {
  struct timespec t0;
  json_t *doc = NULL;
  char *got = NULL;
  long st = 0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  do {
    json_decref(doc);
    free(got);
    doc = NULL;
    st = api(a, "GET", path, NULL, &doc);
    got = st == 200 ? results_of(doc) : strdup("");
    if ((want[0] && st == 200 && !strcmp(got, want)) || (!want[0] && st == 404))
      break;
    lgt_sleep_ms(200);
  } while (lgt_elapsed_ms(&t0) < lgt_slow(limit_ms));
  if (want[0] ? st != 200 || strcmp(got, want) : st != 404)
    fail_msg("%s: HTTP %ld with results \"%s\", want %s", path, st, got,
             want[0] ? want : "404 (removed)");
  free(got);
  if (!want[0]) {
    json_decref(doc);
    return NULL;
  }
  return doc;
}

/* How many requests the API server logged of method on path by user with that status. */
static int requests(const proc *a, const char *method, const char *path, const char *user,
                    long status) {
  char *text = lgt_slurp(a->out), *save = NULL;
  int n = 0;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    json_t *o = json_loads(line, 0, NULL);
    const char *k = json_string_value(json_object_get(o, "kind"));
    const char *m = json_string_value(json_object_get(o, "method"));
    const char *p = json_string_value(json_object_get(o, "path"));
    const char *u = json_string_value(json_object_get(o, "user"));
    n += k && !strcmp(k, "request") && m && !strcmp(m, method) && p && !strcmp(p, path) && u &&
         !strcmp(u, user) && json_integer_value(json_object_get(o, "status")) == status;
    json_decref(o);
  }
  free(text);
  return n;
}

static char *metrics(const proc *p) {
  char url[64];
  lgt_reply r;
  snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", p->http);
  lgt_get(url, NULL, 5000, &r);
  return r.body ? r.body : strdup("");
}

/* ---- set-up ---- */

static int setup(void **state) {
  char path[LGT_PATH_LEN];
  (void)state;
  if (lgt_tls_setup(&env.tls, "polreports") != 0)
    return -1;
  lgt_path(env.tokens, env.tls.dir, "tokens.csv");
  lgt_write_file(env.tokens, "audit-token," AUDIT_USER ",uid-a,\"system:serviceaccounts\"\n"
                             "test-token,test,uid-t,\"system:masters\"\n"
                             "other-token,other-writer,uid-o,\"system:masters\"\n");
  lgt_path(path, env.tls.dir, "audit.token");
  lgt_write_file(path, "audit-token\n");
  start_api(&env.api, "api", NULL);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  stop(&env.api);
  lgt_tls_teardown(&env.tls);
  return 0;
}

/* ---- a concurrent writer ---- */

typedef struct {
  atomic_bool stop;
  atomic_int writes, conflicts;
  int port;
} racer;

/* Reads and rewrites team-a's report (an annotation counting its own writes), as another
 * controller touching the same object would, until told to stop. */
static void *race(void *p) {
  racer *r = p;
  while (!atomic_load(&r->stop)) {
    lgt_reply g, w;
    json_t *doc;
    char *text, n[16];
    lgt_http(env.tls.ca, "GET", r->port, "other-token", REPORT_OF("team-a"), NULL, &g);
    doc = g.status == 200 && g.body ? json_loads(g.body, 0, NULL) : NULL;
    free(g.body);
    if (!doc) {
      lgt_sleep_ms(50);
      continue;
    }
    snprintf(n, sizeof n, "%d", atomic_load(&r->writes));
    json_object_set_new(json_object_get(doc, "metadata"), "annotations",
                        json_pack("{s:s}", "example.com/touched", n));
    text = json_dumps(doc, 0);
    lgt_http(env.tls.ca, "PUT", r->port, "other-token", REPORT_OF("team-a"), text, &w);
    if (w.status == 200)
      atomic_fetch_add(&r->writes, 1);
    else if (w.status == 409)
      atomic_fetch_add(&r->conflicts, 1);
    free(w.body);
    free(text);
    json_decref(doc);
  }
  return NULL;
}

/* ---- tests ---- */

/* Findings land in one report per namespace, results per lease and rule with a summary; a new
 * finding updates the report in place, even while another writer makes the audit's writes
 * conflict; deleted leases take their results (and at last the report) with them. */
static void test_reports(void **state) {
  const proc *a = &env.api;
  json_t *rep, *first, *r0, *res;
  const char *uid, *rv;
  char *uid_s, *rv_s, *m;
  racer rc = {.port = env.api.port};
  pthread_t th;
  struct timespec t0;
  proc audit;
  (void)state;

  start_audit(&audit, "audit", a, NULL, NULL);
  create_lease(a, "team-a", "a1", "p_1", 7200);            /* over the 3600 s allowed: fail */
  create_lease(a, "team-a", "a2", "q_1", 400);             /* outside 5..300 recommended: warn */
  set_lease_int(a, "team-a", "a1", "leaseTransitions", 1); /* +1 with the same holder */
  create_lease(a, "team-b", "b1", "r_1", 7200);
  first = wait_report(a, REPORT_OF("team-a"),
                      "a1/duration/fail a1/transitions/fail a2/duration-recommended/warn", 20000);
  rep = wait_report(a, REPORT_OF("team-b"), "b1/duration/fail", 20000);
  json_decref(rep);
  /* kubectl get policyreport -A: one report per namespace. */
  assert_int_equal(api(a, "GET", REPORTS "/policyreports", NULL, &rep), 200);
  assert_int_equal(json_array_size(json_object_get(rep, "items")), 2);
  json_decref(rep);

  assert_string_equal(json_string_value(json_object_get(first, "kind")), "PolicyReport");
  assert_int_equal(json_integer_value(json_object_get(json_object_get(first, "summary"), "fail")),
                   2);
  assert_int_equal(json_integer_value(json_object_get(json_object_get(first, "summary"), "warn")),
                   1);
  r0 = json_array_get(json_object_get(first, "results"), 0);
  res = json_array_get(json_object_get(r0, "resources"), 0);
  assert_string_equal(json_string_value(json_object_get(r0, "policy")), "leaseguard");
  assert_string_equal(json_string_value(json_object_get(r0, "source")), "leaseguard");
  assert_string_equal(json_string_value(json_object_get(r0, "severity")), "high");
  assert_string_equal(json_string_value(json_object_get(res, "kind")), "Lease");
  assert_string_equal(json_string_value(json_object_get(res, "namespace")), "team-a");
  assert_non_null(json_string_value(json_object_get(res, "uid")));
  m = (char *)json_string_value(json_object_get(r0, "message"));
  assert_non_null(m);
  assert_non_null(strstr(m, "7200"));
  assert_true(json_integer_value(json_object_get(json_object_get(r0, "timestamp"), "seconds")) >
              1700000000);
  uid = json_string_value(json_object_get(json_object_get(first, "metadata"), "uid"));
  rv = json_string_value(json_object_get(json_object_get(first, "metadata"), "resourceVersion"));
  uid_s = strdup(uid);
  rv_s = strdup(rv);
  json_decref(first);

  /* Another writer rewrites the report all the time; a new finding must still get in, by
   * re-reading after each 409, never by overwriting a version it did not read. */
  assert_int_equal(pthread_create(&th, NULL, race, &rc), 0);
  /* Whether one report write meets a conflict is up to timing; each new finding (a3 made,
   * then its duration changed) is another write, so go on until the audit has met one. */
  create_lease(a, "team-a", "a3", "s_1", 7200);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int tries = 1; requests(a, "PUT", REPORT_OF("team-a"), AUDIT_USER, 409) == 0 &&
                      lgt_elapsed_ms(&t0) < lgt_slow(90000);
       tries++) {
    lgt_sleep_ms(100);
    if (tries % 70 == 0) /* every 7 s: past the 5 s report interval */
      set_lease_int(a, "team-a", "a3", "leaseDurationSeconds", 7200 + tries / 70);
  }
  atomic_store(&rc.stop, true);
  pthread_join(th, NULL);
  print_message("the other writer: %d writes, %d conflicts; the audit's PUTs: %d conflicts\n",
                atomic_load(&rc.writes), atomic_load(&rc.conflicts),
                requests(a, "PUT", REPORT_OF("team-a"), AUDIT_USER, 409));
  assert_true(requests(a, "PUT", REPORT_OF("team-a"), AUDIT_USER, 409) > 0);
  rep = wait_report(a, REPORT_OF("team-a"),
                    "a1/duration/fail a1/transitions/fail a2/duration-recommended/warn "
                    "a3/duration/fail",
                    20000);
  /* In place: the same object, a later version. */
  assert_string_equal(json_string_value(json_object_get(json_object_get(rep, "metadata"), "uid")),
                      uid_s);
  assert_true(strtoull(json_string_value(
                           json_object_get(json_object_get(rep, "metadata"), "resourceVersion")),
                       NULL, 10) > strtoull(rv_s, NULL, 10));
  assert_int_equal(json_integer_value(json_object_get(json_object_get(rep, "summary"), "fail")), 3);
  json_decref(rep);
  free(uid_s);
  free(rv_s);
  /* Created once, then updated in place (each PUT names the version it read: a 409 above). */
  assert_int_equal(requests(a, "POST", REPORTS "/namespaces/team-a/policyreports", AUDIT_USER, 201),
                   1);

  /* Leases go, their results go; the last one takes the report. */
  delete_lease(a, "team-a", "a1");
  rep = wait_report(a, REPORT_OF("team-a"), "a2/duration-recommended/warn a3/duration/fail", 20000);
  json_decref(rep);
  delete_lease(a, "team-a", "a2");
  delete_lease(a, "team-a", "a3");
  delete_lease(a, "team-b", "b1");
  wait_report(a, REPORT_OF("team-a"), "", 20000);
  wait_report(a, REPORT_OF("team-b"), "", 20000);
  m = metrics(&audit);
  assert_non_null(strstr(m, "leaseguard_policy_reports_total{outcome=\"written\"}"));
  assert_non_null(strstr(m, "leaseguard_policy_reports_total{outcome=\"deleted\"} 2\n"));
  assert_non_null(strstr(m, "leaseguard_policy_reports_total{outcome=\"no-crd\"} 0\n"));
  free(m);
  stop(&audit);
}

/* A result lives --policy-report-ttl after its finding: then it goes, and the report with it,
 * while the lease stays. (Reports are written every 5 s: a TTL under that could end before
 * the first write.) */
static void test_ttl(void **state) {
  proc audit;
  json_t *rep;
  (void)state;
  start_audit(&audit, "audit-ttl", &env.api, "--namespace=team-ttl", "--policy-report-ttl=8s");
  create_lease(&env.api, "team-ttl", "t1", "t_1", 7200);
  rep = wait_report(&env.api, REPORT_OF("team-ttl"), "t1/duration/fail", 20000);
  json_decref(rep);
  wait_report(&env.api, REPORT_OF("team-ttl"), "", 30000);
  assert_int_equal(api(&env.api, "GET", LEASES_OF("team-ttl") "/t1", NULL, NULL), 200);
  stop(&audit);
}

/* Without the CRD: one warning, the metric counts it, findings still go to stdout and the
 * watch goes on. */
static void test_without_crd(void **state) {
  proc api2, audit;
  char *m;
  (void)state;
  start_api(&api2, "api-nocrd", "--no-policy-reports");
  start_audit(&audit, "audit-nocrd", &api2, NULL, NULL);
  create_lease(&api2, "team-c", "c1", "c_1", 7200);
  if (!lgt_wait_for_text(audit.err, "the API has no wgpolicyk8s.io/v1alpha2 PolicyReport",
                         lgt_slow(20000)))
    fail_msg("no log line about the missing CRD; see %s", audit.err);
  m = metrics(&audit);
  assert_non_null(strstr(m, "leaseguard_policy_reports_total{outcome=\"no-crd\"} 1\n"));
  assert_non_null(strstr(m, "leaseguard_policy_reports_total{outcome=\"written\"} 0\n"));
  free(m);
  assert_true(lgt_wait_for_text(audit.out, "\"rule\":\"duration\"", lgt_slow(5000)));
  create_lease(&api2, "team-c", "c2", "c_2", 7200);
  assert_true(lgt_wait_for_text(audit.out, "\"lease\":\"team-c/c2\"", lgt_slow(10000)));
  assert_int_equal(lgt_count_text(audit.err, "the API has no wgpolicyk8s.io"), 1);
  stop(&audit);
  stop(&api2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reports),
      cmocka_unit_test(test_ttl),
      cmocka_unit_test(test_without_crd),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
