#include "kpu/common/hw_config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>
#include <yaml-cpp/depthguard.h> // YAML::DeepRecursion
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include "kpu/common/file_io.h"
#include "kpu/common/shape.h"
#include "kpu/common/utf8.h"

namespace kpu {
namespace {

using json = nlohmann::json;

std::string joinPath(std::string_view parent, std::string_view key) {
    if (parent.empty())
        return std::string(key);
    return fmt::format("{}.{}", parent, key);
}

std::string indexPath(std::string_view parent, std::size_t index) {
    return fmt::format("{}[{}]", parent, index);
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
    case json::value_t::number_float:
        // dump() writes the non-finite numbers YAML can give (.inf, .nan) as null.
        if (!std::isfinite(v.get<double>()))
            return fmt::format("{}", v.get<double>());
        return v.dump();
    default:
        return v.dump();
    }
}

struct CapacityUnit {
    std::string_view suffix;
    std::uint64_t bytes;
    std::string_view label; // in messages
};
constexpr CapacityUnit kCapacityUnits[] = {{"_gb", 1ull << 30, "GB"},
                                           {"_mb", 1ull << 20, "MB"},
                                           {"_kb", 1ull << 10, "KB"},
                                           {"_bytes", 1, "bytes"}};

// `keys` plus the spellings of one capacity: <base>_gb, <base>_mb, <base>_kb, <base>_bytes.
std::vector<std::string> withCapacityKeys(std::vector<std::string> keys, std::string_view base) {
    for (const CapacityUnit& unit : kCapacityUnits)
        keys.push_back(fmt::format("{}{}", base, unit.suffix));
    return keys;
}

// `bytes` in the unit of the capacity key `key` (e.g. "2048 MB" for capacity_mb), for messages.
std::string showCapacity(std::string_view key, std::uint64_t bytes) {
    for (const CapacityUnit& unit : kCapacityUnits)
        if (key.ends_with(unit.suffix) && bytes % unit.bytes == 0)
            return fmt::format("{} {}", bytes / unit.bytes, unit.label);
    return fmt::format("{} bytes", bytes);
}

// A validation failure: the key path at fault and what is wrong with it.
struct Problem {
    std::string path;
    std::string what;
};

// What is wrong with a memory level of `count` units of `capacity` bytes, if anything. Shared by
// validateConfig and the system layout reader, which name their own keys.
std::optional<Problem> levelProblem(std::string_view countPath, std::uint32_t count,
                                    std::string_view capacityPath, std::uint64_t capacity) {
    if (count == 0)
        return Problem{std::string(countPath), "expected a positive integer, got 0"};
    if (capacity == 0)
        return Problem{std::string(capacityPath), "expected a positive capacity, got 0 bytes"};
    if (capacity > kMaxUnitCapacity)
        return Problem{std::string(capacityPath),
                       fmt::format("capacity of {} bytes exceeds the limit of {} bytes (1 TiB)",
                                   capacity, kMaxUnitCapacity)};
    const auto total = checkedMul(capacity, count);
    if (!total || *total > kMaxLevelCapacity)
        return Problem{std::string(capacityPath),
                       fmt::format("total capacity {} x {} bytes exceeds the limit of {} bytes "
                                   "(256 TiB)",
                                   count, capacity, kMaxLevelCapacity)};
    return std::nullopt;
}

// Upstream rule for the number of L1 streaming buffers: 4 x (rows + cols) x compute tiles;
// nullopt when that does not fit the field.
std::optional<std::uint32_t> derivedL1BufferCount(const ComputeConfig& compute) {
    const std::uint64_t perTile =
        4 * (std::uint64_t{compute.arrayRows} + std::uint64_t{compute.arrayCols});
    const auto derived = checkedMul(perTile, compute.tileCount);
    if (!derived || *derived > std::numeric_limits<std::uint32_t>::max())
        return std::nullopt;
    return static_cast<std::uint32_t>(*derived);
}

// Top-level keys of the two layouts; no key is in both.
const std::vector<std::string> kKpuLayoutKeys = {
    "name",           "description",     "clock_ghz",
    "host_memory",    "external_memory", "memory_controller",
    "on_chip_memory", "data_movement",   "compute",
    "address_map",    "energy",          "area"};
const std::vector<std::string> kSystemLayoutKeys = {"system", "host", "accelerators",
                                                    "interconnect", "system_services"};

// The system layout (upstream configs/examples/*.json) describes a whole machine with the KPU in
// accelerators[]. A file is read in that layout when it has `accelerators`, or when it has
// system-layout keys and no kpu-layout key (so that a misspelt `accelerators` is reported
// against the system layout's keys).
bool isSystemLayout(const json& root) {
    if (root.contains("accelerators"))
        return true;
    bool systemKey = false;
    for (const auto& [key, value] : root.items()) {
        if (std::ranges::find(kKpuLayoutKeys, key) != kKpuLayoutKeys.end())
            return false;
        if (std::ranges::find(kSystemLayoutKeys, key) != kSystemLayoutKeys.end())
            systemKey = true;
    }
    return systemKey;
}

// Reads a parsed document (JSON, or YAML converted to JSON) in either layout into a KpuConfig.
// Records the first error; later calls are no-ops once an error is set.
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

