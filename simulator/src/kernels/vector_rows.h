// Row kernels: the contiguous f32 loops that the vector operators and the GEMM epilogue
// (vector_kernels.cpp) are built of, one table per ISA (scalar, AVX2, AVX-512), selected at
// runtime by cpuid like the tile kernels.
//
// Exactness: the elementwise arithmetic (add, sub, mul, div, mulAdd, negate, abs, reciprocal),
// max/min/relu/clamp and the max/min reductions give the same bits on every ISA, NaNs and
// signed zeros included (max(a, b) is std::max(a, b): a unless a < b). The transcendentals
// and the sum reduction may differ from the scalar table (which calls std::exp, std::tanh,
// std::erf and sums in order): exp, sigmoid and tanh are within 3 ulp, gelu within 2e-7
// absolute plus 4 ulp, the sum is computed in vector lanes (a different association).
#pragma once

#include <cstdint>
#include <string_view>

namespace kpu::sim::vec {

// out[j] = f(a[j * sa], b[j * sb]) for j < n, where sa and sb are 1 or 0 (0: a broadcast
// scalar). out may be a or b (same index).
using BinaryRowFn = void (*)(float* out, const float* a, std::int64_t sa, const float* b,
                             std::int64_t sb, std::int64_t n);
// out[j] = f(a[j]) for j < n; lo and hi are clamp's bounds (ignored by the others). out may
// be a.
using UnaryRowFn = void (*)(float* out, const float* a, std::int64_t n, float lo, float hi);
// out[j] += a[j] * b[j] (a product then a sum: two roundings, as the scalar code does).
using MulAddRowFn = void (*)(float* out, const float* a, const float* b, std::int64_t n);
// The reduction of a[0 .. n), n >= 1, combining from a[0] in order for max and min.
using ReduceRowFn = float (*)(const float* a, std::int64_t n);

struct RowKernels {
    std::string_view isa; // "scalar", "avx2", "avx512"
    BinaryRowFn add, sub, mul, div, max, min;
    MulAddRowFn mulAdd;
    UnaryRowFn relu, clamp, negate, abs, reciprocal, exp, sigmoid, tanh, gelu;
    ReduceRowFn sum, maxOf, minOf;
};

// The scalar table: plain loops, the fallback and the oracle of the tests.
const RowKernels& scalarRowKernels();
// The AVX2+FMA table, or nullptr if the CPU lacks AVX2/FMA.
const RowKernels* avx2RowKernels();
// The AVX-512 table, or nullptr if the CPU lacks AVX-512 F/DQ/BW/VL.
const RowKernels* avx512RowKernels();
// The best table this CPU supports (AVX-512, then AVX2, then scalar), chosen once.
const RowKernels& selectedRowKernels();

// The ISA-specific tables (defined in vector_rows_avx2.cpp / vector_rows_avx512.cpp; use only
// after the cpuid checks above).
const RowKernels& avx2RowTable();
const RowKernels& avx512RowTable();

} // namespace kpu::sim::vec
