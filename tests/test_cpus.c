/* test_cpus.c -- the CPU quota behind `serve --threads=0` (src/cpus.c): cpu.max and the
 * v1 CFS files, read from a fake /sys/fs/cgroup and /proc/self/cgroup. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cpus.h"
#include "harness.h"

static unsigned max_of(const char *text) {
  unsigned cpus = 12345;
  assert_int_equal(lg_cpus_parse_max(text, &cpus), LG_OK);
  return cpus;
}

static void test_parse_max(void **state) {
  unsigned cpus;
  (void)state;
  assert_int_equal(max_of("max 100000\n"), 0);
  assert_int_equal(max_of("100000 100000\n"), 1);
  assert_int_equal(max_of("150000 100000"), 2); /* 1.5 CPUs: two threads */
  assert_int_equal(max_of("200000 100000\n"), 2);
  assert_int_equal(max_of("1000 100000\n"), 1); /* 10 millicores: still one thread */
  assert_int_equal(max_of("400000 50000\n"), 8);
  assert_int_equal(lg_cpus_parse_max("", &cpus), LG_EINVAL);
  assert_int_equal(lg_cpus_parse_max("max", &cpus), LG_EINVAL);
  assert_int_equal(lg_cpus_parse_max("100000", &cpus), LG_EINVAL);
  assert_int_equal(lg_cpus_parse_max("max100000", &cpus), LG_EINVAL);
  assert_int_equal(lg_cpus_parse_max("0 100000", &cpus), LG_EINVAL);
  assert_int_equal(lg_cpus_parse_max("-5 100000", &cpus), LG_EINVAL);
  assert_int_equal(lg_cpus_parse_max("100000 0", &cpus), LG_EINVAL);
  assert_int_equal(lg_cpus_parse_max("100000 100000 7", &cpus), LG_EINVAL);
  assert_int_equal(lg_cpus_parse_max("99999999999999999999999 100000", &cpus), LG_EINVAL);
  assert_int_equal(lg_cpus_parse_max(NULL, &cpus), LG_EINVAL);
}

static void test_parse_cfs(void **state) {
  unsigned cpus = 99;
  (void)state;
  assert_int_equal(lg_cpus_parse_cfs("-1\n", "100000\n", &cpus), LG_OK);
  assert_int_equal(cpus, 0);
  assert_int_equal(lg_cpus_parse_cfs("250000\n", "100000\n", &cpus), LG_OK);
  assert_int_equal(cpus, 3);
  assert_int_equal(lg_cpus_parse_cfs("", "100000", &cpus), LG_EINVAL);
  assert_int_equal(lg_cpus_parse_cfs("0", "100000", &cpus), LG_EINVAL);
  assert_int_equal(lg_cpus_parse_cfs("50000", "0", &cpus), LG_EINVAL);
  assert_int_equal(lg_cpus_parse_cfs("5x", "100000", &cpus), LG_EINVAL);
}

static char root[512];

static void put(const char *rel, const char *text) {
  char path[1024], dir[1024], *slash;
  snprintf(path, sizeof path, "%s/%s", root, rel);
  snprintf(dir, sizeof dir, "%s", path);
  for (char *p = dir + strlen(root) + 1; (slash = strchr(p, '/')); p = slash + 1) {
    *slash = '\0';
    mkdir(dir, 0755);
    *slash = '/';
  }
  lgt_write_file(path, text);
}

static int setup(void **state) {
  (void)state;
  return lgt_temp_dir(root, "cpus");
}

static int teardown(void **state) {
  (void)state;
  lgt_rm_tree(root);
  return 0;
}

/* cgroup v2: the tightest limit from the container's cgroup up to the root counts. */
static void test_v2_hierarchy(void **state) {
  char fs[600], self[600];
  (void)state;
  /* The fake /sys/fs/cgroup is root/fs; the fake /proc/self/cgroup root/self-cgroup. */
  snprintf(fs, sizeof fs, "%s/fs", root);
  snprintf(self, sizeof self, "%s/self-cgroup", root);
  put("self-cgroup", "0::/kubepods/burstable/pod1/c1\n");
  assert_int_equal(lg_cpus_quota(fs, self), 0); /* nothing to read: no limit */
  put("fs/kubepods/burstable/pod1/c1/cpu.max", "max 100000\n");
  put("fs/kubepods/burstable/pod1/cpu.max", "max 100000\n");
  put("fs/kubepods/cpu.max", "max 100000\n");
  put("fs/cpu.max", "garbage\n");
  assert_int_equal(lg_cpus_quota(fs, self), 0);
  put("fs/kubepods/burstable/pod1/c1/cpu.max", "150000 100000\n");
  assert_int_equal(lg_cpus_quota(fs, self), 2);
  put("fs/kubepods/burstable/pod1/cpu.max", "100000 100000\n"); /* the pod's is tighter */
  assert_int_equal(lg_cpus_quota(fs, self), 1);
  put("fs/kubepods/burstable/pod1/cpu.max", "800000 100000\n");
  put("fs/kubepods/cpu.max", "400000 100000\n");
  assert_int_equal(lg_cpus_quota(fs, self), 2);
  /* With a cgroup namespace the process sees itself at the root. */
  put("self-cgroup", "0::/\n");
  put("fs/cpu.max", "300000 100000\n");
  assert_int_equal(lg_cpus_quota(fs, self), 3);
}

/* cgroup v1: the cpu controller's hierarchy, mounted as cpu,cpuacct. */
static void test_v1(void **state) {
  char fs[600], self[600];
  (void)state;
  snprintf(fs, sizeof fs, "%s/fs", root);
  snprintf(self, sizeof self, "%s/self-cgroup", root);
  put("self-cgroup", "12:memory:/kubepods/pod2/c2\n4:cpu,cpuacct:/kubepods/pod2/c2\n"
                     "1:name=systemd:/kubepods/pod2/c2\n");
  put("fs/cpu,cpuacct/kubepods/pod2/c2/cpu.cfs_quota_us", "-1\n");
  put("fs/cpu,cpuacct/kubepods/pod2/c2/cpu.cfs_period_us", "100000\n");
  assert_int_equal(lg_cpus_quota(fs, self), 0);
  put("fs/cpu,cpuacct/kubepods/pod2/c2/cpu.cfs_quota_us", "50000\n");
  assert_int_equal(lg_cpus_quota(fs, self), 1);
  /* "cpuacct" alone is not the cpu controller. */
  put("self-cgroup", "4:cpuacct:/kubepods/pod2/c2\n");
  put("fs/cpuacct/kubepods/pod2/c2/cpu.cfs_quota_us", "50000\n");
  put("fs/cpuacct/kubepods/pod2/c2/cpu.cfs_period_us", "100000\n");
  assert_int_equal(lg_cpus_quota(fs, self), 0);
}

/* No /proc/self/cgroup (not Linux, or no access): no limit. */
static void test_unreadable(void **state) {
  (void)state;
  assert_int_equal(lg_cpus_quota(root, "/nonexistent/self-cgroup"), 0);
}

/* On this machine: at least one CPU, never more than the affinity mask allows. */
static void test_usable(void **state) {
  unsigned q = 77, n = lg_cpus_usable(&q);
  (void)state;
  assert_true(n >= 1);
  assert_true(q == 0 || n <= q);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_max),
      cmocka_unit_test(test_parse_cfs),
      cmocka_unit_test_setup_teardown(test_v2_hierarchy, setup, teardown),
      cmocka_unit_test_setup_teardown(test_v1, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unreadable, setup, teardown),
      cmocka_unit_test(test_usable),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
