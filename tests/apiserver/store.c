/* store.c -- objects in a sorted array under one mutex; a ring of recent changes for watches. */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  as_kind kind;
  char *ns, *name;
  uint64_t rv;
  json_t *obj;
} entry;

typedef struct {
  as_kind kind;
  const char *type; /* ADDED, MODIFIED, DELETED (static) */
  char *ns;
  uint64_t rv;
  json_t *obj;
} change;

struct as_store {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  entry *items;
  size_t n, cap;
  change *ring;
  size_t ring_cap, ring_start, ring_n;
  uint64_t rv;           /* the newest resourceVersion handed out */
  uint64_t dropped_upto; /* the newest version no longer in the ring */
  bool stopping;
};

as_store *as_store_new(size_t history) {
  as_store *s = calloc(1, sizeof *s);
  pthread_condattr_t ca;

  if (!s)
    return NULL;
  s->ring_cap = history ? history : 1;
  s->ring = calloc(s->ring_cap, sizeof *s->ring);
  if (!s->ring) {
    free(s);
    return NULL;
  }
  pthread_mutex_init(&s->mu, NULL);
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->cv, &ca);
  pthread_condattr_destroy(&ca);
  return s;
}

void as_store_free(as_store *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->n; i++) {
    free(s->items[i].ns);
    free(s->items[i].name);
    json_decref(s->items[i].obj);
  }
  for (size_t i = 0; i < s->ring_n; i++) {
    change *c = &s->ring[(s->ring_start + i) % s->ring_cap];
    free(c->ns);
    json_decref(c->obj);
  }
  free(s->items);
  free(s->ring);
  pthread_cond_destroy(&s->cv);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

/* Order: kind, namespace, name. */
static int cmp_key(as_kind k, const char *ns, const char *name, const entry *e) {
  int c;
  if (k != e->kind)
    return k < e->kind ? -1 : 1;
  if ((c = strcmp(ns, e->ns)) != 0)
    return c;
  return strcmp(name, e->name);
}

/* The index of the key, or of where it would go (with *found false). */
static size_t find(const as_store *s, as_kind k, const char *ns, const char *name, bool *found) {
  size_t lo = 0, hi = s->n;
  *found = false;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = cmp_key(k, ns, name, &s->items[mid]);
    if (c == 0) {
      *found = true;
      return mid;
    }
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

json_t *as_store_get(as_store *s, as_kind k, const char *ns, const char *name, uint64_t *rv) {
  json_t *copy = NULL;
  bool found;
  size_t i;

  pthread_mutex_lock(&s->mu);
  i = find(s, k, ns, name, &found);
  if (found) {
    copy = json_deep_copy(s->items[i].obj);
    if (rv)
      *rv = s->items[i].rv;
  }
  pthread_mutex_unlock(&s->mu);
  return copy;
}

static void set_rv(json_t *obj, uint64_t rv) {
  char buf[24];
  json_t *meta = json_object_get(obj, "metadata");
  snprintf(buf, sizeof buf, "%" PRIu64, rv);
  if (json_is_object(meta))
    json_object_set_new(meta, "resourceVersion", json_string(buf));
}

/* Appends a change to the ring, dropping the oldest when full. obj is stolen. */
static void record(as_store *s, as_kind k, const char *type, const char *ns, uint64_t rv,
                   json_t *obj) {
  change *c;
  char *ns_copy = strdup(ns);

  if (!ns_copy || !obj) {
    /* Cannot keep it: resuming watches must relist rather than miss it. */
    free(ns_copy);
    json_decref(obj);
    s->dropped_upto = rv;
    return;
  }
  if (s->ring_n == s->ring_cap) {
    c = &s->ring[s->ring_start];
    s->dropped_upto = c->rv;
    free(c->ns);
    json_decref(c->obj);
    s->ring_start = (s->ring_start + 1) % s->ring_cap;
    s->ring_n--;
  }
  c = &s->ring[(s->ring_start + s->ring_n) % s->ring_cap];
  c->kind = k;
  c->type = type;
  c->ns = ns_copy;
  c->rv = rv;
  c->obj = obj;
  s->ring_n++;
}

static as_commit do_delete(as_store *s, size_t i, uint64_t *rv_out) {
  entry e = s->items[i];
  uint64_t rv = ++s->rv;

  memmove(&s->items[i], &s->items[i + 1], (s->n - i - 1) * sizeof *s->items);
  s->n--;
  set_rv(e.obj, rv); /* a DELETED event carries the version of the deletion */
  record(s, e.kind, "DELETED", e.ns, rv, e.obj);
  free(e.ns);
  free(e.name);
  *rv_out = rv;
  return AS_COMMIT_OK;
}

static as_commit do_insert(as_store *s, size_t i, as_kind k, const char *ns, const char *name,
                           json_t *obj, uint64_t *rv_out) {
  entry e = {k, strdup(ns), strdup(name), 0, NULL};

  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 16;
    entry *grown = realloc(s->items, cap * sizeof *grown);
    if (!grown)
      goto nomem;
    s->items = grown;
    s->cap = cap;
  }
  if (!e.ns || !e.name)
    goto nomem;
  e.rv = ++s->rv;
  set_rv(obj, e.rv);
  if (!(e.obj = json_deep_copy(obj)))
    goto nomem;
  memmove(&s->items[i + 1], &s->items[i], (s->n - i) * sizeof *s->items);
  s->items[i] = e;
  s->n++;
  record(s, k, "ADDED", ns, e.rv, json_deep_copy(obj));
  *rv_out = e.rv;
  return AS_COMMIT_OK;
nomem:
  free(e.ns);
  free(e.name);
  return AS_COMMIT_NOMEM;
}

