// Graph builder: .dfg nodes and edges -> ir::Graph.
//
// Node roles (decided from the operator and, for UNKNOWN, the name):
//  - FUNCTION_ARGUMENT: produces the graph inputs. Old files declare its type as an operand type.
//  - FUNCTION: the function signature (operand types = argument types, result types = return
//    types). It produces no values; TOSA imports draw the argument edges from it, so an edge from
//    FUNCTION slot k is redirected to the k-th FUNCTION_ARGUMENT node (by id). Without such a
//    node the edge reads an implicit input "<name>.arg<k>".
//  - FUNCTION_RETURN, FUNCTION_RESULT and UNKNOWN return markers ('func.return', or no result
//    types and a name like 'result0'): consume the graph outputs, produce no values.
//  - everything else: one value per result slot.
#include "kpu/compiler/graph_builder.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <queue>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <fmt/format.h>

namespace kpu::ir {
namespace {

enum class Role { Normal, Argument, Signature, Return };

constexpr std::size_t kNone = static_cast<std::size_t>(-1);

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool returnLikeName(std::string_view name) {
    const std::string n = lower(name);
    return n.starts_with("result") || n.starts_with("return") || n.starts_with("output") ||
           n.ends_with(".return") || n.ends_with(".result");
}

std::string formatType(const TensorType& t) {
    std::string out = "tensor<";
    for (std::int64_t d : t.shape)
        out += fmt::format("{}x", d);
    out += dtypeName(t.dtype);
    out += '>';
    return out;
}

struct ResolvedEdge {
    std::size_t src = 0; // node index
    std::size_t dst = 0;
    std::size_t srcSlot = 0;
    std::size_t dstSlot = 0;
    const dfg::Edge* edge = nullptr;
};

struct NodeState {
    Role role = Role::Normal;
    OpKind kind = OpKind::Unknown;
    std::size_t numOperands = 0;
    std::size_t numResults = 0;
    std::vector<std::size_t> inEdge;                // by operand slot: index into edges_, or kNone
    std::vector<std::vector<std::size_t>> outEdges; // by result slot (FUNCTION: by argument slot)
    std::vector<ValueId> operands;                  // by operand slot
    std::vector<ValueId> results;                   // by result slot (FUNCTION: implicit arguments)
    std::size_t inCount = 0;
    std::size_t outCount = 0;
};

class Builder {
public:
    Builder(const dfg::File& file, std::string_view fileName, const BuildOptions& options)
        : file_(file), fileName_(fileName), options_(options) {}

    Expected<Graph> run() {
        if (options_.batch < 1)
            return fail("{}: error: batch size must be positive, got {}", fileName_,
                        options_.batch);
        graph_.sourceFile = std::string(fileName_);
        graph_.name = file_.name.empty()
                          ? std::filesystem::path(std::string(fileName_)).stem().string()
                          : file_.name;
        graph_.warnings = file_.warnings;
        if (auto r = indexNodes(); !r)
            return std::unexpected(r.error());
        if (auto r = resolveEdges(); !r)
            return std::unexpected(r.error());
        if (auto r = order(); !r)
            return std::unexpected(r.error());
        if (auto r = createValues(); !r)
            return std::unexpected(r.error());
        nameValues();
        createOps();
        collectOutputs();
        checkTypes();
        return std::move(graph_);
    }

private:
    template <class... Args>
    std::unexpected<Error> error(dfg::SourceLoc loc, fmt::format_string<Args...> format,
                                 Args&&... args) const {
        return fail("{}:{}:{}: error: {}", fileName_, loc.line,
                    std::max<std::uint32_t>(loc.column, 1),
                    fmt::format(format, std::forward<Args>(args)...));
    }
    template <class... Args>
    void warn(std::uint32_t line, fmt::format_string<Args...> format, Args&&... args) {
        graph_.warnings.push_back(fmt::format("{}:{}: warning: {}", fileName_, line,
                                              fmt::format(format, std::forward<Args>(args)...)));
    }

    const dfg::Node& node(std::size_t i) const { return file_.nodes[i]; }

    bool isReturnMarker(const dfg::Node& n) const {
        if (n.name == "func.return" || n.name == "return")
            return true;
        return n.resultTypes.empty() && returnLikeName(n.name);
    }

