#include "workloads.h"

#include <fmt/format.h>

#include "dfg_writer.h"

namespace kpu::perf {

using test::DfgBuilder;
using test::DfgValue;

std::string gemmDfg(std::int64_t n) {
    DfgBuilder g(fmt::format("matmul_{0}x{0}x{0}", n));
    const DfgValue a = g.input("A", {n, n});
    const DfgValue b = g.constant("B", {n, n});
    g.output({g.node("MATMUL", {a, b}, {"C", {n, n}})});
    return g.str();
}

std::string chainDfg(std::int64_t nodes) {
    constexpr std::int64_t rows = 8, width = 32;
    DfgBuilder g(fmt::format("chain_{}", nodes));
    DfgValue x = g.input("x", {rows, width});
    std::int64_t id = 0;
    auto matmul = [&] {
        const DfgValue w = g.constant(fmt::format("w{}", id), {width, width});
        x = g.node("MATMUL", {x, w}, {fmt::format("mm{}", id), {rows, width}});
    };
    auto bias = [&] {
        const DfgValue b = g.constant(fmt::format("b{}", id), {rows, width});
        x = g.node("ADD", {x, b}, {fmt::format("add{}", id), {rows, width}});
    };
    auto relu = [&] { x = g.node("RELU", {x}, {fmt::format("relu{}", id), {rows, width}}); };
    // Blocks of five nodes (W, MATMUL, b, ADD, RELU) between the input and the output; the
    // remainder is a shorter block that still ends in a computing node.
    const std::int64_t inner = nodes - 2, blocks = inner / 5, rest = inner % 5;
    for (; id < blocks; ++id) {
        matmul();
        bias();
        relu();
    }
    if (rest == 1 || rest == 3)
        relu();
    if (rest >= 2)
        matmul();
    if (rest == 4)
        bias();
    g.output({x});
    return g.str();
}

} // namespace kpu::perf
