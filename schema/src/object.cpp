#include "kpu/schema/object.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>
#include <string>

#include <flatbuffers/flatbuffers.h>
#include <fmt/format.h>

#include "kpu/common/operator.h"

namespace kpu::dfx {

namespace {

using flatbuffers::soffset_t;
using flatbuffers::uoffset_t;
using flatbuffers::voffset_t;

// The shape of every table of schema/dfx.fbs, field by field, in the order the generated Verify
// methods check them, for locating what the Verifier refused. A field added to the schema but
// not here is still covered: the generated Verify of its table fails, and the table itself is
// reported.
enum class FieldType { Scalar, String, Vector, Table, TableVector };

// Why a table whose generated Verify fails is reported as a whole: a field missing from the
// lists below.
constexpr std::string_view kNoFieldAlone =
    "the table fails verification, but none of its fields alone";

struct TableSpec;

struct FieldSpec {
    std::string_view name;
    voffset_t slot; // the VT_ constant of the generated table
    FieldType type;
    std::size_t size = 0; // Scalar: its size (and alignment); Vector: element size
    bool required = false;
    const TableSpec* table = nullptr; // Table, TableVector
};

struct TableSpec {
    std::span<const FieldSpec> fields;
    bool (*verify)(const std::uint8_t* table, flatbuffers::Verifier& verifier);
};

template <class T>
bool verifyAs(const std::uint8_t* table, flatbuffers::Verifier& verifier) {
    return reinterpret_cast<const T*>(table)->Verify(verifier);
}

constexpr FieldSpec scalarField(std::string_view name, voffset_t slot, std::size_t size) {
    return {name, slot, FieldType::Scalar, size};
}
constexpr FieldSpec stringField(std::string_view name, voffset_t slot, bool required = false) {
    return {name, slot, FieldType::String, 1, required};
}
constexpr FieldSpec vectorField(std::string_view name, voffset_t slot, std::size_t elementSize,
                                bool required = false) {
    return {name, slot, FieldType::Vector, elementSize, required};
}
constexpr FieldSpec tableField(std::string_view name, voffset_t slot, const TableSpec& spec) {
    return {name, slot, FieldType::Table, 0, false, &spec};
}
constexpr FieldSpec tablesField(std::string_view name, voffset_t slot, const TableSpec& spec,
                                bool required = false) {
    return {name, slot, FieldType::TableVector, sizeof(uoffset_t), required, &spec};
}

constexpr std::array kTensorFields{
    stringField("name", Tensor::VT_NAME, true),
    vectorField("shape", Tensor::VT_SHAPE, 8),
    scalarField("dtype", Tensor::VT_DTYPE, 1),
    scalarField("role", Tensor::VT_ROLE, 1),
    scalarField("source_node", Tensor::VT_SOURCE_NODE, 8),
    scalarField("alias_of", Tensor::VT_ALIAS_OF, 8),
    vectorField("data", Tensor::VT_DATA, 1),
};
constexpr TableSpec kTensorSpec{kTensorFields, verifyAs<Tensor>};

constexpr std::array kStaticInputFields{
    stringField("name", StaticInput::VT_NAME, true),
    scalarField("position", StaticInput::VT_POSITION, 4),
    scalarField("dtype", StaticInput::VT_DTYPE, 1),
    vectorField("shape", StaticInput::VT_SHAPE, 8),
    vectorField("data", StaticInput::VT_DATA, 1),
};
constexpr TableSpec kStaticInputSpec{kStaticInputFields, verifyAs<StaticInput>};

constexpr std::array kLevelTilingFields{
    scalarField("level", LevelTiling::VT_LEVEL, 1),
    vectorField("tile", LevelTiling::VT_TILE, 4),
};
constexpr TableSpec kLevelTilingSpec{kLevelTilingFields, verifyAs<LevelTiling>};

constexpr std::array kKernelParamsFields{
    scalarField("axis", KernelParams::VT_AXIS, 4),
    vectorField("perm", KernelParams::VT_PERM, 1),
    vectorField("window", KernelParams::VT_WINDOW, 4),
    vectorField("padding", KernelParams::VT_PADDING, 4),
    scalarField("min", KernelParams::VT_MIN, 8),
    scalarField("max", KernelParams::VT_MAX, 8),
    scalarField("epsilon", KernelParams::VT_EPSILON, 8),
    scalarField("pad_value", KernelParams::VT_PAD_VALUE, 8),
    scalarField("transpose_b", KernelParams::VT_TRANSPOSE_B, 1),
    scalarField("bias_input", KernelParams::VT_BIAS_INPUT, 1),
    scalarField("activation", KernelParams::VT_ACTIVATION, 1),
};
constexpr TableSpec kKernelParamsSpec{kKernelParamsFields, verifyAs<KernelParams>};

constexpr std::array kKernelFields{
    stringField("name", Kernel::VT_NAME, true),
    scalarField("source_node", Kernel::VT_SOURCE_NODE, 8),
    scalarField("kind", Kernel::VT_KIND, 2),
    vectorField("inputs", Kernel::VT_INPUTS, 4, true),
    scalarField("output", Kernel::VT_OUTPUT, 4),
    vectorField("iteration_space", Kernel::VT_ITERATION_SPACE, 4, true),
    vectorField("input_batched", Kernel::VT_INPUT_BATCHED, 1),
    tablesField("tilings", Kernel::VT_TILINGS, kLevelTilingSpec),
    scalarField("dataflow", Kernel::VT_DATAFLOW, 1),
    vectorField("loop_order", Kernel::VT_LOOP_ORDER, 1),
    scalarField("first_op", Kernel::VT_FIRST_OP, 4),
    scalarField("op_count", Kernel::VT_OP_COUNT, 4),
    tableField("params", Kernel::VT_PARAMS, kKernelParamsSpec),
    scalarField("ops_encoding", Kernel::VT_OPS_ENCODING, 1),
    vectorField("input_levels", Kernel::VT_INPUT_LEVELS, 1),
    vectorField("input_ready", Kernel::VT_INPUT_READY, 8),
    scalarField("output_level", Kernel::VT_OUTPUT_LEVEL, 1),
};
constexpr TableSpec kKernelSpec{kKernelFields, verifyAs<Kernel>};

constexpr std::array kGraphNodeFields{
    scalarField("kind", GraphNode::VT_KIND, 2),
    stringField("name", GraphNode::VT_NAME),
    scalarField("source_node", GraphNode::VT_SOURCE_NODE, 8),
    vectorField("inputs", GraphNode::VT_INPUTS, 4),
    scalarField("output", GraphNode::VT_OUTPUT, 4),
    tableField("params", GraphNode::VT_PARAMS, kKernelParamsSpec),
};
constexpr TableSpec kGraphNodeSpec{kGraphNodeFields, verifyAs<GraphNode>};

constexpr std::array kHintsFields{
    scalarField("external_bytes", Hints::VT_EXTERNAL_BYTES, 8),
    scalarField("compute_cycles", Hints::VT_COMPUTE_CYCLES, 8),
    scalarField("macs", Hints::VT_MACS, 8),
    scalarField("parallelism", Hints::VT_PARALLELISM, 4),
    stringField("target_config", Hints::VT_TARGET_CONFIG),
    scalarField("array_rows", Hints::VT_ARRAY_ROWS, 4),
    scalarField("array_cols", Hints::VT_ARRAY_COLS, 4),
};
constexpr TableSpec kHintsSpec{kHintsFields, verifyAs<Hints>};

constexpr std::array kProgramFields{
    scalarField("format_major", Program::VT_FORMAT_MAJOR, 2),
    scalarField("format_minor", Program::VT_FORMAT_MINOR, 2),
    stringField("producer", Program::VT_PRODUCER),
    stringField("source_graph", Program::VT_SOURCE_GRAPH),
    stringField("source_file", Program::VT_SOURCE_FILE),
    tablesField("tensors", Program::VT_TENSORS, kTensorSpec, true),
    tablesField("kernels", Program::VT_KERNELS, kKernelSpec, true),
    vectorField("ops", Program::VT_OPS, sizeof(Op), true),
    vectorField("dep_offsets", Program::VT_DEP_OFFSETS, 4, true),
    vectorField("dep_indices", Program::VT_DEP_INDICES, 4, true),
    tableField("hints", Program::VT_HINTS, kHintsSpec),
    tablesField("graph", Program::VT_GRAPH, kGraphNodeSpec),
    tablesField("static_inputs", Program::VT_STATIC_INPUTS, kStaticInputSpec),
    vectorField("graph_inputs", Program::VT_GRAPH_INPUTS, 4),
    vectorField("graph_outputs", Program::VT_GRAPH_OUTPUTS, 4),
};
constexpr TableSpec kProgramSpec{kProgramFields, verifyAs<Program>};

// Re-verifies a buffer piece by piece with the Verifier's own range checks, in the Verifier's
// order, and says why the first failing piece fails. Positions are byte offsets computed in
// size_t, so a wild offset is never turned into a pointer outside the buffer.
class CorruptionLocator {
public:
    explicit CorruptionLocator(std::span<const std::uint8_t> bytes)
        : bytes_(bytes), verifier_(bytes.data(), bytes.size(), kMaxDepth, kMaxTables) {}

