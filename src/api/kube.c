/* kube.c -- a small Kubernetes API client: JSON calls and watch streams over libcurl, with
 * the configuration of kubeconfig.c and the credentials of exec plugins (execcred.c). */
#define _GNU_SOURCE /* asprintf */
#include "kube.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "k8sname.h"
#include "utf8.h"

#define MAX_BODY (16L * 1024 * 1024) /* largest answer kept */

/* Returns a new string a + b, or NULL when out of memory. */
static char *concat(const char *a, const char *b) {
  char *s;
  return asprintf(&s, "%s%s", a, b) < 0 ? NULL : s;
}

/* ---- the client ---- */

struct lg_kube {
  CURL *curl;
  lg_kube_config cfg; /* a copy; curl points into it */
  char *base;         /* URL prefix: the server, its host replaced by tls-server-name if set */
  char *host;         /* "Host: <the server's host:port>" when tls-server-name is set */
  struct curl_slist *connect_to; /* tls-server-name:port -> the server's host:port */
  char errbuf[CURL_ERROR_SIZE];
};

/* A credential for one call: the token to send, and where it came from. */
typedef struct {
  char *token;           /* new, or NULL */
  lg_execcred_cred exec; /* what an exec plugin gave (zeroed without one) */
} call_cred;

/* The answer being received. */
typedef struct {
  char *data;
  size_t len, cap;
  bool too_big, no_memory;
} buffer;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* Keeps the values of Warning headers ("299 - \"text\""): what admission webhooks warn. */
static size_t on_header(char *p, size_t size, size_t n, void *userdata) {
  lg_kube_result *out = userdata;
  size_t len = size * n, used;
  if (!out || len < 8 || strncasecmp(p, "warning:", 8) != 0)
    return len;
  used = strlen(out->warnings);
  p += 8;
  len -= 8;
  while (len && (*p == ' ' || *p == '\t'))
    p++, len--;
  while (len && (p[len - 1] == '\r' || p[len - 1] == '\n'))
    len--;
  if (used + len + 2 < sizeof out->warnings) {
    memcpy(out->warnings + used, p, len);
    out->warnings[used + len] = '\n';
    out->warnings[used + len + 1] = '\0';
  }
  return size * n;
}

static size_t on_data(char *p, size_t size, size_t n, void *userdata) {
  buffer *b = userdata;
  size_t add = size * n;
  if (add > (size_t)MAX_BODY - b->len) {
    b->too_big = true;
    return 0;
  }
  if (b->len + add + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    char *data;
    while (cap < b->len + add + 1)
      cap *= 2;
    if (!(data = realloc(b->data, cap))) {
      b->no_memory = true;
      return 0;
    }
    b->data = data;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, add);
  b->len += add;
  b->data[b->len] = '\0';
  return add;
}

#define SETOPT(opt, val)                        \
  do {                                          \
    if (cc == CURLE_OK)                         \
      cc = curl_easy_setopt(k->curl, opt, val); \
  } while (0)

/* Sets a client certificate or key from memory (preferred) or from a file, if either is set. */
static CURLcode set_pem(CURL *curl, CURLoption blob_opt, const char *pem, CURLoption file_opt,
                        const char *file, CURLoption type_opt) {
  struct curl_blob blob = {(void *)pem, pem ? strlen(pem) : 0, CURL_BLOB_COPY};
  CURLcode cc = CURLE_OK;
  if (pem)
    cc = curl_easy_setopt(curl, blob_opt, &blob);
  else if (file)
    cc = curl_easy_setopt(curl, file_opt, file);
  if (cc == CURLE_OK && (pem || file))
    cc = curl_easy_setopt(curl, type_opt, "PEM");
  return cc;
}

