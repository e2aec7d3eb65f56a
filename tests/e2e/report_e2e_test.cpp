// The loader's reports through the real CLIs on the examples: --json (schema, consistent
// numbers), --profile (one row per kernel, array cycles accounted for), --trace (valid,
// deterministic, one event per engine op of the --dry-run listing) and the usage rules.
#include <regex>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/run_command.h"

namespace kpu::test {
namespace {

using nlohmann::json;

// Compiles examples/<name>.dfg into `dir` and returns the object path.
std::string compileExample(const ScratchDir& dir, const std::string& name) {
    const std::string object = dir.file(name + ".kpu");
    auto r = runCommand({KPU_COMPILER_EXE,
                         std::string(KPU_SOURCE_DIR) + "/examples/" + name + ".dfg", "-o", object});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    return object;
}

class ReportE2e : public ::testing::TestWithParam<std::string> {};

TEST_P(ReportE2e, JsonProfileAndTraceAgree) {
    ScratchDir dir("report_" + GetParam());
    const std::string object = compileExample(dir, GetParam());
    const std::string tracePath = dir.file("trace.json");
    auto run = runCommand({KPU_LOADER_EXE, object, "--json", "--profile", "--trace", tracePath});
    ASSERT_EQ(run.exitCode, 0) << run.err;
    const json report = json::parse(run.out);
    EXPECT_EQ(report.at("schema"), "kpu-report");
    EXPECT_EQ(report.at("schema_version"), "1.2");
    const auto total = report.at("total_cycles").get<std::uint64_t>();

    // The profile: one row per kernel of the object (as kpu-disasm lists them), plus "(other)"
    // when Reserve ops exist; the rows' array cycles are the array engines' busy cycles.
    auto disasm = runCommand({KPU_DISASM_EXE, "--json", object});
    ASSERT_EQ(disasm.exitCode, 0) << disasm.err;
    const json kernels = json::parse(disasm.out).at("kernels");
    const json& rows = report.at("kernels");
    ASSERT_GE(rows.size(), kernels.size());
    for (std::size_t k = 0; k < kernels.size(); ++k)
        EXPECT_EQ(rows[k].at("name"), kernels[k].at("name"));
    for (std::size_t k = kernels.size(); k < rows.size(); ++k)
        EXPECT_EQ(rows[k].at("name"), "(other)");
    std::uint64_t kernelBusy = 0, kernelExt = 0, arrayBusy = 0;
    for (const json& row : rows) {
        kernelBusy += row.at("array_busy_cycles").get<std::uint64_t>();
        kernelExt += row.at("external_bytes").get<std::uint64_t>();
    }
    for (const json& r : report.at("resources"))
        if (r.at("kind") == "array")
            arrayBusy += r.at("busy_cycles").get<std::uint64_t>();
    EXPECT_GT(arrayBusy, 0u);
    EXPECT_EQ(kernelBusy, arrayBusy);
    EXPECT_EQ(kernelExt, report.at("external_bytes").get<std::uint64_t>());

    // The trace: one X event per op the --dry-run listing shows on an engine, none past the end.
    auto dry = runCommand({KPU_LOADER_EXE, object, "--dry-run"});
    ASSERT_EQ(dry.exitCode, 0) << dry.err;
    std::size_t engineOps = 0;
    std::istringstream lines(dry.out);
    const std::regex op(R"(^ +\d+ +\d+  (move|array|vector) )");
    for (std::string line; std::getline(lines, line);)
        engineOps += std::regex_search(line, op) ? 1 : 0;
    const std::string traceText = slurp(tracePath);
    const json trace = json::parse(traceText);
    std::size_t completes = 0;
    for (const json& e : trace.at("traceEvents")) {
        if (e.at("ph") != "X")
            continue;
        ++completes;
        for (const char* key : {"name", "ph", "pid", "tid", "ts", "dur"})
            EXPECT_TRUE(e.contains(key)) << key << " missing: " << e.dump();
        EXPECT_LE(e.at("ts").get<double>() + e.at("dur").get<double>(),
                  static_cast<double>(total) / 1000.0 * (1 + 1e-12));
    }
    EXPECT_GT(engineOps, 0u);
    EXPECT_EQ(completes, engineOps);
    EXPECT_EQ(trace.at("otherData").at("total_cycles").get<std::uint64_t>(), total);

    // The same run writes the same trace, byte for byte.
    const std::string again = dir.file("again.json");
    auto rerun = runCommand({KPU_LOADER_EXE, object, "--trace", again});
    ASSERT_EQ(rerun.exitCode, 0) << rerun.err;
    EXPECT_TRUE(slurp(again) == traceText) << "the trace differs between two runs";
}

TEST_P(ReportE2e, TextProfileHasOneRowPerKernel) {
    ScratchDir dir("report_text_" + GetParam());
    const std::string object = compileExample(dir, GetParam());
    auto disasm = runCommand({KPU_DISASM_EXE, "--json", object});
    ASSERT_EQ(disasm.exitCode, 0) << disasm.err;
    const json kernels = json::parse(disasm.out).at("kernels");

    auto run = runCommand({KPU_LOADER_EXE, object, "--profile"});
    ASSERT_EQ(run.exitCode, 0) << run.err;
    const auto table = run.out.find("profile (per kernel");
    ASSERT_NE(table, std::string::npos) << run.out;
    std::istringstream lines(run.out.substr(table));
    std::vector<std::string> body;
    for (std::string line; std::getline(lines, line);)
        body.push_back(line);
    ASSERT_GE(body.size(), kernels.size() + 2) << run.out.substr(table);
    for (std::size_t k = 0; k < kernels.size(); ++k)
        EXPECT_EQ(body[k + 2].rfind("  " + kernels[k].at("name").get<std::string>() + " ", 0), 0u)
            << body[k + 2];
    for (std::size_t k = kernels.size() + 2; k < body.size(); ++k)
        EXPECT_EQ(body[k].rfind("  (other) ", 0), 0u) << body[k];

    // Without --profile the table is absent; the other sections are always there.
    auto plain = runCommand({KPU_LOADER_EXE, object});
    ASSERT_EQ(plain.exitCode, 0) << plain.err;
    EXPECT_EQ(plain.out.find("profile (per kernel"), std::string::npos);
    for (const char* section : {"stalls (cycles", "memory levels", "roofline"})
        EXPECT_NE(plain.out.find(section), std::string::npos) << section;
}

INSTANTIATE_TEST_SUITE_P(Examples, ReportE2e, ::testing::Values("matmul", "mlp"));

TEST(ReportE2eUsage, DryRunRefusesRunOnlyOptions) {
    ScratchDir dir("report_usage");
    const std::string object = compileExample(dir, "matmul_4x16x4");
    for (const std::vector<std::string>& extra :
         {std::vector<std::string>{"--profile"}, {"--trace", dir.file("t.json")}, {"--json"}}) {
        std::vector<std::string> argv{KPU_LOADER_EXE, object, "--dry-run"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        auto r = runCommand(argv);
        EXPECT_EQ(r.exitCode, 2) << extra[0] << ": " << r.err;
        EXPECT_NE(r.err.find("excludes"), std::string::npos) << r.err;
    }
    EXPECT_FALSE(std::filesystem::exists(dir.file("t.json")));
}

TEST(ReportE2eUsage, UnwritableTraceIsAnError) {
    ScratchDir dir("report_unwritable");
    const std::string object = compileExample(dir, "matmul_4x16x4");
    auto r = runCommand({KPU_LOADER_EXE, object, "--trace", "/nonexistent/dir/t.json"});
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_FALSE(r.crashed);
    EXPECT_NE(r.err.find("/nonexistent/dir/t.json: error: "), std::string::npos) << r.err;
}

TEST(ReportE2eUsage, DryRunListsLatencyAndNotes) {
    ScratchDir dir("report_dry");
    const std::string object = compileExample(dir, "matmul_4x16x4");
    auto r = runCommand({KPU_LOADER_EXE, object, "--dry-run"});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_NE(r.out.find(" lat  cycles  notes"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("m=4 n=4 k=16 "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("  reused L3 "), std::string::npos) << r.out;
}

} // namespace
} // namespace kpu::test
