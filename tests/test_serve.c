/* test_serve.c -- integration test of `leaseguard serve`: TLS, routes, limits, modes, policy reload. */
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
#include <unistd.h>
#include <sys/wait.h>

#include <curl/curl.h>
#include <jansson.h>

#include "harness.h"
#include "times.h"

#define PATH_LEN LGT_PATH_LEN
#define NS       "team-a"
#define NAME     "controller-leader"
#define USER     "system:serviceaccount:team-a:controller"

/* The group's directory: certificates, policies and server logs. */
static struct {
  lgt_tls tls;
  int starts;
} env;

/* The server of the running test; the teardown stops it. */
static struct {
  pid_t pid;
  int port;
  char policy[PATH_LEN], out[PATH_LEN], err[PATH_LEN];
} srv = {.pid = -1};

/* ---- policy files ---- */

/* Replaces path atomically, as an editor or a ConfigMap update would. */
static void write_file(const char *path, const char *text) {
  char tmp[PATH_LEN + 8];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  lgt_write_file(tmp, text);
  assert_int_equal(rename(tmp, path), 0);
}

static void write_policy(const char *path, const char *mode) {
  char text[256];
  snprintf(text, sizeof text,
           "{\"apiVersion\":\"leaseguard.io/v1alpha1\",\"kind\":\"LeasePolicy\","
           "\"defaultMode\":\"%s\"}\n",
           mode);
  write_file(path, text);
}

/* ---- HTTP ---- */

typedef struct {
  const char *method; /* NULL: GET, or POST when body is set */
  const char *path;
  const char *ctype; /* Content-Type header, or NULL */
  const char *body;
  size_t len;
  bool chunked;    /* send the body with Transfer-Encoding: chunked */
  bool expect;     /* send Expect: 100-continue and wait for it before the body */
  bool plain_http; /* http:// instead of https:// */
  bool tls12_only;
} request;

typedef struct {
  const char *data;
  size_t len, off;
} upload;

static size_t on_read(char *p, size_t size, size_t n, void *ud) {
  upload *u = ud;
  size_t left = u->len - u->off, chunk = size * n < 4096 ? size * n : 4096;
  if (chunk > left)
    chunk = left;
  memcpy(p, u->data + u->off, chunk);
  u->off += chunk;
  return chunk;
}

/* Sends q to the running server; the caller frees out->body. */
static void http(const request *q, lgt_reply *out) {
  CURL *c = curl_easy_init();
  struct curl_slist *hdrs = NULL, *added;
  char url[PATH_LEN], ct[128];
  upload up = {q->body, q->len, 0};

  assert_non_null(c);
  lgt_collect(c, out);
  snprintf(url, sizeof url, "%s://127.0.0.1:%d%s", q->plain_http ? "http" : "https", srv.port,
           q->path);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CAINFO, env.tls.ca);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, lgt_slow(5000L));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (q->tls12_only)
    curl_easy_setopt(c, CURLOPT_SSLVERSION,
                     (long)(CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2));
  if (q->ctype) {
    /* "Content-Type:" with nothing after it makes curl send none. */
    snprintf(ct, sizeof ct, "Content-Type:%s%s", q->ctype[0] ? " " : "", q->ctype);
    added = curl_slist_append(hdrs, ct);
    assert_non_null(added);
    hdrs = added;
  }
  if (q->body && q->chunked) {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &up);
    added = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
    assert_non_null(added);
    hdrs = added;
  } else if (q->body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->len);
  }
  if (q->expect) {
    added = curl_slist_append(hdrs, "Expect: 100-continue");
    assert_non_null(added);
    hdrs = added;
  }
  if (q->method)
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  out->rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(c);
}

static long get_status(const char *path) {
  request q = {.path = path};
  lgt_reply r;
  http(&q, &r);
  free(r.body);
  return r.rc == CURLE_OK ? r.status : -1;
}

