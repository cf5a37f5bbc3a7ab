/* cmd_audit.c -- `leaseguard audit`: judge recorded Lease versions, or watch them live. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "cli.h"
#include "decision.h"
#include "httpd.h"
#include "kube.h"
#include "leasewatch.h"
#include "k8sname.h"
#include "log.h"
#include "logq.h"
#include "metrics.h"
#include "polreportsync.h"
#include "times.h"

#define READ_CHUNK 65536
#define VALUE_MAX  (1024L * 1024 * 1024) /* one JSON value of a recorded history */
/* PolicyReports: written every this many seconds; results kept per namespace. */
#define REPORT_SYNC_S      5
#define REPORT_MAX_RESULTS 1000

static const char usage[] =
    "Usage: leaseguard audit [--policy-file=PATH] [--mode=enforce|warn|audit]\n"
    "                        [--output=table|json] [FILE|-]\n"
    "       leaseguard audit --watch [--namespace=NS] [--http=ADDR:PORT] [--policy-file=PATH]\n"
    "                        [--mode=MODE] [--watch-timeout=5m] [--log-level=info]\n"
    "                        [--policy-reports [--policy-report-ttl=24h]] [API flags]\n"
    "\n"
    "Judges how Leases changed, after the fact, with the rules `serve` runs.\n"
    "\n"
    "A recorded history (FILE, or stdin when FILE is - or absent): the output of\n"
    "`kubectl get lease -A -w -o json` (concatenated objects; --output-watch-events too), or\n"
    "a List/LeaseList. The versions of each namespace/name are compared in order: the first\n"
    "as a CREATE, each next one as an UPDATE of the one before, a DELETED watch event as a\n"
    "DELETE, judged at the versions' own time: the new renewTime, else acquireTime, else the\n"
    "old renewTime. A version with the same resourceVersion or the same spec as the one\n"
    "before is not judged. Prints the findings and \"N versions of M leases, K findings\".\n"
    "\n"
    "--watch: lists the leases, then watches them and judges each change as it arrives (at\n"
    "the earlier of its own time and its arrival); prints each finding as a JSON audit line\n"
    "(\"source\":\"watch\") on stdout; resumes from the last resourceVersion when a watch ends\n"
    "and re-lists after 410 Gone; needs list and watch on leases.\n"
    "\n"
    "  --policy-file=PATH     policy to judge with (default: the built-in default policy)\n"
    "  --mode=MODE            replace the policy's defaultMode\n"
    "  --output=table|json    an aligned table (default), or one JSON object per finding per\n"
    "                         line, printed as found (the summary then goes to stderr)\n"
    "  --watch                watch the cluster instead of reading a history\n"
    "  --namespace=NS         only the leases of NS (default: all namespaces)\n"
    "  --http=ADDR:PORT       plain HTTP: GET /metrics, /healthz, /readyz (listed once)\n"
    "  --watch-timeout=5m     how long one WATCH request lasts before it is renewed\n"
    "  --policy-reports       also keep a wgpolicyk8s.io/v1alpha2 PolicyReport per namespace\n"
    "                         (leaseguard-leases): one result per lease and rule, the latest\n"
    "                         finding, removed with the lease; needs the CRD and RBAC on\n"
    "                         policyreports (without the CRD: logs and metrics only)\n"
    "  --policy-report-ttl=24h  how long a result stays after its finding\n"
    "  --log-level=info       logs (JSON lines on stderr): debug, info, warning, error\n"
    "\n" LG_CLI_API_HELP "\n"
    "Limits: the requester of a write is not in the history, so holder-identity is never\n"
    "judged and exemptions by username never apply. A history can miss versions (a watch\n"
    "reconnecting, a re-list after 410 Gone, a recording started late): two changes then\n"
    "look like one, e.g. leaseTransitions + 2 reported as a skipped transition. The time of\n"
    "a deletion is not recorded: offline it is judged at the lease's last renewTime, so a\n"
    "deleted held lease is reported as held. With --watch, the leases present at start are\n"
    "not judged, only their changes. Under coordinated leader election the election\n"
    "controller cannot be told from another writer.\n"
    "\n"
    "Exit status: 0 clean, 1 findings, 2 unusable input or usage (reason on stderr).\n"
    "--watch: 0 after SIGTERM/SIGINT, 1 when it cannot start, 2 on usage.\n";

