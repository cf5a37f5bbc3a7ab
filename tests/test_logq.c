/* test_logq.c -- src/logq.c with stdout on a pipe the test reads, or stops reading, or
 * closes: lines written at once before the queue starts; once started, a stalled reader
 * never blocks a writer (lines are dropped and counted, never cut or reordered, and flow
 * again when it reads); a closed reader breaks the stream (EPIPE, no signal); stop gives up
 * within its bound. */
#define _GNU_SOURCE /* F_SETPIPE_SZ, pipe2 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "logq.h"

#define LINE_LEN 100 /* "line <thread> <seq> " and padding, without the newline */

/* stdout (fd 1) sent into a pipe whose read end (non-blocking) the test holds. */
static struct {
  int saved, rd;
  bool on;
} pipe_out = {-1, -1, false};

/* What the report callback was told, since the process started. */
static atomic_uint_fast64_t reported[LG_LOGQ_STREAMS];
static atomic_int broken_told[LG_LOGQ_STREAMS];

static void on_report(lg_logq_stream s, uint64_t dropped, lg_time since, bool broken) {
  (void)since;
  if (broken)
    atomic_fetch_add(&broken_told[s], 1);
  else
    atomic_fetch_add(&reported[s], dropped);
}

/* Figures go to stderr: stdout is the pipe under test. */
__attribute__((format(printf, 1, 2))) static void note(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
}

/* Points fd 1 at a new pipe of pipe_size bytes. */
static void redirect_stdout(int pipe_size) {
  int p[2];
  assert_int_equal(pipe2(p, O_CLOEXEC), 0);
  assert_true(fcntl(p[1], F_SETPIPE_SZ, pipe_size) >= pipe_size);
  assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
  fflush(stdout);
  pipe_out.saved = dup(1);
  assert_true(pipe_out.saved >= 0);
  assert_true(dup2(p[1], 1) == 1);
  close(p[1]);
  pipe_out.rd = p[0];
  pipe_out.on = true;
}

/* Stops the queue (if a test left it running) and gives fd 1 back. */
static int teardown(void **state) {
  (void)state;
  lg_logq_stop(0);
  if (pipe_out.on) {
    dup2(pipe_out.saved, 1);
    close(pipe_out.saved);
    if (pipe_out.rd >= 0)
      close(pipe_out.rd);
    pipe_out.rd = pipe_out.saved = -1;
    pipe_out.on = false;
  }
  return 0;
}

static void start_queue(size_t capacity) {
  lg_logq_config cfg = {.capacity = capacity, .report_ms = 100, .report = on_report};
  char err[256] = "";
  for (int i = 0; i < LG_LOGQ_STREAMS; i++)
    atomic_store(&broken_told[i], 0);
  if (lg_logq_start(&cfg, err, sizeof err) != LG_OK)
    fail_msg("lg_logq_start: %s", err);
}

/* Line seq of writer t: LINE_LEN bytes. */
static void make_line(char *buf, int t, int seq) {
  int n = snprintf(buf, LINE_LEN + 1, "line %d %06d ", t, seq);
  memset(buf + n, 'x', (size_t)(LINE_LEN - n));
  buf[LINE_LEN] = '\0';
}

/* Reads what the pipe holds into *text (grown; *len bytes) until it ends with needle or
 * timeout_ms passes; true when it does. */
static bool read_until(char **text, size_t *len, const char *needle, long timeout_ms) {
  struct timespec t0;
  size_t nl = strlen(needle);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    char buf[65536];
    ssize_t n = read(pipe_out.rd, buf, sizeof buf);
    if (n > 0) {
      *text = realloc(*text, *len + (size_t)n + 1);
      assert_non_null(*text);
      memcpy(*text + *len, buf, (size_t)n);
      *len += (size_t)n;
      (*text)[*len] = '\0';
      continue;
    }
    if (*len >= nl && !memcmp(*text + *len - nl, needle, nl))
      return true;
    if (lgt_elapsed_ms(&t0) > lgt_slow(timeout_ms))
      return false;
    struct pollfd p = {.fd = pipe_out.rd, .events = POLLIN};
    poll(&p, 1, 50);
  }
}

/* Checks that text is whole lines of writers 0..nt-1, each writer's in increasing order;
 * returns how many lines there are. Sets seen[t * per + seq] for each. */
static size_t check_lines(const char *text, size_t len, int nt, int per, bool *seen) {
  int last[8];
  size_t lines = 0;
  assert_true(nt <= 8);
  for (int t = 0; t < nt; t++)
    last[t] = -1;
  for (size_t off = 0; off < len; off += LINE_LEN + 1, lines++) {
    char want[LINE_LEN + 1];
    int t, seq;
    if (len - off < LINE_LEN + 1 || sscanf(text + off, "line %d %d ", &t, &seq) != 2 || t < 0 ||
        t >= nt || seq < 0 || seq >= per)
      fail_msg("not a whole line at byte %zu: \"%.40s\"", off, text + off);
    make_line(want, t, seq);
    if (memcmp(text + off, want, LINE_LEN) != 0 || text[off + LINE_LEN] != '\n')
      fail_msg("line %d/%d is cut or mixed at byte %zu", t, seq, off);
    if (seq <= last[t])
      fail_msg("writer %d: line %d after line %d", t, seq, last[t]);
    last[t] = seq;
    seen[t * per + seq] = true;
  }
  return lines;
}

