// Internal interface of the reference executor: one function per operator family, each taking
// whole tensors as doubles and returning the output's values in double (before the rounding to
// the output's storage type, which the driver does). Every function validates the shapes and
// parameters it indexes with before looping; its error message is the "<what>" part of the
// driver's "graph node <i> '<name>' (<KIND>): <what>".
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kpu/common/error.h"
#include "kpu/common/shape.h"
#include "kpu/schema/dfx_generated.h"

namespace kpu::loader::reference {

// A node's input: the declared shape and the values (row-major, elementCount(shape) of them).
struct Operand {
    Shape shape;
    std::span<const double> values;
};

// GraphNode.params with the schema's defaults applied (an absent table reads as all defaults).
struct Params {
    std::int32_t axis = -1;
    bool hasPerm = false;
    std::vector<std::int64_t> perm;
    bool hasWindow = false;
    std::vector<std::int64_t> window;
    bool hasPadding = false;
    std::vector<std::int64_t> padding;
    double min = 0, max = 0;
    double epsilon = 1e-5;
    double padValue = 0;
    bool transposeB = false;
    std::int32_t biasInput = -1;
    dfx::Activation activation = dfx::Activation::None;
};

Params readParams(const dfx::KernelParams* params);

using Values = Expected<std::vector<double>>;
using Inputs = std::span<const Operand>;
using OutShape = std::span<const std::int64_t>;

// linear.cpp
Values matMul(Inputs in, OutShape out, const Params& p);
Values fullyConnected(Inputs in, OutShape out, const Params& p);
Values conv2D(Inputs in, OutShape out, const Params& p);
Values depthwiseConv2D(Inputs in, OutShape out, const Params& p);
Values im2Col(Inputs in, OutShape out, const Params& p);

// elementwise.cpp
Values binary(dfx::KernelKind kind, Inputs in, OutShape out);
Values unary(dfx::KernelKind kind, Inputs in, OutShape out, const Params& p);

// layout.cpp
Values transpose(Inputs in, OutShape out, const Params& p);
Values concat(Inputs in, OutShape out, const Params& p);
Values pad(Inputs in, OutShape out, const Params& p);
Values reshape(Inputs in, OutShape out);

// normalize.cpp
Values reduce(dfx::KernelKind kind, Inputs in, OutShape out, const Params& p);
Values softmax(Inputs in, OutShape out, const Params& p);
Values layerNorm(Inputs in, OutShape out, const Params& p);
Values pool2D(dfx::KernelKind kind, Inputs in, OutShape out, const Params& p);

// Shared helpers (common.cpp).

// Row-major strides of `shape`, in elements.
std::vector<std::int64_t> stridesOf(std::span<const std::int64_t> shape);
std::int64_t product(std::span<const std::int64_t> dims);
// Strides (in elements of `shape`) that walk `shape` as if numpy-broadcast to `target`: one per
// target dimension, 0 where `shape` is missing that dimension or has extent 1 there. Fails when
// `shape` does not broadcast to `target`.
Expected<std::vector<std::int64_t>> broadcastStrides(std::span<const std::int64_t> shape,
                                                     std::span<const std::int64_t> target);
// Normalises an axis of a rank-`rank` tensor (negative counts from the end).
Expected<std::size_t> normalizeAxis(std::int32_t axis, std::size_t rank);
// A bias of `n` elements: rank >= 1, every dimension 1 except the last, which is n.
bool isVectorOf(std::span<const std::int64_t> shape, std::int64_t n);
Expected<void> expectInputs(Inputs in, std::size_t minCount, std::size_t maxCount);
Expected<void> expectShape(std::string_view what, std::span<const std::int64_t> actual,
                           std::span<const std::int64_t> expected);
// Applies a fused activation (MatMul, FC and the convolutions apply params.activation after
// the bias).
double activate(dfx::Activation activation, double x, const Params& p);
Expected<void> checkActivation(dfx::Activation activation);
double gelu(double x);
double sigmoid(double x);

// A 2-D window over NHWC: [kh, kw, stride_h, stride_w, dilation_h, dilation_w, pad_top,
// pad_bottom, pad_left, pad_right].
struct Window {
    std::int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
    std::int64_t padTop = 0, padBottom = 0, padLeft = 0, padRight = 0;
};
// Reads params.window. For the convolutions `kernelH/W` come from the weights (> 0): the window
// may then be absent (stride 1, dilation 1, no padding), and its kh/kw must match (0 = unset).
// Pools and Im2Col pass 0 and need the window.
Expected<Window> readWindow(const Params& p, std::int64_t kernelH, std::int64_t kernelW);
// Output extent of a window along one dimension (floor division, as in the semantics doc).
Expected<std::int64_t> windowExtent(std::string_view dim, std::int64_t in, std::int64_t kernel,
                                    std::int64_t stride, std::int64_t dilation, std::int64_t before,
                                    std::int64_t after);

} // namespace kpu::loader::reference
