/* cmd_vap.c -- `leaseguard vap`: print the clock-free rules as ValidatingAdmissionPolicies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "policy.h"
#include "vap.h"

static const char usage[] =
    "Usage: leaseguard vap [--policy-file=PATH] [--mode=enforce|warn|audit] [--name=PREFIX]\n"
    "                      [--failure-policy=Fail|Ignore] [--output=yaml|json]\n"
    "\n"
    "Prints the rules of the policy that need no clock (transitions, duration,\n"
    "duration-recommended, renew-monotonic, holder-identity, and the clock-free parts of\n"
    "holder-renew and timestamps) as ValidatingAdmissionPolicies and bindings\n"
    "(admissionregistration.k8s.io/v1, Kubernetes 1.30 or later), judged by the API server\n"
    "itself: one policy and binding per mode (enforce -> Deny, warn -> Warn, audit -> Audit),\n"
    "each rule guarded by the mode the policy gives it for the lease (overrides and\n"
    "exemptions included). Apply the output with `kubectl apply -f -`.\n"
    "\n"
    "  --policy-file=PATH       policy to translate (default: the built-in default policy)\n"
    "  --mode=MODE              replace the policy's defaultMode, as serve --mode does\n"
    "  --name=PREFIX            object names PREFIX-enforce, PREFIX-warn, PREFIX-audit\n"
    "                           (default leaseguard; a DNS subdomain)\n"
    "  --failure-policy=POLICY  Fail (default: a CEL error rejects the write; the expressions\n"
    "                           guard every optional field) or Ignore\n"
    "  --output=FORMAT          yaml (default: `---` separated documents), json (a v1 List),\n"
    "                           or helm (the chart's templates/validatingadmissionpolicy.yaml)\n"
    "\n"
    "Exit status: 0 printed, 1 the policy cannot be loaded or expressed in CEL (reason on\n"
    "stderr), 2 usage.\n";

int lg_cmd_vap(int argc, char **argv) {
  const char *policy_file = NULL, *mode_s = NULL, *v;
  lg_vap_options opt = {"leaseguard", LG_MODE_INHERIT, "Fail", LG_VAP_YAML};
  lg_policy *policy = NULL;
  char err[512], *text = NULL;
  int status = 1, m;

  for (int i = 1; i < argc; i++) {
    if (lg_cli_is_help(argv[i])) {
      fputs(usage, stdout);
      return 0;
    }
    if ((m = lg_cli_flag(argc, argv, &i, "--policy-file", &v)) > 0)
      policy_file = v;
    else if (m == 0 && (m = lg_cli_flag(argc, argv, &i, "--mode", &v)) > 0)
      mode_s = v;
    else if (m == 0 && (m = lg_cli_flag(argc, argv, &i, "--name", &v)) > 0)
      opt.name = v;
    else if (m == 0 && (m = lg_cli_flag(argc, argv, &i, "--failure-policy", &v)) > 0)
      opt.failure_policy = v;
    else if (m == 0 && (m = lg_cli_flag(argc, argv, &i, "--output", &v)) > 0) {
      if (strcmp(v, "yaml") && strcmp(v, "json") && strcmp(v, "helm")) {
        fprintf(stderr, "leaseguard vap: --output must be yaml, json or helm, got \"%s\"\n", v);
        return 2;
      }
      opt.format = !strcmp(v, "json") ? LG_VAP_JSON : !strcmp(v, "helm") ? LG_VAP_HELM : LG_VAP_YAML;
    } else if (m < 0)
      return 2;
    else {
      fprintf(stderr, "leaseguard vap: unknown %s %s (see --help)\n",
              argv[i][0] == '-' ? "flag" : "argument", argv[i]);
      return 2;
    }
  }
  if (mode_s && ((opt.mode_override = lg_rules_parse_mode(mode_s)) == LG_MODE_INHERIT ||
                 opt.mode_override == LG_MODE_OFF)) {
    fprintf(stderr, "leaseguard vap: --mode must be enforce, warn or audit, got \"%s\"\n", mode_s);
    return 2;
  }
  if (strcmp(opt.failure_policy, "Fail") && strcmp(opt.failure_policy, "Ignore")) {
    fprintf(stderr, "leaseguard vap: --failure-policy must be Fail or Ignore, got \"%s\"\n",
            opt.failure_policy);
    return 2;
  }
  if (!lg_vap_name_ok(opt.name)) {
    fprintf(stderr, "leaseguard vap: --name must be a DNS subdomain (lowercase letters, digits, "
                    "'-' and '.') of at most 245 characters, got \"%s\"\n", opt.name);
    return 2;
  }
  if ((policy_file ? lg_policy_load_file(policy_file, &policy, err, sizeof err)
                   : lg_policy_default(&policy, err, sizeof err)) != LG_OK) {
    fprintf(stderr, "leaseguard vap: %s\n", err);
    goto out;
  }
  if (lg_vap_render(policy, &opt, &text, err, sizeof err) != LG_OK) {
    fprintf(stderr, "leaseguard vap: %s%s%s%s\n", policy_file ? "policy file " : "",
            policy_file ? policy_file : "", policy_file ? ": " : "", err);
    goto out;
  }
  fputs(text, stdout);
  status = fflush(stdout) == 0 ? 0 : 1;
out:
  free(text);
  lg_policy_free(policy);
  return status;
}
