// Validation of the timing model against numbers derived independently of the simulator
// (docs/timing-model.md, "Validation"): compute-bound and bandwidth-bound bounds, monotonicity,
// the 1024^3 array utilisation and determinism.
#include <algorithm>
#include <cmath>

#include <gtest/gtest.h>

#include "kpu/common/file_io.h"
#include "kpu/compiler/compiler.h"
#include "kpu/loader/binder.h"
#include "kpu/simulator/simulator.h"
#include "support/dfg_writer.h"
#include "support/run_command.h"

namespace kpu::loader {
namespace {

struct Compiled {
    std::vector<std::uint8_t> object;
    const dfx::Program* program() const { return dfx::GetProgram(object.data()); }
};

Compiled compileText(const std::string& dfg, const KpuConfig& target = defaultConfig(),
                     compiler::CompileOptions options = {}) {
    test::ScratchDir dir("timing");
    EXPECT_TRUE(writeTextFile(dir.file("g.dfg"), dfg));
    options.target = target;
    auto r = compiler::compileDfgFile(dir.file("g.dfg"), options);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return Compiled{r ? r->object : std::vector<std::uint8_t>{}};
}

Compiled compileGemm(std::int64_t m, std::int64_t n, std::int64_t k,
                     const KpuConfig& target = defaultConfig()) {
    return compileText(test::matmulDfg("gemm", {m, k}, {k, n}, {m, n}), target);
}

// Binds and runs without arithmetic (the timing does not depend on the values).
sim::RunStats timeOn(const Compiled& c, const KpuConfig& config) {
    auto schedule = bindProgram(*c.program(), config, "g.kpu");
    EXPECT_TRUE(schedule) << (schedule ? "" : schedule.error().message);
    if (!schedule)
        return {};
    auto simulator = sim::Simulator::create(config, *schedule);
    EXPECT_TRUE(simulator);
    return simulator->run(*schedule, {.functional = false, .recordTimeline = true});
}

std::uint64_t busyOf(const sim::RunStats& s, sim::EngineKind kind) {
    std::uint64_t busy = 0;
    for (const sim::EngineStats& e : s.engines)
        busy += e.kind == kind ? e.busyCycles : 0;
    return busy;
}

// A configuration whose memories never limit the array: bandwidths far above what it consumes.
KpuConfig ampleBandwidth(KpuConfig c = defaultConfig()) {
    c.name = "ample";
    c.external.bandwidthGBps = 100000;
    c.l3.bandwidthGBps = 100000;
    c.l2.bandwidthGBps = 100000;
    c.l1.bandwidthGBps = 100000;
    return c;
}

// (a) Compute-bound: with ample bandwidth the run is the array's busy time plus one prologue
// (the first tiles' loads, until the first pass starts) and one epilogue (the last drain and
// store, after the last pass) — within 3%.
TEST(TimingValidation, ComputeBoundGemmIsArrayTimePlusPrologueAndEpilogue) {
    for (std::int64_t size : {256, 512}) {
        const KpuConfig config = ampleBandwidth();
        const Compiled c = compileGemm(size, size, size, config);
        const sim::RunStats s = timeOn(c, config);
        std::uint64_t firstPass = UINT64_MAX, lastPass = 0;
        for (std::size_t i = 0; i < s.timeline.size(); ++i)
            if (s.timeline[i].engine != UINT32_MAX &&
                s.engines[s.timeline[i].engine].kind == sim::EngineKind::Array) {
                firstPass = std::min(firstPass, s.timeline[i].start);
                lastPass = std::max(lastPass, s.timeline[i].finish);
            }
        const std::uint64_t array = busyOf(s, sim::EngineKind::Array);
        const std::uint64_t prologue = firstPass, epilogue = s.totalCycles - lastPass;
        const double expected = static_cast<double>(array + prologue + epilogue);
        EXPECT_LE(static_cast<double>(s.totalCycles), 1.03 * expected) << size;
        EXPECT_GE(static_cast<double>(s.totalCycles), expected) << size;
        // And the prologue and epilogue are each a small part of the run.
        EXPECT_LT(prologue + epilogue, s.totalCycles / 10) << size;
    }
}

// The bandwidth bound: the busiest external bank moves its bytes at its bandwidth.
double externalBound(const sim::RunStats& s, const KpuConfig& config) {
    std::uint64_t busiest = 0;
    for (const sim::EngineStats& e : s.engines)
        if (e.kind == sim::EngineKind::Dma)
            busiest = std::max(busiest, e.bytes);
    return static_cast<double>(busiest) / config.bytesPerCycle(config.external.bandwidthGBps);
}

// (b) Bandwidth-bound elementwise work: cycles within 3% of bytes / bandwidth of the busiest
// bank (one DMA engine per bank, so a bank's bytes are its engine's bytes).
TEST(TimingValidation, LargeElementwiseAddRunsAtTheExternalBandwidth) {
    test::DfgBuilder g("add");
    const std::vector<std::int64_t> shape{1024, 4096};
    const test::DfgValue a = g.input("a", shape), b = g.input("b", shape);
    g.output({g.node("ADD", {a, b}, {"y", shape})});
    for (std::uint32_t banks : {1u, 2u}) {
        KpuConfig config = defaultConfig();
        config.external.bankCount = banks;
        config.movement.dmaEngineCount = banks;
        const Compiled c = compileText(g.str(), config);
        const sim::RunStats s = timeOn(c, config);
        EXPECT_EQ(s.bytesBetweenLevels[0], 3u * 1024 * 4096 * 4);
        const double bound = externalBound(s, config);
        EXPECT_GE(static_cast<double>(s.totalCycles), bound) << banks;
        EXPECT_LE(static_cast<double>(s.totalCycles), 1.03 * bound) << banks;
    }
}

TEST(TimingValidation, GemmWithExternalBandwidthThrottledTo1GBpsRunsAtThatBandwidth) {
    KpuConfig config = defaultConfig();
    config.external.bandwidthGBps = 1.0;
    const Compiled c = compileGemm(256, 256, 256, config);
    const sim::RunStats s = timeOn(c, config);
    const double bound = externalBound(s, config);
    EXPECT_GE(static_cast<double>(s.totalCycles), bound);
    EXPECT_LE(static_cast<double>(s.totalCycles), 1.03 * bound);
}

// (c) Monotonicity: more bandwidth at any level, more movers or more L2 banks never make the
// same object slower; a larger L2 never increases external traffic for the same tiling.
// Larger L2 banks may cost up to 1% (docs/timing-model.md, "Limits": the tiles a larger L2
// keeps resident change where the next ones are placed).
TEST(TimingValidation, MoreResourcesNeverSlowTheSameObjectDown) {
    const std::string dir = KPU_SOURCE_DIR "/examples/";
    for (const char* example : {"matmul.dfg", "mlp.dfg", "cnn.dfg", "attention.dfg"}) {
        auto text = readTextFile(dir + example);
        ASSERT_TRUE(text);
        const Compiled c = compileText(*text);
        const KpuConfig base = defaultConfig();
        const sim::RunStats s0 = timeOn(c, base);
        struct Variant {
            std::string what;
            KpuConfig config;
            double slack; // allowed slowdown
        };
        std::vector<Variant> bigger;
        for (double factor : {2.0, 4.0}) {
            KpuConfig ext = base, l3 = base, l2 = base, l1 = base;
            ext.external.bandwidthGBps *= factor;
            l3.l3.bandwidthGBps *= factor;
            l2.l2.bandwidthGBps *= factor;
            l1.l1.bandwidthGBps *= factor;
            bigger.push_back({fmt::format("external bandwidth x{}", factor), ext, 0});
            bigger.push_back({fmt::format("L3 bandwidth x{}", factor), l3, 0});
            bigger.push_back({fmt::format("L2 bandwidth x{}", factor), l2, 0});
            bigger.push_back({fmt::format("L1 bandwidth x{}", factor), l1, 0});
        }
        KpuConfig movers = base, banks = base, l2 = base, l2Big = base;
        movers.movement.dmaEngineCount *= 2;
        movers.movement.blockMoverCount *= 2;
        movers.movement.streamerCount *= 2;
        banks.l2.bankCount *= 2;
        l2.l2.bankCapacity *= 2;
        l2Big.l2.bankCapacity *= 4;
        bigger.push_back({"2x movers", movers, 0});
        bigger.push_back({"2x L2 banks", banks, 0});
        bigger.push_back({"2x L2 bank capacity", l2, 0.01});
        bigger.push_back({"4x L2 bank capacity", l2Big, 0.01});
        for (const auto& [what, config, slack] : bigger) {
            const sim::RunStats s = timeOn(c, config);
            EXPECT_LE(static_cast<double>(s.totalCycles),
                      (1 + slack) * static_cast<double>(s0.totalCycles))
                << example << ": " << what;
            if (what.find("L2 bank") != std::string::npos) {
                EXPECT_LE(s.bytesBetweenLevels[0], s0.bytesBetweenLevels[0])
                    << example << ": " << what;
            }
        }
    }
}

// (d) The 1024^3 f32 GEMM on the default configuration keeps the array at least 95% busy.
TEST(TimingValidation, Gemm1024CubedKeepsTheArrayBusy) {
    const KpuConfig config = defaultConfig();
    const Compiled c = compileGemm(1024, 1024, 1024, config);
    const sim::RunStats s = timeOn(c, config);
    const double utilisation =
        static_cast<double>(busyOf(s, sim::EngineKind::Array)) / static_cast<double>(s.totalCycles);
    EXPECT_GE(utilisation, 0.95) << s.totalCycles;
    EXPECT_EQ(s.macs, 1024ull * 1024 * 1024);
}

// (e) Determinism: the same object and configuration give identical statistics and timelines.
TEST(TimingValidation, SameObjectAndConfigGiveIdenticalRuns) {
    auto text = readTextFile(KPU_SOURCE_DIR "/examples/mlp.dfg");
    ASSERT_TRUE(text);
    const Compiled c = compileText(*text);
    const sim::RunStats a = timeOn(c, defaultConfig()), b = timeOn(c, defaultConfig());
    EXPECT_EQ(a.totalCycles, b.totalCycles);
    ASSERT_EQ(a.timeline.size(), b.timeline.size());
    for (std::size_t i = 0; i < a.timeline.size(); ++i) {
        EXPECT_EQ(a.timeline[i].start, b.timeline[i].start);
        EXPECT_EQ(a.timeline[i].finish, b.timeline[i].finish);
        EXPECT_EQ(a.timeline[i].engine, b.timeline[i].engine);
    }
    for (std::size_t e = 0; e < a.engines.size(); ++e) {
        EXPECT_EQ(a.engines[e].busyCycles, b.engines[e].busyCycles);
        EXPECT_EQ(a.engines[e].waitData, b.engines[e].waitData);
        EXPECT_EQ(a.engines[e].waitSpace, b.engines[e].waitSpace);
        EXPECT_EQ(a.engines[e].waitPort, b.engines[e].waitPort);
    }
}

} // namespace
} // namespace kpu::loader
