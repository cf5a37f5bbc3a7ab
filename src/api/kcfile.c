/* kcfile.c -- kubeconfig files (libyaml): read, merged as kubectl merges $KUBECONFIG, and one
 * context's cluster and user turned into an lg_kube_config (exec plugins included). */
#define _GNU_SOURCE /* asprintf */
#include "kcfile.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <yaml.h>

#define MAX_CA_FILE    (1024 * 1024) /* a CA bundle sent to an exec plugin (provideClusterInfo) */
#define MAX_EXEC_ITEMS 256           /* args or env entries of an exec plugin */
#define EXEC_EXTENSION "client.authentication.k8s.io/exec"

/* One kubeconfig file. */
typedef struct {
  const char *path; /* named in every message about it */
  char *dir;        /* its directory: relative file names are resolved against it */
  yaml_document_t doc;
  bool has_doc;
  yaml_node_t *root; /* NULL for an empty file */
} kfile;

/* The files, in order, and where messages go. */
typedef struct {
  kfile *files;
  size_t n;
  char *err;
  size_t errlen;
} kset;

/* ---- YAML nodes ---- */

/* Returns the value of key in the mapping map (borrowed), or NULL. */
static yaml_node_t *map_get(kfile *kf, yaml_node_t *map, const char *key) {
  if (!map || map->type != YAML_MAPPING_NODE)
    return NULL;
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node(&kf->doc, p->key);
    if (k && k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key))
      return yaml_document_get_node(&kf->doc, p->value);
  }
  return NULL;
}

static const char *scalar(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

/* A plain empty, ~ or null scalar is YAML's null: the field is unset. */
static bool is_null(const yaml_node_t *n) {
  const char *v;
  if (!n)
    return true;
  if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return false;
  v = scalar(n);
  return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

/* A string scalar without NUL bytes. */
static bool is_text(const yaml_node_t *n) {
  return n->type == YAML_SCALAR_NODE && strlen(scalar(n)) == n->data.scalar.length;
}

/* Reads an optional string field (borrowed, NULL when unset). */
static lg_rc get_str(kset *s, kfile *kf, yaml_node_t *map, const char *key, const char *where,
                     const char **out) {
  yaml_node_t *n = map_get(kf, map, key);
  *out = NULL;
  if (is_null(n))
    return LG_OK;
  if (!is_text(n))
    return lg_fail(s->err, s->errlen, LG_EINVAL, "%s: %s: %s must be a string", kf->path, where,
                   key);
  *out = scalar(n);
  return LG_OK;
}

/* Reads an optional YAML 1.1 boolean field (false when unset). */
static lg_rc get_bool(kset *s, kfile *kf, yaml_node_t *map, const char *key, const char *where,
                      bool *out) {
  static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
  static const char *const no[] = {"false", "False", "FALSE", "no", "No",
                                   "NO",    "off",   "Off",   "OFF"};
  const char *v;
  lg_rc rc = get_str(s, kf, map, key, where, &v);
  *out = false;
  if (rc || !v)
    return rc;
  for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
    if (!strcmp(v, yes[i]))
      return *out = true, LG_OK;
    if (!strcmp(v, no[i]))
      return LG_OK;
  }
  return lg_fail(s->err, s->errlen, LG_EINVAL, "%s: %s: %s must be true or false, not \"%s\"",
                 kf->path, where, key, v);
}

/* The first entry named name in the list root[list] of the first file that has one: its
 * field (borrowed, NULL when empty) and its file (*where stays NULL when there is none). */
static yaml_node_t *find_named(kset *s, const char *list, const char *field, const char *name,
                               kfile **where) {
  *where = NULL;
  for (size_t f = 0; f < s->n; f++) {
    kfile *kf = &s->files[f];
    yaml_node_t *seq = map_get(kf, kf->root, list);
    if (!seq || seq->type != YAML_SEQUENCE_NODE)
      continue;
    for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top;
         i++) {
      yaml_node_t *entry = yaml_document_get_node(&kf->doc, *i);
      yaml_node_t *n = map_get(kf, entry, "name");
      if (n && n->type == YAML_SCALAR_NODE && !strcmp(scalar(n), name)) {
        *where = kf;
        return map_get(kf, entry, field);
      }
    }
  }
  return NULL;
}

