#include "kpu/compiler/canonicalize.h"

#include <algorithm>

namespace kpu::ir {
namespace {

bool isUnaryElementwise(OpKind kind) {
    switch (kind) {
    case OpKind::Exp:
    case OpKind::Reciprocal:
    case OpKind::Sigmoid:
    case OpKind::Relu:
    case OpKind::Clamp:
    case OpKind::Gelu:
    case OpKind::Tanh:
    case OpKind::Negate:
    case OpKind::Abs:
    case OpKind::Sqrt:
    case OpKind::Log:
    case OpKind::Erf:
        return true;
    default:
        return false;
    }
}

class Canonicalizer {
public:
    explicit Canonicalizer(Graph& graph) : graph_(graph) {}

    void run() {
        std::vector<Operation> ops;
        ops.reserve(graph_.ops.size());
        for (Operation& op : graph_.ops) {
            if (op.kind == OpKind::MatMul && isBatchOfVectorProducts(op)) {
                rewriteVectorProducts(std::move(op), ops);
                continue;
            }
            if (isUnaryElementwise(op.kind))
                keepOperandShape(op);
            ops.push_back(std::move(op));
        }
        graph_.ops = std::move(ops);
        // Producers are op indices: renumber them after the insertions.
        for (std::size_t i = 0; i < graph_.ops.size(); ++i)
            for (std::size_t slot = 0; slot < graph_.ops[i].results.size(); ++slot) {
                Value& v = graph_.values[static_cast<std::size_t>(graph_.ops[i].results[slot])];
                v.producer = static_cast<std::int32_t>(i);
                v.producerSlot = static_cast<std::int32_t>(slot);
            }
    }

private:
    void warn(const Operation& op, const std::string& what) {
        graph_.warnings.push_back(fmt::format("{}:{}: warning: node {} '{}' ({}): {}",
                                              graph_.sourceFile, op.line, op.nodeId, op.name,
                                              op.opName, what));
    }

    const TensorType& typeOf(ValueId id) const { return graph_.value(id).type; }

    // MATMUL A[b, k] x B[b, k, n] declared as [b, n]: under matmul broadcasting the result
    // would be [b, b, n]; the declared type says each row of A multiplies its own matrix of B.
    bool isBatchOfVectorProducts(const Operation& op) const {
        if (op.operands.size() != 2 || op.results.size() != 1 ||
            std::ranges::any_of(op.operands, [](ValueId v) { return v == kNoValue; }))
            return false;
        const Shape& a = typeOf(op.operands[0]).shape;
        const Shape& b = typeOf(op.operands[1]).shape;
        const Shape& c = typeOf(op.results[0]).shape;
        return a.size() == 2 && b.size() == 3 && c.size() == 2 && a[0] == b[0] && a[1] == b[1] &&
               c[0] == a[0] && c[1] == b[2] && a[0] != 1;
    }

    ValueId newValue(const std::string& base, TensorType type, const Value& like) {
        Value v;
        v.name = base;
        for (int n = 2;
             std::ranges::any_of(graph_.values, [&](const Value& o) { return o.name == v.name; });
             ++n)
            v.name = fmt::format("{}.{}", base, n);
        v.sourceName = like.sourceName;
        v.type = std::move(type);
        graph_.values.push_back(std::move(v));
        return static_cast<ValueId>(graph_.values.size() - 1);
    }

    Operation reshape(const Operation& at, ValueId in, ValueId out, const std::string& suffix) {
        Operation r;
        r.kind = OpKind::Reshape;
        r.opName = "RESHAPE";
        r.nodeId = at.nodeId;
        r.name = at.name + suffix;
        r.operands = {in};
        r.operandTypes = {typeOf(in)};
        r.results = {out};
        r.line = at.line;
        return r;
    }

    // A[b, k] -> [b, 1, k]; MATMUL -> [b, 1, n]; -> [b, n].
    void rewriteVectorProducts(Operation op, std::vector<Operation>& ops) {
        const TensorType a = typeOf(op.operands[0]);
        const TensorType c = typeOf(op.results[0]);
        warn(op, fmt::format("a {} matrix times a batch of {} matrices declared {} is read as {} "
                             "vector-matrix products (A viewed as {}x1x{})",
                             formatShape(a.shape), formatShape(typeOf(op.operands[1]).shape),
                             formatShape(c.shape), a.shape[0], a.shape[0], a.shape[1]));
        const ValueId rows = newValue(graph_.value(op.operands[0]).name + ".rows",
                                      TensorType{{a.shape[0], 1, a.shape[1]}, a.dtype},
                                      graph_.value(op.operands[0]));
        const ValueId product =
            newValue(graph_.value(op.results[0]).name + ".rows",
                     TensorType{{c.shape[0], 1, c.shape[1]}, c.dtype}, graph_.value(op.results[0]));
        ops.push_back(reshape(op, op.operands[0], rows, ".lhs_rows"));
        const ValueId result = op.results[0];
        op.operands[0] = rows;
        if (!op.operandTypes.empty())
            op.operandTypes[0] = typeOf(rows);
        op.results[0] = product;
        ops.push_back(op);
        ops.push_back(reshape(op, product, result, ".result"));
    }

    // A unary elementwise op's result has its operand's shape, whatever the node declares.
    void keepOperandShape(Operation& op) {
        if (op.operands.size() != 1 || op.results.size() != 1 || op.operands[0] == kNoValue)
            return;
        const TensorType& in = typeOf(op.operands[0]);
        TensorType& out = graph_.values[static_cast<std::size_t>(op.results[0])].type;
        if (in.shape == out.shape)
            return;
        warn(op, fmt::format("declared result {} does not match its operand {}; the result is {}",
                             formatShape(out.shape), formatShape(in.shape), formatShape(in.shape)));
        out.shape = in.shape;
    }

    Graph& graph_;
};

} // namespace

void canonicalizeGraph(Graph& graph) {
    Canonicalizer(graph).run();
}

} // namespace kpu::ir
