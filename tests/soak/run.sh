#!/usr/bin/env bash
# run.sh -- soak `leaseguard serve` (~60 s): parallel curl loops send a bounded, mixed stream
# of valid reviews (each answer checked: allowed or denied as expected) and invalid requests
# (each refused with the expected status); the server's VmRSS is sampled every 5 s and must
# not grow by more than 20 % and 4 MiB between the 10 s sample and the end.
#   usage: run.sh LEASEGUARD_BIN      env: SOAK_SECONDS (default 60), SOAK_WORKERS (default 3)
set -euo pipefail
bin=${1:?usage: run.sh LEASEGUARD_BIN}
secs=${SOAK_SECONDS:-60}
workers=${SOAK_WORKERS:-3}
dir=$(mktemp -d "${TMPDIR:-/tmp}/lg-soak.XXXXXX")
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
  [ -n "${LG_KEEP_TMP:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$bin" certs --out-dir="$dir/certs" >/dev/null

# ---- the server: a free port, found by trying ----
for _ in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 40000))
  "$bin" serve --bind-address=127.0.0.1 --secure-port="$port" --mode=enforce \
    --tls-cert-file="$dir/certs/tls.crt" --tls-private-key-file="$dir/certs/tls.key" \
    --max-request-bytes=65536 --connection-timeout=10 --threads=2 --log-level=error \
    >/dev/null 2>"$dir/serve.err" &
  pid=$!
  for _ in $(seq 50); do
    curl -sf --cacert "$dir/certs/ca.crt" --max-time 1 "https://127.0.0.1:$port/healthz" \
      >/dev/null 2>&1 && break 2
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
done
[ -n "$pid" ] || fail "serve did not start: $(cat "$dir/serve.err")"
url="https://127.0.0.1:$port"

# ---- the cases: name, expected HTTP status, expected decision, curl arguments ----
t0=$(date +%s)
ts() { date -u -d "@$((t0 + $1))" +%Y-%m-%dT%H:%M:%S.000000Z; }
# lease HOLDER DURATION ACQUIRE_OFFSET RENEW_OFFSET TRANSITIONS [NAMESPACE NAME]
lease() {
  local acq="" ren=""
  [ "$3" = - ] || acq=",\"acquireTime\":\"$(ts "$3")\""
  [ "$4" = - ] || ren=",\"renewTime\":\"$(ts "$4")\""
  printf '{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"%s","namespace":"%s"},"spec":{"holderIdentity":"%s","leaseDurationSeconds":%s%s%s,"leaseTransitions":%s}}' \
    "${7:-controller-leader}" "${6:-team-a}" "$1" "$2" "$acq" "$ren" "$5"
}
# review FILE UID OLD NEW [NAMESPACE NAME USER KIND]
review() {
  printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"%s","kind":{"group":"coordination.k8s.io","version":"v1","kind":"%s"},"resource":{"group":"coordination.k8s.io","version":"v1","resource":"leases"},"namespace":"%s","name":"%s","operation":"UPDATE","userInfo":{"username":"%s","groups":["system:authenticated"]},"oldObject":%s,"object":%s,"dryRun":false}}' \
    "$2" "${8:-Lease}" "${5:-team-a}" "${6:-controller-leader}" "${7:-system:serviceaccount:team-a:controller}" "$3" "$4" >"$dir/$1.json"
}
# Lease terms of 900 s keep a live lease live for the whole run.
review renew u-renew "$(lease pod-a 900 -60 -2 3)" "$(lease pod-a 900 -60 0 3)"
review steal u-steal "$(lease pod-a 900 -60 0 3)" "$(lease pod-b 900 0 0 4)"
review takeover u-takeover "$(lease pod-a 15 -300 -100 3)" "$(lease pod-b 15 0 0 4)"
review skip u-skip "$(lease pod-a 15 -300 -100 3)" "$(lease pod-b 15 0 0 3)"
review release u-release "$(lease pod-a 900 -60 -2 3)" "$(lease '' 1 -60 0 3)"
review huge u-huge "$(lease pod-a 900 -60 -2 3)" "$(lease pod-a 36000 -60 0 3)"
review backdate u-backdate "$(lease pod-a 900 -60 -2 3)" "$(lease pod-a 900 -60 -100 3)"
review node u-node "$(lease node-1 40 - -10 0 kube-node-lease node-1)" \
  "$(lease node-1 40 - 0 0 kube-node-lease node-1)" kube-node-lease node-1 system:node:node-1
