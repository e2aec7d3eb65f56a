// The two-stage object verifier under hostile input: seeded truncations, bit flips and
// byte overwrites of valid objects. Every mutation is either refused with an error naming
// the file, or verifies — and then binds and simulates to completion without crashing.
#include <random>

#include <gtest/gtest.h>

#include "kpu/common/file_io.h"
#include "kpu/compiler/compiler.h"
#include "kpu/loader/binder.h"
#include "kpu/loader/loader.h"
#include "kpu/loader/verifier.h"
#include "kpu/schema/kernel_regions.h"
#include "support/dfg_writer.h"
#include "support/run_command.h"

namespace kpu::loader {
namespace {

std::vector<std::uint8_t> validObject(const std::string& dfgText) {
    test::ScratchDir dir("verifier");
    EXPECT_TRUE(writeTextFile(dir.file("g.dfg"), dfgText));
    auto r = compiler::compileDfgFile(dir.file("g.dfg"), {});
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r->object;
}

// Loads an untrusted buffer the way kpu-loader does; returns whether it was accepted.
bool loadBindAndRun(const std::vector<std::uint8_t>& bytes) {
    auto program = verifyObject(bytes, "m.kpu");
    if (!program) {
        EXPECT_EQ(program.error().message.rfind("m.kpu: error: ", 0), 0u)
            << program.error().message;
        return false;
    }
    auto schedule = bindProgram(**program, defaultConfig(), "m.kpu");
    if (!schedule)
        return true; // refused at binding, with an error: fine
    auto inputs = prepareInputs(**program, {}, 1);
    if (!inputs)
        return true;
    auto result = simulate(**program, *schedule, defaultConfig(), *inputs);
    if (result)
        (void)verifyOutputs(**program, *inputs, *result, "g.kpu");
    return true;
}

TEST(Verifier, AcceptsCompiledObjects) {
    EXPECT_TRUE(loadBindAndRun(validObject(test::matmulDfg("g", {8, 20}, {20, 12}, {8, 12}))));
    EXPECT_TRUE(loadBindAndRun(
        validObject(test::matmulDfg("g", {2, 9, 5}, {2, 5, 7}, {2, 9, 7}, {2, 9, 7}))));
}

TEST(Verifier, EveryTruncationIsRefused) {
    const auto valid = validObject(test::matmulDfg("g", {8, 20}, {20, 12}, {8, 12}));
    // A FlatBuffer may end in alignment padding that nothing references: cutting only padding
    // leaves a complete object. Every cut into referenced bytes must be refused.
    std::size_t padding = 0;
    while (padding < valid.size() && valid[valid.size() - 1 - padding] == 0)
        ++padding;
    for (std::size_t n = 0; n + padding < valid.size(); ++n)
        EXPECT_FALSE(
            loadBindAndRun({valid.begin(), valid.begin() + static_cast<std::ptrdiff_t>(n)}))
            << n;
}

std::vector<std::uint8_t> exampleObject(const std::string& name) {
    auto r = compiler::compileDfgFile(std::string(KPU_SOURCE_DIR) + "/examples/" + name, {});
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? r->object : std::vector<std::uint8_t>{};
}

TEST(Verifier, ThousandsOfSeededMutationsNeverCrash) {
    // Seeds cover GEMMs, vector kernels, fused epilogues, aliases, on-chip tensors and the
    // graph section (the CNN and attention examples).
    const std::vector<std::vector<std::uint8_t>> seeds{
        validObject(test::matmulDfg("g", {8, 20}, {20, 12}, {8, 12})),
        validObject(test::matmulDfg("g", {2, 9, 5}, {2, 5, 7}, {2, 9, 7}, {2, 9, 7})),
        exampleObject("cnn.dfg"), exampleObject("attention.dfg")};
    std::mt19937_64 rng(20261122);
    int accepted = 0, refused = 0;
    for (int i = 0; i < 6000; ++i) {
        auto bytes = seeds[static_cast<std::size_t>(i) % seeds.size()];
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int f = 0; f < flips; ++f) {
            const std::size_t at = rng() % bytes.size();
            switch (rng() % 3) {
            case 0:
                bytes[at] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
                break; // bit flip
            case 1:
                bytes[at] = static_cast<std::uint8_t>(rng());
                break; // byte overwrite
            default:
                bytes[at] = 0xff;
                break; // saturate
            }
        }
        (loadBindAndRun(bytes) ? accepted : refused)++;
    }
    // Both outcomes occur; the point is that neither crashed.
    EXPECT_GT(refused, 100);
    EXPECT_GT(accepted, 10);
}

// Targeted corruptions of the format 2.0 fields, each refused with a message naming the field.
class VerifierRefuses : public ::testing::Test {
protected:
    void SetUp() override {
        auto r = compiler::compileDfgFile(std::string(KPU_SOURCE_DIR) + "/examples/cnn.dfg", {});
        ASSERT_TRUE(r) << r.error().message;
        program_ = std::move(r->program);
    }

    std::string refusal(void (*mutate)(dfx::ProgramT&)) {
        dfx::ProgramT copy = program_;
        mutate(copy);
        const auto bytes = compiler::serializeProgram(copy);
        auto verified = verifyObject(bytes, "m.kpu");
        return verified ? std::string("accepted") : verified.error().message;
    }

