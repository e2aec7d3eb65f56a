// Statistics of one simulated run: the report's numbers.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "kpu/simulator/schedule.h"

namespace kpu::sim {

struct EngineStats {
    std::string name; // e.g. "dma[0]", "block_mover[2]", "streamer[5]", "array[0]"
    EngineKind kind = EngineKind::Dma;
    std::uint32_t index = 0;
    std::uint64_t busyCycles = 0;
    std::uint64_t bytes = 0; // moved by this engine
    std::uint64_t ops = 0;
};

struct RunStats {
    std::uint64_t totalCycles = 0;
    std::vector<EngineStats> engines; // dma..., block_mover..., streamer..., array...
    // Bytes moved between adjacent levels: [0] EXT<->L3, [1] L3<->L2, [2] L2<->L1.
    std::array<std::uint64_t, 3> bytesBetweenLevels{};
    std::uint64_t macs = 0;
    std::uint64_t arrayPasses = 0;  // GEMM passes
    std::uint64_t vectorPasses = 0; // passes of every other operator
};

} // namespace kpu::sim
