/* test_certrot.c -- the rotation state machine (src/certrot.c): a table of Secrets and times
 * with the step each must lead to, and a simulation over several CA lifetimes in which replicas
 * and API servers that lag behind the Secret never meet a serving certificate they do not trust. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "certrot.h"

#define T0      INT64_C(1700000000)
#define RENEW   1000
#define OVERLAP 100

#define ABSENT \
  { LG_CERTROT_ABSENT, 0, 0 }
#define BAD \
  { LG_CERTROT_BAD, 0, 0 }
#define OK(issued, until) \
  { LG_CERTROT_OK, T0 + (issued), T0 + (until) }
/* A healthy pair made at T0 for 10000 s. */
#define CA_OK  OK(0, 10000)
#define TLS_OK OK(0, 10000)

static const lg_certrot_policy policy = {RENEW, OVERLAP};

typedef struct {
  const char *name;
  lg_certrot_view v;
  int64_t now; /* seconds after T0 */
  bool bundle_has_next;
  lg_certrot_action want;
  bool broken;
  const char *reason; /* a part of the reason */
} step_case;

static const step_case cases[] = {
    {"no Secret", {.exists = false}, 0, false, LG_CERTROT_CREATE, false, "does not exist"},
    {"empty Secret (made beforehand)",
     {true, ABSENT, ABSENT, false, false, ABSENT, ABSENT, NULL},
     0,
     false,
     LG_CERTROT_REPAIR,
     false,
     "ca.crt and ca.key: missing"},
    {"CA unreadable",
     {true, BAD, TLS_OK, false, true, ABSENT, ABSENT, "ca.key is not base64"},
     0,
     false,
     LG_CERTROT_REPAIR,
     true,
     "ca.key is not base64"},
    {"CA expired",
     {true, OK(0, 50), TLS_OK, true, true, ABSENT, ABSENT, NULL},
     50,
     false,
     LG_CERTROT_REPAIR,
     true,
     "the CA expired at 2023-11-14T22:14:10Z"},
    {"CA expired while a new one is announced",
     {true, OK(0, 50), OK(0, 50), true, true, OK(40, 9000), ABSENT, NULL},
     60,
     true,
     LG_CERTROT_REPAIR,
     true,
     "the CA expired"},
    {"serving pair missing",
     {true, CA_OK, ABSENT, false, false, ABSENT, ABSENT, NULL},
     0,
     false,
     LG_CERTROT_REISSUE,
     true,
     "tls.crt and tls.key: missing"},
    {"serving key does not match",
     {true, CA_OK, BAD, false, false, ABSENT, ABSENT, "tls.key: the key does not match"},
     0,
     false,
     LG_CERTROT_REISSUE,
     true,
     "tls.key: the key does not match"},
    {"serving certificate from another CA",
     {true, CA_OK, TLS_OK, false, true, ABSENT, ABSENT, NULL},
     0,
     false,
     LG_CERTROT_REISSUE,
     true,
     "not issued by ca.crt"},
    {"serving certificate expired",
     {true, CA_OK, OK(0, 100), true, true, ABSENT, ABSENT, NULL},
     100,
     false,
     LG_CERTROT_REISSUE,
     true,
     "the serving certificate expired"},
    {"serving certificate misses a name",
     {true, CA_OK, TLS_OK, true, false, ABSENT, ABSENT, NULL},
     0,
     false,
     LG_CERTROT_REISSUE,
     false,
     "--cert-dns-names"},
    {"healthy",
     {true, CA_OK, TLS_OK, true, true, ABSENT, ABSENT, NULL},
     5000,
     false,
     LG_CERTROT_NONE,
     false,
     "the CA is valid until 2023-11-15T01:00:00Z"},
    {"last second before renewal",
     {true, CA_OK, TLS_OK, true, true, ABSENT, ABSENT, NULL},
     8999,
     false,
     LG_CERTROT_NONE,
     false,
     "valid until"},
    {"CA within renew-before",
     {true, CA_OK, TLS_OK, true, true, ABSENT, ABSENT, NULL},
     9000,
     false,
     LG_CERTROT_ANNOUNCE,
     false,
     "within --cert-renew-before"},
    {"serving certificate within renew-before, CA not",
     {true, CA_OK, OK(0, 2000), true, true, ABSENT, ABSENT, NULL},
     1000,
     false,
     LG_CERTROT_REISSUE,
     false,
     "the serving certificate expires at"},
    {"new CA announced, overlap not over",
     {true, CA_OK, TLS_OK, true, true, OK(9000, 19000), ABSENT, NULL},
     9099,
     true,
     LG_CERTROT_NONE,
     false,
     "signs an overlap later"},
    {"overlap over, caBundle not confirmed",
     {true, CA_OK, TLS_OK, true, true, OK(9000, 19000), ABSENT, NULL},
     9100,
     false,
     LG_CERTROT_NONE,
     false,
     "waiting for the webhook configuration"},
    {"overlap over, caBundle trusts it",
     {true, CA_OK, TLS_OK, true, true, OK(9000, 19000), ABSENT, NULL},
     9100,
     true,
     LG_CERTROT_SWITCH,
     false,
     "an overlap ago"},
    {"no reissue of an expiring pair while the switch waits",
     {true, CA_OK, OK(0, 9500), true, true, OK(9000, 19000), ABSENT, NULL},
     9050,
     true,
     LG_CERTROT_NONE,
     false,
     "signs an overlap later"},
    {"announced CA unusable",
     {true, CA_OK, TLS_OK, true, true, BAD, ABSENT, "ca-next.key is missing"},
     9050,
     true,
     LG_CERTROT_ANNOUNCE,
     true,
     "ca-next.crt and ca-next.key: ca-next.key is missing"},
    {"announced CA about to expire",
     {true, CA_OK, TLS_OK, true, true, OK(8000, 9500), ABSENT, NULL},
     8600,
     true,
     LG_CERTROT_ANNOUNCE,
     false,
     "the announced CA expires"},
    {"switched, previous CA still trusted",
     {true, OK(9000, 19000), OK(9100, 19000), true, true, ABSENT, OK(0, 10000), NULL},
     9199,
     false,
     LG_CERTROT_NONE,
     false,
     "valid until"},
    {"switched an overlap ago",
     {true, OK(9000, 19000), OK(9100, 19000), true, true, ABSENT, OK(0, 10000), NULL},
     9200,
     false,
     LG_CERTROT_DROP,
     false,
     "switched to the new CA"},
    {"previous CA unusable",
     {true, OK(9000, 19000), OK(9100, 19000), true, true, ABSENT, BAD,
      "ca-previous.crt is not base64"},
     9150,
     false,
     LG_CERTROT_DROP,
     true,
     "not base64"},
    {"previous CA expired",
     {true, OK(9000, 19000), OK(9100, 19000), true, true, ABSENT, OK(0, 9150), NULL},
     9150,
     false,
     LG_CERTROT_DROP,
     false,
     "the previous CA expired"},
    {"a broken serving pair comes before the drop",
     {true, OK(9000, 19000), BAD, false, false, ABSENT, OK(0, 10000), "tls.crt: not PEM"},
     9500,
     false,
     LG_CERTROT_REISSUE,
     true,
     "tls.crt: not PEM"},
};

