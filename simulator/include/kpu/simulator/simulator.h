// The cycle-approximate KPU simulator: real byte arenas for every memory, engines with
// timelines, and functional execution of every bound op through its concrete addresses (so a
// binding bug shows up as a wrong result).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kpu/common/error.h"
#include "kpu/common/hw_config.h"
#include "kpu/simulator/schedule.h"
#include "kpu/simulator/stats.h"

namespace kpu::sim {

// One simulated memory: a zero-initialised byte arena. Large arenas are reserved lazily
// (pages materialise on first touch), so a 1 GiB external bank costs only what is used.
class Arena {
public:
    explicit Arena(std::uint64_t capacity);
    ~Arena();
    Arena(const Arena&) = delete;
    Arena& operator=(const Arena&) = delete;

    std::uint8_t* data() { return data_; }
    const std::uint8_t* data() const { return data_; }
    std::uint64_t capacity() const { return capacity_; }

private:
    std::uint8_t* data_ = nullptr;
    std::uint64_t capacity_ = 0;
};

struct RunOptions {
    bool functional = true;      // false: timing only, no data is copied or computed
    bool recordTimeline = false; // fill RunStats::timeline (for traces and per-kernel profiles)
    // Functional execution (docs/timing-model.md, "Functional execution"): loads of read-only
    // tensors are forwarded (read in place) unless copyMoves is set, and independent copies and
    // passes run on `threads` threads. Neither changes a result or a cycle.
    bool copyMoves = false;
    unsigned threads = 1;
};

class Simulator {
public:
    // Creates the arenas the schedule's geometry asks for.
    static Expected<Simulator> create(const KpuConfig& config, const Schedule& schedule);

    // Host access to external memory (a level-global byte offset), bounds-checked.
    Expected<void> writeExternal(std::uint64_t offset, std::span<const std::uint8_t> bytes);
    Expected<void> readExternal(std::uint64_t offset, std::span<std::uint8_t> bytes) const;

    // Executes the schedule (docs/timing-model.md, "Scheduling"): ops are dispatched in the
    // order they become ready; each starts when one of its engines is free and, for a move,
    // the memory ports it needs are free; returns the statistics. The arithmetic and copies
    // run afterwards in schedule order (unless RunOptions::functional is false).
    RunStats run(const Schedule& schedule, const RunOptions& options = {});

private:
    Simulator() = default;

public:
    Simulator(Simulator&&) = default;
    Simulator& operator=(Simulator&&) = default;

private:
    // The timing of a run (docs/timing-model.md, "Scheduling"), without touching memory.
    RunStats simulateTiming(const Schedule& schedule, bool recordTimeline) const;

    KpuConfig config_;
    std::array<std::unique_ptr<Arena>, kLevelCount> levels_; // one flat arena per level
};

} // namespace kpu::sim
