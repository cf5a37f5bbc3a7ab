/* audit.c -- judge a history of Lease versions pairwise, with the rules the webhook runs. */
#include "audit.h"

#include <stdio.h>
#include <string.h>

#include "utf8.h"

struct lg_audit {
  const lg_policy *policy;
  lg_mode mode;
  json_t *last;        /* "namespace/name" -> the last version seen (a reference) */
  json_t *seen;        /* "namespace/name" -> true, for every lease ever seen */
  lg_witness *witness; /* when (by the watcher's clock) each version was seen: watch only */
  lg_audit_stats stats;
};

/* Leases and holders a watcher remembers the sightings of. */
#define WATCH_MEMORY 16384

lg_audit *lg_audit_new(const lg_policy *policy, lg_mode mode_override) {
  lg_audit *a = calloc(1, sizeof *a);
  if (!a)
    return NULL;
  a->policy = policy;
  a->mode = mode_override;
  a->last = json_object();
  a->seen = json_object();
  if (!a->last || !a->seen) {
    lg_audit_free(a);
    return NULL;
  }
  return a;
}

void lg_audit_free(lg_audit *a) {
  if (!a)
    return;
  json_decref(a->last);
  json_decref(a->seen);
  lg_witness_free(a->witness);
  free(a);
}

lg_time lg_audit_clock(const lg_lease *old_l, const lg_lease *new_l, const lg_time *observed) {
  lg_time t = 0;
  bool has = true;
  if (new_l && new_l->has_renew)
    t = new_l->renew;
  else if (new_l && new_l->has_acquire)
    t = new_l->acquire;
  else if (old_l && old_l->has_renew)
    t = old_l->renew;
  else
    has = false;
  if (!observed)
    return t;
  if (!new_l || !has || *observed < t)
    return *observed;
  return t;
}

void lg_audit_change_clear(lg_audit_change *c) {
  if (!c)
    return;
  json_decref(c->old_object);
  json_decref(c->new_object);
  memset(c, 0, sizeof *c);
}

static const char *resource_version(const json_t *obj) {
  const char *rv =
      json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
  return rv ? rv : "";
}

/* Decodes obj as a Lease with a name, the key "namespace/name" into key. */
static lg_rc decode(const json_t *obj, lg_lease *l, char *key, size_t keylen, char *err,
                    size_t errlen) {
  const char *kind = json_string_value(json_object_get(obj, "kind"));
  char why[256];
  if (!json_is_object(obj))
    return lg_fail(err, errlen, LG_ELEASE, "expected a Lease object");
  if (kind && strcmp(kind, "Lease") != 0)
    return lg_fail(err, errlen, LG_ELEASE, "kind \"%s\" is not a Lease", kind);
  if (lg_lease_decode(obj, l, why, sizeof why) != LG_OK)
    return lg_fail(err, errlen, LG_ELEASE, "lease %s/%s: %s", l->namespace, l->name, why);
  if (!l->name[0])
    return lg_fail(err, errlen, LG_ELEASE, "a Lease without metadata.name");
  /* Kubernetes names cannot hold '/', so the key is unambiguous. */
  if (strchr(l->name, '/') || strchr(l->namespace, '/'))
    return lg_fail(err, errlen, LG_ELEASE, "lease %s/%s: '/' in a name", l->namespace, l->name);
  if ((size_t)snprintf(key, keylen, "%s/%s", l->namespace, l->name) >= keylen)
    return lg_fail(err, errlen, LG_ELEASE, "lease %.40s...: name too long", l->name);
  return LG_OK;
}

#define KEY_MAX 600 /* namespace (63) + '/' + name (253), with room to spare */

/* A watch sees a version after it was stored, by up to about this much. */
#define WATCH_DELAY LG_USEC_PER_SEC

/* Remembers a watched version as seen at its arrival, or at the time its writer's clock
 * says it was written when that is earlier: events replayed after a reconnect all arrive
 * at once, long after they happened. */
static void remember(lg_audit *a, const lg_audit_change *c, lg_time observed) {
  lg_evidence own;
  lg_time seen = observed;
  int64_t slack = WATCH_DELAY;
  const lg_lease *n = c->has_new ? &c->new_lease : NULL;
  if (n && lg_lease_held(n) && n->has_renew) {
    lg_witness_evidence(a->witness, c->namespace, c->name, n, NULL, "", observed, &own);
    lg_time written = n->renew - (own.has_offset ? own.offset : 0);
    if (written < seen)
      seen = written;
  }
  if (n && n->has_duration && n->duration * LG_USEC_PER_SEC / 4 < slack)
    slack = n->duration * LG_USEC_PER_SEC / 4;
  lg_witness_record(a->witness, &(lg_witness_write){.namespace = c->namespace,
                                                    .name = c->name,
                                                    .op = c->op,
                                                    .old_l = c->has_old ? &c->old_lease : NULL,
                                                    .new_l = n,
                                                    .username = "",
                                                    .allowed = true,
                                                    .verdict = &c->verdict,
                                                    .wall = observed,
                                                    .mono = seen,
                                                    .slack = slack});
}

