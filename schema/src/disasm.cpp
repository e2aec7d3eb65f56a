#include "kpu/schema/disasm.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "kpu/common/dtype.h"
#include "kpu/common/float_convert.h"
#include "kpu/common/operator.h"
#include "kpu/schema/object.h"
#include "kpu/schema/tile_loops.h"

namespace kpu::dfx {
namespace {

// ---------------------------------------------------------------------------------------------
// Safe access. The disassembler may be handed an unverified Program (the compiler prints its own
// output before anyone verified it), so every cross-reference is range-checked and degrades to
// "?" instead of reading out of bounds.

template <class V>
std::size_t sizeOf(const V* vector) {
    return vector ? vector->size() : 0;
}

const Tensor* tensorAt(const Program& program, std::uint64_t index) {
    if (index >= sizeOf(program.tensors()))
        return nullptr;
    return program.tensors()->Get(static_cast<flatbuffers::uoffset_t>(index));
}

const Kernel* kernelAt(const Program& program, std::uint64_t index) {
    if (index >= sizeOf(program.kernels()))
        return nullptr;
    return program.kernels()->Get(static_cast<flatbuffers::uoffset_t>(index));
}

// Program.graph is optional: absent reads as no nodes.
const GraphNode* graphNodeAt(const Program& program, std::uint64_t index) {
    if (index >= sizeOf(program.graph()))
        return nullptr;
    return program.graph()->Get(static_cast<flatbuffers::uoffset_t>(index));
}

// Dependencies of op `op` from the CSR arrays; nullopt when the CSR data is malformed.
std::optional<std::vector<std::uint32_t>> depsOf(const Program& program, std::size_t op) {
    const auto* offsets = program.dep_offsets();
    const auto* indices = program.dep_indices();
    if (op + 1 >= sizeOf(offsets) || !indices)
        return std::nullopt;
    const std::uint32_t begin = offsets->Get(static_cast<flatbuffers::uoffset_t>(op));
    const std::uint32_t end = offsets->Get(static_cast<flatbuffers::uoffset_t>(op + 1));
    if (begin > end || end > indices->size())
        return std::nullopt;
    return std::vector<std::uint32_t>(indices->begin() + begin, indices->begin() + end);
}

// Bytes of a tensor; nullopt for a negative dimension or a size that overflows 64 bits.
std::optional<std::uint64_t> tensorBytes(const Tensor& tensor) {
    std::uint64_t bytes = dtypeSize(fromDType(tensor.dtype()));
    if (bytes == 0)
        return std::nullopt;
    if (const auto* shape = tensor.shape()) {
        for (std::int64_t dim : *shape) {
            if (dim < 0 || __builtin_mul_overflow(bytes, static_cast<std::uint64_t>(dim), &bytes))
                return std::nullopt;
        }
    }
    return bytes;
}

// The program in op order (expanded numbering): stored ops, and the generated ops of each
// TileLoops kernel as one segment. An object without TileLoops kernels is its stored ops.
struct Segment {
    std::uint64_t first = 0; // op index in the program
    std::uint64_t count = 1;
    bool generated = false; // the ops of TileLoops kernel `index`, else stored op `index`
    std::uint32_t index = 0;
    std::optional<TileLoopCounts> counts; // generated: nullopt when the record is malformed
};

struct Layout {
    std::uint64_t ops = 0;
    std::optional<std::uint64_t> deps; // nullopt when a TileLoops record is malformed
    std::vector<Segment> generated;    // in op order
    bool tileLoops() const { return !generated.empty(); }
};

// Places stored ops in the positions the generated segments leave free: calls
// `stored(position, index)` for stored ops from position `from` on while it returns true, and
// `generated(segment)` for each segment; returns the number of ops.
template <class Stored, class Generated>
std::uint64_t walkProgram(const Program& program, const std::vector<Segment>& generated,
                          std::uint64_t from, Stored&& stored, Generated&& generatedVisit) {
    const std::uint64_t storedCount = sizeOf(program.ops());
    std::uint64_t at = 0, next = 0;
    bool more = true;
    auto fill = [&](std::uint64_t until) {
        const std::uint64_t n = until > at ? std::min(until - at, storedCount - next) : 0;
        for (std::uint64_t i = std::max(from, at) - at; more && i < n; ++i)
            more = stored(at + i, static_cast<std::uint32_t>(next + i));
        at += n;
        next += n;
    };
    for (const Segment& segment : generated) {
        fill(segment.first);
        generatedVisit(segment);
        at = segment.first + segment.count;
    }
    fill(UINT64_MAX);
    return at;
}

// Unverified programs degrade: a malformed record keeps its op_count and shows "?" counts; a
// kernel whose range overlaps an earlier TileLoops kernel's is left out.
Layout programLayout(const Program& program) {
    Layout layout;
    std::uint64_t end = 0, deps = sizeOf(program.dep_indices());
    bool depsKnown = true;
    for (std::uint32_t k = 0; k < sizeOf(program.kernels()); ++k) {
        const Kernel& kernel = *kernelAt(program, k);
        if (kernel.ops_encoding() != OpsEncoding::TileLoops || kernel.first_op() < end)
            continue;
        Segment segment{.first = kernel.first_op(),
                        .count = kernel.op_count(),
                        .generated = true,
                        .index = k,
                        .counts = std::nullopt};
        if (auto loops = decodeTileLoops(program, k))
            if (auto counts = countTileLoops(*loops))
                segment.counts = *counts;
        depsKnown = depsKnown && segment.counts;
        deps += segment.counts ? segment.counts->deps : 0;
        end = segment.first + segment.count;
        layout.generated.push_back(segment);
    }
    layout.deps = depsKnown ? std::optional(deps) : std::nullopt;
    layout.ops = walkProgram(
        program, layout.generated, UINT64_MAX, [](std::uint64_t, std::uint32_t) { return false; },
        [](const Segment&) {});
    return layout;
}

// Compute ops a TileLoops kernel generates: its tiles (MatMul: output tiles x K steps).
std::uint64_t computeSteps(const TileLoops& loops) {
    std::uint64_t steps = 1;
    for (std::size_t d = 0; d < 4; ++d)
        steps *= (std::uint64_t{loops.shape.iteration[d]} + loops.tile[d] - 1) / loops.tile[d];
    return steps;
}

// The ops shown: [first, end), clamped to the program.
struct OpRange {
    std::size_t first = 0;
    std::size_t end = 0;
    bool limited = false; // true when some ops are not shown
};

OpRange shownOps(const Layout& layout, const DisasmOptions& options) {
    const std::size_t total = layout.ops;
    OpRange range;
    range.first = static_cast<std::size_t>(std::min<std::uint64_t>(options.opsFirst, total));
    const std::uint64_t room = total - range.first;
    range.end = range.first + static_cast<std::size_t>(
                                  options.opsLimit ? std::min(*options.opsLimit, room) : room);
    range.limited = range.first != 0 || range.end != total;
    return range;
}

// ---------------------------------------------------------------------------------------------
// Enum spellings not provided by object.h.

std::string_view opKindName(OpKind kind) {
    switch (kind) {
    case OpKind::DataMove:
        return "data-move";
    case OpKind::Compute:
        return "compute";
    case OpKind::Barrier:
        return "barrier";
    case OpKind::Reserve:
        return "reserve";
    }
    return "?";
}

std::string_view opsEncodingName(OpsEncoding encoding) {
    switch (encoding) {
    case OpsEncoding::Explicit:
        return "explicit";
    case OpsEncoding::TileLoops:
        return "tile-loops";
    }
    return "?";
}

// JSON uses lower-case enum spellings throughout; text keeps the familiar "EXT", "L3", ...
std::string_view jsonLevelName(MemoryLevel level) {
    switch (level) {
    case MemoryLevel::External:
        return "external";
    case MemoryLevel::L3:
        return "l3";
    case MemoryLevel::L2:
        return "l2";
    case MemoryLevel::L1:
        return "l1";
    }
    return "?";
}

std::string_view dtypeText(DType type) {
    return dtypeName(fromDType(type));
}

// Iteration dimension names of a kernel: long ("batch") for the iteration line, short ("b")
// for loop orders and compute regions. MatMul iterates [batch, M, N, K], Im2Col [N, OH, OW, 1];
// every other kind (and a kernel the reference does not resolve) iterates the output's 4-D view,
// named d0..d3, as are dimensions past the fourth.
std::string iterationDimName(const Kernel* kernel, std::size_t dim, bool shortName) {
    static constexpr std::array<std::string_view, 4> kMatMulLong{"batch", "M", "N", "K"};
    static constexpr std::array<std::string_view, 4> kMatMulShort{"b", "m", "n", "k"};
    static constexpr std::array<std::string_view, 4> kIm2ColLong{"N", "OH", "OW", "d3"};
    static constexpr std::array<std::string_view, 4> kIm2ColShort{"n", "oh", "ow", "d3"};
    if (kernel && dim < 4) {
        if (kernel->kind() == KernelKind::MatMul)
            return std::string(shortName ? kMatMulShort[dim] : kMatMulLong[dim]);
        if (kernel->kind() == KernelKind::Im2Col)
            return std::string(shortName ? kIm2ColShort[dim] : kIm2ColLong[dim]);
    }
    return fmt::format("d{}", dim);
}

std::string_view activationText(Activation activation) {
    return activationName(static_cast<kpu::Activation>(activation));
}

// ---------------------------------------------------------------------------------------------
// Text building blocks.

// A name printed bare when that is unambiguous, else double-quoted with escapes.
std::string displayName(std::string_view name) {
    const bool bare = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u > 0x20 && u != 0x7f && c != '"' && c != '\\' && c != ',' && c != '[' && c != ']';
    });
    if (bare)
        return std::string(name);
    std::string quoted = "\"";
    for (char c : name) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\')
            quoted += fmt::format("\\{}", c);
        else if (u < 0x20 || u == 0x7f)
            quoted += fmt::format("\\x{:02x}", u);
        else
            quoted += c;
    }
    return quoted + "\"";
}

