/* test_events.c -- src/events.c against the Lease API test server: events posted per finding,
 * repeats aggregated by PATCH, the window, the bounded cache, a full queue that never blocks,
 * a bounded stop; and the test server's event PATCH (JSON merge patch) and GET by name. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "events.h"
#include "harness.h"
#include "kube.h"
#include "metrics.h"
#include "policy.h"
#include "times.h"
#include "decision.h"
#include "webhook.h"

#define TOKEN      "evt-token"
#define LEASE_NS   "kube-system"
#define LEASE_NAME "kube-controller-manager"
#define LEASE_UID  "5b6f1d2e-8a7c-4c1e-9f3a-029456246924"
#define EVENTS_OF_KCM \
  "/api/v1/namespaces/" LEASE_NS "/events?fieldSelector=involvedObject.name=" LEASE_NAME
#define HOST "leaseguard-6c9d7-x2x4q"
#define T0   "2026-11-25T10:00:12Z"

/* Tells ev of res as serve does: through the decision record, stamped now. */
static void report_result(lg_events *ev, const lg_webhook_result *res, lg_time now) {
  lg_decision d;
  lg_decision_from_webhook(res, LG_DECISION_SERVE, now, &d);
  lg_events_report(ev, &d);
}

static char dir[LGT_PATH_LEN], ca[LGT_PATH_LEN], cert[LGT_PATH_LEN], key[LGT_PATH_LEN],
    tokens[LGT_PATH_LEN], token_file[LGT_PATH_LEN], api_out[LGT_PATH_LEN];
static lg_policy *policy;

/* One API server per test, so that tests see only their own events. */
typedef struct {
  pid_t pid;
  int port;
  bool stopped; /* SIGSTOP sent */
  lg_kube_config kube;
} api;

/* ---- the API server ---- */

static void api_start(api *a, int port) {
  char pf[LGT_PATH_LEN], server[64], err[256];

  lgt_path(pf, dir, "api.port");
  const lgt_apiserver as = {.cert = cert,
                            .key = key,
                            .ca = ca,
                            .tokens = tokens,
                            .port_file = pf,
                            .port = port,
                            .extra = (const char *[]){"--bind-address=127.0.0.1", NULL},
                            .out = api_out,
                            .err = api_out};
  a->port = lgt_apiserver_start(&as, &a->pid);
  lg_kube_config_free(&a->kube);
  snprintf(server, sizeof server, "https://127.0.0.1:%d", a->port);
  assert_int_equal(lg_kube_config_explicit(server, token_file, ca, &a->kube, err, sizeof err),
                   LG_OK);
}

static void api_kill(api *a) {
  if (a->pid > 0) {
    if (a->stopped)
      kill(a->pid, SIGCONT);
    lgt_stop(a->pid, SIGTERM, 5000);
  }
  a->pid = -1;
  a->stopped = false;
}

static int setup_group(void **state) {
  char err[256];
  (void)state;
  assert_int_equal(lgt_temp_dir(dir, "events"), 0);
  assert_int_equal(lgt_make_certs(dir, NULL), 0);
  lgt_path(ca, dir, "ca.crt");
  lgt_path(cert, dir, "tls.crt");
  lgt_path(key, dir, "tls.key");
  lgt_path(tokens, dir, "tokens.csv");
  lgt_path(token_file, dir, "token");
  lgt_path(api_out, dir, "api.out");
  lgt_write_file(tokens, TOKEN ",system:serviceaccount:leaseguard:leaseguard,uid-1,"
                               "\"system:serviceaccounts\"\n");
  lgt_write_file(token_file, TOKEN "\n");
  assert_int_equal(lg_policy_default(&policy, err, sizeof err), LG_OK);
  return 0;
}

static int teardown_group(void **state) {
  (void)state;
  lg_policy_free(policy);
  lgt_rm_tree(dir);
  return 0;
}

static int setup(void **state) {
  api *a = calloc(1, sizeof *a);
  assert_non_null(a);
  a->pid = -1;
  api_start(a, 0);
  *state = a;
  return 0;
}

static int teardown(void **state) {
  api *a = *state;
  api_kill(a);
  lg_kube_config_free(&a->kube);
  free(a);
  return 0;
}