lg_rc lg_audit_observe(lg_audit *a, json_t *obj, bool deleted, const lg_time *observed,
                       lg_audit_change *out, char *err, size_t errlen) {
  char key[KEY_MAX];
  lg_lease l;
  json_t *prev;
  lg_rules_input in;
  lg_rule_config cfg;
  lg_requester nobody = {"", NULL};
  lg_evidence ev;
  lg_rc rc;

  memset(out, 0, sizeof *out);
  /* Made on the first watched version: a recording needs no memory of sightings. */
  if (observed && !a->witness && !(a->witness = lg_witness_new(WATCH_MEMORY, WATCH_MEMORY)))
    return lg_fail(err, errlen, LG_ENOMEM, "out of memory");
  if ((rc = decode(obj, &l, key, sizeof key, err, errlen)))
    return rc;
  prev = json_object_get(a->last, key);
  out->namespace = l.namespace;
  out->name = l.name;
  out->resource_version = resource_version(obj);
  lg_utf8_copy(out->old_resource_version, sizeof out->old_resource_version,
               prev ? resource_version(prev) : "");
  if (prev && !deleted && out->resource_version[0] &&
      strcmp(out->resource_version, resource_version(prev)) == 0) {
    out->duplicate = true;
    out->new_object = json_incref(obj);
    return LG_OK;
  }
  if (deleted) {
    /* The object of a DELETED event is the last state: the version that was deleted. */
    out->op = LG_OP_DELETE;
    out->has_old = true;
    out->old_lease = l;
    out->old_object = json_incref(obj);
  } else {
    out->op = prev ? LG_OP_UPDATE : LG_OP_CREATE;
    out->has_new = true;
    out->new_lease = l;
    out->new_object = json_incref(obj);
    if (prev) {
      out->has_old = true;
      out->old_object = json_incref(prev);
      /* Stored versions were decoded once already. */
      lg_lease_decode(prev, &out->old_lease, NULL, 0);
    }
  }
  out->when = lg_audit_clock(out->has_old ? &out->old_lease : NULL,
                             out->has_new ? &out->new_lease : NULL, observed);

  /* The requester is not in the history: exemptions by username cannot match, and
   * holder-identity, which judges the writer, cannot run. */
  lg_policy_resolve(a->policy, a->mode, l.namespace, l.name, "", &cfg);
  if (cfg.mode[LG_RULE_HOLDER_IDENTITY] > LG_MODE_OFF) {
    cfg.mode[LG_RULE_HOLDER_IDENTITY] = LG_MODE_OFF;
    out->identity_unjudged = a->stats.identity_unjudged = true;
  }
  /* Watched, the versions were seen as they came: liveness by observed time, as serve.
   * Recorded, there is no time but the writers' own. */
  memset(&ev, 0, sizeof ev);
  out->observed = observed != NULL;

  if (observed)
    lg_witness_evidence(a->witness, l.namespace, l.name, out->has_old ? &out->old_lease : NULL,
                        out->has_new ? &out->new_lease : NULL, "", *observed, &ev);
  ev.anonymous = true;
  in = (lg_rules_input){.op = out->op,
                        .namespace = l.namespace,
                        .name = l.name,
                        .old_lease = out->has_old ? &out->old_lease : NULL,
                        .new_lease = out->has_new ? &out->new_lease : NULL,
                        .requester = &nobody,
                        .evidence = &ev};
  lg_rules_evaluate(&in, &cfg, out->when, &out->verdict);
  out->skipped = out->verdict.skipped;
  if (observed)
    remember(a, out, *observed);

  a->stats.versions++;
  a->stats.findings += out->verdict.n;
  if (!json_object_get(a->seen, key) && json_object_set_new(a->seen, key, json_true()) == 0)
    a->stats.leases++;
  if (deleted)
    json_object_del(a->last, key);
  else
    json_object_set(a->last, key, obj);
  return LG_OK;
}

size_t lg_audit_forget_absent(lg_audit *a, const json_t *items,
                              void (*on_forget)(void *ud, const char *ns, const char *name),
                              void *ud) {
  json_t *present = json_object(), *it;
  const char *key;
  size_t i, n = 0;
  char k[KEY_MAX];
  lg_lease l;
  void *iter;

  if (!present)
    return 0; /* no memory: keep everything rather than forget what is there */
  json_array_foreach(items, i, it) {
    if (decode(it, &l, k, sizeof k, NULL, 0) == LG_OK)
      json_object_set_new(present, k, json_true());
  }
  json_object_foreach_safe(a->last, iter, key, it) {
    if (json_object_get(present, key))
      continue;
    if (on_forget && lg_lease_decode(it, &l, NULL, 0) == LG_OK)
      on_forget(ud, l.namespace, l.name);
    json_object_del(a->last, key);
    n++;
  }
  json_decref(present);
  return n;
}

