/* admission.c -- AdmissionReview v1 with jansson: decode the request, encode the response. */
#include "admission.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "utf8.h"

#define POD_NAME_KEY "authentication.kubernetes.io/pod-name"

/* A string field (borrowed; NUL characters escaped in place), or NULL. */
static const char *str(const json_t *o, const char *key) {
  return lg_utf8_json_text(json_object_get(o, key));
}

/* Checks that o.key is absent or of the wanted type (names the field on failure). */
static lg_rc typed(const json_t *o, const char *key, int type, const char *what, char *err,
                   size_t errlen) {
  const json_t *v = json_object_get(o, key);
  if (!v || json_is_null(v) || (int)json_typeof(v) == type)
    return LG_OK;
  return lg_fail(err, errlen, LG_EREVIEW, "request.%s must be %s", key, what);
}

static lg_rc decode_user(const json_t *req, lg_review *r, char *err, size_t errlen) {
  const json_t *u = json_object_get(req, "userInfo"), *extra, *pods;
  lg_rc rc;
  r->requester.username = "";
  if (!u || json_is_null(u))
    return LG_OK;
  if (!json_is_object(u))
    return lg_fail(err, errlen, LG_EREVIEW, "request.userInfo must be an object");
  if ((rc = typed(u, "username", JSON_STRING, "a string", err, errlen)) ||
      (rc = typed(u, "groups", JSON_ARRAY, "an array", err, errlen)) ||
      (rc = typed(u, "extra", JSON_OBJECT, "an object", err, errlen)))
    return lg_fail(err, errlen, rc,
                   "request.userInfo: username must be a string, groups an "
                   "array and extra an object");
  if (str(u, "username"))
    r->requester.username = str(u, "username");
  r->groups = json_is_array(json_object_get(u, "groups")) ? json_object_get(u, "groups") : NULL;
  extra = json_object_get(u, "extra");
  pods = extra ? json_object_get(extra, POD_NAME_KEY) : NULL;
  if (json_is_array(pods))
    r->requester.pod_name = lg_utf8_json_text(json_array_get(pods, 0));
  return LG_OK;
}

static lg_rc decode_object(const json_t *req, const char *key, bool *has, lg_lease *l, char *err,
                           size_t errlen) {
  const json_t *o = json_object_get(req, key);
  char detail[200];
  lg_rc rc;
  *has = false;
  if (!o || json_is_null(o))
    return LG_OK;
  if ((rc = lg_lease_decode(o, l, detail, sizeof detail)))
    return lg_fail(err, errlen, rc, "request.%s: %s", key, detail);
  *has = true;
  return LG_OK;
}

static lg_rc decode_request(const json_t *req, lg_review *r, char *err, size_t errlen) {
  const json_t *kind = json_object_get(req, "kind"), *dry;
  int op;
  lg_rc rc;

  if ((rc = typed(req, "name", JSON_STRING, "a string", err, errlen)) ||
      (rc = typed(req, "namespace", JSON_STRING, "a string", err, errlen)))
    return rc;
  if (!json_is_object(kind) || !str(kind, "kind") || !str(kind, "version") ||
      !json_is_string(json_object_get(kind, "group")))
    return lg_fail(err, errlen, LG_EREVIEW,
                   "request.kind must be an object with group, version and kind");
  r->group = str(kind, "group");
  r->version = str(kind, "version");
  r->kind = str(kind, "kind");
  r->namespace = str(req, "namespace") ? str(req, "namespace") : "";
  r->name = str(req, "name") ? str(req, "name") : "";
  r->operation = str(req, "operation");
  op = lg_rules_parse_operation(r->operation);
  if (op < 0)
    return lg_fail(err, errlen, LG_EREVIEW,
                   "request.operation must be CREATE, UPDATE, DELETE or CONNECT");
  r->op = (lg_operation)op;
  dry = json_object_get(req, "dryRun");
  if (dry && !json_is_null(dry) && !json_is_boolean(dry))
    return lg_fail(err, errlen, LG_EREVIEW, "request.dryRun must be a boolean");
  r->dry_run = json_is_true(dry);
  if ((rc = decode_user(req, r, err, errlen)))
    return rc;
  r->is_lease = strcmp(r->group, "coordination.k8s.io") == 0 && strcmp(r->kind, "Lease") == 0;
  if (!r->is_lease)
    return LG_OK;
  if ((rc = decode_object(req, "object", &r->has_object, &r->object, err, errlen)) ||
      (rc = decode_object(req, "oldObject", &r->has_old_object, &r->old_object, err, errlen)))
    return rc;
  /* An UPDATE must carry both versions, a CREATE the new one: else nothing can be judged. */
  if ((r->op == LG_OP_UPDATE && (!r->has_object || !r->has_old_object)) ||
      (r->op == LG_OP_CREATE && !r->has_object))
    return lg_fail(err, errlen, LG_EREVIEW, "request.%s is missing for operation %s",
                   r->has_object ? "oldObject" : "object", r->operation);
  if (!r->name[0])
    r->name = r->has_object ? r->object.name : r->has_old_object ? r->old_object.name : "";
  return LG_OK;
}

