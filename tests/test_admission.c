/* test_admission.c -- AdmissionReview v1 decode and response encode, as tables of cases. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "admission.h"
#include "kstatus.h"
#include "domref.h"
#include "jarena.h"

#define SEC(s)          ((lg_time)(s)*LG_USEC_PER_SEC)
#define T_2026_11_25_10 SEC(INT64_C(1795600800)) /* 2026-11-25T10:00:00Z */

#define S(p) ((p) ? (p) : "(null)")

static int str_eq(const char *a, const char *b) {
  return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* --- request bodies ------------------------------------------------------------------- */

#define REVIEW(req) \
  "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{" req "}}"
#define LEASE_KIND                                                                      \
  "\"kind\":{\"group\":\"coordination.k8s.io\",\"version\":\"v1\",\"kind\":\"Lease\"}," \
  "\"resource\":{\"group\":\"coordination.k8s.io\",\"version\":\"v1\",\"resource\":\"leases\"}"
#define CONFIGMAP_KIND                                                   \
  "\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"ConfigMap\"}," \
  "\"resource\":{\"group\":\"\",\"version\":\"v1\",\"resource\":\"configmaps\"}"
#define WHERE "\"namespace\":\"team-a\",\"name\":\"my-lock\""
#define USER_INFO                                                             \
  "\"userInfo\":{\"username\":\"system:serviceaccount:team-a:web\","          \
  "\"uid\":\"5a1c3e7e-0000-4000-8000-000000000001\","                         \
  "\"groups\":[\"system:serviceaccounts\",\"system:serviceaccounts:team-a\"," \
  "\"system:authenticated\"],"                                                \
  "\"extra\":{\"authentication.kubernetes.io/credential-id\":[\"JTI=abc\"],"  \
  "\"authentication.kubernetes.io/node-name\":[\"worker-3\"],"                \
  "\"authentication.kubernetes.io/pod-name\":[\"web-7\"],"                    \
  "\"authentication.kubernetes.io/pod-uid\":[\"0f0f0f0f-1111-4222-8333-444444444444\"]}}"
#define LEASE(holder, renew)                                                                \
  "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","                          \
  "\"metadata\":{\"name\":\"my-lock\",\"namespace\":\"team-a\",\"resourceVersion\":\"9\"}," \
  "\"spec\":{\"holderIdentity\":\"" holder "\",\"leaseDurationSeconds\":15,"                \
  "\"acquireTime\":\"2026-11-25T09:00:00.000000Z\",\"renewTime\":\"" renew "\","            \
  "\"leaseTransitions\":2}}"
#define NEW_LEASE LEASE("web-7", "2026-11-25T10:00:00.123456Z")
#define OLD_LEASE LEASE("web-7", "2026-11-25T10:00:00.000000Z")
#define CONFIGMAP \
  "{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"},\"spec\":[]}"
#define OPTS "\"options\":{\"apiVersion\":\"meta.k8s.io/v1\",\"kind\":\"UpdateOptions\"}"

/* --- lg_admission_decode: good input -------------------------------------------------- */

typedef struct {
  const char *name;
  const char *body;
  lg_operation op;
  const char *operation, *uid, *group, *version, *kind, *ns, *obj_name;
  const char *username, *pod_name;
  int n_groups; /* -1: groups NULL */
  bool dry_run, is_lease, has_object, has_old_object;
  const char *holder, *old_holder; /* checked when has_object / has_old_object */
  lg_time renew, old_renew;
} decode_ok_case;

