/* policywatch.c -- the policy in force: refcounted, reloaded when its file changes. */
#include "policywatch.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

struct lg_policy_ref {
  lg_policy *policy;
  atomic_uint refs;
};

struct lg_policywatch {
  const char *path;       /* NULL: the built-in policy */
  lg_metrics *metrics;
  pthread_mutex_t lock;   /* guards current */
  lg_policy_ref *current;
  bool have_stat;         /* the file watch; main thread only */
  bool stat_failed;
  struct stat st;
};

void lg_policy_ref_release(lg_policy_ref *r) {
  if (r && atomic_fetch_sub(&r->refs, 1) == 1) {
    lg_policy_free(r->policy);
    free(r);
  }
}

const lg_policy *lg_policy_ref_get(const lg_policy_ref *r) { return r ? r->policy : NULL; }

lg_policy_ref *lg_policywatch_acquire(lg_policywatch *w) {
  lg_policy_ref *r;
  pthread_mutex_lock(&w->lock);
  r = w->current;
  if (r)
    atomic_fetch_add(&r->refs, 1);
  pthread_mutex_unlock(&w->lock);
  return r;
}

bool lg_policywatch_loaded(lg_policywatch *w) {
  bool loaded;
  pthread_mutex_lock(&w->lock);
  loaded = w->current != NULL;
  pthread_mutex_unlock(&w->lock);
  return loaded;
}

/* Makes p (owned, freed on failure) the current policy; requests already running keep the
 * one they started with. */
static lg_rc install(lg_policywatch *w, lg_policy *p) {
  lg_policy_ref *r = malloc(sizeof *r), *old;
  if (!r) {
    lg_policy_free(p);
    return LG_ENOMEM;
  }
  r->policy = p;
  atomic_init(&r->refs, 1);
  pthread_mutex_lock(&w->lock);
  old = w->current;
  w->current = r;
  pthread_mutex_unlock(&w->lock);
  lg_policy_ref_release(old);
  return LG_OK;
}

lg_rc lg_policywatch_new(const char *path, lg_metrics *m, lg_policywatch **out, char *err,
                         size_t errlen) {
  lg_policywatch *w = calloc(1, sizeof *w);
  lg_policy *p = NULL;
  lg_rc rc;

  *out = NULL;
  if (!w)
    return lg_fail(err, errlen, LG_ENOMEM, "%s", lg_strerror(LG_ENOMEM));
  if (pthread_mutex_init(&w->lock, NULL) != 0) {
    free(w);
    return lg_fail(err, errlen, LG_ESERVER, "cannot create a mutex");
  }
  w->path = path;
  w->metrics = m;
  if (path) {
    w->have_stat = stat(path, &w->st) == 0;
    rc = lg_policy_load_file(path, &p, err, errlen);
  } else {
    rc = lg_policy_default(&p, err, errlen);
  }
  if (rc == LG_OK)
    rc = install(w, p);
  if (rc) {
    lg_policywatch_free(w);
    return rc;
  }
  *out = w;
  return LG_OK;
}

void lg_policywatch_free(lg_policywatch *w) {
  if (!w)
    return;
  lg_policy_ref_release(w->current);
  pthread_mutex_destroy(&w->lock);
  free(w);
}

/* stat follows symlinks, so a ConfigMap mount swapping its ..data link is seen as a
 * new inode. */
static bool same_file(const struct stat *a, const struct stat *b) {
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
         a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static void count(lg_policywatch *w, bool ok) {
  lg_metrics_policy_reload(w->metrics, ok);
  lg_metrics_file_reload(w->metrics, "policy", ok);
}

void lg_policywatch_check(lg_policywatch *w, bool force) {
  struct stat st;
  lg_policy *p = NULL;
  char detail[512] = "";
  lg_rc rc;

  if (!w->path) {
    if (force)
      lg_log(LG_LOG_INFO, "no policy file to reload; keeping the built-in policy", NULL);
    return;
  }
  if (stat(w->path, &st) != 0) {
    if (force || !w->stat_failed) {
      lg_log(LG_LOG_ERROR, "cannot read the policy file; keeping the current policy", "path",
             w->path, "error", strerror(errno), NULL);
      count(w, false);
    }
    w->stat_failed = true;
    return;
  }
  w->stat_failed = false;
  if (!force && w->have_stat && same_file(&st, &w->st))
    return;
  w->st = st;
  w->have_stat = true;
  rc = lg_policy_load_file(w->path, &p, detail, sizeof detail);
  if (rc == LG_OK)
    rc = install(w, p);
  count(w, rc == LG_OK);
  if (rc) {
    lg_log(LG_LOG_ERROR, "policy reload failed; keeping the previous policy", "path", w->path,
           "error", detail[0] ? detail : lg_strerror(rc), NULL);
    return;
  }
  lg_log(LG_LOG_INFO, "policy reloaded", "path", w->path, NULL);
}
