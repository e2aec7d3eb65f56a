// The disassembler (schema/disasm.h): stable text for golden tests, and JSON that carries every
// field of the object (checked by rebuilding the object from the JSON, byte for byte).
#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kpu/common/float_convert.h"
#include "kpu/compiler/compiler.h"
#include "kpu/loader/verifier.h"
#include "kpu/schema/disasm.h"
#include "kpu/schema/object.h"

namespace kpu::dfx {
namespace {

using Json = nlohmann::json;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---------------------------------------------------------------------------------------------
// Building objects by hand.

std::unique_ptr<TensorT> tensor(std::string name, std::vector<std::int64_t> shape, TensorRole role,
                                std::int64_t sourceNode, DType dtype = DType::F32,
                                std::int64_t aliasOf = -1) {
    auto t = std::make_unique<TensorT>();
    t->name = std::move(name);
    t->shape = std::move(shape);
    t->dtype = dtype;
    t->role = role;
    t->source_node = sourceNode;
    t->alias_of = aliasOf;
    return t;
}

Region region(std::array<std::uint32_t, 4> origin, std::array<std::uint32_t, 4> extent) {
    return Region(origin, extent);
}

Op move(MoveKind kind, MemoryLevel src, MemoryLevel dst, std::uint32_t tensorIndex, Region r) {
    return Op(OpKind::DataMove, kind, src, dst, 0, tensorIndex, r);
}

// Levels and regions as the compiler fills them: a compute op reads and writes L2, a barrier
// has a zero region, a reserve names its level as both source and destination.
Op compute(std::uint32_t kernelIndex, Region r, std::uint32_t flags = 0) {
    return Op(OpKind::Compute, MoveKind::Load, MemoryLevel::L2, MemoryLevel::L2, flags, kernelIndex,
              r);
}

Op barrier() {
    return Op(OpKind::Barrier, MoveKind::Load, MemoryLevel::External, MemoryLevel::External, 0, 0,
              Region());
}

Op reserve(MemoryLevel level, std::uint32_t tensorIndex, Region r) {
    return Op(OpKind::Reserve, MoveKind::Load, level, level, 0, tensorIndex, r);
}

void setDeps(ProgramT& p, const std::vector<std::vector<std::uint32_t>>& deps) {
    p.dep_offsets = {0};
    p.dep_indices.clear();
    for (const auto& list : deps) {
        p.dep_indices.insert(p.dep_indices.end(), list.begin(), list.end());
        p.dep_offsets.push_back(static_cast<std::uint32_t>(p.dep_indices.size()));
    }
}

std::unique_ptr<KernelParamsT> params() {
    return std::make_unique<KernelParamsT>();
}

std::unique_ptr<GraphNodeT> graphNode(KernelKind kind, std::string name, std::int64_t sourceNode,
                                      std::vector<std::uint32_t> inputs, std::uint32_t output,
                                      std::unique_ptr<KernelParamsT> nodeParams = nullptr) {
    auto n = std::make_unique<GraphNodeT>();
    n->kind = kind;
    n->name = std::move(name);
    n->source_node = sourceNode;
    n->inputs = std::move(inputs);
    n->output = output;
    n->params = std::move(nodeParams);
    return n;
}

// C[4x4] = A[4x16] x B[16x4], K split in two so the second compute accumulates.
ProgramT matmulProgram() {
    ProgramT p;
    p.format_major = kFormatMajor;
    p.format_minor = kFormatMinor;
    p.producer = "kpu-kernel-compiler 0.1.0";
    p.source_graph = "non-batched-2-input-matmul";
    p.source_file = "examples/matmul.dfg";
    p.tensors.push_back(tensor("A", {4, 16}, TensorRole::Constant, 0));
    p.tensors.push_back(tensor("B", {16, 4}, TensorRole::Input, 1));
    p.tensors.push_back(tensor("Cout", {4, 4}, TensorRole::Output, 3));

    auto k = std::make_unique<KernelT>();
    k->name = "MATMUL#3";
    k->source_node = 3;
    k->inputs = {0, 1};
    k->output = 2;
    k->iteration_space = {1, 4, 4, 16};
    k->input_batched = {1, 0};
    for (auto level : {MemoryLevel::L3, MemoryLevel::L2}) {
        auto tiling = std::make_unique<LevelTilingT>();
        tiling->level = level;
        tiling->tile = {1, 4, 4, level == MemoryLevel::L3 ? 16u : 8u};
        k->tilings.push_back(std::move(tiling));
    }
    k->dataflow = Dataflow::OutputStationary;
    k->loop_order = {0, 1, 2, 3};
    k->first_op = 0;
    k->op_count = 10;
    p.kernels.push_back(std::move(k));

    using L = MemoryLevel;
    p.ops = {
        move(MoveKind::Load, L::External, L::L3, 0, region({0, 0, 0, 0}, {1, 1, 4, 16})),
        move(MoveKind::Load, L::L3, L::L2, 0, region({0, 0, 0, 0}, {1, 1, 4, 16})),
        move(MoveKind::Load, L::External, L::L3, 1, region({0, 0, 0, 0}, {1, 1, 16, 4})),
        move(MoveKind::Load, L::L3, L::L2, 1, region({0, 0, 0, 0}, {1, 1, 8, 4})),
        move(MoveKind::Prefetch, L::L3, L::L2, 1, region({0, 0, 8, 0}, {1, 1, 8, 4})),
        compute(0, region({0, 0, 0, 0}, {1, 4, 4, 8})),
        compute(0, region({0, 0, 0, 8}, {1, 4, 4, 8}), 1),
        move(MoveKind::Store, L::L2, L::L3, 2, region({0, 0, 0, 0}, {1, 1, 4, 4})),
        move(MoveKind::Flush, L::L3, L::External, 2, region({0, 0, 0, 0}, {1, 1, 4, 4})),
        barrier(),
    };
    setDeps(p, {{}, {0}, {}, {2}, {2}, {1, 3}, {4, 5}, {6}, {7}, {0, 1, 2, 3, 4, 5, 6, 7, 8}});

    p.hints = std::make_unique<HintsT>();
    p.hints->external_bytes = 384;
    p.hints->compute_cycles = 112;
    p.hints->macs = 256;
    p.hints->parallelism = 1;
    p.hints->target_config = "default";
    p.hints->array_rows = 16;
    p.hints->array_cols = 16;
    return p;
}

// A format-2.0 object using every addition: y = relu(x W + b) as one fused kernel whose output
// lives in L3 (a reserve op), a flattened alias of the output, and the source graph's nodes.
ProgramT fusedProgram() {
    ProgramT p;
    p.format_major = kFormatMajor;
    p.format_minor = kFormatMinor;
    p.producer = "kpu-kernel-compiler 0.1.0";
    p.source_graph = "fused";
    p.source_file = "fused.dfg";
    p.tensors.push_back(tensor("x", {4, 16}, TensorRole::Input, 0));
    p.tensors.push_back(tensor("W", {16, 8}, TensorRole::Constant, 1));
    p.tensors.push_back(tensor("b", {8}, TensorRole::Constant, 2));
    p.tensors.push_back(tensor("y", {4, 8}, TensorRole::Intermediate, 5));
    p.tensors.push_back(tensor("y.flat", {32}, TensorRole::Output, 6, DType::F32, 3));

    auto k = std::make_unique<KernelT>();
    k->name = "fc#3";
    k->source_node = 3;
    k->kind = KernelKind::MatMul;
    k->inputs = {0, 1, 2};
    k->output = 3;
    k->iteration_space = {1, 4, 8, 16};
    k->input_batched = {0, 0, 0};
    for (auto level : {MemoryLevel::L3, MemoryLevel::L2}) {
        auto tiling = std::make_unique<LevelTilingT>();
        tiling->level = level;
        tiling->tile = {1, 4, 8, 8};
        k->tilings.push_back(std::move(tiling));
    }
    k->loop_order = {0, 1, 2, 3};
    k->first_op = 1;
    k->op_count = 8;
    k->params = params();
    k->params->bias_input = 2;
    k->params->activation = Activation::Relu;
    p.kernels.push_back(std::move(k));

    auto fcParams = params();
    fcParams->bias_input = 2;
    p.graph.push_back(
        graphNode(KernelKind::FullyConnected, "fc", 3, {0, 1, 2}, 3, std::move(fcParams)));
    p.graph.push_back(graphNode(KernelKind::Relu, "fc.relu", 5, {3}, 3));
    // An empty name is not stored by the object API, so it prints as absent ("-").
    p.graph.push_back(graphNode(KernelKind::Reshape, "", -1, {3}, 4));

    using L = MemoryLevel;
    p.ops = {
        reserve(L::L3, 3, region({0, 0, 0, 0}, {1, 1, 4, 8})),
        move(MoveKind::Load, L::External, L::L3, 0, region({0, 0, 0, 0}, {1, 1, 4, 16})),
        move(MoveKind::Load, L::L3, L::L2, 0, region({0, 0, 0, 0}, {1, 1, 4, 16})),
        move(MoveKind::Load, L::External, L::L3, 1, region({0, 0, 0, 0}, {1, 1, 16, 8})),
        move(MoveKind::Load, L::L3, L::L2, 1, region({0, 0, 0, 0}, {1, 1, 16, 8})),
        move(MoveKind::Load, L::External, L::L2, 2, region({0, 0, 0, 0}, {1, 1, 1, 8})),
        compute(0, region({0, 0, 0, 0}, {1, 4, 8, 8})),
        compute(0, region({0, 0, 0, 8}, {1, 4, 8, 8}), kAccumulateFlag | kEpilogueFlag),
        move(MoveKind::Flush, L::L2, L::L3, 3, region({0, 0, 0, 0}, {1, 1, 4, 8})),
        barrier(),
    };
    setDeps(p, {{}, {}, {1}, {}, {3}, {}, {2, 4, 5}, {6}, {0, 7}, {8}});

    p.hints = std::make_unique<HintsT>();
    p.hints->external_bytes = 800;
    p.hints->compute_cycles = 40;
    p.hints->macs = 512;
    p.hints->parallelism = 1;
    p.hints->target_config = "default";
    p.hints->array_rows = 16;
    p.hints->array_cols = 16;
    return p;
}

std::vector<std::uint8_t> serialize(const ProgramT& p) {
    flatbuffers::FlatBufferBuilder b;
    FinishProgramBuffer(b, Program::Pack(b, &p));
    return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

// Serialized bytes kept alive with the Program view into them.
struct Object {
    std::vector<std::uint8_t> bytes;
    const Program& program() const { return *GetProgram(bytes.data()); }
};

Object objectOf(const ProgramT& p) {
    return Object{serialize(p)};
}

DisasmOptions only(std::initializer_list<DisasmSection> sections) {
    DisasmOptions options;
    options.sections = 0;
    for (auto s : sections)
        options.sections |= static_cast<unsigned>(s);
    return options;
}

std::vector<std::string> linesOf(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        lines.push_back(line);
    return lines;
}

// One kernel of `kind` over a [4 x 10] input (iteration space and loop order as given), with
// `kernelParams` (null: no params table); returns the kernels section.
std::string kernelText(KernelKind kind, std::unique_ptr<KernelParamsT> kernelParams,
                       std::vector<std::uint32_t> space = {1, 1, 4, 10},
                       std::vector<std::uint8_t> loopOrder = {0, 1, 2, 3}) {
    ProgramT p;
    p.format_major = kFormatMajor;
    p.format_minor = kFormatMinor;
    p.tensors.push_back(tensor("in", {4, 10}, TensorRole::Input, 0));
    p.tensors.push_back(tensor("out", {4, 10}, TensorRole::Output, 1));
    auto k = std::make_unique<KernelT>();
    k->name = "k";
    k->source_node = 1;
    k->kind = kind;
    k->inputs = {0};
    k->output = 1;
    k->iteration_space = std::move(space);
    k->loop_order = std::move(loopOrder);
    k->params = std::move(kernelParams);
    p.kernels.push_back(std::move(k));
    setDeps(p, {});
    const Object object = objectOf(p);
    return disassembleText(object.program(), only({DisasmSection::Kernels}));
}

// The params line of that kernel, or "" when none is printed.
std::string paramsLine(KernelKind kind, std::unique_ptr<KernelParamsT> kernelParams) {
    const auto lines = linesOf(kernelText(kind, std::move(kernelParams)));
    EXPECT_TRUE(lines.size() == 4 || lines.size() == 5) << lines.size() << " lines";
    return lines.size() == 5 ? lines[2] : std::string();
}

// ---------------------------------------------------------------------------------------------
// Rebuilding a ProgramT from the JSON: if the result serializes to the same bytes, the JSON
// carried every field.

template <class E>
E enumByName(const std::string& name, const std::map<std::string, E>& names) {
    auto it = names.find(name);
    EXPECT_NE(it, names.end()) << "unknown enum spelling '" << name << "'";
    return it == names.end() ? E{} : it->second;
}

MemoryLevel levelOf(const Json& j) {
    return enumByName<MemoryLevel>(j, {{"external", MemoryLevel::External},
                                       {"l3", MemoryLevel::L3},
                                       {"l2", MemoryLevel::L2},
                                       {"l1", MemoryLevel::L1}});
}

KernelKind kindOf(const Json& j) {
    return enumByName<KernelKind>(j, {{"matmul", KernelKind::MatMul},
                                      {"add", KernelKind::Add},
                                      {"sub", KernelKind::Sub},
                                      {"mul", KernelKind::Mul},
                                      {"div", KernelKind::Div},
                                      {"exp", KernelKind::Exp},
                                      {"reciprocal", KernelKind::Reciprocal},
                                      {"sigmoid", KernelKind::Sigmoid},
                                      {"relu", KernelKind::Relu},
                                      {"clamp", KernelKind::Clamp},
                                      {"gelu", KernelKind::Gelu},
                                      {"tanh", KernelKind::Tanh},
                                      {"negate", KernelKind::Negate},
                                      {"abs", KernelKind::Abs},
                                      {"transpose", KernelKind::Transpose},
                                      {"concat", KernelKind::Concat},
                                      {"pad", KernelKind::Pad},
                                      {"reduce_sum", KernelKind::ReduceSum},
                                      {"reduce_max", KernelKind::ReduceMax},
                                      {"reduce_min", KernelKind::ReduceMin},
                                      {"softmax", KernelKind::Softmax},
                                      {"layernorm", KernelKind::LayerNorm},
                                      {"maxpool2d", KernelKind::MaxPool2D},
                                      {"avgpool2d", KernelKind::AvgPool2D},
                                      {"depthwise_conv2d", KernelKind::DepthwiseConv2D},
                                      {"im2col", KernelKind::Im2Col},
                                      {"conv2d", KernelKind::Conv2D},
                                      {"fc", KernelKind::FullyConnected},
                                      {"reshape", KernelKind::Reshape}});
}

std::string stringOr(const Json& j) {
    return j.is_null() ? std::string() : j.get<std::string>();
}

// A double, or one of the strings non-finite values are written as.
double numberOf(const Json& j) {
    if (j.is_string()) {
        const std::string s = j;
        EXPECT_TRUE(s == "inf" || s == "-inf" || s == "nan") << s;
        return s == "nan" ? kNaN : s == "-inf" ? -kInf : kInf;
    }
    return j.get<double>();
}

std::unique_ptr<KernelParamsT> paramsFromJson(const Json& j) {
    if (j.is_null())
        return nullptr;
    auto p = params();
    p->axis = j.at("axis");
    p->perm = j.at("perm").get<std::vector<std::uint8_t>>();
    p->window = j.at("window").get<std::vector<std::uint32_t>>();
    p->padding = j.at("padding").get<std::vector<std::uint32_t>>();
    p->min = numberOf(j.at("min"));
    p->max = numberOf(j.at("max"));
    p->epsilon = numberOf(j.at("epsilon"));
    p->pad_value = numberOf(j.at("pad_value"));
    p->transpose_b = j.at("transpose_b");
    p->bias_input = j.at("bias_input");
    p->activation = enumByName<Activation>(j.at("activation"), {{"none", Activation::None},
                                                                {"relu", Activation::Relu},
                                                                {"clamp", Activation::Clamp},
                                                                {"sigmoid", Activation::Sigmoid},
                                                                {"gelu", Activation::Gelu},
                                                                {"tanh", Activation::Tanh}});
    return p;
}

std::unique_ptr<TensorT> tensorFromJson(const Json& j) {
    auto t = std::make_unique<TensorT>();
    t->name = j.at("name");
    t->shape = j.at("shape").get<std::vector<std::int64_t>>();
    t->dtype = enumByName<DType>(j.at("dtype"), {{"f32", DType::F32},
                                                 {"f16", DType::F16},
                                                 {"f64", DType::F64},
                                                 {"f8", DType::F8E4M3},
                                                 {"i8", DType::I8},
                                                 {"i32", DType::I32}});
    t->role = enumByName<TensorRole>(j.at("role"), {{"input", TensorRole::Input},
                                                    {"constant", TensorRole::Constant},
                                                    {"output", TensorRole::Output},
                                                    {"intermediate", TensorRole::Intermediate}});
    t->source_node = j.at("source_node");
    t->alias_of = j.at("alias_of");
    return t;
}

std::unique_ptr<KernelT> kernelFromJson(const Json& j) {
    auto k = std::make_unique<KernelT>();
    k->name = j.at("name");
    k->source_node = j.at("source_node");
    k->kind = kindOf(j.at("kind"));
    k->inputs = j.at("inputs").get<std::vector<std::uint32_t>>();
    k->output = j.at("output");
    k->iteration_space = j.at("iteration_space").get<std::vector<std::uint32_t>>();
    k->input_batched = j.at("input_batched").get<std::vector<std::uint8_t>>();
    for (const auto& lt : j.at("tilings")) {
        auto tiling = std::make_unique<LevelTilingT>();
        tiling->level = levelOf(lt.at("level"));
        tiling->tile = lt.at("tile").get<std::vector<std::uint32_t>>();
        k->tilings.push_back(std::move(tiling));
    }
    k->dataflow =
        enumByName<Dataflow>(j.at("dataflow"), {{"output-stationary", Dataflow::OutputStationary},
                                                {"weight-stationary", Dataflow::WeightStationary},
                                                {"input-stationary", Dataflow::InputStationary}});
    k->loop_order = j.at("loop_order").get<std::vector<std::uint8_t>>();
    k->first_op = j.at("first_op");
    k->op_count = j.at("op_count");
    k->params = paramsFromJson(j.at("params"));
    k->ops_encoding =
        enumByName<OpsEncoding>(j.at("ops_encoding"), {{"explicit", OpsEncoding::Explicit},
                                                       {"tile-loops", OpsEncoding::TileLoops}});
    for (const auto& level : j.at("input_levels"))
        k->input_levels.push_back(levelOf(level));
    k->input_ready = j.at("input_ready").get<std::vector<std::int64_t>>();
    k->output_level = levelOf(j.at("output_level"));
    return k;
}

std::unique_ptr<GraphNodeT> graphNodeFromJson(const Json& j) {
    auto n = std::make_unique<GraphNodeT>();
    n->kind = kindOf(j.at("kind"));
    n->name = stringOr(j.at("name"));
    n->source_node = j.at("source_node");
    n->inputs = j.at("inputs").get<std::vector<std::uint32_t>>();
    n->output = j.at("output");
    n->params = paramsFromJson(j.at("params"));
    return n;
}

Op opFromJson(const Json& j) {
    const std::string kind = j.at("kind");
    const std::uint32_t flags = j.at("flags");
    const Region r(j.at("region").at("origin").get<std::array<std::uint32_t, 4>>(),
                   j.at("region").at("extent").get<std::array<std::uint32_t, 4>>());
    const MemoryLevel src = levelOf(j.at("src"));
    const MemoryLevel dst = levelOf(j.at("dst"));
    if (kind == "barrier")
        return Op(OpKind::Barrier, MoveKind::Load, src, dst, flags, 0, r);
    if (kind == "compute") {
        EXPECT_EQ(j.at("accumulate").get<bool>(), (flags & kAccumulateFlag) != 0);
        EXPECT_EQ(j.at("epilogue").get<bool>(), (flags & kEpilogueFlag) != 0);
        return Op(OpKind::Compute, MoveKind::Load, src, dst, flags, j.at("kernel"), r);
    }
    if (kind == "reserve") {
        EXPECT_FALSE(j.contains("move"));
        return Op(OpKind::Reserve, MoveKind::Load, src, dst, flags, j.at("tensor"), r);
    }
    EXPECT_EQ(kind, "data-move");
    const auto moveKind = enumByName<MoveKind>(j.at("move"), {{"load", MoveKind::Load},
                                                              {"prefetch", MoveKind::Prefetch},
                                                              {"store", MoveKind::Store},
                                                              {"flush", MoveKind::Flush}});
    return Op(OpKind::DataMove, moveKind, src, dst, flags, j.at("tensor"), r);
}

ProgramT programFromJson(const Json& j) {
    ProgramT p;
    p.format_major = j.at("format").at("major");
    p.format_minor = j.at("format").at("minor");
    p.producer = stringOr(j.at("producer"));
    p.source_graph = stringOr(j.at("source_graph"));
    p.source_file = stringOr(j.at("source_file"));
    for (const auto& t : j.at("tensors"))
        p.tensors.push_back(tensorFromJson(t));
    for (const auto& k : j.at("kernels"))
        p.kernels.push_back(kernelFromJson(k));
    for (const auto& n : j.at("graph")) {
        EXPECT_EQ(n.at("index").get<std::size_t>(), p.graph.size());
        p.graph.push_back(graphNodeFromJson(n));
    }
    std::vector<std::vector<std::uint32_t>> deps;
    for (const auto& op : j.at("ops")) {
        EXPECT_EQ(op.at("index").get<std::size_t>(), p.ops.size());
        p.ops.push_back(opFromJson(op));
        deps.push_back(op.at("deps").get<std::vector<std::uint32_t>>());
    }
    setDeps(p, deps);
    p.graph_inputs = j.at("graph_inputs").get<std::vector<std::uint32_t>>();
    p.graph_outputs = j.at("graph_outputs").get<std::vector<std::uint32_t>>();
    for (const auto& s : j.at("static_inputs")) {
        auto input = std::make_unique<StaticInputT>();
        input->name = s.at("name");
        input->position = s.at("position");
        input->dtype = toDType(*parseDType(s.at("dtype").get<std::string>()));
        input->shape = s.at("shape").get<std::vector<std::int64_t>>();
        const auto values = s.at("values").get<std::vector<double>>();
        input->data.resize(values.size() * dtypeSize(fromDType(input->dtype)));
        convertFromF64(fromDType(input->dtype), values.data(), input->data.data(), values.size());
        p.static_inputs.push_back(std::move(input));
    }
    if (const auto& h = j.at("hints"); !h.is_null()) {
        p.hints = std::make_unique<HintsT>();
        p.hints->external_bytes = h.at("external_bytes");
        p.hints->compute_cycles = h.at("compute_cycles");
        p.hints->macs = h.at("macs");
        p.hints->parallelism = h.at("parallelism");
        p.hints->target_config = stringOr(h.at("target_config"));
        p.hints->array_rows = h.at("array_rows");
        p.hints->array_cols = h.at("array_cols");
    }
    return p;
}

// ---------------------------------------------------------------------------------------------
// Text.

TEST(DisasmText, MatMulGolden) {
    const Object object = objectOf(matmulProgram());
    DisasmOptions options;
    options.fileSize = 1234;
    const std::string expected = R"(; KPU object  format 4.0  producer "kpu-kernel-compiler 0.1.0"
; source graph "non-batched-2-input-matmul"  file "examples/matmul.dfg"  size 1234 bytes
; 3 tensors  1 kernel  10 ops  18 deps  0 graph nodes
tensors (3):
  #0  A     4x16  f32  constant  src-node 0  256 B
  #1  B     16x4  f32  input     src-node 1  256 B
  #2  Cout  4x4   f32  output    src-node 3  64 B
kernels (1):
  k0  MATMUL#3  matmul  node 3  inputs [#0 A, #1 B]  output #2 Cout
      iteration [batch 1, M 4, N 4, K 16]  dataflow output-stationary  loop-order b,m,n,k
      tiling L3 [1, 4, 4, 16]  L2 [1, 4, 4, 8]  ops 0..9 (10)
graph (0 nodes):
ops (10):
  0  load      EXT -> L3  #0 A         [0,0,0:4,0:16]               deps -
  1  load      L3 -> L2   #0 A         [0,0,0:4,0:16]               deps 0
  2  load      EXT -> L3  #1 B         [0,0,0:16,0:4]               deps -
  3  load      L3 -> L2   #1 B         [0,0,0:8,0:4]                deps 2
  4  prefetch  L3 -> L2   #1 B         [0,0,8:16,0:4]               deps 2
  5  compute   L2         k0 MATMUL#3  b=0 m=0:4 n=0:4 k=0:8        deps 1,3
  6  compute   L2         k0 MATMUL#3  b=0 m=0:4 n=0:4 k=8:16  acc  deps 4,5
  7  store     L2 -> L3   #2 Cout      [0,0,0:4,0:4]                deps 6
  8  flush     L3 -> EXT  #2 Cout      [0,0,0:4,0:4]                deps 7
  9  barrier                                                        deps 0-8
hints:
  external-bytes  384
  compute-cycles  112
  macs            256
  parallelism     1
  target          "default"  array 16x16
)";
    EXPECT_EQ(disassembleText(object.program(), options), expected);
}

// Every format-2.0 addition at once: alias, fused params, graph, reserve, acc + epilogue.
TEST(DisasmText, FusedGolden) {
    const Object object = objectOf(fusedProgram());
    const std::string expected = R"(; KPU object  format 4.0  producer "kpu-kernel-compiler 0.1.0"
; source graph "fused"  file "fused.dfg"
; 5 tensors  1 kernel  10 ops  9 deps  3 graph nodes
tensors (5):
  #0  x       4x16  f32  input         src-node 0  256 B
  #1  W       16x8  f32  constant      src-node 1  512 B
  #2  b       8     f32  constant      src-node 2  32 B
  #3  y       4x8   f32  intermediate  src-node 5  128 B
  #4  y.flat  32    f32  output        src-node 6  128 B  alias of #3 y
kernels (1):
  k0  fc#3  matmul  node 3  inputs [#0 x, #1 W, #2 b]  output #3 y
      params: bias=input 2 activation=relu
      iteration [batch 1, M 4, N 8, K 16]  dataflow output-stationary  loop-order b,m,n,k
      tiling L3 [1, 4, 8, 8]  L2 [1, 4, 8, 8]  ops 1..8 (8)
graph (3 nodes):
  g0  fc       fc       node 3  [#0 x, #1 W, #2 b] -> #3 y  params: bias=input 2
  g1  relu     fc.relu  node 5  [#3 y] -> #3 y
  g2  reshape  -        node -  [#3 y] -> #4 y.flat
ops (10):
  0  reserve  L3         #3 y     [0,0,0:4,0:8]                         deps -
  1  load     EXT -> L3  #0 x     [0,0,0:4,0:16]                        deps -
  2  load     L3 -> L2   #0 x     [0,0,0:4,0:16]                        deps 1
  3  load     EXT -> L3  #1 W     [0,0,0:16,0:8]                        deps -
  4  load     L3 -> L2   #1 W     [0,0,0:16,0:8]                        deps 3
  5  load     EXT -> L2  #2 b     [0,0,0,0:8]                           deps -
  6  compute  L2         k0 fc#3  b=0 m=0:4 n=0:8 k=0:8                 deps 2,4,5
  7  compute  L2         k0 fc#3  b=0 m=0:4 n=0:8 k=8:16  acc epilogue  deps 6
  8  flush    L2 -> L3   #3 y     [0,0,0:4,0:8]                         deps 0,7
  9  barrier                                                            deps 8
hints:
  external-bytes  800
  compute-cycles  40
  macs            512
  parallelism     1
  target          "default"  array 16x16
)";
    EXPECT_EQ(disassembleText(object.program(), {}), expected);
}

TEST(DisasmText, IsDeterministicAndOmitsSizeWhenUnknown) {
    const Object object = objectOf(fusedProgram());
    const std::string first = disassembleText(object.program(), {});
    EXPECT_EQ(first, disassembleText(object.program(), {}));
    EXPECT_EQ(first.find("size "), std::string::npos);
}

TEST(DisasmText, SectionsCanBeSelected) {
    const Object object = objectOf(fusedProgram());
    const std::string text =
        disassembleText(object.program(), only({DisasmSection::Tensors, DisasmSection::Hints}));
    EXPECT_EQ(text.find("; KPU object"), std::string::npos);
    EXPECT_NE(text.find("tensors (5):"), std::string::npos);
    EXPECT_EQ(text.find("kernels"), std::string::npos);
    EXPECT_EQ(text.find("graph ("), std::string::npos);
    EXPECT_EQ(text.find("ops ("), std::string::npos);
    EXPECT_NE(text.find("hints:"), std::string::npos);
    EXPECT_EQ(disassembleText(object.program(), only({DisasmSection::Header})),
              "; KPU object  format 4.0  producer \"kpu-kernel-compiler 0.1.0\"\n"
              "; source graph \"fused\"  file \"fused.dfg\"\n"
              "; 5 tensors  1 kernel  10 ops  9 deps  3 graph nodes\n");
}

TEST(DisasmText, HeaderCountsGraphNodes) {
    ProgramT p = matmulProgram();
    const auto header = [&] {
        const Object object = objectOf(p);
        return linesOf(disassembleText(object.program(), only({DisasmSection::Header}))).at(2);
    };
    EXPECT_EQ(header(), "; 3 tensors  1 kernel  10 ops  18 deps  0 graph nodes");
    p.graph.push_back(graphNode(KernelKind::MatMul, "mm", 3, {0, 1}, 2));
    EXPECT_EQ(header(), "; 3 tensors  1 kernel  10 ops  18 deps  1 graph node");
    p.graph.push_back(graphNode(KernelKind::Relu, "r", 4, {2}, 2));
    EXPECT_EQ(header(), "; 3 tensors  1 kernel  10 ops  18 deps  2 graph nodes");
}

// ---------------------------------------------------------------------------------------------
// Kernel params.

// A fused kernel's params sit between its first line and its iteration line.
TEST(DisasmText, FusedKernelParamsLineComesBeforeIteration) {
    auto fused = params();
    fused->transpose_b = true;
    fused->bias_input = 2;
    fused->activation = Activation::Clamp;
    fused->min = 0;
    fused->max = 6;
    EXPECT_EQ(kernelText(KernelKind::MatMul, std::move(fused), {1, 4, 10, 8}),
              "kernels (1):\n"
              "  k0  k  matmul  node 1  inputs [#0 in]  output #1 out\n"
              "      params: transpose_b bias=input 2 activation=clamp[0,6]\n"
              "      iteration [batch 1, M 4, N 10, K 8]  dataflow output-stationary  "
              "loop-order b,m,n,k\n"
              "      tiling -  ops none\n");
}

TEST(DisasmText, DefaultParamsPrintNothing) {
    // No params table and an empty one read the same: nothing worth printing.
    EXPECT_EQ(kernelText(KernelKind::MatMul, nullptr, {1, 4, 10, 8}),
              "kernels (1):\n"
              "  k0  k  matmul  node 1  inputs [#0 in]  output #1 out\n"
              "      iteration [batch 1, M 4, N 10, K 8]  dataflow output-stationary  "
              "loop-order b,m,n,k\n"
              "      tiling -  ops none\n");
    EXPECT_EQ(paramsLine(KernelKind::MatMul, params()), "");
    for (KernelKind kind :
         {KernelKind::Add, KernelKind::Sub, KernelKind::Mul, KernelKind::Div, KernelKind::Exp,
          KernelKind::Reciprocal, KernelKind::Sigmoid, KernelKind::Relu, KernelKind::Gelu,
          KernelKind::Tanh, KernelKind::Negate, KernelKind::Abs, KernelKind::Reshape,
          KernelKind::FullyConnected}) {
        EXPECT_EQ(paramsLine(kind, nullptr), "") << kernelKindName(kind);
        EXPECT_EQ(paramsLine(kind, params()), "") << kernelKindName(kind);
    }
    // Explicitly written defaults are defaults too.
    auto explicitDefaults = params();
    explicitDefaults->axis = -1;
    explicitDefaults->epsilon = 1e-5;
    explicitDefaults->bias_input = -1;
    EXPECT_EQ(paramsLine(KernelKind::Add, std::move(explicitDefaults)), "");
}

struct ParamsCase {
    KernelKind kind;
    std::function<void(KernelParamsT&)> set; // null: no params table
    std::string expected;                    // the whole params line
};

TEST(DisasmText, ParamsPerKind) {
    const std::vector<std::uint32_t> pool{2, 2, 2, 2, 1, 1, 0, 0, 0, 0};
    const std::vector<ParamsCase> cases{
        {KernelKind::MatMul, [](KernelParamsT& p) { p.transpose_b = true; }, "params: transpose_b"},
        {KernelKind::MatMul, [](KernelParamsT& p) { p.bias_input = 2; }, "params: bias=input 2"},
        {KernelKind::MatMul,
         [](KernelParamsT& p) {
             p.bias_input = 2;
             p.activation = Activation::Clamp;
             p.min = -1.5;
             p.max = 6;
         },
         "params: bias=input 2 activation=clamp[-1.5,6]"},
        {KernelKind::MatMul, [](KernelParamsT& p) { p.activation = Activation::Relu; },
         "params: activation=relu"},
        {KernelKind::MatMul, [](KernelParamsT& p) { p.activation = Activation::Sigmoid; },
         "params: activation=sigmoid"},
        {KernelKind::MatMul, [](KernelParamsT& p) { p.activation = Activation::Gelu; },
         "params: activation=gelu"},
        {KernelKind::MatMul, [](KernelParamsT& p) { p.activation = Activation::Tanh; },
         "params: activation=tanh"},
        // Softmax, layernorm, concat and reductions always show their axis.
        {KernelKind::Softmax, nullptr, "params: axis -1"},
        {KernelKind::Softmax, [](KernelParamsT& p) { p.axis = 1; }, "params: axis 1"},
        {KernelKind::Concat, [](KernelParamsT& p) { p.axis = 0; }, "params: axis 0"},
        {KernelKind::ReduceSum, [](KernelParamsT& p) { p.axis = 2; }, "params: axis 2"},
        {KernelKind::ReduceMax, nullptr, "params: axis -1"},
        {KernelKind::ReduceMin, [](KernelParamsT& p) { p.axis = -2; }, "params: axis -2"},
        {KernelKind::Transpose,
         [](KernelParamsT& p) {
             p.perm = {0, 2, 1};
         },
         "params: perm 0,2,1"},
        {KernelKind::Transpose, nullptr, "params: perm -"},
        {KernelKind::Pad,
         [](KernelParamsT& p) {
             p.padding = {0, 0, 1, 2};
             p.pad_value = 0.5;
         },
         "params: padding 0,0,1,2 pad_value 0.5"},
        {KernelKind::Pad,
         [](KernelParamsT& p) {
             p.padding = {1, 1};
         },
         "params: padding 1,1"},
        {KernelKind::Pad, nullptr, "params: padding -"},
        {KernelKind::MaxPool2D, [&](KernelParamsT& p) { p.window = pool; },
         "params: window 2x2 stride 2x2 dilation 1x1 pad 0,0,0,0"},
        {KernelKind::AvgPool2D, [](KernelParamsT& p) { p.window = {8, 8, 1, 1, 1, 1, 0, 0, 0, 0}; },
         "params: window 8x8 stride 1x1 dilation 1x1 pad 0,0,0,0"},
        {KernelKind::DepthwiseConv2D,
         [](KernelParamsT& p) { p.window = {3, 5, 1, 2, 2, 3, 1, 2, 3, 4}; },
         "params: window 3x5 stride 1x2 dilation 2x3 pad 1,2,3,4"},
        {KernelKind::Im2Col, [](KernelParamsT& p) { p.window = {3, 3, 2, 2, 1, 1, 0, 1, 0, 1}; },
         "params: window 3x3 stride 2x2 dilation 1x1 pad 0,1,0,1"},
        {KernelKind::Conv2D, [](KernelParamsT& p) { p.window = {1, 1, 1, 1, 1, 1, 0, 0, 0, 0}; },
         "params: window 1x1 stride 1x1 dilation 1x1 pad 0,0,0,0"},
        // A window that is not the 10-entry form prints raw.
        {KernelKind::MaxPool2D,
         [](KernelParamsT& p) {
             p.window = {1, 2, 3};
         },
         "params: window [1,2,3]"},
        {KernelKind::MaxPool2D, nullptr, "params: window []"},
        {KernelKind::LayerNorm, [](KernelParamsT& p) { p.epsilon = 1e-6; },
         "params: axis -1 epsilon 1e-06"},
        {KernelKind::LayerNorm,
         [](KernelParamsT& p) {
             p.axis = 1;
             p.epsilon = 0.001;
         },
         "params: axis 1 epsilon 0.001"},
        {KernelKind::LayerNorm, nullptr, "params: axis -1"},
        {KernelKind::Clamp,
         [](KernelParamsT& p) {
             p.min = -1;
             p.max = 1;
         },
         "params: min -1 max 1"},
        {KernelKind::Clamp, nullptr, "params: min 0 max 0"},
        {KernelKind::Clamp,
         [](KernelParamsT& p) {
             p.min = -kInf;
             p.max = kInf;
         },
         "params: min -inf max inf"},
        // A kind that does not define a parameter still shows it when it is not the default.
        {KernelKind::Add, [](KernelParamsT& p) { p.axis = 1; }, "params: axis 1"},
        {KernelKind::Relu, [](KernelParamsT& p) { p.max = 6; }, "params: min 0 max 6"},
        {KernelKind::Exp, [](KernelParamsT& p) { p.epsilon = kNaN; }, "params: epsilon nan"},
        {KernelKind::Abs, [](KernelParamsT& p) { p.pad_value = -kInf; }, "params: pad_value -inf"},
        // Everything at once, in the documented order.
        {KernelKind::MatMul,
         [](KernelParamsT& p) {
             p.transpose_b = true;
             p.bias_input = 3;
             p.activation = Activation::Relu;
             p.axis = 0;
             p.perm = {1, 0};
             p.window = {2, 2, 2, 2, 1, 1, 0, 0, 0, 0};
             p.padding = {1, 1};
             p.min = 1;
             p.max = 2;
             p.epsilon = 0.25;
             p.pad_value = -3;
         },
         "params: transpose_b bias=input 3 activation=relu axis 0 perm 1,0 window 2x2 stride 2x2 "
         "dilation 1x1 pad 0,0,0,0 padding 1,1 min 1 max 2 epsilon 0.25 pad_value -3"},
    };
    for (const auto& c : cases) {
        std::unique_ptr<KernelParamsT> p;
        if (c.set) {
            p = params();
            c.set(*p);
        }
        EXPECT_EQ(paramsLine(c.kind, std::move(p)), "      " + c.expected)
            << kernelKindName(c.kind);
    }
}

// ---------------------------------------------------------------------------------------------
// Iteration labels.

TEST(DisasmText, IterationLabelsPerKind) {
    const auto iterationLine = [](KernelKind kind, std::vector<std::uint32_t> space,
                                  std::vector<std::uint8_t> order) {
        const auto lines = linesOf(kernelText(kind, nullptr, std::move(space), std::move(order)));
        return lines.size() >= 2 ? lines[lines.size() - 2] : std::string();
    };
    EXPECT_EQ(iterationLine(KernelKind::MatMul, {2, 4, 8, 16}, {0, 1, 2, 3}),
              "      iteration [batch 2, M 4, N 8, K 16]  dataflow output-stationary  "
              "loop-order b,m,n,k");
    EXPECT_EQ(iterationLine(KernelKind::MatMul, {1, 4, 8, 16}, {0, 2, 1, 3}),
              "      iteration [batch 1, M 4, N 8, K 16]  dataflow output-stationary  "
              "loop-order b,n,m,k");
    EXPECT_EQ(iterationLine(KernelKind::Im2Col, {1, 8, 6, 1}, {0, 1, 2, 3}),
              "      iteration [N 1, OH 8, OW 6, d3 1]  dataflow output-stationary  "
              "loop-order n,oh,ow,d3");
    EXPECT_EQ(iterationLine(KernelKind::Im2Col, {1, 8, 6, 1}, {3, 2, 1, 0}),
              "      iteration [N 1, OH 8, OW 6, d3 1]  dataflow output-stationary  "
              "loop-order d3,ow,oh,n");
    for (KernelKind kind :
         {KernelKind::Add, KernelKind::Softmax, KernelKind::Transpose, KernelKind::Pad,
          KernelKind::MaxPool2D, KernelKind::DepthwiseConv2D, KernelKind::LayerNorm,
          KernelKind::Clamp, KernelKind::ReduceSum, KernelKind::Concat}) {
        EXPECT_EQ(iterationLine(kind, {1, 2, 4, 10}, {0, 1, 2, 3}),
                  "      iteration [d0 1, d1 2, d2 4, d3 10]  dataflow output-stationary  "
                  "loop-order d0,d1,d2,d3")
            << kernelKindName(kind);
    }
    // An unknown kind and dimensions past the fourth are d<i> as well.
    EXPECT_EQ(iterationLine(static_cast<KernelKind>(200), {1, 2, 4, 10}, {3, 2, 1, 0}),
              "      iteration [d0 1, d1 2, d2 4, d3 10]  dataflow output-stationary  "
              "loop-order d3,d2,d1,d0");
    EXPECT_EQ(iterationLine(KernelKind::MatMul, {1, 2, 3, 4, 5}, {0, 1, 2, 3, 4}),
              "      iteration [batch 1, M 2, N 3, K 4, d4 5]  dataflow output-stationary  "
              "loop-order b,m,n,k,d4");
}

// Compute regions use the short labels of their kernel's kind.
TEST(DisasmText, ComputeRegionsUseKindLabels) {
    ProgramT p = matmulProgram();
    for (KernelKind kind : {KernelKind::Im2Col, KernelKind::Softmax}) {
        auto k = std::make_unique<KernelT>();
        k->name = std::string(kernelKindName(kind));
        k->kind = kind;
        k->inputs = {0};
        k->output = 2;
        k->iteration_space = {1, 4, 4, 1};
        p.kernels.push_back(std::move(k));
    }
    p.ops[5] = compute(1, region({0, 0, 0, 0}, {1, 4, 2, 1}));
    p.ops[6] = compute(2, region({0, 1, 2, 0}, {1, 1, 2, 4}), kAccumulateFlag);
    p.ops[7] = compute(0, region({1, 0, 0, 8}, {2, 4, 4, 8}));
    DisasmOptions options = only({DisasmSection::Ops});
    options.opsFirst = 5;
    options.opsLimit = 3;
    const Object object = objectOf(p);
    EXPECT_EQ(disassembleText(object.program(), options),
              "ops (10):\n"
              "  5  compute  L2  k1 im2col    n=0 oh=0:4 ow=0:2 d3=0\n"
              "  6  compute  L2  k2 softmax   d0=0 d1=1 d2=2:4 d3=0:4   acc\n"
              "  7  compute  L2  k0 MATMUL#3  b=1:3 m=0:4 n=0:4 k=8:16\n"
              "  ... showing ops 5..7 of 10\n");
}

// ---------------------------------------------------------------------------------------------
// Aliases, reserve ops, compute flags, the graph.

TEST(DisasmText, AliasesNameTheirTarget) {
    ProgramT p = matmulProgram();
    p.tensors.push_back(tensor("A.flat", {64}, TensorRole::Intermediate, 0, DType::F32, 0));
    p.tensors.push_back(tensor("Cout.t", {4, 4}, TensorRole::Intermediate, 3, DType::F32, 2));
    p.tensors.push_back(tensor("lost", {4}, TensorRole::Intermediate, -1, DType::F32, 42));
    const Object object = objectOf(p);
    EXPECT_EQ(disassembleText(object.program(), only({DisasmSection::Tensors})),
              "tensors (6):\n"
              "  #0  A       4x16  f32  constant      src-node 0  256 B\n"
              "  #1  B       16x4  f32  input         src-node 1  256 B\n"
              "  #2  Cout    4x4   f32  output        src-node 3  64 B\n"
              "  #3  A.flat  64    f32  intermediate  src-node 0  256 B  alias of #0 A\n"
              "  #4  Cout.t  4x4   f32  intermediate  src-node 3  64 B   alias of #2 Cout\n"
              "  #5  lost    4     f32  intermediate  src-node -  16 B   alias of #42 ?\n");
}

TEST(DisasmText, ReserveOpsNameLevelTensorAndRegion) {
    ProgramT p = matmulProgram();
    p.ops[0] = reserve(MemoryLevel::L3, 2, region({0, 0, 0, 0}, {1, 1, 4, 4}));
    p.ops[1] = reserve(MemoryLevel::L2, 0, region({0, 0, 0, 0}, {1, 1, 4, 16}));
    p.ops[2] = reserve(MemoryLevel::L3, 42, region({0, 0, 0, 0}, {1, 1, 1, 1}));
    DisasmOptions options = only({DisasmSection::Ops, DisasmSection::Deps});
    options.opsLimit = 3;
    const Object object = objectOf(p);
    EXPECT_EQ(disassembleText(object.program(), options),
              "ops (10):\n"
              "  0  reserve  L3  #2 Cout  [0,0,0:4,0:4]   deps -\n"
              "  1  reserve  L2  #0 A     [0,0,0:4,0:16]  deps 0\n"
              "  2  reserve  L3  #42 ?    [0,0,0,0]       deps -\n"
              "  ... showing ops 0..2 of 10\n");
}

TEST(DisasmText, ComputeFlags) {
    const std::vector<std::pair<std::uint32_t, std::string>> cases{
        {0x0, ""},
        {0x1, "  acc"},
        {0x2, "  epilogue"},
        {0x3, "  acc epilogue"},
        {0x4, "  flags 0x4"},
        {0x7, "  acc epilogue flags 0x4"},
        {0x80000006u, "  epilogue flags 0x80000004"},
    };
    for (const auto& [flags, shown] : cases) {
        ProgramT p = matmulProgram();
        p.ops[6] = compute(0, region({0, 0, 0, 8}, {1, 4, 4, 8}), flags);
        DisasmOptions options = only({DisasmSection::Ops});
        options.opsFirst = 6;
        options.opsLimit = 1;
        const Object object = objectOf(p);
        EXPECT_EQ(disassembleText(object.program(), options),
                  "ops (10):\n  6  compute  L2  k0 MATMUL#3  b=0 m=0:4 n=0:4 k=8:16" + shown +
                      "\n  ... showing ops 6..6 of 10\n")
            << flags;
    }
}

TEST(DisasmText, UnknownComputeFlagsAreShownRaw) {
    ProgramT p = matmulProgram();
    p.ops[6] = compute(0, region({0, 0, 0, 8}, {1, 4, 4, 8}), 0x5);
    const Object object = objectOf(p);
    EXPECT_NE(disassembleText(object.program(), {}).find("k=8:16  acc flags 0x4  deps 4,5"),
              std::string::npos);
}

// Ops that define no flags print them raw, and only when set.
TEST(DisasmText, FlagsOfOtherOpsAreRaw) {
    ProgramT p = matmulProgram();
    p.ops[0] = Op(OpKind::DataMove, MoveKind::Load, MemoryLevel::External, MemoryLevel::L3, 0x2, 0,
                  region({0, 0, 0, 0}, {1, 1, 4, 16}));
    p.ops[1] = Op(OpKind::Reserve, MoveKind::Load, MemoryLevel::L3, MemoryLevel::L3, 0x1, 2,
                  region({0, 0, 0, 0}, {1, 1, 4, 4}));
    p.ops[2] = Op(OpKind::Barrier, MoveKind::Load, MemoryLevel::External, MemoryLevel::External,
                  0x10, 0, Region());
    DisasmOptions options = only({DisasmSection::Ops});
    options.opsLimit = 4;
    const Object object = objectOf(p);
    EXPECT_EQ(disassembleText(object.program(), options),
              "ops (10):\n"
              "  0  load     EXT -> L3  #0 A     [0,0,0:4,0:16]  flags 0x2\n"
              "  1  reserve  L3         #2 Cout  [0,0,0:4,0:4]   flags 0x1\n"
              "  2  barrier                                      flags 0x10\n"
              "  3  load     L3 -> L2   #1 B     [0,0,0:8,0:4]\n"
              "  ... showing ops 0..3 of 10\n");
}

TEST(DisasmText, GraphListsEveryNode) {
    ProgramT p = fusedProgram();
    p.graph.push_back(graphNode(KernelKind::Softmax, "sm", 7, {9}, 4));
    auto clamp = params();
    clamp->min = 0;
    clamp->max = 6;
    p.graph.push_back(graphNode(KernelKind::Clamp, "relu 6", 8, {}, 77, std::move(clamp)));
    const Object object = objectOf(p);
    EXPECT_EQ(
        disassembleText(object.program(), only({DisasmSection::Graph})),
        "graph (5 nodes):\n"
        "  g0  fc       fc        node 3  [#0 x, #1 W, #2 b] -> #3 y  params: bias=input 2\n"
        "  g1  relu     fc.relu   node 5  [#3 y] -> #3 y\n"
        "  g2  reshape  -         node -  [#3 y] -> #4 y.flat\n"
        "  g3  softmax  sm        node 7  [#9 ?] -> #4 y.flat         params: axis -1\n"
        "  g4  clamp    \"relu 6\"  node 8  [] -> #77 ?                 params: min 0 max 6\n");
}

TEST(DisasmText, AbsentGraphPrintsNoNodes) {
    ProgramT p = matmulProgram();
    {
        const Object object = objectOf(p);
        EXPECT_EQ(object.program().graph(), nullptr);
        EXPECT_EQ(disassembleText(object.program(), only({DisasmSection::Graph})),
                  "graph (0 nodes):\n");
    }
    p.graph.push_back(graphNode(KernelKind::MatMul, "mm", 3, {0, 1}, 2));
    const Object object = objectOf(p);
    EXPECT_EQ(disassembleText(object.program(), only({DisasmSection::Graph})),
              "graph (1 node):\n"
              "  g0  matmul  mm  node 3  [#0 A, #1 B] -> #2 Cout\n");
}

// ---------------------------------------------------------------------------------------------
// Layout details.

TEST(DisasmText, OpsWithoutDepsColumn) {
    const Object object = objectOf(matmulProgram());
    const std::string text = disassembleText(object.program(), only({DisasmSection::Ops}));
    EXPECT_EQ(text.find("deps"), std::string::npos);
    EXPECT_NE(text.find("  9  barrier\n"), std::string::npos) << text;
}

TEST(DisasmText, DepsAloneListOnlyOpsWithDependencies) {
    const Object object = objectOf(matmulProgram());
    const std::string text = disassembleText(object.program(), only({DisasmSection::Deps}));
    EXPECT_EQ(text, "deps (18):\n"
                    "  1  <-  0\n"
                    "  3  <-  2\n"
                    "  4  <-  2\n"
                    "  5  <-  1,3\n"
                    "  6  <-  4,5\n"
                    "  7  <-  6\n"
                    "  8  <-  7\n"
                    "  9  <-  0-8\n");
}

TEST(DisasmText, OpsRangeIsLimitedAndSaysSo) {
    const Object object = objectOf(matmulProgram());
    DisasmOptions options = only({DisasmSection::Ops, DisasmSection::Deps});
    options.opsFirst = 5;
    options.opsLimit = 2;
    EXPECT_EQ(disassembleText(object.program(), options),
              "ops (10):\n"
              "  5  compute  L2  k0 MATMUL#3  b=0 m=0:4 n=0:4 k=0:8        deps 1,3\n"
              "  6  compute  L2  k0 MATMUL#3  b=0 m=0:4 n=0:4 k=8:16  acc  deps 4,5\n"
              "  ... showing ops 5..6 of 10\n");
    options.opsFirst = 100; // past the end: nothing shown, no crash
    EXPECT_EQ(disassembleText(object.program(), options),
              "ops (10):\n  ... showing ops 10..10 of 10\n");
}

TEST(DisasmText, ColumnEmptyInEveryRowIsDropped) {
    ProgramT p = matmulProgram();
    p.ops[6] = compute(0, region({0, 0, 0, 8}, {1, 4, 4, 8}));
    const Object object = objectOf(p);
    const std::string text = disassembleText(object.program(), {});
    EXPECT_NE(
        text.find("  6  compute   L2         k0 MATMUL#3  b=0 m=0:4 n=0:4 k=8:16  deps 4,5\n"),
        std::string::npos)
        << text;
}

TEST(DisasmText, BroadcastInputsMarkedOnlyWhenBatched) {
    ProgramT p = matmulProgram();
    p.kernels[0]->iteration_space = {3, 4, 4, 16};
    const Object object = objectOf(p);
    EXPECT_NE(disassembleText(object.program(), {})
                  .find("inputs [#0 A, #1 B (broadcast)]  output #2 Cout\n"
                        "      iteration [batch 3, M 4, N 4, K 16]"),
              std::string::npos);
}

TEST(DisasmText, DependencyRunsCollapseOnlyFromThree) {
    ProgramT p = matmulProgram();
    setDeps(p, {{}, {0}, {}, {2}, {2}, {1, 3}, {4, 5}, {6}, {7}, {0, 1, 3, 4, 5, 7, 8}});
    const Object object = objectOf(p);
    EXPECT_NE(disassembleText(object.program(), {}).find("deps 0,1,3-5,7,8\n"), std::string::npos);
}

TEST(DisasmText, OddNamesAreQuotedAndScalarsNamed) {
    ProgramT p = matmulProgram();
    p.tensors[0]->name = "tosa.const 1";
    p.tensors[1]->name = "";
    p.tensors.push_back(tensor("s", {}, TensorRole::Intermediate, -1, DType::I8));
    p.producer.clear();
    p.hints.reset();
    const Object object = objectOf(p);
    const std::string text = disassembleText(object.program(), {});
    EXPECT_NE(text.find("producer -\n"), std::string::npos) << text;
    EXPECT_NE(text.find("#0  \"tosa.const 1\"  4x16"), std::string::npos) << text;
    EXPECT_NE(text.find("inputs [#0 \"tosa.const 1\", #1 \"\"]"), std::string::npos);
    EXPECT_NE(text.find("#3  s               scalar  i8   intermediate  src-node -  1 B"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("hints: none\n"), std::string::npos);
}

// The compiler prints its own output before anyone verified it: bad references print as "?".
TEST(DisasmText, UnverifiedProgramDoesNotReadOutOfBounds) {
    ProgramT p = matmulProgram();
    p.ops[0] = move(MoveKind::Load, MemoryLevel::External, MemoryLevel::L3, 42,
                    region({0, 0, 0, 0}, {1, 1, 1, 1}));
    p.ops[5] = compute(7, region({0, 0, 0, 0}, {1, 4, 4, 8}));
    p.kernels[0]->inputs = {0, 99};
    p.tensors[0]->shape = {-1, 4};
    p.tensors[1]->alias_of = 1000;
    p.graph.push_back(graphNode(KernelKind::Add, "g", 1, {55, 0}, 66));
    p.dep_offsets.resize(4); // CSR shorter than the op list
    const Object object = objectOf(p);
    const std::string text = disassembleText(object.program(), {});
    EXPECT_NE(text.find("#42 ?"), std::string::npos);
    EXPECT_NE(text.find("k7 ?"), std::string::npos);
    EXPECT_NE(text.find("#99 ?"), std::string::npos);
    EXPECT_NE(text.find("? B"), std::string::npos);
    EXPECT_NE(text.find("deps ?"), std::string::npos);
    EXPECT_NE(text.find("alias of #1000 ?"), std::string::npos);
    EXPECT_NE(text.find("[#55 ?, #0 A] -> #66 ?"), std::string::npos);
    // Compute on a kernel that does not exist: iteration dimensions named d0..d3.
    EXPECT_NE(text.find("k7 ?         d0=0 d1=0:4 d2=0:4 d3=0:8"), std::string::npos) << text;
    const Json json = Json::parse(disassembleJson(object.program(), {}));
    EXPECT_TRUE(json.at("ops").at(9).at("deps").is_null());
    EXPECT_TRUE(json.at("tensors").at(0).at("bytes").is_null());
    EXPECT_EQ(json.at("tensors").at(1).at("alias_of"), 1000);
}

// ---------------------------------------------------------------------------------------------
// JSON.

TEST(DisasmJson, CarriesEveryFieldOfTheObject) {
    for (const ProgramT& original : {matmulProgram(), fusedProgram()}) {
        const Object object = objectOf(original);
        const Json json = Json::parse(disassembleJson(object.program(), {}));
        EXPECT_EQ(serialize(programFromJson(json)), object.bytes);
    }
}

TEST(DisasmJson, RoundTripsOddValues) {
    ProgramT p = fusedProgram();
    p.source_file.clear();
    p.tensors.push_back(tensor("h", {2, 0, 3}, TensorRole::Intermediate, -1, DType::F8E4M3));
    p.tensors.push_back(tensor("scalar", {}, TensorRole::Input, 7, DType::I32, 0));
    p.kernels[0]->dataflow = Dataflow::WeightStationary;
    p.kernels[0]->loop_order = {0, 2, 1, 3};
    p.kernels[0]->inputs = {0, 1, 2, 3};
    p.kernels[0]->input_batched = {1, 0, 1, 0};
    p.kernels[0]->params->transpose_b = true;
    p.kernels[0]->params->activation = Activation::Clamp;
    p.kernels[0]->params->min = -kInf;
    p.kernels[0]->params->max = kInf;
    p.kernels[0]->params->epsilon = kNaN;
    p.kernels[0]->params->pad_value = -0.125;
    p.kernels[0]->params->axis = -3;
    p.kernels[0]->params->perm = {3, 2, 1, 0};
    p.kernels[0]->params->window = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    p.kernels[0]->params->padding = {0, 1, 2, 3};
    p.graph.push_back(graphNode(KernelKind::Pad, "p", 9, {}, 0, params()));
    p.graph.back()->params->pad_value = kNaN;
    p.graph.back()->params->padding = {1, 1};
    p.ops[7] = compute(0, region({0, 0, 0, 8}, {1, 4, 8, 8}), 0x80000003u);
    p.ops[0] = reserve(MemoryLevel::L2, 4, region({0, 0, 0, 0}, {1, 1, 1, 32}));
    p.hints->external_bytes = std::numeric_limits<std::uint64_t>::max();
    const Object object = objectOf(p);
    const Json json = Json::parse(disassembleJson(object.program(), {}));
    EXPECT_TRUE(json.at("source_file").is_null());
    EXPECT_EQ(json.at("tensors").at(5).at("dtype"), "f8");
    EXPECT_EQ(json.at("tensors").at(5).at("bytes"), 0);
    EXPECT_EQ(json.at("tensors").at(6).at("alias_of"), 0);
    EXPECT_EQ(serialize(programFromJson(json)), object.bytes);
}

// Every kernel kind with parameters, every field of KernelParams: the JSON rebuilds the bytes.
TEST(DisasmJson, RoundTripsEveryKindAndParams) {
    ProgramT p = matmulProgram();
    for (int kind = 0; kind <= static_cast<int>(KernelKind::Reshape); ++kind) {
        auto k = std::make_unique<KernelT>();
        k->name = std::to_string(kind);
        k->source_node = kind;
        k->kind = static_cast<KernelKind>(kind);
        k->inputs = {0};
        k->output = 2;
        k->iteration_space = {1, 1, 4, 4};
        k->params = params();
        k->params->axis = kind - 10;
        k->params->perm = {static_cast<std::uint8_t>(kind)};
        k->params->window = {static_cast<std::uint32_t>(kind), 1};
        k->params->padding = {2, static_cast<std::uint32_t>(kind)};
        k->params->min = -kind;
        k->params->max = kind * 0.1;
        k->params->epsilon = kind == 5 ? kInf : 1.0 / (kind + 3);
        k->params->pad_value = kind == 7 ? -kInf : kind * 1e-300;
        k->params->transpose_b = kind % 2 == 0;
        k->params->bias_input = static_cast<std::int8_t>(kind % 3);
        k->params->activation = static_cast<Activation>(kind % 6);
        p.kernels.push_back(std::move(k));
        p.graph.push_back(graphNode(static_cast<KernelKind>(kind), kind % 4 ? "n" : "", kind - 1,
                                    {0, 1}, 2, kind % 3 ? params() : nullptr));
    }
    const Object object = objectOf(p);
    const Json json = Json::parse(disassembleJson(object.program(), {}));
    EXPECT_EQ(json.at("kernels").at(6).at("params").at("epsilon"), "inf");
    EXPECT_EQ(json.at("kernels").at(8).at("params").at("pad_value"), "-inf");
    EXPECT_EQ(serialize(programFromJson(json)), object.bytes);
}

// The real pipeline: graphs compiled, verified, dumped and rebuilt from the JSON. The examples
// cover reserve ops, aliases, im2col, pools, transpose, softmax and fused epilogues.
TEST(DisasmJson, CompiledObjectRoundTrips) {
    const std::vector<std::string> paths{
        std::string(KPU_SHARED_DIR) + "/dfg-corpus/branes-ai+dfa-dynamics/data/workloads/nla/"
                                      "matmul_8x4_expand_contract.dfg",
        std::string(KPU_SOURCE_DIR) + "/examples/mlp.dfg",
        std::string(KPU_SOURCE_DIR) + "/examples/cnn.dfg",
        std::string(KPU_SOURCE_DIR) + "/examples/attention.dfg",
    };
    for (const std::string& path : paths) {
        SCOPED_TRACE(path);
        auto compiled = compiler::compileDfgFile(path, {});
        ASSERT_TRUE(compiled) << compiled.error().message;
        auto program = loader::verifyObject(compiled->object, path);
        ASSERT_TRUE(program) << program.error().message;
        const Json json = Json::parse(disassembleJson(**program, {}));
        EXPECT_FALSE(json.at("graph").empty());
        EXPECT_EQ(compiler::serializeProgram(programFromJson(json)), compiled->object);
        const std::string text = disassembleText(**program, {});
        EXPECT_NE(text.find("; KPU object  format 4.0"), std::string::npos);
        EXPECT_NE(text.find("compute"), std::string::npos);
    }
    auto cnn = compiler::compileDfgFile(std::string(KPU_SOURCE_DIR) + "/examples/cnn.dfg", {});
    ASSERT_TRUE(cnn);
    auto program = loader::verifyObject(cnn->object, "cnn");
    ASSERT_TRUE(program) << program.error().message;
    const std::string text = disassembleText(**program, {});
    EXPECT_NE(text.find("alias of #1 conv1_weight"), std::string::npos);
    EXPECT_NE(text.find("      params: window 3x3 stride 1x1 dilation 1x1 pad 1,1,1,1\n"
                        "      iteration [N 1, OH 32, OW 32, d3 1]"),
              std::string::npos);
    EXPECT_NE(text.find("graph (9 nodes):"), std::string::npos);
    EXPECT_NE(text.find("  reserve "), std::string::npos);
}

// Format 3.0: a TileLoops kernel prints its record and folds its ops into one row; op numbers
// are program indices, the stored Reserve ops keeping their place.
TEST(DisasmText, TileLoopKernelsCompactly) {
    auto mlp = compiler::compileDfgFile(std::string(KPU_SOURCE_DIR) + "/examples/mlp.dfg",
                                        {.explicitOps = false});
    ASSERT_TRUE(mlp) << mlp.error().message;
    auto program = loader::verifyObject(mlp->object, "mlp.kpu");
    ASSERT_TRUE(program) << program.error().message;
    const std::string text = disassembleText(**program, {});
    EXPECT_NE(text.find("; 15 tensors  3 kernels  155 ops (2 stored)  153 deps  8 graph nodes\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("      tiling L3 [1, 8, 64, 256]  L2 [1, 8, 64, 256]  ops 131..145 (15)\n"
                        "      tile-loops  load from [L3, EXT, EXT]  ready after [129, -, -]  "
                        "store to L3  2 compute steps  16 deps\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("ops (155):\n"
                        "  0         reserve     L3  #5 h1             [0,0,0:8,0:256]  deps -\n"
                        "  1..129    tile-loops      k0 fc1.matmul#7   129 ops          128 deps\n"
                        "  130       reserve     L3  #10 h2            [0,0,0:8,0:128]  deps -\n"
                        "  131..145  tile-loops      k1 fc2.matmul#10  15 ops           16 deps\n"
                        "  146..154  tile-loops      k2 fc3.matmul#13  9 ops            9 deps\n"),
              std::string::npos)
        << text;

    // A range of program indices shows the rows it touches.
    DisasmOptions some = only({DisasmSection::Ops});
    some.opsFirst = 125;
    some.opsLimit = 10;
    EXPECT_EQ(disassembleText(**program, some),
              "ops (155):\n"
              "  1..129    tile-loops      k0 fc1.matmul#7   129 ops\n"
              "  130       reserve     L3  #10 h2            [0,0,0:8,0:128]\n"
              "  131..145  tile-loops      k1 fc2.matmul#10  15 ops\n"
              "  ... showing ops 125..134 of 155\n");
    DisasmOptions deps = only({DisasmSection::Deps});
    deps.opsLimit = 2;
    EXPECT_EQ(disassembleText(**program, deps), "deps (153):\n"
                                                "  1..129  <-  tile-loops: 128 deps\n"
                                                "  ... showing ops 0..1 of 155\n");

    const Json json = Json::parse(disassembleJson(**program, {}));
    EXPECT_EQ(json.at("op_count"), 155);
    EXPECT_EQ(json.at("ops").size(), 5u);
    EXPECT_EQ(json.at("ops").at(1), Json::parse(R"({"index":1,"kind":"tile-loops","kernel":0,)"
                                                R"("op_count":129,"dep_count":128})"));
    EXPECT_EQ(json.at("ops").at(2).at("index"), 130);
    EXPECT_EQ(json.at("ops").at(2).at("kind"), "reserve");
    const Json& k1 = json.at("kernels").at(1);
    EXPECT_EQ(k1.at("ops_encoding"), "tile-loops");
    EXPECT_EQ(k1.at("input_levels"), (Json{"l3", "external", "external"}));
    EXPECT_EQ(k1.at("input_ready"), (Json{129, -1, -1}));
    EXPECT_EQ(k1.at("output_level"), "l3");
}

// An unverified record the generator cannot read (the compiler prints its own output before
// anyone verified it) shows its error instead of counts.
TEST(DisasmText, MalformedTileLoopRecordDegrades) {
    auto mlp = compiler::compileDfgFile(std::string(KPU_SOURCE_DIR) + "/examples/mlp.dfg",
                                        {.explicitOps = false});
    ASSERT_TRUE(mlp) << mlp.error().message;
    mlp->program.kernels[0]->loop_order = {3, 3, 3, 3};
    const auto bytes = compiler::serializeProgram(mlp->program);
    const std::string text = disassembleText(*GetProgram(bytes.data()), {});
    EXPECT_NE(text.find("tile-loops  ? (loop_order: expected a permutation of 0..3)"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("155 ops (2 stored)  ? deps"), std::string::npos) << text;
    EXPECT_NE(text.find("1..129    tile-loops      k0 fc1.matmul#7   129 ops          ? deps"),
              std::string::npos)
        << text;
}

TEST(DisasmJson, FieldsAndSpellings) {
    const Object object = objectOf(matmulProgram());
    DisasmOptions options;
    options.fileSize = 999;
    const Json json = Json::parse(disassembleJson(object.program(), options));
    EXPECT_EQ(json.at("format"), (Json{{"major", 4}, {"minor", 0}}));
    EXPECT_EQ(json.at("producer"), "kpu-kernel-compiler 0.1.0");
    EXPECT_EQ(json.at("source_graph"), "non-batched-2-input-matmul");
    EXPECT_EQ(json.at("size_bytes"), 999);
    EXPECT_EQ(json.at("op_count"), 10);
    EXPECT_FALSE(json.contains("op_range"));

    const Json& a = json.at("tensors").at(0);
    EXPECT_EQ(a.at("name"), "A");
    EXPECT_EQ(a.at("shape"), (Json{4, 16}));
    EXPECT_EQ(a.at("dtype"), "f32");
    EXPECT_EQ(a.at("role"), "constant");
    EXPECT_EQ(a.at("bytes"), 256);
    EXPECT_EQ(a.at("alias_of"), -1);

    const Json& k = json.at("kernels").at(0);
    EXPECT_EQ(k.at("kind"), "matmul");
    EXPECT_EQ(k.at("dataflow"), "output-stationary");
    EXPECT_EQ(k.at("tilings").at(1).at("level"), "l2");
    EXPECT_EQ(k.at("input_batched"), (Json{1, 0}));
    EXPECT_TRUE(k.at("params").is_null());

    EXPECT_EQ(json.at("graph"), Json::array());

    const Json& load = json.at("ops").at(0);
    EXPECT_EQ(load.at("kind"), "data-move");
    EXPECT_EQ(load.at("move"), "load");
    EXPECT_EQ(load.at("src"), "external");
    EXPECT_EQ(load.at("dst"), "l3");
    EXPECT_EQ(load.at("tensor"), 0);
    EXPECT_EQ(load.at("region").at("extent"), (Json{1, 1, 4, 16}));
    EXPECT_EQ(load.at("deps"), Json::array());

    const Json& acc = json.at("ops").at(6);
    EXPECT_EQ(acc.at("kind"), "compute");
    EXPECT_EQ(acc.at("kernel"), 0);
    EXPECT_EQ(acc.at("accumulate"), true);
    EXPECT_EQ(acc.at("epilogue"), false);
    EXPECT_EQ(acc.at("region").at("origin"), (Json{0, 0, 0, 8}));
    EXPECT_EQ(acc.at("deps"), (Json{4, 5}));

    const Json& bar = json.at("ops").at(9);
    EXPECT_EQ(bar.at("kind"), "barrier");
    EXPECT_FALSE(bar.contains("tensor"));
    EXPECT_FALSE(bar.contains("kernel"));
    EXPECT_FALSE(bar.contains("move"));

    EXPECT_EQ(json.at("hints").at("target_config"), "default");
    EXPECT_EQ(json.at("hints").at("array_rows"), 16);
}

// The format-2.0 fields (and 4.0's, empty in this hand-built program), exactly as printed.
TEST(DisasmJson, FormatTwoFieldsGolden) {
    const Object object = objectOf(fusedProgram());
    DisasmOptions options = only(
        {DisasmSection::Tensors, DisasmSection::Kernels, DisasmSection::Graph, DisasmSection::Ops});
    options.opsLimit = 1;
    options.opsFirst = 7;
    const std::string defaults =
        R"("axis":-1,"perm":[],"window":[],"padding":[],"min":0.0,)"
        R"("max":0.0,"epsilon":1e-05,"pad_value":0.0,"transpose_b":false,)";
    EXPECT_EQ(
        disassembleJson(object.program(), options),
        R"({
  "tensors": [
    {"index":0,"name":"x","shape":[4,16],"dtype":"f32","role":"input","source_node":0,"bytes":256,"alias_of":-1,"values_stored":false},
    {"index":1,"name":"W","shape":[16,8],"dtype":"f32","role":"constant","source_node":1,"bytes":512,"alias_of":-1,"values_stored":false},
    {"index":2,"name":"b","shape":[8],"dtype":"f32","role":"constant","source_node":2,"bytes":32,"alias_of":-1,"values_stored":false},
    {"index":3,"name":"y","shape":[4,8],"dtype":"f32","role":"intermediate","source_node":5,"bytes":128,"alias_of":-1,"values_stored":false},
    {"index":4,"name":"y.flat","shape":[32],"dtype":"f32","role":"output","source_node":6,"bytes":128,"alias_of":3,"values_stored":false}
  ],
  "graph_inputs": [],
  "graph_outputs": [],
  "static_inputs": [],
  "kernels": [
    {"index":0,"name":"fc#3","source_node":3,"kind":"matmul","inputs":[0,1,2],"output":3,"iteration_space":[1,4,8,16],"input_batched":[0,0,0],"tilings":[{"level":"l3","tile":[1,4,8,8]},{"level":"l2","tile":[1,4,8,8]}],"dataflow":"output-stationary","loop_order":[0,1,2,3],"first_op":1,"op_count":8,"params":{)" +
            defaults +
            R"("bias_input":2,"activation":"relu"},"ops_encoding":"explicit","input_levels":[],"input_ready":[],"output_level":"external"}
  ],
  "graph": [
    {"index":0,"kind":"fc","name":"fc","source_node":3,"inputs":[0,1,2],"output":3,"params":{)" +
            defaults + R"("bias_input":2,"activation":"none"}},
    {"index":1,"kind":"relu","name":"fc.relu","source_node":5,"inputs":[3],"output":3,"params":null},
    {"index":2,"kind":"reshape","name":null,"source_node":-1,"inputs":[3],"output":4,"params":null}
  ],
  "op_count": 10,
  "op_range": {"first":7,"count":1},
  "ops": [
    {"index":7,"kind":"compute","src":"l2","dst":"l2","flags":3,"kernel":0,"accumulate":true,"epilogue":true,"region":{"origin":[0,0,0,8],"extent":[1,4,8,8]}}
  ]
}
)");
    // A reserve op carries its tensor, no move kind and no kernel.
    options.opsFirst = 0;
    const Json reserveOp = Json::parse(disassembleJson(object.program(), options)).at("ops").at(0);
    EXPECT_EQ(reserveOp, Json::parse(R"({"index":0,"kind":"reserve","src":"l3","dst":"l3",)"
                                     R"("flags":0,"tensor":3,"region":{"origin":[0,0,0,0],)"
                                     R"("extent":[1,1,4,8]}})"));
}

TEST(DisasmJson, NonFiniteNumbersAreStrings) {
    ProgramT p = fusedProgram();
    p.kernels[0]->params->activation = Activation::Clamp;
    p.kernels[0]->params->min = -kInf;
    p.kernels[0]->params->max = kInf;
    p.kernels[0]->params->epsilon = kNaN;
    p.kernels[0]->params->pad_value = kNaN;
    auto pad = params();
    pad->padding = {0, 1};
    pad->pad_value = -kInf;
    p.graph.push_back(graphNode(KernelKind::Pad, "pad", 9, {3}, 4, std::move(pad)));
    auto clamp = params();
    clamp->min = -kNaN; // JSON keeps no sign for a NaN
    clamp->max = kInf;
    p.graph.push_back(graphNode(KernelKind::Clamp, "clamp", 10, {4}, 4, std::move(clamp)));
    const Object object = objectOf(p);
    const Json json = Json::parse(disassembleJson(object.program(), {}));
    const Json& kp = json.at("kernels").at(0).at("params");
    EXPECT_EQ(kp, Json::parse(R"({"axis":-1,"perm":[],"window":[],"padding":[],"min":"-inf",)"
                              R"("max":"inf","epsilon":"nan","pad_value":"nan",)"
                              R"("transpose_b":false,"bias_input":2,"activation":"clamp"})"));
    const Json& padParams = json.at("graph").at(3).at("params");
    EXPECT_EQ(padParams.at("pad_value"), "-inf");
    EXPECT_EQ(padParams.at("padding"), (Json{0, 1}));
    const Json& clampParams = json.at("graph").at(4).at("params");
    EXPECT_EQ(clampParams.at("min"), "nan");
    EXPECT_EQ(clampParams.at("max"), "inf");
    for (const Json* params : {&kp, &padParams, &clampParams}) {
        for (const auto& [key, value] : params->items())
            EXPECT_FALSE(value.is_null()) << key; // nothing degraded to null
    }
    const std::string text = disassembleText(object.program(), {});
    EXPECT_NE(text.find("\n      params: bias=input 2 activation=clamp[-inf,inf] epsilon nan "
                        "pad_value nan\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("[#3 y] -> #4 y.flat         params: padding 0,1 pad_value -inf\n"),
              std::string::npos)
        << text;
}

TEST(DisasmJson, SectionsAndOpRange) {
    const Object object = objectOf(fusedProgram());
    DisasmOptions options = only({DisasmSection::Deps});
    options.opsFirst = 8;
    const Json json = Json::parse(disassembleJson(object.program(), options));
    EXPECT_FALSE(json.contains("format"));
    EXPECT_FALSE(json.contains("tensors"));
    EXPECT_FALSE(json.contains("graph"));
    EXPECT_FALSE(json.contains("ops"));
    EXPECT_FALSE(json.contains("hints"));
    EXPECT_EQ(json.at("op_range"), (Json{{"first", 8}, {"count", 2}}));
    EXPECT_EQ(json.at("deps"), (Json{{0, 7}, {8}}));

    const Json opsOnly = Json::parse(disassembleJson(object.program(), only({DisasmSection::Ops})));
    EXPECT_FALSE(opsOnly.at("ops").at(5).contains("deps"));
    EXPECT_FALSE(opsOnly.contains("graph"));

    const Json graphOnly =
        Json::parse(disassembleJson(object.program(), only({DisasmSection::Graph})));
    EXPECT_EQ(graphOnly.size(), 1u);
    EXPECT_EQ(graphOnly.at("graph").size(), 3u);
}

TEST(DisasmJson, MissingHintsAreNullAndBadUtf8DoesNotThrow) {
    ProgramT p = matmulProgram();
    p.hints.reset();
    p.tensors[0]->name = std::string("bad\xff\xfe", 5);
    p.graph.push_back(graphNode(KernelKind::MatMul, std::string("g\xff", 2), 3, {0, 1}, 2));
    const Object object = objectOf(p);
    std::string out;
    ASSERT_NO_THROW(out = disassembleJson(object.program(), {}));
    const Json json = Json::parse(out);
    EXPECT_TRUE(json.at("hints").is_null());
    EXPECT_EQ(json.at("tensors").at(0).at("name").get<std::string>().substr(0, 3), "bad");
    EXPECT_EQ(json.at("graph").at(0).at("name").get<std::string>().substr(0, 1), "g");
}

TEST(Disasm, SectionNamesParse) {
    EXPECT_EQ(parseDisasmSection("header"), DisasmSection::Header);
    EXPECT_EQ(parseDisasmSection("tensors"), DisasmSection::Tensors);
    EXPECT_EQ(parseDisasmSection("kernels"), DisasmSection::Kernels);
    EXPECT_EQ(parseDisasmSection("graph"), DisasmSection::Graph);
    EXPECT_EQ(parseDisasmSection("ops"), DisasmSection::Ops);
    EXPECT_EQ(parseDisasmSection("deps"), DisasmSection::Deps);
    EXPECT_EQ(parseDisasmSection("hints"), DisasmSection::Hints);
    EXPECT_EQ(parseDisasmSection("Ops"), std::nullopt);
    EXPECT_EQ(parseDisasmSection("nodes"), std::nullopt);
    EXPECT_EQ(parseDisasmSection(""), std::nullopt);
}

} // namespace
} // namespace kpu::dfx
