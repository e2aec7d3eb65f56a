// Every upstream configuration (../shared/kpu-configs/upstream/) loads as it is: the `kpu`
// layout in JSON and YAML, and the system layout with the KPU inside `accelerators[]`. Also the
// YAML reader's own rules and the system layout's error messages.
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "kpu/common/file_io.h"
#include "kpu/common/hw_config.h"
#include "support/run_command.h"

namespace kpu {
namespace {

const std::string kFixtures = std::string(KPU_FIXTURES_DIR) + "/config/";
const std::string kUpstream = std::string(KPU_SHARED_DIR) + "/kpu-configs/upstream/";

constexpr std::uint64_t kKiB = 1ull << 10;
constexpr std::uint64_t kMiB = 1ull << 20;

::testing::AssertionResult sameConfig(const KpuConfig& actual, const KpuConfig& expected) {
    if (actual == expected)
        return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "source '" << actual.source << "' vs '" << expected.source << "'\ngot:\n"
           << configToJson(actual) << "expected:\n"
           << configToJson(expected);
}

struct UpstreamCase {
    std::string file;
    KpuConfig expected;
};

// What each upstream file describes; everything else keeps the embedded default (clock 1 GHz,
// on-chip bandwidths and latencies, L1 capacity in the system layout).
std::vector<UpstreamCase> upstreamCases() {
    std::vector<UpstreamCase> cases;
    auto add = [&](const std::string& file, auto fill) {
        KpuConfig c = defaultConfig();
        c.source = kUpstream + file;
        fill(c);
        cases.push_back({file, c});
    };
    // The `kpu` layout.
    auto minimal = [](KpuConfig& c) {
        c.name = "Minimal KPU";
        c.external.bankCount = 1;
        c.external.bankCapacity = 256 * kMiB;
        c.external.bandwidthGBps = 50;
        c.l3.tileCount = 1;
        c.l3.tileCapacity = 64 * kKiB;
        c.l2.bankCount = 4;
        c.l2.bankCapacity = 32 * kKiB;
        c.l1.bufferCapacity = 32 * kKiB;
        c.l1.bufferCount = 4 * (8 + 8) * 1;
        c.movement.dmaEngineCount = 1;
        c.movement.blockMoverCount = 1;
        c.movement.streamerCount = 4;
        c.compute.tileCount = 1;
        c.compute.arrayRows = 8;
        c.compute.arrayCols = 8;
    };
    add("kpu_minimal.json", minimal);
    add("kpu_minimal.yaml", minimal);
    add("kpu_edge_ai.yaml", [](KpuConfig& c) {
        c.name = "Edge AI KPU";
        c.external.bankCount = 2;
        c.external.bankCapacity = 512 * kMiB;
        c.external.bandwidthGBps = 100;
        c.l3.tileCount = 2;
        c.l3.tileCapacity = 128 * kKiB;
        c.l2.bankCount = 16;
        c.l2.bankCapacity = 64 * kKiB;
        c.l1.bufferCapacity = 64 * kKiB;
        c.l1.bufferCount = 4 * (16 + 16) * 2; // 256
        c.movement.dmaEngineCount = 2;
        c.movement.blockMoverCount = 4;
        c.movement.streamerCount = 16;
        c.compute.tileCount = 2;
        c.compute.arrayRows = 16;
        c.compute.arrayCols = 16;
    });
    add("kpu_datacenter.yaml", [](KpuConfig& c) {
        c.name = "Datacenter KPU";
        c.external.bankCount = 6;
        c.external.bankCapacity = 4096 * kMiB;
        c.external.bandwidthGBps = 800;
        c.l3.tileCount = 256;
        c.l3.tileCapacity = 512 * kKiB;
        c.l2.bankCount = 4096;
        c.l2.bankCapacity = 128 * kKiB;
        c.l1.bufferCapacity = 128 * kKiB;
        c.l1.bufferCount = 4 * (32 + 32) * 256; // 65536
        c.movement.dmaEngineCount = 32;
        c.movement.blockMoverCount = 256;
        c.movement.streamerCount = 1024;
        c.compute.tileCount = 256;
        c.compute.arrayRows = 32;
        c.compute.arrayCols = 32;
    });
    add("kpu_embodied_ai.yaml", [](KpuConfig& c) {
        // No name in the file: the default name stays.
        c.external.bankCount = 8;
        c.external.bankCapacity = 512 * kMiB;
        c.external.bandwidthGBps = 25;
        c.l3.tileCount = 64;
        c.l3.tileCapacity = 256 * kKiB;
        c.l2.bankCount = 1024;
        c.l2.bankCapacity = 64 * kKiB;
        c.l1.bufferCapacity = 64 * kKiB;
        c.l1.bufferCount = 12288; // given explicitly (and equal to 4 x (24 + 24) x 64)
        c.movement.dmaEngineCount = 8;
        c.movement.blockMoverCount = 64;
        c.movement.streamerCount = 256;
        c.compute.tileCount = 64;
        c.compute.arrayRows = 24;
        c.compute.arrayCols = 24;
    });
    // The system layout: latency_ns becomes cycles at the default 1 GHz, dma_engines[] gives
    // the DMA bandwidth, L1 is derived with the default buffer capacity.
    add("examples_minimal_kpu.json", [](KpuConfig& c) {
        c.name = "Minimal KPU System";
        c.external.bankCount = 2;
        c.external.bankCapacity = 1024 * kMiB;
        c.external.bandwidthGBps = 100;
        c.external.latencyCycles = 20;
        c.l3.tileCount = 4;
        c.l3.tileCapacity = 128 * kKiB;
        c.l2.bankCount = 8;
        c.l2.bankCapacity = 64 * kKiB;
        c.l1.bufferCount = 4 * (16 + 16) * 2; // 256
        c.movement.dmaEngineCount = 2;
        c.movement.dmaBandwidthGBps = 50;
        c.movement.blockMoverCount = 4;
        c.movement.streamerCount = 8;
        c.compute.tileCount = 2;
        c.compute.arrayRows = 16;
        c.compute.arrayCols = 16;
    });
    add("examples_edge_ai.json", [](KpuConfig& c) {
        c.name = "Edge AI System";
        c.external.bankCount = 1;
        c.external.bankCapacity = 512 * kMiB;
        c.external.bandwidthGBps = 68;
        c.external.latencyCycles = 50;
        c.l3.tileCount = 2;
        c.l3.tileCapacity = 256 * kKiB;
        c.l2.bankCount = 4;
        c.l2.bankCapacity = 128 * kKiB;
        c.l1.bufferCount = 4 * (8 + 8) * 1; // 64
        c.movement.dmaEngineCount = 1;
        c.movement.dmaBandwidthGBps = 34;
        c.movement.blockMoverCount = 2;
        c.movement.streamerCount = 4;
        c.compute.tileCount = 1;
        c.compute.arrayRows = 8;
        c.compute.arrayCols = 8;
    });
    add("examples_datacenter_hbm.json", [](KpuConfig& c) {
        c.name = "Datacenter AI Cluster Node";
        c.external.bankCount = 4;
        c.external.bankCapacity = 8192 * kMiB;
        c.external.bandwidthGBps = 819;
        c.external.latencyCycles = 10;
        c.l3.tileCount = 8;
        c.l3.tileCapacity = 512 * kKiB;
        c.l2.bankCount = 16;
        c.l2.bankCapacity = 256 * kKiB;
        c.l1.bufferCount = 4 * (32 + 32) * 4; // 1024
        c.movement.dmaEngineCount = 4;
        c.movement.dmaBandwidthGBps = 200;
        c.movement.blockMoverCount = 8;
        c.movement.streamerCount = 16;
        c.compute.tileCount = 4;
        c.compute.arrayRows = 32;
        c.compute.arrayCols = 32;
    });
    return cases;
}

TEST(UpstreamConfigs, TheCasesCoverEveryUpstreamFile) {
    std::vector<std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(kUpstream))
        if (entry.path().filename() != "README.md")
            files.push_back(entry.path().filename().string());
    std::ranges::sort(files);
    std::vector<std::string> covered;
    for (const UpstreamCase& c : upstreamCases())
        covered.push_back(c.file);
    std::ranges::sort(covered);
    EXPECT_EQ(files, covered);
    EXPECT_EQ(files.size(), 8u);
}

TEST(UpstreamConfigs, EveryFileLoadsWithTheExpectedValues) {
    for (const UpstreamCase& c : upstreamCases()) {
        auto loaded = loadConfigFile(kUpstream + c.file);
        ASSERT_TRUE(loaded) << loaded.error().message;
        EXPECT_TRUE(sameConfig(*loaded, c.expected)) << c.file;
        // What we write reads back the same.
        auto back = parseConfigJson(configToJson(*loaded), loaded->source);
        ASSERT_TRUE(back) << back.error().message;
        EXPECT_TRUE(sameConfig(*back, *loaded)) << c.file;
    }
}

// A YAML file and its JSON twin give the same configuration.
TEST(UpstreamConfigs, YamlAndJsonTwinsAreEqual) {
    const std::pair<std::string, std::string> twins[] = {
        {kUpstream + "kpu_minimal.yaml", kUpstream + "kpu_minimal.json"},
        {kFixtures + "equivalent.yaml", kFixtures + "equivalent.json"},
        {kFixtures + "system_edge_ai.yaml", kUpstream + "examples_edge_ai.json"},
    };
    for (const auto& [yamlPath, jsonPath] : twins) {
        auto fromYaml = loadConfigFile(yamlPath);
        ASSERT_TRUE(fromYaml) << fromYaml.error().message;
        auto fromJson = loadConfigFile(jsonPath);
        ASSERT_TRUE(fromJson) << fromJson.error().message;
        fromYaml->source = fromJson->source;
        EXPECT_TRUE(sameConfig(*fromYaml, *fromJson)) << yamlPath;
    }
    // The twins are not just defaults.
    auto twin = loadConfigFile(kFixtures + "equivalent.yaml");
    ASSERT_TRUE(twin);
    EXPECT_EQ(twin->clockGHz, 1.25);
    EXPECT_EQ(twin->external.bankCapacity, 2ull << 30);
    EXPECT_EQ(twin->l2.bandwidthGBps, 400.0); // through an alias
    EXPECT_EQ(twin->l2.latencyCycles, 8u);    // 0x8
    EXPECT_EQ(twin->l1.latencyCycles, 3u);    // 0o3
    EXPECT_EQ(twin->l1.bufferCapacity, 16384u);
    EXPECT_EQ(twin->l1.bufferCount, 4u * (8 + 16) * 2);
    EXPECT_EQ(twin->movement.dmaBandwidthGBps, 32.0);
}

TEST(ConfigFiles, FormatFollowsTheExtension) {
    test::ScratchDir dir("config_ext");
    const std::string yaml = "compute: {tile_count: 3}\n";
    for (const char* name : {"a.yaml", "b.yml", "c.YAML"}) {
        ASSERT_TRUE(writeTextFile(dir.file(name), yaml));
        auto c = loadConfigFile(dir.file(name));
        ASSERT_TRUE(c) << c.error().message;
        EXPECT_EQ(c->compute.tileCount, 3u) << name;
    }
    // Anything else is JSON.
    ASSERT_TRUE(writeTextFile(dir.file("d.conf"), yaml));
    auto r = loadConfigFile(dir.file("d.conf"));
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().message.starts_with(dir.file("d.conf") + ":1:1: error: syntax error"))
        << r.error().message;
}

