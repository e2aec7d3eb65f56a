#!/usr/bin/env bash
# The whole test suite on a fresh machine: install what is missing, build, run ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
ctest --test-dir "${BUILD_DIR:-$root/build}" --output-on-failure --parallel "$(nproc)"
