/* vap.c -- the clock-free rules of a policy as ValidatingAdmissionPolicies (CEL) and bindings.
 *
 * One policy and binding per mode (enforce → Deny, warn → Warn, audit → Audit). Each policy
 * holds every clock-free rule; its validation fails when the rule is broken AND the rule
 * resolves to that policy's mode for the lease. The resolution of lg_policy_resolve is
 * written as CEL variables: the base settings (resolved by policy.c itself), then one step
 * per override that selects the lease (globs as CEL), in the policy's order. */
#include "vap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "celtext.h"
#include "yamlemit.h"

/* The sentinels of the chart template, replaced by Helm expressions after rendering. */
#define HELM_NAME    "@@LG_NAME@@"
#define HELM_MODE    "@@LG_MODE@@"
#define HELM_FAILURE "@@LG_FAILURE_POLICY@@"
#define HELM_LABELS  "@@LG_LABELS@@"

/* A rule CEL can judge: its variables and CEL (reading only variables.*). */
typedef struct {
  lg_rule rule;
  const char *var;      /* the violation (bool); <var>Message is its message */
  const char *violated; /* CEL: the rule is broken */
  const char *detail;   /* CEL: the message after "[rule] ns/name: " */
  const char *summary;  /* the static message, used when the messageExpression fails */
} vap_rule;

static const vap_rule vap_rules[] = {
    {LG_RULE_HOLDER_RENEW, "holderRenew",
     "variables.update && !variables.controller && variables.oldStrategy && "
     "variables.newStrategy && variables.oldHolder != '' && variables.newHolder != '' && "
     "variables.oldHolder != variables.newHolder",
     "'holder ' + variables.oldHolderText + ' -> ' + variables.newHolderText + ' by user ' + "
     "variables.userText + ': under coordinated leader election (strategy ' + "
     "variables.strategyText + ') only the election controller moves the holder'",
     "under coordinated leader election only the election controller moves the holder"},
    {LG_RULE_TRANSITIONS, "transitions",
     "variables.newTransitions < 0 || (variables.update && (variables.newHolder != '' && "
     "variables.oldHolder != variables.newHolder ? !(variables.newTransitions == "
     "variables.oldTransitions + 1 || (variables.controller && variables.newTransitions == "
     "variables.oldTransitions)) : variables.newTransitions != variables.oldTransitions))",
     "variables.newTransitions < 0 ? 'leaseTransitions is negative (' + "
     "string(variables.newTransitions) + ')' : variables.newHolder != '' && "
     "variables.oldHolder != variables.newHolder ? 'holder ' + variables.oldHolderText + ' -> ' "
     "+ variables.newHolderText + ' must set leaseTransitions to ' + "
     "string(variables.oldTransitions + 1) + ' (old + 1), got ' + "
     "string(variables.newTransitions) : 'leaseTransitions changed ' + "
     "string(variables.oldTransitions) + ' -> ' + string(variables.newTransitions) + ' without a "
     "new holder (holder ' + variables.oldHolderText + ' -> ' + variables.newHolderText + ')'",
     "leaseTransitions must be old + 1 on a new holder, unchanged otherwise, never negative"},
    {LG_RULE_DURATION, "duration",
     "variables.newHolder != '' && (!variables.hasNewDuration || variables.newDuration < "
     "variables.durationMin || variables.newDuration > variables.durationMax)",
     "!variables.hasNewDuration ? 'held lease has no leaseDurationSeconds (holder ' + "
     "variables.newHolderText + '): candidates would read 0 and take it over at once' : "
     "'leaseDurationSeconds ' + string(variables.newDuration) + ' is outside the allowed range ' "
     "+ string(variables.durationMin) + '..' + string(variables.durationMax) + 's (holder ' + "
     "variables.newHolderText + ')'",
     "a held lease needs a leaseDurationSeconds within the allowed range"},
    {LG_RULE_DURATION_RECOMMENDED, "durationRecommended",
     "variables.newHolder != '' && variables.hasNewDuration && variables.newDuration >= "
     "variables.durationMin && variables.newDuration <= variables.durationMax && "
     "(variables.newDuration < variables.recommendedMin || variables.newDuration > "
     "variables.recommendedMax) && !(variables.oldHolder == variables.newHolder && "
     "variables.hasOldDuration && variables.oldDuration == variables.newDuration)",
     "'leaseDurationSeconds ' + string(variables.newDuration) + ' is outside the recommended ' + "
     "string(variables.recommendedMin) + '..' + string(variables.recommendedMax) + 's (holder ' "
     "+ variables.newHolderText + ')'",
     "leaseDurationSeconds is outside the recommended range"},
    {LG_RULE_RENEW_MONOTONIC, "renewMonotonic",
     "variables.update && variables.newHolder != '' && variables.oldHolder == "
     "variables.newHolder && !variables.controller && (variables.renewBack || "
     "variables.acquireChanged)",
     "'holder ' + variables.newHolderText + ': ' + (variables.renewBack ? 'renewTime moved "
     "backwards ' + string(oldObject.spec.renewTime) + ' -> ' + string(object.spec.renewTime) + "
     "' (more than the ' + string(variables.skewSeconds) + 's skew)' : '') + "
     "(variables.renewBack && variables.acquireChanged ? '; ' : '') + (variables.acquireChanged "
     "? 'acquireTime changed ' + string(oldObject.spec.acquireTime) + ' -> ' + "
     "(variables.hasNewAcquire ? string(object.spec.acquireTime) : 'null') : '')",
     "the same holder moved renewTime back by more than the skew or changed acquireTime"},
    {LG_RULE_TIMESTAMPS, "timestamps",
     "variables.newHolder != '' && (!variables.hasNewRenew || (variables.hasNewAcquire && "
     "timestamp(string(object.spec.renewTime)) < timestamp(string(object.spec.acquireTime)) - "
     "variables.skew))",
     "'holder ' + variables.newHolderText + ': ' + (!variables.hasNewRenew ? 'held lease has no "
     "renewTime' : 'renewTime ' + string(object.spec.renewTime) + ' is before acquireTime ' + "
     "string(object.spec.acquireTime))",
     "a held lease needs a renewTime, not before acquireTime by more than the skew"},
    {LG_RULE_HOLDER_IDENTITY, "holderIdentity",
     "!variables.userAllowed || (variables.identityHolder != '' && !variables.controller && "
     "!variables.identityOfPod)",
     "!variables.userAllowed ? 'user ' + variables.userText + ' is not allowed to write this "
     "lease' : (variables.newHolder != '' ? 'renew or acquire' : 'release') + ' for holder ' + "
     "variables.identityHolderText + (variables.hasPod ? ' came from pod ' + variables.podText + "
     "' (user ' + variables.userText + ')' : ' by user ' + variables.userText + ' carries no pod "
     "name (not a bound service-account token)')",
     "the writer is not the holder's pod or not an allowed user"},
};
#define N_VAP_RULES (sizeof vap_rules / sizeof vap_rules[0])

