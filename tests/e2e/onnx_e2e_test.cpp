// An ONNX CNN through the command-line tools: kpu-kernel-compiler model.onnx, then kpu-loader
// with .pb inputs and --expect against values computed here by straightforward NCHW loops (an
// independent reference: not the importer's IR, not the simulator). Also --emit-dfg: the
// written .dfg compiles to a program that, given the ONNX program's constants, computes the
// same outputs.
#include <cmath>
#include <cstring>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kpu/common/onnx_tensor.h"
#include "support/onnx_model.h"
#include "support/run_command.h"

namespace kpu::test {
namespace {

using Tensor = std::vector<double>; // NCHW, row-major

// Deterministic values in [-1, 1).
std::vector<float> values(std::size_t n, unsigned seed) {
    std::vector<float> v(n);
    unsigned s = seed;
    for (float& x : v) {
        s = s * 1103515245u + 12345u;
        x = static_cast<float>((s >> 8) % 2000) / 1000.0f - 1.0f;
    }
    return v;
}

onnx_io::TensorValue f32(const std::string& name, Shape shape, const std::vector<double>& v) {
    onnx_io::TensorValue t{
        .name = name, .dtype = DType::F32, .shape = std::move(shape), .data = {}};
    t.data.resize(v.size() * 4);
    for (std::size_t i = 0; i < v.size(); ++i) {
        const auto f = static_cast<float>(v[i]);
        std::memcpy(t.data.data() + 4 * i, &f, 4);
    }
    return t;
}

// ---- the reference: plain loops over NCHW tensors in double ----

Tensor conv(const Tensor& x, int n, int c, int h, int w, const std::vector<float>& wt, int o,
            int group, int k, int pad, const std::vector<float>& bias) {
    const int cg = c / group, og = o / group;
    Tensor y(static_cast<std::size_t>(n * o * h * w), 0.0);
    for (int b = 0; b < n; ++b)
        for (int oc = 0; oc < o; ++oc)
            for (int i = 0; i < h; ++i)
                for (int j = 0; j < w; ++j) {
                    double acc = bias.empty() ? 0.0 : bias[oc];
                    for (int ci = 0; ci < cg; ++ci)
                        for (int ky = 0; ky < k; ++ky)
                            for (int kx = 0; kx < k; ++kx) {
                                const int yy = i + ky - pad, xx = j + kx - pad;
                                if (yy < 0 || yy >= h || xx < 0 || xx >= w)
                                    continue;
                                const int cin = (oc / og) * cg + ci;
                                acc += x[((b * c + cin) * h + yy) * w + xx] *
                                       wt[((oc * cg + ci) * k + ky) * k + kx];
                            }
                    y[((b * o + oc) * h + i) * w + j] = acc;
                }
    return y;
}

class OnnxE2e : public ::testing::Test {
protected:
    ScratchDir dir{"onnx_e2e"};
};

TEST_F(OnnxE2e, CnnMatchesAnIndependentReference) {
    // x[1,3,8,8] -> Conv 3x3 (4) + BN -> Relu -> MaxPool 2x2 -> depthwise Conv 3x3 -> LeakyRelu
    // -> GlobalAveragePool -> Flatten -> Gemm (transB) -> Softmax
    const auto w1 = values(4 * 3 * 9, 1), b1 = values(4, 2), w2 = values(4 * 9, 3);
    const auto wf = values(5 * 4, 4), cf = values(5, 5);
    const std::vector<float> scale{1.5f, 0.5f, 2.0f, 1.0f}, shift{0.1f, -0.2f, 0.3f, 0.0f};
    const std::vector<float> mean{0.05f, -0.1f, 0.2f, 0.0f}, var{0.5f, 1.0f, 2.0f, 0.25f};
    OnnxModel m("cnn");
    m.input("x", {-1, 3, 8, 8});
    m.initializer("w1", {4, 3, 3, 3}, w1);
    m.initializer("b1", {4}, b1);
    m.initializer("scale", {4}, scale);
    m.initializer("shift", {4}, shift);
    m.initializer("mean", {4}, mean);
    m.initializer("var", {4}, var);
    m.initializer("w2", {4, 1, 3, 3}, w2);
    m.initializer("wf", {5, 4}, wf);
    m.initializer("cf", {5}, cf);
    auto& c1 = m.node("Conv", {"x", "w1", "b1"}, {"c1"}, "conv1");
    OnnxModel::attr(c1, "pads", std::vector<std::int64_t>{1, 1, 1, 1});
    m.node("BatchNormalization", {"c1", "scale", "shift", "mean", "var"}, {"bn1"}, "bn1");
    m.node("Relu", {"bn1"}, {"r1"}, "relu1");
    auto& pool = m.node("MaxPool", {"r1"}, {"p1"}, "pool1");
    OnnxModel::attr(pool, "kernel_shape", std::vector<std::int64_t>{2, 2});
    OnnxModel::attr(pool, "strides", std::vector<std::int64_t>{2, 2});
    auto& c2 = m.node("Conv", {"p1", "w2"}, {"c2"}, "dw");
    OnnxModel::attr(c2, "pads", std::vector<std::int64_t>{1, 1, 1, 1});
    OnnxModel::attr(c2, "group", std::int64_t{4});
    auto& leaky = m.node("LeakyRelu", {"c2"}, {"r2"}, "leaky");
    OnnxModel::attr(leaky, "alpha", 0.1f);
    m.node("GlobalAveragePool", {"r2"}, {"g"}, "gap");
    m.node("Flatten", {"g"}, {"f"}, "flatten");
    auto& fc = m.node("Gemm", {"f", "wf", "cf"}, {"logits"}, "fc");
    OnnxModel::attr(fc, "transB", std::int64_t{1});
    m.node("Softmax", {"logits"}, {"prob"}, "softmax");
    m.output("prob", {-1, 5});
    m.save(dir.file("cnn.onnx"));

    // The reference.
    const auto xf = values(3 * 64, 6);
    Tensor x(xf.begin(), xf.end());
    Tensor a = conv(x, 1, 3, 8, 8, w1, 4, 1, 3, 1, b1);
    for (int c = 0; c < 4; ++c)
        for (int i = 0; i < 64; ++i) {
            double& v = a[static_cast<std::size_t>(c * 64 + i)];
            v = (v - mean[c]) / std::sqrt(var[c] + 1e-5) * scale[c] + shift[c];
            v = std::max(v, 0.0);
        }
    Tensor p(4 * 16);
    for (int c = 0; c < 4; ++c)
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) {
                double best = -INFINITY;
                for (int dy = 0; dy < 2; ++dy)
                    for (int dx = 0; dx < 2; ++dx)
                        best = std::max(best, a[c * 64 + (2 * i + dy) * 8 + 2 * j + dx]);
                p[c * 16 + i * 4 + j] = best;
            }
    Tensor d = conv(p, 1, 4, 4, 4, w2, 4, 4, 3, 1, {});
    std::vector<double> gap(4, 0.0);
    for (int c = 0; c < 4; ++c)
        for (int i = 0; i < 16; ++i) {
            const double v = d[c * 16 + i];
            gap[c] += (v > 0 ? v : 0.1 * v) / 16.0;
        }
    std::vector<double> logits(5), prob(5);
    double mx = -INFINITY, sum = 0;
    for (int o = 0; o < 5; ++o) {
        logits[o] = cf[o];
        for (int c = 0; c < 4; ++c)
            logits[o] += gap[c] * wf[o * 4 + c];
        mx = std::max(mx, logits[o]);
    }
    for (int o = 0; o < 5; ++o)
        sum += prob[o] = std::exp(logits[o] - mx);
    for (double& v : prob)
        v /= sum;

