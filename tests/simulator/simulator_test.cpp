// The simulator on hand-built schedules: engine timelines, dependencies, barriers and the
// statistics (all worked out by hand), plus functional execution of moves and array passes
// compared with naive loops in the test.
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <vector>

#include <gtest/gtest.h>

#include "kpu/common/float_convert.h"
#include "kpu/common/hw_config.h"
#include "kpu/simulator/schedule.h"
#include "kpu/simulator/simulator.h"
#include "kpu/simulator/stats.h"

namespace kpu::sim {
namespace {

using u32 = std::uint32_t;
using u64 = std::uint64_t;
using Strides = std::array<u64, 4>;

constexpr u64 kExtBytes = 1 << 20;
constexpr u64 kL3Bytes = 64 << 10;
constexpr u64 kL2Bytes = 32 << 10;
constexpr u64 kL1Bytes = 16 << 10;

// 2 DMA engines, 1 BlockMover, 1 Streamer, 1 array; 2 external banks, 1 KiB L3 tiles and L2
// banks (so moves at different KiB do not share a memory port), one L1 buffer.
constexpr u64 kBank1 = kExtBytes / 2;
Schedule emptySchedule() {
    Schedule s;
    s.memories[0] = {2, kExtBytes / 2};
    s.memories[1] = {kL3Bytes / 1024, 1024};
    s.memories[2] = {kL2Bytes / 1024, 1024};
    s.memories[3] = {1, kL1Bytes};
    s.engineCounts = {2, 1, 1, 1};
    return s;
}

// Engine stats index for the counts above: dma[0], dma[1], block_mover[0], streamer[0], array[0].
constexpr std::size_t kDma0 = 0, kDma1 = 1, kMover0 = 2, kStreamer0 = 3, kArray0 = 4;

// A packed (dense row-major) move of `count` elements.
MoveSpec packedMove(EngineKind engine, u32 index, Address src, Address dst, u32 count,
                    u32 elementBytes, u64 cycles) {
    MoveSpec op;
    op.type = OpType::Move;
    op.engine = engine;
    op.engineIndex = index;
    op.cycles = cycles;
    op.bytes = u64{count} * elementBytes;
    op.move.src = src;
    op.move.dst = dst;
    op.move.extent = {1, 1, 1, count};
    op.move.elementBytes = elementBytes;
    const u64 rowBytes = u64{count} * elementBytes;
    op.move.srcStrides = {rowBytes, rowBytes, rowBytes, elementBytes};
    op.move.dstStrides = op.move.srcStrides;
    return op;
}

BoundOp barrier() {
    BoundOp op;
    op.type = OpType::Barrier;
    return op;
}

Simulator makeSim(const Schedule& s) {
    auto sim = Simulator::create(defaultConfig(), s);
    EXPECT_TRUE(sim.has_value()) << sim.error().message;
    return std::move(*sim);
}

template <class T>
void writeExt(Simulator& sim, u64 offset, const std::vector<T>& values) {
    auto r =
        sim.writeExternal(offset, std::span(reinterpret_cast<const std::uint8_t*>(values.data()),
                                            values.size() * sizeof(T)));
    ASSERT_TRUE(r.has_value()) << r.error().message;
}

template <class T>
std::vector<T> readExt(const Simulator& sim, u64 offset, std::size_t count) {
    std::vector<T> out(count);
    auto r = sim.readExternal(
        offset, std::span(reinterpret_cast<std::uint8_t*>(out.data()), count * sizeof(T)));
    EXPECT_TRUE(r.has_value()) << r.error().message;
    return out;
}

void expectSameStats(const RunStats& a, const RunStats& b) {
    EXPECT_EQ(a.totalCycles, b.totalCycles);
    EXPECT_EQ(a.bytesBetweenLevels, b.bytesBetweenLevels);
    EXPECT_EQ(a.macs, b.macs);
    EXPECT_EQ(a.arrayPasses, b.arrayPasses);
    ASSERT_EQ(a.engines.size(), b.engines.size());
    for (std::size_t i = 0; i < a.engines.size(); ++i) {
        EXPECT_EQ(a.engines[i].name, b.engines[i].name);
        EXPECT_EQ(a.engines[i].busyCycles, b.engines[i].busyCycles) << a.engines[i].name;
        EXPECT_EQ(a.engines[i].bytes, b.engines[i].bytes) << a.engines[i].name;
        EXPECT_EQ(a.engines[i].ops, b.engines[i].ops) << a.engines[i].name;
    }
}

Address ext(u64 offset) {
    return {Level::External, offset};
}
Address l3(u64 offset) {
    return {Level::L3, offset};
}
Address l2(u64 offset) {
    return {Level::L2, offset};
}
Address l1(u64 offset) {
    return {Level::L1, offset};
}

// ---------------------------------------------------------------------------------------------
// Timing on hand-built schedules

TEST(SimulatorTiming, EnginesAreListedInOrder) {
    Schedule s = emptySchedule();
    Simulator sim = makeSim(s);
    const RunStats st = sim.run(s);
    ASSERT_EQ(st.engines.size(), 5u);
    EXPECT_EQ(st.engines[kDma0].name, "dma[0]");
    EXPECT_EQ(st.engines[kDma1].name, "dma[1]");
    EXPECT_EQ(st.engines[kMover0].name, "block_mover[0]");
    EXPECT_EQ(st.engines[kStreamer0].name, "streamer[0]");
    EXPECT_EQ(st.engines[kArray0].name, "array[0]");
    EXPECT_EQ(st.engines[kDma1].kind, EngineKind::Dma);
    EXPECT_EQ(st.engines[kDma1].index, 1u);
    EXPECT_EQ(st.engines[kArray0].kind, EngineKind::Array);
    EXPECT_EQ(st.totalCycles, 0u);
}

TEST(SimulatorTiming, SameEngineSerializes) {
    Schedule s = emptySchedule();
    s.add(packedMove(EngineKind::Dma, 0, ext(0), l3(0), 16, 4, 100), {});
    s.add(packedMove(EngineKind::Dma, 0, ext(64), l3(64), 8, 4, 50), {});
    Simulator sim = makeSim(s);
    const RunStats st = sim.run(s);
    // Second starts at 100 when the first ends, finishes at 150.
    EXPECT_EQ(st.totalCycles, 150u);
    EXPECT_EQ(st.engines[kDma0].busyCycles, 150u);
    EXPECT_EQ(st.engines[kDma0].ops, 2u);
    EXPECT_EQ(st.engines[kDma0].bytes, 64u + 32u);
    EXPECT_EQ(st.engines[kDma1].busyCycles, 0u);
    EXPECT_EQ(st.engines[kDma1].ops, 0u);
    EXPECT_EQ(st.bytesBetweenLevels, (std::array<u64, 3>{96, 0, 0}));
}

TEST(SimulatorTiming, DifferentEnginesOverlap) {
    Schedule s = emptySchedule();
    s.add(packedMove(EngineKind::Dma, 0, ext(0), l3(0), 16, 4, 100), {});
    s.add(packedMove(EngineKind::Dma, 1, ext(kBank1), l3(1024), 8, 4, 50), {});
    s.add(packedMove(EngineKind::BlockMover, 0, l3(2048), l2(0), 4, 4, 70), {});
    Simulator sim = makeSim(s);
    const RunStats st = sim.run(s);
    // All three start at 0: total = max(100, 50, 70).
    EXPECT_EQ(st.totalCycles, 100u);
    EXPECT_EQ(st.engines[kDma0].busyCycles, 100u);
    EXPECT_EQ(st.engines[kDma1].busyCycles, 50u);
    EXPECT_EQ(st.engines[kMover0].busyCycles, 70u);
    EXPECT_EQ(st.engines[kDma1].bytes, 32u);
    EXPECT_EQ(st.engines[kMover0].bytes, 16u);
    EXPECT_EQ(st.bytesBetweenLevels, (std::array<u64, 3>{96, 16, 0}));
}

TEST(SimulatorTiming, DependencyDelaysAnOp) {
    Schedule s = emptySchedule();
    const u32 a = s.add(packedMove(EngineKind::Dma, 0, ext(0), l3(0), 16, 4, 100), {});
    const std::array<u32, 1> deps{a};
    s.add(packedMove(EngineKind::BlockMover, 0, l3(0), l2(0), 16, 4, 30), deps);
    Simulator sim = makeSim(s);
    const RunStats st = sim.run(s);
    // The block mover is free at 0 but waits for the DMA: 100 + 30.
    EXPECT_EQ(st.totalCycles, 130u);
    EXPECT_EQ(st.engines[kMover0].busyCycles, 30u); // waiting is not busy
    EXPECT_EQ(st.bytesBetweenLevels, (std::array<u64, 3>{64, 64, 0}));
}

TEST(SimulatorTiming, BarrierCompletesAtMaxOfDeps) {
    Schedule s = emptySchedule();
    const u32 a = s.add(packedMove(EngineKind::Dma, 0, ext(0), l3(0), 16, 4, 100), {});
    const u32 b = s.add(packedMove(EngineKind::Dma, 1, ext(kBank1), l3(1024), 16, 4, 170), {});
    const u32 c = s.add(packedMove(EngineKind::BlockMover, 0, l3(4096), l2(0), 16, 4, 40), {});
    const std::array<u32, 3> bdeps{a, b, c};
    const u32 bar = s.add(barrier(), bdeps);
    const std::array<u32, 1> after{bar};
    // The streamer is idle, so this op starts exactly when the barrier completes (170).
    s.add(packedMove(EngineKind::Streamer, 0, l2(0), l1(0), 16, 4, 5), after);
    Simulator sim = makeSim(s);
    const RunStats st = sim.run(s);
    EXPECT_EQ(st.totalCycles, 175u);
    EXPECT_EQ(st.engines[kStreamer0].busyCycles, 5u);
    EXPECT_EQ(st.bytesBetweenLevels, (std::array<u64, 3>{128, 64, 64}));
    // Barriers use no engine.
    u64 ops = 0;
    for (const EngineStats& e : st.engines)
        ops += e.ops;
    EXPECT_EQ(ops, 4u);
}

TEST(SimulatorTiming, EmptyBarrierCompletesAtZero) {
    Schedule s = emptySchedule();
    s.add(packedMove(EngineKind::Dma, 0, ext(0), l3(0), 4, 4, 100), {});
    const u32 bar = s.add(barrier(), {});
    const std::array<u32, 1> after{bar};
    s.add(packedMove(EngineKind::Dma, 1, ext(kBank1), l3(1024), 4, 4, 7), after);
    Simulator sim = makeSim(s);
    const RunStats st = sim.run(s);
    EXPECT_EQ(st.totalCycles, 100u); // dma[1] runs 0..7 alongside dma[0]
}

// Ops are dispatched as they become ready: an op ready at 0 runs before one that waits for a
// dependency, whatever their order in the schedule.
TEST(SimulatorTiming, EngineServesOpsInTheOrderTheyBecomeReady) {
    Schedule s = emptySchedule();
    const u32 a = s.add(packedMove(EngineKind::Dma, 0, ext(0), l3(0), 4, 4, 200), {});
    const std::array<u32, 1> deps{a};
    // Waits for op a (200), then runs 10 cycles on the block mover: 200..210.
    s.add(packedMove(EngineKind::BlockMover, 0, l3(0), l2(0), 4, 4, 10), deps);
    // Later in the schedule but ready at 0: the block mover serves it first, 0..3.
    s.add(packedMove(EngineKind::BlockMover, 0, l3(1024), l2(1024), 4, 4, 3), {});
    Simulator sim = makeSim(s);
    const RunStats st = sim.run(s, {.functional = true, .recordTimeline = true});
    EXPECT_EQ(st.totalCycles, 210u);
    EXPECT_EQ(st.timeline[2].start, 0u);
    EXPECT_EQ(st.timeline[1].start, 200u);
    EXPECT_EQ(st.engines[kMover0].busyCycles, 13u);
    EXPECT_EQ(st.engines[kMover0].ops, 2u);
}

// A small pipeline whose critical path is worked out by hand (ops run as they become ready):
//   0 dma0  EXT->L3 A   120          0..120
//   1 dma1  EXT->L3 B   80           0..80
//   3 bm0   L3->L2 B    30  dep 1    80..110   (ready before op 2)
//   2 bm0   L3->L2 A    30  dep 0    120..150
//   5 str0  L2->L1 B    10  dep 3    110..120
//   4 str0  L2->L1 A    10  dep 2    150..160
//   6 array             50  dep 4,5  160..210
//   7 str0  L1->L2 C    10  dep 6    210..220
//   8 barrier deps 7                 220
//   9 bm0   L2->L3 C    20  dep 8    220..240
//  10 dma1  L3->EXT C   40  dep 9    240..280
TEST(SimulatorTiming, PipelineCriticalPath) {
    Schedule s = emptySchedule();
    const u32 m = 4, n = 4, k = 8;
    const u32 aBytes = m * k * 4, bBytes = k * n * 4, cBytes = m * n * 4;
    auto dep = [](std::initializer_list<u32> l) { return std::vector<u32>(l); };
    s.add(packedMove(EngineKind::Dma, 0, ext(0), l3(0), m * k, 4, 120), {});
    s.add(packedMove(EngineKind::Dma, 1, ext(kBank1), l3(1024), k * n, 4, 80), {});
    s.add(packedMove(EngineKind::BlockMover, 0, l3(0), l2(0), m * k, 4, 30), dep({0}));
    s.add(packedMove(EngineKind::BlockMover, 0, l3(1024), l2(1024), k * n, 4, 30), dep({1}));
    s.add(packedMove(EngineKind::Streamer, 0, l2(0), l1(0), m * k, 4, 10), dep({2}));
    s.add(packedMove(EngineKind::Streamer, 0, l2(1024), l1(1024), k * n, 4, 10), dep({3}));
    ArraySpec arr;
    arr.type = OpType::Array;
    arr.engine = EngineKind::Array;
    arr.cycles = 50;
    arr.array.m = m, arr.array.n = n, arr.array.k = k;
    arr.array.a = l1(0), arr.array.b = l1(1024), arr.array.out = l1(2048);
    s.add(arr, dep({4, 5}));
    s.add(packedMove(EngineKind::Streamer, 0, l1(2048), l2(2048), m * n, 4, 10), dep({6}));
    s.add(barrier(), dep({7}));
    s.add(packedMove(EngineKind::BlockMover, 0, l2(2048), l3(2048), m * n, 4, 20), dep({8}));
    s.add(packedMove(EngineKind::Dma, 1, l3(2048), ext(4096), m * n, 4, 40), dep({9}));

    Simulator sim = makeSim(s);
    const RunStats st = sim.run(s);
    EXPECT_EQ(st.totalCycles, 280u);
    EXPECT_EQ(st.engines[kDma0].busyCycles, 120u);
    EXPECT_EQ(st.engines[kDma1].busyCycles, 80u + 40u);
    EXPECT_EQ(st.engines[kMover0].busyCycles, 30u + 30u + 20u);
    EXPECT_EQ(st.engines[kStreamer0].busyCycles, 30u);
    EXPECT_EQ(st.engines[kArray0].busyCycles, 50u);
    EXPECT_EQ(st.engines[kArray0].ops, 1u);
    EXPECT_EQ(st.engines[kArray0].bytes, 0u);
    EXPECT_EQ(st.engines[kDma1].bytes, u64{bBytes} + cBytes);
    EXPECT_EQ(st.engines[kStreamer0].ops, 3u);
    EXPECT_EQ(st.bytesBetweenLevels,
              (std::array<u64, 3>{aBytes + bBytes + cBytes, aBytes + bBytes + cBytes,
                                  aBytes + bBytes + cBytes}));
    EXPECT_EQ(st.macs, u64{m} * n * k);
    EXPECT_EQ(st.arrayPasses, 1u);
}

// Two moves on different engines that read the same external bank take turns at its port: each
// holds it for bytes / bank bandwidth (400 B at 100 B per cycle: 4 cycles), so the second
// starts when the first is done with it, and its engine's idle time is a port wait.
TEST(SimulatorTiming, MovesSharingAMemoryPortTakeTurns) {
    Schedule s = emptySchedule();
    s.add(packedMove(EngineKind::Dma, 0, ext(0), l3(0), 100, 4, 4), {});
    s.add(packedMove(EngineKind::Dma, 1, ext(400), l3(1024), 100, 4, 4), {}); // same bank
    Simulator sim = makeSim(s);
    const RunStats st = sim.run(s, {.functional = true, .recordTimeline = true});
    EXPECT_EQ(st.timeline[1].start, 4u);
    EXPECT_EQ(st.totalCycles, 8u);
    EXPECT_EQ(st.engines[kDma1].waitPort, 4u);
    EXPECT_EQ(st.engines[kDma1].waitData, 0u);
    const auto& ext = st.levels[static_cast<std::size_t>(Level::External)];
    EXPECT_EQ(ext.portWaitCycles, 4u);
    EXPECT_EQ(ext.portBusyCycles, 8u);
    EXPECT_EQ(ext.bytesRead, 800u);
    // The L3 tiles (250 B per cycle) are held 2 cycles each and are different tiles.
    const auto& l3Stats = st.levels[static_cast<std::size_t>(Level::L3)];
    EXPECT_EQ(l3Stats.portBusyCycles, 4u);
    EXPECT_EQ(l3Stats.bytesWritten, 800u);
}

// The first-byte latency delays a move after it is ready but does not hold its engine: a
// second move ready at 0 streams its data right after the first's.
TEST(SimulatorTiming, LatencyIsPipelined) {
    Schedule s = emptySchedule();
    MoveSpec a = packedMove(EngineKind::Dma, 0, ext(0), l3(0), 16, 4, 100);
    MoveSpec b = packedMove(EngineKind::Dma, 0, ext(64), l3(1024), 16, 4, 100);
    a.latency = b.latency = 30;
    s.add(a, {});
    s.add(b, {});
    Simulator sim = makeSim(s);
    const RunStats st = sim.run(s, {.functional = false, .recordTimeline = true});
    EXPECT_EQ(st.timeline[0].start, 30u); // data phase after the latency
    EXPECT_EQ(st.timeline[1].start, 130u);
    EXPECT_EQ(st.totalCycles, 230u);
    EXPECT_EQ(st.engines[kDma0].busyCycles, 200u);
    EXPECT_EQ(st.engines[kDma0].waitData, 30u); // the exposed latency of the first
}

// A move allowed on several engines takes the one free first.
TEST(SimulatorTiming, AMoveTakesTheFirstFreeOfItsEngines) {
    Schedule s = emptySchedule();
    s.add(packedMove(EngineKind::Dma, 0, ext(0), l3(0), 16, 4, 100), {});
    MoveSpec either = packedMove(EngineKind::Dma, 0, ext(kBank1), l3(1024), 16, 4, 40);
    either.engineChoices = 2; // dma[0] or dma[1]
    s.add(either, {});
    Simulator sim = makeSim(s);
    const RunStats st = sim.run(s, {.functional = false, .recordTimeline = true});
    EXPECT_EQ(st.timeline[1].engine, kDma1);
    EXPECT_EQ(st.timeline[1].start, 0u);
    EXPECT_EQ(st.totalCycles, 100u);
}

// Idle time before an op is attributed to the kind of its latest dependency.
TEST(SimulatorTiming, WaitsAreAttributedToDataOrSpace) {
    Schedule s = emptySchedule();
    const u32 load = s.add(packedMove(EngineKind::Dma, 0, ext(0), l3(0), 16, 4, 100), {});
    const u32 slow = s.add(packedMove(EngineKind::Dma, 1, ext(kBank1), l3(1024), 16, 4, 300), {});
    ArraySpec pass;
    pass.type = OpType::Array;
    pass.engine = EngineKind::Array;
    pass.cycles = 10;
    const std::array<u32, 1> data{load}, space{slow};
    s.add(pass, data, space); // data ready at 100, space at 300: runs 300..310
    s.add(pass, data);        // ready at 100: runs first, 100..110
    Simulator sim = makeSim(s);
    const RunStats st = sim.run(s, {.functional = false, .recordTimeline = true});
    EXPECT_EQ(st.timeline[3].start, 100u);
    EXPECT_EQ(st.timeline[2].start, 300u);
    EXPECT_EQ(st.engines[kArray0].waitData, 100u);  // 0..100, before the second pass
    EXPECT_EQ(st.engines[kArray0].waitSpace, 190u); // 110..300, before the first
    EXPECT_EQ(st.totalCycles, 310u);
}

// ---------------------------------------------------------------------------------------------
// Host access to external memory

TEST(SimulatorMemory, ExternalRoundTrip) {
    Schedule s = emptySchedule();
    Simulator sim = makeSim(s);
    std::vector<std::uint8_t> data(777);
    for (std::size_t i = 0; i < data.size(); ++i)
        data[i] = static_cast<std::uint8_t>(i * 31 + 7);
    // Straddles the boundary between the two external banks.
    const u64 offset = kExtBytes / 2 - 100;
    writeExt(sim, offset, data);
    EXPECT_EQ(readExt<std::uint8_t>(sim, offset, data.size()), data);
    // Fresh memory reads as zeros.
    EXPECT_EQ(readExt<std::uint8_t>(sim, 0, 64), std::vector<std::uint8_t>(64, 0));
    // A partial read.
    EXPECT_EQ(readExt<std::uint8_t>(sim, offset + 10, 3),
              (std::vector<std::uint8_t>{data[10], data[11], data[12]}));
    // The very last bytes are reachable.
    writeExt(sim, kExtBytes - 4, std::vector<std::uint8_t>{1, 2, 3, 4});
    EXPECT_EQ(readExt<std::uint8_t>(sim, kExtBytes - 4, 4),
              (std::vector<std::uint8_t>{1, 2, 3, 4}));
}

TEST(SimulatorMemory, OutOfRangeIsAnError) {
    Schedule s = emptySchedule();
    Simulator sim = makeSim(s);
    std::array<std::uint8_t, 4> buf{9, 9, 9, 9};
    auto w = sim.writeExternal(kExtBytes - 2, buf);
    ASSERT_FALSE(w.has_value());
    EXPECT_NE(w.error().message.find("out of range"), std::string::npos) << w.error().message;
    // Nothing was written by the failed call.
    EXPECT_EQ(readExt<std::uint8_t>(sim, kExtBytes - 2, 2), (std::vector<std::uint8_t>{0, 0}));
    EXPECT_FALSE(sim.writeExternal(kExtBytes, buf).has_value());
    EXPECT_FALSE(sim.writeExternal(std::numeric_limits<u64>::max(), buf).has_value());
    EXPECT_FALSE(
        sim.writeExternal(std::numeric_limits<u64>::max() - 1, buf).has_value()); // wraps if added
    auto r = sim.readExternal(kExtBytes - 3, buf);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message.find("out of range"), std::string::npos) << r.error().message;
    EXPECT_FALSE(sim.readExternal(kExtBytes + 1, std::span<std::uint8_t>()).has_value());
    EXPECT_FALSE(sim.readExternal(std::numeric_limits<u64>::max() - 1, buf).has_value());
    EXPECT_EQ(buf, (std::array<std::uint8_t, 4>{9, 9, 9, 9})); // untouched by failed reads
    // Empty accesses at the very end are fine.
    EXPECT_TRUE(sim.writeExternal(kExtBytes, std::span<const std::uint8_t>()).has_value());
    EXPECT_TRUE(sim.readExternal(kExtBytes, std::span<std::uint8_t>()).has_value());
}

TEST(SimulatorMemory, OverflowingGeometryIsAnError) {
    Schedule s = emptySchedule();
    s.memories[1] = {4, std::numeric_limits<u64>::max() / 2};
    auto sim = Simulator::create(defaultConfig(), s);
    ASSERT_FALSE(sim.has_value());
    EXPECT_NE(sim.error().message.find("L3"), std::string::npos) << sim.error().message;
}

// ---------------------------------------------------------------------------------------------
// Functional moves

// The byte offset of element i in a box with the given strides.
u64 offsetOf(const std::array<u64, 4>& strides, u32 i0, u32 i1, u32 i2, u32 i3) {
    return i0 * strides[0] + i1 * strides[1] + i2 * strides[2] + i3 * strides[3];
}

// Reference copy of a 4-D box between two byte images.
void naiveMove(const std::vector<std::uint8_t>& src, u64 srcOff, const std::array<u64, 4>& ss,
               std::vector<std::uint8_t>& dst, u64 dstOff, const std::array<u64, 4>& ds,
               const std::array<u32, 4>& e, u32 elem) {
    for (u32 a = 0; a < e[0]; ++a)
        for (u32 b = 0; b < e[1]; ++b)
            for (u32 c = 0; c < e[2]; ++c)
                for (u32 d = 0; d < e[3]; ++d)
                    for (u32 x = 0; x < elem; ++x)
                        dst[dstOff + offsetOf(ds, a, b, c, d) + x] =
                            src[srcOff + offsetOf(ss, a, b, c, d) + x];
}

TEST(SimulatorFunctional, Strided4DMovesCopyExactlyTheBox) {
    // A 3x4x5x6 tensor of 2-byte elements at external offset 1000 (packed, row-major).
    const u32 elem = 2;
    const std::array<u64, 4> tensorStrides{4 * 5 * 6 * elem, 5 * 6 * elem, 6 * elem, elem};
    const u64 tensorBytes = 3 * tensorStrides[0];
    const u64 tensorAt = 1000;
    std::vector<std::uint8_t> image(kExtBytes, 0);
    for (u64 i = 0; i < tensorBytes; ++i)
        image[tensorAt + i] = static_cast<std::uint8_t>((i * 131 + 17) % 251 + 1); // never 0

    // Box origin (1,1,2,1), extent 2x3x2x4.
    const std::array<u32, 4> extent{2, 3, 2, 4};
    const u64 boxAt = tensorAt + offsetOf(tensorStrides, 1, 1, 2, 1);
    // Into L2 packed at 64 (contiguous rows on both sides).
    const std::array<u64, 4> packed{3 * 2 * 4 * elem, 2 * 4 * elem, 4 * elem, elem};
    // Back to external at 200000, scattered: every element 3 elements apart, padded rows/planes.
    const std::array<u64, 4> scattered{1000, 300, 40, 3 * elem};
    // And a transposing copy of the packed box (i3 walks the source's dim 2): non-unit source
    // stride.
    const std::array<u64, 4> transposedSrc{packed[0], packed[1], elem, packed[2]};
    const std::array<u32, 4> transposedExtent{2, 3, 4, 2};
    const std::array<u64, 4> transposedDst{3 * 4 * 2 * elem, 4 * 2 * elem, 2 * elem, elem};

    Schedule s = emptySchedule();
    MoveSpec in;
    in.type = OpType::Move;
    in.engine = EngineKind::Dma;
    in.cycles = 10;
    in.bytes = u64{2} * 3 * 2 * 4 * elem;
    in.move = MoveOp{.src = ext(boxAt),
                     .dst = l2(64),
                     .srcStrides = tensorStrides,
                     .dstStrides = packed,
                     .extent = extent,
                     .elementBytes = elem};
    const u32 op0 = s.add(in, {});
    MoveSpec out = in;
    out.move = MoveOp{.src = l2(64),
                      .dst = ext(200000),
                      .srcStrides = packed,
                      .dstStrides = scattered,
                      .extent = extent,
                      .elementBytes = elem};
    const std::array<u32, 1> d0{op0};
    s.add(out, d0);
    MoveSpec tr = in;
    tr.move = MoveOp{.src = l2(64),
                     .dst = ext(300000),
                     .srcStrides = transposedSrc,
                     .dstStrides = transposedDst,
                     .extent = transposedExtent,
                     .elementBytes = elem};
    s.add(tr, d0);

    Simulator sim = makeSim(s);
    writeExt(sim, tensorAt,
             std::vector<std::uint8_t>(image.begin() + tensorAt,
                                       image.begin() + tensorAt + tensorBytes));
    sim.run(s);

    std::vector<std::uint8_t> l2img(kL2Bytes, 0);
    naiveMove(image, boxAt, tensorStrides, l2img, 64, packed, extent, elem);
    std::vector<std::uint8_t> expected = image;
    naiveMove(l2img, 64, packed, expected, 200000, scattered, extent, elem);
    naiveMove(l2img, 64, transposedSrc, expected, 300000, transposedDst, transposedExtent, elem);

    // The whole scattered window (gaps included) and the transposed block.
    const u64 scatterSpan = offsetOf(scattered, 1, 2, 1, 3) + elem;
    EXPECT_EQ(readExt<std::uint8_t>(sim, 200000, scatterSpan + 64),
              std::vector<std::uint8_t>(expected.begin() + 200000,
                                        expected.begin() + 200000 + scatterSpan + 64));
    const u64 trBytes = u64{2} * 3 * 4 * 2 * elem;
    EXPECT_EQ(readExt<std::uint8_t>(sim, 300000, trBytes + 16),
              std::vector<std::uint8_t>(expected.begin() + 300000,
                                        expected.begin() + 300000 + trBytes + 16));
    // The source tensor is unchanged.
    EXPECT_EQ(readExt<std::uint8_t>(sim, tensorAt, tensorBytes),
              std::vector<std::uint8_t>(image.begin() + tensorAt,
                                        image.begin() + tensorAt + tensorBytes));
    // Spot check by hand: box element (1,2,1,3) is tensor element (2,3,3,4).
    const u64 src = tensorAt + offsetOf(tensorStrides, 2, 3, 3, 4);
    const u64 dst = 200000 + offsetOf(scattered, 1, 2, 1, 3);
    EXPECT_EQ(readExt<std::uint8_t>(sim, dst, 2),
              (std::vector<std::uint8_t>{image[src], image[src + 1]}));
}

TEST(SimulatorFunctional, MoveAcrossBankBoundary) {
    // External banks are laid end to end: a tile may straddle them.
    Schedule s = emptySchedule();
    const u64 at = kExtBytes / 2 - 10;
    s.add(packedMove(EngineKind::Dma, 0, ext(at), l3(100), 10, 4, 1), {});
    s.add(packedMove(EngineKind::Dma, 0, l3(100), ext(5000), 10, 4, 1), {});
    Simulator sim = makeSim(s);
    std::vector<float> v{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    writeExt(sim, at, v);
    sim.run(s);
    EXPECT_EQ(readExt<float>(sim, 5000, 10), v);
}

// ---------------------------------------------------------------------------------------------
// Functional array passes

// Deterministic pseudo-random values in [-1, 1).
std::vector<double> randomValues(std::size_t n, u32 seed) {
    std::vector<double> v(n);
    u64 x = seed * 2654435761ull + 1;
    for (double& d : v) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        d = static_cast<double>(x >> 11) / static_cast<double>(1ull << 53) * 2.0 - 1.0;
    }
    return v;
}

// Multiples of 1/4 in [-2, 2]: products and short sums are exact in f16, f32 and f64.
std::vector<double> dyadicValues(std::size_t n, u32 seed) {
    std::vector<double> v(n);
    u64 x = seed * 40503ull + 11;
    for (double& d : v) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        d = static_cast<double>(static_cast<int>((x >> 33) % 17) - 8) / 4.0;
    }
    return v;
}

