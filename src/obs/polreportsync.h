/* polreportsync.h -- writes the PolicyReports of lg_polreport through the API: update in
 * place with resourceVersion (a 409 re-reads and tries again), create when missing, delete
 * when empty; without the wgpolicyk8s.io CRD, says so once and keeps going. */
#ifndef LG_POLREPORTSYNC_H
#define LG_POLREPORTSYNC_H

#include <stdbool.h>

#include "kube.h"
#include "metrics.h"
#include "polreport.h"

/* Writes every report that changed. *no_crd (in/out) is set when the API has no
 * PolicyReport resource (logged once; the reports stay dirty and are tried again later) and
 * cleared once a write goes through.
 * Counts outcomes in m (written, deleted, failed, no-crd). */
void lg_polreport_sync(lg_polreport *r, lg_kube *k, lg_metrics *m, bool *no_crd);

#endif
