#include "kpu/compiler/lowering.h"

#include <algorithm>
#include <map>
#include <optional>

#include "kernel_plan.h"
#include "kpu/compiler/tile_optimizer.h"
#include "kpu/schema/kernel_regions.h"
#include "kpu/schema/tile_loops.h"

namespace kpu::compiler {
namespace {

using dfx::MemoryLevel;
using dfx::MoveKind;

std::uint64_t ceilDiv(std::uint64_t a, std::uint64_t b) {
    return (a + b - 1) / b;
}

// Size limit of one program (the loader refuses larger expansions, tile_loops.h): 16 M ops; a
// 4096^3 f32 matmul on the default KPU needs about 1.4 M.
using dfx::kMaxProgramOps;
constexpr std::uint64_t kMaxTileSteps = kMaxProgramOps / 6;

// Appends stored ops and their dependencies (CSR) to a program, and numbers ops in the expanded
// program: tile-loop kernels take op indices (advance) without storing anything.
class OpEmitter {
public:
    explicit OpEmitter(dfx::ProgramT& program) : program_(program) {
        if (program_.dep_offsets.empty())
            program_.dep_offsets.push_back(0);
    }

    // A stored op without dependencies.
    std::uint32_t emit(const dfx::Op& op) {
        program_.ops.push_back(op);
        program_.dep_offsets.push_back(static_cast<std::uint32_t>(program_.dep_indices.size()));
        return next_++;
    }

    // A tile-loop kernel's ops, stored when `store` (--explicit-ops).
    void emit(const dfx::TileLoops& loops, std::uint64_t count, bool store) {
        if (store)
            dfx::expandTileLoops(loops, program_.ops, program_.dep_offsets, program_.dep_indices);
        next_ += static_cast<std::uint32_t>(count);
    }

    // The expanded index of the next op.
    std::uint32_t size() const { return next_; }

private:
    dfx::ProgramT& program_;
    std::uint32_t next_ = 0;
};

// Where a tensor's storage lives while the program runs.
enum class Home { External, OnChip };

struct TensorState {
    dfx::View4 view{};
    std::uint32_t elementBytes = 4;
    std::uint64_t bytes = 0;
};

class Lowering {
public:
    Lowering(const ir::Graph& graph, const LowerOptions& options)
        : graph_(graph), options_(options), emitter_(program_) {}

    Expected<dfx::ProgramT> run() {
        auto plan = planKernels(
            graph_, PlanOptions{.fuse = options_.fuse, .sourceFile = options_.sourceFile});
        if (!plan)
            return std::unexpected(plan.error());
        plan_ = std::move(*plan);

        program_.format_major = dfx::kFormatMajor;
        program_.format_minor = dfx::kFormatMinor;
        program_.producer = fmt::format("kpu-kernel-compiler {}", KPU_VERSION);
        program_.source_graph = graph_.name;
        program_.source_file = options_.sourceFile;
        program_.hints = std::make_unique<dfx::HintsT>();
        program_.hints->target_config = options_.target.name;
        program_.hints->array_rows = options_.target.compute.arrayRows;
        program_.hints->array_cols = options_.target.compute.arrayCols;

        if (auto r = addTensors(); !r)
            return std::unexpected(r.error());
        addGraphSection();
        if (program_.graph.empty())
            return fail("{}: error: the graph has no operations (only inputs, constants and "
                        "return markers): there is nothing to compile",
                        options_.sourceFile);
        addGraphSignature();
        placeIntermediates();
        ready_.assign(plan_.tensors.size(), std::nullopt);
        reserved_.assign(plan_.tensors.size(), false);
        for (std::size_t k = 0; k < plan_.kernels.size(); ++k) {
            // Tiles use the L3 space the on-chip intermediates live at this kernel leave free.
            tilingTarget_ = options_.target;
            const std::uint64_t l3 = tilingTarget_.l3.tileCapacity * tilingTarget_.l3.tileCount;
            tilingTarget_.l3.tileCapacity =
                std::max<std::uint64_t>(1, (l3 - onChipBytes_[k]) / tilingTarget_.l3.tileCount);
            if (auto r = lowerKernel(plan_.kernels[k]); !r)
                return std::unexpected(r.error());
        }
        return std::move(program_);
    }

private:
    std::string where(const PlannedKernel& k) const {
        const std::string place =
            k.line == 0 ? options_.sourceFile : fmt::format("{}:{}:1", options_.sourceFile, k.line);
        const std::string kernel =
            k.op == Operator::Im2Col ? " (its IM2COL kernel)" : std::string();
        return fmt::format("{}: error: node {} '{}' ({}){}", place, k.nodeId, k.nodeName, k.opName,
                           kernel);
    }

