/* log.c -- JSON-line logs (stderr) and audit lines (stdout), made here, written by logq.c. */
#include "log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

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

/* Serialises obj as one line on stream s. */
static void emit_borrowed(lg_logq_stream s, const json_t *obj) {
  char *line = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
  if (line)
    lg_logq_write(s, line, strlen(line));
  else
    lg_logq_write(s, NULL, 0); /* counted as dropped */
  free(line);
}

/* Serialises obj (stolen) as one line on stream s. */
static void emit(lg_logq_stream s, json_t *obj) {
  emit_borrowed(s, obj);
  json_decref(obj);
}

static json_t *line_start(lg_time now, const char *level, const char *msg) {
  char ts[LG_TIME_BUFLEN];
  return json_pack("{s:s, s:s, s:s}", "time", lg_time_format(now, ts), "level", level, "msg",
                   msg);
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

static void set_time(json_t *o, const char *key, bool has, lg_time t) {
  char ts[LG_TIME_BUFLEN];
  json_object_set_new(o, key, has ? json_string(lg_time_format(t, ts)) : json_null());
}

/* The fields every audit line of a request carries. */
static json_t *review_fields(const lg_webhook_result *res, lg_time now, const char *msg) {
  const lg_review *r = &res->review;
  const lg_lease *o = r->has_old_object ? &r->old_object : NULL;
  const lg_lease *n = r->has_object ? &r->object : NULL;
  char lease[512];
  json_t *obj = line_start(now, "warning", msg);
  if (!obj)
    return NULL;
  snprintf(lease, sizeof lease, "%s/%s", r->namespace, r->name);
  json_object_set_new(obj, "lease", json_string(lease));
  json_object_set_new(obj, "operation", json_string(r->operation));
  json_object_set_new(obj, "oldHolder", o && o->holder ? json_string(o->holder) : json_null());
  json_object_set_new(obj, "newHolder", n && n->holder ? json_string(n->holder) : json_null());
  set_time(obj, "oldRenewTime", o && o->has_renew, o ? o->renew : 0);
  set_time(obj, "oldExpiry", o && o->has_renew && o->has_duration,
           o ? o->renew + o->duration * LG_USEC_PER_SEC : 0);
  set_time(obj, "newRenewTime", n && n->has_renew, n ? n->renew : 0);
  json_object_set_new(obj, "user", json_string(r->requester.username));
  json_object_set_new(obj, "groups", r->groups ? json_deep_copy(r->groups) : json_array());
  json_object_set_new(obj, "pod", r->requester.pod_name ? json_string(r->requester.pod_name)
                                                        : json_null());
  json_object_set_new(obj, "uid", json_string(r->uid));
  json_object_set_new(obj, "dryRun", json_boolean(r->dry_run));
  json_object_set_new(obj, "allowed", json_boolean(res->verdict.allowed));
  return obj;
}

void lg_log_review(const lg_webhook_result *res, lg_time now) {
  if (res->rc != LG_OK)
    return;
  if (res->ignored) {
    json_t *obj = review_fields(res, now, "request ignored");
    if (obj) {
      json_object_set_new(obj, "reason", json_string(res->ignored));
      json_object_set_new(obj, "kind", json_string(res->review.kind));
    }
    emit(LG_LOGQ_STDERR, obj);
    return;
  }
  /* The request's fields are built once; each finding replaces its own four. */
  json_t *obj = res->verdict.n ? review_fields(res, now, "lease violation") : NULL;
  for (size_t i = 0; obj && i < res->verdict.n; i++) {
    const lg_finding *f = &res->verdict.findings[i];
    json_object_set_new(obj, "rule", json_string(lg_rules_id(f->rule)));
    json_object_set_new(obj, "mode", json_string(lg_rules_mode_name(f->mode)));
    json_object_set_new(obj, "decision", json_string(f->mode == LG_MODE_ENFORCE ? "deny"
                                                     : f->mode == LG_MODE_WARN  ? "warn"
                                                                                : "audit"));
    json_object_set_new(obj, "message", json_string(f->message));
    emit_borrowed(LG_LOGQ_STDOUT, obj);
  }
  json_decref(obj);
}

/* Reports what a log stream dropped, on stderr (logq.c calls this on stderr's writer). */
static void report(lg_logq_stream s, uint64_t dropped, lg_time since, bool broken) {
  char n[24], ts[LG_TIME_BUFLEN];
  if (broken) {
    lg_log(LG_LOG_ERROR, "log stream closed by its reader; its lines are dropped from now on",
           "stream", lg_logq_stream_name(s), NULL);
    return;
  }
  snprintf(n, sizeof n, "%" PRIu64, dropped);
  lg_log(LG_LOG_WARNING, "log lines dropped: the stream's reader is too slow or stalled",
         "stream", lg_logq_stream_name(s), "dropped", n, "since", lg_time_format(since, ts), NULL);
}

lg_rc lg_log_start_queue(long report_ms, char *err, size_t errlen) {
  lg_logq_config cfg = {.report_ms = report_ms, .report = report};
  return lg_logq_start(&cfg, err, errlen);
}

bool lg_log_stop_queue(long flush_ms) { return lg_logq_stop(flush_ms); }
