#include "kpu/compiler/onnx_importer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>
#include <set>
#include <span>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <onnx/onnx_pb.h>

#include "kpu/common/file_io.h"
#include "kpu/common/float_convert.h"
#include "kpu/common/protobuf_diagnostics.h"
#include "kpu/common/utf8.h"

namespace kpu::ir {
namespace {

using onnx_io::TensorValue;

// Inside the importer a failure unwinds to importOnnx(), which turns it into the Expected the
// rest of the toolchain uses: translating one node takes many small steps that can each fail,
// and threading Expected through all of them would bury the translation rules.
struct ImportError {
    std::string message;
};

// ---- compile-time values ----------------------------------------------------------------

std::vector<double> asDoubles(const TensorValue& v) {
    std::vector<double> out(v.data.size() / dtypeSize(v.dtype));
    if (!out.empty())
        convertToF64(v.dtype, v.data.data(), out.data(), out.size());
    return out;
}

TensorValue fromDoubles(std::string name, DType dtype, Shape shape,
                        const std::vector<double>& values) {
    TensorValue v{.name = std::move(name), .dtype = dtype, .shape = std::move(shape), .data = {}};
    v.data.resize(values.size() * dtypeSize(dtype));
    if (!values.empty())
        convertFromF64(dtype, values.data(), v.data.data(), values.size());
    return v;
}

std::int64_t product(std::span<const std::int64_t> dims, std::size_t from = 0,
                     std::size_t to = SIZE_MAX) {
    std::int64_t p = 1;
    for (std::size_t d = from; d < std::min(to, dims.size()); ++d)
        p *= dims[d];
    return p;
}

// Row-major strides of a shape, in elements.
std::vector<std::int64_t> stridesOf(const Shape& shape) {
    std::vector<std::int64_t> strides(shape.size(), 1);
    for (std::size_t d = shape.size(); d-- > 1;)
        strides[d - 1] = strides[d] * shape[d];
    return strides;
}

// out.shape[d] = in.shape[perm[d]] (numpy.transpose).
TensorValue transposeValue(const TensorValue& in, const std::vector<std::int64_t>& perm) {
    TensorValue out{.name = in.name, .dtype = in.dtype, .shape = Shape(perm.size()), .data = {}};
    for (std::size_t d = 0; d < perm.size(); ++d)
        out.shape[d] = in.shape[static_cast<std::size_t>(perm[d])];
    out.data = transposeElements(in.data, in.shape, perm, dtypeSize(in.dtype));
    return out;
}

std::string numberText(double v) {
    return fmt::format("{} : f64", v);
}
std::string intsText(std::span<const std::int64_t> values) {
    return fmt::format("array<i64: {}>", fmt::join(values, ", "));
}

// ---- the importer -----------------------------------------------------------------------

class Importer {
public:
    Importer(const onnx::ModelProto& model, std::string path, const OnnxImportOptions& options)
        : model_(model), path_(std::move(path)), options_(options),
          baseDir_(std::filesystem::path(path_).parent_path()) {}

    Graph run() {
        const onnx::GraphProto& g = model_.graph();
        graph_.name = g.name().empty() ? std::filesystem::path(path_).stem().string() : g.name();
        graph_.sourceFile = path_;
        checkNamesAreUtf8(g);
        readOpsets();
        for (const onnx::TensorProto& t : g.initializer())
            known_[t.name()] = decode(t, "initializer");
        for (const onnx::SparseTensorProto& t : g.sparse_initializer())
            fail("sparse initializer '{}' is not supported", t.values().name());
        // The first operator we cannot translate is what blocks the model: say so before anything
        // else (an input's element type, say) fails.
        for (int i = 0; i < g.node_size(); ++i)
            if (!translators().contains(g.node(i).op_type()) ||
                (!g.node(i).domain().empty() && g.node(i).domain() != "ai.onnx")) {
                nodeIndex_ = i;
                node_ = &g.node(i);
                translate(g.node(i));
            }
        node_ = nullptr;
        addInputs();
        nodes_.assign(g.node().begin(), g.node().end());
        countUses();
        foldBatchNorms();
        fuseGelus();
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            if (folded_.contains(i))
                continue;
            nodeIndex_ = static_cast<int>(i);
            node_ = &nodes_[i];
            translate(*node_);
        }
        node_ = nullptr;
        addOutputs();
        return std::move(graph_);
    }

    // Graph inputs (without an initializer) that some operator reads at compile time.
    std::vector<std::string> staticInputNames() {
        readOpsets();
        std::set<std::string> initializers;
        for (const onnx::TensorProto& t : model_.graph().initializer())
            initializers.insert(t.name());
        std::set<std::string> needed;
        for (const onnx::NodeProto& n : model_.graph().node())
            for (int slot : staticSlots(n))
                if (slot < n.input_size() && !n.input(slot).empty())
                    needed.insert(n.input(slot));
        std::vector<std::string> names;
        for (const onnx::ValueInfoProto& in : model_.graph().input())
            if (needed.contains(in.name()) && !initializers.contains(in.name()))
                names.push_back(in.name());
        return names;
    }

private:
    // Names become tensor and kernel names in the object, which the loader requires in UTF-8
    // (they reach JSON reports). Protobuf does not check proto2 strings.
    void checkNamesAreUtf8(const onnx::GraphProto& g) const {
        const auto check = [&](const std::string& name, std::string_view what) {
            if (!isValidUtf8(name))
                fail("{} is not valid UTF-8", what);
        };
        check(g.name(), "the graph's name");
        for (const onnx::ValueInfoProto& v : g.input())
            check(v.name(), "a graph input's name");
        for (const onnx::ValueInfoProto& v : g.output())
            check(v.name(), "a graph output's name");
        for (const onnx::TensorProto& t : g.initializer())
            check(t.name(), "an initializer's name");
        for (int i = 0; i < g.node_size(); ++i) {
            const onnx::NodeProto& n = g.node(i);
            const std::string what = fmt::format("node {}: a name, input or output", i);
            check(n.name(), what);
            check(n.op_type(), what);
            for (const std::string& name : n.input())
                check(name, what);
            for (const std::string& name : n.output())
                check(name, what);
        }
    }

