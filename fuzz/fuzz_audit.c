/* fuzz_audit.c -- libFuzzer target: a recorded history read as `leaseguard audit FILE` reads
 * it (lg_audit_next_value -> lg_audit_feed -> decision -> audit lines), the same values read
 * in pieces as from a pipe, and judged as `--watch` judges events, re-lists and their arrival
 * time. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "audit.h"
#include "check.h"
#include "decision.h"
#include "log.h"

static lg_policy *policy;

/* The watch replay's clock: the audit fixtures start at 2025-11-25T10:00:00Z. */
#define T0 (INT64_C(1764064800) * LG_USEC_PER_SEC)

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  char err[256] = "";
  (void)argc;
  (void)argv;
  CHECK(lg_policy_default(&policy, err, sizeof err) == LG_OK, "built-in policy: %s", err);
  return 0;
}

typedef struct {
  size_t changes, findings;
} tally;

static void on_change(void *ud, const lg_audit_change *c) {
  tally *t = ud;
  lg_decision d;
  CHECK(!c->duplicate, "a duplicate was reported");
  CHECK(c->op == LG_OP_CREATE || c->op == LG_OP_UPDATE || c->op == LG_OP_DELETE, "op %d", c->op);
  CHECK(c->has_new == (c->op != LG_OP_DELETE) && c->has_old == (c->op != LG_OP_CREATE),
        "op %d with old %d new %d", c->op, c->has_old, c->has_new);
  CHECK(c->name && c->name[0] && c->namespace, "a change without a name");
  CHECK(!c->skipped || c->verdict.n == 0, "skipped (%s) with findings", c->skipped);
  lg_decision_from_audit(c, LG_DECISION_FILE, &d);
  CHECK(d.n == c->verdict.n, "decision has %zu findings, verdict %zu", d.n, c->verdict.n);
  for (size_t i = 0; i < c->verdict.n; i++) {
    const lg_finding *f = &c->verdict.findings[i];
    char *s = lg_log_audit_line(&d, i);
    json_t *back;
    CHECK(f->rule != LG_RULE_HOLDER_IDENTITY, "holder-identity judged without a requester");
    CHECK(s != NULL, "no audit line for %s", lg_rules_id(f->rule));
    back = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
    CHECK(back != NULL, "audit line does not read back: %s", s);
    CHECK(!strcmp(json_string_value(json_object_get(back, "rule")), lg_rules_id(f->rule)) &&
              !strcmp(json_string_value(json_object_get(back, "message")), f->message) &&
              !strcmp(json_string_value(json_object_get(back, "source")), "file"),
          "audit line does not say its finding: %s", s);
    json_decref(back);
    free(s);
  }
  t->changes++;
  t->findings += c->verdict.n;
}

static void on_forget(void *ud, const char *ns, const char *name) {
  (void)ns;
  CHECK(name && name[0], "forgot a lease without a name");
  ++*(size_t *)ud;
}

/* Judges one change as --watch does, at the time the event arrived. */
static void watch_observe(lg_audit *w, json_t *obj, bool deleted, lg_time observed, tally *t) {
  lg_audit_change c;
  char err[256] = "";
  lg_rc rc = lg_audit_observe(w, obj, deleted, &observed, &c, err, sizeof err);
  CHECK(rc == LG_OK || (rc == LG_ELEASE && err[0]), "rc %d: %s", rc, err);
  if (rc)
    return;
  CHECK(c.when <= observed, "judged at %lld, after the event arrived at %lld", (long long)c.when,
        (long long)observed);
  if (!c.duplicate)
    on_change(t, &c);
  lg_audit_change_clear(&c);
}