/* ---- the server ---- */

/* Starts `leaseguard serve` with a fresh policy file in mode and the body limit
 * (0 = the default), and waits until /healthz answers. */
static void start_server(const char *mode, unsigned long limit) {
  char policy[PATH_LEN + 32], max[64], name[64];

  env.starts++;
  snprintf(name, sizeof name, "policy-%d.json", env.starts);
  lgt_path(srv.policy, env.tls.dir, name);
  snprintf(name, sizeof name, "serve-%d.out", env.starts);
  lgt_path(srv.out, env.tls.dir, name);
  snprintf(name, sizeof name, "serve-%d.err", env.starts);
  lgt_path(srv.err, env.tls.dir, name);
  write_policy(srv.policy, mode);
  srv.port = lgt_free_port();
  snprintf(policy, sizeof policy, "--policy-file=%s", srv.policy);
  /* 0: the binary's default limit */
  snprintf(max, sizeof max, "--max-request-bytes=%lu", limit);
  const lgt_serve_opts so = {
      .port = srv.port,
      .cert = env.tls.cert,
      .key = env.tls.key,
      .ca = env.tls.ca,
      .flags = (const char *[]){policy, "--policy-check-interval=200", "--threads=2", NULL},
      .extra = (const char *[]){limit ? max : NULL, NULL},
      .out = srv.out,
      .err = srv.err};
  lgt_serve_launch(&so, &srv.pid);
}

/* SIGTERM, then a clean exit 0 within 10 s. */
static int stop_server(void **state) {
  int status;
  (void)state;
  if (srv.pid < 0)
    return 0;
  status = lgt_stop(srv.pid, SIGTERM, 10000);
  srv.pid = -1;
  if (status < 0)
    fail_msg("serve did not stop within 10 s of SIGTERM");
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  return 0;
}

/* ---- AdmissionReview bodies ---- */

static json_t *lease(const char *holder, lg_time acquire, lg_time renew, int transitions) {
  char a[LG_TIME_BUFLEN], r[LG_TIME_BUFLEN];
  return json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:i, s:s, s:s, s:i}}", "apiVersion",
                   "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name", NAME, "namespace",
                   NS, "spec", "holderIdentity", holder, "leaseDurationSeconds", 15, "acquireTime",
                   lg_time_format(acquire, a), "renewTime", lg_time_format(renew, r),
                   "leaseTransitions", transitions);
}

/* An UPDATE of a lease held by pod-a and renewed 2 s ago (so live for 13 s more):
 * a renewal by pod-a, or a takeover by pod-b counting one more transition. */
static char *review(const char *uid, bool takeover) {
  lg_time now = lg_time_now();
  lg_time acquired = now - 60 * LG_USEC_PER_SEC;
  json_t *old = lease("pod-a", acquired, now - 2 * LG_USEC_PER_SEC, 3);
  json_t *obj = takeover ? lease("pod-b", now, now, 4) : lease("pod-a", acquired, now, 3);
  json_t *doc;
  char *text;

  assert_non_null(old);
  assert_non_null(obj);
  doc = json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s}, s:s, s:s, s:s,"
                  " s:{s:s, s:[s, s]}, s:o, s:o, s:b}}",
                  "apiVersion", "admission.k8s.io/v1", "kind", "AdmissionReview", "request", "uid",
                  uid, "kind", "group", "coordination.k8s.io", "version", "v1", "kind", "Lease",
                  "resource", "group", "coordination.k8s.io", "version", "v1", "resource", "leases",
                  "namespace", NS, "name", NAME, "operation", "UPDATE", "userInfo", "username",
                  USER, "groups", "system:serviceaccounts", "system:authenticated", "object", obj,
                  "oldObject", old, "dryRun", 0);
  assert_non_null(doc);
  text = json_dumps(doc, JSON_COMPACT);
  json_decref(doc);
  assert_non_null(text);
  return text;
}

