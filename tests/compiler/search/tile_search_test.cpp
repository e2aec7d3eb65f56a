// --tile-strategy search (tile_search.h): never worse than the analytical tiling under its own
// objective, deterministic, within its budget; imposed tilings are checked.
#include <gtest/gtest.h>

#include "kpu/compiler/tile_search.h"
#include "kpu/loader/binder.h"
#include "kpu/loader/loader.h"

namespace kpu::compiler {
namespace {

// The objective's value of an object, measured here with the loader and the simulator directly
// (not with the search's own measureObject).
double scoreOf(const std::vector<std::uint8_t>& object, const KpuConfig& config,
               Objective objective) {
    auto loaded = loader::loadObjectBytes(object, "t.kpu");
    EXPECT_TRUE(loaded) << loaded.error().message;
    auto schedule = loader::bindProgram(*loaded->program, config, "t.kpu");
    EXPECT_TRUE(schedule) << schedule.error().message;
    auto run = loader::simulate(*loaded->program, *schedule, config, {}, {.functional = false});
    EXPECT_TRUE(run) << run.error().message;
    const double seconds = static_cast<double>(run->stats.totalCycles) / (config.clockGHz * 1e9);
    const double joules = sim::runEnergy(*schedule, config, run->stats.totalCycles).total() * 1e-12;
    return objective == Objective::Time     ? seconds
           : objective == Objective::Energy ? joules
                                            : seconds * joules;
}

ir::Graph example(const std::string& name) {
    auto graph = readGraph(std::string(KPU_SOURCE_DIR) + "/examples/" + name, {});
    EXPECT_TRUE(graph) << graph.error().message;
    return std::move(*graph);
}

// A configuration where tiling matters: a small L2 and slow external memory.
KpuConfig tightConfig() {
    KpuConfig c = defaultConfig();
    c.name = "tight";
    c.l2.bankCapacity = 16 << 10;
    c.external.bandwidthGBps = 20;
    return c;
}

TEST(TileSearch, NeverWorseThanAnalyticalUnderItsObjective) {
    for (const char* model : {"mlp.dfg", "cnn.dfg", "matmul.dfg"})
        for (const KpuConfig& config : {defaultConfig(), tightConfig()})
            for (Objective objective : {Objective::Time, Objective::Energy, Objective::Edp}) {
                const ir::Graph graph = example(model);
                const CompileOptions options{.target = config, .explicitOps = false};
                auto analytical = compileGraph(graph, model, options);
                ASSERT_TRUE(analytical) << analytical.error().message;
                auto found =
                    searchTilings(graph, model, options, {.objective = objective, .budget = 10});
                ASSERT_TRUE(found) << found.error().message;
                const std::string where = std::string(model) + " on " + config.name + " by " +
                                          std::string(objectiveName(objective));
                EXPECT_LE(found->candidates, 10u) << where;
                EXPECT_GT(found->gemmKernels, 0u) << where;
                const double a = scoreOf(analytical->object, config, objective);
                const double s = scoreOf(found->compiled.object, config, objective);
                EXPECT_LE(s, a) << where;
                // The search's own figures agree with the independent measurement.
                EXPECT_DOUBLE_EQ(found->analytical.score(objective), a) << where;
                EXPECT_DOUBLE_EQ(found->best.score(objective), s) << where;
                EXPECT_GE(found->improvement(objective), 0.0) << where;
            }
}

TEST(TileSearch, IsDeterministicAndFindsBetterTilingsWhereTheEstimateIsOff) {
    const ir::Graph graph = example("mlp.dfg");
    const CompileOptions options{.target = tightConfig(), .explicitOps = false};
    auto first = searchTilings(graph, "mlp.dfg", options, {.budget = 40});
    auto second = searchTilings(graph, "mlp.dfg", options, {.budget = 40});
    ASSERT_TRUE(first && second);
    EXPECT_EQ(first->compiled.object, second->compiled.object);
    EXPECT_EQ(first->candidates, second->candidates);
    std::cout << "mlp on tight: " << first->candidates << " candidates, "
              << 100 * first->improvement(Objective::Time) << "% faster than analytical, "
              << first->retiledKernels << " of " << first->gemmKernels << " kernels retiled\n";
}

TEST(TileSearch, ZeroBudgetIsTheAnalyticalProgram) {
    const ir::Graph graph = example("cnn.dfg");
    const CompileOptions options{.explicitOps = false};
    auto analytical = compileGraph(graph, "cnn.dfg", options);
    auto found = searchTilings(graph, "cnn.dfg", options, {.budget = 0});
    ASSERT_TRUE(analytical && found);
    EXPECT_EQ(found->candidates, 0u);
    EXPECT_EQ(found->compiled.object, analytical->object);
    EXPECT_EQ(found->improvement(Objective::Time), 0.0);
}

TEST(TileSearch, CandidatesFitAndStartWithTheAnalyticalRanking) {
    const GemmShape shape{.m = 256, .n = 512, .k = 384};
    const KpuConfig config = defaultConfig();
    const auto all = gemmTilingCandidates(shape, config);
    ASSERT_GT(all.size(), 10u);
    auto chosen = chooseGemmTiling(shape, config);
    ASSERT_TRUE(chosen);
    EXPECT_EQ(all.front().estimate.cycles, chosen->estimate.cycles);
    for (const GemmTiling& t : all) {
        // Each one is the best of its own dataflow when that dataflow is forced and the tile
        // is the same; at least it must fit: C tile within one L2 bank.
        EXPECT_LE(std::uint64_t{t.mt} * t.nt * 4, config.l2.bankCapacity);
        EXPECT_LE(all.front().estimate.cycles, t.estimate.cycles);
    }
}

TEST(TileSearch, AnImposedTilingThatDoesNotFitIsRefused) {
    const ir::Graph graph = example("matmul.dfg");
    CompileOptions options;
    std::vector<GemmKernelChoice> choices;
    options.gemmChoices = &choices;
    ASSERT_TRUE(compileGraph(graph, "matmul.dfg", options));
    ASSERT_EQ(choices.size(), 1u);
    options.gemmChoices = nullptr;
    options.gemmTilings[choices[0].kernel] = GemmTilingChoice{
        .dataflow = dfx::Dataflow::OutputStationary, .mt = 1u << 20, .nt = 16, .kt = 16};
    auto refused = compileGraph(graph, "matmul.dfg", options);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("the imposed tiling os 1048576x16x16 does not fit"),
              std::string::npos)
        << refused.error().message;
}

} // namespace
} // namespace kpu::compiler
