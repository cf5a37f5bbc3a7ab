/* objects.c -- core/v1 Secrets and admissionregistration.k8s.io/v1
 * ValidatingWebhookConfigurations as stored objects: GET, LIST, POST, PUT, PATCH (JSON merge
 * patch and JSON patch), DELETE, with resourceVersion preconditions and the validation of
 * their registries that a certificate controller meets. No admission webhook is called. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver.h"
#include "b64.h"
#include "listwatch.h"
#include "meta.h"
#include "patch.h"
#include "status.h"
#include "validate.h"

/* GuaranteedUpdate runs the update again when the object changed under it. */
#define MAX_ATTEMPTS 8
#define OPTIMISTIC_LOCK_MSG                                                                   \
  "the object has been modified; please apply your changes to the latest version and try again"

typedef struct {
  const as_resource *res;
  as_kind kind;
} kind_info;

static const kind_info secrets = {&as_res_secrets, AS_KIND_SECRET};
static const kind_info vwcs = {&as_res_vwcs, AS_KIND_VWC};

/* --write-delay: the time between a write's read of the store and its commit. */
static void delay(const as_ctx *ctx) {
  long ms = ctx->cfg->write_delay_ms;
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  if (ms > 0)
    nanosleep(&ts, NULL);
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
  snprintf(msg, sizeof msg, "%s in version \"v1\" cannot be handled as a %s: %s: illegal base64 "
           "data", k->res->kind, k->res->kind, field);
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
  if (k->kind == AS_KIND_SECRET) {
    const json_t *data = json_object_get(obj, "data");
    if (data && !json_is_object(data)) {
      *st = as_status_bad_request("Secret in version \"v1\" cannot be handled as a Secret: data "
                                  "must be an object");
      goto bad;
    }
    json_object_foreach((json_t *)data, key, v) {
      if ((*st = check_b64(k, v, key)))
        goto bad;
    }
  } else {
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
  } else {
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
    snprintf(msg, sizeof msg, "the name of the object (%.200s) does not match the name on the "
             "URL (%.200s)", name ? name : "", rq->name);
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
  if ((st = validate(k, obj, cur)))
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
    reply_status(out, as_status(415, "UnsupportedMediaType", "the body of the request was in an "
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
  json_t *cur = as_store_get(ctx->store, k->kind, ns_of(rq), rq->name, &rv);
  if (!cur) {
    reply_status(out, as_status_not_found(k->res, rq->name));
    return;
  }
  if (as_store_commit(ctx->store, k->kind, ns_of(rq), rq->name, rv, NULL, &new_rv) != AS_COMMIT_OK)
    reply_status(out, as_status_conflict(k->res, rq->name, OPTIMISTIC_LOCK_MSG));
  else
    as_reply_set(out, 200, json_pack("{s:s, s:s, s:{}, s:s, s:o}", "kind", "Status", "apiVersion",
                                     "v1", "metadata", "status", "Success", "details",
                                     as_details(k->res, rq->name)));
  json_decref(cur);
}

static void handle(const as_ctx *ctx, const kind_info *k, const as_request *rq, as_reply *out) {
  const char *m = rq->method;
  json_t *cur;

  if (!rq->name && !strcmp(m, "GET")) {
    uint64_t rv;
    json_t *items = as_store_list(ctx->store, k->kind, rq->ns, &rv);
    json_t *list = items ? as_list(k->res, items, rv) : NULL;
    as_reply_set(out, list ? 200 : 500, list ? list : as_status_internal("out of memory"));
  } else if (!rq->name && !strcmp(m, "POST")) {
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

void as_vwcs_handle(const as_ctx *ctx, const as_request *rq, as_reply *out) {
  handle(ctx, &vwcs, rq, out);
}
