// Our array cycles against SCALE-Sim v2's for lone GEMM and convolution layers, on square and
// non-square arrays, for shapes that are not multiples of the array, in all three dataflows,
// with memory not limiting (docs/timing-model.md, "Dataflows").
//
// scaleSimCycles below re-implements how SCALE-Sim v2 (scalesim/compute/systolic_compute_*.py)
// counts a layer's compute cycles, independently of our binder and timing code: it lays out
// each fold's demand matrix as SCALE-Sim does — the rows that preload the stationary operand
// (weight- and input-stationary), the T rows of the streamed operand, the gap that lets the
// last partial sums leave the array, and the skew of the pipeline fill — and counts the rows.
// Every fold is padded to the full array (SCALE-Sim fills an under-used fold with -1 requests),
// so an edge fold costs as much as a full one.
#include <gtest/gtest.h>

#include "kpu/common/file_io.h"
#include "kpu/compiler/compiler.h"
#include "kpu/loader/binder.h"
#include "support/dfg_writer.h"
#include "support/run_command.h"

namespace kpu::loader {
namespace {

struct Layer {
    std::uint64_t sr = 0, sc = 0, t = 0; // spatial rows, spatial columns, temporal extent
};

// SCALE-Sim's operand-matrix view of a GEMM M x N x K (for a convolution: M = ofmap pixels,
// N = filters, K = window size R*S*C) per dataflow.
Layer scaleSimLayer(dfx::Dataflow dataflow, std::uint64_t m, std::uint64_t n, std::uint64_t k) {
    switch (dataflow) {
    case dfx::Dataflow::WeightStationary:
        return {k, n, m};
    case dfx::Dataflow::InputStationary:
        return {k, m, n};
    default:
        return {m, n, k};
    }
}

std::uint64_t ceilDiv(std::uint64_t a, std::uint64_t b) {
    return (a + b - 1) / b;
}

struct ScaleSim {
    std::uint64_t cycles = 0, folds = 0;
};

ScaleSim scaleSimCycles(dfx::Dataflow dataflow, std::uint64_t rows, std::uint64_t cols,
                        std::uint64_t m, std::uint64_t n, std::uint64_t k) {
    const Layer l = scaleSimLayer(dataflow, m, n, k);
    const std::uint64_t folds = ceilDiv(l.sr, rows) * ceilDiv(l.sc, cols);
    std::uint64_t perFold = 0;
    if (dataflow == dfx::Dataflow::OutputStationary) {
        // T rows of operands, then a gap of rows + cols - 1 while the outputs drain, then the
        // skew of the fill (rows - 1).
        perFold = l.t + (rows + cols - 1) + (rows - 1);
    } else {
        // rows to preload the stationary block, T rows streamed, cols - 1 for the partial sums to
        // leave, then the skew (rows - 1).
        perFold = rows + l.t + (cols - 1) + (rows - 1);
    }
    return {folds * perFold, folds};
}

// Memory never limits: every level large and fast enough for the whole layer in one tile.
KpuConfig unlimitedMemory(std::uint32_t rows, std::uint32_t cols) {
    KpuConfig c = defaultConfig();
    c.name = fmt::format("array{}x{}", rows, cols);
    c.compute.arrayRows = rows;
    c.compute.arrayCols = cols;
    c.l3.tileCapacity = 64ull << 20;
    c.l2.bankCapacity = 64ull << 20;
    c.l1.bufferCapacity = 1ull << 20;
    c.external.bandwidthGBps = c.l3.bandwidthGBps = c.l2.bandwidthGBps = c.l1.bandwidthGBps =
        100000;
    return c;
}

// The array cycles of the GEMM passes of a compiled layer, bound to `config`.
std::uint64_t gemmArrayCycles(const std::string& dfg, const KpuConfig& config,
                              dfx::Dataflow dataflow) {
    test::ScratchDir dir("scalesim");
    EXPECT_TRUE(writeTextFile(dir.file("l.dfg"), dfg));
    auto compiled = compiler::compileDfgFile(
        dir.file("l.dfg"), {.target = config, .batch = 1, .fuse = true, .dataflow = dataflow});
    EXPECT_TRUE(compiled) << (compiled ? "" : compiled.error().message);
    if (!compiled)
        return 0;
    const dfx::Program& program = *dfx::GetProgram(compiled->object.data());
    for (const dfx::Kernel* k : *program.kernels())
        if (k->kind() == dfx::KernelKind::MatMul) {
            // One tile covers the layer: SCALE-Sim's folds are then exactly ours.
            const auto& tile = *k->tilings()->Get(0)->tile();
            const auto& space = *k->iteration_space();
            for (flatbuffers::uoffset_t d = 1; d < 4; ++d)
                EXPECT_EQ(tile[d], space[d]) << "the layer does not fit one tile";
        }
    auto schedule = bindProgram(program, config, "l.kpu");
    EXPECT_TRUE(schedule) << (schedule ? "" : schedule.error().message);
    std::uint64_t cycles = 0;
    for (const sim::BoundOp& op : schedule->ops)
        cycles += op.type == sim::OpType::Array ? op.cycles : 0;
    return cycles;
}

constexpr dfx::Dataflow kDataflows[] = {dfx::Dataflow::OutputStationary,
                                        dfx::Dataflow::WeightStationary,
                                        dfx::Dataflow::InputStationary};

struct ArrayShape {
    std::uint32_t rows, cols;
};
constexpr ArrayShape kArrays[] = {{16, 16}, {8, 8}, {32, 8}, {8, 32}, {12, 20}};

TEST(ScaleSimAgreement, LoneGemmArrayCyclesAgreeWithinOneCyclePerFold) {
    struct Gemm {
        std::int64_t m, n, k;
    };
    for (const Gemm g : {Gemm{64, 64, 64}, Gemm{100, 37, 53}, Gemm{37, 91, 53}, Gemm{256, 64, 300},
                         Gemm{17, 200, 9}})
        for (const ArrayShape a : kArrays)
            for (const dfx::Dataflow df : kDataflows) {
                const KpuConfig config = unlimitedMemory(a.rows, a.cols);
                const std::uint64_t ours = gemmArrayCycles(
                    test::matmulDfg("g", {g.m, g.k}, {g.k, g.n}, {g.m, g.n}), config, df);
                const ScaleSim ref = scaleSimCycles(
                    df, a.rows, a.cols, static_cast<std::uint64_t>(g.m),
                    static_cast<std::uint64_t>(g.n), static_cast<std::uint64_t>(g.k));
                const auto diff =
                    static_cast<std::int64_t>(ours) - static_cast<std::int64_t>(ref.cycles);
                EXPECT_LE(std::abs(diff), static_cast<std::int64_t>(ref.folds))
                    << g.m << "x" << g.n << "x" << g.k << " on " << a.rows << "x" << a.cols << " "
                    << dfx::dataflowName(df) << ": ours " << ours << ", SCALE-Sim " << ref.cycles;
            }
}

TEST(ScaleSimAgreement, ConvolutionLayerArrayCyclesAgree) {
    // 14x14x8 input, 16 filters of 3x3, stride 1, padding 1: SCALE-Sim's ifmap operand matrix is
    // 196 ofmap pixels x 72 (3*3*8), its filter matrix 72 x 16.
    test::DfgBuilder g("conv");
    const test::DfgValue x = g.input("x", {1, 14, 14, 8});
    const test::DfgValue w = g.constant("w", {16, 3, 3, 8});
    // No bias: a fused bias adds an epilogue cycle per output row, which SCALE-Sim does not model.
    g.output({g.node(
        "CONV2D", {x, w}, {"y", {1, 14, 14, 16}},
        test::attrList({test::i64Array("dilation", {1, 1}), test::i64Array("pad", {1, 1, 1, 1}),
                        test::i64Array("stride", {1, 1})}))});
    for (const ArrayShape a : kArrays)
        for (const dfx::Dataflow df : kDataflows) {
            const KpuConfig config = unlimitedMemory(a.rows, a.cols);
            const std::uint64_t ours = gemmArrayCycles(g.str(), config, df);
            const ScaleSim ref = scaleSimCycles(df, a.rows, a.cols, 196, 16, 72);
            const auto diff =
                static_cast<std::int64_t>(ours) - static_cast<std::int64_t>(ref.cycles);
            EXPECT_LE(std::abs(diff), static_cast<std::int64_t>(ref.folds))
                << a.rows << "x" << a.cols << " " << dfx::dataflowName(df) << ": ours " << ours
                << ", SCALE-Sim " << ref.cycles;
        }
}

} // namespace
} // namespace kpu::loader
