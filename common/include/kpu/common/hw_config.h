// The typed hardware configuration of one KPU, read from JSON or YAML in either of the upstream
// simulator's layouts (`configs/kpu/*` with our optional extension keys, or the system layout
// `configs/examples/*.json` with the KPU inside `accelerators[]`), or taken from the embedded
// default. All sizes are bytes, bandwidths GB/s (1e9 bytes per second), latencies clock cycles.
// docs/config.md lists every key, its unit and its default. Every key a file omits keeps the
// value below (the embedded default); unknown keys are errors.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kpu/common/error.h"

namespace kpu {

struct ExternalMemoryConfig {
    std::uint32_t bankCount = 2;
    std::uint64_t bankCapacity = 1ull << 30; // bytes per bank
    double bandwidthGBps = 100.0;            // per bank
    std::uint32_t latencyCycles = 100;       // first-byte latency of one transfer
    bool operator==(const ExternalMemoryConfig&) const = default;
};

struct L3Config {
    std::uint32_t tileCount = 4;
    std::uint64_t tileCapacity = 128ull << 10;
    double bandwidthGBps = 250.0; // per L3 tile
    std::uint32_t latencyCycles = 20;
    bool operator==(const L3Config&) const = default;
};

struct L2Config {
    std::uint32_t bankCount = 8;
    std::uint64_t bankCapacity = 64ull << 10;
    double bandwidthGBps = 500.0; // per L2 bank
    std::uint32_t latencyCycles = 10;
    bool operator==(const L2Config&) const = default;
};

struct L1Config {
    std::uint32_t bufferCount = 128; // upstream rule: 4 x (rows + cols) x compute tiles
    std::uint64_t bufferCapacity = 32ull << 10;
    double bandwidthGBps = 1000.0; // per buffer
    std::uint32_t latencyCycles = 2;
    bool operator==(const L1Config&) const = default;
};

struct DataMovementConfig {
    std::uint32_t dmaEngineCount = 2;  // external memory <-> L3
    std::uint32_t blockMoverCount = 4; // L3 <-> L2
    std::uint32_t streamerCount = 8;   // L2 <-> L1
    // Per DMA engine; 0 means no limit of its own (the memories' bandwidth limits a transfer).
    double dmaBandwidthGBps = 0.0;
    bool operator==(const DataMovementConfig&) const = default;
};

struct ComputeConfig {
    std::uint32_t tileCount = 1; // processor arrays
    std::uint32_t arrayRows = 16;
    std::uint32_t arrayCols = 16;
    bool operator==(const ComputeConfig&) const = default;
};

// The energy model's figures (docs/energy.md; keys in docs/config.md, "energy"). Defaults are
// 45 nm figures from M. Horowitz, "Computing's energy problem (and what we can do about it)",
// ISSCC 2014; an on-chip level's access energy, when not given, follows from the capacity of one
// of its memories (Horowitz's SRAM figures, see docs/energy.md), so a bigger L2 bank costs more
// per byte.
struct EnergyConfig {
    // pJ per multiply-accumulate of the array, by the element type of its A operand: a multiply
    // and an add of that width (f32 3.7 + 0.9, f16 1.1 + 0.4, 8-bit integer 0.2 + 0.03; f64 and
    // f8 scaled from those, docs/energy.md).
    double macF32Pj = 4.6, macF16Pj = 1.5, macF64Pj = 20.0, macF8Pj = 0.23, macI8Pj = 0.23;
    double vectorOpPj = 0.9; // per output element of a vector pass (an f32 add)
    double movePj = 40.0;    // per move: a 32-byte descriptor read from an 8 KB SRAM (4 x 10 pJ)
    // pJ per byte read from / written to external memory: DRAM, 1.3 nJ per 64-bit access.
    double externalReadPjPerByte = 162.5, externalWritePjPerByte = 162.5;
    // pJ per byte at L3, L2, L1; nullopt: derived from the capacity of one tile, bank or buffer.
    std::optional<double> l3ReadPjPerByte, l3WritePjPerByte;
    std::optional<double> l2ReadPjPerByte, l2WritePjPerByte;
    std::optional<double> l1ReadPjPerByte, l1WritePjPerByte;
    // Static (leakage) power in watts; nullopt: leakageWPerMm2 x the area proxy.
    std::optional<double> staticPowerW;
    double leakageWPerMm2 = 0.02;
    bool operator==(const EnergyConfig&) const = default;
};

// The area proxy (docs/energy.md): processing elements and SRAM, 45 nm figures.
struct AreaConfig {
    double peMm2 = 0.0119;         // an f32 multiplier (7700 um^2) and adder (4184 um^2), Horowitz
    double sramMm2PerKib = 0.0045; // 8192 cells of 0.346 um^2 (Intel 45 nm) at 63% array efficiency
    bool operator==(const AreaConfig&) const = default;
};

struct KpuConfig {
    std::string name = "default";
    std::string source = "<embedded default>"; // file it came from, for messages and reports
    double clockGHz = 1.0;
    ExternalMemoryConfig external;
    L3Config l3;
    L2Config l2;
    L1Config l1;
    DataMovementConfig movement;
    ComputeConfig compute;
    EnergyConfig energy;
    AreaConfig area;

