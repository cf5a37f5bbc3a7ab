/* test_e2e.c -- end to end: the Lease API test server calling `leaseguard serve` (enforce),
 * three `leaseguard elect` processes, each misbehaviour, and `leaseguard selftest`. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <stdbool.h>
#include <unistd.h>

#include <curl/curl.h>

#include "harness.h"

/* The electors' timing: short, but the lease outlives the webhook's 5 s skew. */
#define LEASE_S 8
#define RENEW_S 6
#define RENEW   "6s" /* RENEW_S as a duration */
#define RETRY_S 1
#define NS      "e2e"

static lgt_tls tls;
static char tokens[600], serve_out[600], api_out[600];
static int api_port;
static pid_t serve_pid = -1, api_pid = -1;

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int setup(void **state) {
  char token[LGT_PATH_LEN], webhook[128], portfile[LGT_PATH_LEN];
  char serve_err[LGT_PATH_LEN];
  (void)state;
  assert_int_equal(lgt_tls_setup(&tls, "e2e"), 0);
  lgt_path(tokens, tls.dir, "tokens.csv");
  lgt_write_file(tokens,
                 "e2e-token,system:serviceaccount:e2e:elector,uid-1,\"system:serviceaccounts\"\n");
  lgt_path(token, tls.dir, "token");
  lgt_write_file(token, "e2e-token\n");

  int wport = lgt_free_port();
  lgt_path(serve_out, tls.dir, "serve.out");
  lgt_path(serve_err, tls.dir, "serve.err");
  const lgt_serve_opts so = {.port = wport,
                             .cert = tls.cert,
                             .key = tls.key,
                             .ca = tls.ca,
                             .out = serve_out,
                             .err = serve_err};
  lgt_serve_launch(&so, &serve_pid);

  snprintf(webhook, sizeof webhook, "--webhook-url=https://127.0.0.1:%d/validate", wport);
  lgt_path(portfile, tls.dir, "api.port");
  char wca[640];
  snprintf(wca, sizeof wca, "--webhook-ca-file=%s", tls.ca);
  lgt_path(api_out, tls.dir, "api.out");
  const char *extra[] = {
      "--bind-address=127.0.0.1",      webhook, wca, "--webhook-name=leaseguard.e2e.test",
      "--webhook-failure-policy=Fail", NULL};
  const lgt_apiserver as = {.cert = tls.cert,
                            .key = tls.key,
                            .ca = tls.ca,
                            .tokens = tokens,
                            .port_file = portfile,
                            .extra = extra,
                            .out = api_out,
                            .err = api_out};
  api_port = lgt_apiserver_start(&as, &api_pid);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  lgt_stop(api_pid, SIGTERM, 10000);
  assert_int_equal(lgt_stop(serve_pid, SIGTERM, 10000), 0);
  lgt_tls_teardown(&tls);
  return 0;
}

typedef struct {
  pid_t pid;
  int http;
  char log[600];
} elector;

/* `leaseguard elect` for lock as id (misbehaving as misbehave, may be NULL) that runs
 * `/bin/sh -c run` while it leads (run NULL: no --run). */
static void start_elector_run(elector *e, const char *lock, const char *id, const char *misbehave,
                              const char *run) {
  char token[640];
  const char *cmd[] = {"/bin/sh", "-c", run, NULL};
  snprintf(token, sizeof token, "%s/token", tls.dir);
  snprintf(e->log, sizeof e->log, "%s/elect-%s.log", tls.dir, id);
  e->http = lgt_free_port();
  const lgt_elect el = {.api_port = api_port,
                        .token_file = token,
                        .ca_file = tls.ca,
                        .ns = NS,
                        .lock = lock,
                        .identity = id,
                        .lease_s = LEASE_S,
                        .renew_s = RENEW_S,
                        .retry_s = RETRY_S,
                        .release_on_cancel = true,
                        .http_port = e->http,
                        .misbehave = misbehave ? misbehave : "none",
                        .log = e->log,
                        .run = run ? cmd : NULL};
  e->pid = lgt_elect_spawn(&el);
}

static void start_elector(elector *e, const char *lock, const char *id, const char *misbehave) {
  start_elector_run(e, lock, id, misbehave, NULL);
}

/* Waits (at most limit_ms) until an elector other than except leads; returns its index
 * and the time taken; checks that no two lead at once. */
