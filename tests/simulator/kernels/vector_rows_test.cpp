// Row kernels: every vectorised table (AVX2, AVX-512) against the scalar table, on random data
// with every length from 1 to 67 (whole vectors plus every tail), broadcast operands, and the
// special values (NaN, infinities, signed zeros, subnormals). Exact operations must give the
// same bits; transcendentals stay within their documented error.
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "../../../simulator/src/kernels/vector_rows.h"

namespace kpu::sim::vec {
namespace {

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<const RowKernels*> vectorTables() {
    std::vector<const RowKernels*> tables;
    if (avx2RowKernels() != nullptr)
        tables.push_back(avx2RowKernels());
    if (avx512RowKernels() != nullptr)
        tables.push_back(avx512RowKernels());
    return tables;
}

#define KPU_REQUIRE_VECTOR_TABLES()                                                                \
    do {                                                                                           \
        if (vectorTables().empty())                                                                \
            GTEST_SKIP() << "this CPU lacks AVX2/FMA (cpuid): only the scalar table exists";       \
    } while (false)

// Random values in [-scale, scale], with special values sprinkled in when `special`.
std::vector<float> randomRow(std::size_t n, std::uint32_t seed, float scale, bool special) {
    std::mt19937 gen(seed);
    std::uniform_real_distribution<float> dist(-scale, scale);
    const float specials[] = {kNan, -kNan, kInf, -kInf, 0.0f, -0.0f, 1e-40f, -1e-40f, 1.0f};
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i)
        v[i] = special && gen() % 5 == 0 ? specials[gen() % std::size(specials)] : dist(gen);
    return v;
}

bool sameBits(float a, float b) {
    return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b);
}

// Both NaN (any payload: x86 and the scalar code propagate payloads alike, but signs of NaNs
// produced by operations are not specified), or the same bits.
bool sameValue(float a, float b) {
    return (std::isnan(a) && std::isnan(b)) || sameBits(a, b);
}

// Output rows are one element longer than n, with a canary that must survive.
constexpr float kCanary = 12345.0f;

struct NamedBinary {
    const char* name;
    BinaryRowFn RowKernels::*fn;
};

TEST(VectorRows, ExactBinaryOpsMatchScalarBitForBit) {
    KPU_REQUIRE_VECTOR_TABLES();
    const NamedBinary ops[] = {{"add", &RowKernels::add}, {"sub", &RowKernels::sub},
                               {"mul", &RowKernels::mul}, {"div", &RowKernels::div},
                               {"max", &RowKernels::max}, {"min", &RowKernels::min}};
    const RowKernels& ref = scalarRowKernels();
    for (const RowKernels* t : vectorTables())
        for (const NamedBinary& op : ops)
            for (std::int64_t n = 1; n <= 67; ++n)
                for (std::int64_t sa : {0, 1})
                    for (std::int64_t sb : {0, 1}) {
                        SCOPED_TRACE(std::string(t->isa) + " " + op.name + " n " +
                                     std::to_string(n) + " sa " + std::to_string(sa) + " sb " +
                                     std::to_string(sb));
                        const auto seed = static_cast<std::uint32_t>(n * 4 + sa * 2 + sb);
                        const auto a = randomRow(static_cast<std::size_t>(n), seed, 4, true);
                        const auto b = randomRow(static_cast<std::size_t>(n), seed + 99, 4, true);
                        std::vector<float> want(static_cast<std::size_t>(n + 1), kCanary);
                        std::vector<float> got = want;
                        (ref.*op.fn)(want.data(), a.data(), sa, b.data(), sb, n);
                        (t->*op.fn)(got.data(), a.data(), sa, b.data(), sb, n);
                        for (std::int64_t j = 0; j < n; ++j)
                            ASSERT_TRUE(sameValue(got[j], want[j]))
                                << "at " << j << ": " << got[j] << " vs " << want[j] << " (a "
                                << a[j * sa] << ", b " << b[j * sb] << ")";
                        ASSERT_EQ(got[n], kCanary) << "wrote past the row";
                    }
}

