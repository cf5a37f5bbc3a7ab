/* cli_common.c -- flag parsing shared by the subcommands. */
#include "cli.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
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

int64_t lg_cli_duration(const char *s) {
  static const struct {
    const char *unit;
    double usec;
  } units[] = {{"ns", 1e-3}, {"us", 1}, {"\xc2\xb5s", 1}, {"ms", 1e3}, {"s", 1e6}, {"m", 6e7}, {"h", 3.6e9}};
  double total = 0;
  if (!s || !*s)
    return -1;
  if (strcmp(s, "0") == 0)
    return 0;
  while (*s) {
    char *end;
    double v;
    size_t best = 0, k = sizeof units / sizeof units[0];
    if (!isdigit((unsigned char)*s) && *s != '.')
      return -1;
    v = strtod(s, &end);
    if (end == s)
      return -1;
    s = end;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
      size_t n = strlen(units[i].unit);
      if (strncmp(s, units[i].unit, n) == 0 && n > best) {
        best = n;
        k = i;
      }
    }
    if (k == sizeof units / sizeof units[0])
      return -1;
    total += v * units[k].usec;
    s += best;
  }
  return total > 9e18 ? -1 : (int64_t)(total + 0.5);
}
