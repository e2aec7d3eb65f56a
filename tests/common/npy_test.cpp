#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kpu/common/file_io.h"
#include "kpu/common/float_convert.h"
#include "kpu/common/npy.h"

namespace kpu {
namespace {

const std::string kFixtures = std::string(KPU_FIXTURES_DIR) + "/npy/";

std::vector<std::uint8_t> makeNpy(std::string_view header, std::span<const std::uint8_t> data,
                                  std::uint8_t major = 1) {
    std::vector<std::uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', major, 0};
    const std::size_t n = header.size();
    out.push_back(static_cast<std::uint8_t>(n & 0xFF));
    out.push_back(static_cast<std::uint8_t>((n >> 8) & 0xFF));
    if (major != 1) {
        out.push_back(static_cast<std::uint8_t>((n >> 16) & 0xFF));
        out.push_back(static_cast<std::uint8_t>((n >> 24) & 0xFF));
    }
    out.insert(out.end(), header.begin(), header.end());
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

NpyArray sample(DType t, Shape shape) {
    NpyArray a;
    a.dtype = t;
    a.shape = std::move(shape);
    const auto n = static_cast<std::size_t>(*elementCount(a.shape));
    std::vector<double> values(n);
    for (std::size_t i = 0; i < n; ++i)
        values[i] = static_cast<double>(i % 7) - 3.0 + (isFloat(t) ? 0.5 : 0.0);
    a.data.resize(n * dtypeSize(t));
    convertFromF64(t, values.data(), a.data.data(), n);
    return a;
}

TEST(Npy, RoundTripEveryDType) {
    for (DType t : {DType::F32, DType::F16, DType::F64, DType::F8E4M3, DType::I8, DType::I32}) {
        for (const Shape& shape :
             {Shape{}, Shape{5}, Shape{2, 3}, Shape{2, 0, 4}, Shape{3, 1, 2, 2}}) {
            const NpyArray a = sample(t, shape);
            const auto bytes = serializeNpy(a);
            // Header padded so the data starts on a 64-byte boundary, ending in '\n'.
            const std::size_t headerLength = bytes[8] | (bytes[9] << 8);
            ASSERT_EQ((10 + headerLength) % 64, 0u);
            ASSERT_EQ(bytes[10 + headerLength - 1], '\n');
            ASSERT_EQ(bytes[6], 1);
            auto back = parseNpy(bytes, "mem.npy");
            ASSERT_TRUE(back) << back.error().message;
            EXPECT_EQ(back->dtype, t);
            EXPECT_EQ(back->shape, shape);
            EXPECT_EQ(back->data, a.data);
        }
    }
}

TEST(Npy, WrittenHeaderMatchesNumpyStyle) {
    const auto bytes = serializeNpy(sample(DType::F32, {3}));
    const std::string all(bytes.begin(), bytes.end());
    const std::string text = all.substr(10, all.find('}') - 9);
    EXPECT_EQ(text, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }");
    const auto b2 = serializeNpy(sample(DType::I8, {2, 3}));
    EXPECT_NE(std::string(b2.begin(), b2.end()).find("'descr': '|i1'"), std::string::npos);
    EXPECT_NE(std::string(b2.begin(), b2.end()).find("'shape': (2, 3)"), std::string::npos);
    const auto b3 = serializeNpy(sample(DType::F8E4M3, {}));
    EXPECT_NE(std::string(b3.begin(), b3.end()).find("'descr': '|u1'"), std::string::npos);
    EXPECT_NE(std::string(b3.begin(), b3.end()).find("'shape': ()"), std::string::npos);
}

TEST(Npy, FileRoundTrip) {
    const auto path = (std::filesystem::temp_directory_path() / "kpu_npy_test.npy").string();
    const NpyArray a = sample(DType::F16, {4, 4});
    ASSERT_TRUE(writeNpyFile(path, a));
    auto back = readNpyFile(path);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->data, a.data);
    std::filesystem::remove(path);

    NpyArray inconsistent = a;
    inconsistent.data.pop_back();
    auto w = writeNpyFile(path, inconsistent);
    ASSERT_FALSE(w);
    EXPECT_EQ(w.error().message,
              path + ": error: array has 31 data bytes, but shape (4, 4) of f16 needs 32");
}

TEST(Npy, HandMadeHeaders) {
    const std::uint8_t f4[8] = {0, 0, 0x80, 0x3F, 0, 0, 0, 0x40}; // 1.0f, 2.0f
    struct Case {
        const char* header;
        std::uint8_t major;
        DType dtype;
        Shape shape;
    };
    const Case cases[] = {
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 1, DType::F32, {2}},
        {"{'shape':(2,),'descr':'<f4','fortran_order':False}", 2, DType::F32, {2}},
        {"{ 'fortran_order' : False , 'shape' : ( 1 , 2 , ) , 'descr' : '=f4' }\n\n  ",
         3,
         DType::F32,
         {1, 2}},
        {"{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2L,)}", 1, DType::F32, {2}},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2)}", 2, DType::F32, {1, 2}},
        {"{'descr': '<i4', 'fortran_order': False, 'shape': (2,)}", 1, DType::I32, {2}},
        {"{'descr': '<i8', 'fortran_order': False, 'shape': (1,)}", 1, DType::I64, {1}},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': ()}", 1, DType::F64, {}},
        {"{'descr': '<f2', 'fortran_order': False, 'shape': (4,)}", 1, DType::F16, {4}},
        {"{'descr': '|u1', 'fortran_order': False, 'shape': (8,)}", 1, DType::F8E4M3, {8}},
        {"{'descr': '|i1', 'fortran_order': False, 'shape': (2, 4)}", 1, DType::I8, {2, 4}},
        {"{'descr': '<i1', 'fortran_order': True, 'shape': (8,)}", 1, DType::I8, {8}},
    };
    for (const Case& c : cases) {
        auto r = parseNpy(makeNpy(c.header, f4, c.major), "hand.npy");
        ASSERT_TRUE(r) << c.header << ": " << r.error().message;
        EXPECT_EQ(r->dtype, c.dtype) << c.header;
        EXPECT_EQ(r->shape, c.shape) << c.header;
        EXPECT_EQ(r->data.size(), 8u);
    }
}

