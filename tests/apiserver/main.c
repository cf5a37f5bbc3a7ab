/* main.c -- lg-test-apiserver: flags to an as_config, serve until SIGTERM or SIGINT, clean up. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "apiserver.h"
#include "aslog.h"
#include "http.h"
#include "store.h"
#include "tokens.h"

static const char usage[] =
    "usage: lg-test-apiserver --tls-cert-file=PATH --tls-private-key-file=PATH\n"
    "                         --token-auth-file=PATH [flags]\n"
    "\n"
    "A small HTTPS server that behaves like kube-apiserver for coordination.k8s.io/v1 leases,\n"
    "core/v1 events, Secrets and ConfigMaps, wgpolicyk8s.io/v1alpha2 PolicyReports and\n"
    "ValidatingWebhookConfigurations, calling a validating admission webhook for lease writes\n"
    "and a fence webhook for writes of objects labelled " AS_FENCE_LABEL "=true.\n"
    "See tests/apiserver/README.md for what it does and how it differs.\n"
    "\n"
    "  --secure-port N                 port, 0 = any free port (default 6443)\n"
    "  --bind-address ADDR             numeric address (default 127.0.0.1)\n"
    "  --tls-cert-file PATH            PEM serving certificate (required)\n"
    "  --tls-private-key-file PATH     PEM private key (required)\n"
    "  --token-auth-file PATH          token,user,uid,\"group1,group2\"[,pod-name] (required)\n"
    "  --webhook-url URL               https URL of the lease webhook (default: none)\n"
    "  --webhook-ca-file PATH          CA bundle to verify the webhook with\n"
    "  --webhook-name NAME             the webhook's name (default leaseguard.example.com)\n"
    "  --webhook-timeout SECONDS       timeoutSeconds, 1..30 (default 10)\n"
    "  --webhook-failure-policy P      Fail or Ignore (default Fail)\n"
    "  --fence-webhook-url URL         https URL of the fence webhook, called for CREATE, UPDATE\n"
    "                                  and DELETE of Secrets, ConfigMaps, PolicyReports and\n"
    "                                  webhook configurations whose new or old version is\n"
    "                                  labelled " AS_FENCE_LABEL "=true (default: none)\n"
    "  --fence-webhook-ca-file PATH    CA bundle to verify it with\n"
    "  --fence-webhook-name NAME       its name (default fence.leaseguard.example.com)\n"
    "  --fence-webhook-timeout SECONDS its timeoutSeconds, 1..30 (default 10)\n"
    "  --fence-webhook-failure-policy P  Fail or Ignore (default Fail)\n"
    "  --webhook-configuration NAME    call each webhook only while the stored\n"
    "                                  ValidatingWebhookConfiguration NAME has a webhook of its\n"
    "                                  name, trusting its caBundle (not the CA files)\n"
    "  --no-policy-reports             serve no PolicyReports: 404 for their paths, as a cluster\n"
    "                                  without the CRD\n"
    "  --port-file PATH                write the port there once listening\n"
    "  --watch-history N               changes kept for resuming watches (default 1000)\n"
    "  --write-delay MS                stored objects (not leases or events): each write waits\n"
    "                                  this long between reading and storing (default 0)\n";

/* --name=value or --name value; returns 1 and *v on a match, -1 when the value is missing. */
static int flag(int argc, char **argv, int *i, const char *name, const char **v) {
  size_t n = strlen(name);
  if (strncmp(argv[*i], name, n) != 0)
    return 0;
  if (argv[*i][n] == '=') {
    *v = argv[*i] + n + 1;
    return 1;
  }
  if (argv[*i][n] != '\0')
    return 0;
  if (*i + 1 >= argc)
    return -1;
  *v = argv[++*i];
  return 1;
}

static int parse_long(const char *s, long min, long max, long *out) {
  char *end;
  long v;
  errno = 0;
  v = strtol(s, &end, 10);
  if (errno || !*s || *end || v < min || v > max)
    return -1;
  *out = v;
  return 0;
}

