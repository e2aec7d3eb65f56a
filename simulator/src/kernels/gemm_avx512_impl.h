// The AVX-512 gemm shared by sgemm_avx512.cpp and dgemm_avx512.cpp. Include this header only
// from files compiled with AVX-512 flags (the *_avx512.cpp files); it contains AVX-512 code.
//
// Design (BLIS-like, sized for the L1/L2 tiles the simulator computes):
// - Micro-kernel: MR x (NV zmm vectors) with NV = 2 (32 floats / 16 doubles, MR <= 14: 28
//   accumulators + 2 B vectors + 1 broadcast of the 32 zmm registers) for full-width panels,
//   and NV = 1 (MR <= 16) for a panel of 16 or fewer columns. Per k step the kernel loads NV
//   B vectors and broadcasts MR A elements. The FMA ports and the two load ports are the
//   limits: a 14x32 tile issues 16 loads per 28 FMAs, a 16x16 tile (n = 16, the simulator's
//   default array) 17 loads per 16 FMAs, so the latter tops out near 16/17 of the FMA peak:
//   there an A element feeds a single FMA, and broadcasting it otherwise than through a load
//   port would take a shuffle on port 5, which is one of the two FMA ports.
// - Rows are cut into ceil(m / MRmax) tiles of balanced height (37 = 13 + 12 + 12), so that
//   edge tiles keep enough independent FMA chains (latency 4 x 2 ports = 8 needed).
// - A is read in place, rows addressed in groups of three from one pointer each, unless its
//   rows crowd an L1 set: a 16-row tile reads 16 rows' current lines at once, and with
//   lda = 2048 floats they all fall into one 8-way set. Then each k block of A is first copied
//   into rows one line longer than the block (consecutive rows in different sets).
// - B is consumed one panel of NV vectors at a time, read in place (row stride ldb) or copied
//   into a k-major panel (see directBPanel: rows a page apart, or a panel that several row
//   tiles re-read and whose rows crowd a few sets).
// - Ragged right edges use AVX-512 lane masks on B loads (zero lanes) and on C: no padding.
// - k is blocked by kKc (a 128 x 32 float B panel is 16 KiB, half of L1) when a panel is re-read
//   by several row tiles; a single row tile takes k whole. The blocking depends on the shape
//   only, never on the layout, so results do not depend on lda, ldb or which operands are copied.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <utility>

#include <immintrin.h>

#include "kernels/scratch.h"
#include "kpu/simulator/tile_kernels.h"

