#include "kpu/loader/verifier.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "kpu/common/shape.h"
#include "kpu/common/utf8.h"
#include "kpu/schema/kernel_regions.h"
#include "kpu/schema/tile_loops.h"

namespace kpu::loader {
namespace {

using dfx::MemoryLevel;
using dfx::MoveKind;

// Largest tensor the loader accepts: keeps every byte offset comfortably inside uint64.
constexpr std::uint64_t kMaxTensorBytes = 1ull << 48;

class SemanticVerifier {
public:
    SemanticVerifier(const dfx::Program& program, std::string_view source)
        : p_(program), source_(source) {}

    Expected<void> run() {
        if (auto r = checkText(); !r)
            return r;
        if (auto r = checkAlignment(); !r)
            return r;
        if (auto r = checkTensors(); !r)
            return r;
        if (auto r = checkKernels(); !r)
            return r;
        if (auto r = checkOps(); !r)
            return r;
        if (auto r = checkGraph(); !r)
            return r;
        if (auto r = checkSignature(); !r)
            return r;
        return checkDependencies();
    }

private:
    template <class... Args>
    std::unexpected<Error> error(fmt::format_string<Args...> format, Args&&... args) const {
        return std::unexpected(Error{fmt::format(
            "{}: error: {}", source_, fmt::format(format, std::forward<Args>(args)...))});
    }

    // Every string is UTF-8: names reach messages, terminals and JSON reports. Checked first, so
    // that no later message quotes a name that is not (neither does this one).
    Expected<void> checkText() const {
        std::optional<std::string> bad; // the first string that is not, and where it is
        const auto check = [&](const flatbuffers::String* s, const auto& field) {
            if (bad || !s)
                return;
            if (const auto at = firstInvalidUtf8(s->string_view()))
                bad = fmt::format("{}: not valid UTF-8 (byte {} of {})", field(), *at, s->size());
        };
        const auto named = [](std::string_view field) { return [=] { return field; }; };
        check(p_.producer(), named("producer"));
        check(p_.source_graph(), named("source_graph"));
        check(p_.source_file(), named("source_file"));
        if (p_.hints())
            check(p_.hints()->target_config(), named("hints.target_config"));
        for (std::uint32_t i = 0; i < p_.tensors()->size(); ++i)
            check(p_.tensors()->Get(i)->name(), [&] { return fmt::format("tensors[{}].name", i); });
        for (std::uint32_t i = 0; i < p_.kernels()->size(); ++i)
            check(p_.kernels()->Get(i)->name(), [&] { return fmt::format("kernels[{}].name", i); });
        for (std::uint32_t i = 0; p_.static_inputs() && i < p_.static_inputs()->size(); ++i)
            check(p_.static_inputs()->Get(i)->name(),
                  [&] { return fmt::format("static_inputs[{}].name", i); });
        for (std::uint32_t i = 0; p_.graph() && i < p_.graph()->size(); ++i)
            check(p_.graph()->Get(i)->name(), [&] { return fmt::format("graph[{}].name", i); });
        if (bad)
            return error("{}", *bad);
        return {};
    }

    // The FlatBuffers Verifier checks the alignment of a vector's length, not of its elements: a
    // corrupt offset can leave a vector of 8-byte elements ([long]: shapes, ready ops) 4 bytes
    // off, and everything after reads them in place (as spans). Refused before anything does.
    Expected<void> checkAlignment() {
        const auto misaligned = [](const flatbuffers::Vector<std::int64_t>* v) {
            return v && reinterpret_cast<std::uintptr_t>(v->Data()) % alignof(std::int64_t) != 0;
        };
        constexpr std::size_t kAlign = alignof(std::int64_t);
        for (std::uint32_t i = 0; i < p_.tensors()->size(); ++i)
            if (const dfx::Tensor& t = *p_.tensors()->Get(i); misaligned(t.shape()))
                return error("tensors[{}] '{}'.shape: the elements are not {}-byte aligned (a "
                             "corrupt offset)",
                             i, t.name()->string_view(), kAlign);
        for (std::uint32_t i = 0; i < p_.kernels()->size(); ++i)
            if (const dfx::Kernel& k = *p_.kernels()->Get(i); misaligned(k.input_ready()))
                return error("kernels[{}] '{}'.input_ready: the elements are not {}-byte aligned "
                             "(a corrupt offset)",
                             i, k.name()->string_view(), kAlign);
        for (std::uint32_t i = 0; p_.static_inputs() && i < p_.static_inputs()->size(); ++i)
            if (const dfx::StaticInput& s = *p_.static_inputs()->Get(i); misaligned(s.shape()))
                return error("static_inputs[{}] '{}'.shape: the elements are not {}-byte aligned "
                             "(a corrupt offset)",
                             i, s.name()->string_view(), kAlign);
        return {};
    }

