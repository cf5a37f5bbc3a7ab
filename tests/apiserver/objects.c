/* objects.c -- core/v1 Secrets and ConfigMaps, wgpolicyk8s.io/v1alpha2 PolicyReports and
 * admissionregistration.k8s.io/v1 ValidatingWebhookConfigurations as stored objects: GET,
 * LIST/WATCH, POST, PUT, PATCH (JSON merge patch and JSON patch), DELETE, with resourceVersion
 * preconditions, the validation their registries (or the CRD's schema) apply that our clients
 * meet, and the fence webhook for the writes of objects labelled leaseguard.io/fenced=true. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admit.h"
#include "apiserver.h"
#include "b64.h"
#include "listwatch.h"
#include "meta.h"
#include "patch.h"
#include "status.h"
#include "validate.h"

/* GuaranteedUpdate runs the update again when the object changed under it. */
#define MAX_ATTEMPTS 8
#define OPTIMISTIC_LOCK_MSG \
  "the object has been modified; please apply your changes to the latest version and try again"

typedef struct {
  const as_resource *res;
  as_kind kind;
  bool namespaced;
} kind_info;

static const kind_info secrets = {&as_res_secrets, AS_KIND_SECRET, true};
static const kind_info configmaps = {&as_res_configmaps, AS_KIND_CONFIGMAP, true};
static const kind_info policyreports = {&as_res_policyreports, AS_KIND_POLICYREPORT, true};
static const kind_info vwcs = {&as_res_vwcs, AS_KIND_VWC, false};

/* --write-delay: the time between a write's read of the store and its commit. */
static void delay(const as_ctx *ctx) {
  long ms = ctx->cfg->write_delay_ms;
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  if (ms > 0)
    nanosleep(&ts, NULL);
}

/* The fence webhook for a write (op) of object name: NULL, or the Status to answer with. */
static json_t *fence(const as_ctx *ctx, const kind_info *k, const as_request *rq, const char *op,
                     const char *name, const json_t *obj, const json_t *old, as_reply *out) {
  const char *opts_kind = !strcmp(op, "CREATE")   ? "CreateOptions"
                          : !strcmp(op, "UPDATE") ? "UpdateOptions"
                                                  : "DeleteOptions";
  json_t *opts = json_pack("{s:s, s:s}", "kind", opts_kind, "apiVersion", "meta.k8s.io/v1"), *st;
  as_admission a = {op,   k->res,  k->namespaced ? rq->ns : NULL, name, obj, old, false,
                    opts, rq->user};
  st = as_admit_fenced(ctx, &a, out);
  json_decref(opts);
  return st;
}

static void reply_status(as_reply *out, json_t *st) {
  json_int_t code = json_integer_value(json_object_get(st, "code"));
  as_reply_set(out, st ? (unsigned)(code ? code : 500) : 500,
               st ? st : as_status_internal("out of memory"));
}

/* The namespace of the stored key: "" for the cluster-scoped configurations. */
static const char *ns_of(const as_request *rq) { return rq->ns ? rq->ns : ""; }

/* Go decodes []byte fields from base64: a value that is not is a 400, as a decode error. */
static json_t *check_b64(const kind_info *k, const json_t *v, const char *field) {
  char msg[512], *bytes;
  if (!v)
    return NULL;
  bytes = json_is_string(v) ? lg_b64_decode(json_string_value(v), NULL) : NULL;
  if (bytes) {
    free(bytes);
    return NULL;
  }
  snprintf(msg, sizeof msg,
           "%s in version \"v1\" cannot be handled as a %s: %s: illegal base64 "
           "data",
           k->res->kind, k->res->kind, field);
  return as_status_bad_request(msg);
}

