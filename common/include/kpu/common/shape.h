// Tensor shapes and overflow-checked size arithmetic.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace kpu {

using Shape = std::vector<std::int64_t>;

// Product of the dimensions; nullopt if a dimension is negative or the product overflows int64.
std::optional<std::int64_t> elementCount(std::span<const std::int64_t> shape);

// elementCount × elementSize in bytes; nullopt on overflow.
std::optional<std::uint64_t> byteSize(std::span<const std::int64_t> shape,
                                      std::uint32_t elementSize);

// numpy broadcasting of two shapes (aligned at the last dimension; 1 or a missing leading
// dimension broadcasts); nullopt when they do not broadcast.
std::optional<Shape> broadcastShapes(const Shape& a, const Shape& b);

// numpy.transpose of dense row-major elements of `elementSize` bytes: output dimension d is
// input dimension perm[d]. `perm` must be a permutation of [0, shape.size()).
std::vector<std::uint8_t> transposeElements(std::span<const std::uint8_t> data, const Shape& shape,
                                            std::span<const std::int64_t> perm,
                                            std::size_t elementSize);

// "4x16x32" (empty shape: "scalar").
std::string formatShape(std::span<const std::int64_t> shape);

// A byte count for people: "2.0 GiB", "512.0 KiB", "17 B" (binary units, one decimal).
std::string formatBytes(std::uint64_t bytes);

// a*b and a+b for sizes, nullopt on overflow.
std::optional<std::uint64_t> checkedMul(std::uint64_t a, std::uint64_t b);
std::optional<std::uint64_t> checkedAdd(std::uint64_t a, std::uint64_t b);
// a + b, or UINT64_MAX when that overflows (for totals that are only compared with a limit).
inline std::uint64_t saturatingAdd(std::uint64_t a, std::uint64_t b) {
    return checkedAdd(a, b).value_or(UINT64_MAX);
}

} // namespace kpu

namespace kpu {

// The 4-D canonical view the object format uses for regions: a shape of rank r < 4 gets
// 4 - r leading 1s; rank > 4 collapses its leading dimensions into the first.
// Returns nullopt if a collapsed dimension overflows uint64.
std::optional<std::array<std::uint64_t, 4>> canonicalView4(std::span<const std::int64_t> shape);

} // namespace kpu
