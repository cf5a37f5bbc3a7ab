/* policy.c -- parse and validate the policy document; resolve it for one lease. */
#include "policy.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "default_policy.h"
#include "glob.h"

#define POLICY_API_VERSION "leaseguard.io/v1alpha1"
#define POLICY_KIND        "LeasePolicy"

/* Settings of one rule in one layer; unset fields are INHERIT / -1 / NULL. */
typedef struct {
  lg_mode mode;
  int64_t min, max;
  const char **usernames; /* allowedUsernames (LG_PARAM_USERNAMES); NULL when unset */
  size_t n_usernames;
} rule_settings;

/* The top level (base) or one override. */
typedef struct {
  const char **namespaces, **names; /* selector globs; NULL = any */
  size_t n_namespaces, n_names;
  lg_mode mode; /* defaultMode (base) or the override's mode */
  int64_t skew; /* seconds, -1 unset */
  rule_settings rules[LG_RULE_COUNT];
} layer;

struct lg_policy {
  json_t *root; /* owns every string the layers point to */
  layer base;
  layer *overrides;
  size_t n_overrides;
  const char **exempt_users, **exempt_namespaces, **controllers;
  size_t n_exempt_users, n_exempt_namespaces, n_controllers;
};

/* Built-in values for anything the policy leaves unset (policy/README.md); the rules' own
 * defaults are in their table (LG_RULE_MAP). */
#define DEFAULT_SKEW_S 30
static const char *const default_controllers[] = {"system:apiserver"};

/* Rejects keys of o not in allowed (NULL-terminated): a typo must not be ignored. */
static lg_rc known_keys(const json_t *o, const char *where, const char *const *allowed, char *err,
                        size_t errlen) {
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)o, key, v) {
    const char *const *a = allowed;
    while (*a && strcmp(*a, key) != 0)
      a++;
    if (!*a)
      return lg_fail(err, errlen, LG_EPOLICY, "%s%s: unknown field", where, key);
  }
  return LG_OK;
}

/* Reads an optional array of non-empty strings (borrowed) into a new pointer array. */
static lg_rc strings(const json_t *o, const char *key, const char *where, const char ***out,
                     size_t *n, char *err, size_t errlen) {
  const json_t *a = json_object_get(o, key), *v;
  size_t i;
  *out = NULL;
  *n = 0;
  if (!a)
    return LG_OK;
  if (!json_is_array(a))
    return lg_fail(err, errlen, LG_EPOLICY, "%s%s: must be an array of strings", where, key);
  *out = calloc(json_array_size(a) + 1, sizeof **out);
  if (!*out)
    return LG_ENOMEM;
  json_array_foreach(a, i, v) {
    if (!json_is_string(v) || json_string_length(v) == 0)
      return lg_fail(err, errlen, LG_EPOLICY, "%s%s[%zu]: must be a non-empty string", where, key,
                     i);
    (*out)[(*n)++] = json_string_value(v);
  }
  return LG_OK;
}

static lg_rc mode_field(const json_t *o, const char *key, const char *where, lg_mode *out,
                        char *err, size_t errlen) {
  const json_t *v = json_object_get(o, key);
  if (!v)
    return LG_OK;
  if (!json_is_string(v) || (*out = lg_rules_parse_mode(json_string_value(v))) == LG_MODE_INHERIT)
    return lg_fail(err, errlen, LG_EPOLICY, "%s%s: must be one of off, audit, warn, enforce", where,
                   key);
  return LG_OK;
}

static lg_rc seconds_field(const json_t *o, const char *key, const char *where, int64_t lo,
                           int64_t hi, int64_t *out, char *err, size_t errlen) {
  const json_t *v = json_object_get(o, key);
  if (!v)
    return LG_OK;
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
    return lg_fail(err, errlen, LG_EPOLICY, "%s%s: must be an integer from %lld to %lld", where,
                   key, (long long)lo, (long long)hi);
  *out = json_integer_value(v);
  return LG_OK;
}

