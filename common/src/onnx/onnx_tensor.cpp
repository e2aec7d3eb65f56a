#include "kpu/common/onnx_tensor.h"

#include <bit>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <system_error>

#include <fmt/ranges.h>
#include <onnx/onnx_pb.h>

#include "kpu/common/file_io.h"
#include "kpu/common/npy.h"
#include "kpu/common/protobuf_diagnostics.h"

namespace kpu::onnx_io {
namespace {

static_assert(std::endian::native == std::endian::little,
              "TensorProto raw_data is little-endian; the decoder copies it as it is");

// FLOAT8E4M3FN (ONNX 1.14): Debian's ONNX 1.12 headers do not name it, but data_type is a
// plain int32 on the wire, so f8 tensors are read and written with their number.
constexpr int kFloat8E4M3FN = 17;

// Protobuf refuses messages of 2 GiB or more; bigger tensors need external data.
constexpr std::uint64_t kMaxProtoBytes = std::numeric_limits<int>::max();

std::string tensorLabel(const onnx::TensorProto& proto) {
    return proto.name().empty() ? std::string("unnamed tensor")
                                : fmt::format("tensor '{}'", proto.name());
}

// "<where>: error: tensor '<name>': <what>"
template <class... Args>
std::unexpected<Error> tensorError(std::string_view where, const onnx::TensorProto& proto,
                                   fmt::format_string<Args...> format, Args&&... args) {
    return fail("{}: error: {}: {}", where, tensorLabel(proto),
                fmt::format(format, std::forward<Args>(args)...));
}

// The typed field a data type stores its values in when raw_data is not used.
enum class TypedField { Float, Double, Int32, Int64 };

TypedField typedFieldOf(DType t) {
    switch (t) {
    case DType::F32:
        return TypedField::Float;
    case DType::F64:
        return TypedField::Double;
    case DType::I64:
        return TypedField::Int64;
    case DType::F16:
    case DType::F8E4M3:
    case DType::I8:
    case DType::I32:
        return TypedField::Int32;
    }
    return TypedField::Int32;
}

std::string_view typedFieldName(TypedField f) {
    switch (f) {
    case TypedField::Float:
        return "float_data";
    case TypedField::Double:
        return "double_data";
    case TypedField::Int32:
        return "int32_data";
    case TypedField::Int64:
        return "int64_data";
    }
    return "?";
}

// The typed fields that hold values (string_data and uint64_data included, which no
// supported type uses), by name.
std::vector<std::pair<std::string_view, int>> typedFieldSizes(const onnx::TensorProto& p) {
    return {{"float_data", p.float_data_size()},   {"double_data", p.double_data_size()},
            {"int32_data", p.int32_data_size()},   {"int64_data", p.int64_data_size()},
            {"uint64_data", p.uint64_data_size()}, {"string_data", p.string_data_size()}};
}

int onnxTypeOf(DType t) {
    switch (t) {
    case DType::F32:
        return onnx::TensorProto::FLOAT;
    case DType::F16:
        return onnx::TensorProto::FLOAT16;
    case DType::F64:
        return onnx::TensorProto::DOUBLE;
    case DType::F8E4M3:
        return kFloat8E4M3FN;
    case DType::I8:
        return onnx::TensorProto::INT8;
    case DType::I32:
        return onnx::TensorProto::INT32;
    case DType::I64:
        return onnx::TensorProto::INT64;
    }
    return onnx::TensorProto::UNDEFINED;
}

// A non-negative decimal integer of an external_data entry ("offset", "length").
std::optional<std::uint64_t> parseSize(const std::string& text) {
    std::uint64_t value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc() || ptr != end || text.empty())
        return std::nullopt;
    return value;
}

// Reads `length` bytes at `offset` of the external data file named by the proto, resolved
// against `baseDir`. The location must stay inside `baseDir` (relative, no ".." component), as
// the ONNX checker requires, so that a model cannot make the loader read arbitrary files.
Expected<std::vector<std::uint8_t>> readExternalData(const onnx::TensorProto& proto,
                                                     const std::filesystem::path& baseDir,
                                                     std::string_view where,
                                                     std::uint64_t expectedBytes) {
    std::optional<std::string> location;
    std::optional<std::uint64_t> offset, length;
    for (const onnx::StringStringEntryProto& entry : proto.external_data()) {
        const std::string& key = entry.key();
        if (key == "location") {
            location = entry.value();
        } else if (key == "offset" || key == "length") {
            const auto value = parseSize(entry.value());
            if (!value)
                return tensorError(where, proto,
                                   "external data {} '{}' is not a non-negative integer", key,
                                   entry.value());
            (key == "offset" ? offset : length) = *value;
        }
        // "checksum" and unknown keys are ignored, as the ONNX runtime does.
    }
    if (!location || location->empty())
        return tensorError(where, proto, "external data without a 'location' entry");
    const std::filesystem::path relative(*location);
    if (relative.is_absolute())
        return tensorError(where, proto,
                           "external data location '{}' is an absolute path; it must be "
                           "relative to the directory of the file that refers to it",
                           *location);
    for (const auto& part : relative)
        if (part == "..")
            return tensorError(where, proto,
                               "external data location '{}' leaves the directory of the file "
                               "that refers to it ('..')",
                               *location);
    const std::filesystem::path file = baseDir / relative;
    std::error_code ec;
    const auto status = std::filesystem::status(file, ec);
    if (ec || !std::filesystem::exists(status))
        return tensorError(where, proto, "external data file '{}' does not exist", file.string());
    if (!std::filesystem::is_regular_file(status))
        return tensorError(where, proto, "external data file '{}' is not a regular file",
                           file.string());
    const std::uint64_t fileSize = std::filesystem::file_size(file, ec);
    if (ec)
        return tensorError(where, proto, "cannot read external data file '{}': {}", file.string(),
                           ec.message());
    const std::uint64_t begin = offset.value_or(0);
    if (begin > fileSize)
        return tensorError(where, proto,
                           "external data offset {} is past the end of '{}' ({} bytes)", begin,
                           file.string(), fileSize);
    const std::uint64_t available = fileSize - begin;
    const std::uint64_t count = length.value_or(available);
    if (count > available)
        return tensorError(where, proto,
                           "external data offset {} + length {} is past the end of '{}' ({} "
                           "bytes)",
                           begin, count, file.string(), fileSize);
    if (count != expectedBytes)
        return tensorError(where, proto,
                           "external data holds {} bytes ({}), the dims and type need {}", count,
                           length ? "its 'length'" : "to the end of the file", expectedBytes);
    std::ifstream in(file, std::ios::binary);
    if (!in)
        return tensorError(where, proto, "cannot open external data file '{}': {}", file.string(),
                           std::strerror(errno));
    std::vector<std::uint8_t> bytes(count);
    in.seekg(static_cast<std::streamoff>(begin));
    in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(count));
    if (!in)
        return tensorError(where, proto, "cannot read {} bytes at offset {} of '{}'", count, begin,
                           file.string());
    return bytes;
}

