/* kube.h -- a small Kubernetes API client over libcurl: JSON calls and watch streams. */
#ifndef LG_KUBE_H
#define LG_KUBE_H

#include <stddef.h>

#include <jansson.h>

#include "kubeconfig.h"
#include "rc.h"

typedef struct lg_kube lg_kube;

/* A client for one thread (it holds one curl handle). TLS is always verified. */
lg_rc lg_kube_new(const lg_kube_config *cfg, lg_kube **out, char *err, size_t errlen);

/* Frees k; NULL is a no-op. */
void lg_kube_free(lg_kube *k);

typedef struct {
  long status;         /* HTTP status, 0 when no answer came */
  json_t *body;        /* new: the parsed JSON answer, or NULL */
  char message[512];   /* Status.message of an error answer, or the transport error */
  char warnings[1024]; /* the API server's Warning headers (e.g. from webhooks), one a line */
} lg_kube_result;

/* METHOD path (e.g. "/apis/coordination.k8s.io/v1/namespaces/ns/leases/x") with an
 * optional JSON body (borrowed; a PATCH body is sent as a JSON merge patch), giving up
 * after timeout_ms. LG_OK whenever an HTTP
 * answer came (any status: check out->status); LG_EIO when none did. */
lg_rc lg_kube_call(lg_kube *k, const char *method, const char *path, const json_t *body,
                   long timeout_ms, lg_kube_result *out);

/* PATCH path with a JSON patch (RFC 6902, application/json-patch+json): ops is the array of
 * operations (borrowed). As lg_kube_call otherwise. */
lg_rc lg_kube_json_patch(lg_kube *k, const char *path, const json_t *ops, long timeout_ms,
                         lg_kube_result *out);

/* Releases what the result owns. */
void lg_kube_result_free(lg_kube_result *r);

/* GET path as a stream (a WATCH: "...?watch=true&resourceVersion=N"), giving up after
 * timeout_ms (10 s at most to connect). While the answer is 2xx, on_line gets each
 * newline-terminated line as it arrives (without the newline, NUL-terminated, borrowed for
 * the call; empty lines skipped; an unfinished last line is dropped); it is also called with
 * line NULL (len 0) at least about once a second, also while nothing arrives. A non-zero
 * return from on_line ends the transfer. An answer that is not 2xx is read whole as in
 * lg_kube_call (out->body, out->message). LG_OK whenever an HTTP answer came (check
 * out->status), including when on_line stopped it or the server ended the stream; LG_EIO
 * when none did or the stream broke (timeout, connection reset; message in out). */
lg_rc lg_kube_stream(lg_kube *k, const char *path, long timeout_ms,
                     int (*on_line)(void *ud, const char *line, size_t len), void *ud,
                     lg_kube_result *out);

#endif
