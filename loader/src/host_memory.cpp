#include "kpu/loader/host_memory.h"

#include <fstream>
#include <string>

#include "kpu/common/shape.h"

namespace kpu::loader {
namespace {

// Where kpu-loader's limit comes from, for the messages.
constexpr std::string_view kLimitSource = "--max-host-memory; default: the memory available";

} // namespace

Expected<void> checkHostMemoryLimit(std::uint64_t need, std::uint64_t limit, std::string_view what,
                                    std::string_view sourceName) {
    if (need <= limit)
        return {};
    return fail("{}: error: {} needs {} of host memory; {} is left under the limit ({})",
                sourceName, what, formatBytes(need), formatBytes(limit), kLimitSource);
}

std::uint64_t HostMemoryNeed::total() const {
    return saturatingAdd(saturatingAdd(simulatedExternal, hostTensors), reference);
}

HostMemoryNeed hostMemoryNeeded(const dfx::Program& program, const sim::Schedule& schedule,
                                bool verify) {
    HostMemoryNeed need;
    // The external arena is reserved, not committed: only the pages tensors occupy count.
    for (std::uint32_t t = 0; t < schedule.tensors.size() && t < program.tensors()->size(); ++t)
        if (program.tensors()->Get(t)->alias_of() < 0)
            need.simulatedExternal =
                saturatingAdd(need.simulatedExternal, schedule.tensors[t].bytes);
    // Saturating sums: each tensor is at most 2^48 bytes (verifier), but an object may have
    // millions of them.
    for (const dfx::Tensor* t : *program.tensors()) {
        const auto elements =
            static_cast<std::uint64_t>(elementCount(dfx::tensorShape(*t)).value_or(0));
        if (t->alias_of() < 0)
            need.hostTensors =
                saturatingAdd(need.hostTensors, elements * dtypeSize(dfx::fromDType(t->dtype())));
        if (verify)
            need.reference = saturatingAdd(need.reference, elements * sizeof(double));
    }
    return need;
}

std::optional<std::uint64_t> availableHostMemory() {
    std::ifstream meminfo("/proc/meminfo");
    std::string key;
    std::uint64_t kib = 0;
    std::string unit;
    while (meminfo >> key >> kib >> unit)
        if (key == "MemAvailable:")
            return kib * 1024;
    return std::nullopt;
}

Expected<void> checkHostMemory(const HostMemoryNeed& need, std::uint64_t limit,
                               std::string_view sourceName) {
    if (need.total() <= limit)
        return {};
    return fail(
        "{}: error: a functional run needs {} of host memory (simulated external memory "
        "{}, host copies of tensors {}, reference executor {}); {} is left under the limit ({}). "
        "--timing-only needs none of it; --no-verify saves the reference's",
        sourceName, formatBytes(need.total()), formatBytes(need.simulatedExternal),
        formatBytes(need.hostTensors), formatBytes(need.reference), formatBytes(limit),
        kLimitSource);
}

} // namespace kpu::loader
