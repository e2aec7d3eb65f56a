#include "kpu/common/hw_config.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "kpu/common/file_io.h"
#include "kpu/common/shape.h"

namespace kpu {
namespace {

using json = nlohmann::json;

std::string joinPath(std::string_view parent, std::string_view key) {
    if (parent.empty())
        return std::string(key);
    return fmt::format("{}.{}", parent, key);
}

std::size_t editDistance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j)
        row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] =
                std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

// How a JSON value is shown after "got".
std::string describe(const json& v) {
    switch (v.type()) {
    case json::value_t::object:
        return "an object";
    case json::value_t::array:
        return "an array";
    case json::value_t::string: {
        std::string s = v.dump();
        if (s.size() > 40)
            s = s.substr(0, 36) + "...\"";
        return s;
    }
    default:
        return v.dump();
    }
}

struct CapacityUnit {
    std::string_view suffix;
    std::uint64_t bytes;
};
constexpr CapacityUnit kCapacityUnits[] = {
    {"_gb", 1ull << 30}, {"_mb", 1ull << 20}, {"_kb", 1ull << 10}, {"_bytes", 1}};

// Reads the upstream `kpu` layout into a KpuConfig. Records the first error; later calls are
// no-ops once an error is set.
class Reader {
public:
    explicit Reader(std::string_view source) : source_(source) {}

    bool failed() const { return error_.has_value(); }
    const Error& error() const { return *error_; }

    void setError(std::string_view path, std::string_view what) {
        if (error_)
            return;
        if (path.empty())
            error_ = Error{fmt::format("{}: error: {}", source_, what)};
        else
            error_ = Error{fmt::format("{}: error: {}: {}", source_, path, what)};
    }

    // Every key of `obj` must be in `known`.
    void checkKeys(const json& obj, std::string_view path, std::vector<std::string_view> known) {
        for (const auto& [key, value] : obj.items()) {
            if (std::find(known.begin(), known.end(), key) != known.end())
                continue;
            std::string_view best;
            std::size_t bestDistance = 3;
            for (std::string_view k : known) {
                const std::size_t d = editDistance(key, k);
                if (d < bestDistance) {
                    bestDistance = d;
                    best = k;
                }
            }
            if (best.empty())
                setError(joinPath(path, key), "unknown key");
            else
                setError(joinPath(path, key), fmt::format("unknown key, did you mean '{}'?", best));
            return;
        }
    }

    // The object at obj[key], or nullptr if absent (or on a type error, which is recorded).
    const json* object(const json& obj, std::string_view path, const char* key) {
        const auto it = obj.find(key);
        if (it == obj.end() || failed())
            return nullptr;
        if (!it->is_object()) {
            setError(joinPath(path, key), fmt::format("expected an object, got {}", describe(*it)));
            return nullptr;
        }
        return &*it;
    }

    // An integer in [minimum, maximum]; returns whether the key was present and valid.
    template <class Int>
    bool integer(const json& obj, std::string_view path, const char* key, Int& out,
                 std::uint64_t minimum = 1) {
        const auto it = obj.find(key);
        if (it == obj.end() || failed())
            return false;
        const std::uint64_t maximum = std::numeric_limits<Int>::max();
        const char* expected = minimum == 0 ? "a non-negative integer" : "a positive integer";
        if (!it->is_number_unsigned()) { // negative integers are number_integer, not unsigned
            setError(joinPath(path, key),
                     fmt::format("expected {}, got {}", expected, describe(*it)));
            return false;
        }
        const std::uint64_t v = it->get<std::uint64_t>();
        if (v < minimum) {
            setError(joinPath(path, key), fmt::format("expected {}, got {}", expected, v));
            return false;
        }
        if (v > maximum) {
            setError(joinPath(path, key),
                     fmt::format("expected {} at most {}, got {}", expected, maximum, v));
            return false;
        }
        out = static_cast<Int>(v);
        return true;
    }

    void count(const json& obj, std::string_view path, const char* key, std::uint32_t& out) {
        integer(obj, path, key, out, 1);
    }

    void latency(const json& obj, std::string_view path, const char* key, std::uint32_t& out) {
        integer(obj, path, key, out, 0);
    }

