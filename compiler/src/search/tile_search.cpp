#include "kpu/compiler/tile_search.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <numeric>
#include <vector>

#include "kpu/loader/binder.h"
#include "kpu/loader/loader.h"

namespace kpu::compiler {
namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

GemmTilingChoice choiceOf(const GemmTiling& t) {
    return GemmTilingChoice{.dataflow = t.dataflow, .mt = t.mt, .nt = t.nt, .kt = t.kt};
}

} // namespace

std::string_view objectiveName(Objective objective) {
    return kObjectiveNames[static_cast<std::size_t>(objective)];
}

std::optional<Objective> parseObjective(std::string_view name) {
    for (std::size_t i = 0; i < std::size(kObjectiveNames); ++i)
        if (kObjectiveNames[i] == name)
            return static_cast<Objective>(i);
    return std::nullopt;
}

double Measurement::score(Objective objective) const {
    const double joules = energy.total() * 1e-12;
    switch (objective) {
    case Objective::Time:
        return seconds;
    case Objective::Energy:
        return joules;
    case Objective::Edp:
        return joules * seconds;
    }
    return seconds;
}

Expected<Measurement> measureObject(std::span<const std::uint8_t> object, const KpuConfig& config,
                                    const std::string& name) {
    auto loaded = loader::loadObjectBytes({object.begin(), object.end()}, name);
    if (!loaded)
        return std::unexpected(loaded.error());
    auto schedule = loader::bindProgram(*loaded->program, config, name);
    if (!schedule)
        return std::unexpected(schedule.error());
    auto run = loader::simulate(*loaded->program, *schedule, config, {}, {.functional = false});
    if (!run)
        return std::unexpected(run.error());
    Measurement m;
    m.stats = std::move(run->stats);
    m.energy = sim::runEnergy(*schedule, config, m.stats.totalCycles);
    m.seconds = static_cast<double>(m.stats.totalCycles) / (config.clockGHz * 1e9);
    m.externalBytes = m.stats.bytesBetweenLevels[0];
    return m;
}

double SearchResult::improvement(Objective objective) const {
    const double a = analytical.score(objective);
    return a > 0 ? (a - best.score(objective)) / a : 0.0;
}

Expected<SearchResult> searchTilings(const ir::Graph& graph, const std::string& path,
                                     const CompileOptions& options, const SearchOptions& search) {
    const auto start = Clock::now();
    // Compiles with `imposed` tilings and measures; records the GEMM choices when asked.
    const auto evaluate = [&](const std::map<std::string, GemmTilingChoice>& imposed,
                              std::vector<GemmKernelChoice>* choices)
        -> Expected<std::pair<CompileResult, Measurement>> {
        CompileOptions o = options;
        o.gemmTilings = imposed;
        o.gemmChoices = choices;
        auto compiled = compileGraph(graph, path, o);
        if (!compiled)
            return std::unexpected(compiled.error());
        auto measured = measureObject(compiled->object, options.target, path);
        if (!measured)
            return std::unexpected(measured.error());
        return std::pair{std::move(*compiled), std::move(*measured)};
    };

    std::vector<GemmKernelChoice> kernels;
    auto analytical = evaluate({}, &kernels);
    if (!analytical)
        return std::unexpected(analytical.error());
    SearchResult result;
    result.analytical = analytical->second;
    result.best = analytical->second;
    result.compiled = std::move(analytical->first);
    result.gemmKernels = kernels.size();
    double bestScore = result.best.score(search.objective);

    // The kernels with the most estimated work first: the budget goes where time goes.
    std::ranges::stable_sort(kernels, [](const GemmKernelChoice& a, const GemmKernelChoice& b) {
        return a.tiling.estimate.cycles > b.tiling.estimate.cycles;
    });
    std::vector<std::vector<GemmTilingChoice>> candidates(kernels.size());
    std::size_t rounds = 0;
    for (std::size_t k = 0; k < kernels.size(); ++k) {
        for (const GemmTiling& t :
             gemmTilingCandidates(kernels[k].shape, kernels[k].target, kernels[k].maxTileSteps))
            if (choiceOf(t) != choiceOf(kernels[k].tiling))
                candidates[k].push_back(choiceOf(t));
        rounds = std::max(rounds, candidates[k].size());
    }

    std::map<std::string, GemmTilingChoice> best;
    const auto outOfTime = [&] {
        return search.timeLimitSeconds && secondsSince(start) >= *search.timeLimitSeconds;
    };
    // Offers kernel k its candidate of this round; false when the budget or the time is spent.
    const auto tryCandidate = [&](std::size_t k, std::size_t round) {
        if (result.candidates >= search.budget || outOfTime())
            return false;
        ++result.candidates;
        auto trial = best;
        trial[kernels[k].kernel] = candidates[k][round];
        auto scored = evaluate(trial, nullptr);
        // A candidate that does not bind (on-chip space its neighbours take) is skipped.
        if (scored && scored->second.score(search.objective) < bestScore) {
            bestScore = scored->second.score(search.objective);
            best = std::move(trial);
            result.best = scored->second;
            result.compiled = std::move(scored->first);
        }
        return true;
    };
    bool going = true;
    for (std::size_t round = 0; going && round < rounds; ++round)
        for (std::size_t k = 0; going && k < kernels.size(); ++k)
            if (round < candidates[k].size())
                going = tryCandidate(k, round);
    result.retiledKernels = best.size();
    result.seconds = secondsSince(start);
    return result;
}

} // namespace kpu::compiler
