/* meta.h -- object metadata, uids, timestamps, lists and request-body decoding shared by the handlers. */
#ifndef AS_META_H
#define AS_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "status.h"

#define AS_UID_LEN 37

/* metadata.<key> when it is a string, else NULL. Borrowed from obj. */
const char *as_meta_str(const json_t *obj, const char *key);

/* Sets metadata.<key> (creating metadata when absent); value NULL removes it. */
void as_meta_set(json_t *obj, const char *key, const char *value);

/* A random RFC 4122 version-4 UUID. */
void as_new_uid(char out[AS_UID_LEN]);

/* The current time as a metav1.Time: RFC 3339, whole seconds, UTC. */
void as_timestamp_now(char *out, size_t len);

/* names.SimpleNameGenerator: prefix plus 5 random characters. */
void as_generate_name(const char *prefix, char *out, size_t len);

/* strconv.ParseBool: 1 t T TRUE true True / 0 f F FALSE false False. 0 or -1. */
int as_parse_bool(const char *s, bool *out);

/* A <Kind>List of items (stolen), which lose kind and apiVersion as typed lists do. */
json_t *as_list(const as_resource *r, json_t *items, uint64_t rv);

/* Parses a request body as an object of resource r and fills in kind and apiVersion.
 * Returns the new object, or NULL with *status a new 400 Status. */
json_t *as_decode_body(const as_resource *r, const char *body, size_t len, json_t **status);

#endif
