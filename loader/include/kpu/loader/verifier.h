// The loader never trusts an object. Stage one (schema/object.h): size, file identifier,
// FlatBuffers Verifier, version gate. Stage two (here): semantic checks — every index in range,
// shapes and regions consistent with their tensors, kernels well formed, byte sizes that cannot
// overflow, dependencies in CSR form, acyclic and in program order. After verifyObject succeeds
// nothing downstream (disassembler, binder, simulator) needs to re-check.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "kpu/common/error.h"
#include "kpu/schema/object.h"

namespace kpu::loader {

// Both stages. Errors are "<sourceName>: error: <table path>: <what>", e.g.
// "m.kpu: error: ops[17].index: tensor index 9 out of range (object has 3 tensors)".
Expected<const dfx::Program*> verifyObject(std::span<const std::uint8_t> bytes,
                                           std::string_view sourceName);

// Stage two only, for a Program that passed stage one.
Expected<void> verifySemantics(const dfx::Program& program, std::string_view sourceName);

} // namespace kpu::loader
