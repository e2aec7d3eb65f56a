// kpu-loader --timing-only skips the arithmetic and the data copies and reports exactly what a
// full run reports: the same cycles, busy times, waits and bytes, on every example and on a
// whole network from the corpus.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/run_command.h"

namespace kpu::test {
namespace {

using nlohmann::json;

struct Case {
    std::string name, dfg;
};

class TimingOnlyE2e : public ::testing::TestWithParam<Case> {};

TEST_P(TimingOnlyE2e, GivesTheSameReportAsAFullRun) {
    ScratchDir dir("timing_only_" + GetParam().name);
    const std::string object = dir.file(GetParam().name + ".kpu");
    auto compiled = runCommand({KPU_COMPILER_EXE, GetParam().dfg, "-o", object});
    ASSERT_EQ(compiled.exitCode, 0) << compiled.err;
    auto full = runCommand({KPU_LOADER_EXE, object, "--json", "--profile"});
    ASSERT_EQ(full.exitCode, 0) << full.err;
    auto timing = runCommand({KPU_LOADER_EXE, object, "--json", "--profile", "--timing-only"});
    ASSERT_EQ(timing.exitCode, 0) << timing.err;
    json a = json::parse(full.out), b = json::parse(timing.out);
    EXPECT_FALSE(a.at("verify").empty()); // the full run verified its outputs
    EXPECT_TRUE(b.at("verify").empty());  // the timing-only run has none to verify
    a.erase("verify");
    b.erase("verify");
    EXPECT_GT(a.at("total_cycles").get<std::uint64_t>(), 0u);
    EXPECT_EQ(a, b) << "full:\n" << a.dump(1) << "\ntiming only:\n" << b.dump(1);
}

INSTANTIATE_TEST_SUITE_P(
    Objects, TimingOnlyE2e,
    ::testing::Values(Case{"matmul", KPU_SOURCE_DIR "/examples/matmul.dfg"},
                      Case{"mlp", KPU_SOURCE_DIR "/examples/mlp.dfg"},
                      Case{"cnn", KPU_SOURCE_DIR "/examples/cnn.dfg"},
                      Case{"attention", KPU_SOURCE_DIR "/examples/attention.dfg"},
                      Case{"mobilenet_v1",
                           KPU_SHARED_DIR "/dfg-corpus/branes-ai+dfa-dynamics/data/dl/convolution/"
                                          "mobilenet_v1.dfg"}),
    [](const ::testing::TestParamInfo<Case>& p) { return p.param.name; });

TEST(TimingOnlyE2e, RefusesOptionsThatNeedValues) {
    ScratchDir dir("timing_only_usage");
    const std::string object = dir.file("m.kpu");
    ASSERT_EQ(runCommand({KPU_COMPILER_EXE, KPU_SOURCE_DIR "/examples/matmul.dfg", "-o", object})
                  .exitCode,
              0);
    for (const std::string option : {"--input", "--output"}) {
        auto r = runCommand({KPU_LOADER_EXE, object, "--timing-only", option, "A=a.npy"});
        EXPECT_EQ(r.exitCode, 2) << option;
        EXPECT_NE(r.err.find("--timing-only"), std::string::npos) << r.err;
    }
}

} // namespace
} // namespace kpu::test
