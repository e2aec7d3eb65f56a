#include "kpu/compiler/lowering.h"

#include <algorithm>
#include <map>
#include <optional>

#include "kpu/compiler/tile_optimizer.h"
#include "kpu/schema/kernel_regions.h"

namespace kpu::compiler {
namespace {

using dfx::MemoryLevel;
using dfx::MoveKind;

std::uint64_t ceilDiv(std::uint64_t a, std::uint64_t b) {
    return (a + b - 1) / b;
}

// Size limits of one program: 40 M ops is about 1.8 GB of object; a 16384^3 f32 matmul on the
// default KPU needs 2 M tile steps (10 M ops).
constexpr std::uint64_t kMaxProgramOps = 40'000'000;
constexpr std::uint64_t kMaxTileSteps = kMaxProgramOps / 6;

std::string nodeLabel(const ir::Operation& op) {
    return fmt::format("node {} '{}'", op.nodeId, op.name);
}

// Appends ops and their dependencies (CSR) to a program.
class OpEmitter {
public:
    explicit OpEmitter(dfx::ProgramT& program) : program_(program) {
        if (program_.dep_offsets.empty())
            program_.dep_offsets.push_back(0);
    }

    std::uint32_t emit(const dfx::Op& op,
                       std::initializer_list<std::optional<std::uint32_t>> deps) {
        for (const auto& d : deps)
            if (d)
                program_.dep_indices.push_back(*d);
        return finish(op);
    }

    std::uint32_t emit(const dfx::Op& op, const std::vector<std::uint32_t>& deps) {
        program_.dep_indices.insert(program_.dep_indices.end(), deps.begin(), deps.end());
        return finish(op);
    }

    std::uint32_t size() const { return static_cast<std::uint32_t>(program_.ops.size()); }

private:
    std::uint32_t finish(const dfx::Op& op) {
        program_.ops.push_back(op);
        program_.dep_offsets.push_back(static_cast<std::uint32_t>(program_.dep_indices.size()));
        return static_cast<std::uint32_t>(program_.ops.size() - 1);
    }

    dfx::ProgramT& program_;
};

dfx::Op moveOp(MoveKind kind, MemoryLevel from, MemoryLevel to, std::uint32_t tensor,
               const dfx::Region& region) {
    return dfx::Op(dfx::OpKind::DataMove, kind, from, to, 0, tensor, region);
}

struct TensorInfo {
    std::uint32_t index = 0;
    std::array<std::uint64_t, 4> view{};
    std::uint32_t elementBytes = 4;
    std::optional<std::uint32_t> ready; // op after which the tensor is complete in external memory
};

class Lowering {
public:
    Lowering(const ir::Graph& graph, const LowerOptions& options)
        : graph_(graph), options_(options), emitter_(program_) {}

    Expected<dfx::ProgramT> run() {
        program_.format_major = dfx::kFormatMajor;
        program_.format_minor = dfx::kFormatMinor;
        program_.producer = fmt::format("kpu-kernel-compiler {}", KPU_VERSION);
        program_.source_graph = graph_.name;
        program_.source_file = options_.sourceFile;
        program_.hints = std::make_unique<dfx::HintsT>();
        program_.hints->target_config = options_.target.name;
        program_.hints->array_rows = options_.target.compute.arrayRows;
        program_.hints->array_cols = options_.target.compute.arrayCols;

        for (const ir::Operation& op : graph_.ops) {
            if (auto r = lowerOp(op); !r)
                return std::unexpected(r.error());
        }
        for (ir::ValueId id : graph_.outputs) {
            auto t = tensorFor(id, nullptr);
            if (!t)
                return std::unexpected(t.error());
        }
        return std::move(program_);
    }

private:
    Expected<void> lowerOp(const ir::Operation& op) {
        switch (op.kind) {
        case ir::OpKind::FunctionArgument:
        case ir::OpKind::Constant:
        case ir::OpKind::Function:
        case ir::OpKind::FunctionReturn:
        case ir::OpKind::FunctionResult:
            return {}; // graph plumbing: tensors are created where they are used
        case ir::OpKind::MatMul:
            return lowerMatMul(op);
        case ir::OpKind::Unknown:
            if (op.results.empty())
                return {}; // a node that only marks the end of the function
            break;
        default:
            break;
        }
        return fail("{}: error: operator {} ({}) is not supported yet", place(op), op.opName,
                    nodeLabel(op));
    }

    // "file:line:1", the NODE line the op came from (column 1: the whole node is at fault).
    std::string place(const ir::Operation& op) const {
        if (op.line == 0)
            return options_.sourceFile;
        return fmt::format("{}:{}:1", options_.sourceFile, op.line);
    }

