/* test_fencing_e2e.c -- fenced writes end to end: lg-test-apiserver sends lease writes to one
 * `leaseguard serve --fencing` replica (R1) and writes of objects labelled
 * leaseguard.io/fenced=true to another (R2, which learns leases only through its watch and
 * GETs); two `leaseguard elect --run` candidates write a fenced ConfigMap with their tokens
 * through the API server, a paused and a killed leader are deposed, forged tokens are refused,
 * and a fence whose API is unreachable fails as --fencing-unknown says. */
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "harness.h"

/* The electors' timing, as in test_e2e.c. */
#define LEASE_S    8
#define RENEW_S    6
#define RETRY_S    1
#define NS         "fence"
#define FENCE_NAME "fence.leaseguard.e2e.test"
#define CMS        "/api/v1/namespaces/" NS "/configmaps"
#define LEASES     "/apis/coordination.k8s.io/v1/namespaces/" NS "/leases"

typedef struct {
  pid_t pid;
  int port;
  char out[LGT_PATH_LEN], err[LGT_PATH_LEN];
} proc;

static struct {
  lgt_tls tls;
  char tokens[LGT_PATH_LEN], script[LGT_PATH_LEN];
  proc api, r1, r2;
} env;

/* ---- processes ---- */

/* lg-test-apiserver whose lease webhook is https://127.0.0.1:hook/validate (0: none) and whose
 * fence webhook is https://127.0.0.1:fence/fence. */
static void start_api(proc *p, const char *name, int hook, int fence) {
  char portfile[LGT_PATH_LEN], ca[LGT_PATH_LEN + 32], fca[LGT_PATH_LEN + 32], url[96], furl[96],
      file[64];
  snprintf(file, sizeof file, "%s.port", name);
  lgt_path(portfile, env.tls.dir, file);
  snprintf(file, sizeof file, "%s.out", name);
  lgt_path(p->out, env.tls.dir, file);
  snprintf(ca, sizeof ca, "--webhook-ca-file=%s", env.tls.ca);
  snprintf(fca, sizeof fca, "--fence-webhook-ca-file=%s", env.tls.ca);
  snprintf(url, sizeof url, "--webhook-url=https://127.0.0.1:%d/validate", hook);
  snprintf(furl, sizeof furl, "--fence-webhook-url=https://127.0.0.1:%d/fence", fence);
  const char *extra[] = {"--fence-webhook-name=" FENCE_NAME,
                         "--fence-webhook-failure-policy=Fail",
                         furl,
                         fca,
                         hook ? url : NULL, /* no hook: no lease webhook flags */
                         hook ? ca : NULL,
                         NULL};
  const lgt_apiserver as = {.cert = env.tls.cert,
                            .key = env.tls.key,
                            .ca = env.tls.ca,
                            .tokens = env.tokens,
                            .port_file = portfile,
                            .extra = extra,
                            .out = p->out,
                            .err = p->out};
  p->port = lgt_apiserver_start(&as, &p->pid);
}

/* `leaseguard serve --fencing` on port p->port (chosen beforehand), reading leases from the
 * API server on api_port (a dead port models an unreachable API), with one more flag. */
static void start_serve(proc *p, const char *name, int api_port, const char *extra) {
  char server[64], tok[LGT_PATH_LEN + 32], ca[LGT_PATH_LEN + 32], file[64];
  snprintf(file, sizeof file, "%s.out", name);
  lgt_path(p->out, env.tls.dir, file);
  snprintf(file, sizeof file, "%s.err", name);
  lgt_path(p->err, env.tls.dir, file);
  snprintf(server, sizeof server, "--server=https://127.0.0.1:%d", api_port);
  snprintf(tok, sizeof tok, "--token-file=%s/serve.token", env.tls.dir);
  snprintf(ca, sizeof ca, "--certificate-authority=%s", env.tls.ca);
  const lgt_serve_opts so = {.port = p->port,
                             .cert = env.tls.cert,
                             .key = env.tls.key,
                             .ca = env.tls.ca,
                             .flags = (const char *[]){"--fencing", server, tok, ca, NULL},
                             .extra = (const char *[]){extra, NULL},
                             .out = p->out,
                             .err = p->err};
  lgt_serve_launch(&so, &p->pid);
}

