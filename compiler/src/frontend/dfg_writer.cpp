// .dfg writer: ir::Graph -> domain_flow text. The mapping rules are in dfg_writer.h; the parts
// that mirror the graph builder (which nodes are return nodes, how implicit inputs are named,
// the order in which nodes, inputs and constants are read back) say so where they do.
#include "kpu/compiler/dfg_writer.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <functional>
#include <limits>
#include <queue>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kpu/common/file_io.h"

namespace kpu::ir {
namespace {

constexpr std::size_t kNone = static_cast<std::size_t>(-1);

bool isControl(char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
}
bool isBracket(char c) {
    return c == '<' || c == '>' || c == '(' || c == ')' || c == '[' || c == ']' || c == '{' ||
           c == '}';
}
bool isOpen(char c) {
    return c == '<' || c == '(' || c == '[' || c == '{';
}
char closerOf(char open) {
    switch (open) {
    case '<':
        return '>';
    case '(':
        return ')';
    case '[':
        return ']';
    default:
        return '}';
    }
}

std::string trimSpaces(std::string s) {
    const std::size_t begin = s.find_first_not_of(' ');
    if (begin == std::string::npos)
        return {};
    const std::size_t end = s.find_last_not_of(' ');
    return s.substr(begin, end - begin + 1);
}

// Node names sit between '|' on the NODE line; the graph name is the rest of the header line.
std::string sanitizeNodeName(std::string_view name) {
    std::string out;
    out.reserve(name.size());
    for (char c : name)
        out += c == '|' || isControl(c) ? '_' : c;
    return trimSpaces(std::move(out));
}

std::string sanitizeGraphName(std::string_view name) {
    std::string out;
    out.reserve(name.size());
    for (char c : name)
        out += isControl(c) ? '_' : c;
    return trimSpaces(std::move(out));
}

// Result names: a ',' separated list of "slot:name" items.
std::string sanitizeValueName(std::string_view name) {
    std::string out;
    out.reserve(name.size());
    for (char c : name)
        out += isControl(c) || c == ' ' || c == '|' || c == ',' || c == ':' ? '_' : c;
    return out;
}

std::string sanitizeKey(std::string_view key) {
    std::string out;
    out.reserve(key.size());
    for (char c : trimSpaces(std::string(key)))
        out +=
            isControl(c) || c == ' ' || c == '|' || c == ',' || c == ':' || isBracket(c) ? '_' : c;
    return out.empty() ? std::string("attr") : out;
}

// The reader splits the attribute field at ',' outside brackets, counting every kind of
// bracket together (a closer at depth 0 is ignored), and trims the value.
std::string sanitizeValue(std::string_view value, bool last) {
    std::string text;
    text.reserve(value.size());
    for (char c : value)
        text += c == '|' ? '_' : isControl(c) ? ' ' : c;
    text = trimSpaces(std::move(text));
    std::string open;
    for (char& c : text) {
        if (isOpen(c))
            open += c;
        else if (isBracket(c) && !open.empty())
            open.pop_back();
        else if (c == ',' && open.empty())
            c = ';';
    }
    if (!last)
        for (auto it = open.rbegin(); it != open.rend(); ++it)
            text += closerOf(*it);
    return text;
}

// The operator field accepts letters, digits, '_' and '.'.
std::string spellingOf(const Operation& op) {
    if (op.kind != OpKind::Unknown)
        return std::string(opKindName(op.kind));
    std::string out;
    out.reserve(op.opName.size());
    for (char c : op.opName) {
        const auto u = static_cast<unsigned char>(c);
        out += u < 0x80 && (std::isalnum(u) || c == '_' || c == '.') ? c : '_';
    }
    if (out.empty() || opKindFromName(out) != OpKind::Unknown)
        return "UNKNOWN";
    return out;
}

std::string typeText(const TensorType& t) {
    std::string out = "tensor<";
    for (std::int64_t d : t.shape)
        out += d < 0 ? std::string("?x") : fmt::format("{}x", d);
    out += dtypeName(t.dtype);
    out += '>';
    return out;
}

// As graph_builder.cpp decides which UNKNOWN nodes without results mark the return.
bool returnMarkerName(std::string_view name) {
    std::string n(name);
    for (char& c : n)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return n == "func.return" || n == "return" || n.starts_with("result") ||
           n.starts_with("return") || n.starts_with("output") || n.ends_with(".return") ||
           n.ends_with(".result");
}

// How the reader will treat a node (graph_builder.cpp's roles).
enum class Role { Normal, Argument, Signature, Return };

struct Node {
    std::size_t opIndex = kNone; // kNone for an added node
    std::string name;
    std::string spelling;
    OpKind kind = OpKind::Unknown;
    Role role = Role::Normal;
    std::vector<ValueId> operands;         // by slot; kNoValue: no edge
    std::vector<std::string> operandTypes; // declared types, slots 0..size-1
    std::vector<ValueId> results;          // by slot; kNoValue: a placeholder result
    std::vector<std::string> resultNames;
    std::vector<std::string> resultTypes;
    std::vector<std::string> attributes;    // "key:value"
    std::vector<ValueId> unconnectedInputs; // declared slots without an edge, slot order
    std::int64_t id = 0;
    std::int64_t depth = 0;
};

struct EdgeOut {
    std::size_t src = 0; // node index
    std::size_t dst = 0;
    std::size_t srcSlot = 0;
    std::size_t dstSlot = 0;
    ValueId value = kNoValue;
};

class Writer {
public:
    explicit Writer(const Graph& graph) : g_(graph) {}

