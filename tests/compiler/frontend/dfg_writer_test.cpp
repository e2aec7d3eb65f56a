// The .dfg writer (kpu/compiler/dfg_writer.h): every corpus file and example written, read back
// (dfg::parse + buildGraph + canonicalizeGraph) and compared with the graph it came from in
// structure (operations in order, operand wiring, value names and types, attributes, inputs,
// constants, outputs), written again byte for byte, and compiled from the text to the same
// object as from the file (the examples and every computable corpus file); then hand-built graphs
// for what files do not contain: names the format cannot carry, scalars, every dtype, multi-result
// operations, the new operator kinds and importer-style graphs whose inputs, constants and outputs
// have no nodes.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "kpu/common/file_io.h"
#include "kpu/compiler/canonicalize.h"
#include "kpu/compiler/compiler.h"
#include "kpu/compiler/dfg_reader.h"
#include "kpu/compiler/dfg_writer.h"
#include "kpu/compiler/graph_builder.h"
#include "support/corpus.h"

namespace kpu::ir {
namespace {

// The compiler's reading of a .dfg text: parse, build, canonicalise (as readDfgGraph does).
Expected<Graph> readText(const std::string& text, const std::string& fileName = "written.dfg") {
    auto file = dfg::parse(text, fileName);
    if (!file)
        return std::unexpected(file.error());
    if (!file->warnings.empty())
        return fail("{}: reader warning on written text: {}", fileName, file->warnings.front());
    auto graph = buildGraph(*file, fileName);
    if (graph)
        canonicalizeGraph(*graph);
    return graph;
}

std::string typeString(const TensorType& t) {
    return fmt::format("{}x{}", formatShape(t.shape), dtypeName(t.dtype));
}

std::string valueName(const Graph& g, ValueId v) {
    return v == kNoValue ? std::string("<none>") : g.value(v).name;
}

std::vector<std::string> valueNames(const Graph& g, const std::vector<ValueId>& ids) {
    std::vector<std::string> out;
    for (ValueId v : ids)
        out.push_back(valueName(g, v));
    return out;
}

// Every structural difference between two graphs (empty: equal). Values are matched by their
// unique names; a value's producer is compared as (operation index, slot). Node ids, source
// lines, warnings and the source file are not structure.
std::vector<std::string> differences(const Graph& a, const Graph& b) {
    std::vector<std::string> d;
    auto add = [&](std::string s) {
        if (d.size() < 40)
            d.push_back(std::move(s));
    };
    if (a.name != b.name)
        add(fmt::format("graph name '{}' vs '{}'", a.name, b.name));
    if (a.values.size() != b.values.size())
        add(fmt::format("{} values vs {}", a.values.size(), b.values.size()));
    std::map<std::string, ValueId> byName;
    for (std::size_t v = 0; v < b.values.size(); ++v)
        if (!byName.emplace(b.values[v].name, static_cast<ValueId>(v)).second)
            add(fmt::format("value name '{}' repeats in the written graph", b.values[v].name));
    for (const Value& va : a.values) {
        auto it = byName.find(va.name);
        if (it == byName.end()) {
            add(fmt::format("value '{}' is missing", va.name));
            continue;
        }
        const Value& vb = b.value(it->second);
        if (va.type.shape != vb.type.shape || va.type.dtype != vb.type.dtype)
            add(fmt::format("value '{}': type {} vs {}", va.name, typeString(va.type),
                            typeString(vb.type)));
        if (va.producer != vb.producer || (va.producer >= 0 && va.producerSlot != vb.producerSlot))
            add(fmt::format("value '{}': produced by op {} slot {} vs op {} slot {}", va.name,
                            va.producer, va.producerSlot, vb.producer, vb.producerSlot));
    }
    if (a.ops.size() != b.ops.size())
        add(fmt::format("{} ops vs {}", a.ops.size(), b.ops.size()));
    for (std::size_t i = 0; i < std::min(a.ops.size(), b.ops.size()); ++i) {
        const Operation& x = a.ops[i];
        const Operation& y = b.ops[i];
        const std::string where = fmt::format("op {} ('{}', {})", i, x.name, x.opName);
        if (x.kind != y.kind || x.opName != y.opName)
            add(fmt::format("{}: operator {} vs {}", where, x.opName, y.opName));
        if (x.name != y.name)
            add(fmt::format("{}: name '{}' vs '{}'", where, x.name, y.name));
        if (valueNames(a, x.operands) != valueNames(b, y.operands))
            add(fmt::format("{}: operands ({}) vs ({})", where,
                            fmt::join(valueNames(a, x.operands), ", "),
                            fmt::join(valueNames(b, y.operands), ", ")));
        if (valueNames(a, x.results) != valueNames(b, y.results))
            add(fmt::format("{}: results ({}) vs ({})", where,
                            fmt::join(valueNames(a, x.results), ", "),
                            fmt::join(valueNames(b, y.results), ", ")));
        std::vector<std::string> tx, ty;
        for (const TensorType& t : x.operandTypes)
            tx.push_back(typeString(t));
        for (const TensorType& t : y.operandTypes)
            ty.push_back(typeString(t));
        if (tx != ty)
            add(fmt::format("{}: declared operand types ({}) vs ({})", where, fmt::join(tx, ", "),
                            fmt::join(ty, ", ")));
        std::vector<std::string> ax, ay;
        for (const Attribute& at : x.attributes)
            ax.push_back(at.key + "=" + at.value);
        for (const Attribute& at : y.attributes)
            ay.push_back(at.key + "=" + at.value);
        if (ax != ay)
            add(fmt::format("{}: attributes [{}] vs [{}]", where, fmt::join(ax, "; "),
                            fmt::join(ay, "; ")));
    }
    if (valueNames(a, a.inputs) != valueNames(b, b.inputs))
        add(fmt::format("inputs ({}) vs ({})", fmt::join(valueNames(a, a.inputs), ", "),
                        fmt::join(valueNames(b, b.inputs), ", ")));
    if (valueNames(a, a.constants) != valueNames(b, b.constants))
        add(fmt::format("constants ({}) vs ({})", fmt::join(valueNames(a, a.constants), ", "),
                        fmt::join(valueNames(b, b.constants), ", ")));
    if (valueNames(a, a.outputs) != valueNames(b, b.outputs))
        add(fmt::format("outputs ({}) vs ({})", fmt::join(valueNames(a, a.outputs), ", "),
                        fmt::join(valueNames(b, b.outputs), ", ")));
    return d;
}

bool uniqueNodeIds(const Graph& g) {
    std::set<std::int64_t> ids;
    for (const Operation& op : g.ops)
        if (!ids.insert(op.nodeId).second)
            return false;
    return true;
}

std::vector<std::int64_t> nodeIds(const Graph& g) {
    std::vector<std::int64_t> ids;
    for (const Operation& op : g.ops)
        ids.push_back(op.nodeId);
    return ids;
}

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t end = text.find('\n', start);
        out.push_back(text.substr(start, end - start));
        if (end == std::string::npos)
            break;
        start = end + 1;
    }
    return out;
}

