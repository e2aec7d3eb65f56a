// kpu-loader with ONNX TensorProto (.pb) values through the real CLIs: --input FILE bound by the
// stored name or by position, --output FILE.pb, and --expect comparing the outputs with
// expected values (the first run's output), passing and failing, in text and --json.
#include <cstring>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kpu/common/file_io.h"
#include "kpu/common/npy.h"
#include "kpu/common/onnx_tensor.h"
#include "support/run_command.h"

namespace kpu::test {
namespace {

using onnx_io::TensorValue;

TensorValue xValue(const std::string& name) {
    std::vector<float> v(8 * 784);
    for (std::size_t i = 0; i < v.size(); ++i)
        v[i] = static_cast<float>((static_cast<int>(i * 37 % 101) - 50)) / 50.0f;
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(v.data());
    return TensorValue{.name = name,
                       .dtype = DType::F32,
                       .shape = {8, 784},
                       .data = std::vector<std::uint8_t>(bytes, bytes + v.size() * sizeof(float))};
}

class OnnxIoE2e : public ::testing::Test {
protected:
    void SetUp() override {
        object_ = dir_.file("mlp.kpu");
        auto r = runCommand(
            {KPU_COMPILER_EXE, std::string(KPU_SOURCE_DIR) + "/examples/mlp.dfg", "-o", object_});
        ASSERT_EQ(r.exitCode, 0) << r.err;
        ASSERT_TRUE(onnx_io::writeTensorFile(dir_.file("x.pb"), xValue("x")));
        ASSERT_TRUE(onnx_io::writeTensorFile(dir_.file("input_0.pb"), xValue("")));
        // The reference outputs: a first run's, written as a TensorProto named after the tensor.
        auto first = runCommand({KPU_LOADER_EXE, object_, "--input", dir_.file("x.pb"), "--output",
                                 "logits=" + dir_.file("y.pb")});
        ASSERT_EQ(first.exitCode, 0) << first.err;
    }