static int wait_leader(elector *es, int n, int except, long limit_ms, int64_t *took, int *max) {
  int64_t start = now_us();
  while (now_us() - start < limit_ms * 1000) {
    int who = -1, k = 0;
    for (int i = 0; i < n; i++)
      if (es[i].pid > 0 && lgt_elect_leads(es[i].http) == 1) {
        k++;
        who = i;
      }
    if (k > *max)
      *max = k;
    if (k >= 1 && who != except) {
      *took = now_us() - start;
      return who;
    }
    lgt_sleep_ms(25);
  }
  return -1;
}

static void test_election_and_failover(void **state) {
  (void)state;
  elector es[3];
  char id[32];
  int max = 0, who;
  int64_t took;
  for (int i = 0; i < 3; i++) {
    snprintf(id, sizeof id, "candidate-%d_%d", i, getpid());
    start_elector(&es[i], "e2e-lock", id, NULL);
  }
  who = wait_leader(es, 3, -1, lgt_slow((LEASE_S + 5) * 1000L), &took, &max);
  assert_true(who >= 0);
  lgt_sleep_ms(3 * RETRY_S * 1000); /* renewals go on; still one leader */
  int again = wait_leader(es, 3, -1, lgt_slow(1000), &took, &max);
  assert_int_equal(again, who);
  assert_int_equal(max, 1);

  /* hard kill: the next leader waits out the lease */
  kill(es[who].pid, SIGKILL);
  waitpid(es[who].pid, NULL, 0);
  es[who].pid = -1;
  int64_t killed = now_us();
  int next = wait_leader(es, 3, who, (2 * LEASE_S + 5) * 1000L, &took, &max);
  assert_true(next >= 0);
  double kill_failover = (double)(now_us() - killed) / 1e6;
  print_message("failover after SIGKILL of the leader: %.2f s (lease %d s, retry %d s)\n",
                kill_failover, LEASE_S, RETRY_S);
  /* the lease from when a candidate saw the last renewal (its jittered polls: up to 2.2
   * retry periods late), then its next poll (up to 2.2 more): as client-go */
  assert_true(kill_failover <= LEASE_S + 2 * 2.2 * RETRY_S + 1.0);
  /* and never before the lease ran out: the killed leader renewed within the renew
   * deadline before it died, so no candidate may take over sooner than lease - deadline */
  assert_true(kill_failover >= LEASE_S - RENEW_S);

  /* SIGTERM with --release-on-cancel: the last one takes over at once */
  assert_int_equal(lgt_stop(es[next].pid, SIGTERM, 10000), 0);
  es[next].pid = -1;
  int64_t released = now_us();
  int last = wait_leader(es, 3, next, (LEASE_S + 5) * 1000L, &took, &max);
  assert_true(last >= 0);
  double release_failover = (double)(now_us() - released) / 1e6;
  print_message("failover after SIGTERM with release: %.2f s\n", release_failover);
  assert_true(release_failover <= 2.2 * RETRY_S + 1.5);
  assert_int_equal(max, 1);
  assert_int_equal(lgt_stop(es[last].pid, SIGTERM, 10000), 0);

  /* the whole life cycle passed the webhook: no denial, no violation */
  assert_int_equal(lgt_count_text(serve_out, "\"decision\":\"deny\""), 0);
  assert_int_equal(lgt_count_text(serve_out, "lease violation"), 0);
  char *log = lgt_slurp(es[last].log);
  assert_non_null(strstr(log, "became leader"));
  assert_non_null(strstr(log, "new leader is"));
  free(log);
}

static bool exists(const char *path) { return access(path, F_OK) == 0; }

/* GET / of e's --http: the new body, or NULL. */
static char *status_of(const elector *e) {
  char url[64];
  lgt_reply r;
  snprintf(url, sizeof url, "http://127.0.0.1:%d/", e->http);
  lgt_get(url, NULL, 2000, &r);
  if (r.rc != CURLE_OK || r.status != 200) {
    free(r.body);
    return NULL;
  }
  return r.body;
}

/* --run: the command runs only while its elector leads, and stops with it; it gets the
 * term's fencing token, which --http also reports. */
