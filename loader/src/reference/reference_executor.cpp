#include "kpu/loader/reference_executor.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <new>

#include "kpu/common/float_convert.h"
#include "kpu/common/operator.h"
#include "kpu/common/shape.h"
#include "reference_ops.h"

namespace kpu::loader {
namespace {

using reference::Operand;
using reference::Params;

// Each tensor is held as doubles while the graph runs; bounding the element count (2 GiB of
// doubles) keeps a hostile but structurally valid object from exhausting memory.
constexpr std::int64_t kMaxElements = std::int64_t{1} << 28;

struct TensorInfo {
    std::string name;
    DType dtype = DType::F32;
    Shape shape;
    std::int64_t elements = 1;
};

Expected<TensorInfo> describe(const dfx::Program& program, std::uint32_t index) {
    const auto* tensors = program.tensors();
    if (!tensors || index >= tensors->size())
        return fail("tensor index {} is out of range (the object has {} tensors)", index,
                    tensors ? tensors->size() : 0);
    const dfx::Tensor& t = *tensors->Get(index);
    TensorInfo info;
    info.name = t.name() ? t.name()->str() : std::string{};
    info.dtype = dfx::fromDType(t.dtype());
    if (dtypeSize(info.dtype) == 0)
        return fail("tensor '{}' has unknown dtype {}", info.name, static_cast<int>(t.dtype()));
    if (t.shape())
        info.shape.assign(t.shape()->begin(), t.shape()->end());
    for (std::int64_t d : info.shape)
        if (d < 1)
            return fail("tensor '{}' has shape {} with an empty dimension", info.name,
                        formatShape(info.shape));
    const auto count = elementCount(info.shape);
    if (!count || *count > kMaxElements)
        return fail("tensor '{}' of shape {} is too large for the reference", info.name,
                    formatShape(info.shape));
    info.elements = *count;
    return info;
}

// The graph's tensors as the reference sees them: doubles, converted from the host data on
// first use, or a node's result after rounding to its storage type.
class TensorValues {
public:
    TensorValues(const dfx::Program& program, std::vector<HostTensor>& tensors)
        : program_(program), tensors_(tensors), values_(tensors.size()),
          ready_(tensors.size(), false) {}

    Expected<Operand> operand(std::uint32_t index) {
        auto info = describe(program_, index);
        if (!info)
            return std::unexpected(info.error());
        if (!ready_[index]) {
            const HostTensor& host = tensors_[index];
            if (host.data.empty())
                return fail("input tensor '{}' has no data (neither an input or constant nor "
                            "produced by an earlier node)",
                            info->name);
            const std::uint64_t bytes =
                static_cast<std::uint64_t>(info->elements) * dtypeSize(info->dtype);
            if (host.dtype != info->dtype || host.data.size() != bytes)
                return fail("input tensor '{}' holds {} bytes of {}, expected {} bytes of {} "
                            "(shape {})",
                            info->name, host.data.size(), dtypeName(host.dtype), bytes,
                            dtypeName(info->dtype), formatShape(info->shape));
            values_[index].resize(static_cast<std::size_t>(info->elements));
            convertToF64(info->dtype, host.data.data(), values_[index].data(),
                         values_[index].size());
            ready_[index] = true;
        }
        return Operand{std::move(info->shape), values_[index]};
    }

