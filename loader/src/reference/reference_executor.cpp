#include "kpu/loader/reference_executor.h"

#include <cmath>
#include <limits>

#include "kpu/common/float_convert.h"

namespace kpu::loader {
namespace {

std::vector<double> asDoubles(const HostTensor& t) {
    const std::uint64_t count = t.data.size() / dtypeSize(t.dtype);
    std::vector<double> out(count);
    convertToF64(t.dtype, t.data.data(), out.data(), count);
    return out;
}

// Unit roundoff of a storage or compute type.
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
        return 0.5; // integers: rounding to nearest
    }
}

// Smallest positive normal of a storage type: below it, absolute error is one subnormal step.
double underflowStep(DType t) {
    switch (t) {
    case DType::F16:
        return 0x1.0p-24;
    case DType::F8E4M3:
        return 0x1.0p-9;
    default:
        return 0.0;
    }
}

ReferenceOutput runMatMul(const dfx::Program& program, const dfx::Kernel& kernel,
                          const std::vector<HostTensor>& tensors) {
    const auto& space = *kernel.iteration_space();
    const std::uint64_t batch = space[0], M = space[1], N = space[2], K = space[3];
    const auto& in = *kernel.inputs();
    const std::vector<double> A = asDoubles(tensors[in[0]]);
    const std::vector<double> B = asDoubles(tensors[in[1]]);
    const std::vector<double> C =
        in.size() == 3 ? asDoubles(tensors[in[2]]) : std::vector<double>{};
    const bool aBatched = kernel.input_batched()->Get(0) != 0;
    const bool bBatched = kernel.input_batched()->Get(1) != 0;
    const bool cBatched = in.size() == 3 && kernel.input_batched()->Get(2) != 0;

    std::vector<double> out(batch * M * N), magnitude(batch * M * N);
    for (std::uint64_t b = 0; b < batch; ++b) {
        const double* a = A.data() + (aBatched ? b * M * K : 0);
        const double* bm = B.data() + (bBatched ? b * K * N : 0);
        for (std::uint64_t i = 0; i < M; ++i) {
            for (std::uint64_t j = 0; j < N; ++j) {
                double sum = 0, mag = 0;
                for (std::uint64_t k = 0; k < K; ++k) {
                    const double p = a[i * K + k] * bm[k * N + j];
                    sum += p;
                    mag += std::fabs(p);
                }
                if (!C.empty()) {
                    const double c = C[(cBatched ? b * M * N : 0) + i * N + j];
                    sum += c;
                    mag += std::fabs(c);
                }
                out[(b * M + i) * N + j] = sum;
                magnitude[(b * M + i) * N + j] = mag;
            }
        }
    }
    ReferenceOutput result;
    const dfx::Tensor& desc = *program.tensors()->Get(kernel.output());
    HostTensor& o = result.tensor;
    o.name = desc.name()->str();
    o.dtype = dfx::fromDType(desc.dtype());
    o.shape.assign(desc.shape()->begin(), desc.shape()->end());
    o.data.resize(out.size() * dtypeSize(o.dtype));
    convertFromF64(o.dtype, out.data(), o.data.data(), out.size());
    result.magnitude = std::move(magnitude);
    result.depth = static_cast<std::uint32_t>(K);
    return result;
}

} // namespace

ReferenceOutput referenceKernel(const dfx::Program& program, std::uint32_t kernelIndex,
                                const std::vector<HostTensor>& tensors) {
    const dfx::Kernel& kernel = *program.kernels()->Get(kernelIndex);
    switch (kernel.kind()) {
    case dfx::KernelKind::MatMul:
        return runMatMul(program, kernel, tensors);
    }
    return {};
}

std::vector<HostTensor> executeReference(const dfx::Program& program,
                                         std::vector<HostTensor> inputs) {
    inputs.resize(program.tensors()->size());
    for (std::uint32_t k = 0; k < program.kernels()->size(); ++k) {
        ReferenceOutput out = referenceKernel(program, k, inputs);
        inputs[program.kernels()->Get(k)->output()] = std::move(out.tensor);
    }
    return inputs;
}

Comparison compareWithReference(const ReferenceOutput& reference, const HostTensor& actual,
                                std::uint32_t partialWritebacks) {
    const HostTensor& expectedTensor = reference.tensor;
    const std::vector<double> expected = asDoubles(expectedTensor);
    const std::vector<double> got = asDoubles(actual);
    const std::vector<double>& magnitude = reference.magnitude;
    const std::uint32_t depth = reference.depth;
    // Compute type: f64 when the output is f64, else f32 (the simulator's rule for f64 operands is
    // stricter, so this is the looser bound).
    const double u = unitRoundoff(expectedTensor.dtype == DType::F64 ? DType::F64 : DType::F32);
    const double gamma = depth * u / (1.0 - depth * u);
    const double uOut = unitRoundoff(expectedTensor.dtype);
    const double floor = underflowStep(expectedTensor.dtype);

    Comparison c;
    c.tensor = expectedTensor.name;
    c.elements = expected.size();
    for (std::uint64_t i = 0; i < expected.size() && i < got.size(); ++i) {
        const double mag = magnitude.empty() ? std::fabs(expected[i]) : magnitude[i];
        const double tol =
            (gamma + partialWritebacks * uOut) * mag + uOut * std::fabs(expected[i]) + floor;
        const double err = std::fabs(got[i] - expected[i]);
        const bool bothNaN = std::isnan(got[i]) && std::isnan(expected[i]);
        if (!bothNaN) {
            c.maxAbsError = std::max(c.maxAbsError, err);
            if (expected[i] != 0)
                c.maxRelError = std::max(c.maxRelError, err / std::fabs(expected[i]));
        }
        if (!c.firstMismatch && !bothNaN && !(err <= tol)) {
            Mismatch m{.flatIndex = i,
                       .index = {},
                       .expected = expected[i],
                       .actual = got[i],
                       .tolerance = tol};
            std::uint64_t rest = i;
            m.index.resize(expectedTensor.shape.size());
            for (std::size_t d = expectedTensor.shape.size(); d-- > 0;) {
                const auto dim = static_cast<std::uint64_t>(expectedTensor.shape[d]);
                m.index[d] = static_cast<std::int64_t>(rest % dim);
                rest /= dim;
            }
            c.firstMismatch = m;
        }
    }
    return c;
}

} // namespace kpu::loader
