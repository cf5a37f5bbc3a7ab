/* test_fencehook.c -- the fence's request path (src/fencehook.c): AdmissionReviews of fenced
 * ConfigMaps judged against the lease cache and the witness, modes, the lookup fallback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fencehook.h"
#include "jarena.h"

#define SEC LG_USEC_PER_SEC
#define T0  INT64_C(1795600800000000)

static lg_policy *policy;

/* A review of ConfigMap team-a/state: op, labels/annotations of object and oldObject. */
static char *review(const char *op, const char *token, const char *old_token, bool labelled,
                    bool old_labelled) {
  json_t *req =
      json_pack("{s:s, s:{s:s,s:s,s:s}, s:s, s:s, s:s, s:{s:s}}", "uid", "u-1", "kind", "group", "",
                "version", "v1", "kind", "ConfigMap", "namespace", "team-a", "name", "state",
                "operation", op, "userInfo", "username", "system:serviceaccount:team-a:ctl");
  for (int i = 0; i < 2; i++) {
    const char *tok = i ? old_token : token;
    bool lab = i ? old_labelled : labelled;
    if ((i == 0 && strcmp(op, "DELETE") == 0) || (i == 1 && strcmp(op, "CREATE") == 0))
      continue;
    json_t *meta = json_pack("{s:s, s:s}", "name", "state", "namespace", "team-a");
    if (lab)
      json_object_set_new(meta, "labels", json_pack("{s:s}", LG_FENCE_LABEL, "true"));
    if (tok)
      json_object_set_new(meta, "annotations", json_pack("{s:s}", LG_FENCE_ANNOTATION, tok));
    json_object_set_new(req, i ? "oldObject" : "object",
                        json_pack("{s:s, s:s, s:o, s:{s:s}}", "apiVersion", "v1", "kind",
                                  "ConfigMap", "metadata", meta, "data", "k", "v"));
  }
  json_t *doc = json_pack("{s:s, s:s, s:o}", "apiVersion", "admission.k8s.io/v1", "kind",
                          "AdmissionReview", "request", req);
  char *s = json_dumps(doc, JSON_COMPACT);
  json_decref(doc);
  return s;
}

typedef struct {
  int calls;
  lg_leasecache_hit answer;
} getter;

static lg_leasecache_hit fake_get(void *ctx, const char *ns, const char *name,
                                  lg_leasecache_entry *out) {
  getter *g = ctx;
  (void)ns;
  (void)name;
  g->calls++;
  if (g->answer == LG_LEASECACHE_FOUND) {
    out->holder = strdup("pod-a_1");
    out->transitions = 3;
    out->has_duration = true;
    out->duration = 15;
    out->has_renew = true;
    out->renew = T0 + 9 * SEC;
  }
  return g->answer;
}

/* Judges body at T0 + t; returns allowed and the first finding's message in msg. */
static bool judge(const char *body, lg_leasecache *cache, lg_witness *w, getter *g, double t,
                  bool unknown_allows, char *msg, size_t msglen) {
  lg_webhook_result res;
  lg_fencehook_env fenv = {cache, g ? fake_get : NULL, g, unknown_allows};
  lg_webhook_env env = {policy, LG_MODE_INHERIT, T0 + (lg_time)(t * SEC), (int64_t)(t * SEC), w};
  assert_int_equal(lg_fencehook_handle(body, strlen(body), &env, &fenv, &res), LG_OK);
  assert_int_equal(res.http_status, 200);
  assert_non_null(strstr(res.body, "\"uid\":\"u-1\""));
  bool allowed = res.verdict.allowed;
  snprintf(msg, msglen, "%s", res.verdict.n ? res.verdict.findings[0].message : "");
  if (!allowed)
    assert_non_null(strstr(res.body, "\"code\":403"));
  lg_webhook_result_free(&res);
  return allowed;
}

static lg_lease lease_of(const char *holder, int64_t tr, double renew) {
  lg_lease l = {0};
  l.namespace = "team-a";
  l.name = "payments-lock";
  l.holder = holder;
  l.has_duration = true;
  l.duration = 15;
  l.has_renew = true;
  l.renew = T0 + (lg_time)(renew * SEC);
  l.has_transitions = true;
  l.transitions = tr;
  return l;
}

