// The host-memory checks of the loader (host_memory.h): the limit on what a program's ops take
// (expansion, binding), and the check kpu-loader makes before a functional run allocates anything.
#include <gtest/gtest.h>

#include "kpu/common/file_io.h"
#include "kpu/common/shape.h"
#include "kpu/compiler/compiler.h"
#include "kpu/loader/binder.h"
#include "kpu/loader/loader.h"
#include "support/dfg_writer.h"
#include "support/run_command.h"

namespace kpu::loader {
namespace {

struct Bound {
    std::vector<std::uint8_t> object;
    const dfx::Program* program = nullptr;
    sim::Schedule schedule;
};

// out[64x32] = A[64x128] x B[128x32], f32: 32 KiB + 16 KiB + 8 KiB.
Bound bindSmallMatmul() {
    test::ScratchDir dir("host-memory");
    EXPECT_TRUE(
        writeTextFile(dir.file("g.dfg"), test::matmulDfg("g", {64, 128}, {128, 32}, {64, 32})));
    auto compiled = compiler::compileDfgFile(dir.file("g.dfg"), {});
    EXPECT_TRUE(compiled) << compiled.error().message;
    Bound b{.object = compiled->object, .program = nullptr, .schedule = {}};
    b.program = dfx::GetProgram(b.object.data());
    auto schedule = bindProgram(*b.program, defaultConfig(), "g.kpu");
    EXPECT_TRUE(schedule) << schedule.error().message;
    b.schedule = std::move(*schedule);
    return b;
}

TEST(HostMemory, CountsSimulatedExternalMemoryHostCopiesAndTheReference) {
    const Bound b = bindSmallMatmul();
    const HostMemoryNeed need = hostMemoryNeeded(*b.program, b.schedule, true);
    // The three tensors occupy external memory (whichever banks they were placed in).
    EXPECT_EQ(need.simulatedExternal, 56u << 10);
    EXPECT_EQ(need.hostTensors, 56u << 10);
    EXPECT_EQ(need.reference, 2 * (56u << 10)); // doubles
    EXPECT_EQ(hostMemoryNeeded(*b.program, b.schedule, false).reference, 0u);
    EXPECT_EQ(need.total(), need.simulatedExternal + need.hostTensors + need.reference);
}

TEST(HostMemory, RefusesARunThatDoesNotFitAndSaysWhatTakesTheMemory) {
    const Bound b = bindSmallMatmul();
    const HostMemoryNeed need = hostMemoryNeeded(*b.program, b.schedule, true);
    EXPECT_TRUE(checkHostMemory(need, need.total(), "g.kpu"));
    auto refused = checkHostMemory(need, 100 << 10, "g.kpu");
    ASSERT_FALSE(refused);
    EXPECT_EQ(
        refused.error().message,
        "g.kpu: error: a functional run needs 224.0 KiB of host memory (simulated "
        "external memory 56.0 KiB, host copies of tensors 56.0 KiB, reference executor "
        "112.0 KiB); 100.0 KiB is left under the limit (--max-host-memory; default: the memory "
        "available). --timing-only needs none of it; --no-verify saves the reference's");
}

TEST(HostMemory, TotalSaturatesInsteadOfWrapping) {
    const HostMemoryNeed need{
        .simulatedExternal = UINT64_MAX - 1, .hostTensors = 5, .reference = 7};
    EXPECT_EQ(need.total(), UINT64_MAX);
    EXPECT_FALSE(checkHostMemory(need, UINT64_MAX - 2, "g.kpu"));
}

TEST(HostMemory, AvailableMemoryIsReadOnLinux) {
    const auto available = availableHostMemory();
    ASSERT_TRUE(available);
    EXPECT_GT(*available, 0u);
}

// A 512^3 matmul on the default KPU: TileLoops kernels of a few hundred ops whose bound
// schedule has thousands.
std::vector<std::uint8_t> compileTiledMatmul() {
    test::ScratchDir dir("host-memory-ops");
    EXPECT_TRUE(
        writeTextFile(dir.file("g.dfg"), test::matmulDfg("g", {512, 512}, {512, 512}, {512, 512})));
    compiler::CompileOptions options;
    options.explicitOps = false;
    auto compiled = compiler::compileDfgFile(dir.file("g.dfg"), options);
    EXPECT_TRUE(compiled) << compiled.error().message;
    return compiled ? compiled->object : std::vector<std::uint8_t>{};
}

TEST(HostMemoryLimit, RefusesAnExpansionPastTheLimitBeforeBuildingIt) {
    const auto object = compileTiledMatmul();
    auto unlimited = loadObjectBytes(object, "g.kpu");
    ASSERT_TRUE(unlimited) << unlimited.error().message;
    ASSERT_NE(unlimited->program, unlimited->stored) << "the object should have TileLoops kernels";
    const std::uint64_t expanded = unlimited->expanded.size();
    ASSERT_TRUE(loadObjectBytes(object, "g.kpu", expanded + 1024));
    auto refused = loadObjectBytes(object, "g.kpu", expanded / 2);
    ASSERT_FALSE(refused);
    const std::string ops = std::to_string(unlimited->program->ops()->size());
    EXPECT_TRUE(refused.error().message.starts_with("g.kpu: error: expanding the program to " +
                                                    ops + " ops needs "))
        << refused.error().message;
    EXPECT_NE(refused.error().message.find(" of host memory; " + formatBytes(expanded / 2) +
                                           " is left under the limit (--max-host-memory"),
              std::string::npos)
        << refused.error().message;
}

// The binder refuses before allocating its tables when they alone pass the limit, and while
// binding when the schedule grows past it; both paths are reached as the limit shrinks.
TEST(HostMemoryLimit, BinderRefusesTablesOrAScheduleThatPassTheLimit) {
    const auto object = compileTiledMatmul();
    auto loaded = loadObjectBytes(object, "g.kpu");
    ASSERT_TRUE(loaded) << loaded.error().message;
    auto full = bindProgram(*loaded->program, defaultConfig(), "g.kpu");
    ASSERT_TRUE(full) << full.error().message;
    ASSERT_GT(full->ops.size(), 3 * loaded->program->ops()->size() / 2);
    const std::string prefix = "g.kpu: error: binding the program's " +
                               std::to_string(loaded->program->ops()->size()) + " ops";
    bool refusedTables = false, refusedGrowing = false;
    for (std::uint64_t limit = 2 * full->hostBytes(); limit > 1024; limit = limit * 3 / 4) {
        auto bound = bindProgram(*loaded->program, defaultConfig(), "g.kpu", limit);
        if (bound) {
            EXPECT_FALSE(refusedTables || refusedGrowing) << "bound at a lower limit than refused";
            EXPECT_EQ(bound->ops.size(), full->ops.size()) << "the limit changed the schedule";
            continue;
        }
        const std::string& message = bound.error().message;
        EXPECT_TRUE(message.starts_with(prefix)) << message;
        EXPECT_NE(message.find("is left under the limit"), std::string::npos) << message;
        (message.find(" bound ops by DFX op ") != std::string::npos ? refusedGrowing
                                                                    : refusedTables) = true;
    }
    EXPECT_TRUE(refusedGrowing);
    EXPECT_TRUE(refusedTables);
}

} // namespace
} // namespace kpu::loader
