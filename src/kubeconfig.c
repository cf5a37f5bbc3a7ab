/* kubeconfig.c -- how to reach the Kubernetes API: in-cluster, a kubeconfig file (libyaml)
 * or explicit flags; the bearer token to send, re-read as it rotates. */
#include "kubeconfig.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <yaml.h>

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define MAX_TOKEN (64 * 1024)        /* a token file larger than this is a wrong path */

/* Every string of lg_kube_config. */
#define CFG_FIELDS(X)                                                                        \
  X(server) X(token) X(token_file) X(ca_file) X(ca_pem) X(cert_file) X(key_file) X(cert_pem)   \
  X(key_pem)

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

/* Checks that path can be read; what names it in the message. */
static lg_rc readable(const char *what, const char *path, char *err, size_t errlen) {
  if (access(path, R_OK) != 0)
    return lg_fail(err, errlen, LG_EIO, "%s %s: %s", what, path, strerror(errno));
  return LG_OK;
}

/* Checks that server is "https://host..." and stores a new copy without trailing slashes. */
static lg_rc https_server(const char *server, const char *where, char **out, char *err,
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

lg_rc lg_kube_config_select(const char *kubeconfig, const char *server, const char *token_file,
                            const char *ca_file, lg_kube_config *out, char *err, size_t errlen) {
  if (kubeconfig)
    return lg_kube_config_kubeconfig(kubeconfig, out, err, errlen);
  if (server)
    return lg_kube_config_explicit(server, token_file, ca_file, out, err, errlen);
  return lg_kube_config_in_cluster(NULL, out, err, errlen);
}

void lg_kube_config_free(lg_kube_config *c) {
  if (!c)
    return;
#define FREE_FIELD(name) lg_kube_config_secret_free(c->name);
  CFG_FIELDS(FREE_FIELD)
#undef FREE_FIELD
  memset(c, 0, sizeof *c);
}

bool lg_kube_config_copy(const lg_kube_config *src, lg_kube_config *dst) {
  bool ok = true;
  memset(dst, 0, sizeof *dst);
#define COPY_FIELD(name) ok = ok && copy_str(src->name, &dst->name);
  CFG_FIELDS(COPY_FIELD)
#undef COPY_FIELD
  if (!ok)
    lg_kube_config_free(dst);
  return ok;
}

/* ---- in-cluster and explicit ---- */

lg_rc lg_kube_config_in_cluster(const char *sa_dir, lg_kube_config *out, char *err,
                                size_t errlen) {
  lg_kube_config c = {0};
  const char *host = getenv("KUBERNETES_SERVICE_HOST");
  const char *port = getenv("KUBERNETES_SERVICE_PORT");
  char *end;
  long p;
  lg_rc rc = LG_OK;

  if (!out)
    return lg_fail(err, errlen, LG_EINVAL, "no output config");
  memset(out, 0, sizeof *out);
  if (!sa_dir)
    sa_dir = SA_DIR;
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
  if (!c.server || !c.token_file || !c.ca_file) {
    rc = lg_fail(err, errlen, LG_ENOMEM, "out of memory");
    goto out;
  }
  rc = readable("service-account token", c.token_file, err, errlen);
  if (!rc)
    rc = readable("service-account CA", c.ca_file, err, errlen);

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
  rc = https_server(server, "", &c.server, err, errlen);
  if (rc)
    goto out;
  if (!copy_str(token_file, &c.token_file) || !copy_str(ca_file, &c.ca_file)) {
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

/* ---- kubeconfig ---- */

typedef struct {
  const char *path; /* the kubeconfig, named in every message */
  char *dir;        /* its directory: relative file names are resolved against it */
  yaml_document_t *doc;
  char *err;
  size_t errlen;
} kubeconfig;

/* Returns the value of key in the mapping map (borrowed), or NULL. */
static yaml_node_t *map_get(kubeconfig *kc, yaml_node_t *map, const char *key) {
  if (!map || map->type != YAML_MAPPING_NODE)
    return NULL;
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
       p++) {
    yaml_node_t *k = yaml_document_get_node(kc->doc, p->key);
    if (k && k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key))
      return yaml_document_get_node(kc->doc, p->value);
  }
  return NULL;
}

/* A plain empty, ~ or null scalar is YAML's null: the field is unset. */
static bool is_null(const yaml_node_t *n) {
  const char *v;
  if (!n)
    return true;
  if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return false;
  v = (const char *)n->data.scalar.value;
  return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
         !strcmp(v, "NULL");
}

/* Reads an optional string field (borrowed, NULL when unset). */
static lg_rc get_str(kubeconfig *kc, yaml_node_t *map, const char *key, const char *where,
                     const char **out) {
  yaml_node_t *n = map_get(kc, map, key);
  *out = NULL;
  if (is_null(n))
    return LG_OK;
  if (n->type != YAML_SCALAR_NODE ||
      strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
    return lg_fail(kc->err, kc->errlen, LG_EINVAL, "%s: %s: %s must be a string", kc->path,
                   where, key);
  *out = (const char *)n->data.scalar.value;
  return LG_OK;
}

/* Finds the entry called name in the list at root[list] and returns its field (borrowed). */
static lg_rc find_named(kubeconfig *kc, yaml_node_t *root, const char *list, const char *field,
                        const char *name, yaml_node_t **out) {
  yaml_node_t *seq = map_get(kc, root, list);
  *out = NULL;
  if (seq && seq->type == YAML_SEQUENCE_NODE) {
    for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top;
         i++) {
      yaml_node_t *entry = yaml_document_get_node(kc->doc, *i);
      yaml_node_t *n = map_get(kc, entry, "name");
      if (n && n->type == YAML_SCALAR_NODE && !strcmp((const char *)n->data.scalar.value, name))
        *out = map_get(kc, entry, field);
      if (*out)
        break;
    }
  }
  if (!*out || (*out)->type != YAML_MAPPING_NODE)
    return lg_fail(kc->err, kc->errlen, LG_EINVAL, "%s: %s \"%s\" not found", kc->path, field,
                   name);
  return LG_OK;
}

/* Stores a new absolute path for a file named in the kubeconfig and checks it is readable. */
static lg_rc file_field(kubeconfig *kc, const char *where, const char *key, const char *name,
                        char **out) {
  char what[256];
  *out = name[0] == '/' ? strdup(name) : str_printf("%s/%s", kc->dir, name);
  if (!*out)
    return lg_fail(kc->err, kc->errlen, LG_ENOMEM, "out of memory");
  snprintf(what, sizeof what, "%s: %s: %s", kc->path, where, key);
  return readable(what, *out, kc->err, kc->errlen);
}

/* Stores the PEM text of a *-data field (base64 of PEM). */
static lg_rc data_field(kubeconfig *kc, const char *where, const char *key, const char *b64,
                        char **out) {
  size_t n = strlen(b64), m = 0;
  unsigned char *clean = malloc(n + 1);
  char *pem = NULL;
  int len;
  lg_rc rc = LG_OK;

  if (!clean)
    goto nomem;
  for (size_t i = 0; i < n; i++)
    if (!isspace((unsigned char)b64[i]))
      clean[m++] = (unsigned char)b64[i];
  if (m == 0 || m % 4 != 0 || m >= INT_MAX)
    goto bad;
  if (!(pem = malloc(m / 4 * 3 + 1)))
    goto nomem;
  len = EVP_DecodeBlock((unsigned char *)pem, clean, (int)m);
  if (len < 0)
    goto bad;
  /* EVP_DecodeBlock counts the padding as zero bytes. */
  len -= (clean[m - 1] == '=') + (clean[m - 2] == '=');
  pem[len] = '\0';
  if (len == 0 || strlen(pem) != (size_t)len || !strstr(pem, "-----BEGIN "))
    goto bad;
  *out = pem;
  pem = NULL;
  goto out;

nomem:
  rc = lg_fail(kc->err, kc->errlen, LG_ENOMEM, "out of memory");
  goto out;
bad:
  rc = lg_fail(kc->err, kc->errlen, LG_EINVAL, "%s: %s: %s is not base64 of PEM data", kc->path,
               where, key);
out:
  lg_kube_config_secret_free(pem);
  if (clean)
    OPENSSL_cleanse(clean, n);
  free(clean);
  return rc;
}

/* Stores data (preferred, as in kubectl) or file of a PEM field; neither is fine. */
static lg_rc pem_field(kubeconfig *kc, yaml_node_t *map, const char *where, const char *key,
                       char **file_out, char **pem_out) {
  char data_key[64];
  const char *file, *data;
  lg_rc rc;
  snprintf(data_key, sizeof data_key, "%s-data", key);
  rc = get_str(kc, map, data_key, where, &data);
  if (!rc)
    rc = get_str(kc, map, key, where, &file);
  if (rc)
    return rc;
  if (data)
    return data_field(kc, where, data_key, data, pem_out);
  if (file)
    return file_field(kc, where, key, file, file_out);
  return LG_OK;
}

static lg_rc load_cluster(kubeconfig *kc, yaml_node_t *cluster, const char *where,
                          lg_kube_config *c) {
  static const char *const unsupported[] = {"proxy-url", "tls-server-name"};
  const char *server, *insecure;
  char prefix[256];
  lg_rc rc;

  for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++)
    if (!is_null(map_get(kc, cluster, unsupported[i])))
      return lg_fail(kc->err, kc->errlen, LG_EINVAL, "%s: %s: %s is not supported", kc->path,
                     where, unsupported[i]);
  rc = get_str(kc, cluster, "insecure-skip-tls-verify", where, &insecure);
  if (rc)
    return rc;
  /* YAML 1.1 spellings of false; anything else could mean true, so it is refused. */
  if (insecure && strcmp(insecure, "false") && strcmp(insecure, "False") &&
      strcmp(insecure, "FALSE") && strcmp(insecure, "no") && strcmp(insecure, "off"))
    return lg_fail(kc->err, kc->errlen, LG_ETLS,
                   "%s: %s: insecure-skip-tls-verify is refused: leaseguard always verifies "
                   "the API server's certificate",
                   kc->path, where);
  rc = get_str(kc, cluster, "server", where, &server);
  if (rc)
    return rc;
  if (!server)
    return lg_fail(kc->err, kc->errlen, LG_EINVAL, "%s: %s: server is missing", kc->path, where);
  if (snprintf(prefix, sizeof prefix, "%s: %s: ", kc->path, where) < 0)
    prefix[0] = '\0';
  rc = https_server(server, prefix, &c->server, kc->err, kc->errlen);
  if (!rc)
    rc = pem_field(kc, cluster, where, "certificate-authority", &c->ca_file, &c->ca_pem);
  return rc;
}

