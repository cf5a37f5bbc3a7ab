/* kstatus.h -- the Kubernetes Status object (meta/v1) an HTTP error reply carries, as the
 * API server writes it for a failed request. */
#ifndef LG_KSTATUS_H
#define LG_KSTATUS_H

/* A Status {status: Failure, reason, message, code: http_status} as JSON text; a message
 * that is not UTF-8 is repaired first. Returns a new string (free) or NULL on no memory. */
char *lg_kstatus_encode(int http_status, const char *reason, const char *message);

#endif
