// The DFX disassembler: renders a Program for people (stable text, fit for golden tests) and for
// programs (JSON). Shared by kpu-disasm and the compiler's --emit-dfx, so both print the same.
//
// The output never contains pointers, timestamps or anything host-dependent; integers are
// printed exactly. Text layout (columns are padded to the widest cell of their section):
//
//   ; KPU object  format 1.0  producer "kpu-kernel-compiler 0.1.0"
//   ; source graph "g"  file "g.dfg"  size 1234 bytes        (size only when options.fileSize)
//   ; 3 tensors  1 kernel  9 ops  12 deps
//   tensors (3):
//     #0  A     4x16  f32  constant  src-node 0  256 B
//   kernels (1):
//     k0  MATMUL#3  matmul  node 3  inputs [#0 A, #1 B]  output #2 C
//         iteration [batch 1, M 4, N 4, K 16]  dataflow output-stationary  loop-order b,m,n,k
//         tiling L3 [1, 4, 4, 16]  L2 [1, 4, 4, 16]  ops 0..8 (9)
//   ops (9):
//     0  load     EXT -> L3  #0 A         [0,0,0:4,0:16]          deps -
//     4  compute  L2         k0 MATMUL#3  b=0 m=0:4 n=0:4 k=0:16  acc  deps 1,3
//     8  barrier                                                       deps 4-7
//   hints:
//     external-bytes  384
//     ...
//
// A region prints one entry per dimension: "o" when its extent is 1, else "o:end" (half-open).
// Compute regions name the MatMul dimensions (b, m, n, k). Dependency lists compress runs of
// three or more consecutive ops to "first-last". Compute ops show "acc" when flag bit 0
// (accumulate) is set and "flags 0x.." when other bits are. When the ops section is off but
// deps is on, a "deps (E):" section lists "op <- deps" for ops that have dependencies. Kernel
// inputs broadcast over a batch > 1 are marked "(broadcast)". Names are printed bare unless
// empty or containing spaces, quotes, commas or brackets; then they are quoted with escapes.
// A column empty in every row is dropped. Limited op ranges end with "... showing ops a..b of N".
//
// JSON: one object, one key per line and one record per line inside arrays (fully indented
// JSON would spend ~40 lines per op). Keys in this order; sections not selected are omitted;
// strings absent from the object are null:
//   "format": {"major", "minor"}, "producer", "source_graph", "source_file", "size_bytes"?,
//   "tensors": [{"index", "name", "shape": [..], "dtype": "f32", "role": "constant",
//                "source_node", "bytes"}],
//   "kernels": [{"index", "name", "source_node", "kind": "matmul", "inputs": [..],
//                "output", "iteration_space": [..], "input_batched": [..],
//                "tilings": [{"level": "l3", "tile": [..]}], "dataflow": "output-stationary",
//                "loop_order": [..], "first_op", "op_count"}],
//   "op_count", "op_range"? {"first", "count"} (only when options limit the ops shown),
//   "ops": [{"index", "kind": "data-move" | "compute" | "barrier", "move": "load" (data-move
//            only), "src": "external", "dst": "l3" (for compute: dst = operand level), "flags",
//            "tensor" (data-move) | "kernel" + "accumulate" (compute),
//            "region": {"origin": [4], "extent": [4]}, "deps": [..] (when deps is on)}],
//   "deps": [[..], ..] (only when deps is on and ops is off: one list per op shown),
//   "hints": {"external_bytes", "compute_cycles", "macs", "parallelism", "target_config",
//             "array_rows", "array_cols"} or null when the object has none.
// Memory levels are "external", "l1", "l2", "l3"; other enums use the names in object.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kpu/schema/dfx_generated.h"

namespace kpu::dfx {

// Sections of the dump, as bits of DisasmOptions::sections.
enum class DisasmSection : unsigned {
    Header = 1u << 0,
    Tensors = 1u << 1,
    Kernels = 1u << 2,
    Ops = 1u << 3,
    Deps = 1u << 4,
    Hints = 1u << 5,
};

inline constexpr unsigned kAllDisasmSections = 0x3f;

// "header", "tensors", "kernels", "ops", "deps", "hints" -> the section; nullopt otherwise.
std::optional<DisasmSection> parseDisasmSection(std::string_view name);

struct DisasmOptions {
    unsigned sections = kAllDisasmSections; // OR of DisasmSection bits
    // Ops (and their deps) shown: [opsFirst, opsFirst + opsLimit). Huge objects have millions.
    std::uint64_t opsFirst = 0;
    std::optional<std::uint64_t> opsLimit;
    // Size of the object file in bytes, printed in the header when known.
    std::optional<std::uint64_t> fileSize;

    bool has(DisasmSection s) const { return (sections & static_cast<unsigned>(s)) != 0; }
};

// The Program must be structurally sound (verifyStructure passed, or just built by Pack). The
// semantic checks of loader/verifier.h are not assumed: the compiler prints its own output
// before anyone verified it, so bad cross-references print as "?" instead of being followed.
std::string disassembleText(const Program& program, const DisasmOptions& options);
std::string disassembleJson(const Program& program, const DisasmOptions& options);

} // namespace kpu::dfx
