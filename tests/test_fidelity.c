/* test_fidelity.c -- the real Lease writers of a cluster, each on its own skewed clock,
 * through the whole admission path (AdmissionReview JSON -> lg_webhook_handle with one or
 * two replicas' witnesses, default policy) on a simulated clock:
 *  - correct writers (client-go's elector as kube-controller-manager / kube-scheduler /
 *    operators, OpenShift's library-go 137 s and 270 s, the kubelet, kube-apiserver
 *    identity leases, coordinated leader election, leader migration) with clock offsets
 *    from -30 s to +30 s through create, renew, takeover after expiry, release and
 *    re-acquire: no denial, no warning, no finding at all;
 *  - steals of a live lease (any duration >= 2 s, with or without spec.strategy, in one
 *    write or two): denied. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "elector.h"
#include "policy.h"
#include "webhook.h"
#include "witness.h"

#define SEC     LG_USEC_PER_SEC
#define T0      INT64_C(1795600800000000) /* 2026-11-25T10:00:00Z */
#define LATENCY 3000                      /* each API call takes 3 ms */

/* How writes reach the webhook replicas: one replica; two taking turns; two with each
 * writer's connection pinned to one (what keep-alive does). */
typedef enum { ROUTE_ONE, ROUTE_ALTERNATE, ROUTE_PINNED } routing;
static const char *const route_names[] = {"one replica", "two alternating", "two pinned"};

/* The API server: one Lease, and the webhook replicas in front of it. */
typedef struct {
  const char *ns, *name;
  json_t *lease; /* stored object, NULL when absent */
  long rv;
  lg_policy *policy;
  lg_witness *replica[2];
  routing route;
  unsigned writes;
  int64_t now; /* true time, microseconds after T0 (also every monotonic clock) */
  const char *scenario;
  bool correct; /* the writers are correct: any finding is a failure */
  int findings; /* of correct writers */
  int advice;   /* of those, timestamps warnings of a stamp ahead (a fast clock) */
  int denials;  /* writes answered 403 */
  char first[1024];
} world;

typedef struct {
  world *w;
  const char *username, *pod;
  lg_time offset; /* its clock reads T0 + now + offset */
  int replica;    /* ROUTE_PINNED */
} writer;

static lg_time wall_of(const writer *wr) { return T0 + wr->w->now + wr->offset; }

static void world_init(world *w, const char *ns, const char *name, routing route) {
  char err[256];
  memset(w, 0, sizeof *w);
  w->ns = ns;
  w->name = name;
  w->route = route;
  w->correct = true;
  assert_int_equal(lg_policy_default(&w->policy, err, sizeof err), LG_OK);
  w->replica[0] = lg_witness_new(1024, 1024);
  w->replica[1] = lg_witness_new(1024, 1024);
}

static void world_free(world *w) {
  json_decref(w->lease);
  lg_policy_free(w->policy);
  lg_witness_free(w->replica[0]);
  lg_witness_free(w->replica[1]);
}

static json_t *review(const world *w, const writer *wr, const char *op, const json_t *old_o,
                      const json_t *new_o) {
  char uid[32];
  snprintf(uid, sizeof uid, "uid-%u", w->writes);
  json_t *user =
      json_pack("{s:s, s:[s]}", "username", wr->username, "groups", "system:authenticated");
  if (wr->pod)
    json_object_set_new(user, "extra",
                        json_pack("{s:[s]}", "authentication.kubernetes.io/pod-name", wr->pod));
  json_t *req = json_pack("{s:s, s:{s:s,s:s,s:s}, s:{s:s,s:s,s:s}, s:s, s:s, s:s, s:o, s:b}", "uid",
                          uid, "kind", "group", "coordination.k8s.io", "version", "v1", "kind",
                          "Lease", "resource", "group", "coordination.k8s.io", "version", "v1",
                          "resource", "leases", "namespace", w->ns, "name", w->name, "operation",
                          op, "userInfo", user, "dryRun", 0);
  if (new_o)
    json_object_set(req, "object", (json_t *)new_o);
  if (old_o)
    json_object_set(req, "oldObject", (json_t *)old_o);
  return json_pack("{s:s, s:s, s:o}", "apiVersion", "admission.k8s.io/v1", "kind",
                   "AdmissionReview", "request", req);
}