    ScratchDir dir_{"onnx_io"};
    std::string object_;
};

TEST_F(OnnxIoE2e, OutputIsANamedTensorProto) {
    auto y = onnx_io::readTensorFile(dir_.file("y.pb"));
    ASSERT_TRUE(y) << y.error().message;
    EXPECT_EQ(y->name, "logits");
    EXPECT_EQ(y->dtype, DType::F32);
    EXPECT_EQ(y->shape, (Shape{8, 10}));
}

TEST_F(OnnxIoE2e, ExpectPassesByStoredNameAndByPosition) {
    // x.pb and y.pb carry their names.
    auto run = runCommand(
        {KPU_LOADER_EXE, object_, "--input", dir_.file("x.pb"), "--expect", dir_.file("y.pb")});
    ASSERT_EQ(run.exitCode, 0) << run.err;
    EXPECT_NE(run.out.find("expect (--expect values"), std::string::npos) << run.out;
    EXPECT_NE(run.out.find("logits (" + dir_.file("y.pb") +
                           "): max abs error 0, max rel error 0, "
                           "0 of 80 elements differ (rtol 0.001, atol 1e-05): PASS"),
              std::string::npos)
        << run.out;
    // An unnamed input binds to the first graph input; an unnamed expectation to the first
    // output; NAME= works too; --no-verify leaves the comparison in place.
    auto y = onnx_io::readTensorFile(dir_.file("y.pb"));
    ASSERT_TRUE(y);
    y->name.clear();
    ASSERT_TRUE(onnx_io::writeTensorFile(dir_.file("output_0.pb"), *y));
    run = runCommand({KPU_LOADER_EXE, object_, "--input", dir_.file("input_0.pb"), "--expect",
                      dir_.file("output_0.pb"), "--no-verify"});
    ASSERT_EQ(run.exitCode, 0) << run.err;
    EXPECT_NE(run.out.find("logits (" + dir_.file("output_0.pb") + "): "), std::string::npos);
    EXPECT_NE(run.out.find(": PASS"), std::string::npos);
    EXPECT_EQ(run.out.find("verify ("), std::string::npos) << "--no-verify";
    run = runCommand({KPU_LOADER_EXE, object_, "--input", "x=" + dir_.file("input_0.pb"),
                      "--expect", "logits=" + dir_.file("output_0.pb")});
    ASSERT_EQ(run.exitCode, 0) << run.err;

    // .npy works for --expect too, and .pb and .npy mix.
    ASSERT_TRUE(writeNpyFile(dir_.file("y.npy"),
                             NpyArray{.dtype = y->dtype, .shape = y->shape, .data = y->data}));
    run = runCommand({KPU_LOADER_EXE, object_, "--input", dir_.file("x.pb"), "--expect",
                      "logits=" + dir_.file("y.npy")});
    ASSERT_EQ(run.exitCode, 0) << run.err;
}

TEST_F(OnnxIoE2e, AWrongExpectedValueFails) {
    auto y = onnx_io::readTensorFile(dir_.file("y.pb"));
    ASSERT_TRUE(y);
    float v;
    std::memcpy(&v, y->data.data() + 13 * 4, 4);
    v += 1.0f;
    std::memcpy(y->data.data() + 13 * 4, &v, 4);
    const std::string wrong = dir_.file("wrong.pb");
    ASSERT_TRUE(onnx_io::writeTensorFile(wrong, *y));
    for (bool verify : {true, false}) {
        std::vector<std::string> argv = {KPU_LOADER_EXE,    object_,    "--input",
                                         dir_.file("x.pb"), "--expect", wrong};
        if (!verify)
            argv.push_back("--no-verify");
        auto run = runCommand(argv);
        EXPECT_EQ(run.exitCode, 1) << run.out << run.err;
        EXPECT_FALSE(run.crashed);
        EXPECT_NE(run.out.find("logits (" + wrong + "): max abs error 1, "), std::string::npos)
            << run.out;
        EXPECT_NE(run.out.find("1 of 80 elements differ (rtol 0.001, atol 1e-05): FAIL; first at "
                               "[1,3]"),
                  std::string::npos)
            << run.out;
        EXPECT_NE(run.err.find(wrong + ": error: output 'logits' differs from the expected "
                                       "values: 1 of 80 elements out of tolerance (rtol 0.001, "
                                       "atol 1e-05); first at [1,3]: expected "),
                  std::string::npos)
            << run.err;
    }
    // A loose enough tolerance passes it.
    auto loose = runCommand(
        {KPU_LOADER_EXE, object_, "--input", dir_.file("x.pb"), "--expect", wrong, "--atol", "2"});
    EXPECT_EQ(loose.exitCode, 0) << loose.err;

    // Two values for one output.
    auto twice = runCommand({KPU_LOADER_EXE, object_, "--input", dir_.file("x.pb"), "--expect",
                             wrong, "--expect", "logits=" + dir_.file("y.pb")});
    EXPECT_EQ(twice.exitCode, 1);
    EXPECT_NE(twice.err.find(dir_.file("y.pb") +
                             ": error: --expect 'logits' is given twice (also by " + wrong + ")"),
              std::string::npos)
        << twice.err;
}

TEST_F(OnnxIoE2e, JsonReportHasTheExpectArray) {
    auto y = onnx_io::readTensorFile(dir_.file("y.pb"));
    ASSERT_TRUE(y);
    y->data[3] ^= 0x40; // an exponent bit of the first element
    ASSERT_TRUE(onnx_io::writeTensorFile(dir_.file("wrong.pb"), *y));
    auto run = runCommand({KPU_LOADER_EXE, object_, "--input", dir_.file("x.pb"), "--expect",
                           dir_.file("wrong.pb"), "--json", "--rtol", "0.01"});
    EXPECT_EQ(run.exitCode, 1) << run.err;
    const auto report = nlohmann::json::parse(run.out);
    EXPECT_EQ(report.at("schema_version"), "1.2");
    ASSERT_EQ(report.at("expect").size(), 1u);
    const auto& e = report.at("expect")[0];
    EXPECT_EQ(e.at("tensor"), "logits");
    EXPECT_EQ(e.at("file"), dir_.file("wrong.pb"));
    EXPECT_EQ(e.at("elements"), 80);
    EXPECT_EQ(e.at("match"), false);
    EXPECT_EQ(e.at("mismatches"), 1);
    EXPECT_EQ(e.at("rtol"), 0.01);
    EXPECT_EQ(e.at("atol"), 1e-5);
    EXPECT_EQ(e.at("first_mismatch").at("index"), nlohmann::json::array({0, 0}));

    // Without --expect the array is empty.
    run = runCommand({KPU_LOADER_EXE, object_, "--json"});
    ASSERT_EQ(run.exitCode, 0) << run.err;
    EXPECT_TRUE(nlohmann::json::parse(run.out).at("expect").empty());
}

TEST_F(OnnxIoE2e, BindingErrorsNameTheFileAndTheTensor) {
    // A shape that is not the tensor's.
    TensorValue small = xValue("x");
    small.shape = {784, 8};
    ASSERT_TRUE(onnx_io::writeTensorFile(dir_.file("x_t.pb"), small));
    auto run = runCommand({KPU_LOADER_EXE, object_, "--input", dir_.file("x_t.pb")});
    EXPECT_EQ(run.exitCode, 1);
    EXPECT_NE(run.err.find(dir_.file("x_t.pb") + ": error: input 'x' has shape 784x8, the tensor "
                                                 "is 8x784"),
              std::string::npos)
        << run.err;

    // More positional files than graph inputs (the constants are bound by name only).
    run = runCommand({KPU_LOADER_EXE, object_, "--input", dir_.file("input_0.pb"), "--input",
                      dir_.file("input_0.pb")});
    EXPECT_EQ(run.exitCode, 1);
    EXPECT_NE(run.err.find("--input: no graph input is left for this file to bind to by position "
                           "(the graph's inputs, in order: x; all are given)"),
              std::string::npos)
        << run.err;

    // A corrupt .pb.
    ASSERT_TRUE(writeTextFile(dir_.file("junk.pb"), std::string("\xff\xff\xff\xff\x0f junk", 10)));
    run = runCommand({KPU_LOADER_EXE, object_, "--expect", dir_.file("junk.pb")});
    EXPECT_EQ(run.exitCode, 1);
    EXPECT_FALSE(run.crashed);
    EXPECT_EQ(run.err.rfind(dir_.file("junk.pb") + ": error: ", 0), 0u) << run.err;

    // --expect naming something that is not a tensor, or an on-chip intermediate.
    run = runCommand({KPU_LOADER_EXE, object_, "--expect", "nope=" + dir_.file("y.pb")});
    EXPECT_EQ(run.exitCode, 1);
    EXPECT_NE(run.err.find("--expect 'nope': the object has no tensor of that name (its graph "
                           "outputs: logits)"),
              std::string::npos)
        << run.err;
    run = runCommand({KPU_LOADER_EXE, object_, "--expect", "h1=" + dir_.file("y.pb")});
    EXPECT_EQ(run.exitCode, 1);
    EXPECT_NE(run.err.find("--expect 'h1': this intermediate stays on chip"), std::string::npos)
        << run.err;

    // Usage: --expect is refused with --dry-run and --timing-only, --rtol must be >= 0.
    for (const std::string mode : {"--dry-run", "--timing-only"}) {
        run = runCommand({KPU_LOADER_EXE, object_, mode, "--expect", dir_.file("y.pb")});
        EXPECT_EQ(run.exitCode, 2) << mode;
    }
    run = runCommand({KPU_LOADER_EXE, object_, "--rtol", "-1"});
    EXPECT_EQ(run.exitCode, 2);
}

} // namespace
} // namespace kpu::test
