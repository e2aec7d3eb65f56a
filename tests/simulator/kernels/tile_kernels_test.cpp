// Tile kernels: every AVX2 and AVX-512 kernel against the reference, and the reference against
// long double.
// Private kernel headers (not on this suite's include path): the entry points with forced
// policies are tested directly.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "../../../simulator/src/kernels/reference.h"
#include "../../../simulator/src/kernels/sgemm_avx2.h"
#include "../../../simulator/src/kernels/sgemm_avx512.h"
#include "kpu/simulator/tile_kernels.h"

namespace kpu::sim {
namespace {

struct Shape {
    std::int64_t m, n, k;
    std::int64_t padA = 0, padB = 0, padC = 0; // extra elements per row (strided operands)
};

std::string describe(const Shape& s, bool accumulate) {
    return std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k) + " pad " +
           std::to_string(s.padA) + "/" + std::to_string(s.padB) + "/" + std::to_string(s.padC) +
           (accumulate ? " accumulate" : " overwrite");
}

// Operands for one gemm, with the bound |a||b| summed per element of C for the tolerance.
template <class T>
struct Problem {
    Shape s;
    std::int64_t lda, ldb, ldc;
    std::vector<T> a, b, c0;

    Problem(const Shape& shape, std::uint32_t seed)
        : s(shape), lda(shape.k + shape.padA), ldb(shape.n + shape.padB),
          ldc(shape.n + shape.padC) {
        std::mt19937 gen(seed);
        std::uniform_real_distribution<T> dist(T(-1), T(1));
        // One spare element at the end so zero-sized operands still have a valid pointer.
        a.resize(static_cast<std::size_t>(s.m * lda + 1));
        b.resize(static_cast<std::size_t>(s.k * ldb + 1));
        c0.resize(static_cast<std::size_t>(s.m * ldc + 1));
        for (T& x : a)
            x = dist(gen);
        for (T& x : b)
            x = dist(gen);
        for (T& x : c0)
            x = dist(gen);
    }

    template <class Args>
    Args args(T* c, bool accumulate) const {
        Args p;
        p.m = s.m;
        p.n = s.n;
        p.k = s.k;
        p.a = a.data();
        p.lda = lda;
        p.b = b.data();
        p.ldb = ldb;
        p.c = c;
        p.ldc = ldc;
        p.accumulate = accumulate;
        return p;
    }