std::vector<std::uint8_t> encode(DType t, const std::vector<double>& v) {
    std::vector<std::uint8_t> out;
    for (double d : v) {
        if (t == DType::F32) {
            const float f = static_cast<float>(d);
            const auto* p = reinterpret_cast<const std::uint8_t*>(&f);
            out.insert(out.end(), p, p + 4);
        } else if (t == DType::F64) {
            const auto* p = reinterpret_cast<const std::uint8_t*>(&d);
            out.insert(out.end(), p, p + 8);
        } else {
            const std::uint16_t h = f32ToF16(static_cast<float>(d));
            out.push_back(static_cast<std::uint8_t>(h & 0xff));
            out.push_back(static_cast<std::uint8_t>(h >> 8));
        }
    }
    return out;
}

// What the stored value of element i is, as a double.
double decode(DType t, const std::vector<std::uint8_t>& bytes, std::size_t i) {
    if (t == DType::F32) {
        float f;
        std::memcpy(&f, bytes.data() + 4 * i, 4);
        return f;
    }
    if (t == DType::F64) {
        double d;
        std::memcpy(&d, bytes.data() + 8 * i, 8);
        return d;
    }
    const std::uint16_t h = static_cast<std::uint16_t>(bytes[2 * i] | (bytes[2 * i + 1] << 8));
    return f16ToF32(h);
}

