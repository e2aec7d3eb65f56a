// --tile-strategy search: tilings and dataflows of GEMM kernels chosen by simulation instead of
// the analytical estimate (tile_optimizer.h). docs/dse.md describes it.
//
// The search starts from the analytical program and scores it by a timing-only simulation on the
// target configuration under the objective (time, energy, or their product). Then, in rounds, it
// offers each GEMM kernel (the ones with the most estimated cycles first) its next candidate
// tiling in the analytical ranking (gemmTilingCandidates), the other kernels keeping their best
// so far; a candidate whose whole program scores strictly better is kept. It stops after
// `budget` candidates, at the time limit, or when every candidate was tried. Every score is a
// whole-program simulation, so what a tiling does to its neighbours (on-chip reuse, overlap) is
// counted. Without a time limit it is deterministic; it is never worse than the analytical
// choice under its objective, which it starts from.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "kpu/common/error.h"
#include "kpu/common/hw_config.h"
#include "kpu/compiler/compiler.h"
#include "kpu/simulator/energy.h"
#include "kpu/simulator/stats.h"

namespace kpu::compiler {

enum class Objective { Time, Energy, Edp };
inline constexpr std::string_view kObjectiveNames[] = {"time", "energy", "edp"};
std::string_view objectiveName(Objective objective);
std::optional<Objective> parseObjective(std::string_view name);

// A timing-only run of an object on a configuration: what the search and kpu-sweep measure.
struct Measurement {
    sim::RunStats stats;
    sim::Energy energy;
    double seconds = 0;
    std::uint64_t externalBytes = 0; // EXT <-> L3

    // The objective's value (lower is better): seconds, joules, or joule-seconds.
    double score(Objective objective) const;
};

// Verifies, expands, binds and simulates (timing only) `object` on `config`; `name` names it in
// errors.
Expected<Measurement> measureObject(std::span<const std::uint8_t> object, const KpuConfig& config,
                                    const std::string& name);

struct SearchOptions {
    Objective objective = Objective::Time;
    std::uint64_t budget = 64; // candidates to simulate beyond the analytical program
    std::optional<double> timeLimitSeconds{}; // stop starting candidates after this long
};

struct SearchResult {
    CompileResult compiled; // the best program found
    Measurement analytical, best;
    std::uint64_t candidates = 0;     // simulated, beyond the analytical program
    std::uint64_t gemmKernels = 0;    // kernels the search could retile
    std::uint64_t retiledKernels = 0; // whose tiling the best program changed
    double seconds = 0;               // wall time of the search

    // (analytical - best) / analytical under the objective; >= 0.
    double improvement(Objective objective) const;
};

// Compiles `graph` (as compileGraph does, for `options.target`) with the search above.
Expected<SearchResult> searchTilings(const ir::Graph& graph, const std::string& path,
                                     const CompileOptions& options, const SearchOptions& search);

} // namespace kpu::compiler
