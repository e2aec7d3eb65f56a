// Vector kernels: every operator computed tile by tile (the output split into several tiles, each
// tile's input blocks built from the tile contracts of vector_kernels.h) against a plain
// whole-tensor loop in double; and the GEMM epilogue.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kpu/common/float_convert.h"
#include "kpu/simulator/vector_kernels.h"

namespace kpu::sim {
namespace {

using View = std::array<std::uint64_t, 4>;
using Coord = std::array<std::int64_t, 4>;

// A whole tensor in its 4-D view, values held in double (already representable in `dtype`).
struct Tensor {
    View view{1, 1, 1, 1};
    DType dtype = DType::F32;
    std::vector<double> v;

    std::int64_t dim(int d) const { return static_cast<std::int64_t>(view[d]); }
    std::size_t index(const Coord& c) const {
        std::int64_t i = 0;
        for (int d = 0; d < 4; ++d)
            i = i * dim(d) + c[d];
        return static_cast<std::size_t>(i);
    }
    double& at(const Coord& c) { return v[index(c)]; }
    double at(const Coord& c) const { return v[index(c)]; }
    std::size_t size() const { return v.size(); }
};

double roundTo(DType t, double x) {
    double out = 0;
    switch (t) {
    case DType::F16: {
        std::uint16_t h = 0;
        convertFromF64(t, &x, &h, 1);
        convertToF64(t, &h, &out, 1);
        return out;
    }
    case DType::F32:
        return static_cast<double>(static_cast<float>(x));
    default:
        return x;
    }
}

// Random values in [lo, hi), with |x| >= awayFromZero, rounded to the dtype.
Tensor randomTensor(View view, DType dtype, std::uint32_t seed, double lo = -2, double hi = 2,
                    double awayFromZero = 0) {
    Tensor t{view, dtype, {}};
    t.v.resize(view[0] * view[1] * view[2] * view[3]);
    std::mt19937 gen(seed);
    std::uniform_real_distribution<double> dist(lo, hi);
    for (double& x : t.v) {
        do
            x = dist(gen);
        while (std::abs(x) < awayFromZero);
        x = roundTo(dtype, x);
    }
    return t;
}

Tensor zeros(View view, DType dtype) {
    return Tensor{view, dtype, std::vector<double>(view[0] * view[1] * view[2] * view[3], 0.0)};
}

template <class F>
void forEach(const View& view, F f) {
    Coord c{};
    for (c[0] = 0; c[0] < static_cast<std::int64_t>(view[0]); ++c[0])
        for (c[1] = 0; c[1] < static_cast<std::int64_t>(view[1]); ++c[1])
            for (c[2] = 0; c[2] < static_cast<std::int64_t>(view[2]); ++c[2])
                for (c[3] = 0; c[3] < static_cast<std::int64_t>(view[3]); ++c[3])
                    f(c);
}

struct Box {
    Coord origin{}, extent{1, 1, 1, 1};
};

Box wholeBox(const View& v) {
    Box b;
    for (int d = 0; d < 4; ++d)
        b.extent[d] = static_cast<std::int64_t>(v[d]);
    return b;
}

// Splits the view into parts[d] nearly equal pieces along each dim.
std::vector<Box> splitTiles(const View& view, std::array<int, 4> parts) {
    std::array<std::vector<std::pair<std::int64_t, std::int64_t>>, 4> ranges;
    for (int d = 0; d < 4; ++d) {
        const auto n = static_cast<std::int64_t>(view[d]);
        const std::int64_t p = std::min<std::int64_t>(parts[d], n);
        for (std::int64_t i = 0; i < p; ++i)
            ranges[d].emplace_back(n * i / p, n * (i + 1) / p - n * i / p);
    }
    std::vector<Box> tiles;
    for (auto r0 : ranges[0])
        for (auto r1 : ranges[1])
            for (auto r2 : ranges[2])
                for (auto r3 : ranges[3])
                    tiles.push_back(Box{{r0.first, r1.first, r2.first, r3.first},
                                        {r0.second, r1.second, r2.second, r3.second}});
    return tiles;
}

std::vector<std::uint8_t> pack(const Tensor& t, const Box& box) {
    std::vector<double> vals;
    Coord c{};
    for (c[0] = box.origin[0]; c[0] < box.origin[0] + box.extent[0]; ++c[0])
        for (c[1] = box.origin[1]; c[1] < box.origin[1] + box.extent[1]; ++c[1])
            for (c[2] = box.origin[2]; c[2] < box.origin[2] + box.extent[2]; ++c[2])
                for (c[3] = box.origin[3]; c[3] < box.origin[3] + box.extent[3]; ++c[3])
                    vals.push_back(t.at(c));
    // One spare element so an empty block still has a valid address.
    std::vector<std::uint8_t> bytes((vals.size() + 1) * dtypeSize(t.dtype));
    convertFromF64(t.dtype, vals.data(), bytes.data(), vals.size());
    return bytes;
}

VectorOperand operand(const Tensor& t, const Box& box) {
    VectorOperand v;
    v.dtype = t.dtype;
    v.view = t.view;
    for (int d = 0; d < 4; ++d) {
        v.origin[d] = static_cast<std::uint32_t>(box.origin[d]);
        v.extent[d] = static_cast<std::uint32_t>(box.extent[d]);
    }
    return v;
}

// The input box of input i that the tile `out` needs.
using InputBoxFn = std::function<Box(std::size_t, const Box&)>;

// Runs the op tile by tile and returns the whole output (values converted back to double).
Tensor runTiled(Operator kind, const OpParams& params, const std::vector<Tensor>& inputs,
                View outView, DType outType, const std::vector<Box>& tiles,
                const InputBoxFn& inputBox) {
    Tensor result = zeros(outView, outType);
    std::vector<int> covered(result.size(), 0);
    for (const Box& tile : tiles) {
        VectorOp op;
        op.kind = kind;
        op.params = params;
        std::vector<std::vector<std::uint8_t>> blocks;
        for (std::size_t i = 0; i < inputs.size(); ++i) {
            const Box b = inputBox(i, tile);
            op.inputs.push_back(operand(inputs[i], b));
            blocks.push_back(pack(inputs[i], b));
        }
        Tensor outShape{outView, outType, {}};
        op.output = operand(outShape, tile);
        std::vector<const std::uint8_t*> ptrs;
        for (const auto& b : blocks)
            ptrs.push_back(b.data());
        const std::size_t count = static_cast<std::size_t>(tile.extent[0] * tile.extent[1] *
                                                           tile.extent[2] * tile.extent[3]);
        std::vector<std::uint8_t> out((count + 1) * dtypeSize(outType), 0xAB);
        executeVectorOp(op, ptrs, out.data());
        std::vector<double> vals(count);
        convertToF64(outType, out.data(), vals.data(), count);
        std::size_t k = 0;
        Coord c{};
        for (c[0] = tile.origin[0]; c[0] < tile.origin[0] + tile.extent[0]; ++c[0])
            for (c[1] = tile.origin[1]; c[1] < tile.origin[1] + tile.extent[1]; ++c[1])
                for (c[2] = tile.origin[2]; c[2] < tile.origin[2] + tile.extent[2]; ++c[2])
                    for (c[3] = tile.origin[3]; c[3] < tile.origin[3] + tile.extent[3]; ++c[3]) {
                        result.at(c) = vals[k++];
                        ++covered[result.index(c)];
                    }
    }
    for (int n : covered)
        EXPECT_EQ(n, 1) << "tiles must cover the output exactly once";
    return result;
}

// Tolerance of a result stored as `t` and computed in f32 (f64 when `f64`).
double tolerance(DType t, bool f64, double ref) {
    if (t == DType::F16)
        return 1e-3 + 1e-3 * std::abs(ref);
    if (t == DType::F64 && f64)
        return 1e-12 + 1e-12 * std::abs(ref);
    return 1e-5 + 2e-6 * std::abs(ref);
}

void expectNear(const Tensor& got, const Tensor& ref, bool f64, const std::string& what) {
    ASSERT_EQ(got.size(), ref.size()) << what;
    int failures = 0;
    for (std::size_t i = 0; i < got.size() && failures < 10; ++i) {
        const double tol = tolerance(got.dtype, f64, ref.v[i]);
        if (!(std::abs(got.v[i] - ref.v[i]) <= tol)) {
            ADD_FAILURE() << what << ": element " << i << " got " << got.v[i] << " expected "
                          << ref.v[i];
            ++failures;
        }
    }
}

// ---- Tile contracts -----------------------------------------------------------------------

// Elementwise broadcasting: a view dim of 1 gives [0, 1), otherwise the tile's range.
Box broadcastBox(const View& in, const Box& tile) {
    Box b = tile;
    for (int d = 0; d < 4; ++d)
        if (in[d] == 1) {
            b.origin[d] = 0;
            b.extent[d] = 1;
        }
    return b;
}

InputBoxFn broadcastBoxes(const std::vector<Tensor>& inputs) {
    return [&inputs](std::size_t i, const Box& tile) { return broadcastBox(inputs[i].view, tile); };
}

// The tile with the full extent of the input along the given dims.
Box fullAlong(const View& in, const Box& tile, std::initializer_list<int> dims) {
    Box b = tile;
    for (int d : dims) {
        b.origin[d] = 0;
        b.extent[d] = static_cast<std::int64_t>(in[d]);
    }
    return b;
}

struct Conv {
    std::int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, top = 0, bottom = 0, left = 0,
                 right = 0;

