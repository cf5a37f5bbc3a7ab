/* test_certctl.c -- serve's certificate controller (src/certctl.c) against lg-test-apiserver:
 * the Secret created and the caBundle patched, a rotation with its overlap watched from both
 * sides (clients trusting one CA, and lease writes through an API server that trusts the
 * configuration's caBundle), replicas racing, broken Secrets repaired, the API down at start;
 * never a restart. */
#define _GNU_SOURCE /* asprintf */
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

#include "b64.h"
#include "certinfo.h"
#include "certs.h"
#include "harness.h"
#include "times.h"

#define PATH_LEN LGT_PATH_LEN
#define TOKEN    "token-lg"  /* the controller's service account */
#define WRITER   "token-app" /* a lease writer */
#define SECRET   "/api/v1/namespaces/lg/secrets/lg-certs"
#define VWC      "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/lg"
#define WEBHOOK  "leases.leaseguard.io"
#define LEASES   "/apis/coordination.k8s.io/v1/namespaces/team-a/leases"

static struct {
  lgt_tls tls; /* the API server's certificates */
  char tokens[PATH_LEN], token_file[PATH_LEN];
  int seq, leases;
} env;

typedef struct {
  pid_t pid;
  int port, probe_port;
  char out[PATH_LEN], err[PATH_LEN];
} proc;

#define MAX_PROCS 5
static proc procs[MAX_PROCS];

static int group_setup(void **state) {
  (void)state;
  if (lgt_tls_setup(&env.tls, "certctl") != 0)
    return -1;
  lgt_path(env.tokens, env.tls.dir, "tokens.csv");
  lgt_write_file(env.tokens,
                 TOKEN ",system:serviceaccount:lg:leaseguard,u1,\"system:serviceaccounts\"\n" WRITER
                       ",system:serviceaccount:team-a:app,u2,\"system:serviceaccounts\",app-0\n");
  lgt_path(env.token_file, env.tls.dir, "token");
  lgt_write_file(env.token_file, TOKEN "\n");
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  lgt_tls_teardown(&env.tls);
  return 0;
}

/* ---- processes ---- */

static proc *new_proc(const char *what) {
  char name[64];
  for (int i = 0; i < MAX_PROCS; i++) {
    if (procs[i].pid > 0)
      continue;
    env.seq++;
    snprintf(name, sizeof name, "%s-%d.out", what, env.seq);
    lgt_path(procs[i].out, env.tls.dir, name);
    snprintf(name, sizeof name, "%s-%d.err", what, env.seq);
    lgt_path(procs[i].err, env.tls.dir, name);
    return &procs[i];
  }
  fail_msg("too many child processes");
  return NULL;
}

/* lg-test-apiserver on port (0: any), calling the webhook on webhook_port (0: none) only while
 * the configuration "lg" has it, with its caBundle and failurePolicy Fail; writes of Secrets
 * and configurations take write_delay ms. */
static proc *start_apiserver(int port, int webhook_port, long write_delay) {
  proc *p = new_proc("apiserver");
  char portfile[PATH_LEN], url[96], name[32], wd[48];
  const char *extra[] = {wd,
                         webhook_port ? url : NULL, /* no webhook: the list ends here */
                         "--webhook-configuration=lg",
                         "--webhook-name=" WEBHOOK,
                         "--webhook-failure-policy=Fail",
                         "--webhook-timeout=5",
                         NULL};

  snprintf(name, sizeof name, "port-%d", env.seq);
  lgt_path(portfile, env.tls.dir, name);
  snprintf(wd, sizeof wd, "--write-delay=%ld", lgt_slow(write_delay));
  snprintf(url, sizeof url, "--webhook-url=https://127.0.0.1:%d/validate", webhook_port);
  const lgt_apiserver as = {.cert = env.tls.cert,
                            .key = env.tls.key,
                            .ca = env.tls.ca,
                            .tokens = env.tokens,
                            .port_file = portfile,
                            .port = port,
                            .extra = extra,
                            .out = p->out,
                            .err = p->err};
  p->port = lgt_apiserver_start(&as, &p->pid);
  return p;
}

