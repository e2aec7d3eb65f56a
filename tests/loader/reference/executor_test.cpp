// The driver (graph walk, storage rounding, error paths) and the comparison with the reference.
#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "graph_builder.h"

namespace kpu::loader {
namespace {

using dfx::KernelKind;
using test::expectValues;
using test::Graph;
using test::hostTensor;

TEST(ReferenceExecutor, ChainsNodesAndFillsOutputMetadata) {
    Graph g;
    const auto a = g.input("a", {2}, {1, -2});
    const auto b = g.input("b", {2}, {3, 4});
    const auto s = g.tensor("s", {2}, DType::F32, dfx::TensorRole::Intermediate);
    const auto o = g.tensor("o", {1, 2}, DType::F64);
    g.node(KernelKind::Add, {a, b}, s);
    g.node(KernelKind::Relu, {s}, g.tensor("r", {2}));
    g.node(KernelKind::Reshape, {s}, o);
    auto r = g.run();
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->size(), 5u);
    expectValues(test::valuesOf((*r)[3]), {4, 2});
    const HostTensor& out = (*r)[o];
    EXPECT_EQ(out.name, "o");
    EXPECT_EQ(out.dtype, DType::F64);
    EXPECT_EQ(out.shape, (Shape{1, 2}));
    EXPECT_EQ(out.data.size(), 16u);
    // Inputs come back untouched.
    EXPECT_EQ((*r)[a].data, g.hosts()[a].data);
}

TEST(ReferenceExecutor, RoundsEveryNodeToItsStorageType) {
    Graph g;
    // 1 + 2^-12 is not an f16: it rounds to 1 (ties to even), and the next node sees the
    // rounded value, so the subtraction gives 0 rather than 2^-12.
    const auto a = g.input("a", {1}, {1}, DType::F16);
    const auto b = g.input("b", {1}, {0x1.0p-12}, DType::F32);
    const auto s = g.tensor("s", {1}, DType::F16);
    const auto d = g.tensor("d", {1}, DType::F32);
    const auto wide = g.tensor("wide", {1}, DType::F32);
    g.node(KernelKind::Add, {a, b}, s);
    g.node(KernelKind::Sub, {s, a}, d);
    g.node(KernelKind::Add, {a, b}, wide);
    auto r = g.run();
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(test::valuesOf((*r)[s])[0], 1.0);
    EXPECT_EQ(test::valuesOf((*r)[d])[0], 0.0);
    EXPECT_EQ(test::valuesOf((*r)[wide])[0], 1 + 0x1.0p-12);
    // A sum is accumulated in double and rounded once: 1/3 in f16 is 0x3555.
    Graph g2;
    const auto x = g2.input("x", {3}, {1, 1, 1}, DType::F16);
    const auto y = g2.input("y", {3}, {1.0 / 9, 1.0 / 9, 1.0 / 9}, DType::F64);
    const auto dot = g2.tensor("dot", {1}, DType::F16);
    g2.node(KernelKind::FullyConnected, {y, g2.input("w", {1, 3}, {1, 1, 1}, DType::F16)}, dot);
    (void)x;
    auto r2 = g2.run();
    ASSERT_TRUE(r2) << r2.error().message;
    ASSERT_EQ((*r2)[dot].data.size(), 2u);
    EXPECT_EQ((*r2)[dot].data[0] | ((*r2)[dot].data[1] << 8), 0x3555);
}

TEST(ReferenceExecutor, F8OutputsSaturate) {
    Graph g;
    const auto a = g.input("a", {2}, {300, 0.3}, DType::F32);
    const auto o = g.tensor("o", {2}, DType::F8E4M3);
    g.node(KernelKind::Add, {a, a}, o);
    expectValues(g.result(o), {448, 0.625}); // 0.6 rounds to 0.625 in E4M3
}

TEST(ReferenceExecutor, EmptyGraphReturnsTheTensors) {
    Graph g;
    g.input("a", {1}, {1});
    g.tensor("o", {1});
    g.presentButEmptyGraph();
    auto r = g.run();
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->size(), 2u);
    EXPECT_TRUE((*r)[1].data.empty());
}

TEST(ReferenceExecutor, RefusesAnObjectWithoutGraph) {
    Graph g;
    g.input("a", {1}, {1}); // and no nodes: packing leaves the graph out
    auto r = g.run();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message.rfind("t.kpu: error: the object has no graph section", 0), 0u)
        << r.error().message;
}

