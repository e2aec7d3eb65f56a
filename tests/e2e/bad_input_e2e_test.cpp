// Bad input through the CLIs: malformed .dfg files, unsupported operators, corrupt objects,
// bad configs. Each gives a clear error naming the file and a non-zero exit, never a crash.
#include <filesystem>

#include <gtest/gtest.h>

#include "kpu/common/file_io.h"
#include "kpu/compiler/compiler.h"
#include "kpu/schema/object.h"
#include "support/dfg_writer.h"
#include "support/run_command.h"

namespace kpu::test {
namespace {

const std::string kCorpus = std::string(KPU_SHARED_DIR) + "/dfg-corpus";
const std::string kSmallMatmul = kCorpus + "/stillwater-sc+kpu-sim/test_graphs/simple/matmul.dfg";

TEST(BadDfg, MalformedFilesGiveFileLineColumnErrors) {
    const std::string fixtures = std::string(KPU_FIXTURES_DIR) + "/dfg";
    int checked = 0;
    for (const auto& entry : std::filesystem::directory_iterator(fixtures)) {
        const std::string path = entry.path().string();
        auto r = runCommand({KPU_COMPILER_EXE, path, "-o", "/dev/null"});
        EXPECT_EQ(r.exitCode, 1) << path;
        EXPECT_FALSE(r.crashed) << path;
        // "<file>:<line>:<col>: error: <message>", the compiler convention.
        EXPECT_EQ(r.err.rfind(path + ":", 0), 0u) << r.err;
        EXPECT_NE(r.err.find(": error: "), std::string::npos) << r.err;
        ++checked;
    }
    EXPECT_GE(checked, 12);
}

TEST(BadDfg, GraphWithoutOperationsIsRefused) {
    // Found by fuzz-dfg: the compiler wrote an object without a graph section, which the loader
    // then refused.
    ScratchDir dir("no-ops");
    ASSERT_TRUE(writeTextFile(dir.file("g.dfg"),
                              "DIRECTED\nRUNNING_NODE_ID 1\nNODES 2\n"
                              "NODE 0 : |x|FUNCTION_ARGUMENT|0|||result_0|tensor<4xf32>\n"
                              "NODE 1 : |func.return|FUNCTION_RETURN|1|tensor<4xf32>|||\n"
                              "EDGES 1\nEDGE 0 -> 1 : 0|true|1xi32|32|0,0,0\n"));
    auto r = runCommand({KPU_COMPILER_EXE, dir.file("g.dfg"), "-o", dir.file("g.kpu")});
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_EQ(r.err, dir.file("g.dfg") + ": error: the graph has no operations (only inputs, "
                                         "constants and return markers): there is nothing to "
                                         "compile\n");
}

TEST(BadDfg, MissingFile) {
    auto r = runCommand({KPU_COMPILER_EXE, "/nonexistent/x.dfg", "-o", "/dev/null"});
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_NE(r.err.find("/nonexistent/x.dfg: error: cannot open file"), std::string::npos)
        << r.err;
}

TEST(BadDfg, InconsistentNodeNamesFileLineNodeAndOperator) {
    // An early MobileNet v2 import without stride or padding attributes: the declared result
    // contradicts the defaults.
    const std::string file =
        kCorpus + "/branes-ai+dfa-dynamics@7aa97c2618/data/dfg/mobilenet_v2_tosa.dfg";
    auto r = runCommand({KPU_COMPILER_EXE, file, "-o", "/dev/null"});
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_NE(r.err.find(file + ":112:1: error: node 108 'tosa.conv2d' (CONV2D): result is "
                                "1x112x112x32, expected 1x222x222x32"),
              std::string::npos)
        << r.err;
}

TEST(BadDfg, UnsupportedOperatorNamesNodeAndOperator) {
    ScratchDir dir("unsupported");
    std::string dfg = matmulDfg("g", {4, 8}, {8, 4}, {4, 4});
    dfg.replace(dfg.find("|MATMUL|"), 8, "|GATHER|");
    ASSERT_TRUE(writeTextFile(dir.file("g.dfg"), dfg));
    auto r = runCommand({KPU_COMPILER_EXE, dir.file("g.dfg"), "-o", "/dev/null"});
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_NE(r.err.find(dir.file("g.dfg") + ":7:1: error: operator GATHER (node 2 'matmul') is "
                                             "not supported"),
              std::string::npos)
        << r.err;
}

TEST(BadUsage, UnknownOptionExitsTwo) {
    EXPECT_EQ(runCommand({KPU_COMPILER_EXE, "--bogus"}).exitCode, 2);
    EXPECT_EQ(runCommand({KPU_LOADER_EXE, "--bogus"}).exitCode, 2);
    EXPECT_EQ(runCommand({KPU_DISASM_EXE, "--bogus"}).exitCode, 2);
    EXPECT_EQ(runCommand({KPU_LOADER_EXE, "--help"}).exitCode, 0);
}

TEST(BadConfig, WrongKeyNamesTheKeyPath) {
    ScratchDir dir("badconfig");
    ASSERT_TRUE(
        writeTextFile(dir.file("c.json"), R"({"on_chip_memory": {"l2": {"bank_count": -3}}})"));
    ASSERT_EQ(runCommand({KPU_COMPILER_EXE, kSmallMatmul, "-o", dir.file("m.kpu")}).exitCode, 0);
    auto r = runCommand({KPU_LOADER_EXE, dir.file("m.kpu"), "--config", dir.file("c.json")});
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_NE(r.err.find("on_chip_memory.l2.bank_count: expected a positive integer, got -3"),
              std::string::npos)
        << r.err;
}

// Corrupt objects: each is refused by both kpu-loader and kpu-disasm with "<file>: error: ...".
class CorruptObject : public ::testing::Test {
protected:
    void SetUp() override {
        auto compiled = compiler::compileDfgFile(kSmallMatmul, {});
        ASSERT_TRUE(compiled) << compiled.error().message;
        program_ = std::move(compiled->program);
        valid_ = compiled->object;
    }

