/* leasewatch.h -- list and watch the Leases of a cluster (or one namespace), as an informer
 * does: list page by page, watch from the list's resourceVersion, resume after a watch
 * ends, re-list after 410 Gone, back off (1 s doubling to 30 s) after failures. Used by
 * `audit --watch` and by `serve` (the witness and the fence's lease cache). */
#ifndef LG_LEASEWATCH_H
#define LG_LEASEWATCH_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "kube.h"

typedef enum {
  LG_LEASEWATCH_ADDED,
  LG_LEASEWATCH_MODIFIED,
  LG_LEASEWATCH_DELETED
} lg_leasewatch_event;

typedef struct {
  lg_kube *kube;         /* borrowed; used by the thread that runs the watch only */
  const char *namespace; /* NULL: every namespace */
  long timeout_s;        /* of one WATCH request */
  void *ud;
  /* A whole list (items borrowed): the first (baseline) and each re-list. */
  void (*on_list)(void *ud, json_t *items, bool baseline);
  /* One event (obj borrowed). */
  void (*on_event)(void *ud, lg_leasewatch_event type, json_t *obj);
  /* Whether the watch is in step with the API (may be NULL). */
  void (*on_synced)(void *ud, bool synced);
  /* Sleeps at most usec; true when the watch must stop. */
  bool (*wait)(void *ud, int64_t usec);
  /* True when the watch must stop (polled while a stream is open). */
  bool (*stopped)(void *ud);
} lg_leasewatch;

/* Runs until w->stopped or w->wait says stop. Logs (JSON lines) what goes wrong. */
void lg_leasewatch_run(const lg_leasewatch *w);

#endif
