/* conns.c -- the list of serve's open connections, with their request deadlines. */
#include "conns.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

struct lg_conn {
  const void *key;
  int fd;
  double since; /* when it opened, or was last touched */
  bool cut;     /* handed to lg_conns_expire's cut */
  struct lg_conn *prev, *next;
};

struct lg_conns {
  pthread_mutex_t lock; /* guards head and every node */
  lg_conn *head;
  atomic_uint count;    /* open connections, nodes or not */
};

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
  k->since = now;
  pthread_mutex_lock(&set->lock);
  k->next = set->head;
  if (set->head)
    set->head->prev = k;
  set->head = k;
  pthread_mutex_unlock(&set->lock);
}

/* The node of key, or NULL; lock held. */
static lg_conn *lookup(lg_conns *set, const void *key) {
  lg_conn *k = set->head;
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
  if (!k)
    return;
  pthread_mutex_lock(&set->lock);
  k->since = now;
  pthread_mutex_unlock(&set->lock);
}

unsigned lg_conns_count(lg_conns *set) { return atomic_load(&set->count); }

size_t lg_conns_expire(lg_conns *set, double now, double limit, void (*cut)(int fd, void *ud),
                       void *ud) {
  size_t n = 0;

  pthread_mutex_lock(&set->lock);
  for (lg_conn *k = set->head; k; k = k->next)
    if (!k->cut && now - k->since > limit) {
      cut(k->fd, ud);
      k->cut = true;
      n++;
    }
  pthread_mutex_unlock(&set->lock);
  return n;
}