    // ---- errors ----
    template <class... Args>
    [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const {
        std::string what = fmt::format(format, std::forward<Args>(args)...);
        if (node_)
            throw ImportError{fmt::format("{}: error: node {} '{}' ({}): {}", path_, nodeIndex_,
                                          node_->name(), node_->op_type(), what)};
        throw ImportError{fmt::format("{}: error: {}", path_, what)};
    }

    TensorValue decode(const onnx::TensorProto& t, std::string_view what) const {
        auto v = onnx_io::decodeTensor(t, baseDir_, fmt::format("{}: {}", path_, what));
        if (!v)
            throw ImportError{v.error().message};
        return std::move(*v);
    }

    // ---- opsets ----
    void readOpsets() {
        opset_ = 1;
        for (const onnx::OperatorSetIdProto& o : model_.opset_import())
            if (o.domain().empty() || o.domain() == "ai.onnx")
                opset_ = o.version();
    }

    // Operand slots an operator needs at compile time (at the model's opset).
    std::vector<int> staticSlots(const onnx::NodeProto& n) const {
        const std::string& op = n.op_type();
        if (op == "Reshape" || op == "Squeeze" || op == "Unsqueeze" || op == "ReduceSum" ||
            op == "ReduceMean" || op == "ReduceMax" || op == "ReduceMin")
            return {1};
        if (op == "Pad")
            return {1, 2, 3};
        if (op == "Clip")
            return {1, 2};
        if (op == "Dropout")
            return {1, 2};
        return {};
    }

    // ---- IR construction ----
    std::string uniqueName(const std::string& base) {
        std::string name = base.empty() ? std::string("v") : base;
        for (int n = 2; !names_.insert(name).second; ++n)
            name = fmt::format("{}.{}", base, n);
        return name;
    }

    ValueId newValue(std::string name, TensorType type, std::int32_t producer) {
        Value v;
        v.sourceName = name;
        v.name = uniqueName(name);
        v.type = std::move(type);
        v.producer = producer;
        graph_.values.push_back(std::move(v));
        return static_cast<ValueId>(graph_.values.size() - 1);
    }

    // By value: emitting a value grows the graph and would leave a reference dangling.
    TensorType typeOf(ValueId id) const { return graph_.value(id).type; }
    Shape shapeOf(ValueId id) const { return graph_.value(id).type.shape; }

    // Appends an IR operation computing one value. `resultName` names the value (the ONNX
    // output for a node's final result, "<output>.<step>" for the steps of an expansion).
    ValueId emit(OpKind kind, const std::vector<ValueId>& operands, TensorType result,
                 std::vector<Attribute> attributes, const std::string& resultName) {
        Operation op;
        op.kind = kind;
        op.opName = std::string(opKindName(kind));
        op.nodeId = nextNodeId_++;
        op.name = node_ && !node_->name().empty() ? node_->name()
                  : node_ ? fmt::format("{}_{}", node_->op_type(), nodeIndex_)
                          : resultName;
        op.operands = operands;
        for (ValueId v : operands)
            op.operandTypes.push_back(typeOf(v));
        op.attributes = std::move(attributes);
        const auto index = static_cast<std::int32_t>(graph_.ops.size());
        const ValueId out = newValue(resultName, std::move(result), index);
        op.results = {out};
        graph_.ops.push_back(std::move(op));
        return out;
    }

    // A CONSTANT operation carrying `value`'s bytes.
    ValueId constant(const TensorValue& value, const std::string& name) {
        if (!isFloat(value.dtype))
            fail("element type {} of constant '{}' is not supported: only float tensors are "
                 "computed on",
                 dtypeName(value.dtype), name);
        const ValueId id = emitLeaf(OpKind::Constant, name, TensorType{value.shape, value.dtype});
        graph_.values[static_cast<std::size_t>(id)].data = value.data;
        graph_.constants.push_back(id);
        return id;
    }

    ValueId emitLeaf(OpKind kind, const std::string& name, TensorType type) {
        Operation op;
        op.kind = kind;
        op.opName = std::string(opKindName(kind));
        op.nodeId = nextNodeId_++;
        op.name = name;
        const auto index = static_cast<std::int32_t>(graph_.ops.size());
        const ValueId out = newValue(name, std::move(type), index);
        op.results = {out};
        graph_.ops.push_back(std::move(op));
        return out;
    }

    // ---- the graph's inputs and outputs ----
    TensorType declaredType(const onnx::ValueInfoProto& info, std::string_view what) const {
        if (!info.type().has_tensor_type())
            fail("{} '{}' is not a tensor: sequences, maps and optionals are not supported", what,
                 info.name());
        const auto& t = info.type().tensor_type();
        auto dtype = onnx_io::dtypeOfOnnxType(t.elem_type());
        if (!dtype)
            fail("{} '{}': {}", what, info.name(), dtype.error().message);
        TensorType type{.shape = {}, .dtype = *dtype};
        if (!t.has_shape())
            fail("{} '{}' has no shape", what, info.name());
        for (const auto& d : t.shape().dim()) {
            const std::int64_t v = d.has_dim_value() ? d.dim_value() : options_.batch;
            if (v <= 0)
                fail("{} '{}' has a dimension {}: empty tensors are not supported", what,
                     info.name(), v);
            type.shape.push_back(v);
        }
        return type;
    }

    // declaredType, with element types we have no DType for read as I64 (never computed on).
    TensorType tryDeclaredType(const onnx::ValueInfoProto& info) const {
        if (info.type().has_tensor_type() &&
            !onnx_io::dtypeOfOnnxType(info.type().tensor_type().elem_type()))
            return TensorType{{}, DType::I64};
        return declaredType(info, "graph input");
    }
    static std::string typeName(const onnx::ValueInfoProto& info) {
        return info.type().has_tensor_type()
                   ? onnx_io::spellOnnxType(info.type().tensor_type().elem_type())
                   : std::string("non-tensor");
    }

    void addInputs() {
        std::uint32_t position = 0;
        for (const onnx::ValueInfoProto& in : model_.graph().input()) {
            if (known_.contains(in.name()))
                continue; // an initializer listed as an input (IR version < 4): a constant
            const std::uint32_t pos = position++;
            if (auto it = options_.staticInputs.find(in.name());
                it != options_.staticInputs.end()) {
                TensorValue v = it->second;
                const TensorType declared = declaredType(in, "graph input");
                if (v.dtype != declared.dtype || v.shape != declared.shape)
                    fail("the value given for input '{}' is {}{}; the model declares {}{}",
                         in.name(), formatShape(v.shape), dtypeName(v.dtype),
                         formatShape(declared.shape), dtypeName(declared.dtype));
                graph_.staticInputs.push_back(StaticInput{.name = in.name(),
                                                          .position = pos,
                                                          .dtype = v.dtype,
                                                          .shape = v.shape,
                                                          .data = v.data});
                known_[in.name()] = std::move(v);
                continue;
            }
            // An input of a type we cannot compute on is an error of the node that reads it.
            const TensorType type = tryDeclaredType(in);
            if (!isFloat(type.dtype)) {
                unusable_[in.name()] = fmt::format(
                    "element type {} of graph input '{}' is not supported: only float inputs "
                    "are computed on (an input used as a shape or axes must be fixed with "
                    "--const {}=FILE)",
                    typeName(in), in.name(), in.name());
                continue;
            }
            const ValueId id = emitLeaf(OpKind::FunctionArgument, in.name(), type);
            graph_.inputs.push_back(id);
            values_[in.name()] = id;
        }
        for (const auto& [name, value] : options_.staticInputs) {
            const bool isInput = std::ranges::any_of(
                model_.graph().input(), [&](const auto& in) { return in.name() == name; });
            if (!isInput)
                fail("--const '{}': the model has no graph input of that name", name);
        }
    }

    void addOutputs() {
        for (const onnx::ValueInfoProto& out : model_.graph().output()) {
            auto it = values_.find(out.name());
            if (it == values_.end()) {
                if (known_.contains(out.name()))
                    fail("graph output '{}' is a compile-time constant: a graph that computes "
                         "nothing at run time is not supported",
                         out.name());
                fail("graph output '{}' is not produced by any node", out.name());
            }
            ValueId id = it->second;
            // An output must be a value of its own (not an input, a constant or another output),
            // named as in the model (kpu-loader --expect binds by that name).
            const Value& value = graph_.value(id);
            const OpKind producer = graph_.ops[static_cast<std::size_t>(value.producer)].kind;
            const bool taken = std::ranges::find(graph_.outputs, id) != graph_.outputs.end() ||
                               producer == OpKind::FunctionArgument ||
                               producer == OpKind::Constant || value.name != out.name();
            if (taken)
                id = emit(OpKind::Reshape, {id}, typeOf(id), {}, out.name());
            if (out.type().has_tensor_type() && out.type().tensor_type().has_shape()) {
                const auto& dims = out.type().tensor_type().shape().dim();
                const Shape& shape = shapeOf(id);
                bool same = dims.size() == static_cast<int>(shape.size());
                for (int d = 0; same && d < dims.size(); ++d)
                    same = !dims[d].has_dim_value() || dims[d].dim_value() == shape[d];
                if (!same)
                    fail("graph output '{}': the model declares shape [{}], the operators "
                         "compute {}",
                         out.name(), declaredDims(out), formatShape(shape));
            }
            graph_.outputs.push_back(id);
        }
        if (graph_.outputs.empty())
            fail("the graph has no outputs");
        Operation ret;
        ret.kind = OpKind::FunctionReturn;
        ret.opName = std::string(opKindName(OpKind::FunctionReturn));
        ret.nodeId = nextNodeId_++;
        ret.name = "output";
        ret.operands = graph_.outputs;
        for (ValueId v : ret.operands)
            ret.operandTypes.push_back(typeOf(v));
        graph_.ops.push_back(std::move(ret));
    }

    static std::string declaredDims(const onnx::ValueInfoProto& info) {
        std::vector<std::string> dims;
        for (const auto& d : info.type().tensor_type().shape().dim())
            dims.push_back(d.has_dim_value() ? std::to_string(d.dim_value())
                                             : (d.dim_param().empty() ? "?" : d.dim_param()));
        return fmt::format("{}", fmt::join(dims, ", "));
    }

    void countUses() {
        for (const onnx::NodeProto& n : nodes_)
            for (const std::string& in : n.input())
                ++uses_[in];
        for (const onnx::ValueInfoProto& out : model_.graph().output())
            ++uses_[out.name()];
    }

    // A Conv with constant weights whose only reader is an inference BatchNormalization with
    // constant parameters absorbs it: W'[o] = W[o] a[o], B'[o] = B[o] a[o] + b[o] with
    // a = scale / sqrt(var + eps), b = bias - mean a. The BatchNormalization node disappears.
    void foldBatchNorms() {
        std::unordered_map<std::string, std::size_t> producer;
        for (std::size_t i = 0; i < nodes_.size(); ++i)
            for (const std::string& o : nodes_[i].output())
                producer[o] = i;
        const auto knownAt = [&](const onnx::NodeProto& n, int slot) -> const TensorValue* {
            if (slot >= n.input_size() || n.input(slot).empty())
                return nullptr;
            auto it = known_.find(n.input(slot));
            return it == known_.end() ? nullptr : &it->second;
        };
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            onnx::NodeProto& bn = nodes_[i];
            if (bn.op_type() != "BatchNormalization" || bn.input_size() < 5 ||
                bn.output_size() < 1 || !bn.domain().empty())
                continue;
            bool plain = std::ranges::all_of(bn.attribute(), [](const auto& a) {
                return a.name() == "epsilon" || a.name() == "momentum" ||
                       (a.name() == "training_mode" && a.i() == 0) ||
                       (a.name() == "spatial" && a.i() == 1) || a.name() == "is_test";
            });
            for (int o = 1; o < bn.output_size(); ++o)
                plain = plain && (bn.output(o).empty() || !uses_.contains(bn.output(o)));
            const auto it = producer.find(bn.input(0));
            if (!plain || it == producer.end() || uses_[bn.input(0)] != 1)
                continue;
            onnx::NodeProto& conv = nodes_[it->second];
            if (conv.op_type() != "Conv" || !conv.domain().empty() || conv.output_size() != 1)
                continue;
            const TensorValue* w = knownAt(conv, 1);
            const TensorValue* b = knownAt(conv, 2);
            if (!w || w->shape.empty() || (conv.input_size() > 2 && !conv.input(2).empty() && !b))
                continue;
            std::array<const TensorValue*, 4> p{knownAt(bn, 1), knownAt(bn, 2), knownAt(bn, 3),
                                                knownAt(bn, 4)};
            if (std::ranges::any_of(p, [](const TensorValue* v) { return v == nullptr; }))
                continue;
            const auto o = static_cast<std::size_t>(w->shape[0]);
            const auto scale = asDoubles(*p[0]), shift = asDoubles(*p[1]);
            const auto mean = asDoubles(*p[2]), var = asDoubles(*p[3]);
            if (scale.size() != o || shift.size() != o || mean.size() != o || var.size() != o)
                continue;
            double eps = 1e-5;
            for (const auto& a : bn.attribute())
                if (a.name() == "epsilon")
                    eps = static_cast<double>(a.f());
            auto weights = asDoubles(*w);
            std::vector<double> bias = b ? asDoubles(*b) : std::vector<double>(o, 0.0);
            const std::size_t per = weights.size() / o;
            for (std::size_t c = 0; c < o; ++c) {
                const double a = scale[c] / std::sqrt(var[c] + eps);
                for (std::size_t k = 0; k < per; ++k)
                    weights[c * per + k] *= a;
                bias[c] = bias[c] * a + shift[c] - mean[c] * a;
            }
            const std::string wName = bn.output(0) + ".folded_w";
            const std::string bName = bn.output(0) + ".folded_b";
            known_[wName] = fromDoubles(wName, w->dtype, w->shape, weights);
            known_[bName] = fromDoubles(bName, w->dtype, Shape{w->shape[0]}, bias);
            conv.set_input(1, wName);
            if (conv.input_size() > 2)
                conv.set_input(2, bName);
            else
                conv.add_input(bName);
            conv.set_output(0, bn.output(0));
            folded_.insert(i);
        }
    }

    // The exact GELU as exporters write it, x * 0.5 * (1 + erf(x / sqrt 2)) in any association
    // of the two multiplications (and with x * (1/sqrt 2) for the division), becomes one GELU.
    // The intermediate values must have no other reader.
    void fuseGelus() {
        std::unordered_map<std::string, std::size_t> producer;
        for (std::size_t i = 0; i < nodes_.size(); ++i)
            for (const std::string& o : nodes_[i].output())
                producer[o] = i;
        const auto scalarNear = [&](const std::string& name, double value) {
            auto it = known_.find(name);
            if (it == known_.end() || !isFloat(it->second.dtype))
                return false;
            const auto v = asDoubles(it->second);
            return v.size() == 1 && std::abs(v[0] - value) <= 1e-6 * std::abs(value);
        };
        // The node producing `value` when it has op `op`, exactly one reader, and no other
        // output in use.
        const auto single = [&](const std::string& value, std::string_view op) -> onnx::NodeProto* {
            auto it = producer.find(value);
            if (it == producer.end() || folded_.contains(it->second) || uses_[value] != 1)
                return nullptr;
            onnx::NodeProto& n = nodes_[it->second];
            return n.op_type() == op && n.domain().empty() && n.input_size() == 2 - (op == "Erf")
                       ? &n
                       : nullptr;
        };
        // The other operand of a binary node, when one operand is `known`.
        const auto other = [](const onnx::NodeProto& n, const std::string& known) {
            return n.input(0) == known ? n.input(1) : n.input(1) == known ? n.input(0) : "";
        };
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            onnx::NodeProto& outer = nodes_[i];
            if (outer.op_type() != "Mul" || !outer.domain().empty() || outer.input_size() != 2 ||
                folded_.contains(i))
                continue;
            // outer = Mul(inner, 0.5) with inner = Mul(x, 1 + erf(...)), or
            // outer = Mul(half, 1 + erf(...)) with half = Mul(x, 0.5).
            for (int side = 0; side < 2; ++side) {
                const std::string& a = outer.input(side);
                const std::string& b = outer.input(1 - side);
                std::string x;
                std::vector<onnx::NodeProto*> chain;
                onnx::NodeProto* add = nullptr;
                if (scalarNear(b, 0.5)) {
                    onnx::NodeProto* inner = single(a, "Mul");
                    if (!inner)
                        continue;
                    for (int s2 = 0; s2 < 2 && !add; ++s2)
                        if ((add = single(inner->input(s2), "Add")))
                            x = inner->input(1 - s2);
                    chain.push_back(inner);
                } else if (onnx::NodeProto* half = single(a, "Mul"); half) {
                    for (const std::string& h : {half->input(0), half->input(1)})
                        if (scalarNear(h, 0.5))
                            x = other(*half, h);
                    add = single(b, "Add");
                    chain.push_back(half);
                }
                if (!add || x.empty())
                    continue;
                std::string erfOut;
                for (const std::string& in : {add->input(0), add->input(1)})
                    if (scalarNear(in, 1.0))
                        erfOut = other(*add, in);
                onnx::NodeProto* erf = erfOut.empty() ? nullptr : single(erfOut, "Erf");
                onnx::NodeProto* scale = erf ? single(erf->input(0), "Div") : nullptr;
                bool matches = scale && scale->input(0) == x &&
                               scalarNear(scale->input(1), std::numbers::sqrt2);
                if (!matches && erf && (scale = single(erf->input(0), "Mul")))
                    for (const std::string& in : {scale->input(0), scale->input(1)})
                        matches = matches || (other(*scale, in) == x &&
                                              scalarNear(in, 1.0 / std::numbers::sqrt2));
                if (!matches)
                    continue;
                for (onnx::NodeProto* n : {chain[0], add, erf, scale})
                    folded_.insert(static_cast<std::size_t>(n - nodes_.data()));
                outer.set_op_type("Gelu");
                outer.clear_input();
                outer.add_input(x);
                outer.clear_attribute();
                break;
            }
        }
    }

