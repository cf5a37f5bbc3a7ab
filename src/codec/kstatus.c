/* kstatus.c -- the Kubernetes Status object (meta/v1) of an HTTP error reply, as text. */
#include "kstatus.h"

#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "utf8.h"

char *lg_kstatus_encode(int http_status, const char *reason, const char *message) {
  /* The message may quote what a client sent (a header, a kind): never let it make the
   * answer impossible to encode. */
  char *safe = reason ? strdup(message ? message : "") : NULL;
  lg_jsonw w;

  if (!safe)
    return NULL;
  lg_utf8_repair(safe);
  lg_jsonw_init(&w);
  LG_JSONW_LIT(&w, "{\"apiVersion\":\"v1\",\"kind\":\"Status\",\"metadata\":{},"
                   "\"status\":\"Failure\",\"reason\":");
  lg_jsonw_cstr(&w, reason);
  LG_JSONW_LIT(&w, ",\"message\":");
  lg_jsonw_cstr(&w, safe);
  LG_JSONW_LIT(&w, ",\"code\":");
  lg_jsonw_int(&w, http_status);
  LG_JSONW_LIT(&w, "}");
  free(safe);
  return lg_jsonw_take(&w);
}
