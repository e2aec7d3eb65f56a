// The disassembler (schema/disasm.h): stable text for golden tests, and JSON that carries every
// field of the object (checked by rebuilding the object from the JSON, byte for byte).
#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kpu/compiler/compiler.h"
#include "kpu/loader/verifier.h"
#include "kpu/schema/disasm.h"
#include "kpu/schema/object.h"

namespace kpu::dfx {
namespace {

using Json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Building objects by hand.

std::unique_ptr<TensorT> tensor(std::string name, std::vector<std::int64_t> shape, TensorRole role,
                                std::int64_t sourceNode, DType dtype = DType::F32) {
    auto t = std::make_unique<TensorT>();
    t->name = std::move(name);
    t->shape = std::move(shape);
    t->dtype = dtype;
    t->role = role;
    t->source_node = sourceNode;
    return t;
}

Region region(std::array<std::uint32_t, 4> origin, std::array<std::uint32_t, 4> extent) {
    return Region(origin, extent);
}

Op move(MoveKind kind, MemoryLevel src, MemoryLevel dst, std::uint32_t tensorIndex, Region r) {
    return Op(OpKind::DataMove, kind, src, dst, 0, tensorIndex, r);
}

// Levels and regions as the compiler fills them: a compute op reads and writes L2, a barrier
// has a zero region.
Op compute(std::uint32_t kernelIndex, Region r, std::uint32_t flags = 0) {
    return Op(OpKind::Compute, MoveKind::Load, MemoryLevel::L2, MemoryLevel::L2, flags, kernelIndex,
              r);
}

Op barrier() {
    return Op(OpKind::Barrier, MoveKind::Load, MemoryLevel::External, MemoryLevel::External, 0, 0,
              Region());
}

void setDeps(ProgramT& p, const std::vector<std::vector<std::uint32_t>>& deps) {
    p.dep_offsets = {0};
    p.dep_indices.clear();
    for (const auto& list : deps) {
        p.dep_indices.insert(p.dep_indices.end(), list.begin(), list.end());
        p.dep_offsets.push_back(static_cast<std::uint32_t>(p.dep_indices.size()));
    }
}

// C[4x4] = A[4x16] x B[16x4], K split in two so the second compute accumulates.
ProgramT matmulProgram() {
    ProgramT p;
    p.format_major = kFormatMajor;
    p.format_minor = kFormatMinor;
    p.producer = "kpu-kernel-compiler 0.1.0";
    p.source_graph = "non-batched-2-input-matmul";
    p.source_file = "examples/matmul.dfg";
    p.tensors.push_back(tensor("A", {4, 16}, TensorRole::Constant, 0));
    p.tensors.push_back(tensor("B", {16, 4}, TensorRole::Input, 1));
    p.tensors.push_back(tensor("Cout", {4, 4}, TensorRole::Output, 3));

    auto k = std::make_unique<KernelT>();
    k->name = "MATMUL#3";
    k->source_node = 3;
    k->inputs = {0, 1};
    k->output = 2;
    k->iteration_space = {1, 4, 4, 16};
    k->input_batched = {1, 0};
    for (auto level : {MemoryLevel::L3, MemoryLevel::L2}) {
        auto tiling = std::make_unique<LevelTilingT>();
        tiling->level = level;
        tiling->tile = {1, 4, 4, level == MemoryLevel::L3 ? 16u : 8u};
        k->tilings.push_back(std::move(tiling));
    }
    k->dataflow = Dataflow::OutputStationary;
    k->loop_order = {0, 1, 2, 3};
    k->first_op = 0;
    k->op_count = 10;
    p.kernels.push_back(std::move(k));

    using L = MemoryLevel;
    p.ops = {
        move(MoveKind::Load, L::External, L::L3, 0, region({0, 0, 0, 0}, {1, 1, 4, 16})),
        move(MoveKind::Load, L::L3, L::L2, 0, region({0, 0, 0, 0}, {1, 1, 4, 16})),
        move(MoveKind::Load, L::External, L::L3, 1, region({0, 0, 0, 0}, {1, 1, 16, 4})),
        move(MoveKind::Load, L::L3, L::L2, 1, region({0, 0, 0, 0}, {1, 1, 8, 4})),
        move(MoveKind::Prefetch, L::L3, L::L2, 1, region({0, 0, 8, 0}, {1, 1, 8, 4})),
        compute(0, region({0, 0, 0, 0}, {1, 4, 4, 8})),
        compute(0, region({0, 0, 0, 8}, {1, 4, 4, 8}), 1),
        move(MoveKind::Store, L::L2, L::L3, 2, region({0, 0, 0, 0}, {1, 1, 4, 4})),
        move(MoveKind::Flush, L::L3, L::External, 2, region({0, 0, 0, 0}, {1, 1, 4, 4})),
        barrier(),
    };
    setDeps(p, {{}, {0}, {}, {2}, {2}, {1, 3}, {4, 5}, {6}, {7}, {0, 1, 2, 3, 4, 5, 6, 7, 8}});

    p.hints = std::make_unique<HintsT>();
    p.hints->external_bytes = 384;
    p.hints->compute_cycles = 112;
    p.hints->macs = 256;
    p.hints->parallelism = 1;
    p.hints->target_config = "default";
    p.hints->array_rows = 16;
    p.hints->array_cols = 16;
    return p;
}

std::vector<std::uint8_t> serialize(const ProgramT& p) {
    flatbuffers::FlatBufferBuilder b;
    FinishProgramBuffer(b, Program::Pack(b, &p));
    return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

// Serialized bytes kept alive with the Program view into them.
struct Object {
    std::vector<std::uint8_t> bytes;
    const Program& program() const { return *GetProgram(bytes.data()); }
};

Object objectOf(const ProgramT& p) {
    return Object{serialize(p)};
}

DisasmOptions only(std::initializer_list<DisasmSection> sections) {
    DisasmOptions options;
    options.sections = 0;
    for (auto s : sections)
        options.sections |= static_cast<unsigned>(s);
    return options;
}

// ---------------------------------------------------------------------------------------------
// Rebuilding a ProgramT from the JSON: if the result serializes to the same bytes, the JSON
// carried every field.

template <class E>
E enumByName(const std::string& name, const std::map<std::string, E>& names) {
    auto it = names.find(name);
    EXPECT_NE(it, names.end()) << "unknown enum spelling '" << name << "'";
    return it == names.end() ? E{} : it->second;
}

MemoryLevel levelOf(const Json& j) {
    return enumByName<MemoryLevel>(j, {{"external", MemoryLevel::External},
                                       {"l3", MemoryLevel::L3},
                                       {"l2", MemoryLevel::L2},
                                       {"l1", MemoryLevel::L1}});
}

std::string stringOr(const Json& j) {
    return j.is_null() ? std::string() : j.get<std::string>();
}

std::unique_ptr<TensorT> tensorFromJson(const Json& j) {
    auto t = std::make_unique<TensorT>();
    t->name = j.at("name");
    t->shape = j.at("shape").get<std::vector<std::int64_t>>();
    t->dtype = enumByName<DType>(j.at("dtype"), {{"f32", DType::F32},
                                                 {"f16", DType::F16},
                                                 {"f64", DType::F64},
                                                 {"f8", DType::F8E4M3},
                                                 {"i8", DType::I8},
                                                 {"i32", DType::I32}});
    t->role = enumByName<TensorRole>(j.at("role"), {{"input", TensorRole::Input},
                                                    {"constant", TensorRole::Constant},
                                                    {"output", TensorRole::Output},
                                                    {"intermediate", TensorRole::Intermediate}});
    t->source_node = j.at("source_node");
    return t;
}

std::unique_ptr<KernelT> kernelFromJson(const Json& j) {
    auto k = std::make_unique<KernelT>();
    k->name = j.at("name");
    k->source_node = j.at("source_node");
    k->kind = enumByName<KernelKind>(j.at("kind"), {{"matmul", KernelKind::MatMul}});
    k->inputs = j.at("inputs").get<std::vector<std::uint32_t>>();
    k->output = j.at("output");
    k->iteration_space = j.at("iteration_space").get<std::vector<std::uint32_t>>();
    k->input_batched = j.at("input_batched").get<std::vector<std::uint8_t>>();
    for (const auto& lt : j.at("tilings")) {
        auto tiling = std::make_unique<LevelTilingT>();
        tiling->level = levelOf(lt.at("level"));
        tiling->tile = lt.at("tile").get<std::vector<std::uint32_t>>();
        k->tilings.push_back(std::move(tiling));
    }
    k->dataflow =
        enumByName<Dataflow>(j.at("dataflow"), {{"output-stationary", Dataflow::OutputStationary},
                                                {"weight-stationary", Dataflow::WeightStationary},
                                                {"input-stationary", Dataflow::InputStationary}});
    k->loop_order = j.at("loop_order").get<std::vector<std::uint8_t>>();
    k->first_op = j.at("first_op");
    k->op_count = j.at("op_count");
    return k;
}

Op opFromJson(const Json& j) {
    const std::string kind = j.at("kind");
    const std::uint32_t flags = j.at("flags");
    const Region r(j.at("region").at("origin").get<std::array<std::uint32_t, 4>>(),
                   j.at("region").at("extent").get<std::array<std::uint32_t, 4>>());
    const MemoryLevel src = levelOf(j.at("src"));
    const MemoryLevel dst = levelOf(j.at("dst"));
    if (kind == "barrier")
        return Op(OpKind::Barrier, MoveKind::Load, src, dst, flags, 0, r);
    if (kind == "compute") {
        EXPECT_EQ(j.at("accumulate").get<bool>(), (flags & 1u) != 0);
        return Op(OpKind::Compute, MoveKind::Load, src, dst, flags, j.at("kernel"), r);
    }
    EXPECT_EQ(kind, "data-move");
    const auto moveKind = enumByName<MoveKind>(j.at("move"), {{"load", MoveKind::Load},
                                                              {"prefetch", MoveKind::Prefetch},
                                                              {"store", MoveKind::Store},
                                                              {"flush", MoveKind::Flush}});
    return Op(OpKind::DataMove, moveKind, src, dst, flags, j.at("tensor"), r);
}

ProgramT programFromJson(const Json& j) {
    ProgramT p;
    p.format_major = j.at("format").at("major");
    p.format_minor = j.at("format").at("minor");
    p.producer = stringOr(j.at("producer"));
    p.source_graph = stringOr(j.at("source_graph"));
    p.source_file = stringOr(j.at("source_file"));
    for (const auto& t : j.at("tensors"))
        p.tensors.push_back(tensorFromJson(t));
    for (const auto& k : j.at("kernels"))
        p.kernels.push_back(kernelFromJson(k));
    std::vector<std::vector<std::uint32_t>> deps;
    for (const auto& op : j.at("ops")) {
        EXPECT_EQ(op.at("index").get<std::size_t>(), p.ops.size());
        p.ops.push_back(opFromJson(op));
        deps.push_back(op.at("deps").get<std::vector<std::uint32_t>>());
    }
    setDeps(p, deps);
    if (const auto& h = j.at("hints"); !h.is_null()) {
        p.hints = std::make_unique<HintsT>();
        p.hints->external_bytes = h.at("external_bytes");
        p.hints->compute_cycles = h.at("compute_cycles");
        p.hints->macs = h.at("macs");
        p.hints->parallelism = h.at("parallelism");
        p.hints->target_config = stringOr(h.at("target_config"));
        p.hints->array_rows = h.at("array_rows");
        p.hints->array_cols = h.at("array_cols");
    }
    return p;
}

// ---------------------------------------------------------------------------------------------
// Text.

TEST(DisasmText, MatMulGolden) {
    const Object object = objectOf(matmulProgram());
    DisasmOptions options;
    options.fileSize = 1234;
    const std::string expected = R"(; KPU object  format 1.0  producer "kpu-kernel-compiler 0.1.0"
; source graph "non-batched-2-input-matmul"  file "examples/matmul.dfg"  size 1234 bytes
; 3 tensors  1 kernel  10 ops  18 deps
tensors (3):
  #0  A     4x16  f32  constant  src-node 0  256 B
  #1  B     16x4  f32  input     src-node 1  256 B
  #2  Cout  4x4   f32  output    src-node 3  64 B
kernels (1):
  k0  MATMUL#3  matmul  node 3  inputs [#0 A, #1 B]  output #2 Cout
      iteration [batch 1, M 4, N 4, K 16]  dataflow output-stationary  loop-order b,m,n,k
      tiling L3 [1, 4, 4, 16]  L2 [1, 4, 4, 8]  ops 0..9 (10)
ops (10):
  0  load      EXT -> L3  #0 A         [0,0,0:4,0:16]               deps -
  1  load      L3 -> L2   #0 A         [0,0,0:4,0:16]               deps 0
  2  load      EXT -> L3  #1 B         [0,0,0:16,0:4]               deps -
  3  load      L3 -> L2   #1 B         [0,0,0:8,0:4]                deps 2
  4  prefetch  L3 -> L2   #1 B         [0,0,8:16,0:4]               deps 2
  5  compute   L2         k0 MATMUL#3  b=0 m=0:4 n=0:4 k=0:8        deps 1,3
  6  compute   L2         k0 MATMUL#3  b=0 m=0:4 n=0:4 k=8:16  acc  deps 4,5
  7  store     L2 -> L3   #2 Cout      [0,0,0:4,0:4]                deps 6
  8  flush     L3 -> EXT  #2 Cout      [0,0,0:4,0:4]                deps 7
  9  barrier                                                        deps 0-8
hints:
  external-bytes  384
  compute-cycles  112
  macs            256
  parallelism     1
  target          "default"  array 16x16
)";
    EXPECT_EQ(disassembleText(object.program(), options), expected);
}

TEST(DisasmText, IsDeterministicAndOmitsSizeWhenUnknown) {
    const Object object = objectOf(matmulProgram());
    const std::string first = disassembleText(object.program(), {});
    EXPECT_EQ(first, disassembleText(object.program(), {}));
    EXPECT_EQ(first.find("size "), std::string::npos);
}

TEST(DisasmText, SectionsCanBeSelected) {
    const Object object = objectOf(matmulProgram());
    const std::string text =
        disassembleText(object.program(), only({DisasmSection::Tensors, DisasmSection::Hints}));
    EXPECT_EQ(text.find("; KPU object"), std::string::npos);
    EXPECT_NE(text.find("tensors (3):"), std::string::npos);
    EXPECT_EQ(text.find("kernels"), std::string::npos);
    EXPECT_EQ(text.find("ops ("), std::string::npos);
    EXPECT_NE(text.find("hints:"), std::string::npos);
}

TEST(DisasmText, OpsWithoutDepsColumn) {
    const Object object = objectOf(matmulProgram());
    const std::string text = disassembleText(object.program(), only({DisasmSection::Ops}));
    EXPECT_EQ(text.find("deps"), std::string::npos);
    EXPECT_NE(text.find("  9  barrier\n"), std::string::npos) << text;
}

TEST(DisasmText, DepsAloneListOnlyOpsWithDependencies) {
    const Object object = objectOf(matmulProgram());
    const std::string text = disassembleText(object.program(), only({DisasmSection::Deps}));
    EXPECT_EQ(text, "deps (18):\n"
                    "  1  <-  0\n"
                    "  3  <-  2\n"
                    "  4  <-  2\n"
                    "  5  <-  1,3\n"
                    "  6  <-  4,5\n"
                    "  7  <-  6\n"
                    "  8  <-  7\n"
                    "  9  <-  0-8\n");
}

TEST(DisasmText, OpsRangeIsLimitedAndSaysSo) {
    const Object object = objectOf(matmulProgram());
    DisasmOptions options = only({DisasmSection::Ops, DisasmSection::Deps});
    options.opsFirst = 5;
    options.opsLimit = 2;
    EXPECT_EQ(disassembleText(object.program(), options),
              "ops (10):\n"
              "  5  compute  L2  k0 MATMUL#3  b=0 m=0:4 n=0:4 k=0:8        deps 1,3\n"
              "  6  compute  L2  k0 MATMUL#3  b=0 m=0:4 n=0:4 k=8:16  acc  deps 4,5\n"
              "  ... showing ops 5..6 of 10\n");
    options.opsFirst = 100; // past the end: nothing shown, no crash
    EXPECT_EQ(disassembleText(object.program(), options),
              "ops (10):\n  ... showing ops 10..10 of 10\n");
}

TEST(DisasmText, ColumnEmptyInEveryRowIsDropped) {
    ProgramT p = matmulProgram();
    p.ops[6] = compute(0, region({0, 0, 0, 8}, {1, 4, 4, 8}));
    const Object object = objectOf(p);
    const std::string text = disassembleText(object.program(), {});
    EXPECT_NE(
        text.find("  6  compute   L2         k0 MATMUL#3  b=0 m=0:4 n=0:4 k=8:16  deps 4,5\n"),
        std::string::npos)
        << text;
}

TEST(DisasmText, BroadcastInputsMarkedOnlyWhenBatched) {
    ProgramT p = matmulProgram();
    p.kernels[0]->iteration_space = {3, 4, 4, 16};
    const Object object = objectOf(p);
    EXPECT_NE(disassembleText(object.program(), {})
                  .find("inputs [#0 A, #1 B (broadcast)]  output #2 Cout\n"
                        "      iteration [batch 3, M 4, N 4, K 16]"),
              std::string::npos);
}

TEST(DisasmText, DependencyRunsCollapseOnlyFromThree) {
    ProgramT p = matmulProgram();
    setDeps(p, {{}, {0}, {}, {2}, {2}, {1, 3}, {4, 5}, {6}, {7}, {0, 1, 3, 4, 5, 7, 8}});
    const Object object = objectOf(p);
    EXPECT_NE(disassembleText(object.program(), {}).find("deps 0,1,3-5,7,8\n"), std::string::npos);
}

TEST(DisasmText, OddNamesAreQuotedAndScalarsNamed) {
    ProgramT p = matmulProgram();
    p.tensors[0]->name = "tosa.const 1";
    p.tensors[1]->name = "";
    p.tensors.push_back(tensor("s", {}, TensorRole::Intermediate, -1, DType::I8));
    p.producer.clear();
    p.hints.reset();
    const Object object = objectOf(p);
    const std::string text = disassembleText(object.program(), {});
    EXPECT_NE(text.find("producer -\n"), std::string::npos) << text;
    EXPECT_NE(text.find("#0  \"tosa.const 1\"  4x16"), std::string::npos) << text;
    EXPECT_NE(text.find("inputs [#0 \"tosa.const 1\", #1 \"\"]"), std::string::npos);
    EXPECT_NE(text.find("#3  s               scalar  i8   intermediate  src-node -  1 B"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("hints: none\n"), std::string::npos);
}

TEST(DisasmText, UnknownComputeFlagsAreShownRaw) {
    ProgramT p = matmulProgram();
    p.ops[6] = compute(0, region({0, 0, 0, 8}, {1, 4, 4, 8}), 0x5);
    const Object object = objectOf(p);
    EXPECT_NE(disassembleText(object.program(), {}).find("k=8:16  acc flags 0x4  deps 4,5"),
              std::string::npos);
}

// The compiler prints its own output before anyone verified it: bad references print as "?".
TEST(DisasmText, UnverifiedProgramDoesNotReadOutOfBounds) {
    ProgramT p = matmulProgram();
    p.ops[0] = move(MoveKind::Load, MemoryLevel::External, MemoryLevel::L3, 42,
                    region({0, 0, 0, 0}, {1, 1, 1, 1}));
    p.ops[5] = compute(7, region({0, 0, 0, 0}, {1, 4, 4, 8}));
    p.kernels[0]->inputs = {0, 99};
    p.tensors[0]->shape = {-1, 4};
    p.dep_offsets.resize(4); // CSR shorter than the op list
    const Object object = objectOf(p);
    const std::string text = disassembleText(object.program(), {});
    EXPECT_NE(text.find("#42 ?"), std::string::npos);
    EXPECT_NE(text.find("k7 ?"), std::string::npos);
    EXPECT_NE(text.find("#99 ?"), std::string::npos);
    EXPECT_NE(text.find("? B"), std::string::npos);
    EXPECT_NE(text.find("deps ?"), std::string::npos);
    const Json json = Json::parse(disassembleJson(object.program(), {}));
    EXPECT_TRUE(json.at("ops").at(9).at("deps").is_null());
    EXPECT_TRUE(json.at("tensors").at(0).at("bytes").is_null());
}

// ---------------------------------------------------------------------------------------------
// JSON.

TEST(DisasmJson, CarriesEveryFieldOfTheObject) {
    const ProgramT original = matmulProgram();
    const Object object = objectOf(original);
    const Json json = Json::parse(disassembleJson(object.program(), {}));
    EXPECT_EQ(serialize(programFromJson(json)), object.bytes);
}

TEST(DisasmJson, RoundTripsOddValues) {
    ProgramT p = matmulProgram();
    p.source_file.clear();
    p.tensors.push_back(tensor("h", {2, 0, 3}, TensorRole::Intermediate, -1, DType::F8E4M3));
    p.tensors.push_back(tensor("scalar", {}, TensorRole::Input, 7, DType::I32));
    p.kernels[0]->dataflow = Dataflow::WeightStationary;
    p.kernels[0]->loop_order = {0, 2, 1, 3};
    p.kernels[0]->inputs = {0, 1, 2};
    p.kernels[0]->input_batched = {1, 0, 1};
    p.ops[6] = compute(0, region({0, 0, 0, 8}, {1, 4, 4, 8}), 0x80000001u);
    p.hints->external_bytes = std::numeric_limits<std::uint64_t>::max();
    const Object object = objectOf(p);
    const Json json = Json::parse(disassembleJson(object.program(), {}));
    EXPECT_TRUE(json.at("source_file").is_null());
    EXPECT_EQ(json.at("tensors").at(3).at("dtype"), "f8");
    EXPECT_EQ(json.at("tensors").at(3).at("bytes"), 0);
    EXPECT_EQ(serialize(programFromJson(json)), object.bytes);
}

// The real pipeline: a corpus graph compiled, verified, dumped and rebuilt from the JSON.
TEST(DisasmJson, CompiledObjectRoundTrips) {
    const std::string path = std::string(KPU_SHARED_DIR) +
                             "/dfg-corpus/branes-ai+dfa-dynamics/data/workloads/nla/"
                             "matmul_8x4_expand_contract.dfg";
    auto compiled = compiler::compileDfgFile(path, {});
    ASSERT_TRUE(compiled) << compiled.error().message;
    auto program = loader::verifyObject(compiled->object, path);
    ASSERT_TRUE(program) << program.error().message;
    const Json json = Json::parse(disassembleJson(**program, {}));
    EXPECT_EQ(compiler::serializeProgram(programFromJson(json)), compiled->object);
    const std::string text = disassembleText(**program, {});
    EXPECT_NE(text.find("; source graph \"matmul_8x4_expand_contract\""), std::string::npos);
    EXPECT_NE(text.find("compute"), std::string::npos);
}

TEST(DisasmJson, FieldsAndSpellings) {
    const Object object = objectOf(matmulProgram());
    DisasmOptions options;
    options.fileSize = 999;
    const Json json = Json::parse(disassembleJson(object.program(), options));
    EXPECT_EQ(json.at("format"), (Json{{"major", 1}, {"minor", 0}}));
    EXPECT_EQ(json.at("producer"), "kpu-kernel-compiler 0.1.0");
    EXPECT_EQ(json.at("source_graph"), "non-batched-2-input-matmul");
    EXPECT_EQ(json.at("size_bytes"), 999);
    EXPECT_EQ(json.at("op_count"), 10);
    EXPECT_FALSE(json.contains("op_range"));

    const Json& a = json.at("tensors").at(0);
    EXPECT_EQ(a.at("name"), "A");
    EXPECT_EQ(a.at("shape"), (Json{4, 16}));
    EXPECT_EQ(a.at("dtype"), "f32");
    EXPECT_EQ(a.at("role"), "constant");
    EXPECT_EQ(a.at("bytes"), 256);

    const Json& k = json.at("kernels").at(0);
    EXPECT_EQ(k.at("kind"), "matmul");
    EXPECT_EQ(k.at("dataflow"), "output-stationary");
    EXPECT_EQ(k.at("tilings").at(1).at("level"), "l2");
    EXPECT_EQ(k.at("input_batched"), (Json{1, 0}));

    const Json& load = json.at("ops").at(0);
    EXPECT_EQ(load.at("kind"), "data-move");
    EXPECT_EQ(load.at("move"), "load");
    EXPECT_EQ(load.at("src"), "external");
    EXPECT_EQ(load.at("dst"), "l3");
    EXPECT_EQ(load.at("tensor"), 0);
    EXPECT_EQ(load.at("region").at("extent"), (Json{1, 1, 4, 16}));
    EXPECT_EQ(load.at("deps"), Json::array());

    const Json& acc = json.at("ops").at(6);
    EXPECT_EQ(acc.at("kind"), "compute");
    EXPECT_EQ(acc.at("kernel"), 0);
    EXPECT_EQ(acc.at("accumulate"), true);
    EXPECT_EQ(acc.at("region").at("origin"), (Json{0, 0, 0, 8}));
    EXPECT_EQ(acc.at("deps"), (Json{4, 5}));

    const Json& bar = json.at("ops").at(9);
    EXPECT_EQ(bar.at("kind"), "barrier");
    EXPECT_FALSE(bar.contains("tensor"));
    EXPECT_FALSE(bar.contains("kernel"));
    EXPECT_FALSE(bar.contains("move"));

    EXPECT_EQ(json.at("hints").at("target_config"), "default");
    EXPECT_EQ(json.at("hints").at("array_rows"), 16);
}

TEST(DisasmJson, SectionsAndOpRange) {
    const Object object = objectOf(matmulProgram());
    DisasmOptions options = only({DisasmSection::Deps});
    options.opsFirst = 8;
    const Json json = Json::parse(disassembleJson(object.program(), options));
    EXPECT_FALSE(json.contains("format"));
    EXPECT_FALSE(json.contains("tensors"));
    EXPECT_FALSE(json.contains("ops"));
    EXPECT_FALSE(json.contains("hints"));
    EXPECT_EQ(json.at("op_range"), (Json{{"first", 8}, {"count", 2}}));
    EXPECT_EQ(json.at("deps"), (Json{{7}, {0, 1, 2, 3, 4, 5, 6, 7, 8}}));

    const Json opsOnly = Json::parse(disassembleJson(object.program(), only({DisasmSection::Ops})));
    EXPECT_FALSE(opsOnly.at("ops").at(5).contains("deps"));
}

TEST(DisasmJson, MissingHintsAreNullAndBadUtf8DoesNotThrow) {
    ProgramT p = matmulProgram();
    p.hints.reset();
    p.tensors[0]->name = std::string("bad\xff\xfe", 5);
    const Object object = objectOf(p);
    std::string out;
    ASSERT_NO_THROW(out = disassembleJson(object.program(), {}));
    const Json json = Json::parse(out);
    EXPECT_TRUE(json.at("hints").is_null());
    EXPECT_EQ(json.at("tensors").at(0).at("name").get<std::string>().substr(0, 3), "bad");
}

TEST(Disasm, SectionNamesParse) {
    EXPECT_EQ(parseDisasmSection("header"), DisasmSection::Header);
    EXPECT_EQ(parseDisasmSection("tensors"), DisasmSection::Tensors);
    EXPECT_EQ(parseDisasmSection("kernels"), DisasmSection::Kernels);
    EXPECT_EQ(parseDisasmSection("ops"), DisasmSection::Ops);
    EXPECT_EQ(parseDisasmSection("deps"), DisasmSection::Deps);
    EXPECT_EQ(parseDisasmSection("hints"), DisasmSection::Hints);
    EXPECT_EQ(parseDisasmSection("Ops"), std::nullopt);
    EXPECT_EQ(parseDisasmSection(""), std::nullopt);
}

} // namespace
} // namespace kpu::dfx