static void test_steps(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const step_case *c = &cases[i];
    lg_certrot_plan p = lg_certrot_decide(&c->v, &policy, T0 + c->now, c->bundle_has_next);
    if (p.action != c->want || p.broken != c->broken || !strstr(p.reason, c->reason))
      fail_msg("case \"%s\": got %s%s (%s), want %s%s (\"...%s...\")", c->name,
               lg_certrot_word(p.action), p.broken ? " broken" : "", p.reason,
               lg_certrot_word(c->want), c->broken ? " broken" : "", c->reason);
  }
}

static void test_words(void **state) {
  static const char *const want[] = {"none",     "create", "repair", "reissue",
                                     "announce", "switch", "drop"};
  (void)state;
  for (int a = 0; a < LG_CERTROT_ACTION_COUNT; a++)
    assert_string_equal(lg_certrot_word((lg_certrot_action)a), want[a]);
  assert_string_equal(lg_certrot_word(LG_CERTROT_ACTION_COUNT), "unknown");
}

/* ---- the simulation ---- */

#define VALIDITY    1000
#define SIM_RENEW   300
#define SIM_OVERLAP 100
#define SIM_SECONDS 6000

/* A certificate of the simulation: which CA it is (or which signed it), and its times. */
typedef struct {
  int id;
  int64_t issued, not_after;
} sim_cert;

