// The scalar row kernels (the fallback and the oracle) and the runtime choice of a table.
#include "kernels/vector_rows.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "kernels/cpu_features.h"

namespace kpu::sim::vec {
namespace {

template <class F>
void binaryRow(float* out, const float* a, std::int64_t sa, const float* b, std::int64_t sb,
               std::int64_t n, F f) {
    for (std::int64_t j = 0; j < n; ++j)
        out[j] = f(a[j * sa], b[j * sb]);
}

template <class F>
void unaryRow(float* out, const float* a, std::int64_t n, F f) {
    for (std::int64_t j = 0; j < n; ++j)
        out[j] = f(a[j]);
}

template <bool IsMax>
float extremumRow(const float* a, std::int64_t n) {
    float acc = a[0];
    for (std::int64_t j = 1; j < n; ++j)
        acc = IsMax ? std::max(acc, a[j]) : std::min(acc, a[j]);
    return acc;
}

float sigmoid(float x) {
    return 1.0f / (1.0f + std::exp(-x));
}
float gelu(float x) {
    return 0.5f * x * (1.0f + std::erf(x * (1.0f / std::numbers::sqrt2_v<float>)));
}

RowKernels makeScalar() {
    RowKernels k{};
    k.isa = "scalar";
    k.add = [](float* o, const float* a, std::int64_t sa, const float* b, std::int64_t sb,
               std::int64_t n) {
        binaryRow(o, a, sa, b, sb, n, [](float x, float y) { return x + y; });
    };
    k.sub = [](float* o, const float* a, std::int64_t sa, const float* b, std::int64_t sb,
               std::int64_t n) {
        binaryRow(o, a, sa, b, sb, n, [](float x, float y) { return x - y; });
    };
    k.mul = [](float* o, const float* a, std::int64_t sa, const float* b, std::int64_t sb,
               std::int64_t n) {
        binaryRow(o, a, sa, b, sb, n, [](float x, float y) { return x * y; });
    };
    k.div = [](float* o, const float* a, std::int64_t sa, const float* b, std::int64_t sb,
               std::int64_t n) {
        binaryRow(o, a, sa, b, sb, n, [](float x, float y) { return x / y; });
    };
    k.max = [](float* o, const float* a, std::int64_t sa, const float* b, std::int64_t sb,
               std::int64_t n) {
        binaryRow(o, a, sa, b, sb, n, [](float x, float y) { return std::max(x, y); });
    };
    k.min = [](float* o, const float* a, std::int64_t sa, const float* b, std::int64_t sb,
               std::int64_t n) {
        binaryRow(o, a, sa, b, sb, n, [](float x, float y) { return std::min(x, y); });
    };
    k.mulAdd = [](float* o, const float* a, const float* b, std::int64_t n) {
        for (std::int64_t j = 0; j < n; ++j)
            o[j] += a[j] * b[j];
    };
    k.relu = [](float* o, const float* a, std::int64_t n, float, float) {
        unaryRow(o, a, n, [](float x) { return std::max(x, 0.0f); });
    };
    k.clamp = [](float* o, const float* a, std::int64_t n, float lo, float hi) {
        unaryRow(o, a, n, [lo, hi](float x) { return std::min(std::max(x, lo), hi); });
    };
    k.negate = [](float* o, const float* a, std::int64_t n, float, float) {
        unaryRow(o, a, n, [](float x) { return -x; });
    };
    k.abs = [](float* o, const float* a, std::int64_t n, float, float) {
        unaryRow(o, a, n, [](float x) { return std::abs(x); });
    };
    k.reciprocal = [](float* o, const float* a, std::int64_t n, float, float) {
        unaryRow(o, a, n, [](float x) { return 1.0f / x; });
    };
    k.exp = [](float* o, const float* a, std::int64_t n, float, float) {
        unaryRow(o, a, n, [](float x) { return std::exp(x); });
    };
    k.sigmoid = [](float* o, const float* a, std::int64_t n, float, float) {
        unaryRow(o, a, n, sigmoid);
    };
    k.tanh = [](float* o, const float* a, std::int64_t n, float, float) {
        unaryRow(o, a, n, [](float x) { return std::tanh(x); });
    };
    k.gelu = [](float* o, const float* a, std::int64_t n, float, float) {
        unaryRow(o, a, n, gelu);
    };
    k.sum = [](const float* a, std::int64_t n) {
        float s = a[0];
        for (std::int64_t j = 1; j < n; ++j)
            s += a[j];
        return s;
    };
    k.maxOf = extremumRow<true>;
    k.minOf = extremumRow<false>;
    return k;
}

} // namespace

const RowKernels& scalarRowKernels() {
    static const RowKernels table = makeScalar();
    return table;
}

const RowKernels* avx2RowKernels() {
    return cpuHasAvx2Fma() ? &avx2RowTable() : nullptr;
}

const RowKernels* avx512RowKernels() {
    return cpuHasAvx512() ? &avx512RowTable() : nullptr;
}

const RowKernels& selectedRowKernels() {
    static const RowKernels& chosen = avx512RowKernels() ? *avx512RowKernels()
                                      : avx2RowKernels() ? *avx2RowKernels()
                                                         : scalarRowKernels();
    return chosen;
}

} // namespace kpu::sim::vec