static void test_run_only_while_leader(void **state) {
  (void)state;
  elector es[2];
  char cmd[2][1600], mark[2][640];
  int max = 0;
  int64_t took;
  for (int i = 0; i < 2; i++) {
    snprintf(mark[i], sizeof mark[i], "%s/running-%d", tls.dir, i);
    /* the marker exists while the command runs, holding its fencing token; SIGTERM removes
     * it */
    int n =
        snprintf(cmd[i], sizeof cmd[i],
                 "trap 'rm -f %s; exit 0' TERM; printf '%%s' \"$LEASEGUARD_FENCING_TOKEN\" > %s;"
                 " while :; do sleep 0.1; done",
                 mark[i], mark[i]);
    assert_true(n > 0 && (size_t)n < sizeof cmd[i]);
  }
  start_elector_run(&es[0], "e2e-run", "runner-0_1", NULL, cmd[0]);
  assert_int_equal(wait_leader(es, 1, -1, lgt_slow(5000), &took, &max), 0);
  start_elector_run(&es[1], "e2e-run", "runner-1_1", NULL, cmd[1]);
  for (int t = 0; t < lgt_slow(5000) / 50 && !exists(mark[0]); t++)
    lgt_sleep_ms(50);
  assert_true(exists(mark[0]));
  lgt_sleep_ms(200);
  char *tok = lgt_slurp(mark[0]), *st = status_of(&es[0]), *st1 = NULL;
  /* the second elector answers --http once it has started (slowly under valgrind) */
  for (int t = 0; t < lgt_slow(5000) / 50 && !(st1 = status_of(&es[1])); t++)
    lgt_sleep_ms(50);
  assert_string_equal(tok, NS "/e2e-run/runner-0_1/0");
  assert_non_null(st);
  assert_non_null(strstr(st, "\"fencingToken\":\"" NS "/e2e-run/runner-0_1/0\""));
  assert_non_null(st1);
  assert_null(strstr(st1, "fencingToken")); /* a follower has none */
  free(tok);
  free(st);
  free(st1);
  lgt_sleep_ms(3 * RETRY_S * 1000);
  assert_int_equal(lgt_elect_leads(es[1].http), 0);
  assert_false(exists(mark[1])); /* a follower runs nothing */
  /* the leader's SIGTERM stops its command and releases; the other starts its own */
  assert_int_equal(lgt_stop(es[0].pid, SIGTERM, 10000), 0);
  assert_false(exists(mark[0]));
  for (int t = 0; t < lgt_slow(5000) / 50 && !exists(mark[1]); t++)
    lgt_sleep_ms(50);
  assert_true(exists(mark[1]));
  lgt_sleep_ms(200);
  tok = lgt_slurp(mark[1]);
  assert_string_equal(tok, NS "/e2e-run/runner-1_1/1"); /* the next epoch */
  free(tok);
  assert_int_equal(lgt_stop(es[1].pid, SIGTERM, 10000), 0);
  assert_false(exists(mark[1]));
}

/* Losing leadership (the API server stops answering: renewals hang until the renew
 * deadline) stops the command before the lease expires; leading again (the API server is
 * back) starts it anew. */
static void test_run_stops_on_lost_leadership(void **state) {
  (void)state;
  elector e;
  char cmd[1600], mark[640];
  int max = 0, lost, back;
  int64_t took, t0;
  snprintf(mark, sizeof mark, "%s/running-loss", tls.dir);
  snprintf(cmd, sizeof cmd, "trap 'rm -f %s; exit 0' TERM; touch %s; while :; do sleep 0.1; done",
           mark, mark);
  start_elector_run(&e, "e2e-loss", "loser-0_1", NULL, cmd);
  assert_int_equal(wait_leader(&e, 1, -1, lgt_slow(5000), &took, &max), 0);
  for (int t = 0; t < lgt_slow(5000) / 50 && !exists(mark); t++)
    lgt_sleep_ms(50);
  assert_true(exists(mark));

  /* Frozen, the API server neither answers nor refuses: each renewal times out. */
  assert_int_equal(kill(api_pid, SIGSTOP), 0);
  t0 = now_us();
  for (lost = 0; !lost && now_us() - t0 < lgt_slow(6000 + 8000) * 1000LL;) {
    lgt_sleep_ms(100);
    lost = !exists(mark) && lgt_count_text(e.log, "lost leadership") > 0;
  }
  took = now_us() - t0;
  assert_int_equal(kill(api_pid, SIGCONT), 0);
  print_message("command stopped %.2f s after the API server froze (renew deadline " RENEW ")\n",
                (double)took / 1e6);
  assert_true(lost);
  assert_int_equal(lgt_elect_leads(e.http), 0);
  /* The lease it last wrote (before the freeze) expires LEASE_S after that write: others
   * may take it over from then on, so the command must be gone by then. Loss comes at the
   * round's deadline: last renewal + retry + renew deadline = at most 7 s after the freeze. */
  assert_true(took < LEASE_S * 1000000LL);

  for (back = 0, t0 = now_us(); !back && now_us() - t0 < lgt_slow(3 * LEASE_S * 1000) * 1000LL;) {
    lgt_sleep_ms(100);
    back = exists(mark);
  }
  assert_true(back);
  assert_int_equal(lgt_count_text(e.log, "became leader"), 2);
  assert_int_equal(lgt_stop(e.pid, SIGTERM, lgt_slow(10000)), 0);
  assert_false(exists(mark));
}

