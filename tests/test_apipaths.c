/* test_apipaths.c -- API paths built from request, watch or flag values (src/k8sname.c and its
 * users): Kubernetes names told from anything else, segments escaped, unsafe paths refused by
 * kube.c; Events for hostile namespaces and names, elect with hostile lock names and audit
 * with a hostile namespace never reach the (test) API server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "events.h"
#include "harness.h"
#include "k8sname.h"
#include "kube.h"
#include "metrics.h"
#include "policy.h"
#include "decision.h"
#include "webhook.h"

#define TOKEN "paths-token"
#define T0    "2026-11-25T10:00:12Z"

/* ---- names and paths, as tables ---- */

/* Tells ev of res as serve does: through the decision record, stamped now. */
static void report_result(lg_events *ev, const lg_webhook_result *res, lg_time now) {
  lg_decision d;
  lg_decision_from_webhook(res, LG_DECISION_SERVE, now, &d);
  lg_events_report(ev, &d);
}

static void test_names(void **state) {
  static const struct {
    const char *s;
    bool label, subdomain;
  } cases[] = {
      {"kube-system", true, true},
      {"a", true, true},
      {"0", true, true},
      {"kube-controller-manager", true, true},
      {"x.example.com", false, true},
      {"a-b.c-d", false, true},
      {"", false, false},
      {"-a", false, false},
      {"a-", false, false},
      {"A", false, false},
      {"a_b", false, false},
      {".a", false, false},
      {"a.", false, false},
      {"a..b", false, false},
      {"a.-b", false, false},
      {"..", false, false},
      {"../x", false, false},
      {"a/b", false, false},
      {"a?dryRun=All", false, false},
      {"%2e%2e", false, false},
      {"caf\xc3\xa9", false, false},
      {"a b", false, false},
      {"a\nb", false, false},
      {"n23456789012345678901234567890123456789012345678901234567890123", true, true},
      {"n234567890123456789012345678901234567890123456789012345678901234", false, true},
  };
  char name[300];
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    if (lg_k8sname_is_label(cases[i].s) != cases[i].label)
      fail_msg("\"%s\": label %d, want %d", cases[i].s, !cases[i].label, cases[i].label);
    if (lg_k8sname_is_subdomain(cases[i].s) != cases[i].subdomain)
      fail_msg("\"%s\": subdomain %d, want %d", cases[i].s, !cases[i].subdomain,
               cases[i].subdomain);
  }
  assert_false(lg_k8sname_is_label(NULL));
  assert_false(lg_k8sname_is_subdomain(NULL));
  /* 253 bytes in all (labels of any length), not 254. */
  memset(name, 'a', 253);
  name[100] = '.';
  name[253] = '\0';
  assert_true(lg_k8sname_is_subdomain(name));
  name[253] = 'a';
  name[254] = '\0';
  assert_false(lg_k8sname_is_subdomain(name));
}

static void test_path_building(void **state) {
  static const struct {
    const char *seg, *want;
  } cases[] = {
      {"kube-system", "/api/v1/namespaces/kube-system/events"},
      {"../x", "/api/v1/namespaces/..%2Fx/events"},
      {"a?dryRun=All", "/api/v1/namespaces/a%3FdryRun%3DAll/events"},
      {"%2e%2e", "/api/v1/namespaces/%252e%252e/events"},
      {"caf\xc3\xa9", "/api/v1/namespaces/caf%C3%A9/events"},
      {"a b#c", "/api/v1/namespaces/a%20b%23c/events"},
      {"", "/api/v1/namespaces//events"},
  };
  char out[128];
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    assert_true(
        lg_k8sname_path(out, sizeof out, "/api/v1/namespaces", cases[i].seg, "events", NULL));
    assert_string_equal(out, cases[i].want);
  }
  /* Too small: nothing half-written. */
  assert_false(lg_k8sname_path(out, 20, "/api/v1/namespaces", "kube-system", NULL));
  assert_string_equal(out, "");
  assert_true(lg_k8sname_path(out, 31, "/api/v1/namespaces", "kube-system", NULL));
  assert_false(lg_k8sname_path(out, 30, "/api/v1/namespaces", "kube-system", NULL));
}

