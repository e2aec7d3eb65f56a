#include <string>

#include <gtest/gtest.h>

#include "kpu/common/hw_config.h"

namespace kpu {
namespace {

const std::string kFixtures = std::string(KPU_FIXTURES_DIR) + "/config/";
const std::string kUpstream = std::string(KPU_SHARED_DIR) + "/kpu-configs/upstream/";

TEST(HwConfig, DefaultMatchesBrief) {
    const KpuConfig c = defaultConfig();
    EXPECT_EQ(c.external.bankCount, 2u);
    EXPECT_EQ(c.external.bankCapacity, 1ull << 30);
    EXPECT_EQ(c.external.bandwidthGBps, 100.0);
    EXPECT_EQ(c.l3.tileCount, 4u);
    EXPECT_EQ(c.l3.tileCapacity, 128u * 1024);
    EXPECT_EQ(c.l3.bandwidthGBps, 250.0);
    EXPECT_EQ(c.l2.bankCount, 8u);
    EXPECT_EQ(c.l2.bankCapacity, 64u * 1024);
    EXPECT_EQ(c.l2.bandwidthGBps, 500.0);
    EXPECT_EQ(c.l1.bufferCapacity, 32u * 1024);
    EXPECT_EQ(c.l1.bufferCount, 4u * (16 + 16) * 1);
    EXPECT_EQ(c.l1.bandwidthGBps, 1000.0);
    EXPECT_EQ(c.compute.arrayRows, 16u);
    EXPECT_EQ(c.compute.arrayCols, 16u);
    EXPECT_EQ(c.compute.tileCount, 1u);
    EXPECT_EQ(c.clockGHz, 1.0);
    EXPECT_EQ(c.movement.dmaEngineCount, 2u);
    EXPECT_EQ(c.movement.blockMoverCount, 4u);
    EXPECT_EQ(c.movement.streamerCount, 8u);
    EXPECT_TRUE(validateConfig(c));
}

TEST(HwConfig, EmptyObjectKeepsEveryDefault) {
    auto c = parseConfigJson("{}", "empty.json");
    ASSERT_TRUE(c) << c.error().message;
    KpuConfig expected = defaultConfig();
    expected.source = "empty.json";
    EXPECT_EQ(*c, expected);
}

TEST(HwConfig, LoadsUpstreamMinimalAsIs) {
    const std::string path = kUpstream + "kpu_minimal.json";
    auto c = loadConfigFile(path);
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->name, "Minimal KPU");
    EXPECT_EQ(c->source, path);
    EXPECT_EQ(c->external.bankCount, 1u);
    EXPECT_EQ(c->external.bankCapacity, 256ull << 20);
    EXPECT_EQ(c->external.bandwidthGBps, 50.0);
    EXPECT_EQ(c->l3.tileCount, 1u);
    EXPECT_EQ(c->l3.tileCapacity, 64u << 10);
    EXPECT_EQ(c->l2.bankCount, 4u);
    EXPECT_EQ(c->l2.bankCapacity, 32u << 10);
    EXPECT_EQ(c->l1.bufferCapacity, 32u << 10);
    EXPECT_EQ(c->l1.bufferCount, 4u * (8 + 8) * 1); // upstream derivation
    EXPECT_EQ(c->movement.dmaEngineCount, 1u);
    EXPECT_EQ(c->movement.blockMoverCount, 1u);
    EXPECT_EQ(c->movement.streamerCount, 4u);
    EXPECT_EQ(c->compute.tileCount, 1u);
    EXPECT_EQ(c->compute.arrayRows, 8u);
    EXPECT_EQ(c->compute.arrayCols, 8u);
    // Not in the upstream file: our documented defaults.
    const KpuConfig d = defaultConfig();
    EXPECT_EQ(c->clockGHz, d.clockGHz);
    EXPECT_EQ(c->external.latencyCycles, d.external.latencyCycles);
    EXPECT_EQ(c->l3.bandwidthGBps, d.l3.bandwidthGBps);
    EXPECT_EQ(c->l2.bandwidthGBps, d.l2.bandwidthGBps);
    EXPECT_EQ(c->l1.bandwidthGBps, d.l1.bandwidthGBps);
    EXPECT_EQ(c->l1.latencyCycles, d.l1.latencyCycles);
}

// kpu_datacenter.yaml, transcribed to JSON (address_map values as strings, as JSON has no hex).
constexpr const char* kDatacenter = R"({
  "name": "Datacenter KPU",
  "description": "256-tile configuration for datacenter-scale AI workloads",
  "host_memory": { "region_count": 4, "region_capacity_mb": 16384, "bandwidth_gbps": 200 },
  "external_memory": { "bank_count": 6, "bank_capacity_mb": 4096, "bandwidth_gbps": 800 },
  "memory_controller": { "controller_count": 6, "page_buffer_count": 32, "page_buffer_capacity_kb": 128 },
  "on_chip_memory": {
    "l3": { "tile_count": 256, "tile_capacity_kb": 512 },
    "l2": { "bank_count": 4096, "bank_capacity_kb": 128 },
    "l1": { "buffer_capacity_kb": 128 }
  },
  "data_movement": { "dma_engine_count": 32, "block_mover_count": 256, "streamer_count": 1024 },
  "compute": {
    "tile_count": 256,
    "processor_array": { "rows": 32, "cols": 32, "topology": "rectangular" },
    "systolic_mode": true
  },
  "address_map": {
    "host_memory_base": "0x0000000000000000",
    "external_memory_base": 68719476736,
    "l3_tile_base": "0x0000002000000000",
    "l2_bank_base": "0x0000003000000000",
    "l1_buffer_base": "0x0000004000000000",
    "page_buffer_base": "0x0000005000000000"
  }
})";

