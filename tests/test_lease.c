/* test_lease.c -- Lease decoding from JSON and the lease helpers, as tables of cases. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <string.h>

#include <jansson.h>

#include "lease.h"

#define SEC(s)          ((lg_time)(s)*LG_USEC_PER_SEC)
#define T_2026_11_25_10 SEC(INT64_C(1795600800)) /* 2026-11-25T10:00:00Z */

/* Parses a JSON text of any type; fails the test (naming the case) when it is not JSON. */
static json_t *load(const char *name, const char *text) {
  json_error_t jerr;
  json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
  if (!j)
    fail_msg("%s: fixture is not JSON: %s", name, jerr.text);
  return j;
}

static int str_eq(const char *a, const char *b) {
  return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

#define S(p) ((p) ? (p) : "(null)")

/* --- lg_lease_decode: good input ------------------------------------------------------ */

typedef struct {
  const char *name;
  const char *json;
  const char *meta_name, *meta_namespace;
  const char *holder;
  bool has_duration;
  int64_t duration;
  bool has_acquire;
  lg_time acquire;
  bool has_renew;
  lg_time renew;
  bool has_transitions;
  int64_t transitions;
  const char *strategy, *preferred_holder;
  bool has_spec;
} decode_ok_case;

static const decode_ok_case decode_ok_cases[] = {
    {"client-go leader election lease",
     "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","
     "\"metadata\":{\"name\":\"my-controller\",\"namespace\":\"kube-system\","
     "\"resourceVersion\":\"4711\",\"uid\":\"0b8c6f5e-1a2b-4c3d-8e9f-001122334455\","
     "\"creationTimestamp\":\"2026-11-01T00:00:00Z\"},"
     "\"spec\":{\"holderIdentity\":\"node-a_7f3c2a\",\"leaseDurationSeconds\":15,"
     "\"acquireTime\":\"2026-11-25T09:00:00.000000Z\","
     "\"renewTime\":\"2026-11-25T10:00:00.123456Z\",\"leaseTransitions\":3}}",
     "my-controller", "kube-system", "node-a_7f3c2a", true, 15, true, T_2026_11_25_10 - SEC(3600),
     true, T_2026_11_25_10 + 123456, true, 3, NULL, NULL, true},
    {"coordinated leader election fields",
     "{\"metadata\":{\"name\":\"kube-scheduler\",\"namespace\":\"kube-system\"},"
     "\"spec\":{\"holderIdentity\":\"sched-1\",\"leaseDurationSeconds\":15,"
     "\"acquireTime\":\"2026-11-25T10:00:00Z\",\"renewTime\":\"2026-11-25T10:00:00Z\","
     "\"leaseTransitions\":0,\"strategy\":\"OldestEmulationVersion\","
     "\"preferredHolder\":\"sched-2\"}}",
     "kube-scheduler", "kube-system", "sched-1", true, 15, true, T_2026_11_25_10, true,
     T_2026_11_25_10, true, 0, "OldestEmulationVersion", "sched-2", true},
    {"node lease (no acquireTime, no leaseTransitions)",
     "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","
     "\"metadata\":{\"name\":\"worker-1\",\"namespace\":\"kube-node-lease\","
     "\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"name\":\"worker-1\","
     "\"uid\":\"u\"}]},"
     "\"spec\":{\"holderIdentity\":\"worker-1\",\"leaseDurationSeconds\":40,"
     "\"renewTime\":\"2026-11-25T10:00:00.500000Z\"}}",
     "worker-1", "kube-node-lease", "worker-1", true, 40, false, 0, true, T_2026_11_25_10 + 500000,
     false, 0, NULL, NULL, true},
    {"null fields are absent",
     "{\"metadata\":{\"name\":\"n\",\"namespace\":\"ns\"},"
     "\"spec\":{\"holderIdentity\":null,\"leaseDurationSeconds\":null,\"acquireTime\":null,"
     "\"renewTime\":null,\"leaseTransitions\":null,\"strategy\":null,\"preferredHolder\":null}}",
     "n", "ns", NULL, false, 0, false, 0, false, 0, false, 0, NULL, NULL, true},
    {"empty spec", "{\"metadata\":{\"name\":\"n\",\"namespace\":\"ns\"},\"spec\":{}}", "n", "ns",
     NULL, false, 0, false, 0, false, 0, false, 0, NULL, NULL, true},
    {"released lease (empty holder)",
     "{\"metadata\":{\"name\":\"n\",\"namespace\":\"ns\"},"
     "\"spec\":{\"holderIdentity\":\"\",\"leaseDurationSeconds\":1,\"leaseTransitions\":9}}",
     "n", "ns", "", true, 1, false, 0, false, 0, true, 9, NULL, NULL, true},
    {"spec absent", "{\"metadata\":{\"name\":\"n\",\"namespace\":\"ns\"}}", "n", "ns", NULL, false,
     0, false, 0, false, 0, false, 0, NULL, NULL, false},
    {"spec null", "{\"metadata\":{\"name\":\"n\",\"namespace\":\"ns\"},\"spec\":null}", "n", "ns",
     NULL, false, 0, false, 0, false, 0, false, 0, NULL, NULL, false},
    {"metadata absent", "{\"spec\":{\"holderIdentity\":\"h\"}}", "", "", "h", false, 0, false, 0,
     false, 0, false, 0, NULL, NULL, true},
    {"metadata null", "{\"metadata\":null}", "", "", NULL, false, 0, false, 0, false, 0, false, 0,
     NULL, NULL, false},
    {"metadata without namespace (generateName)",
     "{\"metadata\":{\"generateName\":\"x-\"},\"spec\":{}}", "", "", NULL, false, 0, false, 0,
     false, 0, false, 0, NULL, NULL, true},
    {"int32 bounds",
     "{\"spec\":{\"leaseDurationSeconds\":2147483647,\"leaseTransitions\":-2147483648}}", "", "",
     NULL, true, INT32_MAX, false, 0, false, 0, true, INT32_MIN, NULL, NULL, true},
    {"zero and negative values are decoded, not judged",
     "{\"spec\":{\"leaseDurationSeconds\":0,\"leaseTransitions\":-1}}", "", "", NULL, true, 0,
     false, 0, false, 0, true, -1, NULL, NULL, true},
    {"times with offsets and before the epoch",
     "{\"spec\":{\"acquireTime\":\"1969-12-31T23:59:59.5Z\","
     "\"renewTime\":\"2026-11-25T12:00:00+02:00\"}}",
     "", "", NULL, false, 0, true, -500000, true, T_2026_11_25_10, false, 0, NULL, NULL, true},
    {"unknown fields ignored",
     "{\"metadata\":{\"name\":\"n\"},\"status\":{\"x\":1},"
     "\"spec\":{\"holderIdentity\":\"h\",\"futureField\":[1,2]}}",
     "n", "", "h", false, 0, false, 0, false, 0, false, 0, NULL, NULL, true},
};

static void check_decoded(const decode_ok_case *c, const json_t *obj, const lg_lease *l) {
  if (!str_eq(l->name, c->meta_name))
    fail_msg("%s: name = \"%s\", want \"%s\"", c->name, S(l->name), S(c->meta_name));
  if (!str_eq(l->namespace, c->meta_namespace))
    fail_msg("%s: namespace = \"%s\", want \"%s\"", c->name, S(l->namespace), S(c->meta_namespace));
  if (!str_eq(l->holder, c->holder))
    fail_msg("%s: holder = \"%s\", want \"%s\"", c->name, S(l->holder), S(c->holder));
  if (l->has_duration != c->has_duration || (c->has_duration && l->duration != c->duration))
    fail_msg("%s: duration = %d/%" PRId64 ", want %d/%" PRId64, c->name, l->has_duration,
             l->duration, c->has_duration, c->duration);
  if (l->has_acquire != c->has_acquire || (c->has_acquire && l->acquire != c->acquire))
    fail_msg("%s: acquire = %d/%" PRId64 ", want %d/%" PRId64, c->name, l->has_acquire, l->acquire,
             c->has_acquire, c->acquire);
  if (l->has_renew != c->has_renew || (c->has_renew && l->renew != c->renew))
    fail_msg("%s: renew = %d/%" PRId64 ", want %d/%" PRId64, c->name, l->has_renew, l->renew,
             c->has_renew, c->renew);
  if (l->has_transitions != c->has_transitions ||
      (c->has_transitions && l->transitions != c->transitions))
    fail_msg("%s: transitions = %d/%" PRId64 ", want %d/%" PRId64, c->name, l->has_transitions,
             l->transitions, c->has_transitions, c->transitions);
  if (!str_eq(l->strategy, c->strategy))
    fail_msg("%s: strategy = \"%s\", want \"%s\"", c->name, S(l->strategy), S(c->strategy));
  if (!str_eq(l->preferred_holder, c->preferred_holder))
    fail_msg("%s: preferred_holder = \"%s\", want \"%s\"", c->name, S(l->preferred_holder),
             S(c->preferred_holder));
  if (c->has_spec ? l->spec != json_object_get(obj, "spec") : l->spec != NULL)
    fail_msg("%s: spec = %p, want %s", c->name, (const void *)l->spec,
             c->has_spec ? "the object's spec" : "NULL");
  if (lg_lease_transitions(l) != (c->has_transitions ? c->transitions : 0))
    fail_msg("%s: lg_lease_transitions = %" PRId64, c->name, lg_lease_transitions(l));
}

static void test_decode_ok(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof decode_ok_cases / sizeof decode_ok_cases[0]; i++) {
    const decode_ok_case *c = &decode_ok_cases[i];
    json_t *obj = load(c->name, c->json);
    lg_lease l;
    char err[256] = "";
    lg_rc rc;
    memset(&l, 0xA5, sizeof l); /* decode must set every field */
    rc = lg_lease_decode(obj, &l, err, sizeof err);
    if (rc != LG_OK) {
      json_decref(obj);
      fail_msg("%s: lg_lease_decode = %d (%s), want LG_OK", c->name, (int)rc, err);
    }
    check_decoded(c, obj, &l);
    json_decref(obj);
  }
}

