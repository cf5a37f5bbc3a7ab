/* hotfile.c -- a hot-reloaded file: stat signatures and a refcounted current value. */
#include "hotfile.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>

struct lg_hotfile_ref {
  void *value;
  void (*free_value)(void *);
  atomic_uint refs;
};

/* ---- the file watch ---- */

/* The signature of path, or errno when it cannot be stat'ed. */
static int sign(const char *path, lg_hotfile_sig *out) {
  struct stat st;
  if (stat(path, &st) != 0)
    return errno ? errno : ENOENT;
  out->valid = true;
  out->dev = (uint64_t)st.st_dev;
  out->ino = (uint64_t)st.st_ino;
  out->size = (int64_t)st.st_size;
  out->mtime_sec = (int64_t)st.st_mtim.tv_sec;
  out->mtime_nsec = st.st_mtim.tv_nsec;
  return 0;
}

static bool same(const lg_hotfile_sig *a, const lg_hotfile_sig *b) {
  return a->valid && b->valid && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
         a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec;
}

void lg_hotfile_watch_init(lg_hotfile_watch *w, const char *const *paths, size_t n) {
  *w = (lg_hotfile_watch){0};
  w->n = n < LG_HOTFILE_MAX ? n : LG_HOTFILE_MAX;
  for (size_t i = 0; i < w->n; i++) {
    w->paths[i] = paths[i];
    if (sign(paths[i], &w->sig[i]) != 0)
      w->sig[i] = (lg_hotfile_sig){0};
  }
}

lg_hotfile_change lg_hotfile_watch_check(lg_hotfile_watch *w, bool force) {
  lg_hotfile_sig now[LG_HOTFILE_MAX] = {{0}};
  bool changed = force;

  for (size_t i = 0; i < w->n; i++) {
    int e = sign(w->paths[i], &now[i]);
    if (e) {
      lg_hotfile_change c = force || !w->failed ? LG_HOTFILE_GONE : LG_HOTFILE_STILL_GONE;
      w->failed = true;
      w->missing = w->paths[i];
      w->error = e;
      return c;
    }
    if (!same(&now[i], &w->sig[i]))
      changed = true;
  }
  w->failed = false;
  w->missing = NULL;
  w->error = 0;
  if (!changed)
    return LG_HOTFILE_SAME;
  for (size_t i = 0; i < w->n; i++)
    w->sig[i] = now[i];
  return LG_HOTFILE_CHANGED;
}

/* ---- the current value ---- */

lg_rc lg_hotfile_holder_init(lg_hotfile_holder *h, void (*free_value)(void *)) {
  h->current = NULL;
  h->free_value = free_value;
  return pthread_mutex_init(&h->lock, NULL) == 0 ? LG_OK : LG_ESERVER;
}

void lg_hotfile_holder_destroy(lg_hotfile_holder *h) {
  lg_hotfile_release(h->current);
  h->current = NULL;
  pthread_mutex_destroy(&h->lock);
}

void lg_hotfile_release(lg_hotfile_ref *r) {
  if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
    if (r->free_value)
      r->free_value(r->value);
    free(r);
  }
}

void *lg_hotfile_get(const lg_hotfile_ref *r) { return r ? r->value : NULL; }

lg_hotfile_ref *lg_hotfile_acquire(lg_hotfile_holder *h) {
  lg_hotfile_ref *r;
  pthread_mutex_lock(&h->lock);
  r = h->current;
  if (r)
    atomic_fetch_add(&r->refs, 1);
  pthread_mutex_unlock(&h->lock);
  return r;
}

bool lg_hotfile_loaded(lg_hotfile_holder *h) {
  bool loaded;
  pthread_mutex_lock(&h->lock);
  loaded = h->current != NULL;
  pthread_mutex_unlock(&h->lock);
  return loaded;
}

lg_rc lg_hotfile_swap(lg_hotfile_holder *h, void *value) {
  lg_hotfile_ref *r = malloc(sizeof *r), *old;
  if (!r) {
    if (h->free_value)
      h->free_value(value);
    return LG_ENOMEM;
  }
  r->value = value;
  r->free_value = h->free_value;
  atomic_init(&r->refs, 1);
  pthread_mutex_lock(&h->lock);
  old = h->current;
  h->current = r;
  pthread_mutex_unlock(&h->lock);
  lg_hotfile_release(old);
  return LG_OK;
}
