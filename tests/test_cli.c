/* test_cli.c -- the command line as people use it: one usage and exit-code convention for
 * every command, start errors as JSON log lines, and `elect` and `audit --watch` reaching the
 * test API server from a laptop-style setup: $KUBECONFIG with two files merged and an exec
 * credential plugin, no flags. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"

#define TOKEN "exec-issued-token"
#define NS    "kcfg"

static lgt_tls tls;
static char api_log[LGT_PATH_LEN];
static int api_port;
static pid_t api_pid = -1;

/* Runs leaseguard with args (NULL-terminated, after the binary) and returns the exit status;
 * stdout and stderr go to dir/out and dir/err. */
static int run(const char *const *args) {
  char *argv[32], out[LGT_PATH_LEN], err[LGT_PATH_LEN];
  size_t n = 0;
  int st;
  argv[n++] = LEASEGUARD_BIN;
  for (; *args && n < 31; args++)
    argv[n++] = (char *)*args;
  argv[n] = NULL;
  lgt_path(out, tls.dir, "out");
  lgt_path(err, tls.dir, "err");
  st = lgt_wait_exit(lgt_spawn(argv, out, err), 30000);
  assert_true(st >= 0 && WIFEXITED(st));
  return WEXITSTATUS(st);
}

static char *slurp_in(const char *name) {
  char path[LGT_PATH_LEN];
  lgt_path(path, tls.dir, name);
  return lgt_slurp(path);
}

/* ---- the convention ---- */

static void test_help_everywhere(void **state) {
  static const char *const cmds[][3] = {{"--help"},
                                        {"help"},
                                        {"serve", "--help"},
                                        {"check", "-h"},
                                        {"certs", "--help"},
                                        {"elect", "--help"},
                                        {"selftest", "--help"},
                                        {"audit", "--help"},
                                        {"version", "--help"}};
  (void)state;
  for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
    int st = run(cmds[i]);
    char *out = slurp_in("out"), *err = slurp_in("err");
    if (st != 0 || strncmp(out, "Usage: leaseguard", 17) != 0 || err[0])
      fail_msg("%s %s: exit %d, stdout \"%.60s\", stderr \"%s\"", cmds[i][0],
               cmds[i][1] ? cmds[i][1] : "", st, out, err);
    free(out);
    free(err);
  }
}

