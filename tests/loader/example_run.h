// One example graph taken through the loader's steps in process, as kpu-loader does: compile
// examples/<name>.dfg, load and verify the object, bind, simulate with the timeline recorded,
// and compare the outputs with the reference. The report and trace tests read the result.
#pragma once

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kpu/common/file_io.h"
#include "kpu/compiler/compiler.h"
#include "kpu/loader/binder.h"
#include "kpu/loader/loader.h"
#include "support/run_command.h"

namespace kpu::test {

struct ExampleRun {
    KpuConfig config;
    loader::LoadedObject object;
    sim::Schedule schedule;
    std::vector<loader::HostTensor> inputs;
    loader::SimulationResult result;
    std::vector<loader::Comparison> comparisons;
};

inline ::testing::AssertionResult runExample(const std::string& name, const KpuConfig& config,
                                             ExampleRun& run) {
    const std::string dfg = std::string(KPU_SOURCE_DIR) + "/examples/" + name + ".dfg";
    ScratchDir dir("example_" + name);
    auto compiled = compiler::compileDfgFile(dfg, {.target = config});
    if (!compiled)
        return ::testing::AssertionFailure() << compiled.error().message;
    const std::string path = dir.file(name + ".kpu");
    if (!writeBinaryFile(path, compiled->object))
        return ::testing::AssertionFailure() << "cannot write " << path;
    auto object = loader::loadObject(path);
    if (!object)
        return ::testing::AssertionFailure() << object.error().message;
    run.config = config;
    run.object = std::move(*object);
    const dfx::Program& program = *run.object.program;
    auto schedule = loader::bindProgram(program, config, path);
    if (!schedule)
        return ::testing::AssertionFailure() << schedule.error().message;
    run.schedule = std::move(*schedule);
    auto inputs = loader::prepareInputs(program, {}, 1);
    if (!inputs)
        return ::testing::AssertionFailure() << inputs.error().message;
    run.inputs = std::move(*inputs);
    auto result =
        loader::simulate(program, run.schedule, config, run.inputs, {.recordTimeline = true});
    if (!result)
        return ::testing::AssertionFailure() << result.error().message;
    run.result = std::move(*result);
    auto comparisons = loader::verifyOutputs(program, run.inputs, run.result, path);
    if (!comparisons)
        return ::testing::AssertionFailure() << comparisons.error().message;
    run.comparisons = std::move(*comparisons);
    return ::testing::AssertionSuccess();
}

} // namespace kpu::test
