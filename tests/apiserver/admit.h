/* admit.h -- kube-apiserver's validating webhook call: AdmissionReview v1 over verified HTTPS, failurePolicy. */
#ifndef AS_ADMIT_H
#define AS_ADMIT_H

#include <stdbool.h>

#include <jansson.h>

#include "apiserver.h"
#include "status.h"
#include "tokens.h"

/* One write as admission sees it. Every pointer is borrowed. */
typedef struct {
  const char *operation;            /* CREATE, UPDATE or DELETE */
  const as_resource *res;
  const char *ns, *name;
  const json_t *object, *old_object; /* NULL is sent as null */
  bool dry_run;
  const json_t *options;            /* CreateOptions, UpdateOptions or DeleteOptions */
  const as_user *user;
} as_admission;

/* Calls the configured webhook, if any (with --webhook-configuration: only while that stored
 * configuration has it, trusting its caBundle), and logs the call. Returns NULL when the write
 * may go on (allowed, or failed under failurePolicy Ignore), or a new Status to answer
 * with: the denial, or a 500 under failurePolicy Fail. The webhook's warnings are added
 * to out either way. */
json_t *as_admit(const as_ctx *ctx, const as_admission *a, as_reply *out);

#endif
