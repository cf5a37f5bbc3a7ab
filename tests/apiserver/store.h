/* store.h -- the object store: one global resourceVersion, compare-and-swap writes, watch history. */
#ifndef AS_STORE_H
#define AS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef enum {
  AS_KIND_LEASE,
  AS_KIND_EVENT,
  AS_KIND_SECRET,
  AS_KIND_CONFIGMAP,
  AS_KIND_POLICYREPORT,
  AS_KIND_VWC
} as_kind;

typedef struct as_store as_store;

/* A store keeping the last `history` changes for watches (at least 1). NULL on no memory. */
as_store *as_store_new(size_t history);

/* Frees s; NULL is a no-op. */
void as_store_free(as_store *s);

/* A new deep copy of the object and its resourceVersion, or NULL when absent. */
json_t *as_store_get(as_store *s, as_kind k, const char *ns, const char *name, uint64_t *rv);

typedef enum { AS_COMMIT_OK, AS_COMMIT_CHANGED, AS_COMMIT_NOMEM } as_commit;

/* Writes obj (borrowed; a copy is stored) or deletes (obj NULL) the object, provided
 * its stored resourceVersion is still expect_rv (0 = absent): else AS_COMMIT_CHANGED.
 * A write sets metadata.resourceVersion of obj to the next version, except when obj
 * equals what is stored: then nothing is written, as etcd3's store skips no-op
 * updates. *rv_out is the resulting version. Watchers are woken. */
as_commit as_store_commit(as_store *s, as_kind k, const char *ns, const char *name,
                          uint64_t expect_rv, json_t *obj, uint64_t *rv_out);

/* A new array of copies sorted by namespace then name (ns NULL = all), and the current
 * resourceVersion in *rv. NULL on no memory. */
json_t *as_store_list(as_store *s, as_kind k, const char *ns, uint64_t *rv);

typedef enum { AS_NEXT_EVENT, AS_NEXT_NONE, AS_NEXT_GONE, AS_NEXT_STOPPED } as_next;

/* The first change of kind k in ns (NULL = all) after *after, waiting at most wait_ms.
 * On AS_NEXT_EVENT *event is a new {"type","object"} and *after moves to its version.
 * AS_NEXT_GONE: changes after *after were dropped from the history; *after is set to
 * the newest version dropped. AS_NEXT_STOPPED: the store is shutting down. */
as_next as_store_next(as_store *s, as_kind k, const char *ns, uint64_t *after, long wait_ms,
                      json_t **event);

/* Wakes every watcher for good: as_store_next returns AS_NEXT_STOPPED from now on. */
void as_store_stop(as_store *s);

#endif
