#include "kpu/simulator/simulator.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <new>
#include <queue>
#include <thread>

#include <fmt/format.h>
#include <sys/mman.h>

#include "functional.h"
#include "kpu/common/float_convert.h"
#include "kpu/common/shape.h"
#include "kpu/simulator/timing.h"

namespace kpu::sim {

const char* levelName(Level level) {
    switch (level) {
    case Level::External:
        return "EXT";
    case Level::L3:
        return "L3";
    case Level::L2:
        return "L2";
    case Level::L1:
        return "L1";
    }
    return "?";
}

const char* engineKindName(EngineKind k) {
    switch (k) {
    case EngineKind::Dma:
        return "dma";
    case EngineKind::BlockMover:
        return "block_mover";
    case EngineKind::Streamer:
        return "streamer";
    case EngineKind::Array:
        return "array";
    }
    return "?";
}

Arena::Arena(std::uint64_t capacity) : capacity_(capacity) {
    if (capacity == 0)
        return;
    void* p = mmap(nullptr, capacity, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        throw std::bad_alloc();
    // Tiles read in place from big tensors touch a new 4 KiB page every row: huge pages spare
    // the host most of those TLB misses (a hint; the kernel may decline).
    madvise(p, capacity, MADV_HUGEPAGE);
    data_ = static_cast<std::uint8_t*>(p);
}

Arena::~Arena() {
    if (data_)
        munmap(data_, capacity_);
}

Expected<Simulator> Simulator::create(const KpuConfig& config, const Schedule& schedule) {
    Simulator sim;
    sim.config_ = config;
    for (int level = 0; level < kLevelCount; ++level) {
        const MemoryGeometry& g = schedule.memories[static_cast<std::size_t>(level)];
        const auto bytes = checkedMul(g.count, g.capacity);
        if (!bytes)
            return fail("{} size overflows ({} x {} bytes)", levelName(static_cast<Level>(level)),
                        g.count, g.capacity);
        try {
            sim.levels_[static_cast<std::size_t>(level)] = std::make_unique<Arena>(*bytes);
        } catch (const std::bad_alloc&) {
            return fail("cannot reserve {} bytes of host memory for {}", *bytes,
                        levelName(static_cast<Level>(level)));
        }
    }
    return sim;
}

Expected<void> Simulator::writeExternal(std::uint64_t offset, std::span<const std::uint8_t> bytes) {
    const Arena& ext = *levels_[0];
    if (offset > ext.capacity() || bytes.size() > ext.capacity() - offset)
        return fail("write of {} bytes at external address {:#x} is out of range", bytes.size(),
                    offset);
    if (!bytes.empty()) // an empty span's data() may be null, which memcpy must not get
        std::memcpy(levels_[0]->data() + offset, bytes.data(), bytes.size());
    return {};
}

Expected<void> Simulator::readExternal(std::uint64_t offset, std::span<std::uint8_t> bytes) const {
    const Arena& ext = *levels_[0];
    if (offset > ext.capacity() || bytes.size() > ext.capacity() - offset)
        return fail("read of {} bytes at external address {:#x} is out of range", bytes.size(),
                    offset);
    if (!bytes.empty())
        std::memcpy(bytes.data(), ext.data() + offset, bytes.size());
    return {};
}

namespace {

// The memories [first, last] of `level` that a box move end touches.
std::pair<std::uint64_t, std::uint64_t> memoriesTouched(const Address& at,
                                                        const std::array<std::uint64_t, 4>& strides,
                                                        const MoveOp& op, std::uint64_t capacity) {
    std::uint64_t span = op.elementBytes;
    for (std::size_t d = 0; d < 4; ++d)
        span += (std::uint64_t{std::max(op.extent[d], 1u)} - 1) * strides[d];
    return {at.offset / capacity, (at.offset + span - 1) / capacity};
}

} // namespace

const char* dataflowName(Dataflow d) {
    switch (d) {
    case Dataflow::Output:
        return "os";
    case Dataflow::Weight:
        return "ws";
    case Dataflow::Input:
        return "is";
    }
    return "?";
}

RunStats Simulator::run(const Schedule& schedule, const RunOptions& options) {
    if (!options.functional)
        return simulateTiming(schedule, options.recordTimeline);
    // The values do not depend on the simulated times (functional.h): the timing runs on a
    // thread of its own beside the functional execution when there are threads to spare.
    const FunctionalOptions functional{.forward = !options.copyMoves,
                                       .threads = std::max(options.threads, 1u)};
    std::array<Arena*, kLevelCount> levels{};
    for (std::size_t l = 0; l < kLevelCount; ++l)
        levels[l] = levels_[l].get();
    if (functional.threads == 1) {
        RunStats stats = simulateTiming(schedule, options.recordTimeline);
        executeFunctional(schedule, levels, functional);
        return stats;
    }
    RunStats stats;
    std::thread timing([&] { stats = simulateTiming(schedule, options.recordTimeline); });
    executeFunctional(schedule, levels, functional);
    timing.join();
    return stats;
}

RunStats Simulator::simulateTiming(const Schedule& schedule, bool recordTimeline) const {
    RunStats stats;
    // When each engine and each memory port is free again.
    std::array<std::vector<std::uint64_t>, kEngineKindCount> engineFree;
    std::array<std::size_t, kEngineKindCount> firstStat{};
    for (int k = 0; k < kEngineKindCount; ++k) {
        const auto kind = static_cast<EngineKind>(k);
        const std::uint32_t count = schedule.engineCounts[static_cast<std::size_t>(k)];
        engineFree[static_cast<std::size_t>(k)].assign(count, 0);
        firstStat[static_cast<std::size_t>(k)] = stats.engines.size();
        for (std::uint32_t i = 0; i < count; ++i)
            stats.engines.push_back(EngineStats{
                .name = fmt::format("{}[{}]", engineKindName(kind), i), .kind = kind, .index = i});
    }
    // L1 buffers are FIFOs with a port per side (a streamer and the array): no port.
    std::array<std::vector<std::uint64_t>, kLevelCount> portFree;
    for (int level = 0; level < kLevelCount - 1; ++level)
        portFree[static_cast<std::size_t>(level)].assign(
            schedule.memories[static_cast<std::size_t>(level)].count, 0);
    if (recordTimeline)
        stats.timeline.assign(schedule.ops.size(), OpTiming{});

    // Ops are dispatched in the order they become ready (their last dependency finishes; ties
    // in schedule order): each engine and port then serves its ops first come, first served.
    const std::size_t n = schedule.ops.size();
    std::vector<std::uint32_t> pending(n), successorOffsets(n + 1, 0);
    for (std::size_t i = 0; i < n; ++i) {
        const auto deps = schedule.depsOf(i);
        pending[i] = static_cast<std::uint32_t>(deps.size());
        for (std::uint32_t d : deps)
            ++successorOffsets[d + 1];
    }
    for (std::size_t i = 0; i < n; ++i)
        successorOffsets[i + 1] += successorOffsets[i];
    std::vector<std::uint32_t> successors(successorOffsets[n]);
    {
        std::vector<std::uint32_t> fill(successorOffsets.begin(), successorOffsets.end() - 1);
        for (std::size_t i = 0; i < n; ++i)
            for (std::uint32_t d : schedule.depsOf(i))
                successors[fill[d]++] = static_cast<std::uint32_t>(i);
    }
    using Ready = std::pair<std::uint64_t, std::uint32_t>; // (ready cycle, op)
    std::priority_queue<Ready, std::vector<Ready>, std::greater<>> readyQueue;
    for (std::size_t i = 0; i < n; ++i)
        if (pending[i] == 0)
            readyQueue.emplace(0, static_cast<std::uint32_t>(i));

    std::vector<std::uint64_t> finish(n, 0);
    struct Port {
        std::size_t level;
        std::uint64_t memory;
        std::uint64_t cycles; // how long the transfer holds it
    };
    std::vector<Port> ports;
    while (!readyQueue.empty()) {
        const std::uint32_t i = readyQueue.top().second;
        readyQueue.pop();
        const BoundOp& op = schedule.ops[i];
        const auto deps = schedule.depsOf(i);
        std::uint64_t dataReady = 0, spaceReady = 0;
        for (std::size_t d = 0; d < deps.size(); ++d) {
            std::uint64_t& ready = d + op.spaceDeps < deps.size() ? dataReady : spaceReady;
            ready = std::max(ready, finish[deps[d]]);
        }
        const std::uint64_t readyAt = std::max(dataReady, spaceReady);

        if (op.type == OpType::Barrier) {
            finish[i] = readyAt;
            if (recordTimeline)
                stats.timeline[i] = OpTiming{readyAt, readyAt, UINT32_MAX};
        } else {
            const auto kind = static_cast<std::size_t>(op.engine);
            // Of the allowed engines, the one free first (the lowest index on a tie).
            std::uint32_t engine = op.engineIndex;
            for (std::uint32_t j = 1; j < op.engineChoices; ++j) {
                const std::uint32_t e = op.engineIndex + j * op.engineStride;
                if (engineFree[kind][e] < engineFree[kind][engine])
                    engine = e;
            }
            std::uint64_t& free = engineFree[kind][engine];
            // A move's data phase follows its first-byte latency. Every memory it touches (at
            // both ends, but L1) serves it for bytes / that memory's bandwidth from the start of
            // the data phase, and one transfer at a time: transfers sharing a memory take turns
            // in proportion to what they move (a bank conflict), and a transfer slower than the
            // memory leaves it free for the rest of its data phase.
            const std::uint64_t inputs = readyAt + (op.type == OpType::Move ? op.latency : 0);
            const MoveOp* move = op.type == OpType::Move ? &schedule.move(op) : nullptr;
            std::uint64_t portsFree = 0;
            ports.clear();
            if (op.type == OpType::Move) {
                for (const auto& [at, strides] : {std::pair{move->src, move->srcStrides},
                                                  std::pair{move->dst, move->dstStrides}}) {
                    if (at.level == Level::L1)
                        continue;
                    const auto level = static_cast<std::size_t>(at.level);
                    const auto held = static_cast<std::uint64_t>(
                        std::ceil(static_cast<double>(op.bytes) /
                                  config_.bytesPerCycle(levelBandwidthGBps(config_, at.level))));
                    const auto [first, last] =
                        memoriesTouched(at, strides, *move, schedule.memories[level].capacity);
                    for (std::uint64_t m = first; m <= last; ++m) {
                        ports.push_back(Port{level, m, std::min(held, op.cycles)});
                        portsFree = std::max(portsFree, portFree[level][m]);
                    }
                }
            }
            const std::uint64_t start = std::max({inputs, free, portsFree});
            finish[i] = start + op.cycles;

            // Why the engine idled before this op: its inputs (data or space, whichever came
            // later), then a busy port.
            const std::size_t stat = firstStat[kind] + engine;
            EngineStats& es = stats.engines[stat];
            if (start > free) {
                const std::uint64_t byInputs = std::min(start, std::max(inputs, free));
                (spaceReady > dataReady ? es.waitSpace : es.waitData) += byInputs - free;
                es.waitPort += start - byInputs;
                for (const Port& port : ports)
                    stats.levels[port.level].portWaitCycles += start - byInputs;
            }
            free = finish[i];
            for (const Port& port : ports) {
                portFree[port.level][port.memory] = start + port.cycles;
                stats.levels[port.level].portBusyCycles += port.cycles;
            }
            es.busyCycles += op.cycles;
            es.bytes += op.bytes;
            ++es.ops;
            stats.totalCycles = std::max(stats.totalCycles, finish[i]);
            if (recordTimeline)
                stats.timeline[i] = OpTiming{start, finish[i], static_cast<std::uint32_t>(stat)};
            if (op.type == OpType::Move) {
                stats.levels[static_cast<std::size_t>(move->src.level)].bytesRead += op.bytes;
                stats.levels[static_cast<std::size_t>(move->dst.level)].bytesWritten += op.bytes;
                const auto nearer = std::max(move->src.level, move->dst.level);
                // Moves are between adjacent levels (the object verifier and binder guarantee
                // it), so the nearer end is L3, L2 or L1.
                assert(nearer != Level::External);
                stats.bytesBetweenLevels[static_cast<std::size_t>(nearer) - 1] += op.bytes;
            } else if (op.type == OpType::Vector) {
                ++stats.vectorPasses;
            } else {
                const ArrayOp& pass = schedule.array(op);
                stats.macs += std::uint64_t{pass.m} * pass.n * pass.k;
                ++stats.arrayPasses;
                stats.arrayFolds += pass.foldStart ? 1 : 0;
            }
        }
        for (std::uint32_t k = successorOffsets[i]; k < successorOffsets[i + 1]; ++k) {
            const std::uint32_t next = successors[k];
            if (--pending[next] == 0) {
                std::uint64_t at = 0;
                for (std::uint32_t d : schedule.depsOf(next))
                    at = std::max(at, finish[d]);
                readyQueue.emplace(at, next);
            }
        }
    }
    return stats;
}

} // namespace kpu::sim
