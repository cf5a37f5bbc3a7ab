/* test_shutdown.c -- `leaseguard serve --shutdown-delay-duration`: on SIGTERM /readyz fails at
 * once on every listener while a continuous client sees no refused connection for the delay;
 * then it drains and exits 0. A second signal cuts the delay short. SIGTERM under load from
 * several clients exits 0 every time. */
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

#include <curl/curl.h>

#include "harness.h"
#include "raw.h"

#define DELAY_MS  3000
#define MAX_CALLS 4096

static struct {
  lgt_tls tls;
  lgt_serve srv;
  char *review;
  int probe_port;
} env;

/* ---- a continuous client ---- */

typedef struct {
  long at_ms; /* when it started, from the client's t0 */
  CURLcode rc;
  long status;
} call;

static struct {
  pthread_t thread;
  struct timespec t0;
  atomic_bool stop;
  call calls[MAX_CALLS];
  atomic_int n;
} client;

/* POSTs a review to /validate on a new connection each time, every 20 ms, until told to stop. */
static void *client_main(void *arg) {
  char url[64];
  (void)arg;
  snprintf(url, sizeof url, "https://127.0.0.1:%d/validate", env.srv.port);
  while (!atomic_load(&client.stop) && atomic_load(&client.n) < MAX_CALLS) {
    CURL *c = curl_easy_init();
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    call *k = &client.calls[atomic_load(&client.n)];
    lgt_reply r;
    k->at_ms = lgt_elapsed_ms(&client.t0);
    lgt_collect(c, &r);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, env.tls.ca);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, env.review);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, lgt_slow(5000));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    k->status = -1;
    k->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &k->status);
    free(r.body);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    atomic_fetch_add(&client.n, 1);
    lgt_sleep_ms(20);
  }
  return NULL;
}

static void client_start(void) {
  atomic_store(&client.stop, false);
  atomic_store(&client.n, 0);
  clock_gettime(CLOCK_MONOTONIC, &client.t0);
  assert_int_equal(pthread_create(&client.thread, NULL, client_main, NULL), 0);
}

static void client_join(void) {
  atomic_store(&client.stop, true);
  pthread_join(client.thread, NULL);
}

/* ---- helpers ---- */

static long status_of(const char *url) {
  lgt_reply r;
  lgt_get(url, env.tls.ca, 2000, &r);
  free(r.body);
  return r.rc == CURLE_OK ? r.status : -1;
}

/* Waits until url answers want; returns how long that took (ms), or -1 after timeout_ms. */
static long wait_status(const char *url, long want, long timeout_ms) {
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (status_of(url) != want) {
    if (lgt_elapsed_ms(&t0) > timeout_ms)
      return -1;
    lgt_sleep_ms(10);
  }
  return lgt_elapsed_ms(&t0);
}

static void start(const char *delay) {
  char probe[64];
  const char *flags[] = {delay, probe, NULL};
  env.probe_port = lgt_free_port();
  snprintf(probe, sizeof probe, "--health-probe-bind-address=127.0.0.1:%d", env.probe_port);
  lgt_serve_start(&env.srv, env.tls.dir, env.tls.cert, env.tls.key, env.tls.ca, flags);
}

/* The exit status within timeout_ms (-1: still running). */
static int wait_exit(long timeout_ms) {
  int status = lgt_wait_exit(env.srv.pid, timeout_ms);
  if (status >= 0)
    env.srv.pid = -1;
  return status;
}

static int stop_server(void **state) {
  (void)state;
  lgt_serve_stop(&env.srv, 20000);
  return 0;
}

/* ---- cases ---- */

