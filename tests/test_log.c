/* test_log.c -- audit lines (src/log.c): one per finding, each with the request's fields
 * and its own rule, mode, decision and message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "audit.h"
#include "decision.h"
#include "domref.h"
#include "harness.h"
#include "log.h"
#include "policy.h"
#include "webhook.h"

/* Sends what the stream (stdout or stderr) gets from here to a file of a new temporary
 * directory; end_capture puts it back and returns the text (new string). */
typedef struct {
  FILE *stream;
  int fd, saved;
  char dir[512], path[600];
} capture;

static void begin_capture(capture *c, FILE *stream) {
  int fd;
  c->stream = stream;
  c->fd = fileno(stream);
  assert_int_equal(lgt_temp_dir(c->dir, "log"), 0);
  lgt_path(c->path, c->dir, "out");
  fflush(stream);
  c->saved = dup(c->fd);
  fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(c->saved >= 0 && fd >= 0);
  dup2(fd, c->fd);
  close(fd);
}

static char *end_capture(capture *c) {
  char *text;
  fflush(c->stream);
  dup2(c->saved, c->fd);
  close(c->saved);
  text = lgt_slurp(c->path);
  lgt_rm_tree(c->dir);
  return text;
}

/* Writes the audit lines of res as serve does: through the decision record. */
static void log_result(const lg_webhook_result *res, lg_time now) {
  lg_decision d;
  lg_decision_from_webhook(res, LG_DECISION_SERVE, now, &d);
  lg_log_decision(&d);
}

/* Reviews body with the default policy at 2026-11-25T10:00:12Z and returns what
 * the audit lines wrote to stdout as an array of parsed lines (new reference). */
static json_t *audit_lines(const char *body, lg_webhook_result *res) {
  char err[256], *text, *line, *save = NULL;
  lg_policy *policy = NULL;
  lg_time now;
  json_t *lines = json_array();
  capture c;

  assert_int_equal(lg_policy_default(&policy, err, sizeof err), LG_OK);
  assert_int_equal(lg_time_parse("2026-11-25T10:00:12Z", &now), LG_OK);
  lg_webhook_handle(body, strlen(body), &(lg_webhook_env){policy, LG_MODE_INHERIT, now, 0, NULL},
                    res);
  assert_int_equal(res->rc, LG_OK);

  begin_capture(&c, stdout);
  log_result(res, now);
  text = end_capture(&c);
  for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    json_t *obj = json_loads(line, 0, NULL);
    assert_true(json_is_object(obj));
    json_array_append_new(lines, obj);
  }
  free(text);
  lg_policy_free(policy);
  return lines;
}

static const char *field(const json_t *obj, const char *key) {
  return json_string_value(json_object_get(obj, key));
}

/* A new holder takes a live lease, skips leaseTransitions and writes a 10-hour duration:
 * three findings, three lines, each naming its own rule and message. */
static void test_one_line_per_finding(void **state) {
  json_error_t jerr;
  json_t *review = json_load_file(LG_FIXTURES "/reviews/kcm-huge-duration.json", 0, &jerr);
  json_t *spec, *lines, *line;
  lg_webhook_result res;
  const char *want[] = {"holder-renew", "transitions", "duration"};
  char *body;
  size_t i;
  (void)state;

  assert_non_null(review);
  spec = json_object_get(json_object_get(json_object_get(review, "request"), "object"), "spec");
  json_object_set_new(spec, "holderIdentity", json_string("intruder_1"));
  body = json_dumps(review, JSON_COMPACT);
  json_decref(review);
  lines = audit_lines(body, &res);
  free(body);

  assert_false(res.verdict.allowed);
  assert_int_equal(json_array_size(lines), res.verdict.n);
  for (size_t w = 0; w < 3; w++) {
    bool seen = false;
    json_array_foreach(lines, i, line) if (!strcmp(field(line, "rule"), want[w])) seen = true;
    assert_true(seen);
  }
  json_array_foreach(lines, i, line) {
    const lg_finding *f = &res.verdict.findings[i];
    assert_string_equal(field(line, "msg"), "lease violation");
    assert_string_equal(field(line, "rule"), lg_rules_id(f->rule));
    assert_string_equal(field(line, "message"), f->message);
    assert_string_equal(field(line, "mode"), lg_rules_mode_name(f->mode));
    assert_string_equal(field(line, "decision"), f->mode == LG_MODE_ENFORCE ? "deny"
                                                 : f->mode == LG_MODE_WARN  ? "warn"
                                                                            : "audit");
    assert_non_null(strstr(f->message, "kube-system/kube-controller-manager"));
    assert_string_equal(field(line, "lease"), "kube-system/kube-controller-manager");
    assert_string_equal(field(line, "operation"), "UPDATE");
    assert_string_equal(field(line, "oldHolder"), "cp-1_8c1f2e4a-7b6d-4e3c-9a2b-1d0c9e8f7a65");
    assert_string_equal(field(line, "newHolder"), "intruder_1");
    assert_string_equal(field(line, "oldRenewTime"), "2026-11-25T10:00:10.000000Z");
    assert_string_equal(field(line, "oldExpiry"), "2026-11-25T10:00:25.000000Z");
    assert_string_equal(field(line, "user"), "system:kube-controller-manager");
    assert_string_equal(json_string_value(json_array_get(json_object_get(line, "groups"), 0)),
                        "system:authenticated");
    assert_string_equal(field(line, "uid"), res.review.uid);
    assert_true(json_is_false(json_object_get(line, "allowed")));
    assert_true(json_is_false(json_object_get(line, "dryRun")));
  }
  /* Every line is whole: no finding's fields leak into another's. */
  for (size_t a = 0; a < json_array_size(lines); a++)
    for (size_t b = a + 1; b < json_array_size(lines); b++)
      assert_string_not_equal(field(json_array_get(lines, a), "message"),
                              field(json_array_get(lines, b), "message"));
  json_decref(lines);
  lg_webhook_result_free(&res);
}