    // sum_l |a(i,l)||b(l,j)| (+ |c(i,j)| when accumulating): the scale of rounding errors.
    T magnitude(std::int64_t i, std::int64_t j, bool accumulate) const {
        T sum = accumulate ? std::abs(c0[i * ldc + j]) : T(0);
        for (std::int64_t l = 0; l < s.k; ++l)
            sum += std::abs(a[i * lda + l]) * std::abs(b[l * ldb + j]);
        return sum;
    }
};

template <class T, class Args>
void expectMatchesReference(void (*fn)(const Args&), void (*ref)(const Args&), const Shape& s,
                            bool accumulate, T relTol, std::uint32_t seed = 1) {
    SCOPED_TRACE(describe(s, accumulate));
    const Problem<T> prob(s, seed);
    std::vector<T> want = prob.c0;
    std::vector<T> got = prob.c0;
    if (!accumulate) {
        // Overwrite must ignore the prior contents of C, NaNs included.
        for (std::int64_t i = 0; i < s.m; ++i)
            for (std::int64_t j = 0; j < s.n; ++j)
                got[i * prob.ldc + j] = std::numeric_limits<T>::quiet_NaN();
    }
    ref(prob.template args<Args>(want.data(), accumulate));
    fn(prob.template args<Args>(got.data(), accumulate));
    int failures = 0;
    for (std::int64_t i = 0; i < s.m; ++i) {
        for (std::int64_t j = 0; j < prob.ldc; ++j) {
            const std::size_t at = static_cast<std::size_t>(i * prob.ldc + j);
            if (j >= s.n) { // padding between rows must be untouched
                ASSERT_EQ(got[at], prob.c0[at]) << "padding written at " << i << "," << j;
                continue;
            }
            const T tol =
                relTol * prob.magnitude(i, j, accumulate) + std::numeric_limits<T>::min() * 16;
            if (!(std::abs(got[at] - want[at]) <= tol) && ++failures <= 5)
                ADD_FAILURE() << "c(" << i << "," << j << ") = " << got[at] << ", expected "
                              << want[at] << " (tolerance " << tol << ")";
        }
    }
    EXPECT_EQ(failures, 0);
    // The spare element past C is never written.
    EXPECT_EQ(got.back(), prob.c0.back());
}

template <class Args>
struct Variant {
    const char* name;
    void (*fn)(const Args&);
};

// The entry points of one ISA: the production policy and the forced operand policies.
std::vector<Variant<GemmF32Args>> sgemmVariants() {
    return {{"sgemm_avx2_6x16", sgemmAvx2},
            {"direct B", sgemmAvx2Direct},
            {"packed B", sgemmAvx2Packed}};
}
std::vector<Variant<GemmF64Args>> dgemmVariants() {
    return {{"dgemm_avx2_6x8", dgemmAvx2},
            {"direct B", dgemmAvx2Direct},
            {"packed B", dgemmAvx2Packed}};
}
std::vector<Variant<GemmF32Args>> sgemmAvx512Variants() {
    return {{"sgemm_avx512_14x32", sgemmAvx512},
            {"direct A and B", sgemmAvx512Direct},
            {"copied A and B", sgemmAvx512Packed}};
}
std::vector<Variant<GemmF64Args>> dgemmAvx512Variants() {
    return {{"dgemm_avx512_14x16", dgemmAvx512},
            {"direct A and B", dgemmAvx512Direct},
            {"copied A and B", dgemmAvx512Packed}};
}

constexpr float kSgemmTol = 1e-5f;
constexpr double kDgemmTol = 1e-13;

#define KPU_REQUIRE_AVX2()                                                                         \
    do {                                                                                           \
        if (avx2Kernels() == nullptr)                                                              \
            GTEST_SKIP() << "this CPU lacks AVX2 or FMA (cpuid); the AVX2 kernels cannot run";     \
    } while (false)

#define KPU_REQUIRE_AVX512()                                                                       \
    do {                                                                                           \
        if (avx512Kernels() == nullptr)                                                            \
            GTEST_SKIP() << "this CPU lacks AVX-512 (cpuid); the AVX-512 kernels cannot run";      \
    } while (false)

// Shapes beyond the exhaustive small ones: edges, the benchmark tiles, k beyond one kc block,
// strided operands, degenerate sizes.
std::vector<Shape> namedShapes() {
    return {
        {1, 1, 1},
        {37, 91, 53},
        {32, 32, 32},
        {64, 64, 64},
        {64, 64, 256},
        {128, 128, 128},
        {6, 16, 1},
        {7, 17, 9},
        {13, 33, 5},
        {49, 48, 47},
        {300, 200, 600},
        {5, 300, 700},
        {250, 3, 513},
        {61, 19, 257},
        {37, 91, 53, 3, 5, 7},
        {64, 64, 64, 64, 64, 64},
        {32, 32, 32, 1, 0, 0},
        {32, 32, 32, 0, 1, 0},
        {32, 32, 32, 0, 0, 1},
        {20, 40, 300, 11, 13, 17},
        {0, 5, 5},
        {5, 0, 5},
        {0, 0, 0},
        {4, 9, 0},
        {1, 1, 0},
        {17, 33, 0, 2, 2, 2},
    };
}

TEST(SgemmAvx2, MatchesReferenceOnAllSmallShapes) {
    KPU_REQUIRE_AVX2();
    for (const auto& v : sgemmVariants()) {
        SCOPED_TRACE(v.name);
        for (std::int64_t m = 1; m <= 20; ++m)
            for (std::int64_t n = 1; n <= 20; ++n)
                for (std::int64_t k : {1, 2, 7})
                    for (bool acc : {false, true})
                        expectMatchesReference<float>(v.fn, sgemmReference, {m, n, k}, acc,
                                                      kSgemmTol);
    }
}

// Every row split (6-row tiles plus 1..5-row tails) against every column edge (masked loads and
// stores of C for 1..15 trailing columns), with k covering the unroll remainders, contiguous
// and strided operands, overwrite (over NaN) and accumulate.
void expectAllShapesUpTo40(const std::vector<Variant<GemmF32Args>>& variants) {
    for (const auto& v : variants) {
        SCOPED_TRACE(v.name);
        for (std::int64_t m = 1; m <= 40; ++m)
            for (std::int64_t n = 1; n <= 40; ++n)
                for (std::int64_t k : {1, 5, 33}) {
                    const bool strided = (m + n + k) % 2 == 1;
                    const Shape s = strided ? Shape{m, n, k, 3, 5, 7} : Shape{m, n, k};
                    for (bool acc : {false, true})
                        expectMatchesReference<float>(v.fn, sgemmReference, s, acc, kSgemmTol);
                }
    }
}

TEST(SgemmAvx2, MatchesReferenceOnAllShapesUpTo40) {
    KPU_REQUIRE_AVX2();
    expectAllShapesUpTo40(sgemmVariants());
}

// m % 6 == 2 with B read in place: the last two rows of each pair of full panels go through the
// 2x32 wide tile, the remaining columns (n % 32, full or edge panels) through the general path.
// k covers the unroll remainders and more than one kc block (the wide tile then accumulates).
TEST(SgemmAvx2, WideTwoRowTailMatchesReference) {
    KPU_REQUIRE_AVX2();
    for (const auto& v : sgemmVariants()) {
        SCOPED_TRACE(v.name);
        for (std::int64_t m : {8, 14, 26, 32, 62, 128})
            for (std::int64_t n : {32, 33, 47, 48, 64, 65, 96})
                for (std::int64_t k : {1, 7, 8, 9, 32, 257})
                    for (std::int64_t pad : {0, 3})
                        for (bool acc : {false, true})
                            expectMatchesReference<float>(v.fn, sgemmReference,
                                                          {m, n, k, pad, 2 * pad, pad + 1}, acc,
                                                          kSgemmTol);
    }
}

TEST(DgemmAvx2, WideTwoRowTailMatchesReference) {
    KPU_REQUIRE_AVX2();
    for (const auto& v : dgemmVariants()) {
        SCOPED_TRACE(v.name);
        for (std::int64_t m : {8, 14, 32})
            for (std::int64_t n : {16, 17, 24, 32, 40})
                for (std::int64_t k : {1, 9, 257})
                    for (bool acc : {false, true})
                        expectMatchesReference<double>(v.fn, dgemmReference, {m, n, k, 1, 2, 3},
                                                       acc, kDgemmTol);
    }
}

TEST(DgemmAvx2, MatchesReferenceOnAllShapesUpTo24) {
    KPU_REQUIRE_AVX2();
    for (const auto& v : dgemmVariants()) {
        SCOPED_TRACE(v.name);
        for (std::int64_t m = 1; m <= 24; ++m)
            for (std::int64_t n = 1; n <= 24; ++n)
                for (std::int64_t k : {1, 5, 33})
                    for (bool acc : {false, true})
                        expectMatchesReference<double>(v.fn, dgemmReference, {m, n, k, 1, 2, 3},
                                                       acc, kDgemmTol);
    }
}

template <class T, class Args>
void expectNamedShapes(const std::vector<Variant<Args>>& variants, void (*ref)(const Args&),
                       T tol) {
    for (const auto& v : variants) {
        SCOPED_TRACE(v.name);
        for (const Shape& s : namedShapes())
            for (bool acc : {false, true})
                expectMatchesReference<T>(v.fn, ref, s, acc, tol);
    }
}

TEST(SgemmAvx2, MatchesReferenceOnNamedAndStridedShapes) {
    KPU_REQUIRE_AVX2();
    expectNamedShapes(sgemmVariants(), sgemmReference, kSgemmTol);
}

void expectZeroKBehaviour(GemmF32Fn fn) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> c(3 * 5, nan);
    const float dummy = 1.0f;
    GemmF32Args p;
    p.m = 3;
    p.n = 4;
    p.k = 0;
    p.a = &dummy;
    p.b = &dummy;
    p.c = c.data();
    p.ldc = 5;
    fn(p);
    for (int i = 0; i < 3; ++i) {
        for (int j = 0; j < 4; ++j)
            EXPECT_EQ(c[i * 5 + j], 0.0f);
        EXPECT_TRUE(std::isnan(c[i * 5 + 4])) << "padding column written";
    }
    c.assign(c.size(), 2.5f);
    p.accumulate = true;
    fn(p);
    for (float x : c)
        EXPECT_EQ(x, 2.5f);
}

