/* test_noise.c -- connection noise (noise.c): the tally and its metric, and serve under a
 * flood of aborted handshakes and refused connections: one summary line per interval with
 * the counts, the last peer and reason, never a line per connection. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>

#include <jansson.h>

#include "harness.h"
#include "metrics.h"
#include "noise.h"
#include "raw.h"

/* ---- the tally ---- */

static void test_tally(void **state) {
  static const struct {
    lg_noise_kind kind;
    const char *peer, *reason;
  } adds[] = {
      {LG_NOISE_HANDSHAKE, "10.0.0.1:1", "closed before a TLS ClientHello"},
      {LG_NOISE_HANDSHAKE, "10.0.0.2:2", "no TLS version or cipher suite in common"},
      {LG_NOISE_LIMIT, "10.0.0.3:3", "at --max-connections=4"},
      {LG_NOISE_HTTP, NULL, NULL},
      {LG_NOISE_CLIENT_CERT, "[fd00::7]:443", "no client certificate presented"},
  };
  lg_metrics *m = lg_metrics_new(false);
  lg_noise *n = lg_noise_new(m);
  lg_noise_summary s;
  char *text;
  (void)state;

  assert_non_null(n);
  assert_false(lg_noise_take(n, &s));
  assert_int_equal(s.total, 0);
  for (size_t i = 0; i < sizeof adds / sizeof adds[0]; i++)
    lg_noise_add(n, adds[i].kind, adds[i].peer, adds[i].reason);
  lg_noise_add(n, (lg_noise_kind)99, "x", "ignored");
  assert_true(lg_noise_take(n, &s));
  assert_int_equal(s.total, 5);
  assert_int_equal(s.count[LG_NOISE_HANDSHAKE], 2);
  assert_int_equal(s.count[LG_NOISE_LIMIT], 1);
  assert_int_equal(s.count[LG_NOISE_HTTP], 1);
  assert_int_equal(s.count[LG_NOISE_CLIENT_CERT], 1);
  assert_int_equal(s.last_kind, LG_NOISE_CLIENT_CERT);
  assert_string_equal(s.last_peer, "[fd00::7]:443");
  assert_string_equal(s.last_reason, "no client certificate presented");
  /* Taken: the next interval starts from nothing; the metric keeps counting. */
  assert_false(lg_noise_take(n, &s));
  lg_noise_add(n, LG_NOISE_HANDSHAKE, NULL, NULL);
  assert_true(lg_noise_take(n, &s));
  assert_int_equal(s.total, 1);
  assert_string_equal(s.last_peer, "");
  text = lg_metrics_render(m, 0);
  assert_non_null(text);
  assert_non_null(strstr(text, "leaseguard_connection_errors_total{reason=\"tls-handshake\"} 3\n"));
  assert_non_null(
      strstr(text, "leaseguard_connection_errors_total{reason=\"max-connections\"} 1\n"));
  assert_non_null(
      strstr(text, "leaseguard_connection_errors_total{reason=\"client-certificate\"} 1\n"));
  assert_non_null(strstr(text, "leaseguard_connection_errors_total{reason=\"http\"} 1\n"));
  free(text);
  lg_noise_free(n);
  lg_noise_free(NULL);
  lg_noise_add(NULL, LG_NOISE_HTTP, NULL, NULL);
  assert_false(lg_noise_take(NULL, &s));
  lg_metrics_free(m);
  assert_string_equal(lg_noise_kind_name(LG_NOISE_LIMIT), "max-connections");
}

static void test_peer(void **state) {
  struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(51234)};
  struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(8443)};
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  char out[64] = "x";
  (void)state;
  inet_pton(AF_INET, "10.1.2.3", &a4.sin_addr);
  inet_pton(AF_INET6, "fd00::7", &a6.sin6_addr);
  lg_noise_peer((struct sockaddr *)&a4, out, sizeof out);
  assert_string_equal(out, "10.1.2.3:51234");
  lg_noise_peer((struct sockaddr *)&a6, out, sizeof out);
  assert_string_equal(out, "[fd00::7]:8443");
  lg_noise_peer((struct sockaddr *)&un, out, sizeof out);
  assert_string_equal(out, "");
  strcpy(out, "x");
  lg_noise_peer(NULL, out, sizeof out);
  assert_string_equal(out, "");
}

/* ---- serve under a flood ---- */

