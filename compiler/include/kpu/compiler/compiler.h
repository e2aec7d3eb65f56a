// The compiler driver as a library call: .dfg or .onnx file -> graph IR -> DFX program -> object
// bytes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kpu/common/error.h"
#include "kpu/common/hw_config.h"
#include "kpu/common/onnx_tensor.h"
#include "kpu/compiler/graph.h"
#include "kpu/compiler/lowering.h"
#include "kpu/schema/object.h"

namespace kpu::compiler {

struct CompileOptions {
    KpuConfig target = defaultConfig();
    std::int64_t batch = 1; // value of dynamic '?' dimensions
    bool fuse = true;       // fuse bias adds and activations into GEMM kernels
    // The dataflow of every GEMM kernel; nullopt: chosen per kernel (docs/dataflows.md).
    std::optional<dfx::Dataflow> dataflow{};
    // true (the library default): every op stored, so `program` and `object` can be bound
    // directly; kpu-kernel-compiler writes TileLoops kernels (false) unless --explicit-ops, and
    // loader::loadObject expands them.
    bool explicitOps = true;
    // Tilings imposed on GEMM kernels, and where to record every GEMM kernel's choice
    // (lowering.h; --tile-strategy search uses both).
    std::map<std::string, GemmTilingChoice> gemmTilings{};
    std::vector<GemmKernelChoice>* gemmChoices = nullptr;
};

struct CompileResult {
    ir::Graph graph;
    dfx::ProgramT program;            // as stored: without explicitOps, TileLoops kernels' ops
                                      // are not in it
    std::vector<std::uint8_t> object; // the serialized FlatBuffer
};

// Reads a .dfg file into the graph IR (any operator; nothing is lowered yet).
Expected<ir::Graph> readDfgGraph(const std::string& path, std::int64_t batch);

struct SourceOptions {
    std::int64_t batch = 1; // value of dynamic dimensions
    // ONNX graph inputs fixed at compile time (kpu-kernel-compiler --const NAME=FILE).
    std::map<std::string, onnx_io::TensorValue> staticInputs;
};

// Reads a model by its extension: ".onnx" through the ONNX importer (onnx_importer.h),
// anything else as a .dfg file. Static inputs are an error for .dfg files.
Expected<ir::Graph> readGraph(const std::string& path, const SourceOptions& options);

// readDfgGraph and readGraph's ONNX path for a source already in memory (the fuzz targets);
// `fileName` names it in messages.
Expected<ir::Graph> parseDfgGraph(std::string_view text, const std::string& fileName,
                                  std::int64_t batch);
Expected<ir::Graph> parseOnnxGraph(std::span<const std::uint8_t> bytes, const std::string& fileName,
                                   const SourceOptions& options);

// Lowers a graph and serializes the program. `path` names the source in messages and the object.
Expected<CompileResult> compileGraph(ir::Graph graph, const std::string& path,
                                     const CompileOptions& options);

// readDfgGraph + compileGraph. Errors carry file and place.
Expected<CompileResult> compileDfgFile(const std::string& path, const CompileOptions& options);

// Serializes a program as a finished, identified FlatBuffer.
std::vector<std::uint8_t> serializeProgram(const dfx::ProgramT& program);

} // namespace kpu::compiler