TEST(SgemmAvx2, ZeroKOverwritesWithZerosAndAccumulateKeepsC) {
    KPU_REQUIRE_AVX2();
    expectZeroKBehaviour(sgemmAvx2);
}

// Small integers are exact in fp32 whatever the summation order: results must be equal.
void expectExactOnSmallIntegers(const std::vector<Variant<GemmF32Args>>& variants) {
    const Shape s{29, 45, 67};
    std::vector<float> a(s.m * s.k), b(s.k * s.n), want(s.m * s.n), got(s.m * s.n);
    for (std::size_t i = 0; i < a.size(); ++i)
        a[i] = static_cast<float>(static_cast<int>(i % 7) - 3);
    for (std::size_t i = 0; i < b.size(); ++i)
        b[i] = static_cast<float>(static_cast<int>(i % 5) - 2);
    GemmF32Args p{s.m, s.n, s.k, a.data(), s.k, b.data(), s.n, want.data(), s.n, false};
    sgemmReference(p);
    for (const auto& v : variants) {
        p.c = got.data();
        v.fn(p);
        EXPECT_EQ(got, want) << v.name;
    }
}

TEST(SgemmAvx2, ExactOnSmallIntegers) {
    KPU_REQUIRE_AVX2();
    expectExactOnSmallIntegers(sgemmVariants());
}