static void stop(proc *p) {
  if (p->pid > 0)
    assert_int_equal(lgt_stop(p->pid, SIGTERM, lgt_slow(10000)), 0);
  p->pid = -1;
}

/* The command each elector runs while it leads: on each "<id>.go" file (holding the number n
 * of the write) it PUTs (or, when missing, POSTs) the fenced ConfigMap "state" carrying
 * $LEASEGUARD_FENCING_TOKEN through the API server, and leaves the HTTP status in
 * "<id>.code.<n>" and the answer in "<id>.body.<n>". It records its pid and token; SIGTERM
 * (the elector losing leadership) removes both. */
static const char script[] =
    "id=$1 dir=$2 port=$3\n"
    "echo $$ > \"$dir/$id.pid\"\n"
    "printf '%s' \"$LEASEGUARD_FENCING_TOKEN\" > \"$dir/$id.token.tmp\"\n"
    "mv \"$dir/$id.token.tmp\" \"$dir/$id.token\"\n"
    "trap 'rm -f \"$dir/$id.token\" \"$dir/$id.pid\"; exit 0' TERM\n"
    "api() {\n"
    "  curl -sS -o \"$dir/$id.body.$n\" -w '%{http_code}' --cacert \"$dir/ca.crt\" \\\n"
    "    -H 'Authorization: Bearer elector-token' -H 'Content-Type: application/json' \\\n"
    "    -X \"$1\" --data \"$body\" \"https://127.0.0.1:$port/api/v1/namespaces/" NS
    "/configmaps$2\"\n"
    "}\n"
    "while :; do\n"
    "  if [ -e \"$dir/$id.go\" ]; then\n"
    "    n=$(cat \"$dir/$id.go\")\n"
    "    rm -f \"$dir/$id.go\"\n"
    "    body=$(printf '{\"metadata\":{\"name\":\"state\",\"labels\":{\"leaseguard.io/fenced\":"
    "\"true\"},\"annotations\":{\"leaseguard.io/fencing-token\":\"%s\"}},\"data\":{\"writer\":"
    "\"%s\",\"n\":\"%s\"}}' \"$LEASEGUARD_FENCING_TOKEN\" \"$id\" \"$n\")\n"
    "    code=$(api PUT /state)\n"
    "    [ \"$code\" = 404 ] && code=$(api POST '')\n"
    "    echo \"$code\" > \"$dir/$id.code.$n.tmp\"\n"
    "    mv \"$dir/$id.code.$n.tmp\" \"$dir/$id.code.$n\"\n"
    "  fi\n"
    "  sleep 0.05\n"
    "done\n";

typedef struct {
  pid_t pid;
  int http;
  char id[32], log[LGT_PATH_LEN];
  int writes; /* writes asked of its command so far */
} elector;

static void start_elector(elector *e, const char *lock, const char *id) {
  char token[LGT_PATH_LEN + 32], port[16], file[64];
  memset(e, 0, sizeof *e);
  snprintf(e->id, sizeof e->id, "%s", id);
  snprintf(token, sizeof token, "%s/elector.token", env.tls.dir);
  snprintf(port, sizeof port, "%d", env.api.port);
  snprintf(file, sizeof file, "elect-%s.log", id);
  lgt_path(e->log, env.tls.dir, file);
  e->http = lgt_free_port();
  const char *cmd[] = {"/bin/sh", env.script, e->id, env.tls.dir, port, NULL};
  const lgt_elect el = {.api_port = env.api.port,
                        .token_file = token,
                        .ca_file = env.tls.ca,
                        .ns = NS,
                        .lock = lock,
                        .identity = id,
                        .lease_s = LEASE_S,
                        .renew_s = RENEW_S,
                        .retry_s = RETRY_S,
                        .http_port = e->http,
                        .log = e->log,
                        .run = cmd};
  e->pid = lgt_elect_spawn(&el);
}

