// Tensor contents on the host: what the user supplies (.npy, seeded random values) and what
// the simulator and the reference executor produce.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kpu/common/dtype.h"
#include "kpu/common/shape.h"

namespace kpu::loader {

struct HostTensor {
    std::string name;
    DType dtype = DType::F32;
    Shape shape;
    std::vector<std::uint8_t> data; // dense row-major, elementCount * dtypeSize bytes
};

// Deterministic values uniform in [-scale, scale), rounded to `dtype`; the stream depends only
// on (seed, streamId), so each tensor's values do not depend on the others.
void fillRandom(HostTensor& tensor, std::uint64_t seed, std::uint64_t streamId, double scale = 1.0);

} // namespace kpu::loader