    // ---- tensors and the graph section ---------------------------------------------------
    Expected<void> addTensors() {
        // What must fit the target's external memory: every tensor on its own (anything may
        // spill there), and the graph's inputs, constants and outputs together (they always
        // live there). Checked here, before the binder would refuse the object on this config.
        const ExternalMemoryConfig& ext = options_.target.external;
        const std::uint64_t externalBytes =
            checkedMul(ext.bankCount, ext.bankCapacity).value_or(UINT64_MAX);
        const auto configHas = [&] {
            return fmt::format("the config '{}' has {} ({} bank(s) of {})", options_.target.name,
                               formatBytes(externalBytes), ext.bankCount,
                               formatBytes(ext.bankCapacity));
        };
        std::uint64_t residentBytes = 0;
        for (const PlannedTensor& t : plan_.tensors) {
            auto view = canonicalView4(t.shape);
            auto bytes = byteSize(t.shape, dtypeSize(t.dtype));
            if (!view || !bytes || std::ranges::any_of(*view, [](std::uint64_t d) {
                    return d == 0 || d > UINT32_MAX;
                }))
                return fail("{}: error: tensor '{}' ({}{}) is too large or empty: its size "
                            "overflows the object's 32-bit dimensions",
                            options_.sourceFile, t.name, formatShape(t.shape), dtypeName(t.dtype));
            if (*bytes > externalBytes)
                return fail("{}: error: tensor '{}' ({} {}{}) needs {} of external memory; {}",
                            options_.sourceFile, t.name, formatShape(t.shape), dtypeName(t.dtype),
                            t.sourceNode >= 0 ? fmt::format(", from node {}", t.sourceNode) : "",
                            formatBytes(*bytes), configHas());
            if (t.aliasOf < 0 && t.role != dfx::TensorRole::Intermediate)
                residentBytes += *bytes; // cannot overflow: terms and sum stay under 2 x 2^48
            if (residentBytes > externalBytes)
                return fail("{}: error: the graph's inputs, constants and outputs need {} of "
                            "external memory together (at least); {}",
                            options_.sourceFile, formatBytes(residentBytes), configHas());
            auto tensor = std::make_unique<dfx::TensorT>();
            tensor->name = t.name;
            tensor->shape.assign(t.shape.begin(), t.shape.end());
            tensor->dtype = dfx::toDType(t.dtype);
            tensor->role = t.role;
            tensor->source_node = t.sourceNode;
            tensor->alias_of = t.aliasOf;
            if (t.data) {
                if (t.data->size() != *bytes)
                    return fail("{}: error: constant '{}' ({}{}) has {} bytes of values; its type "
                                "needs {}",
                                options_.sourceFile, t.name, formatShape(t.shape),
                                dtypeName(t.dtype), t.data->size(), *bytes);
                tensor->data = *t.data;
            }
            program_.tensors.push_back(std::move(tensor));
            state_.push_back(
                TensorState{.view = *view, .elementBytes = dtypeSize(t.dtype), .bytes = *bytes});
        }
        return {};
    }

    // The graph's inputs and outputs in source order, and the inputs fixed at compile time.
    void addGraphSignature() {
        program_.graph_inputs = plan_.graphInputs;
        program_.graph_outputs = plan_.graphOutputs;
        for (const ir::StaticInput& s : graph_.staticInputs) {
            auto record = std::make_unique<dfx::StaticInputT>();
            record->name = s.name;
            record->position = s.position;
            record->dtype = dfx::toDType(s.dtype);
            record->shape.assign(s.shape.begin(), s.shape.end());
            record->data = s.data;
            program_.static_inputs.push_back(std::move(record));
        }
    }

    void addGraphSection() {
        for (const PlannedNode& n : plan_.graph) {
            auto node = std::make_unique<dfx::GraphNodeT>();
            node->kind = dfx::toKernelKind(n.op);
            node->name = n.name;
            node->source_node = n.nodeId;
            node->inputs = n.inputs;
            node->output = n.output;
            node->params =
                dfx::toKernelParamsT(n.op, n.params, plan_.tensors[n.output].shape.size());
            program_.graph.push_back(std::move(node));
        }
    }