/* --- lg_lease_decode: bad input ------------------------------------------------------- */

typedef struct {
  const char *name;
  const char *json; /* NULL: decode a NULL object */
  const char *err;  /* must appear in the error text */
} decode_bad_case;

#define SPEC(body) "{\"metadata\":{\"name\":\"n\",\"namespace\":\"ns\"},\"spec\":{" body "}}"

static const decode_bad_case decode_bad_cases[] = {
    {"NULL object", NULL, "object must be a JSON object"},
    {"object is an array", "[]", "object must be a JSON object"},
    {"object is a string", "\"Lease\"", "object must be a JSON object"},
    {"object is null", "null", "object must be a JSON object"},
    {"object is a ConfigMap", "{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\"spec\":{}}",
     "not a Lease"},
    {"kind of the wrong type", "{\"kind\":7,\"spec\":{}}", "not a Lease"},
    {"apiVersion of another group", "{\"kind\":\"Lease\",\"apiVersion\":\"v1\"}",
     "not a coordination.k8s.io Lease"},
    {"metadata not an object", "{\"metadata\":\"n\",\"spec\":{}}", "metadata must be an object"},
    {"spec not an object", "{\"spec\":[]}", "spec must be an object"},
    {"spec a string", "{\"spec\":\"x\"}", "spec must be an object"},
    {"holderIdentity number", SPEC("\"holderIdentity\":42"), "spec.holderIdentity"},
    {"holderIdentity bool", SPEC("\"holderIdentity\":true"), "spec.holderIdentity"},
    {"holderIdentity object", SPEC("\"holderIdentity\":{}"), "spec.holderIdentity"},
    {"leaseDurationSeconds string", SPEC("\"leaseDurationSeconds\":\"15\""),
     "spec.leaseDurationSeconds must be an integer"},
    {"leaseDurationSeconds real 15.0", SPEC("\"leaseDurationSeconds\":15.0"),
     "spec.leaseDurationSeconds must be an integer"},
    {"leaseDurationSeconds bool", SPEC("\"leaseDurationSeconds\":false"),
     "spec.leaseDurationSeconds must be an integer"},
    {"leaseDurationSeconds above int32", SPEC("\"leaseDurationSeconds\":2147483648"),
     "spec.leaseDurationSeconds is out of the int32 range"},
    {"leaseDurationSeconds below int32", SPEC("\"leaseDurationSeconds\":-2147483649"),
     "spec.leaseDurationSeconds is out of the int32 range"},
    {"leaseDurationSeconds huge", SPEC("\"leaseDurationSeconds\":9223372036854775807"),
     "spec.leaseDurationSeconds is out of the int32 range"},
    {"leaseTransitions string", SPEC("\"leaseTransitions\":\"3\""),
     "spec.leaseTransitions must be an integer"},
    {"leaseTransitions real", SPEC("\"leaseTransitions\":1.5"),
     "spec.leaseTransitions must be an integer"},
    {"leaseTransitions above int32", SPEC("\"leaseTransitions\":4294967296"),
     "spec.leaseTransitions is out of the int32 range"},
    {"renewTime not RFC 3339", SPEC("\"renewTime\":\"2026-11-25 10:00:00\""),
     "spec.renewTime must be an RFC 3339 time"},
    {"renewTime date only", SPEC("\"renewTime\":\"2026-11-25\""),
     "spec.renewTime must be an RFC 3339 time"},
    {"renewTime number", SPEC("\"renewTime\":1795600800"),
     "spec.renewTime must be an RFC 3339 time"},
    {"renewTime February 30", SPEC("\"renewTime\":\"2026-02-30T00:00:00Z\""),
     "spec.renewTime must be an RFC 3339 time"},
    {"acquireTime not RFC 3339", SPEC("\"acquireTime\":\"yesterday\""),
     "spec.acquireTime must be an RFC 3339 time"},
    {"strategy number", SPEC("\"strategy\":1"), "spec.strategy"},
    {"preferredHolder array", SPEC("\"preferredHolder\":[\"a\"]"), "spec.preferredHolder"},
    {"bad field after good ones",
     SPEC("\"holderIdentity\":\"h\",\"leaseDurationSeconds\":15,\"leaseTransitions\":\"x\""),
     "spec.leaseTransitions"},
};

