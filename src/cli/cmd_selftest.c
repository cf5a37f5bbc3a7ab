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
    "backdate-renew, huge-duration, future-renew), which must be denied in enforce mode\n"
    "or let through in warn/audit mode. Prints a table; exits 1 on any mismatch.\n"
    "\n"
    "  --namespace=NS                      where the scratch leases go (default: the\n"
    "                                      kubeconfig context's namespace, else default)\n"
    "  --expect=MODE                       the webhook's mode for these leases (default enforce)\n"
    "  --leader-elect-lease-duration=15s   --leader-elect-renew-deadline=10s\n"
    "  --leader-elect-retry-period=2s      the electors' timing (client-go's defaults)\n"
    "  --failover-slack=1s                 time allowed past each failover's bound (lease\n"
    "                                      duration or retry period, plus jitter) for a slow\n"
    "                                      API server or webhook\n"
    "\n" LG_CLI_API_HELP
    "\n"
    "Exit status: 0 all as expected, 1 a mismatch or a failure, 2 usage.\n";

static void progress(const char *line) {
  fprintf(stderr, "%s\n", line);
}

int lg_cmd_selftest(int argc, char **argv) {
  const char *ns = NULL, *expect = "enforce", *lease = "15s", *renew = "10s", *retry = "2s",
             *slack = "1s", *v;
  lg_kube_flags api = {0};
  struct {
    const char *flag;
    const char **dst;
  } flags[] = {{"--namespace", &ns},         {"--expect", &expect},
               {"--leader-elect-lease-duration", &lease},
               {"--leader-elect-renew-deadline", &renew},
               {"--leader-elect-retry-period", &retry},
               {"--failover-slack", &slack}};
  lg_selftest_row rows[LG_SELFTEST_MAX_ROWS];
  lg_kube_config kc = {0};
  char err[512], prefix[64];
  size_t n = 0;
  int status = 1, failed = 0;

  for (int i = 1; i < argc; i++) {
    int m = 0;
    if (lg_cli_is_help(argv[i])) {
      fputs(usage, stdout);
      return 0;
    }
    for (size_t k = 0; k < sizeof flags / sizeof flags[0] && m == 0; k++)
      if ((m = lg_cli_flag(argc, argv, &i, flags[k].flag, &v)) > 0)
        *flags[k].dst = v;
    if (m == 0)
      m = lg_cli_api_flag(argc, argv, &i, &api);
    if (m < 0)
      return 2;
    if (m == 0)
      return lg_cli_usage_error("selftest", "unknown argument %s", argv[i]);
  }
  if (ns && !*ns)
    return lg_cli_usage_error("selftest", "--namespace must not be empty");
  lg_selftest_config cfg = {&kc, ns, prefix, lg_cli_duration(lease), lg_cli_duration(renew),
                            lg_cli_duration(retry), lg_rules_parse_mode(expect), progress,
                            lg_cli_duration(slack)};
  if (cfg.expect == LG_MODE_INHERIT || cfg.expect == LG_MODE_OFF)
    return lg_cli_usage_error("selftest", "--expect must be enforce, warn or audit, not \"%s\"",
                              expect);
  if (cfg.lease_duration <= 0 || cfg.renew_deadline <= 0 || cfg.retry_period <= 0 ||
      cfg.failover_slack <= 0)
    return lg_cli_usage_error("selftest", "durations must be like 15s, 500ms or 1m");
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
