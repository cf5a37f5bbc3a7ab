/* test_framing.c -- request framing: the pure check of Content-Length and Transfer-Encoding
 * (framing.c), and what serve and its probe listener do with ambiguous requests on a raw
 * connection: one 400 (or 501), the connection closed, never a second answer. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "framing.h"
#include "harness.h"
#include "raw.h"

/* ---- the check ---- */

typedef struct {
  const char *name;
  const char *cl[3];
  const char *te[3];
  unsigned want;
  const char *msg; /* part of the reason, or NULL */
} framing_case;

static size_t count_of(const char *const *v) {
  size_t n = 0;
  while (n < 3 && v[n])
    n++;
  return n;
}

static void test_check(void **state) {
  static const framing_case cases[] = {
      {"no body", {NULL}, {NULL}, 0, NULL},
      {"one Content-Length", {"42"}, {NULL}, 0, NULL},
      {"chunked", {NULL}, {"chunked"}, 0, NULL},
      {"chunked, any case, spaces", {NULL}, {" Chunked "}, 0, NULL},
      {"same Content-Length twice", {"42", "42"}, {NULL}, 0, NULL},
      {"a list of the same length", {"42, 42"}, {NULL}, 0, NULL},
      {"two lengths", {"0", "52"}, {NULL}, 400, "conflicting Content-Length"},
      {"two lengths in one header", {"5, 6"}, {NULL}, 400, "conflicting Content-Length"},
      {"three, the last differs", {"7", "7", "8"}, {NULL}, 400, "conflicting"},
      {"chunked and a length",
       {"10"},
       {"chunked"},
       400,
       "both Transfer-Encoding and Content-Length"},
      {"chunked and a zero length", {"0"}, {"chunked"}, 400, "both"},
      {"two Transfer-Encodings", {NULL}, {"chunked", "chunked"}, 400, "2 times"},
      {"gzip", {NULL}, {"gzip"}, 501, "only chunked"},
      {"gzip, chunked", {NULL}, {"gzip, chunked"}, 501, "only chunked"},
      {"chunked with junk", {NULL}, {"chunkedx"}, 501, "only chunked"},
      {"not a number", {"4x"}, {NULL}, 400, "invalid Content-Length"},
      {"empty", {""}, {NULL}, 400, "invalid"},
      {"negative", {"-1"}, {NULL}, 400, "invalid"},
      {"overflow", {"99999999999999999999999"}, {NULL}, 400, "invalid"},
      {"trailing comma", {"4,"}, {NULL}, 400, "invalid"},
  };
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const framing_case *t = &cases[i];
    char msg[160] = "unset";
    unsigned got =
        lg_framing_check(t->cl, count_of(t->cl), t->te, count_of(t->te), msg, sizeof msg);
    if (got != t->want)
      fail_msg("%s: got %u (%s), want %u", t->name, got, msg, t->want);
    if (t->msg && !strstr(msg, t->msg))
      fail_msg("%s: reason \"%s\" lacks \"%s\"", t->name, msg, t->msg);
    if (!t->want && msg[0])
      fail_msg("%s: a reason for an accepted request: %s", t->name, msg);
  }
}

/* ---- on the wire ---- */

static struct {
  lgt_tls tls;
  SSL_CTX *ctx;
  lgt_serve srv;
  int probe_port;
} env;

static int stop_server(void **state) {
  (void)state;
  lgt_serve_stop(&env.srv, 10000);
  return 0;
}

/* A request that, read with the first Content-Length, ends early and leaves a whole second
 * request behind: the classic smuggling shape. */
#define SMUGGLED "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"

typedef struct {
  const char *name;
  const char *request;
  int status;  /* the one answer wanted */
  bool secure; /* the HTTPS port, else the probe listener */
} wire_case;

/* Sends the request on a new connection and reads until the server closes it: exactly one
 * answer, with the wanted status and Connection: close, and nothing of the smuggled request. */
static void run_wire(const wire_case *t) {
  lgt_raw c;
  bool closed;
  char *seen, status[32];
  int port = t->secure ? env.srv.port : env.probe_port;
  lgt_open o = lgt_raw_open(&c, "127.0.0.1", port, t->secure ? env.ctx : NULL, lgt_slow(5000));

  if (o != LGT_OPEN_OK)
    fail_msg("%s: cannot connect (%d)", t->name, (int)o);
  assert_true(lgt_raw_send(&c, t->request, strlen(t->request), 5000));
  seen = lgt_raw_read_all(&c, lgt_slow(5000), &closed);
  lgt_raw_close(&c);
  snprintf(status, sizeof status, "HTTP/1.1 %d ", t->status);
  if (lgt_count(seen, "HTTP/1.") != 1)
    fail_msg("%s: %d answers, want 1:\n%s", t->name, lgt_count(seen, "HTTP/1."), seen);
  if (strncmp(seen, status, strlen(status)) != 0)
    fail_msg("%s: want \"%s\", got:\n%s", t->name, status, seen);
  if (!strstr(seen, "\r\nConnection: close\r\n"))
    fail_msg("%s: answered without Connection: close:\n%s", t->name, seen);
  if (!closed)
    fail_msg("%s: the connection stayed open after the answer", t->name);
  free(seen);
}

