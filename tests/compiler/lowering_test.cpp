// Lowering of MATMUL graphs to DFX programs: iteration coverage, accumulate flags, dependencies
// (loads -> compute -> flushes -> barrier -> consumer loads), tensor roles, hints, the CSR, the
// object size, and the error messages. Expectations are recomputed here from the program's
// documented meaning, never taken from the lowering itself.
#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "kpu/common/hw_config.h"
#include "kpu/compiler/compiler.h"
#include "kpu/compiler/lowering.h"
#include "kpu/compiler/tile_optimizer.h"
#include "kpu/schema/kernel_regions.h"
#include "kpu/schema/object.h"
#include "kpu/schema/tile_loops.h"
#include "support/dfg_writer.h"
#include "support/failure_capture.h"
#include "support/test_configs.h"

namespace kpu::compiler {
namespace {

using u32 = std::uint32_t;
using u64 = std::uint64_t;
using Shape64 = std::vector<std::int64_t>;

// ---------------------------------------------------------------------------------------------
// Helpers

// Writes `text` to a fresh temporary .dfg file, removed again on destruction.
class TempDfg {
public:
    explicit TempDfg(const std::string& text) {
        static int counter = 0;
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        std::string stem = info ? info->name() : "x";
        std::ranges::replace_if(
            stem, [](char ch) { return !std::isalnum(static_cast<unsigned char>(ch)); }, '_');
        path_ = std::filesystem::temp_directory_path() /
                fmt::format("kpu_lowering_{}_{}_{}.dfg", stem, getpid(), counter++);
        std::ofstream(path_) << text;
    }
    ~TempDfg() {
        std::error_code ec;
        std::filesystem::remove(path_, ec);
    }
    TempDfg(const TempDfg&) = delete;
    TempDfg& operator=(const TempDfg&) = delete;
    std::string path() const { return path_.string(); }

private:
    std::filesystem::path path_;
};

using test::minimalConfig;

Expected<CompileResult> compileText(const std::string& text, const KpuConfig& config,
                                    std::string* pathOut = nullptr,
                                    std::optional<dfx::Dataflow> dataflow = std::nullopt) {
    TempDfg file(text);
    if (pathOut)
        *pathOut = file.path();
    return compileDfgFile(file.path(),
                          CompileOptions{.target = config, .batch = 1, .dataflow = dataflow});
}

using dfx::Dataflow;
constexpr Dataflow kOs = Dataflow::OutputStationary;
constexpr Dataflow kWs = Dataflow::WeightStationary;
constexpr Dataflow kIs = Dataflow::InputStationary;

// Tile loops per dataflow (docs/dataflows.md): os and is b, m, n, k; ws b, n, m, k.
std::vector<std::uint8_t> expectedLoopOrder(Dataflow d) {
    if (d == kWs)
        return {0, 2, 1, 3};
    return {0, 1, 2, 3};
}

// Array cycles of one Compute tile: folds x (2R + C + T - 2) with (rows, cols, T) = os (mt, nt,
// kt), ws (kt, nt, mt), is (kt, mt, nt).
u64 tileArrayCycles(Dataflow d, u64 R, u64 C, const dfx::MatMulTile& t) {
    u64 rows = t.mt, cols = t.nt, stream = t.kt;
    if (d == kWs)
        rows = t.kt, cols = t.nt, stream = t.mt;
    if (d == kIs)
        rows = t.kt, cols = t.mt, stream = t.nt;
    return ((rows + R - 1) / R) * ((cols + C - 1) / C) * (2 * R + C + stream - 2);
}

// 4-D canonical view: rank < 4 gets leading 1s; rank > 4 collapses its leading dims into dim 0.
std::array<u64, 4> view4(const std::vector<std::int64_t>& shape) {
    std::array<u64, 4> v{1, 1, 1, 1};
    const std::size_t r = shape.size();
    if (r <= 4) {
        for (std::size_t i = 0; i < r; ++i)
            v[4 - r + i] = static_cast<u64>(shape[i]);
        return v;
    }
    u64 lead = 1;
    for (std::size_t i = 0; i + 3 < r; ++i)
        lead *= static_cast<u64>(shape[i]);
    v[0] = lead;
    for (std::size_t i = 0; i < 3; ++i)
        v[1 + i] = static_cast<u64>(shape[r - 3 + i]);
    return v;
}

u32 bytesOf(dfx::DType t) {
    switch (t) {
    case dfx::DType::F32:
        return 4;
    case dfx::DType::F16:
        return 2;
    case dfx::DType::F64:
        return 8;
    case dfx::DType::F8E4M3:
        return 1;
    case dfx::DType::I8:
        return 1;
    case dfx::DType::I32:
        return 4;
    case dfx::DType::I64:
        return 8;
    }
    return 0;
}

using Box = std::array<u32, 8>; // origin then extent

Box boxOf(const dfx::Region& r) {
    Box b{};
    for (u32 i = 0; i < 4; ++i) {
        b[i] = r.origin()->Get(i);
        b[4 + i] = r.extent()->Get(i);
    }
    return b;
}

u64 volume(const dfx::Region& r) {
    return u64{r.extent()->Get(0)} * r.extent()->Get(1) * r.extent()->Get(2) * r.extent()->Get(3);
}

std::vector<u32> depsOf(const dfx::ProgramT& p, std::size_t i) {
    return {p.dep_indices.begin() + p.dep_offsets[i], p.dep_indices.begin() + p.dep_offsets[i + 1]};
}

bool contains(const std::vector<u32>& v, u32 x) {
    return std::ranges::find(v, x) != v.end();
}

bool isMove(const dfx::Op& op, dfx::MemoryLevel from, dfx::MemoryLevel to, u32 tensor) {
    return op.kind() == dfx::OpKind::DataMove && op.src_level() == from && op.dst_level() == to &&
           op.index() == tensor;
}

// The CSR is well formed and every dependency points to an earlier op.
void checkCsr(const dfx::ProgramT& p) {
    ASSERT_EQ(p.dep_offsets.size(), p.ops.size() + 1);
    ASSERT_EQ(p.dep_offsets.front(), 0u);
    ASSERT_EQ(p.dep_offsets.back(), p.dep_indices.size());
    for (std::size_t i = 0; i + 1 < p.dep_offsets.size(); ++i)
        ASSERT_LE(p.dep_offsets[i], p.dep_offsets[i + 1]) << "at op " << i;
    for (std::size_t i = 0; i < p.ops.size(); ++i)
        for (u32 d : depsOf(p, i))
            ASSERT_LT(d, i) << "op " << i << " depends on a later op";
}

// The tensor whose storage `t` shares (itself when it owns its storage).
u32 rootOf(const dfx::ProgramT& p, u32 t) {
    return p.tensors[t]->alias_of >= 0 ? static_cast<u32>(p.tensors[t]->alias_of) : t;
}

// Whether a tensor lives on chip: a Reserve op names its root.
bool onChip(const dfx::ProgramT& p, u32 t) {
    const u32 root = rootOf(p, t);
    return std::ranges::any_of(p.ops, [&](const dfx::Op& op) {
        return op.kind() == dfx::OpKind::Reserve && op.index() == root;
    });
}

// Checks every structural property of one MatMul kernel. Returns the barrier op index.
u32 checkMatMulKernel(const dfx::ProgramT& p, std::size_t kernelIndex) {
    const dfx::KernelT& kernel = *p.kernels[kernelIndex];
    SCOPED_TRACE("kernel " + kernel.name);
    EXPECT_EQ(kernel.kind, dfx::KernelKind::MatMul);
    const std::size_t nIn = kernel.inputs.size();
    EXPECT_TRUE(nIn == 2 || nIn == 3);
    const dfx::TensorT& A = *p.tensors[kernel.inputs[0]];
    const dfx::TensorT& B = *p.tensors[kernel.inputs[1]];
    const dfx::TensorT& C = *p.tensors[kernel.output];
    const bool outputOnChip = onChip(p, kernel.output);
    std::vector<bool> inputOnChip;
    for (u32 t : kernel.inputs)
        inputOnChip.push_back(onChip(p, t));

    // The iteration space from the tensor shapes.
    const u64 M = static_cast<u64>(A.shape[A.shape.size() - 2]);
    const u64 K = static_cast<u64>(A.shape.back());
    const u64 N = static_cast<u64>(B.shape.back());
    u64 batch = 1;
    for (std::size_t i = 0; i + 2 < C.shape.size(); ++i)
        batch *= static_cast<u64>(C.shape[i]);
    EXPECT_EQ(static_cast<u64>(C.shape[C.shape.size() - 2]), M);
    EXPECT_EQ(static_cast<u64>(C.shape.back()), N);
    EXPECT_EQ(static_cast<u64>(B.shape[B.shape.size() - 2]), K);

    // Which inputs vary with the batch: those whose leading dims are not all 1.
    std::vector<bool> batched;
    for (u32 t : kernel.inputs) {
        const auto& s = p.tensors[t]->shape;
        bool any = false;
        for (std::size_t i = 0; i + 2 < s.size(); ++i)
            any = any || s[i] != 1;
        batched.push_back(any);
    }
    std::vector<std::array<u64, 4>> views;
    for (u32 t : kernel.inputs)
        views.push_back(view4(p.tensors[t]->shape));
    const auto outView = view4(C.shape);

    const u32 first = kernel.first_op, last = kernel.first_op + kernel.op_count;
    EXPECT_LE(last, p.ops.size());

    // The recorded loop order is the dataflow's, and the compute ops follow it: their
    // (b, outer, inner, k) origins, in that order, strictly increase.
    const std::vector<std::uint8_t> order = expectedLoopOrder(kernel.dataflow);
    EXPECT_EQ(std::vector<std::uint8_t>(kernel.loop_order), order);
    std::optional<std::array<u32, 4>> previousKey;

    // Coverage bitmap over (b, m, n, k).
    const u64 points = batch * M * N * K;
    const bool bitmap = points <= (u64{1} << 26);
    std::vector<std::uint8_t> covered(bitmap ? points : 0, 0);
    u64 coveredCount = 0;

    using TileKey = std::tuple<u32, u32, u32>; // b, m, n
    std::map<TileKey, u32> lastCompute;
    std::map<TileKey, std::pair<u32, u32>> tileExtent; // mt, nt
    std::map<Box, u32> flushToL3, flushToExt;          // region -> op index
    std::map<Box, u32> flushToL3Count, flushToExtCount;
    std::set<u32> finalStores;
    std::vector<u32> barriers;

    const auto hasMoveDep = [&](const std::vector<u32>& deps, dfx::MemoryLevel from,
                                dfx::MemoryLevel to, u32 tensor,
                                const dfx::Region& region) -> std::optional<u32> {
        for (u32 d : deps)
            if (isMove(p.ops[d], from, to, tensor) && boxOf(p.ops[d].region()) == boxOf(region))
                return d;
        return std::nullopt;
    };

    for (u32 i = first; i < last; ++i) {
        const dfx::Op& op = p.ops[i];
        const auto deps = depsOf(p, i);
        if (op.kind() == dfx::OpKind::Barrier) {
            barriers.push_back(i);
            continue;
        }
        if (op.kind() == dfx::OpKind::DataMove) {
            EXPECT_NE(op.src_level(), dfx::MemoryLevel::L1);
            EXPECT_NE(op.dst_level(), dfx::MemoryLevel::L1);
            if (op.index() == kernel.output && op.src_level() == dfx::MemoryLevel::L2) {
                EXPECT_EQ(op.dst_level(), dfx::MemoryLevel::L3);
                const Box box = boxOf(op.region());
                flushToL3[box] = i;
                ++flushToL3Count[box];
                // Must follow the last compute of its tile, and depend on it directly.
                const TileKey key{box[0] * static_cast<u32>(outView[1]) + box[1], box[2], box[3]};
                auto it = lastCompute.find(key);
                if (it == lastCompute.end()) {
                    ADD_FAILURE() << "flush of a tile that was never computed, op " << i;
                } else {
                    EXPECT_TRUE(contains(deps, it->second))
                        << "flush op " << i << " misses its last compute";
                    EXPECT_EQ(tileExtent[key], std::make_pair(box[6], box[7]));
                }
                if (outputOnChip)
                    finalStores.insert(i); // it stays in L3
            } else if (op.index() == kernel.output && op.src_level() == dfx::MemoryLevel::L3) {
                EXPECT_EQ(op.dst_level(), dfx::MemoryLevel::External);
                const Box box = boxOf(op.region());
                flushToExt[box] = i;
                ++flushToExtCount[box];
                finalStores.insert(i);
                auto it = flushToL3.find(box);
                if (it == flushToL3.end())
                    ADD_FAILURE() << "L3->EXT flush op " << i << " without an L2->L3 flush";
                else
                    EXPECT_TRUE(contains(deps, it->second)) << "op " << i;
            }
            continue;
        }
        // Compute.
        EXPECT_EQ(op.kind(), dfx::OpKind::Compute);
        EXPECT_EQ(op.index(), kernelIndex);
        const dfx::MatMulTile t = dfx::matMulTile(op.region());
        EXPECT_EQ(op.region().extent()->Get(0), 1u);
        const std::array<u32, 4> orderKey{
            op.region().origin()->Get(order[0]), op.region().origin()->Get(order[1]),
            op.region().origin()->Get(order[2]), op.region().origin()->Get(order[3])};
        EXPECT_TRUE(!previousKey || *previousKey < orderKey)
            << "compute op " << i << " breaks the loop order of "
            << dataflowShortName(kernel.dataflow);
        previousKey = orderKey;
        const bool inside = t.b < batch && u64{t.m} + t.mt <= M && u64{t.n} + t.nt <= N &&
                            u64{t.k} + t.kt <= K && t.mt >= 1 && t.nt >= 1 && t.kt >= 1;
        if (!inside) {
            ADD_FAILURE() << "compute op " << i << " is outside the iteration space";
            return UINT32_MAX;
        }
        coveredCount += u64{t.mt} * t.nt * t.kt;
        if (bitmap) {
            for (u64 m = t.m; m < t.m + t.mt; ++m)
                for (u64 n = t.n; n < t.n + t.nt; ++n)
                    for (u64 k = t.k; k < t.k + t.kt; ++k) {
                        auto& cell = covered[((t.b * M + m) * N + n) * K + k];
                        EXPECT_EQ(cell, 0) << "point (" << t.b << "," << m << "," << n << "," << k
                                           << ") computed twice";
                        cell = 1;
                    }
        }
        // Accumulate exactly on the k-steps after the first.
        EXPECT_EQ((op.flags() & kAccumulateFlag) != 0, t.k != 0)
            << "compute op " << i << " k=" << t.k;

        // The L2 loads of its A and B tiles (and of C on the first step of an accumulate).
        const std::array<dfx::MatMulOperand, 3> roles{dfx::MatMulOperand::A, dfx::MatMulOperand::B,
                                                      dfx::MatMulOperand::C};
        const std::size_t operands = (t.k == 0) ? nIn : 2;
        for (std::size_t o = 0; o < operands; ++o) {
            const dfx::Region region = dfx::matMulOperandRegion(roles[o], t, views[o], batched[o]);
            auto l2 = hasMoveDep(deps, dfx::MemoryLevel::L3, dfx::MemoryLevel::L2, kernel.inputs[o],
                                 region);
            EXPECT_TRUE(l2.has_value())
                << "compute op " << i << " misses the L2 load of operand " << o;
            if (l2 && !inputOnChip[o]) { // on-chip tensors are read from L3
                auto ext = hasMoveDep(depsOf(p, *l2), dfx::MemoryLevel::External,
                                      dfx::MemoryLevel::L3, kernel.inputs[o], region);
                EXPECT_TRUE(ext.has_value()) << "L2 load op " << *l2 << " misses its EXT->L3 load";
            }
        }
        // The previous compute of the same output tile, one k-step earlier.
        const TileKey key{t.b, t.m, t.n};
        auto it = lastCompute.find(key);
        if (t.k == 0) {
            EXPECT_EQ(it, lastCompute.end()) << "a second k=0 step for the same tile, op " << i;
            tileExtent[key] = {t.mt, t.nt};
        } else if (it == lastCompute.end()) {
            ADD_FAILURE() << "compute op " << i << " at k=" << t.k << " has no earlier step";
        } else {
            EXPECT_TRUE(contains(deps, it->second))
                << "compute op " << i << " misses its previous step";
            const dfx::MatMulTile prev = dfx::matMulTile(p.ops[it->second].region());
            EXPECT_EQ(prev.k + prev.kt, t.k);
            EXPECT_EQ(prev.mt, t.mt);
            EXPECT_EQ(prev.nt, t.nt);
        }
        lastCompute[key] = i;
        // No compute of a tile after its flush.
        const dfx::Region cRegion =
            dfx::matMulOperandRegion(dfx::MatMulOperand::C, t, outView, true);
        EXPECT_EQ(flushToL3.count(boxOf(cRegion)), 0u)
            << "compute op " << i << " after its tile was flushed";
    }

    EXPECT_EQ(coveredCount, batch * M * N * K);
    if (bitmap) {
        EXPECT_EQ(std::ranges::count(covered, 0), 0) << "iteration points never computed";
    }

    // Every output tile flushed exactly once, both hops (one, L2 -> L3, for an on-chip output).
    EXPECT_EQ(flushToL3.size(), lastCompute.size());
    EXPECT_EQ(flushToExt.size(), outputOnChip ? 0 : lastCompute.size());
    for (const auto& [box, n] : flushToL3Count)
        EXPECT_EQ(n, 1u);
    for (const auto& [box, n] : flushToExtCount)
        EXPECT_EQ(n, 1u);
    u64 flushedElements = 0;
    for (const auto& [box, i] : outputOnChip ? flushToL3 : flushToExt)
        flushedElements += u64{box[4]} * box[5] * box[6] * box[7];
    EXPECT_EQ(flushedElements, batch * M * N);

    // One barrier, after the final flushes, depending on exactly those.
    EXPECT_EQ(barriers.size(), 1u);
    if (barriers.empty())
        return UINT32_MAX;
    const auto bdeps = depsOf(p, barriers.front());
    EXPECT_EQ(std::set<u32>(bdeps.begin(), bdeps.end()), finalStores);
    EXPECT_EQ(bdeps.size(), finalStores.size());
    return barriers.front();
}

// Hints recomputed from the program: external bytes from the EXT moves, MACs from the shapes.
void checkHints(const dfx::ProgramT& p, const KpuConfig& config) {
    ASSERT_NE(p.hints, nullptr);
    u64 ext = 0;
    for (const dfx::Op& op : p.ops)
        if (op.kind() == dfx::OpKind::DataMove && (op.src_level() == dfx::MemoryLevel::External ||
                                                   op.dst_level() == dfx::MemoryLevel::External))
            ext += volume(op.region()) * bytesOf(p.tensors[op.index()]->dtype);
    EXPECT_EQ(p.hints->external_bytes, ext);

    u64 macs = 0;
    for (const auto& k : p.kernels) {
        const auto& a = p.tensors[k->inputs[0]]->shape;
        const auto& b = p.tensors[k->inputs[1]]->shape;
        const auto& c = p.tensors[k->output]->shape;
        u64 batch = 1;
        for (std::size_t i = 0; i + 2 < c.size(); ++i)
            batch *= static_cast<u64>(c[i]);
        macs += batch * static_cast<u64>(a[a.size() - 2]) * static_cast<u64>(a.back()) *
                static_cast<u64>(b.back());
    }
    EXPECT_EQ(p.hints->macs, macs);

    // Array cycles: each compute tile runs the folds of its kernel's dataflow.
    // Parallelism: the most output tiles (k = 0 steps) of any kernel.
    const u64 R = config.compute.arrayRows, Cc = config.compute.arrayCols;
    u64 cycles = 0;
    std::map<u32, u64> outputTiles;
    for (const dfx::Op& op : p.ops) {
        if (op.kind() != dfx::OpKind::Compute)
            continue;
        const dfx::MatMulTile t = dfx::matMulTile(op.region());
        cycles += tileArrayCycles(p.kernels[op.index()]->dataflow, R, Cc, t);
        if (t.k == 0)
            ++outputTiles[op.index()];
    }
    EXPECT_EQ(p.hints->compute_cycles, cycles);
    u64 parallelism = 0;
    for (const auto& [kernel, tiles] : outputTiles)
        parallelism = std::max(parallelism, tiles);
    EXPECT_EQ(p.hints->parallelism, parallelism);
    EXPECT_EQ(p.hints->target_config, config.name);
    EXPECT_EQ(p.hints->array_rows, config.compute.arrayRows);
    EXPECT_EQ(p.hints->array_cols, config.compute.arrayCols);
}

void checkProgram(const CompileResult& r, const KpuConfig& config) {
    const dfx::ProgramT& p = r.program;
    checkCsr(p);
    if (::testing::Test::HasFatalFailure())
        return;
    for (std::size_t k = 0; k < p.kernels.size(); ++k)
        checkMatMulKernel(p, k);
    checkHints(p, config);
    // Names are unique.
    std::set<std::string> names;
    for (const auto& t : p.tensors)
        EXPECT_TRUE(names.insert(t->name).second) << "duplicate tensor name " << t->name;
    // The object is a finished FlatBuffer with our identifier, and verifies.
    ASSERT_GE(r.object.size(), 8u);
    EXPECT_EQ(std::string(r.object.begin() + 4, r.object.begin() + 8), "KPUX");
    auto verified = dfx::verifyStructure(r.object, "test");
    EXPECT_TRUE(verified.has_value()) << (verified ? "" : verified.error().message);
}

// ---------------------------------------------------------------------------------------------
// Structure of single MatMuls

struct MatMulCase {
    const char* label;
    Shape64 a, b, out, c;
    const char* dtype;
    bool minimal; // minimal config (small tiles) or default
};

void PrintTo(const MatMulCase& c, std::ostream* os) {
    *os << c.label;
}

// Each case under the chosen dataflow (-1) and under each forced one.
class LoweringMatMul : public ::testing::TestWithParam<std::tuple<MatMulCase, int>> {};

TEST_P(LoweringMatMul, ProgramIsConsistent) {
    const auto& [mc, dataflow] = GetParam();
    const KpuConfig config = mc.minimal ? minimalConfig() : defaultConfig();
    const std::optional<Dataflow> forced =
        dataflow < 0 ? std::nullopt : std::optional(static_cast<Dataflow>(dataflow));
    auto r = compileText(test::matmulDfg("mm", mc.a, mc.b, mc.out, mc.c, mc.dtype), config, nullptr,
                         forced);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    const dfx::ProgramT& p = r->program;
    ASSERT_EQ(p.kernels.size(), 1u);
    if (forced) {
        EXPECT_EQ(p.kernels[0]->dataflow, *forced);
    }
    checkProgram(*r, config);

    // Roles: A, B (and C) are CONSTANT nodes, the result is returned.
    const dfx::KernelT& k = *p.kernels[0];
    for (u32 t : k.inputs)
        EXPECT_EQ(p.tensors[t]->role, dfx::TensorRole::Constant) << p.tensors[t]->name;
    EXPECT_EQ(p.tensors[k.output]->role, dfx::TensorRole::Output);
    EXPECT_EQ(p.tensors.size(), k.inputs.size() + 1);
    EXPECT_EQ(std::vector<std::int64_t>(p.tensors[k.output]->shape), mc.out);
}

// Small configs force splits in M, N and K (edge tiles included); the default config keeps
// most of these whole.
INSTANTIATE_TEST_SUITE_P(
    Shapes, LoweringMatMul,
    ::testing::Combine(
        ::testing::Values(
            MatMulCase{"one", {1, 1}, {1, 1}, {1, 1}, {}, "f32", false},
            MatMulCase{"odd", {37, 53}, {53, 91}, {37, 91}, {}, "f32", true},
            MatMulCase{"deepK", {40, 700}, {700, 24}, {40, 24}, {}, "f32", true},
            MatMulCase{"splitMN", {300, 50}, {50, 290}, {300, 290}, {}, "f32", true},
            MatMulCase{"batched", {3, 40, 700}, {3, 700, 24}, {3, 40, 24}, {}, "f32", true},
            MatMulCase{"broadcastB", {2, 3, 20, 150}, {150, 30}, {2, 3, 20, 30}, {}, "f32", true},
            MatMulCase{"broadcastA1", {1, 20, 150}, {4, 150, 30}, {4, 20, 30}, {}, "f32", true},
            MatMulCase{"accumulate", {70, 600}, {600, 90}, {70, 90}, {70, 90}, "f32", true},
            MatMulCase{"accumulateBatched",
                       {2, 33, 400},
                       {2, 400, 17},
                       {2, 33, 17},
                       {2, 33, 17},
                       "f32",
                       true},
            MatMulCase{"accumulateBroadcastC",
                       {2, 33, 400},
                       {2, 400, 17},
                       {2, 33, 17},
                       {33, 17},
                       "f32",
                       true},
            MatMulCase{"rank5",
                       {2, 3, 2, 12, 200},
                       {2, 3, 2, 200, 10},
                       {2, 3, 2, 12, 10},
                       {},
                       "f32",
                       true},
            MatMulCase{"rank5BroadcastB",
                       {2, 3, 2, 12, 200},
                       {1, 1, 1, 200, 10},
                       {2, 3, 2, 12, 10},
                       {},
                       "f32",
                       true},
            MatMulCase{"f8", {50, 3000}, {3000, 40}, {50, 40}, {}, "f8", true},
            MatMulCase{"f64", {64, 300}, {300, 72}, {64, 72}, {}, "f64", true},
            MatMulCase{"f16", {130, 1000}, {1000, 20}, {130, 20}, {130, 20}, "f16", true},
            MatMulCase{"skinny", {32, 256}, {256, 32}, {32, 32}, {}, "f32", false},
            MatMulCase{"default512", {512, 512}, {512, 512}, {512, 512}, {}, "f32", false},
            MatMulCase{"tall", {1000, 40}, {40, 24}, {1000, 24}, {}, "f32", true},
            MatMulCase{"wide", {24, 40}, {40, 1000}, {24, 1000}, {}, "f32", true}),
        ::testing::Values(-1, 0, 1, 2)),
    [](const ::testing::TestParamInfo<std::tuple<MatMulCase, int>>& param) {
        const int d = std::get<1>(param.param);
        return std::string(std::get<0>(param.param).label) + "_" +
               (d < 0 ? "auto" : dataflowShortName(static_cast<Dataflow>(d)));
    });

// The cases above only test something if tiles really split; make sure some do, under each
// dataflow.
TEST(Lowering, SmallConfigSplitsEveryDimension) {
    for (Dataflow d : {kOs, kWs, kIs}) {
        SCOPED_TRACE(dataflowShortName(d));
        auto r = compileText(test::matmulDfg("mm", {1000, 700}, {700, 1000}, {1000, 1000}),
                             minimalConfig(), nullptr, d);
        ASSERT_TRUE(r.has_value()) << r.error().message;
        std::set<u32> ms, ns, ks;
        for (const dfx::Op& op : r->program.ops)
            if (op.kind() == dfx::OpKind::Compute) {
                const auto t = dfx::matMulTile(op.region());
                ms.insert(t.m), ns.insert(t.n), ks.insert(t.k);
            }
        EXPECT_GT(ms.size(), 1u);
        EXPECT_GT(ns.size(), 1u);
        EXPECT_GT(ks.size(), 1u);
        checkProgram(*r, minimalConfig());
    }
}

// The compute ops of a kernel, in program order.
std::vector<dfx::MatMulTile> computeTiles(const dfx::ProgramT& p, std::size_t kernel) {
    std::vector<dfx::MatMulTile> out;
    const dfx::KernelT& k = *p.kernels[kernel];
    for (u32 i = k.first_op; i < k.first_op + k.op_count; ++i)
        if (p.ops[i].kind() == dfx::OpKind::Compute)
            out.push_back(dfx::matMulTile(p.ops[i].region()));
    return out;
}

// The region of input `input` each compute op of kernel 0 loads into L2, in program order.
std::vector<Box> l2Loads(const dfx::ProgramT& p, u32 tensor) {
    std::vector<Box> out;
    for (const dfx::Op& op : p.ops)
        if (isMove(op, dfx::MemoryLevel::L3, dfx::MemoryLevel::L2, tensor))
            out.push_back(boxOf(op.region()));
    return out;
}

// A tall GEMM (M = 1000, N = 24, K = 8) on the minimal config goes weight-stationary in
// 504x16x8 tiles, and its tile loops run n outermost: (n 0, m 0), (n 0, m 504), (n 16, m 0),
// (n 16, m 504). With kt = K, consecutive steps of one n load the same B tile (the one the
// binder finds resident); forced os runs m outermost and repeats the A tile instead.
TEST(Lowering, WeightStationaryIteratesNOutermost) {
    const std::string dfg = test::matmulDfg("mm", {1000, 8}, {8, 24}, {1000, 24});
    auto r = compileText(dfg, minimalConfig());
    ASSERT_TRUE(r.has_value()) << r.error().message;
    const dfx::ProgramT& p = r->program;
    const dfx::KernelT& k = *p.kernels[0];
    EXPECT_EQ(k.dataflow, kWs);
    EXPECT_EQ(std::vector<std::uint8_t>(k.loop_order), (std::vector<std::uint8_t>{0, 2, 1, 3}));
    EXPECT_EQ(std::vector<u32>(k.tilings[1]->tile), (std::vector<u32>{1, 504, 16, 8}));
    std::vector<std::pair<u32, u32>> order; // (n, m) of each step
    for (const auto& t : computeTiles(p, 0))
        order.emplace_back(t.n, t.m);
    EXPECT_EQ(order, (std::vector<std::pair<u32, u32>>{{0, 0}, {0, 504}, {16, 0}, {16, 504}}));
    const auto a = l2Loads(p, k.inputs[0]), b = l2Loads(p, k.inputs[1]);
    ASSERT_EQ(b.size(), 4u);
    EXPECT_EQ(b[0], b[1]);
    EXPECT_EQ(b[2], b[3]);
    EXPECT_NE(a[0], a[1]);
    checkProgram(*r, minimalConfig());

    // The same GEMM forced output-stationary (336x24x8: one N tile): m outermost.
    auto os = compileText(dfg, minimalConfig(), nullptr, kOs);
    ASSERT_TRUE(os.has_value()) << os.error().message;
    EXPECT_EQ(os->program.kernels[0]->dataflow, kOs);
    EXPECT_EQ(std::vector<std::uint8_t>(os->program.kernels[0]->loop_order),
              (std::vector<std::uint8_t>{0, 1, 2, 3}));
    std::vector<u32> ms;
    for (const auto& t : computeTiles(os->program, 0))
        ms.push_back(t.m);
    EXPECT_EQ(ms, (std::vector<u32>{0, 336, 672}));
    checkProgram(*os, minimalConfig());

    // Wide (M = 24, N = 1000) forced os in 24x128 tiles: consecutive steps repeat the A tile.
    auto wide = compileText(test::matmulDfg("mm", {24, 8}, {8, 1000}, {24, 1000}), minimalConfig(),
                            nullptr, kOs);
    ASSERT_TRUE(wide.has_value()) << wide.error().message;
    const auto wideA = l2Loads(wide->program, wide->program.kernels[0]->inputs[0]);
    ASSERT_GT(wideA.size(), 1u);
    EXPECT_TRUE(std::ranges::all_of(wideA, [&](const Box& box) { return box == wideA[0]; }));
    checkProgram(*wide, minimalConfig());
}

// hints.compute_cycles by hand: the sum over Compute tiles of folds x (2R + C + T - 2).
struct HintCase {
    Shape64 a, b, out;
    bool minimal;
    Dataflow dataflow;
    std::vector<u32> tile; // the L2 tile [1, mt, nt, kt]
    u64 cycles;
};

TEST(Lowering, ComputeCyclesHintByHand) {
    const std::vector<HintCase> cases{
        // 40x50x70 in one tile. 16x16 (2R + C - 2 = 46): os 3 x 4 folds of 46 + 70; ws rows K
        // 5 x cols N 4 of 46 + 40; is rows K 5 x cols M 3 of 46 + 50.
        {{40, 70}, {70, 50}, {40, 50}, false, kOs, {1, 40, 50, 70}, 12 * 116},
        {{40, 70}, {70, 50}, {40, 50}, false, kWs, {1, 40, 50, 70}, 20 * 86},
        {{40, 70}, {70, 50}, {40, 50}, false, kIs, {1, 40, 50, 70}, 15 * 96},
        // 8x8 (22): os 5 x 7 of 22 + 70; ws 9 x 7 of 22 + 40; is 9 x 5 of 22 + 50.
        {{40, 70}, {70, 50}, {40, 50}, true, kOs, {1, 40, 50, 70}, 35 * 92},
        {{40, 70}, {70, 50}, {40, 50}, true, kWs, {1, 40, 50, 70}, 63 * 62},
        {{40, 70}, {70, 50}, {40, 50}, true, kIs, {1, 40, 50, 70}, 45 * 72},
        // M 300, N 20, K 1000 on 16x16, with edge tiles.
        // os 16x16x1000: M 18 tiles of 16 + one of 12 = 19 folds; N 16 + 4 = 2 folds;
        // one K step of 1000: 19 x 2 x (46 + 1000).
        {{300, 1000}, {1000, 20}, {300, 20}, false, kOs, {1, 16, 16, 1000}, 19 * 2 * 1046},
        // ws 300x20x48: K 20 tiles of 48 (3 folds) + one of 40 (3) = 63 row folds; N 2 column
        // folds; T = M = 300 in one step: 63 x 2 x (46 + 300).
        {{300, 1000}, {1000, 20}, {300, 20}, false, kWs, {1, 300, 20, 48}, 63 * 2 * 346},
        // is 300x20x48: 63 row folds (K) x 19 column folds (M) x (46 + 20).
        {{300, 1000}, {1000, 20}, {300, 20}, false, kIs, {1, 300, 20, 48}, 63 * 19 * 66},
        // M 100, N 60, K 1000 on 8x8, with edge tiles.
        // os 8x8x504: M 13 folds, N 8 folds, K 504 + 496: 13 x 8 x (2 x 22 + 1000).
        {{100, 1000}, {1000, 60}, {100, 60}, true, kOs, {1, 8, 8, 504}, 13 * 8 * 1044},
        // ws 100x60x32: K 31 x 4 + 1 = 125 row folds, N 8 column folds, T = 100: x (22 + 100).
        {{100, 1000}, {1000, 60}, {100, 60}, true, kWs, {1, 100, 60, 32}, 125 * 8 * 122},
        // is 100x60x32: 125 row folds (K) x 13 column folds (M) x (22 + 60).
        {{100, 1000}, {1000, 60}, {100, 60}, true, kIs, {1, 100, 60, 32}, 125 * 13 * 82},
    };
    for (const HintCase& hc : cases) {
        const KpuConfig config = hc.minimal ? minimalConfig() : defaultConfig();
        SCOPED_TRACE(fmt::format("{}x{}x{} on {} {}", hc.a[0], hc.b[1], hc.a[1], config.name,
                                 dataflowShortName(hc.dataflow)));
        auto r =
            compileText(test::matmulDfg("mm", hc.a, hc.b, hc.out), config, nullptr, hc.dataflow);
        ASSERT_TRUE(r.has_value()) << r.error().message;
        const dfx::KernelT& k = *r->program.kernels[0];
        EXPECT_EQ(k.dataflow, hc.dataflow);
        EXPECT_EQ(std::vector<u32>(k.tilings[1]->tile), hc.tile);
        EXPECT_EQ(r->program.hints->compute_cycles, hc.cycles);
        checkProgram(*r, config);
    }
}

// The 1024^3 f32 GEMM on the default config: output-stationary 16x16x1024 tiles, so every fold
// streams the whole K: 64 x 64 tiles of one fold of 2*16 + 16 + 1024 - 2 = 1070 cycles.
TEST(Lowering, Default1024CubedStreamsTheWholeK) {
    auto r = compileText(test::matmulDfg("mm", {1024, 1024}, {1024, 1024}, {1024, 1024}),
                         defaultConfig());
    ASSERT_TRUE(r.has_value()) << r.error().message;
    const dfx::KernelT& k = *r->program.kernels[0];
    EXPECT_EQ(k.dataflow, kOs);
    EXPECT_EQ(std::vector<u32>(k.tilings[1]->tile), (std::vector<u32>{1, 16, 16, 1024}));
    EXPECT_EQ(r->program.hints->compute_cycles, 4096u * 1070);
    checkProgram(*r, defaultConfig());
}

// Without a forced dataflow each GEMM kernel gets its own: in one program, a tall one ws, a
// wide one is, a balanced one os.
TEST(Lowering, EachKernelGetsItsOwnDataflow) {
    test::DfgBuilder g("three");
    const test::DfgValue x = g.input("x", {4096, 64});
    const test::DfgValue w = g.constant("w", {64, 64});
    const test::DfgValue tall = g.node("MATMUL", {x, w}, {"tall", {4096, 64}});
    const test::DfgValue a = g.constant("a", {64, 64});
    const test::DfgValue b = g.constant("b", {64, 4096});
    const test::DfgValue wide = g.node("MATMUL", {a, b}, {"wide", {64, 4096}});
    const test::DfgValue c = g.constant("c", {256, 256});
    const test::DfgValue d = g.constant("d", {256, 256});
    const test::DfgValue square = g.node("MATMUL", {c, d}, {"square", {256, 256}});
    g.output({tall, wide, square});
    const std::string text = g.str();
    auto r = compileText(text, defaultConfig());
    ASSERT_TRUE(r.has_value()) << r.error().message;
    const dfx::ProgramT& p = r->program;
    ASSERT_EQ(p.kernels.size(), 3u);
    std::map<std::string, Dataflow> byName;
    for (const auto& k : p.kernels)
        byName[k->name.substr(0, k->name.find('#'))] = k->dataflow;
    EXPECT_EQ(byName["tall"], kWs);
    EXPECT_EQ(byName["wide"], kIs);
    EXPECT_EQ(byName["square"], kOs);
    checkProgram(*r, defaultConfig());

    // --dataflow overrides every GEMM kernel.
    for (Dataflow df : {kOs, kWs, kIs}) {
        auto forced = compileText(text, defaultConfig(), nullptr, df);
        ASSERT_TRUE(forced.has_value()) << forced.error().message;
        for (const auto& k : forced->program.kernels)
            EXPECT_EQ(k->dataflow, df) << k->name;
        checkProgram(*forced, defaultConfig());
    }
}

using test::expectCaught;
using test::failuresOf;

// The checker must be able to fail: corrupt a correct program in the ways a lowering bug would.
class LoweringChecker : public ::testing::Test {
protected:
    void SetUp() override {
        auto r = compileText(test::matmulDfg("mm", {40, 700}, {700, 24}, {40, 24}, {40, 24}),
                             minimalConfig());
        ASSERT_TRUE(r.has_value()) << r.error().message;
        result_ = std::move(*r);
        const dfx::ProgramT& p = result_.program;
        for (u32 i = 0; i < p.ops.size(); ++i)
            if (p.ops[i].kind() == dfx::OpKind::Compute &&
                dfx::matMulTile(p.ops[i].region()).k != 0) {
                laterStep_ = i;
                break;
            }
        ASSERT_NE(laterStep_, 0u) << "no second k-step: the case does not split K";
    }