    // ---- on-chip intermediates -------------------------------------------------------------
    // An intermediate stays in L3 from the kernel that produces it to its last reader when it
    // fits beside every other on-chip intermediate live at the time (at most half of L3; each
    // kernel's tiles are sized for what is left); otherwise it spills to external memory. Greedy in
    // program order, so the earliest producers win. Graph inputs, constants and outputs (and
    // anything that shares storage with them) always live in external memory.
    void placeIntermediates() {
        const std::size_t kernels = plan_.kernels.size();
        const std::size_t tensors = plan_.tensors.size();
        home_.assign(tensors, Home::External);
        std::vector<std::int64_t> def(tensors, -1), last(tensors, -1);
        std::vector<bool> pinnedExternal(tensors, false);
        for (std::uint32_t t = 0; t < tensors; ++t)
            if (plan_.tensors[t].role != dfx::TensorRole::Intermediate)
                pinnedExternal[plan_.rootOf(t)] = true;
        for (std::size_t k = 0; k < kernels; ++k) {
            const PlannedKernel& kernel = plan_.kernels[k];
            const std::uint32_t out = plan_.rootOf(kernel.output);
            if (def[out] < 0)
                def[out] = static_cast<std::int64_t>(k);
            last[out] = std::max<std::int64_t>(last[out], static_cast<std::int64_t>(k));
            for (std::uint32_t in : kernel.inputs)
                last[plan_.rootOf(in)] =
                    std::max<std::int64_t>(last[plan_.rootOf(in)], static_cast<std::int64_t>(k));
        }
        const std::uint64_t budget =
            options_.target.l3.tileCapacity * options_.target.l3.tileCount / 2;
        std::vector<std::uint64_t>& used = onChipBytes_;
        used.assign(kernels, 0);
        std::vector<std::uint32_t> order;
        for (std::uint32_t t = 0; t < tensors; ++t)
            if (def[t] >= 0 && !pinnedExternal[t] && plan_.tensors[t].aliasOf < 0)
                order.push_back(t);
        std::ranges::stable_sort(order, {}, [&](std::uint32_t t) { return def[t]; });
        for (std::uint32_t t : order) {
            const auto from = static_cast<std::size_t>(def[t]);
            const auto to = static_cast<std::size_t>(last[t]);
            // Aligned like the binder's allocations.
            const std::uint64_t bytes = (state_[t].bytes + 63) / 64 * 64;
            bool fits = bytes <= budget;
            for (std::size_t k = from; fits && k <= to; ++k)
                fits = used[k] + bytes <= budget;
            if (!fits)
                continue;
            home_[t] = Home::OnChip;
            for (std::size_t k = from; k <= to; ++k)
                used[k] += bytes;
        }
    }

    bool onChip(std::uint32_t tensor) const { return home_[plan_.rootOf(tensor)] == Home::OnChip; }
    // The level a tensor's tiles are loaded from and stored to.
    MemoryLevel home(std::uint32_t tensor) const {
        return onChip(tensor) ? MemoryLevel::L3 : MemoryLevel::External;
    }

    // ---- ops ---------------------------------------------------------------------------------
    void reserveOutput(std::uint32_t tensor) {
        const std::uint32_t root = plan_.rootOf(tensor);
        if (!onChip(root) || reserved_[root])
            return;
        reserved_[root] = true;
        const dfx::View4& v = state_[root].view;
        const dfx::Box whole{{0, 0, 0, 0},
                             {static_cast<std::uint32_t>(v[0]), static_cast<std::uint32_t>(v[1]),
                              static_cast<std::uint32_t>(v[2]), static_cast<std::uint32_t>(v[3])}};
        emitter_.emit(dfx::Op(dfx::OpKind::Reserve, MoveKind::Load, MemoryLevel::L3,
                              MemoryLevel::L3, 0, root, dfx::toRegion(whole)));
    }

    dfx::KernelShape shapeOf(const PlannedKernel& k, const OpParams& viewParams,
                             const std::array<std::uint32_t, 4>& space) const {
        dfx::KernelShape s{.kind = k.op,
                           .params = viewParams,
                           .inputs = {},
                           .output = state_[k.output].view,
                           .iteration = space,
                           .inputBatched = k.inputBatched};
        for (std::uint32_t in : k.inputs)
            s.inputs.push_back(state_[in].view);
        return s;
    }