    Expected<void> checkTensors() {
        const auto& tensors = *p_.tensors();
        std::set<std::string_view> names;
        views_.reserve(tensors.size());
        for (std::uint32_t i = 0; i < tensors.size(); ++i) {
            const dfx::Tensor& t = *tensors.Get(i);
            const std::string_view name = t.name()->string_view();
            if (name.empty())
                return error("tensors[{}].name: empty", i);
            if (!names.insert(name).second)
                return error("tensors[{}].name: '{}' is not unique", i, name);
            if (t.dtype() > dfx::DType::MAX)
                return error("tensors[{}] '{}'.dtype: unknown value {}", i, name,
                             static_cast<int>(t.dtype()));
            if (t.role() > dfx::TensorRole::MAX)
                return error("tensors[{}] '{}'.role: unknown value {}", i, name,
                             static_cast<int>(t.role()));
            const std::span<const std::int64_t> shape(t.shape() ? t.shape()->data() : nullptr,
                                                      t.shape() ? t.shape()->size() : 0);
            if (shape.size() > 16)
                return error("tensors[{}] '{}'.shape: rank {} exceeds 16", i, name, shape.size());
            for (std::size_t d = 0; d < shape.size(); ++d)
                if (shape[d] <= 0)
                    return error("tensors[{}] '{}'.shape[{}]: dimension {} must be positive", i,
                                 name, d, shape[d]);
            auto bytes = byteSize(shape, dtypeSize(dfx::fromDType(t.dtype())));
            if (!bytes || *bytes > kMaxTensorBytes)
                return error("tensors[{}] '{}'.shape: {} elements of {} overflow the {}-byte limit",
                             i, name, formatShape(shape), dtypeName(dfx::fromDType(t.dtype())),
                             kMaxTensorBytes);
            auto view = canonicalView4(shape);
            if (!view || std::ranges::any_of(*view, [](std::uint64_t d) { return d > UINT32_MAX; }))
                return error("tensors[{}] '{}'.shape: {} does not fit the 4-D canonical view", i,
                             name, formatShape(shape));
            views_.push_back(*view);
            if (t.data()) {
                if (t.role() != dfx::TensorRole::Constant || t.alias_of() >= 0)
                    return error("tensors[{}] '{}'.data: only a constant that owns its storage "
                                 "may carry values",
                                 i, name);
                if (t.data()->size() != *bytes)
                    return error("tensors[{}] '{}'.data: {} bytes; a {}{} tensor has {}", i, name,
                                 t.data()->size(), formatShape(shape),
                                 dtypeName(dfx::fromDType(t.dtype())), *bytes);
            }
            if (t.alias_of() >= 0) {
                const auto target = static_cast<std::uint64_t>(t.alias_of());
                if (target >= i ||
                    tensors.Get(static_cast<flatbuffers::uoffset_t>(target))->alias_of() >= 0)
                    return error("tensors[{}] '{}'.alias_of: {} is not an earlier tensor that owns "
                                 "its storage",
                                 i, name, t.alias_of());
                const dfx::Tensor& owner =
                    *tensors.Get(static_cast<flatbuffers::uoffset_t>(target));
                const std::span<const std::int64_t> ownerShape(
                    owner.shape() ? owner.shape()->data() : nullptr,
                    owner.shape() ? owner.shape()->size() : 0);
                if (byteSize(ownerShape, dtypeSize(dfx::fromDType(owner.dtype()))) != bytes)
                    return error("tensors[{}] '{}'.alias_of: tensor {} '{}' has a different size",
                                 i, name, target, owner.name()->string_view());
            }
        }
        return {};
    }

    Expected<void> checkKernels() {
        const auto& kernels = *p_.kernels();
        const std::uint32_t tensorCount = p_.tensors()->size();
        expandedOps_ = p_.ops()->size();
        expandedDeps_ = p_.dep_indices()->size();
        for (std::uint32_t i = 0; i < kernels.size(); ++i) {
            const dfx::Kernel& k = *kernels.Get(i);
            const std::string_view name = k.name()->string_view();
            const auto kind = static_cast<int>(k.kind());
            if (!isKernelOperator(dfx::toOperator(k.kind())))
                return error("kernels[{}] '{}'.kind: unknown value {} (graph-only operators are "
                             "not kernels)",
                             i, name, kind);
            const auto& inputs = *k.inputs();
            const auto [least, most] = inputCounts(dfx::toOperator(k.kind()));
            if (inputs.size() < least || inputs.size() > most)
                return error("kernels[{}] '{}'.inputs: {} takes {} to {} inputs, got {}", i, name,
                             dfx::kernelKindName(k.kind()), least, most, inputs.size());
            for (std::uint32_t j = 0; j < inputs.size(); ++j)
                if (inputs[j] >= tensorCount)
                    return error("kernels[{}] '{}'.inputs[{}]: tensor index {} out of range "
                                 "(object has {} tensors)",
                                 i, name, j, inputs[j], tensorCount);
            if (k.output() >= tensorCount)
                return error(
                    "kernels[{}] '{}'.output: tensor index {} out of range (object has {} tensors)",
                    i, name, k.output(), tensorCount);
            if (!k.input_batched() || k.input_batched()->size() != inputs.size())
                return error("kernels[{}] '{}'.input_batched: expected {} entries", i, name,
                             inputs.size());
            const auto& space = *k.iteration_space();
            if (space.size() != 4)
                return error("kernels[{}] '{}'.iteration_space: expected 4 dimensions [batch, M, "
                             "N, K], got {}",
                             i, name, space.size());
            for (std::uint32_t d = 0; d < 4; ++d)
                if (space[d] == 0)
                    return error("kernels[{}] '{}'.iteration_space[{}]: must be positive", i, name,
                                 d);
            if (auto r = k.kind() == dfx::KernelKind::MatMul ? checkMatMulShapes(i, k)
                                                             : checkVectorShapes(i, k);
                !r)
                return r;
            if (auto r = checkTilingAndOrder(i, k); !r)
                return r;
            if (k.dataflow() > dfx::Dataflow::MAX)
                return error("kernels[{}] '{}'.dataflow: unknown value {}", i, name,
                             static_cast<int>(k.dataflow()));
            if (auto r = checkOpsEncoding(i, k); !r)
                return r;
        }
        if (expandedOps_ > dfx::kMaxProgramOps || expandedDeps_ > dfx::kMaxProgramDeps)
            return error("kernels: the program expands to {} ops and {} dependencies, more than "
                         "the limit of {} ops and {} dependencies",
                         expandedOps_, expandedDeps_, dfx::kMaxProgramOps, dfx::kMaxProgramDeps);
        for (std::uint32_t i = 0; i < kernels.size(); ++i) {
            const dfx::Kernel& k = *kernels.Get(i);
            if (std::uint64_t{k.first_op()} + k.op_count() > expandedOps_)
                return error("kernels[{}] '{}': ops [{}, +{}) exceed the {} ops of the object", i,
                             k.name()->string_view(), k.first_op(), k.op_count(), expandedOps_);
        }
        if (expandedOps_ != p_.ops()->size())
            placeStoredOps();
        return {};
    }