TEST(YamlConfig, PlainScalarsFollowTheCoreSchema) {
    auto c = parseConfigYaml(R"(
external_memory: {bank_count: +3, bank_capacity_mb: 0x100, bandwidth_gbps: 1e2, latency_cycles: 0o17}
on_chip_memory: {l3: {bandwidth_gbps: .5e3}, l2: {bandwidth_gbps: 12.}}
compute: {systolic_mode: False, processor_array: {topology: ~}}
)",
                             "core.yaml");
    ASSERT_FALSE(c); // topology: ~ is null, not a string
    EXPECT_EQ(c.error().message,
              "core.yaml: error: compute.processor_array.topology: expected a string, got null");
    c = parseConfigYaml(R"(
external_memory: {bank_count: +3, bank_capacity_mb: 0x100, bandwidth_gbps: 1e2, latency_cycles: 0o17}
on_chip_memory: {l3: {bandwidth_gbps: .5e3}, l2: {bandwidth_gbps: 12.}}
compute: {systolic_mode: False, processor_array: {topology: "~"}}
address_map: {l1_buffer_base: 0xFFFFFFFFFFFFFFFF, l2_bank_base: '0x10'}
)",
                        "core.yaml");
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->external.bankCount, 3u);
    EXPECT_EQ(c->external.bankCapacity, 256ull << 20);
    EXPECT_EQ(c->external.bandwidthGBps, 100.0);
    EXPECT_EQ(c->external.latencyCycles, 15u);
    EXPECT_EQ(c->l3.bandwidthGBps, 500.0);
    EXPECT_EQ(c->l2.bandwidthGBps, 12.0);
}

