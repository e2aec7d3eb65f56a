// Next-fit allocation in one flat address space made of equal memories (banks, tiles, buffers)
// laid end to end, with write-after-read tracking: space freed by a tile remembers the op that
// read it last, and whoever reuses that space must wait for it.
//
// A block goes to the memory holding the fewest live bytes (round-robin on a tie), so the
// tiles in use together sit in different banks and the engines and ports of all of them work
// in parallel; within a memory, allocation is next-fit from that memory's own cursor. Next-fit
// (rather than first-fit) spreads reuse as far apart as capacity allows, which is what turns free
// space into double buffering; it also makes the replacement policy FIFO per memory: a freed block
// keeps its contents until its memory's cursor comes round to it, so the block freed longest ago is
// overwritten first, and a freed block that is still intact can be revived by whoever needs the
// same data again. A block larger than one memory (or that fits no single memory's free space) is
// placed next-fit in the whole space, straddling memories.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace kpu::loader {

class NextFitAllocator {
public:
    NextFitAllocator(std::uint64_t capacity, std::uint64_t alignment, std::uint64_t memorySize)
        : capacity_(capacity), alignment_(alignment),
          memorySize_(memorySize == 0 ? capacity : memorySize),
          cursors_(memorySize == 0 ? 1 : capacity / memorySize), liveIn_(cursors_.size(), 0) {
        for (std::size_t m = 0; m < cursors_.size(); ++m)
            cursors_[m] = m * memorySize_;
    }

    struct Block {
        std::uint64_t offset = 0;
        std::uint64_t id = 0; // unique per allocation: names this block's contents
    };

    // Reserves `size` bytes; appends to `warDeps` the last readers of the space it reuses.
    std::optional<Block> allocate(std::uint64_t size, std::vector<std::uint32_t>& warDeps);

    // Releases a block; `lastReader` is the op that must finish before the space is reused.
    void release(std::uint64_t offset, std::uint32_t lastReader);

    // Makes a released block live again if no allocation has touched it since (its contents
    // are intact); returns the op that read it last before, or nullopt when it is gone.
    std::optional<std::uint32_t> revive(const Block& block);

    std::uint64_t capacity() const { return capacity_; }
    std::uint64_t liveBytes() const { return liveBytes_; }
    std::size_t liveBlocks() const { return live_.size(); }

private:
    struct Live {
        std::uint64_t end;
        std::uint64_t id;
    };
    struct Retired {
        std::uint64_t end;
        std::uint32_t lastReader;
        std::uint64_t id; // 0 once part of the block has been reused
    };
    std::uint64_t alignUp(std::uint64_t v) const {
        return (v + alignment_ - 1) / alignment_ * alignment_;
    }
    // The first aligned gap of `size` bytes in [from, end).
    std::optional<std::uint64_t> findGap(std::uint64_t from, std::uint64_t end,
                                         std::uint64_t size) const;
    std::optional<std::uint64_t> placeInOneMemory(std::uint64_t size);
    void countLive(std::uint64_t begin, std::uint64_t end, bool add);
    std::optional<std::uint64_t> placeAnywhere(std::uint64_t size);
    void claim(std::uint64_t begin, std::uint64_t end, std::vector<std::uint32_t>& warDeps);

    std::uint64_t capacity_;
    std::uint64_t alignment_;
    std::uint64_t memorySize_;
    std::vector<std::uint64_t> cursors_; // per memory
    std::vector<std::uint64_t> liveIn_;  // per memory: bytes of live blocks
    std::size_t nextMemory_ = 0;         // round-robin start
    std::uint64_t cursor_ = 0;           // for blocks placed across memories
    std::uint64_t liveBytes_ = 0;
    std::uint64_t nextId_ = 1;
    std::map<std::uint64_t, Live> live_;       // begin -> block
    std::map<std::uint64_t, Retired> retired_; // begin -> freed block
};

} // namespace kpu::loader
