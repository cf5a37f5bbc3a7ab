/* test_decision.c -- the decision record: built from a webhook result and from an audit
 * change, stable finding keys, and sinks told once each, in order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit.h"
#include "decision.h"
#include "harness.h"
#include "policy.h"
#include "webhook.h"

#define STEAL "kcm-steal-future.json" /* holder-renew and timestamps, judged at 10:00:12+ */
#define T0    "2026-11-25T10:00:12Z"

static lg_policy *policy;

static int setup(void **state) {
  char err[256];
  (void)state;
  return lg_policy_default(&policy, err, sizeof err) == LG_OK ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  lg_policy_free(policy);
  return 0;
}

static lg_time at(const char *rfc3339, int plus_s) {
  lg_time t;
  assert_int_equal(lg_time_parse(rfc3339, &t), LG_OK);
  return t + (lg_time)plus_s * LG_USEC_PER_SEC;
}

/* Judges fixture (a review under tests/fixtures/reviews) at now, as user when not NULL. */
static void judge(const char *fixture, lg_time now, const char *user, lg_webhook_result *res) {
  char path[LGT_PATH_LEN], *body;
  snprintf(path, sizeof path, "%s/reviews/%s", LG_FIXTURES, fixture);
  assert_non_null(body = lgt_read_file(path, NULL));
  if (user) {
    json_t *doc = json_loads(body, 0, NULL);
    assert_non_null(doc);
    json_object_set_new(json_object_get(json_object_get(doc, "request"), "userInfo"), "username",
                        json_string(user));
    free(body);
    assert_non_null(body = json_dumps(doc, 0));
    json_decref(doc);
  }
  lg_webhook_handle(body, strlen(body), &(lg_webhook_env){policy, LG_MODE_INHERIT, now, 0, NULL},
                    res);
  free(body);
}

static const char *str(const char *s) { return s ? s : "(null)"; }

/* What a decision built from a judged fixture says. */
static void test_from_webhook(void **state) {
  static const struct {
    const char *fixture;
    bool usable, allowed, dry_run;
    const char *op, *ignored, *kind, *object_uid, *rv;
    size_t n;
    lg_rule rule; /* of the first finding */
    const char *reason;
  } cases[] = {
      {STEAL, true, false, false, "UPDATE", NULL, "Lease", "5b6f1d2e-8a7c-4c1e-9f3a-029456246924",
       "1005", 2, LG_RULE_HOLDER_RENEW, "taken-before-expiry"},
      {"kcm-steal-dry-run.json", true, false, true, "UPDATE", NULL, "Lease", NULL, NULL, 1,
       LG_RULE_HOLDER_RENEW, "taken-before-expiry"},
      {"kcm-renew.json", true, true, false, "UPDATE", NULL, "Lease", NULL, NULL, 0, 0, NULL},
      {"operator-delete-held.json", true, false, false, "DELETE", NULL, "Lease", NULL, NULL, 1,
       LG_RULE_DELETE_HELD, "deleted-while-held"},
      {"configmap.json", true, true, false, NULL, "not a coordination.k8s.io Lease", "ConfigMap",
       NULL, NULL, 0, 0, NULL},
      {"malformed.json", false, false, false, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL},
  };
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    lg_webhook_result res;
    lg_decision d;
    lg_time now = at(T0, (int)i);
    judge(cases[i].fixture, now, NULL, &res);
    lg_decision_from_webhook(&res, LG_DECISION_SERVE, now, &d);
    const char *name = cases[i].fixture;
    if (d.usable != cases[i].usable || d.allowed != cases[i].allowed ||
        d.dry_run != cases[i].dry_run || d.n != cases[i].n || d.when != now ||
        d.source != LG_DECISION_SERVE || d.response != res.body || d.http_status != res.http_status)
      fail_msg("%s: usable %d allowed %d dryRun %d n %zu", name, d.usable, d.allowed, d.dry_run,
               d.n);
    if (cases[i].op && strcmp(str(d.operation), cases[i].op))
      fail_msg("%s: operation %s", name, str(d.operation));
    if (strcmp(str(d.ignored), str(cases[i].ignored)) || strcmp(str(d.kind), str(cases[i].kind)))
      fail_msg("%s: ignored %s kind %s", name, str(d.ignored), str(d.kind));
    if (cases[i].object_uid && (strcmp(str(d.object_uid), cases[i].object_uid) ||
                                strcmp(str(d.resource_version), cases[i].rv)))
      fail_msg("%s: object uid %s resourceVersion %s", name, str(d.object_uid),
               str(d.resource_version));
    if (d.usable && !d.ignored) {
      /* Who asked, and what, borrowed from the review. */
      assert_ptr_equal(d.request_uid, res.review.uid);
      assert_ptr_equal(d.groups, res.review.groups);
      assert_string_equal(d.namespace, res.review.namespace);
      assert_string_equal(d.name, res.review.name);
      assert_string_equal(d.username, res.review.requester.username);
      assert_true((d.old_lease != NULL) == res.review.has_old_object);
      assert_true((d.new_lease != NULL) == res.review.has_object);
    }
    for (size_t k = 0; k < d.n; k++) {
      const lg_finding *f = &res.verdict.findings[k];
      char prefix[600];
      assert_ptr_equal(d.findings[k].finding, f);
      assert_ptr_equal(d.findings[k].message, f->message);
      assert_int_equal(d.findings[k].rule, f->rule);
      assert_int_equal(d.findings[k].mode, f->mode);
      assert_true(d.mode >= f->mode);
      assert_true(d.findings[k].reason[0] != '\0');
      snprintf(prefix, sizeof prefix, "%s\n%s/%s\n%s\n", lg_rules_id(f->rule), d.namespace, d.name,
               d.findings[k].reason);
      if (strncmp(d.findings[k].key, prefix, strlen(prefix)))
        fail_msg("%s: key %s, want it to start with %s", name, d.findings[k].key, prefix);
    }
    if (d.n &&
        (d.findings[0].rule != cases[i].rule || strcmp(d.findings[0].reason, cases[i].reason)))
      fail_msg("%s: first finding %s/%s", name, lg_rules_id(d.findings[0].rule),
               d.findings[0].reason);
    lg_webhook_result_free(&res);
  }
}