#define TOK_A "team-a/payments-lock/pod-a_1/3"

static void test_fence_path(void **state) {
  (void)state;
  lg_leasecache *cache = lg_leasecache_new(64, 5 * SEC);
  lg_witness *w = lg_witness_new(64, 64);
  lg_lease a = lease_of("pod-a_1", 3, 10), b = lease_of("pod-b_2", 4, 30);
  lg_verdict allowed = {.allowed = true};
  char msg[LG_MESSAGE_MAX], *body;

  /* pod-a renews at t=10 (seen by this replica) */
  lg_leasecache_put(cache, "team-a", "payments-lock", &a, 10 * SEC);
  lg_witness_record(w, &(lg_witness_write){.namespace = "team-a",
                                           .name = "payments-lock",
                                           .op = LG_OP_UPDATE,
                                           .new_l = &a,
                                           .username = "sa",
                                           .allowed = true,
                                           .verdict = &allowed,
                                           .wall = T0 + 10 * SEC,
                                           .mono = 10 * SEC});
  body = review("UPDATE", TOK_A, TOK_A, true, true);
  assert_true(judge(body, cache, w, NULL, 12, false, msg, sizeof msg));
  /* paused: the leader wakes 20 s later; its term (seen at 10, 15 s) is over */
  assert_false(judge(body, cache, w, NULL, 30, false, msg, sizeof msg));
  assert_non_null(strstr(msg, "not live"));
  /* failover: pod-b takes over (admitted here first), the deposed leader's write is refused */
  lg_leasecache_admitted(cache, "team-a", "payments-lock", &b, 30 * SEC);
  assert_false(judge(body, cache, w, NULL, 30.5, false, msg, sizeof msg));
  assert_non_null(strstr(msg, "now held by \"pod-b_2\" epoch 4"));
  free(body);
  /* the new leader's write passes (sighted through the witness) */
  lg_witness_record(w, &(lg_witness_write){.namespace = "team-a",
                                           .name = "payments-lock",
                                           .op = LG_OP_UPDATE,
                                           .new_l = &b,
                                           .username = "sb",
                                           .allowed = true,
                                           .verdict = &allowed,
                                           .wall = T0 + 30 * SEC,
                                           .mono = 30 * SEC});
  body = review("UPDATE", "team-a/payments-lock/pod-b_2/4", TOK_A, true, true);
  assert_true(judge(body, cache, w, NULL, 31, false, msg, sizeof msg));
  free(body);
  /* removing the label does not escape the fence */
  body = review("UPDATE", NULL, TOK_A, false, true);
  assert_false(judge(body, cache, w, NULL, 31, false, msg, sizeof msg));
  assert_non_null(strstr(msg, "must carry the annotation"));
  free(body);
  /* a DELETE judges the old object's token */
  body = review("DELETE", NULL, TOK_A, false, true);
  assert_false(judge(body, cache, w, NULL, 31, false, msg, sizeof msg));
  free(body);
  body = review("DELETE", NULL, "team-a/payments-lock/pod-b_2/4", false, true);
  assert_true(judge(body, cache, w, NULL, 31, false, msg, sizeof msg));
  free(body);
  /* an object that is not fenced is not judged */
  body = review("UPDATE", NULL, NULL, false, false);
  assert_true(judge(body, cache, w, NULL, 31, false, msg, sizeof msg));
  assert_string_equal(msg, "");
  free(body);
  lg_leasecache_free(cache);
  lg_witness_free(w);
}

/* A lease the cache does not know: the lookup decides; when it cannot, the operator's
 * choice does. */
static void test_cold_cache(void **state) {
  (void)state;
  char msg[LG_MESSAGE_MAX], *body = review("CREATE", TOK_A, NULL, true, false);
  getter g = {0, LG_LEASECACHE_FOUND};
  /* renewTime 9 with nothing seen: live until 9 + 15 - 3.75 */
  assert_true(judge(body, NULL, NULL, &g, 12, false, msg, sizeof msg));
  assert_int_equal(g.calls, 1);
  g.answer = LG_LEASECACHE_ABSENT;
  assert_false(judge(body, NULL, NULL, &g, 12, false, msg, sizeof msg));
  assert_non_null(strstr(msg, "does not exist"));
  g.answer = LG_LEASECACHE_MISS; /* the API is down */
  assert_false(judge(body, NULL, NULL, &g, 12, false, msg, sizeof msg));
  assert_non_null(strstr(msg, "fails closed"));
  assert_true(judge(body, NULL, NULL, &g, 12, true, msg, sizeof msg));
  assert_false(judge(body, NULL, NULL, NULL, 12, false, msg, sizeof msg)); /* no lookup at all */
  free(body);
}