static lg_rc parse_rule(const json_t *o, lg_rule r, const char *where, rule_settings *s, char *err,
                        size_t errlen) {
  static const char *const plain[] = {"mode", NULL};
  static const char *const ranged[] = {"mode", "minSeconds", "maxSeconds", NULL};
  static const char *const identity[] = {"mode", "allowedUsernames", NULL};
  static const char *const ranged_users[] = {"mode", "minSeconds", "maxSeconds", "allowedUsernames",
                                             NULL};
  unsigned params = lg_rules_info(r)->params;
  char at[160];
  lg_rc rc;

  snprintf(at, sizeof at, "%s%s.", where, lg_rules_id(r));
  if (!json_is_object(o))
    return lg_fail(err, errlen, LG_EPOLICY, "%s%s: must be an object", where, lg_rules_id(r));
  if ((rc = known_keys(o, at,
                       (params & LG_PARAM_RANGE) && (params & LG_PARAM_USERNAMES) ? ranged_users
                       : params & LG_PARAM_RANGE                                  ? ranged
                       : params & LG_PARAM_USERNAMES                              ? identity
                                                                                  : plain,
                       err, errlen)) ||
      (rc = mode_field(o, "mode", at, &s->mode, err, errlen)) ||
      (rc = seconds_field(o, "minSeconds", at, 1, INT32_MAX, &s->min, err, errlen)) ||
      (rc = seconds_field(o, "maxSeconds", at, 1, INT32_MAX, &s->max, err, errlen)) ||
      (rc = strings(o, "allowedUsernames", at, &s->usernames, &s->n_usernames, err, errlen)))
    return rc;
  if ((params & LG_PARAM_ADVICE) && s->mode == LG_MODE_ENFORCE)
    return lg_fail(err, errlen, LG_EPOLICY, "%smode: %s only advises; use off, audit or warn", at,
                   lg_rules_id(r));
  if (s->min >= 0 && s->max >= 0 && s->min > s->max)
    return lg_fail(err, errlen, LG_EPOLICY, "%sminSeconds: %lld is above maxSeconds %lld", at,
                   (long long)s->min, (long long)s->max);
  return LG_OK;
}

/* The ranges of l with what it inherits from base (NULL: the built-in ones) must not be
 * empty: checking within one rule object alone lets minSeconds 4000 deny every held lease. */
static lg_rc check_ranges(const layer *l, const layer *base, const char *where, char *err,
                          size_t errlen) {
  for (int r = 0; r < LG_RULE_COUNT; r++) {
    const lg_rule_info *info = lg_rules_info((lg_rule)r);
    const rule_settings *s = &l->rules[r], *b = base ? &base->rules[r] : NULL;
    int64_t lo = s->min >= 0 ? s->min : b && b->min >= 0 ? b->min : info->min;
    int64_t hi = s->max >= 0 ? s->max : b && b->max >= 0 ? b->max : info->max;
    if ((info->params & LG_PARAM_RANGE) && lo > hi)
      return lg_fail(err, errlen, LG_EPOLICY,
                     "%srules.%s: minSeconds %lld is above maxSeconds %lld (with inherited values)",
                     where, lg_rules_id((lg_rule)r), (long long)lo, (long long)hi);
  }
  return LG_OK;
}

/* Parses the fields a base and an override share. */
static lg_rc parse_layer(const json_t *o, const char *where, const char *mode_key, layer *l,
                         char *err, size_t errlen) {
  const json_t *rules = json_object_get(o, "rules"), *v;
  const char *key;
  char at[128];
  lg_rc rc;

  l->mode = LG_MODE_INHERIT;
  l->skew = -1;
  for (int r = 0; r < LG_RULE_COUNT; r++)
    l->rules[r] = (rule_settings){LG_MODE_INHERIT, -1, -1, NULL, 0};
  if ((rc = mode_field(o, mode_key, where, &l->mode, err, errlen)) ||
      (rc = seconds_field(o, "clockSkewSeconds", where, 0, 300, &l->skew, err, errlen)))
    return rc;
  if (!rules)
    return LG_OK;
  if (!json_is_object(rules))
    return lg_fail(err, errlen, LG_EPOLICY, "%srules: must be an object", where);
  snprintf(at, sizeof at, "%srules.", where);
  json_object_foreach((json_t *)rules, key, v) {
    lg_rule r = lg_rules_parse_id(key);
    if (r == LG_RULE_COUNT)
      return lg_fail(err, errlen, LG_EPOLICY, "%s%s: unknown rule", at, key);
    if ((rc = parse_rule(v, r, at, &l->rules[r], err, errlen)))
      return rc;
  }
  return LG_OK;
}

