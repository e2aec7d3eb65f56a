// A bound schedule: what the loader's binder produces and the simulator executes. It knows
// memories, engines and byte addresses, and nothing of DFX objects or graphs.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kpu/common/dtype.h"
#include "kpu/common/operator.h"

namespace kpu::sim {

// Memory levels, farthest from the array first.
enum class Level : std::uint8_t { External = 0, L3 = 1, L2 = 2, L1 = 3 };
inline constexpr int kLevelCount = 4;

enum class EngineKind : std::uint8_t { Dma = 0, BlockMover = 1, Streamer = 2, Array = 3 };
inline constexpr int kEngineKindCount = 4;

// How a GEMM is mapped onto the R x C array (docs/timing-model.md): which operand stays in the
// processing elements during a fold, and which dimension streams through.
//   output-stationary: rows = M, cols = N, stream = K
//   weight-stationary: rows = K, cols = N, stream = M
//   input-stationary:  rows = K, cols = M, stream = N
enum class Dataflow : std::uint8_t { Output = 0, Weight = 1, Input = 2 };
const char* dataflowName(Dataflow d); // "os", "ws", "is"

const char* levelName(Level level);       // "EXT", "L3", "L2", "L1"
const char* engineKindName(EngineKind k); // "dma", "block_mover", "streamer", "array"

// A byte address in one level. Each level is one flat address space made of its memories
// laid end to end (external banks, L3 tiles, L2 banks, L1 buffers): memory i covers
// [i * capacity, (i + 1) * capacity). A tile may straddle two memories.
struct Address {
    Level level = Level::External;
    std::uint64_t offset = 0;
};

// Copy a 4-D box of elements: element (i0,i1,i2,i3) moves from src.offset + sum(i_d * srcStride_d)
// to dst.offset + sum(i_d * dstStride_d). Strides in bytes.
struct MoveOp {
    Address src, dst;
    std::array<std::uint64_t, 4> srcStrides{}, dstStrides{};
    std::array<std::uint32_t, 4> extent{};
    std::uint32_t elementBytes = 4;
};

// One pass of the processor array: out[m x n] = init[m x n] + a[m x k] * b[k x n] (init
// omitted: 0). All operands are packed row-major blocks in L1. Computed in f64 when any operand
// is f64, else in f32; storage types are converted on the way in and out.
//
// An epilogue (the fused bias and activation of the kernel's last pass) is applied to the
// m x n result before it is stored: out[i][j] = act(result[i][j] + bias[j]).
struct ArrayOp {
    std::uint32_t m = 0, n = 0, k = 0;
    // Timing only: the pass is one chunk of a fold of `dataflow`; the first chunk of a fold pays
    // the fill and drain (2R + C - 2 cycles), later chunks only their stream length.
    Dataflow dataflow = Dataflow::Output;
    bool foldStart = true;
    Address a, b, init, out;
    DType aType = DType::F32, bType = DType::F32, initType = DType::F32, outType = DType::F32;
    bool hasInit = false;
    // Epilogue.
    bool hasBias = false;
    Address bias; // n packed elements in L1
    DType biasType = DType::F32;
    Activation activation = Activation::None;
    double activationMin = 0, activationMax = 0; // Activation::Clamp
};

// One operand of a vector op: a packed row-major block in L1 holding `region` of a tensor
// whose whole 4-D view is `view`. Window and broadcast operators find an element's place in
// the block from its global coordinates minus the region's origin.
struct VectorOperand {
    Address at;
    DType dtype = DType::F32;
    std::array<std::uint32_t, 4> origin{}, extent{1, 1, 1, 1};
    std::array<std::uint64_t, 4> view{1, 1, 1, 1};
};

// One pass of the array's processing elements over a tile, for every operator but MatMul
// (docs/operators.md): `output` receives the tile `output.origin/extent` of the output tensor.
// Parameters are in 4-D view terms (axis, perm, padding). Computed in f64 when any operand is
// f64, else in f32.
struct VectorOp {
    Operator kind = Operator::Add;
    OpParams params;
    std::vector<VectorOperand> inputs;
    VectorOperand output;
};

enum class OpType : std::uint8_t { Move, Array, Barrier, Vector };

// One op of the bound schedule: what the timing model needs of every op (engine, duration,
// dependencies' kind), plus an index into the schedule's table for its kind (moves, array passes
// or vector passes). Kept small because big programs bind to millions of ops.
struct BoundOp {
    OpType type = OpType::Barrier;
    EngineKind engine = EngineKind::Array;
    // A load into L3 or L2 of a DFX Load/Prefetch: its double-buffer slot (0 .. slots-1) and the
    // prefetch distance (how many tile steps ahead of the compute it may run). slots == 0: none.
    std::uint8_t slot = 0, slots = 0, prefetchDistance = 0;
    // The engines that may perform the op: engineIndex + j * engineStride for j < engineChoices
    // (e.g. the DMA engines serving one external bank). The simulator takes the one free first.
    std::uint32_t engineIndex = 0;
    std::uint32_t engineStride = 1;
    std::uint32_t engineChoices = 1;
    std::uint32_t sourceOp = 0; // index of the DFX op this was bound or expanded from
    // Move: first-byte latency of the farther level. Pipelined: it delays the data phase after
    // the op is ready but does not occupy the engine (the engine may stream another move's data).
    std::uint32_t latency = 0;
    // The last `spaceDeps` of the op's dependencies wait for space (the last reader of reused
    // memory, or the prefetch window), the others for data; the report's stall breakdown uses it.
    std::uint32_t spaceDeps = 0;
    // Index into Schedule::moves, arrays or vectorOps (by type); unused for barriers.
    std::uint32_t payload = 0;
    std::uint64_t bytes = 0; // bytes moved (Move) or 0
    // Duration on the engine, from the timing model (filled in by the binder): for a move the
    // data phase, ceil(bytes / bytes-per-cycle); for a pass its array cycles.
    std::uint64_t cycles = 0;
};

// Ops under construction, with their payloads (the binder and tests build these; the schedule
// stores the header and the payload apart).
struct MoveSpec : BoundOp {
    MoveOp move;
};
struct ArraySpec : BoundOp {
    ArrayOp array;
};

// Where a tensor lives in external memory (row-major, dense, level-global offset).
struct TensorPlacement {
    std::string name;
    std::uint64_t offset = 0;
    std::uint64_t bytes = 0;
    // No op writes it (a graph input or constant, or a view of one): the functional model may
    // read the tiles loaded from it in place (docs/timing-model.md, "Functional execution").
    bool readOnly = false;
};

struct MemoryGeometry {
    std::uint32_t count = 0;    // memories at this level
    std::uint64_t capacity = 0; // bytes each
};

struct Schedule {
    std::array<MemoryGeometry, kLevelCount> memories{};
    std::array<std::uint32_t, kEngineKindCount> engineCounts{};
    std::vector<BoundOp> ops; // a valid topological order of the dependencies
    // Dependencies in CSR form: op i waits for deps[depOffsets[i] .. depOffsets[i+1]).
    std::vector<std::uint32_t> depOffsets{0};
    std::vector<std::uint32_t> deps;
    // Payloads of the ops, by type (BoundOp::payload indexes them).
    std::vector<MoveOp> moves;
    std::vector<ArrayOp> arrays;
    std::vector<VectorOp> vectorOps;
    std::vector<TensorPlacement> tensors; // indexed like the object's tensors
    // Loads the binder left out because the tile was still resident at that level (per level:
    // tiles and bytes not moved), and the compulsory external traffic: every byte of the graph's
    // inputs and constants read once and of its outputs written once.
    std::array<std::uint64_t, kLevelCount> reusedTiles{}, reusedBytes{};
    std::uint64_t compulsoryExternalBytes = 0;

