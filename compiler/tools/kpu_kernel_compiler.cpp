// kpu-kernel-compiler: compile a Domain Flow Graph (.dfg) or an ONNX model (.onnx) into a DFX
// object (.kpu).
#include <algorithm>
#include <iostream>
#include <optional>

#include <CLI/CLI.hpp>

#include "kpu/common/file_io.h"
#include "kpu/compiler/compiler.h"
#include "kpu/compiler/dfg_writer.h"
#include "kpu/compiler/tile_optimizer.h"
#include "kpu/compiler/tile_search.h"
#include "kpu/schema/disasm.h"

namespace {

// --tile-strategy search: the search, and what it found, on stderr.
kpu::Expected<kpu::compiler::CompileResult>
searchAndReport(const kpu::ir::Graph& graph, const std::string& input,
                const kpu::compiler::CompileOptions& options,
                const kpu::compiler::SearchOptions& search) {
    auto found = kpu::compiler::searchTilings(graph, input, options, search);
    if (!found)
        return std::unexpected(found.error());
    const auto describe = [](const kpu::compiler::Measurement& m) {
        return fmt::format("{:.4g} ms, {:.4g} mJ, EDP {:.4g} mJ.ms", m.seconds * 1e3,
                           m.energy.total() * 1e-9, m.seconds * 1e3 * m.energy.total() * 1e-9);
    };
    std::cerr << fmt::format(
        "{}: search ({}): {} candidates over {} GEMM kernels in {:.1f} s, {} kernels retiled\n"
        "  analytical {}\n  search     {} ({:.1f}% better than analytical by {})\n",
        input, kpu::compiler::objectiveName(search.objective), found->candidates,
        found->gemmKernels, found->seconds, found->retiledKernels, describe(found->analytical),
        describe(found->best), 100.0 * found->improvement(search.objective),
        kpu::compiler::objectiveName(search.objective));
    return std::move(found->compiled);
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "kpu-kernel-compiler: compile a Domain Flow Graph (.dfg) or an ONNX model (.onnx) into a "
        "DFX object (.kpu)"};
    app.set_version_flag("--version", std::string("kpu-kernel-compiler ") + KPU_VERSION);
    std::string input, output, configPath, dataflow = "auto", emitDfg;
    std::vector<std::string> constSpecs;
    std::int64_t batch = 1;
    bool emitDfx = false, emitGraph = false, noFuse = false, explicitOps = false;
    app.add_option("input", input, "Domain Flow Graph (.dfg) or ONNX model (.onnx)")->required();
    app.add_option("-o,--output", output, "object file to write (default: <input stem>.kpu)");
    app.add_option("--config", configPath,
                   "KPU configuration the tiles are chosen for (default: embedded)");
    app.add_option("--batch", batch, "value of dynamic '?' dimensions")
        ->capture_default_str()
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 31)
                    .description("a batch size from 1 to 2^31"));
    app.add_flag("--no-fuse", noFuse,
                 "keep bias adds and activations as separate kernels (default: fused into the "
                 "preceding MATMUL / FC / CONV2D)");
    app.add_option("--dataflow", dataflow,
                   "dataflow of every GEMM kernel: os (output-stationary), ws (weight-stationary), "
                   "is (input-stationary) or auto (each kernel's fastest, docs/dataflows.md)")
        ->capture_default_str()
        ->check(CLI::IsMember({"os", "ws", "is", "auto"}));
    std::string tileStrategy = "analytical", objective = "time";
    std::uint64_t budget = 64;
    double timeLimit = 0;
    app.add_option("--tile-strategy", tileStrategy,
                   "how GEMM tilings and dataflows are chosen: analytical (the estimate of "
                   "docs/dataflows.md) or search (candidates scored by timing-only simulation on "
                   "the config, docs/dse.md)")
        ->capture_default_str()
        ->check(CLI::IsMember({"analytical", "search"}));
    auto* objectiveOption =
        app.add_option("--objective", objective,
                       "what search minimises: time, energy, or edp (energy x time)")
            ->capture_default_str()
            ->check(CLI::IsMember({"time", "energy", "edp"}));
    auto* budgetOption =
        app.add_option("--budget", budget, "search: candidates to simulate at most")
            ->capture_default_str()
            ->check(CLI::Range(std::uint64_t{0}, std::uint64_t{1} << 32));
    auto* timeLimitOption =
        app.add_option("--time-limit", timeLimit,
                       "search: seconds after which no new candidate starts (the result then "
                       "depends on the machine's speed; --budget alone is deterministic)")
            ->check(CLI::PositiveNumber);
    app.add_flag("--explicit-ops", explicitOps,
                 "store every op of every kernel in the object (default: kernels are tile-loop "
                 "records the loader expands; docs/object-format.md)");
    app.add_flag("--emit-dfx", emitDfx, "print the DFX program as text");
    app.add_flag("--emit-graph", emitGraph, "print the graph IR");
    app.add_option("--emit-dfg", emitDfg,
                   "also write the graph IR as a domain_flow .dfg file (shapes only: constant "
                   "values do not travel in .dfg)");
    app.add_option("--const", constSpecs,
                   "NAME=FILE: fix ONNX graph input NAME to the value in FILE (.pb or .npy) at "
                   "compile time, for operators that need it (a Reshape's shape); repeatable");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help and --version exit 0; usage errors exit 2, as command-line tools conventionally
        // do.
        return app.exit(e) == 0 ? 0 : 2;
    }

    const bool search = tileStrategy == "search";
    for (const CLI::Option* o : {objectiveOption, budgetOption, timeLimitOption})
        if (!search && o->count() > 0) {
            std::cerr << "kpu-kernel-compiler: error: " << o->get_name()
                      << " needs --tile-strategy search\n";
            return 2;
        }

    auto config = configPath.empty() ? kpu::Expected<kpu::KpuConfig>(kpu::defaultConfig())
                                     : kpu::loadConfigFile(configPath);
    if (!config) {
        std::cerr << config.error().message << "\n";
        return 1;
    }
    kpu::compiler::SourceOptions source{.batch = batch, .staticInputs = {}};
    for (const std::string& spec : constSpecs) {
        const auto eq = spec.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
            std::cerr << "kpu-kernel-compiler: error: --const '" << spec
                      << "': expected NAME=FILE\n";
            return 2;
        }
        auto value = kpu::onnx_io::readValueFile(spec.substr(eq + 1));
        if (!value) {
            std::cerr << value.error().message << "\n";
            return 1;
        }
        source.staticInputs[spec.substr(0, eq)] = std::move(*value);
    }
    auto graph = kpu::compiler::readGraph(input, source);
    if (!graph) {
        std::cerr << graph.error().message << "\n";
        return 1;
    }
    for (const std::string& warning : graph->warnings)
        std::cerr << warning << "\n";
    // The graph dump comes before lowering, so it works for graphs that cannot be lowered yet.
    if (emitGraph)
        std::cout << kpu::ir::dumpGraph(*graph);
    if (!emitDfg.empty()) {
        if (auto r = kpu::ir::writeDfgFile(*graph, emitDfg); !r) {
            std::cerr << r.error().message << "\n";
            return 1;
        }
        const auto withValues = std::ranges::count_if(
            graph->values, [](const kpu::ir::Value& v) { return !v.data.empty(); });
        if (withValues > 0)
            std::cerr << emitDfg << ": warning: " << withValues
                      << " constants are written with their shapes only (.dfg carries no "
                         "values); the .kpu object keeps them\n";
    }
    std::optional<kpu::dfx::Dataflow> forced;
    for (kpu::dfx::Dataflow d : kpu::compiler::kGemmDataflows)
        if (dataflow == kpu::compiler::dataflowShortName(d))
            forced = d;
    const kpu::compiler::CompileOptions options{.target = *config,
                                                .batch = batch,
                                                .fuse = !noFuse,
                                                .dataflow = forced,
                                                .explicitOps = explicitOps};
    auto result = search ? searchAndReport(*graph, input, options,
                                           {.objective = *kpu::compiler::parseObjective(objective),
                                            .budget = budget,
                                            .timeLimitSeconds = timeLimitOption->count() > 0
                                                                    ? std::optional(timeLimit)
                                                                    : std::nullopt})
                         : kpu::compiler::compileGraph(std::move(*graph), input, options);
    if (!result) {
        std::cerr << result.error().message << "\n";
        return 1;
    }
    if (emitDfx)
        std::cout << kpu::dfx::disassembleText(*kpu::dfx::GetProgram(result->object.data()), {});
    if (output.empty()) {
        const auto dot = input.find_last_of('.');
        const auto slash = input.find_last_of('/');
        const std::string stem =
            input.substr(slash == std::string::npos ? 0 : slash + 1,
                         dot == std::string::npos || (slash != std::string::npos && dot < slash)
                             ? std::string::npos
                             : dot - (slash == std::string::npos ? 0 : slash + 1));
        output = stem + ".kpu";
    }
    if (auto r = kpu::writeBinaryFile(output, result->object); !r) {
        std::cerr << r.error().message << "\n";
        return 1;
    }
    return 0;
}
