// Transpose, Concat, Pad and Reshape.
#include <numeric>

#include <gtest/gtest.h>

#include "graph_builder.h"

namespace kpu::loader {
namespace {

using dfx::KernelKind;
using test::expectValues;
using test::Graph;

std::vector<double> iota(std::size_t n) {
    std::vector<double> v(n);
    std::iota(v.begin(), v.end(), 0.0);
    return v;
}

TEST(ReferenceTranspose, MatrixAndRankThree) {
    {
        Graph g;
        const auto x = g.input("x", {2, 3}, iota(6));
        const auto o = g.tensor("o", {3, 2});
        g.node(KernelKind::Transpose, {x}, o);
        g.params().perm = {1, 0};
        expectValues(g.result(o), {0, 3, 1, 4, 2, 5});
    }
    {
        // x[i][j][k] = 100i + 10j + k, shape 2x3x4; perm [2, 0, 1]: out[k][i][j].
        std::vector<double> x;
        for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 3; ++j)
                for (int k = 0; k < 4; ++k)
                    x.push_back(100 * i + 10 * j + k);
        std::vector<double> want;
        for (int k = 0; k < 4; ++k)
            for (int i = 0; i < 2; ++i)
                for (int j = 0; j < 3; ++j)
                    want.push_back(100 * i + 10 * j + k);
        Graph g;
        const auto xi = g.input("x", {2, 3, 4}, x);
        const auto o = g.tensor("o", {4, 2, 3});
        g.node(KernelKind::Transpose, {xi}, o);
        g.params().perm = {2, 0, 1};
        expectValues(g.result(o), want);
    }
}

TEST(ReferenceTranspose, RefusesBadPermutations) {
    const auto expectError = [](std::vector<std::uint8_t> perm, Shape out, bool setPerm,
                                std::string_view what) {
        Graph g;
        const auto x = g.input("x", {2, 3}, iota(6));
        g.node(KernelKind::Transpose, {x}, g.tensor("o", out), "t");
        if (setPerm)
            g.params().perm = perm;
        auto r = g.run();
        ASSERT_FALSE(r) << what;
        EXPECT_NE(r.error().message.find(what), std::string::npos) << r.error().message;
    };
    expectError({}, {3, 2}, false, "params.perm has 0 entries");
    expectError({0, 0}, {2, 2}, true, "not a permutation");
    expectError({0, 2}, {2, 3}, true, "not a permutation");
    expectError({1, 0}, {2, 3}, true, "output has shape 2x3, expected 3x2");
}

TEST(ReferenceConcat, AlongEachAxis) {
    {
        Graph g;
        const auto a = g.input("a", {1, 2}, {1, 2});
        const auto b = g.input("b", {2, 2}, {3, 4, 5, 6});
        const auto o = g.tensor("o", {3, 2});
        g.node(KernelKind::Concat, {a, b}, o);
        g.params().axis = 0;
        expectValues(g.result(o), {1, 2, 3, 4, 5, 6});
    }
    {
        // Three inputs along the last axis (the default, -1).
        Graph g;
        const auto a = g.input("a", {2, 1}, {1, 2});
        const auto b = g.input("b", {2, 2}, {3, 4, 5, 6});
        const auto c = g.input("c", {2, 1}, {7, 8});
        const auto o = g.tensor("o", {2, 4});
        g.node(KernelKind::Concat, {a, b, c}, o);
        expectValues(g.result(o), {1, 3, 4, 7, 2, 5, 6, 8});
    }
    {
        // Middle axis of a rank-3 tensor, counted from the end.
        Graph g;
        const auto a = g.input("a", {2, 1, 2}, {1, 2, 3, 4});
        const auto b = g.input("b", {2, 1, 2}, {5, 6, 7, 8});
        const auto o = g.tensor("o", {2, 2, 2});
        g.node(KernelKind::Concat, {a, b}, o);
        g.params().axis = -2;
        expectValues(g.result(o), {1, 2, 5, 6, 3, 4, 7, 8});
    }
}

TEST(ReferenceConcat, RefusesMismatchedInputs) {
    Graph g;
    const auto a = g.input("a", {2, 2}, iota(4));
    const auto b = g.input("b", {3, 1}, iota(3));
    g.node(KernelKind::Concat, {a, b}, g.tensor("o", {2, 3}), "cat");
    auto r = g.run();
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("(CONCAT): input 1 has shape 3x1"), std::string::npos)
        << r.error().message;

