/* test_execcred.c -- execcred.c: exec credential plugins written by the test as small shell
 * scripts: tokens and certificates, caching until expiry, invalidation after a 401, failing,
 * hanging, flooding and missing plugins, interactiveMode, and the ExecCredential decoder. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "execcred.h"
#include "harness.h"

#define V1           "client.authentication.k8s.io/v1"
#define V1BETA1      "client.authentication.k8s.io/v1beta1"
#define CRED(status) "{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\",\"status\":" status "}"

static char dir[LGT_PATH_LEN];
static lgt_tls tls; /* a certificate and key for plugins that answer with one */

/* Writes an executable script dir/name; its path into path (LGT_PATH_LEN). */
static void script(const char *name, const char *body, char *path) {
  lgt_path(path, dir, name);
  lgt_write_file(path, body);
  assert_int_equal(chmod(path, 0700), 0);
}

/* A plugin for script path with the given settings (NULL mode: Never). */
static lg_execcred *plugin(const char *path, const char *version, const char *mode, long timeout_ms,
                           size_t max_output) {
  lg_execcred_opts o = {.name = "user \"test\" in kubeconfig",
                        .command = path,
                        .api_version = version ? version : V1,
                        .interactive_mode = mode ? mode : "Never",
                        .timeout_ms = timeout_ms,
                        .max_output = max_output};
  lg_execcred *x = NULL;
  char err[512] = "";
  if (lg_execcred_new(&o, &x, err, sizeof err) != LG_OK)
    fail_msg("lg_execcred_new: %s", err);
  return x;
}

static lg_time at(const char *rfc3339) {
  lg_time t;
  assert_int_equal(lg_time_parse(rfc3339, &t), LG_OK);
  return t;
}

/* The number in dir/name (the scripts count their runs there), 0 when missing. */
static int count(const char *name) {
  char path[LGT_PATH_LEN], *text;
  int n;
  lgt_path(path, dir, name);
  text = lgt_slurp(path);
  n = atoi(text);
  free(text);
  return n;
}

/* A script that counts its runs in dir/<counter> and prints a token "<prefix>-<run>", with
 * the given expirationTimestamp (NULL: none). */
static void counting_plugin(const char *name, const char *counter, const char *expiry, char *path) {
  char body[2048];
  snprintf(body, sizeof body,
           "#!/bin/sh\n"
           "n=$(cat '%s/%s' 2>/dev/null || echo 0); n=$((n + 1)); echo $n > '%s/%s'\n"
           "printf '{\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\",\"status\":"
           "{\"token\":\"tok-%%s\"%s%s%s}}' $n\n",
           dir, counter, dir, counter, V1, expiry ? ",\"expirationTimestamp\":\"" : "",
           expiry ? expiry : "", expiry ? "\"" : "");
  script(name, body, path);
}

/* ---- success and caching ---- */

static void test_token_cached_without_expiry(void **state) {
  char path[LGT_PATH_LEN], err[512] = "";
  lg_execcred_cred c;
  lg_execcred *x;
  (void)state;
  counting_plugin("forever.sh", "forever.count", NULL, path);
  x = plugin(path, NULL, NULL, 0, 0);
  assert_int_equal(lg_execcred_runs(x), 0); /* nothing runs before it is needed */
  assert_int_equal(lg_execcred_get(x, at("2026-01-01T00:00:00Z"), &c, err, sizeof err), LG_OK);
  assert_string_equal(c.token, "tok-1");
  assert_true(c.fresh);
  assert_false(c.has_expiry);
  assert_int_equal(c.generation, 1);
  lg_execcred_cred_free(&c);
  /* No expiry: kept for good (years later too), until the API server refuses it. */
  assert_int_equal(lg_execcred_get(x, at("2036-01-01T00:00:00Z"), &c, err, sizeof err), LG_OK);
  assert_string_equal(c.token, "tok-1");
  assert_false(c.fresh);
  lg_execcred_cred_free(&c);
  assert_int_equal(count("forever.count"), 1);

  /* A 401 to generation 1: the next get runs the plugin again. */
  lg_execcred_invalidate(x, 1);
  assert_int_equal(lg_execcred_get(x, at("2036-01-01T00:00:00Z"), &c, err, sizeof err), LG_OK);
  assert_string_equal(c.token, "tok-2");
  assert_true(c.fresh);
  assert_int_equal(c.generation, 2);
  lg_execcred_cred_free(&c);
  /* A late 401 to the old generation does not throw the new one away. */
  lg_execcred_invalidate(x, 1);
  assert_int_equal(lg_execcred_get(x, at("2036-01-01T00:00:00Z"), &c, err, sizeof err), LG_OK);
  assert_string_equal(c.token, "tok-2");
  lg_execcred_cred_free(&c);
  assert_int_equal(lg_execcred_runs(x), 2);
  assert_int_equal(count("forever.count"), 2);

  /* References: the last unref frees (checked by the sanitizers and valgrind). */
  assert_ptr_equal(lg_execcred_ref(x), x);
  lg_execcred_unref(x);
  lg_execcred_unref(x);
  lg_execcred_unref(NULL);
  assert_null(lg_execcred_ref(NULL));
}