static void test_path_check(void **state) {
  static const struct {
    const char *path;
    bool ok;
  } cases[] = {
      {"/api/v1/namespaces/kube-system/events", true},
      {"/apis/coordination.k8s.io/v1/namespaces/a/leases/x.example.com", true},
      {"/apis/coordination.k8s.io/v1/leases?watch=true&resourceVersion=12", true},
      {"/apis/coordination.k8s.io/v1/leases?limit=500&continue=eyJ2Ijoi%3D%3D", true},
      {"/api/v1/namespaces/a/events?fieldSelector=involvedObject.name=x", true},
      {"/ok", true},
      {"/a/...", true},
      {"/api/v1/namespaces/../x/events", false},
      {"/api/v1/namespaces/./events", false},
      {"/api/v1/namespaces/%2e%2E/events", false},
      {"/api/v1/namespaces/.%2e/events", false},
      {"/api/v1/namespaces/%2e/events", false},
      {"/api/v1/namespaces/..%2Fx/events", false},
      {"/api/v1/namespaces/a%2fb/events", false},
      {"/api/v1/namespaces//events", false},
      {"/api/v1/namespaces/a/events/", false},
      {"/api/v1/namespaces/a b/events", false},
      {"/api/v1/namespaces/caf\xc3\xa9/events", false},
      {"/api/v1/namespaces/a%zz/events", false},
      {"/api/v1/namespaces/a%2", false},
      {"/api/v1/namespaces/a%00b", false},
      {"/api/v1/namespaces/a\\b", false},
      {"/a?x=#frag", false},
      {"/a?x=1 2", false},
      {"/a?x=%G1", false},
      {"/a?x=%", false},
      {"a/b", false},
      {"", false},
      {"/", false},
  };
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    if (lg_k8sname_path_ok(cases[i].path) != cases[i].ok)
      fail_msg("\"%s\": %s, want %s", cases[i].path, cases[i].ok ? "refused" : "accepted",
               cases[i].ok ? "accepted" : "refused");
  assert_false(lg_k8sname_path_ok(NULL));
}

/* ---- against the test API server ---- */

static struct {
  char dir[LGT_PATH_LEN], ca[LGT_PATH_LEN], cert[LGT_PATH_LEN], key[LGT_PATH_LEN];
  char tokens[LGT_PATH_LEN], token_file[LGT_PATH_LEN], api_out[LGT_PATH_LEN];
  pid_t pid;
  int port;
  lg_kube_config kube;
  lg_policy *policy;
} env = {.pid = -1};

static int setup_api(void **state) {
  char pf[LGT_PATH_LEN], server[64], err[256];
  (void)state;
  if (lgt_temp_dir(env.dir, "apipaths") != 0 || lgt_make_certs(env.dir, NULL) != 0)
    return -1;
  lgt_path(env.ca, env.dir, "ca.crt");
  lgt_path(env.cert, env.dir, "tls.crt");
  lgt_path(env.key, env.dir, "tls.key");
  lgt_path(env.tokens, env.dir, "tokens.csv");
  lgt_path(env.token_file, env.dir, "token");
  lgt_path(env.api_out, env.dir, "api.out");
  lgt_path(pf, env.dir, "api.port");
  lgt_write_file(env.tokens, TOKEN ",system:serviceaccount:leaseguard:leaseguard,uid-1\n");
  lgt_write_file(env.token_file, TOKEN "\n");
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return -1;
  const lgt_apiserver as = {.cert = env.cert,
                            .key = env.key,
                            .ca = env.ca,
                            .tokens = env.tokens,
                            .port_file = pf,
                            .extra = (const char *[]){"--bind-address=127.0.0.1", NULL},
                            .out = env.api_out,
                            .err = env.api_out};
  env.port = lgt_apiserver_start(&as, &env.pid);
  snprintf(server, sizeof server, "https://127.0.0.1:%d", env.port);
  if (lg_kube_config_explicit(server, env.token_file, env.ca, &env.kube, err, sizeof err) ||
      lg_policy_default(&env.policy, err, sizeof err))
    return -1;
  return 0;
}

static int teardown_api(void **state) {
  (void)state;
  if (env.pid > 0)
    lgt_stop(env.pid, SIGTERM, 5000);
  lg_kube_config_free(&env.kube);
  lg_policy_free(env.policy);
  curl_global_cleanup();
  if (!getenv("LG_KEEP_TMP"))
    lgt_rm_tree(env.dir);
  return 0;
}