    // ---- node inputs and attributes ----
    bool hasInput(int slot) const {
        return slot < node_->input_size() && !node_->input(slot).empty();
    }
    const std::string& inputName(int slot) const {
        if (!hasInput(slot))
            fail("input {} is missing", slot);
        return node_->input(slot);
    }

    // A compile-time value of input `slot` (an initializer, a Constant node's value, a folded
    // result or a --const input), or nullptr.
    const TensorValue* knownInput(int slot) const {
        if (!hasInput(slot))
            return nullptr;
        auto it = known_.find(node_->input(slot));
        return it == known_.end() ? nullptr : &it->second;
    }
    const TensorValue& requireKnown(int slot, std::string_view role) const {
        if (const TensorValue* v = knownInput(slot))
            return *v;
        const std::string& name = inputName(slot);
        if (auto it = unusable_.find(name); it != unusable_.end())
            fail("input {} ('{}', the {}) must be known at compile time: {}", slot, name, role,
                 it->second);
        const bool isGraphInput = std::ranges::any_of(
            model_.graph().input(), [&](const auto& in) { return in.name() == name; });
        if (isGraphInput)
            fail("input {} ('{}', the {}) must be known at compile time; it is a graph input: "
                 "fix its value with --const {}=FILE",
                 slot, name, role, name);
        fail("input {} ('{}', the {}) must be known at compile time; it is computed by the "
             "graph",
             slot, name, role);
    }

    std::vector<std::int64_t> knownInts(int slot, std::string_view role) const {
        const TensorValue& v = requireKnown(slot, role);
        std::vector<std::int64_t> out;
        for (double d : asDoubles(v))
            out.push_back(static_cast<std::int64_t>(d));
        return out;
    }

    // The IR value of input `slot`; compile-time values become CONSTANT operations on first use.
    ValueId input(int slot) {
        const std::string& name = inputName(slot);
        if (auto it = values_.find(name); it != values_.end())
            return it->second;
        if (auto it = known_.find(name); it != known_.end()) {
            const ValueId id = constant(it->second, name);
            values_[name] = id;
            return id;
        }
        if (auto it = unusable_.find(name); it != unusable_.end())
            fail("{}", it->second);
        fail("input '{}' is not produced by any earlier node", name);
    }

    DType floatType(ValueId v) const {
        const DType t = typeOf(v).dtype;
        if (!isFloat(t))
            fail("element type {} is not supported (float tensors only)", dtypeName(t));
        return t;
    }

    const onnx::AttributeProto* attribute(std::string_view name) const {
        for (const onnx::AttributeProto& a : node_->attribute())
            if (a.name() == name)
                return &a;
        return nullptr;
    }
    std::int64_t intAttr(std::string_view name, std::int64_t def) const {
        const auto* a = attribute(name);
        return a ? a->i() : def;
    }
    double floatAttr(std::string_view name, double def) const {
        const auto* a = attribute(name);
        return a ? static_cast<double>(a->f()) : def;
    }
    std::string stringAttr(std::string_view name, std::string def) const {
        const auto* a = attribute(name);
        return a ? a->s() : def;
    }
    std::optional<std::vector<std::int64_t>> intsAttr(std::string_view name) const {
        const auto* a = attribute(name);
        if (!a)
            return std::nullopt;
        return std::vector<std::int64_t>(a->ints().begin(), a->ints().end());
    }

    // Refuses attributes the translation does not implement: every attribute of the node must
    // be in `known`.
    void allowAttributes(std::initializer_list<std::string_view> known) const {
        for (const onnx::AttributeProto& a : node_->attribute())
            if (std::ranges::find(known, a.name()) == known.end())
                fail("attribute '{}' is not supported", a.name());
    }

    // Only the first `count` outputs may be used.
    void singleOutput(int count = 1) const {
        for (int i = count; i < node_->output_size(); ++i)
            if (!node_->output(i).empty() && uses_.contains(node_->output(i)))
                fail("output {} ('{}') is not supported", i, node_->output(i));
    }

    void bind(ValueId v) { values_[node_->output(0)] = v; }
    void bindKnown(TensorValue v) {
        v.name = node_->output(0);
        known_[node_->output(0)] = std::move(v);
    }
    std::string out(std::string_view step = {}) const {
        return step.empty() ? node_->output(0) : fmt::format("{}.{}", node_->output(0), step);
    }

    std::int64_t normAxis(std::int64_t axis, std::size_t rank, std::string_view what) const {
        const auto r = static_cast<std::int64_t>(rank);
        if (axis < -r || axis >= r)
            fail("{} {} is out of range for rank {}", what, axis, rank);
        return axis < 0 ? axis + r : axis;
    }

    // ---- IR operation helpers ----
    ValueId unary(OpKind kind, ValueId x, const std::string& name,
                  std::vector<Attribute> attributes = {}) {
        return emit(kind, {x}, typeOf(x), std::move(attributes), name);
    }
    ValueId binary(OpKind kind, ValueId a, ValueId b, const std::string& name) {
        auto shape = broadcastShapes(shapeOf(a), shapeOf(b));
        if (!shape)
            fail("operands {} and {} do not broadcast", formatShape(shapeOf(a)),
                 formatShape(shapeOf(b)));
        if (typeOf(a).dtype != typeOf(b).dtype)
            fail("operands have different element types ({} and {})", dtypeName(typeOf(a).dtype),
                 dtypeName(typeOf(b).dtype));
        // The IR views tensors in 4-D, collapsing leading dimensions: an operand broadcast
        // within them cannot be expressed.
        if (shape->size() > 4) {
            const std::size_t collapsed = shape->size() - 3;
            const Shape sa = shapeOf(a), sb = shapeOf(b);
            for (const Shape* s : {&sa, &sb}) {
                bool same = true, ones = true;
                for (std::size_t d = 0; d < collapsed; ++d) {
                    const std::size_t offset = shape->size() - s->size();
                    const std::int64_t v = d < offset ? 1 : (*s)[d - offset];
                    same = same && v == (*shape)[d];
                    ones = ones && v == 1;
                }
                if (!same && !ones)
                    fail("broadcasting {} to the rank-{} {} is not supported (at most the last "
                         "four dimensions may broadcast independently)",
                         formatShape(*s), shape->size(), formatShape(*shape));
            }
        }
        return emit(kind, {a, b}, TensorType{*shape, typeOf(a).dtype}, {}, name);
    }
    ValueId reshape(ValueId x, Shape shape, const std::string& name) {
        return emit(OpKind::Reshape, {x}, TensorType{std::move(shape), typeOf(x).dtype}, {}, name);
    }
    ValueId transpose(ValueId x, const std::vector<std::int64_t>& perm, const std::string& name) {
        Shape shape(perm.size());
        for (std::size_t d = 0; d < perm.size(); ++d)
            shape[d] = shapeOf(x)[static_cast<std::size_t>(perm[d])];
        return emit(OpKind::Transpose, {x}, TensorType{shape, typeOf(x).dtype},
                    {{"perms", fmt::format("array<i32: {}>", fmt::join(perm, ", "))}}, name);
    }
    // A scalar (shape [1]) constant of x's type.
    ValueId scalar(double value, ValueId like, const std::string& name) {
        return constant(fromDoubles(name, typeOf(like).dtype, Shape{1}, {value}), name);
    }
    // Reduces x along `axis` keeping the dimension.
    ValueId reduce(OpKind kind, ValueId x, std::int64_t axis, const std::string& name) {
        Shape shape = shapeOf(x);
        shape[static_cast<std::size_t>(axis)] = 1;
        return emit(kind, {x}, TensorType{shape, typeOf(x).dtype},
                    {{"axis", fmt::format("{} : i32", axis)}}, name);
    }

    // ---- translation ----
    void translate(const onnx::NodeProto& n) {
        if (!n.domain().empty() && n.domain() != "ai.onnx")
            fail("operator domain '{}' is not supported", n.domain());
        const std::string& op = n.op_type();
        const auto it = translators().find(op);
        if (it == translators().end())
            fail("operator {} is not supported", op);
        if (n.output_size() == 0 || n.output(0).empty())
            fail("the node has no output");
        (this->*(it->second))();
    }

    using Translator = void (Importer::*)();
    static const std::unordered_map<std::string, Translator>& translators() {
        static const std::unordered_map<std::string, Translator> table{
            {"Identity", &Importer::identity},
            {"Dropout", &Importer::dropout},
            {"Constant", &Importer::constantNode},
            {"Add", &Importer::elementwiseBinary},
            {"Sub", &Importer::elementwiseBinary},
            {"Mul", &Importer::elementwiseBinary},
            {"Div", &Importer::elementwiseBinary},
            {"Max", &Importer::variadic},
            {"Min", &Importer::variadic},
            {"Sum", &Importer::variadic},
            {"Mean", &Importer::variadic},
            {"Relu", &Importer::elementwiseUnary},
            {"Sigmoid", &Importer::elementwiseUnary},
            {"Tanh", &Importer::elementwiseUnary},
            {"Exp", &Importer::elementwiseUnary},
            {"Log", &Importer::elementwiseUnary},
            {"Sqrt", &Importer::elementwiseUnary},
            {"Reciprocal", &Importer::elementwiseUnary},
            {"Neg", &Importer::elementwiseUnary},
            {"Abs", &Importer::elementwiseUnary},
            {"Erf", &Importer::elementwiseUnary},
            {"Gelu", &Importer::gelu},
            {"LeakyRelu", &Importer::leakyRelu},
            {"PRelu", &Importer::leakyRelu},
            {"Clip", &Importer::clip},
            {"HardSigmoid", &Importer::hardSigmoid},
            {"HardSwish", &Importer::hardSigmoid},
            {"Softmax", &Importer::softmax},
            {"LogSoftmax", &Importer::softmax},
            {"MatMul", &Importer::matMul},
            {"Gemm", &Importer::gemm},
            {"Conv", &Importer::conv},
            {"BatchNormalization", &Importer::batchNorm},
            {"LayerNormalization", &Importer::layerNorm},
            {"MaxPool", &Importer::pool},
            {"AveragePool", &Importer::pool},
            {"GlobalAveragePool", &Importer::globalPool},
            {"GlobalMaxPool", &Importer::globalPool},
            {"Reshape", &Importer::reshapeNode},
            {"Flatten", &Importer::reshapeNode},
            {"Squeeze", &Importer::reshapeNode},
            {"Unsqueeze", &Importer::reshapeNode},
            {"Transpose", &Importer::transposeNode},
            {"Concat", &Importer::concat},
            {"Pad", &Importer::pad},
            {"ReduceSum", &Importer::reduceNode},
            {"ReduceMean", &Importer::reduceNode},
            {"ReduceMax", &Importer::reduceNode},
            {"ReduceMin", &Importer::reduceNode},
            {"ReduceL1", &Importer::reduceNode},
            {"ReduceL2", &Importer::reduceNode},
            {"ReduceSumSquare", &Importer::reduceNode},
            {"ReduceLogSum", &Importer::reduceNode},
            {"ReduceLogSumExp", &Importer::reduceNode},
            {"Elu", &Importer::expUnit},
            {"Selu", &Importer::expUnit},
            {"Softplus", &Importer::softplus},
            {"Softsign", &Importer::softsign},
            {"InstanceNormalization", &Importer::instanceNorm},
            {"Pow", &Importer::pow},
            {"Shape", &Importer::shapeNode},
            {"Size", &Importer::shapeNode},
            {"Cast", &Importer::cast},
        };
        return table;
    }

public:
    static std::vector<std::string> supported() {
        std::vector<std::string> names;
        for (const auto& [name, fn] : translators())
            names.push_back(name);
        std::ranges::sort(names);
        return names;
    }

private:
    void identity() {
        allowAttributes({});
        if (const TensorValue* v = knownInput(0))
            return bindKnown(*v);
        bind(input(0));
    }

