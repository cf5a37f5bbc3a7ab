/* models.c -- lg-bench serve-model: one handler (decode -> decide -> encode, no logs, no
 * metrics) behind libmicrohttpd's threading models, so that only the model differs. Other
 * answers measure the stack without the review: --answer fixed is nginx's fixed answer
 * (the floor of HTTP + TLS); parse-jansson and parse-cjson parse the body (and free it)
 * before that answer: the ceiling of a webhook built on either parser (jansson as serve uses
 * it: its tree in an arena). */
#include "models.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <microhttpd.h>
#ifdef LG_BENCH_CJSON
#include <cjson/cJSON.h>
#endif

#include "jarena.h"
#include "policy.h"
#include "times.h"
#include "webhook.h"

typedef struct {
  char *body;
  size_t len, cap;
} request;

static enum MHD_Result append(request *r, const char *data, size_t n) {
  if (r->len + n + 1 > r->cap) {
    size_t cap = r->cap ? r->cap : 4096;
    char *grown;
    while (cap < r->len + n + 1)
      cap *= 2;
    if (cap > (64u << 20) || !(grown = realloc(r->body, cap)))
      return MHD_NO;
    r->body = grown;
    r->cap = cap;
  }
  memcpy(r->body + r->len, data, n);
  r->len += n;
  r->body[r->len] = '\0';
  return MHD_YES;
}

/* The answer nginx gives in bench/run.sh, byte for byte. */
static const char fixed_answer[] =
    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"response\":"
    "{\"uid\":\"0f1e2d3c-4b5a-4968-8776-000000000002\",\"allowed\":true}}";

typedef enum { ANSWER_REVIEW, ANSWER_FIXED, ANSWER_JANSSON, ANSWER_CJSON } answer_kind;

typedef struct {
  answer_kind answer;
  const lg_policy *policy;
} model_ctx;

