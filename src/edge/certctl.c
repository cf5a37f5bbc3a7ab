/* certctl.c -- the certificate controller's thread: read the Secret, keep the caBundle in step,
 * write what the state machine says is due (one writer wins: create conflict or
 * resourceVersion; the others read again), install the serving pair. */
#define _GNU_SOURCE /* asprintf */
#include "certctl.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "b64.h"
#include "certinfo.h"
#include "certrot.h"
#include "certsecret.h"
#include "kube.h"
#include "log.h"
#include "times.h"

#define DEFAULT_CALL_MS 5000
#define FIRST_RETRY_MS  500
/* Writes per round: a conflict, a re-read and a write of what is still due fit. */
#define MAX_ATTEMPTS 4

struct lg_certctl {
  lg_certctl_config cfg;
  lg_tls *tls;
  lg_metrics *metrics;
  lg_kube *kube;
  char secret_path[512], vwc_path[512], where[320];
  char *installed;     /* tls.crt + tls.key of the pair installed last (wiped when freed) */
  char counted_rv[64]; /* the last version of the Secret counted as invalid */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool mu_ok, cv_ok, thread_ok, stopping, kicked;
  pthread_t thread;
};

/* One round's state: the Secret as last read or written (NULL: absent), its keys. */
typedef struct {
  json_t *obj;
  lg_certsecret keys;
  lg_certrot_view view;
  char problem[256];
} round_state;

static long call_ms(const lg_certctl *c) {
  return c->cfg.call_timeout_ms > 0 ? c->cfg.call_timeout_ms : DEFAULT_CALL_MS;
}

static const char *rv_of(const json_t *obj) {
  const char *rv =
      json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
  return rv ? rv : "";
}

/* Reads (again) what st->obj holds into keys and view. */
static lg_rc look(lg_certctl *c, round_state *st) {
  lg_rc rc = LG_OK;
  memset(&st->view, 0, sizeof st->view);
  if (st->obj && (rc = lg_certsecret_read(st->obj, &st->keys)) == LG_OK)
    lg_certsecret_view(&st->keys, c->cfg.dns_names, c->cfg.n_dns_names, &st->view, st->problem,
                       sizeof st->problem);
  else
    lg_certsecret_free(&st->keys);
  return rc;
}

/* GET the Secret into st (obj NULL when it does not exist); false after logging why not. */
static bool read_secret(lg_certctl *c, round_state *st) {
  lg_kube_result r;
  lg_rc rc = lg_kube_call(c->kube, "GET", c->secret_path, NULL, call_ms(c), &r);

  json_decref(st->obj);
  st->obj = NULL;
  if (rc == LG_OK && r.status == 200 && json_is_object(r.body)) {
    st->obj = r.body;
    r.body = NULL;
  } else if (!(rc == LG_OK && r.status == 404)) {
    lg_log_json(LG_LOG_ERROR, "cannot read the certificate Secret", "{s:s, s:i, s:s}", "secret",
                c->where, "status", (int)r.status, "error", r.message);
    lg_kube_result_free(&r);
    return false;
  }
  lg_kube_result_free(&r);
  return look(c, st) == LG_OK;
}

/* Patches the caBundle of every webhook of the configuration that does not hold bundle (PEM);
 * true when every one holds it afterwards. */