static void test_expiry_reruns(void **state) {
  char path[LGT_PATH_LEN], err[512] = "";
  lg_execcred_cred c;
  lg_execcred *x;
  static const struct {
    const char *now, *token;
    bool fresh;
  } steps[] = {
      {"2030-01-01T11:00:00Z", "tok-1", true},
      {"2030-01-01T11:59:59Z", "tok-1", false}, /* cached until its expiry */
      {"2030-01-01T12:00:00Z", "tok-1", false}, /* at it, still (client-go: after) */
      {"2030-01-01T12:00:01Z", "tok-2", true},  /* past it: run again */
      {"2030-01-01T12:30:00Z", "tok-3", true},  /* the plugin keeps answering the same expiry */
  };
  (void)state;
  counting_plugin("expiring.sh", "expiring.count", "2030-01-01T12:00:00Z", path);
  x = plugin(path, NULL, NULL, 0, 0);
  for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
    if (lg_execcred_get(x, at(steps[i].now), &c, err, sizeof err) != LG_OK)
      fail_msg("%s: %s", steps[i].now, err);
    if (strcmp(c.token, steps[i].token) || c.fresh != steps[i].fresh)
      fail_msg("at %s: token %s fresh %d, want %s %d", steps[i].now, c.token, c.fresh,
               steps[i].token, steps[i].fresh);
    assert_true(c.has_expiry);
    assert_true(c.expiry == at("2030-01-01T12:00:00Z"));
    lg_execcred_cred_free(&c);
  }
  assert_int_equal(count("expiring.count"), 3);
  lg_execcred_unref(x);
}

/* Two threads asking at once: the plugin runs once, both get its token. */
typedef struct {
  lg_execcred *x;
  char token[64];
} getter;

static void *get_thread(void *arg) {
  getter *g = arg;
  lg_execcred_cred c;
  char err[256];
  if (lg_execcred_get(g->x, at("2026-01-01T00:00:00Z"), &c, err, sizeof err) == LG_OK)
    snprintf(g->token, sizeof g->token, "%s", c.token);
  lg_execcred_cred_free(&c);
  return NULL;
}