    void expectRefused(const std::vector<std::uint8_t>& bytes, const std::string& fragment) {
        ScratchDir dir("corrupt");
        const std::string path = dir.file("bad.kpu");
        ASSERT_TRUE(writeBinaryFile(path, bytes));
        for (const char* tool : {KPU_LOADER_EXE, KPU_DISASM_EXE}) {
            auto r = runCommand({tool, path});
            EXPECT_EQ(r.exitCode, 1) << tool << ": " << r.out << r.err;
            EXPECT_FALSE(r.crashed) << tool;
            EXPECT_EQ(r.err.rfind(path + ": error: ", 0), 0u) << tool << ": " << r.err;
            EXPECT_NE(r.err.find(fragment), std::string::npos) << tool << ": " << r.err;
        }
    }

    std::vector<std::uint8_t> with(void (*mutate)(dfx::ProgramT&)) {
        dfx::ProgramT copy = program_;
        mutate(copy);
        return compiler::serializeProgram(copy);
    }

    dfx::ProgramT program_;
    std::vector<std::uint8_t> valid_;
};

TEST_F(CorruptObject, Truncated) {
    expectRefused({valid_.begin(), valid_.begin() + static_cast<std::ptrdiff_t>(valid_.size() / 2)},
                  "FlatBuffers verification failed");
    expectRefused({valid_.begin(), valid_.begin() + 5}, "too small to be a KPU object");
}

TEST_F(CorruptObject, WrongIdentifier) {
    auto bytes = valid_;
    std::memcpy(bytes.data() + 4, "ELF!", 4);
    expectRefused(bytes, "file identifier is 'ELF!', expected 'KPUX'");
}

TEST_F(CorruptObject, NewerMajorVersion) {
    expectRefused(with([](dfx::ProgramT& p) { p.format_major = 5; }),
                  "object format version 5.0 is not supported; this loader reads versions 2.x "
                  "to 4.x");
    expectRefused(with([](dfx::ProgramT& p) { p.format_major = 1; }),
                  "object format version 1.0 is not supported; this loader reads versions 2.x "
                  "to 4.x");
}

TEST_F(CorruptObject, FlippedBytes) {
    // Flip the kind byte of the first op record: 0xff is not an op kind.
    auto bytes = valid_;
    const auto* ops = dfx::GetProgram(bytes.data())->ops();
    const std::size_t firstOp =
        static_cast<std::size_t>(reinterpret_cast<const std::uint8_t*>(ops->Get(0)) - bytes.data());
    bytes[firstOp] ^= 0xff;
    expectRefused(bytes, "ops[0].kind: unknown value 255");
}

TEST_F(CorruptObject, OutOfRangeIndices) {
    expectRefused(with([](dfx::ProgramT& p) {
                      p.ops[0] =
                          dfx::Op(p.ops[0].kind(), p.ops[0].move_kind(), p.ops[0].src_level(),
                                  p.ops[0].dst_level(), p.ops[0].flags(), 99, p.ops[0].region());
                  }),
                  "ops[0].index: tensor index 99 out of range (object has 3 tensors)");
    expectRefused(with([](dfx::ProgramT& p) { p.kernels[0]->inputs[1] = 7; }),
                  "kernels[0] '2-input MATMUL#3'.inputs[1]: tensor index 7 out of range");
    expectRefused(with([](dfx::ProgramT& p) { p.dep_indices[0] = 1000; }),
                  "dep_indices[0]: op index 1000 out of range (object has 8 ops)");
}

TEST_F(CorruptObject, DependencyCycle) {
    // op 1 depends on op 0 in the valid object; make op 0 depend on op 1 as well.
    expectRefused(with([](dfx::ProgramT& p) {
                      p.dep_indices.insert(p.dep_indices.begin(), 1u);
                      for (std::size_t i = 1; i < p.dep_offsets.size(); ++i)
                          ++p.dep_offsets[i];
                  }),
                  "dependency cycle: ops 0 -> 1 -> 0");
}

TEST_F(CorruptObject, RegionOutsideTensorAndOverflowingShape) {
    expectRefused(with([](dfx::ProgramT& p) {
                      const std::array<std::uint32_t, 4> origin{0, 0, 3, 0}, extent{1, 1, 4, 16};
                      p.ops[0] = dfx::Op(p.ops[0].kind(), p.ops[0].move_kind(),
                                         p.ops[0].src_level(), p.ops[0].dst_level(), 0,
                                         p.ops[0].index(), dfx::Region(origin, extent));
                  }),
                  "ops[0].region: origin [0,0,3,0] extent [1,1,4,16] is outside tensor 'A'");
    expectRefused(with([](dfx::ProgramT& p) {
                      p.tensors[0]->shape = {1ll << 40, 1ll << 40};
                  }),
                  "tensors[0] 'A'.shape");
}

TEST_F(CorruptObject, EmptyAndNonObjectFiles) {
    expectRefused({}, "too small to be a KPU object: 0 bytes");
    const std::string text = "Domain Flow Graph: not an object\n";
    expectRefused({text.begin(), text.end()}, "not a KPU object");
}

TEST(CorruptObjectCli, MissingObjectFile) {
    auto r = runCommand({KPU_LOADER_EXE, "/nonexistent/m.kpu"});
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_NE(r.err.find("/nonexistent/m.kpu: error: cannot open file"), std::string::npos)
        << r.err;
}

TEST(BadOutputRequest, OnChipIntermediateCannotBeWritten) {
    ScratchDir dir("onchip_output");
    const std::string mlp = std::string(KPU_SOURCE_DIR) + "/examples/mlp.dfg";
    ASSERT_EQ(runCommand({KPU_COMPILER_EXE, mlp, "-o", dir.file("mlp.kpu")}).exitCode, 0);
    // h1 stays in L3: its values never reach external memory, so writing it would write zeros.
    auto r =
        runCommand({KPU_LOADER_EXE, dir.file("mlp.kpu"), "--output", "h1=" + dir.file("h1.npy")});
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_NE(r.err.find("--output 'h1': this intermediate stays on chip or was fused away"),
              std::string::npos)
        << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir.file("h1.npy")));
    auto ok = runCommand(
        {KPU_LOADER_EXE, dir.file("mlp.kpu"), "--output", "logits=" + dir.file("logits.npy")});
    EXPECT_EQ(ok.exitCode, 0) << ok.err;
    EXPECT_TRUE(std::filesystem::exists(dir.file("logits.npy")));
}

} // namespace
} // namespace kpu::test
