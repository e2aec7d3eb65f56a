// dgemm_avx2_6x8: double-precision tile gemm with AVX2+FMA (design in gemm_avx2_impl.h).
#include "kernels/gemm_avx2_impl.h"
#include "kernels/sgemm_avx2.h"

namespace kpu::sim {

void dgemmAvx2(const GemmF64Args& args) {
    avx2::gemm<double>(args, avx2::BPanels::Auto);
}
void dgemmAvx2Direct(const GemmF64Args& args) {
    avx2::gemm<double>(args, avx2::BPanels::Direct);
}
void dgemmAvx2Packed(const GemmF64Args& args) {
    avx2::gemm<double>(args, avx2::BPanels::Packed);
}

} // namespace kpu::sim