/* Options that stay the same for every call: TLS, identity, limits. */
static CURLcode setup_handle(lg_kube *k) {
  const lg_kube_config *c = &k->cfg;
  CURLcode cc = CURLE_OK;
  SETOPT(CURLOPT_ERRORBUFFER, k->errbuf);
  SETOPT(CURLOPT_NOSIGNAL, 1L);
  SETOPT(CURLOPT_USERAGENT, "leaseguard/" LG_VERSION);
  SETOPT(CURLOPT_PROTOCOLS_STR, "https");
  SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
  /* insecure-skip-tls-verify: allowed as kubectl allows it; the command warns at start. */
  SETOPT(CURLOPT_SSL_VERIFYPEER, c->insecure ? 0L : 1L);
  SETOPT(CURLOPT_SSL_VERIFYHOST, c->insecure ? 0L : 2L);
  if (c->proxy_url)
    SETOPT(CURLOPT_PROXY, c->proxy_url);
  if (k->connect_to)
    SETOPT(CURLOPT_CONNECT_TO, k->connect_to);
  SETOPT(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
  SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
  SETOPT(CURLOPT_WRITEFUNCTION, on_data);
  SETOPT(CURLOPT_HEADERFUNCTION, on_header);
  SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)MAX_BODY);
  /* A configured CA is the only one trusted, as with client-go. */
  if (c->ca_pem) {
    struct curl_blob blob = {c->ca_pem, strlen(c->ca_pem), CURL_BLOB_COPY};
    SETOPT(CURLOPT_CAINFO_BLOB, &blob);
    SETOPT(CURLOPT_CAINFO, (char *)NULL);
    SETOPT(CURLOPT_CAPATH, (char *)NULL);
  } else if (c->ca_file) {
    SETOPT(CURLOPT_CAINFO, c->ca_file);
    SETOPT(CURLOPT_CAPATH, (char *)NULL);
  }
  if (cc == CURLE_OK)
    cc = set_pem(k->curl, CURLOPT_SSLCERT_BLOB, c->cert_pem, CURLOPT_SSLCERT, c->cert_file,
                 CURLOPT_SSLCERTTYPE);
  if (cc == CURLE_OK)
    cc = set_pem(k->curl, CURLOPT_SSLKEY_BLOB, c->key_pem, CURLOPT_SSLKEY, c->key_file,
                 CURLOPT_SSLKEYTYPE);
  return cc;
}

/* With tls-server-name, the URL names that host (so curl sends it as SNI and checks the
 * certificate for it), CONNECT_TO sends the connection to the server's own host and port,
 * and the Host header keeps the server's name, as client-go does. */
static lg_rc server_name(lg_kube *k, char *err, size_t errlen) {
  const char *server = k->cfg.server, *auth = server + 8, *rest, *colon;
  const char *name = k->cfg.tls_server_name;
  char *route = NULL;
  struct curl_slist *l;
  size_t host_len;
  bool ipv6_name;

  if (!name)
    return (k->base = strdup(server)) ? LG_OK : lg_fail(err, errlen, LG_ENOMEM, "out of memory");
  rest = auth + strcspn(auth, "/?#");
  if (auth[0] == '[') {
    const char *close = memchr(auth, ']', (size_t)(rest - auth));
    if (!close)
      return lg_fail(err, errlen, LG_EINVAL, "server \"%s\" has a malformed IPv6 address", server);
    host_len = (size_t)(close + 1 - auth);
  } else {
    colon = memchr(auth, ':', (size_t)(rest - auth));
    host_len = colon ? (size_t)(colon - auth) : (size_t)(rest - auth);
  }
  const char *port = auth[host_len] == ':' ? auth + host_len + 1 : "443";
  int port_len = auth[host_len] == ':' ? (int)(rest - port) : 3;
  ipv6_name = strchr(name, ':') != NULL;
  if (asprintf(&k->base, "https://%s%s%s:%.*s%s", ipv6_name ? "[" : "", name, ipv6_name ? "]" : "",
               port_len, port, rest) < 0)
    k->base = NULL;
  if (asprintf(&k->host, "Host: %.*s", (int)(rest - auth), auth) < 0)
    k->host = NULL;
  if (asprintf(&route, "%s%s%s:%.*s:%.*s:%.*s", ipv6_name ? "[" : "", name, ipv6_name ? "]" : "",
               port_len, port, (int)host_len, auth, port_len, port) < 0)
    route = NULL;
  l = route ? curl_slist_append(NULL, route) : NULL;
  free(route);
  k->connect_to = l; /* freed, with base and host, by lg_kube_free */
  if (!k->base || !k->host || !l)
    return lg_fail(err, errlen, LG_ENOMEM, "out of memory");
  return LG_OK;
}

