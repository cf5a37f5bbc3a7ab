/* leases.c -- coordination.k8s.io/v1 leases: the order of kube-apiserver's generic registry
 * (decode, preconditions, validation, validating admission, storage) for each verb. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admit.h"
#include "apiserver.h"
#include "listwatch.h"
#include "meta.h"
#include "status.h"
#include "validate.h"

/* GuaranteedUpdate runs the update again when the object changed under it. */
#define MAX_ATTEMPTS 8
#define OPTIMISTIC_LOCK_MSG \
  "the object has been modified; please apply your changes to the latest version and try again"

static const as_resource meta_options = {"meta.k8s.io", "v1", "", "", "", "meta.k8s.io/v1"};

static const char *q(const as_request *rq, const char *key) {
  return rq->query(rq->query_cls, key);
}

static void reply_status(as_reply *out, json_t *st) {
  json_int_t code = json_integer_value(json_object_get(st, "code"));
  as_reply_set(out, st ? (unsigned)(code ? code : 500) : 500,
               st ? st : as_status_internal("out of memory"));
}

/* ?dryRun: absent or "All". Other values are refused like ValidateCreateOptions does. */
static json_t *parse_dry_run(const as_request *rq, const char *options_kind, bool *dry) {
  const char *v = q(rq, "dryRun");
  as_field_errors errs;
  char value[160];

  *dry = v && !strcmp(v, "All");
  if (!v || *dry)
    return NULL;
  errs.n = 0;
  snprintf(value, sizeof value, "[]string{\"%.100s\"}", v);
  as_ferr_not_supported(&errs, "dryRun", value, "\"All\"");
  return as_status_invalid(&meta_options, options_kind, "", &errs);
}

/* The operation options admission sees: kind, dryRun and fieldManager. */
static json_t *options(const as_request *rq, const char *kind, bool dry) {
  json_t *o = json_pack("{s:s, s:s}", "kind", kind, "apiVersion", "meta.k8s.io/v1");
  const char *fm = q(rq, "fieldManager");
  if (o && dry)
    json_object_set_new(o, "dryRun", json_pack("[s]", "All"));
  if (o && fm && fm[0])
    json_object_set_new(o, "fieldManager", json_string(fm));
  return o;
}

/* rest.FillObjectMetaSystemFields and the create half of BeforeCreate. */
static void prepare_create(json_t *obj) {
  char uid[AS_UID_LEN], ts[32], name[128];
  const char *gen = as_meta_str(obj, "generateName"), *n = as_meta_str(obj, "name");

  as_new_uid(uid);
  as_timestamp_now(ts, sizeof ts);
  as_meta_set(obj, "uid", uid);
  as_meta_set(obj, "creationTimestamp", ts);
  as_meta_set(obj, "deletionTimestamp", NULL);
  as_meta_set(obj, "deletionGracePeriodSeconds", NULL);
  if ((!n || !n[0]) && gen && gen[0]) {
    as_generate_name(gen, name, sizeof name);
    as_meta_set(obj, "name", name);
  }
}

static json_t *admit(const as_ctx *ctx, const as_request *rq, const char *op, const char *name,
                     const json_t *obj, const json_t *old, bool dry, const char *opt_kind,
                     as_reply *out) {
  json_t *opts = options(rq, opt_kind, dry), *st;
  as_admission a = {op, &as_res_leases, rq->ns, name, obj, old, dry, opts, rq->user};
  st = as_admit(ctx, &ctx->cfg->webhook, &a, out);
  json_decref(opts);
  return st;
}

/* Decodes the body as a Lease for namespace ns; returns NULL with *st set on failure. */
static json_t *decode(const as_request *rq, json_t **st) {
  json_t *obj = as_decode_body(&as_res_leases, rq->body, rq->len, st);
  if (obj && (*st = as_lease_decode_check(obj))) {
    json_decref(obj);
    obj = NULL;
  }
  return obj;
}

