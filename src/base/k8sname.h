/* k8sname.h -- Kubernetes object names (DNS-1123 labels and subdomains) and the API paths
 * built from them: validated before any URL is made, escaped anyway, checked before sending. */
#ifndef LG_K8SNAME_H
#define LG_K8SNAME_H

#include <stdbool.h>
#include <stddef.h>

/* A namespace name: a DNS-1123 label, [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 bytes. */
bool lg_k8sname_is_label(const char *s);

/* A Lease (or Event) name: a DNS-1123 subdomain, such labels joined by '.', at most 253 bytes. */
bool lg_k8sname_is_subdomain(const char *s);

/* Writes base, then "/" and each segment (NULL-terminated list) percent-encoded (every byte
 * but RFC 3986's unreserved ones) into out. False, with out = "", when it does not fit. */
bool lg_k8sname_path(char *out, size_t outlen, const char *base, ...) __attribute__((sentinel));

/* Whether path (with an optional "?query") can be sent as it is: it starts with '/', has only
 * URL characters and well-formed %XX escapes, and no segment that decodes to "", ".", ".." or
 * to anything with a '/' (which curl or the API server would resolve or split). */
bool lg_k8sname_path_ok(const char *path);

#endif