static void test_one_run_at_a_time(void **state) {
  char path[LGT_PATH_LEN], body[1024];
  pthread_t t[4];
  getter g[4];
  lg_execcred *x;
  (void)state;
  snprintf(
      body, sizeof body,
      "#!/bin/sh\nsleep 0.3\necho x >> '%s/slow.runs'\necho '" CRED("{\"token\":\"slow\"}") "'\n",
      dir);
  script("slow.sh", body, path);
  x = plugin(path, NULL, NULL, 0, 0);
  for (int i = 0; i < 4; i++) {
    g[i] = (getter){.x = x};
    assert_int_equal(pthread_create(&t[i], NULL, get_thread, &g[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    assert_string_equal(g[i].token, "slow");
  }
  lgt_path(path, dir, "slow.runs");
  assert_int_equal(lgt_count_text(path, "x"), 1);
  lg_execcred_unref(x);
}

static void test_client_certificate(void **state) {
  char path[LGT_PATH_LEN], json_path[LGT_PATH_LEN], body[1024], err[512] = "";
  char *cert = lgt_read_file(tls.cert, NULL), *key = lgt_read_file(tls.key, NULL);
  char *ca = lgt_read_file(tls.ca, NULL);
  json_t *out;
  lg_execcred_cred c;
  lg_execcred *x;
  (void)state;
  assert_non_null(cert);
  assert_non_null(key);
  /* The plugin prints a file the test wrote: an ExecCredential with the pair. */
  out = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}}", "apiVersion", V1BETA1, "kind", "ExecCredential",
                  "status", "clientCertificateData", cert, "clientKeyData", key,
                  "expirationTimestamp", "2031-05-06T07:08:09Z");
  lgt_path(json_path, dir, "pair.json");
  assert_int_equal(json_dump_file(out, json_path, 0), 0);
  json_decref(out);
  snprintf(body, sizeof body, "#!/bin/sh\ncat '%s'\n", json_path);
  script("pair.sh", body, path);
  x = plugin(path, V1BETA1, NULL, 0, 0);
  assert_int_equal(lg_execcred_get(x, at("2031-01-01T00:00:00Z"), &c, err, sizeof err), LG_OK);
  assert_null(c.token);
  assert_string_equal(c.cert_pem, cert);
  assert_string_equal(c.key_pem, key);
  assert_true(c.expiry == at("2031-05-06T07:08:09Z"));
  lg_execcred_cred_free(&c);
  lg_execcred_unref(x);

  /* A key that is not the certificate's is refused, naming the plugin. */
  out = json_pack("{s:s, s:s, s:{s:s, s:s}}", "apiVersion", V1, "kind", "ExecCredential", "status",
                  "clientCertificateData", ca, "clientKeyData", key);
  assert_int_equal(json_dump_file(out, json_path, 0), 0);
  json_decref(out);
  x = plugin(path, NULL, NULL, 0, 0);
  assert_int_equal(lg_execcred_get(x, 0, &c, err, sizeof err), LG_EINVAL);
  assert_non_null(strstr(err, "exec plugin \"pair.sh\" (user \"test\" in kubeconfig): its "
                              "clientCertificateData and clientKeyData are not a PEM certificate "
                              "and its key"));
  lg_execcred_unref(x);
  free(cert);
  free(key);
  free(ca);
}

/* ---- what the plugin gets ---- */

static void test_environment_args_stdin(void **state) {
  char path[LGT_PATH_LEN], body[2048], err[512] = "", *text;
  const char *args[] = {"eks", "get-token", "--cluster-name", "my cluster", ""};
  const char *env[] = {"LG_PLUGIN_A=one", "HOME=/plugin-home", "LG_EMPTY="};
  json_t *cluster =
      json_pack("{s:s, s:b}", "server", "https://api.example", "insecure-skip-tls-verify", 1);
  json_t *info;
  lg_execcred_cred c;
  lg_execcred *x;
  (void)state;
  snprintf(body, sizeof body,
           "#!/bin/sh\n"
           "cd '%s'\n"
           "printf '%%s|' \"$@\" > args.out\n"
           "printf '%%s|%%s|%%s|%%s' \"$LG_PLUGIN_A\" \"$HOME\" \"${LG_EMPTY-unset}\" "
           "\"$LG_FROM_PARENT\" > env.out\n"
           "printf '%%s' \"$KUBERNETES_EXEC_INFO\" > info.out\n"
           "cat > stdin.out\n" /* stdin is /dev/null: this ends at once */
           "echo '" CRED("{\"token\":\"t\"}") "'\n",
           dir);
  script("env.sh", body, path);
  setenv("LG_FROM_PARENT", "inherited", 1);
  setenv("HOME", "/parent-home", 1); /* the plugin's env entry wins */
  lg_execcred_opts o = {.name = "user \"u\"",
                        .command = path,
                        .args = args,
                        .n_args = 5,
                        .env = env,
                        .n_env = 3,
                        .api_version = V1,
                        .interactive_mode = "IfAvailable",
                        .cluster = cluster};
  assert_int_equal(lg_execcred_new(&o, &x, err, sizeof err), LG_OK);
  json_decref(cluster); /* copied */
  assert_int_equal(lg_execcred_get(x, 0, &c, err, sizeof err), LG_OK);
  lg_execcred_cred_free(&c);
  lg_execcred_unref(x);
  unsetenv("LG_FROM_PARENT");

  lgt_path(path, dir, "args.out");
  text = lgt_slurp(path);
  assert_string_equal(text, "eks|get-token|--cluster-name|my cluster||");
  free(text);
  lgt_path(path, dir, "env.out");
  text = lgt_slurp(path);
  assert_string_equal(text, "one|/plugin-home||inherited");
  free(text);
  lgt_path(path, dir, "stdin.out");
  text = lgt_slurp(path);
  assert_string_equal(text, "");
  free(text);
  lgt_path(path, dir, "info.out");
  text = lgt_slurp(path);
  info = json_loads(text, 0, NULL);
  free(text);
  json_t *want = json_pack("{s:s, s:s, s:{s:b, s:{s:s, s:b}}}", "apiVersion", V1, "kind",
                           "ExecCredential", "spec", "interactive", 0, "cluster", "server",
                           "https://api.example", "insecure-skip-tls-verify", 1);
  assert_true(json_equal(info, want));
  json_decref(want);
  json_decref(info);
}