u32 sizeOf(DType t) {
    return t == DType::F64 ? 8 : t == DType::F16 ? 2 : 4;
}

struct ArrayCase {
    u32 m, n, k;
    DType a, b, init, out;
    bool hasInit;
    bool dyadic;
};

// Runs one array pass (operands EXT -> L1, the pass, L1 -> EXT) and compares the output with a
// double loop over the stored operand values.
void runArrayCase(const ArrayCase& c, double tolerance) {
    const std::size_t am = std::size_t{c.m} * c.k, bm = std::size_t{c.k} * c.n,
                      cm = std::size_t{c.m} * c.n;
    const auto av = c.dyadic ? dyadicValues(am, 1) : randomValues(am, 1);
    const auto bv = c.dyadic ? dyadicValues(bm, 2) : randomValues(bm, 2);
    const auto iv = c.dyadic ? dyadicValues(cm, 3) : randomValues(cm, 3);
    const auto ab = encode(c.a, av), bb = encode(c.b, bv), ib = encode(c.init, iv);
    // The output starts as NaNs, to show that it is overwritten (without init) rather than read.
    const std::vector<double> nans(cm, std::numeric_limits<double>::quiet_NaN());
    const auto ob = encode(c.out, nans);

    const u64 extA = 0, extB = 100000, extI = 200000, extO = 300000, extR = 400000;
    const u64 L1a = 0, L1b = 4096, L1i = 8192, L1o = 12288;
    Schedule s = emptySchedule();
    std::vector<u32> loads;
    loads.push_back(s.add(
        packedMove(EngineKind::Dma, 0, ext(extA), l1(L1a), static_cast<u32>(ab.size()), 1, 1), {}));
    loads.push_back(s.add(
        packedMove(EngineKind::Dma, 0, ext(extB), l1(L1b), static_cast<u32>(bb.size()), 1, 1), {}));
    loads.push_back(s.add(
        packedMove(EngineKind::Dma, 0, ext(extI), l1(L1i), static_cast<u32>(ib.size()), 1, 1), {}));
    loads.push_back(s.add(
        packedMove(EngineKind::Dma, 0, ext(extO), l1(L1o), static_cast<u32>(ob.size()), 1, 1), {}));
    ArraySpec arr;
    arr.type = OpType::Array;
    arr.engine = EngineKind::Array;
    arr.cycles = 1;
    arr.array.m = c.m, arr.array.n = c.n, arr.array.k = c.k;
    arr.array.a = l1(L1a), arr.array.b = l1(L1b), arr.array.init = l1(L1i), arr.array.out = l1(L1o);
    arr.array.aType = c.a, arr.array.bType = c.b, arr.array.initType = c.init;
    arr.array.outType = c.out, arr.array.hasInit = c.hasInit;
    const u32 pass = s.add(arr, loads);
    const std::array<u32, 1> after{pass};
    const u32 outBytes = static_cast<u32>(cm * sizeOf(c.out));
    s.add(packedMove(EngineKind::Dma, 1, l1(L1o), ext(extR), outBytes, 1, 1), after);

    Simulator sim = makeSim(s);
    writeExt(sim, extA, ab);
    writeExt(sim, extB, bb);
    writeExt(sim, extI, ib);
    writeExt(sim, extO, ob);
    const RunStats st = sim.run(s);
    EXPECT_EQ(st.macs, u64{c.m} * c.n * c.k);
    EXPECT_EQ(st.arrayPasses, 1u);
    const auto result = readExt<std::uint8_t>(sim, extR, outBytes);

    for (u32 i = 0; i < c.m; ++i)
        for (u32 j = 0; j < c.n; ++j) {
            double want = c.hasInit ? decode(c.init, ib, std::size_t{i} * c.n + j) : 0.0;
            for (u32 p = 0; p < c.k; ++p)
                want += decode(c.a, ab, std::size_t{i} * c.k + p) *
                        decode(c.b, bb, std::size_t{p} * c.n + j);
            const double got = decode(c.out, result, std::size_t{i} * c.n + j);
            ASSERT_NEAR(got, want, tolerance * (1.0 + std::abs(want)))
                << "element (" << i << "," << j << ")";
        }
}

