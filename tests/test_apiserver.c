/* test_apiserver.c -- lg-test-apiserver: the Lease API as client-go uses it, validation, watch,
 * events, and the admission webhook path end to end with a real `leaseguard serve`. */
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
#include "times.h"

#define PATH_LEN LGT_PATH_LEN
#define NS       "team-a"
#define WEBHOOK  "leaseguard.example.com"
#define TOKEN_A  "token-a" /* system:serviceaccount:team-a:controller, pod controller-a */
#define TOKEN_B  "token-b" /* system:serviceaccount:team-a:intruder, pod intruder-b */
#define ID_A     "controller-a_5b0e7c1e"
#define ID_B     "intruder-b_9f3d2a44"
#define LEASES   "/apis/coordination.k8s.io/v1/namespaces/" NS "/leases"
#define CONFLICT_MSG                                                                         \
  "Operation cannot be fulfilled on leases.coordination.k8s.io \"%s\": the object has been " \
  "modified; please apply your changes to the latest version and try again"

/* Certificates, tokens and logs of the whole group. */
static struct {
  lgt_tls tls;
  char tokens[PATH_LEN];
  int seq;
} env;

/* Child processes of the running test; the teardown stops them all. */
typedef struct {
  pid_t pid;
  int port;
  char out[PATH_LEN], err[PATH_LEN];
} proc;

#define MAX_PROCS 3
static proc procs[MAX_PROCS];

/* ---- HTTP ---- */

/* Sends the request, checks the HTTP status and returns the JSON body (new). */
static json_t *call(const char *method, int port, const char *token, const char *path,
                    const json_t *body, long want, lgt_reply *raw) {
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  lgt_reply r;
  json_t *doc;
  lgt_http(env.tls.ca, method, port, token, path, text, &r);
  free(text);
  if (r.rc != CURLE_OK || r.status != want)
    fail_msg("%s %s: curl %d, HTTP %ld, want %ld: %s", method, path, (int)r.rc, r.status, want,
             r.body ? r.body : "");
  doc = json_loads(r.body ? r.body : "", 0, NULL);
  if (!json_is_object(doc))
    fail_msg("%s %s: not a JSON object: %s", method, path, r.body ? r.body : "");
  if (raw)
    *raw = r;
  else
    free(r.body);
  return doc;
}

static const char *str_at(const json_t *o, const char *a, const char *b) {
  const json_t *v = json_object_get(o, a);
  return json_string_value(b ? json_object_get(v, b) : v);
}

/* Asserts a v1 Status of code and reason; returns its message (borrowed). */
static const char *assert_status(const json_t *st, long code, const char *reason) {
  assert_string_equal(str_at(st, "kind", NULL), "Status");
  assert_string_equal(str_at(st, "apiVersion", NULL), "v1");
  assert_string_equal(str_at(st, "status", NULL), "Failure");
  assert_int_equal(json_integer_value(json_object_get(st, "code")), code);
  assert_string_equal(str_at(st, "reason", NULL), reason);
  assert_non_null(str_at(st, "message", NULL));
  return str_at(st, "message", NULL);
}

/* ---- the servers ---- */

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

/* Starts lg-test-apiserver on a port of its choosing, with extra flags (NULL-ended). */
static proc *start_apiserver(const char *first, ...) {
  proc *p = new_proc("apiserver");
  char portfile[PATH_LEN], name[32];
  const char *extra[11];
  int n = 0;
  va_list ap;

  snprintf(name, sizeof name, "port-%d", env.seq);
  lgt_path(portfile, env.tls.dir, name);
  va_start(ap, first);
  for (const char *a = first; a && n < 10; a = va_arg(ap, const char *))
    extra[n++] = a;
  va_end(ap);
  extra[n] = NULL;
  const lgt_apiserver as = {.cert = env.tls.cert,
                            .key = env.tls.key,
                            .ca = env.tls.ca,
                            .tokens = env.tokens,
                            .port_file = portfile,
                            .extra = extra,
                            .out = p->out,
                            .err = p->err};
  p->port = lgt_apiserver_start(&as, &p->pid);
  return p;
}

