/* test_kubeconfig.c -- kubeconfig.c and kcfile.c: which API access a command gets (flags,
 * --kubeconfig, $KUBECONFIG merged as kubectl merges it, in-cluster, ~/.kube/config), what
 * a kubeconfig file gives, and exec plugins set up from a kubeconfig. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"
#include "kubeconfig.h"

#define PATH_LEN LGT_PATH_LEN

static char dir[LGT_PATH_LEN]; /* this run's temporary directory */

/* Writes dir/rel (creating its directories), replacing "@DIR@" in text by dir. */
static void put_file(const char *rel, const char *text) {
  char path[PATH_LEN];
  FILE *f;
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  for (char *slash = path + strlen(dir) + 1; (slash = strchr(slash, '/')) != NULL; slash++) {
    *slash = '\0';
    mkdir(path, 0700);
    *slash = '/';
  }
  f = fopen(path, "w");
  assert_non_null(f);
  for (const char *p = text; *p;) {
    if (!strncmp(p, "@DIR@", 5)) {
      fputs(dir, f);
      p += 5;
    } else {
      fputc(*p++, f);
    }
  }
  assert_int_equal(fclose(f), 0);
}

/* A script dir/rel, executable. */
static void put_script(const char *rel, const char *text) {
  char path[PATH_LEN];
  put_file(rel, text);
  lgt_path(path, dir, rel);
  assert_int_equal(chmod(path, 0700), 0);
}

/* "@DIR@" in s replaced by dir, into one of a few rotating buffers; NULL stays NULL. */
static const char *xp(const char *s) {
  static char bufs[8][2 * PATH_LEN];
  static int next;
  char *out = bufs[next++ % 8];
  size_t n = 0;
  if (!s)
    return NULL;
  for (const char *p = s; *p && n + PATH_LEN < sizeof bufs[0];) {
    if (!strncmp(p, "@DIR@", 5)) {
      n += (size_t)snprintf(out + n, sizeof bufs[0] - n, "%s", dir);
      p += 5;
    } else {
      out[n++] = *p++;
    }
  }
  out[n] = '\0';
  return out;
}

/* ---- checks with the case name in the message ---- */

static void check_str(const char *name, const char *field, const char *want, const char *got) {
  if ((want == NULL) != (got == NULL) || (want && strcmp(want, got) != 0))
    fail_msg("%s: %s is \"%s\", want \"%s\"", name, field, got ? got : "(null)",
             want ? want : "(null)");
}

static void check_contains(const char *name, const char *what, const char *text,
                           const char *needle) {
  if (!text || !strstr(text, needle))
    fail_msg("%s: %s \"%s\" does not contain \"%s\"", name, what, text ? text : "(null)", needle);
}

/* want is a file name under dir (or NULL): the config must hold its absolute path. */
static void check_path(const char *name, const char *field, const char *want, const char *got) {
  char full[PATH_LEN];
  if (want && want[0] != '/')
    snprintf(full, sizeof full, "%s/%s", dir, want);
  check_str(name, field, want && want[0] != '/' ? full : want, got);
}

/* ---- kubeconfig ---- */

#define CA_PEM   "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n"
#define CA_B64   "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tClEwRT0KLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="
#define CERT_PEM "-----BEGIN CERTIFICATE-----\nQ0VSVA==\n-----END CERTIFICATE-----\n"
#define CERT_B64 \
  "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tClEwVlNWQT09Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K"
#define KEY_PEM "-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n"
#define KEY_B64 "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tClMwVloKLS0tLS1FTkQgUFJJVkFURSBLRVktLS0tLQo="

/* A kubeconfig with one context "c" -> cluster "k", user "u", and the given bodies. */
#define KC(cluster, user)                                    \
  "apiVersion: v1\nkind: Config\ncurrent-context: c\n"       \
  "contexts:\n- name: c\n  context: {cluster: k, user: u}\n" \
  "clusters:\n- name: k\n  cluster:\n" cluster "users:\n- name: u\n  user:\n" user
#define SERVER "    server: https://api.example:6443\n"

typedef struct {
  const char *name, *yaml;
  lg_rc rc;
  const char *err; /* a part of the message on failure */
  const char *server, *token;
  /* file names are relative to the test directory; the kubeconfig is kc/config */
  const char *token_file, *ca_file, *cert_file, *key_file;
  const char *ca_pem, *cert_pem, *key_pem;
  const char *tls_server_name, *proxy_url, *namespace;
  bool insecure, exec;
} kc_case;

#define OK(url)           .rc = LG_OK, .server = url
#define FAILS(code, text) .rc = code, .err = text

