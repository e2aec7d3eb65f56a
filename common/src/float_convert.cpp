#include "kpu/common/float_convert.h"

#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define KPU_HAVE_F16C_PATH 1
#else
#define KPU_HAVE_F16C_PATH 0
#endif

namespace kpu {
namespace {

// m >> shift, rounded to nearest with ties to even. 1 <= shift.
std::uint64_t roundShiftRne(std::uint64_t m, int shift) {
    if (shift >= 64)
        return 0; // m < 2^53 is below half of 2^shift
    const std::uint64_t q = m >> shift;
    const std::uint64_t rem = m & ((std::uint64_t{1} << shift) - 1);
    const std::uint64_t half = std::uint64_t{1} << (shift - 1);
    if (rem > half || (rem == half && (q & 1) != 0))
        return q + 1;
    return q;
}

// Encodes the magnitude of a finite, non-NaN double into a small binary float format with
// `mantBits` stored mantissa bits and exponent bias `bias`. Returns the unsigned encoding; the
// caller handles overflow (the result may exceed the largest finite code).
std::uint32_t encodeMagnitude(double a, int mantBits, int bias) {
    const std::uint64_t bits = std::bit_cast<std::uint64_t>(a) & ~(std::uint64_t{1} << 63);
    const int e = static_cast<int>(bits >> 52);
    if (e == 0)
        return 0; // zero or a double subnormal: far below every target's smallest subnormal
    const std::uint64_t m = (bits & ((std::uint64_t{1} << 52) - 1)) | (std::uint64_t{1} << 52);
    const int t = e - 1023 + bias; // target exponent field
    if (t < 1) {
        // Target subnormal; a result of 2^mantBits is exactly the smallest normal encoding.
        return static_cast<std::uint32_t>(roundShiftRne(m, 53 - mantBits - t));
    }
    if (t > 255)
        return 0xFFFFFFFFu; // certainly overflows every target
    std::uint64_t q = roundShiftRne(m, 52 - mantBits);
    int field = t;
    if (q == (std::uint64_t{1} << (mantBits + 1))) {
        q >>= 1;
        ++field;
    }
    const std::uint64_t mantMask = (std::uint64_t{1} << mantBits) - 1;
    return static_cast<std::uint32_t>((static_cast<std::uint64_t>(field) << mantBits) |
                                      (q & mantMask));
}

std::uint16_t f64ToF16Finite(double d) {
    const std::uint16_t sign = std::signbit(d) ? 0x8000 : 0;
    const std::uint32_t mag = encodeMagnitude(std::fabs(d), 10, 15);
    if (mag >= 0x7C00)
        return sign | 0x7C00;
    return static_cast<std::uint16_t>(sign | mag);
}

std::uint8_t f64ToF8Finite(double d) {
    const std::uint8_t sign = std::signbit(d) ? 0x80 : 0;
    const std::uint32_t mag = encodeMagnitude(std::fabs(d), 3, 7);
    if (mag >= 0x7E)
        return sign | 0x7E; // saturate to 448
    return static_cast<std::uint8_t>(sign | mag);
}

// Round to nearest integer, ties to even, independent of the floating-point environment.
double roundHalfEven(double x) {
    const double lo = std::floor(x);
    const double diff = x - lo; // exact
    if (diff > 0.5)
        return lo + 1.0;
    if (diff < 0.5)
        return lo;
    return std::fmod(lo, 2.0) == 0.0 ? lo : lo + 1.0;
}

template <class Int>
Int toSaturatedInt(double x) {
    if (std::isnan(x))
        return 0;
    const double r = roundHalfEven(x);
    constexpr double lo = static_cast<double>(std::numeric_limits<Int>::min());
    constexpr double hi = static_cast<double>(std::numeric_limits<Int>::max());
    if (r <= lo)
        return std::numeric_limits<Int>::min();
    if (r >= hi)
        return std::numeric_limits<Int>::max();
    return static_cast<Int>(r);
}

template <class T>
T load(const void* src, std::size_t i) {
    T v;
    std::memcpy(&v, static_cast<const unsigned char*>(src) + i * sizeof(T), sizeof(T));
    return v;
}

template <class T>
void store(void* dst, std::size_t i, T v) {
    std::memcpy(static_cast<unsigned char*>(dst) + i * sizeof(T), &v, sizeof(T));
}

#if KPU_HAVE_F16C_PATH
// The vector paths: each converts the leading elements in whole vectors and returns how many
// it did (the caller converts the rest with the scalar functions). Every path gives the bits
// of the scalar conversion it replaces; the tests compare them on all special values.
bool cpuHasF16c() {
    // cpuid leaf 1, ECX bit 29; clang's __builtin_cpu_supports does not know "f16c".
    static const bool has = [] {
        unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
        return __builtin_cpu_supports("avx") && __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 &&
               (ecx & bit_F16C) != 0;
    }();
    return has;
}

bool cpuHasAvx2() {
    static const bool has = __builtin_cpu_supports("avx2");
    return has;
}

__attribute__((target("avx,f16c"))) std::size_t f16ToF32F16c(const void* src, float* dst,
                                                             std::size_t count) {
    std::size_t i = 0;
    const auto* s = static_cast<const unsigned char*>(src);
    for (; i + 8 <= count; i += 8) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i * 2));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
    return i;
}

