/* leaselock.c -- GET, POST and PUT of one Lease through lg_kube, for the elector. */
#include "leaselock.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "k8sname.h"
#include "times.h"

/* The lock's timeout, shortened to end by deadline (lg_time_mono microseconds); 0 when the
 * deadline has passed. */
static long budget_ms(const lg_leaselock *l, int64_t deadline) {
  int64_t left;
  if (deadline == INT64_MAX)
    return l->timeout_ms;
  left = (deadline - lg_time_mono()) / 1000;
  return left <= 0 ? 0 : left < l->timeout_ms ? (long)left : l->timeout_ms;
}

static long call(lg_leaselock *l, int64_t deadline, const char *method, const char *path,
                 const json_t *body, json_t **out, char *msg, size_t msglen) {
  long timeout_ms = budget_ms(l, deadline), status;
  lg_kube_result res;
  if (out)
    *out = NULL;
  if (timeout_ms <= 0) {
    if (msg && msglen)
      snprintf(msg, msglen, "%s %s: not sent: the renew deadline has passed", method, path);
    return 0;
  }
  lg_kube_call(l->kube, method, path, body, timeout_ms, &res);
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

static long lock_get(void *ctx, int64_t deadline, json_t **out, char *msg, size_t msglen) {
  lg_leaselock *l = ctx;
  return call(l, deadline, "GET", l->item, NULL, out, msg, msglen);
}

static long lock_create(void *ctx, int64_t deadline, const json_t *lease, json_t **out, char *msg,
                        size_t msglen) {
  lg_leaselock *l = ctx;
  return call(l, deadline, "POST", l->collection, lease, out, msg, msglen);
}

static long lock_update(void *ctx, int64_t deadline, const json_t *lease, json_t **out, char *msg,
                        size_t msglen) {
  lg_leaselock *l = ctx;
  return call(l, deadline, "PUT", l->item, lease, out, msg, msglen);
}

lg_lease_api lg_leaselock_init(lg_leaselock *lock, lg_kube *kube, const char *ns, const char *name,
                               long timeout_ms) {
  lg_lease_api api = {lock_get, lock_create, lock_update, lock};
  lock->kube = kube;
  lock->timeout_ms = timeout_ms;
  lock->warnings[0] = '\0';
  /* lg_elector_validate has checked the names (at most 63 and 253 bytes: they fit); they are
   * escaped all the same. A path that does not fit stays empty, which kube.c refuses. */
  if (!lg_k8sname_path(lock->collection, sizeof lock->collection,
                       "/apis/coordination.k8s.io/v1/namespaces", ns, "leases", NULL) ||
      !lg_k8sname_path(lock->item, sizeof lock->item, "/apis/coordination.k8s.io/v1/namespaces", ns,
                       "leases", name, NULL))
    lock->item[0] = lock->collection[0] = '\0';
  return api;
}

long lg_leaselock_delete(lg_leaselock *lock, char *msg, size_t msglen) {
  return call(lock, INT64_MAX, "DELETE", lock->item, NULL, NULL, msg, msglen);
}
