/* test_policy.c -- policy parsing, validation errors and resolution (src/policy.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "policy.h"

#define HEAD "\"apiVersion\":\"leaseguard.io/v1alpha1\",\"kind\":\"LeasePolicy\""

static lg_policy *parse_ok(const char *json) {
  lg_policy *p = NULL;
  char err[256] = "";
  lg_rc rc = lg_policy_parse(json, strlen(json), &p, err, sizeof err);
  if (rc)
    fail_msg("policy %s: %s", json, err);
  return p;
}

static void expect_modes(const lg_rule_config *c, lg_mode core, lg_mode recommended,
                         lg_mode identity, lg_mode del) {
  assert_int_equal(c->mode[LG_RULE_HOLDER_RENEW], core);
  assert_int_equal(c->mode[LG_RULE_TRANSITIONS], core);
  assert_int_equal(c->mode[LG_RULE_DURATION], core);
  assert_int_equal(c->mode[LG_RULE_RENEW_MONOTONIC], core);
  assert_int_equal(c->mode[LG_RULE_TIMESTAMPS], core);
  assert_int_equal(c->mode[LG_RULE_DURATION_RECOMMENDED], recommended);
  assert_int_equal(c->mode[LG_RULE_HOLDER_IDENTITY], identity);
  assert_int_equal(c->mode[LG_RULE_DELETE_HELD], del);
}

static void test_default_policy(void **state) {
  (void)state;
  lg_policy *p = NULL;
  lg_rule_config c;
  char err[256];
  assert_int_equal(lg_policy_default(&p, err, sizeof err), LG_OK);

  lg_policy_resolve(p, LG_MODE_INHERIT, "kube-system", "kube-scheduler", "system:kube-scheduler",
                    &c);
  expect_modes(&c, LG_MODE_ENFORCE, LG_MODE_WARN, LG_MODE_OFF, LG_MODE_ENFORCE);
  assert_int_equal(c.skew, 30 * LG_USEC_PER_SEC);
  assert_int_equal(c.min[LG_RULE_DURATION], 2);
  assert_int_equal(c.max[LG_RULE_DURATION], 3600);
  assert_int_equal(c.min[LG_RULE_DURATION_RECOMMENDED], 5);
  assert_int_equal(c.max[LG_RULE_DURATION_RECOMMENDED],
                   300); /* OpenShift's library-go: 137 s, 270 s */
  assert_int_equal(c.n_usernames[LG_RULE_DELETE_HELD], 3);
  assert_string_equal(c.usernames[LG_RULE_DELETE_HELD][0],
                      "system:serviceaccount:kube-system:generic-garbage-collector");
  assert_int_equal(c.n_controller_usernames, 1);
  assert_string_equal(c.controller_usernames[0], "system:apiserver");
  assert_null(c.exempt_reason);

  /* node heartbeats: recorded, never denied */
  lg_policy_resolve(p, LG_MODE_INHERIT, "kube-node-lease", "node-1", "system:node:node-1", &c);
  expect_modes(&c, LG_MODE_AUDIT, LG_MODE_AUDIT, LG_MODE_OFF, LG_MODE_AUDIT);

  /* apiserver identity leases (both namings) are not elections: no rule runs */
  lg_policy_resolve(p, LG_MODE_INHERIT, "kube-system", "apiserver-3xk2", "system:apiserver", &c);
  expect_modes(&c, LG_MODE_OFF, LG_MODE_OFF, LG_MODE_OFF, LG_MODE_OFF);
  lg_policy_resolve(p, LG_MODE_INHERIT, "kube-system",
                    "kube-apiserver-0c8a4b6e-9f3d-4a2b-8e1c-5d7f9a3b2c1e", "system:apiserver", &c);
  expect_modes(&c, LG_MODE_OFF, LG_MODE_OFF, LG_MODE_OFF, LG_MODE_OFF);
  /* ... only in kube-system */
  lg_policy_resolve(p, LG_MODE_INHERIT, "team", "apiserver-x", "u", &c);
  expect_modes(&c, LG_MODE_ENFORCE, LG_MODE_WARN, LG_MODE_OFF, LG_MODE_ENFORCE);

  /* --mode replaces defaultMode, not the modes overrides set */
  lg_policy_resolve(p, LG_MODE_WARN, "default", "my-operator", "u", &c);
  expect_modes(&c, LG_MODE_WARN, LG_MODE_WARN, LG_MODE_OFF, LG_MODE_WARN);
  lg_policy_resolve(p, LG_MODE_WARN, "kube-node-lease", "node-1", "u", &c);
  assert_int_equal(c.mode[LG_RULE_HOLDER_RENEW], LG_MODE_AUDIT);
  lg_policy_free(p);
}

