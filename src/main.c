/* main.c -- leaseguard: argv -> the subcommand; nothing else. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "jarena.h"

static const char usage[] =
    "Usage: leaseguard COMMAND [FLAGS]\n"
    "\n"
    "A validating admission webhook guarding leader-election Leases.\n"
    "\n"
    "Commands:\n"
    "  serve     run the HTTPS webhook (POST /validate, /healthz, /readyz)\n"
    "  check     judge one AdmissionReview from a file or stdin, print the response\n"
    "  certs     make a dev CA and serving certificate with OpenSSL\n"
    "  elect     take part in leader election on a Lease, as client-go does\n"
    "  selftest  check a cluster's webhook with good and misbehaving electors\n"
    "  audit     judge recorded Lease versions, or watch a cluster's leases live\n"
    "  vap       print the clock-free rules as ValidatingAdmissionPolicies (CEL)\n"
    "  version   print the version\n"
    "\n"
    "Run 'leaseguard COMMAND --help' for a command's flags.\n"
    "Exit status of every command: 2 for a usage error (unknown flag, bad value, missing\n"
    "required flag), 1 for a runtime failure, 0 after --help.\n";

int main(int argc, char **argv) {
  const char *cmd = argc > 1 ? argv[1] : NULL;
  /* A reader that goes away (a closed log pipe, a client) must cost a failed write, never
   * the process: every write handles EPIPE instead. Children get SIGPIPE back (elect --run). */
  signal(SIGPIPE, SIG_IGN);
  /* A review's JSON tree is made in an arena and dropped whole (jarena.h). */
  lg_jarena_install();
  if (!cmd) {
    fputs(usage, stderr);
    return 2;
  }
  if (lg_cli_is_help(cmd) || strcmp(cmd, "help") == 0) {
    fputs(usage, stdout);
    return 0;
  }
  if (strcmp(cmd, "version") == 0 && argc > 2 && lg_cli_is_help(argv[2])) {
    puts("Usage: leaseguard version\n\nPrints the version of leaseguard.");
    return 0;
  }
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
    if (argc > 2)
      return lg_cli_usage_error("version", "unknown argument %s", argv[2]);
    printf("leaseguard %s\n", LG_VERSION);
    return 0;
  }
  if (strcmp(cmd, "serve") == 0)
    return lg_cmd_serve(argc - 1, argv + 1);
  if (strcmp(cmd, "check") == 0)
    return lg_cmd_check(argc - 1, argv + 1);
  if (strcmp(cmd, "certs") == 0)
    return lg_cmd_certs(argc - 1, argv + 1);
  if (strcmp(cmd, "elect") == 0)
    return lg_cmd_elect(argc - 1, argv + 1);
  if (strcmp(cmd, "selftest") == 0)
    return lg_cmd_selftest(argc - 1, argv + 1);
  if (strcmp(cmd, "audit") == 0)
    return lg_cmd_audit(argc - 1, argv + 1);
  if (strcmp(cmd, "vap") == 0)
    return lg_cmd_vap(argc - 1, argv + 1);
  fprintf(stderr, "leaseguard: unknown command \"%s\"\nRun 'leaseguard --help' for usage.\n", cmd);
  return 2;
}
