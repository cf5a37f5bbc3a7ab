#!/usr/bin/env bash
# valgrind.sh -- build a Debug copy without sanitizers in build-valgrind and run the cmocka
# tests under valgrind memcheck: each test program itself (ctest -T memcheck) and every
# `leaseguard` the tests spawn through the harness (LG_TEST_WRAPPER; the harness's waits
# are stretched by LG_TEST_SLOW). Exits non-zero on a failed test or any valgrind error or
# definite/indirect leak, and prints the valgrind reports that have one.
# The tests that time things closely (e2e elections, kube timeouts, hostile connections,
# stalled log readers) run one at a time after the others, which run in parallel.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || bash scripts/deps.sh
jobs=$(nproc)
build=$PWD/build-valgrind
logs=$build/valgrind-logs
supp=$build/valgrind.supp

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DLG_WERROR=ON -DLG_SANITIZE=OFF \
  -DLG_TEST_TIMEOUT=900 >/dev/null
cmake --build "$build" -j"$jobs"

# No suppressions are needed so far; the file keeps a place for known noise outside leaseguard.
: >"$supp"
opts="--leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99"
opts+=" --track-fds=no --num-callers=40 --suppressions=$supp"
rm -rf "$logs" "$build/Testing/Temporary"
mkdir -p "$logs"

failed=0 bad=0 reports=0
# Runs the tests that ctest's option $1 (-R or -E) and regex $3 select with $2 jobs; then
# reads the reports so far (each once).
pass() {
  (
    cd "$build"
    LG_TEST_WRAPPER="valgrind $opts --log-file=$logs/spawned.%p.log" LG_TEST_SLOW=5 \
      ctest -T memcheck -j"$2" --output-on-failure "$1" "$3" \
      --overwrite MemoryCheckCommand="$(command -v valgrind)" \
      --overwrite MemoryCheckCommandOptions="$opts"
  ) || failed=$((failed + 1))
  for f in "$logs"/*.log "$build"/Testing/Temporary/MemoryChecker.*.log; do
    if [ ! -s "$f" ] || [ -e "$f.read" ]; then continue; fi
    : >"$f.read"
    reports=$((reports + 1))
    if grep -Eq 'ERROR SUMMARY: [1-9]|definitely lost: [1-9]|indirectly lost: [1-9]' "$f"; then
      bad=$((bad + 1))
      echo "==== valgrind report with errors: $f"
      cat "$f"
    fi
  done
}

# The shell-script tests (chart, container, soak, vap-cel) have no C of their own to check.
timed='e2e|fencing_e2e|polreportsync|kube|hostile|robust|certctl'
pass -E "$jobs" "^(chart|container|soak|vap-cel|$timed)\$"
pass -R 1 "^($timed)\$"
echo "valgrind.sh: $reports valgrind reports read, $bad with errors; $failed ctest runs failed"
[ "$failed" -eq 0 ] && [ "$bad" -eq 0 ]
