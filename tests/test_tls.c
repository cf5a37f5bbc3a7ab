/* test_tls.c -- `leaseguard serve` TLS: certificate rotation without restart, expiry warning,
 * client certificates (--client-ca-file). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "harness.h"

#define PATH_LEN LGT_PATH_LEN
/* How long a changed certificate may take to be served (the check runs every 200 ms). */
#define RELOAD_WAIT_MS 5000

/* The group's directory: certificate sets from `leaseguard certs`, made once. */
static struct {
  char dir[PATH_LEN];
  char a[PATH_LEN], b[PATH_LEN], c[PATH_LEN],
      soon[PATH_LEN]; /* each holds ca.crt, tls.crt, tls.key */
  int starts;
} env;

/* The server of the running test; the teardown stops it. */
static struct {
  pid_t pid;
  int port;
  char err[PATH_LEN];
} srv = {.pid = -1};

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

/* Replaces path with a copy of from: written beside it, then renamed over it. */
static void replace_file(const char *from, const char *path) {
  char tmp[PATH_LEN + 8];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  copy_file(from, tmp);
  assert_int_equal(rename(tmp, path), 0);
}

/* Lays out dir as the kubelet does a Secret volume: the files in a versioned directory,
 * ..data a symlink to it, and tls.crt, tls.key symlinks through ..data. */
static void kubelet_layout(const char *dir, const char *set) {
  char v[PATH_LEN], from[PATH_LEN], to[PATH_LEN], link[PATH_LEN];
  lgt_path(v, dir, "..v1");
  assert_int_equal(mkdir(v, 0700), 0);
  for (int i = 0; i < 2; i++) {
    const char *name = i ? "tls.key" : "tls.crt";
    char target[64];
    lgt_path(from, set, name);
    lgt_path(to, v, name);
    copy_file(from, to);
    lgt_path(link, dir, name);
    snprintf(target, sizeof target, "..data/%s", name);
    assert_int_equal(symlink(target, link), 0);
  }
  lgt_path(link, dir, "..data");
  assert_int_equal(symlink("..v1", link), 0);
}

/* Swaps ..data to a new version holding the files of set, atomically (rename of a link). */
static void kubelet_swap(const char *dir, const char *set, const char *version) {
  char v[PATH_LEN], from[PATH_LEN], to[PATH_LEN], tmp[PATH_LEN], data[PATH_LEN];
  lgt_path(v, dir, version);
  assert_int_equal(mkdir(v, 0700), 0);
  lgt_path(from, set, "tls.crt");
  lgt_path(to, v, "tls.crt");
  copy_file(from, to);
  lgt_path(from, set, "tls.key");
  lgt_path(to, v, "tls.key");
  copy_file(from, to);
  lgt_path(tmp, dir, "..data_tmp");
  lgt_path(data, dir, "..data");
  assert_int_equal(symlink(version, tmp), 0);
  assert_int_equal(rename(tmp, data), 0);
}

/* Runs a tool found on PATH (openssl) within 30 s; its output goes to dir/tools.log. */
static void run_tool(char *const argv[]) {
  char log[PATH_LEN];
  pid_t pid;
  int status;
  lgt_path(log, env.dir, "tools.log");
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
      _exit(126);
    execvp(argv[0], argv);
    _exit(127);
  }
  status = lgt_wait_exit(pid, 30000);
  if (status < 0)
    lgt_stop(pid, SIGKILL, 1000);
  if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    char *text = lgt_slurp(log);
    fail_msg("%s %s failed (status %d): %s", argv[0], argv[1], status, text);
  }
}

/* ---- HTTPS ---- */

typedef struct {
  const char *ca;         /* verifies the server */
  const char *cert, *key; /* client certificate, or NULL */
  const char *path;
  const char *body; /* POSTed as JSON when set */
} call;