/* POSTs a review and returns the parsed `response` holder (new; the AdmissionReview). */
static json_t *post_review(const char *uid, bool takeover) {
  char *body = review(uid, takeover);
  request q = {.path = "/validate", .ctype = "application/json", .body = body, .len = strlen(body)};
  lgt_reply r;
  json_t *doc;
  json_error_t je;

  http(&q, &r);
  free(body);
  assert_int_equal(r.rc, CURLE_OK);
  assert_int_equal(r.status, 200);
  doc = json_loadb(r.body, r.len, 0, &je);
  if (!doc)
    fail_msg("response is not JSON (%s): %s", je.text, r.body);
  free(r.body);
  assert_string_equal(json_string_value(json_object_get(doc, "kind")), "AdmissionReview");
  assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "response"), "uid")),
                      uid);
  return doc;
}

static json_t *response_of(json_t *doc) {
  json_t *resp = json_object_get(doc, "response");
  assert_true(json_is_object(resp));
  return resp;
}

static bool is_allowed(json_t *resp) { return json_is_true(json_object_get(resp, "allowed")); }

/* Asserts that every warning fits in 120 bytes and one names rule. */
static void assert_warns(json_t *resp, const char *rule) {
  json_t *warnings = json_object_get(resp, "warnings"), *w;
  size_t i;
  bool named = false;
  assert_true(json_is_array(warnings));
  assert_true(json_array_size(warnings) > 0);
  json_array_foreach(warnings, i, w) {
    assert_true(json_is_string(w));
    assert_true(json_string_length(w) <= 120);
    named |= strstr(json_string_value(w), rule) != NULL;
  }
  assert_true(named);
}

/* A 2 s lease held by holder since 2026-11-25, at renewTime renew. */
static json_t *short_lease(const char *holder, lg_time renew, int transitions) {
  const lg_time acquired = INT64_C(1795600800000000);
  char a[LG_TIME_BUFLEN], r[LG_TIME_BUFLEN];
  return json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:i, s:s, s:s, s:i}}", "apiVersion",
                   "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name", NAME, "namespace",
                   NS, "spec", "holderIdentity", holder, "leaseDurationSeconds", 2, "acquireTime",
                   lg_time_format(acquired, a), "renewTime", lg_time_format(renew, r),
                   "leaseTransitions", transitions);
}

/* POSTs an UPDATE old -> obj (both stolen) and returns response.allowed. */
static bool post_update(const char *uid, json_t *old, json_t *obj) {
  json_t *doc = json_pack("{s:s, s:s, s:{s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s}, s:s, s:s,"
                          " s:s, s:{s:s}, s:o, s:o}}",
                          "apiVersion", "admission.k8s.io/v1", "kind", "AdmissionReview", "request",
                          "uid", uid, "kind", "group", "coordination.k8s.io", "version", "v1",
                          "kind", "Lease", "resource", "group", "coordination.k8s.io", "version",
                          "v1", "resource", "leases", "namespace", NS, "name", NAME, "operation",
                          "UPDATE", "userInfo", "username", USER, "object", obj, "oldObject", old);
  char *body = json_dumps(doc, JSON_COMPACT);
  request q = {.path = "/validate", .ctype = "application/json", .body = body, .len = strlen(body)};
  lgt_reply r;
  json_t *answer;
  bool allowed;
  http(&q, &r);
  assert_int_equal(r.rc, CURLE_OK);
  assert_int_equal(r.status, 200);
  answer = json_loadb(r.body, r.len, 0, NULL);
  assert_non_null(answer);
  allowed = is_allowed(response_of(answer));
  json_decref(answer);
  json_decref(doc);
  free(body);
  free(r.body);
  return allowed;
}

/* serve judges expiry by when it saw a record, as client-go does: a holder whose clock is
 * 20 s fast renews a 2 s lease; a steal 0.5 s later is denied, a takeover 2.3 s later is
 * allowed though its renewTime says the lease runs 20 s more. After a restart nothing was
 * seen: renewTime decides (a steal right after a renewal is still denied). */
