// Functional execution of the array's non-GEMM passes (sim::VectorOp) and of the GEMM epilogue.
//
// Every operand block is converted once into a thread-local scratch buffer of the compute type
// (f32, or f64 when any operand is f64), the operator runs on those buffers with global 4-D
// coordinates (local = global - block origin), and the output block is rounded to its storage
// type at the end. Loops are arranged so that the innermost one runs along view dim 3, which is
// contiguous in every block, and those rows go through the row kernels (vector_rows.h): in f32
// the ISA-dispatched table (AVX-512, AVX2 or scalar), in f64 plain loops.
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

#include "kernels/vector_rows.h"
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

// ---- Row operations -----------------------------------------------------------------------

enum class Bin { Add, Sub, Mul, Div, Max, Min };
enum class Un { Relu, Clamp, Negate, Abs, Reciprocal, Exp, Sigmoid, Tanh, Gelu, Sqrt, Log, Erf };

// f32: the selected row kernels.
void rowBinary(Bin op, float* out, const float* a, std::int64_t sa, const float* b, std::int64_t sb,
               std::int64_t n) {
    const vec::RowKernels& k = vec::selectedRowKernels();
    const vec::BinaryRowFn fns[] = {k.add, k.sub, k.mul, k.div, k.max, k.min};
    fns[static_cast<int>(op)](out, a, sa, b, sb, n);
}
void rowUnary(Un op, float* out, const float* a, std::int64_t n, double lo, double hi) {
    // The rarer operators have no vector row kernel: libm, one element at a time.
    switch (op) {
    case Un::Sqrt:
        std::transform(a, a + n, out, [](float x) { return std::sqrt(x); });
        return;
    case Un::Log:
        std::transform(a, a + n, out, [](float x) { return std::log(x); });
        return;
    case Un::Erf:
        std::transform(a, a + n, out, [](float x) { return std::erf(x); });
        return;
    default:
        break;
    }
    const vec::RowKernels& k = vec::selectedRowKernels();
    const vec::UnaryRowFn fns[] = {k.relu, k.clamp,   k.negate, k.abs, k.reciprocal,
                                   k.exp,  k.sigmoid, k.tanh,   k.gelu};
    fns[static_cast<int>(op)](out, a, n, static_cast<float>(lo), static_cast<float>(hi));
}
float rowReduce(Bin op, const float* a, std::int64_t n) {
    const vec::RowKernels& k = vec::selectedRowKernels();
    return op == Bin::Add ? k.sum(a, n) : op == Bin::Max ? k.maxOf(a, n) : k.minOf(a, n);
}
void rowMulAdd(float* out, const float* a, const float* b, std::int64_t n) {
    vec::selectedRowKernels().mulAdd(out, a, b, n);
}

// f64: plain loops.
template <class F>
void loopBinary(double* out, const double* a, std::int64_t sa, const double* b, std::int64_t sb,
                std::int64_t n, F f) {
    for (std::int64_t j = 0; j < n; ++j)
        out[j] = f(a[j * sa], b[j * sb]);
}
void rowBinary(Bin op, double* out, const double* a, std::int64_t sa, const double* b,
               std::int64_t sb, std::int64_t n) {
    using D = double;
    switch (op) {
    case Bin::Add:
        return loopBinary(out, a, sa, b, sb, n, [](D x, D y) { return x + y; });
    case Bin::Sub:
        return loopBinary(out, a, sa, b, sb, n, [](D x, D y) { return x - y; });
    case Bin::Mul:
        return loopBinary(out, a, sa, b, sb, n, [](D x, D y) { return x * y; });
    case Bin::Div:
        return loopBinary(out, a, sa, b, sb, n, [](D x, D y) { return x / y; });
    case Bin::Max:
        return loopBinary(out, a, sa, b, sb, n, [](D x, D y) { return std::max(x, y); });
    case Bin::Min:
        return loopBinary(out, a, sa, b, sb, n, [](D x, D y) { return std::min(x, y); });
    }
}
template <class F>
void loopUnary(double* out, const double* a, std::int64_t n, F f) {
    for (std::int64_t j = 0; j < n; ++j)
        out[j] = f(a[j]);
}
void rowUnary(Un op, double* out, const double* a, std::int64_t n, double lo, double hi) {
    using D = double;
    switch (op) {
    case Un::Relu:
        return loopUnary(out, a, n, [](D x) { return std::max(x, D(0)); });
    case Un::Clamp:
        return loopUnary(out, a, n, [lo, hi](D x) { return std::min(std::max(x, lo), hi); });
    case Un::Negate:
        return loopUnary(out, a, n, [](D x) { return -x; });
    case Un::Abs:
        return loopUnary(out, a, n, [](D x) { return std::abs(x); });
    case Un::Reciprocal:
        return loopUnary(out, a, n, [](D x) { return D(1) / x; });
    case Un::Exp:
        return loopUnary(out, a, n, [](D x) { return std::exp(x); });
    case Un::Sigmoid:
        return loopUnary(out, a, n, [](D x) { return D(1) / (D(1) + std::exp(-x)); });
    case Un::Tanh:
        return loopUnary(out, a, n, [](D x) { return std::tanh(x); });
    case Un::Gelu:
        return loopUnary(out, a, n, [](D x) {
            return D(0.5) * x * (D(1) + std::erf(x * (D(1) / std::numbers::sqrt2_v<D>)));
        });
    case Un::Sqrt:
        return loopUnary(out, a, n, [](D x) { return std::sqrt(x); });
    case Un::Log:
        return loopUnary(out, a, n, [](D x) { return std::log(x); });
    case Un::Erf:
        return loopUnary(out, a, n, [](D x) { return std::erf(x); });
    }
}
double rowReduce(Bin op, const double* a, std::int64_t n) {
    double acc = a[0];
    for (std::int64_t j = 1; j < n; ++j)
        acc = op == Bin::Add   ? acc + a[j]
              : op == Bin::Max ? std::max(acc, a[j])
                               : std::min(acc, a[j]);
    return acc;
}
void rowMulAdd(double* out, const double* a, const double* b, std::int64_t n) {
    for (std::int64_t j = 0; j < n; ++j)
        out[j] += a[j] * b[j];
}