/* Starts `leaseguard serve` (built-in policy, or policy_file) on a free port. */
static proc *start_webhook(const char *policy_file) {
  proc *p = new_proc("serve");
  char policy[PATH_LEN + 32];

  p->port = lgt_free_port();
  snprintf(policy, sizeof policy, "--policy-file=%s", policy_file ? policy_file : "");
  const lgt_serve_opts so = {.port = p->port,
                             .cert = env.tls.cert,
                             .key = env.tls.key,
                             .ca = env.tls.ca,
                             .flags =
                                 (const char *[]){"--threads=2", policy_file ? policy : NULL, NULL},
                             .out = p->out,
                             .err = p->err};
  lgt_serve_launch(&so, &p->pid);
  return p;
}

/* An apiserver whose webhook is https://127.0.0.1:port/validate. */
static proc *start_apiserver_with_webhook(int port, const char *policy) {
  char url[64], ca[PATH_LEN + 32], fp[64];
  snprintf(url, sizeof url, "--webhook-url=https://127.0.0.1:%d/validate", port);
  snprintf(ca, sizeof ca, "--webhook-ca-file=%s", env.tls.ca);
  snprintf(fp, sizeof fp, "--webhook-failure-policy=%s", policy);
  return start_apiserver(url, ca, fp, "--webhook-name=" WEBHOOK, "--webhook-timeout=5", NULL);
}

/* Teardown: SIGTERM every child; each must exit 0 within 10 s (else SIGKILL and fail). */
static int stop_all(void **state) {
  char failed[256] = "";
  (void)state;
  for (int i = 0; i < MAX_PROCS; i++) {
    int status;
    if (procs[i].pid <= 0)
      continue;
    status = lgt_stop(procs[i].pid, SIGTERM, 10000);
    if (status < 0) {
      snprintf(failed, sizeof failed, "%s did not stop within 10 s of SIGTERM", procs[i].out);
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      snprintf(failed, sizeof failed, "%s exited with status %d", procs[i].out, status);
    }
    procs[i].pid = -1;
  }
  if (failed[0])
    fail_msg("%s", failed);
  return 0;
}

/* ---- leases as client-go writes them ---- */

static json_t *lease(const char *name, const char *holder, int duration, lg_time acquire,
                     lg_time renew, int transitions) {
  char a[LG_TIME_BUFLEN], r[LG_TIME_BUFLEN];
  json_t *l = json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:i, s:s, s:s, s:i}}", "apiVersion",
                        "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name", name,
                        "namespace", NS, "spec", "holderIdentity", holder, "leaseDurationSeconds",
                        duration, "acquireTime", lg_time_format(acquire, a), "renewTime",
                        lg_time_format(renew, r), "leaseTransitions", transitions);
  assert_non_null(l);
  return l;
}

/* The object's metadata.resourceVersion as a number. */
static unsigned long rv_of(const json_t *obj) {
  const char *rv = str_at(json_object_get(obj, "metadata"), "resourceVersion", NULL);
  assert_non_null(rv);
  return strtoul(rv, NULL, 10);
}

/* Copies obj's resourceVersion into the metadata of l (client-go keeps the one it read). */
static void with_rv(json_t *l, const json_t *obj) {
  json_object_set_new(
      json_object_get(l, "metadata"), "resourceVersion",
      json_string(str_at(json_object_get(obj, "metadata"), "resourceVersion", NULL)));
}

/* GET 404, then POST: the first acquisition of client-go's LeaseLock. */
static json_t *acquire_new(int port, const char *token, const char *name, const char *holder) {
  char path[PATH_LEN];
  lg_time now = lg_time_now();
  json_t *l = lease(name, holder, 15, now, now, 0), *got;
  snprintf(path, sizeof path, LEASES "/%s", name);
  json_decref(call("GET", port, token, path, NULL, 404, NULL));
  got = call("POST", port, token, LEASES, l, 201, NULL);
  json_decref(l);
  return got;
}

/* A renewal of cur by its holder: new renewTime, everything else kept. */
static json_t *renewal(const json_t *cur) {
  char r[LG_TIME_BUFLEN];
  json_t *l = json_deep_copy(cur);
  json_object_set_new(json_object_get(l, "spec"), "renewTime",
                      json_string(lg_time_format(lg_time_now(), r)));
  return l;
}

/* ---- cases: the API without a webhook ---- */