static const decode_ok_case decode_ok_cases[] = {
    {"UPDATE of a Lease by a pod's service account",
     REVIEW("\"uid\":\"705ab4f5-6393-11e8-b7cc-42010a800002\"," LEASE_KIND ","
            "\"requestKind\":{\"group\":\"coordination.k8s.io\",\"version\":\"v1\","
            "\"kind\":\"Lease\"}," WHERE ",\"operation\":\"UPDATE\"," USER_INFO
            ",\"object\":" NEW_LEASE ",\"oldObject\":" OLD_LEASE ",\"dryRun\":false," OPTS),
     LG_OP_UPDATE,
     "UPDATE",
     "705ab4f5-6393-11e8-b7cc-42010a800002",
     "coordination.k8s.io",
     "v1",
     "Lease",
     "team-a",
     "my-lock",
     "system:serviceaccount:team-a:web",
     "web-7",
     3,
     false,
     true,
     true,
     true,
     "web-7",
     "web-7",
     T_2026_11_25_10 + 123456,
     T_2026_11_25_10},
    {"dry-run UPDATE",
     REVIEW("\"uid\":\"u-dry\"," LEASE_KIND "," WHERE ",\"operation\":\"UPDATE\"," USER_INFO
            ",\"object\":" NEW_LEASE ",\"oldObject\":" OLD_LEASE ",\"dryRun\":true"),
     LG_OP_UPDATE,
     "UPDATE",
     "u-dry",
     "coordination.k8s.io",
     "v1",
     "Lease",
     "team-a",
     "my-lock",
     "system:serviceaccount:team-a:web",
     "web-7",
     3,
     true,
     true,
     true,
     true,
     "web-7",
     "web-7",
     T_2026_11_25_10 + 123456,
     T_2026_11_25_10},
    {"CREATE without oldObject",
     REVIEW("\"uid\":\"u-create\"," LEASE_KIND "," WHERE ",\"operation\":\"CREATE\"," USER_INFO
            ",\"object\":" NEW_LEASE ",\"oldObject\":null"),
     LG_OP_CREATE,
     "CREATE",
     "u-create",
     "coordination.k8s.io",
     "v1",
     "Lease",
     "team-a",
     "my-lock",
     "system:serviceaccount:team-a:web",
     "web-7",
     3,
     false,
     true,
     true,
     false,
     "web-7",
     NULL,
     T_2026_11_25_10 + 123456,
     0},
    {"CREATE without request.name takes the object's name",
     REVIEW("\"uid\":\"u-gen\"," LEASE_KIND ",\"namespace\":\"team-a\",\"operation\":\"CREATE\","
            "\"userInfo\":{\"username\":\"alice\"},\"object\":" NEW_LEASE),
     LG_OP_CREATE,
     "CREATE",
     "u-gen",
     "coordination.k8s.io",
     "v1",
     "Lease",
     "team-a",
     "my-lock",
     "alice",
     NULL,
     -1,
     false,
     true,
     true,
     false,
     "web-7",
     NULL,
     T_2026_11_25_10 + 123456,
     0},
    {"DELETE with only oldObject",
     REVIEW("\"uid\":\"u-del\"," LEASE_KIND "," WHERE ",\"operation\":\"DELETE\","
            "\"userInfo\":{\"username\":\"system:admin\",\"groups\":[\"system:masters\"]},"
            "\"object\":null,\"oldObject\":" OLD_LEASE ","
            "\"options\":{\"apiVersion\":\"meta.k8s.io/v1\",\"kind\":\"DeleteOptions\"}"),
     LG_OP_DELETE,
     "DELETE",
     "u-del",
     "coordination.k8s.io",
     "v1",
     "Lease",
     "team-a",
     "my-lock",
     "system:admin",
     NULL,
     1,
     false,
     true,
     false,
     true,
     NULL,
     "web-7",
     0,
     T_2026_11_25_10},
    {"UPDATE of a node lease by a kubelet",
     REVIEW("\"uid\":\"u-node\"," LEASE_KIND ",\"namespace\":\"kube-node-lease\","
            "\"name\":\"worker-3\",\"operation\":\"UPDATE\","
            "\"userInfo\":{\"username\":\"system:node:worker-3\",\"groups\":[\"system:nodes\","
            "\"system:authenticated\"]},"
            "\"object\":{\"metadata\":{\"name\":\"worker-3\",\"namespace\":\"kube-node-lease\"},"
            "\"spec\":{\"holderIdentity\":\"worker-3\",\"leaseDurationSeconds\":40,"
            "\"renewTime\":\"2026-11-25T10:00:40.000000Z\"}},"
            "\"oldObject\":{\"metadata\":{\"name\":\"worker-3\",\"namespace\":\"kube-node-lease\"},"
            "\"spec\":{\"holderIdentity\":\"worker-3\",\"leaseDurationSeconds\":40,"
            "\"renewTime\":\"2026-11-25T10:00:00.000000Z\"}}"),
     LG_OP_UPDATE,
     "UPDATE",
     "u-node",
     "coordination.k8s.io",
     "v1",
     "Lease",
     "kube-node-lease",
     "worker-3",
     "system:node:worker-3",
     NULL,
     2,
     false,
     true,
     true,
     true,
     "worker-3",
     "worker-3",
     T_2026_11_25_10 + SEC(40),
     T_2026_11_25_10},
    {"no userInfo",
     REVIEW("\"uid\":\"u-anon\"," LEASE_KIND "," WHERE
            ",\"operation\":\"CREATE\",\"object\":" NEW_LEASE),
     LG_OP_CREATE,
     "CREATE",
     "u-anon",
     "coordination.k8s.io",
     "v1",
     "Lease",
     "team-a",
     "my-lock",
     "",
     NULL,
     -1,
     false,
     true,
     true,
     false,
     "web-7",
     NULL,
     T_2026_11_25_10 + 123456,
     0},
    {"pod-name of the wrong shape is ignored",
     REVIEW("\"uid\":\"u-extra\"," LEASE_KIND "," WHERE ",\"operation\":\"CREATE\","
            "\"userInfo\":{\"username\":\"bob\",\"extra\":{"
            "\"authentication.kubernetes.io/pod-name\":\"web-7\"}},\"object\":" NEW_LEASE),
     LG_OP_CREATE,
     "CREATE",
     "u-extra",
     "coordination.k8s.io",
     "v1",
     "Lease",
     "team-a",
     "my-lock",
     "bob",
     NULL,
     -1,
     false,
     true,
     true,
     false,
     "web-7",
     NULL,
     T_2026_11_25_10 + 123456,
     0},
    {"core v1 ConfigMap is not a lease",
     REVIEW("\"uid\":\"u-cm\"," CONFIGMAP_KIND ",\"namespace\":\"team-a\",\"name\":\"c\","
            "\"operation\":\"UPDATE\"," USER_INFO ",\"object\":" CONFIGMAP),
     LG_OP_UPDATE,
     "UPDATE",
     "u-cm",
     "",
     "v1",
     "ConfigMap",
     "team-a",
     "c",
     "system:serviceaccount:team-a:web",
     "web-7",
     3,
     false,
     false,
     false,
     false,
     NULL,
     NULL,
     0,
     0},
    {"a Lease kind in another group is not a lease",
     REVIEW("\"uid\":\"u-other\",\"kind\":{\"group\":\"example.com\",\"version\":\"v1\","
            "\"kind\":\"Lease\"},\"namespace\":\"n\",\"name\":\"x\",\"operation\":\"DELETE\""),
     LG_OP_DELETE,
     "DELETE",
     "u-other",
     "example.com",
     "v1",
     "Lease",
     "n",
     "x",
     "",
     NULL,
     -1,
     false,
     false,
     false,
     false,
     NULL,
     NULL,
     0,
     0},
    {"cluster-scoped request has namespace \"\"",
     REVIEW("\"uid\":\"u-ns\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Namespace\"},"
            "\"name\":\"team-a\",\"operation\":\"CONNECT\""),
     LG_OP_CONNECT,
     "CONNECT",
     "u-ns",
     "",
     "v1",
     "Namespace",
     "",
     "team-a",
     "",
     NULL,
     -1,
     false,
     false,
     false,
     false,
     NULL,
     NULL,
     0,
     0},
};