static void test_plugin_in_path(void **state) {
  char path[LGT_PATH_LEN], bin[LGT_PATH_LEN], newpath[4 * LGT_PATH_LEN], err[512] = "";
  const char *old = getenv("PATH");
  char *saved = old ? strdup(old) : NULL;
  lg_execcred_cred c;
  lg_execcred *x;
  (void)state;
  lgt_path(bin, dir, "bin");
  mkdir(bin, 0700);
  script("bin/lg-test-credential-plugin",
         "#!/bin/sh\necho '" CRED("{\"token\":\"from-path\"}") "'\n", path);
  snprintf(newpath, sizeof newpath, "%s:%s", bin, saved ? saved : "/usr/bin:/bin");
  setenv("PATH", newpath, 1);
  x = plugin("lg-test-credential-plugin", NULL, NULL, 0, 0);
  assert_int_equal(lg_execcred_get(x, 0, &c, err, sizeof err), LG_OK);
  assert_string_equal(c.token, "from-path");
  lg_execcred_cred_free(&c);
  lg_execcred_unref(x);
  if (saved)
    setenv("PATH", saved, 1);
  free(saved);
}

/* ---- failures ---- */

typedef struct {
  const char *name, *body; /* body NULL: the command does not exist */
  long timeout_ms;
  size_t max_output;
  const char *want[3]; /* parts of the message */
} fail_case;

static const fail_case fail_cases[] = {
    {"fails",
     "#!/bin/sh\necho 'error: the SSO session has expired,' >&2\n"
     "echo '  run: aws sso login --profile prod' >&2\nexit 3\n",
     0,
     0,
     {"exec plugin \"fails.sh\" (user \"test\" in kubeconfig) failed with exit code 3: ",
      "error: the SSO session has expired, run: aws sso login --profile prod"}},
    {"fails-quietly", "#!/bin/sh\nexit 1\n", 0, 0, {"exit code 1: (nothing on stderr)"}},
    {"long-stderr",
     "#!/bin/sh\nhead -c 100000 /dev/zero | tr '\\0' e >&2\nexit 2\n",
     0,
     0,
     {"exit code 2: eeee", "e ..."}},
    {"killed",
     "#!/bin/sh\necho dying >&2\nkill -KILL $$\n",
     0,
     0,
     {"\"killed.sh\" (user \"test\" in kubeconfig) was killed by signal 9: dying"}},
    {"hangs",
     "#!/bin/sh\necho 'waiting for a browser' >&2\nsleep 30\n",
     500,
     0,
     {"exec plugin \"hangs.sh\" (user \"test\" in kubeconfig) did not finish within 0.5s and "
      "was killed; stderr: waiting for a browser"}},
    {"hangs-silently",
     "#!/bin/sh\nexec >/dev/null 2>&1\nsleep 30\n",
     500,
     0,
     {"did not finish within 0.5s"}},
    {"floods",
     "#!/bin/sh\nwhile :; do echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; done\n",
     0,
     4096,
     {"exec plugin \"floods.sh\" (user \"test\" in kubeconfig) wrote more than 4096 bytes "
      "and was killed"}},
    {"not-json",
     "#!/bin/sh\necho 'Token: abc'\n",
     0,
     0,
     {"exec plugin \"not-json.sh\" (user \"test\" in kubeconfig): its output is not an "
      "ExecCredential"}},
    {"wrong-version",
     "#!/bin/sh\necho '{\"apiVersion\":\"" V1BETA1 "\",\"kind\":\"ExecCredential\","
     "\"status\":{\"token\":\"t\"}}'\n",
     0,
     0,
     {"it is configured to use API version " V1 ", plugin returned version " V1BETA1}},
    {"no-status",
     "#!/bin/sh\necho '{\"apiVersion\":\"" V1 "\",\"kind\":\"ExecCredential\"}'\n",
     0,
     0,
     {"it didn't return a status field"}},
    {"missing",
     NULL,
     0,
     0,
     {"exec plugin (user \"test\" in kubeconfig): executable \"", "\" not "
                                                                  "found"}},
};

