// The sweep library (sweep.h): specs and their errors, point configurations, the fronts.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kpu/common/file_io.h"
#include "kpu/dse/sweep.h"
#include "support/run_command.h"

namespace kpu::dse {
namespace {

using json = nlohmann::json;

const std::string kExamples = std::string(KPU_SOURCE_DIR) + "/examples/";

SweepSpec spec(const std::string& text, const std::string& name = "s.json") {
    auto parsed = parseSweepSpec(text, kExamples + name);
    EXPECT_TRUE(parsed) << parsed.error().message;
    return parsed ? *parsed : SweepSpec{};
}

TEST(SweepSpec, ReadsModelsParametersAndOptions) {
    const SweepSpec s = spec(R"({
      "name": "study",
      "models": ["matmul.dfg", {"path": "mlp.dfg", "name": "mlp3", "batch": 2}],
      "parameters": {"array": [8, 16], "on_chip_memory.l2.bank_capacity_kb": [32, 64, 128]},
      "tile_strategy": "search", "search": {"objective": "edp", "budget": 3},
      "objectives": ["energy"], "constraints": {"max_energy_j": 0.5}})");
    EXPECT_EQ(s.name, "study");
    ASSERT_EQ(s.models.size(), 2u);
    EXPECT_EQ(s.models[0].name, "matmul");
    EXPECT_EQ(s.models[0].path, kExamples + "matmul.dfg"); // relative to the spec
    EXPECT_EQ(s.models[1].name, "mlp3");
    EXPECT_EQ(s.models[1].batch, 2);
    EXPECT_EQ(s.configCount(), 6u);
    EXPECT_EQ(s.pointCount(), 12u);
    EXPECT_TRUE(s.search);
    EXPECT_EQ(s.searchOptions.objective, compiler::Objective::Edp);
    EXPECT_EQ(s.searchOptions.budget, 3u);
    EXPECT_EQ(s.objectives, std::vector{compiler::Objective::Energy});
    EXPECT_EQ(s.constraints.maxEnergyJoules, 0.5);
}

TEST(SweepSpec, YamlReadsTheSame) {
    const SweepSpec y = spec("models: [matmul.dfg]\nparameters:\n  array: [8, 16]\n", "s.yaml");
    EXPECT_EQ(y.pointCount(), 2u);
}

TEST(SweepSpec, MistakesAreNamedByKeyPath) {
    const std::pair<const char*, const char*> bad[] = {
        {R"({"models": []})", "models: expected a non-empty array of model files"},
        {R"({"models": ["a.dfg"], "parameter": {}})", "parameter: unknown key"},
        {R"({"models": ["a.dfg"], "parameters": {"array": [8, -1]}})",
         "parameters.array[1]: expected a positive integer (rows = cols)"},
        {R"({"models": ["a.dfg"], "parameters": {"array": []}})",
         "parameters.array: expected a non-empty array of values"},
        {R"({"models": [{"file": "a.dfg"}]})", "models[0].file: unknown key"},
        {R"({"models": ["a.dfg"], "search": {"objective": "speed"}})",
         "search.objective: expected \"time\", \"energy\" or \"edp\""},
        {R"({"models": ["a.dfg"], "constraints": {"max_power_w": 1}})",
         "constraints.max_power_w: unknown key"},
        {R"({"models": ["a.dfg"],)", "s.json: error: [json.exception.parse_error"}};
    for (const auto& [text, message] : bad) {
        auto refused = parseSweepSpec(text, "s.json");
        ASSERT_FALSE(refused) << text;
        EXPECT_NE(refused.error().message.find(message), std::string::npos)
            << refused.error().message;
        EXPECT_TRUE(refused.error().message.starts_with("s.json")) << refused.error().message;
    }
}

TEST(SweepPoints, ConfigurationsApplyTheParameters) {
    const SweepSpec s = spec(R"({"models": ["matmul.dfg"],
      "parameters": {"array": [8, 32], "on_chip_memory.l2.bank_capacity_mb": [1, 2]}})");
    auto c = pointConfig(s, 3); // array 32, 2 MB banks
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->compute.arrayRows, 32u);
    EXPECT_EQ(c->compute.arrayCols, 32u);
    EXPECT_EQ(c->l2.bankCapacity, 2u << 20);
    EXPECT_EQ(c->l1.bufferCount, 4u * (32 + 32)); // re-derived from the array
    EXPECT_EQ(c->name, "default[array=32,l2.bank_capacity_mb=2]");
    auto first = pointConfig(s, 0);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->compute.arrayRows, 8u);
    EXPECT_EQ(first->l2.bankCapacity, 1u << 20);
    // A value the configuration refuses is the point's error, with its key path.
    const SweepSpec wrong =
        spec(R"({"models": ["matmul.dfg"], "parameters": {"on_chip_memory.l2.bank_count": [0]}})");
    auto refused = pointConfig(wrong, 0);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("on_chip_memory.l2.bank_count"), std::string::npos)
        << refused.error().message;
}