    Expected<void> indexNodes() {
        const std::size_t n = file_.nodes.size();
        state_.resize(n);
        byId_.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            const dfg::Node& nd = node(i);
            if (auto [it, inserted] = byId_.emplace(nd.id, i); !inserted)
                return error(nd.idLoc, "duplicate node id {} (first defined on line {})", nd.id,
                             node(it->second).loc.line);
            NodeState& s = state_[i];
            s.kind = opKindFromName(nd.op);
            switch (s.kind) {
            case OpKind::FunctionArgument:
                s.role = Role::Argument;
                break;
            case OpKind::Function:
                s.role = Role::Signature;
                break;
            case OpKind::FunctionReturn:
            case OpKind::FunctionResult:
                s.role = Role::Return;
                break;
            default:
                s.role = Role::Normal;
                break;
            }
        }
        idOrder_.resize(n);
        for (std::size_t i = 0; i < n; ++i)
            idOrder_[i] = i;
        std::ranges::sort(idOrder_,
                          [&](std::size_t a, std::size_t b) { return node(a).id < node(b).id; });
        for (std::size_t i : idOrder_)
            if (state_[i].role == Role::Argument)
                arguments_.push_back(i);
        return {};
    }

    Expected<void> resolveEdges() {
        // Pass 1: endpoints exist; count edges per node (bounds the slot numbers).
        std::vector<std::pair<std::size_t, std::size_t>> ends;
        ends.reserve(file_.edges.size());
        for (const dfg::Edge& e : file_.edges) {
            auto src = byId_.find(e.src);
            if (src == byId_.end())
                return error(e.srcLoc, "edge from undefined node {}", e.src);
            auto dst = byId_.find(e.dst);
            if (dst == byId_.end())
                return error(e.dstLoc, "edge to undefined node {}", e.dst);
            ends.emplace_back(src->second, dst->second);
            ++state_[src->second].outCount;
            ++state_[dst->second].inCount;
        }
        // UNKNOWN return markers consume only.
        for (std::size_t i = 0; i < state_.size(); ++i)
            if (state_[i].kind == OpKind::Unknown && state_[i].outCount == 0 &&
                isReturnMarker(node(i)))
                state_[i].role = Role::Return;

        const std::vector<std::size_t> implicitSlots = assignImplicitSlots(ends);
        for (std::size_t k = 0; k < file_.edges.size(); ++k) {
            const dfg::Edge& e = file_.edges[k];
            auto [src, dst] = ends[k];
            NodeState& s = state_[src];
            NodeState& d = state_[dst];
            if (s.role == Role::Return)
                return error(e.srcLoc,
                             "edge from node {} '{}', a return node that produces no values", e.src,
                             node(src).name);
            const auto srcSlot = static_cast<std::size_t>(e.srcSlot.value_or(0));
            const auto dstSlot =
                e.dstSlot ? static_cast<std::size_t>(*e.dstSlot) : implicitSlots[k];
            const std::size_t declaredIn = d.role == Role::Normal || d.role == Role::Return
                                               ? node(dst).operandTypes.size()
                                               : 0;
            if (dstSlot >= declaredIn + d.inCount)
                return error(
                    e.dstSlotLoc,
                    "operand slot {} of node {} '{}' is out of range ({} declared operands)",
                    dstSlot, e.dst, node(dst).name, declaredIn);
            if (srcSlot >= declaredResults(src) + s.outCount)
                return error(e.srcSlotLoc,
                             "result slot {} of node {} '{}' is out of range ({} declared results)",
                             srcSlot, e.src, node(src).name, declaredResults(src));
            ResolvedEdge r{src, dst, srcSlot, dstSlot, &e};
            std::tie(r.src, r.srcSlot) = producerOf(src, srcSlot);
            NodeState& rs = state_[r.src];
            if (d.inEdge.size() <= dstSlot)
                d.inEdge.resize(dstSlot + 1, kNone);
            if (d.inEdge[dstSlot] != kNone)
                return error(
                    e.dstSlotLoc,
                    "operand slot {} of node {} '{}' already has an incoming edge (line {})",
                    dstSlot, e.dst, node(dst).name, edges_[d.inEdge[dstSlot]].edge->loc.line);
            d.inEdge[dstSlot] = edges_.size();
            if (rs.outEdges.size() <= r.srcSlot)
                rs.outEdges.resize(r.srcSlot + 1);
            rs.outEdges[r.srcSlot].push_back(edges_.size());
            edges_.push_back(r);
        }
        for (std::size_t i = 0; i < state_.size(); ++i) {
            NodeState& s = state_[i];
            const dfg::Node& nd = node(i);
            const std::size_t declaredIn =
                s.role == Role::Normal || s.role == Role::Return ? nd.operandTypes.size() : 0;
            s.numOperands = std::max(declaredIn, s.inEdge.size());
            s.inEdge.resize(s.numOperands, kNone);
            s.numResults = s.role == Role::Normal || s.role == Role::Argument
                               ? std::max(declaredResults(i), s.outEdges.size())
                               : 0;
            s.outEdges.resize(std::max(s.numResults, s.outEdges.size()));
        }
        return {};
    }

