/* b64.h -- base64 (RFC 4648, standard alphabet, padded), as Kubernetes writes []byte fields. */
#ifndef LG_B64_H
#define LG_B64_H

#include <stddef.h>

/* The base64 of len bytes of data: a new string, NULL on no memory. */
char *lg_b64_encode(const void *data, size_t len);

/* Decodes text (padding required, no whitespace, as Go's base64.StdEncoding) into a new
 * buffer of *len bytes (len may be NULL) with a NUL after them; NULL when text is not base64
 * or on no memory. */
char *lg_b64_decode(const char *text, size_t *len);

#endif