/* Seconds (scaled for slow runs) as a Go duration, into buf. */
static const char *dur(char *buf, size_t len, long ms) {
  snprintf(buf, len, "%ldms", lgt_slow(ms));
  return buf;
}

/* `leaseguard serve --cert-secret=lg/lg-certs` against the API server on api_port, on port (0:
 * a free one), with the durations given in ms (validity 0: the defaults). */
static proc *start_serve(int port, int api_port, long validity, long renew, long overlap,
                         long sync) {
  proc *p = new_proc("serve");
  char sp[32], probes[64], server[64], tf[PATH_LEN + 32], ca[PATH_LEN + 48];
  char v[48], r[48], o[48], s[48], d[4][32];
  char *argv[24];
  int n = 0;

  p->port = port ? port : lgt_free_port();
  p->probe_port = lgt_free_port();
  snprintf(sp, sizeof sp, "--secure-port=%d", p->port);
  snprintf(probes, sizeof probes, "--health-probe-bind-address=127.0.0.1:%d", p->probe_port);
  snprintf(server, sizeof server, "--server=https://127.0.0.1:%d", api_port);
  snprintf(tf, sizeof tf, "--token-file=%s", env.token_file);
  snprintf(ca, sizeof ca, "--certificate-authority=%s", env.tls.ca);
  argv[n++] = (char *)LEASEGUARD_BIN;
  argv[n++] = "serve";
  argv[n++] = "--bind-address=127.0.0.1";
  argv[n++] = sp;
  argv[n++] = probes;
  argv[n++] = "--threads=2";
  argv[n++] = "--cert-secret=lg/lg-certs";
  argv[n++] = "--webhook-configuration=lg";
  argv[n++] = "--cert-dns-names=localhost,127.0.0.1";
  argv[n++] = server;
  argv[n++] = tf;
  argv[n++] = ca;
  if (validity) {
    snprintf(v, sizeof v, "--cert-validity=%s", dur(d[0], sizeof d[0], validity));
    snprintf(r, sizeof r, "--cert-renew-before=%s", dur(d[1], sizeof d[1], renew));
    snprintf(o, sizeof o, "--cert-overlap=%s", dur(d[2], sizeof d[2], overlap));
    argv[n++] = v;
    argv[n++] = r;
    argv[n++] = o;
  }
  snprintf(s, sizeof s, "--cert-sync-period=%s", dur(d[3], sizeof d[3], sync));
  argv[n++] = s;
  argv[n] = NULL;
  p->pid = lgt_spawn(argv, p->out, p->err);
  return p;
}

static int stop_all(void **state) {
  char failed[PATH_LEN + 64] = "";
  (void)state;
  for (int i = 0; i < MAX_PROCS; i++) {
    int status;
    if (procs[i].pid <= 0)
      continue;
    status = lgt_stop(procs[i].pid, SIGTERM, lgt_slow(10000));
    if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      snprintf(failed, sizeof failed, "%s: status %d at SIGTERM", procs[i].err, status);
    procs[i].pid = -1;
  }
  if (failed[0])
    fail_msg("%s", failed);
  return 0;
}

/* ---- the API ---- */

static json_t *api(int port, const char *token, const char *method, const char *path,
                   const json_t *body, long *status) {
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  lgt_reply r;
  json_t *doc;
  lgt_http(env.tls.ca, method, port, token, path, text, &r);
  free(text);
  *status = r.rc == CURLE_OK ? r.status : 0;
  doc = json_loads(r.body ? r.body : "", 0, NULL);
  free(r.body);
  return doc;
}

/* The configuration "lg": leaseguard's webhook and another one. */
static void create_vwc(int port) {
  long status;
  json_t *vwc =
      json_pack("{s:s, s:s, s:{s:s}, s:[{s:s, s:{s:s}}, {s:s, s:{s:s}}]}", "apiVersion",
                "admissionregistration.k8s.io/v1", "kind", "ValidatingWebhookConfiguration",
                "metadata", "name", "lg", "webhooks", "name", WEBHOOK, "clientConfig", "url",
                "https://127.0.0.1/validate", "name", "second.leaseguard.io", "clientConfig", "url",
                "https://127.0.0.1/other");
  json_decref(api(port, TOKEN, "POST",
                  "/apis/admissionregistration.k8s.io/v1/"
                  "validatingwebhookconfigurations",
                  vwc, &status));
  json_decref(vwc);
  assert_int_equal(status, 201);
}

