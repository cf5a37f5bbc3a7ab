/* test_witness.c -- the memory of lease writes (src/witness.c): sightings, offsets, writers,
 * tombstones, bounded size and eviction, restarts, replicas that each see part of the
 * writes, holders whose clocks jump. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"
#include "witness.h"

#define SEC LG_USEC_PER_SEC
#define T0  INT64_C(1795600800000000) /* 2026-11-25T10:00:00Z */

/* A lease version: holder, duration, renewTime (seconds after T0), transitions. */
typedef struct {
  json_t *obj;
  lg_lease l;
} version;

static void mkv(version *v, const char *holder, int dur, double renew, int transitions) {
  char ts[LG_TIME_BUFLEN], err[128];
  json_t *spec = json_object();
  if (holder)
    json_object_set_new(spec, "holderIdentity", json_string(holder));
  json_object_set_new(spec, "leaseDurationSeconds", json_integer(dur));
  json_object_set_new(spec, "acquireTime", json_string(lg_time_format(T0, ts)));
  json_object_set_new(spec, "renewTime",
                      json_string(lg_time_format(T0 + (lg_time)(renew * SEC), ts)));
  json_object_set_new(spec, "leaseTransitions", json_integer(transitions));
  v->obj =
      json_pack("{s:{s:s,s:s},s:o}", "metadata", "name", "lock", "namespace", "ns", "spec", spec);
  assert_int_equal(lg_lease_decode(v->obj, &v->l, err, sizeof err), LG_OK);
}

static void freev(version *v) { json_decref(v->obj); }

/* Records an allowed UPDATE old -> new by user at true time t (seconds after T0), seen by a
 * webhook whose clock is exact. */
static void write_at(lg_witness *w, const char *name, const version *old_v, const version *new_v,
                     const char *user, double t) {
  lg_verdict verdict = {.allowed = true};
  lg_witness_record(w, &(lg_witness_write){.namespace = "ns",
                                           .name = name,
                                           .op = old_v ? LG_OP_UPDATE : LG_OP_CREATE,
                                           .old_l = old_v ? &old_v->l : NULL,
                                           .new_l = &new_v->l,
                                           .username = user,
                                           .allowed = true,
                                           .verdict = &verdict,
                                           .wall = T0 + (lg_time)(t * SEC),
                                           .mono = (int64_t)(t * SEC)});
}

static lg_evidence ask(lg_witness *w, const char *name, const version *old_v, const char *user,
                       double t) {
  lg_evidence e;
  lg_witness_evidence(w, "ns", name, old_v ? &old_v->l : NULL, NULL, user, (int64_t)(t * SEC), &e);
  return e;
}

static void test_first_sighting_is_kept(void **state) {
  (void)state;
  lg_witness *w = lg_witness_new(64, 64);
  version a0, a1;
  mkv(&a0, "a", 15, 0, 0);
  mkv(&a1, "a", 15, 2, 0);
  write_at(w, "lock", NULL, &a0, "u", 0);
  write_at(w, "lock", &a0, &a1, "u", 2);
  /* the same record written again (a metadata update, here by someone else): client-go keeps
   * its first sighting, and it says nothing of who writes for the holder */
  write_at(w, "lock", &a1, &a1, "annotator", 5);
  lg_evidence e = ask(w, "lock", &a1, "u", 6);
  assert_true(e.seen);
  assert_int_equal(e.seen_age, 4 * SEC);
  assert_false(e.seen_by_controller);
  /* a record never seen here: no sighting, but the holder's offset and writer are known */
  version a9;
  mkv(&a9, "a", 15, 9, 0);
  e = ask(w, "lock", &a9, "u", 10);
  assert_false(e.seen);
  assert_true(e.has_offset);
  assert_int_equal(e.offset, 0);
  assert_int_equal(e.writer, LG_WRITER_SAME);
  assert_true(e.term_seen); /* same holder, acquireTime and transitions: the term was seen */
  assert_int_equal(e.term_seen_age, 8 * SEC);
  e = ask(w, "lock", &a9, "mallory", 10);
  assert_int_equal(e.writer, LG_WRITER_OTHER);
  /* another lease of the same name elsewhere knows nothing */
  e = ask(w, "other", &a1, "u", 6);
  assert_false(e.seen);
  assert_false(e.term_seen);
  freev(&a0);
  freev(&a1);
  freev(&a9);
  lg_witness_free(w);
}

/* Offsets: renewTime - webhook clock, from the holder's own writes; latency only ever lowers
 * a measurement, so a value within 1 s below the known one keeps the known one, while a
 * larger drop is a clock stepping back and replaces it. */
