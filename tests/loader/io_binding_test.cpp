// Binding --input / --expect values to a program (io_binding.h) as ONNX test runners do: by
// NAME=, by the name stored in a TensorProto, by position in the source graph's order; static
// inputs checked against the compiled value; shapes and dtypes; the --expect comparison; and
// prepareInputs with constants stored in the object (format 4.0).
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include <gtest/gtest.h>

#include "kpu/common/file_io.h"
#include "kpu/common/npy.h"
#include "kpu/common/onnx_tensor.h"
#include "kpu/compiler/compiler.h"
#include "kpu/loader/io_binding.h"
#include "kpu/loader/loader.h"
#include "support/dfg_writer.h"
#include "support/run_command.h"

namespace kpu::test {
namespace {

using loader::HostTensor;
using loader::ValueArg;

// s = x + y, p = x * w: inputs x and y, constant w, outputs s and p (2x3 f32 each).
std::string twoInputGraph() {
    DfgBuilder g("two_inputs");
    const DfgValue x = g.input("x", {2, 3});
    const DfgValue y = g.input("y", {2, 3});
    const DfgValue w = g.constant("w", {2, 3});
    const DfgValue s = g.node("ADD", {x, y}, {"s", {2, 3}});
    const DfgValue p = g.node("MUL", {x, w}, {"p", {2, 3}});
    g.output({s, p});
    return g.str();
}

template <class T>
std::vector<std::uint8_t> bytesOf(const std::vector<T>& values) {
    std::vector<std::uint8_t> bytes(values.size() * sizeof(T));
    std::memcpy(bytes.data(), values.data(), bytes.size());
    return bytes;
}

HostTensor f32(std::string name, Shape shape, std::vector<float> values) {
    return HostTensor{.name = std::move(name),
                      .dtype = DType::F32,
                      .shape = std::move(shape),
                      .data = bytesOf(values)};
}

HostTensor f32Fill(std::string name, Shape shape, float start) {
    std::vector<float> v(static_cast<std::size_t>(elementCount(shape).value()));
    for (std::size_t i = 0; i < v.size(); ++i)
        v[i] = start + static_cast<float>(i);
    return f32(std::move(name), std::move(shape), std::move(v));
}

ValueArg arg(std::string name, std::string path, HostTensor value) {
    return ValueArg{.name = std::move(name), .path = std::move(path), .value = std::move(value)};
}

std::uint32_t tensorIndex(const dfx::ProgramT& p, const std::string& name) {
    for (std::uint32_t i = 0; i < p.tensors.size(); ++i)
        if (p.tensors[i]->name == name)
            return i;
    ADD_FAILURE() << "no tensor " << name;
    return 0;
}

// A compiled program, optionally edited through the object API (static inputs, graph order,
// constant data) and serialized again.
class Built {
public:
    explicit Built(const std::string& dfgText,
                   const std::function<void(dfx::ProgramT&)>& edit = nullptr,
                   bool explicitOps = true)
        : dir_("io_binding") {
        const std::string dfg = dir_.file("g.dfg");
        EXPECT_TRUE(writeTextFile(dfg, dfgText));
        auto compiled = compiler::compileDfgFile(dfg, {.explicitOps = explicitOps});
        EXPECT_TRUE(compiled) << compiled.error().message;
        if (!compiled)
            return;
        if (edit)
            edit(compiled->program);
        bytes_ = compiler::serializeProgram(compiled->program);
    }
    const dfx::Program& program() const { return *dfx::GetProgram(bytes_.data()); }
    const std::vector<std::uint8_t>& bytes() const { return bytes_; }
    std::string file(const std::string& name) const { return dir_.file(name); }

private:
    ScratchDir dir_;
    std::vector<std::uint8_t> bytes_;
};

// x at 0, the static input "shape" (i64 [2] = {1, 6}) at 1, y at 2; outputs in the order p, s.
void addStaticShape(dfx::ProgramT& p) {
    auto s = std::make_unique<dfx::StaticInputT>();
    s->name = "shape";
    s->position = 1;
    s->dtype = dfx::DType::I64;
    s->shape = {2};
    s->data = bytesOf(std::vector<std::int64_t>{1, 6});
    p.static_inputs.push_back(std::move(s));
    p.graph_inputs = {tensorIndex(p, "x"), tensorIndex(p, "y")};
    p.graph_outputs = {tensorIndex(p, "p"), tensorIndex(p, "s")};
}

HostTensor shapeValue(std::vector<std::int64_t> v) {
    const auto n = static_cast<std::int64_t>(v.size());
    return HostTensor{.name = "", .dtype = DType::I64, .shape = {n}, .data = bytesOf(v)};
}

std::vector<std::string> names(const std::vector<loader::SourceInput>& inputs) {
    std::vector<std::string> out;
    for (const auto& in : inputs)
        out.push_back(in.name);
    return out;
}

std::string errorOf(const Expected<std::map<std::string, HostTensor>>& r) {
    return r ? std::string() : r.error().message;
}

TEST(IoBinding, SourceOrderWithoutGraphInputsIsTensorOrder) {
    Built b(twoInputGraph());
    const auto inputs = loader::sourceInputs(b.program());
    EXPECT_EQ(names(inputs), (std::vector<std::string>{"x", "y"}));
    for (const auto& in : inputs) {
        EXPECT_TRUE(in.tensor.has_value());
        EXPECT_FALSE(in.staticInput.has_value());
    }
    const auto outputs = loader::sourceOutputs(b.program());
    ASSERT_EQ(outputs.size(), 2u);
    EXPECT_EQ(b.program().tensors()->Get(outputs[0])->name()->str(), "s");
    EXPECT_EQ(b.program().tensors()->Get(outputs[1])->name()->str(), "p");
}

TEST(IoBinding, SourceOrderMergesStaticInputsAtTheirPositions) {
    Built b(twoInputGraph(), [](dfx::ProgramT& p) {
        addStaticShape(p);
        p.graph_inputs = {tensorIndex(p, "y"), tensorIndex(p, "x")}; // not tensor order
    });
    const auto inputs = loader::sourceInputs(b.program());
    EXPECT_EQ(names(inputs), (std::vector<std::string>{"y", "shape", "x"}));
    EXPECT_EQ(inputs[1].staticInput, std::optional<std::uint32_t>(0));
    const auto outputs = loader::sourceOutputs(b.program());
    ASSERT_EQ(outputs.size(), 2u);
    EXPECT_EQ(b.program().tensors()->Get(outputs[0])->name()->str(), "p");
}

TEST(IoBinding, BindsByNameStoredNameAndPosition) {
    Built b(twoInputGraph());
    // NAME=FILE, for an input and for a constant.
    std::vector<ValueArg> args;
    args.push_back(arg("y", "y.pb", f32Fill("", {2, 3}, 10)));
    args.push_back(arg("w", "w.npy", f32Fill("", {2, 3}, 20)));
    auto r = loader::bindInputs(b.program(), std::move(args));
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->size(), 2u);
    EXPECT_EQ(r->at("y").data, f32Fill("", {2, 3}, 10).data);
    EXPECT_EQ(r->at("y").name, "y");
    EXPECT_EQ(r->at("w").data, f32Fill("", {2, 3}, 20).data);

