// The timing model's durations (docs/timing-model.md has the formulas and their sources):
//   move:   a data phase of ceil(bytes / bytes-per-cycle) at the slowest of the two levels'
//           bandwidths (and the DMA engine's, when the config caps it), after the farther
//           level's first-byte latency, which is pipelined (it does not occupy the engine);
//   array:  SCALE-Sim v2's fill/drain model: a fold of stream length T costs 2R + C + T - 2
//           cycles on an R x C array whatever the dataflow; a fold split into chunks charges
//           the 2R + C - 2 to its first chunk. A fused epilogue adds one cycle per output row;
//   vector: ceil(work / (R * C)) + R + C cycles; `work` per operator is in vectorWork().
#pragma once

#include <cstdint>

#include "kpu/common/hw_config.h"
#include "kpu/simulator/schedule.h"

namespace kpu::sim {

struct MoveTiming {
    std::uint32_t latency = 0; // cycles before the first byte (pipelined)
    std::uint64_t cycles = 0;  // data phase
};

// The configured bandwidth of one memory (bank, tile, buffer) of a level, GB/s.
double levelBandwidthGBps(const KpuConfig& config, Level level);

MoveTiming moveTiming(const KpuConfig& config, Level from, Level to, std::uint64_t bytes);

// Cycles of one array pass streaming `stream` elements: the whole fold's fill and drain
// (2R + C - 2) when it starts a fold, plus its stream length.
std::uint64_t arrayPassCycles(const KpuConfig& config, std::uint32_t stream, bool foldStart);

// SCALE-Sim v2's cycles for one fold of stream length T: 2R + C + T - 2.
std::uint64_t foldCycles(const KpuConfig& config, std::uint64_t stream);

std::uint64_t vectorCycles(const KpuConfig& config, std::uint64_t work);

// Work units of one vector pass: elementwise ops cost 1 per output element (4 for DIV,
// RECIPROCAL, EXP, SIGMOID, TANH, GELU: multi-cycle function units); reductions 1 per input
// element; SOFTMAX 4 and LAYERNORM 6 per input element; pools and depthwise convolution one
// per window tap (output elements x KH x KW); data-layout ops (TRANSPOSE, PAD, CONCAT,
// IM2COL) 1 per output element.
std::uint64_t vectorWork(const VectorOp& op);

} // namespace kpu::sim