    // A TileLoops kernel (format 3.0): its record must generate exactly op_count ops
    // (tile_loops.h), after the ops of the previous TileLoops kernel. Counted with overflow
    // checks and capped before anything is allocated.
    Expected<void> checkOpsEncoding(std::uint32_t i, const dfx::Kernel& k) {
        const std::string_view name = k.name()->string_view();
        if (k.ops_encoding() == dfx::OpsEncoding::Explicit)
            return {};
        if (k.ops_encoding() > dfx::OpsEncoding::MAX)
            return error("kernels[{}] '{}'.ops_encoding: unknown value {}", i, name,
                         static_cast<int>(k.ops_encoding()));
        if (p_.format_major() < 3)
            return error("kernels[{}] '{}'.ops_encoding: TileLoops kernels need format 3.0 or "
                         "later (the object is {}.{})",
                         i, name, p_.format_major(), p_.format_minor());
        auto loops = dfx::decodeTileLoops(p_, i);
        if (!loops)
            return error("kernels[{}] '{}'.{}", i, name, loops.error().message);
        auto counts = dfx::countTileLoops(*loops);
        if (!counts)
            return error("kernels[{}] '{}'.{}", i, name, counts.error().message);
        if (counts->ops != k.op_count())
            return error("kernels[{}] '{}'.op_count: {}, but its tile loops expand to {} ops", i,
                         name, k.op_count(), counts->ops);
        if (k.first_op() < tileLoopsEnd_)
            return error("kernels[{}] '{}'.first_op: {} is before the end ({}) of the previous "
                         "TileLoops kernel's ops (their ranges come in kernel order, disjoint)",
                         i, name, k.first_op(), tileLoopsEnd_);
        tileLoopsEnd_ = std::uint64_t{k.first_op()} + k.op_count();
        tileLoopRanges_.emplace_back(k.first_op(), k.op_count());
        // Both terms are capped (2^24, 2^25), so a sum of at most 2^32 of them cannot overflow.
        expandedOps_ += counts->ops;
        expandedDeps_ += counts->deps;
        if (expandedOps_ > dfx::kMaxProgramOps || expandedDeps_ > dfx::kMaxProgramDeps)
            return error("kernels[{}] '{}'.op_count: the program expands to more than {} ops or "
                         "{} dependencies (the limit)",
                         i, name, dfx::kMaxProgramOps, dfx::kMaxProgramDeps);
        return {};
    }

    // Expanded positions of the stored ops: the positions no TileLoops kernel covers, in order.
    void placeStoredOps() {
        const std::uint32_t stored = p_.ops()->size();
        storedPosition_.reserve(stored);
        std::uint64_t position = 0;
        auto fill = [&](std::uint64_t until) {
            for (; position < until && storedPosition_.size() < stored; ++position)
                storedPosition_.push_back(static_cast<std::uint32_t>(position));
        };
        for (const auto& [first, count] : tileLoopRanges_) {
            fill(first);
            position = std::uint64_t{first} + count;
        }
        fill(expandedOps_);
    }

    // The expanded index of stored op i, and the stored op at an expanded index (if any).
    std::uint32_t positionOf(std::uint32_t stored) const {
        return storedPosition_.empty() ? stored : storedPosition_[stored];
    }
    std::optional<std::uint32_t> storedAt(std::uint32_t position) const {
        if (storedPosition_.empty())
            return position;
        const auto it = std::ranges::lower_bound(storedPosition_, position);
        if (it == storedPosition_.end() || *it != position)
            return std::nullopt;
        return static_cast<std::uint32_t>(it - storedPosition_.begin());
    }