static lg_rc parse_override(const json_t *o, size_t i, const layer *base, layer *l, char *err,
                            size_t errlen) {
  static const char *const keys[] = {"name", "match", "mode", "clockSkewSeconds", "rules", NULL};
  static const char *const match_keys[] = {"namespaces", "names", NULL};
  const json_t *match;
  char at[64], mat[80];
  lg_rc rc;

  snprintf(at, sizeof at, "overrides[%zu].", i);
  snprintf(mat, sizeof mat, "%smatch.", at);
  if (!json_is_object(o))
    return lg_fail(err, errlen, LG_EPOLICY, "overrides[%zu]: must be an object", i);
  match = json_object_get(o, "match");
  if ((rc = known_keys(o, at, keys, err, errlen)) ||
      (rc = parse_layer(o, at, "mode", l, err, errlen)) ||
      (rc = check_ranges(l, base, at, err, errlen)))
    return rc;
  if (!json_is_object(match))
    return lg_fail(err, errlen, LG_EPOLICY,
                   "%smatch: required, an object with namespaces and/or names", at);
  if ((rc = known_keys(match, mat, match_keys, err, errlen)) ||
      (rc = strings(match, "namespaces", mat, &l->namespaces, &l->n_namespaces, err, errlen)) ||
      (rc = strings(match, "names", mat, &l->names, &l->n_names, err, errlen)))
    return rc;
  if (!l->n_namespaces && !l->n_names)
    return lg_fail(err, errlen, LG_EPOLICY, "%smatch: give namespaces or names", at);
  return LG_OK;
}

static bool matches(const char *const *globs, size_t n, const char *s);

static bool all_literal(const char *const *globs, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strpbrk(globs[i], "*?[\\"))
      return false;
  return true;
}

/* False only when no value can match both selector lists (NULL = any): one of them is
 * all literal values and none of those matches the other list. */
static bool may_share(const char *const *a, size_t na, const char *const *b, size_t nb) {
  const char *const *lit = b, *const *other = a;
  size_t nlit = nb, nother = na;
  if (!a || !b)
    return true;
  if (!all_literal(b, nb)) {
    if (!all_literal(a, na))
      return true;
    lit = a, nlit = na, other = b, nother = nb;
  }
  for (size_t i = 0; i < nlit; i++)
    if (matches(other, nother, lit[i]))
      return true;
  return false;
}

/* Two overrides that may select the same lease must not leave it an empty range: the
 * minSeconds of one above the maxSeconds of the other would deny every write of a lease
 * both select (check_ranges sees each override only with the top level). Conservative:
 * globs on both sides are assumed to meet. */
static lg_rc check_pairs(const lg_policy *p, char *err, size_t errlen) {
  for (size_t i = 0; i < p->n_overrides; i++)
    for (size_t j = 0; j < p->n_overrides; j++) {
      const layer *a = &p->overrides[i], *b = &p->overrides[j];
      if (i == j || !may_share(a->namespaces, a->n_namespaces, b->namespaces, b->n_namespaces) ||
          !may_share(a->names, a->n_names, b->names, b->n_names))
        continue;
      for (int k = 0; k < LG_RULE_COUNT; k++) {
        const rule_settings *lo = &a->rules[k], *hi = &b->rules[k];
        /* a gives the minimum and b the maximum, unless the later of the two gives both
         * (its own range is checked already). */
        if (lo->min < 0 || hi->max < 0 || lo->min <= hi->max || (j > i && hi->min >= 0) ||
            (i > j && lo->max >= 0))
          continue;
        return lg_fail(err, errlen, LG_EPOLICY,
                       "overrides[%zu] and overrides[%zu] may select the same lease: "
                       "rules.%s minSeconds %lld (overrides[%zu]) is above maxSeconds %lld "
                       "(overrides[%zu]); make the ranges overlap or the matches disjoint",
                       i < j ? i : j, i < j ? j : i, lg_rules_id((lg_rule)k), (long long)lo->min, i,
                       (long long)hi->max, j);
      }
    }
  return LG_OK;
}

