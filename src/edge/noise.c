/* noise.c -- connection-level failures: a metric per failure, a log line per interval. */
#include "noise.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const char *const kind_names[LG_NOISE_KINDS] = {"tls-handshake", "max-connections",
                                                       "client-certificate", "http"};
/* The log line's field of each kind. */
static const char *const kind_fields[LG_NOISE_KINDS] = {"tlsHandshakes", "maxConnections",
                                                        "clientCertificates", "http"};

struct lg_noise {
  pthread_mutex_t lock; /* guards now */
  lg_noise_summary now;
  lg_metrics *metrics;
};

lg_noise *lg_noise_new(lg_metrics *m) {
  lg_noise *n = calloc(1, sizeof *n);
  if (n && pthread_mutex_init(&n->lock, NULL) != 0) {
    free(n);
    return NULL;
  }
  if (n)
    n->metrics = m;
  return n;
}

void lg_noise_free(lg_noise *n) {
  if (!n)
    return;
  pthread_mutex_destroy(&n->lock);
  free(n);
}

const char *lg_noise_kind_name(lg_noise_kind k) {
  return (unsigned)k < LG_NOISE_KINDS ? kind_names[k] : "unknown";
}

void lg_noise_add(lg_noise *n, lg_noise_kind k, const char *peer, const char *reason) {
  if (!n || (unsigned)k >= LG_NOISE_KINDS)
    return;
  lg_metrics_connection_errors(n->metrics, kind_names[k], 1);
  pthread_mutex_lock(&n->lock);
  n->now.count[k]++;
  n->now.total++;
  n->now.last_kind = k;
  snprintf(n->now.last_peer, sizeof n->now.last_peer, "%s", peer ? peer : "");
  snprintf(n->now.last_reason, sizeof n->now.last_reason, "%s", reason ? reason : "");
  pthread_mutex_unlock(&n->lock);
}

bool lg_noise_take(lg_noise *n, lg_noise_summary *out) {
  memset(out, 0, sizeof *out);
  if (!n)
    return false;
  pthread_mutex_lock(&n->lock);
  *out = n->now;
  memset(&n->now, 0, sizeof n->now);
  pthread_mutex_unlock(&n->lock);
  return out->total > 0;
}

void lg_noise_log(const lg_noise_summary *s, unsigned interval_s) {
  char num[LG_NOISE_KINDS][24], total[24], secs[24];
  for (int k = 0; k < LG_NOISE_KINDS; k++)
    snprintf(num[k], sizeof num[k], "%llu", (unsigned long long)s->count[k]);
  snprintf(total, sizeof total, "%llu", (unsigned long long)s->total);
  snprintf(secs, sizeof secs, "%us", interval_s);
  lg_log(LG_LOG_WARNING, "connections failed before a request was answered", "interval", secs,
         "total", total, kind_fields[0], num[0], kind_fields[1], num[1], kind_fields[2], num[2],
         kind_fields[3], num[3], "lastKind", lg_noise_kind_name(s->last_kind), "lastPeer",
         s->last_peer, "lastReason", s->last_reason, NULL);
}

void lg_noise_peer(const struct sockaddr *sa, char *out, size_t len) {
  char host[INET6_ADDRSTRLEN] = "";
  if (len)
    out[0] = '\0';
  if (!sa)
    return;
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
    if (inet_ntop(AF_INET, &a->sin_addr, host, sizeof host))
      snprintf(out, len, "%s:%u", host, ntohs(a->sin_port));
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
    if (inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host))
      snprintf(out, len, "[%s]:%u", host, ntohs(a->sin6_port));
  }
}
