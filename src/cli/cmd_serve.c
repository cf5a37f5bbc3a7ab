/* cmd_serve.c -- `leaseguard serve`: flags to an lg_server_config, then run the webhook server. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certctl.h"
#include "certs.h"
#include "log.h"
#include "rules.h"
#include "events.h"
#include "kube.h"
#include "listen.h"
#include "metrics.h"
#include "leasefeed.h"
#include "server.h"
#include "tlsopts.h"

/* How long a lease write admitted here counts for the fence before the watch confirms it. */
#define FENCE_PENDING_TTL (5 * LG_USEC_PER_SEC)

static const char usage[] =
    "Usage: leaseguard serve --tls-cert-file=PATH --tls-private-key-file=PATH [flags]\n"
    "       leaseguard serve --cert-secret=NAMESPACE/NAME --webhook-configuration=NAME\n"
    "                        --cert-dns-names=NAME,... [flags]\n"
    "\n"
    "Serves the validating admission webhook over HTTPS: POST /validate (AdmissionReview v1),\n"
    "GET /healthz, GET /readyz, GET /metrics. On SIGTERM or SIGINT /readyz fails at once, "
    "requests\n"
    "are still answered for --shutdown-delay-duration (a second signal cuts it short), then it\n"
    "stops accepting, finishes requests in flight and exits 0.\n"
    "The policy file, the certificate and key files and the client CA file are reloaded when\n"
    "they change (a Secret volume's ..data link swap counts) and on SIGHUP; new TLS connections\n"
    "get the new certificate and CA, open ones keep theirs. A file that fails to load (or a key\n"
    "that does not match the certificate) is logged, counted in leaseguard_file_reloads_total,\n"
    "and the current one kept. While the certificate expires within 30 days, a warning is\n"
    "logged at start, after each reload and daily (an error once it has expired). Connections\n"
    "that fail before a request (TLS handshakes, --max-connections, client certificates) are\n"
    "counted and summed up in one log line per 10 s. Audit lines (stdout) and logs (stderr)\n"
    "are queued and written by threads of their own: a reader that stalls or goes away costs\n"
    "lines (counted in leaseguard_log_lines_dropped_total, reported on stderr), never an\n"
    "answer.\n"
    "\n"
    "  --secure-port N               HTTPS port (default 8443)\n"
    "  --bind-address ADDR           numeric IPv4 or IPv6 address to listen on; :: is every "
    "address\n"
    "                                of both families (IPv4 only on a host without IPv6)\n"
    "                                (default 0.0.0.0)\n"
    "  --tls-cert-file PATH          PEM serving certificate, chain allowed (required)\n"
    "  --tls-private-key-file PATH   PEM private key (required)\n"
    "  --client-ca-file PATH         PEM CA certificate(s): every request but GET /healthz,\n"
    "                                /readyz and /metrics (the kubelet's probes carry no\n"
    "                                certificate) needs a client certificate issued by them for\n"
    "                                client authentication, else 403 (default: none asked for)\n"
    "  --tls-min-version VERSION     VersionTLS12 or VersionTLS13 (default VersionTLS12)\n"
    "  --tls-cipher-suites LIST      comma-separated TLS 1.2 suites, IANA names as Kubernetes\n"
    "                                components take them (TLS 1.3 uses their AEAD ciphers);\n"
    "                                insecure ones are refused (default: ECDHE with AES-GCM or\n"
    "                                ChaCha20-Poly1305)\n"
    "  --health-probe-bind-address HOST:PORT\n"
    "                                plain-HTTP listener for GET /healthz and /readyz, with its\n"
    "                                own small connection limit; [::]:PORT or :PORT is every\n"
    "                                address (default: empty, off)\n"
    "  --metrics-bind-address HOST:PORT\n"
    "                                plain-HTTP listener for GET /metrics (default: empty, off)\n"
    "  --shutdown-delay-duration D   after SIGTERM, keep answering this long (a Go duration,\n"
    "                                e.g. 5s) while /readyz fails, so that endpoints stop\n"
    "                                sending traffic first (default 0)\n"
    "  --policy-file PATH            LeasePolicy JSON (default: the built-in policy)\n"
    "  --mode enforce|warn|audit     replaces the policy's defaultMode\n"
    "  --log-level LEVEL             debug, info, warning or error (default info)\n"
    "  --max-request-bytes N         larger request bodies get 413 (default 33554432: more\n"
    "                                than any Lease review the API server can send)\n"
    "  --max-connections N           concurrent connections; more are refused (default 1024)\n"
    "  --connection-timeout SECONDS  a connection that is idle, or has not sent a whole request,\n"
    "                                this long after opening or after its last reply is closed\n"
    "                                (default 30)\n"
    "  --threads N                   worker threads, 0 = one per usable CPU: the CPU\n"
    "                                quota of the cgroup rounded up (default 0)\n"
    "  --policy-check-interval MS    how often the policy, certificate, key and client CA files\n"
    "                                are checked, 0 = only on SIGHUP\n"
    "                                (default 1000)\n"
    "  --metrics-lease-label         add the lease name to violation metrics (cardinality)\n"
    "  --events                      post a Warning Event (reason LeaseViolation) on the Lease\n"
    "                                for each violation, asynchronously (not for dryRun)\n"
    "  --event-queue-size N          events waiting to be sent before new ones are dropped\n"
    "                                (default 1000)\n"
    "  --lease-memory-size N         leases (and as many holder identities) whose writes are\n"
    "                                remembered to judge expiry by observed time, least\n"
    "                                recently written forgotten first (default 16384)\n"
    "  --watch-leases                list and watch every Lease (needs list/watch on leases):\n"
    "                                writes other replicas admitted are judged by when this\n"
    "                                one saw them too; never decides readiness\n"
    "  --fencing                     POST /fence judges writes of objects labelled\n"
    "                                leaseguard.io/fenced=true by their fencing token\n"
    "                                (annotation leaseguard.io/fencing-token) against the lease\n"
    "                                it names (implies --watch-leases; needs get on leases)\n"
    "  --fencing-unknown deny|allow  when a token's lease cannot be known (cache cold, API\n"
    "                                down): refuse (default) or let the write through\n"
    "\n"
    "The certificate controller (instead of the certificate and key files), as Gatekeeper's and\n"
    "Kyverno's: each replica keeps a CA and a serving pair in the Secret (ca.crt, ca.key,\n"
    "tls.crt, tls.key; ca-next.* and ca-previous.crt during a rotation), creates it when missing\n"
    "(one replica wins, the others use its pair), sets the caBundle of every webhook of the\n"
    "configuration when it differs, and renews before expiry with an overlap: a new CA is\n"
    "trusted first, the serving pair switches to it an overlap later, the old CA is dropped an\n"
    "overlap after that. A broken Secret (bad PEM, a key that does not match, expired) is logged,\n"
    "counted and rewritten. Every replica installs the pair it finds without a restart; /readyz\n"
    "fails until it has one. API access as below (in a pod: its service account).\n"
    "  --cert-secret NS/NAME          the Secret that holds the certificates\n"
    "  --webhook-configuration NAME   the ValidatingWebhookConfiguration whose caBundle is kept\n"
    "  --cert-dns-names LIST          comma-separated names of the serving certificate (the first\n"
    "                                 is its CN), e.g. leaseguard.leaseguard.svc\n"
    "  --cert-validity D              lifetime of each new CA and serving certificate (a Go\n"
    "                                 duration; default 8760h)\n"
    "  --cert-renew-before D          rotate this long before notAfter (default 720h)\n"
    "  --cert-overlap D               how long a new CA is trusted before it signs, and the old\n"
    "                                 one after (default 5m)\n"
    "  --cert-sync-period D           how often each replica reads the Secret (default 10s)\n"
    "\n"
    "GET /metrics serves Prometheus metrics (no client certificate needed). Requests whose\n"
    "Content-Length and Transfer-Encoding headers disagree get 400 and the connection closed.\n"
    "\n"
    "For --events, --cert-secret, --watch-leases and --fencing. " LG_CLI_API_HELP;

