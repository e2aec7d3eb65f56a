// Operator semantics: the .dfg attribute text of an operation -> kpu::OpParams, checked against
// the operation's types. One function per operator family; every check is a guard clause that
// returns an error naming the node and the shapes involved.
#include "kpu/compiler/op_params.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace kpu::ir {
namespace {

using Ints = std::vector<std::int64_t>;

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

std::optional<std::int64_t> parseInt(std::string_view s) {
    s = trim(s);
    if (!s.empty() && s.front() == '+')
        s.remove_prefix(1);
    std::int64_t value = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (s.empty() || ec != std::errc() || ptr != s.data() + s.size())
        return std::nullopt;
    return value;
}

// The number of an attribute written "<number> : <type>" (or just "<number>"), e.g.
// "6.000000e+00 : f32", "1 : i32", "0x7F800000 : f32" (MLIR's bit pattern for +inf).
std::optional<double> parseNumber(std::string_view text) {
    std::string_view number = text, type;
    if (const std::size_t colon = text.find(':'); colon != std::string_view::npos) {
        number = text.substr(0, colon);
        type = trim(text.substr(colon + 1));
    }
    number = trim(number);
    if (number.starts_with("0x") || number.starts_with("0X")) {
        std::uint64_t bits = 0;
        const std::string_view hex = number.substr(2);
        auto [ptr, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), bits, 16);
        if (hex.empty() || ec != std::errc() || ptr != hex.data() + hex.size())
            return std::nullopt;
        if (type == "f32" && bits <= std::numeric_limits<std::uint32_t>::max())
            return static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(bits)));
        if (type == "f64")
            return std::bit_cast<double>(bits);
        return static_cast<double>(bits);
    }
    if (!number.empty() && number.front() == '+')
        number.remove_prefix(1);
    double value = 0;
    auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (number.empty() || ec != std::errc() || ptr != number.data() + number.size())
        return std::nullopt;
    return value;
}

// The integers of an attribute written "array<i64: 1, 2>", "array<i64>" (empty), "[1, 2]",
// "dense<[1, 2]> : tensor<2xi32>" or a single "<n> : <type>".
std::optional<Ints> parseInts(std::string_view text) {
    text = trim(text);
    std::string_view list;
    if (text.starts_with("array<")) {
        if (!text.ends_with('>'))
            return std::nullopt;
        const std::string_view inner = text.substr(6, text.size() - 7);
        const std::size_t colon = inner.find(':');
        list = colon == std::string_view::npos ? std::string_view() : inner.substr(colon + 1);
    } else if (text.starts_with("dense<") || text.starts_with('[')) {
        const std::size_t open = text.find('[');
        const std::size_t close = text.rfind(']');
        if (open == std::string_view::npos || close == std::string_view::npos || close < open)
            return std::nullopt;
        list = text.substr(open + 1, close - open - 1);
    } else {
        const std::size_t colon = text.find(':');
        auto v = parseInt(colon == std::string_view::npos ? text : text.substr(0, colon));
        if (!v)
            return std::nullopt;
        return Ints{*v};
    }
    Ints out;
    if (trim(list).empty())
        return out;
    while (true) {
        const std::size_t comma = list.find(',');
        auto v = parseInt(list.substr(0, comma));
        if (!v)
            return std::nullopt;
        out.push_back(*v);
        if (comma == std::string_view::npos)
            return out;
        list.remove_prefix(comma + 1);
    }
}

std::string shapeText(std::span<const std::int64_t> shape) {
    return formatShape(shape);
}

std::string intsText(const Ints& v) {
    return fmt::format("[{}]", fmt::join(v, ", "));
}

bool allOnes(std::span<const std::int64_t> dims) {
    return std::ranges::all_of(dims, [](std::int64_t d) { return d == 1; });
}

// Largest value accepted for strides, dilations, kernel sizes and paddings (OpParams holds them
// as uint32; nothing real comes close).
constexpr std::int64_t kMaxWindowParam = std::numeric_limits<std::int32_t>::max();

class Checker {
public:
    Checker(const Graph& graph, const Operation& op, std::string_view file)
        : graph_(graph), op_(op), file_(file) {}

    template <class... Args>
    std::unexpected<Error> error(fmt::format_string<Args...> format, Args&&... args) const {
        return fail("{}:{}:1: error: node {} '{}' ({}): {}{}", file_, op_.line, op_.nodeId,
                    op_.name, op_.opName, fmt::format(format, std::forward<Args>(args)...),
                    declarationNote());
    }

