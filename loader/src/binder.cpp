#include "kpu/loader/binder.h"

#include <algorithm>
#include <map>
#include <optional>
#include <tuple>
#include <unordered_map>

#include "kpu/common/shape.h"
#include "kpu/loader/host_memory.h"
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

// The object's dataflow values are the simulator's.
static_assert(
    static_cast<int>(dfx::Dataflow::OutputStationary) == static_cast<int>(sim::Dataflow::Output) &&
    static_cast<int>(dfx::Dataflow::WeightStationary) == static_cast<int>(sim::Dataflow::Weight) &&
    static_cast<int>(dfx::Dataflow::InputStationary) == static_cast<int>(sim::Dataflow::Input));

Level toLevel(MemoryLevel level) {
    return static_cast<Level>(level);
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

struct TileKeyHash {
    std::size_t operator()(const TileKey& k) const {
        std::uint64_t h = std::uint64_t{std::get<0>(k)} << 32 | std::get<1>(k);
        for (const auto& a : {std::get<2>(k), std::get<3>(k)})
            for (std::uint32_t v : a)
                h = (h ^ v) * 0x9E3779B97F4A7C15ull;
        return static_cast<std::size_t>(h ^ (h >> 29));
    }
};

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
    std::uint64_t blockId = 0; // the allocator's name for the block's contents
    bool bound = false;
    // Revived from a released block that still held the tile: the block's previous last
    // reader, which whoever reuses the space must also wait for.
    std::optional<std::uint32_t> priorReader;
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
    std::optional<std::uint32_t> kernel; // the kernel whose ops[first_op, +op_count) holds it
    std::uint32_t step = 0;              // tile step of that kernel it belongs to (see stepOf)
    bool dstCreated = false;
    std::optional<std::uint32_t> a, b, init, bias, out;
    std::vector<std::uint32_t> inputs;
    bool createsOut = false;
};

// The host memory the binder's tables take per DFX op (counted against the host-memory limit):
// its residencies, their last uses and completions, and, for the about one residency per op,
// the residency, its entry in the resident-tile map (a hash node) and its cached block.
constexpr std::uint64_t kTableBytesPerOp =
    sizeof(OpResidencies) + sizeof(std::vector<std::uint32_t>) + sizeof(std::uint32_t) +
    sizeof(Residency) + 2 * (sizeof(TileKey) + 3 * sizeof(void*) + 16);
// What reserving room for one bound op takes: its header, its dependency offset, three
// dependencies and a move payload (binding reserves for about three bound ops per DFX op).
constexpr std::uint64_t kReservedBytesPerBoundOp =
    sizeof(sim::BoundOp) + 4 * sizeof(std::uint32_t) + sizeof(sim::MoveOp);

class Binder {
public:
    Binder(const dfx::Program& program, const KpuConfig& config, std::string_view sourceName,
           std::uint64_t hostMemoryLimit)
        : p_(program), config_(config), source_(sourceName), hostMemoryLimit_(hostMemoryLimit) {}

    Expected<sim::Schedule> run() {
        // The binder's tables take kTableBytesPerOp per DFX op whatever the hardware: a program
        // whose tables alone pass the limit is refused before they are allocated.
        const std::uint64_t dfxOps = p_.ops()->size();
        tableBytes_ = dfxOps * kTableBytesPerOp;
        if (auto r =
                checkHostMemoryLimit(tableBytes_, hostMemoryLimit_,
                                     fmt::format("binding the program's {} ops", dfxOps), source_);
            !r)
            return std::unexpected(r.error());
        // Bound ops are a few per DFX op: reserving address space up front spares the copies of
        // growing vectors of millions of ops (pages are only touched as ops are added). The
        // reservation stays within the limit; bindOps checks the schedule as it grows.
        const std::uint64_t reservable =
            (hostMemoryLimit_ - tableBytes_) / kReservedBytesPerBoundOp;
        const std::size_t expected =
            static_cast<std::size_t>(std::min<std::uint64_t>(dfxOps * 3 + 16, reservable));
        schedule_.ops.reserve(expected);
        schedule_.depOffsets.reserve(expected + 1);
        schedule_.deps.reserve(expected * 3);
        schedule_.moves.reserve(expected);
        setUpGeometry();
        if (auto r = placeTensors(); !r)
            return std::unexpected(r.error());
        buildKernelShapes();
        if (auto r = resolveResidencies(); !r)
            return std::unexpected(r.error());
        assignSteps();
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
            allocators_.emplace_back(g.count * g.capacity, kAlignment, g.capacity);
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
        // The compulsory external traffic: each byte of the graph's inputs, constants and outputs
        // moved once (counted once per storage, however many views share it).
        // Storage no kernel writes (inputs, constants and views of them) is read-only.
        std::vector<bool> written(tensors_.size(), false);
        for (const dfx::Kernel* k : *p_.kernels())
            written[tensors_[k->output()].root] = true;
        for (std::uint32_t t = 0; t < tensors_.size(); ++t)
            schedule_.tensors[t].readOnly = !written[tensors_[t].root];
        std::vector<bool> counted(tensors_.size(), false);
        for (std::uint32_t t = 0; t < tensors_.size(); ++t) {
            const std::uint32_t root = tensors_[t].root;
            if (p_.tensors()->Get(t)->role() == dfx::TensorRole::Intermediate || counted[root])
                continue;
            counted[root] = true;
            schedule_.compulsoryExternalBytes += tensors_[root].bytes;
        }
        return {};
    }

