/* test_reload.c -- `leaseguard serve` reloading its files: the client CA rotated like a
 * ConfigMap volume (new CA accepted, old refused, verified connections kept, a broken file
 * refused and the CA kept), and every failed reload counted in leaseguard_file_reloads_total. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "harness.h"
#include "raw.h"

#define WAIT_MS 5000

static struct {
  lgt_tls tls;
  char dir[LGT_PATH_LEN], log[LGT_PATH_LEN];
  char *review;
  lgt_serve srv;
} env;

/* ---- files ---- */

static void copy_file(const char *from, const char *to) {
  size_t len = 0;
  char *text = lgt_read_file(from, &len);
  FILE *f;
  assert_non_null(text);
  f = fopen(to, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
  free(text);
}

/* Replaces path by writing beside it and renaming over it. */
static void replace_text(const char *path, const char *text) {
  char tmp[LGT_PATH_LEN + 8];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  lgt_write_file(tmp, text);
  assert_int_equal(rename(tmp, path), 0);
}

/* A ConfigMap volume in dir: ..data -> version, ca.crt -> ..data/ca.crt; version holds a copy
 * of from (or text, when from is NULL). The swap of ..data is atomic, as the kubelet's. */
static void configmap_version(const char *dir, const char *version, const char *from,
                              const char *text) {
  char v[LGT_PATH_LEN], file[LGT_PATH_LEN], tmp[LGT_PATH_LEN], data[LGT_PATH_LEN],
      link[LGT_PATH_LEN];
  lgt_path(v, dir, version);
  assert_int_equal(mkdir(v, 0700), 0);
  lgt_path(file, v, "ca.crt");
  if (from)
    copy_file(from, file);
  else
    lgt_write_file(file, text);
  lgt_path(tmp, dir, "..data_tmp");
  lgt_path(data, dir, "..data");
  assert_int_equal(symlink(version, tmp), 0);
  assert_int_equal(rename(tmp, data), 0);
  lgt_path(link, dir, "ca.crt");
  if (access(link, F_OK) != 0 && symlink("..data/ca.crt", link) != 0)
    fail_msg("cannot link %s", link);
}

/* Two CAs, a and b, each with a client certificate (clientAuth) in env.dir: ca-a.crt,
 * client-a.crt, client-a.key and the same for b. */
static void make_client_certs(void) {
  for (char who = 'a'; who <= 'b'; who++) {
    char ca_key[LGT_PATH_LEN], ca_crt[LGT_PATH_LEN], key[LGT_PATH_LEN], crt[LGT_PATH_LEN];
    char csr[LGT_PATH_LEN], ext[LGT_PATH_LEN], subj[64];
    snprintf(ca_key, sizeof ca_key, "%s/ca-%c.key", env.dir, who);
    snprintf(ca_crt, sizeof ca_crt, "%s/ca-%c.crt", env.dir, who);
    snprintf(key, sizeof key, "%s/client-%c.key", env.dir, who);
    snprintf(crt, sizeof crt, "%s/client-%c.crt", env.dir, who);
    snprintf(csr, sizeof csr, "%s/client-%c.csr", env.dir, who);
    snprintf(ext, sizeof ext, "%s/client.ext", env.dir);
    snprintf(subj, sizeof subj, "/CN=client CA %c", who);
    char *ca[] = {"openssl",
                  "req",
                  "-x509",
                  "-newkey",
                  "ec",
                  "-pkeyopt",
                  "ec_paramgen_curve:P-256",
                  "-nodes",
                  "-keyout",
                  ca_key,
                  "-out",
                  ca_crt,
                  "-subj",
                  subj,
                  "-days",
                  "2",
                  "-addext",
                  "basicConstraints=critical,CA:TRUE",
                  "-addext",
                  "keyUsage=critical,keyCertSign,cRLSign",
                  NULL};
    char *req[] = {
        "openssl", "req",     "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes",  "-keyout", key,    "-out",    csr,  "-subj",    "/CN=kube-apiserver",
        NULL};
    char *sign[] = {"openssl", "x509",     "-req", "-in",         csr, "-CA",
                    ca_crt,    "-CAkey",   ca_key, "-set_serial", "2", "-days",
                    "1",       "-extfile", ext,    "-out",        crt, NULL};
    lgt_write_file(ext, "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                        "extendedKeyUsage=clientAuth\n");
    lgt_run_tool(ca, env.log);
    lgt_run_tool(req, env.log);
    lgt_run_tool(sign, env.log);
  }
}

/* ---- requests ---- */

/* A handle POSTing the review to /validate with client certificate `who` ('a', 'b'). */
static CURL *review_handle(char who, lgt_reply *r, struct curl_slist **hdrs) {
  static char crt[LGT_PATH_LEN], key[LGT_PATH_LEN];
  char url[64];
  CURL *c = curl_easy_init();
  assert_non_null(c);
  snprintf(crt, sizeof crt, "%s/client-%c.crt", env.dir, who);
  snprintf(key, sizeof key, "%s/client-%c.key", env.dir, who);
  snprintf(url, sizeof url, "https://127.0.0.1:%d/validate", env.srv.port);
  *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
  lgt_collect(c, r);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CAINFO, env.tls.ca);
  curl_easy_setopt(c, CURLOPT_SSLCERT, crt);
  curl_easy_setopt(c, CURLOPT_SSLKEY, key);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, env.review);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, lgt_slow(5000));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  return c;
}

