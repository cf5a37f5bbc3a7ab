/* logq.c -- log lines to stdout and stderr: at once, or through a bounded queue per stream
 * drained by a writer thread of its own, so a stalled reader costs lines, never a request. */
#include "logq.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_CAPACITY  (1024 * 1024)
#define DEFAULT_REPORT_MS 10000
#define PIPE_CHUNK        4096 /* PIPE_BUF, and one page of a pipe */
#define BATCH_MS          1    /* a woken writer lets lines gather this long before writing */

/* One stream. Its lines are whole in the ring: [head, head + len) modulo cap, oldest first.
 * The writer writes from the ring without the lock; callers only append after it. */
typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t more; /* lines queued, or stopping */
  pthread_cond_t idle; /* the writer finished */
  /* guarded by mu */
  bool queued;  /* started: lines go to the ring */
  bool waiting; /* the writer waits for lines */
  bool stopping, finished;
  bool broken; /* a write failed for good, or the stream was given up at stop */
  bool broken_told;
  char *ring;
  size_t cap, head, len;
  uint64_t unreported; /* dropped lines not reported yet, the first at unreported_since */
  lg_time unreported_since;
  /* the writer (main thread only) */
  pthread_t thread;
  bool thread_ok, cvs_ok;
  atomic_uint_fast64_t dropped;
} stream;

static stream streams[LG_LOGQ_STREAMS] = {{.mu = PTHREAD_MUTEX_INITIALIZER},
                                          {.mu = PTHREAD_MUTEX_INITIALIZER}};
/* Set by lg_logq_start before the writers start; read-only while they run. */
static lg_logq_report_fn report_fn;
static long report_ms = DEFAULT_REPORT_MS;
static atomic_bool broke_news; /* a stream broke: stderr's writer reports it at once */

static const char *const names[LG_LOGQ_STREAMS] = {"stdout", "stderr"};

const char *lg_logq_stream_name(lg_logq_stream s) {
  return (unsigned)s < LG_LOGQ_STREAMS ? names[s] : "";
}

static FILE *file_of(const stream *st) { return st == &streams[LG_LOGQ_STDOUT] ? stdout : stderr; }

/* Counts n dropped lines; the caller holds st->mu. */
static void drop_locked(stream *st, uint64_t n) {
  if (!n)
    return;
  atomic_fetch_add(&st->dropped, n);
  if (!st->unreported)
    st->unreported_since = lg_time_now();
  st->unreported += n;
}

/* Drops everything queued (its lines counted); the caller holds st->mu. */
static void drop_queued(stream *st) {
  uint64_t lines = 0;
  for (size_t i = 0; i < st->len; i++)
    lines += st->ring[(st->head + i) % st->cap] == '\n';
  /* A line cut short by a cancelled write counts as dropped (its newline is still here). */
  drop_locked(st, lines);
  st->head = st->len = 0;
}

static void ring_put(stream *st, const char *p, size_t n) {
  size_t tail = (st->head + st->len) % st->cap, first = st->cap - tail < n ? st->cap - tail : n;
  memcpy(st->ring + tail, p, first);
  memcpy(st->ring, p + first, n - first);
  st->len += n;
}

/* Writes the line through stdio at once; the caller holds st->mu. */
static bool write_now(stream *st, const char *line, size_t len) {
  FILE *f = file_of(st);
  bool ok;
  errno = 0;
  ok = fwrite(line, 1, len, f) == len && fputc('\n', f) != EOF;
  ok = fflush(f) == 0 && ok;
  if (!ok) {
    if (errno == EPIPE)
      st->broken = true;
    clearerr(f);
  }
  return ok;
}

bool lg_logq_write(lg_logq_stream s, const char *line, size_t len) {
  stream *st;
  bool ok = false;
  if ((unsigned)s >= LG_LOGQ_STREAMS)
    return false;
  st = &streams[s];
  pthread_mutex_lock(&st->mu);
  if (!line || st->broken)
    ok = false;
  else if (!st->queued)
    ok = write_now(st, line, len);
  else if (len < st->cap - st->len) {
    /* Only a waiting writer needs waking; once woken it gathers a batch (BATCH_MS), so a
     * burst of lines costs a wake-up, not a futex call each. */
    if (st->waiting)
      pthread_cond_signal(&st->more);
    ring_put(st, line, len);
    ring_put(st, "\n", 1);
    ok = true;
  }
  if (!ok)
    drop_locked(st, 1);
  pthread_mutex_unlock(&st->mu);
  return ok;
}

uint64_t lg_logq_dropped(lg_logq_stream s) {
  return (unsigned)s < LG_LOGQ_STREAMS ? atomic_load(&streams[s].dropped) : 0;
}