typedef struct {
  const char *policy_file, *mode_s, *output, *input, *ns, *http, *log_level;
  lg_kube_flags api;
  bool watch, json, reports, watch_timeout_given, report_ttl_given;
  lg_mode mode;
  long watch_timeout_s;
  int64_t watch_timeout_us, report_ttl_us;
} options;

/* Returns 0 to go on, 1 after --help, 2 on a usage error (reported). */
static int parse(int argc, char **argv, options *o) {
  static const char *const outputs[] = {"table", "json", NULL};
  static const char got[] = "{flag} must be {values}, got \"{value}\"";
  const lg_flag flags[] = {
      {.name = "--policy-file", .kind = LG_FLAG_STRING, .dst = &o->policy_file},
      {.name = "--mode",
       .kind = LG_FLAG_ENUM,
       .dst = &o->mode_s,
       .values = lg_cli_modes,
       .bad = got},
      {.name = "--output", .kind = LG_FLAG_ENUM, .dst = &o->output, .values = outputs, .bad = got},
      {.name = "--watch", .kind = LG_FLAG_BOOL, .dst = &o->watch},
      {.name = "--namespace", .kind = LG_FLAG_STRING, .dst = &o->ns},
      {.name = "--http", .kind = LG_FLAG_STRING, .dst = &o->http},
      {.name = "--watch-timeout",
       .kind = LG_FLAG_DURATION,
       .dst = &o->watch_timeout_us,
       .def = "5m",
       .min = LG_USEC_PER_SEC,
       .max = 24 * 3600 * LG_USEC_PER_SEC,
       .bad = "{flag} must be 1s..24h, got \"{value}\"",
       .given = &o->watch_timeout_given},
      {.name = "--policy-reports", .kind = LG_FLAG_BOOL, .dst = &o->reports},
      {.name = "--policy-report-ttl",
       .kind = LG_FLAG_DURATION,
       .dst = &o->report_ttl_us,
       .def = "24h",
       .min = LG_USEC_PER_SEC,
       .max = 90LL * 24 * 3600 * LG_USEC_PER_SEC,
       .bad = "{flag} must be 1s..2160h, got \"{value}\"",
       .given = &o->report_ttl_given},
      {.name = "--log-level",
       .kind = LG_FLAG_ENUM,
       .dst = &o->log_level,
       .values = lg_cli_log_levels,
       .bad = got},
      LG_CLI_API_FLAGS(&o->api),
  };
  const lg_flags_spec spec = {flags, sizeof flags / sizeof *flags, "unknown flag {arg}", &o->input,
                              "give one input file"};
  int r;

  o->mode = LG_MODE_INHERIT;
  if ((r = lg_cli_parse("audit", &spec, argc, argv, usage)) != 0)
    return r;
  if (o->mode_s)
    o->mode = lg_rules_parse_mode(o->mode_s);
  o->json = o->output && strcmp(o->output, "json") == 0;
  if (o->watch && (o->input || o->output))
    return lg_cli_usage_error("audit", "--watch reads no file and prints JSON lines; drop %s",
                              o->input ? o->input : "--output");
  if (!o->watch && (o->ns || o->http || o->watch_timeout_given || o->api.kubeconfig ||
                    o->api.context || o->api.server || o->api.token_file || o->api.ca_file ||
                    o->log_level || o->reports || o->report_ttl_given))
    return lg_cli_usage_error("audit", "--namespace, --http, --watch-timeout, --log-level, "
                                       "--policy-reports and the API flags need --watch");
  if (o->report_ttl_given && !o->reports)
    return lg_cli_usage_error("audit", "--policy-report-ttl is for --policy-reports");
  if (o->ns && !lg_k8sname_is_label(o->ns)) /* it goes into the API path */
    return lg_cli_usage_error("audit", "--namespace \"%s\" is not a namespace name", o->ns);
  o->watch_timeout_s = (long)(o->watch_timeout_us / LG_USEC_PER_SEC);
  return 0;
}

/* ---- a recorded history ---- */

typedef struct {
  bool json;
  json_t *rows; /* table: one array of cells per finding, printed at the end */
} offline;

static const char *holder_cell(const lg_lease *l) {
  if (!l)
    return "-";
  return l->holder && l->holder[0] ? l->holder : "\"\"";
}

