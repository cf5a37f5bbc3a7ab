/* test_e2e.c -- end to end: the Lease API test server calling `leaseguard serve` (enforce),
 * three `leaseguard elect` processes, each misbehaviour, and `leaseguard selftest`. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <stdbool.h>
#include <unistd.h>

#include <curl/curl.h>

/* The electors' timing: short, but the lease outlives the webhook's 5 s skew. */
#define LEASE_S 8
#define RENEW "6s"
#define RETRY_S 1
#define NS "e2e"

static char dir[512], ca[600], cert[600], key[600], tokens[600], serve_out[600], api_out[600];
static int api_port;
static pid_t serve_pid = -1, api_pid = -1;

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int free_port(void) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  int fd = socket(AF_INET, SOCK_STREAM, 0), port;
  assert_true(fd >= 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
  port = ntohs(sa.sin_port);
  close(fd);
  return port;
}

/* Starts argv with stdout and stderr appended to out (and err, or out when NULL). */
static pid_t spawn(char *const argv[], const char *out, const char *err) {
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int o = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
    int e = err ? open(err, O_WRONLY | O_CREAT | O_APPEND, 0644) : o;
    dup2(o, 1);
    dup2(e, 2);
    execv(argv[0], argv);
    _exit(127);
  }
  return pid;
}

/* Sends sig and waits (bounded) for pid; returns the wait status or -1. */
static int stop(pid_t pid, int sig) {
  int st;
  if (pid <= 0)
    return -1;
  kill(pid, sig);
  for (int i = 0; i < 200; i++) {
    if (waitpid(pid, &st, WNOHANG) == pid)
      return st;
    sleep_ms(50);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &st, 0);
  return -1;
}

static size_t collect(char *p, size_t size, size_t n, void *ud) {
  size_t len = strlen(ud), add = size * n;
  if (len + add < 4096) {
    memcpy((char *)ud + len, p, add);
    ((char *)ud)[len + add] = '\0';
  }
  return add;
}

/* GETs url (plain HTTP or TLS with our CA); returns the status, body in buf. */
static long get(const char *url, char *buf) {
  CURL *c = curl_easy_init();
  long status = 0;
  buf[0] = '\0';
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CAINFO, ca);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, buf);
  if (curl_easy_perform(c) == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(c);
  return status;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  char *buf = calloc(1, 1 << 20);
  if (f) {
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
  }
  return buf;
}

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; (p = strstr(p, needle)); p++)
    n++;
  return n;
}

static void wait_healthy(const char *url) {
  char buf[4096];
  for (int i = 0; i < 200; i++) {
    if (get(url, buf) == 200)
      return;
    sleep_ms(50);
  }
  fail_msg("%s never became healthy", url);
}

