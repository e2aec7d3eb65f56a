#include "kpu/loader/io_binding.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include <fmt/ranges.h>

#include "kpu/common/file_io.h"
#include "kpu/common/float_convert.h"
#include "kpu/common/npy.h"
#include "kpu/common/onnx_tensor.h"
#include "kpu/loader/loader.h"

namespace kpu::loader {

namespace {

std::optional<std::uint32_t> findStaticInput(const dfx::Program& program, std::string_view name) {
    if (!program.static_inputs())
        return std::nullopt;
    for (std::uint32_t i = 0; i < program.static_inputs()->size(); ++i)
        if (program.static_inputs()->Get(i)->name()->string_view() == name)
            return i;
    return std::nullopt;
}

bool isSupplied(dfx::TensorRole role) {
    return role == dfx::TensorRole::Input || role == dfx::TensorRole::Constant;
}

// A scalar and a one-element tensor hold the same value; otherwise shapes must be equal.
bool sameShape(const Shape& a, const Shape& b) {
    if (a == b)
        return true;
    if (!a.empty() && !b.empty())
        return false;
    return elementCount(a) == std::optional<std::int64_t>(1) &&
           elementCount(b) == std::optional<std::int64_t>(1);
}

// "1, 64" or "0.5, -1, ..." (at most 8 values), read from `data` without going past it.
std::string briefValues(DType dtype, std::span<const std::uint8_t> data) {
    const std::uint32_t size = dtypeSize(dtype);
    const std::size_t count = size == 0 ? 0 : data.size() / size;
    const std::size_t shown = std::min<std::size_t>(count, 8);
    std::vector<std::string> parts;
    for (std::size_t i = 0; i < shown; ++i) {
        const std::uint8_t* p = data.data() + i * size;
        if (dtype == DType::I64) {
            std::int64_t v;
            std::memcpy(&v, p, sizeof v);
            parts.push_back(fmt::format("{}", v));
        } else {
            double v;
            convertToF64(dtype, p, &v, 1);
            parts.push_back(fmt::format("{:.7g}", v));
        }
    }
    if (count > shown)
        parts.emplace_back("...");
    return fmt::format("{}", fmt::join(parts, ", "));
}

std::string describeValue(DType dtype, const Shape& shape, std::span<const std::uint8_t> data) {
    return fmt::format("{}, shape {}, values [{}]", dtypeName(dtype), formatShape(shape),
                       briefValues(dtype, data));
}

// The names an --input can bind to, for error messages.
std::string inputNames(const dfx::Program& program) {
    std::string names;
    for (const dfx::Tensor* t : *program.tensors())
        if (isSupplied(t->role()))
            names += (names.empty() ? "" : ", ") + t->name()->str();
    if (names.empty())
        names = "none";
    if (program.static_inputs() && program.static_inputs()->size() > 0) {
        std::vector<std::string> statics;
        for (const dfx::StaticInput* s : *program.static_inputs())
            statics.push_back(s->name()->str());
        names += fmt::format("; static inputs: {}", fmt::join(statics, ", "));
    }
    return names;
}

std::string sourceInputNames(const std::vector<SourceInput>& inputs) {
    std::vector<std::string> names;
    for (const SourceInput& s : inputs)
        names.push_back(s.staticInput ? s.name + " (static)" : s.name);
    return names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", "));
}

std::string tensorNameList(const dfx::Program& program, const std::vector<std::uint32_t>& indices) {
    std::vector<std::string> names;
    for (std::uint32_t i : indices)
        names.push_back(program.tensors()->Get(i)->name()->str());
    return names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", "));
}

// Checks the shape and dtype rules of conformToTensor without converting.
Expected<void> checkCompatible(const HostTensor& t, const HostTensor& value, std::string_view where,
                               std::string_view what) {
    if (!sameShape(value.shape, t.shape))
        return fail("{}: error: {} '{}' has shape {}, the tensor is {}", where, what, t.name,
                    formatShape(value.shape), formatShape(t.shape));
    if (value.dtype == t.dtype)
        return {};
    if (value.dtype == DType::F8E4M3)
        return fail("{}: error: {} '{}' holds f8 E4M3 values (a '|u1' .npy is read as raw f8 "
                    "bytes); the tensor is {}",
                    where, what, t.name, dtypeName(t.dtype));
    if (!isFloat(value.dtype) || !isFloat(t.dtype))
        return fail("{}: error: {} '{}' holds {} values, the tensor is {} (only floating-point "
                    "types are converted into each other)",
                    where, what, t.name, dtypeName(value.dtype), dtypeName(t.dtype));
    return {};
}

