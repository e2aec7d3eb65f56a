// sinkTransposes (layout.h) on graphs the ONNX importer builds: which layout TRANSPOSEs go, that
// the graph stays well formed (operator semantics, topological order, producers, operand types,
// outputs' names and shapes) and compiles, and the same over every model of the ONNX backend
// test data. Numerical equality of the graphs before and after is checked end to end
// (tests/e2e/layout_e2e_test.cpp).
#include <chrono>
#include <filesystem>
#include <iostream>
#include <set>

#include <gtest/gtest.h>

#include "kpu/common/float_convert.h"
#include "kpu/compiler/canonicalize.h"
#include "kpu/compiler/compiler.h"
#include "kpu/compiler/layout.h"
#include "kpu/compiler/onnx_importer.h"
#include "kpu/compiler/op_params.h"
#include "support/onnx_model.h"
#include "support/run_command.h"

namespace kpu::ir {
namespace {

using test::OnnxModel;

int countOps(const Graph& g, OpKind kind) {
    return static_cast<int>(
        std::ranges::count_if(g.ops, [&](const Operation& op) { return op.kind == kind; }));
}

const Operation& producerOf(const Graph& g, ValueId v) {
    return g.ops.at(static_cast<std::size_t>(g.value(v).producer));
}

std::vector<const Operation*> opsOf(const Graph& g, OpKind kind) {
    std::vector<const Operation*> out;
    for (const Operation& op : g.ops)
        if (op.kind == kind)
            out.push_back(&op);
    return out;
}

const Operation& onlyOp(const Graph& g, OpKind kind) {
    EXPECT_EQ(countOps(g, kind), 1) << opKindName(kind);
    return *std::ranges::find(g.ops, kind, &Operation::kind);
}

std::vector<double> valuesOf(const Value& v) {
    std::vector<double> out(v.data.size() / dtypeSize(v.type.dtype));
    convertToF64(v.type.dtype, v.data.data(), out.data(), out.size());
    return out;
}

std::string attributeOf(const Operation& op, const std::string& key) {
    for (const Attribute& a : op.attributes)
        if (a.key == key)
            return a.value;
    return "<none>";
}

// Everything the pass promises about the graph it leaves.
::testing::AssertionResult wellFormed(const Graph& g) {
    std::set<std::string> names;
    for (const Value& v : g.values)
        if (!names.insert(v.name).second)
            return ::testing::AssertionFailure() << "value name '" << v.name << "' repeats";
    std::vector<bool> defined(g.values.size(), false);
    for (ValueId v : g.inputs)
        if (g.value(v).producer < 0)
            defined[static_cast<std::size_t>(v)] = true;
    for (std::size_t i = 0; i < g.ops.size(); ++i) {
        const Operation& op = g.ops[i];
        if (op.operandTypes.size() != op.operands.size())
            return ::testing::AssertionFailure()
                   << "op " << i << " '" << op.name << "' has " << op.operandTypes.size()
                   << " operand types for " << op.operands.size() << " operands";
        for (std::size_t k = 0; k < op.operands.size(); ++k) {
            const ValueId v = op.operands[k];
            if (v == kNoValue)
                continue;
            if (!defined[static_cast<std::size_t>(v)])
                return ::testing::AssertionFailure()
                       << "op " << i << " '" << op.name << "' reads '" << g.value(v).name
                       << "' before it is produced";
            if (op.operandTypes[k].shape != g.value(v).type.shape ||
                op.operandTypes[k].dtype != g.value(v).type.dtype)
                return ::testing::AssertionFailure()
                       << "op " << i << " '" << op.name << "' declares operand " << k << " as "
                       << formatShape(op.operandTypes[k].shape) << ", its value is "
                       << formatShape(g.value(v).type.shape);
        }
        for (std::size_t k = 0; k < op.results.size(); ++k) {
            const Value& r = g.value(op.results[k]);
            if (r.producer != static_cast<std::int32_t>(i) ||
                r.producerSlot != static_cast<std::int32_t>(k))
                return ::testing::AssertionFailure()
                       << "value '" << r.name << "' names producer " << r.producer << " slot "
                       << r.producerSlot << ", it is op " << i << " slot " << k;
            defined[static_cast<std::size_t>(op.results[k])] = true;
        }
        auto semantics = operatorSemantics(g, op, g.sourceFile);
        if (!semantics)
            return ::testing::AssertionFailure() << semantics.error().message;
    }
    for (ValueId v : g.outputs)
        if (!defined[static_cast<std::size_t>(v)])
            return ::testing::AssertionFailure()
                   << "output '" << g.value(v).name << "' is not produced";
    return ::testing::AssertionSuccess();
}

::testing::AssertionResult compiles(const Graph& g) {
    auto compiled = compiler::compileGraph(g, g.sourceFile, {});
    if (!compiled)
        return ::testing::AssertionFailure() << compiled.error().message;
    return ::testing::AssertionSuccess();
}

std::vector<float> ramp(std::size_t n, float scale = 0.1f) {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i)
        v[i] = scale * static_cast<float>(static_cast<int>(i % 11) - 5);
    return v;
}

// A 3x3 Conv with padding 1 (spatial size kept), weights W<name>, bias B<name>.
void conv3x3(OnnxModel& m, const std::string& in, const std::string& out, const std::string& name,
             std::int64_t c, std::int64_t o) {
    m.initializer("W" + name, {o, c, 3, 3}, ramp(static_cast<std::size_t>(o * c * 9)));
    m.initializer("B" + name, {o}, ramp(static_cast<std::size_t>(o), 0.01f));
    auto& n = m.node("Conv", {in, "W" + name, "B" + name}, {out}, name);
    OnnxModel::attr(n, "pads", std::vector<std::int64_t>{1, 1, 1, 1});
}

class LayoutTest : public ::testing::Test {
protected:
    test::ScratchDir dir{"layout"};

