/* witness.c -- bounded, thread-safe memory of the lease writes this replica saw: record
 * sightings, holder clock offsets and writers, tombstones. Two LRU tables of fixed size. */
#include "witness.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "siphash.h"

/* A digest of a string: SipHash-2-4-128 under the memory's random key. */
typedef struct {
  uint64_t a, b;
} digest;

static digest digest_of(const lg_siphash_key *key, const char *kind, const char *s1,
                        const char *s2) {
  lg_siphash h;
  uint64_t d[2];
  lg_siphash_init(&h, key);
  /* The kind and the NUL after each part keep "ns/a" + "b" apart from "ns" + "a/b". */
  lg_siphash_update(&h, kind, strlen(kind) + 1);
  lg_siphash_update(&h, s1 ? s1 : "", strlen(s1 ? s1 : "") + 1);
  if (s2)
    lg_siphash_update(&h, s2, strlen(s2) + 1);
  lg_siphash_final(&h, d);
  return (digest){d[0], d[1]};
}

static bool same_digest(digest x, digest y) { return x.a == y.a && x.b == y.b; }

/* Sightings kept per lease: a write admitted here may still fail (409) and never be stored,
 * so the stored record is one of the last few seen, not always the last. */
#define SIGHTINGS 4
#define NONE      UINT32_MAX

typedef struct {
  bool used;
  digest holder;
  bool has_renew;
  lg_time renew;
  bool has_acquire;
  lg_time acquire;
  int64_t transitions;
  int64_t mono;  /* first seen */
  int64_t slack; /* how late that may have been */
  bool by_controller;
} sighting;

typedef struct {
  sighting seen[SIGHTINGS];
  unsigned next;
  bool tomb;
  digest tomb_holder;
  int64_t tomb_until; /* monotonic */
} lease_val;

typedef struct {
  bool has_offset;
  lg_time offset;
  int64_t offset_mono; /* when measured */
  bool has_writer;
  digest writer;
} holder_val;

/* One LRU table: entries in an array, hash chains and the LRU list by index. */
typedef struct {
  size_t cap, used, nbuckets;
  uint32_t *buckets;    /* head index per bucket, NONE when empty */
  uint32_t *chain;      /* next index in the bucket */
  uint32_t *prev, *nxt; /* LRU list, most recent at head */
  digest *keys;
  void *vals;
  size_t val_size;
  uint32_t head, tail, free_head;
  uint64_t evictions;
} table;

static int table_init(table *t, size_t cap, size_t val_size) {
  memset(t, 0, sizeof *t);
  t->cap = cap;
  t->val_size = val_size;
  for (t->nbuckets = 16; t->nbuckets < cap * 2; t->nbuckets *= 2)
    ;
  t->buckets = malloc(t->nbuckets * sizeof *t->buckets);
  t->chain = malloc(cap * sizeof *t->chain);
  t->prev = malloc(cap * sizeof *t->prev);
  t->nxt = malloc(cap * sizeof *t->nxt);
  t->keys = calloc(cap, sizeof *t->keys);
  t->vals = calloc(cap, val_size);
  if (!t->buckets || !t->chain || !t->prev || !t->nxt || !t->keys || !t->vals)
    return -1;
  for (size_t i = 0; i < t->nbuckets; i++)
    t->buckets[i] = NONE;
  for (size_t i = 0; i < cap; i++)
    t->nxt[i] = i + 1 < cap ? (uint32_t)(i + 1) : NONE; /* the free list */
  t->free_head = 0;
  t->head = t->tail = NONE;
  return 0;
}

static void table_free(table *t) {
  free(t->buckets);
  free(t->chain);
  free(t->prev);
  free(t->nxt);
  free(t->keys);
  free(t->vals);
}

static void *val_at(table *t, uint32_t i) { return (char *)t->vals + (size_t)i * t->val_size; }

static size_t bucket_of(const table *t, digest k) { return (size_t)(k.a & (t->nbuckets - 1)); }

static void lru_unlink(table *t, uint32_t i) {
  if (t->prev[i] != NONE)
    t->nxt[t->prev[i]] = t->nxt[i];
  else
    t->head = t->nxt[i];
  if (t->nxt[i] != NONE)
    t->prev[t->nxt[i]] = t->prev[i];
  else
    t->tail = t->prev[i];
}

