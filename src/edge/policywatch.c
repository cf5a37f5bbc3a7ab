/* policywatch.c -- the policy in force: refcounted, reloaded when its file changes. */
#include "policywatch.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

struct lg_policywatch {
  const char *path; /* NULL: the built-in policy */
  lg_metrics *metrics;
  lg_hotfile_holder current; /* the policy new requests get */
  lg_hotfile_watch file;     /* main thread only */
};

static void free_policy(void *p) { lg_policy_free(p); }

void lg_policy_ref_release(lg_policy_ref *r) { lg_hotfile_release(r); }

const lg_policy *lg_policy_ref_get(const lg_policy_ref *r) { return lg_hotfile_get(r); }

lg_policy_ref *lg_policywatch_acquire(lg_policywatch *w) { return lg_hotfile_acquire(&w->current); }

bool lg_policywatch_loaded(lg_policywatch *w) { return lg_hotfile_loaded(&w->current); }

lg_rc lg_policywatch_new(const char *path, lg_metrics *m, lg_policywatch **out, char *err,
                         size_t errlen) {
  lg_policywatch *w = calloc(1, sizeof *w);
  lg_policy *p = NULL;
  lg_rc rc;

  *out = NULL;
  if (!w)
    return lg_fail(err, errlen, LG_ENOMEM, "%s", lg_strerror(LG_ENOMEM));
  if (lg_hotfile_holder_init(&w->current, free_policy) != LG_OK) {
    free(w);
    return lg_fail(err, errlen, LG_ESERVER, "cannot create a mutex");
  }
  w->path = path;
  w->metrics = m;
  if (path) {
    lg_hotfile_watch_init(&w->file, &path, 1);
    rc = lg_policy_load_file(path, &p, err, errlen);
  } else {
    rc = lg_policy_default(&p, err, errlen);
  }
  if (rc == LG_OK)
    rc = lg_hotfile_swap(&w->current, p);
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
  lg_hotfile_holder_destroy(&w->current);
  free(w);
}

static void count(lg_policywatch *w, bool ok) {
  lg_metrics_policy_reload(w->metrics, ok);
  lg_metrics_file_reload(w->metrics, "policy", ok);
}

void lg_policywatch_reload_if_changed(lg_policywatch *w, bool force) {
  lg_policy *p = NULL;
  char detail[512] = "";
  lg_rc rc;

  if (!w->path) {
    if (force)
      lg_log(LG_LOG_INFO, "no policy file to reload; keeping the built-in policy", NULL);
    return;
  }
  switch (lg_hotfile_watch_check(&w->file, force)) {
  case LG_HOTFILE_SAME:
  case LG_HOTFILE_STILL_GONE:
    return;
  case LG_HOTFILE_GONE:
    lg_log(LG_LOG_ERROR, "cannot read the policy file; keeping the current policy", "path", w->path,
           "error", strerror(w->file.error), NULL);
    count(w, false);
    return;
  case LG_HOTFILE_CHANGED:
    break;
  }
  rc = lg_policy_load_file(w->path, &p, detail, sizeof detail);
  if (rc == LG_OK)
    rc = lg_hotfile_swap(&w->current, p);
  count(w, rc == LG_OK);
  if (rc) {
    lg_log(LG_LOG_ERROR, "policy reload failed; keeping the previous policy", "path", w->path,
           "error", detail[0] ? detail : lg_strerror(rc), NULL);
    return;
  }
  lg_log(LG_LOG_INFO, "policy reloaded", "path", w->path, NULL);
}
