#include "kpu/loader/host_tensor.h"

#include "kpu/common/float_convert.h"

namespace kpu::loader {
namespace {

std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

} // namespace

void fillRandom(HostTensor& tensor, std::uint64_t seed, std::uint64_t streamId, double scale) {
    const std::uint64_t count = static_cast<std::uint64_t>(elementCount(tensor.shape).value_or(0));
    std::uint64_t state = seed * 0x2545f4914f6cdd1dull + streamId * 0x9e3779b97f4a7c15ull + 1;
    std::vector<double> values(count);
    for (double& v : values)
        v = (static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53 * 2.0 - 1.0) * scale;
    tensor.data.resize(count * dtypeSize(tensor.dtype));
    convertFromF64(tensor.dtype, values.data(), tensor.data.data(), count);
}

} // namespace kpu::loader