static lg_rc load_user(kubeconfig *kc, yaml_node_t *user, const char *where, lg_kube_config *c) {
  static const char *const unsupported[][2] = {
      {"exec", "exec credential plugins"},     {"auth-provider", "auth providers"},
      {"username", "basic authentication"},    {"password", "basic authentication"},
      {"as", "impersonation"},
  };
  const char *token, *token_file;
  lg_rc rc;

  for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++)
    if (!is_null(map_get(kc, user, unsupported[i][0])))
      return lg_fail(kc->err, kc->errlen, LG_EINVAL,
                     "%s: %s: %s is not supported (%s); use token, tokenFile or a client "
                     "certificate",
                     kc->path, where, unsupported[i][0], unsupported[i][1]);
  rc = get_str(kc, user, "token", where, &token);
  if (!rc)
    rc = get_str(kc, user, "tokenFile", where, &token_file);
  if (!rc && token && !(c->token = strdup(token)))
    rc = lg_fail(kc->err, kc->errlen, LG_ENOMEM, "out of memory");
  if (!rc && token_file)
    rc = file_field(kc, where, "tokenFile", token_file, &c->token_file);
  if (!rc)
    rc = pem_field(kc, user, where, "client-certificate", &c->cert_file, &c->cert_pem);
  if (!rc)
    rc = pem_field(kc, user, where, "client-key", &c->key_file, &c->key_pem);
  if (rc)
    return rc;
  if (!c->cert_file && !c->cert_pem && (c->key_file || c->key_pem))
    return lg_fail(kc->err, kc->errlen, LG_EINVAL, "%s: %s: client-key without client-certificate",
                   kc->path, where);
  if ((c->cert_file || c->cert_pem) && !c->key_file && !c->key_pem)
    return lg_fail(kc->err, kc->errlen, LG_EINVAL, "%s: %s: client-certificate without client-key",
                   kc->path, where);
  return LG_OK;
}

