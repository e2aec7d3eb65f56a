#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kpu/common/float_convert.h"

namespace kpu {
namespace {

std::uint32_t bitsOf(float f) {
    return std::bit_cast<std::uint32_t>(f);
}

TEST(F16, KnownValues) {
    EXPECT_EQ(f16ToF32(0x3C00), 1.0f);
    EXPECT_EQ(f16ToF32(0xC000), -2.0f);
    EXPECT_EQ(f16ToF32(0x7BFF), 65504.0f);
    EXPECT_EQ(f16ToF32(0x0001), std::ldexp(1.0f, -24));
    EXPECT_EQ(f16ToF32(0x0400), std::ldexp(1.0f, -14));
    EXPECT_EQ(bitsOf(f16ToF32(0x8000)), 0x80000000u);
    EXPECT_EQ(f16ToF32(0x7C00), std::numeric_limits<float>::infinity());
    EXPECT_EQ(f16ToF32(0xFC00), -std::numeric_limits<float>::infinity());
    EXPECT_TRUE(std::isnan(f16ToF32(0x7E00)));
    EXPECT_EQ(bitsOf(f16ToF32(0x7C01)), 0x7FC02000u); // signalling NaN is quieted
    EXPECT_EQ(f32ToF16(1.0f), 0x3C00);
    EXPECT_EQ(f32ToF16(-0.0f), 0x8000);
    EXPECT_EQ(f32ToF16(65504.0f), 0x7BFF);
    EXPECT_EQ(f32ToF16(std::numeric_limits<float>::infinity()), 0x7C00);
    EXPECT_EQ(f32ToF16(-std::numeric_limits<float>::infinity()), 0xFC00);
    EXPECT_EQ(f32ToF16(std::bit_cast<float>(0x7FA12345u)), 0x7F09);
    EXPECT_EQ(f32ToF16(std::bit_cast<float>(0xFF800001u)), 0xFE00);
    EXPECT_EQ(f32ToF16(1e-30f), 0x0000);
    EXPECT_EQ(f32ToF16(std::bit_cast<float>(0x80000001u)), 0x8000);
}

TEST(F16, AllValuesRoundTripThroughF32) {
    for (std::uint32_t h = 0; h < 65536; ++h) {
        const auto h16 = static_cast<std::uint16_t>(h);
        const float f = f16ToF32(h16);
        const std::uint16_t back = f32ToF16(f);
        if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0) {
            ASSERT_TRUE(std::isnan(f)) << h;
            ASSERT_EQ(back, h16 | 0x200) << h; // quieted NaN, payload kept
        } else {
            ASSERT_EQ(back, h16) << h;
            ASSERT_EQ(f64ToF16(static_cast<double>(f)), h16) << h;
        }
    }
}

TEST(F16, RoundingAtHalfwayPoints) {
    // Between consecutive finite f16 values a and b (same sign), the midpoint rounds to the even
    // one, anything just above goes up and anything just below goes down.
    for (std::uint32_t h = 0; h < 0x7BFF; ++h) {
        const double a = f16ToF32(static_cast<std::uint16_t>(h));
        const double b = f16ToF32(static_cast<std::uint16_t>(h + 1));
        const double mid = (a + b) / 2; // exact in f64 (and in f32)
        const auto even = static_cast<std::uint16_t>((h & 1) == 0 ? h : h + 1);
        ASSERT_EQ(f32ToF16(static_cast<float>(mid)), even) << h;
        ASSERT_EQ(f64ToF16(mid), even) << h;
        ASSERT_EQ(f64ToF16(std::nextafter(mid, 1e9)), h + 1) << h;
        ASSERT_EQ(f64ToF16(std::nextafter(mid, -1e9)), h) << h;
        ASSERT_EQ(f64ToF16(-mid), even | 0x8000) << h;
    }
    // Overflow: 65520 is the midpoint between 65504 and 2^16 and rounds to infinity.
    EXPECT_EQ(f32ToF16(65519.0f), 0x7BFF);
    EXPECT_EQ(f32ToF16(65520.0f), 0x7C00);
    EXPECT_EQ(f32ToF16(-1e10f), 0xFC00);
    // Smallest subnormal: half of it rounds to zero (even), a bit more rounds up.
    EXPECT_EQ(f64ToF16(std::ldexp(1.0, -25)), 0x0000);
    EXPECT_EQ(f64ToF16(std::ldexp(1.0, -25) * 1.0001), 0x0001);
    EXPECT_EQ(f64ToF16(std::ldexp(3.0, -25)), 0x0002);
}

TEST(F16, NoDoubleRoundingFromF64) {
    // 1 + 2^-11 + 2^-40: just above the f16 midpoint between 1 and 1 + 2^-10. Rounding via f32
    // would first land exactly on the midpoint and then round to even (1.0).
    const double d = 1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40);
    EXPECT_EQ(f64ToF16(d), 0x3C01);
}

