/* server.c -- the HTTPS webhook server: libmicrohttpd start and stop, the connection limit and
 * deadlines, connection noise, file reloads, the probe and metrics listeners, signals and the
 * graceful shutdown. Requests are answered in routes.c; certificates are in tls.c. */
#include "server.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "clockcheck.h"
#include "conns.h"
#include "cpus.h"
#include "httpd.h"
#include "listen.h"
#include "log.h"
#include "noise.h"
#include "policywatch.h"
#include "routes_mhd.h"
#include "times.h"
#include "tls_mhd.h"

/* Connection noise is summed up in one log line per this many seconds. */
#define NOISE_INTERVAL_S 10
/* The probe and metrics listeners: small, and quick to drop a silent client. */
#define AUX_CONNECTIONS 32
#define AUX_TIMEOUT_S   10
/* libmicrohttpd's memory per connection (its default is 32 KiB): the request line and
 * headers, and its read and write buffers; the body is copied out as it arrives. It zeroes
 * the whole pool after every request, so a smaller pool is less CPU as well as less memory. */
#define CONNECTION_POOL (8 * 1024)

typedef struct {
  const lg_server_config *cfg;
  pthread_mutex_t lock; /* guards mhd_error */
  char mhd_error[256];  /* the last libmicrohttpd message, for start-up failures */
  lg_tls *tls;          /* the serving certificate and client CA */
  lg_certctl *certctl;  /* the certificate controller, or NULL (files) */
  lg_policywatch *policies;
  lg_conns *conns; /* open connections: the limit and the request deadline */
  lg_noise *noise; /* connection failures, summed up per interval */
  lg_routes *routes;
  lg_httpd *probes, *metrics_http; /* the plain-HTTP listeners, or NULL */
  lg_listen_addr addr;
  atomic_bool stopping; /* the daemon is closing every connection: not noise */
  lg_clockcheck clock;  /* does this node's clock disagree with every writer's? */
} server;

/* Seconds on the monotonic clock, for deadlines. */
static double mono_s(void) { return (double)lg_time_mono() / 1e6; }

/* ---- connections ---- */

/* The MHD_OPTION_ACCEPT_POLICY callback. libmicrohttpd stops accepting at its own limit,
 * leaving further clients waiting in the backlog; so its limit is set higher and the
 * connections past ours are closed at once here instead. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len) {
  server *s = cls;
  char peer[64], why[64];
  (void)len;
  if (lg_conns_count(s->conns) < s->cfg->connection_limit)
    return MHD_YES;
  lg_noise_peer(addr, peer, sizeof peer);
  snprintf(why, sizeof why, "at --max-connections=%u", s->cfg->connection_limit);
  lg_noise_add(s->noise, LG_NOISE_LIMIT, peer, why);
  return MHD_NO;
}

/* libmicrohttpd's timeout counts idle time only: a client that sends a byte every second
 * would hold a connection forever. So a connection must deliver a whole request within the
 * timeout of opening or of its previous reply; else its socket is shut down here, which
 * libmicrohttpd sees as the peer going away. Main thread only. */
static void cut_socket(int fd, void *ud) {
  (void)ud;
  if (fd >= 0)
    shutdown(fd, SHUT_RDWR);
}

static void reap_slow(server *s) {
  size_t cut = lg_conns_expire(s->conns, mono_s(), s->cfg->connection_timeout_s, cut_socket, NULL);
  char n[24];

  cut += lg_httpd_reap(s->probes) + lg_httpd_reap(s->metrics_http);
  if (cut) {
    snprintf(n, sizeof n, "%zu", cut);
    lg_log(LG_LOG_INFO, "closed connections that sent no whole request within the timeout", "count",
           n, NULL);
  }
}

/* Each connection's socket context is its TLS state; without it the handshake fails
 * (lg_tls_on_cert finds no state). A connection closed before its handshake completed is
 * noise: counted, never logged one by one. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
  server *s = cls;
  char why[160], peer[64];

  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    *socket_context = lg_tls_conn_new(s->tls, c);
    lg_conns_add(s->conns, c, ci ? ci->connect_fd : -1, mono_s());
    return;
  }
  if (!atomic_load(&s->stopping) && lg_tls_conn_failed(*socket_context, why, sizeof why)) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    lg_noise_peer(ci ? ci->client_addr : NULL, peer, sizeof peer);
    lg_noise_add(s->noise, LG_NOISE_HANDSHAKE, peer, why);
  }
  lg_conns_remove(s->conns, c);
  lg_tls_conn_free(*socket_context);
  *socket_context = NULL;
}

/* libmicrohttpd's messages about one connection a client broke: counted as noise. Its
 * message about a failed handshake, and about connections our accept policy refused, are
 * counted where they happen (on_connection, on_accept) and dropped here. */
