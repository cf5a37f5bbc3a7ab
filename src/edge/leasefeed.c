/* leasefeed.c -- a lease watch thread feeding the witness and the lease cache; a GET for
 * what the cache does not know. */
#include "leasefeed.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "k8sname.h"
#include "leasewatch.h"
#include "log.h"

/* A watch event arrives after the write was stored, by up to about this much. */
#define WATCH_SLACK    LG_USEC_PER_SEC
#define GET_TIMEOUT_MS 1000L

struct lg_leasefeed {
  lg_leasefeed_config cfg;
  lg_kube *watch_kube, *get_kube;
  pthread_mutex_t get_mu; /* get_kube is one curl handle */
  pthread_mutex_t mu;
  pthread_cond_t cond;
  atomic_bool stop;
  pthread_t thread;
  bool started;
};

static bool decode(const json_t *obj, lg_lease *l, const char **ns, const char **name) {
  if (lg_lease_decode(obj, l, NULL, 0) != LG_OK || !lg_k8sname_is_label(l->namespace) ||
      !lg_k8sname_is_subdomain(l->name))
    return false;
  *ns = l->namespace;
  *name = l->name;
  return true;
}

static void on_list(void *ud, json_t *items, bool baseline) {
  lg_leasefeed *f = ud;
  int64_t mono = lg_time_mono();
  json_t *it;
  size_t i;
  (void)baseline;
  /* A list says what is, not when it was written: the cache learns it, the witness not. */
  lg_leasecache_list_begin(f->cfg.cache);
  json_array_foreach(items, i, it) {
    lg_lease l;
    const char *ns, *name;
    if (decode(it, &l, &ns, &name))
      lg_leasecache_put(f->cfg.cache, ns, name, &l, mono);
  }
  lg_leasecache_list_end(f->cfg.cache, mono);
}

static void on_event(void *ud, lg_leasewatch_event type, json_t *obj) {
  lg_leasefeed *f = ud;
  int64_t mono = lg_time_mono();
  lg_lease l;
  const char *ns, *name;
  if (!decode(obj, &l, &ns, &name))
    return;
  if (type == LG_LEASEWATCH_DELETED) {
    lg_leasecache_delete(f->cfg.cache, ns, name, mono);
    return;
  }
  lg_leasecache_put(f->cfg.cache, ns, name, &l, mono);
  lg_witness_sighted(f->cfg.witness, ns, name, &l, lg_time_now(), mono, WATCH_SLACK);
}

static void on_synced(void *ud, bool synced) {
  lg_leasefeed *f = ud;
  lg_leasecache_set_synced(f->cfg.cache, synced, lg_time_mono());
}

static bool wait_for(void *ud, int64_t usec) {
  lg_leasefeed *f = ud;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += (time_t)(usec / 1000000);
  ts.tv_nsec += (long)(usec % 1000000) * 1000;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&f->mu);
  while (!atomic_load(&f->stop) && pthread_cond_timedwait(&f->cond, &f->mu, &ts) == 0)
    ;
  pthread_mutex_unlock(&f->mu);
  return atomic_load(&f->stop);
}

static bool stopped(void *ud) { return atomic_load(&((lg_leasefeed *)ud)->stop); }

static void *run(void *p) {
  lg_leasefeed *f = p;
  lg_leasewatch w = {.kube = f->watch_kube,
                     .timeout_s = f->cfg.watch_timeout_s,
                     .ud = f,
                     .on_list = on_list,
                     .on_event = on_event,
                     .on_synced = on_synced,
                     .wait = wait_for,
                     .stopped = stopped};
  lg_leasewatch_run(&w);
  return NULL;
}

lg_rc lg_leasefeed_start(const lg_leasefeed_config *cfg, lg_leasefeed **out, char *err,
                         size_t errlen) {
  lg_leasefeed *f = calloc(1, sizeof *f);
  lg_rc rc;
  *out = NULL;
  if (!f)
    return lg_fail(err, errlen, LG_ENOMEM, "out of memory");
  f->cfg = *cfg;
  pthread_mutex_init(&f->get_mu, NULL);
  pthread_mutex_init(&f->mu, NULL);
  pthread_cond_init(&f->cond, NULL);
  if ((rc = lg_kube_new(cfg->kube, &f->watch_kube, err, errlen)) ||
      (rc = lg_kube_new(cfg->kube, &f->get_kube, err, errlen)))
    goto out;
  if (pthread_create(&f->thread, NULL, run, f) != 0) {
    rc = lg_fail(err, errlen, LG_ESERVER, "cannot start the lease watch thread");
    goto out;
  }
  f->started = true;
  *out = f;
out:
  if (rc)
    lg_leasefeed_stop(f);
  return rc;
}

void lg_leasefeed_stop(lg_leasefeed *f) {
  if (!f)
    return;
  pthread_mutex_lock(&f->mu);
  atomic_store(&f->stop, true);
  pthread_cond_broadcast(&f->cond);
  pthread_mutex_unlock(&f->mu);
  if (f->started)
    pthread_join(f->thread, NULL);
  lg_kube_free(f->watch_kube);
  lg_kube_free(f->get_kube);
  pthread_mutex_destroy(&f->get_mu);
  pthread_mutex_destroy(&f->mu);
  pthread_cond_destroy(&f->cond);
  free(f);
}

lg_leasecache_hit lg_leasefeed_get(void *feed, const char *ns, const char *name,
                                   lg_leasecache_entry *out) {
  lg_leasefeed *f = feed;
  char path[512];
  lg_kube_result res;
  lg_leasecache_hit hit = LG_LEASECACHE_MISS;
  lg_lease l;
  const char *lns, *lname;

  memset(out, 0, sizeof *out);
  memset(&res, 0, sizeof res);
  if (!f || !lg_k8sname_path(path, sizeof path, "/apis/coordination.k8s.io/v1/namespaces", ns,
                             "leases", name, NULL))
    return LG_LEASECACHE_MISS;
  pthread_mutex_lock(&f->get_mu);
  if (lg_kube_call(f->get_kube, "GET", path, NULL, GET_TIMEOUT_MS, &res) == LG_OK) {
    if (res.status == 404) {
      hit = LG_LEASECACHE_ABSENT;
    } else if (res.status == 200 && decode(res.body, &l, &lns, &lname) && strcmp(lns, ns) == 0 &&
               strcmp(lname, name) == 0) {
      lg_leasecache_put(f->cfg.cache, ns, name, &l, lg_time_mono());
      hit = lg_leasecache_entry_from(out, &l) ? LG_LEASECACHE_FOUND : LG_LEASECACHE_MISS;
    }
  }
  if (hit == LG_LEASECACHE_MISS)
    lg_log_json(LG_LOG_WARNING, "cannot read a lease for the fence", "{s:s, s:s, s:I, s:s}",
                "namespace", ns, "name", name, "status", (json_int_t)res.status, "error",
                res.message[0] ? res.message : "unusable answer");
  lg_kube_result_free(&res);
  pthread_mutex_unlock(&f->get_mu);
  return hit;
}
