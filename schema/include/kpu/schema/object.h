// Object-level helpers for DFX programs: the format version, the structural (first-stage)
// verification, and the semantic (second-stage) checks live in loader/verifier.h.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "kpu/common/dtype.h"
#include "kpu/common/error.h"
#include "kpu/schema/dfx_generated.h"

namespace kpu::dfx {

inline constexpr std::uint16_t kFormatMajor = 2;
inline constexpr std::uint16_t kFormatMinor = 0;
inline constexpr std::string_view kFileIdentifier = "KPUX";
// Bounds the FlatBuffers verifier enforces while walking an untrusted object.
inline constexpr std::uint32_t kMaxTables = 50'000'000;
inline constexpr std::uint32_t kMaxDepth = 32;

// Stage one of loading an untrusted object: size, file identifier, FlatBuffers Verifier,
// version gate. Errors are "<sourceName>: error: ...". On success the Program may be read
// without out-of-bounds risk; its semantic consistency is checked by loader/verifier.h.
Expected<const Program*> verifyStructure(std::span<const std::uint8_t> bytes,
                                         std::string_view sourceName);

// Conversions between the object's enums and the toolchain's.
inline DType toDType(kpu::DType t) {
    return static_cast<DType>(t);
}
inline kpu::DType fromDType(DType t) {
    return static_cast<kpu::DType>(t);
}

std::string_view memoryLevelName(MemoryLevel level); // "EXT", "L3", "L2", "L1"
std::string_view moveKindName(MoveKind kind);        // "load", "prefetch", "store", "flush"
std::string_view tensorRoleName(TensorRole role); // "input", "constant", "output", "intermediate"
std::string_view dataflowName(Dataflow dataflow); // "output-stationary", ...
std::string_view kernelKindName(KernelKind kind); // "matmul", "depthwise_conv2d", ...

} // namespace kpu::dfx
