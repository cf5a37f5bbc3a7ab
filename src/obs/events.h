/* events.h -- Kubernetes Events (core/v1) for lease violations: a bounded queue, one worker
 * thread that posts them and aggregates repeats, as client-go's EventRecorder and
 * EventCorrelator do (simplified). */
#ifndef LG_EVENTS_H
#define LG_EVENTS_H

#include <stddef.h>

#include "decision.h"
#include "kube.h"
#include "metrics.h"
#include "rc.h"
#include "times.h"

typedef struct {
  const lg_kube_config *kube; /* borrowed for the call only (the worker's client copies it) */
  const char *component;      /* source.component and reportingComponent; NULL = "leaseguard" */
  const char *host;           /* source.host and reportingInstance (the pod name); NULL = "" */
  size_t queue_limit;         /* events accepted and not yet sent (queued or in flight); 0 = 1000 */
  lg_time window;             /* repeats idle for less than this are aggregated; 0 = 10 min */
  long call_timeout_ms;       /* each API call; 0 = 5000 */
  long drain_timeout_ms;      /* how long lg_events_stop lets the queue drain; 0 = 2000 */
  size_t cache_limit;         /* aggregation keys kept (least recently used dropped); 0 = 4096 */
} lg_events_config;

typedef struct lg_events lg_events;

/* Starts the worker with its own API client. m (may be NULL) is borrowed and must outlive
 * the recorder; it counts the outcomes posted, aggregated, dropped and failed. On failure
 * *out is NULL and err says why. */
lg_rc lg_events_start(const lg_events_config *cfg, lg_metrics *m, lg_events **out, char *err,
                      size_t errlen);

/* Queues one Warning "LeaseViolation" event per finding of d (borrowed; copied), stamped
 * with d->when; repeats of a finding (the same stable key) within the window are aggregated.
 * Skips dry-run requests, unusable input and objects that are not Leases. Never blocks on
 * the network: when the queue is full the event is dropped (and counted). Thread-safe; ev or
 * d NULL is a no-op. */
void lg_events_report(lg_events *ev, const lg_decision *d);

/* lg_events_report into ev (borrowed; may be NULL) as a sink. */
lg_sink lg_events_sink(lg_events *ev);

/* Stops accepting events, lets the worker drain the queue for at most drain_timeout_ms
 * (calls made meanwhile are cut to the time left; one already in flight may take its own
 * call_timeout_ms), counts what is left as dropped, joins and frees. NULL is a no-op. */
void lg_events_stop(lg_events *ev);

#endif
