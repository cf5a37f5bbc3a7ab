/* test_fence.c -- fencing tokens (parsing, hostile input) and the fence's decision table
 * (src/fence.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fence.h"

typedef struct {
  const char *in;
  size_t len; /* 0: strlen */
  bool ok;
  const char *ns, *name, *holder;
  long long transitions;
  const char *err; /* a part of the reason */
} token_case;

static const token_case token_cases[] = {
    {"team-a/payments-lock/payments-7d9f-x2x9z_4e1f/3", 0, true, "team-a", "payments-lock",
     "payments-7d9f-x2x9z_4e1f", 3, NULL},
    {"kube-system/kube-controller-manager/cp-1_8c1f2e4a-7b6d-4e3c-9a2b-1d0c9e8f7a65/0", 0, true,
     "kube-system", "kube-controller-manager", "cp-1_8c1f2e4a-7b6d-4e3c-9a2b-1d0c9e8f7a65", 0,
     NULL},
    {"ns/lock.example.com/a/b/c/2147483647", 0, true, "ns", "lock.example.com", "a/b/c", 2147483647,
     NULL},
    {"ns/lock/holder with spaces and \xc3\xa9/7", 0, true, "ns", "lock",
     "holder with spaces and \xc3\xa9", 7, NULL},
    {"", 0, false, NULL, NULL, NULL, 0, "empty"},
    {"ns/lock/holder", 0, false, NULL, NULL, NULL, 0, "four"},
    {"ns/lock//3", 0, false, NULL, NULL, NULL, 0, "no holder"},
    {"ns/lock/h/", 0, false, NULL, NULL, NULL, 0, "leaseTransitions"},
    {"ns/lock/h/-1", 0, false, NULL, NULL, NULL, 0, "leaseTransitions"},
    {"ns/lock/h/+1", 0, false, NULL, NULL, NULL, 0, "leaseTransitions"},
    {"ns/lock/h/01", 0, false, NULL, NULL, NULL, 0, "leaseTransitions"},
    {"ns/lock/h/1e3", 0, false, NULL, NULL, NULL, 0, "leaseTransitions"},
    {"ns/lock/h/2147483648", 0, false, NULL, NULL, NULL, 0, "leaseTransitions"},
    {"ns/lock/h/99999999999999999999", 0, false, NULL, NULL, NULL, 0, "leaseTransitions"},
    {"NS/lock/h/1", 0, false, NULL, NULL, NULL, 0, "namespace"},
    {"../lock/h/1", 0, false, NULL, NULL, NULL, 0, "namespace"},
    {"ns/../h/1", 0, false, NULL, NULL, NULL, 0, "lease name"},
    {"ns/lock?dryRun=All/h/1", 0, false, NULL, NULL, NULL, 0, "lease name"},
    {"ns/-lock/h/1", 0, false, NULL, NULL, NULL, 0, "lease name"},
    {"ns/lock/h\n/1", 0, false, NULL, NULL, NULL, 0, "control"},
    {"ns/lock/h\0x/1", 12, false, NULL, NULL, NULL, 0, "control"},
    {"a-namespace-name-that-is-far-too-long-for-a-dns-label-of-63-chars/lock/h/1", 0, false, NULL,
     NULL, NULL, 0, "namespace"},
};

static void test_token_parse(void **state) {
  (void)state;
  int failures = 0;
  for (size_t i = 0; i < sizeof token_cases / sizeof *token_cases; i++) {
    const token_case *tc = &token_cases[i];
    lg_fence_token t;
    char err[256] = "";
    lg_rc rc =
        lg_fence_token_parse(tc->in, tc->len ? tc->len : strlen(tc->in), &t, err, sizeof err);
    if ((rc == LG_OK) != tc->ok) {
      print_error("token \"%s\": rc %d (%s)\n", tc->in, rc, err);
      failures++;
      continue;
    }
    if (tc->ok && (strcmp(t.namespace, tc->ns) || strcmp(t.name, tc->name) ||
                   strcmp(t.holder, tc->holder) || t.transitions != tc->transitions)) {
      print_error("token \"%s\": parsed %s|%s|%s|%lld\n", tc->in, t.namespace, t.name, t.holder,
                  (long long)t.transitions);
      failures++;
    }
    if (!tc->ok && !strstr(err, tc->err)) {
      print_error("token \"%s\": reason \"%s\" does not say \"%s\"\n", tc->in, err, tc->err);
      failures++;
    }
  }
  assert_int_equal(failures, 0);
}

