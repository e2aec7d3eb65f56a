// The AVX-512 row kernels (algorithms in vector_rows_impl.h). Compiled with AVX-512 F/DQ/BW/VL;
// called only after the cpuid check in avx512RowKernels().
// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() as the (ignored) merge source of
// their unmasked forms, which -Wuninitialized reports once inlined at -O3 (a GCC bug).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include "kernels/vector_rows_impl.h"

namespace kpu::sim::vec {
namespace {

using simd::Full;
using simd::Part;

struct Avx512 {
    using V = __m512;
    using M = __mmask16;
    static constexpr int L = 16;

    static M firstLanes(int count) { return static_cast<M>((1u << count) - 1u); }
    static V load(const float* p, Full) { return _mm512_loadu_ps(p); }
    static V load(const float* p, Part part) {
        return _mm512_maskz_loadu_ps(firstLanes(part.count), p);
    }
    static void store(float* p, Full, V v) { _mm512_storeu_ps(p, v); }
    static void store(float* p, Part part, V v) {
        _mm512_mask_storeu_ps(p, firstLanes(part.count), v);
    }

    static V set1(float x) { return _mm512_set1_ps(x); }
    static V zero() { return _mm512_setzero_ps(); }
    static V add(V a, V b) { return _mm512_add_ps(a, b); }
    static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
    static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
    static V div(V a, V b) { return _mm512_div_ps(a, b); }
    static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
    static V fnma(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }
    static V maxps(V a, V b) { return _mm512_max_ps(a, b); }
    static V minps(V a, V b) { return _mm512_min_ps(a, b); }
    static V neg(V a) { return _mm512_xor_ps(a, _mm512_set1_ps(-0.0f)); }
    static V abs(V a) { return _mm512_abs_ps(a); }
    static V copySign(V mag, V sign) {
        const V s = _mm512_set1_ps(-0.0f);
        return _mm512_or_ps(_mm512_andnot_ps(s, mag), _mm512_and_ps(s, sign));
    }
    static V roundNearest(V a) {
        return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
    static V trunc(V a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC); }
    static M lt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
    static M isNan(V a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
    static V select(M m, V ifFalse, V ifTrue) { return _mm512_mask_blend_ps(m, ifFalse, ifTrue); }
    static V pow2(V n) {
        const __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127));
        return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
    }
    static float hsum(V a) { return _mm512_reduce_add_ps(a); }
};

} // namespace

const RowKernels& avx512RowTable() {
    static const RowKernels table = simd::makeRowKernels<Avx512>("avx512");
    return table;
}

} // namespace kpu::sim::vec
