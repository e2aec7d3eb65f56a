// The energy model (docs/energy.md) on hand-built schedules: every figure computed by hand from
// the documented defaults.
#include <gtest/gtest.h>

#include "kpu/simulator/energy.h"

namespace kpu::sim {
namespace {

TEST(Energy, SramAccessEnergyFollowsCapacity) {
    EXPECT_DOUBLE_EQ(sramPjPerByte(32 << 10), 2.5);   // 20 pJ per 64-bit read at 32 KB
    EXPECT_DOUBLE_EQ(sramPjPerByte(8 << 10), 1.25);   // 10 pJ at 8 KB
    EXPECT_NEAR(sramPjPerByte(1 << 20), 14.14, 0.01); // 113 pJ per 64 bits at 1 MB
    EXPECT_DOUBLE_EQ(sramPjPerByte(128 << 10), 5.0);
}

TEST(Energy, DefaultModelAndArea) {
    const KpuConfig c = defaultConfig();
    // 256 PEs x 0.0119 + (512 KiB L3 + 512 KiB L2 + 128 x 32 KiB L1) x 0.0045 per KiB.
    EXPECT_NEAR(areaMm2(c), 256 * 0.0119 + 5120 * 0.0045, 1e-9);
    const EnergyModel m = energyModel(c);
    EXPECT_DOUBLE_EQ(m.macPj[static_cast<std::size_t>(DType::F32)], 4.6);
    EXPECT_DOUBLE_EQ(m.macPj[static_cast<std::size_t>(DType::F16)], 1.5);
    EXPECT_DOUBLE_EQ(m.readPjPerByte[static_cast<std::size_t>(Level::External)], 162.5);
    EXPECT_DOUBLE_EQ(m.readPjPerByte[static_cast<std::size_t>(Level::L3)], 5.0); // 128 KiB
    EXPECT_DOUBLE_EQ(m.readPjPerByte[static_cast<std::size_t>(Level::L1)], 2.5); // 32 KiB
    EXPECT_NEAR(m.staticPowerW, 0.02 * areaMm2(c), 1e-12);
}

TEST(Energy, ConfigFiguresOverrideTheDefaults) {
    KpuConfig c = defaultConfig();
    c.energy.l2ReadPjPerByte = 7.0;
    c.energy.staticPowerW = 1.5;
    c.energy.macF32Pj = 1.0;
    const EnergyModel m = energyModel(c);
    EXPECT_DOUBLE_EQ(m.readPjPerByte[static_cast<std::size_t>(Level::L2)], 7.0);
    EXPECT_DOUBLE_EQ(m.writePjPerByte[static_cast<std::size_t>(Level::L2)],
                     sramPjPerByte(64 << 10));
    EXPECT_DOUBLE_EQ(m.staticPowerW, 1.5);
    EXPECT_DOUBLE_EQ(m.macPj[0], 1.0);
}

TEST(Energy, EachKindOfOpCostsWhatTheModelSays) {
    KpuConfig c = defaultConfig();
    c.energy.staticPowerW = 2.0;
    const EnergyModel m = energyModel(c);
    Schedule s;
    BoundOp load;
    load.bytes = 1000;
    MoveOp m1;
    m1.src = {Level::External, 0};
    m1.dst = {Level::L3, 0};
    const std::uint32_t move = s.add(load, m1, {});
    BoundOp pass;
    ArrayOp a;
    a.m = 4;
    a.n = 8;
    a.k = 16;
    a.aType = DType::F16;
    a.hasInit = true;
    const std::uint32_t gemm = s.add(pass, a, {});
    VectorOperand block;
    block.extent = {1, 1, 2, 8};
    VectorOp add;
    add.kind = Operator::Add;
    add.inputs = {block, block};
    add.output = block;
    const std::uint32_t vector = s.add(pass, std::move(add), {});
    const std::uint32_t barrier = s.add(BoundOp{}, {});

    const Energy e1 = opEnergy(s, s.ops[move], m);
    EXPECT_DOUBLE_EQ(e1.memory[0], 1000 * 162.5);
    EXPECT_DOUBLE_EQ(e1.memory[1], 1000 * 5.0);
    EXPECT_DOUBLE_EQ(e1.moves, 40.0);
    EXPECT_DOUBLE_EQ(e1.compute, 0.0);

    const Energy e2 = opEnergy(s, s.ops[gemm], m);
    EXPECT_DOUBLE_EQ(e2.compute, 4 * 8 * 16 * 1.5); // f16 A operand
    // A 4x16 f16 + B 16x8 f32 + init 4x8 f32 read, 4x8 f32 written, at 2.5 pJ/B.
    EXPECT_DOUBLE_EQ(e2.memory[3], (4 * 16 * 2 + 16 * 8 * 4 + 4 * 8 * 4 + 4 * 8 * 4) * 2.5);

    const Energy e3 = opEnergy(s, s.ops[vector], m);
    EXPECT_DOUBLE_EQ(e3.compute, 16 * 0.9); // one work unit per output element
    EXPECT_DOUBLE_EQ(e3.memory[3], 3 * 16 * 4 * 2.5);

    EXPECT_DOUBLE_EQ(opEnergy(s, s.ops[barrier], m).dynamic(), 0.0);

    // 1000 cycles at 1 GHz = 1 us at 2 W = 2 uJ of static energy.
    const Energy run = runEnergy(s, c, 1000);
    EXPECT_DOUBLE_EQ(run.staticPj, 2e6);
    EXPECT_DOUBLE_EQ(run.dynamic(), e1.dynamic() + e2.dynamic() + e3.dynamic());
    EXPECT_DOUBLE_EQ(run.total(), run.dynamic() + 2e6);
}

} // namespace
} // namespace kpu::sim
