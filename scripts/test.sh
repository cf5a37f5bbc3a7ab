#!/usr/bin/env bash
# test.sh -- check the C formatting (scripts/format.sh), build leaseguard with -Werror and
# run the whole test suite (ctest), build and smoke-test the container image (scripts/image.sh), then the suite again under
# AddressSanitizer + UndefinedBehaviorSanitizer, then under valgrind memcheck (the cmocka
# tests and every server they start), then fuzzing. LG_IMAGE=0 skips the image,
# LG_VALGRIND=0 valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
# The C sources are in .clang-format's style (bash scripts/format.sh applies it).
bash scripts/format.sh --check
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLG_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")
# The container image, built for real (scripts/image.sh: Debian base by mmdebstrap, buildah
# build, smoke test, OCI archive and SBOM in build/image; 1-2 minutes). Exit 77 means this
# machine cannot build images: said plainly, and the rest goes on. LG_IMAGE=0 skips it.
if [ "${LG_IMAGE:-1}" != 0 ]; then
  rc=0
  bash scripts/image.sh --out build/image || rc=$?
  if [ "$rc" = 77 ]; then
    echo "test.sh: THE CONTAINER IMAGE WAS NOT BUILT OR TESTED: this machine cannot (reason above)" >&2
  elif [ "$rc" != 0 ]; then
    echo "test.sh: the container image failed its build or smoke test (above)" >&2
    exit "$rc"
  fi
fi
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLG_WERROR=ON -DLG_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j"$jobs")
# valgrind memcheck (scripts/valgrind.sh): no error and no definite or indirect leak in the
# test programs or in the leaseguard processes they spawn; about 20 minutes on 2 cores.
if [ "${LG_VALGRIND:-1}" != 0 ]; then
  bash scripts/valgrind.sh
fi
# Fuzzing (fuzz/README.md): each libFuzzer target for a bounded time; any crash, leak or
# broken invariant fails the run and prints how to replay the input.
bash fuzz/run.sh "${LG_FUZZ_SECONDS:-60}"