    std::optional<CorruptionSite> locate() {
        if (bytes_.size() < FLATBUFFERS_MIN_BUFFER_SIZE)
            return CorruptionSite{0, "the buffer header",
                                  fmt::format("a FlatBuffer has at least {} bytes, the file has {}",
                                              FLATBUFFERS_MIN_BUFFER_SIZE, bytes_.size())};
        if (auto problem = offsetProblem(0))
            return CorruptionSite{0, "the buffer header", "root " + *problem};
        const std::size_t root = read<uoffset_t>(0);
        if (auto site = tableSite(root, kProgramSpec, ""))
            return site;
        flatbuffers::Verifier whole(bytes_.data(), bytes_.size(), kMaxDepth, kMaxTables);
        if (VerifyProgramBuffer(whole))
            return std::nullopt;
        // Every piece verifies alone but not the whole: a limit of the Verifier was reached.
        flatbuffers::Verifier unlimited(bytes_.data(), bytes_.size(),
                                        std::numeric_limits<uoffset_t>::max() / 2,
                                        std::numeric_limits<uoffset_t>::max() / 2);
        return CorruptionSite{root, "the root table",
                              VerifyProgramBuffer(unlimited)
                                  ? fmt::format("more than {} tables or tables nested deeper "
                                                "than {}",
                                                kMaxTables, kMaxDepth)
                                  : std::string(kNoFieldAlone)};
    }

private:
    template <class T>
    T read(std::size_t pos) const {
        return flatbuffers::ReadScalar<T>(bytes_.data() + pos);
    }

