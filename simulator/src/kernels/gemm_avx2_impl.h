// The AVX2+FMA gemm shared by sgemm_avx2.cpp and dgemm_avx2.cpp. Include this header only from
// files compiled with -mavx2 -mfma (the *_avx2.cpp files); it contains AVX2 code.
//
// Design (BLIS-like, sized for L1/L2 tiles):
// - Micro-kernel: MR x NR with MR <= 6 rows and NR = two ymm vectors (16 floats or 8 doubles),
//   2*MR ymm accumulators; per k step two B vectors are loaded, each A element is broadcast and
//   feeds two FMAs. MR is a template parameter so edge rows cost no wasted work; rows are split
//   into tiles of 6 with a tail of 4/5 rows (e.g. 32 = 4*6 + 2*4) so that every tile keeps at
//   least 8 independent FMA chains where possible. Exception: with B in place and m % 6 == 2
//   (e.g. 32 = 5*6 + 2), the last two rows of each pair of full panels form one 2x32 tile
//   (wideTile) rather than two 4-row tiles per panel: fewer tiles and fewer 8-chain tiles.
// - A is read in place (broadcasts from up to 6 row streams, addressed from two pointers so the
//   k loop carries no address arithmetic: the loop is issue-bound, not FMA-bound, otherwise).
// - B is consumed one NR-wide column panel at a time. A panel is either read in place (row
//   stride ldb) or packed into a zero-padded, 64-byte aligned, k-major NR-wide buffer owned by
//   the thread; edge panels (fewer than NR columns) are always packed. The packed panel stays in
//   L1 while every row tile of C uses it.
// - k is blocked by kc so that a panel (kc x NR) fits in half of L1.
// - Edge columns (fewer than NR) read and write C in place through lane masks (vmaskmov).
// - The per-call scaffolding is kept small (no integer division, no jump tables, one call per
//   run of row tiles): on 32x32x32 a call is only ~2000 FMA cycles, and a 100-cycle overhead
//   costs 5% of peak.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include <immintrin.h>

#include "kernels/scratch.h"
#include "kpu/simulator/tile_kernels.h"