/* How long the log queues may take to flush at exit before the rest is given up. */
#define LOG_FLUSH_MS 2000

/* The certificate controller's flags and the configuration made of them. */
typedef struct {
  const char *secret, *webhook_configuration, *dns_names;
  int64_t validity, renew_before, overlap, sync_period; /* microseconds */
  bool durations_given;
  char ns[64], name[254];
  char *names_buf; /* dns_names, split in place */
  const char *names[64];
  lg_certctl_config cc;
} cert_flags;

/* What serve sets up around the server: metrics, events, TLS settings, certificates. */
typedef struct {
  bool events, lease_label, watch_leases, fencing;
  const char *fencing_unknown;
  long long queue, memory;
  lg_kube_flags api;
  const char *tls_min_version, *tls_cipher_suites, *shutdown_delay;
  lg_tlsopts tls;
  cert_flags cert;
} extras;

/* A DNS-1123 label (max 63) or subdomain (max 253): lower-case alphanumerics and '-' (and '.'
 * in a subdomain), starting and ending alphanumeric. */
static bool dns1123(const char *s, bool subdomain) {
  size_t n = strlen(s);
  if (n == 0 || n > (subdomain ? 253u : 63u))
    return false;
  for (size_t i = 0; i < n; i++) {
    bool alnum = islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]);
    bool edge = i == 0 || i + 1 == n || (subdomain && (s[i - 1] == '.' || s[i + 1] == '.'));
    if (!alnum && (edge || (s[i] != '-' && !(subdomain && s[i] == '.'))))
      return false;
  }
  return true;
}

