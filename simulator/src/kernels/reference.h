// Reference tile kernels: straightforward loops, the fallback and the oracle for tests.
#pragma once

#include "kpu/simulator/tile_kernels.h"

namespace kpu::sim {

void sgemmReference(const GemmF32Args& args);
void dgemmReference(const GemmF64Args& args);

} // namespace kpu::sim
