/* test_apiobjects.c -- lg-test-apiserver's Secrets, ConfigMaps, PolicyReports and
 * ValidatingWebhookConfigurations (tests/apiserver/objects.c, patch.c): one conversation as a
 * table of requests, each with the status and a part of the answer kube-apiserver would give;
 * and a server without the PolicyReport CRD. */
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
#include <unistd.h>

#include <curl/curl.h>

#include "harness.h"

#define SECRETS "/api/v1/namespaces/lg/secrets"
#define VWCS    "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
#define CMS     "/api/v1/namespaces/lg/configmaps"
#define POLR    "/apis/wgpolicyk8s.io/v1alpha2/namespaces/lg/policyreports"
#define REPORT(result, severity)                                                          \
  "{\"metadata\":{\"name\":\"r\"},\"summary\":{\"pass\":0,\"fail\":1},"                   \
  "\"results\":[{\"policy\":\"leaseguard\",\"rule\":\"transitions\",\"result\":\"" result \
  "\",\"severity\":\"" severity "\",\"timestamp\":{\"seconds\":1,\"nanos\":0}}]}"
#define MERGE "application/merge-patch+json"
#define JSONP "application/json-patch+json"

static struct {
  lgt_tls tls;
  char tokens[LGT_PATH_LEN], out[LGT_PATH_LEN], err[LGT_PATH_LEN];
  pid_t pid;
  int port;
} env;

/* One request: the body's "RV" is replaced by the resourceVersion of the last answer. */
typedef struct {
  const char *name, *method, *path, *ctype, *body;
  long status;
  const char *says; /* a part of the answer */
} step;

