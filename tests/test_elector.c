/* test_elector.c -- client-go's election state machine (src/elector.c) on a fake clock,
 * against a fake Lease API that judges every write with the real rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elector.h"
#include "policy.h"
#include "rules.h"

#define SEC LG_USEC_PER_SEC
#define T0  INT64_C(1795600800000000) /* 2026-11-25T10:00:00Z */

/* One Lease in memory, with resourceVersion checks and the webhook's rules. */
typedef struct {
  json_t *lease;
  long rv;
  lg_policy *policy;
  int64_t mono;     /* the fake clock (monotonic = wall - T0) */
  bool down;        /* every call fails at once without an answer */
  bool hung;        /* every call hangs until its deadline or 5 s (RenewDeadline / 2) */
  int64_t deadline; /* the deadline of the last call */
  int writes, denials, conflicts;
  char denial[LG_MESSAGE_MAX]; /* the last denial message */
} store;

typedef struct {
  store *s;
  const char *user;
} client;

static lg_time wall_of(const store *s) { return T0 + s->mono; }

/* Records the call's deadline; true when the call gets no answer (down, or hung: then the
 * fake clock moves on to when the caller gives up). */
static bool unanswered(store *s, int64_t deadline) {
  s->deadline = deadline;
  if (s->hung) {
    int64_t end = s->mono + 5 * SEC;
    s->mono = deadline < end ? deadline : end;
  }
  return s->down || s->hung;
}

static json_t *with_rv(json_t *o, long rv) {
  char buf[32];
  snprintf(buf, sizeof buf, "%ld", rv);
  json_object_set_new(json_object_get(o, "metadata"), "resourceVersion", json_string(buf));
  return o;
}

static long fake_get(void *ctx, int64_t deadline, json_t **out, char *msg, size_t msglen) {
  store *s = ((client *)ctx)->s;
  *out = NULL;
  if (unanswered(s, deadline))
    return 0;
  if (!s->lease) {
    snprintf(msg, msglen, "not found");
    return 404;
  }
  *out = json_deep_copy(s->lease);
  return 200;
}

/* Judges old -> new with the default policy at the fake wall time. */
static bool admit(store *s, const client *c, const json_t *old_j, const json_t *new_j, char *msg,
                  size_t msglen) {
  lg_lease ol, nl;
  lg_requester who = {c->user, NULL};
  lg_rule_config cfg;
  lg_verdict v;
  char err[128];
  assert_int_equal(lg_lease_decode(new_j, &nl, err, sizeof err), LG_OK);
  if (old_j)
    assert_int_equal(lg_lease_decode(old_j, &ol, err, sizeof err), LG_OK);
  lg_rules_input in = {
      old_j ? LG_OP_UPDATE : LG_OP_CREATE, "ns", "lock", old_j ? &ol : NULL, &nl, &who, NULL};
  lg_policy_resolve(s->policy, LG_MODE_INHERIT, "ns", "lock", c->user, &cfg);
  lg_rules_evaluate(&in, &cfg, wall_of(s), &v);
  if (v.allowed)
    return true;
  s->denials++;
  snprintf(s->denial, sizeof s->denial, "%s", v.findings[0].message);
  size_t len = (size_t)snprintf(msg, msglen, "admission webhook denied the request:");
  for (size_t i = 0; i < v.n && len < msglen; i++)
    if (v.findings[i].mode == LG_MODE_ENFORCE)
      len += (size_t)snprintf(msg + len, msglen - len, " %s;", v.findings[i].message);
  return false;
}

static long fake_create(void *ctx, int64_t deadline, const json_t *lease, json_t **out, char *msg,
                        size_t msglen) {
  client *c = ctx;
  store *s = c->s;
  *out = NULL;
  if (unanswered(s, deadline))
    return 0;
  if (s->lease)
    return 409;
  if (!admit(s, c, NULL, lease, msg, msglen))
    return 403;
  s->writes++;
  s->lease = with_rv(json_deep_copy(lease), ++s->rv);
  *out = json_deep_copy(s->lease);
  return 201;
}

