// ONNX TensorProto values (kpu_onnx_io): round trips for every dtype and scalars, the typed
// fields ONNX writers use instead of raw_data, external data, and corrupt or unsupported
// inputs, whose errors must name the file and say what is wrong.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include "kpu/common/file_io.h"
#include "kpu/common/onnx_tensor.h"
#include "support/run_command.h"

namespace kpu::test {
namespace {

using onnx_io::TensorValue;

std::vector<std::uint8_t> iota(std::size_t n) {
    std::vector<std::uint8_t> bytes(n);
    for (std::size_t i = 0; i < n; ++i)
        bytes[i] = static_cast<std::uint8_t>(i * 7 + 3);
    return bytes;
}

template <class T>
std::vector<std::uint8_t> bytesOf(const std::vector<T>& values) {
    std::vector<std::uint8_t> bytes(values.size() * sizeof(T));
    std::memcpy(bytes.data(), values.data(), bytes.size());
    return bytes;
}

void writeProto(const std::string& path, const onnx::TensorProto& proto) {
    std::string s;
    ASSERT_TRUE(proto.SerializeToString(&s));
    ASSERT_TRUE(writeTextFile(path, s));
}

// The error of decoding `proto` (as file "t.pb"); empty if it decoded.
std::string decodeError(const onnx::TensorProto& proto, const std::string& baseDir = ".") {
    auto r = onnx_io::decodeTensor(proto, baseDir, "t.pb");
    return r ? std::string() : r.error().message;
}

onnx::TensorProto floatProto(const std::vector<std::int64_t>& dims) {
    onnx::TensorProto p;
    p.set_name("w");
    p.set_data_type(onnx::TensorProto::FLOAT);
    for (auto d : dims)
        p.add_dims(d);
    return p;
}

TEST(OnnxTensor, RoundTripsEveryDTypeAndScalars) {
    ScratchDir dir("onnx_roundtrip");
    for (int t = 0; t < kDTypeCount; ++t) {
        const auto dtype = static_cast<DType>(t);
        for (const Shape& shape : {Shape{2, 3}, Shape{}, Shape{1}, Shape{2, 1, 4}}) {
            const std::size_t n =
                static_cast<std::size_t>(elementCount(shape).value()) * dtypeSize(dtype);
            const TensorValue v{.name = "t", .dtype = dtype, .shape = shape, .data = iota(n)};
            const std::string path = dir.file(fmt::format("{}_{}.pb", t, shape.size()));
            ASSERT_TRUE(onnx_io::writeTensorFile(path, v)) << dtypeName(dtype);
            auto back = onnx_io::readTensorFile(path);
            ASSERT_TRUE(back) << back.error().message;
            EXPECT_EQ(back->name, "t");
            EXPECT_EQ(back->dtype, dtype) << dtypeName(dtype);
            EXPECT_EQ(back->shape, shape) << dtypeName(dtype);
            EXPECT_EQ(back->data, v.data) << dtypeName(dtype);
        }
    }
    // An unnamed tensor stays unnamed.
    const std::string path = dir.file("unnamed.pb");
    ASSERT_TRUE(onnx_io::writeTensorFile(
        path, TensorValue{.name = "", .dtype = DType::F32, .shape = {1}, .data = iota(4)}));
    auto back = onnx_io::readTensorFile(path);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->name, "");
}

TEST(OnnxTensor, WriteRefusesDataThatDoesNotMatchTheShape) {
    ScratchDir dir("onnx_write_bad");
    auto r = onnx_io::writeTensorFile(
        dir.file("x.pb"),
        TensorValue{.name = "x", .dtype = DType::F32, .shape = {2, 3}, .data = iota(20)});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("x.pb: error: tensor 'x': 20 bytes of data, shape 2x3 of f32 "
                                     "needs 24"),
              std::string::npos)
        << r.error().message;
    r = onnx_io::writeTensorFile(
        dir.file("z.pb"),
        TensorValue{.name = "z", .dtype = DType::F32, .shape = {2, 0}, .data = {}});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("dimension 1 is 0"), std::string::npos) << r.error().message;
}