/* A renewal has no finding and writes nothing. */
static void test_no_finding_no_line(void **state) {
  char *body = lgt_read_file(LG_FIXTURES "/reviews/kcm-renew.json", NULL);
  lg_webhook_result res;
  json_t *lines;
  (void)state;
  assert_non_null(body);
  lines = audit_lines(body, &res);
  assert_true(res.verdict.allowed);
  assert_int_equal(res.verdict.n, 0);
  assert_int_equal(json_array_size(lines), 0);
  json_decref(lines);
  lg_webhook_result_free(&res);
  free(body);
}

/* A value quoted from a client (a header's raw bytes) keeps its field: its invalid bytes
 * become '?' instead of the field being dropped. */
static void test_log_value_not_utf8(void **state) {
  char *text;
  json_t *line;
  capture c;
  (void)state;
  begin_capture(&c, stderr);
  lg_log(LG_LOG_WARNING, "request refused", "message", "got \"text/\xff\xfe\xc3\"", "ok",
         "caf\xc3\xa9", NULL);
  text = end_capture(&c);
  line = json_loads(text, 0, NULL);
  free(text);
  assert_true(json_is_object(line));
  assert_string_equal(field(line, "message"), "got \"text/???\"");
  assert_string_equal(field(line, "ok"), "caf\xc3\xa9");
  json_decref(line);
}

/* Every review fixture, under the built-in policy and in warn and audit mode (more
 * findings, other decisions), at two instants: the lines are the bytes the jansson objects
 * they replaced gave, on stdout, and on stderr for what is not a Lease. */
static void test_lines_same_as_tree(void **state) {
  static const char *const names[] = {"kcm-takeover.json",
                                      "kcm-huge-duration.json",
                                      "kcm-backdate-renew.json",
                                      "kcm-steal-nul-holder.json",
                                      "kcm-steal-nul-annotation.json",
                                      "kcm-steal-nul-keys.json",
                                      "kcm-steal-dry-run.json",
                                      "kcm-future-renew.json",
                                      "kcm-takeover-skip-transition.json",
                                      "operator-delete-held.json",
                                      "operator-renew-from-other-pod.json",
                                      "node-lease-backdate.json",
                                      "coordinated-client-handover.json",
                                      "configmap.json",
                                      "kcm-renew.json",
                                      "kcm-create.json"};
  static const lg_mode modes[] = {LG_MODE_INHERIT, LG_MODE_WARN, LG_MODE_AUDIT};
  static const char *const nows[] = {"2026-11-25T10:00:12Z", "2026-11-25T11:00:00.5Z"};
  char err[256], path[512];
  lg_policy *policy = NULL;
  size_t lines = 0;
  (void)state;
  assert_int_equal(lg_policy_default(&policy, err, sizeof err), LG_OK);
  for (size_t b = 0; b < sizeof names / sizeof *names; b++) {
    size_t len;
    char *body;
    snprintf(path, sizeof path, "%s/reviews/%s", LG_FIXTURES, names[b]);
    assert_non_null(body = lgt_read_file(path, &len));
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++)
      for (size_t t = 0; t < sizeof nows / sizeof *nows; t++) {
        lg_webhook_result res;
        lg_time now;
        char *want_out, *want_err, *got_out, *got_err;
        capture co, ce;
        assert_int_equal(lg_time_parse(nows[t], &now), LG_OK);
        lg_webhook_handle(body, len, &(lg_webhook_env){policy, modes[m], now, 0, NULL}, &res);
        assert_int_equal(res.rc, LG_OK);
        domref_audit(&res, now, &want_out, &want_err);
        begin_capture(&co, stdout);
        begin_capture(&ce, stderr);
        log_result(&res, now);
        got_err = end_capture(&ce);
        got_out = end_capture(&co);
        if (strcmp(got_out, want_out ? want_out : "") || strcmp(got_err, want_err ? want_err : ""))
          fail_msg("%s, mode %d, %s:\n  stdout %s\n  want   %s\n  stderr %s\n  want   %s", names[b],
                   (int)modes[m], nows[t], got_out, want_out ? want_out : "", got_err,
                   want_err ? want_err : "");
        for (const char *p = got_out; (p = strchr(p, '\n')); p++)
          lines++;
        free(want_out);
        free(want_err);
        free(got_out);
        free(got_err);
        lg_webhook_result_free(&res);
      }
    free(body);
  }
  assert_true(lines >= 40); /* findings were compared, not only silence */
  lg_policy_free(policy);
}

