// The schedule binder: turns a verified, hardware-agnostic DFX program into a bound schedule
// for one KPU configuration —
//   - every tensor gets an external-memory address;
//   - every tile resident in L3 or L2 gets a concrete address, allocated next-fit in the level's
//     address space and released after its last use, so no two live tiles overlap; reusing
//     freed space adds a write-after-read dependency on the space's last reader;
//   - every move gets an engine: a DMA engine per external bank, a BlockMover per L3 tile, a
//     Streamer per L2 bank;
//   - every Compute op is expanded into L1 streaming: for each array-sized block of the output
//     tile, Streamers copy the A and B strips (and the initial C block) from L2 into L1
//     buffers, the array runs, and a Streamer drains the block back to L2.
// docs/architecture.md describes the policy; docs/timing-model.md the durations.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "kpu/common/error.h"
#include "kpu/common/hw_config.h"
#include "kpu/loader/host_memory.h"
#include "kpu/schema/object.h"
#include "kpu/simulator/schedule.h"

namespace kpu::loader {

// Which MatMul dimensions (0 = M, 1 = N, 2 = K) a dataflow maps onto the array's rows, its
// columns and the stream: output-stationary {M, N, K}, weight-stationary {K, N, M},
// input-stationary {K, M, N}.
std::array<int, 3> dataflowDims(sim::Dataflow dataflow);

// The stream length of one array pass when a fold of stream extent `extent` is expanded: the
// largest chunk whose streamed L1 blocks each fit one L1 buffer (output-stationary: the A strip
// rows x k and the B strip k x cols; weight-stationary: the A strip m x rows and the output
// block m x cols; input-stationary: the B strip rows x n and the output block cols x n).
std::uint32_t l1StreamChunk(const KpuConfig& config, sim::Dataflow dataflow,
                            std::uint32_t aElementBytes, std::uint32_t bElementBytes,
                            std::uint32_t outElementBytes, std::uint32_t extent);

// `program` must have passed verifyObject. Errors name the object and what does not fit:
// "m.kpu: error: tensor 'W' needs 2.0 GiB of external memory; the config has 1.0 GiB free".
// The binder's tables and the schedule it builds may take at most `hostMemoryLimit` bytes of
// host memory (host_memory.h): a program that would take more is refused ("m.kpu: error:
// binding the program's 8388608 ops needs 2.1 GiB of host memory; the limit is 1.0 GiB"), before
// its tables are allocated when they alone would pass it, else when the schedule passes it.
Expected<sim::Schedule> bindProgram(const dfx::Program& program, const KpuConfig& config,
                                    std::string_view sourceName,
                                    std::uint64_t hostMemoryLimit = kNoHostMemoryLimit);

} // namespace kpu::loader