    std::unique_ptr<dfx::KernelT>
    kernelRecord(const PlannedKernel& k, const std::array<std::uint32_t, 4>& space,
                 const std::array<std::uint32_t, 4>& tile,
                 dfx::Dataflow dataflow = dfx::Dataflow::OutputStationary,
                 const std::array<std::uint8_t, 4>& loopOrder = {0, 1, 2, 3}) {
        auto kernel = std::make_unique<dfx::KernelT>();
        kernel->name = k.name;
        kernel->source_node = k.nodeId;
        kernel->kind = dfx::toKernelKind(k.op);
        kernel->inputs = k.inputs;
        kernel->output = k.output;
        kernel->iteration_space.assign(space.begin(), space.end());
        kernel->input_batched = k.inputBatched;
        kernel->input_batched.resize(k.inputs.size(), 0); // vector kernels: not used
        for (MemoryLevel level : {MemoryLevel::L3, MemoryLevel::L2}) {
            auto t = std::make_unique<dfx::LevelTilingT>();
            t->level = level;
            t->tile.assign(tile.begin(), tile.end());
            kernel->tilings.push_back(std::move(t));
        }
        kernel->dataflow = dataflow;
        kernel->loop_order.assign(loopOrder.begin(), loopOrder.end());
        kernel->first_op = emitter_.size();
        kernel->params = dfx::toKernelParamsT(k.op, k.params, plan_.tensors[k.output].shape.size());
        return kernel;
    }

    Expected<void> lowerKernel(const PlannedKernel& k) {
        reserveOutput(k.output);
        const std::uint32_t firstOp = emitter_.size();
        auto r = k.op == Operator::MatMul ? lowerMatMul(k) : lowerVector(k);
        if (!r)
            return r;
        program_.kernels.back()->first_op = firstOp;
        program_.kernels.back()->op_count = emitter_.size() - firstOp;
        return {};
    }

    // Tile steps the program still has room for at `opsPerStep` ops each.
    std::uint64_t stepBudget(std::uint64_t opsPerStep) const {
        return std::min(kMaxTileSteps, (kMaxProgramOps -
                                        std::min<std::uint64_t>(emitter_.size(), kMaxProgramOps)) /
                                           opsPerStep);
    }

    Expected<void> checkOpBudget(const PlannedKernel& k, std::uint64_t steps,
                                 std::uint64_t opsPerStep) const {
        if (steps <= stepBudget(opsPerStep))
            return {};
        return fail("{}: needs {} tile steps; a program holds at most {} ops (about {} steps)",
                    where(k), steps, kMaxProgramOps, kMaxTileSteps);
    }

    // ---- GEMM kernels: tile loops in the dataflow's order --------------------------------------
    // The analytical choice, or the tiling imposed on the kernel (LowerOptions::gemmTilings),
    // which must be one of its candidates.
    Expected<GemmTiling> gemmTiling(const PlannedKernel& k, const GemmShape& shape) const {
        const auto imposed = options_.gemmTilings.find(k.name);
        if (imposed == options_.gemmTilings.end())
            return chooseGemmTiling(shape, tilingTarget_, options_.dataflow, stepBudget(6));
        const GemmTilingChoice& want = imposed->second;
        for (const GemmTiling& t : gemmTilingCandidates(shape, tilingTarget_, stepBudget(6)))
            if (GemmTilingChoice{t.dataflow, t.mt, t.nt, t.kt} == want)
                return t;
        return fail("the imposed tiling {} {}x{}x{} does not fit the configuration or the op "
                    "budget",
                    dataflowShortName(want.dataflow), want.mt, want.nt, want.kt);
    }