/* The shipped file and the built-in policy are the same document. */
static void test_shipped_file_matches_builtin(void **state) {
  (void)state;
  lg_policy *a = NULL, *b = NULL;
  lg_rule_config ca, cb;
  char err[256];
  const char *where[][2] = {{"kube-system", "kube-controller-manager"},
                            {"kube-node-lease", "n1"},
                            {"kube-system", "apiserver-x"},
                            {"kube-system", "kube-apiserver-x"},
                            {"team", "op"}};
  assert_int_equal(lg_policy_load_file(LG_SOURCE_DIR "/policy/default.json", &a, err, sizeof err),
                   LG_OK);
  assert_int_equal(lg_policy_default(&b, err, sizeof err), LG_OK);
  for (size_t i = 0; i < 5; i++) {
    lg_policy_resolve(a, LG_MODE_INHERIT, where[i][0], where[i][1], "u", &ca);
    lg_policy_resolve(b, LG_MODE_INHERIT, where[i][0], where[i][1], "u", &cb);
    assert_memory_equal(ca.mode, cb.mode, sizeof ca.mode);
    assert_int_equal(ca.max[LG_RULE_DURATION_RECOMMENDED], cb.max[LG_RULE_DURATION_RECOMMENDED]);
    assert_int_equal(ca.skew, cb.skew);
    assert_int_equal(ca.n_usernames[LG_RULE_DELETE_HELD], cb.n_usernames[LG_RULE_DELETE_HELD]);
  }
  lg_policy_free(a);
  lg_policy_free(b);
}

/* policy/default.json states every rule of the table with the table's defaults: the file
 * people copy and the built-in values cannot drift apart. */
static void test_shipped_file_matches_table(void **state) {
  (void)state;
  char *text = lgt_read_file(LG_SOURCE_DIR "/policy/default.json", NULL);
  json_t *doc = json_loads(text, 0, NULL), *rules = json_object_get(doc, "rules");
  assert_non_null(rules);
  assert_int_equal(json_object_size(rules), LG_RULE_COUNT);
  for (int r = 0; r < LG_RULE_COUNT; r++) {
    const lg_rule_info *info = lg_rules_info((lg_rule)r);
    json_t *o = json_object_get(rules, info->id), *v;
    if (!o)
      fail_msg("policy/default.json has no rules.%s", info->id);
    v = json_object_get(o, "mode");
    if (info->default_mode != LG_MODE_INHERIT)
      assert_string_equal(json_string_value(v), lg_rules_mode_name(info->default_mode));
    else
      assert_null(v);
    if (info->params & LG_PARAM_RANGE) {
      assert_int_equal(json_integer_value(json_object_get(o, "minSeconds")), info->min);
      assert_int_equal(json_integer_value(json_object_get(o, "maxSeconds")), info->max);
    }
    v = json_object_get(o, "allowedUsernames");
    size_t n = 0;
    for (; info->usernames && info->usernames[n]; n++)
      assert_string_equal(json_string_value(json_array_get(v, n)), info->usernames[n]);
    assert_int_equal(json_array_size(v), n);
  }
  json_decref(doc);
  free(text);
}

static void test_minimal_policy(void **state) {
  (void)state;
  lg_policy *p = parse_ok("{" HEAD ",\"defaultMode\":\"warn\"}");
  lg_rule_config c;
  lg_policy_resolve(p, LG_MODE_INHERIT, "ns", "l", "u", &c);
  expect_modes(&c, LG_MODE_WARN, LG_MODE_WARN, LG_MODE_OFF, LG_MODE_WARN);
  assert_int_equal(c.max[LG_RULE_DURATION], 3600);
  lg_policy_free(p);
  /* built-in values for what a policy leaves out are the shipped ones */
  p = parse_ok("{" HEAD "}");
  lg_policy_resolve(p, LG_MODE_INHERIT, "ns", "l", "u", &c);
  expect_modes(&c, LG_MODE_ENFORCE, LG_MODE_WARN, LG_MODE_OFF, LG_MODE_ENFORCE);
  assert_int_equal(c.skew, 30 * LG_USEC_PER_SEC);
  assert_int_equal(c.n_usernames[LG_RULE_DELETE_HELD], 3);
  lg_policy_free(p);
  p = parse_ok(
      "{" HEAD
      ",\"rules\":{\"delete-held\":{\"mode\":\"warn\",\"allowedUsernames\":[\"ops:*\"]}}}");
  lg_policy_resolve(p, LG_MODE_INHERIT, "ns", "l", "u", &c);
  assert_int_equal(c.mode[LG_RULE_DELETE_HELD], LG_MODE_WARN);
  assert_int_equal(c.n_usernames[LG_RULE_DELETE_HELD], 1);
  assert_string_equal(c.usernames[LG_RULE_DELETE_HELD][0], "ops:*");
  lg_policy_free(p);
}

