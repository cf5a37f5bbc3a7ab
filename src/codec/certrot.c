/* certrot.c -- the rotation state machine: create, repair, reissue, then rotate the CA in three
 * steps (announce a new CA, switch the serving pair to it, drop the old one), each step only
 * once the one before has had time to reach every replica and API server. */
#include "certrot.h"

#include <stdarg.h>
#include <stdio.h>

#include "times.h"

static const char *const words[] = {
#define LG_CERTROT_WORD(name, word) word,
    LG_CERTROT_ACTIONS(LG_CERTROT_WORD)
#undef LG_CERTROT_WORD
};

const char *lg_certrot_word(lg_certrot_action a) {
  return (unsigned)a < LG_CERTROT_ACTION_COUNT ? words[a] : "unknown";
}

__attribute__((format(printf, 3, 4))) static lg_certrot_plan plan(lg_certrot_action a, bool broken,
                                                                  const char *fmt, ...) {
  lg_certrot_plan p = {.action = a, .broken = broken};
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p.reason, sizeof p.reason, fmt, ap);
  va_end(ap);
  return p;
}

/* RFC 3339 of Unix seconds t, in buf. */
static const char *when(int64_t t, char buf[LG_TIME_BUFLEN]) {
  return lg_time_format_short(t * LG_USEC_PER_SEC, buf);
}

static const char *why(const lg_certrot_view *v) {
  return v->problem && v->problem[0] ? v->problem : "unusable";
}

/* The CA and the serving pair: repaired or reissued when unusable, expired or misnamed. */
static bool check_pair(const lg_certrot_view *v, int64_t now, lg_certrot_plan *out) {
  char t[LG_TIME_BUFLEN];

  /* A Secret without any CA (made empty beforehand) is filled, not counted as broken. */
  if (v->ca.state != LG_CERTROT_OK)
    *out = plan(LG_CERTROT_REPAIR, v->ca.state == LG_CERTROT_BAD, "ca.crt and ca.key: %s",
                v->ca.state == LG_CERTROT_ABSENT ? "missing" : why(v));
  else if (now >= v->ca.not_after)
    *out = plan(LG_CERTROT_REPAIR, true, "the CA expired at %s", when(v->ca.not_after, t));
  else if (v->tls.state != LG_CERTROT_OK)
    *out = plan(LG_CERTROT_REISSUE, true, "tls.crt and tls.key: %s",
                v->tls.state == LG_CERTROT_ABSENT ? "missing" : why(v));
  else if (!v->tls_issued_by_ca)
    *out = plan(LG_CERTROT_REISSUE, true, "tls.crt was not issued by ca.crt");
  else if (now >= v->tls.not_after)
    *out = plan(LG_CERTROT_REISSUE, true, "the serving certificate expired at %s",
                when(v->tls.not_after, t));
  else if (!v->tls_names)
    *out = plan(LG_CERTROT_REISSUE, false,
                "the serving certificate does not name every --cert-dns-names entry");
  else
    return false;
  return true;
}

/* The previous CA: dropped once the switch is an overlap old, or when unusable or expired. */
static bool check_prev(const lg_certrot_view *v, const lg_certrot_policy *p, int64_t now,
                       lg_certrot_plan *out) {
  char t[LG_TIME_BUFLEN];

  if (v->prev.state == LG_CERTROT_ABSENT)
    return false;
  if (v->prev.state == LG_CERTROT_BAD)
    *out = plan(LG_CERTROT_DROP, true, "ca-previous.crt: %s", why(v));
  else if (now >= v->prev.not_after)
    *out =
        plan(LG_CERTROT_DROP, false, "the previous CA expired at %s", when(v->prev.not_after, t));
  else if (now >= v->tls.issued + p->overlap)
    *out = plan(LG_CERTROT_DROP, false,
                "the serving pair was switched to the new CA at %s, an overlap ago",
                when(v->tls.issued, t));
  else
    return false;
  return true;
}

/* The next CA: replaced when unusable or about to expire; the switch once it has been
 * trusted for an overlap and the caBundle is known to hold it. */
static bool check_next(const lg_certrot_view *v, const lg_certrot_policy *p, int64_t now,
                       bool bundle_has_next, lg_certrot_plan *out) {
  char t[LG_TIME_BUFLEN];

  if (v->next.state == LG_CERTROT_ABSENT)
    return false;
  if (v->next.state == LG_CERTROT_BAD)
    *out = plan(LG_CERTROT_ANNOUNCE, true, "ca-next.crt and ca-next.key: %s", why(v));
  else if (now >= v->next.not_after - p->renew_before)
    *out = plan(LG_CERTROT_ANNOUNCE, false, "the announced CA expires at %s: a newer one",
                when(v->next.not_after, t));
  else if (now < v->next.issued + p->overlap)
    *out = plan(LG_CERTROT_NONE, false, "a new CA is trusted since %s; it signs an overlap later",
                when(v->next.issued, t));
  else if (!bundle_has_next)
    *out = plan(LG_CERTROT_NONE, false,
                "waiting for the webhook configuration's caBundle to trust the new CA");
  else
    *out = plan(LG_CERTROT_SWITCH, false, "the new CA has been trusted since %s, an overlap ago",
                when(v->next.issued, t));
  return true;
}

lg_certrot_plan lg_certrot_decide(const lg_certrot_view *v, const lg_certrot_policy *p, int64_t now,
                                  bool bundle_has_next) {
  lg_certrot_plan out;
  char ca[LG_TIME_BUFLEN], tls[LG_TIME_BUFLEN];

  if (!v->exists)
    return plan(LG_CERTROT_CREATE, false, "the Secret does not exist");
  if (check_pair(v, now, &out) || check_prev(v, p, now, &out) ||
      check_next(v, p, now, bundle_has_next, &out))
    return out;
  if (now >= v->ca.not_after - p->renew_before)
    return plan(LG_CERTROT_ANNOUNCE, false, "the CA expires at %s, within --cert-renew-before",
                when(v->ca.not_after, ca));
  if (now >= v->tls.not_after - p->renew_before)
    return plan(LG_CERTROT_REISSUE, false,
                "the serving certificate expires at %s, within --cert-renew-before",
                when(v->tls.not_after, tls));
  return plan(LG_CERTROT_NONE, false, "the CA is valid until %s, the serving certificate until %s",
              when(v->ca.not_after, ca), when(v->tls.not_after, tls));
}
