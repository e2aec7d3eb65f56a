#include "kpu/compiler/tile_optimizer.h"

#include <algorithm>
#include <vector>

namespace kpu::compiler {
namespace {

std::uint64_t ceilDiv(std::uint64_t a, std::uint64_t b) {
    return (a + b - 1) / b;
}

// Candidate sizes for one dimension: multiples of `step` up to `extent`, plus `extent` itself.
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

// Powers of two up to min(extent, cap), plus `extent` itself when it fits.
std::vector<std::uint32_t> depthCandidates(std::uint64_t extent, std::uint64_t cap) {
    std::vector<std::uint32_t> out;
    const std::uint64_t limit = std::min(extent, cap);
    for (std::uint64_t v = 1; v <= limit; v *= 2)
        out.push_back(static_cast<std::uint32_t>(v));
    if (extent <= cap && (out.empty() || out.back() != extent))
        out.push_back(static_cast<std::uint32_t>(extent));
    return out;
}

struct Capacity {
    std::uint64_t perTile;  // largest single tile (one L2 bank / one L3 tile)
    std::uint64_t perLevel; // whole working set
};

} // namespace

Expected<GemmTiling> chooseGemmTiling(const GemmShape& s, const KpuConfig& config) {
    if (s.m == 0 || s.n == 0 || s.k == 0)
        return GemmTiling{.mt = static_cast<std::uint32_t>(std::max<std::uint64_t>(s.m, 1)),
                          .nt = static_cast<std::uint32_t>(std::max<std::uint64_t>(s.n, 1)),
                          .kt = static_cast<std::uint32_t>(std::max<std::uint64_t>(s.k, 1)),
                          .externalBytes = 0};

    const Capacity l2{config.l2.bankCapacity, config.l2.bankCapacity * config.l2.bankCount};
    const Capacity l3{config.l3.tileCapacity, config.l3.tileCapacity * config.l3.tileCount};
    const Capacity cap{std::min(l2.perTile, l3.perTile), std::min(l2.perLevel, l3.perLevel)};

    // No tile dimension can usefully exceed what one tile's bytes allow.
    const std::uint64_t maxDim = std::max<std::uint64_t>(cap.perTile, 1);
    const auto ms = candidates(s.m, config.compute.arrayRows, maxDim);
    const auto ns = candidates(s.n, config.compute.arrayCols, maxDim);
    const auto ks = depthCandidates(s.k, maxDim);

    bool found = false;
    GemmTiling best;
    for (std::uint32_t mt : ms) {
        for (std::uint32_t nt : ns) {
            const std::uint64_t c = std::uint64_t{mt} * nt * s.cElementBytes;
            const std::uint64_t init = std::uint64_t{mt} * nt * s.initElementBytes;
            if (c > cap.perTile || init > cap.perTile)
                continue;
            const std::uint64_t traffic = s.m * s.k * s.aElementBytes * ceilDiv(s.n, nt) +
                                          s.k * s.n * s.bElementBytes * ceilDiv(s.m, mt) +
                                          s.m * s.n * s.cElementBytes;
            if (found && traffic > best.externalBytes)
                continue;
            for (auto it = ks.rbegin(); it != ks.rend(); ++it) {
                const std::uint32_t kt = *it;
                const std::uint64_t a = std::uint64_t{mt} * kt * s.aElementBytes;
                const std::uint64_t b = std::uint64_t{kt} * nt * s.bElementBytes;
                if (a > cap.perTile || b > cap.perTile || 2 * (a + b) + c + init > cap.perLevel)
                    continue;
                // Lower traffic wins; then the larger kt; then the squarer output tile.
                const bool better =
                    !found || traffic < best.externalBytes ||
                    (traffic == best.externalBytes &&
                     (kt > best.kt ||
                      (kt == best.kt && std::max(mt, nt) < std::max(best.mt, best.nt))));
                if (better) {
                    best = GemmTiling{.mt = mt, .nt = nt, .kt = kt, .externalBytes = traffic};
                    found = true;
                }
                break; // the largest kt that fits is the best for this (mt, nt)
            }
        }
    }
    if (!found) {
        const std::uint64_t need = 2 * (std::uint64_t{ms.front()} * s.aElementBytes +
                                        std::uint64_t{ns.front()} * s.bElementBytes) +
                                   std::uint64_t{ms.front()} * ns.front() * s.cElementBytes;
        return fail("no tiling fits the configuration '{}': the smallest tile ({}x{}x1) needs {} "
                    "bytes of on-chip "
                    "memory per level, the config has {} bytes per L2 bank and {} bytes of L2+L3 "
                    "working space",
                    config.name, ms.front(), ns.front(), need, cap.perTile, cap.perLevel);
    }
    return best;
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
    const std::uint64_t budget = std::min(config.l2.bankCapacity * config.l2.bankCount,
                                          config.l3.tileCapacity * config.l3.tileCount) /
                                 2;
    const auto pinned = dfx::pinnedDims(shape);
    std::array<std::uint32_t, 4> extent = space;
    auto bytes = [&] {
        return worstTileBytes(shape, inputElementBytes, outputElementBytes, space, extent);
    };
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
    if (const std::uint64_t need = bytes(); need > budget)
        return fail(
            "the smallest tile ({}x{}x{}x{}) needs {} bytes of on-chip working space; the "
            "configuration '{}' allows {} per tile (half of min(L2, L3) for double buffering)",
            extent[0], extent[1], extent[2], extent[3], need, config.name, budget);
    return extent;
}

} // namespace kpu::compiler