    // When an operand's value disagrees with the type the node declares for it (a graph
    // wired inconsistently), the error says so: the shapes it shows are the values'.
    std::string declarationNote() const {
        for (std::size_t k = 0; k < op_.operands.size() && k < op_.operandTypes.size(); ++k) {
            if (op_.operands[k] == kNoValue)
                continue;
            const Value& v = graph_.value(op_.operands[k]);
            const TensorType& declared = op_.operandTypes[k];
            if (!declared.shape.empty() && declared.shape != v.type.shape)
                return fmt::format(" (operand {} is declared {}, but its value '{}' is {})", k,
                                   shapeText(declared.shape), v.name, shapeText(v.type.shape));
        }
        return "";
    }

    const Operation& op() const { return op_; }

    // The operand types, after checking their number (min..max), that each is connected and
    // that each holds floats.
    Expected<std::vector<TensorType>> operands(std::size_t min, std::size_t max) const {
        const std::size_t n = op_.operands.size();
        if (n < min || n > max) {
            if (min == max)
                return error("expects {} operand{}, got {}", min, min == 1 ? "" : "s", n);
            if (max == std::numeric_limits<std::size_t>::max())
                return error("expects at least {} operand{}, got {}", min, min == 1 ? "" : "s", n);
            return error("expects {} to {} operands, got {}", min, max, n);
        }
        std::vector<TensorType> types;
        types.reserve(n);
        for (std::size_t k = 0; k < n; ++k) {
            const ValueId id = op_.operands[k];
            if (id == kNoValue)
                return error("operand {} is not connected", k);
            const TensorType& t = graph_.value(id).type;
            if (!isFloat(t.dtype))
                return error("operand {} '{}' has element type {}; expected a float type", k,
                             graph_.value(id).name, dtypeName(t.dtype));
            types.push_back(t);
        }
        return types;
    }

    // The one result's type (a float tensor).
    Expected<TensorType> result() const {
        if (op_.results.size() != 1)
            return error("expects 1 result, got {}", op_.results.size());
        const TensorType& t = graph_.value(op_.results[0]).type;
        if (!isFloat(t.dtype))
            return error("result '{}' has element type {}; expected a float type",
                         graph_.value(op_.results[0]).name, dtypeName(t.dtype));
        return t;
    }

    const std::string* attribute(std::string_view key) const {
        for (const Attribute& a : op_.attributes)
            if (a.key == key)
                return &a.value;
        return nullptr;
    }

    // The integer list of attribute `key` (the first of `keys` present), or nullopt if absent.
    Expected<std::optional<Ints>> ints(std::initializer_list<std::string_view> keys) const {
        for (std::string_view key : keys)
            if (const std::string* v = attribute(key)) {
                auto parsed = parseInts(*v);
                if (!parsed)
                    return error("attribute '{}' is not a list of integers: '{}'", key, *v);
                return std::optional<Ints>(std::move(*parsed));
            }
        return std::optional<Ints>();
    }

    Expected<std::optional<std::int64_t>> integer(std::string_view key) const {
        const std::string* v = attribute(key);
        if (!v)
            return std::optional<std::int64_t>();
        const std::size_t colon = v->find(':');
        auto parsed = parseInt(std::string_view(*v).substr(0, colon));
        if (!parsed)
            return error("attribute '{}' is not an integer: '{}'", key, *v);
        return std::optional<std::int64_t>(*parsed);
    }

    Expected<std::optional<double>> number(std::initializer_list<std::string_view> keys) const {
        for (std::string_view key : keys)
            if (const std::string* v = attribute(key)) {
                auto parsed = parseNumber(*v);
                if (!parsed || std::isnan(*parsed))
                    return error("attribute '{}' is not a number: '{}'", key, *v);
                return std::optional<double>(*parsed);
            }
        return std::optional<double>();
    }

    // An axis attribute normalised to [0, rank); `fallback` when absent (nullopt: required).
    Expected<std::int32_t> axis(std::size_t rank, std::optional<std::int64_t> fallback) const {
        auto a = integer("axis");
        if (!a)
            return std::unexpected(a.error());
        if (!*a && !fallback)
            return error("missing attribute 'axis'");
        const std::int64_t value = a->value_or(fallback.value_or(0));
        const auto r = static_cast<std::int64_t>(rank);
        if (value < -r || value >= r)
            return error("axis {} is out of range for rank {}", value, rank);
        return static_cast<std::int32_t>(value < 0 ? value + r : value);
    }

    // An attribute of exactly `count` integers in [minValue, kMaxWindowParam], or `fallback`.
    Expected<Ints> window(std::string_view key, std::size_t count, std::int64_t minValue,
                          std::int64_t fallback) const {
        auto v = ints({key});
        if (!v)
            return std::unexpected(v.error());
        if (!*v)
            return Ints(count, fallback);
        const Ints& values = **v;
        if (values.size() != count)
            return error("attribute '{}' needs {} values, got {}", key, count, intsText(values));
        for (std::int64_t x : values)
            if (x < minValue || x > kMaxWindowParam)
                return error("attribute '{}' value {} is out of range [{}, {}]", key, x, minValue,
                             kMaxWindowParam);
        return values;
    }