review node-backdate u-node-bd "$(lease node-1 40 - 0 0 kube-node-lease node-1)" \
  "$(lease node-1 40 - -100 0 kube-node-lease node-1)" kube-node-lease node-1 system:node:node-1
review not-lease u-cm "$(lease pod-a 900 -60 0 3)" "$(lease pod-b 900 0 0 4)" team-a x u ConfigMap
sed 's/"holderIdentity":"pod-b"/"holderIdentity":"pod-b","holderIdentity":"pod-a"/' \
  "$dir/steal.json" >"$dir/duplicate.json"
head -c 300 "$dir/renew.json" >"$dir/malformed.json"
{ printf '{"pad":"'; head -c 70000 /dev/zero | tr '\0' a; printf '"}'; } >"$dir/oversized.json"
: >"$dir/empty.json"

json="-X POST -H Content-Type:application/json"  # words: no spaces inside one
cases=(
  "renew|200|true|$json|@renew"
  "steal|200|false|$json|@steal"
  "takeover|200|true|$json|@takeover"
  "skip-transition|200|false|$json|@skip"
  "release|200|true|$json|@release"
  "huge-duration|200|false|$json|@huge"
  "backdate|200|false|$json|@backdate"
  "node-renew|200|true|$json|@node"
  "node-backdate|200|true|$json|@node-backdate"
  "not-a-lease|200|true|$json|@not-lease"
  "malformed|400|-|$json|@malformed"
  "duplicate-keys|400|-|$json|@duplicate"
  "empty|400|-|$json|@empty"
  "text/plain|415|-|-X POST -H Content-Type:text/plain|@renew"
  "oversized|413|-|-X POST -H Content-Type:application/json -H Expect:100-continue|@oversized"
  "GET /validate|405|-|-X GET|-"
  "PUT /validate|405|-|-X PUT -H Content-Type:application/json|@renew"
  "unknown path|404|-|-X GET --path-as-is|/nope"
)