    // A positive finite number.
    void positiveNumber(const json& obj, std::string_view path, const char* key, double& out) {
        const auto it = obj.find(key);
        if (it == obj.end() || failed())
            return;
        if (!it->is_number()) {
            setError(joinPath(path, key),
                     fmt::format("expected a positive number, got {}", describe(*it)));
            return;
        }
        const double v = it->get<double>();
        if (!(v > 0.0) || !std::isfinite(v)) {
            setError(joinPath(path, key),
                     fmt::format("expected a positive number, got {}", it->dump()));
            return;
        }
        out = v;
    }

    // A capacity given as exactly one of <base>_gb, <base>_mb, <base>_kb, <base>_bytes.
    void capacity(const json& obj, std::string_view path, std::string_view base,
                  std::uint64_t& out) {
        std::optional<std::string> seen;
        for (const CapacityUnit& unit : kCapacityUnits) {
            const std::string key = fmt::format("{}{}", base, unit.suffix);
            const auto it = obj.find(key);
            if (it == obj.end() || failed())
                continue;
            if (seen) {
                setError(joinPath(path, key), fmt::format("conflicts with '{}'; give one", *seen));
                return;
            }
            seen = key;
            std::uint64_t v = 0;
            if (!integer(obj, path, key.c_str(), v, 1))
                return;
            const auto bytes = checkedMul(v, unit.bytes);
            if (!bytes) {
                setError(joinPath(path, key), fmt::format("{} overflows a 64-bit byte count", v));
                return;
            }
            out = *bytes;
        }
    }

    void string(const json& obj, std::string_view path, const char* key, std::string* out) {
        const auto it = obj.find(key);
        if (it == obj.end() || failed())
            return;
        if (!it->is_string()) {
            setError(joinPath(path, key), fmt::format("expected a string, got {}", describe(*it)));
            return;
        }
        if (out)
            *out = it->get<std::string>();
    }

    void boolean(const json& obj, std::string_view path, const char* key) {
        const auto it = obj.find(key);
        if (it == obj.end() || failed())
            return;
        if (!it->is_boolean())
            setError(joinPath(path, key),
                     fmt::format("expected true or false, got {}", describe(*it)));
    }

    // An upstream section we accept but do not model: known keys, each a non-negative number
    // (or, with `allowStrings`, a string such as a hexadecimal address).
    void ignoredSection(const json& root, const char* key, std::vector<std::string_view> known,
                        bool allowStrings = false) {
        const json* section = object(root, "", key);
        if (!section)
            return;
        checkKeys(*section, key, known);
        for (const auto& [k, v] : section->items()) {
            if (failed())
                return;
            if (allowStrings && v.is_string())
                continue;
            if (!v.is_number() || (v.is_number_integer() && !v.is_number_unsigned()) ||
                (v.is_number_float() && !(v.get<double>() >= 0.0))) {
                setError(joinPath(key, k),
                         fmt::format("expected a non-negative number, got {}", describe(v)));
            }
        }
    }

