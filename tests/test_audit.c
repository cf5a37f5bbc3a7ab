/* test_audit.c -- src/audit.c (the pair logic, events, the value reader), `leaseguard audit`
 * on the recorded histories in fixtures/audit/, and `audit --watch` against the Lease API
 * test server (findings, metrics, resume, 410 Gone and re-list, SIGTERM); lg_kube_stream. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <jansson.h>

#include "audit.h"
#include "decision.h"
#include "harness.h"
#include "kube.h"
#include "log.h"

#define FIX    LG_FIXTURES "/audit/"
#define T0     INT64_C(1764064800000000) /* 2025-11-25T10:00:00Z, the fixtures' first time */
#define ABSENT -1000

/* ---- lg_audit_clock ---- */

static void test_clock(void **state) {
  static const struct {
    const char *name;
    long old_renew, new_acquire, new_renew; /* seconds after T0, or ABSENT */
    bool deleted;
    long observed; /* ABSENT: recorded */
    long want;
  } cases[] = {
      {"new renewTime", 0, 2, 5, false, ABSENT, 5},
      {"new acquireTime without renewTime", 0, 3, ABSENT, false, ABSENT, 3},
      {"old renewTime when the new has no time", 7, ABSENT, ABSENT, false, ABSENT, 7},
      {"deleted: the last renewTime", 9, ABSENT, ABSENT, true, ABSENT, 9},
      {"no time at all", ABSENT, ABSENT, ABSENT, false, ABSENT, -1},
      {"watched: a late event is judged at its own time", 0, 0, 5, false, 60, 5},
      {"watched: a renewTime in the future is judged at arrival", 0, 0, 60, false, 5, 5},
      {"watched: a deletion at arrival", 9, ABSENT, ABSENT, true, 30, 30},
      {"watched: no time in the version", ABSENT, ABSENT, ABSENT, false, 12, 12},
  };
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    lg_lease o = {0}, n = {0};
    lg_time obs = T0 + cases[i].observed * LG_USEC_PER_SEC, got;
    lg_time want = cases[i].want < 0 ? 0 : T0 + cases[i].want * LG_USEC_PER_SEC;
    o.has_renew = cases[i].old_renew != ABSENT;
    o.renew = T0 + cases[i].old_renew * LG_USEC_PER_SEC;
    n.has_acquire = cases[i].new_acquire != ABSENT;
    n.acquire = T0 + cases[i].new_acquire * LG_USEC_PER_SEC;
    n.has_renew = cases[i].new_renew != ABSENT;
    n.renew = T0 + cases[i].new_renew * LG_USEC_PER_SEC;
    got =
        lg_audit_clock(&o, cases[i].deleted ? NULL : &n, cases[i].observed == ABSENT ? NULL : &obs);
    if (got != want)
      fail_msg("%s: got %lld, want %lld", cases[i].name, (long long)got, (long long)want);
  }
}

/* ---- the pair logic: a script of versions through one tracker ---- */

static json_t *mk_lease(const char *ns, const char *name, const char *rv, const char *holder,
                        int dur, long acq, long renew, int trans) {
  char ts[LG_TIME_BUFLEN];
  json_t *spec = json_object(), *o;
  if (holder)
    json_object_set_new(spec, "holderIdentity", json_string(holder));
  if (dur != ABSENT)
    json_object_set_new(spec, "leaseDurationSeconds", json_integer(dur));
  if (acq != ABSENT)
    json_object_set_new(spec, "acquireTime",
                        json_string(lg_time_format(T0 + acq * LG_USEC_PER_SEC, ts)));
  if (renew != ABSENT)
    json_object_set_new(spec, "renewTime",
                        json_string(lg_time_format(T0 + renew * LG_USEC_PER_SEC, ts)));
  if (trans != ABSENT)
    json_object_set_new(spec, "leaseTransitions", json_integer(trans));
  o = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:o}", "apiVersion", "coordination.k8s.io/v1",
                "kind", "Lease", "metadata", "name", name, "namespace", ns, "resourceVersion", rv,
                "spec", spec);
  assert_non_null(o);
  return o;
}

typedef struct {
  const char *name;
  const char *ns, *lease, *rv, *holder;
  int dur;
  long acq, renew;
  int trans;
  bool deleted;
  long observed; /* ABSENT: recorded */
  int op;        /* lg_operation, or -1: a duplicate */
  bool skipped;
  const char *rules; /* the findings' rule ids, comma-separated */
} step;

static void run_script(const step *s, size_t n, const char *policy_json, bool want_unjudged) {
  lg_policy *p = NULL;
  lg_audit *a;
  char err[256];
  assert_int_equal(policy_json
                       ? lg_policy_parse(policy_json, strlen(policy_json), &p, err, sizeof err)
                       : lg_policy_default(&p, err, sizeof err),
                   LG_OK);
  assert_non_null(a = lg_audit_new(p, LG_MODE_INHERIT));
  for (size_t i = 0; i < n; i++) {
    json_t *o = mk_lease(s[i].ns, s[i].lease, s[i].rv, s[i].holder, s[i].dur, s[i].acq, s[i].renew,
                         s[i].trans);
    lg_time obs = T0 + s[i].observed * LG_USEC_PER_SEC;
    lg_audit_change c;
    char rules[256] = "";
    if (lg_audit_observe(a, o, s[i].deleted, s[i].observed == ABSENT ? NULL : &obs, &c, err,
                         sizeof err) != LG_OK)
      fail_msg("%s: %s", s[i].name, err);
    json_decref(o); /* the tracker and the change keep their own references */
    for (size_t k = 0; k < c.verdict.n; k++)
      snprintf(rules + strlen(rules), sizeof rules - strlen(rules), "%s%s", k ? "," : "",
               lg_rules_id(c.verdict.findings[k].rule));
    if (s[i].op < 0 ? !c.duplicate : c.duplicate || (int)c.op != s[i].op)
      fail_msg("%s: duplicate %d op %d, want op %d", s[i].name, c.duplicate, c.op, s[i].op);
    if ((c.skipped != NULL) != s[i].skipped)
      fail_msg("%s: skipped %s", s[i].name, c.skipped ? c.skipped : "(no)");
    if (strcmp(rules, s[i].rules) != 0)
      fail_msg("%s: findings [%s], want [%s]", s[i].name, rules, s[i].rules);
    if (strcmp(c.namespace, s[i].ns) != 0 || strcmp(c.name, s[i].lease) != 0)
      fail_msg("%s: the change names %s/%s", s[i].name, c.namespace, c.name);
    if (want_unjudged && !s[i].deleted && c.op != LG_OP_DELETE && !c.duplicate &&
        !c.identity_unjudged)
      fail_msg("%s: holder-identity not marked as unjudged", s[i].name);
    lg_audit_change_clear(&c);
  }
  lg_audit_free(a);
  lg_policy_free(p);
}

