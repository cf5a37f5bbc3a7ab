/* routes.h -- serve's requests: POST /validate and the probe and metrics endpoints beside it
 * on the HTTPS port (libmicrohttpd's callbacks: routes_mhd.h, private), and the answers of
 * the plain-HTTP probe and metrics listeners. Framing, client certificate and body checks. */
#ifndef LG_ROUTES_H
#define LG_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include "conns.h"
#include "httpd.h"
#include "noise.h"
#include "policywatch.h"
#include "server.h"
#include "tls.h"

typedef struct lg_routes lg_routes;

/* New request state over the server's parts (all borrowed, noise may be NULL); not serving
 * until lg_routes_set_serving. NULL on no memory. */
lg_routes *lg_routes_new(const lg_server_config *cfg, lg_policywatch *policies, lg_tls *tls,
                         lg_conns *conns, lg_noise *noise);

/* Frees r; NULL is a no-op. */
void lg_routes_free(lg_routes *r);

/* Serving (true) or shutting down (false: /readyz fails on every listener and answers carry
 * Connection: close, so keep-alive clients reconnect elsewhere; requests are still answered). */
void lg_routes_set_serving(lg_routes *r, bool serving);

/* What /readyz says: a policy is loaded, a serving pair is in use and the server is serving. */
bool lg_routes_ready(lg_routes *r);

/* Requests begun and not yet completed. */
unsigned lg_routes_active(lg_routes *r);

/* lg_httpd handlers (ctx: the lg_routes): GET /healthz and /readyz for the probe listener,
 * GET /metrics for the metrics listener. */
void lg_routes_probe_answer(void *ctx, const char *url, lg_httpd_answer *out);
void lg_routes_metrics_answer(void *ctx, const char *url, lg_httpd_answer *out);

#endif
