/* server.c -- the HTTPS webhook server: libmicrohttpd routes, body limits, policy reload,
 * signals, start and stop; the certificate, its reload and client checks are in tls.c. */
#include "server.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "admission.h"
#include "conns.h"
#include "cpus.h"
#include "log.h"
#include "policy.h"
#include "timefmt.h"
#include "tls.h"
#include "webhook.h"

/* TLS 1.2 and 1.3 only. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
/* How much of a body past the limit is read and dropped, so that a 413 can still be
 * sent (libmicrohttpd answers only once the request is complete), before the
 * connection is closed instead. */
#define DISCARD_MIN (16 * 1024 * 1024)

/* A loaded policy and the number of holders: the server's current pointer and each
 * request that started while it was current. The last release frees it. */
typedef struct {
  lg_policy *policy;
  atomic_uint refs;
} policy_ref;

typedef struct {
  const lg_server_config *cfg;
  pthread_mutex_t lock;  /* guards current and mhd_error */
  policy_ref *current;
  lg_tls *tls;           /* the serving certificate and client CA */
  atomic_bool serving;   /* listening and not shutting down */
  atomic_uint active;    /* requests begun and not yet completed */
  lg_conns *conns;       /* open connections: the limit and the request deadline */
  char mhd_error[256];   /* the last libmicrohttpd message, for start-up failures */
  bool have_stat;        /* the policy file watch; main thread only */
  bool stat_failed;
  struct stat st;
} server;

/* Per-request state, made on the first call of the access handler. */
typedef struct {
  policy_ref *ref; /* held by POST /validate from its first call */
  lg_conn *conn;   /* its connection; valid until the connection closes */
  char *body;
  size_t len, cap;
  size_t expected; /* the Content-Length, when given and under the limit; else 0 */
  size_t dropped;  /* bytes discarded past the limit */
  bool reviewing;  /* a POST /validate */
  bool forbidden;  /* no acceptable client certificate; answered 403 */
  bool too_large;  /* the body passed the limit; the rest is discarded */
  bool answered;
} request;

/* ---- policy ---- */

static void ref_release(policy_ref *r) {
  if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
    lg_policy_free(r->policy);
    free(r);
  }
}

static policy_ref *ref_acquire(server *s) {
  policy_ref *r;
  pthread_mutex_lock(&s->lock);
  r = s->current;
  if (r)
    atomic_fetch_add(&r->refs, 1);
  pthread_mutex_unlock(&s->lock);
  return r;
}

/* Makes p (owned, freed on failure) the current policy; requests already running
 * keep the one they started with. */
static lg_rc install_policy(server *s, lg_policy *p) {
  policy_ref *r = malloc(sizeof *r), *old;
  if (!r) {
    lg_policy_free(p);
    return LG_ENOMEM;
  }
  r->policy = p;
  atomic_init(&r->refs, 1);
  pthread_mutex_lock(&s->lock);
  old = s->current;
  s->current = r;
  pthread_mutex_unlock(&s->lock);
  ref_release(old);
  return LG_OK;
}

/* Loads the policy the server starts with; its error names the file. */
static lg_rc load_first_policy(server *s, char *err, size_t errlen) {
  const char *path = s->cfg->policy_file;
  lg_policy *p = NULL;
  lg_rc rc;

  if (path) {
    s->have_stat = stat(path, &s->st) == 0;
    rc = lg_policy_load_file(path, &p, err, errlen);
  } else {
    rc = lg_policy_default(&p, err, errlen);
  }
  if (rc)
    return rc;
  return install_policy(s, p);
}

/* stat follows symlinks, so a ConfigMap mount swapping its ..data link is seen as a
 * new inode. */
