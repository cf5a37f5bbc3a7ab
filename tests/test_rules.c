/* test_rules.c -- table-driven tests of the election rules (src/rules.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

/* All times in the table are seconds after T0. */
#define T0 "2026-11-25T10:00:00Z"
static lg_time t0;

/* Builds a Lease from "holder=a dur=15 acq=0 ren=2.5 tr=0 strategy=S pref=P" ("holder="
 * is the empty string; a key left out is absent). Returns a new object. */
static json_t *mk(const char *desc) {
  json_t *spec = json_object();
  char buf[256], *save = NULL, *tok;
  snprintf(buf, sizeof buf, "%s", desc);
  for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
    char *eq = strchr(tok, '='), ts[LG_TIME_BUFLEN];
    assert_non_null(eq);
    *eq = '\0';
    const char *v = eq + 1;
    if (strcmp(tok, "holder") == 0)
      json_object_set_new(spec, "holderIdentity", json_string(v));
    else if (strcmp(tok, "dur") == 0)
      json_object_set_new(spec, "leaseDurationSeconds", json_integer(atoll(v)));
    else if (strcmp(tok, "tr") == 0)
      json_object_set_new(spec, "leaseTransitions", json_integer(atoll(v)));
    else if (strcmp(tok, "acq") == 0 || strcmp(tok, "ren") == 0)
      json_object_set_new(spec, tok[0] == 'a' ? "acquireTime" : "renewTime",
                          json_string(lg_time_format(t0 + (lg_time)(atof(v) * 1e6), ts)));
    else if (strcmp(tok, "strategy") == 0)
      json_object_set_new(spec, "strategy", json_string(v));
    else if (strcmp(tok, "pref") == 0)
      json_object_set_new(spec, "preferredHolder", json_string(v));
    else
      fail_msg("bad lease description key %s", tok);
  }
  return json_pack("{s:{s:s, s:s}, s:o}", "metadata", "name", "lock", "namespace", "ns", "spec",
                   spec);
}

enum { IDENTITY = 1, AUDIT_ALL = 2, WARN_ALL = 4, EXEMPT = 8, ALLOWED_USERS = 16 };

typedef struct {
  const char *name;
  lg_operation op;
  const char *old_l, *new_l; /* NULL: no such version */
  double now;
  const char *user, *pod;
  int flags;
  bool allowed;
  const char *rules; /* the rule ids found, space-separated, in order */
} rule_case;

