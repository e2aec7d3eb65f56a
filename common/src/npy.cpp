#include "kpu/common/npy.h"

#include <bit>
#include <cstring>
#include <limits>
#include <optional>

#include "kpu/common/file_io.h"

namespace kpu {
namespace {

static_assert(std::endian::native == std::endian::little,
              "npy support assumes a little-endian host");

constexpr std::uint8_t kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

// The header's values and where each starts, as byte offsets in the file (for errors that name
// the place).
struct Header {
    std::optional<std::string> descr;
    std::optional<bool> fortranOrder;
    std::optional<Shape> shape;
    std::size_t descrAt = 0, fortranOrderAt = 0, shapeAt = 0;
};

// A parser for the Python dict literal of an npy header. Errors are plain messages starting
// "at byte N" (N counted from the start of the file); the caller adds the source name.
class HeaderParser {
public:
    // `text` starts at byte `base` of the file.
    HeaderParser(std::string_view text, std::size_t base) : text_(text), base_(base) {}

    Expected<Header> parse() {
        Header header;
        std::size_t end = 0; // the closing brace, where a missing key is reported
        skipSpace();
        if (!consume('{'))
            return error("expected '{'");
        while (true) {
            skipSpace();
            end = pos_;
            if (consume('}'))
                break;
            const std::size_t keyPos = pos_;
            auto key = parseString();
            if (!key)
                return std::unexpected(key.error());
            skipSpace();
            if (!consume(':'))
                return error(fmt::format("expected ':' after key '{}'", *key));
            skipSpace();
            if (auto r = parseEntry(*key, keyPos, header); !r)
                return std::unexpected(r.error());
            skipSpace();
            if (consume(','))
                continue;
            end = pos_;
            if (consume('}'))
                break;
            return error("expected ',' or '}'");
        }
        skipSpace();
        if (pos_ != text_.size())
            return error("unexpected characters after the dictionary");
        if (!header.descr)
            return errorAt("the dictionary has no 'descr' key", end);
        if (!header.fortranOrder)
            return errorAt("the dictionary has no 'fortran_order' key", end);
        if (!header.shape)
            return errorAt("the dictionary has no 'shape' key", end);
        return header;
    }

private:
    std::unexpected<Error> error(std::string_view what) const { return errorAt(what, pos_); }
    std::unexpected<Error> errorAt(std::string_view what, std::size_t pos) const {
        return fail("at byte {}: {}", base_ + pos, what);
    }

    bool atEnd() const { return pos_ >= text_.size(); }
    char peek() const { return atEnd() ? '\0' : text_[pos_]; }

    bool consume(char c) {
        if (atEnd() || text_[pos_] != c)
            return false;
        ++pos_;
        return true;
    }

    void skipSpace() {
        while (!atEnd() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
                            text_[pos_] == '\r'))
            ++pos_;
    }

    Expected<std::string> parseString() {
        const char quote = peek();
        if (quote != '\'' && quote != '"')
            return error("expected a quoted string");
        ++pos_;
        const std::size_t begin = pos_;
        while (!atEnd() && text_[pos_] != quote) {
            if (text_[pos_] == '\\')
                return error("escape sequences are not supported in header strings");
            ++pos_;
        }
        if (atEnd())
            return error("unterminated string");
        std::string s(text_.substr(begin, pos_ - begin));
        ++pos_;
        return s;
    }

    Expected<bool> parseBool() {
        if (text_.substr(pos_).starts_with("True")) {
            pos_ += 4;
            return true;
        }
        if (text_.substr(pos_).starts_with("False")) {
            pos_ += 5;
            return false;
        }
        return error("expected True or False for 'fortran_order'");
    }

    Expected<std::int64_t> parseDim() {
        if (peek() < '0' || peek() > '9')
            return error("expected a non-negative integer in 'shape'");
        std::int64_t value = 0;
        while (peek() >= '0' && peek() <= '9') {
            const int digit = peek() - '0';
            if (value > (std::numeric_limits<std::int64_t>::max() - digit) / 10)
                return error("dimension in 'shape' is too large");
            value = value * 10 + digit;
            ++pos_;
        }
        consume('L'); // Python 2 long literal
        return value;
    }

    Expected<Shape> parseShape() {
        if (!consume('('))
            return error("expected a tuple for 'shape'");
        Shape shape;
        skipSpace();
        if (consume(')'))
            return shape;
        while (true) {
            skipSpace();
            auto dim = parseDim();
            if (!dim)
                return std::unexpected(dim.error());
            if (shape.size() >= 64)
                return error("'shape' has more than 64 dimensions");
            shape.push_back(*dim);
            skipSpace();
            if (consume(')'))
                return shape;
            if (!consume(','))
                return error("expected ',' or ')' in 'shape'");
            skipSpace();
            if (consume(')'))
                return shape;
        }
    }