TEST(F16, BulkMatchesScalarBitForBit) {
    std::vector<std::uint16_t> all(65536 + 5);
    for (std::size_t i = 0; i < all.size(); ++i)
        all[i] = static_cast<std::uint16_t>(i * 7919u);
    std::vector<float> f(all.size());
    convertToF32(DType::F16, all.data(), f.data(), all.size());
    for (std::size_t i = 0; i < all.size(); ++i)
        ASSERT_EQ(bitsOf(f[i]), bitsOf(f16ToF32(all[i]))) << i;

    // f32 -> f16 over a spread of bit patterns, including NaNs, subnormals and ties.
    std::vector<float> src;
    for (std::uint64_t b = 0; b < (1ull << 32); b += 65521)
        src.push_back(std::bit_cast<float>(static_cast<std::uint32_t>(b)));
    for (std::uint32_t h = 0; h < 0x7BFF; h += 3) {
        const double mid = (static_cast<double>(f16ToF32(static_cast<std::uint16_t>(h))) +
                            f16ToF32(static_cast<std::uint16_t>(h + 1))) /
                           2;
        src.push_back(static_cast<float>(mid));
        src.push_back(static_cast<float>(-mid));
    }
    std::vector<std::uint16_t> h(src.size());
    convertFromF32(DType::F16, src.data(), h.data(), src.size());
    for (std::size_t i = 0; i < src.size(); ++i)
        ASSERT_EQ(h[i], f32ToF16(src[i])) << std::hex << bitsOf(src[i]);
}

TEST(F8, KnownValues) {
    EXPECT_EQ(f8e4m3ToF32(0x38), 1.0f);
    EXPECT_EQ(f8e4m3ToF32(0x7E), 448.0f);
    EXPECT_EQ(f8e4m3ToF32(0xFE), -448.0f);
    EXPECT_EQ(f8e4m3ToF32(0x01), std::ldexp(1.0f, -9));
    EXPECT_EQ(f8e4m3ToF32(0x08), std::ldexp(1.0f, -6));
    EXPECT_EQ(f8e4m3ToF32(0x78), 256.0f); // exponent 15 is a normal binade
    EXPECT_TRUE(std::isnan(f8e4m3ToF32(0x7F)));
    EXPECT_TRUE(std::isnan(f8e4m3ToF32(0xFF)));
    EXPECT_EQ(bitsOf(f8e4m3ToF32(0x80)), 0x80000000u);
    EXPECT_EQ(f32ToF8e4m3(1.0f), 0x38);
    EXPECT_EQ(f32ToF8e4m3(-0.0f), 0x80);
    EXPECT_EQ(f32ToF8e4m3(448.0f), 0x7E);
    EXPECT_EQ(f32ToF8e4m3(464.0f), 0x7E); // saturates
    EXPECT_EQ(f32ToF8e4m3(1e6f), 0x7E);
    EXPECT_EQ(f32ToF8e4m3(-1e6f), 0xFE);
    EXPECT_EQ(f32ToF8e4m3(std::numeric_limits<float>::infinity()), 0x7E);
    EXPECT_EQ(f32ToF8e4m3(-std::numeric_limits<float>::infinity()), 0xFE);
    EXPECT_EQ(f32ToF8e4m3(std::numeric_limits<float>::quiet_NaN()), 0x7F);
    EXPECT_EQ(f32ToF8e4m3(-std::numeric_limits<float>::quiet_NaN()), 0xFF);
    EXPECT_EQ(f32ToF8e4m3(std::ldexp(1.0f, -10)), 0x00); // half the smallest subnormal
    EXPECT_EQ(f32ToF8e4m3(std::ldexp(1.5f, -10)), 0x01);
    EXPECT_EQ(f32ToF8e4m3(432.0f), 0x7E);  // midpoint of 416 (odd) and 448 (even)
    EXPECT_EQ(f32ToF8e4m3(1.0625f), 0x38); // midpoint of 1 and 1.125 -> 1 (even)
    EXPECT_EQ(f32ToF8e4m3(1.1875f), 0x3A); // midpoint of 1.125 and 1.25 -> 1.25 (even)
}