static void test_crud(void **state) {
  proc *api = start_apiserver(NULL);
  char path[PATH_LEN], msg[512];
  json_t *created, *got, *renewed, *stale, *st, *list;
  lgt_reply raw;
  (void)state;

  created = acquire_new(api->port, TOKEN_A, "crud", ID_A);
  assert_string_equal(str_at(created, "kind", NULL), "Lease");
  assert_non_null(str_at(created, "metadata", "uid"));
  assert_non_null(str_at(created, "metadata", "creationTimestamp"));
  assert_true(rv_of(created) > 0);
  snprintf(path, sizeof path, LEASES "/crud");
  got = call("GET", api->port, TOKEN_A, path, NULL, 200, NULL);
  assert_true(json_equal(got, created));
  /* A second create of the name (without a version, as clients send it): AlreadyExists. */
  renewed = json_deep_copy(created);
  json_object_del(json_object_get(renewed, "metadata"), "resourceVersion");
  st = call("POST", api->port, TOKEN_A, LEASES, renewed, 409, NULL);
  assert_string_equal(assert_status(st, 409, "AlreadyExists"),
                      "leases.coordination.k8s.io \"crud\" already exists");
  json_decref(st);
  json_decref(renewed);

  /* Renewal with the version read: accepted, and the version moves on. */
  renewed = renewal(got);
  json_decref(got);
  got = call("PUT", api->port, TOKEN_A, path, renewed, 200, NULL);
  assert_true(rv_of(got) > rv_of(created));
  assert_string_equal(str_at(got, "metadata", "uid"), str_at(created, "metadata", "uid"));
  /* The same write again carries a stale version: 409 with kube-apiserver's message. */
  stale = call("PUT", api->port, TOKEN_A, path, renewed, 409, NULL);
  snprintf(msg, sizeof msg, CONFLICT_MSG, "crud");
  assert_string_equal(assert_status(stale, 409, "Conflict"), msg);
  json_decref(stale);
  /* No version at all: leases allow no unconditional update. */
  json_object_del(json_object_get(renewed, "metadata"), "resourceVersion");
  st = call("PUT", api->port, TOKEN_A, path, renewed, 422, NULL);
  assert_non_null(strstr(assert_status(st, 422, "Invalid"), "must be specified for an update"));
  json_decref(st);
  /* The body must name the URL's object. */
  st = call("PUT", api->port, TOKEN_A, LEASES "/other", got, 400, NULL);
  assert_status(st, 400, "BadRequest");
  json_decref(st);

  list = call("GET", api->port, TOKEN_A, LEASES, NULL, 200, NULL);
  assert_string_equal(str_at(list, "kind", NULL), "LeaseList");
  assert_non_null(str_at(list, "metadata", "resourceVersion"));
  assert_int_equal(json_array_size(json_object_get(list, "items")), 1);
  assert_string_equal(str_at(json_array_get(json_object_get(list, "items"), 0), "metadata", "name"),
                      "crud");
  json_decref(list);

  st = call("DELETE", api->port, TOKEN_A, path, NULL, 200, &raw);
  assert_string_equal(str_at(st, "status", NULL), "Success");
  assert_string_equal(str_at(st, "details", "uid"), str_at(created, "metadata", "uid"));
  free(raw.body);
  json_decref(st);
  st = call("GET", api->port, TOKEN_A, path, NULL, 404, NULL);
  assert_string_equal(assert_status(st, 404, "NotFound"),
                      "leases.coordination.k8s.io \"crud\" not found");
  json_decref(st);
  json_decref(call("DELETE", api->port, TOKEN_A, path, NULL, 404, NULL));
  json_decref(renewed);
  json_decref(got);
  json_decref(created);
}

static void test_auth_and_routes(void **state) {
  proc *api = start_apiserver(NULL);
  json_t *st;
  (void)state;
  st = call("GET", api->port, NULL, LEASES, NULL, 401, NULL);
  assert_string_equal(assert_status(st, 401, "Unauthorized"), "Unauthorized");
  json_decref(st);
  json_decref(call("GET", api->port, "not-a-token", LEASES, NULL, 401, NULL));
  st = call("GET", api->port, TOKEN_A, "/apis/apps/v1/deployments", NULL, 404, NULL);
  assert_status(st, 404, "NotFound");
  json_decref(st);
  st = call("PATCH", api->port, TOKEN_A, LEASES "/x", NULL, 405, NULL);
  assert_status(st, 405, "MethodNotAllowed");
  json_decref(st);
}

