/* test_hotfile.c -- the hot-reloaded file (hotfile.c): a change of content, size, mtime or
 * inode (an atomic rename, a Secret volume's ..data symlink swap) is seen once, no change is
 * no reload, a missing file is reported once; the holder keeps a swapped-out value alive until
 * its last reader releases it, also with readers on other threads. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "hotfile.h"

static char dir[LGT_PATH_LEN];

static const char *change_name(lg_hotfile_change c) {
  switch (c) {
  case LG_HOTFILE_SAME:
    return "same";
  case LG_HOTFILE_CHANGED:
    return "changed";
  case LG_HOTFILE_GONE:
    return "gone";
  case LG_HOTFILE_STILL_GONE:
    return "still gone";
  }
  return "?";
}

/* Sets path's mtime (the link's target: utimensat follows symlinks) to sec.0. */
static void set_mtime(const char *path, time_t sec) {
  struct timespec ts[2] = {{sec, 0}, {sec, 0}};
  assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

/* Writes text to name.tmp in dir and renames it over name (a new inode), with mtime sec. */
static void replace_file(const char *name, const char *text, time_t sec) {
  char path[LGT_PATH_LEN], tmp[LGT_PATH_LEN + 8];
  lgt_path(path, dir, name);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  lgt_write_file(tmp, text);
  set_mtime(tmp, sec);
  assert_int_equal(rename(tmp, path), 0);
}

/* Rewrites name in place (same inode) with text and mtime sec. */
static void rewrite_file(const char *name, const char *text, time_t sec) {
  char path[LGT_PATH_LEN];
  FILE *f;
  lgt_path(path, dir, name);
  assert_non_null(f = fopen(path, "r+"));
  assert_int_equal(ftruncate(fileno(f), 0), 0);
  assert_int_equal(fputs(text, f) >= 0, 1);
  assert_int_equal(fclose(f), 0);
  set_mtime(path, sec);
}

/* A Secret volume as the kubelet writes it: version dir v, ..data -> v, name -> ..data/name.
 * Each call makes a new version holding text (mtime sec) and swaps ..data atomically. */
static void secret_volume(const char *v, const char *name, const char *text, time_t sec) {
  char vdir[LGT_PATH_LEN], file[LGT_PATH_LEN * 2], link[LGT_PATH_LEN], tmp[LGT_PATH_LEN],
      data[LGT_PATH_LEN], target[LGT_PATH_LEN];
  lgt_path(vdir, dir, v);
  assert_int_equal(mkdir(vdir, 0700), 0);
  snprintf(file, sizeof file, "%s/%s", vdir, name);
  lgt_write_file(file, text);
  set_mtime(file, sec);
  lgt_path(tmp, dir, "..data_tmp");
  lgt_path(data, dir, "..data");
  assert_int_equal(symlink(v, tmp), 0);
  assert_int_equal(rename(tmp, data), 0);
  lgt_path(link, dir, name);
  snprintf(target, sizeof target, "..data/%s", name);
  if (access(link, F_OK) != 0)
    assert_int_equal(symlink(target, link), 0);
}

static void rm(const char *name) {
  char path[LGT_PATH_LEN];
  lgt_path(path, dir, name);
  assert_int_equal(unlink(path), 0);
}

typedef struct {
  const char *name;
  void (*act)(void); /* NULL: nothing happens to the files */
  bool force;
  lg_hotfile_change want;
  const char *missing; /* with LG_HOTFILE_GONE: the file named */
} watch_step;

static void act_rewrite_same_size(void) { rewrite_file("a", "AAAA", 1500); } /* content + mtime */
static void act_rewrite_longer(void) { rewrite_file("a", "AAAAAA", 1500); }  /* size only */
static void act_touch(void) {
  char p[LGT_PATH_LEN];
  lgt_path(p, dir, "a");
  set_mtime(p, 2000); /* mtime only */
}
static void act_rename_same(void) { replace_file("a", "AAAAAA", 2000); } /* inode only */
static void act_change_b(void) { replace_file("b", "bbb", 3000); }
static void act_rm_b(void) { rm("b"); }
static void act_back_b(void) { replace_file("b", "bbb", 3000); }
static void act_rm_a(void) { rm("a"); }
static void act_back_a(void) { replace_file("a", "a", 4000); }

static void test_watch(void **state) {
  static const watch_step steps[] = {
      {"unchanged", NULL, false, LG_HOTFILE_SAME, NULL},
      {"unchanged again", NULL, false, LG_HOTFILE_SAME, NULL},
      {"forced", NULL, true, LG_HOTFILE_CHANGED, NULL},
      {"content and mtime, same size and inode", act_rewrite_same_size, false, LG_HOTFILE_CHANGED,
       NULL},
      {"seen once", NULL, false, LG_HOTFILE_SAME, NULL},
      {"size only", act_rewrite_longer, false, LG_HOTFILE_CHANGED, NULL},
      {"mtime only", act_touch, false, LG_HOTFILE_CHANGED, NULL},
      {"inode only (atomic rename)", act_rename_same, false, LG_HOTFILE_CHANGED, NULL},
      {"after the rename", NULL, false, LG_HOTFILE_SAME, NULL},
      {"second file of the set", act_change_b, false, LG_HOTFILE_CHANGED, NULL},
      {"second file gone", act_rm_b, false, LG_HOTFILE_GONE, "b"},
      {"still gone: reported once", NULL, false, LG_HOTFILE_STILL_GONE, "b"},
      {"still gone, forced: reported", NULL, true, LG_HOTFILE_GONE, "b"},
      {"back as it was", act_back_b, false, LG_HOTFILE_SAME, NULL},
      {"first file gone", act_rm_a, false, LG_HOTFILE_GONE, "a"},
      {"first file back, new", act_back_a, false, LG_HOTFILE_CHANGED, NULL},
      {"settled", NULL, false, LG_HOTFILE_SAME, NULL},
  };
  char a[LGT_PATH_LEN], b[LGT_PATH_LEN];
  const char *paths[2] = {a, b};
  lg_hotfile_watch w;
  (void)state;

  lgt_path(a, dir, "a");
  lgt_path(b, dir, "b");
  replace_file("a", "aaaa", 1000);
  replace_file("b", "bb", 1000);
  lg_hotfile_watch_init(&w, paths, 2);
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
    const watch_step *s = &steps[i];
    lg_hotfile_change got;
    if (s->act)
      s->act();
    got = lg_hotfile_watch_check(&w, s->force);
    if (got != s->want)
      fail_msg("%s: %s, want %s", s->name, change_name(got), change_name(s->want));
    if (s->want == LG_HOTFILE_GONE &&
        (!w.missing || strcmp(w.missing, s->missing[0] == 'a' ? a : b) != 0 || w.error == 0))
      fail_msg("%s: missing %s (error %d), want %s", s->name, w.missing ? w.missing : "(none)",
               w.error, s->missing);
  }
  rm("a");
  rm("b");
}