/* A data key of the Secret as text (new), or NULL. */
static char *secret_key(const json_t *secret, const char *key) {
  const char *v = json_string_value(json_object_get(json_object_get(secret, "data"), key));
  return v ? lg_b64_decode(v, NULL) : NULL;
}

static json_t *get_secret(int port) {
  long status;
  json_t *s = api(port, TOKEN, "GET", SECRET, NULL, &status);
  if (status != 200) {
    json_decref(s);
    return NULL;
  }
  return s;
}

/* The caBundle of webhook i of "lg" as text (new; NULL when none), from vwc (borrowed). */
static char *bundle_of(const json_t *vwc, size_t i) {
  const char *b = json_string_value(json_object_get(
      json_object_get(json_array_get(json_object_get(vwc, "webhooks"), i), "clientConfig"),
      "caBundle"));
  return b ? lg_b64_decode(b, NULL) : NULL;
}

/* The caBundle of webhook i of "lg" now. */
static char *bundle(int port, size_t i) {
  long status;
  json_t *vwc = api(port, TOKEN, "GET", VWC, NULL, &status);
  char *text = bundle_of(vwc, i);
  json_decref(vwc);
  return text;
}

static const char *resource_version(const json_t *obj) {
  return json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
}

/* A new lease in team-a, written through the API server (and so through the webhook): its
 * HTTP status. */
static long write_lease(int port) {
  char name[32], now_s[LG_TIME_BUFLEN];
  long status;
  json_t *l;
  snprintf(name, sizeof name, "lease-%d", ++env.leases);
  lg_time_format(lg_time_now(), now_s);
  l = json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:i, s:s, s:s, s:i}}", "apiVersion",
                "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name", name, "spec",
                "holderIdentity", "app-0_1", "leaseDurationSeconds", 15, "acquireTime", now_s,
                "renewTime", now_s, "leaseTransitions", 0);
  json_decref(api(port, WRITER, "POST", LEASES, l, &status));
  json_decref(l);
  return status;
}

/* ---- the webhook's side ---- */

static int readyz(const proc *p) {
  char url[64];
  lgt_reply r;
  snprintf(url, sizeof url, "http://127.0.0.1:%d/readyz", p->probe_port);
  lgt_get(url, NULL, 2000, &r);
  free(r.body);
  return r.rc == CURLE_OK ? (int)r.status : 0;
}

static void wait_ready(proc *p, long timeout_ms) {
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (readyz(p) != 200) {
    int status;
    if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
      char *text = lgt_slurp(p->err);
      p->pid = -1;
      fail_msg("serve exited (status %d): %s", status, text);
    }
    if (lgt_elapsed_ms(&t0) > lgt_slow(timeout_ms)) {
      char *text = lgt_slurp(p->err);
      fail_msg("serve not ready within %ld ms: %s", lgt_slow(timeout_ms), text);
    }
    lgt_sleep_ms(50);
  }
}

/* A TLS handshake with serve (GET /healthz) trusting only ca_pem (NULL: no verification);
 * true when it succeeded. *served (may be NULL) gets the certificate it presented (new PEM). */
static bool handshake(const proc *p, const char *ca_pem, char **served) {
  struct curl_blob blob = {(void *)ca_pem, ca_pem ? strlen(ca_pem) : 0, CURL_BLOB_COPY};
  struct curl_certinfo *ci = NULL;
  CURL *c = curl_easy_init();
  char url[64];
  lgt_reply r;
  bool ok;

  snprintf(url, sizeof url, "https://127.0.0.1:%d/healthz", p->port);
  lgt_collect(c, &r);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, lgt_slow(5000));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
  curl_easy_setopt(c, CURLOPT_CERTINFO, 1L);
  if (ca_pem)
    curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
  else
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
  r.rc = curl_easy_perform(c);
  ok = r.rc == CURLE_OK;
  if (served) {
    *served = NULL;
    if (ok && curl_easy_getinfo(c, CURLINFO_CERTINFO, &ci) == CURLE_OK && ci &&
        ci->num_of_certs > 0)
      for (struct curl_slist *s = ci->certinfo[0]; s; s = s->next)
        if (!strncmp(s->data, "Cert:", 5))
          *served = lg_certinfo_normalize(s->data + 5);
  }
  free(r.body);
  curl_easy_cleanup(c);
  return ok;
}

