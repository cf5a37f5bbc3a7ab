/* harness.h -- for cmocka tests that run servers: child processes, files, HTTPS calls with libcurl.
 * Every wait is bounded; failures are cmocka assertions. */
#ifndef LGT_HARNESS_H
#define LGT_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include <curl/curl.h>

#define LGT_PATH_LEN 512

void lgt_sleep_ms(long ms);

/* ms times LG_TEST_SLOW from the environment (a whole factor, default 1), for the servers
 * run under valgrind. The harness's own waits and curl timeouts are scaled with it. */
long lgt_slow(long ms);

/* Milliseconds since *t0 (CLOCK_MONOTONIC). */
long lgt_elapsed_ms(const struct timespec *t0);

/* buf (LGT_PATH_LEN bytes) = dir/name; asserts that it fits. */
void lgt_path(char *buf, const char *dir, const char *name);

/* Makes a new directory LG_TEST_TMPDIR/prefix-XXXXXX into buf (LGT_PATH_LEN bytes);
 * 0, or -1 on failure. */
int lgt_temp_dir(char *buf, const char *prefix);

/* Removes dir and everything in it. */
void lgt_rm_tree(const char *dir);

/* Writes text to path (asserts on failure). */
void lgt_write_file(const char *path, const char *text);

/* The contents of path as a new string, its length in *len (may be NULL); NULL when
 * path cannot be read. */
char *lgt_read_file(const char *path, size_t *len);

/* The contents of path as a new string ("" when missing). */
char *lgt_slurp(const char *path);

/* How often needle occurs in the file at path. */
int lgt_count_text(const char *path, const char *needle);

/* Waits at most timeout_ms until the file at path contains needle. */
bool lgt_wait_for_text(const char *path, const char *needle, long timeout_ms);

/* Waits at most timeout_ms until path holds a port number; the port, or 0. */
int lgt_wait_port_file(const char *path, long timeout_ms);

/* Runs argv[0] with stdout and stderr sent to the files out and err, truncated (out and err
 * the same path: one file; NULL: left as they are); returns the pid. When argv[0] is
 * LEASEGUARD_BIN and LG_TEST_WRAPPER is set (e.g. "valgrind --error-exitcode=99"), runs it
 * through the wrapper's words (split at spaces; the pid is the wrapper's). */
pid_t lgt_spawn(char *const argv[], const char *out, const char *err);

/* The wait status of pid within timeout_ms, or -1 (the child is then still running). */
int lgt_wait_exit(pid_t pid, long timeout_ms);

/* Sends sig to pid and returns its wait status within timeout_ms; -1 when pid <= 0, the signal
 * could not be sent or pid did not exit in time (it is then killed with SIGKILL and reaped). */
int lgt_stop(pid_t pid, int sig, long timeout_ms);

/* Runs `LEASEGUARD_BIN certs --out-dir=out_dir [extra]` (extra may be NULL), its stdout
 * discarded, within 30 s; 0 when it exits 0, else -1. */
int lgt_make_certs(const char *out_dir, const char *extra);

/* A temp dir holding ca.crt, tls.crt and tls.key (for 127.0.0.1 and localhost). */
typedef struct {
  char dir[LGT_PATH_LEN], ca[LGT_PATH_LEN], cert[LGT_PATH_LEN], key[LGT_PATH_LEN];
} lgt_tls;

/* Makes t as LG_TEST_TMPDIR/prefix-XXXXXX with lgt_make_certs, and initialises libcurl;
 * 0, or -1 on failure. For a cmocka group set-up. */
int lgt_tls_setup(lgt_tls *t, const char *prefix);

/* Cleans up libcurl and removes t->dir (kept when LG_KEEP_TMP is set in the environment). */
void lgt_tls_teardown(lgt_tls *t);

/* A loopback port that was free a moment ago. */
int lgt_free_port(void);

typedef struct {
  CURLcode rc;
  long status;
  char *body; /* new, NUL-terminated; free() it */
  size_t len;
  char warnings[4096]; /* the values of every Warning header, one per line */
  char allow[64];      /* the value of the Allow header */
} lgt_reply;

