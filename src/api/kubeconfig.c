/* kubeconfig.c -- how to reach the Kubernetes API: the order kubectl and controller-runtime
 * follow (flags, kubeconfig files, in-cluster, ~/.kube/config), in-cluster and explicit
 * access, kubectl's overrides, and the bearer token to send, re-read as it rotates. */
#include "kubeconfig.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "kcfile.h"

#define SA_DIR    "/var/run/secrets/kubernetes.io/serviceaccount"
#define MAX_TOKEN (64 * 1024) /* a token file larger than this is a wrong path */
#define MAX_FILES 64          /* files in $KUBECONFIG */

/* Every string of lg_kube_config. */
/* clang-format off */
#define CFG_FIELDS(X) \
  X(server) X(tls_server_name) X(proxy_url) X(token) X(token_file) X(ca_file) X(ca_pem) \
  X(cert_file) X(key_file) X(cert_pem) X(key_pem) X(namespace) X(source)
/* clang-format on */

/* ---- strings and files ---- */

/* Returns a new formatted string, or NULL when out of memory. */
static char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *str_printf(const char *fmt, ...) {
  va_list ap;
  char *s;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || !(s = malloc((size_t)n + 1)))
    return NULL;
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}

void lg_kube_config_secret_free(char *s) {
  if (s)
    OPENSSL_cleanse(s, strlen(s));
  free(s);
}

/* Copies src (may be NULL) into *dst; false only when out of memory. */
static bool copy_str(const char *src, char **dst) {
  *dst = src ? strdup(src) : NULL;
  return !src || *dst;
}

/* Replaces *dst by a copy of src; false only when out of memory. */
static bool replace_str(char **dst, const char *src) {
  lg_kube_config_secret_free(*dst);
  return copy_str(src, dst);
}

/* Checks that path can be read; what names it in the message. */
static lg_rc readable(const char *what, const char *path, char *err, size_t errlen) {
  if (access(path, R_OK) != 0)
    return lg_fail(err, errlen, LG_EIO, "%s %s: %s", what, path, strerror(errno));
  return LG_OK;
}

lg_rc lg_kube_config_https(const char *server, const char *where, char **out, char *err,
                           size_t errlen) {
  size_t n;
  if (!server || strncasecmp(server, "https://", 8) != 0 || !server[8] || server[8] == '/')
    return lg_fail(err, errlen, LG_EINVAL, "%sserver \"%s\" must be an https:// URL", where,
                   server ? server : "");
  n = strlen(server);
  while (n > 8 && server[n - 1] == '/')
    n--;
  if (!(*out = strndup(server, n)))
    return lg_fail(err, errlen, LG_ENOMEM, "out of memory");
  return LG_OK;
}

void lg_kube_config_free(lg_kube_config *c) {
  if (!c)
    return;
#define FREE_FIELD(name) lg_kube_config_secret_free(c->name);
  CFG_FIELDS(FREE_FIELD)
#undef FREE_FIELD
  lg_execcred_unref(c->exec);
  memset(c, 0, sizeof *c);
}

bool lg_kube_config_copy(const lg_kube_config *src, lg_kube_config *dst) {
  bool ok = true;
  memset(dst, 0, sizeof *dst);
#define COPY_FIELD(name) ok = ok && copy_str(src->name, &dst->name);
  CFG_FIELDS(COPY_FIELD)
#undef COPY_FIELD
  if (!ok) {
    lg_kube_config_free(dst);
    return false;
  }
  dst->insecure = src->insecure;
  dst->in_cluster = src->in_cluster;
  dst->exec = lg_execcred_ref(src->exec);
  return true;
}

/* ---- in-cluster and explicit ---- */

/* The pod's namespace from the service-account directory (new), NULL when unreadable. */
static char *sa_namespace(const char *sa_dir) {
  char *path = str_printf("%s/namespace", sa_dir), buf[256] = "";
  FILE *f = path ? fopen(path, "r") : NULL;
  size_t n;
  free(path);
  if (!f)
    return NULL;
  n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  buf[strcspn(buf, " \t\r\n")] = '\0';
  return buf[0] ? strdup(buf) : NULL;
}

