/* admit.c -- build the AdmissionReview, POST it with libcurl, judge the answer as kube-apiserver does. */
#include "admit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "aslog.h"
#include "b64.h"
#include "meta.h"
#include "validate.h"

#define POD_NAME_KEY "authentication.kubernetes.io/pod-name"
#define MAX_RESPONSE (16 * 1024 * 1024)

typedef struct {
  char *data;
  size_t len;
} buffer;

static json_t *gvk(const as_resource *r) {
  return json_pack("{s:s, s:s, s:s}", "group", r->group, "version", r->version, "kind", r->kind);
}

static json_t *gvr(const as_resource *r) {
  return json_pack("{s:s, s:s, s:s}", "group", r->group, "version", r->version, "resource",
                   r->resource);
}

static json_t *user_info(const as_user *u) {
  json_t *groups = json_array(), *info;
  for (size_t i = 0; i < u->n_groups; i++)
    json_array_append_new(groups, json_string(u->groups[i]));
  info = json_pack("{s:s, s:o}", "username", u->name, "groups", groups);
  if (info && u->uid[0])
    json_object_set_new(info, "uid", json_string(u->uid));
  if (info && u->pod)
    json_object_set_new(info, "extra", json_pack("{s:[s]}", POD_NAME_KEY, u->pod));
  return info;
}

/* The AdmissionReview of CreateV1AdmissionReview: absent objects are null, the namespace of a
 * cluster-scoped object is left out (omitempty). */
static json_t *review(const char *uid, const as_admission *a) {
  json_t *req = json_pack("{s:s, s:o, s:o, s:o, s:o, s:s, s:s*, s:s, s:o, s:O, s:O, s:b, s:O}",
                          "uid", uid, "kind", gvk(a->res), "resource", gvr(a->res), "requestKind",
                          gvk(a->res), "requestResource", gvr(a->res), "name", a->name, "namespace",
                          a->ns, "operation", a->operation, "userInfo", user_info(a->user),
                          "object", a->object ? a->object : json_null(), "oldObject",
                          a->old_object ? a->old_object : json_null(), "dryRun", a->dry_run,
                          "options", a->options ? a->options : json_null());
  return json_pack("{s:s, s:s, s:o}", "kind", "AdmissionReview", "apiVersion",
                   "admission.k8s.io/v1", "request", req);
}

static size_t on_data(char *p, size_t size, size_t n, void *ud) {
  buffer *b = ud;
  size_t len = size * n;
  char *grown;
  if (b->len + len > MAX_RESPONSE || !(grown = realloc(b->data, b->len + len + 1)))
    return 0;
  memcpy(grown + b->len, p, len);
  b->data = grown;
  b->len += len;
  b->data[b->len] = '\0';
  return len;
}

/* POSTs body, trusting ca_pem (the configuration's caBundle) or, when NULL, the CA file;
 * on a transport failure writes Go's "Post \"URL\": ..." into err. */
static long post(const as_webhook *hook, const char *ca_pem, const char *url, const char *body,
                 buffer *resp, char *err, size_t errlen) {
  struct curl_blob blob = {(void *)ca_pem, ca_pem ? strlen(ca_pem) : 0, CURL_BLOB_COPY};
  CURL *c = curl_easy_init();
  struct curl_slist *hdrs = NULL;
  char curl_err[CURL_ERROR_SIZE] = "";
  long status = 0;
  CURLcode rc;

  if (!c) {
    snprintf(err, errlen, "Post \"%s\": cannot create a libcurl handle", url);
    return 0;
  }
  hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
  hdrs = curl_slist_append(hdrs, "Accept: application/json, */*");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  if (ca_pem && ca_pem[0])
    curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
  else if (!ca_pem)
    curl_easy_setopt(c, CURLOPT_CAINFO, hook->ca_file);
  /* An empty caBundle: the system's roots, as kube-apiserver uses then. */
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, hook->timeout_s * 1000L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
  rc = curl_easy_perform(c);
  if (rc == CURLE_OPERATION_TIMEDOUT)
    snprintf(err, errlen, "Post \"%s\": context deadline exceeded", url);
  else if (rc != CURLE_OK)
    snprintf(err, errlen, "Post \"%s\": %s", url, curl_err[0] ? curl_err : curl_easy_strerror(rc));
  else
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(c);
  return status;
}

/* VerifyAdmissionResponse: returns the response object (borrowed from doc) or NULL
 * with the reason in err. */
