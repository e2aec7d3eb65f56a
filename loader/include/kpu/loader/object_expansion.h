// Expansion of a verified object into an explicit program: every TileLoops kernel's ops
// (format 3.0, schema/include/kpu/schema/tile_loops.h) generated and placed at their op indices,
// so everything downstream (binder, reports, traces, the disassembler's --expand) reads
// Program.ops and the dependency arrays as if the compiler had stored every op.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include <flatbuffers/flatbuffers.h>

#include "kpu/common/error.h"
#include "kpu/loader/host_memory.h"
#include "kpu/schema/object.h"

namespace kpu::loader {

// Whether any kernel of the program is a TileLoops kernel (the program needs expanding).
bool hasTileLoops(const dfx::Program& program);

// The explicit program of `object`, which must have passed verifyObject: a finished Program
// FlatBuffer with the same tensors, kernels (their ops_encoding Explicit), graph and hints,
// whose ops and dependencies are the expanded ones. Its size is bounded by the verifier's
// limits (dfx::kMaxProgramOps, dfx::kMaxProgramDeps), and it is computed before anything is
// allocated: the errors are an expansion past `hostMemoryLimit` (host_memory.h) or past the
// 2 GiB a FlatBuffer holds ("<sourceName>: error: ...").
Expected<flatbuffers::DetachedBuffer>
expandProgram(std::span<const std::uint8_t> object, std::string_view sourceName,
              std::uint64_t hostMemoryLimit = kNoHostMemoryLimit);

} // namespace kpu::loader
