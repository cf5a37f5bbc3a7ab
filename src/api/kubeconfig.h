/* kubeconfig.h -- how to reach and authenticate to the Kubernetes API, chosen as kubectl and
 * controller-runtime choose: flags, kubeconfig files, in-cluster service account. */
#ifndef LG_KUBECONFIG_H
#define LG_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "execcred.h"
#include "rc.h"

/* How to reach and authenticate to the API server. Every string is owned (malloc). */
typedef struct {
  char *server;          /* "https://host:port[/prefix]", no trailing slash */
  char *tls_server_name; /* the name the server's certificate is checked for (and SNI), or NULL */
  char *proxy_url;       /* http://, https:// or socks5:// proxy, or NULL */
  bool insecure;         /* insecure-skip-tls-verify: the server's certificate is not checked */
  char *token;           /* bearer token, or NULL */
  char *token_file;      /* re-read before each call when set (bound tokens rotate), or NULL */
  char *ca_file;         /* PEM CA bundle path, or NULL */
  char *ca_pem; /* PEM CA bundle in memory (kubeconfig certificate-authority-data), or NULL */
  char *cert_file, *key_file; /* client certificate and key paths, or NULL */
  char *cert_pem, *key_pem;   /* client certificate and key in memory, or NULL */
  char *namespace;            /* the context's namespace (in-cluster: the pod's), or NULL */
  bool in_cluster;            /* from the pod's service account */
  char *source;      /* how this was chosen, for logs, e.g. "kubeconfig PATH, context NAME" */
  lg_execcred *exec; /* an exec credential plugin (a reference), or NULL */
} lg_kube_config;

/* The API-access flags of a command; NULL = not given. Borrowed. */
typedef struct {
  const char *kubeconfig; /* --kubeconfig: only this file */
  const char *context;    /* --context: instead of current-context */
  const char *server;     /* --server */
  const char *token_file; /* --token-file */
  const char *ca_file;    /* --certificate-authority */
} lg_kube_flags;

/* The environment that decides API access, read once at start-up. NULL = unset. Borrowed. */
typedef struct {
  const char *kubeconfig;                  /* $KUBECONFIG: a colon-separated list of files */
  const char *home;                        /* $HOME: ~/.kube/config */
  const char *service_host, *service_port; /* KUBERNETES_SERVICE_HOST/PORT */
  const char
      *sa_dir; /* service-account directory; NULL: /var/run/secrets/kubernetes.io/serviceaccount */
} lg_kube_env;

/* The API access a command gets, in this order: --server (with --token-file and
 * --certificate-authority) alone when neither --kubeconfig nor --context is given; else
 * --kubeconfig; else $KUBECONFIG (merged); else in-cluster when KUBERNETES_SERVICE_HOST and
 * _PORT are set and --context is not given; else ~/.kube/config. --server, --token-file
 * and --certificate-authority override what a kubeconfig or in-cluster gives. */
lg_rc lg_kube_config_resolve(const lg_kube_flags *f, const lg_kube_env *env, lg_kube_config *out,
                             char *err, size_t errlen);

/* In-cluster: the service's host and port from env, the service-account token file, CA and
 * namespace in env->sa_dir. */
lg_rc lg_kube_config_in_cluster(const lg_kube_env *env, lg_kube_config *out, char *err,
                                size_t errlen);

/* The current context of one kubeconfig file (lg_kube_config_resolve with only --kubeconfig). */
lg_rc lg_kube_config_kubeconfig(const char *path, lg_kube_config *out, char *err, size_t errlen);

/* Explicit flags: --server, --token-file, --certificate-authority. */
lg_rc lg_kube_config_explicit(const char *server, const char *token_file, const char *ca_file,
                              lg_kube_config *out, char *err, size_t errlen);

/* Applies --server, --token-file and --certificate-authority to c as kubectl does: a server
 * replaces the server and tls-server-name; a CA replaces the CA and insecure-skip-tls-verify;
 * a token file replaces the token and the exec plugin. Refuses insecure-skip-tls-verify
 * with a CA, as client-go does. */
lg_rc lg_kube_config_override(lg_kube_config *c, const lg_kube_flags *f, char *err, size_t errlen);

/* Checks that server is "https://host..." and stores a new copy without trailing slashes;
 * where prefixes the message. */
lg_rc lg_kube_config_https(const char *server, const char *where, char **out, char *err,
                           size_t errlen);

/* Frees what the config owns; a zeroed config is a no-op. */
void lg_kube_config_free(lg_kube_config *c);

/* Deep copy of src into dst (the exec plugin is shared); all or nothing: false (dst
 * zeroed) when out of memory. */
bool lg_kube_config_copy(const lg_kube_config *src, lg_kube_config *dst);

/* The bearer token to send now, a new string in *out: token_file re-read (bound tokens
 * rotate), else token, else NULL. LG_EIO (message in err) when the file is unusable. */
lg_rc lg_kube_config_token(const lg_kube_config *c, char **out, char *err, size_t errlen);

/* Frees a string of secret material (token, key, header), wiping it first. */
void lg_kube_config_secret_free(char *s);

#endif