static bool same_file(const struct stat *a, const struct stat *b) {
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
         a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Reloads the policy file when it changed, or always when forced (SIGHUP). An invalid
 * file leaves the current policy in force. Main thread only. */
static void check_policy(server *s, bool force) {
  const char *path = s->cfg->policy_file;
  struct stat st;
  lg_policy *p = NULL;
  char detail[512] = "";
  lg_rc rc;

  if (!path) {
    if (force)
      lg_log(LG_LOG_INFO, "no policy file to reload; keeping the built-in policy", NULL);
    return;
  }
  if (stat(path, &st) != 0) {
    if (force || !s->stat_failed)
      lg_log(LG_LOG_ERROR, "cannot read the policy file; keeping the current policy", "path", path,
             "error", strerror(errno), NULL);
    s->stat_failed = true;
    return;
  }
  s->stat_failed = false;
  if (!force && s->have_stat && same_file(&st, &s->st))
    return;
  s->st = st;
  s->have_stat = true;
  rc = lg_policy_load_file(path, &p, detail, sizeof detail);
  if (rc == LG_OK)
    rc = install_policy(s, p);
  lg_metrics_policy_reload(s->cfg->metrics, rc == LG_OK);
  if (rc) {
    lg_log(LG_LOG_ERROR, "policy reload failed; keeping the previous policy", "path", path,
           "error", detail[0] ? detail : lg_strerror(rc), NULL);
    return;
  }
  lg_log(LG_LOG_INFO, "policy reloaded", "path", path, NULL);
}

/* ---- connections ---- */

/* Seconds on the monotonic clock, for latency and deadlines. */
static double mono_s(void) { return (double)lg_time_mono() / 1e6; }

/* The MHD_OPTION_ACCEPT_POLICY callback. libmicrohttpd stops accepting at its own limit,
 * leaving further clients waiting in the backlog; so its limit is set higher and the
 * connections past ours are closed at once here instead. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len) {
  server *s = cls;
  (void)addr;
  (void)len;
  if (lg_conns_count(s->conns) < s->cfg->connection_limit)
    return MHD_YES;
  lg_log(LG_LOG_DEBUG, "connection refused: at --max-connections", NULL);
  return MHD_NO;
}

/* libmicrohttpd's timeout counts idle time only: a client that sends a byte every second
 * would hold a connection forever. So a connection must deliver a whole request within the
 * timeout of opening or of its previous reply; else its socket is shut down here, which
 * libmicrohttpd sees as the peer going away. Main thread only. */
static void cut_socket(int fd, void *ud) {
  (void)ud;
  if (fd >= 0)
    shutdown(fd, SHUT_RDWR);
}

static void reap_slow(server *s) {
  size_t cut = lg_conns_expire(s->conns, mono_s(), s->cfg->connection_timeout_s, cut_socket, NULL);
  char n[24];

  if (cut) {
    snprintf(n, sizeof n, "%zu", cut);
    lg_log(LG_LOG_INFO, "closed connections that sent no whole request within the timeout",
           "count", n, NULL);
  }
}

/* ---- replies ---- */

/* Queues body (freed here when mode is MHD_RESPMEM_MUST_FREE) with status. */
static enum MHD_Result reply(server *s, struct MHD_Connection *c, request *rq, unsigned status,
                             char *body, enum MHD_ResponseMemoryMode mode, const char *ctype,
                             const char *allow) {
  struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, mode);
  enum MHD_Result ret = MHD_NO;

  rq->answered = true;
  lg_conns_touch(s->conns, rq->conn, mono_s());
  if (!r) {
    if (mode == MHD_RESPMEM_MUST_FREE)
      free(body);
    return MHD_NO;
  }
  if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) != MHD_YES)
    goto out;
  if (allow && MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow) != MHD_YES)
    goto out;
  /* While draining, tell keep-alive clients to reconnect elsewhere. */
  if (!atomic_load(&s->serving) &&
      MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES)
    goto out;
  ret = MHD_queue_response(c, status, r);

out:
  MHD_destroy_response(r);
  return ret;
}

/* Replies with a Kubernetes Status; allow (may be NULL) becomes the Allow header. */
__attribute__((format(printf, 7, 8))) static enum MHD_Result
reply_error(server *s, struct MHD_Connection *c, request *rq, unsigned status, const char *reason,
            const char *allow, const char *fmt, ...) {
  char msg[512];
  char code[8];
  char *body;
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(code, sizeof code, "%u", status);
  lg_log(LG_LOG_DEBUG, "request refused", "status", code, "reason", reason, "message", msg, NULL);
  body = lg_admission_encode_error((int)status, reason, msg);
  if (!body) {
    rq->answered = true;
    return MHD_NO;
  }
  return reply(s, c, rq, status, body, MHD_RESPMEM_MUST_FREE, "application/json", allow);
}