static const struct {
  const char *text;
  int kind; /* an lg_noise_kind, or -1: dropped */
} mhd_noise[] = {
    {"handshake message out of context", -1},
    {"rejected by application", -1},
    {"reached connection limit", LG_NOISE_LIMIT},
    {"Error processing request", LG_NOISE_HTTP},
    {"Too late to send an error response", LG_NOISE_HTTP},
    {"Not enough memory in pool", LG_NOISE_HTTP},
    {"`Host' header", LG_NOISE_HTTP},
    {"Content-Length", LG_NOISE_HTTP},
    {"Socket has been disconnected", LG_NOISE_HTTP},
    {"Connection socket is closed", LG_NOISE_HTTP},
    {"closed by remote side", LG_NOISE_HTTP},
    {"Failed to send", LG_NOISE_HTTP},
    {"incomplete upload", LG_NOISE_HTTP},
};

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt,
                                                             va_list ap) {
  server *s = cls;
  char msg[256];
  size_t n;

  vsnprintf(msg, sizeof msg, fmt, ap);
  n = strlen(msg);
  while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' ' || msg[n - 1] == '.'))
    msg[--n] = '\0';
  for (size_t i = 0; i < sizeof mhd_noise / sizeof mhd_noise[0]; i++) {
    if (strstr(msg, mhd_noise[i].text)) {
      if (mhd_noise[i].kind >= 0)
        lg_noise_add(s->noise, (lg_noise_kind)mhd_noise[i].kind, NULL, msg);
      return;
    }
  }
  pthread_mutex_lock(&s->lock);
  memcpy(s->mhd_error, msg, n + 1);
  pthread_mutex_unlock(&s->lock);
  lg_log(LG_LOG_WARNING, "libmicrohttpd", "detail", msg, NULL);
}

/* Logs what the noise tally holds, if anything. */
static void flush_noise(server *s) {
  lg_noise_summary sum;
  if (lg_noise_take(s->noise, &sum))
    lg_noise_log(&sum, NOISE_INTERVAL_S);
}

/* ---- start-up ---- */

/* Starts libmicrohttpd on s->addr; with a client CA, each connection asks for a client
 * certificate (lg_tls_conn_new), checked per request in routes.c. */
static lg_rc start_daemon(server *s, struct MHD_Daemon **out, char *err, size_t errlen) {
  const lg_server_config *cfg = s->cfg;
  unsigned flags, threads = cfg->threads;
  struct MHD_OptionItem opt[2];
  size_t n = 0;
  unsigned quota = 0;
  char nthreads[16], nquota[16];
  lg_rc rc = LG_OK;

  if (!MHD_is_feature_supported(MHD_FEATURE_TLS))
    return lg_fail(err, errlen, LG_ETLS, "libmicrohttpd was built without TLS support");
  flags = MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
  flags |= s->addr.dual_stack ? MHD_USE_DUAL_STACK : s->addr.ipv6 ? MHD_USE_IPv6 : 0;
  /* poll(), not epoll: libmicrohttpd 0.9.75 aborts the process ("Failed to remove listen FD
   * from epoll set") when MHD_quiesce_daemon races a pool worker that is awake, so a SIGTERM
   * under load could kill the pod mid-drain. With poll() quiescing only signals the workers.
   * A worker polls its own connections, a few dozen API-server keep-alives. */
  flags |= MHD_is_feature_supported(MHD_FEATURE_POLL) ? MHD_USE_POLL : 0;
  if (threads == 0)
    threads = lg_cpus_usable(&quota);
  if (threads > cfg->connection_limit)
    threads = cfg->connection_limit;
  /* libmicrohttpd warns about a pool of size 0 or 1. */
  if (threads > 1)
    opt[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)threads, NULL};
  opt[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
  /* The certificate comes from lg_tls_on_cert at each handshake, not from libmicrohttpd.
   * Headroom over our connection limit (on_accept enforces it) keeps a worker accepting, so
   * that connections past it are closed rather than left waiting; each worker may let one
   * more through between on_accept and track. */
  *out = MHD_start_daemon(
      flags, (uint16_t)cfg->secure_port, on_accept, s, lg_routes_on_request, s->routes,
      MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s, MHD_OPTION_NOTIFY_COMPLETED,
      lg_routes_on_completed, s->routes, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
      MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&s->addr.ss, MHD_OPTION_HTTPS_CERT_CALLBACK2,
      lg_tls_on_cert, MHD_OPTION_HTTPS_PRIORITIES, cfg->tls->priority, MHD_OPTION_CONNECTION_LIMIT,
      cfg->connection_limit + 2 * threads + 8, MHD_OPTION_CONNECTION_TIMEOUT,
      cfg->connection_timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_POOL,
      MHD_OPTION_ARRAY, opt, MHD_OPTION_END);
  if (!*out) {
    pthread_mutex_lock(&s->lock);
    rc = lg_fail(err, errlen, strstr(s->mhd_error, "TLS") ? LG_ETLS : LG_ESERVER,
                 "cannot serve HTTPS on %s: %s", s->addr.shown,
                 s->mhd_error[0] ? s->mhd_error : "libmicrohttpd refused to start");
    pthread_mutex_unlock(&s->lock);
    return rc;
  }
  snprintf(nthreads, sizeof nthreads, "%u", threads);
  snprintf(nquota, sizeof nquota, "%u", quota);
  lg_log(LG_LOG_INFO, "worker threads", "threads", nthreads, "source",
         cfg->threads ? "--threads"
         : quota      ? "cgroup CPU quota"
                      : "CPUs available",
         "cgroupCPUQuota", quota ? nquota : "none", NULL);
  return rc;
}