#define C LG_OP_CREATE
#define U LG_OP_UPDATE
#define D LG_OP_DELETE
#define A ABSENT

static void test_pairs(void **state) {
  static const step s[] = {
      /* name                            ns    lease rv   holder dur acq ren tr  del  obs op  skip rules */
      {"create", "ns", "l", "1", "a", 15, 0, 0, 0, false, A, C, false, ""},
      {"the same version again", "ns", "l", "1", "a", 15, 0, 0, 0, false, A, -1, false, ""},
      {"renew", "ns", "l", "2", "a", 15, 0, 2, 0, false, A, U, false, ""},
      {"metadata only", "ns", "l", "3", "a", 15, 0, 2, 0, false, A, U, true, ""},
      {"same name, other namespace", "ns2", "l", "4", "x", 15, 0, 0, 0, false, A, C, false, ""},
      {"steal before expiry", "ns", "l", "5", "b", 15, 4, 4, 1, false, A, U, false, "holder-renew"},
      {"the other namespace's renew", "ns2", "l", "6", "x", 15, 0, 3, 0, false, A, U, false, ""},
      {"backdated renew", "ns", "l", "7", "b", 15, 4, -40, 1, false, A, U, false,
       "renew-monotonic,timestamps"},
      {"takeover after expiry, +2", "ns", "l", "8", "c", 15, 40, 40, 3, false, A, U, false,
       "transitions"},
      {"ten hours", "ns", "l", "9", "c", 36000, 40, 42, 3, false, A, U, false, "duration"},
      {"release", "ns", "l", "10", "", 1, 50, 50, 3, false, A, U, false, ""},
      {"acquire after a release", "ns", "l", "11", "d", 15, 51, 51, 4, false, A, U, false, ""},
      {"watched: renewTime 1 h ahead", "ns", "l", "12", "d", 15, 51, 3651, 4, false, 53, U, false,
       "timestamps"},
      {"deleted while held", "ns", "l", "13", "d", 15, 51, 52, 4, true, A, D, false, "delete-held"},
      {"created again after deletion", "ns", "l", "14", "e", 15, 60, 60, 0, false, A, C, false, ""},
      {"node lease create", "kube-node-lease", "n1", "15", "n1", 40, A, 0, A, false, A, C, false,
       ""},
      {"node lease renew", "kube-node-lease", "n1", "16", "n1", 40, A, 10, A, false, A, U, false,
       ""},
      {"node lease: steal, audit mode", "kube-node-lease", "n1", "17", "n2", 40, A, 11, A, false, A,
       U, false, "holder-renew,transitions"},
  };
  (void)state;
  run_script(s, sizeof s / sizeof *s, NULL, false);
}

static void test_pairs_identity_unjudged(void **state) {
  /* holder-identity enforced: a writer who is not the holder's pod would be denied by serve,
   * but the history does not say who wrote, so nothing is reported, and that is flagged. */
  static const char policy[] =
      "{\"apiVersion\":\"leaseguard.io/v1alpha1\",\"kind\":\"LeasePolicy\","
      "\"rules\":{\"holder-identity\":{\"mode\":\"enforce\"}}}";
  static const step s[] = {
      {"create", "ns", "l", "1", "a", 15, 0, 0, 0, false, A, C, false, ""},
      {"renew", "ns", "l", "2", "a", 15, 0, 2, 0, false, A, U, false, ""},
  };
  (void)state;
  run_script(s, sizeof s / sizeof *s, policy, true);
}

static void test_observe_rejects(void **state) {
  static const char *const bad[] = {
      "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\"}}",
      "{\"kind\":\"Lease\",\"metadata\":{\"namespace\":\"ns\"},\"spec\":{}}",
      "{\"kind\":\"Lease\",\"metadata\":{\"name\":\"l\"},\"spec\":{\"renewTime\":5}}",
      "{\"kind\":\"Lease\",\"metadata\":{\"name\":\"l\"},\"spec\":{\"leaseDurationSeconds\":\"15\"}"
      "}",
      "[1]",
  };
  lg_policy *p = NULL;
  lg_audit *a;
  lg_audit_stats st;
  char err[256];
  (void)state;
  assert_int_equal(lg_policy_default(&p, err, sizeof err), LG_OK);
  assert_non_null(a = lg_audit_new(p, LG_MODE_INHERIT));
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    json_t *o = json_loads(bad[i], 0, NULL);
    lg_audit_change c;
    assert_non_null(o);
    err[0] = '\0';
    if (lg_audit_observe(a, o, false, NULL, &c, err, sizeof err) != LG_ELEASE || !err[0])
      fail_msg("accepted %s", bad[i]);
    assert_null(c.new_object);
    json_decref(o);
  }
  lg_audit_get_stats(a, &st);
  assert_int_equal(st.versions, 0);
  assert_int_equal(st.leases, 0);
  lg_audit_free(a);
  lg_policy_free(p);
}

static void test_events(void **state) {
  static const struct {
    const char *json;
    lg_rc rc;
    lg_audit_event_type type;
    long code;
  } cases[] = {
      {"{\"type\":\"ADDED\",\"object\":{}}", LG_OK, LG_AUDIT_EV_ADDED, 0},
      {"{\"type\":\"MODIFIED\",\"object\":{}}", LG_OK, LG_AUDIT_EV_MODIFIED, 0},
      {"{\"type\":\"DELETED\",\"object\":{}}", LG_OK, LG_AUDIT_EV_DELETED, 0},
      {"{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"9\"}}}", LG_OK,
       LG_AUDIT_EV_BOOKMARK, 0},
      {"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\"}}",
       LG_OK, LG_AUDIT_EV_ERROR, 410},
      {"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":500}}", LG_OK,
       LG_AUDIT_EV_ERROR, 500},
      {"{\"type\":\"SOMETHING\",\"object\":{}}", LG_EJSON, 0, 0},
      {"{\"type\":\"ADDED\"}", LG_EJSON, 0, 0},
      {"{\"object\":{}}", LG_EJSON, 0, 0},
      {"{\"type\":\"ADDED\",\"object\":[]}", LG_EJSON, 0, 0},
  };
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    json_t *ev = json_loads(cases[i].json, 0, NULL), *obj;
    lg_audit_event_type type = (lg_audit_event_type)-1;
    long code = -1;
    char err[128];
    lg_rc rc = lg_audit_event(ev, &type, &obj, &code, err, sizeof err);
    if (rc != cases[i].rc || (rc == LG_OK && (type != cases[i].type || code != cases[i].code ||
                                              obj != json_object_get(ev, "object"))))
      fail_msg("%s: rc %d type %d code %ld", cases[i].json, rc, type, code);
    json_decref(ev);
  }
}

