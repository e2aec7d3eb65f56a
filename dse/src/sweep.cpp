#include "kpu/dse/sweep.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "kpu/common/file_io.h"
#include "kpu/dse/plots.h"
#include "kpu/simulator/energy.h"

namespace kpu::dse {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;

// Reads a spec's fields, remembering the first error with its key path.
class SpecReader {
public:
    SpecReader(const std::string& path, std::filesystem::path folder)
        : path_(path), folder_(std::move(folder)) {}

    Expected<SweepSpec> read(const json& root) {
        SweepSpec spec;
        spec.path = path_;
        if (!root.is_object())
            return fail("{}: error: expected an object at the top level", path_);
        for (const auto& [key, value] : root.items())
            if (!kKeys.contains(key))
                return bad(key, "unknown key (known: name, models, base_config, parameters, "
                                "tile_strategy, search, objectives, constraints)");
        spec.name = root.value("name", std::filesystem::path(path_).stem().string());
        if (auto r = readModels(root, spec); !r)
            return std::unexpected(r.error());
        if (auto r = readBase(root, spec); !r)
            return std::unexpected(r.error());
        if (auto r = readParameters(root, spec); !r)
            return std::unexpected(r.error());
        if (auto r = readStrategy(root, spec); !r)
            return std::unexpected(r.error());
        if (auto r = readObjectives(root, spec); !r)
            return std::unexpected(r.error());
        if (auto r = readConstraints(root, spec); !r)
            return std::unexpected(r.error());
        return spec;
    }

private:
    inline static const std::set<std::string> kKeys{"name",       "models",        "base_config",
                                                    "parameters", "tile_strategy", "search",
                                                    "objectives", "constraints"};

    std::unexpected<Error> bad(std::string_view key, std::string_view what) const {
        return std::unexpected(Error{fmt::format("{}: error: {}: {}", path_, key, what)});
    }

    std::string resolve(const std::string& p) const {
        const std::filesystem::path given(p);
        return given.is_absolute() ? p : (folder_ / given).lexically_normal().string();
    }

    Expected<void> readModels(const json& root, SweepSpec& spec) const {
        const auto models = root.find("models");
        if (models == root.end() || !models->is_array() || models->empty())
            return bad("models", "expected a non-empty array of model files");
        for (std::size_t i = 0; i < models->size(); ++i) {
            const json& m = (*models)[i];
            const std::string where = fmt::format("models[{}]", i);
            SweepModel model;
            if (m.is_string()) {
                model.path = m.get<std::string>();
            } else if (m.is_object()) {
                for (const auto& [key, value] : m.items())
                    if (key != "path" && key != "name" && key != "batch")
                        return bad(where + "." + key, "unknown key (known: path, name, batch)");
                if (!m.contains("path") || !m["path"].is_string())
                    return bad(where + ".path", "expected the model file");
                model.path = m["path"].get<std::string>();
                if (m.contains("name")) {
                    if (!m["name"].is_string())
                        return bad(where + ".name", "expected a string");
                    model.name = m["name"].get<std::string>();
                }
                if (m.contains("batch")) {
                    if (!m["batch"].is_number_integer() || m["batch"].get<std::int64_t>() < 1)
                        return bad(where + ".batch", "expected a positive integer");
                    model.batch = m["batch"].get<std::int64_t>();
                }
            } else {
                return bad(where, "expected a file name or an object with \"path\"");
            }
            if (model.name.empty())
                model.name = std::filesystem::path(model.path).stem().string();
            model.path = resolve(model.path);
            spec.models.push_back(std::move(model));
        }
        return {};
    }

    Expected<void> readBase(const json& root, SweepSpec& spec) const {
        const auto base = root.find("base_config");
        if (base == root.end())
            return {};
        if (!base->is_string())
            return bad("base_config", "expected a configuration file");
        auto config = loadConfigFile(resolve(base->get<std::string>()));
        if (!config)
            return std::unexpected(config.error());
        spec.base = std::move(*config);
        return {};
    }