/* The message without its "[rule] ns/name: " prefix, which the table has in columns. */
static const char *message_cell(const lg_decision *d, const lg_decision_finding *f) {
  char prefix[LG_MESSAGE_MAX];
  size_t n = (size_t)snprintf(prefix, sizeof prefix, "[%s] %s/%s: ", lg_rules_id(f->rule),
                              d->namespace, d->name);
  return n < sizeof prefix && strncmp(f->message, prefix, n) == 0 ? f->message + n : f->message;
}

/* The table's sink: one row per finding, printed at the end (ctx: the rows array). */
static void add_rows(void *ctx, const lg_decision *d) {
  json_t *rows = ctx;
  for (size_t i = 0; i < d->n; i++) {
    const lg_decision_finding *f = &d->findings[i];
    char lease[600], when[LG_TIME_BUFLEN], holders[1024];
    snprintf(lease, sizeof lease, "%s/%s", d->namespace, d->name);
    snprintf(holders, sizeof holders, "%s -> %s", holder_cell(d->old_lease),
             holder_cell(d->new_lease));
    json_array_append_new(
        rows, json_pack("[s,s,s,s,s,s]", lease, lg_rules_id(f->rule), lg_rules_mode_name(f->mode),
                        lg_time_format_short(d->when, when), holders, message_cell(d, f)));
  }
}

static void on_change(void *ud, const lg_audit_change *c) {
  offline *o = ud;
  lg_decision d;
  lg_sink sink = o->json ? lg_log_sink() : (lg_sink){add_rows, o->rows};
  lg_decision_from_audit(c, LG_DECISION_FILE, &d);
  lg_decision_emit(&d, &sink, 1);
}

static void print_table(const json_t *rows) {
  static const char *const head[] = {"LEASE",  "RULE", "MODE", "WHEN", "OLD HOLDER -> NEW HOLDER",
                                     "MESSAGE"};
  int w[6] = {0};
  const json_t *row;
  size_t i;
  for (int k = 0; k < 6; k++)
    w[k] = (int)strlen(head[k]);
  json_array_foreach(rows, i, row) {
    for (int k = 0; k < 5; k++) {
      int n = (int)strlen(json_string_value(json_array_get(row, (size_t)k)));
      w[k] = n > w[k] ? n : w[k];
    }
  }
  printf("%-*s  %-*s  %-*s  %-*s  %-*s  %s\n", w[0], head[0], w[1], head[1], w[2], head[2], w[3],
         head[3], w[4], head[4], head[5]);
  json_array_foreach(rows, i, row) {
    const char *cell[6];
    for (int k = 0; k < 6; k++)
      cell[k] = json_string_value(json_array_get(row, (size_t)k));
    printf("%-*s  %-*s  %-*s  %-*s  %-*s  %s\n", w[0], cell[0], w[1], cell[1], w[2], cell[2], w[3],
           cell[3], w[4], cell[4], cell[5]);
  }
}

/* True when more input is waiting on fd (always, for a file). */
static bool readable_now(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  return poll(&p, 1, 0) > 0;
}

/* Reads values from fd one after another and feeds them to a. Returns 0, or 2 after
 * reporting why the input is unusable. buf[off, len) is what is not parsed yet. */
static int read_history(int fd, const char *name, lg_audit *a, offline *o) {
  char *buf = NULL, err[512];
  size_t len = 0, off = 0, cap = 0, line = 1, values = 0, want = 0;
  bool eof = false;
  int status = 2;

  for (;;) {
    json_t *v;
    size_t used;
    /* After an unfinished value, parse again only once the unparsed part has doubled (a
     * large value costs linear time) or when nothing more is waiting (a pipe: as it comes). */
    if (!eof && (len == off || len - off < want)) {
      ssize_t n;
      if (off) {
        memmove(buf, buf + off, len - off);
        len -= off;
        off = 0;
      }
      if (cap - len < READ_CHUNK) {
        char *grown;
        if (cap >= (size_t)VALUE_MAX) {
          fprintf(stderr, "leaseguard audit: %s: a JSON value larger than 1 GiB\n", name);
          goto out;
        }
        if (!(grown = realloc(buf, cap ? cap * 2 : 2 * READ_CHUNK))) {
          fprintf(stderr, "leaseguard audit: out of memory\n");
          goto out;
        }
        buf = grown;
        cap = cap ? cap * 2 : 2 * READ_CHUNK;
      }
      n = read(fd, buf + len, cap - len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0) {
        fprintf(stderr, "leaseguard audit: cannot read %s: %s\n", name, strerror(errno));
        goto out;
      }
      eof = n == 0;
      len += (size_t)n;
      if (!eof && len < want && readable_now(fd))
        continue;
    }
    if (lg_audit_next_value(buf + off, len - off, eof, line, &v, &used, err, sizeof err)) {
      fprintf(stderr, "leaseguard audit: %s: %s\n", name, err);
      goto out;
    }
    if (!v) {
      if (eof)
        break;
      want = (len - off) * 2;
      continue;
    }
    for (size_t i = off; i < off + used; i++)
      line += buf[i] == '\n';
    off += used;
    want = 0;
    values++;
    if (lg_audit_feed(a, v, on_change, o, err, sizeof err) != LG_OK) {
      fprintf(stderr, "leaseguard audit: %s: value %zu (ending on line %zu): %s\n", name, values,
              line, err);
      json_decref(v);
      goto out;
    }
    json_decref(v);
  }
  if (values == 0) {
    fprintf(stderr, "leaseguard audit: %s: no JSON value in the input\n", name);
    goto out;
  }
  status = 0;
out:
  free(buf);
  return status;
}

