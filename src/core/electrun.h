/* electrun.h -- the loop around lg_elector that `elect` and `selftest` share: run each step
 * when it is due (with client-go's jitter), tell the owner what it saw, wait in between
 * the owner's way (signals, a stop flag), and stop when the owner says so. */
#ifndef LG_ELECTRUN_H
#define LG_ELECTRUN_H

#include <stdbool.h>
#include <stdint.h>

#include "elector.h"

typedef struct {
  lg_elector *e;
  void *ud;
  /* After each step, with its events (LG_ELECT_*). */
  void (*on_step)(void *ud, lg_elector *e, unsigned events);
  /* Waits until the monotonic time deadline (microseconds) or something the owner cares
   * about; returns true when the loop must stop. */
  bool (*wait_until)(void *ud, int64_t deadline);
  unsigned seed; /* of the jitter draws */
} lg_electrun;

/* Runs steps until wait_until says stop. */
void lg_electrun_loop(lg_electrun *r);

#endif
