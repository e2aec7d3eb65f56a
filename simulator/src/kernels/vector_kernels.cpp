// Functional execution of the array's non-GEMM passes (sim::VectorOp) and of the GEMM epilogue.
//
// Every operand block is converted once into a thread-local scratch buffer of the compute type
// (f32, or f64 when any operand is f64), the operator runs on those buffers with global 4-D
// coordinates (local = global - block origin), and the output block is rounded to its storage
// type at the end. Loops are arranged so that the innermost one runs along view dim 3, which is
// contiguous in every block.
#include "kpu/simulator/vector_kernels.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numbers>
#include <type_traits>
#include <vector>

#include "kpu/common/float_convert.h"

namespace kpu::sim {
namespace {

using Coord = std::array<std::int64_t, 4>;

// A packed row-major block of `extent` elements at `origin` of a tensor whose 4-D view is
// `view`, in the compute type.
template <class T>
struct Block {
    T* data = nullptr;
    Coord origin{}, extent{}, stride{}, view{};

    // Element offset of the global coordinates g (which must lie inside the block).
    std::int64_t offset(const Coord& g) const {
        std::int64_t off = 0;
        for (int d = 0; d < 4; ++d) {
            assert(g[d] >= origin[d] && g[d] < origin[d] + extent[d]);
            off += (g[d] - origin[d]) * stride[d];
        }
        return off;
    }
    // Offset of g with numpy broadcasting: a view dim of 1 reads coordinate 0.
    std::int64_t broadcastOffset(const Coord& g) const {
        std::int64_t off = 0;
        for (int d = 0; d < 4; ++d) {
            const std::int64_t c = view[d] == 1 ? 0 : g[d];
            assert(c >= origin[d] && c < origin[d] + extent[d]);
            off += (c - origin[d]) * stride[d];
        }
        return off;
    }
    // Step along view dim 3 under broadcasting (0 when broadcast, else 1).
    std::int64_t broadcastStep() const { return view[3] == 1 ? 0 : 1; }
    std::int64_t count() const { return extent[0] * extent[1] * extent[2] * extent[3]; }
};

template <class T>
Block<T> makeBlock(const VectorOperand& v, T* data) {
    Block<T> b;
    b.data = data;
    for (int d = 0; d < 4; ++d) {
        b.origin[d] = v.origin[d];
        b.extent[d] = v.extent[d];
        b.view[d] = static_cast<std::int64_t>(v.view[d]);
    }
    b.stride[3] = 1;
    for (int d = 2; d >= 0; --d)
        b.stride[d] = b.stride[d + 1] * b.extent[d + 1];
    return b;
}

template <class T>
std::vector<T>& scratch() {
    thread_local std::vector<T> buffer;
    return buffer;
}

template <class T>
void convertIn(DType from, const void* src, T* dst, std::size_t count) {
    if constexpr (std::is_same_v<T, float>)
        convertToF32(from, src, dst, count);
    else
        convertToF64(from, src, dst, count);
}

template <class T>
void convertOut(DType to, const T* src, void* dst, std::size_t count) {
    if constexpr (std::is_same_v<T, float>)
        convertFromF32(to, src, dst, count);
    else
        convertFromF64(to, src, dst, count);
}

// Calls f(g, row) for every row (dims 0..2) of the output block: g holds the global coordinates
// of the row's first element, row points at it.
template <class T, class F>
void forEachRow(const Block<T>& out, F&& f) {
    T* row = out.data;
    Coord g{0, 0, 0, out.origin[3]};
    for (std::int64_t i0 = 0; i0 < out.extent[0]; ++i0) {
        g[0] = out.origin[0] + i0;
        for (std::int64_t i1 = 0; i1 < out.extent[1]; ++i1) {
            g[1] = out.origin[1] + i1;
            for (std::int64_t i2 = 0; i2 < out.extent[2]; ++i2) {
                g[2] = out.origin[2] + i2;
                f(g, row);
                row += out.extent[3];
            }
        }
    }
}

int viewAxis(std::int32_t axis) {
    const int a = axis < 0 ? axis + 4 : axis;
    assert(a >= 0 && a < 4);
    return a;
}

// ---- Activations --------------------------------------------------------------------------

template <class T>
T sigmoid(T x) {
    return T(1) / (T(1) + std::exp(-x));
}
template <class T>
T gelu(T x) {
    return T(0.5) * x * (T(1) + std::erf(x * (T(1) / std::numbers::sqrt2_v<T>)));
}

template <class T, class F>
void mapRow(T* row, std::int64_t n, F f) {
    for (std::int64_t j = 0; j < n; ++j)
        row[j] = f(row[j]);
}

template <class T>
void activateRow(T* row, std::int64_t n, Activation act, double min, double max) {
    switch (act) {
    case Activation::None:
        return;
    case Activation::Relu:
        mapRow(row, n, [](T x) { return std::max(x, T(0)); });
        return;
    case Activation::Clamp: {
        const T lo = static_cast<T>(min), hi = static_cast<T>(max);
        mapRow(row, n, [lo, hi](T x) { return std::min(std::max(x, lo), hi); });
        return;
    }
    case Activation::Sigmoid:
        mapRow(row, n, [](T x) { return sigmoid(x); });
        return;
    case Activation::Gelu:
        mapRow(row, n, [](T x) { return gelu(x); });
        return;
    case Activation::Tanh:
        mapRow(row, n, [](T x) { return std::tanh(x); });
        return;
    }
    assert(false && "unknown activation");
}

template <class T>
void epilogue(T* c, std::uint32_t m, std::uint32_t n, const T* bias, Activation act, double min,
              double max) {
    for (std::uint32_t i = 0; i < m; ++i) {
        T* row = c + std::size_t{i} * n;
        if (bias)
            for (std::uint32_t j = 0; j < n; ++j)
                row[j] += bias[j];
        activateRow(row, n, act, min, max);
    }
}

// ---- Elementwise --------------------------------------------------------------------------

template <class T, class F>
void unary(const Block<T>& out, const Block<T>& a, F f) {
    const std::int64_t sa = a.broadcastStep();
    forEachRow(out, [&](const Coord& g, T* row) {
        const T* pa = a.data + a.broadcastOffset(g);
        if (sa == 1)
            for (std::int64_t j = 0; j < out.extent[3]; ++j)
                row[j] = f(pa[j]);
        else
            for (std::int64_t j = 0; j < out.extent[3]; ++j)
                row[j] = f(pa[0]);
    });
}

template <class T, class F>
void binary(const Block<T>& out, const Block<T>& a, const Block<T>& b, F f) {
    const std::int64_t sa = a.broadcastStep(), sb = b.broadcastStep();
    const std::int64_t n = out.extent[3];
    forEachRow(out, [&](const Coord& g, T* row) {
        const T* pa = a.data + a.broadcastOffset(g);
        const T* pb = b.data + b.broadcastOffset(g);
        if (sa == 1 && sb == 1) {
            for (std::int64_t j = 0; j < n; ++j)
                row[j] = f(pa[j], pb[j]);
        } else if (sa == 1) {
            const T vb = pb[0];
            for (std::int64_t j = 0; j < n; ++j)
                row[j] = f(pa[j], vb);
        } else if (sb == 1) {
            const T va = pa[0];
            for (std::int64_t j = 0; j < n; ++j)
                row[j] = f(va, pb[j]);
        } else {
            const T v = f(pa[0], pb[0]);
            for (std::int64_t j = 0; j < n; ++j)
                row[j] = v;
        }
    });
}

template <class T>
void elementwise(const VectorOp& op, const Block<T>& out, const std::vector<Block<T>>& in) {
    switch (op.kind) {
    case Operator::Add:
        return binary(out, in[0], in[1], [](T a, T b) { return a + b; });
    case Operator::Sub:
        return binary(out, in[0], in[1], [](T a, T b) { return a - b; });
    case Operator::Mul:
        return binary(out, in[0], in[1], [](T a, T b) { return a * b; });
    case Operator::Div:
        return binary(out, in[0], in[1], [](T a, T b) { return a / b; });
    case Operator::Exp:
        return unary(out, in[0], [](T x) { return std::exp(x); });
    case Operator::Reciprocal:
        return unary(out, in[0], [](T x) { return T(1) / x; });
    case Operator::Sigmoid:
        return unary(out, in[0], [](T x) { return sigmoid(x); });
    case Operator::Relu:
        return unary(out, in[0], [](T x) { return std::max(x, T(0)); });
    case Operator::Clamp: {
        const T lo = static_cast<T>(op.params.min), hi = static_cast<T>(op.params.max);
        return unary(out, in[0], [lo, hi](T x) { return std::min(std::max(x, lo), hi); });
    }
    case Operator::Gelu:
        return unary(out, in[0], [](T x) { return gelu(x); });
    case Operator::Tanh:
        return unary(out, in[0], [](T x) { return std::tanh(x); });
    case Operator::Negate:
        return unary(out, in[0], [](T x) { return -x; });
    case Operator::Abs:
        return unary(out, in[0], [](T x) { return std::abs(x); });
    default:
        assert(false && "not an elementwise operator");
    }
}

// ---- Data layout --------------------------------------------------------------------------

template <class T>
void transpose(const VectorOp& op, const Block<T>& out, const Block<T>& in) {
    std::array<int, 4> perm{};
    for (int d = 0; d < 4; ++d) {
        perm[d] = op.params.perm[d];
        assert(perm[d] < 4);
    }
    const std::int64_t step = in.stride[perm[3]];
    forEachRow(out, [&](const Coord& g, T* row) {
        Coord j{};
        for (int d = 0; d < 4; ++d)
            j[perm[d]] = g[d];
        const T* p = in.data + in.offset(j);
        assert(out.extent[3] == 0 ||
               j[perm[3]] + out.extent[3] <= in.origin[perm[3]] + in.extent[perm[3]]);
        if (step == 1)
            std::copy(p, p + out.extent[3], row);
        else
            for (std::int64_t k = 0; k < out.extent[3]; ++k)
                row[k] = p[k * step];
    });
}

template <class T>
void concat(const VectorOp& op, const Block<T>& out, const std::vector<Block<T>>& in) {
    const int axis = viewAxis(op.params.axis);
    thread_local std::vector<std::int64_t> starts;
    starts.assign(in.size() + 1, 0);
    for (std::size_t i = 0; i < in.size(); ++i)
        starts[i + 1] = starts[i] + in[i].view[axis];
    const std::int64_t n = out.extent[3];
    forEachRow(out, [&](const Coord& g, T* row) {
        if (axis != 3) {
            const auto it = std::upper_bound(starts.begin(), starts.end(), g[axis]);
            assert(it != starts.begin() && it != starts.end());
            const auto i = static_cast<std::size_t>(it - starts.begin() - 1);
            Coord j = g;
            j[axis] -= starts[i];
            const T* p = in[i].data + in[i].offset(j);
            std::copy(p, p + n, row);
            return;
        }
        // Along the contiguous dim: copy the part of each input that meets the row.
        for (std::size_t i = 0; i < in.size(); ++i) {
            const std::int64_t lo = std::max(starts[i], g[3]);
            const std::int64_t hi = std::min(starts[i + 1], g[3] + n);
            if (lo >= hi)
                continue;
            Coord j = g;
            j[3] = lo - starts[i];
            const T* p = in[i].data + in[i].offset(j);
            std::copy(p, p + (hi - lo), row + (lo - g[3]));
        }
    });
}

template <class T>
void pad(const VectorOp& op, const Block<T>& out, const Block<T>& in) {
    const T value = static_cast<T>(op.params.padValue);
    Coord before{};
    for (int d = 0; d < 4; ++d)
        before[d] = op.params.padding[2 * d];
    const std::int64_t n = out.extent[3];
    forEachRow(out, [&](const Coord& g, T* row) {
        Coord j{};
        bool inside = true;
        for (int d = 0; d < 3; ++d) {
            j[d] = g[d] - before[d];
            inside = inside && j[d] >= 0 && j[d] < in.view[d];
        }
        // Output columns [lo, hi) (relative to the row) come from the input.
        std::int64_t lo = 0, hi = 0;
        if (inside) {
            lo = std::clamp(before[3] - g[3], std::int64_t{0}, n);
            hi = std::clamp(before[3] + in.view[3] - g[3], lo, n);
        }
        std::fill(row, row + lo, value);
        if (hi > lo) {
            j[3] = g[3] + lo - before[3];
            const T* p = in.data + in.offset(j);
            std::copy(p, p + (hi - lo), row + lo);
        }
        std::fill(row + hi, row + n, value);
    });
}

// ---- Reductions ---------------------------------------------------------------------------

template <class T, class F>
void reduce(const Block<T>& out, const Block<T>& in, int axis, F combine) {
    const std::int64_t len = in.view[axis];
    assert(out.extent[axis] == 1 && len >= 1);
    const std::int64_t n = out.extent[3];
    forEachRow(out, [&](const Coord& g, T* row) {
        Coord j = g;
        j[axis] = 0;
        const T* p = in.data + in.offset(j);
        if (axis == 3) {
            T acc = p[0];
            for (std::int64_t k = 1; k < len; ++k)
                acc = combine(acc, p[k]);
            row[0] = acc;
            return;
        }
        const std::int64_t step = in.stride[axis];
        std::copy(p, p + n, row);
        for (std::int64_t k = 1; k < len; ++k) {
            p += step;
            for (std::int64_t c = 0; c < n; ++c)
                row[c] = combine(row[c], p[c]);
        }
    });
}

template <class T>
void softmax(const VectorOp& op, const Block<T>& out, const Block<T>& in) {
    const int axis = viewAxis(op.params.axis);
    const std::int64_t len = in.view[axis];
    if (axis == 3) {
        forEachRow(out, [&](const Coord& g, T* row) {
            Coord j = g;
            j[3] = 0;
            const T* p = in.data + in.offset(j);
            T mx = p[0];
            for (std::int64_t k = 1; k < len; ++k)
                mx = std::max(mx, p[k]);
            T sum = 0;
            for (std::int64_t k = 0; k < len; ++k)
                sum += std::exp(p[k] - mx);
            const T inv = T(1) / sum;
            for (std::int64_t c = 0; c < out.extent[3]; ++c)
                row[c] = std::exp(p[g[3] + c] - mx) * inv;
        });
        return;
    }
    // Along an outer dim: per column vectors of max and sum over the axis.
    const std::int64_t n = out.extent[3];
    thread_local std::vector<T> stats;
    stats.resize(static_cast<std::size_t>(2 * n));
    T* mx = stats.data();
    T* sum = mx + n;
    Coord e = out.extent;
    e[axis] = 1;
    Coord g{0, 0, 0, out.origin[3]};
    for (std::int64_t i0 = 0; i0 < e[0]; ++i0)
        for (std::int64_t i1 = 0; i1 < e[1]; ++i1)
            for (std::int64_t i2 = 0; i2 < e[2]; ++i2) {
                g[0] = out.origin[0] + i0;
                g[1] = out.origin[1] + i1;
                g[2] = out.origin[2] + i2;
                Coord j = g;
                j[axis] = 0;
                const T* p0 = in.data + in.offset(j);
                const std::int64_t step = in.stride[axis];
                std::copy(p0, p0 + n, mx);
                for (std::int64_t k = 1; k < len; ++k)
                    for (std::int64_t c = 0; c < n; ++c)
                        mx[c] = std::max(mx[c], p0[k * step + c]);
                std::fill(sum, sum + n, T(0));
                for (std::int64_t k = 0; k < len; ++k)
                    for (std::int64_t c = 0; c < n; ++c)
                        sum[c] += std::exp(p0[k * step + c] - mx[c]);
                for (std::int64_t c = 0; c < n; ++c)
                    sum[c] = T(1) / sum[c];
                for (std::int64_t a = 0; a < out.extent[axis]; ++a) {
                    Coord o = g;
                    o[axis] = out.origin[axis] + a;
                    T* row = out.data + out.offset(o);
                    const T* p = p0 + o[axis] * step;
                    for (std::int64_t c = 0; c < n; ++c)
                        row[c] = std::exp(p[c] - mx[c]) * sum[c];
                }
            }
}

template <class T>
void layerNorm(const VectorOp& op, const Block<T>& out, const std::vector<Block<T>>& in) {
    const int axis = viewAxis(op.params.axis);
    const Block<T>& x = in[0];
    const Block<T>* gamma = in.size() > 1 ? &in[1] : nullptr;
    const Block<T>* beta = in.size() > 2 ? &in[2] : nullptr;
    // The normalised group (dims [axis, 4)) is whole in the block, hence contiguous.
    std::int64_t group = 1;
    for (int d = axis; d < 4; ++d) {
        assert(x.origin[d] == 0 && x.extent[d] == x.view[d]);
        group *= x.view[d];
    }
    const T eps = static_cast<T>(op.params.epsilon);
    const T invGroup = T(1) / static_cast<T>(group);
    // Statistics of the group containing row g (computed when the group changes).
    Coord current{-1, -1, -1, -1};
    T mean = 0, rstd = 0;
    const std::int64_t n = out.extent[3];
    const std::int64_t sg = gamma ? gamma->broadcastStep() : 0;
    const std::int64_t sb = beta ? beta->broadcastStep() : 0;
    forEachRow(out, [&](const Coord& g, T* row) {
        Coord lead = g;
        for (int d = axis; d < 4; ++d)
            lead[d] = 0;
        if (lead != current) {
            current = lead;
            const T* p = x.data + x.offset(lead);
            T s = 0;
            for (std::int64_t k = 0; k < group; ++k)
                s += p[k];
            mean = s * invGroup;
            T v = 0;
            for (std::int64_t k = 0; k < group; ++k)
                v += (p[k] - mean) * (p[k] - mean);
            rstd = T(1) / std::sqrt(v * invGroup + eps);
        }
        const T* p = x.data + x.offset(g);
        const T* pg = gamma ? gamma->data + gamma->broadcastOffset(g) : nullptr;
        const T* pb = beta ? beta->data + beta->broadcastOffset(g) : nullptr;
        for (std::int64_t c = 0; c < n; ++c) {
            T y = (p[c] - mean) * rstd;
            if (pg)
                y *= pg[c * sg];
            if (pb)
                y += pb[c * sb];
            row[c] = y;
        }
    });
}

// ---- Windows ------------------------------------------------------------------------------

struct Window {
    std::int64_t kh, kw, sh, sw, dh, dw, top, left;
};

Window windowOf(const OpParams& p, bool dilated) {
    return Window{.kh = p.kernelH,
                  .kw = p.kernelW,
                  .sh = p.strideH,
                  .sw = p.strideW,
                  .dh = dilated ? p.dilationH : 1,
                  .dw = dilated ? p.dilationW : 1,
                  .top = p.padTop,
                  .left = p.padLeft};
}

template <class T>
void pool(const VectorOp& op, const Block<T>& out, const Block<T>& x, bool isMax) {
    const Window w = windowOf(op.params, false);
    const std::int64_t n = out.extent[3];
    const std::int64_t h = x.view[1], wd = x.view[2];
    forEachRow(out, [&](const Coord& g, T* row) {
        std::fill(row, row + n, isMax ? -std::numeric_limits<T>::infinity() : T(0));
        std::int64_t count = 0;
        for (std::int64_t ky = 0; ky < w.kh; ++ky) {
            const std::int64_t ih = g[1] * w.sh - w.top + ky * w.dh;
            if (ih < 0 || ih >= h)
                continue;
            for (std::int64_t kx = 0; kx < w.kw; ++kx) {
                const std::int64_t iw = g[2] * w.sw - w.left + kx * w.dw;
                if (iw < 0 || iw >= wd)
                    continue;
                ++count;
                const T* p = x.data + x.offset(Coord{g[0], ih, iw, g[3]});
                if (isMax)
                    for (std::int64_t c = 0; c < n; ++c)
                        row[c] = std::max(row[c], p[c]);
                else
                    for (std::int64_t c = 0; c < n; ++c)
                        row[c] += p[c];
            }
        }
        if (count == 0) // the window lies wholly in the padding
            std::fill(row, row + n, T(0));
        else if (!isMax) {
            const T inv = T(1) / static_cast<T>(count);
            for (std::int64_t c = 0; c < n; ++c)
                row[c] *= inv;
        }
    });
}

template <class T>
void depthwise(const VectorOp& op, const Block<T>& out, const std::vector<Block<T>>& in) {
    const Block<T>& x = in[0];
    const Block<T>& wt = in[1];
    const Block<T>* bias = in.size() > 2 ? &in[2] : nullptr;
    const Window w = windowOf(op.params, true);
    const std::int64_t mult = out.view[3] / x.view[3];
    assert(mult >= 1 && mult * x.view[3] == out.view[3]);
    assert(wt.view[0] == w.kh && wt.view[1] == w.kw && wt.view[3] == mult);
    const std::int64_t n = out.extent[3], o0 = out.origin[3];
    const std::int64_t h = x.view[1], wd = x.view[2];
    forEachRow(out, [&](const Coord& g, T* row) {
        if (bias) {
            const T* pb = bias->data + bias->offset(Coord{0, 0, 0, o0});
            std::copy(pb, pb + n, row);
        } else {
            std::fill(row, row + n, T(0));
        }
        for (std::int64_t ky = 0; ky < w.kh; ++ky) {
            const std::int64_t ih = g[1] * w.sh - w.top + ky * w.dh;
            if (ih < 0 || ih >= h)
                continue;
            for (std::int64_t kx = 0; kx < w.kw; ++kx) {
                const std::int64_t iw = g[2] * w.sw - w.left + kx * w.dw;
                if (iw < 0 || iw >= wd)
                    continue;
                std::int64_t c = o0 / mult, m = o0 % mult;
                const T* px = x.data + x.offset(Coord{g[0], ih, iw, c});
                const T* pw = wt.data + wt.offset(Coord{ky, kx, c, m});
                if (mult == 1) {
                    // w[ky, kx, c, 0] for consecutive c is contiguous (the block holds all of
                    // dims 2, 3 of the weights).
                    for (std::int64_t k = 0; k < n; ++k)
                        row[k] += px[k] * pw[k * wt.stride[2]];
                    continue;
                }
                // Output channel o = c * mult + m: the weights for consecutive o are
                // consecutive in (c, m); x advances once per `mult` outputs.
                std::int64_t xi = 0;
                for (std::int64_t k = 0; k < n; ++k) {
                    row[k] += px[xi] * pw[(c - o0 / mult) * wt.stride[2] + (m - o0 % mult)];
                    if (++m == mult) {
                        m = 0;
                        ++c;
                        ++xi;
                    }
                }
            }
        }
    });
}

template <class T>
void im2col(const VectorOp& op, const Block<T>& out, const Block<T>& x) {
    const Window w = windowOf(op.params, true);
    const std::int64_t h = x.view[1], wd = x.view[2], ch = x.view[3];
    const std::int64_t oh =
        (h + op.params.padTop + op.params.padBottom - w.dh * (w.kh - 1) - 1) / w.sh + 1;
    const std::int64_t ow =
        (wd + op.params.padLeft + op.params.padRight - w.dw * (w.kw - 1) - 1) / w.sw + 1;
    assert(out.view[2] == x.view[0] * oh * ow && out.view[3] == w.kh * w.kw * ch);
    const std::int64_t c0 = out.origin[3], c1 = c0 + out.extent[3];
    forEachRow(out, [&](const Coord& g, T* row) {
        const std::int64_t r = g[2];
        const std::int64_t img = r / (oh * ow), y = (r / ow) % oh, xo = r % ow;
        for (std::int64_t ky = 0; ky < w.kh; ++ky) {
            const std::int64_t ih = y * w.sh - w.top + ky * w.dh;
            for (std::int64_t kx = 0; kx < w.kw; ++kx) {
                const std::int64_t iw = xo * w.sw - w.left + kx * w.dw;
                // Columns [base, base + ch) of the patch row, clipped to the block's columns.
                const std::int64_t base = (ky * w.kw + kx) * ch;
                const std::int64_t lo = std::max(base, c0), hi = std::min(base + ch, c1);
                if (lo >= hi)
                    continue;
                T* dst = row + (lo - c0);
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) {
                    std::fill(dst, dst + (hi - lo), T(0));
                    continue;
                }
                const T* p = x.data + x.offset(Coord{img, ih, iw, lo - base});
                std::copy(p, p + (hi - lo), dst);
            }
        }
    });
}

// ---- Dispatch -----------------------------------------------------------------------------

template <class T>
void run(const VectorOp& op, std::span<const std::uint8_t* const> inputs, std::uint8_t* output) {
    assert(inputs.size() == op.inputs.size());
    std::size_t total = 0;
    for (const VectorOperand& v : op.inputs)
        total += static_cast<std::size_t>(makeBlock<T>(v, nullptr).count());
    Block<T> out = makeBlock<T>(op.output, nullptr);
    const auto outCount = static_cast<std::size_t>(out.count());
    if (outCount == 0)
        return;
    std::vector<T>& buf = scratch<T>();
    if (buf.size() < total + outCount)
        buf.resize(total + outCount);
    thread_local std::vector<Block<T>> blocks;
    blocks.clear();
    T* next = buf.data();
    for (std::size_t i = 0; i < op.inputs.size(); ++i) {
        Block<T> b = makeBlock<T>(op.inputs[i], next);
        const auto count = static_cast<std::size_t>(b.count());
        convertIn(op.inputs[i].dtype, inputs[i], next, count);
        next += count;
        blocks.push_back(b);
    }
    out.data = next;

    switch (op.kind) {
    case Operator::Add:
    case Operator::Sub:
    case Operator::Mul:
    case Operator::Div:
        assert(blocks.size() == 2);
        elementwise(op, out, blocks);
        break;
    case Operator::Exp:
    case Operator::Reciprocal:
    case Operator::Sigmoid:
    case Operator::Relu:
    case Operator::Clamp:
    case Operator::Gelu:
    case Operator::Tanh:
    case Operator::Negate:
    case Operator::Abs:
        assert(blocks.size() == 1);
        elementwise(op, out, blocks);
        break;
    case Operator::Transpose:
        transpose(op, out, blocks[0]);
        break;
    case Operator::Concat:
        concat(op, out, blocks);
        break;
    case Operator::Pad:
        pad(op, out, blocks[0]);
        break;
    case Operator::ReduceSum:
        reduce(out, blocks[0], viewAxis(op.params.axis), [](T a, T b) { return a + b; });
        break;
    case Operator::ReduceMax:
        reduce(out, blocks[0], viewAxis(op.params.axis), [](T a, T b) { return std::max(a, b); });
        break;
    case Operator::ReduceMin:
        reduce(out, blocks[0], viewAxis(op.params.axis), [](T a, T b) { return std::min(a, b); });
        break;
    case Operator::Softmax:
        softmax(op, out, blocks[0]);
        break;
    case Operator::LayerNorm:
        assert(!blocks.empty() && blocks.size() <= 3);
        layerNorm(op, out, blocks);
        break;
    case Operator::MaxPool2D:
    case Operator::AvgPool2D:
        pool(op, out, blocks[0], op.kind == Operator::MaxPool2D);
        break;
    case Operator::DepthwiseConv2D:
        assert(blocks.size() == 2 || blocks.size() == 3);
        depthwise(op, out, blocks);
        break;
    case Operator::Im2Col:
        im2col(op, out, blocks[0]);
        break;
    case Operator::MatMul:
    case Operator::Conv2D:
    case Operator::FullyConnected:
    case Operator::Reshape:
        assert(false && "not a vector operator");
        return;
    }
    convertOut(op.output.dtype, out.data, output, outCount);
}

} // namespace

void executeVectorOp(const VectorOp& op, std::span<const std::uint8_t* const> inputs,
                     std::uint8_t* output) {
    bool f64 = op.output.dtype == DType::F64;
    for (const VectorOperand& v : op.inputs)
        f64 = f64 || v.dtype == DType::F64;
    if (f64)
        run<double>(op, inputs, output);
    else
        run<float>(op, inputs, output);
}

void applyEpilogueF32(float* c, std::uint32_t m, std::uint32_t n, const float* bias,
                      Activation activation, double min, double max) {
    epilogue(c, m, n, bias, activation, min, max);
}

void applyEpilogueF64(double* c, std::uint32_t m, std::uint32_t n, const double* bias,
                      Activation activation, double min, double max) {
    epilogue(c, m, n, bias, activation, min, max);
}

} // namespace kpu::sim
