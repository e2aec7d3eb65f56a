#include "kernel_plan.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "kpu/compiler/op_params.h"

namespace kpu::compiler {
namespace {

using Semantics = std::optional<ir::OpSemantics>;

bool isActivation(Operator op) {
    return op == Operator::Relu || op == Operator::Clamp || op == Operator::Sigmoid ||
           op == Operator::Gelu || op == Operator::Tanh;
}

Activation activationOf(Operator op) {
    switch (op) {
    case Operator::Relu:
        return Activation::Relu;
    case Operator::Clamp:
        return Activation::Clamp;
    case Operator::Sigmoid:
        return Activation::Sigmoid;
    case Operator::Gelu:
        return Activation::Gelu;
    case Operator::Tanh:
        return Activation::Tanh;
    default:
        return Activation::None;
    }
}

class Planner {
public:
    Planner(const ir::Graph& graph, const PlanOptions& options)
        : graph_(graph), options_(options) {}

    Expected<KernelPlan> run() {
        semantics_.reserve(graph_.ops.size());
        for (const ir::Operation& op : graph_.ops) {
            auto s = ir::operatorSemantics(graph_, op, options_.sourceFile);
            if (!s)
                return std::unexpected(s.error());
            semantics_.push_back(*s);
        }
        for (std::size_t i = 0; i < graph_.ops.size(); ++i)
            for (ir::ValueId v : graph_.ops[i].operands)
                if (v != ir::kNoValue)
                    consumers_[v].push_back(static_cast<std::int32_t>(i));
        fused_.assign(graph_.ops.size(), false);

        for (std::size_t i = 0; i < graph_.ops.size(); ++i) {
            if (!semantics_[i] || fused_[i])
                continue;
            if (auto r = planOp(static_cast<std::int32_t>(i)); !r)
                return std::unexpected(r.error());
        }
        for (ir::ValueId id : graph_.outputs)
            plan_.graphOutputs.push_back(tensorFor(id));
        for (ir::ValueId id : graph_.inputs)
            if (auto it = tensors_.find(id); it != tensors_.end())
                plan_.graphInputs.push_back(it->second);
        return std::move(plan_);
    }

private:
    const ir::Operation& opAt(std::int32_t i) const {
        return graph_.ops[static_cast<std::size_t>(i)];
    }

    bool isGraphOutput(ir::ValueId id) const {
        return std::ranges::find(graph_.outputs, id) != graph_.outputs.end();
    }

    dfx::TensorRole roleOf(ir::ValueId id) const {
        if (isGraphOutput(id))
            return dfx::TensorRole::Output;
        if (std::ranges::find(graph_.constants, id) != graph_.constants.end())
            return dfx::TensorRole::Constant;
        if (std::ranges::find(graph_.inputs, id) != graph_.inputs.end())
            return dfx::TensorRole::Input;
        return dfx::TensorRole::Intermediate;
    }

    // The tensor of a graph value, created on first use.
    std::uint32_t tensorFor(ir::ValueId id) {
        if (auto it = tensors_.find(id); it != tensors_.end())
            return it->second;
        const ir::Value& value = graph_.value(id);
        PlannedTensor t{.name = value.name,
                        .shape = value.type.shape,
                        .dtype = value.type.dtype,
                        .role = roleOf(id),
                        .sourceNode = value.producer >= 0 ? opAt(value.producer).nodeId : -1,
                        .aliasOf = -1,
                        .data = value.data.empty() ? nullptr : &value.data};
        plan_.tensors.push_back(std::move(t));
        const auto index = static_cast<std::uint32_t>(plan_.tensors.size() - 1);
        tensors_.emplace(id, index);
        return index;
    }

    // A view of `target`'s storage with another shape (same element count and type).
    std::uint32_t aliasTensor(std::uint32_t target, std::string name, Shape shape) {
        const std::uint32_t root = plan_.rootOf(target);
        PlannedTensor t{.name = std::move(name),
                        .shape = std::move(shape),
                        .dtype = plan_.tensors[root].dtype,
                        .role = dfx::TensorRole::Intermediate,
                        .sourceNode = plan_.tensors[target].sourceNode,
                        .aliasOf = static_cast<std::int32_t>(root)};
        plan_.tensors.push_back(std::move(t));
        return static_cast<std::uint32_t>(plan_.tensors.size() - 1);
    }

