/* selftest.c -- self-test scenarios: electors in threads on scratch leases, a leader
 * monitor, failover timing, and each misbehaviour against the installed webhook. */
#include "selftest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "elector.h"
#include "electrun.h"
#include "leaselock.h"

#define SAMPLE_US 20000 /* how often the monitor looks at who leads */

enum { RUN, STOP_RELEASE, STOP_KILL };

/* One elector in a thread of its own, with its own API client. */
typedef struct {
  pthread_t thread;
  bool started;
  lg_kube *kube;
  lg_leaselock lock;
  lg_elector *e;
  char id[96];
  atomic_int stop;
  atomic_bool leading;
  atomic_int writes_failed;
  pthread_mutex_t mu;
  long fail_status; /* the first failed write */
  char fail_msg[512];
  char warning[512]; /* the first Warning the API server relayed (warn mode) */
} runner;

static void on_step(void *ud, lg_elector *e, unsigned ev) {
  runner *r = ud;
  atomic_store(&r->leading, lg_elector_is_leader(e));
  if (r->lock.warnings[0] && strstr(r->lock.warnings, "[")) {
    pthread_mutex_lock(&r->mu);
    if (!r->warning[0])
      snprintf(r->warning, sizeof r->warning, "%s", r->lock.warnings);
    pthread_mutex_unlock(&r->mu);
  }
  /* A 409 is a race with the holder's renewal, not an answer of the webhook: the
   * elector re-reads and writes again at its next step, as client-go does. */
  if ((ev & LG_ELECT_WRITE_FAILED) && lg_elector_last_status(e) != 409) {
    pthread_mutex_lock(&r->mu);
    if (atomic_fetch_add(&r->writes_failed, 1) == 0) {
      r->fail_status = lg_elector_last_status(e);
      snprintf(r->fail_msg, sizeof r->fail_msg, "%s", lg_elector_last_error(e));
    }
    pthread_mutex_unlock(&r->mu);
  }
}

/* Sleeps in short slices until deadline; stops when the runner is told to. */
static bool wait_until(void *ud, int64_t deadline) {
  runner *r = ud;
  int64_t now = lg_time_mono();
  if (atomic_load(&r->stop) != RUN)
    return true;
  usleep((useconds_t)(deadline - now < SAMPLE_US ? deadline - now : SAMPLE_US));
  return atomic_load(&r->stop) != RUN;
}

static void *run(void *arg) {
  runner *r = arg;
  lg_electrun loop = {r->e, r, on_step, wait_until,
                      (unsigned)(uintptr_t)r ^ (unsigned)lg_time_mono()};
  lg_electrun_loop(&loop);
  if (atomic_load(&r->stop) == STOP_RELEASE)
    lg_elector_release(r->e, lg_time_mono(), lg_time_now());
  atomic_store(&r->leading, false);
  return NULL;
}

static lg_rc runner_start(runner *r, const lg_selftest_config *c, const char *lease, const char *id,
                          lg_misbehave m, char *err, size_t errlen) {
  lg_elector_config ec = {c->namespace,      lease,           r->id, c->lease_duration,
                          c->renew_deadline, c->retry_period, m};
  lg_lease_api api;
  lg_rc rc;
  memset(r, 0, sizeof *r);
  pthread_mutex_init(&r->mu, NULL);
  snprintf(r->id, sizeof r->id, "%s", id);
  if ((rc = lg_kube_new(c->kube, &r->kube, err, errlen)))
    return rc;
  api = lg_leaselock_init(&r->lock, r->kube, c->namespace, lease, (long)(c->renew_deadline / 2000));
  if ((rc = lg_elector_new(&ec, &api, &r->e, err, errlen)))
    return rc;
  if (pthread_create(&r->thread, NULL, run, r) != 0)
    return lg_fail(err, errlen, LG_EIO, "cannot start a thread");
  r->started = true;
  return LG_OK;
}

/* Stops the runner (how: STOP_RELEASE or STOP_KILL) and frees it. */
static void runner_stop(runner *r, int how) {
  if (r->started) {
    atomic_store(&r->stop, how);
    pthread_join(r->thread, NULL);
  }
  lg_elector_free(r->e);
  lg_kube_free(r->kube);
  pthread_mutex_destroy(&r->mu);
  memset(r, 0, sizeof *r);
}

static int leaders(runner *rs, size_t n, int *who) {
  int count = 0;
  for (size_t i = 0; i < n; i++)
    if (rs[i].started && atomic_load(&rs[i].stop) == RUN && atomic_load(&rs[i].leading)) {
      count++;
      *who = (int)i;
    }
  return count;
}

/* Waits until some runner other than `except` leads, for at most limit. Tracks the largest
 * number of leaders seen at once in *max. Returns the time waited, or -1. */