/* Starts the probe and metrics listeners that are configured. */
static lg_rc start_listeners(server *s, char *err, size_t errlen) {
  lg_httpd_config probes = {.addr = s->cfg->health_probe_bind_address,
                            .flag = "--health-probe-bind-address",
                            .handler = lg_routes_probe_answer,
                            .ctx = s->routes,
                            .connection_limit = AUX_CONNECTIONS,
                            .timeout_s = AUX_TIMEOUT_S};
  lg_httpd_config metrics = probes;
  lg_rc rc = LG_OK;

  metrics.addr = s->cfg->metrics_bind_address;
  metrics.flag = "--metrics-bind-address";
  metrics.handler = lg_routes_metrics_answer;
  if (probes.addr)
    rc = lg_httpd_start_with(&probes, &s->probes, err, errlen);
  if (rc == LG_OK && metrics.addr)
    rc = lg_httpd_start_with(&metrics, &s->metrics_http, err, errlen);
  return rc;
}

/* ---- running and stopping ---- */

/* The writers' clock offsets against this node's clock, with the policy's skew budget. */
static void check_clock(server *s) {
  lg_policy_ref *ref;
  lg_rule_config cfg;
  if (!s->cfg->witness || !(ref = lg_policywatch_acquire(s->policies)))
    return;
  lg_policy_resolve(lg_policy_ref_get(ref), LG_MODE_INHERIT, "", "", "", &cfg);
  lg_policy_ref_release(ref);
  lg_clockcheck_tick(&s->clock, s->cfg->witness, s->cfg->metrics, cfg.skew, lg_time_mono());
}

/* Milliseconds from now until the monotonic time t (seconds), at least 0. */
static int64_t ms_until(double t) {
  double d = (t - mono_s()) * 1000;
  return d > 0 ? (int64_t)d : 0;
}

/* Waits for SIGTERM/SIGINT, checking the policy, certificate, key and client CA files every
 * interval and on SIGHUP, the certificate's expiry daily, for slow connections four times
 * per connection timeout (at most every second), and logging connection noise every 10 s.
 * The first SIGTERM/SIGINT makes /readyz fail and starts the shutdown delay; a second one,
 * or the delay's end, returns. */