    Graph g2;
    const auto c = g2.input("c", {2, 2}, iota(4));
    g2.node(KernelKind::Concat, {c, c}, g2.tensor("o", {2, 5}), "cat");
    auto r2 = g2.run();
    ASSERT_FALSE(r2);
    EXPECT_NE(r2.error().message.find("add up to 4 along axis 1"), std::string::npos);

    Graph g3;
    const auto d = g3.input("d", {2, 2}, iota(4));
    g3.node(KernelKind::Concat, {d, d}, g3.tensor("o", {4, 2}), "cat");
    g3.params().axis = 2;
    auto r3 = g3.run();
    ASSERT_FALSE(r3);
    EXPECT_NE(r3.error().message.find("axis 2 is out of range for rank 2"), std::string::npos);
}

TEST(ReferencePad, BeforeAndAfterWithValue) {
    Graph g;
    const auto x = g.input("x", {2, 2}, {1, 2, 3, 4});
    const auto o = g.tensor("o", {3, 4});
    g.node(KernelKind::Pad, {x}, o);
    g.params().padding = {1, 0, 0, 2};
    g.params().pad_value = 9;
    expectValues(g.result(o), {9, 9, 9, 9, 1, 2, 9, 9, 3, 4, 9, 9});
}

TEST(ReferencePad, NhwcSpatialPaddingAndNoPadding) {
    Graph g;
    const auto x = g.input("x", {1, 1, 1, 2}, {5, 6});
    const auto o = g.tensor("o", {1, 2, 3, 2});
    const auto same = g.tensor("same", {1, 1, 1, 2});
    g.node(KernelKind::Pad, {x}, o);
    g.params().padding = {0, 0, 1, 0, 1, 1, 0, 0};
    g.node(KernelKind::Pad, {x}, same); // no params: nothing to pad
    auto r = g.run();
    ASSERT_TRUE(r) << r.error().message;
    expectValues(test::valuesOf((*r)[o]), {0, 0, 0, 0, 0, 0, 0, 0, 5, 6, 0, 0});
    expectValues(test::valuesOf((*r)[same]), {5, 6});
}

TEST(ReferencePad, RefusesWrongPaddingLength) {
    Graph g;
    const auto x = g.input("x", {2, 2}, iota(4));
    g.node(KernelKind::Pad, {x}, g.tensor("o", {3, 2}), "pad");
    g.params().padding = {1, 0};
    auto r = g.run();
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("params.padding has 2 entries, expected 4"), std::string::npos)
        << r.error().message;
}

TEST(ReferenceReshape, CopiesInOrderAndChecksTheCount) {
    Graph g;
    const auto x = g.input("x", {2, 3}, iota(6));
    const auto o = g.tensor("o", {3, 1, 2});
    g.node(KernelKind::Reshape, {x}, o);
    g.program().tensors[o]->alias_of = x; // a storage alias is just another tensor here
    expectValues(g.result(o), iota(6));

    Graph bad;
    const auto y = bad.input("y", {2, 3}, iota(6));
    bad.node(KernelKind::Reshape, {y}, bad.tensor("o", {4}), "rs");
    auto r = bad.run();
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("(RESHAPE): input 2x3 and output 4 have different element "
                                     "counts"),
              std::string::npos)
        << r.error().message;
}

} // namespace
} // namespace kpu::loader