/* One admission through the webhook replica the write is routed to; true when allowed.
 * A correct writer's write must raise no finding of any mode. */
static bool admit(world *w, const writer *wr, const char *op, const json_t *old_o,
                  const json_t *new_o, char *msg, size_t msglen) {
  json_t *doc = review(w, wr, op, old_o, new_o);
  char *body = json_dumps(doc, JSON_COMPACT);
  int r = w->route == ROUTE_ONE         ? 0
          : w->route == ROUTE_ALTERNATE ? (int)(w->writes % 2)
                                        : wr->replica;
  lg_webhook_result res;
  bool allowed;
  w->now += LATENCY / 2;
  lg_webhook_handle(
      body, strlen(body),
      &(lg_webhook_env){w->policy, LG_MODE_INHERIT, T0 + w->now, w->now, w->replica[r]}, &res);
  w->writes++;
  assert_int_equal(res.http_status, 200);
  allowed = res.verdict.allowed;
  if (!allowed)
    w->denials++;
  if (w->correct && res.verdict.n > 0) {
    if (res.verdict.n == 1 && res.verdict.findings[0].rule == LG_RULE_TIMESTAMPS &&
        res.verdict.findings[0].mode == LG_MODE_WARN &&
        strcmp(res.verdict.findings[0].reason, "ahead") == 0)
      w->advice++;
    if (w->findings++ == 0)
      snprintf(w->first, sizeof w->first, "%s [%s, %s by %s]: %s", w->scenario,
               route_names[w->route], op, wr->username, res.verdict.findings[0].message);
  }
  if (!allowed && msg)
    snprintf(msg, msglen, "admission webhook denied the request: %s",
             res.verdict.findings[0].message);
  lg_webhook_result_free(&res);
  free(body);
  json_decref(doc);
  w->now += LATENCY / 2;
  return allowed;
}

static json_t *stored(world *w, json_t *obj) {
  char rv[32];
  snprintf(rv, sizeof rv, "%ld", ++w->rv);
  json_decref(w->lease);
  w->lease = json_deep_copy(obj);
  json_object_set_new(json_object_get(w->lease, "metadata"), "resourceVersion", json_string(rv));
  return json_deep_copy(w->lease);
}

/* ---- the Lease API, as the elector calls it ---- */

static long api_get(void *ctx, int64_t deadline, json_t **out, char *msg, size_t msglen) {
  writer *wr = ctx;
  (void)deadline;
  wr->w->now += LATENCY;
  *out = wr->w->lease ? json_deep_copy(wr->w->lease) : NULL;
  if (!*out)
    snprintf(msg, msglen, "not found");
  return *out ? 200 : 404;
}

static long api_create(void *ctx, int64_t deadline, const json_t *lease, json_t **out, char *msg,
                       size_t msglen) {
  writer *wr = ctx;
  (void)deadline;
  *out = NULL;
  if (wr->w->lease)
    return 409;
  if (!admit(wr->w, wr, "CREATE", NULL, lease, msg, msglen))
    return 403;
  *out = stored(wr->w, (json_t *)lease);
  return 201;
}

static long api_update(void *ctx, int64_t deadline, const json_t *lease, json_t **out, char *msg,
                       size_t msglen) {
  writer *wr = ctx;
  world *w = wr->w;
  const char *rv =
      json_string_value(json_object_get(json_object_get(lease, "metadata"), "resourceVersion"));
  (void)deadline;
  *out = NULL;
  if (!w->lease)
    return 404;
  if (!rv || atol(rv) != w->rv) {
    w->now += LATENCY;
    snprintf(msg, msglen, "the object has been modified");
    return 409;
  }
  if (!admit(w, wr, "UPDATE", w->lease, lease, msg, msglen))
    return 403;
  *out = stored(w, (json_t *)lease);
  return 200;
}