/* Parses the body with the answer's parser and frees the tree; false when it is not JSON. */
static bool parse_only(answer_kind answer, const request *r) {
  bool ok = false;
  if (answer == ANSWER_JANSSON) {
    /* As serve parses: with its flags, the tree in an arena dropped whole (jarena.h). */
    lg_jarena *a = lg_jarena_new();
    json_t *doc;
    lg_jarena_enter(a);
    doc = json_loadb(r->body ? r->body : "", r->len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    lg_jarena_leave(a);
    ok = doc != NULL;
    if (a)
      lg_jarena_free(a);
    else
      json_decref(doc);
  }
#ifdef LG_BENCH_CJSON
  if (answer == ANSWER_CJSON) {
    cJSON *doc = cJSON_ParseWithLength(r->body ? r->body : "", r->len);
    ok = doc != NULL;
    cJSON_Delete(doc);
  }
#endif
  return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
  const model_ctx *m = cls;
  request *r = *con_cls;
  struct MHD_Response *resp;
  lg_webhook_result res;
  enum MHD_Result ret = MHD_NO;

  (void)url;
  (void)method;
  (void)version;
  if (!r) {
    *con_cls = r = calloc(1, sizeof *r);
    return r ? MHD_YES : MHD_NO;
  }
  if (*upload_size) {
    ret = append(r, upload, *upload_size);
    *upload_size = 0;
    return ret;
  }
  if (m->answer != ANSWER_REVIEW) {
    unsigned status =
        m->answer == ANSWER_FIXED || parse_only(m->answer, r) ? MHD_HTTP_OK : MHD_HTTP_BAD_REQUEST;
    resp = MHD_create_response_from_buffer(sizeof fixed_answer - 1, (void *)fixed_answer,
                                           MHD_RESPMEM_PERSISTENT);
    if (resp && MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json"))
      ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
  }
  lg_webhook_handle(r->body ? r->body : "", r->len,
                    &(lg_webhook_env){m->policy, LG_MODE_INHERIT, lg_time_now(), 0, NULL}, &res);
  resp = res.body
             ? MHD_create_response_from_buffer(strlen(res.body), res.body, MHD_RESPMEM_MUST_COPY)
             : NULL;
  if (resp && MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json"))
    ret = MHD_queue_response(c, (unsigned)res.http_status, resp);
  MHD_destroy_response(resp);
  lg_webhook_result_free(&res);
  return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  request *r = *con_cls;
  (void)cls;
  (void)c;
  (void)toe;
  if (r)
    free(r->body);
  free(r);
  *con_cls = NULL;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  long n;
  if (f && !fseek(f, 0, SEEK_END) && (n = ftell(f)) >= 0 && !fseek(f, 0, SEEK_SET) &&
      (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n)
    buf[n] = '\0';
  else {
    free(buf);
    buf = NULL;
    fprintf(stderr, "lg-bench serve-model: cannot read %s\n", path);
  }
  if (f)
    fclose(f);
  return buf;
}

int lg_bench_serve_model(int argc, char **argv) {
  const char *model = NULL, *cert_file = NULL, *key_file = NULL;
  unsigned threads = 2, port = 0,
           flags = MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
  char *cert = NULL, *key = NULL, err[256];
  lg_policy *policy = NULL;
  struct MHD_Daemon *d = NULL;
  struct MHD_OptionItem pool[2] = {{MHD_OPTION_END, 0, NULL}, {MHD_OPTION_END, 0, NULL}};
  struct sockaddr_in addr;
  sigset_t set;
  int sig, rc = 2, answer = ANSWER_REVIEW;
  model_ctx m;

  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--model"))
      model = argv[i + 1];
    else if (!strcmp(argv[i], "--threads"))
      threads = (unsigned)atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--port"))
      port = (unsigned)atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--cert"))
      cert_file = argv[i + 1];
    else if (!strcmp(argv[i], "--key"))
      key_file = argv[i + 1];
    else if (!strcmp(argv[i], "--turbo") && !strcmp(argv[i + 1], "on"))
      flags |= MHD_USE_TURBO;
    else if (!strcmp(argv[i], "--answer"))
      answer = !strcmp(argv[i + 1], "review")          ? ANSWER_REVIEW
               : !strcmp(argv[i + 1], "fixed")         ? ANSWER_FIXED
               : !strcmp(argv[i + 1], "parse-jansson") ? ANSWER_JANSSON
#ifdef LG_BENCH_CJSON
               : !strcmp(argv[i + 1], "parse-cjson") ? ANSWER_CJSON
#endif
                                                     : -1;
  }
  if (!model || !cert_file || !key_file || port < 1 || port > 65535 || threads < 1 || answer < 0) {
    fprintf(stderr, "usage: lg-bench serve-model --model epoll|select|per-connection "
                    "[--threads N] [--turbo on] [--answer review|fixed|parse-jansson|parse-cjson] "
                    "--port P --cert FILE --key FILE (parse-cjson: when built with cJSON)\n");
    return 2;
  }
  if (!strcmp(model, "epoll"))
    flags |= MHD_USE_EPOLL;
  else if (!strcmp(model, "per-connection"))
    flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
  else if (strcmp(model, "select") != 0)
    return fprintf(stderr, "lg-bench serve-model: unknown model %s\n", model), 2;
  if (!(cert = slurp(cert_file)) || !(key = slurp(key_file)))
    goto out;
  if (lg_policy_default(&policy, err, sizeof err)) {
    fprintf(stderr, "lg-bench serve-model: %s\n", err);
    goto out;
  }
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  /* A pool is for the polling models only; per-connection makes a thread per connection. */
  if (strcmp(model, "per-connection") && threads > 1)
    pool[0] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)threads, NULL};
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  m = (model_ctx){(answer_kind)answer, policy};
  d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, &m,
                       MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_HTTPS_MEM_CERT,
                       cert, MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_CONNECTION_LIMIT, 1024u,
                       MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_SOCK_ADDR,
                       (struct sockaddr *)&addr, MHD_OPTION_ARRAY, pool, MHD_OPTION_END);
  if (!d) {
    fprintf(stderr, "lg-bench serve-model: libmicrohttpd refused to start on port %u\n", port);
    goto out;
  }
  fprintf(stderr, "lg-bench serve-model: %s, %u thread(s), answer %d, 127.0.0.1:%u\n", model,
          strcmp(model, "per-connection") ? threads : 0, answer, port);
  sigwait(&set, &sig);
  MHD_stop_daemon(d);
  rc = 0;
out:
  lg_policy_free(policy);
  free(cert);
  free(key);
  return rc;
}
