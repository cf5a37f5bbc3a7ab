/* fence.c -- fencing tokens and the fence's decision: a write of a fenced object is allowed
 * only under the current epoch of a live lease. Pure. */
#include "fence.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

static bool alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool lg_fence_dns_label(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > 63 || !alnum(s[0]) || !alnum(s[n - 1]))
    return false;
  for (size_t i = 0; i < n; i++)
    if (!alnum(s[i]) && s[i] != '-')
      return false;
  return true;
}

bool lg_fence_dns_subdomain(const char *s) {
  char label[64];
  size_t n = s ? strlen(s) : 0, start = 0;
  if (n == 0 || n > 253)
    return false;
  for (size_t i = 0; i <= n; i++) {
    if (i < n && s[i] != '.')
      continue;
    if (i - start == 0 || i - start > 63)
      return false;
    memcpy(label, s + start, i - start);
    label[i - start] = '\0';
    if (!lg_fence_dns_label(label))
      return false;
    start = i + 1;
  }
  return true;
}

static lg_rc bad(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static lg_rc bad(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  if (err && errlen) {
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    lg_utf8_trim(err);
  }
  return LG_EINVAL;
}

static const char shape[] = "want <namespace>/<lease>/<holderIdentity>/<leaseTransitions>";

lg_rc lg_fence_token_parse(const char *s, size_t len, lg_fence_token *out, char *err,
                           size_t errlen) {
  const char *a, *b, *c, *end = s + len;
  size_t hn;
  int64_t tr = 0;

  memset(out, 0, sizeof *out);
  if (!s || len == 0)
    return bad(err, errlen, "empty fencing token (%s)", shape);
  for (const char *p = s; p < end; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      return bad(err, errlen, "fencing token has a control character (%s)", shape);
  a = memchr(s, '/', len);
  b = a ? memchr(a + 1, '/', (size_t)(end - a - 1)) : NULL;
  for (c = end; c > s && c[-1] != '/'; c--)
    ;
  c = c > s ? c - 1 : NULL;
  if (!a || !b || !c || c <= b)
    return bad(err, errlen, "fencing token is not four '/'-separated parts (%s)", shape);
  if ((size_t)(a - s) >= sizeof out->namespace || (size_t)(b - a - 1) >= sizeof out->name)
    return bad(err, errlen, "fencing token: namespace or lease name too long");
  memcpy(out->namespace, s, (size_t)(a - s));
  memcpy(out->name, a + 1, (size_t)(b - a - 1));
  if (!lg_fence_dns_label(out->namespace))
    return bad(err, errlen, "fencing token: \"%s\" is not a namespace name", out->namespace);
  if (!lg_fence_dns_subdomain(out->name))
    return bad(err, errlen, "fencing token: \"%s\" is not a lease name", out->name);
  hn = (size_t)(c - b - 1);
  if (hn == 0)
    return bad(err, errlen, "fencing token has no holder identity (%s)", shape);
  if (hn > LG_FENCE_HOLDER_MAX)
    return bad(err, errlen, "fencing token: holder identity longer than %d bytes",
               LG_FENCE_HOLDER_MAX);
  memcpy(out->holder, b + 1, hn);
  if (c + 1 == end || end - (c + 1) > 10)
    return bad(err, errlen, "fencing token: leaseTransitions must be a number from 0 to %d",
               INT32_MAX);
  for (const char *p = c + 1; p < end; p++) {
    if (*p < '0' || *p > '9' || (p == c + 1 && *p == '0' && p + 1 < end))
      return bad(err, errlen, "fencing token: leaseTransitions must be a number from 0 to %d",
                 INT32_MAX);
    tr = tr * 10 + (*p - '0');
  }
  if (tr > INT32_MAX)
    return bad(err, errlen, "fencing token: leaseTransitions must be a number from 0 to %d",
               INT32_MAX);
  out->transitions = tr;
  return LG_OK;
}

int lg_fence_token_format(char *buf, size_t size, const char *ns, const char *name,
                          const char *holder, int64_t transitions) {
  return snprintf(buf, size, "%s/%s/%s/%lld", ns, name, holder, (long long)transitions);
}

void lg_fence_target_of(const lg_fence_input *in, lg_fence_target *t) {
  memset(t, 0, sizeof *t);
  t->ok = in->token && lg_fence_token_parse(in->token, in->token_len, &t->token, NULL, 0) == LG_OK;
}

/* Records the decision: a violation in mode, with its reason (a static code), the message and
 * a short warning. */
static void verdict(const lg_fence_input *in, lg_fence_verdict *out, const char *reason,
                    const char *brief, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void verdict(const lg_fence_input *in, lg_fence_verdict *out, const char *reason,
                    const char *brief, const char *fmt, ...) {
  char who[400];
  int n;
  va_list ap;
  snprintf(who, sizeof who, "%s%s%s/%s", in->namespace && in->namespace[0] ? in->namespace : "",
           in->namespace && in->namespace[0] ? "/" : "", in->kind ? in->kind : "object",
           in->name ? in->name : "");
  out->violation = true;
  out->mode = in->mode;
  out->reason = reason;
  out->allowed = in->mode != LG_MODE_ENFORCE;
  n = snprintf(out->message, sizeof out->message, "[fencing] %s: ", who);
  if (n > 0 && (size_t)n < sizeof out->message) {
    va_start(ap, fmt);
    vsnprintf(out->message + n, sizeof out->message - (size_t)n, fmt, ap);
    va_end(ap);
  }
  lg_utf8_trim(out->message);
  snprintf(out->warning, sizeof out->warning, "[fencing] %s: %s", who, brief);
  lg_utf8_trim(out->warning);
}

void lg_fence_decide(const lg_fence_input *in, const lg_fence_target *t, lg_time now,
                     lg_fence_verdict *out) {
  const lg_fence_lease *l = in->lease;
  lg_fence_token old;
  char why[256] = "", exp_s[LG_TIME_BUFLEN], now_s[LG_TIME_BUFLEN];

  memset(out, 0, sizeof *out);
  out->allowed = true;
  if (in->mode == LG_MODE_OFF || in->op == LG_OP_CONNECT)
    return;
  if (!in->token) {
    verdict(in, out, "no-token", "no fencing token",
            "a fenced object (label %s=true) must carry the annotation %s "
            "(<namespace>/<lease>/<holderIdentity>/<leaseTransitions>)",
            LG_FENCE_LABEL, LG_FENCE_ANNOTATION);
    return;
  }
  if (!t->ok) {
    lg_fence_token_parse(in->token, in->token_len, &old, why, sizeof why);
    verdict(in, out, "malformed-token", "malformed fencing token", "%s: %s", LG_FENCE_ANNOTATION,
            why);
    return;
  }
  /* An object stays fenced by the lease it was written under: a writer cannot name another
   * lease it happens to hold. */
  if (in->op == LG_OP_UPDATE && in->old_token &&
      lg_fence_token_parse(in->old_token, in->old_token_len, &old, NULL, 0) == LG_OK &&
      (strcmp(old.namespace, t->token.namespace) || strcmp(old.name, t->token.name))) {
    verdict(in, out, "other-lease", "fencing token names another lease",
            "the object is fenced by lease %s/%s; the write names lease %s/%s", old.namespace,
            old.name, t->token.namespace, t->token.name);
    return;
  }
  if (!l || l->state == LG_FENCE_LEASE_UNKNOWN) {
    if (in->unknown_allows)
      return;
    verdict(in, out, "state-unknown", "lease state unknown",
            "the state of lease %s/%s is unknown (cache cold and the API unreachable); the fence "
            "fails closed (serve --fencing-unknown=deny)",
            t->token.namespace, t->token.name);
    return;
  }
  if (l->state == LG_FENCE_LEASE_ABSENT) {
    verdict(in, out, "lease-not-found", "lease not found",
            "lease %s/%s does not exist (token epoch %s/%lld)", t->token.namespace, t->token.name,
            t->token.holder, (long long)t->token.transitions);
    return;
  }
  if (strcmp(l->holder ? l->holder : "", t->token.holder) != 0 ||
      l->transitions != t->token.transitions) {
    verdict(in, out, "stale-token", "stale fencing token",
            "stale epoch for lease %s/%s: the write carries holder \"%s\" epoch %lld, the lease "
            "is now held by \"%s\" epoch %lld",
            t->token.namespace, t->token.name, t->token.holder, (long long)t->token.transitions,
            l->holder ? l->holder : "", (long long)l->transitions);
    return;
  }
  if (!l->live) {
    verdict(in, out, "lease-expired", "lease expired",
            "lease %s/%s of holder \"%s\" epoch %lld is not live (its term ended %s; now %s): the "
            "holder may have been deposed",
            t->token.namespace, t->token.name, t->token.holder, (long long)t->token.transitions,
            l->expiry ? lg_time_format_short(l->expiry, exp_s) : "unknown",
            lg_time_format_short(now, now_s));
    return;
  }
}
