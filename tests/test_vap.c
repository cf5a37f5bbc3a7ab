/* test_vap.c -- the ValidatingAdmissionPolicy generator (src/vap.c), its CEL text (src/celtext.c)
 * and YAML (src/yamlemit.c). What the generated CEL decides is tested by tests/vap (a real CEL
 * implementation against the webhook); here: the text itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "celtext.h"
#include "policy.h"
#include "vap.h"
#include "yamlemit.h"

#define HEAD "\"apiVersion\":\"leaseguard.io/v1alpha1\",\"kind\":\"LeasePolicy\""

/* ---- globs -> CEL ------------------------------------------------------------------ */

static const struct {
  const char *glob, *cel; /* cel NULL: refused */
} glob_cases[] = {
    {"kube-system", "s == 'kube-system'"},
    {"it's", "s == 'it\\'s'"},
    {"a\\\\b", "s == 'a\\\\b'"},   /* glob a\\b: one backslash */
    {"\\*lit\\?", "s == '*lit?'"}, /* quoted wildcards are literal */
    {"line\nbreak", "s == 'line\\nbreak'"},
    {"apiserver-*", "s.startsWith('apiserver-')"},
    {"*-leader", "s.endsWith('-leader')"},
    {"*lock*", "s.contains('lock')"},
    {"*", "true"},
    {"***", "true"},
    {"a*b", "s.matches('(?s)^a.*b$')"},
    {"leader-?", "s.matches('(?s)^leader-.$')"},
    /* every RE2 metacharacter of a name is quoted: */
    {"weird(.*)+[ab]name\\*", "s.matches('(?s)^weird\\\\(\\\\..*\\\\)\\\\+[ab]name\\\\*$')"},
    {"a$^{}|?", "s.matches('(?s)^a\\\\$\\\\^\\\\{\\\\}\\\\|.$')"},
    {"x'y?", "s.matches('(?s)^x\\'y.$')"},
    {"[!a-c]x", "s.matches('(?s)^[^a-c]x$')"},
    {"[^a]", "s.matches('(?s)^[^a]$')"},
    {"[]a]", "s.matches('(?s)^[\\\\x5Da]$')"}, /* a leading ] is a member */
    {"[a-]", "s.matches('(?s)^[a\\\\x2D]$')"},
    {"[]-a]", "s.matches('(?s)^[\\\\x5D-a]$')"},
    {"[\\]]", "s.matches('(?s)^[\\\\x5D]$')"},
    {"[[:alpha:]_]*", "s.matches('(?s)^[[:alpha:]\\\\x5F].*$')"},
    {"[[=a=][.b.]]", "s.matches('(?s)^[ab]$')"},
    {"[z-a]", "false"}, /* an empty range: matches nothing */
    {"tmp-[z-a]*", "false"},
    {"[!z-a]", "s.matches('(?s)^.$')"},
    {"é*", "s.startsWith('é')"},
    {"x\\", NULL}, /* fnmatch never matches these */
    {"[ab", NULL},
    {"ops[", NULL},
    {"[é]", NULL}, /* one byte to fnmatch, one char to RE2 */
    {"[[:bogus:]]", NULL},
    {"[a-[:alpha:]]", NULL},
    {"[[=ab=]]", NULL},
};

static void test_globs(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof glob_cases / sizeof glob_cases[0]; i++) {
    lg_cel_buf b = {0};
    char err[256] = "";
    lg_rc rc = lg_cel_add_glob(&b, "s", glob_cases[i].glob, err, sizeof err);
    if (!glob_cases[i].cel) {
      if (rc != LG_EPOLICY || !strstr(err, glob_cases[i].glob))
        fail_msg("glob %s: want refused naming it, got rc %d, %s, err %s", glob_cases[i].glob, rc,
                 b.s ? b.s : "", err);
    } else if (rc != LG_OK || strcmp(b.s, glob_cases[i].cel) != 0) {
      fail_msg("glob %s: want %s, got rc %d: %s (%s)", glob_cases[i].glob, glob_cases[i].cel, rc,
               b.s ? b.s : "", err);
    }
    free(b.s);
  }
}