    Expected<void> checkTilingAndOrder(std::uint32_t i, const dfx::Kernel& k) {
        const std::string_view name = k.name()->string_view();
        if (k.tilings()) {
            for (std::uint32_t t = 0; t < k.tilings()->size(); ++t) {
                const dfx::LevelTiling& tiling = *k.tilings()->Get(t);
                if (tiling.level() > MemoryLevel::MAX)
                    return error("kernels[{}] '{}'.tilings[{}].level: unknown value {}", i, name, t,
                                 static_cast<int>(tiling.level()));
                if (!tiling.tile() || tiling.tile()->size() != 4 ||
                    std::ranges::any_of(*tiling.tile(), [](std::uint32_t v) { return v == 0; }))
                    return error("kernels[{}] '{}'.tilings[{}].tile: expected 4 positive sizes", i,
                                 name, t);
            }
        }
        if (k.loop_order()) {
            const auto& order = *k.loop_order();
            std::array<bool, 4> seen{};
            for (std::uint32_t d = 0; d < order.size(); ++d) {
                if (order.size() != 4 || order[d] >= 4 || seen[order[d]])
                    return error("kernels[{}] '{}'.loop_order: expected a permutation of 0..3", i,
                                 name);
                seen[order[d]] = true;
            }
        }
        return {};
    }

    // How many inputs each kernel kind takes.
    static std::pair<std::size_t, std::size_t> inputCounts(Operator kind) {
        switch (kind) {
        case Operator::MatMul:
            return {2, 4};
        case Operator::Add:
        case Operator::Sub:
        case Operator::Mul:
        case Operator::Div:
        case Operator::Maximum:
        case Operator::Minimum:
            return {2, 2};
        case Operator::Concat:
            return {1, 64};
        case Operator::LayerNorm:
            return {1, 3};
        case Operator::DepthwiseConv2D:
            return {2, 3};
        default:
            return {1, 1};
        }
    }

    // Vector kernels: the operand views agree with the kind, the iteration space is the
    // output's view (Im2Col: [N, OH, OW, 1]), and the parameters are in range. Together with
    // the region check of every Compute op this keeps the simulator's tile passes in bounds.
    Expected<void> checkVectorShapes(std::uint32_t i, const dfx::Kernel& k) {
        const std::string_view name = k.name()->string_view();
        const Operator kind = dfx::toOperator(k.kind());
        const auto& inputs = *k.inputs();
        const auto& out = views_[k.output()];
        const std::size_t rank = p_.tensors()->Get(k.output())->shape()
                                     ? p_.tensors()->Get(k.output())->shape()->size()
                                     : 0;
        auto params = dfx::toViewParams(kind, dfx::toOpParams(k.params()), rank);
        if (!params)
            return error("kernels[{}] '{}'.params: the axis, permutation or padding does not "
                         "address a dimension of the rank-{} output",
                         i, name, rank);
        const OpParams& p = *params;
        auto bad = [&](std::string_view what) {
            return error("kernels[{}] '{}': {}", i, name, what);
        };
        for (std::uint32_t in : inputs)
            if (!isFloat(dfx::fromDType(p_.tensors()->Get(in)->dtype())))
                return bad("every operand must be a floating-point tensor");
        if (p.kernelH == 0 || p.kernelW == 0 || p.strideH == 0 || p.strideW == 0 ||
            p.dilationH == 0 || p.dilationW == 0 || p.kernelH > 65536 || p.kernelW > 65536)
            return bad("window sizes, strides and dilations must be positive");
        const auto& space = *k.iteration_space();
        const std::array<std::uint64_t, 4> iter{space[0], space[1], space[2], space[3]};
        const auto in0 = views_[inputs[0]];
        const bool pool = kind == Operator::MaxPool2D || kind == Operator::AvgPool2D;
        const std::uint64_t oh = dfx::windowOutputs(in0[1], p.kernelH, p.strideH,
                                                    pool ? 1 : p.dilationH, p.padTop, p.padBottom);
        const std::uint64_t ow = dfx::windowOutputs(in0[2], p.kernelW, p.strideW,
                                                    pool ? 1 : p.dilationW, p.padLeft, p.padRight);
        if (kind == Operator::Im2Col) {
            if (iter != std::array<std::uint64_t, 4>{in0[0], oh, ow, 1} ||
                out != std::array<std::uint64_t, 4>{1, 1, in0[0] * oh * ow,
                                                    std::uint64_t{p.kernelH} * p.kernelW * in0[3]})
                return bad("im2col iteration space or patch matrix does not match the input "
                           "and window");
            return {};
        }
        if (iter != out)
            return bad("the iteration space must be the output's 4-D view");
        switch (kind) {
        case Operator::Transpose:
            for (std::size_t d = 0; d < 4; ++d)
                if (in0[p.perm[d]] != out[d])
                    return bad("the output is not the permuted input");
            return {};
        case Operator::Concat: {
            const auto axis = static_cast<std::size_t>(p.axis);
            std::uint64_t total = 0;
            for (std::uint32_t in : inputs) {
                for (std::size_t d = 0; d < 4; ++d)
                    if (d != axis && views_[in][d] != out[d])
                        return bad("concatenated inputs must match the output off the axis");
                total += views_[in][axis];
            }
            if (total != out[axis])
                return bad("the inputs' extents along the axis do not add up to the output's");
            return {};
        }
        case Operator::Pad:
            for (std::size_t d = 0; d < 4; ++d)
                if (in0[d] + p.padding[2 * d] + p.padding[2 * d + 1] != out[d])
                    return bad("the output is not the padded input");
            return {};
        case Operator::ReduceSum:
        case Operator::ReduceMax:
        case Operator::ReduceMin:
            for (std::size_t d = 0; d < 4; ++d)
                if (out[d] != (d == static_cast<std::size_t>(p.axis) ? 1 : in0[d]))
                    return bad("the output must be the input with the reduced axis of extent 1");
            return {};
        case Operator::MaxPool2D:
        case Operator::AvgPool2D:
        case Operator::DepthwiseConv2D: {
            std::uint64_t channels = in0[3];
            if (kind == Operator::DepthwiseConv2D) {
                const auto& w = views_[inputs[1]];
                if (w[0] != p.kernelH || w[1] != p.kernelW || w[2] != in0[3])
                    return bad("depthwise weights must be [KH, KW, C, M]");
                channels = in0[3] * w[3];
                if (inputs.size() == 3 &&
                    views_[inputs[2]] != std::array<std::uint64_t, 4>{1, 1, 1, channels})
                    return bad("the depthwise bias must have C*M elements");
            }
            if (out != std::array<std::uint64_t, 4>{in0[0], oh, ow, channels})
                return bad("the output dimensions do not follow from the input and window");
            return {};
        }
        default: // elementwise, softmax, layernorm: inputs broadcast to the output
            for (std::uint32_t in : inputs)
                for (std::size_t d = 0; d < 4; ++d)
                    if (views_[in][d] != out[d] && views_[in][d] != 1)
                        return bad("an input does not broadcast to the output");
            return {};
        }
    }