namespace kpu::sim::avx512 {

template <class T>
struct Vec;

template <>
struct Vec<float> {
    using V = __m512;
    using Mask = __mmask16;
    static constexpr int kLanes = 16;
    static V zero() { return _mm512_setzero_ps(); }
    static V load(const float* p) { return _mm512_loadu_ps(p); }
    static V maskLoad(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
    static V broadcast(const float* p) { return _mm512_set1_ps(*p); }
    static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
    static V add(V a, V b) { return _mm512_add_ps(a, b); }
    static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
    static void maskStore(float* p, Mask m, V v) { _mm512_mask_storeu_ps(p, m, v); }
};

template <>
struct Vec<double> {
    using V = __m512d;
    using Mask = __mmask8;
    static constexpr int kLanes = 8;
    static V zero() { return _mm512_setzero_pd(); }
    static V load(const double* p) { return _mm512_loadu_pd(p); }
    static V maskLoad(const double* p, Mask m) { return _mm512_maskz_loadu_pd(m, p); }
    static V broadcast(const double* p) { return _mm512_set1_pd(*p); }
    static V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
    static V add(V a, V b) { return _mm512_add_pd(a, b); }
    static void store(double* p, V v) { _mm512_storeu_pd(p, v); }
    static void maskStore(double* p, Mask m, V v) { _mm512_mask_storeu_pd(p, m, v); }
};

// Mask of the first `count` lanes of a vector of L lanes (count clamped to [0, L]).
template <class Mask, int L>
Mask firstLanes(std::int64_t count) {
    const auto c = static_cast<unsigned>(std::clamp<std::int64_t>(count, 0, L));
    return static_cast<Mask>((std::uint32_t{1} << c) - 1u);
}

// Rows of k per block: a B panel of kKc x 32 floats is 16 KiB (half of L1).
inline constexpr std::int64_t kKc = 128;
// Rows of A copied at a time (the copy, 128 x 144 floats = 72 KiB, stays in L2).
inline constexpr std::int64_t kMc = 128;
inline constexpr int kMaxMr2 = 14; // rows of a two-vector tile
inline constexpr int kMaxMr1 = 16; // rows of a one-vector tile

// How operands are obtained; Auto is the production policy, the others exist for tests and
// benchmarks (Direct: A and B read in place; Packed: A and every B panel copied).
enum class Policy { Auto, Direct, Packed };

// C[MR x NV vectors] (+)= A[MR x k] * B[k x NV vectors], A rows lda apart, B rows ldb apart.
// The last vector of B and C uses `last` (all lanes for full panels).
template <class T, int MR, int NV>
[[gnu::noinline]] void microKernel(std::int64_t k, const T* a, std::int64_t lda, const T* b,
                                   std::int64_t ldb, T* c, std::int64_t ldc, bool accumulate,
                                   typename Vec<T>::Mask last) {
    using W = Vec<T>;
    using V = typename W::V;
    constexpr int L = W::kLanes;
    V acc[MR][NV];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v)
            acc[i][v] = W::zero();
    // Rows are addressed in groups of three, base + {0, 1, 2} * lda: x86 scaled-index
    // addressing then covers 16 rows with 6 pointers and one stride register, and the k loop
    // issues no address arithmetic besides the pointer increments.
    constexpr int kGroups = (MR + 2) / 3;
    const T* ag[kGroups];
#pragma GCC unroll 6
    for (int g = 0; g < kGroups; ++g)
        ag[g] = a + 3 * g * lda;
#pragma GCC unroll 4
    for (std::int64_t l = 0; l < k; ++l) {
        V bv[NV];
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v)
            bv[v] = v + 1 < NV ? W::load(b + v * L) : W::maskLoad(b + v * L, last);
        b += ldb;
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            const V av = W::broadcast(ag[i / 3] + (i % 3) * lda);
#pragma GCC unroll 2
            for (int v = 0; v < NV; ++v)
                acc[i][v] = W::fma(av, bv[v], acc[i][v]);
        }
#pragma GCC unroll 6
        for (int g = 0; g < kGroups; ++g)
            ++ag[g];
    }
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
        T* ci = c + i * ldc;
#pragma GCC unroll 2
        for (int v = 0; v < NV; ++v) {
            const bool full = v + 1 < NV;
            if (accumulate)
                acc[i][v] =
                    W::add(acc[i][v], full ? W::load(ci + v * L) : W::maskLoad(ci + v * L, last));
            if (full)
                W::store(ci + v * L, acc[i][v]);
            else
                W::maskStore(ci + v * L, last, acc[i][v]);
        }
    }
}

template <class T>
using TileFn = void (*)(std::int64_t, const T*, std::int64_t, const T*, std::int64_t, T*,
                        std::int64_t, bool, typename Vec<T>::Mask);

// Micro-kernels indexed by row count (entry 0 unused).
template <class T, int NV, int... MR>
constexpr auto makeTileTable(std::integer_sequence<int, MR...>) {
    return std::array<TileFn<T>, sizeof...(MR) + 1>{nullptr, &microKernel<T, MR + 1, NV>...};
}
template <class T, int NV>
inline constexpr auto
    kTiles = makeTileTable<T, NV>(std::make_integer_sequence<int, NV == 2 ? kMaxMr2 : kMaxMr1>{});

// The number of L1 sets (of 64, 8 ways: the smallest L1 of the targets) among which rows
// `strideBytes` apart are spread; rows whose stride is not a multiple of a line spread evenly.
inline std::int64_t setsOfStride(std::int64_t strideBytes) {
    constexpr std::int64_t kLine = 64, kSets = 64;
    if (strideBytes % kLine != 0)
        return kSets;
    const auto strideLines = static_cast<std::uint64_t>(strideBytes / kLine);
    return kSets >> std::min(std::countr_zero(strideLines), 6);
}

