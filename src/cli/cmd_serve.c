/* cmd_serve.c -- `leaseguard serve`: flags to an lg_server_config, then run the webhook server. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "logq.h"
#include "rules.h"
#include "events.h"
#include "kube.h"
#include "metrics.h"
#include "server.h"

static const char usage[] =
    "usage: leaseguard serve --tls-cert-file=PATH --tls-private-key-file=PATH [flags]\n"
    "\n"
    "Serves the validating admission webhook over HTTPS: POST /validate (AdmissionReview v1),\n"
    "GET /healthz, GET /readyz. Stops on SIGTERM or SIGINT after finishing requests in flight.\n"
    "The policy file, and the certificate and key files, are reloaded when they change (a\n"
    "Secret volume's ..data link swap counts) and on SIGHUP; new TLS connections get the new\n"
    "certificate, open ones keep theirs. A certificate or key that fails to load, or a key\n"
    "that does not match the certificate, is logged and the current pair kept. While the\n"
    "certificate expires within 30 days, a warning is logged at start, after each reload and\n"
    "daily (an error once it has expired). Audit lines (stdout) and logs (stderr) are queued\n"
    "and written by threads of their own: a reader that stalls or goes away costs lines\n"
    "(counted in leaseguard_log_lines_dropped_total, reported on stderr), never an answer.\n"
    "\n"
    "  --secure-port N               HTTPS port (default 8443)\n"
    "  --bind-address ADDR           numeric IPv4 or IPv6 address to listen on (default 0.0.0.0)\n"
    "  --tls-cert-file PATH          PEM serving certificate, chain allowed (required)\n"
    "  --tls-private-key-file PATH   PEM private key (required)\n"
    "  --client-ca-file PATH         PEM CA certificate(s): every request but GET /healthz and\n"
    "                                /readyz (the kubelet's probes carry no certificate) needs a\n"
    "                                client certificate issued by them for client\n"
    "                                authentication, else 403 (default: none asked for)\n"
    "  --policy-file PATH            LeasePolicy JSON (default: the built-in policy)\n"
    "  --mode enforce|warn|audit     replaces the policy's defaultMode\n"
    "  --log-level LEVEL             debug, info, warning or error (default info)\n"
    "  --max-request-bytes N         larger request bodies get 413 (default 4194304)\n"
    "  --max-connections N           concurrent connections; more are refused (default 1024)\n"
    "  --connection-timeout SECONDS  a connection that is idle, or has not sent a whole request,\n"
    "                                this long after opening or after its last reply is closed\n"
    "                                (default 30)\n"
    "  --threads N                   worker threads, 0 = one per usable CPU: the CPU\n"
    "                                quota of the cgroup rounded up (default 0)\n"
    "  --policy-check-interval MS    how often the policy, certificate and key files are\n"
    "                                checked, 0 = only on SIGHUP\n"
    "                                (default 1000)\n"
    "  --metrics-lease-label         add the lease name to violation metrics (cardinality)\n"
    "  --events                      post a Warning Event (reason LeaseViolation) on the Lease\n"
    "                                for each violation, asynchronously (not for dryRun)\n"
    "  --event-queue-size N          events waiting to be sent before new ones are dropped\n"
    "                                (default 1000)\n"
    "  --kubeconfig PATH             API access for --events (default: in-cluster service\n"
    "                                account)\n"
    "\n"
    "GET /metrics serves Prometheus metrics (no client certificate needed).\n";

/* How long the log queues may take to flush at exit before the rest is given up. */
#define LOG_FLUSH_MS 2000

/* Parses a whole decimal number in [min, max]. */
static int parse_num(const char *s, unsigned long long min, unsigned long long max,
                     unsigned long long *out) {
  char *end;
  unsigned long long v;

  if (!isdigit((unsigned char)s[0]))
    return -1;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno || *end || v < min || v > max)
    return -1;
  *out = v;
  return 0;
}

/* What serve sets up around the server: metrics and events. */
typedef struct {
  bool events, lease_label;
  unsigned long long queue;
  const char *kubeconfig;
} extras;

