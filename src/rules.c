/* rules.c -- the election rules. Pure: every input, including the clock, is an argument. */
#include "rules.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

static const char *const rule_ids[] = {
#define LG_RULE_ID(e, id) id,
    LG_RULE_MAP(LG_RULE_ID)
#undef LG_RULE_ID
};

static const char *const mode_names[] = {"off", "audit", "warn", "enforce"};

const char *lg_rules_id(lg_rule r) { return r < LG_RULE_COUNT ? rule_ids[r] : "unknown"; }

lg_rule lg_rules_parse_id(const char *id) {
  for (int r = 0; r < LG_RULE_COUNT; r++)
    if (id && strcmp(id, rule_ids[r]) == 0)
      return (lg_rule)r;
  return LG_RULE_COUNT;
}

const char *lg_rules_mode_name(lg_mode m) {
  return m >= LG_MODE_OFF && m <= LG_MODE_ENFORCE ? mode_names[m] : "inherit";
}

lg_mode lg_rules_parse_mode(const char *s) {
  for (int m = LG_MODE_OFF; m <= LG_MODE_ENFORCE; m++)
    if (s && strcmp(s, mode_names[m]) == 0)
      return (lg_mode)m;
  return LG_MODE_INHERIT;
}

int lg_rules_parse_operation(const char *s) {
  static const char *const ops[] = {"CREATE", "UPDATE", "DELETE", "CONNECT"};
  for (int i = 0; i < 4; i++)
    if (s && strcmp(s, ops[i]) == 0)
      return i;
  return -1;
}

/* The judgement of one request, shared by the rule functions below. */
typedef struct {
  const lg_rules_input *in;
  const lg_rule_config *cfg;
  lg_time now;
  const lg_lease *old_l, *new_l;
  bool coordinated; /* spec.strategy set: coordinated leader election (KEP-4355) */
  lg_verdict *out;
} judge;

/* Cuts s to at most max bytes without splitting a UTF-8 sequence, marking the cut. */
static void clip(char *dst, size_t dstlen, const char *s, size_t max) {
  size_t n = strlen(s);
  if (max >= dstlen)
    max = dstlen - 1;
  if (n <= max) {
    memcpy(dst, s, n + 1);
    return;
  }
  n = max - 3;
  while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
    n--;
  memcpy(dst, s, n);
  memcpy(dst + n, "...", 4);
}

/* Records a finding of rule r: the message "[rule] ns/name: detail" for denials, logs and
 * audit annotations, and the warning "[rule] ns/name: brief" cut to 120 bytes. */
static void report(judge *j, lg_rule r, const char *brief, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void report(judge *j, lg_rule r, const char *brief, const char *fmt, ...) {
  lg_finding *f = &j->out->findings[j->out->n++];
  char warning[LG_MESSAGE_MAX];
  int n;
  va_list ap;
  f->rule = r;
  f->mode = j->cfg->mode[r];
  n = snprintf(f->message, sizeof f->message, "[%s] %s/%s: ", lg_rules_id(r), j->in->namespace,
               j->in->name);
  if (n > 0 && (size_t)n < sizeof f->message) {
    va_start(ap, fmt);
    vsnprintf(f->message + n, sizeof f->message - (size_t)n, fmt, ap);
    va_end(ap);
  }
  lg_utf8_trim(f->message);
  if (snprintf(warning, sizeof warning, "[%s] %s/%s: %s", lg_rules_id(r), j->in->namespace,
               j->in->name, brief) < 0)
    warning[0] = '\0';
  clip(f->warning, sizeof f->warning, warning, LG_WARNING_MAX);
  if (f->mode == LG_MODE_ENFORCE)
    j->out->allowed = false;
}

static bool enabled(const judge *j, lg_rule r) { return j->cfg->mode[r] > LG_MODE_OFF; }

static bool same_str(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : "") == 0; }

static bool in_globs(const char *s, const char *const *globs, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (fnmatch(globs[i], s ? s : "", 0) == 0)
      return true;
  return false;
}

