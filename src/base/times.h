/* times.h -- RFC 3339 times as Kubernetes writes them, held as Unix microseconds, and the
 * wall and monotonic clocks. */
#ifndef LG_TIMES_H
#define LG_TIMES_H

#include <stddef.h>
#include <stdint.h>

#include "rc.h"

/* Microseconds since the Unix epoch (UTC). */
typedef int64_t lg_time;

#define LG_USEC_PER_SEC INT64_C(1000000)

/* Room for "YYYY-MM-DDTHH:MM:SS.ffffffZ" with any int fields (so no truncation is possible). */
#define LG_TIME_BUFLEN 80

/* Parses any RFC 3339 date-time (fraction optional, of any length; Z or +hh:mm offset).
 * Digits past the sixth fractional one are truncated. Returns LG_ETIME on bad input. */
lg_rc lg_time_parse(const char *s, lg_time *out);

/* Writes t as a MicroTime: UTC with exactly 6 fractional digits. Returns buf. */
const char *lg_time_format(lg_time t, char buf[LG_TIME_BUFLEN]);

/* Writes t as RFC 3339 UTC without a fraction when it has none (for messages). Returns buf. */
const char *lg_time_format_short(lg_time t, char buf[LG_TIME_BUFLEN]);

/* The current wall-clock time. */
lg_time lg_time_now(void);

/* Microseconds on the monotonic clock (CLOCK_MONOTONIC): for timeouts and deadlines. */
int64_t lg_time_mono(void);

#endif