/* The file names, for a message about all of them. */
static void file_list(const kset *s, char *buf, size_t len) {
  buf[0] = '\0';
  for (size_t i = 0; i < s->n; i++)
    snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", i ? ", " : "", s->files[i].path);
}

/* Finds the mapping of a named context, cluster or user; an error names the files. */
static lg_rc find_map(kset *s, const char *list, const char *field, const char *name, kfile **kf,
                      yaml_node_t **out) {
  char files[1024];
  *out = find_named(s, list, field, name, kf);
  if (*kf && is_null(*out)) {
    *out = NULL; /* an entry with an empty body: everything unset */
    return LG_OK;
  }
  if (*out && (*out)->type == YAML_MAPPING_NODE)
    return LG_OK;
  if (*kf)
    return lg_fail(s->err, s->errlen, LG_EINVAL, "%s: %s \"%s\": %s must be a mapping", (*kf)->path,
                   field, name, field);
  file_list(s, files, sizeof files);
  return lg_fail(s->err, s->errlen, LG_EINVAL, "%s: %s \"%s\" not found", files, field, name);
}

/* ---- fields ---- */

/* Stores a new absolute path for a file named in kf and checks it is readable. */
static lg_rc file_field(kset *s, kfile *kf, const char *where, const char *key, const char *name,
                        char **out) {
  *out = name[0] == '/' ? strdup(name) : NULL;
  if (name[0] != '/' && asprintf(out, "%s/%s", kf->dir, name) < 0)
    *out = NULL;
  if (!*out)
    return lg_fail(s->err, s->errlen, LG_ENOMEM, "out of memory");
  if (access(*out, R_OK) != 0)
    return lg_fail(s->err, s->errlen, LG_EIO, "%s: %s: %s %s: %s", kf->path, where, key, *out,
                   strerror(errno));
  return LG_OK;
}

/* Stores the PEM text of a *-data field (base64 of PEM). */
static lg_rc data_field(kset *s, kfile *kf, const char *where, const char *key, const char *b64,
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
  rc = lg_fail(s->err, s->errlen, LG_ENOMEM, "out of memory");
  goto out;
bad:
  rc = lg_fail(s->err, s->errlen, LG_EINVAL, "%s: %s: %s is not base64 of PEM data", kf->path,
               where, key);
out:
  lg_kube_config_secret_free(pem);
  if (clean)
    OPENSSL_cleanse(clean, n);
  free(clean);
  return rc;
}

/* Stores data (preferred, as in kubectl) or file of a PEM field; neither is fine. */
static lg_rc pem_field(kset *s, kfile *kf, yaml_node_t *map, const char *where, const char *key,
                       char **file_out, char **pem_out) {
  char data_key[64];
  const char *file, *data;
  lg_rc rc;
  snprintf(data_key, sizeof data_key, "%s-data", key);
  rc = get_str(s, kf, map, data_key, where, &data);
  if (!rc)
    rc = get_str(s, kf, map, key, where, &file);
  if (rc)
    return rc;
  if (data)
    return data_field(s, kf, where, data_key, data, pem_out);
  if (file)
    return file_field(s, kf, where, key, file, file_out);
  return LG_OK;
}

/* ---- cluster ---- */

/* proxy-url: the schemes client-go takes; socks5 resolves names at the proxy, as Go's. */
static lg_rc proxy_field(kset *s, kfile *kf, const char *where, const char *url, char **out) {
  static const char *const schemes[][2] = {
      {"http://", "http://"}, {"https://", "https://"}, {"socks5://", "socks5h://"}};
  for (size_t i = 0; i < sizeof schemes / sizeof *schemes; i++) {
    size_t n = strlen(schemes[i][0]);
    if (strncasecmp(url, schemes[i][0], n) == 0 && url[n]) {
      if (asprintf(out, "%s%s", schemes[i][1], url + n) < 0) {
        *out = NULL;
        return lg_fail(s->err, s->errlen, LG_ENOMEM, "out of memory");
      }
      return LG_OK;
    }
  }
  return lg_fail(s->err, s->errlen, LG_EINVAL,
                 "%s: %s: proxy-url \"%s\" must be an http://, https:// or socks5:// URL", kf->path,
                 where, url);
}

