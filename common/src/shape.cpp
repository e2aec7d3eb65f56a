#include "kpu/common/shape.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

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

std::optional<std::uint64_t> byteSize(std::span<const std::int64_t> shape,
                                      std::uint32_t elementSize) {
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

namespace kpu {

std::optional<std::array<std::uint64_t, 4>> canonicalView4(std::span<const std::int64_t> shape) {
    std::array<std::uint64_t, 4> view{1, 1, 1, 1};
    const std::size_t rank = shape.size();
    for (std::int64_t d : shape)
        if (d < 0)
            return std::nullopt;
    if (rank <= 4) {
        for (std::size_t i = 0; i < rank; ++i)
            view[4 - rank + i] = static_cast<std::uint64_t>(shape[i]);
        return view;
    }
    std::uint64_t lead = 1;
    for (std::size_t i = 0; i + 3 < rank; ++i) {
        auto p = checkedMul(lead, static_cast<std::uint64_t>(shape[i]));
        if (!p)
            return std::nullopt;
        lead = *p;
    }
    view = {lead, static_cast<std::uint64_t>(shape[rank - 3]),
            static_cast<std::uint64_t>(shape[rank - 2]),
            static_cast<std::uint64_t>(shape[rank - 1])};
    return view;
}

std::optional<Shape> broadcastShapes(const Shape& a, const Shape& b) {
    const std::size_t rank = std::max(a.size(), b.size());
    Shape out(rank, 1);
    for (std::size_t i = 0; i < rank; ++i) {
        const std::int64_t da = i < a.size() ? a[a.size() - 1 - i] : 1;
        const std::int64_t db = i < b.size() ? b[b.size() - 1 - i] : 1;
        if (da != db && da != 1 && db != 1)
            return std::nullopt;
        out[rank - 1 - i] = da == 1 ? db : da;
    }
    return out;
}

std::vector<std::uint8_t> transposeElements(std::span<const std::uint8_t> data, const Shape& shape,
                                            std::span<const std::int64_t> perm,
                                            std::size_t elementSize) {
    const std::size_t rank = shape.size();
    std::vector<std::int64_t> strides(rank, 1);
    for (std::size_t d = rank; d-- > 1;)
        strides[d - 1] = strides[d] * shape[d];
    Shape outShape(rank);
    for (std::size_t d = 0; d < rank; ++d)
        outShape[d] = shape[static_cast<std::size_t>(perm[d])];
    std::vector<std::uint8_t> out(data.size());
    const std::size_t count = elementSize == 0 ? 0 : data.size() / elementSize;
    std::vector<std::int64_t> index(rank, 0);
    for (std::size_t i = 0; i < count; ++i) {
        std::int64_t src = 0;
        for (std::size_t d = 0; d < rank; ++d)
            src += index[d] * strides[static_cast<std::size_t>(perm[d])];
        std::memcpy(out.data() + i * elementSize,
                    data.data() + static_cast<std::size_t>(src) * elementSize, elementSize);
        for (std::size_t d = rank; d-- > 0;) {
            if (++index[d] < outShape[d])
                break;
            index[d] = 0;
        }
    }
    return out;
}

std::string formatBytes(std::uint64_t bytes) {
    constexpr std::array<std::pair<std::uint64_t, const char*>, 4> kUnits{
        {{1ull << 40, "TiB"}, {1ull << 30, "GiB"}, {1ull << 20, "MiB"}, {1ull << 10, "KiB"}}};
    for (const auto& [unit, name] : kUnits)
        if (bytes >= unit)
            return fmt::format("{:.1f} {}", static_cast<double>(bytes) / static_cast<double>(unit),
                               name);
    return fmt::format("{} B", bytes);
}

} // namespace kpu
