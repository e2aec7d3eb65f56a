// The first-order timing model (docs/timing-model.md has the formulas):
//   move:  latency(farther level) + ceil(bytes / bytes-per-cycle(min bandwidth of both levels))
//   array: output-stationary fill/drain (SCALE-Sim v2): 2*R + C + k - 2 cycles for a pass of
//          depth k on an R x C array; a fused epilogue (bias, activation) adds one cycle per
//          output row of the pass as it drains.
//   vector: ceil(work / (R * C)) + R + C cycles: the R x C processing elements each take one
//          unit of work per cycle, plus the pipeline's fill and drain; `work` per operator is
//          in vectorWork().
#pragma once

#include <cstdint>

#include "kpu/common/hw_config.h"
#include "kpu/simulator/schedule.h"

namespace kpu::sim {

std::uint64_t moveCycles(const KpuConfig& config, Level from, Level to, std::uint64_t bytes);
std::uint64_t arrayCycles(const KpuConfig& config, std::uint32_t k);
std::uint64_t vectorCycles(const KpuConfig& config, std::uint64_t work);

// Work units of one vector pass: elementwise ops cost 1 per output element (4 for DIV,
// RECIPROCAL, EXP, SIGMOID, TANH, GELU: multi-cycle function units); reductions 1 per input
// element; SOFTMAX 4 and LAYERNORM 6 per input element; pools and depthwise convolution one
// per window tap (output elements x KH x KW); data-layout ops (TRANSPOSE, PAD, CONCAT,
// IM2COL) 1 per output element.
std::uint64_t vectorWork(const VectorOp& op);

} // namespace kpu::sim
