// Builds the graph IR from a parsed .dfg file: resolves edges to operand slots, orders the
// operations topologically, gives every value a unique name, resolves dynamic dimensions and
// checks types.
#pragma once

#include <cstdint>

#include "kpu/common/error.h"
#include "kpu/compiler/dfg_reader.h"
#include "kpu/compiler/graph.h"

namespace kpu::ir {

struct BuildOptions {
    std::int64_t batch = 1; // value of each dynamic '?' dimension
};

// Errors are "<file>:<line>:<col>: error: ..." (a cycle, an edge to a missing node, a value
// without a type, ...). Inconsistencies real files contain (a consumer declaring another type
// than its producer's) become warnings on the graph.
Expected<Graph> buildGraph(const dfg::File& file, std::string_view fileName, const BuildOptions& options = {});

} // namespace kpu::ir
