#!/usr/bin/env bash
# sample-review.sh -- print an AdmissionReview for a Lease write, timed relative to now:
#   renew  the holder renews its live lease (allowed)
#   steal  another candidate takes the live lease before it expires (denied in enforce mode)
set -euo pipefail
kind=${1:-steal}
ts() { date -u -d "@$(( $(date +%s) + $1 ))" +%Y-%m-%dT%H:%M:%S.000000Z; }
old_holder="cp-1_8c1f2e4a-7b6d-4e3c-9a2b-1d0c9e8f7a65"
case "$kind" in
  renew) new_holder=$old_holder; new_acq=$(ts -30); new_tr=3 ;;
  steal) new_holder="cp-2_3a9b8c7d-6e5f-4a1b-8c2d-9e0f1a2b3c4d"; new_acq=$(ts 0); new_tr=4 ;;
  *) echo "usage: $0 renew|steal" >&2; exit 2 ;;
esac
cat <<JSON
{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{
 "uid":"$(cat /proc/sys/kernel/random/uuid)",
 "kind":{"group":"coordination.k8s.io","version":"v1","kind":"Lease"},
 "resource":{"group":"coordination.k8s.io","version":"v1","resource":"leases"},
 "namespace":"kube-system","name":"kube-controller-manager","operation":"UPDATE",
 "userInfo":{"username":"system:kube-controller-manager","groups":["system:authenticated"]},
 "oldObject":{"apiVersion":"coordination.k8s.io/v1","kind":"Lease",
  "metadata":{"name":"kube-controller-manager","namespace":"kube-system","resourceVersion":"1001"},
  "spec":{"holderIdentity":"$old_holder","leaseDurationSeconds":15,
   "acquireTime":"$(ts -30)","renewTime":"$(ts -2)","leaseTransitions":3}},
 "object":{"apiVersion":"coordination.k8s.io/v1","kind":"Lease",
  "metadata":{"name":"kube-controller-manager","namespace":"kube-system","resourceVersion":"1001"},
  "spec":{"holderIdentity":"$new_holder","leaseDurationSeconds":15,
   "acquireTime":"$new_acq","renewTime":"$(ts 0)","leaseTransitions":$new_tr}},
 "dryRun":false}}
JSON
