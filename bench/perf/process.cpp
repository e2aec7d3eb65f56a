#include "process.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace kpu::perf {
namespace {

std::string readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<std::string> childEnvironment(const EnvChanges& changes) {
    std::vector<std::string> env;
    auto changed = [&](const std::string& entry) {
        const std::string name = entry.substr(0, entry.find('='));
        for (const auto& [n, v] : changes.set)
            if (n == name)
                return true;
        for (const std::string& n : changes.unset)
            if (n == name)
                return true;
        return false;
    };
    for (char** e = environ; *e != nullptr; ++e)
        if (!changed(*e))
            env.emplace_back(*e);
    for (const auto& [n, v] : changes.set)
        env.push_back(n + "=" + v);
    return env;
}

std::vector<char*> cStrings(std::vector<std::string>& strings) {
    std::vector<char*> p;
    for (std::string& s : strings)
        p.push_back(s.data());
    p.push_back(nullptr);
    return p;
}

} // namespace

ProcessResult runProcess(const std::vector<std::string>& argv, const std::string& scratchDir,
                         const EnvChanges& env) {
    ProcessResult r;
    const std::string outPath = scratchDir + "/child.stdout",
                      errPath = scratchDir + "/child.stderr";
    // Everything the child needs is prepared before the clock starts.
    std::vector<std::string> args = argv, envStrings = childEnvironment(env);
    std::vector<char*> cArgs = cStrings(args), cEnv = cStrings(envStrings);
    const int outFd = ::open(outPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int errFd = ::open(errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (outFd < 0 || errFd < 0) {
        r.err = "kpu-perf: cannot create output files in " + scratchDir;
        return r;
    }
    const auto start = std::chrono::steady_clock::now();
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(outFd, STDOUT_FILENO);
        ::dup2(errFd, STDERR_FILENO);
        ::execve(cArgs[0], cArgs.data(), cEnv.data());
        std::fprintf(stderr, "kpu-perf: cannot run %s: %s\n", cArgs[0], std::strerror(errno));
        std::_Exit(127);
    }
    ::close(outFd);
    ::close(errFd);
    if (pid < 0) {
        r.err = std::string("kpu-perf: fork failed: ") + std::strerror(errno);
        return r;
    }
    int status = 0;
    rusage usage{};
    while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    r.peakRssBytes = static_cast<std::uint64_t>(usage.ru_maxrss) * 1024; // Linux: KiB
    r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = readFile(outPath);
    r.err = readFile(errPath);
    return r;
}

std::string commandLine(const std::vector<std::string>& argv) {
    std::string s;
    for (const std::string& a : argv) {
        if (!s.empty())
            s += ' ';
        const bool plain = !a.empty() && a.find_first_of(" \t'\"\\$&|;<>()*?") == std::string::npos;
        s += plain ? a : "'" + a + "'";
    }
    return s;
}

} // namespace kpu::perf