// Checks a value given for a static input against the one the program was compiled for.
Expected<void> checkStaticInput(const dfx::StaticInput& s, const ValueArg& arg) {
    const DType dtype = dfx::fromDType(s.dtype());
    Shape shape;
    if (s.shape())
        shape.assign(s.shape()->begin(), s.shape()->end());
    const std::span<const std::uint8_t> recorded =
        s.data() ? std::span<const std::uint8_t>(s.data()->data(), s.data()->size())
                 : std::span<const std::uint8_t>();
    const HostTensor& v = arg.value;
    if (dtype == v.dtype && sameShape(shape, v.shape) &&
        std::ranges::equal(recorded, std::span<const std::uint8_t>(v.data)))
        return {};
    return fail("{}: error: --input '{}': the program was compiled for another value of this "
                "static input: {}; this file holds {} (recompile with the new value)",
                arg.path, s.name()->string_view(), describeValue(dtype, shape, recorded),
                describeValue(v.dtype, v.shape, v.data));
}

// How an argument is bound: by a name (given or stored), or positionally.
std::string_view boundName(const ValueArg& arg,
                           bool (*known)(const dfx::Program&, std::string_view),
                           const dfx::Program& program) {
    if (!arg.name.empty())
        return arg.name;
    if (!arg.value.name.empty() && known(program, arg.value.name))
        return arg.value.name;
    return {};
}

bool isInputTarget(const dfx::Program& program, std::string_view name) {
    if (auto t = findTensor(program, name); t && isSupplied(program.tensors()->Get(*t)->role()))
        return true;
    return findStaticInput(program, name).has_value();
}

bool isTensor(const dfx::Program& program, std::string_view name) {
    return findTensor(program, name).has_value();
}

} // namespace

Expected<HostTensor> readValueFile(const std::string& path) {
    auto value = onnx_io::readValueFile(path);
    if (!value)
        return std::unexpected(value.error());
    return HostTensor{.name = std::move(value->name),
                      .dtype = value->dtype,
                      .shape = std::move(value->shape),
                      .data = std::move(value->data)};
}

Expected<void> writeValueFile(const std::string& path, const HostTensor& tensor) {
    if (path.ends_with(".pb"))
        return onnx_io::writeTensorFile(path, onnx_io::TensorValue{.name = tensor.name,
                                                                   .dtype = tensor.dtype,
                                                                   .shape = tensor.shape,
                                                                   .data = tensor.data});
    return writeNpyFile(
        path, NpyArray{.dtype = tensor.dtype, .shape = tensor.shape, .data = tensor.data});
}

Expected<ValueArg> readValueArg(std::string_view spec, std::string_view option) {
    ValueArg arg;
    const auto eq = spec.find('=');
    if (eq == std::string_view::npos) {
        arg.path = std::string(spec);
    } else {
        arg.name = std::string(spec.substr(0, eq));
        arg.path = std::string(spec.substr(eq + 1));
    }
    if (arg.path.empty() || (eq != std::string_view::npos && arg.name.empty()))
        return fail("kpu-loader: error: {} '{}': expected NAME=FILE or FILE (.npy or ONNX .pb)",
                    option, spec);
    auto value = readValueFile(arg.path);
    if (!value)
        return std::unexpected(value.error());
    arg.value = std::move(*value);
    return arg;
}

