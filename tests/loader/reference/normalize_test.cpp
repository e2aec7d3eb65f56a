// Reductions, Softmax, LayerNorm and the pools.
#include <cmath>
#include <numeric>

#include <gtest/gtest.h>

#include "graph_builder.h"

namespace kpu::loader {
namespace {

using dfx::KernelKind;
using test::expectValues;
using test::Graph;

// x[i][j][k] = 100i + 10j + k - 50, shape 2x3x4 (mixed signs).
std::vector<double> cube() {
    std::vector<double> x;
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 3; ++j)
            for (int k = 0; k < 4; ++k)
                x.push_back(100 * i + 10 * j + k - 50);
    return x;
}

std::vector<double> reduce(KernelKind kind, int axis, Shape out) {
    Graph g;
    const auto x = g.input("x", {2, 3, 4}, cube());
    const auto o = g.tensor("o", out);
    g.node(kind, {x}, o);
    g.params().axis = axis;
    return g.result(o);
}

TEST(ReferenceReduce, SumAlongEachAxis) {
    // Axis 0: (j,k) pairs: (10j+k-50) + (100+10j+k-50) = 20j + 2k.
    std::vector<double> a0;
    for (int j = 0; j < 3; ++j)
        for (int k = 0; k < 4; ++k)
            a0.push_back(20 * j + 2 * k);
    expectValues(reduce(KernelKind::ReduceSum, 0, {1, 3, 4}), a0);
    // Axis 1: 3*(100i + k - 50) + 30.
    std::vector<double> a1;
    for (int i = 0; i < 2; ++i)
        for (int k = 0; k < 4; ++k)
            a1.push_back(3 * (100 * i + k - 50) + 30);
    expectValues(reduce(KernelKind::ReduceSum, 1, {2, 1, 4}), a1);
    // Axis 2 (also as -1): 4*(100i + 10j - 50) + 6.
    std::vector<double> a2;
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 3; ++j)
            a2.push_back(4 * (100 * i + 10 * j - 50) + 6);
    expectValues(reduce(KernelKind::ReduceSum, 2, {2, 3, 1}), a2);
    expectValues(reduce(KernelKind::ReduceSum, -1, {2, 3, 1}), a2);
}

TEST(ReferenceReduce, MaxAndMin) {
    expectValues(reduce(KernelKind::ReduceMax, 0, {1, 3, 4}),
                 {50, 51, 52, 53, 60, 61, 62, 63, 70, 71, 72, 73});
    expectValues(reduce(KernelKind::ReduceMin, 1, {2, 1, 4}), {-50, -49, -48, -47, 50, 51, 52, 53});
    expectValues(reduce(KernelKind::ReduceMax, -1, {2, 3, 1}), {-47, -37, -27, 53, 63, 73});
    expectValues(reduce(KernelKind::ReduceMin, 2, {2, 3, 1}), {-50, -40, -30, 50, 60, 70});
}

TEST(ReferenceReduce, OneElementAndErrors) {
    {
        Graph g;
        const auto x = g.input("x", {1}, {-3});
        const auto o = g.tensor("o", {1});
        g.node(KernelKind::ReduceMax, {x}, o);
        expectValues(g.result(o), {-3});
    }
    {
        Graph g;
        const auto x = g.input("x", {2, 3}, std::vector<double>(6, 1));
        g.node(KernelKind::ReduceSum, {x}, g.tensor("o", {2}), "sum");
        auto r = g.run();
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().message, "t.kpu: error: graph node 0 'sum' (REDUCE_SUM): output has "
                                     "shape 2, expected 2x1");
    }
    {
        Graph g;
        const auto x = g.input("x", {2, 3}, std::vector<double>(6, 1));
        g.node(KernelKind::ReduceMin, {x}, g.tensor("o", {2, 1}), "min");
        g.params().axis = -3;
        auto r = g.run();
        ASSERT_FALSE(r);
        EXPECT_NE(r.error().message.find("axis -3 is out of range for rank 2"), std::string::npos);
    }
}

TEST(ReferenceSoftmax, RowsSumToOne) {
    Graph g;
    const auto x = g.input("x", {2, 3}, {1, 2, 3, 1000, 1000, 1000}, DType::F64);
    const auto o = g.tensor("o", {2, 3}, DType::F64);
    g.node(KernelKind::Softmax, {x}, o); // default axis -1
    const auto y = g.result(o);
    ASSERT_EQ(y.size(), 6u);
    const double s = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
    expectValues(
        y, {std::exp(1.0) / s, std::exp(2.0) / s, std::exp(3.0) / s, 1.0 / 3, 1.0 / 3, 1.0 / 3},
        1e-15);
    EXPECT_NEAR(y[0] + y[1] + y[2], 1.0, 1e-15);
}

TEST(ReferenceSoftmax, AlongTheFirstAxis) {
    Graph g;
    const auto x = g.input("x", {2, 2}, {0, 5, std::log(3.0), 5});
    const auto o = g.tensor("o", {2, 2});
    g.node(KernelKind::Softmax, {x}, o);
    g.params().axis = 0;
    expectValues(g.result(o), {0.25, 0.5, 0.75, 0.5});
}

