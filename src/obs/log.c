/* log.c -- JSON-line logs (stderr) and audit lines (stdout; the one encoder of a decision),
 * made here, written by logq.c. */
#include "log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jsonw.h"
#include "logq.h"
#include "utf8.h"

static lg_log_level min_level = LG_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warning", "error"};

void lg_log_set_level(lg_log_level level) { min_level = level; }

int lg_log_parse_level(const char *s) {
  for (int i = 0; i < 4; i++)
    if (s && strcmp(s, level_names[i]) == 0)
      return i;
  return -1;
}

/* Serialises obj (stolen) as one line on stream s. */
static void emit(lg_logq_stream s, json_t *obj) {
  char *line = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
  if (line)
    lg_logq_write(s, line, strlen(line));
  else
    lg_logq_write(s, NULL, 0); /* counted as dropped */
  free(line);
  json_decref(obj);
}

static json_t *line_start(lg_time now, const char *level, const char *msg) {
  char ts[LG_TIME_BUFLEN];
  return json_pack("{s:s, s:s, s:s}", "time", lg_time_format(now, ts), "level", level, "msg", msg);
}

/* A JSON string of s, whose invalid UTF-8 bytes (a value quoted from a client, like a
 * header) become '?': jansson refuses such a string, and the field would be lost. */
static json_t *any_string(const char *s) {
  json_t *j = json_string(s);
  char *copy;
  if (j || !(copy = strdup(s)))
    return j;
  lg_utf8_repair(copy);
  j = json_string(copy);
  free(copy);
  return j;
}

void lg_log(lg_log_level level, const char *msg, ...) {
  json_t *obj;
  const char *k, *v;
  va_list ap;
  if (level < min_level)
    return;
  obj = line_start(lg_time_now(), level_names[level], msg);
  va_start(ap, msg);
  while (obj && (k = va_arg(ap, const char *)) != NULL) {
    v = va_arg(ap, const char *);
    json_object_set_new(obj, k, any_string(v ? v : ""));
  }
  va_end(ap);
  emit(LG_LOGQ_STDERR, obj);
}

void lg_log_json(lg_log_level level, const char *msg, const char *fmt, ...) {
  json_t *obj, *fields;
  json_error_t jerr;
  va_list ap;
  if (level < min_level)
    return;
  va_start(ap, fmt);
  fields = json_vpack_ex(&jerr, 0, fmt, ap);
  va_end(ap);
  obj = line_start(lg_time_now(), level_names[level], msg);
  if (obj && json_is_object(fields))
    json_object_update(obj, fields);
  else if (obj) /* a field was not valid (e.g. not UTF-8): say so rather than lose the line */
    json_object_set_new(obj, "logError", any_string(jerr.text));
  json_decref(fields);
  emit(LG_LOGQ_STDERR, obj);
}

/* Appends the field key_frag (",\"key\":") with the string s, or null when s is NULL; a
 * value jansson would refuse leaves the field out, as json_object_set_new did. */
static void field(lg_jsonw *w, const char *key_frag, const char *s) {
  size_t mark = w->len;
  lg_jsonw_raw(w, key_frag, strlen(key_frag));
  if (!lg_jsonw_cstr(w, s))
    lg_jsonw_rewind(w, mark);
}

static void field_time(lg_jsonw *w, const char *key_frag, bool has, lg_time t) {
  char ts[LG_TIME_BUFLEN];
  field(w, key_frag, has ? lg_time_format(t, ts) : NULL);
}

/* The fields every audit line of a decision carries, as the text of an object left open:
 * time, level, msg, then the request's. Written as text in the order they had as a jansson
 * object (and as the same bytes json_dumps gave). */
static void decision_fields(lg_jsonw *w, const lg_decision *d, const char *msg) {
  const lg_lease *o = d->old_lease, *n = d->new_lease;
  char lease[512];

  snprintf(lease, sizeof lease, "%s/%s", d->namespace, d->name);
  LG_JSONW_LIT(w, "{");
  field_time(w, "\"time\":", true, d->when);
  LG_JSONW_LIT(w, ",\"level\":\"warning\"");
  field(w, ",\"msg\":", msg);
  field(w, ",\"lease\":", lease);
  field(w, ",\"operation\":", d->operation);
  field(w, ",\"oldHolder\":", o ? o->holder : NULL);
  field(w, ",\"newHolder\":", n ? n->holder : NULL);
  field_time(w, ",\"oldRenewTime\":", o && o->has_renew, o ? o->renew : 0);
  field_time(w, ",\"oldExpiry\":", o && o->has_renew && o->has_duration,
             o ? o->renew + o->duration * LG_USEC_PER_SEC : 0);
  field_time(w, ",\"newRenewTime\":", n && n->has_renew, n ? n->renew : 0);
  if (d->source == LG_DECISION_FILE || d->source == LG_DECISION_WATCH) {
    /* A history has versions, not requests: no requester, no uid, no answer. */
    field(w, ",\"resourceVersion\":", d->resource_version ? d->resource_version : "");
    field(w, ",\"oldResourceVersion\":", d->old_resource_version);
    return;
  }
  field(w, ",\"user\":", d->username);
  LG_JSONW_LIT(w, ",\"groups\":");
  if (d->groups)
    lg_jsonw_value(w, d->groups);
  else
    LG_JSONW_LIT(w, "[]");
  field(w, ",\"pod\":", d->pod);
  field(w, ",\"uid\":", d->request_uid);
  if (d->dry_run)
    LG_JSONW_LIT(w, ",\"dryRun\":true");
  else
    LG_JSONW_LIT(w, ",\"dryRun\":false");
  if (d->allowed)
    LG_JSONW_LIT(w, ",\"allowed\":true");
  else
    LG_JSONW_LIT(w, ",\"allowed\":false");
}