static const step steps[] = {
    {"create a TLS Secret", "POST", SECRETS, NULL,
     "{\"metadata\":{\"name\":\"s\"},\"type\":\"kubernetes.io/tls\","
     "\"data\":{\"tls.crt\":\"YQ==\",\"tls.key\":\"Yg==\"}}",
     201, "\"resourceVersion\":\"1\""},
    {"create it again", "POST", SECRETS, NULL,
     "{\"metadata\":{\"name\":\"s\"},\"data\":{\"tls.crt\":\"YQ==\",\"tls.key\":\"Yg==\"}}", 409,
     "secrets \\\"s\\\" already exists"},
    {"a version on create", "POST", SECRETS, NULL,
     "{\"metadata\":{\"name\":\"t\",\"resourceVersion\":\"5\"}}", 500,
     "resourceVersion should not be set"},
    {"bad base64", "POST", SECRETS, NULL, "{\"metadata\":{\"name\":\"u\"},\"data\":{\"k\":\"@@\"}}",
     400, "illegal base64 data"},
    {"a TLS Secret without a key", "POST", SECRETS, NULL,
     "{\"metadata\":{\"name\":\"u\"},\"type\":\"kubernetes.io/"
     "tls\",\"data\":{\"tls.crt\":\"YQ==\"}}",
     422, "data[tls.key]: Required value"},
    {"read it", "GET", SECRETS "/s", NULL, NULL, 200, "\"tls.crt\":\"YQ==\""},
    {"update with its version", "PUT", SECRETS "/s", NULL,
     "{\"metadata\":{\"name\":\"s\",\"resourceVersion\":\"RV\"},\"type\":\"kubernetes.io/tls\","
     "\"data\":{\"tls.crt\":\"Yw==\",\"tls.key\":\"Yg==\"}}",
     200, "\"resourceVersion\":\"2\""},
    {"update with a stale version", "PUT", SECRETS "/s", NULL,
     "{\"metadata\":{\"name\":\"s\",\"resourceVersion\":\"1\"},\"type\":\"kubernetes.io/tls\","
     "\"data\":{\"tls.crt\":\"YQ==\",\"tls.key\":\"Yg==\"}}",
     409, "the object has been modified"},
    {"an unconditional update", "PUT", SECRETS "/s", NULL,
     "{\"metadata\":{\"name\":\"s\"},\"type\":\"kubernetes.io/tls\","
     "\"data\":{\"tls.crt\":\"ZA==\",\"tls.key\":\"Yg==\"}}",
     200, "\"tls.crt\":\"ZA==\""},
    {"the type is immutable", "PUT", SECRETS "/s", NULL,
     "{\"metadata\":{\"name\":\"s\"},\"type\":\"Opaque\",\"data\":{}}", 422,
     "type: Invalid value: \\\"Opaque\\\": field is immutable"},
    {"no create on update", "PUT", SECRETS "/nothere", NULL,
     "{\"metadata\":{\"name\":\"nothere\"}}", 404, "secrets \\\"nothere\\\" not found"},
    {"merge patch", "PATCH", SECRETS "/s", MERGE, "{\"data\":{\"extra\":\"eA==\"}}", 200,
     "\"extra\":\"eA==\""},
    {"merge patch with a stale version", "PATCH", SECRETS "/s", MERGE,
     "{\"metadata\":{\"resourceVersion\":\"1\"},\"data\":{\"extra\":null}}", 409,
     "the object has been modified"},
    {"list", "GET", SECRETS, NULL, NULL, 200, "\"kind\":\"SecretList\""},
    {"a configuration", "POST", VWCS, NULL,
     "{\"metadata\":{\"name\":\"w\"},\"webhooks\":[{\"name\":\"a.io\",\"clientConfig\":{}},"
     "{\"name\":\"b.io\",\"clientConfig\":{\"caBundle\":\"eA==\"}}]}",
     201, "\"name\":\"b.io\""},
    {"a webhook without a name", "POST", VWCS, NULL,
     "{\"metadata\":{\"name\":\"v\"},\"webhooks\":[{\"clientConfig\":{}}]}", 422,
     "webhooks[0].name: Required value"},
    {"JSON patch: test and add", "PATCH", VWCS "/w", JSONP,
     "[{\"op\":\"test\",\"path\":\"/webhooks/0/name\",\"value\":\"a.io\"},"
     "{\"op\":\"add\",\"path\":\"/webhooks/0/clientConfig/caBundle\",\"value\":\"eQ==\"}]",
     200, "\"clientConfig\":{\"caBundle\":\"eQ==\"}"},
    {"JSON patch: a failing test changes nothing", "PATCH", VWCS "/w", JSONP,
     "[{\"op\":\"add\",\"path\":\"/webhooks/1/clientConfig/caBundle\",\"value\":\"eg==\"},"
     "{\"op\":\"test\",\"path\":\"/webhooks/1/name\",\"value\":\"a.io\"}]",
     422, "testing value /webhooks/1/name failed"},
    {"... as a read shows", "GET", VWCS "/w", NULL, NULL, 200, "\"caBundle\":\"eA==\""},
    {"JSON patch: replace, remove, escaped keys", "PATCH", VWCS "/w", JSONP,
     "[{\"op\":\"replace\",\"path\":\"/webhooks/1/name\",\"value\":\"c.io\"},"
     "{\"op\":\"add\",\"path\":\"/metadata/annotations\",\"value\":{}},"
     "{\"op\":\"add\",\"path\":\"/metadata/annotations/x~1y~0z\",\"value\":\"1\"},"
     "{\"op\":\"remove\",\"path\":\"/webhooks/0/clientConfig/caBundle\"}]",
     200, "\"x/y~z\":\"1\""},
    {"JSON patch: a missing path", "PATCH", VWCS "/w", JSONP,
     "[{\"op\":\"replace\",\"path\":\"/webhooks/5/name\",\"value\":\"d.io\"}]", 422,
     "doc is missing path"},
    {"JSON patch: bad base64 in the result", "PATCH", VWCS "/w", JSONP,
     "[{\"op\":\"add\",\"path\":\"/webhooks/0/clientConfig/caBundle\",\"value\":\"!\"}]", 400,
     "illegal base64 data"},
    {"strategic merge patch", "PATCH", VWCS "/w", "application/strategic-merge-patch+json", "{}",
     415, "application/json-patch+json"},
    {"a ConfigMap", "POST", CMS, NULL,
     "{\"metadata\":{\"name\":\"c\",\"labels\":{\"app\":\"x\"}},\"data\":{\"k\":\"v\"}}", 201,
     "\"kind\":\"ConfigMap\""},
    {"a ConfigMap value that is not a string", "POST", CMS, NULL,
     "{\"metadata\":{\"name\":\"d\"},\"data\":{\"k\":1}}", 400, "ConfigMap.data of type string"},
    {"list ConfigMaps by label", "GET", CMS "?labelSelector=app%3Dx", NULL, NULL, 200,
     "\"kind\":\"ConfigMapList\""},
    {"... none with another label", "GET", CMS "?labelSelector=app%3Dy", NULL, NULL, 200,
     "\"items\":[]"},
    {"a ConfigMap updated", "PUT", CMS "/c", NULL,
     "{\"metadata\":{\"name\":\"c\",\"resourceVersion\":\"RV\"},\"data\":{\"k\":\"w\"}}", 200,
     "\"k\":\"w\""},
    {"a PolicyReport", "POST", POLR, NULL, REPORT("fail", "high"), 201,
     "\"apiVersion\":\"wgpolicyk8s.io/v1alpha2\""},
    {"a result outside the enum", "PUT", POLR "/r", NULL, REPORT("bad", "high"), 422,
     "PolicyReport.wgpolicyk8s.io \\\"r\\\" is invalid: results[0].result: Unsupported value: "
     "\\\"bad\\\""},
    {"a severity outside the enum", "PUT", POLR "/r", NULL, REPORT("warn", "severe"), 422,
     "results[0].severity: Unsupported value"},
    {"PolicyReports of every namespace", "GET", "/apis/wgpolicyk8s.io/v1alpha2/policyreports", NULL,
     NULL, 200, "\"kind\":\"PolicyReportList\""},
    {"no create on the all-namespaces path", "POST", "/apis/wgpolicyk8s.io/v1alpha2/policyreports",
     NULL, REPORT("fail", "high"), 405, "MethodNotAllowed"},
    {"a PolicyReport that is not there", "GET", POLR "/nothere", NULL, NULL, 404,
     "policyreports.wgpolicyk8s.io \\\"nothere\\\" not found"},
    {"delete the report", "DELETE", POLR "/r", NULL, NULL, 200, "\"status\":\"Success\""},
    {"delete", "DELETE", VWCS "/w", NULL, NULL, 200, "\"status\":\"Success\""},
    {"gone", "GET", VWCS "/w", NULL, NULL, 404,
     "validatingwebhookconfigurations.admissionregistration.k8s.io \\\"w\\\" not found"},
};

