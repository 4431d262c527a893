#!/bin/sh
# The test command (README.md, .ci/run): installs what is missing, builds
# twice and runs every test.
#
#   build/release  gcc, -Werror, no sanitizer: what the demo and the
#                  Docker image build; compiled here so gcc's warnings count,
#                  and its worker is the one the memory test measures
#   build/tsan     clang, ThreadSanitizer: its threaded tests (the worker
#                  end to end, the client, postmark-sim, the HTTP endpoint)
#                  run from the asan tree's ctest, label tsan
#   build/asan     clang, AddressSanitizer + UndefinedBehaviorSanitizer, and
#                  the libFuzzer targets: ctest runs here (unit, integration,
#                  fuzz, lint and tsan labels)
#
# Extra arguments go to ctest (e.g. -L unit, -R config, -LE fuzz).
# Ends with ctest's summary line; exits non-zero if anything failed.
set -eu
cd "$(dirname "$0")/.."

./docker/install-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)

echo "== build/release (gcc)"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DPMW_TESTS=OFF >/dev/null
cmake --build build/release -j "$jobs" -- --no-print-directory >/dev/null

echo "== build/tsan (clang, thread)"
cmake -S . -B build/tsan -DCMAKE_C_COMPILER=clang \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPMW_SANITIZE=thread >/dev/null
cmake --build build/tsan -j "$jobs" -- --no-print-directory >/dev/null

echo "== build/asan (clang, address+undefined, fuzz targets)"
cmake -S . -B build/asan -DCMAKE_C_COMPILER=clang \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DPMW_SANITIZE=address,undefined -DPMW_FUZZ=ON \
        -DPMW_TSAN_BUILD="$PWD/build/tsan" \
        -DPMW_RELEASE_BUILD="$PWD/build/release" >/dev/null

cmake --build build/asan -j "$jobs" -- --no-print-directory >/dev/null

echo "== ctest"
cd build/asan
exec ctest -j "$jobs" --output-on-failure "$@"