TEST(HwConfig, LoadsUpstreamDatacenterLayout) {
    auto c = parseConfigJson(kDatacenter, "datacenter.json");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->l1.bufferCount, 65536u); // 4 x (32 + 32) x 256
    EXPECT_EQ(c->external.bankCapacity, 4ull << 30);
    EXPECT_EQ(c->l2.bankCount, 4096u);
}

TEST(HwConfig, ExplicitBufferCountWins) {
    auto c = parseConfigJson(R"({"on_chip_memory": {"l1": {"buffer_capacity_kb": 64,
        "buffer_count": 12288}}, "compute": {"tile_count": 64}})",
                             "embodied.json");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->l1.bufferCount, 12288u);
}

TEST(HwConfig, Extensions) {
    auto c = parseConfigJson(R"({
      "clock_ghz": 1.5,
      "external_memory": { "latency_cycles": 250 },
      "on_chip_memory": {
        "l3": { "bandwidth_gbps": 300.5, "latency_cycles": 30 },
        "l2": { "bandwidth_gbps": 600, "latency_cycles": 12 },
        "l1": { "bandwidth_gbps": 1200, "latency_cycles": 0, "buffer_capacity_bytes": 1536 }
      },
      "data_movement": { "dma_bandwidth_gbps": 37.5 }
    })",
                             "ext.json");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->clockGHz, 1.5);
    EXPECT_EQ(c->external.latencyCycles, 250u);
    EXPECT_EQ(c->l3.bandwidthGBps, 300.5);
    EXPECT_EQ(c->l3.latencyCycles, 30u);
    EXPECT_EQ(c->l2.bandwidthGBps, 600.0);
    EXPECT_EQ(c->l2.latencyCycles, 12u);
    EXPECT_EQ(c->l1.bandwidthGBps, 1200.0);
    EXPECT_EQ(c->l1.latencyCycles, 0u);
    EXPECT_EQ(c->l1.bufferCapacity, 1536u);
    EXPECT_DOUBLE_EQ(c->bytesPerCycle(c->l3.bandwidthGBps), 300.5 / 1.5);
    EXPECT_EQ(c->movement.dmaBandwidthGBps, 37.5);
    // 0 is the default: no limit of its own.
    EXPECT_EQ(defaultConfig().movement.dmaBandwidthGBps, 0.0);
    auto zero = parseConfigJson(R"({"data_movement": {"dma_bandwidth_gbps": 0}})", "zero.json");
    ASSERT_TRUE(zero) << zero.error().message;
    EXPECT_EQ(zero->movement.dmaBandwidthGBps, 0.0);
}

