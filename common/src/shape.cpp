#include "kpu/common/shape.h"

#include <fmt/format.h>

namespace kpu {

std::optional<std::uint64_t> checkedMul(std::uint64_t a, std::uint64_t b) {
    std::uint64_t r = 0;
    if (__builtin_mul_overflow(a, b, &r))
        return std::nullopt;
    return r;
}

std::optional<std::uint64_t> checkedAdd(std::uint64_t a, std::uint64_t b) {
    std::uint64_t r = 0;
    if (__builtin_add_overflow(a, b, &r))
        return std::nullopt;
    return r;
}

std::optional<std::int64_t> elementCount(std::span<const std::int64_t> shape) {
    std::int64_t n = 1;
    for (std::int64_t d : shape) {
        if (d < 0)
            return std::nullopt;
        if (__builtin_mul_overflow(n, d, &n))
            return std::nullopt;
    }
    return n;
}

std::optional<std::uint64_t> byteSize(std::span<const std::int64_t> shape, std::uint32_t elementSize) {
    auto n = elementCount(shape);
    if (!n)
        return std::nullopt;
    return checkedMul(static_cast<std::uint64_t>(*n), elementSize);
}

std::string formatShape(std::span<const std::int64_t> shape) {
    if (shape.empty())
        return "scalar";
    return fmt::format("{}", fmt::join(shape, "x"));
}

} // namespace kpu