    Expected<void> checkMatMulShapes(std::uint32_t i, const dfx::Kernel& k) {
        const auto& space = *k.iteration_space();
        const std::uint64_t batch = space[0], M = space[1], N = space[2], K = space[3];
        const auto& inputs = *k.inputs();
        const std::string_view name = k.name()->string_view();
        struct Expect {
            std::uint32_t tensor;
            std::uint64_t rows, cols;
            bool batched;
            const char* what;
        };
        const OpParams params = dfx::toOpParams(k.params());
        if (params.biasInput >= 0 &&
            (params.biasInput < 2 || static_cast<std::uint32_t>(params.biasInput) >= inputs.size()))
            return error("kernels[{}] '{}'.params.bias_input: {} is not an input after A and B", i,
                         name, params.biasInput);
        if (params.activation > Activation::Tanh)
            return error("kernels[{}] '{}'.params.activation: unknown value {}", i, name,
                         static_cast<int>(params.activation));
        const bool batchedB = k.input_batched()->Get(1) != 0;
        std::vector<Expect> expects{{inputs[0], M, K, k.input_batched()->Get(0) != 0, "A"},
                                    params.transposeB ? Expect{inputs[1], N, K, batchedB, "B"}
                                                      : Expect{inputs[1], K, N, batchedB, "B"},
                                    {k.output(), M, N, true, "output"}};
        for (std::uint32_t j = 2; j < inputs.size(); ++j) {
            if (static_cast<int>(j) == params.biasInput)
                expects.push_back({inputs[j], 1, N, false, "bias"});
            else if (j == 2)
                expects.push_back({inputs[j], M, N, k.input_batched()->Get(2) != 0, "C"});
            else
                return error("kernels[{}] '{}'.inputs: a matmul takes A, B, an optional C and an "
                             "optional bias",
                             i, name);
        }
        for (const Expect& e : expects) {
            const auto& v = views_[e.tensor];
            const std::uint64_t tensorBatch = v[0] * v[1];
            if (v[2] != e.rows || v[3] != e.cols || tensorBatch != (e.batched ? batch : 1))
                return error("kernels[{}] '{}': {} tensor '{}' has view {}x{}x{}x{}, expected "
                             "batch {} of {}x{}",
                             i, name, e.what, p_.tensors()->Get(e.tensor)->name()->string_view(),
                             v[0], v[1], v[2], v[3], e.batched ? batch : 1, e.rows, e.cols);
            if (!isFloat(dfx::fromDType(p_.tensors()->Get(e.tensor)->dtype())))
                return error("kernels[{}] '{}': {} tensor '{}' is not a floating-point tensor", i,
                             name, e.what, p_.tensors()->Get(e.tensor)->name()->string_view());
        }
        return {};
    }

    static bool regionInside(const dfx::Region& r, const std::array<std::uint64_t, 4>& bounds) {
        for (std::uint32_t d = 0; d < 4; ++d) {
            const std::uint64_t o = r.origin()->Get(d), e = r.extent()->Get(d);
            if (e == 0 || o + e > bounds[d])
                return false;
        }
        return true;
    }

    static std::string regionText(const dfx::Region& r) {
        return fmt::format("origin [{}] extent [{}]", fmt::join(*r.origin(), ","),
                           fmt::join(*r.extent(), ","));
    }