static void test_offsets_and_clock_jumps(void **state) {
  (void)state;
  lg_witness *w = lg_witness_new(64, 64);
  version v[5];
  mkv(&v[0], "fast", 15, 20, 0);   /* at t=0: +20 s */
  mkv(&v[1], "fast", 15, 21.5, 0); /* at t=2: +19.5 s (latency) */
  mkv(&v[2], "fast", 15, 24, 0);   /* at t=4: +20 s */
  mkv(&v[3], "fast", 15, 16, 0);   /* at t=6: +10 s: NTP stepped back 10 s */
  mkv(&v[4], "fast", 15, 48, 0);   /* at t=8: +40 s: stepped forward 30 s */
  write_at(w, "lock", NULL, &v[0], "u", 0);
  assert_int_equal(ask(w, "lock", &v[0], "u", 1).offset, 20 * SEC);
  write_at(w, "lock", &v[0], &v[1], "u", 2);
  assert_int_equal(ask(w, "lock", &v[1], "u", 3).offset, 20 * SEC);
  write_at(w, "lock", &v[1], &v[2], "u", 4);
  write_at(w, "lock", &v[2], &v[3], "u", 6);
  assert_int_equal(ask(w, "lock", &v[3], "u", 7).offset, 10 * SEC);
  write_at(w, "lock", &v[3], &v[4], "u", 8);
  assert_int_equal(ask(w, "lock", &v[4], "u", 9).offset, 40 * SEC);
  /* The term's latest sighting bounds it from below whatever the clock did. */
  assert_int_equal(ask(w, "lock", &v[4], "u", 9).term_seen_age, 1 * SEC);
  /* the election controller stamps on the API server's clock: not the holder's offset */
  version c;
  mkv(&c, "fast", 15, 100, 0);
  lg_verdict verdict = {.allowed = true};
  lg_witness_record(w, &(lg_witness_write){.namespace = "ns",
                                           .name = "lock",
                                           .op = LG_OP_UPDATE,
                                           .old_l = &v[4].l,
                                           .new_l = &c.l,
                                           .username = "system:apiserver",
                                           .controller = true,
                                           .allowed = true,
                                           .verdict = &verdict,
                                           .wall = T0 + 10 * SEC,
                                           .mono = 10 * SEC});
  lg_evidence e = ask(w, "lock", &c, "u", 11);
  assert_int_equal(e.offset, 40 * SEC);
  assert_true(e.seen_by_controller);
  for (int i = 0; i < 5; i++)
    freev(&v[i]);
  freev(&c);
  lg_witness_free(w);
}

/* Denied writes and dry runs are never stored, so they are never remembered. */
static void test_denied_not_remembered(void **state) {
  (void)state;
  lg_witness *w = lg_witness_new(64, 64);
  version a, b;
  mkv(&a, "a", 15, 0, 0);
  mkv(&b, "thief", 15, 1, 1);
  write_at(w, "lock", NULL, &a, "u", 0);
  lg_verdict denied = {.allowed = false};
  lg_witness_record(w, &(lg_witness_write){.namespace = "ns",
                                           .name = "lock",
                                           .op = LG_OP_UPDATE,
                                           .old_l = &a.l,
                                           .new_l = &b.l,
                                           .username = "mallory",
                                           .allowed = false,
                                           .verdict = &denied,
                                           .wall = T0 + SEC,
                                           .mono = SEC});
  lg_evidence e = ask(w, "lock", &b, "mallory", 2);
  assert_false(e.seen);
  assert_false(e.has_offset);
  assert_int_equal(e.writer, LG_WRITER_UNKNOWN);
  freev(&a);
  freev(&b);
  lg_witness_free(w);
}

