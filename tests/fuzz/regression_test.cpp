// Replays, through the fuzz targets' entry points, every input the fuzzing campaigns found
// (regressions/<target>/, one file per finding, named after what it broke) and the reader
// fixtures they were seeded with. Each must be accepted or refused without a crash, a sanitizer
// report or a broken invariant; run under ASan + UBSan in CI (scripts/test.sh).
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fuzz/fuzz_targets.h"
#include "kpu/common/file_io.h"

namespace kpu::fuzz {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> filesIn(const fs::path& dir) {
    std::vector<fs::path> files;
    if (fs::is_directory(dir))
        for (const fs::directory_entry& e : fs::directory_iterator(dir))
            if (e.is_regular_file() && !e.path().filename().string().starts_with("."))
                files.push_back(e.path());
    std::sort(files.begin(), files.end());
    return files;
}

const Target& target(std::string_view name) {
    for (const Target& t : kTargets)
        if (t.name == name)
            return t;
    throw std::invalid_argument(std::string(name));
}

// Runs every file of `dirs` through the target; returns how many ran.
std::size_t replay(const Target& t, const std::vector<fs::path>& dirs) {
    std::size_t count = 0;
    for (const fs::path& dir : dirs)
        for (const fs::path& file : filesIn(dir)) {
            auto bytes = readBinaryFile(file.string());
            EXPECT_TRUE(bytes) << file;
            if (!bytes)
                continue;
            SCOPED_TRACE(file.string());
            t.run(*bytes); // a crash or an abort here names the file in the trace above
            ++count;
        }
    return count;
}

const fs::path kRegressions = fs::path(KPU_SOURCE_DIR) / "tests/fuzz/regressions";
const fs::path kFixtures = KPU_FIXTURES_DIR;

TEST(FuzzRegressions, EveryTargetHasARegressionFolder) {
    for (const Target& t : kTargets)
        EXPECT_TRUE(fs::is_directory(kRegressions / t.name)) << t.name;
}

TEST(FuzzRegressions, Dfg) {
    EXPECT_GT(replay(target("dfg"), {kRegressions / "dfg", kFixtures / "dfg"}), 0u);
}

TEST(FuzzRegressions, Object) {
    EXPECT_GT(replay(target("object"), {kRegressions / "object", kFixtures / "objects"}), 0u);
}

TEST(FuzzRegressions, ConfigJson) {
    EXPECT_GT(replay(target("config-json"), {kRegressions / "config-json", kFixtures / "config"}),
              0u);
}

TEST(FuzzRegressions, ConfigYaml) {
    EXPECT_GT(replay(target("config-yaml"), {kRegressions / "config-yaml", kFixtures / "config"}),
              0u);
}

TEST(FuzzRegressions, Npy) {
    EXPECT_GT(replay(target("npy"), {kRegressions / "npy", kFixtures / "npy"}), 0u);
}

TEST(FuzzRegressions, Onnx) {
    EXPECT_GT(
        replay(target("onnx"), {kRegressions / "onnx", fs::path(KPU_SOURCE_DIR) / "examples/onnx"}),
        0u);
}

TEST(FuzzRegressions, TensorProto) {
    EXPECT_GT(
        replay(target("tensorproto"), {kRegressions / "tensorproto",
                                       fs::path(KPU_SOURCE_DIR) / "examples/onnx/test_data_set_0"}),
        0u);
}

} // namespace
} // namespace kpu::fuzz