static const rule_case cases[] = {
    /* client-go's life cycle: create -> renew -> release -> acquire -> takeover after expiry */
    {"client-go create", LG_OP_CREATE, NULL, "holder=a dur=15 acq=0 ren=0 tr=0", 0, "u", NULL, 0,
     true, ""},
    {"client-go renew", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=0 tr=0",
     "holder=a dur=15 acq=0 ren=2 tr=0", 2, "u", NULL, 0, true, ""},
    {"client-go release", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=10 tr=0",
     "holder= dur=1 acq=12 ren=12 tr=0", 12, "u", NULL, 0, true, ""},
    {"acquire at once after release", LG_OP_UPDATE, "holder= dur=1 acq=12 ren=12 tr=0",
     "holder=b dur=15 acq=12.5 ren=12.5 tr=1", 12.5, "u", NULL, 0, true, ""},
    {"previous holder reacquires after its release", LG_OP_UPDATE,
     "holder= dur=1 acq=12 ren=12 tr=3", "holder=a dur=15 acq=13 ren=13 tr=4", 13, "u", NULL, 0,
     true, ""},
    {"takeover after expiry", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=10 tr=0",
     "holder=b dur=15 acq=26 ren=26 tr=1", 26, "u", NULL, 0, true, ""},
    {"same identity renews after a restart", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=0 tr=2",
     "holder=a dur=15 acq=0 ren=100 tr=2", 100, "u", NULL, 0, true, ""},
    {"create of an unheld lease", LG_OP_CREATE, NULL, "holder= dur=1", 0, "u", NULL, 0, true, ""},
    /* holder-renew with nothing seen: renewTime 10 + 15 s less min(skew, 15/4) = 3.75 s
     * for the holder's unknown clock: live while now < 21.25 */
    {"steal of a live lease", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=10 tr=0",
     "holder=b dur=15 acq=12 ren=12 tr=1", 12, "u", NULL, 0, false, "holder-renew"},
    {"takeover just inside expiry - tolerance", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=10 tr=0",
     "holder=b dur=15 acq=21.249 ren=21.249 tr=1", 21.249, "u", NULL, 0, false, "holder-renew"},
    {"takeover at expiry - tolerance", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=10 tr=0",
     "holder=b dur=15 acq=21.25 ren=21.25 tr=1", 21.25, "u", NULL, 0, true, ""},
    {"2 s lease stolen 0.5 s after its renewal", LG_OP_UPDATE, "holder=a dur=2 acq=0 ren=10 tr=0",
     "holder=b dur=2 acq=10.5 ren=10.5 tr=1", 10.5, "u", NULL, 0, false,
     "holder-renew duration-recommended"},
    {"5 s lease stolen 3 s after its renewal", LG_OP_UPDATE, "holder=a dur=5 acq=0 ren=10 tr=0",
     "holder=b dur=5 acq=13 ren=13 tr=1", 13, "u", NULL, 0, false, "holder-renew"},
    {"renewTime far in the future is no evidence of a term", LG_OP_UPDATE,
     "holder=a dur=15 acq=0 ren=80 tr=0", "holder=b dur=15 acq=40 ren=40 tr=1", 40, "u", NULL, 0,
     true, ""},
    {"renewTime within skew ahead still counts", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=60 tr=0",
     "holder=b dur=15 acq=40 ren=40 tr=1", 40, "u", NULL, 0, false, "holder-renew"},
    {"held lease without duration is taken at once", LG_OP_UPDATE, "holder=a acq=0 ren=10 tr=0",
     "holder=b dur=15 acq=11 ren=11 tr=1", 11, "u", NULL, 0, true, ""},
    {"takeover at expiry + skew", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=10 tr=0",
     "holder=b dur=15 acq=30 ren=30 tr=1", 30, "u", NULL, 0, true, ""},
    {"takeover when the old record has no renewTime", LG_OP_UPDATE, "holder=a dur=15 tr=0",
     "holder=b dur=15 acq=1 ren=1 tr=1", 1, "u", NULL, 0, true, ""},
    {"release by another client is not a takeover", LG_OP_UPDATE,
     "holder=a dur=15 acq=0 ren=10 tr=0", "holder= dur=1 acq=11 ren=11 tr=0", 11, "u", NULL, 0,
     true, ""},
    /* transitions */
    {"takeover skips a transition", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=10 tr=3",
     "holder=b dur=15 acq=26 ren=26 tr=5", 26, "u", NULL, 0, false, "transitions"},
    {"takeover without counting", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=10 tr=3",
     "holder=b dur=15 acq=26 ren=26 tr=3", 26, "u", NULL, 0, false, "transitions"},
    {"acquire from empty without counting", LG_OP_UPDATE, "holder= dur=1 acq=0 ren=0 tr=3",
     "holder=b dur=15 acq=1 ren=1 tr=3", 1, "u", NULL, 0, false, "transitions"},
    {"renew bumps transitions", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=0 tr=3",
     "holder=a dur=15 acq=0 ren=2 tr=4", 2, "u", NULL, 0, false, "transitions"},
    {"renew lowers transitions", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=0 tr=3",
     "holder=a dur=15 acq=0 ren=2 tr=2", 2, "u", NULL, 0, false, "transitions"},
    {"renew drops leaseTransitions (counts as 0)", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=0 tr=3",
     "holder=a dur=15 acq=0 ren=2", 2, "u", NULL, 0, false, "transitions"},
    {"release bumps transitions", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=10 tr=3",
     "holder= dur=1 acq=12 ren=12 tr=4", 12, "u", NULL, 0, false, "transitions"},
    {"create with negative transitions", LG_OP_CREATE, NULL, "holder=a dur=15 acq=0 ren=0 tr=-1", 0,
     "u", NULL, 0, false, "transitions"},
    {"missing transitions on both sides count as 0", LG_OP_UPDATE, "holder= dur=1",
     "holder=b dur=15 acq=1 ren=1 tr=1", 1, "u", NULL, 0, true, ""},
    /* duration and the recommended band (2..3600 allowed, 5..120 recommended) */
    {"renew with a 10-hour duration", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=0 tr=0",
     "holder=a dur=36000 acq=0 ren=2 tr=0", 2, "u", NULL, 0, false, "duration"},
    {"create with a 10-hour duration", LG_OP_CREATE, NULL, "holder=a dur=36000 acq=0 ren=0 tr=0", 0,
     "u", NULL, 0, false, "duration"},
    {"held with a 1 s duration", LG_OP_CREATE, NULL, "holder=a dur=1 acq=0 ren=0 tr=0", 0, "u",
     NULL, 0, false, "duration"},
    {"duration at the allowed maximum", LG_OP_CREATE, NULL, "holder=a dur=3600 acq=0 ren=0 tr=0", 0,
     "u", NULL, 0, true, "duration-recommended"},
    {"duration just above the allowed maximum", LG_OP_CREATE, NULL,
     "holder=a dur=3601 acq=0 ren=0 tr=0", 0, "u", NULL, 0, false, "duration"},
    {"node lease 40 s", LG_OP_UPDATE, "holder=node-1 dur=40 ren=0", "holder=node-1 dur=40 ren=10",
     10, "system:node:node-1", NULL, 0, true, ""},
    {"coordinated 5 s", LG_OP_CREATE, NULL, "holder=a dur=5 ren=0 strategy=OldestEmulationVersion",
     0, "system:apiserver", NULL, 0, true, ""},
    {"unchanged out-of-band duration is not re-advised", LG_OP_UPDATE,
     "holder=apiserver-x dur=3600 ren=0", "holder=apiserver-x dur=3600 ren=10", 10,
     "system:apiserver", NULL, 0, true, ""},
    {"new holder with an out-of-band duration is advised", LG_OP_UPDATE,
     "holder= dur=1 acq=0 ren=0 tr=0", "holder=b dur=600 acq=1 ren=1 tr=1", 1, "u", NULL, 0, true,
     "duration-recommended"},
    /* renew-monotonic */
    {"renewTime back by a clock step within skew", LG_OP_UPDATE,
     "holder=a dur=15 acq=0 ren=10 tr=0", "holder=a dur=15 acq=0 ren=-10 tr=0", 12, "u", NULL, 0,
     true, ""},
    {"renewTime back by more than skew", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=40 tr=0",
     "holder=a dur=15 acq=0 ren=9 tr=0", 12, "u", NULL, 0, false, "renew-monotonic"},
    {"renewTime back 300 s (a backdated renewal)", LG_OP_UPDATE,
     "holder=a dur=15 acq=0 ren=310 tr=0", "holder=a dur=15 acq=0 ren=12 tr=0", 312, "u", NULL, 0,
     false, "renew-monotonic"},
    /* a writer whose clock is fast: advice (warn), never a denial */
    {"a clock 5 min fast, a lease created", LG_OP_CREATE, NULL,
     "holder=a dur=15 acq=300 ren=300 tr=0", 0, "u", NULL, 0, true, "timestamps"},
    {"a clock 5 min fast renews", LG_OP_UPDATE, "holder=a dur=15 acq=300 ren=300 tr=0",
     "holder=a dur=15 acq=300 ren=302 tr=0", 2, "u", NULL, 0, true, "timestamps"},
    {"a clock 5 min fast takes over after expiry", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=0 tr=0",
     "holder=b dur=15 acq=320 ren=320 tr=1", 20, "u", NULL, 0, true, "timestamps"},
    {"a clock 10 h fast renews", LG_OP_UPDATE, "holder=a dur=15 acq=36000 ren=36000 tr=0",
     "holder=a dur=15 acq=36000 ren=36002 tr=0", 2, "u", NULL, 0, true, "timestamps"},
    {"renew drops leaseDurationSeconds", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=10 tr=0",
     "holder=a acq=0 ren=12 tr=0", 12, "u", NULL, 0, false, "duration"},
    {"create without leaseDurationSeconds", LG_OP_CREATE, NULL, "holder=a acq=0 ren=0 tr=0", 0, "u",
     NULL, 0, false, "duration"},
    {"release may drop leaseDurationSeconds", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=10 tr=0",
     "holder= acq=12 ren=12 tr=0", 12, "u", NULL, 0, true, ""},
    {"renewTime unchanged by a spec change", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=10 tr=0",
     "holder=a dur=20 acq=0 ren=10 tr=0", 12, "u", NULL, 0, true, ""},
    {"acquireTime changes on renew", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=10 tr=0",
     "holder=a dur=15 acq=11 ren=11 tr=0", 11, "u", NULL, 0, false, "renew-monotonic"},
    {"acquireTime removed on renew", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=10 tr=0",
     "holder=a dur=15 ren=11 tr=0", 11, "u", NULL, 0, false, "renew-monotonic"},
    {"acquireTime first set on renew", LG_OP_UPDATE, "holder=a dur=15 ren=10 tr=0",
     "holder=a dur=15 acq=11 ren=11 tr=0", 11, "u", NULL, 0, true, ""},
    /* timestamps: skew 30 s */
    {"writer clock 6 s ahead renews", LG_OP_UPDATE, "holder=a dur=15 acq=6 ren=6 tr=0",
     "holder=a dur=15 acq=6 ren=16 tr=0", 10, "u", NULL, 0, true, ""},
    {"writer clock 6 s ahead takes over after expiry", LG_OP_UPDATE,
     "holder=a dur=15 acq=0 ren=0 tr=0", "holder=b dur=15 acq=26 ren=26 tr=1", 20, "u", NULL, 0,
     true, ""},
    {"renewTime 31 s in the future: advice, never a denial", LG_OP_UPDATE,
     "holder=a dur=15 acq=0 ren=0 tr=0", "holder=a dur=15 acq=0 ren=41 tr=0", 10, "u", NULL, 0,
     true, "timestamps"},
    {"renewTime exactly skew in the future", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=0 tr=0",
     "holder=a dur=15 acq=0 ren=40 tr=0", 10, "u", NULL, 0, true, ""},
    {"create with a future acquireTime: advice", LG_OP_CREATE, NULL,
     "holder=a dur=15 acq=60 ren=60 tr=0", 0, "u", NULL, 0, true, "timestamps"},
    {"future stamps do not hide a missing renewTime", LG_OP_CREATE, NULL,
     "holder=a dur=15 acq=60 tr=0", 0, "u", NULL, 0, false, "timestamps"},
    {"held lease without renewTime", LG_OP_CREATE, NULL, "holder=a dur=15 acq=0 tr=0", 0, "u", NULL,
     0, false, "timestamps"},
    {"renewTime before acquireTime by a clock step", LG_OP_CREATE, NULL,
     "holder=a dur=15 acq=5 ren=4 tr=0", 5, "u", NULL, 0, true, ""},
    {"renewTime before acquireTime by more than skew", LG_OP_CREATE, NULL,
     "holder=a dur=15 acq=35 ren=4 tr=0", 36, "u", NULL, 0, false, "timestamps"},
    {"released lease needs no renewTime", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=10 tr=0",
     "holder= dur=1 tr=0", 11, "u", NULL, 0, true, ""},
    /* several violations are all reported */
    {"steal with a skipped transition and a huge duration", LG_OP_UPDATE,
     "holder=a dur=15 acq=0 ren=10 tr=0", "holder=b dur=36000 acq=12 ren=50 tr=7", 12, "u", NULL, 0,
     false, "holder-renew transitions duration timestamps"},
    /* metadata-only updates and other operations */
    {"metadata-only update", LG_OP_UPDATE, "holder=a dur=36000 acq=0 ren=99 tr=0",
     "holder=a dur=36000 acq=0 ren=99 tr=0", 1, "u", NULL, 0, true, ""},
    {"delete of a live lease", LG_OP_DELETE, "holder=a dur=15 acq=0 ren=10 tr=0", NULL, 12, "u",
     NULL, 0, false, "delete-held"},
    {"delete of an expired lease", LG_OP_DELETE, "holder=a dur=15 acq=0 ren=10 tr=0", NULL, 40, "u",
     NULL, 0, true, ""},
    {"delete of a released lease", LG_OP_DELETE, "holder= dur=1 acq=0 ren=10 tr=0", NULL, 10, "u",
     NULL, 0, true, ""},
    /* coordinated leader election */
    {"coordinated: controller moves the holder without counting", LG_OP_UPDATE,
     "holder=a dur=5 ren=0 tr=0 strategy=OldestEmulationVersion",
     "holder=b dur=5 ren=1 tr=0 strategy=OldestEmulationVersion", 1, "system:apiserver", NULL, 0,
     true, ""},
    {"coordinated: a client hands a live lease to the preferred holder", LG_OP_UPDATE,
     "holder=a dur=5 ren=0 tr=0 strategy=OldestEmulationVersion pref=b",
     "holder=b dur=5 acq=1 ren=1 tr=1 strategy=OldestEmulationVersion pref=b", 1, "u", NULL, 0,
     false, "holder-renew"},
    {"coordinated: the preferred holder takes it itself", LG_OP_UPDATE,
     "holder=a dur=5 ren=0 tr=0 strategy=OldestEmulationVersion pref=b",
     "holder=b dur=5 acq=1 ren=1 tr=0 strategy=OldestEmulationVersion", 1, "b", NULL, 0, false,
     "holder-renew transitions"},
    {"coordinated: a stranger takes a live lease", LG_OP_UPDATE,
     "holder=a dur=15 ren=0 tr=0 strategy=OldestEmulationVersion",
     "holder=c dur=15 ren=1 tr=0 strategy=OldestEmulationVersion", 1, "mallory", NULL, 0, false,
     "holder-renew transitions"},
    {"coordinated: adding strategy does not skip the +1", LG_OP_UPDATE,
     "holder=a dur=15 acq=0 ren=0 tr=4",
     "holder=c dur=15 ren=20 tr=4 strategy=OldestEmulationVersion", 20, "mallory", NULL, 0, false,
     "transitions"},
    {"coordinated: a client takes an expired coordinated lease", LG_OP_UPDATE,
     "holder=a dur=5 ren=0 tr=2 strategy=OldestEmulationVersion",
     "holder=b dur=15 acq=20 ren=20 tr=3 strategy=OldestEmulationVersion", 20, "b", NULL, 0, false,
     "holder-renew"},
    {"coordinated: a client falling back to plain election (no strategy) after expiry",
     LG_OP_UPDATE, "holder=a dur=5 ren=0 tr=2 strategy=OldestEmulationVersion",
     "holder=b dur=15 acq=20 ren=20 tr=3", 20, "b", NULL, 0, true, ""},
    {"coordinated: controller re-elects after expiry", LG_OP_UPDATE,
     "holder=a dur=5 ren=0 tr=2 strategy=OldestEmulationVersion",
     "holder=b dur=5 ren=9 tr=2 strategy=OldestEmulationVersion", 9, "system:apiserver", NULL, 0,
     true, ""},
    {"coordinated: controller marks the end of a term", LG_OP_UPDATE,
     "holder=a dur=15 ren=0 tr=2 strategy=OldestEmulationVersion",
     "holder=a dur=15 ren=0 tr=2 strategy=OldestEmulationVersion pref=b", 1, "system:apiserver",
     NULL, 0, true, ""},
    {"coordinated: elected client renews behind the controller's stamp", LG_OP_UPDATE,
     "holder=b dur=5 ren=40 tr=2 strategy=OldestEmulationVersion",
     "holder=b dur=15 ren=2 tr=2 strategy=OldestEmulationVersion", 2, "b", NULL, 0, true, ""},
    {"coordinated: transitions still never skip", LG_OP_UPDATE,
     "holder=a dur=5 ren=0 tr=0 strategy=OldestEmulationVersion",
     "holder=b dur=5 ren=1 tr=2 strategy=OldestEmulationVersion", 1, "system:apiserver", NULL, 0,
     false, "transitions"},
    /* holder-identity (enabled per case) */
    {"identity: renew from the holder's pod", LG_OP_UPDATE,
     "holder=web-7_1b2c dur=15 acq=0 ren=0 tr=0", "holder=web-7_1b2c dur=15 acq=0 ren=2 tr=0", 2,
     "system:serviceaccount:ns:sa", "web-7", IDENTITY, true, ""},
    {"identity: identity equal to the pod name", LG_OP_UPDATE,
     "holder=web-7 dur=15 acq=0 ren=0 tr=0", "holder=web-7 dur=15 acq=0 ren=2 tr=0", 2,
     "system:serviceaccount:ns:sa", "web-7", IDENTITY, true, ""},
    {"identity: renew from another pod", LG_OP_UPDATE, "holder=web-7_1b2c dur=15 acq=0 ren=0 tr=0",
     "holder=web-7_1b2c dur=15 acq=0 ren=2 tr=0", 2, "system:serviceaccount:ns:sa", "web-70",
     IDENTITY, false, "holder-identity"},
    {"identity: write without a pod name", LG_OP_UPDATE,
     "holder=web-7_1b2c dur=15 acq=0 ren=0 tr=0", "holder=web-7_1b2c dur=15 acq=0 ren=2 tr=0", 2,
     "admin", NULL, IDENTITY, false, "holder-identity"},
    {"identity: release from the old holder's pod", LG_OP_UPDATE,
     "holder=web-7_1b2c dur=15 acq=0 ren=10 tr=0", "holder= dur=1 acq=11 ren=11 tr=0", 11, "sa",
     "web-7", IDENTITY, true, ""},
    {"identity: release from another pod", LG_OP_UPDATE,
     "holder=web-7_1b2c dur=15 acq=0 ren=10 tr=0", "holder= dur=1 acq=11 ren=11 tr=0", 11, "sa",
     "web-8", IDENTITY, false, "holder-identity"},
    {"identity: pod name over 63 characters (hostname cut)", LG_OP_UPDATE,
     "holder=controller-manager-with-a-very-long-deployment-name-abcdef-12-7_4e1f dur=15 acq=0 "
     "ren=0 tr=0",
     "holder=controller-manager-with-a-very-long-deployment-name-abcdef-12-7_4e1f dur=15 acq=0 "
     "ren=2 tr=0",
     2, "sa", "controller-manager-with-a-very-long-deployment-name-abcdef-12-7c9d8f6b5-x2x9z",
     IDENTITY, true, ""},
    {"identity: cut hostname ending in a dash", LG_OP_UPDATE,
     "holder=controller-manager-with-a-very-long-deployment-name-abcdefghij_4e1f dur=15 acq=0 "
     "ren=0 tr=0",
     "holder=controller-manager-with-a-very-long-deployment-name-abcdefghij_4e1f dur=15 acq=0 "
     "ren=2 tr=0",
     2, "sa", "controller-manager-with-a-very-long-deployment-name-abcdefghij-7c9d8f6b5-x2x9z",
     IDENTITY, true, ""},
    {"identity: a short pod is not a prefix match", LG_OP_UPDATE,
     "holder=controller-manager-with-a-very-long-deployment-name-abcdef-12-7_4e1f dur=15 acq=0 "
     "ren=0 tr=0",
     "holder=controller-manager-with-a-very-long-deployment-name-abcdef-12-7_4e1f dur=15 acq=0 "
     "ren=2 tr=0",
     2, "sa", "controller-manager", IDENTITY, false, "holder-identity"},
    {"identity: acquire by the new holder's pod", LG_OP_CREATE, NULL,
     "holder=web-8_99 dur=15 acq=0 ren=0 tr=0", 0, "sa", "web-8", IDENTITY, true, ""},
    {"identity: user not in allowedUsernames", LG_OP_CREATE, NULL,
     "holder=web-8_99 dur=15 acq=0 ren=0 tr=0", 0, "system:serviceaccount:other:sa", "web-8",
     IDENTITY | ALLOWED_USERS, false, "holder-identity"},
    {"identity: user in allowedUsernames", LG_OP_CREATE, NULL,
     "holder=web-8_99 dur=15 acq=0 ren=0 tr=0", 0, "system:serviceaccount:ns:web", "web-8",
     IDENTITY | ALLOWED_USERS, true, ""},
    {"identity: off by default", LG_OP_UPDATE, "holder=web-7_1b2c dur=15 acq=0 ren=0 tr=0",
     "holder=web-7_1b2c dur=15 acq=0 ren=2 tr=0", 2, "admin", NULL, 0, true, ""},
    /* modes and exemptions */
    {"audit mode reports and allows", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=10 tr=0",
     "holder=b dur=15 acq=12 ren=12 tr=1", 12, "u", NULL, AUDIT_ALL, true, "holder-renew"},
    {"warn mode reports and allows", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=10 tr=0",
     "holder=b dur=15 acq=12 ren=12 tr=1", 12, "u", NULL, WARN_ALL, true, "holder-renew"},
    {"exempt requester", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=10 tr=0",
     "holder=b dur=36000 acq=12 ren=12 tr=9", 12, "u", NULL, EXEMPT, true, ""},
};