    // Batch outermost, then M and N in the order of gemmLoopOrder (os, is: m, n; ws: n, m), K
    // innermost: the output tile stays in L2 across the K loop; A and B tiles are loaded for every
    // step, an accumulate input at the first step, the bias at the last (when the epilogue runs).
    // Every step carries its loads; with one K step, the operand whose tile repeats from one step
    // to the next (A under m, n; B under n, m) is one the binder finds still resident in L2.
    Expected<void> lowerMatMul(const PlannedKernel& k) {
        const TensorState& a = state_[k.inputs[0]];
        const TensorState& b = state_[k.inputs[1]];
        const TensorState& c = state_[k.output];
        const std::uint64_t M = a.view[2], K = a.view[3];
        const std::uint64_t N = k.params.transposeB ? b.view[2] : b.view[3];
        const std::uint64_t batch = c.view[0] * c.view[1];
        if (batch > UINT32_MAX)
            return fail("{}: a batch of {} is out of range", where(k), batch);
        const bool hasInit =
            k.inputs.size() >= 3 && k.params.biasInput != 2; // inputs [A, B, C, (bias)]
        const GemmShape shape{.m = M,
                              .n = N,
                              .k = K,
                              .aElementBytes = a.elementBytes,
                              .bElementBytes = b.elementBytes,
                              .cElementBytes = c.elementBytes,
                              .initElementBytes = hasInit ? state_[k.inputs[2]].elementBytes : 0,
                              .batch = batch};
        auto tiling = gemmTiling(k, shape);
        if (!tiling)
            return fail("{}: {}", where(k), tiling.error().message);
        if (options_.gemmChoices)
            options_.gemmChoices->push_back(GemmKernelChoice{.kernel = k.name,
                                                             .shape = shape,
                                                             .target = tilingTarget_,
                                                             .maxTileSteps = stepBudget(6),
                                                             .tiling = *tiling});
        if (auto r = checkOpBudget(k, tiling->tileSteps, 6); !r)
            return r;

        const std::array<std::uint32_t, 4> space{
            static_cast<std::uint32_t>(batch), static_cast<std::uint32_t>(M),
            static_cast<std::uint32_t>(N), static_cast<std::uint32_t>(K)};
        const std::array<std::uint32_t, 4> step{1, tiling->mt, tiling->nt, tiling->kt};
        const std::array<std::uint8_t, 4> order = gemmLoopOrder(tiling->dataflow);
        program_.kernels.push_back(kernelRecord(k, space, step, tiling->dataflow, order));
        const OpParams viewParams = k.params; // MatMul parameters have no axes
        auto& hints = *program_.hints;
        const std::uint32_t R = options_.target.compute.arrayRows,
                            C = options_.target.compute.arrayCols;
        if (auto r = emitTileLoops(k, shapeOf(k, viewParams, space), step, order,
                                   [&](const dfx::TileStep& s) {
                                       hints.compute_cycles +=
                                           gemmTileCycles(tiling->dataflow, R, C, s.tile.extent[1],
                                                          s.tile.extent[2], s.tile.extent[3]);
                                   });
            !r)
            return r;
        hints.macs += batch * M * N * K;
        hints.parallelism = static_cast<std::uint32_t>(std::max<std::uint64_t>(
            hints.parallelism, batch * ceilDiv(M, tiling->mt) * ceilDiv(N, tiling->nt)));
        return {};
    }

    // The kernel just recorded (program_.kernels.back()) runs as tile loops (tile_loops.h): its
    // loads come from each input's home, its stores go to the output's, its first loads wait
    // for each input's producer. Counts its ops, stores them only with --explicit-ops, and adds
    // its external traffic to the hints (`perStep` adds more per Compute tile).
    template <class PerStep>
    Expected<void> emitTileLoops(const PlannedKernel& k, dfx::KernelShape shape,
                                 const std::array<std::uint32_t, 4>& tile,
                                 const std::array<std::uint8_t, 4>& order, PerStep&& perStep) {
        dfx::KernelT& record = *program_.kernels.back();
        dfx::TileLoops loops{.kernel = static_cast<std::uint32_t>(program_.kernels.size() - 1),
                             .firstOp = emitter_.size(),
                             .shape = std::move(shape),
                             .tile = tile,
                             .loopOrder = order,
                             .inputs = k.inputs,
                             .inputLevels = {},
                             .inputReady = {},
                             .output = k.output,
                             .outputLevel = home(k.output)};
        for (std::uint32_t in : k.inputs) {
            loops.inputLevels.push_back(home(in));
            const auto ready = ready_[plan_.rootOf(in)];
            loops.inputReady.push_back(ready ? std::int64_t{*ready} : -1);
        }
        auto counts = dfx::countTileLoops(loops);
        if (!counts)
            return fail("{}: {}", where(k), counts.error().message);
        record.ops_encoding =
            options_.explicitOps ? dfx::OpsEncoding::Explicit : dfx::OpsEncoding::TileLoops;
        record.input_levels = loops.inputLevels;
        record.input_ready = loops.inputReady;
        record.output_level = loops.outputLevel;
        emitter_.emit(loops, counts->ops, options_.explicitOps);
        ready_[plan_.rootOf(k.output)] = emitter_.size() - 1; // the kernel's final Barrier

        std::vector<std::uint32_t> elementBytes;
        for (std::uint32_t in : k.inputs)
            elementBytes.push_back(state_[in].elementBytes);
        const bool outputExternal = loops.outputLevel == MemoryLevel::External;
        std::uint64_t& external = program_.hints->external_bytes;
        dfx::forEachTileStep(loops, [&](const dfx::TileStep& s) {
            perStep(s);
            for (std::size_t i = 0; i < loops.inputs.size(); ++i)
                if (loops.inputLevels[i] == MemoryLevel::External && dfx::readsInput(loops, i, s))
                    external +=
                        dfx::boxElements(dfx::inputBox(loops.shape, i, s.tile)) * elementBytes[i];
            if (s.last && outputExternal)
                external += dfx::boxElements(dfx::outputBox(loops.shape, s.tile)) *
                            state_[k.output].elementBytes;
        });
        return {};
    }

