/* cli_common.c -- flag parsing shared by the subcommands. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

int lg_cli_flag(int argc, char **argv, int *i, const char *name, const char **value) {
  const char *arg = argv[*i];
  size_t n = strlen(name);
  if (strncmp(arg, name, n) != 0)
    return 0;
  if (arg[n] == '=') {
    *value = arg + n + 1;
    return 1;
  }
  if (arg[n] != '\0')
    return 0;
  if (*i + 1 >= argc) {
    fprintf(stderr, "leaseguard: flag %s needs a value\n", name);
    return -1;
  }
  *i += 1;
  *value = argv[*i];
  return 1;
}

int lg_cli_is_help(const char *arg) {
  return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}