    const MoveOp& move(const BoundOp& op) const { return moves[op.payload]; }
    const ArrayOp& array(const BoundOp& op) const { return arrays[op.payload]; }
    const VectorOp& vector(const BoundOp& op) const { return vectorOps[op.payload]; }

    // Appends an op (a barrier, or `op` with its payload) and returns its index. `spaceDeps` are
    // appended after `opDeps` and recorded in BoundOp::spaceDeps.
    std::uint32_t add(BoundOp op, std::span<const std::uint32_t> opDeps,
                      std::span<const std::uint32_t> spaceDeps = {}) {
        op.spaceDeps = static_cast<std::uint32_t>(spaceDeps.size());
        ops.push_back(op);
        deps.insert(deps.end(), opDeps.begin(), opDeps.end());
        deps.insert(deps.end(), spaceDeps.begin(), spaceDeps.end());
        depOffsets.push_back(static_cast<std::uint32_t>(deps.size()));
        return static_cast<std::uint32_t>(ops.size() - 1);
    }
    std::uint32_t add(BoundOp op, const MoveOp& move, std::span<const std::uint32_t> opDeps,
                      std::span<const std::uint32_t> spaceDeps = {}) {
        op.type = OpType::Move;
        op.payload = static_cast<std::uint32_t>(moves.size());
        moves.push_back(move);
        return add(op, opDeps, spaceDeps);
    }
    std::uint32_t add(BoundOp op, const ArrayOp& pass, std::span<const std::uint32_t> opDeps,
                      std::span<const std::uint32_t> spaceDeps = {}) {
        op.type = OpType::Array;
        op.payload = static_cast<std::uint32_t>(arrays.size());
        arrays.push_back(pass);
        return add(op, opDeps, spaceDeps);
    }
    std::uint32_t add(BoundOp op, VectorOp&& pass, std::span<const std::uint32_t> opDeps,
                      std::span<const std::uint32_t> spaceDeps = {}) {
        op.type = OpType::Vector;
        op.payload = static_cast<std::uint32_t>(vectorOps.size());
        vectorOps.push_back(std::move(pass));
        return add(op, opDeps, spaceDeps);
    }
    std::uint32_t add(const MoveSpec& op, std::span<const std::uint32_t> opDeps,
                      std::span<const std::uint32_t> spaceDeps = {}) {
        return add(static_cast<const BoundOp&>(op), op.move, opDeps, spaceDeps);
    }
    std::uint32_t add(const ArraySpec& op, std::span<const std::uint32_t> opDeps,
                      std::span<const std::uint32_t> spaceDeps = {}) {
        return add(static_cast<const BoundOp&>(op), op.array, opDeps, spaceDeps);
    }
    std::span<const std::uint32_t> depsOf(std::size_t i) const {
        return std::span(deps).subspan(depOffsets[i], depOffsets[i + 1] - depOffsets[i]);
    }

    // The host memory the schedule's vectors hold (their capacities), what the loader's memory
    // limit counts while binding. A vector op's operands are counted as two per op (most have
    // one or two inputs; summing them exactly would cost a pass over every op).
    std::uint64_t hostBytes() const {
        return ops.capacity() * sizeof(BoundOp) +
               (depOffsets.capacity() + deps.capacity()) * sizeof(std::uint32_t) +
               moves.capacity() * sizeof(MoveOp) + arrays.capacity() * sizeof(ArrayOp) +
               vectorOps.capacity() * (sizeof(VectorOp) + 2 * sizeof(VectorOperand)) +
               tensors.capacity() * sizeof(TensorPlacement);
    }
};

} // namespace kpu::sim