# Curl arguments for case i; its body goes to $out.$i.
case_args() {
  local IFS='|' name code allowed opts body words
  read -r name code allowed opts body <<<"${cases[$1]}"
  IFS=' ' read -r -a words <<<"$opts"
  args=(--cacert "$dir/certs/ca.crt" --max-time 10 -s -o "$2.$1" -w "$1 %{http_code}\n" "${words[@]}")
  case "$body" in
    @*) args+=(--data-binary "@$dir/${body#@}.json" "$url/validate") ;;
    /*) args+=("$url$body") ;;
    *) args+=("$url/validate") ;;
  esac
}

# Checks the answers of one batch (lines "i code" on stdin); counts into pass/fail.
check_batch() {
  local out=$1 i code name want allowed rest
  while read -r i code; do
    IFS='|' read -r name want allowed rest <<<"${cases[$i]}"
    if [ "$code" != "$want" ]; then
      fail_n=$((fail_n + 1)); echo "$name: HTTP $code, want $want: $(head -c 200 "$out.$i" 2>/dev/null)" >>"$errs"
    elif [ "$allowed" != - ] && ! grep -q "\"allowed\":$allowed" "$out.$i"; then
      fail_n=$((fail_n + 1)); echo "$name: want allowed=$allowed: $(head -c 300 "$out.$i")" >>"$errs"
    elif [ "$allowed" = - ] && ! grep -q '"kind":"Status"' "$out.$i"; then
      fail_n=$((fail_n + 1)); echo "$name: HTTP $code without a Status: $(head -c 200 "$out.$i")" >>"$errs"
    else
      pass_n=$((pass_n + 1))
    fi
    rm -f "$out.$i"
  done
}

# A transfer curl gave up on may print no line: counts what is missing of want as failed.
count_missing() {
  local missing=$(($1 - $(wc -l <"$out.codes")))
  [ "$missing" -le 0 ] || { fail_n=$((fail_n + missing)); echo "batch $batch: $missing transfers without an answer" >>"$errs"; }
}

# Worker w: until the deadline, all cases in one curl (one kept-alive connection; in an
# order rotated per batch, reversed for odd workers) or, for the last worker, one curl (and connection) per request.
worker() {
  local w=$1 end=$2 out="$dir/w$1" batch=0 n=${#cases[@]} k i all
  errs="$dir/w$w.errors" pass_n=0 fail_n=0
  while [ "$(date +%s)" -lt "$end" ]; do
    if [ "$w" -eq $((workers - 1)) ]; then
      for ((k = 0; k < n; k++)); do
        case_args "$(((k + batch) % n))" "$out"
        curl "${args[@]}" 2>/dev/null >"$out.codes" || true
        count_missing 1
        check_batch "$out" <"$out.codes"
      done
    else
      all=()
      for ((k = 0; k < n; k++)); do
        if [ $((w % 2)) -eq 0 ]; then i=$(((k + batch) % n)); else i=$(((n - 1 - k + batch) % n)); fi
        case_args "$i" "$out"
        [ "$k" -eq 0 ] || all+=(--next)
        all+=("${args[@]}")
      done
      curl "${all[@]}" 2>/dev/null >"$out.codes" || true
      count_missing "$n"
      check_batch "$out" <"$out.codes"
    fi
    batch=$((batch + 1))
  done
  echo "$pass_n $fail_n" >"$dir/w$w.count"
}
rss() { awk '/^VmRSS:/{print $2}' "/proc/$pid/status"; }

end=$(($(date +%s) + secs))
wpids=()
for ((w = 0; w < workers; w++)); do
  worker "$w" "$end" &
  wpids+=($!)
done
series=() start=$(date +%s)
while :; do
  now=$(($(date +%s) - start))
  kill -0 "$pid" 2>/dev/null || fail "serve exited during the soak: $(cat "$dir/serve.err")"
  series+=("${now}s:$(rss)")
  [ "$now" -ge "$secs" ] && break
  sleep 5
done
for p in "${wpids[@]}"; do wait "$p"; done
series+=("end:$(rss)")
echo "VmRSS (KiB): ${series[*]}"

passed=0 failed=0
for ((w = 0; w < workers; w++)); do
  read -r p f <"$dir/w$w.count"
  passed=$((passed + p)) failed=$((failed + f))
  [ ! -s "$dir/w$w.errors" ] || { echo "worker $w failures (first 10):"; head -n 10 "$dir/w$w.errors"; }
done

sample10="" last=""
for s in "${series[@]}"; do
  case "$s" in 10s:*) sample10=${s#*:} ;; esac
  last=${s#*:}
done
[ -n "$sample10" ] || sample10=${series[0]#*:}
growth=$((last - sample10))
echo "VmRSS growth after warm-up: ${growth} KiB (from ${sample10} KiB at 10 s to ${last} KiB)"
# Not `ldd | grep -q`: under pipefail, grep leaving early can kill ldd with SIGPIPE and the
# test then judged an ASan build (it failed so in a CI rehearsal).
libs=$(ldd "$bin" 2>/dev/null || true)
if grep -q libasan <<<"$libs"; then
  echo "note: AddressSanitizer build; its allocator keeps freed memory: growth not judged"
elif [ "$growth" -gt 4096 ] && [ $((growth * 100)) -gt $((sample10 * 20)) ]; then
  fail "VmRSS grew by ${growth} KiB (> 4 MiB and > 20 %) after warm-up"
fi

curl -sf --cacert "$dir/certs/ca.crt" --max-time 5 "$url/healthz" >/dev/null || fail "/healthz after the soak"
kill -TERM "$pid"
status=0
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "serve did not exit within 10 s of SIGTERM"
wait "$pid" || status=$?
pid=""
[ "$status" -eq 0 ] || fail "serve exited $status after SIGTERM: $(tail -n 5 "$dir/serve.err")"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] || exit 1
[ "$passed" -gt 0 ] || fail "no request was answered"
