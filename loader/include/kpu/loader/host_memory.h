// What the loader may spend of the host's memory, checked before it is spent. kpu-loader has one
// limit for a run (MemAvailable, or --max-host-memory); each step gets what the earlier ones
// left of it:
//  - the expansion of TileLoops kernels (its size is known before it is built);
//  - the binder's tables and the bound schedule, which keeps a small object that describes
//    millions of ops from exhausting the machine;
//  - a functional run's values, estimated from the bound schedule.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

#include "kpu/common/error.h"
#include "kpu/schema/object.h"
#include "kpu/simulator/schedule.h"

namespace kpu::loader {

inline constexpr std::uint64_t kNoHostMemoryLimit = std::numeric_limits<std::uint64_t>::max();

// Refuses a step whose need passes what is left of the limit: "m.kpu: error: <what> needs
// 2.9 GiB of host memory; 256.0 MiB is left under the limit (--max-host-memory; ...)".
Expected<void> checkHostMemoryLimit(std::uint64_t need, std::uint64_t limit, std::string_view what,
                                    std::string_view sourceName);

// The host memory a functional run takes, estimated from the bound schedule before anything is
// allocated: the simulated external memory the tensors occupy (the arena is only reserved),
// the host copies of inputs, constants and read-back tensors, and the reference executor's
// values (8 bytes per element) when outputs are verified.
struct HostMemoryNeed {
    std::uint64_t simulatedExternal = 0;
    std::uint64_t hostTensors = 0;
    std::uint64_t reference = 0;
    std::uint64_t total() const; // saturating
};
HostMemoryNeed hostMemoryNeeded(const dfx::Program& program, const sim::Schedule& schedule,
                                bool verify);

// The host memory available to a new allocation (MemAvailable of /proc/meminfo); nullopt when
// it cannot be read.
std::optional<std::uint64_t> availableHostMemory();

// Refuses a functional run whose need exceeds `limit`, naming what takes the memory:
// "m.kpu: error: a functional run needs 30.0 GiB of host memory (...); 22.0 GiB is left under
// the limit (...). --timing-only needs none of it; ...".
Expected<void> checkHostMemory(const HostMemoryNeed& need, std::uint64_t limit,
                               std::string_view sourceName);

} // namespace kpu::loader
