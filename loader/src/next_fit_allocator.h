// Next-fit allocation in one flat address space, with write-after-read tracking: space freed
// by a tile remembers the op that read it last, and whoever reuses that space must wait for it.
// Next-fit (rather than first-fit) spreads reuse as far apart as capacity allows, which is
// what turns free space into double buffering.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace kpu::loader {

class NextFitAllocator {
public:
    NextFitAllocator(std::uint64_t capacity, std::uint64_t alignment)
        : capacity_(capacity), alignment_(alignment) {}

    // Reserves `size` bytes; appends to `warDeps` the last readers of the space it reuses.
    std::optional<std::uint64_t> allocate(std::uint64_t size, std::vector<std::uint32_t>& warDeps);

    // Releases a block; `lastReader` is the op that must finish before the space is reused.
    void release(std::uint64_t offset, std::uint32_t lastReader);

    std::uint64_t capacity() const { return capacity_; }
    std::uint64_t liveBytes() const { return liveBytes_; }
    std::size_t liveBlocks() const { return live_.size(); }

private:
    struct Retired {
        std::uint64_t end;
        std::uint32_t lastReader;
    };
    std::uint64_t alignUp(std::uint64_t v) const {
        return (v + alignment_ - 1) / alignment_ * alignment_;
    }
    std::optional<std::uint64_t> findGap(std::uint64_t from, std::uint64_t size) const;
    void claim(std::uint64_t begin, std::uint64_t end, std::vector<std::uint32_t>& warDeps);

    std::uint64_t capacity_;
    std::uint64_t alignment_;
    std::uint64_t cursor_ = 0;
    std::uint64_t liveBytes_ = 0;
    std::map<std::uint64_t, std::uint64_t> live_; // begin -> end
    std::map<std::uint64_t, Retired> retired_;    // begin -> freed block
};

} // namespace kpu::loader