/* ---- helpers ---- */

static lg_time at(const char *rfc3339, int plus_s) {
  lg_time t;
  assert_int_equal(lg_time_parse(rfc3339, &t), LG_OK);
  return t + (lg_time)plus_s * LG_USEC_PER_SEC;
}

/* Judges a fixture review at now_s + plus_s, as user (with pod) when user is not NULL. */
static void judge(const char *fixture, const char *now_s, int plus_s, const char *user,
                  const char *pod, lg_webhook_result *res) {
  char path[LGT_PATH_LEN], *text, *body;
  json_t *doc, *ui;

  snprintf(path, sizeof path, "%s/reviews/%s", LG_FIXTURES, fixture);
  text = lgt_read_file(path, NULL);
  assert_non_null(text);
  doc = json_loads(text, 0, NULL);
  assert_non_null(doc);
  ui = json_object_get(json_object_get(doc, "request"), "userInfo");
  if (user) {
    json_object_set_new(ui, "username", json_string(user));
    json_object_set_new(ui, "extra",
                        json_pack("{s:[s]}", "authentication.kubernetes.io/pod-name", pod));
  }
  body = json_dumps(doc, 0);
  assert_non_null(body);
  lg_webhook_handle(body, strlen(body),
                    &(lg_webhook_env){policy, LG_MODE_INHERIT, at(now_s, plus_s), 0, NULL}, res);
  assert_int_equal(res->rc, LG_OK);
  free(body);
  json_decref(doc);
  free(text);
}

/* Reports the takeover (2 findings: holder-renew, timestamps) judged at T0 + judge_s (as
 * user/pod when given) at the time T0 + report_s. */
static void report_takeover(lg_events *ev, int judge_s, int report_s, const char *user,
                            const char *pod) {
  lg_webhook_result res;
  judge("kcm-steal-future.json", T0, judge_s, user, pod, &res);
  assert_int_equal(res.verdict.n, 2);
  report_result(ev, &res, at(T0, report_s));
  lg_webhook_result_free(&res);
}

static lg_events *start(const api *a, lg_metrics *m, size_t queue, lg_time window, size_t cache,
                        long call_ms, long drain_ms) {
  lg_events_config cfg = {&a->kube, "leaseguard", HOST, queue, window, call_ms, drain_ms, cache};
  lg_events *ev = NULL;
  char err[256] = "";
  lg_rc rc = lg_events_start(&cfg, m, &ev, err, sizeof err);
  if (rc)
    fail_msg("lg_events_start: %s: %s", lg_strerror(rc), err);
  return ev;
}

/* The items of the kube-controller-manager events (new array). */
static json_t *list_events(const api *a) {
  lgt_reply r;
  json_t *doc, *items;
  lgt_http(ca, "GET", a->port, TOKEN, EVENTS_OF_KCM, NULL, &r);
  assert_int_equal(r.rc, CURLE_OK);
  if (r.status != 200)
    fail_msg("GET events: %ld %s", r.status, r.body);
  doc = json_loads(r.body, 0, NULL);
  assert_non_null(doc);
  items = json_incref(json_object_get(doc, "items"));
  assert_true(json_is_array(items));
  json_decref(doc);
  free(r.body);
  return items;
}

/* Waits at most 10 s until n events are listed; returns them. */
static json_t *wait_events(const api *a, size_t n) {
  struct timespec t0;
  json_t *items = NULL;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  do {
    json_decref(items);
    items = list_events(a);
    if (json_array_size(items) == n)
      return items;
    lgt_sleep_ms(20);
  } while (lgt_elapsed_ms(&t0) < 10000);
  fail_msg("%zu events listed, want %zu", json_array_size(items), n);
  return NULL;
}

/* The event whose message starts with prefix and contains part (may be NULL); the
 * (index+1)-th such event in list order. */
static const json_t *find_event(const json_t *items, const char *prefix, const char *part,
                                int index) {
  size_t i;
  const json_t *e;
  json_array_foreach(items, i, e) {
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (msg && !strncmp(msg, prefix, strlen(prefix)) && (!part || strstr(msg, part)) &&
        index-- == 0)
      return e;
  }
  return NULL;
}

