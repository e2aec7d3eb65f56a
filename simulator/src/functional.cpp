#include "functional.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <new>
#include <optional>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "dag_runner.h"
#include "kpu/common/float_convert.h"
#include "kpu/simulator/simulator.h"
#include "kpu/simulator/tile_kernels.h"
#include "kpu/simulator/vector_kernels.h"

namespace kpu::sim {
namespace {

using Strides = std::array<std::uint64_t, 4>;
using Extent = std::array<std::uint32_t, 4>;
constexpr std::uint32_t kNone = UINT32_MAX;

// Where the elements of a box are: element (i0, i1, i2, i3) at base + sum(i_d * strides[d]).
struct View {
    const std::uint8_t* base = nullptr;
    Strides strides{};
};

Strides packedStrides(const Extent& e, std::uint64_t elementBytes) {
    Strides s{};
    s[3] = elementBytes;
    for (int d = 2; d >= 0; --d)
        s[d] = s[d + 1] * e[d + 1];
    return s;
}

// Bytes from the box's first byte to its last (strides are never negative).
std::uint64_t spanBytes(const Strides& s, const Extent& e, std::uint64_t elementBytes) {
    std::uint64_t span = elementBytes;
    for (std::size_t d = 0; d < 4; ++d)
        span += (std::uint64_t{std::max(e[d], 1u)} - 1) * s[d];
    return span;
}

// Whether the box is laid out densely, row-major (dims of extent 1 have no say).
bool isPacked(const Strides& s, const Extent& e, std::uint64_t elementBytes) {
    const Strides p = packedStrides(e, elementBytes);
    for (std::size_t d = 0; d < 4; ++d)
        if (e[d] > 1 && s[d] != p[d])
            return false;
    return true;
}

// Copies a box element by element (rows at once where both sides are contiguous).
void copyBox(const View& src, std::uint8_t* dst, const Strides& dstStrides, const Extent& e,
             std::uint32_t elementBytes) {
    const bool rows = src.strides[3] == elementBytes && dstStrides[3] == elementBytes;
    const std::uint64_t rowBytes = std::uint64_t{e[3]} * elementBytes;
    for (std::uint32_t i0 = 0; i0 < e[0]; ++i0)
        for (std::uint32_t i1 = 0; i1 < e[1]; ++i1)
            for (std::uint32_t i2 = 0; i2 < e[2]; ++i2) {
                const std::uint8_t* s =
                    src.base + i0 * src.strides[0] + i1 * src.strides[1] + i2 * src.strides[2];
                std::uint8_t* d =
                    dst + i0 * dstStrides[0] + i1 * dstStrides[1] + i2 * dstStrides[2];
                if (rows) {
                    std::memcpy(d, s, rowBytes);
                    continue;
                }
                for (std::uint32_t i3 = 0; i3 < e[3]; ++i3)
                    std::memcpy(d + i3 * dstStrides[3], s + i3 * src.strides[3], elementBytes);
            }
}

// A forwarded block: the window [lo, hi) of a level holds, as far as any reader can tell, the
// elements of the packed box that starts at boxStart, whose values are read at `source`.
struct Forward {
    std::uint64_t hi = 0;
    std::uint64_t boxStart = 0;
    Extent extent{};
    Strides packed{};
    View source;
    std::uint32_t elementBytes = 0;
};

// The forwarded windows of one level, disjoint, keyed by their first byte.
class ForwardMap {
public:
    using Entry = std::pair<const std::uint64_t, Forward>;

    bool empty() const { return windows_.empty(); }

    // [lo, hi) is about to be written: the windows keep only what lies outside it.
    void trim(std::uint64_t lo, std::uint64_t hi) {
        auto it = firstOverlap(lo);
        while (it != windows_.end() && it->first < hi) {
            const std::uint64_t wlo = it->first;
            const Forward f = it->second;
            it = windows_.erase(it);
            if (wlo < lo) {
                Forward left = f;
                left.hi = lo;
                windows_.emplace(wlo, left);
            }
            if (f.hi > hi)
                it = windows_.emplace(hi, f).first; // the right part; nothing else overlaps
        }
    }

    void insert(std::uint64_t lo, const Forward& f) {
        trim(lo, f.hi);
        windows_.emplace(lo, f);
    }

