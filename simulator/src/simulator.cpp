#include "kpu/simulator/simulator.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>
#include <new>
#include <queue>

#include <fmt/format.h>
#include <sys/mman.h>

#include "kpu/common/float_convert.h"
#include "kpu/common/shape.h"
#include "kpu/simulator/tile_kernels.h"
#include "kpu/simulator/timing.h"
#include "kpu/simulator/vector_kernels.h"

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

std::uint8_t* Simulator::at(const Address& a) {
    return levels_[static_cast<std::size_t>(a.level)]->data() + a.offset;
}

Expected<void> Simulator::writeExternal(std::uint64_t offset, std::span<const std::uint8_t> bytes) {
    const Arena& ext = *levels_[0];
    if (offset > ext.capacity() || bytes.size() > ext.capacity() - offset)
        return fail("write of {} bytes at external address {:#x} is out of range", bytes.size(),
                    offset);
    std::memcpy(levels_[0]->data() + offset, bytes.data(), bytes.size());
    return {};
}

Expected<void> Simulator::readExternal(std::uint64_t offset, std::span<std::uint8_t> bytes) const {
    const Arena& ext = *levels_[0];
    if (offset > ext.capacity() || bytes.size() > ext.capacity() - offset)
        return fail("read of {} bytes at external address {:#x} is out of range", bytes.size(),
                    offset);
    std::memcpy(bytes.data(), ext.data() + offset, bytes.size());
    return {};
}

void Simulator::executeMove(const MoveOp& op) {
    const std::uint8_t* src = at(op.src);
    std::uint8_t* dst = at(op.dst);
    const auto& e = op.extent;
    // The innermost dimension is contiguous on both sides whenever its stride is the element size.
    const bool contiguousRows =
        op.srcStrides[3] == op.elementBytes && op.dstStrides[3] == op.elementBytes;
    const std::uint64_t rowBytes = std::uint64_t{e[3]} * op.elementBytes;
    for (std::uint32_t i0 = 0; i0 < e[0]; ++i0)
        for (std::uint32_t i1 = 0; i1 < e[1]; ++i1)
            for (std::uint32_t i2 = 0; i2 < e[2]; ++i2) {
                const std::uint8_t* s =
                    src + i0 * op.srcStrides[0] + i1 * op.srcStrides[1] + i2 * op.srcStrides[2];
                std::uint8_t* d =
                    dst + i0 * op.dstStrides[0] + i1 * op.dstStrides[1] + i2 * op.dstStrides[2];
                if (contiguousRows) {
                    std::memcpy(d, s, rowBytes);
                    continue;
                }
                for (std::uint32_t i3 = 0; i3 < e[3]; ++i3)
                    std::memcpy(d + i3 * op.dstStrides[3], s + i3 * op.srcStrides[3],
                                op.elementBytes);
            }
}