/* Cases that depend on what the webhook saw (lg_evidence): "seen=AGE slack=S ctl offset=O
 * writer=same|other tomb=LEFT tombsame term=AGE", seconds. */
typedef struct {
  rule_case c;
  const char *ev;
} ev_case;

static const ev_case ev_cases[] = {
    /* seen here: the term is judged from when the record was first seen, whatever renewTime
     * says (the holder's clock is 20 s ahead: renewTime 30 was written at 10) */
    {{"seen 1 s ago: steal denied though renewTime would say expired", LG_OP_UPDATE,
      "holder=a dur=15 acq=0 ren=-20 tr=0", "holder=b dur=15 acq=12 ren=12 tr=1", 12, "u", NULL, 0,
      false, "holder-renew"},
     "seen=1"},
    {{"seen 16 s ago: takeover allowed though renewTime says live", LG_OP_UPDATE,
      "holder=a dur=15 acq=0 ren=30 tr=0", "holder=b dur=15 acq=26 ren=26 tr=1", 26, "u", NULL, 0,
      true, ""},
     "seen=16"},
    {{"seen 14.9 s ago: still live", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=30 tr=0",
      "holder=b dur=15 acq=26 ren=26 tr=1", 26, "u", NULL, 0, false, "holder-renew"},
     "seen=14.9"},
    {{"seen by a watch with slack", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=30 tr=0",
      "holder=b dur=15 acq=26 ren=26 tr=1", 26, "u", NULL, 0, true, ""},
     "seen=14.9 slack=1"},
    {{"2 s lease seen 1.9 s ago", LG_OP_UPDATE, "holder=a dur=2 acq=0 ren=10 tr=0",
      "holder=b dur=2 acq=12 ren=12 tr=1", 12, "u", NULL, 0, false,
      "holder-renew duration-recommended"},
     "seen=1.9"},
    {{"2 s lease seen 2 s ago", LG_OP_UPDATE, "holder=a dur=2 acq=0 ren=10 tr=0",
      "holder=b dur=2 acq=12 ren=12 tr=1", 12, "u", NULL, 0, true, "duration-recommended"},
     "seen=2"},
    {{"delete of a 2 s lease seen 1 s ago", LG_OP_DELETE, "holder=a dur=2 acq=0 ren=10 tr=0", NULL,
      11, "u", NULL, 0, false, "delete-held"},
     "seen=1"},
    /* not seen, but the holder's clock offset is known from its other writes */
    {{"offset +20: takeover after the corrected expiry", LG_OP_UPDATE,
      "holder=a dur=15 acq=0 ren=30 tr=0", "holder=b dur=15 acq=26 ren=26 tr=1", 26, "u", NULL, 0,
      true, ""},
     "offset=20"},
    {{"offset +20: steal inside the corrected term", LG_OP_UPDATE,
      "holder=a dur=15 acq=0 ren=30 tr=0", "holder=b dur=15 acq=20 ren=20 tr=1", 20, "u", NULL, 0,
      false, "holder-renew"},
     "offset=20"},
    {{"offset -20: steal inside the corrected term", LG_OP_UPDATE,
      "holder=a dur=15 acq=0 ren=-10 tr=0", "holder=b dur=15 acq=20 ren=20 tr=1", 20, "u", NULL, 0,
      false, "holder-renew"},
     "offset=-20"},
    {{"offset known, record implausibly far ahead of it", LG_OP_UPDATE,
      "holder=a dur=15 acq=0 ren=100 tr=0", "holder=b dur=15 acq=20 ren=20 tr=1", 20, "u", NULL, 0,
      true, ""},
     "offset=0"},
    /* who releases and deletes */
    {{"release of a live lease by another writer", LG_OP_UPDATE,
      "holder=a dur=15 acq=0 ren=10 tr=0", "holder= dur=1 acq=11 ren=11 tr=0", 11, "mallory", NULL,
      0, false, "holder-renew"},
     "writer=other"},
    {{"release of a live lease by its writer", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=10 tr=0",
      "holder= dur=1 acq=11 ren=11 tr=0", 11, "u", NULL, 0, true, ""},
     "writer=same"},
    {{"release of an expired lease by another writer", LG_OP_UPDATE,
      "holder=a dur=15 acq=0 ren=10 tr=0", "holder= dur=1 acq=30 ren=30 tr=0", 30, "mallory", NULL,
      0, true, ""},
     "writer=other"},
    {{"delete of a live lease by its writer", LG_OP_DELETE, "holder=a dur=15 acq=0 ren=10 tr=0",
      NULL, 12, "u", NULL, 0, true, ""},
     "writer=same"},
    {{"delete of a live lease by its holder's pod", LG_OP_DELETE,
      "holder=web-7_1b2c dur=15 acq=0 ren=10 tr=0", NULL, 12, "u", "web-7", 0, true, ""},
     ""},
    {{"delete of a live lease by another writer", LG_OP_DELETE, "holder=a dur=15 acq=0 ren=10 tr=0",
      NULL, 12, "mallory", NULL, 0, false, "delete-held"},
     "writer=other"},
    /* a steal in two writes: delete while live, then create */
    {{"re-created by another holder before the deleted term ended", LG_OP_CREATE, NULL,
      "holder=b dur=15 acq=12 ren=12 tr=0", 12, "u", NULL, 0, false, "holder-renew"},
     "tomb=5"},
    {{"re-created by the same holder", LG_OP_CREATE, NULL, "holder=a dur=15 acq=12 ren=12 tr=0", 12,
      "u", NULL, 0, true, ""},
     "tomb=5 tombsame"},
    /* coordinated election: the old stamp is the controller's, or the holder's own */
    {{"coordinated: renew behind a stamp the holder wrote itself", LG_OP_UPDATE,
      "holder=b dur=15 ren=40 tr=2 strategy=OldestEmulationVersion",
      "holder=b dur=15 ren=2 tr=2 strategy=OldestEmulationVersion", 2, "b", NULL, 0, false,
      "renew-monotonic"},
     "seen=1"},
    {{"coordinated: renew behind the controller's stamp seen here", LG_OP_UPDATE,
      "holder=b dur=5 ren=40 tr=2 strategy=OldestEmulationVersion",
      "holder=b dur=15 ren=2 tr=2 strategy=OldestEmulationVersion", 2, "b", NULL, 0, true, ""},
     "seen=1 ctl"},
};