    // Bytes a transfer moves per clock cycle at `bandwidthGBps`.
    double bytesPerCycle(double bandwidthGBps) const { return bandwidthGBps / clockGHz; }

    bool operator==(const KpuConfig&) const = default;
};

// The embedded default (BRIEF §5): 2 x 1 GiB external banks @ 100 GB/s, 4 x 128 KiB L3 tiles,
// 8 x 64 KiB L2 banks, 32 KiB L1 buffers, one 16x16 array at 1 GHz, 2 DMA engines,
// 4 BlockMovers, 8 Streamers; L3 250, L2 500, L1 1000 GB/s.
KpuConfig defaultConfig();

// Parses a JSON configuration in either layout (and validates it). `sourceName` becomes
// KpuConfig::source and starts every error message, which names the key path:
//   "kpu.json: error: on_chip_memory.l2.bank_count: expected a positive integer, got -3"
//   "kpu.json: error: on_chip_memory.l2.bank_cout: unknown key, did you mean 'bank_count'?"
//   "kpu.json:3:17: error: syntax error while parsing ..." (JSON syntax errors)
Expected<KpuConfig> parseConfigJson(std::string_view text, std::string_view sourceName);

// Parses a YAML configuration: the YAML tree is converted to the JSON value parseConfigJson
// reads, so the key rules and messages are the same; YAML syntax errors give line:column.
Expected<KpuConfig> parseConfigYaml(std::string_view text, std::string_view sourceName);

// Converts a YAML document whose top level is a mapping to JSON text, by the rules
// parseConfigYaml uses (YAML 1.2 core schema scalars; aliases expanded within limits); errors
// name line:column. kpu-sweep reads YAML sweep specs with it.
Expected<std::string> yamlToJson(std::string_view text, std::string_view sourceName);

// Whether a path names a YAML file: its extension is .yaml or .yml, in any case.
bool isYamlPath(const std::string& path);

// Reads and parses a configuration file: YAML when the extension is .yaml or .yml, JSON
// otherwise. KpuConfig::source is the path.
Expected<KpuConfig> loadConfigFile(const std::string& path);

// Checks every field (non-zero counts, capacities, bandwidths, clock; a DMA bandwidth that is
// finite and not negative; capacities at most kMaxUnitCapacity per bank/tile/buffer and
// kMaxLevelCapacity per level; array rows and cols at most kMaxArrayDim). Errors read
// "<config.source>: error: <key path>: <what>".
Expected<void> validateConfig(const KpuConfig& config);

inline constexpr std::uint64_t kMaxUnitCapacity = 1ull << 40;  // 1 TiB per bank, tile or buffer
inline constexpr std::uint64_t kMaxLevelCapacity = 1ull << 48; // 256 TiB per memory level
inline constexpr std::uint32_t kMaxArrayDim = 4096;

// The configuration as JSON in our own layout (round-trips through parseConfigJson).
std::string configToJson(const KpuConfig& config);

} // namespace kpu