static long fake_update(void *ctx, int64_t deadline, const json_t *lease, json_t **out, char *msg,
                        size_t msglen) {
  client *c = ctx;
  store *s = c->s;
  const char *rv =
      json_string_value(json_object_get(json_object_get(lease, "metadata"), "resourceVersion"));
  *out = NULL;
  if (unanswered(s, deadline))
    return 0;
  if (!s->lease)
    return 404;
  if (!rv || atol(rv) != s->rv) {
    s->conflicts++;
    snprintf(msg, msglen, "the object has been modified");
    return 409;
  }
  if (!admit(s, c, s->lease, lease, msg, msglen))
    return 403;
  s->writes++;
  json_decref(s->lease);
  s->lease = with_rv(json_deep_copy(lease), ++s->rv);
  *out = json_deep_copy(s->lease);
  return 200;
}

typedef struct {
  client c;
  lg_elector *e;
  int64_t next;
  bool alive;
  int became, lost, get_failed;
} cand;

static void cand_init(cand *k, store *s, const char *id, lg_misbehave m) {
  lg_elector_config cfg = {"ns", "lock", id, 15 * SEC, 10 * SEC, 2 * SEC, m};
  lg_lease_api api = {fake_get, fake_create, fake_update, &k->c};
  char err[128];
  memset(k, 0, sizeof *k);
  k->c = (client){s, id};
  k->alive = true;
  assert_int_equal(lg_elector_new(&cfg, &api, &k->e, err, sizeof err), LG_OK);
}

/* Runs every live candidate's due steps until the fake clock reaches `until`. Checks that
 * at most one candidate believes it leads at any instant (each one's own view). */
static void run_until(store *s, cand *ks, size_t n, int64_t until, int *max_leaders) {
  for (;;) {
    cand *due = NULL;
    for (size_t i = 0; i < n; i++)
      if (ks[i].alive && (!due || ks[i].next < due->next))
        due = &ks[i];
    if (!due || due->next > until)
      break;
    /* A hung call moves the clock on: a step due earlier runs when it can. */
    if (due->next > s->mono)
      s->mono = due->next;
    unsigned ev;
    int64_t at = s->mono;
    due->next = lg_elector_step(due->e, at, wall_of(s), 0.5, &ev);
    if (getenv("LG_TEST_TRACE"))
      fprintf(stderr, "t=%.3f %s ev=%u leader=%d next=%.3f err=%s\n", s->mono / 1e6, due->c.user,
              ev, lg_elector_is_leader(due->e), due->next / 1e6, lg_elector_last_error(due->e));
    assert_true(due->next >= at);
    if (ev & LG_ELECT_BECAME_LEADER)
      due->became++;
    if (ev & LG_ELECT_LOST_LEADERSHIP)
      due->lost++;
    if (ev & LG_ELECT_GET_FAILED)
      due->get_failed++;
    int leaders = 0;
    for (size_t i = 0; i < n; i++)
      leaders += ks[i].alive && lg_elector_is_leader(ks[i].e);
    if (max_leaders && leaders > *max_leaders)
      *max_leaders = leaders;
  }
  if (s->mono < until)
    s->mono = until;
}

static const json_t *spec(const store *s, const char *key) {
  return json_object_get(json_object_get(s->lease, "spec"), key);
}

static int setup(void **state) {
  store *s = calloc(1, sizeof *s);
  char err[128];
  assert_int_equal(lg_policy_default(&s->policy, err, sizeof err), LG_OK);
  *state = s;
  return 0;
}

static int teardown(void **state) {
  store *s = *state;
  json_decref(s->lease);
  lg_policy_free(s->policy);
  free(s);
  return 0;
}

/* create (transitions 0, acquire = renew = now) -> renew at once -> renew every 2 s */
static void test_single_candidate(void **state) {
  store *s = *state;
  cand k;
  int max = 0;
  cand_init(&k, s, "a_1", LG_MISBEHAVE_NONE);
  run_until(s, &k, 1, 0, &max);
  assert_true(lg_elector_is_leader(k.e));
  assert_int_equal(k.became, 1);
  assert_string_equal(json_string_value(spec(s, "holderIdentity")), "a_1");
  assert_int_equal(json_integer_value(spec(s, "leaseTransitions")), 0);
  assert_int_equal(json_integer_value(spec(s, "leaseDurationSeconds")), 15);
  assert_string_equal(json_string_value(spec(s, "acquireTime")), "2026-11-25T10:00:00.000000Z");
  assert_string_equal(json_string_value(spec(s, "renewTime")), "2026-11-25T10:00:00.000000Z");
  run_until(s, &k, 1, 10 * SEC, &max);
  /* create + immediate renew at 0, then renewals at 2, 4, 6, 8, 10 */
  assert_int_equal(s->writes, 7);
  assert_string_equal(json_string_value(spec(s, "acquireTime")), "2026-11-25T10:00:00.000000Z");
  assert_string_equal(json_string_value(spec(s, "renewTime")), "2026-11-25T10:00:10.000000Z");
  assert_int_equal(s->denials, 0);
  assert_string_equal(lg_elector_leader(k.e), "a_1");
  lg_elector_free(k.e);
}