static bool wait_leads(const elector *e, long limit_ms) {
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (lgt_elapsed_ms(&t0) < lgt_slow(limit_ms)) {
    if (lgt_elect_leads(e->http) == 1)
      return true;
    lgt_sleep_ms(50);
  }
  return false;
}

/* A file of e's command ("token", "pid", "code.3" ...) as a new string, or NULL. */
static char *command_file(const elector *e, const char *what) {
  char name[96], path[LGT_PATH_LEN];
  snprintf(name, sizeof name, "%s.%s", e->id, what);
  lgt_path(path, env.tls.dir, name);
  return lgt_read_file(path, NULL);
}

/* Waits (bounded) until e's command runs with its token; copies the token into tok. */
static void wait_command(const elector *e, char *tok, size_t len) {
  char *t = NULL;
  for (int i = 0; i < 200 && !(t = command_file(e, "token")); i++)
    lgt_sleep_ms(lgt_slow(50));
  if (!t)
    fail_msg("the command of %s did not start (its log: %s)", e->id, e->log);
  snprintf(tok, len, "%s", t);
  free(t);
}

static pid_t command_pid(const elector *e) {
  char *s = command_file(e, "pid");
  pid_t pid = s ? (pid_t)atoi(s) : -1;
  free(s);
  assert_true(pid > 0);
  return pid;
}

/* Asks e's command for one write; *body (new) is the API server's answer. Returns the HTTP
 * status, once the command reports it. With resume, the command is SIGCONTed after the ask
 * (a paused leader waking up). */
static long command_write(elector *e, char **body, pid_t resume) {
  char name[96], path[LGT_PATH_LEN], tmp[LGT_PATH_LEN], what[32], *code = NULL;
  int n = ++e->writes;
  long status;
  snprintf(name, sizeof name, "%s.go", e->id);
  lgt_path(path, env.tls.dir, name);
  snprintf(name, sizeof name, "%s.go.tmp", e->id);
  lgt_path(tmp, env.tls.dir, name);
  snprintf(what, sizeof what, "%d", n);
  lgt_write_file(tmp, what);
  assert_int_equal(rename(tmp, path), 0);
  if (resume > 0)
    assert_int_equal(kill(resume, SIGCONT), 0);
  snprintf(what, sizeof what, "code.%d", n);
  for (int i = 0; i < 400 && !(code = command_file(e, what)); i++)
    lgt_sleep_ms(lgt_slow(25));
  if (!code)
    fail_msg("the command of %s did not report write %d", e->id, n);
  status = strtol(code, NULL, 10);
  free(code);
  snprintf(what, sizeof what, "body.%d", n);
  *body = command_file(e, what);
  return status;
}

/* ---- API calls ---- */

/* The message of a Status answer (new), or the whole body. */
static char *message_of(const char *body) {
  json_t *doc = body ? json_loads(body, 0, NULL) : NULL;
  const char *m = json_string_value(json_object_get(doc, "message"));
  char *out = strdup(m ? m : body ? body : "");
  json_decref(doc);
  return out;
}

/* The fenced ConfigMap name with token tok (NULL: no annotation) and the label unless
 * unlabelled, as a request body. */
static void cm_body(char *buf, size_t len, const char *name, const char *tok, bool labelled) {
  char ann[1200] = "";
  if (tok)
    snprintf(ann, sizeof ann, ",\"annotations\":{\"leaseguard.io/fencing-token\":\"%s\"}", tok);
  snprintf(buf, len, "{\"metadata\":{\"name\":\"%s\"%s%s},\"data\":{\"by\":\"test\"}}", name,
           labelled ? ",\"labels\":{\"leaseguard.io/fenced\":\"true\"}" : "", ann);
}

/* METHOD on the API server as the test's own user; *msg (new) is the answer's message. */
static long api_call(const char *method, const char *path, const char *body, char **msg) {
  lgt_reply r;
  lgt_http(env.tls.ca, method, env.api.port, "writer-token", path, body, &r);
  if (r.rc != CURLE_OK)
    fail_msg("%s %s: %s", method, path, curl_easy_strerror(r.rc));
  *msg = message_of(r.body);
  free(r.body);
  return r.status;
}

