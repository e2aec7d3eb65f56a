// The DFX disassembler: renders a Program for people (stable text, fit for golden tests) and for
// programs (JSON). Shared by kpu-disasm and the compiler's --emit-dfx, so both print the same.
//
// The output never contains pointers, timestamps or anything host-dependent; integers are
// printed exactly, floating-point parameters in their shortest round-trip form ("6", "1e-05",
// "-inf"). Text layout (columns are padded to the widest cell of their section):
//
//   ; KPU object  format 3.0  producer "kpu-kernel-compiler 0.1.0"
//   ; source graph "g"  file "g.dfg"  size 1234 bytes        (size only when options.fileSize)
//   ; 4 tensors  1 kernel  9 ops  12 deps  2 graph nodes     ("9 ops (1 stored)" with tile loops)
//   tensors (4):
//     #0  A     4x16  f32  constant      src-node 0  256 B
//     #3  Av    64    f32  intermediate  src-node 5  256 B  alias of #0 A
//   kernels (1):
//     k0  fc#3  matmul  node 3  inputs [#0 A, #1 B, #2 b]  output #3 C
//         params: bias=input 2 activation=relu                      (only when any)
//         iteration [batch 1, M 4, N 4, K 16]  dataflow output-stationary  loop-order b,m,n,k
//         tiling L3 [1, 4, 4, 16]  L2 [1, 4, 4, 16]  ops 0..8 (9)
//         tile-loops  load from [EXT, L3]  ready after [-, 5]  store to EXT  4 compute steps  20
//         deps
//                                                             (TileLoops kernels only)
//   graph (2 nodes):
//     g0  matmul  mm  node 3  [#0 A, #1 B] -> #4 mm
//     g1  add     b   node 4  [#4 mm, #2 b] -> #3 C
//   ops (9):
//     0  load     EXT -> L3  #0 A      [0,0,0:4,0:16]          deps -
//     1  reserve  L3         #4 mm     [0,0,0:4,0:4]           deps -
//     4  compute  L2         k0 fc#3   b=0 m=0:4 n=0:4 k=0:16  acc epilogue  deps 1,3
//     8  barrier                                                deps 4-7
//     9..30  tile-loops  k1 ffn#5  22 ops  25 deps           (a TileLoops kernel's ops)
//   hints:
//     external-bytes  384
//     ...
//
// A region prints one entry per dimension: "o" when its extent is 1, else "o:end" (half-open).
// Iteration dimensions are named per kernel kind: MatMul batch/M/N/K (short b, m, n, k), Im2Col
// N/OH/OW/d3 (n, oh, ow, d3), every other kind (and an unknown kernel) d0..d3, the output's 4-D
// view. Dependency lists compress runs of three or more consecutive ops to "first-last". Compute
// ops show "acc" for flag bit 0 (accumulate), "epilogue" for bit 1 (apply bias and activation)
// and "flags 0x.." for bits this reader does not know. A reserve op prints the level, the tensor
// and its (whole-tensor) region. When the ops section is off but deps is on, a "deps (E):"
// section lists "op <- deps" for ops that have dependencies. Kernel inputs broadcast over a
// batch > 1 are marked "(broadcast)". Names are printed bare unless empty or containing spaces,
// quotes, commas or brackets; then they are quoted with escapes. A column empty in every row is
// dropped. Limited op ranges end with "... showing ops a..b of N". Op numbers are program
// indices (format 3.0): the ops of a TileLoops kernel are one "first..last  tile-loops" row (in
// the deps section "first..last <- tile-loops: D deps"), stored ops keep their place between
// them; a record the generator cannot read prints "tile-loops  ? (<error>)" and "?" counts.
// Disassemble the loader's expansion (loader/object_expansion.h) to list generated ops.
//
// Parameters (kernels and graph nodes) print as "params: " and space-separated items, in this
// order: "transpose_b", "bias=input I", "activation=NAME" ("activation=clamp[MIN,MAX]"),
// "axis A", "perm 1,0", "window KHxKW stride SHxSW dilation DHxDW pad T,B,L,R", "padding
// b0,a0,b1,a1,..", "min X max Y", "epsilon E", "pad_value V". An item is printed when its value
// differs from the schema default, and always for the parameters that define the kind (axis of
// concat, reductions, softmax and layernorm; perm of transpose; window of pools, depthwise,
// im2col and conv2d; padding of pad; min and max of clamp). No params: nothing printed.
//
// JSON: one object, one key per line and one record per line inside arrays (fully indented
// JSON would spend ~40 lines per op). Keys in this order; sections not selected are omitted;
// strings absent from the object are null:
//   "format": {"major", "minor"}, "producer", "source_graph", "source_file", "size_bytes"?,
//   "tensors": [{"index", "name", "shape": [..], "dtype": "f32", "role": "constant",
//                "source_node", "bytes", "alias_of" (-1: owns its storage)}],
//   "kernels": [{"index", "name", "source_node", "kind": "matmul", "inputs": [..],
//                "output", "iteration_space": [..], "input_batched": [..],
//                "tilings": [{"level": "l3", "tile": [..]}], "dataflow": "output-stationary",
//                "loop_order": [..], "first_op", "op_count", "params", "ops_encoding":
//                "explicit" | "tile-loops", "input_levels": ["external" | "l3", ..],
//                "input_ready": [..], "output_level"}],
//   "graph": [{"index", "kind", "name", "source_node", "inputs": [..], "output", "params"}],
//   "op_count" (program ops), "op_range"? {"first", "count"} (only when options limit the ops
//   shown; program indices),
//   "ops": [{"index", "kind": "data-move" | "compute" | "barrier" | "reserve", "move": "load"
//            (data-move only), "src": "external", "dst": "l3" (for compute: dst = operand
//            level), "flags", "tensor" (data-move, reserve) | "kernel" + "accumulate" +
//            "epilogue" (compute), "region": {"origin": [4], "extent": [4]}, "deps": [..]
//            (when deps is on)}, or for a TileLoops kernel's ops {"index" (its first op),
//            "kind": "tile-loops", "kernel", "op_count", "dep_count" (null: malformed)}],
//   "deps": [[..], ..] (only when deps is on and ops is off: one list per stored op shown, the
//            tile-loops record for a TileLoops kernel's ops),
//   "hints": {"external_bytes", "compute_cycles", "macs", "parallelism", "target_config",
//             "array_rows", "array_cols"} or null when the object has none.
// "params" is null when the kernel or node has no params table, else every field:
//   {"axis", "perm": [..], "window": [..], "padding": [..], "min", "max", "epsilon",
//    "pad_value", "transpose_b", "bias_input", "activation": "none" | "relu" | ...};
// a non-finite double is the string "inf", "-inf" or "nan" (JSON has no such numbers).
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
    Graph = 1u << 6, // the source graph's nodes (Program.graph)
};

inline constexpr unsigned kAllDisasmSections = 0x7f;

// "header", "tensors", "kernels", "graph", "ops", "deps", "hints" -> the section; nullopt
// otherwise.
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
