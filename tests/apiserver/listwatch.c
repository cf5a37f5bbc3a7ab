/* listwatch.c -- LIST with selectors, and WATCH: initial ADDED events or a resume from a
 * resourceVersion, one JSON event per line, 410 Expired as an ERROR event. */
#define _GNU_SOURCE /* POLLRDHUP */
#include "listwatch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "filter.h"
#include "meta.h"

/* How often a waiting watch checks its client, deadline and the store's stop. */
#define SLICE_MS 200

struct as_watch {
  as_store *store;
  as_kind kind;
  char *ns; /* NULL = all namespaces */
  as_filter filter;
  uint64_t after;   /* events up to this version were sent */
  int64_t deadline; /* CLOCK_MONOTONIC ms, 0 = none */
  int fd;
  char *pending; /* serialized events not yet handed out */
  size_t len, off;
  bool last; /* end after pending is drained */
};

/* Watches not yet freed: shutdown waits for them to send their last chunk. */
static atomic_int live_watches;

int as_watch_live(void) { return atomic_load(&live_watches); }

static const char *q(const as_request *rq, const char *key) {
  return rq->query(rq->query_cls, key);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Keeps the items that match f; items is modified in place. */
static void filter_items(json_t *items, const as_filter *f) {
  for (size_t i = json_array_size(items); i-- > 0;)
    if (!as_filter_match(f, json_array_get(items, i)))
      json_array_remove(items, i);
}

/* Appends one event line ({"type":...,"object":...}\n) to the pending bytes. */
static int queue_event(as_watch *w, json_t *event) {
  char *text = event ? json_dumps(event, JSON_COMPACT) : NULL;
  size_t n = text ? strlen(text) : 0;
  char *grown;
  int rc = -1;

  if (!text)
    goto out;
  if (!(grown = realloc(w->pending, w->len + n + 2)))
    goto out;
  w->pending = grown;
  memcpy(w->pending + w->len, text, n);
  w->len += n;
  w->pending[w->len++] = '\n';
  rc = 0;
out:
  free(text);
  return rc;
}

static void queue_gone(as_watch *w, uint64_t asked, uint64_t oldest) {
  char msg[128];
  json_t *ev;
  snprintf(msg, sizeof msg, "too old resource version: %" PRIu64 " (%" PRIu64 ")", asked, oldest);
  ev = json_pack("{s:s, s:o}", "type", "ERROR", "object", as_status(410, "Expired", msg, NULL));
  queue_event(w, ev);
  json_decref(ev);
  w->last = true;
}

/* Current state as ADDED events, sent before any change (watch without a version). */
static int queue_state(as_watch *w) {
  json_t *items = as_store_list(w->store, w->kind, w->ns, &w->after), *it;
  size_t i;
  int rc = items ? 0 : -1;
  json_array_foreach(items, i, it) {
    json_t *ev;
    if (!as_filter_match(&w->filter, it))
      continue;
    ev = json_pack("{s:s, s:O}", "type", "ADDED", "object", it);
    if (queue_event(w, ev))
      rc = -1;
    json_decref(ev);
  }
  json_decref(items);
  return rc;
}

/* Sets up a watch from the query; returns NULL or a new 400 Status. */
static json_t *start_watch(const as_ctx *ctx, const as_request *rq, as_kind k, as_filter *f,
                           as_reply *out) {
  const char *rv = q(rq, "resourceVersion"), *timeout = q(rq, "timeoutSeconds");
  as_watch *w = calloc(1, sizeof *w);
  char *end;

  if (!w || (rq->ns && !(w->ns = strdup(rq->ns)))) {
    as_watch_free(w);
    return as_status_internal("out of memory");
  }
  atomic_fetch_add(&live_watches, 1);
  w->store = ctx->store;
  w->kind = k;
  w->fd = -1;
  w->filter = *f;
  memset(f, 0, sizeof *f);
  if (timeout && timeout[0]) {
    long s = strtol(timeout, &end, 10);
    if (*end || s < 0) {
      as_watch_free(w);
      return as_status_bad_request("timeoutSeconds must be a non-negative whole number");
    }
    if (s > 0)
      w->deadline = now_ms() + s * 1000;
  }
  /* Without a version, or "0", a watch starts with the current state. */
  if (!rv || !rv[0] || !strcmp(rv, "0")) {
    if (queue_state(w)) {
      as_watch_free(w);
      return as_status_internal("out of memory");
    }
  } else {
    errno = 0;
    w->after = strtoull(rv, &end, 10);
    if (errno || *end || rv[0] == '-') {
      as_watch_free(w);
      return as_status_bad_request("resourceVersion: Invalid value: not a whole number");
    }
  }
  out->status = 200;
  out->watch = w;
  return NULL;
}

void as_list_watch(const as_ctx *ctx, const as_request *rq, const as_resource *r, as_kind k,
                   as_reply *out) {
  const char *watch = q(rq, "watch");
  as_filter f;
  json_t *st, *items;
  uint64_t rv;
  bool watching = false;

  memset(&f, 0, sizeof f);
  if (watch && as_parse_bool(watch, &watching)) {
    as_reply_set(out, 400, as_status_bad_request("watch: Invalid value: must be a boolean"));
    return;
  }
  if ((st = as_filter_parse(r, q(rq, "fieldSelector"), q(rq, "labelSelector"), &f))) {
    as_reply_set(out, 400, st);
    return;
  }
  if (watching) {
    if ((st = start_watch(ctx, rq, k, &f, out)))
      as_reply_set(out, (unsigned)json_integer_value(json_object_get(st, "code")), st);
    as_filter_free(&f);
    return;
  }
  items = as_store_list(ctx->store, k, rq->ns, &rv);
  filter_items(items, &f);
  as_filter_free(&f);
  st = as_list(r, items, rv);
  as_reply_set(out, st ? 200 : 500, st ? st : as_status_internal("out of memory"));
}

void as_watch_set_fd(as_watch *w, int fd) { w->fd = fd; }

/* True when the client has closed its side (or the socket failed). */
static bool client_gone(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLRDHUP};
  if (fd < 0)
    return false;
  return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* Waits for the next matching change and queues it; returns an MHD end code, or 0. */
static ssize_t fill(as_watch *w) {
  for (;;) {
    json_t *ev = NULL;
    uint64_t asked = w->after;
    as_next r;
    if (w->deadline && now_ms() >= w->deadline)
      return MHD_CONTENT_READER_END_OF_STREAM;
    if (client_gone(w->fd))
      return MHD_CONTENT_READER_END_WITH_ERROR;
    r = as_store_next(w->store, w->kind, w->ns, &w->after, SLICE_MS, &ev);
    if (r == AS_NEXT_STOPPED)
      return MHD_CONTENT_READER_END_OF_STREAM;
    if (r == AS_NEXT_GONE) {
      queue_gone(w, asked, w->after);
      return 0;
    }
    if (r == AS_NEXT_EVENT) {
      int rc = as_filter_match(&w->filter, json_object_get(ev, "object")) ? queue_event(w, ev) : 1;
      json_decref(ev);
      if (rc < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
      if (rc == 0)
        return 0;
    }
  }
}

ssize_t as_watch_read(void *watch, uint64_t pos, char *buf, size_t max) {
  as_watch *w = watch;
  size_t n;
  (void)pos;
  if (w->off == w->len) {
    ssize_t end;
    w->off = w->len = 0;
    if (w->last)
      return MHD_CONTENT_READER_END_OF_STREAM;
    if ((end = fill(w)) != 0)
      return end;
  }
  n = w->len - w->off < max ? w->len - w->off : max;
  memcpy(buf, w->pending + w->off, n);
  w->off += n;
  return (ssize_t)n;
}

void as_watch_free(void *watch) {
  as_watch *w = watch;
  if (!w)
    return;
  if (w->store)
    atomic_fetch_sub(&live_watches, 1);
  as_filter_free(&w->filter);
  free(w->ns);
  free(w->pending);
  free(w);
}
