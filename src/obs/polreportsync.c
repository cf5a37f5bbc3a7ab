/* polreportsync.c -- PolicyReports written through the API: GET, PUT with resourceVersion,
 * POST when missing, DELETE when empty. */
#include "polreportsync.h"

#include <stdio.h>
#include <string.h>

#include "k8sname.h"
#include "log.h"

#define CALL_TIMEOUT_MS 5000L

/* 404 of the resource type itself (no CRD), not of one object: its Status names no object. */
static bool type_missing(const lg_kube_result *res) {
  const json_t *details = json_object_get(res->body, "details");
  return res->status == 404 && !json_string_value(json_object_get(details, "name"));
}

/* Writes doc as ns's report. Returns the outcome counted. */
static const char *put_report(lg_kube *k, const char *ns, json_t *doc, bool *no_crd) {
  char path[512], coll[512];
  lg_kube_result res;
  const char *outcome = "failed";

  if (!lg_k8sname_path(coll, sizeof coll, "/apis/wgpolicyk8s.io/v1alpha2/namespaces", ns,
                       "policyreports", NULL) ||
      !lg_k8sname_path(path, sizeof path, "/apis/wgpolicyk8s.io/v1alpha2/namespaces", ns,
                       "policyreports", LG_POLREPORT_NAME, NULL))
    return "failed";
  for (int attempt = 0; attempt < 3; attempt++) {
    memset(&res, 0, sizeof res);
    if (lg_kube_call(k, "GET", path, NULL, CALL_TIMEOUT_MS, &res) != LG_OK)
      break;
    if (res.status == 200) {
      json_t *rv = json_object_get(json_object_get(res.body, "metadata"), "resourceVersion");
      json_object_set(json_object_get(doc, "metadata"), "resourceVersion", rv);
      lg_kube_result_free(&res);
      if (lg_kube_call(k, "PUT", path, doc, CALL_TIMEOUT_MS, &res) != LG_OK)
        break;
      if (res.status == 409) { /* someone else wrote it: read it again */
        lg_kube_result_free(&res);
        continue;
      }
      outcome = res.status == 200 ? "written" : "failed";
    } else if (res.status == 404 && !type_missing(&res)) {
      lg_kube_result_free(&res);
      json_object_del(json_object_get(doc, "metadata"), "resourceVersion");
      if (lg_kube_call(k, "POST", coll, doc, CALL_TIMEOUT_MS, &res) != LG_OK)
        break;
      if (res.status == 409)
        continue; /* created meanwhile: update it */
      outcome = res.status == 201 || res.status == 200 ? "written" : "failed";
      if (type_missing(&res))
        outcome = "no-crd";
    } else if (type_missing(&res)) {
      outcome = "no-crd";
    }
    break;
  }
  if (!strcmp(outcome, "no-crd")) {
    if (!*no_crd)
      lg_log(LG_LOG_WARNING,
             "the API has no wgpolicyk8s.io/v1alpha2 PolicyReport: findings go "
             "to the logs and metrics only (install the CRD: chart value "
             "policyReports.installCRD)",
             NULL);
    *no_crd = true;
  } else if (!strcmp(outcome, "failed")) {
    lg_log_json(LG_LOG_WARNING, "cannot write a PolicyReport", "{s:s, s:I, s:s}", "namespace", ns,
                "status", (json_int_t)res.status, "error", res.message[0] ? res.message : "");
  }
  lg_kube_result_free(&res);
  return outcome;
}

static const char *delete_report(lg_kube *k, const char *ns) {
  char path[512];
  lg_kube_result res;
  const char *outcome = "failed";
  memset(&res, 0, sizeof res);
  if (lg_k8sname_path(path, sizeof path, "/apis/wgpolicyk8s.io/v1alpha2/namespaces", ns,
                      "policyreports", LG_POLREPORT_NAME, NULL) &&
      lg_kube_call(k, "DELETE", path, NULL, CALL_TIMEOUT_MS, &res) == LG_OK &&
      (res.status == 200 || res.status == 202 || res.status == 404))
    outcome = "deleted";
  lg_kube_result_free(&res);
  return outcome;
}

void lg_polreport_sync(lg_polreport *r, lg_kube *k, lg_metrics *m, bool *no_crd) {
  json_t *dirty = lg_polreport_dirty(r), *v;
  size_t i;
  json_array_foreach(dirty, i, v) {
    const char *ns = json_string_value(v);
    json_t *doc = lg_polreport_document(r, ns);
    const char *outcome = doc ? put_report(k, ns, doc, no_crd) : delete_report(k, ns);
    lg_metrics_policy_report(m, outcome);
    if (strcmp(outcome, "failed") != 0 && strcmp(outcome, "no-crd") != 0) {
      lg_polreport_written(r, ns);
      /* A report stored: the CRD was installed since (a DELETE's 404 says nothing). Back to
       * the usual pace, and say so again if it goes. */
      if (*no_crd && !strcmp(outcome, "written")) {
        lg_log(LG_LOG_INFO, "the API has the PolicyReport resource now", NULL);
        *no_crd = false;
      }
    }
    json_decref(doc);
  }
  json_decref(dirty);
}
