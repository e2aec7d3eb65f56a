// The graph builder, on the real corpus and on small inline graphs.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <unordered_set>

#include <gtest/gtest.h>

#include "kpu/compiler/dfg_reader.h"
#include "kpu/compiler/graph_builder.h"

namespace kpu::ir {
namespace {

const std::string kCorpus = std::string(KPU_SHARED_DIR) + "/dfg-corpus";

Expected<Graph> load(const std::string& relative, const BuildOptions& options = {}) {
    const std::string path = kCorpus + "/" + relative;
    auto file = dfg::parseFile(path);
    if (!file)
        return std::unexpected(file.error());
    return buildGraph(*file, path, options);
}

Expected<Graph> build(std::string_view text, const BuildOptions& options = {}) {
    auto file = dfg::parse(text, "g.dfg");
    if (!file)
        return std::unexpected(file.error());
    return buildGraph(*file, "g.dfg", options);
}

const Operation& opById(const Graph& g, std::int64_t id) {
    auto it = std::ranges::find_if(g.ops, [&](const Operation& op) { return op.nodeId == id; });
    EXPECT_NE(it, g.ops.end()) << "no node " << id;
    return *it;
}

std::vector<std::string> names(const Graph& g, const std::vector<ValueId>& ids) {
    std::vector<std::string> out;
    for (ValueId id : ids)
        out.push_back(id == kNoValue ? "<none>" : g.value(id).name);
    return out;
}

Shape shapeOf(const Graph& g, ValueId id) {
    return g.value(id).type.shape;
}

struct ManifestRow {
    std::size_t nodes = 0;
    std::set<std::string> operators;
};

std::map<std::string, ManifestRow> readManifest() {
    std::map<std::string, ManifestRow> rows;
    std::ifstream in(kCorpus + "/MANIFEST.tsv");
    std::string line;
    std::getline(in, line); // header
    while (std::getline(in, line)) {
        std::vector<std::string> cols;
        std::stringstream ss(line);
        std::string col;
        while (std::getline(ss, col, '\t'))
            cols.push_back(col);
        if (cols.size() < 7)
            continue;
        ManifestRow row;
        row.nodes = std::stoul(cols[5]);
        std::stringstream ops(cols[6]);
        while (std::getline(ops, col, ','))
            row.operators.insert(col);
        rows[cols[0]] = row;
    }
    return rows;
}

TEST(GraphCorpus, EveryFileParsesAndBuildsAndMatchesTheManifest) {
    const auto manifest = readManifest();
    ASSERT_EQ(manifest.size(), 59u);
    std::size_t files = 0;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(kCorpus)) {
        if (!entry.is_regular_file() || entry.path().extension() != ".dfg")
            continue;
        ++files;
        const std::string relative =
            std::filesystem::relative(entry.path(), kCorpus).generic_string();
        SCOPED_TRACE(relative);
        auto file = dfg::parseFile(entry.path().string());
        ASSERT_TRUE(file) << file.error().message;
        EXPECT_TRUE(file->warnings.empty()); // counts agree in every real file
        auto graph = buildGraph(*file, entry.path().string());
        ASSERT_TRUE(graph) << graph.error().message;
        auto row = manifest.find(relative);
        ASSERT_NE(row, manifest.end());
        EXPECT_EQ(file->nodes.size(), row->second.nodes);
        EXPECT_EQ(graph->ops.size(), row->second.nodes);
        std::set<std::string> ops;
        for (const Operation& op : graph->ops)
            ops.insert(op.opName);
        EXPECT_EQ(ops, row->second.operators);

        // Invariants: unique names, topological order, every operand defined, outputs exist.
        std::unordered_set<std::string> seen;
        for (const Value& v : graph->values) {
            EXPECT_TRUE(seen.insert(v.name).second) << v.name;
            EXPECT_FALSE(v.type.shape.empty() && v.name.empty());
            for (std::int64_t d : v.type.shape)
                EXPECT_GE(d, 0) << v.name;
        }
        std::vector<bool> defined(graph->values.size(), false);
        for (ValueId id : graph->inputs)
            defined[static_cast<std::size_t>(id)] = true;
        for (const Operation& op : graph->ops) {
            EXPECT_EQ(op.operands.size(),
                      op.operandTypes.size() * (op.kind == OpKind::Function ? 0 : 1));
            for (ValueId id : op.operands) {
                if (id == kNoValue)
                    continue;
                EXPECT_TRUE(defined[static_cast<std::size_t>(id)])
                    << "node " << op.nodeId << " reads " << graph->value(id).name << " too early";
            }
            for (ValueId id : op.results)
                defined[static_cast<std::size_t>(id)] = true;
        }
        EXPECT_FALSE(graph->outputs.empty());
        for (ValueId id : graph->outputs)
            EXPECT_NE(graph->value(id).producer, -1);
    }
    EXPECT_EQ(files, 59u);
}

TEST(GraphCorpus, KpuSimMatmul) {
    auto g = load("stillwater-sc+kpu-sim/test_graphs/simple/matmul.dfg");
    ASSERT_TRUE(g) << g.error().message;
    EXPECT_EQ(g->name, "non-batched-2-input-matmul");
    EXPECT_EQ(names(*g, g->constants), (std::vector<std::string>{"A", "B", "Cin"}));
    EXPECT_TRUE(g->inputs.empty());
    EXPECT_EQ(names(*g, g->outputs), (std::vector<std::string>{"Cout"}));
    EXPECT_EQ(g->values.size(), 4u); // the return node's repeated 'Cout' makes no value
    const Operation& mm = opById(*g, 3);
    EXPECT_EQ(mm.kind, OpKind::MatMul);
    EXPECT_EQ(mm.name, "2-input MATMUL");
    EXPECT_EQ(names(*g, mm.operands), (std::vector<std::string>{"A", "B"}));
    EXPECT_EQ(shapeOf(*g, mm.operands[0]), (Shape{4, 16}));
    EXPECT_EQ(shapeOf(*g, mm.operands[1]), (Shape{16, 4}));
    EXPECT_EQ(shapeOf(*g, mm.results[0]), (Shape{4, 4}));
    EXPECT_EQ(g->value(mm.results[0]).producer, static_cast<std::int32_t>(&mm - g->ops.data()));
    // Cin is a constant nobody reads.
    const ValueId cin = g->constants[2];
    for (const Operation& op : g->ops)
        EXPECT_EQ(std::ranges::count(op.operands, cin), 0);
    const Operation& ret = opById(*g, 4);
    EXPECT_EQ(ret.kind, OpKind::FunctionReturn);
    EXPECT_TRUE(ret.results.empty());
    ASSERT_EQ(ret.attributes.size(), 1u);
    EXPECT_EQ(ret.attributes[0].value, "memory");
    // Topological order with ties by id, although the file lists nodes 4, 3, 2, 1, 0.
    std::vector<std::int64_t> order;
    for (const Operation& op : g->ops)
        order.push_back(op.nodeId);
    EXPECT_EQ(order, (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
    EXPECT_TRUE(g->warnings.empty());
}

TEST(GraphCorpus, Test1FiveFieldEdgesAndUnknownReturn) {
    const std::string rel = "branes-ai+dfa-dynamics/data/tosa/test1.dfg";
    auto g = load(rel);
    ASSERT_TRUE(g) << g.error().message;
    const Operation& add = opById(*g, 3);
    // EDGE 1 -> 3 then EDGE 2 -> 3: slots in file order.
    EXPECT_EQ(names(*g, add.operands), (std::vector<std::string>{"arg1", "result_0"}));
    const Operation& mm = opById(*g, 4);
    EXPECT_EQ(names(*g, mm.operands), (std::vector<std::string>{"result_0_3", "arg1"}));
    // arg1 declares no type: it takes its first consumer's (node 3) declared operand type, not
    // the edge placeholder 1xi32.
    ASSERT_EQ(g->inputs.size(), 1u);
    EXPECT_EQ(g->value(g->inputs[0]).name, "arg1");
    EXPECT_EQ(g->value(g->inputs[0]).type.shape, (Shape{1, 1, 4}));
    EXPECT_EQ(g->value(g->inputs[0]).type.dtype, DType::F32);
    // arg0: no type and no uses -> no value, a warning.
    EXPECT_TRUE(opById(*g, 0).results.empty());
    // func.return and result0 are UNKNOWN return markers: no values; both return node 4's value.
    EXPECT_EQ(opById(*g, 5).kind, OpKind::Unknown);
    EXPECT_TRUE(opById(*g, 5).results.empty());
    EXPECT_TRUE(opById(*g, 6).results.empty());
    EXPECT_EQ(names(*g, opById(*g, 6).operands), (std::vector<std::string>{"result_0_4"}));
    EXPECT_EQ(names(*g, g->outputs), (std::vector<std::string>{"result_0_4"}));
    EXPECT_EQ(g->value(g->outputs[0]).sourceName, "result_0");
    EXPECT_EQ(names(*g, g->constants), (std::vector<std::string>{"result_0"}));
    // The matmul declares operand 1 as 1x4x4 but receives arg1 (1x1x4): a warning, not an error.
    const std::string path = kCorpus + "/" + rel;
    EXPECT_NE(std::ranges::find(g->warnings,
                                path + ":8: warning: node 4 'tosa.matmul' operand 1: declared "
                                       "tensor<1x4x4xf32>, value 'arg1' is tensor<1x1x4xf32>"),
              g->warnings.end());
}

TEST(GraphCorpus, ThreeInputMatmulSlotOrder) {
    auto g = load("branes-ai+dfa-dynamics/data/workloads/dfa/non-batched-3-input-matmul.dfg");
    ASSERT_TRUE(g) << g.error().message;
    const auto mm =
        std::ranges::find_if(g->ops, [](const Operation& op) { return op.kind == OpKind::MatMul; });
    ASSERT_NE(mm, g->ops.end());
    ASSERT_EQ(mm->operands.size(), 3u);
    EXPECT_EQ(names(*g, mm->operands), (std::vector<std::string>{"A", "B", "Cin"}));
    EXPECT_EQ(names(*g, g->outputs), (std::vector<std::string>{"Cout"}));
    EXPECT_TRUE(g->warnings.empty());
}

TEST(GraphCorpus, MobilenetV2) {
    const std::string rel = "branes-ai+dfa-dynamics/data/dl/convolution/mobilenet_v2.dfg";
    auto g = load(rel);
    ASSERT_TRUE(g) << g.error().message;
    EXPECT_EQ(g->ops.size(), 219u);
    EXPECT_TRUE(g->name.ends_with("mobilenet_v2_tosa.mlir"));
    EXPECT_TRUE(g->warnings.empty());
    // FUNCTION (node 1) is the signature: no values; its edge to the first conv is arg0.
    EXPECT_TRUE(opById(*g, 1).results.empty());
    EXPECT_TRUE(opById(*g, 1).operands.empty());
    ASSERT_EQ(g->inputs.size(), 1u);
    EXPECT_EQ(g->value(g->inputs[0]).name, "arg0");
    EXPECT_EQ(g->value(g->inputs[0]).type.shape, (Shape{1, 224, 224, 3}));
    const Operation& conv = opById(*g, 109);
    EXPECT_EQ(conv.kind, OpKind::Conv2D);
    EXPECT_EQ(conv.operands[0], g->inputs[0]);
    EXPECT_EQ(shapeOf(*g, conv.operands[1]), (Shape{32, 3, 3, 3}));
    EXPECT_EQ(shapeOf(*g, conv.results[0]), (Shape{1, 112, 112, 32}));
    ASSERT_EQ(conv.attributes.size(), 3u);
    EXPECT_EQ(conv.attributes[0].key, "dilation");
    EXPECT_EQ(conv.attributes[0].value, "array<i64: 1, 1>");
    EXPECT_EQ(conv.attributes[1].value, "array<i64: 0, 1, 0, 1>");
    const Operation& clamp = opById(*g, 110);
    EXPECT_EQ(clamp.attributes[0].key, "max_fp");
    EXPECT_EQ(clamp.attributes[0].value, "6.000000e+00 : f32");
    // FUNCTION_RETURN and FUNCTION_RESULT both return node 216: one output.
    EXPECT_EQ(opById(*g, 218).kind, OpKind::FunctionResult);
    ASSERT_EQ(g->outputs.size(), 1u);
    EXPECT_EQ(g->value(g->outputs[0]).producer,
              static_cast<std::int32_t>(&opById(*g, 216) - g->ops.data()));
    EXPECT_EQ(shapeOf(*g, g->outputs[0]), (Shape{1, 1000}));
    // 107 constants named result_0: the first keeps the name, the others get _<id>.
    EXPECT_EQ(g->constants.size(), 107u);
    EXPECT_EQ(g->value(g->constants[0]).name, "result_0");
    EXPECT_EQ(g->value(g->constants[1]).name, "result_0_3");
    EXPECT_EQ(g->value(g->constants[1]).sourceName, "result_0");

    auto g8 = load(rel, BuildOptions{.batch = 8});
    ASSERT_TRUE(g8) << g8.error().message;
    EXPECT_EQ(g8->value(g8->inputs[0]).type.shape, (Shape{8, 224, 224, 3}));
    EXPECT_EQ(shapeOf(*g8, g8->outputs[0]), (Shape{8, 1000}));
    EXPECT_EQ(opById(*g8, 109).operandTypes[0].shape, (Shape{8, 224, 224, 3}));
    EXPECT_TRUE(g8->warnings.empty());
}

TEST(GraphCorpus, MobilenetV2TosaFiveFieldEdgesFollowDeclaredTypes) {
    // The 5-field edges into a node are not listed in slot order in this file; the declared
    // operand types decide.
    for (const char* rel : {"branes-ai+dfa-dynamics/data/dfg/mobilenet_v2_tosa.dfg",
                            "branes-ai+dfa-dynamics@7aa97c2618/data/dfg/mobilenet_v2_tosa.dfg"}) {
        SCOPED_TRACE(rel);
        auto g = load(rel);
        ASSERT_TRUE(g) << g.error().message;
        EXPECT_TRUE(g->warnings.empty()) << g->warnings.front();
        const Operation& conv = opById(*g, 108);
        ASSERT_EQ(conv.operands.size(), 3u);
        EXPECT_EQ(g->value(conv.operands[0]).name, "arg0");
        EXPECT_EQ(shapeOf(*g, conv.operands[1]), (Shape{32, 3, 3, 3}));
        EXPECT_EQ(shapeOf(*g, conv.operands[2]), (Shape{32}));
        EXPECT_EQ(g->value(g->inputs[0]).type.shape,
                  (Shape{1, 224, 224, 3}));               // typed by its consumer
        EXPECT_EQ(opById(*g, 216).kind, OpKind::Unknown); // func.return marker
        ASSERT_EQ(g->outputs.size(), 1u);
        EXPECT_EQ(shapeOf(*g, g->outputs[0]), (Shape{1, 1000}));
    }
}

TEST(GraphCorpus, OldFormatMatmulWithUnbalancedTypes) {
    auto g = load("branes-ai+dfa-dynamics@04d1511777/data/workloads/nla/matmul.dfg");
    ASSERT_TRUE(g) << g.error().message;
    EXPECT_EQ(g->name, "matmul");
    // The argument's type is written as its operand type 'tensor<4x256xf32' (no '>').
    EXPECT_EQ(names(*g, g->inputs), (std::vector<std::string>{"inputVector", "matmul.in1"}));
    EXPECT_EQ(shapeOf(*g, g->inputs[0]), (Shape{4, 256}));
    // 'tensor<4x256xf32,tensor<4x256x16xf32>' is two types; slot 1 has no edge: an implicit input.
    EXPECT_EQ(shapeOf(*g, g->inputs[1]), (Shape{4, 256, 16}));
    EXPECT_EQ(g->value(g->inputs[1]).producer, -1);
    const Operation& mm = opById(*g, 1);
    EXPECT_EQ(names(*g, mm.operands), (std::vector<std::string>{"inputVector", "matmul.in1"}));
    EXPECT_EQ(shapeOf(*g, mm.results[0]), (Shape{4, 16}));
    EXPECT_EQ(names(*g, opById(*g, 2).results), (std::vector<std::string>{"out_2"}));
    EXPECT_EQ(names(*g, g->outputs), (std::vector<std::string>{"out_2"}));
    ASSERT_EQ(g->warnings.size(), 1u); // sigmoid declares tensor<16xf32> for a 4x16 value
    EXPECT_NE(
        g->warnings[0].find(
            ":6: warning: node 2 'sigmoid' operand 0: declared tensor<16xf32>, value 'out' is "
            "tensor<4x16xf32>"),
        std::string::npos)
        << g->warnings[0];
}

TEST(GraphCorpus, NestedResultTypeAndImplicitInputs) {
    auto g = load("branes-ai+dfa-dynamics/data/workloads/oneLayerMLP.dfg");
    ASSERT_TRUE(g) << g.error().message;
    const Operation& linear = opById(*g, 1);
    EXPECT_EQ(linear.kind, OpKind::Linear);
    EXPECT_EQ(names(*g, linear.operands),
              (std::vector<std::string>{"inputImage", "linear.in1", "linear.in2"}));
    EXPECT_EQ(g->value(linear.operands[0]).type.dtype, DType::I8);
    EXPECT_EQ(g->value(linear.results[0]).type.shape, (Shape{16})); // 'tensor<tensor<16xf16>'
    EXPECT_EQ(g->value(linear.results[0]).type.dtype, DType::F16);
    EXPECT_EQ(g->inputs.size(), 3u);
}

TEST(GraphCorpus, ChainedDtypes) {
    auto g = load("branes-ai+dfa-dynamics/data/workloads/nla/matmul_8x8_chained.dfg");
    ASSERT_TRUE(g) << g.error().message;
    EXPECT_EQ(names(*g, g->constants),
              (std::vector<std::string>{"A1", "B1", "A2", "B2", "A3", "B3", "A4", "B4"}));
    const std::vector<DType> want{DType::F8E4M3, DType::F8E4M3, DType::F16, DType::F16,
                                  DType::F32,    DType::F32,    DType::F64, DType::F64};
    for (std::size_t i = 0; i < want.size(); ++i)
        EXPECT_EQ(g->value(g->constants[i]).type.dtype, want[i]) << i;
    const Operation& m9 = opById(*g, 9);
    EXPECT_EQ(names(*g, m9.operands), (std::vector<std::string>{"A2", "B2", "C1"}));
    EXPECT_EQ(m9.operandTypes[2].dtype, DType::F16); // as declared
    EXPECT_EQ(g->value(m9.operands[2]).type.dtype, DType::F8E4M3);
    EXPECT_EQ(names(*g, g->outputs), (std::vector<std::string>{"C4"}));
    EXPECT_EQ(g->value(g->outputs[0]).type.dtype, DType::F64);
    EXPECT_EQ(g->warnings.size(), 3u); // f8->f16, f16->f32, f32->f64 accumulate inputs
}

TEST(GraphBuild, DuplicateNamesAvoidCollisions) {
    auto g = build("NODES 4\n"
                   "NODE 1 : |a|CONSTANT|0|||v|f32\n"
                   "NODE 2 : |b|CONSTANT|0|||v_3|f32\n"
                   "NODE 3 : |c|CONSTANT|0|||v|f32\n"
                   "NODE 4 : |d|CONSTANT|0||||f32\n");
    ASSERT_TRUE(g) << g.error().message;
    EXPECT_EQ(names(*g, g->constants), (std::vector<std::string>{"v", "v_3", "v_3_", "d"}));
    EXPECT_EQ(g->value(g->constants[2]).sourceName, "v");
}

TEST(GraphBuild, NoReturnNodeUsesSinks) {
    constexpr std::string_view base = "NODES 3\n"
                                      "NODE 0 : |a|CONSTANT|0|||A|tensor<2xf32>\n"
                                      "NODE 1 : |e|EXP|1|tensor<2xf32>||E|tensor<2xf32>\n"
                                      "NODE 2 : |k|CONSTANT|0|||K|tensor<2xf32>\n"
                                      "EDGES 1\n"
                                      "EDGE 0 -> 1 : 0|false|tensor<2xf32>|32|0|0|1\n";
    auto g = build(base);
    ASSERT_TRUE(g) << g.error().message;
    EXPECT_EQ(names(*g, g->outputs),
              (std::vector<std::string>{"E"})); // unread constants are not outputs
    g = build(std::string(base) + "SINK: 1, 2");
    ASSERT_TRUE(g) << g.error().message;
    EXPECT_EQ(names(*g, g->outputs), (std::vector<std::string>{"E", "K"}));
}

TEST(GraphBuild, FunctionSignatureWithoutArgumentNodes) {
    auto g = build("NODES 3\n"
                   "NODE 0 : |f|FUNCTION|0|0:tensor<?x4xf32>||0:r|0:tensor<?x4xf32>\n"
                   "NODE 1 : |e|EXP|1|0:tensor<?x4xf32>||0:E|0:tensor<?x4xf32>\n"
                   "NODE 2 : |ret|FUNCTION_RETURN|2|0:tensor<?x4xf32>|||\n"
                   "EDGES 2\n"
                   "EDGE 0 -> 1 : 1|true|1xi32|32|0|0|0,0,0\n"
                   "EDGE 1 -> 2 : 1|true|1xi32|32|0|0|0,0,0\n",
                   BuildOptions{.batch = 3});
    ASSERT_TRUE(g) << g.error().message;
    EXPECT_EQ(names(*g, g->inputs), (std::vector<std::string>{"f.arg0"}));
    EXPECT_EQ(shapeOf(*g, g->inputs[0]), (Shape{3, 4}));
    EXPECT_EQ(names(*g, g->outputs), (std::vector<std::string>{"E"}));
    EXPECT_EQ(opById(*g, 0).operandTypes.size(), 1u);
}

TEST(GraphBuild, Errors) {
    auto expectError = [](std::string_view text, std::string_view prefix, std::string_view fragment,
                          const BuildOptions& options = {}) {
        auto g = build(text, options);
        ASSERT_FALSE(g) << text;
        EXPECT_TRUE(g.error().message.starts_with(prefix)) << g.error().message;
        EXPECT_NE(g.error().message.find(fragment), std::string::npos) << g.error().message;
    };
    constexpr std::string_view two = "NODES 2\n"
                                     "NODE 5 : |a|EXP|0|0:f32||0:A|0:f32\n"
                                     "NODE 7 : |b|EXP|0|0:f32||0:B|0:f32\n";
    // A two-node cycle, the other node written first: the smallest id of the cycle is named.
    expectError(std::string(two) +
                    "EDGE 7 -> 5 : 0|false|f32|32|0|0|1\nEDGE 5 -> 7 : 0|false|f32|32|0|0|1\n",
                "g.dfg:2:1: error: ", "cycle in the graph through node 5 'a'");
    expectError(std::string(two) + "EDGE 9 -> 5 : 0|false|f32|32|0|0|1\n",
                "g.dfg:4:6: error: ", "edge from undefined node 9");
    expectError(std::string(two) + "EDGE 5 -> 7 : 0|false|f32|32|3|0|1\n",
                "g.dfg:4:30: error: ", "result slot 3 of node 5 'a' is out of range");
    expectError("NODES 2\nNODE 0 : |r|FUNCTION_RETURN|0|f32|||\nNODE 1 : |b|EXP|0|f32||B|f32\n"
                "EDGE 0 -> 1 : 0|false|f32|32|1\n",
                "g.dfg:4:6: error: ", "a return node that produces no values");
    expectError("NODES 1\nNODE 0 : |a|EXP|0|tensor<4xq9>||A|f32\n", "g.dfg:2:19: error: ",
                "operand 0 of node 0 'a' has no incoming edge and no usable type");
    expectError(two, "g.dfg: error: ", "batch size must be positive", BuildOptions{.batch = 0});
}

TEST(GraphBuild, GraphDumpIsStable) {
    auto g = load("stillwater-sc+kpu-sim/test_graphs/simple/matmul.dfg");
    ASSERT_TRUE(g);
    EXPECT_EQ(dumpGraph(*g),
              "graph 'non-batched-2-input-matmul' (5 ops, 4 values)\n"
              "  node    0 CONSTANT           'const.A'  () -> (%A:4x16xf32)\n"
              "  node    1 CONSTANT           'const.B'  () -> (%B:16x4xf32)\n"
              "  node    2 CONSTANT           'const.Cin'  () -> (%Cin:4x4xf32)\n"
              "  node    3 MATMUL             '2-input MATMUL'  (%A:4x16xf32, %B:16x4xf32) -> "
              "(%Cout:4x4xf32)\n"
              "  node    4 FUNCTION_RETURN    'Cout'  (%Cout:4x4xf32) -> ()\n"
              "  inputs: \n"
              "  constants: A, B, Cin\n"
              "  outputs: Cout\n");
}

TEST(GraphBuild, ManyEqualNamesStayCheap) {
    std::string text = "NODES 1\nNODE 0 : |a|SPLIT|0|||";
    constexpr int kCount = 20000;
    for (int i = 0; i < kCount; ++i)
        text += i == 0 ? "v" : ",v";
    text += "|";
    for (int i = 0; i < kCount; ++i)
        text += i == 0 ? "f32" : ",f32";
    auto g = build(text);
    ASSERT_TRUE(g) << g.error().message;
    ASSERT_EQ(g->values.size(), static_cast<std::size_t>(kCount));
    EXPECT_EQ(g->values[0].name, "v");
    EXPECT_EQ(g->values[1].name, "v_0");
    EXPECT_EQ(g->values[2].name, "v_0_");
    EXPECT_EQ(g->values[6].name, "v_0_1");
    std::unordered_set<std::string> unique;
    for (const Value& v : g->values)
        EXPECT_TRUE(unique.insert(v.name).second);
}

} // namespace
} // namespace kpu::ir
