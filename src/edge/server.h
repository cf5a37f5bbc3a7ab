/* server.h -- the HTTPS webhook server (the plain HTTP status listener is httpd.h), with its
 * probe and metrics listeners: start, limits, reloads, connection noise, signals and the
 * graceful shutdown. */
#ifndef LG_SERVER_H
#define LG_SERVER_H

#include <stddef.h>

#include "certctl.h"
#include "events.h"
#include "metrics.h"
#include "rules.h"
#include "rc.h"
#include "fencehook.h"
#include "leasecache.h"
#include "witness.h"
#include "tlsopts.h"

typedef struct {
  const char *bind_address;         /* "0.0.0.0", "127.0.0.1", "::" (every address of both families;
                                  * IPv4 only on a host without IPv6) ... */
  int secure_port;                  /* 1..65535 */
  const char *tls_cert_file;        /* PEM serving certificate (chain); reloaded when it changes */
  const char *tls_key_file;         /* PEM private key; reloaded with the certificate */
  const lg_certctl_config *certctl; /* instead of the files: the certificate controller keeps the
                                     * pair in a Secret (borrowed); /readyz fails until it
                                     * installs one */
  const char *client_ca_file;       /* NULL: no client certificate asked for; else every path but
                                  * /healthz, /readyz and /metrics needs one issued by these CAs
                                  * (403); reloaded with the certificate */
  const lg_tlsopts *tls;            /* NULL: TLS 1.2 and 1.3 with ECDHE AEAD suites */
  const char *health_probe_bind_address; /* NULL: off; else "HOST:PORT" of a plain-HTTP
                                          * listener for /healthz and /readyz */
  const char *metrics_bind_address;      /* NULL: off; else "HOST:PORT" for /metrics */
  const char *policy_file;               /* NULL: the built-in default policy */
  lg_mode mode_override;                 /* LG_MODE_INHERIT: the policy's defaultMode */
  size_t max_request_bytes;              /* larger bodies get 413 */
  unsigned connection_limit;             /* concurrent connections */
  unsigned connection_timeout_s;         /* a connection without a whole request this long after it
                                  * opened or was last answered is closed (slowloris) */
  unsigned threads;                      /* worker threads; 0 = one per CPU */
  unsigned policy_check_interval_ms;     /* how often the policy, certificate, key and client CA
                                      * files are checked for changes; 0 = only on SIGHUP */
  unsigned shutdown_delay_ms;    /* after SIGTERM/SIGINT: /readyz fails at once, requests are
                                  * served this long, then it drains and stops */
  lg_metrics *metrics;           /* borrowed, may be NULL: counted, and served on /metrics */
  lg_events *events;             /* borrowed, may be NULL: violations become Kubernetes Events */
  lg_witness *witness;           /* borrowed, may be NULL: the lease writes seen, for expiry */
  lg_leasecache *lease_cache;    /* borrowed, may be NULL: told of admitted lease writes */
  const lg_fencehook_env *fence; /* borrowed; non-NULL: POST /fence judges fenced objects */
} lg_server_config;

/* Serves until SIGTERM or SIGINT (with certctl: its controller running from the start, kicked by
 * SIGHUP); then /readyz fails on every listener, requests are still
 * answered for the shutdown delay (a second signal cuts it short), then it stops accepting,
 * finishes in-flight requests (bounded by the connection timeout) and returns LG_OK. Returns
 * an error (detail in err) when it cannot start. New TLS handshakes use the certificate, key
 * and client CA current at the time; open connections keep theirs. */
lg_rc lg_server_run(const lg_server_config *cfg, char *err, size_t errlen);

#endif