static const kc_case kc_cases[] = {
    {"token user, relative CA file, trailing slash dropped",
     KC("    server: https://api.example:6443/\n    certificate-authority: pki/ca.crt\n",
        "    token: abc.def\n"),
     OK("https://api.example:6443"), .token = "abc.def", .ca_file = "kc/pki/ca.crt"},
    {"tokenFile relative, CA data",
     KC(SERVER "    certificate-authority-data: " CA_B64 "\n", "    tokenFile: token\n"),
     OK("https://api.example:6443"), .token_file = "kc/token", .ca_pem = CA_PEM},
    {"CA data wins over CA file",
     KC(SERVER "    certificate-authority: pki/ca.crt\n    certificate-authority-data: " CA_B64
               "\n",
        "    token: t\n"),
     OK("https://api.example:6443"), .token = "t", .ca_pem = CA_PEM},
    {"client certificate data",
     KC(SERVER, "    client-certificate-data: " CERT_B64 "\n    client-key-data: " KEY_B64 "\n"),
     OK("https://api.example:6443"), .cert_pem = CERT_PEM, .key_pem = KEY_PEM},
    {"client certificate files, relative and absolute",
     KC(SERVER, "    client-certificate: pki/client.crt\n"
                "    client-key: @DIR@/kc/pki/client.key\n"),
     OK("https://api.example:6443"), .cert_file = "kc/pki/client.crt",
     .key_file = "kc/pki/client.key"},
    {"current-context picks among several",
     "current-context: second\n"
     "contexts:\n- name: first\n  context: {cluster: a, user: ua}\n"
     "- name: second\n  context: {cluster: b, user: ub}\n"
     "clusters:\n- name: a\n  cluster: {server: 'https://a.example'}\n"
     "- name: b\n  cluster: {server: 'https://b.example'}\n"
     "users:\n- name: ua\n  user: {token: ta}\n- name: ub\n  user: {token: tb}\n",
     OK("https://b.example"), .token = "tb"},
    {"context without a user is anonymous",
     "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k}\n"
     "clusters:\n- name: k\n  cluster: {server: 'https://k.example'}\n",
     OK("https://k.example")},
    {"null token is unset", KC(SERVER, "    token: ~\n    tokenFile: token\n"),
     OK("https://api.example:6443"), .token_file = "kc/token"},
    {"insecure-skip-tls-verify false is fine",
     KC(SERVER "    insecure-skip-tls-verify: false\n", "    token: t\n"),
     OK("https://api.example:6443"), .token = "t"},
    {"missing current-context",
     "contexts:\n- name: c\n  context: {cluster: k}\n"
     "clusters:\n- name: k\n  cluster: {server: 'https://k.example'}\n",
     FAILS(LG_EINVAL, "current-context is not set")},
    {"unknown context",
     "current-context: nope\ncontexts:\n- name: c\n  context: {cluster: k}\n"
     "clusters:\n- name: k\n  cluster: {server: 'https://k.example'}\n",
     FAILS(LG_EINVAL, "context \"nope\" not found")},
    {"unknown cluster",
     "current-context: c\ncontexts:\n- name: c\n  context: {cluster: gone}\n"
     "clusters:\n- name: k\n  cluster: {server: 'https://k.example'}\n",
     FAILS(LG_EINVAL, "cluster \"gone\" not found")},
    {"unknown user",
     "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: who}\n"
     "clusters:\n- name: k\n  cluster: {server: 'https://k.example'}\n",
     FAILS(LG_EINVAL, "user \"who\" not found")},
    {"cluster without server", KC("    certificate-authority: pki/ca.crt\n", "    token: t\n"),
     FAILS(LG_EINVAL, "cluster \"k\": server is missing")},
    {"plain http server", KC("    server: http://api.example\n", "    token: t\n"),
     FAILS(LG_EINVAL, "must be an https:// URL")},
    {"insecure-skip-tls-verify allowed, as kubectl does",
     KC(SERVER "    insecure-skip-tls-verify: true\n", "    token: t\n"),
     OK("https://api.example:6443"), .token = "t", .insecure = true},
    {"insecure-skip-tls-verify with a CA refused, as client-go does",
     KC(SERVER "    insecure-skip-tls-verify: true\n    certificate-authority: pki/ca.crt\n",
        "    token: t\n"),
     FAILS(LG_EINVAL, "insecure-skip-tls-verify and a certificate-authority are both set")},
    {"insecure-skip-tls-verify not a boolean",
     KC(SERVER "    insecure-skip-tls-verify: maybe\n", "    token: t\n"),
     FAILS(LG_EINVAL, "insecure-skip-tls-verify must be true or false")},
    {"tls-server-name and proxy-url",
     KC(SERVER "    tls-server-name: api.internal\n    proxy-url: socks5://127.0.0.1:1080\n",
        "    token: t\n"),
     OK("https://api.example:6443"), .token = "t", .tls_server_name = "api.internal",
     .proxy_url = "socks5h://127.0.0.1:1080"},
    {"http proxy-url", KC(SERVER "    proxy-url: http://proxy:3128\n", ""),
     OK("https://api.example:6443"), .proxy_url = "http://proxy:3128"},
    {"proxy-url of another scheme", KC(SERVER "    proxy-url: ftp://proxy\n", ""),
     FAILS(LG_EINVAL, "proxy-url \"ftp://proxy\" must be an http://, https:// or socks5:// URL")},
    {"namespace of the context",
     "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, namespace: team-a}\n"
     "clusters:\n- name: k\n  cluster: {server: 'https://k.example'}\n",
     OK("https://k.example"), .namespace = "team-a"},
    {"exec plugin (v1, Never)",
     KC(SERVER, "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
                "      command: aws\n      args: [eks, get-token, --cluster-name, x]\n"
                "      env: [{name: AWS_PROFILE, value: prod}]\n"
                "      interactiveMode: Never\n      provideClusterInfo: true\n"),
     OK("https://api.example:6443"), .exec = true},
    {"exec plugin (v1beta1, interactiveMode defaults to IfAvailable)",
     KC(SERVER, "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n"
                "      command: kubelogin\n"),
     OK("https://api.example:6443"), .exec = true},
    {"a token wins over the exec plugin, as in client-go",
     KC(SERVER, "    token: t\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
                "      command: aws\n      interactiveMode: Never\n"),
     OK("https://api.example:6443"), .token = "t"},
    {"exec interactiveMode Always refused",
     KC(SERVER, "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
                "      command: kubelogin\n      interactiveMode: Always\n"),
     FAILS(LG_EINVAL, "interactiveMode is Always, but leaseguard never has a terminal")},
    {"exec v1 without interactiveMode",
     KC(SERVER, "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
                "      command: aws\n"),
     FAILS(LG_EINVAL, "interactiveMode must be set")},
    {"exec interactiveMode unknown",
     KC(SERVER, "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"
                "      command: aws\n      interactiveMode: Sometimes\n"),
     FAILS(LG_EINVAL, "interactiveMode \"Sometimes\" is not Never, IfAvailable or Always")},
    {"exec v1alpha1 refused",
     KC(SERVER, "    exec:\n      apiVersion: client.authentication.k8s.io/v1alpha1\n"
                "      command: aws\n"),
     FAILS(LG_EINVAL, "apiVersion \"client.authentication.k8s.io/v1alpha1\" is not supported")},
    {"exec without command",
     KC(SERVER, "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n"),
     FAILS(LG_EINVAL, "user \"u\": exec.command must be set")},
    {"exec without apiVersion", KC(SERVER, "    exec:\n      command: aws\n"),
     FAILS(LG_EINVAL, "exec.apiVersion must be set")},
    {"exec args not a list",
     KC(SERVER, "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n"
                "      command: aws\n      args: get-token\n"),
     FAILS(LG_EINVAL, "exec.args must be a list")},
    {"exec env entry without a name",
     KC(SERVER, "    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n"
                "      command: aws\n      env: [{value: x}]\n"),
     FAILS(LG_EINVAL, "exec.env entries need a name")},
    {"exec not a mapping", KC(SERVER, "    exec: aws\n"),
     FAILS(LG_EINVAL, "exec must be a mapping")},
    {"auth-provider gcp refused, naming the plugin to use",
     KC(SERVER, "    auth-provider: {name: gcp}\n"),
     FAILS(LG_EINVAL, "auth-provider \"gcp\" is not supported (client-go removed the in-tree "
                      "providers): use an exec credential plugin, e.g. gke-gcloud-auth-plugin")},
    {"auth-provider azure refused", KC(SERVER, "    auth-provider: {name: azure}\n"),
     FAILS(LG_EINVAL, "kubelogin")},
    {"basic auth refused", KC(SERVER, "    username: admin\n    password: secret\n"),
     FAILS(LG_EINVAL, "username is not supported")},
    {"missing CA file", KC(SERVER "    certificate-authority: pki/nope.crt\n", "    token: t\n"),
     FAILS(LG_EIO, "certificate-authority")},
    {"missing tokenFile", KC(SERVER, "    tokenFile: nope\n"), FAILS(LG_EIO, "tokenFile")},
    {"CA data not base64", KC(SERVER "    certificate-authority-data: '!!notbase64'\n", ""),
     FAILS(LG_EINVAL, "certificate-authority-data is not base64 of PEM data")},
    {"CA data not PEM", KC(SERVER "    certificate-authority-data: aGVsbG8=\n", ""),
     FAILS(LG_EINVAL, "certificate-authority-data is not base64 of PEM data")},
    {"client certificate without key", KC(SERVER, "    client-certificate-data: " CERT_B64 "\n"),
     FAILS(LG_EINVAL, "client-certificate without client-key")},
    {"token is not a string", KC(SERVER, "    token: [a, b]\n"),
     FAILS(LG_EINVAL, "token must be a string")},
    {"malformed YAML", "current-context: c\ncontexts: [\n  - {name: c\n", FAILS(LG_EINVAL, "line")},
    {"empty file (an empty kubeconfig, as for kubectl)", "",
     FAILS(LG_EINVAL, "current-context is not set")},
    {"not a mapping", "- a\n- b\n", FAILS(LG_EINVAL, "not a kubeconfig")},
};