static void test_cel_string(void **state) {
  (void)state;
  lg_cel_buf b = {0};
  lg_cel_add_string(&b, "a'b\\c\nd\te\x7f\xc3\xa9");
  assert_string_equal(b.s, "'a\\'b\\\\c\\nd\\u0009e\\u007f\xc3\xa9'");
  free(b.s);
}

/* ---- YAML -------------------------------------------------------------------------- */

static void test_yaml(void **state) {
  (void)state;
  static const struct {
    const char *json, *yaml;
  } cases[] = {
      {"{\"a\":\"plain\",\"b\":\"on\",\"c\":\"1.30\",\"d\":\"a: b\",\"e\":\"\"}",
       "a: plain\nb: \"on\"\nc: \"1.30\"\nd: \"a: b\"\ne: \"\"\n"},
      {"{\"x\":\"q\\\"s\\\\l\\nn\\u0001\\u2028\\u0085\"}", "x: \"q\\\"s\\\\l\\nn\\x01\\L\\N\"\n"},
      {"{\"k.io/x\":[1,true,null,{\"a\":\"b\",\"c\":[\"d\"]}],\"e\":{},\"f\":[]}",
       "k.io/x:\n  - 1\n  - true\n  - null\n  - a: b\n    c:\n      - d\ne: {}\nf: []\n"},
      {"[{\"name\":\"x\",\"expression\":\"a == 'b'\"}]", "- name: x\n  expression: \"a == 'b'\"\n"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_t *v = json_loads(cases[i].json, 0, NULL);
    char *y = v ? lg_yaml_dump(v) : NULL;
    if (!y || strcmp(y, cases[i].yaml) != 0)
      fail_msg("case %zu: want\n%s\ngot\n%s", i, cases[i].yaml, y ? y : "(null)");
    free(y);
    json_decref(v);
  }
}

/* ---- the objects ------------------------------------------------------------------- */

static json_t *build(const char *policy_json, lg_mode mode, lg_rc want, const char *want_err) {
  lg_policy *p = NULL;
  json_t *items = NULL;
  char err[512] = "";
  lg_vap_options opt = {"lg", mode, "Fail", LG_VAP_JSON};
  lg_rc rc = policy_json ? lg_policy_parse(policy_json, strlen(policy_json), &p, err, sizeof err)
                         : lg_policy_default(&p, err, sizeof err);
  if (rc)
    fail_msg("policy: %s", err);
  rc = lg_vap_build(p, &opt, &items, err, sizeof err);
  if (rc != want || (want_err && !strstr(err, want_err)))
    fail_msg("build: want rc %d (%s), got %d: %s", want, want_err ? want_err : "", rc, err);
  if (want)
    assert_null(items);
  lg_policy_free(p);
  return items;
}

static const char *var(const json_t *vap, const char *name) {
  size_t i;
  const json_t *v;
  json_array_foreach(json_object_get(json_object_get(vap, "spec"), "variables"), i,
                     v) if (strcmp(json_string_value(json_object_get(v, "name")), name) ==
                            0) return json_string_value(json_object_get(v, "expression"));
  return NULL;
}

static const char *const ids[] = {"holder-renew",         "transitions",     "duration",
                                  "duration-recommended", "renew-monotonic", "timestamps",
                                  "holder-identity"};

/* Modes -> actions: one policy and binding per mode, each rule guarded by its mode. */
static void test_modes_to_actions(void **state) {
  (void)state;
  static const char *const modes[] = {"enforce", "warn", "audit"}, *const actions[] = {
                                                                       "Deny", "Warn", "Audit"};
  json_t *items = build(NULL, LG_MODE_INHERIT, LG_OK, NULL);
  char want[256];
  assert_int_equal(json_array_size(items), 6);
  for (size_t a = 0; a < 3; a++) {
    const json_t *vap = json_array_get(items, 2 * a), *bind = json_array_get(items, 2 * a + 1);
    const json_t *spec = json_object_get(vap, "spec"), *v;
    size_t i;
    snprintf(want, sizeof want, "lg-%s", modes[a]);
    assert_string_equal(json_string_value(json_object_get(vap, "kind")),
                        "ValidatingAdmissionPolicy");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(vap, "metadata"), "name")), want);
    assert_string_equal(json_string_value(json_object_get(bind, "kind")),
                        "ValidatingAdmissionPolicyBinding");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(bind, "spec"), "policyName")), want);
    assert_string_equal(
        json_string_value(
            json_array_get(json_object_get(json_object_get(bind, "spec"), "validationActions"), 0)),
        actions[a]);
    assert_string_equal(json_string_value(json_object_get(spec, "failurePolicy")), "Fail");
    assert_int_equal(json_array_size(json_object_get(spec, "validations")), 7);
    json_array_foreach(json_object_get(spec, "validations"), i, v) {
      snprintf(want, sizeof want, "variables.mode['%s'] != '%s' || !variables.", ids[i], modes[a]);
      assert_non_null(strstr(json_string_value(json_object_get(v, "expression")), want));
      assert_string_equal(json_string_value(json_object_get(v, "reason")), "Forbidden");
    }
  }
  /* the built-in policy: enforce but the band (warn) and holder-identity (off); node leases
   * audited (off stays off), apiserver identity leases off */
  assert_string_equal(
      var(json_array_get(items, 0), "m0"),
      "{'holder-renew': 'enforce', 'transitions': 'enforce', 'duration': 'enforce', "
      "'duration-recommended': 'warn', 'renew-monotonic': 'enforce', 'timestamps': "
      "'enforce', 'holder-identity': 'off'}");
  assert_non_null(strstr(var(json_array_get(items, 0), "m1"),
                         "variables.override0 ? {'holder-renew': variables.m0['holder-renew'] == "
                         "'off' ? 'off' : 'audit'"));
  assert_string_equal(var(json_array_get(items, 0), "override1"),
                      "(variables.leaseNamespace == 'kube-system') && "
                      "(variables.leaseName.startsWith('apiserver-') || "
                      "variables.leaseName.startsWith('kube-apiserver-'))");
  json_decref(items);
  /* --mode replaces the defaultMode only: the band stays warn, holder-identity off */
  items = build(NULL, LG_MODE_AUDIT, LG_OK, NULL);
  assert_string_equal(var(json_array_get(items, 0), "m0"),
                      "{'holder-renew': 'audit', 'transitions': 'audit', 'duration': 'audit', "
                      "'duration-recommended': 'warn', 'renew-monotonic': 'audit', 'timestamps': "
                      "'audit', 'holder-identity': 'off'}");
  json_decref(items);
}