/* current-context -> context -> cluster and user. */
static lg_rc load_current(kubeconfig *kc, yaml_node_t *root, lg_kube_config *c) {
  const char *current, *cluster_name, *user_name;
  yaml_node_t *ctx, *cluster, *user;
  char where[256];
  lg_rc rc;

  rc = get_str(kc, root, "current-context", "top level", &current);
  if (rc)
    return rc;
  if (!current)
    return lg_fail(kc->err, kc->errlen, LG_EINVAL, "%s: current-context is not set", kc->path);
  rc = find_named(kc, root, "contexts", "context", current, &ctx);
  if (rc)
    return rc;
  snprintf(where, sizeof where, "context \"%s\"", current);
  rc = get_str(kc, ctx, "cluster", where, &cluster_name);
  if (!rc)
    rc = get_str(kc, ctx, "user", where, &user_name);
  if (rc)
    return rc;
  if (!cluster_name)
    return lg_fail(kc->err, kc->errlen, LG_EINVAL, "%s: %s: cluster is missing", kc->path, where);

  rc = find_named(kc, root, "clusters", "cluster", cluster_name, &cluster);
  if (rc)
    return rc;
  snprintf(where, sizeof where, "cluster \"%s\"", cluster_name);
  rc = load_cluster(kc, cluster, where, c);
  if (rc || !user_name)
    return rc; /* a context without a user is anonymous */
  rc = find_named(kc, root, "users", "user", user_name, &user);
  if (rc)
    return rc;
  snprintf(where, sizeof where, "user \"%s\"", user_name);
  return load_user(kc, user, where, c);
}

