/* audit.h -- judge a history of Lease versions pairwise with the webhook's rules: recorded
 * (`leaseguard audit FILE`) or watched (`leaseguard audit --watch`).
 *
 * Each version of a lease is compared with the last version seen of the same
 * namespace/name, as the webhook would have judged that write: the first version as a
 * CREATE, a later one as an UPDATE, a deletion as a DELETE. The requester of a write is
 * not in the history, so holder-identity is never judged, and policy exemptions by
 * username never apply. A history can miss versions (a watch reconnecting, a re-list after
 * 410 Gone, a recording started late): two changes then look like one (e.g.
 * leaseTransitions + 2, a holder change with a jump in renewTime). */
#ifndef LG_AUDIT_H
#define LG_AUDIT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "lease.h"
#include "policy.h"
#include "rules.h"
#include "rc.h"
#include "times.h"
#include "witness.h"

typedef struct lg_audit lg_audit;

/* A new tracker judging with policy (borrowed: it must outlive the tracker) and the --mode
 * override (LG_MODE_INHERIT for the policy's). NULL on no memory. */
lg_audit *lg_audit_new(const lg_policy *policy, lg_mode mode_override);

/* Frees a and every version it keeps; NULL is a no-op. */
void lg_audit_free(lg_audit *a);

/* The clock a change is judged at. Recorded (observed NULL): the new version's renewTime,
 * else its acquireTime, else the old version's renewTime, else 0 (then no rule needs a
 * clock); liveness is then judged from the writers' timestamps alone, within the policy's
 * skew. Watched (observed = when the event arrived): the receipt time for a deletion
 * (new_l NULL); otherwise the earlier of the two, so a renewTime in the future is judged by
 * the watcher's clock while an event replayed late is judged at its own time; liveness is
 * judged from when each version was seen (lg_witness), as serve does. */
lg_time lg_audit_clock(const lg_lease *old_l, const lg_lease *new_l, const lg_time *observed);

/* One change: a version of a lease compared with the last version seen. The strings and
 * leases borrow from objects the change holds references to: valid until
 * lg_audit_change_clear. */
typedef struct lg_audit_change {
  lg_operation op;                /* CREATE (first version seen), UPDATE or DELETE */
  const char *namespace, *name;   /* of the lease */
  const char *resource_version;   /* of this version ("" when absent) */
  char old_resource_version[128]; /* of the last version seen before ("" when none) */
  bool has_old, has_new;          /* old_lease: absent on CREATE; new_lease: absent on DELETE */
  lg_lease old_lease, new_lease;
  lg_time when;                    /* the clock it was judged at (lg_audit_clock) */
  bool duplicate;                  /* the same resourceVersion as the last version: ignored */
  const char *skipped;             /* non-NULL when no rule ran: why (static string) */
  bool identity_unjudged;          /* the policy enables holder-identity here; not judged */
  bool observed;                   /* judged by when versions were seen (watch), not only by
                                   * the writers' timestamps (a recording) */
  lg_verdict verdict;              /* the findings (empty when skipped) */
  json_t *old_object, *new_object; /* owned references (NULL when absent) */
} lg_audit_change;

/* Releases what c holds and zeroes it; a zeroed change is a no-op. */
void lg_audit_change_clear(lg_audit_change *c);

/* Records one version of a lease (obj borrowed; the tracker keeps a reference) and judges
 * it against the last version of the same namespace/name. deleted: obj is the last state
 * of a deleted lease (a DELETED watch event), which is then forgotten. observed: see
 * lg_audit_clock. Fills *out (clear it with lg_audit_change_clear) and returns LG_OK, or
 * LG_ELEASE when obj is not a usable Lease (out zeroed, nothing recorded, reason in err). */
lg_rc lg_audit_observe(lg_audit *a, json_t *obj, bool deleted, const lg_time *observed,
                       lg_audit_change *out, char *err, size_t errlen);

/* Forgets every tracked lease whose namespace/name is not among items (a LeaseList's
 * items, borrowed): after a re-list, those were deleted while the watch was away.
 * on_forget (may be NULL) is called with each before it goes. Returns how many went. */
size_t lg_audit_forget_absent(lg_audit *a, const json_t *items,
                              void (*on_forget)(void *ud, const char *ns, const char *name),
                              void *ud);

typedef enum {
  LG_AUDIT_EV_ADDED,
  LG_AUDIT_EV_MODIFIED,
  LG_AUDIT_EV_DELETED,
  LG_AUDIT_EV_BOOKMARK,
  LG_AUDIT_EV_ERROR
} lg_audit_event_type;

/* Classifies a watch event {"type", "object"}: *object is borrowed from ev; for ERROR,
 * *code is the Status's code (410 when the resourceVersion is too old; 0 when absent).
 * LG_EJSON (reason in err) when ev is not a watch event. */
lg_rc lg_audit_event(const json_t *ev, lg_audit_event_type *type, json_t **object, long *code,
                     char *err, size_t errlen);

/* Feeds one top-level value of a recorded history (borrowed): a Lease (kubectl get -w -o
 * json), a List/LeaseList of Leases, or a watch event (kubectl --output-watch-events).
 * on_change is called for each version with the judged change (borrowed for the call).
 * BOOKMARK events are ignored; ERROR events are counted (stats.error_events: versions may
 * be missing after one). LG_ELEASE or LG_EJSON (reason in err) when the value is none of
 * these; changes already reported stay recorded. */
lg_rc lg_audit_feed(lg_audit *a, json_t *value,
                    void (*on_change)(void *ud, const lg_audit_change *c), void *ud, char *err,
                    size_t errlen);

typedef struct {
  size_t versions;        /* versions seen (deletions included, duplicates not) */
  size_t leases;          /* distinct namespace/name seen */
  size_t findings;        /* findings reported */
  size_t error_events;    /* watch ERROR events in a recorded history */
  bool identity_unjudged; /* holder-identity was enabled for some lease but not judged */
} lg_audit_stats;

/* Copies the counters so far. */
void lg_audit_get_stats(const lg_audit *a, lg_audit_stats *out);

/* The next JSON object or array in buf[0..len), skipping whitespace before it. LG_OK with
 * *out a new value and *used the bytes it took (whitespace included); LG_OK with *out NULL
 * when buf holds only whitespace or an unfinished value (more input needed; *used is 0);
 * LG_EJSON (reason with the line, counted from first_line, in err) when the input is
 * malformed, or unfinished at eof. */
lg_rc lg_audit_next_value(const char *buf, size_t len, bool eof, size_t first_line, json_t **out,
                          size_t *used, char *err, size_t errlen);

#endif
