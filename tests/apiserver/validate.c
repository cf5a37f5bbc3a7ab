/* validate.c -- Go-style decoding errors and the Lease validation of kube-apiserver, message for message. */
#include "validate.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "meta.h"
#include "times.h"

#define MICRO_LAYOUT "2006-01-02T15:04:05.000000Z07:00"
#define SUBDOMAIN_MSG                                                                           \
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "  \
  "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used " \
  "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
#define QUALIFIED_MSG                                                                         \
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an " \
  "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "      \
  "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"

typedef enum { T_STRING, T_INT32, T_MICROTIME, T_STRING_MAP } field_type;

typedef struct {
  const char *key;
  field_type type;
} field;

static const field meta_fields[] = {
    {"name", T_STRING},       {"generateName", T_STRING},    {"namespace", T_STRING},
    {"uid", T_STRING},        {"resourceVersion", T_STRING}, {"creationTimestamp", T_STRING},
    {"labels", T_STRING_MAP}, {"annotations", T_STRING_MAP},
};

static const field spec_fields[] = {
    {"holderIdentity", T_STRING},  {"leaseDurationSeconds", T_INT32}, {"acquireTime", T_MICROTIME},
    {"renewTime", T_MICROTIME},    {"leaseTransitions", T_INT32},     {"strategy", T_STRING},
    {"preferredHolder", T_STRING},
};

static const char *go_json_type(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "object";
  case JSON_ARRAY:
    return "array";
  case JSON_STRING:
    return "string";
  case JSON_TRUE:
  case JSON_FALSE:
    return "bool";
  default:
    return "number";
  }
}

/* Go's MicroTime layout: exactly six fractional digits and an upper-case T and Z. */
static bool is_micro_time(const char *s) {
  size_t n = strlen(s);
  lg_time t;
  if (n < 27 || s[10] != 'T' || s[19] != '.')
    return false;
  for (int i = 20; i < 26; i++)
    if (!isdigit((unsigned char)s[i]))
      return false;
  if (!(s[26] == 'Z' && n == 27) && !((s[26] == '+' || s[26] == '-') && n == 32))
    return false;
  return lg_time_parse(s, &t) == LG_OK;
}

static json_t *type_error(const char *kind, const char *go_struct, const char *path,
                          const char *key, const json_t *v, const char *want) {
  char msg[768], num[64] = "";
  if (json_is_real(v))
    snprintf(num, sizeof num, " %g", json_real_value(v));
  else if (json_is_integer(v))
    snprintf(num, sizeof num, " %" JSON_INTEGER_FORMAT, json_integer_value(v));
  snprintf(msg, sizeof msg,
           "%s in version \"v1\" cannot be handled as a %s: json: cannot "
           "unmarshal %s%s into Go struct field %s.%s.%s of type %s",
           kind, kind, go_json_type(v), num, go_struct, path, key, want);
  return as_status_bad_request(msg);
}

static json_t *check_field(const char *kind, const char *go_struct, const char *path,
                           const field *f, const json_t *v) {
  char q[300], msg[768];
  const char *key;
  const json_t *val;

  if (!v || json_is_null(v))
    return NULL; /* pointers stay nil, strings empty */
  switch (f->type) {
  case T_STRING:
    return json_is_string(v) ? NULL : type_error(kind, go_struct, path, f->key, v, "string");
  case T_INT32:
    if (json_is_integer(v) && json_integer_value(v) >= INT32_MIN &&
        json_integer_value(v) <= INT32_MAX)
      return NULL;
    return type_error(kind, go_struct, path, f->key, v, "int32");
  case T_MICROTIME:
    if (!json_is_string(v))
      return type_error(kind, go_struct, path, f->key, v, "string");
    if (is_micro_time(json_string_value(v)))
      return NULL;
    as_go_quote(json_string_value(v), q, sizeof q);
    snprintf(msg, sizeof msg,
             "%s in version \"v1\" cannot be handled as a %s: parsing time %s "
             "as \"" MICRO_LAYOUT "\": cannot parse %s as a MicroTime",
             kind, kind, q, q);
    return as_status_bad_request(msg);
  case T_STRING_MAP:
    if (!json_is_object(v))
      return type_error(kind, go_struct, path, f->key, v, "map[string]string");
    json_object_foreach((json_t *)v, key,
                        val) if (!json_is_string(val) &&
                                 !json_is_null(val)) return type_error(kind, go_struct, path,
                                                                       f->key, val, "string");
    return NULL;
  }
  return NULL;
}

static json_t *check_object(const char *kind, const char *go_struct, const char *path,
                            const json_t *o, const field *fields, size_t n) {
  json_t *st = NULL;
  if (!o || json_is_null(o))
    return NULL;
  if (!json_is_object(o)) {
    char msg[512];
    snprintf(msg, sizeof msg,
             "%s in version \"v1\" cannot be handled as a %s: json: cannot "
             "unmarshal %s into Go struct field %s.%s of type %s",
             kind, kind, go_json_type(o), kind, path, go_struct);
    return as_status_bad_request(msg);
  }
  for (size_t i = 0; !st && i < n; i++)
    st = check_field(kind, go_struct, path, &fields[i], json_object_get(o, fields[i].key));
  return st;
}