/* What each lease's writes show, read only through has() so that an absent field is never
 * an error; oldObject only after variables.update (it is null on CREATE). */
static const char *const field_vars[][2] = {
    {"update", "oldObject != null"},
    {"newHolder",
     "has(object.spec) && has(object.spec.holderIdentity) ? object.spec.holderIdentity : ''"},
    {"oldHolder", "variables.update && has(oldObject.spec) && has(oldObject.spec.holderIdentity) "
                  "? oldObject.spec.holderIdentity : ''"},
    {"newTransitions",
     "has(object.spec) && has(object.spec.leaseTransitions) ? object.spec.leaseTransitions : 0"},
    {"oldTransitions",
     "variables.update && has(oldObject.spec) && "
     "has(oldObject.spec.leaseTransitions) ? oldObject.spec.leaseTransitions : 0"},
    {"newStrategy", "has(object.spec) && has(object.spec.strategy)"},
    {"oldStrategy", "variables.update && has(oldObject.spec) && has(oldObject.spec.strategy)"},
    {"hasNewDuration", "has(object.spec) && has(object.spec.leaseDurationSeconds)"},
    {"newDuration", "variables.hasNewDuration ? object.spec.leaseDurationSeconds : 0"},
    {"hasOldDuration",
     "variables.update && has(oldObject.spec) && has(oldObject.spec.leaseDurationSeconds)"},
    {"oldDuration", "variables.hasOldDuration ? oldObject.spec.leaseDurationSeconds : 0"},
    {"hasNewRenew", "has(object.spec) && has(object.spec.renewTime)"},
    {"hasOldRenew", "variables.update && has(oldObject.spec) && has(oldObject.spec.renewTime)"},
    {"hasNewAcquire", "has(object.spec) && has(object.spec.acquireTime)"},
    {"hasOldAcquire", "variables.update && has(oldObject.spec) && has(oldObject.spec.acquireTime)"},
    {"skew", "duration(string(variables.skewSeconds) + 's')"},
    /* renew-monotonic: renewTime back by more than skew (not under coordinated election,
     * whose old stamp may be the controller's clock), or acquireTime changed. */
    {"renewBack", "!variables.oldStrategy && variables.hasOldRenew && variables.hasNewRenew && "
                  "timestamp(string(object.spec.renewTime)) < "
                  "timestamp(string(oldObject.spec.renewTime)) - variables.skew"},
    {"acquireChanged", "variables.hasOldAcquire && (!variables.hasNewAcquire || "
                       "timestamp(string(object.spec.acquireTime)) != "
                       "timestamp(string(oldObject.spec.acquireTime)))"},
    /* holder-identity: the pod of a bound service-account token. */
    {"hasPod", "has(request.userInfo.extra) && 'authentication.kubernetes.io/pod-name' in "
               "request.userInfo.extra && "
               "size(request.userInfo.extra['authentication.kubernetes.io/pod-name']) > 0"},
    {"pod", "variables.hasPod ? "
            "request.userInfo.extra['authentication.kubernetes.io/pod-name'][0] : ''"},
    {"identityHolder", "variables.newHolder != '' ? variables.newHolder : variables.oldHolder"},
    /* client-go's identity is <hostname>_<uuid>; a pod's hostname is its name cut to 63
     * characters, trailing '-' and '.' dropped: k is the length of that hostname. */
    {"identityOfPod",
     "size(variables.pod) > 0 && (variables.identityHolder == variables.pod || "
     "variables.identityHolder.startsWith(variables.pod + '_')) || size(variables.pod) > 63 && "
     "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, "
     "25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, "
     "48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63].exists(k, "
     "!(variables.pod.substring(k - 1, k) in ['-', '.']) && "
     "variables.pod.substring(k, 63).matches('^[-.]*$') && (variables.identityHolder == "
     "variables.pod.substring(0, k) || variables.identityHolder.startsWith("
     "variables.pod.substring(0, k) + '_')))"},
};