    OpParams params() const {
        OpParams p;
        p.kernelH = static_cast<std::uint32_t>(kh);
        p.kernelW = static_cast<std::uint32_t>(kw);
        p.strideH = static_cast<std::uint32_t>(sh);
        p.strideW = static_cast<std::uint32_t>(sw);
        p.dilationH = static_cast<std::uint32_t>(dh);
        p.dilationW = static_cast<std::uint32_t>(dw);
        p.padTop = static_cast<std::uint32_t>(top);
        p.padBottom = static_cast<std::uint32_t>(bottom);
        p.padLeft = static_cast<std::uint32_t>(left);
        p.padRight = static_cast<std::uint32_t>(right);
        return p;
    }
    std::int64_t outH(std::int64_t h) const {
        return (h + top + bottom - dh * (kh - 1) - 1) / sh + 1;
    }
    std::int64_t outW(std::int64_t w) const {
        return (w + left + right - dw * (kw - 1) - 1) / sw + 1;
    }
};

// The rows/cols of x [N,H,W,C] that output positions (n, oh, ow) in the given lists read,
// clipped to the input (an empty box when every window lies in the padding).
Box windowBox(const View& x, const Conv& cv, std::int64_t n0, std::int64_t n1,
              const std::vector<std::pair<std::int64_t, std::int64_t>>& positions) {
    std::int64_t hLo = std::numeric_limits<std::int64_t>::max(), hHi = -1;
    std::int64_t wLo = hLo, wHi = -1;
    for (auto [oh, ow] : positions) {
        for (std::int64_t ky = 0; ky < cv.kh; ++ky) {
            const std::int64_t ih = oh * cv.sh - cv.top + ky * cv.dh;
            if (ih >= 0 && ih < static_cast<std::int64_t>(x[1])) {
                hLo = std::min(hLo, ih);
                hHi = std::max(hHi, ih);
            }
        }
        for (std::int64_t kx = 0; kx < cv.kw; ++kx) {
            const std::int64_t iw = ow * cv.sw - cv.left + kx * cv.dw;
            if (iw >= 0 && iw < static_cast<std::int64_t>(x[2])) {
                wLo = std::min(wLo, iw);
                wHi = std::max(wHi, iw);
            }
        }
    }
    Box b;
    b.origin = {n0, 0, 0, 0};
    b.extent = {n1 - n0, 0, 0, static_cast<std::int64_t>(x[3])};
    if (hHi >= 0 && wHi >= 0) {
        b.origin[1] = hLo;
        b.extent[1] = hHi - hLo + 1;
        b.origin[2] = wLo;
        b.extent[2] = wHi - wLo + 1;
    }
    return b;
}

Box spatialWindowBox(const View& x, const Conv& cv, const Box& tile) {
    std::vector<std::pair<std::int64_t, std::int64_t>> pos;
    for (std::int64_t oh = tile.origin[1]; oh < tile.origin[1] + tile.extent[1]; ++oh)
        for (std::int64_t ow = tile.origin[2]; ow < tile.origin[2] + tile.extent[2]; ++ow)
            pos.emplace_back(oh, ow);
    return windowBox(x, cv, tile.origin[0], tile.origin[0] + tile.extent[0], pos);
}

// ---- Elementwise --------------------------------------------------------------------------

double binaryRef(Operator k, double a, double b) {
    switch (k) {
    case Operator::Add:
        return a + b;
    case Operator::Sub:
        return a - b;
    case Operator::Mul:
        return a * b;
    default:
        return a / b;
    }
}

Tensor binaryReference(Operator k, const Tensor& a, const Tensor& b, View outView, DType outType) {
    Tensor r = zeros(outView, outType);
    forEach(outView, [&](const Coord& c) {
        Coord ca = c, cb = c;
        for (int d = 0; d < 4; ++d) {
            if (a.view[d] == 1)
                ca[d] = 0;
            if (b.view[d] == 1)
                cb[d] = 0;
        }
        r.at(c) = roundTo(outType, binaryRef(k, a.at(ca), b.at(cb)));
    });
    return r;
}

struct BinaryCase {
    View a, b, out;
    DType aType, bType, outType;
    std::array<int, 4> parts;
};

TEST(VectorKernels, BinaryBroadcastingTiled) {
    const std::vector<BinaryCase> cases = {
        {{2, 3, 4, 5},
         {2, 3, 4, 5},
         {2, 3, 4, 5},
         DType::F32,
         DType::F32,
         DType::F32,
         {2, 1, 2, 2}},
        {{2, 3, 4, 5},
         {1, 3, 1, 5},
         {2, 3, 4, 5},
         DType::F32,
         DType::F32,
         DType::F32,
         {1, 2, 2, 2}},
        {{2, 3, 4, 5},
         {1, 1, 1, 1},
         {2, 3, 4, 5},
         DType::F32,
         DType::F32,
         DType::F32,
         {2, 2, 1, 1}},
        {{2, 1, 4, 1},
         {1, 3, 1, 5},
         {2, 3, 4, 5},
         DType::F32,
         DType::F32,
         DType::F32,
         {1, 2, 2, 3}},
        {{1, 1, 3, 1},
         {1, 1, 3, 7},
         {1, 1, 3, 7},
         DType::F16,
         DType::F32,
         DType::F16,
         {1, 1, 3, 2}},
        {{1, 2, 3, 4},
         {1, 1, 1, 4},
         {1, 2, 3, 4},
         DType::F64,
         DType::F32,
         DType::F64,
         {1, 2, 1, 2}},
        {{1, 2, 3, 4},
         {1, 2, 3, 4},
         {1, 2, 3, 4},
         DType::F16,
         DType::F16,
         DType::F64,
         {1, 2, 3, 1}},
        {{1, 1, 1, 1},
         {1, 1, 1, 1},
         {1, 1, 1, 1},
         DType::F32,
         DType::F32,
         DType::F32,
         {1, 1, 1, 1}},
    };
    std::uint32_t seed = 1;
    for (const BinaryCase& bc : cases) {
        for (Operator k : {Operator::Add, Operator::Sub, Operator::Mul, Operator::Div}) {
            std::vector<Tensor> in = {randomTensor(bc.a, bc.aType, seed++),
                                      randomTensor(bc.b, bc.bType, seed++, -2, 2, 0.25)};
            const Tensor got = runTiled(k, OpParams{}, in, bc.out, bc.outType,
                                        splitTiles(bc.out, bc.parts), broadcastBoxes(in));
            const bool f64 =
                bc.aType == DType::F64 || bc.bType == DType::F64 || bc.outType == DType::F64;
            expectNear(got, binaryReference(k, in[0], in[1], bc.out, bc.outType), f64,
                       std::string(operatorName(k)) + " case " + std::to_string(seed));
        }
    }
}

TEST(VectorKernels, F64OperandSwitchesComputeToF64) {
    // 1 + 1e-9 is not representable in f32: only an f64 computation keeps it.
    Tensor a{{1, 1, 1, 2}, DType::F64, {1.0, 2.0}};
    Tensor b{{1, 1, 1, 2}, DType::F32, {1e-9, 3e-9}};
    std::vector<Tensor> in = {a, b};
    const Tensor got = runTiled(Operator::Add, OpParams{}, in, {1, 1, 1, 2}, DType::F64,
                                splitTiles({1, 1, 1, 2}, {1, 1, 1, 2}), broadcastBoxes(in));
    EXPECT_EQ(got.v[0], 1.0 + static_cast<double>(static_cast<float>(1e-9)));
    EXPECT_EQ(got.v[1], 2.0 + static_cast<double>(static_cast<float>(3e-9)));
}

double unaryRef(Operator k, double x, const OpParams& p) {
    switch (k) {
    case Operator::Exp:
        return std::exp(x);
    case Operator::Reciprocal:
        return 1 / x;
    case Operator::Sigmoid:
        return 1 / (1 + std::exp(-x));
    case Operator::Relu:
        return std::max(x, 0.0);
    case Operator::Clamp:
        return std::min(std::max(x, p.min), p.max);
    case Operator::Gelu:
        return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case Operator::Tanh:
        return std::tanh(x);
    case Operator::Negate:
        return -x;
    default:
        return std::abs(x);
    }
}

TEST(VectorKernels, UnaryTiled) {
    const std::vector<Operator> ops = {Operator::Exp,  Operator::Reciprocal, Operator::Sigmoid,
                                       Operator::Relu, Operator::Clamp,      Operator::Gelu,
                                       Operator::Tanh, Operator::Negate,     Operator::Abs};
    struct Case {
        View view;
        DType in, out;
        std::array<int, 4> parts;
    };
    const std::vector<Case> cases = {
        {{2, 3, 4, 5}, DType::F32, DType::F32, {2, 2, 1, 2}},
        {{1, 1, 6, 9}, DType::F16, DType::F32, {1, 1, 3, 2}},
        {{1, 1, 6, 9}, DType::F32, DType::F16, {1, 1, 2, 3}},
        {{1, 4, 1, 3}, DType::F64, DType::F64, {1, 2, 1, 2}},
        {{1, 1, 1, 1}, DType::F32, DType::F32, {1, 1, 1, 1}},
    };
    OpParams params;
    params.min = -0.5;
    params.max = 0.75;
    std::uint32_t seed = 100;
    for (const Case& c : cases)
        for (Operator k : ops) {
            std::vector<Tensor> in = {randomTensor(c.view, c.in, seed++, -3, 3, 0.1)};
            const Tensor got = runTiled(k, params, in, c.view, c.out, splitTiles(c.view, c.parts),
                                        broadcastBoxes(in));
            Tensor ref = zeros(c.view, c.out);
            for (std::size_t i = 0; i < ref.size(); ++i)
                ref.v[i] = roundTo(c.out, unaryRef(k, in[0].v[i], params));
            expectNear(got, ref, c.in == DType::F64, std::string(operatorName(k)));
        }
}

// ---- Data layout --------------------------------------------------------------------------

TEST(VectorKernels, TransposeTiled) {
    const std::vector<std::array<std::uint8_t, 4>> perms = {
        {0, 1, 2, 3}, {0, 2, 3, 1}, {3, 1, 0, 2}, {0, 1, 3, 2}, {2, 3, 0, 1}};
    const View inView{2, 3, 4, 5};
    std::uint32_t seed = 200;
    for (DType t : {DType::F32, DType::F16}) {
        for (const auto& perm : perms) {
            std::vector<Tensor> in = {randomTensor(inView, t, seed++)};
            View outView{};
            OpParams p;
            for (int d = 0; d < 4; ++d) {
                outView[d] = inView[perm[d]];
                p.perm[d] = perm[d];
            }
            const Tensor got =
                runTiled(Operator::Transpose, p, in, outView, t, splitTiles(outView, {2, 2, 2, 2}),
                         [&](std::size_t, const Box& tile) {
                             Box b;
                             for (int d = 0; d < 4; ++d) {
                                 b.origin[perm[d]] = tile.origin[d];
                                 b.extent[perm[d]] = tile.extent[d];
                             }
                             return b;
                         });
            Tensor ref = zeros(outView, t);
            forEach(outView, [&](const Coord& c) {
                Coord j{};
                for (int d = 0; d < 4; ++d)
                    j[perm[d]] = c[d];
                ref.at(c) = in[0].at(j);
            });
            expectNear(got, ref, false, "transpose");
        }
    }
}

TEST(VectorKernels, ConcatTiled) {
    std::uint32_t seed = 300;
    for (int axis : {0, 1, 2, 3}) {
        View base{2, 3, 4, 5};
        std::vector<Tensor> in;
        View outView = base;
        outView[axis] = 0;
        for (std::uint64_t len : {2u, 1u, 3u}) {
            View v = base;
            v[axis] = len;
            outView[axis] += len;
            in.push_back(randomTensor(v, in.empty() ? DType::F16 : DType::F32, seed++));
        }
        OpParams p;
        p.axis = axis;
        std::array<int, 4> parts{2, 2, 2, 2};
        parts[axis] = 3; // tiles that straddle inputs along the axis
        const Tensor got = runTiled(
            Operator::Concat, p, in, outView, DType::F32, splitTiles(outView, parts),
            [&](std::size_t i, const Box& tile) { return fullAlong(in[i].view, tile, {axis}); });
        Tensor ref = zeros(outView, DType::F32);
        forEach(outView, [&](const Coord& c) {
            Coord j = c;
            std::size_t i = 0;
            while (j[axis] >= in[i].dim(axis)) {
                j[axis] -= in[i].dim(axis);
                ++i;
            }
            ref.at(c) = in[i].at(j);
        });
        expectNear(got, ref, false, "concat axis " + std::to_string(axis));
    }
}

TEST(VectorKernels, PadTiled) {
    struct Case {
        View in;
        std::array<std::uint32_t, 8> padding;
        std::array<int, 4> parts;
    };
    const std::vector<Case> cases = {
        {{1, 3, 4, 5}, {0, 0, 1, 2, 0, 1, 2, 1}, {1, 2, 3, 2}},
        {{2, 3, 4, 5}, {1, 0, 0, 0, 3, 0, 0, 0}, {3, 2, 2, 1}},
        {{1, 1, 1, 1}, {1, 1, 0, 0, 1, 1, 2, 2}, {2, 1, 2, 2}},
        {{1, 1, 2, 3}, {0, 0, 0, 0, 0, 0, 0, 0}, {1, 1, 2, 2}},
    };
    std::uint32_t seed = 400;
    for (const Case& c : cases) {
        std::vector<Tensor> in = {randomTensor(c.in, DType::F32, seed++)};
        OpParams p;
        p.padValue = 0.5;
        View outView{};
        for (int d = 0; d < 4; ++d) {
            p.padding[2 * d] = c.padding[2 * d];
            p.padding[2 * d + 1] = c.padding[2 * d + 1];
            outView[d] = c.in[d] + c.padding[2 * d] + c.padding[2 * d + 1];
        }
        const Tensor got =
            runTiled(Operator::Pad, p, in, outView, DType::F32, splitTiles(outView, c.parts),
                     [&](std::size_t, const Box& tile) {
                         // Padded dims: the whole input; others: the tile's range.
                         Box b = tile;
                         for (int d = 0; d < 4; ++d)
                             if (c.padding[2 * d] + c.padding[2 * d + 1] != 0) {
                                 b.origin[d] = 0;
                                 b.extent[d] = static_cast<std::int64_t>(c.in[d]);
                             }
                         return b;
                     });
        Tensor ref = zeros(outView, DType::F32);
        forEach(outView, [&](const Coord& o) {
            Coord j{};
            bool inside = true;
            for (int d = 0; d < 4; ++d) {
                j[d] = o[d] - c.padding[2 * d];
                inside = inside && j[d] >= 0 && j[d] < in[0].dim(d);
            }
            ref.at(o) = inside ? in[0].at(j) : 0.5;
        });
        expectNear(got, ref, false, "pad");
    }
}

// ---- Reductions ---------------------------------------------------------------------------

TEST(VectorKernels, ReductionsTiled) {
    std::uint32_t seed = 500;
    for (View inView : {View{2, 3, 4, 5}, View{1, 1, 1, 1}, View{3, 1, 2, 7}})
        for (int axis : {0, 1, 2, 3})
            for (Operator k : {Operator::ReduceSum, Operator::ReduceMax, Operator::ReduceMin}) {
                std::vector<Tensor> in = {randomTensor(inView, DType::F16, seed++)};
                View outView = inView;
                outView[axis] = 1;
                OpParams p;
                p.axis = axis == 3 && seed % 2 ? -1 : axis;
                const Tensor got = runTiled(
                    k, p, in, outView, DType::F32, splitTiles(outView, {2, 2, 2, 2}),
                    [&](std::size_t, const Box& tile) { return fullAlong(inView, tile, {axis}); });
                Tensor ref = zeros(outView, DType::F32);
                forEach(outView, [&](const Coord& o) {
                    Coord j = o;
                    double acc = k == Operator::ReduceSum ? 0.0 : in[0].at(j);
                    for (j[axis] = 0; j[axis] < in[0].dim(axis); ++j[axis]) {
                        const double x = in[0].at(j);
                        acc = k == Operator::ReduceSum   ? acc + x
                              : k == Operator::ReduceMax ? std::max(acc, x)
                                                         : std::min(acc, x);
                    }
                    ref.at(o) = roundTo(DType::F32, acc);
                });
                expectNear(got, ref, false,
                           std::string(operatorName(k)) + " axis " + std::to_string(axis));
            }
}

TEST(VectorKernels, SoftmaxTiled) {
    std::uint32_t seed = 600;
    for (View view : {View{2, 3, 4, 5}, View{1, 1, 1, 1}, View{1, 2, 1, 9}})
        for (int axis : {0, 1, 2, 3})
            for (DType t : {DType::F32, DType::F16, DType::F64}) {
                std::vector<Tensor> in = {randomTensor(view, t, seed++, -4, 4)};
                OpParams p;
                p.axis = axis;
                // Tiles may split the axis of the output; the input block holds it whole.
                const Tensor got = runTiled(
                    Operator::Softmax, p, in, view, t, splitTiles(view, {2, 2, 2, 2}),
                    [&](std::size_t, const Box& tile) { return fullAlong(view, tile, {axis}); });
                Tensor ref = zeros(view, t);
                forEach(view, [&](const Coord& o) {
                    Coord j = o;
                    double mx = -INFINITY, sum = 0;
                    for (j[axis] = 0; j[axis] < in[0].dim(axis); ++j[axis])
                        mx = std::max(mx, in[0].at(j));
                    for (j[axis] = 0; j[axis] < in[0].dim(axis); ++j[axis])
                        sum += std::exp(in[0].at(j) - mx);
                    ref.at(o) = roundTo(t, std::exp(in[0].at(o) - mx) / sum);
                });
                expectNear(got, ref, t == DType::F64, "softmax axis " + std::to_string(axis));
            }
}

TEST(VectorKernels, LayerNormTiled) {
    std::uint32_t seed = 700;
    const View view{2, 3, 4, 6};
    for (int axis : {0, 1, 2, 3})
        for (std::size_t inputs = 1; inputs <= 3; ++inputs)
            for (DType t : {DType::F32, DType::F16, DType::F64}) {
                View pv{1, 1, 1, 1};
                for (int d = axis; d < 4; ++d)
                    pv[d] = view[d];
                std::vector<Tensor> in = {randomTensor(view, t, seed++, -3, 3)};
                if (inputs > 1)
                    in.push_back(randomTensor(pv, DType::F32, seed++, 0.5, 1.5));
                if (inputs > 2)
                    in.push_back(randomTensor(pv, DType::F16, seed++));
                OpParams p;
                p.axis = axis;
                p.epsilon = 1e-3;
                std::array<int, 4> parts{2, 2, 1, 3};
                const Tensor got =
                    runTiled(Operator::LayerNorm, p, in, view, t, splitTiles(view, parts),
                             [&](std::size_t i, const Box& tile) {
                                 if (i > 0)
                                     return broadcastBox(in[i].view, tile);
                                 Box b = tile;
                                 for (int d = axis; d < 4; ++d) {
                                     b.origin[d] = 0;
                                     b.extent[d] = static_cast<std::int64_t>(view[d]);
                                 }
                                 return b;
                             });
                Tensor ref = zeros(view, t);
                forEach(view, [&](const Coord& o) {
                    View group{1, 1, 1, 1};
                    for (int d = axis; d < 4; ++d)
                        group[d] = view[d];
                    double sum = 0, sq = 0, count = 0;
                    forEach(group, [&](const Coord& g) {
                        Coord j = o;
                        for (int d = axis; d < 4; ++d)
                            j[d] = g[d];
                        sum += in[0].at(j);
                        ++count;
                    });
                    const double mean = sum / count;
                    forEach(group, [&](const Coord& g) {
                        Coord j = o;
                        for (int d = axis; d < 4; ++d)
                            j[d] = g[d];
                        sq += (in[0].at(j) - mean) * (in[0].at(j) - mean);
                    });
                    Coord pc{0, 0, 0, 0};
                    for (int d = axis; d < 4; ++d)
                        pc[d] = o[d];
                    double y = (in[0].at(o) - mean) / std::sqrt(sq / count + p.epsilon);
                    if (inputs > 1)
                        y *= in[1].at(pc);
                    if (inputs > 2)
                        y += in[2].at(pc);
                    ref.at(o) = roundTo(t, y);
                });
                expectNear(got, ref, t == DType::F64,
                           "layernorm axis " + std::to_string(axis) + " inputs " +
                               std::to_string(inputs));
            }
}

// ---- Windows ------------------------------------------------------------------------------

struct WindowCase {
    View x;
    Conv cv;
    std::array<int, 4> parts;
};

const std::vector<WindowCase>& windowCases() {
    static const std::vector<WindowCase> cases = {
        // stride 2, kernel 3, asymmetric padding (bottom/right only)
        {{2, 7, 6, 3}, Conv{3, 3, 2, 2, 1, 1, 0, 1, 0, 1}, {2, 2, 2, 2}},
        // padding 1 all round, stride 1
        {{1, 5, 6, 4}, Conv{3, 3, 1, 1, 1, 1, 1, 1, 1, 1}, {1, 3, 2, 2}},
        // non-square kernel, stride (1, 2), padding only top/left
        {{1, 6, 7, 2}, Conv{2, 3, 1, 2, 1, 1, 1, 0, 2, 0}, {1, 2, 2, 1}},
        // one element
        {{1, 1, 1, 1}, Conv{1, 1, 1, 1, 1, 1, 0, 0, 0, 0}, {1, 1, 1, 1}},
        // kernel larger than input with heavy padding
        {{1, 2, 2, 3}, Conv{3, 3, 1, 1, 1, 1, 2, 2, 2, 2}, {1, 3, 3, 1}},
    };
    return cases;
}

TEST(VectorKernels, PoolsTiled) {
    std::uint32_t seed = 800;
    for (const WindowCase& wc : windowCases())
        for (Operator k : {Operator::MaxPool2D, Operator::AvgPool2D})
            for (DType t : {DType::F32, DType::F16}) {
                std::vector<Tensor> in = {randomTensor(wc.x, t, seed++)};
                const Conv& cv = wc.cv;
                const View outView{wc.x[0], static_cast<std::uint64_t>(cv.outH(in[0].dim(1))),
                                   static_cast<std::uint64_t>(cv.outW(in[0].dim(2))), wc.x[3]};
                const Tensor got =
                    runTiled(k, cv.params(), in, outView, t, splitTiles(outView, wc.parts),
                             [&](std::size_t, const Box& tile) {
                                 Box b = spatialWindowBox(wc.x, cv, tile);
                                 b.origin[3] = tile.origin[3];
                                 b.extent[3] = tile.extent[3];
                                 return b;
                             });
                Tensor ref = zeros(outView, t);
                forEach(outView, [&](const Coord& o) {
                    double acc = k == Operator::MaxPool2D ? -INFINITY : 0.0;
                    int count = 0;
                    for (std::int64_t ky = 0; ky < cv.kh; ++ky)
                        for (std::int64_t kx = 0; kx < cv.kw; ++kx) {
                            const std::int64_t ih = o[1] * cv.sh - cv.top + ky;
                            const std::int64_t iw = o[2] * cv.sw - cv.left + kx;
                            if (ih < 0 || ih >= in[0].dim(1) || iw < 0 || iw >= in[0].dim(2))
                                continue;
                            const double x = in[0].at({o[0], ih, iw, o[3]});
                            acc = k == Operator::MaxPool2D ? std::max(acc, x) : acc + x;
                            ++count;
                        }
                    ASSERT_GT(count, 0);
                    ref.at(o) = roundTo(t, k == Operator::MaxPool2D ? acc : acc / count);
                });
                expectNear(got, ref, false, std::string(operatorName(k)));
            }
}

TEST(VectorKernels, DepthwiseConvTiled) {
    std::uint32_t seed = 900;
    std::vector<WindowCase> cases = windowCases();
    // dilation 2 with padding 1 all round
    cases.push_back({{1, 7, 8, 3}, Conv{3, 3, 1, 1, 2, 2, 1, 1, 1, 1}, {1, 2, 2, 2}});
    // dilation 2 with stride 2 and asymmetric padding
    cases.push_back({{2, 9, 8, 2}, Conv{3, 2, 2, 2, 2, 2, 0, 1, 0, 1}, {2, 2, 2, 1}});
    for (const WindowCase& wc : cases)
        for (std::uint64_t mult : {1u, 2u, 3u})
            for (bool withBias : {false, true})
                for (DType t : {DType::F32, DType::F16, DType::F64}) {
                    const Conv& cv = wc.cv;
                    const std::uint64_t c = wc.x[3];
                    std::vector<Tensor> in = {
                        randomTensor(wc.x, t, seed++),
                        randomTensor({static_cast<std::uint64_t>(cv.kh),
                                      static_cast<std::uint64_t>(cv.kw), c, mult},
                                     DType::F32, seed++)};
                    if (withBias)
                        in.push_back(randomTensor({1, 1, 1, c * mult}, DType::F32, seed++));
                    const View outView{wc.x[0], static_cast<std::uint64_t>(cv.outH(in[0].dim(1))),
                                       static_cast<std::uint64_t>(cv.outW(in[0].dim(2))), c * mult};
                    // Split the output channels in 3 so tiles start in the middle of a
                    // channel's multiplier group.
                    std::array<int, 4> parts = wc.parts;
                    parts[3] = 3;
                    const Tensor got = runTiled(
                        Operator::DepthwiseConv2D, cv.params(), in, outView, t,
                        splitTiles(outView, parts), [&](std::size_t i, const Box& tile) {
                            return i == 0 ? spatialWindowBox(wc.x, cv, tile) : wholeBox(in[i].view);
                        });
                    Tensor ref = zeros(outView, t);
                    forEach(outView, [&](const Coord& o) {
                        const std::int64_t ch = o[3] / static_cast<std::int64_t>(mult);
                        const std::int64_t m = o[3] % static_cast<std::int64_t>(mult);
                        double acc = withBias ? in[2].at({0, 0, 0, o[3]}) : 0.0;
                        for (std::int64_t ky = 0; ky < cv.kh; ++ky)
                            for (std::int64_t kx = 0; kx < cv.kw; ++kx) {
                                const std::int64_t ih = o[1] * cv.sh - cv.top + ky * cv.dh;
                                const std::int64_t iw = o[2] * cv.sw - cv.left + kx * cv.dw;
                                if (ih < 0 || ih >= in[0].dim(1) || iw < 0 || iw >= in[0].dim(2))
                                    continue;
                                acc += in[0].at({o[0], ih, iw, ch}) * in[1].at({ky, kx, ch, m});
                            }
                        ref.at(o) = roundTo(t, acc);
                    });
                    expectNear(got, ref, t == DType::F64,
                               "depthwise mult " + std::to_string(mult) +
                                   (withBias ? " bias" : ""));
                }
}

TEST(VectorKernels, Im2ColTiled) {
    std::uint32_t seed = 1000;
    std::vector<WindowCase> cases = windowCases();
    cases.push_back({{1, 7, 8, 3}, Conv{3, 3, 1, 1, 2, 2, 1, 1, 1, 1}, {}});
    cases.push_back({{2, 9, 8, 2}, Conv{3, 2, 2, 2, 2, 2, 0, 1, 0, 1}, {}});
    for (const WindowCase& wc : cases)
        for (DType t : {DType::F32, DType::F16, DType::F64}) {
            const Conv& cv = wc.cv;
            std::vector<Tensor> in = {randomTensor(wc.x, t, seed++)};
            const std::int64_t n = in[0].dim(0), oh = cv.outH(in[0].dim(1)),
                               ow = cv.outW(in[0].dim(2)), c = in[0].dim(3);
            const View outView{1, 1, static_cast<std::uint64_t>(n * oh * ow),
                               static_cast<std::uint64_t>(cv.kh * cv.kw * c)};
            // Row tiles that cut across output rows and images.
            const Tensor got = runTiled(
                Operator::Im2Col, cv.params(), in, outView, t, splitTiles(outView, {1, 1, 4, 1}),
                [&](std::size_t, const Box& tile) {
                    const std::int64_t r0 = tile.origin[2], r1 = r0 + tile.extent[2];
                    std::vector<std::pair<std::int64_t, std::int64_t>> pos;
                    for (std::int64_t r = r0; r < r1; ++r)
                        pos.emplace_back((r / ow) % oh, r % ow);
                    return windowBox(wc.x, cv, r0 / (oh * ow), (r1 - 1) / (oh * ow) + 1, pos);
                });
            Tensor ref = zeros(outView, t);
            forEach(outView, [&](const Coord& o) {
                const std::int64_t r = o[2], col = o[3];
                const std::int64_t img = r / (oh * ow), y = (r / ow) % oh, x = r % ow;
                const std::int64_t ky = col / (cv.kw * c), kx = (col / c) % cv.kw, ch = col % c;
                const std::int64_t ih = y * cv.sh - cv.top + ky * cv.dh;
                const std::int64_t iw = x * cv.sw - cv.left + kx * cv.dw;
                const bool inside = ih >= 0 && ih < in[0].dim(1) && iw >= 0 && iw < in[0].dim(2);
                ref.at(o) = inside ? in[0].at({img, ih, iw, ch}) : 0.0;
            });
            expectNear(got, ref, t == DType::F64, "im2col");
        }
}

// ---- Epilogue -----------------------------------------------------------------------------

double activationRef(Activation a, double x, double lo, double hi) {
    switch (a) {
    case Activation::None:
        return x;
    case Activation::Relu:
        return std::max(x, 0.0);
    case Activation::Clamp:
        return std::min(std::max(x, lo), hi);
    case Activation::Sigmoid:
        return 1 / (1 + std::exp(-x));
    case Activation::Gelu:
        return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case Activation::Tanh:
        return std::tanh(x);
    }
    return x;
}

TEST(VectorKernels, EpilogueF32AndF64) {
    const std::uint32_t m = 5, n = 7;
    const double lo = -0.25, hi = 0.5;
    std::mt19937 gen(42);
    std::uniform_real_distribution<double> dist(-3, 3);
    std::vector<double> c0(m * n), bias(n);
    for (double& x : c0)
        x = static_cast<double>(static_cast<float>(dist(gen)));
    for (double& x : bias)
        x = static_cast<double>(static_cast<float>(dist(gen)));
    for (Activation a : {Activation::None, Activation::Relu, Activation::Clamp, Activation::Sigmoid,
                         Activation::Gelu, Activation::Tanh})
        for (bool withBias : {false, true}) {
            std::vector<float> cf(c0.begin(), c0.end());
            std::vector<float> bf(bias.begin(), bias.end());
            std::vector<double> cd = c0;
            applyEpilogueF32(cf.data(), m, n, withBias ? bf.data() : nullptr, a, lo, hi);
            applyEpilogueF64(cd.data(), m, n, withBias ? bias.data() : nullptr, a, lo, hi);
            for (std::uint32_t i = 0; i < m; ++i)
                for (std::uint32_t j = 0; j < n; ++j) {
                    const double ref =
                        activationRef(a, c0[i * n + j] + (withBias ? bias[j] : 0.0), lo, hi);
                    EXPECT_NEAR(cf[i * n + j], ref, 1e-6 + 1e-6 * std::abs(ref))
                        << activationName(a) << " " << i << "," << j;
                    EXPECT_NEAR(cd[i * n + j], ref, 1e-14 + 1e-14 * std::abs(ref))
                        << activationName(a) << " " << i << "," << j;
                }
        }
    // Empty results are fine.
    applyEpilogueF32(nullptr, 0, 0, nullptr, Activation::Relu, 0, 0);
}

} // namespace
} // namespace kpu::sim