__attribute__((target("avx,f16c"))) std::size_t f32ToF16F16c(const float* src, void* dst,
                                                             std::size_t count) {
    std::size_t i = 0;
    auto* d = static_cast<unsigned char*>(dst);
    for (; i + 8 <= count; i += 8) {
        const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i * 2), h);
    }
    return i;
}

__attribute__((target("avx2"))) std::size_t i8ToF32Avx2(const void* src, float* dst,
                                                        std::size_t count) {
    std::size_t i = 0;
    const auto* s = static_cast<const unsigned char*>(src);
    for (; i + 8 <= count; i += 8) {
        const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(s + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b)));
    }
    return i;
}

// Exact for |v| < 2^24; larger values round like static_cast (cvtdq2ps, round to nearest even
// in the default floating-point environment).
__attribute__((target("avx2"))) std::size_t i32ToF32Avx2(const void* src, float* dst,
                                                         std::size_t count) {
    std::size_t i = 0;
    const auto* s = static_cast<const unsigned char*>(src);
    for (; i + 8 <= count; i += 8) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i * 4));
        _mm256_storeu_ps(dst + i, _mm256_cvtepi32_ps(v));
    }
    return i;
}

// Round to nearest even (whatever the MXCSR mode), then as toSaturatedInt: NaN lanes 0,
// lanes >= 2^31 INT32_MAX (cvttps2dq gives INT32_MIN for every out-of-range lane).
__attribute__((target("avx2"))) __m256i f32ToI32Lanes(__m256 x) {
    const __m256 r = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256i v = _mm256_cvttps_epi32(r);
    const __m256 high = _mm256_cmp_ps(r, _mm256_set1_ps(2147483648.0f), _CMP_GE_OQ);
    v = _mm256_blendv_epi8(v, _mm256_set1_epi32(0x7FFFFFFF), _mm256_castps_si256(high));
    const __m256 ordered = _mm256_cmp_ps(x, x, _CMP_ORD_Q);
    return _mm256_and_si256(v, _mm256_castps_si256(ordered));
}

__attribute__((target("avx2"))) std::size_t f32ToI32Avx2(const float* src, void* dst,
                                                         std::size_t count) {
    std::size_t i = 0;
    auto* d = static_cast<unsigned char*>(dst);
    for (; i + 8 <= count; i += 8)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + i * 4),
                            f32ToI32Lanes(_mm256_loadu_ps(src + i)));
    return i;
}