    Expected<void> readParameters(const json& root, SweepSpec& spec) const {
        const auto params = root.find("parameters");
        if (params == root.end())
            return {};
        if (!params->is_object())
            return bad("parameters", "expected an object of key path: [values]");
        for (const auto& [key, values] : params->items()) {
            const std::string where = "parameters." + key;
            if (!values.is_array() || values.empty())
                return bad(where, "expected a non-empty array of values");
            SweepParameter p{.key = key, .values = {}};
            for (std::size_t i = 0; i < values.size(); ++i) {
                if (!values[i].is_primitive() || values[i].is_null())
                    return bad(fmt::format("{}[{}]", where, i), "expected a number, string or "
                                                                "boolean");
                if (key == "array" && !values[i].is_number_unsigned())
                    return bad(fmt::format("{}[{}]", where, i),
                               "expected a positive integer (rows = cols)");
                p.values.push_back(values[i].dump());
            }
            spec.parameters.push_back(std::move(p));
        }
        return {};
    }

    Expected<void> readStrategy(const json& root, SweepSpec& spec) const {
        const std::string strategy = root.value("tile_strategy", "analytical");
        if (strategy != "analytical" && strategy != "search")
            return bad("tile_strategy", "expected \"analytical\" or \"search\"");
        spec.search = strategy == "search";
        const auto search = root.find("search");
        if (search == root.end())
            return {};
        if (!search->is_object())
            return bad("search", "expected an object");
        for (const auto& [key, value] : search->items()) {
            const std::string where = "search." + key;
            if (key == "objective") {
                const auto o = value.is_string()
                                   ? compiler::parseObjective(value.get<std::string>())
                                   : std::nullopt;
                if (!o)
                    return bad(where, "expected \"time\", \"energy\" or \"edp\"");
                spec.searchOptions.objective = *o;
            } else if (key == "budget") {
                if (!value.is_number_unsigned())
                    return bad(where, "expected a non-negative integer");
                spec.searchOptions.budget = value.get<std::uint64_t>();
            } else {
                return bad(where, "unknown key (known: objective, budget)");
            }
        }
        return {};
    }

    Expected<void> readObjectives(const json& root, SweepSpec& spec) const {
        const auto objectives = root.find("objectives");
        if (objectives == root.end())
            return {};
        if (!objectives->is_array() || objectives->empty())
            return bad("objectives", "expected a non-empty array of time, energy, edp");
        spec.objectives.clear();
        for (std::size_t i = 0; i < objectives->size(); ++i) {
            const json& o = (*objectives)[i];
            const auto objective =
                o.is_string() ? compiler::parseObjective(o.get<std::string>()) : std::nullopt;
            if (!objective)
                return bad(fmt::format("objectives[{}]", i),
                           "expected \"time\", \"energy\" or \"edp\"");
            spec.objectives.push_back(*objective);
        }
        return {};
    }

    Expected<void> readConstraints(const json& root, SweepSpec& spec) const {
        const auto constraints = root.find("constraints");
        if (constraints == root.end())
            return {};
        if (!constraints->is_object())
            return bad("constraints", "expected an object");
        for (const auto& [key, value] : constraints->items()) {
            const std::string where = "constraints." + key;
            if (!value.is_number() || !(value.get<double>() > 0))
                return bad(where, "expected a positive number");
            const double v = value.get<double>();
            if (key == "max_time_s")
                spec.constraints.maxTimeSeconds = v;
            else if (key == "max_energy_j")
                spec.constraints.maxEnergyJoules = v;
            else if (key == "max_area_mm2")
                spec.constraints.maxAreaMm2 = v;
            else
                return bad(where, "unknown key (known: max_time_s, max_energy_j, max_area_mm2)");
        }
        return {};
    }

    std::string path_;
    std::filesystem::path folder_;
};

// The value indices of configuration `config` (the first parameter varies slowest).
std::vector<std::size_t> valueIndices(const SweepSpec& spec, std::size_t config) {
    std::vector<std::size_t> at(spec.parameters.size());
    for (std::size_t p = spec.parameters.size(); p-- > 0;) {
        const std::size_t n = spec.parameters[p].values.size();
        at[p] = config % n;
        config /= n;
    }
    return at;
}

// "on_chip_memory.l2.bank_capacity_kb" -> "l2.bank_capacity_kb": the last two components.
std::string shortKey(const std::string& key) {
    const auto last = key.rfind('.');
    if (last == std::string::npos || last == 0)
        return key;
    const auto before = key.rfind('.', last - 1);
    return before == std::string::npos ? key : key.substr(before + 1);
}

// Sets `key` (a dotted path) in the configuration JSON. A capacity given in one unit replaces
// the same capacity in the others (only one may be present).
void setKey(json& config, const std::string& key, const json& value) {
    json* at = &config;
    std::size_t start = 0;
    for (std::size_t dot; (dot = key.find('.', start)) != std::string::npos; start = dot + 1) {
        json& next = (*at)[key.substr(start, dot - start)];
        if (!next.is_object())
            next = json::object();
        at = &next;
    }
    const std::string leaf = key.substr(start);
    for (const char* unit : {"_bytes", "_kb", "_mb", "_gb"})
        if (leaf.ends_with(unit)) {
            const std::string base = leaf.substr(0, leaf.size() - std::string_view(unit).size());
            for (const char* other : {"_bytes", "_kb", "_mb", "_gb"})
                at->erase(base + other);
        }
    (*at)[leaf] = value;
}

double number(const json& line, const char* key) {
    const auto it = line.find(key);
    return it != line.end() && it->is_number() ? it->get<double>() : 0.0;
}

} // namespace

