// The compiler's graph IR: operations in topological order over named, typed tensor values.
// Built from a .dfg file (graph_builder.h); later from other frontends.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kpu/common/dtype.h"
#include "kpu/common/error.h"
#include "kpu/common/shape.h"

namespace kpu::ir {

// Every operator the domain_flow library defines, plus our extensions (SOFTMAX, LAYERNORM,
// GELU, TANH, SQRT, LOG, ERF, MAXIMUM, MINIMUM; docs/operators.md). `Unknown` is an operator
// spelling we do not recognise; the reader keeps it so any file can be loaded.
enum class OpKind {
    FunctionArgument,
    Function,
    FunctionReturn,
    FunctionResult,
    Constant,
    MatMul,
    Linear,
    FC,
    Conv2D,
    Conv3D,
    DepthwiseConv2D,
    TransposeConv2D,
    Add,
    Sub,
    Mul,
    Div,
    Exp,
    Reciprocal,
    Sigmoid,
    Relu,
    Clamp,
    Gelu, // extension
    Tanh, // extension
    Abs,
    Negate,
    Cast,
    Reshape,
    Transpose,
    Concat,
    Pad,
    Gather,
    ReduceSum,
    ReduceMax,
    ReduceMin,
    ReduceProd,
    Softmax,   // extension
    LayerNorm, // extension
    MaxPool2D,
    AvgPool2D,
    FusedMatMulBiasAct,
    Sqrt,    // extension (format 4.0)
    Log,     // extension
    Erf,     // extension
    Maximum, // TOSA spelling
    Minimum, // TOSA spelling
    Unknown,
};

// "MATMUL" -> OpKind::MatMul; anything unrecognised -> OpKind::Unknown.
OpKind opKindFromName(std::string_view spelling);
std::string_view opKindName(OpKind kind); // canonical spelling, e.g. "MATMUL"

struct TensorType {
    Shape shape; // dynamic dims already resolved (to the batch size)
    DType dtype = DType::F32;
};

using ValueId = std::int32_t;
inline constexpr ValueId kNoValue = -1;

struct Value {
    std::string name;       // unique within the graph
    std::string sourceName; // as written in the file (may repeat across nodes)
    TensorType type;
    std::int32_t producer = -1; // index into Graph::ops; -1 for an implicit graph input
    std::int32_t producerSlot = 0;
    // Values of a constant known at compile time (ONNX initializers): dense row-major bytes of
    // type.dtype. Empty: supplied at load time (.npy or the seeded generator).
    std::vector<std::uint8_t> data;
};

// A source-graph input fixed to a value at compile time (kpu-kernel-compiler --const): the
// operators that read it (an ONNX Reshape's shape) were specialised for that value, so it is
// not an input of the program. The object records it so a loader can check a given value.
struct StaticInput {
    std::string name;
    std::uint32_t position = 0; // index among the source graph's inputs, static ones included
    DType dtype = DType::I64;
    Shape shape;
    std::vector<std::uint8_t> data;
};

struct Attribute {
    std::string key;
    std::string value;
};

struct Operation {
    OpKind kind = OpKind::Unknown;
    std::string opName;                   // operator spelling in the file
    std::int64_t nodeId = 0;              // id in the source file
    std::string name;                     // node name in the source file
    std::vector<ValueId> operands;        // by operand slot; kNoValue for an unconnected slot
    std::vector<TensorType> operandTypes; // as declared by the node (may differ from the value's)
    std::vector<ValueId> results;         // by result slot
    std::vector<Attribute> attributes;
    std::uint32_t line = 0; // source line of the NODE, for diagnostics
};

struct Graph {
    std::string name;
    std::string sourceFile;
    std::vector<Value> values;
    std::vector<Operation> ops; // topological order (producers before consumers)
    std::vector<ValueId>
        inputs; // values fed from outside: FUNCTION_ARGUMENT results, implicit inputs
    std::vector<ValueId>
        constants; // CONSTANT results (values come from .npy or a seeded generator)
    std::vector<ValueId>
        outputs; // values returned (FUNCTION_RETURN / return-marking UNKNOWN operands)
    std::vector<std::string> warnings;     // non-fatal findings, "file:line: warning: ..."
    std::vector<StaticInput> staticInputs; // by position

    const Value& value(ValueId id) const { return values.at(static_cast<std::size_t>(id)); }
};

// Text dump of the graph (one line per op, unique value names shown), stable for tests.
std::string dumpGraph(const Graph& graph);

} // namespace kpu::ir