static void parse_evidence(const char *desc, lg_evidence *e) {
  char buf[128], *save = NULL, *tok;
  memset(e, 0, sizeof *e);
  snprintf(buf, sizeof buf, "%s", desc ? desc : "");
  for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
    char *eq = strchr(tok, '=');
    double v = eq ? atof(eq + 1) : 0;
    lg_time us = (lg_time)(v * 1e6 + (v < 0 ? -0.5 : 0.5));
    if (eq)
      *eq = '\0';
    if (strcmp(tok, "seen") == 0)
      e->seen = true, e->seen_age = us;
    else if (strcmp(tok, "slack") == 0)
      e->seen_slack = us;
    else if (strcmp(tok, "ctl") == 0)
      e->seen_by_controller = true;
    else if (strcmp(tok, "offset") == 0)
      e->has_offset = true, e->offset = us;
    else if (strcmp(tok, "writer") == 0)
      e->writer = strcmp(eq + 1, "same") == 0 ? LG_WRITER_SAME : LG_WRITER_OTHER;
    else if (strcmp(tok, "tomb") == 0)
      e->tombstone = true, e->tombstone_left = us;
    else if (strcmp(tok, "tombsame") == 0)
      e->tombstone_same_holder = true;
    else if (strcmp(tok, "term") == 0)
      e->term_seen = true, e->term_seen_age = us;
    else
      fail_msg("bad evidence key %s", tok);
  }
}

