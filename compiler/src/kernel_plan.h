// Kernel planning: graph IR -> the tensors, graph nodes and kernels of a program, before any
// tiling. This is where operators are mapped onto what the KPU runs (CONV2D becomes IM2COL +
// GEMM, FC a GEMM with a transposed B, RESHAPE a storage alias) and where GEMM-like kernels
// absorb a following bias add and activation (fusion).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kpu/common/dtype.h"
#include "kpu/common/error.h"
#include "kpu/common/operator.h"
#include "kpu/common/shape.h"
#include "kpu/compiler/graph.h"
#include "kpu/schema/object.h"

namespace kpu::compiler {

struct PlannedTensor {
    std::string name;
    Shape shape;
    DType dtype = DType::F32;
    dfx::TensorRole role = dfx::TensorRole::Intermediate;
    std::int64_t sourceNode = -1;
    std::int32_t aliasOf = -1; // the root tensor whose storage this view shares
    const std::vector<std::uint8_t>* data = nullptr; // a constant's values (ir::Value::data)
};

// An operation of the source graph as the reference executor runs it.
struct PlannedNode {
    Operator op = Operator::MatMul;
    OpParams params; // tensor-rank terms
    std::string name;
    std::int64_t nodeId = -1;
    std::vector<std::uint32_t> inputs;
    std::uint32_t output = 0;
};

struct PlannedKernel {
    Operator op = Operator::MatMul; // MatMul or a vector operator (never Conv2D/FC/Reshape)
    OpParams params;                // tensor-rank terms
    std::vector<std::uint32_t> inputs;
    std::uint32_t output = 0;
    std::vector<std::uint8_t> inputBatched; // MatMul: per input, varies along the batch
    std::string name;                       // "<node name>#<node id>[.suffix]"
    std::string nodeName;                   // the source node, for diagnostics
    std::string opName;                     // its operator spelling
    std::int64_t nodeId = -1;
    std::uint32_t line = 0; // source line, for diagnostics
};

struct KernelPlan {
    std::vector<PlannedTensor> tensors;
    std::vector<PlannedNode> graph;
    std::vector<PlannedKernel> kernels; // in execution order
    std::uint32_t fusedOps = 0;         // bias adds and activations absorbed by GEMM kernels
    // The tensors of the graph's inputs and outputs, in the graph's order (inputs no operation
    // reads have none and are left out).
    std::vector<std::uint32_t> graphInputs, graphOutputs;

    std::uint32_t rootOf(std::uint32_t tensor) const {
        const std::int32_t a = tensors[tensor].aliasOf;
        return a < 0 ? tensor : static_cast<std::uint32_t>(a);
    }
};

struct PlanOptions {
    bool fuse = true;
    std::string sourceFile;
};

Expected<KernelPlan> planKernels(const ir::Graph& graph, const PlanOptions& options);

} // namespace kpu::compiler
