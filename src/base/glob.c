/* glob.c -- fnmatch over a list of globs. */
#include "glob.h"

#include <fnmatch.h>

bool lg_glob_any(const char *const *globs, size_t n, const char *s) {
  for (size_t i = 0; i < n; i++)
    if (globs[i] && fnmatch(globs[i], s ? s : "", 0) == 0)
      return true;
  return false;
}