static void assert_refused(long status, const char *msg, const char *what, const char *want) {
  if (status != 403 ||
      !strstr(msg, "admission webhook \"" FENCE_NAME "\" denied the request: "
                   "[fencing] ") ||
      !strstr(msg, want))
    fail_msg("%s: HTTP %ld \"%s\", want 403 from the fence with \"%s\"", what, status, msg, want);
}

/* A lease held by holder at epoch transitions with a long term, written through R1. */
static void make_lease(const char *name, const char *holder, int transitions) {
  char body[1024], now[40], *msg;
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%S.000000Z", &tm);
  snprintf(body, sizeof body,
           "{\"metadata\":{\"name\":\"%s\"},\"spec\":{\"holderIdentity\":\"%s\","
           "\"leaseDurationSeconds\":300,\"acquireTime\":\"%s\",\"renewTime\":\"%s\","
           "\"leaseTransitions\":%d}}",
           name, holder, now, now, transitions);
  long st = api_call("POST", LEASES, body, &msg);
  if (st != 201)
    fail_msg("creating lease %s: HTTP %ld %s", name, st, msg);
  free(msg);
}

/* ---- set-up ---- */

static int setup(void **state) {
  char path[LGT_PATH_LEN];
  (void)state;
  if (lgt_tls_setup(&env.tls, "fencing") != 0)
    return -1;
  lgt_path(env.tokens, env.tls.dir, "tokens.csv");
  lgt_write_file(env.tokens, "elector-token,system:serviceaccount:" NS ":elector,uid-e,"
                             "\"system:serviceaccounts\"\n"
                             "serve-token,system:serviceaccount:leaseguard:leaseguard,uid-s,"
                             "\"system:serviceaccounts\"\n"
                             "writer-token,system:serviceaccount:" NS ":writer,uid-w,"
                             "\"system:serviceaccounts\"\n");
  lgt_path(path, env.tls.dir, "elector.token");
  lgt_write_file(path, "elector-token\n");
  lgt_path(path, env.tls.dir, "serve.token");
  lgt_write_file(path, "serve-token\n");
  lgt_path(env.script, env.tls.dir, "writer.sh");
  lgt_write_file(env.script, script);
  env.r1.port = lgt_free_port();
  env.r2.port = lgt_free_port();
  start_api(&env.api, "api", env.r1.port, env.r2.port);
  start_serve(&env.r1, "r1", env.api.port, NULL);
  /* R2 is the fence: it never admits a lease write, so it knows them from the watch. */
  start_serve(&env.r2, "r2", env.api.port, "--watch-leases");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  stop(&env.r1);
  stop(&env.r2);
  stop(&env.api);
  lgt_tls_teardown(&env.tls);
  return 0;
}

/* ---- tests ---- */

/* Two electors under --run on one lease: the leader's writes pass; a paused leader is deposed
 * and its late write, made when it wakes, is refused; a SIGKILLed leader's token is refused
 * after the next takeover; each new leader's writes pass. */
