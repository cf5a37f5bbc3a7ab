/* server.h -- the HTTPS webhook server: routes, limits, policy and certificate reload, signals. */
#ifndef LG_SERVER_H
#define LG_SERVER_H

#include <stddef.h>

#include "events.h"
#include "metrics.h"
#include "rules.h"
#include "status.h"
#include "witness.h"

typedef struct {
  const char *bind_address;      /* "0.0.0.0", "127.0.0.1", "::" ... */
  int secure_port;               /* 1..65535 */
  const char *tls_cert_file;     /* PEM serving certificate (chain); reloaded when it changes */
  const char *tls_key_file;      /* PEM private key; reloaded with the certificate */
  const char *client_ca_file;    /* NULL: no client certificate asked for; else every path but
                                  * /healthz and /readyz needs one issued by these CAs (403) */
  const char *policy_file;       /* NULL: the built-in default policy */
  lg_mode mode_override;         /* LG_MODE_INHERIT: the policy's defaultMode */
  size_t max_request_bytes;      /* larger bodies get 413 */
  unsigned connection_limit;     /* concurrent connections */
  unsigned connection_timeout_s; /* a connection without a whole request this long after it
                                  * opened or was last answered is closed (slowloris) */
  unsigned threads;              /* worker threads; 0 = one per CPU */
  unsigned policy_check_interval_ms; /* how often the policy, certificate and key files are
                                      * checked for changes; 0 = only on SIGHUP */
  lg_metrics *metrics;           /* borrowed, may be NULL: counted, and served on /metrics */
  lg_events *events;             /* borrowed, may be NULL: violations become Kubernetes Events */
  lg_witness *witness;           /* borrowed, may be NULL: the lease writes seen, for expiry */
} lg_server_config;

/* Serves until SIGTERM or SIGINT, then stops accepting, finishes in-flight requests
 * and returns LG_OK. Returns an error (detail in err) when it cannot start. New TLS
 * handshakes use the certificate and key current at the time; open connections keep
 * theirs. */
lg_rc lg_server_run(const lg_server_config *cfg, char *err, size_t errlen);

#endif
