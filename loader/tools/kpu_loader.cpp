// kpu-loader: verify a DFX object, bind it to a KPU configuration, and simulate it.
#include <algorithm>
#include <iostream>
#include <map>
#include <optional>
#include <thread>

#include <CLI/CLI.hpp>

#include "kpu/common/file_io.h"
#include "kpu/loader/binder.h"
#include "kpu/loader/io_binding.h"
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
            return kpu::fail("kpu-loader: error: {} '{}': expected NAME=file.npy or NAME=file.pb",
                             option, spec);
        files[spec.substr(0, eq)] = spec.substr(eq + 1);
    }
    return files;
}

// Reads the files of repeated "[NAME=]FILE" options.
kpu::Expected<std::vector<kpu::loader::ValueArg>>
readValueArgs(const std::vector<std::string>& specs, std::string_view option) {
    std::vector<kpu::loader::ValueArg> args;
    for (const std::string& spec : specs) {
        auto arg = kpu::loader::readValueArg(spec, option);
        if (!arg)
            return std::unexpected(arg.error());
        args.push_back(std::move(*arg));
    }
    return args;
}

struct Options {
    std::string objectPath, configPath, tracePath;
    std::vector<std::string> inputSpecs, outputSpecs, expectSpecs;
    kpu::loader::Tolerance tolerance;
    std::uint64_t seed = 1;
    bool verify = true, dryRun = false, json = false, profile = false, timingOnly = false;
    bool copyMoves = false;
    std::optional<std::uint64_t> maxHostMemory; // bytes; default: MemAvailable
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
    auto outputFiles = namedFiles(o.outputSpecs, "--output");
    if (!outputFiles)
        return report(outputFiles.error());
    auto inputArgs = readValueArgs(o.inputSpecs, "--input");
    if (!inputArgs)
        return report(inputArgs.error());
    auto expectArgs = readValueArgs(o.expectSpecs, "--expect");
    if (!expectArgs)
        return report(expectArgs.error());
    // What this run may spend of the host's memory (host_memory.h): the expansion, the bound
    // schedule and a functional run's values, each refused past what the earlier steps left.
    std::uint64_t hostMemoryLeft = o.maxHostMemory.value_or(
        kpu::loader::availableHostMemory().value_or(kpu::loader::kNoHostMemoryLimit));
    auto spend = [&](std::uint64_t bytes) { hostMemoryLeft -= std::min(hostMemoryLeft, bytes); };
    auto object = kpu::loader::loadObject(o.objectPath, hostMemoryLeft);
    if (!object)
        return report(object.error());
    spend(object->expanded.size());
    auto schedule =
        kpu::loader::bindProgram(*object->program, *config, o.objectPath, hostMemoryLeft);
    if (!schedule)
        return report(schedule.error());
    spend(schedule->hostBytes());
    if (o.dryRun) {
        std::cout << kpu::loader::formatSchedule(*object->program, *schedule, *config);
        return 0;
    }
    if (auto r = kpu::loader::checkOutputNames(*object->program, *outputFiles); !r)
        return report(r.error());
    // --input and --expect values are bound before anything runs.
    auto inputValues = kpu::loader::bindInputs(*object, std::move(*inputArgs));
    if (!inputValues)
        return report(inputValues.error());
    auto expected = kpu::loader::bindExpected(*object, std::move(*expectArgs));
    if (!expected)
        return report(expected.error());
    // A functional run holds every tensor in host memory: refuse one that cannot fit before
    // allocating any of it.
    if (!o.timingOnly) {
        const auto need = kpu::loader::hostMemoryNeeded(*object->program, *schedule, o.verify);
        if (auto r = kpu::loader::checkHostMemory(need, hostMemoryLeft, o.objectPath); !r)
            return report(r.error());
    }
    // A timing-only run needs no values: its cycles do not depend on them.
    auto inputs = o.timingOnly ? kpu::Expected<std::vector<kpu::loader::HostTensor>>(
                                     std::vector<kpu::loader::HostTensor>{})
                               : kpu::loader::prepareInputs(*object->program, *inputValues, o.seed,
                                                            o.objectPath);
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
    std::vector<kpu::loader::ExpectComparison> expectations;
    for (kpu::loader::ExpectedValue& e : *expected) {
        // Read-only tensors are not read back: their values are the inputs'.
        const kpu::loader::HostTensor& actual = result->tensors[e.tensor].data.empty()
                                                    ? (*inputs)[e.tensor]
                                                    : result->tensors[e.tensor];
        expectations.push_back(kpu::loader::compareWithExpected(actual, e.value, o.tolerance));
        expectations.back().path = e.path;
    }
    const kpu::loader::ReportOptions reportOptions{.profile = o.profile, .expect = expectations};
    std::cout << (o.json ? kpu::loader::reportJson(*object, *config, *schedule, *result,
                                                   comparisons, reportOptions)
                         : kpu::loader::formatReport(*object, *config, *schedule, *result,
                                                     comparisons, reportOptions));
    int status = 0;
    for (const auto& c : comparisons) {
        if (!c.firstMismatch)
            continue;
        const auto& m = *c.firstMismatch;
        std::cerr << fmt::format(
            "{}: error: output '{}' differs from the reference at index [{}]: expected {}, got "
            "{} (tolerance {:.3g})\n",
            o.objectPath, c.tensor, fmt::join(m.index, ","), m.expected, m.actual, m.tolerance);
        status = 1;
        break;
    }
    for (const auto& c : expectations) {
        if (c.pass())
            continue;
        const auto& m = *c.firstMismatch;
        std::cerr << fmt::format("{}: error: output '{}' differs from the expected values: {} of "
                                 "{} elements out of tolerance (rtol {:g}, atol {:g}); first at "
                                 "[{}]: expected {:.9g}, got {:.9g}\n",
                                 c.path, c.tensor, c.mismatches, c.elements, c.tolerance.rtol,
                                 c.tolerance.atol, fmt::join(m.index, ","), m.expected, m.actual);
        status = 1;
    }
    return status;
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
                   "[NAME=]FILE (.npy or ONNX TensorProto .pb): values of an input or constant "
                   "tensor; without NAME=, by the name stored in the .pb or else by position "
                   "(repeatable)");
    app.add_option("--output", o.outputSpecs,
                   "NAME=FILE: write a tensor after the run, as a TensorProto if FILE ends in .pb, "
                   "else .npy (repeatable)");
    app.add_option("--expect", o.expectSpecs,
                   "[NAME=]FILE (.npy or .pb): expected values of an output, compared after the "
                   "run; without NAME=, by stored name or else by position (repeatable)");
    app.add_option("--rtol", o.tolerance.rtol,
                   "relative tolerance of --expect: |a - e| <= atol + rtol * |e|")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
    app.add_option("--atol", o.tolerance.atol, "absolute tolerance of --expect")
        ->check(CLI::NonNegativeNumber)
        ->capture_default_str();
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
    app.add_option("--max-host-memory", o.maxHostMemory,
                   "the most host memory the run may take for the program's ops (expansion, "
                   "bound schedule) and, in a functional run, its values, e.g. 4GiB or 512MiB; "
                   "default: what the machine has available (MemAvailable)")
        ->transform(CLI::AsSizeValue(false));
    app.add_flag("--copy-moves", o.copyMoves,
                 "copy every move's bytes through the simulated memories, as the hardware does "
                 "(default: loads of inputs and constants are read in place; the same results)");
    for (const char* option : {"--input", "--output", "--expect", "--rtol", "--atol", "--seed",
                               "--json", "--profile", "--trace"})
        app.get_option(option)->excludes(dryRunFlag);
    for (const char* option : {"--input", "--output", "--expect", "--rtol", "--atol", "--seed"})
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