/* A Secret or ConfigMap volume update: the watched path is a symlink through ..data, whose
 * swap to a new version directory is seen even with the same content, size and mtime. */
static void test_data_link_swap(void **state) {
  char crt[LGT_PATH_LEN];
  const char *paths[1] = {crt};
  lg_hotfile_watch w;
  (void)state;

  lgt_path(crt, dir, "tls.crt");
  secret_volume("v1", "tls.crt", "CERT", 5000);
  lg_hotfile_watch_init(&w, paths, 1);
  assert_int_equal(lg_hotfile_watch_check(&w, false), LG_HOTFILE_SAME);
  secret_volume("v2", "tls.crt", "CERT", 5000);
  assert_int_equal(lg_hotfile_watch_check(&w, false), LG_HOTFILE_CHANGED);
  assert_int_equal(lg_hotfile_watch_check(&w, false), LG_HOTFILE_SAME);
}

/* A file missing at init is new once it appears, and the set is capped at LG_HOTFILE_MAX. */
static void test_missing_at_init(void **state) {
  char p[LGT_PATH_LEN];
  const char *paths[LG_HOTFILE_MAX + 2];
  lg_hotfile_watch w;
  (void)state;

  lgt_path(p, dir, "late");
  for (size_t i = 0; i < LG_HOTFILE_MAX + 2; i++)
    paths[i] = p;
  lg_hotfile_watch_init(&w, paths, LG_HOTFILE_MAX + 2);
  assert_int_equal(w.n, LG_HOTFILE_MAX);
  assert_int_equal(lg_hotfile_watch_check(&w, false), LG_HOTFILE_GONE);
  assert_string_equal(w.missing, p);
  replace_file("late", "x", 6000);
  assert_int_equal(lg_hotfile_watch_check(&w, false), LG_HOTFILE_CHANGED);
  assert_int_equal(lg_hotfile_watch_check(&w, false), LG_HOTFILE_SAME);
  rm("late");
}

/* ---- the holder ---- */

#define NVALUES 4096
static atomic_int freed[NVALUES];

typedef struct {
  int id;
  int check; /* id * 7, read by readers: ASan sees a read after free */
} value;

static void free_value(void *v) {
  value *x = v;
  atomic_fetch_add(&freed[x->id], 1);
  free(x);
}

static value *new_value(int id) {
  value *v = malloc(sizeof *v);
  assert_non_null(v);
  v->id = id;
  v->check = id * 7;
  return v;
}