static int setup(void **state) {
  char cmd[1200], webhook[128], port_s[32], wport_s[32], portfile[600];
  (void)state;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  snprintf(dir, sizeof dir, "%s/e2e.XXXXXX", LG_TEST_TMPDIR);
  assert_non_null(mkdtemp(dir));
  snprintf(cmd, sizeof cmd, "'%s' certs --out-dir='%s' >/dev/null", LEASEGUARD_BIN, dir);
  assert_int_equal(system(cmd), 0);
  snprintf(ca, sizeof ca, "%s/ca.crt", dir);
  snprintf(cert, sizeof cert, "%s/tls.crt", dir);
  snprintf(key, sizeof key, "%s/tls.key", dir);
  snprintf(tokens, sizeof tokens, "%s/tokens.csv", dir);
  FILE *f = fopen(tokens, "w");
  assert_non_null(f);
  fprintf(f, "e2e-token,system:serviceaccount:e2e:elector,uid-1,\"system:serviceaccounts\"\n");
  fclose(f);
  snprintf(cmd, sizeof cmd, "%s/token", dir);
  f = fopen(cmd, "w");
  fputs("e2e-token\n", f);
  fclose(f);

  int wport = free_port();
  snprintf(wport_s, sizeof wport_s, "--secure-port=%d", wport);
  snprintf(serve_out, sizeof serve_out, "%s/serve.out", dir);
  char tls_cert[640], tls_key[640];
  snprintf(tls_cert, sizeof tls_cert, "--tls-cert-file=%s", cert);
  snprintf(tls_key, sizeof tls_key, "--tls-private-key-file=%s", key);
  char *serve_argv[] = {LEASEGUARD_BIN, "serve", "--bind-address=127.0.0.1", wport_s, tls_cert,
                        tls_key, NULL};
  snprintf(cmd, sizeof cmd, "%s/serve.err", dir);
  serve_pid = spawn(serve_argv, serve_out, cmd);
  snprintf(cmd, sizeof cmd, "https://127.0.0.1:%d/healthz", wport);
  wait_healthy(cmd);

  snprintf(webhook, sizeof webhook, "--webhook-url=https://127.0.0.1:%d/validate", wport);
  snprintf(portfile, sizeof portfile, "%s/api.port", dir);
  char pf[640], tf[640], wca[640];
  snprintf(pf, sizeof pf, "--port-file=%s", portfile);
  snprintf(tf, sizeof tf, "--token-auth-file=%s", tokens);
  snprintf(wca, sizeof wca, "--webhook-ca-file=%s", ca);
  char *api_argv[] = {LG_TEST_APISERVER_BIN, "--bind-address=127.0.0.1", "--secure-port=0", pf,
                      tls_cert, tls_key, tf, webhook, wca, "--webhook-name=leaseguard.e2e.test",
                      "--webhook-failure-policy=Fail", NULL};
  snprintf(api_out, sizeof api_out, "%s/api.out", dir);
  api_pid = spawn(api_argv, api_out, NULL);
  for (int i = 0; i < 200 && !api_port; i++) {
    f = fopen(portfile, "r");
    if (f) {
      if (fscanf(f, "%d", &api_port) != 1)
        api_port = 0;
      fclose(f);
    }
    sleep_ms(50);
  }
  assert_true(api_port > 0);
  snprintf(cmd, sizeof cmd, "https://127.0.0.1:%d/healthz", api_port);
  wait_healthy(cmd);
  (void)port_s;
  return 0;
}

static int teardown(void **state) {
  char cmd[700];
  (void)state;
  stop(api_pid, SIGTERM);
  assert_int_equal(stop(serve_pid, SIGTERM), 0);
  if (!getenv("LG_KEEP_TMP")) {
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
      return 1;
  }
  curl_global_cleanup();
  return 0;
}

typedef struct {
  pid_t pid;
  int http;
  char log[600];
} elector;

static void start_elector_run(elector *e, const char *lock, const char *id, const char *misbehave,
                              const char *run);

static void start_elector(elector *e, const char *lock, const char *id, const char *misbehave) {
  start_elector_run(e, lock, id, misbehave, NULL);
}

static void start_elector_run(elector *e, const char *lock, const char *id, const char *misbehave,
                              const char *run) {
  char server[128], token[640], caf[640], name[160], ident[160], http[64], mis[64];
  snprintf(server, sizeof server, "--server=https://127.0.0.1:%d", api_port);
  snprintf(token, sizeof token, "--token-file=%s/token", dir);
  snprintf(caf, sizeof caf, "--certificate-authority=%s", ca);
  snprintf(name, sizeof name, "--lock-name=%s", lock);
  snprintf(ident, sizeof ident, "--identity=%s", id);
  e->http = free_port();
  snprintf(http, sizeof http, "--http=127.0.0.1:%d", e->http);
  snprintf(mis, sizeof mis, "--misbehave=%s", misbehave ? misbehave : "none");
  snprintf(e->log, sizeof e->log, "%s/elect-%s.log", dir, id);
  char lease[64], retry[64];
  snprintf(lease, sizeof lease, "--leader-elect-lease-duration=%ds", LEASE_S);
  snprintf(retry, sizeof retry, "--leader-elect-retry-period=%ds", RETRY_S);
  char *argv[] = {LEASEGUARD_BIN, "elect", "--lock-namespace=" NS, name, ident, server, token, caf,
                  lease, "--leader-elect-renew-deadline=" RENEW, retry, "--release-on-cancel",
                  http, mis, run ? "--run" : NULL, "--", "/bin/sh", "-c", (char *)run, NULL};
  e->pid = spawn(argv, e->log, NULL);
}

