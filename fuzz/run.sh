#!/usr/bin/env bash
# run.sh -- build the libFuzzer targets with clang and run each for a bounded time.
#
#   bash fuzz/run.sh [SECONDS]            fuzz every target SECONDS (default 60) from a copy of
#                                         fuzz/corpus/<target>/ (the repo's corpus never grows)
#   bash fuzz/run.sh --repro PATH TARGET  run one input (a file), or every input of a directory,
#                                         through one target, once
#
# Targets: review policy time audit (FUZZ_TARGETS="review time" runs some). Builds into
# build-fuzz/ (not the CMake build: that stays gcc-only); crash, leak, timeout and OOM inputs
# are kept in build-fuzz/artifacts/<target>/, logs in build-fuzz/logs/. Exit status: 0 clean,
# 1 when a target crashed, leaked, timed out or broke an invariant, 2 on usage.
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=(review policy time audit)
out=build-fuzz
usage="usage: bash fuzz/run.sh [SECONDS] | --repro PATH TARGET"

# Installs the Debian packages the fuzz build needs, if missing (as scripts/deps.sh does).
deps() {
  local p missing=() sudo=""
  for p in clang libclang-rt-14-dev libjansson-dev libssl-dev pkg-config cmake; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "fuzz/run.sh: installing ${missing[*]}" >&2
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The src/ modules each target links: the pure ones only (no server, TLS, curl or YAML; audit
# takes log.c's audit-line encoder).
sources() {
  case "$1" in
  time) echo src/base/rc.c src/base/utf8.c src/base/times.c ;;
  policy) echo src/base/rc.c src/base/utf8.c src/base/times.c src/base/glob.c src/codec/lease.c src/core/rules.c src/core/policy.c ;;
  review) echo src/base/rc.c src/base/utf8.c src/base/times.c src/base/glob.c src/codec/lease.c src/core/rules.c src/core/policy.c \
    src/core/admission.c src/codec/kstatus.c src/core/webhook.c src/core/witness.c src/base/siphash.c src/base/jsonw.c src/base/jarena.c ;;
  audit) echo src/base/rc.c src/base/utf8.c src/base/times.c src/base/glob.c src/codec/lease.c src/core/rules.c src/core/policy.c \
    src/core/witness.c src/base/siphash.c src/core/audit.c src/core/decision.c src/obs/log.c src/base/logq.c \
    src/base/jsonw.c ;;
  esac
}

# What a target links besides jansson: the lease memory's key comes from OpenSSL.
libs() {
  case "$1" in
  review | audit) echo "$(pkg-config --libs libcrypto) -pthread" ;;
  esac
}

# Builds build-fuzz/fuzz_<target> for each target given.
build() {
  local t cc=clang
  command -v clang >/dev/null || cc=clang-14
  mkdir -p "$out/generated"
  cmake -DIN=policy/default.json -DOUT="$out/generated/default_policy.h" -P cmake/embed.cmake
  local san=fuzzer,address,undefined
  local flags=(-std=c11 -g -O1 -fno-omit-frame-pointer "-fsanitize=$san" -fno-sanitize-recover=all
    -Wall -Wextra -D_POSIX_C_SOURCE=200809L -D_XOPEN_SOURCE=700 -D_DEFAULT_SOURCE -Isrc/base -Isrc/codec -Isrc/core -Isrc/obs
    -I"$out/generated")
  for t in "$@"; do
    # shellcheck disable=SC2046  # word splitting of the lists is wanted
    "$cc" "${flags[@]}" $(pkg-config --cflags jansson) -o "$out/fuzz_$t" "fuzz/fuzz_$t.c" \
      $(sources "$t") $(pkg-config --libs jansson) $(libs "$t")
  done
}

dict_of() {
  case "$1" in
  review | audit) echo fuzz/review.dict ;;
  *) echo "fuzz/$1.dict" ;;
  esac
}

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

if [ "${1:-}" = "--repro" ]; then
  if [ $# -ne 3 ] || [ ! -e "$2" ] || [ ! -f "fuzz/fuzz_$3.c" ]; then
    echo "$usage" >&2
    exit 2
  fi
  deps
  build "$3"
  mkdir -p "$out/artifacts/repro"
  if [ -d "$2" ]; then
    exec "$out/fuzz_$3" -runs=0 -artifact_prefix="$out/artifacts/repro/" "$2"
  fi
  exec "$out/fuzz_$3" -artifact_prefix="$out/artifacts/repro/" "$2"
fi

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]] || [ $# -gt 1 ]; then
  echo "$usage" >&2
  exit 2
fi
read -r -a targets <<<"${FUZZ_TARGETS:-${all_targets[*]}}"
for t in "${targets[@]}"; do
  [ -f "fuzz/fuzz_$t.c" ] || { echo "fuzz/run.sh: no target $t" >&2; exit 2; }
done
deps
build "${targets[@]}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out/logs"
failed=0
for t in "${targets[@]}"; do
  log="$out/logs/$t.log"
  mkdir -p "$work/$t" "$out/artifacts/$t"
  cp fuzz/corpus/"$t"/* "$work/$t/" 2>/dev/null || true
  # The review fixtures of the tests are seeds too (one set, not copies).
  if [ "$t" = review ]; then cp tests/fixtures/reviews/*.json "$work/$t/"; fi
  dict=()
  [ -f "$(dict_of "$t")" ] && dict=(-dict="$(dict_of "$t")")
  echo "fuzz/run.sh: $t for ${seconds}s (log $log)"
  status=0
  # The outer timeout only guards against a hang libFuzzer itself cannot see.
  timeout --kill-after=30 $((seconds + 300)) "$out/fuzz_$t" -max_total_time="$seconds" \
    -max_len=65536 -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$out/artifacts/$t/" "${dict[@]}" "$work/$t" >"$log" 2>&1 || status=$?
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  cov=$(sed -nE 's/.* cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+).*/cov \1, ft \2, corpus \3/p' \
    <<<"$last")
  runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log")
  rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log")
  echo "fuzz/run.sh: $t: ${runs:-?} runs, ${rate:-?} exec/s, ${cov:-no stats}"
  if [ "$status" -ne 0 ]; then
    failed=1
    tail -n 60 "$log" >&2
    artifact=$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$log" | tail -n 1)
    echo "fuzz/run.sh: $t FAILED (exit $status)" >&2
    if [ -n "$artifact" ]; then
      echo "fuzz/run.sh: reproduce with: bash fuzz/run.sh --repro $artifact $t" >&2
    fi
  fi
done
exit "$failed"
