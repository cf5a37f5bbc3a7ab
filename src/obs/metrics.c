/* metrics.c -- Prometheus counters, a latency histogram and lease-health gauges, as text. */
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8sname.h"
#include "logq.h"
#include "utf8.h"

#ifndef LG_VERSION
#define LG_VERSION "unknown"
#endif

/* Label-keyed series are capped per table, and label values from requests or watches are
 * bounded (names Kubernetes would accept, holders cut), so that neither the registry nor a
 * scrape grows without bound: at most about VIOLATIONS_CAP * 450 bytes of violations text. */
#define VIOLATIONS_CAP 2000
#define LEASES_CAP     10000 /* audit --watch: a node lease per node, and then some */
#define SMALL_CAP      64    /* tables whose labels are fixed sets */
#define MAX_LABELS     4
#define HOLDER_MAX     256
/* Label values that no namespace or lease name can be (a name never starts with '_'). */
#define LABEL_INVALID  "_invalid"
#define LABEL_OVERFLOW "_overflow"

/* One series: its label values (one allocation at lv[0]) and what it measures. Counter
 * tables use count; the lease table also keeps the last holder, transitions and renewTime
 * and counts leader changes in count. */
typedef struct {
  char *lv[MAX_LABELS];
  uint64_t count;
  char *holder; /* leases: "" when released */
  int64_t transitions;
  bool has_renew;
  lg_time renew;
  uint64_t renewals; /* leases: renewTime moved forward under the same holder */
  bool has_failover;
  int64_t failover; /* leases: the last new holder's renewTime minus the one before */
} series;

/* Series sorted by their label tuple; pointers, so an insertion moves little. */
typedef struct {
  const char *family; /* the family label of leaseguard_metrics_series_dropped_total */
  size_t nlabels;
  size_t cap; /* series beyond it: counted in dropped (and an overflow series) */
  series **v;
  size_t n, alloc;
  uint64_t dropped;
} table;

#define N_BUCKETS 10
static const double bucket_bounds[N_BUCKETS] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                                0.0025,  0.005,  0.01,    0.025,  0.1};
static const char *const bucket_les[N_BUCKETS] = {"0.00005", "0.0001", "0.00025", "0.0005", "0.001",
                                                  "0.0025",  "0.005",  "0.01",    "0.025",  "0.1"};

static const char *const event_outcomes[] = {"aggregated", "dropped", "failed", "invalid",
                                             "posted"};

/* Fixed label sets of the file reload and connection error counters (atomics: no lock). */
static const char *const reload_files[] = {"client-ca", "policy", "tls-certificate"};
#define N_RELOAD_FILES (sizeof reload_files / sizeof *reload_files)
static const char *const conn_reasons[] = {"client-certificate", "http", "max-connections",
                                           "tls-handshake"};
#define N_CONN_REASONS (sizeof conn_reasons / sizeof *conn_reasons)
/* The certificate controller's writes of its Secret: action and result. */
static const char *const cert_actions[] = {"announce", "create", "drop",
                                           "reissue",  "repair", "switch"};
#define N_CERT_ACTIONS (sizeof cert_actions / sizeof *cert_actions)
static const char *const cert_results[] = {"conflict", "failure", "success"};
#define N_CERT_RESULTS (sizeof cert_results / sizeof *cert_results)

static const char *const report_outcomes[] = {"deleted", "failed", "no-crd", "written"};
#define N_REPORT_OUTCOMES (sizeof report_outcomes / sizeof *report_outcomes)

/* Writer clock offsets, seconds: negative is a clock behind the webhook's. */
#define N_OFFSET_BUCKETS 13
static const double offset_bounds[N_OFFSET_BUCKETS] = {-60,  -30, -10, -5, -1, -0.25, 0,
                                                       0.25, 1,   5,   10, 30, 60};
static const char *const offset_les[N_OFFSET_BUCKETS] = {
    "-60", "-30", "-10", "-5", "-1", "-0.25", "0", "0.25", "1", "5", "10", "30", "60"};

/* A scrape renders a copy made by snapshot(): a new field must be copied there too. */
struct lg_metrics {
  pthread_mutex_t mu;
  bool lease_label;
  table requests;                  /* operation, decision */
  table violations;                /* rule, mode, namespace[, lease] */
  table events;                    /* outcome */
  table leases;                    /* namespace, name */
  uint64_t buckets[N_BUCKETS + 1]; /* not cumulative; the last is +Inf only */
  uint64_t observations;
  double sum;
  uint64_t reloads_ok, reloads_failed;
  bool has_cert;
  int64_t cert_not_after;
  _Atomic uint64_t file_reloads[N_RELOAD_FILES][2]; /* [file][ok] */
  _Atomic uint64_t conn_errors[N_CONN_REASONS];
  _Atomic uint64_t offsets[N_OFFSET_BUCKETS + 1]; /* not cumulative; the last is +Inf only */
  _Atomic uint64_t offsets_count;
  _Atomic uint64_t reports[N_REPORT_OUTCOMES];
  _Atomic bool reports_used;
  _Atomic int64_t offsets_sum_us;
  size_t witness_leases, witness_holders, median_n;
  uint64_t witness_evictions;
  double median;
  atomic_bool certctl;            /* the certificate controller runs */
  _Atomic uint64_t cert_syncs[2]; /* [ok] */
  _Atomic uint64_t cert_writes[N_CERT_ACTIONS][N_CERT_RESULTS];
  _Atomic uint64_t cert_invalid;
  _Atomic uint64_t cabundle_patches[2]; /* [ok] */
};