    std::string run() {
        nameValues();
        classifyOps();
        findProducers();
        countUses();
        findUnconnectedInputs();
        addNodes();
        connect();
        assignIds();
        computeDepths();
        return emit();
    }

private:
    bool valid(ValueId v) const { return v >= 0 && static_cast<std::size_t>(v) < g_.values.size(); }
    std::size_t at(ValueId v) const { return static_cast<std::size_t>(v); }
    const TensorType& typeOf(ValueId v) const { return g_.values[at(v)].type; }

    // Unique, writable value names in value order: the first value keeps a name.
    void nameValues() {
        names_.resize(g_.values.size());
        for (std::size_t v = 0; v < g_.values.size(); ++v) {
            std::string name = sanitizeValueName(g_.values[v].name);
            if (name.empty())
                name = fmt::format("v{}", v);
            names_[v] = uniqueName(name);
        }
    }

    // `base`, else the first free "<base>_<n>" (n = 2, 3, ...; counted per base, so that many
    // equal names cost linear time).
    std::string uniqueName(const std::string& base) {
        std::string name = base;
        if (usedNames_.contains(name)) {
            std::size_t& n = nextSuffix_.try_emplace(base, 2).first->second;
            do
                name = fmt::format("{}_{}", base, n++);
            while (usedNames_.contains(name));
        }
        usedNames_.insert(name);
        return name;
    }

    void classifyOps() {
        opNames_.resize(g_.ops.size());
        roles_.resize(g_.ops.size());
        for (std::size_t i = 0; i < g_.ops.size(); ++i) {
            const Operation& op = g_.ops[i];
            opNames_[i] = sanitizeNodeName(op.name);
            switch (op.kind) {
            case OpKind::FunctionArgument:
                roles_[i] = Role::Argument;
                break;
            case OpKind::Function:
                roles_[i] = Role::Signature;
                break;
            case OpKind::FunctionReturn:
            case OpKind::FunctionResult:
                roles_[i] = Role::Return;
                break;
            case OpKind::Unknown:
                roles_[i] = op.results.empty() && returnMarkerName(opNames_[i]) ? Role::Return
                                                                                : Role::Normal;
                break;
            default:
                roles_[i] = Role::Normal;
                break;
            }
        }
    }

    bool produces(std::size_t op) const {
        return roles_[op] == Role::Normal || roles_[op] == Role::Argument;
    }
    bool consumes(std::size_t op) const { return roles_[op] != Role::Signature; }

    // The operation writing each value: the first that lists it as a result.
    void findProducers() {
        producerOp_.assign(g_.values.size(), kNone);
        for (std::size_t i = 0; i < g_.ops.size(); ++i) {
            if (!produces(i))
                continue;
            for (ValueId v : g_.ops[i].results)
                if (valid(v) && producerOp_[at(v)] == kNone)
                    producerOp_[at(v)] = i;
        }
    }