/* Overrides: selectors, the layer steps (rule modes, layer modes, enforce of the band),
 * and settings chained per override. */
static void test_overrides(void **state) {
  (void)state;
  json_t *items =
      build("{" HEAD ",\"defaultMode\":\"warn\",\"rules\":{\"duration\":{\"minSeconds\":4}},"
            "\"overrides\":[{\"match\":{\"names\":[\"a.b\"]},\"clockSkewSeconds\":5,"
            "\"rules\":{\"duration\":{\"maxSeconds\":100}}},"
            "{\"match\":{\"namespaces\":[\"team-*\"]},\"mode\":\"enforce\","
            "\"rules\":{\"transitions\":{\"mode\":\"audit\"}}},"
            "{\"match\":{\"namespaces\":[\"x\"]},\"name\":\"a note only\"}]}",
            LG_MODE_INHERIT, LG_OK, NULL);
  const json_t *vap = json_array_get(items, 0);
  assert_string_equal(var(vap, "override0"), "(variables.leaseName == 'a.b')");
  assert_string_equal(var(vap, "override1"), "(variables.leaseNamespace.startsWith('team-'))");
  assert_null(var(vap, "override2")); /* changes nothing: no variable */
  assert_string_equal(var(vap, "skewSeconds"), "variables.override0 ? 5 : (30)");
  assert_string_equal(var(vap, "durationMin"), "4");
  assert_string_equal(var(vap, "durationMax"), "variables.override0 ? 100 : (3600)");
  assert_string_equal(var(vap, "mode"),
                      "variables.override1 ? {'holder-renew': variables.m0['holder-renew'] == "
                      "'off' ? 'off' : 'enforce', 'transitions': 'audit', 'duration': "
                      "variables.m0['duration'] == 'off' ? 'off' : 'enforce', "
                      "'duration-recommended': variables.m0['duration-recommended'] == 'off' ? "
                      "'off' : 'warn', 'renew-monotonic': variables.m0['renew-monotonic'] == 'off' "
                      "? 'off' : 'enforce', 'timestamps': variables.m0['timestamps'] == 'off' ? "
                      "'off' : 'enforce', 'holder-identity': variables.m0['holder-identity'] == "
                      "'off' ? 'off' : 'enforce'} : variables.m0");
  json_decref(items);
  /* a glob fnmatch reads in a way no regex states is refused, naming where it is */
  build("{" HEAD ",\"overrides\":[{\"match\":{\"names\":[\"ok\",\"bad[\"]},\"mode\":\"audit\"}]}",
        LG_MODE_INHERIT, LG_EPOLICY, "overrides[0].match.names[1]: glob \"bad[\"");
}

