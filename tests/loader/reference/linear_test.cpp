// MatMul, FullyConnected, Conv2D, DepthwiseConv2D and Im2Col against hand-computed values.
#include <numeric>

#include <gtest/gtest.h>

#include "graph_builder.h"

namespace kpu::loader {
namespace {

using dfx::KernelKind;
using test::expectValues;
using test::Graph;

std::vector<double> iota(std::size_t n, double start = 0) {
    std::vector<double> v(n);
    std::iota(v.begin(), v.end(), start);
    return v;
}

TEST(ReferenceMatMul, Plain) {
    Graph g;
    const auto a = g.input("a", {2, 3}, {1, 2, 3, 4, 5, 6});
    const auto b = g.input("b", {3, 2}, {7, 8, 9, 10, 11, 12});
    const auto o = g.tensor("o", {2, 2});
    g.node(KernelKind::MatMul, {a, b}, o);
    expectValues(g.result(o), {58, 64, 139, 154});
}

TEST(ReferenceMatMul, OneElement) {
    Graph g;
    const auto a = g.input("a", {1, 1}, {3});
    const auto b = g.input("b", {1, 1}, {-2});
    const auto o = g.tensor("o", {1, 1});
    g.node(KernelKind::MatMul, {a, b}, o);
    expectValues(g.result(o), {-6});
}

TEST(ReferenceMatMul, BatchedBothAndWithC) {
    Graph g;
    // Batch 0: identity times [1 2; 3 4]; batch 1: 2*identity times [5 6; 7 8].
    const auto a = g.input("a", {2, 2, 2}, {1, 0, 0, 1, 2, 0, 0, 2});
    const auto b = g.input("b", {2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
    const auto c = g.input("c", {2, 2, 2}, {100, 0, 0, 0, 0, 0, 0, -100});
    const auto o = g.tensor("o", {2, 2, 2});
    g.node(KernelKind::MatMul, {a, b, c}, o);
    expectValues(g.result(o), {101, 2, 3, 4, 10, 12, 14, -84});
}

TEST(ReferenceMatMul, BroadcastsEveryOperandOverTheBatch) {
    // B without batch dims, A with all-ones batch dims, C batched: each broadcasts.
    {
        Graph g;
        const auto a = g.input("a", {2, 1, 2}, {1, 2, 3, 4});
        const auto b = g.input("b", {2, 1}, {10, 1});
        const auto o = g.tensor("o", {2, 1, 1});
        g.node(KernelKind::MatMul, {a, b}, o);
        expectValues(g.result(o), {12, 34});
    }
    {
        Graph g;
        const auto a = g.input("a", {1, 1, 2}, {1, 2});
        const auto b = g.input("b", {3, 2, 1}, {1, 0, 0, 1, 1, 1});
        const auto c = g.input("c", {1, 1}, {0.5});
        const auto o = g.tensor("o", {3, 1, 1});
        g.node(KernelKind::MatMul, {a, b, c}, o);
        expectValues(g.result(o), {1.5, 2.5, 3.5});
    }
    {
        // Rank-4 output: A broadcast over the first batch dim, B over the second.
        Graph g;
        const auto a = g.input("a", {1, 2, 1, 1}, {1, 2});
        const auto b = g.input("b", {3, 1, 1, 1}, {10, 20, 30});
        const auto o = g.tensor("o", {3, 2, 1, 1});
        g.node(KernelKind::MatMul, {a, b}, o);
        expectValues(g.result(o), {10, 20, 20, 40, 30, 60});
    }
}

TEST(ReferenceMatMul, TransposeBBiasAndActivation) {
    Graph g;
    const auto a = g.input("a", {1, 2}, {1, 2});
    const auto bias = g.input("bias", {3}, {0.5, -10, 0});
    const auto b = g.input("b", {3, 2}, {1, 1, 2, 0, -1, -1}); // [N, K]
    const auto o = g.tensor("o", {1, 3});
    g.node(KernelKind::MatMul, {a, bias, b}, o);
    g.params().transpose_b = true;
    g.params().bias_input = 1;
    g.params().activation = dfx::Activation::Relu;
    // A·Bᵀ = [3, 2, -3]; + bias = [3.5, -8, -3]; relu.
    expectValues(g.result(o), {3.5, 0, 0});
}

TEST(ReferenceMatMul, EveryActivation) {
    const double pre = 0.75; // A·B + C + bias
    const std::vector<std::pair<dfx::Activation, double>> cases{
        {dfx::Activation::None, pre},
        {dfx::Activation::Relu, pre},
        {dfx::Activation::Clamp, 0.5},
        {dfx::Activation::Sigmoid, 1 / (1 + std::exp(-pre))},
        {dfx::Activation::Gelu, 0.5 * pre * (1 + std::erf(pre / std::sqrt(2.0)))},
        {dfx::Activation::Tanh, std::tanh(pre)}};
    for (const auto& [act, want] : cases) {
        Graph g;
        const auto a = g.input("a", {1, 1}, {0.5});
        const auto b = g.input("b", {1, 1}, {0.5});
        const auto c = g.input("c", {1, 1}, {0.25});
        const auto bias = g.input("bias", {1}, {0.25});
        const auto o = g.tensor("o", {1, 1});
        g.node(KernelKind::MatMul, {a, b, c, bias}, o);
        g.params().bias_input = 3;
        g.params().activation = act;
        g.params().min = -0.5;
        g.params().max = 0.5;
        expectValues(g.result(o), {want});
    }
}

TEST(ReferenceMatMul, ShapeErrorsNameTheNode) {
    Graph g;
    const auto a = g.input("a", {2, 3}, iota(6));
    const auto b = g.input("b", {4, 2}, iota(8));
    const auto o = g.tensor("o", {2, 2});
    const auto o2 = g.tensor("o2", {2, 2});
    g.node(KernelKind::Relu, {a}, g.tensor("r", {2, 3}), "first");
    g.node(KernelKind::MatMul, {a, b}, o, "mm");
    g.node(KernelKind::Relu, {o}, o2, "after");
    auto r = g.run();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message.rfind("t.kpu: error: graph node 1 'mm' (MATMUL): ", 0), 0u)
        << r.error().message;
    EXPECT_NE(r.error().message.find("disagree on K"), std::string::npos) << r.error().message;
}

TEST(ReferenceMatMul, RefusesInconsistentNodes) {
    const auto expectError = [](auto build, std::string_view what) {
        Graph g;
        build(g);
        auto r = g.run();
        ASSERT_FALSE(r) << what;
        EXPECT_NE(r.error().message.find(what), std::string::npos) << r.error().message;
    };
    expectError(
        [](Graph& g) {
            g.node(KernelKind::MatMul, {g.input("a", {2, 2}, iota(4))}, g.tensor("o", {2, 2}));
        },
        "expects inputs A, B");
    expectError(
        [](Graph& g) {
            const auto a = g.input("a", {2}, iota(2));
            g.node(KernelKind::MatMul, {a, a}, g.tensor("o", {1, 1}));
        },
        "rank >= 2");
    expectError(
        [](Graph& g) {
            const auto a = g.input("a", {2, 2}, iota(4));
            g.node(KernelKind::MatMul, {a, a}, g.tensor("o", {2, 3}));
        },
        "output 2x3");
    expectError(
        [](Graph& g) {
            const auto a = g.input("a", {2, 2, 2}, iota(8));
            const auto b = g.input("b", {3, 2, 2}, iota(12));
            g.node(KernelKind::MatMul, {a, b}, g.tensor("o", {3, 2, 2}));
        },
        "batch dims of A");
    expectError(
        [](Graph& g) {
            const auto a = g.input("a", {2, 2}, iota(4));
            g.node(KernelKind::MatMul, {a, a}, g.tensor("o", {2, 2}));
            g.params().bias_input = 5;
        },
        "bias_input 5");
    expectError(
        [](Graph& g) {
            const auto a = g.input("a", {2, 2}, iota(4));
            const auto bias = g.input("bias", {3}, iota(3));
            g.node(KernelKind::MatMul, {a, a, bias}, g.tensor("o", {2, 2}));
            g.params().bias_input = 2;
        },
        "bias has shape 3");
    expectError(
        [](Graph& g) {
            const auto a = g.input("a", {2, 2}, iota(4));
            const auto c = g.input("c", {2, 3}, iota(6));
            g.node(KernelKind::MatMul, {a, a, c}, g.tensor("o", {2, 2}));
        },
        "C has shape 2x3");
    expectError(
        [](Graph& g) {
            const auto a = g.input("a", {2, 2}, iota(4));
            g.node(KernelKind::MatMul, {a, a}, g.tensor("o", {2, 2}));
            g.params().activation = static_cast<dfx::Activation>(77);
        },
        "unknown activation 77");
}

TEST(ReferenceFullyConnected, WithAndWithoutBias) {
    Graph g;
    const auto x = g.input("x", {2, 3}, {1, 2, 3, -1, 0, 1});
    const auto w = g.input("w", {2, 3}, {1, 0, 0, 1, 1, 1}); // [N, K]
    const auto bias = g.input("bias", {2}, {10, 20});
    const auto o = g.tensor("o", {2, 2});
    const auto o2 = g.tensor("o2", {2, 2});
    g.node(KernelKind::FullyConnected, {x, w, bias}, o);
    g.node(KernelKind::FullyConnected, {x, w}, o2);
    auto r = g.run();
    ASSERT_TRUE(r) << r.error().message;
    expectValues(test::valuesOf((*r)[o]), {11, 26, 9, 20});
    expectValues(test::valuesOf((*r)[o2]), {1, 6, -1, 0});
}

TEST(ReferenceFullyConnected, RankThreeAndRankOneInputs) {
    Graph g;
    const auto x = g.input("x", {2, 1, 2}, {1, 2, 3, 4});
    const auto v = g.input("v", {2}, {1, -1});
    const auto w = g.input("w", {1, 2}, {1, 1});
    const auto o = g.tensor("o", {2, 1, 1});
    const auto ov = g.tensor("ov", {1});
    g.node(KernelKind::FullyConnected, {x, w}, o);
    g.node(KernelKind::FullyConnected, {v, w}, ov);
    auto r = g.run();
    ASSERT_TRUE(r) << r.error().message;
    expectValues(test::valuesOf((*r)[o]), {3, 7});
    expectValues(test::valuesOf((*r)[ov]), {0});
}

TEST(ReferenceFullyConnected, RefusesMismatchedWeights) {
    Graph g;
    const auto x = g.input("x", {2, 3}, iota(6));
    const auto w = g.input("w", {2, 4}, iota(8));
    g.node(KernelKind::FullyConnected, {x, w}, g.tensor("o", {2, 2}), "fc");
    auto r = g.run();
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("graph node 0 'fc' (FC): weights 2x4"), std::string::npos)
        << r.error().message;
}

// Conv with one input and output channel and a 3x3 all-ones kernel: window sums.
std::vector<double> windowSums(Shape xShape, std::vector<double> x, Shape outShape,
                               std::vector<std::uint32_t> window) {
    Graph g;
    const auto in = g.input("x", xShape, std::move(x));
    const auto w =
        g.input("w", {1, window[0], window[1], 1}, std::vector<double>(window[0] * window[1], 1.0));
    const auto o = g.tensor("o", outShape);
    g.node(KernelKind::Conv2D, {in, w}, o);
    g.params().window = window;
    return g.result(o);
}

TEST(ReferenceConv2D, StrideTwoWithAsymmetricPaddingAsMobileNet) {
    // 4x4 input 1..16, pad [top 0, bottom 1, left 0, right 1]: OH = (4 + 1 - 3) / 2 + 1 = 2.
    expectValues(
        windowSums({1, 4, 4, 1}, iota(16, 1), {1, 2, 2, 1}, {3, 3, 2, 2, 1, 1, 0, 1, 0, 1}),
        {54, 45, 72, 54});
}

TEST(ReferenceConv2D, SamePaddingCountsInRangeElements) {
    expectValues(windowSums({1, 3, 3, 1}, std::vector<double>(9, 1.0), {1, 3, 3, 1},
                            {3, 3, 1, 1, 1, 1, 1, 1, 1, 1}),
                 {4, 6, 4, 6, 9, 6, 4, 6, 4});
}

TEST(ReferenceConv2D, DilationTwo) {
    // 5x5 input r*5+c, 3x3 kernel dilated by 2 covers rows/cols {0, 2, 4}.
    expectValues(windowSums({1, 5, 5, 1}, iota(25), {1, 1, 1, 1}, {3, 3, 1, 1, 2, 2, 0, 0, 0, 0}),
                 {108});
    // With padding 2 all round the output is 5x5 again; its centre is the same sum.
    const auto padded =
        windowSums({1, 5, 5, 1}, iota(25), {1, 5, 5, 1}, {3, 3, 1, 1, 2, 2, 2, 2, 2, 2});
    ASSERT_EQ(padded.size(), 25u);
    EXPECT_DOUBLE_EQ(padded[12], 108);
    EXPECT_DOUBLE_EQ(padded[0], 0 + 2 + 10 + 12); // rows/cols {0, 2} only
}

TEST(ReferenceConv2D, ChannelsBiasBatchAndDefaultWindow) {
    Graph g;
    // Two images of 1x1 pixels with 2 channels; 3 output channels; no params (1x1, stride 1).
    const auto x = g.input("x", {2, 1, 1, 2}, {1, 2, 3, 4});
    const auto w = g.input("w", {3, 1, 1, 2}, {1, 0, 0, 1, 1, -1});
    const auto bias = g.input("bias", {3}, {0, 10, 100});
    const auto o = g.tensor("o", {2, 1, 1, 3});
    g.node(KernelKind::Conv2D, {x, w, bias}, o);
    expectValues(g.result(o), {1, 12, 99, 3, 14, 99});
}

TEST(ReferenceConv2D, KernelTwoByThreeMatchesDirectSum) {
    // A non-square kernel with 2 input channels, stride (2, 1), pads (1, 0, 0, 2).
    const std::int64_t H = 4, W = 5, C = 2, O = 2, KH = 2, KW = 3;
    std::vector<double> x(H * W * C), w(O * KH * KW * C);
    for (std::size_t i = 0; i < x.size(); ++i)
        x[i] = static_cast<float>(std::sin(static_cast<double>(i))); // exact in f32 storage
    for (std::size_t i = 0; i < w.size(); ++i)
        w[i] = static_cast<float>(std::cos(static_cast<double>(i)));
    const std::int64_t OH = (H + 1 - KH) / 2 + 1, OW = (W + 2 - KW) / 1 + 1;
    Graph g;
    const auto xi = g.input("x", {1, H, W, C}, x);
    const auto wi = g.input("w", {O, KH, KW, C}, w);
    const auto o = g.tensor("o", {1, OH, OW, O});
    g.node(KernelKind::Conv2D, {xi, wi}, o);
    g.params().window = {
        static_cast<std::uint32_t>(KH), static_cast<std::uint32_t>(KW), 2, 1, 1, 1, 1, 0, 0, 2};
    std::vector<double> want;
    for (std::int64_t oh = 0; oh < OH; ++oh)
        for (std::int64_t ow = 0; ow < OW; ++ow)
            for (std::int64_t oc = 0; oc < O; ++oc) {
                double s = 0;
                for (std::int64_t ky = 0; ky < KH; ++ky)
                    for (std::int64_t kx = 0; kx < KW; ++kx)
                        for (std::int64_t c = 0; c < C; ++c) {
                            const std::int64_t ih = oh * 2 - 1 + ky, iw = ow + kx;
                            if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                                s += x[(ih * W + iw) * C + c] *
                                     w[((oc * KH + ky) * KW + kx) * C + c];
                        }
                want.push_back(s);
            }
    expectValues(g.result(o), want);
}

TEST(ReferenceConv2D, RefusesInconsistentShapesAndWindows) {
    const auto expectError = [](Shape xs, Shape ws, Shape os, std::vector<std::uint32_t> window,
                                std::string_view what) {
        Graph g;
        const auto x = g.input("x", xs, std::vector<double>(elementCount(xs).value(), 1.0));
        const auto w = g.input("w", ws, std::vector<double>(elementCount(ws).value(), 1.0));
        g.node(KernelKind::Conv2D, {x, w}, g.tensor("o", os), "conv");
        if (!window.empty())
            g.params().window = window;
        auto r = g.run();
        ASSERT_FALSE(r) << what;
        EXPECT_NE(r.error().message.find("graph node 0 'conv' (CONV2D): "), std::string::npos);
        EXPECT_NE(r.error().message.find(what), std::string::npos) << r.error().message;
    };
    expectError({1, 4, 4}, {1, 1, 1, 1}, {1, 4, 4, 1}, {}, "expected NxHxWxC");
    expectError({1, 4, 4, 2}, {1, 1, 1, 3}, {1, 4, 4, 1}, {}, "input's 2 channels");
    expectError({1, 4, 4, 1}, {1, 3, 3, 1}, {1, 4, 4, 1}, {}, "output has shape 1x4x4x1");
    expectError({1, 2, 2, 1}, {1, 3, 3, 1}, {1, 1, 1, 1}, {}, "does not fit");
    expectError({1, 4, 4, 1}, {1, 3, 3, 1}, {1, 2, 2, 1}, {3, 3, 0, 1, 1, 1, 0, 0, 0, 0}, "stride");
    expectError({1, 4, 4, 1}, {1, 3, 3, 1}, {1, 2, 2, 1}, {3, 3, 1, 1, 0, 1, 0, 0, 0, 0},
                "dilation");
    expectError({1, 4, 4, 1}, {1, 3, 3, 1}, {1, 2, 2, 1}, {3, 3, 1, 1}, "has 4 entries");
    expectError({1, 4, 4, 1}, {1, 3, 3, 1}, {1, 2, 2, 1}, {2, 2, 1, 1, 1, 1, 0, 0, 0, 0},
                "differs from the weights");
    expectError({1, 4, 4, 1}, {1, 3, 3, 1}, {1, 2, 2, 1}, {3, 3, 4000000000u, 1, 1, 1, 0, 0, 0, 0},
                "too large");
}

TEST(ReferenceDepthwise, ChannelMultiplierTwo) {
    Graph g;
    // 1x2 image, 2 channels; 1x1 kernel, M = 2: out[c*2+m] = x[c] * w[c, m] + bias.
    const auto x = g.input("x", {1, 1, 2, 2}, {1, 2, 3, 4});
    const auto w = g.input("w", {1, 1, 2, 2}, {1, 10, 100, 1000});
    const auto bias = g.input("bias", {4}, {0, 0, 0, 0.5});
    const auto o = g.tensor("o", {1, 1, 2, 4});
    g.node(KernelKind::DepthwiseConv2D, {x, w, bias}, o);
    expectValues(g.result(o), {1, 10, 200, 2000.5, 3, 30, 400, 4000.5});
}

TEST(ReferenceDepthwise, ThreeByThreeStrideTwoPadded) {
    Graph g;
    // Two channels: channel 0 all ones, channel 1 all twos; kernel ones for c0, -1 for c1.
    std::vector<double> x;
    for (int i = 0; i < 16; ++i) {
        x.push_back(1);
        x.push_back(2);
    }
    std::vector<double> w;
    for (int i = 0; i < 9; ++i) {
        w.push_back(1);
        w.push_back(-1);
    }
    const auto xi = g.input("x", {1, 4, 4, 2}, x);
    const auto wi = g.input("w", {3, 3, 2, 1}, w);
    const auto o = g.tensor("o", {1, 2, 2, 2});
    g.node(KernelKind::DepthwiseConv2D, {xi, wi}, o);
    g.params().window = {3, 3, 2, 2, 1, 1, 0, 1, 0, 1};
    // In-range window counts: 9, 6 / 6, 4.
    expectValues(g.result(o), {9, -18, 6, -12, 6, -12, 4, -8});
}

TEST(ReferenceDepthwise, RefusesWrongChannels) {
    Graph g;
    const auto x = g.input("x", {1, 2, 2, 2}, std::vector<double>(8, 1.0));
    const auto w = g.input("w", {1, 1, 3, 1}, std::vector<double>(3, 1.0));
    g.node(KernelKind::DepthwiseConv2D, {x, w}, g.tensor("o", {1, 2, 2, 2}), "dw");
    auto r = g.run();
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("(DEPTHWISE_CONV2D): weights 1x1x3x1"), std::string::npos)
        << r.error().message;
}

TEST(ReferenceIm2Col, PatchesThenMatMulEqualsConv) {
    Graph g;
    const auto x = g.input("x", {1, 3, 3, 1}, iota(9, 1));
    const auto cols = g.tensor("cols", {4, 4}, DType::F32, dfx::TensorRole::Intermediate);
    g.node(KernelKind::Im2Col, {x}, cols);
    g.params().window = {2, 2, 2, 2, 1, 1, 0, 1, 0, 1};
    // OH = OW = (3 + 1 - 2) / 2 + 1 = 2; patch (1,1) has only x[2][2] = 9 inside.
    const auto w = g.input("w", {1, 2, 2, 1}, {1, 1, 1, 1});
    const auto conv = g.tensor("conv", {1, 2, 2, 1});
    g.node(KernelKind::Conv2D, {x, w}, conv);
    g.params().window = {2, 2, 2, 2, 1, 1, 0, 1, 0, 1};
    auto r = g.run();
    ASSERT_TRUE(r) << r.error().message;
    expectValues(test::valuesOf((*r)[cols]), {1, 2, 4, 5, 3, 0, 6, 0, 7, 8, 0, 0, 9, 0, 0, 0});
    expectValues(test::valuesOf((*r)[conv]), {12, 9, 15, 9});
}

TEST(ReferenceIm2Col, NeedsAWindow) {
    Graph g;
    const auto x = g.input("x", {1, 3, 3, 1}, iota(9));
    g.node(KernelKind::Im2Col, {x}, g.tensor("cols", {9, 1}));
    auto r = g.run();
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("params.window is missing"), std::string::npos);
}

} // namespace
} // namespace kpu::loader
