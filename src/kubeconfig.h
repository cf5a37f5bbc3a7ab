/* kubeconfig.h -- how to reach and authenticate to the Kubernetes API: in-cluster, a
 * kubeconfig file or explicit flags. */
#ifndef LG_KUBECONFIG_H
#define LG_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

/* How to reach and authenticate to the API server. Every string is owned (malloc). */
typedef struct {
  char *server;     /* "https://host:port", no trailing slash */
  char *token;      /* bearer token, or NULL */
  char *token_file; /* re-read before each call when set (bound tokens rotate), or NULL */
  char *ca_file;    /* PEM CA bundle path, or NULL */
  char *ca_pem;     /* PEM CA bundle in memory (kubeconfig certificate-authority-data), or NULL */
  char *cert_file, *key_file; /* client certificate and key paths, or NULL */
  char *cert_pem, *key_pem;   /* client certificate and key in memory, or NULL */
} lg_kube_config;

/* In-cluster: KUBERNETES_SERVICE_HOST/PORT, the service-account token file and CA at
 * /var/run/secrets/kubernetes.io/serviceaccount (dir overridable for tests, NULL = default). */
lg_rc lg_kube_config_in_cluster(const char *sa_dir, lg_kube_config *out, char *err, size_t errlen);

/* The current context of a kubeconfig file: server, CA (file or data), token (or
 * tokenFile) or client certificate (file or data). */
lg_rc lg_kube_config_kubeconfig(const char *path, lg_kube_config *out, char *err, size_t errlen);

/* Explicit flags: --server, --token-file, --certificate-authority. */
lg_rc lg_kube_config_explicit(const char *server, const char *token_file, const char *ca_file,
                              lg_kube_config *out, char *err, size_t errlen);

/* The API access the flags of a command ask for: a kubeconfig when given, else explicit
 * --server/--token-file/--certificate-authority when server is given, else in-cluster. */
lg_rc lg_kube_config_select(const char *kubeconfig, const char *server, const char *token_file,
                            const char *ca_file, lg_kube_config *out, char *err, size_t errlen);

/* Frees what the config owns; a zeroed config is a no-op. */
void lg_kube_config_free(lg_kube_config *c);

/* Deep copy of src into dst; all or nothing: false (dst zeroed) when out of memory. */
bool lg_kube_config_copy(const lg_kube_config *src, lg_kube_config *dst);

/* The bearer token to send now, a new string in *out: token_file re-read (bound tokens
 * rotate), else token, else NULL. LG_EIO (message in err) when the file is unusable. */
lg_rc lg_kube_config_token(const lg_kube_config *c, char **out, char *err, size_t errlen);

/* Frees a string of secret material (token, key, header), wiping it first. */
void lg_kube_config_secret_free(char *s);

#endif
