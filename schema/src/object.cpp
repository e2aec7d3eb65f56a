#include "kpu/schema/object.h"

#include <array>
#include <cctype>
#include <string>

#include "kpu/common/operator.h"

#include <flatbuffers/flatbuffers.h>

namespace kpu::dfx {

Expected<const Program*> verifyStructure(std::span<const std::uint8_t> bytes,
                                         std::string_view sourceName) {
    // Smallest possible FlatBuffer: root offset + file identifier.
    if (bytes.size() < 8)
        return fail("{}: error: file is too small to be a KPU object ({} bytes)", sourceName,
                    bytes.size());
    if (bytes.size() >= FLATBUFFERS_MAX_BUFFER_SIZE)
        return fail("{}: error: file is too large ({} bytes)", sourceName, bytes.size());
    if (!ProgramBufferHasIdentifier(bytes.data())) {
        std::string_view found(reinterpret_cast<const char*>(bytes.data()) + 4, 4);
        std::string printable;
        for (char c : found)
            printable += (c >= 32 && c < 127) ? c : '?';
        return fail("{}: error: not a KPU object: file identifier is '{}', expected '{}'",
                    sourceName, printable, kFileIdentifier);
    }
    flatbuffers::Verifier verifier(bytes.data(), bytes.size(), kMaxDepth, kMaxTables);
    if (!VerifyProgramBuffer(verifier))
        return fail("{}: error: corrupt KPU object: FlatBuffers verification failed (bad offset, "
                    "truncated table or vector out of bounds)",
                    sourceName);
    const Program* program = GetProgram(bytes.data());
    if (program->format_major() != kFormatMajor)
        // Minor versions only add fields older readers may ignore; the major version must match.
        return fail("{}: error: object format version {}.{} is not supported; this loader reads "
                    "version {}.x",
                    sourceName, program->format_major(), program->format_minor(), kFormatMajor);
    return program;
}

std::string_view memoryLevelName(MemoryLevel level) {
    switch (level) {
    case MemoryLevel::External:
        return "EXT";
    case MemoryLevel::L3:
        return "L3";
    case MemoryLevel::L2:
        return "L2";
    case MemoryLevel::L1:
        return "L1";
    }
    return "?";
}

std::string_view moveKindName(MoveKind kind) {
    switch (kind) {
    case MoveKind::Load:
        return "load";
    case MoveKind::Prefetch:
        return "prefetch";
    case MoveKind::Store:
        return "store";
    case MoveKind::Flush:
        return "flush";
    }
    return "?";
}

std::string_view tensorRoleName(TensorRole role) {
    switch (role) {
    case TensorRole::Input:
        return "input";
    case TensorRole::Constant:
        return "constant";
    case TensorRole::Output:
        return "output";
    case TensorRole::Intermediate:
        return "intermediate";
    }
    return "?";
}

std::string_view dataflowName(Dataflow dataflow) {
    switch (dataflow) {
    case Dataflow::OutputStationary:
        return "output-stationary";
    case Dataflow::WeightStationary:
        return "weight-stationary";
    case Dataflow::InputStationary:
        return "input-stationary";
    }
    return "?";
}

std::string_view kernelKindName(KernelKind kind) {
    // The operator's .dfg spelling in lower case: "matmul", "depthwise_conv2d", ...
    static const std::array<std::string, kOperatorCount> names = [] {
        std::array<std::string, kOperatorCount> n;
        for (int i = 0; i < kOperatorCount; ++i) {
            n[static_cast<std::size_t>(i)] = operatorName(static_cast<Operator>(i));
            for (char& c : n[static_cast<std::size_t>(i)])
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        return n;
    }();
    const auto i = static_cast<std::size_t>(kind);
    return i < names.size() ? std::string_view(names[i]) : std::string_view("?");
}

} // namespace kpu::dfx