    void read(const json& root, KpuConfig& c) {
        if (!root.is_object()) {
            setError(
                "", fmt::format("expected a json object at the top level, got {}", describe(root)));
            return;
        }
        if (isSystemLayout(root))
            readSystemLayout(root, c);
        else
            readKpuLayout(root, c);
    }

private:
    // Every key of `obj` must be in `known`; suggests the nearest one (edit distance <= 2).
    void checkKeys(const json& obj, std::string_view path, const std::vector<std::string>& known) {
        for (const auto& [key, value] : obj.items()) {
            if (std::ranges::find(known, key) != known.end())
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

    // The array of objects at obj[key], or nullptr if absent (or invalid, which is recorded).
    // In the system layout each entry is one bank / tile / engine, so a modelled level needs at
    // least one entry.
    const json* list(const json& obj, std::string_view path, const char* key,
                     bool allowEmpty = false) {
        const auto it = obj.find(key);
        if (it == obj.end() || failed())
            return nullptr;
        const std::string p = joinPath(path, key);
        if (!it->is_array()) {
            setError(p, fmt::format("expected an array, got {}", describe(*it)));
            return nullptr;
        }
        if (it->empty() && !allowEmpty) {
            setError(p, "expected at least one entry, got an empty array");
            return nullptr;
        }
        if (it->size() > std::numeric_limits<std::uint32_t>::max()) {
            setError(p, fmt::format("expected at most {} entries, got {}",
                                    std::numeric_limits<std::uint32_t>::max(), it->size()));
            return nullptr;
        }
        for (std::size_t i = 0; i < it->size(); ++i) {
            if (!(*it)[i].is_object()) {
                setError(indexPath(p, i),
                         fmt::format("expected an object, got {}", describe((*it)[i])));
                return nullptr;
            }
        }
        return &*it;
    }

    // An integer in [minimum, maximum]; returns whether the key was present and valid.
    template <class Int>
    bool integer(const json& obj, std::string_view path, const char* key, Int& out,
                 std::uint64_t minimum = 1,
                 std::uint64_t maximum = std::numeric_limits<Int>::max()) {
        const auto it = obj.find(key);
        if (it == obj.end() || failed())
            return false;
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

    // A finite number > 0 (>= 0 with `allowZero`); returns whether it was present and valid.
    bool number(const json& obj, std::string_view path, const char* key, double& out,
                bool allowZero = false) {
        const auto it = obj.find(key);
        if (it == obj.end() || failed())
            return false;
        const char* expected = allowZero ? "a non-negative number" : "a positive number";
        if (!it->is_number()) {
            setError(joinPath(path, key),
                     fmt::format("expected {}, got {}", expected, describe(*it)));
            return false;
        }
        const double v = it->get<double>();
        if (!std::isfinite(v) || !(allowZero ? v >= 0.0 : v > 0.0)) {
            setError(joinPath(path, key),
                     fmt::format("expected {}, got {}", expected, describe(*it)));
            return false;
        }
        out = v;
        return true;
    }

    // A capacity given as exactly one of <base>_gb, <base>_mb, <base>_kb, <base>_bytes.
    // Returns the key it was given under (empty when absent or invalid).
    std::string capacity(const json& obj, std::string_view path, std::string_view base,
                         std::uint64_t& out) {
        std::string seen;
        for (const CapacityUnit& unit : kCapacityUnits) {
            const std::string key = fmt::format("{}{}", base, unit.suffix);
            const auto it = obj.find(key);
            if (it == obj.end() || failed())
                continue;
            if (!seen.empty()) {
                setError(joinPath(path, key), fmt::format("conflicts with '{}'; give one", seen));
                return {};
            }
            seen = key;
            std::uint64_t v = 0;
            if (!integer(obj, path, key.c_str(), v, 1))
                return {};
            const auto bytes = checkedMul(v, unit.bytes);
            if (!bytes) {
                setError(joinPath(path, key), fmt::format("{} overflows a 64-bit byte count", v));
                return {};
            }
            out = *bytes;
        }
        return seen;
    }

    // Returns whether the key was present and a string.
    bool string(const json& obj, std::string_view path, const char* key, std::string* out) {
        const auto it = obj.find(key);
        if (it == obj.end() || failed())
            return false;
        if (!it->is_string()) {
            setError(joinPath(path, key), fmt::format("expected a string, got {}", describe(*it)));
            return false;
        }
        if (out)
            *out = it->get<std::string>();
        return true;
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
    void ignoredSection(const json& root, const char* key, const std::vector<std::string>& known,
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

    // Applies the upstream L1 rule when the file gives no buffer count; `path` names what to
    // blame if the derived count does not fit.
    void deriveL1(KpuConfig& c, std::string_view path) {
        if (failed())
            return;
        const auto derived = derivedL1BufferCount(c.compute);
        if (!derived) {
            setError(path, "the derived L1 buffer count 4 x (rows + cols) x tiles is too large");
            return;
        }
        c.l1.bufferCount = *derived;
    }

    // The upstream `kpu` layout (configs/kpu/*.json and *.yaml) plus our extension keys.
    void readKpuLayout(const json& root, KpuConfig& c) {
        checkKeys(root, "", kKpuLayoutKeys);
        string(root, "", "name", &c.name);
        string(root, "", "description", nullptr);
        number(root, "", "clock_ghz", c.clockGHz);
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
            number(*ext, p, "bandwidth_gbps", c.external.bandwidthGBps);
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
                number(*l3, p, "bandwidth_gbps", c.l3.bandwidthGBps);
                latency(*l3, p, "latency_cycles", c.l3.latencyCycles);
            }
            if (const json* l2 = object(*chip, "on_chip_memory", "l2")) {
                const std::string p = "on_chip_memory.l2";
                checkKeys(*l2, p,
                          {"bank_count", "bank_capacity_kb", "bank_capacity_mb", "bank_capacity_gb",
                           "bank_capacity_bytes", "bandwidth_gbps", "latency_cycles"});
                count(*l2, p, "bank_count", c.l2.bankCount);
                capacity(*l2, p, "bank_capacity", c.l2.bankCapacity);
                number(*l2, p, "bandwidth_gbps", c.l2.bandwidthGBps);
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
                number(*l1, p, "bandwidth_gbps", c.l1.bandwidthGBps);
                latency(*l1, p, "latency_cycles", c.l1.latencyCycles);
            }
        }

        if (const json* dm = object(root, "", "data_movement")) {
            const std::string p = "data_movement";
            checkKeys(
                *dm, p,
                {"dma_engine_count", "block_mover_count", "streamer_count", "dma_bandwidth_gbps"});
            count(*dm, p, "dma_engine_count", c.movement.dmaEngineCount);
            count(*dm, p, "block_mover_count", c.movement.blockMoverCount);
            count(*dm, p, "streamer_count", c.movement.streamerCount);
            number(*dm, p, "dma_bandwidth_gbps", c.movement.dmaBandwidthGBps, true);
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

        readEnergy(root, c.energy);
        readArea(root, c.area);
        if (!l1CountGiven)
            deriveL1(c, "on_chip_memory.l1.buffer_count");
    }

    // Our extension sections (docs/config.md, "energy" and "area"): every figure optional.
    void readEnergy(const json& root, EnergyConfig& e) {
        const json* energy = object(root, "", "energy");
        if (!energy)
            return;
        const std::string p = "energy";
        checkKeys(*energy, p,
                  {"mac_pj", "vector_op_pj", "move_pj", "external_read_pj_per_byte",
                   "external_write_pj_per_byte", "l3_read_pj_per_byte", "l3_write_pj_per_byte",
                   "l2_read_pj_per_byte", "l2_write_pj_per_byte", "l1_read_pj_per_byte",
                   "l1_write_pj_per_byte", "static_power_w", "leakage_w_per_mm2"});
        if (const json* mac = object(*energy, p, "mac_pj")) {
            const std::string mp = "energy.mac_pj";
            checkKeys(*mac, mp, {"f32", "f16", "f64", "f8e4m3", "i8"});
            number(*mac, mp, "f32", e.macF32Pj, true);
            number(*mac, mp, "f16", e.macF16Pj, true);
            number(*mac, mp, "f64", e.macF64Pj, true);
            number(*mac, mp, "f8e4m3", e.macF8Pj, true);
            number(*mac, mp, "i8", e.macI8Pj, true);
        }
        number(*energy, p, "vector_op_pj", e.vectorOpPj, true);
        number(*energy, p, "move_pj", e.movePj, true);
        number(*energy, p, "external_read_pj_per_byte", e.externalReadPjPerByte, true);
        number(*energy, p, "external_write_pj_per_byte", e.externalWritePjPerByte, true);
        optionalNumber(*energy, p, "l3_read_pj_per_byte", e.l3ReadPjPerByte);
        optionalNumber(*energy, p, "l3_write_pj_per_byte", e.l3WritePjPerByte);
        optionalNumber(*energy, p, "l2_read_pj_per_byte", e.l2ReadPjPerByte);
        optionalNumber(*energy, p, "l2_write_pj_per_byte", e.l2WritePjPerByte);
        optionalNumber(*energy, p, "l1_read_pj_per_byte", e.l1ReadPjPerByte);
        optionalNumber(*energy, p, "l1_write_pj_per_byte", e.l1WritePjPerByte);
        optionalNumber(*energy, p, "static_power_w", e.staticPowerW);
        number(*energy, p, "leakage_w_per_mm2", e.leakageWPerMm2, true);
    }

    void readArea(const json& root, AreaConfig& a) {
        const json* area = object(root, "", "area");
        if (!area)
            return;
        checkKeys(*area, "area", {"pe_mm2", "sram_mm2_per_kib"});
        number(*area, "area", "pe_mm2", a.peMm2, true);
        number(*area, "area", "sram_mm2_per_kib", a.sramMm2PerKib, true);
    }

    void optionalNumber(const json& obj, std::string_view path, const char* key,
                        std::optional<double>& out) {
        double v = 0;
        if (number(obj, path, key, v, true))
            out = v;
    }

    // ---- The upstream system layout (configs/examples/*.json) ----

    void readSystemLayout(const json& root, KpuConfig& c) {
        checkKeys(root, "", kSystemLayoutKeys);
        // Only the system's name and the KPU are used: `host`, `interconnect`, `system_services`
        // and the other accelerators describe the rest of the machine, which we do not model.
        if (const json* system = object(root, "", "system"))
            string(*system, "system", "name", &c.name);
        if (failed())
            return;
        const auto accelerators = root.find("accelerators");
        if (accelerators == root.end()) {
            setError("accelerators", "missing; the system layout describes the KPU as an entry "
                                     "with \"type\": \"KPU\"");
            return;
        }
        if (!accelerators->is_array()) {
            setError("accelerators",
                     fmt::format("expected an array, got {}", describe(*accelerators)));
            return;
        }
        for (std::size_t i = 0; i < accelerators->size(); ++i) {
            const json& entry = (*accelerators)[i];
            if (!entry.is_object())
                continue;
            const auto type = entry.find("type");
            if (type != entry.end() && *type == "KPU") { // the first KPU; later ones are ignored
                readKpuEntry(entry, indexPath("accelerators", i), c);
                return;
            }
        }
        setError("accelerators", "no entry with \"type\": \"KPU\"");
    }

    void readKpuEntry(const json& entry, const std::string& p, KpuConfig& c) {
        checkKeys(entry, p, {"type", "id", "description", "kpu_config"});
        string(entry, p, "id", nullptr);
        string(entry, p, "description", nullptr);
        const json* kpu = object(entry, p, "kpu_config");
        if (!kpu)
            return; // every key is optional: the default KPU
        const std::string kp = joinPath(p, "kpu_config");
        checkKeys(*kpu, kp, {"clock_ghz", "memory", "compute_fabric", "data_movement"});
        // Our extension, read first: bank latencies are given in ns and counted in cycles.
        number(*kpu, kp, "clock_ghz", c.clockGHz);
        if (const json* memory = object(*kpu, kp, "memory"))
            readMemory(*memory, joinPath(kp, "memory"), c);
        if (const json* fabric = object(*kpu, kp, "compute_fabric")) {
            const std::string fp = joinPath(kp, "compute_fabric");
            checkKeys(*fabric, fp, {"tiles"});
            if (const json* tiles = list(*fabric, fp, "tiles"))
                readComputeTiles(*tiles, joinPath(fp, "tiles"), c);
        }
        if (const json* dm = object(*kpu, kp, "data_movement"))
            readDataMovement(*dm, joinPath(kp, "data_movement"), c);
        // The system layout does not describe L1: derive the buffer count as upstream does.
        deriveL1(c, joinPath(kp, "compute_fabric.tiles"));
    }

    std::optional<double> optionalNumber(const json& obj, std::string_view path, const char* key,
                                         bool allowZero = false) {
        double v = 0.0;
        if (!number(obj, path, key, v, allowZero))
            return std::nullopt;
        return v;
    }

    std::optional<std::uint32_t> optionalCount(const json& obj, std::string_view path,
                                               const char* key, std::uint64_t maximum) {
        std::uint32_t v = 0;
        if (!integer(obj, path, key, v, 1, maximum))
            return std::nullopt;
        return v;
    }

    // Entries of a system-layout list must agree on every field we model, since we model one
    // kind of bank / tile / engine per level. `show` formats a value for the message.
    template <class T, class Show>
    void sameAsFirst(std::string_view entryPath, std::string_view key,
                     const std::optional<T>& value, const std::optional<T>& first,
                     std::string_view list, std::string_view noun, Show show) {
        if (failed() || value == first)
            return;
        auto text = [&](const std::optional<T>& v) {
            return v ? show(*v) : std::string("not given");
        };
        setError(joinPath(entryPath, key),
                 fmt::format("differs from {}[0] ({} vs {}); heterogeneous {} are not modelled",
                             list, text(value), text(first), noun));
    }

    static std::string showGBps(double v) { return fmt::format("{} GB/s", v); }
    static std::string showNs(double v) { return fmt::format("{} ns", v); }
    static std::string showInteger(std::uint32_t v) { return fmt::format("{}", v); }

    // The fields we model of one entry of memory.banks, l3_tiles or l2_banks.
    struct MemoryEntry {
        std::optional<std::uint64_t> capacity;
        std::string capacityKey; // as spelled in the file
        std::optional<double> bandwidthGBps;
        std::optional<double> latencyNs;
    };

    // Reads a memory list whose entries must all agree; returns entry 0. Only external memory
    // banks carry bandwidth and latency upstream.
    MemoryEntry memoryList(const json& entries, const std::string& p, std::string_view list,
                           std::string_view noun, bool withTiming) {
        std::vector<std::string> keys = withCapacityKeys({"id"}, "capacity");
        if (withTiming) {
            keys.push_back("bandwidth_gbps");
            keys.push_back("latency_ns");
        }
        MemoryEntry first;
        for (std::size_t i = 0; i < entries.size() && !failed(); ++i) {
            const json& e = entries[i];
            const std::string ep = indexPath(p, i);
            checkKeys(e, ep, keys);
            string(e, ep, "id", nullptr);
            MemoryEntry m;
            std::uint64_t bytes = 0;
            m.capacityKey = capacity(e, ep, "capacity", bytes);
            if (!m.capacityKey.empty())
                m.capacity = bytes;
            if (withTiming) {
                m.bandwidthGBps = optionalNumber(e, ep, "bandwidth_gbps");
                m.latencyNs = optionalNumber(e, ep, "latency_ns", true);
            }
            if (i == 0) {
                first = m;
                continue;
            }
            const std::string capacityKey =
                m.capacityKey.empty() ? first.capacityKey : m.capacityKey;
            sameAsFirst(ep, capacityKey, m.capacity, first.capacity, list, noun,
                        [&](std::uint64_t b) { return showCapacity(capacityKey, b); });
            sameAsFirst(ep, "bandwidth_gbps", m.bandwidthGBps, first.bandwidthGBps, list, noun,
                        showGBps);
            sameAsFirst(ep, "latency_ns", m.latencyNs, first.latencyNs, list, noun, showNs);
        }
        return first;
    }

    void checkLevel(std::string_view countPath, std::uint32_t count, std::string_view capacityPath,
                    std::uint64_t capacity) {
        if (failed())
            return;
        if (auto problem = levelProblem(countPath, count, capacityPath, capacity))
            setError(problem->path, problem->what);
    }

    // Upstream gives bank latency in ns; we count cycles of the KPU clock, rounding up.
    void latencyFromNs(std::string_view path, double ns, double clockGHz, std::uint32_t& out) {
        if (failed())
            return;
        // The margin keeps a product such as 10 ns x 0.3 GHz = 3.0000000000000004 at 3 cycles.
        const double cycles = std::max(0.0, std::ceil(ns * clockGHz - 1e-9));
        constexpr std::uint32_t kMax = std::numeric_limits<std::uint32_t>::max();
        if (cycles > kMax) {
            setError(path, fmt::format("{} ns is {} cycles at {} GHz, more than {}", ns, cycles,
                                       clockGHz, kMax));
            return;
        }
        out = static_cast<std::uint32_t>(cycles);
    }

    void readMemory(const json& memory, const std::string& p, KpuConfig& c) {
        checkKeys(memory, p,
                  {"type", "form_factor", "banks", "l3_tiles", "l2_banks", "scratchpads"});
        // The technology (GDDR6, HBM3, ...) and packaging are names only: the numbers below
        // carry the timing.
        string(memory, p, "type", nullptr);
        string(memory, p, "form_factor", nullptr);
        auto capacityPath = [](const std::string& listPath, const MemoryEntry& e,
                               std::string_view defaultKey) {
            return joinPath(indexPath(listPath, 0),
                            e.capacityKey.empty() ? defaultKey : std::string_view(e.capacityKey));
        };
        if (const json* banks = list(memory, p, "banks")) {
            const std::string lp = joinPath(p, "banks");
            const MemoryEntry bank = memoryList(*banks, lp, "banks", "banks", true);
            c.external.bankCount = static_cast<std::uint32_t>(banks->size());
            if (bank.capacity)
                c.external.bankCapacity = *bank.capacity;
            if (bank.bandwidthGBps)
                c.external.bandwidthGBps = *bank.bandwidthGBps;
            if (bank.latencyNs)
                latencyFromNs(joinPath(indexPath(lp, 0), "latency_ns"), *bank.latencyNs, c.clockGHz,
                              c.external.latencyCycles);
            checkLevel(lp, c.external.bankCount, capacityPath(lp, bank, "capacity_mb"),
                       c.external.bankCapacity);
        }
        if (const json* tiles = list(memory, p, "l3_tiles")) {
            const std::string lp = joinPath(p, "l3_tiles");
            const MemoryEntry tile = memoryList(*tiles, lp, "l3_tiles", "L3 tiles", false);
            c.l3.tileCount = static_cast<std::uint32_t>(tiles->size());
            if (tile.capacity)
                c.l3.tileCapacity = *tile.capacity;
            checkLevel(lp, c.l3.tileCount, capacityPath(lp, tile, "capacity_kb"),
                       c.l3.tileCapacity);
        }
        if (const json* banks = list(memory, p, "l2_banks")) {
            const std::string lp = joinPath(p, "l2_banks");
            const MemoryEntry bank = memoryList(*banks, lp, "l2_banks", "L2 banks", false);
            c.l2.bankCount = static_cast<std::uint32_t>(banks->size());
            if (bank.capacity)
                c.l2.bankCapacity = *bank.capacity;
            checkLevel(lp, c.l2.bankCount, capacityPath(lp, bank, "capacity_kb"),
                       c.l2.bankCapacity);
        }
        // Scratchpads are checked but not modelled: they have no place in the EXT -> L3 -> L2 ->
        // L1 streaming hierarchy the binder allocates and the simulator times.
        if (const json* pads = list(memory, p, "scratchpads", true)) {
            const std::string lp = joinPath(p, "scratchpads");
            for (std::size_t i = 0; i < pads->size() && !failed(); ++i) {
                const std::string ep = indexPath(lp, i);
                checkKeys((*pads)[i], ep, withCapacityKeys({"id"}, "capacity"));
                string((*pads)[i], ep, "id", nullptr);
                std::uint64_t ignored = 0;
                capacity((*pads)[i], ep, "capacity", ignored);
            }
        }
    }

    void readComputeTiles(const json& tiles, const std::string& p, KpuConfig& c) {
        std::optional<std::uint32_t> firstRows, firstCols;
        for (std::size_t i = 0; i < tiles.size() && !failed(); ++i) {
            const json& e = tiles[i];
            const std::string ep = indexPath(p, i);
            checkKeys(e, ep, {"id", "type", "systolic_rows", "systolic_cols", "datatype"});
            string(e, ep, "id", nullptr);
            // Element types come from the program's tensors, not from the tile.
            string(e, ep, "datatype", nullptr);
            std::string type;
            if (string(e, ep, "type", &type) && type != "systolic")
                setError(joinPath(ep, "type"),
                         fmt::format("expected \"systolic\" (the only tile type modelled), got {}",
                                     describe(e.at("type"))));
            const auto rows = optionalCount(e, ep, "systolic_rows", kMaxArrayDim);
            const auto cols = optionalCount(e, ep, "systolic_cols", kMaxArrayDim);
            if (i == 0) {
                firstRows = rows;
                firstCols = cols;
                continue;
            }
            sameAsFirst(ep, "systolic_rows", rows, firstRows, "tiles", "compute tiles",
                        showInteger);
            sameAsFirst(ep, "systolic_cols", cols, firstCols, "tiles", "compute tiles",
                        showInteger);
        }
        c.compute.tileCount = static_cast<std::uint32_t>(tiles.size());
        if (firstRows)
            c.compute.arrayRows = *firstRows;
        if (firstCols)
            c.compute.arrayCols = *firstCols;
    }

    // A list of engines described by an id only; returns the number of entries.
    std::uint32_t engineList(const json& entries, const std::string& p) {
        for (std::size_t i = 0; i < entries.size() && !failed(); ++i) {
            checkKeys(entries[i], indexPath(p, i), {"id"});
            string(entries[i], indexPath(p, i), "id", nullptr);
        }
        return static_cast<std::uint32_t>(entries.size());
    }

    void readDataMovement(const json& dm, const std::string& p, KpuConfig& c) {
        checkKeys(dm, p, {"dma_engines", "block_movers", "streamers"});
        if (const json* engines = list(dm, p, "dma_engines")) {
            const std::string lp = joinPath(p, "dma_engines");
            std::optional<double> firstBandwidth;
            for (std::size_t i = 0; i < engines->size() && !failed(); ++i) {
                const json& e = (*engines)[i];
                const std::string ep = indexPath(lp, i);
                checkKeys(e, ep, {"id", "bandwidth_gbps", "channels"});
                string(e, ep, "id", nullptr);
                // Channels are not modelled: an engine is one stream at its bandwidth.
                std::uint32_t channels = 0;
                integer(e, ep, "channels", channels, 0);
                const auto bandwidth = optionalNumber(e, ep, "bandwidth_gbps", true);
                if (i == 0) {
                    firstBandwidth = bandwidth;
                    continue;
                }
                sameAsFirst(ep, "bandwidth_gbps", bandwidth, firstBandwidth, "dma_engines",
                            "DMA engines", showGBps);
            }
            c.movement.dmaEngineCount = static_cast<std::uint32_t>(engines->size());
            if (firstBandwidth)
                c.movement.dmaBandwidthGBps = *firstBandwidth;
        }
        if (const json* movers = list(dm, p, "block_movers"))
            c.movement.blockMoverCount = engineList(*movers, joinPath(p, "block_movers"));
        if (const json* streamers = list(dm, p, "streamers"))
            c.movement.streamerCount = engineList(*streamers, joinPath(p, "streamers"));
    }

    std::string_view source_;
    std::optional<Error> error_;
};

// Tracks keys while nlohmann parses, to report duplicate keys (which it would silently merge).
struct DuplicateKeyTracker {
    struct Frame {
        bool isObject = false;
        std::set<std::string> keys;
        std::string current;   // objects: the key being parsed
        std::size_t index = 0; // arrays: the element being parsed
    };
    std::vector<Frame> stack;
    std::optional<std::string> duplicatePath;

    // An array element is complete: the next value is the next element.
    void nextElement() {
        if (!stack.empty() && !stack.back().isObject)
            ++stack.back().index;
    }

    bool operator()(int, json::parse_event_t event, json& parsed) {
        switch (event) {
        case json::parse_event_t::object_start:
            stack.push_back(Frame{true, {}, {}, 0});
            break;
        case json::parse_event_t::array_start:
            stack.push_back(Frame{false, {}, {}, 0});
            break;
        case json::parse_event_t::object_end:
        case json::parse_event_t::array_end:
            if (!stack.empty())
                stack.pop_back();
            nextElement();
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
            nextElement();
            break;
        }
        return true;
    }

    std::string path() const {
        std::string p;
        for (const Frame& f : stack) {
            if (!f.isObject)
                p = indexPath(p, f.index);
            else
                p = joinPath(p, f.current);
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

// ---- YAML ----

// Aliases can make a short file expand into a huge or cyclic tree (`a: &x [*x]`). Real
// configurations nest a few levels deep, and a document without aliases has fewer values than
// bytes; allow aliases a tenfold expansion.
constexpr int kMaxYamlDepth = 64;
std::size_t maxYamlValues(std::size_t textBytes) {
    return 10 * textBytes + 10'000;
}

std::string yamlPlace(std::string_view source, const YAML::Mark& mark) {
    if (mark.is_null())
        return std::string(source);
    return fmt::format("{}:{}:{}", source, mark.line + 1, mark.column + 1);
}

bool isDigitIn(char ch, int base) {
    if (base == 16)
        return std::isxdigit(static_cast<unsigned char>(ch)) != 0;
    return ch >= '0' && ch < static_cast<char>('0' + base);
}

// The YAML 1.2 core schema float syntax: [0-9]+(.[0-9]*)? or .[0-9]+, then ([eE][-+]?[0-9]+)?
// (the sign was removed by the caller).
bool isCoreFloat(std::string_view s) {
    std::size_t i = 0, mantissaDigits = 0;
    auto digits = [&] {
        std::size_t n = 0;
        while (i < s.size() && isDigitIn(s[i], 10)) {
            ++i;
            ++n;
        }
        return n;
    };
    mantissaDigits += digits();
    if (i < s.size() && s[i] == '.') {
        ++i;
        mantissaDigits += digits();
    }
    if (mantissaDigits == 0)
        return false;
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < s.size() && (s[i] == '+' || s[i] == '-'))
            ++i;
        if (digits() == 0)
            return false;
    }
    return i == s.size();
}

// Converts a YAML document to the JSON value the readers take, so that both formats share one
// set of key rules and messages. Plain scalars are typed by the YAML 1.2 core schema (null,
// true/false, decimal, 0x and 0o integers, decimals, .inf, .nan) and otherwise are strings;
// quoted scalars are always strings, so "0x10" is a string and 0x10 is 16. Aliases are expanded.
class YamlToJson {
public:
    YamlToJson(std::string_view source, std::size_t maxValues)
        : source_(source), maxValues_(maxValues) {}

    Expected<json> convert(const YAML::Node& node, const std::string& path, int depth) {
        if (depth > kMaxYamlDepth)
            return failAt(node.Mark(), fmt::format("nested more than {} levels deep (a recursive "
                                                   "alias?)",
                                                   kMaxYamlDepth));
        if (++values_ > maxValues_)
            return failAt(
                node.Mark(),
                fmt::format("more than {} values (aliases expanding too far?)", maxValues_));
        if (!knownTag(node))
            return failAt(node.Mark(), fmt::format("unsupported yaml tag '{}'", node.Tag()));
        switch (node.Type()) {
        case YAML::NodeType::Null:
            return json(nullptr);
        case YAML::NodeType::Scalar:
            return scalar(node);
        case YAML::NodeType::Sequence: {
            json out = json::array();
            std::size_t index = 0;
            for (const YAML::Node& element : node) {
                auto value = convert(element, indexPath(path, index++), depth + 1);
                if (!value)
                    return value;
                out.push_back(std::move(*value));
            }
            return out;
        }
        case YAML::NodeType::Map: {
            json out = json::object();
            for (const auto& entry : node) {
                if (!entry.first.IsScalar())
                    return failAt(entry.first.Mark(), "a mapping key must be a scalar");
                const std::string& key = entry.first.Scalar();
                if (!isValidUtf8(key))
                    return failAt(entry.first.Mark(), "the key is not valid UTF-8");
                const std::string keyPath = joinPath(path, key);
                if (out.contains(key))
                    return fail("{}: error: {}: duplicate key", source_, keyPath);
                auto value = convert(entry.second, keyPath, depth + 1);
                if (!value)
                    return value;
                out[key] = std::move(*value);
            }
            return out;
        }
        case YAML::NodeType::Undefined:
            break;
        }
        return failAt(node.Mark(), "undefined yaml node");
    }

private:
    std::unexpected<Error> failAt(const YAML::Mark& mark, std::string_view what) const {
        return fail("{}: error: {}", yamlPlace(source_, mark), what);
    }

    // Untagged nodes, and the standard tag of the node's own kind (e.g. !!str on a scalar).
    static bool knownTag(const YAML::Node& node) {
        const std::string& tag = node.Tag();
        if (tag.empty() || tag == "?" || tag == "!")
            return true;
        switch (node.Type()) {
        case YAML::NodeType::Scalar:
            return tag == "tag:yaml.org,2002:str";
        case YAML::NodeType::Sequence:
            return tag == "tag:yaml.org,2002:seq";
        case YAML::NodeType::Map:
            return tag == "tag:yaml.org,2002:map";
        case YAML::NodeType::Null:
            return tag == "tag:yaml.org,2002:null";
        default:
            return false;
        }
    }

    Expected<json> scalar(const YAML::Node& node) const {
        const std::string& s = node.Scalar();
        // JSON (and so every report that shows the config) holds UTF-8 only, as the JSON
        // reader requires.
        if (!isValidUtf8(s))
            return failAt(node.Mark(), "the scalar is not valid UTF-8");
        if (node.Tag() != "?") // quoted, or tagged !!str
            return json(s);
        if (s == "true" || s == "True" || s == "TRUE")
            return json(true);
        if (s == "false" || s == "False" || s == "FALSE")
            return json(false);
        if (s == ".nan" || s == ".NaN" || s == ".NAN")
            return json(std::numeric_limits<double>::quiet_NaN());

        std::string_view body = s;
        const bool negative = body.starts_with('-');
        if (negative || body.starts_with('+'))
            body.remove_prefix(1);
        if (body == ".inf" || body == ".Inf" || body == ".INF")
            return json(negative ? -std::numeric_limits<double>::infinity()
                                 : std::numeric_limits<double>::infinity());

        int base = 10;
        std::string_view digits = body;
        if (body.starts_with("0x")) {
            base = 16;
            digits.remove_prefix(2);
        } else if (body.starts_with("0o")) {
            base = 8;
            digits.remove_prefix(2);
        }
        if (!digits.empty() &&
            std::ranges::all_of(digits, [base](char ch) { return isDigitIn(ch, base); })) {
            std::uint64_t v = 0;
            const auto [end, ec] =
                std::from_chars(digits.data(), digits.data() + digits.size(), v, base);
            constexpr std::uint64_t kMaxNegative = std::uint64_t{1} << 63;
            if (ec != std::errc() || (negative && v > kMaxNegative))
                return failAt(node.Mark(), fmt::format("integer {} does not fit in 64 bits", s));
            if (!negative || v == 0)
                return json(v);
            if (v == kMaxNegative)
                return json(std::numeric_limits<std::int64_t>::min());
            return json(-static_cast<std::int64_t>(v));
        }
        if (base == 10 && isCoreFloat(body)) {
            double v = 0.0;
            const auto [end, ec] = std::from_chars(body.data(), body.data() + body.size(), v);
            if (ec == std::errc::result_out_of_range)
                return failAt(node.Mark(), fmt::format("number {} is out of range", s));
            if (ec == std::errc() && end == body.data() + body.size())
                return json(negative ? -v : v);
        }
        return json(s);
    }

    std::string_view source_;
    std::size_t maxValues_;
    std::size_t values_ = 0;
};

// Records where each document of a YAML stream starts, ignoring the content.
class YamlDocumentStarts : public YAML::EventHandler {
public:
    std::vector<YAML::Mark> starts;

    void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  const std::string&) override {}
    void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {}
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {}
    void OnMapEnd() override {}
};

// Where the YAML parser cannot go on: names the character at byte `pos` when it is printable.
std::string unexpectedText(std::string_view text, int pos) {
    if (pos >= 0 && static_cast<std::size_t>(pos) < text.size()) {
        const char ch = text[static_cast<std::size_t>(pos)];
        if (ch > ' ' && ch < 127)
            return fmt::format("unexpected '{}'", ch);
    }
    return "cannot parse the text here";
}

std::string yamlKind(const YAML::Node& node) {
    switch (node.Type()) {
    case YAML::NodeType::Null:
        return "null";
    case YAML::NodeType::Scalar:
        return fmt::format("the scalar '{}'", node.Scalar().substr(0, 40));
    case YAML::NodeType::Sequence:
        return "a sequence";
    default:
        return "nothing";
    }
}

// Reads and validates a parsed document (JSON, or YAML converted to JSON).
Expected<KpuConfig> readConfig(const json& root, std::string_view sourceName) {
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

} // namespace

bool isYamlPath(const std::string& path) {
    std::string ext = std::filesystem::path(path).extension().string();
    std::ranges::transform(ext, ext.begin(),
                           [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    return ext == ".yaml" || ext == ".yml";
}

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
    if (!root.is_object()) {
        // The top-level value has no key path: name where it starts.
        const std::size_t start = std::min(text.find_first_not_of(" \t\r\n"), text.size());
        return fail("{}:{}: error: expected a json object at the top level, got {}", sourceName,
                    positionOf(text, start + 1, ""), describe(root));
    }
    return readConfig(root, sourceName);
}

namespace {

// The JSON value of a YAML document whose top level is a mapping (YamlToJson's rules).
Expected<json> yamlTree(std::string_view text, std::string_view sourceName) {
    // yaml-cpp's LoadAll never returns on some malformed input (a ',' starting a block line
    // gives endless empty documents at one position), so the documents are counted first, at
    // most three, and only then is the first one loaded.
    YAML::Node root;
    try {
        std::istringstream in{std::string(text)};
        YAML::Parser parser(in);
        YamlDocumentStarts documents;
        while (documents.starts.size() < 3 && parser.HandleNextDocument(documents)) {
        }
        const auto& starts = documents.starts;
        if (starts.empty())
            return fail(
                "{}: error: expected a yaml mapping at the top level, got an empty document",
                sourceName);
        for (std::size_t i = 1; i < starts.size(); ++i)
            if (starts[i].pos == starts[i - 1].pos) // the parser is stuck there
                return fail("{}: error: {}", yamlPlace(sourceName, starts[i]),
                            unexpectedText(text, starts[i].pos));
        if (starts.size() > 1)
            return fail("{}: error: expected one yaml document, found another",
                        yamlPlace(sourceName, starts[1]));
        root = YAML::Load(std::string(text));
    } catch (const YAML::DeepRecursion& e) {
        // yaml-cpp 0.7 gives this one the message "bad file".
        return fail("{}: error: nesting is too deep", yamlPlace(sourceName, e.mark));
    } catch (const YAML::Exception& e) {
        return fail("{}: error: {}", yamlPlace(sourceName, e.mark), e.msg);
    } catch (const std::exception& e) {
        return fail("{}: error: {}", sourceName, e.what());
    }
    if (!root.IsMap())
        return fail("{}: error: expected a yaml mapping at the top level, got {}",
                    yamlPlace(sourceName, root.Mark()), yamlKind(root));
    Expected<json> tree;
    try {
        tree = YamlToJson(sourceName, maxYamlValues(text.size())).convert(root, "", 0);
    } catch (const YAML::Exception& e) {
        return fail("{}: error: {}", yamlPlace(sourceName, e.mark), e.msg); // not expected
    } catch (const std::exception& e) {
        return fail("{}: error: {}", sourceName, e.what()); // not expected
    }
    return tree;
}

} // namespace

Expected<std::string> yamlToJson(std::string_view text, std::string_view sourceName) {
    auto tree = yamlTree(text, sourceName);
    if (!tree)
        return std::unexpected(tree.error());
    return tree->dump(2, ' ', false, json::error_handler_t::replace);
}

Expected<KpuConfig> parseConfigYaml(std::string_view text, std::string_view sourceName) {
    auto tree = yamlTree(text, sourceName);
    if (!tree)
        return std::unexpected(tree.error());
    return readConfig(*tree, sourceName);
}

Expected<KpuConfig> loadConfigFile(const std::string& path) {
    auto text = readTextFile(path);
    if (!text)
        return std::unexpected(text.error());
    if (isYamlPath(path))
        return parseConfigYaml(*text, path);
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
        if (auto problem = levelProblem(countPath, n, capPath, capacity))
            return bad(problem->path, problem->what);
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
    if (!(c.movement.dmaBandwidthGBps >= 0.0) || !std::isfinite(c.movement.dmaBandwidthGBps))
        return bad("data_movement.dma_bandwidth_gbps",
                   fmt::format("expected a non-negative finite number, got {}",
                               c.movement.dmaBandwidthGBps));
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
    if (c.movement.dmaBandwidthGBps != 0.0) // 0, the default, means no limit of its own
        dm["dma_bandwidth_gbps"] = c.movement.dmaBandwidthGBps;
    root["data_movement"] = std::move(dm);

    ojson pa;
    pa["rows"] = c.compute.arrayRows;
    pa["cols"] = c.compute.arrayCols;
    ojson comp;
    comp["tile_count"] = c.compute.tileCount;
    comp["processor_array"] = std::move(pa);
    root["compute"] = std::move(comp);

    const EnergyConfig& e = c.energy;
    ojson energy;
    energy["mac_pj"] = ojson{{"f32", e.macF32Pj},
                             {"f16", e.macF16Pj},
                             {"f64", e.macF64Pj},
                             {"f8e4m3", e.macF8Pj},
                             {"i8", e.macI8Pj}};
    energy["vector_op_pj"] = e.vectorOpPj;
    energy["move_pj"] = e.movePj;
    energy["external_read_pj_per_byte"] = e.externalReadPjPerByte;
    energy["external_write_pj_per_byte"] = e.externalWritePjPerByte;
    // Derived figures stay unset, so the round trip keeps deriving them.
    const auto putOptional = [&](const char* key, const std::optional<double>& v) {
        if (v)
            energy[key] = *v;
    };
    putOptional("l3_read_pj_per_byte", e.l3ReadPjPerByte);
    putOptional("l3_write_pj_per_byte", e.l3WritePjPerByte);
    putOptional("l2_read_pj_per_byte", e.l2ReadPjPerByte);
    putOptional("l2_write_pj_per_byte", e.l2WritePjPerByte);
    putOptional("l1_read_pj_per_byte", e.l1ReadPjPerByte);
    putOptional("l1_write_pj_per_byte", e.l1WritePjPerByte);
    putOptional("static_power_w", e.staticPowerW);
    energy["leakage_w_per_mm2"] = e.leakageWPerMm2;
    root["energy"] = std::move(energy);
    root["area"] = ojson{{"pe_mm2", c.area.peMm2}, {"sram_mm2_per_kib", c.area.sramMm2PerKib}};

    return root.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

} // namespace kpu
