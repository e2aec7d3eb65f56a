// Lowering: graph IR -> DFX program (the in-memory object, dfx::ProgramT).
#pragma once

#include <optional>
#include <string>

#include "kpu/common/error.h"
#include "kpu/common/hw_config.h"
#include "kpu/compiler/graph.h"
#include "kpu/schema/object.h"

namespace kpu::compiler {

struct LowerOptions {
    KpuConfig target = defaultConfig(); // the configuration tiles are chosen for
    std::string sourceFile;             // for messages and the object's header
    bool fuse = true;                   // GEMM kernels absorb a following bias add and activation
    // The dataflow of every GEMM kernel; nullopt: each kernel's own best (tile_optimizer.h).
    std::optional<dfx::Dataflow> dataflow{};
    // true: every op is stored in the program (format 2.x style, Explicit kernels); false:
    // kernels are TileLoops records whose ops the loader generates (schema tile_loops.h).
    bool explicitOps = true;
};

// Compute op flag bits (dfx::Op::flags).
using dfx::kAccumulateFlag;
using dfx::kEpilogueFlag;

// Errors name the file and node: "m.dfg: error: operator CONV2D (node 7 'tosa.conv2d') is not
// supported yet".
Expected<dfx::ProgramT> lowerGraph(const ir::Graph& graph, const LowerOptions& options);

} // namespace kpu::compiler