namespace kpu::sim::avx2 {

template <class T>
struct Vec;

template <>
struct Vec<float> {
    using V = __m256;
    static constexpr int kLanes = 8;
    static V zero() { return _mm256_setzero_ps(); }
    static V load(const float* p) { return _mm256_loadu_ps(p); }
    static V broadcast(const float* p) { return _mm256_broadcast_ss(p); }
    static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
    static V add(V a, V b) { return _mm256_add_ps(a, b); }
    static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
    // Lane i is active when mask lane i has its sign bit set; inactive lanes are neither read
    // nor written (no fault either), so these reach the ragged right edge of C in place.
    static V maskLoad(const float* p, __m256i mask) { return _mm256_maskload_ps(p, mask); }
    static void maskStore(float* p, __m256i mask, V v) { _mm256_maskstore_ps(p, mask, v); }
    // Mask of the first `count` lanes (count may be <= 0 or >= kLanes).
    static __m256i firstLanes(std::int64_t count) {
        return _mm256_cmpgt_epi32(
            _mm256_set1_epi32(static_cast<int>(std::clamp<std::int64_t>(count, 0, kLanes))),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    }
};

template <>
struct Vec<double> {
    using V = __m256d;
    static constexpr int kLanes = 4;
    static V zero() { return _mm256_setzero_pd(); }
    static V load(const double* p) { return _mm256_loadu_pd(p); }
    static V broadcast(const double* p) { return _mm256_broadcast_sd(p); }
    static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
    static V add(V a, V b) { return _mm256_add_pd(a, b); }
    static void store(double* p, V v) { _mm256_storeu_pd(p, v); }
    static V maskLoad(const double* p, __m256i mask) { return _mm256_maskload_pd(p, mask); }
    static void maskStore(double* p, __m256i mask, V v) { _mm256_maskstore_pd(p, mask, v); }
    static __m256i firstLanes(std::int64_t count) {
        return _mm256_cmpgt_epi64(_mm256_set1_epi64x(std::clamp<std::int64_t>(count, 0, kLanes)),
                                  _mm256_setr_epi64x(0, 1, 2, 3));
    }
};

inline constexpr int kMaxMr = 6;
// Rows of k per block: a packed panel of kKc x NR elements is 16 KiB for floats.
inline constexpr std::int64_t kKc = 256;

// How B panels are obtained; Auto is the production policy, the others exist for tests and
// benchmarks.
enum class BPanels { Auto, Direct, Packed };

// Column masks for an edge panel of nr < NR columns: C is read and written through them, in
// place (no local tile and copy), while the zero-padded packed B panel makes the inactive
// columns compute harmless zeros.
struct EdgeMasks {
    __m256i lo, hi; // lanes of the first and second vector of the panel
};

// C[MR x NR] (+)= A[MR x k] * B[k x NR]; A rows at a + i*lda, B rows at b + l*ldb. With Edge,
// only the columns selected by the masks are read from and written to C.
template <class T, int MR, bool Edge>
[[gnu::always_inline]] inline void microKernel(std::int64_t k, const T* a, std::int64_t lda,
                                               const T* b, std::int64_t ldb, T* c, std::int64_t ldc,
                                               bool accumulate, EdgeMasks masks) {
    using W = Vec<T>;
    using V = typename W::V;
    constexpr int L = W::kLanes;
    V c0[MR], c1[MR];
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
        c0[i] = W::zero();
        c1[i] = W::zero();
    }
    // Rows 0..2 are addressed from a0 and rows 3..5 from a3 as base + {0,1,2} * lda: x86 scaled
    // index addressing then covers all six rows with two pointers and one stride register, so
    // the k loop issues no address arithmetic besides three pointer increments. Four-wide issue
    // is the limit here: 2 B loads + 6 broadcasts + 12 FMAs = 20 uops per k step against
    // 6 cycles of FMA throughput.
    const T* a0 = a;
    const T* a3 = a + 3 * lda;
    // Unrolled by 8 rather than 4: worth ~1% on k = 32, where loop overhead is per 4 k steps.
#pragma GCC unroll 8
    for (std::int64_t l = 0; l < k; ++l) {
        const V b0 = W::load(b);
        const V b1 = W::load(b + L);
        b += ldb;
#pragma GCC unroll 6
        for (int i = 0; i < MR; ++i) {
            const V av = W::broadcast((i < 3 ? a0 : a3) + (i % 3) * lda);
            c0[i] = W::fma(av, b0, c0[i]);
            c1[i] = W::fma(av, b1, c1[i]);
        }
        ++a0;
        ++a3;
    }
    // C rows addressed like A's (two pointers, scaled index): saves the per-row address
    // arithmetic that GCC otherwise hoists out of the tile loop and spills.
    T* const c3 = c + 3 * ldc;
    const auto cRow = [&](int i) { return (i < 3 ? c : c3) + (i % 3) * ldc; };
    if constexpr (Edge) {
        if (accumulate) {
#pragma GCC unroll 6
            for (int i = 0; i < MR; ++i) {
                c0[i] = W::add(c0[i], W::maskLoad(cRow(i), masks.lo));
                c1[i] = W::add(c1[i], W::maskLoad(cRow(i) + L, masks.hi));
            }
        }
#pragma GCC unroll 6
        for (int i = 0; i < MR; ++i) {
            W::maskStore(cRow(i), masks.lo, c0[i]);
            W::maskStore(cRow(i) + L, masks.hi, c1[i]);
        }
    } else {
        if (accumulate) {
#pragma GCC unroll 6
            for (int i = 0; i < MR; ++i) {
                c0[i] = W::add(c0[i], W::load(cRow(i)));
                c1[i] = W::add(c1[i], W::load(cRow(i) + L));
            }
        }
#pragma GCC unroll 6
        for (int i = 0; i < MR; ++i) {
            W::store(cRow(i), c0[i]);
            W::store(cRow(i) + L, c1[i]);
        }
    }
}

// `tiles` row tiles of MR rows against one B panel (out of line: one call per run of tiles).
template <class T, int MR, bool Edge>
[[gnu::noinline]] void rowTiles(std::int64_t tiles, std::int64_t k, const T* a, std::int64_t lda,
                                const T* b, std::int64_t ldb, T* c, std::int64_t ldc,
                                bool accumulate, EdgeMasks masks) {
    for (std::int64_t t = 0; t < tiles; ++t, a += MR * lda, c += MR * ldc)
        microKernel<T, MR, Edge>(k, a, lda, b, ldb, c, ldc, accumulate, masks);
}

// C[2 x 2*NR] = A[2 x k] * B[k x 2*NR] (+ C): the last 2 rows of two adjacent full-width panels
// in one tile. Why: 2 rows left after the 6-row tiles (m % 6 == 2, e.g. m = 32) otherwise become
// two 4-row tiles per panel (6+2 = 4+4), each with only 8 FMA chains, exactly latency x ports, so
// every scalar uop on an FMA port or late load stretches the chain, and each with its own start
// and drain (measured ~50 cycles per 4x16 tile at k = 32). Here those rows cost one 8-chain tile
// per 32 columns. (3 x 32 would need 12 accumulators + 4 B vectors + 1 broadcast = 17 ymm
// registers: GCC spills, so it is not used.) B is read in place (row stride ldb), C unmasked.
template <class T, int MR>
[[gnu::noinline]] void wideTile(std::int64_t k, const T* a, std::int64_t lda, const T* b,
                                std::int64_t ldb, T* c, std::int64_t ldc, bool accumulate) {
    static_assert(MR == 2, "more rows do not fit the 16 ymm registers");
    using W = Vec<T>;
    using V = typename W::V;
    constexpr int L = W::kLanes;
    V acc[MR][4];
#pragma GCC unroll 2
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < 4; ++v)
            acc[i][v] = W::zero();
#pragma GCC unroll 8
    for (std::int64_t l = 0; l < k; ++l) {
        V bv[4];
#pragma GCC unroll 4
        for (int v = 0; v < 4; ++v)
            bv[v] = W::load(b + v * L);
        b += ldb;
#pragma GCC unroll 2
        for (int i = 0; i < MR; ++i) {
            const V av = W::broadcast(a + i * lda + l);
#pragma GCC unroll 4
            for (int v = 0; v < 4; ++v)
                acc[i][v] = W::fma(av, bv[v], acc[i][v]);
        }
    }
#pragma GCC unroll 2
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < 4; ++v) {
            T* ci = c + i * ldc + v * L;
            W::store(ci, accumulate ? W::add(acc[i][v], W::load(ci)) : acc[i][v]);
        }
}

