// The two-stage object verifier under hostile input: seeded truncations, bit flips and
// byte overwrites of valid objects. Every mutation is either refused with an error naming
// the file, or verifies — and then binds and simulates to completion without crashing.
#include <random>

#include <gtest/gtest.h>

#include "kpu/common/file_io.h"
#include "kpu/compiler/compiler.h"
#include "kpu/loader/binder.h"
#include "kpu/loader/loader.h"
#include "kpu/loader/verifier.h"
#include "support/dfg_writer.h"
#include "support/run_command.h"

namespace kpu::loader {
namespace {

std::vector<std::uint8_t> validObject(const std::string& dfgText) {
    test::ScratchDir dir("verifier");
    EXPECT_TRUE(writeTextFile(dir.file("g.dfg"), dfgText));
    auto r = compiler::compileDfgFile(dir.file("g.dfg"), {});
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r->object;
}

// Loads an untrusted buffer the way kpu-loader does; returns whether it was accepted.
bool loadBindAndRun(const std::vector<std::uint8_t>& bytes) {
    auto program = verifyObject(bytes, "m.kpu");
    if (!program) {
        EXPECT_EQ(program.error().message.rfind("m.kpu: error: ", 0), 0u)
            << program.error().message;
        return false;
    }
    auto schedule = bindProgram(**program, defaultConfig(), "m.kpu");
    if (!schedule)
        return true; // refused at binding, with an error: fine
    auto inputs = prepareInputs(**program, {}, 1);
    if (!inputs)
        return true;
    auto result = simulate(**program, *schedule, defaultConfig(), *inputs);
    if (result)
        (void)verifyOutputs(**program, *inputs, *result, "g.kpu");
    return true;
}

TEST(Verifier, AcceptsCompiledObjects) {
    EXPECT_TRUE(loadBindAndRun(validObject(test::matmulDfg("g", {8, 20}, {20, 12}, {8, 12}))));
    EXPECT_TRUE(loadBindAndRun(
        validObject(test::matmulDfg("g", {2, 9, 5}, {2, 5, 7}, {2, 9, 7}, {2, 9, 7}))));
}

TEST(Verifier, EveryTruncationIsRefused) {
    const auto valid = validObject(test::matmulDfg("g", {8, 20}, {20, 12}, {8, 12}));
    // A FlatBuffer may end in alignment padding that nothing references: cutting only padding
    // leaves a complete object. Every cut into referenced bytes must be refused.
    std::size_t padding = 0;
    while (padding < valid.size() && valid[valid.size() - 1 - padding] == 0)
        ++padding;
    for (std::size_t n = 0; n + padding < valid.size(); ++n)
        EXPECT_FALSE(
            loadBindAndRun({valid.begin(), valid.begin() + static_cast<std::ptrdiff_t>(n)}))
            << n;
}

TEST(Verifier, ThousandsOfSeededMutationsNeverCrash) {
    const std::vector<std::vector<std::uint8_t>> seeds{
        validObject(test::matmulDfg("g", {8, 20}, {20, 12}, {8, 12})),
        validObject(test::matmulDfg("g", {2, 9, 5}, {2, 5, 7}, {2, 9, 7}, {2, 9, 7}))};
    std::mt19937_64 rng(20261122);
    int accepted = 0, refused = 0;
    for (int i = 0; i < 4000; ++i) {
        auto bytes = seeds[static_cast<std::size_t>(i) % seeds.size()];
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int f = 0; f < flips; ++f) {
            const std::size_t at = rng() % bytes.size();
            switch (rng() % 3) {
            case 0:
                bytes[at] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
                break; // bit flip
            case 1:
                bytes[at] = static_cast<std::uint8_t>(rng());
                break; // byte overwrite
            default:
                bytes[at] = 0xff;
                break; // saturate
            }
        }
        (loadBindAndRun(bytes) ? accepted : refused)++;
    }
    // Both outcomes occur; the point is that neither crashed.
    EXPECT_GT(refused, 100);
    EXPECT_GT(accepted, 10);
}

} // namespace
} // namespace kpu::loader
