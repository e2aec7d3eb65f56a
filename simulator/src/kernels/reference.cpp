#include "kernels/reference.h"

namespace kpu::sim {
namespace {

template <class T, class Args>
void gemmReference(const Args& p) {
    for (std::int64_t i = 0; i < p.m; ++i) {
        for (std::int64_t j = 0; j < p.n; ++j) {
            T sum = 0;
            for (std::int64_t l = 0; l < p.k; ++l)
                sum += p.a[i * p.lda + l] * p.b[l * p.ldb + j];
            T& c = p.c[i * p.ldc + j];
            c = p.accumulate ? c + sum : sum;
        }
    }
}

} // namespace

void sgemmReference(const GemmF32Args& args) {
    gemmReference<float>(args);
}
void dgemmReference(const GemmF64Args& args) {
    gemmReference<double>(args);
}

} // namespace kpu::sim