TEST(SimulatorFunctional, ArrayF32WithInit) {
    runArrayCase({13, 17, 29, DType::F32, DType::F32, DType::F32, DType::F32, true, false}, 1e-5);
}

TEST(SimulatorFunctional, ArrayF32WithoutInitOverwritesOutput) {
    runArrayCase({8, 33, 5, DType::F32, DType::F32, DType::F32, DType::F32, false, false}, 1e-5);
}

TEST(SimulatorFunctional, ArrayF32Exact) {
    runArrayCase({7, 9, 11, DType::F32, DType::F32, DType::F32, DType::F32, true, true}, 0.0);
}

TEST(SimulatorFunctional, ArrayF64) {
    // Random f64 values lose precision in f32, so 1e-12 only holds for an f64 computation.
    runArrayCase({11, 10, 37, DType::F64, DType::F64, DType::F64, DType::F64, true, false}, 1e-12);
}

TEST(SimulatorFunctional, ArrayF64OutputFromF32Inputs) {
    runArrayCase({6, 5, 40, DType::F32, DType::F32, DType::F32, DType::F64, true, false}, 1e-12);
}

TEST(SimulatorFunctional, ArrayF16Operands) {
    runArrayCase({9, 14, 21, DType::F16, DType::F16, DType::F32, DType::F32, true, false}, 1e-5);
    runArrayCase({9, 14, 21, DType::F16, DType::F16, DType::F16, DType::F32, true, false}, 1e-5);
}