    // Stores a node's result in its output's storage type, and keeps the rounded values.
    void store(std::uint32_t index, const TensorInfo& info, const std::vector<double>& result) {
        HostTensor& host = tensors_[index];
        host.name = info.name;
        host.dtype = info.dtype;
        host.shape = info.shape;
        host.data.resize(result.size() * dtypeSize(info.dtype));
        convertFromF64(info.dtype, result.data(), host.data.data(), result.size());
        values_[index].resize(result.size());
        convertToF64(info.dtype, host.data.data(), values_[index].data(), result.size());
        ready_[index] = true;
    }

private:
    const dfx::Program& program_;
    std::vector<HostTensor>& tensors_;
    std::vector<std::vector<double>> values_;
    std::vector<bool> ready_;
};

reference::Values compute(dfx::KernelKind kind, reference::Inputs in, reference::OutShape out,
                          const Params& p) {
    using K = dfx::KernelKind;
    switch (kind) {
    case K::MatMul:
        return reference::matMul(in, out, p);
    case K::FullyConnected:
        return reference::fullyConnected(in, out, p);
    case K::Conv2D:
        return reference::conv2D(in, out, p);
    case K::DepthwiseConv2D:
        return reference::depthwiseConv2D(in, out, p);
    case K::Im2Col:
        return reference::im2Col(in, out, p);
    case K::Add:
    case K::Sub:
    case K::Mul:
    case K::Div:
    case K::Maximum:
    case K::Minimum:
        return reference::binary(kind, in, out);
    case K::Exp:
    case K::Reciprocal:
    case K::Sigmoid:
    case K::Relu:
    case K::Clamp:
    case K::Gelu:
    case K::Tanh:
    case K::Negate:
    case K::Abs:
    case K::Sqrt:
    case K::Log:
    case K::Erf:
        return reference::unary(kind, in, out, p);
    case K::Transpose:
        return reference::transpose(in, out, p);
    case K::Concat:
        return reference::concat(in, out, p);
    case K::Pad:
        return reference::pad(in, out, p);
    case K::Reshape:
        return reference::reshape(in, out);
    case K::ReduceSum:
    case K::ReduceMax:
    case K::ReduceMin:
        return reference::reduce(kind, in, out, p);
    case K::Softmax:
        return reference::softmax(in, out, p);
    case K::LayerNorm:
        return reference::layerNorm(in, out, p);
    case K::MaxPool2D:
    case K::AvgPool2D:
        return reference::pool2D(kind, in, out, p);
    }
    return fail("unknown operator kind {}", static_cast<int>(kind));
}

Expected<void> runNode(const dfx::Program& program, const dfx::GraphNode& node,
                       TensorValues& values) {
    std::vector<Operand> inputs;
    if (const auto* in = node.inputs()) {
        inputs.reserve(in->size());
        for (std::uint32_t index : *in) {
            auto operand = values.operand(index);
            if (!operand)
                return std::unexpected(operand.error());
            inputs.push_back(std::move(*operand));
        }
    }
    auto out = describe(program, node.output());
    if (!out)
        return std::unexpected(out.error());
    auto result = compute(node.kind(), inputs, out->shape, reference::readParams(node.params()));
    if (!result)
        return std::unexpected(result.error());
    values.store(node.output(), *out, *result);
    return {};
}

// Unit roundoff (half an ulp at 1) of a float storage type; 0 for the others.
double unitRoundoff(DType t) {
    switch (t) {
    case DType::F64:
        return 0x1.0p-53;
    case DType::F32:
        return 0x1.0p-24;
    case DType::F16:
        return 0x1.0p-11;
    case DType::F8E4M3:
        return 0x1.0p-4;
    default:
        return 0;
    }
}

std::vector<std::int64_t> unravel(std::uint64_t flat, const Shape& shape) {
    std::vector<std::int64_t> index(shape.size());
    for (std::size_t d = shape.size(); d-- > 0;) {
        const auto dim = static_cast<std::uint64_t>(std::max<std::int64_t>(shape[d], 1));
        index[d] = static_cast<std::int64_t>(flat % dim);
        flat /= dim;
    }
    return index;
}

std::vector<double> asDoubles(const HostTensor& t) {
    const std::uint32_t size = dtypeSize(t.dtype);
    if (size == 0)
        return {};
    std::vector<double> out(t.data.size() / size);
    convertToF64(t.dtype, t.data.data(), out.data(), out.size());
    return out;
}

} // namespace

Expected<std::vector<HostTensor>> executeReference(const dfx::Program& program,
                                                   std::vector<HostTensor> tensors,
                                                   std::string_view sourceName) {
    const std::size_t count = program.tensors() ? program.tensors()->size() : 0;
    if (tensors.size() > count)
        return fail("{}: error: {} host tensors given for an object with {} tensors", sourceName,
                    tensors.size(), count);
    tensors.resize(count);
    const auto* graph = program.graph();
    if (!graph)
        return fail("{}: error: the object has no graph section, so the reference cannot run it",
                    sourceName);
    TensorValues values(program, tensors);
    for (std::uint32_t i = 0; i < graph->size(); ++i) {
        const dfx::GraphNode& node = *graph->Get(i);
        Expected<void> r;
        try {
            r = runNode(program, node, values);
        } catch (const std::bad_alloc&) {
            // Several tensors below the bound can still exceed the machine's memory.
            r = fail("out of memory");
        }
        if (!r)
            return fail("{}: error: graph node {} '{}' ({}): {}", sourceName, i,
                        node.name() ? node.name()->string_view() : std::string_view{},
                        operatorName(static_cast<Operator>(node.kind())), r.error().message);
    }
    return tensors;
}

// Why these values. The simulator computes in f32 (f64 when an operand is f64) with its own
// summation order and tiling, and rounds partial sums to the storage type between K steps; the
// reference accumulates in double and rounds once per node. Differences come from (1) the
// compute type's accumulation error, typically ~sqrt(K)·u·|result| per dot product and bounded
// by K·u·sum|terms|, (2) partial-sum write-backs in the storage type, ~u(storage) of the
// tensor's magnitude each, and (3) both sides rounding each node's result to storage: they
// usually agree but flip by one ulp wherever (1)+(2) straddle a rounding boundary. Relu, clamp
// and pools are 1-Lipschitz and the error is taken relative to the tensor's largest value, so
// the propagation through layers is roughly additive: a 50-layer network like MobileNet v2
// (K up to 1280) compounds at most ~50 per-layer errors. Measured with this reference on
// MobileNet v2 at 224x224 (fan-in scaled weights): f32 storage moves the logits by ~1e-7 and
// f16 storage by ~6e-4 normwise from an all-f64 run.
//   f32: 1e-4. Per-layer errors are ~1e-6 (K·u = 1280 · 6e-8 = 8e-5 is the rare worst case),
//        so deep graphs stay near 1e-5 even when pessimistic; 1e-4 is 1000x the measured
//        figure, yet ~60x below a single dropped or duplicated term of a K ~ 1000 dot product
//        (~6e-3 normwise with random data), and far below a wrong address or operand (O(1)).
//   f64: 1e-9. Every float tensor is f64, so the compute is f64 (u = 1e-16): the same analysis
//        gives ~1e-13; the slack covers libm differences in exp/erf/tanh, and any real bug is
//        still a million times larger.
//   f16: 2e-2. One ulp at the tensor's maximum is 2^-11 ~ 5e-4, and write-backs add a few per
//        layer: ~40 ulps, 30x the measured storage-only drift of a whole MobileNet.
//   f8 (E4M3, 3 mantissa bits): 0.25. A single rounding is already up to 6%; 0.25 (four f8
//        ulps at the maximum) allows a few layers of compounding and still refuses O(1) errors.
// Integer tensors do not count: they hold indices and counts, not rounded arithmetic.
double outputTolerance(const dfx::Program& program) {
    DType least = DType::F64;
    bool anyFloat = false;
    if (const auto* tensors = program.tensors())
        for (const dfx::Tensor* t : *tensors) {
            const DType d = dfx::fromDType(t->dtype());
            if (!isFloat(d))
                continue;
            anyFloat = true;
            if (unitRoundoff(d) > unitRoundoff(least))
                least = d;
        }
    if (!anyFloat)
        least = DType::F32; // integer programs still compute in f32
    switch (least) {
    case DType::F64:
        return 1e-9;
    case DType::F16:
        return 2e-2;
    case DType::F8E4M3:
        return 0.25;
    default:
        return 1e-4;
    }
}

Comparison compareWithReference(const HostTensor& expected, const HostTensor& actual,
                                double tolerance) {
    const std::vector<double> want = asDoubles(expected);
    const std::vector<double> got = asDoubles(actual);
    Comparison c;
    c.tensor = expected.name;
    c.elements = want.size();
    c.tolerance = tolerance;
    for (double v : want)
        if (std::isfinite(v))
            c.scale = std::max(c.scale, std::fabs(v));
    const double bound = tolerance * c.scale;
    const auto mismatch = [&](std::uint64_t i, double e, double a) {
        if (c.firstMismatch)
            return;
        c.firstMismatch = Mismatch{.flatIndex = i,
                                   .index = i < want.size() ? unravel(i, expected.shape)
                                                            : std::vector<std::int64_t>{},
                                   .expected = e,
                                   .actual = a,
                                   .tolerance = bound};
    };
    const std::size_t common = std::min(want.size(), got.size());
    for (std::size_t i = 0; i < common; ++i) {
        const double e = want[i], a = got[i];
        if (e == a || (std::isnan(e) && std::isnan(a)))
            continue; // also the same infinity
        const double err = std::fabs(a - e);
        const bool finite = std::isfinite(err);
        c.maxAbsError = std::max(c.maxAbsError, finite ? err : INFINITY);
        if (!finite || err > bound)
            mismatch(i, e, a);
    }
    if (want.size() != got.size()) {
        c.maxAbsError = INFINITY;
        mismatch(common, common < want.size() ? want[common] : NAN,
                 common < got.size() ? got[common] : NAN);
    }
    c.maxRelError = c.maxAbsError / c.scale;
    return c;
}

} // namespace kpu::loader
