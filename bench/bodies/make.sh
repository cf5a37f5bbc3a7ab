#!/usr/bin/env bash
# make.sh -- regenerates bench/bodies/*.json from tests/fixtures/reviews: each fixture,
# compact as the API server sends it, shifted so that the instant its case in
# tests/fixtures/cases.json is judged at becomes 2026-11-25T10:01:00Z, the time lg-bench
# judges every body at (run.sh shifts them again, to the wall clock, for `serve`).
# Needs jq and a built lg-bench:  bash bench/bodies/make.sh PATH/TO/lg-bench
set -euo pipefail
lgb=${1:?usage: make.sh PATH/TO/lg-bench}
here=$(cd "$(dirname "$0")" && pwd)
fixtures=$here/../../tests/fixtures/reviews
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# name | fixture | the instant its case is judged at | jq edit
while IFS='|' read -r name fixture now edit; do
  [[ -z $name || $name == \#* ]] && continue
  jq -c "${edit:-.}" "$fixtures/$fixture" >"$tmp/$name.json"
  "$lgb" rebase --from "$now" --to 2026-11-25T10:01:00Z --out "$here" "$tmp/$name.json"
done <<'LIST'
# renewals: the common case (every holder renews every 2-10 s)
renew-kcm|kcm-renew.json|2026-11-25T10:00:02.05Z|
renew-node|node-lease-renew.json|2026-11-25T10:00:10Z|
renew-apiserver-identity|apiserver-identity-renew.json|2026-11-25T10:00:10Z|
renew-operator-pod|operator-renew-from-pod.json|2026-11-25T10:00:12Z|
# changes of holder that are allowed
takeover-after-expiry|kcm-takeover.json|2026-11-25T10:00:26Z|
acquire-after-release|kcm-acquire-after-release.json|2026-11-25T10:00:12.5Z|
release|kcm-release.json|2026-11-25T10:00:12Z|
coordinated-move|coordinated-controller-move.json|2026-11-25T10:00:01Z|
# violations, denied by the default policy. The steal is not a dry run, and its old lease
# lasts 60 s so that it is still a steal ~50 s after run.sh shifts it to the wall clock.
violation-steal|kcm-steal-dry-run.json|2026-11-25T10:00:12Z|.request.dryRun = false | .request.oldObject.spec.leaseDurationSeconds = 60 | .request.uid = "0f1e2d3c-4b5a-4968-8776-0000000000b1"
violation-skip-transition|kcm-takeover-skip-transition.json|2026-11-25T10:00:26Z|
violation-backdate-renew|kcm-backdate-renew.json|2026-11-25T10:00:12Z|
violation-huge-duration|kcm-huge-duration.json|2026-11-25T10:00:12Z|
LIST
ls -l "$here"/*.json
