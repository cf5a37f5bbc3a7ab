/* http.c -- libmicrohttpd over GnuTLS, a thread per connection (handlers may block on the
 * webhook or a watch); authentication, routing, Status errors, Warning headers, request log. */
#include "http.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "aslog.h"
#include "listwatch.h"
#include "meta.h"
#include "status.h"

/* kube-apiserver's default limit on request bodies (MaxRequestBodyBytes). */
#define MAX_BODY (3 * 1024 * 1024)
#define PEM_MAX  (1024 * 1024)
/* The Warning recorder's limits: over 4096 bytes in all, each is cut to 256, then dropped. */
#define WARN_TOTAL 4096
#define WARN_EACH  256

struct as_http {
  const as_ctx *ctx;
  struct MHD_Daemon *d;
  char *cert, *key;
};

typedef struct {
  char *body;
  size_t len, cap;
  bool too_large;
} req_state;

typedef void (*handler)(const as_ctx *, const as_request *, as_reply *);

/* ---- replies ---- */

void as_reply_warn(as_reply *r, const char *text) {
  if (!text || !text[0] || r->n_warnings == AS_MAX_WARNINGS)
    return;
  for (size_t i = 0; i < r->n_warnings; i++)
    if (!strcmp(r->warnings[i], text))
      return;
  if ((r->warnings[r->n_warnings] = strdup(text)))
    r->n_warnings++;
}

void as_reply_free(as_reply *r) {
  json_decref(r->body);
  as_watch_free(r->watch);
  for (size_t i = 0; i < r->n_warnings; i++)
    free(r->warnings[i]);
  memset(r, 0, sizeof *r);
}

/* net.NewWarningHeader: 299 - "text", with \ and " escaped; cut to max bytes on a
 * UTF-8 boundary. */
static void warning_header(const char *text, size_t max, char *out, size_t len) {
  size_t o = 0, n = strlen(text);
  if (n > max) {
    n = max;
    while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
      n--;
  }
  o = (size_t)snprintf(out, len, "299 - \"");
  for (size_t i = 0; i < n && o + 3 < len; i++) {
    if (text[i] == '"' || text[i] == '\\')
      out[o++] = '\\';
    out[o++] = text[i];
  }
  out[o++] = '"';
  out[o] = '\0';
}

static void add_warnings(struct MHD_Response *resp, const as_reply *r) {
  char hdr[2 * WARN_TOTAL + 16];
  size_t total = 0, max = SIZE_MAX, used = 0;

  for (size_t i = 0; i < r->n_warnings; i++)
    total += strlen(r->warnings[i]);
  if (total > WARN_TOTAL)
    max = WARN_EACH;
  for (size_t i = 0; i < r->n_warnings; i++) {
    size_t n = strlen(r->warnings[i]);
    n = n < max ? n : max;
    if (used + n > WARN_TOTAL)
      break;
    used += n;
    warning_header(r->warnings[i], max, hdr, sizeof hdr);
    MHD_add_response_header(resp, "Warning", hdr);
  }
}

static struct MHD_Response *json_response(json_t *body) {
  char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
  size_t n = text ? strlen(text) : 0;
  char *line = text ? realloc(text, n + 2) : NULL;
  if (!line) {
    free(text);
    return NULL;
  }
  line[n] = '\n'; /* Go's json.Encoder ends every document with a newline */
  line[n + 1] = '\0';
  return MHD_create_response_from_buffer(n + 1, line, MHD_RESPMEM_MUST_FREE);
}

/* ---- routing ---- */

typedef struct {
  char buf[1024];
  const char *ns, *name;
  handler h;
} route;

/* Splits url into at most 8 segments; returns their number or -1. */
static int split(char *buf, const char *url, char *seg[8]) {
  int n = 0;
  if (strlen(url) >= 1024 || url[0] != '/')
    return -1;
  strcpy(buf, url + 1);
  for (char *p = buf; n < 8;) {
    char *slash = strchr(p, '/');
    seg[n++] = p;
    if (!*p)
      return -1; /* empty segment, trailing slash */
    if (!slash)
      return n;
    *slash = '\0';
    p = slash + 1;
  }
  return -1;
}