TEST(YamlConfig, ErrorsNameThePlace) {
    const std::pair<const char*, const char*> cases[] = {
        // Quoted scalars are strings.
        {"compute: {tile_count: \"4\"}",
         "t.yaml: error: compute.tile_count: expected a positive integer, got \"4\""},
        {"compute: {tile_count: 4.0}",
         "t.yaml: error: compute.tile_count: expected a positive integer, got 4.0"},
        {"compute: {tile_count: -2}",
         "t.yaml: error: compute.tile_count: expected a positive integer, got -2"},
        {"compute: {tile_count: }",
         "t.yaml: error: compute.tile_count: expected a positive integer, got null"},
        {"compute: {systolic_mode: yes}", // YAML 1.1 booleans are strings in YAML 1.2
         "t.yaml: error: compute.systolic_mode: expected true or false, got \"yes\""},
        {"clock_ghz: .inf", "t.yaml: error: clock_ghz: expected a positive number, got inf"},
        {"clock_ghz: .nan", "t.yaml: error: clock_ghz: expected a positive number, got nan"},
        {"data_movement: {dma_bandwidth_gbps: -.inf}",
         "t.yaml: error: data_movement.dma_bandwidth_gbps: expected a non-negative number, got "
         "-inf"},
        {"compute:\n  tile_count: 99999999999999999999",
         "t.yaml:2:15: error: integer 99999999999999999999 does not fit in 64 bits"},
        {"clock_ghz: 1e999", "t.yaml:1:12: error: number 1e999 is out of range"},
        {"compute: !!map {tile_count: !!int 4}", "t.yaml:1:29: error: unsupported yaml tag "
                                                 "'tag:yaml.org,2002:int'"},
        {"compute: {tile_count: &n 4}\ndata_movement: {streamer_count: *n, *n : 1}",
         "t.yaml: error: data_movement.4: unknown key"},
        {"? [a, b]\n: 1", "t.yaml:1:3: error: a mapping key must be a scalar"},
        {"a: &x [*x]", "t.yaml:1:4: error: nested more than 64 levels deep (a recursive alias?)"},
        {"compute: {tile_count: 1}\n---\ncompute: {tile_count: 2}",
         "t.yaml:2:1: error: expected one yaml document, found another"},
        // yaml-cpp 0.7's LoadAll never returns on this one.
        {"# comment\n,name: x", "t.yaml:2:1: error: unexpected ','"},
        {"compute: {tile_count: 1}\n,name: x", "t.yaml:2:1: error: end of map not found"},
        {"", "t.yaml: error: expected a yaml mapping at the top level, got an empty document"},
        {"# only a comment\n",
         "t.yaml: error: expected a yaml mapping at the top level, got an empty document"},
        {"just text", "t.yaml:1:1: error: expected a yaml mapping at the top level, got the "
                      "scalar 'just text'"},
        {"~", "t.yaml:1:1: error: expected a yaml mapping at the top level, got null"},
        {"compute: {tile_count: 1", "t.yaml:1:1: error: end of map flow not found"},
        {"compute: [1, 2]", "t.yaml: error: compute: expected an object, got an array"},
    };
    for (const auto& [text, message] : cases) {
        auto r = parseConfigYaml(text, "t.yaml");
        ASSERT_FALSE(r) << text;
        EXPECT_EQ(r.error().message, message) << text;
    }
}