// How the m rows are cut into row tiles: leading tiles of 6 rows, then up to three tail tiles.
// Fewer rows mean fewer independent FMA chains (2 per row) than FMA latency x throughput
// needs, so tails of fewer than 4 rows are avoided when m allows (e.g. 32 = 4*6 + 4 + 4).
struct RowSplit {
    std::int64_t fullTiles = 0; // leading tiles of 6 rows
    int tail[3] = {0, 0, 0};    // then these (0 = none)
};

inline RowSplit splitRows(std::int64_t m) {
    // Indexed by m % 6 for m >= 12: how many 6-row tiles give way, and the tail replacing them.
    struct Rule {
        int borrowed;
        int tail[3];
    };
    static constexpr Rule kRules[6] = {
        {0, {0, 0, 0}}, {2, {5, 4, 4}}, {1, {4, 4, 0}},
        {1, {5, 4, 0}}, {0, {4, 0, 0}}, {0, {5, 0, 0}},
    };
    RowSplit s;
    if (m < 6) {
        s.tail[0] = static_cast<int>(m);
        return s;
    }
    if (m < 12) { // 6..11 rows: 6 + r, except 7 = 4 + 3 and 8 = 4 + 4, 9 = 5 + 4
        static constexpr Rule kSmall[6] = {
            {0, {6, 0, 0}}, {0, {4, 3, 0}}, {0, {4, 4, 0}},
            {0, {5, 4, 0}}, {0, {6, 4, 0}}, {0, {6, 5, 0}},
        };
        const Rule& rule = kSmall[m - 6];
        std::copy_n(rule.tail, 3, s.tail);
        return s;
    }
    const Rule& rule = kRules[m % 6];
    s.fullTiles = m / 6 - rule.borrowed;
    std::copy_n(rule.tail, 3, s.tail);
    return s;
}

