// KPU configurations tests build in code.
#pragma once

#include "kpu/common/hw_config.h"

namespace kpu::test {

// The upstream minimal configuration: one 64 KiB L3 tile, four 32 KiB L2 banks, an 8x8 array.
inline KpuConfig minimalConfig() {
    KpuConfig c = defaultConfig();
    c.name = "minimal";
    c.l3.tileCount = 1;
    c.l3.tileCapacity = 64ull << 10;
    c.l2.bankCount = 4;
    c.l2.bankCapacity = 32ull << 10;
    c.compute.arrayRows = 8;
    c.compute.arrayCols = 8;
    return c;
}

} // namespace kpu::test