static void test_usage_errors(void **state) {
  static const struct {
    const char *cmd, *args[4], *why;
  } cases[] = {
      {"serve", {"--bogus"}, "unknown argument \"--bogus\""},
      {"serve",
       {"--secure-port=http", "--tls-cert-file=a", "--tls-private-key-file=b"},
       "--secure-port must be a whole number"},
      {"serve", {"--mode=strict"}, "--mode must be"},
      {"serve", {"--policy-file=x"}, "--tls-cert-file and --tls-private-key-file are required"},
      {"serve",
       {"--tls-cert-file=a", "--tls-private-key-file=b", "--kubeconfig=k"},
       "the API access flags are for --events"},
      {"serve", {"--kubeconfig="}, "--kubeconfig must not be empty"},
      {"check", {"--bogus"}, "unknown flag --bogus"},
      {"check", {"--now=yesterday"}, "--now must be an RFC 3339 time"},
      {"certs", {"--bogus"}, "unknown argument"},
      {"certs", {"--out-dir=x", "--days=-1"}, "--days must be a positive whole number"},
      {"certs", {"--dns=a"}, "--out-dir is required"},
      {"elect", {"--bogus"}, "unknown argument --bogus"},
      {"elect", {"--lock-namespace=a"}, "--lock-name is required"},
      {"elect", {"--lock-name=a", "--leader-elect-lease-duration=soon"}, "durations must be"},
      {"elect",
       {"--lock-name=a", "--leader-elect-lease-duration=5s", "--leader-elect-renew-deadline=10s"},
       "lease duration must be greater than renew deadline"},
      {"elect", {"--lock-name=a", "--misbehave=loudly"}, "unknown --misbehave"},
      {"elect", {"--lock-name=a", "--context="}, "--context must not be empty"},
      {"elect", {"--lock-name"}, "flag --lock-name needs a value"},
      {"elect", {"--lock-name=a", "--run"}, "--run needs a command"},
      {"selftest", {"--bogus"}, "unknown argument --bogus"},
      {"selftest", {"--expect=off"}, "--expect must be enforce, warn or audit"},
      {"selftest", {"--failover-slack=lots"}, "durations must be"},
      {"selftest", {"--namespace="}, "--namespace must not be empty"},
      {"audit", {"--bogus"}, "unknown flag --bogus"},
      {"audit", {"--output=yaml"}, "--output must be table or json"},
      {"audit", {"--context=x", "-"}, "the API flags need --watch"},
      {"audit", {"--watch", "--token-file"}, "flag --token-file needs a value"},
      {"version", {"--bogus"}, "unknown argument --bogus"},
      {"serve",
       {"--fencing-unknown=maybe", "--tls-cert-file=a", "--tls-private-key-file=b"},
       "--fencing-unknown must be deny or allow, not \"maybe\""},
      {"serve", {"--threads", "1025"}, "--threads must be a whole number in 0..1024"},
      {"check", {"a", "b"}, "give one input file"},
      {"certs", {"--out-dir=x", "--dns"}, "flag --dns needs a value"},
      {"audit",
       {"--watch", "--policy-reports", "--policy-report-ttl=0s"},
       "--policy-report-ttl must be 1s..2160h, got \"0s\""},
      {"audit", {"--watch", "--watch-timeout", "25h"}, "--watch-timeout must be 1s..24h"},
  };
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const char *args[6] = {cases[i].cmd};
    char want[128], hint[128];
    for (int k = 0; k < 4; k++)
      args[k + 1] = cases[i].args[k];
    int st = run(args);
    char *out = slurp_in("out"), *err = slurp_in("err");
    snprintf(want, sizeof want, "leaseguard %s: ", cases[i].cmd);
    snprintf(hint, sizeof hint, "\nRun 'leaseguard %s --help' for usage.\n", cases[i].cmd);
    if (st != 2 || strncmp(err, want, strlen(want)) != 0 || !strstr(err, cases[i].why) ||
        !strstr(err, hint) || out[0])
      fail_msg("%s %s: exit %d, stderr \"%s\", stdout \"%s\"", cases[i].cmd, cases[i].args[0], st,
               err, out);
    free(out);
    free(err);
  }
  /* No command, or an unknown one. */
  {
    const char *none[] = {NULL}, *unknown[] = {"frobnicate", NULL};
    char *err;
    assert_int_equal(run(none), 2);
    err = slurp_in("err");
    assert_int_equal(strncmp(err, "Usage: leaseguard", 17), 0);
    free(err);
    assert_int_equal(run(unknown), 2);
    err = slurp_in("err");
    assert_non_null(strstr(err, "unknown command \"frobnicate\""));
    free(err);
  }
}

/* Each line of dir/err is a JSON log line; returns the first with msg "cannot start". */
static json_t *start_error(void) {
  char *err = slurp_in("err"), *save = NULL;
  json_t *found = NULL;
  for (char *line = strtok_r(err, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    json_t *o = json_loads(line, 0, NULL);
    if (!o)
      fail_msg("not a JSON log line: %s", line);
    if (!found && json_is_string(json_object_get(o, "time")) &&
        !strcmp(json_string_value(json_object_get(o, "msg")), "cannot start"))
      found = json_incref(o);
    json_decref(o);
  }
  free(err);
  if (!found)
    fail_msg("no \"cannot start\" line");
  return found;
}

static void test_start_errors_are_json(void **state) {
  char kc[LGT_PATH_LEN + 16], cert[LGT_PATH_LEN + 16], key[LGT_PATH_LEN + 32];
  char home[LGT_PATH_LEN], port[32];
  (void)state;
  snprintf(port, sizeof port, "--secure-port=%d", lgt_free_port());
  snprintf(kc, sizeof kc, "--kubeconfig=%s/none", tls.dir);
  snprintf(cert, sizeof cert, "--tls-cert-file=%s", tls.cert);
  snprintf(key, sizeof key, "--tls-private-key-file=%s", tls.key);
  const struct {
    const char *args[8], *cmd, *why;
  } cases[] = {
      {{"elect", "--lock-namespace=a", "--lock-name=b", kc}, "elect", "cannot open kubeconfig"},
      {{"audit", "--watch", kc}, "audit", "cannot open kubeconfig"},
      {{"audit", "--watch", "--policy-file=/nonexistent.json"}, "audit", "/nonexistent.json"},
      {{"serve", cert, key, "--events", kc, port}, "serve", "cannot open kubeconfig"},
      {{"serve", cert, "--tls-private-key-file=/nonexistent.key", port},
       "serve",
       "/nonexistent.key"},
      /* No access configured at all. */
      {{"elect", "--lock-namespace=a", "--lock-name=b"},
       "elect",
       "no API access configured: no --kubeconfig or --server, $KUBECONFIG is not set"},
  };
  lgt_path(home, tls.dir, "empty-home");
  setenv("HOME", home, 1);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    int st = run(cases[i].args);
    json_t *line = start_error();
    const char *error = json_string_value(json_object_get(line, "error"));
    if (st != 1 || strcmp(json_string_value(json_object_get(line, "level")), "error") ||
        strcmp(json_string_value(json_object_get(line, "command")), cases[i].cmd) || !error ||
        !strstr(error, cases[i].why))
      fail_msg("%s %s: exit %d, line %s", cases[i].args[0], cases[i].args[1], st,
               json_dumps(line, JSON_COMPACT));
    json_decref(line);
  }
}