__attribute__((target("avx2"))) std::size_t f32ToI8Avx2(const float* src, void* dst,
                                                        std::size_t count) {
    std::size_t i = 0;
    auto* d = static_cast<unsigned char*>(dst);
    const __m256 lo = _mm256_set1_ps(-128.0f), hi = _mm256_set1_ps(127.0f);
    for (; i + 8 <= count; i += 8) {
        const __m256 x = _mm256_loadu_ps(src + i);
        // Saturate before converting; NaN lanes become 0 in f32ToI32Lanes (max/min would turn
        // them into a bound, so clamp a copy with NaNs replaced by 0).
        const __m256 ordered = _mm256_cmp_ps(x, x, _CMP_ORD_Q);
        const __m256 clamped = _mm256_min_ps(_mm256_max_ps(_mm256_and_ps(x, ordered), lo), hi);
        const __m256i v = f32ToI32Lanes(clamped);
        const __m256i w = _mm256_packs_epi32(v, v); // per 128-bit lane: 4 x i16, twice
        const __m256i b = _mm256_packs_epi16(w, w); // per 128-bit lane: 4 x i8, four times
        const __m128i bytes =
            _mm_unpacklo_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(d + i), bytes);
    }
    return i;
}

__attribute__((target("avx2"))) std::size_t bf16ToF32Avx2(const void* src, float* dst,
                                                          std::size_t count) {
    std::size_t i = 0;
    const auto* s = static_cast<const unsigned char*>(src);
    for (; i + 8 <= count; i += 8) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i * 2));
        const __m256i w = _mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16);
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(w));
    }
    return i;
}

__attribute__((target("avx2"))) std::size_t f32ToBf16Avx2(const float* src, void* dst,
                                                          std::size_t count) {
    std::size_t i = 0;
    auto* d = static_cast<unsigned char*>(dst);
    for (; i + 8 <= count; i += 8) {
        const __m256 x = _mm256_loadu_ps(src + i);
        const __m256i bits = _mm256_castps_si256(x);
        const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
        const __m256i rounded = _mm256_srli_epi32(
            _mm256_add_epi32(_mm256_add_epi32(bits, _mm256_set1_epi32(0x7FFF)), lsb), 16);
        const __m256i quiet =
            _mm256_or_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(0x0040));
        const __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
        const __m256i v = _mm256_blendv_epi8(rounded, quiet, _mm256_castps_si256(nan));
        // Pack the low halves of the 32-bit lanes (all <= 0xFFFF) and undo the lane interleave.
        const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(v, v), 0xD8);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i * 2), _mm256_castsi256_si128(packed));
    }
    return i;
}
#endif

// All 256 E4M3 values, decoded once.
const float* f8e4m3Table() {
    static const auto table = [] {
        std::array<float, 256> t{};
        for (unsigned v = 0; v < 256; ++v)
            t[v] = f8e4m3ToF32(static_cast<std::uint8_t>(v));
        return t;
    }();
    return table.data();
}

} // namespace

float f16ToF32(std::uint16_t h) {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000) << 16;
    const std::uint32_t exp = (h >> 10) & 0x1F;
    const std::uint32_t mant = h & 0x3FF;
    if (exp == 0x1F) {
        if (mant == 0)
            return std::bit_cast<float>(sign | 0x7F800000u);
        return std::bit_cast<float>(sign | 0x7FC00000u | (mant << 13)); // quieted, as F16C does
    }
    if (exp == 0) {
        if (mant == 0)
            return std::bit_cast<float>(sign);
        // Subnormal: mant * 2^-24, exact in f32.
        const float v = std::ldexp(static_cast<float>(mant), -24);
        return sign != 0 ? -v : v;
    }
    return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

std::uint16_t f32ToF16(float f) {
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
    if ((bits & 0x7F800000u) == 0x7F800000u && (bits & 0x7FFFFFu) != 0) {
        const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000);
        return static_cast<std::uint16_t>(sign | 0x7E00 | ((bits & 0x7FFFFFu) >> 13));
    }
    return f64ToF16Finite(static_cast<double>(f)); // exact widening; infinities map to inf
}

std::uint16_t f64ToF16(double d) {
    if (std::isnan(d)) {
        const std::uint64_t bits = std::bit_cast<std::uint64_t>(d);
        const auto sign = static_cast<std::uint16_t>((bits >> 48) & 0x8000);
        const auto payload =
            static_cast<std::uint16_t>((bits & ((std::uint64_t{1} << 52) - 1)) >> 42);
        return static_cast<std::uint16_t>(sign | 0x7E00 | payload);
    }
    return f64ToF16Finite(d);
}