TEST(YamlConfig, HostileInputIsRefusedQuickly) {
    // Deep nesting stops in the parser, aliases expanding exponentially in the conversion.
    auto r = parseConfigYaml("a: " + std::string(100000, '[') + std::string(100000, ']'), "d.yaml");
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().message.starts_with("d.yaml:")) << r.error().message;
    EXPECT_NE(r.error().message.find("error: nesting is too deep"), std::string::npos)
        << r.error().message;
    // Ten levels of ten aliases each: 10^10 values once expanded.
    std::string bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (int i = 1; i <= 9; ++i) {
        const std::string previous = "*a" + std::to_string(i - 1);
        bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + previous;
        for (int k = 1; k < 10; ++k)
            bomb += ", " + previous;
        bomb += "]\n";
    }
    r = parseConfigYaml(bomb, "bomb.yaml");
    ASSERT_FALSE(r);
    // Ten times the values an alias-free document of that size could hold, plus 10000.
    EXPECT_NE(
        r.error().message.find(fmt::format(
            "error: more than {} values (aliases expanding too far?)", 10 * bomb.size() + 10'000)),
        std::string::npos)
        << r.error().message;
    r = parseConfigYaml(std::string("compute:\n  tile_count: \x01\x02\xff\n"), "bin.yaml");
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().message.starts_with("bin.yaml")) << r.error().message;
}

