#include "kpu/compiler/compiler.h"

#include <flatbuffers/flatbuffers.h>

#include "kpu/common/file_io.h"
#include "kpu/compiler/canonicalize.h"
#include "kpu/compiler/dfg_reader.h"
#include "kpu/compiler/graph_builder.h"
#include "kpu/compiler/layout.h"
#include "kpu/compiler/lowering.h"
#include "kpu/compiler/onnx_importer.h"

namespace kpu::compiler {

namespace {

// What every imported ONNX graph goes through before lowering.
void prepareOnnxGraph(ir::Graph& graph) {
    ir::canonicalizeGraph(graph);
    // After canonicalisation, which gives unary results their operand's shape.
    ir::sinkTransposes(graph);
}

} // namespace

std::vector<std::uint8_t> serializeProgram(const dfx::ProgramT& program) {
    flatbuffers::FlatBufferBuilder builder(1024 + program.ops.size() * sizeof(dfx::Op));
    dfx::FinishProgramBuffer(builder, dfx::Program::Pack(builder, &program));
    return {builder.GetBufferPointer(), builder.GetBufferPointer() + builder.GetSize()};
}

Expected<ir::Graph> readDfgGraph(const std::string& path, std::int64_t batch) {
    auto text = readTextFile(path);
    if (!text)
        return std::unexpected(text.error());
    return parseDfgGraph(*text, path, batch);
}

Expected<ir::Graph> parseDfgGraph(std::string_view text, const std::string& fileName,
                                  std::int64_t batch) {
    auto file = dfg::parse(text, fileName);
    if (!file)
        return std::unexpected(file.error());
    auto graph = ir::buildGraph(*file, fileName, ir::BuildOptions{.batch = batch});
    if (graph)
        ir::canonicalizeGraph(*graph);
    return graph;
}

Expected<ir::Graph> parseOnnxGraph(std::span<const std::uint8_t> bytes, const std::string& fileName,
                                   const SourceOptions& options) {
    auto graph = ir::importOnnxBytes(
        bytes, fileName,
        ir::OnnxImportOptions{.batch = options.batch, .staticInputs = options.staticInputs});
    if (graph)
        prepareOnnxGraph(*graph);
    return graph;
}

Expected<ir::Graph> readGraph(const std::string& path, const SourceOptions& options) {
    if (path.ends_with(".onnx")) {
        auto graph =
            ir::importOnnxFile(path, ir::OnnxImportOptions{.batch = options.batch,
                                                           .staticInputs = options.staticInputs});
        if (graph)
            prepareOnnxGraph(*graph);
        return graph;
    }
    if (!options.staticInputs.empty())
        return fail("{}: error: --const '{}': a .dfg file has no inputs fixed at compile time",
                    path, options.staticInputs.begin()->first);
    return readDfgGraph(path, options.batch);
}

Expected<CompileResult> compileGraph(ir::Graph graph, const std::string& path,
                                     const CompileOptions& options) {
    auto program = lowerGraph(graph, LowerOptions{.target = options.target,
                                                  .sourceFile = path,
                                                  .fuse = options.fuse,
                                                  .dataflow = options.dataflow,
                                                  .explicitOps = options.explicitOps,
                                                  .gemmTilings = options.gemmTilings,
                                                  .gemmChoices = options.gemmChoices});
    if (!program)
        return std::unexpected(program.error());
    CompileResult result{.graph = std::move(graph), .program = std::move(*program), .object = {}};
    result.object = serializeProgram(result.program);
    return result;
}

Expected<CompileResult> compileDfgFile(const std::string& path, const CompileOptions& options) {
    auto graph = readDfgGraph(path, options.batch);
    if (!graph)
        return std::unexpected(graph.error());
    return compileGraph(std::move(*graph), path, options);
}

} // namespace kpu::compiler
