// Tests of test checkers: run a checker on deliberately broken input and assert it complains.
#pragma once

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

namespace kpu::test {

// Runs `f` with failures intercepted; returns the messages of the failures it reported.
template <class F>
std::vector<std::string> failuresOf(F&& f) {
    ::testing::TestPartResultArray results;
    {
        ::testing::ScopedFakeTestPartResultReporter reporter(
            ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &results);
        f();
    }
    std::vector<std::string> out;
    for (int i = 0; i < results.size(); ++i)
        out.emplace_back(results.GetTestPartResult(i).message());
    return out;
}

// Expects `f` to report at least one failure whose message contains `needle`.
template <class F>
void expectCaught(F&& f, const std::string& needle) {
    const auto failures = failuresOf(std::forward<F>(f));
    const bool found = std::ranges::any_of(
        failures, [&](const std::string& m) { return m.find(needle) != std::string::npos; });
    EXPECT_TRUE(found) << "no failure mentions '" << needle << "' among " << failures.size();
}

} // namespace kpu::test