/* Turns the flags into cfg; returns -1 after a usage message on stderr, 1 after --help. */
static int parse_flags(int argc, char **argv, lg_server_config *cfg, extras *x) {
  unsigned long long port = 8443, max_bytes = 4194304, max_conns = 1024, timeout = 30,
                     threads = 0, interval = 1000;
  const char *mode = NULL, *level = NULL;
  const struct {
    const char *name;
    unsigned long long min, max, *dst;
  } nums[] = {
      {"--secure-port", 1, 65535, &port},
      {"--max-request-bytes", 1, 1ULL << 30, &max_bytes},
      {"--max-connections", 1, 1000000, &max_conns},
      {"--connection-timeout", 1, 86400, &timeout},
      {"--threads", 0, 1024, &threads},
      {"--policy-check-interval", 0, 86400000, &interval},
      {"--event-queue-size", 1, 1000000, &x->queue},
  };
  const struct {
    const char *name;
    const char **dst;
  } strs[] = {
      {"--bind-address", &cfg->bind_address},   {"--tls-cert-file", &cfg->tls_cert_file},
      {"--tls-private-key-file", &cfg->tls_key_file}, {"--policy-file", &cfg->policy_file},
      {"--client-ca-file", &cfg->client_ca_file},
      {"--mode", &mode},                        {"--log-level", &level},
      {"--kubeconfig", &x->kubeconfig},
  };
  const size_t n_nums = sizeof nums / sizeof nums[0], n_strs = sizeof strs / sizeof strs[0];
  int lvl = LG_LOG_INFO;

  for (int i = 1; i < argc; i++) {
    const char *v = NULL;
    int m = 0;
    size_t k;
    if (lg_cli_is_help(argv[i])) {
      fputs(usage, stdout);
      return 1;
    }
    if (!strcmp(argv[i], "--events") || !strcmp(argv[i], "--metrics-lease-label")) {
      *(argv[i][2] == 'e' ? &x->events : &x->lease_label) = true;
      continue;
    }
    for (k = 0; k < n_nums; k++)
      if ((m = lg_cli_flag(argc, argv, &i, nums[k].name, &v)) != 0)
        break;
    if (m > 0) {
      if (parse_num(v, nums[k].min, nums[k].max, nums[k].dst) == 0)
        continue;
      fprintf(stderr, "leaseguard serve: %s must be a whole number in %llu..%llu, not \"%s\"\n",
              nums[k].name, nums[k].min, nums[k].max, v);
      return -1;
    }
    for (k = 0; m == 0 && k < n_strs; k++)
      if ((m = lg_cli_flag(argc, argv, &i, strs[k].name, &v)) != 0)
        break;
    if (m > 0 && *v) {
      *strs[k].dst = v;
      continue;
    }
    if (m > 0)
      fprintf(stderr, "leaseguard serve: %s must not be empty\n", strs[k].name);
    else if (m == 0)
      fprintf(stderr, "leaseguard serve: unknown argument \"%s\" (see --help)\n", argv[i]);
    return -1;
  }
  if (mode) {
    cfg->mode_override = lg_rules_parse_mode(mode);
    if (cfg->mode_override != LG_MODE_ENFORCE && cfg->mode_override != LG_MODE_WARN &&
        cfg->mode_override != LG_MODE_AUDIT) {
      fprintf(stderr, "leaseguard serve: --mode must be enforce, warn or audit, not \"%s\"\n", mode);
      return -1;
    }
  }
  if (level && (lvl = lg_log_parse_level(level)) < 0) {
    fprintf(stderr, "leaseguard serve: --log-level must be debug, info, warning or error, not \"%s\"\n",
            level);
    return -1;
  }
  if (!cfg->tls_cert_file || !cfg->tls_key_file) {
    fprintf(stderr, "leaseguard serve: --tls-cert-file and --tls-private-key-file are required "
                    "(see --help)\n");
    return -1;
  }
  lg_log_set_level((lg_log_level)lvl);
  cfg->secure_port = (int)port;
  cfg->max_request_bytes = (size_t)max_bytes;
  cfg->connection_limit = (unsigned)max_conns;
  cfg->connection_timeout_s = (unsigned)timeout;
  cfg->threads = (unsigned)threads;
  cfg->policy_check_interval_ms = (unsigned)interval;
  return 0;
}

int lg_cmd_serve(int argc, char **argv) {
  lg_server_config cfg;
  extras x = {false, false, 1000, NULL};
  lg_kube_config kc = {0};
  char err[768] = "", host[256] = "";
  int status = 1, m;

  memset(&cfg, 0, sizeof cfg);
  cfg.bind_address = "0.0.0.0";
  cfg.mode_override = LG_MODE_INHERIT;
  m = parse_flags(argc, argv, &cfg, &x);
  if (m != 0)
    return m > 0 ? 0 : 2;
  /* Audit lines go to stdout; keep them whole and timely when it is a pipe or a file. From
   * here on, logs and audit lines are queued: a stalled reader costs lines, not answers. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (lg_log_start_queue(0, err, sizeof err) != LG_OK)
    goto out;
  if (!(cfg.metrics = lg_metrics_new(x.lease_label))) {
    snprintf(err, sizeof err, "%s", lg_strerror(LG_ENOMEM));
    goto out;
  }
  if (x.events) {
    /* The pod's hostname is its name: Events name it as their source. */
    gethostname(host, sizeof host - 1);
    lg_events_config ec = {.kube = &kc, .component = "leaseguard", .host = host,
                           .queue_limit = (size_t)x.queue};
    if ((x.kubeconfig ? lg_kube_config_kubeconfig(x.kubeconfig, &kc, err, sizeof err)
                      : lg_kube_config_in_cluster(NULL, &kc, err, sizeof err)) != LG_OK ||
        lg_events_start(&ec, cfg.metrics, &cfg.events, err, sizeof err) != LG_OK)
      goto out;
  }
  if (lg_server_run(&cfg, err, sizeof err) == LG_OK)
    status = 0;
out:
  lg_events_stop(cfg.events);
  /* A stderr whose reader is stuck would block this exit too: the queue gives up on it. */
  lg_log_stop_queue(LOG_FLUSH_MS);
  if (status && !lg_logq_broken(LG_LOGQ_STDERR))
    fprintf(stderr, "leaseguard serve: %s\n", err[0] ? err : "cannot start");
  lg_metrics_free(cfg.metrics);
  lg_kube_config_free(&kc);
  return status;
}
