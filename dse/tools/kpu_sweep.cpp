// kpu-sweep: run a design-space sweep (docs/dse.md) — every model of a spec on every
// configuration of its parameter ranges, compiled for it and simulated timing-only — and write
// one JSON line per point, the Pareto fronts and the roofline as pictures.
//
// The points split three ways, with the same result: threads (--jobs), MPI ranks (under mpirun,
// rank r runs the points i with i % ranks == r and rank 0 gathers), and shards without MPI
// (--shard K/N for job arrays, then --merge).
#include <atomic>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include <CLI/CLI.hpp>
#include <mpi.h>
#include <unistd.h>

#include "kpu/common/file_io.h"
#include "kpu/dse/sweep.h"

namespace {

struct Options {
    std::string specPath, outDir = "sweep", shard;
    std::vector<std::string> mergeFiles;
    unsigned jobs = 1;
};

// Whether this process was started by an MPI launcher (mpirun, srun with PMI): only then is MPI
// initialised, so that a plain run needs no MPI runtime at all.
bool launchedByMpi() {
    for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
        if (std::getenv(name))
            return true;
    return false;
}

// "K/N" with 1 <= K <= N.
std::optional<std::pair<std::size_t, std::size_t>> parseShard(const std::string& text) {
    const auto slash = text.find('/');
    if (slash == std::string::npos)
        return std::nullopt;
    std::size_t k = 0, n = 0;
    const auto kEnd = text.data() + slash, nEnd = text.data() + text.size();
    if (std::from_chars(text.data(), kEnd, k).ptr != kEnd ||
        std::from_chars(kEnd + 1, nEnd, n).ptr != nEnd || n == 0 || k == 0 || k > n)
        return std::nullopt;
    return std::pair{k, n};
}

// A progress bar on a terminal; nothing otherwise (logs, CI, pipes).
class Progress {
public:
    explicit Progress(std::size_t total) : total_(total), show_(isatty(STDERR_FILENO) == 1) {}
    void step(const std::string& what) {
        if (!show_)
            return;
        std::lock_guard lock(mutex_);
        ++done_;
        constexpr std::size_t kWidth = 30;
        const std::size_t filled = total_ ? done_ * kWidth / total_ : kWidth;
        std::cerr << fmt::format("\r[{}{}] {}/{} {:<50.50}", std::string(filled, '#'),
                                 std::string(kWidth - filled, ' '), done_, total_, what)
                  << (done_ == total_ ? "\n" : "") << std::flush;
    }

private:
    std::size_t total_, done_ = 0;
    bool show_;
    std::mutex mutex_;
};

// Runs `points` on `jobs` threads; each thread caches the models it read.
std::vector<std::string> runPoints(const kpu::dse::SweepSpec& spec,
                                   const std::vector<std::size_t>& points, unsigned jobs) {
    std::vector<std::string> lines(points.size());
    std::atomic<std::size_t> next{0};
    Progress progress(points.size());
    const auto work = [&] {
        std::vector<std::optional<kpu::Expected<kpu::ir::Graph>>> graphs(spec.models.size());
        for (std::size_t i; (i = next++) < points.size();) {
            lines[i] = kpu::dse::runPoint(spec, points[i], graphs);
            progress.step(spec.models[points[i] / spec.configCount()].name);
        }
    };
    std::vector<std::jthread> threads;
    for (unsigned t = 1; t < jobs; ++t)
        threads.emplace_back(work);
    work();
    return lines;
}

// Rank 0 receives every rank's lines (length-prefixed in one buffer per rank).
std::vector<std::string> gatherLines(const std::vector<std::string>& mine, int rank, int ranks) {
    std::string packed;
    for (const std::string& line : mine)
        packed += line + "\n";
    int size = static_cast<int>(packed.size());
    std::vector<int> sizes(static_cast<std::size_t>(ranks));
    MPI_Gather(&size, 1, MPI_INT, sizes.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
    std::vector<int> offsets(static_cast<std::size_t>(ranks));
    int total = 0;
    for (int r = 0; r < ranks; ++r) {
        offsets[static_cast<std::size_t>(r)] = total;
        total += sizes[static_cast<std::size_t>(r)];
    }
    std::string all(static_cast<std::size_t>(rank == 0 ? total : 0), '\0');
    MPI_Gatherv(packed.data(), size, MPI_CHAR, all.data(), sizes.data(), offsets.data(), MPI_CHAR,
                0, MPI_COMM_WORLD);
    std::vector<std::string> lines;
    for (std::size_t start = 0, end; (end = all.find('\n', start)) != std::string::npos;
         start = end + 1)
        lines.push_back(all.substr(start, end - start));
    return lines;
}

// Sorts, marks the fronts, writes the files and prints the summary.
int finish(const kpu::dse::SweepSpec& spec, std::vector<std::string> lines,
           const std::string& outDir) {
    auto finished = kpu::dse::finishSweep(std::move(lines));
    if (!finished) {
        std::cerr << finished.error().message << "\n";
        return 1;
    }
    // Every point of the spec, once (a shard left out of --merge is noticed here).
    if (finished->size() != spec.pointCount()) {
        std::cerr << fmt::format("{}: error: {} of the {} points are there; every shard's file "
                                 "must be merged\n",
                                 spec.path, finished->size(), spec.pointCount());
        return 1;
    }
    if (auto r = kpu::dse::writeSweep(*finished, outDir, spec.name); !r) {
        std::cerr << r.error().message << "\n";
        return 1;
    }
    std::cout << kpu::dse::summarizeSweep(spec, *finished)
              << fmt::format("wrote {0}/points.jsonl, {0}/pareto.svg, {0}/roofline.svg\n", outDir);
    return 0;
}

int run(const Options& o, int rank, int ranks) {
    auto spec = kpu::dse::loadSweepSpec(o.specPath);
    if (!spec) {
        std::cerr << spec.error().message << "\n";
        return 1;
    }
    if (!o.mergeFiles.empty()) {
        std::vector<std::string> lines;
        for (const std::string& file : o.mergeFiles) {
            auto text = kpu::readTextFile(file);
            if (!text) {
                std::cerr << text.error().message << "\n";
                return 1;
            }
            for (std::size_t start = 0, end; start < text->size(); start = end + 1) {
                end = text->find('\n', start);
                if (end == std::string::npos)
                    end = text->size();
                if (end > start)
                    lines.push_back(text->substr(start, end - start));
            }
        }
        return finish(*spec, std::move(lines), o.outDir);
    }
    // This process's points: every ranks-th from its rank, or every N-th from shard K.
    std::size_t first = static_cast<std::size_t>(rank), stride = static_cast<std::size_t>(ranks);
    const auto shard = o.shard.empty() ? std::nullopt : parseShard(o.shard);
    if (!o.shard.empty()) {
        if (!shard) {
            std::cerr << "kpu-sweep: error: --shard '" << o.shard
                      << "': expected K/N with 1 <= K <= N\n";
            return 2;
        }
        first = shard->first - 1;
        stride = shard->second;
    }
    std::vector<std::size_t> points;
    for (std::size_t i = first; i < spec->pointCount(); i += stride)
        points.push_back(i);
    std::vector<std::string> lines = runPoints(*spec, points, o.jobs);
    if (shard) {
        // One slice: its raw lines, for --merge.
        const std::string path =
            fmt::format("{}/points.shard-{}-of-{}.jsonl", o.outDir, shard->first, shard->second);
        std::string text;
        for (const std::string& line : lines)
            text += line + "\n";
        std::error_code ec;
        std::filesystem::create_directories(o.outDir, ec);
        if (auto r = kpu::writeTextFile(path, text); !r) {
            std::cerr << r.error().message << "\n";
            return 1;
        }
        std::cout << fmt::format("shard {}/{}: {} of {} points; wrote {}\n", shard->first,
                                 shard->second, points.size(), spec->pointCount(), path);
        return 0;
    }
    if (ranks > 1) {
        lines = gatherLines(lines, rank, ranks);
        if (rank != 0)
            return 0;
    }
    return finish(*spec, std::move(lines), o.outDir);
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"kpu-sweep: run a design-space sweep of models over KPU configurations "
                 "(docs/dse.md)"};
    app.set_version_flag("--version", std::string("kpu-sweep ") + KPU_VERSION);
    Options o;
    app.add_option("spec", o.specPath, "sweep spec (JSON, or YAML for .yaml/.yml)")->required();
    app.add_option("-o,--output", o.outDir, "folder for points.jsonl, pareto.svg and roofline.svg")
        ->capture_default_str();
    app.add_option("--jobs", o.jobs, "points run at once on this machine (threads)")
        ->capture_default_str()
        ->check(CLI::Range(1u, 1024u));
    auto* shardOption =
        app.add_option("--shard", o.shard,
                       "K/N: run only the points i with i % N == K - 1 and write "
                       "points.shard-K-of-N.jsonl, without MPI (job arrays; combine with --merge)");
    app.add_option("--merge", o.mergeFiles,
                   "combine the shards' files into points.jsonl and the pictures (no point runs)")
        ->excludes(shardOption);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    if (!launchedByMpi())
        return run(o, 0, 1);
    MPI_Init(&argc, &argv);
    int rank = 0, ranks = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    if (!o.shard.empty() && ranks > 1) {
        if (rank == 0)
            std::cerr << "kpu-sweep: error: --shard splits a sweep without MPI; under mpirun the "
                         "ranks split it\n";
        MPI_Finalize();
        return 2;
    }
    const int status = run(o, rank, ranks);
    MPI_Finalize();
    return status;
}