    Expected<void> checkOps() {
        const auto& ops = *p_.ops();
        const std::uint32_t tensorCount = p_.tensors()->size();
        const std::uint32_t kernelCount = p_.kernels()->size();
        for (std::uint32_t i = 0; i < ops.size(); ++i) {
            const dfx::Op& op = *ops.Get(i);
            switch (op.kind()) {
            case dfx::OpKind::DataMove: {
                if (op.move_kind() > MoveKind::MAX)
                    return error("ops[{}].move_kind: unknown value {}", i,
                                 static_cast<int>(op.move_kind()));
                const bool towardsArray =
                    op.move_kind() == MoveKind::Load || op.move_kind() == MoveKind::Prefetch;
                const auto from = op.src_level(), to = op.dst_level();
                const bool adjacent =
                    towardsArray ? (from == MemoryLevel::External && to == MemoryLevel::L3) ||
                                       (from == MemoryLevel::L3 && to == MemoryLevel::L2)
                                 : (from == MemoryLevel::L2 && to == MemoryLevel::L3) ||
                                       (from == MemoryLevel::L3 && to == MemoryLevel::External);
                if (!adjacent)
                    return error("ops[{}]: a {} from level {} to level {} is not a move between "
                                 "adjacent levels in its "
                                 "direction",
                                 i, dfx::moveKindName(op.move_kind()), static_cast<int>(from),
                                 static_cast<int>(to));
                if (op.index() >= tensorCount)
                    return error(
                        "ops[{}].index: tensor index {} out of range (object has {} tensors)", i,
                        op.index(), tensorCount);
                if (!regionInside(op.region(), views_[op.index()]))
                    return error("ops[{}].region: {} is outside tensor '{}' ({}x{}x{}x{})", i,
                                 regionText(op.region()),
                                 p_.tensors()->Get(op.index())->name()->string_view(),
                                 views_[op.index()][0], views_[op.index()][1],
                                 views_[op.index()][2], views_[op.index()][3]);
                break;
            }
            case dfx::OpKind::Compute: {
                if (op.index() >= kernelCount)
                    return error(
                        "ops[{}].index: kernel index {} out of range (object has {} kernels)", i,
                        op.index(), kernelCount);
                if (op.dst_level() != MemoryLevel::L2 || op.src_level() != MemoryLevel::L2)
                    return error(
                        "ops[{}]: compute operands must be in L2 (src_level and dst_level)", i);
                if (op.flags() & ~dfx::kKnownComputeFlags)
                    return error("ops[{}].flags: unknown bits {:#x} (bit 0 accumulate and bit 1 "
                                 "epilogue are defined)",
                                 i, op.flags() & ~dfx::kKnownComputeFlags);
                const dfx::Kernel& kernel = *p_.kernels()->Get(op.index());
                const auto& space = *kernel.iteration_space();
                const std::array<std::uint64_t, 4> bounds{space[0], space[1], space[2], space[3]};
                // A MatMul tile covers one batch element: extent[0] is 1.
                if ((kernel.kind() == dfx::KernelKind::MatMul &&
                     op.region().extent()->Get(0) != 1) ||
                    !regionInside(op.region(), bounds))
                    return error(
                        "ops[{}].region: {} is outside the iteration space of kernel {} [{}]", i,
                        regionText(op.region()), op.index(), fmt::join(space, ","));
                if (auto r = checkOperandRegions(i, op, kernel); !r)
                    return r;
                break;
            }
            case dfx::OpKind::Reserve: {
                if (op.index() >= tensorCount)
                    return error(
                        "ops[{}].index: tensor index {} out of range (object has {} tensors)", i,
                        op.index(), tensorCount);
                const auto& v = views_[op.index()];
                const dfx::Box whole{
                    {0, 0, 0, 0},
                    {static_cast<std::uint32_t>(v[0]), static_cast<std::uint32_t>(v[1]),
                     static_cast<std::uint32_t>(v[2]), static_cast<std::uint32_t>(v[3])}};
                if (p_.tensors()->Get(op.index())->alias_of() >= 0 ||
                    op.dst_level() != MemoryLevel::L3 || dfx::toBox(op.region()) != whole)
                    return error("ops[{}]: a reserve names a whole tensor that owns its storage, "
                                 "at level L3",
                                 i);
                break;
            }
            case dfx::OpKind::Barrier:
                break;
            default:
                return error("ops[{}].kind: unknown value {}", i, static_cast<int>(op.kind()));
            }
        }
        return {};
    }

    // Every operand region a compute tile reads or writes lies inside its tensor.
    Expected<void> checkOperandRegions(std::uint32_t i, const dfx::Op& op,
                                       const dfx::Kernel& kernel) {
        if (shapes_.empty())
            buildShapes();
        const dfx::KernelShape& shape = shapes_[op.index()];
        const dfx::Box tile = dfx::toBox(op.region());
        if (shape.kind != Operator::MatMul) {
            // The simulator's tile passes rely on these: pinned dimensions are whole, and an
            // IM2COL tile is a contiguous run of [N, OH, OW] (it writes consecutive rows).
            const auto pinned = dfx::pinnedDims(shape);
            for (std::size_t d = 0; d < 4; ++d)
                if (pinned[d] && (tile.origin[d] != 0 || tile.extent[d] != shape.iteration[d]))
                    return error("ops[{}]: the tile {} splits dimension {}, which kernel {} ({}) "
                                 "needs whole",
                                 i, regionText(op.region()), d, op.index(),
                                 dfx::kernelKindName(kernel.kind()));
            const auto& e = tile.extent;
            const auto& space = shape.iteration;
            const bool contiguous = (e[2] == space[2] || (e[1] == 1 && e[0] == 1)) &&
                                    (e[1] == space[1] || e[0] == 1 || e[2] != space[2]);
            if (shape.kind == Operator::Im2Col && !contiguous)
                return error("ops[{}]: the im2col tile {} is not a contiguous run of output "
                             "positions",
                             i, regionText(op.region()));
        }
        const auto& inputs = *kernel.inputs();
        for (std::size_t j = 0; j < inputs.size(); ++j)
            if (!dfx::boxInside(dfx::inputBox(shape, j, tile),
                                views_[inputs[static_cast<flatbuffers::uoffset_t>(j)]]))
                return error("ops[{}]: the tile {} reads outside input {} of kernel {}", i,
                             regionText(op.region()), j, op.index());
        if (!dfx::boxInside(dfx::outputBox(shape, tile), views_[kernel.output()]))
            return error("ops[{}]: the tile {} writes outside the output of kernel {}", i,
                         regionText(op.region()), op.index());
        return {};
    }