/* A write that is not the elector's: UPDATE of the stored lease with spec fields replaced
 * (a JSON object; null removes a field). True when allowed (and stored). */
static bool put_spec(world *w, const writer *wr, json_t *changes) {
  json_t *obj = json_deep_copy(w->lease), *spec = json_object_get(obj, "spec");
  const char *k;
  json_t *v;
  bool ok;
  json_object_foreach(changes, k, v) {
    if (json_is_null(v))
      json_object_del(spec, k);
    else
      json_object_set(spec, k, v);
  }
  ok = admit(w, wr, "UPDATE", w->lease, obj, NULL, 0);
  if (ok)
    json_decref(stored(w, obj));
  json_decref(obj);
  json_decref(changes);
  return ok;
}

static bool create_with(world *w, const writer *wr, json_t *spec) {
  json_t *obj =
      json_pack("{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion", "coordination.k8s.io/v1", "kind",
                "Lease", "metadata", "name", w->name, "namespace", w->ns, "spec", spec);
  bool ok = !w->lease && admit(w, wr, "CREATE", NULL, obj, NULL, 0);
  if (ok)
    json_decref(stored(w, obj));
  json_decref(obj);
  return ok;
}

static bool delete_lease(world *w, const writer *wr) {
  bool ok = w->lease && admit(w, wr, "DELETE", w->lease, NULL, NULL, 0);
  if (ok) {
    json_decref(w->lease);
    w->lease = NULL;
  }
  return ok;
}

static const char *holder_of(const world *w) {
  return json_string_value(json_object_get(json_object_get(w->lease, "spec"), "holderIdentity"));
}

static json_t *now_str(const writer *wr) {
  char ts[LG_TIME_BUFLEN];
  return json_string(lg_time_format(wall_of(wr), ts));
}

/* ---- client-go's elector (kube-controller-manager, scheduler, operators, library-go) ---- */

typedef struct {
  writer wr;
  lg_elector *e;
  int64_t next;
  bool alive;
} cand;

static void cand_init(cand *k, world *w, const char *id, const char *user, lg_time offset,
                      int replica, int64_t ld, int64_t rd, int64_t rp) {
  lg_elector_config cfg = {w->ns, w->name, id, ld, rd, rp, LG_MISBEHAVE_NONE};
  lg_lease_api api = {api_get, api_create, api_update, &k->wr};
  char err[128];
  memset(k, 0, sizeof *k);
  k->wr = (writer){w, user, NULL, offset, replica};
  k->alive = true;
  assert_int_equal(lg_elector_new(&cfg, &api, &k->e, err, sizeof err), LG_OK);
}

static void run_until(world *w, cand *ks, size_t n, int64_t until) {
  for (;;) {
    cand *due = NULL;
    unsigned ev;
    for (size_t i = 0; i < n; i++)
      if (ks[i].alive && (!due || ks[i].next < due->next))
        due = &ks[i];
    if (!due || due->next > until)
      break;
    if (due->next > w->now)
      w->now = due->next;
    /* a jitter of 0.5: the retry period x 1.6 */
    due->next = lg_elector_step(due->e, w->now, wall_of(&due->wr), 0.5, &ev);
  }
  if (w->now < until)
    w->now = until;
}

