// Writes small .dfg graphs in the current domain_flow grammar, for tests of generated shapes:
// matmulDfg for one MATMUL, DfgBuilder for arbitrary graphs.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace kpu::test {

inline std::string tensorType(const std::vector<std::int64_t>& shape,
                              const std::string& dtype = "f32") {
    if (shape.empty()) // a scalar
        return fmt::format("tensor<{}>", dtype);
    return fmt::format("tensor<{}x{}>", fmt::join(shape, "x"), dtype);
}

// out = A x B (+ C): A and B (and C) are CONSTANT nodes, the result is returned.
inline std::string matmulDfg(const std::string& name, const std::vector<std::int64_t>& a,
                             const std::vector<std::int64_t>& b,
                             const std::vector<std::int64_t>& out,
                             const std::vector<std::int64_t>& c = {},
                             const std::string& dtype = "f32") {
    const bool three = !c.empty();
    const std::string ta = tensorType(a, dtype), tb = tensorType(b, dtype),
                      to = tensorType(out, dtype);
    const std::string tc = three ? tensorType(c, dtype) : "";
    const int mm = three ? 3 : 2, ret = mm + 1;
    std::string s = fmt::format("Domain Flow Graph: {}\nDIRECTED\nRUNNING_NODE_ID {}\nNODES {}\n",
                                name, ret, ret + 1);
    s += fmt::format("NODE 0 : |const.A|CONSTANT|0|||0:A|0:{}\n", ta);
    s += fmt::format("NODE 1 : |const.B|CONSTANT|0|||0:B|0:{}\n", tb);
    if (three)
        s += fmt::format("NODE 2 : |const.C|CONSTANT|0|||0:C|0:{}\n", tc);
    s += fmt::format("NODE {} : |matmul|MATMUL|1|0:{},1:{}{}||0:Out|0:{}\n", mm, ta, tb,
                     three ? ",2:" + tc : "", to);
    s += fmt::format("NODE {} : |output|FUNCTION_RETURN|2|0:{}|target:memory|0:Out|0:{}\n", ret, to,
                     to);
    s += fmt::format("EDGES {}\n", three ? 4 : 3);
    s += fmt::format("EDGE 0 -> {} : 0|true|{}|32|0|0|1,1,1\n", mm, ta);
    s += fmt::format("EDGE 1 -> {} : 0|true|{}|32|0|1|1,1,1\n", mm, tb);
    if (three)
        s += fmt::format("EDGE 2 -> {} : 0|false|{}|32|0|2|1,1,1\n", mm, tc);
    s += fmt::format("EDGE {} -> {} : 0|false|{}|32|0|0|1,1,1\n", mm, ret, to);
    return s;
}

// Writes arbitrary graphs in the corpus style: FUNCTION_ARGUMENT / CONSTANT sources, computing
// nodes with typed operands, attributes and named results, a FUNCTION_RETURN sink, and the
// matching EDGE and ADJ lines. Node ids follow insertion order; depth is the longest path from
// a source.
//
//   DfgBuilder g("relu");
//   DfgValue x = g.input("x", {4, 8});
//   DfgValue y = g.node("RELU", {x}, {"y", {4, 8}});
//   g.output({y});
//   std::string text = g.str();
struct DfgValue {
    std::int64_t node = -1;
    int slot = 0;
    std::vector<std::int64_t> shape;
    std::string dtype = "f32";
    std::string type() const { return tensorType(shape, dtype); }
};

// One result of a node: its name, shape and element type.
struct DfgResult {
    std::string name;
    std::vector<std::int64_t> shape;
    std::string dtype = "f32";
};

// Bits of one element of a .dfg element type ("f16" -> 16), for EDGE lines.
inline int dtypeBits(const std::string& dtype) {
    if (dtype == "f8" || dtype == "i8")
        return 8;
    if (dtype == "f16")
        return 16;
    if (dtype == "f64")
        return 64;
    return 32;
}

// Attribute spellings as MLIR prints them (docs/operators.md, "Attributes").
inline std::string i64Array(const std::string& key, const std::vector<std::int64_t>& values) {
    return fmt::format("{}:array<i64: {}>", key, fmt::join(values, ", "));
}
inline std::string i32Array(const std::string& key, const std::vector<std::int64_t>& values) {
    return fmt::format("{}:array<i32: {}>", key, fmt::join(values, ", "));
}
inline std::string i32Attr(const std::string& key, std::int64_t value) {
    return fmt::format("{}:{} : i32", key, value);
}
inline std::string f32Attr(const std::string& key, double value) {
    return fmt::format("{}:{:e} : f32", key, value);
}
// Joins attributes with commas, the node's fifth field.
inline std::string attrList(const std::vector<std::string>& attrs) {
    return fmt::format("{}", fmt::join(attrs, ","));
}

class DfgBuilder {
public:
    explicit DfgBuilder(std::string graphName) : name_(std::move(graphName)) {}

    // A graph input (FUNCTION_ARGUMENT).
    DfgValue input(const std::string& name, const std::vector<std::int64_t>& shape,
                   const std::string& dtype = "f32") {
        return source("FUNCTION_ARGUMENT", name, name, shape, dtype);
    }
    // A constant (weight) tensor; values come from .npy files or the seeded generator.
    DfgValue constant(const std::string& name, const std::vector<std::int64_t>& shape,
                      const std::string& dtype = "f32") {
        return source("CONSTANT", "const." + name, name, shape, dtype);
    }