TEST(ReferenceExecutor, RefusesInputsWithoutDataOrOfTheWrongSize) {
    {
        Graph g;
        const auto a = g.tensor("a", {2}, DType::F32, dfx::TensorRole::Input); // no data given
        g.node(KernelKind::Relu, {a}, g.tensor("o", {2}), "relu");
        auto r = g.run();
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().message.rfind(
                      "t.kpu: error: graph node 0 'relu' (RELU): input tensor 'a' has no data", 0),
                  0u)
            << r.error().message;
    }
    {
        Graph g;
        const auto a = g.input("a", {2}, {1, 2});
        g.hosts()[a].data.pop_back();
        g.node(KernelKind::Relu, {a}, g.tensor("o", {2}), "relu");
        auto r = g.run();
        ASSERT_FALSE(r);
        EXPECT_NE(r.error().message.find("holds 7 bytes of f32, expected 8 bytes of f32"),
                  std::string::npos)
            << r.error().message;
    }
    {
        Graph g;
        const auto a = g.input("a", {2}, {1, 2});
        g.hosts()[a] = hostTensor("a", DType::F64, {1}, {1});
        g.node(KernelKind::Relu, {a}, g.tensor("o", {2}), "relu");
        auto r = g.run();
        ASSERT_FALSE(r);
        EXPECT_NE(r.error().message.find("holds 8 bytes of f64, expected 8 bytes of f32"),
                  std::string::npos)
            << r.error().message;
    }
}

TEST(ReferenceExecutor, RefusesBadIndicesKindsAndShapes) {
    {
        Graph g;
        const auto a = g.input("a", {2}, {1, 2});
        g.node(KernelKind::Relu, {a}, 7, "relu");
        auto r = g.run();
        ASSERT_FALSE(r);
        EXPECT_NE(r.error().message.find("(RELU): tensor index 7 is out of range (the object has "
                                         "1 tensors)"),
                  std::string::npos)
            << r.error().message;
    }
    {
        Graph g;
        const auto a = g.input("a", {2}, {1, 2});
        g.node(static_cast<KernelKind>(99), {a}, g.tensor("o", {2}), "odd");
        auto r = g.run();
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().message,
                  "t.kpu: error: graph node 0 'odd' (?): unknown operator kind 99");
    }
    {
        Graph g;
        const auto a = g.input("a", {2}, {1, 2});
        const auto o = g.tensor("o", {2});
        g.program().tensors[o]->shape = {2, 0};
        g.node(KernelKind::Relu, {a}, o, "relu");
        auto r = g.run();
        ASSERT_FALSE(r);
        EXPECT_NE(r.error().message.find("shape 2x0 with an empty dimension"), std::string::npos);
    }
    {
        Graph g;
        const auto a = g.input("a", {2}, {1, 2});
        const auto o = g.tensor("o", {2});
        g.program().tensors[o]->shape = {1 << 20, 1 << 20, 1 << 20};
        g.node(KernelKind::Relu, {a}, o, "relu");
        auto r = g.run();
        ASSERT_FALSE(r);
        EXPECT_NE(r.error().message.find("too large for the reference"), std::string::npos);
    }
    {
        Graph g;
        g.input("a", {1}, {1});
        g.hosts().resize(3);
        auto r = g.run();
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().message, "t.kpu: error: 3 host tensors given for an object with 1 "
                                     "tensors");
    }
}

TEST(ReferenceExecutor, UnknownKindsAndEveryNodeWithoutInputsNeverCrash) {
    // Every kind (and a few unknown ones) with no inputs, no params, and with one rank-1 input:
    // either a result or an error, never a crash.
    for (int kind = 0; kind < 32; ++kind)
        for (int variant = 0; variant < 3; ++variant) {
            Graph g;
            const auto a = g.input("a", {3}, {1, 2, 3});
            std::vector<std::uint32_t> inputs;
            if (variant > 0)
                inputs.push_back(a);
            if (variant > 1)
                inputs.push_back(a);
            g.node(static_cast<KernelKind>(kind), inputs, g.tensor("o", {3}), "n");
            auto r = g.run();
            if (!r) {
                EXPECT_EQ(r.error().message.rfind("t.kpu: error: graph node 0 'n' (", 0), 0u)
                    << r.error().message;
            }
        }
}

double toleranceOf(const std::vector<DType>& dtypes) {
    Graph g;
    for (DType d : dtypes)
        g.tensor(fmt::format("t{}", g.program().tensors.size()), {1}, d);
    return outputTolerance(g.finish());
}

TEST(ReferenceTolerance, FollowsTheLeastPreciseFloatType) {
    EXPECT_EQ(toleranceOf({DType::F64}), 1e-9);
    EXPECT_EQ(toleranceOf({DType::F32}), 1e-4);
    EXPECT_EQ(toleranceOf({DType::F64, DType::F32, DType::I32}), 1e-4);
    EXPECT_EQ(toleranceOf({DType::F32, DType::F16, DType::F64}), 2e-2);
    EXPECT_EQ(toleranceOf({DType::F16, DType::F8E4M3}), 0.25);
    EXPECT_EQ(toleranceOf({DType::I8}), 1e-4);
    EXPECT_EQ(toleranceOf({}), 1e-4);
    // Ordered: the less precise the storage, the looser the tolerance.
    EXPECT_LT(toleranceOf({DType::F64}), toleranceOf({DType::F32}));
    EXPECT_LT(toleranceOf({DType::F32}), toleranceOf({DType::F16}));
    EXPECT_LT(toleranceOf({DType::F16}), toleranceOf({DType::F8E4M3}));
    // Still far below the O(1) error of a wrong operand.
    EXPECT_LE(toleranceOf({DType::F8E4M3}), 0.25);
}

