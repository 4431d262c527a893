#!/bin/sh
# Lint (ctest label "lint"): every tracked or new C file is formatted as
# .clang-format says. Prints the files that are not, and how to fix them.
set -eu
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null 2>&1 || {
        echo "clang-format not found (docker/install-deps.sh installs it)" >&2
        exit 1
}
bad=""
for f in $(find common config worker tests -name '*.[ch]' | sort); do
        clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
done
if [ -n "$bad" ]; then
        echo "not formatted:$bad"
        echo "fix with: clang-format -i$bad"
        exit 1
fi
echo "all C files formatted"