static void create(const as_ctx *ctx, const as_request *rq, as_reply *out) {
  json_t *obj = NULL, *st = NULL;
  const char *ns, *name, *rv;
  uint64_t new_rv;
  bool dry;

  if ((st = parse_dry_run(rq, "CreateOptions", &dry)) || !(obj = decode(rq, &st)))
    goto out;
  ns = as_meta_str(obj, "namespace");
  if (ns && ns[0] && strcmp(ns, rq->ns) != 0) {
    st = as_status_bad_request("the namespace of the provided object does not match the "
                               "namespace sent on the request");
    goto out;
  }
  as_meta_set(obj, "namespace", rq->ns);
  prepare_create(obj);
  if ((st = as_lease_validate(obj)))
    goto out;
  name = as_meta_str(obj, "name");
  if ((st = admit(ctx, rq, "CREATE", name, obj, NULL, dry, "CreateOptions", out)))
    goto out;
  /* etcd3's Create refuses a version, with an error that is no Status: a 500 Unknown. */
  rv = as_meta_str(obj, "resourceVersion");
  if (rv && rv[0] && strcmp(rv, "0") != 0) {
    st = as_status(500, "Unknown", "resourceVersion should not be set on objects to be created",
                   NULL);
    goto out;
  }
  as_meta_set(obj, "resourceVersion", NULL);
  if (dry) {
    json_t *cur = as_store_get(ctx->store, AS_KIND_LEASE, rq->ns, name, NULL);
    if (cur)
      st = as_status_already_exists(&as_res_leases, name);
    json_decref(cur);
  } else {
    as_commit c = as_store_commit(ctx->store, AS_KIND_LEASE, rq->ns, name, 0, obj, &new_rv);
    if (c == AS_COMMIT_CHANGED)
      st = as_status_already_exists(&as_res_leases, name);
    else if (c != AS_COMMIT_OK)
      st = as_status_internal("out of memory");
  }
  if (st)
    goto out;
  as_reply_set(out, 201, obj);
  obj = NULL;
out:
  if (st)
    reply_status(out, st);
  json_decref(obj);
}

/* checkName of the update handler: the body names the URL's object. */
static json_t *check_name(const as_request *rq, const json_t *obj) {
  const char *name = as_meta_str(obj, "name"), *ns = as_meta_str(obj, "namespace");
  if (!name || strcmp(name, rq->name) != 0)
    return as_status_bad_request("the name of the object does not match the name on the URL");
  if (ns && ns[0] && strcmp(ns, rq->ns) != 0)
    return as_status_bad_request("the namespace of the object does not match the namespace "
                                 "on the request");
  return NULL;
}

/* A storage precondition failure: a Conflict naming both values. */
static json_t *precondition_failed(const char *name, const char *what, const char *want,
                                   const char *got) {
  char why[512];
  snprintf(why, sizeof why,
           "Precondition failed: %s in precondition: %.150s, %s in object meta: "
           "%.150s",
           what, want, what, got);
  return as_status_conflict(&as_res_leases, name, why);
}

/* The resourceVersion check of Store.Update (leases allow no unconditional update). */
static json_t *check_version(const char *name, const char *rv, uint64_t current) {
  as_field_errors errs;
  char *end, value[160], detail[256];
  uint64_t v;

  errs.n = 0;
  if (!rv || !rv[0]) {
    as_ferr_invalid(&errs, "metadata.resourceVersion", "0x0", "must be specified for an update");
    return as_status_invalid(&as_res_leases, "leases", name, &errs);
  }
  v = strtoull(rv, &end, 10);
  if (*end || rv[0] == '-' || rv[0] == '+') {
    as_go_quote(rv, value, sizeof value);
    snprintf(detail, sizeof detail, "strconv.ParseUint: parsing %s: invalid syntax", value);
    as_ferr_invalid(&errs, "resourceVersion", value, detail);
    return as_status_invalid(&as_res_leases, "leases", name, &errs);
  }
  if (v != current)
    return as_status_conflict(&as_res_leases, name, OPTIMISTIC_LOCK_MSG);
  return NULL;
}