/* Expiry is judged from renewTime, the holder's own clock, plus the skew tolerance.
 * client-go judges by when *it* last saw the record change, but a webhook keeps no
 * memory between requests, so renewTime is the only clock it has. A lease is live
 * while now < renewTime + leaseDurationSeconds - skew: near the boundary the taker gets
 * the benefit of the doubt, so a correct candidate on a slightly skewed clock is never
 * denied. A lease without renewTime or duration has no known expiry: not provably live. */
static bool live(const judge *j, const lg_lease *l, lg_time *expiry) {
  if (!lg_lease_held(l) || !l->has_renew || !l->has_duration)
    return false;
  *expiry = l->renew + l->duration * LG_USEC_PER_SEC;
  return j->now < *expiry - j->cfg->skew;
}

static bool is_controller(const judge *j) {
  return in_globs(j->in->requester ? j->in->requester->username : "", j->cfg->controller_usernames,
                  j->cfg->n_controller_usernames);
}

static void rule_holder_renew(judge *j) {
  const lg_lease *o = j->old_l, *n = j->new_l;
  lg_time expiry;
  char exp_s[LG_TIME_BUFLEN], now_s[LG_TIME_BUFLEN], brief[LG_WARNING_MAX + 1];
  if (!enabled(j, LG_RULE_HOLDER_RENEW) || !lg_lease_held(n) || same_str(o->holder, n->holder) ||
      !live(j, o, &expiry))
    return;
  /* Coordinated election: the apiserver's controller moves the holder, and a holder may
   * hand over to the preferredHolder the controller named. */
  if (j->coordinated &&
      (is_controller(j) || (o->preferred_holder && same_str(o->preferred_holder, n->holder))))
    return;
  snprintf(brief, sizeof brief, "taken before expiry %s by %s", lg_time_format_short(expiry, exp_s),
           n->holder);
  report(j, LG_RULE_HOLDER_RENEW, brief,
         "takeover before expiry: holder \"%s\" -> \"%s\" while the lease is held until %s "
         "(renewTime + %llds; now %s, skew %llds)",
         o->holder, n->holder, lg_time_format_short(expiry, exp_s), (long long)o->duration,
         lg_time_format_short(j->now, now_s), (long long)(j->cfg->skew / LG_USEC_PER_SEC));
}

static void rule_transitions(judge *j) {
  const lg_lease *o = j->old_l, *n = j->new_l;
  int64_t nt, ot, want;
  if (!enabled(j, LG_RULE_TRANSITIONS))
    return;
  nt = lg_lease_transitions(n);
  if (nt < 0) {
    report(j, LG_RULE_TRANSITIONS, "leaseTransitions is negative",
           "leaseTransitions is negative (%lld)", (long long)nt);
    return;
  }
  if (!o)
    return; /* CREATE: any non-negative count */
  ot = lg_lease_transitions(o);
  if (lg_lease_held(n) && !same_str(lg_lease_holder_or_empty(o), n->holder)) {
    want = ot + 1;
    /* The coordinated-election controller moves the holder without counting. */
    if (nt == want || (j->coordinated && nt == ot))
      return;
    report(j, LG_RULE_TRANSITIONS, "new holder must add exactly 1 to leaseTransitions",
           "holder \"%s\" -> \"%s\" must set leaseTransitions to %lld (old + 1), got %lld",
           lg_lease_holder_or_empty(o), n->holder, (long long)want, (long long)nt);
  } else if (nt != ot) {
    report(j, LG_RULE_TRANSITIONS, "leaseTransitions changed without a new holder",
           "leaseTransitions changed %lld -> %lld without a new holder (holder \"%s\" -> \"%s\")",
           (long long)ot, (long long)nt, lg_lease_holder_or_empty(o), lg_lease_holder_or_empty(n));
  }
}