std::string displayName(const flatbuffers::String* name) {
    return name ? displayName(name->string_view()) : std::string("-");
}

// Always quoted: header strings read better as literals ("producer", "file").
std::string quotedOrDash(const flatbuffers::String* text) {
    if (!text)
        return "-";
    std::string shown = displayName(text->string_view());
    return shown.starts_with('"') ? shown : "\"" + shown + "\"";
}

std::string tensorRef(const Program& program, std::uint64_t index) {
    const Tensor* tensor = tensorAt(program, index);
    return fmt::format("#{} {}", index, tensor ? displayName(tensor->name()) : "?");
}

std::string kernelRef(const Program& program, std::uint64_t index) {
    const Kernel* kernel = kernelAt(program, index);
    return fmt::format("k{} {}", index, kernel ? displayName(kernel->name()) : "?");
}

std::string shapeText(const flatbuffers::Vector<std::int64_t>* shape) {
    if (sizeOf(shape) == 0)
        return "scalar";
    return fmt::format("{}", fmt::join(*shape, "x"));
}

// "o" for extent 1, else "o:end" with a half-open end.
std::string dimRangeText(std::uint32_t origin, std::uint32_t extent) {
    if (extent == 1)
        return fmt::format("{}", origin);
    return fmt::format("{}:{}", origin, std::uint64_t{origin} + extent);
}

std::string tensorRegionText(const Region& region) {
    std::vector<std::string> dims;
    for (flatbuffers::uoffset_t d = 0; d < 4; ++d)
        dims.push_back(dimRangeText(region.origin()->Get(d), region.extent()->Get(d)));
    return fmt::format("[{}]", fmt::join(dims, ","));
}