    dfx::ProgramT& program() { return result_.program; }
    // Index into dep_indices of the dependency of op `i` that satisfies `pred`.
    template <class Pred>
    std::size_t depSlot(u32 i, Pred pred) {
        const dfx::ProgramT& p = program();
        for (u32 j = p.dep_offsets[i]; j < p.dep_offsets[i + 1]; ++j)
            if (pred(p.ops[p.dep_indices[j]]))
                return j;
        ADD_FAILURE() << "op " << i << " has no such dependency";
        return 0;
    }

    CompileResult result_;
    u32 laterStep_ = 0;
};

TEST_F(LoweringChecker, AcceptsTheProgram) {
    checkMatMulKernel(program(), 0);
}

TEST_F(LoweringChecker, CatchesMissingAccumulateFlag) {
    dfx::Op& op = program().ops[laterStep_];
    op = dfx::Op(op.kind(), op.move_kind(), op.src_level(), op.dst_level(), 0, op.index(),
                 op.region());
    expectCaught([&] { checkMatMulKernel(program(), 0); }, "k=");
}

TEST_F(LoweringChecker, CatchesMissingPreviousStep) {
    const std::size_t slot =
        depSlot(laterStep_, [](const dfx::Op& d) { return d.kind() == dfx::OpKind::Compute; });
    program().dep_indices[slot] = 0;
    expectCaught([&] { checkMatMulKernel(program(), 0); }, "misses its previous step");
}

TEST_F(LoweringChecker, CatchesMissingOperandLoad) {
    const std::size_t slot = depSlot(laterStep_, [](const dfx::Op& d) {
        return d.kind() == dfx::OpKind::DataMove && d.dst_level() == dfx::MemoryLevel::L2;
    });
    program().dep_indices[slot] = 0;
    expectCaught([&] { checkMatMulKernel(program(), 0); }, "misses the L2 load");
}

TEST_F(LoweringChecker, CatchesUncoveredPoints) {
    dfx::Op& op = program().ops[laterStep_];
    const auto o = op.region().origin();
    const auto e = op.region().extent();
    const std::array<u32, 4> origin{o->Get(0), o->Get(1), o->Get(2), o->Get(3)};
    const std::array<u32, 4> extent{e->Get(0), e->Get(1), e->Get(2), e->Get(3) - 1};
    op = dfx::Op(op.kind(), op.move_kind(), op.src_level(), op.dst_level(), op.flags(), op.index(),
                 dfx::Region(origin, extent));
    expectCaught([&] { checkMatMulKernel(program(), 0); }, "coveredCount");
}

TEST_F(LoweringChecker, CatchesIncompleteBarrier) {
    dfx::ProgramT& p = program();
    const u32 bar = p.kernels[0]->first_op + p.kernels[0]->op_count - 1;
    ASSERT_EQ(p.ops[bar].kind(), dfx::OpKind::Barrier);
    p.dep_indices[p.dep_offsets[bar]] = 0;
    expectCaught([&] { checkMatMulKernel(p, 0); }, "finalStores");
}

TEST_F(LoweringChecker, CatchesWrongHints) {
    program().hints->external_bytes += 4;
    expectCaught([&] { checkHints(program(), minimalConfig()); }, "external_bytes");
    program().hints->external_bytes -= 4;
    program().hints->macs += 1;
    expectCaught([&] { checkHints(program(), minimalConfig()); }, "macs");
}

TEST_F(LoweringChecker, CatchesForwardDependency) {
    program().dep_indices[program().dep_offsets[laterStep_]] = laterStep_ + 1;
    expectCaught([&] { checkCsr(program()); }, "depends on a later op");
}

// ---------------------------------------------------------------------------------------------
// Chained MatMuls: barrier between producer and consumer, roles, unique names

// Y = (X x W1) x W2 with X a FUNCTION_ARGUMENT, W1/W2 CONSTANTs; both MATMUL results are
// named "out" in the file, so the graph must rename one.
std::string chainedDfg() {
    return "Domain Flow Graph: chain\n"
           "DIRECTED\n"
           "RUNNING_NODE_ID 5\n"
           "NODES 6\n"
           "NODE 0 : |input|FUNCTION_ARGUMENT|0|||0:X|0:tensor<48x300xf32>\n"
           "NODE 1 : |const.W1|CONSTANT|0|||0:W1|0:tensor<300x80xf32>\n"
           "NODE 2 : |const.W2|CONSTANT|0|||0:W2|0:tensor<80x40xf32>\n"
           "NODE 3 : "
           "|mm1|MATMUL|1|0:tensor<48x300xf32>,1:tensor<300x80xf32>||0:out|0:tensor<48x80xf32>\n"
           "NODE 4 : "
           "|mm2|MATMUL|2|0:tensor<48x80xf32>,1:tensor<80x40xf32>||0:out|0:tensor<48x40xf32>\n"
           "NODE 5 : "
           "|output|FUNCTION_RETURN|3|0:tensor<48x40xf32>|target:memory|0:out|0:tensor<48x40xf32>\n"
           "EDGES 5\n"
           "EDGE 0 -> 3 : 0|true|tensor<48x300xf32>|32|0|0|1,1,1\n"
           "EDGE 1 -> 3 : 0|true|tensor<300x80xf32>|32|0|1|1,1,1\n"
           "EDGE 3 -> 4 : 0|false|tensor<48x80xf32>|32|0|0|1,1,1\n"
           "EDGE 2 -> 4 : 0|true|tensor<80x40xf32>|32|0|1|1,1,1\n"
           "EDGE 4 -> 5 : 0|false|tensor<48x40xf32>|32|0|0|1,1,1\n";
}

TEST(Lowering, ChainedMatMulWaitsForTheBarrier) {
    const KpuConfig config = minimalConfig();
    auto r = compileText(chainedDfg(), config);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    const dfx::ProgramT& p = r->program;
    ASSERT_EQ(p.kernels.size(), 2u);
    checkProgram(*r, config);

    const u32 barrier0 = checkMatMulKernel(p, 0);
    ASSERT_NE(barrier0, UINT32_MAX);
    const dfx::KernelT& k0 = *p.kernels[0];
    const dfx::KernelT& k1 = *p.kernels[1];
    // The consumer reads the producer's output as its A operand.
    EXPECT_EQ(k1.inputs[0], k0.output);
    EXPECT_GE(k1.first_op, k0.first_op + k0.op_count);
    u32 consumerLoads = 0;
    for (u32 i = k1.first_op; i < k1.first_op + k1.op_count; ++i) {
        const dfx::Op& op = p.ops[i];
        // Read from external memory, or from L3 when the intermediate stays on chip.
        if (isMove(op, dfx::MemoryLevel::External, dfx::MemoryLevel::L3, k0.output) ||
            (onChip(p, k0.output) &&
             isMove(op, dfx::MemoryLevel::L3, dfx::MemoryLevel::L2, k0.output))) {
            ++consumerLoads;
            EXPECT_TRUE(contains(depsOf(p, i), barrier0))
                << "load op " << i << " does not wait for the barrier";
        }
    }
    EXPECT_GT(consumerLoads, 0u);
    // Loads of the producer's inputs need no barrier: they have no producer.
    for (u32 i = k0.first_op; i < k0.first_op + k0.op_count; ++i) {
        if (p.ops[i].kind() == dfx::OpKind::DataMove &&
            p.ops[i].src_level() == dfx::MemoryLevel::External) {
            EXPECT_TRUE(depsOf(p, i).empty()) << "op " << i;
        }
    }

    // Roles.
    ASSERT_EQ(p.tensors.size(), 5u);
    EXPECT_EQ(p.tensors[k0.inputs[0]]->role, dfx::TensorRole::Input);
    EXPECT_EQ(p.tensors[k0.inputs[1]]->role, dfx::TensorRole::Constant);
    EXPECT_EQ(p.tensors[k0.output]->role, dfx::TensorRole::Intermediate);
    EXPECT_EQ(p.tensors[k1.inputs[1]]->role, dfx::TensorRole::Constant);
    EXPECT_EQ(p.tensors[k1.output]->role, dfx::TensorRole::Output);
    EXPECT_NE(p.tensors[k0.output]->name, p.tensors[k1.output]->name);
    EXPECT_EQ(p.tensors[k0.output]->source_node, 3);
    EXPECT_EQ(p.tensors[k1.output]->source_node, 4);
    EXPECT_EQ(p.hints->macs, 48ull * 300 * 80 + 48ull * 80 * 40);
}

// Out = A2 x B2 + (A1 x B1): the intermediate is the consumer's accumulate input (slot 2).
TEST(Lowering, ChainedAccumulateInputWaitsForTheBarrier) {
    const std::string text =
        "Domain Flow Graph: chain_acc\n"
        "DIRECTED\n"
        "RUNNING_NODE_ID 6\n"
        "NODES 7\n"
        "NODE 0 : |const.A1|CONSTANT|0|||0:A1|0:tensor<40x100xf32>\n"
        "NODE 1 : |const.B1|CONSTANT|0|||0:B1|0:tensor<100x30xf32>\n"
        "NODE 2 : |const.A2|CONSTANT|0|||0:A2|0:tensor<40x500xf32>\n"
        "NODE 3 : |const.B2|CONSTANT|0|||0:B2|0:tensor<500x30xf32>\n"
        "NODE 4 : "
        "|mm1|MATMUL|1|0:tensor<40x100xf32>,1:tensor<100x30xf32>||0:T|0:tensor<40x30xf32>\n"
        "NODE 5 : "
        "|mm2|MATMUL|2|0:tensor<40x500xf32>,1:tensor<500x30xf32>,2:tensor<40x30xf32>||0:Out|0:"
        "tensor<40x30xf32>\n"
        "NODE 6 : "
        "|output|FUNCTION_RETURN|3|0:tensor<40x30xf32>|target:memory|0:Out|0:tensor<40x30xf32>\n"
        "EDGES 6\n"
        "EDGE 0 -> 4 : 0|true|tensor<40x100xf32>|32|0|0|1,1,1\n"
        "EDGE 1 -> 4 : 0|true|tensor<100x30xf32>|32|0|1|1,1,1\n"
        "EDGE 2 -> 5 : 0|true|tensor<40x500xf32>|32|0|0|1,1,1\n"
        "EDGE 3 -> 5 : 0|true|tensor<500x30xf32>|32|0|1|1,1,1\n"
        "EDGE 4 -> 5 : 0|false|tensor<40x30xf32>|32|0|2|1,1,1\n"
        "EDGE 5 -> 6 : 0|false|tensor<40x30xf32>|32|0|0|1,1,1\n";
    const KpuConfig config = minimalConfig();
    auto r = compileText(text, config);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    const dfx::ProgramT& p = r->program;
    ASSERT_EQ(p.kernels.size(), 2u);
    checkProgram(*r, config);
    const u32 barrier0 = checkMatMulKernel(p, 0);
    ASSERT_NE(barrier0, UINT32_MAX);
    const dfx::KernelT& k0 = *p.kernels[0];
    const dfx::KernelT& k1 = *p.kernels[1];
    ASSERT_EQ(k1.inputs.size(), 3u);
    EXPECT_EQ(k1.inputs[2], k0.output);
    u32 consumerLoads = 0;
    for (u32 i = k1.first_op; i < k1.first_op + k1.op_count; ++i) {
        const bool fromOutside =
            isMove(p.ops[i], dfx::MemoryLevel::External, dfx::MemoryLevel::L3, k0.output) ||
            (onChip(p, k0.output) &&
             isMove(p.ops[i], dfx::MemoryLevel::L3, dfx::MemoryLevel::L2, k0.output));
        if (fromOutside) {
            ++consumerLoads;
            EXPECT_TRUE(contains(depsOf(p, i), barrier0)) << "load op " << i;
        }
    }
    // One load of the accumulate input per output tile of the consumer.
    u32 consumerTiles = 0;
    for (u32 i = k1.first_op; i < k1.first_op + k1.op_count; ++i)
        if (p.ops[i].kind() == dfx::OpKind::Compute && dfx::matMulTile(p.ops[i].region()).k == 0)
            ++consumerTiles;
    EXPECT_EQ(consumerLoads, consumerTiles);
    EXPECT_GT(consumerLoads, 0u);
    EXPECT_EQ(p.tensors[k0.output]->role, dfx::TensorRole::Intermediate);
    EXPECT_EQ(p.tensors[k1.output]->role, dfx::TensorRole::Output);
}

// ---------------------------------------------------------------------------------------------
// Size of a large program

TEST(Lowering, Object4096CubedIsSmall) {
    const KpuConfig config = defaultConfig();
    auto r = compileText(test::matmulDfg("big", {4096, 4096}, {4096, 4096}, {4096, 4096}), config);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    const dfx::ProgramT& p = r->program;
    std::cout << "[ info ] 4096^3 matmul: " << p.ops.size() << " ops, object " << r->object.size()
              << " bytes\n";
    RecordProperty("object_bytes", std::to_string(r->object.size()));
    EXPECT_LT(r->object.size(), 100u * 1000 * 1000);
    EXPECT_EQ(p.hints->macs, 4096ull * 4096 * 4096);
    u64 macs = 0;
    for (const dfx::Op& op : p.ops)
        if (op.kind() == dfx::OpKind::Compute)
            macs += volume(op.region());
    EXPECT_EQ(macs, 4096ull * 4096 * 4096);
    checkCsr(p);
}

// ---------------------------------------------------------------------------------------------
// Errors

// Splits "<path>[:<line>:<col>]: error: <what>" into the line (0 when absent) and <what>;
// fails the test when the message does not start that way.
std::pair<u32, std::string> splitError(const std::string& message, const std::string& path) {
    static const std::regex place(R"(^(?::(\d+):(\d+))?: error: (.*)$)");
    std::smatch m;
    const std::string rest =
        message.rfind(path, 0) == 0 ? message.substr(path.size()) : std::string();
    if (rest.empty() || !std::regex_match(rest, m, place)) {
        ADD_FAILURE() << "message does not start with '" << path << ": error: ': " << message;
        return {0, message};
    }
    return {m[1].matched ? static_cast<u32>(std::stoul(m[1].str())) : 0u, m[3].str()};
}

TEST(LoweringErrors, UnsupportedOperatorNamesNode) {
    const std::string text =
        "Domain Flow Graph: conv\n"
        "DIRECTED\n"
        "RUNNING_NODE_ID 3\n"
        "NODES 4\n"
        "NODE 0 : |input|FUNCTION_ARGUMENT|0|||0:x|0:tensor<1x8x8x3xf32>\n"
        "NODE 1 : |weights|CONSTANT|0|||0:w|0:tensor<4x3x3x3xf32>\n"
        "NODE 2 : |tosa.conv3d|CONV3D|1|0:tensor<1x8x8x3xf32>,1:tensor<4x3x3x3xf32>||0:y|0:"
        "tensor<1x6x6x4xf32>\n"
        "NODE 3 : |output|FUNCTION_RETURN|2|0:tensor<1x6x6x4xf32>|target:memory|0:y|0:"
        "tensor<1x6x6x4xf32>\n"
        "EDGES 3\n"
        "EDGE 0 -> 2 : 0|true|tensor<1x8x8x3xf32>|32|0|0|1,1,1\n"
        "EDGE 1 -> 2 : 0|true|tensor<4x3x3x3xf32>|32|0|1|1,1,1\n"
        "EDGE 2 -> 3 : 0|false|tensor<1x6x6x4xf32>|32|0|0|1,1,1\n";
    std::string path;
    auto r = compileText(text, defaultConfig(), &path);
    ASSERT_FALSE(r.has_value());
    const auto [line, what] = splitError(r.error().message, path);
    EXPECT_EQ(what, "operator CONV3D (node 2 'tosa.conv3d') is not supported");
    EXPECT_TRUE(line == 0 || line == 7) << "line " << line << " is not the CONV3D NODE line";
}

struct BadMatMul {
    const char* label;
    Shape64 a, b, out;
    const char* phrase;
};

void PrintTo(const BadMatMul& c, std::ostream* os) {
    *os << c.label;
}

class LoweringMatMulErrors : public ::testing::TestWithParam<BadMatMul> {};

TEST_P(LoweringMatMulErrors, NameTheNode) {
    const BadMatMul& bc = GetParam();
    std::string path;
    auto r = compileText(test::matmulDfg("bad", bc.a, bc.b, bc.out), defaultConfig(), &path);
    ASSERT_FALSE(r.has_value()) << "compiled " << bc.label;
    const std::string& msg = r.error().message;
    const auto [line, what] = splitError(msg, path);
    EXPECT_TRUE(line == 0 || line == 7) << "line " << line << " is not the MATMUL NODE line";
    EXPECT_NE(what.find("node 2 'matmul'"), std::string::npos) << msg;
    EXPECT_NE(msg.find(bc.phrase), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    EXPECT_NE(msg.back(), '.') << msg;
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, LoweringMatMulErrors,
    ::testing::Values(
        BadMatMul{"innerMismatch", {4, 8}, {9, 5}, {4, 5}, "inner dimensions differ"},
        BadMatMul{"wrongResultCols", {4, 8}, {8, 5}, {4, 6}, "result is 4x6, expected 4x5"},
        BadMatMul{"wrongResultRows", {4, 8}, {8, 5}, {3, 5}, "result is 3x5, expected 4x5"},
        BadMatMul{
            "partialBroadcast", {2, 3, 4, 8}, {3, 8, 5}, {2, 3, 4, 5}, "batch dimensions differ"},
        BadMatMul{"batchMismatch", {2, 4, 8}, {3, 8, 5}, {2, 4, 5}, "batch dimensions differ"}),
    [](const ::testing::TestParamInfo<BadMatMul>& param) {
        return std::string(param.param.label);
    });

TEST(LoweringErrors, TooSmallConfigNamesNode) {
    KpuConfig c = defaultConfig();
    c.name = "tiny";
    c.l2.bankCount = 1;
    c.l2.bankCapacity = 256;
    auto r = compileText(test::matmulDfg("mm", {64, 64}, {64, 64}, {64, 64}), c);
    ASSERT_FALSE(r.has_value());
    EXPECT_NE(r.error().message.find("node 2 'matmul'"), std::string::npos) << r.error().message;
}

// serializeProgram gives the same bytes as the driver, and they pass the structural verifier.
TEST(Lowering, SerializeRoundTripsThroughVerifier) {
    auto r = compileText(test::matmulDfg("mm", {5, 7}, {7, 3}, {5, 3}), defaultConfig());
    ASSERT_TRUE(r.has_value()) << r.error().message;
    const auto bytes = serializeProgram(r->program);
    EXPECT_EQ(bytes, r->object);
    auto verified = dfx::verifyStructure(bytes, "mm.kpu");
    ASSERT_TRUE(verified.has_value()) << verified.error().message;
    EXPECT_EQ((*verified)->ops()->size(), r->program.ops.size());
}

// Without explicitOps the compiler stores only the Reserve ops: every kernel is a TileLoops
// record, numbered in the program as if its ops were there, and expanding each record with the
// shared generator at its place gives back the explicit program, op by op and dep by dep.
TEST(TileLoops, CompactLoweringExpandsToTheExplicitProgram) {
    for (const char* example :
         {"matmul.dfg", "mlp.dfg", "attention.dfg", "cnn.dfg", "matmul_chained_mixed.dfg"}) {
        SCOPED_TRACE(example);
        const std::string path = std::string(KPU_SOURCE_DIR) + "/examples/" + example;
        auto x = compileDfgFile(path, {});
        auto c = compileDfgFile(path, {.explicitOps = false});
        ASSERT_TRUE(x && c);
        const dfx::ProgramT& compact = c->program;
        for (const dfx::Op& op : compact.ops)
            EXPECT_EQ(op.kind(), dfx::OpKind::Reserve);
        std::vector<dfx::Op> ops;
        std::vector<std::uint32_t> offsets{0}, indices;
        std::size_t stored = 0;
        auto copyStored = [&](std::size_t until) {
            for (; ops.size() < until && stored < compact.ops.size(); ++stored) {
                ops.push_back(compact.ops[stored]);
                offsets.push_back(static_cast<std::uint32_t>(indices.size()));
            }
        };
        for (std::uint32_t k = 0; k < compact.kernels.size(); ++k) {
            const dfx::KernelT& kernel = *compact.kernels[k];
            EXPECT_EQ(kernel.ops_encoding, dfx::OpsEncoding::TileLoops);
            EXPECT_EQ(x->program.kernels[k]->ops_encoding, dfx::OpsEncoding::Explicit);
            EXPECT_EQ(kernel.first_op, x->program.kernels[k]->first_op);
            EXPECT_EQ(kernel.op_count, x->program.kernels[k]->op_count);
            const auto* object = dfx::GetProgram(c->object.data());
            auto loops = dfx::decodeTileLoops(*object, k);
            ASSERT_TRUE(loops) << loops.error().message;
            auto counts = dfx::countTileLoops(*loops);
            ASSERT_TRUE(counts);
            EXPECT_EQ(counts->ops, kernel.op_count);
            copyStored(kernel.first_op);
            dfx::expandTileLoops(*loops, ops, offsets, indices);
        }
        copyStored(SIZE_MAX);
        ASSERT_EQ(ops.size(), x->program.ops.size());
        for (std::size_t i = 0; i < ops.size(); ++i)
            ASSERT_EQ(std::memcmp(&ops[i], &x->program.ops[i], sizeof(dfx::Op)), 0) << "op " << i;
        EXPECT_EQ(offsets, x->program.dep_offsets);
        EXPECT_EQ(indices, x->program.dep_indices);
        EXPECT_EQ(compact.hints->external_bytes, x->program.hints->external_bytes);
        EXPECT_EQ(compact.hints->compute_cycles, x->program.hints->compute_cycles);
        EXPECT_LT(c->object.size(), x->object.size());
    }
}

// The counts are exact and cheap: the expansion of a record has exactly countTileLoops ops and
// dependencies (a batched GEMM with C and a bias, on-chip and external operands mixed).
TEST(TileLoops, CountsMatchTheExpansion) {
    dfx::TileLoops loops;
    loops.shape.kind = Operator::MatMul;
    loops.shape.params.biasInput = 3;
    loops.shape.inputs = {{1, 3, 40, 24}, {1, 3, 24, 36}, {1, 3, 40, 36}, {1, 1, 1, 36}};
    loops.shape.output = {1, 3, 40, 36};
    loops.shape.iteration = {3, 40, 36, 24};
    loops.shape.inputBatched = {1, 1, 1, 0};
    loops.tile = {1, 16, 16, 8};
    loops.loopOrder = {0, 2, 1, 3};
    loops.inputs = {0, 1, 2, 3};
    loops.inputLevels = {dfx::MemoryLevel::L3, dfx::MemoryLevel::External,
                         dfx::MemoryLevel::External, dfx::MemoryLevel::L3};
    loops.inputReady = {4, -1, 2, -1};
    loops.output = 4;
    loops.firstOp = 10;
    for (dfx::MemoryLevel out : {dfx::MemoryLevel::External, dfx::MemoryLevel::L3}) {
        loops.outputLevel = out;
        auto counts = dfx::countTileLoops(loops);
        ASSERT_TRUE(counts);
        std::vector<dfx::Op> ops;
        std::vector<std::uint32_t> offsets{0}, indices;
        dfx::expandTileLoops(loops, ops, offsets, indices);
        EXPECT_EQ(ops.size(), counts->ops);
        EXPECT_EQ(indices.size(), counts->deps);
        EXPECT_EQ(ops.back().kind(), dfx::OpKind::Barrier);
        for (std::size_t i = 0; i < ops.size(); ++i)
            for (std::uint32_t d = offsets[i]; d < offsets[i + 1]; ++d)
                EXPECT_LT(indices[d], loops.firstOp + i); // program order
    }
}

} // namespace
} // namespace kpu::compiler