static void test_token_round_trip(void **state) {
  (void)state;
  char buf[2048], holder[LG_FENCE_HOLDER_MAX + 2];
  lg_fence_token t;
  assert_true(lg_fence_token_format(buf, sizeof buf, "team-a", "lock", "pod_1/x", 42) > 0);
  assert_int_equal(lg_fence_token_parse(buf, strlen(buf), &t, NULL, 0), LG_OK);
  assert_string_equal(t.holder, "pod_1/x");
  assert_int_equal(t.transitions, 42);
  /* the longest holder accepted, and one byte more */
  memset(holder, 'h', LG_FENCE_HOLDER_MAX + 1);
  holder[LG_FENCE_HOLDER_MAX] = '\0';
  lg_fence_token_format(buf, sizeof buf, "ns", "lock", holder, 1);
  assert_int_equal(lg_fence_token_parse(buf, strlen(buf), &t, NULL, 0), LG_OK);
  holder[LG_FENCE_HOLDER_MAX] = 'h';
  holder[LG_FENCE_HOLDER_MAX + 1] = '\0';
  lg_fence_token_format(buf, sizeof buf, "ns", "lock", holder, 1);
  assert_int_equal(lg_fence_token_parse(buf, strlen(buf), &t, NULL, 0), LG_EINVAL);
}

static void test_dns_names(void **state) {
  (void)state;
  assert_true(lg_fence_dns_label("a"));
  assert_true(lg_fence_dns_label("kube-system"));
  assert_false(lg_fence_dns_label("Kube"));
  assert_false(lg_fence_dns_label("a.b"));
  assert_false(lg_fence_dns_label("-a"));
  assert_false(lg_fence_dns_label(""));
  assert_true(lg_fence_dns_subdomain("a.b-c.d"));
  assert_false(lg_fence_dns_subdomain("a..b"));
  assert_false(lg_fence_dns_subdomain(".a"));
  assert_false(lg_fence_dns_subdomain("a."));
}

#define TOK "team-a/payments-lock/pod-a_1/3"

enum { ENF = LG_MODE_ENFORCE, WARN = LG_MODE_WARN, AUD = LG_MODE_AUDIT, OFF = LG_MODE_OFF };

typedef struct {
  const char *name;
  lg_operation op;
  const char *token, *old_token;
  lg_fence_lease_state state;
  const char *holder;
  long long transitions;
  bool live;
  int mode;
  bool unknown_allows;
  bool allowed, violation;
  const char *says;
} decide_case;

