/* routes.c -- serve's HTTPS requests (POST /validate, probes, metrics) and the answers of its
 * plain-HTTP probe and metrics listeners. */
#include "routes_mhd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admission.h"
#include "kstatus.h"
#include "decision.h"
#include "httpd_mhd.h"
#include "log.h"
#include "times.h"
#include "tls_mhd.h"
#include "webhook.h"

/* How much of a body past the limit is read and dropped, so that a 413 can still be
 * sent (libmicrohttpd answers only once the request is complete), before the
 * connection is closed instead. */
#define DISCARD_MIN (16 * 1024 * 1024)
/* What /readyz says when it fails. */
#define NOT_READY "not ready: shutting down, no policy loaded or no serving certificate yet"

struct lg_routes {
  const lg_server_config *cfg;
  lg_policywatch *policies;
  lg_tls *tls;
  lg_conns *conns;        /* open connections: the request deadline */
  lg_noise *noise;        /* refused client certificates */
  atomic_bool serving;    /* listening and not shutting down */
  atomic_uint active;     /* requests begun and not yet completed */
  atomic_size_t buffered; /* bytes of body buffers allocated, all requests together */
};

/* Request bodies buffered at once, all connections together: a flood of huge bodies from
 * strangers gets 503 instead of the pod's memory (the API server's reviews are far below). */
#define BUFFERED_MIN (256u * 1024 * 1024)

static size_t buffer_budget(const lg_routes *s) {
  size_t twice =
      s->cfg->max_request_bytes > SIZE_MAX / 2 ? SIZE_MAX : 2 * s->cfg->max_request_bytes;
  return twice > BUFFERED_MIN ? twice : BUFFERED_MIN;
}

/* Per-request state, made on the first call of the access handler. */
typedef struct {
  lg_policy_ref *ref; /* held by POST /validate from its first call */
  lg_conn *conn;      /* its connection; valid until the connection closes */
  char *body;
  size_t len, cap;
  size_t expected; /* the Content-Length, when given and under the limit; else 0 */
  size_t dropped;  /* bytes discarded past the limit */
  bool reviewing;  /* a POST /validate, or /fence */
  bool fence;      /* a POST /fence */
  bool forbidden;  /* no acceptable client certificate; answered 403 */
  bool too_large;  /* the body passed the limit; the rest is discarded */
  bool busy;       /* too many bytes buffered by all requests; the rest is discarded */
  bool answered;
  bool close;      /* answer with Connection: close */
  bool judged;     /* the review is done: answer holds its response */
  unsigned status; /* and its HTTP status */
  char *answer;    /* owned until handed to libmicrohttpd */
} request;

/* Seconds on the monotonic clock, for latency and deadlines. */
static double mono_s(void) { return (double)lg_time_mono() / 1e6; }

lg_routes *lg_routes_new(const lg_server_config *cfg, lg_policywatch *policies, lg_tls *tls,
                         lg_conns *conns, lg_noise *noise) {
  lg_routes *r = calloc(1, sizeof *r);
  if (!r)
    return NULL;
  r->cfg = cfg;
  r->policies = policies;
  r->tls = tls;
  r->conns = conns;
  r->noise = noise;
  atomic_init(&r->serving, false);
  atomic_init(&r->active, 0);
  return r;
}

void lg_routes_free(lg_routes *r) { free(r); }

void lg_routes_set_serving(lg_routes *r, bool serving) { atomic_store(&r->serving, serving); }

bool lg_routes_ready(lg_routes *r) {
  return atomic_load(&r->serving) && lg_policywatch_loaded(r->policies) &&
         (!r->tls || lg_tls_ready(r->tls));
}

unsigned lg_routes_active(lg_routes *r) { return atomic_load(&r->active); }

/* ---- replies ---- */

/* Queues body (freed here when mode is MHD_RESPMEM_MUST_FREE) with status. */
static enum MHD_Result reply(lg_routes *s, struct MHD_Connection *c, request *rq, unsigned status,
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
  /* While shutting down, tell keep-alive clients to reconnect elsewhere; after ambiguous
   * framing, close rather than read what follows as a request. */
  if ((rq->close || !atomic_load(&s->serving)) &&
      MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES)
    goto out;
  ret = MHD_queue_response(c, status, r);

out:
  MHD_destroy_response(r);
  return ret;
}