// All row tiles against one B panel.
template <class T, bool Edge>
inline void panelTiles(const RowSplit& split, std::int64_t k, const T* a, std::int64_t lda,
                       const T* b, std::int64_t ldb, T* c, std::int64_t ldc, bool accumulate,
                       EdgeMasks masks) {
    if (split.fullTiles > 0)
        rowTiles<T, 6, Edge>(split.fullTiles, k, a, lda, b, ldb, c, ldc, accumulate, masks);
    std::int64_t i0 = split.fullTiles * 6;
    for (int mr : split.tail) {
        const T* at = a + i0 * lda;
        T* ct = c + i0 * ldc;
        // An if chain rather than a switch: GCC turns the switch into an indirect jump, which
        // costs more than these few compares on the small tiles.
        if (mr == 0)
            return;
        if (mr == 6)
            rowTiles<T, 6, Edge>(1, k, at, lda, b, ldb, ct, ldc, accumulate, masks);
        else if (mr == 5)
            rowTiles<T, 5, Edge>(1, k, at, lda, b, ldb, ct, ldc, accumulate, masks);
        else if (mr == 4)
            rowTiles<T, 4, Edge>(1, k, at, lda, b, ldb, ct, ldc, accumulate, masks);
        else if (mr == 3)
            rowTiles<T, 3, Edge>(1, k, at, lda, b, ldb, ct, ldc, accumulate, masks);
        else if (mr == 2)
            rowTiles<T, 2, Edge>(1, k, at, lda, b, ldb, ct, ldc, accumulate, masks);
        else
            rowTiles<T, 1, Edge>(1, k, at, lda, b, ldb, ct, ldc, accumulate, masks);
        i0 += mr;
    }
}

// Copies B[kb x nr] (rows ldb apart) into a k-major NR-wide panel, zero-padding columns >= nr.
template <class T>
inline void packBPanel(std::int64_t kb, std::int64_t nr, const T* b, std::int64_t ldb, T* dst) {
    using W = Vec<T>;
    constexpr std::int64_t NR = 2 * W::kLanes;
    if (nr == NR) {
        for (std::int64_t l = 0; l < kb; ++l, b += ldb, dst += NR) {
            W::store(dst, W::load(b));
            W::store(dst + W::kLanes, W::load(b + W::kLanes));
        }
        return;
    }
    for (std::int64_t l = 0; l < kb; ++l, b += ldb, dst += NR) {
        std::int64_t j = 0;
        for (; j < nr; ++j)
            dst[j] = b[j];
        for (; j < NR; ++j)
            dst[j] = T(0);
    }
}

