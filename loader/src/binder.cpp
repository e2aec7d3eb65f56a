#include "kpu/loader/binder.h"

#include <algorithm>
#include <map>
#include <optional>
#include <tuple>

#include "kpu/common/shape.h"
#include "kpu/schema/kernel_regions.h"
#include "kpu/simulator/timing.h"
#include "kpu/simulator/vector_kernels.h"
#include "next_fit_allocator.h"

namespace kpu::loader {
namespace {

using dfx::MemoryLevel;
using sim::Level;

constexpr std::uint64_t kAlignment = 64;
// A bound op takes 240 bytes; 20 M of them (a 4096^3 matmul needs 10.5 M) is 4.8 GB of host memory.
constexpr std::size_t kMaxBoundOps = 20'000'000;

Level toLevel(MemoryLevel level) {
    return static_cast<Level>(level);
}

std::string formatBytes(std::uint64_t bytes) {
    if (bytes >= (1ull << 30))
        return fmt::format("{:.1f} GiB",
                           static_cast<double>(bytes) / static_cast<double>(1ull << 30));
    if (bytes >= (1ull << 20))
        return fmt::format("{:.1f} MiB",
                           static_cast<double>(bytes) / static_cast<double>(1ull << 20));
    if (bytes >= (1ull << 10))
        return fmt::format("{:.1f} KiB",
                           static_cast<double>(bytes) / static_cast<double>(1ull << 10));
    return fmt::format("{} B", bytes);
}

std::array<std::uint64_t, 4> packedStrides(const std::array<std::uint32_t, 4>& extent,
                                           std::uint64_t elementBytes) {
    return {std::uint64_t{extent[1]} * extent[2] * extent[3] * elementBytes,
            std::uint64_t{extent[2]} * extent[3] * elementBytes,
            std::uint64_t{extent[3]} * elementBytes, elementBytes};
}

std::array<std::uint32_t, 4> toArray(const flatbuffers::Array<std::uint32_t, 4>& a) {
    return {a[0], a[1], a[2], a[3]};
}

// Identity of a tile: which tensor, which region, at which level.
using TileKey = std::tuple<std::uint8_t, std::uint32_t, std::array<std::uint32_t, 4>,
                           std::array<std::uint32_t, 4>>;

struct TensorInfo {
    std::array<std::uint64_t, 4> view{};
    std::uint32_t elementBytes = 4;
    DType dtype = DType::F32;
    std::uint64_t bytes = 0;
    std::string name;
    std::uint32_t root = 0; // the tensor whose storage this one shares (itself when not an alias)
    std::size_t rank = 0;
};

// A residency: one copy of one tile at one on-chip level, from creation to last use.
struct Residency {
    Level level = Level::L2;
    std::uint32_t tensor = 0;
    std::array<std::uint32_t, 4> extent{};
    std::uint32_t lastUse = 0; // DFX op index
    std::uint64_t address = 0; // level-global, set when bound
    bool bound = false;
    // A whole on-chip tensor (a Reserve op): addressed in the tensor's own row-major layout,
    // by every alias of it; moves into or out of it wait for the reservation.
    bool whole = false;
    std::uint32_t reservedBy = 0; // bound op that completes the reservation
    // Bound moves into or out of a whole residency. They run on different engines, so the
    // space is free only when all of them are done, not just the last one in program order.
    std::vector<std::uint32_t> accesses;
};

// The residencies one DFX op touches. For moves: src (on-chip source) and dst (created, or a
// whole on-chip tensor written in place). For compute: MatMul A, B, init (Cin or the running
// output), bias, out; vector kernels: inputs, out.
struct OpResidencies {
    std::optional<std::uint32_t> src, dst;
    bool dstCreated = false;
    std::optional<std::uint32_t> a, b, init, bias, out;
    std::vector<std::uint32_t> inputs;
    bool createsOut = false;
};

class Binder {
public:
    Binder(const dfx::Program& program, const KpuConfig& config, std::string_view sourceName)
        : p_(program), config_(config), source_(sourceName) {}

    Expected<sim::Schedule> run() {
        setUpGeometry();
        if (auto r = placeTensors(); !r)
            return std::unexpected(r.error());
        buildKernelShapes();
        if (auto r = resolveResidencies(); !r)
            return std::unexpected(r.error());
        if (auto r = bindOps(); !r)
            return std::unexpected(r.error());
        return std::move(schedule_);
    }

private:
    // ---- geometry -------------------------------------------------------------------------
    void setUpGeometry() {
        schedule_.memories[0] = {config_.external.bankCount, config_.external.bankCapacity};
        schedule_.memories[1] = {config_.l3.tileCount, config_.l3.tileCapacity};
        schedule_.memories[2] = {config_.l2.bankCount, config_.l2.bankCapacity};
        schedule_.memories[3] = {config_.l1.bufferCount, config_.l1.bufferCapacity};
        schedule_.engineCounts = {config_.movement.dmaEngineCount, config_.movement.blockMoverCount,
                                  config_.movement.streamerCount, config_.compute.tileCount};
        for (int level = 1; level < sim::kLevelCount; ++level) {
            const auto& g = schedule_.memories[static_cast<std::size_t>(level)];
            allocators_.emplace_back(g.count * g.capacity, kAlignment);
        }
    }

