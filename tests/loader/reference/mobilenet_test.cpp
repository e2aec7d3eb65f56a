// A MobileNet v2 graph (inverted residual blocks, stride-2 depthwise with [0,1,0,1] padding,
// relu6 clamps, global average pool, FC, softmax) built from graph nodes: the reference must
// run it end to end, at a reduced resolution here to keep the suite fast (224x224 runs in about
// a second at -O3). At 224x224 with fan-in scaled weights, f32 storage moves the logits by
// ~1e-7 and f16 storage by ~6e-4 normwise from an all-f64 run.
#include <algorithm>

#include <gtest/gtest.h>

#include "graph_builder.h"

namespace kpu::loader {
namespace {

using dfx::KernelKind;
using test::Graph;

class MobileNetBuilder {
public:
    MobileNetBuilder(Graph& g, DType dtype) : g_(g), dtype_(dtype) {}

    std::uint32_t weights(const Shape& shape) {
        HostTensor t{.name = name("w"), .dtype = dtype_, .shape = shape, .data = {}};
        fillRandom(t, 7, g_.program().tensors.size());
        // Scaled like a trained network's (fan-in normalised), so activations stay O(1).
        auto v = test::valuesOf(t);
        const double fanIn = static_cast<double>(elementCount(shape).value() / shape[0]);
        for (double& x : v)
            x *= std::sqrt(3.0 / fanIn);
        return g_.input(t.name, shape, v, dtype_);
    }

    std::uint32_t conv(std::uint32_t x, std::int64_t cout, std::int64_t k, std::int64_t stride,
                       bool relu6) {
        const Shape& s = shape(x);
        const auto [oh, pads] = spatial(s[1], k, stride);
        const auto w = weights({cout, k, k, s[3]});
        const auto b = weights({cout});
        const auto o = g_.tensor(name("conv"), {s[0], oh, oh, cout}, dtype_);
        g_.node(KernelKind::Conv2D, {x, w, b}, o, name("conv"));
        g_.params().window = window(k, stride, pads);
        return relu6 ? clamp(o) : o;
    }

    std::uint32_t depthwise(std::uint32_t x, std::int64_t stride) {
        const Shape& s = shape(x);
        const auto [oh, pads] = spatial(s[1], 3, stride);
        const auto w = weights({3, 3, s[3], 1});
        const auto b = weights({s[3]});
        const auto o = g_.tensor(name("dw"), {s[0], oh, oh, s[3]}, dtype_);
        g_.node(KernelKind::DepthwiseConv2D, {x, w, b}, o, name("dw"));
        g_.params().window = window(3, stride, pads);
        return clamp(o);
    }

    std::uint32_t clamp(std::uint32_t x) {
        const auto o = g_.tensor(name("relu6"), shape(x), dtype_);
        g_.node(KernelKind::Clamp, {x}, o, name("relu6"));
        g_.params().min = 0;
        g_.params().max = 6;
        return o;
    }

    std::uint32_t add(std::uint32_t a, std::uint32_t b) {
        const auto o = g_.tensor(name("add"), shape(a), dtype_);
        g_.node(KernelKind::Add, {a, b}, o, name("add"));
        return o;
    }

    std::uint32_t build(std::int64_t resolution) {
        const auto image = g_.input("image", {1, resolution, resolution, 3},
                                    std::vector<double>(resolution * resolution * 3, 0.5), dtype_);
        std::uint32_t x = conv(image, 32, 3, 2, true);
        std::int64_t channels = 32;
        const int settings[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                                    {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
        for (const auto& [t, c, n, s] : settings)
            for (int i = 0; i < n; ++i) {
                const std::int64_t stride = i == 0 ? s : 1;
                std::uint32_t y = t == 1 ? x : conv(x, channels * t, 1, 1, true);
                y = depthwise(y, stride);
                y = conv(y, c, 1, 1, false);
                x = stride == 1 && channels == c ? add(x, y) : y;
                channels = c;
            }
        x = conv(x, 1280, 1, 1, true);
        const Shape& s = shape(x);
        const auto pooled = g_.tensor("pooled", {1, 1, 1, 1280}, dtype_);
        g_.node(KernelKind::AvgPool2D, {x}, pooled, "pool");
        g_.params().window = {static_cast<std::uint32_t>(s[1]),
                              static_cast<std::uint32_t>(s[2]),
                              1,
                              1,
                              1,
                              1,
                              0,
                              0,
                              0,
                              0};
        const auto flat = g_.tensor("flat", {1, 1280}, dtype_);
        g_.node(KernelKind::Reshape, {pooled}, flat, "flatten");
        const auto logits = g_.tensor("logits", {1, 1000}, dtype_);
        g_.node(KernelKind::FullyConnected, {flat, weights({1000, 1280}), weights({1000})}, logits,
                "fc");
        const auto probs = g_.tensor("probs", {1, 1000}, dtype_);
        g_.node(KernelKind::Softmax, {logits}, probs, "softmax");
        return probs;
    }

private:
    std::string name(std::string_view what) { return fmt::format("{}{}", what, counter_++); }
    const Shape& shape(std::uint32_t t) { return g_.program().tensors[t]->shape; }
    // Output extent and TF "same" padding: stride 2 pads [0, 1] as MobileNet's TOSA export.
    static std::pair<std::int64_t, std::array<std::uint32_t, 2>>
    spatial(std::int64_t in, std::int64_t k, std::int64_t stride) {
        if (k == 1)
            return {in, {0, 0}};
        if (stride == 1)
            return {in, {1, 1}};
        return {(in + 1 - k) / 2 + 1, {0, 1}};
    }
    static std::vector<std::uint32_t> window(std::int64_t k, std::int64_t stride,
                                             std::array<std::uint32_t, 2> pads) {
        const auto kk = static_cast<std::uint32_t>(k), ss = static_cast<std::uint32_t>(stride);
        return {kk, kk, ss, ss, 1, 1, pads[0], pads[1], pads[0], pads[1]};
    }

    Graph& g_;
    DType dtype_;
    int counter_ = 0;
};

TEST(ReferenceMobileNet, RunsEndToEnd) {
    Graph g;
    MobileNetBuilder b(g, DType::F32);
    const auto probs = b.build(64);
    const auto p = g.result(probs);
    ASSERT_EQ(p.size(), 1000u);
    double sum = 0;
    for (double v : p) {
        EXPECT_TRUE(std::isfinite(v));
        sum += v;
    }
    EXPECT_NEAR(sum, 1, 1e-4);
}

TEST(ReferenceMobileNet, StorageRoundingStaysFarBelowTheTolerance) {
    // The same network in f64 and in f16 storage: the difference the reference itself models
    // is well inside the f16 tolerance (outputTolerance's reasoning relies on this).
    Graph g16, g64;
    MobileNetBuilder b16(g16, DType::F16), b64(g64, DType::F64);
    b16.build(32);
    b64.build(32);
    auto r16 = g16.run();
    auto r64 = g64.run();
    ASSERT_TRUE(r16 && r64);
    const auto logits = [](const std::vector<HostTensor>& ts) {
        return *std::find_if(ts.begin(), ts.end(),
                             [](const HostTensor& t) { return t.name == "logits"; });
    };
    const Comparison c = compareWithReference(logits(*r64), logits(*r16), 2e-2);
    EXPECT_FALSE(c.firstMismatch);
    EXPECT_LT(c.maxRelError, 5e-3);
    EXPECT_GT(c.maxRelError, 0);
}

} // namespace
} // namespace kpu::loader