    dfx::TensorRole roleOf(ir::ValueId id) const {
        if (std::ranges::find(graph_.outputs, id) != graph_.outputs.end())
            return dfx::TensorRole::Output;
        if (std::ranges::find(graph_.constants, id) != graph_.constants.end())
            return dfx::TensorRole::Constant;
        if (std::ranges::find(graph_.inputs, id) != graph_.inputs.end())
            return dfx::TensorRole::Input;
        return dfx::TensorRole::Intermediate;
    }

    // The object tensor for a graph value, created on first use.
    Expected<TensorInfo*> tensorFor(ir::ValueId id, const ir::Operation* user) {
        if (auto it = tensors_.find(id); it != tensors_.end())
            return &it->second;
        const ir::Value& value = graph_.value(id);
        auto view = canonicalView4(value.type.shape);
        auto bytes = byteSize(value.type.shape, dtypeSize(value.type.dtype));
        if (!view || !bytes || (*view)[0] > UINT32_MAX || (*view)[1] > UINT32_MAX ||
            (*view)[2] > UINT32_MAX || (*view)[3] > UINT32_MAX)
            return fail("{}: error: tensor '{}' ({}{}) is too large: its size overflows{}",
                        options_.sourceFile, value.name, formatShape(value.type.shape),
                        dtypeName(value.type.dtype),
                        user ? fmt::format(" (used by {})", nodeLabel(*user)) : "");
        auto tensor = std::make_unique<dfx::TensorT>();
        tensor->name = value.name;
        tensor->shape.assign(value.type.shape.begin(), value.type.shape.end());
        tensor->dtype = dfx::toDType(value.type.dtype);
        tensor->role = roleOf(id);
        tensor->source_node =
            value.producer >= 0 ? graph_.ops[static_cast<std::size_t>(value.producer)].nodeId : -1;
        TensorInfo info{.index = static_cast<std::uint32_t>(program_.tensors.size()),
                        .view = *view,
                        .elementBytes = dtypeSize(value.type.dtype),
                        .ready = std::nullopt};
        program_.tensors.push_back(std::move(tensor));
        return &tensors_.emplace(id, info).first->second;
    }

