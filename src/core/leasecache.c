/* leasecache.c -- the current version of each lease for the fence: committed versions from
 * a watch, admitted ones for a short while; an LRU hash table under one mutex. */
#include "leasecache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX     320  /* namespace (63) + '/' + name (253) */
#define HOLDER_KEEP 1025 /* longer holders are kept cut (no token can name them) */

typedef struct node {
  char key[KEY_MAX];
  bool has_committed, deleted, has_pending;
  lg_leasecache_entry committed, pending;
  int64_t committed_mono, pending_mono, updated;
  uint64_t list_gen;                /* the list (or later event) that last put it */
  struct node *chain, *prev, *next; /* bucket chain; LRU list (head = most recent) */
} node;

struct lg_leasecache {
  pthread_mutex_t mu;
  node **buckets;
  size_t nbuckets, used, max;
  node *head, *tail;
  int64_t pending_ttl;
  bool synced;
  int64_t synced_mono;
  uint64_t gen; /* of the list under way */
};

static size_t hash(const char *s) {
  size_t h = 1469598103934665603ULL;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

lg_leasecache *lg_leasecache_new(size_t max, int64_t pending_ttl) {
  lg_leasecache *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->max = max < 16 ? 16 : max;
  for (c->nbuckets = 16; c->nbuckets < c->max * 2; c->nbuckets *= 2)
    ;
  c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
  if (!c->buckets) {
    free(c);
    return NULL;
  }
  c->pending_ttl = pending_ttl;
  pthread_mutex_init(&c->mu, NULL);
  return c;
}

void lg_leasecache_entry_clear(lg_leasecache_entry *e) {
  if (!e)
    return;
  free(e->holder);
  memset(e, 0, sizeof *e);
}

static void unlink_lru(lg_leasecache *c, node *n) {
  if (n->prev)
    n->prev->next = n->next;
  else
    c->head = n->next;
  if (n->next)
    n->next->prev = n->prev;
  else
    c->tail = n->prev;
  n->prev = n->next = NULL;
}

static void push_lru(lg_leasecache *c, node *n) {
  n->next = c->head;
  if (c->head)
    c->head->prev = n;
  c->head = n;
  if (!c->tail)
    c->tail = n;
}

static void free_node(node *n) {
  lg_leasecache_entry_clear(&n->committed);
  lg_leasecache_entry_clear(&n->pending);
  free(n);
}

static void drop(lg_leasecache *c, node *n) {
  node **p = &c->buckets[hash(n->key) & (c->nbuckets - 1)];
  while (*p != n)
    p = &(*p)->chain;
  *p = n->chain;
  unlink_lru(c, n);
  free_node(n);
  c->used--;
}

void lg_leasecache_free(lg_leasecache *c) {
  if (!c)
    return;
  while (c->head)
    drop(c, c->head);
  free(c->buckets);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

static bool make_key(char *key, const char *ns, const char *name) {
  size_t a = strlen(ns ? ns : ""), b = strlen(name ? name : "");
  if (a + b + 2 > KEY_MAX)
    return false;
  memcpy(key, ns ? ns : "", a);
  key[a] = '/';
  memcpy(key + a + 1, name ? name : "", b + 1);
  return true;
}

static node *find(lg_leasecache *c, const char *key) {
  for (node *n = c->buckets[hash(key) & (c->nbuckets - 1)]; n; n = n->chain)
    if (strcmp(n->key, key) == 0)
      return n;
  return NULL;
}

/* The node of key, made when missing (evicting the least recently updated), made the most
 * recent. NULL on no memory. */
static node *upsert(lg_leasecache *c, const char *key, int64_t mono) {
  node *n = find(c, key);
  if (!n) {
    if (c->used >= c->max)
      drop(c, c->tail);
    if (!(n = calloc(1, sizeof *n)))
      return NULL;
    strcpy(n->key, key);
    n->chain = c->buckets[hash(key) & (c->nbuckets - 1)];
    c->buckets[hash(key) & (c->nbuckets - 1)] = n;
    c->used++;
  } else {
    unlink_lru(c, n);
  }
  push_lru(c, n);
  n->updated = mono;
  return n;
}

bool lg_leasecache_entry_from(lg_leasecache_entry *e, const lg_lease *l) {
  const char *h = lg_lease_holder_or_empty(l);
  size_t n = strlen(h);
  lg_leasecache_entry_clear(e);
  if (n >= HOLDER_KEEP)
    n = HOLDER_KEEP;
  if (!(e->holder = malloc(n + 1)))
    return false;
  memcpy(e->holder, h, n);
  e->holder[n] = '\0';
  e->has_duration = l->has_duration;
  e->duration = l->duration;
  e->has_renew = l->has_renew;
  e->renew = l->renew;
  e->has_acquire = l->has_acquire;
  e->acquire = l->acquire;
  e->transitions = lg_lease_transitions(l);
  e->coordinated = l->strategy != NULL;
  return true;
}

static bool copy(lg_leasecache_entry *dst, const lg_leasecache_entry *src) {
  *dst = *src;
  dst->holder = strdup(src->holder ? src->holder : "");
  return dst->holder != NULL;
}

/* Is a the same version as b or one after it: a later epoch, or the same term renewed? */
static bool not_older(const lg_leasecache_entry *a, const lg_leasecache_entry *b) {
  if (a->transitions != b->transitions)
    return a->transitions > b->transitions;
  if (strcmp(a->holder, b->holder) != 0)
    return true; /* a release or a controller's move at the same epoch */
  return !b->has_renew || (a->has_renew && a->renew >= b->renew);
}

void lg_leasecache_put(lg_leasecache *c, const char *ns, const char *name, const lg_lease *l,
                       int64_t mono) {
  char key[KEY_MAX];
  node *n;
  if (!c || !make_key(key, ns, name))
    return;
  pthread_mutex_lock(&c->mu);
  if ((n = upsert(c, key, mono)) && lg_leasecache_entry_from(&n->committed, l)) {
    n->list_gen = c->gen;
    n->has_committed = true;
    n->deleted = false;
    n->committed_mono = mono;
    /* The watch caught up with (or passed) what was admitted here. */
    if (n->has_pending && not_older(&n->committed, &n->pending)) {
      lg_leasecache_entry_clear(&n->pending);
      n->has_pending = false;
    }
  }
  pthread_mutex_unlock(&c->mu);
}

void lg_leasecache_admitted(lg_leasecache *c, const char *ns, const char *name, const lg_lease *l,
                            int64_t mono) {
  char key[KEY_MAX];
  node *n;
  if (!c || !make_key(key, ns, name))
    return;
  pthread_mutex_lock(&c->mu);
  if ((n = upsert(c, key, mono)) && lg_leasecache_entry_from(&n->pending, l)) {
    n->has_pending = true;
    n->pending_mono = mono;
  }
  pthread_mutex_unlock(&c->mu);
}

void lg_leasecache_delete(lg_leasecache *c, const char *ns, const char *name, int64_t mono) {
  char key[KEY_MAX];
  node *n;
  if (!c || !make_key(key, ns, name))
    return;
  pthread_mutex_lock(&c->mu);
  if ((n = upsert(c, key, mono))) {
    lg_leasecache_entry_clear(&n->committed);
    lg_leasecache_entry_clear(&n->pending);
    n->has_committed = n->has_pending = false;
    n->deleted = true;
    n->committed_mono = mono;
  }
  pthread_mutex_unlock(&c->mu);
}

void lg_leasecache_list_begin(lg_leasecache *c) {
  if (!c)
    return;
  pthread_mutex_lock(&c->mu);
  c->gen++;
  pthread_mutex_unlock(&c->mu);
}

void lg_leasecache_list_end(lg_leasecache *c, int64_t mono) {
  if (!c)
    return;
  pthread_mutex_lock(&c->mu);
  for (node *n = c->head; n; n = n->next)
    if (n->has_committed && n->list_gen != c->gen) {
      lg_leasecache_entry_clear(&n->committed);
      n->has_committed = false;
      n->deleted = true;
      n->committed_mono = mono;
    }
  pthread_mutex_unlock(&c->mu);
}

void lg_leasecache_set_synced(lg_leasecache *c, bool synced, int64_t mono) {
  if (!c)
    return;
  pthread_mutex_lock(&c->mu);
  c->synced = synced;
  c->synced_mono = mono;
  pthread_mutex_unlock(&c->mu);
}

lg_leasecache_hit lg_leasecache_get(lg_leasecache *c, const char *ns, const char *name,
                                    int64_t mono, lg_leasecache_entry *out, int64_t *age) {
  char key[KEY_MAX];
  node *n;
  lg_leasecache_hit hit = LG_LEASECACHE_MISS;
  memset(out, 0, sizeof *out);
  if (age)
    *age = 0;
  if (!c || !make_key(key, ns, name))
    return LG_LEASECACHE_MISS;
  pthread_mutex_lock(&c->mu);
  n = find(c, key);
  if (n && n->has_pending && mono - n->pending_mono > c->pending_ttl) {
    lg_leasecache_entry_clear(&n->pending); /* never confirmed: it did not happen */
    n->has_pending = false;
  }
  if (n && n->has_pending && (!n->has_committed || not_older(&n->pending, &n->committed))) {
    hit = copy(out, &n->pending) ? LG_LEASECACHE_FOUND : LG_LEASECACHE_MISS;
    if (age)
      *age = mono - n->pending_mono;
  } else if (n && n->has_committed) {
    hit = copy(out, &n->committed) ? LG_LEASECACHE_FOUND : LG_LEASECACHE_MISS;
    if (age)
      *age = mono - n->committed_mono;
  } else if (n && n->deleted) {
    hit = LG_LEASECACHE_ABSENT;
    if (age)
      *age = mono - n->committed_mono;
  }
  pthread_mutex_unlock(&c->mu);
  return hit;
}

void lg_leasecache_as_lease(const lg_leasecache_entry *e, const char *ns, const char *name,
                            lg_lease *out) {
  memset(out, 0, sizeof *out);
  out->namespace = ns;
  out->name = name;
  out->holder = e->holder;
  out->has_duration = e->has_duration;
  out->duration = e->duration;
  out->has_renew = e->has_renew;
  out->renew = e->renew;
  out->has_acquire = e->has_acquire;
  out->acquire = e->acquire;
  out->has_transitions = true;
  out->transitions = e->transitions;
  out->strategy = e->coordinated ? "" : NULL;
}

size_t lg_leasecache_size(lg_leasecache *c) {
  size_t n;
  if (!c)
    return 0;
  pthread_mutex_lock(&c->mu);
  n = c->used;
  pthread_mutex_unlock(&c->mu);
  return n;
}

bool lg_leasecache_synced(lg_leasecache *c, int64_t *since) {
  bool s;
  if (!c)
    return false;
  pthread_mutex_lock(&c->mu);
  s = c->synced;
  if (since)
    *since = c->synced_mono;
  pthread_mutex_unlock(&c->mu);
  return s;
}