/* One request on a new connection (a new handle has no connection to reuse). */
static void send_new(const call *q, lgt_reply *out) {
  CURL *c = curl_easy_init();
  struct curl_slist *hdrs = NULL;
  char url[64];

  assert_non_null(c);
  lgt_collect(c, out);
  snprintf(url, sizeof url, "https://127.0.0.1:%d%s", srv.port, q->path);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CAINFO, q->ca);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (q->cert) {
    curl_easy_setopt(c, CURLOPT_SSLCERT, q->cert);
    curl_easy_setopt(c, CURLOPT_SSLKEY, q->key);
  }
  if (q->body) {
    hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    assert_non_null(hdrs);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
  }
  out->rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(c);
}

/* The status of GET /healthz on a new connection verified with ca; -1 when TLS failed. */
static long healthz_new(const char *ca) {
  call q = {.ca = ca, .path = "/healthz"};
  lgt_reply r;
  send_new(&q, &r);
  free(r.body);
  return r.rc == CURLE_OK ? r.status : -1;
}

/* Waits until a new connection verifies with ca; returns how long that took (ms). */
static long wait_served_by(const char *ca) {
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (healthz_new(ca) != 200) {
    if (lgt_elapsed_ms(&t0) > RELOAD_WAIT_MS) {
      char *err = lgt_slurp(srv.err);
      fail_msg("no new connection verified with %s within %d ms; server log:\n%s", ca,
               RELOAD_WAIT_MS, err);
    }
    lgt_sleep_ms(20);
  }
  return lgt_elapsed_ms(&t0);
}

/* A keep-alive handle to GET /healthz, verified with ca. */
static CURL *keepalive_handle(const char *ca, lgt_reply *r) {
  CURL *c = curl_easy_init();
  char url[64];
  assert_non_null(c);
  lgt_collect(c, r);
  snprintf(url, sizeof url, "https://127.0.0.1:%d/healthz", srv.port);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_CAINFO, ca);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  return c;
}

/* Performs the keep-alive handle's request; asserts 200 and how many connections it opened. */
static void keepalive_get(CURL *c, lgt_reply *r, long want_connects) {
  long connects = -1;
  CURLcode rc;
  free(r->body);
  lgt_collect(c, r);
  rc = curl_easy_perform(c);
  if (rc != CURLE_OK)
    fail_msg("keep-alive request failed: %s", curl_easy_strerror(rc));
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
  curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
  assert_int_equal(r->status, 200);
  assert_int_equal(connects, want_connects);
}

/* ---- the server ---- */

/* Starts `leaseguard serve` on cert and key (client_ca may be NULL) and waits until
 * /healthz answers on a connection verified with ca. */
static void start_server(const char *cert, const char *key, const char *client_ca, const char *ca) {
  char cca[PATH_LEN + 32], name[64];

  env.starts++;
  snprintf(name, sizeof name, "serve-%d.err", env.starts);
  lgt_path(srv.err, env.dir, name);
  srv.port = lgt_free_port();
  snprintf(cca, sizeof cca, "--client-ca-file=%s", client_ca ? client_ca : "");
  const lgt_serve_opts so = {.port = srv.port,
                             .cert = cert,
                             .key = key,
                             .ca = ca,
                             .flags = (const char *[]){"--policy-check-interval=200", "--threads=2",
                                                       client_ca ? cca : NULL, NULL},
                             .out = "/dev/null",
                             .err = srv.err};
  lgt_serve_launch(&so, &srv.pid);
}

/* SIGTERM, then a clean exit 0 within 10 s (else SIGKILL and a failure). */
static int stop_server(void **state) {
  int status;
  pid_t pid = srv.pid;
  (void)state;
  if (pid <= 0)
    return 0;
  srv.pid = -1;
  status = lgt_stop(pid, SIGTERM, 10000);
  if (status < 0)
    fail_msg("serve did not stop within 10 s of SIGTERM");
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  return 0;
}

static void assert_logged(const char *needle) {
  if (!lgt_wait_for_text(srv.err, needle, RELOAD_WAIT_MS)) {
    char *err = lgt_slurp(srv.err);
    fail_msg("server log lacks \"%s\":\n%s", needle, err);
  }
}

/* ---- cases ---- */

/* A Secret-volume style swap to a new CA's pair: new connections get it, the open
 * keep-alive connection keeps working on its old session. */