/* Fills cfg from argv; returns 0, 1 after --help, -1 after a message on stderr. */
/* A webhook's timeout and failure policy from their flags; -1 after a message. */
static int webhook_flags(const char *prefix, const char *timeout, const char *policy,
                         as_webhook *w) {
  if (parse_long(timeout, 1, 30, &w->timeout_s)) {
    fprintf(stderr, "lg-test-apiserver: --%swebhook-timeout must be 1..30 seconds\n", prefix);
    return -1;
  }
  if (strcmp(policy, "Fail") != 0 && strcmp(policy, "Ignore") != 0) {
    fprintf(stderr, "lg-test-apiserver: --%swebhook-failure-policy must be Fail or Ignore\n",
            prefix);
    return -1;
  }
  w->fail_open = !strcmp(policy, "Ignore");
  return 0;
}

static int parse_flags(int argc, char **argv, as_config *cfg) {
  const char *port = "6443", *timeout = "10", *policy = "Fail", *history = "1000", *delay = "0";
  const char *fence_timeout = "10", *fence_policy = "Fail";
  const struct {
    const char *name;
    const char **dst;
  } flags[] = {
      {"--secure-port", &port},
      {"--bind-address", &cfg->bind_address},
      {"--tls-cert-file", &cfg->tls_cert_file},
      {"--tls-private-key-file", &cfg->tls_key_file},
      {"--token-auth-file", &cfg->token_auth_file},
      {"--webhook-url", &cfg->webhook.url},
      {"--webhook-ca-file", &cfg->webhook.ca_file},
      {"--webhook-name", &cfg->webhook.name},
      {"--webhook-configuration", &cfg->webhook_configuration},
      {"--webhook-timeout", &timeout},
      {"--webhook-failure-policy", &policy},
      {"--fence-webhook-url", &cfg->fence.url},
      {"--fence-webhook-ca-file", &cfg->fence.ca_file},
      {"--fence-webhook-name", &cfg->fence.name},
      {"--fence-webhook-timeout", &fence_timeout},
      {"--fence-webhook-failure-policy", &fence_policy},
      {"--port-file", &cfg->port_file},
      {"--watch-history", &history},
      {"--write-delay", &delay},
  };
  long v;

  for (int i = 1; i < argc; i++) {
    const char *val = NULL;
    int m = 0;
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs(usage, stdout);
      return 1;
    }
    if (!strcmp(argv[i], "--no-policy-reports")) {
      cfg->no_policy_reports = true;
      continue;
    }
    for (size_t k = 0; m == 0 && k < sizeof flags / sizeof flags[0]; k++)
      if ((m = flag(argc, argv, &i, flags[k].name, &val)) > 0)
        *flags[k].dst = val;
    if (m <= 0) {
      fprintf(stderr, "lg-test-apiserver: %s \"%s\" (see --help)\n",
              m < 0 ? "missing value for" : "unknown argument", argv[i]);
      return -1;
    }
  }
  if (parse_long(port, 0, 65535, &v)) {
    fprintf(stderr, "lg-test-apiserver: --secure-port must be 0..65535\n");
    return -1;
  }
  cfg->secure_port = (int)v;
  if (webhook_flags("", timeout, policy, &cfg->webhook) ||
      webhook_flags("fence-", fence_timeout, fence_policy, &cfg->fence))
    return -1;
  if (parse_long(history, 1, 10000000, &v)) {
    fprintf(stderr, "lg-test-apiserver: --watch-history must be 1..10000000\n");
    return -1;
  }
  cfg->watch_history = (size_t)v;
  if (parse_long(delay, 0, 60000, &cfg->write_delay_ms)) {
    fprintf(stderr, "lg-test-apiserver: --write-delay must be 0..60000 milliseconds\n");
    return -1;
  }
  if (!cfg->tls_cert_file || !cfg->tls_key_file || !cfg->token_auth_file) {
    fprintf(stderr, "lg-test-apiserver: --tls-cert-file, --tls-private-key-file and "
                    "--token-auth-file are required\n");
    return -1;
  }
  if (cfg->webhook.url && (strncmp(cfg->webhook.url, "https://", 8) != 0 ||
                           (!cfg->webhook.ca_file && !cfg->webhook_configuration))) {
    fprintf(stderr, "lg-test-apiserver: --webhook-url must be https:// and needs "
                    "--webhook-ca-file or --webhook-configuration\n");
    return -1;
  }
  if (cfg->fence.url && (strncmp(cfg->fence.url, "https://", 8) != 0 ||
                         (!cfg->fence.ca_file && !cfg->webhook_configuration))) {
    fprintf(stderr, "lg-test-apiserver: --fence-webhook-url must be https:// and needs "
                    "--fence-webhook-ca-file or --webhook-configuration\n");
    return -1;
  }
  return 0;
}

