// The reference executor: computes a program's graph section (the source graph's operations,
// after shape resolution) on whole tensors with straightforward loops in double — never from
// the program's kernels, DFX ops, bindings or the simulator. It is the independent oracle for
// --verify: the simulated outputs are compared with its results.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kpu/common/error.h"
#include "kpu/loader/host_tensor.h"
#include "kpu/schema/object.h"

namespace kpu::loader {

// Runs program.graph() (GraphNodes in topological order) on whole tensors in double (double
// accumulation), rounding every node's result to its output tensor's storage dtype (and back)
// so storage precision is modelled. `tensors` is indexed like program.tensors(); the Input and
// Constant tensors must be filled (HostTensor.data), the others may be empty. Returns every
// tensor, each node's output filled (name, dtype and shape from the object).
// Errors, never crashes: no graph section, inconsistent shapes for a node's kind, bad params,
// inputs without data -> "<sourceName>: error: graph node <i> '<name>' (<KIND>): <what>".
Expected<std::vector<HostTensor>> executeReference(const dfx::Program& program,
                                                   std::vector<HostTensor> tensors,
                                                   std::string_view sourceName);

struct Mismatch {
    std::uint64_t flatIndex = 0;
    std::vector<std::int64_t> index; // multi-dimensional (empty when beyond the expected tensor)
    double expected = 0, actual = 0;
    double tolerance = 0; // the absolute bound: tolerance * scale of the Comparison
};

struct Comparison {
    std::string tensor;
    std::uint64_t elements = 0;
    double maxAbsError = 0; // max |actual - expected| (infinite for NaN or missing elements)
    double maxRelError = 0; // normwise: maxAbsError / scale, the quantity held to `tolerance`
    double tolerance = 0;   // the normwise tolerance the comparison used
    double scale = 1;       // max(1, max |expected| over the finite expected values)
    std::optional<Mismatch> firstMismatch; // set iff the tensors do not match
};

// Normwise tolerance for comparing a program's outputs with the reference, from the least
// precise float dtype among the program's tensors (the values and the reasoning are in the
// implementation).
double outputTolerance(const dfx::Program& program);

// Element i matches when |actual - expected| <= tolerance * max(1, max|expected|), or both are
// NaN, or both are the same infinity. `actual` is converted from its own dtype; a different
// element count is a mismatch at the first missing (or extra) element.
Comparison compareWithReference(const HostTensor& expected, const HostTensor& actual,
                                double tolerance);

} // namespace kpu::loader