typedef struct {
  const char *name;
  const char *field, *value; /* spec field set to the JSON value */
  long code;
  const char *reason, *cause; /* cause: details.causes[0].field of a 422 */
  const char *message;        /* a substring of the message */
} invalid_case;

/* kube-apiserver's own checks: decoding (400) and pkg/apis/coordination/validation (422). */
static void test_validation(void **state) {
  static const invalid_case cases[] = {
      {"duration 0", "leaseDurationSeconds", "0", 422, "Invalid", "spec.leaseDurationSeconds",
       "Lease.coordination.k8s.io \"bad\" is invalid: spec.leaseDurationSeconds: Invalid value: "
       "0: must be greater than 0"},
      {"negative transitions", "leaseTransitions", "-1", 422, "Invalid", "spec.leaseTransitions",
       "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0"},
      /* Upstream names the field spec.strategy.strategy. */
      {"unknown strategy", "strategy", "\"Newest\"", 422, "Invalid", "spec.strategy.strategy",
       "Unsupported value: \"Newest\": supported values: \"OldestEmulationVersion\""},
      {"preferredHolder alone", "preferredHolder", "\"x\"", 422, "Invalid", "spec.preferredHolder",
       "spec.preferredHolder: Forbidden: may only be specified if `strategy` is defined"},
      /* A MicroTime that does not parse fails decoding, before validation: a 400. */
      {"renewTime not a time", "renewTime", "\"yesterday\"", 400, "BadRequest", NULL,
       "parsing time \"yesterday\""},
      {"renewTime with 3 digits", "renewTime", "\"2024-01-01T00:00:00.123Z\"", 400, "BadRequest",
       NULL, "parsing time"},
      {"duration a string", "leaseDurationSeconds", "\"15\"", 400, "BadRequest", NULL,
       "cannot unmarshal string into Go struct field LeaseSpec.spec.leaseDurationSeconds"},
  };
  proc *api = start_apiserver(NULL);
  lg_time now = lg_time_now();
  (void)state;

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const invalid_case *c = &cases[i];
    json_t *l = lease("bad", ID_A, 15, now, now, 0), *st, *causes;
    const char *msg;
    json_object_set_new(json_object_get(l, "spec"), c->field,
                        json_loads(c->value, JSON_DECODE_ANY, NULL));
    st = call("POST", api->port, TOKEN_A, LEASES, l, c->code, NULL);
    msg = assert_status(st, c->code, c->reason);
    if (!strstr(msg, c->message))
      fail_msg("%s: message \"%s\" lacks \"%s\"", c->name, msg, c->message);
    causes = json_object_get(json_object_get(st, "details"), "causes");
    if (c->cause && (json_array_size(causes) != 1 ||
                     strcmp(str_at(json_array_get(causes, 0), "field", NULL), c->cause) != 0))
      fail_msg("%s: details.causes is not one cause on %s", c->name, c->cause);
    json_decref(st);
    json_decref(l);
  }
  json_decref(call("GET", api->port, TOKEN_A, LEASES "/bad", NULL, 404, NULL));
}

/* ---- watch ---- */

/* A watch in flight: curl's multi interface, so that writes can happen meanwhile. */
typedef struct {
  CURLM *m;
  CURL *c;
  struct curl_slist *hdrs;
  lgt_reply r;
} watch;

/* Drives w until the body holds needle (true), the stream ends or timeout_ms pass. */
static bool watch_until(watch *w, const char *needle, long timeout_ms) {
  struct timespec t0;
  int running = 1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (lgt_elapsed_ms(&t0) < timeout_ms) {
    curl_multi_perform(w->m, &running);
    if (w->r.body && strstr(w->r.body, needle))
      return true;
    if (!running)
      return false;
    curl_multi_poll(w->m, NULL, 0, 20, NULL);
  }
  return false;
}