    // A contiguous range for `bytes` that starts after bank b's data and runs through empty banks.
    std::optional<std::uint64_t> straddlePlacement(std::vector<std::uint64_t>& used,
                                                   std::uint64_t bytes) const {
        const std::uint64_t bankCapacity = config_.external.bankCapacity;
        for (std::uint32_t b = 0; b < used.size(); ++b) {
            const std::uint64_t start = std::uint64_t{b} * bankCapacity + alignUp(used[b]);
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

    // Tile steps: a kernel's Compute ops in program order are its steps 0, 1, ...; a load
    // belongs to the step of the next Compute op (the one it feeds), any other op (a store) to
    // the step of the previous one (the one that produced it). Per kernel and level, the largest
    // working set one step creates sizes the prefetch window (openWindows).
    void assignSteps() {
        const auto& ops = *p_.ops();
        const std::size_t kernels = p_.kernels()->size();
        computesOf_.assign(kernels, {});
        stepBytes_.assign(kernels, {});
        for (std::uint32_t k = 0; k < kernels; ++k) {
            const dfx::Kernel& kernel = *p_.kernels()->Get(k);
            const std::uint32_t first = kernel.first_op(), end = first + kernel.op_count();
            for (std::uint32_t i = first; i < end; ++i)
                if (ops.Get(i)->kind() == dfx::OpKind::Compute)
                    computesOf_[k].push_back(i);
            const auto steps = static_cast<std::uint32_t>(computesOf_[k].size());
            std::uint32_t next = 0; // Compute ops before op i
            std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint64_t> created; // (step, lvl)
            for (std::uint32_t i = first; i < end; ++i) {
                const dfx::Op& op = *ops.Get(i);
                OpResidencies& r = touched_[i];
                r.kernel = k;
                const bool load = op.kind() == dfx::OpKind::DataMove &&
                                  (op.move_kind() == dfx::MoveKind::Load ||
                                   op.move_kind() == dfx::MoveKind::Prefetch);
                r.step = load || next == 0 ? std::min(next, steps == 0 ? 0 : steps - 1) : next - 1;
                if (op.kind() == dfx::OpKind::Compute)
                    r.step = next++;
                for (auto made :
                     {r.dstCreated ? r.dst : std::nullopt, r.createsOut ? r.out : std::nullopt})
                    if (made && !residencies_[*made].whole)
                        created[{r.step, static_cast<std::uint32_t>(residencies_[*made].level)}] +=
                            alignUp(residencyBytes(residencies_[*made]));
            }
            for (const auto& [key, bytes] : created) {
                std::uint64_t& worst = stepBytes_[k][key.second];
                worst = std::max(worst, bytes);
            }
        }
    }

    static std::uint64_t alignUp(std::uint64_t v) {
        return (v + kAlignment - 1) / kAlignment * kAlignment;
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

    TileKey keyOf(const Residency& r, const dfx::Region& region) const {
        return TileKey{static_cast<std::uint8_t>(r.level), r.tensor, toArray(*region.origin()),
                       toArray(*region.extent())};
    }

    // Allocates the residency's block; the last readers of the space it reuses go to `space`.
    Expected<void> bindResidency(std::uint32_t id, std::uint32_t op,
                                 std::vector<std::uint32_t>& space) {
        Residency& r = residencies_[id];
        NextFitAllocator& alloc = allocatorFor(r.level);
        const std::uint64_t bytes = residencyBytes(r);
        auto block = alloc.allocate(bytes, space);
        if (!block)
            return fail(
                "{}: a {} tile of tensor '{}' does not fit in {}: {} live tiles hold {} of its {}; "
                "the object's tiling is too large for this configuration (recompile with --config)",
                opLabel(op), formatBytes(bytes), tensors_[r.tensor].name, sim::levelName(r.level),
                alloc.liveBlocks(), formatBytes(alloc.liveBytes()), formatBytes(alloc.capacity()));
        r.address = block->offset;
        r.blockId = block->id;
        r.bound = true;
        return {};
    }

    // A load whose tile is still held, intact, by a released block at that level takes the block
    // back instead of moving the data again; returns the bound op after which the data is there.
    std::optional<std::uint32_t> reviveCached(std::uint32_t id, const TileKey& key) {
        const auto it = cache_.find(key);
        if (it == cache_.end())
            return std::nullopt;
        Residency& r = residencies_[id];
        const auto prior = allocatorFor(r.level).revive(it->second.block);
        if (!prior) {
            cache_.erase(it); // overwritten since
            return std::nullopt;
        }
        r.address = it->second.block.offset;
        r.blockId = it->second.block.id;
        r.bound = true;
        r.priorReader = *prior;
        const auto level = static_cast<std::size_t>(r.level);
        ++schedule_.reusedTiles[level];
        schedule_.reusedBytes[level] += residencyBytes(r);
        return it->second.ready;
    }

    // Remembers that residency `id` holds the final contents of its tile from `ready` on.
    void remember(std::uint32_t id, const TileKey& key, std::uint32_t ready) {
        const Residency& r = residencies_[id];
        if (!r.whole)
            cache_[key] = CachedTile{NextFitAllocator::Block{r.address, r.blockId}, ready};
    }

    std::uint32_t memoryIndex(Level level, std::uint64_t address) const {
        return static_cast<std::uint32_t>(
            address / schedule_.memories[static_cast<std::size_t>(level)].capacity);
    }

    // The engines that may perform a move between `from` and `to`: those serving the memory at
    // the farther end (a DMA engine per external bank, a BlockMover per L3 tile, a Streamer per
    // L2 bank). With fewer engines than memories, memory b is served by engine b mod engines;
    // with more, memory b by engines b, b + memories, b + 2 * memories, ...
    void chooseMovers(sim::BoundOp& op, Level from, Level to, std::uint64_t fromAddr,
                      std::uint64_t toAddr) const {
        const Level farther = std::min(from, to);
        const std::uint32_t memory = memoryIndex(farther, from == farther ? fromAddr : toAddr);
        const std::uint32_t memories = schedule_.memories[static_cast<std::size_t>(farther)].count;
        switch (farther) {
        case Level::External:
            op.engine = sim::EngineKind::Dma;
            break;
        case Level::L3:
            op.engine = sim::EngineKind::BlockMover;
            break;
        default:
            op.engine = sim::EngineKind::Streamer;
            break;
        }
        const std::uint32_t engines = schedule_.engineCounts[static_cast<std::size_t>(op.engine)];
        if (engines <= memories) {
            op.engineIndex = memory % engines;
            op.engineStride = 1;
            op.engineChoices = 1;
        } else {
            op.engineIndex = memory;
            op.engineStride = memories;
            op.engineChoices = (engines - memory + memories - 1) / memories;
        }
    }

    sim::MoveSpec makeMove(std::uint32_t sourceOp, const sim::Address& src,
                           const std::array<std::uint64_t, 4>& srcStrides, const sim::Address& dst,
                           const std::array<std::uint64_t, 4>& dstStrides,
                           const std::array<std::uint32_t, 4>& extent,
                           std::uint32_t elementBytes) const {
        sim::MoveSpec m;
        m.type = sim::OpType::Move;
        m.sourceOp = sourceOp;
        m.move = sim::MoveOp{.src = src,
                             .dst = dst,
                             .srcStrides = srcStrides,
                             .dstStrides = dstStrides,
                             .extent = extent,
                             .elementBytes = elementBytes};
        m.bytes = std::uint64_t{extent[0]} * extent[1] * extent[2] * extent[3] * elementBytes;
        chooseMovers(m, src.level, dst.level, src.offset, dst.offset);
        const sim::MoveTiming timing = sim::moveTiming(config_, src.level, dst.level, m.bytes);
        m.cycles = timing.cycles;
        m.latency = timing.latency;
        return m;
    }

    // Dependencies of DFX op i, as bound-op indices.
    void dfxDeps(std::uint32_t i, std::vector<std::uint32_t>& out) const {
        const auto& offsets = *p_.dep_offsets();
        for (std::uint32_t d = offsets[i]; d < offsets[i + 1]; ++d)
            out.push_back(completion_[p_.dep_indices()->Get(d)]);
    }

    std::uint32_t join(std::span<const std::uint32_t> ops, std::uint32_t sourceOp) {
        sim::BoundOp barrier;
        barrier.sourceOp = sourceOp;
        return schedule_.add(barrier, ops);
    }

    void releaseDead(std::uint32_t i, std::uint32_t lastReader) {
        for (std::uint32_t id : dyingAt_[i]) {
            Residency& r = residencies_[id];
            if (!r.bound)
                continue;
            std::uint32_t freeAfter = lastReader;
            if (r.whole && !r.accesses.empty())
                freeAfter = join(r.accesses, i);
            if (r.priorReader) {
                const std::array<std::uint32_t, 2> readers{*r.priorReader, freeAfter};
                freeAfter = join(readers, i);
            }
            allocatorFor(r.level).release(r.address, freeAfter);
        }
    }

    // ---- prefetch window -------------------------------------------------------------------
    // When a kernel starts, it gets a window of S tile steps: as many steps' working sets as fit
    // in the free space of L3 and of L2, at most kMaxSlots. A load for step s
    // uses slot s mod S and may start once step s - S has finished computing, so loads run up to
    // S - 1 steps ahead of the compute (the prefetch distance); S = 2 is double buffering.
    static constexpr std::uint64_t kMaxSlots = 8;

    void openWindows(std::uint32_t kernel) {
        std::uint64_t slots = kMaxSlots;
        for (Level level : {Level::L3, Level::L2}) {
            const NextFitAllocator& alloc = allocatorFor(level);
            const std::uint64_t step = stepBytes_[kernel][static_cast<std::size_t>(level)];
            const std::uint64_t free = alloc.capacity() - alloc.liveBytes();
            if (step > 0)
                slots = std::min(slots, std::max<std::uint64_t>(free / step, 1));
        }
        // One window for both levels: a tile passes through L3 on its way to L2, so running
        // further ahead at L2 than at L3 would only make the L2 loads wait for the L3 ones.
        slots_ = static_cast<std::uint32_t>(slots);
    }

    // A load's place in the window: its slot and, as a space dependency, the compute of the step
    // whose slot it takes over.
    void placeInWindow(sim::BoundOp& move, const OpResidencies& r, Level level,
                       std::vector<std::uint32_t>& space) const {
        if (!r.kernel || (level != Level::L3 && level != Level::L2))
            return;
        const std::uint32_t slots = slots_;
        move.slots = static_cast<std::uint8_t>(slots);
        move.slot = static_cast<std::uint8_t>(r.step % slots);
        move.prefetchDistance = static_cast<std::uint8_t>(slots - 1);
        if (r.step >= slots)
            space.push_back(completion_[computesOf_[*r.kernel][r.step - slots]]);
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
            const OpResidencies& r = touched_[i];
            if (r.kernel && p_.kernels()->Get(*r.kernel)->first_op() == i)
                openWindows(*r.kernel);
            deps.clear();
            dfxDeps(i, deps);
            Expected<void> result;
            switch (op.kind()) {
            case dfx::OpKind::Barrier:
                completion_[i] = join(deps, i);
                break;
            case dfx::OpKind::Reserve:
                result = bindReserve(i, deps);
                break;
            case dfx::OpKind::DataMove:
                result = bindMove(op, i, deps);
                break;
            default:
                result = kernelShapes_[op.index()].kind == Operator::MatMul
                             ? bindMatMul(op, i, deps)
                             : bindVector(op, i, deps);
                break;
            }
            if (!result)
                return result;
            releaseDead(i, completion_[i]);
            if (schedule_.ops.size() > kMaxBoundOps)
                return fail(
                    "{}: the bound schedule exceeds {} ops at DFX op {} of {}; the program is too "
                    "large to simulate at L1 granularity",
                    opLabel(i), kMaxBoundOps, i, ops.size());
            if (auto fits = checkHostMemoryLimit(
                    tableBytes_ + schedule_.hostBytes(), hostMemoryLimit_,
                    fmt::format("binding the program's {} ops ({} bound ops by DFX op {}, and "
                                "counting)",
                                ops.size(), schedule_.ops.size(), i),
                    source_);
                !fits)
                return fits;
        }
        return {};
    }

    // Space for a whole on-chip tensor; the barrier it becomes completes when the space is free
    // (its write-after-read dependencies), and every move into or out of it waits for it.
    Expected<void> bindReserve(std::uint32_t i, std::vector<std::uint32_t>& deps) {
        const std::uint32_t id = *touched_[i].dst;
        if (auto b = bindResidency(id, i, deps); !b)
            return b;
        completion_[i] = residencies_[id].reservedBy = join(deps, i);
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
        const bool load =
            op.move_kind() == dfx::MoveKind::Load || op.move_kind() == dfx::MoveKind::Prefetch;
        std::vector<std::uint32_t> space;
        if (r.dst && r.dstCreated) {
            const TileKey key = keyOf(residencies_[*r.dst], op.region());
            if (load) {
                if (auto ready = reviveCached(*r.dst, key)) {
                    completion_[i] = *ready;
                    return {};
                }
            }
            if (auto b = bindResidency(*r.dst, i, space); !b)
                return b;
        }
        const auto [src, srcStrides] =
            moveEnd(toLevel(op.src_level()), r.src, tensor, origin, extent, deps);
        const auto [dst, dstStrides] =
            moveEnd(toLevel(op.dst_level()), r.dst, tensor, origin, extent, deps);
        sim::MoveSpec move = makeMove(i, src, srcStrides, dst, dstStrides, extent, e);
        if (load && r.dstCreated)
            placeInWindow(move, r, toLevel(op.dst_level()), space);
        completion_[i] = schedule_.add(move, deps, space);
        for (std::optional<std::uint32_t> end : {r.src, r.dst})
            if (end && residencies_[*end].whole)
                residencies_[*end].accesses.push_back(completion_[i]);
        // Both copies of the tile now hold its final contents: a later load may take either.
        if (r.dst && r.dstCreated)
            remember(*r.dst, keyOf(residencies_[*r.dst], op.region()), completion_[i]);
        if (r.src && !load)
            remember(*r.src, keyOf(residencies_[*r.src], op.region()), completion_[i]);
        return {};
    }

    // A packed L1 block; the last readers of the space it reuses go to `space`.
    Expected<std::uint64_t> allocateL1(std::uint64_t bytes, std::uint32_t op,
                                       std::vector<std::uint32_t>& space) {
        auto block = allocatorFor(Level::L1).allocate(bytes, space);
        if (!block)
            return fail("{}: a {}-byte L1 block does not fit in the L1 buffers ({} bytes in total)",
                        opLabel(op), bytes, allocatorFor(Level::L1).capacity());
        return block->offset;
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
        std::vector<std::uint32_t> space;
        auto l1 = allocateL1(std::uint64_t{rows} * cols * e, op, space);
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
                          after, space);
        return std::pair{*l1, move};
    }

    // Drains a packed L1 block of rows x cols into an L2 tile at (r0, c0). `space`: the last
    // readers of the space the L2 tile reuses (the drains are the only writes to it).
    std::uint32_t drainToL2(std::uint64_t l1, const Residency& res, std::uint32_t r0,
                            std::uint32_t c0, std::uint32_t rows, std::uint32_t cols,
                            std::uint32_t op, std::uint32_t after,
                            std::span<const std::uint32_t> space) {
        const std::uint32_t e = tensors_[res.tensor].elementBytes;
        const std::uint64_t rowBytes = std::uint64_t{res.extent[3]} * e;
        const std::array<std::uint32_t, 4> extent{1, 1, rows, cols};
        const sim::Address dst{Level::L2, res.address + r0 * rowBytes + std::uint64_t{c0} * e};
        return schedule_.add(makeMove(op, sim::Address{Level::L1, l1}, packedStrides(extent, e),
                                      dst, {0, 0, rowBytes, e}, extent, e),
                             std::span<const std::uint32_t>(&after, 1), space);
    }

    // A MatMul tile on the array (docs/timing-model.md, "Dataflows"). The tile's M, N and K are
    // mapped onto the array's rows, its columns and the stream by the kernel's dataflow; folds
    // take array-sized blocks of the row and column dimensions (column blocks outermost, as
    // SCALE-Sim orders them), and each fold streams the third dimension through in chunks that
    // fit the L1 buffers. Output blocks accumulate in L1 over K — across a fold's chunks
    // (output-stationary) or across the row blocks (weight- and input-stationary, whose rows are
    // K) — and drain to the output tile in L2 once complete. The operand a fold holds in the
    // array (B for weight-, A for input-stationary) is streamed into L1 once per fold.
    Expected<void> bindMatMul(const dfx::Op& op, std::uint32_t i,
                              std::vector<std::uint32_t>& dfxDepsOfOp) {
        const OpResidencies& r = touched_[i];
        std::vector<std::uint32_t> outSpace;
        if (r.createsOut) {
            if (auto b = bindResidency(*r.out, i, outSpace); !b)
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
        const auto dataflow = static_cast<sim::Dataflow>(p_.kernels()->Get(op.index())->dataflow());
        const std::uint32_t arrayIndex = computeCount_++ % config_.compute.tileCount;

        // Dimensions 0 = M, 1 = N, 2 = K; which of them the array's rows, columns and the stream
        // take.
        const std::array<std::uint32_t, 3> extent{tile.mt, tile.nt, tile.kt};
        const auto [rowDim, colDim, streamDim] = dataflowDims(dataflow);
        const std::uint32_t R = config_.compute.arrayRows, C = config_.compute.arrayCols;
        const std::uint32_t chunk =
            l1StreamChunk(config_, dataflow, ta.elementBytes, tb.elementBytes, to.elementBytes,
                          extent[streamDim]);

        struct OutBlock {
            std::uint64_t l1 = 0;
            std::uint32_t lastPass = 0;
        };
        std::vector<std::uint32_t> drains;
        for (std::uint32_t cb = 0; cb < extent[colDim]; cb += C) {
            std::map<std::pair<std::uint32_t, std::uint32_t>, OutBlock> outs; // by (m0, n0)
            for (std::uint32_t rb = 0; rb < extent[rowDim]; rb += R) {
                std::optional<std::uint64_t> held; // the operand the fold holds, in L1
                std::optional<std::uint32_t> heldMove;
                std::optional<std::uint32_t> lastPassOfFold;
                for (std::uint32_t sc = 0; sc < extent[streamDim]; sc += chunk) {
                    std::array<std::uint32_t, 3> begin{}, size{};
                    begin[rowDim] = rb, size[rowDim] = std::min(R, extent[rowDim] - rb);
                    begin[colDim] = cb, size[colDim] = std::min(C, extent[colDim] - cb);
                    begin[streamDim] = sc,
                    size[streamDim] = std::min(chunk, extent[streamDim] - sc);
                    const bool firstK = begin[2] == 0, lastK = begin[2] + size[2] == tile.kt;
                    std::vector<std::uint32_t> passDeps = dfxDepsOfOp, passSpace;
                    std::vector<std::uint64_t> passBlocks;
                    auto stream = [&](const Residency& res, std::uint32_t r0, std::uint32_t c0,
                                      std::uint32_t nr, std::uint32_t nc,
                                      bool transposed) -> Expected<std::uint64_t> {
                        auto s = streamToL1(res, r0, c0, nr, nc, transposed, i, dfxDepsOfOp);
                        if (!s)
                            return std::unexpected(s.error());
                        passDeps.push_back(s->second);
                        return s->first;
                    };
                    // A is [mt, kt]; B is [kt, nt], or [nt, kt] when stored transposed.
                    auto streamA = [&] {
                        return stream(A, begin[0], begin[2], size[0], size[2], false);
                    };
                    auto streamB = [&] {
                        return stream(B, begin[2], begin[1], size[2], size[1], params.transposeB);
                    };
                    const bool holdsA = dataflow == sim::Dataflow::Input;
                    const bool holdsB = dataflow == sim::Dataflow::Weight;
                    std::uint64_t a = 0, b = 0;
                    for (bool isA : {true, false}) {
                        const bool holds = isA ? holdsA : holdsB;
                        if (holds && held) {
                            (isA ? a : b) = *held;
                            passDeps.push_back(*heldMove);
                            continue;
                        }
                        auto block = isA ? streamA() : streamB();
                        if (!block)
                            return std::unexpected(block.error());
                        (isA ? a : b) = *block;
                        if (holds) {
                            held = *block;
                            heldMove = passDeps.back();
                        } else {
                            passBlocks.push_back(*block);
                        }
                    }

                    sim::ArrayOp pass;
                    pass.m = size[0], pass.n = size[1], pass.k = size[2];
                    pass.dataflow = dataflow;
                    pass.foldStart = sc == 0;
                    pass.a = {Level::L1, a};
                    pass.b = {Level::L1, b};
                    pass.aType = ta.dtype, pass.bType = tb.dtype;
                    pass.initType = pass.outType = to.dtype;
                    const std::pair<std::uint32_t, std::uint32_t> key{begin[0], begin[1]};
                    if (firstK) {
                        auto out = allocateL1(std::uint64_t{size[0]} * size[1] * to.elementBytes, i,
                                              passSpace);
                        if (!out)
                            return std::unexpected(out.error());
                        outs[key] = OutBlock{*out, 0};
                        if (I) {
                            auto init = stream(*I, begin[0], begin[1], size[0], size[1], false);
                            if (!init)
                                return std::unexpected(init.error());
                            passBlocks.push_back(*init);
                            pass.init = {Level::L1, *init};
                            pass.initType = tensors_[I->tensor].dtype;
                            pass.hasInit = true;
                        }
                    } else {
                        pass.init = {Level::L1, outs.at(key).l1};
                        pass.hasInit = true;
                        passDeps.push_back(outs.at(key).lastPass);
                    }
                    OutBlock& out = outs.at(key);
                    pass.out = {Level::L1, out.l1};
                    std::uint64_t cycles =
                        sim::arrayPassCycles(config_, size[streamDim], pass.foldStart);
                    if (epilogue && lastK) {
                        if (bias) {
                            auto bv = stream(*bias, 0, begin[1], 1, size[1], false);
                            if (!bv)
                                return std::unexpected(bv.error());
                            passBlocks.push_back(*bv);
                            pass.hasBias = true;
                            pass.bias = {Level::L1, *bv};
                            pass.biasType = tensors_[bias->tensor].dtype;
                        }
                        pass.activation = params.activation;
                        pass.activationMin = params.min;
                        pass.activationMax = params.max;
                        cycles += size[0]; // the epilogue, one output row per cycle as it drains
                    }
                    sim::BoundOp arrayOp;
                    arrayOp.type = sim::OpType::Array;
                    arrayOp.engine = sim::EngineKind::Array;
                    arrayOp.engineIndex = arrayIndex;
                    arrayOp.sourceOp = i;
                    arrayOp.cycles = cycles;
                    const std::uint32_t passOp = schedule_.add(arrayOp, pass, passDeps, passSpace);
                    out.lastPass = passOp;
                    lastPassOfFold = passOp;
                    for (std::uint64_t block : passBlocks)
                        allocatorFor(Level::L1).release(block, passOp);
                    if (lastK) {
                        const std::uint32_t drain = drainToL2(
                            out.l1, O, begin[0], begin[1], size[0], size[1], i, passOp, outSpace);
                        allocatorFor(Level::L1).release(out.l1, drain);
                        drains.push_back(drain);
                    }
                }
                if (held)
                    allocatorFor(Level::L1).release(*held, *lastPassOfFold);
            }
        }
        completion_[i] = join(drains, i);
        return {};
    }

    // A vector kernel's tile: stream every input tile from L2 into L1, run one pass of the
    // array's processing elements, drain the output tile back to L2.
    Expected<void> bindVector(const dfx::Op& op, std::uint32_t i,
                              std::vector<std::uint32_t>& dfxDepsOfOp) {
        const OpResidencies& r = touched_[i];
        std::vector<std::uint32_t> outSpace;
        if (auto b = bindResidency(*r.out, i, outSpace); !b)
            return b;
        const dfx::KernelShape& shape = kernelShapes_[op.index()];
        const dfx::Box tile = dfx::toBox(op.region());
        sim::VectorOp vop{.kind = shape.kind, .params = shape.params, .inputs = {}, .output = {}};
        std::vector<std::uint32_t> passDeps = dfxDepsOfOp, passSpace;
        std::vector<std::uint64_t> blocks;
        for (std::size_t in = 0; in < r.inputs.size(); ++in) {
            const Residency& res = residencies_[r.inputs[in]];
            const TensorInfo& t = tensors_[res.tensor];
            const std::uint64_t bytes = residencyBytes(res);
            std::vector<std::uint32_t> space;
            auto l1 = allocateL1(bytes, i, space);
            if (!l1)
                return std::unexpected(l1.error());
            const auto packed = packedStrides(res.extent, t.elementBytes);
            passDeps.push_back(schedule_.add(makeMove(i, sim::Address{Level::L2, res.address},
                                                      packed, sim::Address{Level::L1, *l1}, packed,
                                                      res.extent, t.elementBytes),
                                             dfxDepsOfOp, space));
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
        auto out = allocateL1(residencyBytes(O), i, passSpace);
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
        const std::uint32_t passOp = schedule_.add(pass, std::move(vop), passDeps, passSpace);
        for (std::uint64_t block : blocks)
            allocatorFor(Level::L1).release(block, passOp);
        const auto packed = packedStrides(O.extent, to.elementBytes);
        const std::uint32_t drain = schedule_.add(
            makeMove(i, sim::Address{Level::L1, *out}, packed, sim::Address{Level::L2, O.address},
                     packed, O.extent, to.elementBytes),
            std::span<const std::uint32_t>(&passOp, 1), outSpace);
        allocatorFor(Level::L1).release(*out, drain);
        completion_[i] = drain;
        return {};
    }

    const dfx::Program& p_;
    const KpuConfig& config_;
    std::string_view source_;
    std::uint64_t hostMemoryLimit_;
    std::uint64_t tableBytes_ = 0; // the per-DFX-op tables, counted against the limit
    sim::Schedule schedule_;
    std::vector<TensorInfo> tensors_;
    std::vector<NextFitAllocator> allocators_; // L3, L2, L1
    std::vector<Residency> residencies_;
    std::unordered_map<TileKey, std::uint32_t, TileKeyHash> resident_;
    std::map<std::uint32_t, std::uint32_t> whole_; // root tensor -> its on-chip residency
    std::vector<dfx::KernelShape> kernelShapes_;
    std::vector<OpResidencies> touched_;
    std::vector<std::vector<std::uint32_t>> dyingAt_;
    std::vector<std::uint32_t> completion_; // DFX op -> the bound op that completes it
    std::uint32_t computeCount_ = 0;
    // Released blocks that may still hold a tile's final contents (see reviveCached).
    struct CachedTile {
        NextFitAllocator::Block block;
        std::uint32_t ready = 0; // bound op after which the contents are there
    };
    std::unordered_map<TileKey, CachedTile, TileKeyHash> cache_;
    std::vector<std::vector<std::uint32_t>> computesOf_; // per kernel: its Compute ops (steps)
    std::vector<std::array<std::uint64_t, sim::kLevelCount>> stepBytes_; // per kernel and level
    std::uint32_t slots_ = 1; // the current kernel's prefetch window (openWindows)
};

} // namespace

std::array<int, 3> dataflowDims(sim::Dataflow dataflow) {
    switch (dataflow) {
    case sim::Dataflow::Weight:
        return {2, 1, 0};
    case sim::Dataflow::Input:
        return {2, 0, 1};
    default:
        return {0, 1, 2};
    }
}

std::uint32_t l1StreamChunk(const KpuConfig& config, sim::Dataflow dataflow,
                            std::uint32_t aElementBytes, std::uint32_t bElementBytes,
                            std::uint32_t outElementBytes, std::uint32_t extent) {
    const std::uint64_t buffer = config.l1.bufferCapacity;
    const std::uint64_t R = config.compute.arrayRows, C = config.compute.arrayCols;
    std::uint64_t chunk = 0;
    switch (dataflow) {
    case sim::Dataflow::Output: // A strip R x kc, B strip kc x C
        chunk = std::min(buffer / (R * aElementBytes), buffer / (C * bElementBytes));
        break;
    case sim::Dataflow::Weight: // A strip mc x R, output block mc x C
        chunk = std::min(buffer / (R * aElementBytes), buffer / (C * outElementBytes));
        break;
    case sim::Dataflow::Input: // B strip R x nc, output block C x nc
        chunk = std::min(buffer / (R * bElementBytes), buffer / (C * outElementBytes));
        break;
    }
    return static_cast<std::uint32_t>(std::clamp<std::uint64_t>(chunk, 1, std::max(extent, 1u)));
}

Expected<sim::Schedule> bindProgram(const dfx::Program& program, const KpuConfig& config,
                                    std::string_view sourceName, std::uint64_t hostMemoryLimit) {
    return Binder(program, config, sourceName, hostMemoryLimit).run();
}

} // namespace kpu::loader