static void check_review(const decode_ok_case *c, const lg_review *r) {
  if (!r->root)
    fail_msg("%s: root is NULL", c->name);
  if (r->op != c->op)
    fail_msg("%s: op = %d, want %d", c->name, (int)r->op, (int)c->op);
#define CHECK_STR(field, want) \
  if (!str_eq(field, want))    \
  fail_msg("%s: " #field " = \"%s\", want \"%s\"", c->name, S(field), S(want))
  CHECK_STR(r->operation, c->operation);
  CHECK_STR(r->uid, c->uid);
  CHECK_STR(r->group, c->group);
  CHECK_STR(r->version, c->version);
  CHECK_STR(r->kind, c->kind);
  CHECK_STR(r->namespace, c->ns);
  CHECK_STR(r->name, c->obj_name);
  CHECK_STR(r->requester.username, c->username);
  CHECK_STR(r->requester.pod_name, c->pod_name);
  if (c->n_groups < 0
          ? r->groups != NULL
          : !json_is_array(r->groups) || json_array_size(r->groups) != (size_t)c->n_groups)
    fail_msg("%s: groups has %d entries, want %d", c->name,
             r->groups ? (int)json_array_size(r->groups) : -1, c->n_groups);
  if (r->dry_run != c->dry_run || r->is_lease != c->is_lease || r->has_object != c->has_object ||
      r->has_old_object != c->has_old_object)
    fail_msg("%s: dry_run/is_lease/has_object/has_old_object = %d/%d/%d/%d, want %d/%d/%d/%d",
             c->name, r->dry_run, r->is_lease, r->has_object, r->has_old_object, c->dry_run,
             c->is_lease, c->has_object, c->has_old_object);
  if (c->has_object) {
    CHECK_STR(r->object.holder, c->holder);
    CHECK_STR(r->object.name, c->obj_name);
    if (!r->object.has_renew || r->object.renew != c->renew)
      fail_msg("%s: object renew = %" PRId64 ", want %" PRId64, c->name, r->object.renew, c->renew);
  }
  if (c->has_old_object) {
    CHECK_STR(r->old_object.holder, c->old_holder);
    if (!r->old_object.has_renew || r->old_object.renew != c->old_renew)
      fail_msg("%s: oldObject renew = %" PRId64 ", want %" PRId64, c->name, r->old_object.renew,
               c->old_renew);
  }
#undef CHECK_STR
}

static void test_decode_ok(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof decode_ok_cases / sizeof decode_ok_cases[0]; i++) {
    const decode_ok_case *c = &decode_ok_cases[i];
    lg_review r;
    char uid[64], err[256] = "";
    lg_rc rc;
    memset(uid, 'x', sizeof uid);
    rc = lg_admission_decode(c->body, strlen(c->body), &r, uid, sizeof uid, err, sizeof err);
    if (rc != LG_OK)
      fail_msg("%s: lg_admission_decode = %d (%s), want LG_OK", c->name, (int)rc, err);
    if (strcmp(uid, c->uid) != 0) {
      lg_admission_free(&r);
      fail_msg("%s: uid_out = \"%.63s\", want \"%s\"", c->name, uid, c->uid);
    }
    check_review(c, &r);
    lg_admission_free(&r);
    if (r.root != NULL)
      fail_msg("%s: lg_admission_free left root set", c->name);
  }
}

/* --- lg_admission_decode: bad input --------------------------------------------------- */

typedef struct {
  const char *name;
  const char *body;
  lg_rc rc;
  const char *uid_out; /* what uid_out holds afterwards */
  const char *err;     /* must appear in the error text */
} decode_bad_case;