/* Decoding: metadata types, and the []byte fields. */
static json_t *decode(const kind_info *k, const char *body, size_t len, json_t **st) {
  json_t *obj = as_decode_body(k->res, body, len, st);
  const json_t *v;
  const char *key;
  size_t i;

  if (!obj || (*st = as_meta_decode_check(obj, k->res->kind)))
    goto bad;
  if (k->kind == AS_KIND_SECRET || k->kind == AS_KIND_CONFIGMAP) {
    const json_t *data = json_object_get(obj, "data");
    if (data && !json_is_object(data)) {
      *st = as_status_bad_request(k->kind == AS_KIND_SECRET
                                      ? "Secret in version \"v1\" cannot be handled as a Secret: "
                                        "data must be an object"
                                      : "ConfigMap in version \"v1\" cannot be handled as a "
                                        "ConfigMap: data must be an object");
      goto bad;
    }
    json_object_foreach((json_t *)data, key, v) {
      if (k->kind == AS_KIND_SECRET && (*st = check_b64(k, v, key)))
        goto bad;
      if (k->kind == AS_KIND_CONFIGMAP && !json_is_string(v)) {
        *st = as_status_bad_request("ConfigMap in version \"v1\" cannot be handled as a "
                                    "ConfigMap: json: cannot unmarshal into Go struct field "
                                    "ConfigMap.data of type string");
        goto bad;
      }
    }
  } else if (k->kind == AS_KIND_VWC) {
    json_array_foreach(json_object_get(obj, "webhooks"), i, v) {
      const json_t *ca = json_object_get(json_object_get(v, "clientConfig"), "caBundle");
      if ((*st = check_b64(k, ca, "caBundle")))
        goto bad;
    }
  }
  return obj;
bad:
  json_decref(obj);
  return NULL;
}

/* True when s is one of the NULL-terminated list. */
static bool one_of(const char *s, const char *const *list) {
  for (; s && *list; list++)
    if (!strcmp(s, *list))
      return true;
  return false;
}

/* What the PolicyReport CRD's structural schema (v1alpha2) refuses among what a writer may
 * get wrong: a result without its policy, values outside the enums, a summary count that is
 * not an integer, a timestamp without its integer seconds. */
static void validate_report(const json_t *obj, as_field_errors *errs) {
  static const char *const results[] = {"pass", "fail", "warn", "error", "skip", NULL};
  static const char *const severities[] = {"critical", "high", "low", "medium", "info", NULL};
  static const char *const counts[] = {"pass", "fail", "warn", "error", "skip", NULL};
  const json_t *summary = json_object_get(obj, "summary"), *r;
  char field[96], q[300];
  size_t i;

  for (const char *const *c = counts; *c; c++) {
    const json_t *n = json_object_get(summary, *c);
    snprintf(field, sizeof field, "summary.%s", *c);
    if (n && !json_is_integer(n))
      as_ferr_invalid(errs, field, "\"\"", "must be of type integer");
  }
  json_array_foreach(json_object_get(obj, "results"), i, r) {
    const char *res = json_string_value(json_object_get(r, "result"));
    const char *sev = json_string_value(json_object_get(r, "severity"));
    const json_t *ts = json_object_get(r, "timestamp");
    snprintf(field, sizeof field, "results[%zu].policy", i);
    if (!json_is_string(json_object_get(r, "policy")))
      as_ferr_required(errs, field, "");
    snprintf(field, sizeof field, "results[%zu].result", i);
    if (json_object_get(r, "result") && !one_of(res, results)) {
      as_go_quote(res ? res : "", q, sizeof q);
      as_ferr_not_supported(errs, field, q, "\"pass\", \"fail\", \"warn\", \"error\", \"skip\"");
    }
    snprintf(field, sizeof field, "results[%zu].severity", i);
    if (json_object_get(r, "severity") && !one_of(sev, severities)) {
      as_go_quote(sev ? sev : "", q, sizeof q);
      as_ferr_not_supported(errs, field, q,
                            "\"critical\", \"high\", \"low\", \"medium\", \"info\"");
    }
    snprintf(field, sizeof field, "results[%zu].timestamp.seconds", i);
    if (ts && !json_is_integer(json_object_get(ts, "seconds")))
      as_ferr_required(errs, field, "");
  }
}