/* The fields of finding f, closing the object. */
static void finding_fields(lg_jsonw *w, const lg_decision *d, const lg_decision_finding *f) {
  bool history = d->source == LG_DECISION_FILE || d->source == LG_DECISION_WATCH;
  field(w, ",\"rule\":", lg_rules_id(f->rule));
  field(w, ",\"mode\":", lg_rules_mode_name(f->mode));
  if (!history)
    field(w, ",\"decision\":",
          f->mode == LG_MODE_ENFORCE ? "deny"
          : f->mode == LG_MODE_WARN  ? "warn"
                                     : "audit");
  field(w, ",\"message\":", f->message);
  if (history)
    field(w, ",\"source\":", lg_decision_source_name(d->source));
  LG_JSONW_LIT(w, "}");
}

/* The "request ignored" line of a request that is not a Lease, closed. */
static void ignored_fields(lg_jsonw *w, const lg_decision *d) {
  decision_fields(w, d, "request ignored");
  field(w, ",\"reason\":", d->ignored);
  field(w, ",\"kind\":", d->kind);
  LG_JSONW_LIT(w, "}");
}

char *lg_log_audit_line(const lg_decision *d, size_t i) {
  lg_jsonw w;
  lg_jsonw_init(&w);
  if (d->ignored && i == d->n) {
    ignored_fields(&w, d);
  } else if (i < d->n) {
    decision_fields(&w, d, "lease violation");
    finding_fields(&w, d, &d->findings[i]);
  } else {
    return NULL;
  }
  return lg_jsonw_take(&w);
}

/* Queues the text of w on stream s (a failed text counts as dropped). */
static void emit_text(lg_logq_stream s, lg_jsonw *w) {
  if (w->failed)
    lg_logq_write(s, NULL, 0);
  else
    lg_logq_write(s, w->p, w->len);
}

void lg_log_decision(const lg_decision *d) {
  lg_jsonw w;
  size_t common;

  if (!d->usable || (!d->ignored && !d->n))
    return; /* an allowed request with nothing to say writes nothing, and formats nothing */
  lg_jsonw_init(&w);
  if (d->ignored) {
    ignored_fields(&w, d);
    emit_text(LG_LOGQ_STDERR, &w);
    lg_jsonw_free(&w);
    return;
  }
  /* The request's fields are written once; each finding adds its own. */
  decision_fields(&w, d, "lease violation");
  common = w.len;
  for (size_t i = 0; i < d->n; i++) {
    lg_jsonw_rewind(&w, common);
    finding_fields(&w, d, &d->findings[i]);
    emit_text(LG_LOGQ_STDOUT, &w);
  }
  lg_jsonw_free(&w);
}

static void log_sink_emit(void *ctx, const lg_decision *d) {
  (void)ctx;
  lg_log_decision(d);
}

lg_sink lg_log_sink(void) { return (lg_sink){log_sink_emit, NULL}; }

/* Reports what a log stream dropped, on stderr (logq.c calls this on stderr's writer). */
static void report(lg_logq_stream s, uint64_t dropped, lg_time since, bool broken) {
  char n[24], ts[LG_TIME_BUFLEN];
  if (broken) {
    lg_log(LG_LOG_ERROR, "log stream closed by its reader; its lines are dropped from now on",
           "stream", lg_logq_stream_name(s), NULL);
    return;
  }
  snprintf(n, sizeof n, "%" PRIu64, dropped);
  lg_log(LG_LOG_WARNING, "log lines dropped: the stream's reader is too slow or stalled", "stream",
         lg_logq_stream_name(s), "dropped", n, "since", lg_time_format(since, ts), NULL);
}

lg_rc lg_log_start_queue(long report_ms, char *err, size_t errlen) {
  lg_logq_config cfg = {.report_ms = report_ms, .report = report};
  return lg_logq_start(&cfg, err, errlen);
}

bool lg_log_stop_queue(long flush_ms) { return lg_logq_stop(flush_ms); }