static const decode_bad_case decode_bad_cases[] = {
    {"empty body", "", LG_EJSON, "", "malformed JSON"},
    {"not JSON", "hello", LG_EJSON, "", "malformed JSON"},
    {"truncated", "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"", LG_EJSON,
     "", "malformed JSON"},
    {"trailing garbage", REVIEW("\"uid\":\"u1\"") "x", LG_EJSON, "", "malformed JSON"},
    {"bare string", "\"AdmissionReview\"", LG_EJSON, "", "malformed JSON"},
    {"duplicate top-level key",
     "{\"apiVersion\":\"admission.k8s.io/v1\",\"apiVersion\":\"admission.k8s.io/v1\","
     "\"kind\":\"AdmissionReview\",\"request\":{}}",
     LG_EJSON, "", "duplicate"},
    {"duplicate uid",
     REVIEW("\"uid\":\"u1\",\"uid\":\"u2\"," LEASE_KIND "," WHERE ",\"operation\":\"CREATE\","
            "\"object\":" NEW_LEASE),
     LG_EJSON, "", "duplicate"},
    {"duplicate holderIdentity inside the lease",
     REVIEW("\"uid\":\"u1\"," LEASE_KIND "," WHERE ",\"operation\":\"CREATE\",\"object\":"
            "{\"spec\":{\"holderIdentity\":\"a\",\"holderIdentity\":\"b\"}}"),
     LG_EJSON, "", "duplicate"},
    {"top-level array", "[]", LG_EREVIEW, "", "apiVersion must be admission.k8s.io/v1"},
    {"v1beta1",
     "{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\",\"request\":"
     "{\"uid\":\"u1\"}}",
     LG_EREVIEW, "", "apiVersion must be admission.k8s.io/v1"},
    {"no apiVersion", "{\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u1\"}}", LG_EREVIEW, "",
     "apiVersion"},
    {"wrong kind",
     "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"Status\",\"request\":{\"uid\":\"u1\"}}",
     LG_EREVIEW, "", "kind AdmissionReview"},
    {"no kind", "{\"apiVersion\":\"admission.k8s.io/v1\",\"request\":{\"uid\":\"u1\"}}", LG_EREVIEW,
     "", "kind AdmissionReview"},
    {"no request", "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}",
     LG_EREVIEW, "", "no request"},
    {"request null",
     "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":null}",
     LG_EREVIEW, "", "no request"},
    {"response instead of request",
     "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"response\":"
     "{\"uid\":\"u1\",\"allowed\":true}}",
     LG_EREVIEW, "", "no request"},
    {"missing uid", REVIEW(LEASE_KIND "," WHERE ",\"operation\":\"CREATE\",\"object\":" NEW_LEASE),
     LG_EREVIEW, "", "request.uid"},
    {"empty uid",
     REVIEW("\"uid\":\"\"," LEASE_KIND "," WHERE ",\"operation\":\"CREATE\",\"object\":" NEW_LEASE),
     LG_EREVIEW, "", "request.uid"},
    {"numeric uid",
     REVIEW("\"uid\":7," LEASE_KIND "," WHERE ",\"operation\":\"CREATE\",\"object\":" NEW_LEASE),
     LG_EREVIEW, "", "request.uid"},
    {"operation PATCH",
     REVIEW("\"uid\":\"u-patch\"," LEASE_KIND "," WHERE
            ",\"operation\":\"PATCH\",\"object\":" NEW_LEASE ",\"oldObject\":" OLD_LEASE),
     LG_EREVIEW, "u-patch", "request.operation"},
    {"operation lowercase",
     REVIEW("\"uid\":\"u-op\"," LEASE_KIND "," WHERE
            ",\"operation\":\"update\",\"object\":" NEW_LEASE ",\"oldObject\":" OLD_LEASE),
     LG_EREVIEW, "u-op", "request.operation"},
    {"operation missing", REVIEW("\"uid\":\"u-op\"," LEASE_KIND "," WHERE ",\"object\":" NEW_LEASE),
     LG_EREVIEW, "u-op", "request.operation"},
    {"UPDATE without oldObject",
     REVIEW("\"uid\":\"u-upd\"," LEASE_KIND "," WHERE
            ",\"operation\":\"UPDATE\",\"object\":" NEW_LEASE),
     LG_EREVIEW, "u-upd", "request.oldObject is missing for operation UPDATE"},
    {"UPDATE with null oldObject",
     REVIEW("\"uid\":\"u-upd\"," LEASE_KIND "," WHERE
            ",\"operation\":\"UPDATE\",\"object\":" NEW_LEASE ",\"oldObject\":null"),
     LG_EREVIEW, "u-upd", "request.oldObject is missing for operation UPDATE"},
    {"UPDATE without object",
     REVIEW("\"uid\":\"u-upd\"," LEASE_KIND "," WHERE
            ",\"operation\":\"UPDATE\",\"oldObject\":" OLD_LEASE),
     LG_EREVIEW, "u-upd", "request.object is missing for operation UPDATE"},
    {"CREATE without object",
     REVIEW("\"uid\":\"u-cre\"," LEASE_KIND "," WHERE ",\"operation\":\"CREATE\""), LG_EREVIEW,
     "u-cre", "request.object is missing for operation CREATE"},
    {"no request.kind",
     REVIEW("\"uid\":\"u-k\"," WHERE ",\"operation\":\"CREATE\",\"object\":" NEW_LEASE), LG_EREVIEW,
     "u-k", "request.kind"},
    {"request.kind without group",
     REVIEW("\"uid\":\"u-k\",\"kind\":{\"version\":\"v1\",\"kind\":\"Lease\"}," WHERE
            ",\"operation\":\"CREATE\",\"object\":" NEW_LEASE),
     LG_EREVIEW, "u-k", "request.kind"},
    {"request.kind a string",
     REVIEW("\"uid\":\"u-k\",\"kind\":\"Lease\"," WHERE ",\"operation\":\"CREATE\""), LG_EREVIEW,
     "u-k", "request.kind"},
    {"name not a string",
     REVIEW("\"uid\":\"u-n\"," LEASE_KIND
            ",\"name\":5,\"operation\":\"CREATE\",\"object\":" NEW_LEASE),
     LG_EREVIEW, "u-n", "request.name must be a string"},
    {"namespace not a string",
     REVIEW("\"uid\":\"u-n\"," LEASE_KIND ",\"namespace\":[],\"operation\":\"CREATE\","
            "\"object\":" NEW_LEASE),
     LG_EREVIEW, "u-n", "request.namespace must be a string"},
    {"dryRun a string",
     REVIEW("\"uid\":\"u-d\"," LEASE_KIND "," WHERE ",\"operation\":\"CREATE\",\"dryRun\":\"true\","
            "\"object\":" NEW_LEASE),
     LG_EREVIEW, "u-d", "request.dryRun must be a boolean"},
    {"userInfo not an object",
     REVIEW("\"uid\":\"u-ui\"," LEASE_KIND "," WHERE ",\"operation\":\"CREATE\","
            "\"userInfo\":\"bob\","
            "\"object\":" NEW_LEASE),
     LG_EREVIEW, "u-ui", "request.userInfo must be an object"},
    {"username a number",
     REVIEW("\"uid\":\"u-ui\"," LEASE_KIND "," WHERE ",\"operation\":\"CREATE\","
            "\"userInfo\":{\"username\":1},\"object\":" NEW_LEASE),
     LG_EREVIEW, "u-ui", "request.userInfo"},
    {"groups a string",
     REVIEW("\"uid\":\"u-ui\"," LEASE_KIND "," WHERE ",\"operation\":\"CREATE\","
            "\"userInfo\":{\"username\":\"bob\",\"groups\":\"system:masters\"},"
            "\"object\":" NEW_LEASE),
     LG_EREVIEW, "u-ui", "request.userInfo"},
    {"extra an array",
     REVIEW("\"uid\":\"u-ui\"," LEASE_KIND "," WHERE ",\"operation\":\"CREATE\","
            "\"userInfo\":{\"username\":\"bob\",\"extra\":[]},\"object\":" NEW_LEASE),
     LG_EREVIEW, "u-ui", "request.userInfo"},
    {"object holderIdentity a number",
     REVIEW("\"uid\":\"u-lease\"," LEASE_KIND "," WHERE ",\"operation\":\"UPDATE\",\"object\":"
            "{\"spec\":{\"holderIdentity\":42}},\"oldObject\":" OLD_LEASE),
     LG_ELEASE, "u-lease", "request.object: spec.holderIdentity"},
    {"oldObject renewTime not RFC 3339",
     REVIEW("\"uid\":\"u-lease\"," LEASE_KIND "," WHERE
            ",\"operation\":\"UPDATE\",\"object\":" NEW_LEASE
            ",\"oldObject\":{\"spec\":{\"renewTime\":\"2026-11-25 10:00:00\"}}"),
     LG_ELEASE, "u-lease", "request.oldObject: spec.renewTime"},
    {"object leaseDurationSeconds real",
     REVIEW("\"uid\":\"u-lease\"," LEASE_KIND "," WHERE ",\"operation\":\"CREATE\",\"object\":"
            "{\"spec\":{\"leaseDurationSeconds\":15.0}}"),
     LG_ELEASE, "u-lease", "request.object: spec.leaseDurationSeconds"},
    {"object spec an array",
     REVIEW("\"uid\":\"u-lease\"," LEASE_KIND "," WHERE ",\"operation\":\"CREATE\",\"object\":"
            "{\"spec\":[]}"),
     LG_ELEASE, "u-lease", "request.object: spec must be an object"},
    {"object a string",
     REVIEW("\"uid\":\"u-lease\"," LEASE_KIND "," WHERE ",\"operation\":\"CREATE\",\"object\":"
            "\"lease\""),
     LG_ELEASE, "u-lease", "request.object: object must be a JSON object"},
};

