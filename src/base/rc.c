/* rc.c -- messages for lg_rc and the error-detail helper. */
#include "rc.h"

#include <stdarg.h>
#include <stdio.h>

#include "utf8.h"

static const char *const messages[] = {
#define LG_RC_MSG(name, msg) msg,
    LG_RC_MAP(LG_RC_MSG)
#undef LG_RC_MSG
};

const char *lg_strerror(lg_rc rc) {
  if ((int)rc < 0 || rc >= LG_RC_COUNT)
    return "unknown error";
  return messages[rc];
}

lg_rc lg_fail(char *err, size_t errlen, lg_rc rc, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    lg_utf8_trim(err); /* a cut may split a character of a quoted value */
  }
  return rc;
}
