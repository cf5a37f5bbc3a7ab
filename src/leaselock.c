/* leaselock.c -- GET, POST and PUT of one Lease through lg_kube, for the elector. */
#include "leaselock.h"

#include <stdio.h>
#include <string.h>

static long call(lg_leaselock *l, const char *method, const char *path, const json_t *body,
                 json_t **out, char *msg, size_t msglen) {
  lg_kube_result res;
  long status;
  if (out)
    *out = NULL;
  lg_kube_call(l->kube, method, path, body, l->timeout_ms, &res);
  status = res.status;
  memcpy(l->warnings, res.warnings, sizeof l->warnings);
  if (status >= 200 && status <= 299 && out) {
    *out = res.body;
    res.body = NULL;
  } else if (msg && msglen) {
    snprintf(msg, msglen, "%s %s: %s", method, path, res.message[0] ? res.message : "no answer");
  }
  lg_kube_result_free(&res);
  return status;
}

static long lock_get(void *ctx, json_t **out, char *msg, size_t msglen) {
  lg_leaselock *l = ctx;
  return call(l, "GET", l->item, NULL, out, msg, msglen);
}

static long lock_create(void *ctx, const json_t *lease, json_t **out, char *msg, size_t msglen) {
  lg_leaselock *l = ctx;
  return call(l, "POST", l->collection, lease, out, msg, msglen);
}

static long lock_update(void *ctx, const json_t *lease, json_t **out, char *msg, size_t msglen) {
  lg_leaselock *l = ctx;
  return call(l, "PUT", l->item, lease, out, msg, msglen);
}

lg_lease_api lg_leaselock_init(lg_leaselock *lock, lg_kube *kube, const char *ns,
                               const char *name, long timeout_ms) {
  lg_lease_api api = {lock_get, lock_create, lock_update, lock};
  lock->kube = kube;
  lock->timeout_ms = timeout_ms;
  lock->warnings[0] = '\0';
  /* Kubernetes names are at most 63 (namespace) and 253 (lease) characters: they fit. */
  if (snprintf(lock->collection, sizeof lock->collection,
               "/apis/coordination.k8s.io/v1/namespaces/%s/leases", ns) < 0 ||
      snprintf(lock->item, sizeof lock->item, "/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s",
               ns, name) < 0)
    lock->item[0] = lock->collection[0] = '\0';
  return api;
}

long lg_leaselock_delete(lg_leaselock *lock, char *msg, size_t msglen) {
  return call(lock, "DELETE", lock->item, NULL, NULL, msg, msglen);
}