TEST(Npy, GoodFixtures) {
    auto v2 = readNpyFile(kFixtures + "good_v2_odd_spacing.npy");
    ASSERT_TRUE(v2) << v2.error().message;
    EXPECT_EQ(v2->dtype, DType::I32);
    EXPECT_EQ(v2->shape, (Shape{2, 3}));
    std::int32_t second = 0;
    std::memcpy(&second, v2->data.data() + 4, 4);
    EXPECT_EQ(second, -2);

    auto v3 = readNpyFile(kFixtures + "good_v3_scalar.npy");
    ASSERT_TRUE(v3) << v3.error().message;
    EXPECT_EQ(v3->dtype, DType::F64);
    EXPECT_TRUE(v3->shape.empty());
    double value = 0;
    std::memcpy(&value, v3->data.data(), 8);
    EXPECT_EQ(value, 2.5);

    auto f1 = readNpyFile(kFixtures + "good_v1_fortran_1d.npy");
    ASSERT_TRUE(f1) << f1.error().message;
    EXPECT_EQ(f1->shape, (Shape{4}));
}

struct BadCase {
    const char* file;
    const char* message; // the whole message after "<path>: error: "
};

TEST(Npy, CorruptFixturesGiveSpecificErrors) {
    // Each names the place: preamble bytes, the header byte where parsing stopped, the header
    // key whose value is refused, or where the data starts.
    const BadCase cases[] = {
        {"bad_empty.npy", "not an npy file: 0 bytes, shorter than the 6-byte magic '\\x93NUMPY'"},
        {"bad_magic.npy",
         "not an npy file: bytes 0-5 are '\\x93NUMPZ', not the magic '\\x93NUMPY'"},
        {"bad_truncated_preamble.npy",
         "truncated npy preamble: 9 bytes, the header length (bytes 8-9) needs 10"},
        {"bad_version.npy",
         "unsupported npy format version 4.0 (bytes 6-7); this reader reads 1.0, 2.0 and 3.0"},
        {"bad_header_length.npy",
         "npy header length 5000 (bytes 8-9) exceeds the 74 bytes after the preamble"},
        {"bad_big_endian.npy", "npy header 'descr' at byte 20: big-endian dtype '>f4' is not "
                               "supported; convert with astype('<f4')"},
        {"bad_fortran_order.npy", "npy header 'fortran_order' at byte 44: fortran-order arrays "
                                  "are not supported; save with np.ascontiguousarray"},
        {"bad_object.npy",
         "npy header 'descr' at byte 20: object arrays are not supported (dtype '|O')"},
        {"bad_dtype_no_order.npy",
         "npy header 'descr' at byte 20: dtype '|f4' has no byte order; expected '<f4'"},
        {"bad_structured.npy", "bad npy header at byte 20: structured dtypes are not supported"},
        {"bad_short_data.npy",
         "data from byte 68 is 12 bytes, but shape (4,) of f32 needs 16 bytes"},
        {"bad_extra_data.npy",
         "data from byte 68 is 20 bytes, but shape (4,) of f32 needs 16 bytes"},
        {"bad_missing_shape.npy", "bad npy header at byte 49: the dictionary has no 'shape' key"},
        {"bad_shape_overflow.npy", "npy header 'shape' at byte 60: the byte size of shape "
                                   "(4294967296, 4294967296) of f32 overflows"},
        {"bad_huge_dim.npy", "bad npy header at byte 79: dimension in 'shape' is too large"},
        {"bad_negative_dim.npy",
         "bad npy header at byte 61: expected a non-negative integer in 'shape'"},
        {"bad_unterminated_string.npy", "bad npy header at byte 24: unterminated string"},
        {"bad_unknown_key.npy", "bad npy header at byte 66: unknown key 'foo'"},
        {"bad_fortran_not_bool.npy",
         "bad npy header at byte 44: expected True or False for 'fortran_order'"},
        {"bad_duplicate_key.npy", "bad npy header at byte 27: duplicate key 'descr'"},
        {"bad_trailing_garbage.npy",
         "bad npy header at byte 68: unexpected characters after the dictionary"},
    };
    for (const BadCase& c : cases) {
        const std::string path = kFixtures + c.file;
        auto r = readNpyFile(path);
        ASSERT_FALSE(r) << c.file;
        EXPECT_EQ(r.error().message, path + ": error: " + c.message) << c.file;
    }
}