/* Checks the certificate controller's flags and fills x->cert.cc; -1 after a usage message. */
static int check_cert_flags(const lg_server_config *cfg, extras *x) {
  cert_flags *f = &x->cert;
  const char *slash = f->secret ? strchr(f->secret, '/') : NULL;
  int64_t validity = f->validity, renew = f->renew_before, overlap = f->overlap,
          period = f->sync_period;
  char err[512];

  if (!f->secret) {
    if (f->webhook_configuration || f->dns_names || f->durations_given)
      return lg_cli_usage_error("serve", "the --cert-* and --webhook-configuration flags need "
                                         "--cert-secret"),
             -1;
    return 0;
  }
  if (cfg->tls_cert_file || cfg->tls_key_file)
    return lg_cli_usage_error("serve", "--cert-secret replaces --tls-cert-file and "
                                       "--tls-private-key-file: give one or the other"),
           -1;
  if (!slash || (size_t)(slash - f->secret) >= sizeof f->ns || strlen(slash + 1) >= sizeof f->name)
    return lg_cli_usage_error("serve", "--cert-secret must be NAMESPACE/NAME, not \"%s\"",
                              f->secret),
           -1;
  memcpy(f->ns, f->secret, (size_t)(slash - f->secret));
  f->ns[slash - f->secret] = '\0';
  strcpy(f->name, slash + 1);
  if (!dns1123(f->ns, false) || !dns1123(f->name, true))
    return lg_cli_usage_error("serve",
                              "--cert-secret \"%s\": the namespace must be a DNS-1123 "
                              "label and the name a DNS-1123 subdomain",
                              f->secret),
           -1;
  if (!f->webhook_configuration || !dns1123(f->webhook_configuration, true))
    return lg_cli_usage_error("serve", "--cert-secret needs --webhook-configuration, the name of "
                                       "a ValidatingWebhookConfiguration"),
           -1;
  if (!f->dns_names)
    return lg_cli_usage_error("serve", "--cert-secret needs --cert-dns-names (e.g. "
                                       "leaseguard.leaseguard.svc)"),
           -1;
  if (!(f->names_buf = strdup(f->dns_names)))
    return lg_cli_usage_error("serve", "out of memory"), -1;
  for (char *p = f->names_buf, *save = NULL, *tok; (tok = strtok_r(p, ",", &save)); p = NULL) {
    if (f->cc.n_dns_names == sizeof f->names / sizeof *f->names)
      return lg_cli_usage_error("serve", "--cert-dns-names: at most 64 names"), -1;
    f->names[f->cc.n_dns_names++] = tok;
  }
  if (!f->cc.n_dns_names ||
      lg_certs_check_names(f->names, f->cc.n_dns_names, err, sizeof err) != LG_OK)
    return lg_cli_usage_error("serve", "--cert-dns-names \"%s\": %s", f->dns_names,
                              f->cc.n_dns_names ? err : "no name"),
           -1;
  /* The rotation must end before the old CA expires, and every replica must read the Secret
   * (and every API server the caBundle) within each overlap. */
  if (renew >= validity || 2 * overlap > renew || 2 * period > overlap)
    return lg_cli_usage_error("serve",
                              "the certificate durations must satisfy --cert-validity > "
                              "--cert-renew-before >= 2 x --cert-overlap and --cert-overlap >= "
                              "2 x --cert-sync-period"),
           -1;
  f->cc = (lg_certctl_config){.ns = f->ns,
                              .name = f->name,
                              .webhook_configuration = f->webhook_configuration,
                              .dns_names = f->names,
                              .n_dns_names = f->cc.n_dns_names,
                              .validity = validity / 1000000,
                              .renew_before = renew / 1000000,
                              .overlap = overlap / 1000000,
                              .sync_period_ms = (long)(period / 1000)};
  return 0;
}

