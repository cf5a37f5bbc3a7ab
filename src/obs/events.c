/* events.c -- Kubernetes Events for lease violations: bounded queue, one worker, aggregation. */
#include "events.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "k8sname.h"
#include "log.h"
#include "rules.h"
#include "utf8.h"

#define DEFAULT_COMPONENT "leaseguard"
#define DEFAULT_QUEUE     1000
#define DEFAULT_WINDOW    (600 * LG_USEC_PER_SEC)
#define DEFAULT_CALL_MS   5000
#define DEFAULT_DRAIN_MS  2000
#define DEFAULT_CACHE     4096
/* The API server keeps event messages short; ours stay below 1 KiB. */
#define MESSAGE_MAX 1024
/* At most one warning log line per this many milliseconds; the others are counted. */
#define LOG_EVERY_MS 60000
/* Object names are DNS subdomains of at most 253 bytes; ".<16 hex>" takes 17. */
#define NAME_MAX_LEN    253
#define NAME_SUFFIX_LEN 17

/* One event waiting for the worker. */
typedef struct item {
  struct item *next;
  json_t *event; /* the Event without metadata.name, count and timestamps */
  char *key;     /* what makes repeats the same event */
  uint64_t hash;
  lg_time when;
} item;

/* An event already posted, for aggregation; the list is kept most recent first. */
typedef struct entry {
  struct entry *prev, *next;
  char *key;
  uint64_t hash;
  char *name; /* metadata.name of the posted event */
  lg_time first, last;
  int64_t count;
} entry;

struct lg_events {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t worker;
  bool mu_ok, cv_ok, worker_ok;
  /* guarded by mu */
  item *head, *tail;
  size_t pending; /* queued plus the one being sent */
  bool stopping;
  struct timespec deadline; /* CLOCK_MONOTONIC; set when stopping */
  /* set at start, then read-only */
  char *component, *host;
  size_t queue_limit, cache_limit;
  lg_time window;
  long call_ms, drain_ms;
  lg_metrics *metrics;
  /* the worker's own */
  lg_kube *kube;
  entry *lru_head, *lru_tail;
  size_t n_entries;
  uint64_t last_name_ns;
  struct timespec last_log;
  bool logged;
  unsigned long suppressed;
  /* refused names, guarded by mu */
  struct timespec last_invalid_log;
  bool invalid_logged;
  unsigned long invalid_suppressed;
};

/* ---- small helpers ---- */

static uint64_t fnv1a(const char *s) {
  uint64_t h = UINT64_C(14695981039346656037);
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
  return h;
}

static long ms_until(const struct timespec *t) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (long)((t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000);
}

/* RFC 3339 in whole seconds, as metav1.Time is written. */
static const char *timestamp(lg_time t, char buf[LG_TIME_BUFLEN]) {
  t -= ((t % LG_USEC_PER_SEC) + LG_USEC_PER_SEC) % LG_USEC_PER_SEC;
  return lg_time_format_short(t, buf);
}

/* ---- building events (any thread) ---- */

static void item_free(item *it) {
  if (!it)
    return;
  json_decref(it->event);
  free(it->key);
  free(it);
}

/* The item for one finding of d; NULL on no memory. */
static item *make_item(const lg_events *ev, const lg_decision *d, const lg_decision_finding *f) {
  const char *user = d->username ? d->username : "";
  const char *pod = d->pod;
  char msg[MESSAGE_MAX];
  item *it = calloc(1, sizeof *it);
  json_t *io;
  int n;

  if (!it)
    return NULL;
  if (pod && *pod)
    n = snprintf(msg, sizeof msg, "%s (by user %s, pod %s)", f->message, user, pod);
  else
    n = snprintf(msg, sizeof msg, "%s (by user %s)", f->message, *user ? user : "<unknown>");
  if (n < 0)
    msg[0] = '\0';
  lg_utf8_trim(msg);
  io = json_pack("{s:s, s:s, s:s, s:s, s:s*, s:s*}", "apiVersion", "coordination.k8s.io/v1", "kind",
                 "Lease", "namespace", d->namespace, "name", d->name, "uid", d->object_uid,
                 "resourceVersion", d->resource_version);
  it->event =
      json_pack("{s:s, s:s, s:{s:s}, s:o, s:s, s:s, s:s, s:{s:s, s:s}, s:s, s:s, s:n}",
                "apiVersion", "v1", "kind", "Event", "metadata", "namespace", d->namespace,
                "involvedObject", io, "reason", "LeaseViolation", "message", msg, "type", "Warning",
                "source", "component", ev->component, "host", ev->host, "reportingComponent",
                ev->component, "reportingInstance", ev->host, "eventTime");
  /* Repeats of one violation (judged at other moments, with other times in the message)
   * share the finding's stable key. */
  it->key = strdup(f->key);
  if (!it->event || !it->key) {
    item_free(it);
    return NULL;
  }
  it->hash = fnv1a(it->key);
  it->when = d->when;
  return it;
}