    NextFitAllocator& allocatorFor(Level level) {
        return allocators_[static_cast<std::size_t>(level) - 1];
    }

    std::uint64_t levelCapacity(Level level) const {
        const auto& g = schedule_.memories[static_cast<std::size_t>(level)];
        return g.count * g.capacity;
    }

    // ---- external memory ------------------------------------------------------------------
    // Tensors are spread over the external banks (each goes to the bank with the most free
    // space), so the DMA engines serving different banks share the traffic. A tensor larger
    // than a bank may straddle banks only as a last resort, in one contiguous range.
    Expected<void> placeTensors() {
        const std::uint64_t bankCapacity = config_.external.bankCapacity;
        const std::uint32_t banks = config_.external.bankCount;
        std::vector<std::uint64_t> used(banks, 0); // bytes taken from the start of each bank
        auto alignUp = [](std::uint64_t v) {
            return (v + kAlignment - 1) / kAlignment * kAlignment;
        };
        for (const dfx::Tensor* t : *p_.tensors()) {
            TensorInfo info;
            info.name = t->name()->str();
            info.dtype = dfx::fromDType(t->dtype());
            info.elementBytes = dtypeSize(info.dtype);
            const std::span<const std::int64_t> shape(t->shape() ? t->shape()->data() : nullptr,
                                                      t->shape() ? t->shape()->size() : 0);
            info.view = canonicalView4(shape).value_or(std::array<std::uint64_t, 4>{1, 1, 1, 1});
            info.bytes = byteSize(shape, info.elementBytes).value_or(0);
            info.rank = shape.size();
            info.root = static_cast<std::uint32_t>(tensors_.size());
            if (t->alias_of() >= 0) { // a view of an earlier tensor's storage: no space of its own
                info.root = static_cast<std::uint32_t>(t->alias_of());
                schedule_.tensors.push_back(
                    sim::TensorPlacement{.name = info.name,
                                         .offset = schedule_.tensors[info.root].offset,
                                         .bytes = info.bytes});
                tensors_.push_back(std::move(info));
                continue;
            }
            std::optional<std::uint32_t> bank;
            for (std::uint32_t b = 0; b < banks; ++b) {
                const std::uint64_t start = alignUp(used[b]);
                if (start <= bankCapacity && info.bytes <= bankCapacity - start &&
                    (!bank || used[b] < used[*bank]))
                    bank = b;
            }
            std::uint64_t offset = 0;
            if (bank) {
                offset = std::uint64_t{*bank} * bankCapacity + alignUp(used[*bank]);
                used[*bank] = offset - std::uint64_t{*bank} * bankCapacity + info.bytes;
            } else {
                // Straddle: start in the last bank that still has room and run into the next ones,
                // which must be empty.
                auto start = straddlePlacement(used, info.bytes);
                if (!start) {
                    std::uint64_t freeBytes = 0;
                    for (std::uint64_t u : used)
                        freeBytes += bankCapacity - std::min(bankCapacity, alignUp(u));
                    return fail("{}: error: tensor '{}' needs {} of external memory; the config "
                                "has {} bank(s) of {} "
                                "and {} is still free",
                                source_, info.name, formatBytes(info.bytes), banks,
                                formatBytes(bankCapacity), formatBytes(freeBytes));
                }
                offset = *start;
            }
            schedule_.tensors.push_back(
                sim::TensorPlacement{.name = info.name, .offset = offset, .bytes = info.bytes});
            tensors_.push_back(std::move(info));
        }
        return {};
    }

    // A contiguous range for `bytes` that starts after bank b's data and runs through empty banks.
    std::optional<std::uint64_t> straddlePlacement(std::vector<std::uint64_t>& used,
                                                   std::uint64_t bytes) const {
        const std::uint64_t bankCapacity = config_.external.bankCapacity;
        for (std::uint32_t b = 0; b < used.size(); ++b) {
            const std::uint64_t start = std::uint64_t{b} * bankCapacity +
                                        (used[b] + kAlignment - 1) / kAlignment * kAlignment;
            const std::uint64_t end = start + bytes; // cannot overflow: tensors are < 2^48 bytes
            const std::uint64_t total = bankCapacity * used.size();
            if (end > total)
                return std::nullopt;
            bool clear = true;
            for (std::uint32_t later = b + 1;
                 later < used.size() && std::uint64_t{later} * bankCapacity < end; ++later)
                clear = clear && used[later] == 0;
            if (!clear)
                continue;
            for (std::uint32_t touched = b;
                 touched < used.size() && std::uint64_t{touched} * bankCapacity < end; ++touched)
                used[touched] = std::min(bankCapacity, end - std::uint64_t{touched} * bankCapacity);
            return start;
        }
        return std::nullopt;
    }

