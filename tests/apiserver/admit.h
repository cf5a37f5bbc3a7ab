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
  const char *operation; /* CREATE, UPDATE or DELETE */
  const as_resource *res;
  const char *ns, *name;
  const json_t *object, *old_object; /* NULL is sent as null */
  bool dry_run;
  const json_t *options; /* CreateOptions, UpdateOptions or DeleteOptions */
  const as_user *user;
} as_admission;

/* Calls webhook hook (one of ctx->cfg's) if it has a URL (with --webhook-configuration: only
 * while that stored configuration has a webhook of its name, trusting its caBundle), and logs
 * the call. Returns NULL when the write may go on (allowed, or failed under failurePolicy
 * Ignore), or a new Status to answer with: the denial, or a 500 under failurePolicy Fail.
 * The webhook's warnings are added to out either way. */
json_t *as_admit(const as_ctx *ctx, const as_webhook *hook, const as_admission *a, as_reply *out);

/* objectSelector AS_FENCE_LABEL=true, as kube-apiserver applies it: true when either the new
 * or the old object (each may be NULL) carries the label with that value. */
bool as_fence_selected(const json_t *obj, const json_t *old);

/* The fence webhook for one write of a stored object: as_admit with ctx->cfg->fence when
 * the write is selected, else NULL at once. */
json_t *as_admit_fenced(const as_ctx *ctx, const as_admission *a, as_reply *out);

#endif