/* Replies with a Kubernetes Status; allow (may be NULL) becomes the Allow header. */
__attribute__((format(printf, 7, 8))) static enum MHD_Result
reply_error(lg_routes *s, struct MHD_Connection *c, request *rq, unsigned status,
            const char *reason, const char *allow, const char *fmt, ...) {
  char msg[512];
  char code[8];
  char *body;
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(code, sizeof code, "%u", status);
  lg_log(LG_LOG_DEBUG, "request refused", "status", code, "reason", reason, "message", msg, NULL);
  body = lg_kstatus_encode((int)status, reason, msg);
  if (!body) {
    rq->answered = true;
    return MHD_NO;
  }
  return reply(s, c, rq, status, body, MHD_RESPMEM_MUST_FREE, "application/json", allow);
}

static enum MHD_Result reply_forbidden(lg_routes *s, struct MHD_Connection *c, request *rq) {
  return reply_error(s, c, rq, MHD_HTTP_FORBIDDEN, "Forbidden", NULL,
                     "client certificate required: present one issued by the configured client CA");
}

static enum MHD_Result reply_ok(lg_routes *s, struct MHD_Connection *c, request *rq) {
  static char ok[] = "ok";
  return reply(s, c, rq, MHD_HTTP_OK, ok, MHD_RESPMEM_PERSISTENT, "text/plain; charset=utf-8",
               NULL);
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
static enum MHD_Result begin_review(lg_routes *s, struct MHD_Connection *c, request *rq) {
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
  rq->ref = lg_policywatch_acquire(s->policies);
  return MHD_YES;
}

/* Appends a piece of the body, or drops it once the body has passed the limit. */
static enum MHD_Result take_body(lg_routes *s, request *rq, const char *data, size_t n) {
  size_t max = s->cfg->max_request_bytes;

  if (rq->too_large || rq->busy) {
    rq->dropped += n < SIZE_MAX - rq->dropped ? n : SIZE_MAX - rq->dropped;
    if (rq->dropped <= (max > DISCARD_MIN ? max : DISCARD_MIN))
      return MHD_YES;
    lg_log(LG_LOG_WARNING, "request body far over the limit; closing the connection", NULL);
    return MHD_NO;
  }
  if (n > max - rq->len) {
    rq->too_large = true;
    atomic_fetch_sub(&s->buffered, rq->cap);
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
    if (atomic_fetch_add(&s->buffered, cap - rq->cap) + (cap - rq->cap) > buffer_budget(s)) {
      atomic_fetch_sub(&s->buffered, cap - rq->cap + rq->cap);
      rq->busy = true;
      free(rq->body);
      rq->body = NULL;
      rq->len = rq->cap = 0;
      return MHD_YES;
    }
    grown = realloc(rq->body, cap);
    if (!grown) {
      atomic_fetch_sub(&s->buffered, cap - rq->cap);
      return MHD_NO;
    }
    rq->body = grown;
    rq->cap = cap;
  }
  memcpy(rq->body + rq->len, data, n);
  rq->len += n;
  rq->body[rq->len] = '\0';
  return MHD_YES;
}

/* GET /metrics: the Prometheus text of the registry. */
static enum MHD_Result reply_metrics(lg_routes *s, struct MHD_Connection *c, request *rq) {
  char *text = lg_metrics_render(s->cfg->metrics, lg_time_now());
  if (!text)
    return reply_error(s, c, rq, MHD_HTTP_NOT_FOUND, "NotFound", NULL, "metrics are off");
  return reply(s, c, rq, MHD_HTTP_OK, text, MHD_RESPMEM_MUST_FREE,
               "text/plain; version=0.0.4; charset=utf-8", NULL);
}

/* Judges the whole body (body, len) of a POST /validate or /fence, tells the metrics, events
 * and audit lines, and keeps the response in rq for the last call to send. rq->ref is held. */
static void judge(lg_routes *s, request *rq, const char *body, size_t len) {
  lg_webhook_result res;
  lg_decision d;
  lg_sink sinks[3];
  size_t n_sinks = 0;
  lg_time now = lg_time_now();
  double start = mono_s();
  lg_webhook_env env = {lg_policy_ref_get(rq->ref), s->cfg->mode_override, now, lg_time_mono(),
                        s->cfg->witness};

  memset(&res, 0, sizeof res);
  if (rq->fence) {
    lg_fencehook_handle(body, len, &env, s->cfg->fence, &res);
  } else {
    lg_webhook_handle(body, len, &env, &res);
    lg_fencehook_note_admitted(s->cfg->lease_cache, &res, env.mono);
  }
  rq->judged = true;
  rq->status = (unsigned)res.http_status;
  rq->answer = res.body; /* handed to libmicrohttpd as it is: no copy */
  res.body = NULL;
  lg_decision_from_webhook(&res, LG_DECISION_SERVE, now, &d);
  d.response = rq->answer;
  d.latency = mono_s() - start;
  /* Events are posted on Leases, not on the objects of /fence. */
  sinks[n_sinks++] = lg_metrics_sink(s->cfg->metrics);
  if (!rq->fence)
    sinks[n_sinks++] = lg_events_sink(s->cfg->events);
  sinks[n_sinks++] = lg_log_sink();
  lg_decision_emit(&d, sinks, n_sinks);
  if (res.rc != LG_OK)
    lg_log(LG_LOG_WARNING, "unusable admission request", "error",
           res.error[0] ? res.error : lg_strerror(res.rc), NULL);
  lg_webhook_result_free(&res);
}

/* Last call of POST /validate: the whole body is in (and judged if it came in one piece);
 * answer. */
static enum MHD_Result finish_review(lg_routes *s, struct MHD_Connection *c, request *rq) {
  char *answer;

