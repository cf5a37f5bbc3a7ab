/* test_electrun.c -- the elector's run loop (src/electrun.c): steps when due, the owner told
 * of each, stopped by the owner's wait. An in-memory Lease API stands in for the cluster. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "electrun.h"

static json_t *stored;

static long api_get(void *ctx, int64_t deadline, json_t **out, char *msg, size_t n) {
  (void)ctx, (void)deadline, (void)msg, (void)n;
  *out = stored ? json_deep_copy(stored) : NULL;
  return stored ? 200 : 404;
}

static long api_write(void *ctx, int64_t deadline, const json_t *lease, json_t **out, char *msg,
                      size_t n) {
  (void)ctx, (void)deadline, (void)msg, (void)n;
  json_decref(stored);
  stored = json_deep_copy(lease);
  *out = json_deep_copy(stored);
  return 200;
}

typedef struct {
  int steps, became;
  int64_t stop_at;
  int waits;
} owner;

static void on_step(void *ud, lg_elector *e, unsigned ev) {
  owner *o = ud;
  (void)e;
  o->steps++;
  if (ev & LG_ELECT_BECAME_LEADER)
    o->became++;
}

static bool wait_until(void *ud, int64_t deadline) {
  owner *o = ud;
  int64_t now = lg_time_mono();
  o->waits++;
  if (now >= o->stop_at)
    return true;
  struct timespec ts = {0, (long)((deadline < o->stop_at ? deadline : o->stop_at) - now) * 1000};
  if (ts.tv_nsec > 0)
    nanosleep(&ts, NULL);
  return lg_time_mono() >= o->stop_at;
}

static void test_loop(void **state) {
  (void)state;
  lg_elector_config cfg = {"ns", "lock", "me_1", 1000000, 800000, 100000, LG_MISBEHAVE_NONE};
  lg_lease_api api = {api_get, api_write, api_write, NULL};
  lg_elector *e;
  char err[128];
  owner o = {0};
  assert_int_equal(lg_elector_new(&cfg, &api, &e, err, sizeof err), LG_OK);
  o.stop_at = lg_time_mono() + 700000; /* 0.7 s: about 5 renewals every 0.1-0.16 s */
  lg_electrun loop = {e, &o, on_step, wait_until, 42};
  lg_electrun_loop(&loop);
  assert_int_equal(o.became, 1);
  assert_true(o.steps >= 2 && o.steps <= 12); /* slower under valgrind */
  assert_true(o.waits >= o.steps - 1);
  assert_true(lg_elector_is_leader(e));
  assert_true(lg_time_mono() >= o.stop_at);
  lg_elector_free(e);
  json_decref(stored);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_loop)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
