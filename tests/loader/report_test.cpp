// The run report (text and --json), the per-kernel profile and the --dry-run listing: the
// numbers agree with each other and with the run's statistics, and every JSON key is
// documented in docs/report-schema.md.
#include <algorithm>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "loader/example_run.h"

namespace kpu::test {
namespace {

using nlohmann::json;

json reportOf(const ExampleRun& run, bool profile,
              std::span<const loader::ExpectComparison> expect = {}) {
    return json::parse(loader::reportJson(run.object, run.config, run.schedule, run.result,
                                          run.comparisons, {.profile = profile, .expect = expect}));
}

std::uint64_t u64(const json& j) {
    return j.get<std::uint64_t>();
}

TEST(Report, JsonHasTheSchemaAndConsistentNumbers) {
    ExampleRun run;
    ASSERT_TRUE(runExample("matmul", defaultConfig(), run));
    const json r = reportOf(run, false);
    const sim::RunStats& s = run.result.stats;

    EXPECT_EQ(r.at("schema"), "kpu-report");
    EXPECT_EQ(r.at("schema_version"), "1.2");
    const std::uint64_t total = u64(r.at("total_cycles"));
    ASSERT_EQ(total, s.totalCycles);
    ASSERT_GT(total, 0u);
    EXPECT_DOUBLE_EQ(r.at("time_seconds").get<double>(), static_cast<double>(total) / 1e9);
    EXPECT_FALSE(r.contains("kernels")) << "kernels are reported with --profile only";

    // Resources: one per engine, utilisation = busy / total, stalls are their sums.
    const json& resources = r.at("resources");
    ASSERT_EQ(resources.size(), s.engines.size());
    std::uint64_t arrayWaitData = 0, moverWaitData = 0, moverWaitPort = 0;
    const std::set<std::string> kinds{"dma", "block_mover", "streamer", "array"};
    for (std::size_t e = 0; e < resources.size(); ++e) {
        const json& res = resources[e];
        EXPECT_EQ(res.at("name"), s.engines[e].name);
        EXPECT_TRUE(kinds.contains(res.at("kind").get<std::string>())) << res.dump();
        EXPECT_EQ(res.at("name"),
                  fmt::format("{}[{}]", res.at("kind").get<std::string>(), u64(res.at("index"))));
        EXPECT_DOUBLE_EQ(res.at("utilization").get<double>(),
                         static_cast<double>(u64(res.at("busy_cycles"))) /
                             static_cast<double>(total));
        EXPECT_LE(u64(res.at("busy_cycles")) + u64(res.at("wait_data_cycles")) +
                      u64(res.at("wait_space_cycles")) + u64(res.at("wait_port_cycles")),
                  total)
            << res.dump();
        const bool array = res.at("kind") == "array";
        (array ? arrayWaitData : moverWaitData) += u64(res.at("wait_data_cycles"));
        if (!array)
            moverWaitPort += u64(res.at("wait_port_cycles"));
    }
    EXPECT_EQ(u64(r.at("stalls").at("array_wait_data_cycles")), arrayWaitData);
    EXPECT_EQ(u64(r.at("stalls").at("movers_wait_data_cycles")), moverWaitData);
    EXPECT_EQ(u64(r.at("stalls").at("movers_wait_port_cycles")), moverWaitPort);
    EXPECT_GT(arrayWaitData + moverWaitData, 0u) << "a real run waits for data somewhere";

    // Levels: every move reads one level and writes the next, so both sums equal the level pairs'.
    const json& between = r.at("bytes_between_levels");
    const std::uint64_t pairs =
        u64(between.at("ext_l3")) + u64(between.at("l3_l2")) + u64(between.at("l2_l1"));
    const json& levels = r.at("levels");
    ASSERT_EQ(levels.size(), 4u);
    std::uint64_t read = 0, written = 0;
    for (const json& level : levels) {
        read += u64(level.at("bytes_read"));
        written += u64(level.at("bytes_written"));
        EXPECT_DOUBLE_EQ(
            level.at("achieved_bytes_per_cycle").get<double>(),
            static_cast<double>(u64(level.at("bytes_read")) + u64(level.at("bytes_written"))) /
                static_cast<double>(total));
    }
    EXPECT_EQ(read, pairs);
    EXPECT_EQ(written, pairs);
    const json& ext = levels[0];
    EXPECT_EQ(ext.at("level"), "EXT");
    EXPECT_EQ(u64(ext.at("bytes_read")) + u64(ext.at("bytes_written")), u64(between.at("ext_l3")));
    // Default: 2 banks x 100 GB/s at 1 GHz; 4 L3 tiles x 250 GB/s.
    EXPECT_DOUBLE_EQ(ext.at("peak_bytes_per_cycle").get<double>(), 200.0);
    EXPECT_DOUBLE_EQ(levels[1].at("peak_bytes_per_cycle").get<double>(), 1000.0);
    for (int l = 0; l < 4; ++l) {
        EXPECT_EQ(u64(levels[l].at("reused_tiles")), run.schedule.reusedTiles[l]);
        EXPECT_EQ(u64(levels[l].at("reused_bytes")), run.schedule.reusedBytes[l]);
    }

    // External traffic against the compulsory minimum.
    const json& external = r.at("external");
    const std::uint64_t extBytes = u64(r.at("external_bytes"));
    EXPECT_EQ(u64(external.at("bytes")), extBytes);
    EXPECT_EQ(extBytes, u64(between.at("ext_l3")));
    const std::uint64_t compulsory = u64(external.at("compulsory_bytes"));
    EXPECT_EQ(compulsory, run.schedule.compulsoryExternalBytes);
    if (compulsory > 0) {
        EXPECT_DOUBLE_EQ(external.at("overfetch").get<double>(),
                         static_cast<double>(extBytes) / static_cast<double>(compulsory));
        EXPECT_GE(external.at("overfetch").get<double>(), 1.0);
    } else {
        EXPECT_TRUE(external.at("overfetch").is_null());
    }

    // Roofline of the 16x16 array at 1 GHz.
    const json& roof = r.at("roofline");
    const double flops = 2.0 * static_cast<double>(u64(r.at("macs")));
    EXPECT_DOUBLE_EQ(roof.at("flops").get<double>(), flops);
    EXPECT_DOUBLE_EQ(roof.at("peak_flops_per_cycle").get<double>(), 512.0);
    EXPECT_DOUBLE_EQ(roof.at("peak_external_bytes_per_cycle").get<double>(), 200.0);
    const double intensity = flops / static_cast<double>(extBytes);
    EXPECT_DOUBLE_EQ(roof.at("arithmetic_intensity").get<double>(), intensity);
    EXPECT_DOUBLE_EQ(roof.at("attainable_flops_per_cycle").get<double>(),
                     std::min(512.0, intensity * 200.0));
    EXPECT_EQ(roof.at("bound"), intensity * 200.0 < 512.0 ? "memory" : "compute");
    EXPECT_DOUBLE_EQ(roof.at("achieved_flops_per_cycle").get<double>(),
                     flops / static_cast<double>(total));
    EXPECT_DOUBLE_EQ(roof.at("mac_efficiency").get<double>(),
                     static_cast<double>(u64(r.at("macs"))) / (256.0 * static_cast<double>(total)));
    EXPECT_LE(roof.at("achieved_flops_per_cycle").get<double>(),
              roof.at("attainable_flops_per_cycle").get<double>());
    EXPECT_EQ(u64(roof.at("array_folds")), s.arrayFolds);
    EXPECT_GT(s.arrayFolds, 0u);
}

TEST(Report, ExternalPeakIsCappedByTheDmaEngines) {
    KpuConfig config = defaultConfig();
    config.movement.dmaBandwidthGBps = 30; // 2 engines x 30 GB/s < 2 banks x 100 GB/s
    config.clockGHz = 2.0;
    ExampleRun run;
    ASSERT_TRUE(runExample("matmul_4x16x4", config, run));
    const json r = reportOf(run, false);
    EXPECT_DOUBLE_EQ(r.at("levels")[0].at("peak_bytes_per_cycle").get<double>(), 30.0);
    EXPECT_DOUBLE_EQ(r.at("levels")[0].at("peak_gbps").get<double>(), 60.0);
    EXPECT_DOUBLE_EQ(r.at("roofline").at("peak_external_bytes_per_cycle").get<double>(), 30.0);
    // L2 is not capped: 8 banks x 500 GB/s at 2 GHz.
    EXPECT_DOUBLE_EQ(r.at("levels")[2].at("peak_bytes_per_cycle").get<double>(), 2000.0);
}

// Every key path of a JSON value: "a.b" for object members, "a[].b" inside arrays.
void collectKeys(const json& j, const std::string& path, std::set<std::string>& keys) {
    if (j.is_object()) {
        for (const auto& [key, value] : j.items()) {
            const std::string p = path.empty() ? key : path + "." + key;
            keys.insert(p);
            collectKeys(value, p, keys);
        }
    } else if (j.is_array()) {
        for (const json& element : j)
            collectKeys(element, path + "[]", keys);
    }
}

// The keys docs/report-schema.md documents: the backticked first cell of each table row.
std::set<std::string> documentedKeys() {
    std::set<std::string> keys;
    auto doc = readTextFile(std::string(KPU_SOURCE_DIR) + "/docs/report-schema.md");
    EXPECT_TRUE(doc) << doc.error().message;
    std::istringstream lines(doc.value_or(""));
    const std::regex row(R"(^\| `([A-Za-z_0-9.\[\]]+)` \|)");
    std::smatch m;
    for (std::string line; std::getline(lines, line);)
        if (std::regex_search(line, m, row))
            keys.insert(m[1]);
    return keys;
}

TEST(Report, EveryJsonKeyIsDocumentedAndEveryDocumentedKeyIsEmitted) {
    ExampleRun run;
    ASSERT_TRUE(runExample("mlp", defaultConfig(), run));
    ASSERT_FALSE(run.comparisons.empty());
    // A mismatch, so that the optional first_mismatch keys are emitted too.
    run.comparisons.front().firstMismatch =
        loader::Mismatch{.flatIndex = 3, .index = {0, 3}, .expected = 1, .actual = 2};
    // An --expect comparison that failed, for the expect keys.
    loader::ExpectComparison expect;
    expect.tensor = "logits";
    expect.path = "y.pb";
    expect.elements = 80;
    expect.mismatches = 1;
    expect.firstMismatch = loader::ExpectMismatch{.flatIndex = 1, .index = {0, 1}};
    std::set<std::string> emitted;
    collectKeys(reportOf(run, true, std::span(&expect, 1)), "", emitted);
    const std::set<std::string> documented = documentedKeys();
    ASSERT_GT(documented.size(), 50u) << "docs/report-schema.md tables were not found";
    for (const std::string& key : emitted)
        EXPECT_TRUE(documented.contains(key)) << "`" << key << "` is not in docs/report-schema.md";
    for (const std::string& key : documented)
        EXPECT_TRUE(emitted.contains(key)) << "`" << key << "` is documented but never emitted";
}

TEST(Report, ProfileHasOneRowPerKernelAndAccountsForEveryArrayCycle) {
    ExampleRun run;
    ASSERT_TRUE(runExample("mlp", defaultConfig(), run));
    const dfx::Program& program = *run.object.program;
    const auto rows =
        loader::profileKernels(program, run.schedule, run.result.stats, defaultConfig());
    const std::size_t kernels = program.kernels()->size();
    ASSERT_GE(rows.size(), kernels);
    ASSERT_LE(rows.size(), kernels + 1);
    for (std::uint32_t k = 0; k < kernels; ++k)
        EXPECT_EQ(rows[k].name, program.kernels()->Get(k)->name()->str());
    if (rows.size() > kernels) {
        EXPECT_EQ(rows.back().name, "(other)");
    }

    std::uint64_t arrayBusy = 0, macs = 0, folds = 0, boundOps = 0;
    std::array<std::uint64_t, 3> bytes{};
    for (const loader::KernelProfile& k : rows) {
        arrayBusy += k.arrayBusyCycles;
        macs += k.macs;
        folds += k.folds;
        boundOps += k.boundOps;
        for (std::size_t p = 0; p < 3; ++p)
            bytes[p] += k.bytesBetweenLevels[p];
        if (k.ran) {
            EXPECT_LE(k.firstStart, k.lastFinish);
            EXPECT_LE(k.lastFinish, run.result.stats.totalCycles);
            EXPECT_LE(k.arrayBusyCycles, k.spanCycles()) << k.name << ": one array";
        }
        if (k.kind == "matmul") {
            EXPECT_TRUE(k.dataflow == "os" || k.dataflow == "ws" || k.dataflow == "is") << k.name;
        } else {
            EXPECT_EQ(k.dataflow, "-") << k.name;
        }
    }
    std::uint64_t arrayEngineBusy = 0;
    for (const sim::EngineStats& e : run.result.stats.engines)
        if (e.kind == sim::EngineKind::Array)
            arrayEngineBusy += e.busyCycles;
    EXPECT_EQ(arrayBusy, arrayEngineBusy);
    EXPECT_EQ(macs, run.result.stats.macs);
    EXPECT_EQ(folds, run.result.stats.arrayFolds);
    EXPECT_EQ(boundOps, run.schedule.ops.size());
    EXPECT_EQ(bytes, run.result.stats.bytesBetweenLevels);

    // The text report ends with the table: a header, then one line per row, in order.
    const std::string text = loader::formatReport(run.object, run.config, run.schedule, run.result,
                                                  run.comparisons, {.profile = true});
    const auto table = text.find("profile (per kernel");
    ASSERT_NE(table, std::string::npos) << text;
    std::istringstream lines(text.substr(table));
    std::vector<std::string> body;
    for (std::string line; std::getline(lines, line);)
        body.push_back(line);
    ASSERT_EQ(body.size(), rows.size() + 2) << text.substr(table);
    for (std::size_t k = 0; k < rows.size(); ++k)
        EXPECT_EQ(body[k + 2].rfind("  " + rows[k].name + " ", 0), 0u) << body[k + 2];
    EXPECT_EQ(
        loader::formatReport(run.object, run.config, run.schedule, run.result, run.comparisons)
            .find("profile (per kernel"),
        std::string::npos);
}

TEST(Report, TextReportShowsTheNewSections) {
    ExampleRun run;
    ASSERT_TRUE(runExample("matmul", defaultConfig(), run));
    const std::string text =
        loader::formatReport(run.object, run.config, run.schedule, run.result, run.comparisons);
    for (const char* section :
         {"wait data", "stalls (cycles", "array waiting on data", "movers waiting on ports",
          "memory levels", "reused tiles", "roofline", "arithmetic intensity", "MAC efficiency",
          "array folds", "overfetch", "bytes moved per level:", "verify"})
        EXPECT_NE(text.find(section), std::string::npos) << section << " missing in\n" << text;
    EXPECT_NE(text.find(fmt::format("  total cycles   {}\n", run.result.stats.totalCycles)),
              std::string::npos);
}

// A hand-built schedule exercises the dry-run columns the binder may or may not fill.
TEST(Report, DryRunShowsEngineChoicesLatencySlotsAndFolds) {
    ExampleRun run;
    ASSERT_TRUE(runExample("matmul_4x16x4", defaultConfig(), run));
    sim::Schedule s;
    s.engineCounts = {2, 4, 16, 1};
    sim::MoveSpec load;
    load.type = sim::OpType::Move;
    load.engine = sim::EngineKind::Streamer;
    load.engineIndex = 1;
    load.engineStride = 8;
    load.engineChoices = 2;
    load.bytes = 256;
    load.cycles = 3;
    load.latency = 10;
    load.slot = 1;
    load.slots = 2;
    load.prefetchDistance = 1;
    load.move.src = {sim::Level::L2, 0x100};
    load.move.dst = {sim::Level::L1, 0x40};
    s.add(load, {});
    sim::ArraySpec pass;
    pass.type = sim::OpType::Array;
    pass.engine = sim::EngineKind::Array;
    pass.cycles = 62;
    pass.array.m = 4;
    pass.array.n = 4;
    pass.array.k = 16;
    pass.array.dataflow = sim::Dataflow::Weight;
    pass.array.foldStart = true;
    const std::uint32_t first = 0;
    s.add(pass, std::span(&first, 1));
    pass.array.foldStart = false;
    s.add(pass, std::span(&first, 1));
    s.reusedTiles = {0, 3, 5, 0};
    s.reusedBytes = {0, 768, 1280, 0};

    const std::string text = loader::formatSchedule(*run.object.program, s, run.config);
    std::istringstream lines(text);
    std::vector<std::string> rows;
    for (std::string line; std::getline(lines, line);)
        rows.push_back(line);
    const auto find = [&](std::string_view needle) {
        return std::ranges::find_if(
            rows, [&](const std::string& r) { return r.find(needle) != std::string::npos; });
    };
    const auto header = find("  notes");
    ASSERT_NE(header, rows.end()) << text;
    ASSERT_NE(header->find(" lat "), std::string::npos) << *header;
    const auto move = header + 1, fold = header + 2, chunk = header + 3;
    ASSERT_LT(chunk, rows.end()) << text;
    EXPECT_NE(move->find("streamer[1|9]"), std::string::npos) << *move;
    EXPECT_NE(move->find("slot 1/2 pf 1"), std::string::npos) << *move;
    EXPECT_NE(move->find(" 10       3  "), std::string::npos) << "latency, then cycles: " << *move;
    EXPECT_NE(fold->find("m=4 n=4 k=16 ws fold"), std::string::npos) << *fold;
    EXPECT_NE(chunk->find("m=4 n=4 k=16 ws "), std::string::npos) << *chunk;
    EXPECT_EQ(chunk->find("fold"), std::string::npos) << *chunk;
    // Columns stay aligned: the notes start at the same place on every row.
    const std::size_t notes = header->find("notes");
    EXPECT_EQ(move->find("slot"), notes) << text;
    EXPECT_EQ(fold->find("m=4"), notes) << text;
    EXPECT_NE(find("reused L3       3 tiles, 768 bytes"), rows.end()) << text;
    EXPECT_NE(find("reused L2       5 tiles, 1280 bytes"), rows.end()) << text;
}

TEST(Report, DryRunOfARealScheduleShowsEveryOp) {
    ExampleRun run;
    ASSERT_TRUE(runExample("matmul_4x16x4", defaultConfig(), run));
    const std::string text = loader::formatSchedule(*run.object.program, run.schedule, run.config);
    std::size_t rows = 0;
    std::istringstream lines(text);
    const std::regex op(R"(^ +\d+ +\d+  (move|array|vector|barrier) )");
    for (std::string line; std::getline(lines, line);)
        rows += std::regex_search(line, op) ? 1 : 0;
    EXPECT_EQ(rows, run.schedule.ops.size()) << text;
}

} // namespace
} // namespace kpu::test
