/* httpd.c -- plain-HTTP GET endpoint on libmicrohttpd, for status and metrics. */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

struct lg_httpd {
  struct MHD_Daemon *daemon;
  lg_httpd_handler handler;
  void *ctx;
};

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **req) {
  lg_httpd *h = cls;
  lg_httpd_answer a = {200, "text/plain; charset=utf-8", NULL};
  struct MHD_Response *r;
  enum MHD_Result ret;
  (void)version, (void)data, (void)size, (void)req;
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    a.status = 405;
    a.body = strdup("method not allowed\n");
  } else {
    h->handler(h->ctx, url, &a);
    if (!a.body) {
      a.status = 404;
      a.ctype = "text/plain; charset=utf-8";
      a.body = strdup("not found\n");
    }
  }
  if (!a.body)
    return MHD_NO;
  r = MHD_create_response_from_buffer(strlen(a.body), a.body, MHD_RESPMEM_MUST_FREE);
  if (!r) {
    free(a.body);
    return MHD_NO;
  }
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a.ctype);
  ret = MHD_queue_response(c, a.status, r);
  MHD_destroy_response(r);
  return ret;
}

lg_rc lg_httpd_start(const char *addr, lg_httpd_handler handler, void *ctx, lg_httpd **out,
                     char *err, size_t errlen) {
  const char *colon = addr ? strrchr(addr, ':') : NULL;
  struct sockaddr_in sa = {.sin_family = AF_INET};
  char *end = NULL;
  long port = colon ? strtol(colon + 1, &end, 10) : 0;
  char host[64];
  lg_httpd *h;

  *out = NULL;
  if (!colon || !end || *end || port <= 0 || port > 65535 ||
      (size_t)(colon - addr) >= sizeof host)
    return lg_fail(err, errlen, LG_EINVAL, "--http must be IPV4:PORT, got \"%s\"",
                   addr ? addr : "");
  memcpy(host, addr, (size_t)(colon - addr));
  host[colon - addr] = '\0';
  if (inet_pton(AF_INET, host[0] ? host : "0.0.0.0", &sa.sin_addr) != 1)
    return lg_fail(err, errlen, LG_EINVAL, "--http: \"%s\" is not an IPv4 address", host);
  sa.sin_port = htons((uint16_t)port);
  if (!(h = calloc(1, sizeof *h)))
    return lg_fail(err, errlen, LG_ENOMEM, "out of memory");
  h->handler = handler;
  h->ctx = ctx;
  h->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, h,
                               MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_END);
  if (!h->daemon) {
    free(h);
    return lg_fail(err, errlen, LG_EIO, "cannot listen on %s: %s", addr, strerror(errno));
  }
  *out = h;
  return LG_OK;
}

void lg_httpd_stop(lg_httpd *h) {
  if (!h)
    return;
  MHD_stop_daemon(h->daemon);
  free(h);
}
