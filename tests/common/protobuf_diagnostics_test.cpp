// locateParseFailure: where a serialized protobuf message stops parsing, with its field path.
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include "kpu/common/protobuf_diagnostics.h"

namespace kpu::onnx_io {
namespace {

std::vector<std::uint8_t> serialize(const google::protobuf::Message& m) {
    std::string s;
    EXPECT_TRUE(m.SerializeToString(&s));
    return {s.begin(), s.end()};
}

onnx::ModelProto twoNodeModel() {
    onnx::ModelProto model;
    model.set_ir_version(8);
    onnx::GraphProto& g = *model.mutable_graph();
    g.set_name("g");
    for (const char* op : {"Relu", "Sigmoid"}) {
        onnx::NodeProto& n = *g.add_node();
        n.set_op_type(op);
        // (std::string arguments: GCC 12 -Wrestrict misfires on the const char* overloads)
        n.add_input(std::string("x"));
        n.add_output(std::string("y"));
        onnx::AttributeProto& a = *n.add_attribute();
        a.set_name("alpha");
        a.set_f(0.5f);
    }
    return model;
}

TEST(ProtobufDiagnostics, WellFormedMessagesHaveNoFailure) {
    const auto bytes = serialize(twoNodeModel());
    EXPECT_EQ(locateParseFailure(bytes, *onnx::ModelProto::descriptor()), "");
    EXPECT_EQ(locateParseFailure({}, *onnx::ModelProto::descriptor()), "");
}

TEST(ProtobufDiagnostics, TruncationIsPlacedAtTheFieldThatRunsPastTheEnd) {
    auto bytes = serialize(twoNodeModel());
    bytes.resize(bytes.size() - 3); // inside the second node's attribute
    onnx::ModelProto parsed;
    ASSERT_FALSE(parsed.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())));
    const std::string where = locateParseFailure(bytes, *onnx::ModelProto::descriptor());
    // The graph's length runs past the end first: the outermost field that does not fit.
    EXPECT_TRUE(where.starts_with("at byte 0x2 (graph): needs ")) << where;
    EXPECT_NE(where.find(" are left"), std::string::npos) << where;
}

TEST(ProtobufDiagnostics, ABadFieldInsideANestedMessageNamesItsPath) {
    const onnx::ModelProto model = twoNodeModel();
    const auto nodeBytes = serialize(model.graph().node(1));
    // Rebuild the model by hand: ir_version, then graph { node, node' } where node' ends in 0x0f.
    std::vector<std::uint8_t> node2 = nodeBytes;
    node2.push_back(0x0f); // field 1, wire type 7
    auto node1 = serialize(model.graph().node(0));
    std::vector<std::uint8_t> graph;
    for (const auto* n : {&node1, &node2}) {
        graph.push_back(0x0a); // GraphProto.node = 1, length-delimited
        graph.push_back(static_cast<std::uint8_t>(n->size()));
        graph.insert(graph.end(), n->begin(), n->end());
    }
    std::vector<std::uint8_t> out{0x08, 0x08}; // ir_version = 8
    out.push_back(0x3a);                       // ModelProto.graph = 7, length-delimited
    out.push_back(static_cast<std::uint8_t>(graph.size()));
    out.insert(out.end(), graph.begin(), graph.end());
    const std::string where = locateParseFailure(out, *onnx::ModelProto::descriptor());
    const std::size_t at = 4 + 2 + node1.size() + 2 + nodeBytes.size();
    EXPECT_EQ(where, fmt::format("at byte {:#x} (graph.node[1].input[1]): wire type 7 is not valid "
                                 "here",
                                 at));
}

TEST(ProtobufDiagnostics, BadTagsAndFieldZero) {
    const std::vector<std::uint8_t> zero{0x00, 0x01};
    EXPECT_EQ(locateParseFailure(zero, *onnx::TensorProto::descriptor()),
              "at byte 0x0 (the message): field number 0 is not valid");
    const std::vector<std::uint8_t> endless(12, 0xff);
    EXPECT_EQ(locateParseFailure(endless, *onnx::TensorProto::descriptor()),
              "at byte 0x0 (the message): truncated or over-long field tag");
    const std::vector<std::uint8_t> shortFixed{0x0d, 0x01}; // field 1 fixed32, 1 byte left
    EXPECT_EQ(locateParseFailure(shortFixed, *onnx::TensorProto::descriptor()),
              "at byte 0x0 (dims[0]): needs 4 bytes, 1 are left");
}

} // namespace
} // namespace kpu::onnx_io
