/* patch.h -- the patch types of kube-apiserver's PATCH that this server implements: JSON merge
 * patch (RFC 7386) and JSON patch (RFC 6902). */
#ifndef AS_PATCH_H
#define AS_PATCH_H

#include <stddef.h>

#include <jansson.h>

/* RFC 7386: returns the new target (target is stolen, patch borrowed); NULL on no memory. */
json_t *as_merge_patch(json_t *target, const json_t *patch);

/* RFC 6902: applies the operations of ops (an array, borrowed) to doc in place, all or
 * nothing (doc is a copy the caller drops on failure). 0, or -1 with the reason in err (as
 * evanphx/json-patch words it where it matters: "testing value /x failed: test failed"). */
int as_json_patch(json_t **doc, const json_t *ops, char *err, size_t errlen);

#endif