    std::string bufferSize() const { return fmt::format("the file has {} bytes", bytes_.size()); }

    // `len` bytes at `pos`, aligned to `align`: the Verifier's Verify and VerifyAlignment.
    std::optional<std::string> rangeProblem(std::size_t pos, std::size_t len, std::size_t align,
                                            std::string_view what) const {
        if (!verifier_.VerifyAlignment(pos, align))
            return fmt::format("misaligned {}: byte {:#x} is not a multiple of {}", what, pos,
                               align);
        if (!verifier_.Verify(pos, len))
            return fmt::format("{} past the end of the buffer: {} bytes at byte {:#x}, {}", what,
                               len, pos, bufferSize());
        return std::nullopt;
    }

    // An offset stored at `pos`: the Verifier's VerifyOffset.
    std::optional<std::string> offsetProblem(std::size_t pos) const {
        if (auto problem = rangeProblem(pos, sizeof(uoffset_t), sizeof(uoffset_t), "offset"))
            return problem;
        const auto o = read<uoffset_t>(pos);
        if (o == 0)
            return std::string("offset is 0 (points to itself)");
        if (static_cast<soffset_t>(o) < 0 || !verifier_.Verify(pos + o, 1))
            return fmt::format("offset out of bounds: {:#x} points to byte {:#x}, {}", o,
                               pos + std::size_t{o}, bufferSize());
        return std::nullopt;
    }

