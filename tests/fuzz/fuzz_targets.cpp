#include "fuzz/fuzz_targets.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "kpu/common/hw_config.h"
#include "kpu/common/npy.h"
#include "kpu/common/onnx_tensor.h"
#include "kpu/compiler/compiler.h"
#include "kpu/loader/binder.h"
#include "kpu/loader/loader.h"
#include "kpu/loader/verifier.h"

namespace kpu::fuzz {
namespace {

// Work bounds that keep one input to milliseconds: bigger (valid) programs are bound but not
// simulated; the binder and verifier still see them.
constexpr std::size_t kMaxFuzzBoundOps = 100'000;
constexpr std::uint64_t kMaxFuzzMacs = std::uint64_t{1} << 22;
// The loader's host-memory limit for a program's ops (expansion, then binding), as kpu-loader
// has one: objects that describe millions of ops are refused by it, not run out of memory.
constexpr std::uint64_t kOpsMemoryLimit = std::uint64_t{64} << 20;

// A broken invariant: the reader accepted the input, and what it produced is wrong.
[[noreturn]] void invariantBroken(std::string_view what, std::string_view detail) {
    std::fprintf(stderr, "fuzz invariant broken: %.*s\n%.*s\n", static_cast<int>(what.size()),
                 what.data(), static_cast<int>(detail.size()), detail.data());
    std::abort();
}

std::string_view asText(Bytes input) {
    return {reinterpret_cast<const char*>(input.data()), input.size()};
}

// The embedded default with 2 x 16 MiB of external memory: what a fuzzed object may make the
// simulator touch stays small, and objects that do not fit exercise the binder's refusals.
KpuConfig fuzzConfig() {
    KpuConfig config = defaultConfig();
    config.name = "fuzz";
    config.external.bankCapacity = 16ull << 20;
    return config;
}

// A compiled object must be one the loader accepts.
void requireVerifies(const compiler::CompileResult& compiled, std::string_view source) {
    auto verified = loader::verifyObject(compiled.object, source);
    if (!verified)
        invariantBroken("the compiler wrote an object the verifier refuses",
                        verified.error().message);
}

void compileAndVerify(Expected<ir::Graph> graph, const std::string& source) {
    if (!graph)
        return;
    compiler::CompileOptions options;
    options.explicitOps = false; // what kpu-kernel-compiler writes
    auto compiled = compiler::compileGraph(std::move(*graph), source, options);
    if (compiled)
        requireVerifies(*compiled, source);
}

} // namespace

void dfg(Bytes input) {
    compileAndVerify(compiler::parseDfgGraph(asText(input), "fuzz.dfg", 1), "fuzz.dfg");
}

void onnxModel(Bytes input) {
    compileAndVerify(compiler::parseOnnxGraph(input, "fuzz.onnx", {}), "fuzz.onnx");
}

void object(Bytes input) {
    auto loaded =
        loader::loadObjectBytes({input.begin(), input.end()}, "fuzz.kpu", kOpsMemoryLimit);
    if (!loaded)
        return;
    const KpuConfig config = fuzzConfig();
    auto schedule = loader::bindProgram(
        *loaded->program, config, loaded->path,
        kOpsMemoryLimit - std::min<std::uint64_t>(loaded->expanded.size(), kOpsMemoryLimit));
    if (!schedule || schedule->ops.size() > kMaxFuzzBoundOps)
        return;
    auto inputs = loader::prepareInputs(*loaded->program, {}, 1, loaded->path);
    if (!inputs)
        return;
    auto timing =
        loader::simulate(*loaded->program, *schedule, config, *inputs, {.functional = false});
    if (!timing || timing->stats.macs > kMaxFuzzMacs)
        return;
    auto result = loader::simulate(*loaded->program, *schedule, config, *inputs, {});
    if (!result)
        return;
    if (result->stats.totalCycles != timing->stats.totalCycles)
        invariantBroken(
            "functional and timing-only runs disagree on cycles",
            fmt::format("{} against {}", result->stats.totalCycles, timing->stats.totalCycles));
    (void)loader::verifyOutputs(*loaded->program, *inputs, *result, loaded->path);
}

namespace {

void configRoundTrip(Expected<KpuConfig> config) {
    if (!config)
        return;
    if (auto valid = validateConfig(*config); !valid)
        invariantBroken("the reader accepted a configuration validateConfig refuses",
                        valid.error().message);
    const std::string json = configToJson(*config);
    auto again = parseConfigJson(json, config->source);
    if (!again)
        invariantBroken("configToJson wrote JSON the reader refuses", again.error().message);
    if (configToJson(*again) != json)
        invariantBroken("a configuration changed in a JSON round trip", json);
}

} // namespace

void configJson(Bytes input) {
    configRoundTrip(parseConfigJson(asText(input), "fuzz.json"));
}

void configYaml(Bytes input) {
    configRoundTrip(parseConfigYaml(asText(input), "fuzz.yaml"));
}

void npy(Bytes input) {
    auto array = parseNpy(input, "fuzz.npy");
    if (!array)
        return;
    const std::vector<std::uint8_t> written = serializeNpy(*array);
    auto again = parseNpy(written, "fuzz.npy (rewritten)");
    if (!again)
        invariantBroken("serializeNpy wrote bytes parseNpy refuses", again.error().message);
    if (again->dtype != array->dtype || again->shape != array->shape || again->data != array->data)
        invariantBroken("an array changed in a .npy round trip", "");
}

void tensorProto(Bytes input) {
    // External data may only be read from inside this folder, which has no files.
    static const std::filesystem::path kNoFiles = [] {
        std::filesystem::path dir = std::filesystem::temp_directory_path() / "kpu-fuzz-empty";
        std::filesystem::create_directories(dir);
        return dir;
    }();
    auto value = onnx_io::parseTensorProto(input, kNoFiles, "fuzz.pb");
    if (!value)
        return;
    const auto bytes = byteSize(value->shape, dtypeSize(value->dtype));
    if (!bytes || *bytes != value->data.size())
        invariantBroken("a decoded tensor's data does not match its shape", value->name);
}

} // namespace kpu::fuzz