float f8e4m3ToF32(std::uint8_t v) {
    const bool negative = (v & 0x80) != 0;
    const int exp = (v >> 3) & 0xF;
    const int mant = v & 0x7;
    if (exp == 0xF && mant == 0x7)
        return std::bit_cast<float>((negative ? 0x80000000u : 0u) | 0x7FC00000u);
    float value = 0.0f;
    if (exp == 0)
        value = std::ldexp(static_cast<float>(mant), -9);
    else
        value = std::ldexp(static_cast<float>(8 + mant), exp - 10);
    return negative ? -value : value;
}

std::uint8_t f32ToF8e4m3(float f) {
    if (std::isnan(f))
        return std::signbit(f) ? 0xFF : 0x7F;
    return f64ToF8Finite(static_cast<double>(f));
}

std::uint8_t f64ToF8e4m3(double d) {
    if (std::isnan(d))
        return std::signbit(d) ? 0xFF : 0x7F;
    return f64ToF8Finite(d);
}

void convertToF64(DType from, const void* src, double* dst, std::size_t count) {
    switch (from) {
    case DType::F32:
        for (std::size_t i = 0; i < count; ++i)
            dst[i] = static_cast<double>(load<float>(src, i));
        return;
    case DType::F16:
        for (std::size_t i = 0; i < count; ++i)
            dst[i] = static_cast<double>(f16ToF32(load<std::uint16_t>(src, i)));
        return;
    case DType::F64:
        if (count != 0)
            std::memcpy(dst, src, count * sizeof(double));
        return;
    case DType::F8E4M3:
        for (std::size_t i = 0; i < count; ++i)
            dst[i] = static_cast<double>(f8e4m3ToF32(load<std::uint8_t>(src, i)));
        return;
    case DType::I8:
        for (std::size_t i = 0; i < count; ++i)
            dst[i] = static_cast<double>(load<std::int8_t>(src, i));
        return;
    case DType::I32:
        for (std::size_t i = 0; i < count; ++i)
            dst[i] = static_cast<double>(load<std::int32_t>(src, i));
        return;
    case DType::I64:
        for (std::size_t i = 0; i < count; ++i)
            dst[i] = static_cast<double>(load<std::int64_t>(src, i));
        return;
    }
}

void convertToF32(DType from, const void* src, float* dst, std::size_t count) {
    switch (from) {
    case DType::F32:
        if (count != 0)
            std::memcpy(dst, src, count * sizeof(float));
        return;
    case DType::F16: {
        std::size_t done = 0;
#if KPU_HAVE_F16C_PATH
        if (cpuHasF16c())
            done = f16ToF32F16c(src, dst, count);
#endif
        for (std::size_t i = done; i < count; ++i)
            dst[i] = f16ToF32(load<std::uint16_t>(src, i));
        return;
    }
    case DType::F64:
        for (std::size_t i = 0; i < count; ++i)
            dst[i] = static_cast<float>(load<double>(src, i));
        return;
    case DType::F8E4M3: {
        const float* table = f8e4m3Table();
        for (std::size_t i = 0; i < count; ++i)
            dst[i] = table[load<std::uint8_t>(src, i)];
        return;
    }
    case DType::I8: {
        std::size_t done = 0;
#if KPU_HAVE_F16C_PATH
        if (cpuHasAvx2())
            done = i8ToF32Avx2(src, dst, count);
#endif
        for (std::size_t i = done; i < count; ++i)
            dst[i] = static_cast<float>(load<std::int8_t>(src, i));
        return;
    }
    case DType::I32: {
        std::size_t done = 0;
#if KPU_HAVE_F16C_PATH
        if (cpuHasAvx2())
            done = i32ToF32Avx2(src, dst, count);
#endif
        for (std::size_t i = done; i < count; ++i)
            dst[i] = static_cast<float>(load<std::int32_t>(src, i));
        return;
    }
    case DType::I64:
        for (std::size_t i = 0; i < count; ++i)
            dst[i] = static_cast<float>(load<std::int64_t>(src, i));
        return;
    }
}

