/* celtext.c -- CEL source text: a growable string, string literals, fnmatch globs as CEL. */
#include "celtext.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool grow(lg_cel_buf *b, size_t more) {
  size_t cap;
  char *s;
  if (b->oom)
    return false;
  if (b->len + more + 1 <= b->cap)
    return true;
  cap = b->cap ? b->cap : 256;
  while (cap < b->len + more + 1)
    cap *= 2;
  s = realloc(b->s, cap);
  if (!s) {
    b->oom = true;
    return false;
  }
  b->s = s;
  b->cap = cap;
  return true;
}

void lg_cel_addn(lg_cel_buf *b, const char *s, size_t n) {
  if (!grow(b, n))
    return;
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
}

void lg_cel_add(lg_cel_buf *b, const char *s) { lg_cel_addn(b, s, strlen(s)); }

void lg_cel_addf(lg_cel_buf *b, const char *fmt, ...) {
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || !grow(b, (size_t)n))
    return;
  va_start(ap, fmt);
  vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void lg_cel_add_string(lg_cel_buf *b, const char *s) {
  lg_cel_add(b, "'");
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '\\' || *p == '\'')
      lg_cel_addf(b, "\\%c", *p);
    else if (*p == '\n')
      lg_cel_add(b, "\\n");
    else if (*p < 0x20 || *p == 0x7f)
      lg_cel_addf(b, "\\u%04x", *p);
    else
      lg_cel_addn(b, (const char *)p, 1);
  }
  lg_cel_add(b, "'");
}

/* ---- fnmatch globs ------------------------------------------------------------------
 * A glob is read as glibc's fnmatch(pattern, s, 0) reads it in the C locale: '*' any
 * bytes, '?' one byte, [...] one byte of a set ('!' or '^' negates; a leading ']' is a
 * member; a-z ranges of byte values; [:class:]; [=c=] and [.c.] for one character), '\'
 * quotes the next character, also inside [...]. RE2 reads characters, not bytes: for
 * ASCII subjects (every Kubernetes name and namespace) the two agree; '?' and [...] facing
 * a non-ASCII character of a username match one character here, one byte in fnmatch. */

/* Parsed glob: literal bytes, '*' as STAR, '?' as ANY, and sets as RE2 classes. */
typedef struct {
  lg_cel_buf re;        /* the RE2 pattern, between ^ and $ */
  lg_cel_buf lit;       /* the literal text between stars, when no '?' nor set occurs */
  int stars;            /* '*' runs */
  bool star_last, wild; /* wild: a '?' or a set occurs */
  int segments;         /* literal runs */
  bool never;           /* a set that matches nothing: the glob matches nothing */
} glob_parse;

static const char *const classes[] = {"alnum", "alpha",  "blank", "cntrl", "digit",
                                      "graph", "lower",  "print", "punct", "space",
                                      "upper", "xdigit", NULL};

static void re_literal(lg_cel_buf *re, unsigned char c) {
  if (strchr("\\.+*?()|[]{}^$", c) && c)
    lg_cel_addf(re, "\\%c", c);
  else if (c < 0x20 || c == 0x7f)
    lg_cel_addf(re, "\\x%02X", c);
  else
    lg_cel_addn(re, (const char *)&c, 1);
}

/* One member byte of a set, as RE2 class text (letters and digits plain, the rest \xHH). */
static void class_byte(lg_cel_buf *cls, unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
    lg_cel_addn(cls, (const char *)&c, 1);
  else
    lg_cel_addf(cls, "\\x%02X", c);
}

/* Reads one member character of a set at *p (after '\' quoting, or [=c=] / [.c.]); sets
 * *c and advances *p. Returns 0, or -1 with err set. */
static int set_char(const char **p, unsigned char *c, bool *is_class, lg_cel_buf *cls,
                    const char *glob, char *err, size_t errlen) {
  const char *s = *p;
  *is_class = false;
  if (*s == '\\') {
    s++;
    if (!*s)
      return lg_fail(err, errlen, LG_EPOLICY, "glob \"%s\": unterminated '['", glob);
  } else if (*s == '[' && (s[1] == '=' || s[1] == '.')) {
    char kind = s[1];
    if (!s[2] || s[3] != kind || s[4] != ']')
      return lg_fail(err, errlen, LG_EPOLICY,
                     "glob \"%s\": only one-character [%c%c] elements can be expressed in CEL",
                     glob, kind, kind);
    *c = (unsigned char)s[2];
    *p = s + 5;
    goto check;
  } else if (*s == '[' && s[1] == ':') {
    const char *end = strstr(s + 2, ":]");
    size_t n = end ? (size_t)(end - (s + 2)) : 0;
    for (const char *const *k = classes; end && *k; k++)
      if (strlen(*k) == n && strncmp(*k, s + 2, n) == 0) {
        lg_cel_addf(cls, "[:%s:]", *k);
        *is_class = true;
        *p = end + 2;
        return 0;
      }
    return lg_fail(err, errlen, LG_EPOLICY, "glob \"%s\": unknown or unterminated [:class:]", glob);
  }
  *c = (unsigned char)*s;
  *p = s + 1;
check:
  if (*c >= 0x80)
    return lg_fail(err, errlen, LG_EPOLICY,
                   "glob \"%s\": a non-ASCII character inside [...] is one byte to fnmatch and "
                   "one character to RE2; list it outside a set",
                   glob);
  return 0;
}

