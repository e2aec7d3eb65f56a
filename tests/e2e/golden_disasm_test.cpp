// Golden kpu-disasm output (text and JSON) of the example graphs. To regenerate after an
// intended format change: KPU_UPDATE_GOLDEN=1 ctest -R Golden, then review the diff.
#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "kpu/common/file_io.h"
#include "support/run_command.h"

namespace kpu::test {
namespace {

const std::string kGoldenDir = std::string(KPU_SOURCE_DIR) + "/tests/golden";

void checkGolden(const std::string& example, const std::vector<std::string>& disasmFlags,
                 const std::string& golden) {
    ScratchDir dir("golden");
    const std::string object = dir.file("g.kpu");
    // Compile from the source root with a relative path: the object records the path it was given.
    auto compiled =
        runCommand({KPU_COMPILER_EXE, "examples/" + example, "-o", object}, KPU_SOURCE_DIR);
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
    checkGolden("matmul_4x16x4.dfg", {}, "matmul_4x16x4.disasm.txt");
}
TEST(GoldenDisasm, SmallMatmulJson) {
    checkGolden("matmul_4x16x4.dfg", {"--json"}, "matmul_4x16x4.disasm.json");
}
TEST(GoldenDisasm, ExampleMatmulText) {
    checkGolden("matmul.dfg", {}, "matmul.disasm.txt");
}
TEST(GoldenDisasm, ThreeOperandChainText) {
    checkGolden("matmul_chained_mixed.dfg", {}, "matmul_chained_mixed.disasm.txt");
}

} // namespace
} // namespace kpu::test
