/* check.h -- the invariant check the fuzz harnesses share: a failure prints why and aborts, so
 * libFuzzer keeps the input as a crash artifact. */
#ifndef LG_FUZZ_CHECK_H
#define LG_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond, ...)                                                             \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "invariant failed at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                                  \
      fputc('\n', stderr);                                                           \
      abort();                                                                       \
    }                                                                                \
  } while (0)

#endif