    std::uint32_t newIntermediate(std::string name, Shape shape, DType dtype,
                                  std::int64_t sourceNode) {
        plan_.tensors.push_back(PlannedTensor{.name = std::move(name),
                                              .shape = std::move(shape),
                                              .dtype = dtype,
                                              .role = dfx::TensorRole::Intermediate,
                                              .sourceNode = sourceNode,
                                              .aliasOf = -1});
        return static_cast<std::uint32_t>(plan_.tensors.size() - 1);
    }

    // A name for a tensor the compiler introduces, distinct from every value's name.
    std::string uniqueTensorName(const std::string& base) {
        std::string name = base;
        for (int n = 2; takenNames_.contains(name) || graphHasValueNamed(name); ++n)
            name = fmt::format("{}.{}", base, n);
        takenNames_.insert(name);
        return name;
    }

    bool graphHasValueNamed(const std::string& name) {
        if (valueNames_.empty())
            for (const ir::Value& v : graph_.values)
                valueNames_.insert(v.name);
        return valueNames_.contains(name);
    }

    void addGraphNode(std::int32_t i) {
        const ir::Operation& op = opAt(i);
        PlannedNode node{.op = semantics_[static_cast<std::size_t>(i)]->op,
                         .params = semantics_[static_cast<std::size_t>(i)]->params,
                         .name = op.name,
                         .nodeId = op.nodeId,
                         .inputs = {},
                         .output = 0};
        for (ir::ValueId v : op.operands)
            node.inputs.push_back(tensorFor(v));
        node.output = tensorFor(op.results[0]);
        plan_.graph.push_back(std::move(node));
    }

    PlannedKernel kernelFor(std::int32_t i, Operator kind, const OpParams& params,
                            std::string suffix = "") const {
        const ir::Operation& op = opAt(i);
        return PlannedKernel{.op = kind,
                             .params = params,
                             .inputs = {},
                             .output = 0,
                             .inputBatched = {},
                             .name = fmt::format("{}#{}{}", op.name, op.nodeId, suffix),
                             .nodeName = op.name,
                             .opName = op.opName,
                             .nodeId = op.nodeId,
                             .line = op.line};
    }

    Expected<void> planOp(std::int32_t i) {
        const ir::Operation& op = opAt(i);
        const ir::OpSemantics& s = *semantics_[static_cast<std::size_t>(i)];
        addGraphNode(i);
        switch (s.op) {
        case Operator::MatMul:
        case Operator::FullyConnected:
        case Operator::Conv2D:
            return planGemm(i, s);
        case Operator::Reshape: {
            const std::uint32_t in = tensorFor(op.operands[0]);
            const std::uint32_t out = tensorFor(op.results[0]);
            if (plan_.tensors[in].dtype != plan_.tensors[out].dtype)
                return fail("{}:{}:1: error: node {} '{}' (RESHAPE): changes the element type "
                            "from {} to {}",
                            options_.sourceFile, op.line, op.nodeId, op.name,
                            dtypeName(plan_.tensors[in].dtype),
                            dtypeName(plan_.tensors[out].dtype));
            plan_.tensors[out].aliasOf = static_cast<std::int32_t>(plan_.rootOf(in));
            return {};
        }
        default: {
            PlannedKernel k = kernelFor(i, s.op, s.params);
            if (s.op == Operator::DepthwiseConv2D) { // window size from the weights [KH,KW,C,M]
                const Shape& w = graph_.value(op.operands[1]).type.shape;
                k.params.kernelH = static_cast<std::uint32_t>(w[0]);
                k.params.kernelW = static_cast<std::uint32_t>(w[1]);
            }
            for (ir::ValueId v : op.operands)
                k.inputs.push_back(tensorFor(v));
            k.output = tensorFor(op.results[0]);
            plan_.kernels.push_back(std::move(k));
            return {};
        }
        }
    }