/* Starts lg-test-apiserver (with extra, may be NULL) logging to out and err; its port. */
static int start_server(const char *extra, const char *out, const char *err, pid_t *pid) {
  char portfile[LGT_PATH_LEN];
  lgt_path(portfile, env.tls.dir, extra ? "port-2" : "port");
  const lgt_apiserver as = {.cert = env.tls.cert,
                            .key = env.tls.key,
                            .ca = env.tls.ca,
                            .tokens = env.tokens,
                            .port_file = portfile,
                            .extra = (const char *[]){extra, NULL},
                            .out = out,
                            .err = err};
  return lgt_apiserver_start(&as, pid);
}

static int setup(void **state) {
  (void)state;
  if (lgt_tls_setup(&env.tls, "apiobjects") != 0)
    return -1;
  lgt_path(env.tokens, env.tls.dir, "tokens.csv");
  lgt_write_file(env.tokens, "t,admin,u1,\"system:masters\"\n");
  lgt_path(env.out, env.tls.dir, "apiserver.out");
  lgt_path(env.err, env.tls.dir, "apiserver.err");
  env.port = start_server(NULL, env.out, env.err, &env.pid);
  return env.port > 0 ? 0 : -1;
}

static int teardown(void **state) {
  int status = lgt_stop(env.pid, SIGTERM, lgt_slow(10000));
  (void)state;
  lgt_tls_teardown(&env.tls);
  return status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void test_conversation(void **state) {
  char rv[32] = "", body[1024];
  (void)state;
  for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
    const step *s = &steps[i];
    struct curl_slist *hdrs = NULL;
    const char *at;
    lgt_reply r;
    CURL *c;
    body[0] = '\0';
    if (s->body) {
      const char *mark = strstr(s->body, "RV");
      if (mark)
        snprintf(body, sizeof body, "%.*s%s%s", (int)(mark - s->body), s->body, rv, mark + 2);
      else
        snprintf(body, sizeof body, "%s", s->body);
    }
    c = lgt_request(env.tls.ca, s->method, env.port, "t", s->path, s->body ? body : NULL, &hdrs,
                    &r);
    for (struct curl_slist *h = hdrs; s->ctype && h; h = h->next)
      if (!strncmp(h->data, "Content-Type:", 13)) {
        free(h->data);
        h->data = malloc(strlen(s->ctype) + 16);
        sprintf(h->data, "Content-Type: %s", s->ctype);
      }
    r.rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    if (r.rc != CURLE_OK || r.status != s->status || !r.body || !strstr(r.body, s->says))
      fail_msg("step \"%s\": HTTP %ld, want %ld with \"%s\": %s", s->name, r.status, s->status,
               s->says, r.body ? r.body : "");
    if ((at = strstr(r.body, "\"resourceVersion\":\"")))
      snprintf(rv, sizeof rv, "%.*s", (int)strcspn(at + 19, "\""), at + 19);
    free(r.body);
  }
}