static void test_misbehaviours_denied(void **state) {
  (void)state;
  static const char *const kinds[][2] = {{"steal", "holder-renew"},
                                         {"skip-transition", "transitions"},
                                         {"backdate-renew", "renew-monotonic"},
                                         {"huge-duration", "duration"}};
  elector good, bad[4], future;
  int max = 0;
  int64_t took;
  start_elector(&good, "e2e-steal", "holder_1", NULL);
  assert_int_equal(wait_leader(&good, 1, -1, lgt_slow(5000), &took, &max), 0);
  for (int i = 0; i < 4; i++) {
    char lock[64], id[64];
    snprintf(lock, sizeof lock, i == 0 ? "e2e-steal" : "e2e-%s", kinds[i][0]);
    snprintf(id, sizeof id, "bad-%s_1", kinds[i][0]);
    start_elector(&bad[i], lock, id, kinds[i][0]);
  }
  for (int i = 0; i < 4; i++) {
    char want[64];
    int found = 0;
    snprintf(want, sizeof want, "[%s]", kinds[i][1]);
    for (int t = 0; t < lgt_slow(10000) / 50 && !found; t++) {
      char *log = lgt_slurp(bad[i].log);
      found =
          strstr(log, "lease write failed") && strstr(log, "\"status\":403,") && strstr(log, want);
      free(log);
      if (!found)
        lgt_sleep_ms(50);
    }
    if (!found) {
      char *log = lgt_slurp(bad[i].log);
      fail_msg("misbehaviour %s was not denied by %s; its log:\n%s", kinds[i][0], kinds[i][1], log);
    }
  }
  assert_int_equal(lgt_elect_leads(good.http), 1); /* the steal did not take the lease */
  for (int i = 0; i < 4; i++)
    lgt_stop(bad[i].pid, SIGTERM, 10000);
  lgt_stop(good.pid, SIGTERM, 10000);
  assert_true(lgt_count_text(api_out, "denied the request") >= 4);

  /* Stamps 300 s ahead are what a writer with a fast clock writes: allowed (it leads and keeps
   * renewing), with a warning and an audit line, never a denial. */
  start_elector(&future, "e2e-future-renew", "bad-future-renew_1", "future-renew");
  int ok = 0;
  for (int t = 0; t < lgt_slow(10000) / 50 && !ok; t++) {
    ok = lgt_elect_leads(future.http) == 1 &&
         lgt_count_text(serve_out, "\"rule\":\"timestamps\",\"mode\":\"warn\"") >= 2;
    if (!ok)
      lgt_sleep_ms(50);
  }
  if (!ok) {
    char *log = lgt_slurp(future.log);
    fail_msg("a fast clock's renewals were not let through with a warning; its log:\n%s", log);
  }
  assert_int_equal(lgt_count_text(future.log, "lease write failed"), 0);
  lgt_stop(future.pid, SIGTERM, 10000);
}

static void test_selftest(void **state) {
  (void)state;
  char cmd[2048], out[600];
  snprintf(out, sizeof out, "%s/selftest.out", tls.dir);
  snprintf(cmd, sizeof cmd,
           "'%s' selftest --server=https://127.0.0.1:%d --token-file='%s/token' "
           "--certificate-authority='%s' --namespace=" NS " --leader-elect-lease-duration=%ds "
           "--leader-elect-renew-deadline=" RENEW " --leader-elect-retry-period=%ds "
           "--failover-slack=%ldms > '%s' 2>&1",
           LEASEGUARD_BIN, api_port, tls.dir, tls.ca, LEASE_S, RETRY_S, lgt_slow(1000), out);
  int st = system(cmd);
  char *text = lgt_slurp(out);
  bool passed = WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(text, "8 passed, 0 failed");
  print_message("%s", text);
  free(text);
  if (!passed)
    fail_msg("selftest failed: its output is above");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_election_and_failover),
      cmocka_unit_test(test_run_only_while_leader),
      cmocka_unit_test(test_run_stops_on_lost_leadership),
      cmocka_unit_test(test_misbehaviours_denied),
      cmocka_unit_test(test_selftest),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