    Expected<void> parseEntry(const std::string& key, std::size_t keyPos, Header& header) {
        if (key == "descr") {
            if (header.descr)
                return errorAt("duplicate key 'descr'", keyPos);
            if (peek() == '[')
                return error("structured dtypes are not supported");
            if (peek() != '\'' && peek() != '"')
                return error("expected a string for 'descr'");
            header.descrAt = base_ + pos_;
            auto s = parseString();
            if (!s)
                return std::unexpected(s.error());
            header.descr = std::move(*s);
            return {};
        }
        if (key == "fortran_order") {
            if (header.fortranOrder)
                return errorAt("duplicate key 'fortran_order'", keyPos);
            header.fortranOrderAt = base_ + pos_;
            auto b = parseBool();
            if (!b)
                return std::unexpected(b.error());
            header.fortranOrder = *b;
            return {};
        }
        if (key == "shape") {
            if (header.shape)
                return errorAt("duplicate key 'shape'", keyPos);
            header.shapeAt = base_ + pos_;
            auto s = parseShape();
            if (!s)
                return std::unexpected(s.error());
            header.shape = std::move(*s);
            return {};
        }
        return errorAt(fmt::format("unknown key '{}'", key), keyPos);
    }

    std::string_view text_;
    std::size_t base_ = 0;
    std::size_t pos_ = 0;
};

Expected<DType> dtypeFromDescr(const std::string& descr) {
    if (descr.size() < 2)
        return fail("unsupported dtype '{}'", descr);
    const char order = descr[0];
    const std::string_view kind = std::string_view(descr).substr(1);
    if (kind.starts_with("O"))
        return fail("object arrays are not supported (dtype '{}')", descr);
    if (order != '<' && order != '>' && order != '=' && order != '|')
        return fail("unsupported dtype '{}'", descr);
    // One-byte types: byte order is irrelevant.
    if (kind == "i1")
        return DType::I8;
    if (kind == "u1")
        return DType::F8E4M3;
    std::optional<DType> t;
    if (kind == "f4")
        t = DType::F32;
    else if (kind == "f2")
        t = DType::F16;
    else if (kind == "f8")
        t = DType::F64;
    else if (kind == "i4")
        t = DType::I32;
    else if (kind == "i8")
        t = DType::I64;
    if (!t)
        return fail("unsupported dtype '{}' (supported: <f4 <f2 <f8 <i4 <i8 |i1 |u1)", descr);
    if (order == '>')
        return fail("big-endian dtype '{}' is not supported; convert with astype('<{}')", descr,
                    kind);
    if (order == '|')
        return fail("dtype '{}' has no byte order; expected '<{}'", descr, kind);
    return *t;
}

std::string_view descrOf(DType t) {
    switch (t) {
    case DType::F32:
        return "<f4";
    case DType::F16:
        return "<f2";
    case DType::F64:
        return "<f8";
    case DType::F8E4M3:
        return "|u1";
    case DType::I8:
        return "|i1";
    case DType::I32:
        return "<i4";
    case DType::I64:
        return "<i8";
    }
    return "|u1";
}

std::string shapeTuple(const Shape& shape) {
    if (shape.size() == 1)
        return fmt::format("({},)", shape[0]);
    return fmt::format("({})", fmt::join(shape, ", "));
}

std::uint64_t readLe(std::span<const std::uint8_t> bytes, std::size_t offset, std::size_t n) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i)
        v |= static_cast<std::uint64_t>(bytes[offset + i]) << (8 * i);
    return v;
}

// Printable bytes as they are, others as \xNN: what a wrong magic holds.
std::string escapedBytes(std::span<const std::uint8_t> bytes) {
    std::string out;
    for (std::uint8_t b : bytes)
        out += b >= 32 && b < 127 && b != '\\' && b != '\'' ? std::string(1, static_cast<char>(b))
                                                            : fmt::format("\\x{:02X}", b);
    return out;
}

} // namespace