static lg_rc parse_root(lg_policy *p, char *err, size_t errlen) {
  static const char *const keys[] = {"apiVersion",          "kind",      "defaultMode",
                                     "clockSkewSeconds",    "rules",     "exempt",
                                     "coordinatedElection", "overrides", NULL};
  static const char *const exempt_keys[] = {"usernames", "namespaces", NULL};
  static const char *const ce_keys[] = {"controllerUsernames", NULL};
  const json_t *root = p->root, *v, *exempt, *ce, *overrides;
  size_t i;
  lg_rc rc;

  if (!json_is_object(root))
    return lg_fail(err, errlen, LG_EPOLICY, "the policy must be a JSON object");
  if ((rc = known_keys(root, "", keys, err, errlen)))
    return rc;
  v = json_object_get(root, "apiVersion");
  if (!json_is_string(v) || strcmp(json_string_value(v), POLICY_API_VERSION) != 0)
    return lg_fail(err, errlen, LG_EPOLICY, "apiVersion: must be \"%s\"", POLICY_API_VERSION);
  v = json_object_get(root, "kind");
  if (!json_is_string(v) || strcmp(json_string_value(v), POLICY_KIND) != 0)
    return lg_fail(err, errlen, LG_EPOLICY, "kind: must be \"%s\"", POLICY_KIND);
  if ((rc = parse_layer(root, "", "defaultMode", &p->base, err, errlen)) ||
      (rc = check_ranges(&p->base, NULL, "", err, errlen)))
    return rc;
  exempt = json_object_get(root, "exempt");
  if (exempt) {
    if (!json_is_object(exempt))
      return lg_fail(err, errlen, LG_EPOLICY, "exempt: must be an object");
    if ((rc = known_keys(exempt, "exempt.", exempt_keys, err, errlen)) ||
        (rc = strings(exempt, "usernames", "exempt.", &p->exempt_users, &p->n_exempt_users, err,
                      errlen)) ||
        (rc = strings(exempt, "namespaces", "exempt.", &p->exempt_namespaces,
                      &p->n_exempt_namespaces, err, errlen)))
      return rc;
  }
  ce = json_object_get(root, "coordinatedElection");
  if (ce) {
    if (!json_is_object(ce))
      return lg_fail(err, errlen, LG_EPOLICY, "coordinatedElection: must be an object");
    if ((rc = known_keys(ce, "coordinatedElection.", ce_keys, err, errlen)) ||
        (rc = strings(ce, "controllerUsernames", "coordinatedElection.", &p->controllers,
                      &p->n_controllers, err, errlen)))
      return rc;
  }
  overrides = json_object_get(root, "overrides");
  if (!overrides)
    return LG_OK;
  if (!json_is_array(overrides))
    return lg_fail(err, errlen, LG_EPOLICY, "overrides: must be an array");
  p->overrides = calloc(json_array_size(overrides) + 1, sizeof *p->overrides);
  if (!p->overrides)
    return LG_ENOMEM;
  json_array_foreach(overrides, i, v) {
    p->n_overrides++;
    if ((rc = parse_override(v, i, &p->base, &p->overrides[i], err, errlen)))
      return rc;
  }
  return check_pairs(p, err, errlen);
}

static void free_layer(layer *l) {
  free(l->namespaces);
  free(l->names);
  for (int r = 0; r < LG_RULE_COUNT; r++)
    free(l->rules[r].usernames);
}

void lg_policy_free(lg_policy *p) {
  if (!p)
    return;
  free_layer(&p->base);
  for (size_t i = 0; i < p->n_overrides; i++)
    free_layer(&p->overrides[i]);
  free(p->overrides);
  free(p->exempt_users);
  free(p->exempt_namespaces);
  free(p->controllers);
  json_decref(p->root);
  free(p);
}

lg_rc lg_policy_parse(const char *json, size_t len, lg_policy **out, char *err, size_t errlen) {
  json_error_t jerr;
  lg_policy *p = NULL;
  lg_rc rc = LG_OK;

  *out = NULL;
  p = calloc(1, sizeof *p);
  if (!p)
    return LG_ENOMEM;
  p->root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!p->root) {
    rc = lg_fail(err, errlen, LG_EPOLICY, "not valid JSON: %s (line %d, column %d)", jerr.text,
                 jerr.line, jerr.column);
    goto out;
  }
  if ((rc = parse_root(p, err, errlen)))
    goto out;
  *out = p;
  p = NULL;
out:
  if (rc == LG_ENOMEM)
    lg_fail(err, errlen, rc, "out of memory");
  lg_policy_free(p);
  return rc;
}