/* Starts a watch of the namespace's leases and waits until the server has taken it. */
static void watch_start(watch *w, const proc *api, const char *query) {
  char path[PATH_LEN];
  int before = lgt_count_text(api->out, "\"watch\":true");
  struct timespec t0;
  int running;

  snprintf(path, sizeof path, LEASES "?watch=true&%s", query);
  w->c = lgt_request(env.tls.ca, "GET", api->port, TOKEN_A, path, NULL, &w->hdrs, &w->r);
  curl_easy_setopt(w->c, CURLOPT_TIMEOUT_MS, 15000L);
  w->m = curl_multi_init();
  assert_non_null(w->m);
  curl_multi_add_handle(w->m, w->c);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (lgt_count_text(api->out, "\"watch\":true") == before) {
    if (lgt_elapsed_ms(&t0) > 5000)
      fail_msg("the server did not log the watch %s within 5 s", query);
    curl_multi_perform(w->m, &running);
    curl_multi_poll(w->m, NULL, 0, 20, NULL);
  }
}

static void watch_end(watch *w) {
  curl_multi_remove_handle(w->m, w->c);
  curl_easy_cleanup(w->c);
  curl_multi_cleanup(w->m);
  curl_slist_free_all(w->hdrs);
  free(w->r.body);
  memset(w, 0, sizeof *w);
}

/* The first event line of the stream (new). */
static json_t *first_event(const watch *w) {
  const char *nl = strchr(w->r.body, '\n');
  json_t *ev;
  assert_non_null(nl);
  ev = json_loadb(w->r.body, (size_t)(nl - w->r.body), 0, NULL);
  if (!json_is_object(ev))
    fail_msg("not a watch event: %s", w->r.body);
  return ev;
}

static void test_watch(void **state) {
  proc *api = start_apiserver("--watch-history=4", NULL);
  json_t *created, *cur, *l, *ev;
  char query[128];
  watch w;
  (void)state;

  created = acquire_new(api->port, TOKEN_A, "watched", ID_A);
  /* Live: a watch from the creation's version sees the renewal that follows. */
  snprintf(query, sizeof query, "resourceVersion=%lu&timeoutSeconds=10", rv_of(created));
  watch_start(&w, api, query);
  l = renewal(created);
  cur = call("PUT", api->port, TOKEN_A, LEASES "/watched", l, 200, NULL);
  json_decref(l);
  if (!watch_until(&w, "\n", 5000))
    fail_msg("no watch event within 5 s: %s", w.r.body ? w.r.body : "");
  ev = first_event(&w);
  assert_string_equal(str_at(ev, "type", NULL), "MODIFIED");
  assert_true(json_equal(json_object_get(ev, "object"), cur));
  json_decref(ev);
  watch_end(&w);

  /* Resumed from the same version later: the change comes from the history. */
  watch_start(&w, api, query);
  assert_true(watch_until(&w, "\n", 5000));
  ev = first_event(&w);
  assert_string_equal(str_at(ev, "type", NULL), "MODIFIED");
  assert_int_equal(rv_of(json_object_get(ev, "object")), rv_of(cur));
  json_decref(ev);
  watch_end(&w);

  /* Without a version: the current state first, as ADDED. */
  watch_start(&w, api, "timeoutSeconds=10");
  assert_true(watch_until(&w, "\n", 5000));
  ev = first_event(&w);
  assert_string_equal(str_at(ev, "type", NULL), "ADDED");
  assert_true(json_equal(json_object_get(ev, "object"), cur));
  json_decref(ev);
  watch_end(&w);

  /* Four more writes push the creation's successor out of a history of 4: 410 Expired. */
  for (int i = 0; i < 4; i++) {
    l = renewal(cur);
    json_decref(cur);
    cur = call("PUT", api->port, TOKEN_A, LEASES "/watched", l, 200, NULL);
    json_decref(l);
  }
  watch_start(&w, api, query);
  assert_true(watch_until(&w, "\n", 5000));
  ev = first_event(&w);
  assert_string_equal(str_at(ev, "type", NULL), "ERROR");
  assert_status(json_object_get(ev, "object"), 410, "Expired");
  assert_non_null(
      strstr(str_at(json_object_get(ev, "object"), "message", NULL), "too old resource version"));
  json_decref(ev);
  watch_end(&w);
  json_decref(cur);
  json_decref(created);
}

/* ---- events ---- */

