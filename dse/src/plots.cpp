// The Pareto fronts and the two pictures of a sweep (see plots.h and docs/dse.md).
//
// Everything here is deterministic: numbers go through fmt (which ignores the locale), models
// keep the order in which they first appear, roofs are sorted, and no container with an
// unspecified order is walked. The same sweep therefore always gives byte-identical files, which
// keeps them diffable and lets a test compare them.
#include "kpu/dse/plots.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace kpu::dse {

std::vector<bool> paretoFront(std::span<const double> x, std::span<const double> y) {
    // Spans of different sizes: the extra entries have no partner coordinate, so they are simply
    // not optimal rather than an error (the caller gets one flag per entry of the longer span).
    std::vector<bool> optimal(std::max(x.size(), y.size()), false);
    const std::size_t n = std::min(x.size(), y.size());
    std::vector<std::size_t> order;
    order.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        if (!std::isnan(x[i]) && !std::isnan(y[i])) {
            order.push_back(i);
        }
    }
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        if (x[a] != x[b]) {
            return x[a] < x[b];
        }
        if (y[a] != y[b]) {
            return y[a] < y[b];
        }
        return a < b;
    });
    // Sweep by increasing x, one group of equal x at a time. Only a point of strictly smaller x
    // (with y <=) or of equal x (with y <) can dominate a point, so within a group only the
    // smallest y and its duplicates can be optimal, and they are exactly when that y is below
    // every y seen at smaller x. A flag instead of a +inf start keeps a lone (x, +inf) optimal.
    bool haveBest = false;
    double bestY = 0;
    for (std::size_t group = 0; group < order.size();) {
        const double gx = x[order[group]];
        const double gy = y[order[group]];
        std::size_t end = group;
        while (end < order.size() && x[order[end]] == gx) {
            ++end;
        }
        if (!haveBest || gy < bestY) {
            for (std::size_t k = group; k < end && y[order[k]] == gy; ++k) {
                optimal[order[k]] = true;
            }
            bestY = gy;
            haveBest = true;
        }
        group = end;
    }
    return optimal;
}

namespace {

// ---- Text ---------------------------------------------------------------------------------------

constexpr std::string_view kReplacement = "\xEF\xBF\xBD"; // U+FFFD

// Length of the well-formed UTF-8 sequence starting at s[i] that XML 1.0 may carry, 0 if none.
std::size_t utf8Length(std::string_view s, std::size_t i) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char lead = byte(i);
    std::size_t len = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
        len = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        len = 3;
        lo = lead == 0xE0 ? 0xA0 : 0x80; // no overlong forms
        hi = lead == 0xED ? 0x9F : 0xBF; // no surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        len = 4;
        lo = lead == 0xF0 ? 0x90 : 0x80;
        hi = lead == 0xF4 ? 0x8F : 0xBF; // nothing above U+10FFFF
    } else {
        return 0;
    }
    if (i + len > s.size() || byte(i + 1) < lo || byte(i + 1) > hi) {
        return 0;
    }
    for (std::size_t k = 2; k < len; ++k) {
        if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) {
            return 0;
        }
    }
    // U+FFFE and U+FFFF are not XML characters either.
    if (len == 3 && lead == 0xEF && byte(i + 1) == 0xBF && byte(i + 2) >= 0xBE) {
        return 0;
    }
    return len;
}

// Text for XML character data or an attribute value. The five special characters become
// entities, and what XML 1.0 cannot carry at all (control characters, broken UTF-8) becomes
// U+FFFD: a model name read from some file must never make the whole picture unreadable.
std::string xmlText(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        const char c = s[i];
        if (static_cast<unsigned char>(c) >= 0x80) {
            const std::size_t len = utf8Length(s, i);
            if (len == 0) {
                out += kReplacement;
                ++i;
            } else {
                out += s.substr(i, len);
                i += len;
            }
            continue;
        }
        switch (c) {
        case '&':
            out += "&amp;";
            break;
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        case '"':
            out += "&quot;";
            break;
        case '\'':
            out += "&apos;";
            break;
        case '\t':
        case '\n':
        case '\r':
            out += ' ';
            break; // attribute values would fold them anyway
        default:
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
                out += kReplacement;
            } else {
                out += c;
            }
        }
        ++i;
    }
    return out;
}