static int64_t wait_leader(runner *rs, size_t n, int except, int64_t limit, int *max, int *who) {
  int64_t start = lg_time_mono();
  while (lg_time_mono() - start <= limit) {
    int w = -1, k = leaders(rs, n, &w);
    if (k > *max)
      *max = k;
    if (k >= 1 && w != except) {
      *who = w;
      return lg_time_mono() - start;
    }
    usleep(SAMPLE_US);
  }
  return -1;
}

static void delete_lease(const lg_selftest_config *c, const char *lease) {
  lg_kube *k = NULL;
  lg_leaselock lock;
  char err[256];
  if (lg_kube_new(c->kube, &k, err, sizeof err) == LG_OK) {
    lg_leaselock_init(&lock, k, c->namespace, lease, (long)(c->renew_deadline / 2000));
    lg_leaselock_delete(&lock, err, sizeof err);
  }
  lg_kube_free(k);
}

static lg_selftest_row *row(lg_selftest_row *rows, size_t *n, const char *scenario,
                            const char *expected) {
  lg_selftest_row *r = &rows[(*n)++];
  memset(r, 0, sizeof *r);
  snprintf(r->scenario, sizeof r->scenario, "%s", scenario);
  snprintf(r->expected, sizeof r->expected, "%s", expected);
  return r;
}

static void done(const lg_selftest_config *c, lg_selftest_row *r) {
  char line[512];
  if (!c->progress)
    return;
  snprintf(line, sizeof line, "%-4s %-24s %.2fs  %s", r->ok ? "ok" : "FAIL", r->scenario,
           r->seconds, r->observed);
  c->progress(line);
}

/* Three well-behaved electors: one leader; release and hard kill both fail over. */
static lg_rc well_behaved(const lg_selftest_config *c, lg_selftest_row *rows, size_t *n, char *err,
                          size_t errlen) {
  runner rs[3];
  char lease[128], id[96];
  int max = 0, who = -1;
  int64_t t, slack, retry_max = c->retry_period + c->retry_period * 12 / 10;
  lg_selftest_row *r;
  lg_rc rc = LG_OK;

  memset(rs, 0, sizeof rs);
  snprintf(lease, sizeof lease, "%s-election", c->prefix);
  for (int i = 0; i < 3; i++) {
    snprintf(id, sizeof id, "%s-candidate-%d_%08x", c->prefix, i, (unsigned)rand());
    if ((rc = runner_start(&rs[i], c, lease, id, LG_MISBEHAVE_NONE, err, errlen)))
      goto out;
  }
  r = row(rows, n, "one leader", "exactly one of 3 leads");
  t = wait_leader(rs, 3, -1, c->lease_duration + 2 * retry_max, &max, &who);
  usleep((useconds_t)(3 * c->retry_period)); /* watch a few renewals */
  wait_leader(rs, 3, -1, 0, &max, &who);
  r->seconds = (double)t / 1e6;
  r->ok = t >= 0 && max == 1;
  snprintf(r->observed, sizeof r->observed, "%s; at most %d leader(s) at once",
           t >= 0 ? "a leader was elected" : "no leader", max);
  done(c, r);

  slack = c->failover_slack > 0 ? c->failover_slack : LG_USEC_PER_SEC;
  r = row(rows, n, "failover after release", "new leader within ~1 retry period");
  if (who >= 0) {
    int old = who;
    runner_stop(&rs[old], STOP_RELEASE);
    t = wait_leader(rs, 3, old, c->lease_duration + 2 * retry_max, &max, &who);
    r->seconds = (double)t / 1e6;
    r->ok = t >= 0 && t <= retry_max + slack && max == 1;
    snprintf(r->observed, sizeof r->observed, "%s after %.2fs; at most %d leader(s) at once",
             t >= 0 ? rs[who].id : "no new leader", (double)t / 1e6, max);
  }
  done(c, r);

  /* After a kill a candidate waits out the lease from when it saw the last renewal, which
   * its jittered polls see up to retry_max late, and acquires at its first poll after that,
   * up to retry_max later again: lease duration + 2 retry_max past the kill, as client-go. */
  r = row(rows, n, "failover after kill", "new leader within lease duration + 2 max retries");
  if (who >= 0 && t >= 0) {
    int old = who;
    runner_stop(&rs[old], STOP_KILL);
    t = wait_leader(rs, 3, old, 2 * c->lease_duration + 4 * retry_max, &max, &who);
    r->seconds = (double)t / 1e6;
    r->ok = t >= 0 && t <= c->lease_duration + 2 * retry_max + slack && max == 1;
    snprintf(r->observed, sizeof r->observed, "%s after %.2fs; at most %d leader(s) at once",
             t >= 0 ? rs[who].id : "no new leader", (double)t / 1e6, max);
  }
  done(c, r);
out:
  for (int i = 0; i < 3; i++)
    runner_stop(&rs[i], STOP_RELEASE);
  delete_lease(c, lease);
  return rc;
}

