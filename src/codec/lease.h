/* lease.h -- a coordination.k8s.io/v1 Lease as the rules see it, decoded from JSON. */
#ifndef LG_LEASE_H
#define LG_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "rc.h"
#include "times.h"

/* Field presence matters (node leases carry no acquireTime and no leaseTransitions),
 * so every optional spec field has a has_* flag. Strings are borrowed from the JSON
 * object the lease was decoded from and live as long as it does. */
typedef struct {
  const char *name;      /* metadata.name, "" when absent */
  const char *namespace; /* metadata.namespace, "" when absent */
  const char *holder;    /* spec.holderIdentity, NULL when absent or null */
  bool has_duration;
  int64_t duration; /* spec.leaseDurationSeconds */
  bool has_acquire;
  lg_time acquire; /* spec.acquireTime */
  bool has_renew;
  lg_time renew; /* spec.renewTime */
  bool has_transitions;
  int64_t transitions;          /* spec.leaseTransitions */
  const char *strategy;         /* spec.strategy (coordinated leader election), NULL when absent */
  const char *preferred_holder; /* spec.preferredHolder, NULL when absent */
  const json_t *spec;           /* borrowed; NULL when the object has no spec */
} lg_lease;

/* Decodes obj (borrowed) into *out. Wrong JSON types are errors (LG_ELEASE) with the
 * field named in err; absent and null fields are simply absent. */
lg_rc lg_lease_decode(const json_t *obj, lg_lease *out, char *err, size_t errlen);

/* True when the lease is held: holderIdentity is a non-empty string. */
bool lg_lease_held(const lg_lease *l);

/* The holder for messages: the identity, or "" when not held. */
const char *lg_lease_holder_or_empty(const lg_lease *l);

/* leaseTransitions, with absent counting as 0. */
int64_t lg_lease_transitions(const lg_lease *l);

/* True when both specs are equal (an update that changes only metadata). */
bool lg_lease_same_spec(const lg_lease *a, const lg_lease *b);

#endif
