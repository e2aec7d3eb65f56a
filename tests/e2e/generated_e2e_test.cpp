// End to end on generated MATMUL shapes: edge cases, a large GEMM, batched and 3-operand
// forms, .npy inputs and outputs checked against values computed here.
#include <cmath>
#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>

#include "kpu/common/file_io.h"
#include "kpu/common/npy.h"
#include "support/dfg_writer.h"
#include "support/run_command.h"

namespace kpu::test {
namespace {

struct Shape3 {
    std::string name;
    std::vector<std::int64_t> a, b, out, c;
};

class GeneratedMatmul : public ::testing::TestWithParam<Shape3> {};

TEST_P(GeneratedMatmul, RunsAndVerifies) {
    const Shape3& s = GetParam();
    ScratchDir dir("gen_" + s.name);
    ASSERT_TRUE(writeTextFile(dir.file("g.dfg"), matmulDfg(s.name, s.a, s.b, s.out, s.c)));
    auto compiled = runCommand({KPU_COMPILER_EXE, dir.file("g.dfg"), "-o", dir.file("g.kpu")});
    ASSERT_EQ(compiled.exitCode, 0) << compiled.err;
    auto run = runCommand({KPU_LOADER_EXE, dir.file("g.kpu")});
    ASSERT_EQ(run.exitCode, 0) << run.out << run.err;
    EXPECT_EQ(run.out.find("MISMATCH"), std::string::npos);
    EXPECT_NE(run.out.find(" ok"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, GeneratedMatmul,
    ::testing::Values(
        Shape3{"m1x1x1", {1, 1}, {1, 1}, {1, 1}, {}},
        Shape3{"m37x91x53", {37, 53}, {53, 91}, {37, 91}, {}},
        Shape3{"m512x512x512", {512, 512}, {512, 512}, {512, 512}, {}},
        Shape3{"batched", {3, 37, 20}, {3, 20, 29}, {3, 37, 29}, {}},
        Shape3{"batched_broadcast_b", {2, 3, 17, 40}, {40, 33}, {2, 3, 17, 33}, {}},
        Shape3{"three_operand", {40, 70}, {70, 50}, {40, 50}, {40, 50}},
        Shape3{"three_operand_batched", {4, 20, 33}, {4, 33, 18}, {4, 20, 18}, {4, 20, 18}}),
    [](const ::testing::TestParamInfo<Shape3>& p) { return p.param.name; });

NpyArray matrix(std::int64_t rows, std::int64_t cols, float base) {
    NpyArray a{.dtype = DType::F32, .shape = {rows, cols}, .data = {}};
    std::vector<float> v(static_cast<std::size_t>(rows * cols));
    for (std::size_t i = 0; i < v.size(); ++i)
        v[i] = base + static_cast<float>(i % 7) * 0.25f - static_cast<float>(i % 3);
    a.data.resize(v.size() * sizeof(float));
    std::memcpy(a.data.data(), v.data(), a.data.size());
    return a;
}

TEST(LoaderNpy, InputsAndOutputsByTensorName) {
    ScratchDir dir("npy");
    const std::string corpusMatmul =
        std::string(KPU_SHARED_DIR) +
        "/dfg-corpus/stillwater-sc+kpu-sim/test_graphs/simple/matmul.dfg";
    ASSERT_EQ(runCommand({KPU_COMPILER_EXE, corpusMatmul, "-o", dir.file("m.kpu")}).exitCode, 0);
    const NpyArray a = matrix(4, 16, 1.0f), b = matrix(16, 4, -0.5f);
    ASSERT_TRUE(writeNpyFile(dir.file("a.npy"), a));
    ASSERT_TRUE(writeNpyFile(dir.file("b.npy"), b));
    auto run = runCommand({KPU_LOADER_EXE, dir.file("m.kpu"), "--input", "A=" + dir.file("a.npy"),
                           "--input", "B=" + dir.file("b.npy"), "--output",
                           "Cout=" + dir.file("c.npy"), "--output", "B=" + dir.file("b_out.npy")});
    ASSERT_EQ(run.exitCode, 0) << run.err;
    // An input written back is the input (the run never changes it).
    auto bOut = readNpyFile(dir.file("b_out.npy"));
    ASSERT_TRUE(bOut) << bOut.error().message;
    EXPECT_EQ(bOut->shape, b.shape);
    EXPECT_TRUE(bOut->data == b.data);
    auto c = readNpyFile(dir.file("c.npy"));
    ASSERT_TRUE(c) << c.error().message;
    ASSERT_EQ(c->shape, (Shape{4, 4}));
    const auto* pa = reinterpret_cast<const float*>(a.data.data());
    const auto* pb = reinterpret_cast<const float*>(b.data.data());
    const auto* pc = reinterpret_cast<const float*>(c->data.data());
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
            double expect = 0;
            for (int k = 0; k < 16; ++k)
                expect += double{pa[i * 16 + k]} * double{pb[k * 4 + j]};
            EXPECT_NEAR(pc[i * 4 + j], expect, 1e-4) << i << "," << j;
        }
}

TEST(LoaderNpy, WrongShapeAndUnknownNameAreErrors) {
    ScratchDir dir("npy_bad");
    const std::string corpusMatmul =
        std::string(KPU_SHARED_DIR) +
        "/dfg-corpus/stillwater-sc+kpu-sim/test_graphs/simple/matmul.dfg";
    ASSERT_EQ(runCommand({KPU_COMPILER_EXE, corpusMatmul, "-o", dir.file("m.kpu")}).exitCode, 0);
    ASSERT_TRUE(writeNpyFile(dir.file("a.npy"), matrix(3, 16, 1.0f)));
    auto wrongShape =
        runCommand({KPU_LOADER_EXE, dir.file("m.kpu"), "--input", "A=" + dir.file("a.npy")});
    EXPECT_EQ(wrongShape.exitCode, 1);
    EXPECT_NE(wrongShape.err.find("has shape 3x16, the tensor is 4x16"), std::string::npos)
        << wrongShape.err;
    auto unknown =
        runCommand({KPU_LOADER_EXE, dir.file("m.kpu"), "--input", "Z=" + dir.file("a.npy")});
    EXPECT_EQ(unknown.exitCode, 1);
    EXPECT_NE(unknown.err.find("no input or constant tensor of that name (it has: A, B)"),
              std::string::npos)
        << unknown.err;
    auto badSpec = runCommand({KPU_LOADER_EXE, dir.file("m.kpu"), "--output", "nothing"});
    EXPECT_EQ(badSpec.exitCode, 1);
    EXPECT_NE(badSpec.err.find("expected NAME=file.npy"), std::string::npos);
}

TEST(LoaderSeed, SameSeedSameReportDifferentSeedDifferentOutput) {
    ScratchDir dir("seed");
    ASSERT_TRUE(writeTextFile(dir.file("g.dfg"), matmulDfg("g", {20, 30}, {30, 10}, {20, 10})));
    ASSERT_EQ(runCommand({KPU_COMPILER_EXE, dir.file("g.dfg"), "-o", dir.file("g.kpu")}).exitCode,
              0);
    auto one = runCommand(
        {KPU_LOADER_EXE, dir.file("g.kpu"), "--seed", "7", "--output", "Out=" + dir.file("1.npy")});
    auto two = runCommand(
        {KPU_LOADER_EXE, dir.file("g.kpu"), "--seed", "7", "--output", "Out=" + dir.file("2.npy")});
    auto three = runCommand(
        {KPU_LOADER_EXE, dir.file("g.kpu"), "--seed", "8", "--output", "Out=" + dir.file("3.npy")});
    ASSERT_EQ(one.exitCode, 0);
    EXPECT_EQ(one.out, two.out); // deterministic cycles and report
    EXPECT_EQ(slurp(dir.file("1.npy")), slurp(dir.file("2.npy")));
    EXPECT_NE(slurp(dir.file("1.npy")), slurp(dir.file("3.npy")));
}

} // namespace
} // namespace kpu::test