TEST(ReferenceLayerNorm, MeanZeroVarianceOne) {
    Graph g;
    const auto x = g.input("x", {2, 4}, {1, 2, 3, 4, -10, 0, 10, 20}, DType::F64);
    const auto o = g.tensor("o", {2, 4}, DType::F64);
    g.node(KernelKind::LayerNorm, {x}, o);
    g.params().epsilon = 0;
    const auto y = g.result(o);
    ASSERT_EQ(y.size(), 8u);
    for (int row = 0; row < 2; ++row) {
        double mean = 0, var = 0;
        for (int i = 0; i < 4; ++i)
            mean += y[row * 4 + i] / 4;
        for (int i = 0; i < 4; ++i)
            var += (y[row * 4 + i] - mean) * (y[row * 4 + i] - mean) / 4;
        EXPECT_NEAR(mean, 0, 1e-15);
        EXPECT_NEAR(var, 1, 1e-14);
    }
    // Row 0: mean 2.5, biased variance 1.25.
    EXPECT_NEAR(y[0], -1.5 / std::sqrt(1.25), 1e-15);
}

TEST(ReferenceLayerNorm, GammaBetaEpsilonAndAxis) {
    Graph g;
    // Normalise over the last two dims of [2, 1, 2]: each of the two rows of 2 is (a, b).
    const auto x = g.input("x", {2, 1, 2}, {0, 2, 5, 5});
    const auto gamma = g.input("gamma", {1, 2}, {2, 3});
    const auto beta = g.input("beta", {1, 2}, {10, 20});
    const auto o = g.tensor("o", {2, 1, 2});
    g.node(KernelKind::LayerNorm, {x, gamma, beta}, o);
    g.params().axis = 1;
    g.params().epsilon = 1e-5;
    const double s = 1 / std::sqrt(1 + 1e-5); // row 0: mean 1, variance 1
    expectValues(g.result(o), {10 - 2 * s, 20 + 3 * s, 10, 20});
}

TEST(ReferenceLayerNorm, RefusesWrongGamma) {
    Graph g;
    const auto x = g.input("x", {2, 4}, std::vector<double>(8, 1));
    const auto gamma = g.input("gamma", {2, 4}, std::vector<double>(8, 1));
    g.node(KernelKind::LayerNorm, {x, gamma}, g.tensor("o", {2, 4}), "ln");
    auto r = g.run();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              "t.kpu: error: graph node 0 'ln' (LAYERNORM): gamma has shape 2x4, expected 4");
}

std::vector<double> pool(KernelKind kind, Shape xs, std::vector<double> x, Shape os,
                         std::vector<std::uint32_t> window) {
    Graph g;
    const auto xi = g.input("x", std::move(xs), std::move(x));
    const auto o = g.tensor("o", os);
    g.node(kind, {xi}, o);
    g.params().window = window;
    return g.result(o);
}

TEST(ReferencePool, AverageDividesByInRangeCount) {
    // 2x2 input 1..4, 3x3 window, stride 1, pad 1: every window covers the whole input.
    expectValues(pool(KernelKind::AvgPool2D, {1, 2, 2, 1}, {1, 2, 3, 4}, {1, 2, 2, 1},
                      {3, 3, 1, 1, 1, 1, 1, 1, 1, 1}),
                 {2.5, 2.5, 2.5, 2.5});
    // 3x3 input, 2x2 window stride 2, pad [0,1,0,1]: windows of 4, 2, 2 and 1 elements.
    expectValues(pool(KernelKind::AvgPool2D, {1, 3, 3, 1}, {1, 2, 3, 4, 5, 6, 7, 8, 9},
                      {1, 2, 2, 1}, {2, 2, 2, 2, 1, 1, 0, 1, 0, 1}),
                 {3, 4.5, 7.5, 9});
}

TEST(ReferencePool, MaxIgnoresPaddingAndKeepsChannels) {
    // All-negative input: a zero from padding must never win.
    expectValues(pool(KernelKind::MaxPool2D, {1, 2, 2, 2}, {-1, -10, -2, -20, -3, -30, -4, -40},
                      {1, 2, 2, 2}, {3, 3, 1, 1, 1, 1, 1, 1, 1, 1}),
                 {-1, -10, -1, -10, -1, -10, -1, -10});
    // Global pool (MobileNet's final 7x7 average): one window over everything.
    std::vector<double> x(49 * 2);
    std::iota(x.begin(), x.end(), 0.0);
    expectValues(
        pool(KernelKind::AvgPool2D, {1, 7, 7, 2}, x, {1, 1, 1, 2}, {7, 7, 1, 1, 1, 1, 0, 0, 0, 0}),
        {48, 49});
    expectValues(
        pool(KernelKind::MaxPool2D, {1, 7, 7, 2}, x, {1, 1, 1, 2}, {7, 7, 7, 7, 1, 1, 0, 0, 0, 0}),
        {96, 97});
}

TEST(ReferencePool, RefusesWindowsEntirelyInPaddingAndBadShapes) {
    Graph g;
    const auto x = g.input("x", {1, 1, 1, 1}, {1});
    g.node(KernelKind::MaxPool2D, {x}, g.tensor("o", {1, 3, 1, 1}), "mp");
    g.params().window = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
    auto r = g.run();
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("(MAXPOOL2D): the window of output (0, 0) lies entirely"),
              std::string::npos)
        << r.error().message;

    Graph g2;
    const auto y = g2.input("y", {1, 2, 2, 1}, {1, 2, 3, 4});
    g2.node(KernelKind::AvgPool2D, {y}, g2.tensor("o", {1, 2, 2, 1}), "ap");
    auto r2 = g2.run();
    ASSERT_FALSE(r2);
    EXPECT_NE(r2.error().message.find("(AVGPOOL2D): params.window is missing"), std::string::npos);
}

} // namespace
} // namespace kpu::loader
