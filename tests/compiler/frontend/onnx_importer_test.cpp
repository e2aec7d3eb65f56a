// The ONNX importer on models built in the test: structure of the graph IR it produces (layout
// transposes, folding, constants with values, static inputs) and its errors. Numerical
// correctness is checked end to end (tests/e2e/onnx_e2e_test.cpp) and by the ONNX conformance
// suite (tests/conformance).
#include <cstring>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "kpu/common/float_convert.h"
#include "kpu/compiler/onnx_importer.h"
#include "support/onnx_model.h"
#include "support/run_command.h"

namespace kpu::ir {
namespace {

using test::OnnxModel;

std::vector<double> valuesOf(const Value& v) {
    std::vector<double> out(v.data.size() / dtypeSize(v.type.dtype));
    convertToF64(v.type.dtype, v.data.data(), out.data(), out.size());
    return out;
}

int countOps(const Graph& g, OpKind kind) {
    return static_cast<int>(
        std::ranges::count_if(g.ops, [&](const Operation& op) { return op.kind == kind; }));
}

class OnnxImporterTest : public ::testing::Test {
protected:
    test::ScratchDir dir{"onnx_importer"};

    Expected<Graph> import(OnnxModel& model, const OnnxImportOptions& options = {}) {
        const std::string path = dir.file("m.onnx");
        model.save(path);
        return importOnnxFile(path, options);
    }
};

TEST_F(OnnxImporterTest, ConvWithBatchNormIsFoldedAndLaidOutNhwc) {
    OnnxModel m("convbn");
    m.input("x", {1, 2, 4, 4});
    // W [O=2, C=2, 1, 1]: w[o][c] = o * 2 + c + 1.
    m.initializer("W", {2, 2, 1, 1}, {1, 2, 3, 4});
    m.initializer("s", {2}, {2, 3});
    m.initializer("b", {2}, {0.5f, -1});
    m.initializer("mean", {2}, {1, 2});
    m.initializer("var", {2}, {3, 8});
    m.node("Conv", {"x", "W"}, {"c"}, "conv");
    auto& bn = m.node("BatchNormalization", {"c", "s", "b", "mean", "var"}, {"y"}, "bn");
    OnnxModel::attr(bn, "epsilon", 1.0f);
    m.output("y", {1, 2, 4, 4});
    auto g = import(m);
    ASSERT_TRUE(g) << g.error().message;
    EXPECT_EQ(countOps(*g, OpKind::Conv2D), 1);
    EXPECT_EQ(countOps(*g, OpKind::Mul), 0) << "the batch norm should be folded into the conv";
    EXPECT_EQ(countOps(*g, OpKind::Add), 0);
    EXPECT_EQ(countOps(*g, OpKind::Transpose), 2); // x to NHWC, y back to NCHW
    const Operation& conv = *std::ranges::find(g->ops, OpKind::Conv2D, &Operation::kind);
    ASSERT_EQ(conv.operands.size(), 3u);
    // a = s / sqrt(var + 1) = {1, 1}; bias' = b - mean a = {-0.5, -3}.
    EXPECT_EQ(valuesOf(g->value(conv.operands[1])), (std::vector<double>{1, 2, 3, 4}));
    EXPECT_EQ(valuesOf(g->value(conv.operands[2])), (std::vector<double>{-0.5, -3}));
    EXPECT_EQ(g->value(conv.operands[0]).type.shape, (Shape{1, 4, 4, 2}));
    ASSERT_EQ(g->outputs.size(), 1u);
    EXPECT_EQ(g->value(g->outputs[0]).name, "y");
    EXPECT_EQ(g->value(g->outputs[0]).type.shape, (Shape{1, 2, 4, 4}));
}

TEST_F(OnnxImporterTest, ConvWeightsAreTransposedToOhwiAtCompileTime) {
    OnnxModel m("conv");
    m.input("x", {1, 1, 3, 3});
    m.initializer("W", {2, 1, 1, 2}, {1, 2, 3, 4}); // [O, C, KH, KW]
    auto& conv = m.node("Conv", {"x", "W"}, {"y"});
    OnnxModel::attr(conv, "pads", std::vector<std::int64_t>{0, 0, 0, 1});
    m.output("y", {1, 2, 3, 3});
    auto g = import(m);
    ASSERT_TRUE(g) << g.error().message;
    const Operation& op = *std::ranges::find(g->ops, OpKind::Conv2D, &Operation::kind);
    const Value& w = g->value(op.operands[1]);
    EXPECT_EQ(w.type.shape, (Shape{2, 1, 2, 1})); // OHWI
    EXPECT_EQ(valuesOf(w), (std::vector<double>{1, 2, 3, 4}));
}

TEST_F(OnnxImporterTest, DepthwiseConvBecomesDepthwiseConv2D) {
    OnnxModel m("dw");
    m.input("x", {1, 2, 3, 3});
    m.initializer("W", {2, 1, 1, 1}, {5, 7});
    auto& conv = m.node("Conv", {"x", "W"}, {"y"});
    OnnxModel::attr(conv, "group", std::int64_t{2});
    m.output("y", {1, 2, 3, 3});
    auto g = import(m);
    ASSERT_TRUE(g) << g.error().message;
    const Operation& op = *std::ranges::find(g->ops, OpKind::DepthwiseConv2D, &Operation::kind);
    EXPECT_EQ(g->value(op.operands[1]).type.shape, (Shape{1, 1, 2, 1})); // [KH, KW, C, M]
}

TEST_F(OnnxImporterTest, InitializersTravelAsConstantsWithValues) {
    OnnxModel m("mlp");
    m.input("x", {-1, 3});
    m.initializer("W", {2, 3}, {1, 2, 3, 4, 5, 6});
    m.initializer("C", {2}, {10, 20});
    auto& gemm = m.node("Gemm", {"x", "W", "C"}, {"y"}, "fc");
    OnnxModel::attr(gemm, "transB", std::int64_t{1});
    OnnxModel::attr(gemm, "alpha", 2.0f);
    OnnxModel::attr(gemm, "beta", 0.5f);
    m.output("y", {-1, 2});
    auto g = import(m, {.batch = 4, .staticInputs = {}});
    ASSERT_TRUE(g) << g.error().message;
    EXPECT_EQ(g->value(g->inputs.at(0)).type.shape, (Shape{4, 3})) << "symbolic batch";
    EXPECT_EQ(countOps(*g, OpKind::FC), 1) << "transB reads W as [N, K]";
    ASSERT_EQ(g->constants.size(), 2u);
    // alpha folds into W, beta into C.
    EXPECT_EQ(valuesOf(g->value(g->constants[0])), (std::vector<double>{2, 4, 6, 8, 10, 12}));
    EXPECT_EQ(valuesOf(g->value(g->constants[1])), (std::vector<double>{5, 10}));
    EXPECT_EQ(g->value(g->outputs.at(0)).type.shape, (Shape{4, 2}));
}

TEST_F(OnnxImporterTest, ShapeOperandsMustBeKnownOrFixedWithConst) {
    OnnxModel m("reshape");
    m.input("x", {2, 6});
    m.input("shape", {2}, onnx::TensorProto::INT64);
    m.node("Reshape", {"x", "shape"}, {"y"}, "r");
    m.output("y", {3, 4});
    auto g = import(m);
    ASSERT_FALSE(g);
    EXPECT_NE(g.error().message.find("node 0 'r' (Reshape)"), std::string::npos)
        << g.error().message;
    EXPECT_NE(g.error().message.find("--const shape=FILE"), std::string::npos);

    auto names = onnxStaticInputNames(dir.file("m.onnx"));
    ASSERT_TRUE(names);
    EXPECT_EQ(*names, std::vector<std::string>{"shape"});

    onnx_io::TensorValue shape{.name = "shape", .dtype = DType::I64, .shape = {2}, .data = {}};
    const std::int64_t dims[] = {3, -1};
    shape.data.resize(sizeof dims);
    std::memcpy(shape.data.data(), dims, sizeof dims);
    auto fixed =
        importOnnxFile(dir.file("m.onnx"), {.batch = 1, .staticInputs = {{"shape", shape}}});
    ASSERT_TRUE(fixed) << fixed.error().message;
    ASSERT_EQ(fixed->staticInputs.size(), 1u);
    EXPECT_EQ(fixed->staticInputs[0].name, "shape");
    EXPECT_EQ(fixed->staticInputs[0].position, 1u);
    EXPECT_EQ(fixed->inputs.size(), 1u);
    EXPECT_EQ(fixed->value(fixed->outputs.at(0)).type.shape, (Shape{3, 4}));
}

TEST_F(OnnxImporterTest, ConstMustNameAGraphInputOfTheDeclaredType) {
    OnnxModel m("relu");
    m.input("x", {2});
    m.node("Relu", {"x"}, {"y"});
    m.output("y", {2});
    onnx_io::TensorValue v{
        .name = "", .dtype = DType::F32, .shape = {2}, .data = {0, 0, 0, 0, 0, 0, 0, 0}};
    auto wrongName = import(m, {.batch = 1, .staticInputs = {{"nope", v}}});
    ASSERT_FALSE(wrongName);
    EXPECT_NE(wrongName.error().message.find("no graph input"), std::string::npos);
    v.shape = {3};
    v.data.resize(12);
    auto wrongShape = import(m, {.batch = 1, .staticInputs = {{"x", v}}});
    ASSERT_FALSE(wrongShape);
    EXPECT_NE(wrongShape.error().message.find("declares 2f32"), std::string::npos)
        << wrongShape.error().message;
}

TEST_F(OnnxImporterTest, ErrorsNameTheNodeTheOperatorAndTheAttribute) {
    {
        OnnxModel m("bad");
        m.input("x", {2});
        m.node("Relu", {"x"}, {"r"}, "ok");
        m.node("Frobnicate", {"r"}, {"y"}, "mystery");
        m.output("y", {2});
        auto g = import(m);
        ASSERT_FALSE(g);
        EXPECT_NE(g.error().message.find("m.onnx: error: node 1 'mystery' (Frobnicate): operator "
                                         "Frobnicate is not supported"),
                  std::string::npos)
            << g.error().message;
    }
    {
        OnnxModel m("pad", 13);
        m.input("x", {2, 2});
        m.initializerInts("pads", {4}, {1, 1, 1, 1});
        auto& pad = m.node("Pad", {"x", "pads"}, {"y"}, "p");
        OnnxModel::attr(pad, "mode", std::string("reflect"));
        m.output("y", {4, 4});
        auto g = import(m);
        ASSERT_FALSE(g);
        EXPECT_NE(g.error().message.find("node 0 'p' (Pad): attribute 'mode' value 'reflect' is "
                                         "not supported"),
                  std::string::npos)
            << g.error().message;
    }
    {
        OnnxModel m("pool");
        m.input("x", {1, 1, 4, 4});
        auto& pool = m.node("MaxPool", {"x"}, {"y"}, "mp");
        OnnxModel::attr(pool, "kernel_shape", std::vector<std::int64_t>{2, 2});
        OnnxModel::attr(pool, "mystery_knob", std::int64_t{3});
        m.output("y", {1, 1, 3, 3});
        auto g = import(m);
        ASSERT_FALSE(g);
        EXPECT_NE(g.error().message.find("(MaxPool): attribute 'mystery_knob' is not supported"),
                  std::string::npos)
            << g.error().message;
    }
    {
        OnnxModel m("ints");
        m.input("x", {2}, onnx::TensorProto::INT32);
        m.node("Relu", {"x"}, {"y"}, "r");
        m.output("y", {2}, onnx::TensorProto::INT32);
        auto g = import(m);
        ASSERT_FALSE(g);
        EXPECT_NE(g.error().message.find("(Relu): element type INT32 of graph input 'x' is not "
                                         "supported"),
                  std::string::npos)
            << g.error().message;
    }
}

TEST_F(OnnxImporterTest, DeclaredOutputShapesAreChecked) {
    OnnxModel m("shape");
    m.input("a", {2, 3});
    m.input("b", {3, 4});
    m.node("MatMul", {"a", "b"}, {"y"});
    m.output("y", {2, 5});
    auto g = import(m);
    ASSERT_FALSE(g);
    EXPECT_NE(g.error().message.find("graph output 'y': the model declares shape [2, 5], the "
                                     "operators compute 2x4"),
              std::string::npos)
        << g.error().message;
}

TEST_F(OnnxImporterTest, AnOutputThatIsAnInputGetsAValueOfItsOwn) {
    OnnxModel m("identity");
    m.input("x", {2, 2});
    m.node("Identity", {"x"}, {"y"});
    m.output("y", {2, 2});
    auto g = import(m);
    ASSERT_TRUE(g) << g.error().message;
    ASSERT_EQ(g->outputs.size(), 1u);
    EXPECT_NE(g->outputs[0], g->inputs.at(0));
    EXPECT_EQ(g->value(g->outputs[0]).name, "y");
}

TEST_F(OnnxImporterTest, CorruptAndMissingFilesAreRefusedWithTheirName) {
    const std::string junk = dir.file("junk.onnx");
    {
        std::ofstream out(junk, std::ios::binary);
        out << "\x08\x96\x01 this is not a protobuf \xff\xff\xff";
    }
    auto g = importOnnxFile(junk);
    ASSERT_FALSE(g);
    EXPECT_NE(g.error().message.find("junk.onnx"), std::string::npos) << g.error().message;
    auto missing = importOnnxFile(dir.file("absent.onnx"));
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find("absent.onnx"), std::string::npos);

