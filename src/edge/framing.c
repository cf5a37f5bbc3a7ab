/* framing.c -- request framing checks (Content-Length, Transfer-Encoding), pure. */
#include "framing.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <strings.h>

static bool ows(char c) { return c == ' ' || c == '\t'; }

typedef enum { LEN_OK, LEN_BAD, LEN_DIFFERS } len_result;

/* Reads the comma-separated decimal numbers of one Content-Length value; each must equal
 * *seen (set by the first number of the request). */
static len_result same_lengths(const char *v, bool *have, uint64_t *seen) {
  const char *p = v;
  for (;;) {
    uint64_t n = 0;
    bool digits = false;
    while (ows(*p))
      p++;
    for (; *p >= '0' && *p <= '9'; p++) {
      if (n > (UINT64_MAX - 9) / 10)
        return LEN_BAD;
      n = n * 10 + (uint64_t)(*p - '0');
      digits = true;
    }
    while (ows(*p))
      p++;
    if (!digits)
      return LEN_BAD;
    if (*have && n != *seen)
      return LEN_DIFFERS;
    *have = true;
    *seen = n;
    if (*p == '\0')
      return LEN_OK;
    if (*p++ != ',')
      return LEN_BAD;
  }
}

/* True when v is exactly "chunked" (any case), spaces around allowed. */
static bool is_chunked(const char *v) {
  static const char word[] = "chunked";
  while (ows(*v))
    v++;
  if (strncasecmp(v, word, sizeof word - 1) != 0)
    return false;
  v += sizeof word - 1;
  while (ows(*v))
    v++;
  return *v == '\0';
}

unsigned lg_framing_check(const char *const *cl, size_t n_cl, const char *const *te, size_t n_te,
                          char *msg, size_t len) {
  bool have = false;
  uint64_t seen = 0;

  if (n_te && n_cl) {
    snprintf(msg, len, "both Transfer-Encoding and Content-Length: the body's end is ambiguous");
    return 400;
  }
  if (n_te > 1) {
    snprintf(msg, len, "Transfer-Encoding given %zu times", n_te);
    return 400;
  }
  if (n_te && !is_chunked(te[0])) {
    snprintf(msg, len, "Transfer-Encoding \"%.60s\" is not supported: only chunked", te[0]);
    return 501;
  }
  for (size_t i = 0; i < n_cl; i++) {
    len_result r = same_lengths(cl[i], &have, &seen);
    if (r == LEN_DIFFERS) {
      snprintf(msg, len, "conflicting Content-Length values: the body's end is ambiguous");
      return 400;
    }
    if (r == LEN_BAD) {
      snprintf(msg, len, "invalid Content-Length \"%.40s\"", cl[i]);
      return 400;
    }
  }
  if (len)
    msg[0] = '\0';
  return 0;
}
