/* listwatch.h -- GET on a collection: a LIST, or with ?watch=true a stream of watch events. */
#ifndef AS_LISTWATCH_H
#define AS_LISTWATCH_H

#include <stdint.h>
#include <sys/types.h>

#include "apiserver.h"
#include "status.h"

/* Answers GET on the collection of r (kind k) in rq->ns (NULL = all namespaces):
 * fieldSelector, labelSelector, watch, resourceVersion and timeoutSeconds. */
void as_list_watch(const as_ctx *ctx, const as_request *rq, const as_resource *r, as_kind k,
                   as_reply *out);

/* The stream of a watch reply, for libmicrohttpd's content-reader callback: blocks until
 * an event, the timeout, the client's disconnection (seen on fd) or the store's stop. */
ssize_t as_watch_read(void *watch, uint64_t pos, char *buf, size_t max);

/* Tells the watch which socket to check for a departed client. */
void as_watch_set_fd(as_watch *w, int fd);

/* How many watches exist (started and not yet freed). */
int as_watch_live(void);

/* Frees a watch (void * for libmicrohttpd's free callback); NULL is a no-op. */
void as_watch_free(void *watch);

#endif
