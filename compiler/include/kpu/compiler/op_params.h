// Typed operator parameters: what a graph operation computes (kpu::Operator) and its parsed
// attributes (kpu::OpParams), validated against the operation's operand and result types.
// docs/operators.md lists every operator, its operands, attributes and defaults.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "kpu/common/error.h"
#include "kpu/common/operator.h"
#include "kpu/compiler/graph.h"

namespace kpu::ir {

// The computation an operation performs and its parameters. Tensor-rank terms are normalised:
// `axis` is in [0, rank), `perm` is a permutation of [0, rank), `padding` holds before/after
// pairs for each dimension. Graph-level operators keep their kind (Conv2D, FullyConnected,
// Reshape); lowering them to kernels is the compiler's business.
struct OpSemantics {
    Operator op = Operator::MatMul;
    OpParams params;
};

// The semantics of `op`, an operation of `graph`, checked against the declared types: the
// operand count and connectivity, the ranks, float element types, the attribute values, and
// that the output shape the operator infers from its operands equals the declared result type
// (graph.value(op.results[0]).type; operands are read from graph.value(op.operands[i]).type).
//
// Graph plumbing (FUNCTION, FUNCTION_ARGUMENT, FUNCTION_RETURN, FUNCTION_RESULT, CONSTANT and
// result-less UNKNOWN return markers) gives std::nullopt. Operators the KPU does not support
// (CONV3D, TRANSPOSE_CONV2D, GATHER, CAST, REDUCE_PROD, UNKNOWN with results) are errors.
//
// Errors read "<file>:<line>:1: error: node <id> '<name>' (<OPERATOR>): <what>", with <line>
// the NODE's source line, e.g.
//   "m.dfg:7:1: error: node 5 'mm' (MATMUL): inner dimensions differ: a is 4x16, b is 8x4".
// The integers of an attribute value as the .dfg reader and the importers write them:
// "array<i64: 1, 2>", "array<i64>" (empty), "[1, 2]", "dense<[1, 2]> : tensor<2xi32>" or a
// single "<n> : <type>"; nullopt for anything else.
std::optional<std::vector<std::int64_t>> parseIntsAttribute(std::string_view text);

Expected<std::optional<OpSemantics>> operatorSemantics(const Graph& graph, const Operation& op,
                                                       std::string_view file);

} // namespace kpu::ir