/* Parses the set at *p (just after '['); appends it to g->re. Returns 0, or -1 (err set). */
static int parse_set(const char **p, glob_parse *g, const char *glob, char *err, size_t errlen) {
  const char *s = *p;
  lg_cel_buf cls = {0};
  bool neg = false, first = true, is_class;
  unsigned char lo = 0, hi = 0; /* set by set_char; zeroed for gcc -O3 */
  int rc = 0;
  if (*s == '!' || *s == '^') {
    neg = true;
    s++;
  }
  for (;;) {
    if (!*s) {
      rc = lg_fail(err, errlen, LG_EPOLICY,
                   "glob \"%s\": unterminated '[' (write \\[ for a literal '[')", glob);
      goto out;
    }
    if (*s == ']' && !first)
      break;
    first = false;
    if (set_char(&s, &lo, &is_class, &cls, glob, err, errlen)) {
      rc = -1;
      goto out;
    }
    if (is_class)
      continue;
    if (*s == '-' && s[1] && s[1] != ']') {
      s++;
      if (set_char(&s, &hi, &is_class, &cls, glob, err, errlen) || is_class) {
        if (is_class)
          lg_fail(err, errlen, LG_EPOLICY, "glob \"%s\": a [:class:] cannot end a range", glob);
        rc = -1;
        goto out;
      }
      if (lo > hi) /* an empty range: fnmatch matches nothing with it */
        continue;
      class_byte(&cls, lo);
      lg_cel_add(&cls, "-");
      class_byte(&cls, hi);
    } else {
      class_byte(&cls, lo);
    }
  }
  *p = s + 1;
  if (!cls.len && !neg)
    g->never = true;
  else if (!cls.len)
    lg_cel_add(&g->re, ".");
  else
    lg_cel_addf(&g->re, "[%s%s]", neg ? "^" : "", cls.s);
  g->wild = true;
out:
  if (cls.oom)
    g->re.oom = true;
  free(cls.s);
  return rc;
}

static int parse_glob(const char *glob, glob_parse *g, char *err, size_t errlen) {
  bool in_lit = false;
  for (const char *p = glob; *p;) {
    if (*p == '*') {
      while (*p == '*')
        p++;
      g->stars++;
      g->star_last = !*p;
      in_lit = false;
      lg_cel_add(&g->re, ".*");
      continue;
    }
    if (*p == '?') {
      g->wild = true;
      in_lit = false;
      lg_cel_add(&g->re, ".");
      p++;
      continue;
    }
    if (*p == '[') {
      p++;
      if (parse_set(&p, g, glob, err, errlen))
        return -1;
      in_lit = false;
      continue;
    }
    if (*p == '\\' && !*++p)
      return lg_fail(err, errlen, LG_EPOLICY,
                     "glob \"%s\": a trailing '\\' never matches (write \\\\ for a '\\')", glob);
    if (!in_lit)
      g->segments++;
    in_lit = true;
    re_literal(&g->re, (unsigned char)*p);
    lg_cel_addn(&g->lit, p, 1);
    p++;
  }
  return 0;
}

lg_rc lg_cel_add_glob(lg_cel_buf *b, const char *subject, const char *glob, char *err,
                      size_t errlen) {
  glob_parse g = {0};
  lg_rc rc = LG_OK;
  if (parse_glob(glob, &g, err, errlen)) {
    rc = LG_EPOLICY;
    goto out;
  }
  if (g.re.oom || g.lit.oom) {
    rc = LG_ENOMEM;
    goto out;
  }
  if (g.never) {
    lg_cel_add(b, "false");
  } else if (!g.wild && g.stars == 0) {
    lg_cel_addf(b, "%s == ", subject);
    lg_cel_add_string(b, g.lit.s ? g.lit.s : "");
  } else if (!g.wild && g.segments == 0) {
    lg_cel_add(b, "true");
  } else if (!g.wild && g.segments == 1 && g.stars == 1) {
    lg_cel_addf(b, "%s.%s(", subject, g.star_last ? "startsWith" : "endsWith");
    lg_cel_add_string(b, g.lit.s);
    lg_cel_add(b, ")");
  } else if (!g.wild && g.segments == 1 && g.stars == 2) {
    lg_cel_addf(b, "%s.contains(", subject);
    lg_cel_add_string(b, g.lit.s);
    lg_cel_add(b, ")");
  } else {
    lg_cel_buf re = {0};
    /* (?s): '.' matches a newline too, as '*' and '?' do in fnmatch. */
    lg_cel_addf(&re, "(?s)^%s$", g.re.s);
    lg_cel_addf(b, "%s.matches(", subject);
    lg_cel_add_string(b, re.oom ? "" : re.s);
    lg_cel_add(b, ")");
    if (re.oom)
      rc = LG_ENOMEM;
    free(re.s);
  }
out:
  free(g.re.s);
  free(g.lit.s);
  return b->oom ? LG_ENOMEM : rc;
}
