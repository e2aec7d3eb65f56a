// Functional execution of the array's non-GEMM passes (sim::VectorOp) and of the GEMM
// epilogue. The semantics of every operator are in docs/operators.md; the reference executor
// (loader/reference_executor.h) implements the same semantics independently, on whole tensors.
#pragma once

#include <cstdint>
#include <span>

#include "kpu/simulator/schedule.h"

namespace kpu::sim {

// Computes `op` on its L1 blocks: inputs[i] points at op.inputs[i]'s block, output at
// op.output's block. Values are converted from their storage types, computed in f32 (f64 when
// any operand is f64) and rounded to the output's storage type. Reductions, pools and
// depthwise convolutions accumulate in the compute type.
//
// Tile contracts (what each input block must hold for the output tile; coordinates are global
// 4-D view coordinates, an element's place in a block is global - origin):
//  - elementwise: the tile's box, except [0, 1) in view dims of 1 (numpy broadcasting);
//  - Transpose: input dim perm[d] spans the tile's range of output dim d;
//  - Concat: the tile's box, with each input's full extent along the axis;
//  - Pad: the input's full extent in padded dims, the tile's range in the others;
//  - ReduceSum/Max/Min, Softmax: the tile's box with the full extent along the axis (the
//    output of a reduction has extent 1 there);
//  - LayerNorm: x with the full extent of dims [axis, 4); gamma and beta broadcast like
//    elementwise operands;
//  - MaxPool2D/AvgPool2D: the rows and columns of x that the tile's windows read (clipped to
//    x's view), the tile's batch and channel ranges;
//  - DepthwiseConv2D: x as for pools but all channels; the whole weights and bias;
//  - Im2Col: output view [1, 1, N*OH*OW, KH*KW*C], tile = a range of patch rows (and normally
//    all columns); x holds the images, rows and columns those patch rows read, all channels.
// Window elements outside x's view read as padding (0 / ignored by pools, whose average divides
// by the in-range count; a window wholly in the padding yields 0).
void executeVectorOp(const VectorOp& op, std::span<const std::uint8_t* const> inputs,
                     std::uint8_t* output);

// The epilogue of an m x n GEMM result held in f32 (or f64), row-major with leading dimension
// n: c[i][j] = act(c[i][j] + bias[j]); bias may be null.
void applyEpilogueF32(float* c, std::uint32_t m, std::uint32_t n, const float* bias,
                      Activation activation, double min, double max);
void applyEpilogueF64(double* c, std::uint32_t m, std::uint32_t n, const double* bias,
                      Activation activation, double min, double max);

} // namespace kpu::sim