// Copies the int32_data values of a FLOAT16 / FLOAT8E4M3FN / INT8 / INT32 tensor into the
// dense little-endian layout, checking that each fits the element.
Expected<void> decodeInt32Field(const onnx::TensorProto& proto, DType dtype, std::string_view where,
                                std::vector<std::uint8_t>& out) {
    const auto& values = proto.int32_data();
    std::int64_t lo = std::numeric_limits<std::int32_t>::min(),
                 hi = std::numeric_limits<std::int32_t>::max();
    std::string_view meaning = "an int32";
    switch (dtype) {
    case DType::F16:
        lo = 0, hi = 0xffff, meaning = "a float16 bit pattern (0..65535)";
        break;
    case DType::F8E4M3:
        lo = 0, hi = 0xff, meaning = "a float8 bit pattern (0..255)";
        break;
    case DType::I8:
        lo = -128, hi = 127, meaning = "an int8 (-128..127)";
        break;
    default:
        break;
    }
    const std::uint32_t size = dtypeSize(dtype);
    out.resize(static_cast<std::size_t>(values.size()) * size);
    for (int i = 0; i < values.size(); ++i) {
        const std::int32_t v = values.Get(i);
        if (v < lo || v > hi)
            return tensorError(where, proto, "int32_data[{}] = {} is not {}", i, v, meaning);
        // Little-endian: the low `size` bytes of the value are the element.
        std::memcpy(out.data() + static_cast<std::size_t>(i) * size, &v, size);
    }
    return {};
}

template <class T, class Field>
void copyField(const Field& values, std::vector<std::uint8_t>& out) {
    out.resize(static_cast<std::size_t>(values.size()) * sizeof(T));
    if (values.size() > 0)
        std::memcpy(out.data(), values.data(), out.size());
}

} // namespace

std::string spellOnnxType(int elemType) {
    if (elemType == kFloat8E4M3FN)
        return "FLOAT8E4M3FN";
    if (!onnx::TensorProto::DataType_IsValid(elemType))
        return fmt::format("type {}", elemType);
    return onnx::TensorProto::DataType_Name(static_cast<onnx::TensorProto::DataType>(elemType));
}

