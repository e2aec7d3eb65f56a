// Values given on kpu-loader's command line (--input, --expect): .npy files and ONNX TensorProto
// (.pb) files, bound to the program the way ONNX test runners bind a test_data_set_N folder,
// and the comparison of an output with an expected value. docs/cli.md states the rules.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kpu/common/error.h"
#include "kpu/loader/host_tensor.h"
#include "kpu/schema/object.h"

namespace kpu::loader {

struct LoadedObject; // loader.h

// Reads a value file by its content, whatever its extension: .npy (magic "\x93NUMPY") or a
// serialized ONNX TensorProto. The result's `name` is the name stored in a TensorProto (may be
// empty); empty for .npy. Errors name the file.
Expected<HostTensor> readValueFile(const std::string& path);

// Writes a tensor as a TensorProto named after the tensor when `path` ends in ".pb", else as
// .npy.
Expected<void> writeValueFile(const std::string& path, const HostTensor& tensor);

// One --input / --expect argument, read.
struct ValueArg {
    std::string name; // NAME of "NAME=FILE"; empty for a bare "FILE"
    std::string path;
    HostTensor value; // as read: value.name is the name stored in a TensorProto, or empty
};

// Splits "NAME=FILE" at its first '=' (no '=': a bare FILE; a path containing '=' therefore
// needs NAME=) and reads the file. `option` ("--input") names the option in messages.
Expected<ValueArg> readValueArg(std::string_view spec, std::string_view option);

// One input of the source graph, in the source's order.
struct SourceInput {
    std::string name;
    std::optional<std::uint32_t> tensor;      // an Input tensor of the program, or
    std::optional<std::uint32_t> staticInput; // an index into Program.static_inputs
};

// The source graph's inputs in order: Program.graph_inputs merged with Program.static_inputs
// at their `position`. Objects without graph_inputs (before format 4.0): the Input tensors in
// tensor order (static inputs still merged at their positions).
std::vector<SourceInput> sourceInputs(const dfx::Program& program);
// The source graph's outputs in order: Program.graph_outputs, or the Output tensors in tensor
// order.
std::vector<std::uint32_t> sourceOutputs(const dfx::Program& program);

// Binds --input arguments, as ONNX test runners do:
//  - NAME=FILE binds to the Input or Constant tensor NAME, or to the static input NAME;
//  - a bare FILE binds by the name stored in its TensorProto when that name is an Input or
//    Constant tensor or a static input;
//  - any other bare FILE binds positionally, in command-line order, to the next source input
//    (sourceInputs) that nothing bound by name. Named bindings are made first.
// Binding one target twice is an error. A value for a static input is not bound: it must be
// the value the program was compiled for (same dtype, shape and bytes). Every bound value is
// conformed to its tensor (conformToTensor). Returns tensor name -> value, for prepareInputs.
Expected<std::map<std::string, HostTensor>> bindInputs(const dfx::Program& program,
                                                       std::vector<ValueArg> args);
// The same for a loaded object: the graph order and the static inputs come from the object as
// stored (LoadedObject::stored), whatever its expansion carries.
Expected<std::map<std::string, HostTensor>> bindInputs(const LoadedObject& object,
                                                       std::vector<ValueArg> args);

// An --expect value bound to a tensor: `value` has the tensor's shape, in its own dtype (the
// comparison reads both in double, so an f64 reference keeps its precision).
struct ExpectedValue {
    std::uint32_t tensor = 0;
    std::string path;
    HostTensor value;
};

// Binds --expect arguments: NAME=FILE to tensor NAME, a bare FILE by its stored name when that
// is a tensor of the program, otherwise positionally to the next source output (sourceOutputs)
// not bound by name. The tensor must reach external memory (not an on-chip or fused
// intermediate), its shape must match and its dtype be compatible (conformToTensor's rules).
Expected<std::vector<ExpectedValue>> bindExpected(const dfx::Program& program,
                                                  std::vector<ValueArg> args);
// The same for a loaded object: the graph order from the object as stored, which tensors reach
// external memory from the program that runs (LoadedObject::program, every op explicit).
Expected<std::vector<ExpectedValue>> bindExpected(const LoadedObject& object,
                                                  std::vector<ValueArg> args);

// Checks `value` against `tensor` and converts it to the tensor's dtype. Shapes must be equal,
// except that a scalar (rank 0) and a one-element tensor are the same value. Same dtype: the
// bytes are taken as they are. Floating-point values for a tensor of another floating-point
// type (f64 <-> f32 <-> f16) are converted through f64, rounding to nearest even: a reference
// stored in double binds to an f32 model. f8 E4M3 values (also '|u1' .npy files, read as raw
// f8 bytes) bind to f8 tensors only, and integers are never converted to or from floating
// point. Errors read "<where>: error: <what> '<tensor>' ...", `what` being "input" or "expected
// value".
Expected<HostTensor> conformToTensor(const dfx::Tensor& tensor, HostTensor value,
                                     std::string_view where, std::string_view what = "input");

// Tolerance of --expect: element i matches when |a - e| <= atol + rtol * |e| (numpy's
// allclose). The defaults: rtol 1e-3 is what the ONNX backend tests use; our kernels compute in
// fp32 with another summation order (tiles, K split across passes, fused epilogues) than the
// ONNX reference, so results differ in the last bits of fp32 relative to the magnitude of the
// summed terms, which for long reductions reaches 1e-4..1e-3 of the result. atol 1e-5 admits
// results near zero from cancelling sums, whose absolute error scales with the terms, not with
// the (tiny) result. f16/f8 outputs need a larger --rtol (f16 epsilon is about 1e-3).
struct Tolerance {
    double rtol = 1e-3;
    double atol = 1e-5;
};

struct ExpectMismatch {
    std::uint64_t flatIndex = 0;
    std::vector<std::int64_t> index;
    double expected = 0, actual = 0;
};

struct ExpectComparison {
    std::string tensor;
    std::string path; // the expected file
    std::uint64_t elements = 0;
    double maxAbsError = 0; // max |a - e| over the elements (infinite for a NaN or infinity
                            // that does not match)
    double maxRelError = 0; // max |a - e| / |e| over the elements with e != 0 (likewise)
    std::uint64_t mismatches = 0;
    std::optional<ExpectMismatch> firstMismatch; // in row-major order
    Tolerance tolerance;

    bool pass() const { return mismatches == 0; }
};

// Compares an output with its expected value elementwise (both read as double): NaN matches NaN,
// an infinity matches the same infinity; anything else non-finite mismatches. The shapes must
// have the same element count (bindExpected made sure of it).
ExpectComparison compareWithExpected(const HostTensor& actual, const HostTensor& expected,
                                     const Tolerance& tolerance = {});

// "Cout: max abs error 1.2e-07, max rel error 3.4e-06, 0 of 16 elements differ (rtol 0.001,
// atol 1e-05): PASS", the report's line per expected output.
std::string formatExpectLine(const ExpectComparison& c);

} // namespace kpu::loader
