#!/bin/sh
# Installs the Debian (bookworm) packages that building, testing, fuzzing and
# running postmark-worker need. Shared by README.md, .ci/run and the
# Dockerfile's build stage.
#
# Idempotent: when every package is already installed it prints nothing and
# makes no network access; otherwise it runs `apt-get update` once and installs
# only what is missing. Must run as root (or with sudo on PATH).
set -eu

PACKAGES="
build-essential
cmake
pkg-config
git
ca-certificates
librdkafka-dev
libcurl4-openssl-dev
libjansson-dev
libconfig-dev
libmicrohttpd-dev
libcmocka-dev
clang
libclang-rt-14-dev
clang-format
python3
"

# Extra packages a caller needs (the Dockerfile's runtime stage passes none).
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
