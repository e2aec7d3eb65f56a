// sgemm_avx2_6x16: single-precision tile gemm with AVX2+FMA (design in gemm_avx2_impl.h).
#include "kernels/sgemm_avx2.h"

#include "kernels/gemm_avx2_impl.h"

namespace kpu::sim {

void sgemmAvx2(const GemmF32Args& args) {
    avx2::gemm<float>(args, avx2::BPanels::Auto);
}
void sgemmAvx2Direct(const GemmF32Args& args) {
    avx2::gemm<float>(args, avx2::BPanels::Direct);
}
void sgemmAvx2Packed(const GemmF32Args& args) {
    avx2::gemm<float>(args, avx2::BPanels::Packed);
}

} // namespace kpu::sim
