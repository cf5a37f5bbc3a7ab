/* domref.h -- the AdmissionReview response and error Status built as jansson trees and
 * dumped, as src/admission.c did before it wrote the text directly: the reference the
 * encoder must equal byte for byte (tests/test_admission.c, fuzz/fuzz_review.c). */
#ifndef LG_DOMREF_H
#define LG_DOMREF_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kstatus.h"
#include "rules.h"
#include "utf8.h"
#include "webhook.h"

static json_t *domref_text(const char *s) {
  return s ? json_stringn(s, lg_utf8_trimmed_len(s)) : NULL;
}

static json_t *domref_deny_status(const lg_verdict *v) {
  char msg[LG_RULE_COUNT * LG_MESSAGE_MAX + 16];
  size_t len = 0;
  msg[0] = '\0';
  for (size_t i = 0; i < v->n; i++) {
    json_t *m = v->findings[i].mode == LG_MODE_ENFORCE ? domref_text(v->findings[i].message) : NULL;
    if (m)
      len += (size_t)snprintf(msg + len, sizeof msg - len, "%s%s", len ? "; " : "",
                              json_string_value(m));
    json_decref(m);
  }
  return json_pack("{s:i, s:s, s:s, s:o}", "code", 403, "reason", "Forbidden", "status", "Failure",
                   "message", domref_text(msg));
}

/* New string (free()) or NULL, as lg_admission_encode. */
static inline char *domref_encode_n(const char *uid, size_t uid_len, const lg_verdict *v,
                                    const char *extra_warning) {
  json_t *doc = NULL, *resp, *warnings = json_array(), *annotations = json_object();
  char *out = NULL;
  int bad = !warnings || !annotations;

  for (size_t i = 0; i < v->n && !bad; i++) {
    const lg_finding *f = &v->findings[i];
    bad |= json_object_set_new(annotations, lg_rules_id(f->rule), domref_text(f->message));
    if (f->mode == LG_MODE_WARN)
      bad |= json_array_append_new(warnings, domref_text(f->warning));
  }
  if (extra_warning && !bad)
    bad |= json_array_append_new(warnings, domref_text(extra_warning));
  if (bad)
    goto out;
  resp = json_pack("{s:s%, s:b}", "uid", uid, uid_len, "allowed", v->allowed);
  doc = json_pack("{s:s, s:s, s:o}", "apiVersion", "admission.k8s.io/v1", "kind", "AdmissionReview",
                  "response", resp);
  if (!doc)
    goto out;
  if (!v->allowed && json_object_set_new(resp, "status", domref_deny_status(v)))
    goto out;
  if (json_array_size(warnings) && json_object_set(resp, "warnings", warnings))
    goto out;
  if (json_object_size(annotations) && json_object_set(resp, "auditAnnotations", annotations))
    goto out;
  out = json_dumps(doc, JSON_COMPACT);
out:
  json_decref(doc);
  json_decref(warnings);
  json_decref(annotations);
  return out;
}

/* New string or NULL, as lg_kstatus_encode. */
/* As domref_encode_n with a NUL-terminated uid. */
static inline char *domref_encode(const char *uid, const lg_verdict *v, const char *extra_warning) {
  return domref_encode_n(uid, strlen(uid), v, extra_warning);
}

static inline char *domref_encode_error(int http_status, const char *reason, const char *message) {
  char *safe = strdup(message ? message : "");
  json_t *doc = NULL;
  char *out = NULL;

  if (!safe)
    return NULL;
  lg_utf8_repair(safe);
  doc = json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:i}", "apiVersion", "v1", "kind", "Status",
                  "metadata", "status", "Failure", "reason", reason, "message", safe, "code",
                  http_status);
  out = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
  json_decref(doc);
  free(safe);
  return out;
}

/* ---- audit lines, as src/log.c built them as jansson objects ---- */

