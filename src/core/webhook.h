/* webhook.h -- one admission request end to end: decode -> resolve policy -> rules -> encode.
 * Shared by `serve` and `check`; does no I/O. */
#ifndef LG_WEBHOOK_H
#define LG_WEBHOOK_H

#include <stddef.h>

#include "admission.h"
#include "policy.h"
#include "rules.h"
#include "witness.h"

/* What one request is judged with. */
typedef struct {
  const lg_policy *policy;
  lg_mode mode_override; /* LG_MODE_INHERIT: the policy's defaultMode */
  lg_time now;           /* the wall clock */
  int64_t mono;          /* the monotonic clock (microseconds), for the witness */
  lg_witness *witness;   /* may be NULL: judge from the two versions alone */
} lg_webhook_env;

typedef struct lg_webhook_result {
  int http_status;       /* 200 with an AdmissionReview, or 400 with a Status for unusable input */
  char *body;            /* new: the response body (JSON) */
  lg_rc rc;              /* LG_OK, or why the input was unusable */
  char error[256];       /* detail when rc != LG_OK */
  lg_review review;      /* the decoded request (owned; zeroed when decoding failed) */
  lg_rule_config config; /* the settings the rules ran with */
  lg_evidence evidence;  /* what the witness knew of the old version */
  bool has_offset;       /* the write measured its writer's clock: */
  lg_time offset;        /* new renewTime minus env->now */
  lg_verdict verdict;    /* the decision */
  const char *ignored;   /* non-NULL when the object is not a Lease and was let through */
} lg_webhook_result;

/* Handles one request body: judges it with env and tells env->witness what was allowed.
 * Always fills *out (free with lg_webhook_result_free); returns out->rc. */
lg_rc lg_webhook_handle(const char *body, size_t len, const lg_webhook_env *env,
                        lg_webhook_result *out);

/* Clears *out and decodes body into out->review. Unusable input is never judged, so never
 * silently allowed: out gets rc, a 400 and its Status body, and the call returns false.
 * Otherwise out is a 200 that allows, for the caller to judge; returns true. */
bool lg_webhook_begin(const char *body, size_t len, lg_webhook_result *out);

/* Releases what the result owns. */
void lg_webhook_result_free(lg_webhook_result *r);

#endif
