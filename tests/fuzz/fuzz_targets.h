// One entry point per reader of untrusted input (docs/fuzzing.md). Each takes arbitrary bytes,
// runs the reader and, when the reader accepts them, everything downstream a user's command
// would run; it returns normally whether the input was accepted or refused. A crash, a sanitizer
// report, a hang or a broken invariant (checked with `require`, which aborts) is a finding.
//
// The libFuzzer executables (libfuzzer_main.cpp, built with -DKPU_FUZZ=ON) call these, and so
// does the regression suite (regression_test.cpp), which replays every input in regressions/
// in the ordinary build.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace kpu::fuzz {

using Bytes = std::span<const std::uint8_t>;

// A .dfg text: parse, build the graph, compile it; a compiled object must pass the verifier.
void dfg(Bytes input);
// A .kpu object: verify (and expand), bind to a small configuration, simulate and run the
// reference executor when the work is small (at most kMaxFuzzMacs multiply-accumulates).
void object(Bytes input);
// A hardware configuration, JSON or YAML: parse and validate; an accepted configuration must
// survive a round trip through configToJson unchanged.
void configJson(Bytes input);
void configYaml(Bytes input);
// A .npy file: parse; an accepted array must survive serializeNpy unchanged.
void npy(Bytes input);
// An ONNX model: import, compile; a compiled object must pass the verifier.
void onnxModel(Bytes input);
// A serialized ONNX TensorProto (.pb): parse and decode (external data against an empty folder).
void tensorProto(Bytes input);

struct Target {
    std::string_view name; // the executable is fuzz-<name>, the regressions folder <name>
    void (*run)(Bytes);
};

inline constexpr Target kTargets[] = {
    {"dfg", dfg}, {"object", object},  {"config-json", configJson},  {"config-yaml", configYaml},
    {"npy", npy}, {"onnx", onnxModel}, {"tensorproto", tensorProto},
};

} // namespace kpu::fuzz
