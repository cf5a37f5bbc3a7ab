/* test_leasefeed.c -- serve's lease watch (src/leasefeed.c, src/leasewatch.c) against the
 * Lease API test server: the cache follows creates, renewals, takeovers and deletes, the
 * witness gets sightings, the GET fallback answers, and an API that goes away leaves the
 * cache as it was (the fence then decides by its --fencing-unknown). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "kube.h"
#include "leasefeed.h"

#define TOKEN "feed-token"
#define SEC   LG_USEC_PER_SEC

static char dir[LGT_PATH_LEN], ca[LGT_PATH_LEN], cert[LGT_PATH_LEN], key[LGT_PATH_LEN],
    tokens[LGT_PATH_LEN], token_file[LGT_PATH_LEN], api_out[LGT_PATH_LEN];
static pid_t api_pid = -1;
static lg_kube_config kc;
static lg_kube *client;

static void api_start(void) {
  char pf[LGT_PATH_LEN], server[64], err[256];
  int port;
  lgt_path(pf, dir, "api.port");
  const lgt_apiserver as = {.cert = cert,
                            .key = key,
                            .ca = ca,
                            .tokens = tokens,
                            .port_file = pf,
                            .extra = (const char *[]){"--bind-address=127.0.0.1", NULL},
                            .out = api_out,
                            .err = api_out};
  port = lgt_apiserver_start(&as, &api_pid);
  snprintf(server, sizeof server, "https://127.0.0.1:%d", port);
  assert_int_equal(lg_kube_config_explicit(server, token_file, ca, &kc, err, sizeof err), LG_OK);
  assert_int_equal(lg_kube_new(&kc, &client, err, sizeof err), LG_OK);
}

/* PUTs (or POSTs) lease ns/name held by holder at epoch tr, renewed now. */
static void write_lease(const char *name, const char *holder, int tr, bool create) {
  char path[256], ts[LG_TIME_BUFLEN];
  lg_kube_result res;
  json_t *obj =
      json_pack("{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:i, s:s, s:i}}", "apiVersion",
                "coordination.k8s.io/v1", "kind", "Lease", "metadata", "name", name, "namespace",
                "team-a", "spec", "holderIdentity", holder, "leaseDurationSeconds", 15, "renewTime",
                lg_time_format(lg_time_now(), ts), "leaseTransitions", tr);
  if (create) {
    snprintf(path, sizeof path, "/apis/coordination.k8s.io/v1/namespaces/team-a/leases");
    assert_int_equal(lg_kube_call(client, "POST", path, obj, 5000, &res), LG_OK);
    assert_int_equal(res.status, 201);
  } else {
    snprintf(path, sizeof path, "/apis/coordination.k8s.io/v1/namespaces/team-a/leases/%s", name);
    assert_int_equal(lg_kube_call(client, "GET", path, NULL, 5000, &res), LG_OK);
    json_object_set(json_object_get(obj, "metadata"), "resourceVersion",
                    json_object_get(json_object_get(res.body, "metadata"), "resourceVersion"));
    lg_kube_result_free(&res);
    assert_int_equal(lg_kube_call(client, "PUT", path, obj, 5000, &res), LG_OK);
    assert_int_equal(res.status, 200);
  }
  lg_kube_result_free(&res);
  json_decref(obj);
}

static void delete_lease(const char *name) {
  char path[256];
  lg_kube_result res;
  snprintf(path, sizeof path, "/apis/coordination.k8s.io/v1/namespaces/team-a/leases/%s", name);
  assert_int_equal(lg_kube_call(client, "DELETE", path, NULL, 5000, &res), LG_OK);
  lg_kube_result_free(&res);
}

/* Waits (5 s at most) until the cache says want for name (and, found, holder). */
static bool cache_says(lg_leasecache *c, const char *name, lg_leasecache_hit want,
                       const char *holder) {
  for (int i = 0; i < 100; i++) {
    lg_leasecache_entry e;
    lg_leasecache_hit h = lg_leasecache_get(c, "team-a", name, lg_time_mono(), &e, NULL);
    bool ok = h == want && (h != LG_LEASECACHE_FOUND || !holder || !strcmp(e.holder, holder));
    lg_leasecache_entry_clear(&e);
    if (ok)
      return true;
    usleep(50000);
  }
  return false;
}