// Whether a full-width B panel of kb rows is read in place (Auto policy). In place saves the
// copy, which matters on small tiles, as long as the panel stays in L1 while all row tiles use
// it. With a row stride that is a multiple of a cache line the panel's lines fall into only
// 64 / gcd(stride in lines, 64) of the 64 L1 sets (a power-of-two ldb maps a tall panel onto a
// few sets), so count the ways available there (8, the smallest associativity of the targets)
// and keep half of them for A and C. A single row tile never re-reads its panel: no packing.
template <class T>
inline bool directBPanel(std::int64_t m, std::int64_t kb, std::int64_t ldb) {
    constexpr std::int64_t kLine = 64, kSets = 64, kWays = 8;
    if (m <= kMaxMr)
        return true;
    const std::int64_t strideBytes = ldb * static_cast<std::int64_t>(sizeof(T));
    std::int64_t sets = kSets;
    std::int64_t linesPerRow = 2; // a 64-byte row that is not line aligned spans two lines
    if (strideBytes % kLine == 0) {
        // kSets / gcd(stride in lines, kSets) with shifts: kSets is a power of two, and a
        // 64-bit division would cost as much as several k steps of a small tile.
        const auto strideLines = static_cast<std::uint64_t>(strideBytes / kLine);
        sets = kSets >>
               std::min(std::countr_zero(strideLines), std::countr_zero(std::uint64_t{kSets}));
        linesPerRow = 1;
    }
    return kb * linesPerRow <= sets * kWays / 2;
}

template <class T, class Args>
void gemm(const Args& p, BPanels policy) {
    using W = Vec<T>;
    constexpr std::int64_t NR = 2 * W::kLanes;
    if (p.m <= 0 || p.n <= 0)
        return;
    if (p.k <= 0) {
        if (p.accumulate)
            return;
        for (std::int64_t i = 0; i < p.m; ++i)
            std::fill_n(p.c + i * p.ldc, p.n, T(0));
        return;
    }
    static thread_local Scratch<T> scratch;
    T* panel = scratch.get(std::min(p.k, kKc) * NR);
    const RowSplit split = splitRows(p.m);

    for (std::int64_t pc = 0; pc < p.k; pc += kKc) {
        const std::int64_t kb = std::min(kKc, p.k - pc);
        const bool acc = p.accumulate || pc > 0;
        const bool direct = policy == BPanels::Direct ||
                            (policy == BPanels::Auto && directBPanel<T>(p.m, kb, p.ldb));
        const T* aBlock = p.a + pc;
        std::int64_t j0 = 0;
        // With B in place and 2 rows left after the 6-row tiles, pairs of full panels share one
        // wide tile for those rows (see wideTile); other columns take the general path below.
        if (direct && p.m >= 6 && p.m % 6 == 2) {
            const RowSplit sixes{p.m / 6, {0, 0, 0}};
            const std::int64_t i0 = sixes.fullTiles * 6;
            for (; j0 + 2 * NR <= p.n; j0 += 2 * NR) {
                const T* bPanel = p.b + pc * p.ldb + j0;
                T* cPanel = p.c + j0;
                for (std::int64_t jj = 0; jj < 2 * NR; jj += NR)
                    panelTiles<T, false>(sixes, kb, aBlock, p.lda, bPanel + jj, p.ldb, cPanel + jj,
                                         p.ldc, acc, EdgeMasks{});
                wideTile<T, 2>(kb, aBlock + i0 * p.lda, p.lda, bPanel, p.ldb, cPanel + i0 * p.ldc,
                               p.ldc, acc);
            }
        }
        for (; j0 < p.n; j0 += NR) {
            const std::int64_t nr = std::min(NR, p.n - j0);
            const T* bPanel = p.b + pc * p.ldb + j0;
            std::int64_t ldbPanel = p.ldb;
            if (!direct || nr < NR) {
                packBPanel(kb, nr, bPanel, p.ldb, panel);
                bPanel = panel;
                ldbPanel = NR;
            }
            T* cPanel = p.c + j0;
            if (nr == NR) {
                panelTiles<T, false>(split, kb, aBlock, p.lda, bPanel, ldbPanel, cPanel, p.ldc, acc,
                                     EdgeMasks{});
            } else {
                const EdgeMasks masks{W::firstLanes(nr), W::firstLanes(nr - W::kLanes)};
                panelTiles<T, true>(split, kb, aBlock, p.lda, bPanel, ldbPanel, cPanel, p.ldc, acc,
                                    masks);
            }
        }
    }
}

} // namespace kpu::sim::avx2
