#include "kpu/simulator/timing.h"

#include <algorithm>
#include <cmath>

namespace kpu::sim {
double levelBandwidthGBps(const KpuConfig& c, Level level) {
    switch (level) {
    case Level::External:
        return c.external.bandwidthGBps;
    case Level::L3:
        return c.l3.bandwidthGBps;
    case Level::L2:
        return c.l2.bandwidthGBps;
    case Level::L1:
        return c.l1.bandwidthGBps;
    }
    return 1.0;
}

namespace {

std::uint32_t latencyOf(const KpuConfig& c, Level level) {
    switch (level) {
    case Level::External:
        return c.external.latencyCycles;
    case Level::L3:
        return c.l3.latencyCycles;
    case Level::L2:
        return c.l2.latencyCycles;
    case Level::L1:
        return c.l1.latencyCycles;
    }
    return 0;
}

} // namespace

MoveTiming moveTiming(const KpuConfig& config, Level from, Level to, std::uint64_t bytes) {
    const Level farther = std::min(from, to);
    double bandwidth = std::min(levelBandwidthGBps(config, from), levelBandwidthGBps(config, to));
    if (farther == Level::External && config.movement.dmaBandwidthGBps > 0)
        bandwidth = std::min(bandwidth, config.movement.dmaBandwidthGBps);
    const double bytesPerCycle = config.bytesPerCycle(bandwidth);
    return MoveTiming{.latency = latencyOf(config, farther),
                      .cycles = static_cast<std::uint64_t>(
                          std::ceil(static_cast<double>(bytes) / bytesPerCycle))};
}

std::uint64_t foldCycles(const KpuConfig& config, std::uint64_t stream) {
    const std::uint64_t rows = config.compute.arrayRows, cols = config.compute.arrayCols;
    return 2 * rows + cols + stream - 2;
}

std::uint64_t arrayPassCycles(const KpuConfig& config, std::uint32_t stream, bool foldStart) {
    return foldStart ? foldCycles(config, stream) : stream;
}

std::uint64_t vectorCycles(const KpuConfig& config, std::uint64_t work) {
    const std::uint64_t rows = config.compute.arrayRows, cols = config.compute.arrayCols;
    return (work + rows * cols - 1) / (rows * cols) + rows + cols;
}

std::uint64_t vectorWork(const VectorOp& op) {
    const auto elements = [](const VectorOperand& o) {
        return std::uint64_t{o.extent[0]} * o.extent[1] * o.extent[2] * o.extent[3];
    };
    const std::uint64_t out = elements(op.output);
    const std::uint64_t in = op.inputs.empty() ? out : elements(op.inputs[0]);
    switch (op.kind) {
    case Operator::Div:
    case Operator::Reciprocal:
    case Operator::Exp:
    case Operator::Sigmoid:
    case Operator::Tanh:
    case Operator::Gelu:
    case Operator::Sqrt:
    case Operator::Log:
    case Operator::Erf:
        return 4 * out;
    case Operator::ReduceSum:
    case Operator::ReduceMax:
    case Operator::ReduceMin:
        return in;
    case Operator::Softmax:
        return 4 * in;
    case Operator::LayerNorm:
        return 6 * in;
    case Operator::MaxPool2D:
    case Operator::AvgPool2D:
    case Operator::DepthwiseConv2D:
        return out * op.params.kernelH * op.params.kernelW;
    default:
        return out;
    }
}

} // namespace kpu::sim
