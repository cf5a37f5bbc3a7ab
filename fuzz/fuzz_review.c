/* fuzz_review.c -- libFuzzer target: a request body through lg_webhook_handle (decode ->
 * policy -> rules -> encode) under the built-in policy and a stricter one, with the reply
 * checked. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../tests/harness/domref.h"
#include "check.h"
#include "jarena.h"
#include "webhook.h"

/* The built-in policy, then one that turns on what it leaves off: holder-identity,
 * exemptions, a controller glob, no skew, delete-held enforced. */
static lg_policy *policies[2];
static const char strict_policy[] =
    "{\"apiVersion\": \"leaseguard.io/v1alpha1\", \"kind\": \"LeasePolicy\","
    " \"defaultMode\": \"enforce\", \"clockSkewSeconds\": 0,"
    " \"rules\": {\"holder-identity\": {\"mode\": \"warn\", \"allowedUsernames\":"
    "   [\"system:serviceaccount:*\", \"system:kube-*\", \"system:apiserver\"]},"
    "   \"duration\": {\"minSeconds\": 5, \"maxSeconds\": 600},"
    "   \"delete-held\": {\"mode\": \"enforce\"}},"
    " \"coordinatedElection\": {\"controllerUsernames\": [\"system:apiserver\", "
    "\"system:kube-c*\"]},"
    " \"exempt\": {\"usernames\": [\"system:serviceaccount:break-glass:*\"],"
    "   \"namespaces\": [\"sandbox-*\"]},"
    " \"overrides\": [{\"match\": {\"namespaces\": [\"payments\"]},"
    "   \"rules\": {\"holder-identity\": {\"mode\": \"enforce\"}}},"
    "  {\"match\": {\"names\": [\"*-audit\"]}, \"mode\": \"audit\", \"clockSkewSeconds\": 300}]}";
static lg_time now;

/* A Lease is judged under each --mode; the first is the policy's own defaultMode. */
static const lg_mode modes[] = {LG_MODE_INHERIT, LG_MODE_ENFORCE, LG_MODE_WARN, LG_MODE_AUDIT};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  char err[256] = "";
  (void)argc;
  (void)argv;
  lg_jarena_install(); /* each review's tree in an arena, as in serve (ASan sees its bounds) */
  CHECK(lg_policy_default(&policies[0], err, sizeof err) == LG_OK, "built-in policy: %s", err);
  CHECK(lg_policy_parse(strict_policy, sizeof strict_policy - 1, &policies[1], err, sizeof err) ==
            LG_OK,
        "strict policy: %s", err);
  /* The fixtures' leases were renewed a few seconds before this. */
  CHECK(lg_time_parse("2026-11-25T10:00:12Z", &now) == LG_OK, "now");
  return 0;
}

/* request.uid as the input holds it (new reference, or NULL). */
static json_t *request_uid(const uint8_t *data, size_t size) {
  json_t *root =
      json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
  json_t *uid = json_incref(json_object_get(json_object_get(root, "request"), "uid"));
  json_decref(root);
  return uid;
}

/* The rules compare C strings, so a string they see must be the whole JSON string: an
 * embedded NUL would hide the rest (a holder change the rules would not see). */
static void check_whole(const lg_lease *l, const char *s, const char *key) {
  const json_t *v = json_object_get(l->spec, key);
  if (!s)
    return;
  CHECK(json_is_string(v) && strlen(s) == json_string_length(v),
        "spec.%s seen as \"%s\" (%zu bytes) but is %zu bytes in the JSON", key, s, strlen(s),
        json_string_length(v));
}

static void check_lease(const lg_lease *l) {
  check_whole(l, l->holder, "holderIdentity");
  check_whole(l, l->strategy, "strategy");
  check_whole(l, l->preferred_holder, "preferredHolder");
}

static void check_error_reply(const lg_webhook_result *r, const json_t *doc) {
  const json_t *msg = json_object_get(doc, "message");
  CHECK(r->http_status == 400, "rc %d (%s) with HTTP %d", r->rc, r->error, r->http_status);
  CHECK(r->rc == LG_EJSON || r->rc == LG_EREVIEW || r->rc == LG_ELEASE, "rc %d", r->rc);
  CHECK(!r->verdict.allowed && r->review.root == NULL, "undecodable input was judged");
  CHECK(json_is_string(json_object_get(doc, "kind")) &&
            strcmp(json_string_value(json_object_get(doc, "kind")), "Status") == 0 &&
            json_integer_value(json_object_get(doc, "code")) == 400 &&
            !json_object_get(doc, "response"),
        "400 without a Status: %s", r->body);
  CHECK(json_string_length(msg) > 0, "Status without a message: %s", r->body);
}

