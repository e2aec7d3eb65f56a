// The functional simulation's speed-ups change nothing anyone can observe: forwarded loads
// (read in place) and copied loads, one thread and several, give bit-identical tensors, the
// same cycles and byte-identical traces, on every example graph.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kpu/loader/trace.h"
#include "loader/example_run.h"
#include "support/test_configs.h"

namespace kpu::test {
namespace {

struct Mode {
    bool copyMoves;
    unsigned threads;
};

class FunctionalModes : public ::testing::TestWithParam<std::string> {};

TEST_P(FunctionalModes, ResultsCyclesAndTracesDoNotDependOnTheMode) {
    ExampleRun run;
    ASSERT_TRUE(runExample(GetParam(), defaultConfig(), run)); // forwarded, one thread
    for (const loader::Comparison& c : run.comparisons)
        EXPECT_FALSE(c.firstMismatch) << c.tensor;
    const std::string trace =
        loader::chromeTrace(run.object, run.config, run.schedule, run.result.stats);
    for (const Mode mode : {Mode{true, 1}, Mode{false, 2}, Mode{true, 2}, Mode{false, 3}}) {
        SCOPED_TRACE(::testing::Message() << (mode.copyMoves ? "copy" : "forward") << ", "
                                          << mode.threads << " threads");
        auto other = loader::simulate(
            *run.object.program, run.schedule, run.config, run.inputs,
            {.recordTimeline = true, .copyMoves = mode.copyMoves, .threads = mode.threads});
        ASSERT_TRUE(other) << other.error().message;
        EXPECT_EQ(other->stats.totalCycles, run.result.stats.totalCycles);
        ASSERT_EQ(other->tensors.size(), run.result.tensors.size());
        for (std::size_t t = 0; t < other->tensors.size(); ++t)
            EXPECT_TRUE(other->tensors[t].data == run.result.tensors[t].data)
                << "tensor " << run.result.tensors[t].name << " differs";
        EXPECT_EQ(loader::chromeTrace(run.object, run.config, run.schedule, other->stats), trace);
    }
}

INSTANTIATE_TEST_SUITE_P(Examples, FunctionalModes,
                         ::testing::Values("matmul", "matmul_4x16x4", "matmul_chained_mixed", "mlp",
                                           "cnn", "attention"));

} // namespace
} // namespace kpu::test
