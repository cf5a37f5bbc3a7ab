/* cmd_check.c -- `leaseguard check`: judge one AdmissionReview offline, as `serve` would. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "decision.h"
#include "policy.h"
#include "webhook.h"

#define CHECK_MAX_BYTES (64u << 20)

static const char usage[] =
    "Usage: leaseguard check [--policy-file=PATH] [--mode=enforce|warn|audit] [--now=RFC3339] "
    "[FILE|-]\n"
    "\n"
    "Reads one AdmissionReview request (from FILE, or stdin when FILE is - or absent) and\n"
    "prints the AdmissionReview response that `serve` would return, through the same code.\n"
    "\n"
    "  --policy-file=PATH  policy to judge with (default: the built-in default policy)\n"
    "  --mode=MODE         replace the policy's defaultMode\n"
    "  --now=RFC3339       the clock to judge with (default: now)\n"
    "\n"
    "Exit status: 0 allowed, 1 denied, 2 unusable input or usage (reason on stderr).\n";

/* check's sink: prints the answer and sets the exit status (ctx: an int). */
static void print_answer(void *ctx, const lg_decision *d) {
  int *status = ctx;
  printf("%s\n", d->response);
  *status = d->allowed ? 0 : 1;
}

/* Reads all of f into a new buffer; NULL with errno set on failure or when too large. */
static char *slurp(FILE *f, size_t *len) {
  size_t cap = 65536, n = 0;
  char *buf = malloc(cap), *grown;
  while (buf) {
    n += fread(buf + n, 1, cap - n, f);
    if (ferror(f)) {
      free(buf);
      return NULL;
    }
    if (n < cap)
      break;
    if (cap >= CHECK_MAX_BYTES) {
      free(buf);
      errno = EFBIG;
      return NULL;
    }
    grown = realloc(buf, cap * 2);
    if (!grown)
      free(buf);
    buf = grown;
    cap *= 2;
  }
  *len = n;
  return buf;
}

int lg_cmd_check(int argc, char **argv) {
  const char *policy_file = NULL, *mode_s = NULL, *now_s = NULL, *input = NULL;
  lg_mode mode = LG_MODE_INHERIT;
  lg_time now = lg_time_now();
  lg_policy *policy = NULL;
  lg_webhook_result res = {0};
  lg_decision d;
  char err[512];
  char *body = NULL;
  size_t len = 0;
  FILE *f = NULL;
  int status = 2, m;

  const lg_flag flags[] = {
      {.name = "--policy-file", .kind = LG_FLAG_STRING, .dst = &policy_file},
      {.name = "--mode",
       .kind = LG_FLAG_ENUM,
       .dst = &mode_s,
       .values = lg_cli_modes,
       .bad = "{flag} must be {values}, got \"{value}\""},
      {.name = "--now", .kind = LG_FLAG_STRING, .dst = &now_s},
  };
  const lg_flags_spec spec = {flags, sizeof flags / sizeof *flags, "unknown flag {arg}", &input,
                              "give one input file"};

  if ((m = lg_cli_parse("check", &spec, argc, argv, usage)) != 0)
    return m == 1 ? 0 : 2;
  if (mode_s)
    mode = lg_rules_parse_mode(mode_s);
  if (now_s && lg_time_parse(now_s, &now) != LG_OK)
    return lg_cli_usage_error("check", "--now must be an RFC 3339 time, got \"%s\"", now_s);
  if ((policy_file ? lg_policy_load_file(policy_file, &policy, err, sizeof err)
                   : lg_policy_default(&policy, err, sizeof err)) != LG_OK) {
    fprintf(stderr, "leaseguard check: %s\n", err);
    goto out;
  }
  f = !input || strcmp(input, "-") == 0 ? stdin : fopen(input, "rb");
  if (!f || !(body = slurp(f, &len))) {
    fprintf(stderr, "leaseguard check: cannot read %s: %s\n", input ? input : "stdin",
            strerror(errno));
    goto out;
  }
  if (lg_webhook_handle(body, len, &(lg_webhook_env){policy, mode, now, 0, NULL}, &res) != LG_OK) {
    fprintf(stderr, "leaseguard check: %s\n", res.error);
    goto out;
  }
  lg_decision_from_webhook(&res, LG_DECISION_CHECK, now, &d);
  lg_decision_emit(&d, &(lg_sink){print_answer, &status}, 1);
out:
  lg_webhook_result_free(&res);
  if (f && f != stdin)
    fclose(f);
  free(body);
  lg_policy_free(policy);
  return status;
}
