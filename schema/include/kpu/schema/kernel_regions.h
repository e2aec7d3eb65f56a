// How a kernel's iteration tile maps onto the regions of its operands. Shared by the compiler
// (which emits the moves) and the loader (which binds compute ops to the resident tiles), so
// the two always agree.
#pragma once

#include <array>
#include <cstdint>

#include "kpu/schema/dfx_generated.h"

namespace kpu::dfx {

// A MatMul iteration tile: one batch element b, rows [m, m+mt), cols [n, n+nt), depth [k, k+kt).
// In a Compute op's region: origin = {b, m, n, k}, extent = {1, mt, nt, kt}.
struct MatMulTile {
    std::uint32_t b = 0, m = 0, n = 0, k = 0;
    std::uint32_t mt = 1, nt = 1, kt = 1;
};

enum class MatMulOperand { A, B, C }; // C: the accumulate input and the output (m x n)

inline MatMulTile matMulTile(const Region& region) {
    const auto& o = *region.origin();
    const auto& e = *region.extent();
    return MatMulTile{o[0], o[1], o[2], o[3], e[1], e[2], e[3]};
}

inline Region toRegion(const MatMulTile& t) {
    const std::array<std::uint32_t, 4> origin{t.b, t.m, t.n, t.k};
    const std::array<std::uint32_t, 4> extent{1, t.mt, t.nt, t.kt};
    return Region(origin, extent);
}

// The operand's region for tile `t`. `view` is the operand's 4-D canonical view (its batch is
// dims 0 and 1 flattened); `batched` is false when the operand is broadcast over the batch.
inline Region matMulOperandRegion(MatMulOperand operand, const MatMulTile& t,
                                  const std::array<std::uint64_t, 4>& view, bool batched) {
    const std::uint32_t b0 = batched ? static_cast<std::uint32_t>(t.b / view[1]) : 0;
    const std::uint32_t b1 = batched ? static_cast<std::uint32_t>(t.b % view[1]) : 0;
    std::array<std::uint32_t, 4> origin{b0, b1, 0, 0};
    std::array<std::uint32_t, 4> extent{1, 1, 0, 0};
    switch (operand) {
    case MatMulOperand::A:
        origin[2] = t.m, origin[3] = t.k, extent[2] = t.mt, extent[3] = t.kt;
        break;
    case MatMulOperand::B:
        origin[2] = t.k, origin[3] = t.n, extent[2] = t.kt, extent[3] = t.nt;
        break;
    case MatMulOperand::C:
        origin[2] = t.m, origin[3] = t.n, extent[2] = t.mt, extent[3] = t.nt;
        break;
    }
    return Region(origin, extent);
}

} // namespace kpu::dfx