static int run_offline(const options *opt, const lg_policy *policy) {
  offline o = {.json = opt->json, .rows = json_array()};
  const char *name = opt->input && strcmp(opt->input, "-") != 0 ? opt->input : "stdin";
  lg_audit *a = lg_audit_new(policy, opt->mode);
  lg_audit_stats st;
  bool is_stdin = strcmp(name, "stdin") == 0;
  int fd = is_stdin ? 0 : open(name, O_RDONLY | O_CLOEXEC), status = 2;

  if (!a || !o.rows) {
    fprintf(stderr, "leaseguard audit: out of memory\n");
    goto out;
  }
  if (fd < 0) {
    fprintf(stderr, "leaseguard audit: cannot read %s: %s\n", name, strerror(errno));
    goto out;
  }
  if (read_history(fd, name, a, &o))
    goto out;
  lg_audit_get_stats(a, &st);
  if (!o.json && json_array_size(o.rows))
    print_table(o.rows);
  fprintf(o.json ? stderr : stdout, "%zu versions of %zu leases, %zu findings\n", st.versions,
          st.leases, st.findings);
  if (st.identity_unjudged)
    fprintf(stderr, "leaseguard audit: note: holder-identity is enabled by the policy but "
                    "cannot be judged: the history does not say who wrote each version\n");
  fprintf(stderr, "leaseguard audit: note: a recording has no times but the writers' own: "
                  "holder-renew and delete-held judged each term from renewTime, within the "
                  "policy's clock skew, not from when versions were seen (audit --watch does)\n");
  if (st.error_events)
    fprintf(stderr,
            "leaseguard audit: note: the history has %zu watch ERROR event(s): versions "
            "may be missing after them\n",
            st.error_events);
  status = st.findings ? 1 : 0;
out:
  if (!is_stdin && fd >= 0)
    close(fd);
  json_decref(o.rows);
  lg_audit_free(a);
  return status;
}

/* ---- --watch ---- */

typedef struct {
  lg_metrics *metrics;
  atomic_bool ready; /* the leases were listed at least once */
} http_state;

/* GET /metrics, /healthz, /readyz (200 once the leases were listed). */
static void answer(void *ctx, const char *url, lg_httpd_answer *out) {
  http_state *st = ctx;
  if (strcmp(url, "/metrics") == 0) {
    out->ctype = "text/plain; version=0.0.4; charset=utf-8";
    out->body = lg_metrics_render(st->metrics, lg_time_now());
  } else if (strcmp(url, "/healthz") == 0) {
    out->body = strdup("ok\n");
  } else if (strcmp(url, "/readyz") == 0) {
    out->status = atomic_load(&st->ready) ? 200 : 503;
    out->body = strdup(out->status == 200 ? "ok\n" : "not listed yet\n");
  }
}

typedef struct {
  lg_audit *audit;
  lg_metrics *metrics;
  http_state *hs;
  lg_polreport *reports; /* NULL without --policy-reports */
  lg_kube *report_kube;
  int64_t next_sync; /* monotonic */
  bool no_crd;
  const sigset_t *signals;
  bool stop; /* SIGTERM or SIGINT arrived */
  bool identity_noted;
} watcher;

