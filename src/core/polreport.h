/* polreport.h -- findings as wgpolicyk8s.io/v1alpha2 PolicyReports, where Kyverno and
 * Gatekeeper users already look (kubectl get policyreport, Policy Reporter): one report per
 * namespace, one result per lease and rule (the latest finding), bounded, kept until the
 * lease is gone or the result is older than a TTL. The state and the documents; no I/O. */
#ifndef LG_POLREPORT_H
#define LG_POLREPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "rules.h"
#include "times.h"

#define LG_POLREPORT_NAME "leaseguard-leases"

typedef struct lg_polreport lg_polreport;

/* A new state keeping at most max_results results per namespace (the oldest dropped first)
 * and each for at most ttl microseconds. NULL on no memory. */
lg_polreport *lg_polreport_new(size_t max_results, int64_t ttl);

/* Frees r; NULL is a no-op. */
void lg_polreport_free(lg_polreport *r);

/* One finding on lease ns/name (uid may be ""), found at time `when`; writer "" when the
 * writer is not known. */
void lg_polreport_add(lg_polreport *r, const char *ns, const char *name, const char *uid,
                      const lg_finding *f, const char *writer, lg_time when);

/* The lease ns/name is gone: its results go. */
void lg_polreport_lease_deleted(lg_polreport *r, const char *ns, const char *name);

/* Drops results older than the TTL at now. */
void lg_polreport_expire(lg_polreport *r, lg_time now);

/* The namespaces whose report changed since their last lg_polreport_written, as a new JSON
 * array of strings (NULL on no memory). */
json_t *lg_polreport_dirty(lg_polreport *r);

/* The PolicyReport of namespace ns as it should be now (new), or NULL when it has no result
 * (the report should be deleted). */
json_t *lg_polreport_document(lg_polreport *r, const char *ns);

/* Marks ns's report as written (or deleted). */
void lg_polreport_written(lg_polreport *r, const char *ns);

/* The severity and result a finding is reported with. */
const char *lg_polreport_severity(lg_rule rule);
const char *lg_polreport_result(lg_mode mode);

#endif