static size_t count_events(const json_t *items, const char *prefix, const char *part) {
  size_t n = 0;
  while (find_event(items, prefix, part, (int)n))
    n++;
  return n;
}

static const char *str_at(const json_t *o, const char *a, const char *b) {
  const json_t *v = json_object_get(o, a);
  return json_string_value(b ? json_object_get(v, b) : v);
}

static long long count_of(const json_t *e) {
  return (long long)json_integer_value(json_object_get(e, "count"));
}

/* leaseguard_events_total{outcome="..."} from the metrics text; -1 when absent. */
static double metric(lg_metrics *m, const char *outcome) {
  char *text = lg_metrics_render(m, lg_time_now()), needle[128], *p;
  double v = -1;
  assert_non_null(text);
  snprintf(needle, sizeof needle, "leaseguard_events_total{outcome=\"%s\"} ", outcome);
  if ((p = strstr(text, needle)))
    v = strtod(p + strlen(needle), NULL);
  free(text);
  return v;
}

static int count_in(const char *path, const char *needle) { return lgt_count_text(path, needle); }

/* ---- the events ---- */

/* Everything about one posted event that does not depend on the rule. */
static void check_event(const json_t *e, const char *rule, const char *by) {
  const char *name = str_at(e, "metadata", "name"), *msg = str_at(e, "message", NULL);
  char want[64];
  size_t i;

  assert_non_null(e);
  assert_string_equal(str_at(e, "metadata", "namespace"), LEASE_NS);
  /* client-go's "<name>.<hex nanoseconds>" */
  assert_non_null(name);
  assert_int_equal(strlen(name), strlen(LEASE_NAME) + 17);
  assert_memory_equal(name, LEASE_NAME ".", strlen(LEASE_NAME) + 1);
  for (i = strlen(LEASE_NAME) + 1; name[i]; i++)
    assert_non_null(strchr("0123456789abcdef", name[i]));
  assert_string_equal(str_at(e, "type", NULL), "Warning");
  assert_string_equal(str_at(e, "reason", NULL), "LeaseViolation");
  assert_string_equal(str_at(e, "involvedObject", "apiVersion"), "coordination.k8s.io/v1");
  assert_string_equal(str_at(e, "involvedObject", "kind"), "Lease");
  assert_string_equal(str_at(e, "involvedObject", "namespace"), LEASE_NS);
  assert_string_equal(str_at(e, "involvedObject", "name"), LEASE_NAME);
  assert_string_equal(str_at(e, "involvedObject", "uid"), LEASE_UID);
  assert_string_equal(str_at(e, "involvedObject", "resourceVersion"), "1005");
  assert_string_equal(str_at(e, "source", "component"), "leaseguard");
  assert_string_equal(str_at(e, "source", "host"), HOST);
  assert_string_equal(str_at(e, "reportingComponent", NULL), "leaseguard");
  assert_string_equal(str_at(e, "reportingInstance", NULL), HOST);
  assert_true(json_is_null(json_object_get(e, "eventTime")));
  snprintf(want, sizeof want, "[%s] " LEASE_NS "/" LEASE_NAME ": ", rule);
  assert_non_null(msg);
  assert_memory_equal(msg, want, strlen(want));
  assert_non_null(strstr(msg, by));
  assert_true(strlen(msg) < 1024);
}

