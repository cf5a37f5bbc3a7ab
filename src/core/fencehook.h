/* fencehook.h -- one request to the fence (POST /fence): an AdmissionReview of any object
 * labelled leaseguard.io/fenced=true, judged by its fencing token against the lease it
 * names (lg_fence_decide). Shared by serve and tests; does no I/O but the lookup callback. */
#ifndef LG_FENCEHOOK_H
#define LG_FENCEHOOK_H

#include <stdbool.h>

#include "fence.h"
#include "leasecache.h"
#include "webhook.h"

/* Looks a lease up when the cache does not know it (a GET): FOUND, ABSENT or MISS (the API
 * could not say). */
typedef lg_leasecache_hit (*lg_fencehook_get)(void *ctx, const char *ns, const char *name,
                                              lg_leasecache_entry *out);

typedef struct {
  lg_leasecache *cache; /* may be NULL: every lookup goes to get */
  lg_fencehook_get get; /* may be NULL: a cache miss is unknown */
  void *get_ctx;
  bool unknown_allows; /* --fencing-unknown=allow */
} lg_fencehook_env;

/* Judges one request body. Fills *out as lg_webhook_handle does (the verdict has at most
 * one finding, of rule fencing; out->review.is_lease is false); returns out->rc. */
lg_rc lg_fencehook_handle(const char *body, size_t len, const lg_webhook_env *env,
                          const lg_fencehook_env *fenv, lg_webhook_result *out);

/* Tells the cache what an allowed, stored-to-be Lease write of /validate showed (res from
 * lg_webhook_handle): the fence then knows of a takeover before the watch does. */
void lg_fencehook_note_admitted(lg_leasecache *cache, const lg_webhook_result *res, int64_t mono);

#endif