static void test_rotation_keeps_connections(void **state) {
  char live[PATH_LEN], cert[PATH_LEN], key[PATH_LEN], ca_a[PATH_LEN], ca_b[PATH_LEN];
  lgt_reply r;
  CURL *keep;
  long ms;
  (void)state;

  lgt_path(live, env.dir, "live-rotate");
  assert_int_equal(mkdir(live, 0700), 0);
  kubelet_layout(live, env.a);
  lgt_path(cert, live, "tls.crt");
  lgt_path(key, live, "tls.key");
  lgt_path(ca_a, env.a, "ca.crt");
  lgt_path(ca_b, env.b, "ca.crt");
  start_server(cert, key, NULL, ca_a);
  assert_int_equal(healthz_new(ca_b), -1);

  keep = keepalive_handle(ca_a, &r);
  keepalive_get(keep, &r, 1);

  kubelet_swap(live, env.b, "..v2");
  ms = wait_served_by(ca_b);
  print_message("new certificate served %ld ms after the swap\n", ms);
  assert_int_equal(healthz_new(ca_a), -1);
  assert_logged("serving certificate reloaded");
  assert_logged("\"notAfter\":\"20");

  /* The connection opened before the swap is still the same one and still answers. */
  keepalive_get(keep, &r, 0);
  keepalive_get(keep, &r, 0);
  free(r.body);
  curl_easy_cleanup(keep);

  assert_int_equal(lgt_count_text(srv.err, "expires soon"), 0);
  assert_int_equal(lgt_count_text(srv.err, "\"level\":\"error\""), 0);
}

/* A key that does not match the certificate is refused and the old pair kept; the watch
 * goes on, so a consistent pair later is taken. */
static void test_broken_replacement_keeps_pair(void **state) {
  char live[PATH_LEN], cert[PATH_LEN], key[PATH_LEN], ca_a[PATH_LEN], ca_c[PATH_LEN];
  char from[PATH_LEN];
  (void)state;

  lgt_path(live, env.dir, "live-broken");
  assert_int_equal(mkdir(live, 0700), 0);
  lgt_path(cert, live, "tls.crt");
  lgt_path(key, live, "tls.key");
  lgt_path(from, env.a, "tls.crt");
  copy_file(from, cert);
  lgt_path(from, env.a, "tls.key");
  copy_file(from, key);
  lgt_path(ca_a, env.a, "ca.crt");
  lgt_path(ca_c, env.c, "ca.crt");
  start_server(cert, key, NULL, ca_a);

  lgt_path(from, env.c, "tls.key");
  replace_file(from, key);
  assert_logged("serving certificate reload failed");
  assert_logged("does not match the certificate");
  assert_int_equal(lgt_count_text(srv.err, "serving certificate reloaded"), 0);
  assert_int_equal(healthz_new(ca_a), 200);
  assert_int_equal(healthz_new(ca_c), -1);

  /* Not a PEM certificate at all: refused too. */
  lgt_path(from, env.dir, "garbage.crt");
  lgt_write_file(from, "not a certificate\n");
  replace_file(from, cert);
  assert_true(lgt_wait_for_text(srv.err, "no usable PEM certificate", RELOAD_WAIT_MS));
  assert_int_equal(healthz_new(ca_a), 200);

  /* The matching certificate arrives: now the pair is whole and served. */
  lgt_path(from, env.c, "tls.crt");
  replace_file(from, cert);
  wait_served_by(ca_c);
  assert_logged("serving certificate reloaded");
  assert_int_equal(healthz_new(ca_a), -1);
}

/* A certificate valid for 10 days is warned about at start. */
static void test_expiry_warning(void **state) {
  char cert[PATH_LEN], key[PATH_LEN], ca[PATH_LEN];
  (void)state;
  lgt_path(cert, env.soon, "tls.crt");
  lgt_path(key, env.soon, "tls.key");
  lgt_path(ca, env.soon, "ca.crt");
  start_server(cert, key, NULL, ca);
  assert_logged("serving certificate expires soon");
  /* 10 days less the seconds since the certificate was made: 9, or 10 within the same
   * second (notAfter has whole seconds) */
  char *log = lgt_slurp(srv.err);
  bool days = strstr(log, "\"daysLeft\":\"9\"") || strstr(log, "\"daysLeft\":\"10\"");
  free(log);
  assert_true(days);
  assert_logged("\"level\":\"warning\"");
}