static void test_observed_time(void **state) {
  const lg_time fast = 20 * LG_USEC_PER_SEC;
  lg_time now;
  (void)state;
  start_server("enforce", 0);
  now = lg_time_now();
  assert_true(post_update("uid-obs-renew", short_lease("pod-a", now + fast - LG_USEC_PER_SEC, 3),
                          short_lease("pod-a", now + fast, 3)));
  usleep(500000);
  assert_false(post_update("uid-obs-steal", short_lease("pod-a", now + fast, 3),
                           short_lease("pod-b", lg_time_now(), 4)));
  usleep(1800000);
  assert_true(post_update("uid-obs-takeover", short_lease("pod-a", now + fast, 3),
                          short_lease("pod-b", lg_time_now(), 4)));
  stop_server(state);
  start_server("enforce", 0);
  now = lg_time_now();
  assert_false(post_update("uid-cold-steal", short_lease("pod-a", now - 200000, 3),
                           short_lease("pod-b", now, 4)));
  assert_true(post_update("uid-cold-takeover", short_lease("pod-a", now - 3 * LG_USEC_PER_SEC, 3),
                          short_lease("pod-b", now, 4)));
}

/* The largest Lease review the API server can send is judged, not refused with a 413 that
 * failurePolicy Ignore would let through: a steal whose new holder is 1.4 MB of '<', which
 * Go's encoder writes as \u003c (6 bytes each), with the default body limit. */
static void test_huge_lease_is_judged(void **state) {
  size_t n = 1400 * 1000;
  char *holder = malloc(n + 1);
  lg_time now;
  (void)state;
  assert_non_null(holder);
  memset(holder, '<', n);
  holder[n] = '\0';
  start_server("enforce", 0);
  now = lg_time_now();
  json_t *old = short_lease("pod-a", now - 100000, 3), *obj = short_lease(holder, now, 4);
  /* a term far longer than the server can take to read 8 MB, even under valgrind */
  json_object_set_new(json_object_get(old, "spec"), "leaseDurationSeconds", json_integer(60));
  json_object_set_new(json_object_get(obj, "spec"), "leaseDurationSeconds", json_integer(60));
  json_t *doc = json_pack(
      "{s:s, s:s, s:{s:s, s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s}, s:s, s:s,"
      " s:s, s:{s:s}, s:o, s:o}}",
      "apiVersion", "admission.k8s.io/v1", "kind", "AdmissionReview", "request", "uid", "uid-huge",
      "kind", "group", "coordination.k8s.io", "version", "v1", "kind", "Lease", "resource", "group",
      "coordination.k8s.io", "version", "v1", "resource", "leases", "namespace", NS, "name", NAME,
      "operation", "UPDATE", "userInfo", "username", USER, "object", obj, "oldObject", old);
  char *body = json_dumps(doc, JSON_COMPACT | JSON_ESCAPE_SLASH);
  /* as Go writes it */
  size_t len = 0, cap = strlen(body) * 6 + 1;
  char *go = malloc(cap);
  for (const char *p = body; *p; p++)
    len += *p == '<' ? (size_t)snprintf(go + len, cap - len, "\\u003c")
                     : (size_t)snprintf(go + len, cap - len, "%c", *p);
  assert_true(len > 8 * 1000 * 1000);
  request q = {.path = "/validate", .ctype = "application/json", .body = go, .len = len};
  lgt_reply r;
  http(&q, &r);
  assert_int_equal(r.rc, CURLE_OK);
  if (r.status != 200 || !strstr(r.body, "\"allowed\":false") || !strstr(r.body, "[holder-renew]"))
    fail_msg("huge steal: status %ld, body %.300s", (long)r.status, r.body);
  free(r.body);
  free(go);
  free(body);
  json_decref(doc);
  free(holder);
}

