/* k8sname.c -- DNS-1123 names, escaped path segments and a last check of API paths. */
#include "k8sname.h"

#include <stdarg.h>
#include <string.h>

#define LABEL_MAX     63
#define SUBDOMAIN_MAX 253

static bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

/* One label of n bytes at s: lower-case alphanumerics and '-', not at either end. */
static bool label_at(const char *s, size_t n) {
  if (n == 0 || !lower_alnum(s[0]) || !lower_alnum(s[n - 1]))
    return false;
  for (size_t i = 1; i + 1 < n; i++)
    if (!lower_alnum(s[i]) && s[i] != '-')
      return false;
  return true;
}

bool lg_k8sname_is_label(const char *s) {
  size_t n = s ? strnlen(s, LABEL_MAX + 1) : 0;
  return n <= LABEL_MAX && label_at(s, n);
}

/* Kubernetes' IsDNS1123Subdomain: the whole name is bounded, not each label. */
bool lg_k8sname_is_subdomain(const char *s) {
  size_t n = s ? strnlen(s, SUBDOMAIN_MAX + 1) : 0, start = 0;
  if (n == 0 || n > SUBDOMAIN_MAX)
    return false;
  for (size_t i = 0; i <= n; i++) {
    if (i < n && s[i] != '.')
      continue;
    if (!label_at(s + start, i - start))
      return false;
    start = i + 1;
  }
  return true;
}

static bool unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

bool lg_k8sname_path(char *out, size_t outlen, const char *base, ...) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = base ? strlen(base) : 0;
  const char *seg;
  bool ok = out && outlen > n;
  va_list ap;

  if (ok)
    memcpy(out, base, n);
  va_start(ap, base);
  while (ok && (seg = va_arg(ap, const char *)) != NULL) {
    ok = n + 1 < outlen;
    if (ok)
      out[n++] = '/';
    for (const unsigned char *p = (const unsigned char *)seg; ok && *p; p++) {
      if (unreserved(*p)) {
        ok = n + 1 < outlen;
        if (ok)
          out[n++] = (char)*p;
      } else {
        ok = n + 3 < outlen;
        if (ok) {
          out[n++] = '%';
          out[n++] = hex[*p >> 4];
          out[n++] = hex[*p & 15];
        }
      }
    }
  }
  va_end(ap);
  if (out && outlen)
    out[ok ? n : 0] = '\0';
  return ok;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* RFC 3986 pchar less the escapes: unreserved, sub-delims, ':' and '@'. */
static bool pchar(unsigned char c) { return unreserved(c) || (c && strchr("!$&'()*+,;=:@", c)); }

/* Checks one segment of n bytes (escapes included) as described in the header. */
static bool segment_ok(const char *s, size_t n) {
  size_t dots = 0, len = 0;
  for (size_t i = 0; i < n; i++, len++) {
    int c = (unsigned char)s[i];
    if (c == '%') {
      int hi, lo;
      if (i + 2 >= n || (hi = hex_value(s[i + 1])) < 0 || (lo = hex_value(s[i + 2])) < 0)
        return false;
      c = hi * 16 + lo;
      i += 2;
      if (c == '/' || c == '\0')
        return false;
    } else if (!pchar((unsigned char)c)) {
      return false;
    }
    dots += c == '.';
  }
  return len > 0 && !(dots == len && len <= 2);
}

bool lg_k8sname_path_ok(const char *path) {
  const char *q, *seg;
  if (!path || path[0] != '/')
    return false;
  q = path + strcspn(path, "?");
  for (seg = path + 1;; seg++) {
    const char *end = memchr(seg, '/', (size_t)(q - seg));
    if (!end)
      end = q;
    if (!segment_ok(seg, (size_t)(end - seg)))
      return false;
    if (end == q)
      break;
    seg = end;
  }
  if (!*q)
    return true;
  /* The query: pchar, '/', '?' and well-formed escapes; never '#', spaces or controls. */
  for (const char *p = q + 1; *p; p++) {
    if (*p == '%') {
      if (hex_value(p[1]) < 0 || hex_value(p[2]) < 0)
        return false;
      p += 2;
    } else if (!pchar((unsigned char)*p) && *p != '/' && *p != '?') {
      return false;
    }
  }
  return true;
}