/* Writes the PolicyReports that changed, every few seconds (a minute while the CRD is
 * missing), from the watch's own thread. */
static void sync_reports(watcher *w, bool now) {
  int64_t mono = lg_time_mono();
  if (!w->reports || (!now && mono < w->next_sync))
    return;
  lg_polreport_expire(w->reports, lg_time_now());
  lg_polreport_sync(w->reports, w->report_kube, w->metrics, &w->no_crd);
  w->next_sync = mono + (w->no_crd ? 60 : REPORT_SYNC_S) * LG_USEC_PER_SEC;
}

/* Notices SIGTERM/SIGINT (blocked in every thread) without waiting; consumes it. */
static bool stop_requested(void *ud) {
  watcher *w = ud;
  sigset_t pending;
  sync_reports(w, false);
  struct timespec zero = {0, 0};
  if (w->stop)
    return true;
  if (sigpending(&pending) == 0 &&
      (sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1)) {
    sigtimedwait(w->signals, NULL, &zero);
    w->stop = true;
  }
  return w->stop;
}

/* Sleeps usec unless a signal to stop comes first; true to stop. */
static bool wait_for(void *ud, int64_t usec) {
  watcher *w = ud;
  struct timespec ts = {(time_t)(usec / 1000000), (long)(usec % 1000000) * 1000};
  int sig = sigtimedwait(w->signals, NULL, &ts);
  if (sig == SIGTERM || sig == SIGINT)
    w->stop = true;
  return w->stop;
}

/* The PolicyReports' sink (ctx: the lg_polreport). A report lists leases that exist: a
 * deletion's finding (delete-held) is logged and counted, but its lease's results went with
 * it. */
static void report_findings(void *ctx, const lg_decision *d) {
  if (d->old_lease && !d->new_lease)
    return;
  for (size_t i = 0; i < d->n; i++)
    lg_polreport_add(ctx, d->namespace, d->name, d->object_uid ? d->object_uid : "",
                     d->findings[i].finding, "", lg_time_now());
}

/* Tells the metrics and stdout about one change. judged: report its findings. */
static void report(watcher *w, const lg_audit_change *c, bool judged) {
  lg_decision d;
  lg_sink sinks[3];
  size_t n = 0;
  if (c->duplicate)
    return;
  if (c->op == LG_OP_DELETE) {
    lg_metrics_lease_deleted(w->metrics, c->namespace, c->name);
    lg_polreport_lease_deleted(w->reports, c->namespace, c->name);
  } else
    lg_metrics_lease(w->metrics, c->namespace, c->name, c->new_lease.holder,
                     lg_lease_transitions(&c->new_lease), c->new_lease.has_renew,
                     c->new_lease.renew);
  if (!judged)
    return;
  if (c->identity_unjudged && !w->identity_noted) {
    w->identity_noted = true;
    lg_log(LG_LOG_WARNING,
           "holder-identity is enabled by the policy but cannot be judged from "
           "a watch (the writer is unknown)",
           NULL);
  }
  lg_decision_from_audit(c, LG_DECISION_WATCH, &d);
  /* Audit lines are queued: they never stall the watch. */
  sinks[n++] = lg_log_sink();
  sinks[n++] = lg_metrics_sink(w->metrics);
  if (w->reports)
    sinks[n++] = (lg_sink){report_findings, w->reports};
  lg_decision_emit(&d, sinks, n);
}

static void on_forget(void *ud, const char *ns, const char *name) {
  watcher *w = ud;
  lg_metrics_lease_deleted(w->metrics, ns, name);
  lg_polreport_lease_deleted(w->reports, ns, name);
}

/* The first list is the baseline (not judged); a re-list judges what changed while the
 * watch was away, at the versions' time. */
static void on_list(void *ud, json_t *items, bool baseline) {
  watcher *w = ud;
  json_t *it;
  char err[256];
  size_t i, forgotten;
  json_array_foreach(items, i, it) {
    lg_audit_change c;
    if (lg_audit_observe(w->audit, it, false, NULL, &c, err, sizeof err) != LG_OK) {
      lg_log(LG_LOG_WARNING, "unusable lease in the list", "error", err, NULL);
      continue;
    }
    report(w, &c, !baseline);
    lg_audit_change_clear(&c);
  }
  forgotten = lg_audit_forget_absent(w->audit, items, on_forget, w);
  if (forgotten)
    lg_log_json(LG_LOG_INFO, "leases deleted while the watch was away", "{s:I}", "forgotten",
                (json_int_t)forgotten);
  atomic_store(&w->hs->ready, true);
}

