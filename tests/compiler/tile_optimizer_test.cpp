// TileOptimizer: the chosen GEMM tiling respects every capacity rule of tile_optimizer.h, uses
// legal tile sizes, reports the header's estimate, and no legal candidate is estimated faster
// (or as fast with fewer bytes, or with a deeper kt); the dataflow rule picks the fastest of
// os, ws, is with ties in that order. Every expectation is recomputed here from the header's
// rules (in closed form, not the optimizer's per-tile sums), never taken from the optimizer.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include "kpu/common/hw_config.h"
#include "kpu/compiler/tile_optimizer.h"
#include "support/failure_capture.h"
#include "support/test_configs.h"

namespace kpu::compiler {
namespace {

using u64 = std::uint64_t;
using i64 = std::int64_t;
using dfx::Dataflow;
constexpr Dataflow kOs = Dataflow::OutputStationary;
constexpr Dataflow kWs = Dataflow::WeightStationary;
constexpr Dataflow kIs = Dataflow::InputStationary;

u64 divUp(u64 a, u64 b) {
    return (a + b - 1) / b;
}

using test::minimalConfig;

// L3 smaller than L2 (so the L3 rules bind), and a non-square array (4 x 32).
KpuConfig skewedConfig() {
    KpuConfig c = defaultConfig();
    c.name = "skewed";
    c.l3.tileCount = 2;
    c.l3.tileCapacity = 16ull << 10;
    c.l2.bankCount = 16;
    c.l2.bankCapacity = 64ull << 10;
    c.compute.arrayRows = 4;
    c.compute.arrayCols = 32;
    return c;
}

// A large machine: 32x32 array, 1 MiB banks.
KpuConfig bigConfig() {
    KpuConfig c = defaultConfig();
    c.name = "big";
    c.l3.tileCount = 8;
    c.l3.tileCapacity = 4ull << 20;
    c.l2.bankCount = 16;
    c.l2.bankCapacity = 1ull << 20;
    c.compute.arrayRows = 32;
    c.compute.arrayCols = 32;
    return c;
}

// The default memories with another array.
KpuConfig arrayConfig(std::uint32_t rows, std::uint32_t cols) {
    KpuConfig c = defaultConfig();
    c.name = "array" + std::to_string(rows) + "x" + std::to_string(cols);
    c.compute.arrayRows = rows;
    c.compute.arrayCols = cols;
    return c;
}

// A thin external memory: one bank of 10 GB/s, so traffic can dominate.
KpuConfig slowMemoryConfig() {
    KpuConfig c = defaultConfig();
    c.name = "slow-memory";
    c.external.bankCount = 1;
    c.external.bandwidthGBps = 10.0;
    return c;
}

struct Limits {
    u64 perTile;  // min(L2 bank, L3 tile)
    u64 perLevel; // min(L2 total, L3 total)
};

Limits limitsOf(const KpuConfig& c) {
    return {std::min(c.l2.bankCapacity, c.l3.tileCapacity),
            std::min(c.l2.bankCapacity * c.l2.bankCount, c.l3.tileCapacity * c.l3.tileCount)};
}

// Does (mt, nt, kt) satisfy every capacity rule of the header?
bool fits(const GemmShape& s, const Limits& lim, u64 mt, u64 nt, u64 kt) {
    const u64 a = mt * kt * s.aElementBytes;
    const u64 b = kt * nt * s.bElementBytes;
    const u64 c = mt * nt * s.cElementBytes;
    const u64 init = mt * nt * s.initElementBytes;
    if (a > lim.perTile || b > lim.perTile || c > lim.perTile || init > lim.perTile)
        return false;
    return 2 * (a + b) + c + init <= lim.perLevel;
}

// Array cycles of one tile: folds x (2R + C + T - 2), the mapping of the header's table.
u64 tileCycles(Dataflow d, u64 R, u64 C, u64 mt, u64 nt, u64 kt) {
    const auto [rows, cols, t] = d == kOs   ? std::tuple{mt, nt, kt}
                                 : d == kWs ? std::tuple{kt, nt, mt}
                                            : std::tuple{kt, mt, nt};
    return divUp(rows, R) * divUp(cols, C) * (2 * R + C + t - 2);
}

// Folds along one dimension of `extent` cut into tiles of `tile`, with `step` PEs per fold.
u64 foldsAlong(u64 extent, u64 tile, u64 step) {
    return extent / tile * divUp(tile, step) + divUp(extent % tile, step);
}

// The kernel's array cycles in closed form: folds(rows dim) x folds(cols dim) x
// (steps along T x (2R + C - 2) + T), times the batch.
u64 kernelCycles(const GemmShape& s, const KpuConfig& config, Dataflow d, u64 mt, u64 nt, u64 kt) {
    const u64 R = config.compute.arrayRows, C = config.compute.arrayCols, O = 2 * R + C - 2;
    u64 cycles = 0;
    if (d == kOs)
        cycles = foldsAlong(s.m, mt, R) * foldsAlong(s.n, nt, C) * (divUp(s.k, kt) * O + s.k);
    else if (d == kWs)
        cycles = foldsAlong(s.k, kt, R) * foldsAlong(s.n, nt, C) * (divUp(s.m, mt) * O + s.m);
    else
        cycles = foldsAlong(s.k, kt, R) * foldsAlong(s.m, mt, C) * (divUp(s.n, nt) * O + s.n);
    return cycles * s.batch;
}

// External bytes: with kt = K the operand the middle loop does not touch is read once (A under
// b,m,n,k; B under b,n,m,k), and the other one too when the middle loop has a single step;
// otherwise A is read ceil(N/nt) times and B ceil(M/mt) times; C (and an init) once.
u64 trafficOf(const GemmShape& s, Dataflow d, u64 mt, u64 nt, u64 kt) {
    const u64 nM = divUp(s.m, mt), nN = divUp(s.n, nt);
    const bool whole = kt >= s.k;
    u64 aTimes = nN, bTimes = nM;
    if (d == kWs) {
        bTimes = whole ? 1 : nM;
        aTimes = whole && nM == 1 ? 1 : nN;
    } else {
        aTimes = whole ? 1 : nN;
        bTimes = whole && nN == 1 ? 1 : nM;
    }
    return s.batch * (s.m * s.k * s.aElementBytes * aTimes + s.k * s.n * s.bElementBytes * bTimes +
                      s.m * s.n * (s.cElementBytes + s.initElementBytes));
}

u64 timeOf(const KpuConfig& c, u64 arrayCycles, u64 bytes) {
    const double perCycle = c.external.bankCount * c.external.bandwidthGBps / c.clockGHz;
    return std::max(arrayCycles,
                    static_cast<u64>(std::ceil(static_cast<double>(bytes) / perCycle)));
}

// Legal output-tile sizes along one dimension: multiples of the array dimension, or the whole.
std::vector<u64> legalSizes(u64 extent, u64 step) {
    std::vector<u64> out;
    for (u64 v = step; v <= extent; v += step)
        out.push_back(v);
    if (out.empty() || out.back() != extent)
        out.push_back(extent);
    return out;
}

// Depth candidates: powers of two below R, multiples of R up to K, and K.
std::vector<u64> depthSizes(u64 k, u64 rows) {
    std::vector<u64> out;
    for (u64 v = 1; v < rows && v <= k; v *= 2)
        out.push_back(v);
    for (u64 v = rows; v <= k; v += rows)
        out.push_back(v);
    if (out.back() != k)
        out.push_back(k);
    return out;
}

u64 mStep(const KpuConfig& c, Dataflow d) {
    return d == kIs ? c.compute.arrayCols : c.compute.arrayRows;
}

std::string describe(const GemmShape& s, const KpuConfig& c, Dataflow d) {
    return "shape " + std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k) +
           " a" + std::to_string(s.aElementBytes) + " b" + std::to_string(s.bElementBytes) + " c" +
           std::to_string(s.cElementBytes) + " init" + std::to_string(s.initElementBytes) +
           " batch" + std::to_string(s.batch) + " on '" + c.name + "' " + dataflowShortName(d);
}

// Checks a tiling for dataflow `d` against the header's rules and a brute-force search.
void checkChosen(const GemmShape& s, const KpuConfig& config, Dataflow d, const GemmTiling* t) {
    const Limits lim = limitsOf(config);
    const u64 rows = config.compute.arrayRows, cols = config.compute.arrayCols;
    EXPECT_EQ(t->dataflow, d);

    // Sizes: within the dimension, multiples of the array or the whole dimension.
    ASSERT_GE(t->mt, 1u);
    ASSERT_GE(t->nt, 1u);
    ASSERT_GE(t->kt, 1u);
    EXPECT_LE(t->mt, s.m);
    EXPECT_LE(t->nt, s.n);
    EXPECT_LE(t->kt, s.k);
    EXPECT_TRUE(t->mt % mStep(config, d) == 0 || t->mt == s.m) << "mt=" << t->mt;
    EXPECT_TRUE(t->nt % cols == 0 || t->nt == s.n) << "nt=" << t->nt;
    const auto depths = depthSizes(s.k, rows);
    EXPECT_TRUE(std::ranges::find(depths, u64{t->kt}) != depths.end()) << "kt=" << t->kt;

    // Capacity rules, spelled out.
    const u64 a = u64{t->mt} * t->kt * s.aElementBytes;
    const u64 b = u64{t->kt} * t->nt * s.bElementBytes;
    const u64 c = u64{t->mt} * t->nt * s.cElementBytes;
    const u64 init = u64{t->mt} * t->nt * s.initElementBytes;
    EXPECT_LE(a, config.l2.bankCapacity);
    EXPECT_LE(a, config.l3.tileCapacity);
    EXPECT_LE(b, config.l2.bankCapacity);
    EXPECT_LE(b, config.l3.tileCapacity);
    EXPECT_LE(c, config.l2.bankCapacity);
    EXPECT_LE(c, config.l3.tileCapacity);
    EXPECT_LE(init, config.l2.bankCapacity);
    EXPECT_LE(init, config.l3.tileCapacity);
    EXPECT_LE(2 * (a + b) + c + init, config.l2.bankCapacity * config.l2.bankCount);
    EXPECT_LE(2 * (a + b) + c + init, config.l3.tileCapacity * config.l3.tileCount);

    // The estimate is the header's.
    const u64 arrayCycles = kernelCycles(s, config, d, t->mt, t->nt, t->kt);
    const u64 traffic = trafficOf(s, d, t->mt, t->nt, t->kt);
    EXPECT_EQ(t->estimate.arrayCycles, arrayCycles);
    EXPECT_EQ(t->estimate.externalBytes, traffic);
    EXPECT_EQ(t->estimate.cycles, timeOf(config, arrayCycles, traffic));
    EXPECT_EQ(t->tileSteps, s.batch * divUp(s.m, t->mt) * divUp(s.n, t->nt) * divUp(s.k, t->kt));

    // Brute force: no legal candidate is faster, or as fast with fewer bytes, or as fast with as
    // many bytes and a deeper kt.
    const auto chosen = std::tuple{t->estimate.cycles, t->estimate.externalBytes, -i64(t->kt)};
    for (u64 mt : legalSizes(s.m, mStep(config, d))) {
        for (u64 nt : legalSizes(s.n, cols)) {
            for (u64 kt : depths) {
                if (!fits(s, lim, mt, nt, kt))
                    break; // deeper ones do not fit either
                const u64 cycles = kernelCycles(s, config, d, mt, nt, kt);
                const u64 bytes = trafficOf(s, d, mt, nt, kt);
                const auto candidate = std::tuple{timeOf(config, cycles, bytes), bytes, -i64(kt)};
                EXPECT_FALSE(candidate < chosen)
                    << "better candidate " << mt << "x" << nt << "x" << kt << " than chosen "
                    << t->mt << "x" << t->nt << "x" << t->kt;
                if (candidate < chosen)
                    return;
            }
        }
    }
}

// Checks the optimizer's choice for one shape and configuration, under each dataflow and under
// the rule (the fastest; ties os, ws, is).
void checkTiling(const GemmShape& s, const KpuConfig& config) {
    std::vector<GemmTiling> best;
    for (Dataflow d : {kOs, kWs, kIs}) {
        SCOPED_TRACE(describe(s, config, d));
        auto t = chooseGemmTiling(s, config, d);
        ASSERT_TRUE(t.has_value()) << t.error().message;
        checkChosen(s, config, d, &*t);
        best.push_back(*t);
    }
    SCOPED_TRACE(describe(s, config, kOs) + " (auto)");
    std::size_t fastest = 0;
    for (std::size_t i = 1; i < best.size(); ++i)
        if (best[i].estimate.cycles < best[fastest].estimate.cycles)
            fastest = i;
    auto t = chooseGemmTiling(s, config);
    ASSERT_TRUE(t.has_value()) << t.error().message;
    EXPECT_EQ(t->dataflow, best[fastest].dataflow);
    EXPECT_EQ(std::tuple(t->mt, t->nt, t->kt),
              std::tuple(best[fastest].mt, best[fastest].nt, best[fastest].kt));
}

GemmShape shape(u64 m, u64 n, u64 k, std::uint32_t bytes = 4, std::uint32_t init = 0) {
    return GemmShape{.m = m,
                     .n = n,
                     .k = k,
                     .aElementBytes = bytes,
                     .bElementBytes = bytes,
                     .cElementBytes = bytes,
                     .initElementBytes = init};
}

std::vector<GemmShape> shapes() {
    GemmShape batched = shape(70, 90, 600);
    batched.batch = 3;
    return {
        shape(1, 1, 1),
        shape(37, 91, 53),
        shape(512, 512, 512),
        shape(4096, 4096, 4096),
        shape(32, 256, 32),
        shape(256, 32, 4096),
        shape(1, 4096, 1),
        shape(4096, 1, 4096),
        shape(4096, 64, 64),
        shape(64, 4096, 64),
        shape(100, 200, 300, 8),    // f64
        shape(100, 200, 300, 2),    // f16
        shape(129, 257, 65, 8, 8),  // f64 with an accumulate input
        shape(512, 512, 512, 4, 4), // f32 with an accumulate input
        shape(640, 640, 640, 2, 2), // f16 with an accumulate input
        shape(3000, 17, 2000, 1),   // f8
        GemmShape{.m = 200,
                  .n = 300,
                  .k = 700,
                  .aElementBytes = 2,
                  .bElementBytes = 4,
                  .cElementBytes = 8,
                  .initElementBytes = 4}, // mixed element sizes
        batched,
    };
}

TEST(TileOptimizer, DefaultConfigRespectsRulesAndIsOptimal) {
    for (const GemmShape& s : shapes())
        checkTiling(s, defaultConfig());
}

TEST(TileOptimizer, MinimalConfigRespectsRulesAndIsOptimal) {
    for (const GemmShape& s : shapes())
        checkTiling(s, minimalConfig());
}

TEST(TileOptimizer, SkewedConfigRespectsRulesAndIsOptimal) {
    for (const GemmShape& s : shapes())
        checkTiling(s, skewedConfig());
}

TEST(TileOptimizer, BigConfigRespectsRulesAndIsOptimal) {
    for (const GemmShape& s : shapes())
        checkTiling(s, bigConfig());
}

// An array whose dimensions are not powers of two: kt multiples of 12 beat deeper powers of two.
TEST(TileOptimizer, OddArrayRespectsRulesAndIsOptimal) {
    for (const GemmShape& s : shapes())
        checkTiling(s, arrayConfig(12, 20));
}

// Traffic-bound: the estimate is the transfer time, and reuse decides.
TEST(TileOptimizer, SlowMemoryRespectsRulesAndIsOptimal) {
    for (const GemmShape& s : shapes())
        checkTiling(s, slowMemoryConfig());
}

// ---- the per-tile formula and the loop orders, by hand ----------------------------------------

// A 40x50x70 tile. 16x16: 2R + C - 2 = 46. os: ceil(40/16) * ceil(50/16) = 3 * 4 folds of
// 46 + 70; ws: rows K (5) x cols N (4) of 46 + 40; is: rows K (5) x cols M (3) of 46 + 50.
// 8x8: 2R + C - 2 = 22; os 5 * 7 of 22 + 70; ws 9 * 7 of 22 + 40; is 9 * 5 of 22 + 50.
TEST(TileOptimizer, TileCyclesByHand) {
    EXPECT_EQ(gemmTileCycles(kOs, 16, 16, 40, 50, 70), 12u * 116);
    EXPECT_EQ(gemmTileCycles(kWs, 16, 16, 40, 50, 70), 20u * 86);
    EXPECT_EQ(gemmTileCycles(kIs, 16, 16, 40, 50, 70), 15u * 96);
    EXPECT_EQ(gemmTileCycles(kOs, 8, 8, 40, 50, 70), 35u * 92);
    EXPECT_EQ(gemmTileCycles(kWs, 8, 8, 40, 50, 70), 63u * 62);
    EXPECT_EQ(gemmTileCycles(kIs, 8, 8, 40, 50, 70), 45u * 72);
    // A non-square 4 x 32 array: 2R + C - 2 = 38. os: 10 * 2 folds; ws: 18 * 2; is: 18 * 2.
    EXPECT_EQ(gemmTileCycles(kOs, 4, 32, 40, 50, 70), 20u * (38 + 70));
    EXPECT_EQ(gemmTileCycles(kWs, 4, 32, 40, 50, 70), 36u * (38 + 40));
    EXPECT_EQ(gemmTileCycles(kIs, 4, 32, 40, 50, 70), 36u * (38 + 50));
    for (Dataflow d : {kOs, kWs, kIs})
        EXPECT_EQ(gemmTileCycles(d, 16, 16, 16, 16, 16), 62u) << dataflowShortName(d);
    // And the formula over a sweep of tiles and arrays.
    for (Dataflow d : {kOs, kWs, kIs})
        for (u64 R : {1u, 4u, 16u, 12u})
            for (u64 C : {1u, 32u, 16u, 20u})
                for (u64 size : {1u, 7u, 16u, 33u, 100u})
                    EXPECT_EQ(gemmTileCycles(d, static_cast<std::uint32_t>(R),
                                             static_cast<std::uint32_t>(C), size, size + 3,
                                             2 * size + 1),
                              tileCycles(d, R, C, size, size + 3, 2 * size + 1));
}

TEST(TileOptimizer, LoopOrders) {
    EXPECT_EQ(gemmLoopOrder(kOs), (std::array<std::uint8_t, 4>{0, 1, 2, 3}));
    EXPECT_EQ(gemmLoopOrder(kWs), (std::array<std::uint8_t, 4>{0, 2, 1, 3}));
    EXPECT_EQ(gemmLoopOrder(kIs), (std::array<std::uint8_t, 4>{0, 1, 2, 3}));
    EXPECT_STREQ(dataflowShortName(kOs), "os");
    EXPECT_STREQ(dataflowShortName(kWs), "ws");
    EXPECT_STREQ(dataflowShortName(kIs), "is");
}

// The estimate of given tilings, by hand (default config: 200 bytes per cycle).
TEST(TileOptimizer, EstimateByHand) {
    const KpuConfig c = defaultConfig();
    // 256^3 f32 under os in 64x64x256 tiles: 4 x 4 tiles of 4 x 4 folds of 46 + 256 cycles;
    // kt = K, so A is read once, B 4 times: 256 KiB + 1 MiB + C 256 KiB.
    GemmEstimate e = estimateGemm(shape(256, 256, 256), c, kOs, 64, 64, 256);
    EXPECT_EQ(e.arrayCycles, 256u * 302);
    EXPECT_EQ(e.externalBytes, 1572864u);
    EXPECT_EQ(e.cycles, 256u * 302);
    // The same tiles with kt = 128: 2 K steps, A read 4 times too.
    e = estimateGemm(shape(256, 256, 256), c, kOs, 64, 64, 128);
    EXPECT_EQ(e.arrayCycles, 256u * (2 * 46 + 256));
    EXPECT_EQ(e.externalBytes, 262144u * 4 + 262144u * 4 + 262144u);
    // ws, 256x64x64: B is read once only with kt = K; here A 4 times (one per N tile), B once
    // (one M tile).
    e = estimateGemm(shape(256, 256, 256), c, kWs, 256, 64, 64);
    EXPECT_EQ(e.arrayCycles, 256u * (46 + 256));
    EXPECT_EQ(e.externalBytes, 262144u * 4 + 262144u + 262144u);
    // Edge tiles: 40x50x70 in 32x32x64 tiles under os: M folds 2 + 1, N folds 2 + 2, two K steps.
    e = estimateGemm(shape(40, 50, 70), c, kOs, 32, 32, 64);
    EXPECT_EQ(e.arrayCycles, 3u * 4 * (2 * 46 + 70));
    // Traffic-bound: 1 x 4096 x 4096 on a 10 GB/s memory (10 bytes per cycle).
    const KpuConfig slow = slowMemoryConfig();
    e = estimateGemm(shape(1, 4096, 4096), slow, kOs, 1, 16, 4096);
    EXPECT_EQ(e.externalBytes, (4096u + 4096u * 4096 + 4096u) * 4);
    EXPECT_EQ(e.cycles, divUp(e.externalBytes, 10));
    EXPECT_GT(e.cycles, e.arrayCycles);
    // The batch multiplies both.
    GemmShape batched = shape(256, 256, 256);
    batched.batch = 3;
    const GemmEstimate b = estimateGemm(batched, c, kOs, 64, 64, 256);
    EXPECT_EQ(b.arrayCycles, 3u * 256 * 302);
    EXPECT_EQ(b.externalBytes, 3u * 1572864);
}

// ---- the dataflow rule ---------------------------------------------------------------------

struct RuleCase {
    u64 m, n, k;
    Dataflow expected;
};

void checkRule(const KpuConfig& config, const RuleCase& rc) {
    SCOPED_TRACE(std::to_string(rc.m) + "x" + std::to_string(rc.n) + "x" + std::to_string(rc.k) +
                 " on " + config.name);
    auto t = chooseGemmTiling(shape(rc.m, rc.n, rc.k), config);
    ASSERT_TRUE(t.has_value()) << t.error().message;
    EXPECT_EQ(t->dataflow, rc.expected) << "chose " << dataflowShortName(t->dataflow);
}

// Tall (large M) -> ws, wide (large N) -> is, balanced -> os (a tie among the three, broken
// towards os), on square and non-square arrays.
TEST(TileOptimizer, RulePicksWsForTallIsForWideOsForBalanced) {
    for (const KpuConfig& c : {defaultConfig(), minimalConfig(), arrayConfig(8, 32),
                               arrayConfig(32, 8), skewedConfig()}) {
        checkRule(c, {4096, 64, 64, kWs});
        checkRule(c, {64, 4096, 64, kIs});
        if (c.name != "skewed")
            checkRule(c, {256, 256, 256, kOs});
    }
    // The rule is the estimate, not the shape: with 16 KiB per tile (skewed) os cannot stream
    // K = 256 in one step (a 32-column B tile of depth 256 is 32 KiB), so for the balanced
    // shape ws and is (tied, 169984 cycles) beat os (189440); ws wins the tie.
    checkRule(skewedConfig(), {256, 256, 256, kWs});
    EXPECT_EQ(chooseGemmTiling(shape(256, 256, 256), skewedConfig(), kOs)->estimate.cycles,
              189440u);
    EXPECT_EQ(chooseGemmTiling(shape(256, 256, 256), skewedConfig(), kIs)->estimate.cycles,
              169984u);
}

// The numbers behind the rule on the default 16x16 array (docs/dataflows.md quotes them).
TEST(TileOptimizer, RuleByHandOnDefault) {
    const KpuConfig c = defaultConfig();
    // Tall 4096x64x64. os: 256 x 4 folds, each 46 + 64 (K in one step) = 112640.
    // ws: 1024x16x16 tiles, one fold each of 46 + 1024, 4 x 4 x 4 tiles = 68480.
    auto os = chooseGemmTiling(shape(4096, 64, 64), c, kOs);
    auto ws = chooseGemmTiling(shape(4096, 64, 64), c, kWs);
    auto is = chooseGemmTiling(shape(4096, 64, 64), c, kIs);
    ASSERT_TRUE(os && ws && is);
    EXPECT_EQ(os->estimate.cycles, 1024u * 110);
    EXPECT_EQ(std::tuple(ws->mt, ws->nt, ws->kt), std::tuple(1024u, 16u, 16u));
    EXPECT_EQ(ws->estimate.cycles, 64u * 1070);
    EXPECT_EQ(is->estimate.cycles, 1024u * 110);
    auto chosen = chooseGemmTiling(shape(4096, 64, 64), c);
    ASSERT_TRUE(chosen.has_value());
    EXPECT_EQ(chosen->dataflow, kWs);
    EXPECT_EQ(chosen->estimate.cycles, 68480u);

    // Wide: the mirror image.
    auto wide = chooseGemmTiling(shape(64, 4096, 64), c);
    ASSERT_TRUE(wide.has_value());
    EXPECT_EQ(wide->dataflow, kIs);
    EXPECT_EQ(std::tuple(wide->mt, wide->nt, wide->kt), std::tuple(16u, 1024u, 16u));
    EXPECT_EQ(wide->estimate.cycles, 68480u);

    // Balanced 256^3: 256 folds of 46 + 256 under each dataflow; os by the tie rule.
    for (Dataflow d : {kOs, kWs, kIs}) {
        auto t = chooseGemmTiling(shape(256, 256, 256), c, d);
        ASSERT_TRUE(t.has_value());
        EXPECT_EQ(t->estimate.cycles, 256u * 302) << dataflowShortName(d);
    }
    auto balanced = chooseGemmTiling(shape(256, 256, 256), c);
    ASSERT_TRUE(balanced.has_value());
    EXPECT_EQ(balanced->dataflow, kOs);
    EXPECT_EQ(std::tuple(balanced->mt, balanced->nt, balanced->kt), std::tuple(64u, 64u, 256u));

    // examples/matmul.dfg, 256x384x512 (K largest): os strictly. Folds along the rows dimension x
    // folds along the columns dimension x (steps along T x 46 + T): os 32x32x512: 16 x 24 x
    // (46 + 512) = 214272; ws 256x64x64: 32 x 24 x (46 + 256) = 231936; is 32x384x32: 32 x 16 x
    // (46 + 384) = 220160.
    EXPECT_EQ(chooseGemmTiling(shape(256, 384, 512), c, kOs)->estimate.cycles, 384u * 558);
    EXPECT_EQ(chooseGemmTiling(shape(256, 384, 512), c, kWs)->estimate.cycles, 231936u);
    EXPECT_EQ(chooseGemmTiling(shape(256, 384, 512), c, kIs)->estimate.cycles, 220160u);
    EXPECT_EQ(chooseGemmTiling(shape(256, 384, 512), c)->dataflow, kOs);

    // A small GEMM in one tile: 37x91x53. os 3 x 6 folds of 46 + 53 = 1782; ws 4 x 6 of 46 + 37
    // = 1992; is 4 x 3 of 46 + 91 = 1644.
    EXPECT_EQ(chooseGemmTiling(shape(37, 91, 53), c, kOs)->estimate.cycles, 1782u);
    EXPECT_EQ(chooseGemmTiling(shape(37, 91, 53), c, kWs)->estimate.cycles, 1992u);
    EXPECT_EQ(chooseGemmTiling(shape(37, 91, 53), c, kIs)->estimate.cycles, 1644u);
    auto small = chooseGemmTiling(shape(37, 91, 53), c);
    ASSERT_TRUE(small.has_value());
    EXPECT_EQ(small->dataflow, kIs);
    EXPECT_EQ(std::tuple(small->mt, small->nt, small->kt), std::tuple(37u, 91u, 53u));
    EXPECT_EQ(small->estimate.externalBytes, (37ull * 53 + 53ull * 91 + 37ull * 91) * 4);
}

// The 1024^3 f32 GEMM on the default config: under os one fold streams the whole K. A 16x1024
// f32 A tile is 64 KiB (one L2 bank), so the output tile is 16x16: 64 x 64 tiles of one fold of
// 2*16 + 16 + 1024 - 2 = 1070 cycles. Traffic: A once (kt = K), B 64 times, C once =
// 264 MiB, 1384120 cycles at 200 bytes per cycle, so the array time decides.
TEST(TileOptimizer, Default1024CubedStreamsTheWholeK) {
    auto t = chooseGemmTiling(shape(1024, 1024, 1024), defaultConfig(), kOs);
    ASSERT_TRUE(t.has_value()) << t.error().message;
    EXPECT_EQ(t->kt, 1024u);
    EXPECT_EQ(t->mt, 16u);
    EXPECT_EQ(t->nt, 16u);
    EXPECT_EQ(t->estimate.arrayCycles, 4096u * 1070);
    EXPECT_EQ(t->estimate.externalBytes, (4u + 4 * 64 + 4) << 20);
    EXPECT_EQ(t->estimate.cycles, 4096u * 1070);
    // All three dataflows tie at that time; os wins the tie.
    auto chosen = chooseGemmTiling(shape(1024, 1024, 1024), defaultConfig());
    ASSERT_TRUE(chosen.has_value());
    EXPECT_EQ(chosen->dataflow, kOs);
    EXPECT_EQ(chosen->kt, 1024u);
}

// When traffic decides, reuse decides: 1 x 4096 x 4096 (a matrix-vector product) on a 10 GB/s
// memory reads B (64 MiB) once, whatever the dataflow.
TEST(TileOptimizer, TrafficBoundReadsTheLargeOperandOnce) {
    const KpuConfig c = slowMemoryConfig();
    const GemmShape s = shape(1, 4096, 4096);
    const u64 bBytes = 4096ull * 4096 * 4;
    for (Dataflow d : {kOs, kWs, kIs}) {
        auto t = chooseGemmTiling(s, c, d);
        ASSERT_TRUE(t.has_value()) << t.error().message;
        EXPECT_LT(t->estimate.externalBytes, 2 * bBytes) << dataflowShortName(d);
        EXPECT_EQ(t->estimate.cycles, divUp(t->estimate.externalBytes, 10));
    }
    checkTiling(s, c);
}

// A forced dataflow is kept even when another is faster.
TEST(TileOptimizer, ForcedDataflowIsKept) {
    for (Dataflow d : {kOs, kWs, kIs}) {
        auto t = chooseGemmTiling(shape(4096, 64, 64), defaultConfig(), d);
        ASSERT_TRUE(t.has_value());
        EXPECT_EQ(t->dataflow, d);
    }
}

// The step budget: tilings within it come first; without one, the fewest steps.
TEST(TileOptimizer, StepBudgetPrefersCoarserTiles) {
    const GemmShape s = shape(4096, 4096, 4096);
    auto free = chooseGemmTiling(s, defaultConfig(), kOs);
    ASSERT_TRUE(free.has_value());
    EXPECT_EQ(free->tileSteps, 256u * 256 * 4); // 16x16x1024
    auto capped = chooseGemmTiling(s, defaultConfig(), kOs, 100'000);
    ASSERT_TRUE(capped.has_value());
    EXPECT_LE(capped->tileSteps, 100'000u);
    EXPECT_GE(capped->estimate.cycles, free->estimate.cycles);
    auto impossible = chooseGemmTiling(s, defaultConfig(), std::nullopt, 10);
    ASSERT_TRUE(impossible.has_value());
    EXPECT_EQ(impossible->tileSteps, 32u * 32 * 32); // 128x128x128, the fewest that fit
}

TEST(TileOptimizer, OneByOneByOne) {
    auto t = chooseGemmTiling(shape(1, 1, 1), minimalConfig());
    ASSERT_TRUE(t.has_value()) << t.error().message;
    EXPECT_EQ(t->mt, 1u);
    EXPECT_EQ(t->nt, 1u);
    EXPECT_EQ(t->kt, 1u);
    EXPECT_EQ(t->estimate.externalBytes, 12u);
    EXPECT_EQ(t->estimate.arrayCycles, 2u * 8 + 8 - 2 + 1);
}

TEST(TileOptimizer, TooSmallConfigIsAnError) {
    KpuConfig c = defaultConfig();
    c.name = "tiny";
    c.l2.bankCount = 1;
    c.l2.bankCapacity = 512; // a 16x16 f32 output tile alone needs 1024 bytes
    auto t = chooseGemmTiling(shape(64, 64, 64), c);
    ASSERT_FALSE(t.has_value()) << "chose " << t->mt << "x" << t->nt << "x" << t->kt;
    EXPECT_NE(t.error().message.find("tiny"), std::string::npos) << t.error().message;

    // Fits per tile but not double-buffered per level: 16x16x1 f32 needs 2*(64+64)+1024 = 1280.
    c.l2.bankCapacity = 1024;
    c.l2.bankCount = 1;
    auto u = chooseGemmTiling(shape(64, 64, 64), c);
    EXPECT_FALSE(u.has_value());
    c.l2.bankCount = 2; // 2048 bytes per level: now 16x16x1 fits
    auto v = chooseGemmTiling(shape(64, 64, 64), c);
    ASSERT_TRUE(v.has_value()) << v.error().message;
    checkTiling(shape(64, 64, 64), c);
}

using test::expectCaught;
using test::failuresOf;

// The checker above must be able to fail: feed it wrong tilings for 512^3 f32 on the default
// config (os optimum 32x32x512: A 64 KiB, B 64 KiB).
TEST(TileOptimizer, CheckerRejectsWrongTilings) {
    const GemmShape s = shape(512, 512, 512);
    const KpuConfig c = defaultConfig();
    const auto tiling = [&](std::uint32_t mt, std::uint32_t nt, std::uint32_t kt) {
        const u64 cycles = kernelCycles(s, c, kOs, mt, nt, kt);
        const u64 bytes = trafficOf(s, kOs, mt, nt, kt);
        return GemmTiling{.dataflow = kOs,
                          .mt = mt,
                          .nt = nt,
                          .kt = kt,
                          .estimate = {.arrayCycles = cycles,
                                       .externalBytes = bytes,
                                       .cycles = timeOf(c, cycles, bytes)},
                          .tileSteps = divUp(512, mt) * divUp(512, nt) * divUp(512, kt)};
    };
    const GemmTiling good = tiling(32, 32, 512);
    checkChosen(s, c, kOs, &good);                 // passes
    const GemmTiling narrow = tiling(16, 32, 512); // as fast, more B traffic
    expectCaught([&] { checkChosen(s, c, kOs, &narrow); }, "better candidate");
    const GemmTiling shallow = tiling(32, 32, 256); // slower
    expectCaught([&] { checkChosen(s, c, kOs, &shallow); }, "better candidate");
    const GemmTiling huge = tiling(256, 256, 128);
    expectCaught([&] { checkChosen(s, c, kOs, &huge); }, "bankCapacity");
    const GemmTiling odd = tiling(24, 32, 512);
    expectCaught([&] { checkChosen(s, c, kOs, &odd); }, "mt=");
    const GemmTiling oddDepth = tiling(32, 32, 24);
    expectCaught([&] { checkChosen(s, c, kOs, &oddDepth); }, "kt=");
    GemmTiling wrongBytes = good;
    wrongBytes.estimate.externalBytes += 4;
    expectCaught([&] { checkChosen(s, c, kOs, &wrongBytes); }, "traffic");
    GemmTiling wrongCycles = good;
    wrongCycles.estimate.arrayCycles += 1;
    expectCaught([&] { checkChosen(s, c, kOs, &wrongCycles); }, "arrayCycles");
    expectCaught([&] { checkChosen(s, c, kWs, &good); }, "dataflow");
}

// A per-tile capacity that is not a multiple of the array rows must not yield a tile size that
// is neither a multiple of the rows nor the whole dimension.
TEST(TileOptimizer, OddCapacityStillGivesLegalSizes) {
    KpuConfig c = defaultConfig();
    c.name = "odd";
    c.l2.bankCount = 4;
    c.l2.bankCapacity = 1000;
    c.l3.tileCapacity = 1ull << 20;
    // f8 column vector: a 1000x1 tile would fit a 1000-byte bank exactly and save one A pass.
    const GemmShape s = shape(5000, 1, 1, 1);
    for (Dataflow d : {kOs, kWs, kIs}) {
        auto t = chooseGemmTiling(s, c, d);
        ASSERT_TRUE(t.has_value()) << t.error().message;
        EXPECT_TRUE(t->mt % mStep(c, d) == 0 || t->mt == s.m) << "mt=" << t->mt;
    }
    checkTiling(s, c);
}

} // namespace
} // namespace kpu::compiler
