// The OpenBLAS yardstick: single-thread cblas_sgemm on n x n x n fp32 matrices, run in a child
// process because OpenBLAS reads OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE and OPENBLAS_NUM_THREADS
// when it is loaded: `kpu-perf --openblas-child N` does one warm-up multiply, then times one,
// and prints "seconds <t> core <OpenBLAS core name>".
#pragma once

namespace kpu::perf {

// Whether this build of kpu-perf has OpenBLAS (an optional, benchmark-only dependency).
bool haveOpenBlas();

// The child mode's main: returns the exit status.
int openBlasChild(int n);

} // namespace kpu::perf