/* 1 when e reports leadership on /metrics, 0 when not, -1 when it does not answer. */
static int leads(const elector *e) {
  char url[64], buf[4096];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", e->http);
  if (get(url, buf) != 200)
    return -1;
  return strstr(buf, "} 1") != NULL;
}

/* Waits (at most limit_ms) until an elector other than except leads; returns its index
 * and the time taken; checks that no two lead at once. */
static int wait_leader(elector *es, int n, int except, long limit_ms, int64_t *took, int *max) {
  int64_t start = now_us();
  while (now_us() - start < limit_ms * 1000) {
    int who = -1, k = 0;
    for (int i = 0; i < n; i++)
      if (es[i].pid > 0 && leads(&es[i]) == 1) {
        k++;
        who = i;
      }
    if (k > *max)
      *max = k;
    if (k >= 1 && who != except) {
      *took = now_us() - start;
      return who;
    }
    sleep_ms(25);
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
  who = wait_leader(es, 3, -1, (LEASE_S + 5) * 1000L, &took, &max);
  assert_true(who >= 0);
  sleep_ms(3 * RETRY_S * 1000); /* renewals go on; still one leader */
  int again = wait_leader(es, 3, -1, 1000, &took, &max);
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
  assert_true(kill_failover <= LEASE_S + 2.2 * RETRY_S + 2.0);

  /* SIGTERM with --release-on-cancel: the last one takes over at once */
  assert_int_equal(stop(es[next].pid, SIGTERM), 0);
  es[next].pid = -1;
  int64_t released = now_us();
  int last = wait_leader(es, 3, next, (LEASE_S + 5) * 1000L, &took, &max);
  assert_true(last >= 0);
  double release_failover = (double)(now_us() - released) / 1e6;
  print_message("failover after SIGTERM with release: %.2f s\n", release_failover);
  assert_true(release_failover <= 2.2 * RETRY_S + 1.5);
  assert_int_equal(max, 1);
  assert_int_equal(stop(es[last].pid, SIGTERM), 0);

  /* the whole life cycle passed the webhook: no denial, no violation */
  char *audit = slurp(serve_out);
  assert_int_equal(count(audit, "\"decision\":\"deny\""), 0);
  assert_int_equal(count(audit, "lease violation"), 0);
  free(audit);
  char *log = slurp(es[last].log);
  assert_non_null(strstr(log, "became leader"));
  assert_non_null(strstr(log, "new leader is"));
  free(log);
}

static bool exists(const char *path) { return access(path, F_OK) == 0; }

/* --run: the command runs only while its elector leads, and stops with it. */
static void test_run_only_while_leader(void **state) {
  (void)state;
  elector es[2];
  char cmd[2][1600], mark[2][640];
  int max = 0;
  int64_t took;
  for (int i = 0; i < 2; i++) {
    snprintf(mark[i], sizeof mark[i], "%s/running-%d", dir, i);
    /* the marker exists while the command runs; SIGTERM removes it */
    int n = snprintf(cmd[i], sizeof cmd[i],
                     "trap 'rm -f %s; exit 0' TERM; touch %s; while :; do sleep 0.1; done", mark[i],
                     mark[i]);
    assert_true(n > 0 && (size_t)n < sizeof cmd[i]);
  }
  start_elector_run(&es[0], "e2e-run", "runner-0_1", NULL, cmd[0]);
  assert_int_equal(wait_leader(es, 1, -1, 5000, &took, &max), 0);
  start_elector_run(&es[1], "e2e-run", "runner-1_1", NULL, cmd[1]);
  for (int t = 0; t < 100 && !exists(mark[0]); t++)
    sleep_ms(50);
  assert_true(exists(mark[0]));
  sleep_ms(3 * RETRY_S * 1000);
  assert_int_equal(leads(&es[1]), 0);
  assert_false(exists(mark[1])); /* a follower runs nothing */
  /* the leader's SIGTERM stops its command and releases; the other starts its own */
  assert_int_equal(stop(es[0].pid, SIGTERM), 0);
  assert_false(exists(mark[0]));
  for (int t = 0; t < 100 && !exists(mark[1]); t++)
    sleep_ms(50);
  assert_true(exists(mark[1]));
  assert_int_equal(stop(es[1].pid, SIGTERM), 0);
  assert_false(exists(mark[1]));
}

static void test_misbehaviours_denied(void **state) {
  (void)state;
  static const char *const kinds[][2] = {{"steal", "holder-renew"},
                                         {"skip-transition", "transitions"},
                                         {"backdate-renew", "renew-monotonic"},
                                         {"huge-duration", "duration"},
                                         {"future-renew", "timestamps"}};
  elector good, bad[5];
  int max = 0;
  int64_t took;
  start_elector(&good, "e2e-steal", "holder_1", NULL);
  assert_int_equal(wait_leader(&good, 1, -1, 5000, &took, &max), 0);
  for (int i = 0; i < 5; i++) {
    char lock[64], id[64];
    snprintf(lock, sizeof lock, i == 0 ? "e2e-steal" : "e2e-%s", kinds[i][0]);
    snprintf(id, sizeof id, "bad-%s_1", kinds[i][0]);
    start_elector(&bad[i], lock, id, kinds[i][0]);
  }
  for (int i = 0; i < 5; i++) {
    char want[64];
    int found = 0;
    snprintf(want, sizeof want, "[%s]", kinds[i][1]);
    for (int t = 0; t < 200 && !found; t++) {
      char *log = slurp(bad[i].log);
      found = strstr(log, "lease write failed") && strstr(log, "\"status\":\"403\"") && strstr(log, want);
      free(log);
      if (!found)
        sleep_ms(50);
    }
    if (!found) {
      char *log = slurp(bad[i].log);
      fail_msg("misbehaviour %s was not denied by %s; its log:\n%s", kinds[i][0], kinds[i][1], log);
    }
  }
  assert_int_equal(leads(&good), 1); /* the steal did not take the lease */
  for (int i = 0; i < 5; i++)
    stop(bad[i].pid, SIGTERM);
  stop(good.pid, SIGTERM);
  char *api = slurp(api_out);
  assert_true(count(api, "denied the request") >= 5);
  free(api);
}

static void test_selftest(void **state) {
  (void)state;
  char cmd[2048], out[600];
  snprintf(out, sizeof out, "%s/selftest.out", dir);
  snprintf(cmd, sizeof cmd,
           "'%s' selftest --server=https://127.0.0.1:%d --token-file='%s/token' "
           "--certificate-authority='%s' --namespace=" NS " --leader-elect-lease-duration=%ds "
           "--leader-elect-renew-deadline=" RENEW " --leader-elect-retry-period=%ds > '%s' 2>&1",
           LEASEGUARD_BIN, api_port, dir, ca, LEASE_S, RETRY_S, out);
  int st = system(cmd);
  char *text = slurp(out);
  print_message("%s", text);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    fail_msg("selftest failed:\n%s", text);
  assert_non_null(strstr(text, "8 passed, 0 failed"));
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_election_and_failover),
      cmocka_unit_test(test_run_only_while_leader),
      cmocka_unit_test(test_misbehaviours_denied),
      cmocka_unit_test(test_selftest),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