/* One attempt of an update; returns 1 to retry, else 0 with out filled. */
static int update_once(const as_ctx *ctx, const as_request *rq, const json_t *body, bool dry,
                       as_reply *out) {
  uint64_t cur_rv = 0, new_rv;
  json_t *cur = as_store_get(ctx->store, AS_KIND_LEASE, rq->ns, rq->name, &cur_rv);
  json_t *obj = json_deep_copy(body), *st = NULL;
  const char *want_uid = as_meta_str(body, "uid"), *cur_uid = cur ? as_meta_str(cur, "uid") : "";
  bool creating = cur == NULL;
  int retry = 0;

  if (!obj) {
    st = as_status_internal("out of memory");
    goto out;
  }
  if (want_uid && want_uid[0] && strcmp(want_uid, cur_uid ? cur_uid : "") != 0) {
    st = precondition_failed(rq->name, "UID", want_uid, cur_uid ? cur_uid : "");
    goto out;
  }
  if (creating) {
    /* Leases allow create on update; the client's version is ignored then. */
    prepare_create(obj);
    as_meta_set(obj, "resourceVersion", NULL);
  } else {
    if ((st = check_version(rq->name, as_meta_str(obj, "resourceVersion"), cur_rv)))
      goto out;
    /* BeforeUpdate: creationTimestamp and (when missing) uid come from the stored object. */
    if (as_meta_str(cur, "creationTimestamp"))
      as_meta_set(obj, "creationTimestamp", as_meta_str(cur, "creationTimestamp"));
    as_meta_set(obj, "uid", cur_uid);
  }
  if ((st = as_lease_validate(obj)))
    goto out;
  st = admit(ctx, rq, creating ? "CREATE" : "UPDATE", rq->name, obj, cur, dry,
             creating ? "CreateOptions" : "UpdateOptions", out);
  if (st || dry)
    goto out;
  switch (as_store_commit(ctx->store, AS_KIND_LEASE, rq->ns, rq->name, cur_rv, obj, &new_rv)) {
  case AS_COMMIT_OK:
    break;
  case AS_COMMIT_CHANGED:
    retry = 1;
    goto out;
  default:
    st = as_status_internal("out of memory");
    goto out;
  }
out:
  if (st)
    reply_status(out, st);
  else if (!retry)
    as_reply_set(out, creating ? 201 : 200, json_incref(obj));
  json_decref(obj);
  json_decref(cur);
  return retry;
}

static void update(const as_ctx *ctx, const as_request *rq, as_reply *out) {
  json_t *body = NULL, *st = NULL;
  bool dry;

  if ((st = parse_dry_run(rq, "UpdateOptions", &dry)) || !(body = decode(rq, &st)) ||
      (st = check_name(rq, body)))
    goto out;
  as_meta_set(body, "namespace", rq->ns);
  for (int i = 0; i < MAX_ATTEMPTS; i++)
    if (!update_once(ctx, rq, body, dry, out))
      goto out;
  st = as_status_conflict(&as_res_leases, rq->name, OPTIMISTIC_LOCK_MSG);
out:
  if (st)
    reply_status(out, st);
  json_decref(body);
}

/* DeleteOptions from the body (optional): returns NULL with *st set on bad input. */
static json_t *delete_options(const as_request *rq, bool dry, json_t **st) {
  json_t *o = NULL;
  const char *pp = q(rq, "propagationPolicy");
  json_error_t je;
  char msg[300];

  *st = NULL;
  if (rq->len) {
    o = json_loadb(rq->body, rq->len, 0, &je);
    if (!json_is_object(o)) {
      snprintf(msg, sizeof msg, "the body of the request was in an unknown format: %s",
               o ? "not a JSON object" : je.text);
      json_decref(o);
      *st = as_status_bad_request(msg);
      return NULL;
    }
  } else {
    o = json_object();
  }
  json_object_set_new(o, "kind", json_string("DeleteOptions"));
  json_object_set_new(o, "apiVersion", json_string("meta.k8s.io/v1"));
  if (dry)
    json_object_set_new(o, "dryRun", json_pack("[s]", "All"));
  if (pp && pp[0])
    json_object_set_new(o, "propagationPolicy", json_string(pp));
  return o;
}