    void read(const json& root, KpuConfig& c) {
        if (!root.is_object()) {
            setError(
                "", fmt::format("expected a json object at the top level, got {}", describe(root)));
            return;
        }
        checkKeys(root, "",
                  {"name", "description", "clock_ghz", "host_memory", "external_memory",
                   "memory_controller", "on_chip_memory", "data_movement", "compute",
                   "address_map"});
        string(root, "", "name", &c.name);
        string(root, "", "description", nullptr);
        positiveNumber(root, "", "clock_ghz", c.clockGHz);
        ignoredSection(root, "host_memory",
                       {"region_count", "region_capacity_mb", "bandwidth_gbps"});
        ignoredSection(root, "memory_controller",
                       {"controller_count", "page_buffer_count", "page_buffer_capacity_kb"});
        ignoredSection(root, "address_map",
                       {"host_memory_base", "external_memory_base", "l3_tile_base", "l2_bank_base",
                        "l1_buffer_base", "page_buffer_base"},
                       true);

        if (const json* ext = object(root, "", "external_memory")) {
            const std::string p = "external_memory";
            checkKeys(*ext, p,
                      {"bank_count", "bank_capacity_mb", "bank_capacity_gb", "bank_capacity_kb",
                       "bank_capacity_bytes", "bandwidth_gbps", "latency_cycles"});
            count(*ext, p, "bank_count", c.external.bankCount);
            capacity(*ext, p, "bank_capacity", c.external.bankCapacity);
            positiveNumber(*ext, p, "bandwidth_gbps", c.external.bandwidthGBps);
            latency(*ext, p, "latency_cycles", c.external.latencyCycles);
        }

        bool l1CountGiven = false;
        if (const json* chip = object(root, "", "on_chip_memory")) {
            checkKeys(*chip, "on_chip_memory", {"l3", "l2", "l1"});
            if (const json* l3 = object(*chip, "on_chip_memory", "l3")) {
                const std::string p = "on_chip_memory.l3";
                checkKeys(*l3, p,
                          {"tile_count", "tile_capacity_kb", "tile_capacity_mb", "tile_capacity_gb",
                           "tile_capacity_bytes", "bandwidth_gbps", "latency_cycles"});
                count(*l3, p, "tile_count", c.l3.tileCount);
                capacity(*l3, p, "tile_capacity", c.l3.tileCapacity);
                positiveNumber(*l3, p, "bandwidth_gbps", c.l3.bandwidthGBps);
                latency(*l3, p, "latency_cycles", c.l3.latencyCycles);
            }
            if (const json* l2 = object(*chip, "on_chip_memory", "l2")) {
                const std::string p = "on_chip_memory.l2";
                checkKeys(*l2, p,
                          {"bank_count", "bank_capacity_kb", "bank_capacity_mb", "bank_capacity_gb",
                           "bank_capacity_bytes", "bandwidth_gbps", "latency_cycles"});
                count(*l2, p, "bank_count", c.l2.bankCount);
                capacity(*l2, p, "bank_capacity", c.l2.bankCapacity);
                positiveNumber(*l2, p, "bandwidth_gbps", c.l2.bandwidthGBps);
                latency(*l2, p, "latency_cycles", c.l2.latencyCycles);
            }
            if (const json* l1 = object(*chip, "on_chip_memory", "l1")) {
                const std::string p = "on_chip_memory.l1";
                checkKeys(*l1, p,
                          {"buffer_count", "buffer_capacity_kb", "buffer_capacity_mb",
                           "buffer_capacity_gb", "buffer_capacity_bytes", "bandwidth_gbps",
                           "latency_cycles"});
                l1CountGiven = integer(*l1, p, "buffer_count", c.l1.bufferCount, 1);
                capacity(*l1, p, "buffer_capacity", c.l1.bufferCapacity);
                positiveNumber(*l1, p, "bandwidth_gbps", c.l1.bandwidthGBps);
                latency(*l1, p, "latency_cycles", c.l1.latencyCycles);
            }
        }

        if (const json* dm = object(root, "", "data_movement")) {
            const std::string p = "data_movement";
            checkKeys(*dm, p, {"dma_engine_count", "block_mover_count", "streamer_count"});
            count(*dm, p, "dma_engine_count", c.movement.dmaEngineCount);
            count(*dm, p, "block_mover_count", c.movement.blockMoverCount);
            count(*dm, p, "streamer_count", c.movement.streamerCount);
        }

        if (const json* comp = object(root, "", "compute")) {
            const std::string p = "compute";
            checkKeys(*comp, p, {"tile_count", "processor_array", "systolic_mode"});
            count(*comp, p, "tile_count", c.compute.tileCount);
            boolean(*comp, p, "systolic_mode");
            if (const json* pa = object(*comp, p, "processor_array")) {
                const std::string pp = "compute.processor_array";
                checkKeys(*pa, pp, {"rows", "cols", "topology"});
                count(*pa, pp, "rows", c.compute.arrayRows);
                count(*pa, pp, "cols", c.compute.arrayCols);
                string(*pa, pp, "topology", nullptr);
            }
        }

        if (failed() || l1CountGiven)
            return;
        // Upstream rule: 4 x (rows + cols) x compute tiles streaming buffers.
        const std::uint64_t perTile =
            4 * (std::uint64_t{c.compute.arrayRows} + std::uint64_t{c.compute.arrayCols});
        const auto derived = checkedMul(perTile, c.compute.tileCount);
        if (!derived || *derived > std::numeric_limits<std::uint32_t>::max()) {
            setError("on_chip_memory.l1.buffer_count",
                     "the derived value 4 x (rows + cols) x compute.tile_count is too large");
            return;
        }
        c.l1.bufferCount = static_cast<std::uint32_t>(*derived);
    }

private:
    std::string_view source_;
    std::optional<Error> error_;
};