// max/min/relu/clamp: also the choice between equal zeros and which operand a NaN yields.
TEST(VectorRows, MaxMinReluClampKeepScalarNaNAndZeroSemantics) {
    KPU_REQUIRE_VECTOR_TABLES();
    const std::vector<float> a = {kNan, 1.0f, -0.0f, 0.0f, kNan, -kInf, 3.0f, -0.0f, kInf, 2.0f};
    const std::vector<float> b = {1.0f, kNan, 0.0f, -0.0f, kNan, 2.0f, -kInf, -0.0f, kNan, 2.0f};
    const auto n = static_cast<std::int64_t>(a.size());
    const RowKernels& ref = scalarRowKernels();
    for (const RowKernels* t : vectorTables()) {
        SCOPED_TRACE(t->isa);
        for (BinaryRowFn RowKernels::*fn : {&RowKernels::max, &RowKernels::min}) {
            std::vector<float> want(a.size()), got(a.size());
            (ref.*fn)(want.data(), a.data(), 1, b.data(), 1, n);
            (t->*fn)(got.data(), a.data(), 1, b.data(), 1, n);
            for (std::size_t j = 0; j < a.size(); ++j)
                EXPECT_TRUE(sameBits(got[j], want[j])) << j << ": " << got[j] << " vs " << want[j];
        }
        for (UnaryRowFn RowKernels::*fn : {&RowKernels::relu, &RowKernels::clamp}) {
            std::vector<float> want(a.size()), got(a.size());
            (ref.*fn)(want.data(), a.data(), n, -0.0f, 2.5f);
            (t->*fn)(got.data(), a.data(), n, -0.0f, 2.5f);
            for (std::size_t j = 0; j < a.size(); ++j)
                EXPECT_TRUE(sameBits(got[j], want[j])) << j << ": " << got[j] << " vs " << want[j];
        }
    }
}

struct NamedUnary {
    const char* name;
    UnaryRowFn RowKernels::*fn;
    float scale;   // inputs in [-scale, scale]
    double ulps;   // allowed error in units of the last place of the scalar result
    double absTol; // plus this absolute error
};

TEST(VectorRows, UnaryOpsMatchScalar) {
    KPU_REQUIRE_VECTOR_TABLES();
    const NamedUnary ops[] = {
        {"relu", &RowKernels::relu, 4, 0, 0},
        {"clamp", &RowKernels::clamp, 4, 0, 0},
        {"negate", &RowKernels::negate, 4, 0, 0},
        {"abs", &RowKernels::abs, 4, 0, 0},
        {"reciprocal", &RowKernels::reciprocal, 4, 0, 0},
        {"exp", &RowKernels::exp, 100, 2, 0},
        {"sigmoid", &RowKernels::sigmoid, 30, 3, 0},
        {"tanh", &RowKernels::tanh, 12, 3, 0},
        {"gelu", &RowKernels::gelu, 12, 4, 2e-7},
    };
    const RowKernels& ref = scalarRowKernels();
    for (const RowKernels* t : vectorTables())
        for (const NamedUnary& op : ops)
            for (std::int64_t n = 1; n <= 67; ++n) {
                SCOPED_TRACE(std::string(t->isa) + " " + op.name + " n " + std::to_string(n));
                // Exact ops see the special values too; the others get them in a test below.
                const auto a = randomRow(static_cast<std::size_t>(n), static_cast<std::uint32_t>(n),
                                         op.scale, op.ulps == 0);
                std::vector<float> want(static_cast<std::size_t>(n + 1), kCanary);
                std::vector<float> got = want;
                (ref.*op.fn)(want.data(), a.data(), n, -1.5f, 2.5f);
                (t->*op.fn)(got.data(), a.data(), n, -1.5f, 2.5f);
                for (std::int64_t j = 0; j < n; ++j) {
                    if (op.ulps == 0 || got[j] == want[j]) {
                        ASSERT_TRUE(sameValue(got[j], want[j]))
                            << "at " << j << ": " << got[j] << " vs " << want[j];
                        continue;
                    }
                    const double w = want[j];
                    const double ulp = std::nextafter(std::abs(want[j]), kInf) - std::abs(w);
                    ASSERT_LE(std::abs(got[j] - w), op.ulps * ulp + op.absTol)
                        << "at " << j << ": x " << a[j] << " got " << got[j] << " expected "
                        << want[j];
                }
                ASSERT_EQ(got[n], kCanary) << "wrote past the row";
            }
    // In place (out == a).
    for (const RowKernels* t : vectorTables()) {
        auto x = randomRow(37, 5, 3, false);
        auto want = x;
        ref.relu(want.data(), want.data(), 37, 0, 0);
        t->relu(x.data(), x.data(), 37, 0, 0);
        EXPECT_EQ(x, want);
    }
}

