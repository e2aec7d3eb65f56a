#include "kpu/schema/object.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

#include <flatbuffers/flatbuffers.h>

#include "kpu/common/operator.h"

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
    if (program->format_major() < kOldestFormatMajor || program->format_major() > kFormatMajor)
        // Minor versions only add fields older readers may ignore; the major version must be one
        // this reader understands (each major version is a subset of the next).
        return fail("{}: error: object format version {}.{} is not supported; this loader reads "
                    "versions {}.x to {}.x",
                    sourceName, program->format_major(), program->format_minor(),
                    kOldestFormatMajor, kFormatMajor);
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

OpParams toOpParams(const KernelParams* t) {
    OpParams p;
    if (!t)
        return p;
    p.axis = t->axis();
    if (t->perm())
        for (flatbuffers::uoffset_t i = 0; i < t->perm()->size() && i < p.perm.size(); ++i)
            p.perm[i] = t->perm()->Get(i);
    if (const auto* w = t->window(); w && w->size() >= 10) {
        p.kernelH = w->Get(0), p.kernelW = w->Get(1);
        p.strideH = w->Get(2), p.strideW = w->Get(3);
        p.dilationH = w->Get(4), p.dilationW = w->Get(5);
        p.padTop = w->Get(6), p.padBottom = w->Get(7), p.padLeft = w->Get(8),
        p.padRight = w->Get(9);
    }
    if (t->padding())
        for (flatbuffers::uoffset_t i = 0; i < t->padding()->size() && i < p.padding.size(); ++i)
            p.padding[i] = t->padding()->Get(i);
    p.min = t->min();
    p.max = t->max();
    p.epsilon = t->epsilon();
    p.padValue = t->pad_value();
    p.transposeB = t->transpose_b();
    p.biasInput = t->bias_input();
    p.activation = static_cast<kpu::Activation>(t->activation());
    return p;
}

std::unique_ptr<KernelParamsT> toKernelParamsT(Operator op, const OpParams& p, std::size_t rank) {
    auto t = std::make_unique<KernelParamsT>();
    t->axis = p.axis;
    t->min = p.min;
    t->max = p.max;
    t->epsilon = p.epsilon;
    t->pad_value = p.padValue;
    t->transpose_b = p.transposeB;
    t->bias_input = p.biasInput;
    t->activation = static_cast<dfx::Activation>(p.activation);
    switch (op) {
    case Operator::Transpose:
        t->perm.assign(p.perm.begin(), p.perm.begin() + std::min(rank, p.perm.size()));
        break;
    case Operator::Pad:
        t->padding.assign(p.padding.begin(),
                          p.padding.begin() + std::min(2 * rank, p.padding.size()));
        break;
    case Operator::Conv2D:
    case Operator::DepthwiseConv2D:
    case Operator::MaxPool2D:
    case Operator::AvgPool2D:
    case Operator::Im2Col:
        t->window = {p.kernelH,   p.kernelW, p.strideH,   p.strideW, p.dilationH,
                     p.dilationW, p.padTop,  p.padBottom, p.padLeft, p.padRight};
        break;
    default:
        break;
    }
    return t;
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