    void countUses() {
        uses_.assign(g_.values.size(), 0);
        isOutput_.assign(g_.values.size(), false);
        isInput_.assign(g_.values.size(), false);
        isConstant_.assign(g_.values.size(), false);
        for (std::size_t i = 0; i < g_.ops.size(); ++i)
            if (consumes(i))
                for (ValueId v : g_.ops[i].operands)
                    if (valid(v))
                        ++uses_[at(v)];
        for (ValueId v : g_.outputs)
            if (valid(v))
                isOutput_[at(v)] = true;
        for (ValueId v : g_.inputs)
            if (valid(v))
                isInput_[at(v)] = true;
        for (ValueId v : g_.constants)
            if (valid(v))
                isConstant_[at(v)] = true;
    }

    // Operand slots of a non-return operation that may declare a type: those before the first
    // unconnected one.
    std::size_t declarableSlots(const Operation& op) const {
        std::size_t n = 0;
        while (n < op.operands.size() && valid(op.operands[n]))
            ++n;
        return n;
    }

    TensorType operandType(const Operation& op, std::size_t slot) const {
        if (slot < op.operandTypes.size())
            return op.operandTypes[slot];
        if (slot < op.operands.size() && valid(op.operands[slot]))
            return typeOf(op.operands[slot]);
        return TensorType{};
    }

    // Implicit inputs the reader makes for a declared slot without an edge, named
    // "<node name>.in<slot>" (graph_builder.cpp, createValues).
    void findUnconnectedInputs() {
        unconnected_.assign(g_.values.size(), false);
        for (std::size_t i = 0; i < g_.ops.size(); ++i) {
            const Operation& op = g_.ops[i];
            if (roles_[i] != Role::Normal || opNames_[i].empty())
                continue;
            const std::size_t declared = declarableSlots(op);
            for (std::size_t k = 0; k < declared; ++k) {
                const ValueId v = op.operands[k];
                if (!valid(v) || producerOp_[at(v)] != kNone || uses_[at(v)] != 1 ||
                    isOutput_[at(v)] || isConstant_[at(v)])
                    continue;
                const TensorType declaredType = operandType(op, k);
                if (names_[at(v)] != fmt::format("{}.in{}", opNames_[i], k) ||
                    declaredType.shape != typeOf(v).shape || declaredType.dtype != typeOf(v).dtype)
                    continue;
                unconnected_[at(v)] = true;
            }
        }
    }

    bool needsNode(std::size_t v) const {
        return producerOp_[v] == kNone && !unconnected_[v] &&
               (uses_[v] > 0 || isOutput_[v] || isInput_[v] || isConstant_[v]);
    }

    // Nodes in write order: added inputs and constants, the operations, an added return node.
    void addNodes() {
        std::vector<bool> done(g_.values.size(), false);
        auto addSource = [&](ValueId v, OpKind kind) {
            if (!valid(v) || done[at(v)] || !needsNode(at(v)))
                return;
            done[at(v)] = true;
            Node n;
            n.kind = kind;
            n.role = kind == OpKind::Constant ? Role::Normal : Role::Argument;
            n.spelling = std::string(opKindName(n.kind));
            n.name = names_[at(v)];
            n.results = {v};
            n.resultNames = {names_[at(v)]};
            n.resultTypes = {typeText(typeOf(v))};
            nodes_.push_back(std::move(n));
        };
        for (ValueId v : g_.inputs)
            addSource(v, OpKind::FunctionArgument);
        for (ValueId v : g_.constants)
            addSource(v, OpKind::Constant);
        for (std::size_t v = 0; v < g_.values.size(); ++v) // read, returned, but in no list
            addSource(static_cast<ValueId>(v), OpKind::FunctionArgument);

        for (std::size_t i = 0; i < g_.ops.size(); ++i)
            nodes_.push_back(opNode(i));

        // Outputs no return node consumes.
        std::unordered_set<ValueId> returned;
        for (std::size_t i = 0; i < g_.ops.size(); ++i)
            if (roles_[i] == Role::Return)
                for (ValueId v : g_.ops[i].operands)
                    if (valid(v))
                        returned.insert(v);
        Node ret;
        ret.kind = OpKind::FunctionReturn;
        ret.role = Role::Return;
        ret.spelling = std::string(opKindName(ret.kind));
        ret.name = "output";
        ret.attributes = {"target:memory"};
        for (ValueId v : g_.outputs)
            if (valid(v) && returned.insert(v).second)
                ret.operands.push_back(v);
        if (!ret.operands.empty()) {
            for (ValueId v : ret.operands) {
                ret.operandTypes.push_back(typeText(typeOf(v)));
                ret.resultNames.push_back(names_[at(v)]);
                ret.resultTypes.push_back(typeText(typeOf(v)));
            }
            nodes_.push_back(std::move(ret));
        }
    }

