/* raw.h -- for tests: raw TCP and TLS (OpenSSL) connections that send exact bytes and read
 * exactly what comes back, and a `leaseguard serve` started with given flags. Every wait is
 * bounded; failures are cmocka assertions. */
#ifndef LGT_RAW_H
#define LGT_RAW_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "harness.h"

typedef struct {
  int fd;
  SSL *ssl; /* NULL: plain TCP */
} lgt_raw;

typedef enum { LGT_OPEN_OK, LGT_OPEN_REFUSED, LGT_OPEN_CLOSED, LGT_OPEN_TIMEOUT } lgt_open;

/* A client context that verifies the server with the CA file ca (NULL: verifies nothing). */
SSL_CTX *lgt_raw_ctx(const char *ca);

/* Connects to host ("127.0.0.1", "::1") port within timeout_ms; with ctx, completes a TLS
 * handshake too. LGT_OPEN_CLOSED: the handshake failed. c is usable (closable) in any case. */
lgt_open lgt_raw_open(lgt_raw *c, const char *host, int port, SSL_CTX *ctx, long timeout_ms);

/* Sends all of p within timeout_ms; false when the connection fails. */
bool lgt_raw_send(lgt_raw *c, const void *p, size_t n, long timeout_ms);

/* Reads until the peer closes the connection or timeout_ms passes: what came, as a new
 * string (may hold several responses); *closed tells whether the peer closed. */
char *lgt_raw_read_all(lgt_raw *c, long timeout_ms, bool *closed);

/* Closes c (no-op when closed). */
void lgt_raw_close(lgt_raw *c);

/* How often needle occurs in text. */
int lgt_count(const char *text, const char *needle);

/* Runs a tool found on PATH (openssl) within 30 s, its output appended to log; fails the test
 * unless it exits 0. */
void lgt_run_tool(char *const argv[], const char *log);

/* A `leaseguard serve` of a test: its port, pid and logs. */
typedef struct {
  pid_t pid;
  int port;
  char dir[LGT_PATH_LEN]; /* where its logs go */
  char out[LGT_PATH_LEN], err[LGT_PATH_LEN];
  char ca[LGT_PATH_LEN]; /* verifies its certificate */
} lgt_serve;

/* Starts serve on 127.0.0.1 (a free port) with cert and key, policy checks every 200 ms and
 * two threads, then the flags in extra (NULL-terminated, may be NULL; later flags win); logs
 * go to dir/serve-N.out and .err. Waits until /healthz answers on a connection verified with
 * ca. */
void lgt_serve_start(lgt_serve *s, const char *dir, const char *cert, const char *key,
                     const char *ca, const char *const extra[]);

/* SIGTERM, then asserts a clean exit 0 within timeout_ms (else SIGKILL and a failure);
 * no-op when not running. */
void lgt_serve_stop(lgt_serve *s, long timeout_ms);

#endif
