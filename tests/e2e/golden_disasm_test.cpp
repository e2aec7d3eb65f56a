// Golden kpu-disasm output (text and JSON, compact and --expand) of the example graphs and of
// small fixtures. To regenerate after an intended format change: KPU_UPDATE_GOLDEN=1 ctest -R
// Golden, then review the diff.
#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "kpu/common/file_io.h"
#include "support/run_command.h"

namespace kpu::test {
namespace {

const std::string kGoldenDir = std::string(KPU_SOURCE_DIR) + "/tests/golden";

// `graph` is a .dfg path relative to the source root (examples/..., or a golden-only graph in
// tests/golden/).
void checkGolden(const std::string& graph, const std::vector<std::string>& disasmFlags,
                 const std::string& golden) {
    ScratchDir dir("golden");
    const std::string object = dir.file("g.kpu");
    // Compile from the source root with a relative path: the object records the path it was given.
    auto compiled = runCommand({KPU_COMPILER_EXE, graph, "-o", object}, KPU_SOURCE_DIR);
    ASSERT_EQ(compiled.exitCode, 0) << compiled.err;
    std::vector<std::string> cmd{KPU_DISASM_EXE};
    cmd.insert(cmd.end(), disasmFlags.begin(), disasmFlags.end());
    cmd.push_back(object);
    auto r = runCommand(cmd);
    ASSERT_EQ(r.exitCode, 0) << r.err;
    const std::string path = kGoldenDir + "/" + golden;
    if (std::getenv("KPU_UPDATE_GOLDEN")) {
        ASSERT_TRUE(writeTextFile(path, r.out));
        GTEST_SKIP() << "updated " << path;
    }
    auto expected = readTextFile(path);
    ASSERT_TRUE(expected) << expected.error().message;
    EXPECT_EQ(r.out, *expected)
        << "kpu-disasm output changed; if intended, regenerate with KPU_UPDATE_GOLDEN=1";
}

TEST(GoldenDisasm, SmallMatmulText) {
    checkGolden("examples/matmul_4x16x4.dfg", {}, "matmul_4x16x4.disasm.txt");
}
TEST(GoldenDisasm, SmallMatmulJson) {
    checkGolden("examples/matmul_4x16x4.dfg", {"--json"}, "matmul_4x16x4.disasm.json");
}
TEST(GoldenDisasm, ExampleMatmulText) {
    checkGolden("examples/matmul.dfg", {}, "matmul.disasm.txt");
}
TEST(GoldenDisasm, ThreeOperandChainText) {
    checkGolden("examples/matmul_chained_mixed.dfg", {}, "matmul_chained_mixed.disasm.txt");
}
// MATMUL + bias ADD + RELU fused into one kernel: params, epilogue flags, the graph section.
TEST(GoldenDisasm, FusedMatmulBiasReluText) {
    checkGolden("tests/golden/fused_matmul_bias_relu.dfg", {}, "fused_matmul_bias_relu.disasm.txt");
}
// Three fused layers: on-chip intermediates (reserve ops), K steps ending in "acc epilogue".
TEST(GoldenDisasm, MlpText) {
    checkGolden("examples/mlp.dfg", {}, "mlp.disasm.txt");
}
TEST(GoldenDisasm, FusedMatmulBiasReluJson) {
    checkGolden("tests/golden/fused_matmul_bias_relu.dfg", {"--json"},
                "fused_matmul_bias_relu.disasm.json");
}
// --expand: the ops the loader generates for the tile-loop kernels, one by one.
TEST(GoldenDisasm, FusedMatmulBiasReluExpandedText) {
    checkGolden("tests/golden/fused_matmul_bias_relu.dfg", {"--expand"},
                "fused_matmul_bias_relu.expand.txt");
}
TEST(GoldenDisasm, MlpExpandedText) {
    checkGolden("examples/mlp.dfg", {"--expand"}, "mlp.expand.txt");
}
TEST(GoldenDisasm, MlpExpandedJson) {
    checkGolden("examples/mlp.dfg", {"--expand", "--json"}, "mlp.expand.json");
}

} // namespace
} // namespace kpu::test