std::vector<SourceInput> sourceInputs(const dfx::Program& program) {
    std::vector<SourceInput> dynamic;
    if (program.graph_inputs()) {
        for (std::uint32_t t : *program.graph_inputs())
            if (t < program.tensors()->size())
                dynamic.push_back({program.tensors()->Get(t)->name()->str(), t, std::nullopt});
    } else {
        for (std::uint32_t t = 0; t < program.tensors()->size(); ++t)
            if (program.tensors()->Get(t)->role() == dfx::TensorRole::Input)
                dynamic.push_back({program.tensors()->Get(t)->name()->str(), t, std::nullopt});
    }
    const std::uint32_t staticCount = program.static_inputs() ? program.static_inputs()->size() : 0;
    const std::size_t total = dynamic.size() + staticCount;
    // Static inputs at their positions (the verifier makes them distinct and in range; an
    // object that is not goes last rather than out of bounds), the others in order around them.
    std::vector<std::optional<SourceInput>> slots(total);
    std::vector<SourceInput> misplaced;
    for (std::uint32_t k = 0; k < staticCount; ++k) {
        const dfx::StaticInput& s = *program.static_inputs()->Get(k);
        SourceInput in{s.name()->str(), std::nullopt, k};
        if (s.position() < total && !slots[s.position()])
            slots[s.position()] = std::move(in);
        else
            misplaced.push_back(std::move(in));
    }
    std::vector<SourceInput> order;
    std::size_t next = 0;
    for (auto& slot : slots) {
        if (slot)
            order.push_back(std::move(*slot));
        else if (next < dynamic.size())
            order.push_back(std::move(dynamic[next++]));
    }
    for (; next < dynamic.size(); ++next)
        order.push_back(std::move(dynamic[next]));
    for (auto& in : misplaced)
        order.push_back(std::move(in));
    return order;
}

std::vector<std::uint32_t> sourceOutputs(const dfx::Program& program) {
    std::vector<std::uint32_t> outputs;
    if (program.graph_outputs()) {
        for (std::uint32_t t : *program.graph_outputs())
            if (t < program.tensors()->size())
                outputs.push_back(t);
        return outputs;
    }
    for (std::uint32_t t = 0; t < program.tensors()->size(); ++t)
        if (program.tensors()->Get(t)->role() == dfx::TensorRole::Output)
            outputs.push_back(t);
    return outputs;
}

Expected<HostTensor> conformToTensor(const dfx::Tensor& tensor, HostTensor value,
                                     std::string_view where, std::string_view what) {
    HostTensor t = describe(tensor);
    if (auto r = checkCompatible(t, value, where, what); !r)
        return std::unexpected(r.error());
    const auto count = static_cast<std::uint64_t>(elementCount(t.shape).value_or(0));
    if (value.data.size() != count * dtypeSize(value.dtype))
        return fail("{}: error: {} '{}' holds {} bytes, {} {} needs {}", where, what, t.name,
                    value.data.size(), formatShape(value.shape), dtypeName(value.dtype),
                    count * dtypeSize(value.dtype));
    if (value.dtype == t.dtype) {
        t.data = std::move(value.data);
        return t;
    }
    std::vector<double> values(count);
    convertToF64(value.dtype, value.data.data(), values.data(), count);
    t.data.resize(count * dtypeSize(t.dtype));
    convertFromF64(t.dtype, values.data(), t.data.data(), count);
    return t;
}

Expected<std::map<std::string, HostTensor>> bindInputs(const dfx::Program& program,
                                                       std::vector<ValueArg> args) {
    const std::vector<SourceInput> order = sourceInputs(program);
    std::map<std::string, std::string> boundBy;                // target name -> file
    std::vector<std::pair<std::string, std::size_t>> bindings; // target name, argument
    auto bind = [&](const std::string& target, std::size_t a) -> Expected<void> {
        if (auto it = boundBy.find(target); it != boundBy.end())
            return fail("{}: error: --input '{}' is given twice (also by {})", args[a].path, target,
                        it->second);
        boundBy.emplace(target, args[a].path);
        bindings.emplace_back(target, a);
        return {};
    };
    // Named bindings first, so that positional files fill the inputs nothing names.
    std::vector<std::size_t> positional;
    for (std::size_t a = 0; a < args.size(); ++a) {
        const std::string_view name = boundName(args[a], isInputTarget, program);
        if (name.empty()) {
            positional.push_back(a);
            continue;
        }
        if (!isInputTarget(program, name)) {
            const bool statics = program.static_inputs() && program.static_inputs()->size() > 0;
            return fail("{}: error: --input '{}': the object has no input or constant tensor{} "
                        "of that name (it has: {})",
                        args[a].path, name, statics ? " or static input" : "", inputNames(program));
        }
        if (auto r = bind(std::string(name), a); !r)
            return std::unexpected(r.error());
    }
    std::size_t slot = 0;
    for (std::size_t a : positional) {
        while (slot < order.size() && boundBy.contains(order[slot].name))
            ++slot;
        if (slot == order.size())
            return fail("{}: error: --input: no graph input is left for this file to bind to "
                        "by position (the graph's inputs, in order: {}; all are given)",
                        args[a].path, sourceInputNames(order));
        if (auto r = bind(order[slot].name, a); !r)
            return std::unexpected(r.error());
    }

    std::map<std::string, HostTensor> values;
    for (auto& [target, a] : bindings) {
        ValueArg& arg = args[a];
        const auto tensor = findTensor(program, target);
        if (!tensor || !isSupplied(program.tensors()->Get(*tensor)->role())) {
            // isInputTarget: not an Input or Constant tensor, so a static input.
            const auto s = findStaticInput(program, target);
            if (auto r = checkStaticInput(*program.static_inputs()->Get(*s), arg); !r)
                return std::unexpected(r.error());
            continue;
        }
        auto value =
            conformToTensor(*program.tensors()->Get(*tensor), std::move(arg.value), arg.path);
        if (!value)
            return std::unexpected(value.error());
        values.emplace(target, std::move(*value));
    }
    return values;
}