    Expected<void> expectShape(const Shape& declared, const Shape& inferred) const {
        if (declared == inferred)
            return {};
        return error("result is {}, expected {}", shapeText(declared), shapeText(inferred));
    }

    Expected<void> expectRank(std::string_view what, const Shape& shape, std::size_t rank) const {
        if (shape.size() == rank)
            return {};
        return error("{} must have rank {}, got {}", what, rank, shapeText(shape));
    }

private:
    const Graph& graph_;
    const Operation& op_;
    std::string_view file_;
};

// A missing output extent of a window (conv, pool):
// (in + before + after - dilation * (kernel - 1) - 1) / stride + 1.
Expected<std::int64_t> windowExtent(const Checker& c, std::string_view dim, std::int64_t in,
                                    std::int64_t kernel, std::int64_t stride, std::int64_t dilation,
                                    std::int64_t before, std::int64_t after) {
    // in < 2^63 and the attributes < 2^31, so the padded size fits in uint64.
    const std::uint64_t padded = static_cast<std::uint64_t>(in) +
                                 static_cast<std::uint64_t>(before) +
                                 static_cast<std::uint64_t>(after);
    const auto span =
        checkedMul(static_cast<std::uint64_t>(dilation), static_cast<std::uint64_t>(kernel - 1));
    if (!span || *span + 1 > padded)
        return c.error("the {} window ({} with dilation {}) is larger than the padded input ({})",
                       dim, kernel, dilation, padded);
    return static_cast<std::int64_t>((padded - *span - 1) / static_cast<std::uint64_t>(stride) + 1);
}

using Result = Expected<std::optional<OpSemantics>>;

Result semantics(Operator op, const OpParams& params = {}) {
    return std::optional<OpSemantics>(OpSemantics{op, params});
}

// ---- MATMUL, FUSED_MATMUL_BIAS_ACT --------------------------------------------------------

Expected<Activation> parseActivation(const Checker& c, OpParams& params) {
    const std::string* text = c.attribute("activation");
    if (!text)
        return Activation::None;
    std::string name(trim(*text));
    std::ranges::transform(name, name.begin(), [](char ch) {
        return static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
    });
    for (Activation a : {Activation::None, Activation::Relu, Activation::Clamp, Activation::Sigmoid,
                         Activation::Gelu, Activation::Tanh}) {
        if (activationName(a) != name)
            continue;
        if (a == Activation::Clamp) {
            auto lo = c.number({"min_fp", "min"});
            if (!lo)
                return std::unexpected(lo.error());
            auto hi = c.number({"max_fp", "max"});
            if (!hi)
                return std::unexpected(hi.error());
            params.min = lo->value_or(-std::numeric_limits<double>::infinity());
            params.max = hi->value_or(std::numeric_limits<double>::infinity());
            if (params.min > params.max)
                return c.error("clamp minimum {} is greater than the maximum {}", params.min,
                               params.max);
        }
        return a;
    }
    return c.error("unknown activation '{}' (expected none, relu, clamp, sigmoid, gelu or tanh)",
                   *text);
}

