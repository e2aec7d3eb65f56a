// The AVX2+FMA gemm shared by sgemm_avx2.cpp and dgemm_avx2.cpp. Include this header only from
// files compiled with -mavx2 -mfma (the *_avx2.cpp files); it contains AVX2 code.
//
// Design (BLIS-like, sized for L1/L2 tiles):
// - Micro-kernel: MR x NR with MR <= 6 rows and NR = two ymm vectors (16 floats or 8 doubles),
//   2*MR ymm accumulators; per k step two B vectors are loaded, each A element is broadcast and
//   feeds two FMAs. MR is a template parameter so edge rows cost no wasted work; rows are split
//   into tiles of 6 with a tail of 4/5 rows (e.g. 32 = 4*6 + 2*4) so that every tile keeps at
//   least 8 independent FMA chains where possible.
// - A is read in place (broadcasts from up to 6 row streams).
// - B is consumed one NR-wide column panel at a time. A panel is either read in place (row
//   stride ldb) or packed into a zero-padded, 64-byte aligned, k-major NR-wide buffer owned by
//   the thread; edge panels (fewer than NR columns) are always packed. The packed panel stays in
//   L1 while every row tile of C uses it.
// - k is blocked by kc so that a panel (kc x NR) fits in half of L1.
// - Edge columns (fewer than NR) are computed into a local tile and then copied to C.
#pragma once

#include "kpu/simulator/tile_kernels.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <immintrin.h>
#include <new>
#include <numeric>

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
};

inline constexpr int kMaxMr = 6;
// Rows of k per block: a packed panel of kKc x NR elements is 16 KiB for floats.
inline constexpr std::int64_t kKc = 256;

// How B panels are obtained; Auto is the production policy, the others exist for tests and
// benchmarks.
enum class BPanels { Auto, Direct, Packed };

// C[MR x NR] (+)= A[MR x k] * B[k x NR]; A rows at a + i*lda, B rows at b + l*ldb.
template <class T, int MR>
[[gnu::always_inline]] inline void microKernel(std::int64_t k, const T* a, std::int64_t lda,
                                               const T* b, std::int64_t ldb, T* c, std::int64_t ldc,
                                               bool accumulate) {
    using W = Vec<T>;
    using V = typename W::V;
    constexpr int L = W::kLanes;
    V c0[MR], c1[MR];
    const T* ar[MR];
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
        c0[i] = W::zero();
        c1[i] = W::zero();
        ar[i] = a + i * lda;
    }
#pragma GCC unroll 4
    for (std::int64_t l = 0; l < k; ++l) {
        const V b0 = W::load(b);
        const V b1 = W::load(b + L);
        b += ldb;
#pragma GCC unroll 6
        for (int i = 0; i < MR; ++i) {
            const V av = W::broadcast(ar[i] + l);
            c0[i] = W::fma(av, b0, c0[i]);
            c1[i] = W::fma(av, b1, c1[i]);
        }
    }
    if (accumulate) {
#pragma GCC unroll 6
        for (int i = 0; i < MR; ++i) {
            c0[i] = W::add(c0[i], W::load(c + i * ldc));
            c1[i] = W::add(c1[i], W::load(c + i * ldc + L));
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
        W::store(c + i * ldc, c0[i]);
        W::store(c + i * ldc + L, c1[i]);
    }
}

// Row tiles of MR rows against one full-width B panel: C tiles are written in place.
template <class T, int MR>
inline void fullWidthTiles(std::int64_t tiles, std::int64_t k, const T* a, std::int64_t lda,
                           const T* b, std::int64_t ldb, T* c, std::int64_t ldc, bool accumulate) {
    for (std::int64_t t = 0; t < tiles; ++t, a += MR * lda, c += MR * ldc)
        microKernel<T, MR>(k, a, lda, b, ldb, c, ldc, accumulate);
}

// One row tile of mr rows (1..6) against a packed edge panel, writing nr (< NR) columns of C
// through a local tile.
template <class T>
[[gnu::noinline]] void edgeTile(int mr, std::int64_t nr, std::int64_t k, const T* a,
                                std::int64_t lda, const T* b, std::int64_t ldb, T* c,
                                std::int64_t ldc, bool accumulate) {
    constexpr std::int64_t NR = 2 * Vec<T>::kLanes;
    alignas(64) T edge[kMaxMr * NR];
    switch (mr) {
    case 6:
        microKernel<T, 6>(k, a, lda, b, ldb, edge, NR, false);
        break;
    case 5:
        microKernel<T, 5>(k, a, lda, b, ldb, edge, NR, false);
        break;
    case 4:
        microKernel<T, 4>(k, a, lda, b, ldb, edge, NR, false);
        break;
    case 3:
        microKernel<T, 3>(k, a, lda, b, ldb, edge, NR, false);
        break;
    case 2:
        microKernel<T, 2>(k, a, lda, b, ldb, edge, NR, false);
        break;
    default:
        microKernel<T, 1>(k, a, lda, b, ldb, edge, NR, false);
        break;
    }
    for (int i = 0; i < mr; ++i) {
        T* row = c + i * ldc;
        const T* src = edge + i * NR;
        for (std::int64_t j = 0; j < nr; ++j)
            row[j] = accumulate ? row[j] + src[j] : src[j];
    }
}

