#include "kpu/schema/tile_loops.h"

#include <algorithm>

#include <fmt/ranges.h>

#include "kpu/common/shape.h"

namespace kpu::dfx {
namespace {

std::uint64_t ceilDiv(std::uint64_t a, std::uint64_t b) {
    return (a + b - 1) / b;
}

// Checked arithmetic: false on overflow (the result is then meaningless).
bool mulAdd(std::uint64_t& acc, std::uint64_t a, std::uint64_t b) {
    std::uint64_t product = 0;
    return !__builtin_mul_overflow(a, b, &product) && !__builtin_add_overflow(acc, product, &acc);
}

bool onChip(MemoryLevel level) {
    return level == MemoryLevel::L3;
}

// Ops and dependencies of loading one tile of input `i`: EXT->L3->L2 or L3->L2, the first move
// depending on the input's ready op (when any), the L3->L2 move of a two-move chain on the first.
std::uint64_t loadOps(const TileLoops& l, std::size_t i) {
    return onChip(l.inputLevels[i]) ? 1 : 2;
}
std::uint64_t loadDeps(const TileLoops& l, std::size_t i) {
    return (l.inputReady[i] >= 0 ? 1 : 0) + (onChip(l.inputLevels[i]) ? 0 : 1);
}

} // namespace

Expected<TileLoopCounts> countTileLoops(const TileLoops& l) {
    const auto& space = l.shape.iteration;
    const std::uint64_t storeOps = onChip(l.outputLevel) ? 1 : 2; // one dependency each
    const bool matmul = l.shape.kind == Operator::MatMul;
    // A group is an output tile: its K steps (MatMul; vector kinds have one step), its stores.
    std::uint64_t groups = 1;
    for (std::size_t d = 0; d < (matmul ? 3 : 4); ++d) {
        std::uint64_t next = 0;
        if (!mulAdd(next, groups, ceilDiv(space[d], l.tile[d])))
            return fail("op_count: the tile loops overflow 64 bits");
        groups = next;
    }
    const std::uint64_t steps = matmul ? ceilDiv(space[3], l.tile[3]) : 1;
    // Per step: the loads of the inputs read at every step, and the Compute depending on them.
    std::uint64_t stepOps = 1, stepDeps = 0;
    // Per group: inputs read once (a MatMul's C and bias), the accumulation chain, the stores.
    std::uint64_t onceOps = storeOps, onceDeps = storeOps + (steps - 1);
    for (std::size_t i = 0; i < l.inputs.size(); ++i) {
        const bool everyStep = !matmul || i < 2;
        (everyStep ? stepOps : onceOps) += loadOps(l, i);
        (everyStep ? stepDeps : onceDeps) += loadDeps(l, i) + 1; // + the Compute's dependency
    }
    std::uint64_t groupOps = onceOps, groupDeps = onceDeps + 1; // + the Barrier's dependency
    TileLoopCounts counts{.ops = 1, .deps = 0};                 // the Barrier
    if (!mulAdd(groupOps, steps, stepOps) || !mulAdd(groupDeps, steps, stepDeps) ||
        !mulAdd(counts.ops, groups, groupOps) || !mulAdd(counts.deps, groups, groupDeps) ||
        counts.ops > kMaxProgramOps || counts.deps > kMaxProgramDeps)
        return fail("op_count: the tile loops expand to more than {} ops or {} dependencies (the "
                    "program limit)",
                    kMaxProgramOps, kMaxProgramDeps);
    return counts;
}

namespace {

// Where generated ops go: op(o) appends an op whose dependencies are the dep(d) calls since the
// previous op.
struct VectorSink {
    std::vector<Op>& ops;
    std::vector<std::uint32_t>& offsets;
    std::vector<std::uint32_t>& indices;

    void op(const Op& o) {
        ops.push_back(o);
        offsets.push_back(static_cast<std::uint32_t>(indices.size()));
    }
    void dep(std::uint32_t d) { indices.push_back(d); }
};

struct CursorSink {
    OpCursor& at;