TEST(F8, AllValuesRoundTrip) {
    for (std::uint32_t v = 0; v < 256; ++v) {
        const auto v8 = static_cast<std::uint8_t>(v);
        const float f = f8e4m3ToF32(v8);
        if ((v & 0x7F) == 0x7F) {
            ASSERT_TRUE(std::isnan(f));
            ASSERT_EQ(f32ToF8e4m3(f), v8);
            continue;
        }
        ASSERT_FALSE(std::isnan(f));
        ASSERT_EQ(f32ToF8e4m3(f), v8) << v;
        ASSERT_EQ(f64ToF8e4m3(static_cast<double>(f)), v8) << v;
    }
}

TEST(F8, RoundingAtHalfwayPoints) {
    for (std::uint32_t v = 0; v < 0x7E; ++v) {
        const double a = f8e4m3ToF32(static_cast<std::uint8_t>(v));
        const double b = f8e4m3ToF32(static_cast<std::uint8_t>(v + 1));
        const double mid = (a + b) / 2;
        const auto even = static_cast<std::uint8_t>((v & 1) == 0 ? v : v + 1);
        ASSERT_EQ(f32ToF8e4m3(static_cast<float>(mid)), even) << v;
        ASSERT_EQ(f64ToF8e4m3(-mid), even | 0x80) << v;
        ASSERT_EQ(f64ToF8e4m3(std::nextafter(mid, 1e9)), v + 1) << v;
        ASSERT_EQ(f64ToF8e4m3(std::nextafter(mid, -1e9)), v) << v;
    }
}

TEST(Bulk, AllTypesRoundTripThroughF64AndF32) {
    const std::vector<double> values = {0.0, 1.0, -2.5, 3.25, 100.0, -7.0, 0.5};
    for (DType t : {DType::F32, DType::F16, DType::F64, DType::F8E4M3, DType::I8, DType::I32}) {
        std::vector<std::uint8_t> storage(values.size() * dtypeSize(t));
        convertFromF64(t, values.data(), storage.data(), values.size());
        std::vector<double> back(values.size());
        convertToF64(t, storage.data(), back.data(), values.size());
        std::vector<float> backF(values.size());
        convertToF32(t, storage.data(), backF.data(), values.size());
        for (std::size_t i = 0; i < values.size(); ++i) {
            double expected = values[i];
            if (t == DType::I8 || t == DType::I32)
                expected = values[i] == -2.5   ? -2.0
                           : values[i] == 3.25 ? 3.0
                           : values[i] == 0.5  ? 0.0
                                               : values[i];
            if (t == DType::F8E4M3 && values[i] == 100.0)
                expected = 96.0; // 100 lies between 96 and 104: ties to even mantissa (96)
            EXPECT_EQ(back[i], expected) << dtypeName(t) << " " << values[i];
            EXPECT_EQ(static_cast<double>(backF[i]), expected) << dtypeName(t) << " " << values[i];
        }
        std::vector<float> valuesF(values.begin(), values.end());
        std::vector<std::uint8_t> storageF(storage.size());
        convertFromF32(t, valuesF.data(), storageF.data(), valuesF.size());
        EXPECT_EQ(storageF, storage) << dtypeName(t);
    }
}

