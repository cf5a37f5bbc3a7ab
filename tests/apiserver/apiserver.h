/* apiserver.h -- lg-test-apiserver: its configuration and the contract between HTTP and handlers. */
#ifndef AS_APISERVER_H
#define AS_APISERVER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "store.h"
#include "tokens.h"

/* One validating webhook as a ValidatingWebhookConfiguration entry describes it. */
typedef struct {
  const char *url; /* NULL: this webhook is not called */
  const char *ca_file;
  const char *name;
  long timeout_s; /* 1..30 */
  bool fail_open; /* failurePolicy Ignore */
} as_webhook;

/* The label (objectSelector) of the objects sent to the fence webhook. */
#define AS_FENCE_LABEL "leaseguard.io/fenced"

/* Flags, parsed once at start-up; every string is borrowed from argv. */
typedef struct {
  const char *bind_address;
  int secure_port; /* 0 = any free port */
  const char *tls_cert_file, *tls_key_file;
  const char *token_auth_file;
  as_webhook webhook;                /* every lease write */
  as_webhook fence;                  /* writes of stored objects labelled AS_FENCE_LABEL=true */
  const char *webhook_configuration; /* NULL: the webhooks are always called, with their CA
                                      * files; else each only while this stored configuration
                                      * has a webhook of its name, with its caBundle */
  const char *port_file;             /* NULL: no port file */
  size_t watch_history;              /* events kept for watches that resume */
  long write_delay_ms;               /* stored objects (not leases or events): each write waits
                                  * this long between its read and its store (widens races) */
  bool no_policy_reports;            /* as a cluster without the PolicyReport CRD: 404 */
} as_config;

/* What every handler may use. */
typedef struct {
  const as_config *cfg;
  as_store *store;
  const as_tokens *tokens;
} as_ctx;

/* One API request, parsed from the URL by the HTTP module. */
typedef struct {
  const char *method;
  const char *ns;   /* namespace from the URL, NULL for the all-namespaces path */
  const char *name; /* object name from the URL, NULL for the collection */
  const char *body; /* NUL-terminated; "" when none */
  size_t len;
  const as_user *user;
  const char *(*query)(void *cls, const char *key); /* a query parameter or NULL */
  void *query_cls;
  const char *content_type; /* the request's Content-Type, or NULL */
} as_request;

#define AS_MAX_WARNINGS 32

typedef struct as_watch as_watch;

/* A handler's answer: a JSON body or a watch stream, plus Warning header texts. */
typedef struct {
  unsigned status;
  json_t *body;                    /* new */
  as_watch *watch;                 /* new; replaces body when set */
  char *warnings[AS_MAX_WARNINGS]; /* new; raw texts, deduplicated */
  size_t n_warnings;
} as_reply;

/* Convenience for handlers: sets status and body (stolen). */
static inline void as_reply_set(as_reply *r, unsigned status, json_t *body) {
  json_decref(r->body);
  r->status = status;
  r->body = body;
}

/* Adds a warning text (copied) unless it is empty or already there. */
void as_reply_warn(as_reply *r, const char *text);

/* Frees what the reply owns. */
void as_reply_free(as_reply *r);

/* Handlers: leases.c, events.c and objects.c (Secrets, ConfigMaps, PolicyReports,
 * ValidatingWebhookConfigurations). */
void as_leases_handle(const as_ctx *ctx, const as_request *rq, as_reply *out);
void as_events_handle(const as_ctx *ctx, const as_request *rq, as_reply *out);
void as_secrets_handle(const as_ctx *ctx, const as_request *rq, as_reply *out);
void as_configmaps_handle(const as_ctx *ctx, const as_request *rq, as_reply *out);
void as_policyreports_handle(const as_ctx *ctx, const as_request *rq, as_reply *out);
void as_vwcs_handle(const as_ctx *ctx, const as_request *rq, as_reply *out);

#endif