static const char *const allowed_users[] = {"system:serviceaccount:ns:*"};

static void base_config(int flags, lg_rule_config *c) {
  memset(c, 0, sizeof *c);
  for (int r = 0; r < LG_RULE_COUNT; r++)
    c->mode[r] = flags & AUDIT_ALL  ? LG_MODE_AUDIT
                 : flags & WARN_ALL ? LG_MODE_WARN
                                    : LG_MODE_ENFORCE;
  c->mode[LG_RULE_DURATION_RECOMMENDED] = LG_MODE_WARN;
  c->mode[LG_RULE_HOLDER_IDENTITY] = flags & IDENTITY ? LG_MODE_ENFORCE : LG_MODE_OFF;
  c->skew = 30 * LG_USEC_PER_SEC;
  c->min[LG_RULE_DURATION] = 2;
  c->max[LG_RULE_DURATION] = 3600;
  c->min[LG_RULE_DURATION_RECOMMENDED] = 5;
  c->max[LG_RULE_DURATION_RECOMMENDED] = 300;
  static const char *const controllers[] = {"system:apiserver"};
  c->controller_usernames = controllers;
  c->n_controller_usernames = 1;
  if (flags & ALLOWED_USERS) {
    c->usernames[LG_RULE_HOLDER_IDENTITY] = allowed_users;
    c->n_usernames[LG_RULE_HOLDER_IDENTITY] = 1;
  }
  if (flags & EXEMPT)
    c->exempt_reason = "exempt";
}

