#!/bin/sh
# The first README command: installs what is missing, builds postmark-worker
# (build/release), then runs tests/demo.py: postmark-sim and the worker on
# embedded Kafka, a few thousand sample jobs, progress, a summary, and the
# records saved under build/demo/. Stops everything it started.
#
# Options go to tests/demo.py (--jobs N).
set -eu
cd "$(dirname "$0")/.."

./docker/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
echo "== building build/release"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DPMW_TESTS=OFF >/dev/null
cmake --build build/release -j "$jobs" -- --no-print-directory >/dev/null

exec python3 tests/demo.py --bin-dir build/release "$@"
