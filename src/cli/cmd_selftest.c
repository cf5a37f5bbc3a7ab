/* cmd_selftest.c -- `leaseguard selftest`: run the self-test scenarios against a cluster
 * and print a table; non-zero exit on any mismatch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "kube.h"
#include "selftest.h"

static const char usage[] =
    "Usage: leaseguard selftest [--namespace=NS] [--expect=enforce|warn|audit] [flags]\n"
    "\n"
    "Against a cluster with the leaseguard webhook installed, in scratch leases it creates\n"
    "and deletes: 3 well-behaved electors (one leader at a time; failover after a release\n"
    "and after a hard kill, timed), then each misbehaviour (steal, skip-transition,\n"
    "backdate-renew, huge-duration), which must be denied in enforce mode or let through\n"
    "in warn/audit mode, and future-renew (stamps 300 s ahead, what a fast clock writes),\n"
    "which is never denied: a warning in enforce and warn mode. Prints a table; exits 1 on\n"
    "any mismatch.\n"
    "\n"
    "  --namespace=NS                      where the scratch leases go (default: the\n"
    "                                      kubeconfig context's namespace, else default)\n"
    "  --expect=MODE                       the webhook's mode for these leases (default enforce)\n"
    "  --leader-elect-lease-duration=15s   --leader-elect-renew-deadline=10s\n"
    "  --leader-elect-retry-period=2s      the electors' timing (client-go's defaults)\n"
    "  --failover-slack=1s                 time allowed past each failover's bound (lease\n"
    "                                      duration or retry period, plus jitter) for a slow\n"
    "                                      API server or webhook\n"
    "\n" LG_CLI_API_HELP "\n"
    "Exit status: 0 all as expected, 1 a mismatch or a failure, 2 usage.\n";

static void progress(const char *line) { fprintf(stderr, "%s\n", line); }

int lg_cmd_selftest(int argc, char **argv) {
  const char *ns = NULL, *expect = NULL;
  int64_t lease = 0, renew = 0, retry = 0, slack = 0;
  lg_kube_flags api = {0};
  /* One message for every duration, as before the table. */
  static const char bad_duration[] = "durations must be like 15s, 500ms or 1m";
  const lg_flag flags[] = {
      {.name = "--namespace", .kind = LG_FLAG_STRING, .dst = &ns, .opts = LG_FLAG_NONEMPTY},
      {.name = "--expect",
       .kind = LG_FLAG_ENUM,
       .dst = &expect,
       .def = "enforce",
       .values = lg_cli_modes,
       .bad = "{flag} must be {values}, not \"{value}\""},
      {.name = "--leader-elect-lease-duration",
       .kind = LG_FLAG_DURATION,
       .dst = &lease,
       .def = "15s",
       .min = 1,
       .bad = bad_duration},
      {.name = "--leader-elect-renew-deadline",
       .kind = LG_FLAG_DURATION,
       .dst = &renew,
       .def = "10s",
       .min = 1,
       .bad = bad_duration},
      {.name = "--leader-elect-retry-period",
       .kind = LG_FLAG_DURATION,
       .dst = &retry,
       .def = "2s",
       .min = 1,
       .bad = bad_duration},
      {.name = "--failover-slack",
       .kind = LG_FLAG_DURATION,
       .dst = &slack,
       .def = "1s",
       .min = 1,
       .bad = bad_duration},
      LG_CLI_API_FLAGS(&api),
  };
  const lg_flags_spec spec = {flags, sizeof flags / sizeof *flags, "unknown argument {arg}", NULL,
                              NULL};
  lg_selftest_row rows[LG_SELFTEST_MAX_ROWS];
  lg_kube_config kc = {0};
  char err[512], prefix[64];
  size_t n = 0;
  int status = 1, failed = 0, r;

  if ((r = lg_cli_parse("selftest", &spec, argc, argv, usage)) != 0)
    return r == 1 ? 0 : 2;
  lg_selftest_config cfg = {
      &kc, ns, prefix, lease, renew, retry, lg_rules_parse_mode(expect), progress, slack};
  snprintf(prefix, sizeof prefix, "leaseguard-selftest-%lx", (unsigned long)time(NULL) & 0xfffff);
  if (lg_cli_api_config("selftest", &api, false, &kc, err, sizeof err) != LG_OK) {
    fprintf(stderr, "leaseguard selftest: %s\n", err);
    goto out;
  }
  /* A kubeconfig context's namespace, as kubectl would use; not the pod's in a cluster,
   * which is usually the webhook's own, excluded from it. */
  cfg.namespace = ns ? ns : kc.namespace && !kc.in_cluster ? kc.namespace : "default";
  if (lg_selftest_run(&cfg, rows, &n, err, sizeof err) != LG_OK) {
    fprintf(stderr, "leaseguard selftest: %s\n", err);
    goto out;
  }
  printf("%-26s %-44s %-8s %s\n", "SCENARIO", "EXPECTED", "TIME", "OBSERVED");
  for (size_t i = 0; i < n; i++) {
    printf("%-26s %-44s %7.2fs %s%s\n", rows[i].scenario, rows[i].expected, rows[i].seconds,
           rows[i].ok ? "" : "MISMATCH: ", rows[i].observed);
    failed += !rows[i].ok;
  }
  printf("%zu passed, %d failed\n", n - (size_t)failed, failed);
  status = failed ? 1 : 0;
out:
  lg_kube_config_free(&kc);
  return status;
}
