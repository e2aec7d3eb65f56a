#include "kpu/loader/object_expansion.h"

#include <algorithm>
#include <cstdlib>
#include <new>

#include <sys/mman.h>

#include "kpu/schema/tile_loops.h"

namespace kpu::loader {

bool hasTileLoops(const dfx::Program& program) {
    return std::ranges::any_of(*program.kernels(), [](const dfx::Kernel* k) {
        return k->ops_encoding() == dfx::OpsEncoding::TileLoops;
    });
}

namespace {

// Big expansions (a 4096^3 GEMM is 75 MB) are written once, front to back: transparent huge
// pages make the first touch of that memory several times cheaper than 4 KiB page faults.
class HugePageAllocator : public flatbuffers::Allocator {
public:
    std::uint8_t* allocate(std::size_t size) override {
        if (size < kHugePage)
            return new std::uint8_t[size];
        void* p = std::aligned_alloc(kHugePage, roundUp(size));
        if (!p)
            throw std::bad_alloc();
        madvise(p, roundUp(size), MADV_HUGEPAGE); // a hint: failure changes nothing
        return static_cast<std::uint8_t*>(p);
    }
    void deallocate(std::uint8_t* p, std::size_t size) override {
        if (size < kHugePage)
            delete[] p;
        else
            std::free(p);
    }

private:
    static constexpr std::size_t kHugePage = std::size_t{2} << 20;
    static std::size_t roundUp(std::size_t size) {
        return (size + kHugePage - 1) / kHugePage * kHugePage;
    }
};

HugePageAllocator hugePageAllocator;

} // namespace

// The expanded program is built around a copy of the object: the new root table points at the
// object's own tensors (with any constant values), kernels, strings, hints, graph and signature
// (FlatBuffers offsets are relative and
// point forward, so the copy, placed at the end of the new buffer, stays valid as it is) and at
// new ops and dependency vectors, written in place by the generator. Nothing is unpacked or
// re-serialised, and the big vectors are written once.
Expected<flatbuffers::DetachedBuffer> expandProgram(std::span<const std::uint8_t> object,
                                                    std::string_view sourceName,
                                                    std::uint64_t hostMemoryLimit) {
    const dfx::Program& program = *dfx::GetProgram(object.data());
    // The verifier has decoded and counted every TileLoops kernel; their op ranges come in
    // kernel order, and the stored ops fill the positions between them.
    std::vector<dfx::TileLoops> kernels;
    const auto& stored = *program.ops();
    std::uint64_t opCount = stored.size(), depCount = program.dep_indices()->size();
    for (std::uint32_t k = 0; k < program.kernels()->size(); ++k) {
        if (program.kernels()->Get(k)->ops_encoding() != dfx::OpsEncoding::TileLoops)
            continue;
        kernels.push_back(*dfx::decodeTileLoops(program, k));
        const dfx::TileLoopCounts counts = *dfx::countTileLoops(kernels.back());
        opCount += counts.ops;
        depCount += counts.deps;
    }
    const std::uint64_t padding = (8 - object.size() % 8) % 8;
    const std::uint64_t size = object.size() + padding + opCount * sizeof(dfx::Op) +
                               (opCount + 1 + depCount) * sizeof(std::uint32_t) + 1024;
    if (auto r = checkHostMemoryLimit(size, hostMemoryLimit,
                                      fmt::format("expanding the program to {} ops", opCount),
                                      sourceName);
        !r)
        return std::unexpected(r.error());
    if (size >= FLATBUFFERS_MAX_BUFFER_SIZE)
        return fail("{}: error: the expanded program would take {} bytes, more than a FlatBuffer "
                    "holds",
                    sourceName, size);

    flatbuffers::FlatBufferBuilder builder(size, &hugePageAllocator);
    // The object, 8-aligned from the end as from its start (Finish pads the whole to a multiple
    // of 8), so its fields keep their alignment. `refer` turns a pointer into it into a builder
    // offset (distance from the end of the buffer).
    builder.Pad(padding);
    builder.PushBytes(object.data(), object.size());
    builder.TrackMinAlign(8);
    const std::uint64_t objectEnd = builder.GetSize();
    auto refer = [&]<class T>(const T* inObject) {
        return flatbuffers::Offset<T>(static_cast<flatbuffers::uoffset_t>(
            objectEnd - static_cast<std::uint64_t>(reinterpret_cast<const std::uint8_t*>(inObject) -
                                                   object.data())));
    };

    dfx::Op* opsAt = nullptr;
    std::uint32_t* offsetsAt = nullptr;
    std::uint32_t* indicesAt = nullptr;
    const auto indices = builder.CreateUninitializedVector(depCount, &indicesAt);
    const auto offsets = builder.CreateUninitializedVector(opCount + 1, &offsetsAt);
    const auto ops = builder.CreateUninitializedVectorOfStructs(opCount, &opsAt);
    // The builder has not grown (it was sized for everything), but re-read the three pointers
    // from their offsets in case it did.
    auto elements = [&]<class T>(auto vector) {
        // A vector is its 32-bit length followed by the elements.
        return reinterpret_cast<T*>(builder.GetCurrentBufferPointer() + builder.GetSize() -
                                    vector.o + sizeof(flatbuffers::uoffset_t));
    };
    opsAt = elements.template operator()<dfx::Op>(ops);
    offsetsAt = elements.template operator()<std::uint32_t>(offsets);
    indicesAt = elements.template operator()<std::uint32_t>(indices);

    offsetsAt[0] = 0;
    dfx::OpCursor cursor{.op = opsAt, .depEnd = offsetsAt + 1, .dep = indicesAt, .depCount = 0};
    const std::uint32_t* storedOffsets = program.dep_offsets()->data();
    const std::uint32_t* storedIndices = program.dep_indices()->data();
    std::uint32_t next = 0; // the next stored op
    auto copyStored = [&](std::uint64_t until) {
        for (; static_cast<std::uint64_t>(cursor.op - opsAt) < until && next < stored.size();
             ++next) {
            *cursor.op++ = *stored.Get(next);
            cursor.dep = std::copy(storedIndices + storedOffsets[next],
                                   storedIndices + storedOffsets[next + 1], cursor.dep);
            cursor.depCount += storedOffsets[next + 1] - storedOffsets[next];
            *cursor.depEnd++ = cursor.depCount;
        }
    };
    for (const dfx::TileLoops& loops : kernels) {
        copyStored(loops.firstOp);
        dfx::expandTileLoops(loops, cursor);
    }
    copyStored(opCount);

    dfx::ProgramBuilder root(builder);
    root.add_format_major(program.format_major());
    root.add_format_minor(program.format_minor());
    if (program.producer())
        root.add_producer(refer(program.producer()));
    if (program.source_graph())
        root.add_source_graph(refer(program.source_graph()));
    if (program.source_file())
        root.add_source_file(refer(program.source_file()));
    root.add_tensors(refer(program.tensors()));
    root.add_kernels(refer(program.kernels()));
    root.add_ops(ops);
    root.add_dep_offsets(offsets);
    root.add_dep_indices(indices);
    if (program.hints())
        root.add_hints(refer(program.hints()));
    if (program.graph())
        root.add_graph(refer(program.graph()));
    if (program.static_inputs())
        root.add_static_inputs(refer(program.static_inputs()));
    if (program.graph_inputs())
        root.add_graph_inputs(refer(program.graph_inputs()));
    if (program.graph_outputs())
        root.add_graph_outputs(refer(program.graph_outputs()));
    dfx::FinishProgramBuffer(builder, root.Finish());

    // Every op is now stored: the kernels (in the copy) become Explicit.
    auto* expanded = dfx::GetMutableProgram(builder.GetBufferPointer());
    for (flatbuffers::uoffset_t k = 0; k < expanded->kernels()->size(); ++k)
        if (expanded->kernels()->Get(k)->ops_encoding() == dfx::OpsEncoding::TileLoops)
            expanded->mutable_kernels()->GetMutableObject(k)->mutate_ops_encoding(
                dfx::OpsEncoding::Explicit);
    return builder.Release();
}

} // namespace kpu::loader
