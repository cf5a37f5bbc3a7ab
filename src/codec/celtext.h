/* celtext.h -- CEL source text: a growable string, string literals, fnmatch globs as CEL. */
#ifndef LG_CELTEXT_H
#define LG_CELTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "rc.h"

/* A growable NUL-terminated string. Appending after an allocation failure does nothing and
 * leaves oom set; start from {0}, free s with free(). */
typedef struct {
  char *s;
  size_t len, cap;
  bool oom;
} lg_cel_buf;

void lg_cel_add(lg_cel_buf *b, const char *s);
void lg_cel_addn(lg_cel_buf *b, const char *s, size_t n);
void lg_cel_addf(lg_cel_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends s as a CEL string literal: '...', with \\, \' and control characters escaped. */
void lg_cel_add_string(lg_cel_buf *b, const char *s);

/* Appends the CEL predicate "subject matches the fnmatch(3) glob" (flags 0, C locale):
 * subject == 'x', startsWith, endsWith, contains, true, false, or subject.matches() with an
 * anchored RE2 pattern. LG_EPOLICY (err says why) for a glob that fnmatch itself reads in a
 * way no regular expression states (an unterminated '[', a trailing '\', a non-ASCII
 * character inside [...], an unknown [:class:]). */
lg_rc lg_cel_add_glob(lg_cel_buf *b, const char *subject, const char *glob, char *err,
                      size_t errlen);

#endif
