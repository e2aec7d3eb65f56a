#include <cmath>
#include <limits>

#include "kpu/common/shape.h"
#include "reference_ops.h"

namespace kpu::loader::reference {

Params readParams(const dfx::KernelParams* params) {
    Params p;
    if (!params)
        return p;
    p.axis = params->axis();
    if (const auto* perm = params->perm()) {
        p.hasPerm = true;
        p.perm.assign(perm->begin(), perm->end());
    }
    if (const auto* window = params->window()) {
        p.hasWindow = true;
        p.window.assign(window->begin(), window->end());
    }
    if (const auto* padding = params->padding()) {
        p.hasPadding = true;
        p.padding.assign(padding->begin(), padding->end());
    }
    p.min = params->min();
    p.max = params->max();
    p.epsilon = params->epsilon();
    p.padValue = params->pad_value();
    p.transposeB = params->transpose_b();
    p.biasInput = params->bias_input();
    p.activation = params->activation();
    return p;
}

std::vector<std::int64_t> stridesOf(std::span<const std::int64_t> shape) {
    std::vector<std::int64_t> strides(shape.size(), 1);
    for (std::size_t d = shape.size(); d-- > 1;)
        strides[d - 1] = strides[d] * shape[d];
    return strides;
}

std::int64_t product(std::span<const std::int64_t> dims) {
    std::int64_t n = 1;
    for (std::int64_t d : dims)
        n *= d;
    return n;
}

Expected<std::vector<std::int64_t>> broadcastStrides(std::span<const std::int64_t> shape,
                                                     std::span<const std::int64_t> target) {
    if (shape.size() > target.size())
        return fail("shape {} has more dimensions than {}", formatShape(shape),
                    formatShape(target));
    std::vector<std::int64_t> strides(target.size(), 0);
    std::int64_t stride = 1;
    for (std::size_t i = 0; i < shape.size(); ++i) {
        const std::size_t d = shape.size() - 1 - i;
        const std::size_t t = target.size() - 1 - i;
        if (shape[d] != target[t] && shape[d] != 1)
            return fail("shape {} does not broadcast to {}", formatShape(shape),
                        formatShape(target));
        strides[t] = shape[d] == 1 ? 0 : stride;
        stride *= shape[d];
    }
    return strides;
}

Expected<std::size_t> normalizeAxis(std::int32_t axis, std::size_t rank) {
    const auto r = static_cast<std::int64_t>(rank);
    const std::int64_t a = axis < 0 ? axis + r : axis;
    if (a < 0 || a >= r)
        return fail("axis {} is out of range for rank {}", axis, rank);
    return static_cast<std::size_t>(a);
}

bool isVectorOf(std::span<const std::int64_t> shape, std::int64_t n) {
    if (shape.empty() || shape.back() != n)
        return false;
    for (std::size_t d = 0; d + 1 < shape.size(); ++d)
        if (shape[d] != 1)
            return false;
    return true;
}

Expected<void> expectInputs(Inputs in, std::size_t minCount, std::size_t maxCount) {
    if (in.size() < minCount || in.size() > maxCount) {
        if (minCount == maxCount)
            return fail("expects {} input{}, got {}", minCount, minCount == 1 ? "" : "s",
                        in.size());
        return fail("expects {} to {} inputs, got {}", minCount, maxCount, in.size());
    }
    return {};
}

Expected<void> expectShape(std::string_view what, std::span<const std::int64_t> actual,
                           std::span<const std::int64_t> expected) {
    if (actual.size() != expected.size() ||
        !std::equal(actual.begin(), actual.end(), expected.begin()))
        return fail("{} has shape {}, expected {}", what, formatShape(actual),
                    formatShape(expected));
    return {};
}

double sigmoid(double x) {
    return 1.0 / (1.0 + std::exp(-x));
}

double gelu(double x) {
    return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
}

Expected<void> checkActivation(dfx::Activation activation) {
    switch (activation) {
    case dfx::Activation::None:
    case dfx::Activation::Relu:
    case dfx::Activation::Clamp:
    case dfx::Activation::Sigmoid:
    case dfx::Activation::Gelu:
    case dfx::Activation::Tanh:
        return {};
    }
    return fail("unknown activation {}", static_cast<int>(activation));
}

double activate(dfx::Activation activation, double x, const Params& p) {
    switch (activation) {
    case dfx::Activation::None:
        return x;
    case dfx::Activation::Relu:
        return std::max(x, 0.0);
    case dfx::Activation::Clamp:
        return std::min(std::max(x, p.min), p.max);
    case dfx::Activation::Sigmoid:
        return sigmoid(x);
    case dfx::Activation::Gelu:
        return gelu(x);
    case dfx::Activation::Tanh:
        return std::tanh(x);
    }
    return x; // unreachable: checkActivation ran first
}

Expected<Window> readWindow(const Params& p, std::int64_t kernelH, std::int64_t kernelW) {
    Window w;
    if (!p.hasWindow) {
        if (kernelH <= 0)
            return fail("params.window is missing");
        w.kh = kernelH;
        w.kw = kernelW;
        return w;
    }
    if (p.window.size() != 10)
        return fail("params.window has {} entries, expected 10 (kh, kw, stride_h, stride_w, "
                    "dilation_h, dilation_w, pad_top, pad_bottom, pad_left, pad_right)",
                    p.window.size());
    // Bounded so that products such as dilation * (kernel - 1) cannot overflow.
    for (std::size_t i = 0; i < 10; ++i)
        if (p.window[i] > std::numeric_limits<std::int32_t>::max())
            return fail("params.window[{}] = {} is too large", i, p.window[i]);
    w = Window{p.window[0], p.window[1], p.window[2], p.window[3], p.window[4],
               p.window[5], p.window[6], p.window[7], p.window[8], p.window[9]};
    if (kernelH > 0) {
        if ((w.kh != 0 && w.kh != kernelH) || (w.kw != 0 && w.kw != kernelW))
            return fail("params.window kernel {}x{} differs from the weights' {}x{}", w.kh, w.kw,
                        kernelH, kernelW);
        w.kh = kernelH;
        w.kw = kernelW;
    }
    if (w.kh < 1 || w.kw < 1)
        return fail("window kernel {}x{} is empty", w.kh, w.kw);
    if (w.sh < 1 || w.sw < 1)
        return fail("window stride {}x{} must be at least 1", w.sh, w.sw);
    if (w.dh < 1 || w.dw < 1)
        return fail("window dilation {}x{} must be at least 1", w.dh, w.dw);
    return w;
}

Expected<std::int64_t> windowExtent(std::string_view dim, std::int64_t in, std::int64_t kernel,
                                    std::int64_t stride, std::int64_t dilation, std::int64_t before,
                                    std::int64_t after) {
    const std::int64_t span = dilation * (kernel - 1) + 1;
    const std::int64_t padded = in + before + after;
    if (padded < span)
        return fail("window of extent {} does not fit the padded {} {}", span, dim, padded);
    return (padded - span) / stride + 1;
}

} // namespace kpu::loader::reference
