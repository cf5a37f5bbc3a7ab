/* cli_common.c -- what the subcommands share: flag parsing, the usage and exit-code
 * convention, API access from flags and the environment. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

const char *const lg_cli_modes[] = {"enforce", "warn", "audit", NULL};
const char *const lg_cli_log_levels[] = {"debug", "info", "warning", "error", NULL};

int lg_cli_is_help(const char *arg) { return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0; }

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
                out->source ? out->source : "", "server", out->server, "namespace", out->namespace,
                "execPlugin", out->exec != NULL);
  if (out->insecure && log)
    lg_log_json(LG_LOG_WARNING,
                "the API server's certificate is not verified "
                "(insecure-skip-tls-verify): anyone on the path can read "
                "and change this traffic",
                "{s:s, s:s}", "source", out->source ? out->source : "", "server", out->server);
  else if (out->insecure)
    fprintf(stderr,
            "leaseguard %s: warning: the API server's certificate is not verified "
            "(insecure-skip-tls-verify in %s)\n",
            cmd, out->source ? out->source : "the kubeconfig");
  return LG_OK;
}