    void dropout() {
        allowAttributes({"ratio", "seed", "is_test"});
        singleOutput();
        // In training mode dropout draws random masks, unless the ratio is 0.
        if (hasInput(2) && !knownInts(2, "training_mode").empty() &&
            knownInts(2, "training_mode")[0] != 0) {
            const double ratio =
                hasInput(1) ? asDoubles(requireKnown(1, "ratio")).at(0) : floatAttr("ratio", 0.5);
            if (ratio != 0)
                fail("training_mode 1 with a ratio other than 0 is not supported (inference "
                     "only)");
        }
        identity();
    }

    void constantNode() {
        allowAttributes({"value", "value_float", "value_floats", "value_int", "value_ints"});
        if (const auto* a = attribute("value"))
            return bindKnown(decode(a->t(), fmt::format("node {} value", nodeIndex_)));
        if (const auto* a = attribute("value_float"))
            return bindKnown(fromDoubles("", DType::F32, {}, {static_cast<double>(a->f())}));
        if (const auto* a = attribute("value_int"))
            return bindKnown(fromDoubles("", DType::I64, {}, {static_cast<double>(a->i())}));
        if (const auto* a = attribute("value_floats"))
            return bindKnown(fromDoubles("", DType::F32,
                                         {static_cast<std::int64_t>(a->floats_size())},
                                         {a->floats().begin(), a->floats().end()}));
        if (const auto* a = attribute("value_ints")) {
            std::vector<double> v(a->ints().begin(), a->ints().end());
            return bindKnown(fromDoubles("", DType::I64, {static_cast<std::int64_t>(v.size())}, v));
        }
        fail("no value attribute");
    }

    void elementwiseBinary() {
        allowAttributes({"broadcast", "axis", "consumed_inputs"});
        const std::string& op = node_->op_type();
        const OpKind kind = op == "Add"   ? OpKind::Add
                            : op == "Sub" ? OpKind::Sub
                            : op == "Mul" ? OpKind::Mul
                                          : OpKind::Div;
        const ValueId a = input(0);
        ValueId b = input(1);
        floatType(a);
        // Before opset 7, broadcast=1 places B at `axis` of A (default: the trailing dimensions).
        if (opset_ < 7 && intAttr("broadcast", 0) != 0) {
            const Shape& sa = shapeOf(a);
            const Shape sb = shapeOf(b);
            const std::int64_t axis = attribute("axis")
                                          ? normAxis(intAttr("axis", 0), sa.size(), "axis")
                                          : static_cast<std::int64_t>(sa.size() - sb.size());
            if (axis < 0 || static_cast<std::size_t>(axis) + sb.size() > sa.size())
                fail("B {} does not fit A {} at axis {}", formatShape(sb), formatShape(sa), axis);
            Shape aligned = sb;
            aligned.resize(sa.size() - static_cast<std::size_t>(axis), 1);
            if (aligned != sb)
                b = reshape(b, aligned, out("b"));
        }
        bind(binary(kind, a, b, out()));
    }

    void variadic() {
        allowAttributes({});
        const std::string& op = node_->op_type();
        const OpKind kind = op == "Max"   ? OpKind::Maximum
                            : op == "Min" ? OpKind::Minimum
                                          : OpKind::Add;
        ValueId acc = input(0);
        floatType(acc);
        const int count = node_->input_size();
        if (count == 1 && op != "Mean") {
            bind(reshape(acc, shapeOf(acc), out()));
            return;
        }
        for (int i = 1; i < count; ++i)
            acc = binary(kind, acc, input(i),
                         i + 1 == count && op != "Mean" ? out() : out(fmt::format("acc{}", i)));
        if (op == "Mean")
            acc = binary(OpKind::Mul, acc, scalar(1.0 / count, acc, out("scale")), out());
        bind(acc);
    }

    void elementwiseUnary() {
        allowAttributes({});
        static const std::unordered_map<std::string, OpKind> kinds{
            {"Relu", OpKind::Relu},
            {"Sigmoid", OpKind::Sigmoid},
            {"Tanh", OpKind::Tanh},
            {"Exp", OpKind::Exp},
            {"Log", OpKind::Log},
            {"Sqrt", OpKind::Sqrt},
            {"Reciprocal", OpKind::Reciprocal},
            {"Neg", OpKind::Negate},
            {"Abs", OpKind::Abs},
            {"Erf", OpKind::Erf}};
        const ValueId x = input(0);
        floatType(x);
        bind(unary(kinds.at(node_->op_type()), x, out()));
    }

    void gelu() {
        allowAttributes({"approximate"});
        const ValueId x = input(0);
        floatType(x);
        const std::string approximate = stringAttr("approximate", "none");
        if (approximate == "none")
            return bind(unary(OpKind::Gelu, x, out()));
        if (approximate != "tanh")
            fail("attribute 'approximate' value '{}' is not supported", approximate);
        // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        const ValueId x2 = binary(OpKind::Mul, x, x, out("x2"));
        const ValueId x3 = binary(OpKind::Mul, x2, x, out("x3"));
        const ValueId t = binary(OpKind::Mul, x3, scalar(0.044715, x, out("c")), out("t"));
        const ValueId inner = binary(OpKind::Add, x, t, out("inner"));
        const ValueId scaled =
            binary(OpKind::Mul, inner, scalar(std::sqrt(2.0 / std::numbers::pi), x, out("k")),
                   out("scaled"));
        const ValueId th = unary(OpKind::Tanh, scaled, out("tanh"));
        const ValueId one = binary(OpKind::Add, th, scalar(1.0, x, out("one")), out("onep"));
        const ValueId half = binary(OpKind::Mul, x, scalar(0.5, x, out("half")), out("halfx"));
        bind(binary(OpKind::Mul, half, one, out()));
    }

    // LeakyRelu(x) = relu(x) - alpha relu(-x); PRelu the same with a slope tensor. Exact: one
    // of the two terms is zero and the other is x or alpha x rounded once.
    void leakyRelu() {
        const bool prelu = node_->op_type() == "PRelu";
        allowAttributes(prelu ? std::initializer_list<std::string_view>{}
                              : std::initializer_list<std::string_view>{"alpha"});
        const ValueId x = input(0);
        floatType(x);
        ValueId slope = prelu ? input(1) : scalar(floatAttr("alpha", 0.01), x, out("alpha"));
        const Shape& xs = shapeOf(x);
        // Before opset 7 a 1-D slope of C values applies along the channel dimension (1).
        if (prelu && opset_ < 7 && shapeOf(slope).size() == 1 && xs.size() >= 2 &&
            shapeOf(slope)[0] == xs[1] && xs[1] != xs.back()) {
            Shape channel(xs.size() - 1, 1);
            channel[0] = xs[1];
            slope = reshape(slope, channel, out("slope"));
        }
        const ValueId pos = unary(OpKind::Relu, x, out("pos"));
        const ValueId negx = unary(OpKind::Negate, x, out("negx"));
        const ValueId neg = unary(OpKind::Relu, negx, out("neg"));
        const ValueId scaled = binary(OpKind::Mul, neg, slope, out("scaled"));
        bind(binary(OpKind::Sub, pos, scaled, out()));
    }

    void clip() {
        allowAttributes({"min", "max"});
        const ValueId x = input(0);
        floatType(x);
        double lo = -std::numeric_limits<double>::infinity();
        double hi = std::numeric_limits<double>::infinity();
        if (opset_ < 11) {
            lo = floatAttr("min", lo);
            hi = floatAttr("max", hi);
        } else {
            if (hasInput(1))
                lo = asDoubles(requireKnown(1, "minimum")).at(0);
            if (hasInput(2))
                hi = asDoubles(requireKnown(2, "maximum")).at(0);
        }
        if (lo > hi) { // ONNX: every element becomes max
            const ValueId zero = binary(OpKind::Mul, x, scalar(0.0, x, out("zero")), out("z"));
            bind(binary(OpKind::Add, zero, scalar(hi, x, out("max")), out()));
            return;
        }
        bind(unary(OpKind::Clamp, x, out(),
                   {{"min_fp", numberText(lo)}, {"max_fp", numberText(hi)}}));
    }

    // HardSigmoid = clamp(alpha x + beta, 0, 1); HardSwish = x HardSigmoid(x) (alpha 1/6,
    // beta 1/2).
    void hardSigmoid() {
        const bool swish = node_->op_type() == "HardSwish";
        allowAttributes(swish ? std::initializer_list<std::string_view>{}
                              : std::initializer_list<std::string_view>{"alpha", "beta"});
        const ValueId x = input(0);
        floatType(x);
        const double alpha = swish ? 1.0 / 6 : floatAttr("alpha", 0.2);
        const double beta = swish ? 0.5 : floatAttr("beta", 0.5);
        const ValueId ax = binary(OpKind::Mul, x, scalar(alpha, x, out("alpha")), out("ax"));
        const ValueId axb = binary(OpKind::Add, ax, scalar(beta, x, out("beta")), out("axb"));
        const ValueId hs = unary(OpKind::Clamp, axb, swish ? out("hs") : out(),
                                 {{"min_fp", numberText(0)}, {"max_fp", numberText(1)}});
        bind(swish ? binary(OpKind::Mul, x, hs, out()) : hs);
    }

    // Softmax / LogSoftmax. Before opset 13 the input is coerced to 2-D at `axis` (default 1)
    // and normalised over the second dimension; from 13 over the one `axis` (default -1).
    void softmax() {
        allowAttributes({"axis"});
        const bool logSoftmax = node_->op_type() == "LogSoftmax";
        ValueId x = input(0);
        floatType(x);
        const Shape shape = shapeOf(x);
        const std::size_t rank = shape.size();
        std::int64_t axis = normAxis(intAttr("axis", opset_ < 13 ? 1 : -1), rank, "axis");
        const bool coerce = opset_ < 13 && axis + 1 < static_cast<std::int64_t>(rank);
        if (coerce) {
            const auto a = static_cast<std::size_t>(axis);
            x = reshape(x, Shape{product(shape, 0, a), product(shape, a)}, out("2d"));
            axis = 1;
        }
        const bool reshapeBack = coerce;
        const std::string result = reshapeBack ? out("nd") : out();
        ValueId y;
        if (!logSoftmax) {
            y = emit(OpKind::Softmax, {x}, typeOf(x), {{"axis", fmt::format("{} : i32", axis)}},
                     result);
        } else {
            // x - max - log(sum(exp(x - max))): stable, and exact where softmax underflows.
            const ValueId m = reduce(OpKind::ReduceMax, x, axis, out("max"));
            const ValueId d = binary(OpKind::Sub, x, m, out("shifted"));
            const ValueId e = unary(OpKind::Exp, d, out("exp"));
            const ValueId s = reduce(OpKind::ReduceSum, e, axis, out("sum"));
            const ValueId l = unary(OpKind::Log, s, out("logsum"));
            y = binary(OpKind::Sub, d, l, result);
        }
        bind(reshapeBack ? reshape(y, shape, out()) : y);
    }

