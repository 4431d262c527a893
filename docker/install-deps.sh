#!/bin/sh
# Installs the Debian (bookworm) packages that building, testing, fuzzing and
# running postmark-worker need. Shared by README.md, .ci/run and the
# Dockerfile's build stage.
#
#   install-deps.sh [--build-only] [EXTRA_PACKAGE]...
#
# --build-only: only what the release build needs (-DPMW_TESTS=OFF): the
# compiler, cmake and the -dev libraries, without clang, the sanitizer
# runtimes, cmocka and the test tools. The Dockerfile's build stage uses it.
#
# Idempotent: when every package is already installed it prints nothing and
# makes no network access; otherwise it runs `apt-get update` once and installs
# only what is missing. Non-interactive (DEBIAN_FRONTEND=noninteractive), so
# it also runs in a minimal container. Must run as root (or with sudo on
# PATH).
set -eu

BUILD_PACKAGES="
build-essential
cmake
pkg-config
ca-certificates
librdkafka-dev
libcurl4-openssl-dev
libjansson-dev
libconfig-dev
libmicrohttpd-dev
"

# Tests, fuzzing and lint: clang for the sanitizer and fuzz builds,
# python3 with PyYAML for the demo and the lint_docker test.
TEST_PACKAGES="
git
libcmocka-dev
clang
libclang-rt-14-dev
clang-format
python3
python3-yaml
"

PACKAGES="$BUILD_PACKAGES $TEST_PACKAGES"
if [ "${1:-}" = "--build-only" ]; then
        PACKAGES=$BUILD_PACKAGES
        shift
fi

# Extra packages a caller needs.
[ "$#" -gt 0 ] && PACKAGES="$PACKAGES $*"

missing=""
for pkg in $PACKAGES; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null ||
                true)
        [ "$status" = "installed" ] || missing="$missing $pkg"
done

[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || {
                echo "install-deps.sh: need root (or sudo) to install:$missing" >&2
                exit 1
        }
        SUDO=sudo
fi

echo "install-deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086 # word splitting of the package list is intended
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "install-deps.sh: done"