/* Clears out and has c collect the answer's body and headers into it. */
void lgt_collect(CURL *c, lgt_reply *out);

/* A curl handle for METHOD https://127.0.0.1:port/path, verified with the CA file ca,
 * with a bearer token (may be NULL) and a JSON body (may be NULL). *hdrs must be freed
 * with curl_slist_free_all after the transfer; out collects the answer. */
CURL *lgt_request(const char *ca, const char *method, int port, const char *token, const char *path,
                  const char *body, struct curl_slist **hdrs, lgt_reply *out);

/* Performs such a request at once (10 s limit). */
void lgt_http(const char *ca, const char *method, int port, const char *token, const char *path,
              const char *body, lgt_reply *out);

/* GETs url (http:// or https:// verified with the CA file ca) within timeout_ms. */
void lgt_get(const char *url, const char *ca, long timeout_ms, lgt_reply *out);

/* Waits at most timeout_ms until https://127.0.0.1:port/healthz answers 200, else fails the
 * test. If *pid (the server, named what) exits first: *pid = -1, and fails with the file err. */
void lgt_wait_healthy(const char *ca, int port, pid_t *pid, const char *err, const char *what,
                      long timeout_ms);

/* lg-test-apiserver to start: its serving cert and key, the CA that checks its /healthz. */
typedef struct {
  const char *cert, *key, *ca;
  const char *tokens;       /* --token-auth-file */
  const char *port_file;    /* --port-file (removed first) */
  int port;                 /* --secure-port (0: one it picks) */
  const char *const *extra; /* more flags after those, NULL-ended (may be NULL) */
  const char *out, *err;    /* its stdout and stderr, as lgt_spawn takes them */
} lgt_apiserver;

/* Spawns s's lg-test-apiserver into *pid and waits 10 s (scaled) for its port file and its
 * /healthz (failing the test otherwise); returns the port. */
int lgt_apiserver_start(const lgt_apiserver *s, pid_t *pid);

/* `leaseguard elect` to start against the API server on 127.0.0.1:api_port. */
typedef struct {
  int api_port;
  const char *token_file, *ca_file; /* --token-file, --certificate-authority */
  const char *ns, *lock, *identity; /* --lock-namespace, --lock-name, --identity */
  int lease_s, renew_s, retry_s;    /* the --leader-elect-* durations in seconds */
  bool release_on_cancel;           /* --release-on-cancel */
  int http_port;                    /* --http=127.0.0.1:http_port */
  const char *misbehave;            /* --misbehave=..., NULL: not passed */
  const char *log;                  /* its stdout and stderr */
  const char *const *run;           /* `--run -- run...` (NULL-ended), NULL: no --run */
} lgt_elect;

/* Spawns s's `leaseguard elect` (through LG_TEST_WRAPPER like lgt_spawn); its pid. */
pid_t lgt_elect_spawn(const lgt_elect *s);

/* 1 when the elector with --http on http_port reports leadership on /metrics, 0 when not,
 * -1 when it does not answer (2 s, scaled). */
int lgt_elect_leads(int http_port);

/* `leaseguard serve` to start on 127.0.0.1:port (chosen beforehand). */
typedef struct {
  int port;                    /* --secure-port */
  const char *cert, *key, *ca; /* serving cert and key; the CA that checks its /healthz */
  const char *const *flags;    /* more flags, NULL-ended (may be NULL) ... */
  const char *const *extra;    /* ... and then these (later flags win) */
  const char *out, *err;       /* its stdout and stderr, as lgt_spawn takes them */
  const char *err_log;         /* read for why it exited during start-up (NULL: err) */
} lgt_serve_opts;

/* Spawns s's `leaseguard serve` into *pid and waits 10 s (scaled) for its /healthz (failing
 * the test otherwise). */
void lgt_serve_launch(const lgt_serve_opts *s, pid_t *pid);

#endif