static void test_decode_bad(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof decode_bad_cases / sizeof decode_bad_cases[0]; i++) {
    const decode_bad_case *c = &decode_bad_cases[i];
    json_t *obj = c->json ? load(c->name, c->json) : NULL;
    lg_lease l;
    char err[256] = "";
    lg_rc rc = lg_lease_decode(obj, &l, err, sizeof err);
    json_decref(obj);
    if (rc != LG_ELEASE)
      fail_msg("%s: lg_lease_decode = %d (%s), want LG_ELEASE", c->name, (int)rc, err);
    if (!strstr(err, c->err))
      fail_msg("%s: error \"%s\" does not contain \"%s\"", c->name, err, c->err);
  }
}

/* The error buffer is optional and never overrun. */
static void test_decode_err_buffer(void **state) {
  json_t *obj = load("err buffer", SPEC("\"holderIdentity\":42"));
  lg_lease l;
  char small[8];
  (void)state;
  assert_int_equal(lg_lease_decode(obj, &l, NULL, 0), LG_ELEASE);
  memset(small, 'x', sizeof small);
  assert_int_equal(lg_lease_decode(obj, &l, small, sizeof small), LG_ELEASE);
  assert_string_equal(small, "spec.ho");
  json_decref(obj);
}

/* --- lg_lease_held, lg_lease_holder_or_empty, lg_lease_transitions -------------------- */