/* The certificate serve presents now, normalised (new). */
static char *served_cert(const proc *p) {
  char *pem = NULL;
  assert_true(handshake(p, NULL, &pem));
  assert_non_null(pem);
  return pem;
}

static char *norm(char *pem) {
  char *n = pem ? lg_certinfo_normalize(pem) : NULL;
  free(pem);
  return n;
}

/* The value of the metric line "series value" in serve's /metrics (-1 when absent). */
static long metric(const proc *p, const char *series) {
  char url[64], *at, *line = NULL;
  CURL *c = curl_easy_init();
  lgt_reply r;
  long v = -1;
  snprintf(url, sizeof url, "https://127.0.0.1:%d/metrics", p->port);
  lgt_collect(c, &r);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, lgt_slow(5000));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  assert_true(asprintf(&line, "\n%s ", series) > 0);
  if (curl_easy_perform(c) == CURLE_OK && r.body && (at = strstr(r.body, line)))
    v = strtol(at + strlen(line), NULL, 10);
  free(line);
  free(r.body);
  curl_easy_cleanup(c);
  return v;
}

/* The sum over the replicas of a write counter of action and result. */
static long writes_of(proc *const *sv, int n, const char *action, const char *result) {
  char series[160];
  long sum = 0;
  snprintf(series, sizeof series,
           "leaseguard_certificate_secret_writes_total{action=\"%s\",result=\"%s\"}", action,
           result);
  for (int i = 0; i < n; i++)
    sum += metric(sv[i], series);
  return sum;
}

/* ---- cases ---- */

/* The first replica creates the Secret, patches every webhook's caBundle once and serves the
 * pair; the API server then calls the webhook, trusting that caBundle. */
static void test_create_and_patch(void **state) {
  int port = lgt_free_port();
  proc *as = start_apiserver(0, port, 0), *sv;
  json_t *secret, *again;
  char *ca, *tls, *b0, *b1, *served, rv[32];
  long status;
  (void)state;

  create_vwc(as->port);
  /* Before the controller runs, the configuration has no caBundle: writes fail (Fail). */
  assert_int_equal(write_lease(as->port), 500);
  sv = start_serve(port, as->port, 0, 0, 0, 200);
  wait_ready(sv, 10000);
  secret = get_secret(as->port);
  assert_non_null(secret);
  assert_string_equal(json_string_value(json_object_get(secret, "type")), "kubernetes.io/tls");
  ca = norm(secret_key(secret, "ca.crt"));
  tls = norm(secret_key(secret, "tls.crt"));
  assert_non_null(ca);
  assert_non_null(tls);
  assert_int_equal(lg_certinfo_issued_by(tls, ca, NULL, 0), LG_OK);
  b0 = bundle(as->port, 0);
  b1 = bundle(as->port, 1);
  assert_string_equal(b0, ca);
  assert_string_equal(b1, ca);
  served = served_cert(sv);
  assert_string_equal(served, tls);
  assert_true(handshake(sv, ca, NULL));
  assert_int_equal(writes_of(&sv, 1, "create", "success"), 1);
  assert_int_equal(metric(sv, "leaseguard_webhook_cabundle_patches_total{result=\"success\"}"), 1);

  /* Nothing is written again while nothing is due: several sync periods later the Secret and
   * the configuration keep their versions. */
  snprintf(rv, sizeof rv, "%s", resource_version(secret));
  json_decref(api(as->port, TOKEN, "GET", VWC, NULL, &status));
  lgt_sleep_ms(lgt_slow(1000));
  again = get_secret(as->port);
  assert_string_equal(resource_version(again), rv);
  assert_int_equal(metric(sv, "leaseguard_webhook_cabundle_patches_total{result=\"success\"}"), 1);
  assert_true(metric(sv, "leaseguard_certificate_secret_syncs_total{result=\"success\"}") >= 3);

  /* The API server trusts the configuration's caBundle: lease writes pass the webhook. */
  assert_int_equal(write_lease(as->port), 201);
  assert_true(lgt_wait_for_text(as->out, "\"allowed\":true", lgt_slow(2000)));
  free(served);
  free(b0);
  free(b1);
  free(ca);
  free(tls);
  json_decref(again);
  json_decref(secret);
}

