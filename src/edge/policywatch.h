/* policywatch.h -- serve's policy in force: loaded at start, reloaded when its file changes
 * (or on demand), and held by each request that started under it. Thread-safe but for
 * lg_policywatch_reload_if_changed. */
#ifndef LG_POLICYWATCH_H
#define LG_POLICYWATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "hotfile.h"
#include "metrics.h"
#include "policy.h"
#include "rc.h"

typedef struct lg_policywatch lg_policywatch;
/* One loaded policy, held by the watch while current and by each request using it. */
typedef lg_hotfile_ref lg_policy_ref;

/* Loads path (NULL: the built-in default policy); m (borrowed, may be NULL) counts reloads.
 * On failure *out is NULL and err names the file and the problem. */
lg_rc lg_policywatch_new(const char *path, lg_metrics *m, lg_policywatch **out, char *err,
                         size_t errlen);

/* Frees w, dropping its hold on the current policy (requests keep theirs); NULL: no-op. */
void lg_policywatch_free(lg_policywatch *w);

/* The current policy, held until lg_policy_ref_release; NULL when none is loaded. */
lg_policy_ref *lg_policywatch_acquire(lg_policywatch *w);

/* The policy of r (borrowed while r is held). */
const lg_policy *lg_policy_ref_get(const lg_policy_ref *r);

/* Drops one hold; the last frees the policy. NULL is a no-op. */
void lg_policy_ref_release(lg_policy_ref *r);

/* Whether a policy is loaded. */
bool lg_policywatch_loaded(lg_policywatch *w);

/* Reloads the file when it changed (a ConfigMap's ..data link swap counts), or always when
 * force (SIGHUP). An invalid file is logged, counted, and the current policy stays in force.
 * Main thread only. */
void lg_policywatch_reload_if_changed(lg_policywatch *w, bool force);

#endif