    std::array<std::uint64_t, 4> tensorStrides(std::uint32_t tensor) const {
        const TensorInfo& t = tensors_[tensor];
        const std::uint64_t e = t.elementBytes;
        return {t.view[1] * t.view[2] * t.view[3] * e, t.view[2] * t.view[3] * e, t.view[3] * e, e};
    }

    std::uint64_t offsetInTensor(std::uint32_t tensor,
                                 const std::array<std::uint32_t, 4>& origin) const {
        const auto s = tensorStrides(tensor);
        return origin[0] * s[0] + origin[1] * s[1] + origin[2] * s[2] + origin[3] * s[3];
    }

    std::uint64_t externalAddress(std::uint32_t tensor,
                                  const std::array<std::uint32_t, 4>& origin) const {
        return schedule_.tensors[tensor].offset + offsetInTensor(tensor, origin);
    }

    // ---- pass 1: which tile copy each op reads and writes, and when each copy is last used ---
    std::string opLabel(std::uint32_t i) const {
        return fmt::format("{}: error: ops[{}]", source_, i);
    }

    std::uint32_t createResidency(Level level, std::uint32_t tensor, const dfx::Region& region,
                                  std::uint32_t op) {
        const TileKey key{static_cast<std::uint8_t>(level), tensor, toArray(*region.origin()),
                          toArray(*region.extent())};
        Residency r;
        r.level = level;
        r.tensor = tensor;
        r.extent = toArray(*region.extent());
        r.lastUse = op;
        residencies_.push_back(std::move(r));
        const auto id = static_cast<std::uint32_t>(residencies_.size() - 1);
        resident_[key] = id;
        return id;
    }

    Expected<std::uint32_t> useResidency(Level level, std::uint32_t tensor,
                                         const dfx::Region& region, std::uint32_t op) {
        const TileKey key{static_cast<std::uint8_t>(level), tensor, toArray(*region.origin()),
                          toArray(*region.extent())};
        auto it = resident_.find(key);
        if (it == resident_.end()) {
            const auto o = toArray(*region.origin());
            const auto e = toArray(*region.extent());
            return fail("{}: tile [{},{},{},{}]+[{},{},{},{}] of tensor '{}' is not resident in {} "
                        "(no earlier op "
                        "brought it there, or it was flushed)",
                        opLabel(op), o[0], o[1], o[2], o[3], e[0], e[1], e[2], e[3],
                        tensors_[tensor].name, sim::levelName(level));
        }
        residencies_[it->second].lastUse = op;
        return it->second;
    }

    void endResidency(Level level, std::uint32_t tensor, const dfx::Region& region) {
        resident_.erase(TileKey{static_cast<std::uint8_t>(level), tensor, toArray(*region.origin()),
                                toArray(*region.extent())});
    }

    // The on-chip whole-tensor residency holding `tensor` (through its root) at `level`.
    std::optional<std::uint32_t> wholeResidency(Level level, std::uint32_t tensor) const {
        if (level != Level::L3)
            return std::nullopt;
        const auto it = whole_.find(tensors_[tensor].root);
        if (it == whole_.end())
            return std::nullopt;
        return it->second;
    }

    Expected<void> resolveResidencies() {
        const auto& ops = *p_.ops();
        touched_.resize(ops.size());
        for (std::uint32_t i = 0; i < ops.size(); ++i) {
            const dfx::Op& op = *ops.Get(i);
            OpResidencies& r = touched_[i];
            if (op.kind() == dfx::OpKind::Reserve) {
                const std::uint32_t root = tensors_[op.index()].root;
                const std::uint32_t id = createResidency(Level::L3, root, op.region(), i);
                residencies_[id].whole = true;
                whole_[root] = id;
                r.dst = id;
                r.dstCreated = true;
            } else if (op.kind() == dfx::OpKind::DataMove) {
                const Level from = toLevel(op.src_level()), to = toLevel(op.dst_level());
                if (auto w = wholeResidency(from, op.index())) {
                    residencies_[*w].lastUse = i;
                    r.src = *w;
                } else if (from != Level::External) {
                    auto src = useResidency(from, op.index(), op.region(), i);
                    if (!src)
                        return std::unexpected(src.error());
                    r.src = *src;
                    if (op.move_kind() == dfx::MoveKind::Flush)
                        endResidency(from, op.index(), op.region());
                }
                if (auto w = wholeResidency(to, op.index())) {
                    residencies_[*w].lastUse = i;
                    r.dst = *w;
                } else if (to != Level::External) {
                    r.dst = createResidency(to, op.index(), op.region(), i);
                    r.dstCreated = true;
                }
            } else if (op.kind() == dfx::OpKind::Compute) {
                if (auto res = resolveCompute(op, i, r); !res)
                    return res;
            }
        }
        return {};
    }