static void test_failover(void **state) {
  elector a, b;
  char tok_a[256], tok_b[256], tok_a2[256], *body, *msg, want[512];
  pid_t a_cmd, b_cmd;
  long st;
  (void)state;

  start_elector(&a, "fence-lock", "fa_1");
  assert_true(wait_leads(&a, 10000));
  wait_command(&a, tok_a, sizeof tok_a);
  assert_string_equal(tok_a, NS "/fence-lock/fa_1/0");
  st = command_write(&a, &body, -1);
  msg = message_of(body);
  if (st != 201)
    fail_msg("the leader's first write (a create): HTTP %ld %s", st, msg);
  free(body);
  free(msg);
  st = command_write(&a, &body, -1);
  assert_int_equal(st, 200);
  assert_non_null(strstr(body, "\"leaseguard.io/fencing-token\":\"" NS "/fence-lock/fa_1/0\""));
  free(body);
  start_elector(&b, "fence-lock", "fb_1");
  lgt_sleep_ms(lgt_slow(2 * RETRY_S * 1000));
  assert_int_not_equal(lgt_elect_leads(b.http), 1);

  /* The leader pauses (a GC pause, a frozen VM): its elector and its command stop. */
  a_cmd = command_pid(&a);
  assert_int_equal(kill(a.pid, SIGSTOP), 0);
  assert_int_equal(kill(a_cmd, SIGSTOP), 0);
  assert_true(wait_leads(&b, (2 * LEASE_S + 5) * 1000L));
  wait_command(&b, tok_b, sizeof tok_b);
  assert_string_equal(tok_b, NS "/fence-lock/fb_1/1");
  /* The object still carries the deposed epoch: deleting it now is refused too. */
  st = api_call("DELETE", CMS "/state", NULL, &msg);
  assert_refused(st, msg, "DELETE of an object written under the deposed epoch",
                 "stale epoch for lease " NS "/fence-lock");
  free(msg);
  st = command_write(&b, &body, -1);
  msg = message_of(body);
  if (st != 200)
    fail_msg("the new leader's write: HTTP %ld %s", st, msg);
  free(body);
  free(msg);

  /* The paused leader wakes: its command writes before its elector notices anything. */
  st = command_write(&a, &body, a_cmd);
  msg = message_of(body);
  assert_refused(st, msg, "the woken leader's write",
                 "stale epoch for lease " NS "/fence-lock: the write carries holder \"fa_1\" "
                 "epoch 0, the lease is now held by \"fb_1\" epoch 1");
  assert_non_null(strstr(msg, "[fencing] " NS "/ConfigMap/state: "));
  print_message("a paused leader's late write: HTTP %ld %s\n", st, msg);
  free(body);
  free(msg);
  st = api_call("GET", CMS "/state", NULL, &msg);
  assert_int_equal(st, 200);
  free(msg);
  {
    lgt_reply r;
    lgt_http(env.tls.ca, "GET", env.api.port, "writer-token", CMS "/state", NULL, &r);
    assert_non_null(strstr(r.body, "\"writer\":\"fb_1\"")); /* the refused write left nothing */
    free(r.body);
  }
  /* Its elector wakes too, finds itself deposed and stops the command. */
  assert_int_equal(kill(a.pid, SIGCONT), 0);
  for (int i = 0; i < 200 && kill(a_cmd, 0) == 0; i++)
    lgt_sleep_ms(lgt_slow(50));
  assert_int_not_equal(kill(a_cmd, 0), 0);
  assert_int_equal(lgt_elect_leads(a.http), 0);

  /* The new leader dies hard (its command too); the old one takes over at the next epoch. */
  b_cmd = command_pid(&b);
  kill(b.pid, SIGKILL);
  kill(b_cmd, SIGKILL);
  waitpid(b.pid, NULL, 0);
  assert_true(wait_leads(&a, (2 * LEASE_S + 5) * 1000L));
  wait_command(&a, tok_a2, sizeof tok_a2);
  assert_string_equal(tok_a2, NS "/fence-lock/fa_1/2");
  st = command_write(&a, &body, -1);
  assert_int_equal(st, 200);
  free(body);
  {
    char cm[1024];
    cm_body(cm, sizeof cm, "state", tok_b, true);
    st = api_call("PUT", CMS "/state", cm, &msg);
    snprintf(want, sizeof want,
             "the write carries holder \"fb_1\" epoch 1, the lease is now "
             "held by \"fa_1\" epoch 2");
    assert_refused(st, msg, "a write with the killed leader's token", want);
    free(msg);
  }
  assert_int_equal(lgt_stop(a.pid, SIGTERM, lgt_slow(10000)), 0);
  assert_true(lgt_count_text(env.api.out, "\"webhook\":\"" FENCE_NAME "\"") >= 6);
}

