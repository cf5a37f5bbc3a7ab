/* tls.h -- the serving certificate and key (reloaded when their files change, expiry
 * warned about), client certificates checked against --client-ca-file (reloaded too), and
 * each connection's handshake (tls_mhd.h, private to the edge: GnuTLS and libmicrohttpd
 * stay out of this header). */
#ifndef LG_TLS_H
#define LG_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "rc.h"

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

/* Loads the pair (the key must match; none without files), warns about its expiry, reads the
 * client CA. cfg is copied (strings, metrics borrowed). All or nothing: on failure *out is
 * NULL, err says why. */
lg_rc lg_tls_new(const lg_tls_config *cfg, lg_tls **out, char *err, size_t errlen);

/* Frees the store, dropping its reference to the pair (connections keep theirs); NULL: no-op. */
void lg_tls_free(lg_tls *t);

/* Reloads the pair when the certificate or key file changed, and the client CA when its file
 * changed, or both always when force (SIGHUP); what fails to load leaves the current one in
 * force. Each attempt is counted (lg_metrics_file_reload). Main thread only. */
void lg_tls_reload_if_changed(lg_tls *t, bool force);

/* Makes the PEM certificate chain and key (copied) the pair of new handshakes, as a file
 * reload does; fails, keeping the current pair, unless both parse and the key matches.
 * Thread-safe. */
lg_rc lg_tls_install_pem(lg_tls *t, const char *cert, const char *key, char *err, size_t errlen);

/* True once a pair is in use (from the files at start, or installed). Thread-safe. */
bool lg_tls_ready(lg_tls *t);

/* Milliseconds until the next daily expiry check is due (<= 0: due now). */
int64_t lg_tls_expiry_due_ms(const lg_tls *t);

/* Logs a warning when the certificate expires within 30 days, an error once it has;
 * schedules the next check a day later. Main thread only. */
void lg_tls_check_expiry(lg_tls *t);

#endif