typedef struct {
  const char *name;
  const char *cert, *key; /* file names in the client directory, or NULL */
  const char *path;
  bool post;
  long status;
} mtls_case;

/* Makes, with the openssl CLI, two CAs and client certificates in dir: good (clientAuth,
 * from ca), server-only (serverAuth, from ca), other (clientAuth, from other-ca). */
static void make_client_certs(const char *dir) {
  static const struct {
    const char *ca, *name, *eku;
  } certs[] = {
      {"ca", "good", "clientAuth"},
      {"ca", "server-only", "serverAuth"},
      {"other-ca", "other", "clientAuth"},
  };
  static const char *const cas[] = {"ca", "other-ca"};

  for (size_t i = 0; i < sizeof cas / sizeof cas[0]; i++) {
    char k[PATH_LEN], c[PATH_LEN], subj[64];
    char *argv[] = {"openssl",
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-keyout",
                    k,
                    "-out",
                    c,
                    "-subj",
                    subj,
                    "-days",
                    "2",
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign",
                    NULL};
    snprintf(subj, sizeof subj, "/CN=leaseguard test %s", cas[i]);
    snprintf(k, sizeof k, "%s/%s.key", dir, cas[i]);
    snprintf(c, sizeof c, "%s/%s.crt", dir, cas[i]);
    run_tool(argv);
  }
  for (size_t i = 0; i < sizeof certs / sizeof certs[0]; i++) {
    char k[PATH_LEN], c[PATH_LEN], csr[PATH_LEN], ext[PATH_LEN], ca_key[PATH_LEN];
    char ca_crt[PATH_LEN], text[256];
    char *req[] = {
        "openssl", "req",     "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes",  "-keyout", k,      "-out",    csr,  "-subj",    "/CN=kube-apiserver",
        NULL};
    char *sign[] = {"openssl", "x509",     "-req", "-in",         csr, "-CA",
                    ca_crt,    "-CAkey",   ca_key, "-set_serial", "2", "-days",
                    "1",       "-extfile", ext,    "-out",        c,   NULL};
    snprintf(k, sizeof k, "%s/%s.key", dir, certs[i].name);
    snprintf(c, sizeof c, "%s/%s.crt", dir, certs[i].name);
    snprintf(csr, sizeof csr, "%s/%s.csr", dir, certs[i].name);
    snprintf(ext, sizeof ext, "%s/%s.ext", dir, certs[i].name);
    snprintf(ca_key, sizeof ca_key, "%s/%s.key", dir, certs[i].ca);
    snprintf(ca_crt, sizeof ca_crt, "%s/%s.crt", dir, certs[i].ca);
    snprintf(text, sizeof text,
             "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
             "extendedKeyUsage=%s\n",
             certs[i].eku);
    lgt_write_file(ext, text);
    run_tool(req);
    run_tool(sign);
  }
}

/* With --client-ca-file, every path but the probes needs a client certificate from
 * that CA made for client authentication; the probes need none. */