    // The window holding all of [lo, hi), or null.
    const Entry* covering(std::uint64_t lo, std::uint64_t hi) const {
        auto it = windows_.upper_bound(lo);
        if (it == windows_.begin())
            return nullptr;
        --it;
        return it->second.hi >= hi ? &*it : nullptr;
    }

    template <class F>
    void forEachOverlap(std::uint64_t lo, std::uint64_t hi, F&& f) const {
        for (auto it = firstOverlap(lo); it != windows_.end() && it->first < hi; ++it)
            f(*it);
    }

private:
    std::map<std::uint64_t, Forward>::iterator firstOverlap(std::uint64_t lo) {
        auto it = windows_.lower_bound(lo);
        if (it != windows_.begin() && std::prev(it)->second.hi > lo)
            --it;
        return it;
    }
    std::map<std::uint64_t, Forward>::const_iterator firstOverlap(std::uint64_t lo) const {
        auto it = windows_.lower_bound(lo);
        if (it != windows_.begin() && std::prev(it)->second.hi > lo)
            --it;
        return it;
    }

    std::map<std::uint64_t, Forward> windows_;
};

// Where the box read at `at` with `strides` and `extent` finds its elements inside the
// forwarded window `w`, when every dimension of the read follows one dimension of the window's
// box (a sub-box, possibly with dimensions exchanged, as a transposed stream reads).
std::optional<View> compose(const ForwardMap::Entry& w, std::uint64_t at, const Strides& strides,
                            const Extent& extent, std::uint32_t elementBytes) {
    const Forward& f = w.second;
    if (elementBytes != f.elementBytes || (at - f.boxStart) % elementBytes != 0)
        return std::nullopt;
    std::uint64_t rest = at - f.boxStart;
    std::array<std::uint64_t, 4> start{};
    View v{f.source.base, {}};
    for (std::size_t g = 0; g < 4; ++g) {
        start[g] = rest / f.packed[g];
        rest %= f.packed[g];
        v.base += start[g] * f.source.strides[g];
    }
    std::array<bool, 4> used{};
    for (std::size_t d = 0; d < 4; ++d) {
        if (extent[d] <= 1)
            continue;
        std::optional<std::size_t> match;
        for (std::size_t k = 0; k < 4 && !match; ++k) {
            const std::size_t g = (d + k) % 4; // the same dimension first
            if (!used[g] && f.packed[g] == strides[d] && start[g] + extent[d] <= f.extent[g])
                match = g;
        }
        if (!match)
            return std::nullopt;
        used[*match] = true;
        v.strides[d] = f.source.strides[*match];
    }
    return v;
}

// Copies the bytes [lo, hi) of a forwarded window into the level's memory.
void materialize(const Forward& f, std::uint64_t lo, std::uint64_t hi, std::uint8_t* level) {
    const std::uint64_t e = f.elementBytes;
    for (std::uint64_t flat = (lo - f.boxStart) / e; f.boxStart + flat * e < hi; ++flat) {
        std::uint64_t rest = flat * e;
        const std::uint8_t* src = f.source.base;
        for (std::size_t g = 0; g < 4; ++g) {
            src += rest / f.packed[g] * f.source.strides[g];
            rest %= f.packed[g];
        }
        const std::uint64_t at = f.boxStart + flat * e;
        const std::uint64_t from = std::max(at, lo), to = std::min(at + e, hi);
        std::memcpy(level + from, src + (from - at), to - from);
    }
}

// Who last wrote and who has read each byte range of one level since: the order the items
// touching it must keep.
class HazardTracker {
public:
    void access(std::uint64_t lo, std::uint64_t hi, bool write, std::uint32_t item,
                std::vector<std::uint32_t>& deps) {
        if (lo >= hi)
            return;
        split(lo);
        split(hi);
        auto it = segments_.lower_bound(lo);
        if (write) {
            for (; it != segments_.end() && it->first < hi; it = segments_.erase(it)) {
                if (it->second.writer != kNone)
                    deps.push_back(it->second.writer);
                deps.insert(deps.end(), it->second.readers.begin(), it->second.readers.end());
            }
            segments_.emplace(lo, Segment{hi, item, {}});
            return;
        }
        std::uint64_t cursor = lo;
        while (cursor < hi) {
            if (it == segments_.end() || it->first > cursor) { // a gap: never written
                const std::uint64_t gapEnd =
                    it == segments_.end() ? hi : std::min<std::uint64_t>(hi, it->first);
                segments_.emplace(cursor, Segment{gapEnd, kNone, {item}});
                cursor = gapEnd;
                continue;
            }
            if (it->second.writer != kNone)
                deps.push_back(it->second.writer);
            it->second.readers.push_back(item);
            cursor = it->second.hi;
            ++it;
        }
    }

private:
    struct Segment {
        std::uint64_t hi;
        std::uint32_t writer;
        std::vector<std::uint32_t> readers;
    };