    // MatMul with numpy semantics: 1-D operands are promoted and the added dimension removed.
    void matMul() {
        allowAttributes({});
        ValueId a = input(0), b = input(1);
        floatType(a);
        const Shape sa = shapeOf(a), sb = shapeOf(b);
        if (sa.empty() || sb.empty())
            fail("scalar operands are not supported");
        const bool vecA = sa.size() == 1, vecB = sb.size() == 1;
        if (vecA)
            a = reshape(a, Shape{1, sa[0]}, out("a2d"));
        if (vecB)
            b = reshape(b, Shape{sb[0], 1}, out("b2d"));
        const Shape& pa = shapeOf(a);
        const Shape& pb = shapeOf(b);
        if (pa.back() != pb[pb.size() - 2])
            fail("inner dimensions differ: {} and {}", formatShape(sa), formatShape(sb));
        const Shape batchA(pa.begin(), pa.end() - 2), batchB(pb.begin(), pb.end() - 2);
        auto batch = broadcastShapes(batchA, batchB);
        if (!batch)
            fail("batch dimensions {} and {} do not broadcast", formatShape(batchA),
                 formatShape(batchB));
        Shape result = *batch;
        result.push_back(pa[pa.size() - 2]);
        result.push_back(pb.back());
        Shape final;
        final.assign(batch->begin(), batch->end());
        if (!vecA)
            final.push_back(pa[pa.size() - 2]);
        if (!vecB)
            final.push_back(pb.back());
        const bool squeeze = vecA || vecB;
        const ValueId y = emit(OpKind::MatMul, {a, b}, TensorType{result, typeOf(a).dtype}, {},
                               squeeze ? out("2d") : out());
        bind(squeeze ? reshape(y, final, out()) : y);
    }

    // Gemm: alpha op(A) op(B) + beta C. transB reads B as [N, K] (FC's weight layout, which the
    // KPU reads natively); alpha and beta fold into constant operands where they can.
    void gemm() {
        allowAttributes({"alpha", "beta", "transA", "transB", "broadcast"});
        const double alpha = floatAttr("alpha", 1.0), beta = floatAttr("beta", 1.0);
        const bool transA = intAttr("transA", 0) != 0, transB = intAttr("transB", 0) != 0;
        ValueId a = input(0);
        const DType dtype = floatType(a);
        if (shapeOf(a).size() != 2)
            fail("A must be 2-D (it is {})", formatShape(shapeOf(a)));
        if (transA)
            a = knownInput(0) ? constant(transposeValue(*knownInput(0), {1, 0}), out("At"))
                              : transpose(a, {1, 0}, out("At"));
        ValueId b;
        const TensorValue* knownB = knownInput(1);
        if (knownB && alpha != 1.0) { // fold alpha into B
            auto values = asDoubles(*knownB);
            for (double& v : values)
                v *= alpha;
            b = constant(fromDoubles(out("B"), knownB->dtype, knownB->shape, values), out("B"));
        } else {
            b = input(1);
        }
        const Shape& sb = shapeOf(b);
        if (sb.size() != 2)
            fail("B must be 2-D (it is {})", formatShape(sb));
        const std::int64_t m = shapeOf(a)[0], k = shapeOf(a)[1];
        const std::int64_t n = transB ? sb[0] : sb[1];
        if ((transB ? sb[1] : sb[0]) != k)
            fail("inner dimensions differ: A' is {}x{}, B is {}{}", m, k, formatShape(sb),
                 transB ? " (transposed)" : "");
        const bool hasC = hasInput(2) && beta != 0.0;
        const bool scaleAfter = !knownB && alpha != 1.0;
        const std::string product = hasC || scaleAfter ? out("ab") : out();
        ValueId y = transB ? emit(OpKind::FC, {a, b}, TensorType{{m, n}, dtype}, {}, product)
                           : emit(OpKind::MatMul, {a, b}, TensorType{{m, n}, dtype}, {}, product);
        if (scaleAfter)
            y = binary(OpKind::Mul, y, scalar(alpha, y, out("alpha")),
                       hasC ? out("scaled") : out());
        if (hasC) {
            ValueId c;
            if (const TensorValue* knownC = knownInput(2); knownC && beta != 1.0) {
                auto values = asDoubles(*knownC);
                for (double& v : values)
                    v *= beta;
                c = constant(fromDoubles(out("C"), knownC->dtype, knownC->shape, values), out("C"));
            } else {
                c = input(2);
                if (beta != 1.0)
                    c = binary(OpKind::Mul, c, scalar(beta, c, out("beta")), out("betaC"));
            }
            y = binary(OpKind::Add, y, c, out());
        }
        bind(y);
    }

    // Spatial attributes of Conv and the pools, for the 2-D case (1-D is 2-D with H = 1).
    struct Window {
        std::int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
        std::int64_t top = 0, left = 0, bottom = 0, right = 0;
        std::int64_t oh = 1, ow = 1;
    };

