#!/usr/bin/env bash
# A fuzzing campaign (docs/fuzzing.md): builds the libFuzzer targets with clang, ASan and UBSan
# into build-fuzz/ (or $FUZZ_BUILD_DIR), seeds each target's corpus from the .dfg corpus,
# examples, fixtures and compiled objects, and runs every named target (all by default) for
# --time seconds, --jobs targets at a time. Findings land in fuzz-work/<target>/findings/;
# the summary gives executions, corpus size, coverage and findings per target.
#
#   scripts/fuzz.sh [--time SECONDS] [--jobs N] [target ...]
#   targets: dfg object config-json config-yaml npy onnx tensorproto
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
work=${FUZZ_WORK_DIR:-$root/fuzz-work}
shared=${KPU_SHARED_DIR:-$root/../shared}
seconds=600
jobs=$(nproc)
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) seconds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(dfg object config-json config-yaml npy onnx tensorproto)

# The newest clang that has libFuzzer (Debian: clang-N and libclang-rt-N-dev).
if [ -z "${CXX:-}" ]; then
  for v in 19 18 17 16; do
    if command -v "clang++-$v" >/dev/null && [ -n "$(ls /usr/lib/llvm-$v/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null)" ]; then
      export CC=clang-$v CXX=clang++-$v
      break
    fi
  done
fi
if [ -z "${CXX:-}" ]; then
  echo "fuzz.sh: no clang with libFuzzer found; install clang-16 libclang-rt-16-dev" >&2
  exit 1
fi

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKPU_FUZZ=ON \
  -DKPU_BUILD_BENCHMARKS=OFF -DKPU_SHARED_DIR="$shared" >/dev/null
cmake --build "$build" --parallel "$(nproc)" --target kpu-kernel-compiler \
  $(printf 'fuzz-%s ' "${targets[@]}")

# Seed corpora. Files bigger than 256 KiB are left out: libFuzzer's -max_len follows the
# biggest seed, and big inputs make every execution slow.
seed() { # seed TARGET FILE...
  local dir=$work/$1/seeds; shift
  mkdir -p "$dir"
  for f in "$@"; do
    [ -f "$f" ] && [ "$(stat -c %s "$f")" -le 262144 ] || continue
    cp "$f" "$dir/$(echo "$f" | md5sum | cut -c1-12)-$(basename "$f")"
  done
}
onnx_data=/usr/share/libonnx-testdata/data
rm -rf "$work"/*/seeds
for t in "${targets[@]}"; do
  case "$t" in
    dfg) seed dfg $(find "$shared/dfg-corpus" "$root/examples" "$root/tests/fixtures/dfg" "$root/tests/golden" -name '*.dfg') ;;
    object)
      objects=$work/object/compiled; mkdir -p "$objects"
      for f in $(find "$root/examples" -name '*.dfg') $(find "$shared/dfg-corpus" -name '*.dfg' | head -20); do
        name=$(basename "$f" .dfg)-$(echo "$f" | md5sum | cut -c1-6)
        "$build/compiler/kpu-kernel-compiler" "$f" -o "$objects/$name.kpu" 2>/dev/null || true
        "$build/compiler/kpu-kernel-compiler" "$f" --explicit-ops -o "$objects/$name.explicit.kpu" 2>/dev/null || true
      done
      seed object "$objects"/*.kpu "$root"/tests/fixtures/objects/*.kpu ;;
    config-json) seed config-json "$shared"/kpu-configs/upstream/*.json "$root"/tests/fixtures/config/*.json ;;
    config-yaml) seed config-yaml "$root"/tests/fixtures/config/*.yaml "$shared"/kpu-configs/upstream/*.json ;;
    npy) seed npy $(find "$root/tests/fixtures/npy" "$root/examples" -name '*.npy') ;;
    onnx) seed onnx "$root"/examples/onnx/*.onnx $(find "$onnx_data" -name model.onnx 2>/dev/null | sort | awk 'NR % 4 == 0') ;;
    tensorproto) seed tensorproto $(find "$root/examples" "$onnx_data" -name '*.pb' 2>/dev/null | sort | awk 'NR % 8 == 0') ;;
    *) echo "fuzz.sh: unknown target '$t'" >&2; exit 1 ;;
  esac
done

run() { # run TARGET
  local t=$1 dict=()
  case "$t" in
    dfg) dict=(-dict="$root/tests/fuzz/dfg.dict") ;;
    config-*) dict=(-dict="$root/tests/fuzz/config.dict") ;;
  esac
  # findings/ holds this campaign's findings only (keep one by copying it to
  # tests/fuzz/regressions/); the corpus carries over from campaign to campaign.
  rm -rf "$work/$t/findings"
  mkdir -p "$work/$t/corpus" "$work/$t/findings"
  # -rss_limit_mb / -malloc_limit_mb: a reader that allocates more than 2 GiB for a small input
  # is a finding too; -timeout: an input that takes 10 s is a hang. -fork=1 with -ignore_*:
  # a finding is written to findings/ and the campaign goes on for its whole time.
  "$build/tests/fuzz/fuzz-$t" "${dict[@]}" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2560 -malloc_limit_mb=2048 -fork=1 -ignore_crashes=1 -ignore_timeouts=1 \
    -ignore_ooms=1 -artifact_prefix="$work/$t/findings/" "$work/$t/corpus" "$work/$t/seeds" \
    >"$work/$t/log.txt" 2>&1 || true
}
pids=()
for t in "${targets[@]}"; do
  run "$t" &
  pids+=($!)
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
done
wait

# Fork mode logs "#<executions>: cov: <edges> ft: <features> corp: <units> exec/s: <rate> ...".
printf '%-12s %12s %8s %8s %8s %s\n' target executions exec/s corpus edges findings
for t in "${targets[@]}"; do
  last=$(grep -E '^#[0-9]+: cov:' "$work/$t/log.txt" | tail -1)
  execs=$(echo "$last" | sed -E 's/^#([0-9]+):.*/\1/')
  cov=$(echo "$last" | sed -E 's/.* cov: ([0-9]+).*/\1/')
  rate=$(echo "$last" | sed -E 's/.* exec\/s: ([0-9]+).*/\1/')
  corpus=$(ls "$work/$t/corpus" | wc -l)
  findings=$(ls "$work/$t/findings" | wc -l)
  printf '%-12s %12s %8s %8s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$corpus" "${cov:-?}" "$findings"
done
