// The first-order timing model (docs/timing-model.md has the formulas):
//   move:  latency(farther level) + ceil(bytes / bytes-per-cycle(min bandwidth of both levels))
//   array: output-stationary fill/drain (SCALE-Sim v2): 2*R + C + k - 2 cycles for a pass of
//          depth k on an R x C array.
#pragma once

#include <cstdint>

#include "kpu/common/hw_config.h"
#include "kpu/simulator/schedule.h"

namespace kpu::sim {

std::uint64_t moveCycles(const KpuConfig& config, Level from, Level to, std::uint64_t bytes);
std::uint64_t arrayCycles(const KpuConfig& config, std::uint32_t k);

} // namespace kpu::sim
