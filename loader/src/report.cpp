// Human and machine reports of a bound schedule and of a simulated run (docs/cli.md; the JSON
// schema is docs/report-schema.md).
#include <algorithm>
#include <optional>

#include <nlohmann/json.hpp>

#include "kpu/loader/loader.h"

namespace kpu::loader {
namespace {

const char* kLevelPairNames[3] = {"EXT<->L3", "L3<->L2", "L2<->L1"};

std::string address(const sim::Address& a) {
    return fmt::format("{} {:#010x}", sim::levelName(a.level), a.offset);
}

// The engines an op may run on: "dma[0]", or "streamer[1|9]" when the binder left the simulator
// a choice (engines engineIndex + j * engineStride).
std::string engineChoices(const sim::BoundOp& op) {
    std::string indices = fmt::format("{}", op.engineIndex);
    for (std::uint32_t j = 1; j < op.engineChoices; ++j)
        indices += fmt::format("|{}", op.engineIndex + j * op.engineStride);
    return fmt::format("{}[{}]", sim::engineKindName(op.engine), indices);
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

// a / b, and 0 for an empty denominator (a run of 0 cycles, a level with no traffic).
double ratio(double a, double b) {
    return b > 0 ? a / b : 0.0;
}
double ratio(std::uint64_t a, std::uint64_t b) {
    return ratio(static_cast<double>(a), static_cast<double>(b));
}

// Peak bandwidth of a level in bytes per cycle: all its memories transferring at once. External
// memory is also capped by the DMA engines' own bandwidth when the config gives them one.
double peakBytesPerCycle(const KpuConfig& c, sim::Level level) {
    double gbps = 0;
    switch (level) {
    case sim::Level::External:
        gbps = c.external.bankCount * c.external.bandwidthGBps;
        if (c.movement.dmaBandwidthGBps > 0)
            gbps = std::min(gbps, c.movement.dmaEngineCount * c.movement.dmaBandwidthGBps);
        break;
    case sim::Level::L3:
        gbps = c.l3.tileCount * c.l3.bandwidthGBps;
        break;
    case sim::Level::L2:
        gbps = c.l2.bankCount * c.l2.bandwidthGBps;
        break;
    case sim::Level::L1:
        gbps = c.l1.bufferCount * c.l1.bandwidthGBps;
        break;
    }
    return c.bytesPerCycle(gbps);
}

// The derived numbers of a run, computed once for the text and the JSON report.
struct Summary {
    struct Level {
        double peakBytesPerCycle = 0, achievedBytesPerCycle = 0;
    };
    std::array<Level, sim::kLevelCount> levels{};

    std::uint64_t arrayWaitData = 0, arrayWaitSpace = 0;
    std::uint64_t moversWaitData = 0, moversWaitSpace = 0, moversWaitPort = 0;

    std::uint64_t externalBytes = 0;
    std::optional<double> overfetch; // external / compulsory bytes; none when compulsory is 0

    // Roofline of the GEMM passes (vector passes have no flop count).
    std::uint64_t pes = 0; // processing elements of all arrays
    double flops = 0;
    std::optional<double> intensity; // flops per external byte; none without external traffic
    double peakFlopsPerCycle = 0, peakExternalBytesPerCycle = 0;
    double attainableFlopsPerCycle = 0, achievedFlopsPerCycle = 0;
    const char* bound = "compute";
    double macEfficiency = 0;

    sim::Energy energy; // of the whole run (docs/energy.md)
    double staticPowerW = 0;
    std::optional<double> pjPerMac; // total energy / MACs; none without MACs
};

Summary summarize(const KpuConfig& config, const sim::Schedule& schedule, const sim::RunStats& s) {
    Summary sum;
    for (int l = 0; l < sim::kLevelCount; ++l) {
        const sim::LevelStats& level = s.levels[static_cast<std::size_t>(l)];
        sum.levels[static_cast<std::size_t>(l)] = {
            .peakBytesPerCycle = peakBytesPerCycle(config, static_cast<sim::Level>(l)),
            .achievedBytesPerCycle = ratio(level.bytesRead + level.bytesWritten, s.totalCycles)};
    }
    for (const sim::EngineStats& e : s.engines) {
        if (e.kind == sim::EngineKind::Array) {
            sum.arrayWaitData += e.waitData;
            sum.arrayWaitSpace += e.waitSpace;
        } else {
            sum.moversWaitData += e.waitData;
            sum.moversWaitSpace += e.waitSpace;
            sum.moversWaitPort += e.waitPort;
        }
    }
    sum.externalBytes = s.bytesBetweenLevels[0];
    if (schedule.compulsoryExternalBytes > 0)
        sum.overfetch = ratio(sum.externalBytes, schedule.compulsoryExternalBytes);

    sum.pes = std::uint64_t{config.compute.arrayRows} * config.compute.arrayCols *
              config.compute.tileCount;
    sum.flops = 2.0 * static_cast<double>(s.macs);
    sum.peakFlopsPerCycle = 2.0 * static_cast<double>(sum.pes);
    sum.peakExternalBytesPerCycle = sum.levels[0].peakBytesPerCycle;
    sum.attainableFlopsPerCycle = sum.peakFlopsPerCycle;
    if (sum.externalBytes > 0) {
        sum.intensity = sum.flops / static_cast<double>(sum.externalBytes);
        const double memoryRoof = *sum.intensity * sum.peakExternalBytesPerCycle;
        if (memoryRoof < sum.peakFlopsPerCycle) {
            sum.attainableFlopsPerCycle = memoryRoof;
            sum.bound = "memory";
        }
    }
    sum.achievedFlopsPerCycle = ratio(sum.flops, static_cast<double>(s.totalCycles));
    sum.macEfficiency = ratio(s.macs, sum.pes * s.totalCycles);
    sum.energy = sim::runEnergy(schedule, config, s.totalCycles);
    sum.staticPowerW = sim::energyModel(config).staticPowerW;
    if (s.macs > 0)
        sum.pjPerMac = sum.energy.total() / static_cast<double>(s.macs);
    return sum;
}

// "slot 1/2 pf 1" for a double-buffered load, else "".
std::string slotText(const sim::BoundOp& op) {
    return op.slots > 0 ? fmt::format("slot {}/{} pf {}", op.slot, op.slots, op.prefetchDistance)
                        : "";
}

std::string percent(double fraction) {
    return fmt::format("{:.1f}%", 100.0 * fraction);
}

std::string formatStats(const LoadedObject& object, const KpuConfig& config,
                        const sim::Schedule& schedule, const sim::RunStats& s, const Summary& sum) {
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
    out += fmt::format("  external bytes {} (to and from external memory); compulsory {}, "
                       "overfetch {}\n",
                       sum.externalBytes, schedule.compulsoryExternalBytes,
                       sum.overfetch ? fmt::format("{:.2f}x", *sum.overfetch) : "n/a");

    out += "resources (stalls: idle cycles before an op could start, by cause):\n";
    out +=
        fmt::format("  {:<16} {:>12} {:>7} {:>9} {:>14} {:>11} {:>11} {:>11}\n", "name",
                    "busy cycles", "util", "ops", "bytes", "wait data", "wait space", "wait port");
    for (const sim::EngineStats& e : s.engines)
        out += fmt::format("  {:<16} {:>12} {:>7} {:>9} {:>14} {:>11} {:>11} {:>11}\n", e.name,
                           e.busyCycles, percent(ratio(e.busyCycles, s.totalCycles)), e.ops,
                           e.bytes, e.waitData, e.waitSpace, e.waitPort);

    out += "stalls (cycles, summed over engines):\n";
    out += fmt::format("  array waiting on data     {:>12}\n", sum.arrayWaitData);
    out += fmt::format("  array waiting on space    {:>12}\n", sum.arrayWaitSpace);
    out += fmt::format("  movers waiting on data    {:>12}\n", sum.moversWaitData);
    out += fmt::format("  movers waiting on space   {:>12}\n", sum.moversWaitSpace);
    out += fmt::format("  movers waiting on ports   {:>12}\n", sum.moversWaitPort);

    out += "memory levels (bandwidth in bytes/cycle; peak: all memories of the level at once):\n";
    const auto levelRow = [&](auto&&... fields) {
        out += fmt::format("  {:<5} {:>14} {:>14} {:>10} {:>10} {:>7} {:>10} {:>12} {:>12} {:>12} "
                           "{:>14}\n",
                           fields...);
    };
    levelRow("level", "bytes read", "bytes written", "B/cycle", "peak", "% peak", "GB/s",
             "port busy", "port wait", "reused tiles", "reused bytes");
    for (int l = 0; l < sim::kLevelCount; ++l) {
        const auto i = static_cast<std::size_t>(l);
        const sim::LevelStats& level = s.levels[i];
        const Summary::Level& n = sum.levels[i];
        levelRow(sim::levelName(static_cast<sim::Level>(l)), level.bytesRead, level.bytesWritten,
                 fmt::format("{:.2f}", n.achievedBytesPerCycle),
                 fmt::format("{:.1f}", n.peakBytesPerCycle),
                 percent(ratio(n.achievedBytesPerCycle, n.peakBytesPerCycle)),
                 fmt::format("{:.2f}", n.achievedBytesPerCycle * config.clockGHz),
                 level.portBusyCycles, level.portWaitCycles, schedule.reusedTiles[i],
                 schedule.reusedBytes[i]);
    }
    out += "bytes moved per level:\n";
    for (std::size_t p = 0; p < 3; ++p)
        out += fmt::format("  {:<10} {:>14}\n", kLevelPairNames[p], s.bytesBetweenLevels[p]);

    out += "roofline (flops = 2 x MACs of the GEMM passes; vector passes are not counted):\n";
    out += fmt::format("  flops                    {:.0f}\n", sum.flops);
    out += fmt::format("  arithmetic intensity     {} flops per external byte\n",
                       sum.intensity ? fmt::format("{:.2f}", *sum.intensity) : "n/a");
    out +=
        fmt::format("  peak compute             {:.0f} flops/cycle (2 x {}x{} PEs x {} arrays)\n",
                    sum.peakFlopsPerCycle, config.compute.arrayRows, config.compute.arrayCols,
                    config.compute.tileCount);
    out +=
        fmt::format("  peak external bandwidth  {:.2f} bytes/cycle ({:.1f} GB/s)\n",
                    sum.peakExternalBytesPerCycle, sum.peakExternalBytesPerCycle * config.clockGHz);
    out += fmt::format("  attainable               {:.2f} flops/cycle ({}-bound)\n",
                       sum.attainableFlopsPerCycle, sum.bound);
    out += fmt::format("  achieved                 {:.2f} flops/cycle = {:.2f} GFLOP/s ({} of "
                       "attainable)\n",
                       sum.achievedFlopsPerCycle, sum.achievedFlopsPerCycle * config.clockGHz,
                       percent(ratio(sum.achievedFlopsPerCycle, sum.attainableFlopsPerCycle)));
    out += fmt::format("  MAC efficiency           {} (MACs / (PEs x total cycles))\n",
                       percent(sum.macEfficiency));
    out += fmt::format("  array folds              {}\n", s.arrayFolds);
    return out;
}

// "1.23 mJ", "456 nJ", ... from picojoules.
std::string energyText(double pj) {
    constexpr std::array<std::pair<double, const char*>, 4> kUnits{
        {{1e9, "mJ"}, {1e6, "uJ"}, {1e3, "nJ"}, {1, "pJ"}}};
    for (const auto& [scale, unit] : kUnits)
        if (pj >= scale || scale == 1)
            return fmt::format("{:.3g} {}", pj / scale, unit);
    return "";
}

std::string formatEnergy(const Summary& sum, const std::vector<KernelProfile>& kernels,
                         const sim::RunStats& s) {
    const sim::Energy& e = sum.energy;
    std::string out = "energy (docs/energy.md; dynamic energy follows the schedule, static is "
                      "power x time):\n";
    out += fmt::format("  total          {} = dynamic {} + static {} ({:.3g} W)\n",
                       energyText(e.total()), energyText(e.dynamic()), energyText(e.staticPj),
                       sum.staticPowerW);
    out += fmt::format("  per MAC        {}\n",
                       sum.pjPerMac ? fmt::format("{:.2f} pJ ({} MACs)", *sum.pjPerMac, s.macs)
                                    : std::string("n/a (no MACs)"));
    out += fmt::format("  compute        {}\n", energyText(e.compute));
    for (int l = 0; l < sim::kLevelCount; ++l)
        out += fmt::format("  {:<14} {}\n",
                           fmt::format("{} access", sim::levelName(static_cast<sim::Level>(l))),
                           energyText(e.memory[static_cast<std::size_t>(l)]));
    out += fmt::format("  moves          {} (per-move overhead)\n", energyText(e.moves));
    std::size_t width = 6;
    for (const KernelProfile& k : kernels)
        width = std::max(width, k.name.size());
    out += "energy per kernel (dynamic):\n";
    for (const KernelProfile& k : kernels)
        out += fmt::format("  {:<{}} {:>10} {:>7}\n", k.name, width, energyText(k.energy.dynamic()),
                           percent(ratio(k.energy.dynamic(), e.dynamic())));
    return out;
}

std::string formatVerify(const std::vector<Comparison>& comparisons) {
    if (comparisons.empty())
        return "";
    std::string out = fmt::format("verify (reference executor of the graph, double accumulation; "
                                  "normwise tolerance {:.3g}):\n",
                                  comparisons.front().tolerance);
    for (const Comparison& c : comparisons)
        out += fmt::format("  {:<16} {:>10} elements  max abs err {:.3g}  max rel err {:.3g}  {}\n",
                           c.tensor, c.elements, c.maxAbsError, c.maxRelError,
                           c.firstMismatch ? "MISMATCH" : "ok");
    return out;
}

std::string formatExpect(std::span<const ExpectComparison> comparisons) {
    if (comparisons.empty())
        return "";
    std::string out = "expect (--expect values; element matches when |a - e| <= atol + rtol x "
                      "|e|):\n";
    for (const ExpectComparison& c : comparisons)
        out += "  " + formatExpectLine(c) + "\n";
    return out;
}

std::string formatProfile(const std::vector<KernelProfile>& rows, const KpuConfig& config) {
    std::size_t width = 6;
    for (const KernelProfile& k : rows)
        width = std::max(width, k.name.size());
    std::string out = "profile (per kernel; util = array busy / (span x arrays)):\n";
    const auto row = [&](auto&&... fields) {
        out += fmt::format("  {:<{}} {:<16} {:<8} {:>11} {:>11} {:>11} {:>11} {:>7} {:>12} "
                           "{:>12} {:>12} {:>12} {:>7}\n",
                           fields...);
    };
    row("kernel", width, "kind", "dataflow", "first start", "last finish", "span", "array busy",
        "util", "MACs", "ext bytes", "L3<->L2", "L2<->L1", "folds");
    for (const KernelProfile& k : rows) {
        const auto cycles = [&](std::uint64_t c) {
            return k.ran ? fmt::format("{}", c) : std::string("-");
        };
        row(k.name, width, k.kind, k.dataflow, cycles(k.firstStart), cycles(k.lastFinish),
            cycles(k.spanCycles()), k.arrayBusyCycles,
            percent(k.arrayUtilization(config.compute.tileCount)), k.macs, k.bytesBetweenLevels[0],
            k.bytesBetweenLevels[1], k.bytesBetweenLevels[2], k.folds);
    }
    return out;
}

} // namespace

std::vector<std::uint32_t> kernelOfOps(const dfx::Program& program) {
    std::vector<std::uint32_t> kernelOf(program.ops()->size(), kNoKernel);
    for (std::uint32_t k = 0; k < program.kernels()->size(); ++k) {
        const dfx::Kernel& kernel = *program.kernels()->Get(k);
        const std::size_t end = std::min<std::size_t>(
            std::size_t{kernel.first_op()} + kernel.op_count(), kernelOf.size());
        for (std::size_t op = kernel.first_op(); op < end; ++op)
            kernelOf[op] = k;
    }
    return kernelOf;
}

double KernelProfile::arrayUtilization(std::uint32_t arrays) const {
    return ratio(arrayBusyCycles, spanCycles() * arrays);
}

std::vector<KernelProfile> profileKernels(const dfx::Program& program,
                                          const sim::Schedule& schedule, const sim::RunStats& stats,
                                          const KpuConfig& config) {
    const std::vector<std::uint32_t> kernelOf = kernelOfOps(program);
    const sim::EnergyModel energyModel = sim::energyModel(config);
    const std::uint32_t kernelCount = program.kernels()->size();
    std::vector<KernelProfile> rows(kernelCount + 1); // the last one is "(other)"
    for (std::uint32_t k = 0; k < kernelCount; ++k) {
        const dfx::Kernel& kernel = *program.kernels()->Get(k);
        rows[k].name = kernel.name()->str();
        rows[k].kind = std::string(dfx::kernelKindName(kernel.kind()));
        rows[k].dataflow = kernel.kind() == dfx::KernelKind::MatMul
                               ? sim::dataflowName(static_cast<sim::Dataflow>(kernel.dataflow()))
                               : "-";
    }
    rows.back() = KernelProfile{.name = "(other)", .kind = "-", .dataflow = "-"};

    for (std::size_t i = 0; i < schedule.ops.size(); ++i) {
        const sim::BoundOp& op = schedule.ops[i];
        const std::uint32_t k = op.sourceOp < kernelOf.size() ? kernelOf[op.sourceOp] : kNoKernel;
        KernelProfile& row = rows[k == kNoKernel ? kernelCount : k];
        ++row.boundOps;
        row.energy += sim::opEnergy(schedule, op, energyModel);
        if (op.type != sim::OpType::Barrier && i < stats.timeline.size()) {
            const sim::OpTiming& t = stats.timeline[i];
            row.firstStart = row.ran ? std::min(row.firstStart, t.start) : t.start;
            row.lastFinish = row.ran ? std::max(row.lastFinish, t.finish) : t.finish;
            row.ran = true;
        }
        switch (op.type) {
        case sim::OpType::Move:
            row.bytesBetweenLevels[static_cast<std::size_t>(std::max(schedule.move(op).src.level,
                                                                     schedule.move(op).dst.level)) -
                                   1] += op.bytes;
            break;
        case sim::OpType::Array:
            row.arrayBusyCycles += op.cycles;
            row.macs +=
                std::uint64_t{schedule.array(op).m} * schedule.array(op).n * schedule.array(op).k;
            row.folds += schedule.array(op).foldStart ? 1 : 0;
            break;
        case sim::OpType::Vector:
            row.arrayBusyCycles += op.cycles;
            break;
        case sim::OpType::Barrier:
            break;
        }
    }
    if (rows.back().boundOps == 0)
        rows.pop_back();
    return rows;
}

std::string formatSchedule(const dfx::Program& program, const sim::Schedule& schedule,
                           const KpuConfig& config) {
    std::string out =
        fmt::format("bound schedule: {} ops from {} DFX ops, config '{}' ({}x{} array @ {} GHz)\n",
                    schedule.ops.size(), program.ops()->size(), config.name,
                    config.compute.arrayRows, config.compute.arrayCols, config.clockGHz);
    out += "tensors in external memory:\n";
    for (const sim::TensorPlacement& t : schedule.tensors)
        out += fmt::format("  {:<24} EXT {:#010x}  {} bytes\n", t.name, t.offset, t.bytes);
    // Moves fill the source, destination and bytes columns; passes describe their operands in
    // the same 42 characters, so the columns after them stay aligned.
    const auto row = [&](std::size_t i, const sim::BoundOp& op, std::string_view kind,
                         std::string_view engine, std::string_view what, std::string_view latency,
                         std::string_view notes) {
        const auto deps = schedule.depsOf(i);
        out += fmt::format("{:>7} {:>6}  {:<7} {:<15} {:<42} {:>4} {:>7}  {:<24} {}\n", i,
                           op.sourceOp, kind, engine, what, latency, op.cycles, notes,
                           deps.empty() ? "-" : fmt::format("{}", fmt::join(deps, ",")));
    };
    out += fmt::format("{:>7} {:>6}  {:<7} {:<15} {:<16} {:<16} {:>8} {:>4} {:>7}  {:<24} {}\n",
                       "op", "dfx", "kind", "engine", "source", "destination", "bytes", "lat",
                       "cycles", "notes", "deps");
    std::array<std::uint64_t, sim::kEngineKindCount> opsPerKind{};
    std::array<std::uint64_t, 3> bytesPerPair{};
    for (std::size_t i = 0; i < schedule.ops.size(); ++i) {
        const sim::BoundOp& op = schedule.ops[i];
        if (op.type != sim::OpType::Barrier)
            ++opsPerKind[static_cast<std::size_t>(op.engine)];
        switch (op.type) {
        case sim::OpType::Move:
            bytesPerPair[static_cast<std::size_t>(
                             std::max(schedule.move(op).src.level, schedule.move(op).dst.level)) -
                         1] += op.bytes;
            row(i, op, "move", engineChoices(op),
                fmt::format("{:<16} {:<16} {:>8}", address(schedule.move(op).src),
                            address(schedule.move(op).dst), op.bytes),
                fmt::format("{}", op.latency), slotText(op));
            break;
        case sim::OpType::Array: {
            const sim::ArrayOp& a = schedule.array(op);
            row(i, op, "array", engineChoices(op),
                fmt::format("A {:#x} B {:#x}{} -> {}", a.a.offset, a.b.offset,
                            a.hasInit ? fmt::format(" C {:#x}", a.init.offset) : "",
                            address(a.out)),
                "-",
                fmt::format("m={} n={} k={} {}{}", a.m, a.n, a.k, sim::dataflowName(a.dataflow),
                            a.foldStart ? " fold" : ""));
            break;
        }
        case sim::OpType::Vector: {
            const sim::VectorOp& v = schedule.vector(op);
            std::string ins;
            for (const sim::VectorOperand& in : v.inputs)
                ins += fmt::format("{}{:#x}", ins.empty() ? "" : ",", in.at.offset);
            const auto& e = v.output.extent;
            row(i, op, "vector", engineChoices(op),
                fmt::format("{} {} -> {}", operatorName(v.kind), ins, address(v.output.at)), "-",
                fmt::format("out {}x{}x{}x{}", e[0], e[1], e[2], e[3]));
            break;
        }
        case sim::OpType::Barrier:
            row(i, op, "barrier", "-", "", "", "");
            break;
        }
    }
    out += fmt::format(
        "summary: {} DMA moves, {} BlockMover moves, {} Streamer moves, {} array and vector "
        "passes\n",
        opsPerKind[0], opsPerKind[1], opsPerKind[2], opsPerKind[3]);
    for (std::size_t p = 0; p < 3; ++p)
        out += fmt::format("  bytes {:<9} {}\n", kLevelPairNames[p], bytesPerPair[p]);
    // Loads into EXT do not exist, so reuse is reported for the on-chip levels only.
    for (int l = 1; l < sim::kLevelCount; ++l)
        out += fmt::format("  reused {:<8} {} tiles, {} bytes (loads skipped: still resident)\n",
                           sim::levelName(static_cast<sim::Level>(l)),
                           schedule.reusedTiles[static_cast<std::size_t>(l)],
                           schedule.reusedBytes[static_cast<std::size_t>(l)]);
    return out;
}

std::string formatReport(const LoadedObject& object, const KpuConfig& config,
                         const sim::Schedule& schedule, const SimulationResult& result,
                         const std::vector<Comparison>& comparisons, const ReportOptions& options) {
    const sim::RunStats& s = result.stats;
    const Summary sum = summarize(config, schedule, s);
    const std::vector<KernelProfile> kernels = profileKernels(*object.program, schedule, s, config);
    std::string out = formatStats(object, config, schedule, s, sum);
    out += formatEnergy(sum, kernels, s);
    out += formatVerify(comparisons);
    out += formatExpect(options.expect);
    if (options.profile)
        out += formatProfile(kernels, config);
    return out;
}

std::string reportJson(const LoadedObject& object, const KpuConfig& config,
                       const sim::Schedule& schedule, const SimulationResult& result,
                       const std::vector<Comparison>& comparisons, const ReportOptions& options) {
    using nlohmann::json;
    const sim::RunStats& s = result.stats;
    const Summary sum = summarize(config, schedule, s);
    // Absent ratios (nothing to divide by) are null.
    const auto orNull = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
    json report;
    report["schema"] = kReportSchema;
    report["schema_version"] = kReportSchemaVersion;
    report["object"] = object.path;
    report["config"] = config.name;
    report["clock_ghz"] = config.clockGHz;
    report["total_cycles"] = s.totalCycles;
    report["time_seconds"] = seconds(s.totalCycles, config);
    report["bound_ops"] = schedule.ops.size();
    report["array_passes"] = s.arrayPasses;
    report["vector_passes"] = s.vectorPasses;
    report["external_bytes"] = sum.externalBytes;
    report["macs"] = s.macs;
    json resources = json::array();
    for (const sim::EngineStats& e : s.engines)
        resources.push_back({{"name", e.name},
                             {"kind", sim::engineKindName(e.kind)},
                             {"index", e.index},
                             {"busy_cycles", e.busyCycles},
                             {"utilization", ratio(e.busyCycles, s.totalCycles)},
                             {"ops", e.ops},
                             {"bytes", e.bytes},
                             {"wait_data_cycles", e.waitData},
                             {"wait_space_cycles", e.waitSpace},
                             {"wait_port_cycles", e.waitPort}});
    report["resources"] = resources;
    report["stalls"] = {{"array_wait_data_cycles", sum.arrayWaitData},
                        {"array_wait_space_cycles", sum.arrayWaitSpace},
                        {"movers_wait_data_cycles", sum.moversWaitData},
                        {"movers_wait_space_cycles", sum.moversWaitSpace},
                        {"movers_wait_port_cycles", sum.moversWaitPort}};
    json levels = json::array();
    for (int l = 0; l < sim::kLevelCount; ++l) {
        const auto i = static_cast<std::size_t>(l);
        const sim::LevelStats& level = s.levels[i];
        levels.push_back({{"level", sim::levelName(static_cast<sim::Level>(l))},
                          {"bytes_read", level.bytesRead},
                          {"bytes_written", level.bytesWritten},
                          {"peak_bytes_per_cycle", sum.levels[i].peakBytesPerCycle},
                          {"achieved_bytes_per_cycle", sum.levels[i].achievedBytesPerCycle},
                          {"peak_gbps", sum.levels[i].peakBytesPerCycle * config.clockGHz},
                          {"achieved_gbps", sum.levels[i].achievedBytesPerCycle * config.clockGHz},
                          {"port_busy_cycles", level.portBusyCycles},
                          {"port_wait_cycles", level.portWaitCycles},
                          {"reused_tiles", schedule.reusedTiles[i]},
                          {"reused_bytes", schedule.reusedBytes[i]}});
    }
    report["levels"] = levels;
    report["bytes_between_levels"] = {{"ext_l3", s.bytesBetweenLevels[0]},
                                      {"l3_l2", s.bytesBetweenLevels[1]},
                                      {"l2_l1", s.bytesBetweenLevels[2]}};
    report["external"] = {{"bytes", sum.externalBytes},
                          {"compulsory_bytes", schedule.compulsoryExternalBytes},
                          {"overfetch", orNull(sum.overfetch)}};
    report["roofline"] = {{"flops", sum.flops},
                          {"arithmetic_intensity", orNull(sum.intensity)},
                          {"peak_flops_per_cycle", sum.peakFlopsPerCycle},
                          {"peak_external_bytes_per_cycle", sum.peakExternalBytesPerCycle},
                          {"attainable_flops_per_cycle", sum.attainableFlopsPerCycle},
                          {"achieved_flops_per_cycle", sum.achievedFlopsPerCycle},
                          {"bound", sum.bound},
                          {"mac_efficiency", sum.macEfficiency},
                          {"array_folds", s.arrayFolds}};
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
    json expect = json::array();
    for (const ExpectComparison& c : options.expect) {
        // Infinite errors (a NaN or infinity that does not match) come out as null.
        json e{{"tensor", c.tensor},
               {"file", c.path},
               {"elements", c.elements},
               {"max_abs_error", c.maxAbsError},
               {"max_rel_error", c.maxRelError},
               {"mismatches", c.mismatches},
               {"rtol", c.tolerance.rtol},
               {"atol", c.tolerance.atol},
               {"match", c.pass()}};
        if (c.firstMismatch)
            e["first_mismatch"] = {{"index", c.firstMismatch->index},
                                   {"expected", c.firstMismatch->expected},
                                   {"actual", c.firstMismatch->actual}};
        expect.push_back(e);
    }
    report["expect"] = expect;
    const std::vector<KernelProfile> rows = profileKernels(*object.program, schedule, s, config);
    json memoryPj;
    for (int l = 0; l < sim::kLevelCount; ++l)
        memoryPj[sim::levelName(static_cast<sim::Level>(l))] =
            sum.energy.memory[static_cast<std::size_t>(l)];
    json kernelEnergy = json::array();
    for (const KernelProfile& k : rows)
        kernelEnergy.push_back({{"name", k.name}, {"energy_pj", k.energy.dynamic()}});
    report["energy"] = {{"total_pj", sum.energy.total()},   {"dynamic_pj", sum.energy.dynamic()},
                        {"static_pj", sum.energy.staticPj}, {"static_power_w", sum.staticPowerW},
                        {"compute_pj", sum.energy.compute}, {"memory_pj", memoryPj},
                        {"moves_pj", sum.energy.moves},     {"pj_per_mac", orNull(sum.pjPerMac)},
                        {"area_mm2", sim::areaMm2(config)}, {"kernels", kernelEnergy}};
    if (options.profile) {
        json kernels = json::array();
        for (const KernelProfile& k : rows)
            kernels.push_back({{"name", k.name},
                               {"kind", k.kind},
                               {"dataflow", k.dataflow},
                               {"bound_ops", k.boundOps},
                               {"first_start_cycle", k.ran ? json(k.firstStart) : json(nullptr)},
                               {"last_finish_cycle", k.ran ? json(k.lastFinish) : json(nullptr)},
                               {"span_cycles", k.spanCycles()},
                               {"array_busy_cycles", k.arrayBusyCycles},
                               {"array_utilization", k.arrayUtilization(config.compute.tileCount)},
                               {"macs", k.macs},
                               {"folds", k.folds},
                               {"external_bytes", k.bytesBetweenLevels[0]},
                               {"l3_l2_bytes", k.bytesBetweenLevels[1]},
                               {"l2_l1_bytes", k.bytesBetweenLevels[2]},
                               {"energy_pj", k.energy.dynamic()}});
        report["kernels"] = kernels;
    }
    // The verifier refuses names that are not UTF-8; replacing is the second line of defence.
    return report.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

} // namespace kpu::loader