/* Whether text (a caBundle) holds the certificate pem. */
static bool holds(const char *text, const char *pem) { return text && pem && strstr(text, pem); }

/* A whole rotation with short durations, watched every 100 ms: the caBundle trusts the new CA
 * before the serving pair switches to it and the old one until after; a client trusting only
 * the old CA connects until the switch, then only one trusting the new CA does; lease writes
 * through the API server (failurePolicy Fail) never fail; no restart. */
static void test_rotation_overlap(void **state) {
  int port = lgt_free_port(), writes = 0;
  proc *as = start_apiserver(0, port, 0), *sv;
  json_t *secret;
  char *ca1, *tls1, *ca2 = NULL;
  bool both_before_switch = false, old_client_during_overlap = false, switched = false,
       dropped = false;
  struct timespec t0;
  (void)state;

  create_vwc(as->port);
  sv = start_serve(port, as->port, 20000, 10000, 3000, 300);
  wait_ready(sv, 10000);
  secret = get_secret(as->port);
  ca1 = norm(secret_key(secret, "ca.crt"));
  tls1 = norm(secret_key(secret, "tls.crt"));
  json_decref(secret);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (!dropped) {
    long status;
    json_t *vwc = api(as->port, TOKEN, "GET", VWC, NULL, &status);
    char *b = bundle_of(vwc, 0), *b1 = bundle_of(vwc, 1), *before, *after;
    bool ok1, ok2;
    json_decref(vwc);
    if (lgt_elapsed_ms(&t0) > lgt_slow(30000))
      fail_msg("no whole rotation within %ld ms", lgt_slow(30000));
    assert_string_equal(b, b1); /* one patch sets every webhook */
    if (!ca2) {
      secret = get_secret(as->port);
      ca2 = norm(secret_key(secret, "ca-next.crt"));
      json_decref(secret);
    }
    before = served_cert(sv);
    ok1 = handshake(sv, ca1, NULL);
    ok2 = ca2 && handshake(sv, ca2, NULL);
    after = served_cert(sv);
    if (!strcmp(before, after) && !strcmp(before, tls1)) {
      assert_true(ok1);
      assert_false(ok2);
      old_client_during_overlap |= holds(b, ca1) && holds(b, ca2);
    } else if (!strcmp(before, after)) {
      assert_non_null(ca2);
      assert_int_equal(lg_certinfo_issued_by(before, ca2, NULL, 0), LG_OK);
      assert_true(ok2);
      assert_false(ok1);
      if (!switched)
        assert_true(holds(b, ca1) && holds(b, ca2)); /* both still trusted at the switch */
      switched = true;
    }
    both_before_switch |= !switched && holds(b, ca1) && holds(b, ca2);
    if (ca2 && holds(b, ca2) && !holds(b, ca1)) {
      assert_true(switched); /* the old CA goes only after the switch */
      dropped = true;
    }
    assert_int_equal(write_lease(as->port), 201);
    writes++;
    assert_int_equal(readyz(sv), 200);
    free(before);
    free(after);
    free(b);
    free(b1);
    lgt_sleep_ms(100);
  }
  assert_true(both_before_switch);
  assert_true(old_client_during_overlap);
  secret = get_secret(as->port);
  free(tls1);
  tls1 = norm(secret_key(secret, "ca.crt"));
  assert_string_equal(tls1, ca2);
  assert_null(json_object_get(json_object_get(secret, "data"), "ca-previous.crt"));
  assert_null(json_object_get(json_object_get(secret, "data"), "ca-next.crt"));
  json_decref(secret);
  assert_int_equal(writes_of(&sv, 1, "announce", "success"), 1);
  assert_int_equal(writes_of(&sv, 1, "switch", "success"), 1);
  assert_int_equal(writes_of(&sv, 1, "drop", "success"), 1);
  /* Every write went through the webhook, whose certificate the API server always trusted. */
  assert_int_equal(lgt_count_text(as->out, "\"kind\":\"webhook\""), writes);
  assert_int_equal(lgt_count_text(as->out, "\"allowed\":true"), writes);
  assert_int_equal(waitpid(sv->pid, NULL, WNOHANG), 0);
  print_message("rotation: %d lease writes through the webhook, none failed\n", writes);
  free(ca1);
  free(ca2);
  free(tls1);
}

