// dgemm_avx512_14x16: double-precision tile gemm with AVX-512 (design in gemm_avx512_impl.h).
#include "kernels/gemm_avx512_impl.h"
#include "kernels/sgemm_avx512.h"

namespace kpu::sim {

void dgemmAvx512(const GemmF64Args& args) {
    avx512::gemm<double>(args, avx512::Policy::Auto);
}
void dgemmAvx512Direct(const GemmF64Args& args) {
    avx512::gemm<double>(args, avx512::Policy::Direct);
}
void dgemmAvx512Packed(const GemmF64Args& args) {
    avx512::gemm<double>(args, avx512::Policy::Packed);
}

} // namespace kpu::sim