    // The single computing consumer of `value`, when fusion may absorb it.
    std::optional<std::int32_t> soleConsumer(ir::ValueId value) const {
        if (isGraphOutput(value))
            return std::nullopt;
        const auto it = consumers_.find(value);
        if (it == consumers_.end() || it->second.size() != 1)
            return std::nullopt;
        const std::int32_t c = it->second.front();
        if (!semantics_[static_cast<std::size_t>(c)] || fused_[static_cast<std::size_t>(c)])
            return std::nullopt;
        return c;
    }

    // ADD(value, bias) where bias is a vector along the last dimension, available before the
    // GEMM runs: the bias operand.
    std::optional<ir::ValueId> biasOperand(std::int32_t add, ir::ValueId value, std::int32_t gemm,
                                           std::int64_t n) const {
        const ir::Operation& op = opAt(add);
        if (semantics_[static_cast<std::size_t>(add)]->op != Operator::Add ||
            op.operands.size() != 2)
            return std::nullopt;
        const ir::ValueId other = op.operands[0] == value ? op.operands[1] : op.operands[0];
        if (other == value || other == ir::kNoValue ||
            graph_.value(op.results[0]).type.shape != graph_.value(value).type.shape)
            return std::nullopt;
        const ir::Value& bias = graph_.value(other);
        const Shape& shape = bias.type.shape;
        if (shape.empty() || shape.back() != n ||
            !std::all_of(shape.begin(), shape.end() - 1, [](std::int64_t d) { return d == 1; }))
            return std::nullopt;
        if (bias.producer >= gemm) // computed after the GEMM: not available to its epilogue
            return std::nullopt;
        return other;
    }

    static std::vector<std::uint8_t> batchedFlags(const std::vector<const Shape*>& operands,
                                                  const Shape& out) {
        const Shape batch(out.begin(), out.end() - 2);
        const bool outHasBatch = std::ranges::any_of(batch, [](std::int64_t d) { return d != 1; });
        std::vector<std::uint8_t> flags;
        for (const Shape* s : operands) {
            const Shape lead(s->begin(), s->end() - std::min<std::ptrdiff_t>(2, std::ssize(*s)));
            flags.push_back(outHasBatch && lead == batch ? 1 : 0);
        }
        return flags;
    }

    Expected<void> planGemm(std::int32_t i, const ir::OpSemantics& s) {
        const ir::Operation& op = opAt(i);
        std::vector<std::uint32_t> operands;
        for (ir::ValueId v : op.operands)
            operands.push_back(tensorFor(v));
        ir::ValueId result = op.results[0];
        const std::int64_t n = graph_.value(result).type.shape.back();

        OpParams params;
        std::optional<std::uint32_t> bias;
        if (s.op != Operator::MatMul && operands.size() == 3)
            bias = operands[2];
        if (s.op == Operator::MatMul) { // FUSED_MATMUL_BIAS_ACT carries its own epilogue
            params.activation = s.params.activation;
            params.min = s.params.min;
            params.max = s.params.max;
            if (s.params.biasInput >= 0 &&
                static_cast<std::size_t>(s.params.biasInput) < operands.size()) {
                bias = operands[static_cast<std::size_t>(s.params.biasInput)];
                operands.erase(operands.begin() + s.params.biasInput);
            }
        }

        // Fusion: a following bias add (when the GEMM has none) and activation.
        if (options_.fuse) {
            // Only when the GEMM has neither a bias nor an activation yet: act(x) + b is not
            // act(x + b).
            if (auto c = soleConsumer(result);
                c && !bias && params.activation == Activation::None) {
                if (auto b = biasOperand(*c, result, i, n)) {
                    fused_[static_cast<std::size_t>(*c)] = true;
                    addGraphNode(*c);
                    bias = tensorFor(*b);
                    result = opAt(*c).results[0];
                    ++plan_.fusedOps;
                }
            }
            if (auto c = soleConsumer(result);
                c && params.activation == Activation::None &&
                isActivation(semantics_[static_cast<std::size_t>(*c)]->op)) {
                const ir::OpSemantics& act = *semantics_[static_cast<std::size_t>(*c)];
                fused_[static_cast<std::size_t>(*c)] = true;
                addGraphNode(*c);
                params.activation = activationOf(act.op);
                params.min = act.params.min;
                params.max = act.params.max;
                result = opAt(*c).results[0];
                ++plan_.fusedOps;
            }
        }
        const std::uint32_t out = tensorFor(result);

        PlannedKernel k = kernelFor(i, Operator::MatMul, params);
        if (s.op == Operator::MatMul) {
            k.inputs = operands;
            k.output = out;
        } else if (s.op == Operator::FullyConnected) {
            k.inputs = {operands[0], operands[1]};
            k.params.transposeB = true;
            k.output = out;
        } else {
            planConvolution(i, s, operands, out, k);
        }
        if (bias) {
            k.params.biasInput = static_cast<std::int8_t>(k.inputs.size());
            k.inputs.push_back(*bias);
        }
        std::vector<const Shape*> shapes;
        for (std::uint32_t t : k.inputs)
            shapes.push_back(&plan_.tensors[t].shape);
        k.inputBatched = batchedFlags(shapes, plan_.tensors[k.output].shape);
        if (bias)
            k.inputBatched.back() = 0;
        if (k.params.transposeB)
            k.inputBatched[1] = 0;
        plan_.kernels.push_back(std::move(k));
        return {};
    }