std::size_t codePoints(std::string_view s) {
    return static_cast<std::size_t>(std::count_if(
        s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// At most `limit` code points of s, with an ellipsis when cut (long names would run off the
// legend; the full name stays in the entry's <title>).
std::string shortened(std::string_view s, std::size_t limit) {
    if (codePoints(s) <= limit) {
        return std::string(s);
    }
    std::size_t kept = 0;
    std::size_t i = 0;
    for (; i < s.size(); ++i) {
        if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && kept++ == limit - 1) {
            break;
        }
    }
    return std::string(s.substr(0, i)) + "\xE2\x80\xA6"; // U+2026
}

// A width estimate for laying out text without a font engine: DejaVu Sans, which rsvg and most
// Linux browsers fall back to, averages a little under 0.62 em per character.
double textWidth(std::string_view s, double fontSize) {
    return static_cast<double>(codePoints(s)) * fontSize * 0.62;
}

// A number for a person: 4 significant digits, plain up to a million (GFLOP/s run into the
// ten thousands, and "12000" reads better than "1.2e4"), else an exponent without fmt's '+'
// and leading zeros ("1e+07" reads better as "1e7").
std::string number(double v) {
    if (std::fabs(v) >= 1e4 && std::fabs(v) < 1e6) {
        return fmt::format("{:.0f}", v);
    }
    std::string s = fmt::format("{:.4g}", v);
    const std::size_t e = s.find('e');
    if (e == std::string::npos) {
        return s;
    }
    std::string mantissa = s.substr(0, e);
    const bool negative = s[e + 1] == '-';
    std::size_t digits = e + 2;
    while (digits + 1 < s.size() && s[digits] == '0') {
        ++digits;
    }
    return mantissa + (negative ? "e-" : "e") + s.substr(digits);
}

// ---- Units --------------------------------------------------------------------------------------

struct Unit {
    std::string_view name;
    double scale = 1; // value in this unit = value / scale
};

constexpr std::array<Unit, 3> kTimeUnits{{{"s", 1}, {"ms", 1e-3}, {"\xC2\xB5s", 1e-6}}};
constexpr std::array<Unit, 3> kEnergyUnits{{{"J", 1}, {"mJ", 1e-3}, {"\xC2\xB5J", 1e-6}}};
constexpr std::array<Unit, 1> kAreaUnits{{{"mm\xC2\xB2", 1}}};
constexpr std::array<Unit, 1> kIntensityUnits{{{"flop/byte", 1}}};
constexpr std::array<Unit, 1> kThroughputUnits{{{"GFLOP/s", 1}}};

// The largest unit (units come largest first) in which `magnitude` is at least 1, so that a
// value reads "3.2 ms" rather than "0.0032 s"; the smallest when even that is too big.
Unit pickUnit(std::span<const Unit> units, double magnitude) {
    for (const Unit& u : units) {
        if (magnitude / u.scale >= 1) {
            return u;
        }
    }
    return units.back();
}

// For a log axis from lo to hi: the unit that keeps the tick labels closest to 1 at both ends
// (1 µs to 100 ms reads best as 0.001 to 100 ms, not as 1 to 1e5 µs).
Unit pickLogUnit(std::span<const Unit> units, double lo, double hi) {
    Unit best = units.front();
    double bestSpread = 1e300;
    for (const Unit& u : units) {
        const double spread =
            std::max(std::fabs(std::log10(lo / u.scale)), std::fabs(std::log10(hi / u.scale)));
        if (spread < bestSpread - 1e-9) {
            best = u;
            bestSpread = spread;
        }
    }
    return best;
}

std::string withUnit(double v, std::span<const Unit> units) {
    const Unit u = pickUnit(units, std::fabs(v));
    return fmt::format("{} {}", number(v / u.scale), u.name);
}

// ---- Axes ---------------------------------------------------------------------------------------

struct Axis {
    double lo = 0;
    double hi = 1;
    bool log = false;
    Unit unit;
    int decimals = -1;          // fixed decimals of linear tick labels; -1: 4 significant digits
    std::vector<double> ticks;  // labelled, with a grid line
    std::vector<double> minors; // short unlabelled marks (log axes)

    // Position of v along the axis, 0 at lo and 1 at hi.
    double frac(double v) const {
        if (log) {
            return (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
        }
        return (v / 2 - lo / 2) / (hi / 2 - lo / 2); // halves: hi - lo may overflow
    }
    bool holds(double v) const { return std::isfinite(v) && (!log || v > 0); }
    std::string tickLabel(double v) const {
        const double shown = v / unit.scale;
        return decimals >= 0 ? fmt::format("{:.{}f}", shown, decimals) : number(shown);
    }
    std::string title(std::string_view quantity) const {
        return fmt::format("{} ({}{})", quantity, unit.name, log ? ", log scale" : "");
    }
};

// A 1-2-5 step giving about `target` intervals over `span`.
double niceStep(double span, double target) {
    const double raw = span / target;
    const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    const double norm = raw / magnitude;
    const double nice = norm < 1.5 ? 1 : norm < 3.5 ? 2 : norm < 7.5 ? 5 : 10;
    return nice * magnitude;
}

void linearTicks(Axis& axis) {
    const double step = niceStep(axis.hi - axis.lo, 6);
    // Multiples of the step (not repeated additions) so that labels carry no rounding drift.
    // A range too wide for doubles (hi - lo overflowing) gets no ticks rather than garbage.
    const double firstMultiple = std::ceil(axis.lo / step - 1e-9);
    const double lastMultiple = std::floor(axis.hi / step + 1e-9);
    if (!std::isfinite(step) || step <= 0 || !(std::fabs(firstMultiple) < 1e15) ||
        !(std::fabs(lastMultiple) < 1e15)) {
        return;
    }
    const auto first = static_cast<long long>(firstMultiple);
    const auto last = static_cast<long long>(lastMultiple);
    for (long long k = first; k <= last && axis.ticks.size() < 50; ++k) {
        axis.ticks.push_back(static_cast<double>(k) * step);
    }
    // Enough decimals to tell neighbouring ticks apart, unless the numbers are extreme.
    const double shownStep = step / axis.unit.scale;
    const double shownMax = std::max(std::fabs(axis.lo), std::fabs(axis.hi)) / axis.unit.scale;
    const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(shownStep) + 1e-9)));
    axis.decimals = decimals <= 6 && shownMax < 1e7 ? decimals : -1;
}

