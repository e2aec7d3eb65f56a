#include "figures.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace kpu::perf {

Stat statOf(std::vector<double> samples) {
    std::ranges::sort(samples);
    const std::size_t n = samples.size();
    Stat s;
    s.count = n;
    s.median = n % 2 == 1 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
    s.min = samples.front();
    s.max = samples.back();
    return s;
}

bool Target::met(double ratio) const {
    if (atMost)
        return strict ? ratio < bound : ratio <= bound;
    return strict ? ratio > bound : ratio >= bound;
}

std::string Target::str() const {
    return fmt::format("{}{}{}", atMost ? "<" : ">", strict ? "" : "=", formatValue(bound));
}

Figure& Figure::measured(const std::vector<double>& values) {
    samples = values;
    if (!values.empty())
        stat = statOf(values);
    return *this;
}

std::optional<double> Figure::ratioValue() const {
    if (ratio)
        return ratio;
    if (stat && yardstick && *yardstick != 0)
        return stat->median / *yardstick;
    return std::nullopt;
}

std::string Figure::status() const {
    if (!stat)
        return "n/a";
    const auto r = ratioValue();
    if (!target)
        return "info";
    if (!r)
        return "n/a";
    return target->met(*r) ? "PASS" : "MISS";
}

std::string formatValue(double value) {
    const double a = std::fabs(value);
    if (a == 0)
        return "0";
    if (a >= 1e6 || a < 1e-3)
        return fmt::format("{:.3g}", value);
    if (a >= 100)
        return fmt::format("{:.0f}", value);
    if (a >= 10)
        return fmt::format("{:.1f}", value);
    if (a >= 1)
        return fmt::format("{:.2f}", value);
    return fmt::format("{:.3f}", value);
}

std::string formatTable(const std::vector<Figure>& figures) {
    struct Row {
        std::vector<std::string> cells;
        std::string note;
    };
    const std::vector<std::string> header = {"figure",    "median", "min",    "max",   "unit",
                                             "yardstick", "ratio",  "target", "status"};
    std::vector<Row> rows;
    std::string section;
    for (const Figure& f : figures) {
        Row r;
        auto opt = [](const std::optional<double>& v) { return v ? formatValue(*v) : "-"; };
        r.cells.push_back(f.section + ": " + f.name);
        r.cells.push_back(f.stat ? formatValue(f.stat->median) : "-");
        r.cells.push_back(f.stat ? opt(f.stat->min) : "-");
        r.cells.push_back(f.stat ? opt(f.stat->max) : "-");
        r.cells.push_back(f.unit);
        r.cells.push_back(f.yardstick
                              ? fmt::format("{} {}", f.yardstickName, formatValue(*f.yardstick))
                              : (f.yardstickName.empty() ? "-" : f.yardstickName));
        const auto ratio = f.ratioValue();
        r.cells.push_back(ratio ? formatValue(*ratio) : "-");
        r.cells.push_back(f.target ? f.target->str() : "-");
        r.cells.push_back(f.status());
        r.note = f.note;
        rows.push_back(std::move(r));
    }
    std::vector<std::size_t> width(header.size());
    for (std::size_t c = 0; c < header.size(); ++c) {
        width[c] = header[c].size();
        for (const Row& r : rows)
            width[c] = std::max(width[c], r.cells[c].size());
    }
    auto line = [&](const std::vector<std::string>& cells, const std::string& note) {
        std::string s;
        for (std::size_t c = 0; c < cells.size(); ++c) {
            // Text columns left-aligned, numbers right-aligned.
            const bool left = c == 0 || c == 4 || c == 5;
            s += left ? fmt::format("{:<{}}", cells[c], width[c])
                      : fmt::format("{:>{}}", cells[c], width[c]);
            s += c + 1 < cells.size() ? "  " : "";
        }
        if (!note.empty())
            s += "  " + note;
        return s + "\n";
    };
    std::string out = line(header, "note");
    for (const Row& r : rows)
        out += line(r.cells, r.note);
    return out;
}

} // namespace kpu::perf