/* Strings quoted into messages: at most 128 characters, on one line (the API server drops a
 * message with a line break). */
#define CLIP(x)                                                      \
  "'\"' + (size(" x ") > 128 ? " x ".substring(0, 125) + '...' : " x \
  ").replace('\\n', ' ').replace('\\r', ' ') + '\"'"
static const char *const text_vars[][2] = {
    {"newHolderText", CLIP("variables.newHolder")},
    {"oldHolderText", CLIP("variables.oldHolder")},
    {"identityHolderText", CLIP("variables.identityHolder")},
    {"userText", CLIP("variables.user")},
    {"podText", CLIP("variables.pod")},
    {"strategyText", "variables.newStrategy ? " CLIP("string(object.spec.strategy)") " : ''"},
};

static const char *const action_of[LG_VAP_ACTIONS] = {"Deny", "Warn", "Audit"};
static const lg_mode mode_of[LG_VAP_ACTIONS] = {LG_MODE_ENFORCE, LG_MODE_WARN, LG_MODE_AUDIT};

/* The generator's state: what it read from the policy, and the variables built so far. */
typedef struct {
  const json_t *doc;
  const lg_vap_options *opt;
  bool helm;
  lg_rule_config base;    /* base settings (the policy without overrides and exemptions) */
  lg_policy *base_policy; /* owns the strings base borrows */
  bool follows_default[LG_RULE_COUNT]; /* the rule's base mode is the defaultMode */
  bool selected[256];                  /* override i has a variable (it changes a setting) */
  json_t *vars;
  char *err;
  size_t errlen;
} gen;

static lg_rc add_var(gen *g, const char *name, lg_cel_buf *expr) {
  json_t *v;
  if (expr->oom)
    return LG_ENOMEM;
  v = json_pack("{s:s, s:s}", "name", name, "expression", expr->s);
  return v && !json_array_append_new(g->vars, v) ? LG_OK : LG_ENOMEM;
}

static lg_rc add_static_var(gen *g, const char *name, const char *expr) {
  lg_cel_buf b = {0};
  lg_rc rc;
  lg_cel_add(&b, expr);
  rc = add_var(g, name, &b);
  free(b.s);
  return rc;
}

/* Appends "(g1 || g2 …)" for the globs of a JSON array (or of a C array when arr is NULL). */
static lg_rc add_globs(gen *g, lg_cel_buf *b, const char *subject, const json_t *arr,
                       const char *const *globs, size_t n, const char *where) {
  char detail[256];
  lg_rc rc = LG_OK;
  if (arr)
    n = json_array_size(arr);
  if (n == 0) {
    lg_cel_add(b, "false");
    return LG_OK;
  }
  lg_cel_add(b, "(");
  for (size_t i = 0; i < n && !rc; i++) {
    const char *glob = arr ? json_string_value(json_array_get(arr, i)) : globs[i];
    lg_cel_add(b, i ? " || " : "");
    if ((rc = lg_cel_add_glob(b, subject, glob, detail, sizeof detail)) == LG_EPOLICY)
      lg_fail(g->err, g->errlen, rc, "%s[%zu]: %s", where, i, detail);
  }
  lg_cel_add(b, ")");
  return rc ? rc : b->oom ? LG_ENOMEM : LG_OK;
}

static const json_t *override_at(const gen *g, size_t i) {
  return json_array_get(json_object_get(g->doc, "overrides"), i);
}

static const json_t *rule_field(const json_t *layer, lg_rule r, const char *key) {
  return json_object_get(json_object_get(json_object_get(layer, "rules"), lg_rules_id(r)), key);
}

static bool sets_mode(const json_t *o) {
  if (json_object_get(o, "mode"))
    return true;
  for (size_t k = 0; k < N_VAP_RULES; k++)
    if (rule_field(o, vap_rules[k].rule, "mode"))
      return true;
  return false;
}

