/* test_leasecache.c -- the fence's view of each lease (src/leasecache.c): committed versions,
 * admitted ones that the watch has not shown yet, deletions, bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leasecache.h"

#define SEC LG_USEC_PER_SEC

static lg_lease mk(const char *holder, int64_t transitions, lg_time renew) {
  lg_lease l = {0};
  l.holder = holder;
  l.has_duration = true;
  l.duration = 15;
  l.has_renew = true;
  l.renew = renew;
  l.has_transitions = true;
  l.transitions = transitions;
  return l;
}

static void expect(lg_leasecache *c, const char *name, int64_t mono, lg_leasecache_hit want,
                   const char *holder, int64_t transitions) {
  lg_leasecache_entry e;
  lg_leasecache_hit h = lg_leasecache_get(c, "ns", name, mono, &e, NULL);
  assert_int_equal(h, want);
  if (h == LG_LEASECACHE_FOUND) {
    assert_string_equal(e.holder, holder);
    assert_int_equal(e.transitions, transitions);
  }
  lg_leasecache_entry_clear(&e);
}

static void test_committed_and_admitted(void **state) {
  (void)state;
  lg_leasecache *c = lg_leasecache_new(64, 5 * SEC);
  lg_lease a = mk("a", 3, 100), b = mk("b", 4, 200), a_renewed = mk("a", 3, 150);
  expect(c, "lock", 0, LG_LEASECACHE_MISS, NULL, 0);
  lg_leasecache_put(c, "ns", "lock", &a, 0);
  expect(c, "lock", SEC, LG_LEASECACHE_FOUND, "a", 3);
  /* a takeover admitted here: the fence sees it before the watch does */
  lg_leasecache_admitted(c, "ns", "lock", &b, 2 * SEC);
  expect(c, "lock", 3 * SEC, LG_LEASECACHE_FOUND, "b", 4);
  /* a late watch event of an older version does not hide it */
  lg_leasecache_put(c, "ns", "lock", &a_renewed, 3 * SEC);
  expect(c, "lock", 4 * SEC, LG_LEASECACHE_FOUND, "b", 4);
  /* never confirmed (it failed with 409): after the ttl the committed version counts */
  expect(c, "lock", 8 * SEC, LG_LEASECACHE_FOUND, "a", 3);
  /* confirmed by the watch */
  lg_leasecache_admitted(c, "ns", "lock", &b, 9 * SEC);
  lg_leasecache_put(c, "ns", "lock", &b, 9 * SEC + 1000);
  expect(c, "lock", 30 * SEC, LG_LEASECACHE_FOUND, "b", 4);
  /* deleted */
  lg_leasecache_delete(c, "ns", "lock", 31 * SEC);
  expect(c, "lock", 32 * SEC, LG_LEASECACHE_ABSENT, NULL, 0);
  lg_leasecache_put(c, "ns", "lock", &a, 33 * SEC);
  expect(c, "lock", 34 * SEC, LG_LEASECACHE_FOUND, "a", 3);
  lg_leasecache_free(c);
}

static void test_as_lease_and_bounds(void **state) {
  (void)state;
  lg_leasecache *c = lg_leasecache_new(16, SEC);
  char name[32];
  for (int i = 0; i < 100; i++) {
    lg_lease l = mk("h", i, i);
    snprintf(name, sizeof name, "l%d", i);
    lg_leasecache_put(c, "ns", name, &l, i);
  }
  assert_int_equal(lg_leasecache_size(c), 16);
  expect(c, "l0", 100, LG_LEASECACHE_MISS, NULL, 0);
  expect(c, "l99", 100, LG_LEASECACHE_FOUND, "h", 99);
  /* a holder too long for any token is kept cut */
  char *big = malloc(5000);
  memset(big, 'x', 4999);
  big[4999] = '\0';
  lg_lease l = mk(big, 1, 1);
  lg_leasecache_put(c, "ns", "big", &l, 200);
  lg_leasecache_entry e;
  assert_int_equal(lg_leasecache_get(c, "ns", "big", 200, &e, NULL), LG_LEASECACHE_FOUND);
  assert_int_equal(strlen(e.holder), 1025);
  lg_lease v;
  lg_leasecache_as_lease(&e, "ns", "big", &v);
  assert_true(v.has_renew && v.has_duration && v.transitions == 1);
  lg_leasecache_entry_clear(&e);
  free(big);
  /* names beyond Kubernetes' lengths are not kept */
  char longname[400];
  memset(longname, 'n', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  lg_leasecache_put(c, "ns", longname, &l, 300);
  assert_int_equal(lg_leasecache_get(c, "ns", longname, 300, &e, NULL), LG_LEASECACHE_MISS);
  lg_leasecache_set_synced(c, true, 5);
  int64_t since;
  assert_true(lg_leasecache_synced(c, &since));
  assert_int_equal(since, 5);
  lg_leasecache_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_committed_and_admitted),
      cmocka_unit_test(test_as_lease_and_bounds),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
