/* cpus.h -- how many CPUs this process may use: its affinity mask capped by the CPU quota
 * of its cgroup (v2 cpu.max, or v1 cpu.cfs_quota_us / cpu.cfs_period_us). */
#ifndef LG_CPUS_H
#define LG_CPUS_H

#include "rc.h"

/* Parses a cgroup v2 cpu.max ("max 100000" or "150000 100000"): *cpus is the quota in
 * CPUs rounded up, or 0 for no limit. LG_EINVAL when text is not that format. */
lg_rc lg_cpus_parse_max(const char *text, unsigned *cpus);

/* Parses cgroup v1 cpu.cfs_quota_us and cpu.cfs_period_us: the same as lg_cpus_parse_max
 * ("-1" is no limit). */
lg_rc lg_cpus_parse_cfs(const char *quota, const char *period, unsigned *cpus);

/* The smallest CPU quota, in CPUs rounded up, of the cgroup that self_cgroup (a copy of
 * /proc/self/cgroup) names and of its ancestors, read under root (/sys/fs/cgroup);
 * 0 when none is limited or nothing can be read. */
unsigned lg_cpus_quota(const char *root, const char *self_cgroup);

/* CPUs this process may run on (its affinity mask), capped by its cgroup's quota; at
 * least 1. *quota is the cap found (0 for none). */
unsigned lg_cpus_usable(unsigned *quota);

#endif
