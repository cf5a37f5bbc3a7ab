/* httpd.c -- plain-HTTP GET endpoints on libmicrohttpd, for probes, status and metrics. */
#include "httpd_mhd.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "conns.h"
#include "framing.h"
#include "listen.h"
#include "times.h"

#define DEFAULT_LIMIT     64
#define DEFAULT_TIMEOUT_S 10
/* Header fields of one kind kept for the framing check; more are refused as ambiguous. */
#define FRAMING_MAX 8

struct lg_httpd {
  struct MHD_Daemon *daemon;
  lg_httpd_config cfg;
  lg_conns *conns;
  lg_listen_addr addr;
};

/* ---- framing ---- */

typedef struct {
  const char *cl[FRAMING_MAX], *te[FRAMING_MAX];
  size_t n_cl, n_te;
  bool too_many;
} framing_headers;

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value) {
  framing_headers *f = cls;
  (void)kind;
  if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
    if (f->n_cl == FRAMING_MAX)
      f->too_many = true;
    else
      f->cl[f->n_cl++] = value ? value : "";
  } else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
    if (f->n_te == FRAMING_MAX)
      f->too_many = true;
    else
      f->te[f->n_te++] = value ? value : "";
  }
  return MHD_YES;
}

unsigned lg_httpd_framing(struct MHD_Connection *c, char *msg, size_t len) {
  framing_headers f = {.n_cl = 0};
  MHD_get_connection_values(c, MHD_HEADER_KIND, collect, &f);
  if (f.too_many) {
    snprintf(msg, len, "more than %d Content-Length or Transfer-Encoding headers", FRAMING_MAX);
    return 400;
  }
  return lg_framing_check(f.cl, f.n_cl, f.te, f.n_te, msg, len);
}

/* ---- requests ---- */

static double mono_s(void) { return (double)lg_time_mono() / 1e6; }

/* Queues a (status, ctype, body) answer; body is freed here. close adds Connection: close. */
static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *ctype,
                              char *body, bool close) {
  struct MHD_Response *r;
  enum MHD_Result ret;
  if (!body)
    return MHD_NO;
  r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
  if (!r) {
    free(body);
    return MHD_NO;
  }
  if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype) != MHD_YES ||
      (close && MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES)) {
    MHD_destroy_response(r);
    return MHD_NO;
  }
  ret = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **req) {
  lg_httpd *h = cls;
  lg_httpd_answer a = {200, "text/plain; charset=utf-8", NULL};
  char msg[160], *text;
  unsigned bad;
  (void)version, (void)data, (void)size, (void)req;

  /* Answered at the first call, with the headers: a body is never read. */
  if ((bad = lg_httpd_framing(c, msg, sizeof msg)) != 0) {
    size_t n = strlen(msg) + 2;
    if ((text = malloc(n)))
      snprintf(text, n, "%s\n", msg);
    return answer(c, bad, "text/plain; charset=utf-8", text, true);
  }
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
    return answer(c, 405, "text/plain; charset=utf-8", strdup("method not allowed\n"), false);
  h->cfg.handler(h->cfg.ctx, url, &a);
  if (!a.body)
    return answer(c, 404, "text/plain; charset=utf-8", strdup("not found\n"), false);
  return answer(c, a.status, a.ctype ? a.ctype : "text/plain; charset=utf-8", a.body, false);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req,
                         enum MHD_RequestTerminationCode toe) {
  lg_httpd *h = cls;
  (void)req, (void)toe;
  lg_conns_touch(h->conns, lg_conns_find(h->conns, c), mono_s());
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
  lg_httpd *h = cls;
  (void)socket_context;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    lg_conns_add(h->conns, c, ci ? ci->connect_fd : -1, mono_s());
  } else {
    lg_conns_remove(h->conns, c);
  }
}

/* ---- start and stop ---- */

lg_rc lg_httpd_start_with(const lg_httpd_config *cfg, lg_httpd **out, char *err, size_t errlen) {
  const char *flag = cfg && cfg->flag ? cfg->flag : "--http";
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;
  lg_httpd *h = NULL;
  lg_rc rc;

  *out = NULL;
  if (!cfg || !cfg->handler)
    return lg_fail(err, errlen, LG_EINVAL, "%s: no handler", flag);
  if (!(h = calloc(1, sizeof *h)))
    return lg_fail(err, errlen, LG_ENOMEM, "out of memory");
  h->cfg = *cfg;
  h->cfg.flag = flag;
  if (!h->cfg.connection_limit)
    h->cfg.connection_limit = DEFAULT_LIMIT;
  if (!h->cfg.timeout_s)
    h->cfg.timeout_s = DEFAULT_TIMEOUT_S;
  rc = lg_listen_parse(flag, cfg->addr, lg_listen_ipv6_available(), &h->addr, err, errlen);
  if (rc)
    goto out;
  if (!(h->conns = lg_conns_new())) {
    rc = lg_fail(err, errlen, LG_ENOMEM, "out of memory");
    goto out;
  }
  if (h->addr.dual_stack)
    flags |= MHD_USE_DUAL_STACK;
  else if (h->addr.ipv6)
    flags |= MHD_USE_IPv6;
  errno = 0;
  h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR,
                               (struct sockaddr *)&h->addr.ss, MHD_OPTION_CONNECTION_LIMIT,
                               h->cfg.connection_limit, MHD_OPTION_CONNECTION_TIMEOUT,
                               h->cfg.timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                               MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_END);
  if (!h->daemon) {
    rc = lg_fail(err, errlen, LG_EIO, "%s: cannot listen on %s: %s", flag, h->addr.shown,
                 errno ? strerror(errno) : "libmicrohttpd refused to start");
    goto out;
  }
  *out = h;
  h = NULL;

out:
  if (h) {
    lg_conns_free(h->conns);
    free(h);
  }
  return rc;
}

lg_rc lg_httpd_start(const char *addr, lg_httpd_handler handler, void *ctx, lg_httpd **out,
                     char *err, size_t errlen) {
  lg_httpd_config cfg = {.addr = addr, .flag = "--http", .handler = handler, .ctx = ctx};
  return lg_httpd_start_with(&cfg, out, err, errlen);
}

const char *lg_httpd_address(const lg_httpd *h) { return h->addr.shown; }

static void cut_socket(int fd, void *ud) {
  (void)ud;
  if (fd >= 0)
    shutdown(fd, SHUT_RDWR);
}

size_t lg_httpd_reap(lg_httpd *h) {
  if (!h)
    return 0;
  return lg_conns_expire(h->conns, mono_s(), h->cfg.timeout_s, cut_socket, NULL);
}

void lg_httpd_stop(lg_httpd *h) {
  if (!h)
    return;
  MHD_stop_daemon(h->daemon);
  lg_conns_free(h->conns);
  free(h);
}
