/* leaselock.h -- the Lease lock over the Kubernetes API: lg_lease_api calls made with lg_kube. */
#ifndef LG_LEASELOCK_H
#define LG_LEASELOCK_H

#include "elector.h"
#include "kube.h"

typedef struct {
  lg_kube *kube;        /* borrowed */
  long timeout_ms;      /* per call: client-go uses RenewDeadline / 2 */
  char item[512];       /* /apis/coordination.k8s.io/v1/namespaces/NS/leases/NAME */
  char collection[512]; /* /apis/coordination.k8s.io/v1/namespaces/NS/leases */
  char warnings[1024];  /* Warning headers of the last call (webhooks in warn mode) */
} lg_leaselock;

/* Fills lock for namespace/name and returns the lg_lease_api that uses it. Its calls take
 * deadlines on the lg_time_mono clock: step the elector with that clock. */
lg_lease_api lg_leaselock_init(lg_leaselock *lock, lg_kube *kube, const char *ns, const char *name,
                               long timeout_ms);

/* Deletes the lease (for self-tests' scratch leases). Returns the HTTP status, 0 on none. */
long lg_leaselock_delete(lg_leaselock *lock, char *msg, size_t msglen);

#endif
