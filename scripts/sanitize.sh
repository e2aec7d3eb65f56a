#!/usr/bin/env bash
# The suite under sanitizers (docs/fuzzing.md, "Sanitizer builds"):
#  - ASan + UBSan: the whole ctest suite, the command-line tools the end-to-end tests spawn
#    included, built into build-asan/ (or $ASAN_BUILD_DIR);
#  - TSan: the simulator's tests that run it functionally on several threads and check that the
#    results do not depend on it, and the concurrent tile-kernel tests, built into build-tsan/
#    (or $TSAN_BUILD_DIR).
# Any sanitizer report fails the test that triggered it. scripts/test.sh runs this after the
# Release suite; run it alone to check a change under the sanitizers.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
asan_dir=${ASAN_BUILD_DIR:-$root/build-asan}
tsan_dir=${TSAN_BUILD_DIR:-$root/build-tsan}
jobs=$(nproc)

# -O1: sanitizer builds are for finding bugs; it compiles fast and keeps stack traces exact.
common=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1"
        -DKPU_BUILD_BENCHMARKS=OFF)
if [ -n "${KPU_SHARED_DIR:-}" ]; then common+=(-DKPU_SHARED_DIR="$KPU_SHARED_DIR"); fi

echo "== ASan + UBSan: the whole suite"
cmake -S "$root" -B "$asan_dir" "${common[@]}" -DKPU_SANITIZE=address,undefined >/dev/null
cmake --build "$asan_dir" --parallel "$jobs"
ASAN_OPTIONS=abort_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$asan_dir" --output-on-failure --parallel "$jobs" --timeout 900

echo "== TSan: the threaded simulator's determinism tests"
cmake -S "$root" -B "$tsan_dir" "${common[@]}" -DKPU_SANITIZE=thread >/dev/null
# The simulator's and the tile kernels' own tests (threads 1, 2 and 4 against one another): the
# loader's FunctionalModes tests run the same threaded code on whole graphs, under ASan above,
# but would add the compiler and the loader to this build for no code TSan does not already see.
cmake --build "$tsan_dir" --parallel "$jobs" --target kpu_simulator_tests kpu_kernels_tests
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
"$tsan_dir/tests/kpu_simulator_tests" --gtest_filter='SimulatorFunctional.*:SimulatorRun.*'
"$tsan_dir/tests/kpu_kernels_tests" --gtest_filter='*ConcurrentThreads*'