    Node opNode(std::size_t i) {
        const Operation& op = g_.ops[i];
        Node n;
        n.opIndex = i;
        n.name = opNames_[i];
        n.kind = op.kind;
        n.role = roles_[i];
        n.spelling = spellingOf(op);
        for (std::size_t k = 0; k < op.attributes.size(); ++k)
            n.attributes.push_back(
                fmt::format("{}:{}", sanitizeKey(op.attributes[k].key),
                            sanitizeValue(op.attributes[k].value, k + 1 == op.attributes.size())));
        switch (n.role) {
        case Role::Signature:
            for (const TensorType& t : op.operandTypes)
                n.operandTypes.push_back(typeText(t));
            return n; // no edges, no results
        case Role::Argument:
            n.operands = op.operands; // edges only: declared types would be read as results
            break;
        case Role::Return: {
            n.operands = op.operands;
            const std::size_t declared = std::max(op.operands.size(), op.operandTypes.size());
            for (std::size_t k = 0; k < declared; ++k)
                n.operandTypes.push_back(typeText(operandType(op, k)));
            if (op.kind == OpKind::FunctionReturn)
                for (ValueId v : op.operands)
                    if (valid(v)) {
                        n.resultNames.push_back(names_[at(v)]);
                        n.resultTypes.push_back(typeText(typeOf(v)));
                    }
            return n;
        }
        case Role::Normal: {
            n.operands = op.operands;
            const std::size_t declared = declarableSlots(op);
            for (std::size_t k = 0; k < declared; ++k) {
                n.operandTypes.push_back(typeText(operandType(op, k)));
                if (unconnected_[at(op.operands[k])]) {
                    n.unconnectedInputs.push_back(op.operands[k]);
                    n.operands[k] = kNoValue;
                }
            }
            break;
        }
        }
        // Results by slot; a slot without a value of its own gets a placeholder.
        std::size_t last = 0;
        for (std::size_t k = 0; k < op.results.size(); ++k)
            if (owns(i, op.results[k]))
                last = k + 1;
        for (std::size_t k = 0; k < last; ++k) {
            const ValueId v = op.results[k];
            if (owns(i, v)) {
                n.results.push_back(v);
                n.resultNames.push_back(names_[at(v)]);
                n.resultTypes.push_back(typeText(typeOf(v)));
                continue;
            }
            n.results.push_back(kNoValue);
            n.resultNames.push_back(uniqueName(fmt::format(
                "{}.unused{}", n.name.empty() ? "node" : sanitizeValueName(n.name), k)));
            n.resultTypes.push_back(typeText(TensorType{}));
        }
        return n;
    }

    bool owns(std::size_t op, ValueId v) const { return valid(v) && producerOp_[at(v)] == op; }

    void connect() {
        std::vector<std::pair<std::size_t, std::size_t>> producer(g_.values.size(), {kNone, 0});
        for (std::size_t n = 0; n < nodes_.size(); ++n)
            for (std::size_t k = 0; k < nodes_[n].results.size(); ++k) {
                const ValueId v = nodes_[n].results[k];
                if (valid(v) && producer[at(v)].first == kNone)
                    producer[at(v)] = {n, k};
            }
        for (std::size_t n = 0; n < nodes_.size(); ++n) {
            std::vector<ValueId>& operands = nodes_[n].operands;
            for (std::size_t k = 0; k < operands.size(); ++k) {
                const ValueId v = operands[k];
                if (!valid(v) || producer[at(v)].first == kNone) {
                    operands[k] = kNoValue;
                    continue;
                }
                edges_.push_back({producer[at(v)].first, n, producer[at(v)].second, k, v});
            }
        }
    }

    // What the reader rebuilds from a numbering: the operation order (Kahn's algorithm, ties by
    // the smallest id), the inputs and the constants (graph_builder.cpp: order, createValues).
    struct Readback {
        bool opOrder = false;
        int lists = 0; // how many of inputs, constants come back in the graph's order
    };

