#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <regex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "kpu/dse/plots.h"

namespace kpu::dse {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<bool> front(std::vector<double> x, std::vector<double> y) {
    return paretoFront(x, y);
}

// ---- paretoFront --------------------------------------------------------------------------------

TEST(ParetoFront, EmptyAndSingle) {
    EXPECT_TRUE(front({}, {}).empty());
    EXPECT_EQ(front({3}, {4}), std::vector<bool>{true});
    EXPECT_EQ(front({kNaN}, {4}), std::vector<bool>{false});
}

TEST(ParetoFront, DominatedPointsAreNotOptimal) {
    // (1,5) (2,2) (4,1) form the front; (3,3) is beaten by (2,2), (5,5) by all of them, and
    // (2,4) by (2,2) at the same x.
    EXPECT_EQ(front({1, 2, 3, 4, 5, 2}, {5, 2, 3, 1, 5, 4}),
              (std::vector<bool>{true, true, false, true, false, false}));
    // Same y, larger x: dominated.
    EXPECT_EQ(front({1, 2}, {3, 3}), (std::vector<bool>{true, false}));
}

TEST(ParetoFront, EqualPointsAreAllOptimal) {
    EXPECT_EQ(front({2, 1, 2, 1}, {2, 3, 2, 3}), (std::vector<bool>{true, true, true, true}));
    EXPECT_EQ(front({1, 1, 1}, {3, 2, 2}), (std::vector<bool>{false, true, true}));
}

TEST(ParetoFront, NaNNeverOptimalAndNeverDominates) {
    // The NaN points would dominate everything if NaN compared as small.
    EXPECT_EQ(front({kNaN, 1, 0, 2}, {0, kNaN, kNaN, 1}),
              (std::vector<bool>{false, false, false, true}));
    EXPECT_EQ(front({kNaN, kNaN}, {kNaN, kNaN}), (std::vector<bool>{false, false}));
}

TEST(ParetoFront, InfinitiesAreOrdinaryValues) {
    EXPECT_EQ(front({1, kInf}, {kInf, 0}), (std::vector<bool>{true, true}));
    EXPECT_EQ(front({-kInf, 0}, {1, 1}), (std::vector<bool>{true, false}));
}

TEST(ParetoFront, MismatchedSizesMarkTheExtraNotOptimal) {
    const std::vector<double> x{1, 2, 0};
    const std::vector<double> y{2, 1};
    EXPECT_EQ(paretoFront(x, y), (std::vector<bool>{true, true, false}));
    EXPECT_EQ(paretoFront(y, x), (std::vector<bool>{true, true, false}));
}

TEST(ParetoFront, MatchesTheDefinitionOnRandomSets) {
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> coordinate(0, 9); // small range: many ties
    for (int round = 0; round < 200; ++round) {
        const std::size_t n = static_cast<std::size_t>(round % 25);
        std::vector<double> x(n);
        std::vector<double> y(n);
        for (std::size_t i = 0; i < n; ++i) {
            x[i] = coordinate(rng) == 0 ? kNaN : coordinate(rng);
            y[i] = coordinate(rng);
        }
        const std::vector<bool> got = paretoFront(x, y);
        for (std::size_t i = 0; i < n; ++i) {
            bool optimal = !std::isnan(x[i]) && !std::isnan(y[i]);
            for (std::size_t j = 0; j < n && optimal; ++j) {
                const bool dominates = x[j] <= x[i] && y[j] <= y[i] && (x[j] < x[i] || y[j] < y[i]);
                optimal = !dominates;
            }
            ASSERT_EQ(got[i], optimal) << "round " << round << " point " << i;
        }
    }
}

// ---- helpers for the pictures -------------------------------------------------------------------

// A sweep shaped like the real one: each model on a grid of array sizes and L2 sizes. Larger
// arrays are faster but cost area and (past a point) energy, so each model has a proper front.
std::vector<PlotPoint> sampleSweep() {
    struct Model {
        const char* name;
        double gflop;
        double bytes;
    };
    const std::vector<Model> models{
        {"mobilenet_v2", 0.6, 14e6}, {"resnet50", 8.2, 100e6}, {"bert_tiny & co", 1.1, 20e6}};
    std::vector<PlotPoint> points;
    for (const Model& m : models) {
        std::vector<PlotPoint> mine;
        for (int array : {8, 16, 32, 64}) {
            for (int l2KiB : {256, 1024, 4096}) {
                PlotPoint p;
                p.model = m.name;
                p.label = fmt::format("{} on a{}x{}-l2_{}KiB", m.name, array, array, l2KiB);
                p.peakGflops = 2.0 * array * array; // 1 GHz, one MAC per PE
                p.peakGBps = 50.0 * (1 + l2KiB / 1024.0);
                const double reuse = std::sqrt(l2KiB / 256.0);
                const double bytes = m.bytes / reuse;
                p.intensity = m.gflop * 1e9 / bytes;
                p.timeSeconds = std::max(m.gflop / p.peakGflops / 0.7, bytes / (p.peakGBps * 1e9));
                p.achievedGflops = m.gflop / p.timeSeconds;
                // Per-operation energy grows with the array (longer wires), a larger L2 saves
                // DRAM traffic but leaks more: fast, frugal and small pull different ways.
                p.energyJoules = m.gflop * 1e9 * (0.3e-12 + 0.04e-12 * array) + bytes * 20e-12 +
                                 p.timeSeconds * (0.01 + 0.0002 * l2KiB);
                p.areaMm2 = 0.004 * array * array + 0.0015 * l2KiB;
                mine.push_back(p);
            }
        }
        std::vector<double> t;
        std::vector<double> e;
        std::vector<double> a;
        for (const PlotPoint& p : mine) {
            t.push_back(p.timeSeconds);
            e.push_back(p.energyJoules);
            a.push_back(p.areaMm2);
        }
        const std::vector<bool> te = paretoFront(t, e);
        const std::vector<bool> ta = paretoFront(t, a);
        for (std::size_t i = 0; i < mine.size(); ++i) {
            mine[i].paretoTimeEnergy = te[i];
            mine[i].paretoTimeArea = ta[i];
            points.push_back(mine[i]);
        }
    }
    return points;
}

std::size_t count(std::string_view haystack, std::string_view needle) {
    std::size_t n = 0;
    for (std::size_t at = haystack.find(needle); at != std::string_view::npos;
         at = haystack.find(needle, at + needle.size())) {
        ++n;
    }
    return n;
}

// A minimal well-formedness check that needs no tool: one root element, every start tag closed
// by the matching end tag, attribute values quoted, and '&' only as one of the five entities.
// (It cannot see everything xmllint does; it catches unbalanced tags and raw specials.)
std::string tagBalanceError(const std::string& xml) {
    std::vector<std::string> open;
    std::size_t roots = 0;
    static const std::regex entity("^&(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);");
    for (std::size_t i = 0; i < xml.size(); ++i) {
        if (xml[i] == '&') {
            std::smatch m;
            const std::string rest = xml.substr(i, 12);
            if (!std::regex_search(rest, m, entity)) {
                return fmt::format("raw '&' at {}", i);
            }
            continue;
        }
        if (xml[i] == '>') {
            return fmt::format("raw '>' at {}", i);
        }
        if (xml[i] != '<') {
            continue;
        }
        if (xml.compare(i, 2, "<?") == 0) {
            i = xml.find("?>", i);
            if (i == std::string::npos) {
                return "unterminated <?";
            }
            ++i;
            continue;
        }
        // Find the end of the tag, skipping quoted attribute values.
        std::size_t end = i + 1;
        char quote = 0;
        for (; end < xml.size(); ++end) {
            const char c = xml[end];
            if (quote != 0) {
                if (c == '<') {
                    return fmt::format("'<' inside an attribute at {}", end);
                }
                quote = c == quote ? 0 : quote;
            } else if (c == '"' || c == '\'') {
                quote = c;
            } else if (c == '>') {
                break;
            }
        }
        if (end == xml.size()) {
            return fmt::format("unterminated tag at {}", i);
        }
        const std::string tag = xml.substr(i + 1, end - i - 1);
        const bool closing = tag[0] == '/';
        const std::size_t nameStart = closing ? 1 : 0;
        const std::string name = tag.substr(nameStart, tag.find_first_of(" \t\n/", 1) - nameStart);
        if (closing) {
            if (open.empty() || open.back() != name) {
                return fmt::format("</{}> at {} closes <{}>", name, i,
                                   open.empty() ? "" : open.back());
            }
            open.pop_back();
        } else if (tag.back() != '/') {
            roots += open.empty() ? 1 : 0;
            open.push_back(name);
        } else {
            roots += open.empty() ? 1 : 0;
        }
        i = end;
    }
    if (!open.empty()) {
        return fmt::format("<{}> never closed", open.back());
    }
    return roots == 1 ? "" : fmt::format("{} root elements", roots);
}

std::filesystem::path xmllintPath() {
    const char* path = std::getenv("PATH");
    std::string_view dirs = path != nullptr ? path : "/usr/bin:/bin";
    while (!dirs.empty()) {
        const std::size_t colon = dirs.find(':');
        const std::filesystem::path candidate =
            std::filesystem::path(dirs.substr(0, colon)) / "xmllint";
        if (std::filesystem::exists(candidate)) {
            return candidate;
        }
        dirs = colon == std::string_view::npos ? "" : dirs.substr(colon + 1);
    }
    return {};
}

// Well-formed by the tag-balance check always, and by xmllint too when it is installed.
void expectWellFormed(const std::string& svg, const std::string& name) {
    EXPECT_EQ(tagBalanceError(svg), "") << name;
    const std::filesystem::path xmllint = xmllintPath();
    if (xmllint.empty()) {
        return;
    }
    const std::filesystem::path file =
        std::filesystem::temp_directory_path() /
        fmt::format("kpu_dse_plots_{}_{}.svg", ::testing::UnitTest::GetInstance()->random_seed(),
                    name);
    std::ofstream(file, std::ios::binary) << svg;
    const std::string command = fmt::format("'{}' --noout '{}'", xmllint.string(), file.string());
    EXPECT_EQ(std::system(command.c_str()), 0) << "xmllint rejects " << name << ": " << file;
    std::filesystem::remove(file);
}

// The start tags of the elements with a given class, e.g. every "pt pareto" circle.
std::vector<std::string> tagsWithClass(const std::string& svg, std::string_view element,
                                       std::string_view cls) {
    std::vector<std::string> tags;
    const std::string start = fmt::format("<{} class=\"{}\"", element, cls);
    for (std::size_t at = svg.find(start); at != std::string::npos; at = svg.find(start, at + 1)) {
        tags.push_back(svg.substr(at, svg.find('>', at) - at + 1));
    }
    return tags;
}

std::string attribute(const std::string& tag, const std::string& name) {
    const std::string key = " " + name + "=\"";
    const std::size_t at = tag.find(key);
    if (at == std::string::npos) {
        return "";
    }
    const std::size_t from = at + key.size();
    return tag.substr(from, tag.find('"', from) - from);
}

std::vector<std::string> textsWithClass(const std::string& svg, std::string_view cls) {
    std::vector<std::string> texts;
    const std::regex pattern(fmt::format("<text class=\"{}\"[^>]*>([^<]*)</text>", cls));
    for (auto it = std::sregex_iterator(svg.begin(), svg.end(), pattern);
         it != std::sregex_iterator(); ++it) {
        texts.push_back((*it)[1]);
    }
    return texts;
}

std::size_t paretoCount(std::span<const PlotPoint> points, bool timeArea) {
    return static_cast<std::size_t>(std::count_if(points.begin(), points.end(), [&](const auto& p) {
        return timeArea ? p.paretoTimeArea : p.paretoTimeEnergy;
    }));
}

PlotPoint point(std::string model, double time, double energy, double area = 0) {
    PlotPoint p;
    p.label = model + " point";
    p.model = std::move(model);
    p.timeSeconds = time;
    p.energyJoules = energy;
    p.areaMm2 = area;
    return p;
}

// ---- paretoSvg ----------------------------------------------------------------------------------

TEST(ParetoSvg, SweepIsWellFormedWithBothPanels) {
    const std::vector<PlotPoint> points = sampleSweep();
    const std::string svg = paretoSvg(points, "KPU sweep");
    expectWellFormed(svg, "pareto");
    EXPECT_TRUE(svg.starts_with("<?xml"));
    EXPECT_NE(svg.find("id=\"time-energy\""), std::string::npos);
    EXPECT_NE(svg.find("id=\"time-area\""), std::string::npos);
    EXPECT_NE(svg.find("width=\"900\""), std::string::npos);
}

TEST(ParetoSvg, OneCirclePerPointAndPanel) {
    const std::vector<PlotPoint> points = sampleSweep();
    const std::string svg = paretoSvg(points, "sweep");
    EXPECT_EQ(count(svg, "<circle"), 2 * points.size());
    // Without an area proxy there is one panel.
    std::vector<PlotPoint> noArea = points;
    noArea[3].areaMm2 = 0;
    const std::string one = paretoSvg(noArea, "sweep");
    EXPECT_EQ(count(one, "<circle"), points.size());
    EXPECT_EQ(one.find("id=\"time-area\""), std::string::npos);
}

TEST(ParetoSvg, ParetoPointsAreFilledOthersHollow) {
    const std::vector<PlotPoint> points = sampleSweep();
    const std::string svg = paretoSvg(points, "sweep");
    const auto filled = tagsWithClass(svg, "circle", "pt pareto");
    const auto hollow = tagsWithClass(svg, "circle", "pt dominated");
    EXPECT_EQ(filled.size(), paretoCount(points, false) + paretoCount(points, true));
    EXPECT_EQ(filled.size() + hollow.size(), 2 * points.size());
    for (const std::string& tag : filled) {
        EXPECT_TRUE(attribute(tag, "fill").starts_with("#")) << tag;
    }
    for (const std::string& tag : hollow) {
        EXPECT_EQ(attribute(tag, "fill"), "none") << tag;
        EXPECT_TRUE(attribute(tag, "stroke").starts_with("#")) << tag;
    }
    // One front line per model and panel (every model here has at least two Pareto points).
    EXPECT_EQ(tagsWithClass(svg, "polyline", "front").size(), 6u);
}

TEST(ParetoSvg, LegendNamesEveryModelWithItsOwnColour) {
    const std::vector<PlotPoint> points = sampleSweep();
    const std::string svg = paretoSvg(points, "sweep");
    const std::vector<std::string> names = textsWithClass(svg, "legend-name");
    EXPECT_EQ(names, (std::vector<std::string>{"mobilenet_v2", "resnet50", "bert_tiny &amp; co"}));
    // The first point of each model is drawn in that model's legend colour.
    const auto colours = tagsWithClass(svg, "path", "legend-marker");
    ASSERT_EQ(colours.size(), 3u);
    EXPECT_NE(attribute(colours[0], "fill"), attribute(colours[1], "fill"));
    EXPECT_NE(attribute(colours[1], "fill"), attribute(colours[2], "fill"));
}

TEST(ParetoSvg, EveryPointHasAHoverTitle) {
    const std::vector<PlotPoint> points = sampleSweep();
    const std::string svg = paretoSvg(points, "sweep");
    EXPECT_NE(svg.find("<title>mobilenet_v2 on a8x8-l2_256KiB: time "), std::string::npos);
    const std::regex tip("<circle [^>]*><title>[^<]+: time [0-9.e-]+ (s|ms|\xC2\xB5s), energy "
                         "[0-9.e-]+ (J|mJ|\xC2\xB5J), area [0-9.e-]+ mm\xC2\xB2</title></circle>");
    EXPECT_EQ(static_cast<std::size_t>(
                  std::distance(std::sregex_iterator(svg.begin(), svg.end(), tip), {})),
              2 * points.size());
}

TEST(ParetoSvg, EscapesEveryText) {
    std::vector<PlotPoint> points{point("a<b>&\"c'", 1e-3, 2e-3), point("x", 2e-3, 1e-3)};
    points[0].label = "<script>&";
    const std::string svg = paretoSvg(points, "Time & energy <MobileNet>");
    expectWellFormed(svg, "escaping");
    EXPECT_NE(svg.find("Time &amp; energy &lt;MobileNet&gt;"), std::string::npos);
    EXPECT_NE(svg.find("a&lt;b&gt;&amp;&quot;c&apos;"), std::string::npos);
    EXPECT_NE(svg.find("&lt;script&gt;&amp;: time"), std::string::npos);
    EXPECT_EQ(svg.find("<script"), std::string::npos);
}

TEST(ParetoSvg, HostileBytesStayWellFormed) {
    std::vector<PlotPoint> points{point(std::string("ctl\x01\x1f\x7f", 6), 1e-3, 2e-3),
                                  point("bad \xC3\x28 \xED\xA0\x80 \xEF\xBF\xBF utf8", 2e-3, 1e-3),
                                  point(std::string(100, 'L') + "\xC3\xA9", 3e-3, 1e-3)};
    expectWellFormed(paretoSvg(points, "t\xFF"), "hostile");
    expectWellFormed(rooflineSvg(points, "t\xFF"), "hostile-roofline");
}

TEST(ParetoSvg, LinearAxesForASmallRangeLogForAWideOne) {
    // Times within a factor 2, energies across six decades.
    const std::vector<PlotPoint> points{point("m", 1.0e-3, 1e-6), point("m", 1.5e-3, 1e-3),
                                        point("m", 2.0e-3, 1.0)};
    const std::string svg = paretoSvg(points, "scales");
    const std::vector<std::string> titles = textsWithClass(svg, "axis-title");
    ASSERT_EQ(titles.size(), 2u);
    EXPECT_EQ(titles[0], "time (ms)");
    EXPECT_EQ(titles[1], "energy (mJ, log scale)");
    // Linear ticks step by 0.2 ms with one decimal; log ticks are decades.
    EXPECT_NE(svg.find(">1.0</text>"), std::string::npos);
    EXPECT_NE(svg.find(">1.2</text>"), std::string::npos);
    EXPECT_NE(svg.find(">2.0</text>"), std::string::npos);
    EXPECT_NE(svg.find(">0.001</text>"), std::string::npos);
    EXPECT_NE(svg.find(">1000</text>"), std::string::npos);
    EXPECT_EQ(svg.find(">1.1</text>"), std::string::npos);
    // A range just over a factor 10 is log with 2 and 5 between the decades.
    const std::vector<PlotPoint> wide{point("m", 2e-6, 1), point("m", 30e-6, 2)};
    const std::string log = paretoSvg(wide, "scales");
    EXPECT_EQ(textsWithClass(log, "axis-title")[0], "time (\xC2\xB5s, log scale)");
    EXPECT_NE(log.find(">5</text>"), std::string::npos);
    EXPECT_NE(log.find(">10</text>"), std::string::npos);
    EXPECT_NE(log.find(">20</text>"), std::string::npos);
    // Exactly a factor 10 stays linear, in seconds.
    const std::vector<PlotPoint> ten{point("m", 0.5, 1), point("m", 5, 2)};
    EXPECT_EQ(textsWithClass(paretoSvg(ten, "scales"), "axis-title")[0], "time (s)");
}

TEST(ParetoSvg, PointsStayInsideTheFrame) {
    const std::vector<PlotPoint> points = sampleSweep();
    const std::string svg = paretoSvg(points, "sweep");
    const auto frames = tagsWithClass(svg, "rect", "frame");
    ASSERT_EQ(frames.size(), 2u);
    const auto num = [](const std::string& tag, const char* key) {
        return std::stod(attribute(tag, key));
    };
    const double left = num(frames[0], "x");
    const double right = left + num(frames[0], "width");
    const double top = num(frames[0], "y");
    const double bottom = num(frames[1], "y") + num(frames[1], "height");
    for (const char* cls : {"pt pareto", "pt dominated"}) {
        for (const std::string& tag : tagsWithClass(svg, "circle", cls)) {
            EXPECT_GT(num(tag, "cx"), left);
            EXPECT_LT(num(tag, "cx"), right);
            EXPECT_GT(num(tag, "cy"), top);
            EXPECT_LT(num(tag, "cy"), bottom);
        }
    }
}

TEST(ParetoSvg, EmptyAndUnplottableInputSayNoPoints) {
    const std::string empty = paretoSvg({}, "nothing & more");
    expectWellFormed(empty, "empty");
    EXPECT_NE(empty.find(">no points</text>"), std::string::npos);
    EXPECT_NE(empty.find("nothing &amp; more"), std::string::npos);
    const std::vector<PlotPoint> nan{point("m", kNaN, 1)};
    const std::string unplottable = paretoSvg(nan, "nan");
    expectWellFormed(unplottable, "nan");
    EXPECT_NE(unplottable.find(">no points</text>"), std::string::npos);
    EXPECT_EQ(count(unplottable, "<circle"), 0u);
}

TEST(ParetoSvg, NonFinitePointsAreLeftOutWithANote) {
    std::vector<PlotPoint> points{point("m", 1e-3, 1e-3), point("m", 2e-3, kInf),
                                  point("m", 3e-3, 2e-3)};
    const std::string svg = paretoSvg(points, "inf");
    expectWellFormed(svg, "inf");
    EXPECT_EQ(count(svg, "<circle"), 2u);
    EXPECT_NE(svg.find("1 point with a non-finite time or energy not shown"), std::string::npos);
}

TEST(ParetoSvg, SinglePointAndManyModels) {
    const std::vector<PlotPoint> one{point("solo", 1e-3, 1e-3, 2)};
    const std::string single = paretoSvg(one, "one");
    expectWellFormed(single, "single");
    EXPECT_EQ(count(single, "<circle"), 2u);
    // Ten models: the palette cycles and the repeats get a dashed front line.
    std::vector<PlotPoint> many;
    for (int m = 0; m < 10; ++m) {
        for (int i = 1; i <= 3; ++i) {
            PlotPoint p = point(fmt::format("model{}", m), i * 1e-3, (4 - i) * 1e-3 * (m + 1));
            p.paretoTimeEnergy = true;
            many.push_back(p);
        }
    }
    const std::string svg = paretoSvg(many, "many");
    expectWellFormed(svg, "many");
    const auto markers = tagsWithClass(svg, "path", "legend-marker");
    ASSERT_EQ(markers.size(), 10u);
    EXPECT_EQ(attribute(markers[0], "fill"), attribute(markers[8], "fill"));
    const auto fronts = tagsWithClass(svg, "polyline", "front");
    ASSERT_EQ(fronts.size(), 10u);
    EXPECT_EQ(attribute(fronts[0], "stroke-dasharray"), "");
    EXPECT_NE(attribute(fronts[8], "stroke-dasharray"), "");
}

TEST(Plots, ExtremeValuesStayWellFormed) {
    const double most = std::numeric_limits<double>::max();
    const double least = std::numeric_limits<double>::denorm_min();
    std::vector<PlotPoint> points{point("a", -most, most, most), point("a", most, -most, least),
                                  point("b", least, 1e-300, 1e300), point("b", 0, 0, 1)};
    for (PlotPoint& p : points) {
        p.intensity = p.areaMm2;
        p.achievedGflops = std::fabs(p.timeSeconds) + least;
        p.peakGflops = most;
        p.peakGBps = least;
        p.paretoTimeEnergy = true;
    }
    for (std::size_t n = 1; n <= points.size(); ++n) {
        const std::span<const PlotPoint> some(points.data(), n);
        for (const std::string& svg : {paretoSvg(some, "extreme"), rooflineSvg(some, "extreme")}) {
            expectWellFormed(svg, fmt::format("extreme{}", n));
            EXPECT_EQ(svg.find("nan"), std::string::npos) << svg;
            EXPECT_EQ(svg.find("inf"), std::string::npos) << svg;
        }
    }
}

TEST(ParetoSvg, OutputIsDeterministic) {
    const std::vector<PlotPoint> points = sampleSweep();
    EXPECT_EQ(paretoSvg(points, "a"), paretoSvg(points, "a"));
    EXPECT_EQ(rooflineSvg(points, "a"), rooflineSvg(points, "a"));
}

// ---- rooflineSvg --------------------------------------------------------------------------------

TEST(RooflineSvg, SweepIsWellFormedWithRoofsAndLabels) {
    const std::vector<PlotPoint> points = sampleSweep();
    const std::string svg = rooflineSvg(points, "KPU roofline");
    expectWellFormed(svg, "roofline");
    EXPECT_EQ(count(svg, "<circle"), points.size());
    // 4 array sizes x 3 L2 sizes: 12 distinct roofs, at most 6 of them labelled.
    EXPECT_EQ(tagsWithClass(svg, "polyline", "roof").size(), 12u);
    const std::vector<std::string> labels = textsWithClass(svg, "roof-label");
    EXPECT_GE(labels.size(), 1u);
    EXPECT_LE(labels.size(), 6u);
    // The highest roof (64x64 PEs, 4 MiB L2) is labelled first.
    EXPECT_EQ(labels.front(), "8192 GFLOP/s, 250 GB/s");
    EXPECT_NE(svg.find("<title>roof 8192 GFLOP/s, 250 GB/s</title>"), std::string::npos);
    EXPECT_NE(svg.find(fmt::format("{} of 12 roofs unlabelled", 12 - labels.size())),
              std::string::npos);
    const std::vector<std::string> titles = textsWithClass(svg, "axis-title");
    EXPECT_EQ(titles, (std::vector<std::string>{"arithmetic intensity (flop/byte, log scale)",
                                                "throughput (GFLOP/s, log scale)"}));
    EXPECT_EQ(textsWithClass(svg, "legend-name"),
              (std::vector<std::string>{"mobilenet_v2", "resnet50", "bert_tiny &amp; co"}));
}

TEST(RooflineSvg, KnownRoofAndPoint) {
    PlotPoint p = point("mobilenet_v2", 1e-3, 1e-3);
    p.label = "mobilenet_v2 on a16x16";
    p.intensity = 4;
    p.achievedGflops = 150;
    p.peakGflops = 256;
    p.peakGBps = 200;
    const std::vector<PlotPoint> points{p};
    const std::string svg = rooflineSvg(points, "one roof");
    expectWellFormed(svg, "one-roof");
    EXPECT_EQ(textsWithClass(svg, "roof-label"),
              (std::vector<std::string>{"256 GFLOP/s, 200 GB/s"}));
    EXPECT_NE(svg.find("<title>mobilenet_v2 on a16x16: 150 GFLOP/s at 4 flop/byte (roof 256 "
                       "GFLOP/s, 200 GB/s)</title>"),
              std::string::npos);
    // The roof bends at its ridge (1.28 flop/byte): three vertices, the middle one its corner.
    const auto roofs = tagsWithClass(svg, "polyline", "roof");
    ASSERT_EQ(roofs.size(), 1u);
    EXPECT_EQ(count(attribute(roofs[0], "points"), ","), 3u);
}

TEST(RooflineSvg, LeavesOutPointsWithoutIntensityOrThroughput) {
    std::vector<PlotPoint> points = sampleSweep();
    points[0].intensity = 0;
    points[1].achievedGflops = -1;
    points[2].intensity = kNaN;
    const std::string svg = rooflineSvg(points, "some hidden");
    expectWellFormed(svg, "hidden");
    EXPECT_EQ(count(svg, "<circle"), points.size() - 3);
    EXPECT_NE(svg.find("3 points with no intensity or throughput not shown"), std::string::npos);
}

TEST(RooflineSvg, ManyRoofsGetAtMostSixLabels) {
    std::vector<PlotPoint> points;
    for (int i = 0; i < 30; ++i) {
        PlotPoint p = point("m", 1e-3, 1e-3);
        p.peakGflops = 100.0 + 10.0 * i;
        p.peakGBps = 100.0 + 5.0 * (i % 7);
        p.intensity = 1.0 + i;
        p.achievedGflops = std::min(p.peakGflops, p.intensity * p.peakGBps) * 0.6;
        points.push_back(p);
    }
    const std::string svg = rooflineSvg(points, "crowded");
    expectWellFormed(svg, "crowded");
    EXPECT_EQ(tagsWithClass(svg, "polyline", "roof").size(), 30u);
    EXPECT_LE(textsWithClass(svg, "roof-label").size(), 6u);
    EXPECT_GE(textsWithClass(svg, "roof-label").size(), 1u);
}

TEST(RooflineSvg, EmptyGivesNoPoints) {
    const std::string empty = rooflineSvg({}, "empty");
    expectWellFormed(empty, "roofline-empty");
    EXPECT_NE(empty.find(">no points</text>"), std::string::npos);
    const std::vector<PlotPoint> flat{point("m", 1, 1)}; // no intensity
    const std::string none = rooflineSvg(flat, "none");
    EXPECT_NE(none.find(">no points</text>"), std::string::npos);
    EXPECT_NE(none.find("1 point with no intensity or throughput not shown"), std::string::npos);
}

// Writes the two pictures of the sample sweep for a person to look at:
// KPU_PLOTS_EXAMPLE_DIR=/tmp/plots-example kpu_dse_tests --gtest_filter='*Example*'
TEST(Plots, WriteExamplePictures) {
    const char* dir = std::getenv("KPU_PLOTS_EXAMPLE_DIR");
    if (dir == nullptr) {
        GTEST_SKIP() << "set KPU_PLOTS_EXAMPLE_DIR to write the example pictures";
    }
    const std::vector<PlotPoint> points = sampleSweep();
    std::filesystem::create_directories(dir);
    std::ofstream(std::filesystem::path(dir) / "pareto.svg", std::ios::binary)
        << paretoSvg(points, "KPU sweep: MobileNet v2, ResNet-50 & BERT-tiny");
    std::ofstream(std::filesystem::path(dir) / "roofline.svg", std::ios::binary)
        << rooflineSvg(points, "KPU sweep: roofline");
}

} // namespace
} // namespace kpu::dse
