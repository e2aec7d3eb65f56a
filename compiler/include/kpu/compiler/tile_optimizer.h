// TileOptimizer: analytical choice of the dataflow and of the tiles a GEMM-shaped kernel moves
// between memory levels, for one target configuration. docs/dataflows.md explains the model
// with worked examples.
//
// Dataflows (as SCALE-Sim v2 maps a GEMM C[M x N] = A[M x K] . B[K x N] onto an R x C array):
//
//   dataflow                 array rows   array cols   streamed (T)   tile loops, outermost first
//   output-stationary (os)   M            N            K              b, m, n, k
//   weight-stationary (ws)   K            N            M              b, n, m, k
//   input-stationary  (is)   K            M            N              b, m, n, k
//
// Array cycles of one Compute tile (mt, nt, kt), with (rowsExtent, colsExtent, T) taken from
// (mt, nt, kt) by the table (os: (mt, nt, kt), ws: (kt, nt, mt), is: (kt, mt, nt)):
//   folds  = ceil(rowsExtent / R) * ceil(colsExtent / C)
//   cycles = folds * (2R + C + T - 2)
// A kernel's array cycles are the sum over its tiles (times the batch). The fused epilogue's
// extra cycle per output row is not counted.
//
// External traffic. The output tile stays in L2 across the K loop (K is the innermost tile
// loop in every dataflow) and is written once. An input tile is read from external memory again
// only when it differs from the previous tile step's, so with kt = K the operand that does not
// depend on the middle loop is read once: A under (b, m, n, k), B under (b, n, m, k) (and, when
// the middle loop has one step, the other operand too). Otherwise A is read ceil(N/nt) times and
// B ceil(M/mt) times. An accumulate input is read once. Every operand is counted per batch item.
//
// Estimated kernel time, in cycles:
//   max(array cycles, ceil(external bytes / (bank_count * external bandwidth / clock)))
//
// Capacity rules, at both L2 and L3 (tiles pass through both):
//   - every single tile (A mt x kt, B kt x nt, C mt x nt, the accumulate input) fits one L2 bank
//     and one L3 tile;
//   - A and B are double-buffered: 2 * (A + B) + C (+ the accumulate input) <= the smaller of
//     the total L2 and the total L3 capacity.
// Candidates: mt multiples of R (of C under is, where M runs along the array's columns), nt
// multiples of C, kt powers of two below R and multiples of R; each dimension also its whole
// extent (and only when not even one step fits, the largest size that does). For a given
// (mt, nt) the deepest kt that fits is never worse (it needs the fewest K steps and folds, and
// only kt = K can reuse an operand), so the search evaluates that one.
//
// Choice of the tiling for one dataflow (among those within the program's op budget, see
// chooseGemmTiling): the smallest estimated time; ties: fewer external bytes, then the larger
// kt, then fewer output tiles (each tile's moves pay a latency the estimate leaves out), then the
// squarer output tile (smaller max(mt, nt) / min(mt, nt)). Choice of the dataflow (when not
// forced): the best tiling of each of os, ws and is, and the dataflow with the smallest estimated
// time; ties prefer os, then ws, then is. Fold overhead is proportional to M.N (os), K.N (ws) or
// K.M (is) over the array, so a tall GEMM (large M) goes weight-stationary, a wide one (large N)
// input-stationary, a balanced one output-stationary.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "kpu/common/error.h"
#include "kpu/common/hw_config.h"
#include "kpu/schema/kernel_regions.h"