/* The resources served: group-version path segments, resource, scope, handler. */
static const struct {
  const char *gv[3];
  int n_gv;
  const char *resource;
  bool namespaced;
  handler h;
} resources[] = {
    {{"apis", "coordination.k8s.io", "v1"}, 3, "leases", true, as_leases_handle},
    {{"api", "v1"}, 2, "events", true, as_events_handle},
    {{"api", "v1"}, 2, "secrets", true, as_secrets_handle},
    {{"api", "v1"}, 2, "configmaps", true, as_configmaps_handle},
    {{"apis", "wgpolicyk8s.io", "v1alpha2"}, 3, "policyreports", true, as_policyreports_handle},
    {{"apis", "admissionregistration.k8s.io", "v1"},
     3,
     "validatingwebhookconfigurations",
     false,
     as_vwcs_handle},
};

/* Fills rt for the paths of the resources served; false for any other path (PolicyReports
 * with --no-policy-reports: a cluster without the CRD). */
static bool parse_route(const as_config *cfg, const char *url, route *rt) {
  char *s[8];
  int n = split(rt->buf, url, s);

  for (size_t r = 0; r < sizeof resources / sizeof *resources; r++) {
    int base = resources[r].n_gv, k;
    if (n < base || (cfg->no_policy_reports && resources[r].h == as_policyreports_handle))
      continue;
    for (k = 0; k < base && !strcmp(s[k], resources[r].gv[k]); k++)
      ;
    if (k < base)
      continue;
    rt->ns = rt->name = NULL;
    if (resources[r].namespaced && n - base >= 3 && !strcmp(s[base], "namespaces")) {
      rt->ns = s[base + 1];
      base += 2;
    }
    if (n - base < 1 || n - base > 2 || strcmp(s[base], resources[r].resource) != 0)
      continue;
    if (n - base == 2) {
      if (resources[r].namespaced && !rt->ns)
        return false;
      rt->name = s[base + 1];
    }
    rt->h = resources[r].h;
    return true;
  }
  return false;
}

static bool is_media_type(const char *ct, const char *type) {
  size_t n = strlen(type);
  return ct && !strncasecmp(ct, type, n) && (ct[n] == '\0' || ct[n] == ';');
}

static bool is_json(const char *ct) { return is_media_type(ct, "application/json"); }

static const char *query(void *cls, const char *key) {
  return MHD_lookup_connection_value(cls, MHD_GET_ARGUMENT_KIND, key);
}

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value) {
  (void)kind;
  json_object_set_new(cls, key, json_string(value ? value : ""));
  return MHD_YES;
}

/* ---- requests ---- */

static void serve(as_http *h, struct MHD_Connection *c, const char *url, const char *method,
                  req_state *st, const as_user *user, as_reply *r) {
  const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
  route rt;
  as_request rq;
  char msg[256];

  if (!user) {
    as_reply_set(r, 401, as_status(401, "Unauthorized", "Unauthorized", NULL));
  } else if (st->too_large) {
    snprintf(msg, sizeof msg, "Request entity too large: limit is %d", MAX_BODY);
    as_reply_set(r, 413, as_status(413, "RequestEntityTooLarge", msg, NULL));
  } else if (!parse_route(h->ctx->cfg, url, &rt)) {
    as_reply_set(r, 404,
                 as_status(404, "NotFound",
                           "the server could not find the requested "
                           "resource",
                           json_object()));
  } else if (!strcmp(method, "PATCH") && rt.h == as_events_handle && rt.name &&
             !is_media_type(ct, "application/merge-patch+json")) {
    /* Of kube-apiserver's patch types only the JSON merge patch is implemented. */
    as_reply_set(r, 415,
                 as_status(415, "UnsupportedMediaType",
                           "the body of the request was in "
                           "an unknown format - accepted media types include: "
                           "application/merge-patch+json",
                           NULL));
  } else if ((!strcmp(method, "POST") || !strcmp(method, "PUT")) && !is_json(ct)) {
    as_reply_set(r, 415,
                 as_status(415, "UnsupportedMediaType",
                           "the body of the request was in "
                           "an unknown format - accepted media types include: "
                           "application/json",
                           NULL));
  } else {
    rq =
        (as_request){method, rt.ns, rt.name, st->body ? st->body : "", st->len, user, query, c, ct};
    rt.h(h->ctx, &rq, r);
  }
  if (!r->status && !r->watch)
    as_reply_set(r, 500, as_status_internal("no reply"));
}