/* ---- tables ---- */

static void series_free(series *s) {
  if (!s)
    return;
  free(s->lv[0]);
  free(s->holder);
  free(s);
}

static void table_free(table *t) {
  for (size_t i = 0; i < t->n; i++)
    series_free(t->v[i]);
  free(t->v);
  t->v = NULL;
  t->n = t->alloc = 0;
}

static int key_cmp(const table *t, const series *s, const char *const *lv) {
  for (size_t i = 0; i < t->nlabels; i++) {
    int c = strcmp(s->lv[i], lv[i]);
    if (c)
      return c;
  }
  return 0;
}

/* The index of the series with labels lv, or where it would go (*found false). */
static size_t table_find(const table *t, const char *const *lv, bool *found) {
  size_t lo = 0, hi = t->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = key_cmp(t, t->v[mid], lv);
    if (c == 0) {
      *found = true;
      return mid;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = false;
  return lo;
}

/* A new series with copies of the label values (NULL counts as ""), or NULL on no memory. */
static series *series_new(size_t nlabels, const char *const *lv) {
  size_t len[MAX_LABELS], total = 0;
  series *s = calloc(1, sizeof *s);
  char *p;
  if (!s)
    return NULL;
  for (size_t i = 0; i < nlabels; i++)
    total += (len[i] = strlen(lv[i])) + 1;
  if (!(p = malloc(total))) {
    free(s);
    return NULL;
  }
  for (size_t i = 0; i < nlabels; i++) {
    memcpy(p, lv[i], len[i] + 1);
    s->lv[i] = p;
    p += len[i] + 1;
  }
  return s;
}

/* The series with labels lv, created when missing; NULL when the table is full (counted as
 * dropped; past_cap lets it grow anyway, for overflow series) or on no memory. */
static series *table_get_any(table *t, const char *const *lv, bool past_cap) {
  bool found;
  size_t i = table_find(t, lv, &found);
  series *s;
  if (found)
    return t->v[i];
  if (t->n >= t->cap && !past_cap) {
    t->dropped++;
    return NULL;
  }
  if (t->n == t->alloc) {
    size_t alloc = t->alloc ? t->alloc * 2 : 16;
    series **v = realloc(t->v, alloc * sizeof *v);
    if (!v)
      return NULL;
    t->v = v;
    t->alloc = alloc;
  }
  if (!(s = series_new(t->nlabels, lv)))
    return NULL;
  memmove(t->v + i + 1, t->v + i, (t->n - i) * sizeof *t->v);
  t->v[i] = s;
  t->n++;
  return s;
}

static series *table_get(table *t, const char *const *lv) { return table_get_any(t, lv, false); }

static void table_remove(table *t, const char *const *lv) {
  bool found;
  size_t i = table_find(t, lv, &found);
  if (!found)
    return;
  series_free(t->v[i]);
  memmove(t->v + i, t->v + i + 1, (t->n - i - 1) * sizeof *t->v);
  t->n--;
}

static const char *or_empty(const char *s) { return s ? s : ""; }

/* A namespace as a label value: itself when Kubernetes would accept it (or empty). */
static const char *ns_label(const char *ns) {
  return !ns || !*ns ? "" : lg_k8sname_is_label(ns) ? ns : LABEL_INVALID;
}

/* A lease name as a label value: itself when Kubernetes would accept it (or empty). */
static const char *name_label(const char *name) {
  return !name || !*name ? "" : lg_k8sname_is_subdomain(name) ? name : LABEL_INVALID;
}

/* ---- the registry ---- */

lg_metrics *lg_metrics_new(bool lease_label) {
  lg_metrics *m = calloc(1, sizeof *m);
  if (!m)
    return NULL;
  if (pthread_mutex_init(&m->mu, NULL) != 0) {
    free(m);
    return NULL;
  }
  m->lease_label = lease_label;
  m->requests = (table){.family = "admission_requests", .nlabels = 2, .cap = SMALL_CAP};
  m->violations =
      (table){.family = "lease_violations", .nlabels = lease_label ? 4 : 3, .cap = VIOLATIONS_CAP};
  m->events = (table){.family = "events", .nlabels = 1, .cap = SMALL_CAP};
  m->leases = (table){.family = "leases", .nlabels = 2, .cap = LEASES_CAP};
  /* The known outcomes start at 0, so that rate() sees the first event. */
  for (size_t i = 0; i < sizeof event_outcomes / sizeof *event_outcomes; i++) {
    if (!table_get(&m->events, &event_outcomes[i])) {
      lg_metrics_free(m);
      return NULL;
    }
  }
  return m;
}

void lg_metrics_free(lg_metrics *m) {
  if (!m)
    return;
  table_free(&m->requests);
  table_free(&m->violations);
  table_free(&m->events);
  table_free(&m->leases);
  pthread_mutex_destroy(&m->mu);
  free(m);
}

/* Counts one violation; the caller holds the lock. */
static void count_violation(lg_metrics *m, lg_rule rule, lg_mode mode, const char *ns,
                            const char *name) {
  const char *lv[MAX_LABELS];
  series *s;
  if ((int)rule < 0 || rule >= LG_RULE_COUNT)
    return;
  lv[0] = lg_rules_id(rule);
  lv[1] = lg_rules_mode_name(mode);
  lv[2] = ns_label(ns);
  lv[3] = name_label(name);
  if (!(s = table_get(&m->violations, lv))) {
    /* Past the cap the count still adds up, under the rule and mode, in one series. */
    lv[2] = lv[3] = LABEL_OVERFLOW;
    s = table_get_any(&m->violations, lv, true);
  }
  if (s)
    s->count++;
}

static void observe(lg_metrics *m, double seconds) {
  size_t i = 0;
  /* A negative or non-finite latency is a caller's clock bug; keep the sum usable. */
  if (!(seconds >= 0) || isinf(seconds))
    seconds = 0;
  while (i < N_BUCKETS && seconds > bucket_bounds[i])
    i++;
  m->buckets[i]++;
  m->observations++;
  m->sum += seconds;
}

void lg_metrics_decision(lg_metrics *m, const lg_decision *d) {
  const char *lv[2];
  series *s;
  bool request = d && (d->source == LG_DECISION_SERVE || d->source == LG_DECISION_CHECK);
  if (!m || !d)
    return;
  /* Only the four operations the decoder accepts, so the label stays bounded. */
  lv[0] = lg_rules_parse_operation(d->operation) >= 0 ? d->operation : "unknown";
  if (!d->usable || d->http_status != 200)
    lv[1] = "error";
  else
    lv[1] = d->allowed ? "allowed" : "denied";
  pthread_mutex_lock(&m->mu);
  if (request && (s = table_get(&m->requests, lv)))
    s->count++;
  for (size_t i = 0; i < d->n && i < LG_RULE_COUNT; i++)
    count_violation(m, d->findings[i].rule, d->findings[i].mode, d->namespace, d->name);
  if (request)
    observe(m, d->latency);
  pthread_mutex_unlock(&m->mu);
  if (request && d->has_offset)
    lg_metrics_writer_offset(m, (double)d->offset / LG_USEC_PER_SEC);
}

static void metrics_sink_emit(void *ctx, const lg_decision *d) { lg_metrics_decision(ctx, d); }

lg_sink lg_metrics_sink(lg_metrics *m) { return (lg_sink){metrics_sink_emit, m}; }

void lg_metrics_violation(lg_metrics *m, lg_rule rule, lg_mode mode, const char *ns,
                          const char *name) {
  if (!m)
    return;
  pthread_mutex_lock(&m->mu);
  count_violation(m, rule, mode, ns, name);
  pthread_mutex_unlock(&m->mu);
}

void lg_metrics_policy_reload(lg_metrics *m, bool ok) {
  if (!m)
    return;
  pthread_mutex_lock(&m->mu);
  if (ok)
    m->reloads_ok++;
  else
    m->reloads_failed++;
  pthread_mutex_unlock(&m->mu);
}

/* The index of name in names (n entries), or -1. */
static int label_index(const char *const *names, size_t n, const char *name) {
  for (size_t i = 0; name && i < n; i++)
    if (!strcmp(names[i], name))
      return (int)i;
  return -1;
}

void lg_metrics_file_reload(lg_metrics *m, const char *file, bool ok) {
  int i = label_index(reload_files, N_RELOAD_FILES, file);
  if (m && i >= 0)
    atomic_fetch_add(&m->file_reloads[i][ok], 1);
}

void lg_metrics_policy_report(lg_metrics *m, const char *outcome) {
  if (!m || !outcome)
    return;
  for (size_t i = 0; i < N_REPORT_OUTCOMES; i++)
    if (!strcmp(outcome, report_outcomes[i])) {
      atomic_fetch_add(&m->reports[i], 1);
      atomic_store(&m->reports_used, true);
    }
}

void lg_metrics_writer_offset(lg_metrics *m, double seconds) {
  size_t i = 0;
  if (!m || !isfinite(seconds))
    return;
  while (i < N_OFFSET_BUCKETS && seconds > offset_bounds[i])
    i++;
  atomic_fetch_add(&m->offsets[i], 1);
  atomic_fetch_add(&m->offsets_count, 1);
  atomic_fetch_add(&m->offsets_sum_us, (int64_t)(seconds * 1e6));
}

void lg_metrics_witness(lg_metrics *m, size_t leases, size_t holders, uint64_t evictions,
                        double median, size_t n) {
  if (!m)
    return;
  pthread_mutex_lock(&m->mu);
  m->witness_leases = leases;
  m->witness_holders = holders;
  m->witness_evictions = evictions;
  m->median = median;
  m->median_n = n;
  pthread_mutex_unlock(&m->mu);
}

void lg_metrics_connection_errors(lg_metrics *m, const char *reason, uint64_t n) {
  int i = label_index(conn_reasons, N_CONN_REASONS, reason);
  if (m && i >= 0)
    atomic_fetch_add(&m->conn_errors[i], n);
}

void lg_metrics_certctl_sync(lg_metrics *m, bool ok) {
  if (!m)
    return;
  atomic_store(&m->certctl, true);
  atomic_fetch_add(&m->cert_syncs[ok], 1);
}

void lg_metrics_certctl_write(lg_metrics *m, const char *action, const char *result) {
  int a = label_index(cert_actions, N_CERT_ACTIONS, action);
  int r = label_index(cert_results, N_CERT_RESULTS, result);
  if (m && a >= 0 && r >= 0)
    atomic_fetch_add(&m->cert_writes[a][r], 1);
}

void lg_metrics_certctl_invalid(lg_metrics *m) {
  if (m)
    atomic_fetch_add(&m->cert_invalid, 1);
}

void lg_metrics_certctl_cabundle(lg_metrics *m, bool ok) {
  if (m)
    atomic_fetch_add(&m->cabundle_patches[ok], 1);
}

void lg_metrics_cert_expiry(lg_metrics *m, int64_t not_after) {
  if (!m)
    return;
  pthread_mutex_lock(&m->mu);
  m->has_cert = true;
  m->cert_not_after = not_after;
  pthread_mutex_unlock(&m->mu);
}

void lg_metrics_event(lg_metrics *m, const char *outcome) {
  series *s;
  if (!m || !outcome)
    return;
  pthread_mutex_lock(&m->mu);
  if ((s = table_get(&m->events, &outcome)))
    s->count++;
  pthread_mutex_unlock(&m->mu);
}

/* The holder as a label value: cut to HOLDER_MAX bytes on a UTF-8 boundary, in cut. */
static const char *holder_label(const char *holder, char cut[HOLDER_MAX + 1]) {
  if (!holder)
    return "";
  if (strnlen(holder, HOLDER_MAX + 1) <= HOLDER_MAX)
    return holder;
  memcpy(cut, holder, HOLDER_MAX);
  cut[HOLDER_MAX] = '\0';
  lg_utf8_trim(cut);
  return cut;
}

void lg_metrics_lease(lg_metrics *m, const char *ns, const char *name, const char *holder,
                      int64_t transitions, bool has_renew, lg_time renew) {
  const char *lv[2] = {or_empty(ns), or_empty(name)};
  char *h, cut[HOLDER_MAX + 1];
  series *s;
  if (!m)
    return;
  holder = holder_label(holder, cut);
  pthread_mutex_lock(&m->mu);
  /* A lease the API server could not hold has no series of its own (and would share one). */
  if (!lg_k8sname_is_label(lv[0]) || !lg_k8sname_is_subdomain(lv[1])) {
    m->leases.dropped++;
    goto out;
  }
  if (!(s = table_get(&m->leases, lv)))
    goto out;
  if (!s->holder || strcmp(s->holder, holder) != 0) {
    if (!(h = strdup(holder))) {
      /* Not remembered: a new series would have no holder, so forget it whole. */
      if (!s->holder)
        table_remove(&m->leases, lv);
      goto out;
    }
    /* A new leader counts; the first sighting and a release (holder "") do not. Its
     * first renewTime minus the last one before it is how long the lease went without
     * a leader that renewed: the failover time (after a crash, about a lease duration). */
    if (s->holder && holder[0]) {
      s->count++;
      if (has_renew && s->has_renew) {
        s->has_failover = true;
        s->failover = renew - s->renew;
      }
    }
    free(s->holder);
    s->holder = h;
  } else if (holder[0] && has_renew && s->has_renew && renew > s->renew) {
    s->renewals++;
  }
  s->transitions = transitions;
  s->has_renew = has_renew;
  s->renew = renew;
out:
  pthread_mutex_unlock(&m->mu);
}

void lg_metrics_lease_deleted(lg_metrics *m, const char *ns, const char *name) {
  const char *lv[2] = {or_empty(ns), or_empty(name)};
  if (!m)
    return;
  pthread_mutex_lock(&m->mu);
  table_remove(&m->leases, lv);
  pthread_mutex_unlock(&m->mu);
}

/* ---- rendering ---- */

typedef struct {
  char *p;
  size_t n, cap;
  bool oom;
} buf;

static void buf_grow(buf *b, size_t more) {
  size_t cap;
  char *p;
  if (b->oom || b->n + more + 1 <= b->cap)
    return;
  cap = b->cap ? b->cap : 4096;
  while (cap < b->n + more + 1)
    cap *= 2;
  if (!(p = realloc(b->p, cap))) {
    b->oom = true;
    return;
  }
  b->p = p;
  b->cap = cap;
}

static void buf_put(buf *b, const char *s, size_t len) {
  buf_grow(b, len);
  if (b->oom)
    return;
  memcpy(b->p + b->n, s, len);
  b->n += len;
  b->p[b->n] = '\0';
}

static void buf_puts(buf *b, const char *s) { buf_put(b, s, strlen(s)); }

__attribute__((format(printf, 2, 3))) static void buf_printf(buf *b, const char *fmt, ...) {
  char tmp[256];
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n > 0)
    buf_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* A label value escaped as the text format wants: \\, \" and \n. */
static void buf_label_value(buf *b, const char *v) {
  for (const char *p = v; *p; p++) {
    if (*p == '\\')
      buf_puts(b, "\\\\");
    else if (*p == '"')
      buf_puts(b, "\\\"");
    else if (*p == '\n')
      buf_puts(b, "\\n");
    else
      buf_put(b, p, 1);
  }
}

static void family(buf *b, const char *name, const char *type, const char *help) {
  buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{k1="v1",...} value */
static void sample(buf *b, const char *name, const char *const *keys, const char *const *vals,
                   size_t n, const char *value) {
  buf_puts(b, name);
  for (size_t i = 0; i < n; i++) {
    buf_puts(b, i ? "," : "{");
    buf_puts(b, keys[i]);
    buf_puts(b, "=\"");
    buf_label_value(b, vals[i]);
    buf_puts(b, "\"");
  }
  buf_puts(b, n ? "} " : " ");
  buf_puts(b, value);
  buf_puts(b, "\n");
}

static const char *fmt_u64(uint64_t v, char out[32]) {
  snprintf(out, 32, "%" PRIu64, v);
  return out;
}

static const char *fmt_i64(int64_t v, char out[32]) {
  snprintf(out, 32, "%" PRId64, v);
  return out;
}

/* The shortest decimal that reads back as v (as Go's FormatFloat(v, 'g', -1) writes). */
static const char *fmt_double(double v, char out[32]) {
  if (isnan(v))
    return strcpy(out, "NaN");
  if (isinf(v))
    return strcpy(out, v > 0 ? "+Inf" : "-Inf");
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(out, 32, "%.*g", prec, v);
    if (strtod(out, NULL) == v)
      break;
  }
  return out;
}

/* Microseconds as exact decimal seconds ("12", "2.5", "-0.000001"). */
static const char *fmt_usec(int64_t us, char out[32]) {
  uint64_t mag = us < 0 ? (uint64_t)0 - (uint64_t)us : (uint64_t)us;
  uint64_t frac = mag % 1000000;
  int len = snprintf(out, 32, "%s%" PRIu64, us < 0 ? "-" : "", mag / 1000000);
  if (frac) {
    len += snprintf(out + len, (size_t)(32 - len), ".%06" PRIu64, frac);
    while (out[len - 1] == '0')
      out[--len] = '\0';
  }
  return out;
}

static void render_counter_table(buf *b, const table *t, const char *name, const char *help,
                                 const char *const *keys) {
  char num[32];
  if (!t->n)
    return;
  family(b, name, "counter", help);
  for (size_t i = 0; i < t->n; i++)
    sample(b, name, keys, (const char *const *)t->v[i]->lv, t->nlabels,
           fmt_u64(t->v[i]->count, num));
}

static void render_histogram(buf *b, const lg_metrics *m) {
  static const char *const name = "leaseguard_admission_duration_seconds";
  static const char *const le[] = {"le"};
  char num[32];
  uint64_t cum = 0;
  family(b, name, "histogram", "Time to answer one admission request, in seconds.");
  for (size_t i = 0; i <= N_BUCKETS; i++) {
    const char *bound = i < N_BUCKETS ? bucket_les[i] : "+Inf";
    cum += m->buckets[i];
    sample(b, "leaseguard_admission_duration_seconds_bucket", le, &bound, 1, fmt_u64(cum, num));
  }
  sample(b, "leaseguard_admission_duration_seconds_sum", NULL, NULL, 0, fmt_double(m->sum, num));
  sample(b, "leaseguard_admission_duration_seconds_count", NULL, NULL, 0,
         fmt_u64(m->observations, num));
}

/* The four lease-health families, each over the lease table. */
static void render_leases(buf *b, const table *t, lg_time now) {
  static const char *const nn[] = {"namespace", "name"}, *const nnh[] = {"namespace", "name",
                                                                         "holder"};
  char num[32];
  bool any_renew = false;
  for (size_t i = 0; i < t->n; i++)
    any_renew |= t->v[i]->has_renew;
  if (any_renew)
    family(b, "leaseguard_lease_seconds_since_renewal", "gauge",
           "Seconds since the lease's spec.renewTime, as audit --watch last saw it.");
  for (size_t i = 0; i < t->n; i++)
    if (t->v[i]->has_renew)
      sample(b, "leaseguard_lease_seconds_since_renewal", nn, (const char *const *)t->v[i]->lv, 2,
             fmt_usec(now - t->v[i]->renew, num));
  if (!t->n)
    return;
  family(b, "leaseguard_lease_holder_info", "gauge",
         "The lease's current holderIdentity (\"\" when released), always 1.");
  for (size_t i = 0; i < t->n; i++) {
    const char *v[3] = {t->v[i]->lv[0], t->v[i]->lv[1], t->v[i]->holder};
    sample(b, "leaseguard_lease_holder_info", nnh, v, 3, "1");
  }
  family(b, "leaseguard_lease_transitions", "gauge", "The lease's spec.leaseTransitions.");
  for (size_t i = 0; i < t->n; i++)
    sample(b, "leaseguard_lease_transitions", nn, (const char *const *)t->v[i]->lv, 2,
           fmt_i64(t->v[i]->transitions, num));
  family(b, "leaseguard_lease_leader_changes_total", "counter",
         "Changes of the lease's holder seen by audit --watch.");
  for (size_t i = 0; i < t->n; i++)
    sample(b, "leaseguard_lease_leader_changes_total", nn, (const char *const *)t->v[i]->lv, 2,
           fmt_u64(t->v[i]->count, num));
  family(b, "leaseguard_lease_renewals_total", "counter",
         "Renewals (renewTime moved forward, same holder) seen by audit --watch.");
  for (size_t i = 0; i < t->n; i++)
    sample(b, "leaseguard_lease_renewals_total", nn, (const char *const *)t->v[i]->lv, 2,
           fmt_u64(t->v[i]->renewals, num));
  bool any_failover = false;
  for (size_t i = 0; i < t->n; i++)
    any_failover |= t->v[i]->has_failover;
  if (any_failover)
    family(b, "leaseguard_lease_last_failover_seconds", "gauge",
           "At the last change of leader: the new holder's first renewTime minus the last "
           "renewTime before it.");
  for (size_t i = 0; i < t->n; i++)
    if (t->v[i]->has_failover)
      sample(b, "leaseguard_lease_last_failover_seconds", nn, (const char *const *)t->v[i]->lv, 2,
             fmt_usec(t->v[i]->failover, num));
}

/* The file reload and connection error counters, every label value from 0. */
static void render_server_counters(buf *b, const lg_metrics *m) {
  static const char *const fr[] = {"file", "result"}, *const reason[] = {"reason"};
  char num[32];
  family(b, "leaseguard_file_reloads_total", "counter",
         "Reloads of the policy, serving certificate and client CA files, by file and result.");
  for (size_t i = 0; i < N_RELOAD_FILES; i++)
    for (int ok = 0; ok < 2; ok++) {
      const char *v[2] = {reload_files[i], ok ? "success" : "failure"};
      sample(b, "leaseguard_file_reloads_total", fr, v, 2,
             fmt_u64(atomic_load(&m->file_reloads[i][ok]), num));
    }
  family(b, "leaseguard_connection_errors_total", "counter",
         "Connections that failed before a request was answered, by reason (logged once per "
         "10 s in total).");
  for (size_t i = 0; i < N_CONN_REASONS; i++)
    sample(b, "leaseguard_connection_errors_total", reason, &conn_reasons[i], 1,
           fmt_u64(atomic_load(&m->conn_errors[i]), num));
}

/* Writer clock offsets and the lease memory (serve). */
static void render_reports(buf *b, const lg_metrics *m) {
  static const char *const outcome[] = {"outcome"};
  char num[32];
  if (!atomic_load(&m->reports_used))
    return;
  family(b, "leaseguard_policy_reports_total", "counter",
         "PolicyReport writes, by outcome (no-crd: the API has no PolicyReport resource).");
  for (size_t i = 0; i < N_REPORT_OUTCOMES; i++)
    sample(b, "leaseguard_policy_reports_total", outcome, &report_outcomes[i], 1,
           fmt_u64(atomic_load(&m->reports[i]), num));
}

static void render_clocks(buf *b, const lg_metrics *m) {
  static const char *const le[] = {"le"}, *const tbl[] = {"table"};
  static const char *const tables[] = {"leases", "holders"};
  char num[32];
  uint64_t cum = 0;
  if (!atomic_load(&m->offsets_count) && !m->witness_leases && !m->witness_holders)
    return;
  family(b, "leaseguard_writer_clock_offset_seconds", "histogram",
         "Each writer's renewTime minus this webhook's clock at admission, in seconds: writers "
         "all off by the same amount mean this webhook's clock is off.");
  for (size_t i = 0; i <= N_OFFSET_BUCKETS; i++) {
    const char *bound = i < N_OFFSET_BUCKETS ? offset_les[i] : "+Inf";
    cum += atomic_load(&m->offsets[i]);
    sample(b, "leaseguard_writer_clock_offset_seconds_bucket", le, &bound, 1, fmt_u64(cum, num));
  }
  sample(b, "leaseguard_writer_clock_offset_seconds_sum", NULL, NULL, 0,
         fmt_usec(atomic_load(&m->offsets_sum_us), num));
  sample(b, "leaseguard_writer_clock_offset_seconds_count", NULL, NULL, 0,
         fmt_u64(atomic_load(&m->offsets_count), num));
  if (m->median_n) {
    family(b, "leaseguard_writer_clock_offset_median_seconds", "gauge",
           "The median clock offset of the writers measured in the last 10 minutes.");
    sample(b, "leaseguard_writer_clock_offset_median_seconds", NULL, NULL, 0,
           fmt_usec((int64_t)(m->median * 1e6), num));
  }
  family(b, "leaseguard_lease_memory_entries", "gauge",
         "Leases and holder identities whose writes this replica remembers.");
  sample(b, "leaseguard_lease_memory_entries", tbl, &tables[0], 1, fmt_u64(m->witness_leases, num));
  sample(b, "leaseguard_lease_memory_entries", tbl, &tables[1], 1,
         fmt_u64(m->witness_holders, num));
  family(b, "leaseguard_lease_memory_evictions_total", "counter",
         "Entries forgotten to make room (--lease-memory-size too small when it grows fast).");
  sample(b, "leaseguard_lease_memory_evictions_total", NULL, NULL, 0,
         fmt_u64(m->witness_evictions, num));
}

/* The certificate controller's counters, every label value from 0, once it has run. */
static void render_certctl(buf *b, const lg_metrics *m) {
  static const char *const result[] = {"result"}, *const ar[] = {"action", "result"};
  static const char *const ok_words[] = {"failure", "success"};
  char num[32];
  if (!atomic_load(&m->certctl))
    return;
  family(b, "leaseguard_certificate_secret_syncs_total", "counter",
         "Rounds of the certificate controller (read the Secret, fix the caBundle, write what is "
         "due), by result.");
  for (int ok = 0; ok < 2; ok++)
    sample(b, "leaseguard_certificate_secret_syncs_total", result, &ok_words[ok], 1,
           fmt_u64(atomic_load(&m->cert_syncs[ok]), num));
  family(b, "leaseguard_certificate_secret_writes_total", "counter",
         "Writes of the certificate Secret, by action and result (conflict: another replica "
         "wrote first).");
  for (size_t a = 0; a < N_CERT_ACTIONS; a++)
    for (size_t r = 0; r < N_CERT_RESULTS; r++) {
      const char *v[2] = {cert_actions[a], cert_results[r]};
      sample(b, "leaseguard_certificate_secret_writes_total", ar, v, 2,
             fmt_u64(atomic_load(&m->cert_writes[a][r]), num));
    }
  family(b, "leaseguard_certificate_secret_invalid_total", "counter",
         "Versions of the certificate Secret found unusable (bad PEM or base64, a key that does "
         "not match, not issued by the CA, expired).");
  sample(b, "leaseguard_certificate_secret_invalid_total", NULL, NULL, 0,
         fmt_u64(atomic_load(&m->cert_invalid), num));
  family(b, "leaseguard_webhook_cabundle_patches_total", "counter",
         "Patches of the webhook configuration's caBundle, by result.");
  for (int ok = 0; ok < 2; ok++)
    sample(b, "leaseguard_webhook_cabundle_patches_total", result, &ok_words[ok], 1,
           fmt_u64(atomic_load(&m->cabundle_patches[ok]), num));
}

static void render_all(buf *b, const lg_metrics *m, lg_time now) {
  static const char *const op_dec[] = {"operation", "decision"};
  static const char *const viol[] = {"rule", "mode", "namespace", "lease"};
  static const char *const outcome[] = {"outcome"}, *const result[] = {"result"};
  static const char *const version[] = {"version"}, *const fam[] = {"family"};
  static const char *const stream[] = {"stream"};
  const table *dropped[] = {&m->requests, &m->events, &m->violations, &m->leases};
  const char *v;
  char num[32];

  family(b, "leaseguard_build_info", "gauge", "The leaseguard version, always 1.");
  v = LG_VERSION;
  sample(b, "leaseguard_build_info", version, &v, 1, "1");
  render_counter_table(b, &m->requests, "leaseguard_admission_requests_total",
                       "Admission requests answered, by operation and decision.", op_dec);
  render_histogram(b, m);
  render_counter_table(b, &m->violations, "leaseguard_lease_violations_total",
                       "Rule violations found, by rule, mode and namespace.", viol);
  family(b, "leaseguard_policy_reloads_total", "counter", "Policy reload attempts, by result.");
  v = "failure";
  sample(b, "leaseguard_policy_reloads_total", result, &v, 1, fmt_u64(m->reloads_failed, num));
  v = "success";
  sample(b, "leaseguard_policy_reloads_total", result, &v, 1, fmt_u64(m->reloads_ok, num));
  if (m->has_cert) {
    family(b, "leaseguard_serving_certificate_expiration_timestamp_seconds", "gauge",
           "The serving certificate's notAfter, in Unix seconds.");
    sample(b, "leaseguard_serving_certificate_expiration_timestamp_seconds", NULL, NULL, 0,
           fmt_i64(m->cert_not_after, num));
  }
  render_counter_table(b, &m->events, "leaseguard_events_total", "Kubernetes Events, by outcome.",
                       outcome);
  family(b, "leaseguard_log_lines_dropped_total", "counter",
         "Log lines dropped because the stream's reader was too slow, stalled or gone.");
  for (int i = 0; i < LG_LOGQ_STREAMS; i++) {
    v = lg_logq_stream_name((lg_logq_stream)i);
    sample(b, "leaseguard_log_lines_dropped_total", stream, &v, 1,
           fmt_u64(lg_logq_dropped((lg_logq_stream)i), num));
  }
  render_server_counters(b, m);
  render_clocks(b, m);
  render_reports(b, m);
  render_certctl(b, m);
  render_leases(b, &m->leases, now);
  family(b, "leaseguard_metrics_series_dropped_total", "counter",
         "Updates that found their family at its series limit: counted in an _overflow "
         "series, or (lease gauges) not recorded.");
  for (size_t i = 0; i < sizeof dropped / sizeof *dropped; i++)
    sample(b, "leaseguard_metrics_series_dropped_total", fam, &dropped[i]->family, 1,
           fmt_u64(dropped[i]->dropped, num));
}

/* ---- snapshots: a scrape formats a copy, outside the lock the request path takes ---- */

static void snapshot_free(lg_metrics *c) {
  if (!c)
    return;
  table *t[] = {&c->requests, &c->violations, &c->events, &c->leases};
  for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
    free(t[i]->v ? t[i]->v[0] : NULL); /* the series and their strings: one block */
    free(t[i]->v);
  }
  free(c);
}