/* The paths the API server was asked for (kind "request" lines of its log), one a line. */
static char *requested_paths(void) {
  char *text = lgt_slurp(env.api_out), *line, *save = NULL, *out = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&out, &len);
  assert_non_null(f);
  for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    json_t *j = json_loads(line, 0, NULL);
    const char *kind = json_string_value(json_object_get(j, "kind"));
    if (kind && !strcmp(kind, "request")) {
      char *q = json_dumps(json_object_get(j, "query"), JSON_COMPACT);
      fprintf(f, "%s %s %s\n", json_string_value(json_object_get(j, "method")),
              json_string_value(json_object_get(j, "path")), q ? q : "");
      free(q);
    }
    json_decref(j);
  }
  fclose(f);
  free(text);
  return out;
}

/* Sends stderr to a file of the test dir until capture_end. */
static int capture_start(const char *name, char path[LGT_PATH_LEN]) {
  int fd, saved;
  lgt_path(path, env.dir, name);
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  fflush(stderr);
  saved = dup(2);
  dup2(fd, 2);
  close(fd);
  return saved;
}

static void capture_end(int saved) {
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
}

static double events_metric(lg_metrics *m, const char *outcome) {
  char *text = lg_metrics_render(m, 0), needle[96], *p;
  double v = -1;
  snprintf(needle, sizeof needle, "leaseguard_events_total{outcome=\"%s\"} ", outcome);
  if (text && (p = strstr(text, needle)))
    v = strtod(p + strlen(needle), NULL);
  free(text);
  return v;
}

/* Violations on leases whose namespace or name is no Kubernetes name: no request at all (with
 * our token) for them, each finding counted as "invalid", one warning; the control posts. */
static void test_events_hostile_names(void **state) {
  static const char *const hostile[][2] = {
      {"../x", "l"},         {"kube-system", "../../api/v1/secrets"},
      {"a?dryRun=All", "l"}, {"kube-system", "l?dryRun=All"},
      {"%2e%2e", "l"},       {"kube-system", "%2e%2e"},
      {"caf\xc3\xa9", "l"},  {"kube-system", "\xe2\x9c\x93"},
      {"UPPER", "l"},        {"kube-system", "l/events"},
  };
  char long_ns[80], long_name[300], fixture[LGT_PATH_LEN], log_path[LGT_PATH_LEN], *body, *paths;
  lg_metrics *m = lg_metrics_new(false);
  lg_events_config cfg = {&env.kube, "leaseguard", "pod-1", 0, 0, 5000, 2000, 0};
  lg_events *ev = NULL;
  lg_webhook_result res;
  lg_time now;
  const char *ns, *name;
  char err[256];
  int saved, n = 0;
  (void)state;

  assert_non_null(m);
  assert_int_equal(lg_events_start(&cfg, m, &ev, err, sizeof err), LG_OK);
  lgt_path(fixture, LG_FIXTURES, "reviews/kcm-takeover.json");
  body = lgt_read_file(fixture, NULL);
  assert_non_null(body);
  assert_int_equal(lg_time_parse(T0, &now), LG_OK);
  lg_webhook_handle(body, strlen(body),
                    &(lg_webhook_env){env.policy, LG_MODE_INHERIT, now, 0, NULL}, &res);
  assert_int_equal(res.rc, LG_OK);
  assert_true(res.verdict.n >= 1);
  ns = res.review.namespace;
  name = res.review.name;
  memset(long_ns, 'n', 64);
  long_ns[64] = '\0';
  memset(long_name, 'l', 254);
  long_name[254] = '\0';

  saved = capture_start("hostile.log", log_path);
  for (size_t i = 0; i < sizeof hostile / sizeof *hostile; i++, n++) {
    res.review.namespace = hostile[i][0];
    res.review.name = hostile[i][1];
    report_result(ev, &res, now);
  }
  res.review.namespace = long_ns;
  res.review.name = name;
  report_result(ev, &res, now);
  res.review.namespace = ns;
  res.review.name = long_name;
  report_result(ev, &res, now);
  n += 2;
  res.review.namespace = ns; /* the control */
  res.review.name = name;
  report_result(ev, &res, now);
  lg_events_stop(ev);
  capture_end(saved);

  /* One POST per finding of the control, and nothing else. */
  paths = requested_paths();
  {
    char want[1024] = "";
    for (size_t i = 0; i < res.verdict.n; i++)
      strcat(want, "POST /api/v1/namespaces/kube-system/events {}\n");
    if (strcmp(paths, want) != 0)
      fail_msg("the API server was asked for:\n%s", paths);
  }
  assert_true(events_metric(m, "invalid") == (double)(res.verdict.n * (size_t)n));
  assert_true(events_metric(m, "posted") == (double)res.verdict.n);
  assert_int_equal(lgt_count_text(log_path, "not a Kubernetes name"), 1);
  assert_int_equal(lgt_count_text(log_path, "\"lease\":\"../x/l\""), 1);
  free(paths);
  free(body);
  lg_webhook_result_free(&res);
  lg_metrics_free(m);
}

