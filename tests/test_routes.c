/* test_routes.c -- the answers of serve's plain-HTTP probe and metrics listeners (routes.c):
 * /readyz follows the policy and the shutdown state, /healthz does not, each listener serves
 * its own paths. The HTTPS routes are exercised through serve in test_serve.c,
 * test_framing.c and test_listeners.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "policywatch.h"
#include "routes.h"

typedef struct {
  const char *url;
  bool serving;
  void (*answer)(void *, const char *, lg_httpd_answer *);
  unsigned status; /* 0: not found (no body) */
  const char *body;
} answer_case;

static void test_answers(void **state) {
  static const answer_case cases[] = {
      {"/healthz", true, lg_routes_probe_answer, 200, "ok\n"},
      {"/readyz", true, lg_routes_probe_answer, 200, "ok\n"},
      {"/readyz", false, lg_routes_probe_answer, 503, "not ready: shutting down"},
      {"/healthz", false, lg_routes_probe_answer, 200, "ok\n"},
      {"/metrics", true, lg_routes_probe_answer, 0, NULL},
      {"/validate", true, lg_routes_probe_answer, 0, NULL},
      {"/metrics", true, lg_routes_metrics_answer, 200, "leaseguard_build_info"},
      {"/metrics", false, lg_routes_metrics_answer, 200, "leaseguard_file_reloads_total"},
      {"/readyz", true, lg_routes_metrics_answer, 0, NULL},
      {"/healthz", true, lg_routes_metrics_answer, 0, NULL},
  };
  lg_metrics *m = lg_metrics_new(false);
  lg_server_config cfg = {.metrics = m};
  lg_policywatch *w = NULL;
  lg_routes *r;
  char err[256];
  (void)state;

  assert_int_equal(lg_policywatch_new(NULL, m, &w, err, sizeof err), LG_OK);
  r = lg_routes_new(&cfg, w, NULL, NULL, NULL);
  assert_non_null(r);
  assert_false(lg_routes_ready(r)); /* not serving until told */
  assert_int_equal(lg_routes_active(r), 0);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const answer_case *t = &cases[i];
    lg_httpd_answer a = {200, NULL, NULL};
    lg_routes_set_serving(r, t->serving);
    t->answer(r, t->url, &a);
    if (!t->status) {
      if (a.body)
        fail_msg("%s (%s): answered, want not found: %s", t->url,
                 t->serving ? "serving" : "stopping", a.body);
      continue;
    }
    if (!a.body || a.status != t->status || !strstr(a.body, t->body))
      fail_msg("%s (%s): %u %s, want %u with \"%s\"", t->url, t->serving ? "serving" : "stopping",
               a.status, a.body ? a.body : "(none)", t->status, t->body);
    if (t->answer == lg_routes_metrics_answer && (!a.ctype || !strstr(a.ctype, "version=0.0.4")))
      fail_msg("/metrics: Content-Type %s", a.ctype ? a.ctype : "(none)");
    free(a.body);
  }
  lg_routes_free(r);
  lg_routes_free(NULL);
  lg_policywatch_free(w);
  lg_metrics_free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_answers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