/* The same violation judged at other moments has other messages and the same keys; another
 * writer or another rule is another key. */
static void test_stable_key(void **state) {
  lg_webhook_result a, b, c;
  lg_decision da, db, dc;
  (void)state;
  judge(STEAL, at(T0, 0), NULL, &a);
  judge(STEAL, at(T0, 3), NULL, &b);
  judge(STEAL, at(T0, 0), "system:serviceaccount:apps:web", &c);
  lg_decision_from_webhook(&a, LG_DECISION_SERVE, at(T0, 0), &da);
  lg_decision_from_webhook(&b, LG_DECISION_SERVE, at(T0, 3), &db);
  lg_decision_from_webhook(&c, LG_DECISION_SERVE, at(T0, 0), &dc);
  assert_int_equal(da.n, 2);
  assert_int_equal(db.n, 2);
  assert_int_equal(dc.n, 2);
  for (size_t k = 0; k < 2; k++) {
    assert_string_not_equal(da.findings[k].message, db.findings[k].message);
    assert_string_equal(da.findings[k].key, db.findings[k].key);
    assert_string_not_equal(da.findings[k].key, dc.findings[k].key);
  }
  assert_string_not_equal(da.findings[0].key, da.findings[1].key);
  lg_webhook_result_free(&a);
  lg_webhook_result_free(&b);
  lg_webhook_result_free(&c);
}

/* A Lease version as a watch or a recording gives it (new reference). */
static json_t *lease(const char *rv, const char *holder, const char *renew, int transitions) {
  return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:{s:s, s:i, s:s, s:s, s:i}}", "apiVersion",
                   "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name", "l", "namespace",
                   "ns", "uid", "uid-1", "resourceVersion", rv, "spec", "holderIdentity", holder,
                   "leaseDurationSeconds", 15, "acquireTime", renew, "renewTime", renew,
                   "leaseTransitions", transitions);
}

/* What a decision built from an audit change says; a steal seen at two moments (other
 * times in the message) keeps its key. */