static void test_client_certificates(void **state) {
  char dir[PATH_LEN], cert[PATH_LEN], key[PATH_LEN], ca[PATH_LEN], client_ca[PATH_LEN];
  char review_path[PATH_LEN];
  char *review;
  const mtls_case cases[] = {
      {"POST /validate without a certificate", NULL, NULL, "/validate", true, 403},
      {"POST /validate, client CA's certificate", "good", "good", "/validate", true, 200},
      {"POST /validate, another CA's certificate", "other", "other", "/validate", true, 403},
      {"POST /validate, serverAuth-only certificate", "server-only", "server-only", "/validate",
       true, 403},
      {"GET /validate without a certificate", NULL, NULL, "/validate", false, 403},
      {"GET /healthz without a certificate", NULL, NULL, "/healthz", false, 200},
      {"GET /readyz without a certificate", NULL, NULL, "/readyz", false, 200},
      {"GET /readyz, client CA's certificate", "good", "good", "/readyz", false, 200},
  };
  (void)state;

  lgt_path(dir, env.dir, "clients");
  assert_int_equal(mkdir(dir, 0700), 0);
  make_client_certs(dir);
  lgt_path(client_ca, dir, "ca.crt");
  lgt_path(cert, env.a, "tls.crt");
  lgt_path(key, env.a, "tls.key");
  lgt_path(ca, env.a, "ca.crt");
  snprintf(review_path, sizeof review_path, "%s/reviews/kcm-create.json", LG_FIXTURES);
  review = lgt_read_file(review_path, NULL);
  assert_non_null(review);
  start_server(cert, key, client_ca, ca);

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const mtls_case *t = &cases[i];
    char c[PATH_LEN], k[PATH_LEN];
    call q = {.ca = ca, .path = t->path, .body = t->post ? review : NULL};
    lgt_reply r;
    json_t *doc;
    if (t->cert) {
      snprintf(c, sizeof c, "%s/%s.crt", dir, t->cert);
      snprintf(k, sizeof k, "%s/%s.key", dir, t->key);
      q.cert = c;
      q.key = k;
    }
    send_new(&q, &r);
    if (r.rc != CURLE_OK || r.status != t->status)
      fail_msg("%s: got curl %d (%s), HTTP %ld, want HTTP %ld: %s", t->name, (int)r.rc,
               curl_easy_strerror(r.rc), r.status, t->status, r.body ? r.body : "");
    doc = json_loadb(r.body ? r.body : "", r.len, 0, NULL);
    if (t->status == 403) {
      const char *msg = json_string_value(json_object_get(doc, "message"));
      if (!json_is_object(doc) || !msg || !strstr(msg, "client certificate required"))
        fail_msg("%s: not a Status about the client certificate: %s", t->name, r.body);
      assert_string_equal(json_string_value(json_object_get(doc, "kind")), "Status");
      assert_int_equal(json_integer_value(json_object_get(doc, "code")), 403);
    } else if (t->post) {
      if (!json_is_object(json_object_get(doc, "response")))
        fail_msg("%s: not an AdmissionReview response: %s", t->name, r.body);
      assert_string_equal(json_string_value(json_object_get(doc, "kind")), "AdmissionReview");
    }
    json_decref(doc);
    free(r.body);
  }
  free(review);
  /* Refused certificates are noise from strangers: counted, and summed up in one line (at the
   * latest when the server stops), never logged one by one. */
  stop_server(NULL);
  assert_int_equal(lgt_count_text(srv.err, "client certificate refused"), 0);
  assert_logged("\"clientCertificates\":\"4\"");
  assert_logged("\"lastKind\":\"client-certificate\"");
}

/* ---- group ---- */

static int setup_group(void **state) {
  static const struct {
    const char *name, *extra;
  } sets[] = {{"set-a", NULL}, {"set-b", NULL}, {"set-c", NULL}, {"set-soon", "--days=10"}};
  char *dirs[] = {env.a, env.b, env.c, env.soon};
  (void)state;
  if (lgt_temp_dir(env.dir, "tls") != 0)
    return -1;
  for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
    snprintf(dirs[i], PATH_LEN, "%s/%s", env.dir, sets[i].name);
    if (lgt_make_certs(dirs[i], sets[i].extra) != 0)
      return -1;
  }
  return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int teardown_group(void **state) {
  (void)state;
  if (srv.pid > 0)
    lgt_stop(srv.pid, SIGKILL, 1000);
  curl_global_cleanup();
  lgt_rm_tree(env.dir);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_rotation_keeps_connections, stop_server),
      cmocka_unit_test_teardown(test_broken_replacement_keeps_pair, stop_server),
      cmocka_unit_test_teardown(test_expiry_warning, stop_server),
      cmocka_unit_test_teardown(test_client_certificates, stop_server),
  };
  return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