static bool sets_param(const json_t *o) {
  return json_object_get(o, "clockSkewSeconds") || rule_field(o, LG_RULE_DURATION, "minSeconds") ||
         rule_field(o, LG_RULE_DURATION, "maxSeconds") ||
         rule_field(o, LG_RULE_DURATION_RECOMMENDED, "minSeconds") ||
         rule_field(o, LG_RULE_DURATION_RECOMMENDED, "maxSeconds") ||
         rule_field(o, LG_RULE_HOLDER_IDENTITY, "allowedUsernames");
}

/* override<i>: does override i select this lease (namespace and name globs)? */
static lg_rc selector_vars(gen *g) {
  size_t n = json_array_size(json_object_get(g->doc, "overrides"));
  char name[32], where[64];
  lg_rc rc = LG_OK;
  if (n > sizeof g->selected / sizeof g->selected[0])
    return lg_fail(g->err, g->errlen, LG_EPOLICY, "overrides: at most %zu can be expressed",
                   sizeof g->selected / sizeof g->selected[0]);
  for (size_t i = 0; i < n && !rc; i++) {
    const json_t *o = override_at(g, i), *match = json_object_get(o, "match");
    const json_t *nss = json_object_get(match, "namespaces"),
                 *names = json_object_get(match, "names");
    lg_cel_buf b = {0};
    if (!sets_mode(o) && !sets_param(o))
      continue;
    g->selected[i] = true;
    snprintf(where, sizeof where, "overrides[%zu].match.namespaces", i);
    if (nss)
      rc = add_globs(g, &b, "variables.leaseNamespace", nss, NULL, 0, where);
    snprintf(where, sizeof where, "overrides[%zu].match.names", i);
    if (!rc && names) {
      lg_cel_add(&b, nss ? " && " : "");
      rc = add_globs(g, &b, "variables.leaseName", names, NULL, 0, where);
    }
    snprintf(name, sizeof name, "override%zu", i);
    if (!rc)
      rc = add_var(g, name, &b);
    free(b.s);
  }
  return rc;
}

/* The mode a layer gives rule r ("off" stays off under a layer mode), as CEL text into b;
 * prev is the previous map's variable. */
static void layer_mode(lg_cel_buf *b, const json_t *o, lg_rule r, const char *prev) {
  const json_t *own = rule_field(o, r, "mode"), *lm = json_object_get(o, "mode");
  const char *id = lg_rules_id(r);
  if (own) {
    lg_cel_addf(b, "'%s'", json_string_value(own));
  } else if (lm) {
    const char *m = json_string_value(lm);
    /* The recommended band only advises: a layer's enforce makes it warn. */
    if (r == LG_RULE_DURATION_RECOMMENDED && strcmp(m, "enforce") == 0)
      m = "warn";
    if (strcmp(m, "off") == 0)
      lg_cel_add(b, "'off'");
    else
      lg_cel_addf(b, "variables.%s['%s'] == 'off' ? 'off' : '%s'", prev, id, m);
  } else {
    lg_cel_addf(b, "variables.%s['%s']", prev, id);
  }
}

/* m0 (the base modes), then one map per override that sets a mode; the last is "mode". */
static lg_rc mode_vars(gen *g) {
  size_t n = json_array_size(json_object_get(g->doc, "overrides")), last = n, step = 0;
  char prev[32] = "m0", name[32];
  lg_cel_buf b = {0};
  lg_rc rc;
  for (size_t i = 0; i < n; i++)
    if (sets_mode(override_at(g, i)))
      last = i;
  lg_cel_add(&b, "{");
  for (size_t k = 0; k < N_VAP_RULES; k++) {
    lg_rule r = vap_rules[k].rule;
    lg_cel_addf(&b, "%s'%s': '%s'", k ? ", " : "", lg_rules_id(r),
                g->helm && g->follows_default[r] ? HELM_MODE : lg_rules_mode_name(g->base.mode[r]));
  }
  lg_cel_add(&b, "}");
  rc = add_var(g, last == n ? "mode" : "m0", &b);
  for (size_t i = 0; i < n && !rc; i++) {
    const json_t *o = override_at(g, i);
    if (!sets_mode(o))
      continue;
    b.len = 0;
    lg_cel_addf(&b, "variables.override%zu ? {", i);
    for (size_t k = 0; k < N_VAP_RULES; k++) {
      lg_cel_addf(&b, "%s'%s': ", k ? ", " : "", lg_rules_id(vap_rules[k].rule));
      layer_mode(&b, o, vap_rules[k].rule, prev);
    }
    lg_cel_addf(&b, "} : variables.%s", prev);
    snprintf(name, sizeof name, "m%zu", ++step);
    rc = add_var(g, i == last ? "mode" : name, &b);
    memcpy(prev, name, sizeof prev);
  }
  free(b.s);
  return rc;
}