static void test_decode_bad(void **state) {
  static const lg_review zero;
  (void)state;
  for (size_t i = 0; i < sizeof decode_bad_cases / sizeof decode_bad_cases[0]; i++) {
    const decode_bad_case *c = &decode_bad_cases[i];
    lg_review r;
    char uid[64], err[512] = "";
    lg_rc rc;
    memset(uid, 'x', sizeof uid);
    memset(&r, 0xA5, sizeof r);
    rc = lg_admission_decode(c->body, strlen(c->body), &r, uid, sizeof uid, err, sizeof err);
    if (rc != c->rc) {
      if (rc == LG_OK)
        lg_admission_free(&r);
      fail_msg("%s: lg_admission_decode = %d (%s), want %d", c->name, (int)rc, err, (int)c->rc);
    }
    if (memcmp(&r, &zero, sizeof r) != 0 || r.root != NULL)
      fail_msg("%s: the review is not empty after a failure", c->name);
    if (strcmp(uid, c->uid_out) != 0)
      fail_msg("%s: uid_out = \"%.63s\", want \"%s\"", c->name, uid, c->uid_out);
    if (!strstr(err, c->err))
      fail_msg("%s: error \"%s\" does not contain \"%s\"", c->name, err, c->err);
  }
}

/* Only len bytes are read; uid_out and err are optional and never overrun. */
static void test_decode_buffers(void **state) {
  const char *ok = REVIEW("\"uid\":\"0123456789\"," LEASE_KIND "," WHERE
                          ",\"operation\":\"CREATE\",\"object\":" NEW_LEASE);
  const char *bad = REVIEW("\"uid\":\"0123456789\"," LEASE_KIND "," WHERE
                           ",\"operation\":\"PATCH\",\"object\":" NEW_LEASE);
  char *padded = malloc(strlen(ok) + 16);
  char uid[5], err[8];
  lg_review r;
  (void)state;
  assert_non_null(padded);
  sprintf(padded, "%s}garbage", ok);
  assert_int_equal(lg_admission_decode(padded, strlen(ok), &r, NULL, 0, NULL, 0), LG_OK);
  assert_string_equal(r.uid, "0123456789");
  lg_admission_free(&r);
  free(padded);

  memset(uid, 'x', sizeof uid);
  memset(err, 'x', sizeof err);
  assert_int_equal(lg_admission_decode(bad, strlen(bad), &r, uid, sizeof uid, err, sizeof err),
                   LG_EREVIEW);
  assert_string_equal(uid, "0123");
  assert_int_equal(strlen(err), sizeof err - 1);
  assert_null(r.root);
  assert_int_equal(lg_admission_decode(bad, strlen(bad), &r, NULL, 0, NULL, 0), LG_EREVIEW);
  assert_null(r.root);

  /* Freeing a zeroed review, a freed one, or NULL is a no-op. */
  memset(&r, 0, sizeof r);
  lg_admission_free(&r);
  lg_admission_free(&r);
  lg_admission_free(NULL);
}

/* U+0000 in object keys (jansson refuses them): read as the six characters \u0000, at any
 * depth, while values, array elements and escaped backslashes keep what they are. */
static void test_decode_nul_in_keys(void **state) {
  const char *body =
      REVIEW("\"uid\":\"u-nul\"," LEASE_KIND "," WHERE ",\"operation\":\"CREATE\","
             "\"object\":{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","
             "\"metadata\":{\"name\":\"my-lock\",\"annotations\":{\"a\\u0000\":\"v\\u0000\","
             "\"a\\\\u0000b\":\"backslash\", \"a\" : \"plain\"},"
             "\"managedFields\":[{\"fieldsV1\":{\"f:spec\":{\"f:holder\\u0000Identity\":{}}}},"
             "[\"\\u0000 in an array\"]]},"
             "\"spec\":{\"holderIdentity\\u0000\":\"eve\",\"holderIdentity\":\"web-7\"}}");
  const json_t *obj, *ann, *mf;
  lg_review r;
  char err[256];
  (void)state;
  assert_int_equal(lg_admission_decode(body, strlen(body), &r, NULL, 0, err, sizeof err), LG_OK);
  assert_string_equal(r.uid, "u-nul");
  /* The holder is the real key's, not the one with U+0000 after it. */
  assert_string_equal(r.object.holder, "web-7");
  obj = json_object_get(json_object_get(r.root, "request"), "object");
  ann = json_object_get(json_object_get(obj, "metadata"), "annotations");
  assert_int_equal(json_object_size(ann), 3);
  assert_int_equal(json_string_length(json_object_get(ann, "a\\u0000")), 2); /* "v", NUL */
  assert_string_equal(json_string_value(json_object_get(ann, "a\\u0000b")), "backslash");
  assert_string_equal(json_string_value(json_object_get(ann, "a")), "plain");
  mf = json_object_get(json_object_get(obj, "metadata"), "managedFields");
  assert_non_null(
      json_object_get(json_object_get(json_object_get(json_array_get(mf, 0), "fieldsV1"), "f:spec"),
                      "f:holder\\u0000Identity"));
  assert_int_equal(json_string_length(json_array_get(json_array_get(mf, 1), 0)), 13);
  assert_non_null(json_object_get(json_object_get(obj, "spec"), "holderIdentity\\u0000"));
  lg_admission_free(&r);
}

/* --- lg_admission_encode -------------------------------------------------------------- */

typedef struct {
  lg_rule rule;
  lg_mode mode;
  const char *message, *warning;
} finding_spec;

typedef struct {
  const char *key, *value;
} pair;

#define MAXF 8

typedef struct {
  const char *name;
  const char *uid;
  bool allowed;
  finding_spec findings[MAXF];
  size_t n;
  const char *extra_warning;
  const char *deny_message;       /* NULL: no status */
  const char *warnings[MAXF + 2]; /* NULL-terminated; empty: no warnings key */
  pair annotations[MAXF + 1];     /* {NULL}-terminated; empty: no auditAnnotations key */
} encode_case;

#define M_RENEW "[holder-renew] team-a/my-lock: holder \"b\" wrote a lease held by \"a\""
#define W_RENEW "[holder-renew] team-a/my-lock: holder \"b\" wrote a lease h..."
#define M_DUR   "[duration] team-a/my-lock: leaseDurationSeconds 0 is outside [1, 3600]"
#define M_REC   "[duration-recommended] team-a/my-lock: leaseDurationSeconds 300 is above 60"
#define W_REC   "[duration-recommended] team-a/my-lock: leaseDurationSeconds 300 is above 60"
#define M_TS    "[timestamps] team-a/my-lock: renewTime is 30s ahead of now"
#define M_ID    "[holder-identity] team-a/my-lock: user \"eve\" is not allowed to write this lease"
#define W_ID    "[holder-identity] team-a/my-lock: user \"eve\" is not allowed"