/* Runs one case with what the webhook saw (ev, may be NULL); v receives the verdict. */
static void run_ev(const rule_case *tc, const char *ev, lg_verdict *v) {
  json_t *oj = tc->old_l ? mk(tc->old_l) : NULL, *nj = tc->new_l ? mk(tc->new_l) : NULL;
  lg_lease ol, nl;
  lg_requester who = {tc->user, tc->pod};
  lg_rule_config cfg;
  char err[128];
  if (oj)
    assert_int_equal(lg_lease_decode(oj, &ol, err, sizeof err), LG_OK);
  if (nj)
    assert_int_equal(lg_lease_decode(nj, &nl, err, sizeof err), LG_OK);
  lg_evidence e;
  parse_evidence(ev, &e);
  lg_rules_input in = {tc->op,          "ns", "lock",        oj ? &ol : NULL,
                       nj ? &nl : NULL, &who, ev ? &e : NULL};
  base_config(tc->flags, &cfg);
  lg_rules_evaluate(&in, &cfg, t0 + (lg_time)(tc->now * 1e6 + 0.5), v);
  json_decref(oj);
  json_decref(nj);
}

static void run(const rule_case *tc, lg_verdict *v) { run_ev(tc, NULL, v); }

static void test_table(void **state) {
  (void)state;
  int failures = 0;
  size_t n_plain = sizeof cases / sizeof cases[0], n_ev = sizeof ev_cases / sizeof ev_cases[0];
  for (size_t i = 0; i < n_plain + n_ev; i++) {
    const rule_case *tc = i < n_plain ? &cases[i] : &ev_cases[i - n_plain].c;
    lg_verdict v;
    char got[256] = "";
    size_t len = 0;
    run_ev(tc, i < n_plain ? NULL : ev_cases[i - n_plain].ev, &v);
    for (size_t k = 0; k < v.n; k++) {
      len += (size_t)snprintf(got + len, sizeof got - len, "%s%s", k ? " " : "",
                              lg_rules_id(v.findings[k].rule));
      if (strlen(v.findings[k].warning) > LG_WARNING_MAX ||
          !strstr(v.findings[k].message, "ns/lock")) {
        print_error("case \"%s\": finding message/warning malformed: %s\n", tc->name,
                    v.findings[k].message);
        failures++;
      }
    }
    if (v.allowed != tc->allowed || strcmp(got, tc->rules) != 0) {
      print_error("case \"%s\": want allowed=%d rules=[%s], got allowed=%d rules=[%s]\n", tc->name,
                  tc->allowed, tc->rules, v.allowed, got);
      for (size_t k = 0; k < v.n; k++)
        print_error("    %s\n", v.findings[k].message);
      failures++;
    }
  }
  assert_int_equal(failures, 0);
}