    // A valid model cut short.
    OnnxModel m("cut");
    m.input("x", {2});
    m.initializer("w", {2}, {1, 2});
    m.node("Add", {"x", "w"}, {"y"});
    m.output("y", {2});
    std::string bytes;
    m.proto().SerializeToString(&bytes);
    for (std::size_t keep : {bytes.size() / 3, bytes.size() / 2, bytes.size() - 3}) {
        std::ofstream(dir.file("cut.onnx"), std::ios::binary) << bytes.substr(0, keep);
        auto cut = importOnnxFile(dir.file("cut.onnx"));
        EXPECT_FALSE(cut) << "kept " << keep << " of " << bytes.size() << " bytes";
    }
}

// x * 0.5 * (1 + erf(x / sqrt 2)) as PyTorch exports it, in both associations, becomes one GELU;
// not when an intermediate value has another reader.
TEST_F(OnnxImporterTest, ErfFormOfGeluIsFused) {
    for (int variant = 0; variant < 3; ++variant) {
        OnnxModel m("gelu");
        m.input("x", {4, 8});
        m.initializer("sqrt2", {}, {1.41421354f});
        m.initializer("inv_sqrt2", {}, {0.707106769f});
        m.initializer("one", {}, {1.0f});
        m.initializer("half", {}, {0.5f});
        if (variant == 1)
            m.node("Mul", {"x", "inv_sqrt2"}, {"d"});
        else
            m.node("Div", {"x", "sqrt2"}, {"d"});
        m.node("Erf", {"d"}, {"e"});
        m.node("Add", {"e", "one"}, {"a"});
        if (variant == 0) {
            m.node("Mul", {"x", "a"}, {"xa"});
            m.node("Mul", {"xa", "half"}, {"y"});
        } else {
            m.node("Mul", {"half", "x"}, {"hx"});
            m.node("Mul", {"hx", "a"}, {"y"});
        }
        m.output("y", {4, 8});
        if (variant == 2)
            m.output("e", {4, 8}); // the erf is read twice: no fusion
        auto g = import(m);
        ASSERT_TRUE(g) << g.error().message;
        EXPECT_EQ(countOps(*g, OpKind::Gelu), variant == 2 ? 0 : 1) << "variant " << variant;
        EXPECT_EQ(countOps(*g, OpKind::Erf), variant == 2 ? 1 : 0) << "variant " << variant;
        EXPECT_EQ(g->value(g->outputs.at(0)).name, "y");
    }
}

TEST_F(OnnxImporterTest, SupportedOperatorsIncludeTheIssueList) {
    const auto ops = supportedOnnxOperators();
    for (const char* op : {"MatMul",
                           "Gemm",
                           "Conv",
                           "Add",
                           "Sub",
                           "Mul",
                           "Div",
                           "Relu",
                           "LeakyRelu",
                           "Clip",
                           "Sigmoid",
                           "Tanh",
                           "Gelu",
                           "Erf",
                           "Softmax",
                           "LogSoftmax",
                           "LayerNormalization",
                           "BatchNormalization",
                           "MaxPool",
                           "AveragePool",
                           "GlobalAveragePool",
                           "Reshape",
                           "Flatten",
                           "Transpose",
                           "Concat",
                           "Pad",
                           "ReduceSum",
                           "ReduceMean",
                           "ReduceMax",
                           "Exp",
                           "Sqrt",
                           "Reciprocal",
                           "Identity"})
        EXPECT_NE(std::ranges::find(ops, op), ops.end()) << op;
}

} // namespace
} // namespace kpu::ir