struct BadCase {
    const char* file;
    const char* message; // after "<path>" (which may be followed by ":line:col")
};

void expectErrors(const std::vector<BadCase>& cases) {
    for (const BadCase& c : cases) {
        const std::string path = kFixtures + c.file;
        auto r = loadConfigFile(path);
        ASSERT_FALSE(r) << c.file;
        EXPECT_EQ(r.error().message, path + c.message) << c.file;
    }
}

TEST(YamlConfig, CorruptFixturesGiveSpecificErrors) {
    expectErrors({
        {"bad_yaml_syntax.yaml", ":4:17: error: end of sequence flow not found"},
        {"bad_yaml_typo_key.yaml",
         ": error: on_chip_memory.l2.bank_cout: unknown key, did you mean 'bank_count'?"},
        {"bad_yaml_type.yaml",
         ": error: compute.processor_array.rows: expected a positive integer, got \"eight\""},
        {"bad_yaml_duplicate_key.yaml", ": error: data_movement.dma_engine_count: duplicate key"},
        {"bad_yaml_not_mapping.yaml",
         ":2:1: error: expected a yaml mapping at the top level, got a sequence"},
        {"bad_yaml_tab.yaml", ":2:12: error: illegal map value"},
    });
}

TEST(SystemLayout, CorruptFixturesGiveSpecificErrors) {
    expectErrors({
        {"bad_system_no_kpu.json", ": error: accelerators: no entry with \"type\": \"KPU\""},
        {"bad_system_heterogeneous_banks.json",
         ": error: accelerators[0].kpu_config.memory.banks[2].capacity_mb: differs from banks[0] "
         "(2048 MB vs 1024 MB); heterogeneous banks are not modelled"},
        {"bad_system_unknown_key.json",
         ": error: accelerators[0].kpu_config.memory.l3_tile: unknown key, did you mean "
         "'l3_tiles'?"},
        {"bad_system_tile_type.json",
         ": error: accelerators[0].kpu_config.compute_fabric.tiles[1].type: expected "
         "\"systolic\" (the only tile type modelled), got \"simd\""},
        {"bad_system_heterogeneous_tiles.json",
         ": error: accelerators[0].kpu_config.compute_fabric.tiles[1].systolic_cols: differs "
         "from tiles[0] (32 vs 16); heterogeneous compute tiles are not modelled"},
        {"bad_system_heterogeneous_dma.json",
         ": error: accelerators[0].kpu_config.data_movement.dma_engines[1].bandwidth_gbps: "
         "differs from dma_engines[0] (25.5 GB/s vs 50 GB/s); heterogeneous DMA engines are not "
         "modelled"},
        {"bad_system_empty_banks.json", ": error: accelerators[0].kpu_config.memory.banks: "
                                        "expected at least one entry, got an empty array"},
        {"bad_system_typo_accelerators.json",
         ": error: acelerators: unknown key, did you mean 'accelerators'?"},
        {"bad_system_entry_type.json",
         ": error: accelerators[0].kpu_config.memory.l2_banks[3]: expected an object, got 64"},
    });
}