    // Cuts the segment that spans `at`, so that a segment starts there.
    void split(std::uint64_t at) {
        auto it = segments_.upper_bound(at);
        if (it == segments_.begin())
            return;
        --it;
        if (it->first >= at || it->second.hi <= at)
            return;
        Segment right = it->second;
        it->second.hi = at;
        segments_.emplace(at, std::move(right));
    }

    std::map<std::uint64_t, Segment> segments_;
};

// Dense copies of operand blocks read in place with short rows far apart (a B tile of a big
// matrix: 64-byte rows 8 KiB apart): such a read misses the host caches on every row, and the
// same block is read again by every pass that shares it (each row of output tiles). Blocks come
// from read-only tensors, so a copy never goes stale; the cache is a ring of `kBytes` whose
// oldest copies make way for new ones.
class PackCache {
public:
    static constexpr std::uint64_t kBytes = 16ull << 20;
    static constexpr std::uint64_t kShortRow = 256; // rows shorter than this are packed

    struct Key {
        const std::uint8_t* base;
        std::uint64_t rowStride, elementStride;
        std::uint32_t rows, cols, elementBytes;
        bool operator==(const Key&) const = default;
    };
    struct KeyHash {
        std::size_t operator()(const Key& k) const {
            std::size_t h = std::hash<const void*>()(k.base);
            for (std::uint64_t v :
                 {k.rowStride, k.elementStride, std::uint64_t{k.rows}, std::uint64_t{k.cols}})
                h = h * 1000003u ^ std::hash<std::uint64_t>()(v);
            return h;
        }
    };

    PackCache() : memory_(static_cast<std::uint8_t*>(std::aligned_alloc(64, kBytes))) {
        if (memory_ == nullptr)
            throw std::bad_alloc();
    }
    ~PackCache() { std::free(memory_); }
    PackCache(const PackCache&) = delete;
    PackCache& operator=(const PackCache&) = delete;

    static bool wanted(const Key& k) {
        const std::uint64_t row = std::uint64_t{k.cols} * k.elementBytes;
        return k.rows > 1 && row < kShortRow && k.rowStride != row &&
               std::uint64_t{k.rows} * row <= kBytes / 8;
    }
    std::uint8_t* memory() const { return memory_; }