static as_commit do_update(as_store *s, size_t i, json_t *obj, uint64_t *rv_out) {
  entry *e = &s->items[i];
  json_t *copy;
  uint64_t rv;

  if (json_equal(e->obj, obj)) {
    *rv_out = e->rv;
    return AS_COMMIT_OK;
  }
  rv = s->rv + 1;
  set_rv(obj, rv);
  if (!(copy = json_deep_copy(obj)))
    return AS_COMMIT_NOMEM;
  s->rv = rv;
  json_decref(e->obj);
  e->obj = copy;
  e->rv = rv;
  record(s, e->kind, "MODIFIED", e->ns, rv, json_deep_copy(obj));
  *rv_out = rv;
  return AS_COMMIT_OK;
}

as_commit as_store_commit(as_store *s, as_kind k, const char *ns, const char *name,
                          uint64_t expect_rv, json_t *obj, uint64_t *rv_out) {
  as_commit rc = AS_COMMIT_CHANGED;
  bool found;
  size_t i;

  pthread_mutex_lock(&s->mu);
  i = find(s, k, ns, name, &found);
  if (found ? s->items[i].rv != expect_rv : expect_rv != 0)
    goto out;
  if (!obj)
    rc = found ? do_delete(s, i, rv_out) : AS_COMMIT_CHANGED;
  else if (found)
    rc = do_update(s, i, obj, rv_out);
  else
    rc = do_insert(s, i, k, ns, name, obj, rv_out);
  if (rc == AS_COMMIT_OK)
    pthread_cond_broadcast(&s->cv);
out:
  pthread_mutex_unlock(&s->mu);
  return rc;
}

json_t *as_store_list(as_store *s, as_kind k, const char *ns, uint64_t *rv) {
  json_t *items = json_array();

  pthread_mutex_lock(&s->mu);
  for (size_t i = 0; items && i < s->n; i++) {
    const entry *e = &s->items[i];
    if (e->kind != k || (ns && strcmp(ns, e->ns) != 0))
      continue;
    if (json_array_append_new(items, json_deep_copy(e->obj)) != 0) {
      json_decref(items);
      items = NULL;
    }
  }
  *rv = s->rv;
  pthread_mutex_unlock(&s->mu);
  return items;
}

static struct timespec deadline_in(long ms) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

/* Looks for the first matching change after *after; the lock is held. */
static as_next scan(as_store *s, as_kind k, const char *ns, uint64_t *after, json_t **event) {
  if (*after < s->dropped_upto) {
    *after = s->dropped_upto;
    return AS_NEXT_GONE;
  }
  for (size_t i = 0; i < s->ring_n; i++) {
    const change *c = &s->ring[(s->ring_start + i) % s->ring_cap];
    if (c->rv <= *after || c->kind != k || (ns && strcmp(ns, c->ns) != 0))
      continue;
    *event = json_pack("{s:s, s:O}", "type", c->type, "object", c->obj);
    *after = c->rv;
    return AS_NEXT_EVENT;
  }
  return AS_NEXT_NONE;
}

as_next as_store_next(as_store *s, as_kind k, const char *ns, uint64_t *after, long wait_ms,
                      json_t **event) {
  struct timespec until = deadline_in(wait_ms);
  as_next r;

  *event = NULL;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    if (s->stopping) {
      r = AS_NEXT_STOPPED;
      break;
    }
    r = scan(s, k, ns, after, event);
    if (r != AS_NEXT_NONE || pthread_cond_timedwait(&s->cv, &s->mu, &until) == ETIMEDOUT)
      break;
  }
  pthread_mutex_unlock(&s->mu);
  return r;
}

void as_store_stop(as_store *s) {
  pthread_mutex_lock(&s->mu);
  s->stopping = true;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}