/* Forged and misused tokens, each refused with what is wrong; the right one passes. */
static void test_forged_tokens(void **state) {
  static const struct {
    const char *name, *method, *object, *token;
    bool labelled;
    long status;
    const char *says;
  } cases[] = {
      {"the holder's token creates", "POST", "forged", NS "/forge-lock/h_1/3", true, 201, NULL},
      {"wrong holder", "PUT", "forged", NS "/forge-lock/mallory_1/3", true, 403,
       "the write carries holder \"mallory_1\" epoch 3, the lease is now held by \"h_1\" epoch 3"},
      {"an older epoch", "PUT", "forged", NS "/forge-lock/h_1/2", true, 403,
       "holder \"h_1\" epoch 2, the lease is now held by \"h_1\" epoch 3"},
      {"a future epoch", "PUT", "forged", NS "/forge-lock/h_1/4", true, 403, "epoch 4"},
      {"an unknown lease", "POST", "forged-3", NS "/no-such-lock/h_1/3", true, 403,
       "lease " NS "/no-such-lock does not exist"},
      {"malformed: three parts", "PUT", "forged", NS "/forge-lock/3", true, 403,
       "fencing token is not four '/'-separated parts"},
      {"malformed: not a number", "PUT", "forged", NS "/forge-lock/h_1/three", true, 403,
       "leaseTransitions must be a number"},
      {"malformed: not a namespace", "PUT", "forged", "Fence/forge-lock/h_1/3", true, 403,
       "is not a namespace name"},
      {"missing", "PUT", "forged", NULL, true, 403, "must carry the annotation"},
      {"switched to another lease the writer holds", "PUT", "forged", NS "/other-lock/h_1/0", true,
       403,
       "the object is fenced by lease " NS "/forge-lock; the write names lease " NS "/other-lock"},
      {"label and token removed", "PUT", "forged", NULL, false, 403, "must carry the annotation"},
      {"label removed, stale token", "PUT", "forged", NS "/forge-lock/h_1/1", false, 403,
       "stale epoch"},
      {"a new object under a stale epoch", "POST", "forged-2", NS "/forge-lock/h_1/0", true, 403,
       "stale epoch"},
      {"the holder's token updates", "PUT", "forged", NS "/forge-lock/h_1/3", true, 200, NULL},
      {"an object that is not fenced is not sent", "POST", "plain", NULL, false, 201, NULL},
  };
  char body[1024], path[256], *msg;
  int fence_calls;
  (void)state;

  make_lease("forge-lock", "h_1", 3);
  make_lease("other-lock", "h_1", 0);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    long st;
    cm_body(body, sizeof body, cases[i].object, cases[i].token, cases[i].labelled);
    snprintf(path, sizeof path, "%s%s%s", CMS, strcmp(cases[i].method, "POST") ? "/" : "",
             strcmp(cases[i].method, "POST") ? cases[i].object : "");
    fence_calls = lgt_count_text(env.api.out, "\"webhook\":\"" FENCE_NAME "\"");
    st = api_call(cases[i].method, path, body, &msg);
    if (cases[i].status == 403)
      assert_refused(st, msg, cases[i].name, cases[i].says);
    else if (st != cases[i].status)
      fail_msg("%s: HTTP %ld \"%s\", want %ld", cases[i].name, st, msg, cases[i].status);
    if (!strcmp(cases[i].object, "plain")) /* objectSelector: no call for it */
      assert_int_equal(lgt_count_text(env.api.out, "\"webhook\":\"" FENCE_NAME "\""), fence_calls);
    free(msg);
  }
  /* A DELETE is judged by the token of the object deleted (the holder's: it passes). */
  assert_int_equal(api_call("DELETE", CMS "/forged", NULL, &msg), 200);
  free(msg);
  {
    lgt_reply r;
    char url[96];
    snprintf(url, sizeof url, "https://127.0.0.1:%d/metrics", env.r2.port);
    lgt_get(url, env.tls.ca, 5000, &r);
    assert_non_null(r.body);
    assert_non_null(strstr(r.body, "leaseguard_lease_violations_total{rule=\"fencing\""));
    free(r.body);
  }
}

