// Runs a tool as a child process and captures its exit status and output, for end-to-end tests.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace kpu::test {

struct CommandResult {
    int exitCode = -1;
    bool crashed = false; // killed by a signal
    std::string out, err;
};

inline std::string shellQuote(const std::string& s) {
    std::string q = "'";
    for (char c : s)
        q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

inline std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Runs argv (in `cwd` when given) and waits for it.
inline CommandResult runCommand(const std::vector<std::string>& argv, const std::string& cwd = "") {
    static int counter = 0;
    const auto dir = std::filesystem::temp_directory_path();
    const auto tag = std::to_string(::getpid()) + "_" + std::to_string(counter++);
    const auto outPath = dir / ("kpu_out_" + tag), errPath = dir / ("kpu_err_" + tag);
    std::string cmd = cwd.empty() ? "" : "cd " + shellQuote(cwd) + " && ";
    for (const auto& a : argv)
        cmd += shellQuote(a) + " ";
    cmd += "> " + shellQuote(outPath) + " 2> " + shellQuote(errPath);
    const int status = std::system(cmd.c_str());
    CommandResult r;
    if (WIFEXITED(status)) {
        r.exitCode = WEXITSTATUS(status);
        // The shell reports a child killed by signal N as exit status 128 + N.
        r.crashed = r.exitCode > 128;
    } else {
        r.crashed = true;
    }
    r.out = slurp(outPath);
    r.err = slurp(errPath);
    std::filesystem::remove(outPath);
    std::filesystem::remove(errPath);
    return r;
}

// A fresh scratch directory per test, removed at the end.
class ScratchDir {
public:
    explicit ScratchDir(const std::string& name) {
        path_ = std::filesystem::temp_directory_path() /
                ("kpu_test_" + std::to_string(::getpid()) + "_" + name);
        std::filesystem::remove_all(path_);
        std::filesystem::create_directories(path_);
    }
    ~ScratchDir() { std::filesystem::remove_all(path_); }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

} // namespace kpu::test
