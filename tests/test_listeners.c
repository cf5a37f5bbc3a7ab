/* test_listeners.c -- serve's plain-HTTP probe and metrics listeners (--health-probe-bind-address,
 * --metrics-bind-address): probes answered while the webhook port is full at
 * --max-connections, each listener serving only its paths, the HTTPS endpoints kept; dual
 * stack ("::" and "[::]:PORT" take IPv4 and IPv6 clients); bad addresses refused. */
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
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "harness.h"
#include "listen.h"
#include "raw.h"

#define LIMIT 8

static struct {
  lgt_tls tls;
  lgt_serve srv;
  SSL_CTX *ctx; /* verifies the server */
  SSL_CTX *any; /* verifies nothing: for ::1, which the certificate does not name */
  bool ipv6;    /* this host has an IPv6 loopback */
} env;

/* GET (or method) url within timeout_ms: the status, or -1; *took (may be NULL) in ms. */
static long request(const char *method, const char *url, long timeout_ms, char **body, long *took) {
  CURL *c = curl_easy_init();
  struct timespec t0;
  lgt_reply r;
  long status = -1;
  assert_non_null(c);
  lgt_collect(c, &r);
  curl_easy_setopt(c, CURLOPT_URL, url);
  if (!strcmp(method, "HEAD"))
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  else
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, lgt_slow(timeout_ms));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CAINFO, env.tls.ca);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if (curl_easy_perform(c) == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (took)
    *took = lgt_elapsed_ms(&t0);
  curl_easy_cleanup(c);
  if (body)
    *body = r.body;
  else
    free(r.body);
  return status;
}

static long get(const char *url, char **body) { return request("GET", url, 5000, body, NULL); }

static int stop_server(void **state) {
  (void)state;
  lgt_serve_stop(&env.srv, 10000);
  return 0;
}

typedef struct {
  const char *method;
  int port; /* 0: the probe listener, 1: the metrics listener */
  const char *path;
  long status;
  const char *body; /* part of the body, or NULL */
} path_case;

/* With the webhook port full, the probe listener answers at once and the metrics listener
 * shows the refused connections; each listener serves its own paths only. */
static void test_probes_with_webhook_port_full(void **state) {
  int ports[2] = {lgt_free_port(), lgt_free_port()};
  char probe[64], metrics[64], limit[48], url[96];
  const char *flags[] = {probe, metrics, limit, "--connection-timeout=60", NULL};
  static const path_case paths[] = {
      {"GET", 0, "/healthz", 200, "ok"},
      {"GET", 0, "/readyz", 200, "ok"},
      {"HEAD", 0, "/readyz", 200, NULL},
      {"GET", 0, "/metrics", 404, NULL},
      {"GET", 0, "/validate", 404, NULL},
      {"POST", 0, "/readyz", 405, NULL},
      {"GET", 1, "/metrics", 200,
       "leaseguard_connection_errors_total{reason=\"max-connections\"} "},
      {"GET", 1, "/healthz", 404, NULL},
      {"GET", 1, "/readyz", 404, NULL},
  };
  lgt_raw idle[LIMIT], c;
  (void)state;

  snprintf(probe, sizeof probe, "--health-probe-bind-address=127.0.0.1:%d", ports[0]);
  snprintf(metrics, sizeof metrics, "--metrics-bind-address=127.0.0.1:%d", ports[1]);
  snprintf(limit, sizeof limit, "--max-connections=%d", LIMIT);
  lgt_serve_start(&env.srv, env.tls.dir, env.tls.cert, env.tls.key, env.tls.ca, flags);
  assert_true(lgt_wait_for_text(env.srv.err, "\"healthProbes\":\"127.0.0.1:", 1000));

  /* Idle clients (a slowloris) take every slot of the webhook port. */
  for (int i = 0; i < LIMIT; i++)
    assert_int_equal(lgt_raw_open(&idle[i], "127.0.0.1", env.srv.port, env.ctx, lgt_slow(5000)),
                     LGT_OPEN_OK);
  assert_int_not_equal(lgt_raw_open(&c, "127.0.0.1", env.srv.port, env.ctx, lgt_slow(5000)),
                       LGT_OPEN_OK);
  lgt_raw_close(&c);
  snprintf(url, sizeof url, "https://127.0.0.1:%d/readyz", env.srv.port);
  assert_int_equal(request("GET", url, 2000, NULL, NULL), -1);

  /* The kubelet's probes still get their answer, quickly (bounds are generous). */
  for (int round = 0; round < 5; round++) {
    long took;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/readyz", ports[0]);
    if (request("GET", url, 5000, NULL, &took) != 200)
      fail_msg("/readyz on the probe listener failed with the webhook port full");
    if (took > lgt_slow(2000))
      fail_msg("/readyz took %ld ms with the webhook port full", took);
  }
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    const path_case *t = &paths[i];
    char *body = NULL;
    long status;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", ports[t->port], t->path);
    status = request(t->method, url, 5000, &body, NULL);
    if (status != t->status || (t->body && (!body || !strstr(body, t->body))))
      fail_msg("%s %s on the %s listener: %ld, want %ld with \"%s\": %s", t->method, t->path,
               t->port ? "metrics" : "probe", status, t->status, t->body ? t->body : "",
               body ? body : "");
    free(body);
  }

  /* The webhook port's own endpoints keep working once it has room. */
  for (int i = 0; i < LIMIT; i++)
    lgt_raw_close(&idle[i]);
  for (int i = 0; i < 50; i++) {
    snprintf(url, sizeof url, "https://127.0.0.1:%d/readyz", env.srv.port);
    if (get(url, NULL) == 200)
      break;
    lgt_sleep_ms(100);
  }
  static const char *const secure[] = {"/healthz", "/readyz", "/metrics"};
  for (size_t i = 0; i < 3; i++) {
    snprintf(url, sizeof url, "https://127.0.0.1:%d%s", env.srv.port, secure[i]);
    if (get(url, NULL) != 200)
      fail_msg("%s on the HTTPS port no longer answers 200", secure[i]);
  }
}

