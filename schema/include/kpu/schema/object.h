// Object-level helpers for DFX programs: the format version, the structural (first-stage)
// verification, and the semantic (second-stage) checks live in loader/verifier.h.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "kpu/common/dtype.h"
#include "kpu/common/error.h"
#include "kpu/common/operator.h"
#include "kpu/schema/dfx_generated.h"

namespace kpu::dfx {

// The version this toolchain writes. Readers accept every major version from kOldestFormatMajor
// to kFormatMajor: each is a subset of the next (2.x has no TileLoops kernels, 3.x no constant
// data or static inputs).
inline constexpr std::uint16_t kFormatMajor = 4;
inline constexpr std::uint16_t kFormatMinor = 0;
inline constexpr std::uint16_t kOldestFormatMajor = 2;
inline constexpr std::string_view kFileIdentifier = "KPUX";
// Compute op flag bits (Op.flags).
inline constexpr std::uint32_t kAccumulateFlag = 1u << 0; // add into the running output tile
inline constexpr std::uint32_t kEpilogueFlag = 1u << 1;   // last K step: bias + activation
inline constexpr std::uint32_t kKnownComputeFlags = kAccumulateFlag | kEpilogueFlag;
// Bounds the FlatBuffers verifier enforces while walking an untrusted object.
inline constexpr std::uint32_t kMaxTables = 50'000'000;
inline constexpr std::uint32_t kMaxDepth = 32;

// Stage one of loading an untrusted object: size, file identifier, FlatBuffers Verifier,
// version gate. Errors are "<sourceName>: error: ...". On success the Program may be read
// without out-of-bounds risk; its semantic consistency is checked by loader/verifier.h.
Expected<const Program*> verifyStructure(std::span<const std::uint8_t> bytes,
                                         std::string_view sourceName);

// Where a buffer that fails FlatBuffers verification is corrupt. The FlatBuffers Verifier only
// answers yes or no, so verifyStructure re-verifies the failed buffer piece by piece (the root
// offset, the root table, each field of it, each element of a vector of tables, each field of
// that element) and reports the first piece that fails: its byte offset in the file, its table
// path ("tensors[3].shape", "kernels[0].params", "the root table", "the buffer header") and
// why, in words ("offset out of bounds: ...", "vector past the end of the buffer: ...",
// "string not terminated: ...").
struct CorruptionSite {
    std::size_t offset = 0;
    std::string path;
    std::string reason;
};

// The first corrupt piece of `bytes`, which must have passed the size and file identifier checks
// of verifyStructure; nullopt when the buffer verifies.
std::optional<CorruptionSite> locateCorruption(std::span<const std::uint8_t> bytes);

// Conversions between the object's enums and the toolchain's.
inline DType toDType(kpu::DType t) {
    return static_cast<DType>(t);
}
inline kpu::DType fromDType(DType t) {
    return static_cast<kpu::DType>(t);
}

// A tensor's shape; empty for a scalar (the object API leaves an empty vector out).
inline std::span<const std::int64_t> tensorShape(const Tensor& t) {
    return t.shape() ? std::span<const std::int64_t>(t.shape()->data(), t.shape()->size())
                     : std::span<const std::int64_t>();
}

inline Operator toOperator(KernelKind k) {
    return static_cast<Operator>(k);
}
inline KernelKind toKernelKind(Operator op) {
    return static_cast<KernelKind>(op);
}

// Kernel / graph-node parameters between the object's table and the toolchain's record.
// Absent table or fields: the defaults. Vectors longer than the record holds are cut (the
// semantic verifier refuses them first). `rank` is the rank of the tensor the operator's
// perm / padding describe (TRANSPOSE, PAD).
OpParams toOpParams(const KernelParams* table);
std::unique_ptr<KernelParamsT> toKernelParamsT(Operator op, const OpParams& params,
                                               std::size_t rank);

std::string_view memoryLevelName(MemoryLevel level); // "EXT", "L3", "L2", "L1"
std::string_view moveKindName(MoveKind kind);        // "load", "prefetch", "store", "flush"
std::string_view tensorRoleName(TensorRole role); // "input", "constant", "output", "intermediate"
std::string_view dataflowName(Dataflow dataflow); // "output-stationary", ...
std::string_view kernelKindName(KernelKind kind); // "matmul", "depthwise_conv2d", ...

} // namespace kpu::dfx
