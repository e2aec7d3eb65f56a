// Whole-file reads and writes with errors that name the path.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kpu/common/error.h"

namespace kpu {

Expected<std::vector<std::uint8_t>> readBinaryFile(const std::string& path);
// An existing regular file (not a directory or a device), else "<path>: error: ...".
Expected<void> requireRegularFile(const std::string& path);
Expected<std::string> readTextFile(const std::string& path);
Expected<void> writeBinaryFile(const std::string& path, std::span<const std::uint8_t> bytes);
Expected<void> writeTextFile(const std::string& path, std::string_view text);

} // namespace kpu