/* The registry's validation that matters here; old is the stored object on an update. */
static json_t *validate(const kind_info *k, const json_t *obj, const json_t *old) {
  as_field_errors errs;
  const char *name = as_meta_str(obj, "name");
  const json_t *v;
  size_t i;
  char field[64], q[300];

  errs.n = 0;
  as_validate_name(name, &errs);
  if (k->kind == AS_KIND_SECRET) {
    const char *type = json_string_value(json_object_get(obj, "type"));
    const char *old_type = old ? json_string_value(json_object_get(old, "type")) : NULL;
    const json_t *data = json_object_get(obj, "data");
    if (type && !strcmp(type, "kubernetes.io/tls")) {
      if (!json_object_get(data, "tls.crt"))
        as_ferr_required(&errs, "data[tls.crt]", "");
      if (!json_object_get(data, "tls.key"))
        as_ferr_required(&errs, "data[tls.key]", "");
    }
    if (old && strcmp(type ? type : "Opaque", old_type ? old_type : "Opaque") != 0) {
      as_go_quote(type ? type : "", q, sizeof q);
      as_ferr_invalid(&errs, "type", q, "field is immutable");
    }
  } else if (k->kind == AS_KIND_POLICYREPORT) {
    validate_report(obj, &errs);
  } else if (k->kind == AS_KIND_VWC) {
    json_array_foreach(json_object_get(obj, "webhooks"), i, v) {
      const char *wname = json_string_value(json_object_get(v, "name"));
      snprintf(field, sizeof field, "webhooks[%zu].name", i);
      if (!wname || !wname[0])
        as_ferr_required(&errs, field, "");
      snprintf(field, sizeof field, "webhooks[%zu].clientConfig", i);
      if (!json_is_object(json_object_get(v, "clientConfig")))
        as_ferr_required(&errs, field, "");
    }
  }
  return errs.n ? as_status_invalid(k->res, k->res->kind, name ? name : "", &errs) : NULL;
}

static void create(const as_ctx *ctx, const kind_info *k, const as_request *rq, as_reply *out) {
  json_t *obj = NULL, *st = NULL;
  const char *ns, *name, *rv;
  char uid[AS_UID_LEN], ts[32];
  uint64_t new_rv;

  if (!(obj = decode(k, rq->body, rq->len, &st)))
    goto out;
  ns = as_meta_str(obj, "namespace");
  if (rq->ns && ns && ns[0] && strcmp(ns, rq->ns) != 0) {
    st = as_status_bad_request("the namespace of the provided object does not match the "
                               "namespace sent on the request");
    goto out;
  }
  as_meta_set(obj, "namespace", rq->ns);
  as_new_uid(uid);
  as_timestamp_now(ts, sizeof ts);
  as_meta_set(obj, "uid", uid);
  as_meta_set(obj, "creationTimestamp", ts);
  if ((st = validate(k, obj, NULL)))
    goto out;
  rv = as_meta_str(obj, "resourceVersion");
  if (rv && rv[0] && strcmp(rv, "0") != 0) {
    st = as_status(500, "Unknown", "resourceVersion should not be set on objects to be created",
                   NULL);
    goto out;
  }
  as_meta_set(obj, "resourceVersion", NULL);
  name = as_meta_str(obj, "name");
  if ((st = fence(ctx, k, rq, "CREATE", name, obj, NULL, out)))
    goto out;
  delay(ctx);
  switch (as_store_commit(ctx->store, k->kind, ns_of(rq), name, 0, obj, &new_rv)) {
  case AS_COMMIT_OK:
    as_reply_set(out, 201, obj);
    obj = NULL;
    break;
  case AS_COMMIT_CHANGED:
    st = as_status_already_exists(k->res, name);
    break;
  default:
    st = as_status_internal("out of memory");
  }
out:
  if (st)
    reply_status(out, st);
  json_decref(obj);
}