TEST(SimulatorFunctional, ArrayF16Output) {
    // Exact when every value is representable; about one f16 ulp (2^-10 relative) otherwise.
    runArrayCase({10, 12, 9, DType::F16, DType::F16, DType::F16, DType::F16, true, true}, 0.0);
    runArrayCase({10, 12, 9, DType::F32, DType::F32, DType::F32, DType::F16, true, false},
                 1.0 / 1024);
}

TEST(SimulatorFunctional, ArrayOneByOne) {
    runArrayCase({1, 1, 1, DType::F32, DType::F32, DType::F32, DType::F32, true, true}, 0.0);
    runArrayCase({1, 1, 1, DType::F32, DType::F32, DType::F32, DType::F32, false, true}, 0.0);
}

// ---------------------------------------------------------------------------------------------
// Timing-only runs and determinism

Schedule copySchedule() {
    Schedule s = emptySchedule();
    const u32 a = s.add(packedMove(EngineKind::Dma, 0, ext(0), l3(0), 64, 4, 103), {});
    const std::array<u32, 1> da{a};
    const u32 b = s.add(packedMove(EngineKind::BlockMover, 0, l3(0), l2(0), 64, 4, 21), da);
    const std::array<u32, 1> db{b};
    const u32 c = s.add(packedMove(EngineKind::BlockMover, 0, l2(0), l3(4096), 64, 4, 21), db);
    const std::array<u32, 1> dc{c};
    s.add(packedMove(EngineKind::Dma, 1, l3(4096), ext(8192), 64, 4, 103), dc);
    return s;
}