/* Before the queue starts, a line is on the pipe when the call returns; a reader that went
 * away makes the write fail (no SIGPIPE: it is ignored, as main.c does), marks the stream
 * broken and counts the line. */
static void test_at_once(void **state) {
  char buf[64];
  uint64_t before = lg_logq_dropped(LG_LOGQ_STDOUT);
  (void)state;
  redirect_stdout(4096);
  assert_true(lg_logq_write(LG_LOGQ_STDOUT, "hello", 5));
  assert_int_equal(read(pipe_out.rd, buf, sizeof buf), 6);
  assert_memory_equal(buf, "hello\n", 6);
  assert_int_equal(lg_logq_dropped(LG_LOGQ_STDOUT), before);
  close(pipe_out.rd);
  pipe_out.rd = -1;
  assert_false(lg_logq_write(LG_LOGQ_STDOUT, "gone", 4));
  assert_true(lg_logq_broken(LG_LOGQ_STDOUT));
  assert_false(lg_logq_write(LG_LOGQ_STDOUT, "still gone", 10));
  assert_int_equal(lg_logq_dropped(LG_LOGQ_STDOUT), before + 2);
  assert_false(lg_logq_broken(LG_LOGQ_STDERR));
}

/* A reader that stops reading: 2,000 lines (200 KB) against a 4 KiB pipe and a 64 KiB queue
 * are all taken at once; those that do not fit are dropped, counted and reported. When it
 * reads again, every accepted line arrives whole and in order, and new lines follow. */
static void test_stalled_reader(void **state) {
  enum { N = 2000 };
  static bool seen[N];
  bool accepted[N];
  char line[LINE_LEN + 2], *text = NULL;
  size_t len = 0, n_accepted = 0, got;
  uint64_t before = lg_logq_dropped(LG_LOGQ_STDOUT), dropped;
  struct timespec t0;
  long ms;
  (void)state;

  redirect_stdout(4096);
  start_queue(64 * 1024);
  assert_false(lg_logq_broken(LG_LOGQ_STDOUT)); /* start tries a broken stream afresh */
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < N; i++) {
    make_line(line, 0, i);
    accepted[i] = lg_logq_write(LG_LOGQ_STDOUT, line, LINE_LEN);
    n_accepted += accepted[i];
  }
  ms = lgt_elapsed_ms(&t0);
  note("2000 lines into a stalled pipe: %ld ms, %zu queued\n", ms, n_accepted);
  assert_true(ms < lgt_slow(2000)); /* a blocking write would hang here for good */
  dropped = lg_logq_dropped(LG_LOGQ_STDOUT) - before;
  assert_true(n_accepted > 600 && n_accepted < 1000); /* about 68 KiB of 101-byte lines */
  assert_int_equal(dropped, N - n_accepted);
  /* The report comes within its interval (100 ms here) and adds up: every drop since the
   * process started (test_at_once's too) is reported once. */
  for (int i = 0;
       i < 100 && atomic_load(&reported[LG_LOGQ_STDOUT]) < lg_logq_dropped(LG_LOGQ_STDOUT); i++)
    lgt_sleep_ms(20);
  assert_int_equal(atomic_load(&reported[LG_LOGQ_STDOUT]), lg_logq_dropped(LG_LOGQ_STDOUT));

  /* The reader resumes: everything up to the last line accepted arrives. */
  for (int last = N - 1; last >= 0; last--)
    if (accepted[last]) {
      make_line(line, 0, last);
      break;
    }
  strcat(line, "\n");
  assert_true(read_until(&text, &len, line, 10000));
  memset(seen, 0, sizeof seen);
  got = check_lines(text, len, 1, N, seen);
  assert_int_equal(got, n_accepted);
  for (int i = 0; i < N; i++)
    assert_int_equal(seen[i], accepted[i]);
  /* New lines flow again. */
  free(text);
  text = NULL;
  len = 0;
  assert_true(lg_logq_write(LG_LOGQ_STDOUT, "after", 5));
  assert_true(read_until(&text, &len, "after\n", 5000));
  free(text);
  assert_true(lg_logq_stop(1000)); /* nothing left behind */
  assert_false(lg_logq_broken(LG_LOGQ_STDOUT));
}

typedef struct {
  int t;
} writer_arg;

static void *write_lines(void *arg) {
  const writer_arg *w = arg;
  char line[LINE_LEN + 1];
  for (int i = 0; i < 5000; i++) {
    make_line(line, w->t, i);
    lg_logq_write(LG_LOGQ_STDOUT, line, LINE_LEN);
  }
  return NULL;
}

typedef struct {
  char *text;
  size_t len;
  bool ok;
} reader_arg;

static void *read_lines(void *arg) {
  reader_arg *r = arg;
  r->ok = read_until(&r->text, &r->len, "end\n", 20000);
  return NULL;
}

