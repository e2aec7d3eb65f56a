// The .dfg reader: grammar, quirks of real files, and diagnostics for malformed input.
#include <cctype>
#include <random>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "kpu/compiler/dfg_reader.h"
#include "kpu/compiler/graph_builder.h"

namespace kpu::dfg {
namespace {

constexpr std::string_view kMatmul =
    "Domain Flow Graph: non-batched-2-input-matmul\n"
    "DIRECTED\n"
    "RUNNING_NODE_ID 4\n"
    "NODES 5\n"
    "NODE 4 : |Cout|FUNCTION_RETURN|2|0:tensor<4x4xf32>|target:memory|0:Cout|0:tensor<4x4xf32>\n"
    "NODE 3 : |2-input "
    "MATMUL|MATMUL|1|0:tensor<4x16xf32>,1:tensor<16x4xf32>||0:Cout|0:tensor<4x4xf32>\n"
    "NODE 2 : |const.Cin|CONSTANT|0|||0:Cin|0:tensor<4x4xf32>\n"
    "NODE 1 : |const.B|CONSTANT|0|||0:B|0:tensor<16x4xf32>\n"
    "NODE 0 : |const.A|CONSTANT|0|||0:A|0:tensor<4x16xf32>\n"
    "EDGES 3\n"
    "EDGE 3 -> 4 : 0|false|tensor<4x4xf32>|32|0|0|1,1,1\n"
    "EDGE 1 -> 3 : 0|true|tensor<16x4xf32>|32|0|1|1,1,1\n"
    "EDGE 0 -> 3 : 0|true|tensor<4x16xf32>|32|0|0|1,1,1\n"
    "ADJACENCY 3\n"
    "ADJ 3 : 4\n"
    "ADJ 1 : 3\n"
    "ADJ 0 : 3\n"
    "SOURCE: 0, 1\n"
    "SINK: 4";

// "name:line:col: error: <lower-case message>"
void expectDiagnostic(const Error& error, std::string_view prefix, std::string_view fragment) {
    EXPECT_TRUE(error.message.starts_with(prefix))
        << error.message << "\n  expected prefix: " << prefix;
    EXPECT_NE(error.message.find(fragment), std::string::npos) << error.message;
    const std::size_t at = error.message.find(": error: ");
    ASSERT_NE(at, std::string::npos) << error.message;
    const char first = error.message[at + 9];
    EXPECT_FALSE(std::isupper(static_cast<unsigned char>(first))) << error.message;
    EXPECT_NE(error.message.back(), '.') << error.message;
}

void expectParseError(std::string_view text, std::string_view prefix, std::string_view fragment) {
    auto file = parse(text, "t.dfg");
    ASSERT_FALSE(file) << "parsed: " << text;
    expectDiagnostic(file.error(), prefix, fragment);
}

TEST(DfgParseType, Forms) {
    TypeText t = parseType("tensor<?x224x224x3xf32>");
    EXPECT_TRUE(t.complete());
    EXPECT_EQ(t.dims, (std::vector<std::int64_t>{-1, 224, 224, 3}));
    EXPECT_EQ(t.dtype, DType::F32);

    t = parseType("tensor<tensor<4x16xf32>"); // nested, unbalanced
    EXPECT_TRUE(t.complete());
    EXPECT_EQ(t.dims, (std::vector<std::int64_t>{4, 16}));

    t = parseType("tensor<4x256xf32"); // no closing '>'
    EXPECT_TRUE(t.complete());
    EXPECT_EQ(t.dims, (std::vector<std::int64_t>{4, 256}));

    t = parseType("tensor<4x256>"); // edge shape without element type
    EXPECT_TRUE(t.parsed);
    EXPECT_FALSE(t.dtype);
    EXPECT_FALSE(t.complete());
    EXPECT_EQ(t.dims, (std::vector<std::int64_t>{4, 256}));

    t = parseType("1xi32"); // TOSA placeholder
    EXPECT_TRUE(t.complete());
    EXPECT_EQ(t.dtype, DType::I32);
    EXPECT_EQ(t.dims, (std::vector<std::int64_t>{1}));

    t = parseType("f16");
    EXPECT_TRUE(t.complete());
    EXPECT_TRUE(t.dims.empty());

    for (std::string_view dtype : {"f8", "f16", "f32", "f64", "i8", "i32"}) {
        t = parseType(fmt::format("tensor<2x3x{}>", dtype));
        EXPECT_TRUE(t.complete()) << dtype;
        EXPECT_EQ(dtypeName(*t.dtype), dtype);
    }
    EXPECT_EQ(parseType("  tensor<8x8xf8>  ").text, "tensor<8x8xf8>");
}

TEST(DfgParseType, UnrecognisedNeverFails) {
    for (std::string_view text :
         {"", "tensor<>", "tensor<4xq7>", "tensor<4x>", "tensor<x4xf32>", "memref<4xf32>",
          "tensor<99999999999999999999xf32>", "tensor<-4xf32>", "<<<<", ">>>", "x", "?"}) {
        const TypeText t = parseType(text);
        EXPECT_FALSE(t.complete()) << text;
        if (!t.parsed) {
            EXPECT_TRUE(t.dims.empty()) << text;
        }
    }
}

TEST(DfgParse, CurrentWriterFormat) {
    auto file = parse(kMatmul, "matmul.dfg");
    ASSERT_TRUE(file) << file.error().message;
    EXPECT_EQ(file->name, "non-batched-2-input-matmul");
    ASSERT_EQ(file->nodes.size(), 5u);
    const Node& mm = file->nodes[1];
    EXPECT_EQ(mm.id, 3);
    EXPECT_EQ(mm.name, "2-input MATMUL");
    EXPECT_EQ(mm.op, "MATMUL");
    EXPECT_EQ(mm.depth, 1);
    ASSERT_EQ(mm.operandTypes.size(), 2u);
    EXPECT_EQ(mm.operandTypes[1].text, "tensor<16x4xf32>");
    EXPECT_EQ(mm.operandTypes[1].loc.line, 6u);
    EXPECT_EQ(mm.resultNames, (std::vector<std::string>{"Cout"}));
    EXPECT_EQ(mm.loc.line, 6u);
    EXPECT_EQ(mm.idLoc.column, 6u);
    const Node& ret = file->nodes[0];
    ASSERT_EQ(ret.attributes.size(), 1u);
    EXPECT_EQ(ret.attributes[0].key, "target");
    EXPECT_EQ(ret.attributes[0].value, "memory");
    ASSERT_EQ(file->edges.size(), 3u);
    const Edge& e = file->edges[1];
    EXPECT_EQ(e.src, 1);
    EXPECT_EQ(e.dst, 3);
    EXPECT_TRUE(e.stationary);
    EXPECT_EQ(e.scalarBits, 32);
    EXPECT_EQ(e.srcSlot, 0);
    EXPECT_EQ(e.dstSlot, 1);
    EXPECT_EQ(e.schedule, (std::vector<std::int64_t>{1, 1, 1}));
    EXPECT_EQ(file->sources, (std::vector<std::int64_t>{0, 1}));
    EXPECT_EQ(file->sinks, (std::vector<std::int64_t>{4}));
    EXPECT_TRUE(file->warnings.empty());
}

TEST(DfgParse, OldFormsSixFieldNodesFiveFieldEdges) {
    constexpr std::string_view text =
        "DIRECTED\n"
        "RUNNING_NODE_ID 2\n"
        "NODES 3\n"
        "NODE 0 : arg0|FUNCTION_ARGUMENT|0|||\n"
        "NODE 1 : tosa.add|ADD|1|tensor<1x4xf32>,tensor<1x4xf32>|result_0|tensor<1x4xf32>\n"
        "NODE 2 : |m|MATMUL|1|tensor<4x256xf32,tensor<4x256x16xf32>||out|tensor<tensor<4x16xf32>\n"
        "EDGES 1\n"
        "EDGE 0 -> 1 : 1|true|1xi32|32|0,0,0\n";
    auto file = parse(text, "old.dfg");
    ASSERT_TRUE(file) << file.error().message;
    EXPECT_TRUE(file->name.empty());
    const Node& add = file->nodes[1];
    EXPECT_FALSE(add.hasAttributeField);
    EXPECT_EQ(add.name, "tosa.add");
    EXPECT_EQ(add.operandTypes.size(), 2u);
    EXPECT_EQ(add.resultNames, (std::vector<std::string>{"result_0"}));
    const Node& mm = file->nodes[2];
    ASSERT_EQ(mm.operandTypes.size(), 2u); // split although the first type never closes
    EXPECT_EQ(mm.operandTypes[0].text, "tensor<4x256xf32");
    EXPECT_EQ(mm.operandTypes[1].dims, (std::vector<std::int64_t>{4, 256, 16}));
    EXPECT_EQ(mm.resultTypes[0].dims, (std::vector<std::int64_t>{4, 16}));
    const Edge& e = file->edges[0];
    EXPECT_FALSE(e.srcSlot);
    EXPECT_FALSE(e.dstSlot);
    EXPECT_EQ(e.shape.text, "1xi32");
    EXPECT_EQ(e.schedule, (std::vector<std::int64_t>{0, 0, 0}));
}

TEST(DfgParse, AttributesSplitBracketAware) {
    constexpr std::string_view text =
        "NODES 1\n"
        "NODE 0 : |c|CLAMP|2|0:tensor<?x8xf32>|max_fp:3.40282347E+38 : f32,max_int:6 : i64,"
        "pad:array<i64: 0, 1, 0, 1>,new_shape:array<i64: 1, 1, 1, 4>|0:r|0:tensor<?x8xf32>";
    auto file = parse(text, "a.dfg");
    ASSERT_TRUE(file) << file.error().message;
    const auto& attrs = file->nodes[0].attributes;
    ASSERT_EQ(attrs.size(), 4u);
    EXPECT_EQ(attrs[0].key, "max_fp");
    EXPECT_EQ(attrs[0].value, "3.40282347E+38 : f32");
    EXPECT_EQ(attrs[1].value, "6 : i64");
    EXPECT_EQ(attrs[2].key, "pad");
    EXPECT_EQ(attrs[2].value, "array<i64: 0, 1, 0, 1>");
    EXPECT_EQ(attrs[3].value, "array<i64: 1, 1, 1, 4>");
}

TEST(DfgParse, CrlfBlankLinesBomAndNoFinalNewline) {
    std::string crlf;
    for (char c : kMatmul) {
        if (c == '\n')
            crlf += "\r\n\r\n"; // CRLF and a blank line after every line
        else
            crlf += c;
    }
    auto a = parse(kMatmul, "a.dfg");
    auto b = parse("\xEF\xBB\xBF" + crlf + "\r\n", "b.dfg");
    ASSERT_TRUE(a);
    ASSERT_TRUE(b) << b.error().message;
    ASSERT_EQ(a->nodes.size(), b->nodes.size());
    for (std::size_t i = 0; i < a->nodes.size(); ++i) {
        EXPECT_EQ(a->nodes[i].name, b->nodes[i].name);
        EXPECT_EQ(a->nodes[i].resultTypes[0].text, b->nodes[i].resultTypes[0].text);
        EXPECT_EQ(b->nodes[i].loc.line, 2 * a->nodes[i].loc.line - 1);
    }
    EXPECT_EQ(b->name, a->name);
    EXPECT_EQ(b->sinks, a->sinks);
}

TEST(DfgParse, CountMismatchIsAWarning) {
    std::string text(kMatmul);
    text.replace(text.find("NODES 5"), 7, "NODES 6");
    auto file = parse(text, "m.dfg");
    ASSERT_TRUE(file) << file.error().message;
    EXPECT_EQ(file->nodes.size(), 5u);
    ASSERT_EQ(file->warnings.size(), 1u);
    EXPECT_EQ(file->warnings[0], "m.dfg:4: warning: NODES declares 6, but 5 NODE lines follow");
}

TEST(DfgParse, InlineErrors) {
    expectParseError("", "t.dfg:1:1: error: ", "empty file");
    expectParseError("\n\n  \n", "t.dfg:1:1: error: ", "empty file");
    expectParseError("DIRECTED\n", "t.dfg:1:1: error: ", "missing 'NODES' line");
    expectParseError("NODES 1\nNODE 0 : |a|CONSTANT",
                     "t.dfg:2:21: error: ", "too few fields in NODE");
    expectParseError("NODES 1\nNODE 0", "t.dfg:2:7: error: ", "expected ':' after the node id");
    expectParseError("NODES 1\nNODE", "t.dfg:2:5: error: ", "expected a node id");
    expectParseError("NODES 1\nNODE -1 : |a|CONSTANT|0|||0:A|0:f32",
                     "t.dfg:2:6: error: ", "expected node id");
    expectParseError("NODES 99999999999999999999999", "t.dfg:1:7: error: ",
                     "'NODES' count '99999999999999999999999' is out of range");
    expectParseError(
        "NODES 2\nNODE 0 : |a|CONSTANT|0|||0:A|0:f32\nNODE 0 : |b|CONSTANT|0|||0:B|0:f32",
        "t.dfg:3:6: error: ", "duplicate node id 0 (first defined on line 2)");
    expectParseError("NODES 1\nNODE 0 : |a|CONSTANT|0|||A|0:f32,0:f16",
                     "t.dfg:2:34: error: ", "duplicate result slot 0");
    expectParseError("NODES 1\nNODE 0 : |a|CONSTANT|0|||A|5:f32",
                     "t.dfg:2:28: error: ", "result slot 5 is out of range");
    expectParseError("NODES 1\nNODE 0 : |a||0|||A|f32",
                     "t.dfg:2:13: error: ", "missing operator name");
    expectParseError("NODES 1\nNODE 0 : |a|CON ST|0|||A|f32",
                     "t.dfg:2:13: error: ", "invalid operator name");
    expectParseError("NODES 1\nNODE 0 : |a|X|0|0:f32,,1:f32||A|f32",
                     "t.dfg:2:23: error: ", "empty operand in list");
    expectParseError("NODES 0\nEDGE 0 -> : 0|true|f32|32|0|0|1",
                     "t.dfg:2:11: error: ", "expected a node id");
    expectParseError("NODES 0\nEDGE 0 -> 1 : 0|true|f32|32|0|0|1|2",
                     "t.dfg:2:34: error: ", "wrong number of fields");
    expectParseError("NODES 0\nEDGE 0 -> 1 : 0|true|f32|32|0|x|1",
                     "t.dfg:2:31: error: ", "expected destination slot");
    expectParseError(
        "NODES 0\nEDGE 0 -> 1 : 0|true|f32|99999999999999999999|0|0|1",
        "t.dfg:2:26: error: ", "scalar bit width '99999999999999999999' is out of range");
    expectParseError("NODES 0\nEDGE 0 -> 1 : 0|true|f32|32|0|0|1,x",
                     "t.dfg:2:35: error: ", "expected schedule component");
    expectParseError("NODES 0\nADJ 1 2", "t.dfg:2:7: error: ", "expected ':' after the node id");
    expectParseError("NODES 0\nSINK 4", "t.dfg:2:6: error: ", "expected ':' after 'SINK'");
    expectParseError("NODES 0\nSOURCE: 0, a", "t.dfg:2:12: error: ", "expected node id, got 'a'");
    expectParseError("NODES 0\nNODES 0", "t.dfg:2:1: error: ", "duplicate 'NODES' line");
    expectParseError("NODES 0 0", "t.dfg:1:9: error: ", "unexpected text after 'NODES'");
    expectParseError("NODES 0\n\x01\x02\x03",
                     "t.dfg:2:1: error: ", "unknown keyword '\\x01\\x02\\x03'");
    expectParseError("NODES 0\n\x01\xff\xfe", "t.dfg:2:2: error: ", "byte 0xff is not valid UTF-8");
    expectParseError("NODES 0\nNODEX 1", "t.dfg:2:1: error: ", "unknown keyword 'NODEX'");
    expectParseError("NODES 0\n  42", "t.dfg:2:3: error: ", "unknown keyword '42'");
}

// Fixture files in tests/fixtures/dfg: (file, line:col, message fragment, caught by the builder?)
struct FixtureCase {
    const char* file;
    const char* lineCol;
    const char* fragment;
    bool builder;
};

class DfgFixture : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(DfgFixture, ExactDiagnostic) {
    const FixtureCase& c = GetParam();
    const std::string path = std::string(KPU_FIXTURES_DIR) + "/dfg/" + c.file;
    auto file = parseFile(path);
    const std::string prefix = path + ":" + c.lineCol + ": error: ";
    if (!c.builder) {
        ASSERT_FALSE(file) << c.file << " parsed";
        expectDiagnostic(file.error(), prefix, c.fragment);
        return;
    }
    ASSERT_TRUE(file) << file.error().message;
    auto graph = ir::buildGraph(*file, path);
    ASSERT_FALSE(graph) << c.file << " built";
    expectDiagnostic(graph.error(), prefix, c.fragment);
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, DfgFixture,
    ::testing::Values(
        FixtureCase{"empty.dfg", "1:1", "empty file", false},
        FixtureCase{"blank_only.dfg", "1:1", "empty file", false},
        FixtureCase{"non_numeric_node_id.dfg", "5:6", "expected node id, got 'x1'", false},
        FixtureCase{"missing_colon_after_id.dfg", "5:8", "expected ':' after the node id", false},
        FixtureCase{"too_few_node_fields.dfg", "6:26", "too few fields in NODE (got 3", false},
        FixtureCase{"too_many_node_fields.dfg", "7:53", "too many fields in NODE (got 8", false},
        FixtureCase{"duplicate_node_id.dfg", "7:6", "duplicate node id 1 (first defined on line 6)",
                    false},
        FixtureCase{"unknown_keyword.dfg", "2:1", "unknown keyword 'UNDIRECTED'", false},
        FixtureCase{"node_id_overflow.dfg", "5:6", "node id '99999999999999999999' is out of range",
                    false},
        FixtureCase{"bad_edge_arrow.dfg", "9:8", "expected '->' after the source node id", false},
        FixtureCase{"edge_six_fields.dfg", "9:42", "wrong number of fields in EDGE (got 6", false},
        FixtureCase{"bad_stationary.dfg", "10:17", "expected 'true' or 'false', got 'maybe'",
                    false},
        FixtureCase{"bad_depth.dfg", "6:25", "expected node depth, got 'one'", false},
        FixtureCase{"slot_overflow.dfg", "10:43", "destination slot 123456789012 is out of range",
                    false},
        FixtureCase{"attribute_without_colon.dfg", "7:51",
                    "expected 'key:value' attribute, got 'target'", false},
        FixtureCase{"missing_nodes_line.dfg", "11:1", "missing 'NODES' line", false},
        FixtureCase{"header_not_first.dfg", "3:1", "header must be the first line", false},
        FixtureCase{"edge_to_undefined_node.dfg", "11:11", "edge to undefined node 7", true},
        FixtureCase{"duplicate_operand_slot.dfg", "10:43",
                    "operand slot 0 of node 1 'matmul' already has an incoming edge (line 9)",
                    true},
        FixtureCase{"operand_slot_out_of_range.dfg", "10:43",
                    "operand slot 5 of node 1 'matmul' is out of range", true},
        FixtureCase{"cycle.dfg", "6:1", "cycle in the graph through node 1 'matmul'", true},
        FixtureCase{"untyped_value.dfg", "3:38",
                    "cannot determine the type of result 0 of node 0 'const.A'", true}),
    [](const ::testing::TestParamInfo<FixtureCase>& param) {
        std::string name = param.param.file;
        name = name.substr(0, name.find('.'));
        for (char& c : name)
            if (!std::isalnum(static_cast<unsigned char>(c)))
                c = '_';
        return name;
    });

// Every prefix of a valid file and random corruptions: never a crash, only well-formed errors.
void expectWellFormed(std::string_view text) {
    auto file = parse(text, "f.dfg");
    if (!file) {
        ASSERT_TRUE(file.error().message.starts_with("f.dfg:")) << file.error().message;
        ASSERT_NE(file.error().message.find(": error: "), std::string::npos)
            << file.error().message;
        return;
    }
    auto graph = ir::buildGraph(*file, "f.dfg");
    if (!graph) {
        ASSERT_TRUE(graph.error().message.starts_with("f.dfg:")) << graph.error().message;
        ASSERT_NE(graph.error().message.find(": error: "), std::string::npos)
            << graph.error().message;
    }
}

TEST(DfgRobustness, TruncatedFiles) {
    std::size_t failures = 0;
    for (std::size_t n = 0; n <= kMatmul.size(); ++n) {
        expectWellFormed(kMatmul.substr(0, n));
        failures += parse(kMatmul.substr(0, n), "f.dfg").has_value() ? 0 : 1;
    }
    EXPECT_GT(failures, 100u); // truncated NODE/EDGE lines are rejected
    EXPECT_TRUE(parse(kMatmul.substr(0, kMatmul.size() - 1), "f.dfg")); // "SINK: " keeps parsing
}

TEST(DfgRobustness, GarbageAndMutations) {
    std::mt19937 rng(12345);
    for (int i = 0; i < 300; ++i) {
        std::string bytes(static_cast<std::size_t>(rng() % 200), '\0');
        for (char& c : bytes)
            c = static_cast<char>(rng() & 0xff);
        expectWellFormed(bytes);
    }
    constexpr std::string_view alphabet = "0123456789|:,<>x?-\n\r tensorf32NODEEDGE";
    for (int i = 0; i < 3000; ++i) {
        std::string text(kMatmul);
        const int edits = 1 + static_cast<int>(rng() % 4);
        for (int k = 0; k < edits; ++k) {
            const std::size_t at = rng() % text.size();
            switch (rng() % 3) {
            case 0:
                text[at] = alphabet[rng() % alphabet.size()];
                break;
            case 1:
                text.erase(at, 1 + rng() % 8);
                break;
            default:
                text.insert(at, 1, alphabet[rng() % alphabet.size()]);
                break;
            }
        }
        expectWellFormed(text);
    }
}

TEST(DfgRobustness, HugeNumbers) {
    expectParseError("NODES 1\nNODE 0 : |a|CONSTANT|99999999999999999999|||A|f32",
                     "t.dfg:2:22: error: ", "node depth '99999999999999999999' is out of range");
    // A dimension too large for int64: the type is unrecognisable, so the value has no type.
    auto file =
        parse("NODES 1\nNODE 0 : |a|CONSTANT|0|||A|tensor<99999999999999999999xf32>", "t.dfg");
    ASSERT_TRUE(file);
    auto graph = ir::buildGraph(*file, "t.dfg");
    ASSERT_FALSE(graph);
    expectDiagnostic(graph.error(), "t.dfg:2:28: error: ", "cannot determine the type");
    // Dimensions that fit int64 but whose product does not.
    file = parse("NODES 1\nNODE 0 : |a|CONSTANT|0|||A|tensor<4294967296x4294967296xf32>", "t.dfg");
    ASSERT_TRUE(file);
    graph = ir::buildGraph(*file, "t.dfg");
    ASSERT_FALSE(graph);
    expectDiagnostic(graph.error(), "t.dfg:2:28: error: ", "is too large");
}

} // namespace
} // namespace kpu::dfg