static lg_rc load_cluster(kset *s, kfile *kf, yaml_node_t *cluster, const char *where,
                          lg_kube_config *c) {
  const char *server, *name, *proxy;
  char prefix[512];
  lg_rc rc;

  rc = get_str(s, kf, cluster, "server", where, &server);
  if (!rc)
    rc = get_str(s, kf, cluster, "tls-server-name", where, &name);
  if (!rc)
    rc = get_str(s, kf, cluster, "proxy-url", where, &proxy);
  if (!rc)
    rc = get_bool(s, kf, cluster, "insecure-skip-tls-verify", where, &c->insecure);
  if (rc)
    return rc;
  if (!server)
    return lg_fail(s->err, s->errlen, LG_EINVAL, "%s: %s: server is missing", kf->path, where);
  snprintf(prefix, sizeof prefix, "%s: %s: ", kf->path, where);
  rc = lg_kube_config_https(server, prefix, &c->server, s->err, s->errlen);
  if (!rc && name && !(c->tls_server_name = strdup(name)))
    rc = lg_fail(s->err, s->errlen, LG_ENOMEM, "out of memory");
  if (!rc && proxy)
    rc = proxy_field(s, kf, where, proxy, &c->proxy_url);
  if (!rc)
    rc = pem_field(s, kf, cluster, where, "certificate-authority", &c->ca_file, &c->ca_pem);
  return rc;
}

/* ---- user ---- */

/* What each refused auth-provider should be replaced by. */
static const char *provider_hint(const char *name) {
  if (name && !strcmp(name, "gcp"))
    return "gke-gcloud-auth-plugin";
  if (name && !strcmp(name, "azure"))
    return "kubelogin (Azure/kubelogin)";
  if (name && !strcmp(name, "oidc"))
    return "kubelogin (int128/kubelogin) or your identity provider's plugin";
  return "your provider's exec credential plugin";
}

static lg_rc load_user(kset *s, kfile *kf, yaml_node_t *user, const char *where, lg_kube_config *c,
                       yaml_node_t **exec) {
  static const char *const unsupported[][2] = {
      {"username", "basic authentication"},
      {"password", "basic authentication"},
      {"as", "impersonation"},
      {"as-groups", "impersonation"},
      {"as-uid", "impersonation"},
  };
  yaml_node_t *provider = map_get(kf, user, "auth-provider");
  const char *token, *token_file, *pname = NULL;
  lg_rc rc;

  if (!is_null(provider)) {
    yaml_node_t *n = map_get(kf, provider, "name");
    pname = n && is_text(n) ? scalar(n) : NULL;
    return lg_fail(s->err, s->errlen, LG_EINVAL,
                   "%s: %s: auth-provider \"%s\" is not supported (client-go removed the "
                   "in-tree providers): use an exec credential plugin, e.g. %s",
                   kf->path, where, pname ? pname : "", provider_hint(pname));
  }
  for (size_t i = 0; i < sizeof unsupported / sizeof *unsupported; i++)
    if (!is_null(map_get(kf, user, unsupported[i][0])))
      return lg_fail(s->err, s->errlen, LG_EINVAL,
                     "%s: %s: %s is not supported (%s); use token, tokenFile, a client "
                     "certificate or an exec plugin",
                     kf->path, where, unsupported[i][0], unsupported[i][1]);
  *exec = map_get(kf, user, "exec");
  if (is_null(*exec))
    *exec = NULL;
  else if ((*exec)->type != YAML_MAPPING_NODE)
    return lg_fail(s->err, s->errlen, LG_EINVAL, "%s: %s: exec must be a mapping", kf->path, where);
  rc = get_str(s, kf, user, "token", where, &token);
  if (!rc)
    rc = get_str(s, kf, user, "tokenFile", where, &token_file);
  if (!rc && token && !(c->token = strdup(token)))
    rc = lg_fail(s->err, s->errlen, LG_ENOMEM, "out of memory");
  if (!rc && token_file)
    rc = file_field(s, kf, where, "tokenFile", token_file, &c->token_file);
  if (!rc)
    rc = pem_field(s, kf, user, where, "client-certificate", &c->cert_file, &c->cert_pem);
  if (!rc)
    rc = pem_field(s, kf, user, where, "client-key", &c->key_file, &c->key_pem);
  if (rc)
    return rc;
  if (!c->cert_file && !c->cert_pem && (c->key_file || c->key_pem))
    return lg_fail(s->err, s->errlen, LG_EINVAL, "%s: %s: client-key without client-certificate",
                   kf->path, where);
  if ((c->cert_file || c->cert_pem) && !c->key_file && !c->key_pem)
    return lg_fail(s->err, s->errlen, LG_EINVAL, "%s: %s: client-certificate without client-key",
                   kf->path, where);
  return LG_OK;
}