/* Four threads write at once while the reader reads: lines are never mixed, each thread's
 * stay in order, and what is not dropped arrives. */
static void test_threads(void **state) {
  enum { T = 4, PER = 5000 };
  static bool seen[T * PER];
  pthread_t th[T], rd;
  writer_arg args[T];
  reader_arg r = {NULL, 0, false};
  size_t got;
  uint64_t before = lg_logq_dropped(LG_LOGQ_STDOUT), dropped;
  (void)state;

  redirect_stdout(65536);
  start_queue(256 * 1024);
  assert_int_equal(pthread_create(&rd, NULL, read_lines, &r), 0);
  for (int t = 0; t < T; t++) {
    args[t].t = t;
    assert_int_equal(pthread_create(&th[t], NULL, write_lines, &args[t]), 0);
  }
  for (int t = 0; t < T; t++)
    pthread_join(th[t], NULL);
  assert_true(lg_logq_write(LG_LOGQ_STDOUT, "end", 3));
  pthread_join(rd, NULL);
  assert_true(r.ok);
  char *text = r.text;
  size_t len = r.len;
  dropped = lg_logq_dropped(LG_LOGQ_STDOUT) - before;
  memset(seen, 0, sizeof seen);
  got = check_lines(text, len - 4, T, PER, seen);
  note("%d lines from %d threads: %zu arrived, %llu dropped\n", T * PER, T, got,
       (unsigned long long)dropped);
  assert_int_equal(got + dropped, T * PER);
  free(text);
  assert_true(lg_logq_stop(1000));
}

/* A reader that closes: the writer gets EPIPE (not a signal), the stream is broken and
 * reported once, later lines are dropped at once, and stop says lines were lost. */
static void test_closed_reader(void **state) {
  uint64_t before;
  int waited = 0;
  (void)state;
  redirect_stdout(4096);
  start_queue(0);
  close(pipe_out.rd);
  pipe_out.rd = -1;
  before = lg_logq_dropped(LG_LOGQ_STDOUT);
  lg_logq_write(LG_LOGQ_STDOUT, "first", 5);
  while (!lg_logq_broken(LG_LOGQ_STDOUT) && waited++ < 250)
    lgt_sleep_ms(20);
  assert_true(lg_logq_broken(LG_LOGQ_STDOUT));
  for (int i = 0; i < 100; i++)
    assert_false(lg_logq_write(LG_LOGQ_STDOUT, "more", 4));
  assert_int_equal(lg_logq_dropped(LG_LOGQ_STDOUT) - before, 101);
  for (int i = 0; i < 100 && !atomic_load(&broken_told[LG_LOGQ_STDOUT]); i++)
    lgt_sleep_ms(20);
  assert_int_equal(atomic_load(&broken_told[LG_LOGQ_STDOUT]), 1);
  assert_false(lg_logq_broken(LG_LOGQ_STDERR));
  assert_false(lg_logq_stop(1000));
}

/* A reader that never reads again: stop gives up after its bound (cancelling the writer
 * stuck in write()), counts what was left as dropped, and the stream takes no more lines
 * (a write to it would block). */
static void test_stop_gives_up(void **state) {
  enum { N = 500 };
  char line[LINE_LEN + 1], *text = NULL;
  size_t len = 0, whole = 0;
  uint64_t before = lg_logq_dropped(LG_LOGQ_STDOUT);
  struct timespec t0;
  long ms;
  (void)state;

  redirect_stdout(4096);
  start_queue(0);
  for (int i = 0; i < N; i++) {
    make_line(line, 0, i);
    assert_true(lg_logq_write(LG_LOGQ_STDOUT, line, LINE_LEN));
  }
  lgt_sleep_ms(100); /* the writer fills the pipe and blocks */
  clock_gettime(CLOCK_MONOTONIC, &t0);
  assert_false(lg_logq_stop(300));
  ms = lgt_elapsed_ms(&t0);
  note("stop with a stalled reader: %ld ms\n", ms);
  assert_true(ms >= 250 && ms < lgt_slow(3000));
  assert_true(lg_logq_broken(LG_LOGQ_STDOUT));
  clock_gettime(CLOCK_MONOTONIC, &t0);
  assert_false(lg_logq_write(LG_LOGQ_STDOUT, "late", 4));
  assert_true(lgt_elapsed_ms(&t0) < 1000);
  /* Every line is either in the pipe whole or counted (a cut last line counts). */
  read_until(&text, &len, "\n\n", 0);
  for (size_t i = 0; i < len; i++)
    whole += text[i] == '\n';
  assert_true(whole > 0 && whole < N);
  assert_int_equal(whole + (lg_logq_dropped(LG_LOGQ_STDOUT) - before), N + 1);
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_at_once, teardown),
      cmocka_unit_test_teardown(test_stalled_reader, teardown),
      cmocka_unit_test_teardown(test_threads, teardown),
      cmocka_unit_test_teardown(test_closed_reader, teardown),
      cmocka_unit_test_teardown(test_stop_gives_up, teardown),
  };
  signal(SIGPIPE, SIG_IGN); /* as leaseguard's main() */
  return cmocka_run_group_tests(tests, NULL, NULL);
}