/* A cluster without the PolicyReport CRD: its paths are unknown (the Status of an unknown
 * resource, naming no object, which is how a client tells it from a missing report). */
static void test_without_policy_report_crd(void **state) {
  static const char *const calls[][3] = {
      {"GET", POLR "/leaseguard-leases", NULL},
      {"POST", POLR, REPORT("fail", "high")},
      {"PUT", POLR "/r", REPORT("fail", "high")},
      {"GET", "/apis/wgpolicyk8s.io/v1alpha2/policyreports", NULL},
  };
  char out[LGT_PATH_LEN], err[LGT_PATH_LEN];
  pid_t pid;
  int port;
  (void)state;
  lgt_path(out, env.tls.dir, "nocrd.out");
  lgt_path(err, env.tls.dir, "nocrd.err");
  port = start_server("--no-policy-reports", out, err, &pid);
  assert_true(port > 0);
  for (size_t i = 0; i < sizeof calls / sizeof *calls; i++) {
    lgt_reply r;
    lgt_http(env.tls.ca, calls[i][0], port, "t", calls[i][1], calls[i][2], &r);
    if (r.status != 404 || !r.body ||
        !strstr(r.body, "the server could not find the requested resource") ||
        !strstr(r.body, "\"details\":{}"))
      fail_msg("%s %s without the CRD: HTTP %ld %s", calls[i][0], calls[i][1], r.status,
               r.body ? r.body : "");
    free(r.body);
  }
  {
    lgt_reply r; /* the rest of the API is there */
    lgt_http(env.tls.ca, "GET", port, "t", CMS, NULL, &r);
    assert_int_equal(r.status, 200);
    free(r.body);
  }
  assert_int_equal(lgt_stop(pid, SIGTERM, lgt_slow(10000)), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conversation),
      cmocka_unit_test(test_without_policy_report_crd),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