// Whether A is read in place (Auto policy): a tile reads its rows' current lines at once, so
// those must fit the ways of the sets they fall into (lda = 2048 floats puts 16 rows into a
// single set and they evict one another at every k step; lda = 512, two sets, still fits).
template <class T>
bool directA(std::int64_t lda) {
    constexpr std::int64_t kWays = 8;
    const std::int64_t sets = setsOfStride(lda * static_cast<std::int64_t>(sizeof(T)));
    return (kMaxMr1 + sets - 1) / sets <= kWays;
}

// Whether a B panel is read in place (Auto policy). Rows a page or more apart are copied: the
// hardware prefetchers follow no such stride, and a copy loop keeps many more of those misses
// in flight than the micro-kernel, whose loads wait in line behind its FMAs (measured: in place
// with software prefetching is slower still). Otherwise a single row tile reads its panel
// once, in place; several read it in place only if its rows spread over enough L1 sets to stay
// resident while every row tile re-reads it (half the ways left for A and C).
template <class T>
bool directBPanel(int tiles, std::int64_t kb, int nv, std::int64_t ldb) {
    constexpr std::int64_t kWays = 8;
    const std::int64_t strideBytes = ldb * static_cast<std::int64_t>(sizeof(T));
    if (strideBytes >= 4096)
        return false;
    if (tiles <= 1)
        return true;
    if (strideBytes == nv * 64) // a contiguous panel
        return true;
    // A row spans nv lines, one more when not line aligned.
    const std::int64_t linesPerRow = nv + (strideBytes % 64 != 0 ? 1 : 0);
    return kb * linesPerRow <= setsOfStride(strideBytes) * kWays / 2;
}

// Copies A[mb x kb] (rows lda apart) into rows `stride` apart.
template <class T>
void copyA(std::int64_t mb, std::int64_t kb, const T* a, std::int64_t lda, T* dst,
           std::int64_t stride) {
    using W = Vec<T>;
    constexpr int L = W::kLanes;
    const auto tail = firstLanes<typename W::Mask, L>(kb % L);
    for (std::int64_t i = 0; i < mb; ++i, a += lda, dst += stride) {
        std::int64_t l = 0;
        for (; l + L <= kb; l += L)
            W::store(dst + l, W::load(a + l));
        if (l < kb)
            W::maskStore(dst + l, tail, W::maskLoad(a + l, tail));
    }
}

// Copies B[kb x (nv vectors, the last masked)] (rows ldb apart) into a k-major panel with rows
// nv * L apart; masked-off lanes become zeros.
template <class T>
void copyBPanel(std::int64_t kb, int nv, typename Vec<T>::Mask last, const T* b, std::int64_t ldb,
                T* dst) {
    using W = Vec<T>;
    constexpr int L = W::kLanes;
    if (nv == 2) {
        for (std::int64_t l = 0; l < kb; ++l, b += ldb, dst += 2 * L) {
            W::store(dst, W::load(b));
            W::store(dst + L, W::maskLoad(b + L, last));
        }
        return;
    }
    for (std::int64_t l = 0; l < kb; ++l, b += ldb, dst += L)
        W::store(dst, W::maskLoad(b, last));
}

// Row tiles of balanced height covering mb rows, at most maxMr each.
struct RowTiles {
    int count = 0, base = 0, extra = 0; // the first `extra` tiles have base + 1 rows
};

inline RowTiles splitRows(std::int64_t mb, int maxMr) {
    RowTiles r;
    r.count = static_cast<int>((mb + maxMr - 1) / maxMr);
    r.base = static_cast<int>(mb / r.count);
    r.extra = static_cast<int>(mb % r.count);
    return r;
}

// One k block of rows [0, mb) of A (rows lda apart) against all of B's columns.
template <class T>
struct Block {
    std::int64_t mb, kb, n;
    const T* a;
    std::int64_t lda;
    const T* b;
    std::int64_t ldb;
    T* c;
    std::int64_t ldc;
    bool accumulate;
};