static void count_forgotten(void *ud, const char *ns, const char *name) {
  char *seen = ud;
  snprintf(seen + strlen(seen), 256 - strlen(seen), "%s/%s;", ns, name);
}

static void test_forget_absent(void **state) {
  lg_policy *p = NULL;
  lg_audit *a;
  json_t *items = json_array();
  char err[128], seen[256] = "";
  lg_audit_change c;
  (void)state;
  assert_int_equal(lg_policy_default(&p, err, sizeof err), LG_OK);
  assert_non_null(a = lg_audit_new(p, LG_MODE_INHERIT));
  const char *names[][2] = {{"a", "x"}, {"b", "x"}, {"a", "y"}};
  for (size_t i = 0; i < 3; i++) {
    json_t *o = mk_lease(names[i][0], names[i][1], "1", "h", 15, 0, 0, 0);
    assert_int_equal(lg_audit_observe(a, o, false, NULL, &c, err, sizeof err), LG_OK);
    lg_audit_change_clear(&c);
    if (i != 1)
      json_array_append(items, o);
    json_decref(o);
  }
  assert_int_equal(lg_audit_forget_absent(a, items, count_forgotten, seen), 1);
  assert_string_equal(seen, "b/x;");
  /* Forgotten: its next version is a CREATE; the others are still known. */
  json_t *again = mk_lease("b", "x", "2", "h", 15, 0, 1, 0);
  assert_int_equal(lg_audit_observe(a, again, false, NULL, &c, err, sizeof err), LG_OK);
  assert_int_equal(c.op, LG_OP_CREATE);
  lg_audit_change_clear(&c);
  json_decref(again);
  again = mk_lease("a", "y", "1", "h", 15, 0, 0, 0);
  assert_int_equal(lg_audit_observe(a, again, false, NULL, &c, err, sizeof err), LG_OK);
  assert_true(c.duplicate);
  lg_audit_change_clear(&c);
  json_decref(again);
  json_decref(items);
  lg_audit_free(a);
  lg_policy_free(p);
}

static void on_change_count(void *ud, const lg_audit_change *c) { *(size_t *)ud += c->verdict.n; }

static void test_feed(void **state) {
  static const struct {
    const char *json;
    lg_rc rc;
    size_t versions, findings, errors;
  } cases[] = {
      {"{\"kind\":\"List\",\"items\":[]}", LG_OK, 0, 0, 0},
      {"{\"kind\":\"LeaseList\",\"metadata\":{},\"items\":[{\"metadata\":{\"name\":\"a\","
       "\"namespace\":\"n\",\"resourceVersion\":\"1\"},\"spec\":{\"holderIdentity\":\"h\","
       "\"leaseDurationSeconds\":36000,\"renewTime\":\"2025-11-25T10:00:00.000000Z\"}}]}",
       LG_OK, 1, 1, 0},
      {"{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"5\"}}}", LG_OK, 0, 0,
       0},
      {"{\"type\":\"ERROR\",\"object\":{\"code\":410}}", LG_OK, 0, 0, 1},
      {"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"b\",\"namespace\":\"n\"}}}", LG_OK,
       1, 0, 0},
      {"{\"kind\":\"List\",\"items\":{}}", LG_EJSON, 0, 0, 0},
      {"{\"kind\":\"List\",\"items\":[{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"}}]}",
       LG_ELEASE, 0, 0, 0},
      {"{\"type\":\"GONE\",\"object\":{}}", LG_EJSON, 0, 0, 0},
      {"[{\"kind\":\"Lease\"}]", LG_EJSON, 0, 0, 0},
  };
  lg_policy *p = NULL;
  char err[256];
  (void)state;
  assert_int_equal(lg_policy_default(&p, err, sizeof err), LG_OK);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    lg_audit *a = lg_audit_new(p, LG_MODE_INHERIT);
    json_t *v = json_loads(cases[i].json, 0, NULL);
    size_t findings = 0;
    lg_audit_stats st;
    lg_rc rc;
    assert_non_null(v);
    rc = lg_audit_feed(a, v, on_change_count, &findings, err, sizeof err);
    lg_audit_get_stats(a, &st);
    if (rc != cases[i].rc || st.versions != cases[i].versions || findings != cases[i].findings ||
        st.findings != findings || st.error_events != cases[i].errors)
      fail_msg("%s: rc %d versions %zu findings %zu errors %zu", cases[i].json, rc, st.versions,
               findings, st.error_events);
    json_decref(v);
    lg_audit_free(a);
  }
  lg_policy_free(p);
}

static void test_next_value(void **state) {
  static const struct {
    const char *in;
    bool eof;
    lg_rc rc;
    bool value;
    size_t used;
    const char *err; /* a part of the message */
  } cases[] = {
      {"{\"a\":1}\n{\"b\":2}", false, LG_OK, true, 7, NULL},
      {"  \n {\"a\":1}{\"b\":2}", false, LG_OK, true, 11, NULL},
      {"[1,2]", true, LG_OK, true, 5, NULL},
      {" \n\t ", false, LG_OK, false, 0, NULL},
      {" \n\t ", true, LG_OK, false, 0, NULL},
      {"", true, LG_OK, false, 0, NULL},
      {"{\"a\":\"unfinished", false, LG_OK, false, 0, NULL},
      {"{\"a\":tr", false, LG_OK, false, 0, NULL},
      {"{\"a\":1", false, LG_OK, false, 0, NULL},
      {"{\"a\":\"unfinished", true, LG_EJSON, false, 0, "line 1"},
      {"\n\n{\"a\":1", true, LG_EJSON, false, 0, "line 3"},
      {"{\"a\":1,,}", false, LG_EJSON, false, 0, "line 1"},
      {"\n\nnot json", false, LG_EJSON, false, 0, "line 3"},
      {"42", true, LG_EJSON, false, 0, "expected"},
  };
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    json_t *v = (json_t *)1;
    size_t used = 99;
    char err[256] = "";
    lg_rc rc = lg_audit_next_value(cases[i].in, strlen(cases[i].in), cases[i].eof, 1, &v, &used,
                                   err, sizeof err);
    if (rc != cases[i].rc || (v != NULL) != cases[i].value ||
        (rc == LG_OK && used != cases[i].used) || (cases[i].err && !strstr(err, cases[i].err)))
      fail_msg("case %zu (%s): rc %d value %d used %zu err %s", i, cases[i].in, rc, v != NULL, used,
               err);
    json_decref(rc == LG_OK ? v : NULL);
  }
}