static void test_events(void **state) {
  proc *api = start_apiserver(NULL);
  const char *base = "/api/v1/namespaces/" NS "/events";
  json_t *ev, *got, *list, *st;
  char path[PATH_LEN];
  (void)state;

  ev = json_pack("{s:s, s:s, s:{s:s}, s:{s:s, s:s, s:s}, s:s, s:s, s:s, s:{s:s}}", "apiVersion",
                 "v1", "kind", "Event", "metadata", "name", "leader.1", "involvedObject", "kind",
                 "Lease", "namespace", NS, "name", "leader", "reason", "LeaseTakeoverDenied",
                 "message", "denied", "type", "Warning", "source", "component", "leaseguard");
  got = call("POST", api->port, TOKEN_A, base, ev, 201, NULL);
  assert_string_equal(str_at(got, "kind", NULL), "Event");
  assert_non_null(str_at(got, "metadata", "uid"));
  json_decref(got);
  json_object_set_new(json_object_get(ev, "metadata"), "name", json_string("other.1"));
  json_object_set_new(json_object_get(ev, "involvedObject"), "name", json_string("other"));
  json_decref(call("POST", api->port, TOKEN_A, base, ev, 201, NULL));
  json_decref(call("POST", api->port, TOKEN_A, base, ev, 409, NULL));

  list = call("GET", api->port, TOKEN_A, base, NULL, 200, NULL);
  assert_string_equal(str_at(list, "kind", NULL), "EventList");
  assert_int_equal(json_array_size(json_object_get(list, "items")), 2);
  json_decref(list);
  snprintf(path, sizeof path, "%s?fieldSelector=involvedObject.name%%3Dleader", base);
  list = call("GET", api->port, TOKEN_A, path, NULL, 200, NULL);
  assert_int_equal(json_array_size(json_object_get(list, "items")), 1);
  assert_string_equal(str_at(json_array_get(json_object_get(list, "items"), 0), "metadata", "name"),
                      "leader.1");
  json_decref(list);
  snprintf(path, sizeof path, "%s?fieldSelector=spec.holder%%3Dx", base);
  st = call("GET", api->port, TOKEN_A, path, NULL, 400, NULL);
  assert_status(st, 400, "BadRequest");
  json_decref(st);
  json_decref(ev);
}

/* ---- the webhook path with a real `leaseguard serve` ---- */

/* Another identity takes the live lease cur: the write leaseguard exists to stop. */
static json_t *takeover(const json_t *cur) {
  lg_time now = lg_time_now();
  json_t *l = lease(
      str_at(cur, "metadata", "name"), ID_B, 15, now, now,
      (int)json_integer_value(json_object_get(json_object_get(cur, "spec"), "leaseTransitions")) +
          1);
  with_rv(l, cur);
  return l;
}

static void test_webhook_enforce(void **state) {
  proc *wh = start_webhook(NULL);
  proc *api = start_apiserver_with_webhook(wh->port, "Fail");
  json_t *created, *l, *renewed, *st, *after;
  const char *msg;
  (void)state;

  /* client-go's create and renewal pass the built-in policy. */
  created = acquire_new(api->port, TOKEN_A, "leader", ID_A);
  l = renewal(created);
  renewed = call("PUT", api->port, TOKEN_A, LEASES "/leader", l, 200, NULL);
  json_decref(l);

  l = takeover(renewed);
  st = call("PUT", api->port, TOKEN_B, LEASES "/leader", l, 403, NULL);
  json_decref(l);
  msg = str_at(st, "message", NULL);
  assert_non_null(msg);
  if (strncmp(msg, "admission webhook \"" WEBHOOK "\" denied the request: ",
              strlen("admission webhook \"" WEBHOOK "\" denied the request: ")) != 0 ||
      !strstr(msg, "[holder-renew]"))
    fail_msg("unexpected denial: %s", msg);
  assert_int_equal(json_integer_value(json_object_get(st, "code")), 403);
  json_decref(st);
  after = call("GET", api->port, TOKEN_A, LEASES "/leader", NULL, 200, NULL);
  assert_true(json_equal(after, renewed));
  json_decref(after);
  assert_true(lgt_wait_for_text(api->out, "\"allowed\":false", 1000));

  /* dryRun: judged by the webhook (dryRun true), never stored. */
  l = renewal(renewed);
  json_decref(call("PUT", api->port, TOKEN_A, LEASES "/leader?dryRun=All", l, 200, NULL));
  json_decref(l);
  after = call("GET", api->port, TOKEN_A, LEASES "/leader", NULL, 200, NULL);
  assert_true(json_equal(after, renewed));
  assert_true(lgt_wait_for_text(api->out, "\"dryRun\":true", 1000));
  json_decref(after);
  json_decref(renewed);
  json_decref(created);
}

