/* status.c -- Status bodies and field errors with kube-apiserver's wording. */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const as_resource as_res_leases = {"coordination.k8s.io",   "v1", "leases", "Lease", "LeaseList",
                                   "coordination.k8s.io/v1"};
const as_resource as_res_events = {"", "v1", "events", "Event", "EventList", "v1"};
const as_resource as_res_secrets = {"", "v1", "secrets", "Secret", "SecretList", "v1"};
const as_resource as_res_configmaps = {"", "v1", "configmaps", "ConfigMap", "ConfigMapList", "v1"};
const as_resource as_res_policyreports = {"wgpolicyk8s.io",   "v1alpha2",
                                          "policyreports",    "PolicyReport",
                                          "PolicyReportList", "wgpolicyk8s.io/v1alpha2"};
const as_resource as_res_vwcs = {
    "admissionregistration.k8s.io",       "v1",
    "validatingwebhookconfigurations",    "ValidatingWebhookConfiguration",
    "ValidatingWebhookConfigurationList", "admissionregistration.k8s.io/v1"};

static as_field_error *add(as_field_errors *l, const char *type, const char *field) {
  as_field_error *e;
  if (l->n == AS_MAX_FIELD_ERRORS)
    return NULL;
  e = &l->e[l->n++];
  e->type = type;
  snprintf(e->field, sizeof e->field, "%s", field);
  return e;
}

void as_ferr_invalid(as_field_errors *l, const char *field, const char *value, const char *detail) {
  as_field_error *e = add(l, "FieldValueInvalid", field);
  if (e)
    snprintf(e->body, sizeof e->body, "Invalid value: %s: %s", value, detail);
}

/* field.Required and field.Forbidden print no value, and the detail only when given. */
void as_ferr_required(as_field_errors *l, const char *field, const char *detail) {
  as_field_error *e = add(l, "FieldValueRequired", field);
  if (e)
    snprintf(e->body, sizeof e->body, "Required value%s%s", detail[0] ? ": " : "", detail);
}

void as_ferr_forbidden(as_field_errors *l, const char *field, const char *detail) {
  as_field_error *e = add(l, "FieldValueForbidden", field);
  if (e)
    snprintf(e->body, sizeof e->body, "Forbidden%s%s", detail[0] ? ": " : "", detail);
}

void as_ferr_not_supported(as_field_errors *l, const char *field, const char *value,
                           const char *supported) {
  as_field_error *e = add(l, "FieldValueNotSupported", field);
  if (e)
    snprintf(e->body, sizeof e->body, "Unsupported value: %s: supported values: %s", value,
             supported);
}

void as_go_quote(const char *s, char *buf, size_t len) {
  size_t o = 0;
  if (len < 3) {
    if (len)
      buf[0] = '\0';
    return;
  }
  buf[o++] = '"';
  for (; *s && o + 6 < len; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      buf[o++] = '\\';
      buf[o++] = (char)c;
    } else if (c == '\n') {
      buf[o++] = '\\';
      buf[o++] = 'n';
    } else if (c < 0x20 || c == 0x7f) {
      o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
    } else {
      buf[o++] = (char)c;
    }
  }
  buf[o++] = '"';
  buf[o] = '\0';
}

json_t *as_status(int code, const char *reason, const char *message, json_t *details) {
  json_t *st = json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:i}", "kind", "Status", "apiVersion",
                         "v1", "metadata", "status", "Failure", "message", message, "reason",
                         reason, "code", code);
  if (st && details)
    json_object_set(st, "details", details);
  json_decref(details);
  return st;
}

json_t *as_details(const as_resource *r, const char *name) {
  json_t *d = json_pack("{s:s}", "name", name);
  if (d && r->group[0])
    json_object_set_new(d, "group", json_string(r->group));
  if (d)
    json_object_set_new(d, "kind", json_string(r->resource));
  return d;
}

/* "leases.coordination.k8s.io" or "events". */
static void group_resource(const as_resource *r, char *buf, size_t len) {
  if (r->group[0])
    snprintf(buf, len, "%s.%s", r->resource, r->group);
  else
    snprintf(buf, len, "%s", r->resource);
}

json_t *as_status_not_found(const as_resource *r, const char *name) {
  char gr[96], msg[512];
  group_resource(r, gr, sizeof gr);
  snprintf(msg, sizeof msg, "%s \"%s\" not found", gr, name);
  return as_status(404, "NotFound", msg, as_details(r, name));
}

json_t *as_status_already_exists(const as_resource *r, const char *name) {
  char gr[96], msg[512];
  group_resource(r, gr, sizeof gr);
  snprintf(msg, sizeof msg, "%s \"%s\" already exists", gr, name);
  return as_status(409, "AlreadyExists", msg, as_details(r, name));
}

json_t *as_status_conflict(const as_resource *r, const char *name, const char *why) {
  char gr[96], msg[1024];
  group_resource(r, gr, sizeof gr);
  snprintf(msg, sizeof msg, "Operation cannot be fulfilled on %s \"%s\": %s", gr, name, why);
  return as_status(409, "Conflict", msg, as_details(r, name));
}

/* Appends to buf (size len) at *o, never past the end. */
__attribute__((format(printf, 4, 5))) static void appendf(char *buf, size_t len, size_t *o,
                                                          const char *fmt, ...) {
  va_list ap;
  int n;
  if (*o + 1 >= len)
    return;
  va_start(ap, fmt);
  n = vsnprintf(buf + *o, len - *o, fmt, ap);
  va_end(ap);
  if (n > 0)
    *o = *o + (size_t)n < len ? *o + (size_t)n : len - 1;
}

json_t *as_status_invalid(const as_resource *r, const char *kind, const char *name,
                          const as_field_errors *errs) {
  char msg[4096];
  size_t o = 0;
  json_t *causes = json_array(), *details;

  /* schema.GroupKind.String(): "Kind.group", or "Kind" in the core group. */
  appendf(msg, sizeof msg, &o, "%s%s%s \"%s\" is invalid", kind, r->group[0] ? "." : "", r->group,
          name);
  /* field.ErrorList.ToAggregate(): one error alone, several as [a, b]. */
  if (errs->n)
    appendf(msg, sizeof msg, &o, ": %s", errs->n > 1 ? "[" : "");
  for (size_t i = 0; i < errs->n; i++) {
    const as_field_error *e = &errs->e[i];
    appendf(msg, sizeof msg, &o, "%s%s: %s", i ? ", " : "", e->field, e->body);
    json_array_append_new(causes, json_pack("{s:s, s:s, s:s}", "reason", e->type, "message",
                                            e->body, "field", e->field));
  }
  if (errs->n > 1)
    appendf(msg, sizeof msg, &o, "]");
  details = json_pack("{s:s, s:s, s:o}", "name", name, "kind", kind, "causes", causes);
  if (details && r->group[0])
    json_object_set_new(details, "group", json_string(r->group));
  return as_status(422, "Invalid", msg, details);
}

json_t *as_status_bad_request(const char *message) {
  return as_status(400, "BadRequest", message, NULL);
}

json_t *as_status_internal(const char *message) {
  char msg[2048];
  snprintf(msg, sizeof msg, "Internal error occurred: %s", message);
  return as_status(500, "InternalError", msg,
                   json_pack("{s:[{s:s}]}", "causes", "message", message));
}