static void test_kubeconfig_table(void **state) {
  char path[PATH_LEN];
  (void)state;
  snprintf(path, sizeof path, "%s/kc/config", dir);
  put_file("kc/pki/ca.crt", "ca\n");
  put_file("kc/pki/client.crt", "cert\n");
  put_file("kc/pki/client.key", "key\n");
  put_file("kc/token", "file-token\n");
  for (size_t i = 0; i < sizeof kc_cases / sizeof *kc_cases; i++) {
    const kc_case *t = &kc_cases[i];
    lg_kube_config c;
    char err[512] = "";
    lg_rc rc;
    memset(&c, 0xa5, sizeof c); /* must be overwritten, also on failure */
    put_file("kc/config", t->yaml);
    rc = lg_kube_config_kubeconfig(path, &c, err, sizeof err);
    if (rc != t->rc)
      fail_msg("%s: rc %d (%s), want %d", t->name, rc, err, t->rc);
    if (rc) {
      check_contains(t->name, "error", err, t->err);
      check_contains(t->name, "error", err, path); /* names the kubeconfig */
    }
    check_str(t->name, "server", t->server, c.server);
    check_str(t->name, "token", t->token, c.token);
    check_path(t->name, "token_file", t->token_file, c.token_file);
    check_path(t->name, "ca_file", t->ca_file, c.ca_file);
    check_path(t->name, "cert_file", t->cert_file, c.cert_file);
    check_path(t->name, "key_file", t->key_file, c.key_file);
    check_str(t->name, "ca_pem", t->ca_pem, c.ca_pem);
    check_str(t->name, "cert_pem", t->cert_pem, c.cert_pem);
    check_str(t->name, "key_pem", t->key_pem, c.key_pem);
    check_str(t->name, "tls_server_name", t->tls_server_name, c.tls_server_name);
    check_str(t->name, "proxy_url", t->proxy_url, c.proxy_url);
    check_str(t->name, "namespace", t->namespace, c.namespace);
    if (c.insecure != t->insecure || (c.exec != NULL) != t->exec)
      fail_msg("%s: insecure %d exec %d, want %d %d", t->name, c.insecure, c.exec != NULL,
               t->insecure, t->exec);
    lg_kube_config_free(&c);
  }
}

