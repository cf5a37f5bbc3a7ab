/* validate.h -- what kube-apiserver refuses before admission: decoding errors (400) and Lease validation (422). */
#ifndef AS_VALIDATE_H
#define AS_VALIDATE_H

#include <stdbool.h>

#include <jansson.h>

#include "status.h"

/* The field types kube-apiserver's JSON decoding into metav1.ObjectMeta enforces.
 * Returns NULL, or a new 400 BadRequest Status naming the field the way Go does. */
json_t *as_meta_decode_check(const json_t *obj, const char *kind);

/* The same for a whole Lease, spec included: acquireTime and renewTime must be
 * MicroTimes (exactly six fractional digits), the int32 fields whole numbers in range. */
json_t *as_lease_decode_check(const json_t *obj);

/* metadata.name: required, and a DNS-1123 subdomain. */
void as_validate_name(const char *name, as_field_errors *errs);

/* True when utilvalidation.IsQualifiedName finds nothing wrong with s ("prefix/name"). */
bool as_is_qualified_name(const char *s);

/* pkg/apis/coordination/validation ValidateLease(Update): name and spec. Returns NULL,
 * or a new 422 Invalid Status. */
json_t *as_lease_validate(const json_t *obj);

#endif
