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
  const char *policy_file = NULL, *mode_s = NULL;
  lg_vap_options opt = {"leaseguard", LG_MODE_INHERIT, "Fail", LG_VAP_YAML};
  lg_policy *policy = NULL;
  char err[512], *text = NULL;
  int status = 1;

  static const char *const formats[] = {"yaml", "json", "helm", NULL};
  static const char *const failure_policies[] = {"Fail", "Ignore", NULL};
  const char *format = NULL;
  const lg_flag flags[] = {
      {.name = "--policy-file", .kind = LG_FLAG_STRING, .dst = &policy_file},
      {.name = "--mode",
       .kind = LG_FLAG_ENUM,
       .dst = &mode_s,
       .values = lg_cli_modes,
       .bad = "{flag} must be {values}, got \"{value}\""},
      {.name = "--name", .kind = LG_FLAG_STRING, .dst = &opt.name},
      {.name = "--failure-policy",
       .kind = LG_FLAG_ENUM,
       .dst = &opt.failure_policy,
       .values = failure_policies,
       .bad = "{flag} must be {values}, got \"{value}\""},
      {.name = "--output",
       .kind = LG_FLAG_ENUM,
       .dst = &format,
       .values = formats,
       .bad = "{flag} must be {values}, got \"{value}\""},
  };
  /* vap's usage errors carry no "Run ... --help" line. */
  const lg_flags_spec spec = {flags, sizeof flags / sizeof *flags,
                              "unknown {what} {arg} (see --help)", NULL, NULL};

  switch (lg_flags_parse(&spec, argc, argv, err, sizeof err)) {
  case LG_FLAGS_HELP:
    fputs(usage, stdout);
    return 0;
  case LG_FLAGS_USAGE:
    fprintf(stderr, "leaseguard vap: %s\n", err);
    return 2;
  default:
    break;
  }
  if (format)
    opt.format = !strcmp(format, "json")   ? LG_VAP_JSON
                 : !strcmp(format, "helm") ? LG_VAP_HELM
                                           : LG_VAP_YAML;
  if (mode_s)
    opt.mode_override = lg_rules_parse_mode(mode_s);
  if (!lg_vap_name_ok(opt.name)) {
    fprintf(stderr,
            "leaseguard vap: --name must be a DNS subdomain (lowercase letters, digits, "
            "'-' and '.') of at most 245 characters, got \"%s\"\n",
            opt.name);
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
