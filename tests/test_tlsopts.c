/* test_tlsopts.c -- --tls-min-version and --tls-cipher-suites: the priority strings and suite
 * lists they make (tlsopts.c), and what `leaseguard serve` then negotiates with OpenSSL
 * clients: CBC/SHA-1 and static RSA refused by default, the ECDHE AEAD suites accepted,
 * insecure or unknown names refused at start. */
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
#include <sys/wait.h>

#include <openssl/ssl.h>

#include "harness.h"
#include "raw.h"
#include "tlsopts.h"

/* ---- the flags to a priority string ---- */

typedef struct {
  const char *name;
  const char *min, *suites;
  const char *err;            /* part of the error, or NULL for success */
  const char *on[4], *off[4]; /* suites that must (not) be in the list */
  const char *warning;        /* part of the warning; "" = none */
} opts_case;

static bool listed(const char *list, const char *suite) {
  size_t n = strlen(suite);
  for (const char *p = list; (p = strstr(p, suite)); p += n)
    if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
      return true;
  return false;
}

static void test_build(void **state) {
  static const opts_case cases[] = {
      {"defaults",
       NULL,
       NULL,
       NULL,
       {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"},
       {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "TLS_AES_128_CCM_SHA256"},
       ""},
      {"TLS 1.3 only",
       "VersionTLS13",
       NULL,
       NULL,
       {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"},
       {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
       ""},
      {"explicit VersionTLS12",
       "VersionTLS12",
       NULL,
       NULL,
       {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"},
       {NULL},
       ""},
      {"one suite",
       NULL,
       "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
       NULL,
       {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"},
       {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"},
       ""},
      {"old ChaCha spelling, spaces",
       NULL,
       " TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305 ,",
       NULL,
       {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_CHACHA20_POLY1305_SHA256"},
       {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"},
       ""},
      {"two suites combine",
       NULL,
       "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
       NULL,
       {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"},
       {"TLS_CHACHA20_POLY1305_SHA256"},
       "these TLS 1.2 suites are on too: TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"},
      {"legacy CBC named",
       NULL,
       "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
       NULL,
       {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
       {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"},
       "CBC suites with SHA-1"},
      {"only CBC: no TLS 1.3",
       NULL,
       "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
       NULL,
       {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"},
       {"TLS_AES_128_GCM_SHA256"},
       "TLS 1.3 clients"},
      {"only TLS 1.3 names",
       NULL,
       "TLS_AES_128_GCM_SHA256",
       NULL,
       {"TLS_AES_128_GCM_SHA256"},
       {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
       "no TLS 1.2 suite named"},
      {"static RSA",
       NULL,
       "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_RSA_WITH_AES_128_GCM_SHA256",
       "TLS_RSA_WITH_AES_128_GCM_SHA256 is insecure: static RSA key exchange",
       {NULL},
       {NULL},
       ""},
      {"3DES", NULL, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", "Sweet32", {NULL}, {NULL}, ""},
      {"RC4", NULL, "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", "RC4", {NULL}, {NULL}, ""},
      {"CBC with SHA-256",
       NULL,
       "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
       "Lucky13",
       {NULL},
       {NULL},
       ""},
      {"unknown",
       NULL,
       "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,ECDHE-RSA-AES128-GCM-SHA256",
       "unknown cipher suite \"ECDHE-RSA-AES128-GCM-SHA256\"",
       {NULL},
       {NULL},
       ""},
      {"empty list", NULL, " , ", "names no cipher suite", {NULL}, {NULL}, ""},
      {"TLS 1.0", "VersionTLS10", NULL, "VersionTLS10 is insecure", {NULL}, {NULL}, ""},
      {"TLS 1.1", "VersionTLS11", NULL, "insecure", {NULL}, {NULL}, ""},
      {"a number", "1.2", NULL, "must be VersionTLS12 or VersionTLS13", {NULL}, {NULL}, ""},
      {"TLS 1.3 with CBC only",
       "VersionTLS13",
       "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
       "needs an AEAD suite",
       {NULL},
       {NULL},
       ""},
  };
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const opts_case *t = &cases[i];
    lg_tlsopts o;
    char err[512] = "";
    lg_rc rc = lg_tlsopts_build(t->min, t->suites, &o, err, sizeof err);
    if (t->err) {
      if (rc == LG_OK || !strstr(err, t->err))
        fail_msg("%s: want an error with \"%s\", got rc %d: %s", t->name, t->err, rc, err);
      if (o.priority[0] || o.suites[0])
        fail_msg("%s: half-built output after an error", t->name);
      continue;
    }
    if (rc != LG_OK)
      fail_msg("%s: %s", t->name, err);
    for (size_t k = 0; k < 4 && t->on[k]; k++)
      if (!listed(o.suites, t->on[k]))
        fail_msg("%s: %s is not on: %s", t->name, t->on[k], o.suites);
    for (size_t k = 0; k < 4 && t->off[k]; k++)
      if (listed(o.suites, t->off[k]))
        fail_msg("%s: %s is on: %s", t->name, t->off[k], o.suites);
    if (!t->warning[0] ? o.warning[0] != '\0' : !strstr(o.warning, t->warning))
      fail_msg("%s: warning \"%s\", want \"%s\"", t->name, o.warning, t->warning);
  }
}

/* ---- serve against OpenSSL clients ---- */

static struct {
  lgt_tls ecdsa; /* from `leaseguard certs` (P-256) */
  char rsa_cert[LGT_PATH_LEN], rsa_key[LGT_PATH_LEN];
  lgt_serve srv;
} env;

typedef struct {
  const char *name;
  int version;          /* TLS1_2_VERSION or TLS1_3_VERSION: the client's only version */
  const char *ciphers;  /* OpenSSL's TLS 1.2 cipher list, or NULL */
  const char *suites13; /* OpenSSL's TLS 1.3 ciphersuites, or NULL */
  bool ok;
} client_case;

/* Handshakes with the running server as t says; checks the outcome and, when it succeeds,
 * that the suite is one the client offered. */
static void run_client(const client_case *t, const char *ca) {
  SSL_CTX *ctx = lgt_raw_ctx(ca);
  lgt_raw c;
  lgt_open o;

  SSL_CTX_set_min_proto_version(ctx, t->version);
  SSL_CTX_set_max_proto_version(ctx, t->version);
  if (t->ciphers)
    assert_int_equal(SSL_CTX_set_cipher_list(ctx, t->ciphers), 1);
  if (t->suites13)
    assert_int_equal(SSL_CTX_set_ciphersuites(ctx, t->suites13), 1);
  o = lgt_raw_open(&c, "127.0.0.1", env.srv.port, ctx, lgt_slow(5000));
  if (t->ok && o != LGT_OPEN_OK)
    fail_msg("%s: the handshake failed (%d)", t->name, (int)o);
  if (!t->ok && o == LGT_OPEN_OK)
    fail_msg("%s: negotiated %s, want a failed handshake", t->name, SSL_get_cipher_name(c.ssl));
  if (t->ok && t->ciphers && strcmp(SSL_get_cipher_name(c.ssl), t->ciphers) != 0)
    fail_msg("%s: negotiated %s", t->name, SSL_get_cipher_name(c.ssl));
  lgt_raw_close(&c);
  SSL_CTX_free(ctx);
}

static void run_clients(const client_case *cases, size_t n, const char *ca) {
  for (size_t i = 0; i < n; i++)
    run_client(&cases[i], ca);
}

static int stop_server(void **state) {
  (void)state;
  lgt_serve_stop(&env.srv, 10000);
  return 0;
}

/* Defaults, RSA certificate: ECDHE with AES-GCM or ChaCha20 on TLS 1.2, TLS 1.3; no CBC, no
 * SHA-1 MAC, no static RSA, no DHE. */
static void test_default_suites_rsa(void **state) {
  static const client_case cases[] = {
      {"ECDHE-RSA-AES128-GCM-SHA256", TLS1_2_VERSION, "ECDHE-RSA-AES128-GCM-SHA256", NULL, true},
      {"ECDHE-RSA-AES256-GCM-SHA384", TLS1_2_VERSION, "ECDHE-RSA-AES256-GCM-SHA384", NULL, true},
      {"ECDHE-RSA-CHACHA20-POLY1305", TLS1_2_VERSION, "ECDHE-RSA-CHACHA20-POLY1305", NULL, true},
      {"CBC with SHA-1 (ECDHE-RSA-AES128-SHA)", TLS1_2_VERSION, "ECDHE-RSA-AES128-SHA", NULL,
       false},
      {"CBC with SHA-1 (ECDHE-RSA-AES256-SHA)", TLS1_2_VERSION, "ECDHE-RSA-AES256-SHA", NULL,
       false},
      {"CBC with SHA-384", TLS1_2_VERSION, "ECDHE-RSA-AES256-SHA384", NULL, false},
      {"static RSA, GCM", TLS1_2_VERSION, "AES128-GCM-SHA256", NULL, false},
      {"static RSA, CBC", TLS1_2_VERSION, "AES256-SHA", NULL, false},
      {"DHE", TLS1_2_VERSION, "DHE-RSA-AES128-GCM-SHA256", NULL, false},
      {"TLS 1.3", TLS1_3_VERSION, NULL, NULL, true},
      {"TLS 1.3 ChaCha20", TLS1_3_VERSION, NULL, "TLS_CHACHA20_POLY1305_SHA256", true},
  };
  (void)state;
  lgt_serve_start(&env.srv, env.ecdsa.dir, env.rsa_cert, env.rsa_key, env.rsa_cert, NULL);
  run_clients(cases, sizeof cases / sizeof cases[0], env.rsa_cert);
  assert_true(lgt_wait_for_text(env.srv.err, "\"minVersion\":\"VersionTLS12\"", 1000));
}

/* Defaults, ECDSA certificate (what `leaseguard certs` makes). */
static void test_default_suites_ecdsa(void **state) {
  static const client_case cases[] = {
      {"ECDHE-ECDSA-AES128-GCM-SHA256", TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256", NULL,
       true},
      {"ECDHE-ECDSA-CHACHA20-POLY1305", TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305", NULL,
       true},
      {"CBC with SHA-1 (ECDHE-ECDSA-AES128-SHA)", TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA", NULL,
       false},
      {"CBC with SHA-256", TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA256", NULL, false},
      {"AES-CCM", TLS1_2_VERSION, "ECDHE-ECDSA-AES128-CCM", NULL, false},
  };
  (void)state;
  lgt_serve_start(&env.srv, env.ecdsa.dir, env.ecdsa.cert, env.ecdsa.key, env.ecdsa.ca, NULL);
  run_clients(cases, sizeof cases / sizeof cases[0], env.ecdsa.ca);
}

static void test_min_version_13(void **state) {
  static const client_case cases[] = {
      {"TLS 1.2 client", TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256", NULL, false},
      {"TLS 1.3 client", TLS1_3_VERSION, NULL, NULL, true},
  };
  const char *flags[] = {"--tls-min-version=VersionTLS13", NULL};
  (void)state;
  lgt_serve_start(&env.srv, env.ecdsa.dir, env.ecdsa.cert, env.ecdsa.key, env.ecdsa.ca, flags);
  run_clients(cases, sizeof cases / sizeof cases[0], env.ecdsa.ca);
  assert_true(lgt_wait_for_text(env.srv.err, "\"minVersion\":\"VersionTLS13\"", 1000));
}

/* One named suite: only it on TLS 1.2, and only its cipher on TLS 1.3. */
static void test_named_suite(void **state) {
  static const client_case cases[] = {
      {"the named suite", TLS1_2_VERSION, "ECDHE-RSA-AES256-GCM-SHA384", NULL, true},
      {"another AEAD suite", TLS1_2_VERSION, "ECDHE-RSA-AES128-GCM-SHA256", NULL, false},
      {"ChaCha20", TLS1_2_VERSION, "ECDHE-RSA-CHACHA20-POLY1305", NULL, false},
      {"TLS 1.3 with its cipher", TLS1_3_VERSION, NULL, "TLS_AES_256_GCM_SHA384", true},
      {"TLS 1.3 with another", TLS1_3_VERSION, NULL, "TLS_AES_128_GCM_SHA256", false},
  };
  const char *flags[] = {"--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", NULL};
  (void)state;
  lgt_serve_start(&env.srv, env.ecdsa.dir, env.rsa_cert, env.rsa_key, env.rsa_cert, flags);
  run_clients(cases, sizeof cases / sizeof cases[0], env.rsa_cert);
  assert_true(lgt_wait_for_text(
      env.srv.err,
      "\"cipherSuites\":\"TLS_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\"", 1000));
}

/* Bad values stop serve before it listens: exit 2 and a message naming the flag. */
static void test_refused_at_start(void **state) {
  static const struct {
    const char *flag, *msg;
  } cases[] = {
      {"--tls-cipher-suites=TLS_RSA_WITH_AES_128_CBC_SHA",
       "TLS_RSA_WITH_AES_128_CBC_SHA is insecure"},
      {"--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "is insecure"},
      {"--tls-cipher-suites=AES128-GCM-SHA256", "unknown cipher suite \"AES128-GCM-SHA256\""},
      {"--tls-min-version=VersionTLS11", "--tls-min-version: VersionTLS11 is insecure"},
      {"--tls-min-version=TLS13", "--tls-min-version must be VersionTLS12 or VersionTLS13"},
  };
  char log[LGT_PATH_LEN], cert[LGT_PATH_LEN + 32], key[LGT_PATH_LEN + 32];
  (void)state;
  lgt_path(log, env.ecdsa.dir, "refused.err");
  snprintf(cert, sizeof cert, "--tls-cert-file=%s", env.ecdsa.cert);
  snprintf(key, sizeof key, "--tls-private-key-file=%s", env.ecdsa.key);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *argv[] = {LEASEGUARD_BIN,        "serve", "--secure-port=1", cert, key,
                    (char *)cases[i].flag, NULL};
    pid_t pid = lgt_spawn(argv, "/dev/null", log);
    int status = lgt_wait_exit(pid, lgt_slow(10000));
    char *text = lgt_slurp(log);
    if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 2 || !strstr(text, cases[i].msg))
      fail_msg("%s: status %d, want exit 2 with \"%s\": %s", cases[i].flag, status, cases[i].msg,
               text);
    free(text);
  }
}

static int setup_group(void **state) {
  char log[LGT_PATH_LEN];
  (void)state;
  signal(SIGPIPE, SIG_IGN);
  env.srv.pid = -1;
  if (lgt_tls_setup(&env.ecdsa, "tlsopts") != 0)
    return -1;
  lgt_path(env.rsa_cert, env.ecdsa.dir, "rsa.crt");
  lgt_path(env.rsa_key, env.ecdsa.dir, "rsa.key");
  lgt_path(log, env.ecdsa.dir, "openssl.log");
  char *argv[] = {"openssl",  "req",        "-x509",   "-newkey",
                  "rsa:2048", "-nodes",     "-keyout", env.rsa_key,
                  "-out",     env.rsa_cert, "-subj",   "/CN=localhost",
                  "-days",    "2",          "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                  NULL};
  lgt_run_tool(argv, log);
  return 0;
}

static int teardown_group(void **state) {
  (void)state;
  if (env.srv.pid > 0)
    lgt_stop(env.srv.pid, SIGKILL, 1000);
  lgt_tls_teardown(&env.ecdsa);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_build),
      cmocka_unit_test_teardown(test_default_suites_rsa, stop_server),
      cmocka_unit_test_teardown(test_default_suites_ecdsa, stop_server),
      cmocka_unit_test_teardown(test_min_version_13, stop_server),
      cmocka_unit_test_teardown(test_named_suite, stop_server),
      cmocka_unit_test(test_refused_at_start),
  };
  return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