std::string iterationRegionText(const Region& region, const Kernel* kernel) {
    std::vector<std::string> dims;
    for (flatbuffers::uoffset_t d = 0; d < 4; ++d)
        dims.push_back(iterationDimName(kernel, d, true) + "=" +
                       dimRangeText(region.origin()->Get(d), region.extent()->Get(d)));
    return fmt::format("{}", fmt::join(dims, " "));
}

// "1,3,5-9": runs of three or more consecutive ops collapse, so a barrier over a whole kernel
// stays one short line.
std::string depListText(const std::vector<std::uint32_t>& deps) {
    if (deps.empty())
        return "-";
    std::vector<std::string> parts;
    for (std::size_t i = 0; i < deps.size();) {
        std::size_t j = i;
        while (j + 1 < deps.size() && deps[j + 1] == deps[j] + 1)
            ++j;
        if (j - i >= 2) {
            parts.push_back(fmt::format("{}-{}", deps[i], deps[j]));
        } else {
            for (std::size_t k = i; k <= j; ++k)
                parts.push_back(fmt::format("{}", deps[k]));
        }
        i = j + 1;
    }
    return fmt::format("{}", fmt::join(parts, ","));
}

std::string depsCell(const Program& program, std::size_t op) {
    const auto deps = depsOf(program, op);
    return "deps " + (deps ? depListText(*deps) : std::string("?"));
}

// A double in its shortest round-trip form: "6", "0.5", "1e-05", "-inf", "nan".
std::string numberText(double value) {
    return fmt::format("{}", value);
}

template <class T>
std::string listText(const flatbuffers::Vector<T>* values) {
    if (sizeOf(values) == 0)
        return "-";
    std::vector<std::string> items;
    for (auto v : *values)
        items.push_back(fmt::format("{}", +v)); // + prints a ubyte as a number
    return fmt::format("{}", fmt::join(items, ","));
}

// "3x3 stride 2x2 dilation 1x1 pad 0,1,0,1" for the 10-entry window; anything else raw.
std::string windowText(const flatbuffers::Vector<std::uint32_t>* window) {
    if (sizeOf(window) != 10)
        return fmt::format("[{}]", sizeOf(window) == 0 ? std::string() : listText(window));
    const auto w = [&](flatbuffers::uoffset_t i) { return window->Get(i); };
    return fmt::format("{}x{} stride {}x{} dilation {}x{} pad {},{},{},{}", w(0), w(1), w(2), w(3),
                       w(4), w(5), w(6), w(7), w(8), w(9));
}

// The parameters worth printing, in a fixed order (disasm.h lists the rules): those that
// differ from the schema defaults, and those that define the kind even at their default.
std::vector<std::string> paramItems(KernelKind kind, const KernelParams& params) {
    const Operator op = toOperator(kind);
    const bool axisKind = op == Operator::Concat || isReduction(op) || op == Operator::Softmax ||
                          op == Operator::LayerNorm;
    const bool windowKind = op == Operator::MaxPool2D || op == Operator::AvgPool2D ||
                            op == Operator::DepthwiseConv2D || op == Operator::Im2Col ||
                            op == Operator::Conv2D;
    std::vector<std::string> items;
    if (params.transpose_b())
        items.push_back("transpose_b");
    if (params.bias_input() != -1)
        items.push_back(fmt::format("bias=input {}", params.bias_input()));
    const bool clampActivation = params.activation() == Activation::Clamp;
    if (clampActivation)
        items.push_back(fmt::format("activation=clamp[{},{}]", numberText(params.min()),
                                    numberText(params.max())));
    else if (params.activation() != Activation::None)
        items.push_back(fmt::format("activation={}", activationText(params.activation())));
    if (axisKind || params.axis() != -1)
        items.push_back(fmt::format("axis {}", params.axis()));
    if (op == Operator::Transpose || sizeOf(params.perm()) != 0)
        items.push_back("perm " + listText(params.perm()));
    if (windowKind || sizeOf(params.window()) != 0)
        items.push_back("window " + windowText(params.window()));
    if (op == Operator::Pad || sizeOf(params.padding()) != 0)
        items.push_back("padding " + listText(params.padding()));
    if (!clampActivation) {
        // min and max travel together: a clamp reads both.
        if (op == Operator::Clamp || params.min() != 0 || params.max() != 0)
            items.push_back(
                fmt::format("min {} max {}", numberText(params.min()), numberText(params.max())));
    }
    if (params.epsilon() != 1e-5)
        items.push_back("epsilon " + numberText(params.epsilon()));
    if (params.pad_value() != 0)
        items.push_back("pad_value " + numberText(params.pad_value()));
    return items;
}

// An empty KernelParams table: every field reads as its schema default.
const KernelParams& defaultParams() {
    static const std::vector<std::uint8_t> bytes = [] {
        flatbuffers::FlatBufferBuilder builder;
        builder.Finish(CreateKernelParams(builder));
        return std::vector<std::uint8_t>(builder.GetBufferPointer(),
                                         builder.GetBufferPointer() + builder.GetSize());
    }();
    return *flatbuffers::GetRoot<KernelParams>(bytes.data());
}

// "params: transpose_b bias=input 2", or empty when nothing is worth printing. An absent table
// reads as the defaults, so a kind whose parameters define it still shows them.
std::string paramsText(KernelKind kind, const KernelParams* params) {
    const std::vector<std::string> items = paramItems(kind, params ? *params : defaultParams());
    if (items.empty())
        return "";
    return fmt::format("params: {}", fmt::join(items, " "));
}

// Rows of cells printed with every column padded to its widest cell, so sections line up
// without fixed widths that long names would break. A column empty in every row (e.g. no op
// has flags) is dropped rather than printed as a gap.
class Table {
public:
    void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }

    void render(std::string& out, std::string_view indent) const {
        std::vector<std::size_t> widths;
        for (const auto& row : rows_) {
            widths.resize(std::max(widths.size(), row.size()), 0);
            for (std::size_t c = 0; c < row.size(); ++c)
                widths[c] = std::max(widths[c], row[c].size());
        }
        for (const auto& row : rows_) {
            std::string line(indent);
            for (std::size_t c = 0; c < row.size(); ++c) {
                if (widths[c] == 0)
                    continue;
                line += row[c];
                line += std::string(widths[c] - row[c].size() + 2, ' ');
            }
            line.erase(line.find_last_not_of(' ') + 1);
            out += line + "\n";
        }
    }