// ---- Activations --------------------------------------------------------------------------

template <class T>
void activateRow(T* row, std::int64_t n, Activation act, double min, double max) {
    switch (act) {
    case Activation::None:
        return;
    case Activation::Relu:
        return rowUnary(Un::Relu, row, row, n, min, max);
    case Activation::Clamp:
        return rowUnary(Un::Clamp, row, row, n, min, max);
    case Activation::Sigmoid:
        return rowUnary(Un::Sigmoid, row, row, n, min, max);
    case Activation::Gelu:
        return rowUnary(Un::Gelu, row, row, n, min, max);
    case Activation::Tanh:
        return rowUnary(Un::Tanh, row, row, n, min, max);
    }
    assert(false && "unknown activation");
}

template <class T>
void epilogue(T* c, std::uint32_t m, std::uint32_t n, const T* bias, Activation act, double min,
              double max) {
    for (std::uint32_t i = 0; i < m; ++i) {
        T* row = c + std::size_t{i} * n;
        if (bias)
            rowBinary(Bin::Add, row, row, 1, bias, 1, n);
        activateRow(row, n, act, min, max);
    }
}

// ---- Elementwise --------------------------------------------------------------------------

template <class T>
void unary(const Block<T>& out, const Block<T>& a, Un op, double lo = 0, double hi = 0) {
    const std::int64_t n = out.extent[3];
    const bool broadcast = a.broadcastStep() == 0;
    forEachRow(out, [&](const Coord& g, T* row) {
        const T* pa = a.data + a.broadcastOffset(g);
        if (!broadcast)
            return rowUnary(op, row, pa, n, lo, hi);
        rowUnary(op, row, pa, 1, lo, hi);
        std::fill(row + 1, row + n, row[0]);
    });
}

template <class T>
void binary(const Block<T>& out, const Block<T>& a, const Block<T>& b, Bin op) {
    const std::int64_t sa = a.broadcastStep(), sb = b.broadcastStep();
    forEachRow(out, [&](const Coord& g, T* row) {
        rowBinary(op, row, a.data + a.broadcastOffset(g), sa, b.data + b.broadcastOffset(g), sb,
                  out.extent[3]);
    });
}