TEST(HwConfig, AlternativeCapacityUnits) {
    auto c = parseConfigJson(R"({"external_memory": {"bank_capacity_gb": 2},
        "on_chip_memory": {"l3": {"tile_capacity_mb": 1}, "l2": {"bank_capacity_bytes": 4096}}})",
                             "units.json");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->external.bankCapacity, 2ull << 30);
    EXPECT_EQ(c->l3.tileCapacity, 1ull << 20);
    EXPECT_EQ(c->l2.bankCapacity, 4096u);
}

TEST(HwConfig, JsonRoundTrip) {
    std::vector<KpuConfig> configs;
    configs.push_back(defaultConfig());
    auto minimal = loadConfigFile(kUpstream + "kpu_minimal.json");
    ASSERT_TRUE(minimal);
    configs.push_back(*minimal);
    auto datacenter = parseConfigJson(kDatacenter, "datacenter.json");
    ASSERT_TRUE(datacenter);
    configs.push_back(*datacenter);
    KpuConfig odd = defaultConfig();
    odd.name = "odd \"quoted\" name";
    odd.clockGHz = 1.2345678901234567;
    odd.external.bankCapacity = 3ull << 10; // not a whole MB: written in kb
    odd.external.bandwidthGBps = 0.1;
    odd.l3.tileCapacity = 1000; // not a whole kb: written in bytes
    odd.l2.bankCapacity = 2ull << 20;
    odd.l1.bufferCount = 7; // not the derived value: must be written
    odd.l1.latencyCycles = 0;
    odd.compute.arrayRows = 4096;
    odd.compute.arrayCols = 3;
    odd.movement.dmaBandwidthGBps = 12.5;
    odd.energy.macF16Pj = 0.75;
    odd.energy.l2WritePjPerByte = 9.5;
    odd.energy.staticPowerW = 0.0;
    odd.area.peMm2 = 0.002;
    configs.push_back(odd);
    for (KpuConfig& c : configs) {
        c.source = "roundtrip.json";
        const std::string text = configToJson(c);
        auto back = parseConfigJson(text, "roundtrip.json");
        ASSERT_TRUE(back) << back.error().message << "\n" << text;
        EXPECT_EQ(*back, c) << text;
    }
    const std::string text = configToJson(odd);
    EXPECT_NE(text.find("\"bank_capacity_kb\": 3"), std::string::npos) << text;
    EXPECT_NE(text.find("\"tile_capacity_bytes\": 1000"), std::string::npos) << text;
    EXPECT_NE(text.find("\"bank_capacity_kb\": 2048"), std::string::npos) << text;
    EXPECT_NE(text.find("\"dma_bandwidth_gbps\": 12.5"), std::string::npos) << text;
    // Written only when set: the default has no limit of its own.
    EXPECT_EQ(configToJson(defaultConfig()).find("dma_bandwidth_gbps"), std::string::npos);
}