    // The node that really produces what an edge from (node, slot) carries: FUNCTION slots stand
    // for the FUNCTION_ARGUMENT nodes.
    std::pair<std::size_t, std::size_t> producerOf(std::size_t src, std::size_t slot) const {
        if (state_[src].role == Role::Signature && slot < arguments_.size())
            return {arguments_[slot], 0};
        return {src, slot};
    }

    // The type a producer declares for a result slot, if complete.
    const dfg::TypeText* declaredResult(std::size_t src, std::size_t slot) const {
        const dfg::Node& nd = node(src);
        const Role role = state_[src].role;
        if (role != Role::Signature && slot < nd.resultTypes.size() &&
            nd.resultTypes[slot].complete())
            return &nd.resultTypes[slot];
        if ((role == Role::Argument || role == Role::Signature) && slot < nd.operandTypes.size() &&
            nd.operandTypes[slot].complete())
            return &nd.operandTypes[slot];
        return nullptr;
    }

    // Equal types; a dynamic '?' matches any size.
    static bool sameType(const dfg::TypeText& a, const dfg::TypeText& b) {
        if (a.dtype != b.dtype || a.dims.size() != b.dims.size())
            return false;
        for (std::size_t i = 0; i < a.dims.size(); ++i)
            if (a.dims[i] != b.dims[i] && a.dims[i] >= 0 && b.dims[i] >= 0)
                return false;
        return true;
    }

    // Operand slots for EDGE lines without slots (5-field form). File order is the rule, but TOSA
    // imports (mobilenet_v2_tosa.dfg) list the edges into a node in no particular order: when
    // file order contradicts the declared operand types, each edge whose producer declares its
    // type takes the first free slot declaring that type, the others fill the remaining slots in
    // file order.
    std::vector<std::size_t>
    assignImplicitSlots(const std::vector<std::pair<std::size_t, std::size_t>>& ends) const {
        std::vector<std::size_t> slots(file_.edges.size(), 0);
        std::vector<std::vector<std::size_t>> implicitIn(state_.size());
        std::vector<std::vector<std::size_t>> taken(state_.size());
        for (std::size_t k = 0; k < file_.edges.size(); ++k) {
            const dfg::Edge& e = file_.edges[k];
            if (e.dstSlot)
                taken[ends[k].second].push_back(static_cast<std::size_t>(*e.dstSlot));
            else
                implicitIn[ends[k].second].push_back(k);
        }
        const std::vector<dfg::TypeText> none;
        for (std::size_t dst = 0; dst < state_.size(); ++dst) {
            const std::vector<std::size_t>& in = implicitIn[dst];
            if (in.empty())
                continue;
            std::ranges::sort(taken[dst]);
            std::vector<std::size_t> free;
            for (std::size_t slot = 0; free.size() < in.size(); ++slot)
                if (!std::ranges::binary_search(taken[dst], slot))
                    free.push_back(slot);
            const Role role = state_[dst].role;
            const std::vector<dfg::TypeText>& declared =
                role == Role::Normal || role == Role::Return ? node(dst).operandTypes : none;
            auto declaredAt = [&](std::size_t slot) -> const dfg::TypeText* {
                return slot < declared.size() && declared[slot].complete() ? &declared[slot]
                                                                           : nullptr;
            };
            std::vector<const dfg::TypeText*> known(in.size(), nullptr);
            bool consistent = true;
            for (std::size_t j = 0; j < in.size(); ++j) {
                const dfg::Edge& e = file_.edges[in[j]];
                const auto [p, pslot] =
                    producerOf(ends[in[j]].first, static_cast<std::size_t>(e.srcSlot.value_or(0)));
                known[j] = declaredResult(p, pslot);
                const dfg::TypeText* want = declaredAt(free[j]);
                if (known[j] && want && !sameType(*known[j], *want))
                    consistent = false;
            }
            constexpr std::size_t kMatchLimit =
                256; // the matching is quadratic; real nodes have a few operands
            if (consistent || in.size() > kMatchLimit) {
                for (std::size_t j = 0; j < in.size(); ++j)
                    slots[in[j]] = free[j];
                continue;
            }
            std::vector<bool> used(free.size(), false), placed(in.size(), false);
            for (std::size_t j = 0; j < in.size(); ++j) {
                if (!known[j])
                    continue;
                for (std::size_t f = 0; f < free.size(); ++f) {
                    const dfg::TypeText* want = declaredAt(free[f]);
                    if (!used[f] && want && sameType(*known[j], *want)) {
                        used[f] = placed[j] = true;
                        slots[in[j]] = free[f];
                        break;
                    }
                }
            }
            std::size_t f = 0;
            for (std::size_t j = 0; j < in.size(); ++j) {
                if (placed[j])
                    continue;
                while (used[f])
                    ++f;
                used[f] = true;
                slots[in[j]] = free[f];
            }
        }
        return slots;
    }