    // A bare file whose TensorProto name is an input or a constant binds to it, wherever it is
    // on the command line; unnamed files fill the remaining inputs in source order.
    args.clear();
    args.push_back(arg("", "first.pb", f32Fill("", {2, 3}, 1)));
    args.push_back(arg("", "x.pb", f32Fill("x", {2, 3}, 2)));
    args.push_back(arg("", "w.pb", f32Fill("w", {2, 3}, 3)));
    r = loader::bindInputs(b.program(), std::move(args));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->at("x").data, f32Fill("", {2, 3}, 2).data);
    EXPECT_EQ(r->at("y").data, f32Fill("", {2, 3}, 1).data) << "the unnamed file takes y";
    EXPECT_EQ(r->at("w").data, f32Fill("", {2, 3}, 3).data);

    // A stored name that is no input binds by position (ONNX runners go by position).
    args.clear();
    args.push_back(arg("", "a.pb", f32Fill("input_0", {2, 3}, 4)));
    args.push_back(arg("", "b.pb", f32Fill("s", {2, 3}, 5))); // an output's name
    r = loader::bindInputs(b.program(), std::move(args));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->at("x").data, f32Fill("", {2, 3}, 4).data);
    EXPECT_EQ(r->at("y").data, f32Fill("", {2, 3}, 5).data);

    // NAME= wins over the stored name.
    args.clear();
    args.push_back(arg("y", "a.pb", f32Fill("x", {2, 3}, 6)));
    r = loader::bindInputs(b.program(), std::move(args));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->size(), 1u);
    EXPECT_TRUE(r->contains("y"));
}