TEST(SimulatorRun, TimingOnlyGivesSameStatsAndLeavesMemoryAlone) {
    const Schedule s = copySchedule();
    std::vector<float> v(64);
    for (std::size_t i = 0; i < v.size(); ++i)
        v[i] = static_cast<float>(i) + 0.5f;

    Simulator functional = makeSim(s);
    writeExt(functional, 0, v);
    const RunStats f = functional.run(s);
    EXPECT_EQ(readExt<float>(functional, 8192, 64), v);

    Simulator timing = makeSim(s);
    writeExt(timing, 0, v);
    const RunStats t = timing.run(s, RunOptions{.functional = false});
    expectSameStats(f, t);
    EXPECT_EQ(t.totalCycles, 103u + 21u + 21u + 103u);
    EXPECT_EQ(readExt<float>(timing, 8192, 64), std::vector<float>(64, 0.0f));
    EXPECT_EQ(readExt<float>(timing, 0, 64), v);
}

TEST(SimulatorRun, Deterministic) {
    const Schedule s = copySchedule();
    Simulator a = makeSim(s);
    Simulator b = makeSim(s);
    const RunStats first = a.run(s);
    const RunStats second = b.run(s);
    const RunStats again = a.run(s); // a second run on the same simulator, too
    expectSameStats(first, second);
    expectSameStats(first, again);
}

