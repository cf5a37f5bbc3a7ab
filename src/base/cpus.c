/* cpus.c -- the CPUs a pod really has, for `serve --threads=0`: a container sees every CPU
 * of its node, but its cgroup's CPU quota is what it may use. */
#define _GNU_SOURCE
#include "cpus.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Quota and period in microseconds to CPUs, rounded up; quota < 0 is no limit. */
static lg_rc to_cpus(long long quota, long long period, unsigned *cpus) {
  long long n;
  if (period <= 0)
    return LG_EINVAL;
  if (quota < 0) {
    *cpus = 0;
    return LG_OK;
  }
  n = quota / period + (quota % period != 0);
  *cpus = n < 1 ? 1 : n > UINT_MAX ? UINT_MAX : (unsigned)n;
  return LG_OK;
}

/* A whole decimal number, surrounding white space allowed. */
static int read_ll(const char *s, const char **end, long long *v) {
  char *e;
  errno = 0;
  *v = strtoll(s, &e, 10);
  if (e == s || errno == ERANGE)
    return -1;
  *end = e;
  return 0;
}

lg_rc lg_cpus_parse_max(const char *text, unsigned *cpus) {
  const char *p = text;
  long long quota = -1, period;

  if (!text)
    return LG_EINVAL;
  while (*p == ' ' || *p == '\t')
    p++;
  if (!strncmp(p, "max", 3))
    p += 3;
  else if (read_ll(p, &p, &quota) || quota <= 0)
    return LG_EINVAL;
  if ((*p != ' ' && *p != '\t') || read_ll(p, &p, &period))
    return LG_EINVAL;
  while (*p == ' ' || *p == '\t' || *p == '\n')
    p++;
  return *p ? LG_EINVAL : to_cpus(quota, period, cpus);
}

lg_rc lg_cpus_parse_cfs(const char *quota_s, const char *period_s, unsigned *cpus) {
  const char *e1, *e2;
  long long quota, period;

  if (!quota_s || !period_s || read_ll(quota_s, &e1, &quota) || read_ll(period_s, &e2, &period))
    return LG_EINVAL;
  e1 += strspn(e1, " \t\n");
  e2 += strspn(e2, " \t\n");
  if (*e1 || *e2 || quota == 0 || quota < -1)
    return LG_EINVAL;
  return to_cpus(quota, period, cpus);
}

/* The first line of a small file, or "" when it cannot be read. */
static void read_line(const char *path, char *buf, size_t len) {
  FILE *f = fopen(path, "r");
  buf[0] = '\0';
  if (f) {
    if (!fgets(buf, (int)len, f))
      buf[0] = '\0';
    fclose(f);
  }
}

/* Keeps the smaller non-zero limit. */
static unsigned tighter(unsigned a, unsigned b) { return !a ? b : !b ? a : a < b ? a : b; }

/* Walks dir (under base) up to base, reading the quota of each level. */
static unsigned walk(const char *base, const char *dir, int v2) {
  char rel[PATH_MAX], path[PATH_MAX], a[64], b[64];
  unsigned limit = 0, cpus;
  char *slash;

  if (snprintf(rel, sizeof rel, "%s", dir) >= (int)sizeof rel)
    return 0;
  for (;;) {
    size_t n = strlen(rel);
    while (n && rel[n - 1] == '/')
      rel[--n] = '\0';
    if (v2) {
      snprintf(path, sizeof path, "%s%s/cpu.max", base, rel);
      read_line(path, a, sizeof a);
      if (lg_cpus_parse_max(a, &cpus) == LG_OK)
        limit = tighter(limit, cpus);
    } else {
      snprintf(path, sizeof path, "%s%s/cpu.cfs_quota_us", base, rel);
      read_line(path, a, sizeof a);
      snprintf(path, sizeof path, "%s%s/cpu.cfs_period_us", base, rel);
      read_line(path, b, sizeof b);
      if (lg_cpus_parse_cfs(a, b, &cpus) == LG_OK)
        limit = tighter(limit, cpus);
    }
    if (!n || !(slash = strrchr(rel, '/')))
      break;
    *slash = '\0';
  }
  return limit;
}

unsigned lg_cpus_quota(const char *root, const char *self_cgroup) {
  FILE *f = fopen(self_cgroup, "r");
  char line[PATH_MAX + 128], base[PATH_MAX];
  unsigned limit = 0;

  if (!f)
    return 0;
  /* "0::/path" is the cgroup v2 hierarchy; "N:cpu,cpuacct:/path" a v1 one with the cpu
   * controller, mounted at root/cpu,cpuacct. */
  while (fgets(line, sizeof line, f)) {
    char *ctl = strchr(line, ':'), *dir = ctl ? strchr(ctl + 1, ':') : NULL;
    if (!dir)
      continue;
    *dir++ = '\0';
    *ctl++ = '\0';
    dir[strcspn(dir, "\n")] = '\0';
    if (!strcmp(line, "0") && !*ctl) {
      limit = tighter(limit, walk(root, dir, 1));
      continue;
    }
    for (char *c = ctl, *next; c && *c; c = next) {
      next = strchr(c, ',');
      if ((next ? (size_t)(next - c) : strlen(c)) == 3 && !strncmp(c, "cpu", 3)) {
        if (snprintf(base, sizeof base, "%s/%s", root, ctl) < (int)sizeof base)
          limit = tighter(limit, walk(base, dir, 0));
        break;
      }
      if (next)
        next++;
    }
  }
  fclose(f);
  return limit;
}

unsigned lg_cpus_usable(unsigned *quota) {
  cpu_set_t set;
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  unsigned cpus = online > 0 ? (unsigned)online : 1, q;

  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    cpus = (unsigned)CPU_COUNT(&set);
  q = lg_cpus_quota("/sys/fs/cgroup", "/proc/self/cgroup");
  if (quota)
    *quota = q;
  return q && q < cpus ? q : cpus;
}
