/* conns.c -- the list of serve's open connections, with their request deadlines; an index by
 * key, so that a request finds its connection in constant time however many are open. */
#include "conns.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

struct lg_conn {
  const void *key;
  int fd;
  _Atomic double since; /* when it opened, or was last touched (touched without the lock) */
  bool cut;             /* handed to lg_conns_expire's cut */
  struct lg_conn *prev, *next;
  struct lg_conn *chain; /* the next node of its bucket */
};

struct lg_conns {
  pthread_mutex_t lock; /* guards head, the index and every node but since */
  lg_conn *head;
  lg_conn **buckets; /* the index by key: nbuckets (a power of two), or NULL */
  size_t nbuckets, nodes;
  atomic_uint count; /* open connections, nodes or not */
};

static size_t bucket_of(const lg_conns *set, const void *key) {
  /* Fibonacci hashing of the address: its low bits are alignment, its high bits alike. */
  return (size_t)(((uint64_t)(uintptr_t)key * UINT64_C(0x9E3779B97F4A7C15)) >> 32) &
         (set->nbuckets - 1);
}

/* Doubles the index (at least 64 buckets) once there are more nodes than buckets; without
 * memory it keeps the one it has, or none (lookups then walk the list). Lock held. */
static void grow_index(lg_conns *set) {
  size_t n = set->nbuckets ? set->nbuckets * 2 : 64;
  lg_conn **b;
  if (set->nodes <= set->nbuckets || !(b = calloc(n, sizeof *b)))
    return;
  free(set->buckets);
  set->buckets = b;
  set->nbuckets = n;
  for (lg_conn *k = set->head; k; k = k->next) {
    size_t i = bucket_of(set, k->key);
    k->chain = b[i];
    b[i] = k;
  }
}

lg_conns *lg_conns_new(void) {
  lg_conns *set = calloc(1, sizeof *set);
  if (set && pthread_mutex_init(&set->lock, NULL) != 0) {
    free(set);
    set = NULL;
  }
  return set;
}

void lg_conns_free(lg_conns *set) {
  if (!set)
    return;
  for (lg_conn *k = set->head, *next; k; k = next) {
    next = k->next;
    free(k);
  }
  free(set->buckets);
  pthread_mutex_destroy(&set->lock);
  free(set);
}

void lg_conns_add(lg_conns *set, const void *key, int fd, double now) {
  lg_conn *k = calloc(1, sizeof *k);

  atomic_fetch_add(&set->count, 1);
  if (!k)
    return;
  k->key = key;
  k->fd = fd;
  atomic_init(&k->since, now);
  pthread_mutex_lock(&set->lock);
  set->nodes++;
  grow_index(set); /* before k is linked: it goes into the index below */
  k->next = set->head;
  if (set->head)
    set->head->prev = k;
  set->head = k;
  if (set->buckets) {
    size_t i = bucket_of(set, key);
    k->chain = set->buckets[i];
    set->buckets[i] = k;
  }
  pthread_mutex_unlock(&set->lock);
}

/* The node of key, or NULL; lock held. */
static lg_conn *lookup(lg_conns *set, const void *key) {
  lg_conn *k = set->buckets ? set->buckets[bucket_of(set, key)] : set->head;
  if (set->buckets) {
    while (k && k->key != key)
      k = k->chain;
    return k;
  }
  while (k && k->key != key)
    k = k->next;
  return k;
}

void lg_conns_remove(lg_conns *set, const void *key) {
  lg_conn *k;

  pthread_mutex_lock(&set->lock);
  k = lookup(set, key);
  if (k) {
    if (k->prev)
      k->prev->next = k->next;
    else
      set->head = k->next;
    if (k->next)
      k->next->prev = k->prev;
    if (set->buckets) {
      lg_conn **p = &set->buckets[bucket_of(set, key)];
      while (*p != k)
        p = &(*p)->chain;
      *p = k->chain;
    }
    set->nodes--;
  }
  pthread_mutex_unlock(&set->lock);
  free(k);
  atomic_fetch_sub(&set->count, 1);
}

lg_conn *lg_conns_find(lg_conns *set, const void *key) {
  lg_conn *k;
  pthread_mutex_lock(&set->lock);
  k = lookup(set, key);
  pthread_mutex_unlock(&set->lock);
  return k;
}

void lg_conns_touch(lg_conns *set, lg_conn *k, double now) {
  (void)set;
  if (k) /* k lives until its connection is removed: no lock for one store */
    atomic_store_explicit(&k->since, now, memory_order_relaxed);
}

unsigned lg_conns_count(lg_conns *set) { return atomic_load(&set->count); }

size_t lg_conns_expire(lg_conns *set, double now, double limit, void (*cut)(int fd, void *ud),
                       void *ud) {
  size_t n = 0;

  pthread_mutex_lock(&set->lock);
  for (lg_conn *k = set->head; k; k = k->next)
    if (!k->cut && now - atomic_load_explicit(&k->since, memory_order_relaxed) > limit) {
      cut(k->fd, ud);
      k->cut = true;
      n++;
    }
  pthread_mutex_unlock(&set->lock);
  return n;
}
