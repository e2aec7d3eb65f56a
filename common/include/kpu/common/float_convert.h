// Conversions between storage types and the compute types (f32, f64).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kpu/common/dtype.h"

namespace kpu {

float f16ToF32(std::uint16_t h);
std::uint16_t f32ToF16(float f); // round to nearest even
float f8e4m3ToF32(std::uint8_t v);
std::uint8_t f32ToF8e4m3(float f); // round to nearest even, saturating to +-448

// Converts `count` elements of type `from` at `src` into doubles / floats.
void convertToF64(DType from, const void* src, double* dst, std::size_t count);
void convertToF32(DType from, const void* src, float* dst, std::size_t count);
// Converts `count` values into elements of type `to` (integers round to nearest and saturate).
void convertFromF64(DType to, const double* src, void* dst, std::size_t count);
void convertFromF32(DType to, const float* src, void* dst, std::size_t count);

} // namespace kpu