static void test_overrides_and_exemptions(void **state) {
  (void)state;
  lg_policy *p = parse_ok(
      "{" HEAD ",\"defaultMode\":\"enforce\",\"clockSkewSeconds\":2,"
      "\"rules\":{\"duration\":{\"maxSeconds\":600}},"
      "\"exempt\":{\"usernames\":[\"system:serviceaccount:break-glass:*\"],\"namespaces\":["
      "\"sandbox-*\"]},"
      "\"overrides\":["
      " {\"match\":{\"namespaces\":[\"team-*\"]},\"mode\":\"warn\",\"clockSkewSeconds\":10},"
      " {\"match\":{\"namespaces\":[\"team-a\"],\"names\":[\"db-*\"]},\"rules\":{"
      "   "
      "\"holder-identity\":{\"mode\":\"enforce\",\"allowedUsernames\":[\"system:serviceaccount:"
      "team-a:db\"]},"
      "   \"duration\":{\"minSeconds\":10}}}]}");
  lg_rule_config c;

  lg_policy_resolve(p, LG_MODE_INHERIT, "other", "x", "u", &c);
  expect_modes(&c, LG_MODE_ENFORCE, LG_MODE_WARN, LG_MODE_OFF, LG_MODE_ENFORCE);
  assert_int_equal(c.skew, 2 * LG_USEC_PER_SEC);
  assert_int_equal(c.max[LG_RULE_DURATION], 600);

  /* first override: a layer mode moves every rule that is on, and never turns one on */
  lg_policy_resolve(p, LG_MODE_INHERIT, "team-b", "x", "u", &c);
  expect_modes(&c, LG_MODE_WARN, LG_MODE_WARN, LG_MODE_OFF, LG_MODE_WARN);
  assert_int_equal(c.skew, 10 * LG_USEC_PER_SEC);

  /* both overrides match; the later one's rule settings apply on top */
  lg_policy_resolve(p, LG_MODE_INHERIT, "team-a", "db-main", "u", &c);
  expect_modes(&c, LG_MODE_WARN, LG_MODE_WARN, LG_MODE_ENFORCE, LG_MODE_WARN);
  assert_int_equal(c.min[LG_RULE_DURATION], 10);
  assert_int_equal(c.max[LG_RULE_DURATION], 600);
  assert_int_equal(c.n_usernames[LG_RULE_HOLDER_IDENTITY], 1);
  assert_string_equal(c.usernames[LG_RULE_HOLDER_IDENTITY][0], "system:serviceaccount:team-a:db");
  lg_policy_resolve(p, LG_MODE_INHERIT, "team-a", "cache", "u", &c);
  assert_int_equal(c.mode[LG_RULE_HOLDER_IDENTITY], LG_MODE_OFF);

  lg_policy_resolve(p, LG_MODE_INHERIT, "x", "y", "system:serviceaccount:break-glass:admin", &c);
  assert_non_null(c.exempt_reason);
  lg_policy_resolve(p, LG_MODE_INHERIT, "sandbox-1", "y", "u", &c);
  assert_non_null(c.exempt_reason);
  lg_policy_resolve(p, LG_MODE_INHERIT, "sandbox", "y", "u", &c);
  assert_null(c.exempt_reason);
  lg_policy_free(p);
}

typedef struct {
  const char *name, *json, *want; /* want: a substring of the error */
} bad_case;

