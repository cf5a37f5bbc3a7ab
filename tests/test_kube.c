/* test_kube.c -- kube.c: calls and streams to a local HTTPS server, with tokens, token files,
 * exec plugins (a 401 runs the plugin again), client certificates, tls-server-name and
 * insecure-skip-tls-verify. kubeconfig.c's choices are in test_kubeconfig.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "harness.h"
#include "kube.h"

#define PATH_LEN   LGT_PATH_LEN
#define TIMEOUT_MS 300L            /* for calls that must time out */
#define CALL_MS    lgt_slow(5000L) /* for calls that must succeed (LG_TEST_SLOW: valgrind) */
#define HUGE_LEN   (17L << 20)     /* past the client's 16 MiB cap */

/* ---- files ---- */

static char dir[LGT_PATH_LEN]; /* this run's temporary directory */

/* Writes dir/rel (creating its directories), replacing "@DIR@" in text by dir. */
static void put_file(const char *rel, const char *text) {
  char path[PATH_LEN];
  FILE *f;
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  for (char *slash = path + strlen(dir) + 1; (slash = strchr(slash, '/')) != NULL; slash++) {
    *slash = '\0';
    mkdir(path, 0700);
    *slash = '/';
  }
  f = fopen(path, "w");
  assert_non_null(f);
  for (const char *p = text; *p;) {
    if (!strncmp(p, "@DIR@", 5)) {
      fputs(dir, f);
      p += 5;
    } else {
      fputc(*p++, f);
    }
  }
  assert_int_equal(fclose(f), 0);
}

/* Returns the contents of dir/rel as a new string. */
static char *get_file(const char *rel) {
  char path[PATH_LEN], *text;
  lgt_path(path, dir, rel);
  text = lgt_read_file(path, NULL);
  assert_non_null(text);
  return text;
}

/* Runs `leaseguard certs` into dir/sub with optional extra arguments. */
static void make_certs(const char *sub, const char *extra) {
  char out[PATH_LEN];
  lgt_path(out, dir, sub);
  assert_int_equal(lgt_make_certs(out, extra), 0);
}

/* ---- the test API server ---- */

/* What the server saw of a request. */
typedef struct {
  char method[16], auth[256], ctype[128], accept[128], agent[128], host[256], body[1024];
} seen_request;

/* Shared with the server's thread. */
static struct {
  pthread_mutex_t lock;
  seen_request last;
  int connections;
  struct MHD_Connection *held; /* the suspended /hang request */
  char accepted[64];           /* the one bearer token /auth accepts */
} seen = {.lock = PTHREAD_MUTEX_INITIALIZER};

typedef struct {
  struct MHD_Daemon *d;
  int port;
  char *cert, *key;
} server;

static server main_srv, wrongname_srv;

typedef struct {
  char *data;
  size_t len;
  bool resumed;
} request;

static void copy_header(struct MHD_Connection *c, const char *name, char *out, size_t len) {
  const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
  snprintf(out, len, "%s", v ? v : "");
}

