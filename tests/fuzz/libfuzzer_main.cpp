// The libFuzzer entry point of one fuzz target: KPU_FUZZ_ENTRY names its function in
// fuzz_targets.h (tests/fuzz/CMakeLists.txt sets it per executable).
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    KPU_FUZZ_ENTRY(kpu::fuzz::Bytes(data, size));
    return 0;
}