/* The end of PUT and PATCH: obj (stolen) replaces cur (version cur_rv) unless its own
 * resourceVersion, if any, is stale. Returns 1 when the store changed meanwhile (retry). */
static int update(const as_ctx *ctx, const kind_info *k, const as_request *rq, json_t *obj,
                  const json_t *cur, uint64_t cur_rv, as_reply *out) {
  const char *name = as_meta_str(obj, "name"), *rv = as_meta_str(obj, "resourceVersion");
  json_t *st = NULL;
  char cur_s[24], msg[600];
  uint64_t new_rv;
  int retry = 0;

  snprintf(cur_s, sizeof cur_s, "%" PRIu64, cur_rv);
  if (!name || strcmp(name, rq->name) != 0) {
    snprintf(msg, sizeof msg,
             "the name of the object (%.200s) does not match the name on the "
             "URL (%.200s)",
             name ? name : "", rq->name);
    st = as_status_bad_request(msg);
  } else if (rv && rv[0] && strcmp(rv, cur_s) != 0) {
    st = as_status_conflict(k->res, rq->name, OPTIMISTIC_LOCK_MSG);
  }
  if (st)
    goto out;
  /* BeforeUpdate: uid and creationTimestamp are the stored object's. */
  as_meta_set(obj, "uid", as_meta_str(cur, "uid"));
  as_meta_set(obj, "creationTimestamp", as_meta_str(cur, "creationTimestamp"));
  as_meta_set(obj, "namespace", rq->ns);
  if ((st = validate(k, obj, cur)) || (st = fence(ctx, k, rq, "UPDATE", rq->name, obj, cur, out)))
    goto out;
  delay(ctx);
  switch (as_store_commit(ctx->store, k->kind, ns_of(rq), rq->name, cur_rv, obj, &new_rv)) {
  case AS_COMMIT_OK:
    as_reply_set(out, 200, obj);
    obj = NULL;
    break;
  case AS_COMMIT_CHANGED:
    /* With a version given the loser gets the 409; without, GuaranteedUpdate tries again. */
    if (rv && rv[0])
      st = as_status_conflict(k->res, rq->name, OPTIMISTIC_LOCK_MSG);
    else
      retry = 1;
    break;
  default:
    st = as_status_internal("out of memory");
  }
out:
  if (st)
    reply_status(out, st);
  json_decref(obj);
  return retry;
}

/* PUT; PATCH with a merge patch or a JSON patch of the stored object. */
static void write(const as_ctx *ctx, const kind_info *k, const as_request *rq, as_reply *out) {
  bool is_patch = !strcmp(rq->method, "PATCH");
  const char *ct = rq->content_type ? rq->content_type : "";
  bool json_patch = !strncmp(ct, "application/json-patch+json", 27);
  json_t *patch = NULL;
  char err[512];

  if (is_patch && !json_patch && strncmp(ct, "application/merge-patch+json", 28) != 0) {
    reply_status(out, as_status(415, "UnsupportedMediaType",
                                "the body of the request was in an "
                                "unknown format - accepted media types include: "
                                "application/json-patch+json, application/merge-patch+json",
                                NULL));
    return;
  }
  if (is_patch && !(patch = json_loadb(rq->body, rq->len, 0, NULL))) {
    reply_status(out, as_status_bad_request("Invalid JSON Patch"));
    return;
  }
  for (int i = 0; i < MAX_ATTEMPTS; i++) {
    uint64_t cur_rv = 0;
    json_t *cur = as_store_get(ctx->store, k->kind, ns_of(rq), rq->name, &cur_rv);
    json_t *obj = NULL, *st = NULL;
    char *text = NULL;
    int retry;
    if (!cur) {
      reply_status(out, as_status_not_found(k->res, rq->name));
      break;
    }
    if (!is_patch) {
      obj = decode(k, rq->body, rq->len, &st);
    } else if (json_patch) {
      obj = json_deep_copy(cur);
      if (as_json_patch(&obj, patch, err, sizeof err) != 0)
        st = as_status(422, "Invalid", err, NULL);
    } else {
      obj = as_merge_patch(json_deep_copy(cur), patch);
    }
    /* The patched object is decoded like a request body. */
    if (!st && is_patch && obj && (text = json_dumps(obj, 0))) {
      json_decref(obj);
      obj = decode(k, text, strlen(text), &st);
    }
    free(text);
    if (st || !obj) {
      reply_status(out, st ? st : as_status_internal("out of memory"));
      json_decref(obj);
      json_decref(cur);
      break;
    }
    retry = update(ctx, k, rq, obj, cur, cur_rv, out);
    json_decref(cur);
    if (!retry)
      break;
    if (i + 1 == MAX_ATTEMPTS)
      reply_status(out, as_status_conflict(k->res, rq->name, OPTIMISTIC_LOCK_MSG));
  }
  json_decref(patch);
}