// The energy and area sections (docs/config.md): every figure optional, derived ones stay
// unset, and mistakes are named by key path.
TEST(HwConfig, EnergyAndAreaKeys) {
    auto c = parseConfigJson(R"({"energy": {"mac_pj": {"f32": 3.0, "i8": 0.1}, "move_pj": 0,
                                 "l1_read_pj_per_byte": 1.25, "static_power_w": 0.25},
                                 "area": {"sram_mm2_per_kib": 0.01}})",
                             "e.json");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->energy.macF32Pj, 3.0);
    EXPECT_EQ(c->energy.macI8Pj, 0.1);
    EXPECT_EQ(c->energy.macF16Pj, 1.5); // default kept
    EXPECT_EQ(c->energy.movePj, 0.0);
    EXPECT_EQ(c->energy.l1ReadPjPerByte, 1.25);
    EXPECT_FALSE(c->energy.l1WritePjPerByte); // derived from the capacity
    EXPECT_EQ(c->energy.staticPowerW, 0.25);
    EXPECT_EQ(c->area.sramMm2PerKib, 0.01);
    EXPECT_EQ(c->area.peMm2, 0.0119);
    const std::pair<const char*, const char*> bad[] = {
        {R"({"energy": {"mac_pj": {"f33": 1}}})",
         "e.json: error: energy.mac_pj.f33: unknown key, did you mean 'f32'?"},
        {R"({"energy": {"move_pj": -1}})",
         "e.json: error: energy.move_pj: expected a non-negative number, got -1"},
        {R"({"area": {"pe_mm2": "big"}})",
         "e.json: error: area.pe_mm2: expected a non-negative number, got \"big\""}};
    for (const auto& [text, message] : bad) {
        auto refused = parseConfigJson(text, "e.json");
        ASSERT_FALSE(refused) << text;
        EXPECT_EQ(refused.error().message, message);
    }
}

TEST(HwConfig, ValidateCatchesProgrammaticErrors) {
    KpuConfig c = defaultConfig();
    c.clockGHz = 0.0;
    auto r = validateConfig(c);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              "<embedded default>: error: clock_ghz: expected a positive finite number, got 0");

    c = defaultConfig();
    c.l2.bandwidthGBps = std::numeric_limits<double>::infinity();
    r = validateConfig(c);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "<embedded default>: error: on_chip_memory.l2.bandwidth_gbps: "
                                 "expected a positive finite number, got inf");

    c = defaultConfig();
    c.movement.streamerCount = 0;
    r = validateConfig(c);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "<embedded default>: error: data_movement.streamer_count: "
                                 "expected a positive integer, got 0");

    c = defaultConfig();
    c.l1.bufferCount = 4'000'000'000u;
    c.l1.bufferCapacity = 1ull << 40;
    r = validateConfig(c);
    ASSERT_FALSE(r);
    EXPECT_EQ(
        r.error().message,
        "<embedded default>: error: on_chip_memory.l1.buffer_capacity_kb: total capacity "
        "4000000000 x 1099511627776 bytes exceeds the limit of 281474976710656 bytes (256 TiB)");

    c = defaultConfig();
    c.movement.dmaBandwidthGBps = -1.0;
    r = validateConfig(c);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "<embedded default>: error: data_movement.dma_bandwidth_gbps: "
                                 "expected a non-negative finite number, got -1");
    c.movement.dmaBandwidthGBps = std::numeric_limits<double>::quiet_NaN();
    EXPECT_FALSE(validateConfig(c));

    c = defaultConfig();
    c.l3.tileCapacity = 0;
    r = validateConfig(c);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "<embedded default>: error: on_chip_memory.l3.tile_capacity_kb: "
                                 "expected a positive capacity, got 0 bytes");
}

TEST(HwConfig, SyntaxErrorPositionFromByteOffset) {
    auto r = parseConfigJson("{\n  \"a\": 1,\n  \"b\": ]\n}", "pos.json");
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().message.starts_with("pos.json:3:8: error: ")) << r.error().message;
    r = parseConfigJson("{\"clock_ghz\": tru}", "lit.json");
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().message.starts_with("lit.json:1:15: error: ")) << r.error().message;
    r = parseConfigJson("{\"clock_ghz\": 1e999}", "big.json");
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().message.starts_with("big.json")) << r.error().message;
    r = parseConfigJson(std::string(20000, '[') + std::string(20000, ']'), "deep.json");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message,
              "deep.json:1:1: error: expected a json object at the top level, got an array");
    r = parseConfigJson("{\"a\": 12]", "close.json");
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().message.starts_with("close.json:1:9: error: ")) << r.error().message;
    r = parseConfigJson("", "empty.json");
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().message.starts_with("empty.json:1:1: error: ")) << r.error().message;
}

