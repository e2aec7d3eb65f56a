// The row kernels of vector_rows.h written once over a SIMD traits struct S; the ISA files
// (vector_rows_avx2.cpp, vector_rows_avx512.cpp) define S and instantiate makeRowKernels<S>.
// Include this header only from those files: S wraps ISA-specific intrinsics.
//
// S provides: V (a vector of S::L floats), M (a lane mask), the tags Full / Part (a whole
// vector, or the first `count` lanes: loads zero the others, stores leave them untouched),
// load/store for both tags, set1, add, sub, mul, div, fma, maxps/minps (the x86 max/min: the
// second operand when either is NaN or both are zeros), fnma (c - a b), neg, abs, copySign,
// roundNearest, trunc, the compares lt/isNan and firstLanes (masks), select(m, ifFalse,
// ifTrue), pow2 (2^n for integral n in [-126, 127]) and hsum (the sum of the lanes).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "kernels/vector_rows.h"

namespace kpu::sim::vec::simd {

struct Full {};
struct Part {
    int count;
};

// Calls f(j, Full{}) for every whole vector of n elements and f(j, Part{count}) for the rest.
template <class S, class F>
inline void forVectors(std::int64_t n, F&& f) {
    std::int64_t j = 0;
    for (; j + S::L <= n; j += S::L)
        f(j, Full{});
    if (j < n)
        f(j, Part{static_cast<int>(n - j)});
}

// ---- Elementwise --------------------------------------------------------------------------

// The broadcast cases are separate loops (no per-vector choice between a load and a splat).
template <class S, class Op>
inline void binaryRow(float* out, const float* a, std::int64_t sa, const float* b, std::int64_t sb,
                      std::int64_t n, Op op) {
    using V = typename S::V;
    const auto loop = [&](auto loadA, auto loadB) {
        forVectors<S>(n, [&](std::int64_t j, auto part) {
            S::store(out + j, part, op(loadA(j, part), loadB(j, part)));
        });
    };
    const auto row = [](const float* p) {
        return [p](std::int64_t j, auto part) { return S::load(p + j, part); };
    };
    const auto splat = [](const float* p) {
        return [v = S::set1(p[0])](std::int64_t, auto) -> V { return v; };
    };
    if (sa != 0 && sb != 0)
        loop(row(a), row(b));
    else if (sa != 0)
        loop(row(a), splat(b));
    else if (sb != 0)
        loop(splat(a), row(b));
    else
        loop(splat(a), splat(b));
}

template <class S, class Op>
inline void unaryRow(float* out, const float* a, std::int64_t n, Op op) {
    forVectors<S>(
        n, [&](std::int64_t j, auto part) { S::store(out + j, part, op(S::load(a + j, part))); });
}

// ---- Transcendentals ----------------------------------------------------------------------

// exp(x) within 2 ulp (Cephes expf: x = n ln2 + r, |r| <= ln2 / 2, a degree-7 polynomial for
// e^r). Subnormal results are exact to one rounding (2^n is applied in two halves), results
// below 2^-150 are 0, above FLT_MAX inf; NaN stays NaN.
template <class S>
inline typename S::V expV(typename S::V x) {
    using V = typename S::V;
    const V xc = S::minps(S::maxps(x, S::set1(-104.0f)), S::set1(88.8f));
    const V n = S::roundNearest(S::mul(xc, S::set1(1.44269504088896341f)));
    V r = S::fma(n, S::set1(-0.693359375f), xc);
    r = S::fma(n, S::set1(2.12194440e-4f), r);
    V p = S::set1(1.9875691500e-4f);
    p = S::fma(p, r, S::set1(1.3981999507e-3f));
    p = S::fma(p, r, S::set1(8.3334519073e-3f));
    p = S::fma(p, r, S::set1(4.1665795894e-2f));
    p = S::fma(p, r, S::set1(1.6666665459e-1f));
    p = S::fma(p, r, S::set1(5.0000001201e-1f));
    p = S::fma(p, S::mul(r, r), S::add(r, S::set1(1.0f)));
    // 2^n as 2^h * 2^(n - h), h = trunc(n / 2): both halves stay normal for n in [-150, 128].
    const V h = S::trunc(S::mul(n, S::set1(0.5f)));
    const V e = S::mul(S::mul(p, S::pow2(h)), S::pow2(S::sub(n, h)));
    return S::select(S::isNan(x), e, x);
}

template <class S>
inline typename S::V sigmoidV(typename S::V x) {
    const auto one = S::set1(1.0f);
    return S::div(one, S::add(one, expV<S>(S::neg(x))));
}

// tanh(x) within 3 ulp (Cephes tanhf): an odd polynomial for |x| < 0.625, else
// 1 - 2 / (exp(2|x|) + 1) with the sign of x.
template <class S>
inline typename S::V tanhV(typename S::V x) {
    using V = typename S::V;
    const V ax = S::abs(x);
    const V z = S::mul(x, x);
    V p = S::set1(-5.70498872745e-3f);
    p = S::fma(p, z, S::set1(2.06390887954e-2f));
    p = S::fma(p, z, S::set1(-5.37397155531e-2f));
    p = S::fma(p, z, S::set1(1.33314422036e-1f));
    p = S::fma(p, z, S::set1(-3.33332819422e-1f));
    const V small = S::fma(S::mul(p, z), x, x);
    const V one = S::set1(1.0f);
    const V e = expV<S>(S::add(ax, ax));
    const V big = S::sub(one, S::div(S::set1(2.0f), S::add(e, one)));
    const V signedBig = S::copySign(big, x);
    return S::select(S::lt(ax, S::set1(0.625f)), signedBig, small);
}

// gelu(x) = x/2 (1 + erf(x / sqrt 2)), with erfc(|t|) from the Numerical Recipes Chebyshev
// fit (fractional error < 1.2e-7): t exp(-z^2 + P(t)), t = 1 / (1 + z / 2), z = |x| / sqrt 2.
template <class S>
inline typename S::V geluV(typename S::V x) {
    using V = typename S::V;
    const V z = S::mul(S::abs(x), S::set1(0.70710678118654752f));
    const V t = S::div(S::set1(1.0f), S::fma(z, S::set1(0.5f), S::set1(1.0f)));
    V p = S::set1(0.17087277f);
    p = S::fma(p, t, S::set1(-0.82215223f));
    p = S::fma(p, t, S::set1(1.48851587f));
    p = S::fma(p, t, S::set1(-1.13520398f));
    p = S::fma(p, t, S::set1(0.27886807f));
    p = S::fma(p, t, S::set1(-0.18628806f));
    p = S::fma(p, t, S::set1(0.09678418f));
    p = S::fma(p, t, S::set1(0.37409196f));
    p = S::fma(p, t, S::set1(1.00002368f));
    p = S::fma(p, t, S::set1(-1.26551223f));
    const V erfc = S::mul(t, expV<S>(S::fnma(z, z, p)));
    // x >= 0: x (1 - erfc / 2); x < 0: x erfc / 2 (erf is odd).
    const V half = S::set1(0.5f);
    const V pos = S::mul(x, S::fnma(erfc, half, S::set1(1.0f)));
    const V neg = S::mul(S::mul(x, half), erfc);
    return S::select(S::lt(x, S::zero()), pos, neg);
}

// ---- Reductions ---------------------------------------------------------------------------

template <class S>
inline float sumRow(const float* a, std::int64_t n) {
    using V = typename S::V;
    V acc0 = S::zero(), acc1 = S::zero();
    std::int64_t j = 0;
    for (; j + 2 * S::L <= n; j += 2 * S::L) {
        acc0 = S::add(acc0, S::load(a + j, Full{}));
        acc1 = S::add(acc1, S::load(a + j + S::L, Full{}));
    }
    forVectors<S>(
        n - j, [&](std::int64_t i, auto part) { acc0 = S::add(acc0, S::load(a + j + i, part)); });
    return S::hsum(S::add(acc0, acc1));
}

// std::max / std::min folded over a[0 .. n) from a[0]: NaNs after a[0] are skipped and ties
// keep the first of equal values. Each lane folds its own elements in order; when lanes must
// decide between +0 and -0 the order across lanes matters, and the scalar fold runs instead.
template <class S, bool IsMax>
inline float extremumRow(const float* a, std::int64_t n) {
    using V = typename S::V;
    const auto fold = [](float acc, float x) {
        return IsMax ? std::max(acc, x) : std::min(acc, x);
    };
    if (std::isnan(a[0]) || n < S::L) {
        float acc = a[0];
        for (std::int64_t j = 1; j < n; ++j)
            acc = fold(acc, a[j]);
        return acc;
    }
    V acc = S::set1(a[0]);
    forVectors<S>(n, [&](std::int64_t j, auto part) {
        // Lanes past the end read a[0] again, which changes nothing.
        V x = S::load(a + j, part);
        if constexpr (std::is_same_v<decltype(part), Part>)
            x = S::select(S::firstLanes(part.count), acc, x);
        acc = IsMax ? S::maxps(x, acc) : S::minps(x, acc);
    });
    float lanes[S::L];
    S::store(lanes, Full{}, acc);
    float r = lanes[0];
    for (int i = 1; i < S::L; ++i)
        r = fold(r, lanes[i]);
    if (r == 0.0f) { // which zero comes first depends on the order across lanes
        r = a[0];
        for (std::int64_t j = 1; j < n; ++j)
            r = fold(r, a[j]);
    }
    return r;
}

// ---- The table ----------------------------------------------------------------------------

// A table entry for the elementwise operation Op (a captureless lambda on vectors).
template <class S, auto Op>
void binaryEntry(float* out, const float* a, std::int64_t sa, const float* b, std::int64_t sb,
                 std::int64_t n) {
    binaryRow<S>(out, a, sa, b, sb, n, Op);
}

template <class S>
RowKernels makeRowKernels(std::string_view isa) {
    using V = typename S::V;
    RowKernels k{};
    k.isa = isa;
    // Each operation is a captureless lambda bound at compile time (binaryEntry): passed as a
    // function pointer such as S::add it would be an indirect call per vector.
    k.add = binaryEntry<S, [](V x, V y) { return S::add(x, y); }>;
    k.sub = binaryEntry<S, [](V x, V y) { return S::sub(x, y); }>;
    k.mul = binaryEntry<S, [](V x, V y) { return S::mul(x, y); }>;
    k.div = binaryEntry<S, [](V x, V y) { return S::div(x, y); }>;
    // std::max(x, y) is y when x < y, else x: maxps(y, x) (x when unordered or equal).
    k.max = binaryEntry<S, [](V x, V y) { return S::maxps(y, x); }>;
    // std::min(x, y) is y when y < x, else x: minps(y, x).
    k.min = binaryEntry<S, [](V x, V y) { return S::minps(y, x); }>;
    k.mulAdd = [](float* o, const float* a, const float* b, std::int64_t n) {
        forVectors<S>(n, [&](std::int64_t j, auto part) {
            const V prod = S::mul(S::load(a + j, part), S::load(b + j, part));
            S::store(o + j, part, S::add(S::load(o + j, part), prod));
        });
    };
    k.relu = [](float* o, const float* a, std::int64_t n, float, float) {
        unaryRow<S>(o, a, n, [](V x) { return S::maxps(S::zero(), x); });
    };
    k.clamp = [](float* o, const float* a, std::int64_t n, float lo, float hi) {
        const V vlo = S::set1(lo), vhi = S::set1(hi);
        unaryRow<S>(o, a, n, [&](V x) { return S::minps(vhi, S::maxps(vlo, x)); });
    };
    k.negate = [](float* o, const float* a, std::int64_t n, float, float) {
        unaryRow<S>(o, a, n, S::neg);
    };
    k.abs = [](float* o, const float* a, std::int64_t n, float, float) {
        unaryRow<S>(o, a, n, S::abs);
    };
    k.reciprocal = [](float* o, const float* a, std::int64_t n, float, float) {
        unaryRow<S>(o, a, n, [](V x) { return S::div(S::set1(1.0f), x); });
    };
    k.exp = [](float* o, const float* a, std::int64_t n, float, float) {
        unaryRow<S>(o, a, n, expV<S>);
    };
    k.sigmoid = [](float* o, const float* a, std::int64_t n, float, float) {
        unaryRow<S>(o, a, n, sigmoidV<S>);
    };
    k.tanh = [](float* o, const float* a, std::int64_t n, float, float) {
        unaryRow<S>(o, a, n, tanhV<S>);
    };
    k.gelu = [](float* o, const float* a, std::int64_t n, float, float) {
        unaryRow<S>(o, a, n, geluV<S>);
    };
    k.sum = sumRow<S>;
    k.maxOf = extremumRow<S, true>;
    k.minOf = extremumRow<S, false>;
    return k;
}

} // namespace kpu::sim::vec::simd
