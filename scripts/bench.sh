#!/usr/bin/env bash
# Builds the toolchain (Release, into build/ or $BUILD_DIR) and runs kpu-perf, which prints
# every speed figure of issue 5 with its yardstick, ratio and target (docs/performance.md).
# Arguments go to kpu-perf, e.g.  scripts/bench.sh --json perf.json  or  scripts/bench.sh --quick
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}
BUILD_DIR="$build_dir" "$root/scripts/build.sh"
exec "$build_dir/bench/kpu-perf" --build-dir "$build_dir" "$@"
