/* framing.h -- where an HTTP/1.1 request body ends: Content-Length and Transfer-Encoding
 * headers that disagree are refused, so that no byte of a body is ever read as a request. */
#ifndef LG_FRAMING_H
#define LG_FRAMING_H

#include <stddef.h>

/* Judges the values of every Content-Length header (cl, n_cl) and every Transfer-Encoding
 * header (te, n_te) of one request (RFC 9112 section 6). Returns 0 when the framing is
 * unambiguous, else the HTTP status to answer (400, or 501 for a transfer coding other than
 * chunked) with the reason in msg (len bytes). Pure. */
unsigned lg_framing_check(const char *const *cl, size_t n_cl, const char *const *te, size_t n_te,
                          char *msg, size_t len);

#endif
