// Builds small DFX programs with a graph section through the FlatBuffers object API, runs the
// reference executor on them and reads results back as doubles.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <flatbuffers/flatbuffers.h>
#include <gtest/gtest.h>

#include "kpu/common/float_convert.h"
#include "kpu/loader/reference_executor.h"

namespace kpu::loader::test {

inline std::vector<double> valuesOf(const HostTensor& t) {
    std::vector<double> v(t.data.size() / dtypeSize(t.dtype));
    convertToF64(t.dtype, t.data.data(), v.data(), v.size());
    return v;
}

inline HostTensor hostTensor(std::string name, DType dtype, Shape shape,
                             const std::vector<double>& values) {
    HostTensor t{.name = std::move(name), .dtype = dtype, .shape = std::move(shape), .data = {}};
    t.data.resize(values.size() * dtypeSize(dtype));
    convertFromF64(dtype, values.data(), t.data.data(), values.size());
    return t;
}

// Element-wise closeness; the default tolerance covers the f32 rounding of the results.
inline void expectValues(const std::vector<double>& got, const std::vector<double>& want,
                         double tolerance = 1e-6) {
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i)
        EXPECT_NEAR(got[i], want[i], tolerance * std::max(1.0, std::abs(want[i]))) << "at " << i;
}

class Graph {
public:
    // A tensor with data (role Input); `values` are rounded to `dtype`.
    std::uint32_t input(const std::string& name, Shape shape, std::vector<double> values,
                        DType dtype = DType::F32) {
        const std::uint32_t index = tensor(name, shape, dtype, dfx::TensorRole::Input);
        hosts_.resize(index + 1);
        hosts_[index] = hostTensor(name, dtype, std::move(shape), values);
        return index;
    }
    // A tensor the graph computes.
    std::uint32_t tensor(const std::string& name, const Shape& shape, DType dtype = DType::F32,
                         dfx::TensorRole role = dfx::TensorRole::Output) {
        auto t = std::make_unique<dfx::TensorT>();
        t->name = name;
        t->shape = shape;
        t->dtype = dfx::toDType(dtype);
        t->role = role;
        program_.tensors.push_back(std::move(t));
        return static_cast<std::uint32_t>(program_.tensors.size() - 1);
    }
    // Appends a node; its params table stays absent unless params() is called.
    dfx::GraphNodeT& node(dfx::KernelKind kind, std::vector<std::uint32_t> inputs,
                          std::uint32_t output, std::string name = "n") {
        auto n = std::make_unique<dfx::GraphNodeT>();
        n->kind = kind;
        n->name = std::move(name);
        n->inputs = std::move(inputs);
        n->output = output;
        program_.graph.push_back(std::move(n));
        return *program_.graph.back();
    }
    // The last node's params, created on first use.
    dfx::KernelParamsT& params() {
        auto& p = program_.graph.back()->params;
        if (!p)
            p = std::make_unique<dfx::KernelParamsT>();
        return *p;
    }
    dfx::ProgramT& program() { return program_; }
    // Object API packing omits an empty graph vector: by default an empty graph means no graph
    // section. presentButEmptyGraph() writes an empty vector instead.
    void presentButEmptyGraph() { emptyGraphVector_ = true; }

    const dfx::Program& finish() {
        program_.format_major = dfx::kFormatMajor;
        program_.format_minor = dfx::kFormatMinor;
        flatbuffers::FlatBufferBuilder fbb;
        if (!emptyGraphVector_) {
            fbb.Finish(dfx::Program::Pack(fbb, &program_), dfx::ProgramIdentifier());
        } else {
            std::vector<flatbuffers::Offset<dfx::Tensor>> tensors;
            for (const auto& t : program_.tensors)
                tensors.push_back(dfx::Tensor::Pack(fbb, t.get()));
            const auto tv = fbb.CreateVector(tensors);
            const auto empty32 = fbb.CreateVector(std::vector<std::uint32_t>{});
            const auto kernels = fbb.CreateVector(std::vector<flatbuffers::Offset<dfx::Kernel>>{});
            const auto ops = fbb.CreateVectorOfStructs(std::vector<dfx::Op>{});
            const auto graph = fbb.CreateVector(std::vector<flatbuffers::Offset<dfx::GraphNode>>{});
            dfx::ProgramBuilder pb(fbb);
            pb.add_format_major(dfx::kFormatMajor);
            pb.add_tensors(tv);
            pb.add_kernels(kernels);
            pb.add_ops(ops);
            pb.add_dep_offsets(empty32);
            pb.add_dep_indices(empty32);
            pb.add_graph(graph);
            fbb.Finish(pb.Finish(), dfx::ProgramIdentifier());
        }
        bytes_.assign(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
        return *dfx::GetProgram(bytes_.data());
    }

    Expected<std::vector<HostTensor>> run() {
        const dfx::Program& p = finish();
        return executeReference(p, hosts_, "t.kpu");
    }

    // Runs and returns the values of tensor `index`; fails the test on an error.
    std::vector<double> result(std::uint32_t index) {
        auto r = run();
        if (!r) {
            ADD_FAILURE() << r.error().message;
            return {};
        }
        return valuesOf((*r)[index]);
    }

    std::vector<HostTensor>& hosts() { return hosts_; }

private:
    dfx::ProgramT program_;
    std::vector<HostTensor> hosts_;
    std::vector<std::uint8_t> bytes_;
    bool emptyGraphVector_ = false;
};

} // namespace kpu::loader::test
