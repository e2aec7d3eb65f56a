// kpu-onnx-conformance: runs the ONNX backend test data (Debian libonnx-testdata) through the
// toolchain's command-line tools, as a user would: for every test,
//   kpu-kernel-compiler model.onnx -o t.kpu [--const NAME=input_K.pb ...]
//   kpu-loader t.kpu --threads 1 --input input_0.pb ... --expect output_0.pb ...
// and writes a Markdown report: per test pass / fail / unsupported (with the operator or
// feature that blocks it), and totals. With --check it exits 1 when any supported test fails.
// scripts/onnx-conformance.sh regenerates docs/onnx-conformance.md with it.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "kpu/common/onnx_tensor.h"
#include "kpu/compiler/onnx_importer.h"

namespace fs = std::filesystem;

namespace {

enum class Outcome { Pass, Fail, Unsupported };

struct TestCase {
    std::string suite, name;
    fs::path dir;
};

struct Result {
    Outcome outcome = Outcome::Fail;
    std::string detail;  // the first error line, or the expectation summary
    std::string blocker; // Unsupported: the operator (or feature) that blocks the test
};

struct Options {
    fs::path data = "/usr/share/libonnx-testdata/data";
    fs::path work = "onnx-conformance-work";
    std::string report, compiler, loader, filter;
    unsigned jobs = 2;
    bool check = false;
};

// Runs a shell command, capturing stdout and stderr; returns the exit status.
int run(const std::string& command, std::string& output) {
    output.clear();
    FILE* pipe = popen((command + " 2>&1").c_str(), "r");
    if (!pipe)
        return -1;
    std::array<char, 4096> buffer{};
    while (std::fgets(buffer.data(), buffer.size(), pipe))
        output += buffer.data();
    const int status = pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s)
        q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

std::string firstLine(const std::string& text, std::string_view containing = {}) {
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t end = text.find('\n', start);
        const std::string line =
            text.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (!line.empty() && (containing.empty() || line.find(containing) != std::string::npos))
            return line;
        if (end == std::string::npos)
            break;
        start = end + 1;
    }
    return containing.empty() ? std::string() : firstLine(text);
}

// "<file>: error: node 3 'n' (Conv): ..." -> "Conv"; errors outside a node name what blocks.
std::string blockerOf(const std::string& message) {
    static const std::regex node(R"(error: node \d+ '[^']*' \(([A-Za-z0-9_]+)\))");
    std::smatch m;
    if (std::regex_search(message, m, node))
        return m[1];
    if (message.find("element type") != std::string::npos)
        return "(element type)";
    return "(model)";
}

std::vector<fs::path> sortedFiles(const fs::path& dir, std::string_view prefix) {
    std::vector<fs::path> files;
    for (std::size_t i = 0;; ++i) {
        const fs::path f = dir / fmt::format("{}_{}.pb", prefix, i);
        if (!fs::exists(f))
            break;
        files.push_back(f);
    }
    return files;
}