    // A vector (or string) at `pos`: the Verifier's VerifyVectorOrString and VerifyString.
    std::optional<std::string> vectorProblem(std::size_t pos, std::size_t elementSize,
                                             bool isString) const {
        const std::string_view what = isString ? "string" : "vector";
        if (auto problem = rangeProblem(pos, sizeof(uoffset_t), sizeof(uoffset_t),
                                        isString ? "string length" : "vector length"))
            return problem;
        const auto count = read<uoffset_t>(pos);
        if (count >= FLATBUFFERS_MAX_BUFFER_SIZE / elementSize)
            return fmt::format("{} too long: {} elements of {} bytes", what, count, elementSize);
        const std::size_t byteSize = sizeof(uoffset_t) + elementSize * count;
        if (!verifier_.Verify(pos, byteSize))
            return fmt::format("{} past the end of the buffer: {} elements of {} bytes end at "
                               "byte {:#x}, {}",
                               what, count, elementSize, pos + byteSize, bufferSize());
        if (isString) {
            const std::size_t end = pos + byteSize;
            if (!verifier_.Verify(end, 1))
                return fmt::format("string not terminated: its {} bytes reach the end of the "
                                   "buffer",
                                   count);
            if (bytes_[end] != 0)
                return fmt::format("string not terminated: the byte after its {} bytes is {:#04x}, "
                                   "not 0",
                                   count, bytes_[end]);
        }
        return std::nullopt;
    }

    // A table's vtable offset and vtable: the Verifier's VerifyTableStart.
    std::optional<std::string> tableStartProblem(std::size_t pos) const {
        if (auto problem = rangeProblem(pos, sizeof(soffset_t), sizeof(soffset_t), "table"))
            return problem;
        // The subtraction is unsigned, as the Verifier's: a wild vtable offset wraps far away.
        const std::size_t vtable = pos - static_cast<std::size_t>(read<soffset_t>(pos));
        if (!verifier_.Verify(vtable, sizeof(voffset_t))) {
            const std::int64_t signedVtable =
                static_cast<std::int64_t>(pos) - std::int64_t{read<soffset_t>(pos)};
            return signedVtable < 0
                       ? fmt::format("vtable out of bounds: the table's vtable offset {} points "
                                     "{} bytes before the start of the file",
                                     read<soffset_t>(pos), -signedVtable)
                       : fmt::format("vtable out of bounds: the table's vtable offset {} points "
                                     "to byte {:#x}, {}",
                                     read<soffset_t>(pos), vtable, bufferSize());
        }
        if (!verifier_.VerifyAlignment(vtable, sizeof(voffset_t)))
            return fmt::format("misaligned vtable: byte {:#x} is not a multiple of 2", vtable);
        const auto vsize = read<voffset_t>(vtable);
        if (vsize % 2 != 0)
            return fmt::format("corrupt vtable at byte {:#x}: its size {} is odd", vtable, vsize);
        if (!verifier_.Verify(vtable, vsize))
            return fmt::format("vtable past the end of the buffer: {} bytes at byte {:#x}, {}",
                               vsize, vtable, bufferSize());
        return std::nullopt;
    }

    static std::string join(std::string_view path, std::string_view field) {
        return path.empty() ? std::string(field) : fmt::format("{}.{}", path, field);
    }

    static std::string tablePath(std::string_view path) {
        return path.empty() ? std::string("the root table") : std::string(path);
    }

    // The table at `pos` and everything it references.
    std::optional<CorruptionSite> tableSite(std::size_t pos, const TableSpec& spec,
                                            const std::string& path) {
        if (auto problem = tableStartProblem(pos))
            return CorruptionSite{pos, tablePath(path), *problem};
        // A table the generated Verify accepts on its own is not where the corruption is.
        flatbuffers::Verifier alone(bytes_.data(), bytes_.size(), kMaxDepth, kMaxTables);
        if (spec.verify(bytes_.data() + pos, alone))
            return std::nullopt;
        const auto* table = reinterpret_cast<const flatbuffers::Table*>(bytes_.data() + pos);
        for (const FieldSpec& field : spec.fields)
            if (auto site = fieldSite(pos, *table, field, join(path, field.name)))
                return site;
        return CorruptionSite{pos, tablePath(path), std::string(kNoFieldAlone)};
    }

