// Builds small ONNX models in tests (onnx::ModelProto through the protobuf API), so that tests
// need no Python exporter: inputs, initializers, nodes with attributes, outputs.
#pragma once

#include <cstdint>
#include <fstream>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include <onnx/onnx_pb.h>

namespace kpu::test {

class OnnxModel {
public:
    explicit OnnxModel(std::string name, std::int64_t opset = 13) {
        model_.set_ir_version(8);
        auto* o = model_.add_opset_import();
        o->set_domain("");
        o->set_version(opset);
        model_.mutable_graph()->set_name(std::move(name));
    }

    // A graph input of elem_type `type` (onnx::TensorProto::FLOAT, ...); a dim < 0 is symbolic.
    OnnxModel& input(const std::string& name, const std::vector<std::int64_t>& dims,
                     int type = onnx::TensorProto::FLOAT) {
        describe(model_.mutable_graph()->add_input(), name, dims, type);
        return *this;
    }
    OnnxModel& output(const std::string& name, const std::vector<std::int64_t>& dims,
                      int type = onnx::TensorProto::FLOAT) {
        describe(model_.mutable_graph()->add_output(), name, dims, type);
        return *this;
    }

    OnnxModel& initializer(const std::string& name, const std::vector<std::int64_t>& dims,
                           const std::vector<float>& values) {
        auto* t = model_.mutable_graph()->add_initializer();
        t->set_name(name);
        t->set_data_type(onnx::TensorProto::FLOAT);
        for (auto d : dims)
            t->add_dims(d);
        for (float v : values)
            t->add_float_data(v);
        return *this;
    }
    OnnxModel& initializerInts(const std::string& name, const std::vector<std::int64_t>& dims,
                               const std::vector<std::int64_t>& values) {
        auto* t = model_.mutable_graph()->add_initializer();
        t->set_name(name);
        t->set_data_type(onnx::TensorProto::INT64);
        for (auto d : dims)
            t->add_dims(d);
        for (auto v : values)
            t->add_int64_data(v);
        return *this;
    }

    // A node; attributes are added to the returned proto (see attr helpers below).
    onnx::NodeProto& node(const std::string& op, std::initializer_list<std::string> inputs,
                          std::initializer_list<std::string> outputs,
                          const std::string& name = "") {
        auto* n = model_.mutable_graph()->add_node();
        n->set_op_type(op);
        n->set_name(name);
        for (const auto& i : inputs)
            n->add_input(i);
        for (const auto& o : outputs)
            n->add_output(o);
        return *n;
    }

    static void attr(onnx::NodeProto& n, const std::string& name, std::int64_t value) {
        auto* a = n.add_attribute();
        a->set_name(name);
        a->set_type(onnx::AttributeProto::INT);
        a->set_i(value);
    }
    static void attr(onnx::NodeProto& n, const std::string& name, float value) {
        auto* a = n.add_attribute();
        a->set_name(name);
        a->set_type(onnx::AttributeProto::FLOAT);
        a->set_f(value);
    }
    static void attr(onnx::NodeProto& n, const std::string& name, const std::string& value) {
        auto* a = n.add_attribute();
        a->set_name(name);
        a->set_type(onnx::AttributeProto::STRING);
        a->set_s(value);
    }
    static void attr(onnx::NodeProto& n, const std::string& name,
                     const std::vector<std::int64_t>& values) {
        auto* a = n.add_attribute();
        a->set_name(name);
        a->set_type(onnx::AttributeProto::INTS);
        for (auto v : values)
            a->add_ints(v);
    }

    onnx::ModelProto& proto() { return model_; }

    void save(const std::string& path) const {
        std::ofstream out(path, std::ios::binary);
        model_.SerializeToOstream(&out);
    }

private:
    static void describe(onnx::ValueInfoProto* info, const std::string& name,
                         const std::vector<std::int64_t>& dims, int type) {
        info->set_name(name);
        auto* t = info->mutable_type()->mutable_tensor_type();
        t->set_elem_type(type);
        auto* shape = t->mutable_shape();
        for (auto d : dims) {
            auto* dim = shape->add_dim();
            if (d < 0)
                dim->set_dim_param("N");
            else
                dim->set_dim_value(d);
        }
    }

    onnx::ModelProto model_;
};

} // namespace kpu::test