Result matMul(const Checker& c, bool fused) {
    auto in = c.operands(2, 3);
    if (!in)
        return std::unexpected(in.error());
    auto out = c.result();
    if (!out)
        return std::unexpected(out.error());
    const Shape& a = (*in)[0].shape;
    const Shape& b = (*in)[1].shape;
    const Shape& y = out->shape;
    if (a.size() < 2)
        return c.error("a must have rank 2 or more, got {}", shapeText(a));
    if (b.size() < 2)
        return c.error("b must have rank 2 or more, got {}", shapeText(b));
    const std::int64_t m = a[a.size() - 2], k = a.back(), n = b.back();
    if (b[b.size() - 2] != k)
        return c.error("inner dimensions differ: a is {}, b is {}", shapeText(a), shapeText(b));

    OpParams params;
    std::vector<std::pair<std::string_view, Shape>> batched{{"a", a}, {"b", b}};
    if (in->size() == 3) {
        const Shape& third = (*in)[2].shape;
        if (fused) {
            if (third != Shape{n})
                return c.error("bias must be {}, got {}", shapeText(Shape{n}), shapeText(third));
            params.biasInput = 2;
        } else {
            if (third.size() < 2 || third[third.size() - 2] != m || third.back() != n)
                return c.error("c must be {}x{} (with optional batch dimensions), got {}", m, n,
                               shapeText(third));
            batched.emplace_back("c", third);
        }
    }
    if (fused) {
        auto act = parseActivation(c, params);
        if (!act)
            return std::unexpected(act.error());
        params.activation = *act;
    }

    // Batch dimensions: every operand's leading dims are the result's, or all ones (or absent).
    auto differ = [&]() -> Result {
        std::string list;
        for (const auto& [name, s] : batched)
            list += fmt::format("{}{} is {}", list.empty() ? "" : ", ", name, shapeText(s));
        return c.error("batch dimensions differ: {}", list);
    };
    Shape batch;
    bool fromOperand = false;
    std::size_t longestOnes = 0;
    for (const auto& [name, s] : batched) {
        const std::span<const std::int64_t> lead(s.data(), s.size() - 2);
        if (allOnes(lead)) {
            longestOnes = std::max(longestOnes, lead.size());
            continue;
        }
        if (fromOperand && !std::ranges::equal(lead, batch))
            return differ();
        batch.assign(lead.begin(), lead.end());
        fromOperand = true;
    }
    if (fromOperand && longestOnes > batch.size())
        return differ();
    if (!fromOperand)
        batch.assign(longestOnes, 1);
    // Without real batch dimensions the result may carry any number of leading ones.
    if (!fromOperand && y.size() >= 2 + batch.size() && y[y.size() - 2] == m && y.back() == n &&
        allOnes(std::span<const std::int64_t>(y.data(), y.size() - 2)))
        return semantics(Operator::MatMul, params);
    Shape inferred = batch;
    inferred.push_back(m);
    inferred.push_back(n);
    if (auto r = c.expectShape(y, inferred); !r)
        return std::unexpected(r.error());
    return semantics(Operator::MatMul, params);
}

// ---- FC, LINEAR ---------------------------------------------------------------------------

Result fullyConnected(const Checker& c) {
    auto in = c.operands(2, 3);
    if (!in)
        return std::unexpected(in.error());
    auto out = c.result();
    if (!out)
        return std::unexpected(out.error());
    const Shape& x = (*in)[0].shape;
    const Shape& w = (*in)[1].shape;
    if (x.empty())
        return c.error("input must have rank 1 or more, got a scalar");
    if (auto r = c.expectRank("weight", w, 2); !r)
        return std::unexpected(r.error());
    if (w[1] != x.back())
        return c.error("input {} and weight {} disagree on K (weight is [N, K])", shapeText(x),
                       shapeText(w));
    if (in->size() == 3 && (*in)[2].shape != Shape{w[0]})
        return c.error("bias must be {}, got {}", w[0], shapeText((*in)[2].shape));
    Shape inferred = x;
    inferred.back() = w[0];
    if (auto r = c.expectShape(out->shape, inferred); !r)
        return std::unexpected(r.error());
    return semantics(Operator::FullyConnected);
}

// ---- CONV2D, DEPTHWISE_CONV2D, MAXPOOL2D, AVGPOOL2D ---------------------------------------

// stride, dilation and pad attributes into params.
Expected<void> windowParams(const Checker& c, OpParams& params, bool dilated) {
    auto stride = c.window("stride", 2, 1, 1);
    if (!stride)
        return std::unexpected(stride.error());
    auto pad = c.window("pad", 4, 0, 0);
    if (!pad)
        return std::unexpected(pad.error());
    params.strideH = static_cast<std::uint32_t>((*stride)[0]);
    params.strideW = static_cast<std::uint32_t>((*stride)[1]);
    params.padTop = static_cast<std::uint32_t>((*pad)[0]);
    params.padBottom = static_cast<std::uint32_t>((*pad)[1]);
    params.padLeft = static_cast<std::uint32_t>((*pad)[2]);
    params.padRight = static_cast<std::uint32_t>((*pad)[3]);
    auto dilation = c.window("dilation", 2, 1, 1);
    if (!dilation)
        return std::unexpected(dilation.error());
    if (!dilated && ((*dilation)[0] != 1 || (*dilation)[1] != 1))
        return c.error("dilation {} is not supported (pools have dilation 1)", intsText(*dilation));
    params.dilationH = static_cast<std::uint32_t>((*dilation)[0]);
    params.dilationW = static_cast<std::uint32_t>((*dilation)[1]);
    return {};
}

// [OH, OW] of a window op over NHWC input `x`.
Expected<std::pair<std::int64_t, std::int64_t>> windowOutput(const Checker& c, const Shape& x,
                                                             const OpParams& p) {
    auto oh =
        windowExtent(c, "height", x[1], p.kernelH, p.strideH, p.dilationH, p.padTop, p.padBottom);
    if (!oh)
        return std::unexpected(oh.error());
    auto ow =
        windowExtent(c, "width", x[2], p.kernelW, p.strideW, p.dilationW, p.padLeft, p.padRight);
    if (!ow)
        return std::unexpected(ow.error());
    return std::pair(*oh, *ow);
}