/* ---- cases ---- */

static void test_renewal_allowed(void **state) {
  json_t *doc;
  (void)state;
  start_server("enforce", 0);
  doc = post_review("uid-renew-1", false);
  assert_true(is_allowed(response_of(doc)));
  json_decref(doc);
  assert_int_equal(get_status("/readyz"), 200);
}

static void test_takeover_denied_in_enforce(void **state) {
  json_t *doc, *status;
  const char *msg;
  (void)state;
  start_server("enforce", 0);
  doc = post_review("uid-steal-1", true);
  assert_false(is_allowed(response_of(doc)));
  status = json_object_get(response_of(doc), "status");
  assert_int_equal(json_integer_value(json_object_get(status, "code")), 403);
  msg = json_string_value(json_object_get(status, "message"));
  assert_non_null(msg);
  assert_non_null(strstr(msg, "holder-renew"));
  assert_non_null(strstr(msg, NS "/" NAME));
  json_decref(doc);
}

static void test_takeover_warned_in_warn(void **state) {
  json_t *doc;
  (void)state;
  start_server("warn", 0);
  doc = post_review("uid-steal-2", true);
  assert_true(is_allowed(response_of(doc)));
  assert_null(json_object_get(response_of(doc), "status"));
  assert_warns(response_of(doc), "holder-renew");
  json_decref(doc);
}

/* The finding goes to auditAnnotations and to an audit line on stdout, not to warnings. */
static void test_takeover_recorded_in_audit(void **state) {
  json_t *doc, *resp, *warnings, *line;
  char *out, *p, *end;
  (void)state;
  start_server("audit", 0);
  doc = post_review("uid-steal-3", true);
  resp = response_of(doc);
  assert_true(is_allowed(resp));
  assert_true(json_is_object(json_object_get(resp, "auditAnnotations")));
  assert_non_null(json_object_get(json_object_get(resp, "auditAnnotations"), "holder-renew"));
  warnings = json_object_get(resp, "warnings");
  assert_true(!warnings || json_array_size(warnings) == 0);
  json_decref(doc);

  assert_true(lgt_wait_for_text(srv.out, "holder-renew", 5000));
  out = lgt_slurp(srv.out);
  p = strstr(out, "holder-renew");
  while (p > out && p[-1] != '\n')
    p--;
  end = strchr(p, '\n');
  assert_non_null(end);
  line = json_loadb(p, (size_t)(end - p), 0, NULL);
  free(out);
  assert_true(json_is_object(line));
  json_decref(line);
}

/* GET /metrics counts the reviews, their violations and their latency. */
static void test_metrics(void **state) {
  json_t *doc;
  lgt_reply r = {0};
  request q = {.path = "/metrics"};
  (void)state;
  start_server("enforce", 0);
  doc = post_review("uid-metrics-1", false);
  json_decref(doc);
  doc = post_review("uid-metrics-2", true);
  json_decref(doc);
  http(&q, &r);
  assert_int_equal(r.status, 200);
  assert_non_null(
      strstr(r.body,
             "leaseguard_admission_requests_total{operation=\"UPDATE\",decision=\"allowed\"} 1\n"));
  assert_non_null(strstr(
      r.body, "leaseguard_admission_requests_total{operation=\"UPDATE\",decision=\"denied\"} 1\n"));
  assert_non_null(strstr(
      r.body,
      "leaseguard_lease_violations_total{rule=\"holder-renew\",mode=\"enforce\",namespace=\"" NS
      "\"} 1\n"));
  assert_non_null(strstr(r.body, "leaseguard_admission_duration_seconds_count 2\n"));
  assert_non_null(strstr(r.body, "leaseguard_serving_certificate_expiration_timestamp_seconds "));
  assert_non_null(strstr(r.body, "leaseguard_build_info{version=\""));
  free(r.body);
}