    // What the region functions need to know of each kernel (built once per kernel).
    void buildKernelShapes() {
        for (const dfx::Kernel* k : *p_.kernels()) {
            const Operator kind = dfx::toOperator(k->kind());
            dfx::KernelShape shape;
            shape.kind = kind;
            // The verifier has checked the parameters convert.
            shape.params =
                dfx::toViewParams(kind, dfx::toOpParams(k->params()), tensors_[k->output()].rank)
                    .value_or(OpParams{});
            for (std::uint32_t in : *k->inputs())
                shape.inputs.push_back(tensors_[in].view);
            shape.output = tensors_[k->output()].view;
            const auto& space = *k->iteration_space();
            for (std::size_t d = 0; d < 4 && d < space.size(); ++d)
                shape.iteration[d] = space[static_cast<flatbuffers::uoffset_t>(d)];
            if (k->input_batched())
                shape.inputBatched.assign(k->input_batched()->begin(), k->input_batched()->end());
            kernelShapes_.push_back(std::move(shape));
        }
    }

    Expected<void> resolveCompute(const dfx::Op& op, std::uint32_t i, OpResidencies& r) {
        const dfx::Kernel& kernel = *p_.kernels()->Get(op.index());
        const dfx::KernelShape& shape = kernelShapes_[op.index()];
        const dfx::Box tile = dfx::toBox(op.region());
        const auto& inputs = *kernel.inputs();
        auto use = [&](std::size_t input) {
            return useResidency(Level::L2, inputs[static_cast<flatbuffers::uoffset_t>(input)],
                                dfx::toRegion(dfx::inputBox(shape, input, tile)), i);
        };
        const dfx::Region outRegion = dfx::toRegion(dfx::outputBox(shape, tile));
        if (shape.kind != Operator::MatMul) {
            for (std::size_t in = 0; in < inputs.size(); ++in) {
                auto res = use(in);
                if (!res)
                    return std::unexpected(res.error());
                r.inputs.push_back(*res);
            }
            r.out = createResidency(Level::L2, kernel.output(), outRegion, i);
            r.createsOut = true;
            return {};
        }
        auto a = use(0);
        if (!a)
            return std::unexpected(a.error());
        auto b = use(1);
        if (!b)
            return std::unexpected(b.error());
        r.a = *a;
        r.b = *b;
        const int biasInput = shape.params.biasInput;
        if (biasInput >= 0 && (op.flags() & dfx::kEpilogueFlag)) {
            auto bias = use(static_cast<std::size_t>(biasInput));
            if (!bias)
                return std::unexpected(bias.error());
            r.bias = *bias;
        }
        if (op.flags() & dfx::kAccumulateFlag) {
            auto out = useResidency(Level::L2, kernel.output(), outRegion, i);
            if (!out)
                return std::unexpected(out.error());
            r.init = r.out = *out;
            return {};
        }
        if (inputs.size() >= 3 && biasInput != 2) {
            auto init = use(2);
            if (!init)
                return std::unexpected(init.error());
            r.init = *init;
        }
        r.out = createResidency(Level::L2, kernel.output(), outRegion, i);
        r.createsOut = true;
        return {};
    }

    // ---- pass 2: addresses, engines, L1 expansion ------------------------------------------
    std::uint64_t residencyBytes(const Residency& r) const {
        return std::uint64_t{r.extent[0]} * r.extent[1] * r.extent[2] * r.extent[3] *
               tensors_[r.tensor].elementBytes;
    }

    Expected<void> bindResidency(std::uint32_t id, std::uint32_t op,
                                 std::vector<std::uint32_t>& warDeps) {
        Residency& r = residencies_[id];
        NextFitAllocator& alloc = allocatorFor(r.level);
        const std::uint64_t bytes = residencyBytes(r);
        auto address = alloc.allocate(bytes, warDeps);
        if (!address)
            return fail(
                "{}: a {} tile of tensor '{}' does not fit in {}: {} live tiles hold {} of its {}; "
                "the "
                "object's tiling is too large for this configuration (recompile with --config)",
                opLabel(op), formatBytes(bytes), tensors_[r.tensor].name, sim::levelName(r.level),
                alloc.liveBlocks(), formatBytes(alloc.liveBytes()), formatBytes(alloc.capacity()));
        r.address = *address;
        r.bound = true;
        return {};
    }

    std::uint32_t memoryIndex(Level level, std::uint64_t address) const {
        return static_cast<std::uint32_t>(
            address / schedule_.memories[static_cast<std::size_t>(level)].capacity);
    }

    // The engine that performs a move between `from` and `to`, chosen by the memory it serves.
    std::pair<sim::EngineKind, std::uint32_t> moverFor(Level from, Level to, std::uint64_t fromAddr,
                                                       std::uint64_t toAddr) const {
        const Level farther = std::min(from, to);
        const std::uint64_t fartherAddr = from == farther ? fromAddr : toAddr;
        switch (farther) {
        case Level::External:
            return {sim::EngineKind::Dma,
                    memoryIndex(Level::External, fartherAddr) % config_.movement.dmaEngineCount};
        case Level::L3:
            return {sim::EngineKind::BlockMover,
                    memoryIndex(Level::L3, fartherAddr) % config_.movement.blockMoverCount};
        default:
            return {sim::EngineKind::Streamer,
                    memoryIndex(Level::L2, fartherAddr) % config_.movement.streamerCount};
        }
    }