    Readback readBack(const std::vector<std::int64_t>& ids) const {
        const std::size_t n = nodes_.size();
        std::vector<std::size_t> indegree(n, 0);
        std::vector<std::vector<std::size_t>> succ(n);
        for (const EdgeOut& e : edges_) {
            ++indegree[e.dst];
            succ[e.src].push_back(e.dst);
        }
        using Entry = std::pair<std::int64_t, std::size_t>;
        std::priority_queue<Entry, std::vector<Entry>, std::greater<>> ready;
        for (std::size_t i = 0; i < n; ++i)
            if (indegree[i] == 0)
                ready.emplace(ids[i], i);
        std::size_t nextOp = 0;
        bool inOrder = true;
        while (!ready.empty()) {
            const std::size_t i = ready.top().second;
            ready.pop();
            if (nodes_[i].opIndex != kNone)
                inOrder = inOrder && nodes_[i].opIndex == nextOp++;
            for (std::size_t j : succ[i])
                if (--indegree[j] == 0)
                    ready.emplace(ids[j], j);
        }
        Readback r;
        r.opOrder = inOrder && nextOp == g_.ops.size();
        std::vector<std::size_t> byId(n);
        for (std::size_t i = 0; i < n; ++i)
            byId[i] = i;
        std::ranges::sort(byId, [&](std::size_t a, std::size_t b) { return ids[a] < ids[b]; });
        std::vector<ValueId> inputs, constants;
        for (std::size_t i : byId) {
            const Node& nd = nodes_[i];
            inputs.insert(inputs.end(), nd.unconnectedInputs.begin(), nd.unconnectedInputs.end());
            if (nd.role == Role::Argument)
                inputs.insert(inputs.end(), nd.results.begin(), nd.results.end());
            else if (nd.kind == OpKind::Constant)
                constants.insert(constants.end(), nd.results.begin(), nd.results.end());
        }
        r.lists = (inputs == g_.inputs ? 1 : 0) + (constants == g_.constants ? 1 : 0);
        return r;
    }

    void assignIds() {
        const std::size_t n = nodes_.size();
        std::vector<std::int64_t> position(n);
        for (std::size_t i = 0; i < n; ++i)
            position[i] = static_cast<std::int64_t>(i);
        std::vector<std::int64_t> kept(n, 0);
        bool keepable = true;
        std::unordered_set<std::int64_t> seen;
        std::int64_t maxId = -1;
        for (std::size_t i = 0; i < n && keepable; ++i) {
            if (nodes_[i].opIndex == kNone)
                continue;
            const std::int64_t id = g_.ops[nodes_[i].opIndex].nodeId;
            keepable = id >= 0 && seen.insert(id).second;
            kept[i] = id;
            maxId = std::max(maxId, id);
        }
        keepable = keepable &&
                   maxId < std::numeric_limits<std::int64_t>::max() - static_cast<std::int64_t>(n);
        if (keepable) {
            std::int64_t next = maxId + 1;
            for (std::size_t i = 0; i < n; ++i)
                if (nodes_[i].opIndex == kNone)
                    kept[i] = next++;
            const Readback k = readBack(kept);
            if (k.opOrder && k.lists >= readBack(position).lists) {
                setIds(kept);
                return;
            }
        }
        setIds(position);
    }

    void setIds(const std::vector<std::int64_t>& ids) {
        for (std::size_t i = 0; i < nodes_.size(); ++i)
            nodes_[i].id = ids[i];
    }

    // Longest path from a node without incoming edges, in write order (producers first).
    void computeDepths() {
        std::vector<std::vector<std::size_t>> preds(nodes_.size());
        for (const EdgeOut& e : edges_)
            preds[e.dst].push_back(e.src);
        for (std::size_t i = 0; i < nodes_.size(); ++i)
            for (std::size_t p : preds[i])
                nodes_[i].depth = std::max(nodes_[i].depth, nodes_[p].depth + 1);
    }

    static std::string slotList(const std::vector<std::string>& items) {
        std::string out;
        for (std::size_t k = 0; k < items.size(); ++k)
            out += fmt::format("{}{}:{}", k == 0 ? "" : ",", k, items[k]);
        return out;
    }