    // The offset of the key's copy and whether it is there already (else the caller packs it).
    std::pair<std::uint64_t, bool> place(const Key& k) {
        if (auto it = offsets_.find(k); it != offsets_.end())
            return {it->second, true};
        const std::uint64_t bytes =
            (std::uint64_t{k.rows} * k.cols * k.elementBytes + 63) / 64 * 64;
        if (cursor_ + bytes > kBytes)
            cursor_ = 0;
        const std::uint64_t at = cursor_;
        cursor_ += bytes;
        for (auto it = byOffset_.lower_bound(at); it != byOffset_.end() && it->first < at + bytes;
             it = byOffset_.erase(it))
            offsets_.erase(it->second);
        byOffset_.emplace(at, k);
        offsets_.emplace(k, at);
        return {at, false};
    }

private:
    std::uint8_t* memory_;
    std::uint64_t cursor_ = 0;
    std::unordered_map<Key, std::uint64_t, KeyHash> offsets_;
    std::map<std::uint64_t, Key> byOffset_; // copies by offset, to evict the overlapped ones
};

enum class ItemKind : std::uint8_t { Copy, Materialize, Pack, Array, Vector };

// One unit of work: a physical move, the materialisation of part of a forwarded window, or a
// pass. `index` is the schedule op (or the materialisation); `operands` the first of its
// resolved input views.
struct Item {
    ItemKind kind;
    std::uint32_t index;
    std::uint32_t operands;
};

struct Pack {
    View source;
    std::uint64_t at; // offset in the pack cache
    std::uint32_t rows, cols, elementBytes;
};

struct Materialization {
    Forward forward;
    Level level;
    std::uint64_t lo, hi;
};

// A resolved read: where its elements are, and the bytes of simulated memory it reads (none
// when they are read in place from a read-only tensor).
struct Resolved {
    View view;
    bool forwarded = false;
    std::optional<std::pair<std::uint64_t, std::uint64_t>> physical;
};

template <class T>
std::vector<T>& threadScratch(int which) {
    thread_local std::array<std::vector<T>, 6> buffers;
    return buffers[static_cast<std::size_t>(which)];
}

// rows x cols elements of `v` (a 2-D box: dims 2 and 3) as a row-major matrix of T with leading
// dimension `ld`: in place when already so, else converted or gathered into `scratch`.
template <class T>
const T* matrixOf(const View& v, DType type, std::uint32_t rows, std::uint32_t cols,
                  std::int64_t& ld, std::vector<T>& scratch) {
    constexpr DType kSelf = sizeof(T) == 4 ? DType::F32 : DType::F64;
    const std::uint64_t e = dtypeSize(type);
    if (type == kSelf && v.strides[3] == e && (rows == 1 || v.strides[2] % e == 0)) {
        ld = rows == 1 ? cols : static_cast<std::int64_t>(v.strides[2] / e);
        return reinterpret_cast<const T*>(v.base);
    }
    scratch.resize(std::size_t{rows} * cols);
    ld = cols;
    for (std::uint32_t r = 0; r < rows; ++r) {
        const std::uint8_t* row = v.base + r * v.strides[2];
        T* out = scratch.data() + std::size_t{r} * cols;
        if (v.strides[3] == e) {
            if constexpr (sizeof(T) == 4)
                convertToF32(type, row, out, cols);
            else
                convertToF64(type, row, out, cols);
            continue;
        }
        for (std::uint32_t c = 0; c < cols; ++c) {
            if constexpr (sizeof(T) == 4)
                convertToF32(type, row + c * v.strides[3], out + c, 1);
            else
                convertToF64(type, row + c * v.strides[3], out + c, 1);
        }
    }
    return scratch.data();
}

class Functional {
public:
    Functional(const Schedule& s, const std::array<Arena*, kLevelCount>& levels,
               const FunctionalOptions& options)
        : s_(s), options_(options) {
        for (std::size_t l = 0; l < kLevelCount; ++l)
            memory_[l] = levels[l]->data();
        for (const TensorPlacement& t : s.tensors)
            if (t.readOnly && t.bytes > 0)
                readOnly_.emplace_back(t.offset, t.offset + t.bytes);
        std::ranges::sort(readOnly_);
    }

    void run() {
        for (std::uint32_t i = 0; i < s_.ops.size(); ++i) {
            const BoundOp& op = s_.ops[i];
            if (op.type == OpType::Move)
                planMove(i, s_.move(op));
            else if (op.type == OpType::Array)
                planArray(i, s_.array(op));
            else if (op.type == OpType::Vector)
                planVector(i, s_.vector(op));
        }
        runDag(items_.size(), itemDepOffsets_, itemDeps_, options_.threads,
               [this](std::uint32_t item) { execute(items_[item]); });
    }

private:
    // ---- planning: in schedule order, one pass ------------------------------------------------
    bool isReadOnly(std::uint64_t lo, std::uint64_t hi) const {
        auto it = std::ranges::upper_bound(readOnly_, std::pair{lo, UINT64_MAX});
        if (it == readOnly_.begin())
            return false;
        --it;
        return lo >= it->first && hi <= it->second;
    }

    Resolved resolve(const Address& at, const Strides& strides, const Extent& extent,
                     std::uint32_t elementBytes) {
        const auto level = static_cast<std::size_t>(at.level);
        const std::uint64_t lo = at.offset, hi = lo + spanBytes(strides, extent, elementBytes);
        Resolved r{View{memory_[level] + lo, strides}, false, std::pair{lo, hi}};
        if (at.level == Level::External) {
            if (isReadOnly(lo, hi)) {
                r.forwarded = options_.forward;
                r.physical.reset(); // nothing ever writes it
            }
            return r;
        }
        ForwardMap& map = forwards_[level];
        if (map.empty())
            return r;
        if (const ForwardMap::Entry* w = map.covering(lo, hi))
            if (auto v = compose(*w, lo, strides, extent, elementBytes))
                return Resolved{*v, true, std::nullopt};
        // Partly forwarded, or in a layout the window cannot express: make those bytes real.
        map.forEachOverlap(lo, hi, [&](const ForwardMap::Entry& w) {
            const auto index = static_cast<std::uint32_t>(materializations_.size());
            const std::uint64_t from = std::max(lo, w.first), to = std::min(hi, w.second.hi);
            materializations_.push_back(Materialization{w.second, at.level, from, to});
            const std::uint32_t item = addItem(ItemKind::Materialize, index, 0);
            hazards_[level].access(from, to, true, item, pendingDeps_);
            finishItem();
        });
        map.trim(lo, hi);
        return r;
    }