TEST(IoBinding, PositionalBindingFollowsTheSourceOrderWithStaticInputs) {
    Built b(twoInputGraph(), addStaticShape);
    std::vector<ValueArg> args;
    args.push_back(arg("", "0.pb", f32Fill("", {2, 3}, 1)));
    args.push_back(arg("", "1.pb", shapeValue({1, 6})));
    args.push_back(arg("", "2.pb", f32Fill("", {2, 3}, 2)));
    auto r = loader::bindInputs(b.program(), std::move(args));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->size(), 2u) << "a static input's value is checked, not bound";
    EXPECT_EQ(r->at("x").data, f32Fill("", {2, 3}, 1).data);
    EXPECT_EQ(r->at("y").data, f32Fill("", {2, 3}, 2).data);

    // By name too.
    args.clear();
    args.push_back(arg("shape", "s.npy", shapeValue({1, 6})));
    args.push_back(arg("", "s.pb", [] {
        HostTensor t = shapeValue({1, 6});
        t.name = "shape";
        return t;
    }()));
    r = loader::bindInputs(b.program(), std::move(args));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "s.pb: error: --input 'shape' is given twice (also by s.npy)");
}

TEST(IoBinding, StaticInputWithAnotherValueIsAnError) {
    Built b(twoInputGraph(), addStaticShape);
    std::vector<ValueArg> args;
    args.push_back(arg("shape", "shape.pb", shapeValue({1, 7})));
    auto r = loader::bindInputs(b.program(), std::move(args));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              "shape.pb: error: --input 'shape': the program was compiled for another value of "
              "this static input: i64, shape 2, values [1, 6]; this file holds i64, shape 2, "
              "values [1, 7] (recompile "
              "with the new value)");
    // Another dtype with the same numbers is another value too.
    args.clear();
    args.push_back(arg("shape", "shape.npy",
                       HostTensor{.name = "",
                                  .dtype = DType::I32,
                                  .shape = {2},
                                  .data = bytesOf(std::vector<std::int32_t>{1, 6})}));
    r = loader::bindInputs(b.program(), std::move(args));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("this file holds i32, shape 2, values [1, 6]"),
              std::string::npos)
        << r.error().message;
    // Long values are shown briefly.
    args.clear();
    args.push_back(arg("shape", "long.pb", shapeValue({1, 2, 3, 4, 5, 6, 7, 8, 9, 10})));
    r = loader::bindInputs(b.program(), std::move(args));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("i64, shape 10, values [1, 2, 3, 4, 5, 6, 7, 8, ...]"),
              std::string::npos)
        << r.error().message;
}

TEST(IoBinding, UnknownNamesTwiceAndTooManyAreErrors) {
    Built b(twoInputGraph());
    std::vector<ValueArg> args;
    args.push_back(arg("zz", "z.pb", f32Fill("", {2, 3}, 0)));
    EXPECT_EQ(errorOf(loader::bindInputs(b.program(), std::move(args))),
              "z.pb: error: --input 'zz': the object has no input or constant tensor of that "
              "name (it has: x, y, w)");
    args.clear();
    args.push_back(arg("s", "s.pb", f32Fill("", {2, 3}, 0))); // an output
    EXPECT_NE(errorOf(loader::bindInputs(b.program(), std::move(args)))
                  .find("--input 's': the object has no input or constant tensor"),
              std::string::npos);
    args.clear();
    args.push_back(arg("x", "a.pb", f32Fill("", {2, 3}, 0)));
    args.push_back(arg("", "b.pb", f32Fill("x", {2, 3}, 0)));
    EXPECT_EQ(errorOf(loader::bindInputs(b.program(), std::move(args))),
              "b.pb: error: --input 'x' is given twice (also by a.pb)");
    args.clear();
    for (const char* f : {"1.pb", "2.pb", "3.pb"})
        args.push_back(arg("", f, f32Fill("", {2, 3}, 0)));
    EXPECT_EQ(errorOf(loader::bindInputs(b.program(), std::move(args))),
              "3.pb: error: --input: no graph input is left for this file to bind to by position "
              "(the graph's inputs, in order: x, y; all are given)");

    Built withStatic(twoInputGraph(), addStaticShape);
    args.clear();
    args.push_back(arg("zz", "z.pb", f32Fill("", {2, 3}, 0)));
    EXPECT_EQ(errorOf(loader::bindInputs(withStatic.program(), std::move(args))),
              "z.pb: error: --input 'zz': the object has no input or constant tensor or static "
              "input of that name (it has: x, y, w; static inputs: shape)");
}