static const encode_case encode_cases[] = {
    {"allowed, nothing to say", "u-1", true, {{0}}, 0, NULL, NULL, {NULL}, {{NULL, NULL}}},
    {"one enforce finding",
     "u-2",
     false,
     {{LG_RULE_HOLDER_RENEW, LG_MODE_ENFORCE, M_RENEW, W_RENEW}},
     1,
     NULL,
     M_RENEW,
     {NULL},
     {{"holder-renew", M_RENEW}, {NULL, NULL}}},
    {"warn and audit findings",
     "u-3",
     true,
     {{LG_RULE_DURATION_RECOMMENDED, LG_MODE_WARN, M_REC, W_REC},
      {LG_RULE_TIMESTAMPS, LG_MODE_AUDIT, M_TS, M_TS}},
     2,
     NULL,
     NULL,
     {W_REC, NULL},
     {{"duration-recommended", M_REC}, {"timestamps", M_TS}, {NULL, NULL}}},
    {"two enforce findings and a warning",
     "u-4",
     false,
     {{LG_RULE_HOLDER_RENEW, LG_MODE_ENFORCE, M_RENEW, W_RENEW},
      {LG_RULE_DURATION, LG_MODE_ENFORCE, M_DUR, M_DUR},
      {LG_RULE_HOLDER_IDENTITY, LG_MODE_WARN, M_ID, W_ID}},
     3,
     NULL,
     M_RENEW "; " M_DUR,
     {W_ID, NULL},
     {{"holder-renew", M_RENEW}, {"duration", M_DUR}, {"holder-identity", M_ID}, {NULL, NULL}}},
    {"extra warning alone",
     "u-5",
     true,
     {{0}},
     0,
     "policy reload failed; using the last good one",
     NULL,
     {"policy reload failed; using the last good one", NULL},
     {{NULL, NULL}}},
    {"extra warning after the findings' warnings",
     "u-6",
     true,
     {{LG_RULE_DURATION_RECOMMENDED, LG_MODE_WARN, M_REC, W_REC},
      {LG_RULE_HOLDER_IDENTITY, LG_MODE_WARN, M_ID, W_ID}},
     2,
     "dry run",
     NULL,
     {W_REC, W_ID, "dry run", NULL},
     {{"duration-recommended", M_REC}, {"holder-identity", M_ID}, {NULL, NULL}}},
    {"extra warning on a denial",
     "u-7",
     false,
     {{LG_RULE_DURATION, LG_MODE_ENFORCE, M_DUR, M_DUR}},
     1,
     "exempt namespaces changed",
     M_DUR,
     {"exempt namespaces changed", NULL},
     {{"duration", M_DUR}, {NULL, NULL}}},
    {"uid with characters JSON must escape",
     "a\"b\\c\n",
     true,
     {{0}},
     0,
     NULL,
     NULL,
     {NULL},
     {{NULL, NULL}}},
    {"every rule",
     "u-8",
     false,
     {{LG_RULE_HOLDER_RENEW, LG_MODE_ENFORCE, "m0", "w0"},
      {LG_RULE_TRANSITIONS, LG_MODE_WARN, "m1", "w1"},
      {LG_RULE_DURATION, LG_MODE_AUDIT, "m2", "w2"},
      {LG_RULE_DURATION_RECOMMENDED, LG_MODE_WARN, "m3", "w3"},
      {LG_RULE_RENEW_MONOTONIC, LG_MODE_ENFORCE, "m4", "w4"},
      {LG_RULE_TIMESTAMPS, LG_MODE_AUDIT, "m5", "w5"},
      {LG_RULE_HOLDER_IDENTITY, LG_MODE_WARN, "m6", "w6"},
      {LG_RULE_DELETE_HELD, LG_MODE_ENFORCE, "m7", "w7"}},
     8,
     NULL,
     "m0; m4; m7",
     {"w1", "w3", "w6", NULL},
     {{"holder-renew", "m0"},
      {"transitions", "m1"},
      {"duration", "m2"},
      {"duration-recommended", "m3"},
      {"renew-monotonic", "m4"},
      {"timestamps", "m5"},
      {"holder-identity", "m6"},
      {"delete-held", "m7"},
      {NULL, NULL}}},
};

static void make_verdict(const encode_case *c, lg_verdict *v) {
  memset(v, 0, sizeof *v);
  v->allowed = c->allowed;
  v->n = c->n;
  for (size_t i = 0; i < c->n; i++) {
    v->findings[i].rule = c->findings[i].rule;
    v->findings[i].mode = c->findings[i].mode;
    snprintf(v->findings[i].message, sizeof v->findings[i].message, "%s", c->findings[i].message);
    snprintf(v->findings[i].warning, sizeof v->findings[i].warning, "%s", c->findings[i].warning);
  }
}

/* Parses an encoder's output; fails (naming the case) when it is NULL or not JSON. */
static json_t *parse_output(const char *name, char *text) {
  json_error_t jerr;
  json_t *doc;
  if (!text)
    fail_msg("%s: the encoder returned NULL", name);
  doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
  free(text);
  if (!json_is_object(doc))
    fail_msg("%s: output is not a JSON object: %s", name, jerr.text);
  return doc;
}

static const char *get_str(const json_t *o, const char *key) {
  return json_string_value(json_object_get(o, key));
}