// ---------------------------------------------------------------------------------------------
// Functional execution: forwarded loads and threads show exactly what copying shows.

// A schedule whose forwarded blocks are read through every path: a read-only tensor at EXT 0
// (256 floats) and a writable one at EXT 4096, loaded into L3 and L2, partly overwritten,
// re-read as a sub-box, a transposed box and a whole block, and stored to EXT 8192 onwards.
Schedule forwardingSchedule() {
    Schedule s = emptySchedule();
    s.tensors = {TensorPlacement{.name = "in", .offset = 0, .bytes = 1024, .readOnly = true},
                 TensorPlacement{.name = "w", .offset = 4096, .bytes = 1024, .readOnly = false}};
    auto move = [&](Address src, Strides srcStrides, Address dst, Strides dstStrides,
                    std::array<u32, 4> extent, std::span<const u32> deps = {}) {
        MoveSpec m;
        m.type = OpType::Move;
        m.engine = EngineKind::Dma;
        m.cycles = 1;
        m.move = MoveOp{.src = src,
                        .dst = dst,
                        .srcStrides = srcStrides,
                        .dstStrides = dstStrides,
                        .extent = extent,
                        .elementBytes = 4};
        return s.add(m, deps);
    };
    const Strides rows16{0, 0, 64, 4}, rows8{0, 0, 32, 4};
    // 16 x 16 in -> L3 (forwarded), L3 -> L2 (forwarded again).
    const u32 a = move(ext(0), rows16, l3(0), rows16, {1, 1, 16, 16});
    const u32 b = move(l3(0), rows16, l2(0), rows16, {1, 1, 16, 16}, std::array{a});
    // Overwrite L2 bytes [200, 328) with writable data: the window splits around it.
    const u32 c =
        move(ext(4096), {0, 0, 128, 4}, l2(200), {0, 0, 128, 4}, {1, 1, 1, 32}, std::array{b});
    // An 8 x 8 sub-box of the L3 copy (still whole) into L2 at 2048; its transpose at 4096.
    const u32 d = move(l3(4 * 64 + 16), rows16, l2(2048), rows8, {1, 1, 8, 8}, std::array{a});
    const u32 e = move(l2(2048), {0, 0, 4, 32}, l2(4096), rows8, {1, 1, 8, 8}, std::array{d});
    // Everything back out: the partly overwritten block reads forwarded and physical bytes.
    move(l2(0), rows16, ext(8192), rows16, {1, 1, 16, 16}, std::array{c});
    move(l2(2048), rows8, ext(16384), rows8, {1, 1, 8, 8}, std::array{d});
    move(l2(4096), rows8, ext(20480), rows8, {1, 1, 8, 8}, std::array{e});
    // An array pass on forwarded operands: A = 8 x 8 sub-box, B = the transposed one.
    const u32 fa = move(l2(2048), rows8, l1(0), rows8, {1, 1, 8, 8}, std::array{d});
    const u32 fb = move(l2(4096), rows8, l1(256), rows8, {1, 1, 8, 8}, std::array{e});
    ArraySpec pass;
    pass.type = OpType::Array;
    pass.engine = EngineKind::Array;
    pass.cycles = 1;
    pass.array.m = pass.array.n = pass.array.k = 8;
    pass.array.a = l1(0), pass.array.b = l1(256), pass.array.out = l1(512);
    const u32 g = s.add(pass, std::array{fa, fb});
    move(l1(512), rows8, l2(8192), rows8, {1, 1, 8, 8}, std::array{g});
    move(l2(8192), rows8, ext(24576), rows8, {1, 1, 8, 8}, std::array{g + 1});
    return s;
}