TEST(IoBinding, ShapesAndDTypesMustMatch) {
    Built b(twoInputGraph());
    std::vector<ValueArg> args;
    args.push_back(arg("x", "x.pb", f32Fill("", {3, 2}, 0)));
    EXPECT_EQ(errorOf(loader::bindInputs(b.program(), std::move(args))),
              "x.pb: error: input 'x' has shape 3x2, the tensor is 2x3");
    args.clear();
    args.push_back(arg("x", "x.npy",
                       HostTensor{.name = "",
                                  .dtype = DType::I32,
                                  .shape = {2, 3},
                                  .data = bytesOf(std::vector<std::int32_t>(6, 1))}));
    EXPECT_EQ(errorOf(loader::bindInputs(b.program(), std::move(args))),
              "x.npy: error: input 'x' holds i32 values, the tensor is f32 (only floating-point "
              "types are converted into each other)");
    args.clear();
    args.push_back(arg("x", "x.npy",
                       HostTensor{.name = "",
                                  .dtype = DType::F8E4M3,
                                  .shape = {2, 3},
                                  .data = std::vector<std::uint8_t>(6, 0x38)}));
    EXPECT_NE(errorOf(loader::bindInputs(b.program(), std::move(args))).find("holds f8 E4M3"),
              std::string::npos);

    // f64 for an f32 tensor: converted, rounding to nearest.
    args.clear();
    args.push_back(arg("x", "x64.pb",
                       HostTensor{.name = "",
                                  .dtype = DType::F64,
                                  .shape = {2, 3},
                                  .data = bytesOf(std::vector<double>{0.1, 1, 2, 3, 4, 1e300})}));
    auto r = loader::bindInputs(b.program(), std::move(args));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->at("x").dtype, DType::F32);
    std::vector<float> got(6);
    std::memcpy(got.data(), r->at("x").data.data(), 24);
    EXPECT_EQ(got[0], 0.1f);
    EXPECT_EQ(got[3], 3.0f);
    EXPECT_TRUE(std::isinf(got[5]));
}

TEST(IoBinding, AScalarBindsToAOneElementTensor) {
    DfgBuilder g("scalar");
    const DfgValue x = g.input("x", {1});
    const DfgValue y = g.node("RELU", {x}, {"y", {1}});
    g.output({y});
    Built b(g.str());
    std::vector<ValueArg> args;
    args.push_back(arg("", "x.pb", f32("", {}, {2.5f})));
    auto r = loader::bindInputs(b.program(), std::move(args));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->at("x").shape, (Shape{1}));
    args.clear();
    args.push_back(arg("", "x.pb", f32("", {2}, {2.5f, 1})));
    EXPECT_NE(errorOf(loader::bindInputs(b.program(), std::move(args)))
                  .find("input 'x' has shape 2, the tensor is 1"),
              std::string::npos);
}

