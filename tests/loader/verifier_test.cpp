// The two-stage object verifier under hostile input: seeded truncations, bit flips and
// byte overwrites of valid objects. Every mutation is either refused with an error naming
// the file, or verifies — and then binds and simulates to completion without crashing.
#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "kpu/common/file_io.h"
#include "kpu/compiler/compiler.h"
#include "kpu/loader/binder.h"
#include "kpu/loader/loader.h"
#include "kpu/loader/object_expansion.h"
#include "kpu/loader/verifier.h"
#include "kpu/schema/kernel_regions.h"
#include "support/dfg_writer.h"
#include "support/run_command.h"

namespace kpu::loader {
namespace {

std::vector<std::uint8_t> validObject(const std::string& dfgText, bool explicitOps = true) {
    test::ScratchDir dir("verifier");
    EXPECT_TRUE(writeTextFile(dir.file("g.dfg"), dfgText));
    auto r = compiler::compileDfgFile(dir.file("g.dfg"), {.explicitOps = explicitOps});
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r->object;
}

// Loads an untrusted buffer the way kpu-loader does (verify, expand TileLoops kernels); returns
// whether it was accepted.
bool loadBindAndRun(const std::vector<std::uint8_t>& bytes) {
    auto program = verifyObject(bytes, "m.kpu");
    if (!program) {
        EXPECT_EQ(program.error().message.rfind("m.kpu: error: ", 0), 0u)
            << program.error().message;
        return false;
    }
    flatbuffers::DetachedBuffer expanded;
    if (hasTileLoops(**program)) {
        auto built = expandProgram(bytes, "m.kpu");
        if (!built)
            return false;
        expanded = std::move(*built);
        program = dfx::GetProgram(expanded.data());
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
    for (bool explicitOps : {true, false}) {
        const auto valid =
            validObject(test::matmulDfg("g", {8, 20}, {20, 12}, {8, 12}), explicitOps);
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
}

std::vector<std::uint8_t> exampleObject(const std::string& name, bool explicitOps = true) {
    auto r = compiler::compileDfgFile(std::string(KPU_SOURCE_DIR) + "/examples/" + name,
                                      {.explicitOps = explicitOps});
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? r->object : std::vector<std::uint8_t>{};
}

TEST(Verifier, ThousandsOfSeededMutationsNeverCrash) {
    // Seeds cover GEMMs, vector kernels, fused epilogues, aliases, on-chip tensors and the
    // graph section (the CNN and attention examples), with every op stored and as TileLoops
    // kernels (format 3.0: the mutations then hit the loop records the loader expands).
    const std::vector<std::vector<std::uint8_t>> seeds{
        validObject(test::matmulDfg("g", {8, 20}, {20, 12}, {8, 12})),
        validObject(test::matmulDfg("g", {2, 9, 5}, {2, 5, 7}, {2, 9, 7}, {2, 9, 7})),
        exampleObject("cnn.dfg"),
        exampleObject("attention.dfg"),
        validObject(test::matmulDfg("g", {2, 9, 5}, {2, 5, 7}, {2, 9, 7}, {2, 9, 7}), false),
        exampleObject("cnn.dfg", false),
        exampleObject("attention.dfg", false),
        exampleObject("mlp.dfg", false)};
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

// A copy of `valid` in which the [long] vector in field `slot` of `table` (a table of `valid`)
// is moved to the end of the buffer, where its 8-byte elements are 4 bytes off their alignment.
// The FlatBuffers Verifier accepts this: it checks the alignment of a vector's length only.
std::vector<std::uint8_t> withMisalignedLongs(const std::vector<std::uint8_t>& valid,
                                              const flatbuffers::Table* table,
                                              flatbuffers::voffset_t slot) {
    const auto* field =
        reinterpret_cast<const std::uint8_t*>(table) + table->GetOptionalFieldOffset(slot);
    const auto* vector = table->GetPointer<const flatbuffers::Vector<std::int64_t>*>(slot);
    const auto* begin = reinterpret_cast<const std::uint8_t*>(vector);
    const auto* end = vector->Data() + vector->size() * sizeof(std::int64_t);
    std::vector<std::uint8_t> bytes = valid;
    const std::size_t moved = bytes.size(); // a multiple of 8: the elements land at 4 mod 8
    bytes.insert(bytes.end(), begin, end);
    const auto at = static_cast<std::size_t>(field - valid.data());
    const auto offset = static_cast<flatbuffers::uoffset_t>(moved - at);
    std::memcpy(bytes.data() + at, &offset, sizeof offset);
    return bytes;
}

// Every string of an object must be UTF-8; the message names the field and the byte, and does
// not quote the string.
TEST_F(VerifierRefuses, StringsThatAreNotUtf8) {
    EXPECT_EQ(refusal([](dfx::ProgramT& p) { p.tensors[1]->name = "conv\xff"; }),
              "m.kpu: error: tensors[1].name: not valid UTF-8 (byte 4 of 5)");
    EXPECT_EQ(refusal([](dfx::ProgramT& p) { p.kernels[0]->name = "\xc3("; }),
              "m.kpu: error: kernels[0].name: not valid UTF-8 (byte 0 of 2)");
    EXPECT_EQ(refusal([](dfx::ProgramT& p) { p.graph[2]->name = "a\xed\xa0\x80"; }),
              "m.kpu: error: graph[2].name: not valid UTF-8 (byte 1 of 4)"); // a surrogate
    EXPECT_EQ(refusal([](dfx::ProgramT& p) { p.producer = "\x80"; }),
              "m.kpu: error: producer: not valid UTF-8 (byte 0 of 1)");
    EXPECT_EQ(refusal([](dfx::ProgramT& p) { p.source_file = "caf\xe9.dfg"; }),
              "m.kpu: error: source_file: not valid UTF-8 (byte 3 of 8)");
    EXPECT_EQ(refusal([](dfx::ProgramT& p) { p.hints->target_config = "\xf5"; }),
              "m.kpu: error: hints.target_config: not valid UTF-8 (byte 0 of 1)");
    // Well-formed UTF-8 of any script is a name like any other.
    EXPECT_EQ(refusal([](dfx::ProgramT& p) { p.source_graph = "réseau_神经"; }), "accepted");
}

TEST(VerifierRefusesMisaligned, VectorsOfLongs) {
    const auto valid = validObject(test::matmulDfg("g", {8, 20}, {20, 12}, {8, 12}), false);
    const dfx::Program& p = *dfx::GetProgram(valid.data());
    ASSERT_EQ(valid.size() % 8, 0u);
    struct Case {
        const flatbuffers::Table* table;
        flatbuffers::voffset_t slot;
        std::string message;
    };
    const Case cases[] = {
        {reinterpret_cast<const flatbuffers::Table*>(p.tensors()->Get(1)), dfx::Tensor::VT_SHAPE,
         "m.kpu: error: tensors[1] 'B'.shape: the elements are not 8-byte aligned (a corrupt "
         "offset)"},
        {reinterpret_cast<const flatbuffers::Table*>(p.kernels()->Get(0)),
         dfx::Kernel::VT_INPUT_READY,
         "m.kpu: error: kernels[0] 'matmul#2'.input_ready: the elements are not 8-byte aligned (a "
         "corrupt offset)"}};
    for (const Case& c : cases) {
        const auto bytes = withMisalignedLongs(valid, c.table, c.slot);
        ASSERT_TRUE(dfx::verifyStructure(bytes, "m.kpu")); // stage one lets it through
        auto verified = verifyObject(bytes, "m.kpu");
        ASSERT_FALSE(verified) << c.message;
        EXPECT_EQ(verified.error().message, c.message);
    }
}

// ---- format 3.0: TileLoops kernels ------------------------------------------------------------

// Corruptions of the loop records of compact objects, each refused with the field's table path
// before anything is expanded.
class VerifierRefusesTileLoops : public ::testing::Test {
protected:
    static dfx::ProgramT compact(const std::string& example) {
        auto r = compiler::compileDfgFile(std::string(KPU_SOURCE_DIR) + "/examples/" + example,
                                          {.explicitOps = false});
        EXPECT_TRUE(r) << (r ? "" : r.error().message);
        return std::move(r->program);
    }

    // The error for `mutate`d copies of the MLP (three fused GEMMs, the later two reading an
    // on-chip tensor; two stored Reserve ops) and of the attention example (vector kinds).
    static std::string refusal(const std::string& example, void (*mutate)(dfx::ProgramT&)) {
        dfx::ProgramT copy = compact(example);
        mutate(copy);
        const auto bytes = compiler::serializeProgram(copy);
        auto verified = verifyObject(bytes, "m.kpu");
        return verified ? std::string("accepted") : verified.error().message;
    }

    static void expectRefusal(const std::string& example, void (*mutate)(dfx::ProgramT&),
                              const std::string& fragment) {
        const std::string message = refusal(example, mutate);
        EXPECT_NE(message.find(fragment), std::string::npos) << message;
        EXPECT_EQ(message.rfind("m.kpu: error: ", 0), 0u) << message;
    }

    static dfx::KernelT& k1(dfx::ProgramT& p) { return *p.kernels[1]; }
};

TEST_F(VerifierRefusesTileLoops, CompactObjectsVerifyAsTheyAre) {
    for (const char* example : {"mlp.dfg", "cnn.dfg", "attention.dfg", "matmul_chained_mixed.dfg"})
        EXPECT_EQ(refusal(example, [](dfx::ProgramT&) {}), "accepted") << example;
}

TEST_F(VerifierRefusesTileLoops, TileSizes) {
    expectRefusal(
        "mlp.dfg", [](dfx::ProgramT& p) { k1(p).tilings[1]->tile[2] = 0; },
        "kernels[1] 'fc2.matmul#10'.tilings[1].tile: expected 4 positive sizes");
    expectRefusal(
        "mlp.dfg", [](dfx::ProgramT& p) { k1(p).tilings[1]->tile[2] = 129; },
        "kernels[1] 'fc2.matmul#10'.tilings[1].tile[2]: 129 is not in 1..128 (the iteration "
        "space)");
    expectRefusal(
        "mlp.dfg", [](dfx::ProgramT& p) { k1(p).tilings[1]->tile[3] = 257; },
        "kernels[1] 'fc2.matmul#10'.tilings[1].tile[3]: 257 is not in 1..256");
    expectRefusal(
        "mlp.dfg", [](dfx::ProgramT& p) { k1(p).tilings[1]->tile[0] = 2; },
        "kernels[1] 'fc2.matmul#10'.tilings[1].tile[0]: 2 is not in 1..1");
    expectRefusal(
        "mlp.dfg",
        [](dfx::ProgramT& p) {
            k1(p).tilings.pop_back(); // only the L3 tiling is left
        },
        "kernels[1] 'fc2.matmul#10'.tilings: a TileLoops kernel needs an L2 tile");
}

TEST_F(VerifierRefusesTileLoops, LoopOrder) {
    expectRefusal(
        "mlp.dfg",
        [](dfx::ProgramT& p) {
            k1(p).loop_order = {0, 1, 1, 3};
        },
        "kernels[1] 'fc2.matmul#10'.loop_order: expected a permutation of 0..3");
    expectRefusal(
        "mlp.dfg", [](dfx::ProgramT& p) { k1(p).loop_order.clear(); },
        "kernels[1] 'fc2.matmul#10'.loop_order: expected a permutation of 0..3");
    expectRefusal(
        "mlp.dfg",
        [](dfx::ProgramT& p) {
            k1(p).loop_order = {0, 3, 1, 2};
        },
        "kernels[1] 'fc2.matmul#10'.loop_order: [0,3,1,2] does not run a matmul's batch "
        "outermost and K innermost");
}

TEST_F(VerifierRefusesTileLoops, InputLevelsReadyOpsAndOutputLevel) {
    expectRefusal(
        "mlp.dfg", [](dfx::ProgramT& p) { k1(p).input_levels.pop_back(); },
        "kernels[1] 'fc2.matmul#10'.input_levels: expected 3 entries (one per input)");
    expectRefusal(
        "mlp.dfg", [](dfx::ProgramT& p) { k1(p).input_levels[0] = dfx::MemoryLevel::L2; },
        "kernels[1] 'fc2.matmul#10'.input_levels[0]: 2 is not External (0) or L3 (1)");
    expectRefusal(
        "mlp.dfg", [](dfx::ProgramT& p) { k1(p).input_ready.clear(); },
        "kernels[1] 'fc2.matmul#10'.input_ready: expected 3 entries (one per input)");
    expectRefusal(
        "mlp.dfg", [](dfx::ProgramT& p) { k1(p).input_ready[0] = k1(p).first_op; },
        "kernels[1] 'fc2.matmul#10'.input_ready[0]: 131 is not -1 or an op before the kernel's "
        "first op 131");
    expectRefusal(
        "mlp.dfg", [](dfx::ProgramT& p) { k1(p).input_ready[2] = -2; },
        "kernels[1] 'fc2.matmul#10'.input_ready[2]: -2 is not -1 or an op before");
    expectRefusal(
        "mlp.dfg", [](dfx::ProgramT& p) { k1(p).output_level = dfx::MemoryLevel::L1; },
        "kernels[1] 'fc2.matmul#10'.output_level: 3 is not External (0) or L3 (1)");
}

TEST_F(VerifierRefusesTileLoops, OpCountsAndRanges) {
    expectRefusal(
        "mlp.dfg", [](dfx::ProgramT& p) { k1(p).op_count += 1; },
        "kernels[1] 'fc2.matmul#10'.op_count: 16, but its tile loops expand to 15 ops");
    // Kernel 1's ops may not start inside kernel 0's.
    expectRefusal(
        "mlp.dfg",
        [](dfx::ProgramT& p) {
            k1(p).first_op = 129;
            k1(p).input_ready[0] = 128;
        },
        "kernels[1] 'fc2.matmul#10'.first_op: 129 is before the end (130) of the previous "
        "TileLoops kernel's ops");
    // Past the end of the program.
    expectRefusal(
        "mlp.dfg", [](dfx::ProgramT& p) { p.kernels[2]->first_op = 200; },
        "kernels[2] 'fc3.matmul#13': ops [200, +9) exceed the 155 ops of the object");
    expectRefusal(
        "mlp.dfg", [](dfx::ProgramT& p) { k1(p).ops_encoding = static_cast<dfx::OpsEncoding>(7); },
        "kernels[1] 'fc2.matmul#10'.ops_encoding: unknown value 7");
}

// A record whose expansion would be enormous is refused from its counts, before anything is
// allocated: 1-element tiles of a 1024^3 GEMM would be 2^30 compute steps.
TEST_F(VerifierRefusesTileLoops, HugeExpansionIsRefusedBeforeAllocating) {
    test::ScratchDir dir("huge_expansion");
    ASSERT_TRUE(writeTextFile(dir.file("g.dfg"),
                              test::matmulDfg("g", {1024, 1024}, {1024, 1024}, {1024, 1024})));
    auto r = compiler::compileDfgFile(dir.file("g.dfg"), {.explicitOps = false});
    ASSERT_TRUE(r) << r.error().message;
    for (auto& tiling : r->program.kernels[0]->tilings)
        tiling->tile = {1, 1, 1, 1};
    const auto bytes = compiler::serializeProgram(r->program);
    auto verified = verifyObject(bytes, "m.kpu");
    ASSERT_FALSE(verified);
    EXPECT_NE(verified.error().message.find("kernels[0] 'matmul#2'.op_count: the tile loops expand "
                                            "to more than 16777216 ops or 33554432 dependencies"),
              std::string::npos)
        << verified.error().message;
}

TEST_F(VerifierRefusesTileLoops, VectorTilesThatSplitAPinnedDimension) {
    expectRefusal(
        "attention.dfg",
        [](dfx::ProgramT& p) {
            const std::size_t k = firstKernelOf(p, dfx::KernelKind::Softmax);
            p.kernels[k]->tilings[1]->tile[3] = 1;
        },
        "splits dimension 3 of");
}

TEST_F(VerifierRefusesTileLoops, StoredOpDependenciesUseProgramIndices) {
    // The MLP stores two Reserve ops, at program indices 0 and 130.
    expectRefusal(
        "mlp.dfg",
        [](dfx::ProgramT& p) {
            p.dep_indices.insert(p.dep_indices.begin(), 140u);
            for (std::size_t i = 2; i < p.dep_offsets.size(); ++i)
                ++p.dep_offsets[i];
        },
        "ops[1] (op 130 of the program): depends on op 140, which does not come before it");
    expectRefusal(
        "mlp.dfg",
        [](dfx::ProgramT& p) {
            p.dep_indices.insert(p.dep_indices.begin(), 155u);
            for (std::size_t i = 1; i < p.dep_offsets.size(); ++i)
                ++p.dep_offsets[i];
        },
        "dep_indices[0]: op index 155 out of range (object has 155 ops)");
}

TEST_F(VerifierRefusesTileLoops, NeedFormat3) {
    expectRefusal(
        "mlp.dfg", [](dfx::ProgramT& p) { p.format_major = 2; },
        "kernels[0] 'fc1.matmul#7'.ops_encoding: TileLoops kernels need format 3.0 or later (the "
        "object is 2.0)");
}

// Format 2.0 objects (no TileLoops kernels) are a subset of 3.0: a checked-in object written by
// the 2.0 compiler still loads, binds and runs.
TEST(FormatVersions, A2Point0ObjectStillLoads) {
    for (const char* name : {"fused_matmul_bias_relu.v2.kpu", "mlp.v2.kpu"}) {
        auto object = loadObject(std::string(KPU_FIXTURES_DIR) + "/objects/" + name);
        ASSERT_TRUE(object) << object.error().message;
        EXPECT_EQ(object->program->format_major(), 2);
        EXPECT_EQ(object->program, object->stored); // nothing to expand
        auto bytes = readBinaryFile(std::string(KPU_FIXTURES_DIR) + "/objects/" + name);
        ASSERT_TRUE(bytes);
        EXPECT_TRUE(loadBindAndRun(*bytes)) << name;
    }
}

} // namespace
} // namespace kpu::loader