/* Checks the findings against the reply; returns the set of rules found (bit per rule). */
static unsigned check_verdict(const lg_webhook_result *r, const json_t *resp) {
  const lg_verdict *v = &r->verdict;
  const json_t *warnings = json_object_get(resp, "warnings");
  const json_t *ann = json_object_get(resp, "auditAnnotations"), *w;
  size_t n_warn = 0, i;
  unsigned rules = 0;
  bool enforce = false;

  CHECK(v->n <= LG_RULE_COUNT && (v->n == 0 || !v->skipped), "%zu findings, skipped %s", v->n,
        v->skipped ? v->skipped : "-");
  for (i = 0; i < v->n; i++) {
    const lg_finding *f = &v->findings[i];
    char prefix[64];
    CHECK(f->rule < LG_RULE_COUNT && !(rules & (1u << f->rule)), "rule %d twice or unknown",
          f->rule);
    rules |= 1u << f->rule;
    CHECK(f->mode >= LG_MODE_AUDIT && f->mode <= LG_MODE_ENFORCE, "finding in mode %d", f->mode);
    enforce |= f->mode == LG_MODE_ENFORCE;
    n_warn += f->mode == LG_MODE_WARN;
    CHECK(strlen(f->warning) <= LG_WARNING_MAX, "warning of %zu bytes", strlen(f->warning));
    snprintf(prefix, sizeof prefix, "[%s] ", lg_rules_id(f->rule));
    CHECK(strncmp(f->message, prefix, strlen(prefix)) == 0, "message \"%s\"", f->message);
    CHECK(json_is_string(json_object_get(ann, lg_rules_id(f->rule))), "no annotation for %s",
          lg_rules_id(f->rule));
  }
  CHECK(v->allowed == !enforce, "allowed %d with enforce findings %d", v->allowed, enforce);
  CHECK(json_is_boolean(json_object_get(resp, "allowed")) &&
            json_is_true(json_object_get(resp, "allowed")) == v->allowed,
        "response.allowed differs from the verdict: %s", r->body);
  if (!v->allowed)
    CHECK(json_integer_value(json_object_get(json_object_get(resp, "status"), "code")) == 403 &&
              json_string_length(json_object_get(json_object_get(resp, "status"), "message")),
          "denial without a 403 Status and message: %s", r->body);
  else
    CHECK(!json_object_get(resp, "status"), "allowed with a status: %s", r->body);
  CHECK(json_object_size(ann) == v->n && (!ann || json_is_object(ann)),
        "%zu annotations for %zu findings", json_object_size(ann), v->n);
  CHECK(!warnings || json_is_array(warnings), "warnings is not an array");
  CHECK(json_array_size(warnings) == n_warn + (r->ignored ? 1 : 0), "%zu warnings, want %zu",
        json_array_size(warnings), n_warn + (r->ignored ? 1 : 0));
  json_array_foreach(warnings, i, w)
      CHECK(json_is_string(w) && json_string_length(w) <= LG_WARNING_MAX,
            "warning %zu longer than %d bytes: %s", i, LG_WARNING_MAX, json_string_value(w));
  return rules;
}

