/* leasefeed.h -- serve's view of every lease beyond the writes it admits: a lease watch in
 * its own thread feeding the witness (sightings, so that a replica that did not admit a
 * write still judges its term by observed time) and the fence's lease cache, plus a GET for
 * a lease the cache does not know. */
#ifndef LG_LEASEFEED_H
#define LG_LEASEFEED_H

#include <stdbool.h>

#include "kube.h"
#include "leasecache.h"
#include "rc.h"
#include "witness.h"

typedef struct lg_leasefeed lg_leasefeed;

typedef struct {
  const lg_kube_config *kube; /* copied into the feed's own clients */
  lg_witness *witness;        /* borrowed, may be NULL */
  lg_leasecache *cache;       /* borrowed, may be NULL */
  long watch_timeout_s;       /* of one WATCH request */
} lg_leasefeed_config;

/* Starts the watch thread. All or nothing: on failure *out is NULL and err says why. */
lg_rc lg_leasefeed_start(const lg_leasefeed_config *cfg, lg_leasefeed **out, char *err,
                         size_t errlen);

/* Stops the thread (within about a second) and frees f; NULL is a no-op. */
void lg_leasefeed_stop(lg_leasefeed *f);

/* An lg_fencehook_get: GET of lease ns/name (1 s at most), into the cache too. FOUND,
 * ABSENT (404) or MISS (the API did not say). Thread-safe. */
lg_leasecache_hit lg_leasefeed_get(void *feed, const char *ns, const char *name,
                                   lg_leasecache_entry *out);

#endif
