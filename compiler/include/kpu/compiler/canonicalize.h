// Canonicalisation: rewrites that make real files' graphs mean what their declared types say,
// before operator semantics are checked. Each rewrite adds a warning to the graph.
//   - MATMUL A[b,k] x B[b,k,n] declared [b,n] (Kalman-filter style files): b vector-matrix
//     products, made explicit as RESHAPE A -> [b,1,k], MATMUL -> [b,1,n], RESHAPE -> [b,n].
//   - A unary elementwise op (EXP, SIGMOID, RELU, ...) whose declared result shape differs
//     from its operand's: the result takes the operand's shape.
#pragma once

#include "kpu/compiler/graph.h"

namespace kpu::ir {

void canonicalizeGraph(Graph& graph);

} // namespace kpu::ir