static void test_from_audit(void **state) {
  static const char *const steals[] = {"2025-11-25T10:00:04.000000Z",
                                       "2025-11-25T10:00:07.000000Z"};
  char err[256], keys[2][LG_DECISION_KEY_MAX], messages[2][LG_MESSAGE_MAX];
  (void)state;
  for (size_t s = 0; s < 2; s++) {
    lg_audit *a = lg_audit_new(policy, LG_MODE_WARN);
    json_t *v1 = lease("1", "a", "2025-11-25T10:00:00.000000Z", 0);
    json_t *v2 = lease("2", "b", steals[s], 1);
    lg_audit_change c;
    lg_decision d;
    assert_non_null(a);
    assert_int_equal(lg_audit_observe(a, v1, false, NULL, &c, err, sizeof err), LG_OK);
    lg_audit_change_clear(&c);
    assert_int_equal(lg_audit_observe(a, v2, false, NULL, &c, err, sizeof err), LG_OK);
    lg_decision_from_audit(&c, s ? LG_DECISION_WATCH : LG_DECISION_FILE, &d);
    assert_int_equal(d.source, s ? LG_DECISION_WATCH : LG_DECISION_FILE);
    assert_true(d.usable);
    assert_int_equal(d.when, c.when);
    assert_string_equal(d.operation, "UPDATE");
    assert_string_equal(d.namespace, "ns");
    assert_string_equal(d.name, "l");
    assert_string_equal(d.object_uid, "uid-1");
    assert_string_equal(d.resource_version, "2");
    assert_string_equal(d.old_resource_version, "1");
    assert_string_equal(d.username, "");
    assert_null(d.request_uid);
    assert_null(d.response);
    assert_ptr_equal(d.old_lease, &c.old_lease);
    assert_ptr_equal(d.new_lease, &c.new_lease);
    assert_int_equal(d.n, c.verdict.n);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.findings[0].rule, LG_RULE_HOLDER_RENEW);
    assert_int_equal(d.findings[0].mode, LG_MODE_WARN);
    assert_int_equal(d.mode, LG_MODE_WARN);
    assert_string_equal(d.findings[0].reason, "taken-before-expiry");
    snprintf(keys[s], sizeof keys[s], "%s", d.findings[0].key);
    snprintf(messages[s], sizeof messages[s], "%s", d.findings[0].message);
    lg_audit_change_clear(&c);
    json_decref(v1);
    json_decref(v2);
    lg_audit_free(a);
  }
  assert_string_not_equal(messages[0], messages[1]);
  assert_string_equal(keys[0], keys[1]);
}

/* ---- sinks ---- */

typedef struct {
  char log[64];
  const lg_decision *seen[8];
  size_t n;
} calls;

typedef struct {
  calls *to;
  char id;
} recorder;

static void record(void *ctx, const lg_decision *d) {
  recorder *r = ctx;
  size_t len = strlen(r->to->log);
  r->to->log[len] = r->id;
  r->to->log[len + 1] = '\0';
  r->to->seen[r->to->n++] = d;
}

/* Each sink is told once, in the order given; a sink without emit is skipped. */
static void test_emit(void **state) {
  static const struct {
    const char *sinks; /* ids; '-' is a sink without emit */
    const char *want;
  } cases[] = {{"abc", "abc"}, {"cba", "cba"}, {"a-b", "ab"}, {"", ""}, {"a", "a"}};
  lg_decision d;
  (void)state;
  memset(&d, 0, sizeof d);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    calls got = {.n = 0};
    recorder r[8];
    lg_sink sinks[8];
    size_t n = strlen(cases[i].sinks);
    for (size_t k = 0; k < n; k++) {
      r[k] = (recorder){&got, cases[i].sinks[k]};
      sinks[k] = (lg_sink){cases[i].sinks[k] == '-' ? NULL : record, &r[k]};
    }
    lg_decision_emit(&d, sinks, n);
    if (strcmp(got.log, cases[i].want))
      fail_msg("sinks %s: told %s, want %s", cases[i].sinks, got.log, cases[i].want);
    for (size_t k = 0; k < got.n; k++)
      assert_ptr_equal(got.seen[k], &d);
  }
  lg_decision_emit(NULL, NULL, 3); /* nothing to tell: a no-op */
}

static void test_source_names(void **state) {
  (void)state;
  assert_string_equal(lg_decision_source_name(LG_DECISION_SERVE), "serve");
  assert_string_equal(lg_decision_source_name(LG_DECISION_CHECK), "check");
  assert_string_equal(lg_decision_source_name(LG_DECISION_FILE), "file");
  assert_string_equal(lg_decision_source_name(LG_DECISION_WATCH), "watch");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_from_webhook), cmocka_unit_test(test_stable_key),
      cmocka_unit_test(test_from_audit),   cmocka_unit_test(test_emit),
      cmocka_unit_test(test_source_names),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