static void remove_object(const as_ctx *ctx, const kind_info *k, const as_request *rq,
                          as_reply *out) {
  uint64_t rv = 0, new_rv;
  json_t *cur = as_store_get(ctx->store, k->kind, ns_of(rq), rq->name, &rv), *st;
  if (!cur) {
    reply_status(out, as_status_not_found(k->res, rq->name));
    return;
  }
  if ((st = fence(ctx, k, rq, "DELETE", rq->name, NULL, cur, out)))
    reply_status(out, st);
  else if (as_store_commit(ctx->store, k->kind, ns_of(rq), rq->name, rv, NULL, &new_rv) !=
           AS_COMMIT_OK)
    reply_status(out, as_status_conflict(k->res, rq->name, OPTIMISTIC_LOCK_MSG));
  else
    as_reply_set(out, 200,
                 json_pack("{s:s, s:s, s:{}, s:s, s:o}", "kind", "Status", "apiVersion", "v1",
                           "metadata", "status", "Success", "details",
                           as_details(k->res, rq->name)));
  json_decref(cur);
}

static void handle(const as_ctx *ctx, const kind_info *k, const as_request *rq, as_reply *out) {
  const char *m = rq->method;
  json_t *cur;

  if (!rq->name && !strcmp(m, "GET")) {
    as_list_watch(ctx, rq, k->res, k->kind, out);
  } else if (!rq->name && !strcmp(m, "POST") && (rq->ns || !k->namespaced)) {
    create(ctx, k, rq, out);
  } else if (rq->name && !strcmp(m, "GET")) {
    cur = as_store_get(ctx->store, k->kind, ns_of(rq), rq->name, NULL);
    if (cur)
      as_reply_set(out, 200, cur);
    else
      reply_status(out, as_status_not_found(k->res, rq->name));
  } else if (rq->name && (!strcmp(m, "PUT") || !strcmp(m, "PATCH"))) {
    write(ctx, k, rq, out);
  } else if (rq->name && !strcmp(m, "DELETE")) {
    remove_object(ctx, k, rq, out);
  } else {
    reply_status(out, as_status(405, "MethodNotAllowed",
                                "the server does not allow this method on the requested resource",
                                json_object()));
  }
}

void as_secrets_handle(const as_ctx *ctx, const as_request *rq, as_reply *out) {
  handle(ctx, &secrets, rq, out);
}

void as_configmaps_handle(const as_ctx *ctx, const as_request *rq, as_reply *out) {
  handle(ctx, &configmaps, rq, out);
}

void as_policyreports_handle(const as_ctx *ctx, const as_request *rq, as_reply *out) {
  handle(ctx, &policyreports, rq, out);
}

void as_vwcs_handle(const as_ctx *ctx, const as_request *rq, as_reply *out) {
  handle(ctx, &vwcs, rq, out);
}
