// The reference executor: computes a program's kernels from its tensor and kernel tables alone
// — never from its DFX ops, bindings or the simulator — with straightforward loops and double
// accumulation. It is the independent oracle for --verify.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kpu/common/error.h"
#include "kpu/loader/host_tensor.h"
#include "kpu/schema/object.h"

namespace kpu::loader {

// One kernel's output as the reference computes it.
struct ReferenceOutput {
    HostTensor tensor;
    // Per element: sum over k of |a*b| (+ |c|), the magnitude the rounding error of any
    // summation order is proportional to.
    std::vector<double> magnitude;
    std::uint32_t depth = 0; // K, the length of each dot product
};

// Computes kernel `kernelIndex` from `tensors` (indexed like the object; the kernel's inputs
// must be filled).
ReferenceOutput referenceKernel(const dfx::Program& program, std::uint32_t kernelIndex,
                                const std::vector<HostTensor>& tensors);

// Runs every kernel in order, feeding each the reference's own results: the whole graph
// computed by the reference alone. `inputs` holds the Input and Constant tensors.
std::vector<HostTensor> executeReference(const dfx::Program& program,
                                         std::vector<HostTensor> inputs);

struct Mismatch {
    std::uint64_t flatIndex = 0;
    std::vector<std::int64_t> index; // multi-dimensional
    double expected = 0, actual = 0, tolerance = 0;
};

struct Comparison {
    std::string tensor;
    std::uint64_t elements = 0;
    double maxAbsError = 0, maxRelError = 0;
    std::optional<Mismatch> firstMismatch;
};

// Compares one simulated output with the reference. An element matches when
//   |actual - expected| <= (gamma(depth, compute type) + steps * u(storage)) * magnitude
//                          + u(storage) * |expected| + underflow step(storage)
// i.e. the worst-case error bound of a length-`depth` dot product in the compute type, plus one
// rounding to the storage type per partial-sum write-back.
Comparison compareWithReference(const ReferenceOutput& reference, const HostTensor& actual,
                                std::uint32_t partialWritebacks);

} // namespace kpu::loader