    void buildShapes() {
        for (const dfx::Kernel* k : *p_.kernels()) {
            dfx::KernelShape shape;
            shape.kind = dfx::toOperator(k->kind());
            const auto* outShape = p_.tensors()->Get(k->output())->shape();
            shape.params = dfx::toViewParams(shape.kind, dfx::toOpParams(k->params()),
                                             outShape ? outShape->size() : 0)
                               .value_or(OpParams{});
            for (std::uint32_t in : *k->inputs())
                shape.inputs.push_back(views_[in]);
            shape.output = views_[k->output()];
            for (std::size_t d = 0; d < 4; ++d)
                shape.iteration[d] =
                    k->iteration_space()->Get(static_cast<flatbuffers::uoffset_t>(d));
            shape.inputBatched.assign(k->input_batched()->begin(), k->input_batched()->end());
            shapes_.push_back(std::move(shape));
        }
    }

    Expected<void> checkGraph() {
        if (!p_.graph())
            return error("graph: missing (the reference executor needs the source graph)");
        const std::uint32_t tensorCount = p_.tensors()->size();
        for (std::uint32_t i = 0; i < p_.graph()->size(); ++i) {
            const dfx::GraphNode& n = *p_.graph()->Get(i);
            if (static_cast<int>(n.kind()) >= kOperatorCount)
                return error("graph[{}].kind: unknown value {}", i, static_cast<int>(n.kind()));
            if (n.output() >= tensorCount)
                return error("graph[{}].output: tensor index {} out of range", i, n.output());
            if (n.inputs())
                for (std::uint32_t in : *n.inputs())
                    if (in >= tensorCount)
                        return error("graph[{}].inputs: tensor index {} out of range", i, in);
        }
        return {};
    }

    // The source graph's inputs and outputs (graph_inputs, graph_outputs) and the inputs fixed
    // at compile time (static_inputs): indices in range and of the right role, names and
    // positions unique, values exactly the size their type needs.
    Expected<void> checkSignature() {
        const auto& tensors = *p_.tensors();
        const auto checkList = [&](const flatbuffers::Vector<std::uint32_t>* list,
                                   std::string_view field, dfx::TensorRole role,
                                   std::string_view roleName) -> Expected<void> {
            if (!list)
                return {};
            std::set<std::uint32_t> seen;
            for (std::uint32_t i = 0; i < list->size(); ++i) {
                const std::uint32_t t = list->Get(i);
                if (t >= tensors.size())
                    return error("{}[{}]: tensor index {} out of range (object has {} tensors)",
                                 field, i, t, tensors.size());
                if (tensors.Get(t)->role() != role)
                    return error("{}[{}]: tensor {} '{}' is not an {} tensor", field, i, t,
                                 tensors.Get(t)->name()->string_view(), roleName);
                if (!seen.insert(t).second)
                    return error("{}[{}]: tensor {} is listed twice", field, i, t);
            }
            return {};
        };
        if (auto r = checkList(p_.graph_inputs(), "graph_inputs", dfx::TensorRole::Input, "Input");
            !r)
            return r;
        if (auto r =
                checkList(p_.graph_outputs(), "graph_outputs", dfx::TensorRole::Output, "Output");
            !r)
            return r;
        if (!p_.static_inputs())
            return {};
        std::set<std::string_view> names;
        for (const dfx::Tensor* t : tensors)
            names.insert(t->name()->string_view());
        std::set<std::uint32_t> positions;
        const std::uint64_t inputCount =
            (p_.graph_inputs() ? p_.graph_inputs()->size() : 0) + p_.static_inputs()->size();
        for (std::uint32_t i = 0; i < p_.static_inputs()->size(); ++i) {
            const dfx::StaticInput& s = *p_.static_inputs()->Get(i);
            const std::string_view name = s.name()->string_view();
            if (name.empty() || !names.insert(name).second)
                return error("static_inputs[{}].name: '{}' is empty or not unique", i, name);
            if (s.position() >= inputCount || !positions.insert(s.position()).second)
                return error("static_inputs[{}] '{}'.position: {} is repeated or beyond the {} "
                             "graph inputs",
                             i, name, s.position(), inputCount);
            if (s.dtype() > dfx::DType::MAX)
                return error("static_inputs[{}] '{}'.dtype: unknown value {}", i, name,
                             static_cast<int>(s.dtype()));
            const std::span<const std::int64_t> shape(s.shape() ? s.shape()->data() : nullptr,
                                                      s.shape() ? s.shape()->size() : 0);
            if (shape.size() > 16 ||
                std::ranges::any_of(shape, [](std::int64_t d) { return d <= 0; }))
                return error("static_inputs[{}] '{}'.shape: {} is not a shape of positive "
                             "dimensions of rank at most 16",
                             i, name, formatShape(shape));
            const auto bytes = byteSize(shape, dtypeSize(dfx::fromDType(s.dtype())));
            const std::size_t have = s.data() ? s.data()->size() : 0;
            if (!bytes || *bytes != have)
                return error("static_inputs[{}] '{}'.data: {} bytes; a {}{} value has {}", i, name,
                             have, formatShape(shape), dtypeName(dfx::fromDType(s.dtype())),
                             bytes ? fmt::format("{}", *bytes) : std::string("too many"));
        }
        return {};
    }