lg_rc lg_audit_event(const json_t *ev, lg_audit_event_type *type, json_t **object, long *code,
                     char *err, size_t errlen) {
  static const char *const names[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};
  const char *t = json_string_value(json_object_get(ev, "type"));
  json_t *obj = json_object_get(ev, "object");
  *object = NULL;
  *code = 0;
  if (!t || !json_is_object(obj))
    return lg_fail(err, errlen, LG_EJSON, "not a watch event (expected \"type\" and \"object\")");
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (strcmp(t, names[i]) == 0) {
      *type = (lg_audit_event_type)i;
      *object = obj;
      if (*type == LG_AUDIT_EV_ERROR)
        *code = (long)json_integer_value(json_object_get(obj, "code"));
      return LG_OK;
    }
  return lg_fail(err, errlen, LG_EJSON, "unknown watch event type \"%.40s\"", t);
}

/* Observes one version and hands the change to on_change. */
static lg_rc feed_one(lg_audit *a, json_t *obj, bool deleted,
                      void (*on_change)(void *ud, const lg_audit_change *c), void *ud, char *err,
                      size_t errlen) {
  lg_audit_change c;
  lg_rc rc = lg_audit_observe(a, obj, deleted, NULL, &c, err, errlen);
  if (rc)
    return rc;
  if (!c.duplicate && on_change)
    on_change(ud, &c);
  lg_audit_change_clear(&c);
  return LG_OK;
}

lg_rc lg_audit_feed(lg_audit *a, json_t *value,
                    void (*on_change)(void *ud, const lg_audit_change *c), void *ud, char *err,
                    size_t errlen) {
  const char *kind = json_string_value(json_object_get(value, "kind"));
  json_t *items = json_object_get(value, "items"), *obj, *it;
  lg_audit_event_type type;
  long code;
  size_t i;
  lg_rc rc = LG_OK;

  if (!json_is_object(value))
    return lg_fail(err, errlen, LG_EJSON, "expected a Lease, a List or a watch event, not %s",
                   json_is_array(value) ? "an array" : "a scalar");
  if (json_object_get(value, "type") && !json_object_get(value, "metadata")) {
    if ((rc = lg_audit_event(value, &type, &obj, &code, err, errlen)))
      return rc;
    if (type == LG_AUDIT_EV_ERROR)
      a->stats.error_events++;
    if (type == LG_AUDIT_EV_ERROR || type == LG_AUDIT_EV_BOOKMARK)
      return LG_OK;
    return feed_one(a, obj, type == LG_AUDIT_EV_DELETED, on_change, ud, err, errlen);
  }
  if ((kind && (strcmp(kind, "List") == 0 || strcmp(kind, "LeaseList") == 0)) || (!kind && items)) {
    if (!json_is_array(items))
      return lg_fail(err, errlen, LG_EJSON, "a %s without an items array", kind ? kind : "list");
    json_array_foreach(items, i, it) {
      if ((rc = feed_one(a, it, false, on_change, ud, err, errlen))) {
        char inner[256];
        snprintf(inner, sizeof inner, "%s", err ? err : "");
        return lg_fail(err, errlen, rc, "items[%zu]: %s", i, inner);
      }
    }
    return LG_OK;
  }
  return feed_one(a, value, false, on_change, ud, err, errlen);
}

void lg_audit_get_stats(const lg_audit *a, lg_audit_stats *out) { *out = a->stats; }

lg_rc lg_audit_next_value(const char *buf, size_t len, bool eof, size_t first_line, json_t **out,
                          size_t *used, char *err, size_t errlen) {
  size_t ws = 0, line = first_line;
  json_error_t e;

  *out = NULL;
  *used = 0;
  while (ws < len && (buf[ws] == ' ' || buf[ws] == '\t' || buf[ws] == '\n' || buf[ws] == '\r'))
    line += buf[ws++] == '\n';
  if (ws == len)
    return LG_OK;
  *out = json_loadb(buf + ws, len - ws, JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL, &e);
  if (*out) {
    *used = ws + (size_t)e.position;
    return LG_OK;
  }
  /* Cut short by the end of what has been read so far (a string, a literal or the value,
   * or a UTF-8 sequence, which jansson reports at its first byte): more input may complete it. */
  if (!eof && (json_error_code(&e) == json_error_premature_end_of_input ||
               (e.position >= 0 && (size_t)e.position >= len - ws) ||
               (json_error_code(&e) == json_error_invalid_utf8 && e.position >= 0 &&
                (size_t)e.position + 4 > len - ws)))
    return LG_OK;
  return lg_fail(err, errlen, LG_EJSON, "line %zu, column %d: %s",
                 line + (size_t)(e.line > 0 ? e.line - 1 : 0), e.column, e.text);
}