/* A setting that overrides may change: base value, then "override<i> ? v : (…)". */
static lg_rc int_param(gen *g, const char *name, long long base, lg_rule r, const char *key) {
  size_t n = json_array_size(json_object_get(g->doc, "overrides"));
  lg_cel_buf b = {0}, t = {0};
  lg_rc rc;
  lg_cel_addf(&b, "%lld", base);
  for (size_t i = 0; i < n; i++) {
    const json_t *o = override_at(g, i);
    const json_t *v = r == LG_RULE_COUNT ? json_object_get(o, key) : rule_field(o, r, key);
    if (!v)
      continue;
    t.len = 0;
    lg_cel_addf(&t, "variables.override%zu ? %lld : (%s)", i, (long long)json_integer_value(v),
                b.oom ? "" : b.s);
    b.len = 0;
    lg_cel_add(&b, t.oom ? "" : t.s);
    if (t.oom)
      b.oom = true;
  }
  rc = add_var(g, name, &b);
  free(b.s);
  free(t.s);
  return rc;
}

/* userAllowed: holder-identity's allowedUsernames (none: anyone), per layer. */
static lg_rc allowed_var(gen *g) {
  size_t n = json_array_size(json_object_get(g->doc, "overrides"));
  lg_cel_buf b = {0}, t = {0};
  char where[80];
  lg_rc rc = LG_OK;
  if (g->base.n_usernames[LG_RULE_HOLDER_IDENTITY])
    rc = add_globs(g, &b, "variables.user", NULL, g->base.usernames[LG_RULE_HOLDER_IDENTITY],
                   g->base.n_usernames[LG_RULE_HOLDER_IDENTITY],
                   "rules.holder-identity.allowedUsernames");
  else
    lg_cel_add(&b, "true");
  for (size_t i = 0; i < n && !rc; i++) {
    const json_t *v = rule_field(override_at(g, i), LG_RULE_HOLDER_IDENTITY, "allowedUsernames");
    if (!v)
      continue;
    t.len = 0;
    lg_cel_addf(&t, "variables.override%zu ? ", i);
    snprintf(where, sizeof where, "overrides[%zu].rules.holder-identity.allowedUsernames", i);
    if (json_array_size(v))
      rc = add_globs(g, &t, "variables.user", v, NULL, 0, where);
    else
      lg_cel_add(&t, "true");
    lg_cel_addf(&t, " : (%s)", b.oom ? "" : b.s);
    b.len = 0;
    lg_cel_add(&b, t.oom ? "" : t.s);
    b.oom |= t.oom;
  }
  if (!rc)
    rc = add_var(g, "userAllowed", &b);
  free(b.s);
  free(t.s);
  return rc;
}

static lg_rc param_vars(gen *g) {
  const lg_rule_config *c = &g->base;
  lg_rc rc;
  if ((rc = int_param(g, "skewSeconds", (long long)(c->skew / LG_USEC_PER_SEC), LG_RULE_COUNT,
                      "clockSkewSeconds")) ||
      (rc =
           int_param(g, "durationMin", c->min[LG_RULE_DURATION], LG_RULE_DURATION, "minSeconds")) ||
      (rc =
           int_param(g, "durationMax", c->max[LG_RULE_DURATION], LG_RULE_DURATION, "maxSeconds")) ||
      (rc = int_param(g, "recommendedMin", c->min[LG_RULE_DURATION_RECOMMENDED],
                      LG_RULE_DURATION_RECOMMENDED, "minSeconds")) ||
      (rc = int_param(g, "recommendedMax", c->max[LG_RULE_DURATION_RECOMMENDED],
                      LG_RULE_DURATION_RECOMMENDED, "maxSeconds")))
    return rc;
  return allowed_var(g);
}

static lg_rc lease_vars(gen *g) {
  lg_cel_buf b = {0};
  lg_rc rc = LG_OK;
  for (size_t i = 0; i < sizeof field_vars / sizeof field_vars[0] && !rc; i++)
    rc = add_static_var(g, field_vars[i][0], field_vars[i][1]);
  /* Under coordinated election only the controller moves holders (without counting). */
  lg_cel_add(&b, "(variables.oldStrategy || variables.newStrategy) && ");
  if (!rc)
    rc = add_globs(g, &b, "variables.user", NULL, g->base.controller_usernames,
                   g->base.n_controller_usernames, "coordinatedElection.controllerUsernames");
  if (!rc)
    rc = add_var(g, "controller", &b);
  free(b.s);
  for (size_t i = 0; i < sizeof text_vars / sizeof text_vars[0] && !rc; i++)
    rc = add_static_var(g, text_vars[i][0], text_vars[i][1]);
  return rc;
}

/* The violations and their messages: "[rule] ns/name: detail", as the webhook's. */
static lg_rc rule_vars(gen *g) {
  lg_cel_buf b = {0};
  char name[64];
  lg_rc rc = LG_OK;
  for (size_t k = 0; k < N_VAP_RULES && !rc; k++) {
    const vap_rule *r = &vap_rules[k];
    if ((rc = add_static_var(g, r->var, r->violated)))
      break;
    b.len = 0;
    lg_cel_addf(&b, "'[%s] ' + variables.lease + ': ' + (%s)", lg_rules_id(r->rule), r->detail);
    snprintf(name, sizeof name, "%sMessage", r->var);
    rc = add_var(g, name, &b);
  }
  free(b.s);
  return rc;
}