static void serve_until_signal(server *s, const sigset_t *set) {
  unsigned ms = s->cfg->policy_check_interval_ms;
  int64_t reap_ms = (int64_t)s->cfg->connection_timeout_s * 250;
  double next_check = mono_s() + ms / 1000.0, next_noise = mono_s() + NOISE_INTERVAL_S;
  double stop_at = -1; /* the end of the shutdown delay, once it has begun */

  if (reap_ms > 1000)
    reap_ms = 1000;
  for (;;) {
    int64_t wait = lg_tls_expiry_due_ms(s->tls);
    struct timespec ts;
    int sig;

    if (wait < 0)
      wait = 0;
    if (ms && wait > ms_until(next_check))
      wait = ms_until(next_check);
    if (wait > ms_until(next_noise))
      wait = ms_until(next_noise);
    if (stop_at >= 0 && wait > ms_until(stop_at))
      wait = ms_until(stop_at);
    if (wait > reap_ms)
      wait = reap_ms;
    ts.tv_sec = (time_t)(wait / 1000);
    ts.tv_nsec = (long)(wait % 1000) * 1000000L;
    sig = sigtimedwait(set, NULL, &ts);
    if (sig == SIGTERM || sig == SIGINT) {
      const char *name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
      char delay[32];
      if (stop_at >= 0) {
        lg_log(LG_LOG_INFO, "second signal: ending the shutdown delay now", "signal", name, NULL);
        return;
      }
      lg_routes_set_serving(s->routes, false);
      if (!s->cfg->shutdown_delay_ms) {
        lg_log(LG_LOG_INFO, "shutting down", "signal", name, NULL);
        return;
      }
      snprintf(delay, sizeof delay, "%gs", s->cfg->shutdown_delay_ms / 1000.0);
      lg_log(LG_LOG_INFO, "shutting down: /readyz fails from now; serving for the shutdown delay",
             "signal", name, "shutdownDelay", delay, NULL);
      stop_at = mono_s() + s->cfg->shutdown_delay_ms / 1000.0;
    } else if (sig == SIGHUP) {
      lg_policywatch_reload_if_changed(s->policies, true);
      lg_tls_reload_if_changed(s->tls, true);
      lg_certctl_kick(s->certctl);
    } else if (sig < 0 && errno == EAGAIN && ms && mono_s() >= next_check) {
      lg_policywatch_reload_if_changed(s->policies, false);
      lg_tls_reload_if_changed(s->tls, false);
      next_check = mono_s() + ms / 1000.0;
    }
    reap_slow(s);
    if (lg_tls_expiry_due_ms(s->tls) <= 0)
      lg_tls_check_expiry(s->tls);
    if (mono_s() >= next_noise) {
      flush_noise(s);
      check_clock(s);
      next_noise = mono_s() + NOISE_INTERVAL_S;
    }
    if (stop_at >= 0 && mono_s() >= stop_at) {
      lg_log(LG_LOG_INFO, "shutdown delay over: draining", NULL);
      return;
    }
  }
}

/* Stops accepting, lets requests already begun finish (bounded by the connection
 * timeout), then stops the daemon, closing idle keep-alive connections. The listening
 * socket is shut down at once (it may only be closed after MHD_stop_daemon) so that new
 * clients are refused rather than left waiting in its backlog. The probe and metrics
 * listeners stop last (/readyz keeps failing there meanwhile). */
static void stop_daemon(server *s, struct MHD_Daemon *d) {
  unsigned budget_ms = (s->cfg->connection_timeout_s ? s->cfg->connection_timeout_s : 30) * 1000;
  const struct timespec tick = {.tv_sec = 0, .tv_nsec = 10 * 1000000L};
  MHD_socket listener;

  lg_routes_set_serving(s->routes, false);
  listener = MHD_quiesce_daemon(d);
  if (listener != MHD_INVALID_SOCKET)
    shutdown(listener, SHUT_RDWR);
  for (unsigned waited = 0; lg_routes_active(s->routes) && waited < budget_ms; waited += 10)
    nanosleep(&tick, NULL);
  atomic_store(&s->stopping, true);
  MHD_stop_daemon(d);
  if (listener != MHD_INVALID_SOCKET)
    close(listener);
  lg_httpd_stop(s->probes);
  lg_httpd_stop(s->metrics_http);
  s->probes = s->metrics_http = NULL;
  flush_noise(s);
}

/* The TLS versions and suites in force, and what to warn about them. */
static void log_tls(const lg_tlsopts *t) {
  lg_log(LG_LOG_INFO, "TLS", "minVersion",
         strstr(t->priority, "VERS-TLS1.2") ? "VersionTLS12" : "VersionTLS13", "cipherSuites",
         t->suites, NULL);
  if (t->warning[0])
    lg_log(LG_LOG_WARNING, "TLS cipher suites", "warning", t->warning, NULL);
}

