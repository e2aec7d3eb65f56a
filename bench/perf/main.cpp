// kpu-perf: every speed figure of issue 5 in one run, each the median of --repetitions runs with
// its min and max, its yardstick, the ratio and the target (docs/performance.md):
//   - GEMMs (512^3, 1024^3, 2048^3) and MobileNet v2: kpu-kernel-compiler, kpu-loader
//     --no-verify and kpu-loader --timing-only --json timed as whole processes (wall clock, the
//     child's peak RSS), with simulated cycles per host second;
//   - the yardstick in the same run: single-thread OpenBLAS cblas_sgemm on the same GEMMs with its
//     AVX2 (OPENBLAS_CORETYPE=Haswell) and its AVX-512 kernels, each in a child process;
//   - the tile kernels' fractions of the machine's peaks (kpu-kernel-bench);
//   - timing-only MobileNet v2 and 4096^3, compile time of MobileNet v2 and of a 10,000-node
//     graph, the 4096^3 object's size, verify+load time per MB, loader peak memory.
// Speed figures are reported, never asserted: the exit status is 0 unless a tool failed to run.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "figures.h"
#include "kpu/common/dtype.h"
#include "kpu/common/hw_config.h"
#include "kpu/loader/loader.h"
#include "kpu/schema/object.h"
#include "openblas_child.h"
#include "process.h"
#include "workloads.h"

namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace kpu::perf {
namespace {

constexpr double kMB = 1e6; // MB in every figure: 10^6 bytes
constexpr const char* kMobileNet = "branes-ai+dfa-dynamics/data/dl/convolution/mobilenet_v2.dfg";
// Issue 5: "The Python systolic simulator most of them use today manages a few thousand
// simulated cycles per second".
constexpr double kPythonSimCyclesPerSecond = 3e3;

struct Options {
    int repetitions = 5;
    bool quick = false, noOpenBlas = false;
    std::string jsonPath, buildDir, corpus, configPath;
    std::optional<int> threads;
    std::vector<std::int64_t> sizes = {512, 1024, 2048};
    std::int64_t bigSize = 4096;
    std::int64_t graphNodes = 10000;
    std::vector<std::string> skip;
    bool keep = false;
    bool skipping(const std::string& what) const {
        return std::ranges::find(skip, what) != skip.end();
    }
};

struct Tools {
    std::string compiler, loader, kernelBench, self;
};

// The build tree kpu-perf was built in: the nearest directory above the binary holding a
// CMakeCache.txt.
std::string defaultBuildDir(const fs::path& self) {
    for (fs::path p = self.parent_path(); !p.empty() && p != p.root_path(); p = p.parent_path())
        if (fs::exists(p / "CMakeCache.txt"))
            return p.string();
    return self.parent_path().string();
}

// DIR/<subdir>/<name> (a build tree) or DIR/<name> (an install prefix's bin).
std::string findTool(const std::string& dir, const std::string& subdir, const std::string& name) {
    for (const fs::path& p : {fs::path(dir) / subdir / name, fs::path(dir) / name})
        if (fs::exists(p))
            return p.string();
    return (fs::path(dir) / subdir / name).string();
}

std::string firstLine(const std::string& s) {
    const auto begin = s.find_first_not_of(" \n");
    if (begin == std::string::npos)
        return {};
    return s.substr(begin, s.find('\n', begin) - begin);
}

// --- the machine ---------------------------------------------------------------------------

struct Machine {
    std::string cpu = "unknown CPU";
    unsigned cores = 0;
    std::vector<std::string> flags; // of avx2, fma, avx512f: those the CPU has
    std::uint64_t l1dBytes = 32 * 1024;
    std::string date;
};

Machine machineInfo() {
    Machine m;
    m.cores = std::thread::hardware_concurrency();
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    std::set<std::string> cpuFlags;
    while (std::getline(in, line)) {
        const auto colon = line.find(':');
        if (colon == std::string::npos)
            continue;
        const std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
        const std::string value = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
        if (key == "model name" && m.cpu == "unknown CPU")
            m.cpu = value;
        if (key == "flags" && cpuFlags.empty()) {
            std::istringstream words(value);
            for (std::string w; words >> w;)
                cpuFlags.insert(w);
        }
    }
    for (const char* f : {"avx2", "fma", "avx512f"})
        if (cpuFlags.contains(f))
            m.flags.emplace_back(f);
    // The level-1 data cache of cpu0, e.g. "48K".
    for (int i = 0; i < 8; ++i) {
        const std::string dir = fmt::format("/sys/devices/system/cpu/cpu0/cache/index{}/", i);
        std::string level, type, size;
        std::ifstream(dir + "level") >> level;
        std::ifstream(dir + "type") >> type;
        std::ifstream(dir + "size") >> size;
        if (level == "1" && type == "Data" && !size.empty() && size.back() == 'K')
            m.l1dBytes = std::stoull(size) * 1024;
    }
    const std::time_t now = std::time(nullptr);
    char date[32];
    std::strftime(date, sizeof date, "%Y-%m-%d", std::localtime(&now));
    m.date = date;
    return m;
}

// --- the benchmark ---------------------------------------------------------------------------

class Bench {
public:
    Bench(Options options, Tools tools, KpuConfig config, std::string scratch)
        : o_(std::move(options)), tools_(std::move(tools)), config_(std::move(config)),
          scratch_(std::move(scratch)) {}

    int run();

private:
    // Runs a child; on failure prints its error once and returns nullopt.
    std::optional<ProcessResult> timed(const std::vector<std::string>& argv,
                                       const EnvChanges& env = {}) {
        ProcessResult r = runProcess(argv, scratch_, env);
        if (r.ok())
            return r;
        const std::string message =
            fmt::format("exit {}: {}", r.exitCode, firstLine(r.err.empty() ? r.out : r.err));
        std::cerr << "kpu-perf: " << commandLine(argv) << ": " << message << "\n";
        lastError_ = message;
        ++failures_;
        return std::nullopt;
    }

    std::vector<std::string> compileArgs(const std::string& dfg, const std::string& kpu) const {
        std::vector<std::string> a = {tools_.compiler, dfg, "-o", kpu};
        if (!o_.configPath.empty())
            a.insert(a.end(), {"--config", o_.configPath});
        return a;
    }
    std::vector<std::string> loaderArgs(const std::string& kpu,
                                        const std::vector<std::string>& flags) const {
        std::vector<std::string> a = {tools_.loader, kpu};
        a.insert(a.end(), flags.begin(), flags.end());
        if (!o_.configPath.empty())
            a.insert(a.end(), {"--config", o_.configPath});
        if (o_.threads)
            a.insert(a.end(), {"--threads", std::to_string(*o_.threads)});
        return a;
    }
    // The command as a user types it in the directory of its files.
    static std::string shown(std::vector<std::string> argv) {
        for (std::string& a : argv)
            if (a.find('/') != std::string::npos)
                a = fs::path(a).filename().string();
        return commandLine(argv);
    }

    std::string path(const std::string& name) const { return scratch_ + "/" + name; }
    void progress(const std::string& what) const { std::cerr << "kpu-perf: " << what << "\n"; }

    void machineFigures();
    void kernelFigures();
    // One model (a GEMM or MobileNet): compile, loader --no-verify, timing-only, repeated.
    struct ModelRuns {
        ModelRuns(std::string dfg_, std::string kpu_)
            : dfg(std::move(dfg_)), kpu(std::move(kpu_)) {}
        std::string dfg, kpu;
        std::vector<double> compile, loader, timingOnly, cycles, rss;
        std::string compileCmd, loaderCmd, timingCmd, error;
    };
    void runModel(ModelRuns& m, bool functional);
    struct BlasRuns {
        std::vector<double> seconds;
        std::string core, error;
    };
    void runBlas(std::int64_t n, bool avx512, BlasRuns& runs);
    void gemmFigures();
    void mobileNetFigures();
    void bigGemmFigures();
    void graphFigures();
    void loadFigures();
    void addModelFigures(const std::string& section, const ModelRuns& m, bool functional,
                         std::optional<double> yardstickSeconds, const std::string& yardstickName);
    std::uint64_t tensorBytes(const std::string& kpu) const;
    std::uint64_t arenaBytes() const;
    ordered_json json(const Machine& machine) const;
    std::vector<std::string> missed() const {
        std::vector<std::string> names;
        for (const Figure& f : figures_)
            if (f.status() == "MISS")
                names.push_back(f.section + ": " + f.name);
        return names;
    }

    Options o_;
    Tools tools_;
    KpuConfig config_;
    std::string scratch_;
    Machine machine_;
    std::vector<Figure> figures_;
    std::map<std::string, double> peaks_; // kpu-kernel-bench peak benchmark -> GFLOP/s
    std::vector<std::pair<std::string, std::string>> objects_; // label, .kpu path
    std::map<std::string, std::string> blasCores_; // OpenBLAS-AVX2 -> the core OpenBLAS chose
    std::string lastError_;
    int failures_ = 0;
};

// Bytes of the fp32 A, B and C of a benchmark named ".../MxNxK", if it has such a shape.
std::optional<std::uint64_t> tileBytes(const std::string& name) {
    unsigned long long m = 0, n = 0, k = 0;
    const auto slash = name.rfind('/');
    if (slash == std::string::npos ||
        std::sscanf(name.c_str() + slash + 1, "%llux%llux%llu", &m, &n, &k) != 3)
        return std::nullopt;
    return 4 * (m * k + k * n + m * n);
}

std::optional<double> peakMatching(const std::map<std::string, double>& peaks,
                                   const std::string& isa) {
    for (const auto& [name, gflops] : peaks)
        if (name.find(isa) != std::string::npos)
            return gflops;
    return std::nullopt;
}

void Bench::machineFigures() {
    machine_ = machineInfo();
    std::cout << fmt::format("machine: {}, {} cores, flags: {}, L1d {} KiB; measured {}\n",
                             machine_.cpu, machine_.cores, fmt::join(machine_.flags, " "),
                             machine_.l1dBytes / 1024, machine_.date);
}

// kpu-kernel-bench as a child: the medians of its *peak* benchmarks and of every benchmark's
// fraction_of_peak. Targets by name: sgemm AVX2 kernels >= 90% of the AVX2 peak, AVX-512 >= 85%
// of the AVX-512 peak; the reference kernel, forced-policy variants (name.variant), fp64 and the
// 37x91x53 edge tile are reported without a target.
void Bench::kernelFigures() {
    if (o_.skipping("kernels"))
        return;
    progress("kernel peaks (kpu-kernel-bench)");
    const int reps = o_.quick ? 1 : 5;
    const std::vector<std::string> argv = {tools_.kernelBench, "--benchmark_format=json",
                                           fmt::format("--benchmark_repetitions={}", reps),
                                           "--benchmark_report_aggregates_only=true"};
    const auto r = timed(argv);
    if (!r) {
        figures_.push_back(Figure("kernels", "kpu-kernel-bench", "GFLOP/s")
                               .reproducedBy(shown(argv))
                               .noting("failed: " + lastError_));
        return;
    }
    ordered_json report;
    try {
        report = ordered_json::parse(r->out);
    } catch (const std::exception& e) {
        figures_.push_back(Figure("kernels", "kpu-kernel-bench", "GFLOP/s")
                               .reproducedBy(shown(argv))
                               .noting(std::string("unreadable JSON: ") + e.what()));
        return;
    }
    std::vector<Figure> kernels;
    for (const auto& b : report.value("benchmarks", ordered_json::array())) {
        const bool median = reps == 1 ? b.value("run_type", "") == "iteration"
                                      : b.value("aggregate_name", "") == "median";
        if (!median)
            continue;
        const std::string name = b.value("run_name", b.value("name", std::string("?")));
        Figure f = Figure("kernels", name, "GFLOP/s").reproducedBy(shown(argv));
        if (b.value("error_occurred", false)) {
            f.note = "skipped: " + b.value("error_message", std::string());
            kernels.push_back(f);
            continue;
        }
        const bool hasRate = b.contains("GFLOP/s");
        if (hasRate) {
            f.stat = Stat();
            f.stat->median = b["GFLOP/s"].get<double>();
            f.stat->count = static_cast<std::size_t>(reps);
        }
        if (name.find("peak") != std::string::npos && !b.contains("fraction_of_peak")) {
            if (hasRate)
                peaks_[name] = f.stat->median;
            f.section = "machine peak";
            figures_.push_back(f);
            continue;
        }
        if (!b.contains("fraction_of_peak"))
            continue;
        f.ratio = b["fraction_of_peak"].get<double>();
        f.yardstickName = "peak measured alongside";
        if (b.contains("peak_GFLOP/s"))
            f.yardstick = b["peak_GFLOP/s"].get<double>();
        // Targets on L1-resident sgemm tiles of the plain kernels (not forced-policy variants,
        // not the 37x91x53 edge tile, which is reported so that a cliff shows).
        const std::string kernel = name.substr(0, name.find('/'));
        const auto bytes = tileBytes(name);
        const bool targeted =
            kernel.starts_with("sgemm_") && kernel.find('.') == std::string::npos &&
            name.find("37x91x53") == std::string::npos && bytes && *bytes <= machine_.l1dBytes;
        if (targeted && kernel.find("avx512") != std::string::npos)
            f.target = Target(0.85, false);
        else if (targeted && kernel.find("avx2") != std::string::npos)
            f.target = Target(0.90, false);
        if (bytes)
            f.note = fmt::format("A+B+C {} KiB{}", *bytes / 1024,
                                 *bytes <= machine_.l1dBytes ? " (L1-resident)" : "");
        kernels.push_back(f);
    }
    figures_.insert(figures_.end(), kernels.begin(), kernels.end());
}

void Bench::runModel(ModelRuns& m, bool functional) {
    const auto compile = compileArgs(m.dfg, m.kpu);
    const auto loader = loaderArgs(m.kpu, {"--no-verify"});
    const auto timing = loaderArgs(m.kpu, {"--timing-only", "--json"});
    m.compileCmd = shown(compile);
    m.loaderCmd = shown(loader);
    m.timingCmd = shown(timing);
    const auto c = timed(compile);
    if (!c) {
        m.error = "compile failed: " + lastError_;
        return;
    }
    m.compile.push_back(c->seconds);
    if (functional) {
        if (const auto l = timed(loader)) {
            m.loader.push_back(l->seconds);
            m.rss.push_back(static_cast<double>(l->peakRssBytes));
        } else {
            m.error = "kpu-loader failed: " + lastError_;
        }
    }
    if (const auto t = timed(timing)) {
        m.timingOnly.push_back(t->seconds);
        try {
            m.cycles.push_back(ordered_json::parse(t->out).at("total_cycles").get<double>());
        } catch (const std::exception& e) {
            m.error = std::string("timing-only report: ") + e.what();
        }
    } else {
        m.error = "kpu-loader --timing-only failed: " + lastError_;
    }
}

void Bench::runBlas(std::int64_t n, bool avx512, BlasRuns& runs) {
    EnvChanges env;
    env.set.emplace_back("OPENBLAS_NUM_THREADS", "1");
    if (avx512) {
        env.unset = {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"};
    } else if (std::getenv("OPENBLAS_CORETYPE") == nullptr) {
        env.set.emplace_back("OPENBLAS_CORETYPE", "Haswell");
    }
    const auto r = timed({tools_.self, "--openblas-child", std::to_string(n)}, env);
    if (!r) {
        runs.error = lastError_;
        return;
    }
    std::istringstream words(r->out);
    std::string key, core;
    double seconds = 0;
    words >> key >> seconds >> key >> core;
    runs.seconds.push_back(seconds);
    runs.core = core;
}

void Bench::addModelFigures(const std::string& section, const ModelRuns& m, bool functional,
                            std::optional<double> yardstickSeconds,
                            const std::string& yardstickName) {
    auto ms = [](std::vector<double> v) {
        for (double& x : v)
            x *= 1e3;
        return v;
    };
    std::optional<double> yardMs;
    if (yardstickSeconds)
        yardMs = *yardstickSeconds * 1e3;
    Figure compile = Figure(section, "kpu-kernel-compiler", "ms")
                         .against(yardstickName, yardMs)
                         .reproducedBy(m.compileCmd)
                         .noting(m.error);
    figures_.push_back(compile.measured(ms(m.compile)));
    if (functional) {
        Figure loader = Figure(section, "kpu-loader --no-verify", "ms")
                            .against(yardstickName, yardMs)
                            .reproducedBy(m.loaderCmd);
        figures_.push_back(loader.measured(ms(m.loader)));
        std::vector<double> total;
        for (std::size_t i = 0; i < std::min(m.compile.size(), m.loader.size()); ++i)
            total.push_back(1e3 * (m.compile[i] + m.loader[i]));
        Figure both = Figure(section, "compile + kpu-loader --no-verify", "ms")
                          .against(yardstickName, yardMs)
                          .reproducedBy(m.compileCmd + " && " + m.loaderCmd);
        figures_.push_back(both.measured(total));
        if (!m.cycles.empty() && !m.loader.empty()) {
            std::vector<double> rate;
            for (double s : m.loader)
                rate.push_back(m.cycles.front() / s / 1e6);
            Figure f = Figure(section, "simulated cycles / host s, functional", "Mcycles/s")
                           .against("Python systolic sim", kPythonSimCyclesPerSecond / 1e6)
                           .reproducedBy(m.loaderCmd);
            figures_.push_back(f.measured(rate));
        }
    }
    Figure timing = Figure(section, "kpu-loader --timing-only", "ms")
                        .against(yardstickName, yardMs)
                        .reproducedBy(m.timingCmd);
    figures_.push_back(timing.measured(ms(m.timingOnly)));
    if (!m.cycles.empty()) {
        std::vector<double> rate;
        for (double s : m.timingOnly)
            rate.push_back(m.cycles.front() / s / 1e6);
        Figure f = Figure(section, "simulated cycles / host s, timing-only", "Mcycles/s")
                       .against("Python systolic sim", kPythonSimCyclesPerSecond / 1e6)
                       .reproducedBy(m.timingCmd)
                       .noting(fmt::format("{:.0f} simulated cycles", m.cycles.front()));
        figures_.push_back(f.measured(rate));
    }
}

std::uint64_t Bench::tensorBytes(const std::string& kpu) const {
    auto object = loader::loadObject(kpu);
    if (!object)
        return 0;
    std::uint64_t total = 0;
    for (const dfx::Tensor* t : *object->program->tensors()) {
        if (t->alias_of() >= 0) // a view of another tensor's storage
            continue;
        std::uint64_t bytes = dtypeSize(dfx::fromDType(t->dtype()));
        for (const std::int64_t d : dfx::tensorShape(*t))
            bytes *= static_cast<std::uint64_t>(d);
        total += bytes;
    }
    return total;
}

std::uint64_t Bench::arenaBytes() const {
    return config_.l3.tileCount * config_.l3.tileCapacity +
           config_.l2.bankCount * config_.l2.bankCapacity +
           config_.l1.bufferCount * config_.l1.bufferCapacity;
}

void Bench::gemmFigures() {
    if (o_.sizes.empty())
        return;
    const bool blas = !o_.noOpenBlas && haveOpenBlas();
    std::vector<ModelRuns> models;
    std::vector<BlasRuns> avx2(o_.sizes.size()), avx512(o_.sizes.size());
    for (const std::int64_t n : o_.sizes) {
        ModelRuns m(path(fmt::format("gemm{}.dfg", n)), path(fmt::format("gemm{}.kpu", n)));
        std::ofstream(m.dfg) << gemmDfg(n);
        models.push_back(m);
    }
    // Repetition-major, so a drift of the machine's speed touches every figure alike.
    for (int rep = 0; rep < o_.repetitions; ++rep) {
        for (std::size_t i = 0; i < o_.sizes.size(); ++i) {
            progress(
                fmt::format("GEMM {}^3, repetition {}/{}", o_.sizes[i], rep + 1, o_.repetitions));
            runModel(models[i], true);
            if (blas) {
                runBlas(o_.sizes[i], false, avx2[i]);
                runBlas(o_.sizes[i], true, avx512[i]);
            }
        }
    }
    const std::string coretype =
        std::getenv("OPENBLAS_CORETYPE") != nullptr
            ? fmt::format("OPENBLAS_CORETYPE={} (environment)", std::getenv("OPENBLAS_CORETYPE"))
            : std::string("OPENBLAS_CORETYPE=Haswell (set by kpu-perf: unset here)");
    const std::string blasNote = o_.noOpenBlas ? "skipped (--no-openblas)" : "OpenBLAS not found";
    for (std::size_t i = 0; i < o_.sizes.size(); ++i) {
        const std::int64_t n = o_.sizes[i];
        const std::string section = fmt::format("GEMM {}^3", n);
        const double flop =
            2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
        std::optional<double> yard;
        if (!avx512[i].seconds.empty())
            yard = statOf(avx512[i].seconds).median;
        const std::size_t first = figures_.size();
        addModelFigures(section, models[i], true, yard, "OpenBLAS-AVX512");
        // The headline: the functional simulation against the same multiply in OpenBLAS.
        if (n == 2048)
            for (std::size_t k = first; k < figures_.size(); ++k)
                if (figures_[k].name == "kpu-loader --no-verify")
                    figures_[k].target = Target(1.3, true);
        // Peak memory of the functional run against the bound of issue 5, part 5.
        const std::uint64_t tensors = tensorBytes(models[i].kpu), arena = arenaBytes();
        const double bound = 1.2 * static_cast<double>(tensors + arena) + 50 * kMB;
        std::vector<double> rssMB;
        for (double b : models[i].rss)
            rssMB.push_back(b / kMB);
        Figure rss = Figure(section, "kpu-loader --no-verify peak RSS", "MB")
                         .against("1.2x(tensors+arena)+50MB", bound / kMB)
                         .reproducedBy(models[i].loaderCmd)
                         .noting(fmt::format("tensors {:.1f} MB, on-chip arena {:.2f} MB",
                                             static_cast<double>(tensors) / kMB,
                                             static_cast<double>(arena) / kMB));
        if (n == o_.sizes.back())
            rss.target = Target(1.0, true);
        figures_.push_back(rss.measured(rssMB));
        objects_.emplace_back(section, models[i].kpu);

        for (const bool wide : {false, true}) {
            const BlasRuns& runs = wide ? avx512[i] : avx2[i];
            const std::string name = wide ? "OpenBLAS-AVX512" : "OpenBLAS-AVX2";
            const std::string env = wide ? "OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE unset" : coretype;
            const std::string note = !blas ? blasNote
                                     : runs.error.empty()
                                         ? fmt::format("core {}; {}", runs.core, env)
                                         : "failed: " + runs.error;
            const std::string command =
                fmt::format("{}OPENBLAS_NUM_THREADS=1 kpu-perf --openblas-child {}",
                            wide ? "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE " : "", n);
            std::vector<double> ms, gflops;
            for (double s : runs.seconds) {
                ms.push_back(s * 1e3);
                gflops.push_back(flop / s / 1e9);
            }
            Figure time =
                Figure(section, name + " sgemm, 1 thread", "ms").reproducedBy(command).noting(note);
            figures_.push_back(time.measured(ms));
            if (!blas)
                continue;
            Figure rate = Figure(section, name + " sgemm, 1 thread", "GFLOP/s")
                              .against(wide ? "AVX-512 peak" : "AVX2 peak",
                                       peakMatching(peaks_, wide ? "avx512" : "avx2"))
                              .reproducedBy(command);
            figures_.push_back(rate.measured(gflops));
            if (!runs.core.empty())
                blasCores_[name] = runs.core;
        }
    }
}

void Bench::mobileNetFigures() {
    if (o_.skipping("mobilenet"))
        return;
    const std::string dfg = (fs::path(o_.corpus) / kMobileNet).string();
    if (!fs::exists(dfg)) {
        figures_.push_back(Figure("MobileNet v2", "kpu-kernel-compiler", "ms")
                               .noting("not found: " + dfg + " (--corpus DIR)"));
        return;
    }
    ModelRuns m(dfg, path("mobilenet_v2.kpu"));
    for (int rep = 0; rep < o_.repetitions; ++rep) {
        progress(fmt::format("MobileNet v2, repetition {}/{}", rep + 1, o_.repetitions));
        runModel(m, true);
    }
    const std::size_t first = figures_.size();
    addModelFigures("MobileNet v2", m, true, std::nullopt, "");
    for (std::size_t k = first; k < figures_.size(); ++k) {
        Figure& f = figures_[k];
        if (f.name == "kpu-kernel-compiler" || f.name == "kpu-loader --timing-only") {
            const bool compile = f.name == "kpu-kernel-compiler";
            f.yardstickName = "target";
            f.yardstick = compile ? 50.0 : 20.0;
            f.target = Target(1.0, true, true);
        }
    }
    objects_.emplace_back("MobileNet v2", m.kpu);
}

void Bench::bigGemmFigures() {
    if (o_.quick || o_.skipping("gemm4096"))
        return;
    const std::int64_t n = o_.bigSize;
    const std::string section = fmt::format("GEMM {}^3", n);
    ModelRuns m(path(fmt::format("gemm{}.dfg", n)), path(fmt::format("gemm{}.kpu", n)));
    std::ofstream(m.dfg) << gemmDfg(n);
    for (int rep = 0; rep < o_.repetitions; ++rep) {
        progress(
            fmt::format("GEMM {}^3 (timing-only), repetition {}/{}", n, rep + 1, o_.repetitions));
        runModel(m, false);
    }
    const std::size_t first = figures_.size();
    addModelFigures(section, m, false, std::nullopt, "");
    for (std::size_t k = first; k < figures_.size(); ++k) {
        if (figures_[k].name == "kpu-loader --timing-only") {
            figures_[k].yardstickName = "target";
            figures_[k].yardstick = 100.0;
            figures_[k].target = Target(1.0, true, true);
        }
    }
    std::error_code ec;
    const auto bytes = fs::file_size(m.kpu, ec);
    Figure size =
        Figure(section, "object size", "MB")
            .against("target", 1.0)
            .aim(Target(1.0, true, true))
            .reproducedBy(m.compileCmd + " && stat -c %s " + fs::path(m.kpu).filename().string());
    figures_.push_back(size.measured(ec ? std::vector<double>{}
                                        : std::vector<double>{static_cast<double>(bytes) / kMB}));
    objects_.emplace_back(section, m.kpu);
}

void Bench::graphFigures() {
    if (o_.skipping("graph"))
        return;
    const std::string section = fmt::format("{}-node graph", o_.graphNodes);
    const std::string dfg = path(fmt::format("chain{}.dfg", o_.graphNodes));
    const std::string kpu = path(fmt::format("chain{}.kpu", o_.graphNodes));
    std::ofstream(dfg) << chainDfg(o_.graphNodes);
    const auto compile = compileArgs(dfg, kpu);
    std::vector<double> ms;
    std::string note;
    for (int rep = 0; rep < o_.repetitions; ++rep) {
        progress(fmt::format("{}, repetition {}/{}", section, rep + 1, o_.repetitions));
        if (const auto r = timed(compile))
            ms.push_back(r->seconds * 1e3);
        else
            note = "compile failed: " + lastError_;
    }
    Figure f = Figure(section, "kpu-kernel-compiler", "ms")
                   .against("target", 1000.0)
                   .aim(Target(1.0, true, true))
                   .reproducedBy(shown(compile))
                   .noting(note);
    figures_.push_back(f.measured(ms));
    if (ms.empty())
        return;
    // Check once that the object runs and its outputs match the reference executor.
    const auto run = loaderArgs(kpu, {});
    Figure check = Figure(section, "kpu-loader (verified), once", "ms").reproducedBy(shown(run));
    if (const auto r = timed(run)) {
        check.measured({r->seconds * 1e3});
        check.note = "runs; outputs match the reference";
    } else {
        check.note = "failed: " + lastError_;
    }
    figures_.push_back(check);
    objects_.emplace_back(section, kpu);
}

// loadObject (read + structural and semantic verification) in this process, per object.
void Bench::loadFigures() {
    progress("verify + load in-process");
    for (const auto& [label, kpu] : objects_) {
        std::error_code ec;
        const auto bytes = fs::file_size(kpu, ec);
        if (ec)
            continue;
        const double mb = static_cast<double>(bytes) / kMB;
        std::vector<double> ms;
        std::string note;
        for (int rep = 0; rep < std::max(o_.repetitions, 3); ++rep) {
            const auto start = std::chrono::steady_clock::now();
            const auto object = loader::loadObject(kpu);
            const double s =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            if (!object) {
                note = "failed: " + object.error().message;
                break;
            }
            ms.push_back(s * 1e3);
        }
        if (note.empty() && !ms.empty())
            note = fmt::format("{:.3f} MB: {:.2f} ms/MB", mb, statOf(ms).median / mb);
        // 2 ms per MB, and 2 ms for an object under 1 MB, whose time is mostly fixed costs.
        Figure f = Figure(label, "verify + load (loadObject)", "ms")
                       .against("2 ms/MB x max(size,1MB)", 2.0 * std::max(mb, 1.0))
                       .aim(Target(1.0, true, true))
                       .reproducedBy(fmt::format("kpu::loader::loadObject(\"{}\")",
                                                 fs::path(kpu).filename().string()))
                       .noting(note);
        figures_.push_back(f.measured(ms));
    }
}

ordered_json Bench::json(const Machine& machine) const {
    ordered_json j;
    j["tool"] = "kpu-perf";
    j["date"] = machine.date;
    j["machine"] = {{"cpu", machine.cpu},     {"cores", machine.cores},
                    {"flags", machine.flags}, {"l1d_bytes", machine.l1dBytes},
                    {"peaks_gflops", peaks_}, {"openblas_cores", blasCores_}};
    j["repetitions"] = o_.repetitions;
    j["config"] = config_.source;
    if (o_.threads)
        j["threads"] = *o_.threads;
    ordered_json figures = ordered_json::array();
    for (const Figure& f : figures_) {
        ordered_json x;
        x["section"] = f.section;
        x["name"] = f.name;
        x["unit"] = f.unit;
        auto opt = [](const std::optional<double>& v) { return v ? ordered_json(*v) : nullptr; };
        x["median"] = f.stat ? ordered_json(f.stat->median) : nullptr;
        x["min"] = f.stat ? opt(f.stat->min) : nullptr;
        x["max"] = f.stat ? opt(f.stat->max) : nullptr;
        x["count"] = f.stat ? f.stat->count : 0;
        x["samples"] = f.samples;
        x["yardstick_name"] = f.yardstickName;
        x["yardstick"] = opt(f.yardstick);
        x["ratio"] = opt(f.ratioValue());
        x["target"] = f.target ? ordered_json(f.target->str()) : nullptr;
        x["status"] = f.status();
        x["command"] = f.command;
        x["note"] = f.note;
        figures.push_back(x);
    }
    j["figures"] = figures;
    j["targets_missed"] = missed();
    return j;
}

int Bench::run() {
    machineFigures();
    kernelFigures();
    gemmFigures();
    mobileNetFigures();
    bigGemmFigures();
    graphFigures();
    loadFigures();

    std::string peaks;
    for (const auto& [name, gflops] : peaks_)
        peaks += fmt::format("{}{} {:.1f} GFLOP/s", peaks.empty() ? "" : ", ", name, gflops);
    std::cout << fmt::format("peaks: {}\n", peaks.empty() ? "not measured" : peaks);
    std::string cores;
    for (const auto& [name, core] : blasCores_)
        cores += fmt::format("{}{}: {}", cores.empty() ? "" : ", ", name, core);
    if (!cores.empty())
        std::cout << fmt::format("OpenBLAS cores: {}\n", cores);
    std::cout << fmt::format(
        "repetitions: {} (median, min, max); config: {}{}\n\n", o_.repetitions, config_.source,
        o_.threads ? fmt::format("; kpu-loader --threads {}", *o_.threads) : std::string());
    std::cout << formatTable(figures_);
    const std::vector<std::string> misses = missed();
    for (const Figure& f : figures_)
        if (f.target && f.name == "kpu-loader --no-verify" && f.ratioValue())
            std::cout << fmt::format("\nheadline: {} kpu-loader --no-verify / OpenBLAS-AVX512 = "
                                     "{:.2f} (target <= 1.3): {}\n",
                                     f.section, *f.ratioValue(), f.status());
    std::cout << fmt::format("\ntargets missed: {}{}{}\n", misses.size(),
                             misses.empty() ? "" : ": ", fmt::join(misses, "; "));
    if (!o_.jsonPath.empty()) {
        std::ofstream out(o_.jsonPath);
        out << json(machine_).dump(2) << "\n";
        if (!out) {
            std::cerr << "kpu-perf: error: cannot write " << o_.jsonPath << "\n";
            return 1;
        }
    }
    return failures_ == 0 ? 0 : 1;
}

std::vector<std::int64_t> parseSizes(const std::string& text) {
    std::vector<std::int64_t> sizes;
    std::istringstream in(text);
    for (std::string item; std::getline(in, item, ',');)
        if (!item.empty())
            sizes.push_back(std::stoll(item));
    return sizes;
}

} // namespace
} // namespace kpu::perf

int main(int argc, char** argv) {
    using namespace kpu::perf;
    CLI::App app{"kpu-perf: the speed figures of issue 5 in one run (docs/performance.md)"};
    Options o;
    int blasChild = 0;
    std::string sizes = "512,1024,2048", skip;
    app.add_option("--repetitions", o.repetitions, "repetitions of each figure (median, min, max)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_flag("--quick", o.quick, "one repetition, no 4096^3 GEMM (a smoke test)");
    app.add_option("--json", o.jsonPath, "also write the figures as JSON to this file");
    app.add_option("--build-dir", o.buildDir,
                   "where the CLIs are (default: the build tree of this binary)");
    app.add_option("--corpus", o.corpus,
                   "the dfg-corpus directory (default: ../shared/dfg-corpus from the repo root)");
    app.add_option("--config", o.configPath,
                   "KPU configuration for the compiler and the loader (default: embedded)");
    app.add_option("--threads", o.threads, "passed through to kpu-loader --threads");
    app.add_option("--sizes", sizes, "GEMM sizes n (n x n x n fp32), comma-separated")
        ->capture_default_str();
    app.add_option("--graph-nodes", o.graphNodes, "nodes of the generated graph")
        ->check(CLI::Range(std::int64_t{4}, std::int64_t{10'000'000}))
        ->capture_default_str();
    app.add_flag("--no-openblas", o.noOpenBlas, "skip the OpenBLAS yardstick");
    app.add_option("--skip", skip,
                   "comma-separated parts to skip: kernels, mobilenet, gemm4096, graph");
    app.add_flag("--keep", o.keep, "keep the scratch directory (generated .dfg and .kpu files)");
    app.add_option("--openblas-child", blasChild, "internal: time one OpenBLAS multiply of N^3")
        ->group("");
    CLI11_PARSE(app, argc, argv);
    if (blasChild > 0)
        return openBlasChild(blasChild);
    if (o.quick)
        o.repetitions = 1;
    try {
        o.sizes = parseSizes(sizes);
    } catch (const std::exception&) {
        std::cerr << "kpu-perf: error: --sizes '" << sizes << "': expected n,n,...\n";
        return 2;
    }
    std::sort(o.sizes.begin(), o.sizes.end());
    std::istringstream skipList(skip);
    for (std::string item; std::getline(skipList, item, ',');)
        if (!item.empty())
            o.skip.push_back(item);

    const fs::path self = fs::read_symlink("/proc/self/exe");
    if (o.buildDir.empty())
        o.buildDir = defaultBuildDir(self);
    if (o.corpus.empty())
        o.corpus = (fs::path(KPU_SOURCE_DIR) / ".." / "shared" / "dfg-corpus").lexically_normal();
    Tools tools{.compiler = findTool(o.buildDir, "compiler", "kpu-kernel-compiler"),
                .loader = findTool(o.buildDir, "loader", "kpu-loader"),
                .kernelBench = findTool(o.buildDir, "bench", "kpu-kernel-bench"),
                .self = self.string()};
    for (const std::string& tool : {tools.compiler, tools.loader})
        if (!fs::exists(tool)) {
            std::cerr << "kpu-perf: error: " << tool << " not found (--build-dir DIR)\n";
            return 2;
        }
    auto config = o.configPath.empty() ? kpu::Expected<kpu::KpuConfig>(kpu::defaultConfig())
                                       : kpu::loadConfigFile(o.configPath);
    if (!config) {
        std::cerr << config.error().message << "\n";
        return 2;
    }
    std::string pattern = (fs::temp_directory_path() / "kpu-perf.XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        std::cerr << "kpu-perf: error: cannot create a scratch directory: " << std::strerror(errno)
                  << "\n";
        return 1;
    }
    const bool keep = o.keep;
    Bench bench(std::move(o), std::move(tools), std::move(*config), pattern);
    const int status = bench.run();
    if (keep)
        std::cerr << "kpu-perf: kept " << pattern << "\n";
    else
        fs::remove_all(pattern);
    return status;
}