    std::optional<CorruptionSite> fieldSite(std::size_t tablePos, const flatbuffers::Table& table,
                                            const FieldSpec& field, const std::string& path) {
        const voffset_t fieldOffset = table.GetOptionalFieldOffset(field.slot);
        if (fieldOffset == 0) {
            if (field.required)
                return CorruptionSite{tablePos, path, "required field missing"};
            return std::nullopt;
        }
        const std::size_t pos = tablePos + fieldOffset;
        if (field.type == FieldType::Scalar) {
            if (auto problem = rangeProblem(pos, field.size, field.size, "field"))
                return CorruptionSite{pos, path, *problem};
            return std::nullopt;
        }
        if (auto problem = offsetProblem(pos))
            return CorruptionSite{pos, path, *problem};
        const std::size_t target = pos + read<uoffset_t>(pos);
        switch (field.type) {
        case FieldType::String:
        case FieldType::Vector:
            if (auto problem = vectorProblem(target, field.size, field.type == FieldType::String))
                return CorruptionSite{target, path, *problem};
            return std::nullopt;
        case FieldType::Table:
            return tableSite(target, *field.table, path);
        case FieldType::TableVector: {
            if (auto problem = vectorProblem(target, field.size, false))
                return CorruptionSite{target, path, *problem};
            // The Verifier follows each element's offset without checking it (VerifyTableStart
            // checks the table); an element pointing outside the buffer is reported at its
            // offset, the byte to fix.
            const auto count = read<uoffset_t>(target);
            for (uoffset_t i = 0; i < count; ++i) {
                const std::size_t slot = target + sizeof(uoffset_t) + std::size_t{i} * field.size;
                const auto o = read<uoffset_t>(slot);
                const std::string elementPath = fmt::format("{}[{}]", path, i);
                if (slot + o >= bytes_.size())
                    return CorruptionSite{slot, elementPath,
                                          fmt::format("offset out of bounds: {:#x} points to byte "
                                                      "{:#x}, {}",
                                                      o, slot + o, bufferSize())};
                if (auto site = tableSite(slot + o, *field.table, elementPath))
                    return site;
            }
            return std::nullopt;
        }
        case FieldType::Scalar:
            break;
        }
        return std::nullopt;
    }

