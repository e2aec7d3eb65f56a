// kpu-loader: verify a DFX object, bind it to a KPU configuration, and simulate it.
#include <iostream>
#include <map>

#include <CLI/CLI.hpp>

#include "kpu/loader/binder.h"
#include "kpu/loader/loader.h"

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

int run(const std::string& objectPath, const std::string& configPath,
        const std::vector<std::string>& inputSpecs, const std::vector<std::string>& outputSpecs,
        std::uint64_t seed, bool verify, bool dryRun, bool json) {
    auto report = [](const kpu::Error& e) {
        std::cerr << e.message << "\n";
        return 1;
    };
    auto config = configPath.empty() ? kpu::Expected<kpu::KpuConfig>(kpu::defaultConfig())
                                     : kpu::loadConfigFile(configPath);
    if (!config)
        return report(config.error());
    auto inputFiles = namedFiles(inputSpecs, "--input");
    if (!inputFiles)
        return report(inputFiles.error());
    auto outputFiles = namedFiles(outputSpecs, "--output");
    if (!outputFiles)
        return report(outputFiles.error());
    auto object = kpu::loader::loadObject(objectPath);
    if (!object)
        return report(object.error());
    auto schedule = kpu::loader::bindProgram(*object->program, *config, objectPath);
    if (!schedule)
        return report(schedule.error());
    if (dryRun) {
        std::cout << kpu::loader::formatSchedule(*object->program, *schedule, *config);
        return 0;
    }
    if (auto r = kpu::loader::checkOutputNames(*object->program, *outputFiles); !r)
        return report(r.error());
    auto inputs = kpu::loader::prepareInputs(*object->program, *inputFiles, seed);
    if (!inputs)
        return report(inputs.error());
    auto result = kpu::loader::simulate(*object->program, *schedule, *config, *inputs);
    if (!result)
        return report(result.error());
    if (auto r = kpu::loader::writeOutputs(*object->program, *result, *outputFiles); !r)
        return report(r.error());
    std::vector<kpu::loader::Comparison> comparisons;
    if (verify) {
        auto checked = kpu::loader::verifyOutputs(*object->program, *inputs, *result, objectPath);
        if (!checked)
            return report(checked.error());
        comparisons = std::move(*checked);
    }
    std::cout << (json ? kpu::loader::reportJson(*object, *config, *schedule, *result, comparisons)
                       : kpu::loader::formatReport(*object, *config, *schedule, *result,
                                                   comparisons));
    for (const auto& c : comparisons) {
        if (!c.firstMismatch)
            continue;
        const auto& m = *c.firstMismatch;
        std::cerr << fmt::format(
            "{}: error: output '{}' differs from the reference at index [{}]: expected {}, got "
            "{} (tolerance {:.3g})\n",
            objectPath, c.tensor, fmt::join(m.index, ","), m.expected, m.actual, m.tolerance);
        return 1;
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"kpu-loader: verify a DFX object, bind it to a KPU configuration and simulate it"};
    app.set_version_flag("--version", std::string("kpu-loader ") + KPU_VERSION);
    std::string objectPath, configPath;
    std::vector<std::string> inputs, outputs;
    std::uint64_t seed = 1;
    bool verify = true, dryRun = false, json = false;
    app.add_option("object", objectPath, "DFX object (.kpu) to run")->required();
    app.add_option("--config", configPath,
                   "KPU configuration (JSON); default: the embedded default KPU");
    app.add_option("--input", inputs,
                   "NAME=file.npy: values of an input or constant tensor (repeatable)");
    app.add_option("--output", outputs, "NAME=file.npy: write a tensor after the run (repeatable)");
    app.add_option("--seed", seed, "seed of the random values of inputs not given with --input")
        ->capture_default_str();
    app.add_flag("--verify,!--no-verify", verify,
                 "compare every kernel's output with the reference executor (default; the last of "
                 "--verify/--no-verify wins)");
    auto* dryRunFlag =
        app.add_flag("--dry-run", dryRun, "print the bound schedule and exit without simulating");
    app.add_flag("--json", json, "print the report as JSON")->excludes(dryRunFlag);
    for (const char* option : {"--input", "--output", "--seed"})
        app.get_option(option)->excludes(dryRunFlag);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help and --version exit 0; usage errors exit 2, as command-line tools conventionally
        // do.
        return app.exit(e) == 0 ? 0 : 2;
    }
    return run(objectPath, configPath, inputs, outputs, seed, verify, dryRun, json);
}
