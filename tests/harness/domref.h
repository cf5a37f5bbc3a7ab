/* domref.h -- the AdmissionReview response and error Status built as jansson trees and
 * dumped, as src/admission.c did before it wrote the text directly: the reference the
 * encoder must equal byte for byte (tests/test_admission.c, fuzz/fuzz_review.c). */
#ifndef LG_DOMREF_H
#define LG_DOMREF_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "rules.h"
#include "utf8.h"

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
  return json_pack("{s:i, s:s, s:s, s:o}", "code", 403, "reason", "Forbidden", "status",
                   "Failure", "message", domref_text(msg));
}

/* New string (free()) or NULL, as lg_admission_encode. */
static inline char *domref_encode(const char *uid, const lg_verdict *v, const char *extra_warning) {
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
  resp = json_pack("{s:s, s:b}", "uid", uid, "allowed", v->allowed);
  doc = json_pack("{s:s, s:s, s:o}", "apiVersion", "admission.k8s.io/v1", "kind",
                  "AdmissionReview", "response", resp);
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

/* New string or NULL, as lg_admission_encode_error. */
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

#endif