TEST(SweepPoints, APointRunsAndReportsItsFigures) {
    const SweepSpec s = spec(R"({"models": ["matmul.dfg"], "parameters": {"array": [8, 16]}})");
    std::vector<std::optional<Expected<ir::Graph>>> graphs(1);
    const json p = json::parse(runPoint(s, 1, graphs));
    EXPECT_EQ(p.at("index"), 1);
    EXPECT_EQ(p.at("model"), "matmul");
    EXPECT_EQ(p.at("config"), "default[array=16]");
    EXPECT_EQ(p.at("parameters").at("array"), 16);
    EXPECT_GT(p.at("cycles").get<double>(), 0);
    EXPECT_GT(p.at("energy_j").get<double>(), 0);
    EXPECT_NEAR(p.at("energy_j").get<double>(),
                p.at("dynamic_energy_j").get<double>() + p.at("static_energy_j").get<double>(),
                1e-15);
    EXPECT_DOUBLE_EQ(p.at("peak_gflops").get<double>(), 2 * 256 * 1.0);
    EXPECT_GT(p.at("area_mm2").get<double>(), 0);
    EXPECT_FALSE(p.contains("error"));
    // A model that cannot be read is the point's error, not the sweep's.
    const SweepSpec missing = spec(R"({"models": ["nope.dfg"]})");
    std::vector<std::optional<Expected<ir::Graph>>> none(1);
    const json q = json::parse(runPoint(missing, 0, none));
    EXPECT_NE(q.at("error").get<std::string>().find("nope.dfg"), std::string::npos);
}

TEST(SweepFinish, SortsAndMarksEachModelsFronts) {
    // Model a: (1 s, 3 J), (2 s, 1 J) optimal, (3 s, 3 J) dominated; model b alone.
    const std::vector<std::string> lines{
        R"({"index":2,"model":"a","time_s":3,"energy_j":3,"area_mm2":1})",
        R"({"index":0,"model":"a","time_s":1,"energy_j":3,"area_mm2":5})",
        R"({"index":3,"model":"b","time_s":9,"energy_j":9,"area_mm2":9})",
        R"({"index":1,"model":"a","time_s":2,"energy_j":1,"area_mm2":5})",
        R"({"index":4,"model":"b","error":"does not fit"})"};
    auto finished = finishSweep(lines);
    ASSERT_TRUE(finished) << finished.error().message;
    ASSERT_EQ(finished->size(), 5u);
    std::vector<json> p;
    for (const std::string& l : *finished)
        p.push_back(json::parse(l));
    for (std::size_t i = 0; i < p.size(); ++i)
        EXPECT_EQ(p[i].at("index"), i);
    EXPECT_TRUE(p[0].at("pareto_time_energy"));
    EXPECT_TRUE(p[1].at("pareto_time_energy"));
    EXPECT_FALSE(p[2].at("pareto_time_energy"));
    EXPECT_TRUE(p[2].at("pareto_time_area"));  // the smallest area
    EXPECT_FALSE(p[1].at("pareto_time_area")); // (2 s, 5) is dominated by (1 s, 5)
    EXPECT_TRUE(p[3].at("pareto_time_energy"));
    EXPECT_FALSE(p[4].contains("pareto_time_energy"));
    // Finishing is idempotent, and duplicates are refused.
    EXPECT_EQ(*finishSweep(*finished), *finished);
    EXPECT_FALSE(finishSweep({lines[0], lines[0]}));
}

} // namespace
} // namespace kpu::dse