/* GET /healthz on a raw connection to host:port (TLS with ctx, or plain): the status line. */
static bool healthz_raw(const char *host, int port, SSL_CTX *ctx) {
  static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  lgt_raw c;
  bool closed, ok = false;
  if (lgt_raw_open(&c, host, port, ctx, lgt_slow(5000)) == LGT_OPEN_OK &&
      lgt_raw_send(&c, req, sizeof req - 1, 5000)) {
    char *seen = lgt_raw_read_all(&c, lgt_slow(5000), &closed);
    ok = !strncmp(seen, "HTTP/1.1 200 ", 13);
    free(seen);
  }
  lgt_raw_close(&c);
  return ok;
}

/* "::" for the webhook and "[::]:PORT" for the probes take IPv4 and IPv6 clients. */
static void test_dual_stack(void **state) {
  int probe_port = lgt_free_port(), metrics_port = lgt_free_port();
  char probe[64], metrics[64], url[96];
  const char *flags[] = {"--bind-address=::", probe, metrics, NULL};
  (void)state;
  if (!env.ipv6)
    skip();
  snprintf(probe, sizeof probe, "--health-probe-bind-address=[::]:%d", probe_port);
  snprintf(metrics, sizeof metrics, "--metrics-bind-address=[::1]:%d", metrics_port);
  lgt_serve_start(&env.srv, env.tls.dir, env.tls.cert, env.tls.key, env.tls.ca, flags);
  assert_true(lgt_wait_for_text(env.srv.err, "\"address\":\"[::]:", 1000));
  assert_true(healthz_raw("127.0.0.1", env.srv.port, env.any));
  assert_true(healthz_raw("::1", env.srv.port, env.any));
  assert_true(healthz_raw("127.0.0.1", probe_port, NULL));
  assert_true(healthz_raw("::1", probe_port, NULL));
  snprintf(url, sizeof url, "http://[::1]:%d/metrics", metrics_port);
  assert_int_equal(get(url, NULL), 200);
  /* [::1] is IPv6 only. */
  snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", metrics_port);
  assert_int_equal(get(url, NULL), -1);
}

/* A node with IPv6 turned off (a network namespace with disable_ipv6): "::", the chart's
 * default, still starts and answers IPv4 clients on the webhook and probe ports. Needs
 * unshare(1) with the right to make a network namespace; skipped without. The namespace is
 * the test's own, so its fixed ports collide with nothing. */
static void test_node_without_ipv6(void **state) {
  char script[4096], out[LGT_PATH_LEN], err[LGT_PATH_LEN];
  char *argv[] = {"/usr/bin/unshare", "-n", "sh", "-c", script, NULL};
  pid_t pid;
  int status;
  char *text;
  (void)state;
  if (access(argv[0], X_OK) != 0)
    skip();
  lgt_path(out, env.tls.dir, "netns.out");
  lgt_path(err, env.tls.dir, "netns.err");
  snprintf(
      script, sizeof script,
      "ip link set lo up || exit 77\n"
      "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.lo.disable_ipv6=1 || exit 77\n"
      "%s serve --bind-address=:: --secure-port=8443 --tls-cert-file=%s "
      "--tls-private-key-file=%s --health-probe-bind-address=:8081 & pid=$!\n"
      "for i in $(seq 100); do curl -sf http://127.0.0.1:8081/readyz && break; sleep 0.1; done\n"
      "echo; curl -sf --cacert %s https://127.0.0.1:8443/healthz; echo\n"
      "kill $pid; wait $pid\n",
      LEASEGUARD_BIN, env.tls.cert, env.tls.key, env.tls.ca);
  pid = lgt_spawn(argv, out, err);
  status = lgt_wait_exit(pid, lgt_slow(30000));
  if (status < 0)
    lgt_stop(pid, SIGKILL, 1000);
  text = lgt_slurp(out);
  if (status >= 0 && WIFEXITED(status) && (WEXITSTATUS(status) == 77 || WEXITSTATUS(status) == 1) &&
      !strstr(text, "ok")) {
    char *why = lgt_slurp(err);
    print_message("skipped: no network namespace here: %s\n", why);
    free(why);
    free(text);
    skip();
  }
  if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || lgt_count(text, "ok") != 2) {
    char *why = lgt_slurp(err);
    fail_msg("serve --bind-address=:: without IPv6: status %d, output:\n%s\nerrors:\n%s", status,
             text, why);
  }
  free(text);
}

