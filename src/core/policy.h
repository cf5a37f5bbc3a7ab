/* policy.h -- the policy file: modes, rule parameters, overrides by namespace/name, exemptions. */
#ifndef LG_POLICY_H
#define LG_POLICY_H

#include <stddef.h>

#include "rules.h"
#include "rc.h"

typedef struct lg_policy lg_policy;

/* Parses a policy document (JSON text of len bytes). On success *out is a new policy
 * (free with lg_policy_free); on failure *out is NULL and err names the bad field. */
lg_rc lg_policy_parse(const char *json, size_t len, lg_policy **out, char *err, size_t errlen);

/* Reads and parses the policy file at path, as lg_policy_parse. */
lg_rc lg_policy_load_file(const char *path, lg_policy **out, char *err, size_t errlen);

/* The built-in default policy (policy/default.json, embedded at build time). */
lg_rc lg_policy_default(lg_policy **out, char *err, size_t errlen);

/* Frees p; NULL is a no-op. */
void lg_policy_free(lg_policy *p);

/* Resolves the rule settings for lease ns/name written by username. mode_override, when
 * not LG_MODE_INHERIT, replaces the policy's defaultMode (the --mode flag). The result
 * borrows strings from p and is valid while p is. */
void lg_policy_resolve(const lg_policy *p, lg_mode mode_override, const char *ns, const char *name,
                       const char *username, lg_rule_config *out);

/* The parsed and validated policy document (a jansson json_t, borrowed: valid while p is),
 * for generators that translate its structure (leaseguard vap). */
const struct json_t *lg_policy_document(const lg_policy *p);

#endif
