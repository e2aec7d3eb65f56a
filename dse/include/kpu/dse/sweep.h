// kpu-sweep's library (docs/dse.md): a sweep spec names models, a base configuration and ranges
// of configuration parameters; every (model, configuration) pair is a point, compiled for its
// configuration and simulated timing-only. Points are independent, so any subset of them can
// run anywhere (threads, MPI ranks, shards of a job array) and the results merge into one file
// that does not depend on how they were split.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kpu/common/error.h"
#include "kpu/common/hw_config.h"
#include "kpu/compiler/tile_search.h"

namespace kpu::dse {

struct SweepModel {
    std::string path; // as resolved against the spec's folder
    std::string name; // the spec's, or the file's stem
    std::int64_t batch = 1;
};

// One swept parameter: a key path of the configuration in our layout (docs/config.md), or
// "array" for rows and cols together, and its values (JSON scalars, as text).
struct SweepParameter {
    std::string key;
    std::vector<std::string> values; // JSON text of each value
};

struct SweepConstraints {
    std::optional<double> maxTimeSeconds, maxEnergyJoules, maxAreaMm2;
};

struct SweepSpec {
    std::string path; // the spec file, for messages
    std::string name;
    std::vector<SweepModel> models;
    KpuConfig base = defaultConfig();
    std::vector<SweepParameter> parameters; // the first varies slowest
    bool search = false;                    // tile_strategy: search
    compiler::SearchOptions searchOptions;
    std::vector<compiler::Objective> objectives{compiler::Objective::Time,
                                                compiler::Objective::Energy};
    SweepConstraints constraints;

    std::size_t configCount() const; // product of the parameters' value counts
    std::size_t pointCount() const { return models.size() * configCount(); }
};

// Reads a spec (JSON, or YAML for .yaml/.yml). Paths in it are relative to its folder. Errors
// name the file and the key path: "s.json: error: parameters.array[2]: expected a number".
Expected<SweepSpec> loadSweepSpec(const std::string& path);
Expected<SweepSpec> parseSweepSpec(std::string_view text, const std::string& path);

// The configuration of point `index` (model-major: index = model x configCount + config):
// the base with the point's parameter values applied and validated. Its name is the base's
// followed by the values, e.g. "default[array=32,l2.bank_capacity_kb=128]".
Expected<KpuConfig> pointConfig(const SweepSpec& spec, std::size_t index);

// Runs point `index` and returns its JSON line (no newline): the point's model, configuration,
// parameters, cycles, time, energy, utilisation, external bytes, roofline figures and area, or,
// when the point cannot run (the model does not fit the configuration, ...), its "error".
// Loads the model; `graphs` caches read graphs by model (sized models.size(); shared by the
// points one thread runs).
std::string runPoint(const SweepSpec& spec, std::size_t index,
                     std::vector<std::optional<Expected<ir::Graph>>>& graphs);

// Finishes a sweep from its points' lines in any order: sorts them by index, marks each model's
// Pareto-optimal points (time vs energy, time vs area), and returns the lines (one per point).
Expected<std::vector<std::string>> finishSweep(std::vector<std::string> lines);

// Writes points.jsonl, pareto.svg and roofline.svg into `folder` (created when missing).
Expected<void> writeSweep(const std::vector<std::string>& lines, const std::string& folder,
                          const std::string& title);

// The summary kpu-sweep prints: per model, its Pareto points, the best point under each
// objective, and the fastest point within the constraints.
std::string summarizeSweep(const SweepSpec& spec, const std::vector<std::string>& lines);

} // namespace kpu::dse