bool lg_logq_broken(lg_logq_stream s) {
  bool b;
  if ((unsigned)s >= LG_LOGQ_STREAMS)
    return false;
  pthread_mutex_lock(&streams[s].mu);
  b = streams[s].broken;
  pthread_mutex_unlock(&streams[s].mu);
  return b;
}

/* ---- the writers ---- */

/* Tells report_fn what each stream dropped since the last report, and which broke. Called
 * without any stream lock (report_fn logs to stderr). Reports into a broken stderr are
 * pointless and would count themselves: then only the counters move on. */
static void report_drops(void) {
  bool to_stderr;
  pthread_mutex_lock(&streams[LG_LOGQ_STDERR].mu);
  to_stderr = !streams[LG_LOGQ_STDERR].broken;
  pthread_mutex_unlock(&streams[LG_LOGQ_STDERR].mu);
  atomic_store(&broke_news, false);
  for (int i = 0; i < LG_LOGQ_STREAMS; i++) {
    stream *st = &streams[i];
    uint64_t n;
    lg_time since;
    bool broke;
    pthread_mutex_lock(&st->mu);
    n = st->unreported;
    since = st->unreported_since;
    broke = st->broken && !st->broken_told;
    st->unreported = 0;
    st->broken_told = st->broken;
    pthread_mutex_unlock(&st->mu);
    if (report_fn && to_stderr && broke)
      report_fn((lg_logq_stream)i, 0, 0, true);
    if (report_fn && to_stderr && n)
      report_fn((lg_logq_stream)i, n, since, false);
  }
}

static int64_t mono_ms(void) { return lg_time_mono() / 1000; }

static struct timespec abs_mono(int64_t ms) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += (time_t)(ms / 1000);
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

/* Writes the oldest contiguous part of the ring; called and returns with st->mu held. Unless
 * fd is a regular file it first waits (up to a second) until fd takes data, then writes at
 * most PIPE_CHUNK bytes, which a pipe with room takes without blocking: so a stop cancels
 * the wait, never a write half done, and the count of lines written stays exact. */
static void write_some(stream *st, int fd, bool regular) {
  size_t n = st->cap - st->head < st->len ? st->cap - st->head : st->len;
  const char *p = st->ring + st->head;
  struct pollfd pfd = {.fd = fd, .events = POLLOUT};
  ssize_t w = -1;
  int e = EAGAIN, old;

  if (!regular && n > PIPE_CHUNK)
    n = PIPE_CHUNK;
  pthread_mutex_unlock(&st->mu);
  pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
  if (regular || poll(&pfd, 1, 1000) > 0) {
    w = write(fd, p, n);
    e = errno;
  }
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
  pthread_mutex_lock(&st->mu);
  if (w > 0) {
    st->head = (st->head + (size_t)w) % st->cap;
    st->len -= (size_t)w;
    if (!st->len)
      st->head = 0;
  } else if (w < 0 && (e == EINTR || e == EAGAIN || e == EWOULDBLOCK)) {
    return;
  } else {
    /* EPIPE (the reader is gone), EBADF, EIO...: no later write would do better. */
    st->broken = true;
    drop_queued(st);
    atomic_store(&broke_news, true);
    pthread_cond_signal(&streams[LG_LOGQ_STDERR].more);
  }
}

static void *writer(void *arg) {
  stream *st = arg;
  const bool reporter = st == &streams[LG_LOGQ_STDERR];
  const int fd = fileno(file_of(st));
  struct stat sb;
  const bool regular = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
  int64_t next_report = mono_ms() + report_ms;
  int old;

  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
  pthread_mutex_lock(&st->mu);
  for (;;) {
    if (reporter && (mono_ms() >= next_report || atomic_load(&broke_news))) {
      pthread_mutex_unlock(&st->mu);
      report_drops();
      next_report = mono_ms() + report_ms;
      pthread_mutex_lock(&st->mu);
    }
    if (st->len && !st->broken) {
      write_some(st, fd, regular);
      continue;
    }
    if (st->stopping)
      break;
    st->waiting = true;
    if (reporter) {
      struct timespec until = abs_mono(next_report - mono_ms() > 0 ? next_report - mono_ms() : 0);
      pthread_cond_timedwait(&st->more, &st->mu, &until);
    } else {
      pthread_cond_wait(&st->more, &st->mu);
    }
    st->waiting = false;
    if (st->len && !st->stopping) {
      const struct timespec batch = {0, BATCH_MS * 1000000L};
      pthread_mutex_unlock(&st->mu);
      nanosleep(&batch, NULL);
      pthread_mutex_lock(&st->mu);
    }
  }
  st->finished = true;
  pthread_cond_broadcast(&st->idle);
  pthread_mutex_unlock(&st->mu);
  return NULL;
}

/* ---- start and stop ---- */