// Decades, with 2 and 5 in between when the axis spans few of them, and every n-th decade
// when it spans many; the other multiples become unlabelled minor marks.
void logTicks(Axis& axis) {
    const int first = static_cast<int>(std::floor(std::log10(axis.lo))) - 1;
    const int last = static_cast<int>(std::ceil(std::log10(axis.hi))) + 1;
    const double decades = std::log10(axis.hi) - std::log10(axis.lo);
    const int stride = std::max(1, static_cast<int>(std::ceil(decades / 8)));
    const bool withTwoAndFive = decades <= 2.5;
    const auto inside = [&](double v) {
        return std::isfinite(v) && v >= axis.lo * (1 - 1e-9) && v <= axis.hi * (1 + 1e-9);
    };
    for (int e = first; e <= last; ++e) {
        const double decade = std::pow(10.0, e);
        for (int m = 1; m <= 9; ++m) {
            const double v = m * decade;
            if (!inside(v)) {
                continue;
            }
            const bool major = m == 1 ? e % stride == 0 : withTwoAndFive && (m == 2 || m == 5);
            if (major) {
                axis.ticks.push_back(v);
            } else if (stride == 1) {
                axis.minors.push_back(v);
            }
        }
    }
}

// A log axis over [lo, hi], kept within the positive normal doubles so that its logarithms
// stay finite whatever the data.
Axis logAxis(double lo, double hi, Unit unit) {
    Axis axis;
    axis.log = true;
    axis.lo = std::clamp(lo, std::numeric_limits<double>::min(), 1e300);
    axis.hi = std::clamp(hi, axis.lo * 10, std::numeric_limits<double>::max());
    axis.unit = unit;
    logTicks(axis);
    return axis;
}

// An axis over `values` (non-finite ones ignored): logarithmic when they are all positive and
// span more than a factor 10, else linear; padded a little so no point sits on the frame.
Axis scatterAxis(std::span<const double> values, std::span<const Unit> units) {
    Axis axis;
    bool any = false;
    double lo = 0;
    double hi = 0;
    for (double v : values) {
        if (std::isfinite(v)) {
            lo = any ? std::min(lo, v) : v;
            hi = any ? std::max(hi, v) : v;
            any = true;
        }
    }
    if (any && lo > 0 && hi / lo > 10) {
        // 4% of the span in log space on each side (computed in logs: hi / lo may overflow).
        const double pad = std::pow(10.0, 0.04 * (std::log10(hi) - std::log10(lo)));
        axis = logAxis(lo / pad, hi * pad, pickLogUnit(units, lo / pad, hi * pad));
        return axis;
    }
    if (!any) {
        lo = 0;
        hi = 1;
    } else if (lo == hi) {
        const double half = lo == 0 ? 1 : std::fabs(lo) / 2;
        lo -= half;
        hi += half;
    } else {
        const double pad = hi * 0.06 - lo * 0.06;
        lo -= pad;
        hi += pad;
    }
    constexpr double most = std::numeric_limits<double>::max();
    axis.lo = std::clamp(lo, -most, most);
    axis.hi = std::clamp(hi, -most, most);
    axis.unit = pickUnit(units, std::max(std::fabs(lo), std::fabs(hi)));
    linearTicks(axis);
    return axis;
}

// ---- SVG pieces ---------------------------------------------------------------------------------

template <typename... Args>
void put(std::string& out, fmt::format_string<Args...> format, Args&&... args) {
    fmt::format_to(std::back_inserter(out), format, std::forward<Args>(args)...);
}

constexpr double kWidth = 900;
constexpr double kTickFont = 11;
constexpr double kLegendFont = 12;

// Matplotlib's tab10 without its grey and olive: eight hues that stay apart on white and for
// the common colour-vision deficiencies. Past eight models the hues repeat with a dash pattern
// on the front line, so series still differ.
constexpr std::array<std::string_view, 8> kPalette{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                                   "#9467bd", "#8c564b", "#e377c2", "#17becf"};
constexpr std::array<std::string_view, 4> kDashes{"", "6 3", "2 2", "8 3 2 3"};

struct Series {
    std::string name;
    std::string_view colour;
    std::string_view dash;
};