static enum MHD_Result reply_forbidden(server *s, struct MHD_Connection *c, request *rq) {
  return reply_error(s, c, rq, MHD_HTTP_FORBIDDEN, "Forbidden", NULL,
                     "client certificate required: present one issued by the configured client CA");
}

static enum MHD_Result reply_ok(server *s, struct MHD_Connection *c, request *rq) {
  static char ok[] = "ok";
  return reply(s, c, rq, MHD_HTTP_OK, ok, MHD_RESPMEM_PERSISTENT, "text/plain; charset=utf-8", NULL);
}

/* ---- routes ---- */

/* "application/json", any case, optionally followed by parameters. */
static bool is_json(const char *ct) {
  static const char want[] = "application/json";
  const size_t n = sizeof want - 1;

  if (!ct)
    return false;
  while (*ct == ' ' || *ct == '\t')
    ct++;
  if (strncasecmp(ct, want, n) != 0)
    return false;
  ct += n;
  while (*ct == ' ' || *ct == '\t')
    ct++;
  return *ct == '\0' || *ct == ';';
}

/* First call of POST /validate: checks the headers before any of the body is read. */
static enum MHD_Result begin_review(server *s, struct MHD_Connection *c, request *rq) {
  const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  size_t max = s->cfg->max_request_bytes;

  if (!is_json(ct))
    return reply_error(s, c, rq, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "UnsupportedMediaType", NULL,
                       "Content-Type must be application/json, got \"%.100s\"", ct ? ct : "");
  if (cl) {
    char *end;
    unsigned long long n;
    errno = 0;
    n = strtoull(cl, &end, 10);
    if (errno == ERANGE || (end != cl && n > max))
      return reply_error(s, c, rq, MHD_HTTP_CONTENT_TOO_LARGE, "RequestEntityTooLarge", NULL,
                         "request body of %.30s bytes is over the limit of %zu bytes", cl, max);
    if (end != cl && *end == '\0')
      rq->expected = (size_t)n;
  }
  rq->ref = ref_acquire(s);
  return MHD_YES;
}

/* Appends a piece of the body, or drops it once the body has passed the limit. */
static enum MHD_Result take_body(server *s, request *rq, const char *data, size_t n) {
  size_t max = s->cfg->max_request_bytes;

  if (rq->too_large) {
    rq->dropped += n < SIZE_MAX - rq->dropped ? n : SIZE_MAX - rq->dropped;
    if (rq->dropped <= (max > DISCARD_MIN ? max : DISCARD_MIN))
      return MHD_YES;
    lg_log(LG_LOG_WARNING, "request body far over the limit; closing the connection", NULL);
    return MHD_NO;
  }
  if (n > max - rq->len) {
    rq->too_large = true;
    free(rq->body);
    rq->body = NULL;
    rq->len = rq->cap = 0;
    return MHD_YES;
  }
  if (rq->len + n + 1 > rq->cap) {
    /* With a Content-Length the first buffer is the body's exact size (libmicrohttpd
     * holds the client to it); a chunked body starts at 16 KiB and doubles. */
    size_t cap = rq->cap ? rq->cap : rq->expected ? rq->expected + 1 : 16384;
    char *grown;
    while (cap < rq->len + n + 1)
      cap *= 2;
    if (cap > max + 1)
      cap = max + 1;
    grown = realloc(rq->body, cap);
    if (!grown)
      return MHD_NO;
    rq->body = grown;
    rq->cap = cap;
  }
  memcpy(rq->body + rq->len, data, n);
  rq->len += n;
  rq->body[rq->len] = '\0';
  return MHD_YES;
}

/* GET /metrics: the Prometheus text of the registry. */
static enum MHD_Result reply_metrics(server *s, struct MHD_Connection *c, request *rq) {
  char *text = lg_metrics_render(s->cfg->metrics, lg_time_now());
  if (!text)
    return reply_error(s, c, rq, MHD_HTTP_NOT_FOUND, "NotFound", NULL, "metrics are off");
  return reply(s, c, rq, MHD_HTTP_OK, text, MHD_RESPMEM_MUST_FREE,
               "text/plain; version=0.0.4; charset=utf-8", NULL);
}