static void test_kubeconfig_missing_file(void **state) {
  lg_kube_config c;
  char err[512] = "", path[PATH_LEN];
  (void)state;
  snprintf(path, sizeof path, "%s/no-such-kubeconfig", dir);
  assert_int_equal(lg_kube_config_kubeconfig(path, &c, err, sizeof err), LG_EIO);
  check_contains("missing kubeconfig", "error", err, path);
  assert_null(c.server);
}

/* ---- in-cluster and explicit ---- */

typedef struct {
  const char *name, *host, *port;
  const char *sa; /* service-account directory under dir */
  lg_rc rc;
  const char *want; /* server, or a part of the error */
} cluster_case;

static const cluster_case cluster_cases[] = {
    {"IPv4", "10.96.0.1", "443", "sa", LG_OK, "https://10.96.0.1:443"},
    {"IPv6 in brackets", "fd00:10:96::1", "443", "sa", LG_OK, "https://[fd00:10:96::1]:443"},
    {"host name", "kubernetes.default.svc", "6443", "sa", LG_OK,
     "https://kubernetes.default.svc:6443"},
    {"no host", NULL, "443", "sa", LG_EINVAL,
     "not running in a cluster: KUBERNETES_SERVICE_HOST is not set"},
    {"no port", "10.96.0.1", NULL, "sa", LG_EINVAL, "KUBERNETES_SERVICE_PORT is not set"},
    {"bad port", "10.96.0.1", "https", "sa", LG_EINVAL, "is not a port"},
    {"no token file", "10.96.0.1", "443", "sa-no-token", LG_EIO, "sa-no-token/token"},
    {"no CA file", "10.96.0.1", "443", "sa-no-ca", LG_EIO, "sa-no-ca/ca.crt"},
};

static void test_in_cluster_table(void **state) {
  (void)state;
  put_file("sa/token", "sa-token\n");
  put_file("sa/ca.crt", "ca\n");
  put_file("sa/namespace", "pod-ns\n");
  put_file("sa-no-token/ca.crt", "ca\n");
  put_file("sa-no-ca/token", "t\n");
  for (size_t i = 0; i < sizeof cluster_cases / sizeof *cluster_cases; i++) {
    const cluster_case *t = &cluster_cases[i];
    char sa[PATH_LEN / 2 + 32], err[512] = "", want[PATH_LEN];
    lg_kube_config c;
    lg_rc rc;
    snprintf(sa, sizeof sa, "%s/%s", dir, t->sa);
    lg_kube_env env = {.service_host = t->host, .service_port = t->port, .sa_dir = sa};
    rc = lg_kube_config_in_cluster(&env, &c, err, sizeof err);
    if (rc != t->rc)
      fail_msg("%s: rc %d (%s), want %d", t->name, rc, err, t->rc);
    if (rc) {
      check_contains(t->name, "error", err, t->want);
      check_str(t->name, "server", NULL, c.server);
      continue;
    }
    check_str(t->name, "server", t->want, c.server);
    snprintf(want, sizeof want, "%s/token", sa);
    check_str(t->name, "token_file", want, c.token_file);
    snprintf(want, sizeof want, "%s/ca.crt", sa);
    check_str(t->name, "ca_file", want, c.ca_file);
    check_str(t->name, "token", NULL, c.token);
    check_str(t->name, "namespace", t->sa[2] ? NULL : "pod-ns", c.namespace);
    assert_true(c.in_cluster);
    lg_kube_config_free(&c);
  }
}