// The packing buffers are per thread; run different shapes on several threads at once.
void expectConcurrentThreadsCorrect(GemmF32Fn fn) {
    std::vector<std::thread> threads;
    std::vector<int> ok(4, 0);
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([t, &ok, fn] {
            const Shape s{40 + 7 * t, 70 + 9 * t, 300 + 50 * t};
            const Problem<float> prob(s, static_cast<std::uint32_t>(t + 10));
            std::vector<float> want(prob.c0.size()), got(prob.c0.size());
            for (int rep = 0; rep < 5; ++rep) {
                sgemmReference(prob.args<GemmF32Args>(want.data(), false));
                fn(prob.args<GemmF32Args>(got.data(), false));
            }
            bool same = true;
            for (std::int64_t i = 0; i < s.m; ++i)
                for (std::int64_t j = 0; j < s.n; ++j) {
                    const std::size_t at = static_cast<std::size_t>(i * prob.ldc + j);
                    same = same &&
                           std::abs(got[at] - want[at]) <= kSgemmTol * prob.magnitude(i, j, false);
                }
            ok[t] = same ? 1 : 0;
        });
    }
    for (auto& th : threads)
        th.join();
    for (int t = 0; t < 4; ++t)
        EXPECT_EQ(ok[t], 1) << "thread " << t;
}

TEST(SgemmAvx2, ConcurrentThreadsGetCorrectResults) {
    KPU_REQUIRE_AVX2();
    expectConcurrentThreadsCorrect(sgemmAvx2Packed);
}

void expectDgemmMatches(const std::vector<Variant<GemmF64Args>>& variants) {
    for (const auto& v : variants) {
        SCOPED_TRACE(v.name);
        for (std::int64_t m = 1; m <= 14; ++m)
            for (std::int64_t n = 1; n <= 18; ++n)
                for (bool acc : {false, true})
                    expectMatchesReference<double>(v.fn, dgemmReference, {m, n, 5}, acc, kDgemmTol);
    }
    expectNamedShapes(variants, dgemmReference, kDgemmTol);
}

TEST(DgemmAvx2, MatchesReference) {
    KPU_REQUIRE_AVX2();
    expectDgemmMatches(dgemmVariants());
}

// ---- AVX-512 ------------------------------------------------------------------------------

TEST(SgemmAvx512, MatchesReferenceOnAllShapesUpTo40) {
    KPU_REQUIRE_AVX512();
    expectAllShapesUpTo40(sgemmAvx512Variants());
}

TEST(SgemmAvx512, MatchesReferenceOnNamedAndStridedShapes) {
    KPU_REQUIRE_AVX512();
    expectNamedShapes(sgemmAvx512Variants(), sgemmReference, kSgemmTol);
}

