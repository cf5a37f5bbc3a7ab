/* cli.h -- the subcommands of the leaseguard binary and shared flag parsing. */
#ifndef LG_CLI_H
#define LG_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
#define LG_EXIT_USAGE 2

/* Matches argv[*i] against flag `name` ("--secure-port") in the forms --name=VALUE and
 * --name VALUE (then *i advances). Returns 1 and sets *value on a match, 0 when argv[*i]
 * is another flag, -1 when the flag is given without a value (message on stderr). */
int lg_cli_flag(int argc, char **argv, int *i, const char *name, const char **value);

/* Parses a Go duration ("15s", "1m30s", "500ms", "1.5h") into microseconds; -1 when
 * malformed or negative. */
int64_t lg_cli_duration(const char *s);

/* Returns 1 when argv[i] is --help or -h. */
int lg_cli_is_help(const char *arg);

/* Prints "leaseguard CMD: MESSAGE" and where the usage is on stderr; returns LG_EXIT_USAGE. */
int lg_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Logs a failure to start as a JSON error line ("cannot start", command, error); returns
 * LG_EXIT_RUNTIME. */
int lg_cli_start_error(const char *cmd, const char *err);

/* Matches argv[*i] against the API-access flags (--kubeconfig, --context, --server,
 * --token-file, --certificate-authority) as lg_cli_flag does, storing a match in *f; an
 * empty value is a usage error (-1, reported). */
int lg_cli_api_flag(int argc, char **argv, int *i, lg_kube_flags *f);

/* Help lines of the API-access flags. */
#define LG_CLI_API_HELP                                                                      \
  "API access, as kubectl's (first match): --server (with --token-file and\n"                 \
  "--certificate-authority) when neither --kubeconfig nor --context is given; --kubeconfig;\n" \
  "$KUBECONFIG (a colon-separated list, merged as kubectl merges it); the in-cluster service\n" \
  "account (KUBERNETES_SERVICE_HOST set, no --context); ~/.kube/config. Exec credential\n"     \
  "plugins (EKS, GKE, AKS) run without a terminal.\n"                                         \
  "  --kubeconfig=PATH              only this kubeconfig file\n"                              \
  "  --context=NAME                 the kubeconfig context to use (default: current-context)\n" \
  "  --server=URL                   the API server; with a kubeconfig, replaces its server\n"  \
  "  --token-file=PATH              a bearer token file, re-read before each call\n"          \
  "  --certificate-authority=PATH   the CA bundle the API server's certificate is checked with\n"

/* The API access of f and the process's environment ($KUBECONFIG, $HOME,
 * KUBERNETES_SERVICE_HOST/PORT). log: say where it comes from as a JSON info line (else
 * nothing); either way a warning when the server's certificate is not verified. */
lg_rc lg_cli_api_config(const char *cmd, const lg_kube_flags *f, bool log, lg_kube_config *out,
                        char *err, size_t errlen);

#endif