static void lru_push(table *t, uint32_t i) {
  t->prev[i] = NONE;
  t->nxt[i] = t->head;
  if (t->head != NONE)
    t->prev[t->head] = i;
  t->head = i;
  if (t->tail == NONE)
    t->tail = i;
}

static uint32_t find(table *t, digest k) {
  for (uint32_t i = t->buckets[bucket_of(t, k)]; i != NONE; i = t->chain[i])
    if (same_digest(t->keys[i], k))
      return i;
  return NONE;
}

static void unchain(table *t, uint32_t i) {
  uint32_t *p = &t->buckets[bucket_of(t, t->keys[i])];
  while (*p != i)
    p = &t->chain[*p];
  *p = t->chain[i];
}

static void drop(table *t, uint32_t i) {
  unchain(t, i);
  lru_unlink(t, i);
  t->nxt[i] = t->free_head;
  t->free_head = i;
  t->used--;
}

/* The entry of k, made (zeroed) when missing, evicting the least recently used when full;
 * it becomes the most recently used. */
static void *upsert(table *t, digest k) {
  uint32_t i = find(t, k);
  if (i != NONE) {
    lru_unlink(t, i);
    lru_push(t, i);
    return val_at(t, i);
  }
  if (t->free_head == NONE) {
    drop(t, t->tail);
    t->evictions++;
  }
  i = t->free_head;
  t->free_head = t->nxt[i];
  t->keys[i] = k;
  memset(val_at(t, i), 0, t->val_size);
  t->chain[i] = t->buckets[bucket_of(t, k)];
  t->buckets[bucket_of(t, k)] = i;
  lru_push(t, i);
  t->used++;
  return val_at(t, i);
}

static void drop_key(table *t, digest k) {
  uint32_t i = find(t, k);
  if (i != NONE)
    drop(t, i);
}

static void *lookup(table *t, digest k) {
  uint32_t i = find(t, k);
  return i == NONE ? NULL : val_at(t, i);
}

struct lg_witness {
  pthread_mutex_t mu;
  lg_siphash_key key; /* random: no client can aim two strings at one entry */
  table leases, holders;
};

lg_witness *lg_witness_new(size_t max_leases, size_t max_holders) {
  lg_witness *w = calloc(1, sizeof *w);
  if (!w)
    return NULL;
  if (max_leases < 16)
    max_leases = 16;
  if (max_holders < 16)
    max_holders = 16;
  if (!lg_siphash_key_random(&w->key) || max_leases > UINT32_MAX - 1 ||
      max_holders > UINT32_MAX - 1 || table_init(&w->leases, max_leases, sizeof(lease_val)) ||
      table_init(&w->holders, max_holders, sizeof(holder_val))) {
    table_free(&w->leases);
    table_free(&w->holders);
    free(w);
    return NULL;
  }
  pthread_mutex_init(&w->mu, NULL);
  return w;
}

void lg_witness_free(lg_witness *w) {
  if (!w)
    return;
  pthread_mutex_destroy(&w->mu);
  table_free(&w->leases);
  table_free(&w->holders);
  free(w);
}

static digest lease_key(const lg_witness *w, const char *ns, const char *name) {
  return digest_of(&w->key, "lease", ns, name);
}
static digest holder_key(const lg_witness *w, const char *holder) {
  return digest_of(&w->key, "holder", holder, NULL);
}
static digest user_key(const lg_witness *w, const char *user) {
  return digest_of(&w->key, "user", user, NULL);
}

/* The latest sighting of l's term: the same holder, acquireTime and leaseTransitions. */
static const sighting *latest_of_term(const lease_val *lv, digest holder, const lg_lease *l) {
  const sighting *best = NULL;
  for (int i = 0; i < SIGHTINGS; i++) {
    const sighting *s = &lv->seen[i];
    if (s->used && same_digest(s->holder, holder) && s->has_acquire == l->has_acquire &&
        (!l->has_acquire || s->acquire == l->acquire) &&
        s->transitions == lg_lease_transitions(l) && (!best || s->mono > best->mono))
      best = s;
  }
  return best;
}

