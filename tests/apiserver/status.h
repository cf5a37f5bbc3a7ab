/* status.h -- metav1.Status error bodies shaped like kube-apiserver's (k8s.io/apimachinery/pkg/api/errors). */
#ifndef AS_STATUS_H
#define AS_STATUS_H

#include <stddef.h>

#include <jansson.h>

/* A resource as the errors name it. */
typedef struct {
  const char *group; /* "" for the core group */
  const char *version;
  const char *resource;    /* "leases" */
  const char *kind;        /* "Lease" */
  const char *list_kind;   /* "LeaseList" */
  const char *api_version; /* "coordination.k8s.io/v1" */
} as_resource;

extern const as_resource as_res_leases, as_res_events, as_res_secrets, as_res_configmaps,
    as_res_policyreports, as_res_vwcs;

/* One field.Error: type ("FieldValueInvalid"), field path and the rendered body. */
typedef struct {
  const char *type;
  char field[128];
  char body[768];
} as_field_error;

#define AS_MAX_FIELD_ERRORS 16

typedef struct {
  as_field_error e[AS_MAX_FIELD_ERRORS];
  size_t n;
} as_field_errors;

/* field.Invalid: value is already rendered as Go prints it (e.g. 0, "x", 0x0). */
void as_ferr_invalid(as_field_errors *l, const char *field, const char *value, const char *detail);
void as_ferr_required(as_field_errors *l, const char *field, const char *detail);
void as_ferr_forbidden(as_field_errors *l, const char *field, const char *detail);
void as_ferr_not_supported(as_field_errors *l, const char *field, const char *value,
                           const char *supported);

/* Renders s as Go's %q would for plain text: quoted, with \" \\ and control escapes. */
void as_go_quote(const char *s, char *buf, size_t len);

/* Every function below returns a new Status object (NULL only on no memory). */

/* A Failure Status; details (stolen, may be NULL) is included when given. */
json_t *as_status(int code, const char *reason, const char *message, json_t *details);

/* {"name","group","kind"} with kind = the resource, as NewNotFound and friends do. */
json_t *as_details(const as_resource *r, const char *name);

json_t *as_status_not_found(const as_resource *r, const char *name);
json_t *as_status_already_exists(const as_resource *r, const char *name);
/* 409 Conflict: Operation cannot be fulfilled on <resource> "<name>": <why> */
json_t *as_status_conflict(const as_resource *r, const char *name, const char *why);
/* 422 Invalid: "<qualified kind> \"<name>\" is invalid: ..." with details.causes.
 * kind is "Lease" for validation errors or the resource ("leases") for storage ones. */
json_t *as_status_invalid(const as_resource *r, const char *kind, const char *name,
                          const as_field_errors *errs);
json_t *as_status_bad_request(const char *message);
/* 500 InternalError: "Internal error occurred: <message>", details.causes[0].message. */
json_t *as_status_internal(const char *message);

#endif