    ASSERT_TRUE(onnx_io::writeTensorFile(dir.file("input_0.pb"), f32("x", {1, 3, 8, 8}, x)));
    ASSERT_TRUE(onnx_io::writeTensorFile(dir.file("output_0.pb"), f32("prob", {1, 5}, prob)));

    auto compile = runCommand({KPU_COMPILER_EXE, dir.file("cnn.onnx"), "-o", dir.file("cnn.kpu"),
                               "--emit-dfg", dir.file("cnn.dfg")});
    ASSERT_EQ(compile.exitCode, 0) << compile.err;
    EXPECT_NE(compile.err.find("constants are written with their shapes only"), std::string::npos)
        << compile.err;
    auto run = runCommand({KPU_LOADER_EXE, dir.file("cnn.kpu"), "--input", dir.file("input_0.pb"),
                           "--expect", dir.file("output_0.pb")});
    ASSERT_EQ(run.exitCode, 0) << run.out << run.err;
    EXPECT_NE(run.out.find("PASS"), std::string::npos) << run.out;

    // A wrong expectation fails.
    prob[2] += 0.05;
    ASSERT_TRUE(onnx_io::writeTensorFile(dir.file("wrong.pb"), f32("prob", {1, 5}, prob)));
    auto wrong = runCommand({KPU_LOADER_EXE, dir.file("cnn.kpu"), "--input", dir.file("input_0.pb"),
                             "--expect", dir.file("wrong.pb")});
    EXPECT_EQ(wrong.exitCode, 1) << wrong.out << wrong.err;
    EXPECT_NE(wrong.out.find("FAIL"), std::string::npos) << wrong.out;