/* One misbehaviour on a scratch lease (a steal needs a live leader to steal from). */
static lg_rc misbehaviour(const lg_selftest_config *c, lg_misbehave m, lg_selftest_row *rows,
                          size_t *n, char *err, size_t errlen) {
  runner good, bad;
  char lease[128], id[96], name[48], want[64], expected[96];
  const char *rule = lg_elector_misbehave_rule(m);
  int max = 0, who = -1;
  int64_t start, limit = 2 * c->retry_period + 2 * LG_USEC_PER_SEC;
  lg_selftest_row *r;
  lg_rc rc = LG_OK;
  /* A stamp ahead of the webhook's clock is advice, never denied (a fast clock writes it). */
  lg_mode expect =
      m == LG_MISBEHAVE_FUTURE_RENEW && c->expect == LG_MODE_ENFORCE ? LG_MODE_WARN : c->expect;

  memset(&good, 0, sizeof good);
  memset(&bad, 0, sizeof bad);
  snprintf(lease, sizeof lease, "%s-misbehave-%d", c->prefix, (int)m);
  snprintf(want, sizeof want, "[%s]", rule);
  snprintf(name, sizeof name, "misbehave %s", rule);
  if (expect == LG_MODE_ENFORCE)
    snprintf(expected, sizeof expected, "denied by %s", rule);
  else if (expect == LG_MODE_WARN)
    snprintf(expected, sizeof expected, "let through, warning %s", rule);
  else
    snprintf(expected, sizeof expected, "let through silently (audit)");
  r = row(rows, n, name, expected);
  if (m == LG_MISBEHAVE_STEAL) {
    snprintf(id, sizeof id, "%s-holder_%08x", c->prefix, (unsigned)rand());
    if ((rc = runner_start(&good, c, lease, id, LG_MISBEHAVE_NONE, err, errlen)))
      goto out;
    if (wait_leader(&good, 1, -1, c->lease_duration + 4 * c->retry_period, &max, &who) < 0) {
      snprintf(r->observed, sizeof r->observed, "no leader to steal from");
      goto report;
    }
  }
  snprintf(id, sizeof id, "%s-misbehaving_%08x", c->prefix, (unsigned)rand());
  start = lg_time_mono();
  if ((rc = runner_start(&bad, c, lease, id, m, err, errlen)))
    goto out;
  while (lg_time_mono() - start < limit && atomic_load(&bad.writes_failed) == 0)
    usleep(SAMPLE_US);
  r->seconds = (double)(lg_time_mono() - start) / 1e6;
  pthread_mutex_lock(&bad.mu);
  /* What the answers show of the mode: a 403 (enforce), a Warning (warn), or nothing
   * (audit, whose record is only in the API server's audit log and leaseguard's). */
  if (atomic_load(&bad.writes_failed) == 0 && strstr(bad.warning, want)) {
    snprintf(r->observed, sizeof r->observed, "let through with a warning (warn mode): %s",
             bad.warning);
    r->observed[strcspn(r->observed, "\n")] = '\0';
    r->ok = expect == LG_MODE_WARN;
  } else if (atomic_load(&bad.writes_failed) == 0) {
    snprintf(r->observed, sizeof r->observed,
             "let through silently in %.1fs (audit mode, or no webhook)", r->seconds);
    r->ok = expect == LG_MODE_AUDIT;
  } else {
    /* show the webhook's words, past the request line */
    const char *why = strstr(bad.fail_msg, "denied the request: ");
    why = why ? why + strlen("denied the request: ") : bad.fail_msg;
    if (snprintf(r->observed, sizeof r->observed, "refused (%ld): %s", bad.fail_status, why) < 0)
      r->observed[0] = '\0';
    r->ok = expect == LG_MODE_ENFORCE && bad.fail_status == 403 && strstr(bad.fail_msg, want);
  }
  pthread_mutex_unlock(&bad.mu);
report:
  done(c, r);
out:
  runner_stop(&bad, STOP_KILL);
  runner_stop(&good, STOP_RELEASE);
  delete_lease(c, lease);
  return rc;
}

lg_rc lg_selftest_run(const lg_selftest_config *cfg, lg_selftest_row *rows, size_t *n, char *err,
                      size_t errlen) {
  lg_rc rc;
  *n = 0;
  srand((unsigned)lg_time_mono());
  if ((rc = well_behaved(cfg, rows, n, err, errlen)))
    return rc;
  for (int m = LG_MISBEHAVE_STEAL; m < LG_MISBEHAVE_COUNT; m++)
    if ((rc = misbehaviour(cfg, (lg_misbehave)m, rows, n, err, errlen)))
      return rc;
  return LG_OK;
}
