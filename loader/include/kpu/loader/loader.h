// The loader's steps as library calls: load + verify an object, prepare its inputs, simulate a
// bound schedule, verify the outputs and format reports. kpu-loader's main strings them
// together; tests call them directly.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kpu/common/error.h"
#include "kpu/common/hw_config.h"
#include "kpu/loader/host_memory.h"
#include "kpu/loader/host_tensor.h"
#include "kpu/loader/io_binding.h"
#include "kpu/loader/reference_executor.h"
#include "kpu/schema/object.h"
#include "kpu/simulator/energy.h"
#include "kpu/simulator/schedule.h"
#include "kpu/simulator/simulator.h"
#include "kpu/simulator/stats.h"

namespace kpu::loader {

// A verified object: the bytes and the explicit Program. When the object has TileLoops kernels
// (format 3.0), `program` is their expansion (object_expansion.h), built in `expanded`, and
// `stored` the object as written; otherwise both point into `bytes`.
struct LoadedObject {
    std::string path;
    std::vector<std::uint8_t> bytes;
    const dfx::Program* program = nullptr; // every op explicit: what the binder and reports read
    const dfx::Program* stored = nullptr;  // the object as stored (compact)
    flatbuffers::DetachedBuffer expanded;  // backs `program` when it differs from `stored`

    LoadedObject() = default;
    LoadedObject(LoadedObject&&) = default;
    LoadedObject& operator=(LoadedObject&&) = default;
};

// Reads and verifies an object, and expands its TileLoops kernels within `hostMemoryLimit`
// (host_memory.h).
Expected<LoadedObject> loadObject(const std::string& path,
                                  std::uint64_t hostMemoryLimit = kNoHostMemoryLimit);
// The same for object bytes already in memory; `path` names them in messages.
Expected<LoadedObject> loadObjectBytes(std::vector<std::uint8_t> bytes, const std::string& path,
                                       std::uint64_t hostMemoryLimit = kNoHostMemoryLimit);

// Values for every Input and Constant tensor, indexed like the program's tensors (other tensors
// stay empty), in this order of precedence:
//  1. `values` (tensor name -> value, e.g. bindInputs of io_binding.h over .npy / .pb files),
//     conformed to the tensor (conformToTensor: same shape; floating types converted);
//  2. for a Constant tensor that stores its values in the object (Tensor.data, format 4.0),
//     those values (their size is checked against the tensor's, never read out of bounds);
//  3. seeded random values uniform in [-1, 1) (weights of GEMMs and convolutions: divided by
//     sqrt(fan-in)).
// A name in `values` that is not an Input or Constant tensor is an error. `sourceName` (the
// object path) prefixes errors.
Expected<std::vector<HostTensor>> prepareInputs(const dfx::Program& program,
                                                const std::map<std::string, HostTensor>& values,
                                                std::uint64_t seed,
                                                std::string_view sourceName = "object");

struct SimulationResult {
    sim::RunStats stats;
    // Every tensor, read back from simulated external memory, except read-only ones (inputs and
    // constants no kernel writes) given in `inputs`: their values are the inputs', so they are
    // not copied again (their `data` is empty; a program can be large).
    std::vector<HostTensor> tensors;
};

// Runs the schedule: functionally, unless `options.functional` is false (then no values are
// written, computed or read back, `tensors` stays empty, and the statistics are the same).
// `options.recordTimeline` keeps each bound op's start, finish and engine in the stats
// (24 bytes per op), which --profile and --trace need.
Expected<SimulationResult> simulate(const dfx::Program& program, const sim::Schedule& schedule,
                                    const KpuConfig& config, const std::vector<HostTensor>& inputs,
                                    const sim::RunOptions& options = {});

// Checks every output of the program against the reference executor, which computes the
// object's graph section (the source graph's operations, unfused and untiled) from the same
// inputs with straightforward loops in double. Errors when the reference cannot run the graph.
Expected<std::vector<Comparison>> verifyOutputs(const dfx::Program& program,
                                                const std::vector<HostTensor>& inputs,
                                                const SimulationResult& result,
                                                std::string_view sourceName);

// An empty HostTensor with `t`'s name, dtype and shape.
HostTensor describe(const dfx::Tensor& t);

// The index of the tensor named `name`.
std::optional<std::uint32_t> findTensor(const dfx::Program& program, std::string_view name);

// Which tensors hold their values in external memory after a run: graph inputs, constants and
// outputs, intermediates the program spills there, and every alias of those. Intermediates that
// stay on chip or were fused away never reach it (--output and --expect refuse them).
std::vector<bool> externallyVisible(const dfx::Program& program);

// Checks that every name in `files` is a tensor of the program, before anything runs.
Expected<void> checkOutputNames(const dfx::Program& program,
                                const std::map<std::string, std::string>& files);

// Writes the named tensors (name -> path) from a simulation result (read-only tensors from
// the inputs the simulation ran on): an ONNX TensorProto named after the tensor when the path
// ends in ".pb", else .npy.
Expected<void> writeOutputs(const dfx::Program& program, const std::vector<HostTensor>& inputs,
                            const SimulationResult& result,
                            const std::map<std::string, std::string>& files);

// The kernel each DFX op belongs to (kernels own ops[first_op, first_op + op_count)), or
// kNoKernel for ops outside every kernel (Reserve ops).
inline constexpr std::uint32_t kNoKernel = UINT32_MAX;
std::vector<std::uint32_t> kernelOfOps(const dfx::Program& program);

// One row of the per-kernel profile (--profile): the bound ops expanded from the kernel's DFX
// ops, or, for the "(other)" row, from DFX ops outside every kernel.
struct KernelProfile {
    std::string name;     // kernel name, or "(other)"
    std::string kind;     // "matmul", "relu", ...; "-" for "(other)"
    std::string dataflow; // "os", "ws" or "is" for a GEMM kernel, else "-"
    std::uint64_t boundOps = 0;
    bool ran = false;                             // some op ran on an engine (else no span)
    std::uint64_t firstStart = 0, lastFinish = 0; // over the ops that ran on an engine
    std::uint64_t arrayBusyCycles = 0;            // GEMM and vector passes
    std::uint64_t macs = 0;
    std::uint64_t folds = 0;
    std::array<std::uint64_t, 3> bytesBetweenLevels{}; // EXT<->L3, L3<->L2, L2<->L1
    sim::Energy energy{}; // dynamic energy of the kernel's bound ops (no static share)

