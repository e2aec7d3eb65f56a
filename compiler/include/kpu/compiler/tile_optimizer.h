// TileOptimizer: analytical (Goto-style) choice of the tiles a GEMM-shaped kernel moves
// between memory levels, for one target configuration.
//
// Output-stationary: an output tile mt x nt stays resident in L2 while the K loop streams
// A tiles (mt x kt) and B tiles (kt x nt) through L3 into L2. External traffic is then
//   bytes(A) * ceil(N/nt) + bytes(B) * ceil(M/mt) + bytes(C)
// so the optimizer maximises mt and nt under the capacity rules below, then prefers the largest
// kt (fewer, longer array passes). Capacity rules, at both L2 and L3 (tiles pass through both):
//   - every single tile fits one L2 bank and one L3 tile;
//   - A and B are double-buffered: 2 * (A + B) + C (+ C again for an accumulate input)
//     <= capacity of the level.
// mt and nt are multiples of the array's rows/cols (or the whole dimension when smaller).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "kpu/common/error.h"
#include "kpu/common/hw_config.h"
#include "kpu/schema/kernel_regions.h"

namespace kpu::compiler {

struct GemmShape {
    std::uint64_t m = 0, n = 0, k = 0;
    std::uint32_t aElementBytes = 4, bElementBytes = 4, cElementBytes = 4;
    std::uint32_t initElementBytes = 0; // element size of the accumulate input C; 0 when absent
};

struct GemmTiling {
    std::uint32_t mt = 0, nt = 0, kt = 0;
    std::uint64_t externalBytes = 0; // the traffic estimate above, for hints and reports
};

// Errors when not even the smallest tile fits the configuration ("an 8x8x1 f32 tile needs
// 768 bytes of L2; the config has 512").
Expected<GemmTiling> chooseGemmTiling(const GemmShape& shape, const KpuConfig& config);

// Vector kernels (every operator but MatMul) stream each tile's operands EXT -> L3 -> L2 -> L1,
// run one pass of the array and write the tile back. Tiles are boxes of the iteration space
// `space`; the tile keeps the kernel's pinned dimensions whole and shrinks the others
// outermost first, so every tile is a contiguous run of the iteration space in row-major order.
// The working set of one tile (every input region and the output region) must fit
//   min(L2 capacity, L3 capacity left by on-chip intermediates) / 2   (double buffering)
// and one L1 allocation. Errors when not even a tile of one element per free dimension fits.
Expected<std::array<std::uint32_t, 4>>
chooseVectorTile(const dfx::KernelShape& shape, const std::vector<std::uint32_t>& inputElementBytes,
                 std::uint32_t outputElementBytes, const std::array<std::uint32_t, 4>& space,
                 const KpuConfig& config);

} // namespace kpu::compiler
