// UTF-8 validation. Names and strings from files end up in JSON reports and terminals; the
// readers refuse text that is not UTF-8 instead of carrying it there.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace kpu {

// The byte offset of the first byte that does not start or continue a well-formed UTF-8
// sequence (overlong forms, surrogates and code points above U+10FFFF are ill-formed);
// nullopt when all of `text` is well formed.
std::optional<std::size_t> firstInvalidUtf8(std::string_view text);

inline bool isValidUtf8(std::string_view text) {
    return !firstInvalidUtf8(text);
}

} // namespace kpu