static json_t *check_delete_preconditions(const char *name, const json_t *opts, const json_t *cur,
                                          uint64_t rv) {
  const json_t *pre = json_object_get(opts, "preconditions");
  const char *uid = json_string_value(json_object_get(pre, "uid"));
  const char *want_rv = json_string_value(json_object_get(pre, "resourceVersion"));
  const char *cur_uid = as_meta_str(cur, "uid");
  char cur_rv[24];

  snprintf(cur_rv, sizeof cur_rv, "%" PRIu64, rv);
  if (uid && strcmp(uid, cur_uid ? cur_uid : "") != 0)
    return precondition_failed(name, "UID", uid, cur_uid ? cur_uid : "");
  if (want_rv && strcmp(want_rv, cur_rv) != 0)
    return precondition_failed(name, "ResourceVersion", want_rv, cur_rv);
  return NULL;
}

/* finalizeDelete: a Success Status naming the object (kind = the resource, as upstream). */
static json_t *deleted_status(const char *name, const json_t *cur) {
  json_t *details = as_details(&as_res_leases, name);
  const char *uid = as_meta_str(cur, "uid");
  if (details && uid)
    json_object_set_new(details, "uid", json_string(uid));
  return json_pack("{s:s, s:s, s:{}, s:s, s:o}", "kind", "Status", "apiVersion", "v1", "metadata",
                   "status", "Success", "details", details);
}

static void delete_lease(const as_ctx *ctx, const as_request *rq, as_reply *out) {
  json_t *opts = NULL, *cur = NULL, *st = NULL;
  uint64_t rv, new_rv;
  bool dry;

  if ((st = parse_dry_run(rq, "DeleteOptions", &dry)) || !(opts = delete_options(rq, dry, &st)))
    goto out;
  for (int i = 0; i < MAX_ATTEMPTS; i++) {
    as_admission a = {"DELETE", &as_res_leases, rq->ns, rq->name, NULL, NULL, dry, opts, rq->user};
    json_decref(cur);
    if (!(cur = as_store_get(ctx->store, AS_KIND_LEASE, rq->ns, rq->name, &rv))) {
      st = as_status_not_found(&as_res_leases, rq->name);
      goto out;
    }
    a.old_object = cur;
    if ((st = check_delete_preconditions(rq->name, opts, cur, rv)) ||
        (st = as_admit(ctx, &ctx->cfg->webhook, &a, out)))
      goto out;
    if (dry || as_store_commit(ctx->store, AS_KIND_LEASE, rq->ns, rq->name, rv, NULL, &new_rv) ==
                   AS_COMMIT_OK) {
      as_reply_set(out, 200, deleted_status(rq->name, cur));
      goto out;
    }
  }
  st = as_status_conflict(&as_res_leases, rq->name, OPTIMISTIC_LOCK_MSG);
out:
  if (st)
    reply_status(out, st);
  json_decref(cur);
  json_decref(opts);
}

static void get(const as_ctx *ctx, const as_request *rq, as_reply *out) {
  json_t *cur = as_store_get(ctx->store, AS_KIND_LEASE, rq->ns, rq->name, NULL);
  if (cur)
    as_reply_set(out, 200, cur);
  else
    reply_status(out, as_status_not_found(&as_res_leases, rq->name));
}

void as_leases_handle(const as_ctx *ctx, const as_request *rq, as_reply *out) {
  const char *m = rq->method;
  if (!rq->name && !strcmp(m, "GET"))
    as_list_watch(ctx, rq, &as_res_leases, AS_KIND_LEASE, out);
  else if (!rq->name && rq->ns && !strcmp(m, "POST"))
    create(ctx, rq, out);
  else if (rq->name && !strcmp(m, "GET"))
    get(ctx, rq, out);
  else if (rq->name && !strcmp(m, "PUT"))
    update(ctx, rq, out);
  else if (rq->name && !strcmp(m, "DELETE"))
    delete_lease(ctx, rq, out);
  else
    reply_status(out, as_status(405, "MethodNotAllowed",
                                "the server does not allow this method on the requested resource",
                                json_object()));
}