static void test_finding_json(void **state) {
  lg_policy *p = NULL;
  lg_audit *a;
  lg_audit_change c;
  char err[128];
  json_t *o1 = mk_lease("ns", "l", "1", "a", 15, 0, 0, 0),
         *o2 = mk_lease("ns", "l", "2", "b", 15, 4, 4, 1);
  json_t *line;
  lg_decision d;
  char *text;
  (void)state;
  assert_int_equal(lg_policy_default(&p, err, sizeof err), LG_OK);
  assert_non_null(a = lg_audit_new(p, LG_MODE_WARN));
  assert_int_equal(lg_audit_observe(a, o1, false, NULL, &c, err, sizeof err), LG_OK);
  lg_audit_change_clear(&c);
  assert_int_equal(lg_audit_observe(a, o2, false, NULL, &c, err, sizeof err), LG_OK);
  assert_int_equal(c.verdict.n, 1);
  lg_decision_from_audit(&c, LG_DECISION_WATCH, &d);
  assert_non_null(text = lg_log_audit_line(&d, 0));
  assert_non_null(line = json_loads(text, 0, NULL));
  free(text);
  /* A history has no requester and no answer. */
  assert_null(json_object_get(line, "user"));
  assert_null(json_object_get(line, "decision"));
  assert_null(json_object_get(line, "allowed"));
  const struct {
    const char *key, *want;
  } fields[] = {{"time", "2025-11-25T10:00:04.000000Z"},
                {"rule", "holder-renew"},
                {"mode", "warn"},
                {"lease", "ns/l"},
                {"operation", "UPDATE"},
                {"oldHolder", "a"},
                {"newHolder", "b"},
                {"oldRenewTime", "2025-11-25T10:00:00.000000Z"},
                {"oldExpiry", "2025-11-25T10:00:15.000000Z"},
                {"newRenewTime", "2025-11-25T10:00:04.000000Z"},
                {"resourceVersion", "2"},
                {"oldResourceVersion", "1"},
                {"source", "watch"},
                {"msg", "lease violation"}};
  for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
    const char *got = json_string_value(json_object_get(line, fields[i].key));
    if (!got || strcmp(got, fields[i].want) != 0)
      fail_msg("%s: %s, want %s", fields[i].key, got ? got : "(none)", fields[i].want);
  }
  assert_non_null(strstr(json_string_value(json_object_get(line, "message")),
                         "[holder-renew] ns/l: takeover before expiry"));
  json_decref(line);
  lg_audit_change_clear(&c);
  json_decref(o1);
  json_decref(o2);
  lg_audit_free(a);
  lg_policy_free(p);
}

/* ---- `leaseguard audit` on recorded histories ---- */

static char dir[LGT_PATH_LEN], out_path[LGT_PATH_LEN], err_path[LGT_PATH_LEN];

static int offline_setup(void **state) {
  (void)state;
  if (lgt_temp_dir(dir, "audit") != 0)
    return -1;
  lgt_path(out_path, dir, "out");
  lgt_path(err_path, dir, "err");
  return 0;
}

static int offline_teardown(void **state) {
  (void)state;
  lgt_rm_tree(dir);
  return 0;
}

/* Runs `leaseguard audit ARGS...` (NULL-terminated); its exit status. Output in out_path and
 * err_path. */
static int audit(const char *arg, ...) {
  char *argv[16] = {LEASEGUARD_BIN, "audit"};
  int n = 2, status;
  va_list ap;
  va_start(ap, arg);
  for (const char *a = arg; a && n < 15; a = va_arg(ap, const char *))
    argv[n++] = (char *)a;
  va_end(ap);
  argv[n] = NULL;
  pid_t pid = lgt_spawn(argv, out_path, err_path);
  status = lgt_wait_exit(pid, 20000);
  if (status < 0) {
    lgt_stop(pid, SIGKILL, 1000);
    fail_msg("leaseguard audit %s did not exit in 20 s", arg ? arg : "");
  }
  assert_true(WIFEXITED(status));
  return WEXITSTATUS(status);
}

/* The four findings of fixtures/audit/violations.json: lease, rule, WHEN, holders. */
static const char *const violations[][4] = {
    {"team-c/huge", "duration", "2025-11-25T10:00:02Z", "huge_3f404142-7777 -> huge_3f404142-7777"},
    {"team-a/leader", "holder-renew", "2025-11-25T10:00:04Z",
     "ctrl-a_6f1c2d3e-1111 -> ctrl-b_7a2b3c4d-2222"},
    {"team-a/backdate", "renew-monotonic", "2025-11-25T09:59:34Z",
     "backdater_2e2f3031-6666 -> backdater_2e2f3031-6666"},
    {"team-b/leader", "transitions", "2025-11-25T10:00:30Z",
     "op-x_0c0d0e0f-4444 -> op-y_1d1e1f20-5555"},
};

static void test_cli_clean(void **state) {
  char *out, *err;
  (void)state;
  assert_int_equal(audit(FIX "clean.json", NULL), 0);
  out = lgt_slurp(out_path);
  err = lgt_slurp(err_path);
  assert_string_equal(out, "13 versions of 2 leases, 0 findings\n");
  /* it says what a recording cannot tell, and nothing else */
  assert_non_null(strstr(err, "a recording has no times but the writers' own"));
  assert_null(strchr(err, '\n') + 1 == err + strlen(err) ? NULL : "more than one line");
  free(out);
  free(err);
  assert_int_equal(audit("--output=json", FIX "clean.json", NULL), 0);
  out = lgt_slurp(out_path);
  assert_string_equal(out, "");
  free(out);
  assert_int_equal(lgt_count_text(err_path, "13 versions of 2 leases, 0 findings"), 1);
}

/* Checks a table of the findings of violations.json, in the order they happened. */
static void check_violation_table(const char *out, const char *mode) {
  const char *line = strchr(out, '\n');
  size_t rows = 0;
  assert_non_null(line);
  assert_true(strncmp(out, "LEASE ", 6) == 0);
  assert_non_null(strstr(out, "OLD HOLDER -> NEW HOLDER"));
  for (line++; *line; rows++) {
    const char *end = strchr(line, '\n');
    char row[1024];
    assert_non_null(end);
    snprintf(row, sizeof row, "%.*s", (int)(end - line), line);
    if (rows == sizeof violations / sizeof *violations) {
      assert_string_equal(row, "14 versions of 5 leases, 4 findings");
    } else {
      for (int k = 0; k < 4; k++)
        if (!strstr(row, violations[rows][k]))
          fail_msg("row %zu lacks %s: %s", rows, violations[rows][k], row);
      if (!strstr(row, mode) || strncmp(row, violations[rows][0], strlen(violations[rows][0])))
        fail_msg("row %zu: %s", rows, row);
    }
    line = end + 1;
  }
  assert_int_equal(rows, 5);
}

