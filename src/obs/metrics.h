/* metrics.h -- Prometheus metrics of serve and audit --watch: counters, a latency
 * histogram and lease-health gauges, rendered in the text exposition format 0.0.4. */
#ifndef LG_METRICS_H
#define LG_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "decision.h"
#include "rules.h"
#include "times.h"

typedef struct lg_metrics lg_metrics;

/* A new registry; lease_label adds the lease name to violation series (cardinality!).
 * NULL on no memory. Every function below is thread-safe and accepts m == NULL. */
lg_metrics *lg_metrics_new(bool lease_label);

/* Frees m; NULL is a no-op. */
void lg_metrics_free(lg_metrics *m);

/* Counts one decision's violations (by rule, mode, namespace); for serve and check also the
 * admission request (by operation and decision: allowed, denied, error), its latency
 * (d->latency, seconds) and the writer's clock offset when measured. */
void lg_metrics_decision(lg_metrics *m, const lg_decision *d);

/* lg_metrics_decision into m (borrowed; may be NULL) as a sink. */
lg_sink lg_metrics_sink(lg_metrics *m);

/* Counts a violation found outside admission (audit --watch). */
void lg_metrics_violation(lg_metrics *m, lg_rule rule, lg_mode mode, const char *ns,
                          const char *name);

/* Counts a policy reload attempt. */
void lg_metrics_policy_reload(lg_metrics *m, bool ok);

/* Counts a reload attempt of a watched file: file is "policy", "tls-certificate" (the
 * certificate and key) or "client-ca"; other names are ignored. */
void lg_metrics_file_reload(lg_metrics *m, const char *file, bool ok);

/* Counts connection-level failures: reason is "tls-handshake", "max-connections",
 * "client-certificate" or "http"; other names are ignored. */
void lg_metrics_connection_errors(lg_metrics *m, const char *reason, uint64_t n);

/* Observes one writer's clock offset (its renewTime minus the webhook's clock, seconds). */
void lg_metrics_writer_offset(lg_metrics *m, double seconds);

/* What the lease memory holds (lg_witness) and the median offset of the writers measured
 * lately (n of them; no median gauge when n is 0). */
void lg_metrics_witness(lg_metrics *m, size_t leases, size_t holders, uint64_t evictions,
                        double median, size_t n);

/* Counts a PolicyReport write: "written", "deleted", "failed" or "no-crd". */
void lg_metrics_policy_report(lg_metrics *m, const char *outcome);

/* The certificate controller: a round ended (ok or not; its families are rendered from the
 * first one on); a write of the Secret (action: announce, create, drop, reissue, repair or
 * switch; result: success, conflict or failure; others ignored); a version of the Secret found
 * unusable; a patch of the caBundle. */
void lg_metrics_certctl_sync(lg_metrics *m, bool ok);
void lg_metrics_certctl_write(lg_metrics *m, const char *action, const char *result);
void lg_metrics_certctl_invalid(lg_metrics *m);
void lg_metrics_certctl_cabundle(lg_metrics *m, bool ok);

/* Sets the serving certificate's notAfter (Unix seconds). */
void lg_metrics_cert_expiry(lg_metrics *m, int64_t not_after);

/* Counts Kubernetes Events: posted (new or aggregated), dropped (queue full), failed. */
void lg_metrics_event(lg_metrics *m, const char *outcome);

/* Records the latest version of a lease seen by audit --watch: holder, transitions and
 * renewTime (has_renew false when absent); a change of holder counts a leader change. */
void lg_metrics_lease(lg_metrics *m, const char *ns, const char *name, const char *holder,
                      int64_t transitions, bool has_renew, lg_time renew);

/* Forgets a deleted lease. */
void lg_metrics_lease_deleted(lg_metrics *m, const char *ns, const char *name);

/* The exposition text at time now (for seconds-since-renewal gauges). New string (free()),
 * NULL on no memory. */
char *lg_metrics_render(lg_metrics *m, lg_time now);

#endif