json_t *as_meta_decode_check(const json_t *obj, const char *kind) {
  return check_object(kind, "ObjectMeta", "metadata", json_object_get(obj, "metadata"), meta_fields,
                      sizeof meta_fields / sizeof meta_fields[0]);
}

json_t *as_lease_decode_check(const json_t *obj) {
  json_t *st = as_meta_decode_check(obj, "Lease");
  if (st)
    return st;
  return check_object("Lease", "LeaseSpec", "spec", json_object_get(obj, "spec"), spec_fields,
                      sizeof spec_fields / sizeof spec_fields[0]);
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? per label, labels joined by '.'. */
static bool is_subdomain(const char *s) {
  size_t label = 0;
  char prev = '.';
  if (!*s)
    return false;
  for (; *s; prev = *s++) {
    bool alnum = islower((unsigned char)*s) || isdigit((unsigned char)*s);
    if (*s == '.') {
      if (!label || prev == '-')
        return false;
      label = 0;
    } else if (alnum || (*s == '-' && label)) {
      label++;
    } else {
      return false;
    }
  }
  return label && prev != '-';
}

void as_validate_name(const char *name, as_field_errors *errs) {
  char q[300];
  if (!name || !name[0]) {
    as_ferr_required(errs, "metadata.name", "name or generateName is required");
    return;
  }
  as_go_quote(name, q, sizeof q);
  if (strlen(name) > 253)
    as_ferr_invalid(errs, "metadata.name", q, "must be no more than 253 characters");
  if (!is_subdomain(name))
    as_ferr_invalid(errs, "metadata.name", q, SUBDOMAIN_MSG);
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] */
static bool is_qualified_name_part(const char *s, size_t n) {
  if (!n || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
    return false;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && !strchr("-_.", s[i]))
      return false;
  return true;
}

/* utilvalidation.IsQualifiedName, reported on path as field.Invalid errors. */
static void validate_qualified(const char *v, const char *path, as_field_errors *errs) {
  const char *slash = strchr(v, '/'), *name = slash ? slash + 1 : v;
  char q[300], prefix[300];

  as_go_quote(v, q, sizeof q);
  if (slash && strchr(name, '/')) {
    as_ferr_invalid(errs, path, q,
                    "a qualified name " QUALIFIED_MSG " with an optional DNS "
                    "subdomain prefix and '/' (e.g. 'example.com/MyName')");
    return;
  }
  if (slash) {
    size_t plen = (size_t)(slash - v);
    snprintf(prefix, sizeof prefix, "%.*s", (int)plen, v);
    if (!plen)
      as_ferr_invalid(errs, path, q, "prefix part must be non-empty");
    else if (plen > 253)
      as_ferr_invalid(errs, path, q, "prefix part must be no more than 253 characters");
    else if (!is_subdomain(prefix))
      as_ferr_invalid(errs, path, q, "prefix part " SUBDOMAIN_MSG);
  }
  if (!name[0])
    as_ferr_invalid(errs, path, q, "name part must be non-empty");
  else if (strlen(name) > 63)
    as_ferr_invalid(errs, path, q, "name part must be no more than 63 characters");
  if (!is_qualified_name_part(name, strlen(name)))
    as_ferr_invalid(errs, path, q, "name part " QUALIFIED_MSG);
}

bool as_is_qualified_name(const char *s) {
  as_field_errors errs;
  errs.n = 0;
  validate_qualified(s, "", &errs);
  return errs.n == 0;
}

static void validate_spec(const json_t *spec, as_field_errors *errs) {
  const json_t *d = json_object_get(spec, "leaseDurationSeconds");
  const json_t *t = json_object_get(spec, "leaseTransitions");
  const json_t *strategy = json_object_get(spec, "strategy");
  const char *preferred = json_string_value(json_object_get(spec, "preferredHolder"));
  char num[32], q[300];

  if (json_is_integer(d) && json_integer_value(d) <= 0) {
    snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(d));
    as_ferr_invalid(errs, "spec.leaseDurationSeconds", num, "must be greater than 0");
  }
  if (json_is_integer(t) && json_integer_value(t) < 0) {
    snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(t));
    as_ferr_invalid(errs, "spec.leaseTransitions", num, "must be greater than or equal to 0");
  }
  /* Upstream appends "strategy" to a path that already ends in it: spec.strategy.strategy. */
  if (json_is_string(strategy)) {
    const char *s = json_string_value(strategy);
    as_go_quote(s, q, sizeof q);
    if (!strchr(s, '/')) {
      if (strcmp(s, "OldestEmulationVersion") != 0)
        as_ferr_not_supported(errs, "spec.strategy.strategy", q, "\"OldestEmulationVersion\"");
    } else {
      validate_qualified(s, "spec.strategy.strategy", errs);
    }
  }
  if (preferred && preferred[0] && (!json_is_string(strategy) || !json_string_value(strategy)[0]))
    as_ferr_forbidden(errs, "spec.preferredHolder",
                      "may only be specified if `strategy` is defined");
}

json_t *as_lease_validate(const json_t *obj) {
  as_field_errors errs;
  const char *name = as_meta_str(obj, "name");

  errs.n = 0;
  as_validate_name(name, &errs);
  validate_spec(json_object_get(obj, "spec"), &errs);
  if (!errs.n)
    return NULL;
  return as_status_invalid(&as_res_leases, "Lease", name ? name : "", &errs);
}
