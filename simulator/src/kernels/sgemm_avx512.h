// AVX-512 gemm kernels. Declarations only: safe to include from baseline code, but call these
// functions only after checking that the CPU has AVX-512 F (avx512Kernels() does).
#pragma once

#include "kpu/simulator/tile_kernels.h"

namespace kpu::sim {

// The production kernels ("sgemm_avx512_14x32", "dgemm_avx512_14x16").
void sgemmAvx512(const GemmF32Args& args);
void dgemmAvx512(const GemmF64Args& args);

// The same kernels with a forced B-panel policy, for tests and benchmarks: B read in place or
// every panel copied.
void sgemmAvx512Direct(const GemmF32Args& args);
void sgemmAvx512Packed(const GemmF32Args& args);
void dgemmAvx512Direct(const GemmF64Args& args);
void dgemmAvx512Packed(const GemmF64Args& args);

} // namespace kpu::sim