static const rule_case *find_case(const char *name) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    if (strcmp(cases[i].name, name) == 0)
      return &cases[i];
  fail_msg("no case %s", name);
  return NULL;
}

/* A denial names the rule, namespace/name, both holders and the expiry in RFC 3339. */
static void test_denial_message(void **state) {
  (void)state;
  lg_verdict v;
  run(find_case("steal of a live lease"), &v);
  assert_int_equal(v.n, 1);
  const char *m = v.findings[0].message;
  assert_non_null(strstr(m, "[holder-renew] ns/lock"));
  assert_non_null(strstr(m, "\"a\" -> \"b\""));
  assert_non_null(strstr(m, "2026-11-25T10:00:21.250000Z")); /* renewTime 10 + 15 - 3.75 s */
  assert_non_null(strstr(m, "not seen renewed here"));       /* how it was judged */
  assert_int_equal(v.findings[0].mode, LG_MODE_ENFORCE);
}

/* How the old term was judged, in the denial's words, for each way of judging it (the text
 * is written only when a finding needs it). */
static void test_basis_in_messages(void **state) {
  static const struct {
    ev_case c;
    const char *want;
  } basis_cases[] = {
      {{{"seen", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=-20 tr=0",
         "holder=b dur=15 acq=12 ren=12 tr=1", 12, "u", NULL, 0, false, "holder-renew"},
        "seen=1"},
       "(renewed 1.0s ago as seen here; lease 15s; now 2026-11-25T10:00:12Z)"},
      {{{"offset", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=-10 tr=0",
         "holder=b dur=15 acq=20 ren=20 tr=1", 20, "u", NULL, 0, false, "holder-renew"},
        "offset=-20"},
       "(renewTime 2026-11-25T09:59:50Z less the holder's clock offset -20.0s; lease 15s; now "},
      {{{"unknown clock", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=10 tr=0",
         "holder=b dur=15 acq=12 ren=12 tr=1", 12, "u", NULL, 0, false, "holder-renew"},
        ""},
       "(renewTime 2026-11-25T10:00:10Z + 15s - 3.75s for an unknown clock; not seen renewed here; "
       "now "},
      {{{"future, a write of the term seen", LG_OP_UPDATE, "holder=a dur=15 acq=0 ren=100 tr=0",
         "holder=b dur=15 acq=20 ren=20 tr=1", 20, "u", NULL, 0, false, "holder-renew"},
        "term=1"},
       "(renewTime 2026-11-25T10:01:40Z is implausibly far in the future; a write of this term "
       "seen here 1.0s ago; now "},
      {{{"no renewTime, a write of the term seen", LG_OP_UPDATE, "holder=a dur=15 tr=0",
         "holder=b dur=15 acq=12 ren=12 tr=1", 12, "u", NULL, 0, false, "holder-renew"},
        "term=2.5"},
       "(no renewTime; a write of this term seen here 2.5s ago; now "},
      {{{"delete, seen", LG_OP_DELETE, "holder=a dur=2 acq=0 ren=10 tr=0", NULL, 11, "u", NULL, 0,
         false, "delete-held"},
        "seen=1"},
       "while held by \"a\" until 2026-11-25T10:00:12Z (renewed 1.0s ago as seen here; lease 2s)"},
  };
  (void)state;
  for (size_t i = 0; i < sizeof basis_cases / sizeof *basis_cases; i++) {
    lg_verdict v;
    run_ev(&basis_cases[i].c.c, basis_cases[i].c.ev, &v);
    if (v.n != 1 || v.allowed || !strstr(v.findings[0].message, basis_cases[i].want))
      fail_msg("case \"%s\": %zu findings, message %s\nwant it to hold %s", basis_cases[i].c.c.name,
               v.n, v.n ? v.findings[0].message : "-", basis_cases[i].want);
  }
}

