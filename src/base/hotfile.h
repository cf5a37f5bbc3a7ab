/* hotfile.h -- a hot-reloaded file: whether a file set changed since it was last loaded (stat
 * signature), and a refcounted holder of the value loaded from it (readers keep theirs across
 * a swap). Used by the policy and the TLS pair / client CA reloads. */
#ifndef LG_HOTFILE_H
#define LG_HOTFILE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc.h"

/* ---- the file watch (one thread only) ---- */

/* Most files one watch covers (a certificate and its key: 2). */
#define LG_HOTFILE_MAX 4

/* What stat says of one file; stat follows symlinks, so a Secret or ConfigMap volume
 * swapping its ..data link shows as a new inode. */
typedef struct {
  bool valid; /* false: never stat'ed successfully (differs from every real file) */
  uint64_t dev, ino;
  int64_t size, mtime_sec;
  long mtime_nsec;
} lg_hotfile_sig;

typedef struct {
  const char *paths[LG_HOTFILE_MAX]; /* borrowed */
  size_t n;
  lg_hotfile_sig sig[LG_HOTFILE_MAX]; /* as of the last load */
  bool failed;                        /* the last check could not stat a file */
  const char *missing;                /* after LG_HOTFILE_GONE: which file */
  int error;                          /* after LG_HOTFILE_GONE: stat's errno */
} lg_hotfile_watch;

typedef enum {
  LG_HOTFILE_SAME,      /* unchanged since the last load: nothing to do */
  LG_HOTFILE_CHANGED,   /* changed, or forced: load it now (the new signature is recorded) */
  LG_HOTFILE_GONE,      /* a file cannot be stat'ed, newly or forced: report it (missing, error) */
  LG_HOTFILE_STILL_GONE /* still cannot be stat'ed: already reported */
} lg_hotfile_change;

/* Watches the n (<= LG_HOTFILE_MAX, more are ignored) paths (borrowed) and records their
 * signature now, as of the load about to happen; a file missing now counts as changed later. */
void lg_hotfile_watch_init(lg_hotfile_watch *w, const char *const *paths, size_t n);

/* Whether the files changed since the last LG_HOTFILE_CHANGED (or init); force (SIGHUP) makes
 * any readable set CHANGED. The signature is recorded before the caller reads the files, so a
 * change while reading is seen at the next check. */
lg_hotfile_change lg_hotfile_watch_check(lg_hotfile_watch *w, bool force);

/* ---- the current value (thread-safe) ---- */

/* One loaded value, held by the holder while current and by each reader that acquired it. */
typedef struct lg_hotfile_ref lg_hotfile_ref;

typedef struct {
  pthread_mutex_t lock;       /* guards current */
  lg_hotfile_ref *current;    /* NULL: nothing loaded yet */
  void (*free_value)(void *); /* frees a value once its last hold is dropped */
} lg_hotfile_holder;

/* Empty holder whose values free_value frees. LG_ESERVER when no mutex can be made. */
lg_rc lg_hotfile_holder_init(lg_hotfile_holder *h, void (*free_value)(void *));

/* Drops the holder's hold on the current value (readers keep theirs). */
void lg_hotfile_holder_destroy(lg_hotfile_holder *h);

/* Makes value (owned; freed with free_value on failure) the current one; readers keep the
 * old one until they release it. LG_ENOMEM keeps the current value. */
lg_rc lg_hotfile_swap(lg_hotfile_holder *h, void *value);

/* The current value, held until lg_hotfile_release; NULL when none is loaded. */
lg_hotfile_ref *lg_hotfile_acquire(lg_hotfile_holder *h);

/* Whether a value is loaded. */
bool lg_hotfile_loaded(lg_hotfile_holder *h);

/* The value r holds (borrowed while r is held); NULL for NULL. */
void *lg_hotfile_get(const lg_hotfile_ref *r);

/* Drops one hold; the last frees the value. NULL is a no-op. */
void lg_hotfile_release(lg_hotfile_ref *r);

#endif
