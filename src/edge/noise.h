/* noise.h -- connection-level failures, mostly from strangers (aborted TLS handshakes,
 * connections over --max-connections, refused client certificates, malformed HTTP): counted
 * in a metric as they come and summed up in one log line per interval, never one line per
 * connection. Thread-safe. */
#ifndef LG_NOISE_H
#define LG_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "metrics.h"

typedef enum {
  LG_NOISE_HANDSHAKE,   /* closed before a TLS handshake completed */
  LG_NOISE_LIMIT,       /* refused at --max-connections */
  LG_NOISE_CLIENT_CERT, /* no acceptable client certificate (--client-ca-file) */
  LG_NOISE_HTTP,        /* malformed or cut-off HTTP */
  LG_NOISE_KINDS
} lg_noise_kind;

typedef struct {
  uint64_t count[LG_NOISE_KINDS];
  uint64_t total;
  lg_noise_kind last_kind;
  char last_peer[64]; /* "10.0.0.7:51234", "[fd00::7]:51234"; "" when unknown */
  char last_reason[256];
} lg_noise_summary;

typedef struct lg_noise lg_noise;

/* A new, empty tally counting into m (borrowed, may be NULL); NULL on no memory. */
lg_noise *lg_noise_new(lg_metrics *m);

/* Frees n; NULL is a no-op. */
void lg_noise_free(lg_noise *n);

/* Counts one failure of kind k from peer (may be NULL or "") for reason (may be NULL). */
void lg_noise_add(lg_noise *n, lg_noise_kind k, const char *peer, const char *reason);

/* Moves what was added since the last take into *out and starts over; false (and *out
 * zeroed) when nothing was. */
bool lg_noise_take(lg_noise *n, lg_noise_summary *out);

/* Logs s as one warning line for the last interval_s seconds. */
void lg_noise_log(const lg_noise_summary *s, unsigned interval_s);

/* The metric label of k: "tls-handshake", "max-connections", "client-certificate", "http". */
const char *lg_noise_kind_name(lg_noise_kind k);

/* Writes sa as "IPV4:PORT" or "[IPV6]:PORT" into out (len bytes); "" when sa is NULL or of
 * another family. */
void lg_noise_peer(const struct sockaddr *sa, char *out, size_t len);

#endif