/* The Secret at one second: ca, tls (id = its signer), next and prev (id 0: absent). */
typedef struct {
  sim_cert ca, tls, next, prev;
} sim_secret;

static sim_secret history[SIM_SECONDS];

static lg_certrot_cert as_cert(const sim_cert *c) {
  return (lg_certrot_cert){c->id ? LG_CERTROT_OK : LG_CERTROT_ABSENT, c->issued, c->not_after};
}

/* What certsecret.c does for each action, on ids. */
static void sim_apply(sim_secret *s, lg_certrot_action a, int64_t now, int *next_id) {
  sim_cert fresh = {++*next_id, now, now + VALIDITY};
  switch (a) {
  case LG_CERTROT_CREATE:
  case LG_CERTROT_REPAIR:
    memset(s, 0, sizeof *s);
    s->ca = fresh;
    s->tls = (sim_cert){fresh.id, now, now + VALIDITY};
    break;
  case LG_CERTROT_REISSUE:
    s->tls = (sim_cert){s->ca.id, now,
                        s->ca.not_after < now + VALIDITY ? s->ca.not_after : now + VALIDITY};
    break;
  case LG_CERTROT_ANNOUNCE:
    s->next = fresh;
    break;
  case LG_CERTROT_SWITCH:
    s->prev = s->ca;
    s->ca = s->next;
    s->next = (sim_cert){0, 0, 0};
    s->tls = (sim_cert){s->ca.id, now,
                        s->ca.not_after < now + VALIDITY ? s->ca.not_after : now + VALIDITY};
    break;
  case LG_CERTROT_DROP:
    s->prev = (sim_cert){0, 0, 0};
    break;
  default:
    break;
  }
}

static bool trusts(const sim_secret *bundle_of, int id) {
  return id && (bundle_of->ca.id == id || bundle_of->next.id == id || bundle_of->prev.id == id);
}

/* Runs the machine once a second, the caBundle following the Secret at each step, and checks
 * what a replica lagging by rl seconds serves against what an API server lagging by al
 * seconds trusts: every lag under half the overlap must never fail a handshake. */
static void test_simulated_rotations(void **state) {
  const lg_certrot_policy p = {SIM_RENEW, SIM_OVERLAP};
  sim_secret s = {0};
  int next_id = 0, switches = 0, drops = 0, announces = 0;
  bool exists = false;
  (void)state;

  for (int64_t t = 0; t < SIM_SECONDS; t++) {
    for (int round = 0; round < 3; round++) {
      lg_certrot_view v = {exists, as_cert(&s.ca),   as_cert(&s.tls),  true,
                           true,   as_cert(&s.next), as_cert(&s.prev), NULL};
      lg_certrot_plan plan = lg_certrot_decide(&v, &p, t, true);
      if (plan.action == LG_CERTROT_NONE)
        break;
      if (plan.broken || plan.action == LG_CERTROT_REPAIR ||
          (exists && plan.action == LG_CERTROT_CREATE))
        fail_msg("t=%lld: %s (%s) in a healthy rotation", (long long)t,
                 lg_certrot_word(plan.action), plan.reason);
      switches += plan.action == LG_CERTROT_SWITCH;
      drops += plan.action == LG_CERTROT_DROP;
      announces += plan.action == LG_CERTROT_ANNOUNCE;
      sim_apply(&s, plan.action, t, &next_id);
      exists = true;
    }
    history[t] = s;
  }
  /* A CA lives VALIDITY s and is replaced SIM_RENEW s before its end. */
  assert_in_range(switches, 8, 9);
  assert_int_equal(announces, switches + (announces > switches));
  assert_in_range(drops, switches - 1, switches);
  for (int rl = 0; rl < SIM_OVERLAP / 2; rl += 7)
    for (int al = 0; al < SIM_OVERLAP / 2; al += 7)
      for (int64_t t = SIM_OVERLAP; t < SIM_SECONDS; t++) {
        const sim_cert *served = &history[t - rl].tls;
        if (!trusts(&history[t - al], served->id))
          fail_msg("t=%lld: a replica %d s behind serves a certificate of CA %d, which an API "
                   "server %d s behind does not trust",
                   (long long)t, rl, served->id, al);
        if (t >= served->not_after)
          fail_msg("t=%lld: a replica %d s behind serves an expired certificate", (long long)t, rl);
      }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_steps),
      cmocka_unit_test(test_words),
      cmocka_unit_test(test_simulated_rotations),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
