// ONNX TensorProto values: the .pb files of the ONNX test data (kpu-loader --input / --expect)
// and the initializers inside a model. docs/onnx.md describes how they are used.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kpu/common/dtype.h"
#include "kpu/common/error.h"
#include "kpu/common/shape.h"

namespace onnx {
class TensorProto;
}

namespace kpu::onnx_io {

struct TensorValue {
    std::string name; // as stored in the proto; may be empty
    DType dtype = DType::F32;
    Shape shape;                    // rank 0 = scalar
    std::vector<std::uint8_t> data; // dense row-major, little-endian, elements x dtypeSize
};

// The ONNX spelling of a TensorProto.DataType value ("FLOAT", "INT64", ...; "type 99" for an
// unknown value).
std::string spellOnnxType(int elemType);

// The DType of an ONNX element type: FLOAT, FLOAT16, DOUBLE, FLOAT8E4M3FN (17, ONNX 1.14; not
// named by older headers), INT8, INT32, INT64. Anything else (BOOL, UINT8, STRING, BFLOAT16,
// ...) is an error naming the type.
Expected<DType> dtypeOfOnnxType(int elemType);

// Decodes a TensorProto: raw_data, or the typed fields (float_data, double_data, int32_data for
// FLOAT16 bit patterns / FLOAT8 bytes / INT8 / INT32, each value range-checked, int64_data), or
// external data (data_location EXTERNAL: the file named by the "location" entry, relative to
// `baseDir` and inside it, at "offset" for "length" bytes, both optional and bounds-checked).
// No dims: a scalar (rank 0). The element count must match the dims exactly. Errors (never
// crashes) for: negative dims, a dim of 0 (every dimension of a KPU tensor is at least 1),
// dims whose product overflows, a data size that does not match, two data fields at once,
// segmented tensors, unsupported types. Errors read "<where>: error: tensor '<name>': <what>"
// ("unnamed tensor" when the proto has no name).
Expected<TensorValue> decodeTensor(const onnx::TensorProto& proto,
                                   const std::filesystem::path& baseDir, std::string_view where);

// Parses a serialized TensorProto (at most 2 GiB) and decodes it; external data is resolved
// against `baseDir`. `sourceName` prefixes errors.
Expected<TensorValue> parseTensorProto(std::span<const std::uint8_t> bytes,
                                       const std::filesystem::path& baseDir,
                                       std::string_view sourceName);

// Reads a serialized TensorProto file (e.g. test_data_set_0/input_0.pb); external data is
// resolved against the file's folder. Errors name the file: not a regular readable file, not a
// TensorProto (protobuf parsing fails, or no data_type), or decodeTensor's errors.
Expected<TensorValue> readTensorFile(const std::string& path);

// A value file for --input / --expect / --const: a .npy array when the file starts with the
// .npy magic (or is named *.npy, to get the .npy reader's error), else an ONNX TensorProto.
// A .npy value has no name.
Expected<TensorValue> readValueFile(const std::string& path);

// Writes `value` as a serialized TensorProto (raw_data) with its name (none when empty). The
// data must be exactly elements x dtypeSize bytes and every dim at least 1.
Expected<void> writeTensorFile(const std::string& path, const TensorValue& value);

} // namespace kpu::onnx_io
