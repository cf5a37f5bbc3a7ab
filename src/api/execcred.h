/* execcred.h -- exec credential plugins (kubeconfig users[].user.exec): run the command,
 * read its ExecCredential, keep it until it expires. */
#ifndef LG_EXECCRED_H
#define LG_EXECCRED_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "rc.h"
#include "times.h"

#define LG_EXECCRED_TIMEOUT_MS 30000L        /* default bound on one run of a plugin */
#define LG_EXECCRED_MAX_OUTPUT (1024 * 1024) /* default bound on its stdout */

/* A plugin, its settings and its cached credential: shared by every client made from one
 * configuration (reference counted), thread-safe; one run at a time. */
typedef struct lg_execcred lg_execcred;

/* What the kubeconfig says; everything is borrowed and copied by lg_execcred_new. */
typedef struct {
  const char *name;        /* for messages, e.g. `user "eks" in /home/me/.kube/config` */
  const char *command;     /* a path, or a name looked up in PATH */
  const char *const *args; /* n_args arguments after the command */
  size_t n_args;
  const char *const *env; /* n_env "NAME=value" entries added to our environment */
  size_t n_env;
  const char *api_version;      /* client.authentication.k8s.io/v1 or .../v1beta1 */
  const char *interactive_mode; /* Never, IfAvailable, Always; NULL: v1beta1 only (IfAvailable) */
  const char *install_hint;     /* shown when the command is not found, or NULL */
  const json_t *cluster;        /* spec.cluster (provideClusterInfo), or NULL */
  long timeout_ms;              /* 0: LG_EXECCRED_TIMEOUT_MS */
  size_t max_output;            /* 0: LG_EXECCRED_MAX_OUTPUT */
} lg_execcred_opts;

/* Checks the settings (apiVersion, interactiveMode: Always is refused, we have no terminal)
 * and makes a plugin with a reference count of 1 in *out; nothing runs yet. */
lg_rc lg_execcred_new(const lg_execcred_opts *o, lg_execcred **out, char *err, size_t errlen);

/* Another reference to x (NULL stays NULL). */
lg_execcred *lg_execcred_ref(lg_execcred *x);

/* Drops a reference; the last one frees x. NULL is a no-op. */
void lg_execcred_unref(lg_execcred *x);

/* A credential; every string is new (wiped when freed) or NULL. */
typedef struct {
  char *token;              /* bearer token */
  char *cert_pem, *key_pem; /* client certificate and key (PEM), both or neither */
  bool has_expiry;
  lg_time expiry;           /* status.expirationTimestamp */
  unsigned long generation; /* which run of the plugin made it (1, 2, ...) */
  bool fresh;               /* the plugin ran in this call */
} lg_execcred_cred;

/* The credential to use at now: the cached one until its expiry (kept for good without
 * one), else the plugin's output, run now. LG_EIO with a message naming the plugin, its
 * exit code and its stderr (cut) when the plugin fails or answers nonsense. */
lg_rc lg_execcred_get(lg_execcred *x, lg_time now, lg_execcred_cred *out, char *err, size_t errlen);

/* The API server refused the credential of that generation (401): the next get runs the
 * plugin again, unless a newer credential is already cached. */
void lg_execcred_invalidate(lg_execcred *x, unsigned long generation);

/* How many times the plugin has run. */
unsigned long lg_execcred_runs(lg_execcred *x);

/* Frees what a credential owns, wiping the secrets; a zeroed one is a no-op. */
void lg_execcred_cred_free(lg_execcred_cred *c);

/* Decodes a plugin's stdout: an ExecCredential of api_version with a token or a
 * certificate/key pair (pure; generation and fresh are left 0). */
lg_rc lg_execcred_parse(const char *api_version, const char *text, size_t len,
                        lg_execcred_cred *out, char *err, size_t errlen);

/* The KUBERNETES_EXEC_INFO value (new string): an ExecCredential with spec.interactive false
 * and spec.cluster when given (borrowed); NULL when out of memory. */
char *lg_execcred_exec_info(const char *api_version, const json_t *cluster);

#endif