// All row tiles (leading 6-row tiles, then the tail) against one B panel.
// Splits m rows into tiles of at most 6 rows, avoiding tiles of fewer than 4 rows when m allows
// (fewer rows mean fewer independent FMA chains than the FMA latency x throughput product).
// Returns the number of tiles; sizes[] receives the tail (the leading tiles all have 6 rows).
struct RowSplit {
    std::int64_t fullTiles = 0; // leading tiles of 6 rows
    int tail[3] = {0, 0, 0};    // then these (0 = none)
};

inline RowSplit splitRows(std::int64_t m) {
    RowSplit s;
    const std::int64_t r = m % 6;
    const std::int64_t q = m / 6;
    auto set = [&](std::int64_t full, int t0, int t1, int t2) {
        s.fullTiles = full;
        s.tail[0] = t0;
        s.tail[1] = t1;
        s.tail[2] = t2;
    };
    switch (r) {
    case 0:
        set(q, 0, 0, 0);
        break;
    case 1:
        if (q >= 2)
            set(q - 2, 5, 4, 4); // 13 = 5 + 4 + 4
        else if (q == 1)
            set(0, 4, 3, 0); // 7 = 4 + 3
        else
            set(0, 1, 0, 0);
        break;
    case 2:
        if (q >= 1)
            set(q - 1, 4, 4, 0); // 8 = 4 + 4
        else
            set(0, 2, 0, 0);
        break;
    case 3:
        if (q >= 1)
            set(q - 1, 5, 4, 0); // 9 = 5 + 4
        else
            set(0, 3, 0, 0);
        break;
    case 4:
        set(q, 4, 0, 0);
        break;
    default:
        set(q, 5, 0, 0);
        break;
    }
    return s;
}

template <class T>
inline void panelTiles(const RowSplit& split, std::int64_t nr, std::int64_t k, const T* a,
                       std::int64_t lda, const T* b, std::int64_t ldb, T* c, std::int64_t ldc,
                       bool accumulate) {
    constexpr std::int64_t NR = 2 * Vec<T>::kLanes;
    if (nr < NR) {
        std::int64_t i0 = 0;
        for (std::int64_t t = 0; t < split.fullTiles; ++t, i0 += 6)
            edgeTile<T>(6, nr, k, a + i0 * lda, lda, b, ldb, c + i0 * ldc, ldc, accumulate);
        for (int mr : split.tail) {
            if (mr == 0)
                break;
            edgeTile<T>(mr, nr, k, a + i0 * lda, lda, b, ldb, c + i0 * ldc, ldc, accumulate);
            i0 += mr;
        }
        return;
    }
    fullWidthTiles<T, 6>(split.fullTiles, k, a, lda, b, ldb, c, ldc, accumulate);
    std::int64_t i0 = split.fullTiles * 6;
    for (int mr : split.tail) {
        const T* at = a + i0 * lda;
        T* ct = c + i0 * ldc;
        switch (mr) {
        case 0:
            return;
        case 5:
            fullWidthTiles<T, 5>(1, k, at, lda, b, ldb, ct, ldc, accumulate);
            break;
        case 4:
            fullWidthTiles<T, 4>(1, k, at, lda, b, ldb, ct, ldc, accumulate);
            break;
        case 3:
            fullWidthTiles<T, 3>(1, k, at, lda, b, ldb, ct, ldc, accumulate);
            break;
        case 2:
            fullWidthTiles<T, 2>(1, k, at, lda, b, ldb, ct, ldc, accumulate);
            break;
        default:
            fullWidthTiles<T, 1>(1, k, at, lda, b, ldb, ct, ldc, accumulate);
            break;
        }
        i0 += mr;
    }
}

// A growable, 64-byte aligned scratch buffer; one per thread per element type.
template <class T>
class Scratch {
public:
    Scratch() = default;
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    ~Scratch() { std::free(data_); }
    T* get(std::int64_t count) {
        if (count > capacity_) {
            std::free(data_);
            const std::size_t bytes = (static_cast<std::size_t>(count) * sizeof(T) + 63) / 64 * 64;
            data_ = static_cast<T*>(std::aligned_alloc(64, bytes));
            if (data_ == nullptr)
                throw std::bad_alloc();
            capacity_ = count;
        }
        return data_;
    }

private:
    T* data_ = nullptr;
    std::int64_t capacity_ = 0;
};

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
        sets = kSets / std::gcd(strideBytes / kLine, kSets);
        linesPerRow = 1;
    }
    return kb * linesPerRow <= sets * kWays / 2;
}

template <class T, class Args>
void gemm(const Args& p, BPanels policy) {
    constexpr std::int64_t NR = 2 * Vec<T>::kLanes;
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
        for (std::int64_t j0 = 0; j0 < p.n; j0 += NR) {
            const std::int64_t nr = std::min(NR, p.n - j0);
            const T* bPanel = p.b + pc * p.ldb + j0;
            std::int64_t ldbPanel = p.ldb;
            if (!direct || nr < NR) {
                packBPanel(kb, nr, bPanel, p.ldb, panel);
                bPanel = panel;
                ldbPanel = NR;
            }
            panelTiles<T>(split, nr, kb, aBlock, p.lda, bPanel, ldbPanel, p.c + j0, p.ldc, acc);
        }
    }
}

} // namespace kpu::sim::avx2