std::vector<std::string> linesStartingWith(const std::string& text, const std::string& prefix) {
    std::vector<std::string> out;
    for (const std::string& l : lines(text))
        if (l.starts_with(prefix))
            out.push_back(l);
    return out;
}

// Write, read back, compare, write again. Returns the re-read graph.
Graph roundTrip(const Graph& original) {
    const std::string text = writeDfg(original);
    EXPECT_TRUE(text.ends_with('\n'));
    auto back = readText(text);
    if (!back) {
        ADD_FAILURE() << "the written text does not read back: " << back.error().message << "\n"
                      << text;
        return {};
    }
    const std::vector<std::string> diff = differences(original, *back);
    EXPECT_TRUE(diff.empty()) << "the graph read back differs:\n  "
                              << fmt::format("{}", fmt::join(diff, "\n  ")) << "\nwritten text:\n"
                              << text;
    EXPECT_EQ(writeDfg(*back), text) << "a second write differs from the first";
    return *back;
}

// The graph read back compiles, to the same object as the original graph. Node ids are in the
// object; the original takes the written ones (renumbered when canonicalisation repeated them).
void expectSameObject(const Graph& original, const Graph& back) {
    ASSERT_EQ(original.ops.size(), back.ops.size());
    Graph renumbered = original;
    for (std::size_t i = 0; i < back.ops.size(); ++i)
        renumbered.ops[i].nodeId = back.ops[i].nodeId;
    const compiler::CompileOptions options;
    auto fromText = compiler::compileGraph(back, "model.dfg", options);
    ASSERT_TRUE(fromText) << "the written graph does not compile: " << fromText.error().message;
    EXPECT_FALSE(fromText->object.empty());
    auto fromOriginal = compiler::compileGraph(renumbered, "model.dfg", options);
    ASSERT_TRUE(fromOriginal) << fromOriginal.error().message;
    EXPECT_EQ(fromText->object, fromOriginal->object)
        << "the written graph compiles to another object than the original";
}

// The corpus --------------------------------------------------------------------------------

std::vector<std::string> corpusFiles() {
    std::vector<std::string> files;
    for (const auto& e : test::corpusManifest())
        files.push_back(e.path);
    return files;
}

TEST(DfgWriterCorpus, ManifestIsReadable) {
    EXPECT_EQ(corpusFiles().size(), test::kCorpusFileCount)
        << "cannot read " << test::kCorpusDir << "/MANIFEST.tsv";
}

class DfgWriterCorpusFile : public ::testing::TestWithParam<std::string> {};

TEST_P(DfgWriterCorpusFile, RoundTripsInStructureAndWritesTheSameBytesTwice) {
    const std::string path = test::kCorpusDir + "/" + GetParam();
    auto original = compiler::readDfgGraph(path, 1);
    ASSERT_TRUE(original) << original.error().message; // every corpus file must be read
    const Graph back = roundTrip(*original);
    if (::testing::Test::HasFailure())
        return;
    // Unique ids are kept; ids made ambiguous by canonicalisation are renumbered in order.
    if (uniqueNodeIds(*original)) {
        EXPECT_EQ(nodeIds(back), nodeIds(*original));
    }
    EXPECT_TRUE(uniqueNodeIds(back));
    // A computable file's graph compiles from the text to the same object as from the file.
    if (!test::findUncomputable(GetParam()))
        expectSameObject(*original, back);
}

INSTANTIATE_TEST_SUITE_P(Corpus, DfgWriterCorpusFile, ::testing::ValuesIn(corpusFiles()),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                             return test::corpusTestName(p.param);
                         });