    void op(const Op& o) {
        *at.op++ = o;
        *at.depEnd++ = at.depCount;
    }
    void dep(std::uint32_t d) {
        *at.dep++ = d;
        ++at.depCount;
    }
};

template <class Sink>
void generate(const TileLoops& l, Sink& sink) {
    std::uint32_t next = l.firstOp; // expanded index of the next op
    auto emit = [&](const Op& op) {
        sink.op(op);
        return next++;
    };
    auto move = [](MoveKind kind, MemoryLevel from, MemoryLevel to, std::uint32_t tensor,
                   const Box& box) {
        return Op(OpKind::DataMove, kind, from, to, 0, tensor, toRegion(box));
    };
    std::vector<std::uint32_t> loaded, finals;
    std::uint32_t lastCompute = 0;
    forEachTileStep(l, [&](const TileStep& step) {
        const MoveKind kind = step.first ? MoveKind::Load : MoveKind::Prefetch;
        loaded.clear();
        for (std::size_t i = 0; i < l.inputs.size(); ++i) {
            if (!readsInput(l, i, step))
                continue;
            const Box box = inputBox(l.shape, i, step.tile);
            if (l.inputReady[i] >= 0)
                sink.dep(static_cast<std::uint32_t>(l.inputReady[i]));
            if (!onChip(l.inputLevels[i]))
                sink.dep(
                    emit(move(kind, MemoryLevel::External, MemoryLevel::L3, l.inputs[i], box)));
            loaded.push_back(emit(move(kind, MemoryLevel::L3, MemoryLevel::L2, l.inputs[i], box)));
        }
        for (std::uint32_t d : loaded)
            sink.dep(d);
        if (!step.first)
            sink.dep(lastCompute);
        lastCompute = emit(Op(OpKind::Compute, MoveKind::Load, MemoryLevel::L2, MemoryLevel::L2,
                              stepFlags(l, step), l.kernel, toRegion(step.tile)));
        if (!step.last)
            return;
        const Box out = outputBox(l.shape, step.tile);
        sink.dep(lastCompute);
        std::uint32_t stored =
            emit(move(MoveKind::Flush, MemoryLevel::L2, MemoryLevel::L3, l.output, out));
        if (!onChip(l.outputLevel)) {
            sink.dep(stored);
            stored =
                emit(move(MoveKind::Flush, MemoryLevel::L3, MemoryLevel::External, l.output, out));
        }
        finals.push_back(stored);
    });
    for (std::uint32_t d : finals)
        sink.dep(d);
    emit(Op(OpKind::Barrier, MoveKind::Load, MemoryLevel::External, MemoryLevel::External, 0, 0,
            Region()));
}

} // namespace

void expandTileLoops(const TileLoops& loops, std::vector<Op>& ops,
                     std::vector<std::uint32_t>& depOffsets,
                     std::vector<std::uint32_t>& depIndices) {
    VectorSink sink{ops, depOffsets, depIndices};
    generate(loops, sink);
}

void expandTileLoops(const TileLoops& loops, OpCursor& cursor) {
    CursorSink sink{cursor};
    generate(loops, sink);
}

Expected<TileLoops> decodeTileLoops(const Program& program, std::uint32_t index) {
    if (!program.kernels() || index >= program.kernels()->size())
        return fail("kernel index {} out of range", index);
    const Kernel& k = *program.kernels()->Get(index);
    if (k.ops_encoding() != OpsEncoding::TileLoops)
        return fail("ops_encoding: not TileLoops");
    TileLoops l;
    l.kernel = index;
    l.firstOp = k.first_op();
    l.shape.kind = toOperator(k.kind());
    if (!isKernelOperator(toOperator(k.kind())))
        return fail("kind: {} is not a kernel kind", static_cast<int>(k.kind()));
    const std::uint32_t tensorCount = program.tensors() ? program.tensors()->size() : 0;
    auto view = [&](std::uint32_t t) -> std::optional<View4> {
        if (t >= tensorCount)
            return std::nullopt;
        auto v = canonicalView4(tensorShape(*program.tensors()->Get(t)));
        if (!v || std::ranges::any_of(*v, [](std::uint64_t d) { return d == 0 || d > UINT32_MAX; }))
            return std::nullopt;
        return v;
    };
    const std::uint32_t inputCount = k.inputs() ? k.inputs()->size() : 0;
    for (std::uint32_t i = 0; i < inputCount; ++i) {
        const auto v = view(k.inputs()->Get(i));
        if (!v)
            return fail("inputs[{}]: tensor {} is out of range or has no 4-D view", i,
                        k.inputs()->Get(i));
        l.inputs.push_back(k.inputs()->Get(i));
        l.shape.inputs.push_back(*v);
    }
    const auto out = view(k.output());
    if (!out)
        return fail("output: tensor {} is out of range or has no 4-D view", k.output());
    l.output = k.output();
    l.shape.output = *out;
    const auto* space = k.iteration_space();
    if (!space || space->size() != 4 || std::ranges::find(*space, 0u) != space->end())
        return fail("iteration_space: expected 4 positive sizes");
    std::ranges::copy(*space, l.shape.iteration.begin());
    const auto rank = tensorShape(*program.tensors()->Get(k.output())).size();
    const auto params = toViewParams(l.shape.kind, toOpParams(k.params()), rank);
    if (!params)
        return fail("params: the axis, permutation or padding does not address a dimension of "
                    "the rank-{} output",
                    rank);
    l.shape.params = *params;
    if (!k.input_batched() || k.input_batched()->size() != inputCount)
        return fail("input_batched: expected {} entries", inputCount);
    l.shape.inputBatched.assign(k.input_batched()->begin(), k.input_batched()->end());

    // The L2 tile: the last tiling of level L2.
    std::optional<std::uint32_t> l2;
    for (std::uint32_t t = 0; k.tilings() && t < k.tilings()->size(); ++t)
        if (k.tilings()->Get(t)->level() == MemoryLevel::L2)
            l2 = t;
    if (!l2)
        return fail("tilings: a TileLoops kernel needs an L2 tile");
    const auto* tile = k.tilings()->Get(*l2)->tile();
    if (!tile || tile->size() != 4)
        return fail("tilings[{}].tile: expected 4 sizes", *l2);
    for (std::uint32_t d = 0; d < 4; ++d) {
        if (tile->Get(d) == 0 || tile->Get(d) > space->Get(d))
            return fail("tilings[{}].tile[{}]: {} is not in 1..{} (the iteration space)", *l2, d,
                        tile->Get(d), space->Get(d));
        l.tile[d] = tile->Get(d);
    }
    const auto* order = k.loop_order();
    std::array<bool, 4> seen{};
    for (std::uint32_t d = 0; order && order->size() == 4 && d < 4; ++d)
        if (order->Get(d) < 4)
            seen[order->Get(d)] = true;
    if (!order || order->size() != 4 || std::ranges::find(seen, false) != seen.end())
        return fail("loop_order: expected a permutation of 0..3");
    std::ranges::copy(*order, l.loopOrder.begin());
    const bool matmul = l.shape.kind == Operator::MatMul;
    if (matmul && (l.loopOrder[0] != 0 || l.loopOrder[3] != 3))
        return fail("loop_order: [{}] does not run a matmul's batch outermost and K innermost",
                    fmt::join(l.loopOrder, ","));
    if (matmul && l.tile[0] != 1)
        return fail("tilings[{}].tile[0]: {}, but a matmul tile covers one batch element", *l2,
                    l.tile[0]);

    if (!k.input_levels() || k.input_levels()->size() != inputCount)
        return fail("input_levels: expected {} entries (one per input)", inputCount);
    for (std::uint32_t i = 0; i < inputCount; ++i) {
        const MemoryLevel level = k.input_levels()->Get(i);
        if (level != MemoryLevel::External && level != MemoryLevel::L3)
            return fail("input_levels[{}]: {} is not External (0) or L3 (1)", i,
                        static_cast<int>(level));
        l.inputLevels.push_back(level);
    }
    if (!k.input_ready() || k.input_ready()->size() != inputCount)
        return fail("input_ready: expected {} entries (one per input)", inputCount);
    for (std::uint32_t i = 0; i < inputCount; ++i) {
        const std::int64_t ready = k.input_ready()->Get(i);
        if (ready < -1 || ready >= std::int64_t{k.first_op()})
            return fail("input_ready[{}]: {} is not -1 or an op before the kernel's first op {}", i,
                        ready, k.first_op());
        l.inputReady.push_back(ready);
    }
    if (k.output_level() != MemoryLevel::External && k.output_level() != MemoryLevel::L3)
        return fail("output_level: {} is not External (0) or L3 (1)",
                    static_cast<int>(k.output_level()));
    l.outputLevel = k.output_level();

    // Dimensions the kind sees whole are never split; IM2COL tiles are contiguous runs of
    // output positions. Checked on the full tile: clipped edge tiles then satisfy both too.
    if (!matmul) {
        const auto pinned = pinnedDims(l.shape);
        for (std::uint32_t d = 0; d < 4; ++d)
            if (pinned[d] && l.tile[d] != l.shape.iteration[d])
                return fail("tilings[{}].tile[{}]: {} splits dimension {} of {}, which a {} "
                            "kernel needs whole",
                            *l2, d, l.tile[d], d, l.shape.iteration[d], kernelKindName(k.kind()));
        const auto& e = l.tile;
        const auto& s = l.shape.iteration;
        if (l.shape.kind == Operator::Im2Col && !((e[2] == s[2] || (e[1] == 1 && e[0] == 1)) &&
                                                  (e[1] == s[1] || e[0] == 1 || e[2] != s[2])))
            return fail("tilings[{}].tile: [{}] is not a contiguous run of im2col output "
                        "positions",
                        *l2, fmt::join(l.tile, ","));
    }
    return l;
}

} // namespace kpu::dfx