    // The item's reads and its write, then its dependencies.
    std::uint32_t addItem(ItemKind kind, std::uint32_t index, std::uint32_t operands) {
        items_.push_back(Item{kind, index, operands});
        pendingDeps_.clear();
        return static_cast<std::uint32_t>(items_.size() - 1);
    }
    void read(std::uint32_t item, Level level, const Resolved& r) {
        if (r.physical)
            hazards_[static_cast<std::size_t>(level)].access(r.physical->first, r.physical->second,
                                                             false, item, pendingDeps_);
    }
    void write(std::uint32_t item, Level level, std::uint64_t lo, std::uint64_t hi) {
        const auto l = static_cast<std::size_t>(level);
        if (level != Level::External)
            forwards_[l].trim(lo, hi);
        hazards_[l].access(lo, hi, true, item, pendingDeps_);
    }
    void finishItem() {
        const auto self = static_cast<std::uint32_t>(items_.size() - 1);
        std::ranges::sort(pendingDeps_);
        const auto [first, last] = std::ranges::unique(pendingDeps_);
        pendingDeps_.erase(first, last);
        for (std::uint32_t d : pendingDeps_)
            if (d != self)
                itemDeps_.push_back(d);
        itemDepOffsets_.push_back(static_cast<std::uint32_t>(itemDeps_.size()));
        pendingDeps_.clear();
    }

    void planMove(std::uint32_t i, const MoveOp& m) {
        const std::uint32_t e = m.elementBytes;
        const Resolved src = resolve(m.src, m.srcStrides, m.extent, e);
        const std::uint64_t lo = m.dst.offset, hi = lo + spanBytes(m.dstStrides, m.extent, e);
        if (src.forwarded && m.dst.level != Level::External &&
            isPacked(m.dstStrides, m.extent, e)) {
            forwards_[static_cast<std::size_t>(m.dst.level)].insert(
                lo, Forward{.hi = hi,
                            .boxStart = lo,
                            .extent = m.extent,
                            .packed = packedStrides(m.extent, e),
                            .source = src.view,
                            .elementBytes = e});
            return;
        }
        const std::uint32_t item = addItem(ItemKind::Copy, i, pushOperand(src.view));
        read(item, m.src.level, src);
        write(item, m.dst.level, lo, hi);
        finishItem();
    }

    void planArray(std::uint32_t i, const ArrayOp& a) {
        auto operand = [&](const Address& at, DType type, std::uint32_t rows, std::uint32_t cols) {
            const Extent extent{1, 1, rows, cols};
            const std::uint32_t e = dtypeSize(type);
            return std::pair{at.level, resolve(at, packedStrides(extent, e), extent, e)};
        };
        std::array<std::pair<Level, Resolved>, 4> in{
            operand(a.a, a.aType, a.m, a.k), operand(a.b, a.bType, a.k, a.n),
            a.hasInit ? operand(a.init, a.initType, a.m, a.n) : std::pair{Level::L1, Resolved{}},
            a.hasBias ? operand(a.bias, a.biasType, 1, a.n) : std::pair{Level::L1, Resolved{}}};
        std::array<std::optional<std::pair<std::uint64_t, std::uint64_t>>, 4> packed;
        packed[0] = pack(in[0].second, a.aType, a.m, a.k);
        packed[1] = pack(in[1].second, a.bType, a.k, a.n);
        const std::uint32_t first = pushOperand(in[0].second.view);
        for (std::size_t k = 1; k < in.size(); ++k)
            pushOperand(in[k].second.view);
        const std::uint32_t item = addItem(ItemKind::Array, i, first);
        for (const auto& [level, r] : in)
            read(item, level, r);
        for (const auto& range : packed)
            if (range)
                packHazards_.access(range->first, range->second, false, item, pendingDeps_);
        const std::uint64_t out = a.out.offset;
        write(item, a.out.level, out, out + std::uint64_t{a.m} * a.n * dtypeSize(a.outType));
        finishItem();
    }