static bool ensure_bundle(lg_certctl *c, const char *bundle) {
  lg_kube_result r;
  char *want = lg_b64_encode(bundle, strlen(bundle));
  json_t *ops = json_array(), *webhooks;
  const json_t *w;
  size_t i, n = 0;
  bool ok = false;
  lg_rc rc = lg_kube_call(c->kube, "GET", c->vwc_path, NULL, call_ms(c), &r);

  if (rc != LG_OK || r.status != 200) {
    lg_log_json(LG_LOG_ERROR, "cannot read the webhook configuration", "{s:s, s:i, s:s}",
                "webhookConfiguration", c->cfg.webhook_configuration, "status", (int)r.status,
                "error", r.message);
    goto out;
  }
  webhooks = json_object_get(r.body, "webhooks");
  json_array_foreach(webhooks, i, w) {
    const char *name = json_string_value(json_object_get(w, "name"));
    const json_t *cc = json_object_get(w, "clientConfig");
    const char *cur = json_string_value(json_object_get(cc, "caBundle"));
    char at[64];
    if (cur && want && !strcmp(cur, want))
      continue;
    /* The test keeps a concurrent reordering of the webhooks from patching the wrong one. */
    snprintf(at, sizeof at, "/webhooks/%zu/name", i);
    json_array_append_new(ops,
                          json_pack("{s:s, s:s, s:s?}", "op", "test", "path", at, "value", name));
    snprintf(at, sizeof at, "/webhooks/%zu/clientConfig/caBundle", i);
    json_array_append_new(ops,
                          json_pack("{s:s, s:s, s:s?}", "op", "add", "path", at, "value", want));
    n++;
  }
  if (!want || json_array_size(ops) != 2 * n) {
    lg_log(LG_LOG_ERROR, "cannot build the caBundle patch", "error", "out of memory", NULL);
    goto out;
  }
  if (!json_array_size(webhooks) || n == 0) {
    ok = json_array_size(webhooks) > 0;
    if (!ok)
      lg_log(LG_LOG_ERROR, "the webhook configuration has no webhooks", "webhookConfiguration",
             c->cfg.webhook_configuration, NULL);
    goto out;
  }
  lg_kube_result_free(&r);
  rc = lg_kube_json_patch(c->kube, c->vwc_path, ops, call_ms(c), &r);
  ok = rc == LG_OK && r.status == 200;
  lg_metrics_certctl_cabundle(c->metrics, ok);
  if (ok)
    lg_log_json(LG_LOG_INFO, "webhook caBundle updated", "{s:s, s:i, s:s}", "webhookConfiguration",
                c->cfg.webhook_configuration, "webhooks", (int)n, "secret", c->where);
  else
    lg_log_json(LG_LOG_ERROR, "cannot patch the webhook caBundle", "{s:s, s:i, s:s}",
                "webhookConfiguration", c->cfg.webhook_configuration, "status", (int)r.status,
                "error", r.message);
out:
  lg_kube_result_free(&r);
  json_decref(ops);
  free(want);
  return ok;
}

/* The Secret with data next: the current object with its data replaced, or a new one. */
static json_t *secret_object(lg_certctl *c, const json_t *cur, const lg_certsecret *next) {
  json_t *data = lg_certsecret_data(next, json_object_get(cur, "data")), *obj;

  if (!data)
    return NULL;
  if (cur) {
    obj = json_deep_copy(cur);
  } else {
    obj = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:s}", "apiVersion", "v1", "kind", "Secret",
                    "metadata", "name", c->cfg.name, "namespace", c->cfg.ns, "labels",
                    "app.kubernetes.io/managed-by", "leaseguard", "type", "kubernetes.io/tls");
  }
  if (!obj || json_object_set_new(obj, "data", data) != 0) {
    json_decref(obj);
    return NULL;
  }
  return obj;
}

typedef enum { WROTE, CONFLICT, FAILED } write_result;

/* Writes the data that plan calls for: POST when the Secret is absent, else PUT with its
 * resourceVersion. On success st holds what was written. */
static write_result write_secret(lg_certctl *c, round_state *st, const lg_certrot_plan *plan) {
  const char *word = lg_certrot_word(plan->action);
  lg_certsecret next = {0};
  lg_kube_result r = {0};
  json_t *obj = NULL;
  char err[512] = "", path[600];
  write_result res = FAILED;
  lg_rc rc = lg_certsecret_apply(
      &st->keys, plan->action,
      &(lg_certsecret_params){c->cfg.dns_names, c->cfg.n_dns_names, c->cfg.validity},
      lg_time_now() / LG_USEC_PER_SEC, &next, err, sizeof err);

  if (rc || !(obj = secret_object(c, st->obj, &next))) {
    lg_log(LG_LOG_ERROR, "cannot make the certificates", "action", word, "error",
           rc ? err : "out of memory", NULL);
    goto out;
  }
  snprintf(path, sizeof path, "/api/v1/namespaces/%s/secrets", c->cfg.ns);
  rc = st->obj ? lg_kube_call(c->kube, "PUT", c->secret_path, obj, call_ms(c), &r)
               : lg_kube_call(c->kube, "POST", path, obj, call_ms(c), &r);
  if (rc == LG_OK && (r.status == 200 || r.status == 201) && json_is_object(r.body)) {
    res = WROTE;
    json_decref(st->obj);
    st->obj = r.body;
    r.body = NULL;
    lg_log_json(LG_LOG_INFO, "certificate Secret written", "{s:s, s:s, s:s, s:s}", "secret",
                c->where, "action", word, "reason", plan->reason, "resourceVersion",
                rv_of(st->obj));
  } else if (rc == LG_OK && r.status == 409) {
    res = CONFLICT;
    lg_log_json(LG_LOG_INFO, "another replica wrote the certificate Secret first; reading it again",
                "{s:s, s:s}", "secret", c->where, "action", word);
  } else {
    lg_log_json(LG_LOG_ERROR, "cannot write the certificate Secret", "{s:s, s:s, s:i, s:s}",
                "secret", c->where, "action", word, "status", (int)r.status, "error", r.message);
  }
  lg_metrics_certctl_write(c->metrics, word,
                           res == WROTE      ? "success"
                           : res == CONFLICT ? "conflict"
                                             : "failure");
out:
  lg_kube_result_free(&r);
  json_decref(obj);
  lg_certsecret_free(&next);
  return res;
}

