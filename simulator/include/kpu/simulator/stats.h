// Statistics of one simulated run: the report's numbers (docs/report-schema.md documents how
// the loader publishes them, docs/timing-model.md how they are counted).
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
    std::uint64_t busyCycles = 0; // moves: data phases; array: passes
    std::uint64_t bytes = 0;      // moved by this engine
    std::uint64_t ops = 0;
    // Idle cycles of this engine spent before one of its ops could start, by cause: the op's
    // input data was not ready yet (including an exposed first-byte latency); it waited for
    // space (the last reader of the memory it reuses, or the prefetch window); a move waited
    // for a memory port another transfer held (a bank conflict). Idle time after the engine's
    // last op is not a stall.
    std::uint64_t waitData = 0;
    std::uint64_t waitSpace = 0;
    std::uint64_t waitPort = 0;
};

// Traffic at one memory level. Every memory (bank, tile, buffer) has one port: a transfer holds
// the port of each memory it touches, at both ends, for its data phase.
struct LevelStats {
    std::uint64_t bytesRead = 0;      // moved out of this level
    std::uint64_t bytesWritten = 0;   // moved into this level
    std::uint64_t portBusyCycles = 0; // summed over the level's memories
    std::uint64_t portWaitCycles = 0; // cycles moves waited for a port of this level
};

// When and where one bound op ran (RunOptions::recordTimeline). Moves: the data phase.
struct OpTiming {
    std::uint64_t start = 0, finish = 0;
    std::uint32_t engine = 0; // index into RunStats::engines (barriers: UINT32_MAX)
};

struct RunStats {
    std::uint64_t totalCycles = 0;
    std::vector<EngineStats> engines; // dma..., block_mover..., streamer..., array...
    // Bytes moved between adjacent levels: [0] EXT<->L3, [1] L3<->L2, [2] L2<->L1.
    std::array<std::uint64_t, 3> bytesBetweenLevels{};
    std::array<LevelStats, kLevelCount> levels{}; // indexed by Level
    std::uint64_t macs = 0;
    std::uint64_t arrayPasses = 0;  // GEMM passes
    std::uint64_t arrayFolds = 0;   // GEMM folds (passes that start a fold)
    std::uint64_t vectorPasses = 0; // passes of every other operator
    std::vector<OpTiming> timeline; // per bound op, when RunOptions::recordTimeline
};

} // namespace kpu::sim