/* Last call of POST /validate: the whole body is in; decide and answer. */
static enum MHD_Result finish_review(server *s, struct MHD_Connection *c, request *rq) {
  lg_webhook_result res;
  lg_time now;
  double start;
  enum MHD_Result ret;

  if (rq->too_large)
    return reply_error(s, c, rq, MHD_HTTP_CONTENT_TOO_LARGE, "RequestEntityTooLarge", NULL,
                       "request body is over the limit of %zu bytes", s->cfg->max_request_bytes);
  if (!rq->ref)
    return reply_error(s, c, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "ServiceUnavailable", NULL,
                       "no policy is loaded");
  memset(&res, 0, sizeof res);
  now = lg_time_now();
  start = mono_s();
  lg_webhook_handle(rq->body ? rq->body : "", rq->len,
                    &(lg_webhook_env){rq->ref->policy, s->cfg->mode_override, now,
                                      lg_time_mono(), s->cfg->witness},
                    &res);
  if (res.body)
    ret = reply(s, c, rq, (unsigned)res.http_status, res.body, MHD_RESPMEM_MUST_COPY,
                "application/json", NULL);
  else
    ret = reply_error(s, c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "InternalError", NULL,
                      "cannot encode the response: %s", lg_strerror(LG_ENOMEM));
  lg_metrics_review(s->cfg->metrics, &res, mono_s() - start);
  lg_events_report(s->cfg->events, &res, now);
  lg_log_review(&res, now);
  if (res.rc != LG_OK)
    lg_log(LG_LOG_WARNING, "unusable admission request", "error",
           res.error[0] ? res.error : lg_strerror(res.rc), NULL);
  lg_webhook_result_free(&res);
  return ret;
}

/* The kubelet's probes cannot present a client certificate; nor, usually, can a
 * Prometheus scrape of /metrics. */
static bool is_probe(const char *url) {
  return !strcmp(url, "/healthz") || !strcmp(url, "/readyz") || !strcmp(url, "/metrics");
}

static bool is_ready(server *s) {
  bool loaded;
  pthread_mutex_lock(&s->lock);
  loaded = s->current != NULL;
  pthread_mutex_unlock(&s->lock);
  return loaded && atomic_load(&s->serving);
}

/* Answers every request but POST /validate. */
static enum MHD_Result route(server *s, struct MHD_Connection *c, request *rq, const char *url,
                             const char *method) {
  bool get = !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);

  if (!strcmp(url, "/validate"))
    return reply_error(s, c, rq, MHD_HTTP_METHOD_NOT_ALLOWED, "MethodNotAllowed", "POST",
                       "method %.32s is not allowed on /validate; use POST", method);
  if (!strcmp(url, "/metrics")) {
    if (!get)
      return reply_error(s, c, rq, MHD_HTTP_METHOD_NOT_ALLOWED, "MethodNotAllowed", "GET, HEAD",
                         "method %.32s is not allowed on /metrics; use GET", method);
    return reply_metrics(s, c, rq);
  }
  if (is_probe(url)) {
    if (!get)
      return reply_error(s, c, rq, MHD_HTTP_METHOD_NOT_ALLOWED, "MethodNotAllowed", "GET, HEAD",
                         "method %.32s is not allowed on %s; use GET", method, url);
    if (!strcmp(url, "/readyz") && !is_ready(s))
      return reply_error(s, c, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "ServiceUnavailable", NULL,
                         "not ready: shutting down or no policy loaded");
    return reply_ok(s, c, rq);
  }
  return reply_error(s, c, rq, MHD_HTTP_NOT_FOUND, "NotFound", NULL,
                     "the server could not find the requested resource \"%.200s\"", url);
}

/* True when the request carries a body (which an early answer leaves unread). */
static bool has_body(struct MHD_Connection *c) {
  const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  return (cl && strcmp(cl, "0") != 0) ||
         MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
}

