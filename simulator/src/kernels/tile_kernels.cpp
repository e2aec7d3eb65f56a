// The kernel tables and their runtime selection.
#include "kpu/simulator/tile_kernels.h"

#include "kernels/reference.h"
#include "kernels/sgemm_avx2.h"

namespace kpu::sim {

const TileKernels& referenceKernels() {
    static const TileKernels table{.sgemm = sgemmReference,
                                   .sgemmName = "sgemm_ref",
                                   .dgemm = dgemmReference,
                                   .dgemmName = "dgemm_ref"};
    return table;
}

const TileKernels* avx2Kernels() {
    static const TileKernels* const table = []() -> const TileKernels* {
        __builtin_cpu_init();
        if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
            return nullptr;
        static TileKernels t = referenceKernels();
        t.sgemm = sgemmAvx2;
        t.sgemmName = "sgemm_avx2_6x16";
        t.dgemm = dgemmAvx2;
        t.dgemmName = "dgemm_avx2_6x8";
        return &t;
    }();
    return table;
}

const TileKernels& selectedKernels() {
    static const TileKernels& chosen = avx2Kernels() ? *avx2Kernels() : referenceKernels();
    return chosen;
}

} // namespace kpu::sim
