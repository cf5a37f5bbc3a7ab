/* log.h -- JSON-line logs on stderr and audit lines on stdout; written at once, or (serve)
 * queued so that a stalled reader never blocks the caller (logq.h). */
#ifndef LG_LOG_H
#define LG_LOG_H

#include <stdbool.h>

#include "decision.h"
#include "rc.h"

typedef enum { LG_LOG_DEBUG, LG_LOG_INFO, LG_LOG_WARNING, LG_LOG_ERROR } lg_log_level;

/* Sets the lowest level written (default INFO). */
void lg_log_set_level(lg_log_level level);

/* Parses "debug", "info", "warning", "error"; returns -1 when unknown. */
int lg_log_parse_level(const char *s);

/* Writes {"time","level","msg",...} to stderr: a message plus key/value string pairs
 * ended by NULL, e.g. lg_log(LG_LOG_INFO, "listening", "port", "8443", NULL). Thread-safe. */
void lg_log(lg_log_level level, const char *msg, ...) __attribute__((sentinel));

/* As lg_log, with fields of any JSON type (numbers as numbers): fmt and what follows are
 * json_pack's for an object, e.g. lg_log_json(LG_LOG_WARNING, "lease write failed",
 * "{s:s, s:i}", "lock", "ns/name", "status", 409). Use "s?" for a string that may be NULL.
 * Thread-safe. */
void lg_log_json(lg_log_level level, const char *msg, const char *fmt, ...);

/* The audit line of finding i of d (new string, NULL on no memory): time (d->when), level,
 * msg, lease, operation, oldHolder, newHolder, oldRenewTime, oldExpiry, newRenewTime; then
 * for serve and check user, groups, pod, uid, dryRun, allowed, and for file and watch
 * resourceVersion, oldResourceVersion; then rule, mode, (serve, check) decision, message,
 * (file, watch) source. i == d->n for an ignored request: the "request ignored" line; NULL
 * when there is no line i. */
char *lg_log_audit_line(const lg_decision *d, size_t i);

/* Writes one audit line per finding of d to stdout (and, to stderr, one for a request ignored
 * because it is not a Lease); nothing for unusable input. Thread-safe. */
void lg_log_decision(const lg_decision *d);

/* lg_log_decision as a sink. */
lg_sink lg_log_sink(void);

/* From now on lines are queued, never blocking the caller (a full queue drops them); drops
 * are reported on stderr at most every report_ms (0 = 10 s). For servers. */
lg_rc lg_log_start_queue(long report_ms, char *err, size_t errlen);

/* Writes what is queued within flush_ms, gives up on the rest, and goes back to writing at
 * once; true when nothing was left behind. */
bool lg_log_stop_queue(long flush_ms);

#endif