std::vector<float> runForwarding(const Schedule& s, const RunOptions& options) {
    std::vector<float> in(256), w(32);
    for (std::size_t i = 0; i < in.size(); ++i)
        in[i] = static_cast<float>(i) * 0.25f - 7.0f;
    for (std::size_t i = 0; i < w.size(); ++i)
        w[i] = 1000.0f + static_cast<float>(i);
    Simulator sim = makeSim(s);
    writeExt(sim, 0, in);
    writeExt(sim, 4096, w);
    sim.run(s, options);
    return readExt<float>(sim, 0, kExtBytes / 2 / sizeof(float));
}

TEST(SimulatorFunctional, ForwardedLoadsShowWhatCopiesShow) {
    const Schedule s = forwardingSchedule();
    const std::vector<float> copied = runForwarding(s, {.copyMoves = true});
    // The copy is what the moves say: the partly overwritten block, in particular.
    EXPECT_EQ(copied[8192 / 4 + 51], 1000.0f + 1);           // L2 byte 204 came from w[1]
    EXPECT_EQ(copied[8192 / 4], -7.0f);                      // untouched bytes came from `in`
    EXPECT_EQ(copied[20480 / 4 + 1], copied[16384 / 4 + 8]); // transposed
    for (unsigned threads : {1u, 2u, 4u})
        EXPECT_EQ(runForwarding(s, {.copyMoves = false, .threads = threads}), copied)
            << threads << " thread(s)";
    EXPECT_EQ(runForwarding(s, {.copyMoves = true, .threads = 2}), copied);
}

} // namespace
} // namespace kpu::sim