/* libmicrohttpd calls this once with the headers, once per piece of body, and once
 * more when the request is complete. Answering before the last call closes the
 * connection afterwards, so only requests whose body is refused are answered early. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  server *s = cls;
  request *rq = *con_cls;
  enum MHD_Result ret = MHD_YES;

  (void)version;
  if (!rq) {
    rq = calloc(1, sizeof *rq);
    if (!rq)
      return MHD_NO;
    *con_cls = rq;
    atomic_fetch_add(&s->active, 1);
    rq->conn = lg_conns_find(s->conns, c);
    if (!is_probe(url) && !lg_tls_client_allowed(s->tls, c)) {
      rq->forbidden = true;
      return has_body(c) ? reply_forbidden(s, c, rq) : MHD_YES;
    }
    rq->reviewing = !strcmp(url, "/validate") && !strcmp(method, MHD_HTTP_METHOD_POST);
    if (rq->reviewing)
      return begin_review(s, c, rq);
    return has_body(c) ? route(s, c, rq, url, method) : MHD_YES;
  }
  if (*upload_size) {
    if (rq->reviewing && !rq->answered)
      ret = take_body(s, rq, upload, *upload_size);
    *upload_size = 0;
    return ret;
  }
  if (rq->answered)
    return MHD_YES;
  if (rq->forbidden)
    return reply_forbidden(s, c, rq);
  return rq->reviewing ? finish_review(s, c, rq) : route(s, c, rq, url, method);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  server *s = cls;
  request *rq = *con_cls;

  (void)c;
  (void)toe;
  if (!rq)
    return;
  lg_conns_touch(s->conns, rq->conn, mono_s());
  ref_release(rq->ref);
  free(rq->body);
  free(rq);
  *con_cls = NULL;
  atomic_fetch_sub(&s->active, 1);
}

/* Each connection's socket context is its TLS state; without it the handshake fails
 * (lg_tls_on_cert finds no state). */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
  server *s = cls;

  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    *socket_context = lg_tls_conn_new(s->tls);
    lg_conns_add(s->conns, c, ci ? ci->connect_fd : -1, mono_s());
    return;
  }
  lg_conns_remove(s->conns, c);
  lg_tls_conn_free(*socket_context);
  *socket_context = NULL;
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  server *s = cls;
  char msg[256];
  size_t n;

  vsnprintf(msg, sizeof msg, fmt, ap);
  n = strlen(msg);
  while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' ' || msg[n - 1] == '.'))
    msg[--n] = '\0';
  pthread_mutex_lock(&s->lock);
  memcpy(s->mhd_error, msg, n + 1);
  pthread_mutex_unlock(&s->lock);
  lg_log(LG_LOG_WARNING, "libmicrohttpd", "detail", msg, NULL);
}

/* ---- start-up and shutdown ---- */

/* Turns bind_address and port into a socket address; numeric addresses only. */
static lg_rc bind_addr(const lg_server_config *cfg, struct sockaddr_storage *ss, unsigned *flags,
                       char *err, size_t errlen) {
  struct addrinfo hints, *ai = NULL;
  char port[8];
  int g;

  memset(&hints, 0, sizeof hints);
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  snprintf(port, sizeof port, "%d", cfg->secure_port);
  g = getaddrinfo(cfg->bind_address, port, &hints, &ai);
  if (g != 0)
    return lg_fail(err, errlen, LG_EINVAL, "bind address \"%s\" is not an IPv4 or IPv6 address: %s",
                   cfg->bind_address, gai_strerror(g));
  memset(ss, 0, sizeof *ss);
  memcpy(ss, ai->ai_addr, ai->ai_addrlen);
  *flags = 0;
  if (ai->ai_family == AF_INET6) {
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)ai->ai_addr;
    /* "::" means every address, IPv4 included, as elsewhere in Kubernetes. */
    *flags = IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr) ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
  }
  freeaddrinfo(ai);
  return LG_OK;
}