static void test_report_post_and_aggregate(void **state) {
  api *a = *state;
  lg_metrics *m = lg_metrics_new(false);
  lg_webhook_result dry, clean;
  lg_events *ev;
  json_t *first, *after;
  const json_t *hr, *ts;
  char hr_name[300], ts_name[300];

  assert_non_null(m);
  judge("kcm-steal-dry-run.json", T0, 0, NULL, NULL, &dry);
  assert_true(dry.review.dry_run);
  assert_true(dry.verdict.n >= 1); /* a violation that must still post nothing */
  judge("kcm-renew.json", "2026-11-25T10:00:02Z", 0, NULL, NULL, &clean);
  assert_int_equal(clean.verdict.n, 0);

  ev = start(a, m, 0, 0, 0, 5000, 2000);
  report_result(ev, &dry, at(T0, 0));
  report_takeover(ev, 0, 0, NULL, NULL);
  report_result(ev, &clean, at(T0, 0));

  /* One event per rule, none for the dry run or the clean renewal. */
  first = wait_events(a, 2);
  hr = find_event(first, "[holder-renew]", NULL, 0);
  ts = find_event(first, "[timestamps]", NULL, 0);
  check_event(hr, "holder-renew", "(by user system:kube-controller-manager)");
  check_event(ts, "timestamps", "(by user system:kube-controller-manager)");
  assert_int_equal(count_of(hr), 1);
  assert_string_equal(str_at(hr, "firstTimestamp", NULL), T0);
  assert_string_equal(str_at(hr, "lastTimestamp", NULL), T0);
  assert_non_null(strstr(str_at(hr, "message", NULL), "takeover before expiry"));
  snprintf(hr_name, sizeof hr_name, "%s", str_at(hr, "metadata", "name"));
  snprintf(ts_name, sizeof ts_name, "%s", str_at(ts, "metadata", "name"));
  assert_string_not_equal(hr_name, ts_name);

  /* The same violations judged 1..5 s later (other times in the messages): counted on the
   * same events, not posted again. */
  for (int i = 1; i <= 5; i++)
    report_takeover(ev, i, i, NULL, NULL);
  lg_events_stop(ev);

  after = list_events(a);
  assert_int_equal(json_array_size(after), 2);
  hr = find_event(after, "[holder-renew]", NULL, 0);
  ts = find_event(after, "[timestamps]", NULL, 0);
  check_event(hr, "holder-renew", "(by user system:kube-controller-manager)");
  check_event(ts, "timestamps", "(by user system:kube-controller-manager)");
  assert_string_equal(str_at(hr, "metadata", "name"), hr_name);
  assert_string_equal(str_at(ts, "metadata", "name"), ts_name);
  assert_int_equal(count_of(hr), 6);
  assert_int_equal(count_of(ts), 6);
  assert_string_equal(str_at(hr, "firstTimestamp", NULL), T0);
  assert_string_equal(str_at(hr, "lastTimestamp", NULL), "2026-11-25T10:00:17Z");
  assert_non_null(strstr(str_at(hr, "message", NULL), "now 2026-11-25T10:00:17Z"));
  /* On the wire: 2 POSTs, then PATCHes. */
  assert_int_equal(count_in(api_out, "\"method\":\"POST\""), 2);
  assert_int_equal(count_in(api_out, "\"method\":\"PATCH\""), 10);
  assert_true(metric(m, "posted") == 2);
  assert_true(metric(m, "aggregated") == 10);
  assert_true(metric(m, "dropped") == 0);
  assert_true(metric(m, "failed") == 0);

  json_decref(first);
  json_decref(after);
  lg_webhook_result_free(&dry);
  lg_webhook_result_free(&clean);
  lg_metrics_free(m);
}

/* A repeat after a whole idle window is a new event; the cache keeps only cache_limit keys
 * (least recently used dropped); the requester's pod is named. */
static void test_window_and_cache(void **state) {
  api *a = *state;
  lg_metrics *m = lg_metrics_new(false);
  const char *ua = "(by user system:kube-controller-manager)";
  const char *ub = "(by user system:serviceaccount:apps:web, pod web-7)";
  lg_events *ev = start(a, m, 0, 60 * LG_USEC_PER_SEC, 2, 5000, 2000);
  json_t *items;

  report_takeover(ev, 0, 0, NULL, NULL);  /* A: posted */
  report_takeover(ev, 1, 3, NULL, NULL);  /* A: aggregated */
  report_takeover(ev, 2, 64, NULL, NULL); /* A, idle for more than 60 s: posted */
  report_takeover(ev, 3, 65, "system:serviceaccount:apps:web", "web-7"); /* B: posted, A evicted */
  report_takeover(ev, 4, 66, NULL, NULL);                                /* A, evicted: posted */
  lg_events_stop(ev);

  items = list_events(a);
  assert_int_equal(json_array_size(items), 8);
  for (int i = 0; i < 3; i++)
    check_event(find_event(items, "[holder-renew]", ua, i), "holder-renew", ua);
  check_event(find_event(items, "[holder-renew]", ub, 0), "holder-renew", ub);
  check_event(find_event(items, "[timestamps]", ub, 0), "timestamps", ub);
  assert_int_equal(count_events(items, "[holder-renew]", ua), 3);
  assert_int_equal(count_events(items, "[timestamps]", ua), 3);
  assert_int_equal(count_events(items, "[holder-renew]", ub), 1);
  assert_int_equal(count_events(items, "[timestamps]", ub), 1);
  {
    long long counts = 0;
    for (int i = 0; i < 3; i++)
      counts += count_of(find_event(items, "[holder-renew]", ua, i)) * 10;
    assert_int_equal(counts, 40); /* 2 + 1 + 1 */
  }
  assert_true(metric(m, "posted") == 8);
  assert_true(metric(m, "aggregated") == 2);
  json_decref(items);
  lg_metrics_free(m);
}