/* Checks one reply; returns the set of rules found. */
static unsigned check_reply(const lg_webhook_result *r, lg_rc rc, const json_t *uid) {
  json_error_t e;
  json_t *doc;
  const json_t *resp;
  unsigned rules = 0;

  CHECK(rc == r->rc, "returned %d, result says %d", rc, r->rc);
  CHECK(r->body != NULL, "no body (HTTP %d, rc %d: %s)", r->http_status, r->rc, r->error);
  doc =
      json_loads(r->body, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e); /* the uid echoes U+0000 */
  CHECK(json_is_object(doc), "body is not a JSON object (%s): %s", e.text, r->body);
  if (rc != LG_OK) {
    check_error_reply(r, doc);
    json_decref(doc);
    return 0;
  }
  CHECK(r->http_status == 200, "rc OK with HTTP %d", r->http_status);
  if (!r->ignored) {
    /* The text the encoder writes is what the jansson tree it replaced gave, byte for byte. */
    char *tree = domref_encode_n(r->review.uid, r->review.uid_len, &r->verdict, NULL);
    CHECK(tree && strcmp(tree, r->body) == 0, "the encoder wrote\n%s\nthe tree gives\n%s", r->body,
          tree ? tree : "NULL");
    free(tree);
  }
  CHECK(strcmp(json_string_value(json_object_get(doc, "kind")), "AdmissionReview") == 0 &&
            strcmp(json_string_value(json_object_get(doc, "apiVersion")), "admission.k8s.io/v1") ==
                0,
        "not an AdmissionReview v1: %s", r->body);
  resp = json_object_get(doc, "response");
  CHECK(json_is_object(resp), "no response: %s", r->body);
  /* jansson alone cannot read a body with U+0000 in a key (the decoder reads it again with
   * the key rewritten): then the uid it decoded is the request's. */
  CHECK(uid ? json_is_string(uid) && json_equal(json_object_get(resp, "uid"), (json_t *)uid)
            : r->review.uid && json_is_string(json_object_get(resp, "uid")) &&
                  !strcmp(json_string_value(json_object_get(resp, "uid")), r->review.uid),
        "response.uid differs from request.uid: %s", r->body);
  if (r->review.is_lease) {
    CHECK(!r->ignored, "a Lease was ignored");
    if (r->review.has_object)
      check_lease(&r->review.object);
    if (r->review.has_old_object)
      check_lease(&r->review.old_object);
  } else {
    CHECK(r->ignored && r->verdict.n == 0, "not a Lease but judged");
  }
  rules = check_verdict(r, resp);
  json_decref(doc);
  return rules;
}

/* U+0000 is valid JSON that Go writes and Kubernetes stores: it must never be the reason
 * for a 400 (failurePolicy Ignore would let the write through). The same input with each
 * \u0000 written as \u0078 ('x') must then be refused too. Not a digit: a time with a NUL
 * in its fraction is refused, and rightly, where the same digit would make it valid. */
static void check_nul_not_refused(const uint8_t *data, size_t size, const lg_policy *p) {
  static const char nul[] = "\\u0000";
  char *copy = malloc(size ? size : 1), *at;
  lg_webhook_result r;
  size_t n = 0;
  CHECK(copy != NULL, "out of memory");
  memcpy(copy, data, size);
  for (at = copy; at + 6 <= copy + size; at++)
    if (memcmp(at, nul, 6) == 0 && (at == copy || at[-1] != '\\')) {
      memcpy(at, "\\u0078", 6);
      n++;
    }
  if (n) {
    lg_webhook_handle(copy, size, &(lg_webhook_env){p, LG_MODE_INHERIT, now, 0, NULL}, &r);
    CHECK(r.rc != LG_OK, "refused only because of \\u0000 (%s)", r.error);
    lg_webhook_result_free(&r);
  }
  free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_t *uid = request_uid(data, size);

  for (size_t p = 0; p < sizeof policies / sizeof *policies; p++) {
    unsigned first = 0;
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
      lg_webhook_result r;
      lg_rc rc = lg_webhook_handle((const char *)data, size,
                                   &(lg_webhook_env){policies[p], modes[m], now, 0, NULL}, &r);
      unsigned rules = check_reply(&r, rc, uid);
      if (rc != LG_OK && p == 0 && m == 0)
        check_nul_not_refused(data, size, policies[p]);
      bool judged = rc == LG_OK && r.review.is_lease;
      /* --mode moves every rule that is on and turns none on or off (neither policy's
       * defaultMode is off): the same findings. */
      if (m == 0)
        first = rules;
      CHECK(rules == first, "--mode=%s found rules %#x, the policy's mode %#x",
            lg_rules_mode_name(modes[m]), rules, first);
      /* No rule of the built-in policy has enforce as its own mode. */
      if (p == 0 && (modes[m] == LG_MODE_WARN || modes[m] == LG_MODE_AUDIT))
        CHECK(r.verdict.allowed || rc != LG_OK, "--mode=%s denied: %s",
              lg_rules_mode_name(modes[m]), r.body);
      if (judged && r.config.exempt_reason)
        CHECK(r.verdict.n == 0 && r.verdict.allowed && r.verdict.skipped, "exempt but judged");
      lg_webhook_result_free(&r);
      if (!judged)
        goto out;
    }
  }
out:
  json_decref(uid);
  return 0;
}
