// NumPy .npy files (format versions 1.0, 2.0 and 3.0; little-endian; C order) for tensor inputs
// and outputs. Supported element types: <f4 <f2 <f8 <i4 |i1 |u1 (u1 read as f8 E4M3 bytes).
// '=' (native order) is accepted as little-endian; for one-byte types any order character is
// accepted. Big-endian data, Fortran order, object and structured dtypes are rejected.
// Errors read "<sourceName>: error: <what>".
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kpu/common/dtype.h"
#include "kpu/common/error.h"
#include "kpu/common/shape.h"

namespace kpu {

struct NpyArray {
    DType dtype = DType::F32;
    Shape shape;
    std::vector<std::uint8_t> data; // elementCount(shape) * dtypeSize(dtype) bytes, C order
};

// Parses .npy bytes. Errors name `sourceName` and what is wrong (bad magic, unsupported dtype,
// Fortran order, size mismatch, ...); never reads out of bounds.
Expected<NpyArray> parseNpy(std::span<const std::uint8_t> bytes, std::string_view sourceName);
Expected<NpyArray> readNpyFile(const std::string& path);

// Version 1.0 bytes (2.0 if the header would exceed 65535 bytes), data 64-byte aligned.
// Requires array.data.size() == elementCount(shape) * dtypeSize(dtype); writeNpyFile checks it.
// I8 is written as '|i1' and F8E4M3 as '|u1'.
std::vector<std::uint8_t> serializeNpy(const NpyArray& array);
Expected<void> writeNpyFile(const std::string& path, const NpyArray& array);

} // namespace kpu