/* Three candidates: one leader; a hard kill fails over after the lease duration. */
static void test_failover_after_kill(void **state) {
  store *s = *state;
  cand ks[3];
  int max = 0;
  cand_init(&ks[0], s, "a_1", LG_MISBEHAVE_NONE);
  cand_init(&ks[1], s, "b_2", LG_MISBEHAVE_NONE);
  cand_init(&ks[2], s, "c_3", LG_MISBEHAVE_NONE);
  ks[1].next = ks[2].next = 100000; /* they start a little later */
  run_until(s, ks, 3, 30 * SEC, &max);
  assert_int_equal(max, 1);
  assert_true(lg_elector_is_leader(ks[0].e));
  assert_false(lg_elector_is_leader(ks[1].e));
  assert_string_equal(lg_elector_leader(ks[1].e), "a_1");
  /* kill the leader: no release, its renewals stop */
  ks[0].alive = false;
  int64_t last_renew = 30 * SEC;
  run_until(s, ks, 3, 60 * SEC, &max);
  assert_int_equal(max, 1);
  const char *holder = json_string_value(spec(s, "holderIdentity"));
  assert_true(strcmp(holder, "b_2") == 0 || strcmp(holder, "c_3") == 0);
  assert_int_equal(json_integer_value(spec(s, "leaseTransitions")), 1);
  /* the fencing token names the new term: its holder and epoch */
  char token[256];
  cand *leader = strcmp(holder, "b_2") == 0 ? &ks[1] : &ks[2];
  assert_true(lg_elector_fencing_token(leader->e, token, sizeof token));
  assert_string_equal(token, strcmp(holder, "b_2") == 0 ? "ns/lock/b_2/1" : "ns/lock/c_3/1");
  assert_false(
      lg_elector_fencing_token((leader == &ks[1] ? &ks[2] : &ks[1])->e, token, sizeof token));
  assert_string_equal(token, "");
  lg_time acquired;
  assert_int_equal(lg_time_parse(json_string_value(spec(s, "acquireTime")), &acquired), LG_OK);
  int64_t failover = acquired - T0 - last_renew;
  /* observed at most one retry (with jitter 0.5: 2 s x 1.6) after the last renewal,
   * then a full lease duration, then up to one more retry */
  assert_true(failover >= 15 * SEC);
  assert_true(failover <= 15 * SEC + 2 * 3200000);
  assert_int_equal(s->denials, 0);
  for (int i = 0; i < 3; i++)
    lg_elector_free(ks[i].e);
}

/* ReleaseOnCancel: holder "", duration 1, transitions kept; the next takes over at once. */
static void test_release_and_takeover(void **state) {
  store *s = *state;
  cand ks[2];
  int max = 0;
  cand_init(&ks[0], s, "a_1", LG_MISBEHAVE_NONE);
  cand_init(&ks[1], s, "b_2", LG_MISBEHAVE_NONE);
  ks[1].next = 100000;
  run_until(s, ks, 2, 20 * SEC, &max);
  s->mono = 20 * SEC + 500000;
  assert_int_equal(lg_elector_release(ks[0].e, s->mono, wall_of(s)), LG_OK);
  ks[0].alive = false;
  assert_false(lg_elector_is_leader(ks[0].e));
  assert_string_equal(json_string_value(spec(s, "holderIdentity")), "");
  assert_int_equal(json_integer_value(spec(s, "leaseDurationSeconds")), 1);
  assert_int_equal(json_integer_value(spec(s, "leaseTransitions")), 0);
  run_until(s, ks, 2, 24 * SEC, &max);
  assert_true(lg_elector_is_leader(ks[1].e));
  assert_string_equal(json_string_value(spec(s, "holderIdentity")), "b_2");
  assert_int_equal(json_integer_value(spec(s, "leaseTransitions")), 1);
  assert_int_equal(s->denials, 0);
  assert_int_equal(max, 1);
  /* releasing when not leader writes nothing */
  int writes = s->writes;
  assert_int_equal(lg_elector_release(ks[0].e, s->mono, wall_of(s)), LG_OK);
  assert_int_equal(s->writes, writes);
  for (int i = 0; i < 2; i++)
    lg_elector_free(ks[i].e);
}

