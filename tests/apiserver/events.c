/* events.c -- core/v1 events: POST to store one, GET one, LIST and WATCH (no admission webhook). */
#include <stdio.h>
#include <string.h>

#include "apiserver.h"
#include "listwatch.h"
#include "meta.h"
#include "status.h"
#include "validate.h"

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
    reply_status(out, as_status_bad_request("dryRun: Unsupported value: only \"All\" is supported"));
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
  } else {
    reply_status(out, as_status(405, "MethodNotAllowed",
                                "the server does not allow this method on the requested resource",
                                json_object()));
  }
}