/* create -> renew -> the leader dies -> takeover after expiry -> release -> re-acquire. */
static void election(world *w, const lg_time offs[3], const char *const users[3], int64_t ld,
                     int64_t rd, int64_t rp) {
  static const char *const ids[] = {"cp-1_8c1f2e4a-7b6d-4e3c-9a2b-1d0c9e8f7a65",
                                    "cp-2_3a9b8c7d-6e5f-4a1b-8c2d-9e0f1a2b3c4d",
                                    "cp-3_5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a"};
  cand ks[3];
  for (int i = 0; i < 3; i++) {
    cand_init(&ks[i], w, ids[i], users[i], offs[i], i == 1, ld, rd, rp);
    ks[i].next = i * 100000;
  }
  run_until(w, ks, 3, 3 * ld);
  assert_string_equal(holder_of(w), ids[0]);
  /* the leader dies: its renewals stop */
  ks[0].alive = false;
  int64_t died = w->now;
  run_until(w, ks, 3, died + ld + 3 * rp);
  const char *h = holder_of(w);
  int next = strcmp(h, ids[1]) == 0 ? 1 : 2;
  if (strcmp(h, ids[next]) != 0)
    fail_msg("%s: no takeover after the leader died (holder %s; %s)", w->scenario, h, w->first);
  run_until(w, ks, 3, w->now + 2 * ld);
  /* the new leader shuts down with ReleaseOnCancel; the other takes over at once */
  assert_int_equal(lg_elector_release(ks[next].e, w->now, wall_of(&ks[next].wr)), LG_OK);
  ks[next].alive = false;
  run_until(w, ks, 3, w->now + 2 * rp);
  if (strcmp(holder_of(w), ids[3 - next]) != 0)
    fail_msg("%s: no re-acquire after the release (holder %s; %s)", w->scenario, holder_of(w),
             w->first);
  run_until(w, ks, 3, w->now + ld);
  for (int i = 0; i < 3; i++)
    lg_elector_free(ks[i].e);
}

/* The offsets of a sweep step: every clock differs. */
static void offsets_of(int o, lg_time offs[3]) {
  offs[0] = (lg_time)o * SEC;
  offs[1] = -(lg_time)o * SEC;
  offs[2] = (lg_time)o * SEC / 2 + 250000;
}

/* The clock-offset step of a sweep in seconds: 1, or LG_FIDELITY_STEP; under valgrind
 * (LG_TEST_SLOW > 1) 10, a coarser sweep that still crosses -30, 0 and +30. */
static int sweep_step(void) {
  const char *s = getenv("LG_FIDELITY_STEP"), *slow = getenv("LG_TEST_SLOW");
  if (s && atoi(s) > 0)
    return atoi(s);
  return slow && atoi(slow) > 1 ? 10 : 1;
}

static void sweep_elections(const char *what, const char *ns, const char *name,
                            const char *const users[3], int64_t ld, int64_t rd, int64_t rp) {
  char scenario[160];
  int step = sweep_step(), runs = 0;
  for (int route = ROUTE_ONE; route <= ROUTE_ALTERNATE; route++)
    for (int o = -30; o <= 30; o += step) {
      world w;
      lg_time offs[3];
      world_init(&w, ns, name, (routing)route);
      snprintf(scenario, sizeof scenario, "%s, clocks %+d/%+d/%+.1fs", what, o, -o, o / 2.0 + 0.25);
      w.scenario = scenario;
      offsets_of(o, offs);
      election(&w, offs, users, ld, rd, rp);
      if (w.findings)
        fail_msg("%d finding(s) for correct writers; first: %s", w.findings, w.first);
      assert_int_equal(w.denials, 0);
      world_free(&w);
      runs++;
    }
  print_message("%s: %d runs, no finding\n", what, runs);
}

static void test_kube_components(void **state) {
  (void)state;
  static const char *const kcm[] = {"system:kube-controller-manager",
                                    "system:kube-controller-manager",
                                    "system:kube-controller-manager"};
  static const char *const sched[] = {"system:kube-scheduler", "system:kube-scheduler",
                                      "system:kube-scheduler"};
  sweep_elections("kube-controller-manager 15/10/2", "kube-system", "kube-controller-manager", kcm,
                  15 * SEC, 10 * SEC, 2 * SEC);
  sweep_elections("kube-scheduler 15/10/2", "kube-system", "kube-scheduler", sched, 15 * SEC,
                  10 * SEC, 2 * SEC);
}

