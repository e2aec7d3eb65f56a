// End to end through the CLIs with every upstream configuration (../shared/kpu-configs/upstream/,
// JSON and YAML, `kpu` and system layout): examples/matmul.dfg and examples/mlp.dfg run under
// `kpu-loader --config <file>`, both as objects compiled for the embedded default and as objects
// compiled for that configuration (`kpu-kernel-compiler --config <file>`).
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/run_command.h"

namespace kpu::test {
namespace {

const std::string kUpstream = std::string(KPU_SHARED_DIR) + "/kpu-configs/upstream/";
const std::string kExamples = std::string(KPU_SOURCE_DIR) + "/examples/";
const char* const kGraphs[] = {"matmul", "mlp"};

std::vector<std::string> upstreamFiles() {
    std::vector<std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(kUpstream))
        if (entry.path().filename() != "README.md")
            files.push_back(entry.path().filename().string());
    std::ranges::sort(files);
    return files;
}

// A gtest-safe name for a file name.
std::string safeName(const std::string& file) {
    std::string name;
    for (char c : file)
        name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    return name;
}

std::string paramName(const ::testing::TestParamInfo<std::string>& p) {
    return safeName(p.param);
}

// Configurations smaller than the embedded default. An object tiled for the default may not fit
// them, and the binder then refuses it with a request to recompile (outside the configuration
// code; seen in this tree: matmul's C tiles do not fit L2, mlp's W2 tiles do not fit L3). That
// is accepted for the object compiled for the default; the object compiled for the
// configuration must run.
const char* const kSmallerThanDefault[] = {"kpu_minimal.json", "kpu_minimal.yaml"};
constexpr const char* kRecompile =
    "the object's tiling is too large for this configuration (recompile with --config)";

bool smallerThanDefault(const std::string& config) {
    return std::ranges::find(kSmallerThanDefault, config) != std::end(kSmallerThanDefault);
}

TEST(UpstreamConfigsE2E, EightUpstreamFiles) {
    EXPECT_EQ(upstreamFiles().size(), 8u);
}

class UpstreamConfig : public ::testing::TestWithParam<std::string> {};

TEST_P(UpstreamConfig, RunsTheExamples) {
    const std::string config = kUpstream + GetParam();
    ScratchDir dir("upstream_" + safeName(GetParam()));
    for (const std::string graph : kGraphs) {
        SCOPED_TRACE(graph);
        const std::string dfg = kExamples + graph + ".dfg";
        const std::string portable = dir.file(graph + ".kpu");
        const std::string targeted = dir.file(graph + "_for_config.kpu");
        auto compiled = runCommand({KPU_COMPILER_EXE, dfg, "-o", portable});
        ASSERT_EQ(compiled.exitCode, 0) << compiled.err;
        compiled = runCommand({KPU_COMPILER_EXE, dfg, "-o", targeted, "--config", config});
        ASSERT_EQ(compiled.exitCode, 0) << compiled.err;

        auto run = runCommand({KPU_LOADER_EXE, portable, "--config", config});
        EXPECT_FALSE(run.crashed) << run.err;
        if (run.exitCode != 0 && smallerThanDefault(GetParam())) {
            EXPECT_EQ(run.exitCode, 1) << run.err;
            EXPECT_NE(run.err.find(kRecompile), std::string::npos) << run.err;
        } else {
            EXPECT_EQ(run.exitCode, 0) << run.err;
            EXPECT_NE(run.out.find("total cycles"), std::string::npos) << run.out;
        }

        run = runCommand({KPU_LOADER_EXE, targeted, "--config", config});
        EXPECT_EQ(run.exitCode, 0) << run.err;
        EXPECT_NE(run.out.find("total cycles"), std::string::npos) << run.out;
    }
}

INSTANTIATE_TEST_SUITE_P(Upstream, UpstreamConfig, ::testing::ValuesIn(upstreamFiles()), paramName);

} // namespace
} // namespace kpu::test