static void test_delay_keeps_serving(void **state) {
  char secure[96], probe[96], healthz[96];
  long sig_ms, ready_ms, probe_ms, exit_ms;
  int status, served = 0, during = 0;
  lgt_raw c;
  bool closed;
  char *seen;
  static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  (void)state;

  start("--shutdown-delay-duration=3s");
  snprintf(secure, sizeof secure, "https://127.0.0.1:%d/readyz", env.srv.port);
  snprintf(probe, sizeof probe, "http://127.0.0.1:%d/readyz", env.probe_port);
  snprintf(healthz, sizeof healthz, "https://127.0.0.1:%d/healthz", env.srv.port);
  assert_int_equal(status_of(secure), 200);
  assert_int_equal(status_of(probe), 200);
  client_start();
  lgt_sleep_ms(300);

  sig_ms = lgt_elapsed_ms(&client.t0);
  assert_int_equal(kill(env.srv.pid, SIGTERM), 0);
  /* /readyz fails at once, on both listeners; the process is still alive. */
  ready_ms = wait_status(secure, 503, lgt_slow(1000));
  probe_ms = wait_status(probe, 503, lgt_slow(1000));
  if (ready_ms < 0 || probe_ms < 0)
    fail_msg("/readyz did not fail within 1 s of SIGTERM (HTTPS %ld ms, probe listener %ld ms)",
             ready_ms, probe_ms);
  assert_int_equal(status_of(healthz), 200);
  /* Keep-alive clients are told to go elsewhere. */
  assert_int_equal(lgt_raw_open(&c, "127.0.0.1", env.srv.port, lgt_raw_ctx(NULL), lgt_slow(2000)),
                   LGT_OPEN_OK);
  assert_true(lgt_raw_send(&c, req, sizeof req - 1, 2000));
  seen = lgt_raw_read_all(&c, lgt_slow(2000), &closed);
  if (strncmp(seen, "HTTP/1.1 200 ", 13) != 0 || !strstr(seen, "\r\nConnection: close\r\n") ||
      !closed)
    fail_msg("a request during the delay: want 200 with Connection: close, then a close:\n%s",
             seen);
  free(seen);
  SSL_CTX_free(SSL_get_SSL_CTX(c.ssl));
  lgt_raw_close(&c);

  status = wait_exit(lgt_slow(DELAY_MS + 10000));
  exit_ms = lgt_elapsed_ms(&client.t0) - sig_ms;
  client_join();
  if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("serve did not exit 0 after the delay (status %d)", status);
  if (exit_ms < DELAY_MS - 100)
    fail_msg("serve exited %ld ms after SIGTERM, before the %d ms delay", exit_ms, DELAY_MS);

  /* Every call begun before SIGTERM or within the delay (less a margin for the call's own
   * time) was answered: no refused connection. */
  for (int i = 0; i < atomic_load(&client.n); i++) {
    const call *k = &client.calls[i];
    bool in_window = k->at_ms < sig_ms + DELAY_MS - 500;
    if (!in_window)
      continue;
    if (k->rc != CURLE_OK || k->status != 200)
      fail_msg("call %d at %+ld ms from SIGTERM failed: curl %d (%s), HTTP %ld", i,
               k->at_ms - sig_ms, (int)k->rc, curl_easy_strerror(k->rc), k->status);
    served++;
    during += k->at_ms > sig_ms;
  }
  print_message("/readyz failed %ld ms (HTTPS) and %ld ms (probe listener) after SIGTERM; "
                "%d calls answered, %d of them during the delay; exit %ld ms after SIGTERM\n",
                ready_ms, probe_ms, served, during, exit_ms);
  if (during < 3)
    fail_msg("only %d calls during the delay", during);
  assert_true(lgt_wait_for_text(env.srv.err, "\"shutdownDelay\":\"3s\"", 1000));
  assert_true(lgt_wait_for_text(env.srv.err, "shutdown delay over: draining", 1000));
}

static void test_second_signal_cuts_it_short(void **state) {
  char secure[96];
  struct timespec t0;
  int status;
  long took;
  (void)state;
  start("--shutdown-delay-duration=60s");
  snprintf(secure, sizeof secure, "https://127.0.0.1:%d/readyz", env.srv.port);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  assert_int_equal(kill(env.srv.pid, SIGTERM), 0);
  assert_true(wait_status(secure, 503, lgt_slow(1000)) >= 0);
  assert_int_equal(kill(env.srv.pid, SIGINT), 0);
  status = wait_exit(lgt_slow(10000));
  took = lgt_elapsed_ms(&t0);
  if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("serve did not exit 0 after a second signal (status %d)", status);
  print_message("exit %ld ms after SIGTERM with a second signal (delay 60 s)\n", took);
  assert_true(lgt_wait_for_text(env.srv.err, "second signal: ending the shutdown delay", 1000));
}

