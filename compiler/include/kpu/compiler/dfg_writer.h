// Writer for Domain Flow Graph text files (.dfg): the graph IR back out in the domain_flow
// library's current grammar, the one the corpus' newest files and kpu-sim use, so that
// dfg_reader.h + graph_builder.h (and other domain_flow tools) read it back.
//
// Mapping (ir::Graph -> .dfg):
//  - Header "Domain Flow Graph: <Graph::name>", then DIRECTED, RUNNING_NODE_ID (the largest
//    node id), NODES, EDGES, ADJACENCY, SOURCE (nodes without incoming edges) and SINK (nodes
//    without outgoing edges). Every NODE line has all 7 fields, every EDGE line its slots.
//  - One NODE per Operation. Its operator is opKindName(kind); an OpKind::Unknown operation is
//    written with its opName (characters other than letters, digits, '_' and '.' become '_'; an
//    empty spelling or one naming a known operator becomes UNKNOWN), which the reader keeps.
//    Depth is the longest path from a node without incoming edges.
//  - Operand slot k of an operation reading value v: an EDGE from v's producer (result slot =
//    Value::producerSlot) to the operation's slot k, plus the declared type "k:<operandTypes[k]>"
//    (the value's type where operandTypes has no entry k). A FUNCTION_ARGUMENT declares no
//    operand types (the reader would take them as result types); a FUNCTION (the signature)
//    declares its operandTypes and has no edges. An unconnected slot (kNoValue) gets no edge: on
//    return nodes (FUNCTION_RETURN, FUNCTION_RESULT, UNKNOWN return markers) it keeps its declared
//    type; elsewhere only the slots before the first unconnected one declare types (a declared
//    slot without an edge would read an implicit input), and trailing unconnected slots are lost.
//  - Results: "k:<value name>" and "k:<value type>" per result slot. FUNCTION_RETURN nodes list
//    the values they return as their results too (the kpu-sim convention); the reader ignores
//    them.
//  - Types: tensor<4x16xf32>; a scalar is tensor<f32>; element types f32, f16, f64, f8 (E4M3),
//    i8, i32, i64 (kpu/common/dtype.h); a negative dimension is written '?' (dynamic).
//  - Graph inputs without a producing operation (implicit inputs, values an importer left
//    without an operation) become FUNCTION_ARGUMENT nodes, constants without one CONSTANT
//    nodes, both named after the value, in Graph::inputs / Graph::constants order. Exception,
//    so that files the reader accepted read back the same: an implicit input the reader made
//    for a declared operand slot without an edge ('<node name>.in<slot>', read by that slot
//    only, not an output) is written the same way, as a declared slot without an edge.
//  - Outputs: the reader returns the operands of return nodes. Outputs no return node consumes
//    go through one more FUNCTION_RETURN node, named "output", with attribute target:memory.
//    A graph with no outputs and no return node lists in SINK only nodes without results, so
//    that the reader finds no outputs either.
//  - Node ids: each operation keeps Operation::nodeId when the ids are unique and non-negative
//    and the reader rebuilds the graph's operation order from them (topological, ties by the
//    smallest id) - and the inputs and constants order, unless renumbering would not either;
//    added nodes then take the ids after the largest (inputs, constants, return node).
//    Otherwise (e.g. after canonicalisation inserted RESHAPEs with their MATMUL's id) every node
//    is renumbered 0..n-1: added inputs and constants, the operations in order, the added
//    return node. NODE lines are written by ascending id, EDGEs by consumer, then slot.
//  - Names: value names are written as result names and stay unique; characters the format
//    cannot carry there (control characters, whitespace, '|', ',', ':') become '_', an empty
//    name becomes "v<value id>", and a name taken by an earlier value gets "_2", "_3", ...
//    Node names (not unique in real files, e.g. "tosa.const") keep inner spaces ("2-input
//    MATMUL"); '|' and control characters become '_', outer spaces are dropped. The graph name:
//    control characters become '_', outer spaces are dropped; an empty name stays empty (the
//    reader then names the graph after the file).
//  - Attributes: Attribute key/value strings are written "key:value" as they are (they are in
//    the reader's syntax, docs/operators.md). Repairs, for values the reader would split
//    otherwise: '|' becomes '_', control characters become ' ', outer spaces are dropped, a ','
//    outside brackets becomes ';', and brackets a value leaves open are closed unless it is the
//    node's last attribute. Keys: whitespace, control characters, '|', ',', ':' and brackets
//    become '_'; an empty key becomes "attr".
//  - EDGE fields: flow 0, stationary = the producer is a CONSTANT, shape = the value's type,
//    scalar bits = 8 x element size, schedule 1,1,1.
//
// Not written (the format has no place for them): Value::data (constants keep their shapes, not
// their values: values come again from .npy files or the seeded generator), Graph::staticInputs,
// Graph::warnings, Graph::sourceFile, Operation::line, Value::sourceName (the unique name is
// written), result names/types of FUNCTION nodes, and dynamic dimensions already resolved to the
// batch size (written as the resolved size).
//
// Round trip: for a graph built by buildGraph + canonicalizeGraph, reading the text back
// (dfg::parse + buildGraph + canonicalizeGraph) gives the same operations in the same order
// (kind, spelling, node name, attributes, operand wiring, declared operand types), the same
// value names and types, inputs, constants and outputs; writing that graph again gives the same
// bytes.
#pragma once

#include <string>

#include "kpu/common/error.h"
#include "kpu/compiler/graph.h"

namespace kpu::ir {

// The graph as .dfg text (ends with a newline). Never fails.
std::string writeDfg(const Graph& graph);

// writeDfg into a file; the error names the path.
Expected<void> writeDfgFile(const Graph& graph, const std::string& path);

} // namespace kpu::ir