template <class T>
void elementwise(const VectorOp& op, const Block<T>& out, const std::vector<Block<T>>& in) {
    switch (op.kind) {
    case Operator::Add:
        return binary(out, in[0], in[1], Bin::Add);
    case Operator::Sub:
        return binary(out, in[0], in[1], Bin::Sub);
    case Operator::Mul:
        return binary(out, in[0], in[1], Bin::Mul);
    case Operator::Div:
        return binary(out, in[0], in[1], Bin::Div);
    case Operator::Exp:
        return unary(out, in[0], Un::Exp);
    case Operator::Reciprocal:
        return unary(out, in[0], Un::Reciprocal);
    case Operator::Sigmoid:
        return unary(out, in[0], Un::Sigmoid);
    case Operator::Relu:
        return unary(out, in[0], Un::Relu);
    case Operator::Clamp:
        return unary(out, in[0], Un::Clamp, op.params.min, op.params.max);
    case Operator::Gelu:
        return unary(out, in[0], Un::Gelu);
    case Operator::Tanh:
        return unary(out, in[0], Un::Tanh);
    case Operator::Negate:
        return unary(out, in[0], Un::Negate);
    case Operator::Abs:
        return unary(out, in[0], Un::Abs);
    case Operator::Sqrt:
        return unary(out, in[0], Un::Sqrt);
    case Operator::Log:
        return unary(out, in[0], Un::Log);
    case Operator::Erf:
        return unary(out, in[0], Un::Erf);
    case Operator::Maximum:
        return binary(out, in[0], in[1], Bin::Max);
    case Operator::Minimum:
        return binary(out, in[0], in[1], Bin::Min);
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

template <class T>
void reduce(const Block<T>& out, const Block<T>& in, int axis, Bin combine) {
    const std::int64_t len = in.view[axis];
    assert(out.extent[axis] == 1 && len >= 1);
    const std::int64_t n = out.extent[3];
    forEachRow(out, [&](const Coord& g, T* row) {
        Coord j = g;
        j[axis] = 0;
        const T* p = in.data + in.offset(j);
        if (axis == 3) {
            row[0] = rowReduce(combine, p, len);
            return;
        }
        const std::int64_t step = in.stride[axis];
        std::copy(p, p + n, row);
        for (std::int64_t k = 1; k < len; ++k) {
            p += step;
            rowBinary(combine, row, row, 1, p, 1, n);
        }
    });
}

// dst[c] = exp(p[c] - shift[c * ss]) for c < n (ss = 0: one shift for all).
template <class T>
void expShifted(T* dst, const T* p, const T* shift, std::int64_t ss, std::int64_t n) {
    rowBinary(Bin::Sub, dst, p, 1, shift, ss, n);
    rowUnary(Un::Exp, dst, dst, n, 0, 0);
}

template <class T>
void softmax(const VectorOp& op, const Block<T>& out, const Block<T>& in) {
    const int axis = viewAxis(op.params.axis);
    const std::int64_t len = in.view[axis];
    thread_local std::vector<T> temp;
    if (axis == 3) {
        temp.resize(static_cast<std::size_t>(len));
        forEachRow(out, [&](const Coord& g, T* row) {
            Coord j = g;
            j[3] = 0;
            const T* p = in.data + in.offset(j);
            const T mx = rowReduce(Bin::Max, p, len);
            expShifted(temp.data(), p, &mx, 0, len);
            const T inv = T(1) / rowReduce(Bin::Add, temp.data(), len);
            rowBinary(Bin::Mul, row, temp.data() + g[3], 1, &inv, 0, out.extent[3]);
        });
        return;
    }
    // Along an outer dim: per column vectors of max and sum over the axis.
    const std::int64_t n = out.extent[3];
    thread_local std::vector<T> stats;
    stats.resize(static_cast<std::size_t>(2 * n));
    temp.resize(static_cast<std::size_t>(n));
    T* mx = stats.data();
    T* sum = mx + n;
    T* e = temp.data();
    Coord ext = out.extent;
    ext[axis] = 1;
    Coord g{0, 0, 0, out.origin[3]};
    for (std::int64_t i0 = 0; i0 < ext[0]; ++i0)
        for (std::int64_t i1 = 0; i1 < ext[1]; ++i1)
            for (std::int64_t i2 = 0; i2 < ext[2]; ++i2) {
                g[0] = out.origin[0] + i0;
                g[1] = out.origin[1] + i1;
                g[2] = out.origin[2] + i2;
                Coord j = g;
                j[axis] = 0;
                const T* p0 = in.data + in.offset(j);
                const std::int64_t step = in.stride[axis];
                std::copy(p0, p0 + n, mx);
                for (std::int64_t k = 1; k < len; ++k)
                    rowBinary(Bin::Max, mx, mx, 1, p0 + k * step, 1, n);
                std::fill(sum, sum + n, T(0));
                for (std::int64_t k = 0; k < len; ++k) {
                    expShifted(e, p0 + k * step, mx, 1, n);
                    rowBinary(Bin::Add, sum, sum, 1, e, 1, n);
                }
                rowUnary(Un::Reciprocal, sum, sum, n, 0, 0);
                for (std::int64_t a = 0; a < out.extent[axis]; ++a) {
                    Coord o = g;
                    o[axis] = out.origin[axis] + a;
                    T* row = out.data + out.offset(o);
                    expShifted(row, p0 + o[axis] * step, mx, 1, n);
                    rowBinary(Bin::Mul, row, row, 1, sum, 1, n);
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
                rowBinary(isMax ? Bin::Max : Bin::Add, row, row, 1, p, 1, n);
            }
        }
        if (count == 0) // the window lies wholly in the padding
            std::fill(row, row + n, T(0));
        else if (!isMax) {
            const T inv = T(1) / static_cast<T>(count);
            rowBinary(Bin::Mul, row, row, 1, &inv, 0, n);
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
                    // dims 2, 3 of the weights, so wt.stride[2] == 1).
                    assert(wt.stride[2] == 1);
                    rowMulAdd(row, px, pw, n);
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
    case Operator::Maximum:
    case Operator::Minimum:
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
    case Operator::Sqrt:
    case Operator::Log:
    case Operator::Erf:
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
        reduce(out, blocks[0], viewAxis(op.params.axis), Bin::Add);
        break;
    case Operator::ReduceMax:
        reduce(out, blocks[0], viewAxis(op.params.axis), Bin::Max);
        break;
    case Operator::ReduceMin:
        reduce(out, blocks[0], viewAxis(op.params.axis), Bin::Min);
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