void convertFromF64(DType to, const double* src, void* dst, std::size_t count) {
    switch (to) {
    case DType::F32:
        for (std::size_t i = 0; i < count; ++i)
            store(dst, i, static_cast<float>(src[i]));
        return;
    case DType::F16:
        for (std::size_t i = 0; i < count; ++i)
            store(dst, i, f64ToF16(src[i]));
        return;
    case DType::F64:
        if (count != 0)
            std::memcpy(dst, src, count * sizeof(double));
        return;
    case DType::F8E4M3:
        for (std::size_t i = 0; i < count; ++i)
            store(dst, i, f64ToF8e4m3(src[i]));
        return;
    case DType::I8:
        for (std::size_t i = 0; i < count; ++i)
            store(dst, i, toSaturatedInt<std::int8_t>(src[i]));
        return;
    case DType::I32:
        for (std::size_t i = 0; i < count; ++i)
            store(dst, i, toSaturatedInt<std::int32_t>(src[i]));
        return;
    case DType::I64:
        for (std::size_t i = 0; i < count; ++i)
            store(dst, i, toSaturatedInt<std::int64_t>(src[i]));
        return;
    }
}

void convertFromF32(DType to, const float* src, void* dst, std::size_t count) {
    switch (to) {
    case DType::F32:
        if (count != 0)
            std::memcpy(dst, src, count * sizeof(float));
        return;
    case DType::F16: {
        std::size_t done = 0;
#if KPU_HAVE_F16C_PATH
        if (cpuHasF16c())
            done = f32ToF16F16c(src, dst, count);
#endif
        for (std::size_t i = done; i < count; ++i)
            store(dst, i, f32ToF16(src[i]));
        return;
    }
    case DType::F64:
        for (std::size_t i = 0; i < count; ++i)
            store(dst, i, static_cast<double>(src[i]));
        return;
    case DType::F8E4M3:
        for (std::size_t i = 0; i < count; ++i)
            store(dst, i, f32ToF8e4m3(src[i]));
        return;
    case DType::I8: {
        std::size_t done = 0;
#if KPU_HAVE_F16C_PATH
        if (cpuHasAvx2())
            done = f32ToI8Avx2(src, dst, count);
#endif
        for (std::size_t i = done; i < count; ++i)
            store(dst, i, toSaturatedInt<std::int8_t>(static_cast<double>(src[i])));
        return;
    }
    case DType::I32: {
        std::size_t done = 0;
#if KPU_HAVE_F16C_PATH
        if (cpuHasAvx2())
            done = f32ToI32Avx2(src, dst, count);
#endif
        for (std::size_t i = done; i < count; ++i)
            store(dst, i, toSaturatedInt<std::int32_t>(static_cast<double>(src[i])));
        return;
    }
    case DType::I64:
        for (std::size_t i = 0; i < count; ++i)
            store(dst, i, toSaturatedInt<std::int64_t>(static_cast<double>(src[i])));
        return;
    }
}

float bf16ToF32(std::uint16_t h) {
    return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16);
}

std::uint16_t f32ToBf16(float f) {
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
    if (std::isnan(f))
        return static_cast<std::uint16_t>((bits >> 16) | 0x0040); // quieted, payload kept
    const std::uint32_t lsb = (bits >> 16) & 1;
    return static_cast<std::uint16_t>((bits + 0x7FFF + lsb) >> 16);
}

void convertBf16ToF32(const void* src, float* dst, std::size_t count) {
    std::size_t done = 0;
#if KPU_HAVE_F16C_PATH
    if (cpuHasAvx2())
        done = bf16ToF32Avx2(src, dst, count);
#endif
    for (std::size_t i = done; i < count; ++i)
        dst[i] = bf16ToF32(load<std::uint16_t>(src, i));
}

void convertF32ToBf16(const float* src, void* dst, std::size_t count) {
    std::size_t done = 0;
#if KPU_HAVE_F16C_PATH
    if (cpuHasAvx2())
        done = f32ToBf16Avx2(src, dst, count);
#endif
    for (std::size_t i = done; i < count; ++i)
        store(dst, i, f32ToBf16(src[i]));
}

} // namespace kpu