namespace kpu::compiler {

// The dataflows in the order ties prefer them.
inline constexpr std::array<dfx::Dataflow, 3> kGemmDataflows{dfx::Dataflow::OutputStationary,
                                                             dfx::Dataflow::WeightStationary,
                                                             dfx::Dataflow::InputStationary};

// Short names used on the command line: "os", "ws", "is".
const char* dataflowShortName(dfx::Dataflow dataflow);

struct GemmShape {
    std::uint64_t m = 0, n = 0, k = 0;
    std::uint32_t aElementBytes = 4, bElementBytes = 4, cElementBytes = 4;
    std::uint32_t initElementBytes = 0; // element size of the accumulate input C; 0 when absent
    std::uint64_t batch = 1;            // independent GEMMs of this shape, run one after another
};

// The tile loop order of a GEMM kernel under `dataflow`, outermost first, as indices into the
// iteration space [batch, M, N, K] (Kernel.loop_order): os, is {0, 1, 2, 3}; ws {0, 2, 1, 3}.
std::array<std::uint8_t, 4> gemmLoopOrder(dfx::Dataflow dataflow);

// Array cycles of one Compute tile mt x nt x kt on an R x C array (the formula above).
std::uint64_t gemmTileCycles(dfx::Dataflow dataflow, std::uint32_t rows, std::uint32_t cols,
                             std::uint64_t mt, std::uint64_t nt, std::uint64_t kt);

struct GemmEstimate {
    std::uint64_t arrayCycles = 0;   // sum of gemmTileCycles over every tile, times the batch
    std::uint64_t externalBytes = 0; // the traffic estimate above
    std::uint64_t cycles = 0;        // max(arrayCycles, external bytes / bytes per cycle)
};

// The estimate of one tiling (mt, nt, kt >= 1; capacity is not checked).
GemmEstimate estimateGemm(const GemmShape& shape, const KpuConfig& config, dfx::Dataflow dataflow,
                          std::uint32_t mt, std::uint32_t nt, std::uint32_t kt);

struct GemmTiling {
    dfx::Dataflow dataflow = dfx::Dataflow::OutputStationary;
    std::uint32_t mt = 0, nt = 0, kt = 0;
    GemmEstimate estimate{};
    std::uint64_t tileSteps = 0; // Compute ops: batch x ceil(M/mt) x ceil(N/nt) x ceil(K/kt)
};

// The best tiling under `dataflow`, or, when it is not given, under the best dataflow (the rules
// above). Tilings of at most `maxTileSteps` steps (the program's op budget) come first; when
// there is none, the one with the fewest steps. Errors when not even the smallest tile fits the
// configuration ("the smallest tile (16x16x1) needs 1280 bytes of on-chip memory per level ...").
Expected<GemmTiling> chooseGemmTiling(const GemmShape& shape, const KpuConfig& config,
                                      std::optional<dfx::Dataflow> dataflow = std::nullopt,
                                      std::uint64_t maxTileSteps = UINT64_MAX);

// Every tiling of every dataflow that fits the configuration and has at most `maxTileSteps`
// steps, best first by the analytical ranking above (the first is chooseGemmTiling's choice when
// it is within the budget). `--tile-strategy search` (tile_search.h) scores them by simulation.
std::vector<GemmTiling> gemmTilingCandidates(const GemmShape& shape, const KpuConfig& config,
                                             std::uint64_t maxTileSteps = UINT64_MAX);

// Vector kernels (every operator but MatMul) stream each tile's operands EXT -> L3 -> L2 -> L1,
// run one pass of the array and write the tile back. Tiles are boxes of the iteration space
// `space`; the tile keeps the kernel's pinned dimensions whole and shrinks the others
// outermost first, so every tile is a contiguous run of the iteration space in row-major order.
// The working set of one tile (every input region and the output region) must fit
//   min(L2 capacity, L3 capacity left by on-chip intermediates) / 4
// (four tiles in flight: loading, computing, storing, spare), or / 2 (double buffering) when
// the kernel's pinned dimensions allow no smaller tile, and one L1 allocation. Errors when not even
// a tile of one element per free dimension fits.
Expected<std::array<std::uint32_t, 4>>
chooseVectorTile(const dfx::KernelShape& shape, const std::vector<std::uint32_t>& inputElementBytes,
                 std::uint32_t outputElementBytes, const std::array<std::uint32_t, 4>& space,
                 const KpuConfig& config);

} // namespace kpu::compiler
