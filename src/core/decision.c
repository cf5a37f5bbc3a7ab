/* decision.c -- one decision as plain data, built from the webhook's or the audit's result. */
#include "decision.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "utf8.h"
#include "webhook.h"

static const char *const source_names[] = {"serve", "check", "file", "watch"};
static const char *const op_names[] = {"CREATE", "UPDATE", "DELETE", "CONNECT"};

const char *lg_decision_source_name(lg_decision_source s) {
  return (unsigned)s < sizeof source_names / sizeof *source_names ? source_names[s] : "unknown";
}

/* FNV-1a over s and its NUL (NULL as ""), continuing from h. */
static uint64_t hash_str(uint64_t h, const char *s) {
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  do
    h = (h ^ *p) * UINT64_C(1099511628211);
  while (*p++);
  return h;
}

/* The stable key of finding f of d: its fields, never its message (which holds times). */
static void make_key(const lg_decision *d, lg_decision_finding *f) {
  uint64_t h = UINT64_C(14695981039346656037);
  char ns[64], name[254];
  h = hash_str(h, d->username);
  h = hash_str(h, d->old_lease ? d->old_lease->holder : NULL);
  h = hash_str(h, d->new_lease ? d->new_lease->holder : NULL);
  /* Cut to the longest valid Kubernetes names: a longer one gets no Event anyway. */
  lg_utf8_copy(ns, sizeof ns, d->namespace ? d->namespace : "");
  lg_utf8_copy(name, sizeof name, d->name ? d->name : "");
  snprintf(f->key, sizeof f->key, "%s\n%s/%s\n%s\n%016" PRIx64, lg_rules_id(f->rule), ns, name,
           f->reason, h);
}

/* Copies the verdict's findings into d (after d's other fields are set). */
static void add_findings(lg_decision *d, const lg_verdict *v) {
  d->mode = LG_MODE_OFF;
  d->n = 0;
  for (size_t i = 0; i < v->n && i < LG_RULE_COUNT; i++) {
    const lg_finding *src = &v->findings[i];
    lg_decision_finding *f = &d->findings[d->n++];
    f->rule = src->rule;
    f->mode = src->mode;
    f->reason = src->reason ? src->reason : "";
    f->message = src->message;
    f->finding = src;
    make_key(d, f);
    if (src->mode > d->mode)
      d->mode = src->mode;
  }
}

/* metadata.<field> of a non-empty string in obj (borrowed), or NULL. */
static const char *meta(const json_t *obj, const char *field) {
  const char *v = json_string_value(json_object_get(json_object_get(obj, "metadata"), field));
  return v && *v ? v : NULL;
}

/* metadata.uid and .resourceVersion of request.object, else of request.oldObject (NULL when
 * neither has one); the tree is walked once per object (this runs on every request). */
static void object_ids(const json_t *root, const char **uid, const char **rv) {
  const json_t *rq = json_object_get(root, "request");
  const json_t *m = json_object_get(json_object_get(rq, "object"), "metadata");
  const char *v;
  *uid = (v = json_string_value(json_object_get(m, "uid"))) && *v ? v : NULL;
  *rv = (v = json_string_value(json_object_get(m, "resourceVersion"))) && *v ? v : NULL;
  if (*uid && *rv)
    return;
  m = json_object_get(json_object_get(rq, "oldObject"), "metadata");
  if (!*uid)
    *uid = (v = json_string_value(json_object_get(m, "uid"))) && *v ? v : NULL;
  if (!*rv)
    *rv = (v = json_string_value(json_object_get(m, "resourceVersion"))) && *v ? v : NULL;
}

void lg_decision_from_webhook(const lg_webhook_result *res, lg_decision_source source, lg_time now,
                              lg_decision *d) {
  const lg_review *r = &res->review;
  /* The findings are filled as they come: clearing all of them would cost every request. */
  memset(d, 0, offsetof(lg_decision, findings));
  d->source = source;
  d->when = now;
  d->usable = res->rc == LG_OK;
  d->http_status = res->http_status;
  d->response = res->body;
  d->operation = r->operation;
  d->namespace = r->namespace;
  d->name = r->name;
  d->request_uid = r->uid;
  object_ids(r->root, &d->object_uid, &d->resource_version);
  d->dry_run = r->dry_run;
  d->kind = r->kind;
  d->ignored = res->ignored;
  d->old_lease = r->has_old_object ? &r->old_object : NULL;
  d->new_lease = r->has_object ? &r->object : NULL;
  d->username = r->requester.username ? r->requester.username : "";
  d->pod = r->requester.pod_name;
  d->groups = r->groups;
  d->allowed = res->verdict.allowed;
  d->has_offset = res->has_offset;
  d->offset = res->offset;
  add_findings(d, &res->verdict);
}

void lg_decision_from_audit(const lg_audit_change *c, lg_decision_source source, lg_decision *d) {
  const json_t *obj = c->new_object ? c->new_object : c->old_object;
  memset(d, 0, offsetof(lg_decision, findings));
  d->source = source;
  d->when = c->when;
  d->usable = true;
  d->operation = (unsigned)c->op < 4 ? op_names[c->op] : "UNKNOWN";
  d->namespace = c->namespace;
  d->name = c->name;
  d->object_uid = meta(obj, "uid");
  d->resource_version = c->resource_version;
  d->old_resource_version = c->old_resource_version[0] ? c->old_resource_version : NULL;
  d->old_lease = c->has_old ? &c->old_lease : NULL;
  d->new_lease = c->has_new ? &c->new_lease : NULL;
  d->username = "";
  d->allowed = c->verdict.allowed;
  add_findings(d, &c->verdict);
}

void lg_decision_emit(const lg_decision *d, const lg_sink *sinks, size_t n) {
  for (size_t i = 0; d && sinks && i < n; i++)
    if (sinks[i].emit)
      sinks[i].emit(sinks[i].ctx, d);
}