/* jansson refuses U+0000 in an object key even with JSON_ALLOW_NUL, but Go writes it and the
 * API server accepts it in any key (an annotation's, managedFields'): refusing it would turn
 * the write into a 400, which failurePolicy Ignore lets through. Such a body is read again
 * with each \u0000 inside a key written as the six characters \u0000 (what values get from
 * lg_utf8_json_text). This pass only tells keys from values; jansson checks the rest. Returns
 * a new buffer (its length in *n) or NULL on no memory. */
static char *nul_keys_escaped(const char *body, size_t len, size_t *n) {
  unsigned char objects[JSON_PARSER_MAX_DEPTH / 8 + 1] = {0}; /* a bit per level: an object */
  size_t depth = 0, j = 0;
  char *out = malloc(len + len / 6 + 1), last = 0;
  bool in_string = false, key = false;

  if (!out)
    return NULL;
  for (size_t i = 0; i < len; i++) {
    char c = body[i];
    if (in_string) {
      if (c == '\\' && i + 1 < len) {
        if (key && len - i >= 6 && memcmp(body + i, "\\u0000", 6) == 0)
          out[j++] = '\\'; /* "\\u0000": a backslash, then u0000 */
        out[j++] = c;
        out[j++] = body[++i];
        continue;
      }
      in_string = c != '"';
      last = c;
      out[j++] = c;
      continue;
    }
    out[j++] = c;
    switch (c) {
    case '"':
      in_string = true;
      key = depth > 0 && depth <= JSON_PARSER_MAX_DEPTH &&
            (objects[(depth - 1) / 8] >> ((depth - 1) % 8) & 1) && (last == '{' || last == ',');
      break;
    case '{':
    case '[':
      if (++depth <= JSON_PARSER_MAX_DEPTH) {
        unsigned char bit = (unsigned char)(1u << ((depth - 1) % 8));
        objects[(depth - 1) / 8] = (unsigned char)(c == '{' ? objects[(depth - 1) / 8] | bit
                                                            : objects[(depth - 1) / 8] & ~bit);
      }
      last = c;
      break;
    case '}':
    case ']':
      depth -= depth > 0;
      last = c;
      break;
    case ' ':
    case '\t':
    case '\n':
    case '\r':
      break;
    default:
      last = c;
    }
  }
  *n = j;
  return out;
}