/* ---- $KUBECONFIG with two files and an exec plugin, against the test API server ---- */

/* The plugin counts its runs and answers the API server's token, valid for an hour. */
static const char plugin[] =
    "#!/bin/sh\n"
    "n=$(cat \"$COUNT_FILE\" 2>/dev/null || echo 0); echo $((n + 1)) > \"$COUNT_FILE\"\n"
    "[ \"$1\" = get-token ] || { echo \"usage: plugin get-token\" >&2; exit 64; }\n"
    "exp=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)\n"
    "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
    "\"status\":{\"token\":\"%s\",\"expirationTimestamp\":\"%s\"}}\\n' \"$TOKEN\" \"$exp\"\n";

/* users.yaml (first) holds the context and the user; clusters.yaml (second) the cluster, and
 * a context of the same name and a current-context that must lose to the first file's. */
static void write_kubeconfigs(const char *token, char *list, size_t len) {
  char path[LGT_PATH_LEN], text[4096];
  lgt_path(path, tls.dir, "laptop");
  mkdir(path, 0700);
  lgt_path(path, tls.dir, "laptop/bin");
  mkdir(path, 0700);
  lgt_path(path, tls.dir, "laptop/bin/plugin.sh");
  lgt_write_file(path, plugin);
  assert_int_equal(chmod(path, 0700), 0);
  snprintf(text, sizeof text,
           "apiVersion: v1\nkind: Config\ncurrent-context: lab\n"
           "contexts:\n- name: lab\n  context: {cluster: lab-cluster, user: lab-user, "
           "namespace: " NS "}\n"
           "users:\n- name: lab-user\n  user:\n    exec:\n"
           "      apiVersion: client.authentication.k8s.io/v1\n"
           "      command: ./bin/plugin.sh\n      args: [get-token]\n"
           "      env:\n      - {name: COUNT_FILE, value: '%s/laptop/runs'}\n"
           "      - {name: TOKEN, value: '%s'}\n"
           "      interactiveMode: Never\n",
           tls.dir, token);
  lgt_path(path, tls.dir, "laptop/users.yaml");
  lgt_write_file(path, text);
  snprintf(text, sizeof text,
           "apiVersion: v1\nkind: Config\ncurrent-context: decoy\n"
           "contexts:\n- name: lab\n  context: {cluster: decoy, user: decoy, namespace: decoy}\n"
           "- name: decoy\n  context: {cluster: decoy, user: decoy}\n"
           "clusters:\n- name: lab-cluster\n  cluster:\n    server: https://127.0.0.1:%d\n"
           "    certificate-authority: %s\n"
           "- name: decoy\n  cluster: {server: 'https://127.0.0.1:1'}\n"
           "users:\n- name: decoy\n  user: {token: decoy}\n",
           api_port, tls.ca);
  lgt_path(path, tls.dir, "laptop/clusters.yaml");
  lgt_write_file(path, text);
  snprintf(list, len, "%s/laptop/users.yaml:%s/laptop/clusters.yaml", tls.dir, tls.dir);
  lgt_path(path, tls.dir, "laptop/runs");
  unlink(path);
}

