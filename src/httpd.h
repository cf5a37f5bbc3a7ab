/* httpd.h -- a small plain-HTTP endpoint (GET only) for the status and metrics of `elect`
 * and `audit --watch`; serve has its own HTTPS server. */
#ifndef LG_HTTPD_H
#define LG_HTTPD_H

#include <stddef.h>

#include "status.h"

typedef struct {
  unsigned status;   /* HTTP status; 200 unless the handler says otherwise */
  const char *ctype; /* Content-Type; "text/plain; charset=utf-8" unless set */
  char *body;        /* new (malloc): the answer; NULL = 404 */
} lg_httpd_answer;

/* Answers GET url into *out (called on the server's thread; must be thread-safe). */
typedef void (*lg_httpd_handler)(void *ctx, const char *url, lg_httpd_answer *out);

typedef struct lg_httpd lg_httpd;

/* Listens on addr ("IPV4:PORT"; an empty host means all addresses) and answers GET with
 * handler; other methods get 405. On failure *out is NULL and err says why. */
lg_rc lg_httpd_start(const char *addr, lg_httpd_handler handler, void *ctx, lg_httpd **out,
                     char *err, size_t errlen);

/* Stops and frees; NULL is a no-op. */
void lg_httpd_stop(lg_httpd *h);

#endif