// Tracks keys while nlohmann parses, to report duplicate keys (which it would silently merge).
struct DuplicateKeyTracker {
    struct Frame {
        bool isObject = false;
        std::set<std::string> keys;
        std::string current;
    };
    std::vector<Frame> stack;
    std::optional<std::string> duplicatePath;

    bool operator()(int, json::parse_event_t event, json& parsed) {
        switch (event) {
        case json::parse_event_t::object_start:
            stack.push_back(Frame{true, {}, {}});
            break;
        case json::parse_event_t::array_start:
            stack.push_back(Frame{false, {}, {}});
            break;
        case json::parse_event_t::object_end:
        case json::parse_event_t::array_end:
            if (!stack.empty())
                stack.pop_back();
            break;
        case json::parse_event_t::key: {
            if (stack.empty() || !parsed.is_string())
                break;
            Frame& top = stack.back();
            top.current = parsed.get<std::string>();
            if (!top.keys.insert(top.current).second && !duplicatePath)
                duplicatePath = path();
            break;
        }
        case json::parse_event_t::value:
            break;
        }
        return true;
    }

    std::string path() const {
        std::string p;
        for (const Frame& f : stack) {
            if (!f.isObject) {
                p += "[]";
                continue;
            }
            if (!p.empty())
                p += '.';
            p += f.current;
        }
        return p;
    }
};

// nlohmann's messages start with "[json.exception.parse_error.101] parse error at line 1,
// column 2: "; keep what follows.
std::string stripJsonPrefix(std::string_view what) {
    const auto column = what.find("column ");
    if (column != std::string_view::npos) {
        const auto colon = what.find(": ", column);
        if (colon != std::string_view::npos)
            return std::string(what.substr(colon + 2));
    }
    const auto bracket = what.find("] ");
    if (bracket != std::string_view::npos)
        return std::string(what.substr(bracket + 2));
    return std::string(what);
}

bool isWordByte(char ch) {
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           ch == '.' || ch == '+' || ch == '-';
}

// Line and column (1-based) of the token nlohmann stopped in. It reports the count of bytes
// read, i.e. the end of the offending token; step back to the token's first byte.
std::string positionOf(std::string_view text, std::size_t byte, std::string_view message) {
    std::size_t offset = byte == 0 ? 0 : byte - 1;
    // A bad literal ("tru}") ends with the byte that broke it; the literal starts before it.
    const bool lexerError = message.find("invalid literal") != std::string_view::npos ||
                            message.find("invalid number") != std::string_view::npos;
    if (lexerError && offset > 0 && offset <= text.size() && isWordByte(text[offset - 1]) &&
        (offset == text.size() || !isWordByte(text[offset])))
        --offset;
    if (offset < text.size()) {
        if (text[offset] == '"') {
            std::size_t i = offset;
            while (i > 0) {
                --i;
                if (text[i] == '"' && (i == 0 || text[i - 1] != '\\'))
                    break;
            }
            offset = i;
        } else if (isWordByte(text[offset])) {
            while (offset > 0 && isWordByte(text[offset - 1]))
                --offset;
        }
    }
    offset = std::min(offset, text.size());
    std::size_t line = 1;
    std::size_t lineStart = 0;
    for (std::size_t i = 0; i < offset; ++i) {
        if (text[i] == '\n') {
            ++line;
            lineStart = i + 1;
        }
    }
    return fmt::format("{}:{}", line, offset - lineStart + 1);
}

std::optional<std::string> exactUnitKey(std::string_view base, std::string_view preferred,
                                        std::uint64_t bytes, std::uint64_t* value) {
    for (const CapacityUnit& unit : kCapacityUnits) {
        if (unit.suffix == preferred && bytes % unit.bytes == 0) {
            *value = bytes / unit.bytes;
            return fmt::format("{}{}", base, unit.suffix);
        }
    }
    return std::nullopt;
}

