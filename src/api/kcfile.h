/* kcfile.h -- kubeconfig files (YAML): one file, or a $KUBECONFIG list merged as kubectl
 * merges it, and the chosen context turned into an lg_kube_config. */
#ifndef LG_KCFILE_H
#define LG_KCFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "kubeconfig.h"
#include "rc.h"

/* Reads paths[0..n) in order: a missing file is skipped (an error when required: an
 * explicit --kubeconfig), every other unreadable or malformed one is an error. The first
 * file to define a context, cluster or user name wins; current-context comes from the first
 * file that sets it unless f->context is given. The context's cluster and user, with f's
 * overrides applied (lg_kube_config_override), become *out; an exec plugin is set up, not
 * run. All or nothing: on failure *out is zeroed and err names the file and entry. */
lg_rc lg_kcfile_load(const char *const *paths, size_t n, bool required, const lg_kube_flags *f,
                     lg_kube_config *out, char *err, size_t errlen);

#endif