static int plugin_runs(void) {
  char *text = slurp_in("laptop/runs");
  int n = atoi(text);
  free(text);
  return n;
}

static void test_elect_and_audit_from_a_laptop(void **state) {
  char list[2 * LGT_PATH_LEN + 8], elog[LGT_PATH_LEN], alog[LGT_PATH_LEN], aout[LGT_PATH_LEN];
  char http[64], url[96], lease[160];
  pid_t elect, audit;
  lgt_reply r;
  (void)state;
  write_kubeconfigs(TOKEN, list, sizeof list);
  setenv("KUBECONFIG", list, 1);
  unsetenv("KUBERNETES_SERVICE_HOST");
  lgt_path(elog, tls.dir, "elect.log");
  lgt_path(alog, tls.dir, "audit.log");
  lgt_path(aout, tls.dir, "audit.out");

  /* No API flag and no --lock-namespace: both come from the merged kubeconfig. */
  char *eargv[] = {LEASEGUARD_BIN,
                   "elect",
                   "--lock-name=laptop-lock",
                   "--identity=laptop_1",
                   "--leader-elect-lease-duration=4s",
                   "--leader-elect-renew-deadline=3s",
                   "--leader-elect-retry-period=500ms",
                   NULL};
  elect = lgt_spawn(eargv, elog, elog);
  if (!lgt_wait_for_text(elog, "became leader", 15000)) {
    char *text = lgt_slurp(elog);
    fail_msg("elect did not lead: %s", text);
  }
  assert_true(lgt_wait_for_text(elog, "\"msg\":\"API access\"", 100));
  assert_int_equal(lgt_count_text(elog, "context \\\"lab\\\""), 1);
  assert_int_equal(lgt_count_text(elog, "\"namespace\":\"" NS "\""), 1);
  assert_int_equal(lgt_count_text(elog, "\"execPlugin\":true"), 1);

  /* The lease is where the context's namespace says, written with the plugin's token. */
  snprintf(lease, sizeof lease,
           "/apis/coordination.k8s.io/v1/namespaces/" NS "/leases/laptop-lock");
  lgt_http(tls.ca, "GET", api_port, TOKEN, lease, NULL, &r);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.body, "\"holderIdentity\":\"laptop_1\""));
  free(r.body);

  int http_port = lgt_free_port();
  snprintf(http, sizeof http, "--http=127.0.0.1:%d", http_port);
  char *aargv[] = {LEASEGUARD_BIN, "audit", "--watch", "--namespace=" NS, http, NULL};
  audit = lgt_spawn(aargv, aout, alog);
  assert_true(lgt_wait_for_text(alog, "\"msg\":\"listed leases\"", 15000));
  assert_int_equal(lgt_count_text(alog, "\"leases\":1,"), 1); /* a JSON number */
  snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", http_port);
  /* Renewals seen through the watch: the lease-health metrics move. */
  bool renewed = false;
  for (int i = 0; i < 50 && !renewed; i++) {
    lgt_get(url, NULL, 2000, &r);
    renewed = r.body &&
              strstr(r.body, "leaseguard_lease_renewals_total{namespace=\"" NS
                             "\",name=\"laptop-lock\"} ") &&
              !strstr(r.body, "leaseguard_lease_renewals_total{namespace=\"" NS
                              "\",name=\"laptop-lock\"} 0\n");
    free(r.body);
    if (!renewed)
      lgt_sleep_ms(200);
  }
  assert_true(renewed);

  /* Two processes, many calls: each ran the plugin once (cached until it expires). */
  assert_int_equal(plugin_runs(), 2);
  assert_int_equal(lgt_stop(audit, SIGTERM, 10000), 0);
  assert_int_equal(lgt_stop(elect, SIGTERM, 10000), 0);
  /* Every request the API server saw was authenticated as the plugin's user. */
  assert_int_equal(lgt_count_text(api_log, "\"status\":401"), 0);
  unsetenv("KUBECONFIG");
}

