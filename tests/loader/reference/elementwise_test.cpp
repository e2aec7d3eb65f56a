// Binary operators with every kind of numpy broadcasting, and every unary operator.
#include <cmath>

#include <gtest/gtest.h>

#include "graph_builder.h"

namespace kpu::loader {
namespace {

using dfx::KernelKind;
using test::expectValues;
using test::Graph;

std::vector<double> binary(KernelKind kind, Shape as, std::vector<double> a, Shape bs,
                           std::vector<double> b, Shape os) {
    Graph g;
    const auto ai = g.input("a", std::move(as), std::move(a));
    const auto bi = g.input("b", std::move(bs), std::move(b));
    const auto o = g.tensor("o", os);
    g.node(kind, {ai, bi}, o);
    return g.result(o);
}

TEST(ReferenceBinary, SameShapeEveryOperator) {
    const std::vector<double> a{1, -2, 3, 8}, b{4, 5, -6, 0.5};
    expectValues(binary(KernelKind::Add, {2, 2}, a, {2, 2}, b, {2, 2}), {5, 3, -3, 8.5});
    expectValues(binary(KernelKind::Sub, {2, 2}, a, {2, 2}, b, {2, 2}), {-3, -7, 9, 7.5});
    expectValues(binary(KernelKind::Mul, {2, 2}, a, {2, 2}, b, {2, 2}), {4, -10, -18, 4});
    expectValues(binary(KernelKind::Div, {2, 2}, a, {2, 2}, b, {2, 2}), {0.25, -0.4, -0.5, 16});
}

TEST(ReferenceBinary, OneElementAndScalars) {
    expectValues(binary(KernelKind::Add, {1}, {2}, {1}, {3}, {1}), {5});
    expectValues(binary(KernelKind::Mul, {}, {2}, {}, {3}, {}), {6});
    // A rank-0 operand broadcasts to anything.
    expectValues(binary(KernelKind::Sub, {2, 2}, {1, 2, 3, 4}, {}, {1}, {2, 2}), {0, 1, 2, 3});
    expectValues(binary(KernelKind::Sub, {}, {10}, {3}, {1, 2, 3}, {3}), {9, 8, 7});
}

TEST(ReferenceBinary, BroadcastsMissingLeadingDims) {
    expectValues(binary(KernelKind::Add, {2, 3}, {0, 0, 0, 10, 10, 10}, {3}, {1, 2, 3}, {2, 3}),
                 {1, 2, 3, 11, 12, 13});
    // Per-channel over NHWC: [C] against [N,H,W,C].
    expectValues(binary(KernelKind::Mul, {1, 2, 1, 2}, {1, 2, 3, 4}, {2}, {10, -1}, {1, 2, 1, 2}),
                 {10, -2, 30, -4});
}

TEST(ReferenceBinary, BroadcastsOnesInBothOperands) {
    // [2,1] against [1,3]: an outer sum.
    expectValues(binary(KernelKind::Add, {2, 1}, {10, 20}, {1, 3}, {1, 2, 3}, {2, 3}),
                 {11, 12, 13, 21, 22, 23});
    // Middle dim broadcast: [2,1,2] against [2,3,2].
    expectValues(binary(KernelKind::Sub, {2, 3, 2}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
                        {2, 1, 2}, {1, 2, 7, 8}, {2, 3, 2}),
                 {0, 0, 2, 2, 4, 4, 0, 0, 2, 2, 4, 4});
    // The first operand broadcasts too.
    expectValues(binary(KernelKind::Div, {1, 2}, {6, 8}, {3, 1}, {1, 2, 4}, {3, 2}),
                 {6, 8, 3, 4, 1.5, 2});
    // Both operands smaller than the output.
    expectValues(binary(KernelKind::Add, {1, 1}, {1}, {1}, {2}, {2, 2}), {3, 3, 3, 3});
}

TEST(ReferenceBinary, RefusesShapesThatDoNotBroadcast) {
    Graph g;
    const auto a = g.input("a", {2, 3}, std::vector<double>(6, 1.0));
    const auto b = g.input("b", {2}, {1, 2});
    g.node(KernelKind::Add, {a, b}, g.tensor("o", {2, 3}), "add");
    auto r = g.run();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              "t.kpu: error: graph node 0 'add' (ADD): input b 2 does not broadcast to the "
              "output 2x3");