TEST(Bulk, IntegersRoundToNearestEvenAndSaturate) {
    const std::vector<double> in = {0.5,
                                    1.5,
                                    2.5,
                                    -0.5,
                                    -1.5,
                                    1e300,
                                    -1e300,
                                    127.4,
                                    127.6,
                                    -128.6,
                                    std::numeric_limits<double>::quiet_NaN(),
                                    std::numeric_limits<double>::infinity(),
                                    -2.4999};
    std::vector<std::int8_t> i8(in.size());
    convertFromF64(DType::I8, in.data(), i8.data(), in.size());
    const std::vector<std::int8_t> e8 = {0, 2, 2, 0, -2, 127, -128, 127, 127, -128, 0, 127, -2};
    EXPECT_EQ(i8, e8);
    std::vector<std::int32_t> i32(in.size());
    convertFromF64(DType::I32, in.data(), i32.data(), in.size());
    const std::vector<std::int32_t> e32 = {
        0, 2, 2, 0, -2, 2147483647, -2147483647 - 1, 127, 128, -129, 0, 2147483647, -2};
    EXPECT_EQ(i32, e32);
    const float big = 3e9f;
    std::int32_t one = 0;
    convertFromF32(DType::I32, &big, &one, 1);
    EXPECT_EQ(one, 2147483647);
}

TEST(Bulk, UnalignedBuffers) {
    std::vector<std::uint8_t> raw(1 + 4 * 3);
    const float v[3] = {1.0f, -2.0f, 0.5f};
    convertFromF32(DType::F32, v, raw.data() + 1, 3);
    float out[3] = {};
    convertToF32(DType::F32, raw.data() + 1, out, 3);
    EXPECT_EQ(out[1], -2.0f);
    std::vector<std::uint8_t> raw16(1 + 2 * 17);
    std::vector<float> many(17, 1.5f);
    convertFromF32(DType::F16, many.data(), raw16.data() + 1, many.size());
    std::vector<float> back(17);
    convertToF32(DType::F16, raw16.data() + 1, back.data(), back.size());
    EXPECT_EQ(back, many);
}

// The vector paths (F16C / AVX2, taken for whole groups of 8 elements when the CPU has them)
// against the scalar conversions, element by element, over every length up to 67 so that the
// vector bodies and the scalar tails both run, at odd (unaligned) offsets.
std::vector<float> specialFloats(std::size_t n, std::uint32_t seed) {
    const float inf = std::numeric_limits<float>::infinity();
    const float specials[] = {std::numeric_limits<float>::quiet_NaN(),
                              -std::numeric_limits<float>::quiet_NaN(),
                              std::bit_cast<float>(0x7F800001u), // signalling NaN
                              inf,
                              -inf,
                              0.0f,
                              -0.0f,
                              1e-40f,
                              -1e-40f,
                              6e-8f,
                              3e-5f,
                              65504.0f,
                              65520.0f,
                              2.5f,
                              -2.5f,
                              126.5f,
                              127.5f,
                              -128.5f,
                              -129.0f,
                              2147483520.0f,
                              2147483648.0f,
                              -2147483648.0f,
                              -3e9f,
                              3e38f,
                              std::bit_cast<float>(0x3F808000u),
                              std::bit_cast<float>(0x3F818000u)};
    std::mt19937 gen(seed);
    std::uniform_real_distribution<float> dist(-300.0f, 300.0f);
    std::vector<float> v(n);
    for (float& x : v)
        x = gen() % 3 == 0 ? specials[gen() % std::size(specials)] : dist(gen);
    return v;
}

template <class Fn>
void forLengthsUpTo67(Fn fn) {
    for (std::size_t n = 1; n <= 67; ++n)
        fn(n, static_cast<std::uint32_t>(n));
}

