/* patch.c -- JSON merge patch and JSON patch over jansson values. */
#include "patch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *as_merge_patch(json_t *target, const json_t *patch) {
  const char *key;
  json_t *value;

  if (!json_is_object(patch)) {
    json_decref(target);
    return json_deep_copy(patch);
  }
  if (!json_is_object(target)) {
    json_decref(target);
    if (!(target = json_object()))
      return NULL;
  }
  json_object_foreach((json_t *)patch, key, value) {
    json_t *merged;
    if (json_is_null(value)) {
      json_object_del(target, key);
      continue;
    }
    merged = as_merge_patch(json_incref(json_object_get(target, key)), value);
    if (!merged || json_object_set_new(target, key, merged) != 0) {
      json_decref(target);
      return NULL;
    }
  }
  return target;
}

/* A JSON pointer cut at its last token: the container it names (borrowed) and that token
 * (unescaped into tok). -1 when a token before the last does not exist. */
static int resolve(json_t *doc, const char *ptr, json_t **parent, char *tok, size_t toklen) {
  json_t *cur = doc;
  const char *p = ptr;

  if (*p != '/')
    return -1;
  for (;;) {
    size_t n = 0;
    p++;
    while (*p && *p != '/' && n + 1 < toklen) {
      if (p[0] == '~' && (p[1] == '0' || p[1] == '1')) {
        tok[n++] = p[1] == '0' ? '~' : '/';
        p += 2;
      } else {
        tok[n++] = *p++;
      }
    }
    tok[n] = '\0';
    if (!*p) {
      *parent = cur;
      return 0;
    }
    if (*p != '/')
      return -1; /* token too long */
    if (json_is_object(cur)) {
      cur = json_object_get(cur, tok);
    } else if (json_is_array(cur)) {
      char *end;
      unsigned long i;
      errno = 0;
      i = strtoul(tok, &end, 10);
      cur = tok[0] >= '0' && tok[0] <= '9' && !*end && !errno ? json_array_get(cur, i) : NULL;
    } else {
      cur = NULL;
    }
    if (!cur)
      return -1;
  }
}

/* The index tok names in array a (size for "-" when append is allowed); -1 when none. */
static long index_of(const json_t *a, const char *tok, int append) {
  char *end;
  unsigned long i;
  size_t n = json_array_size(a);
  if (append && !strcmp(tok, "-"))
    return (long)n;
  errno = 0;
  i = strtoul(tok, &end, 10);
  if (tok[0] < '0' || tok[0] > '9' || *end || errno || (tok[0] == '0' && tok[1]) ||
      i > n - (append ? 0 : 1) || (!append && n == 0))
    return -1;
  return (long)i;
}

/* The value at ptr (borrowed), or NULL. */
static json_t *get(json_t *doc, const char *ptr) {
  json_t *parent;
  char tok[256];
  long i;
  if (!*ptr)
    return doc;
  if (resolve(doc, ptr, &parent, tok, sizeof tok))
    return NULL;
  if (json_is_object(parent))
    return json_object_get(parent, tok);
  i = json_is_array(parent) ? index_of(parent, tok, 0) : -1;
  return i < 0 ? NULL : json_array_get(parent, (size_t)i);
}

/* add (insert into arrays) or replace (must exist) value (stolen) at ptr. */
static int put(json_t **doc, const char *ptr, json_t *value, int replace) {
  json_t *parent;
  char tok[256];
  long i = -1;
  int rc = -1;

  if (!*ptr) {
    json_decref(*doc);
    *doc = value;
    return 0;
  }
  if (resolve(*doc, ptr, &parent, tok, sizeof tok) != 0) {
    json_decref(value);
    return -1;
  }
  /* The _new setters steal value whatever they return. */
  if (json_is_object(parent) && (!replace || json_object_get(parent, tok)))
    rc = json_object_set_new(parent, tok, value);
  else if (json_is_array(parent) && (i = index_of(parent, tok, !replace)) >= 0 && replace)
    rc = json_array_set_new(parent, (size_t)i, value);
  else if (json_is_array(parent) && i >= 0)
    rc = json_array_insert_new(parent, (size_t)i, value);
  else
    json_decref(value);
  return rc;
}

static int del(json_t *doc, const char *ptr) {
  json_t *parent;
  char tok[256];
  long i;
  if (!*ptr || resolve(doc, ptr, &parent, tok, sizeof tok))
    return -1;
  if (json_is_object(parent))
    return json_object_del(parent, tok);
  i = json_is_array(parent) ? index_of(parent, tok, 0) : -1;
  return i < 0 ? -1 : json_array_remove(parent, (size_t)i);
}

/* One operation; -1 with err set. */
static int apply(json_t **doc, const json_t *op, char *err, size_t errlen) {
  const char *name = json_string_value(json_object_get(op, "op"));
  const char *path = json_string_value(json_object_get(op, "path"));
  const char *from = json_string_value(json_object_get(op, "from"));
  json_t *value = json_object_get(op, "value"), *src;

  if (!name || !path) {
    snprintf(err, errlen, "invalid operation: missing op or path");
    return -1;
  }
  if (!strcmp(name, "test")) {
    src = get(*doc, path);
    if (src && value && json_equal(src, value))
      return 0;
    snprintf(err, errlen, "testing value %.200s failed: test failed", path);
    return -1;
  }
  if ((!strcmp(name, "add") || !strcmp(name, "replace")) && value) {
    if (put(doc, path, json_deep_copy(value), name[0] == 'r') == 0)
      return 0;
    snprintf(err, errlen,
             "%s operation does not apply: doc is missing path: \"%.200s\": missing "
             "value",
             name, path);
    return -1;
  }
  if (!strcmp(name, "remove")) {
    if (del(*doc, path) == 0)
      return 0;
    snprintf(err, errlen,
             "remove operation does not apply: doc is missing path: \"%.200s\": "
             "missing value",
             path);
    return -1;
  }
  if ((!strcmp(name, "move") || !strcmp(name, "copy")) && from && (src = get(*doc, from))) {
    json_t *copy = json_deep_copy(src);
    if (name[0] == 'm' && del(*doc, from) != 0)
      json_decref(copy);
    else if (put(doc, path, copy, 0) == 0)
      return 0;
  }
  snprintf(err, errlen, "Unexpected kind: %.40s (or a missing value or from)", name);
  return -1;
}

int as_json_patch(json_t **doc, const json_t *ops, char *err, size_t errlen) {
  size_t i;
  const json_t *op;
  if (!json_is_array(ops)) {
    snprintf(err, errlen, "json: cannot unmarshal object into Go value of type jsonpatch.Patch");
    return -1;
  }
  json_array_foreach(ops, i, op) {
    if (apply(doc, op, err, errlen))
      return -1;
  }
  return 0;
}