static lg_rc build_vars(gen *g) {
  lg_rc rc;
  if ((rc = add_static_var(g, "leaseNamespace",
                           "has(request.namespace) ? request.namespace : ''")) ||
      (rc = add_static_var(g, "leaseName",
                           "has(request.name) && request.name != '' ? request.name : "
                           "has(object.metadata) && has(object.metadata.name) ? "
                           "object.metadata.name : ''")) ||
      (rc = add_static_var(g, "lease", "variables.leaseNamespace + '/' + variables.leaseName")) ||
      (rc = add_static_var(g, "user",
                           "has(request.userInfo.username) ? "
                           "request.userInfo.username : ''")) ||
      (rc = selector_vars(g)) || (rc = mode_vars(g)) || (rc = param_vars(g)) ||
      (rc = lease_vars(g)))
    return rc;
  return rule_vars(g);
}

/* matchConditions: unchanged specs are never judged; exempt users and namespaces skip all. */
static json_t *match_conditions(gen *g, lg_rc *rc) {
  const json_t *ex = json_object_get(g->doc, "exempt");
  const json_t *users = json_object_get(ex, "usernames"), *nss = json_object_get(ex, "namespaces");
  json_t *mc = json_array();
  lg_cel_buf b = {0};
  *rc = mc ? LG_OK : LG_ENOMEM;
  lg_cel_add(&b, "request.operation != 'UPDATE' || has(object.spec) != has(oldObject.spec) || "
                 "(has(object.spec) && object.spec != oldObject.spec)");
  if (!*rc)
    *rc = json_array_append_new(
              mc, json_pack("{s:s, s:s}", "name", "spec-changed", "expression", b.oom ? "" : b.s))
              ? LG_ENOMEM
              : LG_OK;
  if (!*rc && json_array_size(users)) {
    b.len = 0;
    lg_cel_add(&b, "!");
    *rc = add_globs(g, &b, "(has(request.userInfo.username) ? request.userInfo.username : '')",
                    users, NULL, 0, "exempt.usernames");
    if (!*rc && json_array_append_new(
                    mc, json_pack("{s:s, s:s}", "name", "not-exempt-user", "expression", b.s)))
      *rc = LG_ENOMEM;
  }
  if (!*rc && json_array_size(nss)) {
    b.len = 0;
    lg_cel_add(&b, "!");
    *rc = add_globs(g, &b, "(has(request.namespace) ? request.namespace : '')", nss, NULL, 0,
                    "exempt.namespaces");
    if (!*rc && json_array_append_new(
                    mc, json_pack("{s:s, s:s}", "name", "not-exempt-namespace", "expression", b.s)))
      *rc = LG_ENOMEM;
  }
  if (b.oom && !*rc)
    *rc = LG_ENOMEM;
  free(b.s);
  if (*rc) {
    json_decref(mc);
    return NULL;
  }
  return mc;
}

static json_t *labels(const gen *g, const char *mode) {
  if (g->helm)
    return json_sprintf("%s%s", HELM_LABELS, mode);
  return json_pack("{s:s, s:s, s:s, s:s}", "app.kubernetes.io/name", "leaseguard",
                   "app.kubernetes.io/component", "vap", "app.kubernetes.io/managed-by",
                   "leaseguard-vap", "leaseguard.io/mode", mode);
}

/* The policy of one mode: each rule's validation fails when the rule is broken and resolves
 * to this mode; its audit annotation (key = rule id) carries the message. */
static json_t *policy_object(gen *g, size_t a, const char *name, json_t *conditions) {
  const char *mode = lg_rules_mode_name(mode_of[a]);
  json_t *validations = json_array(), *annotations = json_array(), *obj;
  lg_cel_buf e = {0}, m = {0}, v = {0}, s = {0};
  for (size_t k = 0; k < N_VAP_RULES; k++) {
    const vap_rule *r = &vap_rules[k];
    const char *id = lg_rules_id(r->rule);
    e.len = m.len = v.len = s.len = 0;
    lg_cel_addf(&s, "[%s] %s", id, r->summary);
    lg_cel_addf(&e, "variables.mode['%s'] != '%s' || !variables.%s", id, mode, r->var);
    lg_cel_addf(&m, "variables.%sMessage", r->var);
    lg_cel_addf(&v, "variables.mode['%s'] == '%s' && variables.%s ? variables.%sMessage : null", id,
                mode, r->var, r->var);
    if (e.oom || m.oom || v.oom || s.oom)
      break;
    json_array_append_new(validations,
                          json_pack("{s:s, s:s, s:s, s:s}", "expression", e.s, "messageExpression",
                                    m.s, "message", s.s, "reason", "Forbidden"));
    json_array_append_new(annotations, json_pack("{s:s, s:s}", "key", id, "valueExpression", v.s));
  }
  free(e.s);
  free(m.s);
  free(v.s);
  free(s.s);
  obj = json_pack(
      "{s:s, s:s, s:{s:s, s:o}, s:{s:s, s:{s:[{s:[s], s:[s], s:[s, s], s:[s], s:s}], s:s}, "
      "s:O, s:O, s:o, s:o}}",
      "apiVersion", "admissionregistration.k8s.io/v1", "kind", "ValidatingAdmissionPolicy",
      "metadata", "name", name, "labels", labels(g, mode), "spec", "failurePolicy",
      g->helm ? HELM_FAILURE : g->opt->failure_policy, "matchConstraints", "resourceRules",
      "apiGroups", "coordination.k8s.io", "apiVersions", "v1", "operations", "CREATE", "UPDATE",
      "resources", "leases", "scope", "Namespaced", "matchPolicy", "Equivalent", "matchConditions",
      conditions, "variables", g->vars, "validations", validations, "auditAnnotations",
      annotations);
  if (!obj || json_array_size(validations) != N_VAP_RULES ||
      json_array_size(annotations) != N_VAP_RULES) {
    json_decref(obj);
    return NULL;
  }
  return obj;
}