static void test_explicit(void **state) {
  char tok[PATH_LEN], ca[PATH_LEN], err[512] = "";
  lg_kube_config c;
  (void)state;
  put_file("explicit/token", "t\n");
  snprintf(tok, sizeof tok, "%s/explicit/token", dir);
  snprintf(ca, sizeof ca, "%s/kc/pki/ca.crt", dir);

  assert_int_equal(
      lg_kube_config_explicit("https://api.example:6443//", tok, ca, &c, err, sizeof err), LG_OK);
  check_str("explicit", "server", "https://api.example:6443", c.server);
  check_str("explicit", "token_file", tok, c.token_file);
  check_str("explicit", "ca_file", ca, c.ca_file);
  lg_kube_config_free(&c);
  assert_null(c.server);
  lg_kube_config_free(&c); /* a zeroed config is a no-op */

  assert_int_equal(lg_kube_config_explicit("https://api.example", NULL, NULL, &c, err, sizeof err),
                   LG_OK);
  assert_null(c.token_file);
  lg_kube_config_free(&c);

  assert_int_equal(lg_kube_config_explicit("http://api.example", tok, ca, &c, err, sizeof err),
                   LG_EINVAL);
  check_contains("explicit http", "error", err, "https://");
  assert_null(c.server);
  assert_int_equal(lg_kube_config_explicit(NULL, tok, ca, &c, err, sizeof err), LG_EINVAL);
  assert_int_equal(lg_kube_config_explicit("https://", tok, ca, &c, err, sizeof err), LG_EINVAL);
  assert_int_equal(
      lg_kube_config_explicit("https://api.example", "/no/such/token", ca, &c, err, sizeof err),
      LG_EIO);
  check_contains("explicit missing token", "error", err, "/no/such/token");
}

/* ---- which access: flags, --kubeconfig, $KUBECONFIG, in-cluster, ~/.kube/config ---- */

/* Three files to merge: b lives in a directory of its own (its relative paths resolve
 * there), c sets no current-context and uses b's cluster. */
static const struct {
  const char *rel, *text;
} merge_files[] = {
    {"m/a.yaml", "current-context: ctx-a\n"
                 "contexts:\n- name: ctx-a\n  context: {cluster: ca, user: ua, namespace: ns-a}\n"
                 "- name: ctx-shared\n  context: {cluster: shared, user: ushared}\n"
                 "clusters:\n- name: ca\n"
                 "  cluster: {server: 'https://a.example', certificate-authority: ca-a.crt}\n"
                 "- name: shared\n  cluster: {server: 'https://shared-from-a.example'}\n"
                 "users:\n- name: ua\n  user: {token: ta}\n"
                 "- name: ushared\n  user: {token: shared-a}\n"},
    {"m/ca-a.crt", "ca\n"},
    {"m/b/b.yaml", "current-context: ctx-b\n"
                   "contexts:\n- name: ctx-b\n  context: {cluster: cb, user: ub}\n"
                   "- name: ctx-shared\n  context: {cluster: shared, user: ushared}\n"
                   "- name: ctx-a\n  context: {cluster: cb, user: ub}\n"
                   "clusters:\n- name: cb\n"
                   "  cluster: {server: 'https://b.example', certificate-authority: ca-b.crt}\n"
                   "- name: shared\n  cluster: {server: 'https://shared-from-b.example'}\n"
                   "- name: ca\n  cluster: {server: 'https://a-from-b.example'}\n"
                   "users:\n- name: ub\n  user: {tokenFile: token-b}\n"
                   "- name: ushared\n  user: {token: shared-b}\n"
                   "- name: ua\n  user: {token: ua-from-b}\n"},
    {"m/b/ca-b.crt", "ca\n"},
    {"m/b/token-b", "tb\n"},
    {"m/c.yaml", "contexts:\n- name: ctx-c\n  context: {cluster: cb, user: uc}\n"
                 "users:\n- name: uc\n  user: {token: tc}\n"},
    {"m/bad.yaml", "contexts: [\n"},
    {"home/.kube/config", "current-context: h\ncontexts:\n- name: h\n  context: {cluster: hk, "
                          "user: hu}\nclusters:\n- name: hk\n  cluster: {server: "
                          "'https://home.example'}\nusers:\n- name: hu\n  user: {token: th}\n"},
    {"rsa/token", "sa\n"},
    {"rsa/ca.crt", "ca\n"},
    {"rsa/namespace", "pod-ns\n"},
    {"rsa-broken/ca.crt", "ca\n"},
    {"flags/token", "tf\n"},
    {"flags/ca.crt", "ca\n"},
};