/* When the event is gone (PATCH 404), it is posted again with its name, first time and count. */
static void test_recreate_when_gone(void **state) {
  api *a = *state;
  lg_metrics *m = lg_metrics_new(false);
  lg_events *ev = start(a, m, 0, 0, 0, 5000, 2000);
  json_t *items;
  char name[300];
  int port = a->port;

  report_takeover(ev, 0, 0, NULL, NULL);
  items = wait_events(a, 2);
  snprintf(name, sizeof name, "%s",
           str_at(find_event(items, "[holder-renew]", NULL, 0), "metadata", "name"));
  json_decref(items);
  api_kill(a); /* a new, empty API server on the same port */
  api_start(a, port);
  report_takeover(ev, 2, 2, NULL, NULL);
  lg_events_stop(ev);

  items = list_events(a);
  assert_int_equal(json_array_size(items), 2);
  const json_t *hr = find_event(items, "[holder-renew]", NULL, 0);
  check_event(hr, "holder-renew", "(by user system:kube-controller-manager)");
  assert_string_equal(str_at(hr, "metadata", "name"), name);
  assert_int_equal(count_of(hr), 2);
  assert_string_equal(str_at(hr, "firstTimestamp", NULL), T0);
  assert_string_equal(str_at(hr, "lastTimestamp", NULL), "2026-11-25T10:00:14Z");
  assert_int_equal(count_in(api_out, "\"method\":\"PATCH\""), 2);
  assert_true(metric(m, "posted") == 4);
  assert_true(metric(m, "failed") == 0);
  json_decref(items);
  lg_metrics_free(m);
}

/* Sends stderr (lg_log) to dir/name until capture_end(); returns the saved descriptor. */
static int capture_start(const char *name, char path[LGT_PATH_LEN]) {
  int fd, saved;
  lgt_path(path, dir, name);
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  fflush(stderr);
  saved = dup(2);
  assert_true(saved >= 0);
  dup2(fd, 2);
  close(fd);
  return saved;
}

static void capture_end(int saved) {
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
}

/* A silent API server: report never waits (a full queue drops at once), and stop keeps its
 * bound. */
static void test_full_queue_and_silent_server(void **state) {
  enum { CALL_MS = 1500, DRAIN_MS = 500 };
  api *a = *state;
  lg_metrics *m = lg_metrics_new(false);
  lg_events *ev = start(a, m, 2, 0, 0, CALL_MS, DRAIN_MS);
  lg_webhook_result res;
  struct timespec t0;
  char log_path[LGT_PATH_LEN];
  long report_ms, stop_ms;
  double dropped_at_once;
  int saved;

  judge("kcm-steal-future.json", T0, 0, NULL, NULL, &res);
  assert_int_equal(kill(a->pid, SIGSTOP), 0);
  a->stopped = true;
  saved = capture_start("silent.log", log_path);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < 5; i++) /* 10 violations */
    report_result(ev, &res, lg_time_now());
  report_ms = lgt_elapsed_ms(&t0);
  dropped_at_once = metric(m, "dropped");
  clock_gettime(CLOCK_MONOTONIC, &t0);
  lg_events_stop(ev);
  stop_ms = lgt_elapsed_ms(&t0);
  capture_end(saved);
  kill(a->pid, SIGCONT);
  a->stopped = false;

  /* Far below one call's timeout: nothing waited on the network. */
  if (report_ms >= 100)
    fail_msg("10 reports took %ld ms", report_ms);
  /* The queue holds 2 (the one in flight included): the other 8 are dropped by report. */
  if (dropped_at_once != 8)
    fail_msg("%g dropped by report, want 8", dropped_at_once);
  /* The 2 accepted ones time out or are dropped when the drain time is up. */
  assert_true(metric(m, "posted") == 0);
  assert_true(metric(m, "failed") >= 1);
  assert_true(metric(m, "dropped") + metric(m, "failed") == 10);
  /* stop: the drain time plus at most the call in flight (sending both queued events in
   * full would take 2 * CALL_MS), with margin. */
  if (stop_ms > DRAIN_MS + CALL_MS + 700)
    fail_msg("stop took %ld ms", stop_ms);
  assert_true(count_in(log_path, "cannot record a Kubernetes event") >= 1);
  lg_webhook_result_free(&res);
  lg_metrics_free(m);
}

