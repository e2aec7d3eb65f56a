// The operators a KPU program computes, and their parameters. The numeric values of Operator
// and Activation are those of the object format's KernelKind and Activation enums
// (schema/dfx.fbs) and must never be renumbered. docs/operators.md defines every operator.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace kpu {

enum class Operator : std::uint16_t {
    MatMul = 0, // out = act(A·B (+C) + bias); B may be stored transposed ([N, K])
    // Elementwise, numpy broadcasting of every input to the output shape.
    Add = 1,
    Sub = 2,
    Mul = 3,
    Div = 4,
    Exp = 5,
    Reciprocal = 6,
    Sigmoid = 7,
    Relu = 8,
    Clamp = 9, // min(max(x, min), max)
    Gelu = 10, // x * Phi(x), the exact (erf) form
    Tanh = 11,
    Negate = 12,
    Abs = 13,
    // Data layout.
    Transpose = 14, // out[i_perm[0], ...] ; perm as in numpy.transpose
    Concat = 15,    // along axis
    Pad = 16,       // constant padding, before/after per dimension
    // Reductions along one axis; the reduced dimension is kept with extent 1 (TOSA).
    ReduceSum = 17,
    ReduceMax = 18,
    ReduceMin = 19,
    Softmax = 20,   // along axis
    LayerNorm = 21, // over dims [axis, rank); inputs x, optional gamma, optional beta
    // Windows over NHWC activations.
    MaxPool2D = 22,
    AvgPool2D = 23,       // divides by the number of non-padding elements in the window (TOSA)
    DepthwiseConv2D = 24, // weights [KH, KW, C, M], bias [C*M]
    Im2Col = 25,          // NHWC input -> patch matrix [N*OH*OW, KH*KW*C] (conv lowering)
    // Graph-level operators that the compiler lowers to the kernels above.
    Conv2D = 26,         // NHWC input, OHWI weights, bias [O] -> Im2Col + MatMul
    FullyConnected = 27, // x [.., K], W [N, K], bias [N] (TOSA FC, LINEAR) -> MatMul
    Reshape = 28,        // same elements, new shape -> a storage alias, no kernel
    // Elementwise (format 4.0).
    Sqrt = 29,
    Log = 30, // natural logarithm
    Erf = 31,
    Maximum = 32, // max(a, b), broadcast as Add
    Minimum = 33,
};

inline constexpr int kOperatorCount = 34;

enum class Activation : std::uint8_t {
    None = 0,
    Relu = 1,
    Clamp = 2,
    Sigmoid = 3,
    Gelu = 4,
    Tanh = 5
};

// Every operator's parameters in one plain record; each operator reads the fields
// docs/operators.md lists for it and ignores the rest.
struct OpParams {
    std::int32_t axis = -1; // reductions, softmax, layernorm, concat (may be < 0: from the end)
    std::array<std::uint8_t, 8> perm{};     // transpose: output dim d comes from input dim perm[d]
    std::uint32_t kernelH = 1, kernelW = 1; // pools, depthwise, im2col
    std::uint32_t strideH = 1, strideW = 1; // conv-like
    std::uint32_t dilationH = 1, dilationW = 1;
    std::uint32_t padTop = 0, padBottom = 0, padLeft = 0, padRight = 0;
    std::array<std::uint32_t, 16> padding{};  // Pad: before/after for each dimension
    double min = 0, max = 0;                  // clamp, and the clamp activation
    double epsilon = 1e-5;                    // layernorm
    double padValue = 0;                      // Pad
    bool transposeB = false;                  // MatMul: B stored as [N, K]
    std::int8_t biasInput = -1;               // MatMul: position in the inputs of a bias along N
    Activation activation = Activation::None; // MatMul epilogue
};

// Upper-case spelling used in .dfg files ("MATMUL", "DEPTHWISE_CONV2D", ...).
std::string_view operatorName(Operator op);
std::string_view activationName(Activation a); // "none", "relu", ...

constexpr bool isUnary(Operator op) {
    return (op >= Operator::Exp && op <= Operator::Abs) ||
           (op >= Operator::Sqrt && op <= Operator::Erf);
}
constexpr bool isBinaryElementwise(Operator op) {
    return (op >= Operator::Add && op <= Operator::Div) || op == Operator::Maximum ||
           op == Operator::Minimum;
}
constexpr bool isElementwise(Operator op) {
    return isUnary(op) || isBinaryElementwise(op);
}
// An operator a kernel can run: a known value that is not one of the graph-level operators the
// compiler lowers away (Conv2D, FullyConnected, Reshape).
constexpr bool isKernelOperator(Operator op) {
    return static_cast<int>(op) < kOperatorCount && op != Operator::Conv2D &&
           op != Operator::FullyConnected && op != Operator::Reshape;
}
constexpr bool isReduction(Operator op) {
    return op == Operator::ReduceSum || op == Operator::ReduceMax || op == Operator::ReduceMin;
}

} // namespace kpu