    std::size_t declaredResults(std::size_t i) const {
        const dfg::Node& nd = node(i);
        std::size_t n = std::max(nd.resultNames.size(), nd.resultTypes.size());
        if (state_[i].role ==
            Role::Argument) // old files write an argument's type as an operand type
            n = std::max(n, nd.operandTypes.size());
        if (state_[i].role == Role::Signature) // its operands are the arguments
            n = std::max(n, nd.operandTypes.size());
        return n;
    }

    // Kahn's algorithm, ties broken by the smallest node id.
    Expected<void> order() {
        const std::size_t n = state_.size();
        std::vector<std::size_t> indegree(n, 0);
        std::vector<std::vector<std::size_t>> succ(n), pred(n);
        for (const ResolvedEdge& e : edges_) {
            ++indegree[e.dst];
            succ[e.src].push_back(e.dst);
            pred[e.dst].push_back(e.src);
        }
        using Entry = std::pair<std::int64_t, std::size_t>;
        std::priority_queue<Entry, std::vector<Entry>, std::greater<>> ready;
        for (std::size_t i = 0; i < n; ++i)
            if (indegree[i] == 0)
                ready.emplace(node(i).id, i);
        topo_.reserve(n);
        while (!ready.empty()) {
            const std::size_t i = ready.top().second;
            ready.pop();
            topo_.push_back(i);
            for (std::size_t j : succ[i])
                if (--indegree[j] == 0)
                    ready.emplace(node(j).id, j);
        }
        if (topo_.size() == n)
            return {};
        // Every unordered node has an unordered predecessor: walking back n steps from one of
        // them ends on a cycle; report the cycle's smallest id.
        std::size_t at = kNone;
        for (std::size_t i : idOrder_)
            if (indegree[i] != 0) {
                at = i;
                break;
            }
        auto back = [&](std::size_t i) {
            for (std::size_t p : pred[i])
                if (indegree[p] != 0)
                    return p;
            return i;
        };
        for (std::size_t step = 0; step < n; ++step)
            at = back(at);
        std::size_t best = at;
        for (std::size_t i = back(at), guard = 0; i != at && guard < n; i = back(i), ++guard)
            if (node(i).id < node(best).id)
                best = i;
        return error(node(best).loc, "cycle in the graph through node {} '{}'", node(best).id,
                     node(best).name);
    }

    TensorType resolve(const dfg::TypeText& t) const {
        TensorType out;
        out.dtype = t.dtype.value_or(DType::F32);
        out.shape.reserve(t.dims.size());
        for (std::int64_t d : t.dims)
            out.shape.push_back(d < 0 ? options_.batch : d);
        return out;
    }

