/* cli_common.c -- what the subcommands share: flag parsing, the usage and exit-code
 * convention, API access from flags and the environment. */
#include "cli.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

const char *const lg_cli_modes[] = {"enforce", "warn", "audit", NULL};
const char *const lg_cli_log_levels[] = {"debug", "info", "warning", "error", NULL};

int lg_cli_is_help(const char *arg) {
  return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int lg_cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "leaseguard %s: ", cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nRun 'leaseguard %s --help' for usage.\n", cmd);
  return LG_EXIT_USAGE;
}

int lg_cli_start_error(const char *cmd, const char *err) {
  lg_log_json(LG_LOG_ERROR, "cannot start", "{s:s, s:s}", "command", cmd, "error",
              err && *err ? err : "unknown error");
  return LG_EXIT_RUNTIME;
}

int lg_cli_parse(const char *cmd, const lg_flags_spec *spec, int argc, char **argv,
                 const char *usage) {
  char err[512];
  switch (lg_flags_parse(spec, argc, argv, err, sizeof err)) {
  case LG_FLAGS_OK:
    return 0;
  case LG_FLAGS_HELP:
    if (usage)
      fputs(usage, stdout);
    return 1;
  default:
    return lg_cli_usage_error(cmd, "%s", err);
  }
}

lg_rc lg_cli_api_config(const char *cmd, const lg_kube_flags *f, bool log, lg_kube_config *out,
                        char *err, size_t errlen) {
  /* Flags and environment become a config here, once; nothing below reads getenv. */
  const lg_kube_env env = {.kubeconfig = getenv("KUBECONFIG"),
                           .home = getenv("HOME"),
                           .service_host = getenv("KUBERNETES_SERVICE_HOST"),
                           .service_port = getenv("KUBERNETES_SERVICE_PORT")};
  lg_rc rc = lg_kube_config_resolve(f, &env, out, err, errlen);
  if (rc)
    return rc;
  if (log)
    lg_log_json(LG_LOG_INFO, "API access", "{s:s, s:s, s:s?, s:b}", "source",
                out->source ? out->source : "", "server", out->server, "namespace",
                out->namespace, "execPlugin", out->exec != NULL);
  if (out->insecure && log)
    lg_log_json(LG_LOG_WARNING, "the API server's certificate is not verified "
                                "(insecure-skip-tls-verify): anyone on the path can read "
                                "and change this traffic",
                "{s:s, s:s}", "source", out->source ? out->source : "", "server", out->server);
  else if (out->insecure)
    fprintf(stderr, "leaseguard %s: warning: the API server's certificate is not verified "
                    "(insecure-skip-tls-verify in %s)\n",
            cmd, out->source ? out->source : "the kubeconfig");
  return LG_OK;
}

/* OLD-PARSER */
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
    lg_cli_usage_error(argv[0], "flag %s needs a value", name);
    return -1;
  }
  *i += 1;
  *value = argv[*i];
  return 1;
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

int lg_cli_api_flag(int argc, char **argv, int *i, lg_kube_flags *f) {
  const struct {
    const char *name;
    const char **dst;
  } flags[] = {{"--kubeconfig", &f->kubeconfig}, {"--context", &f->context},
               {"--server", &f->server},         {"--token-file", &f->token_file},
               {"--certificate-authority", &f->ca_file}};
  for (size_t k = 0; k < sizeof flags / sizeof *flags; k++) {
    const char *v;
    int m = lg_cli_flag(argc, argv, i, flags[k].name, &v);
    if (m > 0 && !*v) {
      lg_cli_usage_error(argv[0], "%s must not be empty", flags[k].name);
      return -1;
    }
    if (m > 0)
      *flags[k].dst = v;
    if (m != 0)
      return m;
  }
  return 0;
}

