// How a kernel's iteration tile maps onto the regions of its operands. Shared by the compiler
// (which emits the moves), the verifier (which checks every region lies inside its tensor) and
// the binder (which binds compute ops to the resident tiles), so the three always agree.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "kpu/common/operator.h"
#include "kpu/schema/dfx_generated.h"

namespace kpu::dfx {

using View4 = std::array<std::uint64_t, 4>;

// A box in a 4-D canonical view: [origin, origin + extent) per dimension.
struct Box {
    std::array<std::uint32_t, 4> origin{};
    std::array<std::uint32_t, 4> extent{1, 1, 1, 1};

    bool operator==(const Box&) const = default;
};

inline Box toBox(const Region& r) {
    const auto& o = *r.origin();
    const auto& e = *r.extent();
    return Box{{o[0], o[1], o[2], o[3]}, {e[0], e[1], e[2], e[3]}};
}
inline Region toRegion(const Box& b) {
    return Region(b.origin, b.extent);
}
inline std::uint64_t boxElements(const Box& b) {
    return std::uint64_t{b.extent[0]} * b.extent[1] * b.extent[2] * b.extent[3];
}
inline bool boxInside(const Box& b, const View4& view) {
    for (int d = 0; d < 4; ++d)
        if (b.extent[d] == 0 || std::uint64_t{b.origin[d]} + b.extent[d] > view[d])
            return false;
    return true;
}

// ---- MatMul -------------------------------------------------------------------------------

// A MatMul iteration tile: one batch element b, rows [m, m+mt), cols [n, n+nt), depth [k, k+kt).
// In a Compute op's region: origin = {b, m, n, k}, extent = {1, mt, nt, kt}.
struct MatMulTile {
    std::uint32_t b = 0, m = 0, n = 0, k = 0;
    std::uint32_t mt = 1, nt = 1, kt = 1;
};

// A: the left operand; B: the right one ([K, N], or [N, K] when transposed); C: the accumulate
// input and the output (m x n); Bias: a vector along N.
enum class MatMulOperand { A, B, C, Bias };

inline MatMulTile matMulTile(const Box& box) {
    return MatMulTile{box.origin[0], box.origin[1], box.origin[2], box.origin[3],
                      box.extent[1], box.extent[2], box.extent[3]};
}
inline MatMulTile matMulTile(const Region& region) {
    return matMulTile(toBox(region));
}

inline Region toRegion(const MatMulTile& t) {
    const std::array<std::uint32_t, 4> origin{t.b, t.m, t.n, t.k};
    const std::array<std::uint32_t, 4> extent{1, t.mt, t.nt, t.kt};
    return Region(origin, extent);
}

// The operand's region for tile `t`. `view` is the operand's 4-D canonical view (its batch is
// dims 0 and 1 flattened); `batched` is false when the operand is broadcast over the batch.
inline Box matMulOperandBox(MatMulOperand operand, const MatMulTile& t, const View4& view,
                            bool batched, bool transposedB = false) {
    const std::uint32_t b0 = batched ? static_cast<std::uint32_t>(t.b / view[1]) : 0;
    const std::uint32_t b1 = batched ? static_cast<std::uint32_t>(t.b % view[1]) : 0;
    Box box{{b0, b1, 0, 0}, {1, 1, 0, 0}};
    auto set = [&](std::uint32_t r, std::uint32_t c, std::uint32_t nr, std::uint32_t nc) {
        box.origin[2] = r, box.origin[3] = c, box.extent[2] = nr, box.extent[3] = nc;
    };
    switch (operand) {
    case MatMulOperand::A:
        set(t.m, t.k, t.mt, t.kt);
        break;
    case MatMulOperand::B:
        if (transposedB)
            set(t.n, t.k, t.nt, t.kt);
        else
            set(t.k, t.n, t.kt, t.nt);
        break;
    case MatMulOperand::C:
        set(t.m, t.n, t.mt, t.nt);
        break;
    case MatMulOperand::Bias:
        box = Box{{0, 0, 0, t.n}, {1, 1, 1, t.nt}};
        break;
    }
    return box;
}
inline Region matMulOperandRegion(MatMulOperand operand, const MatMulTile& t, const View4& view,
                                  bool batched, bool transposedB = false) {
    return toRegion(matMulOperandBox(operand, t, view, batched, transposedB));
}

// ---- every kernel kind ----------------------------------------------------------------------

// What the region functions need to know of a kernel: its kind, its parameters with axes,
// permutations and paddings converted to the 4-D views, and its operands' views.
struct KernelShape {
    Operator kind = Operator::MatMul;
    OpParams params; // axis, perm and padding in 4-D view terms (see toViewParams)
    std::vector<View4> inputs;
    View4 output{};
    std::array<std::uint32_t, 4> iteration{}; // the kernel's iteration space
    std::vector<std::uint8_t> inputBatched;   // MatMul: per input, varies along the batch
};

// The 4-D view dimension of tensor dimension `axis` (negative: from the end) of a rank-`rank`
// tensor; nullopt when it is out of range or collapsed into the first view dimension.
inline std::optional<int> viewAxis(std::size_t rank, std::int32_t axis) {
    const std::int64_t r = static_cast<std::int64_t>(rank);
    const std::int64_t a = axis < 0 ? axis + r : axis;
    if (a < 0 || a >= r)
        return std::nullopt;
    if (r <= 4)
        return static_cast<int>(a + (4 - r));
    if (a < r - 3)
        return std::nullopt;
    return static_cast<int>(a - (r - 4));
}

// `params` (axis, perm, padding counted in the dims of a rank-`rank` tensor) in 4-D view terms;
// nullopt when an axis or a permuted / padded dimension falls in the collapsed leading view
// dimension of a tensor of rank > 4, or is out of range.
inline std::optional<OpParams> toViewParams(Operator kind, OpParams params, std::size_t rank) {
    const std::size_t shift = rank <= 4 ? 4 - rank : 0;
    switch (kind) {
    case Operator::Concat:
    case Operator::ReduceSum:
    case Operator::ReduceMax:
    case Operator::ReduceMin:
    case Operator::Softmax:
    case Operator::LayerNorm: {
        const auto a = viewAxis(rank, params.axis);
        if (!a)
            return std::nullopt;
        params.axis = *a;
        return params;
    }
    case Operator::Transpose: {
        if (rank > 4)
            return std::nullopt;
        std::array<std::uint8_t, 8> perm{};
        for (std::size_t d = 0; d < 4; ++d)
            perm[d] = static_cast<std::uint8_t>(d);
        std::array<bool, 4> seen{};
        for (std::size_t d = 0; d < rank; ++d) {
            if (params.perm[d] >= rank || seen[params.perm[d]])
                return std::nullopt; // not a permutation
            seen[params.perm[d]] = true;
            perm[d + shift] = static_cast<std::uint8_t>(params.perm[d] + shift);
        }
        params.perm = perm;
        return params;
    }
    case Operator::Pad: {
        if (rank > 4)
            return std::nullopt;
        std::array<std::uint32_t, 16> padding{};
        for (std::size_t i = 0; i < 2 * rank; ++i)
            padding[i + 2 * shift] = params.padding[i];
        params.padding = padding;
        return params;
    }
    default:
        return params;
    }
}

// Output positions of a window sliding over `size` inputs (convolutions, pools, im2col):
// (size + pads - dilation * (kernel - 1) - 1) / stride + 1, or 0 when the window never fits.
inline std::uint64_t windowOutputs(std::uint64_t size, std::uint64_t kernel, std::uint64_t stride,
                                   std::uint64_t dilation, std::uint64_t padBefore,
                                   std::uint64_t padAfter) {
    const std::uint64_t span = dilation * (kernel - 1) + 1;
    const std::uint64_t padded = size + padBefore + padAfter;
    return stride == 0 || padded < span ? 0 : (padded - span) / stride + 1;
}

// The dimensions a kernel's tiles must span whole (the tiler never splits them).
inline std::array<bool, 4> pinnedDims(const KernelShape& k) {
    std::array<bool, 4> pinned{};
    const int axis = std::clamp(k.params.axis, 0, 3);
    switch (k.kind) {
    case Operator::Concat:
    case Operator::Softmax:
    case Operator::ReduceSum:
    case Operator::ReduceMax:
    case Operator::ReduceMin:
        pinned[static_cast<std::size_t>(axis)] = true;
        break;
    case Operator::LayerNorm:
        for (int d = axis; d < 4; ++d)
            pinned[static_cast<std::size_t>(d)] = true;
        break;
    case Operator::Pad:
        for (int d = 0; d < 4; ++d)
            pinned[static_cast<std::size_t>(d)] =
                k.params.padding[static_cast<std::size_t>(2 * d)] != 0 ||
                k.params.padding[static_cast<std::size_t>(2 * d + 1)] != 0;
        break;
    case Operator::Im2Col: // every patch row needs all input channels
        pinned[3] = true;
        break;
    default:
        break;
    }
    return pinned;
}

namespace detail {
// Input rows [lo, hi) a window covering outputs [o, o + e) reads, clipped to [0, size); at
// least one row (a tile lying wholly in the padding reads none, but regions are never empty).
inline std::pair<std::uint32_t, std::uint32_t>
windowRange(std::uint32_t o, std::uint32_t e, std::uint32_t stride, std::uint32_t dilation,
            std::uint32_t kernel, std::uint32_t pad, std::uint64_t size) {
    const std::int64_t lo = std::int64_t{o} * stride - pad;
    const std::int64_t hi =
        (std::int64_t{o} + e - 1) * stride - pad + std::int64_t{kernel - 1} * dilation + 1;
    const std::int64_t s = static_cast<std::int64_t>(size);
    std::int64_t clo = std::clamp<std::int64_t>(lo, 0, s - 1);
    std::int64_t chi = std::clamp<std::int64_t>(hi, clo + 1, s);
    return {static_cast<std::uint32_t>(clo), static_cast<std::uint32_t>(chi - clo)};
}
} // namespace detail

// The region of input `i` a tile of the iteration space reads.
inline Box inputBox(const KernelShape& k, std::size_t i, const Box& tile) {
    const View4& in = k.inputs[i];
    const OpParams& p = k.params;
    Box box = tile;
    switch (k.kind) {
    case Operator::MatMul: {
        const MatMulTile t = matMulTile(tile);
        const bool batched = i < k.inputBatched.size() && k.inputBatched[i] != 0;
        if (p.biasInput >= 0 && i == static_cast<std::size_t>(p.biasInput))
            return matMulOperandBox(MatMulOperand::Bias, t, in, false);
        const MatMulOperand role = i == 0   ? MatMulOperand::A
                                   : i == 1 ? MatMulOperand::B
                                            : MatMulOperand::C;
        return matMulOperandBox(role, t, in, batched, p.transposeB);
    }
    case Operator::Transpose:
        for (std::size_t d = 0; d < 4; ++d) {
            box.origin[p.perm[d]] = tile.origin[d];
            box.extent[p.perm[d]] = tile.extent[d];
        }
        return box;
    case Operator::Concat:
    case Operator::ReduceSum:
    case Operator::ReduceMax:
    case Operator::ReduceMin: {
        const auto a = static_cast<std::size_t>(std::clamp(p.axis, 0, 3));
        box.origin[a] = 0;
        box.extent[a] = static_cast<std::uint32_t>(in[a]);
        return box;
    }
    case Operator::Pad:
        for (std::size_t d = 0; d < 4; ++d)
            if (p.padding[2 * d] != 0 || p.padding[2 * d + 1] != 0) {
                box.origin[d] = 0;
                box.extent[d] = static_cast<std::uint32_t>(in[d]);
            }
        return box;
    case Operator::MaxPool2D:
    case Operator::AvgPool2D:
    case Operator::DepthwiseConv2D:
    case Operator::Im2Col: {
        // Depthwise output channel o = c * M + m reads input channel c only: a tile of output
        // channels [o0, o1) needs input channels [o0 / M, (o1 - 1) / M], their weights
        // [KH, KW, c, M] and its own slice of the bias.
        const bool depthwise = k.kind == Operator::DepthwiseConv2D;
        const std::uint64_t mult =
            depthwise ? std::max<std::uint64_t>(1, k.output[3] / k.inputs[0][3]) : 1;
        const auto c0 = static_cast<std::uint32_t>(tile.origin[3] / mult);
        const auto c1 = static_cast<std::uint32_t>(
            (std::uint64_t{tile.origin[3]} + tile.extent[3] - 1) / mult + 1);
        if (depthwise && i == 1)
            return Box{{0, 0, c0, 0},
                       {static_cast<std::uint32_t>(in[0]), static_cast<std::uint32_t>(in[1]),
                        c1 - c0, static_cast<std::uint32_t>(in[3])}};
        if (depthwise && i == 2)
            return Box{{0, 0, 0, tile.origin[3]}, {1, 1, 1, tile.extent[3]}};
        std::tie(box.origin[1], box.extent[1]) = detail::windowRange(
            tile.origin[1], tile.extent[1], p.strideH, p.dilationH, p.kernelH, p.padTop, in[1]);
        std::tie(box.origin[2], box.extent[2]) = detail::windowRange(
            tile.origin[2], tile.extent[2], p.strideW, p.dilationW, p.kernelW, p.padLeft, in[2]);
        if (depthwise)
            box.origin[3] = c0, box.extent[3] = c1 - c0;
        else if (k.kind == Operator::Im2Col)
            box.origin[3] = 0, box.extent[3] = static_cast<std::uint32_t>(in[3]);
        return box;
    }
    default: // elementwise (and softmax, layernorm's x, gamma, beta): numpy broadcasting
        for (std::size_t d = 0; d < 4; ++d)
            if (in[d] == 1 && k.output[d] != 1)
                box.origin[d] = 0, box.extent[d] = 1;
        return box;
    }
}

// The region of the output a tile writes. For every kind but Im2Col the tile itself (MatMul:
// the m x n block); Im2Col tiles are contiguous runs of [N, OH, OW] and write those rows of the
// patch matrix.
inline Box outputBox(const KernelShape& k, const Box& tile) {
    if (k.kind == Operator::MatMul)
        return matMulOperandBox(MatMulOperand::C, matMulTile(tile), k.output, true);
    if (k.kind != Operator::Im2Col)
        return tile;
    const auto& o = tile.origin;
    const auto& e = tile.extent;
    const std::uint64_t firstRow =
        (std::uint64_t{o[0]} * k.iteration[1] + o[1]) * k.iteration[2] + o[2];
    return Box{{0, 0, static_cast<std::uint32_t>(firstRow), 0},
               {1, 1, e[0] * e[1] * e[2], static_cast<std::uint32_t>(k.output[3])}};
}

} // namespace kpu::dfx