/* Starts libmicrohttpd; a client CA makes it ask for client certificates. */
static lg_rc start_daemon(server *s, struct MHD_Daemon **out, char *err, size_t errlen) {
  const lg_server_config *cfg = s->cfg;
  const char *client_ca = lg_tls_client_ca(s->tls);
  struct sockaddr_storage ss;
  unsigned flags = 0, threads = cfg->threads;
  struct MHD_OptionItem opt[3];
  size_t n = 0;
  unsigned quota = 0;
  char nthreads[16], nquota[16];
  lg_rc rc;

  rc = bind_addr(cfg, &ss, &flags, err, errlen);
  if (rc)
    return rc;
  if (!MHD_is_feature_supported(MHD_FEATURE_TLS))
    return lg_fail(err, errlen, LG_ETLS, "libmicrohttpd was built without TLS support");
  flags |= MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
  flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) ? MHD_USE_EPOLL : MHD_USE_AUTO;
  if (threads == 0)
    threads = lg_cpus_usable(&quota);
  if (threads > cfg->connection_limit)
    threads = cfg->connection_limit;
  /* libmicrohttpd warns about a pool of size 0 or 1. With a trust list it asks clients for
   * a certificate (GNUTLS_CERT_REQUEST); the access handler verifies it. */
  if (threads > 1)
    opt[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)threads, NULL};
  if (client_ca)
    opt[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, (void *)client_ca};
  opt[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
  /* The certificate comes from lg_tls_on_cert at each handshake, not from libmicrohttpd.
   * Headroom over our connection limit (on_accept enforces it) keeps a worker accepting, so
   * that connections past it are closed rather than left waiting; each worker may let one
   * more through between on_accept and track. */
  *out = MHD_start_daemon(
      flags, (uint16_t)cfg->secure_port, on_accept, s, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
      on_mhd_log, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
      on_connection, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
      MHD_OPTION_HTTPS_CERT_CALLBACK2, lg_tls_on_cert, MHD_OPTION_HTTPS_PRIORITIES,
      TLS_PRIORITIES, MHD_OPTION_CONNECTION_LIMIT, cfg->connection_limit + 2 * threads + 8,
      MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout_s, MHD_OPTION_ARRAY, opt,
      MHD_OPTION_END);
  if (!*out) {
    pthread_mutex_lock(&s->lock);
    if (strstr(s->mhd_error, "TLS") || strstr(s->mhd_error, "trust"))
      rc = lg_fail(err, errlen, LG_ETLS, "cannot serve HTTPS on %s port %d: %s",
                   cfg->bind_address, cfg->secure_port, s->mhd_error);
    else
      rc = lg_fail(err, errlen, LG_ESERVER, "cannot serve HTTPS on %s port %d: %s",
                   cfg->bind_address, cfg->secure_port,
                   s->mhd_error[0] ? s->mhd_error : "libmicrohttpd refused to start");
    pthread_mutex_unlock(&s->lock);
    return rc;
  }
  snprintf(nthreads, sizeof nthreads, "%u", threads);
  snprintf(nquota, sizeof nquota, "%u", quota);
  lg_log(LG_LOG_INFO, "worker threads", "threads", nthreads, "source",
         cfg->threads ? "--threads" : quota ? "cgroup CPU quota" : "CPUs available",
         "cgroupCPUQuota", quota ? nquota : "none", NULL);
  return rc;
}

/* Waits for SIGTERM/SIGINT, checking the policy, certificate and key files every interval
 * and on SIGHUP, the certificate's expiry daily, and for slow connections four times per
 * connection timeout (at most every second). */
