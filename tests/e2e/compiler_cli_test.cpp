// kpu-kernel-compiler's own options: --emit-dfx, --emit-graph, the default output name, --batch.
#include <filesystem>

#include <gtest/gtest.h>

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