static void domref_set_time(json_t *o, const char *key, bool has, lg_time t) {
  char ts[LG_TIME_BUFLEN];
  json_object_set_new(o, key, has ? json_string(lg_time_format(t, ts)) : json_null());
}

static json_t *domref_review_fields(const lg_webhook_result *res, lg_time now, const char *msg) {
  const lg_review *r = &res->review;
  const lg_lease *o = r->has_old_object ? &r->old_object : NULL;
  const lg_lease *n = r->has_object ? &r->object : NULL;
  char lease[512], ts[LG_TIME_BUFLEN];
  json_t *obj =
      json_pack("{s:s, s:s, s:s}", "time", lg_time_format(now, ts), "level", "warning", "msg", msg);
  if (!obj)
    return NULL;
  snprintf(lease, sizeof lease, "%s/%s", r->namespace, r->name);
  json_object_set_new(obj, "lease", json_string(lease));
  json_object_set_new(obj, "operation", json_string(r->operation));
  json_object_set_new(obj, "oldHolder", o && o->holder ? json_string(o->holder) : json_null());
  json_object_set_new(obj, "newHolder", n && n->holder ? json_string(n->holder) : json_null());
  domref_set_time(obj, "oldRenewTime", o && o->has_renew, o ? o->renew : 0);
  domref_set_time(obj, "oldExpiry", o && o->has_renew && o->has_duration,
                  o ? o->renew + o->duration * LG_USEC_PER_SEC : 0);
  domref_set_time(obj, "newRenewTime", n && n->has_renew, n ? n->renew : 0);
  json_object_set_new(obj, "user", json_string(r->requester.username));
  json_object_set_new(obj, "groups", r->groups ? json_deep_copy(r->groups) : json_array());
  json_object_set_new(obj, "pod",
                      r->requester.pod_name ? json_string(r->requester.pod_name) : json_null());
  json_object_set_new(obj, "uid", json_string(r->uid));
  json_object_set_new(obj, "dryRun", json_boolean(r->dry_run));
  json_object_set_new(obj, "allowed", json_boolean(res->verdict.allowed));
  return obj;
}

/* Appends line and a newline to *text (new string; NULL line: nothing). */
static void domref_append(char **text, char *line) {
  size_t a = *text ? strlen(*text) : 0, b = line ? strlen(line) : 0;
  char *grown;
  if (!line)
    return;
  grown = realloc(*text, a + b + 2);
  if (grown) {
    memcpy(grown + a, line, b);
    grown[a + b] = '\n';
    grown[a + b + 1] = '\0';
    *text = grown;
  }
  free(line);
}

/* What lg_log_decision writes for res (a serve decision): the lines of stdout and of stderr
 * (new strings, NULL when none). */
static inline void domref_audit(const lg_webhook_result *res, lg_time now, char **out, char **err) {
  json_t *obj;
  *out = *err = NULL;
  if (res->rc != LG_OK)
    return;
  if (res->ignored) {
    obj = domref_review_fields(res, now, "request ignored");
    json_object_set_new(obj, "reason", json_string(res->ignored));
    json_object_set_new(obj, "kind", json_string(res->review.kind));
    domref_append(err, json_dumps(obj, JSON_COMPACT));
    json_decref(obj);
    return;
  }
  obj = res->verdict.n ? domref_review_fields(res, now, "lease violation") : NULL;
  for (size_t i = 0; obj && i < res->verdict.n; i++) {
    const lg_finding *f = &res->verdict.findings[i];
    json_object_set_new(obj, "rule", json_string(lg_rules_id(f->rule)));
    json_object_set_new(obj, "mode", json_string(lg_rules_mode_name(f->mode)));
    json_object_set_new(obj, "decision",
                        json_string(f->mode == LG_MODE_ENFORCE ? "deny"
                                    : f->mode == LG_MODE_WARN  ? "warn"
                                                               : "audit"));
    json_object_set_new(obj, "message", json_string(f->message));
    domref_append(out, json_dumps(obj, JSON_COMPACT));
  }
  json_decref(obj);
}

#endif
