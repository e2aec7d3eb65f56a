// Child processes timed as a user runs them: fork + exec, wall clock from fork to wait4, and the
// child's peak resident set from wait4's rusage. stdout and stderr go to files in a scratch
// directory, so a child never blocks on a full pipe while it is being timed.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kpu::perf {

struct ProcessResult {
    int exitCode = -1; // the child's exit status; 128 + signal when a signal ended it
    double seconds = 0;
    std::uint64_t peakRssBytes = 0;
    std::string out, err;
    bool ok() const { return exitCode == 0; }
};

// Environment changes for one child: variables set (name, value) and variables removed.
struct EnvChanges {
    std::vector<std::pair<std::string, std::string>> set;
    std::vector<std::string> unset;
};

// Runs argv[0] (a path) with argv, this process's environment changed by `env`; `scratchDir`
// holds the output files. Never throws on a failing child: see exitCode and err.
ProcessResult runProcess(const std::vector<std::string>& argv, const std::string& scratchDir,
                         const EnvChanges& env = {});

// "a b 'c d'": a command line for messages and the reproduction commands.
std::string commandLine(const std::vector<std::string>& argv);

} // namespace kpu::perf