// The capacity under the preferred spelling if exact, else the largest exact unit.
void putCapacity(nlohmann::ordered_json& obj, std::string_view base, std::string_view preferred,
                 std::uint64_t bytes) {
    std::uint64_t value = 0;
    if (auto key = exactUnitKey(base, preferred, bytes, &value)) {
        obj[*key] = value;
        return;
    }
    for (const CapacityUnit& unit : kCapacityUnits) {
        if (bytes % unit.bytes == 0) {
            obj[fmt::format("{}{}", base, unit.suffix)] = bytes / unit.bytes;
            return;
        }
    }
}

} // namespace

KpuConfig defaultConfig() {
    return KpuConfig{};
}

Expected<KpuConfig> parseConfigJson(std::string_view text, std::string_view sourceName) {
    json root;
    DuplicateKeyTracker tracker;
    try {
        root = json::parse(text.begin(), text.end(), std::ref(tracker), true, false);
    } catch (const json::parse_error& e) {
        return fail("{}:{}: error: {}", sourceName, positionOf(text, e.byte, e.what()),
                    stripJsonPrefix(e.what()));
    } catch (const json::exception& e) {
        return fail("{}: error: {}", sourceName, stripJsonPrefix(e.what()));
    } catch (const std::exception& e) {
        return fail("{}: error: {}", sourceName, e.what());
    }
    if (tracker.duplicatePath)
        return fail("{}: error: {}: duplicate key", sourceName, *tracker.duplicatePath);

    KpuConfig config = defaultConfig();
    config.source = std::string(sourceName);
    Reader reader(sourceName);
    try {
        reader.read(root, config);
    } catch (const std::exception& e) {
        return fail("{}: error: {}", sourceName, stripJsonPrefix(e.what())); // not expected
    }
    if (reader.failed())
        return std::unexpected(reader.error());
    if (auto valid = validateConfig(config); !valid)
        return std::unexpected(valid.error());
    return config;
}

Expected<KpuConfig> loadConfigFile(const std::string& path) {
    auto text = readTextFile(path);
    if (!text)
        return std::unexpected(text.error());
    return parseConfigJson(*text, path);
}

Expected<void> validateConfig(const KpuConfig& c) {
    const std::string& src = c.source;
    auto bad = [&](std::string_view path, std::string_view what) {
        return fail("{}: error: {}: {}", src, path, what);
    };
    auto positiveCount = [&](std::string_view path, std::uint32_t v) -> Expected<void> {
        if (v == 0)
            return bad(path, "expected a positive integer, got 0");
        return {};
    };
    auto bandwidth = [&](std::string_view path, double v) -> Expected<void> {
        if (!(v > 0.0) || !std::isfinite(v))
            return bad(path, fmt::format("expected a positive finite number, got {}", v));
        return {};
    };
    auto level = [&](std::string_view countPath, std::uint32_t n, std::string_view capPath,
                     std::uint64_t capacity) -> Expected<void> {
        if (auto r = positiveCount(countPath, n); !r)
            return r;
        if (capacity == 0)
            return bad(capPath, "expected a positive capacity, got 0 bytes");
        if (capacity > kMaxUnitCapacity)
            return bad(capPath,
                       fmt::format("capacity of {} bytes exceeds the limit of {} bytes (1 TiB)",
                                   capacity, kMaxUnitCapacity));
        const auto total = checkedMul(capacity, n);
        if (!total || *total > kMaxLevelCapacity)
            return bad(capPath, fmt::format("total capacity {} x {} bytes exceeds the limit of {} "
                                            "bytes (256 TiB)",
                                            n, capacity, kMaxLevelCapacity));
        return {};
    };

    if (!(c.clockGHz > 0.0) || !std::isfinite(c.clockGHz))
        return bad("clock_ghz",
                   fmt::format("expected a positive finite number, got {}", c.clockGHz));
    if (auto r = level("external_memory.bank_count", c.external.bankCount,
                       "external_memory.bank_capacity_mb", c.external.bankCapacity);
        !r)
        return r;
    if (auto r = bandwidth("external_memory.bandwidth_gbps", c.external.bandwidthGBps); !r)
        return r;
    if (auto r = level("on_chip_memory.l3.tile_count", c.l3.tileCount,
                       "on_chip_memory.l3.tile_capacity_kb", c.l3.tileCapacity);
        !r)
        return r;
    if (auto r = bandwidth("on_chip_memory.l3.bandwidth_gbps", c.l3.bandwidthGBps); !r)
        return r;
    if (auto r = level("on_chip_memory.l2.bank_count", c.l2.bankCount,
                       "on_chip_memory.l2.bank_capacity_kb", c.l2.bankCapacity);
        !r)
        return r;
    if (auto r = bandwidth("on_chip_memory.l2.bandwidth_gbps", c.l2.bandwidthGBps); !r)
        return r;
    if (auto r = level("on_chip_memory.l1.buffer_count", c.l1.bufferCount,
                       "on_chip_memory.l1.buffer_capacity_kb", c.l1.bufferCapacity);
        !r)
        return r;
    if (auto r = bandwidth("on_chip_memory.l1.bandwidth_gbps", c.l1.bandwidthGBps); !r)
        return r;
    if (auto r = positiveCount("data_movement.dma_engine_count", c.movement.dmaEngineCount); !r)
        return r;
    if (auto r = positiveCount("data_movement.block_mover_count", c.movement.blockMoverCount); !r)
        return r;
    if (auto r = positiveCount("data_movement.streamer_count", c.movement.streamerCount); !r)
        return r;
    if (auto r = positiveCount("compute.tile_count", c.compute.tileCount); !r)
        return r;
    if (auto r = positiveCount("compute.processor_array.rows", c.compute.arrayRows); !r)
        return r;
    if (auto r = positiveCount("compute.processor_array.cols", c.compute.arrayCols); !r)
        return r;
    if (c.compute.arrayRows > kMaxArrayDim)
        return bad("compute.processor_array.rows",
                   fmt::format("expected at most {}, got {}", kMaxArrayDim, c.compute.arrayRows));
    if (c.compute.arrayCols > kMaxArrayDim)
        return bad("compute.processor_array.cols",
                   fmt::format("expected at most {}, got {}", kMaxArrayDim, c.compute.arrayCols));
    return {};
}