TEST(OnnxTensor, TypeNames) {
    EXPECT_EQ(onnx_io::spellOnnxType(onnx::TensorProto::FLOAT), "FLOAT");
    EXPECT_EQ(onnx_io::spellOnnxType(onnx::TensorProto::INT64), "INT64");
    EXPECT_EQ(onnx_io::spellOnnxType(17), "FLOAT8E4M3FN");
    EXPECT_EQ(onnx_io::spellOnnxType(99), "type 99");
    EXPECT_EQ(onnx_io::dtypeOfOnnxType(onnx::TensorProto::FLOAT16).value(), DType::F16);
    EXPECT_EQ(onnx_io::dtypeOfOnnxType(onnx::TensorProto::DOUBLE).value(), DType::F64);
    EXPECT_EQ(onnx_io::dtypeOfOnnxType(onnx::TensorProto::INT8).value(), DType::I8);
    EXPECT_EQ(onnx_io::dtypeOfOnnxType(onnx::TensorProto::INT32).value(), DType::I32);
    EXPECT_EQ(onnx_io::dtypeOfOnnxType(onnx::TensorProto::INT64).value(), DType::I64);
    EXPECT_EQ(onnx_io::dtypeOfOnnxType(17).value(), DType::F8E4M3);
}

TEST(OnnxTensor, DecodesTypedFields) {
    {
        onnx::TensorProto p = floatProto({2, 2});
        for (float f : {1.0f, -2.5f, 0.0f, 3.25f})
            p.add_float_data(f);
        auto v = onnx_io::decodeTensor(p, ".", "t.pb");
        ASSERT_TRUE(v) << v.error().message;
        EXPECT_EQ(v->name, "w");
        EXPECT_EQ(v->shape, (Shape{2, 2}));
        EXPECT_EQ(v->data, bytesOf(std::vector<float>{1.0f, -2.5f, 0.0f, 3.25f}));
    }
    {
        onnx::TensorProto p;
        p.set_data_type(onnx::TensorProto::DOUBLE);
        p.add_dims(3);
        for (double d : {1.5, -1e300, 0.125})
            p.add_double_data(d);
        auto v = onnx_io::decodeTensor(p, ".", "t.pb");
        ASSERT_TRUE(v) << v.error().message;
        EXPECT_EQ(v->dtype, DType::F64);
        EXPECT_EQ(v->data, bytesOf(std::vector<double>{1.5, -1e300, 0.125}));
    }
    {
        // FLOAT16 values are their bit patterns in int32_data: 1.0 = 0x3c00, -2.0 = 0xc000.
        onnx::TensorProto p;
        p.set_data_type(onnx::TensorProto::FLOAT16);
        p.add_dims(2);
        p.add_int32_data(0x3c00);
        p.add_int32_data(0xc000);
        auto v = onnx_io::decodeTensor(p, ".", "t.pb");
        ASSERT_TRUE(v) << v.error().message;
        EXPECT_EQ(v->dtype, DType::F16);
        EXPECT_EQ(v->data, bytesOf(std::vector<std::uint16_t>{0x3c00, 0xc000}));
    }
    {
        onnx::TensorProto p;
        p.set_data_type(onnx::TensorProto::INT8);
        p.add_dims(3);
        for (int i : {-128, -5, 127})
            p.add_int32_data(i);
        auto v = onnx_io::decodeTensor(p, ".", "t.pb");
        ASSERT_TRUE(v) << v.error().message;
        EXPECT_EQ(v->dtype, DType::I8);
        EXPECT_EQ(v->data, bytesOf(std::vector<std::int8_t>{-128, -5, 127}));
    }
    {
        onnx::TensorProto p;
        p.set_data_type(onnx::TensorProto::INT32);
        p.add_dims(2);
        p.add_int32_data(-70000);
        p.add_int32_data(123456789);
        auto v = onnx_io::decodeTensor(p, ".", "t.pb");
        ASSERT_TRUE(v) << v.error().message;
        EXPECT_EQ(v->data, bytesOf(std::vector<std::int32_t>{-70000, 123456789}));
    }
    {
        // A scalar: no dims, one value.
        onnx::TensorProto p;
        p.set_data_type(onnx::TensorProto::INT64);
        p.add_int64_data(-(std::int64_t{1} << 40));
        auto v = onnx_io::decodeTensor(p, ".", "t.pb");
        ASSERT_TRUE(v) << v.error().message;
        EXPECT_EQ(v->dtype, DType::I64);
        EXPECT_TRUE(v->shape.empty());
        EXPECT_EQ(v->data, bytesOf(std::vector<std::int64_t>{-(std::int64_t{1} << 40)}));
    }
    {
        onnx::TensorProto p;
        p.set_data_type(17); // FLOAT8E4M3FN
        p.add_dims(2);
        p.add_int32_data(0x38); // 1.0
        p.add_int32_data(0xfe); // -448
        auto v = onnx_io::decodeTensor(p, ".", "t.pb");
        ASSERT_TRUE(v) << v.error().message;
        EXPECT_EQ(v->dtype, DType::F8E4M3);
        EXPECT_EQ(v->data, (std::vector<std::uint8_t>{0x38, 0xfe}));
    }
}

