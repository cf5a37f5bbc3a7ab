/* vap.h -- the clock-free rules of a policy as ValidatingAdmissionPolicies (CEL) and bindings. */
#ifndef LG_VAP_H
#define LG_VAP_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "policy.h"
#include "rc.h"

typedef enum {
  LG_VAP_YAML, /* `---` separated YAML documents, for kubectl apply -f */
  LG_VAP_JSON, /* a v1 List */
  LG_VAP_HELM  /* the chart's template: name, labels, failurePolicy and defaultMode from values */
} lg_vap_format;

typedef struct {
  const char *name;           /* prefix of the object names: <name>-enforce, -warn, -audit */
  lg_mode mode_override;      /* --mode; LG_MODE_INHERIT: the policy's defaultMode */
  const char *failure_policy; /* "Fail" or "Ignore" */
  lg_vap_format format;
} lg_vap_options;

/* The three modes that have a policy each, and their binding's validationActions. */
#define LG_VAP_ACTIONS 3

/* Builds the objects for policy p: a new JSON array of ValidatingAdmissionPolicy and
 * ValidatingAdmissionPolicyBinding objects (one pair per mode: enforce → Deny, warn → Warn,
 * audit → Audit). On failure *out is NULL and err says why (a glob CEL cannot express). */
lg_rc lg_vap_build(const lg_policy *p, const lg_vap_options *opt, json_t **out, char *err,
                   size_t errlen);

/* Builds and renders the objects in opt->format; *out is a new string (free it). */
lg_rc lg_vap_render(const lg_policy *p, const lg_vap_options *opt, char **out, char *err,
                    size_t errlen);

/* True when s is a usable object name prefix (a DNS subdomain of at most 245 characters,
 * so that "<s>-enforce" is one too). */
bool lg_vap_name_ok(const char *s);

#endif
