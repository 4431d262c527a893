#!/bin/sh
# Lint (ctest label "lint"): every symbol our static libraries export starts
# with pmw_ (STYLE.md section 2), so nothing clashes with librdkafka, curl or
# a user's code. Arguments: the archives to check.
set -eu
bad=$(nm -g --defined-only "$@" 2>/dev/null |
        awk 'NF == 3 && $2 ~ /[TDBR]/ { print $3 }' |
        grep -v '^pmw_' | grep -v '^__' || true)
if [ -n "$bad" ]; then
        echo "exported symbols without the pmw_ prefix (make them static):"
        echo "$bad"
        exit 1
fi
echo "all exported symbols start with pmw_"
