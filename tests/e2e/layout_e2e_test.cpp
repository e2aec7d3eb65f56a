// sinkTransposes (layout.h) changes no result: ONNX models built here are imported, compiled
// before and after the pass, simulated and run by the reference executor on the same inputs,
// and every output must be bit-identical. Also the reference results of every model of the ONNX
// backend test data the pass changes.
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>

#include <gtest/gtest.h>

#include "kpu/common/file_io.h"
#include "kpu/compiler/canonicalize.h"
#include "kpu/compiler/compiler.h"
#include "kpu/compiler/layout.h"
#include "kpu/compiler/onnx_importer.h"
#include "kpu/loader/binder.h"
#include "kpu/loader/io_binding.h"
#include "kpu/loader/loader.h"
#include "support/onnx_model.h"
#include "support/run_command.h"

namespace kpu::test {
namespace {

int countTransposes(const ir::Graph& g) {
    return static_cast<int>(std::ranges::count(g.ops, ir::OpKind::Transpose, &ir::Operation::kind));
}

// The graph's inputs, filled with seeded values (by name, so both programs get the same).
std::map<std::string, loader::HostTensor> inputsFor(const ir::Graph& g) {
    std::map<std::string, loader::HostTensor> inputs;
    std::uint64_t stream = 0;
    for (ir::ValueId id : g.inputs) {
        const ir::Value& v = g.value(id);
        loader::HostTensor t{
            .name = v.name, .dtype = v.type.dtype, .shape = v.type.shape, .data = {}};
        loader::fillRandom(t, 7, stream++);
        inputs.emplace(v.name, std::move(t));
    }
    return inputs;
}

struct Outputs {
    std::vector<loader::HostTensor> simulated; // by output position
    std::vector<loader::HostTensor> reference;
};

// Compiles, binds and simulates `g` on `inputs`; the outputs simulated and from the reference.
::testing::AssertionResult run(const ir::Graph& g,
                               const std::map<std::string, loader::HostTensor>& inputs,
                               const std::string& path, bool simulate, Outputs& out) {
    auto compiled = compiler::compileGraph(g, path, {});
    if (!compiled)
        return ::testing::AssertionFailure() << compiled.error().message;
    if (!writeBinaryFile(path, compiled->object))
        return ::testing::AssertionFailure() << "cannot write " << path;
    auto object = loader::loadObject(path);
    if (!object)
        return ::testing::AssertionFailure() << object.error().message;
    const dfx::Program& program = *object->program;
    auto tensors = loader::prepareInputs(program, inputs, 1, path);
    if (!tensors)
        return ::testing::AssertionFailure() << tensors.error().message;
    auto reference = loader::executeReference(program, *tensors, path);
    if (!reference)
        return ::testing::AssertionFailure() << reference.error().message;
    const auto outputs = loader::sourceOutputs(program);
    for (std::uint32_t t : outputs)
        out.reference.push_back((*reference)[t]);
    if (!simulate)
        return ::testing::AssertionSuccess();
    const KpuConfig config = defaultConfig();
    auto schedule = loader::bindProgram(program, config, path);
    if (!schedule)
        return ::testing::AssertionFailure() << schedule.error().message;
    auto result = loader::simulate(program, *schedule, config, *tensors);
    if (!result)
        return ::testing::AssertionFailure() << result.error().message;
    for (std::uint32_t t : outputs)
        out.simulated.push_back(result->tensors[t]);
    return ::testing::AssertionSuccess();
}

::testing::AssertionResult sameTensors(const std::vector<loader::HostTensor>& a,
                                       const std::vector<loader::HostTensor>& b,
                                       std::string_view what) {
    if (a.size() != b.size())
        return ::testing::AssertionFailure()
               << what << ": " << a.size() << " outputs vs " << b.size();
    for (std::size_t k = 0; k < a.size(); ++k) {
        if (a[k].name != b[k].name || a[k].shape != b[k].shape || a[k].dtype != b[k].dtype)
            return ::testing::AssertionFailure()
                   << what << ": output " << k << " is '" << a[k].name << "' "
                   << formatShape(a[k].shape) << " before, '" << b[k].name << "' "
                   << formatShape(b[k].shape) << " after";
        if (a[k].data.empty() || a[k].data != b[k].data) {
            std::size_t first = 0;
            while (first < std::min(a[k].data.size(), b[k].data.size()) &&
                   a[k].data[first] == b[k].data[first])
                ++first;
            return ::testing::AssertionFailure()
                   << what << ": output '" << a[k].name << "' differs (" << a[k].data.size()
                   << " and " << b[k].data.size() << " bytes, first difference at byte " << first
                   << ")";
        }
    }
    return ::testing::AssertionSuccess();
}

std::vector<float> ramp(std::size_t n, float scale, int period = 11) {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i)
        v[i] = scale * static_cast<float>(static_cast<int>(i % static_cast<std::size_t>(period)) -
                                          period / 2);
    return v;
}

// A kxk Conv with weights W<name> and bias B<name>.
onnx::NodeProto& conv(OnnxModel& m, const std::string& in, const std::string& out,
                      const std::string& name, std::int64_t c, std::int64_t o, std::int64_t k = 3,
                      std::int64_t group = 1) {
    m.initializer("W" + name, {o, c / group, k, k},
                  ramp(static_cast<std::size_t>(o * (c / group) * k * k), 0.07f, 13));
    m.initializer("B" + name, {o}, ramp(static_cast<std::size_t>(o), 0.03f, 5));
    auto& n = m.node("Conv", {in, "W" + name, "B" + name}, {out}, name);
    const std::int64_t pad = k / 2;
    OnnxModel::attr(n, "pads", std::vector<std::int64_t>{pad, pad, pad, pad});
    if (group > 1)
        OnnxModel::attr(n, "group", group);
    return n;
}

struct Case {
    std::string name;
    std::function<void(OnnxModel&)> build;
    int transposesBefore, transposesAfter;
};

void PrintTo(const Case& c, std::ostream* os) {
    *os << c.name;
}

class LayoutE2e : public ::testing::TestWithParam<Case> {};

TEST_P(LayoutE2e, OutputsAreBitIdentical) {
    const Case& c = GetParam();
    ScratchDir dir("layout_" + c.name);
    OnnxModel m(c.name);
    c.build(m);
    m.save(dir.file("m.onnx"));
    auto g = ir::importOnnxFile(dir.file("m.onnx"));
    ASSERT_TRUE(g) << g.error().message;
    ir::canonicalizeGraph(*g);
    ir::Graph after = *g;
    ir::sinkTransposes(after);
    EXPECT_EQ(countTransposes(*g), c.transposesBefore);
    EXPECT_EQ(countTransposes(after), c.transposesAfter) << ir::dumpGraph(after);
    const auto inputs = inputsFor(*g);
    Outputs a, b;
    ASSERT_TRUE(run(*g, inputs, dir.file("before.kpu"), true, a));
    ASSERT_TRUE(run(after, inputs, dir.file("after.kpu"), true, b));
    EXPECT_TRUE(sameTensors(a.reference, b.reference, "reference"));
    EXPECT_TRUE(sameTensors(a.simulated, b.simulated, "simulated"));
}

void convReluConv(OnnxModel& m) {
    m.input("x", {1, 3, 9, 9});
    conv(m, "x", "c1", "conv1", 3, 8);
    m.node("Relu", {"c1"}, {"r1"});
    conv(m, "r1", "y", "conv2", 8, 6);
    m.output("y", {1, 6, 9, 9});
}

void convMaxPool(OnnxModel& m) {
    m.input("x", {2, 3, 8, 8});
    conv(m, "x", "c", "conv", 3, 5);
    auto& pool = m.node("MaxPool", {"c"}, {"p"});
    OnnxModel::attr(pool, "kernel_shape", std::vector<std::int64_t>{2, 2});
    OnnxModel::attr(pool, "strides", std::vector<std::int64_t>{2, 2});
    conv(m, "p", "y", "conv2", 5, 4, 1);
    m.output("y", {2, 4, 4, 4});
}

void residual(OnnxModel& m) {
    m.input("x", {1, 4, 7, 7});
    conv(m, "x", "c0", "conv0", 4, 8);
    m.node("Relu", {"c0"}, {"r0"});
    conv(m, "r0", "c1", "conv1", 8, 8);
    m.node("Relu", {"c1"}, {"r1"});
    conv(m, "r1", "c2", "conv2", 8, 8);
    m.node("Add", {"c2", "r0"}, {"s"});
    m.node("Relu", {"s"}, {"y"});
    m.output("y", {1, 8, 7, 7});
}

void convReluOutput(OnnxModel& m) {
    m.input("x", {1, 3, 6, 6});
    conv(m, "x", "c", "conv", 3, 4);
    m.node("Relu", {"c"}, {"y"});
    m.output("y", {1, 4, 6, 6});
}

void affine(OnnxModel& m) {
    // conv -> Mul k[C, H, W] -> Add b[C, 1, 1] -> Sigmoid -> conv, and Sub / Div by scalars.
    m.input("x", {1, 3, 5, 6});
    conv(m, "x", "c", "conv1", 3, 4);
    m.initializer("k", {4, 5, 6}, ramp(120, 0.125f, 17));
    m.initializer("b", {4, 1, 1}, {0.5f, -0.25f, 1, -1});
    m.initializer("s", {1}, {0.75f});
    m.node("Mul", {"c", "k"}, {"mk"});
    m.node("Add", {"b", "mk"}, {"a"});
    m.node("Sub", {"s", "a"}, {"d"});
    m.node("Sigmoid", {"d"}, {"sg"});
    conv(m, "sg", "y", "conv2", 4, 3);
    m.output("y", {1, 3, 5, 6});
}

void mobileBlock(OnnxModel& m) {
    // pointwise expand -> Clip 0..6 -> depthwise 3x3 -> Clip -> pointwise project, + input;
    // then an average pool, a Tanh and an output that is read again by a conv.
    m.initializer("lo", {}, {0});
    m.initializer("hi", {}, {6});
    m.input("x", {1, 4, 8, 8});
    conv(m, "x", "e", "expand", 4, 12, 1);
    m.node("Clip", {"e", "lo", "hi"}, {"e6"});
    conv(m, "e6", "d", "dw", 12, 12, 3, 12);
    m.node("Clip", {"d", "lo", "hi"}, {"d6"});
    conv(m, "d6", "p", "project", 12, 4, 1);
    m.node("Add", {"x", "p"}, {"s"});
    auto& pool = m.node("AveragePool", {"s"}, {"a"});
    OnnxModel::attr(pool, "kernel_shape", std::vector<std::int64_t>{2, 2});
    OnnxModel::attr(pool, "strides", std::vector<std::int64_t>{2, 2});
    m.node("Tanh", {"a"}, {"t"});
    conv(m, "t", "z", "head", 4, 2);
    m.output("t", {1, 4, 4, 4});
    m.output("z", {1, 2, 4, 4});
}

void transposeNodes(OnnxModel& m) {
    m.input("x", {1, 2, 3, 4});
    auto& t1 = m.node("Transpose", {"x"}, {"t1"});
    OnnxModel::attr(t1, "perm", std::vector<std::int64_t>{0, 2, 3, 1});
    auto& t2 = m.node("Transpose", {"t1"}, {"t2"});
    OnnxModel::attr(t2, "perm", std::vector<std::int64_t>{0, 2, 1, 3});
    m.node("Abs", {"t2"}, {"y"});
    auto& t3 = m.node("Transpose", {"y"}, {"t3"});
    OnnxModel::attr(t3, "perm", std::vector<std::int64_t>{0, 3, 2, 1});
    m.node("Exp", {"t3"}, {"z"});
    m.output("y", {1, 4, 3, 2});
    m.output("z", {1, 2, 3, 4});
}

INSTANTIATE_TEST_SUITE_P(Models, LayoutE2e,
                         ::testing::Values(Case{"conv_relu_conv", convReluConv, 4, 2},
                                           Case{"conv_maxpool_conv", convMaxPool, 6, 2},
                                           Case{"residual", residual, 6, 2},
                                           Case{"conv_relu", convReluOutput, 2, 2},
                                           Case{"affine", affine, 4, 2},
                                           Case{"mobile_block", mobileBlock, 10, 5},
                                           Case{"transpose_nodes", transposeNodes, 3, 1}),
                         [](const ::testing::TestParamInfo<Case>& p) { return p.param.name; });

// The reference results of every backend-test-data model the pass changes.
TEST(LayoutConformanceE2e, ChangedModelsComputeTheSameReferenceResults) {
    const std::filesystem::path root = "/usr/share/libonnx-testdata/data";
    if (!std::filesystem::is_directory(root))
        GTEST_SKIP() << root << " is not installed";
    ScratchDir dir("layout_conformance");
    int checked = 0;
    for (const auto& group : std::filesystem::directory_iterator(root))
        for (const auto& test : std::filesystem::directory_iterator(group.path())) {
            const auto path = test.path() / "model.onnx";
            if (!std::filesystem::exists(path))
                continue;
            auto g = ir::importOnnxFile(path.string());
            if (!g || countTransposes(*g) == 0)
                continue;
            ir::canonicalizeGraph(*g);
            ir::Graph after = *g;
            ir::sinkTransposes(after);
            if (ir::dumpGraph(after) == ir::dumpGraph(*g))
                continue;
            const auto inputs = inputsFor(*g);
            Outputs a, b;
            if (!run(*g, inputs, dir.file("before.kpu"), false, a))
                continue; // not runnable before the pass either
            EXPECT_TRUE(run(after, inputs, dir.file("after.kpu"), false, b)) << path;
            EXPECT_TRUE(sameTensors(a.reference, b.reference, path.string())) << path;
            ++checked;
        }
    std::cout << "[          ] " << checked << " changed models checked\n";
}

} // namespace
} // namespace kpu::test