static const json_t *verify(const json_t *doc, const char *uid, char *err, size_t errlen) {
  const json_t *resp = json_object_get(doc, "response");
  const char *got = json_string_value(json_object_get(resp, "uid"));
  const char *api = json_string_value(json_object_get(doc, "apiVersion"));
  const char *kind = json_string_value(json_object_get(doc, "kind"));

  if (!json_is_object(resp)) {
    snprintf(err, errlen, "received invalid webhook response: webhook response was absent");
    return NULL;
  }
  if (!got || strcmp(got, uid) != 0) {
    snprintf(err, errlen,
             "received invalid webhook response: expected response.uid=\"%s\", "
             "got \"%.100s\"",
             uid, got ? got : "");
    return NULL;
  }
  if (!api || !kind || strcmp(api, "admission.k8s.io/v1") || strcmp(kind, "AdmissionReview")) {
    snprintf(err, errlen,
             "received invalid webhook response: expected webhook response of "
             "admission.k8s.io/v1, Kind=AdmissionReview, got %.60s, Kind=%.60s",
             api ? api : "", kind ? kind : "");
    return NULL;
  }
  if (json_object_get(resp, "patch") || json_object_get(resp, "patchType")) {
    snprintf(err, errlen,
             "received invalid webhook response: validating webhooks may not "
             "return response.patch");
    return NULL;
  }
  return resp;
}

/* ToStatusErr: the denial as the client sees it. */
static json_t *denial(const char *webhook, const json_t *resp) {
  const json_t *st = json_object_get(resp, "status");
  const char *msg = json_string_value(json_object_get(st, "message"));
  const char *reason = json_string_value(json_object_get(st, "reason"));
  json_int_t code = json_integer_value(json_object_get(st, "code"));
  const json_t *details = json_object_get(st, "details");
  char text[2048];
  json_t *out;

  if (msg && msg[0])
    snprintf(text, sizeof text, "admission webhook \"%s\" denied the request: %s", webhook, msg);
  else if (reason && reason[0])
    snprintf(text, sizeof text, "admission webhook \"%s\" denied the request: %s", webhook, reason);
  else
    snprintf(text, sizeof text, "admission webhook \"%s\" denied the request without explanation",
             webhook);
  out = json_pack("{s:s, s:s, s:{}, s:s, s:s, s:I}", "kind", "Status", "apiVersion", "v1",
                  "metadata", "status", "Failure", "message", text, "code",
                  (json_int_t)(code < 400 ? 400 : code));
  if (out && reason && reason[0])
    json_object_set_new(out, "reason", json_string(reason));
  if (out && json_is_object(details))
    json_object_set(out, "details", (json_t *)details);
  return out;
}

/* Warnings go out as headers: texts with control characters are dropped. */
static void take_warnings(const json_t *resp, as_reply *out, json_t *log) {
  const json_t *w;
  size_t i;
  json_t *logged = json_array();
  json_array_foreach(json_object_get(resp, "warnings"), i, w) {
    const char *t = json_string_value(w);
    bool ok = t != NULL;
    for (const char *p = t; ok && *p; p++)
      ok = (unsigned char)*p >= 0x20 && *p != 0x7f;
    if (ok) {
      as_reply_warn(out, t);
      json_array_append_new(logged, json_string(t));
    }
  }
  json_object_set_new(log, "warnings", logged);
}

/* auditAnnotations are kept as "<webhook>/<key>" when that is a qualified name. */
static void take_annotations(const char *webhook, const json_t *resp, json_t *log) {
  const json_t *v;
  const char *k;
  json_t *kept = json_object();
  char key[512];
  json_object_foreach(json_object_get(resp, "auditAnnotations"), k, v) {
    snprintf(key, sizeof key, "%s/%s", webhook, k);
    if (json_is_string(v) && as_is_qualified_name(key))
      json_object_set(kept, key, (json_t *)v);
  }
  json_object_set_new(log, "auditAnnotations", kept);
}