lg_rc lg_kube_new(const lg_kube_config *cfg, lg_kube **out, char *err, size_t errlen) {
  lg_kube *k = NULL;
  CURLcode cc;
  lg_rc rc = LG_OK;

  if (!out || !cfg)
    return lg_fail(err, errlen, LG_EINVAL, "no config or output client");
  *out = NULL;
  if (!cfg->server || strncasecmp(cfg->server, "https://", 8) != 0)
    return lg_fail(err, errlen, LG_EINVAL, "server \"%s\" must be an https:// URL",
                   cfg->server ? cfg->server : "");
  pthread_once(&curl_once, curl_init);
  if (curl_init_rc != CURLE_OK)
    return lg_fail(err, errlen, LG_EIO, "curl_global_init: %s", curl_easy_strerror(curl_init_rc));

  if (!(k = calloc(1, sizeof *k)) || !lg_kube_config_copy(cfg, &k->cfg)) {
    rc = lg_fail(err, errlen, LG_ENOMEM, "out of memory");
    goto out;
  }
  if ((rc = server_name(k, err, errlen)))
    goto out;
  if (!(k->curl = curl_easy_init())) {
    rc = lg_fail(err, errlen, LG_ENOMEM, "curl_easy_init failed");
    goto out;
  }
  cc = setup_handle(k);
  if (cc != CURLE_OK)
    rc =
        lg_fail(err, errlen, LG_ETLS, "cannot set up the HTTPS client: %s", curl_easy_strerror(cc));

out:
  if (rc) {
    lg_kube_free(k);
    k = NULL;
  }
  *out = k;
  return rc;
}

void lg_kube_free(lg_kube *k) {
  if (!k)
    return;
  if (k->curl)
    curl_easy_cleanup(k->curl);
  curl_slist_free_all(k->connect_to);
  free(k->base);
  free(k->host);
  lg_kube_config_free(&k->cfg);
  free(k);
}

void lg_kube_result_free(lg_kube_result *r) {
  if (!r)
    return;
  json_decref(r->body);
  r->body = NULL;
}

/* Appends line to *h; false when out of memory (*h is unchanged). */
static bool add_header(struct curl_slist **h, const char *line) {
  struct curl_slist *n = curl_slist_append(*h, line);
  if (n)
    *h = n;
  return n != NULL;
}

/* Frees a header list, wiping the Authorization line. */
static void free_headers(struct curl_slist *h) {
  for (struct curl_slist *p = h; p; p = p->next)
    OPENSSL_cleanse(p->data, strlen(p->data));
  curl_slist_free_all(h);
}

/* Builds the request headers (ctype: the body's Content-Type, NULL without a body); the token
 * must fit in one header line. */
static lg_rc headers(const char *token, const char *host, const char *ctype,
                     struct curl_slist **out, lg_kube_result *res) {
  struct curl_slist *h = NULL;
  char *auth = NULL;
  bool ok;

  *out = NULL;
  for (const char *p = token; p && *p; p++)
    if (!isgraph((unsigned char)*p)) {
      snprintf(res->message, sizeof res->message,
               "the bearer token has a character not allowed in an HTTP header");
      return LG_EINVAL;
    }
  ok = !token || (auth = concat("Authorization: Bearer ", token)) != NULL;
  ok = ok && add_header(&h, "Accept: application/json");
  ok = ok && add_header(&h, "Expect:"); /* no 100-continue wait before large bodies */
  if (ctype) {
    char line[96];
    snprintf(line, sizeof line, "Content-Type: %s", ctype);
    ok = ok && add_header(&h, line);
  }
  ok = ok && (!auth || add_header(&h, auth));
  ok = ok && (!host || add_header(&h, host));
  lg_kube_config_secret_free(auth);
  if (!ok) {
    free_headers(h);
    snprintf(res->message, sizeof res->message, "out of memory");
    return LG_ENOMEM;
  }
  *out = h;
  return LG_OK;
}

