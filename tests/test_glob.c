/* test_glob.c -- the policy's globs (src/glob.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "glob.h"

static void test_globs(void **state) {
  (void)state;
  const char *const g[] = {"system:serviceaccount:team-*", "kube-system", "a?c", "[xy]z"};
  assert_true(lg_glob_any(g, 4, "system:serviceaccount:team-a:ctl"));
  assert_true(lg_glob_any(g, 4, "kube-system"));
  assert_false(lg_glob_any(g, 4, "kube-system2"));
  assert_true(lg_glob_any(g, 4, "abc"));
  assert_true(lg_glob_any(g, 4, "yz"));
  assert_false(lg_glob_any(g, 4, ""));
  assert_false(lg_glob_any(g, 4, NULL));
  assert_false(lg_glob_any(g, 0, "kube-system"));
  const char *const star[] = {"*"};
  assert_true(lg_glob_any(star, 1, NULL)); /* NULL reads as "" */
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_globs)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
