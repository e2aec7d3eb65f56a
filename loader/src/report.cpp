// Human and machine reports of a bound schedule and of a simulated run.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "kpu/loader/loader.h"

namespace kpu::loader {
namespace {

const char* kLevelPairNames[3] = {"EXT<->L3", "L3<->L2", "L2<->L1"};

std::string address(const sim::Address& a) {
    return fmt::format("{} {:#010x}", sim::levelName(a.level), a.offset);
}

std::string engineName(const sim::BoundOp& op) {
    return fmt::format("{}[{}]", sim::engineKindName(op.engine), op.engineIndex);
}

double seconds(std::uint64_t cycles, const KpuConfig& config) {
    return static_cast<double>(cycles) / (config.clockGHz * 1e9);
}

std::string formatTime(double s) {
    if (s >= 1e-3)
        return fmt::format("{:.3f} ms", s * 1e3);
    if (s >= 1e-6)
        return fmt::format("{:.3f} us", s * 1e6);
    return fmt::format("{:.1f} ns", s * 1e9);
}

} // namespace

std::string formatSchedule(const dfx::Program& program, const sim::Schedule& schedule,
                           const KpuConfig& config) {
    std::string out =
        fmt::format("bound schedule: {} ops from {} DFX ops, config '{}' ({}x{} array @ {} GHz)\n",
                    schedule.ops.size(), program.ops()->size(), config.name,
                    config.compute.arrayRows, config.compute.arrayCols, config.clockGHz);
    out += "tensors in external memory:\n";
    for (const sim::TensorPlacement& t : schedule.tensors)
        out += fmt::format("  {:<24} EXT {:#010x}  {} bytes\n", t.name, t.offset, t.bytes);
    out += fmt::format("{:>7} {:>6}  {:<7} {:<15} {:<16} {:<16} {:>8} {:>7}  {}\n", "op", "dfx",
                       "kind", "engine", "source", "destination", "bytes", "cycles", "deps");
    std::array<std::uint64_t, sim::kEngineKindCount> opsPerKind{};
    std::array<std::uint64_t, 3> bytesPerPair{};
    for (std::size_t i = 0; i < schedule.ops.size(); ++i) {
        const sim::BoundOp& op = schedule.ops[i];
        const auto deps = schedule.depsOf(i);
        const std::string depText = deps.empty() ? "-" : fmt::format("{}", fmt::join(deps, ","));
        switch (op.type) {
        case sim::OpType::Move: {
            ++opsPerKind[static_cast<std::size_t>(op.engine)];
            bytesPerPair[static_cast<std::size_t>(std::max(op.move.src.level, op.move.dst.level)) -
                         1] += op.bytes;
            out += fmt::format("{:>7} {:>6}  {:<7} {:<15} {:<16} {:<16} {:>8} {:>7}  {}\n", i,
                               op.sourceOp, "move", engineName(op), address(op.move.src),
                               address(op.move.dst), op.bytes, op.cycles, depText);
            break;
        }
        case sim::OpType::Array: {
            ++opsPerKind[static_cast<std::size_t>(op.engine)];
            const sim::ArrayOp& a = op.array;
            out += fmt::format(
                "{:>7} {:>6}  {:<7} {:<15} A {:#x} B {:#x}{} -> {}  m={} n={} k={} {:>7}  {}\n", i,
                op.sourceOp, "array", engineName(op), a.a.offset, a.b.offset,
                a.hasInit ? fmt::format(" C {:#x}", a.init.offset) : "", address(a.out), a.m, a.n,
                a.k, op.cycles, depText);
            break;
        }
        case sim::OpType::Vector: {
            ++opsPerKind[static_cast<std::size_t>(op.engine)];
            const sim::VectorOp& v = schedule.vectorOps[op.vector];
            std::string ins;
            for (const sim::VectorOperand& in : v.inputs)
                ins += fmt::format("{}{:#x}", ins.empty() ? "" : ",", in.at.offset);
            out += fmt::format("{:>7} {:>6}  {:<7} {:<15} {} {} -> {}  {}x{}x{}x{} {:>7}  {}\n", i,
                               op.sourceOp, "vector", engineName(op), operatorName(v.kind), ins,
                               address(v.output.at), v.output.extent[0], v.output.extent[1],
                               v.output.extent[2], v.output.extent[3], op.cycles, depText);
            break;
        }
        case sim::OpType::Barrier:
            out += fmt::format("{:>7} {:>6}  {:<7} {:<15} {:<16} {:<16} {:>8} {:>7}  {}\n", i,
                               op.sourceOp, "barrier", "-", "", "", "", 0, depText);
            break;
        }
    }
    out += fmt::format(
        "summary: {} DMA moves, {} BlockMover moves, {} Streamer moves, {} array and vector "
        "passes\n",
        opsPerKind[0], opsPerKind[1], opsPerKind[2], opsPerKind[3]);
    for (std::size_t p = 0; p < 3; ++p)
        out += fmt::format("  bytes {:<9} {}\n", kLevelPairNames[p], bytesPerPair[p]);
    return out;
}

std::string formatReport(const LoadedObject& object, const KpuConfig& config,
                         const sim::Schedule& schedule, const SimulationResult& result,
                         const std::vector<Comparison>& comparisons) {
    const sim::RunStats& s = result.stats;
    std::string out = fmt::format(
        "{}: simulated on '{}' ({}x{} array @ {} GHz, {} DMA, {} BlockMovers, {} Streamers)\n",
        object.path, config.name, config.compute.arrayRows, config.compute.arrayCols,
        config.clockGHz, config.movement.dmaEngineCount, config.movement.blockMoverCount,
        config.movement.streamerCount);
    out += fmt::format("  total cycles   {}\n", s.totalCycles);
    out += fmt::format("  time           {} at {} GHz\n",
                       formatTime(seconds(s.totalCycles, config)), config.clockGHz);
    out += fmt::format("  bound ops      {} ({} GEMM passes, {} vector passes, {} MACs)\n",
                       schedule.ops.size(), s.arrayPasses, s.vectorPasses, s.macs);
    out +=
        fmt::format("  external bytes {} (to and from external memory)\n", s.bytesBetweenLevels[0]);
    out += "resources:\n";
    out += fmt::format("  {:<16} {:>12} {:>7} {:>9} {:>14}\n", "name", "busy cycles", "util", "ops",
                       "bytes");
    for (const sim::EngineStats& e : s.engines) {
        const double util = s.totalCycles ? 100.0 * static_cast<double>(e.busyCycles) /
                                                static_cast<double>(s.totalCycles)
                                          : 0.0;
        out += fmt::format("  {:<16} {:>12} {:>6.1f}% {:>9} {:>14}\n", e.name, e.busyCycles, util,
                           e.ops, e.bytes);
    }
    out += "bytes moved per level:\n";
    for (std::size_t p = 0; p < 3; ++p)
        out += fmt::format("  {:<10} {:>14}\n", kLevelPairNames[p], s.bytesBetweenLevels[p]);
    if (!comparisons.empty()) {
        out += fmt::format("verify (reference executor of the graph, double accumulation; "
                           "normwise tolerance {:.3g}):\n",
                           comparisons.front().tolerance);
        for (const Comparison& c : comparisons)
            out += fmt::format(
                "  {:<16} {:>10} elements  max abs err {:.3g}  max rel err {:.3g}  {}\n", c.tensor,
                c.elements, c.maxAbsError, c.maxRelError, c.firstMismatch ? "MISMATCH" : "ok");
    }
    return out;
}

std::string reportJson(const LoadedObject& object, const KpuConfig& config,
                       const sim::Schedule& schedule, const SimulationResult& result,
                       const std::vector<Comparison>& comparisons) {
    using nlohmann::json;
    const sim::RunStats& s = result.stats;
    json report;
    report["object"] = object.path;
    report["config"] = config.name;
    report["clock_ghz"] = config.clockGHz;
    report["total_cycles"] = s.totalCycles;
    report["time_seconds"] = seconds(s.totalCycles, config);
    report["bound_ops"] = schedule.ops.size();
    report["array_passes"] = s.arrayPasses;
    report["vector_passes"] = s.vectorPasses;
    report["external_bytes"] = s.bytesBetweenLevels[0];
    report["macs"] = s.macs;
    json resources = json::array();
    for (const sim::EngineStats& e : s.engines)
        resources.push_back({{"name", e.name},
                             {"kind", sim::engineKindName(e.kind)},
                             {"busy_cycles", e.busyCycles},
                             {"ops", e.ops},
                             {"bytes", e.bytes}});
    report["resources"] = resources;
    report["bytes_between_levels"] = {{"ext_l3", s.bytesBetweenLevels[0]},
                                      {"l3_l2", s.bytesBetweenLevels[1]},
                                      {"l2_l1", s.bytesBetweenLevels[2]}};
    json verify = json::array();
    for (const Comparison& c : comparisons) {
        json v{{"tensor", c.tensor},
               {"elements", c.elements},
               {"max_abs_error", c.maxAbsError},
               {"max_rel_error", c.maxRelError},
               {"match", !c.firstMismatch}};
        if (c.firstMismatch)
            v["first_mismatch"] = {{"index", c.firstMismatch->index},
                                   {"expected", c.firstMismatch->expected},
                                   {"actual", c.firstMismatch->actual}};
        verify.push_back(v);
    }
    report["verify"] = verify;
    return report.dump(2) + "\n";
}

} // namespace kpu::loader
