/* polreport.c -- PolicyReport state: namespace -> (lease, rule) -> the latest finding, kept in
 * jansson objects; the documents are built from it. */
#include "polreport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lg_polreport {
  json_t *ns;    /* namespace -> {"results": {key -> result}, "t": {key -> when}} */
  json_t *dirty; /* namespace -> true */
  size_t max;
  int64_t ttl;
};

lg_polreport *lg_polreport_new(size_t max_results, int64_t ttl) {
  lg_polreport *r = calloc(1, sizeof *r);
  if (!r)
    return NULL;
  r->ns = json_object();
  r->dirty = json_object();
  r->max = max_results ? max_results : 1;
  r->ttl = ttl;
  if (!r->ns || !r->dirty) {
    lg_polreport_free(r);
    return NULL;
  }
  return r;
}

void lg_polreport_free(lg_polreport *r) {
  if (!r)
    return;
  json_decref(r->ns);
  json_decref(r->dirty);
  free(r);
}

const char *lg_polreport_severity(lg_rule rule) {
  switch (rule) {
  case LG_RULE_HOLDER_RENEW:
  case LG_RULE_DELETE_HELD:
  case LG_RULE_FENCING:
    return "critical"; /* split brain */
  case LG_RULE_TRANSITIONS:
  case LG_RULE_HOLDER_IDENTITY:
  case LG_RULE_DURATION:
    return "high";
  case LG_RULE_RENEW_MONOTONIC:
  case LG_RULE_TIMESTAMPS:
    return "medium";
  default:
    return "low";
  }
}

/* A violation is a fail, whatever the webhook did with it; advice (warn mode) a warn. */
const char *lg_polreport_result(lg_mode mode) { return mode == LG_MODE_WARN ? "warn" : "fail"; }

static json_t *ns_state(lg_polreport *r, const char *ns, bool make) {
  json_t *s = json_object_get(r->ns, ns);
  if (!s && make) {
    s = json_pack("{s:{}, s:{}}", "results", "t");
    if (!s || json_object_set_new(r->ns, ns, s))
      return NULL;
  }
  return s;
}

static void mark(lg_polreport *r, const char *ns) {
  json_object_set_new(r->dirty, ns, json_true());
}

/* Drops the oldest result of ns state s. */
static void drop_oldest(json_t *s) {
  const char *key, *oldest = NULL;
  json_t *t = json_object_get(s, "t"), *v;
  json_int_t best = 0;
  json_object_foreach(t, key, v) {
    if (!oldest || json_integer_value(v) < best) {
      oldest = key;
      best = json_integer_value(v);
    }
  }
  if (oldest) {
    char *k = strdup(oldest);
    if (k) {
      json_object_del(json_object_get(s, "results"), k);
      json_object_del(t, k);
      free(k);
    }
  }
}

void lg_polreport_add(lg_polreport *r, const char *ns, const char *name, const char *uid,
                      const lg_finding *f, const char *writer, lg_time when) {
  char key[600];
  json_t *s, *res, *resource;
  const char *msg = f->message;
  if (!r || !ns || !ns[0] || !name || !name[0])
    return;
  if ((size_t)snprintf(key, sizeof key, "%s|%s", name, lg_rules_id(f->rule)) >= sizeof key)
    return;
  if (!(s = ns_state(r, ns, true)))
    return;
  /* The message without its "[rule] ns/name: " prefix: the result says both. A warning is not
   * scored, as the v1alpha2 "warn" result is defined. */
  if (msg[0] == '[' && strstr(msg, ": "))
    msg = strstr(msg, ": ") + 2;
  resource = json_pack("{s:s, s:s, s:s, s:s}", "apiVersion", "coordination.k8s.io/v1", "kind",
                       "Lease", "namespace", ns, "name", name);
  if (resource && uid && uid[0])
    json_object_set_new(resource, "uid", json_string(uid));
  res = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:{s:I, s:i}, s:[o], s:{s:s, s:s}}",
                  "policy", "leaseguard", "rule", lg_rules_id(f->rule), "result",
                  lg_polreport_result(f->mode), "severity", lg_polreport_severity(f->rule),
                  "category", "Leader election", "message", msg, "source", "leaseguard", "scored",
                  f->mode != LG_MODE_WARN, "timestamp", "seconds",
                  (json_int_t)(when / LG_USEC_PER_SEC), "nanos",
                  (int)(when % LG_USEC_PER_SEC) * 1000, "resources", resource, "properties", "mode",
                  lg_rules_mode_name(f->mode), "writer", writer && writer[0] ? writer : "unknown");
  if (!res)
    return;
  if (!json_object_get(json_object_get(s, "results"), key))
    while (json_object_size(json_object_get(s, "results")) >= r->max)
      drop_oldest(s);
  json_object_set_new(json_object_get(s, "results"), key, res);
  json_object_set_new(json_object_get(s, "t"), key, json_integer((json_int_t)when));
  mark(r, ns);
}

