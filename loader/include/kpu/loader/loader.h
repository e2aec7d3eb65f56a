// The loader's steps as library calls: load + verify an object, prepare its inputs, simulate a
// bound schedule, verify the outputs and format reports. kpu-loader's main strings them
// together; tests call them directly.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "kpu/common/error.h"
#include "kpu/common/hw_config.h"
#include "kpu/loader/host_tensor.h"
#include "kpu/loader/reference_executor.h"
#include "kpu/schema/object.h"
#include "kpu/simulator/schedule.h"
#include "kpu/simulator/stats.h"

namespace kpu::loader {

// A verified object: the bytes and the Program that points into them.
struct LoadedObject {
    std::string path;
    std::vector<std::uint8_t> bytes;
    const dfx::Program* program = nullptr;

    LoadedObject() = default;
    LoadedObject(LoadedObject&&) = default;
    LoadedObject& operator=(LoadedObject&&) = default;
};

Expected<LoadedObject> loadObject(const std::string& path);

// Values for every Input and Constant tensor: from `files` (tensor name -> .npy path) when
// given, else seeded random values uniform in [-1, 1) (weights of GEMMs and convolutions: divided
// by sqrt(fan-in)). Other tensors stay empty. Unknown names are errors.
Expected<std::vector<HostTensor>> prepareInputs(const dfx::Program& program,
                                                const std::map<std::string, std::string>& files,
                                                std::uint64_t seed);

struct SimulationResult {
    sim::RunStats stats;
    std::vector<HostTensor> tensors; // every tensor read back from simulated external memory
};

Expected<SimulationResult> simulate(const dfx::Program& program, const sim::Schedule& schedule,
                                    const KpuConfig& config, const std::vector<HostTensor>& inputs);

// Checks every output of the program against the reference executor, which computes the
// object's graph section (the source graph's operations, unfused and untiled) from the same
// inputs with straightforward loops in double. Errors when the reference cannot run the graph.
Expected<std::vector<Comparison>> verifyOutputs(const dfx::Program& program,
                                                const std::vector<HostTensor>& inputs,
                                                const SimulationResult& result,
                                                std::string_view sourceName);

// Checks that every name in `files` is a tensor of the program, before anything runs.
Expected<void> checkOutputNames(const dfx::Program& program,
                                const std::map<std::string, std::string>& files);

// Writes the named tensors (name -> .npy path) from a simulation result.
Expected<void> writeOutputs(const dfx::Program& program, const SimulationResult& result,
                            const std::map<std::string, std::string>& files);

// Reports.
std::string formatSchedule(const dfx::Program& program, const sim::Schedule& schedule,
                           const KpuConfig& config);
std::string formatReport(const LoadedObject& object, const KpuConfig& config,
                         const sim::Schedule& schedule, const SimulationResult& result,
                         const std::vector<Comparison>& comparisons);
std::string reportJson(const LoadedObject& object, const KpuConfig& config,
                       const sim::Schedule& schedule, const SimulationResult& result,
                       const std::vector<Comparison>& comparisons);

} // namespace kpu::loader