lg_rc lg_admission_decode(const char *body, size_t len, lg_review *out, char *uid_out,
                          size_t uid_len, char *err, size_t errlen) {
  json_error_t jerr;
  const json_t *req;
  const char *api;
  lg_rc rc = LG_OK;

  memset(out, 0, sizeof *out);
  if (uid_out && uid_len)
    uid_out[0] = '\0';
  /* The tree and what decoding rewrites in it (strings with U+0000) go into one arena when
   * arenas are installed: one release instead of a free per node. */
  out->arena = lg_jarena_new();
  lg_jarena_enter(out->arena);
  /* Duplicate keys are refused: two readers could disagree on which one counts. */
  /* U+0000 is allowed (Go writes it as \u0000 and Kubernetes stores it): refusing it would
   * turn a write into a 400, which failurePolicy Ignore lets through. */
  out->root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
  if (!out->root && json_error_code(&jerr) == json_error_null_byte_in_key) {
    size_t n;
    char *again = nul_keys_escaped(body, len, &n);
    if (again)
      out->root = json_loadb(again, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    free(again);
  }
  if (!out->root) {
    rc = lg_fail(err, errlen, LG_EJSON, "malformed JSON: %s (line %d, column %d)", jerr.text,
                 jerr.line, jerr.column);
    goto out;
  }
  api = str(out->root, "apiVersion");
  if (!json_is_object(out->root) || !api || strcmp(api, "admission.k8s.io/v1") != 0 ||
      !str(out->root, "kind") || strcmp(str(out->root, "kind"), "AdmissionReview") != 0) {
    rc = lg_fail(err, errlen, LG_EREVIEW,
                 "not an AdmissionReview: apiVersion must be admission.k8s.io/v1 and kind "
                 "AdmissionReview");
    goto out;
  }
  req = json_object_get(out->root, "request");
  if (!json_is_object(req)) {
    rc = lg_fail(err, errlen, LG_EREVIEW, "AdmissionReview has no request object");
    goto out;
  }
  /* The uid is echoed byte for byte, so it is not escaped as str() does. */
  if (json_is_string(json_object_get(req, "uid"))) {
    out->uid = json_string_value(json_object_get(req, "uid"));
    out->uid_len = json_string_length(json_object_get(req, "uid"));
  }
  if (!out->uid || !out->uid_len) {
    rc = lg_fail(err, errlen, LG_EREVIEW, "request.uid must be a non-empty string");
    goto out;
  }
  if (uid_out && uid_len) {
    /* A uid cut to fit must not end in part of a UTF-8 sequence: the error reply is JSON. */
    size_t n = strlen(out->uid);
    if (n >= uid_len) {
      n = uid_len - 1;
      while (n > 0 && ((unsigned char)out->uid[n] & 0xC0) == 0x80)
        n--;
    }
    memcpy(uid_out, out->uid, n);
    uid_out[n] = '\0';
  }
  rc = decode_request(req, out, err, errlen);
out:
  lg_jarena_leave(out->arena);
  if (rc)
    lg_admission_free(out);
  return rc;
}

void lg_admission_free(lg_review *r) {
  if (!r)
    return;
  if (r->arena)
    lg_jarena_free(r->arena); /* the whole tree: no walk over its nodes */
  else
    json_decref(r->root);
  memset(r, 0, sizeof *r);
}

void lg_admission_enter(lg_review *r) { lg_jarena_enter(r ? r->arena : NULL); }

void lg_admission_leave(lg_review *r) { lg_jarena_leave(r ? r->arena : NULL); }

/* Appends s as a JSON string. A finding's message is cut at its buffer size by snprintf,
 * which may split a UTF-8 sequence that jansson would refuse: such a partial tail is dropped. */
static void text(lg_jsonw *w, const char *s) { lg_jsonw_string(w, s, lg_utf8_trimmed_len(s)); }

/* The enforce findings' messages joined by "; " as the characters of one string: what the
 * API server shows the client. */
static void deny_message(lg_jsonw *w, const lg_verdict *v) {
  size_t start = w->len;
  for (size_t i = 0; i < v->n; i++) {
    const lg_finding *f = &v->findings[i];
    if (f->mode != LG_MODE_ENFORCE)
      continue;
    if (w->len > start)
      LG_JSONW_LIT(w, "; ");
    lg_jsonw_chars(w, f->message, lg_utf8_trimmed_len(f->message));
  }
}

/* The response is written as text, in the order jansson gave its keys when it was built as
 * a tree: apiVersion, kind, response {uid, allowed, status, warnings, auditAnnotations}. */
char *lg_admission_encode(const char *uid, const lg_verdict *v, const char *extra_warning) {
  return uid ? lg_admission_encode_n(uid, strlen(uid), v, extra_warning) : NULL;
}

char *lg_admission_encode_n(const char *uid, size_t uid_len, const lg_verdict *v,
                            const char *extra_warning) {
  lg_jsonw w;
  size_t i, n;

  if (!uid)
    return NULL;
  lg_jsonw_init(&w);
  LG_JSONW_LIT(&w, "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
                   "\"response\":{\"uid\":");
  lg_jsonw_string(&w, uid, uid_len);
  if (v->allowed) {
    LG_JSONW_LIT(&w, ",\"allowed\":true");
  } else {
    LG_JSONW_LIT(&w, ",\"allowed\":false,\"status\":{\"code\":403,\"reason\":\"Forbidden\","
                     "\"status\":\"Failure\",\"message\":\"");
    deny_message(&w, v);
    LG_JSONW_LIT(&w, "\"}");
  }
  for (i = 0, n = 0; i <= v->n; i++) {
    const char *warning =
        i < v->n ? (v->findings[i].mode == LG_MODE_WARN ? v->findings[i].warning : NULL)
                 : extra_warning;
    if (!warning)
      continue;
    if (n++)
      LG_JSONW_LIT(&w, ",");
    else
      LG_JSONW_LIT(&w, ",\"warnings\":[");
    text(&w, warning);
  }
  if (n)
    LG_JSONW_LIT(&w, "]");
  /* Keys are rule ids: no "/", under 63 characters; the API server adds the webhook's name. */
  for (i = 0; i < v->n; i++) {
    const char *id = lg_rules_id(v->findings[i].rule);
    if (i)
      LG_JSONW_LIT(&w, ",\"");
    else
      LG_JSONW_LIT(&w, ",\"auditAnnotations\":{\"");
    lg_jsonw_raw(&w, id, strlen(id));
    LG_JSONW_LIT(&w, "\":");
    text(&w, v->findings[i].message);
  }
  if (v->n)
    LG_JSONW_LIT(&w, "}");
  LG_JSONW_LIT(&w, "}}");
  return lg_jsonw_take(&w);
}