/* The policy's modes apply per namespace; exemptions skip. */
static void test_modes(void **state) {
  (void)state;
  lg_policy *p = NULL;
  char err[256], msg[LG_MESSAGE_MAX],
      *body = review("CREATE", "team-a/lock/x/1", NULL, true, false);
  static const char doc[] = "{\"apiVersion\":\"leaseguard.io/v1alpha1\",\"kind\":\"LeasePolicy\","
                            "\"overrides\":[{\"match\":{\"namespaces\":[\"team-a\"]},\"rules\":{"
                            "\"fencing\":{\"mode\":\"warn\"}}}]}";
  assert_int_equal(lg_policy_parse(doc, strlen(doc), &p, err, sizeof err), LG_OK);
  lg_policy *saved = policy;
  policy = p;
  getter g = {0, LG_LEASECACHE_ABSENT};
  assert_true(judge(body, NULL, NULL, &g, 1, false, msg, sizeof msg));
  assert_non_null(strstr(msg, "[fencing] team-a/ConfigMap/state: "));
  policy = saved;
  lg_policy_free(p);
  free(body);
  /* unusable input is a 400, as on /validate */
  lg_webhook_result res;
  lg_fencehook_env fenv = {0};
  lg_webhook_env env = {policy, LG_MODE_INHERIT, T0, 0, NULL};
  assert_int_equal(lg_fencehook_handle("{", 1, &env, &fenv, &res), LG_EJSON);
  assert_int_equal(res.http_status, 400);
  lg_webhook_result_free(&res);
  /* the Status names the request's uid when the review has one */
  const char *no_op = "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
                      "\"request\":{\"uid\":\"u-7\"}}";
  assert_int_not_equal(lg_fencehook_handle(no_op, strlen(no_op), &env, &fenv, &res), LG_OK);
  assert_int_equal(res.http_status, 400);
  if (!strstr(res.body, "\"code\":400") || !strstr(res.body, "(request uid u-7)"))
    fail_msg("400 without the uid: %s", res.body);
  lg_webhook_result_free(&res);
}

/* A token with U+0000 (JSON "\u0000") is read as the six characters \u0000, in the review's
 * arena as serve reads it (ASan and valgrind see a rewrite made outside it: a leak, a bad
 * free), and names no lease this holder has: refused. */
static void test_nul_in_token(void **state) {
  (void)state;
  char msg[LG_MESSAGE_MAX], *body;
  json_t *doc;
  json_error_t jerr;
  getter g = {0, LG_LEASECACHE_FOUND};
  body = review("CREATE", "team-a/payments-lock/pod-a_1/3", NULL, true, false);
  doc = json_loads(body, 0, &jerr);
  free(body);
  assert_non_null(doc);
  json_object_set_new(
      json_object_get(
          json_object_get(json_object_get(json_object_get(doc, "request"), "object"), "metadata"),
          "annotations"),
      LG_FENCE_ANNOTATION, json_stringn("team-a/payments-lock/pod-a\0_1/3", 31));
  body = json_dumps(doc, JSON_COMPACT);
  json_decref(doc);
  assert_non_null(strstr(body, "pod-a\\u0000_1"));
  assert_false(judge(body, NULL, NULL, &g, 12, false, msg, sizeof msg));
  assert_non_null(strstr(msg, "pod-a\\u0000_1"));
  free(body);
}

int main(void) {
  char err[256];
  lg_jarena_install(); /* reviews in arenas, as in serve */
  if (lg_policy_default(&policy, err, sizeof err) != LG_OK)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fence_path),
      cmocka_unit_test(test_nul_in_token),
      cmocka_unit_test(test_cold_cache),
      cmocka_unit_test(test_modes),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  lg_policy_free(policy);
  return rc;
}