TEST(SystemLayout, InlineErrors) {
    const std::pair<const char*, const char*> cases[] = {
        {R"({"system": {"name": "no accelerators"}})",
         "s.json: error: accelerators: missing; the system layout describes the KPU as an entry "
         "with \"type\": \"KPU\""},
        {R"({"accelerators": {"type": "KPU"}})",
         "s.json: error: accelerators: expected an array, got an object"},
        {R"({"accelerators": [5, {"type": "kpu"}]})",
         "s.json: error: accelerators: no entry with \"type\": \"KPU\""},
        {R"({"accelerators": [{"type": "KPU", "kpu_conifg": {}}]})",
         "s.json: error: accelerators[0].kpu_conifg: unknown key, did you mean 'kpu_config'?"},
        {R"({"accelerators": [{"type": "KPU", "kpu_config": {"memory": {"banks": [
              {"capacity_mb": 1024, "latency_ns": 20}, {"capacity_mb": 1024}]}}}]})",
         "s.json: error: accelerators[0].kpu_config.memory.banks[1].latency_ns: differs from "
         "banks[0] (not given vs 20 ns); heterogeneous banks are not modelled"},
        {R"({"accelerators": [{"type": "KPU", "kpu_config": {"memory": {"banks": [
              {"capacity_gb": 1}, {"capacity_mb": 1024}, {"capacity_kb": 1}]}}}]})",
         "s.json: error: accelerators[0].kpu_config.memory.banks[2].capacity_kb: differs from "
         "banks[0] (1 KB vs 1048576 KB); heterogeneous banks are not modelled"},
        {R"({"accelerators": [{"type": "KPU", "kpu_config": {"memory": {"banks": [
              {"capacity_mb": 1024, "bandwidth_gbps": 0}]}}}]})",
         "s.json: error: accelerators[0].kpu_config.memory.banks[0].bandwidth_gbps: expected a "
         "positive number, got 0"},
        {R"({"accelerators": [{"type": "KPU", "kpu_config": {"memory": {"banks": [
              {"latency_ns": 5e9}]}}}]})",
         "s.json: error: accelerators[0].kpu_config.memory.banks[0].latency_ns: 5000000000 ns is "
         "5000000000 cycles at 1 GHz, more than 4294967295"},
        {R"({"accelerators": [{"type": "KPU", "kpu_config": {"memory": {"l3_tiles": [
              {"capacity_mb": 2097152}]}}}]})",
         "s.json: error: accelerators[0].kpu_config.memory.l3_tiles[0].capacity_mb: capacity of "
         "2199023255552 bytes exceeds the limit of 1099511627776 bytes (1 TiB)"},
        {R"({"accelerators": [{"type": "KPU", "kpu_config": {"compute_fabric": {"tiles": [
              {"systolic_rows": 5000}]}}}]})",
         "s.json: error: accelerators[0].kpu_config.compute_fabric.tiles[0].systolic_rows: "
         "expected a positive integer at most 4096, got 5000"},
        {R"({"accelerators": [{"type": "KPU", "kpu_config": {"memory": {"scratchpads": [
              {"id": "s", "capacity_kb": -1}]}}}]})",
         "s.json: error: accelerators[0].kpu_config.memory.scratchpads[0].capacity_kb: expected "
         "a positive integer, got -1"},
        {R"({"accelerators": [{"type": "KPU", "kpu_config": {"data_movement": {"dma_engines": [
              {"id": "d", "channels": -1}]}}}]})",
         "s.json: error: accelerators[0].kpu_config.data_movement.dma_engines[0].channels: "
         "expected a non-negative integer, got -1"},
        {R"({"accelerators": [{"type": "KPU", "kpu_config": {"memory": {"banks": [
              {"id": "b0"}, {"id": "b1", "id": "b2"}]}}}]})",
         "s.json: error: accelerators[0].kpu_config.memory.banks[1].id: duplicate key"},
    };
    for (const auto& [text, message] : cases) {
        auto r = parseConfigJson(text, "s.json");
        ASSERT_FALSE(r) << text;
        EXPECT_EQ(r.error().message, message) << text;
    }
}