/* ---- exec plugins ---- */

/* A YAML node as JSON (new): plain scalars typed as YAML 1.1 does (null, bool, numbers). */
static json_t *to_json(kfile *kf, yaml_node_t *n, int depth) {
  json_t *j = NULL;
  if (!n || depth > 32)
    return NULL;
  if (n->type == YAML_SCALAR_NODE) {
    const char *v = scalar(n);
    char *end;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
      return json_stringn(v, n->data.scalar.length);
    if (is_null(n))
      return json_null();
    if (!strcmp(v, "true") || !strcmp(v, "false"))
      return json_boolean(v[0] == 't');
    errno = 0;
    long long i = strtoll(v, &end, 10);
    if (!errno && end != v && !*end)
      return json_integer((json_int_t)i);
    double d = strtod(v, &end);
    if (end != v && !*end)
      return json_real(d);
    return json_stringn(v, n->data.scalar.length);
  }
  if (n->type == YAML_SEQUENCE_NODE) {
    j = json_array();
    for (yaml_node_item_t *i = n->data.sequence.items.start; j && i < n->data.sequence.items.top;
         i++)
      if (json_array_append_new(j, to_json(kf, yaml_document_get_node(&kf->doc, *i), depth + 1)))
        return json_decref(j), NULL;
    return j;
  }
  j = json_object();
  for (yaml_node_pair_t *p = n->data.mapping.pairs.start; j && p < n->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node(&kf->doc, p->key);
    if (!k || !is_text(k) ||
        json_object_set_new(j, scalar(k),
                            to_json(kf, yaml_document_get_node(&kf->doc, p->value), depth + 1)))
      return json_decref(j), NULL;
  }
  return j;
}

/* Base64 of the CA bundle (data, else the file's contents) as a new string; NULL: none. */
static lg_rc ca_base64(kset *s, const lg_kube_config *c, char **out) {
  char *pem = c->ca_pem, *buf = NULL;
  size_t n = 0;
  FILE *f;
  *out = NULL;
  if (!pem && c->ca_file) {
    if (!(buf = malloc(MAX_CA_FILE + 1)) || !(f = fopen(c->ca_file, "rb"))) {
      free(buf);
      return lg_fail(s->err, s->errlen, LG_EIO, "cannot read CA file %s", c->ca_file);
    }
    n = fread(buf, 1, MAX_CA_FILE, f);
    fclose(f);
    buf[n] = '\0';
    pem = buf;
  }
  if (pem && (n = strlen(pem)) > 0 && (*out = malloc(4 * ((n + 2) / 3) + 1)))
    EVP_EncodeBlock((unsigned char *)*out, (const unsigned char *)pem, (int)n);
  free(buf);
  return pem && n && !*out ? lg_fail(s->err, s->errlen, LG_ENOMEM, "out of memory") : LG_OK;
}