namespace {

// bindExpected with the graph order read from `program` and external visibility from `executed`
// (the same tensors; `executed` has every op explicit).
Expected<std::vector<ExpectedValue>> bindExpectedTo(const dfx::Program& program,
                                                    const dfx::Program& executed,
                                                    std::vector<ValueArg> args) {
    const std::vector<std::uint32_t> outputs = sourceOutputs(program);
    const std::vector<bool> visible = externallyVisible(executed);
    std::map<std::uint32_t, std::string> boundBy; // tensor -> file
    std::vector<std::pair<std::uint32_t, std::size_t>> bindings;
    auto bind = [&](std::uint32_t tensor, std::size_t a) -> Expected<void> {
        const std::string name = program.tensors()->Get(tensor)->name()->str();
        if (auto it = boundBy.find(tensor); it != boundBy.end())
            return fail("{}: error: --expect '{}' is given twice (also by {})", args[a].path, name,
                        it->second);
        if (!visible[tensor])
            return fail("{}: error: --expect '{}': this intermediate stays on chip or was fused "
                        "away, so the run never produces its values in external memory (graph "
                        "outputs and spilled intermediates can be compared)",
                        args[a].path, name);
        boundBy.emplace(tensor, args[a].path);
        bindings.emplace_back(tensor, a);
        return {};
    };
    std::vector<std::size_t> positional;
    for (std::size_t a = 0; a < args.size(); ++a) {
        const std::string_view name = boundName(args[a], isTensor, program);
        if (name.empty()) {
            positional.push_back(a);
            continue;
        }
        const auto tensor = findTensor(program, name);
        if (!tensor)
            return fail("{}: error: --expect '{}': the object has no tensor of that name (its "
                        "graph outputs: {})",
                        args[a].path, name, tensorNameList(program, outputs));
        if (auto r = bind(*tensor, a); !r)
            return std::unexpected(r.error());
    }
    std::size_t slot = 0;
    for (std::size_t a : positional) {
        while (slot < outputs.size() && boundBy.contains(outputs[slot]))
            ++slot;
        if (slot == outputs.size())
            return fail("{}: error: --expect: no graph output is left for this file to bind to "
                        "by position (the graph's outputs, in order: {}; all are given)",
                        args[a].path, tensorNameList(program, outputs));
        if (auto r = bind(outputs[slot], a); !r)
            return std::unexpected(r.error());
    }

    std::vector<ExpectedValue> expected;
    for (auto& [tensor, a] : bindings) {
        ValueArg& arg = args[a];
        const HostTensor t = describe(*program.tensors()->Get(tensor));
        if (auto r = checkCompatible(t, arg.value, arg.path, "expected value"); !r)
            return std::unexpected(r.error());
        const auto count = static_cast<std::uint64_t>(elementCount(t.shape).value_or(0));
        if (arg.value.data.size() != count * dtypeSize(arg.value.dtype))
            return fail("{}: error: expected value '{}' holds {} bytes, {} {} needs {}", arg.path,
                        t.name, arg.value.data.size(), formatShape(arg.value.shape),
                        dtypeName(arg.value.dtype), count * dtypeSize(arg.value.dtype));
        arg.value.shape = t.shape; // a scalar for a one-element tensor
        expected.push_back({tensor, arg.path, std::move(arg.value)});
    }
    return expected;
}

} // namespace

