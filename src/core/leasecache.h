/* leasecache.h -- the current version of every lease, for the fence: what a lease watch
 * (committed versions) and the webhook's own admissions (writes not yet visible to the
 * watch) say. Bounded, thread-safe. */
#ifndef LG_LEASECACHE_H
#define LG_LEASECACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lease.h"

typedef struct lg_leasecache lg_leasecache;

/* A lease as the cache holds it (strings copied). */
typedef struct {
  char *holder; /* "" when not held */
  bool has_duration, has_renew, has_acquire;
  int64_t duration, transitions;
  lg_time renew, acquire;
  bool coordinated;
} lg_leasecache_entry;

/* A new cache of at most max leases (least recently updated dropped first); NULL on no
 * memory. An admitted write counts for pending_ttl microseconds before the watch confirms
 * it (it may still fail: a 409, another webhook). */
lg_leasecache *lg_leasecache_new(size_t max, int64_t pending_ttl);

/* Frees c; NULL is a no-op. */
void lg_leasecache_free(lg_leasecache *c);

/* A committed version (from a list, a watch event or a GET) at monotonic time mono. */
void lg_leasecache_put(lg_leasecache *c, const char *ns, const char *name, const lg_lease *l,
                       int64_t mono);

/* A version the webhook just admitted (not yet stored). It overrides the committed one
 * for pending_ttl when it is a later epoch, or the same epoch renewed. */
void lg_leasecache_admitted(lg_leasecache *c, const char *ns, const char *name, const lg_lease *l,
                            int64_t mono);

/* The lease was deleted (watch event, or an admitted DELETE). */
void lg_leasecache_delete(lg_leasecache *c, const char *ns, const char *name, int64_t mono);

/* Marks the cache as in step with the API (a list went through) or not (the watch is
 * broken): reported by lg_leasecache_synced, for readiness and metrics. */
void lg_leasecache_set_synced(lg_leasecache *c, bool synced, int64_t mono);

typedef enum { LG_LEASECACHE_MISS, LG_LEASECACHE_ABSENT, LG_LEASECACHE_FOUND } lg_leasecache_hit;

/* Looks ns/name up at mono. FOUND fills *out (free its strings with
 * lg_leasecache_entry_clear). ABSENT: seen deleted. MISS: not known (a lease created a
 * moment ago may not have reached the watch yet: ask the API).
 * *age (may be NULL) is how old the answer is (since the last sync or update). */
lg_leasecache_hit lg_leasecache_get(lg_leasecache *c, const char *ns, const char *name,
                                    int64_t mono, lg_leasecache_entry *out, int64_t *age);

/* A list begins: lg_leasecache_list_end then forgets, as deleted, every lease the list did
 * not put (deleted while the watch was away). */
void lg_leasecache_list_begin(lg_leasecache *c);
void lg_leasecache_list_end(lg_leasecache *c, int64_t mono);

/* Fills e from l (copies; false on no memory). */
bool lg_leasecache_entry_from(lg_leasecache_entry *e, const lg_lease *l);

/* Releases what an entry copied. */
void lg_leasecache_entry_clear(lg_leasecache_entry *e);

/* A Lease view of e (strings borrowed from e) for the rules' liveness. */
void lg_leasecache_as_lease(const lg_leasecache_entry *e, const char *ns, const char *name,
                            lg_lease *out);

/* Whether the last lg_leasecache_set_synced said in step, and since when (*since). */
bool lg_leasecache_synced(lg_leasecache *c, int64_t *since);

/* Entries in use. */
size_t lg_leasecache_size(lg_leasecache *c);

#endif
