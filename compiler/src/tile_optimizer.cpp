#include "kpu/compiler/tile_optimizer.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>
#include <vector>

#include "kpu/common/shape.h"

namespace kpu::compiler {
namespace {

using dfx::Dataflow;

std::uint64_t ceilDiv(std::uint64_t a, std::uint64_t b) {
    return (a + b - 1) / b;
}

// Saturating size arithmetic: estimates of absurd shapes compare as "huge", never wrap. Inline
// builtins: the tiling search evaluates them millions of times for a large graph.
inline std::uint64_t mulSat(std::uint64_t a, std::uint64_t b) {
    std::uint64_t r = 0;
    return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}
inline std::uint64_t addSat(std::uint64_t a, std::uint64_t b) {
    std::uint64_t r = 0;
    return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

// Candidate sizes for one dimension: multiples of `step` up to min(extent, cap), plus `extent`
// itself when it fits. Only when not even one `step` fits does a smaller size appear.
std::vector<std::uint32_t> candidates(std::uint64_t extent, std::uint32_t step, std::uint64_t cap) {
    std::vector<std::uint32_t> out;
    const std::uint64_t limit = std::min(extent, cap);
    for (std::uint64_t v = step; v <= limit; v += step)
        out.push_back(static_cast<std::uint32_t>(v));
    if ((extent <= cap && extent % step != 0) || out.empty())
        out.push_back(static_cast<std::uint32_t>(limit));
    return out;
}

// Depths: powers of two below `step`, multiples of `step` up to min(extent, cap), plus `extent`
// itself when it fits; ascending. (A power of two above a `step` that is not one would waste
// array rows under ws and is.)
std::vector<std::uint32_t> depthCandidates(std::uint64_t extent, std::uint32_t step,
                                           std::uint64_t cap) {
    std::vector<std::uint32_t> out;
    const std::uint64_t limit = std::min(extent, cap);
    for (std::uint64_t v = 1; v < step && v <= limit; v *= 2)
        out.push_back(static_cast<std::uint32_t>(v));
    for (std::uint64_t v = step; v <= limit; v += step)
        out.push_back(static_cast<std::uint32_t>(v));
    if (extent <= cap && (out.empty() || out.back() != extent))
        out.push_back(static_cast<std::uint32_t>(extent));
    return out;
}

struct Capacity {
    std::uint64_t perTile;  // largest single tile (one L2 bank / one L3 tile)
    std::uint64_t perLevel; // whole working set
};

// The tiles of one dimension: `full` tiles of `size` and, when the size does not divide the
// extent, one edge tile of `edge`.
struct DimTiles {
    std::uint64_t full, size, edge;
    std::uint64_t count() const { return full + (edge != 0 ? 1 : 0); }
    // (number of tiles, tile size) of the full tiles and of the edge tile.
    std::array<std::pair<std::uint64_t, std::uint64_t>, 2> classes() const {
        return {{{full, size}, {edge != 0 ? 1 : 0, edge}}};
    }
};

DimTiles dimTiles(std::uint64_t extent, std::uint64_t size) {
    return {extent / size, size, extent % size};
}

// How many times an operand is read from external memory, relative to its size, when the three
// tile loops run in `order` (positions of M = 1, N = 2, K = 3, outermost first) with `counts`
// steps each and the operand's tile depends on the loops in `depends`: its tile changes between
// consecutive steps only when a loop it depends on advances, or when an outer loop advances and
// restarts an inner one it depends on. So it is reread once per step of every loop it does not
// depend on, outside the innermost loop it depends on that has more than one step.
std::uint64_t rereads(const std::array<std::uint8_t, 4>& order,
                      const std::array<std::uint64_t, 4>& counts,
                      const std::array<bool, 4>& depends) {
    int innermost = -1;
    for (int i = 1; i < 4; ++i)
        if (depends[order[i]] && counts[order[i]] > 1)
            innermost = i;
    std::uint64_t times = 1;
    for (int i = 1; i <= innermost; ++i)
        if (!depends[order[i]])
            times = mulSat(times, counts[order[i]]);
    return times;
}

// Within the step limit before over it (then fewer steps); the estimated time; tie-breaks: fewer
// bytes, larger kt, fewer output tiles (fewer moves, each of which pays a latency the estimate
// leaves out), the squarer output tile.
bool betterTiling(const GemmShape& s, std::uint64_t maxTileSteps, const GemmTiling& a,
                  const GemmTiling& b) {
    const bool aOver = a.tileSteps > maxTileSteps, bOver = b.tileSteps > maxTileSteps;
    if (aOver != bOver)
        return bOver;
    if (aOver && a.tileSteps != b.tileSteps)
        return a.tileSteps < b.tileSteps;
    if (a.estimate.cycles != b.estimate.cycles)
        return a.estimate.cycles < b.estimate.cycles;
    if (a.estimate.externalBytes != b.estimate.externalBytes)
        return a.estimate.externalBytes < b.estimate.externalBytes;
    if (a.kt != b.kt)
        return a.kt > b.kt;
    const std::uint64_t aTiles = ceilDiv(s.m, a.mt) * ceilDiv(s.n, a.nt);
    const std::uint64_t bTiles = ceilDiv(s.m, b.mt) * ceilDiv(s.n, b.nt);
    if (aTiles != bTiles)
        return aTiles < bTiles;
    // max/min aspect ratio, compared by cross-multiplication.
    return std::uint64_t{std::max(a.mt, a.nt)} * std::min(b.mt, b.nt) <
           std::uint64_t{std::max(b.mt, b.nt)} * std::min(a.mt, a.nt);
}

} // namespace

const char* dataflowShortName(Dataflow dataflow) {
    switch (dataflow) {
    case Dataflow::OutputStationary:
        return "os";
    case Dataflow::WeightStationary:
        return "ws";
    case Dataflow::InputStationary:
        return "is";
    }
    return "?";
}

std::array<std::uint8_t, 4> gemmLoopOrder(Dataflow dataflow) {
    if (dataflow == Dataflow::WeightStationary)
        return {0, 2, 1, 3};
    return {0, 1, 2, 3};
}

std::uint64_t gemmTileCycles(Dataflow dataflow, std::uint32_t rows, std::uint32_t cols,
                             std::uint64_t mt, std::uint64_t nt, std::uint64_t kt) {
    std::uint64_t rowsExtent = mt, colsExtent = nt, stream = kt;
    if (dataflow == Dataflow::WeightStationary)
        rowsExtent = kt, colsExtent = nt, stream = mt;
    else if (dataflow == Dataflow::InputStationary)
        rowsExtent = kt, colsExtent = mt, stream = nt;
    const std::uint64_t folds = mulSat(ceilDiv(rowsExtent, rows), ceilDiv(colsExtent, cols));
    return mulSat(folds, addSat(2ull * rows + cols - 2, stream));
}

GemmEstimate estimateGemm(const GemmShape& s, const KpuConfig& config, Dataflow dataflow,
                          std::uint32_t mt, std::uint32_t nt, std::uint32_t kt) {
    const std::uint32_t R = config.compute.arrayRows, C = config.compute.arrayCols;
    GemmEstimate e;
    // Array cycles: every combination of full and edge tile along M, N and K.
    const DimTiles ms = dimTiles(s.m, mt), ns = dimTiles(s.n, nt), ks = dimTiles(s.k, kt);
    for (const auto& [mCount, mSize] : ms.classes())
        for (const auto& [nCount, nSize] : ns.classes())
            for (const auto& [kCount, kSize] : ks.classes()) {
                if (mCount == 0 || nCount == 0 || kCount == 0)
                    continue;
                const std::uint64_t tiles = mulSat(mulSat(mCount, nCount), kCount);
                e.arrayCycles =
                    addSat(e.arrayCycles,
                           mulSat(tiles, gemmTileCycles(dataflow, R, C, mSize, nSize, kSize)));
            }
    e.arrayCycles = mulSat(e.arrayCycles, s.batch);

    // External bytes: A depends on the M and K loops, B on N and K.
    const auto order = gemmLoopOrder(dataflow);
    const std::array<std::uint64_t, 4> counts{1, ms.count(), ns.count(), ks.count()};
    const std::uint64_t aTimes = rereads(order, counts, {false, true, false, true});
    const std::uint64_t bTimes = rereads(order, counts, {false, false, true, true});
    std::uint64_t bytes = mulSat(mulSat(mulSat(s.m, s.k), s.aElementBytes), aTimes);
    bytes = addSat(bytes, mulSat(mulSat(mulSat(s.k, s.n), s.bElementBytes), bTimes));
    bytes = addSat(bytes,
                   mulSat(mulSat(s.m, s.n), std::uint64_t{s.cElementBytes} + s.initElementBytes));
    e.externalBytes = mulSat(bytes, s.batch);

    const double bytesPerCycle =
        config.bytesPerCycle(config.external.bandwidthGBps) * config.external.bankCount;
    const double transfer = std::ceil(static_cast<double>(e.externalBytes) / bytesPerCycle);
    const std::uint64_t transferCycles =
        transfer >= 1.8e19 ? UINT64_MAX : static_cast<std::uint64_t>(transfer);
    e.cycles = std::max(e.arrayCycles, transferCycles);
    return e;
}

namespace {

// Calls `visit` with every tiling of one dataflow that fits the capacity rules: each (mt, nt)
// with the deepest kt that fits (see the header). Returns whether there was one; when not,
// `smallest` is the smallest tile's (mt, nt) for the message.
template <class Visit>
bool forEachTiling(const GemmShape& s, const KpuConfig& config, Dataflow dataflow, Capacity& cap,
                   std::pair<std::uint32_t, std::uint32_t>& smallest, const Visit& visit) {
    const Capacity l2{config.l2.bankCapacity, config.l2.bankCapacity * config.l2.bankCount};
    const Capacity l3{config.l3.tileCapacity, config.l3.tileCapacity * config.l3.tileCount};
    cap = Capacity{std::min(l2.perTile, l3.perTile), std::min(l2.perLevel, l3.perLevel)};
    const std::uint32_t R = config.compute.arrayRows, C = config.compute.arrayCols;

    // No tile dimension can usefully exceed what one tile's bytes allow.
    const std::uint64_t maxDim = std::max<std::uint64_t>(cap.perTile, 1);
    // M runs along the array's rows (os), columns (is) or through it (ws: steps of R as os).
    const auto ms = candidates(s.m, dataflow == Dataflow::InputStationary ? C : R, maxDim);
    const auto ns = candidates(s.n, C, maxDim);
    const auto ks = depthCandidates(s.k, R, maxDim);
    smallest = {ms.front(), ns.front()};

    bool found = false;
    for (std::uint32_t mt : ms) {
        for (std::uint32_t nt : ns) {
            // nt ascends, so once the output tile is too large every later one is too.
            const std::uint64_t c = std::uint64_t{mt} * nt * s.cElementBytes;
            const std::uint64_t init = std::uint64_t{mt} * nt * s.initElementBytes;
            if (c > cap.perTile || init > cap.perTile || c + init > cap.perLevel)
                break;
            // The deepest kt that fits is the best for this (mt, nt) (see the header).
            const std::uint64_t aPerK = std::uint64_t{mt} * s.aElementBytes;
            const std::uint64_t bPerK = std::uint64_t{nt} * s.bElementBytes;
            const std::uint64_t ktMax =
                std::min({cap.perTile / aPerK, cap.perTile / bPerK,
                          (cap.perLevel - c - init) / (2 * (aPerK + bPerK))});
            const auto deeper = std::ranges::upper_bound(ks, ktMax);
            if (deeper == ks.begin())
                continue;
            const std::uint32_t kt = *std::prev(deeper);
            visit(GemmTiling{.dataflow = dataflow,
                             .mt = mt,
                             .nt = nt,
                             .kt = kt,
                             .estimate = estimateGemm(s, config, dataflow, mt, nt, kt),
                             .tileSteps =
                                 mulSat(mulSat(mulSat(s.batch, ceilDiv(s.m, mt)), ceilDiv(s.n, nt)),
                                        ceilDiv(s.k, kt))});
            found = true;
        }
    }
    return found;
}

// The best tiling under one dataflow (the header's rules).
Expected<GemmTiling> bestTiling(const GemmShape& s, const KpuConfig& config, Dataflow dataflow,
                                std::uint64_t maxTileSteps) {
    Capacity cap{};
    std::pair<std::uint32_t, std::uint32_t> smallest;
    std::optional<GemmTiling> best;
    const bool found = forEachTiling(s, config, dataflow, cap, smallest, [&](const GemmTiling& t) {
        if (!best || betterTiling(s, maxTileSteps, t, *best))
            best = t;
    });
    if (!found) {
        const auto [mt, nt] = smallest;
        const std::uint64_t need =
            2 * (std::uint64_t{mt} * s.aElementBytes + std::uint64_t{nt} * s.bElementBytes) +
            std::uint64_t{mt} * nt * (std::uint64_t{s.cElementBytes} + s.initElementBytes);
        return fail("no tiling fits the configuration '{}': the smallest tile ({}x{}x1) needs {} "
                    "bytes of on-chip memory per level, the config has {} bytes per L2 bank and "
                    "{} bytes of L2+L3 working space",
                    config.name, mt, nt, need, cap.perTile, cap.perLevel);
    }
    return *best;
}

} // namespace

Expected<GemmTiling> chooseGemmTiling(const GemmShape& s, const KpuConfig& config,
                                      std::optional<Dataflow> dataflow,
                                      std::uint64_t maxTileSteps) {
    if (s.m == 0 || s.n == 0 || s.k == 0)
        return GemmTiling{.dataflow = dataflow.value_or(Dataflow::OutputStationary),
                          .mt = static_cast<std::uint32_t>(std::max<std::uint64_t>(s.m, 1)),
                          .nt = static_cast<std::uint32_t>(std::max<std::uint64_t>(s.n, 1)),
                          .kt = static_cast<std::uint32_t>(std::max<std::uint64_t>(s.k, 1)),
                          .estimate = {},
                          .tileSteps = 0};
    if (dataflow)
        return bestTiling(s, config, *dataflow, maxTileSteps);
    // Within the step budget before over it; then the fastest (over it: the fewest steps). The
    // strict comparison keeps the earlier dataflow of kGemmDataflows on a tie: os, ws, is.
    const auto rank = [&](const GemmTiling& t) {
        const bool over = t.tileSteps > maxTileSteps;
        return std::pair{over, over ? t.tileSteps : t.estimate.cycles};
    };
    std::optional<GemmTiling> best;
    std::optional<Error> firstError;
    for (Dataflow d : kGemmDataflows) {
        auto t = bestTiling(s, config, d, maxTileSteps);
        if (!t) {
            if (!firstError)
                firstError = t.error();
            continue;
        }
        if (!best || rank(*t) < rank(*best))
            best = *t;
    }
    if (!best)
        return std::unexpected(*firstError);
    return *best;
}

std::vector<GemmTiling> gemmTilingCandidates(const GemmShape& s, const KpuConfig& config,
                                             std::uint64_t maxTileSteps) {
    std::vector<GemmTiling> all;
    if (s.m == 0 || s.n == 0 || s.k == 0)
        return all;
    for (Dataflow d : kGemmDataflows) {
        Capacity cap{};
        std::pair<std::uint32_t, std::uint32_t> smallest;
        forEachTiling(s, config, d, cap, smallest, [&](const GemmTiling& t) {
            if (t.tileSteps <= maxTileSteps)
                all.push_back(t);
        });
    }
    // The analytical ranking; equal tilings of different dataflows keep kGemmDataflows' order.
    std::ranges::stable_sort(all, [&](const GemmTiling& a, const GemmTiling& b) {
        return betterTiling(s, maxTileSteps, a, b);
    });
    return all;
}

namespace {

// Bytes of the operand and output regions of a tile with extent `extent` at `origin`.
std::uint64_t tileBytes(const dfx::KernelShape& shape, const std::vector<std::uint32_t>& inBytes,
                        std::uint32_t outBytes, const dfx::Box& tile) {
    std::uint64_t bytes = dfx::boxElements(dfx::outputBox(shape, tile)) * outBytes;
    for (std::size_t i = 0; i < shape.inputs.size(); ++i)
        bytes += dfx::boxElements(dfx::inputBox(shape, i, tile)) * inBytes[i];
    return bytes;
}

// The largest working set over the first tile and an interior one (window operators read
// more rows away from the padded border).
std::uint64_t worstTileBytes(const dfx::KernelShape& shape,
                             const std::vector<std::uint32_t>& inBytes, std::uint32_t outBytes,
                             const std::array<std::uint32_t, 4>& space,
                             const std::array<std::uint32_t, 4>& extent) {
    dfx::Box first{{0, 0, 0, 0}, extent};
    dfx::Box middle = first;
    for (std::size_t d = 0; d < 4; ++d)
        middle.origin[d] = std::min(space[d] - extent[d], space[d] / 2);
    return std::max(tileBytes(shape, inBytes, outBytes, first),
                    tileBytes(shape, inBytes, outBytes, middle));
}

} // namespace

Expected<std::array<std::uint32_t, 4>>
chooseVectorTile(const dfx::KernelShape& shape, const std::vector<std::uint32_t>& inputElementBytes,
                 std::uint32_t outputElementBytes, const std::array<std::uint32_t, 4>& space,
                 const KpuConfig& config) {
    // A streaming kernel keeps about four tiles in flight (one loading, one computing, one
    // storing, one spare), so a tile gets a quarter of the smaller level; when the kernel's
    // pinned dimensions make that impossible, half (double buffering).
    const std::uint64_t level = std::min(config.l2.bankCapacity * config.l2.bankCount,
                                         config.l3.tileCapacity * config.l3.tileCount);
    const auto pinned = dfx::pinnedDims(shape);
    std::array<std::uint32_t, 4> extent = space;
    auto bytes = [&] {
        return worstTileBytes(shape, inputElementBytes, outputElementBytes, space, extent);
    };
    std::uint64_t budget = 0;
    for (std::uint64_t inFlight : {4, 2}) {
        budget = level / inFlight;
        extent = space;
        for (std::size_t d = 0; d < 4 && bytes() > budget; ++d) {
            if (pinned[d] || space[d] <= 1)
                continue;
            // The largest extent along d that fits (bytes grow monotonically with it).
            std::uint32_t lo = 1, hi = space[d];
            while (lo < hi) {
                const std::uint32_t mid = lo + (hi - lo + 1) / 2;
                extent[d] = mid;
                if (bytes() <= budget)
                    lo = mid;
                else
                    hi = mid - 1;
            }
            extent[d] = lo;
        }
        if (bytes() <= budget)
            return extent;
    }
    return fail("the smallest tile ({}x{}x{}x{}) needs {} bytes of on-chip working space; the "
                "configuration '{}' allows {} per tile (half of min(L2, L3) for double buffering)",
                extent[0], extent[1], extent[2], extent[3], bytes(), config.name, budget);
}

} // namespace kpu::compiler