typedef struct {
  const char *name;
  request q;
  long status;
  const char *reason;
} bad_case;

/* Each refusal is a Status with a message; the server keeps serving afterwards. */
static void test_bad_requests(void **state) {
  enum { LIMIT = 65536, BIG = 100000 };
  char *big = malloc(BIG + 1);
  static const char not_review[] = "{\"kind\":\"ConfigMap\",\"data\":{}}";
  static const char malformed[] = "{\"apiVersion\": \"admission.k8s.io/v1\", ";
  bad_case cases[] = {
      {"GET /validate", {.path = "/validate"}, 405, "MethodNotAllowed"},
      {"PUT /validate",
       {.method = "PUT", .path = "/validate", .ctype = "application/json", .body = "{}", .len = 2},
       405,
       "MethodNotAllowed"},
      {"text/plain",
       {.path = "/validate", .ctype = "text/plain", .body = "{}", .len = 2},
       415,
       "UnsupportedMediaType"},
      {"no Content-Type",
       {.path = "/validate", .ctype = "", .body = "{}", .len = 2},
       415,
       "UnsupportedMediaType"},
      /* The refusal quotes the header: its raw bytes must not stop the answer. */
      {"Content-Type not UTF-8",
       {.path = "/validate", .ctype = "text/\xff\xfe\xc3", .body = "{}", .len = 2},
       415,
       "UnsupportedMediaType"},
      /* Refused before the body is read; without Expect the client may still be
       * sending when the server closes, and lose the reply to a reset. */
      {"Content-Length over the limit",
       {.path = "/validate", .ctype = "application/json", .body = big, .len = BIG, .expect = true},
       413,
       "RequestEntityTooLarge"},
      {"chunked body over the limit",
       {.path = "/validate", .ctype = "application/json", .body = big, .len = BIG, .chunked = true},
       413,
       "RequestEntityTooLarge"},
      {"malformed JSON",
       {.path = "/validate",
        .ctype = "application/json; charset=utf-8",
        .body = malformed,
        .len = sizeof malformed - 1},
       400,
       NULL},
      {"not an AdmissionReview",
       {.path = "/validate",
        .ctype = "Application/JSON",
        .body = not_review,
        .len = sizeof not_review - 1},
       400,
       NULL},
      {"unknown path", {.path = "/mutate"}, 404, "NotFound"},
      {"POST /healthz",
       {.path = "/healthz", .ctype = "application/json", .body = "{}", .len = 2},
       405,
       "MethodNotAllowed"},
  };
  (void)state;
  assert_non_null(big);
  memset(big, 'x', BIG);
  big[BIG] = '\0';
  start_server("enforce", LIMIT);

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const bad_case *c = &cases[i];
    lgt_reply r;
    json_t *st;
    http(&c->q, &r);
    if (r.rc != CURLE_OK || r.status != c->status)
      fail_msg("%s: got curl %d, HTTP %ld, want HTTP %ld: %s", c->name, (int)r.rc, r.status,
               c->status, r.body ? r.body : "");
    st = json_loadb(r.body ? r.body : "", r.len, 0, NULL);
    if (!json_is_object(st))
      fail_msg("%s: reply is not a JSON object: %s", c->name, r.body ? r.body : "");
    assert_string_equal(json_string_value(json_object_get(st, "kind")), "Status");
    assert_int_equal(json_integer_value(json_object_get(st, "code")), c->status);
    if (json_string_length(json_object_get(st, "message")) == 0)
      fail_msg("%s: Status without a message: %s", c->name, r.body);
    if (c->reason)
      assert_string_equal(json_string_value(json_object_get(st, "reason")), c->reason);
    if (c->status == 405 && !strstr(r.allow, c->q.path[1] == 'v' ? "POST" : "GET"))
      fail_msg("%s: Allow header is \"%s\"", c->name, r.allow);
    json_decref(st);
    free(r.body);
  }
  free(big);
  assert_int_equal(get_status("/healthz"), 200);
  json_decref(post_review("uid-after-bad", false));
}