/* Exemptions -> matchConditions; unchanged specs are never judged. */
static void test_exemptions(void **state) {
  (void)state;
  json_t *items = build("{" HEAD ",\"exempt\":{\"usernames\":[\"system:serviceaccount:ops:*\","
                        "\"root\"],\"namespaces\":[\"sandbox-?\"]},"
                        "\"coordinatedElection\":{\"controllerUsernames\":[\"ctl-*\"]}}",
                        LG_MODE_INHERIT, LG_OK, NULL);
  const json_t *mc =
      json_object_get(json_object_get(json_array_get(items, 2), "spec"), "matchConditions");
  assert_int_equal(json_array_size(mc), 3);
  assert_string_equal(json_string_value(json_object_get(json_array_get(mc, 0), "name")),
                      "spec-changed");
  assert_string_equal(json_string_value(json_object_get(json_array_get(mc, 1), "name")),
                      "not-exempt-user");
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(mc, 1), "expression")),
      "!((has(request.userInfo.username) ? request.userInfo.username : '')"
      ".startsWith('system:serviceaccount:ops:') || (has(request.userInfo.username) "
      "? request.userInfo.username : '') == 'root')");
  assert_string_equal(
      json_string_value(json_object_get(json_array_get(mc, 2), "expression")),
      "!((has(request.namespace) ? request.namespace : '').matches('(?s)^sandbox-.$'))");
  assert_string_equal(var(json_array_get(items, 0), "controller"),
                      "(variables.oldStrategy || variables.newStrategy) && "
                      "(variables.user.startsWith('ctl-'))");
  json_decref(items);
  items = build(NULL, LG_MODE_INHERIT, LG_OK, NULL); /* none: only spec-changed */
  assert_int_equal(json_array_size(json_object_get(
                       json_object_get(json_array_get(items, 0), "spec"), "matchConditions")),
                   1);
  json_decref(items);
}

