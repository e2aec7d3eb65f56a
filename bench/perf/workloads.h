// The generated graphs kpu-perf compiles: n x n x n fp32 GEMMs in the layout of
// examples/matmul.dfg (input A, constant B, C returned) and a long chain of small
// MATMUL / ADD / RELU nodes with constant weights, for the compiler's speed on big graphs.
#pragma once

#include <cstdint>
#include <string>

namespace kpu::perf {

std::string gemmDfg(std::int64_t n);

// Exactly `nodes` nodes (at least 4), counting the input, the constants and the output.
std::string chainDfg(std::int64_t nodes);

} // namespace kpu::perf