    // The object carries its weights: the disassembler shows stored values, and the conv + BN
    // were folded (no separate normalisation kernels).
    auto disasm = runCommand({KPU_DISASM_EXE, "--json", dir.file("cnn.kpu")});
    ASSERT_EQ(disasm.exitCode, 0) << disasm.err;
    const auto json = nlohmann::json::parse(disasm.out);
    std::vector<std::string> constants;
    for (const auto& t : json.at("tensors"))
        if (t.at("role") == "constant") {
            EXPECT_TRUE(t.at("values_stored").get<bool>()) << t.at("name");
            constants.push_back(t.at("name"));
        }
    EXPECT_FALSE(constants.empty());
    EXPECT_EQ(json.at("graph_inputs").size(), 1u);
    EXPECT_EQ(json.at("graph_outputs").size(), 1u);

    // --emit-dfg: the .dfg compiles; given the ONNX program's constants (written out with
    // --output) it computes the same probabilities.
    auto fromDfg = runCommand({KPU_COMPILER_EXE, dir.file("cnn.dfg"), "-o", dir.file("dfg.kpu")});
    ASSERT_EQ(fromDfg.exitCode, 0) << fromDfg.err;
    std::vector<std::string> dump{KPU_LOADER_EXE, dir.file("cnn.kpu"), "--input",
                                  dir.file("input_0.pb")};
    std::vector<std::string> rerun{KPU_LOADER_EXE, dir.file("dfg.kpu"),
                                   "--input",      "x=" + dir.file("input_0.pb"),
                                   "--expect",     "prob=" + dir.file("output_0.pb")};
    for (std::size_t i = 0; i < constants.size(); ++i) {
        const std::string file = dir.file("const" + std::to_string(i) + ".pb");
        dump.insert(dump.end(), {"--output", constants[i] + "=" + file});
        rerun.insert(rerun.end(), {"--input", constants[i] + "=" + file});
    }
    auto dumped = runCommand(dump);
    ASSERT_EQ(dumped.exitCode, 0) << dumped.err;
    auto same = runCommand(rerun);
    EXPECT_EQ(same.exitCode, 0) << same.out << same.err;
}

// The checked-in example, with its expected output from numpy (examples/onnx/make_cnn.py), run
// the way the ONNX test runners do.
TEST_F(OnnxE2e, ExampleCnnPassesItsTestData) {
    const std::string example = std::string(KPU_SOURCE_DIR) + "/examples/onnx/";
    auto compile =
        runCommand({KPU_COMPILER_EXE, example + "cnn.onnx", "-o", dir.file("example.kpu")});
    ASSERT_EQ(compile.exitCode, 0) << compile.err;
    auto run = runCommand({KPU_LOADER_EXE, dir.file("example.kpu"), "--input",
                           example + "test_data_set_0/input_0.pb", "--expect",
                           example + "test_data_set_0/output_0.pb"});
    EXPECT_EQ(run.exitCode, 0) << run.out << run.err;
    EXPECT_NE(run.out.find(": PASS"), std::string::npos) << run.out;
}

TEST_F(OnnxE2e, StaticInputsAreCheckedAtRunTime) {
    OnnxModel m("reshape");
    m.input("x", {2, 6});
    m.input("shape", {2}, onnx::TensorProto::INT64);
    m.node("Reshape", {"x", "shape"}, {"r"}, "reshape");
    m.node("Relu", {"r"}, {"y"}, "relu");
    m.output("y", {3, 4});
    m.save(dir.file("reshape.onnx"));
    const auto shape = [](std::int64_t a, std::int64_t b) {
        onnx_io::TensorValue t{.name = "shape", .dtype = DType::I64, .shape = {2}, .data = {}};
        t.data.resize(16);
        std::memcpy(t.data.data(), &a, 8);
        std::memcpy(t.data.data() + 8, &b, 8);
        return t;
    };
    ASSERT_TRUE(onnx_io::writeTensorFile(dir.file("input_1.pb"), shape(3, -1)));
    ASSERT_TRUE(onnx_io::writeTensorFile(dir.file("other.pb"), shape(4, -1)));
    std::vector<double> xv(12), yv(12);
    for (int i = 0; i < 12; ++i) {
        xv[i] = i - 5.5;
        yv[i] = std::max(xv[i], 0.0);
    }
    ASSERT_TRUE(onnx_io::writeTensorFile(dir.file("input_0.pb"), f32("x", {2, 6}, xv)));
    ASSERT_TRUE(onnx_io::writeTensorFile(dir.file("output_0.pb"), f32("y", {3, 4}, yv)));

    auto refused = runCommand({KPU_COMPILER_EXE, dir.file("reshape.onnx"), "-o", "/dev/null"});
    EXPECT_EQ(refused.exitCode, 1);
    EXPECT_NE(refused.err.find("--const shape=FILE"), std::string::npos) << refused.err;

    auto compile = runCommand({KPU_COMPILER_EXE, dir.file("reshape.onnx"), "-o", dir.file("r.kpu"),
                               "--const", "shape=" + dir.file("input_1.pb")});
    ASSERT_EQ(compile.exitCode, 0) << compile.err;
    auto run = runCommand({KPU_LOADER_EXE, dir.file("r.kpu"), "--input", dir.file("input_0.pb"),
                           "--input", dir.file("input_1.pb"), "--expect", dir.file("output_0.pb")});
    EXPECT_EQ(run.exitCode, 0) << run.out << run.err;
    auto other = runCommand({KPU_LOADER_EXE, dir.file("r.kpu"), "--input", dir.file("input_0.pb"),
                             "--input", dir.file("other.pb")});
    EXPECT_EQ(other.exitCode, 1);
    EXPECT_NE(other.err.find("shape"), std::string::npos) << other.err;
}

// The exporters' erf form of GELU, fused into one GELU by the importer, against erf in double.
TEST_F(OnnxE2e, FusedGeluMatchesTheErfFormula) {
    OnnxModel m("gelu");
    m.input("x", {16, 32});
    m.initializer("sqrt2", {}, {1.41421354f});
    m.initializer("one", {}, {1.0f});
    m.initializer("half", {}, {0.5f});
    m.node("Div", {"x", "sqrt2"}, {"d"});
    m.node("Erf", {"d"}, {"e"});
    m.node("Add", {"e", "one"}, {"a"});
    m.node("Mul", {"x", "a"}, {"xa"});
    m.node("Mul", {"xa", "half"}, {"y"});
    m.output("y", {16, 32});
    m.save(dir.file("gelu.onnx"));
    const auto xf = values(16 * 32, 9);
    std::vector<double> x(xf.begin(), xf.end()), y(x.size());
    for (std::size_t i = 0; i < x.size(); ++i)
        y[i] = 0.5 * (4 * x[i]) * (1 + std::erf(4 * x[i] / std::sqrt(2.0))), x[i] *= 4;
    ASSERT_TRUE(onnx_io::writeTensorFile(dir.file("x.pb"), f32("x", {16, 32}, x)));
    ASSERT_TRUE(onnx_io::writeTensorFile(dir.file("y.pb"), f32("y", {16, 32}, y)));
    auto compile = runCommand(
        {KPU_COMPILER_EXE, dir.file("gelu.onnx"), "-o", dir.file("g.kpu"), "--emit-graph"});
    ASSERT_EQ(compile.exitCode, 0) << compile.err;
    EXPECT_NE(compile.out.find("GELU"), std::string::npos) << compile.out;
    EXPECT_EQ(compile.out.find("ERF"), std::string::npos) << compile.out;
    auto run = runCommand({KPU_LOADER_EXE, dir.file("g.kpu"), "--input", dir.file("x.pb"),
                           "--expect", dir.file("y.pb")});
    EXPECT_EQ(run.exitCode, 0) << run.out << run.err;
}

TEST_F(OnnxE2e, UnsupportedOperatorIsAnErrorNamingTheNode) {
    OnnxModel m("bad");
    m.input("x", {2, 2});
    m.node("Det", {"x"}, {"y"}, "determinant");
    m.output("y", {});
    m.save(dir.file("bad.onnx"));
    auto r = runCommand({KPU_COMPILER_EXE, dir.file("bad.onnx"), "-o", dir.file("bad.kpu")});
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_FALSE(r.crashed);
    EXPECT_NE(r.err.find("bad.onnx: error: node 0 'determinant' (Det): operator Det is not "
                         "supported"),
              std::string::npos)
        << r.err;
}

} // namespace
} // namespace kpu::test
