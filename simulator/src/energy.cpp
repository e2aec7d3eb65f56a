#include "kpu/simulator/energy.h"

#include <cmath>
#include <numeric>

#include "kpu/simulator/timing.h"

namespace kpu::sim {
namespace {

std::uint64_t elements(const std::array<std::uint32_t, 4>& extent) {
    return std::uint64_t{extent[0]} * extent[1] * extent[2] * extent[3];
}

// Bytes of a packed m x n block of `type`.
double blockBytes(std::uint64_t m, std::uint64_t n, DType type) {
    return static_cast<double>(m * n * dtypeSize(type));
}

} // namespace

double sramPjPerByte(std::uint64_t capacity) {
    return 2.5 * std::sqrt(static_cast<double>(capacity) / (32.0 * 1024.0));
}

double areaMm2(const KpuConfig& c) {
    const double pes =
        static_cast<double>(c.compute.tileCount) * c.compute.arrayRows * c.compute.arrayCols;
    const auto bytes = [](std::uint32_t count, std::uint64_t capacity) {
        return static_cast<double>(count) * static_cast<double>(capacity);
    };
    const double sramBytes = bytes(c.l3.tileCount, c.l3.tileCapacity) +
                             bytes(c.l2.bankCount, c.l2.bankCapacity) +
                             bytes(c.l1.bufferCount, c.l1.bufferCapacity);
    return pes * c.area.peMm2 + sramBytes / 1024.0 * c.area.sramMm2PerKib;
}

EnergyModel energyModel(const KpuConfig& c) {
    const EnergyConfig& e = c.energy;
    EnergyModel m;
    m.macPj[static_cast<std::size_t>(DType::F32)] = e.macF32Pj;
    m.macPj[static_cast<std::size_t>(DType::F16)] = e.macF16Pj;
    m.macPj[static_cast<std::size_t>(DType::F64)] = e.macF64Pj;
    m.macPj[static_cast<std::size_t>(DType::F8E4M3)] = e.macF8Pj;
    m.macPj[static_cast<std::size_t>(DType::I8)] = e.macI8Pj;
    // Integer types no kernel computes on: priced as f32 should a pass ever see one.
    m.macPj[static_cast<std::size_t>(DType::I32)] = e.macF32Pj;
    m.macPj[static_cast<std::size_t>(DType::I64)] = e.macF64Pj;
    m.vectorOpPj = e.vectorOpPj;
    m.movePj = e.movePj;
    const auto level = [](Level l) { return static_cast<std::size_t>(l); };
    m.readPjPerByte[level(Level::External)] = e.externalReadPjPerByte;
    m.writePjPerByte[level(Level::External)] = e.externalWritePjPerByte;
    const auto sram = [](const std::optional<double>& given, std::uint64_t capacity) {
        return given.value_or(sramPjPerByte(capacity));
    };
    m.readPjPerByte[level(Level::L3)] = sram(e.l3ReadPjPerByte, c.l3.tileCapacity);
    m.writePjPerByte[level(Level::L3)] = sram(e.l3WritePjPerByte, c.l3.tileCapacity);
    m.readPjPerByte[level(Level::L2)] = sram(e.l2ReadPjPerByte, c.l2.bankCapacity);
    m.writePjPerByte[level(Level::L2)] = sram(e.l2WritePjPerByte, c.l2.bankCapacity);
    m.readPjPerByte[level(Level::L1)] = sram(e.l1ReadPjPerByte, c.l1.bufferCapacity);
    m.writePjPerByte[level(Level::L1)] = sram(e.l1WritePjPerByte, c.l1.bufferCapacity);
    m.staticPowerW = e.staticPowerW.value_or(e.leakageWPerMm2 * areaMm2(c));
    return m;
}

double Energy::dynamic() const {
    return compute + std::accumulate(memory.begin(), memory.end(), 0.0) + moves;
}

Energy& Energy::operator+=(const Energy& o) {
    compute += o.compute;
    for (std::size_t l = 0; l < memory.size(); ++l)
        memory[l] += o.memory[l];
    moves += o.moves;
    staticPj += o.staticPj;
    return *this;
}

Energy opEnergy(const Schedule& schedule, const BoundOp& op, const EnergyModel& model) {
    Energy e;
    const std::size_t l1 = static_cast<std::size_t>(Level::L1);
    switch (op.type) {
    case OpType::Move: {
        const MoveOp& move = schedule.move(op);
        const double bytes = static_cast<double>(op.bytes);
        e.memory[static_cast<std::size_t>(move.src.level)] +=
            bytes * model.readPjPerByte[static_cast<std::size_t>(move.src.level)];
        e.memory[static_cast<std::size_t>(move.dst.level)] +=
            bytes * model.writePjPerByte[static_cast<std::size_t>(move.dst.level)];
        e.moves = model.movePj;
        break;
    }
    case OpType::Array: {
        const ArrayOp& a = schedule.array(op);
        e.compute = static_cast<double>(std::uint64_t{a.m} * a.n * a.k) *
                    model.macPj[static_cast<std::size_t>(a.aType)];
        double read = blockBytes(a.m, a.k, a.aType) + blockBytes(a.k, a.n, a.bType);
        if (a.hasInit)
            read += blockBytes(a.m, a.n, a.initType);
        if (a.hasBias)
            read += blockBytes(1, a.n, a.biasType);
        e.memory[l1] = read * model.readPjPerByte[l1] +
                       blockBytes(a.m, a.n, a.outType) * model.writePjPerByte[l1];
        break;
    }
    case OpType::Vector: {
        const VectorOp& v = schedule.vector(op);
        e.compute = static_cast<double>(vectorWork(v)) * model.vectorOpPj;
        double read = 0;
        for (const VectorOperand& in : v.inputs)
            read += static_cast<double>(elements(in.extent) * dtypeSize(in.dtype));
        const double written =
            static_cast<double>(elements(v.output.extent) * dtypeSize(v.output.dtype));
        e.memory[l1] = read * model.readPjPerByte[l1] + written * model.writePjPerByte[l1];
        break;
    }
    case OpType::Barrier:
        break;
    }
    return e;
}

Energy runEnergy(const Schedule& schedule, const KpuConfig& config, std::uint64_t cycles) {
    const EnergyModel model = energyModel(config);
    Energy total;
    for (const BoundOp& op : schedule.ops)
        total += opEnergy(schedule, op, model);
    // W x s = J; x 1e12 pJ. cycles / (GHz x 1e9) seconds.
    total.staticPj =
        model.staticPowerW * static_cast<double>(cycles) / (config.clockGHz * 1e9) * 1e12;
    return total;
}

} // namespace kpu::sim
