// Lowering: graph IR -> DFX program (the in-memory object, dfx::ProgramT).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kpu/common/error.h"
#include "kpu/common/hw_config.h"
#include "kpu/compiler/graph.h"
#include "kpu/compiler/tile_optimizer.h"
#include "kpu/schema/object.h"

namespace kpu::compiler {

// A GEMM kernel's tiling as the lowering chose it, with what it chose from: what
// `--tile-strategy search` (tile_search.h) needs to try the kernel's other tilings.
struct GemmKernelChoice {
    std::string kernel; // the kernel's name ("<node name>#<node id>")
    GemmShape shape;
    KpuConfig target; // the configuration the tiling was chosen for (on-chip space left)
    std::uint64_t maxTileSteps = 0; // the program's op budget for the kernel
    GemmTiling tiling;              // the one in the program
};

// A tiling imposed on one GEMM kernel, by name (it must be one of gemmTilingCandidates).
struct GemmTilingChoice {
    dfx::Dataflow dataflow = dfx::Dataflow::OutputStationary;
    std::uint32_t mt = 0, nt = 0, kt = 0;
    bool operator==(const GemmTilingChoice&) const = default;
};

struct LowerOptions {
    KpuConfig target = defaultConfig(); // the configuration tiles are chosen for
    std::string sourceFile;             // for messages and the object's header
    bool fuse = true;                   // GEMM kernels absorb a following bias add and activation
    // The dataflow of every GEMM kernel; nullopt: each kernel's own best (tile_optimizer.h).
    std::optional<dfx::Dataflow> dataflow{};
    // true: every op is stored in the program (format 2.x style, Explicit kernels); false:
    // kernels are TileLoops records whose ops the loader generates (schema tile_loops.h).
    bool explicitOps = true;
    // Tilings imposed on GEMM kernels by name (the others: the analytical choice); an imposed
    // tiling that does not fit is an error.
    std::map<std::string, GemmTilingChoice> gemmTilings{};
    // When set, receives every GEMM kernel's choice, in kernel order.
    std::vector<GemmKernelChoice>* gemmChoices = nullptr;
};

// Compute op flag bits (dfx::Op::flags).
using dfx::kAccumulateFlag;
using dfx::kEpilogueFlag;

// Errors name the file and node: "m.dfg: error: operator CONV2D (node 7 'tosa.conv2d') is not
// supported yet".
Expected<dfx::ProgramT> lowerGraph(const ir::Graph& graph, const LowerOptions& options);

} // namespace kpu::compiler