static json_t *binding_object(gen *g, size_t a, const char *name) {
  return json_pack("{s:s, s:s, s:{s:s, s:o}, s:{s:s, s:[s]}}", "apiVersion",
                   "admissionregistration.k8s.io/v1", "kind", "ValidatingAdmissionPolicyBinding",
                   "metadata", "name", name, "labels", labels(g, lg_rules_mode_name(mode_of[a])),
                   "spec", "policyName", name, "validationActions", action_of[a]);
}

/* The base settings: the policy without its overrides and exemptions, resolved by policy.c
 * (defaults, top-level rules, defaultMode or --mode). Which rules follow the defaultMode is
 * found by resolving it under two different modes. */
static lg_rc resolve_base(gen *g) {
  json_t *copy = json_deep_copy(g->doc);
  lg_rule_config a, b;
  char *text = NULL, detail[256];
  lg_rc rc = LG_ENOMEM;
  if (!copy)
    goto out;
  json_object_del(copy, "overrides");
  json_object_del(copy, "exempt");
  if (!(text = json_dumps(copy, JSON_COMPACT)))
    goto out;
  if ((rc = lg_policy_parse(text, strlen(text), &g->base_policy, detail, sizeof detail))) {
    lg_fail(g->err, g->errlen, rc, "%s", detail);
    goto out;
  }
  lg_policy_resolve(g->base_policy, g->opt->mode_override, "", "", "", &g->base);
  lg_policy_resolve(g->base_policy, LG_MODE_ENFORCE, "", "", "", &a);
  lg_policy_resolve(g->base_policy, LG_MODE_AUDIT, "", "", "", &b);
  for (int r = 0; r < LG_RULE_COUNT; r++)
    g->follows_default[r] = a.mode[r] != b.mode[r];
out:
  free(text);
  json_decref(copy);
  return rc;
}

bool lg_vap_name_ok(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > 245 || s[0] == '-' || s[0] == '.' || s[n - 1] == '-' || s[n - 1] == '.')
    return false;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
          (s[i] == '.' && s[i + 1] != '.' && s[i + 1] != '-' && s[i - 1] != '-')))
      return false;
  return true;
}

lg_rc lg_vap_build(const lg_policy *p, const lg_vap_options *opt, json_t **out, char *err,
                   size_t errlen) {
  gen g = {.doc = lg_policy_document(p),
           .opt = opt,
           .helm = opt->format == LG_VAP_HELM,
           .err = err,
           .errlen = errlen};
  json_t *items = json_array(), *conditions = NULL;
  char name[300];
  lg_rc rc = LG_ENOMEM;

  *out = NULL;
  if (!g.helm && !lg_vap_name_ok(opt->name)) {
    rc = lg_fail(err, errlen, LG_EINVAL,
                 "name \"%s\" is not a DNS subdomain of at most 245 "
                 "characters",
                 opt->name ? opt->name : "");
    goto out;
  }
  if (!items || !g.doc || !(g.vars = json_array()))
    goto out;
  if ((rc = resolve_base(&g)) || (rc = build_vars(&g)) || !(conditions = match_conditions(&g, &rc)))
    goto out;
  rc = LG_ENOMEM;
  for (size_t a = 0; a < LG_VAP_ACTIONS; a++) {
    snprintf(name, sizeof name, "%s-%s", g.helm ? HELM_NAME : opt->name,
             lg_rules_mode_name(mode_of[a]));
    if (json_array_append_new(items, policy_object(&g, a, name, conditions)) ||
        json_array_append_new(items, binding_object(&g, a, name)))
      goto out;
  }
  *out = items;
  items = NULL;
  rc = LG_OK;
out:
  if (rc == LG_ENOMEM)
    lg_fail(err, errlen, rc, "out of memory");
  json_decref(items);
  json_decref(conditions);
  json_decref(g.vars);
  lg_policy_free(g.base_policy);
  return rc;
}