    sim::BoundOp makeMove(std::uint32_t sourceOp, const sim::Address& src,
                          const std::array<std::uint64_t, 4>& srcStrides, const sim::Address& dst,
                          const std::array<std::uint64_t, 4>& dstStrides,
                          const std::array<std::uint32_t, 4>& extent,
                          std::uint32_t elementBytes) const {
        sim::BoundOp op;
        op.type = sim::OpType::Move;
        op.sourceOp = sourceOp;
        op.move = sim::MoveOp{.src = src,
                              .dst = dst,
                              .srcStrides = srcStrides,
                              .dstStrides = dstStrides,
                              .extent = extent,
                              .elementBytes = elementBytes};
        op.bytes = std::uint64_t{extent[0]} * extent[1] * extent[2] * extent[3] * elementBytes;
        std::tie(op.engine, op.engineIndex) =
            moverFor(src.level, dst.level, src.offset, dst.offset);
        op.cycles = sim::moveCycles(config_, src.level, dst.level, op.bytes);
        return op;
    }

    // Dependencies of DFX op i, as bound-op indices.
    void dfxDeps(std::uint32_t i, std::vector<std::uint32_t>& out) const {
        const auto& offsets = *p_.dep_offsets();
        for (std::uint32_t d = offsets[i]; d < offsets[i + 1]; ++d)
            out.push_back(completion_[p_.dep_indices()->Get(d)]);
    }

    void releaseDead(std::uint32_t i, std::uint32_t lastReader) {
        for (std::uint32_t id : dyingAt_[i]) {
            Residency& r = residencies_[id];
            if (!r.bound)
                continue;
            std::uint32_t freeAfter = lastReader;
            if (r.whole && !r.accesses.empty()) {
                sim::BoundOp join;
                join.sourceOp = i;
                freeAfter = schedule_.add(join, r.accesses);
            }
            allocatorFor(r.level).release(r.address, freeAfter);
        }
    }

    Expected<void> bindOps() {
        const auto& ops = *p_.ops();
        dyingAt_.resize(ops.size());
        for (std::uint32_t id = 0; id < residencies_.size(); ++id)
            dyingAt_[residencies_[id].lastUse].push_back(id);
        completion_.resize(ops.size());

        std::vector<std::uint32_t> deps;
        for (std::uint32_t i = 0; i < ops.size(); ++i) {
            const dfx::Op& op = *ops.Get(i);
            deps.clear();
            dfxDeps(i, deps);
            Expected<void> r;
            switch (op.kind()) {
            case dfx::OpKind::Barrier: {
                sim::BoundOp barrier;
                barrier.sourceOp = i;
                completion_[i] = schedule_.add(barrier, deps);
                break;
            }
            case dfx::OpKind::Reserve:
                r = bindReserve(i, deps);
                break;
            case dfx::OpKind::DataMove:
                r = bindMove(op, i, deps);
                break;
            default:
                r = kernelShapes_[op.index()].kind == Operator::MatMul ? bindMatMul(op, i, deps)
                                                                       : bindVector(op, i, deps);
                break;
            }
            if (!r)
                return r;
            releaseDead(i, completion_[i]);
            if (schedule_.ops.size() > kMaxBoundOps)
                return fail(
                    "{}: the bound schedule exceeds {} ops at DFX op {} of {}; the program is too "
                    "large to simulate at L1 granularity",
                    opLabel(i), kMaxBoundOps, i, ops.size());
        }
        return {};
    }

    // Space for a whole on-chip tensor; the barrier it becomes completes when the space is free
    // (its write-after-read dependencies), and every move into or out of it waits for it.
    Expected<void> bindReserve(std::uint32_t i, std::vector<std::uint32_t>& deps) {
        const std::uint32_t id = *touched_[i].dst;
        if (auto b = bindResidency(id, i, deps); !b)
            return b;
        sim::BoundOp barrier;
        barrier.sourceOp = i;
        completion_[i] = residencies_[id].reservedBy = schedule_.add(barrier, deps);
        return {};
    }

    // Where a move reads or writes `tensor` at `origin`: in external memory or a whole on-chip
    // tensor, the tensor's own layout; in a tile copy, the packed tile.
    std::pair<sim::Address, std::array<std::uint64_t, 4>>
    moveEnd(Level level, std::optional<std::uint32_t> residency, std::uint32_t tensor,
            const std::array<std::uint32_t, 4>& origin, const std::array<std::uint32_t, 4>& extent,
            std::vector<std::uint32_t>& deps) const {
        if (!residency)
            return {sim::Address{level, externalAddress(tensor, origin)}, tensorStrides(tensor)};
        const Residency& r = residencies_[*residency];
        if (!r.whole)
            return {sim::Address{level, r.address},
                    packedStrides(extent, tensors_[tensor].elementBytes)};
        deps.push_back(r.reservedBy);
        return {sim::Address{level, r.address + offsetInTensor(tensor, origin)},
                tensorStrides(tensor)};
    }