/* POSTs the review on c (reusing its connection when it has one); the HTTP status, or -1;
 * *connects (may be NULL) gets how many connections that opened. */
static long perform(CURL *c, lgt_reply *r, long *connects) {
  long status = -1;
  free(r->body);
  lgt_collect(c, r);
  if (curl_easy_perform(c) == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (connects)
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, connects);
  return status;
}

/* One review on a new connection with client certificate `who`: the HTTP status. */
static long review_as(char who) {
  struct curl_slist *hdrs;
  lgt_reply r;
  CURL *c = review_handle(who, &r, &hdrs);
  long status = perform(c, &r, NULL);
  free(r.body);
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(c);
  return status;
}

static void wait_status(char who, long want) {
  struct timespec t0;
  long got;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while ((got = review_as(who)) != want) {
    if (lgt_elapsed_ms(&t0) > lgt_slow(WAIT_MS)) {
      char *text = lgt_slurp(env.srv.err);
      fail_msg("client %c got %ld, want %ld, for %d ms; log:\n%s", who, got, want, WAIT_MS, text);
    }
    lgt_sleep_ms(50);
  }
}

/* Waits until GET /metrics has the sample line (name{labels} value). */
static void wait_metric(const char *sample) {
  char url[64];
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  snprintf(url, sizeof url, "https://127.0.0.1:%d/metrics", env.srv.port);
  for (;;) {
    lgt_reply r;
    bool found;
    lgt_get(url, env.tls.ca, 5000, &r);
    found = r.body && strstr(r.body, sample);
    if (found || lgt_elapsed_ms(&t0) > lgt_slow(WAIT_MS)) {
      if (!found)
        fail_msg("no \"%s\" in /metrics:\n%s", sample, r.body ? r.body : "");
      free(r.body);
      return;
    }
    free(r.body);
    lgt_sleep_ms(50);
  }
}

/* ---- cases ---- */

static int stop_server(void **state) {
  (void)state;
  lgt_serve_stop(&env.srv, 10000);
  return 0;
}

static void test_client_ca_rotation(void **state) {
  char live[LGT_PATH_LEN], ca_file[LGT_PATH_LEN], flag[LGT_PATH_LEN + 32], ca_a[LGT_PATH_LEN];
  char ca_b[LGT_PATH_LEN];
  const char *flags[] = {flag, NULL};
  struct curl_slist *hdrs;
  lgt_reply r;
  CURL *keep;
  long connects;
  (void)state;

  snprintf(ca_a, sizeof ca_a, "%s/ca-a.crt", env.dir);
  snprintf(ca_b, sizeof ca_b, "%s/ca-b.crt", env.dir);
  lgt_path(live, env.dir, "client-ca");
  assert_int_equal(mkdir(live, 0700), 0);
  configmap_version(live, "..v1", ca_a, NULL);
  lgt_path(ca_file, live, "ca.crt");
  snprintf(flag, sizeof flag, "--client-ca-file=%s", ca_file);
  lgt_serve_start(&env.srv, env.dir, env.tls.cert, env.tls.key, env.tls.ca, flags);

  assert_int_equal(review_as('a'), 200);
  assert_int_equal(review_as('b'), 403);
  keep = review_handle('a', &r, &hdrs);
  assert_int_equal(perform(keep, &r, &connects), 200);
  assert_int_equal(connects, 1);

  /* Rotated: new handshakes are checked against CA b only. */
  configmap_version(live, "..v2", ca_b, NULL);
  wait_status('b', 200);
  assert_int_equal(review_as('a'), 403);
  assert_true(lgt_wait_for_text(env.srv.err, "\"msg\":\"client CA reloaded\"", 1000));
  /* The connection verified before keeps its state. */
  assert_int_equal(perform(keep, &r, &connects), 200);
  assert_int_equal(connects, 0);

  /* Broken: refused, logged, counted; CA b stays in force. */
  configmap_version(live, "..v3", NULL, "-----BEGIN CERTIFICATE-----\nnot base64\n");
  if (!lgt_wait_for_text(env.srv.err, "client CA reload failed", lgt_slow(WAIT_MS)))
    fail_msg("no reload failure logged for a broken client CA file");
  wait_metric("leaseguard_file_reloads_total{file=\"client-ca\",result=\"failure\"} 1\n");
  wait_metric("leaseguard_file_reloads_total{file=\"client-ca\",result=\"success\"} 1\n");
  assert_int_equal(review_as('b'), 200);
  assert_int_equal(review_as('a'), 403);
  /* SIGHUP rereads it: another failure, still CA b. */
  assert_int_equal(kill(env.srv.pid, SIGHUP), 0);
  wait_metric("leaseguard_file_reloads_total{file=\"client-ca\",result=\"failure\"} 2\n");
  assert_int_equal(review_as('b'), 200);
  /* Fixed: CA a again. */
  configmap_version(live, "..v4", ca_a, NULL);
  wait_status('a', 200);
  assert_int_equal(review_as('b'), 403);

  free(r.body);
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(keep);
}

