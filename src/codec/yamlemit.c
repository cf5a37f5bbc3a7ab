/* yamlemit.c -- JSON values (jansson) written as block YAML, for manifests people read. */
#include "yamlemit.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "celtext.h"

/* Plain only for a letter followed by letters, digits and ._/- and not a word YAML 1.1 reads
 * as a boolean or null ("on", "no", "null"…): everything else is quoted. */
static bool plain_ok(const char *s) {
  static const char *const words[] = {"y",   "n",    "yes",   "no",   "on",
                                      "off", "true", "false", "null", NULL};
  if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
    return false;
  for (const char *p = s; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '.' || *p == '_' || *p == '/' || *p == '-'))
      return false;
  for (const char *const *w = words; *w; w++)
    if (strcasecmp(s, *w) == 0)
      return false;
  return true;
}

/* A double-quoted YAML scalar: \" \\ escaped, control characters and the characters YAML
 * 1.1 reads as line breaks (U+0085, U+2028, U+2029) as escapes, the rest as UTF-8. */
static void quoted(lg_cel_buf *b, const char *s) {
  lg_cel_add(b, "\"");
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      lg_cel_addf(b, "\\%c", *p);
    else if (*p == '\n')
      lg_cel_add(b, "\\n");
    else if (*p < 0x20 || *p == 0x7f)
      lg_cel_addf(b, "\\x%02X", *p);
    else if (p[0] == 0xc2 && p[1] == 0x85)
      lg_cel_add(b, "\\N"), p++;
    else if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9))
      lg_cel_add(b, p[2] == 0xa8 ? "\\L" : "\\P"), p += 2;
    else
      lg_cel_addn(b, (const char *)p, 1);
  }
  lg_cel_add(b, "\"");
}

static void scalar(lg_cel_buf *b, const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_STRING:
    if (plain_ok(json_string_value(v)))
      lg_cel_add(b, json_string_value(v));
    else
      quoted(b, json_string_value(v));
    break;
  case JSON_INTEGER:
    lg_cel_addf(b, "%lld", (long long)json_integer_value(v));
    break;
  case JSON_REAL:
    lg_cel_addf(b, "%.17g", json_real_value(v));
    break;
  case JSON_TRUE:
    lg_cel_add(b, "true");
    break;
  case JSON_FALSE:
    lg_cel_add(b, "false");
    break;
  case JSON_OBJECT:
    lg_cel_add(b, "{}");
    break;
  case JSON_ARRAY:
    lg_cel_add(b, "[]");
    break;
  default:
    lg_cel_add(b, "null");
  }
}

static bool nested(const json_t *v) {
  return (json_is_object(v) && json_object_size(v)) || (json_is_array(v) && json_array_size(v));
}

static void node(lg_cel_buf *b, const json_t *v, int indent, bool inline_first);

/* After "key:" or "- ": a scalar on the same line, or a nested block below / inline. */
static void value(lg_cel_buf *b, const json_t *v, int indent, bool after_dash) {
  if (!nested(v)) {
    lg_cel_add(b, " ");
    scalar(b, v);
    lg_cel_add(b, "\n");
  } else if (after_dash && json_is_object(v)) {
    lg_cel_add(b, " ");
    node(b, v, indent, true);
  } else {
    lg_cel_add(b, "\n");
    node(b, v, indent, false);
  }
}

/* A nested mapping or sequence at indent; inline_first: its first line follows "- ". */
static void node(lg_cel_buf *b, const json_t *v, int indent, bool inline_first) {
  const char *key;
  const json_t *x;
  size_t i;
  bool first = true;
  if (json_is_object(v)) {
    json_object_foreach((json_t *)v, key, x) {
      if (!(first && inline_first))
        lg_cel_addf(b, "%*s", indent, "");
      first = false;
      if (plain_ok(key))
        lg_cel_add(b, key);
      else
        quoted(b, key);
      lg_cel_add(b, ":");
      value(b, x, indent + 2, false);
    }
    return;
  }
  json_array_foreach(v, i, x) {
    if (!(first && inline_first))
      lg_cel_addf(b, "%*s", indent, "");
    first = false;
    lg_cel_add(b, "-");
    value(b, x, indent + 2, true);
  }
}

char *lg_yaml_dump(const json_t *v) {
  lg_cel_buf b = {0};
  if (nested(v)) {
    node(&b, v, 0, false);
  } else {
    scalar(&b, v);
    lg_cel_add(&b, "\n");
  }
  if (b.oom) {
    free(b.s);
    return NULL;
  }
  return b.s;
}
