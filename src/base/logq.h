/* logq.h -- where log lines go: written at once to stdout or stderr (short-lived commands),
 * or, once started (serve), through a bounded queue per stream that a writer thread of its
 * own drains, so that a slow, stalled or vanished reader never blocks the caller: a line
 * that does not fit is dropped and counted. Process-wide; every function is thread-safe. */
#ifndef LG_LOGQ_H
#define LG_LOGQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc.h"
#include "times.h"

typedef enum { LG_LOGQ_STDOUT, LG_LOGQ_STDERR, LG_LOGQ_STREAMS } lg_logq_stream;

/* Told, on stderr's writer thread, that a stream dropped `dropped` lines since `since`
 * (wall clock), or that it broke (its reader went away: every later line is dropped). */
typedef void (*lg_logq_report_fn)(lg_logq_stream s, uint64_t dropped, lg_time since, bool broken);

typedef struct {
  size_t capacity;          /* bytes queued per stream; 0 = 1 MiB (a longer line is dropped) */
  long report_ms;           /* drops are reported at most this often; 0 = 10000 */
  lg_logq_report_fn report; /* may be NULL */
} lg_logq_config;

/* "stdout" or "stderr". */
const char *lg_logq_stream_name(lg_logq_stream s);

/* Flushes stdio's buffers and from now on queues lines; starts the two writer threads.
 * A stream marked broken is tried afresh. */
lg_rc lg_logq_start(const lg_logq_config *cfg, char *err, size_t errlen);

/* Lets the writers flush for at most flush_ms, then gives up on what is left (counted as
 * dropped; a stream that could not be flushed takes no more lines), joins them and goes back
 * to writing at once. Returns true when everything was written. No-op when not started. */
bool lg_logq_stop(long flush_ms);

/* Queues (or writes) len bytes of line and a newline, whole or not at all. Never blocks once
 * started; false when the line was dropped (queue full, stream broken; line NULL: a line that
 * could not be made). */
bool lg_logq_write(lg_logq_stream s, const char *line, size_t len);

/* Lines dropped on s since the process started. */
uint64_t lg_logq_dropped(lg_logq_stream s);

/* True once a write to s failed (EPIPE: its reader is gone) or s was given up at stop. */
bool lg_logq_broken(lg_logq_stream s);

#endif
