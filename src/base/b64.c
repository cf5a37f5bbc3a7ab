/* b64.c -- base64 encoding and strict decoding. */
#include "b64.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *lg_b64_encode(const void *data, size_t len) {
  const unsigned char *p = data;
  char *out, *o;

  if (len > (SIZE_MAX - 1) / 4 * 3 - 3 || !(out = malloc((len + 2) / 3 * 4 + 1)))
    return NULL;
  o = out;
  for (size_t i = 0; i < len; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16;
    if (i + 1 < len)
      v |= (uint32_t)p[i + 1] << 8;
    if (i + 2 < len)
      v |= p[i + 2];
    *o++ = alphabet[v >> 18];
    *o++ = alphabet[(v >> 12) & 63];
    *o++ = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
    *o++ = i + 2 < len ? alphabet[v & 63] : '=';
  }
  *o = '\0';
  return out;
}

static int value(char c) {
  const char *at = c ? strchr(alphabet, c) : NULL;
  return at ? (int)(at - alphabet) : -1;
}

char *lg_b64_decode(const char *text, size_t *len) {
  size_t n = text ? strlen(text) : 0, pad = 0, o = 0;
  char *out;

  if (!text || n % 4)
    return NULL;
  if (n && text[n - 1] == '=')
    pad = n >= 2 && text[n - 2] == '=' ? 2 : 1;
  if (!(out = malloc(n / 4 * 3 + 1)))
    return NULL;
  for (size_t i = 0; i < n; i += 4) {
    int v[4];
    for (int k = 0; k < 4; k++) {
      /* The padding of the last quantum counts as zero bits. */
      v[k] = i + 4 == n && k >= 4 - (int)pad ? 0 : value(text[i + k]);
      if (v[k] < 0)
        goto bad;
    }
    out[o++] = (char)(v[0] << 2 | v[1] >> 4);
    out[o++] = (char)((v[1] & 15) << 4 | v[2] >> 2);
    out[o++] = (char)((v[2] & 3) << 6 | v[3]);
  }
  o -= pad;
  out[o] = '\0';
  if (len)
    *len = o;
  return out;
bad:
  free(out);
  return NULL;
}