template <class T>
void blockTimesB(const Block<T>& blk, Policy policy, T* bPanel) {
    using W = Vec<T>;
    using Mask = typename W::Mask;
    constexpr int L = W::kLanes;
    constexpr std::int64_t NR = 2 * L;
    for (std::int64_t j0 = 0; j0 < blk.n; j0 += NR) {
        const std::int64_t nr = std::min(NR, blk.n - j0);
        const int nv = nr > L ? 2 : 1;
        const Mask last = firstLanes<Mask, L>(nr - (nv - 1) * L);
        const RowTiles tiles = splitRows(blk.mb, nv == 2 ? kMaxMr2 : kMaxMr1);
        const T* b = blk.b + j0;
        std::int64_t ldb = blk.ldb;
        const bool direct =
            policy == Policy::Direct ||
            (policy == Policy::Auto && directBPanel<T>(tiles.count, blk.kb, nv, blk.ldb));
        if (!direct) {
            copyBPanel(blk.kb, nv, last, b, blk.ldb, bPanel);
            b = bPanel;
            ldb = nv * L;
        }
        const TileFn<T>* table = nv == 2 ? kTiles<T, 2>.data() : kTiles<T, 1>.data();
        const T* a = blk.a;
        T* c = blk.c + j0;
        for (int t = 0; t < tiles.count; ++t) {
            const int mr = tiles.base + (t < tiles.extra ? 1 : 0);
            table[mr](blk.kb, a, blk.lda, b, ldb, c, blk.ldc, blk.accumulate, last);
            a += mr * blk.lda;
            c += mr * blk.ldc;
        }
    }
}

template <class T, class Args>
void gemm(const Args& p, Policy policy) {
    if (p.m <= 0 || p.n <= 0)
        return;
    if (p.k <= 0) {
        if (p.accumulate)
            return;
        // A plain loop rather than std::fill_n: an out-of-line instantiation of a library
        // template compiled here with AVX-512 could be the copy the linker keeps for everyone.
        for (std::int64_t i = 0; i < p.m; ++i)
            for (std::int64_t j = 0; j < p.n; ++j)
                p.c[i * p.ldc + j] = T(0);
        return;
    }
    static thread_local Scratch<T> aScratch, bScratch;
    const bool copyOfA = policy == Policy::Packed || (policy == Policy::Auto && !directA<T>(p.lda));
    // A single row tile per panel reads each B row once: no k blocking needed (it only bounds
    // the B panels that several row tiles re-read). The blocking must depend on the shape
    // alone, never on the layout: every block ends with C += its partial sums, so another
    // blocking rounds differently, and a pass must give the same bits whether its operands are
    // read in place or from packed copies.
    const bool oneRowTile = p.m <= (p.n > Vec<T>::kLanes ? kMaxMr2 : kMaxMr1);
    const std::int64_t kc = oneRowTile ? p.k : std::min(p.k, kKc);
    const std::int64_t mc = std::min(p.m, kMc);
    // The copy of A: rows one line longer than a block, so that they fall into different sets.
    const std::int64_t aStride =
        (kc + Vec<T>::kLanes - 1) / Vec<T>::kLanes * Vec<T>::kLanes + Vec<T>::kLanes;
    T* aCopy = copyOfA ? aScratch.get(mc * aStride) : nullptr;
    T* bPanel = bScratch.get(kc * 2 * Vec<T>::kLanes);

    for (std::int64_t pc = 0; pc < p.k; pc += kc) {
        const std::int64_t kb = std::min(kc, p.k - pc);
        for (std::int64_t ic = 0; ic < p.m; ic += kMc) {
            Block<T> blk{std::min(kMc, p.m - ic),
                         kb,
                         p.n,
                         p.a + ic * p.lda + pc,
                         p.lda,
                         p.b + pc * p.ldb,
                         p.ldb,
                         p.c + ic * p.ldc,
                         p.ldc,
                         p.accumulate || pc > 0};
            if (copyOfA) {
                copyA(blk.mb, kb, blk.a, p.lda, aCopy, aStride);
                blk.a = aCopy;
                blk.lda = aStride;
            }
            blockTimesB(blk, policy, bPanel);
        }
    }
}

} // namespace kpu::sim::avx512