/* Two replicas: R1 admits a takeover; R2, the fence, had the old epoch cached and learns the
 * new one from its watch (a GET happens only on a miss), at once. */
static void test_takeover_known_through_watch(void **state) {
  char body[1024], now[40], *msg;
  struct timespec t0;
  time_t t;
  struct tm tm;
  long st = 0;
  (void)state;

  make_lease("watch-lock", "x_1", 0);
  cm_body(body, sizeof body, "watched", NS "/watch-lock/x_1/0", true);
  assert_int_equal(api_call("POST", CMS, body, &msg), 201); /* R2 now holds x_1/0 */
  free(msg);
  {
    lgt_reply r;
    lgt_http(env.tls.ca, "GET", env.api.port, "writer-token", LEASES "/watch-lock", NULL, &r);
    json_t *lease = json_loads(r.body, 0, NULL);
    assert_non_null(lease);
    t = time(NULL);
    gmtime_r(&t, &tm);
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%S.000000Z", &tm);
    /* x_1 releases (client-go's release: holder "", duration 1) ... */
    json_t *spec = json_object_get(lease, "spec");
    json_object_set_new(spec, "holderIdentity", json_string(""));
    json_object_set_new(spec, "leaseDurationSeconds", json_integer(1));
    json_object_set_new(spec, "renewTime", json_string(now));
    json_object_set_new(spec, "acquireTime", json_string(now));
    char *text = json_dumps(lease, 0);
    st = api_call("PUT", LEASES "/watch-lock", text, &msg);
    if (st != 200)
      fail_msg("release: HTTP %ld %s", st, msg);
    free(msg);
    free(text);
    free(r.body);
    json_decref(lease);
  }
  {
    lgt_reply r;
    lgt_http(env.tls.ca, "GET", env.api.port, "writer-token", LEASES "/watch-lock", NULL, &r);
    json_t *lease = json_loads(r.body, 0, NULL), *spec = json_object_get(lease, "spec");
    /* ... and y_1 takes the free lease at once, at the next epoch (admitted by R1). */
    json_object_set_new(spec, "holderIdentity", json_string("y_1"));
    json_object_set_new(spec, "leaseDurationSeconds", json_integer(300));
    json_object_set_new(spec, "leaseTransitions", json_integer(1));
    char *text = json_dumps(lease, 0);
    st = api_call("PUT", LEASES "/watch-lock", text, &msg);
    if (st != 200)
      fail_msg("takeover: HTTP %ld %s", st, msg);
    free(msg);
    free(text);
    free(r.body);
    json_decref(lease);
  }
  clock_gettime(CLOCK_MONOTONIC, &t0);
  cm_body(body, sizeof body, "watched", NS "/watch-lock/y_1/1", true);
  do { /* the watch event is on its way: milliseconds */
    st = api_call("PUT", CMS "/watched", body, &msg);
    if (st != 200) {
      free(msg);
      lgt_sleep_ms(20);
    }
  } while (st != 200 && lgt_elapsed_ms(&t0) < lgt_slow(3000));
  if (st != 200)
    fail_msg("R2 never learnt the takeover: HTTP %ld %s", st, msg);
  print_message("the fence replica knew the takeover %ld ms after it was admitted elsewhere\n",
                lgt_elapsed_ms(&t0));
  free(msg);
  cm_body(body, sizeof body, "watched", NS "/watch-lock/x_1/0", true);
  st = api_call("PUT", CMS "/watched", body, &msg);
  assert_refused(st, msg, "the released holder's write",
                 "the lease is now held by \"y_1\" epoch 1");
  free(msg);
}

/* A fence with a cold cache whose API is unreachable (a dead port) fails in the direction
 * chosen: --fencing-unknown=deny refuses, =allow lets through; a token that cannot be right
 * is refused either way; a takeover the replica admitted itself is known for 5 s without the
 * watch's confirmation, then no longer. */