static void test_operators(void **state) {
  (void)state;
  static const char *const op[] = {"system:serviceaccount:team-a:operator",
                                   "system:serviceaccount:team-a:operator",
                                   "system:serviceaccount:team-a:operator"};
  /* leader migration: kube-controller-manager and cloud-controller-manager share a lease */
  static const char *const migration[] = {
      "system:kube-controller-manager",
      "system:serviceaccount:kube-system:cloud-controller-manager",
      "system:kube-controller-manager"};
  sweep_elections("controller-runtime operator 15/10/2", "team-a", "operator-lock", op, 15 * SEC,
                  10 * SEC, 2 * SEC);
  sweep_elections("short lease 5/4/1", "team-a", "fast-lock", op, 5 * SEC, 4 * SEC, 1 * SEC);
  sweep_elections("leader migration 15/10/2", "kube-system", "cloud-provider-extraction-migration",
                  migration, 15 * SEC, 10 * SEC, 2 * SEC);
}

static void test_library_go(void **state) {
  (void)state;
  static const char *const op[] = {"system:serviceaccount:openshift-etcd-operator:etcd-operator",
                                   "system:serviceaccount:openshift-etcd-operator:etcd-operator",
                                   "system:serviceaccount:openshift-etcd-operator:etcd-operator"};
  sweep_elections("library-go 137/107/26", "openshift-etcd-operator",
                  "openshift-cluster-etcd-operator-lock", op, 137 * SEC, 107 * SEC, 26 * SEC);
  sweep_elections("library-go single-node 270/240/60", "openshift-etcd-operator",
                  "openshift-cluster-etcd-operator-lock", op, 270 * SEC, 240 * SEC, 60 * SEC);
}

/* ---- the kubelet and kube-apiserver identity leases ---- */

static void test_node_and_identity_leases(void **state) {
  (void)state;
  int runs = 0;
  for (int route = ROUTE_ONE; route <= ROUTE_PINNED; route++)
    for (int o = -30; o <= 30; o += sweep_step()) {
      world w;
      char scenario[96];
      /* the kubelet: create, then renewTime every 10 s; no acquireTime, no transitions */
      world_init(&w, "kube-node-lease", "node-1", (routing)route);
      snprintf(scenario, sizeof scenario, "kubelet, clock %+ds", o);
      w.scenario = scenario;
      writer kubelet = {&w, "system:node:node-1", NULL, (lg_time)o * SEC, 0};
      assert_true(
          create_with(&w, &kubelet,
                      json_pack("{s:s, s:i, s:o}", "holderIdentity", "node-1",
                                "leaseDurationSeconds", 40, "renewTime", now_str(&kubelet))));
      for (int i = 0; i < 20; i++) {
        w.now += 10 * SEC;
        kubelet.replica = i % 2;
        assert_true(put_spec(&w, &kubelet, json_pack("{s:o}", "renewTime", now_str(&kubelet))));
      }
      if (w.findings)
        fail_msg("%s", w.first);
      world_free(&w);

      /* kube-apiserver: its identity lease, 3600 s (or --identity-lease-duration-seconds
       * 7200 before 1.26, named kube-apiserver-<uuid>), deleted and re-created on restart */
      static const char *const names[] = {"apiserver-5xq4ztkmbhbwcb3i7gbqdm2ylq",
                                          "kube-apiserver-0c8a4b6e-9f3d-4a2b-8e1c-5d7f9a3b2c1e"};
      for (int n = 0; n < 2; n++) {
        world_init(&w, "kube-system", names[n], (routing)route);
        snprintf(scenario, sizeof scenario, "apiserver identity %s, clock %+ds", names[n], o);
        w.scenario = scenario;
        writer as = {&w, "system:apiserver", NULL, (lg_time)o * SEC, 0};
        int dur = n ? 7200 : 3600;
        for (int restart = 0; restart < 2; restart++) {
          char id[96];
          snprintf(id, sizeof id, "%s_%d", names[n], restart);
          assert_true(
              create_with(&w, &as,
                          json_pack("{s:s, s:i, s:o}", "holderIdentity", id, "leaseDurationSeconds",
                                    dur, "renewTime", now_str(&as))));
          for (int i = 0; i < 6; i++) {
            w.now += 10 * SEC;
            assert_true(put_spec(&w, &as, json_pack("{s:o}", "renewTime", now_str(&as))));
          }
          assert_true(delete_lease(&w, &as)); /* newer versions delete on shutdown */
        }
        if (w.findings)
          fail_msg("%s", w.first);
        world_free(&w);
      }
      runs++;
    }
  print_message("kubelet and identity leases: %d runs, no finding\n", runs);
}