    // Imports the model (as readGraph does: import, canonicalise), checks it, and returns the
    // graph before and after sinkTransposes.
    std::pair<Graph, Graph> importAndSink(OnnxModel& model) {
        const std::string path = dir.file("m.onnx");
        model.save(path);
        auto g = importOnnxFile(path);
        EXPECT_TRUE(g) << g.error().message;
        if (!g)
            return {};
        canonicalizeGraph(*g);
        EXPECT_TRUE(wellFormed(*g));
        Graph after = *g;
        sinkTransposes(after);
        EXPECT_TRUE(wellFormed(after)) << dumpGraph(after);
        EXPECT_TRUE(compiles(after));
        // Outputs keep their names and shapes.
        EXPECT_EQ(after.outputs.size(), g->outputs.size());
        for (std::size_t k = 0; k < std::min(after.outputs.size(), g->outputs.size()); ++k) {
            EXPECT_EQ(after.value(after.outputs[k]).name, g->value(g->outputs[k]).name);
            EXPECT_EQ(after.value(after.outputs[k]).type.shape, g->value(g->outputs[k]).type.shape);
        }
        EXPECT_EQ(after.inputs.size(), g->inputs.size());
        EXPECT_EQ(after.constants.size(), g->constants.size());
        return {std::move(*g), std::move(after)};
    }
};

TEST_F(LayoutTest, ConvReluConvStaysNhwcBetweenTheConvolutions) {
    OnnxModel m("conv_relu_conv");
    m.input("x", {1, 3, 8, 8});
    conv3x3(m, "x", "c1", "conv1", 3, 4);
    m.node("Relu", {"c1"}, {"r1"}, "relu");
    conv3x3(m, "r1", "y", "conv2", 4, 5);
    m.output("y", {1, 5, 8, 8});
    auto [before, after] = importAndSink(m);
    EXPECT_EQ(countOps(before, OpKind::Transpose), 4);
    EXPECT_EQ(countOps(after, OpKind::Transpose), 2) << dumpGraph(after);
    // conv2 reads the RELU, which reads conv1: no transpose between them.
    const auto convs = opsOf(after, OpKind::Conv2D);
    ASSERT_EQ(convs.size(), 2u);
    const Operation& conv2 = *convs[1];
    const Operation& relu = producerOf(after, conv2.operands[0]);
    ASSERT_EQ(relu.kind, OpKind::Relu);
    EXPECT_EQ(producerOf(after, relu.operands[0]).kind, OpKind::Conv2D);
    EXPECT_EQ(after.value(relu.results[0]).type.shape, (Shape{1, 8, 8, 4}));
    // The input still enters through (0, 2, 3, 1), the output leaves through (0, 3, 1, 2).
    EXPECT_EQ(attributeOf(producerOf(after, after.outputs[0]), "perms"), "array<i32: 0, 3, 1, 2>");
    EXPECT_EQ(attributeOf(producerOf(after, convs[0]->operands[0]), "perms"),
              "array<i32: 0, 2, 3, 1>");
}

TEST_F(LayoutTest, ConvThenMaxPool) {
    OnnxModel m("conv_pool");
    m.input("x", {1, 2, 8, 8});
    conv3x3(m, "x", "c", "conv", 2, 3);
    auto& pool = m.node("MaxPool", {"c"}, {"y"}, "pool");
    OnnxModel::attr(pool, "kernel_shape", std::vector<std::int64_t>{2, 2});
    OnnxModel::attr(pool, "strides", std::vector<std::int64_t>{2, 2});
    m.output("y", {1, 3, 4, 4});
    auto [before, after] = importAndSink(m);
    EXPECT_EQ(countOps(before, OpKind::Transpose), 4);
    EXPECT_EQ(countOps(after, OpKind::Transpose), 2);
    const Operation& p = onlyOp(after, OpKind::MaxPool2D);
    EXPECT_EQ(producerOf(after, p.operands[0]).kind, OpKind::Conv2D);
}

TEST_F(LayoutTest, ResidualBlockAddsInNhwc) {
    // conv0 -> relu -> r0; r0 -> conv1 -> relu -> conv2; add(conv2, r0) -> relu -> y.
    OnnxModel m("residual");
    m.input("x", {1, 3, 6, 6});
    conv3x3(m, "x", "c0", "conv0", 3, 4);
    m.node("Relu", {"c0"}, {"r0"}, "relu0");
    conv3x3(m, "r0", "c1", "conv1", 4, 4);
    m.node("Relu", {"c1"}, {"r1"}, "relu1");
    conv3x3(m, "r1", "c2", "conv2", 4, 4);
    m.node("Add", {"c2", "r0"}, {"s"}, "add");
    m.node("Relu", {"s"}, {"y"}, "relu2");
    m.output("y", {1, 4, 6, 6});
    auto [before, after] = importAndSink(m);
    EXPECT_EQ(countOps(before, OpKind::Transpose), 6);
    EXPECT_EQ(countOps(after, OpKind::Transpose), 2) << dumpGraph(after);
    const Operation& add = onlyOp(after, OpKind::Add);
    EXPECT_EQ(after.value(add.results[0]).type.shape, (Shape{1, 6, 6, 4}));
    EXPECT_EQ(producerOf(after, add.operands[0]).kind, OpKind::Conv2D);
    EXPECT_EQ(producerOf(after, add.operands[1]).kind, OpKind::Relu);
    EXPECT_EQ(producerOf(after, after.outputs[0]).kind, OpKind::Transpose);
}

TEST_F(LayoutTest, ConvReluOutputMovesTheTransposeAfterTheRelu) {
    OnnxModel m("conv_relu");
    m.input("x", {1, 2, 5, 5});
    conv3x3(m, "x", "c", "conv", 2, 3);
    m.node("Relu", {"c"}, {"y"}, "relu");
    m.output("y", {1, 3, 5, 5});
    auto [before, after] = importAndSink(m);
    EXPECT_EQ(countOps(before, OpKind::Transpose), 2);
    EXPECT_EQ(countOps(after, OpKind::Transpose), 2);
    // The output is still the value 'y', NCHW, now produced by the transpose of the RELU.
    const Operation& out = producerOf(after, after.outputs[0]);
    ASSERT_EQ(out.kind, OpKind::Transpose);
    const Operation& relu = producerOf(after, out.operands[0]);
    ASSERT_EQ(relu.kind, OpKind::Relu);
    EXPECT_EQ(producerOf(after, relu.operands[0]).kind, OpKind::Conv2D);
}

TEST_F(LayoutTest, AnOutputReadByTheNextConvKeepsItsTranspose) {
    OnnxModel m("two_outputs");
    m.input("x", {1, 2, 5, 5});
    conv3x3(m, "x", "c", "conv1", 2, 3);
    m.node("Relu", {"c"}, {"y"}, "relu");
    conv3x3(m, "y", "z", "conv2", 3, 2);
    m.output("y", {1, 3, 5, 5});
    m.output("z", {1, 2, 5, 5});
    auto [before, after] = importAndSink(m);
    EXPECT_EQ(countOps(before, OpKind::Transpose), 4);
    EXPECT_EQ(countOps(after, OpKind::Transpose), 3);
    const auto convs = opsOf(after, OpKind::Conv2D);
    ASSERT_EQ(convs.size(), 2u);
    EXPECT_EQ(producerOf(after, convs[1]->operands[0]).kind, OpKind::Relu);
}

TEST_F(LayoutTest, PerChannelConstantsArePermutedWithTheActivation) {
    // conv -> Mul by k[C, H, W] -> Add b[C, 1, 1] -> Relu -> conv.
    OnnxModel m("affine");
    m.input("x", {1, 2, 2, 3});
    conv3x3(m, "x", "c", "conv1", 2, 2);
    m.initializer("k", {2, 2, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
    m.initializer("b", {2, 1, 1}, {0.5f, -0.5f});
    m.node("Mul", {"c", "k"}, {"m"}, "mul");
    m.node("Add", {"b", "m"}, {"a"}, "add"); // the constant first
    m.node("Relu", {"a"}, {"r"}, "relu");
    conv3x3(m, "r", "y", "conv2", 2, 2);
    m.output("y", {1, 2, 2, 3});
    auto [before, after] = importAndSink(m);
    EXPECT_EQ(countOps(before, OpKind::Transpose), 4);
    EXPECT_EQ(countOps(after, OpKind::Transpose), 2) << dumpGraph(after);
    const Operation& mul = onlyOp(after, OpKind::Mul);
    const Value& k = after.value(mul.operands[1]);
    EXPECT_EQ(k.name, "k");
    EXPECT_EQ(k.type.shape, (Shape{1, 2, 3, 2})); // [1, H, W, C]
    EXPECT_EQ(valuesOf(k), (std::vector<double>{0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11}));
    const Operation& add = onlyOp(after, OpKind::Add);
    const Value& b = after.value(add.operands[0]);
    EXPECT_EQ(b.name, "b");
    EXPECT_EQ(b.type.shape, (Shape{1, 1, 1, 2}));
    EXPECT_EQ(valuesOf(b), (std::vector<double>{0.5, -0.5}));
    EXPECT_EQ(producerOf(after, add.operands[1]).kind, OpKind::Mul);
}

TEST_F(LayoutTest, ASharedConstantStaysAndSoDoesItsTranspose) {
    OnnxModel m("shared");
    m.input("x", {1, 2, 3, 3});
    conv3x3(m, "x", "c", "conv1", 2, 2);
    m.initializer("b", {2, 1, 1}, {1, 2});
    m.node("Add", {"c", "b"}, {"a"}, "add");
    conv3x3(m, "a", "y", "conv2", 2, 2);
    m.node("Add", {"x", "b"}, {"z"}, "add_input");
    m.output("y", {1, 2, 3, 3});
    m.output("z", {1, 2, 3, 3});
    auto [before, after] = importAndSink(m);
    EXPECT_EQ(countOps(after, OpKind::Transpose), 4);
    for (const Operation* add : opsOf(after, OpKind::Add)) {
        EXPECT_EQ(after.value(add->operands[1]).type.shape, (Shape{2, 1, 1}));
    }
}

TEST_F(LayoutTest, TransposesThatCancelDisappear) {
    OnnxModel m("cancel");
    m.input("x", {1, 2, 3, 4});
    auto& t1 = m.node("Transpose", {"x"}, {"t1"});
    OnnxModel::attr(t1, "perm", std::vector<std::int64_t>{0, 2, 3, 1});
    auto& t2 = m.node("Transpose", {"t1"}, {"t2"});
    OnnxModel::attr(t2, "perm", std::vector<std::int64_t>{0, 3, 1, 2});
    m.node("Sigmoid", {"t2"}, {"y"});
    m.output("y", {1, 2, 3, 4});
    auto [before, after] = importAndSink(m);
    EXPECT_EQ(countOps(before, OpKind::Transpose), 2);
    EXPECT_EQ(countOps(after, OpKind::Transpose), 0);
    EXPECT_EQ(onlyOp(after, OpKind::Sigmoid).operands[0], after.inputs[0]);
}

TEST_F(LayoutTest, TransposesThatCancelIntoAnOutputLeaveAnAlias) {
    OnnxModel m("cancel_out");
    m.input("x", {1, 2, 3, 4});
    auto& t1 = m.node("Transpose", {"x"}, {"t1"});
    OnnxModel::attr(t1, "perm", std::vector<std::int64_t>{0, 2, 3, 1});
    auto& t2 = m.node("Transpose", {"t1"}, {"y"});
    OnnxModel::attr(t2, "perm", std::vector<std::int64_t>{0, 3, 1, 2});
    m.output("y", {1, 2, 3, 4});
    auto [before, after] = importAndSink(m);
    EXPECT_EQ(countOps(after, OpKind::Transpose), 0);
    const Operation& alias = onlyOp(after, OpKind::Reshape);
    EXPECT_EQ(alias.operands[0], after.inputs[0]);
    EXPECT_EQ(alias.results[0], after.outputs[0]);
}

TEST_F(LayoutTest, TransposesThatDoNotCancelCompose) {
    OnnxModel m("compose");
    m.input("x", {1, 2, 3, 4});
    auto& t1 = m.node("Transpose", {"x"}, {"t1"});
    OnnxModel::attr(t1, "perm", std::vector<std::int64_t>{0, 2, 3, 1}); // [1, 3, 4, 2]
    auto& t2 = m.node("Transpose", {"t1"}, {"t2"});
    OnnxModel::attr(t2, "perm", std::vector<std::int64_t>{0, 2, 1, 3}); // [1, 4, 3, 2]
    m.node("Abs", {"t2"}, {"y"});
    m.output("y", {1, 4, 3, 2});
    auto [before, after] = importAndSink(m);
    const Operation& t = onlyOp(after, OpKind::Transpose);
    EXPECT_EQ(attributeOf(t, "perms"), "array<i32: 0, 3, 2, 1>");
    EXPECT_EQ(t.results[0], after.outputs[0]) << "moved after the Abs";
    const Operation& abs = onlyOp(after, OpKind::Abs);
    EXPECT_EQ(abs.operands[0], after.inputs[0]);
}

TEST_F(LayoutTest, GraphsWithoutTransposesAreUntouched) {
    OnnxModel m("mlp");
    m.input("x", {2, 3});
    m.initializer("W", {3, 4}, ramp(12));
    m.node("MatMul", {"x", "W"}, {"h"});
    m.node("Relu", {"h"}, {"y"});
    m.output("y", {2, 4});
    auto [before, after] = importAndSink(m);
    EXPECT_EQ(dumpGraph(before), dumpGraph(after));
}

TEST_F(LayoutTest, ADeepResidualNetworkKeepsOnlyTheInputAndOutputTransposes) {
    // A stem conv, then 60 blocks: s -> conv -> relu -> conv -> add(., s) -> relu.
    OnnxModel m("resnet");
    m.input("x", {1, 3, 4, 4});
    conv3x3(m, "x", "stem", "conv_stem", 3, 4);
    const auto name = [](const char* prefix, int i) {
        std::string n(prefix);
        n.append(std::to_string(i));
        return n;
    };
    std::string s = "stem";
    for (int i = 0; i < 60; ++i) {
        conv3x3(m, s, name("a", i), name("conv_a", i), 4, 4);
        m.node("Relu", {name("a", i)}, {name("ra", i)});
        conv3x3(m, name("ra", i), name("b", i), name("conv_b", i), 4, 4);
        m.node("Add", {name("b", i), s}, {name("sum", i)});
        m.node("Relu", {name("sum", i)}, {name("s", i)});
        s = name("s", i);
    }
    m.node("Sigmoid", {s}, {"y"});
    m.output("y", {1, 4, 4, 4});
    auto [before, after] = importAndSink(m);
    EXPECT_EQ(countOps(before, OpKind::Transpose), 242);
    EXPECT_EQ(countOps(after, OpKind::Transpose), 2);
    EXPECT_EQ(countOps(after, OpKind::Add), 60);
    EXPECT_EQ(producerOf(after, after.outputs[0]).kind, OpKind::Transpose);
}

// Every model of the ONNX backend test data that imports: the pass leaves a well-formed graph
// that still compiles.
TEST(LayoutConformance, EveryImportableModelStaysWellFormedAndCompiles) {
    const std::filesystem::path root = "/usr/share/libonnx-testdata/data";
    if (!std::filesystem::is_directory(root))
        GTEST_SKIP() << root << " is not installed";
    std::vector<std::filesystem::path> models;
    for (const auto& group : std::filesystem::directory_iterator(root))
        if (group.is_directory())
            for (const auto& test : std::filesystem::directory_iterator(group.path()))
                if (std::filesystem::exists(test.path() / "model.onnx"))
                    models.push_back(test.path() / "model.onnx");
    std::ranges::sort(models);
    const auto start = std::chrono::steady_clock::now();
    int imported = 0, withTransposes = 0, changed = 0, removedTotal = 0;
    for (const auto& path : models) {
        auto g = importOnnxFile(path.string());
        if (!g)
            continue;
        ++imported;
        canonicalizeGraph(*g);
        const int transposes = countOps(*g, OpKind::Transpose);
        Graph after = *g;
        sinkTransposes(after);
        if (transposes == 0) {
            EXPECT_EQ(dumpGraph(after), dumpGraph(*g)) << path;
            continue;
        }
        ++withTransposes;
        // Only graphs that compile before the pass must compile after it.
        if (!wellFormed(*g) || !compiles(*g))
            continue;
        const int removed = transposes - countOps(after, OpKind::Transpose);
        EXPECT_GE(removed, 0) << path;
        removedTotal += removed;
        changed += dumpGraph(after) != dumpGraph(*g) ? 1 : 0;
        EXPECT_TRUE(wellFormed(after)) << path << "\n" << dumpGraph(after);
        EXPECT_TRUE(compiles(after)) << path;
        ASSERT_EQ(after.outputs.size(), g->outputs.size()) << path;
        for (std::size_t k = 0; k < g->outputs.size(); ++k) {
            EXPECT_EQ(after.value(after.outputs[k]).name, g->value(g->outputs[k]).name) << path;
            EXPECT_EQ(after.value(after.outputs[k]).type.shape, g->value(g->outputs[k]).type.shape)
                << path;
        }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << "[          ] " << imported << " of " << models.size() << " models imported, "
              << withTransposes << " with transposes, " << changed << " changed, " << removedTotal
              << " transposes removed (" << seconds << " s)\n";
    EXPECT_GT(imported, 0);
}

} // namespace
} // namespace kpu::ir
