/* raw.c -- raw TCP/TLS test connections and a serve process for tests. */
#include "raw.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

SSL_CTX *lgt_raw_ctx(const char *ca) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  assert_non_null(ctx);
  if (ca) {
    assert_int_equal(SSL_CTX_load_verify_locations(ctx, ca, NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  }
  return ctx;
}

/* Waits until fd is ready for events or timeout_ms after t0 has passed. */
static bool wait_io(int fd, short events, const struct timespec *t0, long timeout_ms) {
  struct pollfd p = {.fd = fd, .events = events};
  long left = timeout_ms - lgt_elapsed_ms(t0);
  return left >= 0 && poll(&p, 1, (int)left) == 1;
}

lgt_open lgt_raw_open(lgt_raw *c, const char *host, int port, SSL_CTX *ctx, long timeout_ms) {
  struct sockaddr_storage ss;
  struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
  socklen_t len;
  struct timespec t0;
  int err = 0;
  socklen_t elen = sizeof err;

  memset(c, 0, sizeof *c);
  memset(&ss, 0, sizeof ss);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    len = sizeof *a4;
  } else {
    assert_int_equal(inet_pton(AF_INET6, host, &a6->sin6_addr), 1);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    len = sizeof *a6;
  }
  c->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  assert_true(c->fd >= 0);
  if (connect(c->fd, (struct sockaddr *)&ss, len) != 0) {
    if (errno != EINPROGRESS)
      return LGT_OPEN_REFUSED;
    if (!wait_io(c->fd, POLLOUT, &t0, timeout_ms))
      return LGT_OPEN_TIMEOUT;
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 || err)
      return LGT_OPEN_REFUSED;
  }
  if (!ctx)
    return LGT_OPEN_OK;
  c->ssl = SSL_new(ctx);
  assert_non_null(c->ssl);
  SSL_set_fd(c->ssl, c->fd);
  for (;;) {
    int rc = SSL_connect(c->ssl), e;
    if (rc == 1)
      return LGT_OPEN_OK;
    e = SSL_get_error(c->ssl, rc);
    ERR_clear_error();
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
      return LGT_OPEN_CLOSED;
    if (!wait_io(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, &t0, timeout_ms))
      return LGT_OPEN_TIMEOUT;
  }
}

bool lgt_raw_send(lgt_raw *c, const void *p, size_t n, long timeout_ms) {
  const char *b = p;
  size_t off = 0;
  struct timespec t0;

  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (off < n) {
    short ev = POLLOUT;
    if (c->ssl) {
      int w = SSL_write(c->ssl, b + off, (int)(n - off)), e;
      if (w > 0) {
        off += (size_t)w;
        continue;
      }
      e = SSL_get_error(c->ssl, w);
      ERR_clear_error();
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
        return false;
      ev = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
    } else {
      ssize_t w = send(c->fd, b + off, n - off, MSG_NOSIGNAL);
      if (w > 0) {
        off += (size_t)w;
        continue;
      }
      if (w < 0 && errno != EAGAIN)
        return false;
    }
    if (!wait_io(c->fd, ev, &t0, timeout_ms))
      return false;
  }
  return true;
}

/* Reads what is there: bytes (> 0), 0 at the end of the stream (or an error), -1 for none
 * yet (ev says what to wait for). */
static int read_some(lgt_raw *c, char *buf, size_t cap, short *ev) {
  *ev = POLLIN;
  if (c->ssl) {
    int r = SSL_read(c->ssl, buf, (int)cap), e;
    if (r > 0)
      return r;
    e = SSL_get_error(c->ssl, r);
    ERR_clear_error();
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
      return 0;
    *ev = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
    return -1;
  }
  ssize_t r = recv(c->fd, buf, cap, 0);
  if (r > 0)
    return (int)r;
  return r == 0 || errno != EAGAIN ? 0 : -1;
}

char *lgt_raw_read_all(lgt_raw *c, long timeout_ms, bool *closed) {
  struct timespec t0;
  char *text = calloc(1, 1), chunk[8192];
  size_t len = 0;

  assert_non_null(text);
  *closed = false;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    short ev;
    int n = read_some(c, chunk, sizeof chunk, &ev);
    if (n > 0) {
      text = realloc(text, len + (size_t)n + 1);
      assert_non_null(text);
      memcpy(text + len, chunk, (size_t)n);
      len += (size_t)n;
      text[len] = '\0';
      continue;
    }
    if (n == 0) {
      *closed = true;
      return text;
    }
    if (!wait_io(c->fd, ev, &t0, timeout_ms))
      return text;
  }
}

void lgt_raw_close(lgt_raw *c) {
  if (c->ssl)
    SSL_free(c->ssl);
  if (c->fd > 0)
    close(c->fd);
  c->ssl = NULL;
  c->fd = -1;
}

int lgt_count(const char *text, const char *needle) {
  int n = 0;
  size_t len = strlen(needle);
  for (const char *p = text; p && (p = strstr(p, needle)); p += len)
    n++;
  return n;
}

void lgt_run_tool(char *const argv[], const char *log) {
  pid_t pid = fork();
  int status;
  assert_true(pid >= 0);
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
      _exit(126);
    execvp(argv[0], argv);
    _exit(127);
  }
  status = lgt_wait_exit(pid, 30000);
  if (status < 0)
    lgt_stop(pid, SIGKILL, 1000);
  if (status < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    char *text = lgt_slurp(log);
    fail_msg("%s %s failed (status %d): %s", argv[0], argv[1], status, text);
  }
}

void lgt_serve_start(lgt_serve *s, const char *dir, const char *cert, const char *key,
                     const char *ca, const char *const extra[]) {
  static int starts;
  char name[32];

  memset(s, 0, sizeof *s);
  starts++;
  snprintf(s->dir, sizeof s->dir, "%s", dir);
  snprintf(name, sizeof name, "serve-%d.out", starts);
  lgt_path(s->out, dir, name);
  snprintf(name, sizeof name, "serve-%d.err", starts);
  lgt_path(s->err, dir, name);
  snprintf(s->ca, sizeof s->ca, "%s", ca);
  s->port = lgt_free_port();
  const lgt_serve_opts so = {
      .port = s->port,
      .cert = cert,
      .key = key,
      .ca = ca,
      .flags = (const char *[]){"--policy-check-interval=200", "--threads=2", NULL},
      .extra = extra,
      .out = s->out,
      .err = s->err};
  lgt_serve_launch(&so, &s->pid);
}

void lgt_serve_stop(lgt_serve *s, long timeout_ms) {
  pid_t pid = s->pid;
  int status;
  if (pid <= 0)
    return;
  s->pid = -1;
  status = lgt_stop(pid, SIGTERM, lgt_slow(timeout_ms));
  if (status < 0)
    fail_msg("serve did not stop within %ld ms of SIGTERM", lgt_slow(timeout_ms));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    char *text = lgt_slurp(s->err);
    fail_msg("serve exited with status %d after SIGTERM: %s", status, text);
  }
}
