// sgemm_avx512_14x32: single-precision tile gemm with AVX-512 (design in gemm_avx512_impl.h).
#include "kernels/sgemm_avx512.h"

#include "kernels/gemm_avx512_impl.h"

namespace kpu::sim {

void sgemmAvx512(const GemmF32Args& args) {
    avx512::gemm<float>(args, avx512::Policy::Auto);
}
void sgemmAvx512Direct(const GemmF32Args& args) {
    avx512::gemm<float>(args, avx512::Policy::Direct);
}
void sgemmAvx512Packed(const GemmF32Args& args) {
    avx512::gemm<float>(args, avx512::Policy::Packed);
}

} // namespace kpu::sim
