/* test_clockcheck.c -- this webhook's clock judged by the writers' offsets
 * (src/clockcheck.c), and the metrics that show them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clockcheck.h"

#define SEC LG_USEC_PER_SEC
#define T0  INT64_C(1795600800000000)

/* A holder h renewing at true time t with a clock off by off seconds. */
static void renew(lg_witness *w, const char *h, double t, double off) {
  lg_lease l = {0};
  lg_verdict v = {.allowed = true};
  l.holder = h;
  l.has_duration = true;
  l.duration = 15;
  l.has_renew = true;
  l.renew = T0 + (lg_time)((t + off) * SEC);
  lg_witness_record(w, &(lg_witness_write){.namespace = "ns",
                                           .name = h,
                                           .op = LG_OP_CREATE,
                                           .new_l = &l,
                                           .username = "u",
                                           .allowed = true,
                                           .verdict = &v,
                                           .wall = T0 + (lg_time)(t * SEC),
                                           .mono = (int64_t)(t * SEC)});
}

static void test_webhook_clock(void **state) {
  (void)state;
  lg_witness *w = lg_witness_new(64, 64);
  lg_metrics *m = lg_metrics_new(false);
  lg_clockcheck c = {0};
  const lg_time skew = 30 * SEC;
  char *text;
  /* two writers 40 s off: too few to say */
  renew(w, "a", 0, 40);
  renew(w, "b", 0, 41);
  assert_false(lg_clockcheck_tick(&c, w, m, skew, SEC));
  /* three, and one sane: the median is past the budget: this webhook's clock is off */
  renew(w, "c", 0, 39);
  renew(w, "d", 0, 0.1);
  renew(w, "e", 0, 40.5);
  assert_true(lg_clockcheck_tick(&c, w, m, skew, SEC));
  lg_metrics_writer_offset(m, 40);
  lg_metrics_writer_offset(m, -0.1);
  text = lg_metrics_render(m, T0);
  assert_non_null(strstr(text, "leaseguard_writer_clock_offset_median_seconds 40\n"));
  assert_non_null(strstr(text, "leaseguard_writer_clock_offset_seconds_bucket{le=\"-0.25\"} 0\n"));
  assert_non_null(strstr(text, "leaseguard_writer_clock_offset_seconds_bucket{le=\"0\"} 1\n"));
  assert_non_null(strstr(text, "leaseguard_writer_clock_offset_seconds_bucket{le=\"30\"} 1\n"));
  assert_non_null(strstr(text, "leaseguard_writer_clock_offset_seconds_bucket{le=\"60\"} 2\n"));
  assert_non_null(strstr(text, "leaseguard_writer_clock_offset_seconds_count 2\n"));
  assert_non_null(strstr(text, "leaseguard_lease_memory_entries{table=\"leases\"} 5\n"));
  free(text);
  /* ten minutes later the measurements are old: nothing to say */
  assert_false(lg_clockcheck_tick(&c, w, m, skew, 700 * SEC));
  /* writers agreeing with us */
  for (int i = 0; i < 5; i++) {
    char h[8];
    snprintf(h, sizeof h, "h%d", i);
    renew(w, h, 800, i * 0.5 - 1);
  }
  assert_false(lg_clockcheck_tick(&c, w, m, skew, 801 * SEC));
  text = lg_metrics_render(m, T0);
  assert_non_null(strstr(text, "leaseguard_writer_clock_offset_median_seconds 0\n"));
  free(text);
  lg_metrics_free(m);
  lg_witness_free(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_webhook_clock)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
