/* jarena.h -- jansson's allocations for one document from an arena: a request's tree costs a
 * few pointer bumps and is dropped whole, instead of some 350 malloc and free calls per 2 KB
 * review whose freed chunks the next large allocation (GnuTLS's record buffer) must sort.
 *
 * Once lg_jarena_install() has run, jansson allocates from the arena entered on the calling
 * thread, if any, and from malloc otherwise; freeing arena memory is a no-op. An arena is used
 * by one thread (made, entered and freed there). Nothing may keep a reference into its trees
 * past lg_jarena_free, and a tree in it is changed only while the arena is entered (what jansson
 * allocates outside would not be freed with it). */
#ifndef LG_JARENA_H
#define LG_JARENA_H

#include <stdbool.h>
#include <stddef.h>

typedef struct lg_jarena lg_jarena;

/* Routes jansson's allocations through the arenas (json_set_alloc_funcs). Call once, early,
 * before other threads use jansson; later calls do nothing. */
void lg_jarena_install(void);

/* True once lg_jarena_install has run. */
bool lg_jarena_installed(void);

/* A new, empty arena of this thread, or NULL when not installed or on no memory (jansson then
 * uses malloc, as it would without arenas). */
lg_jarena *lg_jarena_new(void);

/* From now on this thread's jansson allocations come from a (NULL: no-op). Enters nest. */
void lg_jarena_enter(lg_jarena *a);

/* Back to what was entered before a (or malloc). */
void lg_jarena_leave(lg_jarena *a);

/* Releases everything allocated in a (NULL: no-op), on the thread that made it. */
void lg_jarena_free(lg_jarena *a);

/* Bytes a has handed out (rounded up), for tests and figures. */
size_t lg_jarena_used(const lg_jarena *a);

#endif