TEST(OnnxTensor, TypedFieldErrors) {
    onnx::TensorProto p;
    p.set_name("q");
    p.set_data_type(onnx::TensorProto::INT8);
    p.add_dims(2);
    p.add_int32_data(1);
    p.add_int32_data(200);
    EXPECT_EQ(decodeError(p), "t.pb: error: tensor 'q': int32_data[1] = 200 is not an int8 "
                              "(-128..127)");

    onnx::TensorProto h;
    h.set_data_type(onnx::TensorProto::FLOAT16);
    h.add_int32_data(70000);
    EXPECT_EQ(decodeError(h), "t.pb: error: unnamed tensor: int32_data[0] = 70000 is not a "
                              "float16 bit pattern (0..65535)");

    // The wrong typed field for the type.
    onnx::TensorProto f = floatProto({2});
    f.add_int64_data(1);
    f.add_int64_data(2);
    EXPECT_EQ(decodeError(f), "t.pb: error: tensor 'w': int64_data is set, but a FLOAT tensor "
                              "stores its values in float_data");

    // raw_data and a typed field at once.
    onnx::TensorProto both = floatProto({1});
    both.set_raw_data(std::string(4, '\0'));
    both.add_float_data(1.0f);
    EXPECT_NE(decodeError(both).find("both raw_data and float_data are set"), std::string::npos)
        << decodeError(both);

    // Too few values for the dims.
    onnx::TensorProto few = floatProto({2, 3});
    for (int i = 0; i < 5; ++i)
        few.add_float_data(1.0f);
    EXPECT_EQ(decodeError(few), "t.pb: error: tensor 'w': float_data holds 5 values, the dims "
                                "[2, 3] need 6");

    // A scalar without any value.
    onnx::TensorProto none = floatProto({});
    EXPECT_EQ(decodeError(none), "t.pb: error: tensor 'w': float_data holds 0 values, the dims "
                                 "[] need 1");
}

TEST(OnnxTensor, DimsErrors) {
    onnx::TensorProto neg = floatProto({2, -3});
    EXPECT_EQ(decodeError(neg), "t.pb: error: tensor 'w': dims[1] is negative (-3)");

    onnx::TensorProto zero = floatProto({0, 3});
    EXPECT_NE(decodeError(zero).find("tensor 'w': dims[0] is 0: empty tensors are not supported "
                                     "(every dimension of a KPU tensor is at least 1)"),
              std::string::npos)
        << decodeError(zero);

    onnx::TensorProto huge = floatProto({std::int64_t{1} << 40, std::int64_t{1} << 40});
    EXPECT_NE(decodeError(huge).find("overflow"), std::string::npos) << decodeError(huge);

    // Large but representable: refused by the size check, not by allocating.
    onnx::TensorProto big = floatProto({std::int64_t{1} << 30, std::int64_t{1} << 20});
    big.set_raw_data(std::string(16, '\0'));
    EXPECT_NE(decodeError(big).find("raw_data holds 16 bytes, the dims [1073741824, 1048576] and "
                                    "type FLOAT need 4503599627370496"),
              std::string::npos)
        << decodeError(big);

    onnx::TensorProto mismatch = floatProto({2, 3});
    mismatch.set_raw_data(std::string(20, '\0'));
    EXPECT_EQ(decodeError(mismatch), "t.pb: error: tensor 'w': raw_data holds 20 bytes, the dims "
                                     "[2, 3] and type FLOAT need 24 (6 elements of 4 bytes)");

    onnx::TensorProto segmented = floatProto({1});
    segmented.mutable_segment()->set_begin(0);
    segmented.set_raw_data(std::string(4, '\0'));
    EXPECT_NE(decodeError(segmented).find("segmented tensors"), std::string::npos);
}

