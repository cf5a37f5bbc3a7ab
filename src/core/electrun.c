/* electrun.c -- the elector's run loop: a step when due, the owner told, the owner's wait. */
#include "electrun.h"

#include <stdlib.h>

void lg_electrun_loop(lg_electrun *r) {
  int64_t next = lg_time_mono();
  for (;;) {
    int64_t now = lg_time_mono();
    if (now >= next) {
      unsigned ev = 0;
      /* client-go's jitter: a draw in [0, 1) per step */
      next = lg_elector_step(r->e, now, lg_time_now(),
                             (double)rand_r(&r->seed) / ((double)RAND_MAX + 1), &ev);
      if (r->on_step)
        r->on_step(r->ud, r->e, ev);
      continue;
    }
    if (r->wait_until(r->ud, next))
      return;
  }
}