static const bad_case bad[] = {
    {"not JSON", "{" HEAD ",", "not valid JSON"},
    {"not an object", "[]", "must be a JSON object"},
    {"wrong apiVersion", "{\"apiVersion\":\"v1\",\"kind\":\"LeasePolicy\"}", "apiVersion"},
    {"missing kind", "{\"apiVersion\":\"leaseguard.io/v1alpha1\"}", "kind"},
    {"typo in a top-level field", "{" HEAD ",\"defaultmode\":\"warn\"}",
     "defaultmode: unknown field"},
    {"unknown mode", "{" HEAD ",\"defaultMode\":\"block\"}", "defaultMode: must be one of"},
    {"unknown rule", "{" HEAD ",\"rules\":{\"holder-renw\":{}}}",
     "rules.holder-renw: unknown rule"},
    {"unknown rule field", "{" HEAD ",\"rules\":{\"transitions\":{\"max\":1}}}",
     "rules.transitions.max: unknown field"},
    {"rule not an object", "{" HEAD ",\"rules\":{\"transitions\":\"warn\"}}",
     "rules.transitions: must be an object"},
    {"min above max", "{" HEAD ",\"rules\":{\"duration\":{\"minSeconds\":60,\"maxSeconds\":10}}}",
     "rules.duration.minSeconds: 60 is above maxSeconds 10"},
    {"zero duration", "{" HEAD ",\"rules\":{\"duration\":{\"minSeconds\":0}}}",
     "rules.duration.minSeconds: must be an integer"},
    {"band that denies", "{" HEAD ",\"rules\":{\"duration-recommended\":{\"mode\":\"enforce\"}}}",
     "rules.duration-recommended.mode"},
    {"negative skew", "{" HEAD ",\"clockSkewSeconds\":-1}",
     "clockSkewSeconds: must be an integer from 0 to 300"},
    {"skew as a string", "{" HEAD ",\"clockSkewSeconds\":\"5\"}", "clockSkewSeconds"},
    {"override without match", "{" HEAD ",\"overrides\":[{\"mode\":\"audit\"}]}",
     "overrides[0].match: required"},
    {"override with empty match", "{" HEAD ",\"overrides\":[{\"match\":{}}]}",
     "overrides[0].match: give namespaces or names"},
    {"override namespaces not an array",
     "{" HEAD ",\"overrides\":[{\"match\":{\"namespaces\":\"kube-system\"}}]}",
     "overrides[0].match.namespaces: must be an array"},
    {"bad mode in the second override",
     "{" HEAD ",\"overrides\":[{\"match\":{\"names\":[\"a\"]}},{\"match\":{\"names\":[\"b\"]},"
     "\"rules\":{\"duration\":{\"mode\":\"deny\"}}}]}",
     "overrides[1].rules.duration.mode"},
    {"empty exempt username", "{" HEAD ",\"exempt\":{\"usernames\":[\"\"]}}",
     "exempt.usernames[0]: must be a non-empty string"},
    {"unknown exempt field", "{" HEAD ",\"exempt\":{\"groups\":[\"a\"]}}",
     "exempt.groups: unknown field"},
    {"duplicate keys", "{" HEAD ",\"defaultMode\":\"warn\",\"defaultMode\":\"enforce\"}",
     "duplicate"},
    /* Two overrides, each valid with the top level, that leave a lease both select no
     * duration at all: every write of kube-system/x-leader would be denied. */
    {"overrides combine into an empty range",
     "{" HEAD ",\"overrides\":["
     "{\"match\":{\"namespaces\":[\"kube-system\"]},\"rules\":{\"duration\":{\"minSeconds\":60}}},"
     "{\"match\":{\"names\":[\"*-leader\"]},\"rules\":{\"duration\":{\"maxSeconds\":30}}}]}",
     "overrides[0] and overrides[1] may select the same lease: rules.duration minSeconds 60 "
     "(overrides[0]) is above maxSeconds 30 (overrides[1])"},
    {"the same in the other order",
     "{" HEAD ",\"overrides\":["
     "{\"match\":{\"names\":[\"*-leader\"]},\"rules\":{\"duration\":{\"maxSeconds\":30}}},"
     "{\"match\":{\"namespaces\":[\"kube-system\"]},\"rules\":{\"duration\":{\"minSeconds\":60}}}]"
     "}",
     "minSeconds 60 (overrides[1]) is above maxSeconds 30 (overrides[0])"},
    {"a glob and a value it matches",
     "{" HEAD ",\"overrides\":["
     "{\"match\":{\"namespaces\":[\"kube-*\"]},\"rules\":{\"duration-recommended\":{\"minSeconds\":"
     "30}}},"
     "{\"match\":{\"namespaces\":[\"other\",\"kube-system\"]},\"rules\":{\"duration-recommended\":{"
     "\"maxSeconds\":10}}}]}",
     "rules.duration-recommended minSeconds 30 (overrides[0]) is above maxSeconds 10 "
     "(overrides[1])"},
    {"the later override's own range does not cover both bounds",
     "{" HEAD ",\"overrides\":["
     "{\"match\":{\"namespaces\":[\"kube-system\"]},\"rules\":{\"duration\":{\"minSeconds\":60,"
     "\"maxSeconds\":120}}},"
     "{\"match\":{\"names\":[\"*-leader\"]},\"rules\":{\"duration\":{\"maxSeconds\":30}}}]}",
     "minSeconds 60 (overrides[0]) is above maxSeconds 30 (overrides[1])"},
};

