#include "kpu/loader/loader.h"

#include <algorithm>
#include <cmath>

#include "kpu/common/file_io.h"
#include "kpu/common/float_convert.h"
#include "kpu/common/npy.h"
#include "kpu/loader/io_binding.h"
#include "kpu/loader/object_expansion.h"
#include "kpu/loader/verifier.h"
#include "kpu/simulator/simulator.h"

namespace kpu::loader {
namespace {

std::string tensorNames(const dfx::Program& program, bool (*keep)(dfx::TensorRole)) {
    std::string names;
    for (const dfx::Tensor* t : *program.tensors())
        if (keep(t->role()))
            names += (names.empty() ? "" : ", ") + t->name()->str();
    return names.empty() ? "none" : names;
}

bool isSupplied(dfx::TensorRole role) {
    return role == dfx::TensorRole::Input || role == dfx::TensorRole::Constant;
}
bool isAny(dfx::TensorRole) {
    return true;
}

// The fan-in of a weight: how many of its elements each output of its first consumer sums.
// Random weights are scaled by 1/sqrt(fan-in) (as He/Xavier initialisation does), so
// activations keep unit scale through deep graphs instead of saturating every clamp and
// softmax, and the comparison with the reference stays sensitive.
double weightScale(const dfx::Program& program, std::uint32_t tensor) {
    if (!program.graph())
        return 1.0;
    for (const dfx::GraphNode* node : *program.graph()) {
        if (!node->inputs())
            continue;
        for (std::uint32_t slot = 0; slot < node->inputs()->size(); ++slot) {
            if (node->inputs()->Get(slot) != tensor || slot != 1)
                continue;
            const auto shape = dfx::tensorShape(*program.tensors()->Get(tensor));
            const std::size_t rank = shape.size();
            double fanIn = 1;
            switch (node->kind()) {
            case dfx::KernelKind::MatMul: // B [.., K, N]
                fanIn = rank >= 2 ? static_cast<double>(shape[rank - 2]) : 1;
                break;
            case dfx::KernelKind::FullyConnected: // W [N, K]
                fanIn = rank >= 1 ? static_cast<double>(shape[rank - 1]) : 1;
                break;
            case dfx::KernelKind::Conv2D: // W [O, KH, KW, C]
                fanIn = rank == 4 ? static_cast<double>(shape[1] * shape[2] * shape[3]) : 1;
                break;
            case dfx::KernelKind::DepthwiseConv2D: // W [KH, KW, C, M]
                fanIn = rank == 4 ? static_cast<double>(shape[0] * shape[1]) : 1;
                break;
            default:
                break;
            }
            return 1.0 / std::sqrt(std::max(1.0, fanIn));
        }
    }
    return 1.0;
}

} // namespace

Expected<LoadedObject> loadObject(const std::string& path, std::uint64_t hostMemoryLimit) {
    auto bytes = readBinaryFile(path);
    if (!bytes)
        return std::unexpected(bytes.error());
    return loadObjectBytes(std::move(*bytes), path, hostMemoryLimit);
}

Expected<LoadedObject> loadObjectBytes(std::vector<std::uint8_t> bytes, const std::string& path,
                                       std::uint64_t hostMemoryLimit) {
    LoadedObject object;
    object.path = path;
    object.bytes = std::move(bytes);
    auto program = verifyObject(object.bytes, path);
    if (!program)
        return std::unexpected(program.error());
    object.stored = *program;
    object.program = *program;
    if (hasTileLoops(**program)) {
        auto expanded = expandProgram(object.bytes, path, hostMemoryLimit);
        if (!expanded)
            return std::unexpected(expanded.error());
        object.expanded = std::move(*expanded);
        object.program = dfx::GetProgram(object.expanded.data());
    }
    return object;
}

Expected<std::vector<HostTensor>> prepareInputs(const dfx::Program& program,
                                                const std::map<std::string, HostTensor>& values,
                                                std::uint64_t seed, std::string_view sourceName) {
    for (const auto& [name, value] : values) {
        auto index = findTensor(program, name);
        if (!index || !isSupplied(program.tensors()->Get(*index)->role()))
            return fail("{}: error: --input '{}': the object has no input or constant tensor of "
                        "that name (it has: {})",
                        sourceName, name, tensorNames(program, isSupplied));
    }
    std::vector<HostTensor> inputs(program.tensors()->size());
    for (std::uint32_t i = 0; i < program.tensors()->size(); ++i) {
        const dfx::Tensor& desc = *program.tensors()->Get(i);
        if (!isSupplied(desc.role()))
            continue;
        if (auto given = values.find(desc.name()->str()); given != values.end()) {
            auto t = conformToTensor(desc, given->second, sourceName);
            if (!t)
                return std::unexpected(t.error());
            inputs[i] = std::move(*t);
            continue;
        }
        inputs[i] = describe(desc);
        if (desc.role() == dfx::TensorRole::Constant && desc.data()) {
            // Values stored in the object (format 4.0). The verifier checks their size too; this
            // check keeps a program that did not go through it from being read out of bounds.
            const auto bytes = byteSize(inputs[i].shape, dtypeSize(inputs[i].dtype));
            if (!bytes || *bytes != desc.data()->size())
                return fail("{}: error: tensors[{}] '{}': the object stores {} bytes of data, the "
                            "tensor ({} {}) has {}",
                            sourceName, i, inputs[i].name, desc.data()->size(),
                            formatShape(inputs[i].shape), dtypeName(inputs[i].dtype),
                            bytes ? fmt::format("{}", *bytes) : std::string("an overflowing size"));
            inputs[i].data.assign(desc.data()->begin(), desc.data()->end());
            continue;
        }
        fillRandom(inputs[i], seed, i,
                   desc.role() == dfx::TensorRole::Constant ? weightScale(program, i) : 1.0);
    }
    return inputs;
}

Expected<SimulationResult> simulate(const dfx::Program& program, const sim::Schedule& schedule,
                                    const KpuConfig& config, const std::vector<HostTensor>& inputs,
                                    const sim::RunOptions& options) {
    auto simulator = sim::Simulator::create(config, schedule);
    if (!simulator)
        return std::unexpected(simulator.error());
    for (std::size_t i = 0; i < inputs.size(); ++i)
        if (!inputs[i].data.empty())
            if (auto r = simulator->writeExternal(schedule.tensors[i].offset, inputs[i].data); !r)
                return std::unexpected(r.error());
    SimulationResult result;
    result.stats = simulator->run(schedule, options);
    if (!options.functional)
        return result; // no values were computed
    for (std::uint32_t i = 0; i < program.tensors()->size(); ++i) {
        HostTensor t = describe(*program.tensors()->Get(i));
        const bool given = i < inputs.size() && !inputs[i].data.empty();
        if (!(schedule.tensors[i].readOnly && given)) {
            t.data.resize(schedule.tensors[i].bytes);
            if (auto r = simulator->readExternal(schedule.tensors[i].offset, t.data); !r)
                return std::unexpected(r.error());
        }
        result.tensors.push_back(std::move(t));
    }
    return result;
}

Expected<std::vector<Comparison>> verifyOutputs(const dfx::Program& program,
                                                const std::vector<HostTensor>& inputs,
                                                const SimulationResult& result,
                                                std::string_view sourceName) {
    auto reference = executeReference(program, inputs, sourceName);
    if (!reference)
        return std::unexpected(reference.error());
    const double tolerance = outputTolerance(program);
    std::vector<Comparison> comparisons;
    for (std::uint32_t i = 0; i < program.tensors()->size(); ++i)
        if (program.tensors()->Get(i)->role() == dfx::TensorRole::Output)
            comparisons.push_back(
                compareWithReference((*reference)[i], result.tensors[i], tolerance));
    return comparisons;
}

// Which tensors hold their values in external memory after a run: graph inputs, constants
// and outputs, and intermediates the program spills there (and every alias of those).
// Intermediates that stay on chip or were fused away never reach it.
std::vector<bool> externallyVisible(const dfx::Program& program) {
    const auto& tensors = *program.tensors();
    auto root = [&](std::uint32_t t) {
        const std::int64_t a = tensors.Get(t)->alias_of();
        return a >= 0 ? static_cast<std::uint32_t>(a) : t;
    };
    std::vector<bool> visibleRoot(tensors.size(), false);
    for (std::uint32_t t = 0; t < tensors.size(); ++t)
        if (tensors.Get(t)->role() != dfx::TensorRole::Intermediate)
            visibleRoot[root(t)] = true;
    for (const dfx::Op* op : *program.ops())
        if (op->kind() == dfx::OpKind::DataMove && op->dst_level() == dfx::MemoryLevel::External)
            visibleRoot[root(op->index())] = true;
    std::vector<bool> visible(tensors.size());
    for (std::uint32_t t = 0; t < tensors.size(); ++t)
        visible[t] = visibleRoot[root(t)];
    return visible;
}

Expected<void> checkOutputNames(const dfx::Program& program,
                                const std::map<std::string, std::string>& files) {
    const std::vector<bool> visible = externallyVisible(program);
    for (const auto& [name, path] : files) {
        const auto index = findTensor(program, name);
        if (!index)
            return fail(
                "{}: error: --output '{}': the object has no tensor of that name (it has: {})",
                path, name, tensorNames(program, isAny));
        if (!visible[*index])
            return fail("{}: error: --output '{}': this intermediate stays on chip or was fused "
                        "away, so it never reaches external memory (graph outputs, inputs, "
                        "constants and spilled intermediates can be written)",
                        path, name);
    }
    return {};
}

Expected<void> writeOutputs(const dfx::Program& program, const std::vector<HostTensor>& inputs,
                            const SimulationResult& result,
                            const std::map<std::string, std::string>& files) {
    if (auto r = checkOutputNames(program, files); !r)
        return r;
    for (const auto& [name, path] : files) {
        const std::uint32_t i = *findTensor(program, name);
        const HostTensor& t =
            result.tensors[i].data.empty() && i < inputs.size() ? inputs[i] : result.tensors[i];
        if (auto r = writeValueFile(path, t); !r)
            return r;
    }
    return {};
}

HostTensor describe(const dfx::Tensor& t) {
    HostTensor h;
    h.name = t.name()->str();
    h.dtype = dfx::fromDType(t.dtype());
    const auto shape = dfx::tensorShape(t);
    h.shape.assign(shape.begin(), shape.end());
    return h;
}

std::optional<std::uint32_t> findTensor(const dfx::Program& program, std::string_view name) {
    for (std::uint32_t i = 0; i < program.tensors()->size(); ++i)
        if (program.tensors()->Get(i)->name()->string_view() == name)
            return i;
    return std::nullopt;
}

} // namespace kpu::loader
