// The kernel tables and their runtime selection.
#include "kpu/simulator/tile_kernels.h"

#include "kernels/cpu_features.h"
#include "kernels/reference.h"
#include "kernels/sgemm_avx2.h"
#include "kernels/sgemm_avx512.h"

namespace kpu::sim {

const TileKernels& referenceKernels() {
    static const TileKernels table{.sgemm = sgemmReference,
                                   .sgemmName = "sgemm_ref",
                                   .dgemm = dgemmReference,
                                   .dgemmName = "dgemm_ref"};
    return table;
}

namespace {

// The reference table with the gemm entries overridden (BLIS-style contexts).
TileKernels overriding(GemmF32Fn sgemm, std::string_view sgemmName, GemmF64Fn dgemm,
                       std::string_view dgemmName) {
    TileKernels t = referenceKernels();
    t.sgemm = sgemm;
    t.sgemmName = sgemmName;
    t.dgemm = dgemm;
    t.dgemmName = dgemmName;
    return t;
}

} // namespace

const TileKernels* avx2Kernels() {
    if (!cpuHasAvx2Fma())
        return nullptr;
    static const TileKernels table =
        overriding(sgemmAvx2, "sgemm_avx2_6x16", dgemmAvx2, "dgemm_avx2_6x8");
    return &table;
}

const TileKernels* avx512Kernels() {
    if (!cpuHasAvx512())
        return nullptr;
    static const TileKernels table =
        overriding(sgemmAvx512, "sgemm_avx512_14x32", dgemmAvx512, "dgemm_avx512_14x16");
    return &table;
}

const TileKernels& selectedKernels() {
    static const TileKernels& chosen = avx512Kernels() ? *avx512Kernels()
                                       : avx2Kernels() ? *avx2Kernels()
                                                       : referenceKernels();
    return chosen;
}

} // namespace kpu::sim
