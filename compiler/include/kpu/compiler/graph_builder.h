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

// How .dfg constructs map to the graph:
//  - one Operation per NODE (kind from the operator spelling; topological order, ties by id);
//  - one Value per result slot of ordinary nodes and FUNCTION_ARGUMENTs (named by the result name,
//    else the node name; repeated names become <name>_<nodeId>, original kept in sourceName);
//  - FUNCTION is the signature: no operands, no results, operandTypes = argument types. Edges
//    from its slot k read the k-th FUNCTION_ARGUMENT (by id), else an implicit input
//    "<name>.arg<k>";
//  - FUNCTION_RETURN, FUNCTION_RESULT and UNKNOWN return markers ('func.return', 'result0', ...;
//    kind stays Unknown, results empty) produce no values; their operands are Graph::outputs
//    (deduplicated, by node id). Without any return node: unread values of SINK nodes;
//  - a declared operand slot without an edge reads an implicit input "<node name>.in<slot>"
//    (producer -1), listed in Graph::inputs;
//  - 5-field EDGEs (no slots) fill operand slots in file order unless that contradicts the
//    declared types (TOSA imports), then by matching the producers' declared types.
// Errors are "<file>:<line>:<col>: error: ..." (a cycle, an edge to a missing node, a value
// without a type, ...). Inconsistencies real files contain (a consumer declaring another type
// than its producer's) become warnings on the graph.
Expected<Graph> buildGraph(const dfg::File& file, std::string_view fileName,
                           const BuildOptions& options = {});

} // namespace kpu::ir