static void test_cli_violations(void **state) {
  char *out, *list_out, cmd[4 * LGT_PATH_LEN];
  (void)state;
  assert_int_equal(audit(FIX "violations.json", NULL), 1);
  out = lgt_slurp(out_path);
  check_violation_table(out, "  enforce  ");
  assert_non_null(strstr(out, "while the lease is held until 2025-11-25T10:00:13.250000Z"));

  /* The same versions as a List: the same report. */
  assert_int_equal(audit(FIX "violations-list.json", NULL), 1);
  list_out = lgt_slurp(out_path);
  assert_string_equal(list_out, out);
  free(list_out);

  /* From stdin, with --mode. */
  snprintf(cmd, sizeof cmd, "'%s' audit --mode=warn - < '%s' > '%s' 2> '%s'", LEASEGUARD_BIN,
           FIX "violations.json", out_path, err_path);
  int st = system(cmd);
  assert_true(WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 1);
  free(out);
  out = lgt_slurp(out_path);
  check_violation_table(out, "  warn  ");
  free(out);
}

static void test_cli_json(void **state) {
  char *out, *line, *save = NULL;
  size_t n = 0;
  (void)state;
  assert_int_equal(audit("--output", "json", FIX "violations.json", NULL), 1);
  out = lgt_slurp(out_path);
  for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
    json_error_t e;
    json_t *o = json_loads(line, 0, &e);
    static const char *const keys[] = {"time",      "rule",           "mode",      "lease",
                                       "operation", "oldHolder",      "newHolder", "message",
                                       "source",    "resourceVersion"};
    if (!o)
      fail_msg("line %zu is not JSON: %s (%s)", n, line, e.text);
    assert_true(n < sizeof violations / sizeof *violations);
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
      if (!json_object_get(o, keys[k]))
        fail_msg("line %zu lacks %s", n, keys[k]);
    assert_string_equal(json_string_value(json_object_get(o, "lease")), violations[n][0]);
    assert_string_equal(json_string_value(json_object_get(o, "rule")), violations[n][1]);
    assert_string_equal(json_string_value(json_object_get(o, "mode")), "enforce");
    assert_string_equal(json_string_value(json_object_get(o, "source")), "file");
    assert_int_equal(strncmp(json_string_value(json_object_get(o, "time")), violations[n][2], 19),
                     0);
    json_decref(o);
  }
  assert_int_equal(n, 4);
  free(out);
  assert_int_equal(lgt_count_text(err_path, "14 versions of 5 leases, 4 findings\n"), 1);
}

static void test_cli_events(void **state) {
  char *out;
  (void)state;
  /* Watch events: a DELETED of a held lease (judged at its last renewTime), BOOKMARK ignored,
   * an ERROR counted, then the lease created anew. */
  assert_int_equal(audit(FIX "events.json", NULL), 1);
  out = lgt_slurp(out_path);
  assert_non_null(strstr(out, "team-d/deleted  delete-held  enforce  2025-11-25T10:00:02Z  "
                              "ctrl-a_6f1c2d3e-1111 -> -"));
  assert_non_null(strstr(out, "4 versions of 1 leases, 1 findings\n"));
  free(out);
  assert_int_equal(lgt_count_text(err_path, "1 watch ERROR event(s)"), 1);
  assert_int_equal(audit("--output=json", FIX "events.json", NULL), 1);
  out = lgt_slurp(out_path);
  json_t *o = json_loads(out, 0, NULL);
  assert_non_null(o);
  assert_string_equal(json_string_value(json_object_get(o, "operation")), "DELETE");
  assert_string_equal(json_string_value(json_object_get(o, "rule")), "delete-held");
  assert_string_equal(json_string_value(json_object_get(o, "resourceVersion")), "3003");
  assert_string_equal(json_string_value(json_object_get(o, "oldResourceVersion")), "3002");
  assert_true(json_is_null(json_object_get(o, "newHolder")));
  json_decref(o);
  free(out);
}

static void test_cli_policy_note(void **state) {
  char policy[LGT_PATH_LEN];
  (void)state;
  lgt_path(policy, dir, "identity.json");
  lgt_write_file(policy, "{\"apiVersion\":\"leaseguard.io/v1alpha1\",\"kind\":\"LeasePolicy\","
                         "\"rules\":{\"holder-identity\":{\"mode\":\"enforce\"}}}");
  char flag[LGT_PATH_LEN + 20];
  snprintf(flag, sizeof flag, "--policy-file=%s", policy);
  assert_int_equal(audit(flag, FIX "clean.json", NULL), 0);
  assert_int_equal(lgt_count_text(err_path, "holder-identity is enabled by the policy but cannot "
                                            "be judged"),
                   1);
  assert_int_equal(lgt_count_text(out_path, "0 findings"), 1);
}

static void test_cli_unusable(void **state) {
  static const struct {
    const char *args[3];
    const char *reason;
  } cases[] = {
      {{FIX "truncated.json"}, "premature end of input"},
      {{FIX "bad-field.json"}, "spec.renewTime must be an RFC 3339 time"},
      {{FIX "not-a-lease.json"}, "kind \"Pod\" is not a Lease"},
      {{"/dev/null"}, "no JSON value"},
      {{FIX "does-not-exist.json"}, "cannot read"},
      {{"--mode=strict", FIX "clean.json"}, "--mode"},
      {{"--output=yaml", FIX "clean.json"}, "--output"},
      {{"--watch", FIX "clean.json"}, "--watch"},
      {{"--namespace=x", FIX "clean.json"}, "need --watch"},
      {{FIX "clean.json", FIX "clean.json"}, "one input file"},
      {{"--bogus"}, "unknown flag"},
      {{"--watch", "--namespace=Not_A_Namespace"}, "not a namespace name"},
      {{"--watch", "--watch-timeout=0s"}, "--watch-timeout"},
  };
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char *err, *hint;
    int st = audit(cases[i].args[0], cases[i].args[1], cases[i].args[2], NULL);
    err = lgt_slurp(err_path);
    /* One line of reason; a usage error adds where the usage is. */
    hint = strstr(err, "\nRun 'leaseguard audit --help' for usage.\n");
    if (hint && !hint[sizeof "\nRun 'leaseguard audit --help' for usage.\n" - 1])
      hint[1] = '\0';
    if (st != 2 || !strstr(err, cases[i].reason) || strchr(err, '\n') != err + strlen(err) - 1)
      fail_msg("%s %s: exit %d, stderr %s", cases[i].args[0],
               cases[i].args[1] ? cases[i].args[1] : "", st, err);
    free(err);
  }
  /* A malformed value after good ones: still 2, whatever was found before. */
  char bad[LGT_PATH_LEN];
  char *text = lgt_read_file(FIX "violations.json", NULL);
  lgt_path(bad, dir, "trailing.json");
  assert_non_null(text);
  text = realloc(text, strlen(text) + 16);
  strcat(text, "\n{oops}\n");
  lgt_write_file(bad, text);
  free(text);
  assert_int_equal(audit(bad, NULL), 2);
  assert_int_equal(lgt_count_text(err_path, "line 250"), 1);
  assert_int_equal(audit("--help", NULL), 0);
  assert_int_equal(lgt_count_text(out_path, "two changes then"), 1);
}

