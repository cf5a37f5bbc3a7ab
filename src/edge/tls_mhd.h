/* tls_mhd.h -- private to the .c files of src/edge: the parts of tls.h that speak GnuTLS and
 * libmicrohttpd (each connection's handshake, the certificate callback, the client check).
 * Public headers never include this one (tests/edgeheaders checks). */
#ifndef LG_TLS_MHD_H
#define LG_TLS_MHD_H

#include <stdbool.h>
#include <stddef.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "tls.h"

/* One connection's TLS state: the pair its last handshake used, its client check. */
typedef struct lg_tls_conn lg_tls_conn;

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
