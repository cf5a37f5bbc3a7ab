/* elector.c -- client-go's Lease leader election, step by step, with no clock or I/O of
 * its own (the caller passes time and an lg_lease_api). */
#include "elector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "k8sname.h"
#include "lease.h"

/* client-go's wait.JitterUntil factor for acquire retries. */
#define JITTER_FACTOR 1.2

static const char *const misbehave_names[] = {
#define LG_MISBEHAVE_NAME(e, name, rule) name,
    LG_MISBEHAVE_MAP(LG_MISBEHAVE_NAME)
#undef LG_MISBEHAVE_NAME
};
static const lg_rule misbehave_rules[] = {
#define LG_MISBEHAVE_RULE(e, name, rule) rule,
    LG_MISBEHAVE_MAP(LG_MISBEHAVE_RULE)
#undef LG_MISBEHAVE_RULE
};

/* A LeaderElectionRecord: what the elector writes. */
typedef struct {
  const char *holder;
  int64_t duration; /* seconds */
  lg_time acquire, renew;
  int64_t transitions;
} record;

struct lg_elector {
  lg_elector_config cfg;
  lg_lease_api api;
  json_t *cached;        /* the Lease object last read or written (the lock's cache) */
  json_t *observed_spec; /* the record observed last (a spec object we own) */
  lg_lease observed;     /* decoded from observed_spec */
  int64_t observed_mono; /* when observed_spec last changed, on our own clock */
  bool leading;          /* in the renew loop */
  int64_t round_start;   /* start of the current renew round, -1 between rounds */
  int64_t call_deadline; /* when API calls must end: the round's renew deadline, or
                            INT64_MAX outside a round */
  char reported[256];    /* the holder last reported as leader */
  long last_status;
  char last_error[512];
};

lg_misbehave lg_elector_parse_misbehave(const char *s) {
  for (int m = 0; m < LG_MISBEHAVE_COUNT; m++)
    if (s && strcmp(s, misbehave_names[m]) == 0)
      return (lg_misbehave)m;
  return LG_MISBEHAVE_COUNT;
}

const char *lg_elector_misbehave_rule(lg_misbehave m) {
  return m < LG_MISBEHAVE_COUNT && misbehave_rules[m] < LG_RULE_COUNT
             ? lg_rules_id(misbehave_rules[m])
             : "";
}

lg_rc lg_elector_validate(const lg_elector_config *c, char *err, size_t errlen) {
  if (!c->namespace || !c->namespace[0] || !c->name || !c->name[0])
    return lg_fail(err, errlen, LG_EINVAL, "the lock namespace and name are required");
  /* They go into API paths: only names Kubernetes accepts. */
  if (!lg_k8sname_is_label(c->namespace))
    return lg_fail(err, errlen, LG_EINVAL,
                   "the lock namespace \"%.80s\" is not a namespace name (a DNS-1123 label: "
                   "lower-case letters, digits and '-', at most 63)",
                   c->namespace);
  if (!lg_k8sname_is_subdomain(c->name))
    return lg_fail(err, errlen, LG_EINVAL,
                   "the lock name \"%.80s\" is not a lease name (a DNS-1123 subdomain: "
                   "lower-case letters, digits, '-' and '.', at most 253)",
                   c->name);
  if (!c->identity || !c->identity[0])
    return lg_fail(err, errlen, LG_EINVAL, "the identity must not be empty");
  if (c->retry_period <= 0)
    return lg_fail(err, errlen, LG_EINVAL, "retry period must be greater than zero");
  if (c->lease_duration <= c->renew_deadline)
    return lg_fail(err, errlen, LG_EINVAL, "lease duration must be greater than renew deadline");
  if ((double)c->renew_deadline <= JITTER_FACTOR * (double)c->retry_period)
    return lg_fail(err, errlen, LG_EINVAL,
                   "renew deadline must be greater than 1.2 x retry period");
  if (c->lease_duration % LG_USEC_PER_SEC)
    return lg_fail(err, errlen, LG_EINVAL, "lease duration must be whole seconds");
  return LG_OK;
}

lg_rc lg_elector_new(const lg_elector_config *cfg, const lg_lease_api *api, lg_elector **out,
                     char *err, size_t errlen) {
  lg_elector *e;
  lg_rc rc;
  *out = NULL;
  if ((rc = lg_elector_validate(cfg, err, errlen)))
    return rc;
  e = calloc(1, sizeof *e);
  if (!e)
    return lg_fail(err, errlen, LG_ENOMEM, "out of memory");
  e->cfg = *cfg;
  e->api = *api;
  e->round_start = -1;
  e->call_deadline = INT64_MAX;
  *out = e;
  return LG_OK;
}

void lg_elector_free(lg_elector *e) {
  if (!e)
    return;
  json_decref(e->cached);
  json_decref(e->observed_spec);
  free(e);
}

bool lg_elector_is_leader(const lg_elector *e) { return e->leading; }