TEST(Bulk, FromF32MatchesScalarBitForBit) {
    forLengthsUpTo67([](std::size_t n, std::uint32_t seed) {
        const std::vector<float> src = specialFloats(n, seed);
        std::vector<std::uint8_t> i8(n + 1), i32(4 * n + 1), f16(2 * n + 1), bf16(2 * n + 1);
        convertFromF32(DType::I8, src.data(), i8.data() + 1, n);
        convertFromF32(DType::I32, src.data(), i32.data() + 1, n);
        convertFromF32(DType::F16, src.data(), f16.data() + 1, n);
        convertF32ToBf16(src.data(), bf16.data() + 1, n);
        for (std::size_t i = 0; i < n; ++i) {
            SCOPED_TRACE("n " + std::to_string(n) + " at " + std::to_string(i) + " value " +
                         std::to_string(src[i]));
            std::int8_t b8 = 0;
            std::int32_t b32 = 0;
            std::uint16_t h = 0, bh = 0;
            std::memcpy(&b8, i8.data() + 1 + i, 1);
            std::memcpy(&b32, i32.data() + 1 + 4 * i, 4);
            std::memcpy(&h, f16.data() + 1 + 2 * i, 2);
            std::memcpy(&bh, bf16.data() + 1 + 2 * i, 2);
            std::int8_t w8 = 0;
            std::int32_t w32 = 0;
            convertFromF64(DType::I8, std::vector<double>{src[i]}.data(), &w8, 1);
            convertFromF64(DType::I32, std::vector<double>{src[i]}.data(), &w32, 1);
            ASSERT_EQ(b8, w8);
            ASSERT_EQ(b32, w32);
            ASSERT_EQ(h, f32ToF16(src[i]));
            ASSERT_EQ(bh, f32ToBf16(src[i]));
        }
    });
}

TEST(Bulk, ToF32MatchesScalarBitForBit) {
    forLengthsUpTo67([](std::size_t n, std::uint32_t seed) {
        std::mt19937 gen(seed);
        std::vector<std::uint8_t> raw(4 * n + 1);
        for (auto& b : raw)
            b = static_cast<std::uint8_t>(gen());
        for (DType t : {DType::F16, DType::I8, DType::I32, DType::F8E4M3}) {
            std::vector<float> got(n);
            convertToF32(t, raw.data() + 1, got.data(), n);
            for (std::size_t i = 0; i < n; ++i) {
                const std::uint8_t* p = raw.data() + 1 + i * dtypeSize(t);
                float want = 0;
                if (t == DType::F16) {
                    std::uint16_t h = 0;
                    std::memcpy(&h, p, 2);
                    want = f16ToF32(h);
                } else if (t == DType::F8E4M3) {
                    want = f8e4m3ToF32(*p);
                } else if (t == DType::I8) {
                    want = static_cast<float>(static_cast<std::int8_t>(*p));
                } else {
                    std::int32_t v = 0;
                    std::memcpy(&v, p, 4);
                    want = static_cast<float>(v);
                }
                ASSERT_EQ(bitsOf(got[i]), bitsOf(want))
                    << "type " << static_cast<int>(t) << " n " << n << " at " << i;
            }
        }
        std::vector<float> bf(n);
        convertBf16ToF32(raw.data() + 1, bf.data(), n);
        for (std::size_t i = 0; i < n; ++i) {
            std::uint16_t h = 0;
            std::memcpy(&h, raw.data() + 1 + 2 * i, 2);
            ASSERT_EQ(bitsOf(bf[i]), static_cast<std::uint32_t>(h) << 16);
        }
    });
}

TEST(Bf16, KnownValuesAndRounding) {
    EXPECT_EQ(f32ToBf16(1.0f), 0x3F80);
    EXPECT_EQ(f32ToBf16(-2.0f), 0xC000);
    EXPECT_EQ(f32ToBf16(std::bit_cast<float>(0x3F808000u)), 0x3F80); // tie to even (down)
    EXPECT_EQ(f32ToBf16(std::bit_cast<float>(0x3F818000u)), 0x3F82); // tie to even (up)
    EXPECT_EQ(f32ToBf16(std::bit_cast<float>(0x3F808001u)), 0x3F81);
    EXPECT_EQ(f32ToBf16(std::numeric_limits<float>::infinity()), 0x7F80);
    EXPECT_EQ(f32ToBf16(3.4028235e38f), 0x7F80);                     // rounds up to infinity
    EXPECT_EQ(f32ToBf16(std::bit_cast<float>(0x7F800001u)), 0x7FC0); // quieted NaN
    EXPECT_EQ(f32ToBf16(-0.0f), 0x8000);
    EXPECT_EQ(bf16ToF32(0x3F80), 1.0f);
    EXPECT_EQ(bitsOf(bf16ToF32(0x0001)), 0x00010000u); // subnormal kept
}

} // namespace
} // namespace kpu