static void test_holder(void **state) {
  lg_hotfile_holder h;
  lg_hotfile_ref *r1, *r2, *r2b;
  (void)state;

  for (int i = 0; i < 4; i++)
    atomic_store(&freed[i], 0);
  assert_int_equal(lg_hotfile_holder_init(&h, free_value), LG_OK);
  assert_false(lg_hotfile_loaded(&h));
  assert_null(lg_hotfile_acquire(&h));
  assert_null(lg_hotfile_get(NULL));
  lg_hotfile_release(NULL);

  assert_int_equal(lg_hotfile_swap(&h, new_value(1)), LG_OK);
  assert_true(lg_hotfile_loaded(&h));
  r1 = lg_hotfile_acquire(&h);
  assert_int_equal(((value *)lg_hotfile_get(r1))->id, 1);

  /* Swapped out while r1 holds it: kept until r1 lets go. */
  assert_int_equal(lg_hotfile_swap(&h, new_value(2)), LG_OK);
  assert_int_equal(atomic_load(&freed[1]), 0);
  assert_int_equal(((value *)lg_hotfile_get(r1))->check, 7);
  r2 = lg_hotfile_acquire(&h);
  r2b = lg_hotfile_acquire(&h);
  assert_ptr_equal(r2, r2b);
  assert_int_equal(((value *)lg_hotfile_get(r2))->id, 2);
  lg_hotfile_release(r1);
  assert_int_equal(atomic_load(&freed[1]), 1);

  /* A value nobody holds goes at the swap. */
  lg_hotfile_release(r2b);
  assert_int_equal(lg_hotfile_swap(&h, new_value(3)), LG_OK);
  assert_int_equal(atomic_load(&freed[2]), 0); /* r2 still holds it */
  lg_hotfile_release(r2);
  assert_int_equal(atomic_load(&freed[2]), 1);

  /* The holder goes first; a reader's value outlives it. */
  r1 = lg_hotfile_acquire(&h);
  lg_hotfile_holder_destroy(&h);
  assert_int_equal(atomic_load(&freed[3]), 0);
  assert_int_equal(((value *)lg_hotfile_get(r1))->check, 21);
  lg_hotfile_release(r1);
  assert_int_equal(atomic_load(&freed[3]), 1);
}

/* Readers on other threads acquire, read and release while the main thread swaps: every value
 * is freed exactly once, never while read (ASan), and readers only see whole values. */
typedef struct {
  lg_hotfile_holder *h;
  atomic_bool *stop;
  long reads;
  long bad;
} reader;

static void *read_loop(void *arg) {
  reader *rd = arg;
  while (!atomic_load(rd->stop)) {
    lg_hotfile_ref *r = lg_hotfile_acquire(rd->h);
    const value *v = lg_hotfile_get(r);
    if (!v || v->check != v->id * 7)
      rd->bad++;
    rd->reads++;
    lg_hotfile_release(r);
  }
  return NULL;
}

static void test_holder_threads(void **state) {
  enum { READERS = 3, SWAPS = NVALUES - 1 };
  lg_hotfile_holder h;
  atomic_bool stop = false;
  pthread_t tids[READERS];
  reader rd[READERS];
  (void)state;

  for (int i = 0; i < NVALUES; i++)
    atomic_store(&freed[i], 0);
  assert_int_equal(lg_hotfile_holder_init(&h, free_value), LG_OK);
  assert_int_equal(lg_hotfile_swap(&h, new_value(0)), LG_OK);
  for (int i = 0; i < READERS; i++) {
    rd[i] = (reader){&h, &stop, 0, 0};
    assert_int_equal(pthread_create(&tids[i], NULL, read_loop, &rd[i]), 0);
  }
  for (int i = 1; i <= SWAPS; i++) {
    assert_int_equal(lg_hotfile_swap(&h, new_value(i)), LG_OK);
    if (i % 256 == 0)
      sched_yield();
  }
  atomic_store(&stop, true);
  for (int i = 0; i < READERS; i++) {
    assert_int_equal(pthread_join(tids[i], NULL), 0);
    if (rd[i].bad)
      fail_msg("reader %d: %ld of %ld reads saw no or a torn value", i, rd[i].bad, rd[i].reads);
  }
  lg_hotfile_holder_destroy(&h);
  for (int i = 0; i < NVALUES; i++)
    if (atomic_load(&freed[i]) != 1)
      fail_msg("value %d freed %d times, want 1", i, atomic_load(&freed[i]));
}

static int setup(void **state) {
  (void)state;
  return lgt_temp_dir(dir, "hotfile") != 0 ? -1 : 0;
}

static int teardown(void **state) {
  (void)state;
  lgt_rm_tree(dir);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_watch),           cmocka_unit_test(test_data_link_swap),
      cmocka_unit_test(test_missing_at_init), cmocka_unit_test(test_holder),
      cmocka_unit_test(test_holder_threads),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