/* Refused connections: every event fails, and that is logged once, not once per event. */
static void test_failures_logged_once(void **state) {
  api *a = *state;
  lg_metrics *m = lg_metrics_new(false);
  lg_kube_config closed = {0};
  lg_events_config cfg = {&closed, NULL, HOST, 0, 0, 2000, 2000, 0};
  lg_events *ev = NULL;
  char server[64], err[256], log_path[LGT_PATH_LEN];
  int saved;

  api_kill(a); /* nothing listens on its port any more */
  snprintf(server, sizeof server, "https://127.0.0.1:%d", a->port);
  assert_int_equal(lg_kube_config_explicit(server, token_file, ca, &closed, err, sizeof err),
                   LG_OK);
  assert_int_equal(lg_events_start(&cfg, m, &ev, err, sizeof err), LG_OK);
  saved = capture_start("refused.log", log_path);
  for (int i = 0; i < 5; i++)
    report_takeover(ev, i, i, NULL, NULL);
  lg_events_stop(ev);
  capture_end(saved);

  assert_true(metric(m, "failed") == 10);
  assert_true(metric(m, "posted") == 0);
  assert_int_equal(count_in(log_path, "cannot record a Kubernetes event"), 1);
  assert_int_equal(count_in(log_path, "\"call\":\"POST\""), 1);
  lg_kube_config_free(&closed);
  lg_metrics_free(m);
}

/* Nothing is reported for input the webhook could not use or for objects that are not Leases. */
static void test_ignored_results(void **state) {
  api *a = *state;
  lg_metrics *m = lg_metrics_new(false);
  lg_events *ev = start(a, m, 0, 0, 0, 5000, 2000);
  const char *fixtures[] = {"configmap.json", "malformed.json", "bad-duration-type.json"};
  json_t *items;

  for (size_t i = 0; i < sizeof fixtures / sizeof *fixtures; i++) {
    char path[LGT_PATH_LEN], *text;
    lg_webhook_result res;
    snprintf(path, sizeof path, "%s/reviews/%s", LG_FIXTURES, fixtures[i]);
    text = lgt_read_file(path, NULL);
    assert_non_null(text);
    lg_webhook_handle(text, strlen(text),
                      &(lg_webhook_env){policy, LG_MODE_INHERIT, at(T0, 0), 0, NULL}, &res);
    report_result(ev, &res, at(T0, 0));
    lg_webhook_result_free(&res);
    free(text);
  }
  lg_events_report(ev, NULL);
  lg_events_report(NULL, NULL);
  report_takeover(ev, 0, 0, NULL, NULL); /* the control: this one is posted */
  lg_events_stop(ev);
  items = list_events(a);
  assert_int_equal(json_array_size(items), 2);
  assert_true(metric(m, "posted") == 2);
  assert_true(metric(m, "dropped") == 0);
  json_decref(items);
  lg_metrics_free(m);
}

