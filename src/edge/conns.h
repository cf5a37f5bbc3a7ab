/* conns.h -- serve's open connections: their count (for --max-connections) and the
 * deadline each has to deliver a whole request (against slowloris clients). Thread-safe. */
#ifndef LG_CONNS_H
#define LG_CONNS_H

#include <stddef.h>

typedef struct lg_conns lg_conns;
typedef struct lg_conn lg_conn;

/* A new, empty set; NULL when out of memory. */
lg_conns *lg_conns_new(void);

/* Frees the set and any connection still in it; NULL is a no-op. */
void lg_conns_free(lg_conns *set);

/* Adds the connection key (any unique pointer) on socket fd, opened at now (monotonic
 * seconds). It is counted even when out of memory; it then has no deadline. */
void lg_conns_add(lg_conns *set, const void *key, int fd, double now);

/* Removes key (call before its socket is closed, so that lg_conns_expire never touches a
 * reused descriptor); unknown keys only lower the count. */
void lg_conns_remove(lg_conns *set, const void *key);

/* The connection of key, or NULL; valid until lg_conns_remove(key). */
lg_conn *lg_conns_find(lg_conns *set, const void *key);

/* Restarts k's deadline at now (a reply was queued, a request completed); NULL is a no-op. */
void lg_conns_touch(lg_conns *set, lg_conn *k, double now);

/* Open connections, including those added without memory. */
unsigned lg_conns_count(lg_conns *set);

/* Calls cut(fd, ud) once for each connection whose last touch is more than limit seconds
 * before now, under the set's lock (so the descriptor is still the connection's); returns
 * how many were cut. A cut connection is not cut again. */
size_t lg_conns_expire(lg_conns *set, double now, double limit, void (*cut)(int fd, void *ud),
                       void *ud);

#endif
