// Runs the nodes of a dependency graph on a pool of threads: a node starts once every node it
// depends on has finished. Nodes must be numbered in a topological order (every dependency has
// a smaller index); with one thread they simply run in that order.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

namespace kpu::sim {

// deps of node i: deps[offsets[i] .. offsets[i + 1]).
template <class Run>
void runDag(std::size_t n, std::span<const std::uint32_t> offsets,
            std::span<const std::uint32_t> deps, unsigned threads, Run&& run) {
    if (threads <= 1 || n < 2) {
        for (std::size_t i = 0; i < n; ++i)
            run(static_cast<std::uint32_t>(i));
        return;
    }
    std::vector<std::uint32_t> successorOffsets(n + 1, 0), successors(deps.size());
    std::vector<std::atomic<std::uint32_t>> pending(n);
    for (std::size_t i = 0; i < n; ++i) {
        pending[i].store(offsets[i + 1] - offsets[i], std::memory_order_relaxed);
        for (std::uint32_t k = offsets[i]; k < offsets[i + 1]; ++k)
            ++successorOffsets[deps[k] + 1];
    }
    for (std::size_t i = 0; i < n; ++i)
        successorOffsets[i + 1] += successorOffsets[i];
    {
        std::vector<std::uint32_t> fill(successorOffsets.begin(), successorOffsets.end() - 1);
        for (std::size_t i = 0; i < n; ++i)
            for (std::uint32_t k = offsets[i]; k < offsets[i + 1]; ++k)
                successors[fill[deps[k]]++] = static_cast<std::uint32_t>(i);
    }

    std::mutex mutex;
    std::condition_variable wake;
    std::deque<std::uint32_t> ready;
    std::size_t finished = 0; // guarded by mutex
    for (std::size_t i = 0; i < n; ++i)
        if (pending[i].load(std::memory_order_relaxed) == 0)
            ready.push_back(static_cast<std::uint32_t>(i));

    auto worker = [&] {
        std::unique_lock lock(mutex);
        for (;;) {
            wake.wait(lock, [&] { return !ready.empty() || finished == n; });
            if (ready.empty())
                return;
            std::uint32_t node = ready.front();
            ready.pop_front();
            lock.unlock();
            // Run a chain of nodes without the lock: after each, keep the first successor it
            // made ready for this thread and hand the others to the pool.
            std::size_t ran = 0;
            std::vector<std::uint32_t> handOff;
            for (;;) {
                run(node);
                ++ran;
                std::uint32_t next = UINT32_MAX;
                for (std::uint32_t k = successorOffsets[node]; k < successorOffsets[node + 1];
                     ++k) {
                    const std::uint32_t s = successors[k];
                    if (pending[s].fetch_sub(1, std::memory_order_acq_rel) != 1)
                        continue;
                    if (next == UINT32_MAX)
                        next = s;
                    else
                        handOff.push_back(s);
                }
                if (!handOff.empty()) {
                    {
                        std::lock_guard guard(mutex);
                        ready.insert(ready.end(), handOff.begin(), handOff.end());
                    }
                    wake.notify_all();
                    handOff.clear();
                }
                if (next == UINT32_MAX)
                    break;
                node = next;
            }
            lock.lock();
            finished += ran;
            if (finished == n)
                wake.notify_all();
        }
    };
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads; ++t)
        pool.emplace_back(worker);
    worker();
    for (std::thread& t : pool)
        t.join();
}

} // namespace kpu::sim
