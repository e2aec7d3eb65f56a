// Tile kernels: the host code that computes what one processor-array operation computes.
// Every kernel type has one signature; a table holds one implementation per entry. The
// reference table is filled first, optimised kernels override entries when the CPU has the
// instructions (BLIS-style contexts). Tests compare every implementation with the reference.
#pragma once

#include <cstdint>
#include <string_view>

namespace kpu::sim {

// C[m x n] (+)= A[m x k] * B[k x n], row-major with leading dimensions in elements.
// With accumulate == false, C is overwritten (its prior contents are ignored, NaNs included).
// Any m, n, k >= 0 is valid (edge tiles included); k == 0 with accumulate == false zeroes C.
struct GemmF32Args {
    std::int64_t m = 0, n = 0, k = 0;
    const float* a = nullptr;
    std::int64_t lda = 0;
    const float* b = nullptr;
    std::int64_t ldb = 0;
    float* c = nullptr;
    std::int64_t ldc = 0;
    bool accumulate = false;
};
using GemmF32Fn = void (*)(const GemmF32Args&);

struct GemmF64Args {
    std::int64_t m = 0, n = 0, k = 0;
    const double* a = nullptr;
    std::int64_t lda = 0;
    const double* b = nullptr;
    std::int64_t ldb = 0;
    double* c = nullptr;
    std::int64_t ldc = 0;
    bool accumulate = false;
};
using GemmF64Fn = void (*)(const GemmF64Args&);

// Names say type/ISA/shape, e.g. "sgemm_avx2_6x16".
struct TileKernels {
    GemmF32Fn sgemm = nullptr;
    std::string_view sgemmName;
    GemmF64Fn dgemm = nullptr;
    std::string_view dgemmName;
};

// Kernel sets, for tests and benchmarks.
const TileKernels& referenceKernels();
// The reference set with AVX2+FMA entries overriding, or nullptr if the CPU lacks AVX2/FMA.
const TileKernels* avx2Kernels();
// The reference set with AVX-512 entries overriding, or nullptr if the CPU lacks AVX-512 F
// (or AVX2/FMA, which the AVX-512 files are also compiled for).
const TileKernels* avx512Kernels();
// The best set this CPU supports, chosen once by cpuid: AVX-512, then AVX2, then reference.
const TileKernels& selectedKernels();

} // namespace kpu::sim