/* Policy and serving certificate: a broken file is counted as a failed reload (and the
 * policy's own counter still counts), a good one as a success. */
static void test_reload_counters(void **state) {
  char policy[LGT_PATH_LEN], cert[LGT_PATH_LEN], key[LGT_PATH_LEN], flag[LGT_PATH_LEN + 32];
  char shipped[LGT_PATH_LEN];
  const char *flags[] = {flag, NULL};
  char *good;
  (void)state;

  lgt_path(policy, env.dir, "policy.json");
  snprintf(shipped, sizeof shipped, "%s/policy/default.json", LG_SOURCE_DIR);
  copy_file(shipped, policy);
  lgt_path(cert, env.dir, "live.crt");
  lgt_path(key, env.dir, "live.key");
  copy_file(env.tls.cert, cert);
  copy_file(env.tls.key, key);
  snprintf(flag, sizeof flag, "--policy-file=%s", policy);
  lgt_serve_start(&env.srv, env.dir, cert, key, env.tls.ca, flags);
  wait_metric("leaseguard_file_reloads_total{file=\"policy\",result=\"failure\"} 0\n");

  replace_text(policy, "{\"apiVersion\": \"leaseguard.io/v1alpha1\", \"kind\": \"LeasePolicy\", "
                       "\"defaultMode\": \"block\"}\n");
  wait_metric("leaseguard_file_reloads_total{file=\"policy\",result=\"failure\"} 1\n");
  wait_metric("leaseguard_policy_reloads_total{result=\"failure\"} 1\n");
  good = lgt_read_file(shipped, NULL);
  assert_non_null(good);
  replace_text(policy, good);
  free(good);
  wait_metric("leaseguard_file_reloads_total{file=\"policy\",result=\"success\"} 1\n");
  wait_metric("leaseguard_policy_reloads_total{result=\"success\"} 1\n");

  replace_text(cert, "not a certificate\n");
  wait_metric("leaseguard_file_reloads_total{file=\"tls-certificate\",result=\"failure\"} 1\n");
  assert_true(lgt_wait_for_text(env.srv.err, "serving certificate reload failed", 1000));
  copy_file(env.tls.cert, cert);
  wait_metric("leaseguard_file_reloads_total{file=\"tls-certificate\",result=\"success\"} 1\n");
}

static int setup_group(void **state) {
  char path[LGT_PATH_LEN];
  (void)state;
  signal(SIGPIPE, SIG_IGN);
  env.srv.pid = -1;
  if (lgt_tls_setup(&env.tls, "reload") != 0)
    return -1;
  snprintf(env.dir, sizeof env.dir, "%s", env.tls.dir);
  lgt_path(env.log, env.dir, "openssl.log");
  make_client_certs();
  snprintf(path, sizeof path, "%s/reviews/kcm-create.json", LG_FIXTURES);
  env.review = lgt_read_file(path, NULL);
  return env.review ? 0 : -1;
}

static int teardown_group(void **state) {
  (void)state;
  if (env.srv.pid > 0)
    lgt_stop(env.srv.pid, SIGKILL, 1000);
  free(env.review);
  lgt_tls_teardown(&env.tls);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_client_ca_rotation, stop_server),
      cmocka_unit_test_teardown(test_reload_counters, stop_server),
  };
  return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