    // kernel/strides/dilations/pads/auto_pad/ceil_mode for input spatial dims `spatial`.
    Window window(const Shape& spatial, const std::vector<std::int64_t>& kernel,
                  bool ceilMode) const {
        const std::size_t r = spatial.size();
        auto list = [&](std::string_view name, std::size_t count,
                        std::int64_t def) -> std::vector<std::int64_t> {
            auto v = intsAttr(name);
            if (!v || v->empty())
                return std::vector<std::int64_t>(count, def);
            if (v->size() != count)
                fail("attribute '{}' has {} values; expected {}", name, v->size(), count);
            return *v;
        };
        const auto strides = list("strides", r, 1), dilations = list("dilations", r, 1);
        auto pads = list("pads", 2 * r, 0);
        if (kernel.size() != r)
            fail("the kernel has {} spatial dimensions; the input {}", kernel.size(), r);
        for (std::size_t d = 0; d < r; ++d)
            if (strides[d] < 1 || dilations[d] < 1 || kernel[d] < 1 || pads[d] < 0 ||
                pads[d + r] < 0)
                fail("kernel, strides, dilations and pads must be positive (pads >= 0)");
        const std::string autoPad = stringAttr("auto_pad", "NOTSET");
        std::vector<std::int64_t> outDims(r);
        for (std::size_t d = 0; d < r; ++d) {
            const std::int64_t extent = (kernel[d] - 1) * dilations[d] + 1;
            if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
                outDims[d] = (spatial[d] + strides[d] - 1) / strides[d];
                const std::int64_t total =
                    std::max<std::int64_t>(0, (outDims[d] - 1) * strides[d] + extent - spatial[d]);
                const std::int64_t small = total / 2, large = total - small;
                pads[d] = autoPad == "SAME_UPPER" ? small : large;
                pads[d + r] = autoPad == "SAME_UPPER" ? large : small;
            } else if (autoPad == "VALID" || autoPad == "NOTSET") {
                if (autoPad == "VALID")
                    pads[d] = pads[d + r] = 0;
                const std::int64_t span = spatial[d] + pads[d] + pads[d + r] - extent;
                if (span < 0)
                    fail("the window ({} with dilation {}) is larger than the padded input ({})",
                         kernel[d], dilations[d], spatial[d] + pads[d] + pads[d + r]);
                outDims[d] =
                    (ceilMode ? (span + strides[d] - 1) / strides[d] : span / strides[d]) + 1;
                // A last window that starts in the end padding is dropped (as in PyTorch).
                if (ceilMode && (outDims[d] - 1) * strides[d] >= spatial[d] + pads[d])
                    --outDims[d];
                // ceil_mode: pad the end so that the last window is whole.
                const std::int64_t need = (outDims[d] - 1) * strides[d] + extent;
                pads[d + r] = std::max(pads[d + r], need - spatial[d] - pads[d]);
            } else {
                fail("attribute 'auto_pad' value '{}' is not supported", autoPad);
            }
        }
        Window w;
        const std::size_t h = r == 2 ? 0 : SIZE_MAX, x = r - 1;
        if (h != SIZE_MAX) {
            w.kh = kernel[h];
            w.sh = strides[h];
            w.dh = dilations[h];
            w.top = pads[h];
            w.bottom = pads[h + r];
            w.oh = outDims[h];
        }
        w.kw = kernel[x];
        w.sw = strides[x];
        w.dw = dilations[x];
        w.left = pads[x];
        w.right = pads[x + r];
        w.ow = outDims[x];
        return w;
    }

    // The NCHW activation x as NHWC (rank 3 inputs [N, C, W] gain H = 1).
    ValueId toNhwc(ValueId x) {
        const Shape& s = shapeOf(x);
        if (s.size() == 3)
            x = reshape(x, Shape{s[0], s[1], 1, s[2]}, out("nchw"));
        return transpose(x, {0, 2, 3, 1}, out("nhwc"));
    }
    // An NHWC result back to NCHW (and to [N, C, W] for 1-D).
    ValueId fromNhwc(ValueId y, std::size_t rank) {
        const Shape& s = shapeOf(y);
        const ValueId nchw = transpose(y, {0, 3, 1, 2}, rank == 3 ? out("nchw4") : out());
        if (rank == 3)
            return reshape(nchw, Shape{s[0], s[3], s[2]}, out());
        return nchw;
    }

    void checkSpatialRank(ValueId x) const {
        const std::size_t rank = shapeOf(x).size();
        if (rank != 3 && rank != 4)
            fail("{}-D inputs are not supported (1-D and 2-D spatial only: rank 3 or 4)", rank);
    }

    void conv() {
        allowAttributes({"kernel_shape", "strides", "dilations", "pads", "auto_pad", "group"});
        const ValueId x = input(0);
        const DType dtype = floatType(x);
        checkSpatialRank(x);
        const std::size_t rank = shapeOf(x).size();
        const Shape xs = shapeOf(x);
        const std::int64_t c = xs[1];
        ValueId wIn = input(1);
        Shape ws = shapeOf(wIn);
        if (ws.size() != rank)
            fail("weight rank {} differs from the input's {}", ws.size(), rank);
        const std::int64_t o = ws[0], group = intAttr("group", 1);
        if (group < 1 || c % group != 0 || o % group != 0 || ws[1] * group != c)
            fail("group {} does not divide the {} input and {} output channels (weight {})", group,
                 c, o, formatShape(ws));
        std::vector<std::int64_t> kernel(ws.begin() + 2, ws.end());
        if (auto k = intsAttr("kernel_shape"); k && *k != kernel)
            fail("attribute 'kernel_shape' [{}] differs from the weight's [{}]",
                 fmt::join(*k, ", "), fmt::join(kernel, ", "));
        const Window w = window(Shape(xs.begin() + 2, xs.end()), kernel, false);
        // Weights as a 4-D [O, C/g, KH, KW].
        const TensorValue* known = knownInput(1);
        std::optional<TensorValue> w4;
        if (known) {
            w4 = *known;
            w4->shape = Shape{o, ws[1], w.kh, w.kw};
        } else if (rank == 3) {
            wIn = reshape(wIn, Shape{o, ws[1], 1, ws[2]}, out("w4"));
        }
        std::optional<ValueId> bias;
        if (hasInput(2))
            bias = input(2);
        const ValueId xn = toNhwc(x);
        const std::vector<Attribute> attrs{
            {"stride", intsText(std::vector<std::int64_t>{w.sh, w.sw})},
            {"pad", intsText(std::vector<std::int64_t>{w.top, w.bottom, w.left, w.right})},
            {"dilation", intsText(std::vector<std::int64_t>{w.dh, w.dw})}};
        ValueId y;
        if (group == c && group > 1) {
            // Depthwise: w[ky, kx, c, m] = W[c M + m, 0, ky, kx].
            const std::int64_t mult = o / c;
            ValueId wd;
            if (w4) {
                TensorValue r = *w4;
                r.shape = Shape{c, mult, w.kh, w.kw};
                wd = constant(transposeValue(r, {2, 3, 0, 1}), out("w_hwcm"));
            } else {
                const ValueId r = reshape(wIn, Shape{c, mult, w.kh, w.kw}, out("w_cmhw"));
                wd = transpose(r, {2, 3, 0, 1}, out("w_hwcm"));
            }
            std::vector<ValueId> operands{xn, wd};
            if (bias)
                operands.push_back(*bias);
            y = emit(OpKind::DepthwiseConv2D, operands, TensorType{{xs[0], w.oh, w.ow, o}, dtype},
                     attrs, out("nhwc_out"));
        } else {
            ValueId wo;
            if (group > 1) {
                // A grouped convolution as one convolution over all input channels with a
                // block-diagonal weight: correct, at `group` times the multiply-adds.
                if (!w4)
                    fail("group {} with weights that are not constant is not supported", group);
                const std::int64_t cg = c / group, og = o / group, khw = w.kh * w.kw;
                const auto in = asDoubles(*w4);
                std::vector<double> full(static_cast<std::size_t>(o * c * khw), 0.0);
                for (std::int64_t oc = 0; oc < o; ++oc)
                    for (std::int64_t ci = 0; ci < cg; ++ci)
                        for (std::int64_t k = 0; k < khw; ++k)
                            full[static_cast<std::size_t>((oc * c + (oc / og) * cg + ci) * khw +
                                                          k)] =
                                in[static_cast<std::size_t>((oc * cg + ci) * khw + k)];
                w4 = fromDoubles(out("w"), w4->dtype, Shape{o, c, w.kh, w.kw}, full);
            }
            if (w4)
                wo = constant(transposeValue(*w4, {0, 2, 3, 1}), out("w_ohwi"));
            else
                wo = transpose(wIn, {0, 2, 3, 1}, out("w_ohwi"));
            std::vector<ValueId> operands{xn, wo};
            if (bias)
                operands.push_back(*bias);
            y = emit(OpKind::Conv2D, operands, TensorType{{xs[0], w.oh, w.ow, o}, dtype}, attrs,
                     out("nhwc_out"));
        }
        bind(fromNhwc(y, rank));
    }

    // Inference BatchNormalization: y = (x - mean) / sqrt(var + eps) * scale + B per channel
    // (dimension 1). With constant parameters it is one multiply and one add by per-channel
    // constants (or, after a Conv with constant weights, folded into it: foldBatchNorms).
    void batchNorm() {
        allowAttributes(
            {"epsilon", "momentum", "spatial", "training_mode", "is_test", "consumed_inputs"});
        singleOutput();
        if (intAttr("training_mode", 0) != 0)
            fail("attribute 'training_mode' 1 is not supported (inference only)");
        if (intAttr("spatial", 1) != 1)
            fail("attribute 'spatial' 0 is not supported");
        const double eps = floatAttr("epsilon", 1e-5);
        const ValueId x = input(0);
        const DType dtype = floatType(x);
        const Shape& xs = shapeOf(x);
        if (xs.size() < 2)
            fail("the input must have a channel dimension (it is {})", formatShape(xs));
        const std::int64_t c = xs[1];
        // Channel constants broadcast over [C, spatial...]; beyond rank 4 the spatial dimensions
        // are flattened into one (the IR addresses at most four dimensions).
        const std::optional<Shape> flat =
            xs.size() > 4 ? std::optional<Shape>(Shape{xs[0], c, product(xs, 2)}) : std::nullopt;
        const ValueId x4 = flat ? reshape(x, *flat, out("flat")) : x;
        Shape channel((flat ? flat->size() : xs.size()) - 1, 1);
        channel[0] = c;
        const auto finish = [&](ValueId y) { bind(flat ? reshape(y, xs, out()) : y); };
        const std::string result = flat ? out("y") : out();
        const bool allKnown = knownInput(1) && knownInput(2) && knownInput(3) && knownInput(4);
        if (allKnown) {
            const auto scale = asDoubles(*knownInput(1)), bias = asDoubles(*knownInput(2));
            const auto mean = asDoubles(*knownInput(3)), var = asDoubles(*knownInput(4));
            if (scale.size() != static_cast<std::size_t>(c) || bias.size() != scale.size() ||
                mean.size() != scale.size() || var.size() != scale.size())
                fail("scale, B, mean and var must each have {} values", c);
            std::vector<double> a(scale.size()), b(scale.size());
            for (std::size_t i = 0; i < a.size(); ++i) {
                a[i] = scale[i] / std::sqrt(var[i] + eps);
                b[i] = bias[i] - mean[i] * a[i];
            }
            const ValueId ka = constant(fromDoubles(out("a"), dtype, channel, a), out("a"));
            const ValueId kb = constant(fromDoubles(out("b"), dtype, channel, b), out("b"));
            const ValueId ax = binary(OpKind::Mul, x4, ka, out("ax"));
            finish(binary(OpKind::Add, ax, kb, result));
            return;
        }
        auto perChannel = [&](int slot, const char* name) {
            const ValueId v = input(slot);
            if (shapeOf(v) != Shape{c})
                fail("input {} must have shape [{}]", slot, c);
            return reshape(v, channel, out(name));
        };
        const ValueId scale = perChannel(1, "scale"), bias = perChannel(2, "bias");
        const ValueId mean = perChannel(3, "mean"), var = perChannel(4, "var");
        const ValueId ve = binary(OpKind::Add, var, scalar(eps, x, out("eps")), out("var_eps"));
        const ValueId sd = unary(OpKind::Sqrt, ve, out("std"));
        const ValueId centered = binary(OpKind::Sub, x4, mean, out("centered"));
        const ValueId normed = binary(OpKind::Div, centered, sd, out("normed"));
        const ValueId scaled = binary(OpKind::Mul, normed, scale, out("scaled"));
        finish(binary(OpKind::Add, scaled, bias, result));
    }

    void layerNorm() {
        allowAttributes({"axis", "epsilon", "stash_type"});
        const ValueId x = input(0);
        const DType dtype = floatType(x);
        const Shape& xs = shapeOf(x);
        const std::int64_t axis = normAxis(intAttr("axis", -1), xs.size(), "axis");
        const Shape normalized(xs.begin() + axis, xs.end());
        // gamma and beta must have the normalised shape; a constant that broadcasts to it is
        // expanded at compile time.
        auto operand = [&](int slot, const char* name) -> std::optional<ValueId> {
            if (!hasInput(slot))
                return std::nullopt;
            const ValueId v = input(slot);
            if (shapeOf(v) == normalized)
                return v;
            const TensorValue* k = knownInput(slot);
            auto b = broadcastShapes(shapeOf(v), normalized);
            if (!k || !b || *b != normalized)
                fail("input {} has shape {}; expected {}", slot, formatShape(shapeOf(v)),
                     formatShape(normalized));
            const auto src = asDoubles(*k);
            std::vector<double> full(static_cast<std::size_t>(product(normalized)));
            const Shape& ks = k->shape;
            const auto kStrides = stridesOf(ks);
            const auto nStrides = stridesOf(normalized);
            for (std::size_t i = 0; i < full.size(); ++i) {
                std::int64_t offset = 0;
                for (std::size_t d = 0; d < ks.size(); ++d) {
                    const std::size_t nd = d + normalized.size() - ks.size();
                    const std::int64_t idx =
                        static_cast<std::int64_t>(i) / nStrides[nd] % normalized[nd];
                    offset += ks[d] == 1 ? 0 : idx * kStrides[d];
                }
                full[i] = src[static_cast<std::size_t>(offset)];
            }
            return constant(fromDoubles(out(name), dtype, normalized, full), out(name));
        };
        std::vector<ValueId> operands{x};
        const auto gamma = operand(1, "gamma");
        const auto beta = operand(2, "beta");
        if (gamma)
            operands.push_back(*gamma);
        if (beta) {
            if (!gamma)
                operands.push_back(
                    constant(fromDoubles(out("gamma"), dtype, normalized,
                                         std::vector<double>(
                                             static_cast<std::size_t>(product(normalized)), 1.0)),
                             out("gamma")));
            operands.push_back(*beta);
        }
        const double eps = floatAttr("epsilon", 1e-5);
        bind(emit(OpKind::LayerNorm, operands, typeOf(x),
                  {{"axis", fmt::format("{} : i32", axis)}, {"epsilon", numberText(eps)}}, out()));
        // The optional Mean and InvStdDev outputs, computed separately by reductions.
        const auto used = [&](int i) {
            return i < node_->output_size() && !node_->output(i).empty() &&
                   uses_.contains(node_->output(i));
        };
        if (!used(1) && !used(2))
            return;
        const auto reduceAll = [&](ValueId v, const std::string& name) {
            for (std::size_t d = static_cast<std::size_t>(axis); d < xs.size(); ++d)
                v = reduce(OpKind::ReduceSum, v, static_cast<std::int64_t>(d),
                           fmt::format("{}.r{}", name, d));
            return binary(OpKind::Mul, v,
                          scalar(1.0 / static_cast<double>(product(normalized)), v, name + ".inv"),
                          name);
        };
        const std::string meanName = node_->output(0) + ".mean";
        const ValueId mean = reduceAll(x, used(1) ? node_->output(1) : meanName);
        if (used(1))
            values_[node_->output(1)] = mean;
        if (used(2)) {
            const ValueId centered = binary(OpKind::Sub, x, mean, out("centered"));
            const ValueId var =
                reduceAll(binary(OpKind::Mul, centered, centered, out("sq")), out("var"));
            const ValueId sd = unary(
                OpKind::Sqrt, binary(OpKind::Add, var, scalar(eps, x, out("eps")), out("var_eps")),
                out("std"));
            values_[node_->output(2)] = unary(OpKind::Reciprocal, sd, node_->output(2));
        }
    }

    void pool() {
        const bool isMax = node_->op_type() == "MaxPool";
        allowAttributes({"kernel_shape", "strides", "pads", "auto_pad", "ceil_mode", "dilations",
                         "count_include_pad", "storage_order"});
        singleOutput();
        const ValueId x = input(0);
        const DType dtype = floatType(x);
        checkSpatialRank(x);
        const Shape xs = shapeOf(x);
        const auto kernel = intsAttr("kernel_shape");
        if (!kernel)
            fail("attribute 'kernel_shape' is required");
        const bool ceilMode = intAttr("ceil_mode", 0) != 0;
        const Shape spatial(xs.begin() + 2, xs.end());
        Window w = window(spatial, *kernel, ceilMode);
        if (w.dh != 1 || w.dw != 1)
            fail("attribute 'dilations' other than 1 is not supported");
        ValueId xn = toNhwc(x);
        const bool includePad = !isMax && intAttr("count_include_pad", 0) != 0;
        if (includePad && (w.top || w.bottom || w.left || w.right)) {
            // Averages that count the padding: pad with zeros explicitly, then pool without
            // padding. The end padding ceil_mode adds is not counted (as in the ONNX reference).
            const Window declared = window(spatial, *kernel, false);
            const std::int64_t extraBottom = w.bottom - declared.bottom;
            const std::int64_t extraRight = w.right - declared.right;
            if (extraBottom > 0 || extraRight > 0)
                fail("count_include_pad with ceil_mode windows past the padding is not "
                     "supported");
            const Shape& ns = shapeOf(xn);
            const std::vector<std::int64_t> padding{0, 0, w.top, w.bottom, w.left, w.right, 0, 0};
            xn =
                emit(OpKind::Pad, {xn},
                     TensorType{{ns[0], ns[1] + w.top + w.bottom, ns[2] + w.left + w.right, ns[3]},
                                dtype},
                     {{"padding", intsText(padding)}, {"pad_const", numberText(0)}}, out("padded"));
            w.top = w.bottom = w.left = w.right = 0;
        }
        if (w.top >= w.kh || w.bottom >= w.kh || w.left >= w.kw || w.right >= w.kw)
            fail("padding {} {} {} {} is not smaller than the {}x{} window", w.top, w.bottom,
                 w.left, w.right, w.kh, w.kw);
        const ValueId y =
            emit(isMax ? OpKind::MaxPool2D : OpKind::AvgPool2D, {xn},
                 TensorType{{xs[0], w.oh, w.ow, xs[1]}, dtype},
                 {{"kernel", intsText(std::vector<std::int64_t>{w.kh, w.kw})},
                  {"stride", intsText(std::vector<std::int64_t>{w.sh, w.sw})},
                  {"pad", intsText(std::vector<std::int64_t>{w.top, w.bottom, w.left, w.right})}},
                 out("nhwc_out"));
        bind(fromNhwc(y, xs.size()));
    }

    // Global pools: reductions over every spatial dimension (kept), then 1/count for the mean.
    void globalPool() {
        allowAttributes({});
        const bool isMax = node_->op_type() == "GlobalMaxPool";
        ValueId x = input(0);
        floatType(x);
        const Shape xs = shapeOf(x);
        if (xs.size() < 3)
            fail("the input must have spatial dimensions (it is {})", formatShape(xs));
        for (std::size_t d = 2; d < xs.size(); ++d)
            x = reduce(isMax ? OpKind::ReduceMax : OpKind::ReduceSum, x,
                       static_cast<std::int64_t>(d),
                       isMax && d + 1 == xs.size() ? out() : out(fmt::format("r{}", d)));
        if (!isMax)
            x = binary(OpKind::Mul, x,
                       scalar(1.0 / static_cast<double>(product(xs, 2)), x, out("inv")), out());
        bind(x);
    }

    // Reshape, Flatten, Squeeze, Unsqueeze: a new shape for the same elements.
    void reshapeNode() {
        const std::string& op = node_->op_type();
        const TensorValue* known = knownInput(0);
        const Shape xs = known ? known->shape : shapeOf(input(0));
        Shape shape;
        if (op == "Reshape") {
            allowAttributes({"allowzero", "shape"});
            std::vector<std::int64_t> target;
            if (opset_ < 5) {
                auto s = intsAttr("shape");
                if (!s)
                    fail("attribute 'shape' is required");
                target = *s;
            } else {
                target = knownInts(1, "shape");
            }
            const bool allowZero = intAttr("allowzero", 0) != 0;
            std::int64_t inferred = -1, count = 1;
            for (std::size_t d = 0; d < target.size(); ++d) {
                std::int64_t v = target[d];
                if (v == 0 && !allowZero) {
                    if (d >= xs.size())
                        fail("shape entry {} is 0 but the input has rank {}", d, xs.size());
                    v = xs[d];
                }
                if (v == -1) {
                    if (inferred >= 0)
                        fail("shape [{}] has more than one -1", fmt::join(target, ", "));
                    inferred = static_cast<std::int64_t>(d);
                    shape.push_back(1);
                    continue;
                }
                if (v <= 0)
                    fail("shape [{}] has a dimension {}", fmt::join(target, ", "), v);
                shape.push_back(v);
                count *= v;
            }
            if (inferred >= 0) {
                if (count == 0 || product(xs) % count != 0)
                    fail("cannot reshape {} to [{}]", formatShape(xs), fmt::join(target, ", "));
                shape[static_cast<std::size_t>(inferred)] = product(xs) / count;
            }
        } else if (op == "Flatten") {
            allowAttributes({"axis"});
            const std::int64_t axis = intAttr("axis", 1) == static_cast<std::int64_t>(xs.size())
                                          ? static_cast<std::int64_t>(xs.size())
                                          : normAxis(intAttr("axis", 1), xs.size(), "axis");
            shape = Shape{product(xs, 0, static_cast<std::size_t>(axis)),
                          product(xs, static_cast<std::size_t>(axis))};
        } else {
            allowAttributes({"axes"});
            std::vector<std::int64_t> axes;
            if (opset_ >= 13 && hasInput(1))
                axes = knownInts(1, "axes");
            else if (auto a = intsAttr("axes"))
                axes = *a;
            const bool squeeze = op == "Squeeze";
            const std::size_t rank = squeeze ? xs.size() : xs.size() + axes.size();
            std::set<std::int64_t> set;
            for (std::int64_t a : axes)
                if (!set.insert(normAxis(a, rank, "axis")).second)
                    fail("axis {} is repeated", a);
            if (squeeze) {
                for (std::size_t d = 0; d < xs.size(); ++d) {
                    const bool drop =
                        set.empty() ? xs[d] == 1 : set.contains(static_cast<std::int64_t>(d));
                    if (drop && xs[d] != 1)
                        fail("cannot squeeze dimension {} of extent {}", d, xs[d]);
                    if (!drop)
                        shape.push_back(xs[d]);
                }
            } else {
                std::size_t next = 0;
                for (std::size_t d = 0; d < rank; ++d)
                    shape.push_back(set.contains(static_cast<std::int64_t>(d)) ? 1 : xs[next++]);
            }
        }
        if (product(shape) != product(xs))
            fail("cannot reshape {} to {}", formatShape(xs), formatShape(shape));
        if (known) {
            TensorValue v = *known;
            v.shape = shape;
            return bindKnown(std::move(v));
        }
        const ValueId x = input(0);
        if (shape.empty())
            fail("a scalar result is not supported");
        bind(reshape(x, shape, out()));
    }

    void transposeNode() {
        allowAttributes({"perm"});
        const TensorValue* known = knownInput(0);
        const std::size_t rank = known ? known->shape.size() : shapeOf(input(0)).size();
        std::vector<std::int64_t> perm(rank);
        std::iota(perm.rbegin(), perm.rend(), 0);
        if (auto p = intsAttr("perm"))
            perm = *p;
        std::vector<bool> seen(rank, false);
        if (perm.size() != rank)
            fail("attribute 'perm' has {} entries for rank {}", perm.size(), rank);
        for (std::int64_t p : perm) {
            if (p < 0 || p >= static_cast<std::int64_t>(rank) || seen[static_cast<std::size_t>(p)])
                fail("attribute 'perm' [{}] is not a permutation", fmt::join(perm, ", "));
            seen[static_cast<std::size_t>(p)] = true;
        }
        if (known)
            return bindKnown(transposeValue(*known, perm));
        // The IR views a tensor of rank > 4 in 4-D, its leading dimensions collapsed into one:
        // those must stay put.
        for (std::size_t d = 0; rank > 4 && d + 3 < rank; ++d)
            if (perm[d] != static_cast<std::int64_t>(d))
                fail("a rank-{} transpose that moves dimension {} is not supported (at most the "
                     "last four dimensions may move)",
                     rank, d);
        bind(transpose(input(0), perm, out()));
    }

    void concat() {
        allowAttributes({"axis"});
        if (!attribute("axis"))
            fail("attribute 'axis' is required");
        std::vector<ValueId> operands;
        for (int i = 0; i < node_->input_size(); ++i)
            if (hasInput(i))
                operands.push_back(input(i));
        if (operands.empty())
            fail("no inputs");
        const DType dtype = floatType(operands[0]);
        Shape shape = shapeOf(operands[0]);
        const std::int64_t axis = normAxis(intAttr("axis", 0), shape.size(), "axis");
        shape[static_cast<std::size_t>(axis)] = 0;
        for (ValueId v : operands) {
            const Shape& s = shapeOf(v);
            if (s.size() != shape.size())
                fail("inputs have different ranks");
            shape[static_cast<std::size_t>(axis)] += s[static_cast<std::size_t>(axis)];
        }
        bind(emit(OpKind::Concat, operands, TensorType{shape, dtype},
                  {{"axis", fmt::format("{} : i32", axis)}}, out()));
    }

    void pad() {
        allowAttributes({"mode", "pads", "value", "paddings"});
        const std::string mode = stringAttr("mode", "constant");
        if (mode != "constant")
            fail("attribute 'mode' value '{}' is not supported (constant only)", mode);
        const ValueId x = input(0);
        const DType dtype = floatType(x);
        const Shape& xs = shapeOf(x);
        const std::size_t rank = xs.size();
        std::vector<std::int64_t> pads;
        double value = 0;
        if (opset_ < 11) {
            auto p = intsAttr(opset_ < 2 ? "paddings" : "pads");
            if (!p)
                fail("attribute 'pads' is required");
            pads = *p;
            value = floatAttr("value", 0.0);
        } else {
            pads = knownInts(1, "pads");
            if (hasInput(2))
                value = asDoubles(requireKnown(2, "constant_value")).at(0);
        }
        std::vector<std::int64_t> axes(rank);
        std::iota(axes.begin(), axes.end(), 0);
        if (hasInput(3)) {
            axes = knownInts(3, "axes");
            for (auto& a : axes)
                a = normAxis(a, rank, "axis");
        }
        if (pads.size() != 2 * axes.size())
            fail("'pads' has {} values; expected {}", pads.size(), 2 * axes.size());
        std::vector<std::int64_t> padding(2 * rank, 0);
        Shape shape = xs;
        for (std::size_t i = 0; i < axes.size(); ++i) {
            const auto d = static_cast<std::size_t>(axes[i]);
            const std::int64_t before = pads[i], after = pads[i + axes.size()];
            if (before < 0 || after < 0)
                fail("negative pads (cropping) are not supported");
            padding[2 * d] = before;
            padding[2 * d + 1] = after;
            shape[d] += before + after;
        }
        bind(emit(OpKind::Pad, {x}, TensorType{shape, dtype},
                  {{"padding", intsText(padding)}, {"pad_const", numberText(value)}}, out()));
    }

    // Elu = relu(x) + alpha (exp(-relu(-x)) - 1); Selu = gamma Elu with its own alpha.
    void expUnit() {
        const bool selu = node_->op_type() == "Selu";
        allowAttributes({"alpha", "gamma"});
        const ValueId x = input(0);
        floatType(x);
        const double alpha = floatAttr("alpha", selu ? 1.6732632423543772 : 1.0);
        const double gamma = floatAttr("gamma", 1.0507009873554805);
        const ValueId pos = unary(OpKind::Relu, x, out("pos"));
        const ValueId neg = unary(
            OpKind::Negate,
            unary(OpKind::Relu, unary(OpKind::Negate, x, out("negx")), out("reluneg")), out("neg"));
        const ValueId em1 = binary(OpKind::Sub, unary(OpKind::Exp, neg, out("exp")),
                                   scalar(1.0, x, out("one")), out("em1"));
        const ValueId scaled =
            binary(OpKind::Mul, em1, scalar(alpha, x, out("alpha")), out("scaled"));
        const ValueId elu = binary(OpKind::Add, pos, scaled, selu ? out("elu") : out());
        bind(selu ? binary(OpKind::Mul, elu, scalar(gamma, x, out("gamma")), out()) : elu);
    }

    // Softplus = log(1 + exp(x)), as relu(x) + log(1 + exp(-|x|)) so that exp cannot overflow.
    void softplus() {
        allowAttributes({});
        const ValueId x = input(0);
        floatType(x);
        const ValueId e = unary(
            OpKind::Exp, unary(OpKind::Negate, unary(OpKind::Abs, x, out("abs")), out("negabs")),
            out("exp"));
        const ValueId l =
            unary(OpKind::Log, binary(OpKind::Add, e, scalar(1.0, x, out("one")), out("onep")),
                  out("log"));
        bind(binary(OpKind::Add, unary(OpKind::Relu, x, out("pos")), l, out()));
    }

    void softsign() {
        allowAttributes({});
        const ValueId x = input(0);
        floatType(x);
        const ValueId d = binary(OpKind::Add, unary(OpKind::Abs, x, out("abs")),
                                 scalar(1.0, x, out("one")), out("den"));
        bind(binary(OpKind::Div, x, d, out()));
    }

    // InstanceNormalization: LAYERNORM over the spatial dimensions of each (n, c), then the
    // per-channel scale and bias. Spatial dimensions are flattened into one.
    void instanceNorm() {
        allowAttributes({"epsilon"});
        const ValueId x = input(0);
        const DType dtype = floatType(x);
        const Shape xs = shapeOf(x);
        if (xs.size() < 3)
            fail("the input must have spatial dimensions (it is {})", formatShape(xs));
        const std::int64_t c = xs[1];
        const ValueId x3 = reshape(x, Shape{xs[0], c, product(xs, 2)}, out("flat"));
        const ValueId normed =
            emit(OpKind::LayerNorm, {x3}, typeOf(x3),
                 {{"axis", "2 : i32"}, {"epsilon", numberText(floatAttr("epsilon", 1e-5))}},
                 out("normed"));
        auto perChannel = [&](int slot, const char* name) {
            const ValueId v = input(slot);
            if (shapeOf(v) != Shape{c})
                fail("input {} must have shape [{}]", slot, c);
            return reshape(v, Shape{c, 1}, out(name));
        };
        const ValueId scaled = binary(OpKind::Mul, normed, perChannel(1, "scale"), out("scaled"));
        const ValueId y = binary(OpKind::Add, scaled, perChannel(2, "bias"), out("y"));
        (void)dtype;
        bind(reshape(y, xs, out()));
    }

    // Pow with an exponent known at compile time, the same for every element: small integers
    // by multiplication (exact for every base), +-0.5 by square root.
    void pow() {
        allowAttributes({});
        const ValueId x = input(0);
        floatType(x);
        const TensorValue* known = knownInput(1);
        if (!known)
            fail("an exponent that is not a compile-time constant is not supported");
        const auto values = asDoubles(*known);
        if (values.empty() || std::ranges::any_of(values, [&](double v) { return v != values[0]; }))
            fail("an exponent that differs between elements is not supported");
        const double y = values[0];
        if (broadcastShapes(shapeOf(x), known->shape) != shapeOf(x))
            fail("an exponent that broadcasts the base to a larger shape is not supported");
        const double magnitude = std::abs(y);
        ValueId r;
        if (magnitude == 0.5) {
            r = unary(OpKind::Sqrt, x, out("sqrt"));
        } else if (magnitude == std::floor(magnitude) && magnitude >= 1 && magnitude <= 16) {
            // Square-and-multiply, so the rounding matches a pow of an exact integer power
            // closely.
            std::optional<ValueId> acc;
            ValueId base = x;
            auto n = static_cast<int>(magnitude);
            for (int step = 0; n > 0; ++step) {
                if (n & 1)
                    acc =
                        acc ? binary(OpKind::Mul, *acc, base, out(fmt::format("p{}", step))) : base;
                n >>= 1;
                if (n > 0)
                    base = binary(OpKind::Mul, base, base, out(fmt::format("sq{}", step)));
            }
            r = *acc;
        } else {
            fail("exponent {} is not supported (integers up to 16 and +-0.5 are)", y);
        }
        if (y < 0)
            r = unary(OpKind::Reciprocal, r, out("reciprocal"));
        bind(r); // addOutputs names a graph output after the ONNX value
    }

    // Shape and Size are compile-time values: they feed Reshape targets and the like.
    void shapeNode() {
        allowAttributes({"start", "end"});
        const TensorValue* known = knownInput(0);
        const Shape xs = known ? known->shape : shapeOf(input(0));
        if (node_->op_type() == "Size")
            return bindKnown(fromDoubles("", DType::I64, {}, {static_cast<double>(product(xs))}));
        const auto rank = static_cast<std::int64_t>(xs.size());
        auto clampAxis = [&](std::int64_t a) {
            return std::clamp<std::int64_t>(a < 0 ? a + rank : a, 0, rank);
        };
        const std::int64_t start = clampAxis(intAttr("start", 0));
        const std::int64_t end = clampAxis(intAttr("end", rank));
        std::vector<double> dims;
        for (std::int64_t d = start; d < end; ++d)
            dims.push_back(static_cast<double>(xs[static_cast<std::size_t>(d)]));
        bindKnown(fromDoubles("", DType::I64, {static_cast<std::int64_t>(dims.size())}, dims));
    }

    // Cast: folded for compile-time values; at run time only a cast to the same type (a no-op).
    void cast() {
        allowAttributes({"to", "saturate"});
        auto to = onnx_io::dtypeOfOnnxType(static_cast<int>(intAttr("to", 0)));
        if (!to)
            fail("cast to {} is not supported",
                 onnx_io::spellOnnxType(static_cast<int>(intAttr("to", 0))));
        if (const TensorValue* known = knownInput(0))
            return bindKnown(fromDoubles("", *to, known->shape, asDoubles(*known)));
        const ValueId x = input(0);
        if (floatType(x) != *to)
            fail("a run-time cast from {} to {} is not supported", dtypeName(typeOf(x).dtype),
                 dtypeName(*to));
        bind(reshape(x, shapeOf(x), out()));
    }

    void reduceNode() {
        allowAttributes({"axes", "keepdims", "noop_with_empty_axes"});
        const std::string& op = node_->op_type();
        ValueId x = input(0);
        floatType(x);
        const Shape xs = shapeOf(x);
        std::vector<std::int64_t> axes;
        const bool axesInput = op == "ReduceSum" ? opset_ >= 13 : opset_ >= 18;
        if (axesInput) {
            if (hasInput(1))
                axes = knownInts(1, "axes");
        } else if (auto a = intsAttr("axes")) {
            axes = *a;
        }
        if (axes.empty()) {
            if (intAttr("noop_with_empty_axes", 0) != 0) {
                bind(reshape(x, xs, out()));
                return;
            }
            axes.resize(xs.size());
            std::iota(axes.begin(), axes.end(), 0);
        }
        std::set<std::int64_t> set;
        for (std::int64_t a : axes)
            set.insert(normAxis(a, xs.size(), "axis"));
        const bool keep = intAttr("keepdims", 1) != 0;
        // Every variant is a chain of single-axis reductions (each keeping its dimension) with
        // elementwise steps before and after.
        const OpKind kind = op == "ReduceMax"   ? OpKind::ReduceMax
                            : op == "ReduceMin" ? OpKind::ReduceMin
                                                : OpKind::ReduceSum;
        const auto chain = [&](ValueId v, OpKind k, const std::string& last) {
            std::size_t i = 0;
            for (std::int64_t a : set)
                v = reduce(k, v, a,
                           ++i == set.size()
                               ? last
                               : out(fmt::format("{}{}", k == OpKind::ReduceMax ? "m" : "r", a)));
            return v;
        };
        std::int64_t count = 1;
        for (std::int64_t a : set)
            count *= xs[static_cast<std::size_t>(a)];
        const std::string result = keep ? out() : out("kept");
        if (op == "ReduceSum" || op == "ReduceMax" || op == "ReduceMin") {
            x = chain(x, kind, result);
        } else if (op == "ReduceMean") {
            x = chain(x, OpKind::ReduceSum, out("sum"));
            x = binary(OpKind::Mul, x, scalar(1.0 / static_cast<double>(count), x, out("inv")),
                       result);
        } else if (op == "ReduceL1") {
            x = chain(unary(OpKind::Abs, x, out("abs")), OpKind::ReduceSum, result);
        } else if (op == "ReduceSumSquare" || op == "ReduceL2") {
            const ValueId sq = binary(OpKind::Mul, x, x, out("sq"));
            x = chain(sq, OpKind::ReduceSum, op == "ReduceL2" ? out("sum") : result);
            if (op == "ReduceL2")
                x = unary(OpKind::Sqrt, x, result);
        } else if (op == "ReduceLogSum") {
            x = unary(OpKind::Log, chain(x, OpKind::ReduceSum, out("sum")), result);
        } else { // ReduceLogSumExp, shifted by the maximum so exp cannot overflow
            const ValueId m = chain(x, OpKind::ReduceMax, out("max"));
            const ValueId e =
                unary(OpKind::Exp, binary(OpKind::Sub, x, m, out("shifted")), out("exp"));
            const ValueId l =
                unary(OpKind::Log, chain(e, OpKind::ReduceSum, out("sum")), out("log"));
            x = binary(OpKind::Add, l, m, result);
        }
        if (!keep) {
            Shape shape;
            for (std::size_t d = 0; d < xs.size(); ++d)
                if (!set.contains(static_cast<std::int64_t>(d)))
                    shape.push_back(xs[d]);
            if (shape.empty())
                shape.push_back(1); // the IR has no rank-0 computed values
            x = reshape(x, shape, out());
        }
        bind(x);
    }

    const onnx::ModelProto& model_;
    std::string path_;
    const OnnxImportOptions& options_;
    std::filesystem::path baseDir_;
    std::int64_t opset_ = 1;
    Graph graph_;
    std::unordered_map<std::string, ValueId> values_;       // ONNX name -> IR value
    std::unordered_map<std::string, TensorValue> known_;    // ONNX name -> compile-time value
    std::unordered_map<std::string, int> uses_;             // ONNX name -> readers
    std::vector<onnx::NodeProto> nodes_;                    // the graph's nodes, after folding
    std::set<std::size_t> folded_;                          // nodes absorbed by an earlier one
    std::unordered_map<std::string, std::string> unusable_; // graph inputs we cannot compute on
    std::set<std::string> names_;                           // IR value names taken
    const onnx::NodeProto* node_ = nullptr;
    int nodeIndex_ = 0;
    std::int64_t nextNodeId_ = 0;
};

