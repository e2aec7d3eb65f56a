#!/usr/bin/env bash
# Installs the Debian packages the toolchain needs to build and test. Idempotent: does nothing
# when everything is present; uses sudo when not run as root.
set -euo pipefail

packages=(
  build-essential cmake ninja-build
  libflatbuffers-dev flatbuffers-compiler
  libcli11-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev nlohmann-json3-dev libbenchmark-dev
  libyaml-cpp-dev
  libonnx-dev libprotobuf-dev libonnx-testdata # ONNX import; the ONNX conformance tests
  libopenblas-dev # benchmark-only yardstick (kpu-perf); never linked into the toolchain
  libopenmpi-dev openmpi-bin # kpu-sweep under mpirun (docs/dse.md)
  clang-format
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