    // The declared operand type of (node, slot), when the node declares a complete one.
    const dfg::TypeText* declaredOperand(std::size_t i, std::size_t slot) const {
        const NodeState& s = state_[i];
        if (s.role != Role::Normal && s.role != Role::Return)
            return nullptr;
        const auto& types = node(i).operandTypes;
        return slot < types.size() && types[slot].complete() ? &types[slot] : nullptr;
    }

    // Out-edges of a result slot, ordered by consumer id then slot (independent of file order).
    std::vector<std::size_t> consumers(std::size_t i, std::size_t slot) const {
        std::vector<std::size_t> out = state_[i].outEdges[slot];
        std::ranges::sort(out, [&](std::size_t a, std::size_t b) {
            const ResolvedEdge& x = edges_[a];
            const ResolvedEdge& y = edges_[b];
            return std::pair(node(x.dst).id, x.dstSlot) < std::pair(node(y.dst).id, y.dstSlot);
        });
        return out;
    }

    // Type of the value (node i, result slot): the producer's declared type, else the consumers'
    // declared operand types, else the edge shapes (placeholders like '1xi32' come last).
    const dfg::TypeText* valueType(std::size_t i, std::size_t slot) const {
        if (const dfg::TypeText* t = declaredResult(i, slot))
            return t;
        const std::vector<std::size_t> uses = consumers(i, slot);
        for (std::size_t e : uses)
            if (const dfg::TypeText* t = declaredOperand(edges_[e].dst, edges_[e].dstSlot))
                return t;
        for (std::size_t e : uses)
            if (edges_[e].edge->shape.complete())
                return &edges_[e].edge->shape;
        return nullptr;
    }

    Expected<ValueId> addValue(std::string sourceName, const dfg::TypeText& type,
                               std::int64_t nodeId, std::size_t producerNode, std::size_t slot) {
        TensorType t = resolve(type);
        if (!elementCount(t.shape) || !byteSize(t.shape, dtypeSize(t.dtype)))
            return error(type.loc, "type '{}' is too large", type.text);
        Value v;
        v.sourceName = std::move(sourceName);
        v.type = std::move(t);
        v.producerSlot = static_cast<std::int32_t>(slot);
        if (static_cast<std::size_t>(std::numeric_limits<ValueId>::max()) <= graph_.values.size())
            return error(type.loc, "too many values");
        graph_.values.push_back(std::move(v));
        valueNodeIds_.push_back(nodeId);
        valueNodes_.push_back(producerNode);
        return static_cast<ValueId>(graph_.values.size() - 1);
    }

