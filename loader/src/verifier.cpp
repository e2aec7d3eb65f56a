#include "kpu/loader/verifier.h"

#include <algorithm>
#include <set>
#include <string>

#include "kpu/common/shape.h"
#include "kpu/schema/kernel_regions.h"

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
        if (auto r = checkTensors(); !r)
            return r;
        if (auto r = checkKernels(); !r)
            return r;
        if (auto r = checkOps(); !r)
            return r;
        return checkDependencies();
    }

private:
    template <class... Args>
    std::unexpected<Error> error(fmt::format_string<Args...> format, Args&&... args) const {
        return std::unexpected(Error{fmt::format(
            "{}: error: {}", source_, fmt::format(format, std::forward<Args>(args)...))});
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
        }
        return {};
    }

    Expected<void> checkKernels() {
        const auto& kernels = *p_.kernels();
        const std::uint32_t tensorCount = p_.tensors()->size();
        const std::uint32_t opCount = p_.ops()->size();
        for (std::uint32_t i = 0; i < kernels.size(); ++i) {
            const dfx::Kernel& k = *kernels.Get(i);
            const std::string_view name = k.name()->string_view();
            if (k.kind() != dfx::KernelKind::MatMul)
                return error("kernels[{}] '{}'.kind: unknown value {}", i, name,
                             static_cast<int>(k.kind()));
            const auto& inputs = *k.inputs();
            if (inputs.size() < 2 || inputs.size() > 3)
                return error("kernels[{}] '{}'.inputs: a matmul takes 2 or 3 inputs, got {}", i,
                             name, inputs.size());
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
            if (auto r = checkMatMulShapes(i, k); !r)
                return r;
            if (auto r = checkTilingAndOrder(i, k); !r)
                return r;
            if (k.dataflow() > dfx::Dataflow::MAX)
                return error("kernels[{}] '{}'.dataflow: unknown value {}", i, name,
                             static_cast<int>(k.dataflow()));
            if (std::uint64_t{k.first_op()} + k.op_count() > opCount)
                return error("kernels[{}] '{}': ops [{}, +{}) exceed the {} ops of the object", i,
                             name, k.first_op(), k.op_count(), opCount);
        }
        return {};
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
        std::vector<Expect> expects{{inputs[0], M, K, k.input_batched()->Get(0) != 0, "A"},
                                    {inputs[1], K, N, k.input_batched()->Get(1) != 0, "B"},
                                    {k.output(), M, N, true, "output"}};
        if (inputs.size() == 3)
            expects.push_back({inputs[2], M, N, k.input_batched()->Get(2) != 0, "C"});
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
                if (op.flags() & ~1u)
                    return error(
                        "ops[{}].flags: unknown bits {:#x} (only bit 0, accumulate, is defined)", i,
                        op.flags() & ~1u);
                const auto& space = *p_.kernels()->Get(op.index())->iteration_space();
                const std::array<std::uint64_t, 4> bounds{space[0], space[1], space[2], space[3]};
                // A MatMul tile covers one batch element: extent[0] is 1.
                if (op.region().extent()->Get(0) != 1 || !regionInside(op.region(), bounds))
                    return error(
                        "ops[{}].region: {} is outside the iteration space of kernel {} [{}]", i,
                        regionText(op.region()), op.index(), fmt::join(space, ","));
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
            if (indices[d] >= opCount)
                return error("dep_indices[{}]: op index {} out of range (object has {} ops)", d,
                             indices[d], opCount);
        if (auto r = checkAcyclic(); !r)
            return r;
        // Program order must be a topological order: the loader executes ops in it.
        for (std::uint32_t i = 0; i < opCount; ++i)
            for (std::uint32_t d = offsets[i]; d < offsets[i + 1]; ++d)
                if (indices[d] >= i)
                    return error("ops[{}]: depends on op {}, which does not come before it "
                                 "(program order must be a "
                                 "topological order)",
                                 i, indices[d]);
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
                const std::uint32_t next = indices[pos++];
                if (colour[next] == 1) {
                    std::vector<std::uint32_t> cycle;
                    auto it =
                        std::ranges::find_if(stack, [&](const auto& f) { return f.first == next; });
                    for (; it != stack.end(); ++it)
                        cycle.push_back(it->first);
                    cycle.push_back(next);
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