    dfx::ProgramT program_;
};

std::size_t firstKernelOf(const dfx::ProgramT& p, dfx::KernelKind kind) {
    for (std::size_t k = 0; k < p.kernels.size(); ++k)
        if (p.kernels[k]->kind == kind)
            return k;
    return p.kernels.size();
}

TEST_F(VerifierRefuses, AliasOfALaterTensorOrAnAlias) {
    EXPECT_NE(refusal([](dfx::ProgramT& p) {
                  p.tensors[0]->alias_of = 1;
              }).find(".alias_of: 1 is not an earlier tensor"),
              std::string::npos);
    EXPECT_NE(refusal([](dfx::ProgramT& p) {
                  for (std::size_t t = 1; t < p.tensors.size(); ++t)
                      if (p.tensors[t]->alias_of < 0) {
                          p.tensors[t]->alias_of = 0; // a different size
                          break;
                      }
              }).find("has a different size"),
              std::string::npos);
}

TEST_F(VerifierRefuses, GraphOnlyKindsAsKernels) {
    EXPECT_NE(refusal([](dfx::ProgramT& p) {
                  p.kernels[0]->kind = dfx::KernelKind::Conv2D;
              }).find("graph-only operators are not kernels"),
              std::string::npos);
}

TEST_F(VerifierRefuses, VectorKernelShapesThatDisagree) {
    // A pool whose stride no longer produces its output's size.
    EXPECT_NE(refusal([](dfx::ProgramT& p) {
                  const std::size_t k = firstKernelOf(p, dfx::KernelKind::MaxPool2D);
                  p.kernels[k]->params->window[2] = 1;
              }).find("do not follow from the input and window"),
              std::string::npos);
    // A zero stride would divide by zero in the simulator.
    EXPECT_NE(refusal([](dfx::ProgramT& p) {
                  const std::size_t k = firstKernelOf(p, dfx::KernelKind::MaxPool2D);
                  p.kernels[k]->params->window[2] = 0;
              }).find("must be positive"),
              std::string::npos);
    // A softmax axis beyond the tensor's rank.
    EXPECT_NE(refusal([](dfx::ProgramT& p) {
                  const std::size_t k = firstKernelOf(p, dfx::KernelKind::Softmax);
                  p.kernels[k]->params->axis = 7;
              }).find("does not address a dimension"),
              std::string::npos);
}

TEST_F(VerifierRefuses, MatMulParametersOutOfRange) {
    EXPECT_NE(refusal([](dfx::ProgramT& p) {
                  const std::size_t k = firstKernelOf(p, dfx::KernelKind::MatMul);
                  p.kernels[k]->params->bias_input = 9;
              }).find("params.bias_input: 9"),
              std::string::npos);
    EXPECT_NE(refusal([](dfx::ProgramT& p) {
                  const std::size_t k = firstKernelOf(p, dfx::KernelKind::MatMul);
                  p.kernels[k]->params->transpose_b = !p.kernels[k]->params->transpose_b;
              }).find("B tensor"),
              std::string::npos);
}

TEST_F(VerifierRefuses, ComputeFlagsAndReserveOps) {
    EXPECT_NE(refusal([](dfx::ProgramT& p) {
                  for (dfx::Op& op : p.ops)
                      if (op.kind() == dfx::OpKind::Compute) {
                          op = dfx::Op(op.kind(), op.move_kind(), op.src_level(), op.dst_level(),
                                       0x8, op.index(), op.region());
                          break;
                      }
              }).find("unknown bits 0x8"),
              std::string::npos);
    EXPECT_NE(refusal([](dfx::ProgramT& p) {
                  for (dfx::Op& op : p.ops)
                      if (op.kind() == dfx::OpKind::Reserve) {
                          op = dfx::Op(op.kind(), op.move_kind(), op.src_level(),
                                       dfx::MemoryLevel::L2, 0, op.index(), op.region());
                          break;
                      }
              }).find("a reserve names a whole tensor"),
              std::string::npos);
}

TEST_F(VerifierRefuses, GraphSectionIndicesAndAbsence) {
    EXPECT_NE(refusal([](dfx::ProgramT& p) {
                  p.graph[0]->output = 9999;
              }).find("graph[0].output: tensor index 9999 out of range"),
              std::string::npos);
    EXPECT_NE(refusal([](dfx::ProgramT& p) { p.graph.clear(); }).find("graph: missing"),
              std::string::npos);
}

TEST_F(VerifierRefuses, VectorTilesThatSplitAPinnedDimension) {
    // The softmax normalises along its axis: a tile holding half of it would be wrong.
    EXPECT_NE(refusal([](dfx::ProgramT& p) {
                  const std::size_t k = firstKernelOf(p, dfx::KernelKind::Softmax);
                  for (dfx::Op& op : p.ops)
                      if (op.kind() == dfx::OpKind::Compute && op.index() == k) {
                          auto box = dfx::toBox(op.region());
                          box.extent[3] = 5;
                          op = dfx::Op(op.kind(), op.move_kind(), op.src_level(), op.dst_level(),
                                       op.flags(), op.index(), dfx::toRegion(box));
                          break;
                      }
              }).find("needs whole"),
              std::string::npos);
}

TEST(VerifierRefusesAttention, TransposeWhosePermIsNotAPermutation) {
    auto r = compiler::compileDfgFile(std::string(KPU_SOURCE_DIR) + "/examples/attention.dfg", {});
    ASSERT_TRUE(r) << r.error().message;
    dfx::ProgramT p = std::move(r->program);
    const std::size_t k = firstKernelOf(p, dfx::KernelKind::Transpose);
    ASSERT_LT(k, p.kernels.size());
    p.kernels[k]->params->perm = {1, 1}; // would leave one input coordinate unread
    const auto bytes = compiler::serializeProgram(p);
    auto verified = verifyObject(bytes, "m.kpu");
    ASSERT_FALSE(verified);
    EXPECT_NE(verified.error().message.find("does not address a dimension"), std::string::npos)
        << verified.error().message;
}

} // namespace
} // namespace kpu::loader
