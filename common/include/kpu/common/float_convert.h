// Conversions between storage types and the compute types (f32, f64).
//
// f16 is IEEE 754 binary16. f8 is OCP FP8 E4M3 in its finite-only variant ("E4M3FN"): bias 7,
// largest finite value 448, NaN encoded as S.1111.111, no infinities.
// Narrowing conversions round to nearest, ties to even, independent of the floating-point
// environment. NaNs stay NaN (f16 keeps the upper payload bits and sets the quiet bit, as x86
// F16C does); f16 overflows to infinity, f8 saturates to +-448 (infinities included).
// The bulk helpers use F16C / AVX2 when the CPU has them (checked at runtime); results are
// bit-identical to the scalar functions. bf16 (the upper half of an f32) is not a tensor type
// yet; its helpers round to nearest even and quiet NaNs keeping the upper payload bits.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kpu/common/dtype.h"

namespace kpu {

float f16ToF32(std::uint16_t h);
std::uint16_t f32ToF16(float f);  // round to nearest even
std::uint16_t f64ToF16(double d); // round to nearest even (single rounding, no detour via f32)
float f8e4m3ToF32(std::uint8_t v);
std::uint8_t f32ToF8e4m3(float f);  // round to nearest even, saturating to +-448
std::uint8_t f64ToF8e4m3(double d); // round to nearest even, saturating to +-448

// Converts `count` elements of type `from` at `src` into doubles / floats. `src` need not be
// aligned.
void convertToF64(DType from, const void* src, double* dst, std::size_t count);
void convertToF32(DType from, const void* src, float* dst, std::size_t count);
// Converts `count` values into elements of type `to`. Floating types round to nearest even;
// integers round to nearest (ties to even) and saturate, NaN becomes 0. `dst` need not be
// aligned.
void convertFromF64(DType to, const double* src, void* dst, std::size_t count);
void convertFromF32(DType to, const float* src, void* dst, std::size_t count);

float bf16ToF32(std::uint16_t h);
std::uint16_t f32ToBf16(float f); // round to nearest even; NaN stays NaN (quieted)
void convertBf16ToF32(const void* src, float* dst, std::size_t count);
void convertF32ToBf16(const float* src, void* dst, std::size_t count);

} // namespace kpu
