#include "kpu/common/operator.h"

namespace kpu {

std::string_view operatorName(Operator op) {
    switch (op) {
    case Operator::MatMul:
        return "MATMUL";
    case Operator::Add:
        return "ADD";
    case Operator::Sub:
        return "SUB";
    case Operator::Mul:
        return "MUL";
    case Operator::Div:
        return "DIV";
    case Operator::Exp:
        return "EXP";
    case Operator::Reciprocal:
        return "RECIPROCAL";
    case Operator::Sigmoid:
        return "SIGMOID";
    case Operator::Relu:
        return "RELU";
    case Operator::Clamp:
        return "CLAMP";
    case Operator::Gelu:
        return "GELU";
    case Operator::Tanh:
        return "TANH";
    case Operator::Negate:
        return "NEGATE";
    case Operator::Abs:
        return "ABS";
    case Operator::Transpose:
        return "TRANSPOSE";
    case Operator::Concat:
        return "CONCAT";
    case Operator::Pad:
        return "PAD";
    case Operator::ReduceSum:
        return "REDUCE_SUM";
    case Operator::ReduceMax:
        return "REDUCE_MAX";
    case Operator::ReduceMin:
        return "REDUCE_MIN";
    case Operator::Softmax:
        return "SOFTMAX";
    case Operator::LayerNorm:
        return "LAYERNORM";
    case Operator::MaxPool2D:
        return "MAXPOOL2D";
    case Operator::AvgPool2D:
        return "AVGPOOL2D";
    case Operator::DepthwiseConv2D:
        return "DEPTHWISE_CONV2D";
    case Operator::Im2Col:
        return "IM2COL";
    case Operator::Conv2D:
        return "CONV2D";
    case Operator::FullyConnected:
        return "FC";
    case Operator::Reshape:
        return "RESHAPE";
    case Operator::Sqrt:
        return "SQRT";
    case Operator::Log:
        return "LOG";
    case Operator::Erf:
        return "ERF";
    case Operator::Maximum:
        return "MAXIMUM";
    case Operator::Minimum:
        return "MINIMUM";
    }
    return "?";
}

std::string_view activationName(Activation a) {
    switch (a) {
    case Activation::None:
        return "none";
    case Activation::Relu:
        return "relu";
    case Activation::Clamp:
        return "clamp";
    case Activation::Sigmoid:
        return "sigmoid";
    case Activation::Gelu:
        return "gelu";
    case Activation::Tanh:
        return "tanh";
    }
    return "?";
}

} // namespace kpu