TEST(IoBinding, BindsExpectedValues) {
    Built b(twoInputGraph(), addStaticShape); // outputs in source order: p, s
    std::vector<ValueArg> args;
    args.push_back(arg("", "out0.pb", f32Fill("", {2, 3}, 0)));
    args.push_back(arg("", "s.pb", f32Fill("s", {2, 3}, 1)));
    auto r = loader::bindExpected(b.program(), std::move(args));
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->size(), 2u);
    // The named one first, then the positional one: p is the first output s does not take.
    EXPECT_EQ(b.program().tensors()->Get((*r)[0].tensor)->name()->str(), "s");
    EXPECT_EQ((*r)[0].path, "s.pb");
    EXPECT_EQ(b.program().tensors()->Get((*r)[1].tensor)->name()->str(), "p");

    // An f64 reference keeps its dtype (the comparison reads double).
    args.clear();
    args.push_back(arg("p", "p64.pb",
                       HostTensor{.name = "",
                                  .dtype = DType::F64,
                                  .shape = {2, 3},
                                  .data = bytesOf(std::vector<double>(6, 0.1))}));
    r = loader::bindExpected(b.program(), std::move(args));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ((*r)[0].value.dtype, DType::F64);

    auto err = [&](ValueArg a) {
        std::vector<ValueArg> v;
        v.push_back(std::move(a));
        auto e = loader::bindExpected(b.program(), std::move(v));
        return e ? std::string() : e.error().message;
    };
    EXPECT_EQ(err(arg("q", "q.pb", f32Fill("", {2, 3}, 0))),
              "q.pb: error: --expect 'q': the object has no tensor of that name (its graph "
              "outputs: p, s)");
    EXPECT_EQ(err(arg("s", "s.pb", f32Fill("", {6}, 0))),
              "s.pb: error: expected value 's' has shape 6, the tensor is 2x3");
    EXPECT_EQ(err(arg("s", "s.pb",
                      HostTensor{.name = "",
                                 .dtype = DType::I64,
                                 .shape = {2, 3},
                                 .data = bytesOf(std::vector<std::int64_t>(6, 0))})),
              "s.pb: error: expected value 's' holds i64 values, the tensor is f32 (only "
              "floating-point types are converted into each other)");

    args.clear();
    for (const char* f : {"1.pb", "2.pb", "3.pb"})
        args.push_back(arg("", f, f32Fill("", {2, 3}, 0)));
    auto many = loader::bindExpected(b.program(), std::move(args));
    ASSERT_FALSE(many);
    EXPECT_EQ(many.error().message,
              "3.pb: error: --expect: no graph output is left for this file to bind to by "
              "position (the graph's outputs, in order: p, s; all are given)");
}

TEST(IoBinding, ExpectRefusesAnIntermediateThatNeverReachesExternalMemory) {
    auto text = readTextFile(std::string(KPU_SOURCE_DIR) + "/examples/mlp.dfg");
    ASSERT_TRUE(text);
    Built b(*text);
    std::vector<ValueArg> args;
    args.push_back(arg("h1", "h1.pb", f32Fill("", {8, 256}, 0)));
    auto r = loader::bindExpected(b.program(), std::move(args));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("h1.pb: error: --expect 'h1': this intermediate stays on chip "
                                     "or was fused away"),
              std::string::npos)
        << r.error().message;
}

TEST(IoBinding, CompareWithExpected) {
    const HostTensor e = f32("y", {2, 3}, {1, -2, 0, 100, 1e-7f, 5});
    // Within |a - e| <= 1e-5 + 1e-3 |e|.
    HostTensor a = f32("y", {2, 3}, {1.0009f, -2.001f, 9e-6f, 100.09f, 0, 5});
    auto c = loader::compareWithExpected(a, e);
    EXPECT_TRUE(c.pass());
    EXPECT_EQ(c.elements, 6u);
    EXPECT_EQ(c.mismatches, 0u);
    EXPECT_NEAR(c.maxAbsError, 0.09, 1e-5);
    EXPECT_NEAR(c.maxRelError, 1.0, 1e-6) << "0 for 1e-7: relative error 1";
    EXPECT_FALSE(c.firstMismatch);

    a = f32("y", {2, 3}, {1, -2, 2e-5f, 100, 1e-7f, 5.1f});
    c = loader::compareWithExpected(a, e);
    EXPECT_FALSE(c.pass());
    EXPECT_EQ(c.mismatches, 2u);
    ASSERT_TRUE(c.firstMismatch);
    EXPECT_EQ(c.firstMismatch->flatIndex, 2u);
    EXPECT_EQ(c.firstMismatch->index, (std::vector<std::int64_t>{0, 2}));
    EXPECT_EQ(c.firstMismatch->expected, 0.0);
    EXPECT_FLOAT_EQ(static_cast<float>(c.firstMismatch->actual), 2e-5f);
    EXPECT_NEAR(c.maxAbsError, 0.1, 1e-5);
    const std::string line = loader::formatExpectLine(c);
    EXPECT_NE(line.find("2 of 6 elements differ (rtol 0.001, atol 1e-05): FAIL; first at [0,2]"),
              std::string::npos)
        << line;

    // Looser tolerances pass it.
    c = loader::compareWithExpected(a, e, {.rtol = 0.05, .atol = 1e-4});
    EXPECT_TRUE(c.pass());
    EXPECT_NE(loader::formatExpectLine(c).find(": PASS"), std::string::npos);

    // NaN matches NaN and an infinity the same infinity; anything else non-finite does not.
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const float inf = std::numeric_limits<float>::infinity();
    const HostTensor special = f32("z", {4}, {nan, inf, -inf, 1});
    c = loader::compareWithExpected(f32("z", {4}, {nan, inf, -inf, 1}), special);
    EXPECT_TRUE(c.pass());
    EXPECT_EQ(c.maxAbsError, 0.0);
    c = loader::compareWithExpected(f32("z", {4}, {1, -inf, -inf, nan}), special);
    EXPECT_EQ(c.mismatches, 3u);
    EXPECT_TRUE(std::isinf(c.maxAbsError));
    EXPECT_EQ(c.firstMismatch->index, (std::vector<std::int64_t>{0}));
    EXPECT_TRUE(std::isnan(c.firstMismatch->expected));

    // An f64 reference against an f32 output.
    const HostTensor e64{.name = "y",
                         .dtype = DType::F64,
                         .shape = {2},
                         .data = bytesOf(std::vector<double>{0.1, 0.2})};
    c = loader::compareWithExpected(f32("y", {2}, {0.1f, 0.2f}), e64);
    EXPECT_TRUE(c.pass());
    EXPECT_GT(c.maxAbsError, 0.0);
}