lg_rc lg_kube_config_in_cluster(const lg_kube_env *env, lg_kube_config *out, char *err,
                                size_t errlen) {
  lg_kube_config c = {0};
  const char *host = env ? env->service_host : NULL, *port = env ? env->service_port : NULL;
  const char *sa_dir = env && env->sa_dir ? env->sa_dir : SA_DIR;
  char *end;
  long p;
  lg_rc rc = LG_OK;

  if (!out)
    return lg_fail(err, errlen, LG_EINVAL, "no output config");
  memset(out, 0, sizeof *out);
  if (!host || !*host)
    return lg_fail(err, errlen, LG_EINVAL,
                   "not running in a cluster: KUBERNETES_SERVICE_HOST is not set");
  if (!port || !*port)
    return lg_fail(err, errlen, LG_EINVAL,
                   "not running in a cluster: KUBERNETES_SERVICE_PORT is not set");
  errno = 0;
  p = strtol(port, &end, 10);
  if (errno || *end || p < 1 || p > 65535)
    return lg_fail(err, errlen, LG_EINVAL, "KUBERNETES_SERVICE_PORT \"%s\" is not a port", port);

  /* An IPv6 address goes in brackets in a URL. */
  if (strchr(host, ':') && host[0] != '[')
    c.server = str_printf("https://[%s]:%ld", host, p);
  else
    c.server = str_printf("https://%s:%ld", host, p);
  c.token_file = str_printf("%s/token", sa_dir);
  c.ca_file = str_printf("%s/ca.crt", sa_dir);
  c.source = strdup("in-cluster service account");
  if (!c.server || !c.token_file || !c.ca_file || !c.source) {
    rc = lg_fail(err, errlen, LG_ENOMEM, "out of memory");
    goto out;
  }
  rc = readable("service-account token", c.token_file, err, errlen);
  if (!rc)
    rc = readable("service-account CA", c.ca_file, err, errlen);
  if (!rc) {
    c.namespace = sa_namespace(sa_dir);
    c.in_cluster = true;
  }

out:
  if (rc)
    lg_kube_config_free(&c);
  else
    *out = c;
  return rc;
}

lg_rc lg_kube_config_explicit(const char *server, const char *token_file, const char *ca_file,
                              lg_kube_config *out, char *err, size_t errlen) {
  lg_kube_config c = {0};
  lg_rc rc = LG_OK;

  if (!out)
    return lg_fail(err, errlen, LG_EINVAL, "no output config");
  memset(out, 0, sizeof *out);
  rc = lg_kube_config_https(server, "", &c.server, err, errlen);
  if (rc)
    goto out;
  if (!copy_str(token_file, &c.token_file) || !copy_str(ca_file, &c.ca_file) ||
      !(c.source = strdup("flags (--server)"))) {
    rc = lg_fail(err, errlen, LG_ENOMEM, "out of memory");
    goto out;
  }
  if (token_file)
    rc = readable("token file", token_file, err, errlen);
  if (!rc && ca_file)
    rc = readable("CA file", ca_file, err, errlen);

out:
  if (rc)
    lg_kube_config_free(&c);
  else
    *out = c;
  return rc;
}

/* ---- kubectl's order ---- */

lg_rc lg_kube_config_override(lg_kube_config *c, const lg_kube_flags *f, char *err, size_t errlen) {
  lg_rc rc = LG_OK;
  if (f && f->server) {
    lg_kube_config_secret_free(c->server);
    c->server = NULL;
    if ((rc = lg_kube_config_https(f->server, "--server: ", &c->server, err, errlen)))
      return rc;
    replace_str(&c->tls_server_name, NULL);
  }
  if (f && f->ca_file) {
    if ((rc = readable("CA file", f->ca_file, err, errlen)))
      return rc;
    replace_str(&c->ca_pem, NULL);
    c->insecure = false;
    if (!replace_str(&c->ca_file, f->ca_file))
      return lg_fail(err, errlen, LG_ENOMEM, "out of memory");
  }
  if (f && f->token_file) {
    if ((rc = readable("token file", f->token_file, err, errlen)))
      return rc;
    replace_str(&c->token, NULL);
    lg_execcred_unref(c->exec);
    c->exec = NULL;
    if (!replace_str(&c->token_file, f->token_file))
      return lg_fail(err, errlen, LG_ENOMEM, "out of memory");
  }
  /* As client-go's transport: a CA and "do not verify" contradict each other. */
  if (c->insecure && (c->ca_file || c->ca_pem))
    return lg_fail(err, errlen, LG_EINVAL,
                   "%s: insecure-skip-tls-verify and a certificate-authority are both set: "
                   "specifying a root certificates file with the insecure flag is not allowed",
                   c->source ? c->source : "kubeconfig");
  return LG_OK;
}

/* $KUBECONFIG's files, merged. */
static lg_rc from_list(const char *list, const lg_kube_flags *f, lg_kube_config *out, char *err,
                       size_t errlen) {
  const char *paths[MAX_FILES];
  char *copy = strdup(list), *save = NULL;
  size_t n = 0;
  lg_rc rc;
  if (!copy)
    return lg_fail(err, errlen, LG_ENOMEM, "out of memory");
  for (char *p = strtok_r(copy, ":", &save); p && n < MAX_FILES; p = strtok_r(NULL, ":", &save))
    paths[n++] = p;
  rc = lg_kcfile_load(paths, n, false, f, out, err, errlen);
  if (rc == LG_EIO && !strncmp(err ? err : "", "no kubeconfig:", 14))
    lg_fail(err, errlen, rc, "no file of $KUBECONFIG (%s) exists", list);
  free(copy);
  return rc;
}