void lg_polreport_lease_deleted(lg_polreport *r, const char *ns, const char *name) {
  json_t *s = r ? ns_state(r, ns, false) : NULL, *results, *v;
  const char *key;
  void *tmp;
  size_t n = strlen(name ? name : "");
  bool changed = false;
  if (!s || !n)
    return;
  results = json_object_get(s, "results");
  json_object_foreach_safe(results, tmp, key, v) {
    if (strncmp(key, name, n) == 0 && key[n] == '|') {
      json_object_del(json_object_get(s, "t"), key);
      json_object_del(results, key);
      changed = true;
    }
  }
  if (changed)
    mark(r, ns);
}

void lg_polreport_expire(lg_polreport *r, lg_time now) {
  const char *ns, *key;
  json_t *s, *v;
  void *tmp;
  if (!r || r->ttl <= 0)
    return;
  json_object_foreach(r->ns, ns, s) {
    json_t *t = json_object_get(s, "t");
    bool changed = false;
    json_object_foreach_safe(t, tmp, key, v) {
      if (now - (lg_time)json_integer_value(v) > r->ttl) {
        json_object_del(json_object_get(s, "results"), key);
        json_object_del(t, key);
        changed = true;
      }
    }
    if (changed)
      mark(r, ns);
  }
}

json_t *lg_polreport_dirty(lg_polreport *r) {
  json_t *a = json_array(), *v;
  const char *ns;
  if (!a || !r)
    return a;
  json_object_foreach(r->dirty, ns, v) json_array_append_new(a, json_string(ns));
  return a;
}

static int by_key(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *lg_polreport_document(lg_polreport *r, const char *ns) {
  json_t *s = r ? ns_state(r, ns, false) : NULL, *results, *list, *doc;
  const char **keys, *key;
  json_t *v;
  size_t n = 0, fail = 0, warn = 0;
  if (!s || !json_object_size(results = json_object_get(s, "results")))
    return NULL;
  if (!(keys = calloc(json_object_size(results), sizeof *keys)))
    return NULL;
  json_object_foreach(results, key, v) keys[n++] = key;
  qsort(keys, n, sizeof *keys, by_key); /* stable documents: lease, then rule */
  list = json_array();
  for (size_t i = 0; list && i < n; i++) {
    json_t *res = json_object_get(results, keys[i]);
    if (strcmp(json_string_value(json_object_get(res, "result")), "warn") == 0)
      warn++;
    else
      fail++;
    json_array_append(list, res);
  }
  free(keys);
  doc = json_pack(
      "{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:i, s:I, s:I, s:i, s:i}, s:o}", "apiVersion",
      "wgpolicyk8s.io/v1alpha2", "kind", "PolicyReport", "metadata", "name", LG_POLREPORT_NAME,
      "namespace", ns, "labels", "app.kubernetes.io/managed-by", "leaseguard", "summary", "pass", 0,
      "fail", (json_int_t)fail, "warn", (json_int_t)warn, "error", 0, "skip", 0, "results", list);
  return doc;
}

void lg_polreport_written(lg_polreport *r, const char *ns) {
  json_t *s;
  if (!r)
    return;
  json_object_del(r->dirty, ns);
  s = ns_state(r, ns, false);
  if (s && !json_object_size(json_object_get(s, "results")))
    json_object_del(r->ns, ns);
}