  if (rq->too_large)
    return reply_error(s, c, rq, MHD_HTTP_CONTENT_TOO_LARGE, "RequestEntityTooLarge", NULL,
                       "request body is over the limit of %zu bytes", s->cfg->max_request_bytes);
  if (rq->busy) {
    lg_log(LG_LOG_WARNING, "too many request bytes buffered at once: answering 503", NULL);
    return reply_error(s, c, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "ServiceUnavailable", NULL,
                       "too many request bytes in flight (over %zu); retry", buffer_budget(s));
  }
  if (!rq->ref)
    return reply_error(s, c, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "ServiceUnavailable", NULL,
                       "no policy is loaded");
  if (!rq->judged)
    judge(s, rq, rq->body ? rq->body : "", rq->len);
  if (!(answer = rq->answer))
    return reply_error(s, c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "InternalError", NULL,
                       "cannot encode the response: %s", lg_strerror(LG_ENOMEM));
  rq->answer = NULL; /* reply frees it */
  return reply(s, c, rq, rq->status, answer, MHD_RESPMEM_MUST_FREE, "application/json", NULL);
}

/* The kubelet's probes cannot present a client certificate; nor, usually, can a
 * Prometheus scrape of /metrics. */
static bool is_probe(const char *url) {
  return !strcmp(url, "/healthz") || !strcmp(url, "/readyz") || !strcmp(url, "/metrics");
}

/* Answers every request but POST /validate. */
static enum MHD_Result route(lg_routes *s, struct MHD_Connection *c, request *rq, const char *url,
                             const char *method) {
  bool get = !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);

  if (!strcmp(url, "/validate") || (s->cfg->fence && !strcmp(url, "/fence")))
    return reply_error(s, c, rq, MHD_HTTP_METHOD_NOT_ALLOWED, "MethodNotAllowed", "POST",
                       "method %.32s is not allowed on %s; use POST", method, url);
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
    if (!strcmp(url, "/readyz") && !lg_routes_ready(s))
      return reply_error(s, c, rq, MHD_HTTP_SERVICE_UNAVAILABLE, "ServiceUnavailable", NULL, "%s",
                         NOT_READY);
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

/* The peer of c as "IP:PORT", for the noise tally. */
static void peer_of(struct MHD_Connection *c, char *out, size_t len) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  lg_noise_peer(ci ? ci->client_addr : NULL, out, len);
}