static void log_request(struct MHD_Connection *c, const char *url, const char *method,
                        const as_user *user, const as_reply *r) {
  json_t *args = json_object(), *line;
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, args);
  line = json_pack("{s:s, s:s, s:s, s:o, s:s?, s:i, s:b}", "kind", "request", "method", method,
                   "path", url, "query", args, "user", user ? user->name : NULL, "status",
                   (int)r->status, "watch", r->watch != NULL);
  if (line && r->body && json_is_string(json_object_get(r->body, "message")) &&
      json_is_string(json_object_get(r->body, "status")))
    json_object_set(line, "message", json_object_get(r->body, "message"));
  as_log(line);
}

static enum MHD_Result answer(as_http *h, struct MHD_Connection *c, const char *url,
                              const char *method, req_state *st) {
  const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  const as_user *user = NULL;
  as_reply r;
  struct MHD_Response *resp;
  enum MHD_Result ret;
  char audit_id[AS_UID_LEN];

  memset(&r, 0, sizeof r);
  if (!strcmp(url, "/healthz") || !strcmp(url, "/livez") || !strcmp(url, "/readyz")) {
    static char ok[] = "ok";
    resp = MHD_create_response_from_buffer(2, ok, MHD_RESPMEM_PERSISTENT);
    if (!resp)
      return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
  }
  user = as_tokens_authenticate(h->ctx->tokens, auth);
  serve(h, c, url, method, st, user, &r);
  log_request(c, url, method, user, &r);
  if (r.watch) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    as_watch_set_fd(r.watch, ci ? ci->connect_fd : -1);
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, as_watch_read, r.watch,
                                             as_watch_free);
    if (resp)
      r.watch = NULL; /* the response owns it now */
  } else {
    resp = json_response(r.body);
  }
  if (!resp) {
    as_reply_free(&r);
    return MHD_NO;
  }
  as_new_uid(audit_id);
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache, private");
  MHD_add_response_header(resp, "Audit-Id", audit_id);
  add_warnings(resp, &r);
  ret = MHD_queue_response(c, r.status, resp);
  MHD_destroy_response(resp);
  as_reply_free(&r);
  return ret;
}

static enum MHD_Result take_body(req_state *st, const char *data, size_t n) {
  if (st->too_large || n > MAX_BODY - st->len) {
    st->too_large = true;
    return MHD_YES; /* read and dropped, so that the 413 can be sent */
  }
  if (st->len + n + 1 > st->cap) {
    size_t cap = st->cap ? st->cap : 8192;
    char *grown;
    while (cap < st->len + n + 1)
      cap *= 2;
    if (!(grown = realloc(st->body, cap)))
      return MHD_NO;
    st->body = grown;
    st->cap = cap;
  }
  memcpy(st->body + st->len, data, n);
  st->len += n;
  st->body[st->len] = '\0';
  return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  req_state *st = *con_cls;
  enum MHD_Result ret = MHD_YES;
  (void)version;