TEST(VectorRows, TranscendentalsHandleSpecialValues) {
    KPU_REQUIRE_VECTOR_TABLES();
    const std::vector<float> x = {kNan,    kInf,    -kInf,   0.0f,    -0.0f,   88.7f,
                                  89.0f,   -87.5f,  -100.0f, -104.0f, -200.0f, 1e-30f,
                                  -1e-30f, 0.6249f, 0.625f,  9.5f};
    const auto n = static_cast<std::int64_t>(x.size());
    const RowKernels& ref = scalarRowKernels();
    for (const RowKernels* t : vectorTables())
        for (UnaryRowFn RowKernels::*fn :
             {&RowKernels::exp, &RowKernels::sigmoid, &RowKernels::tanh, &RowKernels::gelu}) {
            std::vector<float> want(x.size()), got(x.size());
            (ref.*fn)(want.data(), x.data(), n, 0, 0);
            (t->*fn)(got.data(), x.data(), n, 0, 0);
            for (std::size_t j = 0; j < x.size(); ++j) {
                SCOPED_TRACE(std::string(t->isa) + " x = " + std::to_string(x[j]));
                if (std::isnan(want[j]) || std::isinf(want[j]) || want[j] == 0.0f) {
                    EXPECT_TRUE(std::isnan(got[j]) == std::isnan(want[j]) &&
                                (std::isnan(got[j]) || got[j] == want[j]))
                        << got[j] << " vs " << want[j];
                    continue;
                }
                // Subnormal exp results carry one rounding: within an ulp of the smallest one.
                EXPECT_NEAR(got[j], want[j], 4e-7 * std::abs(want[j]) + 2e-45);
            }
        }
}

TEST(VectorRows, MulAddRoundsLikeScalar) {
    KPU_REQUIRE_VECTOR_TABLES();
    const RowKernels& ref = scalarRowKernels();
    for (const RowKernels* t : vectorTables())
        for (std::int64_t n = 1; n <= 67; ++n) {
            const auto a = randomRow(static_cast<std::size_t>(n), 1, 3, true);
            const auto b = randomRow(static_cast<std::size_t>(n), 2, 3, true);
            auto want = randomRow(static_cast<std::size_t>(n), 3, 3, false);
            auto got = want;
            ref.mulAdd(want.data(), a.data(), b.data(), n);
            t->mulAdd(got.data(), a.data(), b.data(), n);
            for (std::int64_t j = 0; j < n; ++j)
                ASSERT_TRUE(sameValue(got[j], want[j])) << t->isa << " n " << n << " at " << j;
        }
}

TEST(VectorRows, ReductionsMatchScalar) {
    KPU_REQUIRE_VECTOR_TABLES();
    const RowKernels& ref = scalarRowKernels();
    for (const RowKernels* t : vectorTables())
        for (std::int64_t n = 1; n <= 67; ++n)
            for (bool special : {false, true}) {
                SCOPED_TRACE(std::string(t->isa) + " n " + std::to_string(n));
                const auto a = randomRow(static_cast<std::size_t>(n),
                                         static_cast<std::uint32_t>(n + 1000), 5, special);
                EXPECT_TRUE(sameValue(t->maxOf(a.data(), n), ref.maxOf(a.data(), n)));
                EXPECT_TRUE(sameValue(t->minOf(a.data(), n), ref.minOf(a.data(), n)));
                if (special)
                    continue;
                double magnitude = 0;
                for (float x : a)
                    magnitude += std::abs(x);
                EXPECT_NEAR(t->sum(a.data(), n), ref.sum(a.data(), n), 1e-6 * magnitude);
            }
    // Ties between zeros keep the first one; a leading NaN wins, later NaNs are skipped.
    for (const RowKernels* t : vectorTables()) {
        std::vector<float> z(40, 0.0f);
        z[0] = -0.0f;
        z[17] = -1.0f;
        EXPECT_TRUE(sameBits(t->maxOf(z.data(), 40), -0.0f));
        z[0] = kNan;
        EXPECT_TRUE(std::isnan(t->maxOf(z.data(), 40)));
        z[0] = 1.0f;
        z[20] = kNan;
        EXPECT_EQ(t->maxOf(z.data(), 40), 1.0f);
        EXPECT_EQ(t->minOf(z.data(), 40), -1.0f);
    }
}

TEST(VectorRows, SelectionPrefersTheWidestIsa) {
    const RowKernels& chosen = selectedRowKernels();
    if (avx512RowKernels() != nullptr)
        EXPECT_EQ(chosen.isa, "avx512");
    else if (avx2RowKernels() != nullptr)
        EXPECT_EQ(chosen.isa, "avx2");
    else
        EXPECT_EQ(chosen.isa, "scalar");
}

} // namespace
} // namespace kpu::sim::vec