    // A node computing `results` from `operands` (operand slot k reads operands[k]).
    std::vector<DfgValue> node(const std::string& op, const std::vector<DfgValue>& operands,
                               const std::vector<DfgResult>& results, const std::string& attrs = "",
                               std::string nodeName = "") {
        Node n;
        n.id = static_cast<std::int64_t>(nodes_.size());
        n.op = op;
        n.name = nodeName.empty() ? (results.empty() ? op : results[0].name) : nodeName;
        n.attrs = attrs;
        for (const DfgValue& v : operands) {
            n.depth = std::max(n.depth, nodes_[static_cast<std::size_t>(v.node)].depth + 1);
            n.operands.push_back(v);
        }
        std::vector<DfgValue> values;
        for (std::size_t k = 0; k < results.size(); ++k) {
            n.results.push_back(results[k]);
            values.push_back(DfgValue{.node = n.id,
                                      .slot = static_cast<int>(k),
                                      .shape = results[k].shape,
                                      .dtype = results[k].dtype});
        }
        nodes_.push_back(std::move(n));
        return values;
    }
    // The common case: one result.
    DfgValue node(const std::string& op, const std::vector<DfgValue>& operands,
                  const DfgResult& result, const std::string& attrs = "") {
        return node(op, operands, std::vector<DfgResult>{result}, attrs).front();
    }

    // The graph outputs: one FUNCTION_RETURN node consuming `values` (operand k = values[k]).
    void output(const std::vector<DfgValue>& values) {
        std::vector<DfgResult> names;
        for (const DfgValue& v : values) {
            const Node& producer = nodes_[static_cast<std::size_t>(v.node)];
            names.push_back(
                DfgResult{.name = producer.results[static_cast<std::size_t>(v.slot)].name,
                          .shape = v.shape,
                          .dtype = v.dtype});
        }
        node("FUNCTION_RETURN", values, names, "target:memory", "output");
    }

    // The .dfg text.
    std::string str() const {
        struct Edge {
            DfgValue from;
            std::int64_t to;
            int slot;
        };
        std::vector<Edge> edges;
        for (const Node& n : nodes_)
            for (std::size_t k = 0; k < n.operands.size(); ++k)
                edges.push_back({n.operands[k], n.id, static_cast<int>(k)});
        std::string s =
            fmt::format("Domain Flow Graph: {}\nDIRECTED\nRUNNING_NODE_ID {}\nNODES {}\n", name_,
                        nodes_.size() - 1, nodes_.size());
        for (const Node& n : nodes_) {
            std::vector<std::string> operands, names, types;
            for (std::size_t k = 0; k < n.operands.size(); ++k)
                operands.push_back(fmt::format("{}:{}", k, n.operands[k].type()));
            for (std::size_t k = 0; k < n.results.size(); ++k) {
                names.push_back(fmt::format("{}:{}", k, n.results[k].name));
                types.push_back(
                    fmt::format("{}:{}", k, tensorType(n.results[k].shape, n.results[k].dtype)));
            }
            s += fmt::format("NODE {} : |{}|{}|{}|{}|{}|{}|{}\n", n.id, n.name, n.op, n.depth,
                             fmt::join(operands, ","), n.attrs, fmt::join(names, ","),
                             fmt::join(types, ","));
        }
        s += fmt::format("EDGES {}\n", edges.size());
        for (const Edge& e : edges) {
            const bool stationary = nodes_[static_cast<std::size_t>(e.from.node)].op == "CONSTANT";
            s += fmt::format("EDGE {} -> {} : 0|{}|{}|{}|{}|{}|1,1,1\n", e.from.node, e.to,
                             stationary, e.from.type(), dtypeBits(e.from.dtype), e.from.slot,
                             e.slot);
        }
        std::vector<std::string> adjacency, sources, sinks;
        for (const Node& n : nodes_) {
            std::vector<std::int64_t> next;
            for (const Edge& e : edges)
                if (e.from.node == n.id && std::ranges::find(next, e.to) == next.end())
                    next.push_back(e.to);
            if (!next.empty())
                adjacency.push_back(fmt::format("ADJ {} : {}\n", n.id, fmt::join(next, ", ")));
            if (n.operands.empty())
                sources.push_back(std::to_string(n.id));
            if (next.empty())
                sinks.push_back(std::to_string(n.id));
        }
        s += fmt::format("ADJACENCY {}\n{}", adjacency.size(), fmt::join(adjacency, ""));
        s +=
            fmt::format("SOURCE: {}\nSINK: {}\n", fmt::join(sources, ", "), fmt::join(sinks, ", "));
        return s;
    }

private:
    struct Node {
        std::int64_t id = 0;
        std::string op, name, attrs;
        int depth = 0;
        std::vector<DfgValue> operands;
        std::vector<DfgResult> results;
    };

    DfgValue source(const std::string& op, const std::string& nodeName, const std::string& name,
                    const std::vector<std::int64_t>& shape, const std::string& dtype) {
        return node(op, {}, std::vector<DfgResult>{{name, shape, dtype}}, "", nodeName).front();
    }

    std::string name_;
    std::vector<Node> nodes_;
};

} // namespace kpu::test
