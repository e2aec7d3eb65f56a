// Errors are values: every library function that can fail on user input returns Expected<T>.
// The message is lower-case, without a trailing period, and carries its own context
// (file:line:col, key path, node id, ...). Tools print it once, at the top.
#pragma once

#include <expected>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace kpu {

struct Error {
    std::string message;
};

template <class T>
using Expected = std::expected<T, Error>;

// Build an error: `return fail("tensor '{}' has rank {}", name, rank);`
template <class... Args>
[[nodiscard]] std::unexpected<Error> fail(fmt::format_string<Args...> format, Args&&... args) {
    return std::unexpected(Error{fmt::format(format, std::forward<Args>(args)...)});
}

// Prefix an error with context, e.g. the file name: `return withContext(r.error(), path)`.
[[nodiscard]] inline std::unexpected<Error> withContext(const Error& error,
                                                        std::string_view context) {
    return std::unexpected(Error{fmt::format("{}: {}", context, error.message)});
}

} // namespace kpu