static void test_start_errors(void **state) {
  lg_kube_config plain = {0};
  lg_events_config cfg = {0};
  lg_events *ev = (lg_events *)&cfg;
  char err[256] = "";
  (void)state;

  assert_int_equal(lg_events_start(NULL, NULL, &ev, err, sizeof err), LG_EINVAL);
  assert_null(ev);
  assert_int_equal(lg_events_start(&cfg, NULL, &ev, err, sizeof err), LG_EINVAL);
  assert_int_equal(lg_events_start(&cfg, NULL, NULL, err, sizeof err), LG_EINVAL);
  plain.server = "http://127.0.0.1:1";
  cfg.kube = &plain;
  assert_int_not_equal(lg_events_start(&cfg, NULL, &ev, err, sizeof err), LG_OK);
  assert_null(ev);
  assert_non_null(strstr(err, "https://"));
  lg_events_stop(NULL);
}

/* ---- the test server's PATCH and GET of an event ---- */

typedef struct {
  const char *name;
  const char *path;  /* under /api/v1/namespaces/t1/ */
  const char *ctype; /* NULL: none */
  const char *body;
  long status;
  const char *text; /* in the answer */
} patch_case;

static void http_patch(const api *a, const char *path, const char *ctype, const char *body,
                       lgt_reply *out) {
  struct curl_slist *hdrs = NULL;
  char full[LGT_PATH_LEN], ct[128];
  CURL *c;
  snprintf(full, sizeof full, "/api/v1/namespaces/t1/%s", path);
  c = lgt_request(ca, "PATCH", a->port, TOKEN, full, NULL, &hdrs, out);
  if (ctype) {
    snprintf(ct, sizeof ct, "Content-Type: %s", ctype);
    hdrs = curl_slist_append(hdrs, ct);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  }
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  out->rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(c);
}

static json_t *get_e1(const api *a) {
  lgt_reply r;
  json_t *doc;
  lgt_http(ca, "GET", a->port, TOKEN, "/api/v1/namespaces/t1/events/e1", NULL, &r);
  assert_int_equal(r.status, 200);
  doc = json_loads(r.body, 0, NULL);
  assert_non_null(doc);
  free(r.body);
  return doc;
}