/* ---- coordinated leader election (KEP-4355) ---- */

/* The controller in kube-apiserver elects on the API server's clock; the elected clients
 * renew on theirs (client-go's tryCoordinatedRenew: its own duration, acquireTime,
 * transitions and strategy kept) and stop when the controller sets a preferredHolder. */
static void coordinated(world *w, lg_time api_off, lg_time x_off, lg_time y_off) {
  writer ctl = {w, "system:apiserver", NULL, api_off, 0};
  writer x = {w, "system:kube-controller-manager", NULL, x_off, 1};
  writer y = {w, "system:kube-controller-manager", NULL, y_off, 0};
  const char *X = "cp-1_8c1f2e4a", *Y = "cp-2_3a9b8c7d";
  assert_true(create_with(w, &ctl,
                          json_pack("{s:s, s:s, s:i, s:o}", "holderIdentity", X, "strategy",
                                    "OldestEmulationVersion", "leaseDurationSeconds", 5,
                                    "renewTime", now_str(&ctl))));
  for (int i = 0; i < 10; i++) {
    w->now += 2 * SEC;
    assert_true(put_spec(
        w, &x, json_pack("{s:o, s:i}", "renewTime", now_str(&x), "leaseDurationSeconds", 15)));
  }
  /* a better candidate appears: the controller marks the end of X's term */
  w->now += 500000;
  assert_true(put_spec(w, &ctl, json_pack("{s:s}", "preferredHolder", Y)));
  /* X stops renewing; the controller waits until the lease expired by its clock */
  lg_time renew;
  assert_int_equal(lg_time_parse(json_string_value(json_object_get(
                                     json_object_get(w->lease, "spec"), "renewTime")),
                                 &renew),
                   LG_OK);
  int64_t expiry = renew + 15 * SEC - (T0 + api_off);
  w->now = (expiry > w->now ? expiry : w->now) + SEC;
  assert_true(put_spec(w, &ctl,
                       json_pack("{s:s, s:o, s:i, s:n, s:n}", "holderIdentity", Y, "renewTime",
                                 now_str(&ctl), "leaseDurationSeconds", 5, "preferredHolder",
                                 "acquireTime")));
  for (int i = 0; i < 10; i++) {
    w->now += 2 * SEC;
    assert_true(put_spec(
        w, &y, json_pack("{s:o, s:i}", "renewTime", now_str(&y), "leaseDurationSeconds", 15)));
  }
}

static void test_coordinated_election(void **state) {
  (void)state;
  int runs = 0;
  for (int route = ROUTE_ONE; route <= ROUTE_PINNED; route++)
    for (int o = -30; o <= 30; o += sweep_step()) {
      world w;
      char scenario[96];
      world_init(&w, "kube-system", "kube-controller-manager", (routing)route);
      snprintf(scenario, sizeof scenario, "coordinated, apiserver %+ds, clients %+d/%+ds", o / 3, o,
               -o);
      w.scenario = scenario;
      coordinated(&w, (lg_time)o * SEC / 3, (lg_time)o * SEC, -(lg_time)o * SEC);
      if (w.findings)
        fail_msg("%d finding(s); first: %s", w.findings, w.first);
      world_free(&w);
      runs++;
    }
  print_message("coordinated election: %d runs, no finding\n", runs);
}

/* ---- steals ---- */

typedef enum {
  STEAL_TAKEOVER,      /* holder -> thief, transitions + 1 */
  STEAL_WITH_STRATEGY, /* and spec.strategy added, transitions kept */
  STEAL_RELEASE,       /* holder -> "" by the thief (then acquire at once) */
  STEAL_DELETE,        /* DELETE by the thief (then CREATE) */
  STEAL_COUNT
} steal_kind;
static const char *const steal_names[] = {"takeover", "takeover adding strategy",
                                          "release then acquire", "delete then create"};

