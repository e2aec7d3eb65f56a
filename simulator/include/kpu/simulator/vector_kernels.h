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
// any operand is f64) and rounded to the output's storage type.
void executeVectorOp(const VectorOp& op, std::span<const std::uint8_t* const> inputs,
                     std::uint8_t* output);

// The epilogue of an m x n GEMM result held in f32 (or f64), row-major with leading dimension
// n: c[i][j] = act(c[i][j] + bias[j]); bias may be null.
void applyEpilogueF32(float* c, std::uint32_t m, std::uint32_t n, const float* bias,
                      Activation activation, double min, double max);
void applyEpilogueF64(double* c, std::uint32_t m, std::uint32_t n, const double* bias,
                      Activation activation, double min, double max);

} // namespace kpu::sim