static const sighting *find_sighting(const lease_val *lv, digest holder, const lg_lease *l) {
  for (int i = 0; i < SIGHTINGS; i++) {
    const sighting *s = &lv->seen[i];
    if (s->used && same_digest(s->holder, holder) && s->has_renew == l->has_renew &&
        (!l->has_renew || s->renew == l->renew))
      return s;
  }
  return NULL;
}

void lg_witness_evidence(lg_witness *w, const char *ns, const char *name, const lg_lease *old_l,
                         const lg_lease *new_l, const char *username, int64_t mono,
                         lg_evidence *out) {
  digest lk, hk = {0, 0};
  const lease_val *lv;
  const holder_val *hv;
  bool held = lg_lease_held(old_l);

  memset(out, 0, sizeof *out);
  if (!w)
    return;
  lk = lease_key(w, ns, name);
  if (held)
    hk = holder_key(w, old_l->holder);
  pthread_mutex_lock(&w->mu);
  lv = lookup(&w->leases, lk);
  if (lv && held) {
    const sighting *s = find_sighting(lv, hk, old_l);
    if (s) {
      out->seen = true;
      out->seen_age = mono - s->mono;
      out->seen_slack = s->slack;
      out->seen_by_controller = s->by_controller;
    }
    if ((s = latest_of_term(lv, hk, old_l))) {
      out->term_seen = true;
      out->term_seen_age = mono - s->mono;
      out->term_seen_slack = s->slack;
    }
  }
  if (lv && !old_l && lv->tomb && lv->tomb_until > mono) {
    out->tombstone = true;
    out->tombstone_left = lv->tomb_until - mono;
    out->tombstone_same_holder =
        lg_lease_held(new_l) && same_digest(lv->tomb_holder, holder_key(w, new_l->holder));
  }
  hv = held ? lookup(&w->holders, hk) : NULL;
  if (hv) {
    out->has_offset = hv->has_offset;
    out->offset = hv->offset;
    if (hv->has_writer)
      out->writer =
          same_digest(hv->writer, user_key(w, username)) ? LG_WRITER_SAME : LG_WRITER_OTHER;
  }
  pthread_mutex_unlock(&w->mu);
}

/* Latency only ever makes a measured offset smaller than the true one, so within this band
 * the larger value is kept; a larger drop is a clock stepping back and replaces it. */
#define OFFSET_JITTER (LG_USEC_PER_SEC)

static void record_holder(lg_witness *w, const lg_witness_write *wr) {
  const lg_lease *n = wr->new_l;
  holder_val *hv;
  lg_time off;
  if (!lg_lease_held(n) || wr->controller)
    return;
  /* Only a write that stamps renewTime anew is the holder's own (a renewal, an acquire): it
   * measures the writer's clock and says who writes for the holder. A metadata update, by
   * anyone, rewrites the old stamp and says neither. */
  if (!n->has_renew || (wr->old_l && wr->old_l->has_renew && wr->old_l->renew == n->renew))
    return;
  hv = upsert(&w->holders, holder_key(w, n->holder));
  off = n->renew - wr->wall;
  if (!hv->has_offset || off > hv->offset || off < hv->offset - OFFSET_JITTER ||
      wr->mono - hv->offset_mono > 600 * LG_USEC_PER_SEC)
    hv->offset = off;
  hv->has_offset = true;
  hv->offset_mono = wr->mono;
  if (wr->username && wr->username[0]) {
    hv->has_writer = true;
    hv->writer = user_key(w, wr->username);
  }
}

static void record_sighting(const lg_witness *w, lease_val *lv, const lg_witness_write *wr) {
  const lg_lease *n = wr->new_l;
  digest hk = holder_key(w, n->holder);
  sighting *s;
  if (find_sighting(lv, hk, n))
    return; /* the same record again: client-go keeps the time it first saw it */
  s = &lv->seen[lv->next];
  lv->next = (lv->next + 1) % SIGHTINGS;
  *s = (sighting){.used = true,
                  .holder = hk,
                  .has_renew = n->has_renew,
                  .renew = n->renew,
                  .has_acquire = n->has_acquire,
                  .acquire = n->acquire,
                  .transitions = lg_lease_transitions(n),
                  .mono = wr->mono,
                  .slack = wr->slack,
                  .by_controller = wr->controller};
}