static void check_response(const encode_case *c, const json_t *doc) {
  const json_t *resp = json_object_get(doc, "response"), *status, *warnings, *ann;
  size_t want_keys = 2, n;
  if (!str_eq(get_str(doc, "apiVersion"), "admission.k8s.io/v1") ||
      !str_eq(get_str(doc, "kind"), "AdmissionReview") || json_object_size(doc) != 3)
    fail_msg("%s: not an AdmissionReview v1 with a response only", c->name);
  if (!json_is_object(resp))
    fail_msg("%s: no response object", c->name);
  if (!str_eq(get_str(resp, "uid"), c->uid))
    fail_msg("%s: response.uid = \"%s\", want \"%s\"", c->name, S(get_str(resp, "uid")), c->uid);
  if (!json_is_boolean(json_object_get(resp, "allowed")) ||
      json_is_true(json_object_get(resp, "allowed")) != c->allowed)
    fail_msg("%s: response.allowed is not %s", c->name, c->allowed ? "true" : "false");

  status = json_object_get(resp, "status");
  if (c->deny_message) {
    want_keys++;
    if (!json_is_object(status) || json_integer_value(json_object_get(status, "code")) != 403 ||
        !json_is_integer(json_object_get(status, "code")) ||
        !str_eq(get_str(status, "reason"), "Forbidden") ||
        !str_eq(get_str(status, "status"), "Failure"))
      fail_msg("%s: response.status is not a 403 Forbidden Failure", c->name);
    if (!str_eq(get_str(status, "message"), c->deny_message))
      fail_msg("%s: status.message = \"%s\", want \"%s\"", c->name, S(get_str(status, "message")),
               c->deny_message);
  } else if (status) {
    fail_msg("%s: unexpected response.status", c->name);
  }

  warnings = json_object_get(resp, "warnings");
  for (n = 0; c->warnings[n]; n++)
    ;
  if (n) {
    want_keys++;
    if (!json_is_array(warnings) || json_array_size(warnings) != n)
      fail_msg("%s: warnings has %d entries, want %d", c->name,
               warnings ? (int)json_array_size(warnings) : -1, (int)n);
    for (size_t i = 0; i < n; i++)
      if (!str_eq(json_string_value(json_array_get(warnings, i)), c->warnings[i]))
        fail_msg("%s: warnings[%d] = \"%s\", want \"%s\"", c->name, (int)i,
                 S(json_string_value(json_array_get(warnings, i))), c->warnings[i]);
  } else if (warnings) {
    fail_msg("%s: unexpected response.warnings", c->name);
  }

  ann = json_object_get(resp, "auditAnnotations");
  for (n = 0; c->annotations[n].key; n++)
    ;
  if (n) {
    const char *key;
    const json_t *value;
    want_keys++;
    if (!json_is_object(ann) || json_object_size(ann) != n)
      fail_msg("%s: auditAnnotations has %d keys, want %d", c->name,
               ann ? (int)json_object_size(ann) : -1, (int)n);
    for (size_t i = 0; i < n; i++)
      if (!str_eq(get_str(ann, c->annotations[i].key), c->annotations[i].value))
        fail_msg("%s: auditAnnotations[%s] = \"%s\", want \"%s\"", c->name, c->annotations[i].key,
                 S(get_str(ann, c->annotations[i].key)), c->annotations[i].value);
    /* The API server prefixes "<webhook name>/": keys must be a bare name of <= 63 chars. */
    json_object_foreach((json_t *)ann, key, value) {
      if (strchr(key, '/') || strlen(key) == 0 || strlen(key) > 63 || !json_is_string(value))
        fail_msg("%s: bad auditAnnotations key \"%s\"", c->name, key);
    }
  } else if (ann) {
    fail_msg("%s: unexpected response.auditAnnotations", c->name);
  }

  if (json_object_size(resp) != want_keys)
    fail_msg("%s: response has %d keys, want %d", c->name, (int)json_object_size(resp),
             (int)want_keys);
}

static void test_encode(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof encode_cases / sizeof encode_cases[0]; i++) {
    const encode_case *c = &encode_cases[i];
    lg_verdict v;
    json_t *doc;
    make_verdict(c, &v);
    doc = parse_output(c->name, lg_admission_encode(c->uid, &v, c->extra_warning));
    check_response(c, doc);
    json_decref(doc);
  }
}

/* A finding's message is cut by snprintf at LG_MESSAGE_MAX - 1 bytes, which can split a
 * UTF-8 sequence of a long holder identity; the response must still be produced. */
static void test_encode_cut_utf8(void **state) {
  lg_verdict v;
  char whole[LG_MESSAGE_MAX];
  json_t *doc, *resp;
  size_t n;
  (void)state;
  memset(&v, 0, sizeof v);
  v.n = 2;
  v.findings[0].rule = LG_RULE_DELETE_HELD;
  v.findings[0].mode = LG_MODE_ENFORCE;
  n = (size_t)snprintf(v.findings[0].message, sizeof v.findings[0].message,
                       "[delete-held] ns/n: deleted while held by \"");
  if (n % 2)
    v.findings[0].message[n++] = 'x';
  while (n + 2 <= LG_MESSAGE_MAX - 2) {
    memcpy(v.findings[0].message + n, "\xc3\xa9", 2); /* é */
    n += 2;
  }
  v.findings[0].message[n++] = '\xc3'; /* the first half of a cut é */
  v.findings[0].message[n] = '\0';
  assert_int_equal(n, LG_MESSAGE_MAX - 1);
  memcpy(whole, v.findings[0].message, n - 1);
  whole[n - 1] = '\0';
  snprintf(v.findings[0].warning, sizeof v.findings[0].warning, "[delete-held] ns/n: ...");
  v.findings[1] = v.findings[0];
  v.findings[1].rule = LG_RULE_HOLDER_IDENTITY;
  v.findings[1].mode = LG_MODE_WARN;
  /* The prefix has an even length, so 118 bytes end on a whole é. */
  memcpy(v.findings[1].warning, v.findings[0].message, LG_WARNING_MAX - 2);
  v.findings[1].warning[LG_WARNING_MAX - 2] = '\xe2'; /* a cut 3-byte sequence */
  v.findings[1].warning[LG_WARNING_MAX - 1] = '\x82';
  v.findings[1].warning[LG_WARNING_MAX] = '\0';
  v.allowed = false;

  doc = parse_output("cut UTF-8", lg_admission_encode("u-utf8", &v, NULL));
  resp = json_object_get(doc, "response");
  assert_string_equal(get_str(json_object_get(resp, "auditAnnotations"), "delete-held"), whole);
  assert_string_equal(get_str(json_object_get(resp, "auditAnnotations"), "holder-identity"), whole);
  assert_string_equal(get_str(json_object_get(resp, "status"), "message"), whole);
  assert_int_equal(json_array_size(json_object_get(resp, "warnings")), 1);
  assert_int_equal(strlen(json_string_value(json_array_get(json_object_get(resp, "warnings"), 0))),
                   LG_WARNING_MAX - 2);
  json_decref(doc);
}

/* --- lg_kstatus_encode -------------------------------------------------------- */

typedef struct {
  const char *name;
  int code;
  const char *reason, *message;
} error_case;

static const error_case error_cases[] = {
    {"bad request", 400, "BadRequest", "malformed JSON: '[' or '{' expected near 'x'"},
    {"too large", 413, "RequestEntityTooLarge", "request body is over 3145728 bytes"},
    {"unsupported media", 415, "UnsupportedMediaType", "Content-Type must be application/json"},
    {"not ready", 503, "ServiceUnavailable", "policy \"default\" is not loaded"},
    {"empty message", 500, "InternalError", ""},
};