/* TLS only, 1.2 at least: plain HTTP gets no 200; a TLS 1.2 client is served. */
static void test_tls(void **state) {
  request plain = {.path = "/healthz", .plain_http = true};
  request tls12 = {.path = "/healthz", .tls12_only = true};
  lgt_reply r;
  (void)state;
  start_server("enforce", 0);
  http(&plain, &r);
  assert_false(r.rc == CURLE_OK && r.status == 200);
  free(r.body);
  http(&tls12, &r);
  assert_int_equal(r.rc, CURLE_OK);
  assert_int_equal(r.status, 200);
  free(r.body);
  assert_int_equal(get_status("/healthz"), 200);
}

/* enforce -> warn by replacing the file; then an invalid file keeps warn in force. */
static void test_policy_reload(void **state) {
  json_t *doc;
  bool allowed = false;
  (void)state;
  start_server("enforce", 0);
  doc = post_review("uid-reload-1", true);
  assert_false(is_allowed(response_of(doc)));
  json_decref(doc);

  write_policy(srv.policy, "warn");
  for (long waited = 0; !allowed && waited < 5000; waited += 100) {
    doc = post_review("uid-reload-2", true);
    allowed = is_allowed(response_of(doc));
    json_decref(doc);
    if (!allowed)
      lgt_sleep_ms(100);
  }
  assert_true(allowed);
  assert_true(lgt_wait_for_text(srv.err, "policy reloaded", 1000));

  write_file(srv.policy, "{\"apiVersion\":\"leaseguard.io/v1alpha1\",\"kind\":\"LeasePolicy\","
                         "\"defaultMode\":\"sometimes\"}\n");
  assert_true(lgt_wait_for_text(srv.err, "policy reload failed", 5000));
  doc = post_review("uid-reload-3", true);
  assert_true(is_allowed(response_of(doc)));
  assert_warns(response_of(doc), "holder-renew");
  json_decref(doc);

  /* SIGHUP re-reads the (still invalid) file; the server stays up on warn. */
  assert_int_equal(kill(srv.pid, SIGHUP), 0);
  lgt_sleep_ms(300);
  assert_int_equal(get_status("/healthz"), 200);
  doc = post_review("uid-reload-4", true);
  assert_true(is_allowed(response_of(doc)));
  json_decref(doc);

  /* one good reload, and the bad file refused twice (on change, then on SIGHUP) */
  lgt_reply r = {0};
  request q = {.path = "/metrics"};
  http(&q, &r);
  assert_non_null(strstr(r.body, "leaseguard_policy_reloads_total{result=\"success\"} 1\n"));
  assert_non_null(strstr(r.body, "leaseguard_policy_reloads_total{result=\"failure\"} 2\n"));
  free(r.body);
}

/* ---- group ---- */

static int setup_group(void **state) {
  (void)state;
  return lgt_tls_setup(&env.tls, "serve");
}

static int teardown_group(void **state) {
  (void)state;
  lgt_tls_teardown(&env.tls);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_renewal_allowed, stop_server),
      cmocka_unit_test_teardown(test_takeover_denied_in_enforce, stop_server),
      cmocka_unit_test_teardown(test_takeover_warned_in_warn, stop_server),
      cmocka_unit_test_teardown(test_takeover_recorded_in_audit, stop_server),
      cmocka_unit_test_teardown(test_metrics, stop_server),
      cmocka_unit_test_teardown(test_bad_requests, stop_server),
      cmocka_unit_test_teardown(test_tls, stop_server),
      cmocka_unit_test_teardown(test_policy_reload, stop_server),
      cmocka_unit_test_teardown(test_observed_time, stop_server),
      cmocka_unit_test_teardown(test_huge_lease_is_judged, stop_server),
  };
  return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
