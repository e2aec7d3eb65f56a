#include "kpu/common/dtype.h"

namespace kpu {

std::optional<DType> parseDType(std::string_view text) {
    if (text == "f32")
        return DType::F32;
    if (text == "f16")
        return DType::F16;
    if (text == "f64")
        return DType::F64;
    if (text == "f8" || text == "f8e4m3" || text == "f8E4M3FN")
        return DType::F8E4M3;
    if (text == "i8")
        return DType::I8;
    if (text == "i32")
        return DType::I32;
    if (text == "i64")
        return DType::I64;
    return std::nullopt;
}

} // namespace kpu
