// End to end through the three CLIs on every MATMUL-only file of the real corpus:
// compile, disassemble (text and JSON), dry-run, simulate with verification, on the embedded
// default and on the upstream minimal KPU.
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/run_command.h"

namespace kpu::test {
namespace {

const std::string kCorpus = std::string(KPU_SHARED_DIR) + "/dfg-corpus";
const std::string kMinimalConfig =
    std::string(KPU_SHARED_DIR) + "/kpu-configs/upstream/kpu_minimal.json";

// Corpus files whose operators are only MATMUL and graph plumbing, from MANIFEST.tsv.
std::vector<std::string> matmulOnlyFiles() {
    std::ifstream manifest(kCorpus + "/MANIFEST.tsv");
    std::vector<std::string> files;
    std::string line;
    std::getline(manifest, line); // header
    const std::set<std::string> plumbing{"CONSTANT", "FUNCTION_ARGUMENT", "FUNCTION_RETURN",
                                         "MATMUL"};
    while (std::getline(manifest, line)) {
        std::vector<std::string> cols;
        std::stringstream ss(line);
        for (std::string c; std::getline(ss, c, '\t');)
            cols.push_back(c);
        if (cols.size() < 7)
            continue;
        bool only = true;
        std::stringstream ops(cols[6]);
        for (std::string op; std::getline(ops, op, ',');)
            only = only && plumbing.contains(op);
        if (only)
            files.push_back(cols[0]);
    }
    return files;
}

TEST(CorpusE2E, ManifestListsTheMatmulOnlyFiles) {
    // 8 f32 files and 13 mixed-precision chains (f8, f16, f32, f64).
    EXPECT_EQ(matmulOnlyFiles().size(), 21u);
}

class CorpusMatmul : public ::testing::TestWithParam<std::string> {};

TEST_P(CorpusMatmul, CompilesDisassemblesBindsSimulatesAndVerifies) {
    const std::string dfg = kCorpus + "/" + GetParam();
    ScratchDir dir("corpus");
    const std::string object = dir.file("m.kpu");

    auto compiled = runCommand({KPU_COMPILER_EXE, dfg, "-o", object});
    ASSERT_EQ(compiled.exitCode, 0) << compiled.err;

    auto text = runCommand({KPU_DISASM_EXE, object});
    ASSERT_EQ(text.exitCode, 0) << text.err;
    EXPECT_NE(text.out.find("kernels ("), std::string::npos);
    EXPECT_NE(text.out.find("compute"), std::string::npos);

    auto json = runCommand({KPU_DISASM_EXE, "--json", object});
    ASSERT_EQ(json.exitCode, 0) << json.err;
    const auto parsed = nlohmann::json::parse(json.out);
    EXPECT_FALSE(parsed.at("ops").empty());
    EXPECT_FALSE(parsed.at("kernels").empty());

    auto dry = runCommand({KPU_LOADER_EXE, object, "--dry-run"});
    ASSERT_EQ(dry.exitCode, 0) << dry.err;
    EXPECT_NE(dry.out.find("dma[0]"), std::string::npos);
    EXPECT_NE(dry.out.find("array[0]"), std::string::npos);

    auto run = runCommand({KPU_LOADER_EXE, object});
    ASSERT_EQ(run.exitCode, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("total cycles"), std::string::npos);
    EXPECT_EQ(run.out.find("MISMATCH"), std::string::npos) << run.out;

    // The same graph compiled for, and run on, the upstream minimal KPU (8x8 array, 64 KiB L3).
    const std::string minimal = dir.file("minimal.kpu");
    auto compiledMin =
        runCommand({KPU_COMPILER_EXE, dfg, "-o", minimal, "--config", kMinimalConfig});
    ASSERT_EQ(compiledMin.exitCode, 0) << compiledMin.err;
    auto runMin = runCommand({KPU_LOADER_EXE, minimal, "--config", kMinimalConfig});
    ASSERT_EQ(runMin.exitCode, 0) << runMin.out << runMin.err;
    EXPECT_NE(runMin.out.find("Minimal KPU"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(MatmulOnly, CorpusMatmul, ::testing::ValuesIn(matmulOnlyFiles()),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                             std::string name;
                             for (char c : p.param)
                                 name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                             return name;
                         });

} // namespace
} // namespace kpu::test