#define BARE    150 /* TCP connections closed before a ClientHello */
#define ABORTED 50  /* TLS handshakes the client abandons (it does not trust the server) */
#define LIMIT   4
#define OVER    10 /* connections past --max-connections */

static struct {
  lgt_tls tls, other; /* the server's certificates; another CA's */
  lgt_serve srv;
} env;

/* GETs of /metrics that could not connect (refused at the limit: counted by the server too). */
static int own_refused;

/* The value of a sample line of GET /metrics, or -1. */
static long metric(const char *line) {
  char url[64];
  lgt_reply r;
  long v = -1;
  const char *p;
  snprintf(url, sizeof url, "https://127.0.0.1:%d/metrics", env.srv.port);
  lgt_get(url, env.tls.ca, 5000, &r);
  if (r.rc != CURLE_OK)
    own_refused++;
  if (r.rc == CURLE_OK && r.body && (p = strstr(r.body, line)))
    v = strtol(p + strlen(line), NULL, 10);
  free(r.body);
  return v;
}

static void wait_metric(const char *line, long want) {
  struct timespec t0;
  long got;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while ((got = metric(line)) != want + (strstr(line, "max-connections") ? own_refused : 0)) {
    if (lgt_elapsed_ms(&t0) > lgt_slow(10000))
      fail_msg("%s is %ld, want %ld", line, got, want);
    lgt_sleep_ms(50);
  }
}

/* Reads the summary lines of a serve log: how many, how many warnings in all, the sums of
 * their handshake and refused counts; ok_reasons stays true while every line names a peer
 * on 127.0.0.1 and a reason. */
static void count_lines(const char *path, int *lines, int *warnings, uint64_t *handshakes,
                        uint64_t *refused, bool *ok_reasons) {
  char *log = lgt_slurp(path), *line, *save = NULL;
  for (line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    json_t *j = json_loads(line, 0, NULL);
    const char *msg = json_string_value(json_object_get(j, "msg"));
    const char *level = json_string_value(json_object_get(j, "level"));
    if (level && !strcmp(level, "warning"))
      (*warnings)++;
    if (msg && !strcmp(msg, "connections failed before a request was answered")) {
      const char *peer = json_string_value(json_object_get(j, "lastPeer"));
      const char *reason = json_string_value(json_object_get(j, "lastReason"));
      (*lines)++;
      *handshakes += strtoull(json_string_value(json_object_get(j, "tlsHandshakes")), NULL, 10);
      *refused += strtoull(json_string_value(json_object_get(j, "maxConnections")), NULL, 10);
      *ok_reasons &= peer && !strncmp(peer, "127.0.0.1:", 10) && reason && reason[0];
    }
    json_decref(j);
  }
  free(log);
}

