#!/usr/bin/env bash
# The whole test suite on a fresh machine: install what is missing, build (Release), run ctest;
# then the same suite under ASan + UBSan and the threaded determinism tests under TSan
# (scripts/sanitize.sh). KPU_SKIP_SANITIZERS=1 stops after the Release suite.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
ctest --test-dir "${BUILD_DIR:-$root/build}" --output-on-failure --parallel "$(nproc)"
if [ "${KPU_SKIP_SANITIZERS:-0}" != 1 ]; then
  "$root/scripts/sanitize.sh"
fi