static void test_modes_of_findings(void **state) {
  (void)state;
  lg_verdict v;
  run(find_case("audit mode reports and allows"), &v);
  assert_int_equal(v.findings[0].mode, LG_MODE_AUDIT);
  run(find_case("warn mode reports and allows"), &v);
  assert_int_equal(v.findings[0].mode, LG_MODE_WARN);
  run(find_case("metadata-only update"), &v);
  assert_non_null(v.skipped);
  run(find_case("exempt requester"), &v);
  assert_string_equal(v.skipped, "exempt");
}

/* Long identities still give warnings of at most 120 bytes, cut on a UTF-8 boundary. */
static void test_warning_length(void **state) {
  (void)state;
  char old_d[200], new_d[200];
  snprintf(old_d, sizeof old_d, "holder=%s dur=15 acq=0 ren=10 tr=0",
           "controller-manager-7c9d8f6b5-x2x9z_5f0c6a4e-8c1d-4f6e-9b1a-2d3c4b5a6f70");
  snprintf(new_d, sizeof new_d, "holder=%s dur=15 acq=12 ren=12 tr=1",
           "caf\xc3\xa9-"
           "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3"
           "\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
           "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
  rule_case tc = {"long", LG_OP_UPDATE, old_d, new_d, 12, "u", NULL, 0, false, "holder-renew"};
  lg_verdict v;
  run(&tc, &v);
  assert_int_equal(v.n, 1);
  const char *w = v.findings[0].warning;
  assert_true(strlen(w) <= LG_WARNING_MAX);
  assert_true(strlen(w) > 100);
  assert_string_equal(w + strlen(w) - 3, "...");
  /* the byte before "..." does not start an unfinished UTF-8 sequence */
  assert_true(((unsigned char)w[strlen(w) - 4] & 0xC0) != 0xC0);
}

/* A message cut at its limit inside a multi-byte character stays valid UTF-8. */
static void test_message_cut_is_utf8(void **state) {
  (void)state;
  char holder[701];
  for (int i = 0; i < 350; i++)
    memcpy(holder + 2 * i, "\xc3\xa9", 2);
  holder[700] = '\0';
  for (int shift = 0; shift < 3; shift++) {
    json_t *old_j = mk("holder=a dur=15 acq=0 ren=10 tr=0"),
           *new_j = mk("dur=15 acq=12 ren=12 tr=1");
    char name[8] = "lockxx";
    name[4 + shift % 2] = '\0';
    json_object_set_new(json_object_get(new_j, "spec"), "holderIdentity",
                        json_string(holder + shift * 2));
    lg_lease ol, nl;
    lg_requester who = {"u", NULL};
    lg_rule_config cfg;
    lg_verdict v;
    char err[64];
    assert_int_equal(lg_lease_decode(old_j, &ol, err, sizeof err), LG_OK);
    assert_int_equal(lg_lease_decode(new_j, &nl, err, sizeof err), LG_OK);
    lg_rules_input in = {LG_OP_UPDATE, "ns", name, &ol, &nl, &who, NULL};
    base_config(0, &cfg);
    lg_rules_evaluate(&in, &cfg, t0 + 12 * LG_USEC_PER_SEC, &v);
    assert_int_equal(v.n, 1);
    json_t *m = json_string(v.findings[0].message), *w = json_string(v.findings[0].warning);
    assert_non_null(m); /* jansson refuses invalid UTF-8 */
    assert_non_null(w);
    json_decref(m);
    json_decref(w);
    json_decref(old_j);
    json_decref(new_j);
  }
}

static void test_ids_and_modes(void **state) {
  (void)state;
  for (int r = 0; r < LG_RULE_COUNT; r++)
    assert_int_equal(lg_rules_parse_id(lg_rules_id((lg_rule)r)), r);
  assert_int_equal(lg_rules_parse_id("nope"), LG_RULE_COUNT);
  assert_int_equal(lg_rules_parse_mode("enforce"), LG_MODE_ENFORCE);
  assert_int_equal(lg_rules_parse_mode("Enforce"), LG_MODE_INHERIT);
  assert_string_equal(lg_rules_mode_name(LG_MODE_AUDIT), "audit");
  assert_int_equal(lg_rules_parse_operation("DELETE"), LG_OP_DELETE);
  assert_int_equal(lg_rules_parse_operation("PATCH"), -1);
}

int main(void) {
  if (lg_time_parse(T0, &t0) != LG_OK)
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_denial_message),
      cmocka_unit_test(test_basis_in_messages),
      cmocka_unit_test(test_modes_of_findings),
      cmocka_unit_test(test_warning_length),
      cmocka_unit_test(test_message_cut_is_utf8),
      cmocka_unit_test(test_ids_and_modes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