private:
    std::vector<std::vector<std::string>> rows_;
};

std::string plural(std::uint64_t count, std::string_view noun) {
    return fmt::format("{} {}{}", count, noun, count == 1 ? "" : "s");
}

// ---------------------------------------------------------------------------------------------
// Text sections.

void appendHeaderText(std::string& out, const Program& program, const DisasmOptions& options) {
    out += fmt::format("; KPU object  format {}.{}  producer {}\n", program.format_major(),
                       program.format_minor(), quotedOrDash(program.producer()));
    out += fmt::format("; source graph {}  file {}", quotedOrDash(program.source_graph()),
                       quotedOrDash(program.source_file()));
    if (options.fileSize)
        out += fmt::format("  size {} bytes", *options.fileSize);
    out += "\n";
    const Layout layout = programLayout(program);
    out += fmt::format("; {}  {}  {}{}  {}  {}\n", plural(sizeOf(program.tensors()), "tensor"),
                       plural(sizeOf(program.kernels()), "kernel"), plural(layout.ops, "op"),
                       layout.tileLoops() ? fmt::format(" ({} stored)", sizeOf(program.ops())) : "",
                       layout.deps ? plural(*layout.deps, "dep") : std::string("? deps"),
                       plural(sizeOf(program.graph()), "graph node"));
}

// The first values of a static input, for people ("[2, 3, -1]", "[1, 2, 3, ... 64 values]").
std::string staticValuesText(const StaticInput& input) {
    const DType dtype = input.dtype() <= DType::MAX ? input.dtype() : DType::F32;
    const std::size_t size = dtypeSize(fromDType(dtype));
    const std::size_t count = input.data() ? input.data()->size() / size : 0;
    std::vector<double> values(std::min<std::size_t>(count, 8));
    if (!values.empty())
        convertToF64(fromDType(dtype), input.data()->data(), values.data(), values.size());
    return fmt::format("[{}{}]", fmt::join(values, ", "),
                       count > values.size() ? fmt::format(", ... {} values", count) : "");
}

std::string tensorList(const Program& program, const flatbuffers::Vector<std::uint32_t>* list) {
    std::vector<std::string> refs;
    for (flatbuffers::uoffset_t i = 0; i < sizeOf(list); ++i)
        refs.push_back(tensorRef(program, list->Get(i)));
    return fmt::format("[{}]", fmt::join(refs, ", "));
}

// The source graph's inputs and outputs in order, and the inputs fixed at compile time
// (format 4.0; nothing for older objects).
void appendSignatureText(std::string& out, const Program& program) {
    if (program.graph_inputs() || program.graph_outputs())
        out += fmt::format("  graph inputs {}  outputs {}\n",
                           tensorList(program, program.graph_inputs()),
                           tensorList(program, program.graph_outputs()));
    if (sizeOf(program.static_inputs()) == 0)
        return;
    out += fmt::format("static inputs ({}):\n", sizeOf(program.static_inputs()));
    Table table;
    for (const StaticInput* input : *program.static_inputs())
        table.add({fmt::format("@{}", input->position()), displayName(input->name()),
                   shapeText(input->shape()), std::string(dtypeText(input->dtype())),
                   staticValuesText(*input)});
    table.render(out, "  ");
}

void appendTensorsText(std::string& out, const Program& program) {
    out += fmt::format("tensors ({}):\n", sizeOf(program.tensors()));
    Table table;
    for (std::size_t i = 0; i < sizeOf(program.tensors()); ++i) {
        const Tensor& tensor = *tensorAt(program, i);
        const auto bytes = tensorBytes(tensor);
        const std::string source = tensor.source_node() < 0
                                       ? std::string("src-node -")
                                       : fmt::format("src-node {}", tensor.source_node());
        // A negative alias_of is the schema's "owns its storage"; a bad index prints as "?".
        const std::string alias =
            tensor.alias_of() >= 0
                ? "alias of " + tensorRef(program, static_cast<std::uint64_t>(tensor.alias_of()))
            : tensor.data() ? std::string("values stored")
                            : std::string();
        table.add({fmt::format("#{}", i), displayName(tensor.name()), shapeText(tensor.shape()),
                   std::string(dtypeText(tensor.dtype())),
                   std::string(tensorRoleName(tensor.role())), source,
                   bytes ? fmt::format("{} B", *bytes) : std::string("? B"), alias});
    }
    table.render(out, "  ");
    appendSignatureText(out, program);
}

std::string kernelInputsText(const Program& program, const Kernel& kernel) {
    const std::uint64_t batch =
        sizeOf(kernel.iteration_space()) > 0 ? kernel.iteration_space()->Get(0) : 1;
    std::vector<std::string> inputs;
    for (flatbuffers::uoffset_t i = 0; i < sizeOf(kernel.inputs()); ++i) {
        std::string ref = tensorRef(program, kernel.inputs()->Get(i));
        // Broadcast only means something when there is more than one batch element.
        const bool broadcast =
            batch > 1 && i < sizeOf(kernel.input_batched()) && kernel.input_batched()->Get(i) == 0;
        inputs.push_back(broadcast ? ref + " (broadcast)" : ref);
    }
    return fmt::format("[{}]", fmt::join(inputs, ", "));
}

std::string iterationText(const Kernel& kernel) {
    std::vector<std::string> dims;
    for (flatbuffers::uoffset_t d = 0; d < sizeOf(kernel.iteration_space()); ++d)
        dims.push_back(fmt::format("{} {}", iterationDimName(&kernel, d, false),
                                   kernel.iteration_space()->Get(d)));
    return fmt::format("[{}]", fmt::join(dims, ", "));
}