void Simulator::executeArray(const ArrayOp& op) {
    const std::size_t am = std::size_t{op.m} * op.k, bm = std::size_t{op.k} * op.n,
                      cm = std::size_t{op.m} * op.n;
    const bool f64 = op.aType == DType::F64 || op.bType == DType::F64 || op.outType == DType::F64 ||
                     (op.hasInit && op.initType == DType::F64);
    if (f64) {
        scratchF64_.resize(am + bm + cm);
        double* a = scratchF64_.data();
        double* b = a + am;
        double* c = b + bm;
        convertToF64(op.aType, at(op.a), a, am);
        convertToF64(op.bType, at(op.b), b, bm);
        if (op.hasInit)
            convertToF64(op.initType, at(op.init), c, cm);
        selectedKernels().dgemm(GemmF64Args{.m = op.m,
                                            .n = op.n,
                                            .k = op.k,
                                            .a = a,
                                            .lda = op.k,
                                            .b = b,
                                            .ldb = op.n,
                                            .c = c,
                                            .ldc = op.n,
                                            .accumulate = op.hasInit});
        if (op.hasBias || op.activation != Activation::None) {
            std::vector<double> bias;
            if (op.hasBias) {
                bias.resize(op.n);
                convertToF64(op.biasType, at(op.bias), bias.data(), op.n);
            }
            applyEpilogueF64(c, op.m, op.n, op.hasBias ? bias.data() : nullptr, op.activation,
                             op.activationMin, op.activationMax);
        }
        convertFromF64(op.outType, c, at(op.out), cm);
        return;
    }
    // f32 compute. Operands already in f32 are used in place, others are converted to scratch.
    scratchF32_.resize(am + bm + cm);
    auto asF32 = [&](DType type, const Address& where, float* scratch,
                     std::size_t count) -> float* {
        if (type == DType::F32)
            return reinterpret_cast<float*>(at(where));
        convertToF32(type, at(where), scratch, count);
        return scratch;
    };
    const float* a = asF32(op.aType, op.a, scratchF32_.data(), am);
    const float* b = asF32(op.bType, op.b, scratchF32_.data() + am, bm);
    float* c = op.outType == DType::F32 ? reinterpret_cast<float*>(at(op.out))
                                        : scratchF32_.data() + am + bm;
    if (op.hasInit) {
        if (op.initType == DType::F32)
            std::memmove(c, at(op.init), cm * sizeof(float));
        else
            convertToF32(op.initType, at(op.init), c, cm);
    }
    selectedKernels().sgemm(GemmF32Args{.m = op.m,
                                        .n = op.n,
                                        .k = op.k,
                                        .a = a,
                                        .lda = op.k,
                                        .b = b,
                                        .ldb = op.n,
                                        .c = c,
                                        .ldc = op.n,
                                        .accumulate = op.hasInit});
    if (op.hasBias || op.activation != Activation::None) {
        const float* bias = nullptr;
        if (op.hasBias) {
            scratchBias_.resize(op.n);
            bias = asF32(op.biasType, op.bias, scratchBias_.data(), op.n);
        }
        applyEpilogueF32(c, op.m, op.n, bias, op.activation, op.activationMin, op.activationMax);
    }
    if (op.outType != DType::F32)
        convertFromF32(op.outType, c, at(op.out), cm);
}

void Simulator::executeVector(const VectorOp& op) {
    std::array<const std::uint8_t*, 8> small{};
    std::vector<const std::uint8_t*> many;
    std::span<const std::uint8_t* const> inputs;
    if (op.inputs.size() <= small.size()) {
        for (std::size_t i = 0; i < op.inputs.size(); ++i)
            small[i] = at(op.inputs[i].at);
        inputs = std::span(small.data(), op.inputs.size());
    } else {
        for (const VectorOperand& in : op.inputs)
            many.push_back(at(in.at));
        inputs = many;
    }
    executeVectorOp(op, inputs, at(op.output.at));
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
    RunStats stats = simulateTiming(schedule, options.recordTimeline);
    // Functional execution in schedule order, whatever the simulated start times: a missing
    // dependency can make the timing optimistic but never changes a result.
    if (options.functional)
        for (const BoundOp& op : schedule.ops) {
            if (op.type == OpType::Move)
                executeMove(op.move);
            else if (op.type == OpType::Vector)
                executeVector(schedule.vectorOps[op.vector]);
            else if (op.type == OpType::Array)
                executeArray(op.array);
        }
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
            std::uint64_t portsFree = 0;
            ports.clear();
            if (op.type == OpType::Move) {
                for (const auto& [at, strides] : {std::pair{op.move.src, op.move.srcStrides},
                                                  std::pair{op.move.dst, op.move.dstStrides}}) {
                    if (at.level == Level::L1)
                        continue;
                    const auto level = static_cast<std::size_t>(at.level);
                    const auto held = static_cast<std::uint64_t>(
                        std::ceil(static_cast<double>(op.bytes) /
                                  config_.bytesPerCycle(levelBandwidthGBps(config_, at.level))));
                    const auto [first, last] =
                        memoriesTouched(at, strides, op.move, schedule.memories[level].capacity);
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
                stats.levels[static_cast<std::size_t>(op.move.src.level)].bytesRead += op.bytes;
                stats.levels[static_cast<std::size_t>(op.move.dst.level)].bytesWritten += op.bytes;
                const auto nearer = std::max(op.move.src.level, op.move.dst.level);
                // Moves are between adjacent levels (the object verifier and binder guarantee
                // it), so the nearer end is L3, L2 or L1.
                assert(nearer != Level::External);
                stats.bytesBetweenLevels[static_cast<std::size_t>(nearer) - 1] += op.bytes;
            } else if (op.type == OpType::Vector) {
                ++stats.vectorPasses;
            } else {
                stats.macs += std::uint64_t{op.array.m} * op.array.n * op.array.k;
                ++stats.arrayPasses;
                stats.arrayFolds += op.array.foldStart ? 1 : 0;
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
