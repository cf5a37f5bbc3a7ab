/* filter.h -- fieldSelector and labelSelector of LIST and WATCH: equality-based terms. */
#ifndef AS_FILTER_H
#define AS_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "status.h"

#define AS_MAX_TERMS 8

typedef enum { AS_OP_EQ, AS_OP_NE, AS_OP_EXISTS, AS_OP_NOT_EXISTS } as_op;

typedef struct {
  const char *key, *value; /* point into the filter's own copies */
  as_op op;
} as_term;

typedef struct {
  as_term fields[AS_MAX_TERMS], labels[AS_MAX_TERMS];
  size_t n_fields, n_labels;
  char *field_buf, *label_buf;
} as_filter;

/* Parses the selectors (either may be NULL) for resource r; fields are limited to the
 * ones kube-apiserver supports for it. Returns NULL, or a new 400 Status (and *f holds
 * nothing). */
json_t *as_filter_parse(const as_resource *r, const char *field_sel, const char *label_sel,
                        as_filter *f);

/* True when obj satisfies every term. */
bool as_filter_match(const as_filter *f, const json_t *obj);

/* Releases the copies; a zeroed filter is a no-op. */
void as_filter_free(as_filter *f);

#endif