lg_rc lg_policy_load_file(const char *path, lg_policy **out, char *err, size_t errlen) {
  char detail[256] = "";
  json_error_t jerr;
  json_t *root;
  char *text = NULL;
  lg_rc rc;

  *out = NULL;
  /* jansson reads the file; the text is re-serialised only to share lg_policy_parse. */
  root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
  if (!root && jerr.line < 0) /* could not be read at all */
    return lg_fail(err, errlen, LG_EPOLICY, "policy file %s: %s", path, jerr.text);
  if (!root)
    return lg_fail(err, errlen, LG_EPOLICY, "policy file %s: %s (line %d, column %d)", path,
                   jerr.text, jerr.line, jerr.column);
  text = json_dumps(root, JSON_COMPACT);
  json_decref(root);
  if (!text)
    return lg_fail(err, errlen, LG_ENOMEM, "policy file %s: out of memory", path);
  rc = lg_policy_parse(text, strlen(text), out, detail, sizeof detail);
  if (rc)
    lg_fail(err, errlen, rc, "policy file %s: %s", path, detail);
  free(text);
  return rc;
}

const struct json_t *lg_policy_document(const lg_policy *p) { return p ? p->root : NULL; }

lg_rc lg_policy_default(lg_policy **out, char *err, size_t errlen) {
  return lg_policy_parse(lg_default_policy_json, sizeof lg_default_policy_json - 1, out, err,
                         errlen);
}

static bool matches(const char *const *globs, size_t n, const char *s) {
  return lg_glob_any(globs, n, s);
}

static bool selects(const layer *l, const char *ns, const char *name) {
  return (!l->namespaces || matches(l->namespaces, l->n_namespaces, ns)) &&
         (!l->names || matches(l->names, l->n_names, name));
}

/* Applies one layer over the settings so far. A layer's mode moves every rule that is
 * on; it never turns on a rule that is off (that takes the rule's own mode). */
static void apply(const layer *l, lg_mode layer_mode, lg_rule_config *c) {
  if (layer_mode != LG_MODE_INHERIT)
    for (int r = 0; r < LG_RULE_COUNT; r++)
      if (c->mode[r] != LG_MODE_OFF)
        c->mode[r] = layer_mode;
  if (l->skew >= 0)
    c->skew = l->skew * LG_USEC_PER_SEC;
  for (int r = 0; r < LG_RULE_COUNT; r++) {
    const rule_settings *s = &l->rules[r];
    if (s->mode != LG_MODE_INHERIT)
      c->mode[r] = s->mode;
    if (s->min >= 0)
      c->min[r] = s->min;
    if (s->max >= 0)
      c->max[r] = s->max;
    if (s->usernames) {
      c->usernames[r] = s->usernames;
      c->n_usernames[r] = s->n_usernames;
    }
  }
}

void lg_policy_resolve(const lg_policy *p, lg_mode mode_override, const char *ns, const char *name,
                       const char *username, lg_rule_config *out) {
  lg_mode base_mode = mode_override != LG_MODE_INHERIT  ? mode_override
                      : p->base.mode != LG_MODE_INHERIT ? p->base.mode
                                                        : LG_MODE_ENFORCE;
  memset(out, 0, sizeof *out);
  out->skew = DEFAULT_SKEW_S * LG_USEC_PER_SEC;
  for (int r = 0; r < LG_RULE_COUNT; r++) {
    const lg_rule_info *info = lg_rules_info((lg_rule)r);
    out->mode[r] = info->default_mode == LG_MODE_INHERIT ? base_mode : info->default_mode;
    out->min[r] = info->min;
    out->max[r] = info->max;
    out->usernames[r] = info->usernames;
    for (size_t n = 0; info->usernames && info->usernames[n]; n++)
      out->n_usernames[r] = n + 1;
  }
  apply(&p->base, LG_MODE_INHERIT, out);
  for (size_t i = 0; i < p->n_overrides; i++)
    if (selects(&p->overrides[i], ns, name))
      apply(&p->overrides[i], p->overrides[i].mode, out);
  /* Advice never denies. */
  for (int r = 0; r < LG_RULE_COUNT; r++)
    if ((lg_rules_info((lg_rule)r)->params & LG_PARAM_ADVICE) && out->mode[r] == LG_MODE_ENFORCE)
      out->mode[r] = LG_MODE_WARN;
  if (p->controllers) {
    out->controller_usernames = p->controllers;
    out->n_controller_usernames = p->n_controllers;
  } else {
    out->controller_usernames = default_controllers;
    out->n_controller_usernames = 1;
  }
  if (matches(p->exempt_users, p->n_exempt_users, username))
    out->exempt_reason = "requester is exempt by policy";
  else if (matches(p->exempt_namespaces, p->n_exempt_namespaces, ns))
    out->exempt_reason = "namespace is exempt by policy";
}