// The examples: the text read back also compiles, to the same object.

std::vector<std::string> exampleFiles() {
    std::vector<std::string> files;
    for (const auto& entry :
         std::filesystem::directory_iterator(std::string(KPU_SOURCE_DIR) + "/examples"))
        if (entry.path().extension() == ".dfg")
            files.push_back(entry.path().filename().string());
    std::ranges::sort(files);
    return files;
}

TEST(DfgWriterExamples, ThereAreExamples) {
    EXPECT_GE(exampleFiles().size(), 6u);
}

class DfgWriterExample : public ::testing::TestWithParam<std::string> {};

TEST_P(DfgWriterExample, RoundTripsAndTheWrittenGraphCompilesToTheSameObject) {
    const std::string path = std::string(KPU_SOURCE_DIR) + "/examples/" + GetParam();
    auto original = compiler::readDfgGraph(path, 1);
    if (!original)
        GTEST_SKIP() << "readDfgGraph refuses it: " << original.error().message;
    const Graph back = roundTrip(*original);
    if (::testing::Test::HasFailure())
        return;
    expectSameObject(*original, back);
}

INSTANTIATE_TEST_SUITE_P(Examples, DfgWriterExample, ::testing::ValuesIn(exampleFiles()),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                             return test::corpusTestName(p.param);
                         });

// Hand-built graphs ---------------------------------------------------------------------------

TensorType tt(Shape shape, DType dtype = DType::F32) {
    return TensorType{std::move(shape), dtype};
}

// Builds graphs the way a frontend does: operations in order, ids 0, 1, 2, ...
class GraphBuilder {
public:
    explicit GraphBuilder(std::string name) { g.name = std::move(name); }

    // A FUNCTION_ARGUMENT operation producing one input.
    ValueId input(const std::string& name, TensorType type) {
        const ValueId v = op(OpKind::FunctionArgument, {}, {{name, std::move(type)}}, {}, name)[0];
        g.inputs.push_back(v);
        return v;
    }
    // A CONSTANT operation.
    ValueId constant(const std::string& name, TensorType type) {
        const ValueId v =
            op(OpKind::Constant, {}, {{name, std::move(type)}}, {}, "const." + name)[0];
        g.constants.push_back(v);
        return v;
    }
    // A value without a producing operation (as an importer may make inputs and initializers).
    ValueId bare(const std::string& name, TensorType type) {
        Value v;
        v.name = v.sourceName = name;
        v.type = std::move(type);
        g.values.push_back(std::move(v));
        return static_cast<ValueId>(g.values.size() - 1);
    }

    std::vector<ValueId> op(OpKind kind, const std::vector<ValueId>& operands,
                            const std::vector<std::pair<std::string, TensorType>>& results,
                            std::vector<Attribute> attributes = {}, std::string name = "",
                            std::string opName = "") {
        Operation op;
        op.kind = kind;
        op.opName = opName.empty() ? std::string(opKindName(kind)) : std::move(opName);
        op.nodeId = nextId++;
        op.name = name.empty() ? (results.empty() ? op.opName : results[0].first) : name;
        op.operands = operands;
        for (ValueId v : operands)
            op.operandTypes.push_back(v == kNoValue ? TensorType{} : g.value(v).type);
        op.attributes = std::move(attributes);
        for (std::size_t k = 0; k < results.size(); ++k) {
            Value v;
            v.name = v.sourceName = results[k].first;
            v.type = results[k].second;
            v.producer = static_cast<std::int32_t>(g.ops.size());
            v.producerSlot = static_cast<std::int32_t>(k);
            g.values.push_back(std::move(v));
            op.results.push_back(static_cast<ValueId>(g.values.size() - 1));
        }
        g.ops.push_back(std::move(op));
        return g.ops.back().results;
    }
    ValueId op1(OpKind kind, const std::vector<ValueId>& operands, const std::string& result,
                TensorType type, std::vector<Attribute> attributes = {}) {
        return op(kind, operands, {{result, std::move(type)}}, std::move(attributes))[0];
    }

    // A FUNCTION_RETURN operation returning `values`.
    void ret(const std::vector<ValueId>& values) {
        op(OpKind::FunctionReturn, values, {}, {{"target", "memory"}}, "output");
        for (ValueId v : values)
            g.outputs.push_back(v);
    }

    Graph g;
    std::int64_t nextId = 0;
};