std::string loopOrderText(const Kernel& kernel) {
    if (sizeOf(kernel.loop_order()) == 0)
        return "-";
    std::vector<std::string> dims;
    for (std::uint8_t d : *kernel.loop_order())
        dims.push_back(iterationDimName(&kernel, d, true));
    return fmt::format("{}", fmt::join(dims, ","));
}

std::string tilingsText(const Kernel& kernel) {
    if (sizeOf(kernel.tilings()) == 0)
        return "-";
    std::vector<std::string> levels;
    for (const LevelTiling* tiling : *kernel.tilings()) {
        const std::string tile =
            tiling->tile() ? fmt::format("{}", fmt::join(*tiling->tile(), ", ")) : "";
        levels.push_back(fmt::format("{} [{}]", memoryLevelName(tiling->level()), tile));
    }
    return fmt::format("{}", fmt::join(levels, "  "));
}

std::string kernelOpsText(const Kernel& kernel) {
    if (kernel.op_count() == 0)
        return "ops none";
    return fmt::format("ops {}..{} ({})", kernel.first_op(),
                       std::uint64_t{kernel.first_op()} + kernel.op_count() - 1, kernel.op_count());
}

// A TileLoops kernel's record beyond the 2.x fields, and what it expands to:
// "tile-loops  load from [EXT, L3]  ready after [-, 69]  store to L3  4 compute steps  22 ops
// 25 deps". A record the generator cannot read prints its error.
std::string tileLoopsText(const Program& program, std::uint32_t index) {
    const Kernel& kernel = *kernelAt(program, index);
    if (kernel.ops_encoding() != OpsEncoding::TileLoops)
        return fmt::format("ops-encoding {}", static_cast<unsigned>(kernel.ops_encoding()));
    auto loops = decodeTileLoops(program, index);
    if (!loops)
        return "tile-loops  ? (" + loops.error().message + ")";
    std::vector<std::string> levels, ready;
    for (std::size_t i = 0; i < loops->inputs.size(); ++i) {
        levels.emplace_back(memoryLevelName(loops->inputLevels[i]));
        ready.push_back(loops->inputReady[i] < 0 ? "-" : fmt::format("{}", loops->inputReady[i]));
    }
    const auto counts = countTileLoops(*loops);
    return fmt::format("tile-loops  load from [{}]  ready after [{}]  store to {}  {}  {}",
                       fmt::join(levels, ", "), fmt::join(ready, ", "),
                       memoryLevelName(loops->outputLevel),
                       plural(computeSteps(*loops), "compute step"),
                       counts ? plural(counts->deps, "dep") : std::string("? deps"));
}

void appendKernelsText(std::string& out, const Program& program) {
    out += fmt::format("kernels ({}):\n", sizeOf(program.kernels()));
    for (std::size_t i = 0; i < sizeOf(program.kernels()); ++i) {
        const Kernel& kernel = *kernelAt(program, i);
        const std::string label = fmt::format("k{}", i);
        const std::string continuation(2 + label.size() + 2, ' ');
        out += fmt::format("  {}  {}  {}  node {}  inputs {}  output {}\n", label,
                           displayName(kernel.name()), kernelKindName(kernel.kind()),
                           kernel.source_node(), kernelInputsText(program, kernel),
                           tensorRef(program, kernel.output()));
        if (const std::string params = paramsText(kernel.kind(), kernel.params()); !params.empty())
            out += continuation + params + "\n";
        out += fmt::format("{}iteration {}  dataflow {}  loop-order {}\n", continuation,
                           iterationText(kernel), dataflowName(kernel.dataflow()),
                           loopOrderText(kernel));
        out += fmt::format("{}tiling {}  {}\n", continuation, tilingsText(kernel),
                           kernelOpsText(kernel));
        if (kernel.ops_encoding() != OpsEncoding::Explicit)
            out += continuation + tileLoopsText(program, static_cast<std::uint32_t>(i)) + "\n";
    }
}

// The source graph's nodes, one row each: index, kind, name, node id, operands -> result,
// params. Tensor references are range-checked like every other.
void appendGraphText(std::string& out, const Program& program) {
    out += fmt::format("graph ({}):\n", plural(sizeOf(program.graph()), "node"));
    Table table;
    for (std::size_t i = 0; i < sizeOf(program.graph()); ++i) {
        const GraphNode& node = *graphNodeAt(program, i);
        std::vector<std::string> inputs;
        for (flatbuffers::uoffset_t j = 0; j < sizeOf(node.inputs()); ++j)
            inputs.push_back(tensorRef(program, node.inputs()->Get(j)));
        table.add(
            {fmt::format("g{}", i), std::string(kernelKindName(node.kind())),
             displayName(node.name()),
             node.source_node() < 0 ? std::string("node -")
                                    : fmt::format("node {}", node.source_node()),
             fmt::format("[{}] -> {}", fmt::join(inputs, ", "), tensorRef(program, node.output())),
             paramsText(node.kind(), node.params())});
    }
    table.render(out, "  ");
}

// Compute flags: bit 0 is accumulate, bit 1 the epilogue; any other bit is unknown to this
// reader and shown raw.
std::string computeFlagsText(std::uint32_t flags) {
    std::vector<std::string> parts;
    if (flags & kAccumulateFlag)
        parts.emplace_back("acc");
    if (flags & kEpilogueFlag)
        parts.emplace_back("epilogue");
    if (const std::uint32_t other = flags & ~kKnownComputeFlags)
        parts.push_back(fmt::format("flags {:#x}", other));
    return fmt::format("{}", fmt::join(parts, " "));
}

// Flags of ops that define none: printed raw, and only when set.
std::string rawFlagsText(std::uint32_t flags) {
    return flags ? fmt::format("flags {:#x}", flags) : std::string();
}