/* spec.cluster of the ExecCredential (provideClusterInfo), from the final config. */
static lg_rc cluster_info(kset *s, kfile *ckf, yaml_node_t *cluster, const lg_kube_config *c,
                          json_t **out) {
  json_t *o = json_pack("{s:s}", "server", c->server);
  yaml_node_t *exts = map_get(ckf, cluster, "extensions");
  char *ca = NULL;
  lg_rc rc = ca_base64(s, c, &ca);
  bool ok = o && !rc;

  if (ok && c->tls_server_name)
    ok = !json_object_set_new(o, "tls-server-name", json_string(c->tls_server_name));
  if (ok && c->insecure)
    ok = !json_object_set_new(o, "insecure-skip-tls-verify", json_true());
  if (ok && ca)
    ok = !json_object_set_new(o, "certificate-authority-data", json_string(ca));
  if (ok && c->proxy_url)
    ok = !json_object_set_new(o, "proxy-url", json_string(c->proxy_url));
  for (yaml_node_item_t *i =
           exts && exts->type == YAML_SEQUENCE_NODE ? exts->data.sequence.items.start : NULL;
       ok && i && i < exts->data.sequence.items.top; i++) {
    yaml_node_t *e = yaml_document_get_node(&ckf->doc, *i), *n = map_get(ckf, e, "name");
    if (n && is_text(n) && !strcmp(scalar(n), EXEC_EXTENSION))
      ok = !json_object_set_new(o, "config", to_json(ckf, map_get(ckf, e, "extension"), 0));
  }
  free(ca);
  if (!ok && !rc)
    rc = lg_fail(s->err, s->errlen, LG_ENOMEM, "out of memory");
  if (rc)
    json_decref(o);
  else
    *out = o;
  return rc;
}

/* Reads a sequence of strings (args) into v (borrowed strings); n set. */
static lg_rc get_list(kset *s, kfile *kf, yaml_node_t *seq, const char *where, const char *key,
                      const char **v, size_t *n) {
  *n = 0;
  if (is_null(seq))
    return LG_OK;
  if (seq->type != YAML_SEQUENCE_NODE)
    return lg_fail(s->err, s->errlen, LG_EINVAL, "%s: %s: exec.%s must be a list", kf->path, where,
                   key);
  for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top;
       i++) {
    yaml_node_t *item = yaml_document_get_node(&kf->doc, *i);
    if (*n == MAX_EXEC_ITEMS || !item || !is_text(item))
      return lg_fail(s->err, s->errlen, LG_EINVAL, "%s: %s: exec.%s must be at most %d strings",
                     kf->path, where, key, MAX_EXEC_ITEMS);
    v[(*n)++] = scalar(item);
  }
  return LG_OK;
}

/* env: [{name, value}] as "NAME=value" strings (new) in v. */
static lg_rc get_env(kset *s, kfile *kf, yaml_node_t *seq, const char *where, char **v, size_t *n) {
  size_t k = 0;
  lg_rc rc;
  *n = 0;
  if (is_null(seq))
    return LG_OK;
  if (seq->type != YAML_SEQUENCE_NODE)
    return lg_fail(s->err, s->errlen, LG_EINVAL, "%s: %s: exec.env must be a list", kf->path,
                   where);
  for (yaml_node_item_t *i = seq->data.sequence.items.start; i < seq->data.sequence.items.top;
       i++) {
    yaml_node_t *e = yaml_document_get_node(&kf->doc, *i);
    const char *name, *value;
    if (k == MAX_EXEC_ITEMS)
      return lg_fail(s->err, s->errlen, LG_EINVAL, "%s: %s: exec.env has more than %d entries",
                     kf->path, where, MAX_EXEC_ITEMS);
    if ((rc = get_str(s, kf, e, "name", where, &name)) ||
        (rc = get_str(s, kf, e, "value", where, &value)))
      return rc;
    if (!name || !*name || strchr(name, '='))
      return lg_fail(s->err, s->errlen, LG_EINVAL,
                     "%s: %s: exec.env entries need a name "
                     "(without '=')",
                     kf->path, where);
    if (asprintf(&v[k], "%s=%s", name, value ? value : "") < 0)
      return lg_fail(s->err, s->errlen, LG_ENOMEM, "out of memory");
    *n = ++k;
  }
  return LG_OK;
}

