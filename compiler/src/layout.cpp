#include "kpu/compiler/layout.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <optional>
#include <string_view>
#include <unordered_set>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace kpu::ir {
namespace {

using Perm = std::vector<std::int64_t>;

bool isUnaryElementwise(OpKind kind) {
    switch (kind) {
    case OpKind::Relu:
    case OpKind::Clamp:
    case OpKind::Sigmoid:
    case OpKind::Tanh:
    case OpKind::Exp:
    case OpKind::Log:
    case OpKind::Sqrt:
    case OpKind::Abs:
    case OpKind::Negate:
    case OpKind::Reciprocal:
    case OpKind::Gelu:
    case OpKind::Erf:
        return true;
    default:
        return false;
    }
}

bool isBinaryElementwise(OpKind kind) {
    switch (kind) {
    case OpKind::Add:
    case OpKind::Sub:
    case OpKind::Mul:
    case OpKind::Div:
    case OpKind::Maximum:
    case OpKind::Minimum:
        return true;
    default:
        return false;
    }
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// The integers of a perms attribute, in the forms operator semantics accept:
// "array<i32: 0, 3, 1, 2>", "[0, 3, 1, 2]", "dense<[0, 3, 1, 2]> : tensor<4xi32>".
std::optional<Perm> parsePermText(std::string_view text) {
    text = trim(text);
    std::string_view list;
    if (text.starts_with("array<") && text.ends_with('>')) {
        const std::string_view inner = text.substr(6, text.size() - 7);
        const std::size_t colon = inner.find(':');
        if (colon != std::string_view::npos)
            list = inner.substr(colon + 1);
    } else if (text.starts_with("dense<") || text.starts_with('[')) {
        const std::size_t open = text.find('['), close = text.rfind(']');
        if (open == std::string_view::npos || close == std::string_view::npos || close < open)
            return std::nullopt;
        list = text.substr(open + 1, close - open - 1);
    } else {
        return std::nullopt;
    }
    Perm out;
    if (trim(list).empty())
        return out;
    while (true) {
        const std::size_t comma = list.find(',');
        const std::string_view item = trim(list.substr(0, comma));
        std::int64_t v = 0;
        auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
        if (item.empty() || ec != std::errc() || ptr != item.data() + item.size())
            return std::nullopt;
        out.push_back(v);
        if (comma == std::string_view::npos)
            return out;
        list.remove_prefix(comma + 1);
    }
}

// The permutation of a TRANSPOSE ("perms" wins over "perm", as in operator semantics).
std::optional<Perm> permOf(const Operation& op) {
    for (std::string_view key : {"perms", "perm"})
        for (const Attribute& a : op.attributes)
            if (a.key == key)
                return parsePermText(a.value);
    return std::nullopt;
}

void setPerm(Operation& op, const Perm& perm) {
    std::erase_if(op.attributes,
                  [](const Attribute& a) { return a.key == "perms" || a.key == "perm"; });
    op.attributes.push_back({"perms", fmt::format("array<i32: {}>", fmt::join(perm, ", "))});
}

bool isPermutation(const Perm& perm) {
    std::vector<bool> seen(perm.size(), false);
    for (std::int64_t p : perm) {
        if (p < 0 || p >= static_cast<std::int64_t>(perm.size()) ||
            seen[static_cast<std::size_t>(p)])
            return false;
        seen[static_cast<std::size_t>(p)] = true;
    }
    return true;
}

bool isIdentity(const Perm& perm) {
    for (std::size_t d = 0; d < perm.size(); ++d)
        if (perm[d] != static_cast<std::int64_t>(d))
            return false;
    return true;
}

// out.shape[d] = shape[perm[d]].
Shape permuted(const Shape& shape, const Perm& perm) {
    Shape out(perm.size());
    for (std::size_t d = 0; d < perm.size(); ++d)
        out[d] = shape[static_cast<std::size_t>(perm[d])];
    return out;
}

Perm inverse(const Perm& perm) {
    Perm inv(perm.size());
    for (std::size_t d = 0; d < perm.size(); ++d)
        inv[static_cast<std::size_t>(perm[d])] = static_cast<std::int64_t>(d);
    return inv;
}

// numpy.transpose(data, perm) on dense row-major elements of `elementSize` bytes.
std::vector<std::uint8_t> permutedData(const std::vector<std::uint8_t>& data, const Shape& shape,
                                       const Perm& perm, std::size_t elementSize) {
    const std::size_t rank = shape.size();
    std::vector<std::int64_t> strides(rank, 1);
    for (std::size_t d = rank; d-- > 1;)
        strides[d - 1] = strides[d] * shape[d];
    const Shape outShape = permuted(shape, perm);
    std::vector<std::uint8_t> out(data.size());
    const std::size_t count = data.size() / elementSize;
    std::vector<std::int64_t> index(rank, 0);
    for (std::size_t i = 0; i < count; ++i) {
        std::int64_t src = 0;
        for (std::size_t d = 0; d < rank; ++d)
            src += index[d] * strides[static_cast<std::size_t>(perm[d])];
        std::memcpy(out.data() + i * elementSize,
                    data.data() + static_cast<std::size_t>(src) * elementSize, elementSize);
        for (std::size_t d = rank; d-- > 0;) {
            if (++index[d] < outShape[d])
                break;
            index[d] = 0;
        }
    }
    return out;
}

// numpy broadcasting; nullopt when the shapes do not broadcast.
std::optional<Shape> broadcast(const Shape& a, const Shape& b) {
    const std::size_t rank = std::max(a.size(), b.size());
    Shape out(rank);
    for (std::size_t i = 0; i < rank; ++i) {
        const std::int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
        const std::int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
        if (da != db && da != 1 && db != 1)
            return std::nullopt;
        out[i] = da == 1 ? db : da;
    }
    return out;
}

struct Use {
    std::size_t op;
    std::size_t slot;
};

class TransposeSinker {
public:
    explicit TransposeSinker(Graph& graph) : graph_(graph) {}

    void run() {
        if (std::ranges::none_of(graph_.ops,
                                 [](const Operation& op) { return op.kind == OpKind::Transpose; }))
            return;
        for (const Value& v : graph_.values)
            names_.insert(v.name);
        bool changed = false;
        // Every rewrite removes a TRANSPOSE or moves one past an operation, so this ends; the
        // bound only guards against a mistake.
        const std::size_t limit = 8 * graph_.ops.size() + 64;
        for (std::size_t round = 0; round < limit; ++round) {
            changed = removeDeadTransposes() || changed;
            findReaders();
            if (!rewriteOne())
                break;
            changed = true;
            renumber();
        }
        if (changed)
            compactValues();
    }

private:
    // ---- bookkeeping ----
    Value& value(ValueId id) { return graph_.values[static_cast<std::size_t>(id)]; }
    const TensorType& typeOf(ValueId id) const { return graph_.value(id).type; }

    bool isOutput(ValueId id) const {
        return std::ranges::find(graph_.outputs, id) != graph_.outputs.end();
    }

    void findReaders() {
        readers_.assign(graph_.values.size(), {});
        for (std::size_t i = 0; i < graph_.ops.size(); ++i)
            for (std::size_t k = 0; k < graph_.ops[i].operands.size(); ++k)
                if (const ValueId v = graph_.ops[i].operands[k]; v != kNoValue)
                    readers_[static_cast<std::size_t>(v)].push_back({i, k});
    }

    // The value is read only by operation `op` (in one or more slots) and is not an output.
    bool onlyReadBy(ValueId v, std::size_t op) const {
        const auto& uses = readers_[static_cast<std::size_t>(v)];
        return !uses.empty() && !isOutput(v) &&
               std::ranges::all_of(uses, [&](const Use& u) { return u.op == op; });
    }

    std::optional<std::size_t> producerIndex(ValueId v) const {
        const std::int32_t p = graph_.value(v).producer;
        if (p < 0 || static_cast<std::size_t>(p) >= graph_.ops.size())
            return std::nullopt;
        return static_cast<std::size_t>(p);
    }

    // The permutation of a TRANSPOSE that only moves data: one connected operand, one result of
    // the operand's element type and of the permuted shape.
    std::optional<Perm> pureTranspose(const Operation& op) const {
        if (op.kind != OpKind::Transpose || op.operands.size() != 1 || op.results.size() != 1 ||
            op.operands[0] == kNoValue)
            return std::nullopt;
        auto perm = permOf(op);
        const TensorType& in = typeOf(op.operands[0]);
        const TensorType& out = typeOf(op.results[0]);
        if (!perm || perm->size() != in.shape.size() || !isPermutation(*perm) ||
            in.dtype != out.dtype || permuted(in.shape, *perm) != out.shape)
            return std::nullopt;
        return perm;
    }

    // The TRANSPOSE producing `v` (pure), with its index and permutation.
    std::optional<std::pair<std::size_t, Perm>> transposeProducing(ValueId v) const {
        const auto at = producerIndex(v);
        if (!at)
            return std::nullopt;
        auto perm = pureTranspose(graph_.ops[*at]);
        if (!perm)
            return std::nullopt;
        return std::pair{*at, std::move(*perm)};
    }

    void syncOperandTypes(Operation& op) const {
        op.operandTypes.resize(op.operands.size());
        for (std::size_t k = 0; k < op.operands.size(); ++k)
            if (op.operands[k] != kNoValue)
                op.operandTypes[k] = typeOf(op.operands[k]);
    }

    ValueId newValue(const std::string& base, TensorType type, const Value& like) {
        Value v;
        v.name = base;
        for (int n = 2; names_.contains(v.name); ++n)
            v.name = fmt::format("{}.{}", base, n);
        names_.insert(v.name);
        v.sourceName = like.sourceName;
        v.type = std::move(type);
        graph_.values.push_back(std::move(v));
        return static_cast<ValueId>(graph_.values.size() - 1);
    }

    // Producers are op indices: renumbered after every change of Graph::ops.
    void renumber() {
        for (std::size_t i = 0; i < graph_.ops.size(); ++i)
            for (std::size_t slot = 0; slot < graph_.ops[i].results.size(); ++slot)
                if (const ValueId r = graph_.ops[i].results[slot]; r != kNoValue) {
                    value(r).producer = static_cast<std::int32_t>(i);
                    value(r).producerSlot = static_cast<std::int32_t>(slot);
                }
    }

    // Replaces operation `at` by `replacement` (in order, in its place) and erases the
    // operations `erased` (all before `at`, producers of nothing read any more).
    void splice(std::size_t at, std::vector<Operation> replacement,
                std::vector<std::size_t> erased) {
        std::ranges::sort(erased);
        erased.erase(std::ranges::unique(erased).begin(), erased.end());
        std::vector<Operation> ops;
        ops.reserve(graph_.ops.size() + replacement.size());
        for (std::size_t i = 0; i < graph_.ops.size(); ++i) {
            if (std::ranges::binary_search(erased, i))
                continue;
            if (i == at) {
                for (Operation& r : replacement)
                    ops.push_back(std::move(r));
                continue;
            }
            ops.push_back(std::move(graph_.ops[i]));
        }
        graph_.ops = std::move(ops);
    }

    // TRANSPOSEs whose result nothing reads and that is not an output; removing one can leave
    // its operand's TRANSPOSE unread, so this walks backwards.
    bool removeDeadTransposes() {
        std::vector<std::size_t> uses(graph_.values.size(), 0);
        for (const Operation& op : graph_.ops)
            for (ValueId v : op.operands)
                if (v != kNoValue)
                    ++uses[static_cast<std::size_t>(v)];
        std::vector<bool> dead(graph_.ops.size(), false);
        bool any = false;
        for (std::size_t i = graph_.ops.size(); i-- > 0;) {
            const Operation& op = graph_.ops[i];
            if (op.kind != OpKind::Transpose || op.results.size() != 1 ||
                op.results[0] == kNoValue || uses[static_cast<std::size_t>(op.results[0])] != 0 ||
                isOutput(op.results[0]))
                continue;
            dead[i] = true;
            any = true;
            for (ValueId v : op.operands)
                if (v != kNoValue)
                    --uses[static_cast<std::size_t>(v)];
        }
        if (!any)
            return false;
        std::vector<Operation> ops;
        ops.reserve(graph_.ops.size());
        for (std::size_t i = 0; i < graph_.ops.size(); ++i)
            if (!dead[i])
                ops.push_back(std::move(graph_.ops[i]));
        graph_.ops = std::move(ops);
        renumber();
        return true;
    }

    // Drops values no operation produces or reads and that are not inputs, constants or
    // outputs (the results of removed TRANSPOSEs), renumbering ValueIds.
    void compactValues() {
        std::vector<bool> keep(graph_.values.size(), false);
        for (const Operation& op : graph_.ops) {
            for (ValueId v : op.operands)
                if (v != kNoValue)
                    keep[static_cast<std::size_t>(v)] = true;
            for (ValueId v : op.results)
                if (v != kNoValue)
                    keep[static_cast<std::size_t>(v)] = true;
        }
        for (const auto* list : {&graph_.inputs, &graph_.constants, &graph_.outputs})
            for (ValueId v : *list)
                keep[static_cast<std::size_t>(v)] = true;
        std::vector<ValueId> remap(graph_.values.size(), kNoValue);
        std::vector<Value> values;
        for (std::size_t v = 0; v < graph_.values.size(); ++v)
            if (keep[v]) {
                remap[v] = static_cast<ValueId>(values.size());
                values.push_back(std::move(graph_.values[v]));
            }
        graph_.values = std::move(values);
        const auto apply = [&](ValueId& v) {
            if (v != kNoValue)
                v = remap[static_cast<std::size_t>(v)];
        };
        for (Operation& op : graph_.ops) {
            std::ranges::for_each(op.operands, apply);
            std::ranges::for_each(op.results, apply);
        }
        for (auto* list : {&graph_.inputs, &graph_.constants, &graph_.outputs})
            std::ranges::for_each(*list, apply);
        renumber();
    }

    // ---- the rewrites ----
    // The first rewrite that applies, in op order; false at the fixpoint.
    bool rewriteOne() {
        for (std::size_t i = 0; i < graph_.ops.size(); ++i) {
            const OpKind kind = graph_.ops[i].kind;
            if (kind == OpKind::Transpose) {
                const auto perm = pureTranspose(graph_.ops[i]);
                if (perm && (foldTranspose(i, *perm) || sinkPastUnary(i, *perm)))
                    return true;
            } else if (isBinaryElementwise(kind)) {
                if (sinkPastBinary(i) || sinkPastBinaryWithConstant(i))
                    return true;
            }
        }
        return false;
    }

    // Rule 1: T_p2(T_p1(x)) -> T_q(x) with q[d] = p1[p2[d]]; the identity disappears.
    bool foldTranspose(std::size_t i, const Perm& p2) {
        Operation& op = graph_.ops[i];
        ValueId x = op.operands[0];
        Perm q = p2;
        if (auto inner = transposeProducing(x)) {
            const Perm& p1 = inner->second;
            for (std::size_t d = 0; d < q.size(); ++d)
                q[d] = p1[static_cast<std::size_t>(p2[d])];
            x = graph_.ops[inner->first].operands[0];
        } else if (!isIdentity(p2)) {
            return false;
        }
        const ValueId result = op.results[0];
        if (!isIdentity(q)) {
            op.operands[0] = x;
            setPerm(op, q);
            syncOperandTypes(op);
            return true;
        }
        if (isOutput(result)) {
            // The output keeps its value: a same-shape RESHAPE of x, a storage alias.
            op.kind = OpKind::Reshape;
            op.opName = std::string(opKindName(OpKind::Reshape));
            std::erase_if(op.attributes,
                          [](const Attribute& a) { return a.key == "perms" || a.key == "perm"; });
            op.operands[0] = x;
            syncOperandTypes(op);
            return true;
        }
        for (const Use& u : readers_[static_cast<std::size_t>(result)]) {
            Operation& reader = graph_.ops[u.op];
            reader.operands[u.slot] = x;
            if (reader.operandTypes.size() <= u.slot)
                reader.operandTypes.resize(u.slot + 1);
            reader.operandTypes[u.slot] = typeOf(x);
        }
        return !readers_[static_cast<std::size_t>(result)].empty();
    }

    // Rule 2: U(T_p(x)) -> T_p(U(x)) when U is the transpose's only reader.
    bool sinkPastUnary(std::size_t i, const Perm& /*perm*/) {
        const Operation& t = graph_.ops[i];
        const ValueId moved = t.results[0];
        const auto& uses = readers_[static_cast<std::size_t>(moved)];
        if (uses.size() != 1 || isOutput(moved))
            return false;
        const std::size_t j = uses[0].op;
        const Operation& u = graph_.ops[j];
        if (!isUnaryElementwise(u.kind) || u.operands.size() != 1 || u.results.size() != 1 ||
            u.results[0] == kNoValue || typeOf(u.results[0]).shape != typeOf(moved).shape)
            return false;
        const ValueId x = t.operands[0];
        const ValueId r = u.results[0];
        const ValueId early =
            newValue(graph_.value(r).name + ".pre_transpose",
                     TensorType{typeOf(x).shape, typeOf(r).dtype}, graph_.value(r));
        Operation unary = u;
        unary.operands = {x};
        unary.results = {early};
        syncOperandTypes(unary);
        Operation transpose = graph_.ops[i];
        transpose.operands = {early};
        transpose.results = {r};
        syncOperandTypes(transpose);
        splice(j, {std::move(unary), std::move(transpose)}, {i});
        return true;
    }

    // Rule 3: B(T_p(a), T_p(b)) -> T_p(B(a, b)) for a and b of equal shapes.
    bool sinkPastBinary(std::size_t j) {
        const Operation& b = graph_.ops[j];
        if (b.operands.size() != 2 || b.results.size() != 1 || b.results[0] == kNoValue ||
            b.operands[0] == kNoValue || b.operands[1] == kNoValue)
            return false;
        const auto lhs = transposeProducing(b.operands[0]);
        const auto rhs = transposeProducing(b.operands[1]);
        if (!lhs || !rhs || lhs->second != rhs->second || !onlyReadBy(b.operands[0], j) ||
            !onlyReadBy(b.operands[1], j))
            return false;
        const ValueId a0 = graph_.ops[lhs->first].operands[0];
        const ValueId a1 = graph_.ops[rhs->first].operands[0];
        const ValueId r = b.results[0];
        if (typeOf(a0).shape != typeOf(a1).shape || typeOf(r).shape != typeOf(b.operands[0]).shape)
            return false;
        const ValueId early =
            newValue(graph_.value(r).name + ".pre_transpose",
                     TensorType{typeOf(a0).shape, typeOf(r).dtype}, graph_.value(r));
        Operation binary = b;
        binary.operands = {a0, a1};
        binary.results = {early};
        syncOperandTypes(binary);
        Operation transpose = graph_.ops[lhs->first];
        transpose.operands = {early};
        transpose.results = {r};
        syncOperandTypes(transpose);
        splice(j, {std::move(binary), std::move(transpose)}, {lhs->first, rhs->first});
        return true;
    }

    // Rule 3 with a constant: B(T_p(a), c) -> T_p(B(a, c')), c' = c at full rank permuted by
    // p's inverse (either operand order).
    bool sinkPastBinaryWithConstant(std::size_t j) {
        const Operation& b = graph_.ops[j];
        if (b.operands.size() != 2 || b.results.size() != 1 || b.results[0] == kNoValue ||
            b.operands[0] == kNoValue || b.operands[1] == kNoValue)
            return false;
        for (std::size_t slot = 0; slot < 2; ++slot) {
            const ValueId moved = b.operands[slot];
            const ValueId c = b.operands[1 - slot];
            const auto t = transposeProducing(moved);
            if (!t || !onlyReadBy(moved, j) || !isFoldableConstant(c, j))
                continue;
            const Perm& perm = t->second;
            const Shape& ts = typeOf(moved).shape;
            const Shape& cs = typeOf(c).shape;
            const ValueId r = b.results[0];
            if (cs.size() > ts.size() || ts.size() > 4 || broadcast(ts, cs) != typeOf(r).shape ||
                typeOf(r).shape != ts)
                continue;
            // c at full rank (leading ones: same bytes), then permuted by the inverse.
            Shape full(ts.size() - cs.size(), 1);
            full.insert(full.end(), cs.begin(), cs.end());
            const Perm inv = inverse(perm);
            Value& constant = value(c);
            constant.data = permutedData(constant.data, full, inv, dtypeSize(constant.type.dtype));
            constant.type.shape = permuted(full, inv);
            const ValueId a = graph_.ops[t->first].operands[0];
            const ValueId early =
                newValue(graph_.value(r).name + ".pre_transpose",
                         TensorType{typeOf(a).shape, typeOf(r).dtype}, graph_.value(r));
            Operation binary = b;
            binary.operands[slot] = a;
            binary.results = {early};
            syncOperandTypes(binary);
            Operation transpose = graph_.ops[t->first];
            transpose.operands = {early};
            transpose.results = {r};
            syncOperandTypes(transpose);
            splice(j, {std::move(binary), std::move(transpose)}, {t->first});
            return true;
        }
        return false;
    }

    // A CONSTANT carrying its values, read only by operation `op`.
    bool isFoldableConstant(ValueId c, std::size_t op) const {
        const Value& v = graph_.value(c);
        const auto at = producerIndex(c);
        if (!at || graph_.ops[*at].kind != OpKind::Constant || v.data.empty() ||
            !onlyReadBy(c, op) || std::ranges::find(graph_.inputs, c) != graph_.inputs.end())
            return false;
        const auto count = elementCount(v.type.shape);
        return count &&
               static_cast<std::uint64_t>(*count) * dtypeSize(v.type.dtype) == v.data.size();
    }

    Graph& graph_;
    std::vector<std::vector<Use>> readers_;
    std::unordered_set<std::string> names_;
};

} // namespace

void sinkTransposes(Graph& graph) {
    TransposeSinker(graph).run();
}

} // namespace kpu::ir