static void test_serve_refuses_ambiguous_framing(void **state) {
  static const wire_case cases[] = {
      {"POST /validate, Content-Length 0 then 34, a request in the body",
       "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
       "Content-Length: 0\r\nContent-Length: 34\r\n\r\n" SMUGGLED,
       400, true},
      {"GET /healthz, Content-Length 34 then 0",
       "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 34\r\nContent-Length: "
       "0\r\n\r\n" SMUGGLED,
       400, true},
      {"chunked plus Content-Length",
       "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
       "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" SMUGGLED,
       400, true},
      {"Content-Length plus chunked (the other order)",
       "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
       "Content-Length: 39\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" SMUGGLED,
       400, true},
      {"a transfer coding other than chunked",
       "POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
       "Transfer-Encoding: gzip\r\n\r\n" SMUGGLED,
       501, true},
      {"probe listener: two lengths",
       "GET /readyz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: "
       "34\r\n\r\n" SMUGGLED,
       400, false},
      {"probe listener: chunked plus Content-Length",
       "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
       "0\r\n\r\n" SMUGGLED,
       400, false},
  };
  char probe[64];
  const char *flags[] = {probe, NULL};
  (void)state;
  env.probe_port = lgt_free_port();
  snprintf(probe, sizeof probe, "--health-probe-bind-address=127.0.0.1:%d", env.probe_port);
  lgt_serve_start(&env.srv, env.tls.dir, env.tls.cert, env.tls.key, env.tls.ca, flags);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    run_wire(&cases[i]);

  /* The same length twice is unambiguous, and served on a connection kept open. */
  lgt_raw c;
  bool closed;
  const char *ok =
      "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n";
  assert_int_equal(lgt_raw_open(&c, "127.0.0.1", env.srv.port, env.ctx, lgt_slow(5000)),
                   LGT_OPEN_OK);
  assert_true(lgt_raw_send(&c, ok, strlen(ok), 5000));
  char *seen = lgt_raw_read_all(&c, lgt_slow(1000), &closed);
  lgt_raw_close(&c);
  if (strncmp(seen, "HTTP/1.1 200 ", 13) != 0 || closed)
    fail_msg("a repeated, equal Content-Length: want 200 on an open connection, got (%s):\n%s",
             closed ? "closed" : "open", seen);
  free(seen);
}

/* Sends a GET /healthz with one header of n bytes on a new connection; returns what came. */
static char *get_with_header(size_t n) {
  char *req = malloc(n + 128), *seen;
  lgt_raw c;
  bool closed;
  int len;
  assert_non_null(req);
  len = snprintf(req, 128, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: ");
  memset(req + len, 'a', n);
  memcpy(req + len + n, "\r\n\r\n", 5);
  assert_int_equal(lgt_raw_open(&c, "127.0.0.1", env.srv.port, env.ctx, lgt_slow(5000)),
                   LGT_OPEN_OK);
  assert_true(lgt_raw_send(&c, req, (size_t)len + n + 4, 5000));
  seen = lgt_raw_read_all(&c, lgt_slow(1000), &closed);
  lgt_raw_close(&c);
  free(req);
  return seen;
}

/* libmicrohttpd keeps 8 KiB per connection (its default 32 KiB is zeroed after every request):
 * headers of 6 KiB are served, 16 KiB get 431 like nginx's 8 KiB header buffers would, and
 * the server goes on serving. The API server's headers are well under 1 KiB. */
static void test_header_sizes(void **state) {
  char *seen;
  (void)state;
  lgt_serve_start(&env.srv, env.tls.dir, env.tls.cert, env.tls.key, env.tls.ca, NULL);
  seen = get_with_header(6 * 1024);
  if (strncmp(seen, "HTTP/1.1 200 ", 13) != 0)
    fail_msg("6 KiB of headers: want 200, got:\n%s", seen);
  free(seen);
  seen = get_with_header(16 * 1024);
  if (strncmp(seen, "HTTP/1.1 431 ", 13) != 0)
    fail_msg("16 KiB of headers: want 431, got:\n%s", seen);
  free(seen);
  seen = get_with_header(10);
  if (strncmp(seen, "HTTP/1.1 200 ", 13) != 0)
    fail_msg("after a 431: want 200, got:\n%s", seen);
  free(seen);
}

static int setup_group(void **state) {
  (void)state;
  signal(SIGPIPE, SIG_IGN);
  if (lgt_tls_setup(&env.tls, "framing") != 0)
    return -1;
  env.ctx = lgt_raw_ctx(env.tls.ca);
  env.srv.pid = -1;
  return 0;
}

static int teardown_group(void **state) {
  (void)state;
  if (env.srv.pid > 0)
    lgt_stop(env.srv.pid, SIGKILL, 1000);
  SSL_CTX_free(env.ctx);
  lgt_tls_teardown(&env.tls);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_check),
      cmocka_unit_test_teardown(test_serve_refuses_ambiguous_framing, stop_server),
      cmocka_unit_test_teardown(test_header_sizes, stop_server),
  };
  return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