/* ---- --watch against the Lease API test server ---- */

#define NS     "audit-e2e"
#define LEASES "/apis/coordination.k8s.io/v1/namespaces/" NS "/leases"
#define TOKEN  "audit-token"

static char wdir[LGT_PATH_LEN], ca[LGT_PATH_LEN], token_file[LGT_PATH_LEN];
static char audit_out[LGT_PATH_LEN], audit_err[LGT_PATH_LEN];
static int api_port, http_port;
static pid_t api_pid = -1, audit_pid = -1;

static int watch_setup(void **state) {
  char cert[LGT_PATH_LEN], key[LGT_PATH_LEN], tokens[LGT_PATH_LEN], port_file[LGT_PATH_LEN];
  char api_out[LGT_PATH_LEN];
  (void)state;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || lgt_temp_dir(wdir, "audit-watch") ||
      lgt_make_certs(wdir, NULL))
    return -1;
  lgt_path(ca, wdir, "ca.crt");
  lgt_path(cert, wdir, "tls.crt");
  lgt_path(key, wdir, "tls.key");
  lgt_path(tokens, wdir, "tokens.csv");
  lgt_path(token_file, wdir, "token");
  lgt_path(port_file, wdir, "api.port");
  lgt_path(api_out, wdir, "api.out");
  lgt_path(audit_out, wdir, "audit.out");
  lgt_path(audit_err, wdir, "audit.err");
  lgt_write_file(tokens, TOKEN
                 ",system:serviceaccount:leaseguard:audit,uid-1,\"system:serviceaccounts\"\n");
  lgt_write_file(token_file, TOKEN "\n");
  /* A short history: a burst of other changes makes a watch's resourceVersion too old. */
  const lgt_apiserver as = {.cert = cert,
                            .key = key,
                            .ca = ca,
                            .tokens = tokens,
                            .port_file = port_file,
                            .extra = (const char *[]){"--watch-history=6", NULL},
                            .out = api_out};
  api_port = lgt_apiserver_start(&as, &api_pid);
  return 0;
}

/* Per test: an audit a failed test left running is killed before the next one starts. */
static int stop_audit(void **state) {
  (void)state;
  lgt_stop(audit_pid, SIGKILL, 2000);
  audit_pid = -1;
  return 0;
}

static int watch_teardown(void **state) {
  (void)state;
  lgt_stop(audit_pid, SIGKILL, 2000);
  lgt_stop(api_pid, SIGTERM, 5000);
  audit_pid = api_pid = -1;
  lgt_rm_tree(wdir);
  curl_global_cleanup();
  return 0;
}

/* Writes a lease through the API server: method on path with the spec; returns the stored
 * resourceVersion (new string). */
static char *write_lease(const char *method, const char *path, const char *name, const char *rv,
                         const char *holder, lg_time acquire, lg_time renew, int transitions,
                         long want_status) {
  char a[LG_TIME_BUFLEN], r[LG_TIME_BUFLEN], *body, *out;
  lgt_reply rep;
  json_t *o = json_pack("{s:{s:s}, s:{s:s, s:i, s:s, s:s, s:i}}", "metadata", "name", name, "spec",
                        "holderIdentity", holder, "leaseDurationSeconds", 15, "acquireTime",
                        lg_time_format(acquire, a), "renewTime", lg_time_format(renew, r),
                        "leaseTransitions", transitions),
         *answer;
  if (rv)
    json_object_set_new(json_object_get(o, "metadata"), "resourceVersion", json_string(rv));
  body = json_dumps(o, JSON_COMPACT);
  lgt_http(ca, method, api_port, TOKEN, path, body, &rep);
  if (rep.status != want_status)
    fail_msg("%s %s: %ld %s", method, path, rep.status, rep.body ? rep.body : "");
  answer = json_loads(rep.body, 0, NULL);
  out = strdup(
      json_string_value(json_object_get(json_object_get(answer, "metadata"), "resourceVersion")));
  json_decref(answer);
  json_decref(o);
  free(body);
  free(rep.body);
  return out;
}

/* Waits at most timeout_ms until /metrics holds needle. */
static bool metrics_have(const char *needle, long timeout_ms) {
  char url[64];
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", http_port);
  do {
    lgt_reply rep;
    bool found;
    lgt_get(url, NULL, 2000, &rep);
    found = rep.status == 200 && rep.body && strstr(rep.body, needle);
    free(rep.body);
    if (found)
      return true;
    lgt_sleep_ms(50);
  } while (lgt_elapsed_ms(&t0) <= timeout_ms);
  return false;
}

static long http_status(const char *path) {
  char url[128];
  lgt_reply rep;
  snprintf(url, sizeof url, "http://127.0.0.1:%d%s", http_port, path);
  lgt_get(url, NULL, 2000, &rep);
  free(rep.body);
  return rep.status;
}

/* The finding lines audit printed for rule on lease NS/name. */
static int findings(const char *rule, const char *name) {
  int n = 0;
  char *text = lgt_slurp(audit_out), *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    json_t *o = json_loads(line, 0, NULL);
    char lease[128];
    snprintf(lease, sizeof lease, NS "/%s", name);
    if (!o)
      fail_msg("audit printed a line that is not JSON: %s", line);
    if (!strcmp(json_string_value(json_object_get(o, "rule")), rule) &&
        !strcmp(json_string_value(json_object_get(o, "lease")), lease)) {
      assert_string_equal(json_string_value(json_object_get(o, "source")), "watch");
      n++;
    }
    json_decref(o);
  }
  free(text);
  return n;
}

/* Fails unless audit printed n findings of rule on lease NS/name within 5 s (its output is
 * queued, so a line may follow the metric it goes with); shows them when not. */
static void expect_findings(const char *rule, const char *name, int n) {
  for (int i = 0; i < 250 && findings(rule, name) != n; i++)
    lgt_sleep_ms(20);
  if (findings(rule, name) != n) {
    char *text = lgt_slurp(audit_out), *err = lgt_slurp(audit_err);
    fprintf(stderr, "stdout:\n%s\nstderr:\n%s\n", text, err);
    fail_msg("want %d %s findings on %s", n, rule, name);
  }
}