std::vector<std::string> opRow(const Program& program, std::size_t index, bool withDeps) {
    const Op& op = *program.ops()->Get(static_cast<flatbuffers::uoffset_t>(index));
    std::vector<std::string> row{fmt::format("{}", index)};
    switch (op.kind()) {
    case OpKind::DataMove:
        row.insert(row.end(), {std::string(moveKindName(op.move_kind())),
                               fmt::format("{} -> {}", memoryLevelName(op.src_level()),
                                           memoryLevelName(op.dst_level())),
                               tensorRef(program, op.index()), tensorRegionText(op.region()),
                               rawFlagsText(op.flags())});
        break;
    case OpKind::Compute:
        row.insert(row.end(), {"compute", std::string(memoryLevelName(op.dst_level())),
                               kernelRef(program, op.index()),
                               iterationRegionText(op.region(), kernelAt(program, op.index())),
                               computeFlagsText(op.flags())});
        break;
    case OpKind::Barrier:
        row.insert(row.end(), {"barrier", "", "", "", rawFlagsText(op.flags())});
        break;
    case OpKind::Reserve:
        row.insert(row.end(), {"reserve", std::string(memoryLevelName(op.dst_level())),
                               tensorRef(program, op.index()), tensorRegionText(op.region()),
                               rawFlagsText(op.flags())});
        break;
    default:
        row.insert(row.end(),
                   {fmt::format("kind?{}", static_cast<unsigned>(op.kind())), "", "", "", ""});
        break;
    }
    if (withDeps)
        row.push_back(depsCell(program, index));
    return row;
}

void appendMoreOpsNote(std::string& out, const Layout& layout, const OpRange& range) {
    if (!range.limited)
        return;
    out += fmt::format("  ... showing ops {}..{} of {}\n", range.first,
                       range.end == range.first ? range.first : range.end - 1, layout.ops);
}

// The stored ops and generated segments with an op in the range shown, in op order.
template <class Visit>
void forShownSegments(const Program& program, const Layout& layout, const OpRange& range,
                      Visit&& visit) {
    walkProgram(
        program, layout.generated, range.first,
        [&](std::uint64_t at, std::uint32_t index) {
            if (at >= range.end)
                return false;
            visit(
                Segment{.first = at, .count = 1, .generated = false, .index = index, .counts = {}});
            return true;
        },
        [&](const Segment& segment) {
            if (segment.first < range.end && segment.first + segment.count > range.first)
                visit(segment);
        });
}

std::string segmentRange(const Segment& segment) {
    return fmt::format("{}..{}", segment.first, segment.first + segment.count - 1);
}

std::string generatedDepsText(const Segment& segment) {
    return segment.counts ? plural(segment.counts->deps, "dep") : std::string("? deps");
}

// A TileLoops kernel's ops, folded into one row ("kpu-disasm --expand" lists them).
std::vector<std::string> generatedRow(const Program& program, const Segment& segment,
                                      bool withDeps) {
    std::vector<std::string> row{segmentRange(segment),
                                 "tile-loops",
                                 "",
                                 kernelRef(program, segment.index),
                                 plural(segment.count, "op"),
                                 ""};
    if (withDeps)
        row.push_back(generatedDepsText(segment));
    return row;
}

void appendOpsText(std::string& out, const Program& program, const DisasmOptions& options) {
    const Layout layout = programLayout(program);
    const OpRange range = shownOps(layout, options);
    out += fmt::format("ops ({}):\n", layout.ops);
    Table table;
    const bool withDeps = options.has(DisasmSection::Deps);
    forShownSegments(program, layout, range, [&](const Segment& segment) {
        if (segment.generated) {
            table.add(generatedRow(program, segment, withDeps));
            return;
        }
        auto row = opRow(program, segment.index, withDeps);
        row[0] = fmt::format("{}", segment.first);
        table.add(std::move(row));
    });
    table.render(out, "  ");
    appendMoreOpsNote(out, layout, range);
}

// Dependencies alone (ops section off): only ops that have any, as "op <- deps".
void appendDepsText(std::string& out, const Program& program, const DisasmOptions& options) {
    const Layout layout = programLayout(program);
    const OpRange range = shownOps(layout, options);
    out += fmt::format("deps ({}):\n", layout.deps ? fmt::format("{}", *layout.deps) : "?");
    Table table;
    forShownSegments(program, layout, range, [&](const Segment& segment) {
        if (segment.generated) {
            table.add({segmentRange(segment), "<-", "tile-loops: " + generatedDepsText(segment)});
            return;
        }
        const auto deps = depsOf(program, segment.index);
        if (deps && deps->empty())
            return;
        table.add({fmt::format("{}", segment.first), "<-", deps ? depListText(*deps) : "?"});
    });
    table.render(out, "  ");
    appendMoreOpsNote(out, layout, range);
}

void appendHintsText(std::string& out, const Program& program) {
    const Hints* hints = program.hints();
    if (!hints) {
        out += "hints: none\n";
        return;
    }
    out += "hints:\n";
    Table table;
    table.add({"external-bytes", fmt::format("{}", hints->external_bytes())});
    table.add({"compute-cycles", fmt::format("{}", hints->compute_cycles())});
    table.add({"macs", fmt::format("{}", hints->macs())});
    table.add({"parallelism", fmt::format("{}", hints->parallelism())});
    table.add({"target", fmt::format("{}  array {}x{}", quotedOrDash(hints->target_config()),
                                     hints->array_rows(), hints->array_cols())});
    table.render(out, "  ");
}

// ---------------------------------------------------------------------------------------------
// JSON. ordered_json keeps keys in insertion order, so the output is stable and reads top-down.

using Json = nlohmann::ordered_json;

Json jsonString(const flatbuffers::String* text) {
    return text ? Json(text->str()) : Json(nullptr);
}

// Works for flatbuffers::Vector and for the fixed-size arrays inside Region.
template <class V>
Json jsonArray(const V* vector) {
    Json array = Json::array();
    if (vector) {
        for (auto value : *vector)
            array.push_back(value);
    }
    return array;
}

Json jsonRegion(const Region& region) {
    return Json{{"origin", jsonArray(region.origin())}, {"extent", jsonArray(region.extent())}};
}

