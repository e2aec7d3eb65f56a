// The ONNX frontend: an ONNX model (.onnx, a serialized ModelProto) -> the graph IR the .dfg
// reader also produces, so everything downstream is shared. docs/onnx.md lists the operators,
// how NCHW layouts meet the IR's NHWC window operators, and how constants travel.
//
// In short:
//  - graph inputs (those without an initializer) become FUNCTION_ARGUMENTs, in order; dims
//    without a value (dim_param or missing) take `batch`;
//  - initializers and Constant nodes are compile-time values: used as data they become CONSTANT
//    values carrying their bytes (ir::Value::data, stored in the object); operators that need a
//    value at compile time (a Reshape's shape, Pad's pads, Clip's bounds, reduction axes) read
//    them directly;
//  - a graph input such an operator needs must be fixed with OnnxImportOptions::staticInputs
//    (kpu-kernel-compiler --const NAME=FILE); it becomes an ir::StaticInput;
//  - every ONNX node becomes one or more IR operations (Conv: NCHW->NHWC transposes around a
//    CONV2D, weights re-laid out at compile time; LogSoftmax: six vector operations; ...);
//    a Conv followed by an inference BatchNormalization with constant parameters is folded, and
//    the exporters' erf form of GELU becomes one GELU.
// Errors read "<file>: error: node <index> '<name>' (<op_type>): <what>", naming the attribute
// or input that is not supported.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "kpu/common/error.h"
#include "kpu/common/onnx_tensor.h"
#include "kpu/compiler/graph.h"

namespace kpu::ir {

struct OnnxImportOptions {
    std::int64_t batch = 1; // value of every dimension the model leaves unknown
    // Values for graph inputs that operators need at compile time (by input name).
    std::map<std::string, onnx_io::TensorValue> staticInputs;
};

Expected<Graph> importOnnxFile(const std::string& path, const OnnxImportOptions& options = {});

// The same for a serialized ModelProto in memory; `sourceName` stands for the file in messages
// and external data is resolved against its folder.
Expected<Graph> importOnnxBytes(std::span<const std::uint8_t> bytes, const std::string& sourceName,
                                const OnnxImportOptions& options = {});

// The graph inputs of the model at `path` that some operator needs at compile time (they must
// be given in OnnxImportOptions::staticInputs), in input order.
Expected<std::vector<std::string>> onnxStaticInputNames(const std::string& path);

// The operator types (op_type, default domain) the importer translates, sorted.
std::vector<std::string> supportedOnnxOperators();

} // namespace kpu::ir