static bool init_cvs(stream *st) {
  pthread_condattr_t a;
  bool ok = pthread_condattr_init(&a) == 0;
  ok = ok && pthread_condattr_setclock(&a, CLOCK_MONOTONIC) == 0;
  if (ok && pthread_cond_init(&st->more, &a) != 0)
    ok = false;
  else if (ok && pthread_cond_init(&st->idle, &a) != 0) {
    pthread_cond_destroy(&st->more);
    ok = false;
  }
  pthread_condattr_destroy(&a);
  return ok;
}

/* Back to writing at once: what is left is dropped (and counted), the ring freed. A stream
 * whose writer had to be cancelled is broken: its descriptor would block the next write. */
static bool retire(stream *st, bool gave_up) {
  bool clean;
  pthread_mutex_lock(&st->mu);
  clean = !gave_up && !st->len && !st->broken;
  if (st->len)
    drop_queued(st);
  if (gave_up)
    st->broken = true;
  free(st->ring);
  st->ring = NULL;
  st->cap = st->head = st->len = 0;
  st->queued = st->stopping = st->finished = false;
  pthread_mutex_unlock(&st->mu);
  if (st->cvs_ok) {
    pthread_cond_destroy(&st->more);
    pthread_cond_destroy(&st->idle);
    st->cvs_ok = false;
  }
  return clean;
}

bool lg_logq_stop(long flush_ms) {
  struct timespec deadline = abs_mono(flush_ms > 0 ? flush_ms : 0);
  bool clean = true, any = false;

  for (int i = 0; i < LG_LOGQ_STREAMS; i++)
    any |= streams[i].cvs_ok;
  if (!any)
    return true;
  /* The last word on drops goes into stderr's queue before it is flushed. */
  report_drops();
  for (int i = 0; i < LG_LOGQ_STREAMS; i++) {
    stream *st = &streams[i];
    if (!st->cvs_ok)
      continue;
    pthread_mutex_lock(&st->mu);
    st->stopping = true;
    pthread_cond_broadcast(&st->more);
    pthread_mutex_unlock(&st->mu);
  }
  for (int i = 0; i < LG_LOGQ_STREAMS; i++) {
    stream *st = &streams[i];
    bool done = true;
    if (!st->cvs_ok)
      continue;
    if (st->thread_ok) {
      pthread_mutex_lock(&st->mu);
      while (!st->finished && pthread_cond_timedwait(&st->idle, &st->mu, &deadline) != ETIMEDOUT)
        ;
      done = st->finished;
      pthread_mutex_unlock(&st->mu);
      /* Stuck in write() on a reader that stopped reading: give up on it. */
      if (!done)
        pthread_cancel(st->thread);
      pthread_join(st->thread, NULL);
      st->thread_ok = false;
      /* A cancel that came as it finished anyway found no cancellation point. */
      pthread_mutex_lock(&st->mu);
      done = st->finished;
      pthread_mutex_unlock(&st->mu);
    }
    clean &= retire(st, !done);
  }
  return clean;
}

lg_rc lg_logq_start(const lg_logq_config *cfg, char *err, size_t errlen) {
  size_t cap = cfg && cfg->capacity ? cfg->capacity : DEFAULT_CAPACITY;
  sigset_t all, old;
  lg_rc rc = LG_OK;

  for (int i = 0; i < LG_LOGQ_STREAMS; i++)
    if (streams[i].cvs_ok)
      return lg_fail(err, errlen, LG_EINVAL, "the log queues are already started");
  report_fn = cfg ? cfg->report : NULL;
  report_ms = cfg && cfg->report_ms > 0 ? cfg->report_ms : DEFAULT_REPORT_MS;
  atomic_store(&broke_news, false);
  fflush(stdout);
  fflush(stderr);
  for (int i = 0; i < LG_LOGQ_STREAMS && !rc; i++) {
    stream *st = &streams[i];
    char *ring = malloc(cap);
    if (!ring || !(st->cvs_ok = init_cvs(st))) {
      free(ring);
      rc = lg_fail(err, errlen, LG_ENOMEM, "cannot set up the %s log queue", names[i]);
      break;
    }
    pthread_mutex_lock(&st->mu);
    st->ring = ring;
    st->cap = cap;
    st->head = st->len = 0;
    st->queued = true;
    st->stopping = st->finished = false;
    st->broken = st->broken_told = false; /* tried afresh */
    pthread_mutex_unlock(&st->mu);
  }
  /* The writers take no signals: they belong to the thread that serves. */
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  for (int i = 0; i < LG_LOGQ_STREAMS && !rc; i++) {
    int e = pthread_create(&streams[i].thread, NULL, writer, &streams[i]);
    if (e != 0)
      rc = lg_fail(err, errlen, LG_ENOMEM, "cannot start the %s log writer: %s", names[i],
                   strerror(e));
    streams[i].thread_ok = e == 0;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc)
    lg_logq_stop(0);
  return rc;
}
