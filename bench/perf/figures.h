// The figures kpu-perf reports: each the median (with min and max) of its repetitions, the
// yardstick it is compared with, their ratio, and the target on that ratio when the issue sets
// one. Printed as a table and written as JSON.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kpu::perf {

struct Stat {
    double median = 0;
    std::optional<double> min, max; // absent when only an aggregate was available
    std::size_t count = 0;
};

// Median (the mean of the middle two for an even count), min and max; `samples` is not empty.
Stat statOf(std::vector<double> samples);

// A bound on the ratio: ratio <= bound (atMost) or ratio >= bound.
struct Target {
    Target(double bound_, bool atMost_, bool strict_ = false)
        : bound(bound_), atMost(atMost_), strict(strict_) {}
    double bound = 1;
    bool atMost = true;
    bool strict = false; // "<" rather than "<="
    bool met(double ratio) const;
    std::string str() const;
};

struct Figure {
    Figure(std::string section_, std::string name_, std::string unit_)
        : section(std::move(section_)), name(std::move(name_)), unit(std::move(unit_)) {}
    std::string section; // "GEMM 2048^3", "MobileNet v2", "kernels", ...
    std::string name;    // what was measured
    std::string unit;    // unit of the value and of the yardstick
    std::optional<Stat> stat;
    std::vector<double> samples;
    std::string yardstickName;
    std::optional<double> yardstick; // in `unit`
    std::optional<double> ratio;     // value / yardstick unless given (kernel fractions)
    std::optional<Target> target;    // on the ratio
    std::string command;             // the command (or call) that reproduces it
    std::string note;                // "OpenBLAS not found", "failed: ...", ...

    // Sets samples and stat; an empty `samples` leaves the figure unmeasured.
    Figure& measured(const std::vector<double>& values);
    Figure& against(std::string yardstickName_, std::optional<double> yardstick_) {
        yardstickName = std::move(yardstickName_);
        yardstick = yardstick_;
        return *this;
    }
    Figure& aim(Target target_) {
        target = target_;
        return *this;
    }
    Figure& reproducedBy(std::string command_) {
        command = std::move(command_);
        return *this;
    }
    Figure& noting(std::string note_) {
        note = std::move(note_);
        return *this;
    }
    std::optional<double> ratioValue() const;
    // "PASS", "MISS", "info" (no target) or "n/a" (not measured).
    std::string status() const;
};

std::string formatTable(const std::vector<Figure>& figures);

// A number with about three significant digits, for the table.
std::string formatValue(double value);

} // namespace kpu::perf