const char *lg_elector_leader(const lg_elector *e) { return e->reported; }

long lg_elector_last_status(const lg_elector *e) { return e->last_status; }

const char *lg_elector_last_error(const lg_elector *e) { return e->last_error; }

/* client-go's IsLeader: the observed record names us. */
static bool observed_self(const lg_elector *e) {
  return e->observed_spec && e->observed.holder && strcmp(e->observed.holder, e->cfg.identity) == 0;
}

bool lg_elector_fencing_token(const lg_elector *e, char *buf, size_t len) {
  if (len)
    buf[0] = '\0';
  if (!lg_elector_is_leader(e) || !observed_self(e))
    return false;
  return snprintf(buf, len, "%s/%s/%s/%lld", e->cfg.namespace, e->cfg.name, e->cfg.identity,
                  (long long)lg_lease_transitions(&e->observed)) < (int)len;
}

/* client-go's isLeaseValid: judged on our own clock from when the record last changed,
 * with the record's own duration (never its renewTime: clocks differ). */
static bool observed_valid(const lg_elector *e, int64_t mono) {
  int64_t d = e->observed.has_duration ? e->observed.duration : 0;
  return e->observed_spec && e->observed_mono + d * LG_USEC_PER_SEC > mono;
}

/* Makes spec (stolen) the observed record, seen at mono. */
static void observe(lg_elector *e, json_t *spec, int64_t mono) {
  json_t *wrap = NULL;
  char err[64];
  json_decref(e->observed_spec);
  e->observed_spec = spec;
  e->observed_mono = mono;
  memset(&e->observed, 0, sizeof e->observed);
  if (spec)
    wrap = json_pack("{s:O}", "spec", spec);
  /* the decoded strings point into spec, which we keep */
  if (!wrap || lg_lease_decode(wrap, &e->observed, err, sizeof err) != LG_OK)
    memset(&e->observed, 0, sizeof e->observed);
  json_decref(wrap);
}

static json_t *spec_of(const record *r) {
  char a[LG_TIME_BUFLEN], b[LG_TIME_BUFLEN];
  /* MicroTime with exactly 6 fractional digits: Go's parser requires them. */
  return json_pack("{s:s, s:I, s:s, s:s, s:I}", "holderIdentity", r->holder, "leaseDurationSeconds",
                   (json_int_t)r->duration, "acquireTime", lg_time_format(r->acquire, a),
                   "renewTime", lg_time_format(r->renew, b), "leaseTransitions",
                   (json_int_t)r->transitions);
}

/* The wrong write a self-test asked for; release is never changed. */
static void misbehave(const lg_elector *e, record *r, bool renewing) {
  switch (e->cfg.misbehave) {
  case LG_MISBEHAVE_SKIP_TRANSITION:
    r->transitions += 1;
    break;
  case LG_MISBEHAVE_BACKDATE_RENEW:
    /* Well past any clock step the default policy tolerates (30 s). */
    if (renewing)
      r->renew -= 300 * LG_USEC_PER_SEC;
    break;
  case LG_MISBEHAVE_HUGE_DURATION:
    r->duration = 36000;
    break;
  case LG_MISBEHAVE_FUTURE_RENEW:
    r->renew += 300 * LG_USEC_PER_SEC;
    break;
  default:
    break;
  }
}

/* Writes r: PUT of the cached object with a new spec, or POST when create. On success
 * the answer becomes the cache and the observed record. */
static bool write_record(lg_elector *e, const record *r, bool create, int64_t mono) {
  json_t *obj = NULL, *answer = NULL, *spec = spec_of(r);
  long status;
  bool ok = false;

  if (!spec)
    goto out;
  if (create)
    obj = json_pack("{s:s, s:s, s:{s:s, s:s}, s:O}", "apiVersion", "coordination.k8s.io/v1", "kind",
                    "Lease", "metadata", "name", e->cfg.name, "namespace", e->cfg.namespace, "spec",
                    spec);
  else if (e->cached && (obj = json_deep_copy(e->cached)))
    json_object_set(obj, "spec", spec);
  if (!obj) {
    snprintf(e->last_error, sizeof e->last_error, "lease not initialized");
    e->last_status = 0;
    goto out;
  }
  e->last_error[0] = '\0';
  status = create ? e->api.create(e->api.ctx, e->call_deadline, obj, &answer, e->last_error,
                                  sizeof e->last_error)
                  : e->api.update(e->api.ctx, e->call_deadline, obj, &answer, e->last_error,
                                  sizeof e->last_error);
  if (status < 200 || status > 299 || !answer) {
    e->last_status = status;
    json_decref(answer);
    goto out;
  }
  json_decref(e->cached);
  e->cached = answer;
  observe(e, json_incref(spec), mono);
  ok = true;
out:
  json_decref(spec);
  json_decref(obj);
  return ok;
}