static void test_failures(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof fail_cases / sizeof *fail_cases; i++) {
    const fail_case *t = &fail_cases[i];
    char path[LGT_PATH_LEN], name[128], err[512] = "";
    struct timespec t0;
    lg_execcred_cred c;
    lg_execcred *x;
    lg_rc rc;
    snprintf(name, sizeof name, "%s.sh", t->name);
    if (t->body)
      script(name, t->body, path);
    else
      lgt_path(path, dir, "no-such-plugin");
    x = plugin(path, NULL, NULL, t->timeout_ms, t->max_output);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = lg_execcred_get(x, 0, &c, err, sizeof err);
    if (rc == LG_OK)
      fail_msg("%s: succeeded", t->name);
    assert_null(c.token);
    for (int k = 0; k < 3 && t->want[k]; k++)
      if (!strstr(err, t->want[k]))
        fail_msg("%s: \"%s\" does not contain \"%s\"", t->name, err, t->want[k]);
    assert_true(strlen(err) < 480); /* stderr is cut */
    /* Bounded: the hanging ones are killed at their limit (generous bound: shared CI). */
    if (lgt_elapsed_ms(&t0) > 10000)
      fail_msg("%s: took %ld ms", t->name, lgt_elapsed_ms(&t0));
    /* A failure is not cached: the plugin runs again next time. */
    if (t->body && !t->timeout_ms) {
      assert_int_not_equal(lg_execcred_get(x, 0, &c, err, sizeof err), LG_OK);
      assert_int_equal(lg_execcred_runs(x), 2);
    }
    lg_execcred_unref(x);
  }
}

/* What a hanging plugin started is killed with it (its process group). */
static void test_hang_kills_children(void **state) {
  char path[LGT_PATH_LEN], pidfile[LGT_PATH_LEN], body[1024], err[512] = "", *text;
  lg_execcred_cred c;
  lg_execcred *x;
  pid_t child;
  (void)state;
  lgt_path(pidfile, dir, "child.pid");
  snprintf(body, sizeof body, "#!/bin/sh\nsleep 60 &\necho $! > '%s'\nwait\n", pidfile);
  script("parent.sh", body, path);
  x = plugin(path, NULL, NULL, 400, 0);
  assert_int_not_equal(lg_execcred_get(x, 0, &c, err, sizeof err), LG_OK);
  lg_execcred_unref(x);
  text = lgt_slurp(pidfile);
  child = (pid_t)atoi(text);
  free(text);
  assert_true(child > 0);
  for (int i = 0; i < 100 && kill(child, 0) == 0; i++)
    lgt_sleep_ms(20); /* killed; its parent (init) reaps it */
  assert_int_equal(kill(child, 0), -1);
  assert_int_equal(errno, ESRCH);
}

/* ---- settings ---- */

static void test_settings(void **state) {
  static const struct {
    const char *command, *version, *mode, *env, *want; /* want NULL: accepted */
  } cases[] = {
      {"p", V1, "Never", NULL, NULL},
      {"p", V1, "IfAvailable", NULL, NULL},
      {"p", V1BETA1, NULL, NULL, NULL}, /* v1beta1 defaults to IfAvailable */
      {"p", V1, NULL, NULL, "interactiveMode must be set with " V1},
      {"p", V1, "Always", NULL,
       "exec plugin \"p\" (user \"test\"): interactiveMode is Always, but leaseguard never has a "
       "terminal for it"},
      {"p", V1, "Sometimes", NULL, "interactiveMode \"Sometimes\" is not"},
      {"p", "client.authentication.k8s.io/v1alpha1", "Never", NULL,
       "apiVersion \"client.authentication.k8s.io/v1alpha1\" is not supported"},
      {"p", NULL, "Never", NULL, "apiVersion \"\" is not supported"},
      {"", V1, "Never", NULL, "command is missing"},
      {"p", V1, "Never", "=value", "an env entry has no name"},
      {"p", V1, "Never", "NOEQUALS", "an env entry has no name"},
  };
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const char *env[1] = {cases[i].env};
    lg_execcred_opts o = {.name = "user \"test\"",
                          .command = cases[i].command,
                          .api_version = cases[i].version,
                          .interactive_mode = cases[i].mode,
                          .env = env,
                          .n_env = cases[i].env ? 1 : 0};
    static int dummy;
    lg_execcred *x = (lg_execcred *)&dummy;
    char err[512] = "";
    lg_rc rc = lg_execcred_new(&o, &x, err, sizeof err);
    if ((rc == LG_OK) != (cases[i].want == NULL) || (cases[i].want && !strstr(err, cases[i].want)))
      fail_msg("case %zu: rc %d \"%s\", want \"%s\"", i, rc, err,
               cases[i].want ? cases[i].want : "ok");
    if (rc)
      assert_null(x);
    lg_execcred_unref(x);
  }
}