static void test_encode_error(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
    const error_case *c = &error_cases[i];
    json_t *doc = parse_output(c->name, lg_kstatus_encode(c->code, c->reason, c->message));
    const json_t *code = json_object_get(doc, "code");
    if (!str_eq(get_str(doc, "apiVersion"), "v1") || !str_eq(get_str(doc, "kind"), "Status") ||
        !str_eq(get_str(doc, "status"), "Failure") ||
        !json_is_object(json_object_get(doc, "metadata")) ||
        json_object_size(json_object_get(doc, "metadata")) != 0)
      fail_msg("%s: not a v1 Status Failure with empty metadata", c->name);
    if (!json_is_integer(code) || json_integer_value(code) != c->code)
      fail_msg("%s: code = %" PRId64 ", want %d", c->name, (int64_t)json_integer_value(code),
               c->code);
    if (!str_eq(get_str(doc, "reason"), c->reason))
      fail_msg("%s: reason = \"%s\", want \"%s\"", c->name, S(get_str(doc, "reason")), c->reason);
    if (!str_eq(get_str(doc, "message"), c->message))
      fail_msg("%s: message = \"%s\", want \"%s\"", c->name, S(get_str(doc, "message")),
               c->message);
    if (json_object_size(doc) != 7)
      fail_msg("%s: Status has %d keys, want 7", c->name, (int)json_object_size(doc));
    json_decref(doc);
  }
}

/* --- the text equals what the jansson tree gave ---------------------------------------- */

/* Both NULL, or the same text; true when there was a text. */
static bool same_text(const char *name, char *got, char *want) {
  bool some = want != NULL;
  if (!got != !want)
    fail_msg("%s: the encoder gave %s, the tree %s", name, got ? got : "NULL",
             want ? want : "NULL");
  if (got && strcmp(got, want) != 0)
    fail_msg("%s:\n  encoder %s\n  tree    %s", name, got, want);
  free(got);
  free(want);
  return some;
}

static void test_encode_same_as_tree(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof encode_cases / sizeof encode_cases[0]; i++) {
    const encode_case *c = &encode_cases[i];
    lg_verdict v;
    make_verdict(c, &v);
    same_text(c->name, lg_admission_encode(c->uid, &v, c->extra_warning),
              domref_encode(c->uid, &v, c->extra_warning));
  }
  for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
    const error_case *c = &error_cases[i];
    same_text(c->name, lg_kstatus_encode(c->code, c->reason, c->message),
              domref_encode_error(c->code, c->reason, c->message));
  }
  same_text("error message with control characters and bad UTF-8",
            lg_kstatus_encode(415, "UnsupportedMediaType", "got \"a\x01\xff\tb\xc3\""),
            domref_encode_error(415, "UnsupportedMediaType", "got \"a\x01\xff\tb\xc3\""));
}

/* Random text from bytes that matter to JSON and UTF-8 (sometimes ill-formed in the middle,
 * which both must refuse), n bytes at most, into buf. */
static void random_text(unsigned *seed, char *buf, size_t n) {
  static const char *const parts[] = {"a",
                                      "[holder-renew] ",
                                      "ns/name: ",
                                      "\"",
                                      "\\",
                                      "/",
                                      "\n",
                                      "\x01",
                                      "\x7f",
                                      "\xc3\xa9",
                                      "\xe2\x82\xac",
                                      "\xf0\x9f\x94\x92",
                                      "\\u0000",
                                      "; ",
                                      "\xc3",
                                      "\xe2\x82",
                                      "\xff"};
  size_t len = 0, k = (size_t)(rand_r(seed) % 12);
  buf[0] = '\0';
  for (size_t i = 0; i < k; i++) {
    /* Ill-formed parts (the last three) are rare: most texts are good. */
    size_t np = sizeof parts / sizeof *parts - (rand_r(seed) % 8 ? 3 : 0);
    const char *p = parts[rand_r(seed) % np];
    if (len + strlen(p) + 1 > n)
      break;
    memcpy(buf + len, p, strlen(p) + 1);
    len += strlen(p);
  }
  /* A cut sequence at the end, as snprintf leaves them (trimmed by both). */
  if (rand_r(seed) % 4 == 0 && len + 2 <= n) {
    buf[len++] = '\xe2';
    buf[len] = '\0';
  }
}

static void test_encode_random_same_as_tree(void **state) {
  unsigned seed = 2026;
  char uid[64], extra[LG_WARNING_MAX + 1], name[48];
  lg_verdict v;
  int texts = 0, refused = 0;
  (void)state;
  for (int k = 0; k < 20000; k++) {
    memset(&v, 0, sizeof v);
    for (int r = 0; r < LG_RULE_COUNT; r++) {
      lg_finding *f;
      if (rand_r(&seed) % 3)
        continue;
      f = &v.findings[v.n++];
      f->rule = (lg_rule)r;
      f->mode = (lg_mode)(LG_MODE_AUDIT + rand_r(&seed) % 3);
      random_text(&seed, f->message, sizeof f->message);
      random_text(&seed, f->warning, sizeof f->warning);
    }
    v.allowed = rand_r(&seed) % 2;
    random_text(&seed, uid, sizeof uid);
    random_text(&seed, extra, sizeof extra);
    snprintf(name, sizeof name, "random verdict %d", k);
    if (same_text(name, lg_admission_encode(uid, &v, k % 3 ? extra : NULL),
                  domref_encode(uid, &v, k % 3 ? extra : NULL)))
      texts++;
    else
      refused++;
  }
  /* Both outcomes were compared many times. */
  assert_true(texts > 5000 && refused > 1000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decode_nul_in_keys),
      cmocka_unit_test(test_encode_same_as_tree),
      cmocka_unit_test(test_encode_random_same_as_tree),
      cmocka_unit_test(test_decode_ok),
      cmocka_unit_test(test_decode_bad),
      cmocka_unit_test(test_decode_buffers),
      cmocka_unit_test(test_encode),
      cmocka_unit_test(test_encode_cut_utf8),
      cmocka_unit_test(test_encode_error),
  };
  /* Every case with jansson on malloc, then with each review's tree in an arena (serve). */
  int failed = cmocka_run_group_tests_name("malloc", tests, NULL, NULL);
  lg_jarena_install();
  return failed + cmocka_run_group_tests_name("arenas", tests, NULL, NULL);
}