/* Bad addresses stop serve before it listens: exit 2 (usage) or 1 (cannot listen). */
static void test_bad_addresses(void **state) {
  int taken = lgt_free_port();
  char same1[64], same2[64];
  const struct {
    const char *a, *b;
    int status;
    const char *msg;
  } cases[] = {
      {"--health-probe-bind-address=localhost:8081", NULL, 2,
       "--health-probe-bind-address: \"localhost\" is not a numeric IPv4 or IPv6 address"},
      {"--metrics-bind-address=8080", NULL, 2, "--metrics-bind-address must be HOST:PORT"},
      {"--metrics-bind-address=[::1]:0", NULL, 2, "1..65535"},
      {"--shutdown-delay-duration=5", NULL, 2, "--shutdown-delay-duration must be a duration"},
      {"--shutdown-delay-duration=2h", NULL, 2, "from 0s to 1h"},
      {same1, same2, 1, "--metrics-bind-address: cannot listen on 127.0.0.1:"},
      /* start errors are JSON log lines: the quotes are escaped */
      {"--bind-address=localhost", NULL, 1, "--bind-address: \\\"localhost\\\" is not a numeric"},
  };
  char log[LGT_PATH_LEN], cert[LGT_PATH_LEN + 32], key[LGT_PATH_LEN + 32], port[32];
  (void)state;
  snprintf(same1, sizeof same1, "--health-probe-bind-address=127.0.0.1:%d", taken);
  snprintf(same2, sizeof same2, "--metrics-bind-address=127.0.0.1:%d", taken);
  lgt_path(log, env.tls.dir, "bad.err");
  snprintf(cert, sizeof cert, "--tls-cert-file=%s", env.tls.cert);
  snprintf(key, sizeof key, "--tls-private-key-file=%s", env.tls.key);
  snprintf(port, sizeof port, "--secure-port=%d", lgt_free_port());
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *argv[] = {LEASEGUARD_BIN,
                    "serve",
                    "--bind-address=127.0.0.1",
                    port,
                    cert,
                    key,
                    (char *)cases[i].a,
                    (char *)cases[i].b,
                    NULL};
    pid_t pid = lgt_spawn(argv, "/dev/null", log);
    int status = lgt_wait_exit(pid, lgt_slow(10000));
    char *text = lgt_slurp(log);
    if (status < 0)
      lgt_stop(pid, SIGKILL, 1000);
    if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != cases[i].status ||
        !strstr(text, cases[i].msg))
      fail_msg("%s %s: status %d, want exit %d with \"%s\": %s", cases[i].a,
               cases[i].b ? cases[i].b : "", status, cases[i].status, cases[i].msg, text);
    free(text);
  }
}

/* Empty listener flags mean off (as in the chart's defaults). */
static void test_empty_is_off(void **state) {
  const char *flags[] = {"--health-probe-bind-address=", "--metrics-bind-address=", NULL};
  (void)state;
  lgt_serve_start(&env.srv, env.tls.dir, env.tls.cert, env.tls.key, env.tls.ca, flags);
  assert_true(
      lgt_wait_for_text(env.srv.err, "\"healthProbes\":\"(off)\",\"metrics\":\"(off)\"", 1000));
}

static int setup_group(void **state) {
  lg_listen_addr a;
  char err[128];
  (void)state;
  signal(SIGPIPE, SIG_IGN);
  env.srv.pid = -1;
  if (lgt_tls_setup(&env.tls, "listeners") != 0)
    return -1;
  env.ctx = lgt_raw_ctx(env.tls.ca);
  env.any = lgt_raw_ctx(NULL);
  /* An IPv6 loopback: a socket bound to [::1]. */
  if (lg_listen_ipv6_available() &&
      lg_listen_resolve("test", "::1", lgt_free_port(), true, &a, err, sizeof err) == LG_OK) {
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    env.ipv6 = fd >= 0 && bind(fd, (struct sockaddr *)&a.ss, a.len) == 0;
    if (fd >= 0)
      close(fd);
  }
  return 0;
}

static int teardown_group(void **state) {
  (void)state;
  if (env.srv.pid > 0)
    lgt_stop(env.srv.pid, SIGKILL, 1000);
  SSL_CTX_free(env.ctx);
  SSL_CTX_free(env.any);
  lgt_tls_teardown(&env.tls);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_probes_with_webhook_port_full, stop_server),
      cmocka_unit_test_teardown(test_dual_stack, stop_server),
      cmocka_unit_test(test_node_without_ipv6),
      cmocka_unit_test(test_bad_addresses),
      cmocka_unit_test_teardown(test_empty_is_off, stop_server),
  };
  return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