static void test_feed(void **state) {
  (void)state;
  lg_leasecache *cache = lg_leasecache_new(64, 5 * SEC);
  lg_witness *w = lg_witness_new(64, 64);
  lg_leasefeed *feed = NULL;
  lg_leasefeed_config fc = {&kc, w, cache, 5};
  lg_leasecache_entry e;
  lg_evidence ev;
  lg_lease l;
  char err[256];

  write_lease("before", "pod-a_1", 0, true); /* listed at start */
  assert_int_equal(lg_leasefeed_start(&fc, &feed, err, sizeof err), LG_OK);
  assert_true(cache_says(cache, "before", LG_LEASECACHE_FOUND, "pod-a_1"));
  int64_t since;
  for (int i = 0; i < 100 && !lg_leasecache_synced(cache, &since); i++)
    usleep(50000);
  assert_true(lg_leasecache_synced(cache, &since));
  /* created, taken over, deleted: the watch follows */
  write_lease("lock", "pod-a_1", 0, true);
  assert_true(cache_says(cache, "lock", LG_LEASECACHE_FOUND, "pod-a_1"));
  write_lease("lock", "pod-b_2", 1, false);
  assert_true(cache_says(cache, "lock", LG_LEASECACHE_FOUND, "pod-b_2"));
  /* the witness saw that version arrive: its term is judged from the sighting */
  assert_int_equal(lg_leasecache_get(cache, "team-a", "lock", lg_time_mono(), &e, NULL),
                   LG_LEASECACHE_FOUND);
  lg_leasecache_as_lease(&e, "team-a", "lock", &l);
  lg_witness_evidence(w, "team-a", "lock", &l, NULL, "", lg_time_mono(), &ev);
  assert_true(ev.seen);
  assert_true(ev.seen_age < 5 * SEC);
  assert_int_equal(ev.seen_slack, SEC);
  lg_leasecache_entry_clear(&e);
  delete_lease("lock");
  assert_true(cache_says(cache, "lock", LG_LEASECACHE_ABSENT, NULL));
  /* the GET fallback */
  assert_int_equal(lg_leasefeed_get(feed, "team-a", "before", &e), LG_LEASECACHE_FOUND);
  assert_string_equal(e.holder, "pod-a_1");
  lg_leasecache_entry_clear(&e);
  assert_int_equal(lg_leasefeed_get(feed, "team-a", "no-such", &e), LG_LEASECACHE_ABSENT);
  assert_int_equal(lg_leasefeed_get(feed, "team-a", "../x", &e), LG_LEASECACHE_MISS);
  /* the API goes away: the cache keeps what it knew, a GET cannot say */
  lgt_stop(api_pid, SIGKILL, 5000);
  api_pid = -1;
  assert_int_equal(lg_leasefeed_get(feed, "team-a", "before", &e), LG_LEASECACHE_MISS);
  assert_true(cache_says(cache, "before", LG_LEASECACHE_FOUND, "pod-a_1"));
  int64_t t0 = lg_time_mono();
  lg_leasefeed_stop(feed); /* stops within about a second even with the API gone */
  assert_true(lg_time_mono() - t0 < 10 * SEC);
  lg_leasecache_free(cache);
  lg_witness_free(w);
}

static int setup(void **state) {
  (void)state;
  assert_int_equal(lgt_temp_dir(dir, "leasefeed"), 0);
  assert_int_equal(lgt_make_certs(dir, NULL), 0);
  lgt_path(ca, dir, "ca.crt");
  lgt_path(cert, dir, "tls.crt");
  lgt_path(key, dir, "tls.key");
  lgt_path(tokens, dir, "tokens.csv");
  lgt_path(token_file, dir, "token");
  lgt_path(api_out, dir, "api.out");
  lgt_write_file(tokens, TOKEN ",system:serviceaccount:leaseguard:leaseguard,uid-1,"
                               "\"system:serviceaccounts\"\n");
  lgt_write_file(token_file, TOKEN "\n");
  api_start();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  if (api_pid > 0)
    lgt_stop(api_pid, SIGTERM, 5000);
  lg_kube_free(client);
  lg_kube_config_free(&kc);
  lgt_rm_tree(dir);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_feed)};
  return cmocka_run_group_tests(tests, setup, teardown);
}