/* Checks the values of the flags that are not plain numbers; -1 after a message. */
static int check_values(lg_server_config *cfg, extras *x) {
  const char *addrs[2] = {cfg->health_probe_bind_address, cfg->metrics_bind_address};
  const char *names[2] = {"--health-probe-bind-address", "--metrics-bind-address"};
  char err[512];
  lg_listen_addr a;

  for (int i = 0; i < 2; i++)
    if (addrs[i] && lg_listen_parse(names[i], addrs[i], true, &a, err, sizeof err) != LG_OK) {
      fprintf(stderr, "leaseguard serve: %s\n", err);
      return -1;
    }
  if (x->shutdown_delay) {
    int64_t us = lg_flags_duration(x->shutdown_delay);
    if (us < 0 || us > INT64_C(3600) * 1000000) {
      fprintf(stderr,
              "leaseguard serve: --shutdown-delay-duration must be a duration from 0s to "
              "1h (e.g. 5s), not \"%s\"\n",
              x->shutdown_delay);
      return -1;
    }
    cfg->shutdown_delay_ms = (unsigned)(us / 1000);
  }
  if (lg_tlsopts_build(x->tls_min_version, x->tls_cipher_suites, &x->tls, err, sizeof err)) {
    fprintf(stderr, "leaseguard serve: %s\n", err);
    return -1;
  }
  cfg->tls = &x->tls;
  return 0;
}

/* The rules between flags; -1 after a usage message. */
static int check_rules(lg_server_config *cfg, extras *x) {
  if (x->fencing_unknown && !x->fencing) {
    lg_cli_usage_error("serve", "--fencing-unknown is for --fencing, which is not given");
    return -1;
  }
  if (!x->events && !x->cert.secret && !x->watch_leases && !x->fencing &&
      (x->api.kubeconfig || x->api.context || x->api.server || x->api.token_file ||
       x->api.ca_file)) {
    lg_cli_usage_error("serve", "the API access flags are for --events, --cert-secret, "
                                "--watch-leases or --fencing, none of which is given");
    return -1;
  }
  if (check_cert_flags(cfg, x) != 0)
    return -1;
  if (!x->cert.secret && (!cfg->tls_cert_file || !cfg->tls_key_file)) {
    lg_cli_usage_error("serve", "--tls-cert-file and --tls-private-key-file are required "
                                "(or --cert-secret)");
    return -1;
  }
  return 0;
}

/* The certificate durations: from min to 36500 days. */
#define CERT_DURATION(flag, field, dflt, min_us, min_text)                                     \
  {                                                                                            \
    .name = flag, .kind = LG_FLAG_DURATION, .dst = &x->cert.field, .def = dflt, .min = min_us, \
    .max = 36500LL * 86400 * 1000000, .given = &x->cert.durations_given,                       \
    .bad = "{flag} must be a duration from " min_text " to 36500 days (e.g. 720h), not "       \
           "\"{value}\""                                                                       \
  }

