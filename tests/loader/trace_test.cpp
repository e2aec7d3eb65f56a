// The Chrome Trace Event output (--trace): valid JSON with one track per engine, one complete
// event per engine op at the right simulated time, no overlap on a track, and the same bytes
// on every run.
#include <algorithm>
#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kpu/loader/trace.h"
#include "loader/example_run.h"

namespace kpu::test {
namespace {

using nlohmann::json;

std::string traceOf(const ExampleRun& run) {
    return loader::chromeTrace(run.object, run.config, run.schedule, run.result.stats);
}

void checkTrace(const ExampleRun& run) {
    const json trace = json::parse(traceOf(run));
    EXPECT_EQ(trace.at("displayTimeUnit"), "ns");
    const json& events = trace.at("traceEvents");
    ASSERT_TRUE(events.is_array());
    const sim::RunStats& stats = run.result.stats;
    const double cyclesPerUs = run.config.clockGHz * 1000.0;

    std::map<std::uint64_t, std::string> threadNames;
    std::map<std::uint64_t, std::uint64_t> sortIndex;
    std::string processName;
    // Per track, the [start, finish) cycles of its events.
    std::map<std::uint64_t, std::vector<std::pair<std::uint64_t, std::uint64_t>>> busy;
    std::size_t completes = 0;
    for (const json& e : events) {
        const std::string ph = e.at("ph");
        EXPECT_EQ(e.at("pid"), 1) << e.dump();
        const auto tid = e.at("tid").get<std::uint64_t>();
        if (ph == "M") {
            if (e.at("name") == "process_name")
                processName = e.at("args").at("name");
            else if (e.at("name") == "thread_name")
                threadNames[tid] = e.at("args").at("name");
            else if (e.at("name") == "thread_sort_index")
                sortIndex[tid] = e.at("args").at("sort_index");
            continue;
        }
        ASSERT_EQ(ph, "X") << e.dump();
        ++completes;
        ASSERT_FALSE(e.at("name").get<std::string>().empty()) << e.dump();
        const json& args = e.at("args");
        const auto i = args.at("bound_op").get<std::size_t>();
        ASSERT_LT(i, run.schedule.ops.size());
        const sim::BoundOp& op = run.schedule.ops[i];
        const sim::OpTiming& t = stats.timeline[i];
        EXPECT_NE(op.type, sim::OpType::Barrier);
        EXPECT_EQ(tid, t.engine) << e.dump();
        EXPECT_EQ(args.at("dfx_op"), op.sourceOp);
        EXPECT_EQ(args.at("start_cycle"), t.start);
        EXPECT_EQ(args.at("cycles"), t.finish - t.start);
        EXPECT_EQ(t.finish - t.start, op.cycles);
        EXPECT_DOUBLE_EQ(e.at("ts").get<double>(), static_cast<double>(t.start) / cyclesPerUs);
        EXPECT_DOUBLE_EQ(e.at("dur").get<double>(),
                         static_cast<double>(t.finish - t.start) / cyclesPerUs);
        if (op.type == sim::OpType::Move) {
            EXPECT_EQ(e.at("cat"), "move");
            EXPECT_EQ(args.at("bytes"), op.bytes);
            const std::string levels = args.at("levels");
            EXPECT_NE(e.at("name").get<std::string>().find(levels), std::string::npos);
            // DFX moves name their tensor and tile; L1 moves name the kernel they serve.
            if (args.contains("tensor")) {
                EXPECT_TRUE(args.contains("tile")) << e.dump();
            } else {
                EXPECT_TRUE(args.contains("expanded_from") && args.contains("kernel")) << e.dump();
            }
        } else if (op.type == sim::OpType::Array) {
            EXPECT_EQ(e.at("cat"), "array");
            EXPECT_EQ(args.at("m"), run.schedule.array(op).m);
            EXPECT_EQ(args.at("k"), run.schedule.array(op).k);
            EXPECT_EQ(args.at("fold_start"), run.schedule.array(op).foldStart);
            EXPECT_TRUE(args.contains("dataflow"));
        }
        busy[tid].emplace_back(t.start, t.finish);
    }

    EXPECT_EQ(processName, "KPU " + run.config.name);
    ASSERT_EQ(threadNames.size(), stats.engines.size());
    for (std::size_t e = 0; e < stats.engines.size(); ++e) {
        EXPECT_EQ(threadNames[e], stats.engines[e].name);
        EXPECT_EQ(sortIndex[e], e);
    }
    const auto engineOps = std::ranges::count_if(
        run.schedule.ops, [](const sim::BoundOp& op) { return op.type != sim::OpType::Barrier; });
    EXPECT_EQ(completes, static_cast<std::size_t>(engineOps));
    for (auto& [tid, spans] : busy) {
        std::ranges::sort(spans);
        for (std::size_t s = 1; s < spans.size(); ++s)
            EXPECT_LE(spans[s - 1].second, spans[s].first)
                << threadNames[tid] << ": events overlap at cycle " << spans[s].first;
    }
}

TEST(Trace, MatmulHasOneTrackPerEngineAndOneEventPerEngineOp) {
    ExampleRun run;
    ASSERT_TRUE(runExample("matmul", defaultConfig(), run));
    checkTrace(run);
}

TEST(Trace, MlpAtAnOddClockUsesMicrosecondsOfThatClock) {
    KpuConfig config = defaultConfig();
    config.name = "odd clock";
    config.clockGHz = 1.5;
    ExampleRun run;
    ASSERT_TRUE(runExample("mlp", config, run));
    checkTrace(run);
    // GEMM passes are named after their kernel.
    const json trace = json::parse(traceOf(run));
    for (const json& e : trace.at("traceEvents")) {
        if (e.at("ph") == "X" && e.at("cat") == "array") {
            EXPECT_EQ(e.at("name"), e.at("args").at("kernel").get<std::string>() + " pass");
        }
    }
}

TEST(Trace, IsByteForByteDeterministic) {
    ExampleRun first, second;
    ASSERT_TRUE(runExample("mlp", defaultConfig(), first));
    ASSERT_TRUE(runExample("mlp", defaultConfig(), second));
    const std::string a = traceOf(first), b = traceOf(second);
    EXPECT_FALSE(a.empty());
    EXPECT_EQ(a, b);
}

} // namespace
} // namespace kpu::test