    Expected<void> lowerMatMul(const ir::Operation& op) {
        const auto where = [&] {
            return fmt::format("{}: error: {} (MATMUL)", place(op), nodeLabel(op));
        };
        if (op.operands.size() < 2 || op.operands.size() > 3)
            return fail("{}: expected 2 or 3 operands, got {}", where(), op.operands.size());
        if (op.results.size() != 1)
            return fail("{}: expected 1 result, got {}", where(), op.results.size());
        for (std::size_t i = 0; i < op.operands.size(); ++i)
            if (op.operands[i] == ir::kNoValue)
                return fail("{}: operand {} is not connected", where(), i);

        const ir::TensorType& a = graph_.value(op.operands[0]).type;
        const ir::TensorType& b = graph_.value(op.operands[1]).type;
        const ir::TensorType& c = graph_.value(op.results[0]).type;
        for (const ir::TensorType* t : {&a, &b, &c}) {
            if (t->shape.size() < 2)
                return fail("{}: operands must have rank >= 2, got {}", where(),
                            formatShape(t->shape));
            if (!isFloat(t->dtype))
                return fail(
                    "{}: element type {} is not supported yet (MATMUL takes f8, f16, f32 and f64)",
                    where(), dtypeName(t->dtype));
        }
        const auto rows = [](const ir::TensorType& t) { return t.shape[t.shape.size() - 2]; };
        const auto cols = [](const ir::TensorType& t) { return t.shape[t.shape.size() - 1]; };
        const std::int64_t M = rows(a), K = cols(a), N = cols(b);
        if (rows(b) != K)
            return fail("{}: inner dimensions differ: A is {}, B is {}", where(),
                        formatShape(a.shape), formatShape(b.shape));
        if (rows(c) != M || cols(c) != N)
            return fail("{}: result is declared {} but A {} x B {} gives ...x{}x{}", where(),
                        formatShape(c.shape), formatShape(a.shape), formatShape(b.shape), M, N);

        if (M == 0 || N == 0 || K == 0)
            return fail("{}: empty matrices are not supported (M={}, N={}, K={})", where(), M, N,
                        K);

        // Batch: the result's leading dims; each operand has the same leading dims or none
        // (broadcast).
        const Shape batchDims(c.shape.begin(), c.shape.end() - 2);
        const std::uint64_t batch = static_cast<std::uint64_t>(elementCount(batchDims).value_or(0));
        if (batch == 0 || batch > UINT32_MAX || M > UINT32_MAX || N > UINT32_MAX || K > UINT32_MAX)
            return fail("{}: iteration space {}x{}x{}x{} is out of range", where(), batch, M, N, K);
        std::vector<std::uint8_t> batched;
        for (ir::ValueId id : op.operands) {
            const Shape& s = graph_.value(id).type.shape;
            const Shape lead(s.begin(), s.end() - 2);
            const bool allOnes = std::ranges::all_of(lead, [](std::int64_t d) { return d == 1; });
            if (lead == batchDims && !allOnes)
                batched.push_back(1);
            else if (allOnes)
                batched.push_back(0);
            else
                return fail("{}: batch dimensions of {} do not match the result {} (partial "
                            "broadcasting is not "
                            "supported yet)",
                            where(), formatShape(s), formatShape(c.shape));
        }
        if (op.operands.size() == 3 && (rows(graph_.value(op.operands[2]).type) != M ||
                                        cols(graph_.value(op.operands[2]).type) != N))
            return fail("{}: accumulate input is {}, expected ...x{}x{}", where(),
                        formatShape(graph_.value(op.operands[2]).type.shape), M, N);

        std::vector<TensorInfo*> inputs;
        for (ir::ValueId id : op.operands) {
            auto t = tensorFor(id, &op);
            if (!t)
                return std::unexpected(t.error());
            inputs.push_back(*t);
        }
        auto out = tensorFor(op.results[0], &op);
        if (!out)
            return std::unexpected(out.error());
        TensorInfo& C = **out;

        auto tiling = chooseGemmTiling(
            GemmShape{.m = static_cast<std::uint64_t>(M),
                      .n = static_cast<std::uint64_t>(N),
                      .k = static_cast<std::uint64_t>(K),
                      .aElementBytes = inputs[0]->elementBytes,
                      .bElementBytes = inputs[1]->elementBytes,
                      .cElementBytes = C.elementBytes,
                      .initElementBytes = inputs.size() == 3 ? inputs[2]->elementBytes : 0},
            options_.target);
        if (!tiling)
            return fail("{}: {}", where(), tiling.error().message);
        // Each tile step emits about five ops; refuse before allocating rather than run out of
        // memory on an absurd graph.
        const std::uint64_t steps = batch * ceilDiv(static_cast<std::uint64_t>(M), tiling->mt) *
                                    ceilDiv(static_cast<std::uint64_t>(N), tiling->nt) *
                                    ceilDiv(static_cast<std::uint64_t>(K), tiling->kt);
        if (steps > kMaxTileSteps || emitter_.size() + 6 * steps > kMaxProgramOps)
            return fail(
                "{}: {}x{}x{}x{} needs {} tile steps of {}x{}x{}; a program holds at most {} ops "
                "(about {} steps)",
                where(), batch, M, N, K, steps, tiling->mt, tiling->nt, tiling->kt, kMaxProgramOps,
                kMaxTileSteps);

        auto kernel = std::make_unique<dfx::KernelT>();
        kernel->name = fmt::format("{}#{}", op.name, op.nodeId);
        kernel->source_node = op.nodeId;
        kernel->kind = dfx::KernelKind::MatMul;
        for (TensorInfo* t : inputs)
            kernel->inputs.push_back(t->index);
        kernel->output = C.index;
        kernel->iteration_space = {static_cast<std::uint32_t>(batch), static_cast<std::uint32_t>(M),
                                   static_cast<std::uint32_t>(N), static_cast<std::uint32_t>(K)};
        kernel->input_batched = batched;
        for (MemoryLevel level : {MemoryLevel::L3, MemoryLevel::L2}) {
            auto t = std::make_unique<dfx::LevelTilingT>();
            t->level = level;
            t->tile = {1, tiling->mt, tiling->nt, tiling->kt};
            kernel->tilings.push_back(std::move(t));
        }
        kernel->dataflow = dfx::Dataflow::OutputStationary;
        kernel->loop_order = {0, 1, 2, 3};
        kernel->first_op = emitter_.size();
        const std::uint32_t kernelIndex = static_cast<std::uint32_t>(program_.kernels.size());

        emitMatMulOps(kernelIndex, inputs, batched, C, batch, static_cast<std::uint32_t>(M),
                      static_cast<std::uint32_t>(N), static_cast<std::uint32_t>(K), *tiling);

        kernel->op_count = emitter_.size() - kernel->first_op;
        program_.kernels.push_back(std::move(kernel));

        auto& hints = *program_.hints;
        hints.macs += batch * static_cast<std::uint64_t>(M) * static_cast<std::uint64_t>(N) *
                      static_cast<std::uint64_t>(K);
        const std::uint64_t outputTiles = batch *
                                          ceilDiv(static_cast<std::uint64_t>(M), tiling->mt) *
                                          ceilDiv(static_cast<std::uint64_t>(N), tiling->nt);
        hints.parallelism =
            static_cast<std::uint32_t>(std::max<std::uint64_t>(hints.parallelism, outputTiles));
        return {};
    }