// Every error names the place: the preamble bytes (magic 0-5, version 6-7, header length from
// 8), the byte of the header where parsing stopped, the header key whose value is refused, or
// where the data starts.
Expected<NpyArray> parseNpy(std::span<const std::uint8_t> bytes, std::string_view sourceName) {
    const std::span<const std::uint8_t> magic(kMagic);
    if (bytes.size() < magic.size())
        return fail("{}: error: not an npy file: {} bytes, shorter than the {}-byte magic '{}'",
                    sourceName, bytes.size(), magic.size(), escapedBytes(magic));
    if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0)
        return fail("{}: error: not an npy file: bytes 0-5 are '{}', not the magic '{}'",
                    sourceName, escapedBytes(bytes.first(magic.size())), escapedBytes(magic));
    if (bytes.size() < 8)
        return fail("{}: error: truncated npy preamble: {} bytes, the version (bytes 6-7) needs 8",
                    sourceName, bytes.size());
    const unsigned major = bytes[6];
    const unsigned minor = bytes[7];
    if ((major != 1 && major != 2 && major != 3) || minor != 0)
        return fail(
            "{}: error: unsupported npy format version {}.{} (bytes 6-7); this reader reads "
            "1.0, 2.0 and 3.0",
            sourceName, major, minor);
    const std::size_t lengthBytes = major == 1 ? 2 : 4;
    const std::size_t headerStart = 8 + lengthBytes;
    if (bytes.size() < headerStart)
        return fail("{}: error: truncated npy preamble: {} bytes, the header length (bytes 8-{}) "
                    "needs {}",
                    sourceName, bytes.size(), headerStart - 1, headerStart);
    const std::uint64_t headerLength = readLe(bytes, 8, lengthBytes);
    if (headerLength > bytes.size() - headerStart)
        return fail("{}: error: npy header length {} (bytes 8-{}) exceeds the {} bytes after the "
                    "preamble",
                    sourceName, headerLength, headerStart - 1, bytes.size() - headerStart);
    const std::string_view headerText(reinterpret_cast<const char*>(bytes.data() + headerStart),
                                      static_cast<std::size_t>(headerLength));
    auto header = HeaderParser(headerText, headerStart).parse();
    if (!header)
        return fail("{}: error: bad npy header {}", sourceName, header.error().message);

    auto dtype = dtypeFromDescr(*header->descr);
    if (!dtype)
        return fail("{}: error: npy header 'descr' at byte {}: {}", sourceName, header->descrAt,
                    dtype.error().message);
    Shape& shape = *header->shape;
    if (*header->fortranOrder && shape.size() > 1)
        return fail("{}: error: npy header 'fortran_order' at byte {}: fortran-order arrays are "
                    "not supported; save with np.ascontiguousarray",
                    sourceName, header->fortranOrderAt);
    const auto size = byteSize(shape, dtypeSize(*dtype));
    if (!size)
        return fail("{}: error: npy header 'shape' at byte {}: the byte size of shape {} of {} "
                    "overflows",
                    sourceName, header->shapeAt, shapeTuple(shape), dtypeName(*dtype));
    const std::size_t dataStart = headerStart + static_cast<std::size_t>(headerLength);
    const std::uint64_t dataBytes = bytes.size() - dataStart;
    if (dataBytes != *size)
        return fail("{}: error: data from byte {} is {} bytes, but shape {} of {} needs {} bytes",
                    sourceName, dataStart, dataBytes, shapeTuple(shape), dtypeName(*dtype), *size);

    NpyArray array;
    array.dtype = *dtype;
    array.shape = std::move(shape);
    array.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(dataStart), bytes.end());
    return array;
}

Expected<NpyArray> readNpyFile(const std::string& path) {
    auto bytes = readBinaryFile(path);
    if (!bytes)
        return std::unexpected(bytes.error());
    return parseNpy(*bytes, path);
}

std::vector<std::uint8_t> serializeNpy(const NpyArray& array) {
    std::string dict = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}",
                                   descrOf(array.dtype), shapeTuple(array.shape));
    std::size_t preamble = 10;
    std::size_t total = preamble + dict.size() + 1;
    std::size_t padded = (total + 63) / 64 * 64;
    if (padded - preamble > 0xFFFF) {
        preamble = 12;
        total = preamble + dict.size() + 1;
        padded = (total + 63) / 64 * 64;
    }
    const std::size_t headerLength = padded - preamble;
    dict.append(padded - total, ' ');
    dict.push_back('\n');

    // Sized up front and filled with memcpy (GCC 12 warns spuriously about chained inserts).
    std::vector<std::uint8_t> out(padded + array.data.size());
    std::memcpy(out.data(), kMagic, sizeof(kMagic));
    out[6] = preamble == 10 ? 1 : 2;
    out[7] = 0;
    for (std::size_t i = 0; i < preamble - 8; ++i)
        out[8 + i] = static_cast<std::uint8_t>((headerLength >> (8 * i)) & 0xFF);
    std::memcpy(out.data() + preamble, dict.data(), dict.size());
    if (!array.data.empty())
        std::memcpy(out.data() + padded, array.data.data(), array.data.size());
    return out;
}

Expected<void> writeNpyFile(const std::string& path, const NpyArray& array) {
    const auto size = byteSize(array.shape, dtypeSize(array.dtype));
    if (!size)
        return fail("{}: error: shape {} is invalid or overflows", path, shapeTuple(array.shape));
    if (*size != array.data.size())
        return fail("{}: error: array has {} data bytes, but shape {} of {} needs {}", path,
                    array.data.size(), shapeTuple(array.shape), dtypeName(array.dtype), *size);
    return writeBinaryFile(path, serializeNpy(array));
}

} // namespace kpu