/* Fails unless audit printed n lines within 5 s (and then shows them). */
static void expect_lines(int n) {
  for (int i = 0; i < 250 && lgt_count_text(audit_out, "\n") != n; i++)
    lgt_sleep_ms(20);
  if (lgt_count_text(audit_out, "\n") != n) {
    char *text = lgt_slurp(audit_out);
    fprintf(stderr, "stdout:\n%s\n", text);
    fail_msg("want %d finding lines", n);
  }
}

/* Frees old and returns new. */
static char *next_rv(char *old, char *new_rv) {
  free(old);
  return new_rv;
}

static void test_watch(void **state) {
  char server[64], f_token[LGT_PATH_LEN + 16], f_ca[LGT_PATH_LEN + 32], f_http[64];
  lg_time now = lg_time_now();
  char *rv;
  (void)state;
  http_port = lgt_free_port();
  snprintf(server, sizeof server, "--server=https://127.0.0.1:%d", api_port);
  snprintf(f_token, sizeof f_token, "--token-file=%s", token_file);
  snprintf(f_ca, sizeof f_ca, "--certificate-authority=%s", ca);
  snprintf(f_http, sizeof f_http, "--http=127.0.0.1:%d", http_port);
  /* A 1 s watch timeout: the watch is renewed from the last resourceVersion all the time. */
  char *argv[] = {LEASEGUARD_BIN,       "audit", "--watch", server, f_token, f_ca, f_http,
                  "--watch-timeout=1s", NULL};
  audit_pid = lgt_spawn(argv, audit_out, audit_err);
  assert_true(lgt_wait_for_text(audit_err, "\"listed leases\"", 10000));
  assert_int_equal(http_status("/healthz"), 200);
  assert_int_equal(http_status("/readyz"), 200);
  assert_int_equal(http_status("/nothing"), 404);

  /* create, a correct renew, then a steal before expiry (no webhook here: it is stored). */
  rv = write_lease("POST", LEASES, "l1", NULL, "a", now, now, 0, 201);
  assert_true(metrics_have(
      "leaseguard_lease_holder_info{namespace=\"" NS "\",name=\"l1\",holder=\"a\"} 1", 10000));
  lgt_sleep_ms(1500); /* across a watch renewal */
  rv = next_rv(rv,
               write_lease("PUT", LEASES "/l1", "l1", rv, "a", now, now + LG_USEC_PER_SEC, 0, 200));
  rv = next_rv(rv, write_lease("PUT", LEASES "/l1", "l1", rv, "b", now + 2 * LG_USEC_PER_SEC,
                               now + 2 * LG_USEC_PER_SEC, 1, 200));
  assert_true(lgt_wait_for_text(audit_out, "\"rule\":\"holder-renew\"", 10000));
  assert_true(metrics_have(
      "leaseguard_lease_holder_info{namespace=\"" NS "\",name=\"l1\",holder=\"b\"} 1", 5000));
  assert_true(metrics_have(
      "leaseguard_lease_leader_changes_total{namespace=\"" NS "\",name=\"l1\"} 1\n", 5000));
  assert_true(metrics_have(
      "leaseguard_lease_violations_total{rule=\"holder-renew\",mode=\"enforce\",namespace=\"" NS
      "\"} 1\n",
      5000));
  expect_findings("holder-renew", "l1", 1);
  expect_lines(1); /* the renew was clean */

  /* Changes elsewhere (core Events share the counter) push the watch's resourceVersion out
   * of the server's short history: 410 Gone, then a re-list, and auditing goes on. */
  for (int i = 0; i < 10; i++) {
    char body[256];
    lgt_reply rep;
    snprintf(body, sizeof body,
             "{\"metadata\":{\"name\":\"e%d\"},\"involvedObject\":{\"kind\":"
             "\"Lease\",\"namespace\":\"" NS "\",\"name\":\"l1\"},\"reason\":\"Test\"}",
             i);
    lgt_http(ca, "POST", api_port, TOKEN, "/api/v1/namespaces/" NS "/events", body, &rep);
    assert_int_equal(rep.status, 201);
    free(rep.body);
  }
  assert_true(lgt_wait_for_text(audit_err, "410 Gone", 10000));
  assert_true(lgt_wait_for_text(audit_err, "\"re-listed leases\"", 10000));

  char *rv2 = write_lease("POST", LEASES, "l2", NULL, "c", now, now, 0, 201);
  free(write_lease("PUT", LEASES "/l2", "l2", rv2, "d", now + LG_USEC_PER_SEC,
                   now + LG_USEC_PER_SEC, 1, 200));
  free(rv2);
  assert_true(metrics_have(
      "leaseguard_lease_violations_total{rule=\"holder-renew\",mode=\"enforce\",namespace=\"" NS
      "\"} 2\n",
      10000));
  expect_findings("holder-renew", "l2", 1);

  /* Deleting a held lease (renewed just before): delete-held (enforce), and the lease leaves
   * the metrics. */
  lg_time renew =
      lg_time_now() > now + 3 * LG_USEC_PER_SEC ? lg_time_now() : now + 3 * LG_USEC_PER_SEC;
  free(write_lease("PUT", LEASES "/l1", "l1", rv, "b", now + 2 * LG_USEC_PER_SEC, renew, 1, 200));
  free(rv);
  lgt_reply rep;
  lgt_http(ca, "DELETE", api_port, TOKEN, LEASES "/l1", NULL, &rep);
  assert_int_equal(rep.status, 200);
  free(rep.body);
  assert_true(metrics_have(
      "leaseguard_lease_violations_total{rule=\"delete-held\",mode=\"enforce\",namespace=\"" NS
      "\"} 1\n",
      10000));
  assert_false(metrics_have("name=\"l1\"", 0));
  expect_findings("delete-held", "l1", 1);
  /* Nothing reported twice across the watch renewals and the re-list. */
  expect_findings("holder-renew", "l1", 1);
  expect_lines(3);
  assert_int_equal(lgt_count_text(audit_err, "watch failed"), 0);

  int st = lgt_stop(audit_pid, SIGTERM, 5000);
  audit_pid = -1;
  assert_true(st >= 0 && WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  assert_int_equal(lgt_count_text(audit_err, "\"stopped\""), 1);
}

static void test_watch_cannot_start(void **state) {
  char server[64], f_token[LGT_PATH_LEN + 16], f_ca[LGT_PATH_LEN + 32];
  (void)state;
  snprintf(server, sizeof server, "--server=https://127.0.0.1:%d", api_port);
  snprintf(f_token, sizeof f_token, "--token-file=%s", token_file);
  snprintf(f_ca, sizeof f_ca, "--certificate-authority=%s", ca);
  char *bad_http[] = {LEASEGUARD_BIN, "audit", "--watch",        server,
                      f_token,        f_ca,    "--http=nowhere", NULL};
  audit_pid = lgt_spawn(bad_http, audit_out, audit_err);
  int st = lgt_wait_exit(audit_pid, 10000);
  if (st >= 0)
    audit_pid = -1;
  assert_true(st >= 0 && WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 1);
  assert_int_equal(lgt_count_text(audit_err, "--http must be"), 1);
}

/* A wrong token: the watch keeps retrying with back-off, and SIGTERM still stops it at once. */
static void test_watch_unauthorized(void **state) {
  char server[64], f_token[LGT_PATH_LEN + 16], f_ca[LGT_PATH_LEN + 32], bad[LGT_PATH_LEN];
  struct timespec t0;
  (void)state;
  lgt_path(bad, wdir, "bad-token");
  lgt_write_file(bad, "not-a-token\n");
  snprintf(server, sizeof server, "--server=https://127.0.0.1:%d", api_port);
  snprintf(f_token, sizeof f_token, "--token-file=%s", bad);
  snprintf(f_ca, sizeof f_ca, "--certificate-authority=%s", ca);
  char *argv[] = {LEASEGUARD_BIN, "audit", "--watch",         server,
                  f_token,        f_ca,    "--namespace=" NS, NULL};
  audit_pid = lgt_spawn(argv, audit_out, audit_err);
  assert_true(lgt_wait_for_text(audit_err, "cannot list leases", 10000));
  assert_true(lgt_wait_for_text(audit_err, "\"path\":\"" LEASES "\"", 1000));
  assert_true(lgt_wait_for_text(audit_err, "\"status\":401,", 1000)); /* a JSON number */
  lgt_sleep_ms(1500);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int st = lgt_stop(audit_pid, SIGTERM, 5000);
  audit_pid = -1;
  assert_true(st >= 0 && WIFEXITED(st));
  assert_int_equal(WEXITSTATUS(st), 0);
  assert_true(lgt_elapsed_ms(&t0) < 2000);
}

/* ---- lg_kube_stream ---- */

typedef struct {
  int lines, ticks, stop_after_ticks;
  char first[512];
} stream_seen;

static int on_stream_line(void *ud, const char *line, size_t len) {
  stream_seen *s = ud;
  if (!line)
    return ++s->ticks >= s->stop_after_ticks && s->stop_after_ticks > 0;
  assert_int_equal(strlen(line), len);
  if (!s->lines++)
    snprintf(s->first, sizeof s->first, "%s", line);
  return 0;
}

static void test_kube_stream(void **state) {
  char server[64], err[256];
  lg_kube_config kc = {0};
  lg_kube *k = NULL;
  lg_kube_result res;
  stream_seen seen = {0};
  struct timespec t0;
  lg_time now = lg_time_now();
  (void)state;
  snprintf(server, sizeof server, "https://127.0.0.1:%d", api_port);
  assert_int_equal(lg_kube_config_explicit(server, token_file, ca, &kc, err, sizeof err), LG_OK);
  assert_int_equal(lg_kube_new(&kc, &k, err, sizeof err), LG_OK);
  free(write_lease("POST", "/apis/coordination.k8s.io/v1/namespaces/stream/leases", "s1", NULL, "a",
                   now, now, 0, 201));

  /* A watch without a version: the current state as ADDED lines, then the server ends it. */
  assert_int_equal(lg_kube_stream(k,
                                  "/apis/coordination.k8s.io/v1/namespaces/stream/leases?"
                                  "watch=true&timeoutSeconds=1",
                                  10000, on_stream_line, &seen, &res),
                   LG_OK);
  assert_int_equal(res.status, 200);
  assert_int_equal(seen.lines, 1);
  assert_non_null(strstr(seen.first, "{\"type\":\"ADDED\""));
  assert_true(seen.ticks >= 1);
  lg_kube_result_free(&res);

  /* The callback ends an endless watch while nothing arrives. */
  memset(&seen, 0, sizeof seen);
  seen.stop_after_ticks = 3;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  assert_int_equal(lg_kube_stream(k,
                                  "/apis/coordination.k8s.io/v1/namespaces/stream/leases?"
                                  "watch=true&resourceVersion=999999",
                                  60000, on_stream_line, &seen, &res),
                   LG_OK);
  assert_true(lgt_elapsed_ms(&t0) < 10000);
  assert_int_equal(seen.ticks, 3);
  lg_kube_result_free(&res);

  /* An error answer is read whole, as by lg_kube_call; lg_kube_call still works after. */
  memset(&seen, 0, sizeof seen);
  assert_int_equal(lg_kube_stream(k, "/apis/coordination.k8s.io/v1/leases?watch=maybe", 10000,
                                  on_stream_line, &seen, &res),
                   LG_OK);
  assert_int_equal(res.status, 400);
  assert_non_null(res.body);
  assert_non_null(strstr(res.message, "watch"));
  assert_int_equal(seen.lines, 0);
  lg_kube_result_free(&res);
  assert_int_equal(lg_kube_call(k, "GET",
                                "/apis/coordination.k8s.io/v1/namespaces/stream/leases/s1", NULL,
                                10000, &res),
                   LG_OK);
  assert_int_equal(res.status, 200);
  assert_string_equal(
      json_string_value(json_object_get(json_object_get(res.body, "spec"), "holderIdentity")), "a");
  lg_kube_result_free(&res);
  lg_kube_free(k);
  lg_kube_config_free(&kc);
}

int main(void) {
  const struct CMUnitTest unit[] = {
      cmocka_unit_test(test_clock),
      cmocka_unit_test(test_pairs),
      cmocka_unit_test(test_pairs_identity_unjudged),
      cmocka_unit_test(test_observe_rejects),
      cmocka_unit_test(test_events),
      cmocka_unit_test(test_forget_absent),
      cmocka_unit_test(test_feed),
      cmocka_unit_test(test_next_value),
      cmocka_unit_test(test_finding_json),
  };
  const struct CMUnitTest offline[] = {
      cmocka_unit_test(test_cli_clean),       cmocka_unit_test(test_cli_violations),
      cmocka_unit_test(test_cli_json),        cmocka_unit_test(test_cli_events),
      cmocka_unit_test(test_cli_policy_note), cmocka_unit_test(test_cli_unusable),
  };
  const struct CMUnitTest watch[] = {
      cmocka_unit_test_teardown(test_watch, stop_audit),
      cmocka_unit_test_teardown(test_watch_cannot_start, stop_audit),
      cmocka_unit_test_teardown(test_watch_unauthorized, stop_audit),
      cmocka_unit_test(test_kube_stream),
  };
  int failed = cmocka_run_group_tests_name("audit", unit, NULL, NULL);
  failed += cmocka_run_group_tests_name("audit-cli", offline, offline_setup, offline_teardown);
  failed += cmocka_run_group_tests_name("audit-watch", watch, watch_setup, watch_teardown);
  return failed;
}
