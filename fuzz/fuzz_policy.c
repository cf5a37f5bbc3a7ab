/* fuzz_policy.c -- libFuzzer target: lg_policy_parse, then lg_policy_resolve for a few leases
 * and writers under each --mode, with the resolved settings checked. */
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "policy.h"

static const struct {
  const char *ns, *name, *user;
} leases[] = {
    {"kube-system", "kube-controller-manager", "system:kube-controller-manager"},
    {"kube-system", "apiserver-abc", "system:apiserver"},
    {"kube-node-lease", "node-1", "system:node:node-1"},
    {"payments", "payments-operator-lock", "system:serviceaccount:payments:payments-operator"},
    {"default", "x", ""},
    {"", "", ""},
};

static const lg_mode modes[] = {LG_MODE_INHERIT, LG_MODE_OFF, LG_MODE_AUDIT, LG_MODE_WARN,
                                LG_MODE_ENFORCE};

static void check_strings(const char *const *a, size_t n, const char *what) {
  CHECK(n == 0 || a != NULL, "%zu %s without an array", n, what);
  for (size_t i = 0; i < n; i++)
    CHECK(a[i] && a[i][0], "%s[%zu] is empty", what, i);
}

/* Whether the parser guarantees non-empty ranges: it checks each layer with what it inherits
 * from the base, not two overrides that each set one end and both match a lease. */
static int ranges_checked[2];

/* How many overrides set minSeconds or maxSeconds of rule id. */
static size_t overrides_setting(const json_t *root, const char *id) {
  const json_t *o;
  size_t i, n = 0;
  json_array_foreach(json_object_get(root, "overrides"), i, o) {
    const json_t *r = json_object_get(json_object_get(o, "rules"), id);
    n += json_object_get(r, "minSeconds") || json_object_get(r, "maxSeconds");
  }
  return n;
}

static void check_config(const lg_rule_config *c) {
  for (int r = 0; r < LG_RULE_COUNT; r++)
    CHECK(c->mode[r] >= LG_MODE_OFF && c->mode[r] <= LG_MODE_ENFORCE, "rule %s mode %d",
          lg_rules_id((lg_rule)r), c->mode[r]);
  CHECK(c->mode[LG_RULE_DURATION_RECOMMENDED] != LG_MODE_ENFORCE, "duration-recommended enforces");
  CHECK(c->skew >= 0 && c->skew <= 300 * LG_USEC_PER_SEC, "skew %lld", (long long)c->skew);
  CHECK(c->min[LG_RULE_DURATION] >= 1 && c->max[LG_RULE_DURATION] <= INT32_MAX &&
            (!ranges_checked[0] || c->min[LG_RULE_DURATION] <= c->max[LG_RULE_DURATION]),
        "duration range %lld..%lld", (long long)c->min[LG_RULE_DURATION],
        (long long)c->max[LG_RULE_DURATION]);
  CHECK(c->min[LG_RULE_DURATION_RECOMMENDED] >= 1 &&
            c->max[LG_RULE_DURATION_RECOMMENDED] <= INT32_MAX &&
            (!ranges_checked[1] ||
             c->min[LG_RULE_DURATION_RECOMMENDED] <= c->max[LG_RULE_DURATION_RECOMMENDED]),
        "recommended range %lld..%lld", (long long)c->min[LG_RULE_DURATION_RECOMMENDED],
        (long long)c->max[LG_RULE_DURATION_RECOMMENDED]);
  check_strings(c->usernames[LG_RULE_HOLDER_IDENTITY], c->n_usernames[LG_RULE_HOLDER_IDENTITY],
                "allowedUsernames");
  /* An empty controllerUsernames is allowed: no one moves holders without counting. */
  CHECK(c->controller_usernames != NULL, "no controller usernames");
  check_strings(c->controller_usernames, c->n_controller_usernames, "controllerUsernames");
}

/* Resolves for ns/name/user under each --mode and checks the result. */
static void resolve(const lg_policy *p, const char *ns, const char *name, const char *user) {
  for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
    lg_rule_config c, again;
    lg_policy_resolve(p, modes[m], ns, name, user, &c);
    check_config(&c);
    lg_policy_resolve(p, modes[m], ns, name, user, &again);
    CHECK(memcmp(&c, &again, sizeof c) == 0, "resolve is not deterministic");
  }
}

/* The first string of array o.key (borrowed), or "". */
static const char *first(const json_t *o, const char *key) {
  const char *s = json_string_value(json_array_get(json_object_get(o, key), 0));
  return s ? s : "";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[256] = "";
  lg_policy *p = (lg_policy *)1;
  lg_rc rc = lg_policy_parse((const char *)data, size, &p, err, sizeof err);
  json_t *root, *o;
  size_t i;

  CHECK(rc == LG_OK || rc == LG_EPOLICY, "rc %d: %s", rc, err);
  CHECK((rc == LG_OK) == (p != NULL), "rc %d with policy %p", rc, (void *)p);
  CHECK(rc == LG_OK || err[0], "refused without a reason");
  if (!p)
    return 0;
  root = json_loadb((const char *)data, size, 0, NULL);
  ranges_checked[0] = overrides_setting(root, "duration") <= 1;
  ranges_checked[1] = overrides_setting(root, "duration-recommended") <= 1;
  for (i = 0; i < sizeof leases / sizeof *leases; i++)
    resolve(p, leases[i].ns, leases[i].name, leases[i].user);
  /* The policy's own globs taken literally select what they name. */
  json_array_foreach(json_object_get(root, "overrides"), i, o) {
    const json_t *match = json_object_get(o, "match");
    resolve(p, first(match, "namespaces"), first(match, "names"),
            first(json_object_get(root, "exempt"), "usernames"));
  }
  json_decref(root);
  lg_policy_free(p);
  return 0;
}
