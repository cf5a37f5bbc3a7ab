#!/usr/bin/env bash
# run.sh -- tests `leaseguard vap`: the chart's template is the generator's output for the
# default policy (up to date), then agree.mjs runs the generated ValidatingAdmissionPolicies
# with a real CEL implementation (@bufbuild/cel, whose regexes are an RE2 port) against the
# webhook's verdicts, and checks the objects against the Kubernetes schemas (kubernetes-models).
#
# Tools come from the npm registry only (package.json / package-lock.json beside this file)
# and are kept in ${LG_TOOLS_DIR:-<repo>/.tools}/vap (outside git). Needs node and npm.
# LEASEGUARD_BIN (set by ctest) is the binary under test. Exit status: 0 when all passed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
tools=${LG_TOOLS_DIR:-$repo/.tools}/vap
bin=${LEASEGUARD_BIN:-$repo/build/leaseguard}
start=$SECONDS
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
die() { echo "vap test: $*" >&2; exit 2; }

for tool in node npm sha256sum timeout flock; do
  command -v "$tool" >/dev/null || die "$tool is missing (node and npm: Node.js 20)"
done
[ -x "$bin" ] || die "no leaseguard binary at $bin (set LEASEGUARD_BIN)"
work=$(mktemp -d "${TMPDIR:-/tmp}/lg-vap.XXXXXX")
trap 'rm -rf "$work"' EXIT

install_tools() {
  local want stamp=$tools/.installed
  want=$(cat "$here/package.json" "$here/package-lock.json" "$here/.npmrc" | sha256sum | cut -c1-64)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$tools/node_modules/@bufbuild/cel" ]; then
    echo "tools: cached in $tools"
    return
  fi
  echo "tools: npm ci into $tools (@bufbuild/cel, kubernetes-models, yaml)"
  rm -rf "$tools/node_modules" "$stamp"
  cp "$here/package.json" "$here/package-lock.json" "$here/.npmrc" "$tools/"
  (cd "$tools" && timeout 600 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) ||
    die "npm ci failed in $tools"
  echo "$want" >"$stamp"
}
mkdir -p "$tools"
exec 9>"$tools/.lock"
flock -w 900 9 || die "another vap test holds $tools/.lock"
install_tools
flock -u 9

echo "-- the chart's template is the generator's output for the default policy"
template=$repo/charts/leaseguard/templates/validatingadmissionpolicy.yaml
if "$bin" vap --output=helm >"$work/template.yaml" 2>"$work/template.err" &&
   cmp -s "$work/template.yaml" "$template"; then
  ok "charts/leaseguard/templates/validatingadmissionpolicy.yaml is up to date"
else
  bad "charts/leaseguard/templates/validatingadmissionpolicy.yaml is not \`leaseguard vap --output=helm\` (cmake --build build --target vap-chart-template):"
  cat "$work/template.err"
  diff "$template" "$work/template.yaml" | head -20 || true
fi

echo "-- usage errors exit 2 with a message"
usage_error() { # usage_error WORD ARGS...
  local word=$1
  shift
  local rc=0
  "$bin" vap "$@" >"$work/out" 2>"$work/err" || rc=$?
  if [ "$rc" = 2 ] && grep -q -- "$word" "$work/err"; then ok "vap $* -> exit 2: $(head -1 "$work/err")"
  else bad "vap $*: exit $rc, stderr: $(cat "$work/err")"; fi
}
usage_error --mode --mode=off
usage_error --name --name=Bad_Name
usage_error --failure-policy --failure-policy=Never
usage_error --output --output=xml
usage_error unknown --colour=blue
if grep -q '^Usage: leaseguard vap' <<<"$("$bin" vap --help)"; then ok "vap --help prints the usage"; else bad "vap --help"; fi
printf '{"apiVersion":"leaseguard.io/v1alpha1","kind":"LeasePolicy","exempt":{"usernames":["ops[ab"]}}' >"$work/p.json"
rc=0
"$bin" vap --policy-file="$work/p.json" >/dev/null 2>"$work/err" || rc=$?
if [ "$rc" = 1 ] && grep -q 'exempt.usernames\[0\].*unterminated' "$work/err"; then
  ok "a glob CEL cannot state is refused, naming it: $(cat "$work/err")"
else bad "glob ops[ab: exit $rc, $(cat "$work/err")"; fi

echo "-- agree.mjs: the VAP's verdicts against the webhook's"
if timeout 800 node "$here/agree.mjs" --modules "$tools/node_modules" --bin "$bin" --repo "$repo" \
     --work "$work" >"$work/agree.log" 2>&1; then
  cat "$work/agree.log"
else
  cat "$work/agree.log"
  f=$(grep -c '^FAIL:' "$work/agree.log" || true)
  failed=$((failed + (f > 0 ? f : 1)))
fi
passed=$((passed + $(grep -c '^ok:' "$work/agree.log" || true)))
echo "vap test: $((SECONDS - start)) s"
echo "vap: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