TEST(IoBinding, ReadsValueFilesByContent) {
    ScratchDir dir("io_values");
    // .npy content under another extension, and a TensorProto with its name.
    ASSERT_TRUE(writeNpyFile(
        dir.file("a.bin"),
        NpyArray{.dtype = DType::F32, .shape = {2}, .data = f32("", {2}, {1, 2}).data}));
    auto npy = loader::readValueFile(dir.file("a.bin"));
    ASSERT_TRUE(npy) << npy.error().message;
    EXPECT_EQ(npy->name, "");
    EXPECT_EQ(npy->shape, (Shape{2}));
    ASSERT_TRUE(loader::writeValueFile(dir.file("b.pb"), f32("B", {1, 2}, {3, 4})));
    auto pb = loader::readValueFile(dir.file("b.pb"));
    ASSERT_TRUE(pb) << pb.error().message;
    EXPECT_EQ(pb->name, "B");
    EXPECT_EQ(pb->shape, (Shape{1, 2}));
    EXPECT_EQ(pb->data, f32("", {2}, {3, 4}).data);
    // writeValueFile: .npy unless .pb.
    ASSERT_TRUE(loader::writeValueFile(dir.file("c.npy"), f32("C", {2}, {5, 6})));
    EXPECT_TRUE(readNpyFile(dir.file("c.npy")));

    // A .npy name without the magic gets the .npy reader's error; other garbage the
    // TensorProto reader's.
    ASSERT_TRUE(writeTextFile(dir.file("bad.npy"), "hello"));
    auto bad = loader::readValueFile(dir.file("bad.npy"));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().message.rfind(dir.file("bad.npy") + ": error: ", 0), 0u);
    ASSERT_TRUE(writeTextFile(dir.file("bad.pb"), "\x93NUMPZ garbage"));
    bad = loader::readValueFile(dir.file("bad.pb"));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().message.rfind(dir.file("bad.pb") + ": error: ", 0), 0u)
        << bad.error().message;

    auto spec = loader::readValueArg("B=" + dir.file("b.pb"), "--input");
    ASSERT_TRUE(spec) << spec.error().message;
    EXPECT_EQ(spec->name, "B");
    EXPECT_EQ(spec->path, dir.file("b.pb"));
    spec = loader::readValueArg(dir.file("b.pb"), "--input");
    ASSERT_TRUE(spec) << spec.error().message;
    EXPECT_EQ(spec->name, "");
    EXPECT_EQ(spec->value.name, "B");
    for (const std::string s : {"=x.pb", "A=", ""}) {
        auto e = loader::readValueArg(s, "--expect");
        ASSERT_FALSE(e) << s;
        EXPECT_EQ(e.error().message, fmt::format("kpu-loader: error: --expect '{}': expected "
                                                 "NAME=FILE or FILE (.npy or ONNX .pb)",
                                                 s));
    }
    auto missing = loader::readValueArg("A=" + dir.file("missing.pb"), "--input");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().message,
              dir.file("missing.pb") + ": error: cannot open file: No such file or directory");
}