/* Fills status, body and message from a completed answer. */
static void read_answer(lg_kube *k, buffer *b, lg_kube_result *res) {
  const char *ctype = NULL;
  json_error_t jerr;
  const char *msg;

  curl_easy_getinfo(k->curl, CURLINFO_RESPONSE_CODE, &res->status);
  curl_easy_getinfo(k->curl, CURLINFO_CONTENT_TYPE, &ctype);
  if (b->len > 0 && ctype && strncasecmp(ctype, "application/json", 16) == 0) {
    res->body = json_loadb(b->data, b->len, JSON_ALLOW_NUL, &jerr);
    if (!res->body)
      snprintf(res->message, sizeof res->message, "malformed JSON in the answer: %s", jerr.text);
  }
  if (res->status < 400)
    return;
  msg = json_string_value(json_object_get(res->body, "message"));
  if (msg && *msg)
    snprintf(res->message, sizeof res->message, "%s", msg);
  else
    snprintf(res->message, sizeof res->message, "HTTP %ld", res->status);
}

/* Sets the method, body, URL, headers and timeout of this call. */
static CURLcode setup_call(lg_kube *k, const char *method, const char *url, const char *payload,
                           struct curl_slist *hdrs, long timeout_ms, buffer *b,
                           lg_kube_result *out) {
  CURLcode cc = CURLE_OK;
  bool head = !strcmp(method, "HEAD");
  SETOPT(CURLOPT_URL, url);
  SETOPT(CURLOPT_HEADERDATA, out);
  SETOPT(CURLOPT_HTTPHEADER, hdrs);
  SETOPT(CURLOPT_TIMEOUT_MS, timeout_ms);
  SETOPT(CURLOPT_WRITEDATA, b);
  if (payload) {
    SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(payload));
    SETOPT(CURLOPT_COPYPOSTFIELDS, payload);
  } else {
    SETOPT(CURLOPT_HTTPGET, 1L);
  }
  SETOPT(CURLOPT_NOBODY, head ? 1L : 0L);
  SETOPT(CURLOPT_CUSTOMREQUEST,
         head || !strcmp(method, payload ? "POST" : "GET") ? (char *)NULL : method);
  return cc;
}

static void cred_free(call_cred *c) {
  lg_kube_config_secret_free(c->token);
  lg_execcred_cred_free(&c->exec);
  c->token = NULL;
}

/* The credential of this call: the token file read now (it rotates), else the token, else
 * the exec plugin's (cached until it expires); a client certificate from the plugin goes
 * to the handle. On failure the message is in out. */
static lg_rc credential(lg_kube *k, call_cred *cred, lg_kube_result *out) {
  const lg_kube_config *c = &k->cfg;
  CURLcode cc = CURLE_OK;
  lg_rc rc;
  memset(cred, 0, sizeof *cred);
  if (!c->exec || c->token || c->token_file)
    return lg_kube_config_token(c, &cred->token, out->message, sizeof out->message);
  rc = lg_execcred_get(c->exec, lg_time_now(), &cred->exec, out->message, sizeof out->message);
  if (rc)
    return rc;
  if (cred->exec.token && !(cred->token = strdup(cred->exec.token))) {
    snprintf(out->message, sizeof out->message, "out of memory");
    return LG_ENOMEM;
  }
  if (cred->exec.cert_pem) {
    cc = set_pem(k->curl, CURLOPT_SSLCERT_BLOB, cred->exec.cert_pem, CURLOPT_SSLCERT, NULL,
                 CURLOPT_SSLCERTTYPE);
    if (cc == CURLE_OK)
      cc = set_pem(k->curl, CURLOPT_SSLKEY_BLOB, cred->exec.key_pem, CURLOPT_SSLKEY, NULL,
                   CURLOPT_SSLKEYTYPE);
  }
  if (cc != CURLE_OK) {
    snprintf(out->message, sizeof out->message, "cannot use the exec plugin's certificate: %s",
             curl_easy_strerror(cc));
    return LG_ETLS;
  }
  return LG_OK;
}