/* The exec plugin of a user, with spec.cluster from the final config when it asks. */
static lg_rc make_exec(kset *s, kfile *kf, yaml_node_t *exec, const char *where, kfile *ckf,
                       yaml_node_t *cluster, lg_kube_config *c) {
  const char *command = NULL, *version = NULL, *mode = NULL, *hint = NULL;
  const char *args[MAX_EXEC_ITEMS];
  char *env[MAX_EXEC_ITEMS], *path = NULL, name[600];
  size_t n_args = 0, n_env = 0;
  bool provide = false;
  json_t *cl = NULL;
  lg_rc rc;

  if ((rc = get_str(s, kf, exec, "command", where, &command)) ||
      (rc = get_str(s, kf, exec, "apiVersion", where, &version)) ||
      (rc = get_str(s, kf, exec, "interactiveMode", where, &mode)) ||
      (rc = get_str(s, kf, exec, "installHint", where, &hint)) ||
      (rc = get_bool(s, kf, exec, "provideClusterInfo", where, &provide)) ||
      (rc = get_list(s, kf, map_get(kf, exec, "args"), where, "args", args, &n_args)) ||
      (rc = get_env(s, kf, map_get(kf, exec, "env"), where, env, &n_env)))
    goto out;
  if (!command || !*command || !version || !*version) {
    rc = lg_fail(s->err, s->errlen, LG_EINVAL, "%s: %s: exec.%s must be set", kf->path, where,
                 !command || !*command ? "command" : "apiVersion");
    goto out;
  }
  /* A command with a slash is relative to the kubeconfig's directory, as in client-go; a
   * bare name is looked up in PATH. */
  if (command[0] != '/' && strchr(command, '/')) {
    if (asprintf(&path, "%s/%s", kf->dir, command) < 0) {
      path = NULL;
      rc = lg_fail(s->err, s->errlen, LG_ENOMEM, "out of memory");
      goto out;
    }
    command = path;
  }
  if (provide && (rc = cluster_info(s, ckf, cluster, c, &cl)))
    goto out;
  snprintf(name, sizeof name, "%s in %s", where, kf->path);
  lg_execcred_opts o = {name, command, args, n_args, (const char *const *)env, n_env, version, mode,
                        hint, cl,      0,    0};
  rc = lg_execcred_new(&o, &c->exec, s->err, s->errlen);

out:
  for (size_t i = 0; i < n_env; i++)
    lg_kube_config_secret_free(env[i]);
  free(path);
  json_decref(cl);
  return rc;
}

/* ---- contexts ---- */

/* The context (f->context, else the first current-context), its cluster and user. */
static lg_rc load_context(kset *s, const lg_kube_flags *f, lg_kube_config *c) {
  const char *current = f ? f->context : NULL, *cluster_name, *user_name, *ns;
  kfile *xkf = NULL, *ckf = NULL, *ukf = NULL;
  yaml_node_t *ctx, *cluster, *user, *exec = NULL;
  char where[300], uwhere[300], files[1024];
  lg_rc rc;

  for (size_t i = 0; !current && i < s->n; i++) {
    kfile *kf = &s->files[i];
    if ((rc = get_str(s, kf, kf->root, "current-context", "top level", &current)))
      return rc;
    current = current && *current ? current : NULL;
  }
  if (!current) {
    file_list(s, files, sizeof files);
    return lg_fail(s->err, s->errlen, LG_EINVAL, "%s: current-context is not set (give --context)",
                   files);
  }
  if ((rc = find_map(s, "contexts", "context", current, &xkf, &ctx)))
    return rc;
  snprintf(where, sizeof where, "context \"%s\"", current);
  if ((rc = get_str(s, xkf, ctx, "cluster", where, &cluster_name)) ||
      (rc = get_str(s, xkf, ctx, "user", where, &user_name)) ||
      (rc = get_str(s, xkf, ctx, "namespace", where, &ns)))
    return rc;
  if (!cluster_name)
    return lg_fail(s->err, s->errlen, LG_EINVAL, "%s: %s: cluster is missing", xkf->path, where);
  if (asprintf(&c->source, "kubeconfig %s, context \"%s\"", xkf->path, current) < 0 ||
      (ns && *ns && !(c->namespace = strdup(ns)))) {
    c->source = NULL;
    return lg_fail(s->err, s->errlen, LG_ENOMEM, "out of memory");
  }

  if ((rc = find_map(s, "clusters", "cluster", cluster_name, &ckf, &cluster)))
    return rc;
  snprintf(where, sizeof where, "cluster \"%s\"", cluster_name);
  if ((rc = load_cluster(s, ckf, cluster, where, c)))
    return rc;
  /* A context without a user is anonymous. */
  if (user_name) {
    if ((rc = find_map(s, "users", "user", user_name, &ukf, &user)))
      return rc;
    snprintf(uwhere, sizeof uwhere, "user \"%s\"", user_name);
    if ((rc = load_user(s, ukf, user, uwhere, c, &exec)))
      return rc;
  }
  if ((rc = lg_kube_config_override(c, f, s->err, s->errlen)))
    return rc;
  /* A token wins over the plugin, as in client-go (the plugin only runs without one). */
  if (exec && !c->token && !c->token_file)
    rc = make_exec(s, ukf, exec, uwhere, ckf, cluster, c);
  return rc;
}