TEST(IoBinding, PrepareInputsTakesConstantsStoredInTheObject) {
    const std::vector<float> stored = {1, 2, 3, 4, 5, 6};
    Built b(twoInputGraph(),
            [&](dfx::ProgramT& p) { p.tensors[tensorIndex(p, "w")]->data = bytesOf(stored); });
    const std::uint32_t w = [&] {
        for (std::uint32_t i = 0; i < b.program().tensors()->size(); ++i)
            if (b.program().tensors()->Get(i)->name()->str() == "w")
                return i;
        return 0u;
    }();
    auto inputs = loader::prepareInputs(b.program(), {}, 1);
    ASSERT_TRUE(inputs) << inputs.error().message;
    EXPECT_EQ((*inputs)[w].data, bytesOf(stored));
    // A value given for it wins.
    std::map<std::string, HostTensor> given;
    given["w"] = f32Fill("w", {2, 3}, 9);
    inputs = loader::prepareInputs(b.program(), given, 1);
    ASSERT_TRUE(inputs) << inputs.error().message;
    EXPECT_EQ((*inputs)[w].data, f32Fill("", {2, 3}, 9).data);
    // Values are conformed: f64 is converted; a wrong shape or an unknown name is an error.
    given["w"] = HostTensor{.name = "w",
                            .dtype = DType::F64,
                            .shape = {2, 3},
                            .data = bytesOf(std::vector<double>{1, 2, 3, 4, 5, 6})};
    inputs = loader::prepareInputs(b.program(), given, 1);
    ASSERT_TRUE(inputs) << inputs.error().message;
    EXPECT_EQ((*inputs)[w].data, bytesOf(stored));
    given["w"] = f32Fill("w", {3, 2}, 9);
    inputs = loader::prepareInputs(b.program(), given, 1, "g.kpu");
    ASSERT_FALSE(inputs);
    EXPECT_EQ(inputs.error().message, "g.kpu: error: input 'w' has shape 3x2, the tensor is 2x3");
    given.clear();
    given["nope"] = f32Fill("nope", {2, 3}, 9);
    inputs = loader::prepareInputs(b.program(), given, 1, "g.kpu");
    ASSERT_FALSE(inputs);
    EXPECT_EQ(inputs.error().message, "g.kpu: error: --input 'nope': the object has no input or "
                                      "constant tensor of that name (it has: x, y, w)");

    // Stored data of the wrong size is refused, never read out of bounds.
    Built wrong(twoInputGraph(), [&](dfx::ProgramT& p) {
        p.tensors[tensorIndex(p, "w")]->data = bytesOf(std::vector<float>{1, 2, 3});
    });
    inputs = loader::prepareInputs(wrong.program(), {}, 1, "g.kpu");
    ASSERT_FALSE(inputs);
    EXPECT_NE(inputs.error().message.find("g.kpu: error: tensors["), std::string::npos);
    EXPECT_NE(inputs.error().message.find("'w': the object stores 12 bytes of data, the tensor "
                                          "(2x3 f32) has 24"),
              std::string::npos)
        << inputs.error().message;
}

// kpu-loader binds loaded objects: for TileLoops objects (what kpu-kernel-compiler writes)
// `program` is the loader's expansion, `stored` the object as written; the graph order and the
// static inputs are those of the object as stored.
TEST(IoBinding, LoadedObjectsBindInTheStoredGraphOrder) {
    Built b(twoInputGraph(), addStaticShape, /*explicitOps=*/false);
    const std::string path = b.file("t.kpu");
    ASSERT_TRUE(writeBinaryFile(path, b.bytes()));
    auto object = loader::loadObject(path);
    ASSERT_TRUE(object) << object.error().message;
    std::vector<ValueArg> args;
    args.push_back(arg("", "0.pb", f32Fill("", {2, 3}, 1)));
    args.push_back(arg("", "1.pb", shapeValue({1, 6})));
    args.push_back(arg("", "2.pb", f32Fill("", {2, 3}, 2)));
    auto inputs = loader::bindInputs(*object, std::move(args));
    ASSERT_TRUE(inputs) << inputs.error().message;
    EXPECT_EQ(inputs->at("y").data, f32Fill("", {2, 3}, 2).data);
    args.clear();
    args.push_back(arg("", "out0.pb", f32Fill("", {2, 3}, 0)));
    auto expected = loader::bindExpected(*object, std::move(args));
    ASSERT_TRUE(expected) << expected.error().message;
    EXPECT_EQ(object->program->tensors()->Get((*expected)[0].tensor)->name()->str(), "p");
}

} // namespace
} // namespace kpu::test