#define A      "@DIR@/m/a.yaml"
#define B      "@DIR@/m/b/b.yaml"
#define C      "@DIR@/m/c.yaml"
#define HOME   "@DIR@/home"
#define FTOKEN "@DIR@/flags/token"
#define FCA    "@DIR@/flags/ca.crt"

typedef struct {
  const char *name;
  lg_kube_flags flags;                /* "@DIR@" expanded */
  const char *kubeconfig, *home, *sa; /* the environment; sa: in-cluster with that SA dir */
  lg_rc rc;
  const char *err; /* a part of the message on failure */
  const char *server, *token, *token_file, *ca_file, *ns, *source;
} resolve_case;

static const resolve_case resolve_cases[] = {
    {"KUBECONFIG a:b: a's current-context", .kubeconfig = A ":" B, .server = "https://a.example",
     .token = "ta", .ca_file = "m/ca-a.crt", .ns = "ns-a",
     .source = "kubeconfig @DIR@/m/a.yaml, context \"ctx-a\""},
    {"KUBECONFIG b:a: b's current-context, b's relative paths", .kubeconfig = B ":" A,
     .server = "https://b.example", .token_file = "m/b/token-b", .ca_file = "m/b/ca-b.crt",
     .source = "kubeconfig @DIR@/m/b/b.yaml, context \"ctx-b\""},
    {"a:b --context=ctx-shared: a's entries win whole",
     {.context = "ctx-shared"},
     .kubeconfig = A ":" B,
     .server = "https://shared-from-a.example",
     .token = "shared-a"},
    {"b:a --context=ctx-shared: b's entries win whole",
     {.context = "ctx-shared"},
     .kubeconfig = B ":" A,
     .server = "https://shared-from-b.example",
     .token = "shared-b"},
    {"b:a --context=ctx-a: b's ctx-a, b's cluster and user",
     {.context = "ctx-a"},
     .kubeconfig = B ":" A,
     .server = "https://b.example",
     .token_file = "m/b/token-b",
     .ca_file = "m/b/ca-b.crt"},
    {"c:b: current-context from the first file that sets it", .kubeconfig = C ":" B,
     .server = "https://b.example", .token_file = "m/b/token-b", .ca_file = "m/b/ca-b.crt"},
    {"c:b --context=ctx-c: context and user from c, cluster from b",
     {.context = "ctx-c"},
     .kubeconfig = C ":" B,
     .server = "https://b.example",
     .token = "tc",
     .ca_file = "m/b/ca-b.crt"},
    {"missing and empty entries of KUBECONFIG are skipped",
     .kubeconfig = "@DIR@/m/none.yaml::" A ":", .server = "https://a.example", .token = "ta",
     .ca_file = "m/ca-a.crt", .ns = "ns-a"},
    {"no file of KUBECONFIG exists", .kubeconfig = "@DIR@/m/none.yaml:@DIR@/m/nope.yaml",
     .rc = LG_EIO, .err = "no file of $KUBECONFIG (@DIR@/m/none.yaml:@DIR@/m/nope.yaml) exists"},
    {"a malformed file of KUBECONFIG is an error", .kubeconfig = A ":@DIR@/m/bad.yaml",
     .rc = LG_EINVAL, .err = "@DIR@/m/bad.yaml: line"},
    {"c alone: no current-context", .kubeconfig = C, .rc = LG_EINVAL,
     .err = "@DIR@/m/c.yaml: current-context is not set (give --context)"},
    {"c alone --context=ctx-c: cluster cb is nowhere",
     {.context = "ctx-c"},
     .kubeconfig = C,
     .rc = LG_EINVAL,
     .err = "cluster \"cb\" not found"},
    {"an unknown --context",
     {.context = "nope"},
     .kubeconfig = A ":" B,
     .rc = LG_EINVAL,
     .err = "@DIR@/m/a.yaml, @DIR@/m/b/b.yaml: context \"nope\" not found"},
    {"--kubeconfig wins over KUBECONFIG",
     {.kubeconfig = B},
     .kubeconfig = A,
     .server = "https://b.example",
     .token_file = "m/b/token-b",
     .ca_file = "m/b/ca-b.crt"},
    {"--kubeconfig is only that file",
     {.kubeconfig = C},
     .kubeconfig = B,
     .rc = LG_EINVAL,
     .err = "current-context is not set"},
    {"--kubeconfig that does not exist",
     {.kubeconfig = "@DIR@/m/none.yaml"},
     .rc = LG_EIO,
     .err = "cannot open kubeconfig @DIR@/m/none.yaml"},
    {"KUBECONFIG wins over in-cluster", .kubeconfig = A, .sa = "rsa", .server = "https://a.example",
     .token = "ta", .ca_file = "m/ca-a.crt", .ns = "ns-a"},
    {"in-cluster wins over ~/.kube/config", .home = HOME, .sa = "rsa",
     .server = "https://10.0.0.1:443", .token_file = "rsa/token", .ca_file = "rsa/ca.crt",
     .ns = "pod-ns", .source = "in-cluster service account"},
    {"~/.kube/config outside a cluster", .home = HOME, .server = "https://home.example",
     .token = "th", .source = "kubeconfig @DIR@/home/.kube/config, context \"h\""},
    {"--context skips in-cluster for ~/.kube/config",
     {.context = "h"},
     .home = HOME,
     .sa = "rsa",
     .server = "https://home.example",
     .token = "th"},
    {"a broken in-cluster falls back to ~/.kube/config", .home = HOME, .sa = "rsa-broken",
     .server = "https://home.example", .token = "th"},
    {"a broken in-cluster without ~/.kube/config", .home = "@DIR@/nohome", .sa = "rsa-broken",
     .rc = LG_EIO, .err = "service-account token"},
    {"nothing configured", .home = "@DIR@/nohome", .rc = LG_EIO,
     .err = "no API access configured: no --kubeconfig or --server, $KUBECONFIG is not set, not "
            "in a cluster (KUBERNETES_SERVICE_HOST is not set) and @DIR@/nohome/.kube/config "
            "does not exist"},
    {"no HOME either", .rc = LG_EINVAL, .err = "$HOME is not set"},
    {"--server alone: the flags only",
     {.server = "https://flags.example", .token_file = FTOKEN, .ca_file = FCA},
     .kubeconfig = A,
     .sa = "rsa",
     .server = "https://flags.example",
     .token_file = "flags/token",
     .ca_file = "flags/ca.crt",
     .source = "flags (--server)"},
    {"--server with --context: replaces the context's server",
     {.server = "https://o.example", .context = "ctx-a"},
     .kubeconfig = A,
     .server = "https://o.example",
     .token = "ta",
     .ca_file = "m/ca-a.crt",
     .ns = "ns-a"},
    {"--token-file replaces the kubeconfig's token",
     {.token_file = FTOKEN},
     .kubeconfig = A,
     .server = "https://a.example",
     .token_file = "flags/token",
     .ca_file = "m/ca-a.crt",
     .ns = "ns-a"},
    {"--certificate-authority replaces the kubeconfig's CA",
     {.ca_file = FCA},
     .kubeconfig = A,
     .server = "https://a.example",
     .token = "ta",
     .ca_file = "flags/ca.crt",
     .ns = "ns-a"},
    {"--certificate-authority in a cluster",
     {.ca_file = FCA},
     .sa = "rsa",
     .server = "https://10.0.0.1:443",
     .token_file = "rsa/token",
     .ca_file = "flags/ca.crt",
     .ns = "pod-ns"},
    {"--token-file that does not exist",
     {.token_file = "@DIR@/flags/none"},
     .kubeconfig = A,
     .rc = LG_EIO,
     .err = "token file @DIR@/flags/none"},
    {"--server that is not https",
     {.server = "http://x.example", .context = "ctx-a"},
     .kubeconfig = A,
     .rc = LG_EINVAL,
     .err = "--server: server \"http://x.example\" must be an"},
};

