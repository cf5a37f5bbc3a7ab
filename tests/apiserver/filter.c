/* filter.c -- selector parsing ("a=b,c!=d", labels also "k" and "!k") and matching by field path. */
#include "filter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const lease_fields[] = {"metadata.name", "metadata.namespace", NULL};
/* pkg/apis/core/v1 event field label conversion. */
static const char *const event_fields[] = {"involvedObject.kind",
                                           "involvedObject.namespace",
                                           "involvedObject.name",
                                           "involvedObject.uid",
                                           "involvedObject.apiVersion",
                                           "involvedObject.resourceVersion",
                                           "involvedObject.fieldPath",
                                           "reason",
                                           "reportingComponent",
                                           "source",
                                           "type",
                                           "metadata.name",
                                           "metadata.namespace",
                                           NULL};

static bool allowed(const char *const *list, const char *key) {
  for (; *list; list++)
    if (!strcmp(*list, key))
      return true;
  return false;
}

/* Splits buf in place into terms. Returns 0, or -1 with the offending term in bad. */
static int split_terms(char *buf, bool labels, as_term *out, size_t *n, const char **bad) {
  char *save = NULL;
  *n = 0;
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    as_term *term = &out[*n];
    char *op;
    *bad = t;
    while (*t == ' ')
      t++;
    if (*n == AS_MAX_TERMS || strpbrk(t, " ()"))
      return -1; /* set-based requirements are not supported */
    if ((op = strstr(t, "!="))) {
      term->op = AS_OP_NE;
      term->value = op + 2;
    } else if ((op = strstr(t, "=="))) {
      term->op = AS_OP_EQ;
      term->value = op + 2;
    } else if ((op = strchr(t, '='))) {
      term->op = AS_OP_EQ;
      term->value = op + 1;
    } else if (labels && *t) {
      term->op = t[0] == '!' ? AS_OP_NOT_EXISTS : AS_OP_EXISTS;
      term->key = t + (t[0] == '!');
      term->value = "";
      (*n)++;
      continue;
    } else {
      return -1;
    }
    *op = '\0';
    term->key = t;
    if (!*t)
      return -1;
    (*n)++;
  }
  return 0;
}

json_t *as_filter_parse(const as_resource *r, const char *field_sel, const char *label_sel,
                        as_filter *f) {
  /* Every resource has metadata.name and metadata.namespace; events have more. */
  bool generic = r != &as_res_events;
  const char *const *fields = generic ? lease_fields : event_fields;
  const char *bad = "";
  char msg[512];

  memset(f, 0, sizeof *f);
  if (field_sel && (!(f->field_buf = strdup(field_sel)) ||
                    split_terms(f->field_buf, false, f->fields, &f->n_fields, &bad))) {
    snprintf(msg, sizeof msg,
             "invalid field selector \"%.200s\": invalid selector: '%.100s'; "
             "can't understand it",
             field_sel, bad);
    goto bad;
  }
  for (size_t i = 0; i < f->n_fields; i++) {
    const char *key = f->fields[i].key;
    if (allowed(fields, key))
      continue;
    if (generic)
      snprintf(msg, sizeof msg,
               "\"%.100s\" is not a known field selector: only "
               "\"metadata.name\", \"metadata.namespace\"",
               key);
    else
      snprintf(msg, sizeof msg, "field label not supported: %.100s", key);
    goto bad;
  }
  if (label_sel && (!(f->label_buf = strdup(label_sel)) ||
                    split_terms(f->label_buf, true, f->labels, &f->n_labels, &bad))) {
    snprintf(msg, sizeof msg,
             "unable to parse requirement: \"%.100s\" (lg-test-apiserver "
             "supports only =, ==, !=, key and !key)",
             bad);
    goto bad;
  }
  return NULL;
bad:
  as_filter_free(f);
  return as_status_bad_request(msg);
}

/* The string at a dotted path ("" when absent); "source" means source.component. */
static const char *field_value(const json_t *obj, const char *path) {
  char part[64];
  const json_t *v = obj;
  if (!strcmp(path, "source"))
    path = "source.component";
  while (*path && v) {
    size_t n = strcspn(path, ".");
    snprintf(part, sizeof part, "%.*s", (int)(n < sizeof part ? n : sizeof part - 1), path);
    v = json_object_get(v, part);
    path += n + (path[n] == '.');
  }
  return json_is_string(v) ? json_string_value(v) : "";
}

static bool term_match(const as_term *t, const char *value) {
  switch (t->op) {
  case AS_OP_EQ:
    return value && !strcmp(value, t->value);
  case AS_OP_NE:
    return !value || strcmp(value, t->value) != 0;
  case AS_OP_EXISTS:
    return value != NULL;
  case AS_OP_NOT_EXISTS:
    return value == NULL;
  }
  return false;
}

bool as_filter_match(const as_filter *f, const json_t *obj) {
  const json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
  for (size_t i = 0; i < f->n_fields; i++)
    if (!term_match(&f->fields[i], field_value(obj, f->fields[i].key)))
      return false;
  for (size_t i = 0; i < f->n_labels; i++) {
    const json_t *v = json_object_get(labels, f->labels[i].key);
    if (!term_match(&f->labels[i], json_is_string(v) ? json_string_value(v) : NULL))
      return false;
  }
  return true;
}

void as_filter_free(as_filter *f) {
  free(f->field_buf);
  free(f->label_buf);
  memset(f, 0, sizeof *f);
}
