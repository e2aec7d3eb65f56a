// Tile-loop kernels (format 3.0): the ops of a kernel generated from its record instead of being
// stored. One generator, shared: the compiler lowers every kernel through it (writing the ops
// only with --explicit-ops) and the loader expands TileLoops kernels with it, so the two agree
// by construction. docs/object-format.md ("Tile-loop kernels") specifies the same expansion in
// prose for other readers.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "kpu/common/error.h"
#include "kpu/schema/kernel_regions.h"
#include "kpu/schema/object.h"

namespace kpu::dfx {

// Size limits of one (expanded) program, shared by the compiler (which refuses to lower a graph
// past them) and the loader (which refuses an object whose expansion would pass them, before
// allocating anything): 2^24 ops and 2^25 dependencies, under 1 GiB of expanded program.
inline constexpr std::uint64_t kMaxProgramOps = 1ull << 24;
inline constexpr std::uint64_t kMaxProgramDeps = 1ull << 25;

// Everything the generator reads: a kernel record decoded (decodeTileLoops) or built by the
// compiler. Tensor indices are the object's; views are 4-D canonical views.
struct TileLoops {
    std::uint32_t kernel = 0;  // kernel index: the `index` of its Compute ops
    std::uint32_t firstOp = 0; // expanded index of the kernel's first op
    KernelShape shape;         // kind, params in view terms, operand views, iteration space
    std::array<std::uint32_t, 4> tile{1, 1, 1, 1};     // L2 tile, 1 <= tile[d] <= iteration[d]
    std::array<std::uint8_t, 4> loopOrder{0, 1, 2, 3}; // outermost first
    std::vector<std::uint32_t> inputs;                 // tensor indices
    std::vector<MemoryLevel> inputLevels;              // External or L3, one per input
    std::vector<std::int64_t> inputReady;              // op index or -1, one per input
    std::uint32_t output = 0;                          // tensor index
    MemoryLevel outputLevel = MemoryLevel::External;   // External or L3
};

struct TileLoopCounts {
    std::uint64_t ops = 0;
    std::uint64_t deps = 0;
};

// Op and dependency counts of the expansion, in O(inputs), without generating anything. Errors
// ("op_count: ...") when either passes kMaxProgramOps / kMaxProgramDeps (no overflow on the way).
Expected<TileLoopCounts> countTileLoops(const TileLoops& loops);

// Appends the kernel's ops to `ops` and their dependencies to the CSR arrays (`depOffsets` must
// already hold the offset of the first appended op, i.e. end with depIndices.size()). Exactly
// countTileLoops(loops) ops and deps. `loops` must satisfy decodeTileLoops' checks.
void expandTileLoops(const TileLoops& loops, std::vector<Op>& ops,
                     std::vector<std::uint32_t>& depOffsets,
                     std::vector<std::uint32_t>& depIndices);

// The same into preallocated arrays with room for countTileLoops(loops): writes the ops at
// cursor.op, each op's dependency end (its dep_offsets[i + 1] entry, cursor.depCount after its
// dependencies) at cursor.depEnd, the dependencies at cursor.dep, and advances the cursor.
struct OpCursor {
    Op* op = nullptr;
    std::uint32_t* depEnd = nullptr;
    std::uint32_t* dep = nullptr;
    std::uint32_t depCount = 0; // dependencies written so far in the whole program
};
void expandTileLoops(const TileLoops& loops, OpCursor& cursor);

// Reads kernel `kernel` of `program` (its ops_encoding must be TileLoops) and checks everything
// the generator relies on: tensor indices and views, a 4-D iteration space, an L2 tiling with
// 1 <= tile <= space, a loop order that is a permutation (MatMul: batch outermost and K
// innermost, a batch tile of 1), one input level (External or L3) and one ready index (-1 or
// < first_op) per input, the output level, dimensions the kind needs whole not split, IM2COL
// tiles contiguous. Errors are "<field path inside the kernel>: <what>", e.g.
// "input_ready[1]: 57 is not -1 or an op before the kernel's first op 40". It does not check
// that the operand views fit the kind (loader/verifier.cpp does, before calling it).
Expected<TileLoops> decodeTileLoops(const Program& program, std::uint32_t kernel);

// One step of a kernel's tile loops, in program order: a Compute op's iteration tile. MatMul:
// `first` / `last` mark the first and last K step of an output tile; vector kinds: both true.
struct TileStep {
    Box tile;
    bool first = true;
    bool last = true;
};

// Visits the tile steps of a kernel in the order expandTileLoops emits their Compute ops.
// MatMul: batch, then the two middle loops in loopOrder[1], loopOrder[2], then K. Other kinds:
// the four dimensions in loopOrder. Edge tiles are clipped to the iteration space.
template <class Visit>
void forEachTileStep(const TileLoops& loops, Visit&& visit) {
    const auto& space = loops.shape.iteration;
    const auto& tile = loops.tile;
    const auto& order = loops.loopOrder;
    TileStep step;
    if (loops.shape.kind == Operator::MatMul) {
        const std::uint8_t outer = order[1], inner = order[2];
        for (std::uint32_t b = 0; b < space[0]; ++b)
            for (std::uint64_t x = 0; x < space[outer]; x += tile[outer])
                for (std::uint64_t y = 0; y < space[inner]; y += tile[inner]) {
                    Box& box = step.tile;
                    box.origin = {b, 0, 0, 0};
                    box.origin[outer] = static_cast<std::uint32_t>(x);
                    box.origin[inner] = static_cast<std::uint32_t>(y);
                    box.extent[0] = 1;
                    for (std::size_t d = 1; d < 3; ++d)
                        box.extent[d] = std::min(tile[d], space[d] - box.origin[d]);
                    for (std::uint64_t k = 0; k < space[3]; k += tile[3]) {
                        box.origin[3] = static_cast<std::uint32_t>(k);
                        box.extent[3] = static_cast<std::uint32_t>(
                            std::min<std::uint64_t>(tile[3], space[3] - k));
                        step.first = k == 0;
                        step.last = k + tile[3] >= space[3];
                        visit(static_cast<const TileStep&>(step));
                    }
                }
        return;
    }
    const std::uint8_t d0 = order[0], d1 = order[1], d2 = order[2], d3 = order[3];
    Box& box = step.tile;
    auto set = [&](std::uint8_t d, std::uint64_t at) {
        box.origin[d] = static_cast<std::uint32_t>(at);
        box.extent[d] = static_cast<std::uint32_t>(std::min<std::uint64_t>(tile[d], space[d] - at));
    };
    for (std::uint64_t i0 = 0; i0 < space[d0]; i0 += tile[d0]) {
        set(d0, i0);
        for (std::uint64_t i1 = 0; i1 < space[d1]; i1 += tile[d1]) {
            set(d1, i1);
            for (std::uint64_t i2 = 0; i2 < space[d2]; i2 += tile[d2]) {
                set(d2, i2);
                for (std::uint64_t i3 = 0; i3 < space[d3]; i3 += tile[d3]) {
                    set(d3, i3);
                    visit(static_cast<const TileStep&>(step));
                }
            }
        }
    }
}

// Whether input `i` is read by a step: MatMul reads A and B at every K step, an accumulate input
// C at the first and the bias at the last; other kinds read every input at every step.
inline bool readsInput(const TileLoops& loops, std::size_t i, const TileStep& step) {
    if (loops.shape.kind != Operator::MatMul || i < 2)
        return true;
    return static_cast<int>(i) == loops.shape.params.biasInput ? step.last : step.first;
}

// The Compute op flags of a step: accumulate after a MatMul's first K step, epilogue on the last
// K step of a kernel with a bias or an activation; vector kinds none.
inline std::uint32_t stepFlags(const TileLoops& loops, const TileStep& step) {
    if (loops.shape.kind != Operator::MatMul)
        return 0;
    const OpParams& p = loops.shape.params;
    const bool epilogue = p.biasInput >= 0 || p.activation != kpu::Activation::None;
    return (step.first ? 0u : kAccumulateFlag) | (step.last && epilogue ? kEpilogueFlag : 0u);
}

} // namespace kpu::dfx
