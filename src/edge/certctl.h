/* certctl.h -- serve's in-process certificate controller (--cert-secret): keeps a CA and a
 * serving pair in a Secret, the caBundle of a ValidatingWebhookConfiguration in step with it,
 * rotates both with an overlap (certrot.c) and hands the current pair to the TLS store. One
 * thread per replica, polling; replicas agree through the Secret's resourceVersion. */
#ifndef LG_CERTCTL_H
#define LG_CERTCTL_H

#include <stddef.h>
#include <stdint.h>

#include "kubeconfig.h"
#include "metrics.h"
#include "rc.h"
#include "tls.h"

typedef struct {
  const lg_kube_config *kube; /* borrowed for the start only (the thread's client copies it) */
  const char *ns, *name;      /* the Secret */
  const char *webhook_configuration; /* the ValidatingWebhookConfiguration whose webhooks'
                                      * caBundle is kept */
  const char *const *dns_names;      /* of the serving certificate (>= 1) */
  size_t n_dns_names;
  int64_t validity;     /* seconds, of a new CA and serving certificate */
  int64_t renew_before; /* seconds before notAfter a rotation begins */
  int64_t overlap;      /* seconds both CAs are trusted before and after a switch */
  long sync_period_ms;  /* how often the Secret and the caBundle are checked */
  long call_timeout_ms; /* each API call; 0 = 5000 */
} lg_certctl_config;

typedef struct lg_certctl lg_certctl;

/* Starts the controller thread, which syncs at once and then every period (sooner after a
 * failure, backing off), installing each usable pair it finds into tls. cfg's strings and
 * names are borrowed and must outlive the controller; tls and m (may be NULL) too. On failure
 * *out is NULL and err says why. */
lg_rc lg_certctl_start(const lg_certctl_config *cfg, lg_tls *tls, lg_metrics *m, lg_certctl **out,
                       char *err, size_t errlen);

/* Asks for a sync now (SIGHUP). NULL is a no-op. */
void lg_certctl_kick(lg_certctl *c);

/* Stops the thread (an API call in flight ends within its timeout), joins and frees. NULL is a
 * no-op. */
void lg_certctl_stop(lg_certctl *c);

#endif