/* A plugin that fails: elect keeps trying and says why, naming the plugin and its stderr. */
static void test_failing_plugin(void **state) {
  char list[2 * LGT_PATH_LEN + 8], elog[LGT_PATH_LEN], path[LGT_PATH_LEN];
  pid_t elect;
  (void)state;
  write_kubeconfigs(TOKEN, list, sizeof list);
  lgt_path(path, tls.dir, "laptop/bin/plugin.sh");
  lgt_write_file(path, "#!/bin/sh\necho 'error: SSO session expired; run aws sso login' >&2\n"
                       "exit 7\n");
  setenv("KUBECONFIG", list, 1);
  lgt_path(elog, tls.dir, "elect-failing.log");
  char *eargv[] = {LEASEGUARD_BIN,
                   "elect",
                   "--lock-name=failing-lock",
                   "--identity=laptop_2",
                   "--leader-elect-lease-duration=4s",
                   "--leader-elect-renew-deadline=3s",
                   "--leader-elect-retry-period=500ms",
                   NULL};
  elect = lgt_spawn(eargv, elog, elog);
  assert_true(
      lgt_wait_for_text(elog, "exec plugin \\\"plugin.sh\\\" (user \\\"lab-user\\\" in ", 15000));
  assert_true(lgt_wait_for_text(elog,
                                "failed with exit code 7: error: SSO session expired; run aws "
                                "sso login",
                                100));
  assert_int_equal(lgt_stop(elect, SIGTERM, 10000), 0);
  assert_int_equal(lgt_count_text(elog, "became leader"), 0);
  unsetenv("KUBECONFIG");
}

/* insecure-skip-tls-verify works, as in kubectl, and is warned about at start. */
static void test_insecure_warned(void **state) {
  char path[LGT_PATH_LEN], text[1024], flag[LGT_PATH_LEN + 16], log[LGT_PATH_LEN];
  pid_t audit;
  (void)state;
  snprintf(text, sizeof text,
           "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
           "clusters:\n- name: k\n  cluster: {server: 'https://127.0.0.1:%d', "
           "insecure-skip-tls-verify: true}\n"
           "users:\n- name: u\n  user: {token: " TOKEN "}\n",
           api_port);
  lgt_path(path, tls.dir, "insecure.yaml");
  lgt_write_file(path, text);
  snprintf(flag, sizeof flag, "--kubeconfig=%s", path);
  lgt_path(log, tls.dir, "insecure.log");
  char *argv[] = {LEASEGUARD_BIN, "audit", "--watch", "--namespace=" NS, flag, NULL};
  audit = lgt_spawn(argv, NULL, log);
  assert_true(lgt_wait_for_text(log, "\"msg\":\"listed leases\"", 15000));
  assert_int_equal(lgt_count_text(log, "\"level\":\"warning\",\"msg\":\"the API server's "
                                       "certificate is not verified (insecure-skip-tls-verify)"),
                   1);
  assert_int_equal(lgt_stop(audit, SIGTERM, 10000), 0);
}

static int setup(void **state) {
  char tokens[LGT_PATH_LEN], portfile[LGT_PATH_LEN];
  (void)state;
  if (lgt_tls_setup(&tls, "cli") != 0)
    return -1;
  lgt_path(tokens, tls.dir, "tokens.csv");
  lgt_write_file(tokens, TOKEN ",laptop-user,uid-1,\"system:masters\"\n");
  lgt_path(portfile, tls.dir, "api.port");
  lgt_path(api_log, tls.dir, "api.log");
  const lgt_apiserver as = {.cert = tls.cert,
                            .key = tls.key,
                            .ca = tls.ca,
                            .tokens = tokens,
                            .port_file = portfile,
                            .extra = (const char *[]){"--bind-address=127.0.0.1", NULL},
                            .out = api_log,
                            .err = api_log};
  api_port = lgt_apiserver_start(&as, &api_pid);
  /* The commands see only what each test sets. */
  unsetenv("KUBECONFIG");
  unsetenv("KUBERNETES_SERVICE_HOST");
  unsetenv("KUBERNETES_SERVICE_PORT");
  unsetenv("https_proxy");
  unsetenv("HTTPS_PROXY");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  lgt_stop(api_pid, SIGTERM, 10000);
  lgt_tls_teardown(&tls);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_help_everywhere),
      cmocka_unit_test(test_usage_errors),
      cmocka_unit_test(test_start_errors_are_json),
      cmocka_unit_test(test_elect_and_audit_from_a_laptop),
      cmocka_unit_test(test_failing_plugin),
      cmocka_unit_test(test_insecure_warned),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