Result runTest(const TestCase& test, const Options& options) {
    const fs::path model = test.dir / "model.onnx";
    auto staticNames = kpu::ir::onnxStaticInputNames(model.string());
    if (!staticNames)
        return {Outcome::Unsupported, firstLine(staticNames.error().message), "(model)"};
    std::vector<fs::path> sets;
    for (const auto& entry : fs::directory_iterator(test.dir))
        if (entry.is_directory() && entry.path().filename().string().starts_with("test_data_set"))
            sets.push_back(entry.path());
    std::ranges::sort(sets);
    if (sets.empty())
        return {Outcome::Unsupported, "no test data sets", "(no data)"};

    const fs::path work = options.work / fmt::format("{}-{}", test.suite, test.name);
    fs::create_directories(work);
    std::string compiled; // the object of the current static-input values
    std::vector<std::string> details;
    for (const fs::path& set : sets) {
        const auto inputs = sortedFiles(set, "input");
        const auto outputs = sortedFiles(set, "output");
        // Inputs that operators need at compile time are fixed with --const; the object then
        // checks (kpu-loader) that the value given at run time is the one it was compiled for.
        std::string consts;
        for (const fs::path& in : inputs) {
            auto value = kpu::onnx_io::readTensorFile(in.string());
            if (value && std::ranges::find(*staticNames, value->name) != staticNames->end())
                consts += fmt::format(" --const {}", quote(value->name + "=" + in.string()));
        }
        const fs::path object =
            work / (consts.empty() ? "model.kpu" : set.filename().string() + ".kpu");
        if (compiled != object.string()) {
            std::string out;
            const int status =
                run(fmt::format("{} {} -o {}{}", quote(options.compiler), quote(model.string()),
                                quote(object.string()), consts),
                    out);
            if (status != 0) {
                const std::string line = firstLine(out, "error");
                if (line.find("not supported") != std::string::npos)
                    return {Outcome::Unsupported, line, blockerOf(line)};
                return {Outcome::Fail, "compile: " + line, {}};
            }
            compiled = object.string();
        }
        std::string command =
            fmt::format("{} {} --threads 1", quote(options.loader), quote(object.string()));
        for (const fs::path& in : inputs)
            command += " --input " + quote(in.string());
        for (const fs::path& out : outputs)
            command += " --expect " + quote(out.string());
        std::string out;
        const int status = run(command, out);
        if (status != 0) {
            const std::string line = firstLine(out, "error");
            if (line.find("not supported") != std::string::npos)
                return {Outcome::Unsupported, line, blockerOf(line)};
            const std::string failed = firstLine(out, "FAIL");
            return {Outcome::Fail,
                    fmt::format("{}: {}", set.filename().string(), failed.empty() ? line : failed),
                    {}};
        }
        details.push_back(firstLine(out, "max abs"));
    }
    fs::remove_all(work);
    return {Outcome::Pass, details.empty() ? std::string() : details.front(), {}};
}

std::string escapeCell(std::string s) {
    for (char& c : s)
        if (c == '|' || c == '\n')
            c = c == '|' ? '/' : ' ';
    const std::string prefix = ": error: ";
    if (const std::size_t at = s.find(prefix); at != std::string::npos)
        s = s.substr(at + prefix.size()); // the model path is the test's own
    if (s.size() > 160)
        s = s.substr(0, 157) + "...";
    return s;
}

std::string report(const std::vector<TestCase>& tests, const std::vector<Result>& results) {
    struct Totals {
        int pass = 0, fail = 0, unsupported = 0;
    };
    std::map<std::string, Totals> suites;
    Totals all;
    std::map<std::string, int> blockers;
    for (std::size_t i = 0; i < tests.size(); ++i) {
        Totals& t = suites[tests[i].suite];
        switch (results[i].outcome) {
        case Outcome::Pass:
            ++t.pass, ++all.pass;
            break;
        case Outcome::Fail:
            ++t.fail, ++all.fail;
            break;
        case Outcome::Unsupported:
            ++t.unsupported, ++all.unsupported;
            ++blockers[results[i].blocker];
            break;
        }
    }
    std::string md = "# ONNX conformance\n\n";
    md += "The ONNX backend test data (Debian `libonnx-testdata`, ONNX 1.12) run through "
          "`kpu-kernel-compiler` and `kpu-loader --input ... --expect ...` by "
          "`kpu-onnx-conformance`; regenerate this page with `scripts/onnx-conformance.sh`. A "
          "test is *unsupported* when the compiler refuses one of its operators, attributes or "
          "element types (docs/onnx.md lists what is supported); every other test must pass, and "
          "the test suite fails if one does not.\n\n";
    md += "| suite | pass | fail | unsupported | total |\n|---|---|---|---|---|\n";
    for (const auto& [suite, t] : suites)
        md += fmt::format("| {} | {} | {} | {} | {} |\n", suite, t.pass, t.fail, t.unsupported,
                          t.pass + t.fail + t.unsupported);
    md += fmt::format("| **all** | **{}** | **{}** | **{}** | **{}** |\n\n", all.pass, all.fail,
                      all.unsupported, all.pass + all.fail + all.unsupported);
    const int supported = all.pass + all.fail;
    md += fmt::format("Pass rate among supported tests: {}/{} ({:.1f}%).\n\n", all.pass, supported,
                      supported ? 100.0 * all.pass / supported : 0.0);
    std::vector<std::pair<std::string, int>> ranked(blockers.begin(), blockers.end());
    std::ranges::stable_sort(ranked,
                             [](const auto& a, const auto& b) { return a.second > b.second; });
    md += "## What blocks the unsupported tests\n\n| operator or feature | tests |\n|---|---|\n";
    for (const auto& [name, count] : ranked)
        md += fmt::format("| {} | {} |\n", name, count);
    md += "\n## Every test\n\n| suite | test | result | detail |\n|---|---|---|---|\n";
    for (std::size_t i = 0; i < tests.size(); ++i) {
        const Result& r = results[i];
        const char* outcome = r.outcome == Outcome::Pass   ? "pass"
                              : r.outcome == Outcome::Fail ? "**FAIL**"
                                                           : "unsupported";
        md += fmt::format("| {} | {} | {} | {} |\n", tests[i].suite, tests[i].name, outcome,
                          escapeCell(r.detail));
    }
    return md;
}

} // namespace