/* Without a delay (the default), SIGTERM stops at once, as before. */
static void test_no_delay(void **state) {
  struct timespec t0;
  int status;
  (void)state;
  start("--shutdown-delay-duration=0s");
  clock_gettime(CLOCK_MONOTONIC, &t0);
  assert_int_equal(kill(env.srv.pid, SIGTERM), 0);
  status = wait_exit(lgt_slow(5000));
  if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    fail_msg("serve did not exit 0 (status %d)", status);
  print_message("exit %ld ms after SIGTERM without a delay\n", lgt_elapsed_ms(&t0));
}

/* ---- SIGTERM under load ---- */

static atomic_bool hammer_stop;

/* GET /healthz on a new connection each time, with no pause, until hammer_stop. */
static void *hammer_main(void *arg) {
  char url[64];
  snprintf(url, sizeof url, "https://127.0.0.1:%d/healthz", *(int *)arg);
  while (!atomic_load(&hammer_stop)) {
    CURL *c = curl_easy_init();
    lgt_reply r;
    lgt_collect(c, &r);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, env.tls.ca);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, lgt_slow(2000));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_perform(c);
    free(r.body);
    curl_easy_cleanup(c);
  }
  return NULL;
}

/* A rolling update sends SIGTERM while requests arrive on every worker thread: each time the
 * process drains and exits 0, never aborts. (With epoll, libmicrohttpd 0.9.75's quiesce can
 * race an awake worker over the listen socket and abort(); seen once in CI, too rare for
 * these rounds to catch reliably, hence poll() in server.c.) */
static void test_sigterm_under_load(void **state) {
  enum { ROUNDS = 12, CLIENTS = 4 };
  const char *flags[] = {"--threads=4", "--shutdown-delay-duration=0s", NULL};
  (void)state;
  for (int round = 0; round < ROUNDS; round++) {
    pthread_t th[CLIENTS];
    int status;
    lgt_serve_start(&env.srv, env.tls.dir, env.tls.cert, env.tls.key, env.tls.ca, flags);
    atomic_store(&hammer_stop, false);
    for (int i = 0; i < CLIENTS; i++)
      assert_int_equal(pthread_create(&th[i], NULL, hammer_main, &env.srv.port), 0);
    lgt_sleep_ms(50 + 25 * round);
    assert_int_equal(kill(env.srv.pid, SIGTERM), 0);
    status = wait_exit(lgt_slow(10000));
    atomic_store(&hammer_stop, true);
    for (int i = 0; i < CLIENTS; i++)
      pthread_join(th[i], NULL);
    if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      fail_msg("round %d: serve did not exit 0 after SIGTERM under load (status %d%s); see %s",
               round, status, status >= 0 && WIFSIGNALED(status) ? ", killed by a signal" : "",
               env.srv.err);
  }
  print_message("%d SIGTERMs under load from %d clients: every exit 0\n", ROUNDS, CLIENTS);
}

static int setup_group(void **state) {
  char path[LGT_PATH_LEN];
  (void)state;
  signal(SIGPIPE, SIG_IGN);
  env.srv.pid = -1;
  if (lgt_tls_setup(&env.tls, "shutdown") != 0)
    return -1;
  snprintf(path, sizeof path, "%s/reviews/kcm-renew.json", LG_FIXTURES);
  env.review = lgt_read_file(path, NULL);
  return env.review ? 0 : -1;
}

static int teardown_group(void **state) {
  (void)state;
  if (env.srv.pid > 0)
    lgt_stop(env.srv.pid, SIGKILL, 1000);
  free(env.review);
  lgt_tls_teardown(&env.tls);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_delay_keeps_serving, stop_server),
      cmocka_unit_test_teardown(test_second_signal_cuts_it_short, stop_server),
      cmocka_unit_test_teardown(test_no_delay, stop_server),
      cmocka_unit_test_teardown(test_sigterm_under_load, stop_server),
  };
  return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
