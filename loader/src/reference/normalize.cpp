// Reductions, Softmax, LayerNorm and the 2-D pools.
#include <cmath>

#include "kpu/common/shape.h"
#include "reference_ops.h"

namespace kpu::loader::reference {
namespace {

// A tensor seen as [outer, length, inner] around one axis.
struct AxisView {
    std::int64_t outer = 1, length = 1, inner = 1;
};

AxisView viewAround(std::span<const std::int64_t> shape, std::size_t axis) {
    return {product(shape.first(axis)), shape[axis], product(shape.subspan(axis + 1))};
}

} // namespace

Values reduce(dfx::KernelKind kind, Inputs in, OutShape out, const Params& p) {
    if (auto r = expectInputs(in, 1, 1); !r)
        return std::unexpected(r.error());
    const Operand& x = in[0];
    auto axis = normalizeAxis(p.axis, x.shape.size());
    if (!axis)
        return std::unexpected(axis.error());
    Shape expected = x.shape;
    expected[*axis] = 1; // the reduced dim is kept (TOSA)
    if (auto r = expectShape("output", out, expected); !r)
        return std::unexpected(r.error());

    const AxisView v = viewAround(x.shape, *axis);
    std::vector<double> result(static_cast<std::size_t>(v.outer * v.inner));
    for (std::int64_t o = 0; o < v.outer; ++o)
        for (std::int64_t i = 0; i < v.inner; ++i) {
            const double* s = x.values.data() + o * v.length * v.inner + i;
            double acc = s[0];
            for (std::int64_t k = 1; k < v.length; ++k) {
                const double e = s[k * v.inner];
                switch (kind) {
                case dfx::KernelKind::ReduceSum:
                    acc += e;
                    break;
                case dfx::KernelKind::ReduceMax:
                    acc = std::fmax(acc, e);
                    break;
                default:
                    acc = std::fmin(acc, e);
                    break;
                }
            }
            result[o * v.inner + i] = acc;
        }
    return result;
}

Values softmax(Inputs in, OutShape out, const Params& p) {
    if (auto r = expectInputs(in, 1, 1); !r)
        return std::unexpected(r.error());
    const Operand& x = in[0];
    if (auto r = expectShape("input", x.shape, out); !r)
        return std::unexpected(r.error());
    auto axis = normalizeAxis(p.axis, x.shape.size());
    if (!axis)
        return std::unexpected(axis.error());

    const AxisView v = viewAround(x.shape, *axis);
    std::vector<double> result(x.values.size());
    for (std::int64_t o = 0; o < v.outer; ++o)
        for (std::int64_t i = 0; i < v.inner; ++i) {
            const std::int64_t base = o * v.length * v.inner + i;
            double maxValue = -INFINITY;
            for (std::int64_t k = 0; k < v.length; ++k)
                maxValue = std::fmax(maxValue, x.values[base + k * v.inner]);
            double sum = 0;
            for (std::int64_t k = 0; k < v.length; ++k) {
                const double e = std::exp(x.values[base + k * v.inner] - maxValue);
                result[base + k * v.inner] = e;
                sum += e;
            }
            for (std::int64_t k = 0; k < v.length; ++k)
                result[base + k * v.inner] /= sum;
        }
    return result;
}

Values layerNorm(Inputs in, OutShape out, const Params& p) {
    if (auto r = expectInputs(in, 1, 3); !r)
        return std::unexpected(r.error());
    const Operand& x = in[0];
    if (auto r = expectShape("input", x.shape, out); !r)
        return std::unexpected(r.error());
    auto axis = normalizeAxis(p.axis, x.shape.size());
    if (!axis)
        return std::unexpected(axis.error());
    if (!(p.epsilon >= 0))
        return fail("params.epsilon {} is negative", p.epsilon);
    // gamma and beta have the normalised dims x.shape[axis:]; leading 1s are tolerated.
    const std::span<const std::int64_t> normShape = std::span(x.shape).subspan(*axis);
    const auto dropOnes = [](std::span<const std::int64_t> s) {
        while (!s.empty() && s.front() == 1)
            s = s.subspan(1);
        return s;
    };
    for (std::size_t i = 1; i < in.size(); ++i) {
        const auto a = dropOnes(in[i].shape), b = dropOnes(normShape);
        if (!std::equal(a.begin(), a.end(), b.begin(), b.end()))
            return fail("{} has shape {}, expected {}", i == 1 ? "gamma" : "beta",
                        formatShape(in[i].shape), formatShape(normShape));
    }
    const std::span<const double> gamma = in.size() > 1 ? in[1].values : std::span<const double>{};
    const std::span<const double> beta = in.size() > 2 ? in[2].values : std::span<const double>{};

    const std::int64_t inner = product(normShape);
    const std::int64_t outer = product(x.shape) / inner;
    std::vector<double> result(x.values.size());
    for (std::int64_t o = 0; o < outer; ++o) {
        const double* s = x.values.data() + o * inner;
        double mean = 0;
        for (std::int64_t i = 0; i < inner; ++i)
            mean += s[i];
        mean /= static_cast<double>(inner);
        double var = 0; // two passes: no cancellation
        for (std::int64_t i = 0; i < inner; ++i)
            var += (s[i] - mean) * (s[i] - mean);
        var /= static_cast<double>(inner);
        const double scale = 1.0 / std::sqrt(var + p.epsilon);
        for (std::int64_t i = 0; i < inner; ++i) {
            double y = (s[i] - mean) * scale;
            if (!gamma.empty())
                y *= gamma[i];
            if (!beta.empty())
                y += beta[i];
            result[o * inner + i] = y;
        }
    }
    return result;
}

Values pool2D(dfx::KernelKind kind, Inputs in, OutShape out, const Params& p) {
    if (auto r = expectInputs(in, 1, 1); !r)
        return std::unexpected(r.error());
    const Operand& x = in[0];
    if (x.shape.size() != 4)
        return fail("input has shape {}, expected NxHxWxC", formatShape(x.shape));
    const std::int64_t N = x.shape[0], H = x.shape[1], W = x.shape[2], C = x.shape[3];
    auto win = readWindow(p, 0, 0);
    if (!win)
        return std::unexpected(win.error());
    auto OH = windowExtent("height", H, win->kh, win->sh, win->dh, win->padTop, win->padBottom);
    if (!OH)
        return std::unexpected(OH.error());
    auto OW = windowExtent("width", W, win->kw, win->sw, win->dw, win->padLeft, win->padRight);
    if (!OW)
        return std::unexpected(OW.error());
    const Shape expected{N, *OH, *OW, C};
    if (auto r = expectShape("output", out, expected); !r)
        return std::unexpected(r.error());
    const bool isMax = kind == dfx::KernelKind::MaxPool2D;

    std::vector<double> result(static_cast<std::size_t>(N * *OH * *OW * C));
    std::vector<double> acc(static_cast<std::size_t>(C));
    for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t oh = 0; oh < *OH; ++oh)
            for (std::int64_t ow = 0; ow < *OW; ++ow) {
                // Only in-range elements count: padding is neither a candidate for the max nor
                // part of the average's divisor (TOSA).
                std::fill(acc.begin(), acc.end(), isMax ? -INFINITY : 0.0);
                std::int64_t count = 0;
                for (std::int64_t ky = 0; ky < win->kh; ++ky) {
                    const std::int64_t ih = oh * win->sh - win->padTop + ky * win->dh;
                    if (ih < 0 || ih >= H)
                        continue;
                    for (std::int64_t kx = 0; kx < win->kw; ++kx) {
                        const std::int64_t iw = ow * win->sw - win->padLeft + kx * win->dw;
                        if (iw < 0 || iw >= W)
                            continue;
                        ++count;
                        const double* s = x.values.data() + ((n * H + ih) * W + iw) * C;
                        for (std::int64_t c = 0; c < C; ++c)
                            acc[c] = isMax ? std::fmax(acc[c], s[c]) : acc[c] + s[c];
                    }
                }
                if (count == 0)
                    return fail("the window of output ({}, {}) lies entirely in the padding", oh,
                                ow);
                double* o = result.data() + ((n * *OH + oh) * *OW + ow) * C;
                for (std::int64_t c = 0; c < C; ++c)
                    o[c] = isMax ? acc[c] : acc[c] / static_cast<double>(count);
            }
    return result;
}

} // namespace kpu::loader::reference