static void test_tombstones(void **state) {
  (void)state;
  lg_witness *w = lg_witness_new(64, 64);
  version a, b;
  mkv(&a, "a", 15, 0, 0);
  mkv(&b, "b", 15, 3, 0);
  write_at(w, "lock", NULL, &a, "u", 0);
  /* deleted at t=2 while live until t=15 */
  lg_verdict v = {.allowed = true, .old_live = true, .old_expiry = T0 + 15 * SEC};
  lg_witness_record(w, &(lg_witness_write){.namespace = "ns",
                                           .name = "lock",
                                           .op = LG_OP_DELETE,
                                           .old_l = &a.l,
                                           .username = "mallory",
                                           .allowed = true,
                                           .verdict = &v,
                                           .wall = T0 + 2 * SEC,
                                           .mono = 2 * SEC});
  lg_evidence e;
  lg_witness_evidence(w, "ns", "lock", NULL, &b.l, "mallory", 3 * SEC, &e);
  assert_true(e.tombstone);
  assert_int_equal(e.tombstone_left, 12 * SEC);
  assert_false(e.tombstone_same_holder);
  lg_witness_evidence(w, "ns", "lock", NULL, &a.l, "u", 3 * SEC, &e);
  assert_true(e.tombstone_same_holder);
  /* after the term it is gone; the sightings of the deleted lease are forgotten */
  lg_witness_evidence(w, "ns", "lock", NULL, &b.l, "mallory", 15 * SEC, &e);
  assert_false(e.tombstone);
  e = ask(w, "lock", &a, "u", 3);
  assert_false(e.seen);
  /* a create clears it */
  write_at(w, "lock", NULL, &b, "m", 4);
  lg_witness_evidence(w, "ns", "lock", NULL, &b.l, "mallory", 5 * SEC, &e);
  assert_false(e.tombstone);
  /* a delete of an expired lease leaves no tombstone */
  lg_verdict expired = {.allowed = true, .old_live = false};
  lg_witness_record(w, &(lg_witness_write){.namespace = "ns",
                                           .name = "lock",
                                           .op = LG_OP_DELETE,
                                           .old_l = &b.l,
                                           .username = "m",
                                           .allowed = true,
                                           .verdict = &expired,
                                           .wall = T0 + 30 * SEC,
                                           .mono = 30 * SEC});
  lg_witness_evidence(w, "ns", "lock", NULL, &a.l, "u", 31 * SEC, &e);
  assert_false(e.tombstone);
  freev(&a);
  freev(&b);
  lg_witness_free(w);
}

/* The tables never grow past their capacity: the least recently written go first. */
static void test_bounded_and_evicts(void **state) {
  (void)state;
  lg_witness *w = lg_witness_new(16, 16);
  lg_witness_stats st;
  version v;
  char name[32], holder[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(name, sizeof name, "lease-%d", i);
    snprintf(holder, sizeof holder, "holder-%d", i);
    mkv(&v, holder, 15, i, 0);
    write_at(w, name, NULL, &v, "u", i);
    freev(&v);
    /* lease-0 is written again and again: it stays */
    mkv(&v, "holder-0", 15, i, 0);
    write_at(w, "lease-0", NULL, &v, "u", i);
    if (i < 999)
      freev(&v);
  }
  lg_witness_get_stats(w, &st);
  assert_int_equal(st.leases, 16);
  assert_int_equal(st.holders, 16);
  assert_int_equal(st.max_leases, 16);
  assert_true(st.evictions >= 2 * (1000 - 16));
  assert_true(ask(w, "lease-0", &v, "u", 1000).seen);
  freev(&v);
  mkv(&v, "holder-5", 15, 5, 0);
  assert_false(ask(w, "lease-5", &v, "u", 1000).seen); /* evicted */
  assert_false(ask(w, "lease-5", &v, "u", 1000).has_offset);
  freev(&v);
  mkv(&v, "holder-998", 15, 998, 0);
  assert_true(ask(w, "lease-998", &v, "u", 1000).seen);
  freev(&v);
  lg_witness_free(w);
}

/* Keys are digests: any length and any bytes cost the same fixed entry. */
static void test_long_and_odd_keys(void **state) {
  (void)state;
  lg_witness *w = lg_witness_new(16, 16);
  size_t n = 1 << 20;
  char *big = malloc(n + 1);
  version v, v2;
  assert_non_null(big);
  memset(big, 'h', n);
  big[n] = '\0';
  mkv(&v, big, 15, 0, 0);
  write_at(w, "lock", NULL, &v, big, 0);
  assert_true(ask(w, "lock", &v, big, 1).seen);
  big[n - 1] = 'x'; /* one byte apart: another holder */
  mkv(&v2, big, 15, 0, 0);
  assert_false(ask(w, "lock", &v2, "u", 1).seen);
  /* "ns/a" + "b" and "ns" + "a/b" are different leases */
  lg_evidence e;
  lg_witness_evidence(w, "ns/lock", "", &v.l, NULL, "u", SEC, &e);
  assert_false(e.seen);
  freev(&v);
  freev(&v2);
  free(big);
  lg_witness_free(w);
}

