#include "kpu/common/utf8.h"

#include <cstdint>

namespace kpu {

std::optional<std::size_t> firstInvalidUtf8(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size()) {
        const auto b = static_cast<std::uint8_t>(text[i]);
        if (b < 0x80) {
            ++i;
            continue;
        }
        // Sequence length and the range of the second byte (Unicode table 3-7), which excludes
        // overlong forms, surrogates and code points past U+10FFFF.
        std::size_t length = 0;
        std::uint8_t low = 0x80, high = 0xbf;
        if (b >= 0xc2 && b <= 0xdf) {
            length = 2;
        } else if (b >= 0xe0 && b <= 0xef) {
            length = 3;
            if (b == 0xe0)
                low = 0xa0;
            else if (b == 0xed)
                high = 0x9f;
        } else if (b >= 0xf0 && b <= 0xf4) {
            length = 4;
            if (b == 0xf0)
                low = 0x90;
            else if (b == 0xf4)
                high = 0x8f;
        } else {
            return i;
        }
        if (text.size() - i < length)
            return i;
        for (std::size_t k = 1; k < length; ++k) {
            const auto c = static_cast<std::uint8_t>(text[i + k]);
            const std::uint8_t lo = k == 1 ? low : 0x80, hi = k == 1 ? high : 0xbf;
            if (c < lo || c > hi)
                return i;
        }
        i += length;
    }
    return std::nullopt;
}

} // namespace kpu