std::size_t SweepSpec::configCount() const {
    std::size_t n = 1;
    for (const SweepParameter& p : parameters)
        n *= p.values.size();
    return n;
}

Expected<SweepSpec> parseSweepSpec(std::string_view text, const std::string& path) {
    std::string jsonText(text);
    if (isYamlPath(path)) {
        auto converted = yamlToJson(text, path);
        if (!converted)
            return std::unexpected(converted.error());
        jsonText = std::move(*converted);
    }
    json root;
    try {
        root = json::parse(jsonText);
    } catch (const json::parse_error& e) {
        return fail("{}: error: {}", path, e.what());
    }
    return SpecReader(path, std::filesystem::path(path).parent_path()).read(root);
}

Expected<SweepSpec> loadSweepSpec(const std::string& path) {
    auto text = readTextFile(path);
    if (!text)
        return std::unexpected(text.error());
    return parseSweepSpec(*text, path);
}

Expected<KpuConfig> pointConfig(const SweepSpec& spec, std::size_t index) {
    const std::size_t config = index % spec.configCount();
    json tree = json::parse(configToJson(spec.base));
    const std::vector<std::size_t> at = valueIndices(spec, config);
    std::vector<std::string> label;
    bool arrayChanged = false, l1CountSet = false;
    for (std::size_t p = 0; p < spec.parameters.size(); ++p) {
        const SweepParameter& param = spec.parameters[p];
        const json value = json::parse(param.values[at[p]]);
        if (param.key == "array") {
            setKey(tree, "compute.processor_array.rows", value);
            setKey(tree, "compute.processor_array.cols", value);
        } else {
            setKey(tree, param.key, value);
        }
        arrayChanged |= param.key == "array" || param.key.starts_with("compute.");
        l1CountSet |= param.key == "on_chip_memory.l1.buffer_count";
        label.push_back(shortKey(param.key) + "=" + param.values[at[p]]);
    }
    // The L1 buffer count follows the array (the upstream rule) unless the sweep sets it.
    if (arrayChanged && !l1CountSet)
        tree["on_chip_memory"]["l1"].erase("buffer_count");
    tree["name"] = label.empty() ? spec.base.name
                                 : fmt::format("{}[{}]", spec.base.name, fmt::join(label, ","));
    return parseConfigJson(tree.dump(), fmt::format("{}: point {}", spec.path, index));
}