typedef struct {
  const char *name;
  const char *json; /* NULL: a NULL lease */
  bool held;
  const char *holder_or_empty;
  int64_t transitions;
} helper_case;

static const helper_case helper_cases[] = {
    {"NULL lease", NULL, false, "", 0},
    {"holder absent", "{\"spec\":{}}", false, "", 0},
    {"holder null", "{\"spec\":{\"holderIdentity\":null,\"leaseTransitions\":null}}", false, "", 0},
    {"holder empty", "{\"spec\":{\"holderIdentity\":\"\",\"leaseTransitions\":2}}", false, "", 2},
    {"holder set", "{\"spec\":{\"holderIdentity\":\"pod-1\",\"leaseTransitions\":7}}", true,
     "pod-1", 7},
    {"holder single space", "{\"spec\":{\"holderIdentity\":\" \"}}", true, " ", 0},
    {"no spec", "{}", false, "", 0},
    {"transitions zero", "{\"spec\":{\"leaseTransitions\":0}}", false, "", 0},
};

static void test_helpers(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof helper_cases / sizeof helper_cases[0]; i++) {
    const helper_case *c = &helper_cases[i];
    json_t *obj = NULL;
    lg_lease l, *lp = NULL;
    char err[256] = "";
    if (c->json) {
      obj = load(c->name, c->json);
      if (lg_lease_decode(obj, &l, err, sizeof err) != LG_OK) {
        json_decref(obj);
        fail_msg("%s: decode failed: %s", c->name, err);
      }
      lp = &l;
    }
    if (lg_lease_held(lp) != c->held)
      fail_msg("%s: lg_lease_held = %d, want %d", c->name, lg_lease_held(lp), c->held);
    if (strcmp(lg_lease_holder_or_empty(lp), c->holder_or_empty) != 0)
      fail_msg("%s: lg_lease_holder_or_empty = \"%s\", want \"%s\"", c->name,
               lg_lease_holder_or_empty(lp), c->holder_or_empty);
    if (lp && lg_lease_transitions(lp) != c->transitions)
      fail_msg("%s: lg_lease_transitions = %" PRId64 ", want %" PRId64, c->name,
               lg_lease_transitions(lp), c->transitions);
    json_decref(obj);
  }
}