Json jsonTensor(const Tensor& tensor, std::size_t index) {
    const auto bytes = tensorBytes(tensor);
    return Json{{"index", index},
                {"name", jsonString(tensor.name())},
                {"shape", jsonArray(tensor.shape())},
                {"dtype", dtypeText(tensor.dtype())},
                {"role", tensorRoleName(tensor.role())},
                {"source_node", tensor.source_node()},
                {"bytes", bytes ? Json(*bytes) : Json(nullptr)},
                {"alias_of", tensor.alias_of()},
                {"values_stored", tensor.data() != nullptr}};
}

Json jsonNumber(double value);

Json jsonStaticInput(const StaticInput& input) {
    const DType dtype = input.dtype() <= DType::MAX ? input.dtype() : DType::F32;
    const std::size_t size = dtypeSize(fromDType(dtype));
    std::vector<double> values(input.data() ? input.data()->size() / size : 0);
    if (!values.empty())
        convertToF64(fromDType(dtype), input.data()->data(), values.data(), values.size());
    Json list = Json::array();
    for (double v : values)
        list.push_back(jsonNumber(v));
    return Json{{"name", jsonString(input.name())},
                {"position", input.position()},
                {"shape", jsonArray(input.shape())},
                {"dtype", dtypeText(input.dtype())},
                {"values", std::move(list)}};
}

// JSON has no infinities or NaN (nlohmann would print null): those become strings.
Json jsonNumber(double value) {
    if (std::isnan(value))
        return "nan";
    if (std::isinf(value))
        return value > 0 ? "inf" : "-inf";
    return value;
}

// Every field, so the JSON carries the object faithfully; null when the table is absent.
Json jsonParams(const KernelParams* params) {
    if (!params)
        return nullptr;
    return Json{{"axis", params->axis()},
                {"perm", jsonArray(params->perm())},
                {"window", jsonArray(params->window())},
                {"padding", jsonArray(params->padding())},
                {"min", jsonNumber(params->min())},
                {"max", jsonNumber(params->max())},
                {"epsilon", jsonNumber(params->epsilon())},
                {"pad_value", jsonNumber(params->pad_value())},
                {"transpose_b", params->transpose_b()},
                {"bias_input", params->bias_input()},
                {"activation", activationText(params->activation())}};
}

Json jsonGraphNode(const Program& program, std::size_t index) {
    const GraphNode& node = *graphNodeAt(program, index);
    return Json{{"index", index},
                {"kind", kernelKindName(node.kind())},
                {"name", jsonString(node.name())},
                {"source_node", node.source_node()},
                {"inputs", jsonArray(node.inputs())},
                {"output", node.output()},
                {"params", jsonParams(node.params())}};
}

Json jsonKernel(const Kernel& kernel, std::size_t index) {
    Json inputLevels = Json::array();
    for (std::size_t i = 0; i < sizeOf(kernel.input_levels()); ++i)
        inputLevels.push_back(
            jsonLevelName(kernel.input_levels()->Get(static_cast<flatbuffers::uoffset_t>(i))));
    Json tilings = Json::array();
    if (kernel.tilings()) {
        for (const LevelTiling* tiling : *kernel.tilings())
            tilings.push_back(Json{{"level", jsonLevelName(tiling->level())},
                                   {"tile", jsonArray(tiling->tile())}});
    }
    return Json{{"index", index},
                {"name", jsonString(kernel.name())},
                {"source_node", kernel.source_node()},
                {"kind", kernelKindName(kernel.kind())},
                {"inputs", jsonArray(kernel.inputs())},
                {"output", kernel.output()},
                {"iteration_space", jsonArray(kernel.iteration_space())},
                {"input_batched", jsonArray(kernel.input_batched())},
                {"tilings", std::move(tilings)},
                {"dataflow", dataflowName(kernel.dataflow())},
                {"loop_order", jsonArray(kernel.loop_order())},
                {"first_op", kernel.first_op()},
                {"op_count", kernel.op_count()},
                {"params", jsonParams(kernel.params())},
                {"ops_encoding", opsEncodingName(kernel.ops_encoding())},
                {"input_levels", std::move(inputLevels)},
                {"input_ready", jsonArray(kernel.input_ready())},
                {"output_level", jsonLevelName(kernel.output_level())}};
}

Json jsonDeps(const Program& program, std::size_t index) {
    const auto deps = depsOf(program, index);
    return deps ? Json(*deps) : Json(nullptr);
}

// Every field of the Op struct, under the name its meaning has for the op's kind: the index is
// "tensor" for a data move or a reserve and "kernel" for a compute op (a barrier's is always 0);
// move_kind is only meaningful for data moves. Levels and region are printed for every kind because
// the compiler fills them in for all, and the JSON must carry the object faithfully.
Json jsonOp(const Program& program, std::size_t index, bool withDeps) {
    const Op& op = *program.ops()->Get(static_cast<flatbuffers::uoffset_t>(index));
    Json json{{"index", index}, {"kind", opKindName(op.kind())}};
    if (op.kind() == OpKind::DataMove)
        json["move"] = moveKindName(op.move_kind());
    json["src"] = jsonLevelName(op.src_level());
    json["dst"] = jsonLevelName(op.dst_level());
    json["flags"] = op.flags();
    if (op.kind() == OpKind::DataMove || op.kind() == OpKind::Reserve)
        json["tensor"] = op.index();
    if (op.kind() == OpKind::Compute) {
        json["kernel"] = op.index();
        json["accumulate"] = (op.flags() & kAccumulateFlag) != 0;
        json["epilogue"] = (op.flags() & kEpilogueFlag) != 0;
    }
    json["region"] = jsonRegion(op.region());
    if (withDeps)
        json["deps"] = jsonDeps(program, index);
    return json;
}