/* Three replicas start at once against an API server whose writes take 300 ms, so that they
 * race: for the Secret's creation, then for each step of a rotation. Each step is written
 * once (the others get a conflict and read the winner's Secret), and all serve the same pair. */
static void test_replicas_race(void **state) {
  proc *as = start_apiserver(0, 0, 300), *sv[3];
  json_t *secret;
  struct timespec t0;
  char *tls;
  (void)state;

  create_vwc(as->port);
  for (int i = 0; i < 3; i++)
    sv[i] = start_serve(0, as->port, 16000, 8000, 2000, 200);
  for (int i = 0; i < 3; i++)
    wait_ready(sv[i], 10000);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (writes_of(sv, 3, "drop", "success") < 1) {
    if (lgt_elapsed_ms(&t0) > lgt_slow(25000))
      fail_msg("no whole rotation within %ld ms", lgt_slow(25000));
    lgt_sleep_ms(200);
  }
  /* Every replica reads the last write within a sync period or so. */
  secret = get_secret(as->port);
  tls = norm(secret_key(secret, "tls.crt"));
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < 3; i++) {
    char *served;
    while (strcmp((served = served_cert(sv[i])), tls) != 0) {
      free(served);
      if (lgt_elapsed_ms(&t0) > lgt_slow(5000))
        fail_msg("replica %d does not serve the Secret's pair", i);
      lgt_sleep_ms(50);
    }
    free(served);
  }
  assert_int_equal(writes_of(sv, 3, "create", "success"), 1);
  assert_int_equal(writes_of(sv, 3, "announce", "success"), 1);
  assert_int_equal(writes_of(sv, 3, "switch", "success"), 1);
  assert_int_equal(writes_of(sv, 3, "drop", "success"), 1);
  assert_true(writes_of(sv, 3, "create", "conflict") >= 1);
  assert_int_equal(writes_of(sv, 3, "create", "failure") + writes_of(sv, 3, "switch", "failure"),
                   0);
  print_message("race: creates lost %ld, announces lost %ld, switches lost %ld, drops lost %ld "
                "(each loser read the winner's Secret)\n",
                writes_of(sv, 3, "create", "conflict"), writes_of(sv, 3, "announce", "conflict"),
                writes_of(sv, 3, "switch", "conflict"), writes_of(sv, 3, "drop", "conflict"));
  free(tls);
  json_decref(secret);
}

/* Replaces the Secret's data keys (pairs of key, PEM text; NULL-ended) with a PUT; the new
 * resourceVersion goes into rv (32 bytes). */
static void break_secret(int port, char *rv, const char *key, ...) {
  json_t *secret = get_secret(port), *data = json_object_get(secret, "data"), *put;
  long status;
  va_list ap;
  va_start(ap, key);
  for (const char *k = key; k; k = va_arg(ap, const char *)) {
    const char *v = va_arg(ap, const char *);
    char *enc = lg_b64_encode(v, strlen(v));
    json_object_set_new(data, k, json_string(enc));
    free(enc);
  }
  va_end(ap);
  put = api(port, TOKEN, "PUT", SECRET, secret, &status);
  assert_int_equal(status, 200);
  snprintf(rv, 32, "%s", resource_version(put));
  json_decref(put);
  json_decref(secret);
}

