#!/usr/bin/env bash
# Builds the toolchain (Release, into build/ or $BUILD_DIR) and runs the ONNX backend test data
# (Debian libonnx-testdata) through kpu-kernel-compiler and kpu-loader, rewriting
# docs/onnx-conformance.md. Arguments go to kpu-onnx-conformance, e.g. --filter conv.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}
BUILD_DIR="$build_dir" "$root/scripts/build.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$build_dir/tests/kpu-onnx-conformance" \
  --compiler "$build_dir/compiler/kpu-kernel-compiler" --loader "$build_dir/loader/kpu-loader" \
  --work "$work" --jobs "$(nproc)" --report "$root/docs/onnx-conformance.md" "$@"