Json jsonHints(const Hints* hints) {
    if (!hints)
        return nullptr;
    return Json{{"external_bytes", hints->external_bytes()},
                {"compute_cycles", hints->compute_cycles()},
                {"macs", hints->macs()},
                {"parallelism", hints->parallelism()},
                {"target_config", jsonString(hints->target_config())},
                {"array_rows", hints->array_rows()},
                {"array_cols", hints->array_cols()}};
}

void addHeaderJson(Json& json, const Program& program, const DisasmOptions& options) {
    json["format"] = Json{{"major", program.format_major()}, {"minor", program.format_minor()}};
    json["producer"] = jsonString(program.producer());
    json["source_graph"] = jsonString(program.source_graph());
    json["source_file"] = jsonString(program.source_file());
    if (options.fileSize)
        json["size_bytes"] = *options.fileSize;
}

// A TileLoops kernel's ops, folded into one record.
Json jsonGenerated(const Segment& segment) {
    return Json{{"index", segment.first},
                {"kind", "tile-loops"},
                {"kernel", segment.index},
                {"op_count", segment.count},
                {"dep_count", segment.counts ? Json(segment.counts->deps) : Json(nullptr)}};
}

void addOpsJson(Json& json, const Program& program, const DisasmOptions& options) {
    const Layout layout = programLayout(program);
    const OpRange range = shownOps(layout, options);
    json["op_count"] = layout.ops;
    if (range.limited)
        json["op_range"] = Json{{"first", range.first}, {"count", range.end - range.first}};
    const bool withOps = options.has(DisasmSection::Ops);
    const bool withDeps = options.has(DisasmSection::Deps);
    Json list = Json::array();
    forShownSegments(program, layout, range, [&](const Segment& segment) {
        if (segment.generated) {
            list.push_back(jsonGenerated(segment));
            return;
        }
        if (!withOps) {
            list.push_back(jsonDeps(program, segment.index));
            return;
        }
        Json op = jsonOp(program, segment.index, withDeps);
        op["index"] = segment.first;
        list.push_back(std::move(op));
    });
    json[withOps ? "ops" : "deps"] = std::move(list);
}

// Compact JSON; names come from untrusted objects, so invalid UTF-8 is replaced, not thrown.
std::string compactJson(const Json& json) {
    return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// One top-level key per line and one record per line inside arrays of records: fully indented
// JSON puts every region coordinate on its own line, ~40 lines per op, which makes large
// objects unreadable and many times bigger than the object itself.
std::string layoutJson(const Json& json) {
    std::string out = "{";
    bool firstKey = true;
    for (const auto& [key, value] : json.items()) {
        out += firstKey ? "\n  " : ",\n  ";
        firstKey = false;
        out += compactJson(Json(key)) + ": ";
        const bool records = value.is_array() && !value.empty() && value.front().is_structured();
        if (!records) {
            out += compactJson(value);
            continue;
        }
        out += "[";
        for (std::size_t i = 0; i < value.size(); ++i)
            out += (i == 0 ? "\n    " : ",\n    ") + compactJson(value[i]);
        out += "\n  ]";
    }
    return out + "\n}\n";
}

} // namespace

std::optional<DisasmSection> parseDisasmSection(std::string_view name) {
    if (name == "header")
        return DisasmSection::Header;
    if (name == "tensors")
        return DisasmSection::Tensors;
    if (name == "kernels")
        return DisasmSection::Kernels;
    if (name == "ops")
        return DisasmSection::Ops;
    if (name == "deps")
        return DisasmSection::Deps;
    if (name == "hints")
        return DisasmSection::Hints;
    if (name == "graph")
        return DisasmSection::Graph;
    return std::nullopt;
}

std::string disassembleText(const Program& program, const DisasmOptions& options) {
    std::string out;
    if (options.has(DisasmSection::Header))
        appendHeaderText(out, program, options);
    if (options.has(DisasmSection::Tensors))
        appendTensorsText(out, program);
    if (options.has(DisasmSection::Kernels))
        appendKernelsText(out, program);
    if (options.has(DisasmSection::Graph))
        appendGraphText(out, program);
    if (options.has(DisasmSection::Ops))
        appendOpsText(out, program, options);
    else if (options.has(DisasmSection::Deps))
        appendDepsText(out, program, options);
    if (options.has(DisasmSection::Hints))
        appendHintsText(out, program);
    return out;
}

std::string disassembleJson(const Program& program, const DisasmOptions& options) {
    Json json = Json::object();
    if (options.has(DisasmSection::Header))
        addHeaderJson(json, program, options);
    if (options.has(DisasmSection::Tensors)) {
        Json tensors = Json::array();
        for (std::size_t i = 0; i < sizeOf(program.tensors()); ++i)
            tensors.push_back(jsonTensor(*tensorAt(program, i), i));
        json["tensors"] = std::move(tensors);
        json["graph_inputs"] = jsonArray(program.graph_inputs());
        json["graph_outputs"] = jsonArray(program.graph_outputs());
        Json statics = Json::array();
        for (flatbuffers::uoffset_t i = 0; i < sizeOf(program.static_inputs()); ++i)
            statics.push_back(jsonStaticInput(*program.static_inputs()->Get(i)));
        json["static_inputs"] = std::move(statics);
    }
    if (options.has(DisasmSection::Kernels)) {
        Json kernels = Json::array();
        for (std::size_t i = 0; i < sizeOf(program.kernels()); ++i)
            kernels.push_back(jsonKernel(*kernelAt(program, i), i));
        json["kernels"] = std::move(kernels);
    }
    if (options.has(DisasmSection::Graph)) {
        Json graph = Json::array();
        for (std::size_t i = 0; i < sizeOf(program.graph()); ++i)
            graph.push_back(jsonGraphNode(program, i));
        json["graph"] = std::move(graph);
    }
    if (options.has(DisasmSection::Ops) || options.has(DisasmSection::Deps))
        addOpsJson(json, program, options);
    if (options.has(DisasmSection::Hints))
        json["hints"] = jsonHints(program.hints());
    return layoutJson(json);
}

} // namespace kpu::dfx