/* In-cluster, with the flags' overrides. */
static lg_rc from_cluster(const lg_kube_env *env, const lg_kube_flags *f, lg_kube_config *out,
                          char *err, size_t errlen) {
  lg_rc rc = lg_kube_config_in_cluster(env, out, err, errlen);
  if (!rc && (rc = lg_kube_config_override(out, f, err, errlen)))
    lg_kube_config_free(out);
  return rc;
}

lg_rc lg_kube_config_resolve(const lg_kube_flags *f, const lg_kube_env *env, lg_kube_config *out,
                             char *err, size_t errlen) {
  static const lg_kube_flags no_flags;
  static const lg_kube_env no_env;
  char *home = NULL, cluster_err[512] = "";
  bool in_cluster;
  lg_rc rc;

  if (!out)
    return lg_fail(err, errlen, LG_EINVAL, "no output config");
  memset(out, 0, sizeof *out);
  f = f ? f : &no_flags;
  env = env ? env : &no_env;
  if (f->server && !f->kubeconfig && !f->context)
    return lg_kube_config_explicit(f->server, f->token_file, f->ca_file, out, err, errlen);
  if (f->kubeconfig)
    return lg_kcfile_load(&f->kubeconfig, 1, true, f, out, err, errlen);
  if (env->kubeconfig && *env->kubeconfig)
    return from_list(env->kubeconfig, f, out, err, errlen);
  /* As controller-runtime: in-cluster before ~/.kube/config; --context asks for a file. */
  in_cluster = !f->context && env->service_host && *env->service_host;
  if (in_cluster) {
    rc = from_cluster(env, f, out, cluster_err, sizeof cluster_err);
    if (!rc)
      return rc;
  }
  if (!env->home || !*env->home)
    return lg_fail(err, errlen, LG_EINVAL,
                   in_cluster ? "%s; and $HOME is not set (no ~/.kube/config)"
                              : "no API access configured%s: no --kubeconfig or --server, "
                                "$KUBECONFIG is not set, not in a cluster "
                                "(KUBERNETES_SERVICE_HOST is not set) and $HOME is not set",
                   cluster_err);
  if (!(home = str_printf("%s/.kube/config", env->home)))
    return lg_fail(err, errlen, LG_ENOMEM, "out of memory");
  rc = lg_kcfile_load((const char *const *)&home, 1, false, f, out, err, errlen);
  if (rc && access(home, F_OK) != 0) {
    if (in_cluster)
      lg_fail(err, errlen, rc, "%s; and %s does not exist", cluster_err, home);
    else
      lg_fail(err, errlen, rc,
              "no API access configured: no --kubeconfig or --server, $KUBECONFIG is not set, "
              "not in a cluster (KUBERNETES_SERVICE_HOST is not set) and %s does not exist",
              home);
  }
  free(home);
  return rc;
}

lg_rc lg_kube_config_kubeconfig(const char *path, lg_kube_config *out, char *err, size_t errlen) {
  lg_kube_flags f = {.kubeconfig = path};
  if (!path) {
    if (out)
      memset(out, 0, sizeof *out);
    return lg_fail(err, errlen, LG_EINVAL, "no kubeconfig path");
  }
  return lg_kube_config_resolve(&f, NULL, out, err, errlen);
}

lg_rc lg_kube_config_token(const lg_kube_config *c, char **out, char *err, size_t errlen) {
  const char *path = c->token_file;
  char *buf = NULL, *start, *end;
  FILE *f = NULL;
  size_t n = 0;
  lg_rc rc = LG_OK;

  *out = NULL;
  if (!path) {
    if (c->token && !(*out = strdup(c->token)))
      rc = LG_ENOMEM;
    goto out;
  }
  if (!(buf = malloc(MAX_TOKEN + 1))) {
    rc = LG_ENOMEM;
    goto out;
  }
  if (!(f = fopen(path, "rb"))) {
    rc = LG_EIO;
    lg_fail(err, errlen, rc, "cannot read token file %s: %s", path, strerror(errno));
    goto out;
  }
  n = fread(buf, 1, MAX_TOKEN + 1, f);
  buf[n > MAX_TOKEN ? MAX_TOKEN : n] = '\0';
  if (ferror(f) || n > MAX_TOKEN) {
    rc = LG_EIO;
    lg_fail(err, errlen, rc, "cannot read token file %s: %s", path,
            ferror(f) ? "read error" : "larger than 64 KiB");
    goto out;
  }
  for (start = buf; isspace((unsigned char)*start); start++)
    ;
  for (end = buf + strlen(buf); end > start && isspace((unsigned char)end[-1]); end--)
    ;
  *end = '\0';
  if (!*start) {
    rc = LG_EIO;
    lg_fail(err, errlen, rc, "token file %s is empty", path);
    goto out;
  }
  if (!(*out = strdup(start)))
    rc = LG_ENOMEM;

out:
  if (rc == LG_ENOMEM)
    lg_fail(err, errlen, rc, "out of memory");
  if (f)
    fclose(f);
  if (buf)
    OPENSSL_cleanse(buf, MAX_TOKEN + 1);
  free(buf);
  return rc;
}