TEST(OnnxTensor, UnsupportedTypes) {
    for (const auto& [type, name] :
         std::vector<std::pair<int, std::string>>{{onnx::TensorProto::BOOL, "BOOL"},
                                                  {onnx::TensorProto::STRING, "STRING"},
                                                  {onnx::TensorProto::UINT8, "UINT8"},
                                                  {onnx::TensorProto::BFLOAT16, "BFLOAT16"},
                                                  {onnx::TensorProto::COMPLEX64, "COMPLEX64"},
                                                  {42, "type 42"}}) {
        onnx::TensorProto p;
        p.set_name("b");
        p.set_data_type(type);
        p.add_dims(1);
        p.set_raw_data(std::string(1, '\1'));
        EXPECT_EQ(decodeError(p),
                  fmt::format("t.pb: error: tensor 'b': element type {} is not supported "
                              "(supported: FLOAT, FLOAT16, DOUBLE, FLOAT8E4M3FN, INT8, INT32, "
                              "INT64)",
                              name));
    }
    onnx::TensorProto undefined;
    undefined.set_data_type(onnx::TensorProto::UNDEFINED);
    EXPECT_NE(decodeError(undefined).find("UNDEFINED"), std::string::npos);
}

onnx::TensorProto externalProto(const std::string& location, std::optional<std::string> offset,
                                std::optional<std::string> length) {
    onnx::TensorProto p = floatProto({2, 3});
    p.set_data_location(onnx::TensorProto::EXTERNAL);
    auto add = [&](const std::string& k, const std::string& v) {
        auto* e = p.add_external_data();
        e->set_key(k);
        e->set_value(v);
    };
    add("location", location);
    if (offset)
        add("offset", *offset);
    if (length)
        add("length", *length);
    return p;
}

TEST(OnnxTensor, ExternalData) {
    ScratchDir dir("onnx_external");
    const std::filesystem::path base = std::filesystem::path(dir.file("x")).parent_path();
    const std::vector<float> values = {1, 2, 3, 4, 5, 6};
    std::vector<std::uint8_t> file(8, 0xee); // 8 bytes before the data
    const auto data = bytesOf(values);
    file.insert(file.end(), data.begin(), data.end());
    ASSERT_TRUE(writeBinaryFile(dir.file("weights.bin"), file));
    std::filesystem::create_directories(base / "sub");
    ASSERT_TRUE(writeBinaryFile(dir.file("sub/tail.bin"), data));

    auto v = onnx_io::decodeTensor(externalProto("weights.bin", "8", "24"), base, "m.pb");
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_EQ(v->data, data);
    // Without length: to the end of the file; without offset: from its start.
    v = onnx_io::decodeTensor(externalProto("weights.bin", "8", std::nullopt), base, "m.pb");
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_EQ(v->data, data);
    v = onnx_io::decodeTensor(externalProto("sub/tail.bin", std::nullopt, std::nullopt), base,
                              "m.pb");
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_EQ(v->data, data);

    // Through a .pb file: the location is relative to the file's directory.
    writeProto(dir.file("ext.pb"), externalProto("weights.bin", "8", "24"));
    auto f = onnx_io::readTensorFile(dir.file("ext.pb"));
    ASSERT_TRUE(f) << f.error().message;
    EXPECT_EQ(f->data, data);

    auto err = [&](const onnx::TensorProto& p) {
        auto r = onnx_io::decodeTensor(p, base, "m.pb");
        return r ? std::string() : r.error().message;
    };
    EXPECT_NE(err(externalProto("weights.bin", "16", "24"))
                  .find("m.pb: error: tensor 'w': external data offset 16 + length 24 is past the "
                        "end of"),
              std::string::npos)
        << err(externalProto("weights.bin", "16", "24"));
    EXPECT_NE(err(externalProto("weights.bin", "100", std::nullopt))
                  .find("external data offset 100 is past the end of"),
              std::string::npos);
    EXPECT_NE(err(externalProto("weights.bin", "0", "28"))
                  .find("external data holds 28 bytes (its 'length'), the dims and type need 24"),
              std::string::npos)
        << err(externalProto("weights.bin", "0", "28"));
    EXPECT_NE(err(externalProto("weights.bin", std::nullopt, std::nullopt))
                  .find("external data holds 32 bytes (to the end of the file)"),
              std::string::npos);
    EXPECT_NE(
        err(externalProto("weights.bin", "-8", "24")).find("offset '-8' is not a non-negative"),
        std::string::npos);
    EXPECT_NE(err(externalProto("weights.bin", "8", "2x")).find("length '2x' is not"),
              std::string::npos);
    EXPECT_NE(err(externalProto("missing.bin", "0", "24")).find("does not exist"),
              std::string::npos);
    EXPECT_NE(err(externalProto("sub", "0", "24")).find("is not a regular file"),
              std::string::npos);
    EXPECT_NE(err(externalProto("../weights.bin", "0", "24")).find("leaves the directory"),
              std::string::npos);
    EXPECT_NE(err(externalProto("/etc/passwd", "0", "24")).find("is an absolute path"),
              std::string::npos);
    onnx::TensorProto noLocation = floatProto({2, 3});
    noLocation.set_data_location(onnx::TensorProto::EXTERNAL);
    EXPECT_NE(err(noLocation).find("external data without a 'location' entry"), std::string::npos);
    onnx::TensorProto withRaw = externalProto("weights.bin", "8", "24");
    withRaw.set_raw_data(std::string(24, '\0'));
    EXPECT_NE(err(withRaw).find("both external data and raw_data are set"), std::string::npos)
        << err(withRaw);
}