static void test_webhook_warn(void **state) {
  char policy[PATH_LEN];
  proc *wh, *api;
  json_t *created, *l, *got;
  lgt_reply raw;
  (void)state;

  /* holder-identity enforced: each write passes only if the AdmissionReview carried the
   * writer's pod name (userInfo.extra) matching the holder identity "<pod>_<id>". */
  lgt_path(policy, env.tls.dir, "warn.json");
  lgt_write_file(policy, "{\"apiVersion\":\"leaseguard.io/v1alpha1\",\"kind\":\"LeasePolicy\","
                         "\"defaultMode\":\"warn\","
                         "\"rules\":{\"holder-identity\":{\"mode\":\"enforce\"}}}\n");
  wh = start_webhook(policy);
  api = start_apiserver_with_webhook(wh->port, "Fail");
  created = acquire_new(api->port, TOKEN_A, "leader", ID_A);
  l = takeover(created);
  got = call("PUT", api->port, TOKEN_B, LEASES "/leader", l, 200, &raw);
  assert_string_equal(str_at(got, "spec", "holderIdentity"), ID_B);
  if (!strstr(raw.warnings, "299 - \"") || !strstr(raw.warnings, "holder-renew"))
    fail_msg("no Warning header naming holder-renew: \"%s\"", raw.warnings);
  free(raw.body);
  json_decref(got);
  json_decref(l);
  json_decref(created);
}

/* A webhook that cannot be reached: Fail refuses the write with a 500, Ignore lets it through. */
static void test_failure_policy(void **state) {
  int closed = lgt_free_port();
  proc *fail = start_apiserver_with_webhook(closed, "Fail");
  proc *ignore = start_apiserver_with_webhook(closed, "Ignore");
  lg_time now = lg_time_now();
  json_t *l = lease("leader", ID_A, 15, now, now, 0), *st;
  const char *msg;
  (void)state;

  st = call("POST", fail->port, TOKEN_A, LEASES, l, 500, NULL);
  msg = assert_status(st, 500, "InternalError");
  if (!strstr(msg, "failed calling webhook \"" WEBHOOK "\""))
    fail_msg("unexpected failure message: %s", msg);
  json_decref(st);
  json_decref(call("GET", fail->port, TOKEN_A, LEASES "/leader", NULL, 404, NULL));

  json_decref(call("POST", ignore->port, TOKEN_A, LEASES, l, 201, NULL));
  json_decref(call("GET", ignore->port, TOKEN_A, LEASES "/leader", NULL, 200, NULL));
  assert_true(lgt_wait_for_text(ignore->out, "\"ignored\":true", 1000));
  json_decref(l);
}

/* ---- group ---- */

static int setup_group(void **state) {
  (void)state;
  for (int i = 0; i < MAX_PROCS; i++)
    procs[i].pid = -1;
  if (lgt_tls_setup(&env.tls, "apiserver") != 0)
    return -1;
  lgt_path(env.tokens, env.tls.dir, "tokens.csv");
  lgt_write_file(env.tokens,
                 TOKEN_A ",system:serviceaccount:" NS ":controller,uid-a,"
                         "\"system:serviceaccounts,system:serviceaccounts:" NS
                         "\",controller-a\n" TOKEN_B ",system:serviceaccount:" NS ":intruder,uid-b,"
                         "\"system:serviceaccounts,system:serviceaccounts:" NS "\",intruder-b\n");
  return 0;
}

static int teardown_group(void **state) {
  (void)state;
  lgt_tls_teardown(&env.tls);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_crud, stop_all),
      cmocka_unit_test_teardown(test_auth_and_routes, stop_all),
      cmocka_unit_test_teardown(test_validation, stop_all),
      cmocka_unit_test_teardown(test_watch, stop_all),
      cmocka_unit_test_teardown(test_events, stop_all),
      cmocka_unit_test_teardown(test_webhook_enforce, stop_all),
      cmocka_unit_test_teardown(test_webhook_warn, stop_all),
      cmocka_unit_test_teardown(test_failure_policy, stop_all),
  };
  signal(SIGPIPE, SIG_IGN);
  return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