TEST(ReferenceCompare, IdenticalTensorsMatch) {
    const HostTensor t = hostTensor("o", DType::F32, {2, 2}, {1, -2, 3, 4});
    const Comparison c = compareWithReference(t, t, 1e-4);
    EXPECT_EQ(c.tensor, "o");
    EXPECT_EQ(c.elements, 4u);
    EXPECT_EQ(c.maxAbsError, 0);
    EXPECT_EQ(c.maxRelError, 0);
    EXPECT_EQ(c.tolerance, 1e-4);
    EXPECT_EQ(c.scale, 4);
    EXPECT_FALSE(c.firstMismatch);
}

TEST(ReferenceCompare, NormwiseToleranceScalesWithTheLargestValue) {
    const HostTensor want = hostTensor("o", DType::F64, {3}, {100, 0.001, -5});
    // An error of 5e-3 on the small element is within 1e-4 * 100.
    const Comparison ok =
        compareWithReference(want, hostTensor("o", DType::F64, {3}, {100, 0.006, -5}), 1e-4);
    EXPECT_FALSE(ok.firstMismatch);
    EXPECT_NEAR(ok.maxAbsError, 5e-3, 1e-12);
    EXPECT_NEAR(ok.maxRelError, 5e-5, 1e-12);
    EXPECT_EQ(ok.scale, 100);
    // 2e-2 is not.
    const Comparison bad =
        compareWithReference(want, hostTensor("o", DType::F64, {3}, {100, 0.001, -5.02}), 1e-4);
    ASSERT_TRUE(bad.firstMismatch);
    EXPECT_EQ(bad.firstMismatch->flatIndex, 2u);
    EXPECT_EQ(bad.firstMismatch->index, (std::vector<std::int64_t>{2}));
    EXPECT_EQ(bad.firstMismatch->expected, -5);
    EXPECT_EQ(bad.firstMismatch->actual, -5.02);
    EXPECT_NEAR(bad.firstMismatch->tolerance, 1e-2, 1e-15);
    // Values below 1 are held to an absolute tolerance: max(1, max|expected|).
    const HostTensor small = hostTensor("s", DType::F64, {1}, {1e-3});
    EXPECT_FALSE(compareWithReference(small, hostTensor("s", DType::F64, {1}, {1.5e-3}), 1e-3)
                     .firstMismatch);
    EXPECT_TRUE(compareWithReference(small, hostTensor("s", DType::F64, {1}, {2.5e-3}), 1e-3)
                    .firstMismatch);
}

TEST(ReferenceCompare, ReportsTheFirstMismatchWithItsIndex) {
    const HostTensor want = hostTensor("o", DType::F32, {2, 3}, {0, 1, 2, 3, 4, 5});
    const HostTensor got = hostTensor("o", DType::F16, {2, 3}, {0, 1, 2, 3, 9, 0});
    const Comparison c = compareWithReference(want, got, 1e-3);
    ASSERT_TRUE(c.firstMismatch);
    EXPECT_EQ(c.firstMismatch->flatIndex, 4u);
    EXPECT_EQ(c.firstMismatch->index, (std::vector<std::int64_t>{1, 1}));
    EXPECT_EQ(c.maxAbsError, 5);
    EXPECT_EQ(c.maxRelError, 1);
}

TEST(ReferenceCompare, NaNsInfinitiesAndSizes) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    const HostTensor want = hostTensor("o", DType::F64, {3}, {nan, inf, 1});
    EXPECT_FALSE(compareWithReference(want, hostTensor("o", DType::F64, {3}, {nan, inf, 1}), 1e-6)
                     .firstMismatch);
    const Comparison nanGot =
        compareWithReference(want, hostTensor("o", DType::F64, {3}, {nan, inf, nan}), 1e-6);
    ASSERT_TRUE(nanGot.firstMismatch);
    EXPECT_EQ(nanGot.firstMismatch->flatIndex, 2u);
    EXPECT_TRUE(std::isinf(nanGot.maxAbsError));
    EXPECT_TRUE(compareWithReference(want, hostTensor("o", DType::F64, {3}, {nan, -inf, 1}), 1e-6)
                    .firstMismatch);
    // The scale ignores infinities.
    EXPECT_EQ(compareWithReference(want, want, 1e-6).scale, 1);
    // Missing and extra elements.
    const Comparison shorter =
        compareWithReference(want, hostTensor("o", DType::F64, {2}, {nan, inf}), 1e-6);
    ASSERT_TRUE(shorter.firstMismatch);
    EXPECT_EQ(shorter.firstMismatch->flatIndex, 2u);
    EXPECT_EQ(shorter.firstMismatch->index, (std::vector<std::int64_t>{2}));
    const Comparison longer =
        compareWithReference(want, hostTensor("o", DType::F64, {4}, {nan, inf, 1, 0}), 1e-6);
    ASSERT_TRUE(longer.firstMismatch);
    EXPECT_EQ(longer.firstMismatch->flatIndex, 3u);
    EXPECT_TRUE(longer.firstMismatch->index.empty());
}

} // namespace
} // namespace kpu::loader