  if (!st) {
    if (!(st = calloc(1, sizeof *st)))
      return MHD_NO;
    *con_cls = st;
    return MHD_YES;
  }
  if (*upload_size) {
    ret = take_body(st, upload, *upload_size);
    *upload_size = 0;
    return ret;
  }
  return answer(cls, c, url, method, st);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  req_state *st = *con_cls;
  (void)cls;
  (void)c;
  (void)toe;
  if (st) {
    free(st->body);
    free(st);
    *con_cls = NULL;
  }
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt,
                                                             va_list ap) {
  (void)cls;
  fputs("lg-test-apiserver: libmicrohttpd: ", stderr);
  vfprintf(stderr, fmt, ap);
}

/* ---- start and stop ---- */

static char *read_pem(const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  char *buf = f ? malloc(PEM_MAX + 1) : NULL;
  size_t n = buf ? fread(buf, 1, PEM_MAX, f) : 0;

  if (!f || !buf || n == 0) {
    snprintf(err, errlen, "cannot read %s: %s", path, f ? "empty or unreadable" : strerror(errno));
    free(buf);
    buf = NULL;
  } else {
    buf[n] = '\0';
  }
  if (f)
    fclose(f);
  return buf;
}

int as_http_start(const as_ctx *ctx, as_http **out, int *port, char *err, size_t errlen) {
  const as_config *cfg = ctx->cfg;
  struct addrinfo hints, *ai = NULL;
  struct sockaddr_storage ss;
  const union MHD_DaemonInfo *info;
  as_http *h = calloc(1, sizeof *h);
  unsigned flags = MHD_USE_TLS | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                   MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
  char portbuf[8];
  int rc = -1, g;

  *out = NULL;
  if (!h || !(h->cert = read_pem(cfg->tls_cert_file, err, errlen)) ||
      !(h->key = read_pem(cfg->tls_key_file, err, errlen)))
    goto out;
  memset(&hints, 0, sizeof hints);
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  hints.ai_socktype = SOCK_STREAM;
  snprintf(portbuf, sizeof portbuf, "%d", cfg->secure_port);
  if ((g = getaddrinfo(cfg->bind_address, portbuf, &hints, &ai)) != 0) {
    snprintf(err, errlen, "--bind-address %s: %s", cfg->bind_address, gai_strerror(g));
    goto out;
  }
  memset(&ss, 0, sizeof ss);
  memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
  if (ai->ai_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  h->ctx = ctx;
  h->d = MHD_start_daemon(flags, (uint16_t)cfg->secure_port, NULL, NULL, on_request, h,
                          MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h, MHD_OPTION_NOTIFY_COMPLETED,
                          on_completed, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                          MHD_OPTION_HTTPS_MEM_CERT, h->cert, MHD_OPTION_HTTPS_MEM_KEY, h->key,
                          MHD_OPTION_CONNECTION_LIMIT, 512U, MHD_OPTION_END);
  if (!h->d) {
    snprintf(err, errlen, "cannot serve HTTPS on %s port %d (see libmicrohttpd's message)",
             cfg->bind_address, cfg->secure_port);
    goto out;
  }
  info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
  *port = info ? info->port : cfg->secure_port;
  *out = h;
  h = NULL;
  rc = 0;
out:
  if (ai)
    freeaddrinfo(ai);
  as_http_stop(h);
  return rc;
}

void as_http_stop(as_http *h) {
  const struct timespec tick = {0, 10 * 1000000L};
  MHD_socket listener;

  if (!h)
    return;
  if (h->d) {
    /* Stop accepting, give ending watches a moment to send their last chunk, then close. */
    listener = MHD_quiesce_daemon(h->d);
    for (int i = 0; i < 100 && as_watch_live() > 0; i++)
      nanosleep(&tick, NULL);
    MHD_stop_daemon(h->d);
    if (listener != MHD_INVALID_SOCKET)
      close(listener);
  }
  free(h->cert);
  free(h->key);
  free(h);
}