// The simulator's array passes: 16 x 16 tiles with k up to 1024 (more than one k block when A
// is copied), packed and in place in 2048-wide matrices (A rows in one L1 set, B prefetched),
// and tall tiles that split into several balanced row tiles (13 + 12 + 12, ...).
TEST(SgemmAvx512, MatchesReferenceOnSimulatorTiles) {
    KPU_REQUIRE_AVX512();
    const std::vector<Shape> shapes = {
        {16, 16, 512},
        {16, 16, 1024},
        {16, 16, 288},
        {16, 32, 960},
        {16, 16, 32},
        {15, 17, 129},
        {29, 47, 257},
        {37, 91, 53},
        {100, 16, 300},
        {14, 48, 200},
        {200, 70, 140},
        {129, 33, 64},
        {16, 16, 512, 1536, 2032, 2032},
        {16, 16, 300, 1748, 2032, 2032},
        {40, 40, 130, 1918, 2008, 2008},
    };
    for (const auto& v : sgemmAvx512Variants()) {
        SCOPED_TRACE(v.name);
        for (const Shape& s : shapes)
            for (bool acc : {false, true})
                expectMatchesReference<float>(v.fn, sgemmReference, s, acc, kSgemmTol);
    }
}

// A pass gives the same bits whether its operands are packed or read in place from wide
// matrices: the simulator reads forwarded tiles in place, and --copy-moves must not change a
// result. So a kernel's summation order may depend on the shape, never on lda, ldb or ldc.
TEST(TileKernels, ResultsDoNotDependOnTheLayout) {
    std::vector<std::pair<std::string, GemmF32Fn>> kernels = {{"ref", referenceKernels().sgemm}};
    if (const TileKernels* t = avx2Kernels())
        kernels.emplace_back(std::string(t->sgemmName), t->sgemm);
    if (const TileKernels* t = avx512Kernels())
        kernels.emplace_back(std::string(t->sgemmName), t->sgemm);
    for (const auto& [name, fn] : kernels) {
        SCOPED_TRACE(name);
        for (const Shape& s : {Shape{16, 16, 512}, Shape{16, 16, 1024}, Shape{37, 91, 53},
                               Shape{64, 64, 300}, Shape{8, 40, 700}}) {
            const Problem<float> packed(s, 7);
            Shape wide = s;
            wide.padA = 2048 - s.k, wide.padB = 2048 - s.n, wide.padC = 2048 - s.n;
            Problem<float> strided(wide, 8);
            for (std::int64_t i = 0; i < s.m; ++i)
                std::copy_n(&packed.a[i * packed.lda], s.k, &strided.a[i * strided.lda]);
            for (std::int64_t l = 0; l < s.k; ++l)
                std::copy_n(&packed.b[l * packed.ldb], s.n, &strided.b[l * strided.ldb]);
            for (bool acc : {false, true}) {
                std::vector<float> c1 = packed.c0, c2(strided.c0.size());
                for (std::int64_t i = 0; i < s.m; ++i)
                    std::copy_n(&packed.c0[i * packed.ldc], s.n, &c2[i * strided.ldc]);
                fn(packed.args<GemmF32Args>(c1.data(), acc));
                fn(strided.args<GemmF32Args>(c2.data(), acc));
                for (std::int64_t i = 0; i < s.m; ++i)
                    for (std::int64_t j = 0; j < s.n; ++j)
                        ASSERT_EQ(std::bit_cast<std::uint32_t>(c1[i * packed.ldc + j]),
                                  std::bit_cast<std::uint32_t>(c2[i * strided.ldc + j]))
                            << describe(s, acc) << " at " << i << "," << j;
            }
        }
    }
}

TEST(SgemmAvx512, ZeroKOverwritesWithZerosAndAccumulateKeepsC) {
    KPU_REQUIRE_AVX512();
    expectZeroKBehaviour(sgemmAvx512);
}

TEST(SgemmAvx512, ExactOnSmallIntegers) {
    KPU_REQUIRE_AVX512();
    expectExactOnSmallIntegers(sgemmAvx512Variants());
}

TEST(SgemmAvx512, ConcurrentThreadsGetCorrectResults) {
    KPU_REQUIRE_AVX512();
    expectConcurrentThreadsCorrect(sgemmAvx512);
    expectConcurrentThreadsCorrect(sgemmAvx512Packed);
}

TEST(DgemmAvx512, MatchesReference) {
    KPU_REQUIRE_AVX512();
    expectDgemmMatches(dgemmAvx512Variants());
    for (const auto& v : dgemmAvx512Variants())
        for (std::int64_t m : {8, 16, 29})
            for (std::int64_t n : {8, 16, 17, 33})
                for (bool acc : {false, true})
                    expectMatchesReference<double>(v.fn, dgemmReference, {m, n, 300, 1, 2, 3}, acc,
                                                   kDgemmTol);
}