// The models in order of first appearance, and each point's series.
std::pair<std::vector<Series>, std::vector<std::size_t>> seriesOf(std::span<const PlotPoint> ps) {
    std::vector<Series> series;
    std::vector<std::size_t> index;
    std::map<std::string, std::size_t, std::less<>> known;
    for (const PlotPoint& p : ps) {
        auto [it, added] = known.try_emplace(p.model, series.size());
        if (added) {
            const std::size_t n = series.size();
            series.push_back({p.model, kPalette[n % kPalette.size()],
                              kDashes[(n / kPalette.size()) % kDashes.size()]});
        }
        index.push_back(it->second);
    }
    return {std::move(series), std::move(index)};
}

std::string dashAttribute(std::string_view dash) {
    return dash.empty() ? std::string() : fmt::format(" stroke-dasharray=\"{}\"", dash);
}

// A circle drawn as a path, for legend keys: <circle> is kept for plotted points only, so
// counting circles counts points.
std::string circlePath(double cx, double cy, double r) {
    return fmt::format("M{:.1f},{:.1f} a{:.1f},{:.1f} 0 1,0 {:.1f},0 a{:.1f},{:.1f} 0 1,0 "
                       "{:.1f},0 Z",
                       cx - r, cy, r, r, 2 * r, r, r, -2 * r);
}

