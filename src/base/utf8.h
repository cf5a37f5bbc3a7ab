/* utf8.h -- keeping text that goes into JSON valid UTF-8: messages cut by snprintf, and
 * bytes from outside (HTTP headers) that were never checked. */
#ifndef LG_UTF8_H
#define LG_UTF8_H

#include <stddef.h>

#include <jansson.h>

/* Length of the well-formed UTF-8 sequence at s (at most n bytes), or 0 when there is none
 * there: bad lead byte, missing continuation, overlong form, surrogate, above U+10FFFF. */
size_t lg_utf8_seq(const unsigned char *s, size_t n);

/* The length of s without a sequence left incomplete at its end (snprintf truncation
 * leaves them). */
size_t lg_utf8_trimmed_len(const char *s);

/* Copies s into dst (dstlen bytes, at least 1), cut if need be at a character boundary;
 * returns the bytes copied. */
size_t lg_utf8_copy(char *dst, size_t dstlen, const char *s);

/* Copies s into dst, cut to at most max bytes (and dstlen - 1) at a character boundary, the
 * cut marked with "..." (for warnings of a fixed size). */
void lg_utf8_clip(char *dst, size_t dstlen, const char *s, size_t max);

/* Cuts such an incomplete sequence off s. */
void lg_utf8_trim(char *s);

/* Replaces each byte of s that is not part of a well-formed sequence by '?'; returns how
 * many were replaced. */
size_t lg_utf8_repair(char *s);

/* The text of string value v (borrowed), or NULL when v is not a string. A string with
 * U+0000 inside (JSON "\u0000", which Go writes and Kubernetes accepts) is rewritten in
 * place with each NUL as the six characters \u0000, so that C code never sees a shorter
 * string than the API server stores ("\u0000x" read as "" would be "not held"). */
const char *lg_utf8_json_text(json_t *v);

#endif
