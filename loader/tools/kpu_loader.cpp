// kpu-loader: verify a DFX object, bind it to a KPU configuration, and simulate it.
#include <algorithm>
#include <iostream>
#include <map>
#include <thread>

#include <CLI/CLI.hpp>

#include "kpu/common/file_io.h"
#include "kpu/loader/binder.h"
#include "kpu/loader/loader.h"
#include "kpu/loader/trace.h"

namespace {

// "NAME=path" pairs from repeated options.
kpu::Expected<std::map<std::string, std::string>> namedFiles(const std::vector<std::string>& specs,
                                                             const char* option) {
    std::map<std::string, std::string> files;
    for (const std::string& spec : specs) {
        const auto eq = spec.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
            return kpu::fail("kpu-loader: error: {} '{}': expected NAME=file.npy", option, spec);
        files[spec.substr(0, eq)] = spec.substr(eq + 1);
    }
    return files;
}

struct Options {
    std::string objectPath, configPath, tracePath;
    std::vector<std::string> inputSpecs, outputSpecs;
    std::uint64_t seed = 1;
    bool verify = true, dryRun = false, json = false, profile = false, timingOnly = false;
    bool copyMoves = false;
    unsigned threads = std::max(1u, std::thread::hardware_concurrency());
};

int run(const Options& o) {
    auto report = [](const kpu::Error& e) {
        std::cerr << e.message << "\n";
        return 1;
    };
    auto config = o.configPath.empty() ? kpu::Expected<kpu::KpuConfig>(kpu::defaultConfig())
                                       : kpu::loadConfigFile(o.configPath);
    if (!config)
        return report(config.error());
    auto inputFiles = namedFiles(o.inputSpecs, "--input");
    if (!inputFiles)
        return report(inputFiles.error());
    auto outputFiles = namedFiles(o.outputSpecs, "--output");
    if (!outputFiles)
        return report(outputFiles.error());
    auto object = kpu::loader::loadObject(o.objectPath);
    if (!object)
        return report(object.error());
    auto schedule = kpu::loader::bindProgram(*object->program, *config, o.objectPath);
    if (!schedule)
        return report(schedule.error());
    if (o.dryRun) {
        std::cout << kpu::loader::formatSchedule(*object->program, *schedule, *config);
        return 0;
    }
    if (auto r = kpu::loader::checkOutputNames(*object->program, *outputFiles); !r)
        return report(r.error());
    // A timing-only run needs no values: its cycles do not depend on them.
    auto inputs = o.timingOnly ? kpu::Expected<std::vector<kpu::loader::HostTensor>>(
                                     std::vector<kpu::loader::HostTensor>{})
                               : kpu::loader::prepareInputs(*object->program, *inputFiles, o.seed);
    if (!inputs)
        return report(inputs.error());
    // The per-op timeline costs 24 bytes per bound op: recorded only when something reads it.
    const kpu::sim::RunOptions runOptions{.functional = !o.timingOnly,
                                          .recordTimeline = o.profile || !o.tracePath.empty(),
                                          .copyMoves = o.copyMoves,
                                          .threads = o.threads};
    auto result = kpu::loader::simulate(*object->program, *schedule, *config, *inputs, runOptions);
    if (!result)
        return report(result.error());
    if (auto r = kpu::loader::writeOutputs(*object->program, *inputs, *result, *outputFiles); !r)
        return report(r.error());
    if (!o.tracePath.empty()) {
        const std::string trace =
            kpu::loader::chromeTrace(*object, *config, *schedule, result->stats);
        if (auto r = kpu::writeTextFile(o.tracePath, trace); !r)
            return report(r.error());
    }
    std::vector<kpu::loader::Comparison> comparisons;
    if (o.verify && !o.timingOnly) {
        auto checked = kpu::loader::verifyOutputs(*object->program, *inputs, *result, o.objectPath);
        if (!checked)
            return report(checked.error());
        comparisons = std::move(*checked);
    }
    const kpu::loader::ReportOptions reportOptions{.profile = o.profile};
    std::cout << (o.json ? kpu::loader::reportJson(*object, *config, *schedule, *result,
                                                   comparisons, reportOptions)
                         : kpu::loader::formatReport(*object, *config, *schedule, *result,
                                                     comparisons, reportOptions));
    for (const auto& c : comparisons) {
        if (!c.firstMismatch)
            continue;
        const auto& m = *c.firstMismatch;
        std::cerr << fmt::format(
            "{}: error: output '{}' differs from the reference at index [{}]: expected {}, got "
            "{} (tolerance {:.3g})\n",
            o.objectPath, c.tensor, fmt::join(m.index, ","), m.expected, m.actual, m.tolerance);
        return 1;
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"kpu-loader: verify a DFX object, bind it to a KPU configuration and simulate it"};
    app.set_version_flag("--version", std::string("kpu-loader ") + KPU_VERSION);
    Options o;
    app.add_option("object", o.objectPath, "DFX object (.kpu) to run")->required();
    app.add_option("--config", o.configPath,
                   "KPU configuration (JSON); default: the embedded default KPU");
    app.add_option("--input", o.inputSpecs,
                   "NAME=file.npy: values of an input or constant tensor (repeatable)");
    app.add_option("--output", o.outputSpecs,
                   "NAME=file.npy: write a tensor after the run (repeatable)");
    app.add_option("--seed", o.seed, "seed of the random values of inputs not given with --input")
        ->capture_default_str();
    app.add_flag("--verify,!--no-verify", o.verify,
                 "compare every kernel's output with the reference executor (default; the last of "
                 "--verify/--no-verify wins)");
    auto* dryRunFlag =
        app.add_flag("--dry-run", o.dryRun, "print the bound schedule and exit without simulating");
    app.add_flag("--json", o.json, "print the report as JSON");
    app.add_flag("--profile", o.profile,
                 "append a per-kernel profile to the report (\"kernels\" with --json)");
    app.add_option("--trace", o.tracePath,
                   "write the run's timeline as a Chrome Trace Event file (Perfetto, "
                   "chrome://tracing)");
    auto* timingOnlyFlag = app.add_flag(
        "--timing-only", o.timingOnly,
        "simulate the timing only: no arithmetic, no data copies, no verification; the same "
        "cycles and report as a full run");
    app.add_option("--threads", o.threads,
                   "host threads for the functional simulation (default: all cores); results, "
                   "cycles and traces do not depend on it")
        ->check(CLI::Range(1u, 1024u))
        ->default_str("all cores");
    app.add_flag("--copy-moves", o.copyMoves,
                 "copy every move's bytes through the simulated memories, as the hardware does "
                 "(default: loads of inputs and constants are read in place; the same results)");
    for (const char* option : {"--input", "--output", "--seed", "--json", "--profile", "--trace"})
        app.get_option(option)->excludes(dryRunFlag);
    for (const char* option : {"--input", "--output", "--seed"})
        app.get_option(option)->excludes(timingOnlyFlag);
    timingOnlyFlag->excludes(dryRunFlag);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help and --version exit 0; usage errors exit 2, as command-line tools conventionally
        // do.
        return app.exit(e) == 0 ? 0 : 2;
    }
    return run(o);
}