std::string configToJson(const KpuConfig& c) {
    using ojson = nlohmann::ordered_json;
    ojson root;
    root["name"] = c.name;
    root["clock_ghz"] = c.clockGHz;

    ojson ext;
    ext["bank_count"] = c.external.bankCount;
    putCapacity(ext, "bank_capacity", "_mb", c.external.bankCapacity);
    ext["bandwidth_gbps"] = c.external.bandwidthGBps;
    ext["latency_cycles"] = c.external.latencyCycles;
    root["external_memory"] = std::move(ext);

    ojson l3;
    l3["tile_count"] = c.l3.tileCount;
    putCapacity(l3, "tile_capacity", "_kb", c.l3.tileCapacity);
    l3["bandwidth_gbps"] = c.l3.bandwidthGBps;
    l3["latency_cycles"] = c.l3.latencyCycles;
    ojson l2;
    l2["bank_count"] = c.l2.bankCount;
    putCapacity(l2, "bank_capacity", "_kb", c.l2.bankCapacity);
    l2["bandwidth_gbps"] = c.l2.bandwidthGBps;
    l2["latency_cycles"] = c.l2.latencyCycles;
    ojson l1;
    l1["buffer_count"] = c.l1.bufferCount;
    putCapacity(l1, "buffer_capacity", "_kb", c.l1.bufferCapacity);
    l1["bandwidth_gbps"] = c.l1.bandwidthGBps;
    l1["latency_cycles"] = c.l1.latencyCycles;
    ojson chip;
    chip["l3"] = std::move(l3);
    chip["l2"] = std::move(l2);
    chip["l1"] = std::move(l1);
    root["on_chip_memory"] = std::move(chip);

    ojson dm;
    dm["dma_engine_count"] = c.movement.dmaEngineCount;
    dm["block_mover_count"] = c.movement.blockMoverCount;
    dm["streamer_count"] = c.movement.streamerCount;
    root["data_movement"] = std::move(dm);

    ojson pa;
    pa["rows"] = c.compute.arrayRows;
    pa["cols"] = c.compute.arrayCols;
    ojson comp;
    comp["tile_count"] = c.compute.tileCount;
    comp["processor_array"] = std::move(pa);
    root["compute"] = std::move(comp);

    return root.dump(2) + "\n";
}

} // namespace kpu