    Expected<void> createValues() {
        for (std::size_t i : idOrder_) {
            NodeState& s = state_[i];
            const dfg::Node& nd = node(i);
            // FUNCTION slots without a FUNCTION_ARGUMENT node: implicit inputs.
            if (s.role == Role::Signature) {
                s.results.assign(s.outEdges.size(), kNoValue);
                for (std::size_t k = 0; k < s.outEdges.size(); ++k) {
                    if (s.outEdges[k].empty())
                        continue;
                    const dfg::TypeText* t = valueType(i, k);
                    if (!t)
                        return error(
                            nd.loc,
                            "cannot determine the type of argument {} of function node {} '{}'", k,
                            nd.id, nd.name);
                    auto v = addValue(fmt::format("{}.arg{}", nd.name, k), *t, nd.id, kNone, k);
                    if (!v)
                        return std::unexpected(v.error());
                    s.results[k] = *v;
                    graph_.inputs.push_back(*v);
                }
            }
            // Declared operand slots without an edge: implicit inputs.
            s.operands.assign(s.numOperands, kNoValue);
            for (std::size_t k = 0; k < s.numOperands; ++k) {
                if (s.inEdge[k] != kNone)
                    continue;
                if (s.role == Role::Return) {
                    warn(nd.loc.line, "node {} '{}' operand {} is not connected", nd.id, nd.name,
                         k);
                    continue;
                }
                if (k >= nd.operandTypes.size())
                    continue; // a gap between edge slots: unconnected
                const dfg::TypeText& t = nd.operandTypes[k];
                if (!t.complete())
                    return error(
                        t.loc.line ? t.loc : nd.loc,
                        "operand {} of node {} '{}' has no incoming edge and no usable type '{}'",
                        k, nd.id, nd.name, t.text);
                auto v = addValue(
                    fmt::format("{}.in{}", nd.name.empty() ? fmt::format("node{}", nd.id) : nd.name,
                                k),
                    t, nd.id, kNone, k);
                if (!v)
                    return std::unexpected(v.error());
                s.operands[k] = *v;
                graph_.inputs.push_back(*v);
            }
            // Results.
            s.results.resize(std::max(s.results.size(), s.numResults), kNoValue);
            for (std::size_t k = 0; k < s.numResults; ++k) {
                const dfg::TypeText* t = valueType(i, k);
                if (!t) {
                    if (s.role == Role::Argument && s.outEdges[k].empty()) {
                        warn(nd.loc.line,
                             "function argument node {} '{}' has no type and no uses; ignored",
                             nd.id, nd.name);
                        continue;
                    }
                    const dfg::SourceLoc where =
                        k < nd.resultTypes.size() && nd.resultTypes[k].loc.line != 0
                            ? nd.resultTypes[k].loc
                            : nd.loc;
                    return error(where, "cannot determine the type of result {} of node {} '{}'", k,
                                 nd.id, nd.name);
                }
                std::string name =
                    k < nd.resultNames.size() ? std::string(nd.resultNames[k]) : std::string();
                if (name.empty())
                    name = nd.name.empty() ? fmt::format("node{}", nd.id) : nd.name;
                auto v = addValue(std::move(name), *t, nd.id, i, k);
                if (!v)
                    return std::unexpected(v.error());
                s.results[k] = *v;
                if (s.role == Role::Argument)
                    graph_.inputs.push_back(*v);
                else if (s.kind == OpKind::Constant)
                    graph_.constants.push_back(*v);
            }
        }
        // Operands from edges.
        for (std::size_t i = 0; i < state_.size(); ++i) {
            NodeState& s = state_[i];
            for (std::size_t k = 0; k < s.numOperands; ++k)
                if (s.inEdge[k] != kNone) {
                    const ResolvedEdge& e = edges_[s.inEdge[k]];
                    const NodeState& src = state_[e.src];
                    s.operands[k] =
                        e.srcSlot < src.results.size() ? src.results[e.srcSlot] : kNoValue;
                }
        }
        return {};
    }

    // Unique names: the first value keeps its name, later ones become <name>_<nodeId>, then get
    // '_' appended until unique (after a few, a counter, so no input can make names explode).
    void nameValues() {
        std::unordered_set<std::string> used;
        std::unordered_map<std::string, std::size_t> nextSuffix;
        for (std::size_t v = 0; v < graph_.values.size(); ++v) {
            Value& value = graph_.values[v];
            std::string name = value.sourceName;
            if (used.contains(name)) {
                const std::string base = fmt::format("{}_{}", value.sourceName, valueNodeIds_[v]);
                name = base;
                for (int extra = 0; used.contains(name) && extra < 4; ++extra)
                    name += '_';
                std::size_t& n = nextSuffix[base];
                while (used.contains(name))
                    name = fmt::format("{}_{}", base, ++n);
            }
            used.insert(name);
            value.name = std::move(name);
        }
    }

    void createOps() {
        std::vector<std::int32_t> opIndex(state_.size(), -1);
        graph_.ops.reserve(topo_.size());
        for (std::size_t i : topo_) {
            const dfg::Node& nd = node(i);
            const NodeState& s = state_[i];
            Operation op;
            op.kind = s.kind;
            op.opName = nd.op;
            op.nodeId = nd.id;
            op.name = nd.name;
            op.line = nd.loc.line;
            op.attributes.reserve(nd.attributes.size());
            for (const dfg::Attribute& a : nd.attributes)
                op.attributes.push_back({a.key, a.value});
            if (s.role == Role::Signature) {
                for (const dfg::TypeText& t : nd.operandTypes)
                    op.operandTypes.push_back(resolve(t));
            } else {
                op.operands = s.operands;
                for (std::size_t k = 0; k < s.numOperands; ++k) {
                    if (const dfg::TypeText* t = declaredOperand(i, k))
                        op.operandTypes.push_back(resolve(*t));
                    else if (s.operands[k] != kNoValue)
                        op.operandTypes.push_back(graph_.value(s.operands[k]).type);
                    else
                        op.operandTypes.push_back(TensorType{});
                }
                for (std::size_t k = 0; k < s.numResults; ++k)
                    op.results.push_back(s.results[k]);
            }
            opIndex[i] = static_cast<std::int32_t>(graph_.ops.size());
            graph_.ops.push_back(std::move(op));
        }
        for (std::size_t v = 0; v < graph_.values.size(); ++v)
            graph_.values[v].producer = valueNodes_[v] == kNone ? -1 : opIndex[valueNodes_[v]];
        // An argument without a value (no type, no uses) has no result.
        for (Operation& op : graph_.ops)
            std::erase(op.results, kNoValue);
    }

