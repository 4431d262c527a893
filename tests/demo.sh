#!/bin/sh
# The first README command: installs what is missing, builds postmark-worker
# (build/release) and shows it at work.
#
# Today the pipeline does not exist yet (it arrives with the pipeline issue),
# so the demo validates the example configuration with --check and prints
# the effective configuration, secrets masked. Later this script starts
# postmark-sim and the worker on embedded Kafka.
set -eu
cd "$(dirname "$0")/.."

./docker/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DPMW_TESTS=OFF >/dev/null
cmake --build build/release -j "$jobs" -- --no-print-directory >/dev/null

worker=build/release/worker/postmark-worker
echo "== $($worker --version | head -n 1)"
echo "== postmark-worker --check -c config/postmark-worker.conf"
echo "   (token: POSTMARK_API_TEST, Postmark's test token; it is masked below)"
POSTMARK_SERVER_TOKEN=POSTMARK_API_TEST \
        $worker --check -c config/postmark-worker.conf
echo "== a bad value is refused with exit status 2:"
set +e
POSTMARK_SERVER_TOKEN=POSTMARK_API_TEST \
        $worker --check -c config/postmark-worker.conf \
        --set batch.max_messages=501
echo "   exit status $?"
