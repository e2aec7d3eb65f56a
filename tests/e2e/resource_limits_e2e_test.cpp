// Resource limits (docs/fuzzing.md, "Resource limits"): a graph or object whose tensors do not
// fit the chosen configuration is refused before anything is allocated, with an error that says
// what does not fit and by how much.
#include <string>

#include <gtest/gtest.h>

#include "kpu/common/file_io.h"
#include "support/dfg_writer.h"
#include "support/run_command.h"

namespace kpu::test {
namespace {

// A configuration with 2 x 64 GiB of external memory, enough for the graphs below.
constexpr const char* kBigMemoryConfig = R"({
  "name": "big-memory",
  "external_memory": {"bank_count": 2, "bank_capacity_gb": 64}
})";

TEST(ResourceLimits, CompilerRefusesATensorBiggerThanTheTargetsExternalMemory) {
    ScratchDir dir("limits-tensor");
    // A is 65536 x 65536 f32: 16 GiB, against the default's 2 x 1 GiB.
    ASSERT_TRUE(writeTextFile(dir.file("big.dfg"),
                              matmulDfg("big", {65536, 65536}, {65536, 16}, {65536, 16})));
    auto r = runCommand({KPU_COMPILER_EXE, dir.file("big.dfg"), "-o", dir.file("big.kpu")});
    EXPECT_EQ(r.exitCode, 1) << r.err;
    EXPECT_FALSE(r.crashed);
    EXPECT_EQ(r.err, dir.file("big.dfg") +
                         ": error: tensor 'A' (65536x65536 f32, from node 0) needs 16.0 GiB of "
                         "external memory; the config 'default' has 2.0 GiB (2 bank(s) of "
                         "1.0 GiB)\n");
    EXPECT_FALSE(std::filesystem::exists(dir.file("big.kpu")));
}

TEST(ResourceLimits, CompilerRefusesInputsAndOutputsThatDoNotFitTogether) {
    ScratchDir dir("limits-together");
    // A and B are 768 MiB each, the output 576 MiB: each fits 2 GiB, the three together do not.
    ASSERT_TRUE(writeTextFile(dir.file("g.dfg"), matmulDfg("g", {1, 12288, 16384},
                                                           {1, 16384, 12288}, {1, 12288, 12288})));
    auto r = runCommand({KPU_COMPILER_EXE, dir.file("g.dfg"), "-o", dir.file("g.kpu")});
    EXPECT_EQ(r.exitCode, 1) << r.err;
    EXPECT_EQ(r.err, dir.file("g.dfg") +
                         ": error: the graph's inputs, constants and outputs need 2.1 GiB of "
                         "external memory together (at least); the config 'default' has 2.0 GiB "
                         "(2 bank(s) of 1.0 GiB)\n");
}

TEST(ResourceLimits, LoaderRefusesAnObjectForABiggerKpuBeforeAllocating) {
    ScratchDir dir("limits-loader");
    ASSERT_TRUE(writeTextFile(dir.file("big.dfg"),
                              matmulDfg("big", {65536, 65536}, {65536, 16}, {65536, 16})));
    ASSERT_TRUE(writeTextFile(dir.file("big.json"), kBigMemoryConfig));
    auto compiled = runCommand({KPU_COMPILER_EXE, dir.file("big.dfg"), "--config",
                                dir.file("big.json"), "-o", dir.file("big.kpu")});
    ASSERT_EQ(compiled.exitCode, 0) << compiled.err;
    // On the default KPU: refused by the binder, before the simulator or any tensor exists
    // (16 GiB would not be allocated quietly on a CI machine either way).
    auto r = runCommand({KPU_LOADER_EXE, dir.file("big.kpu")});
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_FALSE(r.crashed);
    EXPECT_EQ(r.err, dir.file("big.kpu") +
                         ": error: tensor 'A' needs 16.0 GiB of external memory; the config has "
                         "2 bank(s) of 1.0 GiB and 2.0 GiB is still free\n");
}

// --max-host-memory bounds what the run spends on the program's ops and values: refused with the
// step that passes it, run within it.
TEST(ResourceLimits, LoaderKeepsItsHostMemoryWithinMaxHostMemory) {
    ScratchDir dir("limits-host");
    ASSERT_TRUE(
        writeTextFile(dir.file("g.dfg"), matmulDfg("g", {512, 512}, {512, 512}, {512, 512})));
    auto compiled = runCommand({KPU_COMPILER_EXE, dir.file("g.dfg"), "-o", dir.file("g.kpu")});
    ASSERT_EQ(compiled.exitCode, 0) << compiled.err;
    auto expansion = runCommand({KPU_LOADER_EXE, dir.file("g.kpu"), "--max-host-memory", "4KiB"});
    EXPECT_EQ(expansion.exitCode, 1);
    EXPECT_FALSE(expansion.crashed);
    EXPECT_TRUE(expansion.err.starts_with(dir.file("g.kpu") + ": error: expanding the program to "))
        << expansion.err;
    EXPECT_NE(expansion.err.find("; 4.0 KiB is left under the limit (--max-host-memory"),
              std::string::npos)
        << expansion.err;
    // 6 MiB holds the expansion and the bound schedule (1793 ops) but not the run's values
    // (3 x 1 MiB of tensors, as many host copies and twice that for the reference's doubles).
    auto values = runCommand({KPU_LOADER_EXE, dir.file("g.kpu"), "--max-host-memory", "6MiB"});
    EXPECT_EQ(values.exitCode, 1);
    EXPECT_TRUE(values.err.starts_with(dir.file("g.kpu") + ": error: a functional run needs "))
        << values.err;
    auto timing = runCommand(
        {KPU_LOADER_EXE, dir.file("g.kpu"), "--max-host-memory", "6MiB", "--timing-only"});
    EXPECT_EQ(timing.exitCode, 0) << timing.err;
    auto ran = runCommand({KPU_LOADER_EXE, dir.file("g.kpu"), "--max-host-memory", "256MiB"});
    EXPECT_EQ(ran.exitCode, 0) << ran.err;
    auto bad = runCommand({KPU_LOADER_EXE, dir.file("g.kpu"), "--max-host-memory", "lots"});
    EXPECT_NE(bad.exitCode, 0);
    EXPECT_FALSE(bad.crashed);
    EXPECT_NE(bad.err.find("--max-host-memory"), std::string::npos) << bad.err;
}

TEST(ResourceLimits, ShapesWhoseSizeOverflowsAreRefusedByTheReader) {
    ScratchDir dir("limits-overflow");
    ASSERT_TRUE(writeTextFile(dir.file("g.dfg"), matmulDfg("g", {4294967296, 4294967296},
                                                           {4294967296, 4}, {4294967296, 4})));
    auto r = runCommand({KPU_COMPILER_EXE, dir.file("g.dfg"), "-o", dir.file("g.kpu")});
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_FALSE(r.crashed);
    EXPECT_EQ(r.err.rfind(dir.file("g.dfg") + ":", 0), 0u) << r.err;
    EXPECT_NE(r.err.find("is too large"), std::string::npos) << r.err;
}

} // namespace
} // namespace kpu::test
