// kpu-kernel-compiler: compile a Domain Flow Graph (.dfg) or an ONNX model (.onnx) into a DFX
// object (.kpu).
#include <algorithm>
#include <iostream>
#include <optional>

#include <CLI/CLI.hpp>

#include "kpu/common/file_io.h"
#include "kpu/compiler/compiler.h"
#include "kpu/compiler/dfg_writer.h"
#include "kpu/compiler/tile_optimizer.h"
#include "kpu/schema/disasm.h"

int main(int argc, char** argv) {
    CLI::App app{
        "kpu-kernel-compiler: compile a Domain Flow Graph (.dfg) or an ONNX model (.onnx) into a "
        "DFX object (.kpu)"};
    app.set_version_flag("--version", std::string("kpu-kernel-compiler ") + KPU_VERSION);
    std::string input, output, configPath, dataflow = "auto", emitDfg;
    std::vector<std::string> constSpecs;
    std::int64_t batch = 1;
    bool emitDfx = false, emitGraph = false, noFuse = false, explicitOps = false;
    app.add_option("input", input, "Domain Flow Graph (.dfg) or ONNX model (.onnx)")->required();
    app.add_option("-o,--output", output, "object file to write (default: <input stem>.kpu)");
    app.add_option("--config", configPath,
                   "KPU configuration the tiles are chosen for (default: embedded)");
    app.add_option("--batch", batch, "value of dynamic '?' dimensions")
        ->capture_default_str()
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 31)
                    .description("a batch size from 1 to 2^31"));
    app.add_flag("--no-fuse", noFuse,
                 "keep bias adds and activations as separate kernels (default: fused into the "
                 "preceding MATMUL / FC / CONV2D)");
    app.add_option("--dataflow", dataflow,
                   "dataflow of every GEMM kernel: os (output-stationary), ws (weight-stationary), "
                   "is (input-stationary) or auto (each kernel's fastest, docs/dataflows.md)")
        ->capture_default_str()
        ->check(CLI::IsMember({"os", "ws", "is", "auto"}));
    app.add_flag("--explicit-ops", explicitOps,
                 "store every op of every kernel in the object (default: kernels are tile-loop "
                 "records the loader expands; docs/object-format.md)");
    app.add_flag("--emit-dfx", emitDfx, "print the DFX program as text");
    app.add_flag("--emit-graph", emitGraph, "print the graph IR");
    app.add_option("--emit-dfg", emitDfg,
                   "also write the graph IR as a domain_flow .dfg file (shapes only: constant "
                   "values do not travel in .dfg)");
    app.add_option("--const", constSpecs,
                   "NAME=FILE: fix ONNX graph input NAME to the value in FILE (.pb or .npy) at "
                   "compile time, for operators that need it (a Reshape's shape); repeatable");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help and --version exit 0; usage errors exit 2, as command-line tools conventionally
        // do.
        return app.exit(e) == 0 ? 0 : 2;
    }

    auto config = configPath.empty() ? kpu::Expected<kpu::KpuConfig>(kpu::defaultConfig())
                                     : kpu::loadConfigFile(configPath);
    if (!config) {
        std::cerr << config.error().message << "\n";
        return 1;
    }
    kpu::compiler::SourceOptions source{.batch = batch, .staticInputs = {}};
    for (const std::string& spec : constSpecs) {
        const auto eq = spec.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
            std::cerr << "kpu-kernel-compiler: error: --const '" << spec
                      << "': expected NAME=FILE\n";
            return 2;
        }
        auto value = kpu::onnx_io::readValueFile(spec.substr(eq + 1));
        if (!value) {
            std::cerr << value.error().message << "\n";
            return 1;
        }
        source.staticInputs[spec.substr(0, eq)] = std::move(*value);
    }
    auto graph = kpu::compiler::readGraph(input, source);
    if (!graph) {
        std::cerr << graph.error().message << "\n";
        return 1;
    }
    for (const std::string& warning : graph->warnings)
        std::cerr << warning << "\n";
    // The graph dump comes before lowering, so it works for graphs that cannot be lowered yet.
    if (emitGraph)
        std::cout << kpu::ir::dumpGraph(*graph);
    if (!emitDfg.empty()) {
        if (auto r = kpu::ir::writeDfgFile(*graph, emitDfg); !r) {
            std::cerr << r.error().message << "\n";
            return 1;
        }
        const auto withValues = std::ranges::count_if(
            graph->values, [](const kpu::ir::Value& v) { return !v.data.empty(); });
        if (withValues > 0)
            std::cerr << emitDfg << ": warning: " << withValues
                      << " constants are written with their shapes only (.dfg carries no "
                         "values); the .kpu object keeps them\n";
    }
    std::optional<kpu::dfx::Dataflow> forced;
    for (kpu::dfx::Dataflow d : kpu::compiler::kGemmDataflows)
        if (dataflow == kpu::compiler::dataflowShortName(d))
            forced = d;
    auto result = kpu::compiler::compileGraph(std::move(*graph), input,
                                              {.target = *config,
                                               .batch = batch,
                                               .fuse = !noFuse,
                                               .dataflow = forced,
                                               .explicitOps = explicitOps});
    if (!result) {
        std::cerr << result.error().message << "\n";
        return 1;
    }
    if (emitDfx)
        std::cout << kpu::dfx::disassembleText(*kpu::dfx::GetProgram(result->object.data()), {});
    if (output.empty()) {
        const auto dot = input.find_last_of('.');
        const auto slash = input.find_last_of('/');
        const std::string stem =
            input.substr(slash == std::string::npos ? 0 : slash + 1,
                         dot == std::string::npos || (slash != std::string::npos && dot < slash)
                             ? std::string::npos
                             : dot - (slash == std::string::npos ? 0 : slash + 1));
        output = stem + ".kpu";
    }
    if (auto r = kpu::writeBinaryFile(output, result->object); !r) {
        std::cerr << r.error().message << "\n";
        return 1;
    }
    return 0;
}