/* The keys of a line, in order, joined by ','. */
static void keys_of(const char *line, char *out, size_t len) {
  json_t *obj = json_loads(line, 0, NULL);
  const char *k;
  json_t *v;
  out[0] = '\0';
  assert_true(json_is_object(obj));
  json_object_foreach(obj, k, v) {
    size_t n = strlen(out);
    snprintf(out + n, len - n, "%s%s", n ? "," : "", k);
  }
  json_decref(obj);
}

/* One encoder, each source with the fields it always had: a history's lines have versions
 * and a source, a request's a requester, an answer and a decision; an ignored request has
 * its line at index n; there is no line past it. */
static void test_audit_line_layouts(void **state) {
  static const char *const common =
      "time,level,msg,lease,operation,oldHolder,newHolder,oldRenewTime,oldExpiry,newRenewTime";
  char err[256], keys[512], want[512], path[512];
  lg_policy *policy = NULL;
  lg_audit *a;
  lg_audit_change c;
  lg_decision d;
  lg_webhook_result res;
  lg_time now;
  json_t *v1 = json_pack("{s:s, s:{s:s, s:s, s:s}, s:{s:s, s:i, s:s, s:i}}", "kind", "Lease",
                         "metadata", "name", "l", "namespace", "ns", "resourceVersion", "1", "spec",
                         "holderIdentity", "a", "leaseDurationSeconds", 15, "renewTime",
                         "2025-11-25T10:00:00.000000Z", "leaseTransitions", 0);
  json_t *v2 = json_deep_copy(v1);
  char *line, *body;
  (void)state;

  assert_int_equal(lg_policy_default(&policy, err, sizeof err), LG_OK);
  json_object_set_new(json_object_get(v2, "metadata"), "resourceVersion", json_string("2"));
  json_object_set_new(json_object_get(v2, "spec"), "holderIdentity", json_string("b"));
  json_object_set_new(json_object_get(v2, "spec"), "renewTime",
                      json_string("2025-11-25T10:00:04.000000Z"));
  json_object_set_new(json_object_get(v2, "spec"), "leaseTransitions", json_integer(1));
  assert_non_null(a = lg_audit_new(policy, LG_MODE_INHERIT));
  assert_int_equal(lg_audit_observe(a, v1, false, NULL, &c, err, sizeof err), LG_OK);
  lg_audit_change_clear(&c);
  assert_int_equal(lg_audit_observe(a, v2, false, NULL, &c, err, sizeof err), LG_OK);
  for (lg_decision_source src = LG_DECISION_FILE; src <= LG_DECISION_WATCH; src++) {
    lg_decision_from_audit(&c, src, &d);
    assert_int_equal(d.n, 1);
    assert_non_null(line = lg_log_audit_line(&d, 0));
    keys_of(line, keys, sizeof keys);
    snprintf(want, sizeof want, "%s,resourceVersion,oldResourceVersion,rule,mode,message,source",
             common);
    assert_string_equal(keys, want);
    assert_non_null(
        strstr(line, src == LG_DECISION_FILE ? "\"source\":\"file\"}" : "\"source\":\"watch\"}"));
    free(line);
    assert_null(lg_log_audit_line(&d, 1));
  }
  lg_audit_change_clear(&c);
  lg_audit_free(a);

  assert_int_equal(lg_time_parse("2026-11-25T10:00:12Z", &now), LG_OK);
  for (int k = 0; k < 2; k++) {
    snprintf(path, sizeof path, "%s/reviews/%s", LG_FIXTURES,
             k ? "configmap.json" : "kcm-steal-future.json");
    assert_non_null(body = lgt_read_file(path, NULL));
    lg_webhook_handle(body, strlen(body), &(lg_webhook_env){policy, LG_MODE_INHERIT, now, 0, NULL},
                      &res);
    lg_decision_from_webhook(&res, LG_DECISION_SERVE, now, &d);
    assert_non_null(line = lg_log_audit_line(&d, k ? d.n : 0));
    keys_of(line, keys, sizeof keys);
    snprintf(want, sizeof want, "%s,user,groups,pod,uid,dryRun,allowed,%s", common,
             k ? "reason,kind" : "rule,mode,decision,message");
    assert_string_equal(keys, want);
    free(line);
    assert_null(lg_log_audit_line(&d, d.n + 1));
    lg_webhook_result_free(&res);
    free(body);
  }
  json_decref(v1);
  json_decref(v2);
  lg_policy_free(policy);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lines_same_as_tree), cmocka_unit_test(test_one_line_per_finding),
      cmocka_unit_test(test_no_finding_no_line), cmocka_unit_test(test_log_value_not_utf8),
      cmocka_unit_test(test_audit_line_layouts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
