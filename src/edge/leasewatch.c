/* leasewatch.c -- list + watch of Leases with resume, 410 re-list and backoff (an informer's
 * loop), handing every list and event to callbacks. */
#include "leasewatch.h"

#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "k8sname.h"
#include "log.h"

#define LIST_TIMEOUT_MS 60000L
#define LIST_PAGE       500
#define BACKOFF_MAX_S   30

typedef struct {
  const lg_leasewatch *cfg;
  char list_path[160];
  char rv[128];  /* the last resourceVersion seen: where the next watch starts */
  bool stop;     /* the owner asked to stop */
  bool gone;     /* the watch said 410 Gone */
  bool broken;   /* the watch sent something unusable or another ERROR */
  size_t events; /* events of the current watch */
} state;

typedef enum { W_STOP, W_ENDED, W_GONE, W_FAILED } watch_end;

static bool stopped(state *s) {
  if (!s->stop && s->cfg->stopped && s->cfg->stopped(s->cfg->ud))
    s->stop = true;
  return s->stop;
}

static void pause_for(state *s, long seconds) {
  if (s->cfg->wait(s->cfg->ud, (int64_t)seconds * 1000000))
    s->stop = true;
}

static void synced(state *s, bool yes) {
  if (s->cfg->on_synced)
    s->cfg->on_synced(s->cfg->ud, yes);
}

static void set_rv(state *s, const char *rv) {
  if (rv && rv[0] && strlen(rv) < sizeof s->rv)
    memcpy(s->rv, rv, strlen(rv) + 1);
}

static const char *or_empty(const char *s) { return s ? s : ""; }

/* Appends s to buf percent-encoded (a continue token or resourceVersion in a query). */
static void query_escape(char *buf, size_t len, const char *s) {
  size_t n = strlen(buf);
  for (; *s && n + 4 < len; s++) {
    unsigned char ch = (unsigned char)*s;
    if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~", ch))
      buf[n++] = (char)ch;
    else
      n += (size_t)snprintf(buf + n, len - n, "%%%02X", ch);
  }
  buf[n] = '\0';
}

/* LISTs the leases (page by page) into items (new); the list's resourceVersion into rv. */
static lg_rc list_all(state *s, json_t **items, char *rv, size_t rvlen) {
  char path[3 * 4096 + 256], cont[4096] = "";
  lg_kube_result res;
  lg_rc rc = LG_OK;

  if (!(*items = json_array()))
    return LG_ENOMEM;
  do {
    const json_t *meta;
    snprintf(path, sizeof path, "%s?limit=%d%s", s->list_path, LIST_PAGE,
             cont[0] ? "&continue=" : "");
    query_escape(path, sizeof path, cont);
    rc = lg_kube_call(s->cfg->kube, "GET", path, NULL, LIST_TIMEOUT_MS, &res);
    if (!rc && (res.status != 200 || !json_is_array(json_object_get(res.body, "items"))))
      rc = LG_EIO;
    if (rc) {
      lg_log_json(LG_LOG_WARNING, "cannot list leases", "{s:s, s:I, s:s}", "path", s->list_path,
                  "status", (json_int_t)res.status, "error",
                  res.message[0] ? res.message : "not a LeaseList");
      lg_kube_result_free(&res);
      break;
    }
    json_array_extend(*items, json_object_get(res.body, "items"));
    meta = json_object_get(res.body, "metadata");
    snprintf(rv, rvlen, "%s",
             or_empty(json_string_value(json_object_get(meta, "resourceVersion"))));
    if ((size_t)snprintf(cont, sizeof cont, "%s",
                         or_empty(json_string_value(json_object_get(meta, "continue")))) >=
        sizeof cont) {
      lg_log(LG_LOG_WARNING, "cannot list leases", "path", s->list_path, "error",
             "continue token too long", NULL);
      rc = LG_EIO;
    }
    lg_kube_result_free(&res);
  } while (!rc && cont[0]);
  if (rc) {
    json_decref(*items);
    *items = NULL;
  }
  return rc;
}

static lg_rc relist(state *s, bool baseline) {
  json_t *items;
  char rv[sizeof s->rv];
  lg_rc rc = list_all(s, &items, rv, sizeof rv);

  if (rc)
    return rc;
  if (!rv[0]) {
    lg_log(LG_LOG_WARNING, "the lease list has no resourceVersion", NULL);
    json_decref(items);
    return LG_EIO;
  }
  s->cfg->on_list(s->cfg->ud, items, baseline);
  set_rv(s, rv);
  lg_log_json(LG_LOG_INFO, baseline ? "listed leases" : "re-listed leases", "{s:I, s:s}", "leases",
              (json_int_t)json_array_size(items), "resourceVersion", s->rv);
  json_decref(items);
  return LG_OK;
}