lg_rc lg_kube_config_kubeconfig(const char *path, lg_kube_config *out, char *err, size_t errlen) {
  kubeconfig kc = {.path = path, .err = err, .errlen = errlen};
  lg_kube_config c = {0};
  yaml_parser_t parser;
  yaml_document_t doc;
  bool have_parser = false, have_doc = false;
  yaml_node_t *root;
  FILE *f = NULL;
  char *slash;
  lg_rc rc = LG_OK;

  if (!out || !path)
    return lg_fail(err, errlen, LG_EINVAL, "no kubeconfig path or output config");
  memset(out, 0, sizeof *out);
  if (!(kc.dir = strdup(path))) {
    rc = lg_fail(err, errlen, LG_ENOMEM, "out of memory");
    goto out;
  }
  slash = strrchr(kc.dir, '/');
  if (!slash)
    strcpy(kc.dir, ".");
  else
    slash[slash == kc.dir] = '\0'; /* "/config" keeps "/" */
  if (!(f = fopen(path, "rb"))) {
    rc = lg_fail(err, errlen, LG_EIO, "cannot open kubeconfig %s: %s", path, strerror(errno));
    goto out;
  }
  if (!yaml_parser_initialize(&parser)) {
    rc = lg_fail(err, errlen, LG_ENOMEM, "out of memory");
    goto out;
  }
  have_parser = true;
  yaml_parser_set_input_file(&parser, f);
  if (!yaml_parser_load(&parser, &doc)) {
    rc = lg_fail(err, errlen, LG_EINVAL, "%s: line %zu, column %zu: %s%s%s", path,
                 parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                 parser.problem ? parser.problem : "malformed YAML",
                 parser.context ? " " : "", parser.context ? parser.context : "");
    goto out;
  }
  have_doc = true;
  kc.doc = &doc;
  root = yaml_document_get_root_node(&doc);
  if (!root || root->type != YAML_MAPPING_NODE) {
    rc = lg_fail(err, errlen, LG_EINVAL, "%s: not a kubeconfig (expected a mapping)", path);
    goto out;
  }
  rc = load_current(&kc, root, &c);

out:
  if (have_doc)
    yaml_document_delete(&doc);
  if (have_parser)
    yaml_parser_delete(&parser);
  if (f)
    fclose(f);
  free(kc.dir);
  if (rc)
    lg_kube_config_free(&c);
  else
    *out = c;
  return rc;
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