    Expected<void> bindMove(const dfx::Op& op, std::uint32_t i, std::vector<std::uint32_t>& deps) {
        const OpResidencies& r = touched_[i];
        const std::uint32_t tensor = op.index();
        const std::uint32_t e = tensors_[tensor].elementBytes;
        const auto origin = toArray(*op.region().origin());
        const auto extent = toArray(*op.region().extent());
        if (r.dst && r.dstCreated) {
            if (auto b = bindResidency(*r.dst, i, deps); !b)
                return b;
        }
        const auto [src, srcStrides] =
            moveEnd(toLevel(op.src_level()), r.src, tensor, origin, extent, deps);
        const auto [dst, dstStrides] =
            moveEnd(toLevel(op.dst_level()), r.dst, tensor, origin, extent, deps);
        completion_[i] =
            schedule_.add(makeMove(i, src, srcStrides, dst, dstStrides, extent, e), deps);
        for (std::optional<std::uint32_t> end : {r.src, r.dst})
            if (end && residencies_[*end].whole)
                residencies_[*end].accesses.push_back(completion_[i]);
        return {};
    }

    // A packed L1 block, allocated for one array pass.
    Expected<std::uint64_t> allocateL1(std::uint64_t bytes, std::uint32_t op,
                                       std::vector<std::uint32_t>& deps) {
        auto a = allocatorFor(Level::L1).allocate(bytes, deps);
        if (!a)
            return fail("{}: a {}-byte L1 block does not fit in the L1 buffers ({} bytes in total)",
                        opLabel(op), bytes, allocatorFor(Level::L1).capacity());
        return *a;
    }

    // Copies rows x cols elements of a packed L2 tile, starting at row r0, column c0, into a new
    // packed L1 block; `transposed` reads a tile stored the other way round (a B tile kept as
    // [N, K] streamed as a [K, N] block; r0 and c0 still count in the block's terms). Returns the
    // block's L1 address and the move's bound op.
    Expected<std::pair<std::uint64_t, std::uint32_t>>
    streamToL1(const Residency& res, std::uint32_t r0, std::uint32_t c0, std::uint32_t rows,
               std::uint32_t cols, bool transposed, std::uint32_t op,
               const std::vector<std::uint32_t>& after) {
        const TensorInfo& t = tensors_[res.tensor];
        const std::uint64_t e = t.elementBytes;
        std::vector<std::uint32_t> moveDeps = after;
        auto l1 = allocateL1(std::uint64_t{rows} * cols * e, op, moveDeps);
        if (!l1)
            return std::unexpected(l1.error());
        const std::uint64_t rowBytes = std::uint64_t{res.extent[3]} * e;
        // Transposed, the block's rows (k) are the tile's columns and vice versa.
        const sim::Address src{Level::L2, transposed ? res.address + c0 * rowBytes + r0 * e
                                                     : res.address + r0 * rowBytes + c0 * e};
        const std::array<std::uint32_t, 4> extent{1, 1, rows, cols};
        std::array<std::uint64_t, 4> srcStrides{0, 0, rowBytes, e};
        if (transposed) // element (k, n) of the block is element (n, k) of the tile
            srcStrides = {0, 0, e, rowBytes};
        const std::uint32_t move =
            schedule_.add(makeMove(op, src, srcStrides, sim::Address{Level::L1, *l1},
                                   packedStrides(extent, t.elementBytes), extent, t.elementBytes),
                          moveDeps);
        return std::pair{*l1, move};
    }

    // Drains a packed L1 block of rows x cols into an L2 tile at (r0, c0).
    std::uint32_t drainToL2(std::uint64_t l1, const Residency& res, std::uint32_t r0,
                            std::uint32_t c0, std::uint32_t rows, std::uint32_t cols,
                            std::uint32_t op, std::uint32_t after) {
        const std::uint32_t e = tensors_[res.tensor].elementBytes;
        const std::uint64_t rowBytes = std::uint64_t{res.extent[3]} * e;
        const std::array<std::uint32_t, 4> extent{1, 1, rows, cols};
        const sim::Address dst{Level::L2, res.address + r0 * rowBytes + std::uint64_t{c0} * e};
        return schedule_.add(makeMove(op, sim::Address{Level::L1, l1}, packedStrides(extent, e),
                                      dst, {0, 0, rowBytes, e}, extent, e),
                             std::span<const std::uint32_t>(&after, 1));
    }

