// Layout clean-up: removes the layout TRANSPOSEs the ONNX importer puts around every window
// operator where they cancel, so a chain of convolutions stays NHWC between its layers.
//
// The importer keeps ONNX's NCHW layout and wraps each CONV2D, DEPTHWISE_CONV2D, MAXPOOL2D and
// AVGPOOL2D in TRANSPOSE (0, 2, 3, 1) before and TRANSPOSE (0, 3, 1, 2) after it (docs/onnx.md,
// "Layouts"), so conv -> relu -> conv runs T(0,3,1,2), RELU, T(0,2,3,1) between the
// convolutions: two vector passes that only move data. sinkTransposes rewrites, to a fixpoint:
//
//  1. T_p2(T_p1(x)) (both TRANSPOSEs): the composed permutation q[d] = p1[p2[d]]. When q is the
//     identity, the readers of the outer result read x instead; if that result is a graph
//     output it becomes a RESHAPE of x to the same shape (a storage alias, no data pass).
//     Otherwise the outer TRANSPOSE reads x with perms q. A lone TRANSPOSE with the identity
//     permutation is treated the same way.
//  2. U(T_p(x)) -> T_p(U(x)) for a unary elementwise U (RELU, CLAMP, SIGMOID, TANH, EXP, LOG,
//     SQRT, ABS, NEGATE, RECIPROCAL, GELU, ERF) that is the transpose's only reader.
//  3. B(T_p(a), T_p(b)) -> T_p(B(a, b)) for a binary elementwise B (ADD, SUB, MUL, DIV,
//     MAXIMUM, MINIMUM) whose operands are both transposed by the same permutation from values
//     of equal shape (residual connections), each read only by B. And B(T_p(a), c) ->
//     T_p(B(a, c')) (either operand order) where c is a CONSTANT carrying its values
//     (Value::data) that only B reads, of rank at most T_p(a)'s (at most 4) and broadcasting
//     into it: c is viewed at full rank with leading ones and its values and shape are permuted
//     by the inverse permutation ([C, 1, 1] -> [1, C, 1, 1] -> [1, 1, 1, C] for p = 0,3,1,2).
// Moving a TRANSPOSE past an operation never adds one, and rules 1 and 3 remove them; the
// TRANSPOSEs left without readers are removed (nothing else is: graph inputs, constants and
// outputs stay).
//
// Why it is exact: a TRANSPOSE only moves elements. An elementwise operation computes each
// result element from the operand elements at the same index, so applying it before or after
// the same permutation of every operand gives the same elements at the same places (bit for bit:
// each element sees the same operation on the same values). Permuting a constant's values
// moves them with the activation elements they meet.
//
// Invariants kept: Graph::ops in topological order, every value's producer/producerSlot, each
// rewritten operation's operandTypes equal to its operand values' types, and graph outputs
// keep their value (id, name, shape): a rewrite that moves a TRANSPOSE past an operation whose
// result is an output makes the moved TRANSPOSE produce that value. Values no operation
// produces or reads any more are dropped (ValueIds of the graph are renumbered when anything
// changed). Operations other than those named above are left alone: transposes stop at them.
#pragma once

#include "kpu/compiler/graph.h"

namespace kpu::ir {

// Runs the rewrites above to a fixpoint. Graphs without TRANSPOSEs are left untouched.
void sinkTransposes(Graph& graph);

} // namespace kpu::ir
