/* utf8.c -- UTF-8 well-formedness (RFC 3629), the rules jansson applies to every string:
 * text leaseguard builds must pass them or jansson refuses to make the JSON. */
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

size_t lg_utf8_seq(const unsigned char *s, size_t n) {
  unsigned c = n ? s[0] : 0, lo = 0x80, hi = 0xBF;
  size_t len;

  if (!n)
    return 0;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    len = 2;
  else if (c >= 0xE0 && c <= 0xEF)
    len = 3;
  else if (c >= 0xF0 && c <= 0xF4)
    len = 4;
  else
    return 0; /* a continuation byte, an overlong lead (C0, C1) or above U+10FFFF */
  /* The second byte's range excludes overlong forms, surrogates and > U+10FFFF. */
  if (c == 0xE0)
    lo = 0xA0;
  else if (c == 0xED)
    hi = 0x9F;
  else if (c == 0xF0)
    lo = 0x90;
  else if (c == 0xF4)
    hi = 0x8F;
  if (n < len || s[1] < lo || s[1] > hi)
    return 0;
  for (size_t i = 2; i < len; i++)
    if ((s[i] & 0xC0) != 0x80)
      return 0;
  return len;
}

size_t lg_utf8_trimmed_len(const char *s) {
  size_t len = strlen(s), i = len;
  while (i > 0 && len - i < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
    i--;
  /* s[i - 1] starts the last sequence when it is a lead byte; cut it if it is short. */
  if (i > 0 && (unsigned char)s[i - 1] >= 0xC0 &&
      lg_utf8_seq((const unsigned char *)s + i - 1, len - (i - 1)) == 0)
    return i - 1;
  return len;
}

void lg_utf8_trim(char *s) { s[lg_utf8_trimmed_len(s)] = '\0'; }

size_t lg_utf8_repair(char *s) {
  size_t len = strlen(s), n = 0;
  for (size_t i = 0; i < len;) {
    size_t k = lg_utf8_seq((const unsigned char *)s + i, len - i);
    if (k) {
      i += k;
    } else {
      s[i++] = '?';
      n++;
    }
  }
  return n;
}

const char *lg_utf8_json_text(json_t *v) {
  const char *s;
  size_t len, nuls = 0, j = 0;
  char *esc;
  if (!json_is_string(v))
    return NULL;
  s = json_string_value(v);
  len = json_string_length(v);
  if (strlen(s) == len)
    return s;
  for (size_t i = 0; i < len; i++)
    nuls += s[i] == '\0';
  esc = malloc(len + 5 * nuls + 1);
  if (!esc)
    return NULL;
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '\0') {
      memcpy(esc + j, "\\u0000", 6);
      j += 6;
    } else {
      esc[j++] = s[i];
    }
  }
  esc[j] = '\0';
  if (json_string_setn_nocheck(v, esc, j)) {
    free(esc);
    return NULL;
  }
  free(esc);
  return json_string_value(v);
}

size_t lg_utf8_copy(char *dst, size_t dstlen, const char *s) {
  size_t len = strlen(s);
  if (len >= dstlen) {
    len = dstlen - 1;
    while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
      len--;
  }
  memcpy(dst, s, len);
  dst[len] = '\0';
  return len;
}

void lg_utf8_clip(char *dst, size_t dstlen, const char *s, size_t max) {
  size_t n = strlen(s);
  if (max >= dstlen)
    max = dstlen - 1;
  if (n <= max) {
    memcpy(dst, s, n + 1);
    return;
  }
  n = max - 3;
  while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
    n--;
  memcpy(dst, s, n);
  memcpy(dst + n, "...", 4);
}