/* A holder renewing a lease of duration d every max(d/3, 1 s) (and, coordinated, put there
 * by the controller); the thief strikes at fraction f of the term after the last renewal.
 * True when the steal was stopped. */
static bool steal(routing route, int d, lg_time holder_off, bool coordinated_lease, steal_kind k,
                  double f, char *why, size_t whylen) {
  world w;
  world_init(&w, "team-a", "payments-lock", route);
  w.scenario = "steal";
  writer ctl = {&w, "system:apiserver", NULL, 0, 0};
  writer h = {&w, "system:serviceaccount:team-a:payments", "payments-7d9f-x2x9z", holder_off, 0};
  writer thief = {&w, "system:serviceaccount:evil:thief", "thief-0", 3 * SEC, 1};
  const char *H = "payments-7d9f-x2x9z_4e1f", *T = "thief-0_666";
  int64_t period = d * SEC / 3 > SEC ? d * SEC / 3 : SEC;
  bool stopped;
  if (coordinated_lease)
    assert_true(create_with(&w, &ctl,
                            json_pack("{s:s, s:s, s:i, s:o, s:i}", "holderIdentity", H, "strategy",
                                      "OldestEmulationVersion", "leaseDurationSeconds", d,
                                      "renewTime", now_str(&ctl), "leaseTransitions", 0)));
  else
    assert_true(create_with(&w, &h,
                            json_pack("{s:s, s:i, s:o, s:o, s:i}", "holderIdentity", H,
                                      "leaseDurationSeconds", d, "acquireTime", now_str(&h),
                                      "renewTime", now_str(&h), "leaseTransitions", 0)));
  for (int i = 0; i < 6; i++) {
    w.now += period;
    h.replica = i % 2;
    assert_true(put_spec(&w, &h, json_pack("{s:o}", "renewTime", now_str(&h))));
  }
  w.now += (int64_t)(f * d * SEC);
  w.correct = false;
  switch (k) {
  case STEAL_TAKEOVER:
    stopped =
        !put_spec(&w, &thief,
                  json_pack("{s:s, s:o, s:o, s:i}", "holderIdentity", T, "acquireTime",
                            now_str(&thief), "renewTime", now_str(&thief), "leaseTransitions", 1));
    break;
  case STEAL_WITH_STRATEGY:
    stopped = !put_spec(&w, &thief,
                        json_pack("{s:s, s:o, s:s}", "holderIdentity", T, "renewTime",
                                  now_str(&thief), "strategy", "OldestEmulationVersion"));
    break;
  case STEAL_RELEASE:
    stopped =
        !put_spec(&w, &thief,
                  json_pack("{s:s, s:i, s:o, s:o}", "holderIdentity", "", "leaseDurationSeconds", 1,
                            "acquireTime", now_str(&thief), "renewTime", now_str(&thief)));
    stopped =
        stopped || !put_spec(&w, &thief,
                             json_pack("{s:s, s:i, s:o, s:o, s:i}", "holderIdentity", T,
                                       "leaseDurationSeconds", d, "acquireTime", now_str(&thief),
                                       "renewTime", now_str(&thief), "leaseTransitions", 1));
    break;
  default:
    stopped = !delete_lease(&w, &thief);
    stopped =
        stopped || !create_with(&w, &thief,
                                json_pack("{s:s, s:i, s:o, s:o, s:i}", "holderIdentity", T,
                                          "leaseDurationSeconds", d, "acquireTime", now_str(&thief),
                                          "renewTime", now_str(&thief), "leaseTransitions", 0));
    break;
  }
  if (w.lease)
    snprintf(why, whylen, "holder now %s", holder_of(&w));
  world_free(&w);
  return stopped;
}