/* Counts and logs an unusable Secret once per version. */
static void note_broken(lg_certctl *c, const round_state *st, const lg_certrot_plan *plan) {
  const char *rv = rv_of(st->obj);
  if (!plan->broken || !strcmp(rv, c->counted_rv))
    return;
  snprintf(c->counted_rv, sizeof c->counted_rv, "%s", rv);
  lg_metrics_certctl_invalid(c->metrics);
  lg_log_json(LG_LOG_WARNING, "the certificate Secret is not usable; replacing what is broken",
              "{s:s, s:s, s:s, s:s}", "secret", c->where, "resourceVersion", rv, "problem",
              plan->reason, "action", lg_certrot_word(plan->action));
}

/* Hands the Secret's serving pair to the TLS store when it is usable and new. */
static void install(lg_certctl *c, const round_state *st) {
  const char *crt = st->keys.pem[LG_CS_TLS_CRT], *key = st->keys.pem[LG_CS_TLS_KEY];
  int64_t now = lg_time_now() / LG_USEC_PER_SEC;
  char err[512] = "", when[LG_TIME_BUFLEN], *both = NULL;

  if (!st->obj || st->view.tls.state != LG_CERTROT_OK || now >= st->view.tls.not_after)
    return;
  if (asprintf(&both, "%s\n%s", crt, key) < 0)
    return;
  if (c->installed && !strcmp(both, c->installed)) {
    OPENSSL_cleanse(both, strlen(both));
    free(both);
    return;
  }
  if (lg_tls_install_pem(c->tls, crt, key, err, sizeof err) != LG_OK) {
    lg_log(LG_LOG_ERROR, "cannot use the serving pair of the certificate Secret", "secret",
           c->where, "error", err, NULL);
    OPENSSL_cleanse(both, strlen(both));
    free(both);
    return;
  }
  if (c->installed)
    OPENSSL_cleanse(c->installed, strlen(c->installed));
  free(c->installed);
  c->installed = both;
  lg_time_format_short(st->view.tls.not_after * LG_USEC_PER_SEC, when);
  lg_log(LG_LOG_INFO, "serving certificate installed", "secret", c->where, "resourceVersion",
         rv_of(st->obj), "notAfter", when, NULL);
}

/* One round; true when the Secret was read and nothing is left to do or wait for. */
static bool sync_once(lg_certctl *c) {
  const lg_certrot_policy policy = {c->cfg.renew_before, c->cfg.overlap};
  round_state st = {0};
  lg_certrot_plan plan = {.action = LG_CERTROT_CREATE};
  bool ok = false, fresh = false;

  for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    char *bundle = NULL;
    bool bundle_ok = false;
    if (!fresh && !read_secret(c, &st))
      goto out;
    fresh = false;
    if (st.obj && (bundle = lg_certsecret_bundle(&st.keys, &st.view)) && bundle[0])
      bundle_ok = ensure_bundle(c, bundle);
    free(bundle);
    plan = lg_certrot_decide(&st.view, &policy, lg_time_now() / LG_USEC_PER_SEC, bundle_ok);
    note_broken(c, &st, &plan);
    if (plan.action == LG_CERTROT_NONE) {
      lg_log(LG_LOG_DEBUG, "certificate Secret checked", "secret", c->where, "state", plan.reason,
             NULL);
      ok = bundle_ok;
      break;
    }
    switch (write_secret(c, &st, &plan)) {
    case WROTE:
      fresh = look(c, &st) == LG_OK; /* the answer is the Secret as written */
      break;
    case CONFLICT:
      break;
    case FAILED:
      goto out;
    }
  }
  if (plan.action != LG_CERTROT_NONE)
    lg_log(LG_LOG_WARNING, "the certificate Secret is still changing; trying again later", "secret",
           c->where, NULL);
