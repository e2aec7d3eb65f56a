// Reader for Domain Flow Graph text files (.dfg, the domain_flow library's format).
// It accepts the current writer's grammar and every quirk of real files (BRIEF §3): missing
// header, arbitrary node order, 5-field EDGE lines, 6-field NODE lines without the leading '|',
// types without 'slot:' prefixes, unbalanced 'tensor<...' types, bracket-aware attribute values,
// dynamic '?' dimensions, no final newline.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kpu/common/dtype.h"
#include "kpu/common/error.h"
#include "kpu/common/shape.h"

namespace kpu::dfg {

// Where something was written, for diagnostics ("file:line:col").
struct SourceLoc {
    std::uint32_t line = 0; // 1-based; 0 = unknown
    std::uint32_t column = 0;
};

// A type as written, e.g. "tensor<?x224x224x3xf32>". `dims` uses -1 for a dynamic '?'.
struct TypeText {
    std::string text;               // verbatim
    std::vector<std::int64_t> dims; // parsed dimensions (empty for a scalar or if unparsable)
    std::optional<DType> dtype;     // nullopt when the text carries no element type
    bool parsed = false;            // false when the text is not a recognisable tensor type
    SourceLoc loc;                  // where the type was written (0:0 for synthesised types)

    // A complete tensor type: recognisable and with an element type.
    bool complete() const { return parsed && dtype.has_value(); }
};

struct Attribute {
    std::string key;
    std::string value; // verbatim, e.g. "array<i64: 1, 1>" or "3.40282347E+38 : f32"
};

struct Node {
    std::int64_t id = 0;
    std::string name; // e.g. "tosa.conv2d", "const.A", "2-input MATMUL"
    std::string op;   // operator spelling, e.g. "MATMUL"
    std::int64_t depth = 0;
    std::vector<TypeText> operandTypes; // by operand slot
    std::vector<Attribute> attributes;
    std::vector<std::string> resultNames; // by result slot
    std::vector<TypeText> resultTypes;    // by result slot
    bool hasAttributeField = true;        // false for the 6-field NODE form (no attribute field)
    SourceLoc loc;                        // the NODE keyword
    SourceLoc idLoc;                      // the node id
    SourceLoc nameLoc;
};

struct Edge {
    std::int64_t src = 0;
    std::int64_t dst = 0;
    std::int64_t flow = 0;
    bool stationary = false;
    TypeText shape;
    std::int64_t scalarBits = 0;
    std::optional<std::int64_t> srcSlot; // absent in 5-field (old) EDGE lines
    std::optional<std::int64_t> dstSlot;
    std::vector<std::int64_t> schedule; // tau vector
    SourceLoc loc;                      // the EDGE keyword
    SourceLoc srcLoc;                   // the source node id
    SourceLoc dstLoc;                   // the destination node id
    SourceLoc srcSlotLoc;               // the slot fields (the shape field for 5-field lines)
    SourceLoc dstSlotLoc;
};

struct File {
    std::string name;                  // from the "Domain Flow Graph:" header; empty when absent
    std::vector<Node> nodes;           // in file order
    std::vector<Edge> edges;           // in file order
    std::vector<std::int64_t> sources; // SOURCE: line, if present
    std::vector<std::int64_t> sinks;   // SINK: line, if present
    bool hasSources = false;
    bool hasSinks = false;
    SourceLoc sinksLoc;
    // Non-fatal findings ("file:line: warning: ..."), e.g. a NODES count that disagrees with the
    // NODE lines present (no real file does this; the lines present win).
    std::vector<std::string> warnings;
};

// Largest operand/result slot number accepted (slots are also bounded by the number of items
// a node declares plus the edges it has, so no input can make the builder allocate much).
inline constexpr std::int64_t kMaxSlot = 65535;

// Parses .dfg text. Errors are "<fileName>:<line>:<col>: error: <message>".
Expected<File> parse(std::string_view text, std::string_view fileName);
Expected<File> parseFile(const std::string& path);

// Parses a type such as "tensor<4x16xf32>", "tensor<tensor<4x16xf32>", "tensor<4x256>",
// "1xi32" or "f32". Never fails: unrecognisable text gives parsed = false.
TypeText parseType(std::string_view text);

} // namespace kpu::dfg