/* A leader that cannot renew steps down when its RenewDeadline (10 s) passes. */
static void test_renew_deadline(void **state) {
  store *s = *state;
  cand k;
  cand_init(&k, s, "a_1", LG_MISBEHAVE_NONE);
  run_until(s, &k, 1, 4 * SEC, NULL);
  assert_true(lg_elector_is_leader(k.e));
  s->down = true;
  /* the round begins at the first failed renewal, 6 s, and ends at 6 + 10 s */
  run_until(s, &k, 1, 15 * SEC + 999999, NULL);
  assert_true(lg_elector_is_leader(k.e));
  run_until(s, &k, 1, 16 * SEC, NULL);
  assert_false(lg_elector_is_leader(k.e));
  assert_int_equal(k.lost, 1);
  s->down = false;
  run_until(s, &k, 1, 40 * SEC, NULL);
  assert_true(lg_elector_is_leader(k.e)); /* the same identity renews its own lease */
  assert_int_equal(k.became, 2);
  lg_elector_free(k.e);
}

/* A leader whose API server hangs (no answer, no refusal) steps down at its RenewDeadline
 * too: each call of the round ends by the deadline, as client-go's context makes it. With
 * calls of RenewDeadline / 2 each and no deadline, the fast path, the GET and the retry
 * would hold it past the expiry of the lease it last wrote (4 s + 15 s), when another
 * candidate may take over: two leaders. */
static void test_renew_deadline_hung_api(void **state) {
  store *s = *state;
  cand k;
  cand_init(&k, s, "a_1", LG_MISBEHAVE_NONE);
  run_until(s, &k, 1, 4 * SEC, NULL);
  assert_true(lg_elector_is_leader(k.e));
  assert_int_equal(s->deadline, 4 * SEC + 10 * SEC); /* a renewal's: its round's deadline */
  s->hung = true;
  /* The round begins at 6 s; its calls end by 16 s; the leader steps down then. */
  run_until(s, &k, 1, 6 * SEC, NULL);
  assert_int_equal(s->deadline, 16 * SEC);
  run_until(s, &k, 1, 16 * SEC, NULL);
  assert_false(lg_elector_is_leader(k.e));
  assert_int_equal(k.lost, 1);
  assert_true(s->mono < 4 * SEC + 15 * SEC);
  /* A candidate's calls have no deadline but their own timeout. */
  s->hung = false;
  run_until(s, &k, 1, 40 * SEC, NULL);
  assert_true(lg_elector_is_leader(k.e));
  assert_int_equal(k.became, 2);
  lg_elector_free(k.e);
}

/* A lease that cannot be read (no answer; a plugin or credential failing) is reported at
 * each attempt, so that elect can say why it never leads; a 404 is not a failure. */
static void test_get_failure_reported(void **state) {
  store *s = *state;
  cand k;
  cand_init(&k, s, "a_1", LG_MISBEHAVE_NONE);
  s->down = true;
  run_until(s, &k, 1, 5 * SEC, NULL);
  assert_false(lg_elector_is_leader(k.e));
  assert_true(k.get_failed >= 2);
  assert_int_equal(lg_elector_last_status(k.e), 0);
  s->down = false;
  k.get_failed = 0;
  run_until(s, &k, 1, 10 * SEC, NULL); /* 404, then created */
  assert_true(lg_elector_is_leader(k.e));
  assert_int_equal(k.get_failed, 0);
  lg_elector_free(k.e);
}