/* The same value as a --watch would see it: a watch event, a re-list (a List) or a Lease. */
static void watch_value(lg_audit *w, json_t *v, lg_time observed, tally *t) {
  lg_audit_event_type type;
  json_t *obj, *items = json_object_get(v, "items"), *it;
  long code;
  size_t i, forgotten = 0;

  if (lg_audit_event(v, &type, &obj, &code, NULL, 0) == LG_OK) {
    CHECK(type <= LG_AUDIT_EV_ERROR && obj, "event type %d", type);
    if (type == LG_AUDIT_EV_ADDED || type == LG_AUDIT_EV_MODIFIED || type == LG_AUDIT_EV_DELETED)
      watch_observe(w, obj, type == LG_AUDIT_EV_DELETED, observed, t);
  } else if (json_is_array(items)) {
    json_array_foreach(items, i, it) watch_observe(w, it, false, observed, t);
    CHECK(lg_audit_forget_absent(w, items, on_forget, &forgotten) == forgotten,
          "forgot a different number than reported");
  } else if (json_is_object(v)) {
    watch_observe(w, v, false, observed, t);
  }
}

/* A value read whole (v, used bytes) must read the same when the input arrives in pieces:
 * a piece that ends inside it is "more input needed", never an error or another value. */
static void check_pieces(const char *buf, size_t len, size_t line, const json_t *v, size_t used,
                         const size_t *cuts, size_t ncuts) {
  char err[512];
  json_t *w;
  size_t u;
  for (size_t i = 0; i < ncuts; i++) {
    if (cuts[i] >= used)
      continue;
    CHECK(lg_audit_next_value(buf, cuts[i], false, line, &w, &u, err, sizeof err) == LG_OK && !w &&
              u == 0,
          "the first %zu of %zu bytes: %s", cuts[i], used, w ? "another value" : err);
  }
  CHECK(lg_audit_next_value(buf, len, false, line, &w, &u, err, sizeof err) == LG_OK && w &&
            u == used && json_equal(w, (json_t *)v),
        "not the same value before eof (%s)", err);
  json_decref(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *buf = (const char *)data;
  lg_audit *a = lg_audit_new(policy, LG_MODE_INHERIT), *w = lg_audit_new(policy, LG_MODE_WARN);
  lg_audit_stats st;
  tally t = {0, 0}, tw = {0, 0};
  size_t off = 0, line = 1, forgotten = 0;
  lg_time observed = T0;

  CHECK(a && w, "lg_audit_new");
  for (;;) {
    char err[512] = "";
    json_t *v = NULL, *items;
    size_t used = 0, cuts[3];
    lg_rc rc = lg_audit_next_value(buf + off, size - off, true, line, &v, &used, err, sizeof err);
    if (rc) {
      CHECK(rc == LG_EJSON && !v && err[0], "rc %d: %s", rc, err);
      break;
    }
    if (!v) {
      CHECK(used == 0, "no value but %zu bytes used", used);
      break;
    }
    CHECK(used > 0 && used <= size - off, "used %zu of %zu", used, size - off);
    cuts[0] = used - 1;
    cuts[1] = used / 2;
    cuts[2] = (size_t)(data[off] * 131u + size) % used;
    check_pieces(buf + off, size - off, line, v, used, cuts, 3);
    for (size_t i = off; i < off + used; i++)
      line += buf[i] == '\n';
    off += used;
    err[0] = '\0';
    rc = lg_audit_feed(a, v, on_change, &t, err, sizeof err);
    CHECK(rc == LG_OK || ((rc == LG_ELEASE || rc == LG_EJSON) && err[0]), "rc %d: %s", rc, err);
    /* A list as after a re-list: what it does not hold was deleted meanwhile. */
    items = json_object_get(v, "items");
    if (json_is_array(items)) {
      size_t before = forgotten, n = lg_audit_forget_absent(a, items, on_forget, &forgotten);
      CHECK(forgotten - before == n, "forgot %zu, reported %zu", n, forgotten - before);
    }
    observed += LG_USEC_PER_SEC;
    watch_value(w, v, observed, &tw);
    json_decref(v);
  }
  lg_audit_get_stats(a, &st);
  CHECK(st.versions == t.changes && st.findings == t.findings,
        "stats %zu versions, %zu findings; reported %zu, %zu", st.versions, st.findings, t.changes,
        t.findings);
  CHECK(st.leases <= st.versions, "%zu leases in %zu versions", st.leases, st.versions);
  lg_audit_get_stats(w, &st);
  CHECK(st.versions == tw.changes && st.findings == tw.findings, "watch stats differ");
  lg_audit_free(a);
  lg_audit_free(w);
  return 0;
}