Expected<std::vector<ExpectedValue>> bindExpected(const dfx::Program& program,
                                                  std::vector<ValueArg> args) {
    return bindExpectedTo(program, program, std::move(args));
}

Expected<std::vector<ExpectedValue>> bindExpected(const LoadedObject& object,
                                                  std::vector<ValueArg> args) {
    return bindExpectedTo(*object.stored, *object.program, std::move(args));
}

Expected<std::map<std::string, HostTensor>> bindInputs(const LoadedObject& object,
                                                       std::vector<ValueArg> args) {
    return bindInputs(*object.stored, std::move(args));
}

ExpectComparison compareWithExpected(const HostTensor& actual, const HostTensor& expected,
                                     const Tolerance& tolerance) {
    ExpectComparison c;
    c.tensor = actual.name;
    c.tolerance = tolerance;
    const std::uint32_t aSize = dtypeSize(actual.dtype), eSize = dtypeSize(expected.dtype);
    const std::uint64_t aCount = aSize ? actual.data.size() / aSize : 0;
    const std::uint64_t eCount = eSize ? expected.data.size() / eSize : 0;
    const std::uint64_t n = std::min(aCount, eCount);
    c.elements = std::max(aCount, eCount);
    constexpr double kInf = std::numeric_limits<double>::infinity();
    auto mismatch = [&](std::uint64_t i, double e, double a) {
        if (c.mismatches++ > 0)
            return;
        ExpectMismatch m{.flatIndex = i, .index = {}, .expected = e, .actual = a};
        m.index.resize(actual.shape.size());
        std::uint64_t rest = i;
        for (std::size_t d = actual.shape.size(); d-- > 0;) {
            const auto extent =
                static_cast<std::uint64_t>(std::max<std::int64_t>(1, actual.shape[d]));
            m.index[d] = static_cast<std::int64_t>(rest % extent);
            rest /= extent;
        }
        c.firstMismatch = std::move(m);
    };
    // Blocks of doubles, so that big outputs do not need two more full copies.
    constexpr std::uint64_t kBlock = 4096;
    std::vector<double> a(kBlock), e(kBlock);
    for (std::uint64_t base = 0; base < n; base += kBlock) {
        const std::uint64_t len = std::min(kBlock, n - base);
        convertToF64(actual.dtype, actual.data.data() + base * aSize, a.data(), len);
        convertToF64(expected.dtype, expected.data.data() + base * eSize, e.data(), len);
        for (std::uint64_t j = 0; j < len; ++j) {
            const double av = a[j], ev = e[j];
            if (std::isnan(av) && std::isnan(ev))
                continue;
            if (!std::isfinite(av) || !std::isfinite(ev)) {
                if (av == ev) // the same infinity
                    continue;
                c.maxAbsError = c.maxRelError = kInf;
                mismatch(base + j, ev, av);
                continue;
            }
            const double diff = std::fabs(av - ev);
            c.maxAbsError = std::max(c.maxAbsError, diff);
            if (ev != 0)
                c.maxRelError = std::max(c.maxRelError, diff / std::fabs(ev));
            if (!(diff <= tolerance.atol + tolerance.rtol * std::fabs(ev)))
                mismatch(base + j, ev, av);
        }
    }
    // Elements one side lacks (never after bindExpected) count as mismatches.
    for (std::uint64_t i = n; i < c.elements; ++i) {
        c.maxAbsError = c.maxRelError = kInf;
        mismatch(i, i < eCount ? std::numeric_limits<double>::quiet_NaN() : 0,
                 std::numeric_limits<double>::quiet_NaN());
    }
    return c;
}

std::string formatExpectLine(const ExpectComparison& c) {
    std::string line = fmt::format(
        "{} ({}): max abs error {:.3g}, max rel error {:.3g}, {} of {} elements differ (rtol {:g}, "
        "atol {:g}): {}",
        c.tensor, c.path, c.maxAbsError, c.maxRelError, c.mismatches, c.elements, c.tolerance.rtol,
        c.tolerance.atol, c.pass() ? "PASS" : "FAIL");
    if (c.firstMismatch)
        line += fmt::format("; first at [{}]: expected {:.9g}, got {:.9g}",
                            fmt::join(c.firstMismatch->index, ","), c.firstMismatch->expected,
                            c.firstMismatch->actual);
    return line;
}

} // namespace kpu::loader
