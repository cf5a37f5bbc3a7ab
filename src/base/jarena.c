/* jarena.c -- bump arenas behind jansson's allocator, one thread's at a time. */
#include "jarena.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LG_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(LG_ASAN)
#define LG_ASAN 1
#endif

#ifdef LG_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define REDZONE        16 /* between allocations, so that ASan sees one overrun the next */
#else
#define POISON(p, n)   ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#define REDZONE        0
#endif

#define ALIGN 16
/* A 2 KB review takes about 16 KB of jansson's allocations: one first block holds it. */
#define FIRST_BLOCK (32 * 1024)
#define MAX_BLOCK   (1024 * 1024)

typedef struct block {
  struct block *next;
  size_t size; /* bytes of data */
  size_t used;
  _Alignas(ALIGN) unsigned char data[];
} block;

struct lg_jarena {
  block *head;          /* the block allocations come from; the first block holds the arena */
  lg_jarena *outer;     /* what was entered before this one */
  lg_jarena *live_next; /* this thread's arenas not yet freed */
  size_t handed;
};

static atomic_bool installed;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t spare_key; /* a thread's spare first block, freed when the thread ends */
static _Thread_local lg_jarena *current;
static _Thread_local lg_jarena *live;

static size_t round_up(size_t n) { return (n + ALIGN - 1) & ~(size_t)(ALIGN - 1); }

static bool owns(const lg_jarena *a, const void *p) {
  for (const block *b = a->head; b; b = b->next)
    if ((const unsigned char *)p >= b->data && (const unsigned char *)p < b->data + b->size)
      return true;
  return false;
}

static void *jmalloc(size_t n) {
  lg_jarena *a = current;
  block *b;
  size_t need;
  if (!a)
    return malloc(n);
  if (n > SIZE_MAX / 2)
    return NULL;
  need = round_up(n + REDZONE);
  b = a->head;
  if (b->size - b->used < need) {
    size_t size = b->size * 2 > MAX_BLOCK ? MAX_BLOCK : b->size * 2;
    if (size < need)
      size = need;
    if (!(b = malloc(sizeof *b + size)))
      return NULL;
    POISON(b->data, size);
    b->size = size;
    b->used = 0;
    b->next = a->head;
    a->head = b;
  }
  b->used += need;
  a->handed += need;
  UNPOISON(b->data + b->used - need, n);
  return b->data + b->used - need;
}

/* Arena memory is released with its arena; what malloc gave goes back to free. */
static void jfree(void *p) {
  if (!p)
    return;
  for (const lg_jarena *a = live; a; a = a->live_next)
    if (owns(a, p))
      return;
  free(p);
}

static void free_spare(void *b) { free(b); }

static void install_once(void) {
  if (pthread_key_create(&spare_key, free_spare) != 0)
    return; /* no arenas: jansson keeps malloc */
  json_set_alloc_funcs(jmalloc, jfree);
  atomic_store(&installed, true);
}

void lg_jarena_install(void) { pthread_once(&once, install_once); }

bool lg_jarena_installed(void) { return atomic_load(&installed); }

lg_jarena *lg_jarena_new(void) {
  block *b;
  lg_jarena *a;
  if (!atomic_load(&installed))
    return NULL;
  if ((b = pthread_getspecific(spare_key)))
    pthread_setspecific(spare_key, NULL);
  else if (!(b = malloc(sizeof *b + FIRST_BLOCK)))
    return NULL;
  POISON(b->data, FIRST_BLOCK);
  b->size = FIRST_BLOCK;
  b->next = NULL;
  b->used = round_up(sizeof *a);
  UNPOISON(b->data, sizeof *a);
  a = (lg_jarena *)(void *)b->data;
  a->head = b;
  a->outer = NULL;
  a->handed = 0;
  a->live_next = live;
  live = a;
  return a;
}

void lg_jarena_enter(lg_jarena *a) {
  if (!a)
    return;
  a->outer = current;
  current = a;
}

void lg_jarena_leave(lg_jarena *a) {
  if (a && current == a)
    current = a->outer;
}

void lg_jarena_free(lg_jarena *a) {
  block *b, *first = NULL;
  if (!a)
    return;
  if (current == a)
    current = a->outer;
  for (lg_jarena **p = &live; *p; p = &(*p)->live_next)
    if (*p == a) {
      *p = a->live_next;
      break;
    }
  for (b = a->head; b; b = b->next)
    if (!b->next)
      first = b; /* the oldest block holds a itself: released last */
  for (b = a->head; b != first;) {
    block *next = b->next;
    free(b);
    b = next;
  }
  /* The first block becomes this thread's spare, unless it has one. */
  POISON(first->data, first->size);
  if (pthread_getspecific(spare_key) || pthread_setspecific(spare_key, first) != 0)
    free(first);
}

size_t lg_jarena_used(const lg_jarena *a) { return a ? a->handed : 0; }
