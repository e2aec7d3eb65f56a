// Where a serialized protobuf message stops parsing, for errors that name the place: protobuf's
// ParseFromArray says only that it failed.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace google::protobuf {
class Descriptor;
}

namespace kpu::onnx_io {

// Walks the wire format of `bytes` as a `type` message, descending into the fields the
// descriptor declares as messages, and describes the first place that is malformed:
// "at byte 0x1a (graph.node[2].attribute[0]): field 5 needs 40 bytes, 12 are left".
// Returns "" when the wire format is well formed (the failure is elsewhere, e.g. a missing
// required field).
std::string locateParseFailure(std::span<const std::uint8_t> bytes,
                               const google::protobuf::Descriptor& type);

} // namespace kpu::onnx_io