TEST(SystemLayout, LatencyNsBecomesCyclesAtTheClock) {
    struct Case {
        const char* clock;
        const char* ns;
        std::uint32_t cycles;
    };
    const Case cases[] = {
        {"1.0", "20", 20}, {"1.5", "10", 15}, {"0.3", "10", 3}, // 3.0000000000000004 is 3
        {"1.1", "7", 8},   {"2.0", "0", 0},   {"1.0", "0.25", 1},
    };
    for (const Case& c : cases) {
        const std::string text = fmt::format(
            R"({{"accelerators": [{{"type": "KPU", "kpu_config": {{"clock_ghz": {},
                "memory": {{"banks": [{{"latency_ns": {}}}, {{"latency_ns": {}}}]}}}}}}]}})",
            c.clock, c.ns, c.ns);
        auto r = parseConfigJson(text, "clock.json");
        ASSERT_TRUE(r) << r.error().message << "\n" << text;
        EXPECT_EQ(r->external.latencyCycles, c.cycles) << c.clock << " GHz, " << c.ns << " ns";
        EXPECT_EQ(r->external.bankCount, 2u);
    }
}

TEST(SystemLayout, EveryKeyIsOptionalAndTheFirstKpuIsUsed) {
    auto r = parseConfigJson(R"({"accelerators": [{"type": "KPU"}]})", "bare.json");
    ASSERT_TRUE(r) << r.error().message;
    KpuConfig expected = defaultConfig();
    expected.source = "bare.json";
    EXPECT_TRUE(sameConfig(*r, expected));

    r = parseConfigJson(R"({"accelerators": [
        {"type": "GPU", "whatever": [1, 2]},
        {"type": "KPU", "kpu_config": {"compute_fabric": {"tiles": [{"systolic_rows": 4}]}}},
        {"type": "KPU", "kpu_config": {"compute_fabric": {"tiles": [{"systolic_rows": 8}]}}}],
      "host": "not modelled", "interconnect": 5, "system_services": null})",
                        "two.json");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->compute.arrayRows, 4u);
    EXPECT_EQ(r->compute.arrayCols, 16u); // default
    EXPECT_EQ(r->l1.bufferCount, 4u * (4 + 16) * 1);
    EXPECT_EQ(r->name, "default");
}

} // namespace
} // namespace kpu
