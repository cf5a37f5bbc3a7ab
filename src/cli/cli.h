/* cli.h -- the subcommands of the leaseguard binary and shared flag parsing. */
#ifndef LG_CLI_H
#define LG_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flags.h"
#include "kubeconfig.h"

/* Each subcommand gets argv with argv[0] = the subcommand name and returns the exit status. */
int lg_cmd_serve(int argc, char **argv);
int lg_cmd_check(int argc, char **argv);
int lg_cmd_certs(int argc, char **argv);
int lg_cmd_elect(int argc, char **argv);
int lg_cmd_selftest(int argc, char **argv);
int lg_cmd_audit(int argc, char **argv);
int lg_cmd_vap(int argc, char **argv);

/* The convention of every command: usage text starting with "Usage:" on stdout and exit 0
 * for --help; a usage error (unknown flag, bad value, missing required flag) reported on
 * stderr with exit 2; a runtime failure exit 1 (a JSON log line for serve, elect and audit
 * --watch, whose logs are JSON). */
#define LG_EXIT_RUNTIME 1
#define LG_EXIT_USAGE   2

/* The values of --mode (a policy's modes but off) and --log-level, for ENUM rows. */
extern const char *const lg_cli_modes[];
extern const char *const lg_cli_log_levels[];

/* Returns 1 when argv[i] is --help or -h. */
int lg_cli_is_help(const char *arg);

/* Parses argv with spec (flags.h) by the convention: returns 0 to go on; 1 after --help, the
 * usage printed on stdout (only when usage is not NULL); 2 after a usage error, reported. */
int lg_cli_parse(const char *cmd, const lg_flags_spec *spec, int argc, char **argv,
                 const char *usage);

/* Prints "leaseguard CMD: MESSAGE" and where the usage is on stderr; returns LG_EXIT_USAGE. */
int lg_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Logs a failure to start as a JSON error line ("cannot start", command, error); returns
 * LG_EXIT_RUNTIME. */
int lg_cli_start_error(const char *cmd, const char *err);

/* The rows of the API-access flags (--kubeconfig, --context, --server, --token-file,
 * --certificate-authority) into the lg_kube_flags *f; none may be empty. */
#define LG_CLI_API_FLAGS(f)                                                                        \
  {.name = "--kubeconfig",                                                                         \
   .kind = LG_FLAG_STRING,                                                                         \
   .dst = &(f)->kubeconfig,                                                                        \
   .opts = LG_FLAG_NONEMPTY},                                                                      \
      {.name = "--context",                                                                        \
       .kind = LG_FLAG_STRING,                                                                     \
       .dst = &(f)->context,                                                                       \
       .opts = LG_FLAG_NONEMPTY},                                                                  \
      {.name = "--server", .kind = LG_FLAG_STRING, .dst = &(f)->server, .opts = LG_FLAG_NONEMPTY}, \
      {.name = "--token-file",                                                                     \
       .kind = LG_FLAG_STRING,                                                                     \
       .dst = &(f)->token_file,                                                                    \
       .opts = LG_FLAG_NONEMPTY},                                                                  \
  {                                                                                                \
    .name = "--certificate-authority", .kind = LG_FLAG_STRING, .dst = &(f)->ca_file,               \
    .opts = LG_FLAG_NONEMPTY                                                                       \
  }

/* Help lines of the API-access flags. */
#define LG_CLI_API_HELP                                                                         \
  "API access, as kubectl's (first match): --server (with --token-file and\n"                   \
  "--certificate-authority) when neither --kubeconfig nor --context is given; --kubeconfig;\n"  \
  "$KUBECONFIG (a colon-separated list, merged as kubectl merges it); the in-cluster service\n" \
  "account (KUBERNETES_SERVICE_HOST set, no --context); ~/.kube/config. Exec credential\n"      \
  "plugins (EKS, GKE, AKS) run without a terminal.\n"                                           \
  "  --kubeconfig=PATH              only this kubeconfig file\n"                                \
  "  --context=NAME                 the kubeconfig context to use (default: current-context)\n" \
  "  --server=URL                   the API server; with a kubeconfig, replaces its server\n"   \
  "  --token-file=PATH              a bearer token file, re-read before each call\n"            \
  "  --certificate-authority=PATH   the CA bundle the API server's certificate is checked with\n"

/* The API access of f and the process's environment ($KUBECONFIG, $HOME,
 * KUBERNETES_SERVICE_HOST/PORT). log: say where it comes from as a JSON info line (else
 * nothing); either way a warning when the server's certificate is not verified. */
lg_rc lg_cli_api_config(const char *cmd, const lg_kube_flags *f, bool log, lg_kube_config *out,
                        char *err, size_t errlen);

#endif
