// kpu-sweep end to end (docs/dse.md): one process, threads, MPI ranks and shards give the same
// points.jsonl; the pictures are written; bad specs are refused with the file and key path.
#include <cstdlib>

#include <gtest/gtest.h>

#include "kpu/common/file_io.h"
#include "support/run_command.h"

namespace kpu::test {
namespace {

// Two models on four configurations: small enough for a test, enough for a front.
std::string writeSpec(const ScratchDir& dir) {
    const std::string examples = std::string(KPU_SOURCE_DIR) + "/examples/";
    const std::string spec = dir.file("sweep.json");
    EXPECT_TRUE(writeTextFile(spec, R"({
  "name": "e2e",
  "models": [")" + examples + R"(matmul.dfg", ")" +
                                        examples + R"(mlp.dfg"],
  "parameters": {"array": [8, 16], "on_chip_memory.l2.bank_capacity_kb": [32, 128]},
  "constraints": {"max_energy_j": 1}
})"));
    return spec;
}

std::string pointsOf(const std::string& folder) {
    auto text = readTextFile(folder + "/points.jsonl");
    EXPECT_TRUE(text) << text.error().message;
    return text.value_or("");
}

TEST(SweepE2E, OneProcessWritesPointsFrontsAndPictures) {
    ScratchDir dir("sweep-one");
    const std::string spec = writeSpec(dir);
    auto r = runCommand({KPU_SWEEP_EXE, spec, "-o", dir.file("one")});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_EQ(r.err, ""); // no progress bar when stderr is not a terminal
    const std::string points = pointsOf(dir.file("one"));
    EXPECT_EQ(std::count(points.begin(), points.end(), '\n'), 8);
    EXPECT_EQ(points.find("\"error\""), std::string::npos) << points;
    EXPECT_NE(points.find("\"pareto_time_energy\":true"), std::string::npos);
    for (const char* picture : {"pareto.svg", "roofline.svg"}) {
        auto svg = readTextFile(dir.file("one") + "/" + picture);
        ASSERT_TRUE(svg) << picture;
        EXPECT_TRUE(svg->starts_with("<?xml") || svg->starts_with("<svg")) << picture;
        EXPECT_NE(svg->find("mlp"), std::string::npos) << picture;
    }
    EXPECT_NE(r.out.find("Pareto-optimal"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("fastest within the constraints"), std::string::npos) << r.out;

    auto threads = runCommand({KPU_SWEEP_EXE, spec, "-o", dir.file("threads"), "--jobs", "2"});
    ASSERT_EQ(threads.exitCode, 0) << threads.err;
    EXPECT_EQ(pointsOf(dir.file("threads")), points);
}

TEST(SweepE2E, MpiRanksGiveTheSameFileAsOneProcess) {
    ScratchDir dir("sweep-mpi");
    const std::string spec = writeSpec(dir);
    ASSERT_EQ(runCommand({KPU_SWEEP_EXE, spec, "-o", dir.file("one")}).exitCode, 0);
    // CI runs as root in a container: Open MPI needs to be told that is fine.
    ::setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    ::setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    // Under ASan (scripts/sanitize.sh): Open MPI's runtime keeps memory until exit, and the
    // components it unloads leave leak reports without symbols to suppress them by. Leak checks
    // are off for the ranks only; the single-process tests check kpu-sweep's own code.
    const char* asan = std::getenv("ASAN_OPTIONS");
    ::setenv("ASAN_OPTIONS", (std::string(asan ? asan : "") + ":detect_leaks=0").c_str(), 1);
    auto r = runCommand(
        {KPU_MPIRUN, "-np", "2", "--oversubscribe", KPU_SWEEP_EXE, spec, "-o", dir.file("mpi")});
    ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
    EXPECT_EQ(pointsOf(dir.file("mpi")), pointsOf(dir.file("one")));
}

TEST(SweepE2E, ShardsMergeIntoTheSameFile) {
    ScratchDir dir("sweep-shards");
    const std::string spec = writeSpec(dir);
    ASSERT_EQ(runCommand({KPU_SWEEP_EXE, spec, "-o", dir.file("one")}).exitCode, 0);
    std::vector<std::string> merge{KPU_SWEEP_EXE, spec, "-o", dir.file("merged"), "--merge"};
    for (const char* shard : {"1/3", "2/3", "3/3"}) {
        auto r = runCommand({KPU_SWEEP_EXE, spec, "-o", dir.file("shards"), "--shard", shard});
        ASSERT_EQ(r.exitCode, 0) << r.err;
        merge.push_back(dir.file("shards") + "/points.shard-" + std::string(1, shard[0]) +
                        "-of-3.jsonl");
    }
    auto merged = runCommand(merge);
    ASSERT_EQ(merged.exitCode, 0) << merged.err;
    EXPECT_EQ(pointsOf(dir.file("merged")), pointsOf(dir.file("one")));
    // A shard left out is noticed: not every point is there.
    merge.pop_back();
    auto partial = runCommand(merge);
    EXPECT_EQ(partial.exitCode, 1);
    EXPECT_NE(partial.err.find("6 of the 8 points are there"), std::string::npos) << partial.err;
    auto bad = runCommand({KPU_SWEEP_EXE, spec, "--shard", "4/3"});
    EXPECT_EQ(bad.exitCode, 2);
    EXPECT_NE(bad.err.find("expected K/N with 1 <= K <= N"), std::string::npos) << bad.err;
}

// examples/dse/results is checked in as generated: regenerating it gives the same files.
TEST(SweepE2E, TheExampleStudyIsUpToDate) {
    ScratchDir dir("sweep-study");
    const std::string study = std::string(KPU_SOURCE_DIR) + "/examples/dse/";
    auto r =
        runCommand({KPU_SWEEP_EXE, study + "study.yaml", "-o", dir.file("results"), "--jobs", "2"});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    for (const char* file : {"points.jsonl", "pareto.svg", "roofline.svg"}) {
        auto fresh = readTextFile(dir.file("results") + "/" + file);
        auto checkedIn = readTextFile(study + "results/" + file);
        ASSERT_TRUE(fresh && checkedIn) << file;
        EXPECT_TRUE(*fresh == *checkedIn)
            << "examples/dse/results/" << file << " is out of date: run build/dse/kpu-sweep "
            << "examples/dse/study.yaml -o examples/dse/results";
    }
}

TEST(SweepE2E, BadSpecsAreRefusedWithFileAndKeyPath) {
    ScratchDir dir("sweep-bad");
    ASSERT_TRUE(
        writeTextFile(dir.file("bad.yaml"), "models: [a.dfg]\nparameters:\n  array: [8, x]\n"));
    auto r = runCommand({KPU_SWEEP_EXE, dir.file("bad.yaml")});
    EXPECT_EQ(r.exitCode, 1);
    EXPECT_FALSE(r.crashed);
    EXPECT_EQ(r.err, dir.file("bad.yaml") +
                         ": error: parameters.array[1]: expected a positive integer (rows = "
                         "cols)\n");
}

} // namespace
} // namespace kpu::test