/* Turns the flags into cfg; returns -1 after a usage message on stderr, 1 after --help. */
static int parse_flags(int argc, char **argv, lg_server_config *cfg, extras *x) {
  long long port, max_bytes, max_conns, timeout, threads, interval;
  const char *mode = NULL, *level = NULL;
  static const char *const deny_allow[] = {"deny", "allow", NULL};
  const lg_flag flags[] = {
      {.name = "--secure-port",
       .kind = LG_FLAG_INT,
       .dst = &port,
       .def = "8443",
       .min = 1,
       .max = 65535},
      {.name = "--bind-address",
       .kind = LG_FLAG_STRING,
       .dst = &cfg->bind_address,
       .opts = LG_FLAG_NONEMPTY},
      {.name = "--tls-cert-file",
       .kind = LG_FLAG_STRING,
       .dst = &cfg->tls_cert_file,
       .opts = LG_FLAG_NONEMPTY},
      {.name = "--tls-private-key-file",
       .kind = LG_FLAG_STRING,
       .dst = &cfg->tls_key_file,
       .opts = LG_FLAG_NONEMPTY},
      {.name = "--client-ca-file",
       .kind = LG_FLAG_STRING,
       .dst = &cfg->client_ca_file,
       .opts = LG_FLAG_NONEMPTY},
      {.name = "--tls-min-version",
       .kind = LG_FLAG_STRING,
       .dst = &x->tls_min_version,
       .opts = LG_FLAG_NONEMPTY},
      {.name = "--tls-cipher-suites",
       .kind = LG_FLAG_STRING,
       .dst = &x->tls_cipher_suites,
       .opts = LG_FLAG_NONEMPTY},
      /* Empty means off. */
      {.name = "--health-probe-bind-address",
       .kind = LG_FLAG_STRING,
       .dst = &cfg->health_probe_bind_address,
       .opts = LG_FLAG_EMPTY_OFF},
      {.name = "--metrics-bind-address",
       .kind = LG_FLAG_STRING,
       .dst = &cfg->metrics_bind_address,
       .opts = LG_FLAG_EMPTY_OFF},
      /* Checked with the listeners, also before --help (check_values). */
      {.name = "--shutdown-delay-duration",
       .kind = LG_FLAG_STRING,
       .dst = &x->shutdown_delay,
       .opts = LG_FLAG_NONEMPTY},
      {.name = "--policy-file",
       .kind = LG_FLAG_STRING,
       .dst = &cfg->policy_file,
       .opts = LG_FLAG_NONEMPTY},
      {.name = "--mode", .kind = LG_FLAG_ENUM, .dst = &mode, .values = lg_cli_modes},
      {.name = "--log-level", .kind = LG_FLAG_ENUM, .dst = &level, .values = lg_cli_log_levels},
      {.name = "--max-request-bytes",
       .kind = LG_FLAG_INT,
       .dst = &max_bytes,
       .def = "33554432",
       .min = 1,
       .max = 1LL << 30},
      {.name = "--max-connections",
       .kind = LG_FLAG_INT,
       .dst = &max_conns,
       .def = "1024",
       .min = 1,
       .max = 1000000},
      {.name = "--connection-timeout",
       .kind = LG_FLAG_INT,
       .dst = &timeout,
       .def = "30",
       .min = 1,
       .max = 86400},
      {.name = "--threads",
       .kind = LG_FLAG_INT,
       .dst = &threads,
       .def = "0",
       .min = 0,
       .max = 1024},
      {.name = "--policy-check-interval",
       .kind = LG_FLAG_INT,
       .dst = &interval,
       .def = "1000",
       .min = 0,
       .max = 86400000},
      {.name = "--metrics-lease-label", .kind = LG_FLAG_BOOL, .dst = &x->lease_label},
      {.name = "--events", .kind = LG_FLAG_BOOL, .dst = &x->events},
      {.name = "--event-queue-size",
       .kind = LG_FLAG_INT,
       .dst = &x->queue,
       .def = "1000",
       .min = 1,
       .max = 1000000},
      {.name = "--lease-memory-size",
       .kind = LG_FLAG_INT,
       .dst = &x->memory,
       .def = "16384",
       .min = 16,
       .max = 10000000},
      {.name = "--watch-leases", .kind = LG_FLAG_BOOL, .dst = &x->watch_leases},
      {.name = "--fencing", .kind = LG_FLAG_BOOL, .dst = &x->fencing},
      {.name = "--fencing-unknown",
       .kind = LG_FLAG_ENUM,
       .dst = &x->fencing_unknown,
       .values = deny_allow},
      {.name = "--cert-secret",
       .kind = LG_FLAG_STRING,
       .dst = &x->cert.secret,
       .opts = LG_FLAG_NONEMPTY},
      {.name = "--webhook-configuration",
       .kind = LG_FLAG_STRING,
       .dst = &x->cert.webhook_configuration,
       .opts = LG_FLAG_NONEMPTY},
      {.name = "--cert-dns-names",
       .kind = LG_FLAG_STRING,
       .dst = &x->cert.dns_names,
       .opts = LG_FLAG_NONEMPTY},
      CERT_DURATION("--cert-validity", validity, "8760h", 10000000, "10s"),
      CERT_DURATION("--cert-renew-before", renew_before, "720h", 1000000, "1s"),
      CERT_DURATION("--cert-overlap", overlap, "5m", 1000000, "1s"),
      CERT_DURATION("--cert-sync-period", sync_period, "10s", 100000, "100ms"),
      LG_CLI_API_FLAGS(&x->api),
  };
  const lg_flags_spec spec = {flags, sizeof flags / sizeof *flags, NULL, NULL, NULL};
  int r;

  if ((r = lg_cli_parse("serve", &spec, argc, argv, NULL)) == 1) {
    /* The values given before --help are checked too (the chart's tests rely on it). */
    if (check_values(cfg, x) != 0)
      return -1;
    fputs(usage, stdout);
    return 1;
  }
  if (r != 0)
    return -1;
  if (mode)
    cfg->mode_override = lg_rules_parse_mode(mode);
  if (check_rules(cfg, x) != 0)
    return -1;
  if (check_values(cfg, x) != 0)
    return -1;
  lg_log_set_level(level ? (lg_log_level)lg_log_parse_level(level) : LG_LOG_INFO);
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
  extras x = {.queue = 1000, .memory = 16384};
  lg_kube_config kc = {0};
  lg_leasecache *cache = NULL;
  lg_leasefeed *feed = NULL;
  lg_fencehook_env fence;
  char err[768] = "", host[256] = "";
  int status = 1, m;

  memset(&cfg, 0, sizeof cfg);
  cfg.bind_address = "0.0.0.0";
  cfg.mode_override = LG_MODE_INHERIT;
  m = parse_flags(argc, argv, &cfg, &x);
  if (m != 0) {
    free(x.cert.names_buf);
    return m > 0 ? 0 : 2;
  }
  /* Audit lines go to stdout; keep them whole and timely when it is a pipe or a file. From
   * here on, logs and audit lines are queued: a stalled reader costs lines, not answers. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (lg_log_start_queue(0, err, sizeof err) != LG_OK)
    goto out;
  if (!(cfg.metrics = lg_metrics_new(x.lease_label))) {
    snprintf(err, sizeof err, "%s", lg_strerror(LG_ENOMEM));
    goto out;
  }
  if (!(cfg.witness = lg_witness_new((size_t)x.memory, (size_t)x.memory))) {
    snprintf(err, sizeof err, "%s", lg_strerror(LG_ENOMEM));
    goto out;
  }
  if ((x.events || x.cert.secret || x.watch_leases || x.fencing) &&
      lg_cli_api_config("serve", &x.api, true, &kc, err, sizeof err) != LG_OK)
    goto out;
  if (x.events) {
    /* The pod's hostname is its name: Events name it as their source. */
    gethostname(host, sizeof host - 1);
    lg_events_config ec = {
        .kube = &kc, .component = "leaseguard", .host = host, .queue_limit = (size_t)x.queue};
    if (lg_events_start(&ec, cfg.metrics, &cfg.events, err, sizeof err) != LG_OK)
      goto out;
  }
  if (x.cert.secret) {
    x.cert.cc.kube = &kc;
    cfg.certctl = &x.cert.cc;
  }
  if (x.fencing) {
    if (!(cache = lg_leasecache_new((size_t)x.memory, FENCE_PENDING_TTL))) {
      snprintf(err, sizeof err, "%s", lg_strerror(LG_ENOMEM));
      goto out;
    }
    cfg.lease_cache = cache;
  }
  if (x.watch_leases || x.fencing) {
    /* A watch never decides readiness: admission must not wait on the API server. */
    lg_leasefeed_config fc = {
        .kube = &kc, .witness = cfg.witness, .cache = cache, .watch_timeout_s = 300};
    if (lg_leasefeed_start(&fc, &feed, err, sizeof err) != LG_OK)
      goto out;
  }
  if (x.fencing) {
    fence = (lg_fencehook_env){.cache = cache,
                               .get = lg_leasefeed_get,
                               .get_ctx = feed,
                               .unknown_allows =
                                   x.fencing_unknown && !strcmp(x.fencing_unknown, "allow")};
    cfg.fence = &fence;
  }
  if (lg_server_run(&cfg, err, sizeof err) == LG_OK)
    status = 0;
out:
  if (status)
    lg_cli_start_error("serve", err); /* a log line: queued, flushed below */
  lg_events_stop(cfg.events);
  lg_leasefeed_stop(feed);
  lg_leasecache_free(cache);
  /* A stderr whose reader is stuck would block this exit too: the queue gives up on it. */
  lg_log_stop_queue(LOG_FLUSH_MS);
  lg_metrics_free(cfg.metrics);
  lg_witness_free(cfg.witness);
  lg_kube_config_free(&kc);
  free(x.cert.names_buf);
  return status;
}