static ssize_t fill_spaces(void *cls, uint64_t pos, char *buf, size_t max) {
  size_t n = (uint64_t)HUGE_LEN - pos < max ? (size_t)(HUGE_LEN - pos) : max;
  (void)cls;
  if (n == 0)
    return MHD_CONTENT_READER_END_OF_STREAM;
  memset(buf, ' ', n);
  return (ssize_t)n;
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned code, const char *ctype,
                              const char *text) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
  enum MHD_Result ret;
  MHD_add_response_header(r, "Content-Type", ctype);
  ret = MHD_queue_response(c, code, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result answer_huge(struct MHD_Connection *c, bool chunked) {
  struct MHD_Response *r = MHD_create_response_from_callback(
      chunked ? MHD_SIZE_UNKNOWN : (uint64_t)HUGE_LEN, 64 * 1024, fill_spaces, NULL, NULL);
  enum MHD_Result ret;
  MHD_add_response_header(r, "Content-Type", "application/json");
  ret = MHD_queue_response(c, MHD_HTTP_OK, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **state) {
  request *rq = *state;
  (void)cls;
  (void)version;
  if (!rq) {
    *state = calloc(1, sizeof(request));
    return *state ? MHD_YES : MHD_NO;
  }
  if (*size) {
    char *grown = realloc(rq->data, rq->len + *size + 1);
    if (!grown)
      return MHD_NO;
    memcpy(grown + rq->len, data, *size);
    rq->data = grown;
    rq->len += *size;
    rq->data[rq->len] = '\0';
    *size = 0;
    return MHD_YES;
  }
  if (rq->resumed)
    return answer(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", "late");

  pthread_mutex_lock(&seen.lock);
  snprintf(seen.last.method, sizeof seen.last.method, "%s", method);
  copy_header(c, "Authorization", seen.last.auth, sizeof seen.last.auth);
  copy_header(c, "Content-Type", seen.last.ctype, sizeof seen.last.ctype);
  copy_header(c, "Accept", seen.last.accept, sizeof seen.last.accept);
  copy_header(c, "User-Agent", seen.last.agent, sizeof seen.last.agent);
  copy_header(c, "Host", seen.last.host, sizeof seen.last.host);
  char accepted[80];
  snprintf(accepted, sizeof accepted, "Bearer %s", seen.accepted);
  bool authorized = !strcmp(seen.last.auth, accepted);
  snprintf(seen.last.body, sizeof seen.last.body, "%s", rq->data ? rq->data : "");
  if (!strcmp(url, "/hang")) {
    rq->resumed = true; /* the next call of this handler is after the resume */
    seen.held = c;
    MHD_suspend_connection(c);
  }
  pthread_mutex_unlock(&seen.lock);

  if (!strcmp(url, "/hang"))
    return MHD_YES;
  if (!strcmp(url, "/auth") && !authorized)
    return answer(c, MHD_HTTP_UNAUTHORIZED, "application/json",
                  "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
                  "\"message\":\"Unauthorized\",\"reason\":\"Unauthorized\",\"code\":401}");
  if (!strcmp(url, "/ok") || !strcmp(url, "/auth"))
    return answer(c, MHD_HTTP_OK, "application/json",
                  "{\"kind\":\"Lease\",\"metadata\":{\"name\":\"leader\"}}");
  if (!strcmp(url, "/echo"))
    return answer(c, MHD_HTTP_CREATED, "application/json; charset=utf-8",
                  rq->data ? rq->data : "null");
  if (!strcmp(url, "/conflict"))
    return answer(c, MHD_HTTP_CONFLICT, "application/json",
                  "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
                  "\"message\":\"leases.coordination.k8s.io \\\"leader\\\" already exists\","
                  "\"reason\":\"AlreadyExists\",\"code\":409}");
  if (!strcmp(url, "/plain500"))
    return answer(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", "oops");
  if (!strcmp(url, "/badjson"))
    return answer(c, MHD_HTTP_OK, "application/json", "{\"kind\":");
  if (!strcmp(url, "/huge"))
    return answer_huge(c, false);
  if (!strcmp(url, "/huge-chunked"))
    return answer_huge(c, true);
  return answer(c, MHD_HTTP_NOT_FOUND, "application/json", "{\"kind\":\"Status\",\"code\":404}");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state,
                         enum MHD_RequestTerminationCode toe) {
  request *rq = *state;
  (void)cls;
  (void)c;
  (void)toe;
  if (rq)
    free(rq->data);
  free(rq);
  *state = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
  (void)cls;
  (void)c;
  (void)socket_context;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    pthread_mutex_lock(&seen.lock);
    seen.connections++;
    pthread_mutex_unlock(&seen.lock);
  }
}

/* Starts an HTTPS server on 127.0.0.1 with dir/sub/tls.{crt,key}. */
static int start_server(server *s, const char *sub) {
  char rel[PATH_LEN];
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  snprintf(rel, sizeof rel, "%s/tls.crt", sub);
  s->cert = get_file(rel);
  snprintf(rel, sizeof rel, "%s/tls.key", sub);
  s->key = get_file(rel);
  s->d = MHD_start_daemon(MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME,
                          0, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
                          (struct sockaddr *)&a, MHD_OPTION_HTTPS_MEM_CERT, s->cert,
                          MHD_OPTION_HTTPS_MEM_KEY, s->key, MHD_OPTION_NOTIFY_COMPLETED,
                          on_completed, NULL, MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
                          MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
  if (!s->d)
    return -1;
  s->port = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT)->port;
  return 0;
}

static void stop_server(server *s) {
  if (s->d)
    MHD_stop_daemon(s->d);
  free(s->cert);
  free(s->key);
  memset(s, 0, sizeof *s);
}

/* A loopback socket that listens but is never served: connections hang in the backlog. */
static int silent_listener(int *port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  socklen_t len = sizeof a;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_true(fd >= 0);
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(fd, 4), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  *port = ntohs(a.sin_port);
  return fd;
}

/* ---- group set-up ---- */

static int group_setup(void **state) {
  (void)state;
  /* The calls go straight to 127.0.0.1. */
  unsetenv("https_proxy");
  unsetenv("HTTPS_PROXY");
  unsetenv("all_proxy");
  unsetenv("ALL_PROXY");
  if (lgt_temp_dir(dir, "kube") != 0)
    return -1;
  make_certs("certs", NULL);
  make_certs("other", NULL);
  make_certs("wrongname", "--dns=elsewhere.invalid");
  if (start_server(&main_srv, "certs") || start_server(&wrongname_srv, "wrongname"))
    return -1;
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  pthread_mutex_lock(&seen.lock);
  if (seen.held)
    MHD_resume_connection(seen.held);
  seen.held = NULL;
  pthread_mutex_unlock(&seen.lock);
  stop_server(&main_srv);
  stop_server(&wrongname_srv);
  if (dir[0])
    lgt_rm_tree(dir);
  return 0;
}

/* ---- checks with the case name in the message ---- */

static void check_str(const char *name, const char *field, const char *want, const char *got) {
  if ((want == NULL) != (got == NULL) || (want && strcmp(want, got) != 0))
    fail_msg("%s: %s is \"%s\", want \"%s\"", name, field, got ? got : "(null)",
             want ? want : "(null)");
}

static void check_contains(const char *name, const char *what, const char *text,
                           const char *needle) {
  if (!text || !strstr(text, needle))
    fail_msg("%s: %s \"%s\" does not contain \"%s\"", name, what, text ? text : "(null)", needle);
}

/* ---- calls ---- */

/* A config for the main server: CA file from dir/ca_sub (NULL: none), the given token. */
static void config_for(lg_kube_config *c, int port, const char *ca_sub, const char *token) {
  char buf[PATH_LEN];
  memset(c, 0, sizeof *c);
  snprintf(buf, sizeof buf, "https://127.0.0.1:%d", port);
  c->server = strdup(buf);
  if (ca_sub) {
    snprintf(buf, sizeof buf, "%s/%s/ca.crt", dir, ca_sub);
    c->ca_file = strdup(buf);
  }
  c->token = token ? strdup(token) : NULL;
}

static lg_kube *client_for(const lg_kube_config *c) {
  lg_kube *k = NULL;
  char err[512] = "";
  if (lg_kube_new(c, &k, err, sizeof err) != LG_OK)
    fail_msg("lg_kube_new: %s", err);
  return k;
}

/* The last request the server saw. */
static seen_request last_request(void) {
  seen_request r;
  pthread_mutex_lock(&seen.lock);
  r = seen.last;
  pthread_mutex_unlock(&seen.lock);
  return r;
}

static int connections(void) {
  int n;
  pthread_mutex_lock(&seen.lock);
  n = seen.connections;
  pthread_mutex_unlock(&seen.lock);
  return n;
}

static void test_get_json_keepalive(void **state) {
  lg_kube_config c;
  lg_kube_result r;
  lg_kube *k;
  int before = connections();
  (void)state;
  config_for(&c, main_srv.port, "certs", "static-token");
  k = client_for(&c);
  lg_kube_config_free(&c); /* the client keeps its own copy */
  for (int i = 0; i < 3; i++) {
    assert_int_equal(lg_kube_call(k, "GET", "/ok", NULL, CALL_MS, &r), LG_OK);
    assert_int_equal(r.status, 200);
    assert_non_null(r.body);
    assert_string_equal(json_string_value(json_object_get(r.body, "kind")), "Lease");
    assert_string_equal(r.message, "");
    lg_kube_result_free(&r);
    assert_null(r.body);
    seen_request s = last_request();
    assert_string_equal(s.method, "GET");
    assert_string_equal(s.auth, "Bearer static-token");
    assert_string_equal(s.accept, "application/json");
    assert_string_equal(s.ctype, "");
    assert_string_equal(s.agent, "leaseguard/" LG_VERSION);
  }
  assert_int_equal(connections() - before, 1); /* one kept-alive connection */

  /* DELETE without a body, and a HEAD. */
  assert_int_equal(lg_kube_call(k, "DELETE", "/ok", NULL, CALL_MS, &r), LG_OK);
  assert_int_equal(r.status, 200);
  assert_string_equal(last_request().method, "DELETE");
  lg_kube_result_free(&r);
  assert_int_equal(lg_kube_call(k, "HEAD", "/ok", NULL, CALL_MS, &r), LG_OK);
  assert_int_equal(r.status, 200);
  assert_null(r.body);
  assert_string_equal(last_request().method, "HEAD");
  lg_kube_result_free(&r);

  /* Bad arguments: no call is made. */
  assert_int_equal(lg_kube_call(k, "GET", "ok", NULL, CALL_MS, &r), LG_EINVAL);
  assert_int_equal(lg_kube_call(k, "GET\r\nX: y", "/ok", NULL, CALL_MS, &r), LG_EINVAL);
  assert_int_equal(lg_kube_call(k, "GET", "/ok", NULL, 0, &r), LG_EINVAL);
  assert_int_equal(r.status, 0);
  lg_kube_free(k);
  lg_kube_free(NULL);

  /* The client refuses plain HTTP. */
  {
    static int dummy;
    char err[256] = "";
    lg_kube_config http = {.server = "http://127.0.0.1:1"};
    k = (lg_kube *)&dummy; /* must be reset to NULL */
    assert_int_equal(lg_kube_new(&http, &k, err, sizeof err), LG_EINVAL);
    assert_null(k);
  }
}

static void test_post_and_put_body(void **state) {
  lg_kube_config c;
  lg_kube_result r;
  lg_kube *k;
  json_t *body = json_pack("{s:s, s:{s:s, s:i}}", "kind", "Lease", "spec", "holderIdentity",
                           "pod-a", "leaseDurationSeconds", 15);
  const char *sent = "{\"kind\":\"Lease\",\"spec\":{\"holderIdentity\":\"pod-a\","
                     "\"leaseDurationSeconds\":15}}";
  (void)state;
  config_for(&c, main_srv.port, "certs", NULL);
  k = client_for(&c);
  lg_kube_config_free(&c);
  for (int i = 0; i < 2; i++) {
    const char *method = i ? "PUT" : "POST";
    assert_int_equal(lg_kube_call(k, method, "/echo", body, CALL_MS, &r), LG_OK);
    assert_int_equal(r.status, 201);
    assert_true(json_equal(r.body, body)); /* application/json; charset=utf-8 is JSON too */
    lg_kube_result_free(&r);
    seen_request s = last_request();
    assert_string_equal(s.method, method);
    assert_string_equal(s.ctype, "application/json");
    assert_string_equal(s.body, sent);
    assert_string_equal(s.auth, ""); /* no token configured */
  }
  /* A GET after a POST on the same handle is a GET without a body. */
  assert_int_equal(lg_kube_call(k, "GET", "/ok", NULL, CALL_MS, &r), LG_OK);
  assert_string_equal(last_request().method, "GET");
  assert_string_equal(last_request().body, "");
  assert_string_equal(last_request().ctype, "");
  lg_kube_result_free(&r);
  json_decref(body);
  lg_kube_free(k);
}

static void test_token_file_rotation(void **state) {
  char tok[PATH_LEN];
  lg_kube_config c;
  lg_kube_result r;
  lg_kube *k;
  (void)state;
  config_for(&c, main_srv.port, "certs", "ignored-static");
  snprintf(tok, sizeof tok, "%s/rot/token", dir);
  c.token_file = strdup(tok);
  put_file("rot/token", "  first-token\n");
  k = client_for(&c);
  lg_kube_config_free(&c);

  assert_int_equal(lg_kube_call(k, "GET", "/ok", NULL, CALL_MS, &r), LG_OK);
  assert_string_equal(last_request().auth, "Bearer first-token");
  lg_kube_result_free(&r);
  put_file("rot/token", "second-token");
  assert_int_equal(lg_kube_call(k, "GET", "/ok", NULL, CALL_MS, &r), LG_OK);
  assert_string_equal(last_request().auth, "Bearer second-token");
  lg_kube_result_free(&r);

  unlink(tok);
  assert_int_equal(lg_kube_call(k, "GET", "/ok", NULL, CALL_MS, &r), LG_EIO);
  assert_int_equal(r.status, 0);
  check_contains("token file gone", "message", r.message, tok);
  put_file("rot/token", " \n");
  assert_int_equal(lg_kube_call(k, "GET", "/ok", NULL, CALL_MS, &r), LG_EIO);
  check_contains("token file empty", "message", r.message, "empty");
  put_file("rot/token", "bad\ntoken\n");
  assert_int_equal(lg_kube_call(k, "GET", "/ok", NULL, CALL_MS, &r), LG_EINVAL);
  check_contains("token with newline", "message", r.message, "not allowed");
  lg_kube_free(k);
}

typedef struct {
  const char *name, *path;
  lg_rc rc;
  long status;
  bool body;
  const char *message; /* a part of out->message ("" = empty) */
} answer_case;

static const answer_case answer_cases[] = {
    {"409 Status", "/conflict", LG_OK, 409, true,
     "leases.coordination.k8s.io \"leader\" already exists"},
    {"404 Status without message", "/missing", LG_OK, 404, true, "HTTP 404"},
    {"500 text", "/plain500", LG_OK, 500, false, "HTTP 500"},
    {"malformed JSON", "/badjson", LG_OK, 200, false, "malformed JSON"},
    {"too large", "/huge", LG_EIO, 0, false, "larger than 16 MiB"},
    {"too large, chunked", "/huge-chunked", LG_EIO, 0, false, "larger than 16 MiB"},
    {"fine after all that", "/ok", LG_OK, 200, true, ""},
};

static void test_answers(void **state) {
  lg_kube_config c;
  lg_kube *k;
  (void)state;
  config_for(&c, main_srv.port, "certs", "t");
  k = client_for(&c);
  lg_kube_config_free(&c);
  for (size_t i = 0; i < sizeof answer_cases / sizeof *answer_cases; i++) {
    const answer_case *t = &answer_cases[i];
    lg_kube_result r;
    lg_rc rc = lg_kube_call(k, "GET", t->path, NULL, CALL_MS, &r);
    if (rc != t->rc || r.status != t->status || (r.body != NULL) != t->body)
      fail_msg("%s: rc %d status %ld body %p (%s), want %d %ld %d", t->name, rc, r.status,
               (void *)r.body, r.message, t->rc, t->status, t->body);
    if (*t->message)
      check_contains(t->name, "message", r.message, t->message);
    else
      check_str(t->name, "message", "", r.message);
    lg_kube_result_free(&r);
  }
  lg_kube_free(k);
}

/* The call must have given up after about TIMEOUT_MS (generous for valgrind). */
static void check_elapsed(const char *name, long ms) {
  if (ms < TIMEOUT_MS - 50 || ms > TIMEOUT_MS + 1500)
    fail_msg("%s: gave up after %ld ms, want about %ld", name, ms, TIMEOUT_MS);
}

static void test_timeouts(void **state) {
  lg_kube_config c;
  lg_kube_result r;
  lg_kube *k;
  struct timespec t0;
  long ms;
  int port, fd = silent_listener(&port);
  (void)state;

  /* Nobody answers the TLS handshake. */
  config_for(&c, port, "certs", "t");
  k = client_for(&c);
  lg_kube_config_free(&c);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  assert_int_equal(lg_kube_call(k, "GET", "/ok", NULL, TIMEOUT_MS, &r), LG_EIO);
  ms = lgt_elapsed_ms(&t0);
  assert_int_equal(r.status, 0);
  /* curl says "Operation timed out" or, during the handshake, "SSL connection timeout" */
  check_contains("silent listener", "message", r.message,
                 strstr(r.message, "timeout") ? "timeout" : "timed out");
  check_elapsed("silent listener", ms);
  lg_kube_free(k);
  close(fd);

  /* The request is received and never answered. */
  config_for(&c, main_srv.port, "certs", "t");
  k = client_for(&c);
  lg_kube_config_free(&c);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  assert_int_equal(lg_kube_call(k, "GET", "/hang", NULL, TIMEOUT_MS, &r), LG_EIO);
  ms = lgt_elapsed_ms(&t0);
  check_contains("hanging request", "message", r.message,
                 strstr(r.message, "timeout") ? "timeout" : "timed out");
  check_elapsed("hanging request", ms);
  /* The same client works again afterwards. */
  assert_int_equal(lg_kube_call(k, "GET", "/ok", NULL, CALL_MS, &r), LG_OK);
  assert_int_equal(r.status, 200);
  lg_kube_result_free(&r);
  lg_kube_free(k);
}

static void test_not_listening(void **state) {
  lg_kube_config c;
  lg_kube_result r;
  lg_kube *k;
  (void)state;
  config_for(&c, lgt_free_port(), "certs", "t");
  k = client_for(&c);
  lg_kube_config_free(&c);
  assert_int_equal(lg_kube_call(k, "GET", "/ok", NULL, CALL_MS, &r), LG_EIO);
  assert_int_equal(r.status, 0);
  assert_null(r.body);
  assert_true(strlen(r.message) > 0);
  lg_kube_free(k);
}

/* Expects a call with c to fail TLS verification (LG_EIO naming the certificate). */
static void expect_tls_failure(const char *name, lg_kube_config *c) {
  lg_kube_result r;
  lg_kube *k = client_for(c);
  lg_rc rc = lg_kube_call(k, "GET", "/ok", NULL, CALL_MS, &r);
  if (rc != LG_EIO || r.status != 0)
    fail_msg("%s: rc %d status %ld, want LG_EIO", name, rc, r.status);
  check_contains(name, "message", r.message, "certificate");
  lg_kube_free(k);
  lg_kube_config_free(c);
}

static void expect_ok(const char *name, lg_kube_config *c) {
  lg_kube_result r;
  lg_kube *k = client_for(c);
  lg_rc rc = lg_kube_call(k, "GET", "/ok", NULL, CALL_MS, &r);
  if (rc != LG_OK || r.status != 200)
    fail_msg("%s: rc %d status %ld (%s), want 200", name, rc, r.status, r.message);
  lg_kube_result_free(&r);
  lg_kube_free(k);
  lg_kube_config_free(c);
}

static void test_verification(void **state) {
  lg_kube_config c;
  (void)state;
  config_for(&c, main_srv.port, "other", "t");
  expect_tls_failure("another CA", &c);
  config_for(&c, main_srv.port, NULL, "t");
  expect_tls_failure("system CAs only", &c);
  config_for(&c, wrongname_srv.port, "wrongname", "t");
  expect_tls_failure("name mismatch", &c);

  /* CA from memory: the right one works, another one fails. */
  config_for(&c, main_srv.port, NULL, "t");
  c.ca_pem = get_file("certs/ca.crt");
  expect_ok("CA data", &c);
  config_for(&c, main_srv.port, NULL, "t");
  c.ca_pem = get_file("other/ca.crt");
  expect_tls_failure("other CA data", &c);
}

static void test_client_certificates(void **state) {
  char buf[PATH_LEN];
  lg_kube_config c;
  lg_kube_result r;
  lg_kube *k;
  (void)state;
  /* The server does not ask for one; a good certificate and key are loaded and unused. */
  config_for(&c, main_srv.port, "certs", NULL);
  snprintf(buf, sizeof buf, "%s/certs/tls.crt", dir);
  c.cert_file = strdup(buf);
  snprintf(buf, sizeof buf, "%s/certs/tls.key", dir);
  c.key_file = strdup(buf);
  expect_ok("client certificate files", &c);
  config_for(&c, main_srv.port, "certs", NULL);
  c.cert_pem = get_file("certs/tls.crt");
  c.key_pem = get_file("certs/tls.key");
  expect_ok("client certificate data", &c);

  /* A broken certificate or a key of another certificate shows they are really used. */
  config_for(&c, main_srv.port, "certs", NULL);
  c.cert_pem = strdup("-----BEGIN CERTIFICATE-----\nQ0VSVA==\n-----END CERTIFICATE-----\n");
  c.key_pem = get_file("certs/tls.key");
  k = client_for(&c);
  assert_int_equal(lg_kube_call(k, "GET", "/ok", NULL, CALL_MS, &r), LG_EIO);
  lg_kube_free(k);
  lg_kube_config_free(&c);
  config_for(&c, main_srv.port, "certs", NULL);
  c.cert_pem = get_file("certs/tls.crt");
  c.key_pem = get_file("other/tls.key");
  k = client_for(&c);
  assert_int_equal(lg_kube_call(k, "GET", "/ok", NULL, CALL_MS, &r), LG_EIO);
  lg_kube_free(k);
  lg_kube_config_free(&c);
}

/* In-cluster configuration used for real: service-account token and CA. */
static void test_in_cluster_call(void **state) {
  char port[16], sa[PATH_LEN], err[512] = "";
  lg_kube_config c;
  lg_kube_result r;
  lg_kube *k;
  char *ca = get_file("certs/ca.crt");
  (void)state;
  put_file("sa-live/ca.crt", ca);
  put_file("sa-live/token", "eyJ.sa.token\n");
  free(ca);
  snprintf(port, sizeof port, "%d", main_srv.port);
  snprintf(sa, sizeof sa, "%s/sa-live", dir);
  lg_kube_env env = {.service_host = "127.0.0.1", .service_port = port, .sa_dir = sa};
  assert_int_equal(lg_kube_config_in_cluster(&env, &c, err, sizeof err), LG_OK);
  k = client_for(&c);
  lg_kube_config_free(&c);
  assert_int_equal(lg_kube_call(k, "GET", "/ok", NULL, CALL_MS, &r), LG_OK);
  assert_int_equal(r.status, 200);
  assert_string_equal(last_request().auth, "Bearer eyJ.sa.token");
  lg_kube_result_free(&r);
  lg_kube_free(k);
}

/* ---- exec plugins, tls-server-name, insecure-skip-tls-verify ---- */

static void set_accepted(const char *token) {
  pthread_mutex_lock(&seen.lock);
  snprintf(seen.accepted, sizeof seen.accepted, "%s", token);
  pthread_mutex_unlock(&seen.lock);
}

/* Stream lines are not needed here: /auth answers one JSON object. */
static int ignore_line(void *ud, const char *line, size_t len) {
  (void)ud, (void)line, (void)len;
  return 0;
}

/* The plugin answers "tok-<run>" without expiry. A token the server stops accepting (401)
 * is dropped: a cached one is replaced at once and the call tried again; a fresh one is
 * reported, and the next call runs the plugin again. */
static void test_exec_plugin_and_401(void **state) {
  char path[PATH_LEN], err[512] = "", body[1024];
  lg_kube_config c;
  lg_kube_result r;
  lg_kube *k;
  (void)state;
  snprintf(body, sizeof body,
           "#!/bin/sh\n"
           "n=$(cat '%s/plugin.count' 2>/dev/null || echo 0); n=$((n + 1));"
           " echo $n > '%s/plugin.count'\n"
           "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":"
           "\"ExecCredential\",\"status\":{\"token\":\"tok-%%s\"}}' $n\n",
           dir, dir);
  put_file("plugin.sh", body);
  snprintf(path, sizeof path, "%s/plugin.sh", dir);
  assert_int_equal(chmod(path, 0700), 0);
  config_for(&c, main_srv.port, "certs", NULL);
  lg_execcred_opts o = {.name = "user \"u\"",
                        .command = path,
                        .api_version = "client.authentication.k8s.io/v1",
                        .interactive_mode = "Never"};
  assert_int_equal(lg_execcred_new(&o, &c.exec, err, sizeof err), LG_OK);
  k = client_for(&c);

  set_accepted("tok-1");
  assert_int_equal(lg_kube_call(k, "GET", "/auth", NULL, CALL_MS, &r), LG_OK);
  assert_int_equal(r.status, 200);
  assert_string_equal(last_request().auth, "Bearer tok-1");
  lg_kube_result_free(&r);
  assert_int_equal(lg_kube_call(k, "GET", "/auth", NULL, CALL_MS, &r), LG_OK);
  assert_int_equal(r.status, 200);
  lg_kube_result_free(&r);
  assert_int_equal(lg_execcred_runs(c.exec), 1); /* cached */

  /* Rotated on the server: the cached tok-1 gets a 401, the plugin runs, tok-2 passes. */
  set_accepted("tok-2");
  assert_int_equal(lg_kube_call(k, "GET", "/auth", NULL, CALL_MS, &r), LG_OK);
  assert_int_equal(r.status, 200);
  assert_string_equal(last_request().auth, "Bearer tok-2");
  lg_kube_result_free(&r);
  assert_int_equal(lg_execcred_runs(c.exec), 2);

  /* A fresh token refused is not retried at once (no loop), but replaced next time; the
   * same holds for streams. */
  set_accepted("tok-4");
  assert_int_equal(lg_kube_call(k, "GET", "/auth", NULL, CALL_MS, &r), LG_OK); /* tok-2, tok-3 */
  assert_int_equal(r.status, 401);
  lg_kube_result_free(&r);
  assert_int_equal(lg_execcred_runs(c.exec), 3);
  assert_int_equal(lg_kube_stream(k, "/auth", CALL_MS, ignore_line, NULL, &r), LG_OK);
  assert_int_equal(r.status, 200);
  assert_string_equal(last_request().auth, "Bearer tok-4");
  lg_kube_result_free(&r);
  assert_int_equal(lg_execcred_runs(c.exec), 4);
  lg_kube_free(k);

  /* A plugin that fails: the call fails with its message, nothing is sent. */
  put_file("plugin.sh", "#!/bin/sh\necho 'no credentials' >&2\nexit 4\n");
  lg_execcred_unref(c.exec);
  assert_int_equal(lg_execcred_new(&o, &c.exec, err, sizeof err), LG_OK);
  k = client_for(&c);
  assert_int_equal(lg_kube_call(k, "GET", "/auth", NULL, CALL_MS, &r), LG_EIO);
  assert_int_equal(r.status, 0);
  check_contains("failing plugin", "message", r.message,
                 "exec plugin \"plugin.sh\" (user \"u\") failed with exit code 4: no credentials");
  lg_kube_free(k);
  lg_kube_config_free(&c);
  set_accepted("");
}

/* The wrongname server's certificate is for elsewhere.invalid only. */
static void test_tls_server_name_and_insecure(void **state) {
  lg_kube_config c;
  char host[64];
  (void)state;
  config_for(&c, wrongname_srv.port, "wrongname", "t");
  c.tls_server_name = strdup("elsewhere.invalid");
  expect_ok("tls-server-name", &c);
  /* SNI and the check use the name; the Host header keeps the server's. */
  snprintf(host, sizeof host, "127.0.0.1:%d", wrongname_srv.port);
  assert_string_equal(last_request().host, host);
  config_for(&c, wrongname_srv.port, "wrongname", "t");
  c.tls_server_name = strdup("other.invalid");
  expect_tls_failure("wrong tls-server-name", &c);
  config_for(&c, main_srv.port, "certs", "t");
  c.tls_server_name = strdup("localhost"); /* also in the main server's certificate */
  expect_ok("tls-server-name localhost", &c);

  /* insecure-skip-tls-verify: neither the CA nor the name is checked. */
  config_for(&c, wrongname_srv.port, NULL, "t");
  c.insecure = true;
  expect_ok("insecure", &c);
  config_for(&c, main_srv.port, "other", "t");
  c.ca_file = (free(c.ca_file), NULL);
  c.insecure = true;
  expect_ok("insecure, another CA's server", &c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_get_json_keepalive),
      cmocka_unit_test(test_post_and_put_body),
      cmocka_unit_test(test_token_file_rotation),
      cmocka_unit_test(test_answers),
      cmocka_unit_test(test_timeouts),
      cmocka_unit_test(test_not_listening),
      cmocka_unit_test(test_verification),
      cmocka_unit_test(test_client_certificates),
      cmocka_unit_test(test_in_cluster_call),
      cmocka_unit_test(test_exec_plugin_and_401),
      cmocka_unit_test(test_tls_server_name_and_insecure),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