static void test_resolve_table(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof merge_files / sizeof *merge_files; i++)
    put_file(merge_files[i].rel, merge_files[i].text);
  for (size_t i = 0; i < sizeof resolve_cases / sizeof *resolve_cases; i++) {
    const resolve_case *t = &resolve_cases[i];
    char sa[PATH_LEN], err[768] = "";
    lg_kube_flags f = {xp(t->flags.kubeconfig), t->flags.context, t->flags.server,
                       xp(t->flags.token_file), xp(t->flags.ca_file)};
    lg_kube_env env = {xp(t->kubeconfig), xp(t->home), NULL, NULL, NULL};
    lg_kube_config c;
    lg_rc rc;
    if (t->sa) {
      lgt_path(sa, dir, t->sa);
      env.service_host = "10.0.0.1";
      env.service_port = "443";
      env.sa_dir = sa;
    }
    memset(&c, 0xa5, sizeof c); /* must be overwritten, also on failure */
    rc = lg_kube_config_resolve(&f, &env, &c, err, sizeof err);
    if (rc != t->rc)
      fail_msg("%s: rc %d (%s), want %d", t->name, rc, err, t->rc);
    if (rc) {
      check_contains(t->name, "error", err, xp(t->err));
      check_str(t->name, "server", NULL, c.server);
      continue;
    }
    check_str(t->name, "server", t->server, c.server);
    check_str(t->name, "token", t->token, c.token);
    check_path(t->name, "token_file", t->token_file, c.token_file);
    check_path(t->name, "ca_file", t->ca_file, c.ca_file);
    check_str(t->name, "namespace", t->ns, c.namespace);
    if (t->source)
      check_str(t->name, "source", xp(t->source), c.source);
    assert_int_equal(c.in_cluster, t->sa && !strcmp(t->server, "https://10.0.0.1:443"));
    lg_kube_config_free(&c);
  }
}

