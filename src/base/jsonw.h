/* jsonw.h -- JSON text written straight into a growable buffer: the answers and audit lines
 * of the request path, byte for byte what jansson's json_dumps(JSON_COMPACT) writes for the
 * same document, without building the document first. */
#ifndef LG_JSONW_H
#define LG_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef struct {
  char *p; /* the text so far, NUL-terminated once anything was written */
  size_t len, cap;
  bool failed; /* out of memory, or a string that jansson would refuse: no usable text */
  bool oom;    /* failed for want of memory */
} lg_jsonw;

/* Zeroes *w (an empty writer; nothing allocated until the first write). */
void lg_jsonw_init(lg_jsonw *w);

/* Appends n bytes of JSON text as they are (fixed fragments: keys, punctuation). */
void lg_jsonw_raw(lg_jsonw *w, const char *s, size_t n);

/* Appends literal JSON text given as a C string constant. */
#define LG_JSONW_LIT(w, lit) lg_jsonw_raw((w), "" lit, sizeof(lit) - 1)

/* Appends s (n bytes) as a JSON string, escaped as jansson escapes it. Returns false, and
 * sets w->failed, when s is not well-formed UTF-8 (jansson refuses to make such a string). */
bool lg_jsonw_string(lg_jsonw *w, const char *s, size_t n);

/* Appends the characters of s (n bytes) escaped as in a JSON string, without the quotes:
 * for a string written in parts. False, and w->failed, as lg_jsonw_string. */
bool lg_jsonw_chars(lg_jsonw *w, const char *s, size_t n);

/* Appends the NUL-terminated s as a JSON string, or null when s is NULL (as lg_jsonw_string). */
bool lg_jsonw_cstr(lg_jsonw *w, const char *s);

/* Appends a JSON integer. */
void lg_jsonw_int(lg_jsonw *w, int64_t v);

/* Appends v (borrowed; any JSON value) as json_dumps(JSON_COMPACT) writes it. */
void lg_jsonw_value(lg_jsonw *w, const json_t *v);

/* Cuts the text back to its first len bytes and forgets a string refused after them (not a
 * lack of memory): for a field left out when its value cannot be written. */
void lg_jsonw_rewind(lg_jsonw *w, size_t len);

/* The text (new, free() it), or NULL when the writer failed; w is empty again either way. */
char *lg_jsonw_take(lg_jsonw *w);

/* Releases the text; w is empty again. */
void lg_jsonw_free(lg_jsonw *w);

#endif
