#include "kpu/compiler/graph.h"

#include <array>
#include <utility>

#include <fmt/format.h>

namespace kpu::ir {
namespace {

constexpr std::array<std::pair<OpKind, std::string_view>, 46> kOpNames{{
    {OpKind::FunctionArgument, "FUNCTION_ARGUMENT"},
    {OpKind::Function, "FUNCTION"},
    {OpKind::FunctionReturn, "FUNCTION_RETURN"},
    {OpKind::FunctionResult, "FUNCTION_RESULT"},
    {OpKind::Constant, "CONSTANT"},
    {OpKind::MatMul, "MATMUL"},
    {OpKind::Linear, "LINEAR"},
    {OpKind::FC, "FC"},
    {OpKind::Conv2D, "CONV2D"},
    {OpKind::Conv3D, "CONV3D"},
    {OpKind::DepthwiseConv2D, "DEPTHWISE_CONV2D"},
    {OpKind::TransposeConv2D, "TRANSPOSE_CONV2D"},
    {OpKind::Add, "ADD"},
    {OpKind::Sub, "SUB"},
    {OpKind::Mul, "MUL"},
    {OpKind::Div, "DIV"},
    {OpKind::Exp, "EXP"},
    {OpKind::Reciprocal, "RECIPROCAL"},
    {OpKind::Sigmoid, "SIGMOID"},
    {OpKind::Relu, "RELU"},
    {OpKind::Clamp, "CLAMP"},
    {OpKind::Gelu, "GELU"},
    {OpKind::Tanh, "TANH"},
    {OpKind::Abs, "ABS"},
    {OpKind::Negate, "NEGATE"},
    {OpKind::Cast, "CAST"},
    {OpKind::Reshape, "RESHAPE"},
    {OpKind::Transpose, "TRANSPOSE"},
    {OpKind::Concat, "CONCAT"},
    {OpKind::Pad, "PAD"},
    {OpKind::Gather, "GATHER"},
    {OpKind::ReduceSum, "REDUCE_SUM"},
    {OpKind::ReduceMax, "REDUCE_MAX"},
    {OpKind::ReduceMin, "REDUCE_MIN"},
    {OpKind::ReduceProd, "REDUCE_PROD"},
    {OpKind::Softmax, "SOFTMAX"},
    {OpKind::LayerNorm, "LAYERNORM"},
    {OpKind::MaxPool2D, "MAXPOOL2D"},
    {OpKind::AvgPool2D, "AVGPOOL2D"},
    {OpKind::FusedMatMulBiasAct, "FUSED_MATMUL_BIAS_ACT"},
    {OpKind::Sqrt, "SQRT"},
    {OpKind::Log, "LOG"},
    {OpKind::Erf, "ERF"},
    {OpKind::Maximum, "MAXIMUM"},
    {OpKind::Minimum, "MINIMUM"},
    {OpKind::Unknown, "UNKNOWN"},
}};

} // namespace

OpKind opKindFromName(std::string_view spelling) {
    for (const auto& [kind, name] : kOpNames)
        if (name == spelling)
            return kind;
    return OpKind::Unknown;
}

std::string_view opKindName(OpKind kind) {
    for (const auto& [k, name] : kOpNames)
        if (k == kind)
            return name;
    return "UNKNOWN";
}

std::string dumpGraph(const Graph& graph) {
    std::string out = fmt::format("graph '{}' ({} ops, {} values)\n", graph.name, graph.ops.size(),
                                  graph.values.size());
    auto valueText = [&](ValueId id) {
        if (id == kNoValue)
            return std::string("<unconnected>");
        const Value& v = graph.value(id);
        // A name made unique shows what the file called it.
        const std::string renamed = v.sourceName.empty() || v.sourceName == v.name
                                        ? std::string()
                                        : fmt::format("(was '{}')", v.sourceName);
        return fmt::format("%{}{}:{}x{}", v.name, renamed, formatShape(v.type.shape),
                           dtypeName(v.type.dtype));
    };
    for (const Operation& op : graph.ops) {
        std::string operands, results;
        for (ValueId id : op.operands)
            operands += (operands.empty() ? "" : ", ") + valueText(id);
        for (ValueId id : op.results)
            results += (results.empty() ? "" : ", ") + valueText(id);
        out += fmt::format("  node {:>4} {:<18} '{}'  ({}) -> ({})\n", op.nodeId, op.opName,
                           op.name, operands, results);
    }
    auto list = [&](std::string_view title, const std::vector<ValueId>& ids) {
        std::string names;
        for (ValueId id : ids)
            names += (names.empty() ? "" : ", ") + graph.value(id).name;
        return fmt::format("  {}: {}\n", title, names);
    };
    out += list("inputs", graph.inputs);
    out += list("constants", graph.constants);
    out += list("outputs", graph.outputs);
    return out;
}

} // namespace kpu::ir