void lg_witness_record(lg_witness *w, const lg_witness_write *wr) {
  lease_val *lv;
  digest lk;
  if (!w || !wr->allowed)
    return;
  lk = lease_key(w, wr->namespace, wr->name);
  pthread_mutex_lock(&w->mu);
  switch (wr->op) {
  case LG_OP_CREATE:
  case LG_OP_UPDATE:
    if (!wr->new_l)
      break;
    lv = upsert(&w->leases, lk);
    lv->tomb = false;
    if (lg_lease_held(wr->new_l))
      record_sighting(w, lv, wr);
    record_holder(w, wr);
    break;
  case LG_OP_DELETE:
    lv = lookup(&w->leases, lk);
    if (wr->verdict && wr->verdict->old_live && wr->old_l && lg_lease_held(wr->old_l)) {
      /* Deleted while live: a CREATE by another holder before the term ends is a steal
       * in two writes. */
      lv = upsert(&w->leases, lk);
      memset(lv->seen, 0, sizeof lv->seen);
      lv->tomb = true;
      lv->tomb_holder = holder_key(w, wr->old_l->holder);
      lv->tomb_until = wr->mono + (wr->verdict->old_expiry - wr->wall);
    } else if (lv) {
      drop_key(&w->leases, lk);
    }
    break;
  case LG_OP_CONNECT:
    break;
  }
  pthread_mutex_unlock(&w->mu);
}

#define REPLAY_GAP (10 * LG_USEC_PER_SEC)

void lg_witness_sighted(lg_witness *w, const char *ns, const char *name, const lg_lease *l,
                        lg_time wall, int64_t mono, int64_t slack) {
  const holder_val *hv;
  lease_val *lv;
  int64_t seen = mono;
  if (!w || !lg_lease_held(l))
    return;
  pthread_mutex_lock(&w->mu);
  hv = lookup(&w->holders, holder_key(w, l->holder));
  /* With the holder's offset known, its stamp says when it wrote; without, only a stamp far
   * behind our clock is taken for a replay (a slow clock must not age live records). */
  if (l->has_renew) {
    bool known = hv && hv->has_offset;
    lg_time written = l->renew - (known ? hv->offset : 0);
    if (written < wall && (known || wall - written > REPLAY_GAP))
      seen = mono - (wall - written);
  }
  lv = upsert(&w->leases, lease_key(w, ns, name));
  lv->tomb = false;
  record_sighting(
      w, lv,
      &(lg_witness_write){.namespace = ns, .name = name, .new_l = l, .mono = seen, .slack = slack});
  pthread_mutex_unlock(&w->mu);
}

void lg_witness_get_stats(lg_witness *w, lg_witness_stats *out) {
  memset(out, 0, sizeof *out);
  if (!w)
    return;
  pthread_mutex_lock(&w->mu);
  out->leases = w->leases.used;
  out->holders = w->holders.used;
  out->max_leases = w->leases.cap;
  out->max_holders = w->holders.cap;
  out->evictions = w->leases.evictions + w->holders.evictions;
  pthread_mutex_unlock(&w->mu);
}

static int cmp_time(const void *a, const void *b) {
  lg_time x = *(const lg_time *)a, y = *(const lg_time *)b;
  return x < y ? -1 : x > y;
}

lg_time lg_witness_median_offset(lg_witness *w, int64_t mono, int64_t window, size_t *n) {
  lg_time *v, median = 0;
  size_t k = 0;
  *n = 0;
  if (!w)
    return 0;
  pthread_mutex_lock(&w->mu);
  v = malloc((w->holders.used + 1) * sizeof *v);
  if (v)
    for (uint32_t i = w->holders.head; i != NONE; i = w->holders.nxt[i]) {
      const holder_val *hv = val_at(&w->holders, i);
      if (hv->has_offset && mono - hv->offset_mono <= window)
        v[k++] = hv->offset;
    }
  pthread_mutex_unlock(&w->mu);
  if (k) {
    qsort(v, k, sizeof *v, cmp_time);
    median = k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
  }
  free(v);
  *n = k;
  return median;
}