    Expected<void> checkDependencies() {
        const auto& offsets = *p_.dep_offsets();
        const auto& indices = *p_.dep_indices();
        const std::uint32_t opCount = p_.ops()->size();
        if (offsets.size() != std::uint64_t{opCount} + 1)
            return error("dep_offsets: expected {} entries (ops + 1), got {}",
                         std::uint64_t{opCount} + 1, offsets.size());
        if (offsets[0] != 0)
            return error("dep_offsets[0]: expected 0, got {}", offsets[0]);
        for (std::uint32_t i = 0; i < opCount; ++i)
            if (offsets[i + 1] < offsets[i])
                return error("dep_offsets[{}]: {} is smaller than the previous offset {}", i + 1,
                             offsets[i + 1], offsets[i]);
        if (offsets[opCount] != indices.size())
            return error("dep_offsets[{}]: expected {} (the size of dep_indices), got {}", opCount,
                         indices.size(), offsets[opCount]);
        for (std::uint32_t d = 0; d < indices.size(); ++d)
            if (indices[d] >= expandedOps_)
                return error("dep_indices[{}]: op index {} out of range (object has {} ops)", d,
                             indices[d], expandedOps_);
        if (auto r = checkAcyclic(); !r)
            return r;
        // Program order must be a topological order: the loader executes ops in it. (Generated
        // ops depend only on earlier ops by construction.)
        for (std::uint32_t i = 0; i < opCount; ++i)
            for (std::uint32_t d = offsets[i]; d < offsets[i + 1]; ++d)
                if (indices[d] >= positionOf(i))
                    return error("ops[{}]{}: depends on op {}, which does not come before it "
                                 "(program order must be a topological order)",
                                 i,
                                 positionOf(i) == i
                                     ? std::string()
                                     : fmt::format(" (op {} of the program)", positionOf(i)),
                                 indices[d]);
        return {};
    }

    // Iterative three-colour DFS; reports one cycle as a path of op indices.
    Expected<void> checkAcyclic() {
        const auto& offsets = *p_.dep_offsets();
        const auto& indices = *p_.dep_indices();
        const std::uint32_t n = p_.ops()->size();
        std::vector<std::uint8_t> colour(n, 0);                     // 0 new, 1 on stack, 2 done
        std::vector<std::pair<std::uint32_t, std::uint32_t>> stack; // (op, next dep position)
        for (std::uint32_t root = 0; root < n; ++root) {
            if (colour[root])
                continue;
            stack.emplace_back(root, offsets[root]);
            colour[root] = 1;
            while (!stack.empty()) {
                auto& [op, pos] = stack.back();
                if (pos == offsets[op + 1]) {
                    colour[op] = 2;
                    stack.pop_back();
                    continue;
                }
                // A generated op is never on a cycle through stored ops that the program-order
                // check would not refuse; only stored ops are followed.
                const auto stored = storedAt(indices[pos++]);
                if (!stored)
                    continue;
                const std::uint32_t next = *stored;
                if (colour[next] == 1) {
                    std::vector<std::uint32_t> cycle;
                    auto it =
                        std::ranges::find_if(stack, [&](const auto& f) { return f.first == next; });
                    for (; it != stack.end(); ++it)
                        cycle.push_back(positionOf(it->first));
                    cycle.push_back(positionOf(next));
                    return error("dependency cycle: ops {}", fmt::join(cycle, " -> "));
                }
                if (colour[next] == 0) {
                    colour[next] = 1;
                    stack.emplace_back(next, offsets[next]);
                }
            }
        }
        return {};
    }

    const dfx::Program& p_;
    std::string_view source_;
    std::vector<std::array<std::uint64_t, 4>> views_;
    std::vector<dfx::KernelShape> shapes_;
    std::uint64_t expandedOps_ = 0;  // ops of the program once TileLoops kernels are expanded
    std::uint64_t expandedDeps_ = 0; // and their dependencies
    std::uint64_t tileLoopsEnd_ = 0; // end of the last TileLoops kernel's ops so far
    std::vector<std::pair<std::uint32_t, std::uint32_t>> tileLoopRanges_; // (first_op, op_count)
    std::vector<std::uint32_t> storedPosition_; // per stored op; empty: the identity
};

} // namespace

Expected<void> verifySemantics(const dfx::Program& program, std::string_view sourceName) {
    return SemanticVerifier(program, sourceName).run();
}

Expected<const dfx::Program*> verifyObject(std::span<const std::uint8_t> bytes,
                                           std::string_view sourceName) {
    auto program = dfx::verifyStructure(bytes, sourceName);
    if (!program)
        return program;
    if (auto r = verifySemantics(**program, sourceName); !r)
        return std::unexpected(r.error());
    return program;
}

} // namespace kpu::loader