    // A MatMul tile: for each array-sized block of the output tile, stream A and B strips (and
    // the initial block, and the bias on the last step) into L1, run the array passes along K,
    // and drain the block back to the output tile in L2.
    Expected<void> bindMatMul(const dfx::Op& op, std::uint32_t i,
                              std::vector<std::uint32_t>& dfxDepsOfOp) {
        const OpResidencies& r = touched_[i];
        if (r.createsOut) {
            if (auto b = bindResidency(*r.out, i, dfxDepsOfOp); !b)
                return b;
        }
        const dfx::KernelShape& shape = kernelShapes_[op.index()];
        const OpParams& params = shape.params;
        const dfx::MatMulTile tile = dfx::matMulTile(op.region());
        const Residency& A = residencies_[*r.a];
        const Residency& B = residencies_[*r.b];
        const Residency& O = residencies_[*r.out];
        const Residency* I = r.init ? &residencies_[*r.init] : nullptr;
        const Residency* bias = r.bias ? &residencies_[*r.bias] : nullptr;
        const TensorInfo& ta = tensors_[A.tensor];
        const TensorInfo& tb = tensors_[B.tensor];
        const TensorInfo& to = tensors_[O.tensor];
        const bool epilogue = (op.flags() & dfx::kEpilogueFlag) != 0;

        const std::uint32_t R = config_.compute.arrayRows, C = config_.compute.arrayCols;
        const std::uint32_t kc = l1DepthChunk(config_, ta.elementBytes, tb.elementBytes, tile.kt);
        const std::uint32_t arrayIndex = computeCount_++ % config_.compute.tileCount;

        std::vector<std::uint32_t> drains;
        for (std::uint32_t bi = 0; bi < tile.mt; bi += R) {
            const std::uint32_t rows = std::min(R, tile.mt - bi);
            for (std::uint32_t bj = 0; bj < tile.nt; bj += C) {
                const std::uint32_t cols = std::min(C, tile.nt - bj);
                std::vector<std::uint32_t> deps = dfxDepsOfOp;
                auto out = allocateL1(std::uint64_t{rows} * cols * to.elementBytes, i, deps);
                if (!out)
                    return std::unexpected(out.error());
                std::optional<std::uint32_t> previousPass;
                std::vector<std::uint64_t> passBlocks;
                for (std::uint32_t bk = 0; bk < tile.kt; bk += kc) {
                    const std::uint32_t depth = std::min(kc, tile.kt - bk);
                    const bool lastPass = bk + kc >= tile.kt;
                    std::vector<std::uint32_t> passDeps = deps;
                    auto stream = [&](const Residency& res, std::uint32_t r0, std::uint32_t c0,
                                      std::uint32_t nr, std::uint32_t nc,
                                      bool transposed) -> Expected<std::uint64_t> {
                        auto s = streamToL1(res, r0, c0, nr, nc, transposed, i, dfxDepsOfOp);
                        if (!s)
                            return std::unexpected(s.error());
                        passDeps.push_back(s->second);
                        passBlocks.push_back(s->first);
                        return s->first;
                    };
                    auto a = stream(A, bi, bk, rows, depth, false);
                    if (!a)
                        return std::unexpected(a.error());
                    // B's tile is [kt, nt], or [nt, kt] when stored transposed.
                    auto b = stream(B, bk, bj, depth, cols, params.transposeB);
                    if (!b)
                        return std::unexpected(b.error());
                    sim::ArrayOp pass;
                    pass.m = rows, pass.n = cols, pass.k = depth;
                    pass.a = {Level::L1, *a};
                    pass.b = {Level::L1, *b};
                    pass.out = {Level::L1, *out};
                    pass.aType = ta.dtype, pass.bType = tb.dtype;
                    pass.initType = pass.outType = to.dtype;
                    if (previousPass) {
                        pass.init = pass.out;
                        pass.hasInit = true;
                        passDeps.push_back(*previousPass);
                    } else if (I) {
                        auto init = stream(*I, bi, bj, rows, cols, false);
                        if (!init)
                            return std::unexpected(init.error());
                        pass.init = {Level::L1, *init};
                        pass.initType = tensors_[I->tensor].dtype;
                        pass.hasInit = true;
                    }
                    if (epilogue && lastPass) {
                        if (bias) {
                            auto bv = stream(*bias, 0, bj, 1, cols, false);
                            if (!bv)
                                return std::unexpected(bv.error());
                            pass.hasBias = true;
                            pass.bias = {Level::L1, *bv};
                            pass.biasType = tensors_[bias->tensor].dtype;
                        }
                        pass.activation = params.activation;
                        pass.activationMin = params.min;
                        pass.activationMax = params.max;
                    }
                    sim::BoundOp arrayOp;
                    arrayOp.type = sim::OpType::Array;
                    arrayOp.engine = sim::EngineKind::Array;
                    arrayOp.engineIndex = arrayIndex;
                    arrayOp.sourceOp = i;
                    arrayOp.array = pass;
                    arrayOp.cycles =
                        sim::arrayCycles(config_, depth) + (epilogue && lastPass ? rows : 0);
                    previousPass = schedule_.add(arrayOp, passDeps);
                    for (std::uint64_t block : passBlocks)
                        allocatorFor(Level::L1).release(block, *previousPass);
                    passBlocks.clear();
                }
                const std::uint32_t drain =
                    drainToL2(*out, O, bi, bj, rows, cols, i, *previousPass);
                allocatorFor(Level::L1).release(*out, drain);
                drains.push_back(drain);
            }
        }
        sim::BoundOp join;
        join.sourceOp = i;
        completion_[i] = schedule_.add(join, drains);
        return {};
    }