/* One line of the watch stream (NULL: a tick). Non-zero ends the stream. */
static int on_line(void *ud, const char *line, size_t len) {
  state *s = ud;
  json_t *ev, *obj;
  json_error_t jerr;
  lg_audit_event_type type;
  char err[256];
  long code;

  if (stopped(s))
    return 1;
  if (!line)
    return 0;
  if (!(ev = json_loadb(line, len, JSON_ALLOW_NUL, &jerr))) {
    lg_log(LG_LOG_WARNING, "malformed watch event", "error", jerr.text, NULL);
    s->broken = true;
    return 1;
  }
  if (lg_audit_event(ev, &type, &obj, &code, err, sizeof err) != LG_OK) {
    lg_log(LG_LOG_WARNING, "unusable watch event", "error", err, NULL);
    s->broken = true;
  } else if (type == LG_AUDIT_EV_ERROR) {
    const char *msg = json_string_value(json_object_get(obj, "message"));
    s->gone = code == 410;
    s->broken = !s->gone;
    if (s->broken)
      lg_log(LG_LOG_WARNING, "watch error", "error", msg ? msg : "", NULL);
  } else if (type == LG_AUDIT_EV_BOOKMARK) {
    set_rv(s,
           json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion")));
  } else {
    s->events++;
    s->cfg->on_event(s->cfg->ud,
                     type == LG_AUDIT_EV_ADDED      ? LG_LEASEWATCH_ADDED
                     : type == LG_AUDIT_EV_MODIFIED ? LG_LEASEWATCH_MODIFIED
                                                    : LG_LEASEWATCH_DELETED,
                     obj);
    /* Past it even when unusable: resuming must not replay it forever. */
    set_rv(s,
           json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion")));
  }
  json_decref(ev);
  return s->gone || s->broken;
}

static watch_end watch_once(state *s) {
  char path[512];
  lg_kube_result res;
  watch_end end = W_ENDED;
  lg_rc rc;

  snprintf(path, sizeof path,
           "%s?watch=true&allowWatchBookmarks=true&timeoutSeconds=%ld"
           "&resourceVersion=",
           s->list_path, s->cfg->timeout_s);
  query_escape(path, sizeof path, s->rv);
  s->gone = s->broken = false;
  s->events = 0;
  lg_log(LG_LOG_DEBUG, "watching leases", "resourceVersion", s->rv, NULL);
  rc = lg_kube_stream(s->cfg->kube, path, s->cfg->timeout_s * 1000 + 30000, on_line, s, &res);
  if (s->stop)
    end = W_STOP;
  else if (s->gone || res.status == 410)
    end = W_GONE;
  else if (rc || s->broken || res.status != 200) {
    lg_log_json(LG_LOG_WARNING, "watch failed", "{s:I, s:s}", "status", (json_int_t)res.status,
                "error", res.message[0] ? res.message : "unusable event");
    end = W_FAILED;
  }
  lg_kube_result_free(&res);
  return end;
}

void lg_leasewatch_run(const lg_leasewatch *cfg) {
  state s = {.cfg = cfg};
  long backoff = 1;
  bool listed = false, ever = false;
  int gone_in_a_row = 0;

  if (cfg->namespace)
    lg_k8sname_path(s.list_path, sizeof s.list_path, "/apis/coordination.k8s.io/v1/namespaces",
                    cfg->namespace, "leases", NULL);
  else
    snprintf(s.list_path, sizeof s.list_path, "/apis/coordination.k8s.io/v1/leases");
  while (!stopped(&s)) {
    watch_end end;
    int64_t started;
    if (!listed) {
      if (relist(&s, !ever) != LG_OK) {
        synced(&s, false);
        pause_for(&s, backoff);
        backoff = backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : backoff * 2;
        continue;
      }
      listed = ever = true;
      synced(&s, true);
    }
    started = lg_time_mono();
    end = watch_once(&s);
    if (end == W_STOP)
      break;
    if (end == W_GONE) {
      lg_log(LG_LOG_INFO, "resourceVersion too old (410 Gone): re-listing", "resourceVersion", s.rv,
             NULL);
      listed = false;
      if (++gone_in_a_row > 1)
        pause_for(&s, backoff);
      continue;
    }
    gone_in_a_row = 0;
    /* A stream that ends at once (well before its timeout) without an event is a failure
     * too: no busy loop. */
    if (end == W_FAILED || (s.events == 0 && lg_time_mono() - started < 500000)) {
      if (end == W_FAILED)
        synced(&s, false);
      pause_for(&s, backoff);
      backoff = backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : backoff * 2;
      continue;
    }
    synced(&s, true);
    backoff = 1;
  }
}
