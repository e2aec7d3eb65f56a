// Element types of tensors. The numeric values are those of the object format's DType enum
// (schema/dfx.fbs) and must never be renumbered.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace kpu {

enum class DType : std::uint8_t {
    F32 = 0,
    F16 = 1,
    F64 = 2,
    F8E4M3 = 3, // OCP FP8 E4M3 (finite-only variant, "fn"); a storage type
    I8 = 4,
    I32 = 5,
    I64 = 6, // static inputs only (shapes, axes); no kernel computes on it
};

inline constexpr int kDTypeCount = 7;

// Size of one element in bytes.
constexpr std::uint32_t dtypeSize(DType t) {
    switch (t) {
    case DType::F32:
        return 4;
    case DType::F16:
        return 2;
    case DType::F64:
        return 8;
    case DType::F8E4M3:
        return 1;
    case DType::I8:
        return 1;
    case DType::I32:
        return 4;
    case DType::I64:
        return 8;
    }
    return 0;
}

// The spelling used in .dfg files and in our dumps: f32, f16, f64, f8, i8, i32.
constexpr std::string_view dtypeName(DType t) {
    switch (t) {
    case DType::F32:
        return "f32";
    case DType::F16:
        return "f16";
    case DType::F64:
        return "f64";
    case DType::F8E4M3:
        return "f8";
    case DType::I8:
        return "i8";
    case DType::I32:
        return "i32";
    case DType::I64:
        return "i64";
    }
    return "?";
}

// Parses "f32", "f16", "f64", "f8" (also "f8e4m3"), "i8", "i32", "i64".
std::optional<DType> parseDType(std::string_view text);

constexpr bool isFloat(DType t) {
    return t == DType::F32 || t == DType::F16 || t == DType::F64 || t == DType::F8E4M3;
}

} // namespace kpu
