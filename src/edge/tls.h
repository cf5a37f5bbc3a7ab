/* tls.h -- the serving certificate and key (reloaded when their files change, expiry
 * warned about), client certificates checked against --client-ca-file (reloaded too), and
 * each connection's handshake; GnuTLS. */
#ifndef LG_TLS_H
#define LG_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include "metrics.h"
#include "rc.h"

struct MHD_Connection;

typedef struct {
  const char *cert_file;      /* PEM serving certificate (chain); NULL with key_file NULL: no
                               * files, the pair comes from lg_tls_install_pem */
  const char *key_file;       /* PEM private key of its first certificate */
  const char *pair_source;    /* without files: where pairs come from, for logs */
  const char *client_ca_file; /* NULL: no client certificate asked for */
  lg_metrics *metrics;        /* may be NULL: told each installed certificate's notAfter and
                               * each reload */
} lg_tls_config;

/* The store: the pair new handshakes get, the file watch and the client CA. */
typedef struct lg_tls lg_tls;
/* One connection's TLS state: the pair its last handshake used, its client check. */
typedef struct lg_tls_conn lg_tls_conn;

/* Loads the pair (the key must match; none without files), warns about its expiry, reads the
 * client CA. cfg is copied (strings, metrics borrowed). All or nothing: on failure *out is
 * NULL, err says why. */
lg_rc lg_tls_new(const lg_tls_config *cfg, lg_tls **out, char *err, size_t errlen);

/* Frees the store, dropping its reference to the pair (connections keep theirs); NULL: no-op. */
void lg_tls_free(lg_tls *t);

/* Reloads the pair when the certificate or key file changed, and the client CA when its file
 * changed, or both always when force (SIGHUP); what fails to load leaves the current one in
 * force. Each attempt is counted (lg_metrics_file_reload). Main thread only. */
void lg_tls_check_files(lg_tls *t, bool force);

/* Makes the PEM certificate chain and key (copied) the pair of new handshakes, as a file
 * reload does; fails, keeping the current pair, unless both parse and the key matches.
 * Thread-safe. */
lg_rc lg_tls_install_pem(lg_tls *t, const char *cert, const char *key, char *err,
                         size_t errlen);

/* True once a pair is in use (from the files at start, or installed). Thread-safe. */
bool lg_tls_ready(lg_tls *t);

/* Milliseconds until the next daily expiry check is due (<= 0: due now). */
int64_t lg_tls_expiry_due_ms(const lg_tls *t);

/* Logs a warning when the certificate expires within 30 days, an error once it has;
 * schedules the next check a day later. Main thread only. */
void lg_tls_check_expiry(lg_tls *t);

/* A new state for connection c of t, to be its libmicrohttpd socket context (the lg_tls_*
 * functions below find it there): asks for a client certificate when t has a client CA and
 * follows the handshake. NULL when out of memory. */
lg_tls_conn *lg_tls_conn_new(lg_tls *t, struct MHD_Connection *c);

/* Releases the pair the connection held and frees tc; NULL is a no-op. */
void lg_tls_conn_free(lg_tls_conn *tc);

/* True when tc's connection never completed a TLS handshake; reason says how far it got
 * (no ClientHello, nothing in common, failed after the ServerHello). */
bool lg_tls_conn_failed(const lg_tls_conn *tc, char *reason, size_t len);

/* The MHD_OPTION_HTTPS_CERT_CALLBACK2 callback: hands each handshake the current pair,
 * which the connection's state holds until it closes. -1 when it has no state. */
int lg_tls_on_cert(gnutls_session_t session, const struct gnutls_cert_retr_st *info,
                   gnutls_pcert_st **chain, unsigned int *n, gnutls_ocsp_data_st **ocsp,
                   unsigned int *n_ocsp, gnutls_privkey_t *key, unsigned int *flags);

/* Whether c may use the paths guarded by the client CA: always true without one; else
 * its certificate must chain to the client CAs current at its first request and allow
 * client auth (checked once per handshake: a verified connection keeps its state across CA
 * reloads). reason (len bytes) says why when this call refused it, and is empty otherwise. */
bool lg_tls_client_allowed(lg_tls *t, struct MHD_Connection *c, char *reason, size_t len);

#endif