/* --- lg_lease_same_spec --------------------------------------------------------------- */

#define FULL_SPEC                                                                                  \
  "\"holderIdentity\":\"a\",\"leaseDurationSeconds\":15,"                                          \
  "\"acquireTime\":\"2026-11-25T09:00:00.000000Z\",\"renewTime\":\"2026-11-25T10:00:00.000000Z\"," \
  "\"leaseTransitions\":3"

typedef struct {
  const char *name;
  const char *a, *b;
  bool same;
} same_case;

static const same_case same_cases[] = {
    {"identical", "{\"spec\":{" FULL_SPEC "}}", "{\"spec\":{" FULL_SPEC "}}", true},
    {"only metadata differs",
     "{\"metadata\":{\"name\":\"n\",\"resourceVersion\":\"1\",\"labels\":{\"a\":\"b\"}},"
     "\"spec\":{" FULL_SPEC "}}",
     "{\"metadata\":{\"name\":\"n\",\"resourceVersion\":\"2\",\"annotations\":{\"x\":\"y\"}},"
     "\"spec\":{" FULL_SPEC "}}",
     true},
    {"key order differs", "{\"spec\":{\"holderIdentity\":\"a\",\"leaseDurationSeconds\":15}}",
     "{\"spec\":{\"leaseDurationSeconds\":15,\"holderIdentity\":\"a\"}}", true},
    {"both without spec", "{\"metadata\":{\"name\":\"a\"}}", "{\"metadata\":{\"name\":\"b\"}}",
     true},
    {"both empty specs", "{\"spec\":{}}", "{\"spec\":{}}", true},
    {"one without spec", "{\"spec\":{}}", "{}", false},
    {"other without spec", "{}", "{\"spec\":{\"holderIdentity\":\"a\"}}", false},
    {"holder differs", "{\"spec\":{\"holderIdentity\":\"a\",\"leaseDurationSeconds\":15}}",
     "{\"spec\":{\"holderIdentity\":\"b\",\"leaseDurationSeconds\":15}}", false},
    {"holder released", "{\"spec\":{\"holderIdentity\":\"a\"}}",
     "{\"spec\":{\"holderIdentity\":\"\"}}", false},
    {"duration differs", "{\"spec\":{\"leaseDurationSeconds\":15}}",
     "{\"spec\":{\"leaseDurationSeconds\":16}}", false},
    {"acquireTime differs", "{\"spec\":{\"acquireTime\":\"2026-11-25T09:00:00.000000Z\"}}",
     "{\"spec\":{\"acquireTime\":\"2026-11-25T09:00:01.000000Z\"}}", false},
    {"renewTime differs by 1us", "{\"spec\":{\"renewTime\":\"2026-11-25T10:00:00.000000Z\"}}",
     "{\"spec\":{\"renewTime\":\"2026-11-25T10:00:00.000001Z\"}}", false},
    {"transitions differ", "{\"spec\":{\"leaseTransitions\":3}}",
     "{\"spec\":{\"leaseTransitions\":4}}", false},
    {"transitions added", "{\"spec\":{}}", "{\"spec\":{\"leaseTransitions\":0}}", false},
    {"strategy differs", "{\"spec\":{\"strategy\":\"OldestEmulationVersion\"}}",
     "{\"spec\":{\"strategy\":\"Other\"}}", false},
    {"preferredHolder set", "{\"spec\":{}}", "{\"spec\":{\"preferredHolder\":\"b\"}}", false},
};

static void test_same_spec(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof same_cases / sizeof same_cases[0]; i++) {
    const same_case *c = &same_cases[i];
    json_t *ja = load(c->name, c->a), *jb = load(c->name, c->b);
    lg_lease a, b;
    char err[256] = "";
    bool ab, ba;
    if (lg_lease_decode(ja, &a, err, sizeof err) != LG_OK ||
        lg_lease_decode(jb, &b, err, sizeof err) != LG_OK) {
      json_decref(ja);
      json_decref(jb);
      fail_msg("%s: decode failed: %s", c->name, err);
    }
    ab = lg_lease_same_spec(&a, &b);
    ba = lg_lease_same_spec(&b, &a);
    json_decref(ja);
    json_decref(jb);
    if (ab != c->same || ba != c->same)
      fail_msg("%s: lg_lease_same_spec = %d/%d (both orders), want %d", c->name, ab, ba, c->same);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decode_ok),         cmocka_unit_test(test_decode_bad),
      cmocka_unit_test(test_decode_err_buffer), cmocka_unit_test(test_helpers),
      cmocka_unit_test(test_same_spec),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