std::string runPoint(const SweepSpec& spec, std::size_t index,
                     std::vector<std::optional<Expected<ir::Graph>>>& graphs) {
    const std::size_t modelIndex = index / spec.configCount();
    const SweepModel& model = spec.models[modelIndex];
    ojson line;
    line["index"] = index;
    line["model"] = model.name;
    ojson parameters = ojson::object();
    const std::vector<std::size_t> at = valueIndices(spec, index % spec.configCount());
    for (std::size_t p = 0; p < spec.parameters.size(); ++p)
        parameters[spec.parameters[p].key] = ojson::parse(spec.parameters[p].values[at[p]]);
    const auto failed = [&](const std::string& message) {
        line["parameters"] = parameters;
        line["error"] = message;
        return line.dump(-1, ' ', false, ojson::error_handler_t::replace);
    };
    auto config = pointConfig(spec, index);
    if (!config)
        return failed(config.error().message);
    line["config"] = config->name;
    auto& graph = graphs[modelIndex];
    if (!graph)
        graph = compiler::readGraph(model.path, {.batch = model.batch, .staticInputs = {}});
    if (!*graph)
        return failed(graph->error().message);
    const compiler::CompileOptions options{
        .target = *config, .batch = model.batch, .explicitOps = false};
    std::optional<double> improvement;
    Expected<compiler::CompileResult> compiled = std::unexpected(Error{});
    Expected<compiler::Measurement> measured = std::unexpected(Error{});
    if (spec.search) {
        auto found = compiler::searchTilings(**graph, model.path, options, spec.searchOptions);
        if (!found)
            return failed(found.error().message);
        improvement = found->improvement(spec.searchOptions.objective);
        measured = found->best;
    } else {
        compiled = compiler::compileGraph(**graph, model.path, options);
        if (!compiled)
            return failed(compiled.error().message);
        measured = compiler::measureObject(compiled->object, *config, model.path);
    }
    if (!measured)
        return failed(measured.error().message);
    const compiler::Measurement& m = *measured;
    const double pes = static_cast<double>(config->compute.arrayRows) * config->compute.arrayCols *
                       config->compute.tileCount;
    const double flops = 2.0 * static_cast<double>(m.stats.macs);
    line["parameters"] = parameters;
    line["cycles"] = m.stats.totalCycles;
    line["time_s"] = m.seconds;
    line["energy_j"] = m.energy.total() * 1e-12;
    line["dynamic_energy_j"] = m.energy.dynamic() * 1e-12;
    line["static_energy_j"] = m.energy.staticPj * 1e-12;
    line["pj_per_mac"] =
        m.stats.macs > 0 ? ojson(m.energy.total() / static_cast<double>(m.stats.macs)) : ojson();
    line["macs"] = m.stats.macs;
    line["utilization"] =
        m.stats.totalCycles > 0
            ? static_cast<double>(m.stats.macs) / (pes * static_cast<double>(m.stats.totalCycles))
            : 0.0;
    line["external_bytes"] = m.externalBytes;
    line["intensity"] =
        m.externalBytes > 0 ? ojson(flops / static_cast<double>(m.externalBytes)) : ojson();
    line["achieved_gflops"] = m.seconds > 0 ? flops / m.seconds * 1e-9 : 0.0;
    line["peak_gflops"] = 2.0 * pes * config->clockGHz;
    line["peak_gbps"] = config->external.bankCount * config->external.bandwidthGBps;
    line["area_mm2"] = sim::areaMm2(*config);
    line["tile_strategy"] = spec.search ? "search" : "analytical";
    if (improvement)
        line["search_improvement"] = *improvement;
    return line.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

Expected<std::vector<std::string>> finishSweep(std::vector<std::string> lines) {
    std::vector<ojson> points;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        try {
            points.push_back(ojson::parse(lines[i]));
        } catch (const ojson::parse_error& e) {
            return fail("sweep line {}: error: {}", i + 1, e.what());
        }
        if (!points.back().is_object() || !points.back().contains("index") ||
            !points.back()["index"].is_number_unsigned())
            return fail("sweep line {}: error: not a sweep point (no \"index\")", i + 1);
    }
    std::ranges::stable_sort(points, {},
                             [](const ojson& p) { return p["index"].get<std::size_t>(); });
    for (std::size_t i = 1; i < points.size(); ++i)
        if (points[i]["index"] == points[i - 1]["index"])
            return fail("sweep: error: point {} appears twice", points[i]["index"].dump());
    // Each model's fronts, among the points that ran.
    std::map<std::string, std::vector<std::size_t>> byModel;
    for (std::size_t i = 0; i < points.size(); ++i)
        if (!points[i].contains("error"))
            byModel[points[i].value("model", "")].push_back(i);
    for (ojson& p : points) {
        p.erase("pareto_time_energy");
        p.erase("pareto_time_area");
    }
    for (const auto& [model, members] : byModel) {
        std::vector<double> time, energy, area;
        for (std::size_t i : members) {
            time.push_back(number(points[i], "time_s"));
            energy.push_back(number(points[i], "energy_j"));
            area.push_back(number(points[i], "area_mm2"));
        }
        const std::vector<bool> te = paretoFront(time, energy), ta = paretoFront(time, area);
        for (std::size_t j = 0; j < members.size(); ++j) {
            points[members[j]]["pareto_time_energy"] = te[j];
            points[members[j]]["pareto_time_area"] = ta[j];
        }
    }
    std::vector<std::string> out;
    for (const ojson& p : points)
        out.push_back(p.dump(-1, ' ', false, ojson::error_handler_t::replace));
    return out;
}

