/* rc.h -- the one return code type of leaseguard (lg_rc) and its messages. */
#ifndef LG_RC_H
#define LG_RC_H

#include <stddef.h>

/* X(name, message): 0 is success; every other code is an error. */
#define LG_RC_MAP(X)                            \
  X(LG_OK, "ok")                                \
  X(LG_ENOMEM, "out of memory")                 \
  X(LG_EINVAL, "invalid argument")              \
  X(LG_EJSON, "malformed JSON")                 \
  X(LG_EREVIEW, "not a usable AdmissionReview") \
  X(LG_ELEASE, "not a usable Lease object")     \
  X(LG_ETIME, "not an RFC 3339 time")           \
  X(LG_EPOLICY, "invalid policy")               \
  X(LG_EIO, "input/output error")               \
  X(LG_ETLS, "TLS or certificate error")        \
  X(LG_ESERVER, "server error")

typedef enum {
#define LG_RC_ENUM(name, msg) name,
  LG_RC_MAP(LG_RC_ENUM)
#undef LG_RC_ENUM
      LG_RC_COUNT
} lg_rc;

/* Returns a static, human-readable message for rc. */
const char *lg_strerror(lg_rc rc);

/* Writes printf-style detail into err (size errlen, may be NULL) and returns rc. */
lg_rc lg_fail(char *err, size_t errlen, lg_rc rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