/* True when at most one line per LOG_EVERY_MS is due (now is the time); counts the others. */
static bool log_due(struct timespec *last, bool *logged, unsigned long *suppressed,
                    const struct timespec *now) {
  if (*logged && (now->tv_sec - last->tv_sec) * 1000 + (now->tv_nsec - last->tv_nsec) / 1000000 <
                     LOG_EVERY_MS) {
    (*suppressed)++;
    return false;
  }
  *logged = true;
  *last = *now;
  return true;
}

/* A lease name that Kubernetes would not accept never goes into an API path (with our
 * token): "../x" or "a?dryRun=All" would reach another resource. Logged (at most once a
 * minute, with a count) and counted per finding. */
static void refuse_names(lg_events *ev, const lg_decision *d) {
  char lease[160], suppressed[24];
  struct timespec now;
  bool due;

  clock_gettime(CLOCK_MONOTONIC, &now);
  pthread_mutex_lock(&ev->mu);
  due = log_due(&ev->last_invalid_log, &ev->invalid_logged, &ev->invalid_suppressed, &now);
  snprintf(suppressed, sizeof suppressed, "%lu", ev->invalid_suppressed);
  if (due)
    ev->invalid_suppressed = 0;
  pthread_mutex_unlock(&ev->mu);
  if (!due)
    return;
  snprintf(lease, sizeof lease, "%.60s/%.80s", d->namespace, d->name);
  lg_utf8_trim(lease);
  lg_log(LG_LOG_WARNING, "no event for a lease whose namespace or name is not a Kubernetes name",
         "lease", lease, "refusedNotLogged", suppressed, NULL);
}

void lg_events_report(lg_events *ev, const lg_decision *d) {
  item *items[LG_RULE_COUNT];
  size_t n = 0, dropped = 0, queued = 0;

  if (!ev || !d || !d->usable || d->ignored || d->dry_run || !d->namespace || !*d->namespace ||
      !d->name || !*d->name || !d->n)
    return;
  if (!lg_k8sname_is_label(d->namespace) || !lg_k8sname_is_subdomain(d->name)) {
    refuse_names(ev, d);
    for (size_t i = 0; i < d->n && i < LG_RULE_COUNT; i++)
      lg_metrics_event(ev->metrics, "invalid");
    return;
  }
  for (size_t i = 0; i < d->n && i < LG_RULE_COUNT; i++) {
    if ((items[n] = make_item(ev, d, &d->findings[i])))
      n++;
    else
      dropped++; /* no memory */
  }
  pthread_mutex_lock(&ev->mu);
  for (size_t i = 0; i < n; i++) {
    if (ev->stopping || ev->pending >= ev->queue_limit) {
      item_free(items[i]);
      dropped++;
      continue;
    }
    if (ev->tail)
      ev->tail->next = items[i];
    else
      ev->head = items[i];
    ev->tail = items[i];
    ev->pending++;
    queued++;
  }
  if (queued)
    pthread_cond_signal(&ev->cv);
  pthread_mutex_unlock(&ev->mu);
  for (size_t i = 0; i < dropped; i++)
    lg_metrics_event(ev->metrics, "dropped");
}

static void events_sink_emit(void *ctx, const lg_decision *d) { lg_events_report(ctx, d); }

lg_sink lg_events_sink(lg_events *ev) { return (lg_sink){events_sink_emit, ev}; }

/* ---- the aggregation cache (worker only) ---- */

static void entry_free(entry *e) {
  if (!e)
    return;
  free(e->key);
  free(e->name);
  free(e);
}

