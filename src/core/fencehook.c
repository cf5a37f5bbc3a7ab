/* fencehook.c -- the fence's request path: decode the AdmissionReview of a fenced object,
 * find the lease its token names (cache, then the lookup callback), judge, encode. */
#include "fencehook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "witness.h"

/* The string value of metadata.<map>.<key> of obj, or NULL. */
static const char *meta_string(const json_t *obj, const char *map, const char *key) {
  json_t *m = json_object_get(json_object_get(obj, "metadata"), map);
  return lg_utf8_json_text(json_object_get(m, key));
}

static bool fenced(const json_t *obj) {
  const char *v = meta_string(obj, "labels", LG_FENCE_LABEL);
  return v && strcmp(v, "true") == 0;
}

/* What is known of lease ns/name, for the decision: the cache first, then the callback. */
static void lease_state(const lg_webhook_env *env, const lg_fencehook_env *fenv,
                        const lg_fence_token *tok, lg_fence_lease *out, lg_leasecache_entry *keep) {
  lg_leasecache_hit hit =
      lg_leasecache_get(fenv->cache, tok->namespace, tok->name, env->mono, keep, NULL);
  lg_rule_config cfg;
  lg_evidence ev;
  lg_lease l;

  if (hit == LG_LEASECACHE_MISS && fenv->get)
    hit = fenv->get(fenv->get_ctx, tok->namespace, tok->name, keep);
  memset(out, 0, sizeof *out);
  if (hit == LG_LEASECACHE_MISS)
    return; /* UNKNOWN */
  if (hit == LG_LEASECACHE_ABSENT) {
    out->state = LG_FENCE_LEASE_ABSENT;
    return;
  }
  out->state = LG_FENCE_LEASE_PRESENT;
  out->holder = keep->holder;
  out->transitions = keep->transitions;
  /* The same liveness model as holder-renew: by when this replica saw the record. */
  lg_leasecache_as_lease(keep, tok->namespace, tok->name, &l);
  lg_policy_resolve(env->policy, env->mode_override, tok->namespace, tok->name, "", &cfg);
  lg_witness_evidence(env->witness, tok->namespace, tok->name, &l, NULL, "", env->mono, &ev);
  out->live = lg_lease_held(&l) && lg_rules_live(&l, &ev, &cfg, env->now, &out->expiry);
}

lg_rc lg_fencehook_handle(const char *body, size_t len, const lg_webhook_env *env,
                          const lg_fencehook_env *fenv, lg_webhook_result *out) {
  lg_review *r = &out->review;
  const json_t *req, *obj, *old;
  const char *token = NULL, *old_token = NULL;
  lg_fence_input in;
  lg_fence_target t;
  lg_fence_lease lease = {0};
  lg_leasecache_entry keep = {0};
  lg_fence_verdict v;
  bool is_fenced;

  if (!lg_webhook_begin(body, len, out))
    goto out;
  req = json_object_get(r->root, "request");
  obj = json_object_get(req, "object");
  old = json_object_get(req, "oldObject");
  /* Fenced when either version says so: removing the label is a write like any other. */
  lg_admission_enter(r); /* meta_string may rewrite a string of the tree */
  is_fenced = fenced(obj) || fenced(old);
  if (is_fenced) {
    token = meta_string(r->op == LG_OP_DELETE ? old : obj, "annotations", LG_FENCE_ANNOTATION);
    old_token = r->op == LG_OP_UPDATE ? meta_string(old, "annotations", LG_FENCE_ANNOTATION) : NULL;
  }
  lg_admission_leave(r);
  if (!is_fenced) {
    out->verdict.skipped = "not a fenced object";
    out->body = lg_admission_encode_n(r->uid, r->uid_len, &out->verdict, NULL);
    goto out;
  }
  in = (lg_fence_input){.op = r->op,
                        .kind = r->kind,
                        .namespace = r->namespace,
                        .name = r->name,
                        .token = token,
                        .token_len = token ? strlen(token) : 0,
                        .old_token = old_token,
                        .old_token_len = old_token ? strlen(old_token) : 0,
                        .unknown_allows = fenv->unknown_allows};
  lg_fence_target_of(&in, &t);
  /* The policy picks the mode by the object's namespace and the lease's name. */
  lg_policy_resolve(env->policy, env->mode_override, r->namespace, t.ok ? t.token.name : r->name,
                    r->requester.username, &out->config);
  if (out->config.exempt_reason) {
    out->verdict.skipped = out->config.exempt_reason;
    out->body = lg_admission_encode_n(r->uid, r->uid_len, &out->verdict, NULL);
    goto out;
  }
  in.mode = out->config.mode[LG_RULE_FENCING];
  if (t.ok && in.mode != LG_MODE_OFF)
    lease_state(env, fenv, &t.token, &lease, &keep);
  in.lease = &lease;
  lg_fence_decide(&in, &t, env->now, &v);
  if (v.violation) {
    lg_finding *f = &out->verdict.findings[out->verdict.n++];
    f->rule = LG_RULE_FENCING;
    f->mode = v.mode;
    f->reason = v.reason;
    memcpy(f->message, v.message, sizeof f->message);
    memcpy(f->warning, v.warning, sizeof f->warning);
  }
  out->verdict.allowed = v.allowed;
  out->body = lg_admission_encode_n(r->uid, r->uid_len, &out->verdict, NULL);
out:
  lg_leasecache_entry_clear(&keep);
  if (!out->body) {
    out->rc = LG_ENOMEM;
    out->http_status = 500;
    snprintf(out->error, sizeof out->error, "out of memory");
  }
  return out->rc;
}

void lg_fencehook_note_admitted(lg_leasecache *cache, const lg_webhook_result *res, int64_t mono) {
  const lg_review *r = &res->review;
  if (!cache || res->rc != LG_OK || !r->is_lease || r->dry_run || !res->verdict.allowed)
    return;
  if (r->op == LG_OP_DELETE)
    lg_leasecache_delete(cache, r->namespace, r->name, mono);
  else if (r->has_object && (r->op == LG_OP_CREATE || r->op == LG_OP_UPDATE))
    lg_leasecache_admitted(cache, r->namespace, r->name, &r->object, mono);
}