static void test_steals_are_denied(void **state) {
  (void)state;
  static const int durations[] = {2, 3, 5, 10, 15, 40, 137};
  static const double fractions[] = {0.02, 0.5, 0.9};
  static const int offsets[] = {-30, -10, 0, 10, 30}; /* a coarse sweep: -30, 0, 30 */
  int runs = 0, failures = 0;
  for (int route = ROUTE_ONE; route <= ROUTE_ALTERNATE; route++)
    for (size_t di = 0; di < sizeof durations / sizeof *durations; di++)
      for (size_t oi = 0; oi<sizeof offsets / sizeof *offsets; oi += sweep_step()> 1 ? 2 : 1)
        for (int coord = 0; coord < 2; coord++)
          for (int k = 0; k < STEAL_COUNT; k++)
            for (size_t fi = 0; fi < sizeof fractions / sizeof *fractions; fi++) {
              char why[256] = "";
              runs++;
              if (!steal((routing)route, durations[di], (lg_time)offsets[oi] * SEC, coord,
                         (steal_kind)k, fractions[fi], why, sizeof why)) {
                if (failures++ < 10)
                  print_error(
                      "steal not stopped: %s, %s, lease %ds, holder clock %+ds%s, at %.0f%% "
                      "of the term (%s)\n",
                      route_names[route], steal_names[k], durations[di], offsets[oi],
                      coord ? ", coordinated" : "", fractions[fi] * 100, why);
              }
            }
  print_message("steals: %d tried, %d not stopped\n", runs, failures);
  assert_int_equal(failures, 0);
}

/* Clocks far off (a node whose NTP is broken, a webhook on a node whose clock is slow): the
 * stock elections are never denied; the only findings are timestamps warnings of the stamps
 * ahead. Steals of a lease whose holder's clock is that far off are still denied. */
static void test_broken_clocks(void **state) {
  (void)state;
  static const int offsets[] = {-36000, -3600, -600, -120, -45, 45, 120, 600, 3600, 36000};
  static const char *const sched[] = {"system:kube-scheduler", "system:kube-scheduler",
                                      "system:kube-scheduler"};
  char scenario[160];
  int runs = 0, advice = 0, steals = 0;
  size_t stride = sweep_step() > 1 ? 3 : 1; /* under valgrind: -10 h, -2 min, +10 min, +10 h */
  for (int route = ROUTE_ONE; route <= ROUTE_ALTERNATE; route++)
    for (size_t oi = 0; oi < sizeof offsets / sizeof *offsets; oi += stride) {
      world w;
      lg_time offs[3];
      int o = offsets[oi];
      world_init(&w, "kube-system", "kube-scheduler", (routing)route);
      snprintf(scenario, sizeof scenario, "kube-scheduler, clocks %+d/%+d/%+.1fs", o, -o,
               o / 2.0 + 0.25);
      w.scenario = scenario;
      offsets_of(o, offs);
      election(&w, offs, sched, 15 * SEC, 10 * SEC, 2 * SEC);
      if (w.denials)
        fail_msg("%d denial(s) of correct writers; first finding: %s", w.denials, w.first);
      if (w.findings != w.advice)
        fail_msg("%d finding(s) other than advice; first: %s", w.findings - w.advice, w.first);
      advice += w.advice;
      world_free(&w);
      runs++;
      for (int k = 0; k < STEAL_COUNT; k++) {
        char why[256] = "";
        if (!steal((routing)route, 15, (lg_time)o * SEC, 0, (steal_kind)k, 0.5, why, sizeof why))
          fail_msg("steal not stopped: %s, %s, holder clock %+ds (%s)", route_names[route],
                   steal_names[k], o, why);
        steals++;
      }
    }
  /* the holders 45 s and more ahead were warned, not silently passed */
  assert_true(advice > 0);
  print_message("broken clocks: %d elections, no denial, %d warnings; %d steals denied\n", runs,
                advice, steals);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_broken_clocks),
      cmocka_unit_test(test_kube_components),
      cmocka_unit_test(test_operators),
      cmocka_unit_test(test_library_go),
      cmocka_unit_test(test_node_and_identity_leases),
      cmocka_unit_test(test_coordinated_election),
      cmocka_unit_test(test_steals_are_denied),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