/* Calls the webhook: returns its response doc (new) or NULL with err set. */
static json_t *call(const as_webhook *hook, const char *ca_pem, const char *uid,
                    const as_admission *a, char *err, size_t errlen) {
  char url[1024], *body = NULL;
  json_t *rev = review(uid, a), *doc = NULL;
  buffer resp = {NULL, 0};
  json_error_t je;
  long status;

  snprintf(url, sizeof url, "%s%ctimeout=%lds", hook->url, strchr(hook->url, '?') ? '&' : '?',
           hook->timeout_s);
  if (!rev || !(body = json_dumps(rev, JSON_COMPACT))) {
    snprintf(err, errlen, "cannot encode the AdmissionReview");
    goto out;
  }
  status = post(hook, ca_pem, url, body, &resp, err, errlen);
  if (!status)
    goto out;
  if (status < 200 || status > 206) {
    snprintf(err, errlen,
             "an error on the server (\"%.200s\") has prevented the request from "
             "succeeding (HTTP %ld)",
             resp.data ? resp.data : "", status);
    goto out;
  }
  if (!(doc = json_loadb(resp.data ? resp.data : "", resp.len, 0, &je)))
    snprintf(err, errlen, "%s", je.text);
out:
  json_decref(rev);
  free(body);
  free(resp.data);
  return doc;
}

/* With --webhook-configuration: the caBundle (PEM, new; "" when empty) of the stored
 * configuration's webhook named as hook; NULL when there is none (no call then, as
 * kube-apiserver calls only the webhooks that exist). */
static char *configured_ca(const as_ctx *ctx, const as_webhook *hook) {
  json_t *vwc = as_store_get(ctx->store, AS_KIND_VWC, "", ctx->cfg->webhook_configuration, NULL);
  const json_t *w;
  char *pem = NULL;
  size_t i;

  json_array_foreach(json_object_get(vwc, "webhooks"), i, w) {
    const char *name = json_string_value(json_object_get(w, "name"));
    const char *ca =
        json_string_value(json_object_get(json_object_get(w, "clientConfig"), "caBundle"));
    if (name && !strcmp(name, hook->name)) {
      pem = ca ? lg_b64_decode(ca, NULL) : strdup("");
      break;
    }
  }
  json_decref(vwc);
  return pem;
}

json_t *as_admit(const as_ctx *ctx, const as_webhook *hook, const as_admission *a, as_reply *out) {
  char uid[AS_UID_LEN], err[1536] = "", msg[2048], *ca_pem = NULL;
  json_t *doc = NULL, *result = NULL, *log;
  const json_t *resp = NULL;
  struct timespec t0, t1;

  if (!hook->url)
    return NULL;
  if (ctx->cfg->webhook_configuration && !(ca_pem = configured_ca(ctx, hook)))
    return NULL;
  as_new_uid(uid);
  log = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "kind", "webhook", "webhook",
                  hook->name, "uid", uid, "operation", a->operation, "resource", a->res->resource,
                  "namespace", a->ns ? a->ns : "", "name", a->name, "dryRun", a->dry_run);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  doc = call(hook, ca_pem, uid, a, err, sizeof err);
  if (doc && !(resp = verify(doc, uid, err, sizeof err))) {
    snprintf(msg, sizeof msg, "failed calling webhook \"%s\": %s", hook->name, err);
  } else if (!doc) {
    snprintf(msg, sizeof msg, "failed calling webhook \"%s\": failed to call webhook: %s",
             hook->name, err);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  json_object_set_new(
      log, "durationMs",
      json_integer((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
  if (!resp) {
    json_object_set_new(log, "error", json_string(msg));
    json_object_set_new(log, "ignored", json_boolean(hook->fail_open));
    if (!hook->fail_open)
      result = as_status_internal(msg);
    goto out;
  }
  take_warnings(resp, out, log);
  take_annotations(hook->name, resp, log);
  json_object_set_new(log, "allowed", json_boolean(json_is_true(json_object_get(resp, "allowed"))));
  if (!json_is_true(json_object_get(resp, "allowed"))) {
    result = denial(hook->name, resp);
    json_object_set(log, "code", json_object_get(result, "code"));
    json_object_set(log, "message", json_object_get(result, "message"));
  }
out:
  as_log(log);
  json_decref(doc);
  free(ca_pem);
  return result;
}

static bool labelled(const json_t *obj) {
  const json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
  const char *v = json_string_value(json_object_get(labels, AS_FENCE_LABEL));
  return v && !strcmp(v, "true");
}

bool as_fence_selected(const json_t *obj, const json_t *old) {
  return labelled(obj) || labelled(old);
}

json_t *as_admit_fenced(const as_ctx *ctx, const as_admission *a, as_reply *out) {
  if (!ctx->cfg->fence.url || !as_fence_selected(a->object, a->old_object))
    return NULL;
  return as_admit(ctx, &ctx->cfg->fence, a, out);
}