static void test_api_unreachable(void **state) {
  proc api2, deny, api3, allow;
  char body[1024], *msg;
  long st;
  lgt_reply r;
  int dead = lgt_free_port();
  (void)state;

  deny.port = lgt_free_port();
  start_api(&api2, "api2", deny.port, deny.port);
  start_serve(&deny, "r-deny", dead, "--fencing-unknown=deny");
  cm_body(body, sizeof body, "cold", NS "/cold-lock/h_1/1", true);
  lgt_http(env.tls.ca, "POST", api2.port, "writer-token", CMS, body, &r);
  msg = message_of(r.body);
  assert_refused(r.status, msg, "deny, lease unknown",
                 "the state of lease " NS "/cold-lock is unknown (cache cold and the API "
                 "unreachable); the fence fails closed (serve --fencing-unknown=deny)");
  free(msg);
  free(r.body);
  assert_true(lgt_wait_for_text(deny.err, "cannot read a lease for the fence", lgt_slow(5000)));

  /* The replica admits a takeover itself (it is api2's lease webhook too): known at once. */
  {
    char lease[1024], now[40];
    time_t t = time(NULL);
    struct tm tm;
    struct timespec t0;
    gmtime_r(&t, &tm);
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%S.000000Z", &tm);
    snprintf(lease, sizeof lease,
             "{\"metadata\":{\"name\":\"seen-lock\"},\"spec\":{\"holderIdentity\":\"s_1\","
             "\"leaseDurationSeconds\":300,\"acquireTime\":\"%s\",\"renewTime\":\"%s\","
             "\"leaseTransitions\":0}}",
             now, now);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    lgt_http(env.tls.ca, "POST", api2.port, "writer-token", LEASES, lease, &r);
    assert_int_equal(r.status, 201);
    free(r.body);
    cm_body(body, sizeof body, "seen", NS "/seen-lock/s_1/0", true);
    lgt_http(env.tls.ca, "POST", api2.port, "writer-token", CMS, body, &r);
    msg = message_of(r.body);
    if (lgt_elapsed_ms(&t0) < 4000 && r.status != 201)
      fail_msg("a takeover admitted here, 1 s ago: HTTP %ld %s", r.status, msg);
    free(msg);
    free(r.body);
    /* Never confirmed by a watch (none runs): after 5 s it is unknown again. */
    lgt_sleep_ms(5500 - lgt_elapsed_ms(&t0) > 0 ? 5500 - lgt_elapsed_ms(&t0) : 0);
    lgt_http(env.tls.ca, "PUT", api2.port, "writer-token", CMS "/seen", body, &r);
    msg = message_of(r.body);
    assert_refused(r.status, msg, "an admitted takeover never confirmed", "is unknown");
    free(msg);
    free(r.body);
  }
  stop(&deny);
  stop(&api2);

  allow.port = lgt_free_port();
  start_api(&api3, "api3", 0, allow.port);
  start_serve(&allow, "r-allow", dead, "--fencing-unknown=allow");
  lgt_http(env.tls.ca, "POST", api3.port, "writer-token", CMS, body, &r);
  msg = message_of(r.body);
  if (r.status != 201)
    fail_msg("allow, lease unknown: HTTP %ld %s, want 201", r.status, msg);
  free(msg);
  free(r.body);
  /* allow is about the lease's state only: a token that cannot be right is still refused. */
  cm_body(body, sizeof body, "cold", NS "/cold-lock/1", true);
  st = 0;
  lgt_http(env.tls.ca, "POST", api3.port, "writer-token", CMS, body, &r);
  msg = message_of(r.body);
  st = r.status;
  assert_refused(st, msg, "allow, malformed token", "not four '/'-separated parts");
  free(msg);
  free(r.body);
  cm_body(body, sizeof body, "cold", NULL, true);
  lgt_http(env.tls.ca, "POST", api3.port, "writer-token", CMS, body, &r);
  msg = message_of(r.body);
  assert_refused(r.status, msg, "allow, no token", "must carry the annotation");
  free(msg);
  free(r.body);
  stop(&allow);
  stop(&api3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_failover),
      cmocka_unit_test(test_forged_tokens),
      cmocka_unit_test(test_takeover_known_through_watch),
      cmocka_unit_test(test_api_unreachable),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
