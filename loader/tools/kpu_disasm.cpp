// kpu-disasm: dumps a .kpu object as stable text (for people and golden tests) or JSON.
// Thin by design: read -> verify -> disassemble -> print; the library does the work.
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "kpu/common/error.h"
#include "kpu/common/file_io.h"
#include "kpu/loader/object_expansion.h"
#include "kpu/loader/verifier.h"
#include "kpu/schema/disasm.h"

namespace {

struct Arguments {
    std::string input;
    std::string output; // empty: stdout
    bool json = false;
    bool expand = false;               // list the generated ops of TileLoops kernels
    std::vector<std::string> sections; // empty: all
    std::uint64_t opsFirst = 0;
    std::optional<std::uint64_t> opsLimit;
};

kpu::dfx::DisasmOptions disasmOptions(const Arguments& args, std::uint64_t fileSize) {
    kpu::dfx::DisasmOptions options;
    if (!args.sections.empty()) {
        options.sections = 0;
        for (const auto& name : args.sections) // already validated by CLI11
            options.sections |= static_cast<unsigned>(*kpu::dfx::parseDisasmSection(name));
    }
    options.opsFirst = args.opsFirst;
    options.opsLimit = args.opsLimit;
    options.fileSize = fileSize;
    return options;
}

kpu::Expected<void> run(const Arguments& args) {
    auto bytes = kpu::readBinaryFile(args.input);
    if (!bytes)
        return std::unexpected(bytes.error());
    auto program = kpu::loader::verifyObject(*bytes, args.input);
    if (!program)
        return std::unexpected(program.error());
    const auto options = disasmOptions(args, bytes->size());
    // --expand: the program the loader runs, every TileLoops kernel's ops generated.
    flatbuffers::DetachedBuffer expanded;
    const kpu::dfx::Program* shown = *program;
    if (args.expand && kpu::loader::hasTileLoops(**program)) {
        auto built = kpu::loader::expandProgram(*bytes, args.input);
        if (!built)
            return std::unexpected(built.error());
        expanded = std::move(*built);
        shown = kpu::dfx::GetProgram(expanded.data());
    }
    const std::string text = args.json ? kpu::dfx::disassembleJson(*shown, options)
                                       : kpu::dfx::disassembleText(*shown, options);
    if (!args.output.empty())
        return kpu::writeTextFile(args.output, text);
    std::fwrite(text.data(), 1, text.size(), stdout);
    return {};
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"kpu-disasm: print a KPU object (.kpu) as text or JSON"};
    app.set_version_flag("--version", std::string("kpu-disasm ") + KPU_VERSION);
    Arguments args;
    app.add_option("file", args.input, "the .kpu object to dump")->required();
    app.add_option("-o,--output", args.output, "write to this file instead of stdout");
    app.add_flag("--json", args.json, "print JSON instead of text");
    app.add_flag("--expand", args.expand,
                 "list the ops the loader generates for tile-loop kernels one by one (default: "
                 "each tile-loop kernel's ops are one row)");
    app.add_option("--section", args.sections,
                   "sections to print (repeat or comma-separate; default all)")
        ->delimiter(',')
        ->check(CLI::IsMember({"header", "tensors", "kernels", "ops", "deps", "hints", "graph"}));
    app.add_option("--ops-from", args.opsFirst, "first op to print (default 0)");
    app.add_option("--ops-limit", args.opsLimit, "print at most this many ops (default all)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help and --version exit 0; usage errors exit 2, as command-line tools conventionally
        // do.
        return app.exit(e) == 0 ? 0 : 2;
    }

    if (auto result = run(args); !result) {
        std::fprintf(stderr, "%s\n", result.error().message.c_str());
        return 1;
    }
    return 0;
}