Expected<onnx::ModelProto> parseModel(std::span<const std::uint8_t> bytes,
                                      std::string_view sourceName) {
    onnx::ModelProto model;
    if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
        return fail("{}: error: {} bytes: protobuf cannot parse a message of 2 GiB or more",
                    sourceName, bytes.size());
    if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
        const std::string where =
            onnx_io::locateParseFailure(bytes, *onnx::ModelProto::descriptor());
        return fail("{}: error: not an ONNX model: protobuf parsing fails{}", sourceName,
                    where.empty() ? "" : " " + where);
    }
    if (!model.has_graph())
        return fail("{}: error: the model has no graph", sourceName);
    return model;
}

Expected<onnx::ModelProto> readModel(const std::string& path) {
    auto bytes = readBinaryFile(path);
    if (!bytes)
        return std::unexpected(bytes.error());
    return parseModel(*bytes, path);
}

Expected<Graph> importModel(const onnx::ModelProto& model, const std::string& sourceName,
                            const OnnxImportOptions& options) {
    try {
        return Importer(model, sourceName, options).run();
    } catch (const ImportError& e) {
        return std::unexpected(Error{e.message});
    }
}

} // namespace

Expected<Graph> importOnnxFile(const std::string& path, const OnnxImportOptions& options) {
    auto model = readModel(path);
    if (!model)
        return std::unexpected(model.error());
    return importModel(*model, path, options);
}

Expected<Graph> importOnnxBytes(std::span<const std::uint8_t> bytes, const std::string& sourceName,
                                const OnnxImportOptions& options) {
    auto model = parseModel(bytes, sourceName);
    if (!model)
        return std::unexpected(model.error());
    return importModel(*model, sourceName, options);
}

Expected<std::vector<std::string>> onnxStaticInputNames(const std::string& path) {
    auto model = readModel(path);
    if (!model)
        return std::unexpected(model.error());
    const OnnxImportOptions options;
    return Importer(*model, path, options).staticInputNames();
}

std::vector<std::string> supportedOnnxOperators() {
    return Importer::supported();
}

} // namespace kpu::ir
