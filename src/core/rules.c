/* rules.c -- the election rules. Pure: every input, including the clock, is an argument. */
#include "rules.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "glob.h"
#include "utf8.h"

const char *const lg_rules_default_deleters[] = {
    "system:serviceaccount:kube-system:generic-garbage-collector",
    "system:serviceaccount:kube-system:namespace-controller", "system:kube-controller-manager",
    NULL};

static const lg_rule_info infos[] = {
#define LG_RULE_INFO(e, id, mode, ops, params, min, max, users, fn) \
  {id, mode, ops, params, min, max, users},
    LG_RULE_MAP(LG_RULE_INFO)
#undef LG_RULE_INFO
};

const lg_rule_info *lg_rules_info(lg_rule r) { return &infos[r < LG_RULE_COUNT ? r : 0]; }

static const char *const mode_names[] = {"off", "audit", "warn", "enforce"};

const char *lg_rules_id(lg_rule r) { return r < LG_RULE_COUNT ? infos[r].id : "unknown"; }

lg_rule lg_rules_parse_id(const char *id) {
  for (int r = 0; r < LG_RULE_COUNT; r++)
    if (id && strcmp(id, infos[r].id) == 0)
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

/* How a term was judged, for messages: written out (basis()) only when a message needs it. */
typedef enum {
  BASIS_NONE,        /* not held */
  BASIS_NO_DURATION, /* no leaseDurationSeconds */
  BASIS_SEEN,        /* this record was seen here */
  BASIS_NO_RENEW,    /* no renewTime */
  BASIS_OFFSET,      /* renewTime less the holder's measured clock offset */
  BASIS_UNKNOWN,     /* renewTime less a tolerance for an unknown clock */
  BASIS_FUTURE,      /* renewTime implausibly far in the future */
} basis_kind;

/* What the rules conclude about the old version's term (see live() below). */
typedef struct {
  bool live;
  lg_time expiry;   /* the webhook's clock */
  basis_kind basis; /* how it was judged */
  int64_t tol;      /* BASIS_UNKNOWN: the tolerance */
  bool term_seen;   /* and a later write of the term seen here moved the expiry */
} liveness;

/* The judgement of one request, shared by the rule functions below. */
typedef struct {
  const lg_rules_input *in;
  const lg_rule_config *cfg;
  lg_time now;
  const lg_lease *old_l, *new_l;
  const lg_evidence *ev; /* never NULL (zeroed when the caller gave none) */
  bool controller;       /* the coordinated-election controller writes a coordinated lease */
  liveness old;          /* of old_l (UPDATE, DELETE) */
  lg_verdict *out;
} judge;

/* Records a finding of rule r in mode: its reason (a static code, the same for every repeat of
 * the violation), the message "[rule] ns/name: detail" for denials, logs and audit annotations,
 * and the warning "[rule] ns/name: brief" cut to 120 bytes. */
static void vreport(judge *j, lg_rule r, lg_mode mode, const char *reason, const char *brief,
                    const char *fmt, va_list ap) {
  lg_finding *f = &j->out->findings[j->out->n++];
  char warning[LG_MESSAGE_MAX];
  int n;
  f->rule = r;
  f->mode = mode;
  f->reason = reason;
  n = snprintf(f->message, sizeof f->message, "[%s] %s/%s: ", lg_rules_id(r), j->in->namespace,
               j->in->name);
  if (n > 0 && (size_t)n < sizeof f->message)
    vsnprintf(f->message + n, sizeof f->message - (size_t)n, fmt, ap);
  lg_utf8_trim(f->message);
  if (snprintf(warning, sizeof warning, "[%s] %s/%s: %s", lg_rules_id(r), j->in->namespace,
               j->in->name, brief) < 0)
    warning[0] = '\0';
  lg_utf8_clip(f->warning, sizeof f->warning, warning, LG_WARNING_MAX);
  if (f->mode == LG_MODE_ENFORCE)
    j->out->allowed = false;
}

/* A finding in rule r's mode. */
static void report(judge *j, lg_rule r, const char *reason, const char *brief, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void report(judge *j, lg_rule r, const char *reason, const char *brief, const char *fmt,
                   ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(j, r, j->cfg->mode[r], reason, brief, fmt, ap);
  va_end(ap);
}

/* A finding that only advises: rule r's mode, but at most WARN, so it never denies. */
static void advise(judge *j, lg_rule r, const char *reason, const char *brief, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void advise(judge *j, lg_rule r, const char *reason, const char *brief, const char *fmt,
                   ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(j, r, j->cfg->mode[r] == LG_MODE_ENFORCE ? LG_MODE_WARN : j->cfg->mode[r], reason, brief,
          fmt, ap);
  va_end(ap);
}

static bool enabled(const judge *j, lg_rule r) { return j->cfg->mode[r] > LG_MODE_OFF; }

static bool same_str(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : "") == 0; }

static bool in_globs(const char *s, const char *const *globs, size_t n) {
  return lg_glob_any(globs, n, s);
}

bool lg_rules_is_controller(const lg_rule_config *cfg, const char *username) {
  return in_globs(username ? username : "", cfg->controller_usernames, cfg->n_controller_usernames);
}

static const char *user_of(const judge *j) {
  return j->in->requester && j->in->requester->username ? j->in->requester->username : "";
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Is the old version's term still running? client-go's candidates trust no timestamp:
 * each waits a whole leaseDurationSeconds after *it* last saw the record change, by its
 * own clock. The webhook does the same with what it saw (lg_witness), best first:
 *  1. seen: this replica admitted this very record `age` ago. A candidate cannot have seen
 *     it earlier (it is stored after admission), so the term runs at least until
 *     now - age + duration: exact, whatever the writers' clocks say.
 *  2. offset: the record was not seen here but the holder's own earlier writes were, which
 *     measured its clock (renewTime - webhook clock): renewTime - offset is when it was
 *     written, by the webhook's clock.
 *  3. neither (a restart, a replica that never saw the holder): renewTime as written,
 *     less a tolerance of min(skew, duration/4) for the holder's unknown clock error.
 * A record more than skew in the future by either estimate is no evidence of a term (a
 * broken or lying clock must not block every candidate): not live. So is a held lease
 * without renewTime or leaseDurationSeconds, which client-go also takes over at once. */
/* A later record of a term seen here renews it at least as late as that sighting (the
 * holder's clock may have jumped back, or this replica missed the last writes). */
static liveness at_least_term(const judge *j, int64_t d, liveness v) {
  const lg_evidence *e = j->ev;
  lg_time floor;
  if (!e->term_seen)
    return v;
  floor = j->now - e->term_seen_age + d - e->term_seen_slack;
  if (v.live && v.expiry >= floor)
    return v;
  if (floor <= j->now && !v.live)
    return v;
  v.expiry = v.live && v.expiry > floor ? v.expiry : floor;
  v.live = j->now < v.expiry;
  v.term_seen = true;
  return v;
}

static liveness live(const judge *j, const lg_lease *l) {
  const lg_evidence *e = j->ev;
  liveness v = {0};
  int64_t d;
  lg_time est;

  if (!lg_lease_held(l))
    return v;
  if (!l->has_duration || l->duration <= 0) {
    v.basis = BASIS_NO_DURATION;
    return v;
  }
  d = l->duration * LG_USEC_PER_SEC;
  if (e->seen) {
    v.expiry = j->now - e->seen_age + d - e->seen_slack;
    v.live = j->now < v.expiry;
    v.basis = BASIS_SEEN;
    return v;
  }
  if (!l->has_renew) {
    v.basis = BASIS_NO_RENEW;
    return at_least_term(j, d, v);
  }
  est = l->renew;
  if (e->has_offset) {
    est -= e->offset;
    v.basis = BASIS_OFFSET;
  } else {
    v.tol = min64(j->cfg->skew, d / 4);
    v.basis = BASIS_UNKNOWN;
  }
  if (est > j->now + j->cfg->skew) {
    v.basis = BASIS_FUTURE;
    return at_least_term(j, d, v);
  }
  v.expiry = est + d - v.tol;
  v.live = j->now < v.expiry;
  return at_least_term(j, d, v);
}

/* How the term of l was judged (v = live(j, l)), in words, into out. */
static const char *basis(const judge *j, const lg_lease *l, const liveness *v, char out[200]) {
  const lg_evidence *e = j->ev;
  char a[LG_TIME_BUFLEN];
  size_t len;
  out[0] = '\0';
  switch (v->basis) {
  case BASIS_NONE:
    break;
  case BASIS_NO_DURATION:
    snprintf(out, 200, "no leaseDurationSeconds");
    break;
  case BASIS_SEEN:
    snprintf(out, 200, "renewed %.1fs ago as seen here; lease %llds",
             (double)e->seen_age / LG_USEC_PER_SEC, (long long)l->duration);
    break;
  case BASIS_NO_RENEW:
    snprintf(out, 200, "no renewTime");
    break;
  case BASIS_OFFSET:
    snprintf(out, 200, "renewTime %s less the holder's clock offset %+.1fs; lease %llds",
             lg_time_format_short(l->renew, a), (double)e->offset / LG_USEC_PER_SEC,
             (long long)l->duration);
    break;
  case BASIS_UNKNOWN:
    snprintf(out, 200, "renewTime %s + %llds - %gs for an unknown clock; not seen renewed here",
             lg_time_format_short(l->renew, a), (long long)l->duration,
             (double)v->tol / LG_USEC_PER_SEC);
    break;
  case BASIS_FUTURE:
    snprintf(out, 200, "renewTime %s is implausibly far in the future",
             lg_time_format_short(l->renew, a));
    break;
  }
  if (v->term_seen) {
    len = strlen(out);
    snprintf(out + len, 200 - len, "%sa write of this term seen here %.1fs ago", len ? "; " : "",
             (double)e->term_seen_age / LG_USEC_PER_SEC);
  }
  return out;
}

bool lg_rules_live(const lg_lease *l, const lg_evidence *e, const lg_rule_config *cfg, lg_time now,
                   lg_time *expiry) {
  static const lg_evidence none;
  lg_rules_input in = {.evidence = e};
  judge j = {&in, cfg, now, l, NULL, e ? e : &none, false, {0}, NULL};
  liveness v = live(&j, l);
  if (expiry)
    *expiry = v.expiry;
  return v.live;
}

static void rule_holder_renew(judge *j) {
  const lg_lease *o = j->old_l, *n = j->new_l;
  const lg_evidence *e = j->ev;
  char exp_s[LG_TIME_BUFLEN], now_s[LG_TIME_BUFLEN], brief[LG_WARNING_MAX + 1], how[200];
  if (j->controller)
    return;
  if (!o) {
    /* CREATE: a lease deleted here while live, re-created by another holder before its
     * term ended, is a takeover in two writes. */
    if (!e->tombstone || !lg_lease_held(n) || e->tombstone_same_holder)
      return;
    snprintf(brief, sizeof brief, "re-created by %s before the deleted lease expired", n->holder);
    report(j, LG_RULE_HOLDER_RENEW, "recreated-before-expiry", brief,
           "re-created with holder \"%s\" while the lease deleted here %.1fs before its term "
           "ended was held by another identity",
           n->holder, (double)e->tombstone_left / LG_USEC_PER_SEC);
    return;
  }
  if (!lg_lease_held(o) || same_str(o->holder, lg_lease_holder_or_empty(n)))
    return;
  /* Under coordinated election only the controller elects: a write that keeps the lease
   * coordinated and names another holder is never a client's, live or not (a client
   * falling back to plain election writes no strategy and is judged as below). */
  if (o->strategy && n && n->strategy && lg_lease_held(n) && !j->ev->anonymous) {
    snprintf(brief, sizeof brief, "coordinated lease moved to %s by %s", n->holder, user_of(j));
    report(j, LG_RULE_HOLDER_RENEW, "coordinated-move", brief,
           "holder \"%s\" -> \"%s\" by user \"%s\": under coordinated leader election "
           "(strategy %s) only the election controller moves the holder",
           o->holder, n->holder, user_of(j), n->strategy);
    return;
  }
  if (!j->old.live)
    return;
  lg_time_format_short(j->old.expiry, exp_s);
  lg_time_format_short(j->now, now_s);
  if (lg_lease_held(n)) {
    snprintf(brief, sizeof brief, "taken before expiry %s by %s", exp_s, n->holder);
    report(j, LG_RULE_HOLDER_RENEW, "taken-before-expiry", brief,
           "takeover before expiry: holder \"%s\" -> \"%s\" while the lease is held until %s "
           "(%s; now %s)",
           o->holder, n->holder, exp_s, basis(j, o, &j->old, how), now_s);
  } else if (e->writer == LG_WRITER_OTHER) {
    /* A release by someone else, then an acquire from "" (allowed at once): a steal in two
     * writes. The holder's own writer is known from the writes seen here. */
    snprintf(brief, sizeof brief, "released by %s, not the holder's writer", user_of(j));
    report(j, LG_RULE_HOLDER_RENEW, "released-by-other", brief,
           "release of a live lease held by \"%s\" until %s by user \"%s\", who is not the one "
           "writing for that holder (%s; now %s)",
           o->holder, exp_s, user_of(j), basis(j, o, &j->old, how), now_s);
  }
}

static void rule_transitions(judge *j) {
  const lg_lease *o = j->old_l, *n = j->new_l;
  int64_t nt, ot, want;
  nt = lg_lease_transitions(n);
  if (nt < 0) {
    report(j, LG_RULE_TRANSITIONS, "negative", "leaseTransitions is negative",
           "leaseTransitions is negative (%lld)", (long long)nt);
    return;
  }
  if (!o)
    return; /* CREATE: any non-negative count */
  ot = lg_lease_transitions(o);
  if (lg_lease_held(n) && !same_str(lg_lease_holder_or_empty(o), n->holder)) {
    want = ot + 1;
    /* Only the coordinated-election controller moves the holder without counting. */
    if (nt == want || (j->controller && nt == ot))
      return;
    report(j, LG_RULE_TRANSITIONS, "not-incremented",
           "new holder must add exactly 1 to leaseTransitions",
           "holder \"%s\" -> \"%s\" must set leaseTransitions to %lld (old + 1), got %lld",
           lg_lease_holder_or_empty(o), n->holder, (long long)want, (long long)nt);
  } else if (nt != ot) {
    report(j, LG_RULE_TRANSITIONS, "changed-without-new-holder",
           "leaseTransitions changed without a new holder",
           "leaseTransitions changed %lld -> %lld without a new holder (holder \"%s\" -> \"%s\")",
           (long long)ot, (long long)nt, lg_lease_holder_or_empty(o), lg_lease_holder_or_empty(n));
  }
}

static void rule_duration(judge *j) {
  const lg_lease *n = j->new_l;
  const lg_rule_config *c = j->cfg;
  if (!lg_lease_held(n))
    return; /* a release may write any duration (client-go writes 1) */
  if (!n->has_duration) {
    /* client-go and the election controller read a missing duration as 0: expired, taken
     * over at once while the holder still leads. */
    report(j, LG_RULE_DURATION, "missing", "held lease has no leaseDurationSeconds",
           "held lease has no leaseDurationSeconds (holder \"%s\"): candidates would read 0 "
           "and take it over at once",
           n->holder);
    return;
  }
  if (n->duration < c->min[LG_RULE_DURATION] || n->duration > c->max[LG_RULE_DURATION])
    report(j, LG_RULE_DURATION, "out-of-range", "leaseDurationSeconds outside the allowed range",
           "leaseDurationSeconds %lld is outside the allowed range %lld..%llds (holder \"%s\")",
           (long long)n->duration, (long long)c->min[LG_RULE_DURATION],
           (long long)c->max[LG_RULE_DURATION], n->holder);
}

/* The band is advice: said when a duration inside the allowed range is written anew
 * (create, new holder or a changed value), not on every renewal, which client-go would log
 * each time. */
static void rule_duration_recommended(judge *j) {
  const lg_lease *n = j->new_l, *o = j->old_l;
  const lg_rule_config *c = j->cfg;
  if (!lg_lease_held(n) || !n->has_duration || n->duration < c->min[LG_RULE_DURATION] ||
      n->duration > c->max[LG_RULE_DURATION] ||
      (n->duration >= c->min[LG_RULE_DURATION_RECOMMENDED] &&
       n->duration <= c->max[LG_RULE_DURATION_RECOMMENDED]))
    return;
  if (o && lg_lease_held(o) && same_str(o->holder, n->holder) && o->has_duration &&
      o->duration == n->duration)
    return;
  report(j, LG_RULE_DURATION_RECOMMENDED, "not-recommended",
         "leaseDurationSeconds outside the recommended range",
         "leaseDurationSeconds %lld is outside the recommended %lld..%llds (holder \"%s\")",
         (long long)n->duration, (long long)c->min[LG_RULE_DURATION_RECOMMENDED],
         (long long)c->max[LG_RULE_DURATION_RECOMMENDED], n->holder);
}

/* renewTime going back by less than skew is a clock stepping back (NTP), not a lie; under
 * coordinated election the old stamp may be the controller's, on the API server's clock,
 * unless this replica saw the holder write it. */
static void rule_renew_monotonic(judge *j) {
  const lg_lease *o = j->old_l, *n = j->new_l;
  char a[LG_TIME_BUFLEN], b[LG_TIME_BUFLEN], detail[LG_MESSAGE_MAX] = "";
  size_t len = 0;
  bool other_clock;
  if (!lg_lease_held(n) || !same_str(lg_lease_holder_or_empty(o), n->holder) || j->controller)
    return;
  other_clock = o->strategy && (!j->ev->seen || j->ev->seen_by_controller);
  if (!other_clock && o->has_renew && n->has_renew && n->renew < o->renew - j->cfg->skew)
    len += (size_t)snprintf(detail + len, sizeof detail - len,
                            "renewTime moved backwards %s -> %s (%.1fs, more than the %llds skew)",
                            lg_time_format(o->renew, a), lg_time_format(n->renew, b),
                            (double)(o->renew - n->renew) / LG_USEC_PER_SEC,
                            (long long)(j->cfg->skew / LG_USEC_PER_SEC));
  /* An acquireTime first set where there was none changes nothing a holder relies on. */
  if (o->has_acquire && (!n->has_acquire || n->acquire != o->acquire) && len < sizeof detail)
    snprintf(detail + len, sizeof detail - len, "%sacquireTime changed %s -> %s", len ? "; " : "",
             lg_time_format(o->acquire, a),
             n->has_acquire ? lg_time_format(n->acquire, b) : "null");
  if (detail[0])
    report(j, LG_RULE_RENEW_MONOTONIC, "not-monotonic",
           "renewTime went backwards or acquireTime changed", "holder \"%s\": %s", n->holder,
           detail);
}

static size_t future(const judge *j, const char *field, lg_time t, char *buf, size_t len,
                     size_t size) {
  char ts[LG_TIME_BUFLEN], now_s[LG_TIME_BUFLEN];
  if (t <= j->now + j->cfg->skew || len >= size)
    return len;
  return len + (size_t)snprintf(
                   buf + len, size - len, "%s%s %s is %.3fs ahead of now %s (skew %llds)",
                   len ? "; " : "", field, lg_time_format(t, ts),
                   (double)(t - j->now) / LG_USEC_PER_SEC, lg_time_format_short(j->now, now_s),
                   (long long)(j->cfg->skew / LG_USEC_PER_SEC));
}

static void rule_timestamps(judge *j) {
  const lg_lease *n = j->new_l;
  char a[LG_TIME_BUFLEN], b[LG_TIME_BUFLEN], detail[LG_MESSAGE_MAX] = "";
  size_t len = 0;
  if (!lg_lease_held(n))
    return;
  if (!n->has_renew)
    len += (size_t)snprintf(detail, sizeof detail, "held lease has no renewTime");
  if (n->has_renew && n->has_acquire && n->renew < n->acquire - j->cfg->skew)
    len += (size_t)snprintf(detail + len, sizeof detail - len,
                            "%srenewTime %s is before acquireTime %s", len ? "; " : "",
                            lg_time_format(n->renew, a), lg_time_format(n->acquire, b));
  /* A stamp ahead of this webhook's clock is what a writer with a fast clock writes (and what
   * every writer writes when the webhook's clock is slow): client-go never reads it, and terms
   * are judged here without it (see term()). Denying it would stop a correct leader renewing,
   * so alone it is advice: warn at most, whatever the rule's mode (one finding per rule). */
  bool wrong = detail[0] != '\0';
  if (n->has_renew)
    len = future(j, "renewTime", n->renew, detail, len, sizeof detail);
  /* acquireTime only when written anew: a renewal keeps the one of its acquisition. */
  if (n->has_acquire && !(j->old_l && j->old_l->has_acquire && j->old_l->acquire == n->acquire))
    len = future(j, "acquireTime", n->acquire, detail, len, sizeof detail);
  if (wrong)
    report(j, LG_RULE_TIMESTAMPS, "inconsistent",
           "renewTime/acquireTime missing, out of order or in the future", "holder \"%s\": %s",
           n->holder, detail);
  else if (detail[0])
    advise(j, LG_RULE_TIMESTAMPS, "ahead",
           "a stamp ahead of the webhook's clock: check the writer's time",
           "holder \"%s\": %s (allowed: a writer with a fast clock writes this)", n->holder,
           detail);
}

/* client-go identities are "<hostname>_<uuid>" and a pod's hostname is its name, cut to 63
 * characters with trailing '-' and '.' dropped; an identity that is just the pod name (or
 * that hostname) matches too. */
static bool prefix_of(const char *identity, const char *p, size_t n) {
  return n > 0 && strncmp(identity, p, n) == 0 && (identity[n] == '\0' || identity[n] == '_');
}

static bool identity_of_pod(const char *identity, const char *pod) {
  size_t n = strlen(pod);
  if (prefix_of(identity, pod, n))
    return true;
  if (n <= 63)
    return false;
  n = 63;
  while (n > 0 && (pod[n - 1] == '-' || pod[n - 1] == '.'))
    n--;
  return prefix_of(identity, pod, n);
}

static void rule_holder_identity(judge *j) {
  const lg_lease *o = j->old_l, *n = j->new_l;
  const lg_requester *who = j->in->requester;
  const char *user = user_of(j);
  const char *pod = who ? who->pod_name : NULL;
  const char *must = NULL, *what = NULL;
  if (j->cfg->n_usernames[LG_RULE_HOLDER_IDENTITY] &&
      !in_globs(user, j->cfg->usernames[LG_RULE_HOLDER_IDENTITY],
                j->cfg->n_usernames[LG_RULE_HOLDER_IDENTITY])) {
    report(j, LG_RULE_HOLDER_IDENTITY, "writer-not-allowed", "writer is not allowed for this lease",
           "user \"%s\" is not allowed to write this lease", user);
    return;
  }
  if (lg_lease_held(n)) {
    must = n->holder;
    what = "renew or acquire";
  } else if (o && lg_lease_held(o)) {
    must = o->holder;
    what = "release";
  }
  if (!must || j->controller)
    return;
  if (!pod)
    report(j, LG_RULE_HOLDER_IDENTITY, "no-pod-name", "writer is not the holder's pod",
           "%s for holder \"%s\" by user \"%s\" carries no pod name (not a bound service-account "
           "token)",
           what, must, user);
  else if (!identity_of_pod(must, pod))
    report(j, LG_RULE_HOLDER_IDENTITY, "wrong-pod", "writer is not the holder's pod",
           "%s for holder \"%s\" came from pod \"%s\" (user \"%s\")", what, must, pod, user);
}

/* Deleting a live lease ends the holder's term behind its back (and a CREATE may follow):
 * allowed to the holder's own writer or pod, the election controller and the usernames
 * the policy names (the garbage collector, the namespace controller). */
static void rule_delete_held(judge *j) {
  const lg_requester *who = j->in->requester;
  char exp_s[LG_TIME_BUFLEN], how[200];
  if (!j->old_l || !j->old.live || j->controller || lg_rules_is_controller(j->cfg, user_of(j)) ||
      in_globs(user_of(j), j->cfg->usernames[LG_RULE_DELETE_HELD],
               j->cfg->n_usernames[LG_RULE_DELETE_HELD]) ||
      j->ev->writer == LG_WRITER_SAME ||
      (who && who->pod_name && identity_of_pod(j->old_l->holder, who->pod_name)))
    return;
  report(j, LG_RULE_DELETE_HELD, "deleted-while-held", "deleted while held",
         "deleted by user \"%s\" while held by \"%s\" until %s (%s)", user_of(j), j->old_l->holder,
         lg_time_format_short(j->old.expiry, exp_s), basis(j, j->old_l, &j->old, how));
}

/* Fencing is judged on the fence's own path (fence.c, POST /fence): no lease write. */
static void rule_fencing(judge *j) { (void)j; }

static void (*const rule_fns[])(judge *) = {
#define LG_RULE_FN(e, id, mode, ops, params, min, max, users, fn) rule_##fn,
    LG_RULE_MAP(LG_RULE_FN)
#undef LG_RULE_FN
};

void lg_rules_evaluate(const lg_rules_input *in, const lg_rule_config *cfg, lg_time now,
                       lg_verdict *out) {
  static const lg_evidence none;
  judge j = {in,    cfg, now, in->old_lease, in->new_lease, in->evidence ? in->evidence : &none,
             false, {0}, out};
  memset(out, 0, sizeof *out);
  out->allowed = true;
  if (cfg->exempt_reason) {
    out->skipped = cfg->exempt_reason;
    return;
  }
  j.controller = ((j.old_l && j.old_l->strategy) || (j.new_l && j.new_l->strategy)) &&
                 (j.ev->anonymous || lg_rules_is_controller(cfg, user_of(&j)));
  if (in->op != LG_OP_CREATE && j.old_l) {
    j.old = live(&j, j.old_l);
    out->old_live = j.old.live;
    out->old_expiry = j.old.expiry;
  }
  switch (in->op) {
  case LG_OP_UPDATE:
    if (!j.old_l || !j.new_l)
      return;
    if (lg_lease_same_spec(j.old_l, j.new_l)) {
      out->skipped = "only metadata changed";
      return;
    }
    break;
  case LG_OP_CREATE:
    if (!j.new_l)
      return;
    j.old_l = NULL;
    break;
  case LG_OP_DELETE:
    break;
  case LG_OP_CONNECT:
    out->skipped = "CONNECT is not a write";
    return;
  }
  for (int r = 0; r < LG_RULE_COUNT; r++)
    if ((infos[r].ops & (1u << in->op)) && enabled(&j, (lg_rule)r))
      rule_fns[r](&j);
}
