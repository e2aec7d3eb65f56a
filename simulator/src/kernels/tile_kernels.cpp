// The kernel tables and their runtime selection.
#include "kpu/simulator/tile_kernels.h"

#include "kernels/reference.h"

namespace kpu::sim {

const TileKernels& referenceKernels() {
    static const TileKernels table{
        .sgemm = sgemmReference, .sgemmName = "sgemm_ref", .dgemm = dgemmReference, .dgemmName = "dgemm_ref"};
    return table;
}

const TileKernels* avx2Kernels() { return nullptr; }

const TileKernels& selectedKernels() {
    static const TileKernels& chosen = avx2Kernels() ? *avx2Kernels() : referenceKernels();
    return chosen;
}

} // namespace kpu::sim