static void on_event(void *ud, lg_leasewatch_event type, json_t *obj) {
  watcher *w = ud;
  lg_audit_change c;
  char err[256];
  lg_time now = lg_time_now();
  if (lg_audit_observe(w->audit, obj, type == LG_LEASEWATCH_DELETED, &now, &c, err, sizeof err)) {
    lg_log(LG_LOG_WARNING, "unusable lease in a watch event", "error", err, NULL);
    return;
  }
  report(w, &c, true);
  lg_audit_change_clear(&c);
}

static int run_watch(const options *o, const lg_policy *policy) {
  http_state hs = {.ready = false};
  watcher w = {.hs = &hs};
  lg_leasewatch lw = {0};
  lg_kube *kube = NULL;
  lg_kube_config kc = {0};
  lg_httpd *http = NULL;
  sigset_t set, old;
  char err[512];
  int status = 1;

  /* Blocked before any thread starts (HTTP server, curl's resolver), so the signals stay
   * pending for the watch loop to notice. */
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  w.signals = &set;
  if (o->log_level)
    lg_log_set_level((lg_log_level)lg_log_parse_level(o->log_level));
  if (lg_cli_api_config("audit", &o->api, true, &kc, err, sizeof err) ||
      lg_kube_new(&kc, &kube, err, sizeof err)) {
    status = lg_cli_start_error("audit", err);
    goto out;
  }
  w.audit = lg_audit_new(policy, o->mode);
  w.metrics = hs.metrics = lg_metrics_new(false);
  if (!w.audit || !w.metrics) {
    status = lg_cli_start_error("audit", "out of memory");
    goto out;
  }
  if (o->http && lg_httpd_start(o->http, answer, &hs, &http, err, sizeof err)) {
    status = lg_cli_start_error("audit", err);
    goto out;
  }
  /* Findings (stdout) and logs (stderr) are queued: a stalled reader costs lines, not the
   * watch (whose lease-health metrics would go stale). */
  if (lg_log_start_queue(0, err, sizeof err)) {
    status = lg_cli_start_error("audit", err);
    goto out;
  }
  lg_log(LG_LOG_INFO, "auditing leases", "namespace", o->ns ? o->ns : "", "http",
         o->http ? o->http : "", NULL);
  lw = (lg_leasewatch){.kube = kube,
                       .namespace = o->ns,
                       .timeout_s = o->watch_timeout_s,
                       .ud = &w,
                       .on_list = on_list,
                       .on_event = on_event,
                       .wait = wait_for,
                       .stopped = stop_requested};
  if (o->reports && (!(w.reports = lg_polreport_new(REPORT_MAX_RESULTS, o->report_ttl_us)) ||
                     lg_kube_new(&kc, &w.report_kube, err, sizeof err))) {
    status = lg_cli_start_error("audit", w.reports ? err : "out of memory");
    goto out;
  }
  lg_leasewatch_run(&lw);
  sync_reports(&w, true); /* what was found last */
  lg_log(LG_LOG_INFO, "stopped", NULL);
  status = 0;
out:
  lg_log_stop_queue(2000);
  lg_httpd_stop(http);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  lg_audit_free(w.audit);
  lg_metrics_free(w.metrics);
  lg_kube_free(kube);
  lg_kube_free(w.report_kube);
  lg_polreport_free(w.reports);
  lg_kube_config_free(&kc);
  return status;
}

int lg_cmd_audit(int argc, char **argv) {
  options o = {0};
  lg_policy *policy = NULL;
  char err[512];
  int r;

  if ((r = parse(argc, argv, &o)))
    return r == 1 ? 0 : 2;
  if ((o.policy_file ? lg_policy_load_file(o.policy_file, &policy, err, sizeof err)
                     : lg_policy_default(&policy, err, sizeof err)) != LG_OK) {
    if (o.watch) /* a watcher's logs are JSON lines, and this is a failure to start */
      return lg_cli_start_error("audit", err);
    fprintf(stderr, "leaseguard audit: %s\n", err);
    return 2;
  }
  r = o.watch ? run_watch(&o, policy) : run_offline(&o, policy);
  lg_policy_free(policy);
  return r;
}