    void collectOutputs() {
        std::unordered_set<ValueId> seen;
        bool anyReturn = false;
        for (std::size_t i : idOrder_) {
            if (state_[i].role != Role::Return)
                continue;
            anyReturn = true;
            for (ValueId v : state_[i].operands)
                if (v != kNoValue && seen.insert(v).second)
                    graph_.outputs.push_back(v);
        }
        if (anyReturn)
            return;
        // No return node: values of sink nodes that nobody consumes.
        std::vector<bool> consumed(graph_.values.size(), false);
        for (const NodeState& s : state_)
            for (ValueId v : s.operands)
                if (v != kNoValue)
                    consumed[static_cast<std::size_t>(v)] = true;
        std::vector<std::size_t> sinks;
        if (file_.hasSinks) {
            for (std::int64_t id : file_.sinks) {
                auto it = byId_.find(id);
                if (it == byId_.end()) {
                    warn(file_.sinksLoc.line, "SINK names undefined node {}", id);
                    continue;
                }
                sinks.push_back(it->second);
            }
        } else {
            for (std::size_t i : idOrder_)
                if (state_[i].role == Role::Normal && state_[i].kind != OpKind::Constant)
                    sinks.push_back(i);
        }
        for (std::size_t i : sinks)
            for (ValueId v : state_[i].results)
                if (v != kNoValue && !consumed[static_cast<std::size_t>(v)] &&
                    seen.insert(v).second)
                    graph_.outputs.push_back(v);
    }

    void checkTypes() {
        for (std::size_t i : idOrder_) {
            const NodeState& s = state_[i];
            const dfg::Node& nd = node(i);
            if (s.role != Role::Normal && s.role != Role::Return)
                continue;
            for (std::size_t k = 0; k < s.numOperands && k < nd.operandTypes.size(); ++k) {
                const dfg::TypeText& declared = nd.operandTypes[k];
                const ValueId v = s.operands[k];
                if (v == kNoValue || !declared.parsed)
                    continue;
                const Value& value = graph_.value(v);
                const TensorType want = resolve(declared);
                const bool sameShape = want.shape == value.type.shape;
                const bool sameType = !declared.dtype || *declared.dtype == value.type.dtype;
                if (sameShape && sameType)
                    continue;
                warn(nd.loc.line, "node {} '{}' operand {}: declared {}, value '{}' is {}", nd.id,
                     nd.name, k, declared.text, value.name, formatType(value.type));
            }
        }
    }

    const dfg::File& file_;
    std::string_view fileName_;
    const BuildOptions& options_;
    Graph graph_;
    std::vector<NodeState> state_;
    std::unordered_map<std::int64_t, std::size_t> byId_;
    std::vector<std::size_t> idOrder_;   // node indices by ascending id
    std::vector<std::size_t> arguments_; // FUNCTION_ARGUMENT nodes by ascending id
    std::vector<ResolvedEdge> edges_;
    std::vector<std::size_t> topo_;
    std::vector<std::int64_t> valueNodeIds_; // per value: the node id used for renaming
    std::vector<std::size_t> valueNodes_;    // per value: producing node index, or kNone
};

} // namespace

Expected<Graph> buildGraph(const dfg::File& file, std::string_view fileName,
                           const BuildOptions& options) {
    return Builder(file, fileName, options).run();
}

} // namespace kpu::ir