/* dst = a copy of src's series in one block (series, then their strings); false on no
 * memory (dst then owns nothing). */
static bool table_copy(table *dst, const table *src) {
  size_t bytes = src->n * sizeof(series);
  char *block, *p;

  dst->v = NULL;
  dst->n = dst->alloc = 0;
  if (!src->n)
    return true;
  for (size_t i = 0; i < src->n; i++) {
    for (size_t k = 0; k < src->nlabels; k++)
      bytes += strlen(src->v[i]->lv[k]) + 1;
    bytes += src->v[i]->holder ? strlen(src->v[i]->holder) + 1 : 0;
  }
  if (!(dst->v = malloc(src->n * sizeof *dst->v)) || !(block = malloc(bytes))) {
    free(dst->v);
    dst->v = NULL;
    return false;
  }
  p = block + src->n * sizeof(series);
  for (size_t i = 0; i < src->n; i++) {
    series *s = (series *)(void *)(block + i * sizeof(series));
    *s = *src->v[i];
    for (size_t k = 0; k < src->nlabels; k++) {
      size_t len = strlen(src->v[i]->lv[k]) + 1;
      s->lv[k] = memcpy(p, src->v[i]->lv[k], len);
      p += len;
    }
    if (src->v[i]->holder) {
      size_t len = strlen(src->v[i]->holder) + 1;
      s->holder = memcpy(p, src->v[i]->holder, len);
      p += len;
    }
    dst->v[i] = s;
  }
  dst->n = dst->alloc = src->n;
  return true;
}