static void lru_unlink(lg_events *ev, entry *e) {
  if (e->prev)
    e->prev->next = e->next;
  else
    ev->lru_head = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    ev->lru_tail = e->prev;
  e->prev = e->next = NULL;
}

static void lru_push_front(lg_events *ev, entry *e) {
  e->prev = NULL;
  e->next = ev->lru_head;
  if (ev->lru_head)
    ev->lru_head->prev = e;
  ev->lru_head = e;
  if (!ev->lru_tail)
    ev->lru_tail = e;
}

static void cache_drop(lg_events *ev, entry *e) {
  lru_unlink(ev, e);
  entry_free(e);
  ev->n_entries--;
}

static entry *cache_find(lg_events *ev, const item *it) {
  for (entry *e = ev->lru_head; e; e = e->next)
    if (e->hash == it->hash && !strcmp(e->key, it->key))
      return e;
  return NULL;
}

/* Remembers a posted event; forgets the least recently used past the limit and, from
 * the old end, those idle for a whole window. */
static void cache_add(lg_events *ev, const item *it, const char *name, lg_time first,
                      int64_t count) {
  entry *e = calloc(1, sizeof *e);
  if (!e || !(e->key = strdup(it->key)) || !(e->name = strdup(name))) {
    entry_free(e);
    return;
  }
  e->hash = it->hash;
  e->first = first;
  e->last = it->when;
  e->count = count;
  lru_push_front(ev, e);
  ev->n_entries++;
  while (ev->lru_tail &&
         (ev->n_entries > ev->cache_limit || it->when - ev->lru_tail->last >= ev->window))
    cache_drop(ev, ev->lru_tail);
}

/* ---- the worker ---- */

/* The timeout for the next call: the configured one, cut to what is left of the drain
 * time once stopping. <= 0: no time left. */
static long call_budget(lg_events *ev) {
  long ms = ev->call_ms, left;
  pthread_mutex_lock(&ev->mu);
  if (ev->stopping && (left = ms_until(&ev->deadline)) < ms)
    ms = left;
  pthread_mutex_unlock(&ev->mu);
  return ms;
}

static void log_failure(lg_events *ev, const item *it, const char *call, lg_rc rc,
                        const lg_kube_result *r) {
  const json_t *io = json_object_get(it->event, "involvedObject");
  char lease[512], status[24], suppressed[24];
  struct timespec now;

  lg_metrics_event(ev->metrics, "failed");
  clock_gettime(CLOCK_MONOTONIC, &now);
  if (!log_due(&ev->last_log, &ev->logged, &ev->suppressed, &now))
    return;
  snprintf(lease, sizeof lease, "%s/%s", json_string_value(json_object_get(io, "namespace")),
           json_string_value(json_object_get(io, "name")));
  snprintf(status, sizeof status, "%ld", r->status);
  snprintf(suppressed, sizeof suppressed, "%lu", ev->suppressed);
  lg_log(LG_LOG_WARNING, "cannot record a Kubernetes event", "lease", lease, "call", call, "status",
         status, "error", r->message[0] ? r->message : lg_strerror(rc), "failuresNotLogged",
         suppressed, NULL);
  ev->suppressed = 0;
}

/* "<lease>.<hex nanoseconds>" as client-go names events; unique within this recorder. */
static void event_name(lg_events *ev, const item *it, char out[NAME_MAX_LEN + 1]) {
  const char *lease =
      json_string_value(json_object_get(json_object_get(it->event, "involvedObject"), "name"));
  uint64_t ns = it->when > 0 ? (uint64_t)it->when * 1000 : 0;
  int prefix = (int)strlen(lease);
  if (ns <= ev->last_name_ns)
    ns = ev->last_name_ns + 1;
  ev->last_name_ns = ns;
  if (prefix > NAME_MAX_LEN - NAME_SUFFIX_LEN)
    prefix = NAME_MAX_LEN - NAME_SUFFIX_LEN;
  while (prefix > 0 && (lease[prefix - 1] == '.' || lease[prefix - 1] == '-'))
    prefix--;
  snprintf(out, NAME_MAX_LEN + 1, "%.*s.%016" PRIx64, prefix, lease, ns);
}