int main(int argc, char** argv) {
    CLI::App app{"kpu-onnx-conformance: run the ONNX backend test data through the toolchain"};
    Options o;
    app.add_option("--data", o.data, "the test data root (with node/, simple/, ...)")
        ->capture_default_str();
    app.add_option("--compiler", o.compiler, "kpu-kernel-compiler executable")->required();
    app.add_option("--loader", o.loader, "kpu-loader executable")->required();
    app.add_option("--work", o.work, "scratch directory for objects")->capture_default_str();
    app.add_option("--report", o.report, "write the Markdown report here");
    app.add_option("--filter", o.filter, "only tests whose name contains this");
    app.add_option("--jobs", o.jobs, "tests run at once")->capture_default_str();
    app.add_flag("--check", o.check, "exit 1 when a supported test fails");
    CLI11_PARSE(app, argc, argv);

    std::vector<TestCase> tests;
    for (const char* suite : {"node", "pytorch-converted", "pytorch-operator", "simple"}) {
        const fs::path dir = o.data / suite;
        if (!fs::is_directory(dir)) {
            std::cerr << "kpu-onnx-conformance: error: " << dir.string()
                      << " is missing (install libonnx-testdata: scripts/install-deps.sh)\n";
            return 1;
        }
        for (const auto& entry : fs::directory_iterator(dir))
            if (fs::exists(entry.path() / "model.onnx") &&
                entry.path().filename().string().find(o.filter) != std::string::npos)
                tests.push_back({suite, entry.path().filename().string(), entry.path()});
    }
    std::ranges::sort(tests, {}, [](const TestCase& t) { return std::tie(t.suite, t.name); });

    std::vector<Result> results(tests.size());
    std::atomic<std::size_t> next{0};
    std::mutex printing;
    std::vector<std::thread> workers;
    for (unsigned j = 0; j < std::max(1u, o.jobs); ++j)
        workers.emplace_back([&] {
            for (std::size_t i; (i = next++) < tests.size();) {
                results[i] = runTest(tests[i], o);
                if (results[i].outcome == Outcome::Fail) {
                    const std::lock_guard lock(printing);
                    std::cerr << "FAIL " << tests[i].suite << "/" << tests[i].name << ": "
                              << results[i].detail << "\n";
                }
            }
        });
    for (std::thread& w : workers)
        w.join();

    int pass = 0, fail = 0, unsupported = 0;
    for (const Result& r : results)
        (r.outcome == Outcome::Pass ? pass : r.outcome == Outcome::Fail ? fail : unsupported)++;
    std::cout << fmt::format("onnx conformance: {} pass, {} fail, {} unsupported ({} tests)\n",
                             pass, fail, unsupported, tests.size());
    if (!o.report.empty()) {
        std::ofstream file(o.report);
        file << report(tests, results);
        if (!file) {
            std::cerr << "kpu-onnx-conformance: error: cannot write " << o.report << "\n";
            return 1;
        }
    }
    return o.check && fail > 0 ? 1 : 0;
}