TEST(HwConfig, MissingFile) {
    auto r = loadConfigFile(kFixtures + "nope.json");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("nope.json: error: cannot open file"), std::string::npos);
}

struct BadCase {
    const char* file;
    const char* message; // after "<path>" (which may be followed by ":line:col")
};

TEST(HwConfig, CorruptFixturesGiveSpecificErrors) {
    const BadCase cases[] = {
        {"bad_negative_count.json",
         ": error: on_chip_memory.l2.bank_count: expected a positive integer, got -3"},
        {"bad_typo_key.json",
         ": error: on_chip_memory.l2.bank_cout: unknown key, did you mean 'bank_count'?"},
        {"bad_unknown_key.json", ": error: frobnicate: unknown key"},
        {"bad_syntax.json", ":3:3: error: syntax error while parsing object - unexpected string "
                            "literal; expected '}'"},
        {"bad_type_string.json", ": error: compute.processor_array.rows: expected a positive "
                                 "integer, got \"eight\""},
        {"bad_zero_bandwidth.json",
         ": error: external_memory.bandwidth_gbps: expected a positive number, got 0"},
        {"bad_rows_too_big.json",
         ": error: compute.processor_array.rows: expected at most 4096, got 5000"},
        {"bad_capacity_overflow.json", ": error: external_memory.bank_capacity_mb: "
                                       "18446744073709551615 overflows a 64-bit byte count"},
        {"bad_capacity_absurd.json",
         ": error: external_memory.bank_capacity_mb: capacity of 4398046511104 bytes exceeds the "
         "limit of 1099511627776 bytes (1 TiB)"},
        {"bad_duplicate_key.json", ": error: data_movement.dma_engine_count: duplicate key"},
        {"bad_not_object.json",
         ":1:1: error: expected a json object at the top level, got an array"},
        {"bad_section_type.json", ": error: compute: expected an object, got 4"},
        {"bad_conflicting_units.json", ": error: on_chip_memory.l3.tile_capacity_kb: conflicts "
                                       "with 'tile_capacity_mb'; give one"},
        {"bad_fractional_count.json",
         ": error: on_chip_memory.l3.tile_count: expected a positive integer, got 2.5"},
        {"bad_systolic_type.json",
         ": error: compute.systolic_mode: expected true or false, got \"yes\""},
        {"bad_host_memory_type.json",
         ": error: host_memory.region_count: expected a non-negative number, got \"one\""},
        {"bad_negative_clock.json", ": error: clock_ghz: expected a positive number, got -1.5"},
        {"bad_unterminated.json",
         ":4:1: error: syntax error while parsing object key - unexpected end of input; expected "
         "string literal"},
        {"bad_count_too_large.json", ": error: data_movement.streamer_count: expected a positive "
                                     "integer at most 4294967295, got 4294967296"},
        {"bad_latency_negative.json",
         ": error: on_chip_memory.l1.latency_cycles: expected a non-negative integer, got -1"},
        {"bad_dma_bandwidth_negative.json",
         ": error: data_movement.dma_bandwidth_gbps: expected a non-negative number, got -5"},
    };
    for (const BadCase& c : cases) {
        const std::string path = kFixtures + c.file;
        auto r = loadConfigFile(path);
        ASSERT_FALSE(r) << c.file;
        EXPECT_EQ(r.error().message, path + c.message) << c.file;
    }
}

} // namespace
} // namespace kpu
