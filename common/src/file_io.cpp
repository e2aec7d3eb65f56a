#include "kpu/common/file_io.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace kpu {

Expected<std::vector<std::uint8_t>> readBinaryFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return fail("{}: error: cannot open file: {}", path, std::strerror(errno));
    std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                    std::istreambuf_iterator<char>());
    if (in.bad())
        return fail("{}: error: read failed", path);
    return bytes;
}

Expected<void> requireRegularFile(const std::string& path) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (ec || !std::filesystem::exists(status))
        return fail("{}: error: cannot open file: {}", path,
                    ec ? ec.message() : std::string("No such file or directory"));
    if (!std::filesystem::is_regular_file(status))
        return fail("{}: error: not a regular file", path);
    return {};
}

Expected<std::string> readTextFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return fail("{}: error: cannot open file: {}", path, std::strerror(errno));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad())
        return fail("{}: error: read failed", path);
    return text;
}

Expected<void> writeBinaryFile(const std::string& path, std::span<const std::uint8_t> bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out)
        return fail("{}: error: cannot create file: {}", path, std::strerror(errno));
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    if (!out)
        return fail("{}: error: write failed", path);
    return {};
}

Expected<void> writeTextFile(const std::string& path, std::string_view text) {
    return writeBinaryFile(
        path, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

} // namespace kpu
