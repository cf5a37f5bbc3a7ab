/* jsonw.c -- a growable buffer of JSON text, with jansson's escaping of strings. */
#include "jsonw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

void lg_jsonw_init(lg_jsonw *w) { memset(w, 0, sizeof *w); }

/* Room for n more bytes and the NUL; false (and failed) on no memory. */
static bool reserve(lg_jsonw *w, size_t n) {
  size_t cap;
  char *grown;
  if (w->failed)
    return false;
  if (n < w->cap - w->len) /* w->cap > w->len whenever p is set */
    return true;
  if (n > SIZE_MAX / 2 - w->len) {
    w->failed = w->oom = true;
    return false;
  }
  for (cap = w->cap ? w->cap : 256; cap - w->len <= n;)
    cap *= 2;
  if (!(grown = realloc(w->p, cap))) {
    w->failed = w->oom = true;
    return false;
  }
  w->p = grown;
  w->cap = cap;
  return true;
}

void lg_jsonw_raw(lg_jsonw *w, const char *s, size_t n) {
  if (!reserve(w, n))
    return;
  memcpy(w->p + w->len, s, n);
  w->len += n;
  w->p[w->len] = '\0';
}

/* Bytes a string needs no escape for: printable ASCII but '"' and '\\'. */
static bool plain(unsigned char c) { return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'; }

bool lg_jsonw_chars(lg_jsonw *w, const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0, start = w->len;

  /* The worst case is 6 bytes per input byte (\u00XX). */
  if (n > SIZE_MAX / 6 || !reserve(w, 6 * n))
    return false;
  while (i < n) {
    size_t run = i, k;
    while (run < n && plain(u[run]))
      run++;
    memcpy(w->p + w->len, s + i, run - i);
    w->len += run - i;
    if ((i = run) == n)
      break;
    if (u[i] >= 0x80) {
      /* Kept as it is when well formed; jansson refuses the whole string otherwise. */
      if (!(k = lg_utf8_seq(u + i, n - i))) {
        w->len = start;
        w->p[w->len] = '\0';
        w->failed = true;
        return false;
      }
      memcpy(w->p + w->len, s + i, k);
      w->len += k;
      i += k;
      continue;
    }
    switch (u[i]) {
    case '"':
      memcpy(w->p + w->len, "\\\"", 2);
      w->len += 2;
      break;
    case '\\':
      memcpy(w->p + w->len, "\\\\", 2);
      w->len += 2;
      break;
    case '\b':
      memcpy(w->p + w->len, "\\b", 2);
      w->len += 2;
      break;
    case '\f':
      memcpy(w->p + w->len, "\\f", 2);
      w->len += 2;
      break;
    case '\n':
      memcpy(w->p + w->len, "\\n", 2);
      w->len += 2;
      break;
    case '\r':
      memcpy(w->p + w->len, "\\r", 2);
      w->len += 2;
      break;
    case '\t':
      memcpy(w->p + w->len, "\\t", 2);
      w->len += 2;
      break;
    default: /* other control characters, as jansson writes them: \u and 4 upper-case digits */
      w->len += (size_t)snprintf(w->p + w->len, 7, "\\u%04X", u[i]);
      break;
    }
    i++;
  }
  w->p[w->len] = '\0';
  return true;
}

bool lg_jsonw_string(lg_jsonw *w, const char *s, size_t n) {
  size_t start = w->len;
  LG_JSONW_LIT(w, "\"");
  if (!lg_jsonw_chars(w, s, n)) {
    if (w->p) {
      w->len = start;
      w->p[start] = '\0';
    }
    return false;
  }
  LG_JSONW_LIT(w, "\"");
  return !w->failed;
}

bool lg_jsonw_cstr(lg_jsonw *w, const char *s) {
  if (!s) {
    LG_JSONW_LIT(w, "null");
    return !w->failed;
  }
  return lg_jsonw_string(w, s, strlen(s));
}

void lg_jsonw_int(lg_jsonw *w, int64_t v) {
  char buf[24];
  int n = snprintf(buf, sizeof buf, "%lld", (long long)v);
  lg_jsonw_raw(w, buf, (size_t)n);
}

void lg_jsonw_value(lg_jsonw *w, const json_t *v) {
  const size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
  size_t room = w->cap > w->len ? w->cap - w->len - 1 : 0, n;
  if (w->failed)
    return;
  /* Into the room there is; once more with enough room when it did not fit. */
  n = json_dumpb(v, room ? w->p + w->len : NULL, room, flags);
  if (!n) { /* jansson could not write it (NULL, or a string it would refuse) */
    w->failed = true;
    return;
  }
  if (n > room && (!reserve(w, n) || json_dumpb(v, w->p + w->len, n, flags) != n)) {
    w->failed = true;
    return;
  }
  w->len += n;
  w->p[w->len] = '\0';
}

void lg_jsonw_rewind(lg_jsonw *w, size_t len) {
  if (w->oom || len > w->len)
    return;
  w->failed = false;
  w->len = len;
  if (w->p)
    w->p[len] = '\0';
}

char *lg_jsonw_take(lg_jsonw *w) {
  char *out = w->failed ? NULL : w->p;
  if (!out && !w->failed) /* nothing written: the empty text */
    out = calloc(1, 1);
  if (w->failed)
    free(w->p);
  lg_jsonw_init(w);
  return out;
}

void lg_jsonw_free(lg_jsonw *w) {
  free(w->p);
  lg_jsonw_init(w);
}