/* POSTs the event as name with count and firstTimestamp; true when created. */
static bool post(lg_events *ev, const item *it, const char *name, lg_time first, int64_t count) {
  const char *ns =
      json_string_value(json_object_get(json_object_get(it->event, "metadata"), "namespace"));
  json_t *body = json_deep_copy(it->event);
  char path[512], t1[LG_TIME_BUFLEN], t2[LG_TIME_BUFLEN];
  long ms = call_budget(ev);
  lg_kube_result r;
  lg_rc rc = LG_ENOMEM;
  bool ok = false;

  memset(&r, 0, sizeof r);
  if (ms <= 0) {
    lg_metrics_event(ev->metrics, "dropped");
    json_decref(body);
    return false;
  }
  /* The names were checked in lg_events_report; escaped all the same. */
  if (body && !lg_k8sname_path(path, sizeof path, "/api/v1/namespaces", ns, "events", NULL)) {
    json_decref(body);
    body = NULL;
  }
  if (body) {
    json_object_set_new(json_object_get(body, "metadata"), "name", json_string(name));
    json_object_set_new(body, "count", json_integer(count));
    json_object_set_new(body, "firstTimestamp", json_string(timestamp(first, t1)));
    json_object_set_new(body, "lastTimestamp", json_string(timestamp(it->when, t2)));
    rc = lg_kube_call(ev->kube, "POST", path, body, ms, &r);
  }
  ok = rc == LG_OK && r.status >= 200 && r.status < 300;
  if (ok)
    lg_metrics_event(ev->metrics, "posted");
  else
    log_failure(ev, it, "POST", rc, &r);
  lg_kube_result_free(&r);
  json_decref(body);
  return ok;
}

/* PATCHes count, lastTimestamp and message of the cached event (a JSON merge patch).
 * Returns the HTTP status, 0 when no answer came, -1 when there was no time to try. */
static long patch(lg_events *ev, const item *it, const entry *e) {
  const char *ns =
      json_string_value(json_object_get(json_object_get(it->event, "metadata"), "namespace"));
  char path[1024], ts[LG_TIME_BUFLEN];
  json_t *body =
      json_pack("{s:I, s:s, s:O}", "count", (json_int_t)e->count, "lastTimestamp",
                timestamp(it->when, ts), "message", json_object_get(it->event, "message"));
  long ms = call_budget(ev), status;
  lg_kube_result r;
  lg_rc rc = LG_ENOMEM;

  memset(&r, 0, sizeof r);
  if (ms <= 0) {
    json_decref(body);
    return -1;
  }
  if (body &&
      !lg_k8sname_path(path, sizeof path, "/api/v1/namespaces", ns, "events", e->name, NULL)) {
    json_decref(body);
    body = NULL;
  }
  if (body)
    rc = lg_kube_call(ev->kube, "PATCH", path, body, ms, &r);
  status = rc == LG_OK ? r.status : 0;
  if (status >= 200 && status < 300)
    lg_metrics_event(ev->metrics, "aggregated");
  else if (status != 404)
    log_failure(ev, it, "PATCH", rc, &r);
  lg_kube_result_free(&r);
  json_decref(body);
  return status;
}

/* Sends one event: a repeat within the window patches the cached event (re-created when
 * it is gone, as client-go does), anything else is posted anew. */
static void deliver(lg_events *ev, const item *it) {
  entry *e = cache_find(ev, it);
  char name[NAME_MAX_LEN + 1];
  long status;

  if (e && it->when - e->last >= ev->window) {
    cache_drop(ev, e);
    e = NULL;
  }
  if (!e) {
    event_name(ev, it, name);
    if (post(ev, it, name, it->when, 1))
      cache_add(ev, it, name, it->when, 1);
    return;
  }
  lru_unlink(ev, e);
  lru_push_front(ev, e);
  e->count++;
  if (it->when > e->last)
    e->last = it->when;
  status = patch(ev, it, e);
  if (status == -1)
    lg_metrics_event(ev->metrics, "dropped");
  else if (status == 404 && !post(ev, it, e->name, e->first, e->count))
    cache_drop(ev, e);
}

static item *pop(lg_events *ev) {
  item *it = ev->head;
  if (it) {
    ev->head = it->next;
    if (!ev->head)
      ev->tail = NULL;
    it->next = NULL;
  }
  return it;
}

