#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build (Release), compile
# examples/matmul.dfg, run it on the embedded default KPU and print the report.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh"
bin=${BUILD_DIR:-$root/build}
mkdir -p "$root/out"
"$bin/compiler/kpu-kernel-compiler" "$root/examples/matmul.dfg" -o "$root/out/matmul.kpu"
"$bin/loader/kpu-loader" "$root/out/matmul.kpu"
