/* test_httpd.c -- the small plain-HTTP listener (httpd.c): addresses of both families, GET
 * and HEAD only, 404 for what the handler does not know, ambiguous framing refused, a client
 * that never finishes its request closed by lg_httpd_reap. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "httpd.h"
#include "listen.h"
#include "raw.h"

static void answer(void *ctx, const char *url, lg_httpd_answer *out) {
  int *calls = ctx;
  (*calls)++;
  if (!strcmp(url, "/hello")) {
    out->ctype = "application/json";
    out->body = strdup("{\"hello\":true}\n");
  } else if (!strcmp(url, "/busy")) {
    out->status = 503;
    out->body = strdup("busy\n");
  }
}

/* Sends request on a new plain connection to host:port; what came back before it closed or
 * 2 s passed. */
static char *exchange(const char *host, int port, const char *request, bool *closed) {
  lgt_raw c;
  char *seen;
  assert_int_equal(lgt_raw_open(&c, host, port, NULL, lgt_slow(5000)), LGT_OPEN_OK);
  assert_true(lgt_raw_send(&c, request, strlen(request), 5000));
  seen = lgt_raw_read_all(&c, lgt_slow(2000), closed);
  lgt_raw_close(&c);
  return seen;
}

typedef struct {
  const char *name, *request, *status, *body;
  bool closes;
} wire_case;

static void test_answers(void **state) {
  static const wire_case cases[] = {
      {"GET known", "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 ", "{\"hello\":true}",
       false},
      {"GET with a status", "GET /busy HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 503 ", "busy",
       false},
      {"HEAD", "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 ", NULL, false},
      {"GET unknown", "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 404 ", "not found", false},
      {"POST", "POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 405 ",
       "method not allowed", false},
      {"two lengths",
       "GET /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\nGET /",
       "HTTP/1.1 400 ", "conflicting Content-Length", true},
      {"gzip", "GET /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", "HTTP/1.1 501 ",
       "only chunked", true},
  };
  int calls = 0, port = lgt_free_port();
  char addr[32], err[256];
  lg_httpd *h = NULL;
  lg_httpd_config cfg = {.addr = addr, .flag = "--test", .handler = answer, .ctx = &calls};
  (void)state;

  snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
  assert_int_equal(lg_httpd_start_with(&cfg, &h, err, sizeof err), LG_OK);
  assert_string_equal(lg_httpd_address(h), addr);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const wire_case *t = &cases[i];
    bool closed;
    char *seen = exchange("127.0.0.1", port, t->request, &closed);
    if (strncmp(seen, t->status, strlen(t->status)) != 0 || (t->body && !strstr(seen, t->body)) ||
        lgt_count(seen, "HTTP/1.") != 1 || (t->closes && !closed))
      fail_msg("%s: got (%s):\n%s", t->name, closed ? "closed" : "open", seen);
    free(seen);
  }
  assert_int_equal(calls, 4); /* GET and HEAD reach the handler; the rest do not */
  lg_httpd_stop(h);
  lg_httpd_stop(NULL);
}

static void test_both_families(void **state) {
  int port = lgt_free_port(), calls = 0;
  char addr[32], err[256];
  lg_httpd *h = NULL;
  lg_httpd_config cfg = {.addr = addr, .handler = answer, .ctx = &calls};
  bool closed;
  char *seen;
  (void)state;
  if (!lg_listen_ipv6_available())
    skip();
  snprintf(addr, sizeof addr, ":%d", port);
  assert_int_equal(lg_httpd_start_with(&cfg, &h, err, sizeof err), LG_OK);
  seen = exchange("127.0.0.1", port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &closed);
  assert_non_null(strstr(seen, "200 OK"));
  free(seen);
  seen = exchange("::1", port, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &closed);
  assert_non_null(strstr(seen, "200 OK"));
  free(seen);
  lg_httpd_stop(h);
}

static void test_bad_start(void **state) {
  int calls = 0;
  char err[256];
  lg_httpd *h = (lg_httpd *)1;
  lg_httpd_config cfg = {
      .addr = "localhost:80", .flag = "--probe", .handler = answer, .ctx = &calls};
  (void)state;
  assert_int_not_equal(lg_httpd_start_with(&cfg, &h, err, sizeof err), LG_OK);
  assert_null(h);
  assert_non_null(strstr(err, "--probe"));
  /* The old entry point keeps elect's and audit's flag name. */
  assert_int_not_equal(lg_httpd_start("1.2.3.4", answer, &calls, &h, err, sizeof err), LG_OK);
  assert_non_null(strstr(err, "--http must be HOST:PORT"));
}

/* A client that sends half a request and stops is closed by the reaper after the timeout. */
static void test_reap(void **state) {
  int port = lgt_free_port(), calls = 0;
  char addr[32], err[256];
  lg_httpd *h = NULL;
  lg_httpd_config cfg = {.addr = addr, .handler = answer, .ctx = &calls, .timeout_s = 1};
  lgt_raw c;
  bool closed = false;
  (void)state;
  snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
  assert_int_equal(lg_httpd_start_with(&cfg, &h, err, sizeof err), LG_OK);
  assert_int_equal(lgt_raw_open(&c, "127.0.0.1", port, NULL, lgt_slow(5000)), LGT_OPEN_OK);
  assert_true(lgt_raw_send(&c, "GET /hello HTTP/1.1\r\nX-Slow: ", 29, 1000));
  assert_int_equal(lg_httpd_reap(h), 0); /* not yet */
  for (int i = 0; i < 40 && !closed; i++) {
    lgt_sleep_ms(100);
    (void)lgt_raw_send(&c, "a", 1, 1000); /* a byte at a time: never idle */
    lg_httpd_reap(h);
    free(lgt_raw_read_all(&c, 50, &closed));
  }
  lgt_raw_close(&c);
  if (!closed)
    fail_msg("a client trickling a request was not closed within 4 s");
  assert_int_equal(lg_httpd_reap(NULL), 0);
  lg_httpd_stop(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_answers),
      cmocka_unit_test(test_both_families),
      cmocka_unit_test(test_bad_start),
      cmocka_unit_test(test_reap),
  };
  signal(SIGPIPE, SIG_IGN);
  return cmocka_run_group_tests(tests, NULL, NULL);
}
