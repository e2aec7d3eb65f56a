#!/bin/sh
# ctest kpu_perf_smoke: runs kpu-perf (the arguments) and checks that it exits 0 and prints the
# table header. Speed figures are reported, never asserted.
out=$("$@") || { printf '%s\n' "$out"; exit 1; }
printf '%s\n' "$out"
printf '%s\n' "$out" | grep -q '^figure  *median  *min  *max'