/* A stale cache gets 409 on the fast path; the slow path re-reads and renews. */
static void test_conflict_falls_back(void **state) {
  store *s = *state;
  cand k;
  cand_init(&k, s, "a_1", LG_MISBEHAVE_NONE);
  run_until(s, &k, 1, 1 * SEC, NULL);
  s->rv += 5; /* someone else's metadata-only write */
  with_rv(s->lease, s->rv);
  run_until(s, &k, 1, 2 * SEC, NULL);
  assert_int_equal(s->conflicts, 1);
  assert_true(lg_elector_is_leader(k.e));
  assert_string_equal(json_string_value(spec(s, "renewTime")), "2026-11-25T10:00:02.000000Z");
  lg_elector_free(k.e);
}

/* Each misbehaviour makes the write that its rule stops: a steal from a live leader, the
 * others on a lease of their own. */
static void test_misbehaviours_are_denied(void **state) {
  store *s = *state;
  for (int m = LG_MISBEHAVE_STEAL; m < LG_MISBEHAVE_COUNT; m++) {
    cand ks[2];
    json_decref(s->lease);
    s->lease = NULL;
    s->mono = 0;
    s->denials = 0;
    cand_init(&ks[0], s, "good_1", LG_MISBEHAVE_NONE);
    cand_init(&ks[1], s, "bad_2", (lg_misbehave)m);
    ks[1].next = 1 * SEC;
    ks[0].alive = m == LG_MISBEHAVE_STEAL;
    run_until(s, ks, 2, 12 * SEC, NULL);
    char want[64];
    if (m == LG_MISBEHAVE_FUTURE_RENEW) {
      /* a stamp ahead is advice (a fast clock writes it): never denied, the writer leads */
      assert_int_equal(s->denials, 0);
      assert_true(lg_elector_is_leader(ks[1].e));
      lg_elector_free(ks[0].e);
      lg_elector_free(ks[1].e);
      continue;
    }
    snprintf(want, sizeof want, "[%s]", lg_elector_misbehave_rule((lg_misbehave)m));
    if (s->denials == 0 || !strstr(lg_elector_last_error(ks[1].e), want))
      fail_msg("misbehaviour %d: %d denials, last error \"%s\", want %s", m, s->denials,
               lg_elector_last_error(ks[1].e), want);
    assert_int_equal(lg_elector_last_status(ks[1].e), 403);
    if (m == LG_MISBEHAVE_STEAL)
      assert_true(lg_elector_is_leader(ks[0].e));
    lg_elector_free(ks[0].e);
    lg_elector_free(ks[1].e);
  }
}

static void test_validate(void **state) {
  (void)state;
  char err[128];
  lg_elector_config ok = {"ns", "l", "id", 15 * SEC, 10 * SEC, 2 * SEC, LG_MISBEHAVE_NONE};
  assert_int_equal(lg_elector_validate(&ok, err, sizeof err), LG_OK);
  lg_elector_config c = ok;
  c.renew_deadline = 15 * SEC;
  assert_int_equal(lg_elector_validate(&c, err, sizeof err), LG_EINVAL);
  c = ok;
  c.retry_period = 9 * SEC; /* 10 <= 1.2 x 9 */
  assert_int_equal(lg_elector_validate(&c, err, sizeof err), LG_EINVAL);
  assert_non_null(strstr(err, "1.2"));
  c = ok;
  c.identity = "";
  assert_int_equal(lg_elector_validate(&c, err, sizeof err), LG_EINVAL);
  assert_int_equal(lg_elector_parse_misbehave("steal"), LG_MISBEHAVE_STEAL);
  assert_int_equal(lg_elector_parse_misbehave("nope"), LG_MISBEHAVE_COUNT);
  assert_string_equal(lg_elector_misbehave_rule(LG_MISBEHAVE_FUTURE_RENEW), "timestamps");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_single_candidate, setup, teardown),
      cmocka_unit_test_setup_teardown(test_failover_after_kill, setup, teardown),
      cmocka_unit_test_setup_teardown(test_release_and_takeover, setup, teardown),
      cmocka_unit_test_setup_teardown(test_renew_deadline, setup, teardown),
      cmocka_unit_test_setup_teardown(test_renew_deadline_hung_api, setup, teardown),
      cmocka_unit_test_setup_teardown(test_get_failure_reported, setup, teardown),
      cmocka_unit_test_setup_teardown(test_conflict_falls_back, setup, teardown),
      cmocka_unit_test_setup_teardown(test_misbehaviours_are_denied, setup, teardown),
      cmocka_unit_test(test_validate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
