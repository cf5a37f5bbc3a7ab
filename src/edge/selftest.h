/* selftest.h -- `leaseguard selftest`: drive electors against a live API server with the
 * webhook installed, and check that good elections pass and bad writes are stopped. */
#ifndef LG_SELFTEST_H
#define LG_SELFTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kube.h"
#include "rules.h"
#include "rc.h"

typedef struct {
  const lg_kube_config *kube;                           /* API access (borrowed) */
  const char *namespace;                                /* where the scratch leases go */
  const char *prefix;                                   /* scratch lease names start with it */
  int64_t lease_duration, renew_deadline, retry_period; /* microseconds */
  lg_mode expect;                     /* enforce: bad writes denied; warn/audit: let through */
  void (*progress)(const char *line); /* called as each scenario ends; may be NULL */
  int64_t failover_slack;             /* microseconds allowed past each failover's protocol bound
                                  for API latency; 0 means 1 s */
} lg_selftest_config;

typedef struct {
  char scenario[48];
  char expected[96];
  char observed[256];
  double seconds; /* how long the scenario's measured event took */
  bool ok;
} lg_selftest_row;

#define LG_SELFTEST_MAX_ROWS 16

/* Runs every scenario; fills rows (at most LG_SELFTEST_MAX_ROWS) and *n. Returns LG_OK
 * when it could run them (check each row's ok), an error when it could not start. */
lg_rc lg_selftest_run(const lg_selftest_config *cfg, lg_selftest_row *rows, size_t *n, char *err,
                      size_t errlen);

#endif