    void planVector(std::uint32_t i, const VectorOp& v) {
        std::vector<std::pair<Level, Resolved>> in;
        for (const VectorOperand& operand : v.inputs) {
            const std::uint32_t e = dtypeSize(operand.dtype);
            in.emplace_back(operand.at.level, resolve(operand.at, packedStrides(operand.extent, e),
                                                      operand.extent, e));
        }
        const auto first = static_cast<std::uint32_t>(operands_.size());
        for (const auto& [level, r] : in)
            pushOperand(r.view);
        const std::uint32_t item = addItem(ItemKind::Vector, i, first);
        for (const auto& [level, r] : in)
            read(item, level, r);
        const VectorOperand& o = v.output;
        const std::uint64_t bytes = std::uint64_t{o.extent[0]} * o.extent[1] * o.extent[2] *
                                    o.extent[3] * dtypeSize(o.dtype);
        write(item, o.at.level, o.at.offset, o.at.offset + bytes);
        finishItem();
    }

    // A forwarded rows x cols operand with short rows far apart is read from the pack cache
    // instead (packed there first unless already there): `r` then points at the copy. Returns
    // the cache bytes the pass reads.
    std::optional<std::pair<std::uint64_t, std::uint64_t>>
    pack(Resolved& r, DType type, std::uint32_t rows, std::uint32_t cols) {
        const std::uint32_t e = dtypeSize(type);
        const PackCache::Key key{r.view.base, r.view.strides[2], r.view.strides[3], rows, cols, e};
        if (!r.forwarded || r.view.strides[3] != e || !PackCache::wanted(key))
            return std::nullopt;
        const auto [at, present] = cache_.place(key);
        const std::uint64_t end = at + std::uint64_t{rows} * cols * e;
        if (!present) {
            const auto index = static_cast<std::uint32_t>(packs_.size());
            packs_.push_back(Pack{r.view, at, rows, cols, e});
            const std::uint32_t item = addItem(ItemKind::Pack, index, 0);
            packHazards_.access(at, end, true, item, pendingDeps_);
            finishItem();
        }
        r.view = View{cache_.memory() + at, {0, 0, std::uint64_t{cols} * e, e}};
        return std::pair{at, end};
    }

    std::uint32_t pushOperand(const View& v) {
        operands_.push_back(v);
        return static_cast<std::uint32_t>(operands_.size() - 1);
    }

    // ---- execution: any thread, any order the hazards allow ---------------------------------
    std::uint8_t* at(const Address& a) const {
        return memory_[static_cast<std::size_t>(a.level)] + a.offset;
    }

    void execute(const Item& item) const {
        switch (item.kind) {
        case ItemKind::Copy: {
            const MoveOp& m = s_.move(s_.ops[item.index]);
            copyBox(operands_[item.operands], at(m.dst), m.dstStrides, m.extent, m.elementBytes);
            return;
        }
        case ItemKind::Materialize: {
            const Materialization& m = materializations_[item.index];
            materialize(m.forward, m.lo, m.hi, memory_[static_cast<std::size_t>(m.level)]);
            return;
        }
        case ItemKind::Pack: {
            const Pack& p = packs_[item.index];
            const Extent extent{1, 1, p.rows, p.cols};
            copyBox(p.source, cache_.memory() + p.at, packedStrides(extent, p.elementBytes), extent,
                    p.elementBytes);
            return;
        }
        case ItemKind::Array:
            executeArray(s_.array(s_.ops[item.index]), &operands_[item.operands]);
            return;
        case ItemKind::Vector:
            executeVector(s_.vector(s_.ops[item.index]), &operands_[item.operands]);
            return;
        }
    }