TEST(DfgWriter, WritesTheCurrentGrammarWithSlotsTypesAttributesAndAdjacency) {
    GraphBuilder b("mlp");
    const ValueId x = b.input("x", tt({8, 16}));
    const ValueId w = b.constant("W", tt({16, 4}));
    const ValueId bias = b.constant("b", tt({4}));
    const ValueId mm = b.op1(OpKind::MatMul, {x, w}, "mm", tt({8, 4}));
    const ValueId pre = b.op1(OpKind::Add, {mm, bias}, "pre", tt({8, 4}));
    const ValueId y = b.op1(OpKind::Clamp, {pre}, "y", tt({8, 4}),
                            {{"min_fp", "0.000000e+00 : f32"}, {"max_fp", "6.000000e+00 : f32"}});
    b.ret({y});
    const std::string text = writeDfg(b.g);
    const std::string expected = "Domain Flow Graph: mlp\n"
                                 "DIRECTED\n"
                                 "RUNNING_NODE_ID 6\n"
                                 "NODES 7\n"
                                 "NODE 0 : |x|FUNCTION_ARGUMENT|0|||0:x|0:tensor<8x16xf32>\n"
                                 "NODE 1 : |const.W|CONSTANT|0|||0:W|0:tensor<16x4xf32>\n"
                                 "NODE 2 : |const.b|CONSTANT|0|||0:b|0:tensor<4xf32>\n"
                                 "NODE 3 : |mm|MATMUL|1|0:tensor<8x16xf32>,1:tensor<16x4xf32>||"
                                 "0:mm|0:tensor<8x4xf32>\n"
                                 "NODE 4 : |pre|ADD|2|0:tensor<8x4xf32>,1:tensor<4xf32>||0:pre|"
                                 "0:tensor<8x4xf32>\n"
                                 "NODE 5 : |y|CLAMP|3|0:tensor<8x4xf32>|min_fp:0.000000e+00 : "
                                 "f32,max_fp:6.000000e+00 : f32|0:y|0:tensor<8x4xf32>\n"
                                 "NODE 6 : |output|FUNCTION_RETURN|4|0:tensor<8x4xf32>|target:"
                                 "memory|0:y|0:tensor<8x4xf32>\n"
                                 "EDGES 6\n"
                                 "EDGE 0 -> 3 : 0|false|tensor<8x16xf32>|32|0|0|1,1,1\n"
                                 "EDGE 1 -> 3 : 0|true|tensor<16x4xf32>|32|0|1|1,1,1\n"
                                 "EDGE 3 -> 4 : 0|false|tensor<8x4xf32>|32|0|0|1,1,1\n"
                                 "EDGE 2 -> 4 : 0|true|tensor<4xf32>|32|0|1|1,1,1\n"
                                 "EDGE 4 -> 5 : 0|false|tensor<8x4xf32>|32|0|0|1,1,1\n"
                                 "EDGE 5 -> 6 : 0|false|tensor<8x4xf32>|32|0|0|1,1,1\n"
                                 "ADJACENCY 6\n"
                                 "ADJ 0 : 3\n"
                                 "ADJ 1 : 3\n"
                                 "ADJ 2 : 4\n"
                                 "ADJ 3 : 4\n"
                                 "ADJ 4 : 5\n"
                                 "ADJ 5 : 6\n"
                                 "SOURCE: 0, 1, 2\n"
                                 "SINK: 6\n";
    EXPECT_EQ(text, expected);
    roundTrip(b.g);
}

TEST(DfgWriter, ScalarsAndEveryElementTypeRoundTrip) {
    GraphBuilder b("dtypes");
    std::vector<ValueId> outs;
    std::vector<DType> all;
    for (int t = 0; t < kDTypeCount; ++t)
        all.push_back(static_cast<DType>(t));
    for (DType t : all) {
        const std::string n(dtypeName(t));
        outs.push_back(b.input("x_" + n, tt({2, 3}, t)));
        outs.push_back(b.constant("s_" + n, tt({}, t))); // a scalar
    }
    const ValueId x = b.input("x", tt({4}));
    const ValueId s = b.constant("s", tt({}));
    outs.push_back(b.op1(OpKind::Mul, {x, s}, "scaled", tt({4})));
    outs.push_back(b.op1(OpKind::ReduceSum, {x}, "sum", tt({}), {{"axis", "0 : i32"}}));
    b.ret(outs);
    const std::string text = writeDfg(b.g);
    for (DType t : all) {
        const std::string n(dtypeName(t));
        EXPECT_NE(text.find(fmt::format("|0:x_{}|0:tensor<2x3x{}>\n", n, n)), std::string::npos)
            << n << "\n"
            << text;
        EXPECT_NE(text.find(fmt::format("|0:s_{}|0:tensor<{}>\n", n, n)), std::string::npos) << n;
        // EDGE scalar bits follow the element size.
        EXPECT_NE(text.find(fmt::format("|tensor<{}>|{}|", n, 8 * dtypeSize(t))), std::string::npos)
            << n;
    }
    const Graph back = roundTrip(b.g);
    ASSERT_EQ(back.values.size(), b.g.values.size());
    for (const Value& v : back.values)
        if (v.name.starts_with("s_") || v.name == "s" || v.name == "sum") {
            EXPECT_TRUE(v.type.shape.empty()) << v.name;
        }
}

TEST(DfgWriter, DynamicDimensionsAreWrittenAsQuestionMarksAndReadAsTheBatch) {
    GraphBuilder b("dynamic");
    const ValueId x = b.input("x", tt({-1, 4}));
    b.ret({b.op1(OpKind::Relu, {x}, "y", tt({-1, 4}))});
    const std::string text = writeDfg(b.g);
    EXPECT_NE(text.find("|0:x|0:tensor<?x4xf32>\n"), std::string::npos) << text;
    auto back = readText(text);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->value(back->inputs.at(0)).type.shape, (Shape{1, 4}));
}