static void test_invalid_policies(void **state) {
  (void)state;
  int failures = 0;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    lg_policy *p = (lg_policy *)&failures; /* must be reset to NULL */
    char err[256] = "";
    lg_rc rc = lg_policy_parse(bad[i].json, strlen(bad[i].json), &p, err, sizeof err);
    if (rc != LG_EPOLICY || p != NULL || !strstr(err, bad[i].want)) {
      print_error("case \"%s\": rc %d, error \"%s\", want \"%s\"\n", bad[i].name, rc, err,
                  bad[i].want);
      failures++;
      if (rc == LG_OK)
        lg_policy_free(p);
    }
  }
  assert_int_equal(failures, 0);
}

static void expect_duration(const lg_policy *p, const char *ns, const char *name, int64_t min,
                            int64_t max) {
  lg_rule_config c;
  lg_policy_resolve(p, LG_MODE_INHERIT, ns, name, "u", &c);
  assert_int_equal(c.min[LG_RULE_DURATION], min);
  assert_int_equal(c.max[LG_RULE_DURATION], max);
}

/* Overrides whose ranges would be empty together are fine when no lease can be selected
 * by both, or when the later one sets both bounds. */
static void test_override_pairs_accepted(void **state) {
  lg_policy *p;
  (void)state;
  p = parse_ok(
      "{" HEAD ",\"overrides\":["
      "{\"match\":{\"namespaces\":[\"team-a\"]},\"rules\":{\"duration\":{\"minSeconds\":60}}},"
      "{\"match\":{\"namespaces\":[\"team-b\",\"team-c\"]},\"rules\":{\"duration\":{\"maxSeconds\":"
      "30}}}]}");
  expect_duration(p, "team-a", "x", 60, 3600);
  expect_duration(p, "team-c", "x", 2, 30);
  lg_policy_free(p);
  p = parse_ok(
      "{" HEAD ",\"overrides\":["
      "{\"match\":{\"namespaces\":[\"kube-*\"]},\"rules\":{\"duration\":{\"minSeconds\":60}}},"
      "{\"match\":{\"namespaces\":[\"default\"],\"names\":[\"x\"]},\"rules\":{\"duration\":{"
      "\"maxSeconds\":30}}}]}");
  expect_duration(p, "kube-system", "x", 60, 3600);
  expect_duration(p, "default", "x", 2, 30);
  lg_policy_free(p);
  /* Same namespace, names that cannot meet. */
  p = parse_ok("{" HEAD ",\"overrides\":["
               "{\"match\":{\"namespaces\":[\"ns\"],\"names\":[\"slow-*\"]},\"rules\":{"
               "\"duration\":{\"minSeconds\":60}}},"
               "{\"match\":{\"namespaces\":[\"ns\"],\"names\":[\"fast\"]},\"rules\":{\"duration\":{"
               "\"maxSeconds\":30}}}]}");
  expect_duration(p, "ns", "slow-1", 60, 3600);
  expect_duration(p, "ns", "fast", 2, 30);
  lg_policy_free(p);
  /* The later override sets both bounds: it wins both for every lease it selects. */
  p = parse_ok(
      "{" HEAD ",\"overrides\":["
      "{\"match\":{\"names\":[\"*-leader\"]},\"rules\":{\"duration\":{\"maxSeconds\":30}}},"
      "{\"match\":{\"namespaces\":[\"kube-system\"]},\"rules\":{\"duration\":{\"minSeconds\":60,"
      "\"maxSeconds\":120}}}]}");
  expect_duration(p, "kube-system", "x-leader", 60, 120);
  expect_duration(p, "other", "x-leader", 2, 30);
  lg_policy_free(p);
}

static void test_load_file_errors(void **state) {
  (void)state;
  lg_policy *p = NULL;
  char err[256] = "";
  assert_int_equal(lg_policy_load_file("/nonexistent/policy.json", &p, err, sizeof err),
                   LG_EPOLICY);
  assert_null(p);
  assert_non_null(strstr(err, "/nonexistent/policy.json"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_default_policy),
      cmocka_unit_test(test_shipped_file_matches_builtin),
      cmocka_unit_test(test_shipped_file_matches_table),
      cmocka_unit_test(test_minimal_policy),
      cmocka_unit_test(test_overrides_and_exemptions),
      cmocka_unit_test(test_invalid_policies),
      cmocka_unit_test(test_override_pairs_accepted),
      cmocka_unit_test(test_load_file_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