static int no_lines(void *ud, const char *line, size_t len) {
  (void)ud, (void)line, (void)len;
  return 1;
}

/* kube.c sends no path that curl would resolve or the API server would split otherwise. */
static void test_kube_refuses(void **state) {
  static const char *const bad[] = {"/api/v1/namespaces/../x/events",
                                    "/api/v1/namespaces/a/events?dryRun=All#x",
                                    "/api/v1/namespaces/%2e%2e/events", "/api/v1/namespaces/a b"};
  lg_kube *k = NULL;
  lg_kube_result r;
  char err[256], *before, *after;
  (void)state;
  assert_int_equal(lg_kube_new(&env.kube, &k, err, sizeof err), LG_OK);
  before = requested_paths();
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_int_equal(lg_kube_call(k, "GET", bad[i], NULL, 5000, &r), LG_EINVAL);
    assert_non_null(strstr(r.message, "refusing to send the API path"));
    lg_kube_result_free(&r);
  }
  assert_int_equal(lg_kube_stream(k, "/apis/coordination.k8s.io/v1/namespaces/../leases?watch=1",
                                  5000, no_lines, NULL, &r),
                   LG_EINVAL);
  after = requested_paths();
  assert_string_equal(before, after);
  /* The control goes through. */
  assert_int_equal(
      lg_kube_call(k, "GET", "/apis/coordination.k8s.io/v1/namespaces/a/leases", NULL, 5000, &r),
      LG_OK);
  assert_int_equal(r.status, 200);
  lg_kube_result_free(&r);
  lg_kube_free(k);
  free(before);
  free(after);
}

/* Runs leaseguard with args against the test API server; returns the exit status and its
 * stderr (new) in *err_text. */
static int run_cli(char *const args[], char **err_text) {
  char server[80], token[LGT_PATH_LEN + 16], cafile[LGT_PATH_LEN + 32], err[LGT_PATH_LEN];
  char *argv[16];
  int n = 0, status;
  pid_t pid;
  snprintf(server, sizeof server, "--server=https://127.0.0.1:%d", env.port);
  snprintf(token, sizeof token, "--token-file=%s", env.token_file);
  snprintf(cafile, sizeof cafile, "--certificate-authority=%s", env.ca);
  lgt_path(err, env.dir, "cli.err");
  argv[n++] = (char *)LEASEGUARD_BIN;
  for (size_t i = 0; args[i]; i++)
    argv[n++] = args[i];
  argv[n++] = server;
  argv[n++] = token;
  argv[n++] = cafile;
  argv[n] = NULL;
  pid = lgt_spawn(argv, "/dev/null", err);
  status = lgt_wait_exit(pid, 10000);
  if (status < 0)
    lgt_stop(pid, SIGKILL, 1000);
  *err_text = lgt_slurp(err);
  return status;
}

/* elect and audit --watch refuse names that would go into their API paths, before any call. */
static void test_cli_refuses(void **state) {
  static const struct {
    const char *args[6], *message;
    int exit_code;
  } cases[] = {
      {{"elect", "--lock-namespace=../x", "--lock-name=l", NULL}, "is not a namespace name", 2},
      {{"elect", "--lock-namespace=a", "--lock-name=l?dryRun=All", NULL}, "is not a lease name", 2},
      {{"elect", "--lock-namespace=a", "--lock-name=%2e%2e", NULL}, "is not a lease name", 2},
      {{"audit", "--watch", "--namespace=../x", NULL}, "is not a namespace name", 2},
  };
  char *before = requested_paths(), *after, *err;
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    int st = run_cli((char *const *)cases[i].args, &err);
    if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != cases[i].exit_code ||
        !strstr(err, cases[i].message))
      fail_msg("%s %s %s: status %d, stderr: %s", cases[i].args[0], cases[i].args[1],
               cases[i].args[2], st, err);
    free(err);
  }
  after = requested_paths();
  assert_string_equal(before, after);
  free(before);
  free(after);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names),        cmocka_unit_test(test_path_building),
      cmocka_unit_test(test_path_check),   cmocka_unit_test(test_events_hostile_names),
      cmocka_unit_test(test_kube_refuses), cmocka_unit_test(test_cli_refuses),
  };
  return cmocka_run_group_tests(tests, setup_api, teardown_api);
}
