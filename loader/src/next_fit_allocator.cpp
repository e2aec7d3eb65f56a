#include "next_fit_allocator.h"

#include <algorithm>
#include <iterator>

namespace kpu::loader {

std::optional<std::uint64_t> NextFitAllocator::findGap(std::uint64_t from,
                                                       std::uint64_t size) const {
    std::uint64_t pos = alignUp(from);
    auto it = live_.lower_bound(pos);
    if (it != live_.begin()) {
        auto prev = std::prev(it);
        if (prev->second > pos)
            pos = alignUp(prev->second);
    }
    while (true) {
        const std::uint64_t limit = it == live_.end() ? capacity_ : it->first;
        if (pos <= limit && size <= limit - pos)
            return pos;
        if (it == live_.end())
            return std::nullopt;
        pos = std::max(pos, alignUp(it->second));
        ++it;
    }
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
            retired_.emplace(rBegin, Retired{begin, r.lastReader});
        if (r.end > end)
            it = retired_.emplace(end, Retired{r.end, r.lastReader}).first;
    }
}

std::optional<std::uint64_t> NextFitAllocator::allocate(std::uint64_t size,
                                                        std::vector<std::uint32_t>& warDeps) {
    if (size > capacity_)
        return std::nullopt;
    auto pos = findGap(cursor_, size);
    if (!pos)
        pos = findGap(0, size);
    if (!pos)
        return std::nullopt;
    const std::uint64_t end = *pos + std::max<std::uint64_t>(size, 1);
    claim(*pos, end, warDeps);
    live_.emplace(*pos, end);
    liveBytes_ += end - *pos;
    cursor_ = end >= capacity_ ? 0 : end;
    return pos;
}

void NextFitAllocator::release(std::uint64_t offset, std::uint32_t lastReader) {
    auto it = live_.find(offset);
    if (it == live_.end())
        return;
    liveBytes_ -= it->second - it->first;
    retired_[it->first] = Retired{it->second, lastReader};
    live_.erase(it);
}

} // namespace kpu::loader