/* Everything but the daemon: TLS state, policy, connection set, noise tally, routes. */
static lg_rc prepare(server *s, char *err, size_t errlen) {
  const lg_server_config *cfg = s->cfg;
  lg_tls_config tls_cfg = {.cert_file = cfg->tls_cert_file,
                           .key_file = cfg->tls_key_file,
                           .pair_source = "the certificate Secret",
                           .client_ca_file = cfg->client_ca_file,
                           .metrics = cfg->metrics};
  lg_rc rc;

  if (cfg->certctl)
    tls_cfg.cert_file = tls_cfg.key_file = NULL;
  rc = lg_listen_resolve("--bind-address", cfg->bind_address, cfg->secure_port,
                         lg_listen_ipv6_available(), &s->addr, err, errlen);
  if (rc)
    return rc;
  if (s->addr.fell_back)
    lg_log(LG_LOG_WARNING, "this host has no IPv6: listening on every IPv4 address only", "address",
           s->addr.shown, NULL);
  if (!(s->conns = lg_conns_new()) || !(s->noise = lg_noise_new(cfg->metrics)))
    return lg_fail(err, errlen, LG_ENOMEM, "out of memory");
  rc = lg_tls_new(&tls_cfg, &s->tls, err, errlen);
  if (rc)
    return rc;
  if (cfg->certctl &&
      (rc = lg_certctl_start(cfg->certctl, s->tls, cfg->metrics, &s->certctl, err, errlen)))
    return rc;
  rc = lg_policywatch_new(cfg->policy_file, cfg->metrics, &s->policies, err, errlen);
  if (rc)
    return rc;
  if (!(s->routes = lg_routes_new(cfg, s->policies, s->tls, s->conns, s->noise)))
    return lg_fail(err, errlen, LG_ENOMEM, "out of memory");
  return LG_OK;
}

lg_rc lg_server_run(const lg_server_config *cfg_in, char *err, size_t errlen) {
  server s;
  lg_server_config cfg;
  lg_tlsopts tls_default;
  struct MHD_Daemon *d = NULL;
  sigset_t set, old;
  bool masked = false, locked = false;
  lg_rc rc;

  if (!cfg_in || !cfg_in->bind_address ||
      (!cfg_in->certctl && (!cfg_in->tls_cert_file || !cfg_in->tls_key_file)))
    return lg_fail(err, errlen, LG_EINVAL,
                   "bind address, and TLS certificate and key (or the certificate controller) "
                   "are required");
  if (cfg_in->secure_port < 1 || cfg_in->secure_port > 65535 || !cfg_in->max_request_bytes ||
      !cfg_in->connection_limit)
    return lg_fail(err, errlen, LG_EINVAL, "port, request limit and connection limit must be > 0");
  cfg = *cfg_in;
  if (!cfg.tls) {
    rc = lg_tlsopts_build(NULL, NULL, &tls_default, err, errlen);
    if (rc)
      return rc;
    cfg.tls = &tls_default;
  }
  memset(&s, 0, sizeof s);
  s.cfg = &cfg;
  atomic_init(&s.stopping, false);
  if (pthread_mutex_init(&s.lock, NULL) != 0)
    return lg_fail(err, errlen, LG_ESERVER, "cannot create a mutex");
  locked = true;
  rc = prepare(&s, err, errlen);
  if (rc)
    goto out;

  /* Blocked before MHD starts so its threads inherit the mask and only sigtimedwait
   * below sees these signals. */
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  if (pthread_sigmask(SIG_BLOCK, &set, &old) != 0) {
    rc = lg_fail(err, errlen, LG_ESERVER, "cannot block signals");
    goto out;
  }
  masked = true;
  if (!MHD_is_feature_supported(MHD_FEATURE_AUTOSUPPRESS_SIGPIPE))
    signal(SIGPIPE, SIG_IGN);

  rc = start_daemon(&s, &d, err, errlen);
  if (rc == LG_OK)
    rc = start_listeners(&s, err, errlen);
  if (rc)
    goto out;
  lg_routes_set_serving(s.routes, true);
  log_tls(cfg.tls);
  lg_log(LG_LOG_INFO, "listening", "address", s.addr.shown, "healthProbes",
         s.probes ? lg_httpd_address(s.probes) : "(off)", "metrics",
         s.metrics_http ? lg_httpd_address(s.metrics_http) : "(off)", "policy",
         cfg.policy_file ? cfg.policy_file : "(built-in)", "clientCA",
         cfg.client_ca_file ? cfg.client_ca_file : "(none)", "certificate",
         cfg.certctl ? "certificate controller" : cfg.tls_cert_file, NULL);
  serve_until_signal(&s, &set);
  stop_daemon(&s, d);
  d = NULL;

out:
  if (d) {
    atomic_store(&s.stopping, true);
    MHD_stop_daemon(d);
  }
  lg_httpd_stop(s.probes);
  lg_httpd_stop(s.metrics_http);
  if (masked) {
    /* Consume signals that came during shutdown so unblocking does not act on them. */
    const struct timespec zero = {0, 0};
    while (sigtimedwait(&set, NULL, &zero) > 0)
      ;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
  }
  lg_certctl_stop(s.certctl);
  lg_routes_free(s.routes);
  lg_policywatch_free(s.policies);
  lg_tls_free(s.tls);
  lg_noise_free(s.noise);
  lg_conns_free(s.conns);
  if (locked)
    pthread_mutex_destroy(&s.lock);
  return rc;
}
