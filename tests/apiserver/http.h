/* http.h -- the HTTPS front of lg-test-apiserver: libmicrohttpd, bearer tokens, routes, replies. */
#ifndef AS_HTTP_H
#define AS_HTTP_H

#include <stddef.h>

#include "apiserver.h"

typedef struct as_http as_http;

/* Starts serving ctx (borrowed until as_http_stop) on cfg's address; *port is the port
 * bound. Returns 0, or -1 with detail in err. */
int as_http_start(const as_ctx *ctx, as_http **out, int *port, char *err, size_t errlen);

/* Stops accepting and closes every connection once its handler has returned. Stop the
 * store first so that watches end. NULL is a no-op. */
void as_http_stop(as_http *h);

#endif