static void serve_until_signal(server *s, const sigset_t *set) {
  unsigned ms = s->cfg->policy_check_interval_ms;
  int64_t reap_ms = (int64_t)s->cfg->connection_timeout_s * 250;
  double next_check = mono_s() + ms / 1000.0;

  if (reap_ms > 1000)
    reap_ms = 1000;
  for (;;) {
    int64_t wait = lg_tls_expiry_due_ms(s->tls);
    int64_t until_check = (int64_t)((next_check - mono_s()) * 1000);
    struct timespec ts;
    int sig;

    if (wait < 0)
      wait = 0;
    if (ms && wait > until_check)
      wait = until_check < 0 ? 0 : until_check;
    if (wait > reap_ms)
      wait = reap_ms;
    ts.tv_sec = (time_t)(wait / 1000);
    ts.tv_nsec = (long)(wait % 1000) * 1000000L;
    sig = sigtimedwait(set, NULL, &ts);
    if (sig == SIGTERM || sig == SIGINT) {
      lg_log(LG_LOG_INFO, "shutting down", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT", NULL);
      return;
    }
    if (sig == SIGHUP) {
      check_policy(s, true);
      lg_tls_check_files(s->tls, true);
    } else if (sig < 0 && errno == EAGAIN && ms && mono_s() >= next_check) {
      check_policy(s, false);
      lg_tls_check_files(s->tls, false);
      next_check = mono_s() + ms / 1000.0;
    }
    reap_slow(s);
    if (lg_tls_expiry_due_ms(s->tls) <= 0)
      lg_tls_check_expiry(s->tls);
  }
}

/* Stops accepting, lets requests already begun finish (bounded by the connection
 * timeout), then stops the daemon, closing idle keep-alive connections. The listening
 * socket is shut down at once (it may only be closed after MHD_stop_daemon) so that new
 * clients are refused rather than left waiting in its backlog. */
static void stop_daemon(server *s, struct MHD_Daemon *d) {
  unsigned budget_ms = (s->cfg->connection_timeout_s ? s->cfg->connection_timeout_s : 30) * 1000;
  const struct timespec tick = {.tv_sec = 0, .tv_nsec = 10 * 1000000L};
  MHD_socket listener;

  atomic_store(&s->serving, false);
  listener = MHD_quiesce_daemon(d);
  if (listener != MHD_INVALID_SOCKET)
    shutdown(listener, SHUT_RDWR);
  for (unsigned waited = 0; atomic_load(&s->active) && waited < budget_ms; waited += 10)
    nanosleep(&tick, NULL);
  MHD_stop_daemon(d);
  if (listener != MHD_INVALID_SOCKET)
    close(listener);
}

lg_rc lg_server_run(const lg_server_config *cfg, char *err, size_t errlen) {
  server s;
  lg_tls_config tls_cfg;
  struct MHD_Daemon *d = NULL;
  sigset_t set, old;
  bool masked = false;
  char port[8];
  lg_rc rc;

  if (!cfg || !cfg->bind_address || !cfg->tls_cert_file || !cfg->tls_key_file)
    return lg_fail(err, errlen, LG_EINVAL, "bind address, TLS certificate and key are required");
  if (cfg->secure_port < 1 || cfg->secure_port > 65535 || !cfg->max_request_bytes ||
      !cfg->connection_limit)
    return lg_fail(err, errlen, LG_EINVAL, "port, request limit and connection limit must be > 0");
  memset(&s, 0, sizeof s);
  s.cfg = cfg;
  tls_cfg = (lg_tls_config){.cert_file = cfg->tls_cert_file,
                            .key_file = cfg->tls_key_file,
                            .client_ca_file = cfg->client_ca_file,
                            .metrics = cfg->metrics};
  atomic_init(&s.serving, false);
  atomic_init(&s.active, 0);
  if (pthread_mutex_init(&s.lock, NULL) != 0)
    return lg_fail(err, errlen, LG_ESERVER, "cannot create a mutex");

  if (!(s.conns = lg_conns_new())) {
    rc = lg_fail(err, errlen, LG_ENOMEM, "out of memory");
    goto out;
  }
  rc = lg_tls_new(&tls_cfg, &s.tls, err, errlen);
  if (rc)
    goto out;
  rc = load_first_policy(&s, err, errlen);
  if (rc)
    goto out;

  /* Blocked before MHD starts so its threads inherit the mask and only sigtimedwait
   * below sees these signals. */
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  if (pthread_sigmask(SIG_BLOCK, &set, &old) != 0) {
    rc = lg_fail(err, errlen, LG_ESERVER, "cannot block signals");
    goto out;
  }
  masked = true;
  if (!MHD_is_feature_supported(MHD_FEATURE_AUTOSUPPRESS_SIGPIPE))
    signal(SIGPIPE, SIG_IGN);

  rc = start_daemon(&s, &d, err, errlen);
  if (rc)
    goto out;
  atomic_store(&s.serving, true);
  snprintf(port, sizeof port, "%d", cfg->secure_port);
  lg_log(LG_LOG_INFO, "listening", "address", cfg->bind_address, "port", port, "policy",
         cfg->policy_file ? cfg->policy_file : "(built-in)", "clientCA",
         cfg->client_ca_file ? cfg->client_ca_file : "(none)", NULL);
  serve_until_signal(&s, &set);
  stop_daemon(&s, d);

out:
  if (masked) {
    /* Consume signals that came during shutdown so unblocking does not act on them. */
    const struct timespec zero = {0, 0};
    while (sigtimedwait(&set, NULL, &zero) > 0)
      ;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
  }
  ref_release(s.current);
  lg_tls_free(s.tls);
  lg_conns_free(s.conns);
  pthread_mutex_destroy(&s.lock);
  return rc;
}