Expected<void> writeSweep(const std::vector<std::string>& lines, const std::string& folder,
                          const std::string& title) {
    std::error_code ec;
    std::filesystem::create_directories(folder, ec);
    if (ec)
        return fail("{}: error: cannot create the folder: {}", folder, ec.message());
    std::string jsonl;
    std::vector<PlotPoint> plotted;
    for (const std::string& text : lines) {
        jsonl += text + "\n";
        const json p = json::parse(text);
        if (p.contains("error"))
            continue;
        plotted.push_back(PlotPoint{.model = p.value("model", ""),
                                    .label = p.value("model", "") + " on " + p.value("config", ""),
                                    .timeSeconds = number(p, "time_s"),
                                    .energyJoules = number(p, "energy_j"),
                                    .areaMm2 = number(p, "area_mm2"),
                                    .intensity = number(p, "intensity"),
                                    .achievedGflops = number(p, "achieved_gflops"),
                                    .peakGflops = number(p, "peak_gflops"),
                                    .peakGBps = number(p, "peak_gbps"),
                                    .paretoTimeEnergy = p.value("pareto_time_energy", false),
                                    .paretoTimeArea = p.value("pareto_time_area", false)});
    }
    const std::filesystem::path dir(folder);
    if (auto r = writeTextFile((dir / "points.jsonl").string(), jsonl); !r)
        return r;
    if (auto r = writeTextFile((dir / "pareto.svg").string(), paretoSvg(plotted, title)); !r)
        return r;
    return writeTextFile((dir / "roofline.svg").string(), rooflineSvg(plotted, title));
}

std::string summarizeSweep(const SweepSpec& spec, const std::vector<std::string>& lines) {
    std::map<std::string, std::vector<json>> byModel;
    std::size_t failed = 0;
    for (const std::string& text : lines) {
        json p = json::parse(text);
        if (p.contains("error"))
            ++failed;
        else
            byModel[p.value("model", "")].push_back(std::move(p));
    }
    const auto describe = [](const json& p) {
        return fmt::format("{:<44} {:>10.4g} ms {:>10.4g} mJ {:>8.1f} mm2 {:>6.1f}% util",
                           p.value("config", ""), number(p, "time_s") * 1e3,
                           number(p, "energy_j") * 1e3, number(p, "area_mm2"),
                           100 * number(p, "utilization"));
    };
    std::string out =
        fmt::format("{}: {} points ({} models x {} configurations), {} failed\n", spec.name,
                    lines.size(), spec.models.size(), spec.configCount(), failed);
    for (const auto& [model, points] : byModel) {
        out += fmt::format("{}:\n  Pareto-optimal (time vs energy):\n", model);
        for (const json& p : points)
            if (p.value("pareto_time_energy", false))
                out += "    " + describe(p) + "\n";
        for (compiler::Objective o : spec.objectives) {
            const auto score = [&](const json& p) {
                const double t = number(p, "time_s"), e = number(p, "energy_j");
                return o == compiler::Objective::Time     ? t
                       : o == compiler::Objective::Energy ? e
                                                          : t * e;
            };
            const auto best = std::ranges::min_element(
                points, [&](const json& a, const json& b) { return score(a) < score(b); });
            out += fmt::format("  best {:<7}  {}\n", compiler::objectiveName(o), describe(*best));
        }
        const SweepConstraints& c = spec.constraints;
        if (c.maxTimeSeconds || c.maxEnergyJoules || c.maxAreaMm2) {
            const json* fastest = nullptr;
            for (const json& p : points) {
                if ((c.maxTimeSeconds && number(p, "time_s") > *c.maxTimeSeconds) ||
                    (c.maxEnergyJoules && number(p, "energy_j") > *c.maxEnergyJoules) ||
                    (c.maxAreaMm2 && number(p, "area_mm2") > *c.maxAreaMm2))
                    continue;
                if (!fastest || number(p, "time_s") < number(*fastest, "time_s"))
                    fastest = &p;
            }
            out += fastest
                       ? fmt::format("  fastest within the constraints  {}\n", describe(*fastest))
                       : "  no point meets the constraints\n";
        }
    }
    return out;
}

} // namespace kpu::dse
