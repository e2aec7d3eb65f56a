#include "kpu/simulator/simulator.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <new>

#include <fmt/format.h>
#include <sys/mman.h>

#include "kpu/common/float_convert.h"
#include "kpu/common/shape.h"
#include "kpu/simulator/tile_kernels.h"
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

RunStats Simulator::run(const Schedule& schedule, const RunOptions& options) {
    RunStats stats;
    // One timeline per engine: the cycle at which it is free again.
    std::array<std::vector<std::uint64_t>, kEngineKindCount> freeAt;
    std::array<std::size_t, kEngineKindCount> firstStat{};
    for (int k = 0; k < kEngineKindCount; ++k) {
        const auto kind = static_cast<EngineKind>(k);
        freeAt[static_cast<std::size_t>(k)].assign(
            schedule.engineCounts[static_cast<std::size_t>(k)], 0);
        firstStat[static_cast<std::size_t>(k)] = stats.engines.size();
        for (std::uint32_t i = 0; i < schedule.engineCounts[static_cast<std::size_t>(k)]; ++i)
            stats.engines.push_back(
                EngineStats{.name = fmt::format("{}[{}]", engineKindName(kind), i),
                            .kind = kind,
                            .index = i,
                            .busyCycles = 0,
                            .bytes = 0,
                            .ops = 0});
    }
    std::vector<std::uint64_t> finish(schedule.ops.size(), 0);
    for (std::size_t i = 0; i < schedule.ops.size(); ++i) {
        const BoundOp& op = schedule.ops[i];
        std::uint64_t ready = 0;
        for (std::uint32_t d : schedule.depsOf(i))
            ready = std::max(ready, finish[d]);
        if (op.type == OpType::Barrier) {
            finish[i] = ready;
            continue;
        }
        const auto kind = static_cast<std::size_t>(op.engine);
        std::uint64_t& engineFree = freeAt[kind][op.engineIndex];
        const std::uint64_t start = std::max(ready, engineFree);
        finish[i] = engineFree = start + op.cycles;
        EngineStats& es = stats.engines[firstStat[kind] + op.engineIndex];
        es.busyCycles += op.cycles;
        es.bytes += op.bytes;
        ++es.ops;
        stats.totalCycles = std::max(stats.totalCycles, finish[i]);
        if (op.type == OpType::Move) {
            const auto nearer = std::max(op.move.src.level, op.move.dst.level);
            // Moves are between adjacent levels (the object verifier and binder guarantee it), so
            // the nearer end is L3, L2 or L1.
            assert(nearer != Level::External);
            stats.bytesBetweenLevels[static_cast<std::size_t>(nearer) - 1] += op.bytes;
            if (options.functional)
                executeMove(op.move);
        } else if (op.type == OpType::Vector) {
            ++stats.vectorPasses;
            if (options.functional)
                executeVector(schedule.vectorOps[op.vector]);
        } else {
            stats.macs += std::uint64_t{op.array.m} * op.array.n * op.array.k;
            ++stats.arrayPasses;
            if (options.functional)
                executeArray(op.array);
        }
    }
    return stats;
}

} // namespace kpu::sim