/* Messages "[rule] ns/name: …" in messageExpression and audit annotations keyed by rule id. */
static void test_messages(void **state) {
  (void)state;
  json_t *items = build(NULL, LG_MODE_INHERIT, LG_OK, NULL);
  const json_t *spec = json_object_get(json_array_get(items, 4), "spec"), *v;
  char want[128];
  size_t i;
  json_array_foreach(json_object_get(spec, "validations"), i, v) {
    const char *m = json_string_value(json_object_get(v, "messageExpression"));
    const char *a = json_string_value(
        json_object_get(json_array_get(json_object_get(spec, "auditAnnotations"), i), "key"));
    assert_string_equal(a, ids[i]);
    assert_true(strncmp(m, "variables.", 10) == 0);
    snprintf(want, sizeof want, "'[%s] ' + variables.lease + ': ' + (", ids[i]);
    if (strncmp(var(json_array_get(items, 4), m + 10), want, strlen(want)) != 0)
      fail_msg("%s: message %s does not start with %s", ids[i],
               var(json_array_get(items, 4), m + 10), want);
    snprintf(want, sizeof want, "[%s] ", ids[i]);
    assert_true(strncmp(json_string_value(json_object_get(v, "message")), want, strlen(want)) == 0);
    snprintf(want, sizeof want, "variables.mode['%s'] == 'audit' && variables.", ids[i]);
    assert_non_null(strstr(
        json_string_value(json_object_get(
            json_array_get(json_object_get(spec, "auditAnnotations"), i), "valueExpression")),
        want));
  }
  assert_string_equal(var(json_array_get(items, 4), "lease"),
                      "variables.leaseNamespace + '/' + variables.leaseName");
  json_decref(items);
}

/* The chart's template: Helm expressions where values decide, nothing else Helm would read. */
static void test_helm(void **state) {
  (void)state;
  lg_policy *p = NULL;
  char err[256], *text = NULL;
  lg_vap_options opt = {"ignored", LG_MODE_INHERIT, "Fail", LG_VAP_HELM};
  const char *bad = "{" HEAD ",\"exempt\":{\"usernames\":[\"{{ .Release.Name }}\"]}}";
  assert_int_equal(lg_policy_default(&p, err, sizeof err), LG_OK);
  assert_int_equal(lg_vap_render(p, &opt, &text, err, sizeof err), LG_OK);
  assert_non_null(strstr(text, "{{- if .Values.vap.enabled }}"));
  assert_non_null(strstr(text, "name: \"{{ $fullname }}-enforce\""));
  assert_non_null(strstr(text, "failurePolicy: {{ .Values.vap.failurePolicy }}"));
  assert_non_null(strstr(text, "{'holder-renew': '{{ $mode }}', 'transitions': '{{ $mode }}'"));
  assert_non_null(strstr(text, "'duration-recommended': 'warn'"));
  assert_non_null(strstr(text, "{{- include \"leaseguard.commonLabels\" . | nindent 4 }}"));
  assert_null(strstr(text, "@@LG_"));
  free(text);
  lg_policy_free(p);
  assert_int_equal(lg_policy_parse(bad, strlen(bad), &p, err, sizeof err), LG_OK);
  assert_int_equal(lg_vap_render(p, &opt, &text, err, sizeof err), LG_EPOLICY);
  assert_null(text);
  lg_policy_free(p);
}

static void test_names(void **state) {
  (void)state;
  static const char *const good[] = {"leaseguard", "a", "lg.example.com", "x-1"};
  static const char *const bad[] = {"",     "Leaseguard", "a_b", "-a", "a-",
                                    "a..b", "a.-b",       "a b", NULL};
  char long_name[300];
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    assert_true(lg_vap_name_ok(good[i]));
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (lg_vap_name_ok(bad[i]))
      fail_msg("name \"%s\" accepted", bad[i] ? bad[i] : "(null)");
  memset(long_name, 'a', sizeof long_name);
  long_name[245] = '\0';
  assert_true(lg_vap_name_ok(long_name));
  long_name[245] = 'a';
  long_name[246] = '\0';
  assert_false(lg_vap_name_ok(long_name));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_globs),     cmocka_unit_test(test_cel_string),
      cmocka_unit_test(test_yaml),      cmocka_unit_test(test_modes_to_actions),
      cmocka_unit_test(test_overrides), cmocka_unit_test(test_exemptions),
      cmocka_unit_test(test_messages),  cmocka_unit_test(test_helm),
      cmocka_unit_test(test_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
