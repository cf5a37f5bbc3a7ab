/* clockcheck.c -- the webhook's own clock, judged by the writers' offsets (lg_witness). */
#include "clockcheck.h"

#include <stdio.h>

#include "log.h"

#define WINDOW (600 * LG_USEC_PER_SEC)
#define REPEAT (600 * LG_USEC_PER_SEC)

bool lg_clockcheck_tick(lg_clockcheck *c, lg_witness *w, lg_metrics *m, lg_time skew,
                        int64_t mono) {
  lg_witness_stats st;
  size_t n;
  lg_time median = lg_witness_median_offset(w, mono, WINDOW, &n);
  bool off = n >= LG_CLOCKCHECK_MIN_WRITERS && (median > skew || median < -skew);
  char med[32], writers[16], budget[32];

  lg_witness_get_stats(w, &st);
  lg_metrics_witness(m, st.leases, st.holders, st.evictions, (double)median / LG_USEC_PER_SEC, n);
  snprintf(med, sizeof med, "%+.3fs", (double)median / LG_USEC_PER_SEC);
  snprintf(writers, sizeof writers, "%zu", n);
  snprintf(budget, sizeof budget, "%llds", (long long)(skew / LG_USEC_PER_SEC));
  if (off && (!c->off || mono - c->logged >= REPEAT)) {
    lg_log(LG_LOG_WARNING,
           "the writers' clocks all disagree with this webhook's clock: check this node's time "
           "(NTP); renewTime stamps will look that far off",
           "medianWriterOffset", med, "writers", writers, "clockSkewSeconds", budget, NULL);
    c->logged = mono;
  } else if (!off && c->off) {
    lg_log(LG_LOG_INFO, "the writers' clocks agree with this webhook's clock again",
           "medianWriterOffset", med, "writers", writers, NULL);
  }
  c->off = off;
  return off;
}
