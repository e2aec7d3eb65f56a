// The cpuid checks that gate the ISA-specific kernels (tile_kernels.cpp, vector_rows.cpp).
#pragma once

namespace kpu::sim {

// What the *_avx2.cpp files are compiled for (with F16C, which every AVX2 CPU has).
inline bool cpuHasAvx2Fma() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

// What the *_avx512.cpp files are compiled for: AVX-512 F, DQ, BW and VL, plus AVX2 and FMA.
inline bool cpuHasAvx512() {
    return cpuHasAvx2Fma() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
}

} // namespace kpu::sim
