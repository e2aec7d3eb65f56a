#include "kpu/common/protobuf_diagnostics.h"

#include <map>
#include <optional>

#include <fmt/format.h>
#include <google/protobuf/descriptor.h>

namespace kpu::onnx_io {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// Protobuf's own recursion limit: a deeper message does not parse either.
constexpr int kMaxDepth = 100;

struct Walker {
    std::span<const std::uint8_t> bytes;
    std::string problem; // set at the first malformed place

    bool fail(std::size_t at, const std::string& path, const std::string& what) {
        problem =
            fmt::format("at byte {:#x} ({}): {}", at, path.empty() ? "the message" : path, what);
        return false;
    }

    std::optional<std::uint64_t> varint(std::size_t& at, std::size_t end) const {
        std::uint64_t value = 0;
        for (int shift = 0; shift < 64 && at < end; shift += 7) {
            const std::uint8_t b = bytes[at++];
            value |= std::uint64_t{b & 0x7fu} << shift;
            if ((b & 0x80) == 0)
                return value;
        }
        return std::nullopt;
    }

    // The message in [begin, end) as `type` (nullptr: unknown, walked as plain fields).
    bool message(std::size_t begin, std::size_t end, const Descriptor* type,
                 const std::string& path, int depth) {
        if (depth > kMaxDepth)
            return fail(begin, path, fmt::format("messages nested more than {} deep", kMaxDepth));
        std::map<int, int> repeats; // field number -> elements seen, for [i] in paths
        std::size_t at = begin;
        while (at < end) {
            const std::size_t fieldStart = at;
            const auto tag = varint(at, end);
            if (!tag)
                return fail(fieldStart, path, "truncated or over-long field tag");
            const auto number = static_cast<int>(*tag >> 3);
            const int wireType = static_cast<int>(*tag & 7);
            if (number == 0)
                return fail(fieldStart, path, "field number 0 is not valid");
            const FieldDescriptor* field = type ? type->FindFieldByNumber(number) : nullptr;
            std::string fieldPath = path.empty() ? "" : path + ".";
            fieldPath += field ? field->name() : fmt::format("field {}", number);
            if (field && field->is_repeated())
                fieldPath += fmt::format("[{}]", repeats[number]++);
            switch (wireType) {
            case 0:
                if (!varint(at, end))
                    return fail(fieldStart, fieldPath, "truncated varint");
                break;
            case 1:
            case 5: {
                const std::size_t size = wireType == 1 ? 8 : 4;
                if (end - at < size)
                    return fail(fieldStart, fieldPath,
                                fmt::format("needs {} bytes, {} are left", size, end - at));
                at += size;
                break;
            }
            case 2: {
                const auto length = varint(at, end);
                if (!length)
                    return fail(fieldStart, fieldPath, "truncated length");
                if (*length > end - at)
                    return fail(fieldStart, fieldPath,
                                fmt::format("needs {} bytes, {} are left", *length, end - at));
                const std::size_t contentEnd = at + static_cast<std::size_t>(*length);
                if (field && field->type() == FieldDescriptor::TYPE_MESSAGE &&
                    !message(at, contentEnd, field->message_type(), fieldPath, depth + 1))
                    return false;
                at = contentEnd;
                break;
            }
            default:
                return fail(fieldStart, fieldPath,
                            fmt::format("wire type {} is not valid here", wireType));
            }
        }
        return true;
    }
};

} // namespace

std::string locateParseFailure(std::span<const std::uint8_t> bytes, const Descriptor& type) {
    Walker walker{.bytes = bytes, .problem = {}};
    walker.message(0, bytes.size(), &type, "", 0);
    return walker.problem;
}

} // namespace kpu::onnx_io
