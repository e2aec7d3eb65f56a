// Functional execution of a bound schedule: the values every move, array pass and vector pass
// computes, in the simulated memories (docs/timing-model.md, "Functional execution").
//
// Two move modes give bit-identical memory contents wherever a later op reads:
//  - Copy: every move copies its bytes between the simulated memories, as the hardware does.
//  - Forward: a move of a tile that comes, directly or through earlier moves, from a read-only
//    tensor (a graph input or constant) records where its bytes come from instead of copying
//    them; passes then read their operands in place. Any other move copies. Reads of a block
//    whose forwarded contents were partly overwritten see exactly what Copy mode would show:
//    forwarded windows are trimmed by every physical write and materialised before a read
//    that is not wholly inside one of them.
// Either way the work is cut into items (copies, passes) whose order comes from the byte
// ranges they read and write, not from the schedule's dependencies; items run on a thread pool
// in any order those ranges allow, so the results do not depend on the thread count.
#pragma once

#include <array>
#include <cstdint>

#include "kpu/simulator/schedule.h"

namespace kpu::sim {

class Arena;

struct FunctionalOptions {
    bool forward = true;  // Forward mode (else Copy)
    unsigned threads = 1; // worker threads (1: in the calling thread, in schedule order)
};

// Executes every op of `schedule` on the memories (one flat arena per level, External first).
void executeFunctional(const Schedule& schedule, const std::array<Arena*, kLevelCount>& levels,
                       const FunctionalOptions& options);

} // namespace kpu::sim