TEST(DfgWriter, NewOperatorKindsRoundTrip) {
    GraphBuilder b("new_kinds");
    const ValueId x = b.input("x", tt({2, 8}));
    const ValueId y = b.input("y", tt({2, 8}));
    const std::vector<std::pair<OpKind, std::string>> unary{
        {OpKind::Sqrt, "SQRT"}, {OpKind::Log, "LOG"}, {OpKind::Erf, "ERF"}};
    std::vector<ValueId> outs;
    for (const auto& [kind, spelling] : unary)
        outs.push_back(b.op1(kind, {x}, "r_" + spelling, tt({2, 8})));
    outs.push_back(b.op1(OpKind::Maximum, {x, y}, "r_MAXIMUM", tt({2, 8})));
    outs.push_back(b.op1(OpKind::Minimum, {outs.back(), y}, "r_MINIMUM", tt({2, 8})));
    b.ret(outs);
    const std::string text = writeDfg(b.g);
    for (const char* spelling : {"SQRT", "LOG", "ERF", "MAXIMUM", "MINIMUM"})
        EXPECT_NE(text.find(fmt::format("|r_{}|{}|", spelling, spelling)), std::string::npos)
            << spelling << "\n"
            << text;
    const Graph back = roundTrip(b.g);
    ASSERT_EQ(back.ops.size(), b.g.ops.size());
    for (std::size_t i = 0; i < back.ops.size(); ++i)
        EXPECT_EQ(back.ops[i].kind, b.g.ops[i].kind) << i;
}

