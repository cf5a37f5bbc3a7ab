/* admission.h -- AdmissionReview admission.k8s.io/v1: decode a request, encode a response. */
#ifndef LG_ADMISSION_H
#define LG_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "jarena.h"
#include "lease.h"
#include "rules.h"
#include "rc.h"

/* A decoded request. Every string is borrowed from root, which the review owns. */
typedef struct {
  json_t *root;     /* owned; in arena when there is one */
  lg_jarena *arena; /* owned: the tree's memory (jarena.h), or NULL (malloc) */
  const char *uid;  /* request.uid as sent (a U+0000 in it kept: uid_len bytes) */
  size_t uid_len;
  const char *group, *version, *kind; /* request.kind */
  const char *namespace, *name;
  const char *operation; /* as sent */
  lg_operation op;
  lg_requester requester;
  const json_t *groups; /* userInfo.groups (array) or NULL; borrowed */
  bool is_lease;        /* request.kind is coordination.k8s.io Lease */
  bool has_object, has_old_object;
  lg_lease object, old_object; /* decoded only when is_lease */
  bool dry_run;
} lg_review;

/* Decodes an AdmissionReview request body. On failure the review holds nothing, err
 * says what was wrong, and the rc is LG_EJSON, LG_EREVIEW or LG_ELEASE. When the uid could
 * be read before the failure it is copied into uid_out (may be NULL) for the error reply. */
lg_rc lg_admission_decode(const char *body, size_t len, lg_review *out, char *uid_out,
                          size_t uid_len, char *err, size_t errlen);

/* Releases what the review owns; a zeroed review is a no-op. */
void lg_admission_free(lg_review *r);

/* Code that reads the tree after decoding with lg_utf8_json_text (which may rewrite a string)
 * does so between enter and leave, on the decoding thread: the rewrite is then in the
 * review's arena and released with it. */
void lg_admission_enter(lg_review *r);
void lg_admission_leave(lg_review *r);

/* Encodes the AdmissionReview response for the verdict: allowed, status (403 with the
 * enforce findings' messages on denial), warnings, auditAnnotations. Extra warnings
 * (may be NULL) are appended. Returns a new string (free()) or NULL on no memory. */
char *lg_admission_encode(const char *uid, const lg_verdict *v, const char *extra_warning);

/* As lg_admission_encode with a uid of uid_len bytes (it may hold U+0000: the response echoes
 * request.uid byte for byte). */
char *lg_admission_encode_n(const char *uid, size_t uid_len, const lg_verdict *v,
                            const char *extra_warning);

#endif