    template <class T>
    void gemm(const ArrayOp& op, const View* in) const {
        std::int64_t lda = 0, ldb = 0;
        const T* a = matrixOf<T>(in[0], op.aType, op.m, op.k, lda, threadScratch<T>(0));
        const T* b = matrixOf<T>(in[1], op.bType, op.k, op.n, ldb, threadScratch<T>(1));
        constexpr DType kSelf = sizeof(T) == 4 ? DType::F32 : DType::F64;
        const std::size_t count = std::size_t{op.m} * op.n;
        std::vector<T>& outScratch = threadScratch<T>(2);
        T* c = nullptr;
        if (op.outType == kSelf) {
            c = reinterpret_cast<T*>(at(op.out));
        } else {
            outScratch.resize(count);
            c = outScratch.data();
        }
        if (op.hasInit) {
            std::int64_t ldi = 0;
            const T* init = matrixOf<T>(in[2], op.initType, op.m, op.n, ldi, threadScratch<T>(3));
            if (init != c) // accumulating in place reads and writes the same block
                for (std::uint32_t r = 0; r < op.m; ++r)
                    std::memmove(c + std::size_t{r} * op.n, init + r * ldi, op.n * sizeof(T));
        }
        using Args = std::conditional_t<sizeof(T) == 4, GemmF32Args, GemmF64Args>;
        const Args args{.m = op.m,
                        .n = op.n,
                        .k = op.k,
                        .a = a,
                        .lda = lda,
                        .b = b,
                        .ldb = ldb,
                        .c = c,
                        .ldc = op.n,
                        .accumulate = op.hasInit};
        if constexpr (sizeof(T) == 4)
            selectedKernels().sgemm(args);
        else
            selectedKernels().dgemm(args);
        if (op.hasBias || op.activation != Activation::None) {
            const T* bias = nullptr;
            if (op.hasBias) {
                std::int64_t ld = 0;
                bias = matrixOf<T>(in[3], op.biasType, 1, op.n, ld, threadScratch<T>(4));
            }
            if constexpr (sizeof(T) == 4)
                applyEpilogueF32(c, op.m, op.n, bias, op.activation, op.activationMin,
                                 op.activationMax);
            else
                applyEpilogueF64(c, op.m, op.n, bias, op.activation, op.activationMin,
                                 op.activationMax);
        }
        if (op.outType != kSelf) {
            if constexpr (sizeof(T) == 4)
                convertFromF32(op.outType, c, at(op.out), count);
            else
                convertFromF64(op.outType, c, at(op.out), count);
        }
    }

    void executeArray(const ArrayOp& op, const View* in) const {
        const bool f64 = op.aType == DType::F64 || op.bType == DType::F64 ||
                         op.outType == DType::F64 || (op.hasInit && op.initType == DType::F64);
        if (f64)
            gemm<double>(op, in);
        else
            gemm<float>(op, in);
    }

    void executeVector(const VectorOp& op, const View* in) const {
        thread_local std::vector<const std::uint8_t*> pointers;
        thread_local std::vector<std::vector<std::uint8_t>> gathered;
        pointers.resize(op.inputs.size());
        if (gathered.size() < op.inputs.size())
            gathered.resize(op.inputs.size());
        for (std::size_t i = 0; i < op.inputs.size(); ++i) {
            const VectorOperand& operand = op.inputs[i];
            const std::uint32_t e = dtypeSize(operand.dtype);
            if (isPacked(in[i].strides, operand.extent, e)) {
                pointers[i] = in[i].base;
                continue;
            }
            // Read in place from a tensor in another layout: gather the block.
            const Extent& x = operand.extent;
            gathered[i].resize(std::size_t{x[0]} * x[1] * x[2] * x[3] * e);
            copyBox(in[i], gathered[i].data(), packedStrides(x, e), x, e);
            pointers[i] = gathered[i].data();
        }
        executeVectorOp(op, pointers, at(op.output.at));
    }

    const Schedule& s_;
    FunctionalOptions options_;
    std::array<std::uint8_t*, kLevelCount> memory_{};
    std::vector<std::pair<std::uint64_t, std::uint64_t>> readOnly_; // external byte ranges
    std::array<ForwardMap, kLevelCount> forwards_;
    std::array<HazardTracker, kLevelCount> hazards_;
    std::vector<Item> items_;
    std::vector<View> operands_;
    std::vector<Materialization> materializations_;
    PackCache cache_;
    HazardTracker packHazards_;
    std::vector<Pack> packs_;
    std::vector<std::uint32_t> itemDepOffsets_{0}, itemDeps_, pendingDeps_;
};

} // namespace

void executeFunctional(const Schedule& schedule, const std::array<Arena*, kLevelCount>& levels,
                       const FunctionalOptions& options) {
    Functional(schedule, levels, options).run();
}

} // namespace kpu::sim