/* Writes the port to path through a temporary file, so readers never see half of it. */
static int write_port_file(const char *path, int port) {
  char tmp[4096];
  FILE *f;
  int ok;
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  if (!(f = fopen(tmp, "w")))
    return -1;
  ok = fprintf(f, "%d\n", port) > 0;
  ok = fclose(f) == 0 && ok;
  return ok && rename(tmp, path) == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
  as_config cfg = {.bind_address = "127.0.0.1",
                   .webhook = {.name = "leaseguard.example.com"},
                   .fence = {.name = "fence.leaseguard.example.com"}};
  as_tokens *tokens = NULL;
  as_store *store = NULL;
  as_http *http = NULL;
  as_ctx ctx;
  sigset_t set;
  char err[1024] = "";
  int port = 0, sig = 0, rc = 1, m;
  bool curl_ready = false;

  if ((m = parse_flags(argc, argv, &cfg)) != 0)
    return m > 0 ? 0 : 2;
  /* Blocked before any thread starts, so that only sigwait below sees them. */
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  if (as_tokens_load(cfg.token_auth_file, &tokens, err, sizeof err))
    goto out;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    snprintf(err, sizeof err, "cannot initialise libcurl");
    goto out;
  }
  curl_ready = true;
  if (!(store = as_store_new(cfg.watch_history))) {
    snprintf(err, sizeof err, "out of memory");
    goto out;
  }
  ctx = (as_ctx){&cfg, store, tokens};
  if (as_http_start(&ctx, &http, &port, err, sizeof err))
    goto out;
  if (cfg.port_file && write_port_file(cfg.port_file, port)) {
    snprintf(err, sizeof err, "cannot write --port-file %s", cfg.port_file);
    goto out;
  }
  as_log(json_pack("{s:s, s:s, s:i, s:s?, s:s, s:s?, s:s, s:b}", "kind", "start", "address",
                   cfg.bind_address, "port", port, "webhook", cfg.webhook.url, "failurePolicy",
                   cfg.webhook.fail_open ? "Ignore" : "Fail", "fenceWebhook", cfg.fence.url,
                   "fenceFailurePolicy", cfg.fence.fail_open ? "Ignore" : "Fail", "policyReports",
                   !cfg.no_policy_reports));
  while (sigwait(&set, &sig) != 0 || (sig != SIGTERM && sig != SIGINT))
    ;
  as_log(json_pack("{s:s, s:s}", "kind", "stop", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"));
  rc = 0;
out:
  if (err[0])
    fprintf(stderr, "lg-test-apiserver: %s\n", err);
  if (store)
    as_store_stop(store); /* ends watches, so that their connections can close */
  as_http_stop(http);
  as_store_free(store);
  as_tokens_free(tokens);
  if (curl_ready)
    curl_global_cleanup();
  return rc;
}
