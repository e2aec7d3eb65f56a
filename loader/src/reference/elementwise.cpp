// Elementwise operators: binary ones with numpy broadcasting, unary ones shape-preserving.
#include <cmath>

#include "kpu/common/shape.h"
#include "reference_ops.h"

namespace kpu::loader::reference {
namespace {

template <class F>
std::vector<double> broadcastBinary(const Operand& a, const Operand& b, OutShape out,
                                    std::span<const std::int64_t> sa,
                                    std::span<const std::int64_t> sb, F f) {
    const std::int64_t total = product(out);
    std::vector<double> result(static_cast<std::size_t>(total));
    if (out.empty()) { // scalars
        result[0] = f(a.values[0], b.values[0]);
        return result;
    }
    // Rows along the last output dim; an odometer over the others keeps both operand offsets.
    const std::size_t last = out.size() - 1;
    const std::int64_t inner = out[last];
    std::vector<std::int64_t> index(out.size(), 0);
    std::int64_t ia = 0, ib = 0;
    for (std::int64_t o = 0; o < total; o += inner) {
        for (std::int64_t j = 0; j < inner; ++j)
            result[o + j] = f(a.values[ia + j * sa[last]], b.values[ib + j * sb[last]]);
        for (std::size_t d = last; d-- > 0;) {
            ++index[d];
            ia += sa[d];
            ib += sb[d];
            if (index[d] < out[d])
                break;
            ia -= sa[d] * out[d];
            ib -= sb[d] * out[d];
            index[d] = 0;
        }
    }
    return result;
}

template <class F>
std::vector<double> map(const Operand& x, F f) {
    std::vector<double> result(x.values.size());
    for (std::size_t i = 0; i < result.size(); ++i)
        result[i] = f(x.values[i]);
    return result;
}

} // namespace

Values binary(dfx::KernelKind kind, Inputs in, OutShape out) {
    if (auto r = expectInputs(in, 2, 2); !r)
        return std::unexpected(r.error());
    const auto sa = broadcastStrides(in[0].shape, out);
    if (!sa)
        return fail("input a {} does not broadcast to the output {}", formatShape(in[0].shape),
                    formatShape(out));
    const auto sb = broadcastStrides(in[1].shape, out);
    if (!sb)
        return fail("input b {} does not broadcast to the output {}", formatShape(in[1].shape),
                    formatShape(out));
    const auto run = [&](auto f) { return broadcastBinary(in[0], in[1], out, *sa, *sb, f); };
    switch (kind) {
    case dfx::KernelKind::Add:
        return run([](double a, double b) { return a + b; });
    case dfx::KernelKind::Sub:
        return run([](double a, double b) { return a - b; });
    case dfx::KernelKind::Mul:
        return run([](double a, double b) { return a * b; });
    case dfx::KernelKind::Div:
        return run([](double a, double b) { return a / b; });
    case dfx::KernelKind::Maximum:
        return run([](double a, double b) { return std::max(a, b); });
    case dfx::KernelKind::Minimum:
        return run([](double a, double b) { return std::min(a, b); });
    default:
        return fail("not a binary elementwise operator");
    }
}

Values unary(dfx::KernelKind kind, Inputs in, OutShape out, const Params& p) {
    if (auto r = expectInputs(in, 1, 1); !r)
        return std::unexpected(r.error());
    if (auto r = expectShape("input", in[0].shape, out); !r)
        return std::unexpected(r.error());
    const Operand& x = in[0];
    switch (kind) {
    case dfx::KernelKind::Exp:
        return map(x, [](double v) { return std::exp(v); });
    case dfx::KernelKind::Reciprocal:
        return map(x, [](double v) { return 1.0 / v; });
    case dfx::KernelKind::Sigmoid:
        return map(x, sigmoid);
    case dfx::KernelKind::Relu:
        return map(x, [](double v) { return std::max(v, 0.0); });
    case dfx::KernelKind::Clamp:
        return map(x, [&](double v) { return std::min(std::max(v, p.min), p.max); });
    case dfx::KernelKind::Gelu:
        return map(x, gelu);
    case dfx::KernelKind::Tanh:
        return map(x, [](double v) { return std::tanh(v); });
    case dfx::KernelKind::Negate:
        return map(x, [](double v) { return -v; });
    case dfx::KernelKind::Abs:
        return map(x, [](double v) { return std::fabs(v); });
    case dfx::KernelKind::Sqrt:
        return map(x, [](double v) { return std::sqrt(v); });
    case dfx::KernelKind::Log:
        return map(x, [](double v) { return std::log(v); });
    case dfx::KernelKind::Erf:
        return map(x, [](double v) { return std::erf(v); });
    default:
        return fail("not a unary elementwise operator");
    }
}

} // namespace kpu::loader::reference