    static std::string idList(std::string_view keyword, const std::vector<std::int64_t>& ids) {
        return ids.empty() ? fmt::format("{}:\n", keyword)
                           : fmt::format("{}: {}\n", keyword, fmt::join(ids, ", "));
    }

    std::string emit() const {
        const std::size_t n = nodes_.size();
        std::vector<std::size_t> order(n);
        for (std::size_t i = 0; i < n; ++i)
            order[i] = i;
        std::ranges::sort(
            order, [&](std::size_t a, std::size_t b) { return nodes_[a].id < nodes_[b].id; });
        std::vector<std::size_t> rank(n);
        for (std::size_t r = 0; r < n; ++r)
            rank[order[r]] = r;

        std::string out =
            fmt::format("Domain Flow Graph: {}\nDIRECTED\n", sanitizeGraphName(g_.name));
        out +=
            fmt::format("RUNNING_NODE_ID {}\nNODES {}\n", n == 0 ? 0 : nodes_[order.back()].id, n);
        for (std::size_t i : order) {
            const Node& nd = nodes_[i];
            out += fmt::format("NODE {} : |{}|{}|{}|{}|{}|{}|{}\n", nd.id, nd.name, nd.spelling,
                               nd.depth, slotList(nd.operandTypes), fmt::join(nd.attributes, ","),
                               slotList(nd.resultNames), slotList(nd.resultTypes));
        }

        // Edges by consumer (in file order), then slot.
        std::vector<EdgeOut> edges = edges_;
        std::ranges::stable_sort(edges, [&](const EdgeOut& a, const EdgeOut& b) {
            return std::pair(rank[a.dst], a.dstSlot) < std::pair(rank[b.dst], b.dstSlot);
        });
        out += fmt::format("EDGES {}\n", edges.size());
        std::vector<std::vector<std::int64_t>> next(n);
        std::vector<bool> hasIn(n, false);
        for (const EdgeOut& e : edges) {
            const TensorType& t = typeOf(e.value);
            out += fmt::format("EDGE {} -> {} : 0|{}|{}|{}|{}|{}|1,1,1\n", nodes_[e.src].id,
                               nodes_[e.dst].id, nodes_[e.src].kind == OpKind::Constant,
                               typeText(t), 8 * dtypeSize(t.dtype), e.srcSlot, e.dstSlot);
            hasIn[e.dst] = true;
            // A consumer's edges are consecutive: one ADJ entry per consumer.
            if (next[e.src].empty() || next[e.src].back() != nodes_[e.dst].id)
                next[e.src].push_back(nodes_[e.dst].id);
        }

        std::string adjacency;
        std::size_t adjacencyLines = 0;
        std::vector<std::int64_t> sources, sinks;
        const bool anyReturn =
            std::ranges::any_of(nodes_, [](const Node& nd) { return nd.role == Role::Return; });
        for (std::size_t i : order) {
            const Node& nd = nodes_[i];
            if (!next[i].empty()) {
                adjacency += fmt::format("ADJ {} : {}\n", nd.id, fmt::join(next[i], ", "));
                ++adjacencyLines;
            }
            if (!hasIn[i])
                sources.push_back(nd.id);
            // Without a return node the reader returns the unread results of SINK nodes; the
            // graph has no outputs then, so only nodes without results are listed.
            if (next[i].empty() && (anyReturn || nd.results.empty()))
                sinks.push_back(nd.id);
        }
        out += fmt::format("ADJACENCY {}\n{}", adjacencyLines, adjacency);
        out += idList("SOURCE", sources);
        out += idList("SINK", sinks);
        return out;
    }

    const Graph& g_;
    std::vector<std::string> names_; // per value
    std::unordered_set<std::string> usedNames_;
    std::unordered_map<std::string, std::size_t> nextSuffix_;
    std::vector<std::string> opNames_; // per op, sanitised
    std::vector<Role> roles_;          // per op
    std::vector<std::size_t> producerOp_;
    std::vector<std::size_t> uses_;
    std::vector<bool> isOutput_, isInput_, isConstant_, unconnected_;
    std::vector<Node> nodes_; // write order
    std::vector<EdgeOut> edges_;
};

} // namespace

std::string writeDfg(const Graph& graph) {
    return Writer(graph).run();
}

Expected<void> writeDfgFile(const Graph& graph, const std::string& path) {
    return writeTextFile(path, writeDfg(graph));
}

} // namespace kpu::ir
