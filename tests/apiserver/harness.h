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

/* Milliseconds since *t0 (CLOCK_MONOTONIC). */
long lgt_elapsed_ms(const struct timespec *t0);

/* Writes text to path (asserts on failure). */
void lgt_write_file(const char *path, const char *text);

/* The contents of path as a new string ("" when missing). */
char *lgt_slurp(const char *path);

/* How often needle occurs in the file at path. */
int lgt_count_text(const char *path, const char *needle);

/* Waits at most timeout_ms until the file at path contains needle. */
bool lgt_wait_for_text(const char *path, const char *needle, long timeout_ms);

/* Removes dir and everything in it. */
void lgt_rm_tree(const char *dir);

/* Runs argv[0] with stdout and stderr sent to the files out and err; returns the pid. */
pid_t lgt_spawn(char *const argv[], const char *out, const char *err);

/* The wait status of pid within timeout_ms, or -1 (the child is then still running). */
int lgt_wait_exit(pid_t pid, long timeout_ms);

/* A loopback port that was free a moment ago. */
int lgt_free_port(void);

typedef struct {
  CURLcode rc;
  long status;
  char *body;          /* new, NUL-terminated; free() it */
  size_t len;
  char warnings[4096]; /* the values of every Warning header, one per line */
} lgt_reply;

/* A curl handle for METHOD https://127.0.0.1:port/path, verified with the CA file ca,
 * with a bearer token (may be NULL) and a JSON body (may be NULL). *hdrs must be freed
 * with curl_slist_free_all after the transfer; out collects the answer. */
CURL *lgt_request(const char *ca, const char *method, int port, const char *token,
                  const char *path, const char *body, struct curl_slist **hdrs, lgt_reply *out);

/* Performs such a request at once (10 s limit). */
void lgt_http(const char *ca, const char *method, int port, const char *token, const char *path,
              const char *body, lgt_reply *out);

#endif
