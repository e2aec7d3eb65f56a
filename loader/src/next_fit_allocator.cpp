#include "next_fit_allocator.h"

#include <algorithm>
#include <iterator>

namespace kpu::loader {

std::optional<std::uint64_t> NextFitAllocator::findGap(std::uint64_t from, std::uint64_t end,
                                                       std::uint64_t size) const {
    std::uint64_t pos = alignUp(from);
    auto it = live_.lower_bound(pos);
    if (it != live_.begin()) {
        auto prev = std::prev(it);
        if (prev->second.end > pos)
            pos = alignUp(prev->second.end);
    }
    while (true) {
        const std::uint64_t limit = it == live_.end() ? end : std::min(end, it->first);
        if (pos <= limit && size <= limit - pos)
            return pos;
        if (it == live_.end() || it->first >= end)
            return std::nullopt;
        pos = std::max(pos, alignUp(it->second.end));
        ++it;
    }
}

std::optional<std::uint64_t> NextFitAllocator::placeInOneMemory(std::uint64_t size) {
    // The memory holding the fewest live bytes (round-robin order on a tie), so the tiles in use
    // together sit in different banks.
    const std::size_t memories = cursors_.size();
    std::optional<std::uint64_t> best;
    std::size_t bestMemory = 0;
    for (std::size_t j = 0; j < memories; ++j) {
        const std::size_t m = (nextMemory_ + j) % memories;
        if (best && liveIn_[m] >= liveIn_[bestMemory])
            continue;
        const std::uint64_t begin = m * memorySize_, end = begin + memorySize_;
        auto pos = findGap(cursors_[m], end, size);
        if (!pos)
            pos = findGap(begin, end, size);
        if (!pos)
            continue;
        best = pos;
        bestMemory = m;
        if (liveIn_[m] == 0)
            break;
    }
    if (!best)
        return std::nullopt;
    const std::uint64_t begin = bestMemory * memorySize_, end = begin + memorySize_;
    const std::uint64_t blockEnd = *best + std::max<std::uint64_t>(size, 1);
    cursors_[bestMemory] = blockEnd >= end ? begin : blockEnd;
    nextMemory_ = (bestMemory + 1) % memories;
    return best;
}

void NextFitAllocator::countLive(std::uint64_t begin, std::uint64_t end, bool add) {
    for (std::uint64_t m = begin / memorySize_; m < liveIn_.size() && m * memorySize_ < end; ++m) {
        const std::uint64_t lo = std::max(begin, m * memorySize_);
        const std::uint64_t hi = std::min(end, (m + 1) * memorySize_);
        if (add)
            liveIn_[m] += hi - lo;
        else
            liveIn_[m] -= hi - lo;
    }
}

std::optional<std::uint64_t> NextFitAllocator::placeAnywhere(std::uint64_t size) {
    auto pos = findGap(cursor_, capacity_, size);
    if (!pos)
        pos = findGap(0, capacity_, size);
    if (pos) {
        const std::uint64_t end = *pos + std::max<std::uint64_t>(size, 1);
        cursor_ = end >= capacity_ ? 0 : end;
    }
    return pos;
}

void NextFitAllocator::claim(std::uint64_t begin, std::uint64_t end,
                             std::vector<std::uint32_t>& warDeps) {
    auto it = retired_.lower_bound(begin);
    if (it != retired_.begin() && std::prev(it)->second.end > begin)
        it = std::prev(it);
    while (it != retired_.end() && it->first < end) {
        const std::uint64_t rBegin = it->first;
        const Retired r = it->second;
        warDeps.push_back(r.lastReader);
        it = retired_.erase(it);
        // Keep the parts of the freed block this allocation does not cover.
        if (rBegin < begin)
            retired_.emplace(rBegin, Retired{begin, r.lastReader, 0});
        if (r.end > end)
            it = retired_.emplace(end, Retired{r.end, r.lastReader, 0}).first;
    }
}

std::optional<NextFitAllocator::Block>
NextFitAllocator::allocate(std::uint64_t size, std::vector<std::uint32_t>& warDeps) {
    if (size > capacity_)
        return std::nullopt;
    std::optional<std::uint64_t> pos;
    // Tiles of up to half a memory go round-robin over the memories; larger ones are packed
    // (one per memory would strand the rest of each).
    if (size <= memorySize_)
        pos = placeInOneMemory(size);
    if (!pos)
        pos = placeAnywhere(size);
    if (!pos)
        return std::nullopt;
    const std::uint64_t end = *pos + std::max<std::uint64_t>(size, 1);
    claim(*pos, end, warDeps);
    const std::uint64_t id = nextId_++;
    live_.emplace(*pos, Live{end, id});
    liveBytes_ += end - *pos;
    countLive(*pos, end, true);
    return Block{*pos, id};
}

void NextFitAllocator::release(std::uint64_t offset, std::uint32_t lastReader) {
    auto it = live_.find(offset);
    if (it == live_.end())
        return;
    liveBytes_ -= it->second.end - it->first;
    countLive(it->first, it->second.end, false);
    retired_[it->first] = Retired{it->second.end, lastReader, it->second.id};
    live_.erase(it);
}

std::optional<std::uint32_t> NextFitAllocator::revive(const Block& block) {
    auto it = retired_.find(block.offset);
    if (it == retired_.end() || it->second.id != block.id)
        return std::nullopt;
    const Retired r = it->second;
    retired_.erase(it);
    live_.emplace(block.offset, Live{r.end, r.id});
    liveBytes_ += r.end - block.offset;
    countLive(block.offset, r.end, true);
    return r.lastReader;
}

} // namespace kpu::loader
