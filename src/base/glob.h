/* glob.h -- the policy's globs (fnmatch, no flags): one matcher for policy and rules. */
#ifndef LG_GLOB_H
#define LG_GLOB_H

#include <stdbool.h>
#include <stddef.h>

/* True when s (NULL counts as "") matches any of the n globs. */
bool lg_glob_any(const char *const *globs, size_t n, const char *s);

#endif