/* client-go's tryAcquireOrRenew. */
static bool try_acquire_or_renew(lg_elector *e, int64_t mono, lg_time wall, unsigned *events) {
  record r = {e->cfg.identity, e->cfg.lease_duration / LG_USEC_PER_SEC, wall, wall, 0};
  json_t *got = NULL;
  long status;
  bool ok = false;

  /* 1. Fast path: the leader updates its cached object optimistically. */
  if (observed_self(e) && observed_valid(e, mono)) {
    r.acquire = e->observed.has_acquire ? e->observed.acquire : 0;
    r.transitions = lg_lease_transitions(&e->observed);
    misbehave(e, &r, true);
    if (write_record(e, &r, false, mono))
      return true;
    *events |= LG_ELECT_WRITE_FAILED;
    r = (record){e->cfg.identity, e->cfg.lease_duration / LG_USEC_PER_SEC, wall, wall, 0};
  }
  /* 2. Get the record, or create it. */
  status = e->api.get(e->api.ctx, e->call_deadline, &got, e->last_error, sizeof e->last_error);
  if (status == 404) {
    misbehave(e, &r, false);
    ok = write_record(e, &r, true, mono);
    if (!ok)
      *events |= LG_ELECT_WRITE_FAILED;
    goto out;
  }
  if (status != 200 || !got) {
    e->last_status = status;
    *events |= LG_ELECT_GET_FAILED;
    goto out;
  }
  json_decref(e->cached);
  e->cached = json_incref(got);
  {
    json_t *spec = json_object_get(got, "spec");
    if (!e->observed_spec || !spec || !json_equal(spec, e->observed_spec))
      observe(e, spec ? json_deep_copy(spec) : json_object(), mono);
  }
  /* 3. Someone else holds it and it has not expired by our clock. */
  if (e->observed.holder && e->observed.holder[0] && observed_valid(e, mono) && !observed_self(e) &&
      e->cfg.misbehave != LG_MISBEHAVE_STEAL)
    goto out;
  /* 4. Renew keeps acquireTime and transitions; a takeover counts one more. */
  if (observed_self(e)) {
    r.acquire = e->observed.has_acquire ? e->observed.acquire : 0;
    r.transitions = lg_lease_transitions(&e->observed);
  } else {
    r.transitions = lg_lease_transitions(&e->observed) + 1;
  }
  misbehave(e, &r, observed_self(e));
  ok = write_record(e, &r, false, mono);
  if (!ok)
    *events |= LG_ELECT_WRITE_FAILED;
out:
  json_decref(got);
  return ok;
}

static void report_transition(lg_elector *e, unsigned *events) {
  const char *holder = e->observed.holder ? e->observed.holder : "";
  if (strcmp(holder, e->reported) == 0)
    return;
  snprintf(e->reported, sizeof e->reported, "%s", holder);
  *events |= LG_ELECT_NEW_LEADER;
}

static int64_t jittered(const lg_elector *e, double jitter) {
  return e->cfg.retry_period + (int64_t)(jitter * JITTER_FACTOR * (double)e->cfg.retry_period);
}

int64_t lg_elector_step(lg_elector *e, int64_t mono, lg_time wall, double jitter,
                        unsigned *events) {
  int64_t deadline;
  bool ok;
  *events = 0;
  if (!e->leading) {
    /* acquire: retry every RetryPeriod with jitter until it succeeds */
    ok = try_acquire_or_renew(e, mono, wall, events);
    report_transition(e, events);
    if (!ok)
      return mono + jittered(e, jitter);
    e->leading = true;
    e->round_start = -1;
    *events |= LG_ELECT_BECAME_LEADER;
    return mono; /* client-go's renew loop starts at once */
  }
  if (e->round_start < 0)
    e->round_start = mono;
  deadline = e->round_start + e->cfg.renew_deadline;
  if (mono >= deadline) {
    /* the round's RenewDeadline passed without a successful renewal */
    e->round_start = -1;
    e->leading = false;
    *events |= LG_ELECT_LOST_LEADERSHIP;
    return mono + jittered(e, jitter);
  }
  /* Every call of the round ends by its deadline, so a leader whose API server hangs
   * steps down at the deadline, before the lease it last wrote expires. */
  e->call_deadline = deadline;
  ok = try_acquire_or_renew(e, mono, wall, events);
  e->call_deadline = INT64_MAX;
  report_transition(e, events);
  if (ok) {
    e->round_start = -1;
    return mono + e->cfg.retry_period;
  }
  /* client-go polls every RetryPeriod until RenewDeadline, even when another holder
   * shows up (only a steal makes that happen), then steps down. */
  return mono + e->cfg.retry_period < deadline ? mono + e->cfg.retry_period : deadline;
}

lg_rc lg_elector_release(lg_elector *e, int64_t mono, lg_time wall) {
  record r = {"", 1, wall, wall, 0};
  if (!e->leading || !observed_self(e))
    return LG_OK;
  r.transitions = lg_lease_transitions(&e->observed);
  if (!write_record(e, &r, false, mono))
    return LG_EIO;
  e->leading = false;
  return LG_OK;
}
