/* httpd.h -- the plain HTTP status listener (not the HTTPS webhook server: server.h): small
 * GET endpoints for the status and metrics of `elect` and `audit --watch`, and serve's probe
 * and metrics listeners. */
#ifndef LG_HTTPD_H
#define LG_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

#include "rc.h"

typedef struct {
  unsigned status;   /* HTTP status; 200 unless the handler says otherwise */
  const char *ctype; /* Content-Type; "text/plain; charset=utf-8" unless set */
  char *body;        /* new (malloc): the answer; NULL = 404 */
} lg_httpd_answer;

/* Answers GET url into *out (called on the server's thread; must be thread-safe). */
typedef void (*lg_httpd_handler)(void *ctx, const char *url, lg_httpd_answer *out);

typedef struct {
  const char *addr; /* "HOST:PORT", "[IPV6]:PORT" or ":PORT" (every address, both
                              * families; IPv4 only on a host without IPv6) */
  const char *flag; /* the flag addr came from, for messages ("--http") */
  lg_httpd_handler handler;
  void *ctx;
  unsigned connection_limit; /* concurrent connections; 0 = 64 */
  unsigned timeout_s;        /* a connection without a whole request this long after it opened
                              * or was answered is closed (see lg_httpd_reap); 0 = 10 */
} lg_httpd_config;

typedef struct lg_httpd lg_httpd;

/* Listens as cfg says (copied; ctx borrowed) and answers GET and HEAD with the handler;
 * other methods get 405, ambiguous framing 400. On failure *out is NULL and err says why. */
lg_rc lg_httpd_start_with(const lg_httpd_config *cfg, lg_httpd **out, char *err, size_t errlen);

/* lg_httpd_start_with with flag "--http" and the default limits. */
lg_rc lg_httpd_start(const char *addr, lg_httpd_handler handler, void *ctx, lg_httpd **out,
                     char *err, size_t errlen);

/* The address it listens on, as "[::]:8081" (borrowed). */
const char *lg_httpd_address(const lg_httpd *h);

/* Closes the connections that have not sent a whole request within the timeout of opening or
 * of their last answer (libmicrohttpd's own timeout counts idle time only, so a client
 * sending a byte a second would hold a slot); returns how many. Call every second or so. */
size_t lg_httpd_reap(lg_httpd *h);

/* Stops and frees; NULL is a no-op. */
void lg_httpd_stop(lg_httpd *h);

#endif
