/* clockcheck.h -- is this webhook's own clock wrong? The writers' clock offsets measured by
 * the witness say so when they all agree: their median past the skew budget is logged
 * (once, then every 10 minutes while it lasts) and exported. */
#ifndef LG_CLOCKCHECK_H
#define LG_CLOCKCHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"
#include "times.h"
#include "witness.h"

/* At least this many writers measured in the window before the median says anything. */
#define LG_CLOCKCHECK_MIN_WRITERS 3

typedef struct {
  bool off;       /* the last check found the median past the budget */
  int64_t logged; /* when that was last logged (monotonic) */
} lg_clockcheck;

/* Checks at monotonic time mono with the skew budget (microseconds): updates the metrics,
 * logs a warning when the median offset of the writers measured in the last 10 minutes is
 * past it, and an info line when it comes back. Returns whether it is past. */
bool lg_clockcheck_tick(lg_clockcheck *c, lg_witness *w, lg_metrics *m, lg_time skew, int64_t mono);

#endif