Expected<DType> dtypeOfOnnxType(int elemType) {
    switch (elemType) {
    case onnx::TensorProto::FLOAT:
        return DType::F32;
    case onnx::TensorProto::FLOAT16:
        return DType::F16;
    case onnx::TensorProto::DOUBLE:
        return DType::F64;
    case kFloat8E4M3FN:
        return DType::F8E4M3;
    case onnx::TensorProto::INT8:
        return DType::I8;
    case onnx::TensorProto::INT32:
        return DType::I32;
    case onnx::TensorProto::INT64:
        return DType::I64;
    default:
        break;
    }
    if (elemType == onnx::TensorProto::UNDEFINED)
        return fail("element type is UNDEFINED (data_type missing or 0)");
    return fail("element type {} is not supported (supported: FLOAT, FLOAT16, DOUBLE, "
                "FLOAT8E4M3FN, INT8, INT32, INT64)",
                spellOnnxType(elemType));
}

Expected<TensorValue> decodeTensor(const onnx::TensorProto& proto,
                                   const std::filesystem::path& baseDir, std::string_view where) {
    auto dtype = dtypeOfOnnxType(proto.data_type());
    if (!dtype)
        return tensorError(where, proto, "{}", dtype.error().message);
    TensorValue value;
    value.name = proto.name();
    value.dtype = *dtype;

    // Dims: every one >= 1 (our tensors have no empty dimensions), the product within int64.
    value.shape.reserve(static_cast<std::size_t>(proto.dims_size()));
    for (int i = 0; i < proto.dims_size(); ++i) {
        const std::int64_t d = proto.dims(i);
        if (d < 0)
            return tensorError(where, proto, "dims[{}] is negative ({})", i, d);
        if (d == 0)
            return tensorError(where, proto,
                               "dims[{}] is 0: empty tensors are not supported (every dimension "
                               "of a KPU tensor is at least 1)",
                               i);
        value.shape.push_back(d);
    }
    const auto elements = elementCount(value.shape);
    const auto bytes = byteSize(value.shape, dtypeSize(value.dtype));
    if (!elements || !bytes)
        return tensorError(where, proto,
                           "dims [{}] overflow: the element count does not fit in "
                           "64 bits",
                           fmt::join(value.shape, ", "));
    const auto count = static_cast<std::uint64_t>(*elements);
    if (proto.has_segment())
        return tensorError(where, proto,
                           "segmented tensors (the 'segment' field) are not "
                           "supported");

    const auto typedSizes = typedFieldSizes(proto);
    const bool external =
        proto.has_data_location() && proto.data_location() == onnx::TensorProto::EXTERNAL;
    if (external || proto.has_raw_data()) {
        for (const auto& [field, size] : typedSizes)
            if (size > 0)
                return tensorError(where, proto,
                                   "both {} and {} are set; a tensor stores its "
                                   "values in one of them",
                                   external ? "external data" : "raw_data", field);
    }
    if (external) {
        if (proto.has_raw_data())
            return tensorError(where, proto,
                               "both external data and raw_data are set; a tensor stores its "
                               "values in one of them");
        auto data = readExternalData(proto, baseDir, where, *bytes);
        if (!data)
            return std::unexpected(data.error());
        value.data = std::move(*data);
        return value;
    }
    if (proto.has_raw_data()) {
        const std::string& raw = proto.raw_data();
        if (raw.size() != *bytes)
            return tensorError(where, proto,
                               "raw_data holds {} bytes, the dims [{}] and type {} need {} "
                               "({} elements of {} bytes)",
                               raw.size(), fmt::join(value.shape, ", "),
                               spellOnnxType(proto.data_type()), *bytes, count,
                               dtypeSize(value.dtype));
        value.data.assign(raw.begin(), raw.end());
        return value;
    }

    // Typed fields: the one of this type holds exactly `count` values; no other one is set.
    const TypedField field = typedFieldOf(value.dtype);
    for (const auto& [name, size] : typedSizes)
        if (size > 0 && name != typedFieldName(field))
            return tensorError(where, proto, "{} is set, but a {} tensor stores its values in {}",
                               name, spellOnnxType(proto.data_type()), typedFieldName(field));
    std::uint64_t stored = 0;
    switch (field) {
    case TypedField::Float:
        stored = static_cast<std::uint64_t>(proto.float_data_size());
        break;
    case TypedField::Double:
        stored = static_cast<std::uint64_t>(proto.double_data_size());
        break;
    case TypedField::Int32:
        stored = static_cast<std::uint64_t>(proto.int32_data_size());
        break;
    case TypedField::Int64:
        stored = static_cast<std::uint64_t>(proto.int64_data_size());
        break;
    }
    if (stored != count)
        return tensorError(where, proto, "{} holds {} values, the dims [{}] need {}",
                           typedFieldName(field), stored, fmt::join(value.shape, ", "), count);
    switch (field) {
    case TypedField::Float:
        copyField<float>(proto.float_data(), value.data);
        break;
    case TypedField::Double:
        copyField<double>(proto.double_data(), value.data);
        break;
    case TypedField::Int64:
        copyField<std::int64_t>(proto.int64_data(), value.data);
        break;
    case TypedField::Int32:
        if (auto r = decodeInt32Field(proto, value.dtype, where, value.data); !r)
            return std::unexpected(r.error());
        break;
    }
    return value;
}