    std::uint64_t spanCycles() const { return lastFinish - firstStart; }
    // Array busy cycles / (span x arrays): how well the kernel kept the arrays busy while it ran.
    double arrayUtilization(std::uint32_t arrays) const;
};

// One row per kernel of the program in kernel order, then "(other)" when some bound op comes
// from a DFX op outside every kernel. The spans need `stats.timeline`
// (RunOptions::recordTimeline); without it every row has `ran` false. Energies follow
// `config`'s energy model.
std::vector<KernelProfile> profileKernels(const dfx::Program& program,
                                          const sim::Schedule& schedule, const sim::RunStats& stats,
                                          const KpuConfig& config);

// Reports (docs/cli.md; docs/report-schema.md for the JSON).
struct ReportOptions {
    bool profile = false; // append the per-kernel profile (needs the run's timeline)
    // Comparisons of outputs with expected values (kpu-loader --expect): the text report's
    // "expect" section, the JSON report's "expect" array (empty without --expect).
    std::span<const ExpectComparison> expect{};
};

std::string formatSchedule(const dfx::Program& program, const sim::Schedule& schedule,
                           const KpuConfig& config);
std::string formatReport(const LoadedObject& object, const KpuConfig& config,
                         const sim::Schedule& schedule, const SimulationResult& result,
                         const std::vector<Comparison>& comparisons,
                         const ReportOptions& options = {});
std::string reportJson(const LoadedObject& object, const KpuConfig& config,
                       const sim::Schedule& schedule, const SimulationResult& result,
                       const std::vector<Comparison>& comparisons,
                       const ReportOptions& options = {});

// The report's JSON schema identity (docs/report-schema.md): minor versions only add fields;
// removing a field or changing its meaning bumps the major version.
inline constexpr std::string_view kReportSchema = "kpu-report";
inline constexpr std::string_view kReportSchemaVersion = "1.2";

} // namespace kpu::loader