/* A broken Secret is counted, logged and rewritten (at once on SIGHUP, the sync period being
 * 30 s): a bad serving pair gets a new one from the same CA (the caBundle stays), an
 * unusable or expired CA a new CA (the caBundle follows). The pair in use never stops serving. */
static void test_broken_secret_repaired(void **state) {
  proc *as = start_apiserver(0, 0, 0), *sv;
  lg_certs_pem old_ca = {0}, other = {0};
  int64_t now = lg_time_now() / LG_USEC_PER_SEC;
  (void)state;

  assert_int_equal(lg_certs_make_ca(now - 7200, 3600, &old_ca, NULL, 0), LG_OK);
  assert_int_equal(lg_certs_make_ca(now, 3600, &other, NULL, 0), LG_OK);
  create_vwc(as->port);
  sv = start_serve(0, as->port, 0, 0, 0, 30000);
  wait_ready(sv, 10000);
  for (int i = 0; i < 3; i++) {
    json_t *secret = get_secret(as->port);
    char *ca_before = norm(secret_key(secret, "ca.crt")), *ca, *tls, *key, *b, *served, rv[32];
    bool new_ca = i > 0;
    lg_certinfo info;
    struct timespec t0;
    json_decref(secret);
    if (i == 0) {
      break_secret(as->port, rv, "tls.crt",
                   "-----BEGIN CERTIFICATE-----\ngarbage\n"
                   "-----END CERTIFICATE-----\n",
                   NULL);
    } else if (i == 1) {
      break_secret(as->port, rv, "ca.key", other.key, NULL);
    } else {
      /* An expired CA: made two hours ago for one hour (its serving pair cannot be made,
       * so the old one stays: the CA's expiry is what must be found). */
      break_secret(as->port, rv, "ca.crt", old_ca.cert, "ca.key", old_ca.key, NULL);
    }
    kill(sv->pid, SIGHUP);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
      secret = get_secret(as->port);
      if (strcmp(resource_version(secret), rv) != 0)
        break;
      json_decref(secret);
      if (lgt_elapsed_ms(&t0) > lgt_slow(5000))
        fail_msg("case %d: the Secret was not repaired: %s", i, lgt_slurp(sv->err));
      lgt_sleep_ms(50);
    }
    /* Rewritten whole and sound. */
    ca = norm(secret_key(secret, "ca.crt"));
    tls = secret_key(secret, "tls.crt");
    key = secret_key(secret, "tls.key");
    b = secret_key(secret, "ca.key");
    json_decref(secret);
    assert_int_equal(lg_certinfo_key_matches(ca, b, NULL, 0), LG_OK);
    assert_int_equal(lg_certinfo_key_matches(tls, key, NULL, 0), LG_OK);
    assert_int_equal(lg_certinfo_issued_by(tls, ca, NULL, 0), LG_OK);
    assert_int_equal(lg_certinfo_read(ca, &info, NULL, 0), LG_OK);
    assert_true(info.not_after > lg_time_now() / LG_USEC_PER_SEC);
    free(b);
    if ((strcmp(ca, ca_before) != 0) != new_ca)
      fail_msg("case %d: the CA was %s: %s", i, new_ca ? "kept" : "replaced", lgt_slurp(sv->err));
    /* The caBundle follows the Secret it wrote (then the pair is installed): wait for it. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while ((b = bundle(as->port, 0)) == NULL || strcmp(b, ca) != 0) {
      if (lgt_elapsed_ms(&t0) > lgt_slow(5000))
        fail_msg("case %d: the caBundle is not the repaired CA:\n%s", i, b ? b : "(none)");
      free(b);
      lgt_sleep_ms(50);
    }
    free(b);
    assert_int_equal(metric(sv, "leaseguard_certificate_secret_invalid_total"), i + 1);
    tls = norm(tls);
    /* The repaired pair is what serve presents; it never stopped serving. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (strcmp((served = served_cert(sv)), tls) != 0) {
      free(served);
      assert_true(lgt_elapsed_ms(&t0) < lgt_slow(5000));
      lgt_sleep_ms(50);
    }
    assert_int_equal(readyz(sv), 200);
    free(served);
    free(ca);
    free(ca_before);
    free(tls);
    free(key);
  }
  assert_int_equal(lgt_count_text(sv->err, "the certificate Secret is not usable"), 3);
  assert_true(lgt_count_text(sv->err, "\"action\":\"reissue\"") >= 1);
  assert_true(lgt_count_text(sv->err, "\"action\":\"repair\"") >= 2);
  assert_int_equal(waitpid(sv->pid, NULL, WNOHANG), 0);
  lg_certs_pem_free(&old_ca);
  lg_certs_pem_free(&other);
}

/* The API server is down when serve starts: not ready, retrying; ready once it is up. */
static void test_api_down_at_start(void **state) {
  int api_port = lgt_free_port();
  proc *sv = start_serve(0, api_port, 0, 0, 0, 200), *as;
  (void)state;

  lgt_sleep_ms(lgt_slow(1500));
  assert_int_equal(readyz(sv), 503);
  assert_false(handshake(sv, NULL, NULL)); /* no pair: no TLS either */
  assert_true(lgt_count_text(sv->err, "cannot read the certificate Secret") >= 2);
  as = start_apiserver(api_port, 0, 0);
  create_vwc(as->port);
  wait_ready(sv, 15000);
  assert_int_equal(waitpid(sv->pid, NULL, WNOHANG), 0);
  assert_true(metric(sv, "leaseguard_certificate_secret_syncs_total{result=\"failure\"}") >= 2);
}

/* Wrong flag combinations are usage errors (exit 2) that say what to do. */
static void test_flags(void **state) {
  static const struct {
    const char *args[4];
    const char *says;
  } cases[] = {
      {{"--cert-secret=lg/x", NULL}, "needs --webhook-configuration"},
      {{"--cert-secret=lg/x", "--webhook-configuration=w", NULL}, "needs --cert-dns-names"},
      {{"--cert-secret=x", "--webhook-configuration=w", "--cert-dns-names=a", NULL},
       "must be NAMESPACE/NAME"},
      {{"--cert-secret=Lg/x", "--webhook-configuration=w", "--cert-dns-names=a", NULL}, "DNS-1123"},
      {{"--cert-secret=lg/x", "--webhook-configuration=w", "--cert-dns-names=a_b", NULL},
       "--cert-dns-names"},
      {{"--cert-secret=lg/x", "--tls-cert-file=a", "--tls-private-key-file=b", NULL},
       "give one or the other"},
      {{"--cert-validity=1h", "--tls-cert-file=a", "--tls-private-key-file=b", NULL},
       "need --cert-secret"},
      {{"--cert-secret=lg/x", "--webhook-configuration=w", "--cert-dns-names=a",
        "--cert-renew-before=9000h"},
       "--cert-validity > --cert-renew-before"},
  };
  char out[PATH_LEN], err[PATH_LEN];
  (void)state;
  lgt_path(out, env.tls.dir, "flags.out");
  lgt_path(err, env.tls.dir, "flags.err");
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char *argv[8] = {(char *)LEASEGUARD_BIN, "serve"};
    int n = 2, status;
    char *text;
    for (int k = 0; k < 4 && cases[i].args[k]; k++)
      argv[n++] = (char *)cases[i].args[k];
    argv[n] = NULL;
    status = lgt_wait_exit(lgt_spawn(argv, out, err), lgt_slow(5000));
    text = lgt_slurp(err);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 2 || !strstr(text, cases[i].says))
      fail_msg("case %zu (%s): status %d, stderr %s", i, cases[i].says, status, text);
    free(text);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_flags),
      cmocka_unit_test_teardown(test_create_and_patch, stop_all),
      cmocka_unit_test_teardown(test_replicas_race, stop_all),
      cmocka_unit_test_teardown(test_broken_secret_repaired, stop_all),
      cmocka_unit_test_teardown(test_api_down_at_start, stop_all),
      cmocka_unit_test_teardown(test_rotation_overlap, stop_all),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