static void rule_duration(judge *j) {
  const lg_lease *n = j->new_l, *o = j->old_l;
  const lg_rule_config *c = j->cfg;
  if (!lg_lease_held(n) || !n->has_duration)
    return; /* a release may write any duration (client-go writes 1) */
  if (n->duration < c->duration_min || n->duration > c->duration_max) {
    if (enabled(j, LG_RULE_DURATION))
      report(j, LG_RULE_DURATION, "leaseDurationSeconds outside the allowed range",
             "leaseDurationSeconds %lld is outside the allowed range %lld..%llds (holder \"%s\")",
             (long long)n->duration, (long long)c->duration_min, (long long)c->duration_max,
             n->holder);
    return;
  }
  /* The band is advice: said when a duration is written anew (create, new holder or a
   * changed value), not on every renewal, which client-go would log each time. */
  if (!enabled(j, LG_RULE_DURATION_RECOMMENDED) ||
      (n->duration >= c->recommended_min && n->duration <= c->recommended_max))
    return;
  if (o && lg_lease_held(o) && same_str(o->holder, n->holder) && o->has_duration &&
      o->duration == n->duration)
    return;
  report(j, LG_RULE_DURATION_RECOMMENDED, "leaseDurationSeconds outside the recommended range",
         "leaseDurationSeconds %lld is outside the recommended %lld..%llds (holder \"%s\")",
         (long long)n->duration, (long long)c->recommended_min, (long long)c->recommended_max,
         n->holder);
}

static void rule_renew_monotonic(judge *j) {
  const lg_lease *o = j->old_l, *n = j->new_l;
  char a[LG_TIME_BUFLEN], b[LG_TIME_BUFLEN], detail[LG_MESSAGE_MAX] = "";
  size_t len = 0;
  if (!enabled(j, LG_RULE_RENEW_MONOTONIC) || !lg_lease_held(n) ||
      !same_str(lg_lease_holder_or_empty(o), n->holder))
    return;
  if (j->coordinated && is_controller(j))
    return; /* the controller writes on its own clock */
  if (o->has_renew && n->has_renew && n->renew < o->renew)
    len += (size_t)snprintf(detail + len, sizeof detail - len,
                            "renewTime moved backwards %s -> %s", lg_time_format(o->renew, a),
                            lg_time_format(n->renew, b));
  /* An acquireTime first set where there was none changes nothing a holder relies on. */
  if (o->has_acquire && (!n->has_acquire || n->acquire != o->acquire) && len < sizeof detail)
    snprintf(detail + len, sizeof detail - len, "%sacquireTime changed %s -> %s",
             len ? "; " : "", lg_time_format(o->acquire, a),
             n->has_acquire ? lg_time_format(n->acquire, b) : "null");
  if (detail[0])
    report(j, LG_RULE_RENEW_MONOTONIC, "renewTime went backwards or acquireTime changed", "holder \"%s\": %s", n->holder, detail);
}

static size_t future(const judge *j, const char *field, lg_time t, char *buf, size_t len,
                     size_t size) {
  char ts[LG_TIME_BUFLEN], now_s[LG_TIME_BUFLEN];
  if (t <= j->now + j->cfg->skew || len >= size)
    return len;
  return len + (size_t)snprintf(buf + len, size - len, "%s%s %s is %.3fs ahead of now %s (skew %llds)",
                                len ? "; " : "", field, lg_time_format(t, ts),
                                (double)(t - j->now) / LG_USEC_PER_SEC,
                                lg_time_format_short(j->now, now_s),
                                (long long)(j->cfg->skew / LG_USEC_PER_SEC));
}

static void rule_timestamps(judge *j) {
  const lg_lease *n = j->new_l;
  char a[LG_TIME_BUFLEN], b[LG_TIME_BUFLEN], detail[LG_MESSAGE_MAX] = "";
  size_t len = 0;
  if (!enabled(j, LG_RULE_TIMESTAMPS) || !lg_lease_held(n))
    return;
  if (!n->has_renew)
    len += (size_t)snprintf(detail, sizeof detail, "held lease has no renewTime");
  if (n->has_renew && n->has_acquire && n->renew < n->acquire)
    len += (size_t)snprintf(detail + len, sizeof detail - len, "%srenewTime %s is before acquireTime %s",
                            len ? "; " : "", lg_time_format(n->renew, a),
                            lg_time_format(n->acquire, b));
  if (n->has_renew)
    len = future(j, "renewTime", n->renew, detail, len, sizeof detail);
  if (n->has_acquire)
    len = future(j, "acquireTime", n->acquire, detail, len, sizeof detail);
  if (detail[0])
    report(j, LG_RULE_TIMESTAMPS, "renewTime/acquireTime missing, out of order or in the future",
           "holder \"%s\": %s", n->holder, detail);
}