static const decide_case decide_cases[] = {
    {"the leader writes under its epoch", LG_OP_UPDATE, TOK, TOK, LG_FENCE_LEASE_PRESENT, "pod-a_1",
     3, true, ENF, false, true, false, NULL},
    {"create under the current epoch", LG_OP_CREATE, TOK, NULL, LG_FENCE_LEASE_PRESENT, "pod-a_1",
     3, true, ENF, false, true, false, NULL},
    {"deposed leader after a failover", LG_OP_UPDATE, TOK, TOK, LG_FENCE_LEASE_PRESENT, "pod-b_2",
     4, true, ENF, false, false, true, "now held by \"pod-b_2\" epoch 4"},
    {"same holder, a later epoch (it lost and regained it)", LG_OP_UPDATE, TOK, TOK,
     LG_FENCE_LEASE_PRESENT, "pod-a_1", 5, true, ENF, false, false, true, "stale epoch"},
    {"forged: the right holder, a future epoch", LG_OP_UPDATE, "team-a/payments-lock/pod-a_1/9",
     TOK, LG_FENCE_LEASE_PRESENT, "pod-a_1", 3, true, ENF, false, false, true, "stale epoch"},
    {"forged: another holder", LG_OP_UPDATE, "team-a/payments-lock/mallory/3", TOK,
     LG_FENCE_LEASE_PRESENT, "pod-a_1", 3, true, ENF, false, false, true, "stale epoch"},
    {"paused leader: its term ran out", LG_OP_UPDATE, TOK, TOK, LG_FENCE_LEASE_PRESENT, "pod-a_1",
     3, false, ENF, false, false, true, "not live"},
    {"released lease", LG_OP_UPDATE, TOK, TOK, LG_FENCE_LEASE_PRESENT, "", 3, false, ENF, false,
     false, true, "now held by \"\""},
    {"unknown lease", LG_OP_UPDATE, "team-a/no-such-lock/pod-a_1/3", NULL, LG_FENCE_LEASE_ABSENT,
     NULL, 0, false, ENF, false, false, true, "does not exist"},
    {"no token", LG_OP_CREATE, NULL, NULL, LG_FENCE_LEASE_UNKNOWN, NULL, 0, false, ENF, false,
     false, true, "must carry the annotation"},
    {"malformed token", LG_OP_CREATE, "team-a/lock", NULL, LG_FENCE_LEASE_UNKNOWN, NULL, 0, false,
     ENF, false, false, true, "four"},
    {"token switched to another lease", LG_OP_UPDATE, "team-a/my-own-lock/pod-a_1/3", TOK,
     LG_FENCE_LEASE_PRESENT, "pod-a_1", 3, true, ENF, false, false, true,
     "fenced by lease team-a/payments-lock"},
    {"cache cold, API down, fail closed", LG_OP_UPDATE, TOK, TOK, LG_FENCE_LEASE_UNKNOWN, NULL, 0,
     false, ENF, false, false, true, "unknown"},
    {"cache cold, API down, fail open", LG_OP_UPDATE, TOK, TOK, LG_FENCE_LEASE_UNKNOWN, NULL, 0,
     false, ENF, true, true, false, NULL},
    {"delete judges the old object's token", LG_OP_DELETE, TOK, NULL, LG_FENCE_LEASE_PRESENT,
     "pod-b_2", 4, true, ENF, false, false, true, "stale epoch"},
    {"warn mode allows and says", LG_OP_UPDATE, TOK, TOK, LG_FENCE_LEASE_PRESENT, "pod-b_2", 4,
     true, WARN, false, true, true, "stale epoch"},
    {"audit mode allows and says", LG_OP_UPDATE, TOK, TOK, LG_FENCE_LEASE_PRESENT, "pod-b_2", 4,
     true, AUD, false, true, true, "stale epoch"},
    {"off", LG_OP_UPDATE, NULL, NULL, LG_FENCE_LEASE_UNKNOWN, NULL, 0, false, OFF, false, true,
     false, NULL},
};

static void test_decide(void **state) {
  (void)state;
  int failures = 0;
  for (size_t i = 0; i < sizeof decide_cases / sizeof *decide_cases; i++) {
    const decide_case *dc = &decide_cases[i];
    lg_fence_lease lease = {dc->state, dc->holder, dc->transitions, dc->live,
                            INT64_C(1795600815000000)};
    lg_fence_input in = {.op = dc->op,
                         .kind = "ConfigMap",
                         .namespace = "team-a",
                         .name = "state",
                         .token = dc->token,
                         .token_len = dc->token ? strlen(dc->token) : 0,
                         .old_token = dc->old_token,
                         .old_token_len = dc->old_token ? strlen(dc->old_token) : 0,
                         .lease = &lease,
                         .mode = (lg_mode)dc->mode,
                         .unknown_allows = dc->unknown_allows};
    lg_fence_target t;
    lg_fence_verdict v;
    lg_fence_target_of(&in, &t);
    lg_fence_decide(&in, &t, INT64_C(1795600820000000), &v);
    if (v.allowed != dc->allowed || v.violation != dc->violation ||
        (dc->says && !strstr(v.message, dc->says)) ||
        (v.violation && strncmp(v.message, "[fencing] team-a/ConfigMap/state: ", 34) != 0) ||
        strlen(v.warning) > LG_WARNING_MAX) {
      print_error("case \"%s\": allowed %d violation %d: %s\n", dc->name, v.allowed, v.violation,
                  v.message);
      failures++;
    }
  }
  assert_int_equal(failures, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_token_parse),
      cmocka_unit_test(test_token_round_trip),
      cmocka_unit_test(test_dns_names),
      cmocka_unit_test(test_decide),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