TEST(DfgWriter, MultiResultAndUnknownOperationsKeepTheirSlotsAndSpelling) {
    GraphBuilder b("split");
    const ValueId x = b.input("x", tt({4, 8}));
    // An operator we do not know, with two results read by different consumers.
    const std::vector<ValueId> parts =
        b.op(OpKind::Unknown, {x}, {{"lo", tt({4, 4})}, {"hi", tt({4, 4})}}, {{"axis", "1 : i32"}},
             "split", "tosa.split");
    const ValueId sum = b.op1(OpKind::Add, {parts[1], parts[0]}, "sum", tt({4, 4}));
    // An importer's spelling the format cannot carry.
    const ValueId odd =
        b.op(OpKind::Unknown, {sum}, {{"odd", tt({4, 4})}}, {}, "odd", "Custom-Op v2")[0];
    b.ret({odd, parts[1]});
    const std::string text = writeDfg(b.g);
    EXPECT_NE(text.find("|split|tosa.split|1|0:tensor<4x8xf32>|axis:1 : i32|0:lo,1:hi|"
                        "0:tensor<4x4xf32>,1:tensor<4x4xf32>\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("|odd|Custom_Op_v2|"), std::string::npos) << text;
    // hi is result slot 1 of node 1, read by slot 0 of node 2.
    EXPECT_NE(text.find("EDGE 1 -> 2 : 0|false|tensor<4x4xf32>|32|1|0|1,1,1\n"), std::string::npos)
        << text;
    auto back = readText(text);
    ASSERT_TRUE(back) << back.error().message;
    ASSERT_EQ(back->ops.size(), b.g.ops.size());
    EXPECT_EQ(back->ops[1].kind, OpKind::Unknown);
    EXPECT_EQ(back->ops[1].opName, "tosa.split");
    EXPECT_EQ(back->ops[3].opName, "Custom_Op_v2");
    EXPECT_EQ(valueNames(*back, back->ops[1].results), (std::vector<std::string>{"lo", "hi"}));
    EXPECT_EQ(valueNames(*back, back->ops[2].operands), (std::vector<std::string>{"hi", "lo"}));
    EXPECT_EQ(valueNames(*back, back->outputs), (std::vector<std::string>{"odd", "hi"}));
    EXPECT_EQ(writeDfg(*back), text);
}

TEST(DfgWriter, AResultSlotWithoutAValueGetsAPlaceholder) {
    GraphBuilder b("gap");
    const ValueId x = b.input("x", tt({4}));
    std::vector<ValueId> r =
        b.op(OpKind::Unknown, {x}, {{"a", tt({4})}, {"c", tt({4})}}, {}, "three", "THREE");
    // Slot 1 has no value (an optional output nobody asked for); slot 2 has one.
    Operation& op = b.g.ops.back();
    op.results = {r[0], kNoValue, r[1]};
    b.g.values[static_cast<std::size_t>(r[1])].producerSlot = 2;
    b.ret({r[0], r[1]});
    const std::string text = writeDfg(b.g);
    EXPECT_NE(text.find("|0:a,1:three.unused1,2:c|0:tensor<4xf32>,1:tensor<f32>,2:tensor<4xf32>"),
              std::string::npos)
        << text;
    auto back = readText(text);
    ASSERT_TRUE(back) << back.error().message;
    const Operation& three = back->ops[1];
    ASSERT_EQ(three.results.size(), 3u);
    EXPECT_EQ(back->value(three.results[2]).name, "c");
    EXPECT_EQ(valueNames(*back, back->outputs), (std::vector<std::string>{"a", "c"}));
    EXPECT_EQ(writeDfg(*back), text);
}

TEST(DfgWriter, NamesTheFormatCannotCarryAreSanitisedDeterministicallyAndStayUnique) {
    GraphBuilder b("my\ngraph ");
    const ValueId x = b.input("in put", tt({4}));
    const ValueId y = b.input("in_put", tt({4})); // collides with x once x is sanitised
    const ValueId s = b.op1(OpKind::Add, {x, y}, "a|b,c:d", tt({4}));
    const ValueId e = b.op1(OpKind::Relu, {s}, "", tt({4})); // an empty name
    const ValueId t = b.op1(OpKind::Exp, {e}, "line\nbreak\t", tt({4}));
    b.g.ops[static_cast<std::size_t>(b.g.value(s).producer)].name = " add | node\n";
    b.g.ops[static_cast<std::size_t>(b.g.value(t).producer)].name = "2-input EXP";
    b.ret({t});
    const std::string text = writeDfg(b.g);
    const std::string again = writeDfg(b.g);
    EXPECT_EQ(text, again) << "not deterministic";
    EXPECT_TRUE(text.starts_with("Domain Flow Graph: my_graph\n")) << text;
    EXPECT_NE(text.find("NODE 2 : |add _ node_|ADD|"), std::string::npos) << text;
    EXPECT_NE(text.find("|2-input EXP|EXP|"), std::string::npos) << text; // inner space kept
    auto back = readText(text);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->name, "my_graph");
    std::vector<std::string> names;
    for (const Value& v : back->values)
        names.push_back(v.name);
    EXPECT_EQ(names, (std::vector<std::string>{"in_put", "in_put_2", "a_b_c_d",
                                               fmt::format("v{}", e), "line_break_"}));
    for (const Value& v : back->values)
        EXPECT_EQ(v.name, v.sourceName) << "the reader had to rename '" << v.sourceName << "'";
    EXPECT_EQ(valueNames(*back, back->inputs), (std::vector<std::string>{"in_put", "in_put_2"}));
    EXPECT_EQ(valueNames(*back, back->outputs), (std::vector<std::string>{"line_break_"}));
    EXPECT_EQ(back->ops[2].name, "add _ node_");
    EXPECT_EQ(writeDfg(*back), text) << "a second write differs from the first";
}

TEST(DfgWriter, AttributesStayInTheReadersSyntaxAndAreRepairedWhenTheyWouldSplit) {
    GraphBuilder b("attrs");
    const ValueId x = b.input("x", tt({1, 8, 8, 4}));
    const ValueId w = b.constant("w", tt({4, 3, 3, 4}));
    const ValueId y = b.op1(OpKind::Conv2D, {x, w}, "y", tt({1, 8, 8, 4}),
                            {{"pad", "array<i64: 1, 1, 1, 1>"},
                             {"stride", "array<i64: 1, 1>"},
                             {"dilation", "array<i64: 1, 1>"},
                             {"max_fp", "3.40282347E+38 : f32"}});
    const ValueId z = b.op1(OpKind::Relu, {y}, "z", tt({1, 8, 8, 4}),
                            {{"note", "a|b, c"},            // '|' and a top-level ','
                             {"open", "array<i64: 1, 2"},   // left open, not last
                             {"key:with space", "1 : i32"}, // a key the format cannot carry
                             {"", "x"},                     // no key
                             {"tail", "dense<[1, 2"}});     // left open, last: kept as is
    b.ret({z});
    const std::string text = writeDfg(b.g);
    EXPECT_NE(text.find("|pad:array<i64: 1, 1, 1, 1>,stride:array<i64: 1, 1>,dilation:array<i64: "
                        "1, 1>,max_fp:3.40282347E+38 : f32|"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("|note:a_b; c,open:array<i64: 1, 2>,key_with_space:1 : i32,attr:x,tail:"
                        "dense<[1, 2|"),
              std::string::npos)
        << text;
    auto back = readText(text);
    ASSERT_TRUE(back) << back.error().message;
    const std::vector<Attribute>& conv = back->ops[2].attributes;
    ASSERT_EQ(conv.size(), 4u);
    EXPECT_EQ(conv[0].key, "pad");
    EXPECT_EQ(conv[0].value, "array<i64: 1, 1, 1, 1>");
    EXPECT_EQ(conv[3].value, "3.40282347E+38 : f32");
    const std::vector<Attribute>& relu = back->ops[3].attributes;
    ASSERT_EQ(relu.size(), 5u);
    EXPECT_EQ(relu[0].value, "a_b; c");
    EXPECT_EQ(relu[1].value, "array<i64: 1, 2>");
    EXPECT_EQ(relu[2].key, "key_with_space");
    EXPECT_EQ(relu[3].key, "attr");
    EXPECT_EQ(relu[4].value, "dense<[1, 2");
    EXPECT_EQ(writeDfg(*back), text);
}

TEST(DfgWriter, ImporterGraphsGetArgumentConstantAndReturnNodes) {
    // An importer's graph: inputs and initializers are values without operations (constants
    // carry their data), the outputs have no return node, node ids are not topological.
    Graph g;
    g.name = "imported";
    auto value = [&](const std::string& name, TensorType type) {
        Value v;
        v.name = v.sourceName = name;
        v.type = std::move(type);
        g.values.push_back(std::move(v));
        return static_cast<ValueId>(g.values.size() - 1);
    };
    const ValueId x = value("input", tt({1, 8}));
    const ValueId w = value("fc.weight", tt({8, 4}));
    g.values[static_cast<std::size_t>(w)].data.assign(8 * 4 * 4, 0x3f);
    const ValueId mm = value("fc.out", tt({1, 4}));
    const ValueId y = value("output", tt({1, 4}));
    g.inputs = {x};
    g.constants = {w};
    g.outputs = {y, mm};
    StaticInput shape;
    shape.name = "shape";
    shape.shape = {2};
    g.staticInputs.push_back(shape);
    Operation op1;
    op1.kind = OpKind::MatMul;
    op1.opName = "MatMul";
    op1.nodeId = 7;
    op1.name = "fc";
    op1.operands = {x, w};
    op1.results = {mm};
    Operation op2;
    op2.kind = OpKind::Erf;
    op2.opName = "Erf";
    op2.nodeId = 3;
    op2.name = "act";
    op2.operands = {mm};
    op2.results = {y};
    g.ops = {op1, op2};
    g.values[static_cast<std::size_t>(mm)].producer = 0;
    g.values[static_cast<std::size_t>(y)].producer = 1;

    const std::string text = writeDfg(g);
    // The operations keep their ids (the reader rebuilds the order from them); the added
    // nodes follow the largest.
    EXPECT_EQ(linesStartingWith(text, "NODE "),
              (std::vector<std::string>{
                  "NODE 3 : |act|ERF|2|0:tensor<1x4xf32>||0:output|0:tensor<1x4xf32>",
                  "NODE 7 : |fc|MATMUL|1|0:tensor<1x8xf32>,1:tensor<8x4xf32>||0:fc.out|0:tensor<"
                  "1x4xf32>",
                  "NODE 8 : |input|FUNCTION_ARGUMENT|0|||0:input|0:tensor<1x8xf32>",
                  "NODE 9 : |fc.weight|CONSTANT|0|||0:fc.weight|0:tensor<8x4xf32>",
                  "NODE 10 : |output|FUNCTION_RETURN|3|0:tensor<1x4xf32>,1:tensor<1x4xf32>|target:"
                  "memory|0:output,1:fc.out|0:tensor<1x4xf32>,1:tensor<1x4xf32>"}))
        << text;
    EXPECT_EQ(text.find("3f"), std::string::npos) << "constant data must not be written";
    EXPECT_EQ(text.find("shape"), std::string::npos) << "static inputs must not be written";

    auto back = readText(text);
    ASSERT_TRUE(back) << back.error().message;
    ASSERT_EQ(back->ops.size(), 5u);
    EXPECT_EQ(back->ops[0].kind, OpKind::FunctionArgument);
    EXPECT_EQ(back->ops[1].kind, OpKind::Constant);
    EXPECT_EQ(back->ops[2].kind, OpKind::MatMul);
    EXPECT_EQ(back->ops[3].kind, OpKind::Erf);
    EXPECT_EQ(back->ops[4].kind, OpKind::FunctionReturn);
    EXPECT_EQ(valueNames(*back, back->ops[2].operands),
              (std::vector<std::string>{"input", "fc.weight"}));
    EXPECT_EQ(valueNames(*back, back->inputs), (std::vector<std::string>{"input"}));
    EXPECT_EQ(valueNames(*back, back->constants), (std::vector<std::string>{"fc.weight"}));
    EXPECT_EQ(valueNames(*back, back->outputs), (std::vector<std::string>{"output", "fc.out"}));
    for (const Value& v : back->values)
        EXPECT_TRUE(v.data.empty()) << v.name;
    EXPECT_TRUE(back->staticInputs.empty());
    // Read back, the graph has its nodes: written again it is the same text.
    EXPECT_EQ(writeDfg(*back), text);
    roundTrip(*back);
}

TEST(DfgWriter, NodeIdsAreKeptWhenTheyRebuildTheOrderElseRenumbered) {
    GraphBuilder b("ids");
    const ValueId x = b.input("x", tt({4}));
    const ValueId y = b.input("y", tt({4}));
    const ValueId s = b.op1(OpKind::Add, {x, y}, "s", tt({4}));
    const ValueId e = b.op1(OpKind::Exp, {x}, "e", tt({4}));
    b.ret({s, e});
    // Unique ids from which the reader rebuilds the same order: kept.
    for (std::size_t i = 0; i < b.g.ops.size(); ++i)
        b.g.ops[i].nodeId = static_cast<std::int64_t>(10 * i + 5);
    Graph back = roundTrip(b.g);
    EXPECT_EQ(nodeIds(back), (std::vector<std::int64_t>{5, 15, 25, 35, 45}));
    EXPECT_NE(writeDfg(b.g).find("RUNNING_NODE_ID 45\n"), std::string::npos);

    // Duplicate ids: renumbered in the graph's order.
    for (Operation& op : b.g.ops)
        op.nodeId = 1;
    back = roundTrip(b.g);
    EXPECT_EQ(nodeIds(back), (std::vector<std::int64_t>{0, 1, 2, 3, 4}));

    // Unique ids that would reorder the operations (EXP's id is smaller than ADD's, and both
    // are ready at the same time): renumbered.
    b.g.ops[2].nodeId = 30;
    b.g.ops[3].nodeId = 20;
    b.g.ops[0].nodeId = 0;
    b.g.ops[1].nodeId = 10;
    b.g.ops[4].nodeId = 40;
    back = roundTrip(b.g);
    EXPECT_EQ(nodeIds(back), (std::vector<std::int64_t>{0, 1, 2, 3, 4}));

    // Descending ids that still rebuild the order (as in real files): kept.
    GraphBuilder c("descending");
    const ValueId a = c.input("a", tt({4}));
    const ValueId r = c.op1(OpKind::Relu, {a}, "r", tt({4}));
    c.ret({r});
    c.g.ops[0].nodeId = 2;
    c.g.ops[1].nodeId = 1;
    c.g.ops[2].nodeId = 0;
    back = roundTrip(c.g);
    EXPECT_EQ(nodeIds(back), (std::vector<std::int64_t>{2, 1, 0}));
}

TEST(DfgWriter, UnconnectedSlotsAndGraphsWithoutOutputs) {
    // A return node with an unconnected slot keeps its declared type and reads no value.
    GraphBuilder b("unconnected");
    const ValueId x = b.input("x", tt({4}));
    const ValueId r = b.op1(OpKind::Relu, {x}, "r", tt({4}));
    b.ret({r});
    b.g.ops.back().operands.push_back(kNoValue);
    b.g.ops.back().operandTypes.push_back(tt({2, 2}, DType::F16));
    roundTrip(b.g);

    // No outputs, no return node: the reader must not make the dangling RELU an output.
    GraphBuilder c("no_outputs");
    const ValueId y = c.input("y", tt({4}));
    c.op1(OpKind::Relu, {y}, "dangling", tt({4}));
    const std::string text = writeDfg(c.g);
    EXPECT_NE(text.find("\nSINK:\n"), std::string::npos) << text;
    const Graph back = roundTrip(c.g);
    EXPECT_TRUE(back.outputs.empty());
}

TEST(DfgWriter, ImplicitInputsOfAFileReadBackTheSame) {
    // A CONSTANT declaring its type as an operand without an edge (older domain_flow files):
    // the reader makes an implicit input 'w.in0'; the writer keeps the declared slot.
    const std::string file = "Domain Flow Graph: implicit\n"
                             "DIRECTED\n"
                             "RUNNING_NODE_ID 3\n"
                             "NODES 4\n"
                             "NODE 0 : |w|CONSTANT|0|0:tensor<4x4xf32>|||\n"
                             "NODE 1 : |x|FUNCTION_ARGUMENT|0|||0:x|0:tensor<2x4xf32>\n"
                             "NODE 2 : |mm|MATMUL|1|0:tensor<2x4xf32>,1:tensor<4x4xf32>||0:y|0:"
                             "tensor<2x4xf32>\n"
                             "NODE 3 : |output|FUNCTION_RETURN|2|0:tensor<2x4xf32>|||\n"
                             "EDGES 3\n"
                             "EDGE 0 -> 2 : 0|true|tensor<4x4xf32>|32|0|1|0,0,0\n"
                             "EDGE 1 -> 2 : 0|true|tensor<2x4xf32>|32|0|0|0,0,0\n"
                             "EDGE 2 -> 3 : 0|false|tensor<2x4xf32>|32|0|0|0,0,0\n";
    auto original = readText(file, "implicit.dfg");
    ASSERT_TRUE(original) << original.error().message;
    ASSERT_EQ(valueNames(*original, original->inputs), (std::vector<std::string>{"w.in0", "x"}));
    const std::string text = writeDfg(*original);
    EXPECT_NE(text.find("NODE 0 : |w|CONSTANT|0|0:tensor<4x4xf32>||0:w|0:tensor<4x4xf32>\n"),
              std::string::npos)
        << text;
    roundTrip(*original);

    // The same input in an importer's graph, read by two operations: a FUNCTION_ARGUMENT.
    Graph g = *original;
    g.ops[2].operands[1] = g.ops[0].operands[0];
    const std::string shared = writeDfg(g);
    EXPECT_NE(shared.find("|w.in0|FUNCTION_ARGUMENT|0|||0:w.in0|0:tensor<4x4xf32>\n"),
              std::string::npos)
        << shared;
    auto back = readText(shared);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(valueNames(*back, back->inputs), (std::vector<std::string>{"w.in0", "x"}));
    EXPECT_EQ(valueNames(*back, back->ops.back().operands), (std::vector<std::string>{"y"}));
}

TEST(DfgWriter, EmptyGraphReadsBack) {
    Graph g;
    g.name = "empty";
    const std::string text = writeDfg(g);
    EXPECT_EQ(text, "Domain Flow Graph: empty\nDIRECTED\nRUNNING_NODE_ID 0\nNODES 0\nEDGES 0\n"
                    "ADJACENCY 0\nSOURCE:\nSINK:\n");
    roundTrip(g);
}

TEST(DfgWriter, WriteDfgFileWritesTheTextAndNamesThePathOnError) {
    GraphBuilder b("file");
    const ValueId x = b.input("x", tt({4}));
    b.ret({b.op1(OpKind::Sqrt, {x}, "r", tt({4}))});
    const std::string path =
        (std::filesystem::temp_directory_path() / fmt::format("kpu_dfg_writer_{}.dfg", ::getpid()))
            .string();
    ASSERT_TRUE(writeDfgFile(b.g, path));
    auto text = readTextFile(path);
    std::filesystem::remove(path);
    ASSERT_TRUE(text) << text.error().message;
    EXPECT_EQ(*text, writeDfg(b.g));

    const std::string bad = "/nonexistent-dir-kpu/sub/model.dfg";
    auto r = writeDfgFile(b.g, bad);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find(bad), std::string::npos) << r.error().message;
}

} // namespace
} // namespace kpu::ir