void openSvg(std::string& out, double height, const std::string& title) {
    put(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    put(out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{0:.0f}\" "
        "height=\"{1:.0f}\" viewBox=\"0 0 {0:.0f} {1:.0f}\" "
        "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n",
        kWidth, height);
    put(out, "<title>{}</title>\n", xmlText(title));
    put(out, "<rect width=\"{:.0f}\" height=\"{:.0f}\" fill=\"#ffffff\"/>\n", kWidth, height);
    put(out,
        "<text class=\"plot-title\" x=\"{:.1f}\" y=\"30\" font-size=\"16\" font-weight=\"bold\" "
        "text-anchor=\"middle\">{}</text>\n",
        kWidth / 2, xmlText(title));
}

std::string noPointsSvg(const std::string& title, std::string_view why) {
    std::string out;
    openSvg(out, 200, title);
    put(out,
        "<text class=\"no-points\" x=\"{:.1f}\" y=\"100\" font-size=\"14\" "
        "text-anchor=\"middle\" fill=\"#555555\">no points</text>\n",
        kWidth / 2);
    if (!why.empty()) {
        put(out,
            "<text class=\"note\" x=\"{:.1f}\" y=\"124\" font-size=\"11\" text-anchor=\"middle\" "
            "fill=\"#555555\">{}</text>\n",
            kWidth / 2, xmlText(why));
    }
    put(out, "</svg>\n");
    return out;
}

// The plot area of one panel and its two axes.
struct Frame {
    double left = 0;
    double top = 0;
    double width = 0;
    double height = 0;
    Axis x;
    Axis y;

    // Clamped to the frame: only data beyond what an axis can represent (subnormal or overflowing
    // values) would land outside, and it must not be drawn off the picture.
    double px(double v) const { return left + std::clamp(x.frac(v), 0.0, 1.0) * width; }
    double py(double v) const { return top + height - std::clamp(y.frac(v), 0.0, 1.0) * height; }
    double right() const { return left + width; }
    double bottom() const { return top + height; }
};

double widestTickLabel(const Axis& axis) {
    double widest = 0;
    for (double t : axis.ticks) {
        widest = std::max(widest, textWidth(axis.tickLabel(t), kTickFont));
    }
    return widest;
}

// Room left of the plot for the y tick labels and the y axis title.
double leftMargin(std::span<const Axis> yAxes) {
    double widest = 0;
    for (const Axis& a : yAxes) {
        widest = std::max(widest, widestTickLabel(a));
    }
    return std::max(72.0, widest + 40);
}

void drawAxes(std::string& out, const Frame& f, std::string_view xTitle, std::string_view yTitle) {
    out += "<g class=\"grid\" stroke=\"#e8e8e8\" stroke-width=\"1\">\n";
    for (double t : f.x.ticks) {
        put(out, "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\"/>\n", f.px(t),
            f.top, f.bottom());
    }
    for (double t : f.y.ticks) {
        put(out, "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\"/>\n", f.left,
            f.py(t), f.right());
    }
    out += "</g>\n";
    put(out,
        "<rect class=\"frame\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
        "fill=\"none\" stroke=\"#444444\"/>\n",
        f.left, f.top, f.width, f.height);

    out += "<g class=\"ticks\" stroke=\"#444444\" stroke-width=\"1\">\n";
    const auto xMark = [&](double t, double len) {
        put(out, "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\"/>\n", f.px(t),
            f.bottom(), f.bottom() + len);
    };
    const auto yMark = [&](double t, double len) {
        put(out, "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\"/>\n", f.left,
            f.py(t), f.left - len);
    };
    for (double t : f.x.ticks) {
        xMark(t, 5);
    }
    for (double t : f.x.minors) {
        xMark(t, 3);
    }
    for (double t : f.y.ticks) {
        yMark(t, 5);
    }
    for (double t : f.y.minors) {
        yMark(t, 3);
    }
    out += "</g>\n";

    // Labels that would touch their neighbour are skipped rather than drawn over each other.
    put(out, "<g class=\"tick-labels\" font-size=\"{:.0f}\" fill=\"#333333\">\n", kTickFont);
    double lastRight = -1e9;
    for (double t : f.x.ticks) {
        const std::string label = f.x.tickLabel(t);
        const double w = textWidth(label, kTickFont);
        const double x = f.px(t);
        if (x - w / 2 < lastRight + 6) {
            continue;
        }
        lastRight = x + w / 2;
        put(out, "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", x,
            f.bottom() + 18, xmlText(label));
    }
    double lastTop = 1e9;
    for (double t : f.y.ticks) {
        const double y = f.py(t);
        if (y + kTickFont / 2 > lastTop - 3) {
            continue;
        }
        lastTop = y - kTickFont / 2;
        put(out, "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", f.left - 8,
            y + 4, xmlText(f.y.tickLabel(t)));
    }
    out += "</g>\n";

    put(out,
        "<text class=\"axis-title\" x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"12\" "
        "text-anchor=\"middle\">{}</text>\n",
        f.left + f.width / 2, f.bottom() + 40, xmlText(xTitle));
    const double yTitleX = std::max(14.0, f.left - widestTickLabel(f.y) - 18);
    put(out,
        "<text class=\"axis-title\" transform=\"translate({:.1f},{:.1f}) rotate(-90)\" "
        "font-size=\"12\" text-anchor=\"middle\">{}</text>\n",
        yTitleX, f.top + f.height / 2, xmlText(yTitle));
}

// One plotted point.
struct Mark {
    double x = 0;
    double y = 0;
    bool pareto = false;
    std::size_t series = 0;
    std::string tip; // the hover text
};

// The points of a panel: dominated ones first (hollow, underneath), then each model's front as
// a line through its Pareto points in x order, then the Pareto points filled on top.
void drawMarks(std::string& out, const Frame& f, std::span<const Mark> marks,
               std::span<const Series> series, bool joinFronts) {
    out += "<g class=\"dominated\">\n";
    for (const Mark& m : marks) {
        if (!m.pareto) {
            // pointer-events="visible": the hollow inside still shows the <title> on hover.
            put(out,
                "<circle class=\"pt dominated\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4\" fill=\"none\" "
                "stroke=\"{}\" stroke-width=\"1.4\" pointer-events=\"visible\"><title>{}</title>"
                "</circle>\n",
                f.px(m.x), f.py(m.y), series[m.series].colour, xmlText(m.tip));
        }
    }
    out += "</g>\n";
    if (joinFronts) {
        out += "<g class=\"fronts\" fill=\"none\" stroke-width=\"1.8\">\n";
        for (std::size_t s = 0; s < series.size(); ++s) {
            std::vector<const Mark*> front;
            for (const Mark& m : marks) {
                if (m.pareto && m.series == s) {
                    front.push_back(&m);
                }
            }
            if (front.size() < 2) {
                continue;
            }
            std::stable_sort(front.begin(), front.end(), [](const Mark* a, const Mark* b) {
                return a->x != b->x ? a->x < b->x : a->y < b->y;
            });
            std::string coords;
            for (const Mark* m : front) {
                put(coords, "{}{:.1f},{:.1f}", coords.empty() ? "" : " ", f.px(m->x), f.py(m->y));
            }
            put(out, "<polyline class=\"front\" points=\"{}\" stroke=\"{}\"{}/>\n", coords,
                series[s].colour, dashAttribute(series[s].dash));
        }
        out += "</g>\n";
    }
    out += "<g class=\"pareto\">\n";
    for (const Mark& m : marks) {
        if (m.pareto) {
            put(out,
                "<circle class=\"pt pareto\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"4.5\" fill=\"{}\" "
                "stroke=\"#ffffff\" stroke-width=\"0.8\"><title>{}</title></circle>\n",
                f.px(m.x), f.py(m.y), series[m.series].colour, xmlText(m.tip));
        }
    }
    out += "</g>\n";
}

constexpr std::size_t kLegendNameLimit = 30;

double legendWidth(std::span<const Series> series) {
    double widest = textWidth("time-energy Pareto (filled)", kLegendFont);
    for (const Series& s : series) {
        widest = std::max(widest, textWidth(shortened(s.name, kLegendNameLimit), kLegendFont));
    }
    return std::min(300.0, widest + 44);
}

// One entry per model (a line sample with a filled marker, as its front is drawn), then the
// key to the marker styles and, for the roofline, to the grey roofs. Returns its bottom.
double drawLegend(std::string& out, double x, double y, std::span<const Series> series,
                  bool withRoofKey) {
    put(out, "<g class=\"legend\" font-size=\"{:.0f}\" fill=\"#222222\">\n", kLegendFont);
    const double step = 19;
    for (const Series& s : series) {
        const std::string name = shortened(s.name, kLegendNameLimit);
        put(out,
            "<g class=\"legend-entry\"><title>{}</title><line x1=\"{:.1f}\" y1=\"{:.1f}\" "
            "x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" stroke-width=\"1.8\"{}/>"
            "<path class=\"legend-marker\" d=\"{}\" fill=\"{}\"/><text class=\"legend-name\" "
            "x=\"{:.1f}\" y=\"{:.1f}\">{}</text></g>\n",
            xmlText(s.name), x, y, x + 26, y, s.colour, dashAttribute(s.dash),
            circlePath(x + 13, y, 4.5), s.colour, x + 34, y + 4, xmlText(name));
        y += step;
    }
    y += 8;
    put(out,
        "<g class=\"legend-key\" fill=\"#444444\"><path d=\"{}\" fill=\"#444444\"/>"
        "<text x=\"{:.1f}\" y=\"{:.1f}\">{}</text></g>\n",
        circlePath(x + 13, y, 4.5), x + 34, y + 4,
        withRoofKey ? "time-energy Pareto (filled)" : "Pareto-optimal (filled)");
    y += step;
    put(out,
        "<g class=\"legend-key\" fill=\"#444444\"><path d=\"{}\" fill=\"none\" "
        "stroke=\"#444444\" stroke-width=\"1.4\"/><text x=\"{:.1f}\" y=\"{:.1f}\">dominated "
        "(hollow)</text></g>\n",
        circlePath(x + 13, y, 4), x + 34, y + 4);
    y += step;
    if (withRoofKey) {
        put(out,
            "<g class=\"legend-key\" fill=\"#444444\"><line x1=\"{:.1f}\" y1=\"{:.1f}\" "
            "x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#999999\" stroke-width=\"1\"/>"
            "<text x=\"{:.1f}\" y=\"{:.1f}\">roof of a configuration</text></g>\n",
            x, y, x + 26, y, x + 34, y + 4);
        y += step;
    }
    out += "</g>\n";
    return y;
}

void drawNotes(std::string& out, double x, double y, std::span<const std::string> notes) {
    for (const std::string& note : notes) {
        put(out,
            "<text class=\"note\" x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"11\" "
            "fill=\"#555555\">{}</text>\n",
            x, y, xmlText(note));
        y += 16;
    }
}

std::string pointsNote(std::size_t n, std::string_view why) {
    return fmt::format("{} point{} {} not shown", n, n == 1 ? "" : "s", why);
}

// ---- Roofs --------------------------------------------------------------------------------------

struct Roof {
    double peakGflops = 0;
    double peakGBps = 0;
    double ridge() const { return peakGflops / peakGBps; } // intensity where the roof bends
    std::string label() const {
        return fmt::format("{} GFLOP/s, {} GB/s", number(peakGflops), number(peakGBps));
    }
};

struct Box {
    double x0 = 0;
    double y0 = 0;
    double x1 = 0;
    double y1 = 0;
    bool overlaps(const Box& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
};

// The roof across the whole x range: from where it enters the plot (at the left edge or the
// bottom) through its ridge to the right edge.
std::string roofPoints(const Frame& f, const Roof& roof) {
    const double start = std::max(f.x.lo, f.y.lo / roof.peakGBps);
    const auto roofAt = [&](double x) { return std::min(roof.peakGflops, x * roof.peakGBps); };
    std::vector<double> xs{start};
    if (roof.ridge() > start && roof.ridge() < f.x.hi) {
        xs.push_back(roof.ridge());
    }
    xs.push_back(f.x.hi);
    std::string coords;
    for (double x : xs) {
        put(coords, "{}{:.1f},{:.1f}", coords.empty() ? "" : " ", f.px(x),
            f.py(std::max(f.y.lo, roofAt(x))));
    }
    return coords;
}

constexpr std::size_t kMostRoofLabels = 6;

// Labels the roofs just above (else just below) their flat part, starting at the ridge and
// sliding right a little until the label touches neither another label nor another roof's flat
// line; at most
// kMostRoofLabels of them, in the order given, so a sweep of many configurations does not
// bury the plot in text (every roof still names itself on hover). Returns how many went
// unlabelled.
std::size_t drawRoofLabels(std::string& out, const Frame& f, std::span<const Roof> roofs) {
    constexpr double font = 10;
    std::vector<Box> placed;
    std::size_t unlabelled = 0;
    put(out, "<g class=\"roof-labels\" font-size=\"{:.0f}\" fill=\"#666666\">\n", font);
    for (const Roof& roof : roofs) {
        const std::string text = roof.label();
        const double w = textWidth(text, font);
        const double y = f.py(roof.peakGflops);
        // Roofs of equal peak share their flat line, so a label that slid far from its ridge
        // could be read as another roof's: it stays within a short reach of the ridge.
        const double first = std::min(f.px(roof.ridge()) + 4, f.right() - 4 - w);
        bool done = false;
        for (double x = first; placed.size() < kMostRoofLabels && x <= first + 80 &&
                               x >= f.left + 2 && x + w <= f.right() - 2 && !done;
             x += 20) {
            for (const double top : {y - 4 - font, y + 4}) { // above the line, else below it
                const Box box{x, top, x + w, top + font + 1};
                const bool clash = box.y0 < f.top || box.y1 > f.bottom() ||
                                   std::any_of(placed.begin(), placed.end(),
                                               [&](const Box& b) { return b.overlaps(box); }) ||
                                   std::any_of(roofs.begin(), roofs.end(), [&](const Roof& other) {
                                       const double oy = f.py(other.peakGflops);
                                       return &other != &roof && oy > box.y0 && oy < box.y1 &&
                                              box.x1 > f.px(other.ridge());
                                   });
                if (!clash) {
                    placed.push_back(box);
                    put(out, "<text class=\"roof-label\" x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n", x,
                        box.y1 - 2, xmlText(text));
                    done = true;
                    break;
                }
            }
        }
        unlabelled += done ? 0 : 1;
    }
    out += "</g>\n";
    return unlabelled;
}

} // namespace

// ---- The pictures -------------------------------------------------------------------------------

std::string paretoSvg(std::span<const PlotPoint> points, const std::string& title) {
    if (points.empty()) {
        return noPointsSvg(title, "");
    }
    const auto [series, seriesIndex] = seriesOf(points);
    const bool withArea =
        std::all_of(points.begin(), points.end(), [](const PlotPoint& p) { return p.areaMm2 > 0; });

    std::vector<double> times;
    std::vector<double> energies;
    std::vector<double> areas;
    for (const PlotPoint& p : points) {
        times.push_back(p.timeSeconds);
        energies.push_back(p.energyJoules);
        areas.push_back(p.areaMm2);
    }
    const Axis timeAxis = scatterAxis(times, kTimeUnits);
    std::vector<Axis> yAxes{scatterAxis(energies, kEnergyUnits)};
    if (withArea) {
        yAxes.push_back(scatterAxis(areas, kAreaUnits));
    }

    // The hover text names every coordinate in its own readable unit.
    const auto tip = [](const PlotPoint& p) {
        std::string text =
            fmt::format("{}: time {}, energy {}", p.label, withUnit(p.timeSeconds, kTimeUnits),
                        withUnit(p.energyJoules, kEnergyUnits));
        if (p.areaMm2 > 0) {
            put(text, ", area {}", withUnit(p.areaMm2, kAreaUnits));
        }
        return text;
    };
    std::vector<std::vector<Mark>> panels(yAxes.size());
    std::vector<std::size_t> hidden(yAxes.size(), 0);
    for (std::size_t i = 0; i < points.size(); ++i) {
        const PlotPoint& p = points[i];
        for (std::size_t k = 0; k < panels.size(); ++k) {
            const double y = k == 0 ? p.energyJoules : p.areaMm2;
            if (!timeAxis.holds(p.timeSeconds) || !yAxes[k].holds(y)) {
                ++hidden[k];
                continue;
            }
            const bool pareto = k == 0 ? p.paretoTimeEnergy : p.paretoTimeArea;
            panels[k].push_back({p.timeSeconds, y, pareto, seriesIndex[i], tip(p)});
        }
    }
    if (std::all_of(panels.begin(), panels.end(), [](const auto& m) { return m.empty(); })) {
        return noPointsSvg(title, pointsNote(points.size(), "with a non-finite value"));
    }

    const double left = leftMargin(yAxes);
    const double legendW = legendWidth(series);
    const double plotW = kWidth - left - legendW - 36;
    constexpr double panelTop = 52;
    constexpr double plotH = 380;
    constexpr double panelH = 470; // heading, plot, tick labels, axis title and a gap

    std::string body;
    std::vector<std::string> notes;
    for (std::size_t k = 0; k < panels.size(); ++k) {
        const double top = panelTop + static_cast<double>(k) * panelH;
        const Frame frame{left, top + 24, plotW, plotH, timeAxis, yAxes[k]};
        const std::string_view quantity = k == 0 ? "energy" : "area";
        put(body,
            "<g class=\"panel\" id=\"time-{}\">\n<text class=\"panel-title\" x=\"{:.1f}\" "
            "y=\"{:.1f}\" font-size=\"13\" font-weight=\"bold\">Time vs {}</text>\n",
            quantity, left, top + 14, quantity);
        drawAxes(body, frame, timeAxis.title("time"), yAxes[k].title(quantity));
        drawMarks(body, frame, panels[k], series, true);
        body += "</g>\n";
        if (hidden[k] > 0) {
            notes.push_back(
                pointsNote(hidden[k], fmt::format("with a non-finite time or {}", quantity)));
        }
    }
    const double notesTop = panelTop + static_cast<double>(panels.size()) * panelH;
    drawNotes(body, left, notesTop, notes);
    const double legendBottom = drawLegend(body, left + plotW + 24, panelTop + 34, series, false);
    const double height =
        std::max(notesTop + 16 * static_cast<double>(notes.size()) + 8, legendBottom + 16);

    std::string out;
    openSvg(out, height, title);
    out += body;
    out += "</svg>\n";
    return out;
}

std::string rooflineSvg(std::span<const PlotPoint> points, const std::string& title) {
    const auto [series, seriesIndex] = seriesOf(points);
    std::vector<Mark> marks;
    std::map<std::pair<double, double>, Roof> distinctRoofs;
    std::size_t hidden = 0;
    for (std::size_t i = 0; i < points.size(); ++i) {
        const PlotPoint& p = points[i];
        if (!(p.intensity > 0 && std::isfinite(p.intensity) && p.achievedGflops > 0 &&
              std::isfinite(p.achievedGflops))) {
            ++hidden;
            continue;
        }
        std::string tip = fmt::format("{}: {} GFLOP/s at {} flop/byte", p.label,
                                      number(p.achievedGflops), number(p.intensity));
        const Roof roof{p.peakGflops, p.peakGBps};
        const bool hasRoof = roof.peakGflops > 0 && std::isfinite(roof.peakGflops) &&
                             roof.peakGBps > 0 && std::isfinite(roof.peakGBps) &&
                             roof.ridge() > 0 && std::isfinite(roof.ridge());
        if (hasRoof) {
            distinctRoofs.try_emplace({roof.peakGflops, roof.peakGBps}, roof);
            put(tip, " (roof {})", roof.label());
        }
        marks.push_back(
            {p.intensity, p.achievedGflops, p.paretoTimeEnergy, seriesIndex[i], std::move(tip)});
    }
    const std::string hiddenNote = pointsNote(hidden, "with no intensity or throughput");
    if (marks.empty()) {
        return noPointsSvg(title, hidden > 0 ? hiddenNote : "");
    }
    // The order in which roofs get labels when there are too many to label all: first the
    // widest-bandwidth roof of each peak, highest peak first, so every compute level is named;
    // then the other roofs of each peak.
    std::vector<Roof> roofs;
    for (const auto& entry : distinctRoofs) {
        roofs.push_back(entry.second);
    }
    std::reverse(roofs.begin(), roofs.end());
    std::vector<std::size_t> rankInPeak(roofs.size(), 0);
    for (std::size_t i = 1; i < roofs.size(); ++i) {
        if (roofs[i].peakGflops == roofs[i - 1].peakGflops) {
            rankInPeak[i] = rankInPeak[i - 1] + 1;
        }
    }
    std::vector<std::size_t> labelOrder(roofs.size());
    std::iota(labelOrder.begin(), labelOrder.end(), std::size_t{0});
    std::stable_sort(labelOrder.begin(), labelOrder.end(),
                     [&](std::size_t a, std::size_t b) { return rankInPeak[a] < rankInPeak[b]; });
    std::vector<Roof> byLabelPriority;
    for (std::size_t i : labelOrder) {
        byLabelPriority.push_back(roofs[i]);
    }
    roofs = std::move(byLabelPriority);

    // The ranges hold every point and every ridge, with room to see each roof's slope left of
    // its ridge and its flat part (and label) right of it, and headroom above the highest roof.
    double xlo = marks.front().x;
    double xhi = xlo;
    double ylo = marks.front().y;
    double yhi = ylo;
    for (const Mark& m : marks) {
        xlo = std::min(xlo, m.x / 1.5);
        xhi = std::max(xhi, m.x * 1.5);
        ylo = std::min(ylo, m.y / 1.5);
        yhi = std::max(yhi, m.y * 1.6);
    }
    for (const Roof& r : roofs) {
        xlo = std::min(xlo, r.ridge() / 4);
        xhi = std::max(xhi, r.ridge() * 8);
        ylo = std::min(ylo, r.peakGflops / 1.5);
        yhi = std::max(yhi, r.peakGflops * 1.6);
    }
    const Axis xAxis = logAxis(xlo, xhi, kIntensityUnits[0]);
    const Axis yAxis = logAxis(ylo, yhi, kThroughputUnits[0]);

    const double legendW = legendWidth(series);
    const double left = leftMargin(std::span(&yAxis, 1));
    const Frame frame{left, 56, kWidth - left - legendW - 36, 500, xAxis, yAxis};

    std::string body;
    drawAxes(body, frame, "arithmetic intensity (flop/byte, log scale)",
             "throughput (GFLOP/s, log scale)");
    body += "<g class=\"roofs\" fill=\"none\" stroke=\"#999999\" stroke-width=\"1\">\n";
    for (const Roof& r : roofs) {
        put(body, "<polyline class=\"roof\" points=\"{}\"><title>roof {}</title></polyline>\n",
            roofPoints(frame, r), xmlText(r.label()));
    }
    body += "</g>\n";
    const std::size_t unlabelled = drawRoofLabels(body, frame, roofs);
    drawMarks(body, frame, marks, series, false);

    std::vector<std::string> notes;
    if (hidden > 0) {
        notes.push_back(hiddenNote);
    }
    if (unlabelled > 0) {
        notes.push_back(fmt::format("{} of {} roofs unlabelled (hover a roof for its peaks)",
                                    unlabelled, roofs.size()));
    }
    drawNotes(body, left, frame.bottom() + 62, notes);
    const double legendBottom = drawLegend(body, frame.right() + 24, frame.top + 10, series, true);
    const double height =
        std::max(frame.bottom() + 62 + 16 * static_cast<double>(notes.size()), legendBottom + 16);

    std::string out;
    openSvg(out, height, title);
    out += body;
    out += "</svg>\n";
    return out;
}

} // namespace kpu::dse