TEST(OnnxTensor, CorruptFilesAreErrorsNamingTheFile) {
    ScratchDir dir("onnx_corrupt");
    // Truncated: cut inside raw_data, the last field.
    onnx::TensorProto p = floatProto({4, 4});
    p.set_raw_data(std::string(64, '\1'));
    std::string whole;
    ASSERT_TRUE(p.SerializeToString(&whole));
    const std::string truncated = dir.file("truncated.pb");
    ASSERT_TRUE(writeTextFile(truncated, whole.substr(0, whole.size() - 10)));
    auto r = onnx_io::readTensorFile(truncated);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              truncated + ": error: not a serialized ONNX TensorProto: protobuf parsing fails at "
                          "byte 0x9 (raw_data): needs 64 bytes, 54 are left");

    // Random bytes.
    std::mt19937 rng(12345);
    for (int i = 0; i < 20; ++i) {
        std::vector<std::uint8_t> junk(64 + i * 13);
        for (auto& b : junk)
            b = static_cast<std::uint8_t>(rng());
        const std::string path = dir.file(fmt::format("junk{}.pb", i));
        ASSERT_TRUE(writeBinaryFile(path, junk));
        auto j = onnx_io::readTensorFile(path);
        ASSERT_FALSE(j) << path;
        EXPECT_EQ(j.error().message.rfind(path + ": error: ", 0), 0u) << j.error().message;
    }

    // Empty: parses as an empty message, which is not a tensor.
    const std::string empty = dir.file("empty.pb");
    ASSERT_TRUE(writeTextFile(empty, ""));
    r = onnx_io::readTensorFile(empty);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, empty + ": error: not an ONNX TensorProto: it has no data_type");

    // Dims and data disagree inside a file.
    onnx::TensorProto bad = floatProto({3, 3});
    bad.set_raw_data(std::string(32, '\0'));
    writeProto(dir.file("bad.pb"), bad);
    r = onnx_io::readTensorFile(dir.file("bad.pb"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, dir.file("bad.pb") +
                                     ": error: tensor 'w': raw_data holds 32 bytes, the dims [3, "
                                     "3] and type FLOAT need 36 (9 elements of 4 bytes)");

    // Not a regular file, or no file.
    r = onnx_io::readTensorFile(std::filesystem::path(empty).parent_path().string());
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find(": error: not a regular file"), std::string::npos);
    r = onnx_io::readTensorFile(dir.file("absent.pb"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              dir.file("absent.pb") + ": error: cannot open file: No such file or directory");
}

} // namespace
} // namespace kpu::test