static void test_server_patch(void **state) {
  api *a = *state;
  const char *merge = "application/merge-patch+json";
  lgt_reply r;
  json_t *created, *patched, *got;
  char rv0[32], stale[128];

  lgt_http(ca, "POST", a->port, TOKEN, "/api/v1/namespaces/t1/events",
           "{\"metadata\":{\"name\":\"e1\",\"labels\":{\"a\":\"1\",\"b\":\"2\"}},"
           "\"involvedObject\":{\"kind\":\"Lease\",\"namespace\":\"t1\",\"name\":\"x\"},"
           "\"reason\":\"R\",\"message\":\"m\",\"count\":1,\"action\":\"A\","
           "\"source\":{\"component\":\"c\",\"host\":\"h\"}}",
           &r);
  assert_int_equal(r.status, 201);
  created = json_loads(r.body, 0, NULL);
  free(r.body);
  assert_non_null(created);
  snprintf(rv0, sizeof rv0, "%s", str_at(created, "metadata", "resourceVersion"));

  /* Merge: scalars replaced, objects merged key by key, null deletes. */
  http_patch(a, "events/e1", merge,
             "{\"count\":2,\"action\":null,\"source\":{\"host\":null},"
             "\"metadata\":{\"labels\":{\"a\":null,\"c\":\"3\"}},\"lastTimestamp\":\"" T0 "\"}",
             &r);
  if (r.status != 200)
    fail_msg("PATCH: %ld %s", r.status, r.body);
  patched = json_loads(r.body, 0, NULL);
  free(r.body);
  assert_non_null(patched);
  assert_int_equal(count_of(patched), 2);
  assert_null(json_object_get(patched, "action"));
  assert_string_equal(str_at(patched, "source", "component"), "c");
  assert_null(json_object_get(json_object_get(patched, "source"), "host"));
  assert_null(
      json_object_get(json_object_get(json_object_get(patched, "metadata"), "labels"), "a"));
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(json_object_get(patched, "metadata"), "labels"), "b")),
                      "2");
  assert_string_equal(json_string_value(json_object_get(
                          json_object_get(json_object_get(patched, "metadata"), "labels"), "c")),
                      "3");
  assert_string_equal(str_at(patched, "message", NULL), "m");
  assert_string_equal(str_at(patched, "lastTimestamp", NULL), T0);
  assert_string_equal(str_at(patched, "metadata", "uid"), str_at(created, "metadata", "uid"));
  assert_string_equal(str_at(patched, "metadata", "creationTimestamp"),
                      str_at(created, "metadata", "creationTimestamp"));
  assert_true(strtoull(str_at(patched, "metadata", "resourceVersion"), NULL, 10) >
              strtoull(rv0, NULL, 10));
  /* GET by name gives what PATCH answered. */
  got = get_e1(a);
  assert_true(json_equal(got, patched));
  json_decref(got);

  snprintf(stale, sizeof stale, "{\"metadata\":{\"resourceVersion\":\"%s\"},\"count\":9}", rv0);
  const patch_case cases[] = {
      {"application/json is not a patch type", "events/e1", "application/json", "{\"count\":9}",
       415, "application/merge-patch+json"},
      {"JSON patch is not implemented", "events/e1", "application/json-patch+json", "[]", 415,
       "unknown format"},
      {"no content type", "events/e1", NULL, "{\"count\":9}", 415, "UnsupportedMediaType"},
      {"missing event", "events/nope", merge, "{\"count\":9}", 404, "\"NotFound\""},
      {"not JSON", "events/e1", merge, "{", 400, "Invalid JSON Patch"},
      {"not an object", "events/e1", merge, "[1]", 400, "Invalid JSON Patch"},
      {"rename", "events/e1", merge, "{\"metadata\":{\"name\":\"e2\"}}", 400,
       "the name of the object (e2) does not match the name on the URL (e1)"},
      {"other namespace", "events/e1", merge, "{\"metadata\":{\"namespace\":\"t2\"}}", 400,
       "does not match the namespace"},
      {"stale resourceVersion", "events/e1", merge, stale, 409, "has been modified"},
      {"uid is immutable", "events/e1", merge, "{\"metadata\":{\"uid\":\"x\"}}", 422,
       "field is immutable"},
      {"wrong type", "events/e1", merge, "{\"metadata\":{\"labels\":{\"a\":1}}}", 400, ""},
      {"dry run stores nothing", "events/e1?dryRun=All", merge, "{\"count\":9}", 200,
       "\"count\":9"},
      {"bad dry run", "events/e1?dryRun=Yes", merge, "{\"count\":9}", 400, "dryRun"},
      {"collection", "events", merge, "{\"count\":9}", 405, "MethodNotAllowed"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const patch_case *c = &cases[i];
    http_patch(a, c->path, c->ctype, c->body, &r);
    if (r.rc != CURLE_OK || r.status != c->status || !r.body || !strstr(r.body, c->text))
      fail_msg("%s: %ld %s, want %ld with \"%s\"", c->name, r.status, r.body ? r.body : "",
               c->status, c->text);
    free(r.body);
  }
  /* None of those changed it. */
  got = get_e1(a);
  assert_true(json_equal(got, patched));
  json_decref(got);
  /* Lease PATCH is still not served. */
  {
    struct curl_slist *hdrs = NULL;
    CURL *c = lgt_request(ca, "PATCH", a->port, TOKEN,
                          "/apis/coordination.k8s.io/v1/namespaces/t1/leases/x", NULL, &hdrs, &r);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/merge-patch+json");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    assert_int_equal(r.status, 405);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    free(r.body);
  }
  json_decref(created);
  json_decref(patched);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_start_errors),
      cmocka_unit_test_setup_teardown(test_server_patch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_report_post_and_aggregate, setup, teardown),
      cmocka_unit_test_setup_teardown(test_window_and_cache, setup, teardown),
      cmocka_unit_test_setup_teardown(test_recreate_when_gone, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ignored_results, setup, teardown),
      cmocka_unit_test_setup_teardown(test_full_queue_and_silent_server, setup, teardown),
      cmocka_unit_test_setup_teardown(test_failures_logged_once, setup, teardown),
  };
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int rc = cmocka_run_group_tests(tests, setup_group, teardown_group);
  curl_global_cleanup();
  return rc;
}