static void *run(void *arg) {
  lg_events *ev = arg;
  item *it;

  pthread_mutex_lock(&ev->mu);
  for (;;) {
    while (!ev->head && !ev->stopping)
      pthread_cond_wait(&ev->cv, &ev->mu);
    if (!ev->head || (ev->stopping && ms_until(&ev->deadline) <= 0))
      break;
    it = pop(ev);
    pthread_mutex_unlock(&ev->mu);
    deliver(ev, it);
    item_free(it);
    pthread_mutex_lock(&ev->mu);
    ev->pending--;
  }
  while ((it = pop(ev))) { /* the drain time is up */
    lg_metrics_event(ev->metrics, "dropped");
    item_free(it);
    ev->pending--;
  }
  pthread_mutex_unlock(&ev->mu);
  return NULL;
}

/* ---- start and stop ---- */

static void destroy(lg_events *ev) {
  item *it;
  if (!ev)
    return;
  while ((it = pop(ev)))
    item_free(it);
  while (ev->lru_head)
    cache_drop(ev, ev->lru_head);
  lg_kube_free(ev->kube);
  if (ev->cv_ok)
    pthread_cond_destroy(&ev->cv);
  if (ev->mu_ok)
    pthread_mutex_destroy(&ev->mu);
  free(ev->component);
  free(ev->host);
  free(ev);
}

lg_rc lg_events_start(const lg_events_config *cfg, lg_metrics *m, lg_events **out, char *err,
                      size_t errlen) {
  lg_events *ev = NULL;
  sigset_t all, old;
  lg_rc rc = LG_OK;
  int e;

  if (!out)
    return lg_fail(err, errlen, LG_EINVAL, "no output recorder");
  *out = NULL;
  if (!cfg || !cfg->kube)
    return lg_fail(err, errlen, LG_EINVAL, "no API server configuration for events");
  if (!(ev = calloc(1, sizeof *ev)) ||
      !(ev->component = strdup(cfg->component ? cfg->component : DEFAULT_COMPONENT)) ||
      !(ev->host = strdup(cfg->host ? cfg->host : ""))) {
    rc = lg_fail(err, errlen, LG_ENOMEM, "out of memory");
    goto out;
  }
  ev->queue_limit = cfg->queue_limit ? cfg->queue_limit : DEFAULT_QUEUE;
  ev->cache_limit = cfg->cache_limit ? cfg->cache_limit : DEFAULT_CACHE;
  ev->window = cfg->window > 0 ? cfg->window : DEFAULT_WINDOW;
  ev->call_ms = cfg->call_timeout_ms > 0 ? cfg->call_timeout_ms : DEFAULT_CALL_MS;
  ev->drain_ms = cfg->drain_timeout_ms > 0 ? cfg->drain_timeout_ms : DEFAULT_DRAIN_MS;
  ev->metrics = m;
  if ((rc = lg_kube_new(cfg->kube, &ev->kube, err, errlen)))
    goto out;
  if (!(ev->mu_ok = pthread_mutex_init(&ev->mu, NULL) == 0) ||
      !(ev->cv_ok = pthread_cond_init(&ev->cv, NULL) == 0)) {
    rc = lg_fail(err, errlen, LG_ENOMEM, "cannot create the events queue lock");
    goto out;
  }
  /* The worker takes no signals: they belong to the thread that serves. */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  e = pthread_create(&ev->worker, NULL, run, ev);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (e != 0) {
    rc = lg_fail(err, errlen, LG_ENOMEM, "cannot start the events worker: %s", strerror(e));
    goto out;
  }
  ev->worker_ok = true;

out:
  if (rc) {
    destroy(ev);
    ev = NULL;
  }
  *out = ev;
  return rc;
}

void lg_events_stop(lg_events *ev) {
  if (!ev)
    return;
  pthread_mutex_lock(&ev->mu);
  ev->stopping = true;
  clock_gettime(CLOCK_MONOTONIC, &ev->deadline);
  ev->deadline.tv_sec += ev->drain_ms / 1000;
  ev->deadline.tv_nsec += (ev->drain_ms % 1000) * 1000000L;
  if (ev->deadline.tv_nsec >= 1000000000L) {
    ev->deadline.tv_sec++;
    ev->deadline.tv_nsec -= 1000000000L;
  }
  pthread_cond_broadcast(&ev->cv);
  pthread_mutex_unlock(&ev->mu);
  if (ev->worker_ok)
    pthread_join(ev->worker, NULL);
  destroy(ev);
}