Expected<void> kernelExtents(const Checker& c, OpParams& p, std::string_view what, std::int64_t kh,
                             std::int64_t kw) {
    if (kh < 1 || kw < 1 || kh > kMaxWindowParam || kw > kMaxWindowParam)
        return c.error("{} is {}x{}; expected sizes in [1, {}]", what, kh, kw, kMaxWindowParam);
    p.kernelH = static_cast<std::uint32_t>(kh);
    p.kernelW = static_cast<std::uint32_t>(kw);
    return {};
}

Result conv2D(const Checker& c, bool depthwise) {
    auto in = c.operands(2, 3);
    if (!in)
        return std::unexpected(in.error());
    auto out = c.result();
    if (!out)
        return std::unexpected(out.error());
    const Shape& x = (*in)[0].shape;
    const Shape& w = (*in)[1].shape;
    if (auto r = c.expectRank("input (NHWC)", x, 4); !r)
        return std::unexpected(r.error());
    if (auto r = c.expectRank(depthwise ? "weight (KH, KW, C, M)" : "weight (OHWI)", w, 4); !r)
        return std::unexpected(r.error());
    OpParams p;
    if (auto r = windowParams(c, p, true); !r)
        return std::unexpected(r.error());
    std::int64_t channels = 0;
    if (depthwise) {
        if (w[2] != x[3])
            return c.error("weight {} has {} input channels, input {} has {}", shapeText(w), w[2],
                           shapeText(x), x[3]);
        auto cm = checkedMul(static_cast<std::uint64_t>(w[2]), static_cast<std::uint64_t>(w[3]));
        if (!cm || *cm > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            return c.error("weight {} has too many output channels", shapeText(w));
        channels = static_cast<std::int64_t>(*cm);
        if (auto r = kernelExtents(c, p, "the kernel", w[0], w[1]); !r)
            return std::unexpected(r.error());
    } else {
        if (w[3] != x[3])
            return c.error("weight {} has {} input channels, input {} has {}", shapeText(w), w[3],
                           shapeText(x), x[3]);
        channels = w[0];
        if (auto r = kernelExtents(c, p, "the kernel", w[1], w[2]); !r)
            return std::unexpected(r.error());
    }
    if (in->size() == 3 && (*in)[2].shape != Shape{channels})
        return c.error("bias must be {}, got {}", channels, shapeText((*in)[2].shape));
    auto hw = windowOutput(c, x, p);
    if (!hw)
        return std::unexpected(hw.error());
    const Shape inferred{x[0], hw->first, hw->second, channels};
    if (out->shape != inferred) {
        // Old TOSA imports (6-field NODE lines) carry no attributes at all: say so.
        const bool noAttributes =
            !c.attribute("stride") && !c.attribute("pad") && !c.attribute("dilation");
        return c.error("result is {}, expected {}{}", shapeText(out->shape), shapeText(inferred),
                       noAttributes ? " (the node has no stride, pad or dilation attributes; "
                                      "the defaults are 1, 0 and 1)"
                                    : "");
    }
    return semantics(depthwise ? Operator::DepthwiseConv2D : Operator::Conv2D, p);
}

Result pool2D(const Checker& c, Operator kind) {
    auto in = c.operands(1, 1);
    if (!in)
        return std::unexpected(in.error());
    auto out = c.result();
    if (!out)
        return std::unexpected(out.error());
    const Shape& x = (*in)[0].shape;
    if (auto r = c.expectRank("input (NHWC)", x, 4); !r)
        return std::unexpected(r.error());
    if (!c.attribute("kernel"))
        return c.error("missing attribute 'kernel'");
    auto kernel = c.window("kernel", 2, 1, 1);
    if (!kernel)
        return std::unexpected(kernel.error());
    OpParams p;
    p.kernelH = static_cast<std::uint32_t>((*kernel)[0]);
    p.kernelW = static_cast<std::uint32_t>((*kernel)[1]);
    if (auto r = windowParams(c, p, false); !r)
        return std::unexpected(r.error());
    // Every window must hold an input element (TOSA: pad < kernel).
    if (p.padTop >= p.kernelH || p.padBottom >= p.kernelH || p.padLeft >= p.kernelW ||
        p.padRight >= p.kernelW)
        return c.error("padding {} must be smaller than the kernel {}x{}",
                       intsText({p.padTop, p.padBottom, p.padLeft, p.padRight}), p.kernelH,
                       p.kernelW);
    auto hw = windowOutput(c, x, p);
    if (!hw)
        return std::unexpected(hw.error());
    if (auto r = c.expectShape(out->shape, Shape{x[0], hw->first, hw->second, x[3]}); !r)
        return std::unexpected(r.error());
    return semantics(kind, p);
}

// ---- elementwise --------------------------------------------------------------------------

Result binary(const Checker& c, Operator kind) {
    auto in = c.operands(2, 2);
    if (!in)
        return std::unexpected(in.error());
    auto out = c.result();
    if (!out)
        return std::unexpected(out.error());
    if (kind == Operator::Mul) {
        auto shift = c.integer("shift");
        if (!shift)
            return std::unexpected(shift.error());
        if (shift->value_or(0) != 0)
            return c.error("shift {} is not supported (only 0: float multiply)", **shift);
    }
    const Shape& a = (*in)[0].shape;
    const Shape& b = (*in)[1].shape;
    auto inferred = broadcastShapes(a, b);
    if (!inferred)
        return c.error("operands {} and {} do not broadcast", shapeText(a), shapeText(b));
    if (auto r = c.expectShape(out->shape, *inferred); !r)
        return std::unexpected(r.error());
    return semantics(kind);
}

Result unary(const Checker& c, Operator kind) {
    auto in = c.operands(1, 1);
    if (!in)
        return std::unexpected(in.error());
    auto out = c.result();
    if (!out)
        return std::unexpected(out.error());
    OpParams p;
    if (kind == Operator::Clamp) {
        auto lo = c.number({"min_fp", "min"});
        if (!lo)
            return std::unexpected(lo.error());
        auto hi = c.number({"max_fp", "max"});
        if (!hi)
            return std::unexpected(hi.error());
        p.min = lo->value_or(-std::numeric_limits<double>::infinity());
        p.max = hi->value_or(std::numeric_limits<double>::infinity());
        if (p.min > p.max)
            return c.error("minimum {} is greater than the maximum {}", p.min, p.max);
    }
    if (auto r = c.expectShape(out->shape, (*in)[0].shape); !r)
        return std::unexpected(r.error());
    return semantics(kind, p);
}

// ---- layout -------------------------------------------------------------------------------

Result reshape(const Checker& c) {
    auto in = c.operands(1, 1);
    if (!in)
        return std::unexpected(in.error());
    auto out = c.result();
    if (!out)
        return std::unexpected(out.error());
    const Shape& x = (*in)[0].shape;
    const Shape& y = out->shape;
    auto newShape = c.ints({"new_shape", "shape"});
    if (!newShape)
        return std::unexpected(newShape.error());
    if (*newShape) {
        // -1 is the one inferred dimension (in the result type it is resolved, e.g. the batch).
        const Ints& s = **newShape;
        bool mismatch = s.size() != y.size();
        for (std::size_t i = 0; !mismatch && i < s.size(); ++i)
            mismatch = s[i] != -1 && s[i] != y[i];
        if (mismatch || std::ranges::count(s, -1) > 1)
            return c.error("new_shape {} does not describe the result {}", intsText(s),
                           shapeText(y));
    }
    if (elementCount(x) != elementCount(y))
        return c.error("input {} and result {} have different element counts", shapeText(x),
                       shapeText(y));
    return semantics(Operator::Reshape);
}

Result transpose(const Checker& c) {
    auto in = c.operands(1, 1);
    if (!in)
        return std::unexpected(in.error());
    auto out = c.result();
    if (!out)
        return std::unexpected(out.error());
    const Shape& x = (*in)[0].shape;
    auto perm = c.ints({"perms", "perm"});
    if (!perm)
        return std::unexpected(perm.error());
    if (!*perm)
        return c.error("missing attribute 'perms'");
    const Ints& pv = **perm;
    OpParams p;
    if (x.size() > p.perm.size())
        return c.error("input {} has rank {}; at most {} is supported", shapeText(x), x.size(),
                       p.perm.size());
    std::vector<bool> seen(x.size(), false);
    bool valid = pv.size() == x.size();
    for (std::size_t d = 0; valid && d < pv.size(); ++d) {
        valid = pv[d] >= 0 && pv[d] < static_cast<std::int64_t>(x.size()) &&
                !seen[static_cast<std::size_t>(pv[d])];
        if (valid)
            seen[static_cast<std::size_t>(pv[d])] = true;
    }
    if (!valid)
        return c.error("perms {} is not a permutation of the {} dimensions of {}", intsText(pv),
                       x.size(), shapeText(x));
    Shape inferred(x.size());
    for (std::size_t d = 0; d < pv.size(); ++d) {
        p.perm[d] = static_cast<std::uint8_t>(pv[d]);
        inferred[d] = x[static_cast<std::size_t>(pv[d])];
    }
    if (auto r = c.expectShape(out->shape, inferred); !r)
        return std::unexpected(r.error());
    return semantics(Operator::Transpose, p);
}

Result concat(const Checker& c) {
    auto in = c.operands(1, std::numeric_limits<std::size_t>::max());
    if (!in)
        return std::unexpected(in.error());
    auto out = c.result();
    if (!out)
        return std::unexpected(out.error());
    const Shape& first = (*in)[0].shape;
    OpParams p;
    auto axis = c.axis(first.size(), std::nullopt);
    if (!axis)
        return std::unexpected(axis.error());
    p.axis = *axis;
    const auto ax = static_cast<std::size_t>(*axis);
    Shape inferred = first;
    for (std::size_t k = 1; k < in->size(); ++k) {
        const Shape& s = (*in)[k].shape;
        bool ok = s.size() == first.size();
        for (std::size_t d = 0; ok && d < s.size(); ++d)
            ok = d == ax || s[d] == first[d];
        if (!ok)
            return c.error("operand {} is {}, operand 0 is {}: they must agree except on axis {}",
                           k, shapeText(s), shapeText(first), ax);
        if (inferred[ax] > std::numeric_limits<std::int64_t>::max() - s[ax])
            return c.error("the concatenated axis overflows");
        inferred[ax] += s[ax];
    }
    if (auto r = c.expectShape(out->shape, inferred); !r)
        return std::unexpected(r.error());
    return semantics(Operator::Concat, p);
}

Result pad(const Checker& c) {
    auto in = c.operands(1, 1);
    if (!in)
        return std::unexpected(in.error());
    auto out = c.result();
    if (!out)
        return std::unexpected(out.error());
    const Shape& x = (*in)[0].shape;
    OpParams p;
    if (x.size() * 2 > p.padding.size())
        return c.error("input {} has rank {}; at most {} is supported", shapeText(x), x.size(),
                       p.padding.size() / 2);
    auto padding = c.ints({"padding"});
    if (!padding)
        return std::unexpected(padding.error());
    if (!*padding)
        return c.error("missing attribute 'padding'");
    const Ints& pv = **padding;
    if (pv.size() != 2 * x.size())
        return c.error("padding {} needs 2 values (before, after) for each of the {} dimensions",
                       intsText(pv), x.size());
    Shape inferred = x;
    for (std::size_t i = 0; i < pv.size(); ++i) {
        if (pv[i] < 0 || pv[i] > kMaxWindowParam)
            return c.error("padding value {} is out of range [0, {}]", pv[i], kMaxWindowParam);
        p.padding[i] = static_cast<std::uint32_t>(pv[i]);
        inferred[i / 2] += pv[i]; // dims < 2^63 - 2^32, so this cannot overflow
    }
    auto value = c.number({"pad_const", "pad_const_fp"});
    if (!value)
        return std::unexpected(value.error());
    p.padValue = value->value_or(0.0);
    if (auto r = c.expectShape(out->shape, inferred); !r)
        return std::unexpected(r.error());
    return semantics(Operator::Pad, p);
}

// ---- reductions and normalisations --------------------------------------------------------

Result reduce(const Checker& c, Operator kind) {
    auto in = c.operands(1, 1);
    if (!in)
        return std::unexpected(in.error());
    auto out = c.result();
    if (!out)
        return std::unexpected(out.error());
    const Shape& x = (*in)[0].shape;
    if (x.empty())
        return c.error("input must have rank 1 or more, got a scalar");
    OpParams p;
    auto axis = c.axis(x.size(), std::nullopt);
    if (!axis)
        return std::unexpected(axis.error());
    p.axis = *axis;
    Shape inferred = x;
    inferred[static_cast<std::size_t>(*axis)] = 1;
    if (auto r = c.expectShape(out->shape, inferred); !r)
        return std::unexpected(r.error());
    return semantics(kind, p);
}

Result softmax(const Checker& c) {
    auto in = c.operands(1, 1);
    if (!in)
        return std::unexpected(in.error());
    auto out = c.result();
    if (!out)
        return std::unexpected(out.error());
    const Shape& x = (*in)[0].shape;
    if (x.empty())
        return c.error("input must have rank 1 or more, got a scalar");
    OpParams p;
    auto axis = c.axis(x.size(), -1);
    if (!axis)
        return std::unexpected(axis.error());
    p.axis = *axis;
    if (auto r = c.expectShape(out->shape, x); !r)
        return std::unexpected(r.error());
    return semantics(Operator::Softmax, p);
}

Result layerNorm(const Checker& c) {
    auto in = c.operands(1, 3);
    if (!in)
        return std::unexpected(in.error());
    auto out = c.result();
    if (!out)
        return std::unexpected(out.error());
    const Shape& x = (*in)[0].shape;
    if (x.empty())
        return c.error("input must have rank 1 or more, got a scalar");
    OpParams p;
    auto axis = c.axis(x.size(), -1);
    if (!axis)
        return std::unexpected(axis.error());
    p.axis = *axis;
    auto eps = c.number({"epsilon"});
    if (!eps)
        return std::unexpected(eps.error());
    p.epsilon = eps->value_or(1e-5);
    if (!(p.epsilon > 0) || std::isinf(p.epsilon))
        return c.error("epsilon {} must be positive and finite", p.epsilon);
    const Shape normalised(x.begin() + *axis, x.end());
    for (std::size_t k = 1; k < in->size(); ++k)
        if ((*in)[k].shape != normalised)
            return c.error("{} must be {} (the input's dims from axis {}), got {}",
                           k == 1 ? "gamma" : "beta", shapeText(normalised), *axis,
                           shapeText((*in)[k].shape));
    if (auto r = c.expectShape(out->shape, x); !r)
        return std::unexpected(r.error());
    return semantics(Operator::LayerNorm, p);
}

} // namespace