static void test_flood_is_summed_up(void **state) {
  char limit[48];
  const char *flags[] = {limit, NULL};
  SSL_CTX *distrust = lgt_raw_ctx(env.other.ca), *trust = lgt_raw_ctx(env.tls.ca);
  lgt_raw idle[LIMIT], c;
  uint64_t handshakes = 0, refused = 0;
  int lines = 0, warnings = 0, max_lines;
  bool ok_reasons = true;
  struct timespec t0;
  (void)state;

  /* The default limit (1024) for the flood: a connection the client closed may still count
   * for a moment, and must not make the next one a refused one. */
  lgt_serve_start(&env.srv, env.tls.dir, env.tls.cert, env.tls.key, env.tls.ca, NULL);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < BARE; i++) {
    assert_int_equal(lgt_raw_open(&c, "127.0.0.1", env.srv.port, NULL, lgt_slow(5000)),
                     LGT_OPEN_OK);
    lgt_raw_close(&c);
  }
  for (int i = 0; i < ABORTED; i++) {
    lgt_open o = lgt_raw_open(&c, "127.0.0.1", env.srv.port, distrust, lgt_slow(5000));
    assert_int_equal(o, LGT_OPEN_CLOSED);
    lgt_raw_close(&c);
  }
  wait_metric("leaseguard_connection_errors_total{reason=\"tls-handshake\"} ", BARE + ABORTED);
  lgt_serve_stop(&env.srv, 10000);
  count_lines(env.srv.err, &lines, &warnings, &handshakes, &refused, &ok_reasons);
  /* One line per 10 s, and one at exit (the flood takes a few seconds; longer under valgrind). */
  max_lines = 2 + (int)(lgt_elapsed_ms(&t0) / 10000);
  if (lines < 1 || lines > max_lines || warnings != lines || handshakes != BARE + ABORTED ||
      refused) {
    char *text = lgt_slurp(env.srv.err);
    fail_msg("%d summary lines (%d warnings) counting %llu handshakes and %llu refused, want 1..%d "
             "lines (no other warning), %d and 0:\n%s",
             lines, warnings, (unsigned long long)handshakes, (unsigned long long)refused,
             max_lines, BARE + ABORTED, text);
  }
  print_message("%d summary line(s) for %d failed handshakes\n", lines, BARE + ABORTED);

  /* The limit: LIMIT idle connections hold it, OVER more are refused. */
  snprintf(limit, sizeof limit, "--max-connections=%d", LIMIT);
  lgt_serve_start(&env.srv, env.tls.dir, env.tls.cert, env.tls.key, env.tls.ca, flags);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < LIMIT; i++)
    assert_int_equal(lgt_raw_open(&idle[i], "127.0.0.1", env.srv.port, trust, lgt_slow(5000)),
                     LGT_OPEN_OK);
  for (int i = 0; i < OVER; i++) {
    lgt_open o = lgt_raw_open(&c, "127.0.0.1", env.srv.port, trust, lgt_slow(5000));
    if (o == LGT_OPEN_OK)
      fail_msg("connection %d past --max-connections=%d was served", i + 1, LIMIT);
    lgt_raw_close(&c);
  }
  for (int i = 0; i < LIMIT; i++)
    lgt_raw_close(&idle[i]);
  own_refused = 0;
  wait_metric("leaseguard_connection_errors_total{reason=\"max-connections\"} ", OVER);
  lgt_serve_stop(&env.srv, 10000);

  lines = warnings = 0;
  handshakes = refused = 0;
  count_lines(env.srv.err, &lines, &warnings, &handshakes, &refused, &ok_reasons);
  if (lines < 1 || lines > 2 + (int)(lgt_elapsed_ms(&t0) / 10000) || warnings != lines ||
      refused != (uint64_t)(OVER + own_refused) || handshakes) {
    char *text = lgt_slurp(env.srv.err);
    fail_msg(
        "%d summary lines (%d warnings) counting %llu refused, want a line per 10 s and %d:\n%s",
        lines, warnings, (unsigned long long)refused, OVER + own_refused, text);
  }
  assert_true(ok_reasons);
  SSL_CTX_free(distrust);
  SSL_CTX_free(trust);
}

/* The reason of a failed handshake says how far it got. */
static void test_reasons(void **state) {
  SSL_CTX *distrust = lgt_raw_ctx(env.other.ca);
  lgt_raw c;
  (void)state;
  lgt_serve_start(&env.srv, env.tls.dir, env.tls.cert, env.tls.key, env.tls.ca, NULL);
  assert_int_equal(lgt_raw_open(&c, "127.0.0.1", env.srv.port, distrust, lgt_slow(5000)),
                   LGT_OPEN_CLOSED);
  lgt_raw_close(&c);
  wait_metric("leaseguard_connection_errors_total{reason=\"tls-handshake\"} ", 1);
  lgt_serve_stop(&env.srv, 10000);
  if (!lgt_wait_for_text(env.srv.err, "\"lastReason\":\"the handshake failed after the ServerHello",
                         1000)) {
    char *text = lgt_slurp(env.srv.err);
    fail_msg("no reason for a client that does not trust the certificate:\n%s", text);
  }
  assert_true(lgt_wait_for_text(env.srv.err, "\"lastKind\":\"tls-handshake\"", 1000));
  SSL_CTX_free(distrust);
}

static int stop_server(void **state) {
  (void)state;
  lgt_serve_stop(&env.srv, 10000);
  return 0;
}

static int setup_group(void **state) {
  (void)state;
  signal(SIGPIPE, SIG_IGN);
  env.srv.pid = -1;
  if (lgt_tls_setup(&env.tls, "noise") != 0 || lgt_tls_setup(&env.other, "noise-other") != 0)
    return -1;
  return 0;
}

static int teardown_group(void **state) {
  (void)state;
  if (env.srv.pid > 0)
    lgt_stop(env.srv.pid, SIGKILL, 1000);
  lgt_tls_teardown(&env.other);
  lgt_tls_teardown(&env.tls);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tally),
      cmocka_unit_test(test_peer),
      cmocka_unit_test_teardown(test_flood_is_summed_up, stop_server),
      cmocka_unit_test_teardown(test_reasons, stop_server),
  };
  return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