    // A vector kernel's tile: stream every input tile from L2 into L1, run one pass of the
    // array's processing elements, drain the output tile back to L2.
    Expected<void> bindVector(const dfx::Op& op, std::uint32_t i,
                              std::vector<std::uint32_t>& dfxDepsOfOp) {
        const OpResidencies& r = touched_[i];
        if (auto b = bindResidency(*r.out, i, dfxDepsOfOp); !b)
            return b;
        const dfx::KernelShape& shape = kernelShapes_[op.index()];
        const dfx::Box tile = dfx::toBox(op.region());
        sim::VectorOp vop{.kind = shape.kind, .params = shape.params, .inputs = {}, .output = {}};
        std::vector<std::uint32_t> passDeps = dfxDepsOfOp;
        std::vector<std::uint64_t> blocks;
        for (std::size_t in = 0; in < r.inputs.size(); ++in) {
            const Residency& res = residencies_[r.inputs[in]];
            const TensorInfo& t = tensors_[res.tensor];
            const std::uint64_t bytes = residencyBytes(res);
            std::vector<std::uint32_t> moveDeps = dfxDepsOfOp;
            auto l1 = allocateL1(bytes, i, moveDeps);
            if (!l1)
                return std::unexpected(l1.error());
            const auto packed = packedStrides(res.extent, t.elementBytes);
            passDeps.push_back(schedule_.add(makeMove(i, sim::Address{Level::L2, res.address},
                                                      packed, sim::Address{Level::L1, *l1}, packed,
                                                      res.extent, t.elementBytes),
                                             moveDeps));
            blocks.push_back(*l1);
            const dfx::Box box = dfx::inputBox(shape, in, tile);
            vop.inputs.push_back(sim::VectorOperand{.at = {Level::L1, *l1},
                                                    .dtype = t.dtype,
                                                    .origin = box.origin,
                                                    .extent = box.extent,
                                                    .view = t.view});
        }
        const Residency& O = residencies_[*r.out];
        const TensorInfo& to = tensors_[O.tensor];
        auto out = allocateL1(residencyBytes(O), i, passDeps);
        if (!out)
            return std::unexpected(out.error());
        const dfx::Box outBox = dfx::outputBox(shape, tile);
        vop.output = sim::VectorOperand{.at = {Level::L1, *out},
                                        .dtype = to.dtype,
                                        .origin = outBox.origin,
                                        .extent = outBox.extent,
                                        .view = to.view};
        sim::BoundOp pass;
        pass.type = sim::OpType::Vector;
        pass.engine = sim::EngineKind::Array;
        pass.engineIndex = computeCount_++ % config_.compute.tileCount;
        pass.sourceOp = i;
        pass.cycles = sim::vectorCycles(config_, sim::vectorWork(vop));
        pass.vector = static_cast<std::uint32_t>(schedule_.vectorOps.size());
        schedule_.vectorOps.push_back(std::move(vop));
        const std::uint32_t passOp = schedule_.add(pass, passDeps);
        for (std::uint64_t block : blocks)
            allocatorFor(Level::L1).release(block, passOp);
        const auto packed = packedStrides(O.extent, to.elementBytes);
        const std::uint32_t drain = schedule_.add(makeMove(i, sim::Address{Level::L1, *out}, packed,
                                                           sim::Address{Level::L2, O.address},
                                                           packed, O.extent, to.elementBytes),
                                                  std::span<const std::uint32_t>(&passOp, 1));
        allocatorFor(Level::L1).release(*out, drain);
        completion_[i] = drain;
        return {};
    }
    const dfx::Program& p_;
    const KpuConfig& config_;
    std::string_view source_;
    sim::Schedule schedule_;
    std::vector<TensorInfo> tensors_;
    std::vector<NextFitAllocator> allocators_; // L3, L2, L1
    std::vector<Residency> residencies_;
    std::map<TileKey, std::uint32_t> resident_;
    std::map<std::uint32_t, std::uint32_t> whole_; // root tensor -> its on-chip residency
    std::vector<dfx::KernelShape> kernelShapes_;
    std::vector<OpResidencies> touched_;
    std::vector<std::vector<std::uint32_t>> dyingAt_;
    std::vector<std::uint32_t> completion_; // DFX op -> the bound op that completes it
    std::uint32_t computeCount_ = 0;
};

} // namespace

std::uint32_t l1DepthChunk(const KpuConfig& config, std::uint32_t aElementBytes,
                           std::uint32_t bElementBytes, std::uint32_t depth) {
    const std::uint64_t buffer = config.l1.bufferCapacity;
    const std::uint64_t byA = buffer / (std::uint64_t{config.compute.arrayRows} * aElementBytes);
    const std::uint64_t byB = buffer / (std::uint64_t{config.compute.arrayCols} * bElementBytes);
    return static_cast<std::uint32_t>(
        std::clamp<std::uint64_t>(std::min(byA, byB), 1, std::max(depth, 1u)));
}

Expected<sim::Schedule> bindProgram(const dfx::Program& program, const KpuConfig& config,
                                    std::string_view sourceName) {
    return Binder(program, config, sourceName).run();
}

} // namespace kpu::loader