/* A restart forgets everything: the rules fall back to renewTime (see test_fidelity). */
static void test_restart_forgets(void **state) {
  (void)state;
  lg_witness *w = lg_witness_new(64, 64);
  version a;
  mkv(&a, "a", 15, 0, 0);
  write_at(w, "lock", NULL, &a, "u", 0);
  lg_witness_free(w);
  w = lg_witness_new(64, 64);
  lg_evidence e = ask(w, "lock", &a, "u", 1);
  assert_false(e.seen || e.has_offset || e.term_seen || e.writer != LG_WRITER_UNKNOWN);
  lg_witness_free(w);
  lg_witness_evidence(NULL, "ns", "lock", &a.l, NULL, "u", 0, &e); /* no witness: nothing */
  assert_false(e.seen);
  freev(&a);
}

/* Two replicas, each seeing every other write: a record one did not see is judged from the
 * holder's offset, which transfers. */
static void test_two_replicas(void **state) {
  (void)state;
  lg_witness *r[2] = {lg_witness_new(64, 64), lg_witness_new(64, 64)};
  version v[10];
  for (int i = 0; i < 10; i++) {
    mkv(&v[i], "a", 15, 2 * i + 7, 0); /* the holder's clock is 7 s ahead */
    write_at(r[i % 2], "lock", i ? &v[i - 1] : NULL, &v[i], "u", 2 * i);
  }
  for (int k = 0; k < 2; k++) {
    lg_evidence e = ask(r[k], "lock", &v[9], "u", 19);
    assert_int_equal(e.seen, k == 1);
    assert_true(e.has_offset);
    assert_int_equal(e.offset, 7 * SEC);
    assert_true(e.term_seen);
    assert_int_equal(e.term_seen_age, k == 1 ? 1 * SEC : 3 * SEC);
  }
  for (int i = 0; i < 10; i++)
    freev(&v[i]);
  lg_witness_free(r[0]);
  lg_witness_free(r[1]);
}

/* The median offset of recently measured holders: every writer off by the same amount
 * means the webhook's own clock is off. */
static void test_median_offset(void **state) {
  (void)state;
  lg_witness *w = lg_witness_new(64, 64);
  size_t n;
  assert_int_equal(lg_witness_median_offset(w, 0, 600 * SEC, &n), 0);
  assert_int_equal(n, 0);
  const double offs[] = {-40, -41, -39, -40, 5};
  for (int i = 0; i < 5; i++) {
    char h[16];
    version v;
    snprintf(h, sizeof h, "h%d", i);
    mkv(&v, h, 15, 100 + offs[i], 0);
    write_at(w, h, NULL, &v, "u", 100);
    freev(&v);
  }
  assert_int_equal(lg_witness_median_offset(w, 101 * SEC, 600 * SEC, &n), -40 * SEC);
  assert_int_equal(n, 5);
  /* measurements older than the window do not count */
  assert_int_equal(lg_witness_median_offset(w, 1000 * SEC, 600 * SEC, &n), 0);
  assert_int_equal(n, 0);
  lg_witness_free(w);
}

typedef struct {
  lg_witness *w;
  int id;
} worker_arg;

static void *worker(void *p) {
  worker_arg *a = p;
  char name[32];
  for (int i = 0; i < 2000; i++) {
    version v;
    snprintf(name, sizeof name, "l%d-%d", a->id, i % 50);
    mkv(&v, name, 15, i, 0);
    write_at(a->w, name, NULL, &v, "u", i);
    (void)ask(a->w, name, &v, "u", i);
    freev(&v);
  }
  return NULL;
}

/* Request threads share one witness. */
static void test_threads(void **state) {
  (void)state;
  lg_witness *w = lg_witness_new(64, 64);
  pthread_t t[4];
  worker_arg args[4];
  lg_witness_stats st;
  for (int i = 0; i < 4; i++) {
    args[i] = (worker_arg){w, i};
    assert_int_equal(pthread_create(&t[i], NULL, worker, &args[i]), 0);
  }
  for (int i = 0; i < 4; i++)
    pthread_join(t[i], NULL);
  lg_witness_get_stats(w, &st);
  assert_int_equal(st.leases, 64);
  lg_witness_free(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_first_sighting_is_kept), cmocka_unit_test(test_offsets_and_clock_jumps),
      cmocka_unit_test(test_denied_not_remembered),  cmocka_unit_test(test_tombstones),
      cmocka_unit_test(test_bounded_and_evicts),     cmocka_unit_test(test_long_and_odd_keys),
      cmocka_unit_test(test_restart_forgets),        cmocka_unit_test(test_two_replicas),
      cmocka_unit_test(test_median_offset),          cmocka_unit_test(test_threads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
