// AVX2+FMA gemm kernels. Declarations only: safe to include from baseline code, but call these
// functions only after checking that the CPU has AVX2 and FMA.
#pragma once

#include "kpu/simulator/tile_kernels.h"

namespace kpu::sim {

// The production kernels ("sgemm_avx2_6x16", "dgemm_avx2_6x8").
void sgemmAvx2(const GemmF32Args& args);
void dgemmAvx2(const GemmF64Args& args);

// The same kernels with a forced B-panel policy, for tests and benchmarks: B read in place
// (edge panels are still packed) or every panel packed.
void sgemmAvx2Direct(const GemmF32Args& args);
void sgemmAvx2Packed(const GemmF32Args& args);
void dgemmAvx2Direct(const GemmF64Args& args);
void dgemmAvx2Packed(const GemmF64Args& args);

} // namespace kpu::sim