out:
  install(c, &st);
  json_decref(st.obj);
  lg_certsecret_free(&st.keys);
  return ok;
}

/* ---- the thread ---- */

static struct timespec deadline_in(long ms) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

static void *run(void *arg) {
  lg_certctl *c = arg;
  long retry = FIRST_RETRY_MS;

  for (;;) {
    bool ok = sync_once(c);
    long wait = ok ? c->cfg.sync_period_ms : retry;
    struct timespec until;

    lg_metrics_certctl_sync(c->metrics, ok);
    retry = ok ? FIRST_RETRY_MS : retry * 2;
    if (retry > c->cfg.sync_period_ms)
      retry = c->cfg.sync_period_ms;
    if (wait > c->cfg.sync_period_ms)
      wait = c->cfg.sync_period_ms;
    until = deadline_in(wait);
    pthread_mutex_lock(&c->mu);
    while (!c->stopping && !c->kicked &&
           pthread_cond_timedwait(&c->cv, &c->mu, &until) != ETIMEDOUT)
      ;
    c->kicked = false;
    if (c->stopping) {
      pthread_mutex_unlock(&c->mu);
      return NULL;
    }
    pthread_mutex_unlock(&c->mu);
  }
}

static void destroy(lg_certctl *c) {
  if (!c)
    return;
  lg_kube_free(c->kube);
  if (c->installed)
    OPENSSL_cleanse(c->installed, strlen(c->installed));
  free(c->installed);
  if (c->cv_ok)
    pthread_cond_destroy(&c->cv);
  if (c->mu_ok)
    pthread_mutex_destroy(&c->mu);
  free(c);
}

lg_rc lg_certctl_start(const lg_certctl_config *cfg, lg_tls *tls, lg_metrics *m, lg_certctl **out,
                       char *err, size_t errlen) {
  lg_certctl *c = NULL;
  pthread_condattr_t ca;
  sigset_t all, old;
  lg_rc rc = LG_OK;
  int e;

  *out = NULL;
  if (!cfg || !cfg->kube || !cfg->ns || !cfg->name || !cfg->webhook_configuration || !tls ||
      !cfg->dns_names || !cfg->n_dns_names || cfg->sync_period_ms <= 0 || cfg->validity <= 0)
    return lg_fail(err, errlen, LG_EINVAL, "incomplete certificate controller configuration");
  if (!(c = calloc(1, sizeof *c)))
    return lg_fail(err, errlen, LG_ENOMEM, "out of memory");
  c->cfg = *cfg;
  c->cfg.kube = NULL;
  c->tls = tls;
  c->metrics = m;
  snprintf(c->secret_path, sizeof c->secret_path, "/api/v1/namespaces/%s/secrets/%s", cfg->ns,
           cfg->name);
  snprintf(c->vwc_path, sizeof c->vwc_path,
           "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/%s",
           cfg->webhook_configuration);
  snprintf(c->where, sizeof c->where, "%s/%s", cfg->ns, cfg->name);
  if ((rc = lg_kube_new(cfg->kube, &c->kube, err, errlen)))
    goto out;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  c->mu_ok = pthread_mutex_init(&c->mu, NULL) == 0;
  c->cv_ok = pthread_cond_init(&c->cv, &ca) == 0;
  pthread_condattr_destroy(&ca);
  if (!c->mu_ok || !c->cv_ok) {
    rc = lg_fail(err, errlen, LG_ENOMEM, "cannot create the certificate controller's lock");
    goto out;
  }
  /* The thread takes no signals: they belong to the thread that serves. */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  e = pthread_create(&c->thread, NULL, run, c);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (e != 0) {
    rc =
        lg_fail(err, errlen, LG_ENOMEM, "cannot start the certificate controller: %s", strerror(e));
    goto out;
  }
  c->thread_ok = true;
out:
  if (rc) {
    destroy(c);
    c = NULL;
  }
  *out = c;
  return rc;
}

void lg_certctl_kick(lg_certctl *c) {
  if (!c)
    return;
  pthread_mutex_lock(&c->mu);
  c->kicked = true;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

void lg_certctl_stop(lg_certctl *c) {
  if (!c)
    return;
  pthread_mutex_lock(&c->mu);
  c->stopping = true;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
  if (c->thread_ok)
    pthread_join(c->thread, NULL);
  destroy(c);
}