    // Output-stationary tile loops (b, m, n, k): the output tile stays in L2 across the K loop,
    // A and B tiles are loaded EXT -> L3 -> L2 for every step; the finished tile is flushed
    // L2 -> L3 -> EXT. A barrier marks the output complete for later kernels.
    void emitMatMulOps(std::uint32_t kernelIndex, const std::vector<TensorInfo*>& inputs,
                       const std::vector<std::uint8_t>& batched, TensorInfo& C, std::uint64_t batch,
                       std::uint32_t M, std::uint32_t N, std::uint32_t K,
                       const GemmTiling& tiling) {
        const std::array<dfx::MatMulOperand, 3> roles{dfx::MatMulOperand::A, dfx::MatMulOperand::B,
                                                      dfx::MatMulOperand::C};
        auto& hints = *program_.hints;
        const std::uint32_t R = options_.target.compute.arrayRows,
                            Cols = options_.target.compute.arrayCols;
        std::vector<std::uint32_t> finalStores;

        // Two loads (EXT->L3, L3->L2) of one operand tile; returns the L2 load.
        auto loadTile = [&](const TensorInfo& t, const dfx::Region& region, MoveKind kind) {
            const std::uint32_t toL3 = emitter_.emit(
                moveOp(kind, MemoryLevel::External, MemoryLevel::L3, t.index, region), {t.ready});
            hints.external_bytes += regionBytes(region, t.elementBytes);
            return emitter_.emit(moveOp(kind, MemoryLevel::L3, MemoryLevel::L2, t.index, region),
                                 {toL3});
        };

        for (std::uint32_t b = 0; b < batch; ++b) {
            for (std::uint32_t m = 0; m < M; m += tiling.mt) {
                for (std::uint32_t n = 0; n < N; n += tiling.nt) {
                    std::optional<std::uint32_t> lastCompute;
                    for (std::uint32_t k = 0; k < K; k += tiling.kt) {
                        const dfx::MatMulTile tile{b,
                                                   m,
                                                   n,
                                                   k,
                                                   std::min(tiling.mt, M - m),
                                                   std::min(tiling.nt, N - n),
                                                   std::min(tiling.kt, K - k)};
                        const MoveKind kind = k == 0 ? MoveKind::Load : MoveKind::Prefetch;
                        std::vector<std::uint32_t> deps;
                        const std::size_t operandsThisStep = k == 0 ? inputs.size() : 2;
                        for (std::size_t i = 0; i < operandsThisStep; ++i) {
                            const dfx::Region region = dfx::matMulOperandRegion(
                                roles[i], tile, inputs[i]->view, batched[i] != 0);
                            deps.push_back(loadTile(*inputs[i], region, kind));
                        }
                        if (lastCompute)
                            deps.push_back(*lastCompute);
                        const std::uint32_t flags = k == 0 ? 0 : kAccumulateFlag;
                        lastCompute = emitter_.emit(dfx::Op(dfx::OpKind::Compute, MoveKind::Load,
                                                            MemoryLevel::L2, MemoryLevel::L2, flags,
                                                            kernelIndex, dfx::toRegion(tile)),
                                                    deps);
                        hints.compute_cycles += ceilDiv(tile.mt, R) * ceilDiv(tile.nt, Cols) *
                                                (2ull * R + Cols + tile.kt - 2);
                    }
                    const dfx::MatMulTile tile{
                        b, m, n, 0, std::min(tiling.mt, M - m), std::min(tiling.nt, N - n), 1};
                    const dfx::Region region =
                        dfx::matMulOperandRegion(dfx::MatMulOperand::C, tile, C.view, true);
                    const std::uint32_t toL3 = emitter_.emit(
                        moveOp(MoveKind::Flush, MemoryLevel::L2, MemoryLevel::L3, C.index, region),
                        {lastCompute});
                    finalStores.push_back(
                        emitter_.emit(moveOp(MoveKind::Flush, MemoryLevel::L3,
                                             MemoryLevel::External, C.index, region),
                                      {toL3}));
                    hints.external_bytes += regionBytes(region, C.elementBytes);
                }
            }
        }
        C.ready = emitter_.emit(dfx::Op(dfx::OpKind::Barrier, MoveKind::Load, MemoryLevel::External,
                                        MemoryLevel::External, 0, 0, dfx::Region()),
                                finalStores);
    }

    static std::uint64_t regionBytes(const dfx::Region& r, std::uint32_t elementBytes) {
        const auto& e = *r.extent();
        return std::uint64_t{e[0]} * e[1] * e[2] * e[3] * elementBytes;
    }

    const ir::Graph& graph_;
    const LowerOptions& options_;
    dfx::ProgramT program_;
    OpEmitter emitter_;
    std::map<ir::ValueId, TensorInfo> tensors_;
};

} // namespace

Expected<dfx::ProgramT> lowerGraph(const ir::Graph& graph, const LowerOptions& options) {
    return Lowering(graph, options).run();
}

} // namespace kpu::compiler