std::optional<std::vector<std::int64_t>> parseIntsAttribute(std::string_view text) {
    return parseInts(text);
}

Expected<std::optional<OpSemantics>> operatorSemantics(const Graph& graph, const Operation& op,
                                                       std::string_view file) {
    const Checker c(graph, op, file);
    auto unsupported = [&]() -> Result {
        return fail("{}:{}:1: error: operator {} (node {} '{}') is not supported", file, op.line,
                    op.opName, op.nodeId, op.name);
    };
    switch (op.kind) {
    case OpKind::FunctionArgument:
    case OpKind::Function:
    case OpKind::FunctionReturn:
    case OpKind::FunctionResult:
    case OpKind::Constant:
        return std::optional<OpSemantics>();
    case OpKind::Unknown:
        if (op.results.empty())
            return std::optional<OpSemantics>(); // a return marker
        return unsupported();
    case OpKind::MatMul:
        return matMul(c, false);
    case OpKind::FusedMatMulBiasAct:
        return matMul(c, true);
    case OpKind::Linear:
    case OpKind::FC:
        return fullyConnected(c);
    case OpKind::Conv2D:
        return conv2D(c, false);
    case OpKind::DepthwiseConv2D:
        return conv2D(c, true);
    case OpKind::Add:
        return binary(c, Operator::Add);
    case OpKind::Sub:
        return binary(c, Operator::Sub);
    case OpKind::Mul:
        return binary(c, Operator::Mul);
    case OpKind::Div:
        return binary(c, Operator::Div);
    case OpKind::Exp:
        return unary(c, Operator::Exp);
    case OpKind::Reciprocal:
        return unary(c, Operator::Reciprocal);
    case OpKind::Sigmoid:
        return unary(c, Operator::Sigmoid);
    case OpKind::Relu:
        return unary(c, Operator::Relu);
    case OpKind::Clamp:
        return unary(c, Operator::Clamp);
    case OpKind::Gelu:
        return unary(c, Operator::Gelu);
    case OpKind::Tanh:
        return unary(c, Operator::Tanh);
    case OpKind::Abs:
        return unary(c, Operator::Abs);
    case OpKind::Negate:
        return unary(c, Operator::Negate);
    case OpKind::Sqrt:
        return unary(c, Operator::Sqrt);
    case OpKind::Log:
        return unary(c, Operator::Log);
    case OpKind::Erf:
        return unary(c, Operator::Erf);
    case OpKind::Maximum:
        return binary(c, Operator::Maximum);
    case OpKind::Minimum:
        return binary(c, Operator::Minimum);
    case OpKind::Reshape:
        return reshape(c);
    case OpKind::Transpose:
        return transpose(c);
    case OpKind::Concat:
        return concat(c);
    case OpKind::Pad:
        return pad(c);
    case OpKind::ReduceSum:
        return reduce(c, Operator::ReduceSum);
    case OpKind::ReduceMax:
        return reduce(c, Operator::ReduceMax);
    case OpKind::ReduceMin:
        return reduce(c, Operator::ReduceMin);
    case OpKind::Softmax:
        return softmax(c);
    case OpKind::LayerNorm:
        return layerNorm(c);
    case OpKind::MaxPool2D:
        return pool2D(c, Operator::MaxPool2D);
    case OpKind::AvgPool2D:
        return pool2D(c, Operator::AvgPool2D);
    case OpKind::Conv3D:
    case OpKind::TransposeConv2D:
    case OpKind::Gather:
    case OpKind::Cast:
    case OpKind::ReduceProd:
        return unsupported();
    }
    return unsupported();
}

} // namespace kpu::ir