Expected<TensorValue> readValueFile(const std::string& path) {
    if (auto r = requireRegularFile(path); !r)
        return std::unexpected(r.error());
    constexpr std::uint8_t kNpyMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    std::uint8_t head[sizeof kNpyMagic] = {};
    {
        std::ifstream in(path, std::ios::binary);
        if (!in)
            return fail("{}: error: cannot open file: {}", path, std::strerror(errno));
        in.read(reinterpret_cast<char*>(head), sizeof head);
    }
    // The content decides; a .npy name without the magic gets the .npy reader's error.
    if (std::memcmp(head, kNpyMagic, sizeof kNpyMagic) == 0 || path.ends_with(".npy")) {
        auto array = readNpyFile(path);
        if (!array)
            return std::unexpected(array.error());
        return TensorValue{.name = {},
                           .dtype = array->dtype,
                           .shape = std::move(array->shape),
                           .data = std::move(array->data)};
    }
    return readTensorFile(path);
}

Expected<TensorValue> parseTensorProto(std::span<const std::uint8_t> bytes,
                                       const std::filesystem::path& baseDir,
                                       std::string_view sourceName) {
    if (bytes.size() > kMaxProtoBytes)
        return fail("{}: error: {} bytes: a serialized TensorProto is limited to 2 GiB (store "
                    "big tensors as external data)",
                    sourceName, bytes.size());
    onnx::TensorProto proto;
    if (!proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
        const std::string where = locateParseFailure(bytes, *onnx::TensorProto::descriptor());
        return fail("{}: error: not a serialized ONNX TensorProto: protobuf parsing fails{}",
                    sourceName, where.empty() ? "" : " " + where);
    }
    // An empty or foreign message can parse; it has no data type.
    if (!proto.has_data_type())
        return fail("{}: error: not an ONNX TensorProto: it has no data_type", sourceName);
    return decodeTensor(proto, baseDir, sourceName);
}

Expected<TensorValue> readTensorFile(const std::string& path) {
    if (auto r = requireRegularFile(path); !r)
        return std::unexpected(r.error());
    auto bytes = readBinaryFile(path);
    if (!bytes)
        return std::unexpected(bytes.error());
    return parseTensorProto(*bytes, std::filesystem::path(path).parent_path(), path);
}

Expected<void> writeTensorFile(const std::string& path, const TensorValue& value) {
    for (std::size_t i = 0; i < value.shape.size(); ++i)
        if (value.shape[i] < 1)
            return fail("{}: error: tensor '{}': dimension {} is {}; every dimension must be at "
                        "least 1",
                        path, value.name, i, value.shape[i]);
    const auto bytes = byteSize(value.shape, dtypeSize(value.dtype));
    if (!bytes || *bytes != value.data.size())
        return fail("{}: error: tensor '{}': {} bytes of data, shape {} of {} needs {}", path,
                    value.name, value.data.size(), formatShape(value.shape), dtypeName(value.dtype),
                    bytes ? fmt::format("{}", *bytes) : std::string("more than 2^64"));
    if (*bytes > kMaxProtoBytes - 4096)
        return fail("{}: error: tensor '{}': {} bytes do not fit in a serialized TensorProto "
                    "(2 GiB limit)",
                    path, value.name, *bytes);
    onnx::TensorProto proto;
    proto.set_name(value.name);
    proto.set_data_type(onnxTypeOf(value.dtype));
    for (const std::int64_t d : value.shape)
        proto.add_dims(d);
    proto.set_raw_data(value.data.data(), value.data.size());
    std::string serialized;
    if (!proto.SerializeToString(&serialized))
        return fail("{}: error: tensor '{}': protobuf serialization failed", path, value.name);
    return writeBinaryFile(path, std::span(reinterpret_cast<const std::uint8_t*>(serialized.data()),
                                           serialized.size()));
}

} // namespace kpu::onnx_io
