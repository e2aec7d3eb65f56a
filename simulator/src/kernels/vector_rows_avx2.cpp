// The AVX2+FMA row kernels (algorithms in vector_rows_impl.h). Compiled with -mavx2 -mfma;
// called only after the cpuid check in avx2RowKernels().
#include <immintrin.h>

#include "kernels/vector_rows_impl.h"

namespace kpu::sim::vec {
namespace {

using simd::Full;
using simd::Part;

struct Avx2 {
    using V = __m256;
    using M = __m256; // all-ones lanes
    static constexpr int L = 8;

    static __m256i lanes(int count) {
        return _mm256_cmpgt_epi32(_mm256_set1_epi32(count),
                                  _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    }
    static V load(const float* p, Full) { return _mm256_loadu_ps(p); }
    static V load(const float* p, Part part) { return _mm256_maskload_ps(p, lanes(part.count)); }
    static void store(float* p, Full, V v) { _mm256_storeu_ps(p, v); }
    static void store(float* p, Part part, V v) { _mm256_maskstore_ps(p, lanes(part.count), v); }
    static M firstLanes(int count) { return _mm256_castsi256_ps(lanes(count)); }

    static V set1(float x) { return _mm256_set1_ps(x); }
    static V zero() { return _mm256_setzero_ps(); }
    static V add(V a, V b) { return _mm256_add_ps(a, b); }
    static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
    static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
    static V div(V a, V b) { return _mm256_div_ps(a, b); }
    static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
    static V fnma(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }
    static V maxps(V a, V b) { return _mm256_max_ps(a, b); }
    static V minps(V a, V b) { return _mm256_min_ps(a, b); }
    static V neg(V a) { return _mm256_xor_ps(a, _mm256_set1_ps(-0.0f)); }
    static V abs(V a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
    static V copySign(V mag, V sign) {
        const V s = _mm256_set1_ps(-0.0f);
        return _mm256_or_ps(_mm256_andnot_ps(s, mag), _mm256_and_ps(s, sign));
    }
    static V roundNearest(V a) {
        return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
    static V trunc(V a) { return _mm256_round_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC); }
    static M lt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
    static M isNan(V a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
    static V select(M m, V ifFalse, V ifTrue) { return _mm256_blendv_ps(ifFalse, ifTrue, m); }
    static V pow2(V n) {
        const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
        return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
    }
    static float hsum(V a) {
        const __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
        const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
        return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
    }
};

} // namespace

const RowKernels& avx2RowTable() {
    static const RowKernels table = simd::makeRowKernels<Avx2>("avx2");
    return table;
}

} // namespace kpu::sim::vec