// The oracle itself: dgemm_ref against a naive loop in long double.
void naiveLongDouble(const GemmF64Args& p) {
    for (std::int64_t i = 0; i < p.m; ++i)
        for (std::int64_t j = 0; j < p.n; ++j) {
            long double sum = 0;
            for (std::int64_t l = 0; l < p.k; ++l)
                sum += static_cast<long double>(p.a[i * p.lda + l]) * p.b[l * p.ldb + j];
            double& c = p.c[i * p.ldc + j];
            c = static_cast<double>(p.accumulate ? c + sum : sum);
        }
}

TEST(DgemmReference, MatchesLongDoubleLoop) {
    for (const Shape& s : namedShapes())
        for (bool acc : {false, true})
            expectMatchesReference<double>(dgemmReference, naiveLongDouble, s, acc, kDgemmTol);
}

TEST(SgemmReference, MatchesDgemmReferenceWithinFp32Rounding) {
    // Round fp32 operands to double, multiply there: the fp32 oracle must agree to fp32 rounding.
    for (const Shape& s : namedShapes()) {
        const Problem<float> prob(s, 7);
        std::vector<float> c(prob.c0.size());
        sgemmReference(prob.args<GemmF32Args>(c.data(), false));
        const std::vector<double> a(prob.a.begin(), prob.a.end()), b(prob.b.begin(), prob.b.end());
        std::vector<double> cd(prob.c0.size());
        dgemmReference(
            {s.m, s.n, s.k, a.data(), prob.lda, b.data(), prob.ldb, cd.data(), prob.ldc, false});
        for (std::int64_t i = 0; i < s.m; ++i)
            for (std::int64_t j = 0; j < s.n; ++j) {
                const std::size_t at = static_cast<std::size_t>(i * prob.ldc + j);
                EXPECT_NEAR(c[at], cd[at], kSgemmTol * prob.magnitude(i, j, false) + 1e-30)
                    << describe(s, false) << " at " << i << "," << j;
            }
    }
}

TEST(TileKernels, ReferenceTableIsFirst) {
    const TileKernels& ref = referenceKernels();
    EXPECT_EQ(ref.sgemm, &sgemmReference);
    EXPECT_EQ(ref.sgemmName, "sgemm_ref");
    EXPECT_EQ(ref.dgemm, &dgemmReference);
    EXPECT_EQ(ref.dgemmName, "dgemm_ref");
}

TEST(TileKernels, SelectsTheBestIsaTheCpuHas) {
    __builtin_cpu_init();
    const bool hasAvx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const bool hasAvx512 = hasAvx2 && __builtin_cpu_supports("avx512f") &&
                           __builtin_cpu_supports("avx512dq") &&
                           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    EXPECT_EQ(avx2Kernels() != nullptr, hasAvx2);
    EXPECT_EQ(avx512Kernels() != nullptr, hasAvx512);
    if (hasAvx2) {
        EXPECT_EQ(avx2Kernels()->sgemm, &sgemmAvx2);
        EXPECT_EQ(avx2Kernels()->sgemmName, "sgemm_avx2_6x16");
        EXPECT_EQ(avx2Kernels()->dgemm, &dgemmAvx2);
        EXPECT_EQ(avx2Kernels()->dgemmName, "dgemm_avx2_6x8");
    }
    if (hasAvx512) {
        EXPECT_EQ(avx512Kernels()->sgemm, &sgemmAvx512);
        EXPECT_EQ(avx512Kernels()->sgemmName, "sgemm_avx512_14x32");
        EXPECT_EQ(avx512Kernels()->dgemm, &dgemmAvx512);
        EXPECT_EQ(avx512Kernels()->dgemmName, "dgemm_avx512_14x16");
        EXPECT_EQ(&selectedKernels(), avx512Kernels());
    } else if (hasAvx2) {
        EXPECT_EQ(&selectedKernels(), avx2Kernels());
    } else {
        EXPECT_EQ(&selectedKernels(), &referenceKernels());
    }
}

TEST(TileKernels, SelectedTableComputesGemm) {
    const Shape s{37, 91, 53};
    for (bool acc : {false, true}) {
        expectMatchesReference<float>(selectedKernels().sgemm, sgemmReference, s, acc, kSgemmTol);
        expectMatchesReference<double>(selectedKernels().dgemm, dgemmReference, s, acc, kDgemmTol);
    }
}

} // namespace
} // namespace kpu::sim