/* client-go identities are "<hostname>_<uuid>" and a pod's hostname is its name; an
 * identity that is just the pod name matches too. */
static bool identity_of_pod(const char *identity, const char *pod) {
  size_t n = strlen(pod);
  return n > 0 && strncmp(identity, pod, n) == 0 && (identity[n] == '\0' || identity[n] == '_');
}

static void rule_holder_identity(judge *j) {
  const lg_lease *o = j->old_l, *n = j->new_l;
  const lg_requester *who = j->in->requester;
  const char *user = who && who->username ? who->username : "";
  const char *pod = who ? who->pod_name : NULL;
  const char *must = NULL, *what = NULL;
  if (!enabled(j, LG_RULE_HOLDER_IDENTITY))
    return;
  if (j->cfg->n_allowed_usernames &&
      !in_globs(user, j->cfg->allowed_usernames, j->cfg->n_allowed_usernames)) {
    report(j, LG_RULE_HOLDER_IDENTITY, "writer is not allowed for this lease", "user \"%s\" is not allowed to write this lease", user);
    return;
  }
  if (lg_lease_held(n)) {
    must = n->holder;
    what = "renew or acquire";
  } else if (o && lg_lease_held(o)) {
    must = o->holder;
    what = "release";
  }
  if (!must || (j->coordinated && is_controller(j)))
    return;
  if (!pod)
    report(j, LG_RULE_HOLDER_IDENTITY, "writer is not the holder's pod",
           "%s for holder \"%s\" by user \"%s\" carries no pod name (not a bound service-account "
           "token)",
           what, must, user);
  else if (!identity_of_pod(must, pod))
    report(j, LG_RULE_HOLDER_IDENTITY, "writer is not the holder's pod", "%s for holder \"%s\" came from pod \"%s\" (user \"%s\")",
           what, must, pod, user);
}

static void rule_delete_held(judge *j) {
  lg_time expiry;
  char exp_s[LG_TIME_BUFLEN];
  if (!enabled(j, LG_RULE_DELETE_HELD) || !j->old_l || !live(j, j->old_l, &expiry))
    return;
  report(j, LG_RULE_DELETE_HELD, "deleted while held", "deleted while held by \"%s\" until %s", j->old_l->holder,
         lg_time_format_short(expiry, exp_s));
}

void lg_rules_evaluate(const lg_rules_input *in, const lg_rule_config *cfg, lg_time now,
                       lg_verdict *out) {
  judge j = {in, cfg, now, in->old_lease, in->new_lease, false, out};
  memset(out, 0, sizeof *out);
  out->allowed = true;
  if (cfg->exempt_reason) {
    out->skipped = cfg->exempt_reason;
    return;
  }
  j.coordinated = (j.old_l && j.old_l->strategy) || (j.new_l && j.new_l->strategy);
  switch (in->op) {
  case LG_OP_UPDATE:
    if (!j.old_l || !j.new_l)
      return;
    if (lg_lease_same_spec(j.old_l, j.new_l)) {
      out->skipped = "only metadata changed";
      return;
    }
    rule_holder_renew(&j);
    rule_transitions(&j);
    rule_duration(&j);
    rule_renew_monotonic(&j);
    rule_timestamps(&j);
    rule_holder_identity(&j);
    break;
  case LG_OP_CREATE:
    if (!j.new_l)
      return;
    j.old_l = NULL;
    rule_transitions(&j);
    rule_duration(&j);
    rule_timestamps(&j);
    rule_holder_identity(&j);
    break;
  case LG_OP_DELETE:
    rule_delete_held(&j);
    break;
  case LG_OP_CONNECT:
    out->skipped = "CONNECT is not a write";
    break;
  }
}
