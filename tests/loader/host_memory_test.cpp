// The host-memory check kpu-loader makes before a functional run allocates anything.
#include <gtest/gtest.h>

#include "kpu/common/file_io.h"
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
    EXPECT_EQ(refused.error().message,
              "g.kpu: error: a functional run needs 224.0 KiB of host memory (simulated "
              "external memory 56.0 KiB, host copies of tensors 56.0 KiB, reference executor "
              "112.0 KiB); this machine has 100.0 KiB available (--timing-only needs none of "
              "it; --no-verify saves the reference's)");
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

} // namespace
} // namespace kpu::loader