    // ---- vector kernels: one pass of the array per tile ---------------------------------------
    Expected<void> lowerVector(const PlannedKernel& k) {
        const std::size_t rank = plan_.tensors[k.output].shape.size();
        auto viewParams = dfx::toViewParams(k.op, k.params, rank);
        if (!viewParams)
            return fail("{}: its axis or permutation falls in the collapsed leading dimensions "
                        "of a rank-{} tensor (at most 4 dimensions are addressable)",
                        where(k), rank);
        std::array<std::uint32_t, 4> space{};
        const dfx::View4& out = state_[k.output].view;
        if (k.op == Operator::Im2Col) {
            const dfx::View4& x = state_[k.inputs[0]].view;
            const OpParams& p = k.params;
            space = {static_cast<std::uint32_t>(x[0]),
                     static_cast<std::uint32_t>(dfx::windowOutputs(
                         x[1], p.kernelH, p.strideH, p.dilationH, p.padTop, p.padBottom)),
                     static_cast<std::uint32_t>(dfx::windowOutputs(
                         x[2], p.kernelW, p.strideW, p.dilationW, p.padLeft, p.padRight)),
                     1};
        } else {
            for (std::size_t d = 0; d < 4; ++d)
                space[d] = static_cast<std::uint32_t>(out[d]);
        }
        const dfx::KernelShape shape = shapeOf(k, *viewParams, space);
        std::vector<std::uint32_t> inBytes;
        for (std::uint32_t in : k.inputs)
            inBytes.push_back(state_[in].elementBytes);
        auto tile =
            chooseVectorTile(shape, inBytes, state_[k.output].elementBytes, space, tilingTarget_);
        if (!tile)
            return fail("{}: {}", where(k), tile.error().message);
        std::uint64_t steps = 1;
        for (std::size_t d = 0; d < 4; ++d)
            steps *= ceilDiv(space[d], (*tile)[d]);
        if (auto r = checkOpBudget(k, steps, 2 * k.inputs.size() + 4); !r)
            return r;

        program_.kernels.push_back(kernelRecord(k, space, *tile));
        return emitTileLoops(k, shape, *tile, {0, 1, 2, 3}, [](const dfx::TileStep&) {});
    }

    const ir::Graph& graph_;
    const LowerOptions& options_;
    KpuConfig tilingTarget_;
    KernelPlan plan_;
    dfx::ProgramT program_;
    OpEmitter emitter_;
    std::vector<TensorState> state_;
    std::vector<Home> home_;
    std::vector<std::uint64_t> onChipBytes_; // per kernel: bytes of on-chip intermediates live
    std::vector<std::optional<std::uint32_t>> ready_; // per root: op after which it is complete
    std::vector<bool> reserved_;
};

} // namespace

Expected<dfx::ProgramT> lowerGraph(const ir::Graph& graph, const LowerOptions& options) {
    return Lowering(graph, options).run();
}

} // namespace kpu::compiler