    std::span<const std::uint8_t> bytes_;
    flatbuffers::Verifier verifier_; // its range checks only; no table is verified with it
};

} // namespace

std::optional<CorruptionSite> locateCorruption(std::span<const std::uint8_t> bytes) {
    return CorruptionLocator(bytes).locate();
}

Expected<const Program*> verifyStructure(std::span<const std::uint8_t> bytes,
                                         std::string_view sourceName) {
    // Smallest possible FlatBuffer: root offset + file identifier.
    if (bytes.size() < 8)
        return fail("{}: error: file is too small to be a KPU object: {} bytes, the header (root "
                    "offset and file identifier, bytes 0-7) needs 8",
                    sourceName, bytes.size());
    if (bytes.size() >= FLATBUFFERS_MAX_BUFFER_SIZE)
        return fail("{}: error: file is too large ({} bytes)", sourceName, bytes.size());
    if (!ProgramBufferHasIdentifier(bytes.data())) {
        std::string_view found(reinterpret_cast<const char*>(bytes.data()) + 4, 4);
        std::string printable;
        for (char c : found)
            printable += (c >= 32 && c < 127) ? c : '?';
        return fail("{}: error: not a KPU object: file identifier is '{}', expected '{}'",
                    sourceName, printable, kFileIdentifier);
    }
    flatbuffers::Verifier verifier(bytes.data(), bytes.size(), kMaxDepth, kMaxTables);
    if (!VerifyProgramBuffer(verifier)) {
        // Only a failed buffer is walked again, so valid objects pay nothing for the place.
        const auto site = locateCorruption(bytes).value_or(
            CorruptionSite{0, "the buffer header", "no piece fails alone"});
        return fail("{}: error: corrupt KPU object at byte {:#x} ({}): FlatBuffers verification "
                    "failed: {}",
                    sourceName, site.offset, site.path, site.reason);
    }
    const Program* program = GetProgram(bytes.data());
    if (program->format_major() < kOldestFormatMajor || program->format_major() > kFormatMajor)
        // Minor versions only add fields older readers may ignore; the major version must be one
        // this reader understands (each major version is a subset of the next).
        return fail("{}: error: object format version {}.{} is not supported; this loader reads "
                    "versions {}.x to {}.x",
                    sourceName, program->format_major(), program->format_minor(),
                    kOldestFormatMajor, kFormatMajor);
    return program;
}

std::string_view memoryLevelName(MemoryLevel level) {
    switch (level) {
    case MemoryLevel::External:
        return "EXT";
    case MemoryLevel::L3:
        return "L3";
    case MemoryLevel::L2:
        return "L2";
    case MemoryLevel::L1:
        return "L1";
    }
    return "?";
}

std::string_view moveKindName(MoveKind kind) {
    switch (kind) {
    case MoveKind::Load:
        return "load";
    case MoveKind::Prefetch:
        return "prefetch";
    case MoveKind::Store:
        return "store";
    case MoveKind::Flush:
        return "flush";
    }
    return "?";
}

std::string_view tensorRoleName(TensorRole role) {
    switch (role) {
    case TensorRole::Input:
        return "input";
    case TensorRole::Constant:
        return "constant";
    case TensorRole::Output:
        return "output";
    case TensorRole::Intermediate:
        return "intermediate";
    }
    return "?";
}

std::string_view dataflowName(Dataflow dataflow) {
    switch (dataflow) {
    case Dataflow::OutputStationary:
        return "output-stationary";
    case Dataflow::WeightStationary:
        return "weight-stationary";
    case Dataflow::InputStationary:
        return "input-stationary";
    }
    return "?";
}

OpParams toOpParams(const KernelParams* t) {
    OpParams p;
    if (!t)
        return p;
    p.axis = t->axis();
    if (t->perm())
        for (flatbuffers::uoffset_t i = 0; i < t->perm()->size() && i < p.perm.size(); ++i)
            p.perm[i] = t->perm()->Get(i);
    if (const auto* w = t->window(); w && w->size() >= 10) {
        p.kernelH = w->Get(0), p.kernelW = w->Get(1);
        p.strideH = w->Get(2), p.strideW = w->Get(3);
        p.dilationH = w->Get(4), p.dilationW = w->Get(5);
        p.padTop = w->Get(6), p.padBottom = w->Get(7), p.padLeft = w->Get(8),
        p.padRight = w->Get(9);
    }
    if (t->padding())
        for (flatbuffers::uoffset_t i = 0; i < t->padding()->size() && i < p.padding.size(); ++i)
            p.padding[i] = t->padding()->Get(i);
    p.min = t->min();
    p.max = t->max();
    p.epsilon = t->epsilon();
    p.padValue = t->pad_value();
    p.transposeB = t->transpose_b();
    p.biasInput = t->bias_input();
    p.activation = static_cast<kpu::Activation>(t->activation());
    return p;
}

std::unique_ptr<KernelParamsT> toKernelParamsT(Operator op, const OpParams& p, std::size_t rank) {
    auto t = std::make_unique<KernelParamsT>();
    t->axis = p.axis;
    t->min = p.min;
    t->max = p.max;
    t->epsilon = p.epsilon;
    t->pad_value = p.padValue;
    t->transpose_b = p.transposeB;
    t->bias_input = p.biasInput;
    t->activation = static_cast<dfx::Activation>(p.activation);
    switch (op) {
    case Operator::Transpose:
        t->perm.assign(p.perm.begin(), p.perm.begin() + std::min(rank, p.perm.size()));
        break;
    case Operator::Pad:
        t->padding.assign(p.padding.begin(),
                          p.padding.begin() + std::min(2 * rank, p.padding.size()));
        break;
    case Operator::Conv2D:
    case Operator::DepthwiseConv2D:
    case Operator::MaxPool2D:
    case Operator::AvgPool2D:
    case Operator::Im2Col:
        t->window = {p.kernelH,   p.kernelW, p.strideH,   p.strideW, p.dilationH,
                     p.dilationW, p.padTop,  p.padBottom, p.padLeft, p.padRight};
        break;
    default:
        break;
    }
    return t;
}

std::string_view kernelKindName(KernelKind kind) {
    // The operator's .dfg spelling in lower case: "matmul", "depthwise_conv2d", ...
    static const std::array<std::string, kOperatorCount> names = [] {
        std::array<std::string, kOperatorCount> n;
        for (int i = 0; i < kOperatorCount; ++i) {
            n[static_cast<std::size_t>(i)] = operatorName(static_cast<Operator>(i));
            for (char& c : n[static_cast<std::size_t>(i)])
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        return n;
    }();
    const auto i = static_cast<std::size_t>(kind);
    return i < names.size() ? std::string_view(names[i]) : std::string_view("?");
}

} // namespace kpu::dfx