    Graph g2;
    const auto c = g2.input("c", {2, 3}, std::vector<double>(6, 1.0));
    g2.node(KernelKind::Mul, {c}, g2.tensor("o", {2, 3}), "mul");
    auto r2 = g2.run();
    ASSERT_FALSE(r2);
    EXPECT_NE(r2.error().message.find("(MUL): expects 2 inputs, got 1"), std::string::npos)
        << r2.error().message;

    // The output must not be smaller than an input.
    Graph g3;
    const auto d = g3.input("d", {2, 3}, std::vector<double>(6, 1.0));
    g3.node(KernelKind::Sub, {d, d}, g3.tensor("o", {3}), "sub");
    EXPECT_FALSE(g3.run());
}

std::vector<double> unary(KernelKind kind, const std::vector<double>& x, double min = 0,
                          double max = 0) {
    Graph g;
    const Shape shape{static_cast<std::int64_t>(x.size())};
    const auto xi = g.input("x", shape, x, DType::F64);
    const auto o = g.tensor("o", shape, DType::F64);
    g.node(kind, {xi}, o);
    if (kind == KernelKind::Clamp) {
        g.params().min = min;
        g.params().max = max;
    }
    return g.result(o);
}

TEST(ReferenceUnary, EveryOperator) {
    const std::vector<double> x{-2, -0.5, 0, 0.5, 3};
    const auto each = [&](auto f) {
        std::vector<double> v;
        for (double e : x)
            v.push_back(f(e));
        return v;
    };
    constexpr double tight = 1e-15;
    expectValues(unary(KernelKind::Exp, x), each([](double v) { return std::exp(v); }), tight);
    expectValues(unary(KernelKind::Reciprocal, {-2, 0.5, 4}), {-0.5, 2, 0.25}, tight);
    expectValues(unary(KernelKind::Sigmoid, x),
                 each([](double v) { return 1 / (1 + std::exp(-v)); }), tight);
    expectValues(unary(KernelKind::Relu, x), {0, 0, 0, 0.5, 3}, tight);
    expectValues(unary(KernelKind::Clamp, x, -1, 1), {-1, -0.5, 0, 0.5, 1}, tight);
    expectValues(unary(KernelKind::Tanh, x), each([](double v) { return std::tanh(v); }), tight);
    expectValues(unary(KernelKind::Negate, x), {2, 0.5, 0, -0.5, -3}, tight);
    expectValues(unary(KernelKind::Abs, x), {2, 0.5, 0, 0.5, 3}, tight);
    // GELU exact (erf) form; tanh-approximation values differ from these in the 4th digit.
    expectValues(unary(KernelKind::Gelu, {-1, 0, 1, 2}),
                 {-0.15865525393145707, 0, 0.8413447460685429, 1.9544997361036416}, 1e-14);
    EXPECT_TRUE(std::isinf(unary(KernelKind::Reciprocal, {0})[0]));
    EXPECT_DOUBLE_EQ(unary(KernelKind::Sigmoid, {0})[0], 0.5);
}

TEST(ReferenceUnary, KeepsTheShapeAndRank) {
    Graph g;
    const auto x = g.input("x", {2, 1, 2}, {-1, 2, -3, 4});
    const auto o = g.tensor("o", {2, 1, 2});
    g.node(KernelKind::Relu, {x}, o);
    expectValues(g.result(o), {0, 2, 0, 4});

    Graph bad;
    const auto y = bad.input("y", {2, 2}, {-1, 2, -3, 4});
    bad.node(KernelKind::Exp, {y}, bad.tensor("o", {4}), "exp");
    auto r = bad.run();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              "t.kpu: error: graph node 0 'exp' (EXP): input has shape 2x2, expected 4");
}

} // namespace
} // namespace kpu::loader