/* ---- files ---- */

/* Reads path as the next file of s; a missing file is skipped unless required. */
static lg_rc read_file(kset *s, const char *path, bool required) {
  kfile *kf = &s->files[s->n];
  yaml_parser_t parser;
  FILE *f = fopen(path, "rb");
  char *slash;
  lg_rc rc = LG_OK;

  if (!f && errno == ENOENT && !required)
    return LG_OK;
  if (!f)
    return lg_fail(s->err, s->errlen, LG_EIO, "cannot open kubeconfig %s: %s", path,
                   strerror(errno));
  kf->path = path;
  if (!(kf->dir = strdup(path)) || !yaml_parser_initialize(&parser)) {
    fclose(f);
    free(kf->dir);
    kf->dir = NULL;
    return lg_fail(s->err, s->errlen, LG_ENOMEM, "out of memory");
  }
  s->n++;
  slash = strrchr(kf->dir, '/');
  if (!slash)
    strcpy(kf->dir, ".");
  else
    slash[slash == kf->dir] = '\0'; /* "/config" keeps "/" */
  yaml_parser_set_input_file(&parser, f);
  if (!yaml_parser_load(&parser, &kf->doc)) {
    rc = lg_fail(s->err, s->errlen, LG_EINVAL, "%s: line %zu, column %zu: %s%s%s", path,
                 parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                 parser.problem ? parser.problem : "malformed YAML", parser.context ? " " : "",
                 parser.context ? parser.context : "");
  } else {
    kf->has_doc = true;
    /* An empty file is an empty kubeconfig, as for kubectl. */
    kf->root = yaml_document_get_root_node(&kf->doc);
    if (kf->root && kf->root->type != YAML_MAPPING_NODE)
      rc = lg_fail(s->err, s->errlen, LG_EINVAL, "%s: not a kubeconfig (expected a mapping)", path);
  }
  yaml_parser_delete(&parser);
  fclose(f);
  return rc;
}

lg_rc lg_kcfile_load(const char *const *paths, size_t n, bool required, const lg_kube_flags *f,
                     lg_kube_config *out, char *err, size_t errlen) {
  kset s = {.err = err, .errlen = errlen};
  lg_kube_config c = {0};
  char files[1024] = "";
  lg_rc rc = LG_OK;

  if (!out || (n && !paths))
    return lg_fail(err, errlen, LG_EINVAL, "no kubeconfig paths or output config");
  memset(out, 0, sizeof *out);
  if (!(s.files = calloc(n ? n : 1, sizeof *s.files)))
    return lg_fail(err, errlen, LG_ENOMEM, "out of memory");
  for (size_t i = 0; i < n && !rc; i++)
    if (paths[i] && *paths[i])
      rc = read_file(&s, paths[i], required);
  if (!rc && s.n == 0) {
    for (size_t i = 0; i < n; i++)
      if (paths[i] && *paths[i])
        snprintf(files + strlen(files), sizeof files - strlen(files), "%s%s", *files ? ":" : "",
                 paths[i]);
    rc = lg_fail(err, errlen, LG_EIO, "no kubeconfig: %s does not exist",
                 files[0] ? files : "(none)");
  }
  if (!rc)
    rc = load_context(&s, f, &c);

  for (size_t i = 0; i < s.n; i++) {
    if (s.files[i].has_doc)
      yaml_document_delete(&s.files[i].doc);
    free(s.files[i].dir);
  }
  free(s.files);
  if (rc)
    lg_kube_config_free(&c);
  else
    *out = c;
  return rc;
}
