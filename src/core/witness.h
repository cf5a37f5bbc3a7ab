/* witness.h -- what this webhook replica saw of lease writes, kept bounded in memory: when
 * (by its own monotonic clock) it first saw each lease's record, each holder's clock offset
 * and usual writer, and leases deleted while live. The rules judge expiry from it as
 * client-go does (by observed time), not from the writers' timestamps alone.
 *
 * Keys are 128-bit SipHash-2-4 digests of namespace/name, holder identities and usernames
 * under a random key per memory: fixed-size entries whatever a client writes, and no
 * collision a client can aim for. Both tables are least-recently-used caches of fixed
 * capacity. Thread-safe. */
#ifndef LG_WITNESS_H
#define LG_WITNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lease.h"
#include "rules.h"
#include "times.h"

typedef struct lg_witness lg_witness;

/* A new memory for at most max_leases leases and max_holders holder identities (each at
 * least 16). NULL on no memory (or when OpenSSL has no random bytes for its key). */
lg_witness *lg_witness_new(size_t max_leases, size_t max_holders);

/* Frees w; NULL is a no-op. */
void lg_witness_free(lg_witness *w);

/* Fills *out with what w knows about the old version of lease ns/name (old_l NULL on
 * CREATE; new_l NULL on DELETE) for a write by username at monotonic time mono
 * (microseconds). A NULL w gives empty evidence. */
void lg_witness_evidence(lg_witness *w, const char *ns, const char *name, const lg_lease *old_l,
                         const lg_lease *new_l, const char *username, int64_t mono,
                         lg_evidence *out);

/* One write to remember: call after the verdict, for every judged write. */
typedef struct {
  const char *namespace, *name;
  lg_operation op;
  const lg_lease *old_l, *new_l; /* NULL when absent */
  const char *username;          /* the requester ("" when unknown; audit --watch) */
  bool controller;               /* the requester is the coordinated-election controller */
  bool allowed;                  /* denied writes are never stored, so never remembered */
  const lg_verdict *verdict;     /* its old_live / old_expiry make tombstones on DELETE */
  lg_time wall;                  /* the webhook's wall clock at admission */
  int64_t mono;                  /* and its monotonic clock */
  int64_t slack;                 /* how late this sighting may be (0 at admission) */
} lg_witness_write;

/* Remembers what an allowed write shows: its record's first sighting, the holder's clock
 * offset (renewTime - wall, from the holder's own writes only) and writer, a tombstone for
 * a lease deleted while live. */
void lg_witness_record(lg_witness *w, const lg_witness_write *wr);

/* Remembers a committed version seen by a lease watch at (wall, mono), as a sighting that
 * may be late by slack: no earlier than its writer's clock says it was written (events
 * replayed after a reconnect arrive long after they happened). */
void lg_witness_sighted(lg_witness *w, const char *ns, const char *name, const lg_lease *l,
                        lg_time wall, int64_t mono, int64_t slack);

typedef struct {
  size_t leases, holders;         /* entries in use */
  size_t max_leases, max_holders; /* capacities */
  uint64_t evictions;             /* entries dropped to make room, since start */
} lg_witness_stats;

/* Copies the counters. */
void lg_witness_get_stats(lg_witness *w, lg_witness_stats *out);

/* The median clock offset (microseconds) of the holders measured within the last window
 * microseconds before mono, and how many there were (*n; the median is 0 when none).
 * When every writer seems off by the same amount, the webhook's clock is the broken one. */
lg_time lg_witness_median_offset(lg_witness *w, int64_t mono, int64_t window, size_t *n);

#endif
