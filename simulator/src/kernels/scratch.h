// A growable, 64-byte aligned scratch buffer for the kernels' copies of operands; each kernel
// keeps one per thread (thread_local), which makes the kernels reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace kpu::sim {

template <class T>
class Scratch {
public:
    Scratch() = default;
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;
    ~Scratch() { std::free(data_); }
    T* get(std::int64_t count) {
        if (count > capacity_) {
            std::free(data_);
            const std::size_t bytes = (static_cast<std::size_t>(count) * sizeof(T) + 63) / 64 * 64;
            data_ = static_cast<T*>(std::aligned_alloc(64, bytes));
            if (data_ == nullptr)
                throw std::bad_alloc();
            capacity_ = count;
        }
        return data_;
    }

private:
    T* data_ = nullptr;
    std::int64_t capacity_ = 0;
};

} // namespace kpu::sim
