// The timing model's durations, against values worked out by hand from timing.h's formulas:
//   move  = latency(farther level) + ceil(bytes / (min bandwidth of both levels / clock)), the
//           latency pipelined (MoveTiming keeps the two apart)
//   fold  = 2*R + C + T - 2 (SCALE-Sim v2), charged to the first chunk of a fold
#include <cstdint>

#include <gtest/gtest.h>

#include "kpu/common/hw_config.h"
#include "kpu/simulator/timing.h"

namespace kpu::sim {
namespace {

// An isolated move: from ready to finish, its latency then its data phase.
std::uint64_t moveCycles(const KpuConfig& c, Level from, Level to, std::uint64_t bytes) {
    const MoveTiming t = moveTiming(c, from, to, bytes);
    return t.latency + t.cycles;
}

std::uint64_t arrayCycles(const KpuConfig& c, std::uint32_t k) {
    return foldCycles(c, k);
}

// Default: 1 GHz; EXT 100 GB/s lat 100, L3 250/20, L2 500/10, L1 1000/2.
TEST(Timing, DefaultExternalToL3) {
    const KpuConfig c = defaultConfig();
    // 100 GB/s at 1 GHz = 100 bytes per cycle; EXT latency 100.
    EXPECT_EQ(moveCycles(c, Level::External, Level::L3, 0), 100u);
    EXPECT_EQ(moveCycles(c, Level::External, Level::L3, 1), 101u);
    EXPECT_EQ(moveCycles(c, Level::External, Level::L3, 100), 101u);
    EXPECT_EQ(moveCycles(c, Level::External, Level::L3, 101), 102u);
    EXPECT_EQ(moveCycles(c, Level::External, Level::L3, 1000), 110u);
    EXPECT_EQ(moveCycles(c, Level::External, Level::L3, 65536), 100u + 656u); // 655.36 -> 656
    // The same in the other direction.
    EXPECT_EQ(moveCycles(c, Level::L3, Level::External, 1000), 110u);
    EXPECT_EQ(moveCycles(c, Level::L3, Level::External, 65536), 756u);
}

TEST(Timing, DefaultL3ToL2) {
    const KpuConfig c = defaultConfig();
    // min(250, 500) = 250 bytes per cycle; L3 latency 20.
    EXPECT_EQ(moveCycles(c, Level::L3, Level::L2, 0), 20u);
    EXPECT_EQ(moveCycles(c, Level::L3, Level::L2, 250), 21u);
    EXPECT_EQ(moveCycles(c, Level::L3, Level::L2, 251), 22u);
    EXPECT_EQ(moveCycles(c, Level::L3, Level::L2, 65536), 20u + 263u); // 262.144 -> 263
    EXPECT_EQ(moveCycles(c, Level::L2, Level::L3, 65536), 283u);
}

TEST(Timing, DefaultL2ToL1) {
    const KpuConfig c = defaultConfig();
    // min(500, 1000) = 500 bytes per cycle; L2 latency 10.
    EXPECT_EQ(moveCycles(c, Level::L2, Level::L1, 0), 10u);
    EXPECT_EQ(moveCycles(c, Level::L2, Level::L1, 500), 11u);
    EXPECT_EQ(moveCycles(c, Level::L2, Level::L1, 1024), 13u); // 2.048 -> 3
    EXPECT_EQ(moveCycles(c, Level::L1, Level::L2, 1024), 13u);
    EXPECT_EQ(moveCycles(c, Level::L2, Level::L1, 32768), 10u + 66u); // 65.536 -> 66
}

TEST(Timing, NonAdjacentLevelsUseTheSlowestAndFarthest) {
    const KpuConfig c = defaultConfig();
    // EXT <-> L1: min bandwidth 100, EXT latency.
    EXPECT_EQ(moveCycles(c, Level::External, Level::L1, 1000), 110u);
    EXPECT_EQ(moveCycles(c, Level::L1, Level::External, 1000), 110u);
    // L3 <-> L1: min(250, 1000) = 250, L3 latency.
    EXPECT_EQ(moveCycles(c, Level::L3, Level::L1, 1000), 24u);
}

TEST(Timing, DoubleClockHalvesBytesPerCycle) {
    KpuConfig c = defaultConfig();
    c.clockGHz = 2.0;
    // 100 GB/s at 2 GHz = 50 bytes per cycle; latencies are in cycles and stay.
    EXPECT_EQ(moveCycles(c, Level::External, Level::L3, 1000), 100u + 20u);
    EXPECT_EQ(moveCycles(c, Level::External, Level::L3, 1001), 100u + 21u);
    // 250 GB/s -> 125 B/cycle.
    EXPECT_EQ(moveCycles(c, Level::L3, Level::L2, 1000), 20u + 8u);
    EXPECT_EQ(moveCycles(c, Level::L3, Level::L2, 1001), 20u + 9u);
    // 500 GB/s -> 250 B/cycle.
    EXPECT_EQ(moveCycles(c, Level::L2, Level::L1, 1000), 10u + 4u);
    EXPECT_EQ(moveCycles(c, Level::L2, Level::L1, 1001), 10u + 5u);
}

TEST(Timing, HalfClockDoublesBytesPerCycle) {
    KpuConfig c = defaultConfig();
    c.clockGHz = 0.5;
    EXPECT_EQ(moveCycles(c, Level::External, Level::L3, 1000), 100u + 5u);
    EXPECT_EQ(moveCycles(c, Level::L2, Level::L1, 1000), 10u + 1u);
}

TEST(Timing, CustomBandwidthAndLatency) {
    KpuConfig c = defaultConfig();
    c.external.bandwidthGBps = 25.6;
    c.external.latencyCycles = 300;
    c.l3.bandwidthGBps = 12.8; // slower than external: the L3 side limits
    c.l3.latencyCycles = 7;
    // 12.8 B/cycle: 1280 bytes -> 100 cycles, 1281 -> 101.
    EXPECT_EQ(moveCycles(c, Level::External, Level::L3, 1280), 400u);
    EXPECT_EQ(moveCycles(c, Level::External, Level::L3, 1281), 401u);
    // L3 <-> L2: min(12.8, 500) = 12.8, L3 latency 7.
    EXPECT_EQ(moveCycles(c, Level::L2, Level::L3, 128), 17u);
}

TEST(Timing, ArrayFillDrain) {
    KpuConfig c = defaultConfig(); // 16x16: 2*16 + 16 + k - 2 = 46 + k
    EXPECT_EQ(arrayCycles(c, 1), 47u);
    EXPECT_EQ(arrayCycles(c, 16), 62u);
    EXPECT_EQ(arrayCycles(c, 1000), 1046u);
    c.compute.arrayRows = 8;
    c.compute.arrayCols = 8; // 16 + 8 + k - 2 = 22 + k
    EXPECT_EQ(arrayCycles(c, 8), 30u);
    c.compute.arrayRows = 4;
    c.compute.arrayCols = 32; // 8 + 32 + k - 2 = 38 + k (rows and cols not interchangeable)
    EXPECT_EQ(arrayCycles(c, 10), 48u);
    c.compute.arrayRows = 32;
    c.compute.arrayCols = 4; // 64 + 4 + k - 2 = 66 + k
    EXPECT_EQ(arrayCycles(c, 10), 76u);
    c.clockGHz = 3.0; // array cycles do not depend on the clock
    EXPECT_EQ(arrayCycles(c, 10), 76u);
}

TEST(Timing, LatencyAndDataPhaseAreSeparate) {
    const KpuConfig c = defaultConfig();
    const MoveTiming t = moveTiming(c, Level::External, Level::L3, 65536);
    EXPECT_EQ(t.latency, 100u);
    EXPECT_EQ(t.cycles, 656u);
}

TEST(Timing, DmaBandwidthCapsOnlyExternalMoves) {
    KpuConfig c = defaultConfig();
    c.movement.dmaBandwidthGBps = 40; // below the bank's 100 GB/s
    EXPECT_EQ(moveTiming(c, Level::External, Level::L3, 4000).cycles, 100u);
    EXPECT_EQ(moveTiming(c, Level::L3, Level::External, 4000).cycles, 100u);
    EXPECT_EQ(moveTiming(c, Level::L3, Level::L2, 4000).cycles, 16u); // 250 B/cycle, uncapped
    c.movement.dmaBandwidthGBps = 1000; // above the bank: the bank limits
    EXPECT_EQ(moveTiming(c, Level::External, Level::L3, 4000).cycles, 40u);
}

TEST(Timing, AFoldChargesItsFillAndDrainOnceHoweverItIsChunked) {
    const KpuConfig c = defaultConfig(); // 16x16: 46 + T per fold
    EXPECT_EQ(arrayPassCycles(c, 1024, true), 1070u);
    EXPECT_EQ(arrayPassCycles(c, 512, true) + arrayPassCycles(c, 512, false), 1070u);
    EXPECT_EQ(arrayPassCycles(c, 300, true) + arrayPassCycles(c, 300, false) +
                  arrayPassCycles(c, 424, false),
              1070u);
}

} // namespace
} // namespace kpu::sim
