/* test_policywatch.c -- the policy in force (policywatch.c): loaded at start, reloaded when its
 * file changes or on demand, kept when the new file is broken or gone, held by requests across
 * a reload, every attempt counted. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "metrics.h"
#include "policywatch.h"

#define POLICY(mode)                                                                            \
  "{\"apiVersion\":\"leaseguard.io/v1alpha1\",\"kind\":\"LeasePolicy\",\"defaultMode\":\"" mode \
  "\"}\n"

static char dir[LGT_PATH_LEN], path[LGT_PATH_LEN];

/* The mode the policy of r gives the holder-renew rule. */
static lg_mode mode_of(lg_policy_ref *r) {
  lg_rule_config cfg;
  assert_non_null(r);
  lg_policy_resolve(lg_policy_ref_get(r), LG_MODE_INHERIT, "team-a", "lock", "user", &cfg);
  return cfg.mode[LG_RULE_HOLDER_RENEW];
}

/* Replaces the file by a rename, so that its inode changes (as a ConfigMap update does). */
static void write_policy(const char *text) {
  char tmp[LGT_PATH_LEN + 8];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  lgt_write_file(tmp, text);
  assert_int_equal(rename(tmp, path), 0);
}

static void expect_counts(lg_metrics *m, int ok, int failed) {
  char *text = lg_metrics_render(m, 0);
  char want[3][160];
  snprintf(want[0], sizeof want[0],
           "leaseguard_file_reloads_total{file=\"policy\",result=\"success\"} %d\n", ok);
  snprintf(want[1], sizeof want[1],
           "leaseguard_file_reloads_total{file=\"policy\",result=\"failure\"} %d\n", failed);
  snprintf(want[2], sizeof want[2], "leaseguard_policy_reloads_total{result=\"failure\"} %d\n",
           failed);
  for (int i = 0; i < 3; i++)
    if (!strstr(text, want[i]))
      fail_msg("no \"%s\" in:\n%s", want[i], text);
  free(text);
}

static void test_builtin(void **state) {
  lg_policywatch *w = NULL;
  char err[256];
  lg_policy_ref *r;
  (void)state;
  assert_int_equal(lg_policywatch_new(NULL, NULL, &w, err, sizeof err), LG_OK);
  assert_true(lg_policywatch_loaded(w));
  r = lg_policywatch_acquire(w);
  assert_int_equal(mode_of(r), LG_MODE_ENFORCE);
  lg_policywatch_reload_if_changed(w, true); /* nothing to reload: logged, kept */
  lg_policy_ref_release(r);
  lg_policywatch_free(w);
  lg_policywatch_free(NULL);
  lg_policy_ref_release(NULL);
}

static void test_bad_first_file(void **state) {
  lg_policywatch *w = (lg_policywatch *)1;
  char err[512] = "", missing[LGT_PATH_LEN];
  (void)state;
  lgt_path(missing, dir, "missing.json");
  assert_int_not_equal(lg_policywatch_new(missing, NULL, &w, err, sizeof err), LG_OK);
  assert_null(w);
  assert_non_null(strstr(err, "missing.json"));
  write_policy(POLICY("block"));
  assert_int_not_equal(lg_policywatch_new(path, NULL, &w, err, sizeof err), LG_OK);
  assert_null(w);
  assert_non_null(strstr(err, "defaultMode"));
}

static void test_reloads(void **state) {
  lg_metrics *m = lg_metrics_new(false);
  lg_policywatch *w = NULL;
  lg_policy_ref *held, *now;
  char err[256];
  (void)state;

  write_policy(POLICY("warn"));
  assert_int_equal(lg_policywatch_new(path, m, &w, err, sizeof err), LG_OK);
  held = lg_policywatch_acquire(w);
  assert_int_equal(mode_of(held), LG_MODE_WARN);

  /* Unchanged: no reload, unless forced. */
  lg_policywatch_reload_if_changed(w, false);
  expect_counts(m, 0, 0);
  lg_policywatch_reload_if_changed(w, true);
  expect_counts(m, 1, 0);

  /* Changed: the new policy for new holders; the held one stays valid. */
  write_policy(POLICY("audit"));
  lg_policywatch_reload_if_changed(w, false);
  expect_counts(m, 2, 0);
  now = lg_policywatch_acquire(w);
  assert_int_equal(mode_of(now), LG_MODE_AUDIT);
  assert_int_equal(mode_of(held), LG_MODE_WARN);
  lg_policy_ref_release(held);
  lg_policy_ref_release(now);

  /* Broken: refused and counted; the current one stays. */
  write_policy("{not json");
  lg_policywatch_reload_if_changed(w, false);
  expect_counts(m, 2, 1);
  now = lg_policywatch_acquire(w);
  assert_int_equal(mode_of(now), LG_MODE_AUDIT);
  lg_policy_ref_release(now);

  /* Gone: counted once while it stays gone, again when forced. */
  assert_int_equal(unlink(path), 0);
  lg_policywatch_reload_if_changed(w, false);
  lg_policywatch_reload_if_changed(w, false);
  expect_counts(m, 2, 2);
  lg_policywatch_reload_if_changed(w, true);
  expect_counts(m, 2, 3);
  assert_true(lg_policywatch_loaded(w));

  /* Back and valid. */
  write_policy(POLICY("enforce"));
  lg_policywatch_reload_if_changed(w, false);
  expect_counts(m, 3, 3);
  now = lg_policywatch_acquire(w);
  assert_int_equal(mode_of(now), LG_MODE_ENFORCE);
  lg_policy_ref_release(now);
  lg_policywatch_free(w);
  lg_metrics_free(m);
}

static int setup(void **state) {
  (void)state;
  if (lgt_temp_dir(dir, "policywatch") != 0)
    return -1;
  lgt_path(path, dir, "policy.json");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  lgt_rm_tree(dir);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_builtin),
      cmocka_unit_test(test_bad_first_file),
      cmocka_unit_test(test_reloads),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