/* ---- exec plugins from a kubeconfig ---- */

/* The plugin writes its arguments, environment and KUBERNETES_EXEC_INFO where the test reads
 * them, and answers with a token. Its command is relative to the kubeconfig's directory. */
static const char plugin_sh[] =
    "#!/bin/sh\n"
    "printf '%s\\n' \"$@\" > \"$OUT_DIR/args\"\n"
    "printf '%s' \"$KUBERNETES_EXEC_INFO\" > \"$OUT_DIR/info\"\n"
    "printf '%s' \"$PROFILE\" > \"$OUT_DIR/profile\"\n"
    "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
    "\"status\":{\"token\":\"from-plugin\"}}'\n";

static void test_exec_from_kubeconfig(void **state) {
  char path[PATH_LEN], err[512] = "", *text;
  lg_kube_config c, copy;
  lg_execcred_cred cred;
  json_t *info, *cluster;
  (void)state;
  put_script("ex/bin/plugin.sh", plugin_sh);
  put_file("ex/ca.crt", "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n");
  put_file("ex/config",
           "current-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\n"
           "clusters:\n- name: k\n  cluster:\n    server: https://api.example:6443\n"
           "    certificate-authority: ca.crt\n    tls-server-name: api.internal\n"
           "    extensions:\n    - name: client.authentication.k8s.io/exec\n"
           "      extension: {audience: sts, retries: 3, verbose: true}\n"
           "users:\n- name: u\n  user:\n    exec:\n"
           "      apiVersion: client.authentication.k8s.io/v1\n"
           "      command: ./bin/plugin.sh\n"
           "      args: [get-token, --cluster, 'two words']\n"
           "      env:\n      - {name: OUT_DIR, value: '@DIR@/ex'}\n"
           "      - {name: PROFILE, value: prod}\n"
           "      interactiveMode: IfAvailable\n      provideClusterInfo: true\n");
  lgt_path(path, dir, "ex/config");
  assert_int_equal(lg_kube_config_kubeconfig(path, &c, err, sizeof err), LG_OK);
  assert_non_null(c.exec);
  assert_true(lg_kube_config_copy(&c, &copy)); /* the copy shares the plugin and its cache */
  assert_ptr_equal(copy.exec, c.exec);
  lg_kube_config_free(&c);
  if (lg_execcred_get(copy.exec, 0, &cred, err, sizeof err) != LG_OK)
    fail_msg("plugin: %s", err);
  assert_string_equal(cred.token, "from-plugin");
  lg_execcred_cred_free(&cred);

  lgt_path(path, dir, "ex/args");
  text = lgt_slurp(path);
  assert_string_equal(text, "get-token\n--cluster\ntwo words\n");
  free(text);
  lgt_path(path, dir, "ex/profile");
  text = lgt_slurp(path);
  assert_string_equal(text, "prod");
  free(text);
  lgt_path(path, dir, "ex/info");
  text = lgt_slurp(path);
  info = json_loads(text, 0, NULL);
  free(text);
  assert_non_null(info);
  assert_string_equal(json_string_value(json_object_get(info, "apiVersion")),
                      "client.authentication.k8s.io/v1");
  assert_string_equal(json_string_value(json_object_get(info, "kind")), "ExecCredential");
  assert_true(json_is_false(json_object_get(json_object_get(info, "spec"), "interactive")));
  cluster = json_object_get(json_object_get(info, "spec"), "cluster");
  assert_string_equal(json_string_value(json_object_get(cluster, "server")),
                      "https://api.example:6443");
  assert_string_equal(json_string_value(json_object_get(cluster, "tls-server-name")),
                      "api.internal");
  /* base64 of the CA file, as client-go sends it */
  assert_string_equal(json_string_value(json_object_get(cluster, "certificate-authority-data")),
                      "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tClEwRT0KLS0tLS1FTkQgQ0VSVElGSUNBVEUt"
                      "LS0tLQo=");
  json_t *want = json_pack("{s:s, s:i, s:b}", "audience", "sts", "retries", 3, "verbose", 1);
  assert_true(json_equal(json_object_get(cluster, "config"), want));
  json_decref(want);
  json_decref(info);
  lg_kube_config_free(&copy);
}

static int setup(void **state) {
  (void)state;
  return lgt_temp_dir(dir, "kubeconfig");
}

static int teardown(void **state) {
  (void)state;
  if (dir[0] && !getenv("LG_KEEP_TMP"))
    lgt_rm_tree(dir);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kubeconfig_table), cmocka_unit_test(test_kubeconfig_missing_file),
      cmocka_unit_test(test_in_cluster_table), cmocka_unit_test(test_explicit),
      cmocka_unit_test(test_resolve_table),    cmocka_unit_test(test_exec_from_kubeconfig),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
