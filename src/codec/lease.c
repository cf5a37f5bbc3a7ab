/* lease.c -- decode a Lease's metadata and spec from jansson, with typed field checks. */
#include "lease.h"

#include <string.h>

#include "utf8.h"

/* Reads an optional string field; NULL when absent or null. */
static lg_rc opt_string(const json_t *o, const char *key, const char **out, char *err,
                        size_t errlen) {
  const json_t *v = json_object_get(o, key);
  *out = NULL;
  if (!v || json_is_null(v))
    return LG_OK;
  if (!json_is_string(v))
    return lg_fail(err, errlen, LG_ELEASE, "spec.%s must be a string", key);
  if (!(*out = lg_utf8_json_text((json_t *)v)))
    return lg_fail(err, errlen, LG_ENOMEM, "spec.%s: out of memory", key);
  return LG_OK;
}

static lg_rc opt_int(const json_t *o, const char *key, bool *has, int64_t *out, char *err,
                     size_t errlen) {
  const json_t *v = json_object_get(o, key);
  *has = false;
  if (!v || json_is_null(v))
    return LG_OK;
  if (!json_is_integer(v))
    return lg_fail(err, errlen, LG_ELEASE, "spec.%s must be an integer", key);
  /* Both fields are int32 in the Kubernetes API. */
  if (json_integer_value(v) > INT32_MAX || json_integer_value(v) < INT32_MIN)
    return lg_fail(err, errlen, LG_ELEASE, "spec.%s is out of the int32 range", key);
  *has = true;
  *out = json_integer_value(v);
  return LG_OK;
}

static lg_rc opt_time(const json_t *o, const char *key, bool *has, lg_time *out, char *err,
                      size_t errlen) {
  const json_t *v = json_object_get(o, key);
  *has = false;
  if (!v || json_is_null(v))
    return LG_OK;
  if (!json_is_string(v) || lg_time_parse(json_string_value(v), out) != LG_OK)
    return lg_fail(err, errlen, LG_ELEASE, "spec.%s must be an RFC 3339 time", key);
  *has = true;
  return LG_OK;
}

lg_rc lg_lease_decode(const json_t *obj, lg_lease *out, char *err, size_t errlen) {
  const json_t *meta, *spec, *v;
  lg_rc rc = LG_OK;

  memset(out, 0, sizeof *out);
  out->name = "";
  out->namespace = "";
  if (!json_is_object(obj))
    return lg_fail(err, errlen, LG_ELEASE, "object must be a JSON object");
  /* An object that says it is something else must not be judged as a Lease with no spec
   * (which the rules would let through). */
  v = json_object_get(obj, "kind");
  lg_utf8_json_text((json_t *)v);
  if (v && !json_is_null(v) && (!json_is_string(v) || strcmp(json_string_value(v), "Lease")))
    return lg_fail(err, errlen, LG_ELEASE, "object is not a Lease (kind %s)",
                   json_is_string(v) ? json_string_value(v) : "of the wrong type");
  v = json_object_get(obj, "apiVersion");
  lg_utf8_json_text((json_t *)v);
  if (v && !json_is_null(v) &&
      (!json_is_string(v) || strncmp(json_string_value(v), "coordination.k8s.io/", 20)))
    return lg_fail(err, errlen, LG_ELEASE,
                   "object is not a coordination.k8s.io Lease (apiVersion %s)",
                   json_is_string(v) ? json_string_value(v) : "of the wrong type");
  meta = json_object_get(obj, "metadata");
  if (meta && !json_is_null(meta)) {
    if (!json_is_object(meta))
      return lg_fail(err, errlen, LG_ELEASE, "metadata must be an object");
    if ((v = json_object_get(meta, "name")) && json_is_string(v))
      out->name = lg_utf8_json_text((json_t *)v) ? json_string_value(v) : "";
    if ((v = json_object_get(meta, "namespace")) && json_is_string(v))
      out->namespace = lg_utf8_json_text((json_t *)v) ? json_string_value(v) : "";
  }
  spec = json_object_get(obj, "spec");
  if (!spec || json_is_null(spec))
    return LG_OK;
  if (!json_is_object(spec))
    return lg_fail(err, errlen, LG_ELEASE, "spec must be an object");
  out->spec = spec;
  if ((rc = opt_string(spec, "holderIdentity", &out->holder, err, errlen)) ||
      (rc = opt_int(spec, "leaseDurationSeconds", &out->has_duration, &out->duration, err,
                    errlen)) ||
      (rc = opt_time(spec, "acquireTime", &out->has_acquire, &out->acquire, err, errlen)) ||
      (rc = opt_time(spec, "renewTime", &out->has_renew, &out->renew, err, errlen)) ||
      (rc = opt_int(spec, "leaseTransitions", &out->has_transitions, &out->transitions, err,
                    errlen)) ||
      (rc = opt_string(spec, "strategy", &out->strategy, err, errlen)) ||
      (rc = opt_string(spec, "preferredHolder", &out->preferred_holder, err, errlen)))
    return rc;
  return LG_OK;
}

bool lg_lease_held(const lg_lease *l) { return l && l->holder && l->holder[0] != '\0'; }

const char *lg_lease_holder_or_empty(const lg_lease *l) {
  return lg_lease_held(l) ? l->holder : "";
}

int64_t lg_lease_transitions(const lg_lease *l) { return l->has_transitions ? l->transitions : 0; }

bool lg_lease_same_spec(const lg_lease *a, const lg_lease *b) {
  if (!a->spec || !b->spec)
    return a->spec == b->spec;
  return json_equal(a->spec, b->spec);
}