/* Replaces every from in *text by to; false when out of memory. */
static bool replace_all(char **text, const char *from, const char *to) {
  lg_cel_buf b = {0};
  const char *p = *text, *hit;
  size_t n = strlen(from);
  while ((hit = strstr(p, from))) {
    lg_cel_addn(&b, p, (size_t)(hit - p));
    lg_cel_add(&b, to);
    p = hit + n;
  }
  lg_cel_add(&b, p);
  if (b.oom) {
    free(b.s);
    return false;
  }
  free(*text);
  *text = b.s;
  return true;
}

/* The chart's template: the documents between Helm's guards, the sentinels replaced. */
static lg_rc helm_template(const lg_policy *p, char **text, char *err, size_t errlen) {
  static const char *const header =
      "{{- /* Generated by `leaseguard vap --output=helm` from policy/default.json: do not edit.\n"
      "       Make it again with `cmake --build build --target vap-chart-template`; the test\n"
      "       vap-cel checks that it is up to date. The clock-free rules of the shipped policy as\n"
      "       ValidatingAdmissionPolicies (README: \"Where each rule runs\"). */}}\n"
      "{{- if .Values.vap.enabled }}\n"
      "{{- if not (empty .Values.policy) }}\n"
      "{{- fail \"vap.enabled: the chart renders the ValidatingAdmissionPolicies of the shipped "
      "default policy only; for your own policy run `leaseguard vap --policy-file=FILE` and apply "
      "its output instead (and leave vap.enabled false)\" }}\n"
      "{{- end }}\n"
      "{{- if semverCompare \"<1.30.0-0\" .Capabilities.KubeVersion.Version }}\n"
      "{{- fail (printf \"vap.enabled: ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1) "
      "needs Kubernetes 1.30 or later, not %s\" .Capabilities.KubeVersion.Version) }}\n"
      "{{- end }}\n"
      "{{- $fullname := include \"leaseguard.fullname\" . }}\n";
  static const char *const modes[] = {"enforce", "warn", "audit"};
  const char *def = json_string_value(json_object_get(lg_policy_document(p), "defaultMode"));
  lg_cel_buf b = {0};
  char from[64], to[256];
  if (strstr(*text, "{{") || strstr(*text, "}}"))
    return lg_fail(err, errlen, LG_EPOLICY,
                   "the policy holds \"{{\" or \"}}\", which Helm would "
                   "read as a template");
  lg_cel_add(&b, header);
  lg_cel_addf(&b, "{{- $mode := .Values.vap.mode | default .Values.mode | default \"%s\" }}\n",
              def ? def : "enforce");
  lg_cel_add(&b, *text);
  lg_cel_add(&b, "{{- end }}\n");
  if (b.oom)
    return free(b.s), LG_ENOMEM;
  free(*text);
  *text = b.s;
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    snprintf(from, sizeof from, "labels: \"%s%s\"", HELM_LABELS, modes[i]);
    snprintf(to, sizeof to,
             "labels:\n    {{- include \"leaseguard.commonLabels\" . | nindent 4 }}"
             "\n    app.kubernetes.io/component: vap\n    leaseguard.io/mode: %s",
             modes[i]);
    if (!replace_all(text, from, to))
      return LG_ENOMEM;
  }
  if (!replace_all(text, "\"" HELM_NAME, "\"{{ $fullname }}") ||
      !replace_all(text, HELM_MODE, "{{ $mode }}") ||
      !replace_all(text, "\"" HELM_FAILURE "\"", "{{ .Values.vap.failurePolicy }}"))
    return LG_ENOMEM;
  if (strstr(*text, "@@LG_"))
    return lg_fail(err, errlen, LG_EINVAL, "a template sentinel was left in the output");
  return LG_OK;
}

lg_rc lg_vap_render(const lg_policy *p, const lg_vap_options *opt, char **out, char *err,
                    size_t errlen) {
  json_t *items = NULL, *list = NULL, *item;
  lg_cel_buf b = {0};
  char *doc;
  size_t i;
  lg_rc rc;

  *out = NULL;
  if ((rc = lg_vap_build(p, opt, &items, err, errlen)))
    return rc;
  if (opt->format == LG_VAP_JSON) {
    list = json_pack("{s:s, s:s, s:O}", "apiVersion", "v1", "kind", "List", "items", items);
    doc = list ? json_dumps(list, JSON_INDENT(2)) : NULL;
    lg_cel_add(&b, doc ? doc : "");
    lg_cel_add(&b, "\n");
    b.oom |= !doc;
    free(doc);
  } else {
    json_array_foreach(items, i, item) {
      doc = lg_yaml_dump(item);
      lg_cel_add(&b, "---\n");
      lg_cel_add(&b, doc ? doc : "");
      b.oom |= !doc;
      free(doc);
    }
  }
  rc = b.oom ? LG_ENOMEM : LG_OK;
  if (!rc && opt->format == LG_VAP_HELM)
    rc = helm_template(p, &b.s, err, errlen);
  if (rc == LG_ENOMEM)
    lg_fail(err, errlen, rc, "out of memory");
  if (rc)
    free(b.s);
  else
    *out = b.s;
  json_decref(items);
  json_decref(list);
  return rc;
}
