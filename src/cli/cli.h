/* cli.h -- the subcommands of the leaseguard binary and shared flag parsing. */
#ifndef LG_CLI_H
#define LG_CLI_H

#include <stdint.h>

/* Each subcommand gets argv with argv[0] = the subcommand name and returns the exit status. */
int lg_cmd_serve(int argc, char **argv);
int lg_cmd_check(int argc, char **argv);
int lg_cmd_certs(int argc, char **argv);
int lg_cmd_elect(int argc, char **argv);
int lg_cmd_selftest(int argc, char **argv);
int lg_cmd_audit(int argc, char **argv);
int lg_cmd_vap(int argc, char **argv);

/* Matches argv[*i] against flag `name` ("--secure-port") in the forms --name=VALUE and
 * --name VALUE (then *i advances). Returns 1 and sets *value on a match, 0 when argv[*i]
 * is another flag, -1 when the flag is given without a value (message on stderr). */
int lg_cli_flag(int argc, char **argv, int *i, const char *name, const char **value);

/* Parses a Go duration ("15s", "1m30s", "500ms", "1.5h") into microseconds; -1 when
 * malformed or negative. */
int64_t lg_cli_duration(const char *s);

/* Returns 1 when argv[i] is --help or -h. */
int lg_cli_is_help(const char *arg);

#endif
