// End to end through the CLIs on every file of the real corpus (MANIFEST.tsv, 59 files).
// Every file is compiled. A file whose graph is computable must then simulate on the embedded
// default KPU with every output verified against the reference executor; a file that is not
// computable is listed in support/corpus.h and must be refused for exactly its known reason.
// The MATMUL-only files are also disassembled, dry-run, and compiled for and run on the
// upstream minimal KPU.
#include <cmath>
#include <filesystem>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/corpus.h"
#include "support/run_command.h"

namespace kpu::test {
namespace {

const std::string kMinimalConfig =
    std::string(KPU_SHARED_DIR) + "/kpu-configs/upstream/kpu_minimal.json";

std::vector<std::string> allFiles() {
    std::vector<std::string> files;
    for (const auto& e : corpusManifest())
        files.push_back(e.path);
    return files;
}

// Corpus files whose operators are only MATMUL and graph plumbing.
std::vector<std::string> matmulOnlyFiles() {
    std::vector<std::string> files;
    for (const auto& e : corpusManifest())
        if (e.hasOnly({"CONSTANT", "FUNCTION_ARGUMENT", "FUNCTION_RETURN", "MATMUL"}))
            files.push_back(e.path);
    return files;
}

std::string paramName(const ::testing::TestParamInfo<std::string>& p) {
    return corpusTestName(p.param);
}

TEST(CorpusE2E, ManifestListsAllFiftyNineFiles) {
    const auto entries = corpusManifest();
    ASSERT_EQ(entries.size(), kCorpusFileCount) << "cannot read " << kCorpusDir << "/MANIFEST.tsv";
    std::set<std::string> paths, names;
    for (const auto& e : entries) {
        EXPECT_TRUE(std::filesystem::is_regular_file(e.fullPath())) << e.path;
        EXPECT_GT(e.nodes, 0) << e.path;
        EXPECT_FALSE(e.operators.empty()) << e.path;
        EXPECT_TRUE(paths.insert(e.path).second) << "listed twice: " << e.path;
        EXPECT_TRUE(names.insert(corpusTestName(e.path)).second) << "test name clash: " << e.path;
    }
    // Every file the tests expect to be refused is one of the corpus files.
    for (const auto& f : uncomputableCorpusFiles())
        EXPECT_TRUE(paths.contains(f.path)) << "not in the manifest: " << f.path;
}

TEST(CorpusE2E, AllButThreeFilesAreComputableMobileNetsIncluded) {
    std::size_t computable = 0, mobilenets = 0;
    for (const auto& e : corpusManifest()) {
        if (findUncomputable(e.path))
            continue;
        ++computable;
        mobilenets += e.path.find("mobilenet") != std::string::npos;
    }
    EXPECT_EQ(uncomputableCorpusFiles().size(), 3u);
    EXPECT_EQ(computable, kCorpusFileCount - 3);
    // mobilenet_v1 and mobilenet_v2 at HEAD and at d2a64822e9, mobilenet_v2_tosa at HEAD.
    EXPECT_EQ(mobilenets, 5u);
    // 8 f32 files and 13 mixed-precision chains (f8, f16, f32, f64).
    EXPECT_EQ(matmulOnlyFiles().size(), 21u);
}

class CorpusFile : public ::testing::TestWithParam<std::string> {};

TEST_P(CorpusFile, CompilesThenRunsVerifiedOrIsRefusedForItsKnownReason) {
    const std::string dfg = kCorpusDir + "/" + GetParam();
    ScratchDir dir("corpus_" + corpusTestName(GetParam()));
    const std::string object = dir.file("m.kpu");

    auto compiled = runCommand({KPU_COMPILER_EXE, dfg, "-o", object});
    ASSERT_FALSE(compiled.crashed) << compiled.err;

    if (const UncomputableFile* bad = findUncomputable(GetParam())) {
        SCOPED_TRACE("expected to be refused: " + bad->why);
        EXPECT_EQ(compiled.exitCode, 1) << compiled.out << compiled.err;
        for (const auto& reason : bad->reasons)
            EXPECT_NE(compiled.err.find(reason), std::string::npos)
                << "expected \"" << reason << "\" in:\n"
                << compiled.err;
        EXPECT_FALSE(std::filesystem::exists(object)) << "an object was written";
        return;
    }

    ASSERT_EQ(compiled.exitCode, 0) << compiled.err;
    auto run = runCommand({KPU_LOADER_EXE, object, "--json", "--verify"});
    ASSERT_FALSE(run.crashed) << run.err;
    ASSERT_EQ(run.exitCode, 0) << run.out << run.err;
    const auto report = nlohmann::json::parse(run.out);
    EXPECT_EQ(report.at("config").get<std::string>(), "default");
    EXPECT_GT(report.at("total_cycles").get<double>(), 0);
    EXPECT_GT(report.at("external_bytes").get<double>(), 0);
    const auto& verify = report.at("verify");
    ASSERT_TRUE(verify.is_array());
    ASSERT_FALSE(verify.empty()) << "nothing was verified";
    for (const auto& v : verify) {
        const std::string tensor = v.at("tensor").get<std::string>();
        EXPECT_TRUE(v.at("match").get<bool>()) << tensor << ": " << v.dump();
        EXPECT_GT(v.at("elements").get<double>(), 0) << tensor;
        EXPECT_TRUE(std::isfinite(v.at("max_rel_error").get<double>())) << tensor;
    }
}

INSTANTIATE_TEST_SUITE_P(Manifest, CorpusFile, ::testing::ValuesIn(allFiles()), paramName);

class CorpusMatmul : public ::testing::TestWithParam<std::string> {};

TEST_P(CorpusMatmul, DisassemblesDryRunsAndRunsOnTheMinimalKpu) {
    const std::string dfg = kCorpusDir + "/" + GetParam();
    ScratchDir dir("corpus_mm_" + corpusTestName(GetParam()));
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

    // The same graph compiled for, and run on, the upstream minimal KPU (8x8 array, 64 KiB L3).
    const std::string minimal = dir.file("minimal.kpu");
    auto compiledMin =
        runCommand({KPU_COMPILER_EXE, dfg, "-o", minimal, "--config", kMinimalConfig});
    ASSERT_EQ(compiledMin.exitCode, 0) << compiledMin.err;
    auto runMin = runCommand({KPU_LOADER_EXE, minimal, "--config", kMinimalConfig});
    ASSERT_EQ(runMin.exitCode, 0) << runMin.out << runMin.err;
    EXPECT_NE(runMin.out.find("Minimal KPU"), std::string::npos);
    EXPECT_EQ(runMin.out.find("MISMATCH"), std::string::npos) << runMin.out;
}

INSTANTIATE_TEST_SUITE_P(MatmulOnly, CorpusMatmul, ::testing::ValuesIn(matmulOnlyFiles()),
                         paramName);

} // namespace
} // namespace kpu::test
