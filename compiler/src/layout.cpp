#include "kpu/compiler/layout.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <optional>
#include <string_view>
#include <unordered_set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kpu/compiler/op_params.h"

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

// The permutation of a TRANSPOSE ("perms" wins over "perm", as in operator semantics).
std::optional<Perm> permOf(const Operation& op) {
    for (std::string_view key : {"perms", "perm"})
        for (const Attribute& a : op.attributes)
            if (a.key == key)
                return parseIntsAttribute(a.value);
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

// Where a value is read: operation (by handle) and operand slot.
struct Use {
    std::size_t op;
    std::size_t slot;
};

// The rewrites work on operations by stable handles (indices into ops_) kept in a linked list in
// topological order, with each value's producer and readers maintained as operations change, so
// one walk over the list applies every rewrite whose conditions hold when it is reached; walks
// repeat until one changes nothing. Graph::ops is rebuilt from the list at the end.
class TransposeSinker {
public:
    explicit TransposeSinker(Graph& graph) : graph_(graph) {}

    void run() {
        if (std::ranges::none_of(graph_.ops,
                                 [](const Operation& op) { return op.kind == OpKind::Transpose; }))
            return;
        load();
        bool changed = false;
        for (std::size_t h = ops_.size(); h-- > 0;)
            changed = maybeRemove(h) || changed;
        // Every rewrite removes a TRANSPOSE or moves one past an operation, so this ends; the
        // budget only guards against a mistake.
        budget_ = 16 * ops_.size() + 64;
        for (bool walkChanged = true; walkChanged && budget_ > 0;) {
            walkChanged = false;
            for (std::size_t h = head_; h != kEnd; h = next_[h])
                while (alive_[h] && budget_ > 0 && rewriteAt(h)) {
                    --budget_;
                    walkChanged = changed = true;
                }
        }
        store(changed);
    }

private:
    static constexpr std::size_t kEnd = SIZE_MAX;

    // ---- the working representation ----
    void load() {
        ops_ = std::move(graph_.ops);
        graph_.ops.clear();
        alive_.assign(ops_.size(), true);
        next_.resize(ops_.size());
        prev_.resize(ops_.size());
        for (std::size_t h = 0; h < ops_.size(); ++h) {
            next_[h] = h + 1 < ops_.size() ? h + 1 : kEnd;
            prev_[h] = h > 0 ? h - 1 : kEnd;
        }
        head_ = ops_.empty() ? kEnd : 0;
        producer_.assign(graph_.values.size(), kEnd);
        readers_.assign(graph_.values.size(), {});
        output_.assign(graph_.values.size(), false);
        for (ValueId v : graph_.outputs)
            output_[static_cast<std::size_t>(v)] = true;
        for (std::size_t h = 0; h < ops_.size(); ++h) {
            for (ValueId r : ops_[h].results)
                if (r != kNoValue)
                    producer_[static_cast<std::size_t>(r)] = h;
            for (std::size_t k = 0; k < ops_[h].operands.size(); ++k)
                if (const ValueId v = ops_[h].operands[k]; v != kNoValue)
                    readers_[static_cast<std::size_t>(v)].push_back({h, k});
        }
        for (const Value& v : graph_.values)
            names_.insert(v.name);
    }

    // Graph::ops from the list; after changes, producers renumbered and values nothing refers
    // to dropped.
    void store(bool changed) {
        for (std::size_t h = head_; h != kEnd; h = next_[h])
            graph_.ops.push_back(std::move(ops_[h]));
        ops_.clear();
        if (changed)
            compactValues();
    }

    const TensorType& typeOf(ValueId id) const { return graph_.value(id).type; }
    bool isOutput(ValueId v) const { return output_[static_cast<std::size_t>(v)]; }
    const std::vector<Use>& readersOf(ValueId v) const {
        return readers_[static_cast<std::size_t>(v)];
    }
    std::size_t producerOf(ValueId v) const { return producer_[static_cast<std::size_t>(v)]; }

    // The value is read only by operation `op` (in one or more slots) and is not an output.
    bool onlyReadBy(ValueId v, std::size_t op) const {
        const auto& uses = readersOf(v);
        return !uses.empty() && !isOutput(v) &&
               std::ranges::all_of(uses, [&](const Use& u) { return u.op == op; });
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
        producer_.push_back(kEnd);
        readers_.emplace_back();
        output_.push_back(false);
        return static_cast<ValueId>(graph_.values.size() - 1);
    }

    void addUses(std::size_t h) {
        const Operation& op = ops_[h];
        for (std::size_t k = 0; k < op.operands.size(); ++k)
            if (op.operands[k] != kNoValue)
                readers_[static_cast<std::size_t>(op.operands[k])].push_back({h, k});
        for (ValueId r : op.results)
            if (r != kNoValue)
                producer_[static_cast<std::size_t>(r)] = h;
    }

    // Forgets operation h's reads of `operands` (its operands, by slot).
    void forgetUses(std::size_t h, const std::vector<ValueId>& operands) {
        for (std::size_t k = 0; k < operands.size(); ++k)
            if (operands[k] != kNoValue)
                std::erase_if(readers_[static_cast<std::size_t>(operands[k])],
                              [&](const Use& u) { return u.op == h && u.slot == k; });
    }

    // The TRANSPOSEs producing values of `operands` that nothing reads any more go.
    void removeUnread(const std::vector<ValueId>& operands) {
        for (ValueId v : operands)
            if (v != kNoValue && readersOf(v).empty() && producerOf(v) != kEnd)
                maybeRemove(producerOf(v));
    }

    // Operation h becomes `op` (its operand types set from the values).
    void replace(std::size_t h, Operation op) {
        syncOperandTypes(op);
        const std::vector<ValueId> old = std::move(ops_[h].operands);
        forgetUses(h, old);
        ops_[h] = std::move(op);
        addUses(h);
        removeUnread(old);
    }

    std::size_t insertAfter(std::size_t at, Operation op) {
        syncOperandTypes(op);
        const std::size_t h = ops_.size();
        ops_.push_back(std::move(op));
        alive_.push_back(true);
        prev_.push_back(at);
        next_.push_back(next_[at]);
        if (next_[at] != kEnd)
            prev_[next_[at]] = h;
        next_[at] = h;
        addUses(h);
        return h;
    }

    // Removes operation h from the list. Its own `next_` stays, so a walk standing on it goes on.
    void unlink(std::size_t h) {
        alive_[h] = false;
        if (prev_[h] != kEnd)
            next_[prev_[h]] = next_[h];
        else
            head_ = next_[h];
        if (next_[h] != kEnd)
            prev_[next_[h]] = prev_[h];
    }

    // Removes a TRANSPOSE nothing reads any more (and, in turn, the TRANSPOSEs only it read).
    bool maybeRemove(std::size_t h) {
        if (!alive_[h])
            return false;
        const Operation& op = ops_[h];
        if (op.kind != OpKind::Transpose || op.results.size() != 1 || op.results[0] == kNoValue ||
            !readersOf(op.results[0]).empty() || isOutput(op.results[0]))
            return false;
        unlink(h);
        producer_[static_cast<std::size_t>(op.results[0])] = kEnd;
        forgetUses(h, op.operands);
        removeUnread(op.operands);
        return true;
    }

    void syncOperandTypes(Operation& op) const {
        op.operandTypes.resize(op.operands.size());
        for (std::size_t k = 0; k < op.operands.size(); ++k)
            if (op.operands[k] != kNoValue)
                op.operandTypes[k] = typeOf(op.operands[k]);
    }

    // Drops values no operation produces or reads and that are not inputs, constants or
    // outputs (the results of removed TRANSPOSEs), renumbering ValueIds and producers.
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
        for (std::size_t i = 0; i < graph_.ops.size(); ++i)
            for (std::size_t slot = 0; slot < graph_.ops[i].results.size(); ++slot)
                if (const ValueId r = graph_.ops[i].results[slot]; r != kNoValue) {
                    graph_.values[static_cast<std::size_t>(r)].producer =
                        static_cast<std::int32_t>(i);
                    graph_.values[static_cast<std::size_t>(r)].producerSlot =
                        static_cast<std::int32_t>(slot);
                }
    }

    // ---- the rewrites ----
    // The permutation of a TRANSPOSE that only moves data: one connected operand, one result of
    // the operand's element type and of the permuted shape.
    std::optional<Perm> pureTranspose(const Operation& op) const {
        if (op.kind != OpKind::Transpose || op.operands.size() != 1 || op.results.size() != 1 ||
            op.operands[0] == kNoValue || op.results[0] == kNoValue)
            return std::nullopt;
        auto perm = permOf(op);
        const TensorType& in = typeOf(op.operands[0]);
        const TensorType& out = typeOf(op.results[0]);
        if (!perm || perm->size() != in.shape.size() || !isPermutation(*perm) ||
            in.dtype != out.dtype || permuted(in.shape, *perm) != out.shape)
            return std::nullopt;
        return perm;
    }

    // The pure TRANSPOSE producing `v`: its handle and permutation.
    std::optional<std::pair<std::size_t, Perm>> transposeProducing(ValueId v) const {
        const std::size_t h = producerOf(v);
        if (h == kEnd)
            return std::nullopt;
        auto perm = pureTranspose(ops_[h]);
        if (!perm)
            return std::nullopt;
        return std::pair{h, std::move(*perm)};
    }

    bool rewriteAt(std::size_t h) {
        const OpKind kind = ops_[h].kind;
        if (kind == OpKind::Transpose) {
            const auto perm = pureTranspose(ops_[h]);
            return perm && (foldTranspose(h, *perm) || sinkPastUnary(h));
        }
        if (isBinaryElementwise(kind))
            return sinkPastBinary(h) || sinkPastBinaryWithConstant(h);
        return false;
    }

    // Rule 1: T_p2(T_p1(x)) -> T_q(x) with q[d] = p1[p2[d]]; the identity disappears.
    bool foldTranspose(std::size_t h, const Perm& p2) {
        ValueId x = ops_[h].operands[0];
        Perm q = p2;
        if (auto inner = transposeProducing(x)) {
            const Perm& p1 = inner->second;
            for (std::size_t d = 0; d < q.size(); ++d)
                q[d] = p1[static_cast<std::size_t>(p2[d])];
            x = ops_[inner->first].operands[0];
        } else if (!isIdentity(p2)) {
            return false;
        }
        const ValueId result = ops_[h].results[0];
        if (!isIdentity(q) || isOutput(result)) {
            Operation op = ops_[h];
            op.operands[0] = x;
            if (!isIdentity(q)) {
                setPerm(op, q);
            } else {
                // The output keeps its value: a same-shape RESHAPE of x, a storage alias.
                op.kind = OpKind::Reshape;
                op.opName = std::string(opKindName(OpKind::Reshape));
                std::erase_if(op.attributes, [](const Attribute& a) {
                    return a.key == "perms" || a.key == "perm";
                });
            }
            replace(h, std::move(op));
            return true;
        }
        // The readers of the result read x; the TRANSPOSE (and maybe the inner one) goes.
        for (const Use& u : readersOf(result)) {
            Operation& op = ops_[u.op];
            op.operands[u.slot] = x;
            op.operandTypes.resize(std::max(op.operandTypes.size(), op.operands.size()));
            op.operandTypes[u.slot] = typeOf(x);
            readers_[static_cast<std::size_t>(x)].push_back(u);
        }
        readers_[static_cast<std::size_t>(result)].clear();
        return maybeRemove(h);
    }

    // Rule 2: U(T_p(x)) -> T_p(U(x)) when U is the transpose's only reader.
    bool sinkPastUnary(std::size_t h) {
        const ValueId moved = ops_[h].results[0];
        const auto& uses = readersOf(moved);
        if (uses.size() != 1 || isOutput(moved))
            return false;
        const std::size_t j = uses[0].op;
        const Operation& u = ops_[j];
        if (!isUnaryElementwise(u.kind) || u.operands.size() != 1 || u.results.size() != 1 ||
            u.results[0] == kNoValue || typeOf(u.results[0]).shape != typeOf(moved).shape)
            return false;
        const ValueId x = ops_[h].operands[0];
        const ValueId r = u.results[0];
        const ValueId early =
            newValue(graph_.value(r).name + ".pre_transpose",
                     TensorType{typeOf(x).shape, typeOf(r).dtype}, graph_.value(r));
        Operation unary = ops_[j];
        unary.operands = {x};
        unary.results = {early};
        Operation transpose = ops_[h];
        transpose.operands = {early};
        transpose.results = {r};
        replace(j, std::move(unary)); // the TRANSPOSE at h is left unread and goes
        insertAfter(j, std::move(transpose));
        return true;
    }

    // Rule 3: B(T_p(a), T_p(b)) -> T_p(B(a, b)) for a and b of equal shapes.
    bool sinkPastBinary(std::size_t j) {
        const Operation& b = ops_[j];
        if (b.operands.size() != 2 || b.results.size() != 1 || b.results[0] == kNoValue ||
            b.operands[0] == kNoValue || b.operands[1] == kNoValue)
            return false;
        const auto lhs = transposeProducing(b.operands[0]);
        const auto rhs = transposeProducing(b.operands[1]);
        if (!lhs || !rhs || lhs->second != rhs->second || !onlyReadBy(b.operands[0], j) ||
            !onlyReadBy(b.operands[1], j))
            return false;
        const ValueId a0 = ops_[lhs->first].operands[0];
        const ValueId a1 = ops_[rhs->first].operands[0];
        const ValueId r = b.results[0];
        if (typeOf(a0).shape != typeOf(a1).shape || typeOf(r).shape != typeOf(b.operands[0]).shape)
            return false;
        const ValueId early =
            newValue(graph_.value(r).name + ".pre_transpose",
                     TensorType{typeOf(a0).shape, typeOf(r).dtype}, graph_.value(r));
        Operation binary = ops_[j];
        binary.operands = {a0, a1};
        binary.results = {early};
        Operation transpose = ops_[lhs->first];
        transpose.operands = {early};
        transpose.results = {r};
        replace(j, std::move(binary)); // both TRANSPOSEs are left unread and go
        insertAfter(j, std::move(transpose));
        return true;
    }

    // Rule 3 with a constant: B(T_p(a), c) -> T_p(B(a, c')), c' = c at full rank permuted by
    // p's inverse (either operand order).
    bool sinkPastBinaryWithConstant(std::size_t j) {
        const Operation& b = ops_[j];
        if (b.operands.size() != 2 || b.results.size() != 1 || b.results[0] == kNoValue ||
            b.operands[0] == kNoValue || b.operands[1] == kNoValue)
            return false;
        for (std::size_t slot = 0; slot < 2; ++slot) {
            const ValueId moved = ops_[j].operands[slot];
            const ValueId c = ops_[j].operands[1 - slot];
            const auto t = transposeProducing(moved);
            if (!t || !onlyReadBy(moved, j) || !isFoldableConstant(c, j))
                continue;
            const Perm& perm = t->second;
            const Shape ts = typeOf(moved).shape;
            const Shape cs = typeOf(c).shape;
            const ValueId r = ops_[j].results[0];
            if (cs.size() > ts.size() || ts.size() > 4 || typeOf(r).shape != ts ||
                broadcastShapes(ts, cs) != ts)
                continue;
            // c at full rank (leading ones: the same bytes), then permuted by the inverse.
            Shape full(ts.size() - cs.size(), 1);
            full.insert(full.end(), cs.begin(), cs.end());
            const Perm inv = inverse(perm);
            Value& constant = graph_.values[static_cast<std::size_t>(c)];
            constant.data =
                transposeElements(constant.data, full, inv, dtypeSize(constant.type.dtype));
            constant.type.shape = permuted(full, inv);
            const ValueId a = ops_[t->first].operands[0];
            const ValueId early =
                newValue(graph_.value(r).name + ".pre_transpose",
                         TensorType{typeOf(a).shape, typeOf(r).dtype}, graph_.value(r));
            Operation binary = ops_[j];
            binary.operands[slot] = a;
            binary.results = {early};
            Operation transpose = ops_[t->first];
            transpose.operands = {early};
            transpose.results = {r};
            replace(j, std::move(binary)); // the TRANSPOSE is left unread and goes
            insertAfter(j, std::move(transpose));
            return true;
        }
        return false;
    }

    // A CONSTANT carrying its values, read only by operation `op`.
    bool isFoldableConstant(ValueId c, std::size_t op) const {
        const Value& v = graph_.value(c);
        const std::size_t at = producerOf(c);
        if (at == kEnd || ops_[at].kind != OpKind::Constant || v.data.empty() ||
            !onlyReadBy(c, op) || std::ranges::find(graph_.inputs, c) != graph_.inputs.end())
            return false;
        const auto count = elementCount(v.type.shape);
        return count &&
               static_cast<std::uint64_t>(*count) * dtypeSize(v.type.dtype) == v.data.size();
    }

    Graph& graph_;
    std::vector<Operation> ops_; // by handle
    std::vector<bool> alive_;
    std::vector<std::size_t> next_, prev_; // the list, in topological order
    std::size_t head_ = kEnd;
    std::vector<std::size_t> producer_; // by value: the producing handle, or kEnd
    std::vector<std::vector<Use>> readers_;
    std::vector<bool> output_;
    std::unordered_set<std::string> names_;
    std::size_t budget_ = 0;
};

} // namespace

void sinkTransposes(Graph& graph) {
    TransposeSinker(graph).run();
}

} // namespace kpu::ir