/* A copy of m to render from; the caller holds m->mu. NULL on no memory. */
static lg_metrics *snapshot(const lg_metrics *m) {
  lg_metrics *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  /* Field by field (its mutex is never used): the counters kept without the lock are read
   * atomically. A new field of struct lg_metrics must be copied here too. */
  c->lease_label = m->lease_label;
  c->requests = m->requests;
  c->violations = m->violations;
  c->events = m->events;
  c->leases = m->leases;
  memcpy(c->buckets, m->buckets, sizeof c->buckets);
  c->observations = m->observations;
  c->sum = m->sum;
  c->reloads_ok = m->reloads_ok;
  c->reloads_failed = m->reloads_failed;
  c->has_cert = m->has_cert;
  c->cert_not_after = m->cert_not_after;
  for (size_t i = 0; i < N_RELOAD_FILES; i++)
    for (int ok = 0; ok < 2; ok++)
      atomic_store(&c->file_reloads[i][ok], atomic_load(&m->file_reloads[i][ok]));
  for (size_t i = 0; i < N_CONN_REASONS; i++)
    atomic_store(&c->conn_errors[i], atomic_load(&m->conn_errors[i]));
  for (size_t i = 0; i <= N_OFFSET_BUCKETS; i++)
    atomic_store(&c->offsets[i], atomic_load(&m->offsets[i]));
  atomic_store(&c->offsets_count, atomic_load(&m->offsets_count));
  for (size_t i = 0; i < N_REPORT_OUTCOMES; i++)
    atomic_store(&c->reports[i], atomic_load(&m->reports[i]));
  atomic_store(&c->reports_used, atomic_load(&m->reports_used));
  atomic_store(&c->certctl, atomic_load(&m->certctl));
  for (int ok = 0; ok < 2; ok++) {
    atomic_store(&c->cert_syncs[ok], atomic_load(&m->cert_syncs[ok]));
    atomic_store(&c->cabundle_patches[ok], atomic_load(&m->cabundle_patches[ok]));
  }
  for (size_t a = 0; a < N_CERT_ACTIONS; a++)
    for (size_t r = 0; r < N_CERT_RESULTS; r++)
      atomic_store(&c->cert_writes[a][r], atomic_load(&m->cert_writes[a][r]));
  atomic_store(&c->cert_invalid, atomic_load(&m->cert_invalid));
  atomic_store(&c->offsets_sum_us, atomic_load(&m->offsets_sum_us));
  c->witness_leases = m->witness_leases;
  c->witness_holders = m->witness_holders;
  c->witness_evictions = m->witness_evictions;
  c->median = m->median;
  c->median_n = m->median_n;
  table *dst[] = {&c->requests, &c->violations, &c->events, &c->leases};
  const table *src[] = {&m->requests, &m->violations, &m->events, &m->leases};
  bool ok = true;
  for (size_t i = 0; i < sizeof dst / sizeof *dst; i++)
    ok = table_copy(dst[i], src[i]) && ok;
  if (!ok) {
    snapshot_free(c);
    return NULL;
  }
  return c;
}

char *lg_metrics_render(lg_metrics *m, lg_time now) {
  lg_metrics *copy;
  buf b = {0};
  if (!m)
    return NULL;
  /* Copying is a memcpy of the bounded label values; formatting, the slow part, is done
   * without the lock, so a scrape never holds up lg_metrics_decision for long. */
  pthread_mutex_lock(&m->mu);
  copy = snapshot(m);
  pthread_mutex_unlock(&m->mu);
  if (!copy)
    return NULL;
  render_all(&b, copy, now);
  snapshot_free(copy);
  if (b.oom || !b.p) {
    free(b.p);
    return NULL;
  }
  return b.p;
}