TEST(Npy, EveryTruncationFailsCleanly) {
    for (DType t : {DType::F32, DType::I8}) {
        const auto bytes = serializeNpy(sample(t, {3, 5}));
        for (std::size_t n = 0; n < bytes.size(); ++n) {
            auto r = parseNpy(std::span(bytes.data(), n), "cut.npy");
            ASSERT_FALSE(r) << n;
            ASSERT_TRUE(r.error().message.starts_with("cut.npy: error: ")) << r.error().message;
        }
    }
}

TEST(Npy, ByteFlipsNeverCrash) {
    const auto bytes = serializeNpy(sample(DType::F32, {2, 3}));
    for (std::size_t i = 0; i < 128; ++i) {
        for (std::uint8_t v : {std::uint8_t{0}, std::uint8_t{0xFF}, std::uint8_t{'('},
                               std::uint8_t{'\''}, std::uint8_t{'9'}}) {
            auto copy = bytes;
            copy[i] = v;
            auto r = parseNpy(copy, "flip.npy");
            if (r) {
                ASSERT_EQ(r->data.size(),
                          static_cast<std::size_t>(*byteSize(r->shape, dtypeSize(r->dtype))));
            }
        }
    }
}

TEST(Npy, MissingFileNamesThePath) {
    auto r = readNpyFile(kFixtures + "does_not_exist.npy");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("does_not_exist.npy: error: cannot open file"),
              std::string::npos);
}

} // namespace
} // namespace kpu
