// The DSE options of the compiler and the loader's energy report, through the command lines.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kpu/common/file_io.h"
#include "support/run_command.h"

namespace kpu::test {
namespace {

const std::string kMlp = std::string(KPU_SOURCE_DIR) + "/examples/mlp.dfg";

TEST(DseCli, CompilerSearchSaysWhatItFound) {
    ScratchDir dir("dse-search");
    auto r = runCommand({KPU_COMPILER_EXE, kMlp, "--tile-strategy", "search", "--objective",
                         "energy", "--budget", "8", "-o", dir.file("m.kpu")});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_NE(r.err.find("search (energy): 8 candidates over 3 GEMM kernels"), std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("better than analytical by energy"), std::string::npos) << r.err;
    auto ran = runCommand({KPU_LOADER_EXE, dir.file("m.kpu")});
    EXPECT_EQ(ran.exitCode, 0) << ran.err; // the searched program still computes the graph
    // Search options without search are a usage error.
    auto usage = runCommand({KPU_COMPILER_EXE, kMlp, "--budget", "8", "-o", dir.file("x.kpu")});
    EXPECT_EQ(usage.exitCode, 2);
    EXPECT_NE(usage.err.find("--budget needs --tile-strategy search"), std::string::npos)
        << usage.err;
    auto bad = runCommand({KPU_COMPILER_EXE, kMlp, "--tile-strategy", "search", "--objective",
                           "speed", "-o", dir.file("x.kpu")});
    EXPECT_EQ(bad.exitCode, 2);
}

// Energy follows the schedule: a timing-only run reports what a full run reports.
TEST(DseCli, EnergyIsInEveryReportAndTimingOnlyAgrees) {
    ScratchDir dir("dse-energy");
    ASSERT_EQ(runCommand({KPU_COMPILER_EXE, kMlp, "-o", dir.file("m.kpu")}).exitCode, 0);
    auto full = runCommand({KPU_LOADER_EXE, dir.file("m.kpu"), "--json"});
    auto timing = runCommand({KPU_LOADER_EXE, dir.file("m.kpu"), "--json", "--timing-only"});
    ASSERT_EQ(full.exitCode, 0) << full.err;
    ASSERT_EQ(timing.exitCode, 0) << timing.err;
    const auto a = nlohmann::json::parse(full.out).at("energy");
    const auto b = nlohmann::json::parse(timing.out).at("energy");
    EXPECT_EQ(a, b);
    EXPECT_GT(a.at("total_pj").get<double>(), 0);
    EXPECT_EQ(a.at("kernels").size(), 4u); // three fused GEMM kernels and the Reserve ops
    auto text = runCommand({KPU_LOADER_EXE, dir.file("m.kpu"), "--timing-only"});
    EXPECT_NE(text.out.find("energy per kernel (dynamic):"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("  per MAC "), std::string::npos) << text.out;
}

} // namespace
} // namespace kpu::test
