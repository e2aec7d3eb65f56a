// kpu-kernel-compiler's own options: --emit-dfx, --emit-graph, the default output name, --batch,
// --dataflow, --explicit-ops (and the equivalence of the compact and explicit objects).
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kpu/common/file_io.h"
#include "kpu/loader/loader.h"
#include "kpu/loader/object_expansion.h"
#include "support/dfg_writer.h"
#include "support/run_command.h"

namespace kpu::test {
namespace {

const std::string kCorpus = std::string(KPU_SHARED_DIR) + "/dfg-corpus";

TEST(CompilerCli, EmitDfxPrintsTheProgramAsText) {
    ScratchDir dir("emit_dfx");
    ASSERT_TRUE(writeTextFile(dir.file("g.dfg"), matmulDfg("g", {40, 3000}, {3000, 20}, {40, 20})));
    auto r =
        runCommand({KPU_COMPILER_EXE, dir.file("g.dfg"), "-o", dir.file("g.kpu"), "--emit-dfx"});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_NE(r.out.find("; KPU object  format 4.0"), std::string::npos) << r.out;
    // The kernel is a tile-loop record: one row in the ops listing.
    EXPECT_NE(r.out.find("tile-loops  load from [EXT, EXT]"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("0..102  tile-loops  k0 matmul#2  103 ops  102 deps"), std::string::npos)
        << r.out;
    auto x = runCommand({KPU_COMPILER_EXE, dir.file("g.dfg"), "-o", dir.file("x.kpu"), "--emit-dfx",
                         "--explicit-ops"});
    ASSERT_EQ(x.exitCode, 0) << x.err;
    EXPECT_NE(x.out.find("compute"), std::string::npos);
    EXPECT_NE(x.out.find("acc"), std::string::npos); // K = 3000 spans several L2 tiles
    EXPECT_EQ(x.out.find("tile-loops"), std::string::npos);
    EXPECT_TRUE(std::filesystem::exists(dir.file("g.kpu")));
}

TEST(CompilerCli, EmitGraphShowsNamesMadeUniqueEvenWhenLoweringFails) {
    // MobileNet v2 repeats 'result_0' for every node; the dump shows the unique names and the
    // original. The dump comes before lowering, so it also appears for a graph that fails.
    const std::string file =
        kCorpus + "/branes-ai+dfa-dynamics/data/dl/convolution/mobilenet_v2.dfg";
    auto r = runCommand({KPU_COMPILER_EXE, file, "-o", "/dev/null", "--emit-graph"});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    EXPECT_NE(r.out.find("graph '"), std::string::npos);
    EXPECT_NE(r.out.find("(was 'result_0')"), std::string::npos);
    const std::string broken =
        kCorpus + "/branes-ai+dfa-dynamics@7aa97c2618/data/dfg/mobilenet_v2_tosa.dfg";
    auto failing = runCommand({KPU_COMPILER_EXE, broken, "-o", "/dev/null", "--emit-graph"});
    EXPECT_EQ(failing.exitCode, 1);
    EXPECT_NE(failing.out.find("graph '"), std::string::npos);
    EXPECT_NE(failing.err.find("error: node 108 'tosa.conv2d' (CONV2D)"), std::string::npos);
}

TEST(CompilerCli, DefaultOutputIsTheInputStemInTheWorkingDirectory) {
    ScratchDir dir("default_out");
    ASSERT_TRUE(writeTextFile(dir.file("model.v1.dfg"), matmulDfg("g", {4, 4}, {4, 4}, {4, 4})));
    auto r = runCommand({KPU_COMPILER_EXE, "model.v1.dfg"}, dir.file(""));
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_TRUE(std::filesystem::exists(dir.file("model.v1.kpu")));
}

TEST(CompilerCli, BatchResolvesDynamicDimensions) {
    ScratchDir dir("batch");
    std::string dfg = matmulDfg("g", {4, 8}, {8, 4}, {4, 4});
    // Make the row dimension of A and of the result dynamic.
    for (auto [from, to] :
         {std::pair<std::string, std::string>{"tensor<4x8xf32>", "tensor<?x8xf32>"},
          {"tensor<4x4xf32>", "tensor<?x4xf32>"}})
        for (auto at = dfg.find(from); at != std::string::npos; at = dfg.find(from))
            dfg.replace(at, from.size(), to);
    ASSERT_TRUE(writeTextFile(dir.file("g.dfg"), dfg));
    auto r =
        runCommand({KPU_COMPILER_EXE, dir.file("g.dfg"), "-o", dir.file("g.kpu"), "--batch", "6"});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    auto dump = runCommand({KPU_DISASM_EXE, dir.file("g.kpu")});
    EXPECT_NE(dump.out.find("6x8"), std::string::npos) << dump.out;
    EXPECT_EQ(runCommand({KPU_COMPILER_EXE, dir.file("g.dfg"), "--batch", "0"}).exitCode, 2);
}

// The dataflow of every kernel of an object, per kpu-disasm --json.
std::vector<std::string> kernelDataflows(const std::string& object) {
    auto dump = runCommand({KPU_DISASM_EXE, "--json", object});
    EXPECT_EQ(dump.exitCode, 0) << dump.err;
    std::vector<std::string> out;
    const auto parsed = nlohmann::json::parse(dump.out);
    for (const auto& kernel : parsed.at("kernels"))
        out.push_back(kernel.at("dataflow").get<std::string>());
    return out;
}

// --dataflow os|ws|is sets the dataflow of every GEMM kernel; auto (the default) lets each
// kernel take its fastest: weight-stationary for this tall GEMM (M = 4096, N = K = 64).
TEST(CompilerCli, DataflowOptionSetsEveryGemmKernel) {
    ScratchDir dir("dataflow");
    ASSERT_TRUE(writeTextFile(dir.file("g.dfg"), matmulDfg("g", {4096, 64}, {64, 64}, {4096, 64})));
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
        {{}, "weight-stationary"},
        {{"--dataflow", "auto"}, "weight-stationary"},
        {{"--dataflow", "os"}, "output-stationary"},
        {{"--dataflow", "ws"}, "weight-stationary"},
        {{"--dataflow", "is"}, "input-stationary"},
    };
    for (const auto& [flags, expected] : cases) {
        std::vector<std::string> cmd{KPU_COMPILER_EXE, dir.file("g.dfg"), "-o", dir.file("g.kpu")};
        cmd.insert(cmd.end(), flags.begin(), flags.end());
        auto r = runCommand(cmd);
        ASSERT_EQ(r.exitCode, 0) << r.err;
        EXPECT_EQ(kernelDataflows(dir.file("g.kpu")), std::vector<std::string>{expected})
            << (flags.empty() ? "default" : flags.back());
    }

    // Every GEMM kernel of a network follows the flag; vector kernels stay output-stationary.
    const std::string mlp = std::string(KPU_SOURCE_DIR) + "/examples/mlp.dfg";
    auto r = runCommand(
        {KPU_COMPILER_EXE, mlp, "-o", dir.file("mlp.kpu"), "--dataflow", "is", "--no-fuse"});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    auto dump = runCommand({KPU_DISASM_EXE, "--json", dir.file("mlp.kpu")});
    ASSERT_EQ(dump.exitCode, 0) << dump.err;
    int gemms = 0;
    const auto parsed = nlohmann::json::parse(dump.out);
    for (const auto& kernel : parsed.at("kernels")) {
        const bool gemm = kernel.at("kind") == "matmul";
        gemms += gemm ? 1 : 0;
        EXPECT_EQ(kernel.at("dataflow"), gemm ? "input-stationary" : "output-stationary")
            << kernel.at("name");
    }
    EXPECT_EQ(gemms, 3);
}

TEST(CompilerCli, BadDataflowIsAUsageError) {
    ScratchDir dir("bad_dataflow");
    ASSERT_TRUE(writeTextFile(dir.file("g.dfg"), matmulDfg("g", {4, 4}, {4, 4}, {4, 4})));
    for (const char* bad : {"xs", "OS", "weight-stationary", ""}) {
        auto r = runCommand(
            {KPU_COMPILER_EXE, dir.file("g.dfg"), "-o", dir.file("g.kpu"), "--dataflow", bad});
        EXPECT_EQ(r.exitCode, 2) << bad;
        EXPECT_NE(r.err.find("--dataflow"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("os,ws,is,auto"), std::string::npos) << r.err;
        EXPECT_FALSE(std::filesystem::exists(dir.file("g.kpu")));
    }
}

TEST(CompilerCli, AbsurdlyLargeGraphIsRefusedQuickly) {
    ScratchDir dir("huge");
    ASSERT_TRUE(writeTextFile(
        dir.file("g.dfg"), matmulDfg("g", {100000, 100000}, {100000, 100000}, {100000, 100000})));
    // A target whose external memory holds the 37 GiB tensors, so that the op count is what
    // refuses the graph (on the default KPU the tensors are refused first; resource_limits).
    ASSERT_TRUE(writeTextFile(dir.file("big.json"),
                              R"({"external_memory": {"bank_count": 4, "bank_capacity_gb": 64}})"));
    auto r = runCommand({KPU_COMPILER_EXE, dir.file("g.dfg"), "--config", dir.file("big.json"),
                         "-o", dir.file("g.kpu")});
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_NE(
        r.err.find(
            "error: node 2 'matmul' (MATMUL): needs 478211768 tile steps; a program holds at most "
            "16777216 ops"),
        std::string::npos)
        << r.err;
}

// The loader's expansion of a compact object (TileLoops kernels, the default) is the object
// --explicit-ops writes, op by op and dependency by dependency, with the same kernels and hints.
void expectSameProgram(const std::string& dfg, const std::vector<std::string>& flags) {
    ScratchDir dir("equivalence");
    std::vector<std::string> compact{KPU_COMPILER_EXE, dfg, "-o", dir.file("c.kpu")};
    compact.insert(compact.end(), flags.begin(), flags.end());
    std::vector<std::string> explicitOps = compact;
    explicitOps[3] = dir.file("x.kpu");
    explicitOps.push_back("--explicit-ops");
    for (const auto& cmd : {compact, explicitOps}) {
        auto r = runCommand(cmd);
        ASSERT_EQ(r.exitCode, 0) << r.err;
    }
    auto c = loader::loadObject(dir.file("c.kpu"));
    auto x = loader::loadObject(dir.file("x.kpu"));
    ASSERT_TRUE(c) << c.error().message;
    ASSERT_TRUE(x) << x.error().message;
    EXPECT_TRUE(loader::hasTileLoops(*c->stored));
    EXPECT_FALSE(loader::hasTileLoops(*x->stored));
    EXPECT_LT(c->bytes.size(), x->bytes.size());
    const dfx::Program& a = *c->program;
    const dfx::Program& b = *x->program;
    ASSERT_EQ(a.ops()->size(), b.ops()->size());
    for (std::uint32_t i = 0; i < a.ops()->size(); ++i)
        ASSERT_EQ(std::memcmp(a.ops()->Get(i), b.ops()->Get(i), sizeof(dfx::Op)), 0) << "op " << i;
    auto vec = [](const flatbuffers::Vector<std::uint32_t>* v) {
        return std::vector<std::uint32_t>(v->begin(), v->end());
    };
    EXPECT_EQ(vec(a.dep_offsets()), vec(b.dep_offsets()));
    EXPECT_EQ(vec(a.dep_indices()), vec(b.dep_indices()));
    ASSERT_EQ(a.kernels()->size(), b.kernels()->size());
    for (std::uint32_t k = 0; k < a.kernels()->size(); ++k) {
        const dfx::Kernel& ka = *a.kernels()->Get(k);
        const dfx::Kernel& kb = *b.kernels()->Get(k);
        EXPECT_EQ(ka.ops_encoding(), dfx::OpsEncoding::Explicit);
        EXPECT_EQ(ka.first_op(), kb.first_op());
        EXPECT_EQ(ka.op_count(), kb.op_count());
    }
    ASSERT_TRUE(a.hints() && b.hints());
    EXPECT_EQ(a.hints()->external_bytes(), b.hints()->external_bytes());
    EXPECT_EQ(a.hints()->compute_cycles(), b.hints()->compute_cycles());
    // The disassembler lists the expansion exactly as the explicit object, but for the size.
    auto dc = runCommand({KPU_DISASM_EXE, "--expand", dir.file("c.kpu")});
    auto dx = runCommand({KPU_DISASM_EXE, dir.file("x.kpu")});
    auto dropSize = [](std::string text) {
        const auto at = text.find("  size ");
        return text.erase(at, text.find('\n', at) - at);
    };
    EXPECT_EQ(dropSize(dc.out), dropSize(dx.out));
}

TEST(CompactObjects, ExpandToTheExplicitProgram) {
    const std::string examples = std::string(KPU_SOURCE_DIR) + "/examples/";
    for (const char* example : {"matmul.dfg", "matmul_4x16x4.dfg", "matmul_chained_mixed.dfg",
                                "mlp.dfg", "attention.dfg", "cnn.dfg"}) {
        SCOPED_TRACE(example);
        expectSameProgram(examples + example, {});
    }
    SCOPED_TRACE("dataflows, no fusion, MobileNet v2, batched and broadcast GEMMs");
    expectSameProgram(examples + "mlp.dfg", {"--dataflow", "ws"});
    expectSameProgram(examples + "mlp.dfg", {"--dataflow", "is", "--no-fuse"});
    expectSameProgram(kCorpus + "/branes-ai+dfa-dynamics/data/dl/convolution/mobilenet_v2.dfg", {});
    ScratchDir dir("equivalence_gen");
    ASSERT_TRUE(writeTextFile(dir.file("tall.dfg"),
                              matmulDfg("g", {4096, 64}, {64, 64}, {4096, 64}))); // ws by default
    expectSameProgram(dir.file("tall.dfg"), {});
    expectSameProgram(dir.file("tall.dfg"), {"--dataflow", "is"});
    ASSERT_TRUE(
        writeTextFile(dir.file("batched.dfg"), matmulDfg("g", {2, 3, 40, 24}, {2, 3, 24, 36},
                                                         {2, 3, 40, 36}, {2, 3, 40, 36})));
    expectSameProgram(dir.file("batched.dfg"), {});
    ASSERT_TRUE(writeTextFile(dir.file("broadcast.dfg"),
                              matmulDfg("g", {4, 40, 24}, {24, 36}, {4, 40, 36})));
    expectSameProgram(dir.file("broadcast.dfg"), {});
}

// A 4096^3 GEMM has 1.4 M ops; its compact object is a few hundred bytes.
TEST(CompactObjects, SizeFollowsTilesNotOps) {
    ScratchDir dir("gemm4096");
    ASSERT_TRUE(
        writeTextFile(dir.file("g.dfg"), matmulDfg("g", {4096, 4096}, {4096, 4096}, {4096, 4096})));
    auto r = runCommand({KPU_COMPILER_EXE, dir.file("g.dfg"), "-o", dir.file("g.kpu")});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_LT(std::filesystem::file_size(dir.file("g.kpu")), 4096u);
    auto dump = runCommand({KPU_DISASM_EXE, "--section", "header", dir.file("g.kpu")});
    EXPECT_NE(dump.out.find("ops (0 stored)"), std::string::npos) << dump.out;
}

// Objects written by the 2.0 compiler (checked in: tests/fixtures/objects) still run.
TEST(CompactObjects, Format2ObjectsStillRun) {
    for (const char* name : {"fused_matmul_bias_relu.v2.kpu", "mlp.v2.kpu"}) {
        const std::string object = std::string(KPU_FIXTURES_DIR) + "/objects/" + name;
        auto run = runCommand({KPU_LOADER_EXE, object});
        EXPECT_EQ(run.exitCode, 0) << name << run.out << run.err;
        auto dump = runCommand({KPU_DISASM_EXE, object});
        EXPECT_EQ(dump.exitCode, 0) << dump.err;
        EXPECT_NE(dump.out.find("; KPU object  format 2.0"), std::string::npos) << dump.out;
    }
}

} // namespace
} // namespace kpu::test
