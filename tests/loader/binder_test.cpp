// The schedule binder: addresses, engines, capacity errors, and that binding mistakes are
// caught by the functional simulation (a wrong address gives a wrong result).
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "kpu/common/file_io.h"
#include "kpu/compiler/compiler.h"
#include "kpu/loader/binder.h"
#include "kpu/loader/loader.h"
#include "kpu/loader/verifier.h"
#include "support/dfg_writer.h"
#include "support/run_command.h"

namespace kpu::loader {
namespace {

struct Compiled {
    std::vector<std::uint8_t> object;
    const dfx::Program* program = nullptr;
};

Compiled compileMatmul(const std::vector<std::int64_t>& a, const std::vector<std::int64_t>& b,
                       const std::vector<std::int64_t>& out,
                       const KpuConfig& target = defaultConfig(),
                       const std::vector<std::int64_t>& c = {}) {
    test::ScratchDir dir("binder");
    EXPECT_TRUE(writeTextFile(dir.file("g.dfg"), test::matmulDfg("g", a, b, out, c)));
    auto r = compiler::compileDfgFile(dir.file("g.dfg"), {.target = target, .batch = 1});
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    Compiled compiled{.object = r->object, .program = nullptr};
    compiled.program = dfx::GetProgram(compiled.object.data());
    return compiled;
}

std::uint64_t levelBytes(const sim::Schedule& s, sim::Level level) {
    const auto& g = s.memories[static_cast<std::size_t>(level)];
    return std::uint64_t{g.count} * g.capacity;
}

// Simulates `p` bound to the default KPU and checks every output against the reference.
sim::RunStats runVerified(const dfx::Program& p, const sim::Schedule& schedule) {
    auto inputs = prepareInputs(p, {}, 1);
    EXPECT_TRUE(inputs);
    if (!inputs)
        return {};
    auto result = simulate(p, schedule, defaultConfig(), *inputs);
    EXPECT_TRUE(result);
    if (!result)
        return {};
    const auto checks = verifyOutputs(p, *inputs, *result, "g.kpu");
    EXPECT_TRUE(checks) << checks.error().message;
    if (checks) {
        for (const Comparison& c : *checks)
            EXPECT_FALSE(c.firstMismatch) << c.tensor;
    }
    return result->stats;
}

TEST(Binder, EveryMoveStaysInsideItsLevelsAndUsesTheRightEngineKind) {
    const Compiled c = compileMatmul({200, 300}, {300, 170}, {200, 170});
    auto schedule = bindProgram(*c.program, defaultConfig(), "g.kpu");
    ASSERT_TRUE(schedule) << schedule.error().message;
    std::size_t moves = 0, passes = 0;
    for (const sim::BoundOp& op : schedule->ops) {
        if (op.type == sim::OpType::Move) {
            ++moves;
            const auto& m = schedule->move(op);
            for (const sim::Address* a : {&m.src, &m.dst})
                EXPECT_LE(a->offset + op.bytes, levelBytes(*schedule, a->level) + 1);
            const auto farther = std::min(m.src.level, m.dst.level);
            const sim::EngineKind expected = farther == sim::Level::External ? sim::EngineKind::Dma
                                             : farther == sim::Level::L3
                                                 ? sim::EngineKind::BlockMover
                                                 : sim::EngineKind::Streamer;
            EXPECT_EQ(op.engine, expected);
            EXPECT_LT(op.engineIndex, schedule->engineCounts[static_cast<std::size_t>(op.engine)]);
        } else if (op.type == sim::OpType::Array) {
            ++passes;
            const sim::ArrayOp& a = schedule->array(op);
            EXPECT_LE(a.m, 16u);
            EXPECT_LE(a.n, 16u);
            EXPECT_EQ(a.a.level, sim::Level::L1);
            EXPECT_EQ(a.out.level, sim::Level::L1);
        }
    }
    // Each 16x16 output block of each K step gets at least one array pass.
    EXPECT_GE(passes, std::size_t{13} * 11);
    EXPECT_GT(moves, passes);
    // Dependencies point backwards: program order is a valid execution order.
    for (std::size_t i = 0; i < schedule->ops.size(); ++i)
        for (std::uint32_t d : schedule->depsOf(i))
            EXPECT_LT(d, i);
}

TEST(Binder, DmaEngineFollowsTheExternalBank) {
    const Compiled c = compileMatmul({64, 64}, {64, 64}, {64, 64});
    auto schedule = bindProgram(*c.program, defaultConfig(), "g.kpu");
    ASSERT_TRUE(schedule);
    const std::uint64_t bank = defaultConfig().external.bankCapacity;
    std::set<std::uint32_t> engines;
    for (const sim::BoundOp& op : schedule->ops) {
        if (op.type != sim::OpType::Move || op.engine != sim::EngineKind::Dma)
            continue;
        const sim::MoveOp& m = schedule->move(op);
        const sim::Address& ext = m.src.level == sim::Level::External ? m.src : m.dst;
        EXPECT_EQ(op.engineIndex, ext.offset / bank % defaultConfig().movement.dmaEngineCount);
        engines.insert(op.engineIndex);
    }
    // Tensors are spread over both banks, so both DMA engines work.
    EXPECT_EQ(engines.size(), 2u);
}

TEST(Binder, TileTooLargeForTheConfigIsAnErrorSayingWhatDoesNotFit) {
    const Compiled c =
        compileMatmul({256, 256}, {256, 256}, {256, 256}); // 128x128 f32 tiles = 64 KiB
    KpuConfig small = defaultConfig();
    small.l2.bankCount = 1;
    small.l2.bankCapacity = 32 << 10;
    auto schedule = bindProgram(*c.program, small, "g.kpu");
    ASSERT_FALSE(schedule);
    EXPECT_NE(schedule.error().message.find("g.kpu: error: ops["), std::string::npos)
        << schedule.error().message;
    EXPECT_NE(schedule.error().message.find("does not fit in L"), std::string::npos)
        << schedule.error().message;
}

TEST(Binder, ExternalMemoryTooSmallNamesTheTensorAndSizes) {
    const Compiled c = compileMatmul({256, 256}, {256, 256}, {256, 256});
    KpuConfig tiny = defaultConfig();
    tiny.external.bankCount = 1;
    tiny.external.bankCapacity = 300 << 10;
    auto schedule = bindProgram(*c.program, tiny, "g.kpu");
    ASSERT_FALSE(schedule);
    EXPECT_NE(
        schedule.error().message.find(
            "tensor 'B' needs 256.0 KiB of external memory; the config has 1 bank(s) of 300.0 KiB"),
        std::string::npos)
        << schedule.error().message;
}

TEST(Binder, MoreOnChipMemoryNeverSlowsTheSameObjectDown) {
    // Reuse of freed space waits for its last reader; with more L2/L3 the binder's next-fit
    // allocation keeps tiles further apart (double buffering), so cycles cannot grow.
    const Compiled c = compileMatmul({256, 512}, {512, 384}, {256, 384});
    KpuConfig roomy = defaultConfig();
    roomy.l2.bankCount *= 4;
    roomy.l3.tileCount *= 4;
    auto tight = bindProgram(*c.program, defaultConfig(), "g.kpu");
    auto loose = bindProgram(*c.program, roomy, "g.kpu");
    ASSERT_TRUE(tight && loose);
    auto inputs = prepareInputs(*c.program, {}, 1);
    ASSERT_TRUE(inputs);
    auto a = simulate(*c.program, *tight, defaultConfig(), *inputs);
    auto b = simulate(*c.program, *loose, roomy, *inputs);
    ASSERT_TRUE(a && b);
    EXPECT_LE(b->stats.totalCycles, a->stats.totalCycles);
    EXPECT_EQ(a->tensors.back().data, b->tensors.back().data); // same arithmetic, same order
}

TEST(Binder, AWrongAddressShowsUpAsAVerificationMismatch) {
    const Compiled c = compileMatmul({40, 48}, {48, 36}, {40, 36});
    auto schedule = bindProgram(*c.program, defaultConfig(), "g.kpu");
    ASSERT_TRUE(schedule);
    auto inputs = prepareInputs(*c.program, {}, 3);
    ASSERT_TRUE(inputs);
    auto good = simulate(*c.program, *schedule, defaultConfig(), *inputs);
    ASSERT_TRUE(good);
    const auto goodChecks = verifyOutputs(*c.program, *inputs, *good, "g.kpu");
    ASSERT_TRUE(goodChecks) << goodChecks.error().message;
    for (const Comparison& cmp : *goodChecks)
        EXPECT_FALSE(cmp.firstMismatch) << cmp.tensor;

    // Sabotage: the first Streamer move into L1 reads 64 bytes further on.
    sim::Schedule broken = *schedule;
    for (sim::BoundOp& op : broken.ops)
        if (op.type == sim::OpType::Move && broken.move(op).dst.level == sim::Level::L1) {
            broken.moves[op.payload].src.offset += 64;
            break;
        }
    auto bad = simulate(*c.program, broken, defaultConfig(), *inputs);
    ASSERT_TRUE(bad);
    bool mismatch = false;
    const auto badChecks = verifyOutputs(*c.program, *inputs, *bad, "g.kpu");
    ASSERT_TRUE(badChecks) << badChecks.error().message;
    for (const Comparison& cmp : *badChecks)
        mismatch = mismatch || cmp.firstMismatch.has_value();
    EXPECT_TRUE(mismatch);
}

TEST(Binder, ThreeOperandAndBatchedProgramsVerify) {
    for (const Compiled& c :
         {compileMatmul({50, 70}, {70, 40}, {50, 40}, defaultConfig(), {50, 40}),
          compileMatmul({3, 20, 33}, {33, 18}, {3, 20, 18})}) {
        auto schedule = bindProgram(*c.program, defaultConfig(), "g.kpu");
        ASSERT_TRUE(schedule) << schedule.error().message;
        auto inputs = prepareInputs(*c.program, {}, 5);
        ASSERT_TRUE(inputs);
        auto result = simulate(*c.program, *schedule, defaultConfig(), *inputs);
        ASSERT_TRUE(result);
        const auto checks = verifyOutputs(*c.program, *inputs, *result, "g.kpu");
        ASSERT_TRUE(checks) << checks.error().message;
        for (const Comparison& cmp : *checks)
            EXPECT_FALSE(cmp.firstMismatch) << cmp.tensor;
    }
}

// A chain of RELUs x -> t1 -> ... -> t<n> -> y over `rows x 256` f32 tensors.
std::vector<std::uint8_t> reluChain(std::int64_t rows, int intermediates = 4) {
    test::DfgBuilder g("chain");
    test::DfgValue v = g.input("x", {rows, 256});
    for (int i = 1; i <= intermediates; ++i)
        v = g.node("RELU", {v}, {fmt::format("t{}", i), {rows, 256}});
    v = g.node("RELU", {v}, {"y", {rows, 256}});
    g.output({v});
    test::ScratchDir dir("chain");
    EXPECT_TRUE(writeTextFile(dir.file("g.dfg"), g.str()));
    auto r = compiler::compileDfgFile(dir.file("g.dfg"), {});
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? r->object : std::vector<std::uint8_t>{};
}

bool isReserved(const dfx::Program& p, const std::string& tensor);

// The L3 byte range each on-chip (reserved) tensor occupies: the span of the L3 ends of the
// moves that write it in place there.
std::map<std::string, std::pair<std::uint64_t, std::uint64_t>>
onChipRanges(const dfx::Program& p, const sim::Schedule& s) {
    std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> ranges;
    for (const sim::BoundOp& op : s.ops) {
        const dfx::Op& source = *p.ops()->Get(op.sourceOp);
        if (op.type != sim::OpType::Move || source.kind() != dfx::OpKind::DataMove ||
            s.move(op).dst.level != sim::Level::L3 || source.src_level() != dfx::MemoryLevel::L2)
            continue;
        const std::string name = p.tensors()->Get(source.index())->name()->str();
        if (!isReserved(p, name))
            continue; // an output tile staged in L3 on its way out
        const std::uint64_t at = s.move(op).dst.offset;
        auto [it, fresh] = ranges.try_emplace(name, at, at);
        it->second.first = std::min(it->second.first, at);
        it->second.second = std::max(it->second.second, at + op.bytes);
    }
    return ranges;
}

bool isReserved(const dfx::Program& p, const std::string& tensor) {
    for (const dfx::Op* op : *p.ops())
        if (op->kind() == dfx::OpKind::Reserve &&
            p.tensors()->Get(op->index())->name()->str() == tensor)
            return true;
    return false;
}

TEST(Binder, IntermediatesThatFitStayOnChipAndReuseSpaceByLiveness) {
    // 64 x 256 f32 = 64 KiB per intermediate: each fits in L3 (512 KiB, half for
    // intermediates), and at most two are live at once; the twelve together (768 KiB) fit only
    // because dead ones give their space back.
    const auto object = reluChain(64, 12);
    const dfx::Program& p = *dfx::GetProgram(object.data());
    for (int i = 1; i <= 12; ++i)
        EXPECT_TRUE(isReserved(p, fmt::format("t{}", i))) << i;
    EXPECT_FALSE(isReserved(p, "y")); // graph outputs live in external memory
    auto schedule = bindProgram(p, defaultConfig(), "g.kpu");
    ASSERT_TRUE(schedule) << schedule.error().message;
    const sim::RunStats stats = runVerified(p, *schedule);
    // Only x and y cross the chip boundary: 2 x 64 KiB.
    EXPECT_EQ(stats.bytesBetweenLevels[0], 2u * 64 * 256 * 4);
    // A tensor and the next one (both live while the RELU between them runs) never overlap;
    // some later tensor takes the space of an earlier, dead one.
    const auto ranges = onChipRanges(p, *schedule);
    ASSERT_EQ(ranges.size(), 12u);
    const auto overlap = [&](int a, int b) {
        const auto& ra = ranges.at(fmt::format("t{}", a));
        const auto& rb = ranges.at(fmt::format("t{}", b));
        return ra.first < rb.second && rb.first < ra.second;
    };
    bool reused = false;
    for (int i = 1; i <= 12; ++i) {
        if (i < 12) {
            EXPECT_FALSE(overlap(i, i + 1)) << i;
        }
        for (int j = i + 2; j <= 12; ++j)
            reused = reused || overlap(i, j);
    }
    EXPECT_TRUE(reused) << "no on-chip space was reused";
}

TEST(Binder, IntermediatesThatDoNotFitSpillToExternalMemory) {
    // 512 x 256 f32 = 512 KiB per intermediate: more than half of L3.
    const auto object = reluChain(512);
    const dfx::Program& p = *dfx::GetProgram(object.data());
    for (const char* t : {"t1", "t2", "t3", "t4"})
        EXPECT_FALSE(isReserved(p, t)) << t;
    auto schedule = bindProgram(p, defaultConfig(), "g.kpu");
    ASSERT_TRUE(schedule) << schedule.error().message;
    const sim::RunStats stats = runVerified(p, *schedule);
    // Every tensor is written once and read once through external memory: 2 x 5 x 512 KiB.
    EXPECT_EQ(stats.bytesBetweenLevels[0], 2u * 5 * 512 * 256 * 4);
}

} // namespace
} // namespace kpu::loader
