/* events.c -- core/v1 events: POST to store one, GET one, PATCH one (JSON merge patch), LIST
 * and WATCH (no admission webhook). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver.h"
#include "listwatch.h"
#include "meta.h"
#include "patch.h"
#include "status.h"
#include "validate.h"

/* GuaranteedUpdate runs the update again when the object changed under it. */
#define MAX_ATTEMPTS 8

static void reply_status(as_reply *out, json_t *st) {
  json_int_t code = json_integer_value(json_object_get(st, "code"));
  as_reply_set(out, st ? (unsigned)(code ? code : 500) : 500,
               st ? st : as_status_internal("out of memory"));
}

/* The parts of ValidateEventCreate that concern a namespaced event. */
static json_t *validate_event(const json_t *ev, const char *ns) {
  as_field_errors errs;
  const char *name = as_meta_str(ev, "name");
  const json_t *io = json_object_get(ev, "involvedObject");
  const char *io_ns = json_string_value(json_object_get(io, "namespace"));
  char q[300];

  errs.n = 0;
  as_validate_name(name, &errs);
  if (io_ns && io_ns[0] && strcmp(io_ns, ns) != 0) {
    as_go_quote(io_ns, q, sizeof q);
    as_ferr_invalid(&errs, "involvedObject.namespace", q, "does not match event.namespace");
  }
  return errs.n ? as_status_invalid(&as_res_events, "Event", name ? name : "", &errs) : NULL;
}

static void create(const as_ctx *ctx, const as_request *rq, as_reply *out) {
  json_t *ev, *st = NULL;
  const char *ns, *gen, *name, *dry_q = rq->query(rq->query_cls, "dryRun");
  char uid[AS_UID_LEN], ts[32], generated[128];
  uint64_t rv;

  if (dry_q && strcmp(dry_q, "All") != 0) {
    reply_status(out,
                 as_status_bad_request("dryRun: Unsupported value: only \"All\" is supported"));
    return;
  }
  if (!(ev = as_decode_body(&as_res_events, rq->body, rq->len, &st)) ||
      (st = as_meta_decode_check(ev, "Event")))
    goto out;
  ns = as_meta_str(ev, "namespace");
  if (ns && ns[0] && strcmp(ns, rq->ns) != 0) {
    st = as_status_bad_request("the namespace of the provided object does not match the "
                               "namespace sent on the request");
    goto out;
  }
  as_meta_set(ev, "namespace", rq->ns);
  gen = as_meta_str(ev, "generateName");
  name = as_meta_str(ev, "name");
  if ((!name || !name[0]) && gen && gen[0]) {
    as_generate_name(gen, generated, sizeof generated);
    as_meta_set(ev, "name", generated);
  }
  as_new_uid(uid);
  as_timestamp_now(ts, sizeof ts);
  as_meta_set(ev, "uid", uid);
  as_meta_set(ev, "creationTimestamp", ts);
  as_meta_set(ev, "resourceVersion", NULL);
  if ((st = validate_event(ev, rq->ns)))
    goto out;
  name = as_meta_str(ev, "name");
  if (dry_q) {
    json_t *cur = as_store_get(ctx->store, AS_KIND_EVENT, rq->ns, name, NULL);
    st = cur ? as_status_already_exists(&as_res_events, name) : NULL;
    json_decref(cur);
  } else {
    as_commit c = as_store_commit(ctx->store, AS_KIND_EVENT, rq->ns, name, 0, ev, &rv);
    if (c == AS_COMMIT_CHANGED)
      st = as_status_already_exists(&as_res_events, name);
    else if (c != AS_COMMIT_OK)
      st = as_status_internal("out of memory");
  }
  if (st)
    goto out;
  as_reply_set(out, 201, ev);
  ev = NULL;
out:
  if (st)
    reply_status(out, st);
  json_decref(ev);
}

/* One attempt of a patch; returns 1 to retry (the object changed meanwhile), else 0 with
 * out filled. */
