// Chrome Trace Event output of a simulated run (docs/trace.md).
#include "kpu/loader/trace.h"

#include <cassert>

#include <nlohmann/json.hpp>

namespace kpu::loader {
namespace {

// Keys in insertion order, so every event reads name, ph, pid, tid, ts, dur, args.
using Json = nlohmann::ordered_json;

// Everything is one process; each engine is one of its threads (tid = index in RunStats::engines).
constexpr int kPid = 1;

std::string levels(const sim::MoveOp& m) {
    return fmt::format("{}->{}", sim::levelName(m.src.level), sim::levelName(m.dst.level));
}

// "[o0,o1,o2,o3]+[e0,e1,e2,e3]": a DFX region, origin and extent in elements.
std::string tile(const dfx::Region& r) {
    return fmt::format("[{},{},{},{}]+[{},{},{},{}]", r.origin()->Get(0), r.origin()->Get(1),
                       r.origin()->Get(2), r.origin()->Get(3), r.extent()->Get(0),
                       r.extent()->Get(1), r.extent()->Get(2), r.extent()->Get(3));
}

Json metadata(std::string_view name, int tid, Json args) {
    return Json{
        {"name", name}, {"ph", "M"}, {"pid", kPid}, {"tid", tid}, {"args", std::move(args)}};
}

} // namespace

std::string chromeTrace(const LoadedObject& object, const KpuConfig& config,
                        const sim::Schedule& schedule, const sim::RunStats& stats) {
    assert(stats.timeline.size() == schedule.ops.size() && "record the timeline for a trace");
    const dfx::Program& program = *object.program;
    const std::vector<std::uint32_t> kernelOf = kernelOfOps(program);
    // Trace times are microseconds: cycles / (cycles per microsecond). Dividing (rather than
    // multiplying by the reciprocal) keeps whole nanoseconds exact at 1 GHz.
    const double cyclesPerUs = config.clockGHz * 1000.0;
    const auto us = [&](std::uint64_t cycles) { return static_cast<double>(cycles) / cyclesPerUs; };

    // One event per line: large traces stay greppable and diffable.
    std::string events;
    const auto emit = [&](const Json& event) {
        events += (events.empty() ? "" : ",\n") +
                  event.dump(-1, ' ', false, Json::error_handler_t::replace);
    };
    emit(metadata("process_name", 0, {{"name", "KPU " + config.name}}));
    for (std::size_t e = 0; e < stats.engines.size(); ++e) {
        const int tid = static_cast<int>(e);
        emit(metadata("thread_name", tid, {{"name", stats.engines[e].name}}));
        emit(metadata("thread_sort_index", tid, {{"sort_index", tid}}));
    }

    for (std::size_t i = 0; i < schedule.ops.size() && i < stats.timeline.size(); ++i) {
        const sim::BoundOp& op = schedule.ops[i];
        if (op.type == sim::OpType::Barrier)
            continue;
        const sim::OpTiming& t = stats.timeline[i];
        const dfx::Op& source = *program.ops()->Get(op.sourceOp);
        const std::uint32_t k = kernelOf[op.sourceOp];
        const std::string kernel =
            k == kNoKernel ? std::string() : program.kernels()->Get(k)->name()->str();

        Json args{{"bound_op", i}, {"dfx_op", op.sourceOp}};
        if (!kernel.empty())
            args["kernel"] = kernel;
        args["start_cycle"] = t.start;
        args["cycles"] = t.finish - t.start;
        std::string name, category;
        switch (op.type) {
        case sim::OpType::Move:
            category = "move";
            args["bytes"] = op.bytes;
            args["levels"] = levels(schedule.move(op));
            args["latency"] = op.latency;
            if (source.kind() == dfx::OpKind::DataMove) {
                const std::string tensor = program.tensors()->Get(source.index())->name()->str();
                name = tensor + " " + levels(schedule.move(op));
                args["tensor"] = tensor;
                args["tile"] = tile(source.region());
            } else {
                // An L1 stream or drain the loader expanded from a Compute op of `kernel`.
                name = kernel + " " + levels(schedule.move(op));
                args["expanded_from"] = "compute of " + kernel;
            }
            if (op.slots > 0) {
                args["slot"] = op.slot;
                args["slots"] = op.slots;
                args["prefetch_distance"] = op.prefetchDistance;
            }
            break;
        case sim::OpType::Array:
            category = "array";
            name = kernel + " pass";
            args["m"] = schedule.array(op).m;
            args["n"] = schedule.array(op).n;
            args["k"] = schedule.array(op).k;
            args["dataflow"] = sim::dataflowName(schedule.array(op).dataflow);
            args["fold_start"] = schedule.array(op).foldStart;
            break;
        case sim::OpType::Vector: {
            const sim::VectorOp& v = schedule.vector(op);
            category = "vector";
            name = std::string(operatorName(v.kind));
            const auto& e = v.output.extent;
            args["output_extent"] = fmt::format("[{},{},{},{}]", e[0], e[1], e[2], e[3]);
            break;
        }
        case sim::OpType::Barrier:
            break;
        }
        emit(Json{{"name", name},
                  {"cat", category},
                  {"ph", "X"},
                  {"pid", kPid},
                  {"tid", t.engine},
                  {"ts", us(t.start)},
                  {"dur", us(t.finish - t.start)},
                  {"args", std::move(args)}});
    }

    const Json other{{"object", object.path},
                     {"config", config.name},
                     {"clock_ghz", config.clockGHz},
                     {"total_cycles", stats.totalCycles},
                     {"time_unit", "microseconds of simulated time"}};
    return "{\"displayTimeUnit\": \"ns\",\n\"otherData\": " +
           other.dump(-1, ' ', false, Json::error_handler_t::replace) + ",\n\"traceEvents\": [\n" +
           events + "\n]}\n";
}

} // namespace kpu::loader
