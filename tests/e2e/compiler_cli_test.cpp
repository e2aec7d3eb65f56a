// kpu-kernel-compiler's own options: --emit-dfx, --emit-graph, the default output name, --batch,
// --dataflow.
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kpu/common/file_io.h"
#include "support/dfg_writer.h"
#include "support/run_command.h"

namespace kpu::test {
namespace {

const std::string kCorpus = std::string(KPU_SHARED_DIR) + "/dfg-corpus";

TEST(CompilerCli, EmitDfxPrintsTheProgramAsText) {
    ScratchDir dir("emit_dfx");
    ASSERT_TRUE(writeTextFile(dir.file("g.dfg"), matmulDfg("g", {40, 3000}, {3000, 20}, {40, 20})));
    auto r =
        runCommand({KPU_COMPILER_EXE, dir.file("g.dfg"), "-o", dir.file("g.kpu"), "--emit-dfx"});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_NE(r.out.find("; KPU object  format 2.0"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("compute"), std::string::npos);
    EXPECT_NE(r.out.find("acc"), std::string::npos); // K = 3000 spans several L2 tiles
    EXPECT_TRUE(std::filesystem::exists(dir.file("g.kpu")));
}

TEST(CompilerCli, EmitGraphShowsNamesMadeUniqueEvenWhenLoweringFails) {
    // MobileNet v2 repeats 'result_0' for every node; the dump shows the unique names and the
    // original. The dump comes before lowering, so it also appears for a graph that fails.
    const std::string file =
        kCorpus + "/branes-ai+dfa-dynamics/data/dl/convolution/mobilenet_v2.dfg";
    auto r = runCommand({KPU_COMPILER_EXE, file, "-o", "/dev/null", "--emit-graph"});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    EXPECT_NE(r.out.find("graph '"), std::string::npos);
    EXPECT_NE(r.out.find("(was 'result_0')"), std::string::npos);
    const std::string broken =
        kCorpus + "/branes-ai+dfa-dynamics@7aa97c2618/data/dfg/mobilenet_v2_tosa.dfg";
    auto failing = runCommand({KPU_COMPILER_EXE, broken, "-o", "/dev/null", "--emit-graph"});
    EXPECT_EQ(failing.exitCode, 1);
    EXPECT_NE(failing.out.find("graph '"), std::string::npos);
    EXPECT_NE(failing.err.find("error: node 108 'tosa.conv2d' (CONV2D)"), std::string::npos);
}

TEST(CompilerCli, DefaultOutputIsTheInputStemInTheWorkingDirectory) {
    ScratchDir dir("default_out");
    ASSERT_TRUE(writeTextFile(dir.file("model.v1.dfg"), matmulDfg("g", {4, 4}, {4, 4}, {4, 4})));
    auto r = runCommand({KPU_COMPILER_EXE, "model.v1.dfg"}, dir.file(""));
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_TRUE(std::filesystem::exists(dir.file("model.v1.kpu")));
}

TEST(CompilerCli, BatchResolvesDynamicDimensions) {
    ScratchDir dir("batch");
    std::string dfg = matmulDfg("g", {4, 8}, {8, 4}, {4, 4});
    // Make the row dimension of A and of the result dynamic.
    for (auto [from, to] :
         {std::pair<std::string, std::string>{"tensor<4x8xf32>", "tensor<?x8xf32>"},
          {"tensor<4x4xf32>", "tensor<?x4xf32>"}})
        for (auto at = dfg.find(from); at != std::string::npos; at = dfg.find(from))
            dfg.replace(at, from.size(), to);
    ASSERT_TRUE(writeTextFile(dir.file("g.dfg"), dfg));
    auto r =
        runCommand({KPU_COMPILER_EXE, dir.file("g.dfg"), "-o", dir.file("g.kpu"), "--batch", "6"});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    auto dump = runCommand({KPU_DISASM_EXE, dir.file("g.kpu")});
    EXPECT_NE(dump.out.find("6x8"), std::string::npos) << dump.out;
    EXPECT_EQ(runCommand({KPU_COMPILER_EXE, dir.file("g.dfg"), "--batch", "0"}).exitCode, 2);
}

// The dataflow of every kernel of an object, per kpu-disasm --json.
std::vector<std::string> kernelDataflows(const std::string& object) {
    auto dump = runCommand({KPU_DISASM_EXE, "--json", object});
    EXPECT_EQ(dump.exitCode, 0) << dump.err;
    std::vector<std::string> out;
    const auto parsed = nlohmann::json::parse(dump.out);
    for (const auto& kernel : parsed.at("kernels"))
        out.push_back(kernel.at("dataflow").get<std::string>());
    return out;
}

// --dataflow os|ws|is sets the dataflow of every GEMM kernel; auto (the default) lets each
// kernel take its fastest: weight-stationary for this tall GEMM (M = 4096, N = K = 64).
TEST(CompilerCli, DataflowOptionSetsEveryGemmKernel) {
    ScratchDir dir("dataflow");
    ASSERT_TRUE(writeTextFile(dir.file("g.dfg"), matmulDfg("g", {4096, 64}, {64, 64}, {4096, 64})));
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
        {{}, "weight-stationary"},
        {{"--dataflow", "auto"}, "weight-stationary"},
        {{"--dataflow", "os"}, "output-stationary"},
        {{"--dataflow", "ws"}, "weight-stationary"},
        {{"--dataflow", "is"}, "input-stationary"},
    };
    for (const auto& [flags, expected] : cases) {
        std::vector<std::string> cmd{KPU_COMPILER_EXE, dir.file("g.dfg"), "-o", dir.file("g.kpu")};
        cmd.insert(cmd.end(), flags.begin(), flags.end());
        auto r = runCommand(cmd);
        ASSERT_EQ(r.exitCode, 0) << r.err;
        EXPECT_EQ(kernelDataflows(dir.file("g.kpu")), std::vector<std::string>{expected})
            << (flags.empty() ? "default" : flags.back());
    }

    // Every GEMM kernel of a network follows the flag; vector kernels stay output-stationary.
    const std::string mlp = std::string(KPU_SOURCE_DIR) + "/examples/mlp.dfg";
    auto r = runCommand(
        {KPU_COMPILER_EXE, mlp, "-o", dir.file("mlp.kpu"), "--dataflow", "is", "--no-fuse"});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    auto dump = runCommand({KPU_DISASM_EXE, "--json", dir.file("mlp.kpu")});
    ASSERT_EQ(dump.exitCode, 0) << dump.err;
    int gemms = 0;
    const auto parsed = nlohmann::json::parse(dump.out);
    for (const auto& kernel : parsed.at("kernels")) {
        const bool gemm = kernel.at("kind") == "matmul";
        gemms += gemm ? 1 : 0;
        EXPECT_EQ(kernel.at("dataflow"), gemm ? "input-stationary" : "output-stationary")
            << kernel.at("name");
    }
    EXPECT_EQ(gemms, 3);
}

TEST(CompilerCli, BadDataflowIsAUsageError) {
    ScratchDir dir("bad_dataflow");
    ASSERT_TRUE(writeTextFile(dir.file("g.dfg"), matmulDfg("g", {4, 4}, {4, 4}, {4, 4})));
    for (const char* bad : {"xs", "OS", "weight-stationary", ""}) {
        auto r = runCommand(
            {KPU_COMPILER_EXE, dir.file("g.dfg"), "-o", dir.file("g.kpu"), "--dataflow", bad});
        EXPECT_EQ(r.exitCode, 2) << bad;
        EXPECT_NE(r.err.find("--dataflow"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("os,ws,is,auto"), std::string::npos) << r.err;
        EXPECT_FALSE(std::filesystem::exists(dir.file("g.kpu")));
    }
}

TEST(CompilerCli, AbsurdlyLargeGraphIsRefusedQuickly) {
    ScratchDir dir("huge");
    ASSERT_TRUE(writeTextFile(
        dir.file("g.dfg"), matmulDfg("g", {100000, 100000}, {100000, 100000}, {100000, 100000})));
    auto r = runCommand({KPU_COMPILER_EXE, dir.file("g.dfg"), "-o", dir.file("g.kpu")});
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_NE(
        r.err.find(
            "error: node 2 'matmul' (MATMUL): needs 478211768 tile steps; a program holds at most "
            "40000000 ops"),
        std::string::npos)
        << r.err;
}

} // namespace
} // namespace kpu::test