static int patch_once(const as_ctx *ctx, const as_request *rq, const json_t *patch, bool dry,
                      as_reply *out) {
  uint64_t cur_rv = 0, new_rv;
  json_t *cur = as_store_get(ctx->store, AS_KIND_EVENT, rq->ns, rq->name, &cur_rv);
  json_t *obj = NULL, *typed = NULL, *st = NULL;
  const char *name, *ns, *uid, *cur_uid, *rv, *ts;
  char *text = NULL, cur_rv_s[24], msg[600], q[300];
  as_field_errors errs;
  int retry = 0;

  if (!cur) {
    st = as_status_not_found(&as_res_events, rq->name);
    goto out;
  }
  if (!(obj = as_merge_patch(json_deep_copy(cur), patch)) || !(text = json_dumps(obj, 0))) {
    st = as_status_internal("out of memory");
    goto out;
  }
  /* The patched object is decoded like a request body. */
  if (!(typed = as_decode_body(&as_res_events, text, strlen(text), &st)) ||
      (st = as_meta_decode_check(typed, "Event")))
    goto out;
  name = as_meta_str(typed, "name");
  ns = as_meta_str(typed, "namespace");
  if (!name || strcmp(name, rq->name) != 0) {
    snprintf(msg, sizeof msg,
             "the name of the object (%.200s) does not match the name on the "
             "URL (%.200s)",
             name ? name : "", rq->name);
    st = as_status_bad_request(msg);
    goto out;
  }
  if (ns && ns[0] && strcmp(ns, rq->ns) != 0) {
    snprintf(msg, sizeof msg,
             "the namespace of the object (%.200s) does not match the "
             "namespace on the request (%.200s)",
             ns, rq->ns);
    st = as_status_bad_request(msg);
    goto out;
  }
  /* A resourceVersion in the patch is a precondition; without one the patch applies to
   * whatever is current. */
  snprintf(cur_rv_s, sizeof cur_rv_s, "%" PRIu64, cur_rv);
  rv = as_meta_str(typed, "resourceVersion");
  if (rv && rv[0] && strcmp(rv, cur_rv_s) != 0) {
    st = as_status_conflict(&as_res_events, rq->name,
                            "the object has been modified; please "
                            "apply your changes to the latest version and try again");
    goto out;
  }
  /* BeforeUpdate: creationTimestamp kept, uid kept when absent and immutable otherwise. */
  uid = as_meta_str(typed, "uid");
  cur_uid = as_meta_str(cur, "uid");
  if (uid && uid[0] && cur_uid && strcmp(uid, cur_uid) != 0) {
    errs.n = 0;
    as_go_quote(uid, q, sizeof q);
    as_ferr_invalid(&errs, "metadata.uid", q, "field is immutable");
    st = as_status_invalid(&as_res_events, "Event", rq->name, &errs);
    goto out;
  }
  as_meta_set(typed, "uid", cur_uid);
  if ((ts = as_meta_str(cur, "creationTimestamp")))
    as_meta_set(typed, "creationTimestamp", ts);
  as_meta_set(typed, "namespace", rq->ns);
  if ((st = validate_event(typed, rq->ns)) || dry)
    goto out;
  switch (as_store_commit(ctx->store, AS_KIND_EVENT, rq->ns, rq->name, cur_rv, typed, &new_rv)) {
  case AS_COMMIT_OK:
    break;
  case AS_COMMIT_CHANGED:
    retry = 1;
    break;
  default:
    st = as_status_internal("out of memory");
  }
out:
  if (st)
    reply_status(out, st);
  else if (!retry)
    as_reply_set(out, 200, json_incref(typed));
  free(text);
  json_decref(typed);
  json_decref(obj);
  json_decref(cur);
  return retry;
}

/* PATCH with application/merge-patch+json (the HTTP module checked the media type). */
static void patch_event(const as_ctx *ctx, const as_request *rq, as_reply *out) {
  const char *dry_q = rq->query(rq->query_cls, "dryRun");
  json_t *patch;

  if (dry_q && strcmp(dry_q, "All") != 0) {
    reply_status(out,
                 as_status_bad_request("dryRun: Unsupported value: only \"All\" is supported"));
    return;
  }
  /* jsonpatch.MergePatch refuses what is not a JSON object as ErrBadJSONPatch. */
  patch = json_loadb(rq->body, rq->len, 0, NULL);
  if (!json_is_object(patch)) {
    json_decref(patch);
    reply_status(out, as_status_bad_request("Invalid JSON Patch"));
    return;
  }
  for (int i = 0; i < MAX_ATTEMPTS; i++)
    if (!patch_once(ctx, rq, patch, dry_q != NULL, out))
      goto out;
  reply_status(out, as_status_conflict(&as_res_events, rq->name,
                                       "the object has been modified; "
                                       "please apply your changes to the latest version and try "
                                       "again"));
out:
  json_decref(patch);
}

void as_events_handle(const as_ctx *ctx, const as_request *rq, as_reply *out) {
  const char *m = rq->method;
  json_t *cur;

  if (!rq->name && !strcmp(m, "GET")) {
    as_list_watch(ctx, rq, &as_res_events, AS_KIND_EVENT, out);
  } else if (!rq->name && rq->ns && !strcmp(m, "POST")) {
    create(ctx, rq, out);
  } else if (rq->name && !strcmp(m, "GET")) {
    cur = as_store_get(ctx->store, AS_KIND_EVENT, rq->ns, rq->name, NULL);
    if (cur)
      as_reply_set(out, 200, cur);
    else
      reply_status(out, as_status_not_found(&as_res_events, rq->name));
  } else if (rq->name && !strcmp(m, "PATCH")) {
    patch_event(ctx, rq, out);
  } else {
    reply_status(out, as_status(405, "MethodNotAllowed",
                                "the server does not allow this method on the requested resource",
                                json_object()));
  }
}