/* ---- the decoder ---- */

static void test_parse_table(void **state) {
  static const struct {
    const char *text, *want; /* want: the token, or a part of the error after "!" */
  } cases[] = {
      {CRED("{\"token\":\"abc\"}"), "abc"},
      {CRED("{\"token\":\"abc\",\"expirationTimestamp\":null}"), "abc"},
      {CRED("{\"token\":\"abc\",\"expirationTimestamp\":\"2030-01-01T00:00:00.5+01:00\"}"), "abc"},
      {CRED("{\"token\":\"abc\",\"expirationTimestamp\":\"tomorrow\"}"),
       "!status.expirationTimestamp is not an RFC 3339 time"},
      {CRED("{\"token\":\"\"}"), "!it didn't return a token or cert/key pair"},
      {CRED("{}"), "!it didn't return a token or cert/key pair"},
      {CRED("{\"token\":5}"), "!must be strings"},
      {CRED("{\"clientKeyData\":\"k\"}"), "!it returned only certificate or key, not both"},
      {CRED("{\"clientCertificateData\":\"c\"}"), "!only certificate or key"},
      {CRED("\"x\""), "!it didn't return a status field"},
      {"{\"apiVersion\":\"" V1 "\",\"kind\":\"Secret\",\"status\":{\"token\":\"a\"}}",
       "!its output has kind \"Secret\", not ExecCredential"},
      {"{\"kind\":\"ExecCredential\",\"status\":{\"token\":\"a\"}}",
       "!plugin returned version (none)"},
      {"[1]", "!not an object"},
      {"", "!its output is not an ExecCredential (JSON object)"},
  };
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    lg_execcred_cred c;
    char err[512] = "";
    lg_rc rc = lg_execcred_parse(V1, cases[i].text, strlen(cases[i].text), &c, err, sizeof err);
    bool want_ok = cases[i].want[0] != '!';
    if ((rc == LG_OK) != want_ok || (want_ok && strcmp(c.token, cases[i].want)) ||
        (!want_ok && !strstr(err, cases[i].want + 1)))
      fail_msg("%s: rc %d token %s err \"%s\", want %s", cases[i].text, rc, c.token ? c.token : "-",
               err, cases[i].want);
    lg_execcred_cred_free(&c);
  }
}

static void test_exec_info(void **state) {
  char *s = lg_execcred_exec_info(V1BETA1, NULL);
  (void)state;
  assert_string_equal(s, "{\"apiVersion\":\"" V1BETA1 "\",\"kind\":\"ExecCredential\","
                         "\"spec\":{\"interactive\":false}}");
  free(s);
}

static int setup(void **state) {
  (void)state;
  if (lgt_tls_setup(&tls, "execcred-tls") != 0)
    return -1;
  return lgt_temp_dir(dir, "execcred");
}

static int teardown(void **state) {
  (void)state;
  if (dir[0] && !getenv("LG_KEEP_TMP"))
    lgt_rm_tree(dir);
  lgt_tls_teardown(&tls);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_token_cached_without_expiry),
      cmocka_unit_test(test_expiry_reruns),
      cmocka_unit_test(test_one_run_at_a_time),
      cmocka_unit_test(test_client_certificate),
      cmocka_unit_test(test_environment_args_stdin),
      cmocka_unit_test(test_plugin_in_path),
      cmocka_unit_test(test_failures),
      cmocka_unit_test(test_hang_kills_children),
      cmocka_unit_test(test_settings),
      cmocka_unit_test(test_parse_table),
      cmocka_unit_test(test_exec_info),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