/* First call: the headers are in. Ambiguous framing is refused before anything else (and the
 * connection closed after the answer, so no byte of a body is read as the next request);
 * then the client certificate, then the route. */
static enum MHD_Result begin(lg_routes *s, struct MHD_Connection *c, request *rq, const char *url,
                             const char *method) {
  char why[256];
  unsigned bad = lg_httpd_framing(c, why, sizeof why);

  if (bad) {
    rq->close = true;
    return reply_error(s, c, rq, bad, bad == 501 ? "NotImplemented" : "BadRequest", NULL, "%s",
                       why);
  }
  if (!is_probe(url) && !lg_tls_client_allowed(s->tls, c, why, sizeof why)) {
    if (why[0]) {
      char peer[64];
      peer_of(c, peer, sizeof peer);
      lg_noise_add(s->noise, LG_NOISE_CLIENT_CERT, peer, why);
    }
    rq->forbidden = true;
    return has_body(c) ? reply_forbidden(s, c, rq) : MHD_YES;
  }
  rq->fence = s->cfg->fence && !strcmp(url, "/fence");
  rq->reviewing = (!strcmp(url, "/validate") || rq->fence) && !strcmp(method, MHD_HTTP_METHOD_POST);
  if (rq->reviewing)
    return begin_review(s, c, rq);
  return has_body(c) ? route(s, c, rq, url, method) : MHD_YES;
}

/* libmicrohttpd calls this once with the headers, once per piece of body, and once
 * more when the request is complete. Answering before the last call closes the
 * connection afterwards, so only requests whose body is refused are answered early. */
enum MHD_Result lg_routes_on_request(void *cls, struct MHD_Connection *c, const char *url,
                                     const char *method, const char *version, const char *upload,
                                     size_t *upload_size, void **con_cls) {
  lg_routes *s = cls;
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
    return begin(s, c, rq, url, method);
  }
  if (*upload_size) {
    /* A body that comes whole in one piece (its Content-Length at once, as the API server's
     * small reviews do) is judged where libmicrohttpd holds it, without a copy. */
    if (rq->reviewing && !rq->answered && rq->ref && !rq->judged && !rq->cap && !rq->too_large &&
        !rq->busy && rq->expected && *upload_size == rq->expected)
      judge(s, rq, upload, *upload_size);
    else if (rq->reviewing && !rq->answered && !rq->judged)
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

void lg_routes_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                            enum MHD_RequestTerminationCode toe) {
  lg_routes *s = cls;
  request *rq = *con_cls;

  (void)c;
  (void)toe;
  if (!rq)
    return;
  lg_conns_touch(s->conns, rq->conn, mono_s());
  lg_policy_ref_release(rq->ref);
  atomic_fetch_sub(&s->buffered, rq->cap);
  free(rq->body);
  free(rq->answer); /* judged, but the connection went before the answer */
  free(rq);
  *con_cls = NULL;
  atomic_fetch_sub(&s->active, 1);
}

/* ---- the plain-HTTP listeners ---- */

void lg_routes_probe_answer(void *ctx, const char *url, lg_httpd_answer *out) {
  lg_routes *s = ctx;
  if (!strcmp(url, "/healthz")) {
    out->body = strdup("ok\n");
  } else if (!strcmp(url, "/readyz")) {
    bool ready = lg_routes_ready(s);
    out->status = ready ? 200 : 503;
    out->body = strdup(ready ? "ok\n" : NOT_READY "\n");
  }
}

void lg_routes_metrics_answer(void *ctx, const char *url, lg_httpd_answer *out) {
  lg_routes *s = ctx;
  if (!strcmp(url, "/metrics")) {
    out->ctype = "text/plain; version=0.0.4; charset=utf-8";
    out->body = lg_metrics_render(s->cfg->metrics, lg_time_now());
  }
}