/* After a 401 to a plugin's credential: forget it (the next call runs the plugin again,
 * as client-go does), and try this call once more when it came from the cache, so that a
 * revoked or rotated credential costs no failed call. */
static bool retry_after_401(lg_kube *k, const call_cred *cred, long status) {
  if (status != 401 || !k->cfg.exec || !cred->exec.generation)
    return false;
  lg_execcred_invalidate(k->cfg.exec, cred->exec.generation);
  return !cred->exec.fresh;
}

/* The URL and headers of a call with the credential. On failure the message is in out;
 * *url and *hdrs are the caller's to free either way. */
static lg_rc prepare(lg_kube *k, const char *path, const char *ctype, const call_cred *cred,
                     char **url, struct curl_slist **hdrs, lg_kube_result *out) {
  if (!(*url = concat(k->base, path))) {
    snprintf(out->message, sizeof out->message, "out of memory");
    return LG_ENOMEM;
  }
  return headers(cred->token, k->host, ctype, hdrs, out);
}

/* One try of a call with the credential of this moment. */
static lg_rc call_once(lg_kube *k, const char *method, const char *path, const char *payload,
                       const char *ctype, long timeout_ms, call_cred *cred, lg_kube_result *out) {
  char *url = NULL;
  struct curl_slist *hdrs = NULL;
  buffer b = {0};
  CURLcode cc;
  lg_rc rc;

  memset(out, 0, sizeof *out);
  if ((rc = credential(k, cred, out)) ||
      (rc = prepare(k, path, payload ? ctype : NULL, cred, &url, &hdrs, out)))
    goto out;
  cc = setup_call(k, method, url, payload, hdrs, timeout_ms, &b, out);
  if (cc == CURLE_OK) {
    k->errbuf[0] = '\0';
    cc = curl_easy_perform(k->curl);
  }
  if (b.no_memory) {
    rc = LG_ENOMEM;
    snprintf(out->message, sizeof out->message, "out of memory");
  } else if (b.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
    rc = LG_EIO;
    snprintf(out->message, sizeof out->message, "the answer is larger than %ld MiB",
             MAX_BODY >> 20);
  } else if (cc != CURLE_OK) {
    rc = LG_EIO;
    snprintf(out->message, sizeof out->message, "%s",
             k->errbuf[0] ? k->errbuf : curl_easy_strerror(cc));
  } else {
    read_answer(k, &b, out);
  }

out:
  /* The handle must not keep pointers to what is freed here. */
  curl_easy_setopt(k->curl, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
  curl_easy_setopt(k->curl, CURLOPT_WRITEDATA, (void *)NULL);
  curl_easy_setopt(k->curl, CURLOPT_HEADERDATA, (void *)NULL);
  free_headers(hdrs);
  free(url);
  free(b.data);
  return rc;
}

/* A path that curl would resolve ("..") or the API server would read otherwise than it
 * was built is never sent with our token: a name that was not checked got into it. */
static lg_rc refuse_path(const char *path, lg_kube_result *out) {
  snprintf(out->message, sizeof out->message,
           "refusing to send the API path \"%.120s\": a dot segment or a character that is "
           "not allowed unescaped",
           path);
  lg_utf8_trim(out->message);
  return LG_EINVAL;
}

/* One call with a body of Content-Type ctype, retried once after a 401 to a cached plugin
 * credential. */
static lg_rc call(lg_kube *k, const char *method, const char *path, const json_t *body,
                  const char *ctype, long timeout_ms, lg_kube_result *out) {
  char *payload = NULL;
  call_cred cred = {0};
  lg_rc rc;

  if (!out)
    return LG_EINVAL;
  memset(out, 0, sizeof *out);
  if (!k || !method || !*method || strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(method) ||
      !path || path[0] != '/' || timeout_ms <= 0) {
    snprintf(out->message, sizeof out->message, "invalid method, path or timeout");
    return LG_EINVAL;
  }
  if (!lg_k8sname_path_ok(path))
    return refuse_path(path, out);
  if (body && !(payload = json_dumps(body, JSON_COMPACT))) {
    snprintf(out->message, sizeof out->message, "cannot serialize the request body");
    return LG_EJSON;
  }
  rc = call_once(k, method, path, payload, ctype, timeout_ms, &cred, out);
  /* Authentication comes before anything else: a 401 changed nothing, so trying again is
   * safe for every method. */
  if (!rc && retry_after_401(k, &cred, out->status)) {
    lg_kube_result_free(out);
    cred_free(&cred);
    rc = call_once(k, method, path, payload, ctype, timeout_ms, &cred, out);
  }
  cred_free(&cred);
  free(payload);
  return rc;
}

lg_rc lg_kube_call(lg_kube *k, const char *method, const char *path, const json_t *body,
                   long timeout_ms, lg_kube_result *out) {
  /* A PATCH body is a JSON merge patch (RFC 7386): kube-apiserver refuses application/json. */
  const char *ctype =
      method && !strcmp(method, "PATCH") ? "application/merge-patch+json" : "application/json";
  return call(k, method, path, body, ctype, timeout_ms, out);
}

lg_rc lg_kube_json_patch(lg_kube *k, const char *path, const json_t *ops, long timeout_ms,
                         lg_kube_result *out) {
  return call(k, "PATCH", path, ops, "application/json-patch+json", timeout_ms, out);
}

/* ---- streams (WATCH) ---- */

/* A stream being received: complete lines go to on_line; an error answer is kept whole. */
typedef struct {
  lg_kube *k;
  int (*on_line)(void *ud, const char *line, size_t len);
  void *ud;
  buffer data;  /* the unfinished line, or the error answer */
  long status;  /* 0 until the first body bytes */
  bool stopped; /* on_line asked to stop */
} stream;

static bool ok_status(long status) { return status >= 200 && status < 300; }

/* Hands every complete line in s->data to on_line and keeps the unfinished rest. */
static bool deliver_lines(stream *s) {
  char *start = s->data.data, *end = start + s->data.len, *nl;
  while ((nl = memchr(start, '\n', (size_t)(end - start)))) {
    size_t len = (size_t)(nl - start);
    if (len && start[len - 1] == '\r')
      len--;
    start[len] = '\0';
    if (len && s->on_line(s->ud, start, len)) {
      s->stopped = true;
      return false;
    }
    start = nl + 1;
  }
  s->data.len = (size_t)(end - start);
  memmove(s->data.data, start, s->data.len);
  return true;
}

static size_t on_stream(char *p, size_t size, size_t n, void *userdata) {
  stream *s = userdata;
  size_t len = size * n;
  if (!s->status)
    curl_easy_getinfo(s->k->curl, CURLINFO_RESPONSE_CODE, &s->status);
  /* on_data limits the buffer, so one line may be at most MAX_BODY bytes. */
  if (on_data(p, size, n, &s->data) != len)
    return 0;
  if (ok_status(s->status) && !deliver_lines(s))
    return 0;
  return len;
}

static int on_stream_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
                              curl_off_t ultotal, curl_off_t ulnow) {
  stream *s = userdata;
  (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
  if (!s->stopped && s->on_line(s->ud, NULL, 0))
    s->stopped = true;
  return s->stopped;
}

/* One try of a stream with the credential of this moment. */
static lg_rc stream_once(lg_kube *k, const char *path, long timeout_ms,
                         int (*on_line)(void *ud, const char *line, size_t len), void *ud,
                         call_cred *cred, lg_kube_result *out) {
  stream s = {.k = k, .on_line = on_line, .ud = ud};
  char *url = NULL;
  struct curl_slist *hdrs = NULL;
  CURLcode cc;
  lg_rc rc;

  memset(out, 0, sizeof *out);
  if ((rc = credential(k, cred, out)) || (rc = prepare(k, path, NULL, cred, &url, &hdrs, out)))
    goto out;
  cc = setup_call(k, "GET", url, NULL, hdrs, timeout_ms, NULL, out);
  SETOPT(CURLOPT_WRITEFUNCTION, on_stream);
  SETOPT(CURLOPT_WRITEDATA, &s);
  SETOPT(CURLOPT_NOPROGRESS, 0L);
  SETOPT(CURLOPT_XFERINFOFUNCTION, on_stream_progress);
  SETOPT(CURLOPT_XFERINFODATA, &s);
  SETOPT(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 10000 ? timeout_ms : 10000L);
  if (cc == CURLE_OK) {
    k->errbuf[0] = '\0';
    cc = curl_easy_perform(k->curl);
  }
  if (s.data.no_memory) {
    rc = LG_ENOMEM;
    snprintf(out->message, sizeof out->message, "out of memory");
  } else if (s.data.too_big) {
    rc = LG_EIO;
    snprintf(out->message, sizeof out->message, "a line or answer larger than %ld MiB",
             MAX_BODY >> 20);
  } else if (cc != CURLE_OK && !s.stopped) {
    rc = LG_EIO;
    snprintf(out->message, sizeof out->message, "%s",
             k->errbuf[0] ? k->errbuf : curl_easy_strerror(cc));
  } else if (ok_status(s.status)) {
    out->status = s.status;
  } else {
    read_answer(k, &s.data, out); /* an error answer (or a stop before any byte) */
  }

out:
  /* Back to what lg_kube_call expects; nothing may point at what is freed here. */
  curl_easy_setopt(k->curl, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(k->curl, CURLOPT_NOPROGRESS, 1L);
  curl_easy_setopt(k->curl, CURLOPT_XFERINFOFUNCTION, (curl_xferinfo_callback)NULL);
  curl_easy_setopt(k->curl, CURLOPT_XFERINFODATA, (void *)NULL);
  curl_easy_setopt(k->curl, CURLOPT_CONNECTTIMEOUT_MS, 0L);
  curl_easy_setopt(k->curl, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
  curl_easy_setopt(k->curl, CURLOPT_WRITEDATA, (void *)NULL);
  curl_easy_setopt(k->curl, CURLOPT_HEADERDATA, (void *)NULL);
  free_headers(hdrs);
  free(url);
  free(s.data.data);
  return rc;
}

lg_rc lg_kube_stream(lg_kube *k, const char *path, long timeout_ms,
                     int (*on_line)(void *ud, const char *line, size_t len), void *ud,
                     lg_kube_result *out) {
  call_cred cred = {0};
  lg_rc rc;

  if (!out)
    return LG_EINVAL;
  memset(out, 0, sizeof *out);
  if (!k || !on_line || !path || path[0] != '/' || timeout_ms <= 0) {
    snprintf(out->message, sizeof out->message, "invalid path, callback or timeout");
    return LG_EINVAL;
  }
  if (!lg_k8sname_path_ok(path))
    return refuse_path(path, out);
  rc = stream_once(k, path, timeout_ms, on_line, ud, &cred, out);
  /* A 401 comes before any line: nothing was delivered, so trying again is safe. */
  if (!rc && retry_after_401(k, &cred, out->status)) {
    lg_kube_result_free(out);
    cred_free(&cred);
    rc = stream_once(k, path, timeout_ms, on_line, ud, &cred, out);
  }
  cred_free(&cred);
  return rc;
}