    // CONV2D as a GEMM: patches [N*OH*OW, KH*KW*C] x weights [O, KH*KW*C]^T. A 1x1 convolution
    // with unit stride and no padding needs no IM2COL: the NHWC activation is the matrix.
    void planConvolution(std::int32_t i, const ir::OpSemantics& s,
                         const std::vector<std::uint32_t>& operands, std::uint32_t out,
                         PlannedKernel& gemm) {
        // Copies: plan_.tensors grows below.
        const Shape x = plan_.tensors[operands[0]].shape;
        const Shape w = plan_.tensors[operands[1]].shape;
        const Shape y = plan_.tensors[out].shape;
        const DType xType = plan_.tensors[operands[0]].dtype;
        const std::string xName = plan_.tensors[operands[0]].name;
        const std::string wName = plan_.tensors[operands[1]].name;
        const std::string yName = plan_.tensors[out].name;
        const std::int64_t N = x[0], H = x[1], W = x[2], C = x[3];
        const std::int64_t O = w[0], KH = w[1], KW = w[2];
        const std::int64_t OH = y[1], OW = y[2];
        const OpParams& p = s.params;
        const bool pointwise = KH == 1 && KW == 1 && p.strideH == 1 && p.strideW == 1 &&
                               p.padTop == 0 && p.padBottom == 0 && p.padLeft == 0 &&
                               p.padRight == 0;
        std::uint32_t patches = 0;
        if (pointwise) {
            patches =
                aliasTensor(operands[0], uniqueTensorName(xName + ".matrix"), Shape{N * H * W, C});
        } else {
            patches = newIntermediate(uniqueTensorName(opAt(i).name + ".patches"),
                                      Shape{N * OH * OW, KH * KW * C}, xType, opAt(i).nodeId);
            OpParams window = p;
            window.kernelH = static_cast<std::uint32_t>(KH);
            window.kernelW = static_cast<std::uint32_t>(KW);
            PlannedKernel im2col = kernelFor(i, Operator::Im2Col, window, ".im2col");
            im2col.inputs = {operands[0]};
            im2col.output = patches;
            plan_.kernels.push_back(std::move(im2col));
        }
        const std::uint32_t weights =
            aliasTensor(operands[1], uniqueTensorName(wName + ".matrix"), Shape{O, KH * KW * C});
        const std::uint32_t result =
            aliasTensor(out, uniqueTensorName(yName + ".matrix"), Shape{N * OH * OW, O});
        gemm.inputs = {patches, weights};
        gemm.params.transposeB = true;
        gemm.output = result;
    }

    const ir::Graph& graph_;
    const PlanOptions& options_;
    KernelPlan plan_;
    std::vector<Semantics> semantics_;
    std::map<ir::ValueId, std::vector<std::int32_t>> consumers_;
    std::vector<bool> fused_;
    std::map<ir::ValueId, std::uint32_t> tensors_;
    std::set<std::string> takenNames_, valueNames_;
};

} // namespace

Expected<KernelPlan> planKernels(const ir::Graph& graph, const PlanOptions& options) {
    return Planner(graph, options).run();
}

} // namespace kpu::compiler
