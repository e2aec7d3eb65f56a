// Hostile objects by the thousand: valid objects (the examples compiled with every op stored and
// as TileLoops kernels, the checked-in 2.0 objects, an ONNX model whose constants carry their
// values, with a static input) under seeded byte-level and structured mutations. Every mutant
// must be refused with an error that starts with its name, or load, bind and run to completion
// the way kpu-loader runs it (tests/fuzz/fuzz_targets.cpp, object()): no crash, no sanitizer
// report, no hang, and no more heap than kHeapCap.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <malloc.h>

#include "kpu/common/file_io.h"
#include "kpu/common/shape.h"
#include "kpu/compiler/compiler.h"
#include "kpu/loader/binder.h"
#include "kpu/loader/loader.h"
#include "kpu/loader/verifier.h"
#include "kpu/schema/kernel_regions.h"
#include "kpu/schema/tile_loops.h"

// ---- counting allocator ------------------------------------------------------------------------
//
// Every operator new of the process (this executable, the libraries, libstdc++) comes here: live
// bytes and their peak are counted with atomics (the simulator may run on several threads).
// Blocks are counted by malloc_usable_size, so an unsized delete subtracts what its new added.
// While a mutant runs (HeapWatch), a request that would take the live bytes past the limit is
// not made: it is recorded and fails as std::bad_alloc would, so a hostile object cannot make
// the test itself exhaust the machine. Under ASan, malloc and free are ASan's, which still sees
// every block.
namespace {

constinit std::atomic<std::size_t> gLiveBytes{0};
constinit std::atomic<std::size_t> gPeakBytes{0};
constinit std::atomic<std::size_t> gLimitBytes{std::numeric_limits<std::size_t>::max()};
constinit std::atomic<std::size_t> gRefusedRequest{0}; // largest request refused by the limit

void* countedAlloc(std::size_t size, std::size_t alignment) noexcept {
    if (size == 0)
        size = 1;
    const std::size_t live = gLiveBytes.load(std::memory_order_relaxed);
    const std::size_t limit = gLimitBytes.load(std::memory_order_relaxed);
    if (live > limit || size > limit - live) {
        std::size_t refused = gRefusedRequest.load(std::memory_order_relaxed);
        while (size > refused &&
               !gRefusedRequest.compare_exchange_weak(refused, size, std::memory_order_relaxed)) {
        }
        return nullptr;
    }
    void* p = nullptr;
    if (alignment <= __STDCPP_DEFAULT_NEW_ALIGNMENT__)
        p = std::malloc(size);
    else if (posix_memalign(&p, std::max(alignment, sizeof(void*)), size) != 0)
        p = nullptr;
    if (!p)
        return nullptr;
    const std::size_t block = malloc_usable_size(p);
    const std::size_t now = gLiveBytes.fetch_add(block, std::memory_order_relaxed) + block;
    std::size_t peak = gPeakBytes.load(std::memory_order_relaxed);
    while (now > peak && !gPeakBytes.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
    return p;
}

void countedFree(void* p) noexcept {
    if (!p)
        return;
    gLiveBytes.fetch_sub(malloc_usable_size(p), std::memory_order_relaxed);
    std::free(p);
}

void* allocOrThrow(std::size_t size, std::size_t alignment) {
    void* p = countedAlloc(size, alignment);
    if (!p)
        throw std::bad_alloc();
    return p;
}

} // namespace

void* operator new(std::size_t size) {
    return allocOrThrow(size, 0);
}
void* operator new[](std::size_t size) {
    return allocOrThrow(size, 0);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    return countedAlloc(size, 0);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
    return countedAlloc(size, 0);
}
void* operator new(std::size_t size, std::align_val_t alignment) {
    return allocOrThrow(size, static_cast<std::size_t>(alignment));
}
void* operator new[](std::size_t size, std::align_val_t alignment) {
    return allocOrThrow(size, static_cast<std::size_t>(alignment));
}
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
    return countedAlloc(size, static_cast<std::size_t>(alignment));
}
void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
    return countedAlloc(size, static_cast<std::size_t>(alignment));
}
void operator delete(void* p) noexcept {
    countedFree(p);
}
void operator delete[](void* p) noexcept {
    countedFree(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
    countedFree(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
    countedFree(p);
}
void operator delete(void* p, std::size_t) noexcept {
    countedFree(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    countedFree(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
    countedFree(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
    countedFree(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
    countedFree(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
    countedFree(p);
}
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
    countedFree(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
    countedFree(p);
}

namespace kpu::loader {
namespace {

// The heap one mutant may use, beyond what was live when it started. What a mutant can
// legitimately hold: the small configuration has 2 x 16 MiB of external memory, so the tensors
// the binder places total at most 32 MiB, and the loader holds the inputs, the values read back
// from the simulation and the reference executor's copy of every tensor in double (twice the
// bytes of f32 tensors): about 130 MiB at most for f32 programs. The program's ops (expansion,
// binder tables, bound schedule) take at most kOpsMemoryLimit, which the loader enforces.
// Together they stay under 256 MiB; the campaign's largest mutant holds about 45 MiB, the seeds
// at most 4 MiB. (A program of 32 MiB of 1-byte f8 tensors could need more, 8 bytes per element
// in the reference; no seed comes near.) The simulator's memories are not heap: they are mmap'd
// arenas sized by the configuration (bounded by the small one), which the cap does not count.
// Nor does operator new see the expansion of TileLoops kernels of 2 MiB or more, which
// object_expansion.cpp takes with aligned_alloc: runMutant adds that buffer's size by hand.
constexpr std::size_t kHeapCap = std::size_t{256} << 20;

// The host-memory limit the loader gets for a mutant's ops (loadObjectBytes, then bindProgram
// with what the expansion left), as kpu-loader gets MemAvailable. Mutants of millions of ops
// (a 3 KB object whose L2 tile is [1,1,1,1] expands to 8 million) are refused by it.
constexpr std::uint64_t kOpsMemoryLimit = std::uint64_t{96} << 20;

// Work bounds of fuzz_targets.cpp: bigger (valid) programs are bound but not simulated, and
// only programs of at most kMaxFunctionalMacs multiply-accumulates run functionally.
constexpr std::size_t kMaxBoundOps = 100'000;
constexpr std::uint64_t kMaxFunctionalMacs = std::uint64_t{1} << 22;

constexpr std::string_view kSourceName = "mutant.kpu";

// Arms the allocation limit for one mutant; peak() is the most the mutant held at once.
class HeapWatch {
public:
    explicit HeapWatch(std::size_t cap) : base_(gLiveBytes.load()) {
        gPeakBytes.store(base_);
        gRefusedRequest.store(0);
        gLimitBytes.store(base_ + cap);
    }
    ~HeapWatch() { gLimitBytes.store(std::numeric_limits<std::size_t>::max()); }
    HeapWatch(const HeapWatch&) = delete;
    HeapWatch& operator=(const HeapWatch&) = delete;

    std::size_t peak() const { return gPeakBytes.load() - base_; }
    std::size_t refusedRequest() const { return gRefusedRequest.load(); }

private:
    std::size_t base_;
};

KpuConfig smallConfig() {
    KpuConfig config = defaultConfig();
    config.name = "mutation";
    config.external.bankCapacity = std::size_t{16} << 20;
    return config;
}

// ---- what happens to a mutant ------------------------------------------------------------------

// Refused by the verifier (stages one and two, and the expansion), by the binder, or by a later
// step (inputs, simulation); bound but too big to simulate; simulated for timing only; run
// functionally, then the reference executor refused the graph section; run and compared with
// the reference. Refusals by the host-memory limit count for the step that refused.
enum class Outcome { Verifier, Binder, Other, BoundOnly, TimingOnly, Reference, Ran };
constexpr std::size_t kOutcomes = 7;
constexpr std::array<std::string_view, kOutcomes> kOutcomeNames{
    "verifier", "binder", "other", "bound-only", "timing", "reference", "ran"};

struct MutantRun {
    Outcome outcome = Outcome::Verifier;
    std::string refusal; // the error of the step that refused the mutant
    std::string problem; // empty: the mutant behaved (refused properly, or ran)
    std::size_t peakBytes = 0;
    double seconds = 0;
};

bool namesTheSource(const std::string& message) {
    return message.starts_with(std::string(kSourceName) + ": ");
}

// The steps kpu-loader takes, with the bounds of the fuzz target. A refusal's message must start
// with the object's name; simulate, which is not given the name, must still say something.
// `step` follows the steps, so that an exception is charged to the one that threw.
Outcome loadBindAndRun(std::vector<std::uint8_t> bytes, std::uint64_t seed, Outcome& step,
                       std::string& refusal, std::string& problem, std::size_t& untracked) {
    auto refused = [&](Outcome outcome, const std::string& message, bool named) {
        refusal = message;
        if (message.empty() || (named && !namesTheSource(message)))
            problem = "refused with the message '" + message + "'";
        return outcome;
    };
    step = Outcome::Verifier;
    auto loaded = loadObjectBytes(std::move(bytes), std::string(kSourceName), kOpsMemoryLimit);
    if (!loaded)
        return refused(Outcome::Verifier, loaded.error().message, true);
    if (loaded->expanded.size() >= (std::size_t{2} << 20)) // aligned_alloc: not counted
        untracked = loaded->expanded.size();
    const dfx::Program& program = *loaded->program;
    // The loader does not re-check the ops it generates from TileLoops records: they satisfy
    // every check of a stored op by construction (docs/object-format.md). Hold it to that.
    if (loaded->program != loaded->stored)
        if (auto expansion = verifySemantics(program, kSourceName); !expansion) {
            problem = "the expanded program fails verification: " + expansion.error().message;
            return Outcome::Verifier;
        }
    const KpuConfig config = smallConfig();
    step = Outcome::Binder;
    auto schedule = bindProgram(
        program, config, kSourceName,
        kOpsMemoryLimit - std::min<std::uint64_t>(loaded->expanded.size(), kOpsMemoryLimit));
    if (!schedule)
        return refused(Outcome::Binder, schedule.error().message, true);
    if (schedule->ops.size() > kMaxBoundOps)
        return Outcome::BoundOnly;
    step = Outcome::Other;
    auto inputs = prepareInputs(program, {}, seed, kSourceName);
    if (!inputs)
        return refused(Outcome::Other, inputs.error().message, true);
    auto timing = simulate(program, *schedule, config, *inputs, {.functional = false});
    if (!timing)
        return refused(Outcome::Other, timing.error().message, false);
    if (timing->stats.macs > kMaxFunctionalMacs)
        return Outcome::TimingOnly;
    step = Outcome::Ran;
    auto result = simulate(program, *schedule, config, *inputs);
    if (!result)
        return refused(Outcome::Other, result.error().message, false);
    if (result->stats.totalCycles != timing->stats.totalCycles) {
        problem = "the functional run took " + std::to_string(result->stats.totalCycles) +
                  " cycles, the timing-only run " + std::to_string(timing->stats.totalCycles);
        return Outcome::Ran;
    }
    // Mismatching values are fine: the object was mutated.
    step = Outcome::Reference;
    if (auto compared = verifyOutputs(program, *inputs, *result, kSourceName); !compared)
        return refused(Outcome::Reference, compared.error().message, true);
    return Outcome::Ran;
}

MutantRun runMutant(std::vector<std::uint8_t> bytes, std::uint64_t seed,
                    std::size_t cap = kHeapCap) {
    MutantRun run;
    const auto start = std::chrono::steady_clock::now();
    {
        HeapWatch watch(cap);
        std::size_t untracked = 0;
        Outcome step = Outcome::Verifier;
        try {
            run.outcome =
                loadBindAndRun(std::move(bytes), seed, step, run.refusal, run.problem, untracked);
        } catch (const std::bad_alloc&) {
            run.outcome = step;
            run.problem = "std::bad_alloc";
        } catch (const std::exception& e) {
            run.outcome = step;
            run.problem = std::string("exception: ") + e.what();
        }
        run.peakBytes = watch.peak() + untracked;
        if (watch.refusedRequest() != 0)
            run.problem += " (a request for " + std::to_string(watch.refusedRequest()) +
                           " bytes would have passed the heap cap)";
        else if (run.peakBytes > cap)
            run.problem += " (peak heap " + std::to_string(run.peakBytes) + " bytes)";
    }
    run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return run;
}

// ---- valid objects -----------------------------------------------------------------------------

struct Seed {
    std::string name;
    std::vector<std::uint8_t> bytes;
    dfx::ProgramT program;
    bool tileLoops = false;              // has TileLoops kernels
    std::vector<std::uint32_t> position; // program index of each stored op
    std::uint32_t programOps = 0;        // ops once TileLoops kernels are expanded
};

// The program index of every stored op: the positions no TileLoops kernel covers, in order (the
// layout docs/object-format.md defines).
void placeStoredOps(Seed& s) {
    std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges;
    std::uint64_t total = s.program.ops.size();
    for (const auto& k : s.program.kernels)
        if (k->ops_encoding == dfx::OpsEncoding::TileLoops) {
            ranges.emplace_back(k->first_op, k->op_count);
            total += k->op_count;
        }
    s.tileLoops = !ranges.empty();
    std::uint32_t at = 0;
    auto fill = [&](std::uint64_t until) {
        for (; at < until && s.position.size() < s.program.ops.size(); ++at)
            s.position.push_back(at);
    };
    for (const auto& [first, count] : ranges) {
        fill(first);
        at = first + count;
    }
    fill(total);
    s.programOps = static_cast<std::uint32_t>(total);
}

Seed makeSeed(std::string name, std::vector<std::uint8_t> bytes) {
    Seed s;
    s.name = std::move(name);
    s.bytes = std::move(bytes);
    if (s.bytes.empty())
        return s;
    dfx::GetProgram(s.bytes.data())->UnPackTo(&s.program);
    placeStoredOps(s);
    return s;
}

// An ONNX-compiled CNN: constants carry their values (Tensor.data, format 4.0); graph_inputs and
// graph_outputs are set. The model has no input fixed at compile time, so one is added (a
// 2-element i64 shape at the next input position, the way `--const` records a Reshape's shape
// operand): the static-input mutations then have a valid one to corrupt.
std::vector<std::uint8_t> onnxObject(bool explicitOps, bool withStaticInput) {
    const std::string path = std::string(KPU_SOURCE_DIR) + "/examples/onnx/cnn.onnx";
    auto graph = compiler::readGraph(path, {});
    EXPECT_TRUE(graph) << (graph ? "" : graph.error().message);
    if (!graph)
        return {};
    auto compiled = compiler::compileGraph(std::move(*graph), path, {.explicitOps = explicitOps});
    EXPECT_TRUE(compiled) << (compiled ? "" : compiled.error().message);
    if (!compiled)
        return {};
    if (!withStaticInput)
        return compiled->object;
    auto fixed = std::make_unique<dfx::StaticInputT>();
    fixed->name = "reshape.shape";
    fixed->position = static_cast<std::uint32_t>(compiled->program.graph_inputs.size());
    fixed->dtype = dfx::DType::I64;
    fixed->shape = {2};
    fixed->data.assign(16, 0);
    fixed->data[0] = 1;
    fixed->data[8] = 10;
    compiled->program.static_inputs.push_back(std::move(fixed));
    return compiler::serializeProgram(compiled->program);
}

std::vector<std::uint8_t> exampleObject(const std::string& name, bool explicitOps) {
    auto r = compiler::compileDfgFile(std::string(KPU_SOURCE_DIR) + "/examples/" + name,
                                      {.explicitOps = explicitOps});
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? r->object : std::vector<std::uint8_t>{};
}

const std::vector<Seed>& seeds() {
    static const std::vector<Seed> all = [] {
        std::vector<Seed> s;
        for (const char* example : {"matmul_4x16x4.dfg", "mlp.dfg", "cnn.dfg", "attention.dfg"})
            for (bool explicitOps : {true, false})
                s.push_back(makeSeed(std::string(example) + (explicitOps ? "" : " (tile loops)"),
                                     exampleObject(example, explicitOps)));
        // A GEMM of 50 M multiply-accumulates: its mutants run for timing only.
        s.push_back(makeSeed("matmul.dfg (tile loops)", exampleObject("matmul.dfg", false)));
        s.push_back(makeSeed("matmul_chained_mixed.dfg (tile loops)",
                             exampleObject("matmul_chained_mixed.dfg", false)));
        for (const char* fixture : {"fused_matmul_bias_relu.v2.kpu", "mlp.v2.kpu"}) {
            auto bytes = readBinaryFile(std::string(KPU_FIXTURES_DIR) + "/objects/" + fixture);
            EXPECT_TRUE(bytes) << fixture;
            s.push_back(makeSeed(fixture, bytes ? *bytes : std::vector<std::uint8_t>{}));
        }
        s.push_back(makeSeed("cnn.onnx", onnxObject(true, false)));
        s.push_back(makeSeed("cnn.onnx (tile loops, static input)", onnxObject(false, true)));
        std::erase_if(s, [](const Seed& seed) { return seed.bytes.empty(); }); // failed above
        return s;
    }();
    return all;
}

// ---- mutations ---------------------------------------------------------------------------------

using Rng = std::mt19937_64;

std::uint64_t below(Rng& rng, std::uint64_t n) {
    return n == 0 ? 0 : rng() % n;
}
bool coin(Rng& rng) {
    return (rng() & 1) != 0;
}
template <class T>
T& anyOf(Rng& rng, std::vector<T>& v) {
    return v[below(rng, v.size())];
}

// A tensor, kernel or op index: out of range (just past the end, far past, the largest values)
// or in range and wrong.
std::uint32_t corruptIndex(Rng& rng, std::size_t count) {
    const auto n = static_cast<std::uint32_t>(count);
    switch (below(rng, 6)) {
    case 0:
        return n;
    case 1:
        return n + 1 + static_cast<std::uint32_t>(below(rng, 1000));
    case 2:
        return std::numeric_limits<std::uint32_t>::max();
    case 3:
        return 0x80000000u;
    default:
        return static_cast<std::uint32_t>(below(rng, n));
    }
}

// Byte level, on the serialized object.

void truncateBytes(Rng& rng, std::vector<std::uint8_t>& bytes) {
    std::size_t keep = 0;
    switch (below(rng, 3)) {
    case 0:
        keep = below(rng, std::min<std::size_t>(bytes.size(), 64)); // inside the header
        break;
    case 1:
        keep = bytes.size() - 1 - below(rng, std::min<std::size_t>(bytes.size(), 64)); // the end
        break;
    default:
        keep = below(rng, bytes.size());
    }
    bytes.resize(keep);
}

void flipBits(Rng& rng, std::vector<std::uint8_t>& bytes) {
    for (std::uint64_t n = 1 + below(rng, 8); n > 0; --n)
        bytes[below(rng, bytes.size())] ^= static_cast<std::uint8_t>(1u << below(rng, 8));
}

void overwriteBytes(Rng& rng, std::vector<std::uint8_t>& bytes) {
    const std::uint64_t n = 1 + below(rng, 8);
    if (coin(rng)) { // a run of bytes
        const std::size_t at = below(rng, bytes.size());
        for (std::size_t i = at; i < std::min<std::size_t>(bytes.size(), at + n); ++i)
            bytes[i] = static_cast<std::uint8_t>(rng());
    } else {
        for (std::uint64_t i = 0; i < n; ++i)
            bytes[below(rng, bytes.size())] = static_cast<std::uint8_t>(rng());
    }
}

// FlatBuffers offsets, vector lengths and indices are aligned 32-bit words: give some of them
// the values that break readers (zero, all ones, the buffer's size, a near miss).
void corruptWords(Rng& rng, std::vector<std::uint8_t>& bytes) {
    const std::size_t words = bytes.size() / 4;
    const auto size = static_cast<std::uint32_t>(bytes.size());
    for (std::uint64_t n = 1 + below(rng, 4); n > 0; --n) {
        const std::size_t at = 4 * below(rng, words);
        std::uint32_t word = 0;
        std::memcpy(&word, &bytes[at], 4);
        switch (below(rng, 9)) {
        case 0:
            word = 0;
            break;
        case 1:
            word = 0xFFFFFFFFu;
            break;
        case 2:
            word = size - 1;
            break;
        case 3:
            word = size;
            break;
        case 4:
            word += 4;
            break;
        case 5:
            word -= 4;
            break;
        case 6:
            word += static_cast<std::uint32_t>(below(rng, 33)) - 16u;
            break;
        case 7:
            word = 0x80000000u | word;
            break;
        default:
            word = static_cast<std::uint32_t>(rng());
        }
        std::memcpy(&bytes[at], &word, 4);
    }
}

// Structured, through the object API. Each returns false when the chosen seed has nothing the
// mutation applies to (another seed is then drawn).

dfx::Op withIndex(const dfx::Op& o, std::uint32_t index) {
    return dfx::Op(o.kind(), o.move_kind(), o.src_level(), o.dst_level(), o.flags(), index,
                   o.region());
}

dfx::Op withBox(const dfx::Op& o, const dfx::Box& box) {
    return dfx::Op(o.kind(), o.move_kind(), o.src_level(), o.dst_level(), o.flags(), o.index(),
                   dfx::toRegion(box));
}

// Recounts TileLoops kernel k after a mutation changed how many ops it expands to, and moves
// every later program index (first ops, ready ops, stored dependencies) by the difference, so
// that the mutant gets past the op_count check to what follows it.
void recount(dfx::ProgramT& p, std::size_t k) {
    const auto bytes = compiler::serializeProgram(p);
    auto loops =
        dfx::decodeTileLoops(*dfx::GetProgram(bytes.data()), static_cast<std::uint32_t>(k));
    if (!loops)
        return;
    auto counts = dfx::countTileLoops(*loops);
    if (!counts)
        return;
    dfx::KernelT& kernel = *p.kernels[k];
    const std::uint64_t oldEnd = std::uint64_t{kernel.first_op} + kernel.op_count;
    const std::uint64_t newEnd = std::uint64_t{kernel.first_op} + counts->ops;
    if (newEnd > std::numeric_limits<std::uint32_t>::max())
        return;
    kernel.op_count = static_cast<std::uint32_t>(counts->ops);
    auto shifted = [&](std::uint64_t index) {
        return index >= oldEnd ? index - oldEnd + newEnd : index;
    };
    for (std::size_t j = k + 1; j < p.kernels.size(); ++j)
        p.kernels[j]->first_op = static_cast<std::uint32_t>(shifted(p.kernels[j]->first_op));
    for (auto& other : p.kernels)
        for (std::int64_t& ready : other->input_ready)
            if (ready >= 0)
                ready = static_cast<std::int64_t>(shifted(static_cast<std::uint64_t>(ready)));
    for (std::uint32_t& d : p.dep_indices)
        d = static_cast<std::uint32_t>(shifted(d));
}

std::vector<std::size_t> tileLoopKernels(const dfx::ProgramT& p) {
    std::vector<std::size_t> ks;
    for (std::size_t k = 0; k < p.kernels.size(); ++k)
        if (p.kernels[k]->ops_encoding == dfx::OpsEncoding::TileLoops)
            ks.push_back(k);
    return ks;
}

// Stored op i depends on program op `on` (inserted into the CSR lists).
void addDependency(dfx::ProgramT& p, std::size_t i, std::uint32_t on) {
    p.dep_indices.insert(p.dep_indices.begin() + p.dep_offsets[i + 1], on);
    for (std::size_t j = i + 1; j < p.dep_offsets.size(); ++j)
        ++p.dep_offsets[j];
}

bool corruptIndices(Rng& rng, const Seed& s, dfx::ProgramT& p) {
    const std::size_t tensors = p.tensors.size();
    switch (below(rng, 10)) {
    case 0: { // a stored op's tensor or kernel
        if (p.ops.empty())
            return false;
        dfx::Op& op = anyOf(rng, p.ops);
        op = withIndex(
            op, corruptIndex(rng, op.kind() == dfx::OpKind::Compute ? p.kernels.size() : tensors));
        return true;
    }
    case 1: {
        auto& k = *anyOf(rng, p.kernels);
        anyOf(rng, k.inputs) = corruptIndex(rng, tensors);
        return true;
    }
    case 2:
        anyOf(rng, p.kernels)->output = corruptIndex(rng, tensors);
        return true;
    case 3: {
        auto& n = *anyOf(rng, p.graph);
        if (n.inputs.empty())
            return false;
        anyOf(rng, n.inputs) = corruptIndex(rng, tensors);
        return true;
    }
    case 4:
        anyOf(rng, p.graph)->output = corruptIndex(rng, tensors);
        return true;
    case 5: {
        auto& list = coin(rng) ? p.graph_inputs : p.graph_outputs;
        if (list.empty())
            return false;
        anyOf(rng, list) = corruptIndex(rng, tensors);
        return true;
    }
    case 6: { // storage shared with another tensor, or no longer shared
        const auto t = below(rng, tensors);
        constexpr std::array<std::int64_t, 4> kFar{-2, std::numeric_limits<std::int64_t>::max(),
                                                   std::numeric_limits<std::int64_t>::min(),
                                                   0x100000000ll};
        switch (below(rng, 4)) {
        case 0:
            p.tensors[t]->alias_of = kFar[below(rng, kFar.size())];
            break;
        case 1:
            p.tensors[t]->alias_of = static_cast<std::int64_t>(t + below(rng, 3));
            break;
        case 2:
            p.tensors[t]->alias_of = -1;
            break;
        default:
            p.tensors[t]->alias_of = static_cast<std::int64_t>(below(rng, t + 1));
        }
        return true;
    }
    case 7: { // the op after which an input is ready
        auto& k = *anyOf(rng, p.kernels);
        if (k.input_ready.empty())
            return false;
        const std::array<std::int64_t, 7> values{
            -2,
            -1,
            static_cast<std::int64_t>(k.first_op),
            static_cast<std::int64_t>(k.first_op) - 1,
            static_cast<std::int64_t>(below(rng, s.programOps)),
            std::numeric_limits<std::int64_t>::max(),
            std::numeric_limits<std::int64_t>::min()};
        anyOf(rng, k.input_ready) = values[below(rng, values.size())];
        return true;
    }
    case 8: {
        auto& k = *anyOf(rng, p.kernels);
        if (coin(rng) && !k.input_batched.empty()) { // whether an input varies along the batch
            anyOf(rng, k.input_batched) = static_cast<std::uint8_t>(coin(rng) ? rng() : rng() % 2);
            return true;
        }
        if (!k.params)
            k.params = std::make_unique<dfx::KernelParamsT>();
        k.params->bias_input = static_cast<std::int8_t>(static_cast<int>(below(rng, 12)) - 2);
        return true;
    }
    default: { // a kernel's op range
        auto& k = *anyOf(rng, p.kernels);
        (coin(rng) ? k.first_op : k.op_count) = corruptIndex(rng, s.programOps);
        return true;
    }
    }
}

// Moves every program index at or after `from` by `delta` (an op inserted or removed there):
// dependencies, ready ops and kernel ranges. Programs without TileLoops kernels only.
void shiftProgramIndices(dfx::ProgramT& p, std::uint32_t from, int delta) {
    auto shift = [&](std::uint32_t index) {
        return index >= from ? static_cast<std::uint32_t>(static_cast<std::int64_t>(index) + delta)
                             : index;
    };
    for (std::uint32_t& d : p.dep_indices)
        d = shift(d);
    for (auto& k : p.kernels) {
        for (std::int64_t& ready : k->input_ready)
            if (ready >= 0)
                ready = shift(static_cast<std::uint32_t>(ready));
        if (k->first_op >= from)
            k->first_op = shift(k->first_op);
        else if (k->first_op + k->op_count > from)
            k->op_count =
                static_cast<std::uint32_t>(static_cast<std::int64_t>(k->op_count) + delta);
    }
}

// The stored ops themselves, in programs whose every op is stored: one removed (its dependents
// lose the dependency), duplicated (a second load, compute, flush or reserve of the same thing)
// or swapped with its neighbour (each keeping its dependencies).
bool corruptOpLists(Rng& rng, const Seed& s, dfx::ProgramT& p) {
    if (s.tileLoops || p.ops.size() < 2)
        return false;
    const auto i = static_cast<std::uint32_t>(below(rng, p.ops.size() - 1));
    const auto depsOf = [&](std::uint32_t op) {
        return std::vector<std::uint32_t>(p.dep_indices.begin() + p.dep_offsets[op],
                                          p.dep_indices.begin() + p.dep_offsets[op + 1]);
    };
    // Replaces the dependency lists with `lists` (one per op).
    const auto setDeps = [&](const std::vector<std::vector<std::uint32_t>>& lists) {
        p.dep_indices.clear();
        p.dep_offsets.assign(1, 0);
        for (const auto& list : lists) {
            p.dep_indices.insert(p.dep_indices.end(), list.begin(), list.end());
            p.dep_offsets.push_back(static_cast<std::uint32_t>(p.dep_indices.size()));
        }
    };
    std::vector<std::vector<std::uint32_t>> lists;
    for (std::uint32_t op = 0; op < p.ops.size(); ++op)
        lists.push_back(depsOf(op));
    switch (below(rng, 3)) {
    case 0: // removed
        p.ops.erase(p.ops.begin() + i);
        lists.erase(lists.begin() + i);
        for (auto& list : lists)
            std::erase(list, i);
        setDeps(lists);
        shiftProgramIndices(p, i + 1, -1);
        return true;
    case 1: { // duplicated: the copy follows the original and depends on it
        std::vector<std::uint32_t> copyDeps = lists[i];
        copyDeps.push_back(i);
        shiftProgramIndices(p, i + 1, 1);
        for (auto& list : lists)
            for (std::uint32_t& d : list)
                d = d > i ? d + 1 : d;
        for (std::uint32_t& d : copyDeps)
            d = d > i ? d + 1 : d;
        p.ops.insert(p.ops.begin() + i + 1, p.ops[i]);
        lists.insert(lists.begin() + i + 1, copyDeps);
        setDeps(lists);
        return true;
    }
    default: // swapped with the next op
        std::swap(p.ops[i], p.ops[i + 1]);
        std::swap(lists[i], lists[i + 1]);
        setDeps(lists);
        return true;
    }
}

bool corruptDependencies(Rng& rng, const Seed& s, dfx::ProgramT& p) {
    const std::size_t n = p.ops.size();
    if (n == 0)
        return false;
    switch (below(rng, 8)) {
    case 0: { // an op depends on itself
        const auto i = below(rng, n);
        addDependency(p, i, s.position[i]);
        return true;
    }
    case 1: { // on a later op
        const auto i = below(rng, n);
        if (s.position[i] + 1 >= s.programOps)
            return false;
        addDependency(p, i,
                      s.position[i] + 1 +
                          static_cast<std::uint32_t>(below(rng, s.programOps - s.position[i] - 1)));
        return true;
    }
    case 2: { // a cycle through 2 to 5 stored ops
        if (n < 2)
            return false;
        std::vector<std::size_t> ring;
        for (std::uint64_t m = 2 + below(rng, 4); m > 0; --m)
            ring.push_back(below(rng, n));
        std::ranges::sort(ring);
        ring.erase(std::ranges::unique(ring).begin(), ring.end());
        if (ring.size() < 2)
            return false;
        for (std::size_t j = 0; j < ring.size(); ++j)
            addDependency(p, ring[j], s.position[ring[(j + 1) % ring.size()]]);
        return true;
    }
    case 3: { // on an op that does not exist
        const std::array<std::uint32_t, 3> values{s.programOps, s.programOps + 1,
                                                  std::numeric_limits<std::uint32_t>::max()};
        addDependency(p, below(rng, n), values[below(rng, values.size())]);
        return true;
    }
    case 4: { // CSR offsets that do not describe the list
        switch (below(rng, 4)) {
        case 0:
            anyOf(rng, p.dep_offsets) = static_cast<std::uint32_t>(rng());
            break;
        case 1:
            anyOf(rng, p.dep_offsets) += 1;
            break;
        case 2:
            p.dep_offsets.pop_back();
            break;
        default:
            p.dep_offsets.push_back(p.dep_offsets.back());
        }
        return true;
    }
    case 5: { // a dependency dropped: wrong, but every index stays valid
        if (p.dep_indices.empty())
            return false;
        const auto d = below(rng, p.dep_indices.size());
        p.dep_indices.erase(p.dep_indices.begin() + static_cast<std::ptrdiff_t>(d));
        for (auto& offset : p.dep_offsets)
            if (offset > d)
                --offset;
        return true;
    }
    case 6: { // many redundant dependencies on earlier ops
        for (int m = 0; m < 200; ++m) {
            const auto i = below(rng, n);
            if (s.position[i] > 0)
                addDependency(p, i, static_cast<std::uint32_t>(below(rng, s.position[i])));
        }
        return true;
    }
    default: { // an index rewritten in place
        if (p.dep_indices.empty())
            return false;
        anyOf(rng, p.dep_indices) = static_cast<std::uint32_t>(below(rng, s.programOps + 2));
        return true;
    }
    }
}

constexpr std::array<std::int64_t, 12> kHugeDims{0x7FFFFFFFll,
                                                 0xFFFFFFFFll,
                                                 0x100000000ll,
                                                 1ll << 40,
                                                 1ll << 62,
                                                 std::numeric_limits<std::int64_t>::max(),
                                                 0,
                                                 -1,
                                                 std::numeric_limits<std::int64_t>::min(),
                                                 65537,
                                                 1ll << 24,
                                                 3};

void corruptShape(Rng& rng, std::vector<std::int64_t>& shape) {
    switch (below(rng, 7)) {
    case 0:
        if (shape.empty())
            shape.push_back(1);
        anyOf(rng, shape) = kHugeDims[below(rng, kHugeDims.size())];
        break;
    case 1: { // each dimension fits, their product overflows 64 bits
        const std::int64_t d = coin(rng) ? (1ll << 32) : (1ll << 22);
        shape.assign(coin(rng) ? 2 : 3, d);
        break;
    }
    case 2: // rank beyond 16, or a legal rank of many ones
        shape.resize(shape.size() + 1 + below(rng, 20), 1);
        break;
    case 3:
        if (coin(rng))
            shape.clear(); // a scalar
        else if (!shape.empty())
            shape.pop_back();
        break;
    case 4: // off by one
        if (shape.empty())
            return;
        anyOf(rng, shape) += coin(rng) ? 1 : -1;
        break;
    case 5: // twice as big
        if (shape.empty())
            return;
        anyOf(rng, shape) *= 2;
        break;
    default: // the dimensions permuted
        std::ranges::shuffle(shape, rng);
    }
}

bool corruptShapes(Rng& rng, const Seed&, dfx::ProgramT& p) {
    switch (below(rng, 4)) {
    case 0:
    case 1:
        corruptShape(rng, anyOf(rng, p.tensors)->shape);
        return true;
    case 2: { // a kernel's iteration space
        auto& space = anyOf(rng, p.kernels)->iteration_space;
        constexpr std::array<std::uint32_t, 5> kValues{0, 0xFFFFFFFFu, 0x80000000u, 1, 65536};
        switch (below(rng, 4)) {
        case 0:
            anyOf(rng, space) = kValues[below(rng, kValues.size())];
            break;
        case 1:
            anyOf(rng, space) += 1;
            break;
        case 2:
            anyOf(rng, space) *= 2;
            break;
        default:
            space.resize(coin(rng) ? 3 : 5, 1);
        }
        return true;
    }
    default:
        if (p.static_inputs.empty())
            return false;
        corruptShape(rng, anyOf(rng, p.static_inputs)->shape);
        return true;
    }
}

// An enum value: a valid one (often wrong for the place) or any value of the underlying type.
template <class E>
E anyValue(Rng& rng, int valid) {
    using U = std::underlying_type_t<E>;
    return static_cast<E>(coin(rng) ? static_cast<U>(below(rng, static_cast<std::uint64_t>(valid)))
                                    : static_cast<U>(rng()));
}

bool corruptEnums(Rng& rng, const Seed&, dfx::ProgramT& p) {
    switch (below(rng, 12)) {
    case 0:
        anyOf(rng, p.tensors)->dtype = anyValue<dfx::DType>(rng, 7);
        return true;
    case 1:
        anyOf(rng, p.tensors)->role = anyValue<dfx::TensorRole>(rng, 4);
        return true;
    case 2: {
        constexpr std::array<std::uint16_t, 6> kKinds{26, 27, 28, 34, 0xFFFF, 0x8000};
        anyOf(rng, p.kernels)->kind =
            coin(rng) ? static_cast<dfx::KernelKind>(kKinds[below(rng, kKinds.size())])
                      : anyValue<dfx::KernelKind>(rng, 34);
        return true;
    }
    case 3:
        anyOf(rng, p.graph)->kind = anyValue<dfx::KernelKind>(rng, 36);
        return true;
    case 4:
    case 5: { // a stored op's kind, move kind or levels
        if (p.ops.empty())
            return false;
        dfx::Op& o = anyOf(rng, p.ops);
        auto kind = o.kind();
        auto move = o.move_kind();
        auto src = o.src_level(), dst = o.dst_level();
        switch (below(rng, 4)) {
        case 0:
            kind = anyValue<dfx::OpKind>(rng, 4);
            break;
        case 1:
            move = anyValue<dfx::MoveKind>(rng, 4);
            break;
        case 2:
            src = anyValue<dfx::MemoryLevel>(rng, 4);
            break;
        default:
            dst = anyValue<dfx::MemoryLevel>(rng, 4);
        }
        o = dfx::Op(kind, move, src, dst, o.flags(), o.index(), o.region());
        return true;
    }
    case 6: {
        auto& k = *anyOf(rng, p.kernels);
        if (coin(rng) && !k.input_levels.empty())
            anyOf(rng, k.input_levels) = anyValue<dfx::MemoryLevel>(rng, 4);
        else
            k.output_level = anyValue<dfx::MemoryLevel>(rng, 4);
        return true;
    }
    case 7: {
        auto& k = *anyOf(rng, p.kernels);
        if (k.tilings.empty())
            return false;
        anyOf(rng, k.tilings)->level = anyValue<dfx::MemoryLevel>(rng, 4);
        return true;
    }
    case 8:
        anyOf(rng, p.kernels)->dataflow = anyValue<dfx::Dataflow>(rng, 3);
        return true;
    case 9:
        anyOf(rng, p.kernels)->ops_encoding = anyValue<dfx::OpsEncoding>(rng, 2);
        return true;
    case 10: {
        auto& k = *anyOf(rng, p.kernels);
        if (!k.params)
            k.params = std::make_unique<dfx::KernelParamsT>();
        k.params->activation = anyValue<dfx::Activation>(rng, 6);
        return true;
    }
    default:
        if (p.static_inputs.empty())
            return false;
        anyOf(rng, p.static_inputs)->dtype = anyValue<dfx::DType>(rng, 7);
        return true;
    }
}

// A box moved or stretched: past its bounds, to their largest values, empty, or onto another
// place inside them.
dfx::Box corruptBox(Rng& rng, dfx::Box box) {
    const auto d = below(rng, 4);
    switch (below(rng, 6)) {
    case 0:
        box.origin[d] += box.extent[d];
        break;
    case 1:
        box.extent[d] += 1 + static_cast<std::uint32_t>(below(rng, 16));
        break;
    case 2:
        box.extent[d] = 0xFFFFFFFFu;
        break;
    case 3:
        box.origin[d] = 0xFFFFFFFFu - static_cast<std::uint32_t>(below(rng, 4));
        break;
    case 4:
        box.extent[d] = 0;
        break;
    default:
        box.origin[d] = box.origin[d] > 0 ? box.origin[d] - 1 : 1;
    }
    return box;
}

bool corruptRegions(Rng& rng, const Seed&, dfx::ProgramT& p) {
    if (coin(rng)) { // a stored op's region: a tile of a tensor or of an iteration space
        if (p.ops.empty())
            return false;
        dfx::Op& o = anyOf(rng, p.ops);
        o = withBox(o, corruptBox(rng, dfx::toBox(o.region())));
        return true;
    }
    auto& k = *anyOf(rng, p.kernels);
    if (k.tilings.empty())
        return false;
    auto& tile = anyOf(rng, k.tilings)->tile;
    if (tile.size() != 4 || k.iteration_space.size() != 4)
        return false;
    const auto d = below(rng, 4);
    switch (below(rng, 4)) {
    case 0:
        tile[d] = k.iteration_space[d] + 1;
        break;
    case 1:
        tile[d] = 0xFFFFFFFFu;
        break;
    case 2:
        tile[d] = 0;
        break;
    default:
        tile.resize(coin(rng) ? 3 : 5, 1);
    }
    return true;
}

// The fields of a TileLoops kernel record. Half of the mutations that change how many ops the
// record expands to are recounted, so the record reaches the expansion and the binder.
bool corruptTileLoops(Rng& rng, const Seed&, dfx::ProgramT& p) {
    const auto candidates = tileLoopKernels(p);
    if (candidates.empty())
        return false;
    const std::size_t index = candidates[below(rng, candidates.size())];
    dfx::KernelT& k = *p.kernels[index];
    bool counts = false; // the mutation changes the op count
    switch (below(rng, 10)) {
    case 0: { // the iteration space
        const auto d = below(rng, 4);
        if (k.iteration_space.size() != 4)
            return false;
        switch (below(rng, 4)) {
        case 0:
            k.iteration_space[d] += 1;
            break;
        case 1:
            k.iteration_space[d] = std::max(1u, k.iteration_space[d] / 2);
            break;
        case 2:
            k.iteration_space[d] = 0xFFFFFFFFu;
            break;
        default:
            k.iteration_space[d] *= 2;
        }
        counts = true;
        break;
    }
    case 1:
    case 2: { // the L2 tile: another valid size, an invalid one, or the smallest tiles
        dfx::LevelTilingT* l2 = nullptr;
        for (auto& t : k.tilings)
            if (t->level == dfx::MemoryLevel::L2)
                l2 = t.get();
        if (!l2 || l2->tile.size() != 4 || k.iteration_space.size() != 4)
            return false;
        const auto d = below(rng, 4);
        switch (below(rng, 5)) {
        case 0:
        case 1:
            l2->tile[d] = 1 + static_cast<std::uint32_t>(below(rng, k.iteration_space[d]));
            break;
        case 2:
            l2->tile[d] = k.iteration_space[d] + 1;
            break;
        case 3: // every dimension split as finely as the kind allows
            for (std::size_t e = 0; e < 4; ++e)
                l2->tile[e] = 1;
            break;
        default:
            l2->tile[d] = 0;
        }
        counts = true;
        break;
    }
    case 3: { // the loop order
        switch (below(rng, 3)) {
        case 0:
            k.loop_order = {0, 1, 2, 3};
            std::ranges::shuffle(k.loop_order, rng);
            break;
        case 1:
            anyOf(rng, k.loop_order) = static_cast<std::uint8_t>(below(rng, 256));
            break;
        default:
            k.loop_order.resize(below(rng, 6), 0);
        }
        break;
    }
    case 4: { // where inputs are loaded from
        if (k.input_levels.empty())
            return false;
        auto& level = anyOf(rng, k.input_levels);
        switch (below(rng, 3)) {
        case 0:
            level =
                level == dfx::MemoryLevel::L3 ? dfx::MemoryLevel::External : dfx::MemoryLevel::L3;
            counts = true;
            break;
        case 1:
            k.input_levels.pop_back();
            break;
        default:
            k.input_levels.push_back(dfx::MemoryLevel::External);
        }
        break;
    }
    case 5: { // when inputs are ready
        if (k.input_ready.empty())
            return false;
        auto& ready = anyOf(rng, k.input_ready);
        switch (below(rng, 4)) {
        case 0:
            ready = -1;
            break;
        case 1:
            ready = static_cast<std::int64_t>(below(rng, std::max(1u, k.first_op)));
            break;
        case 2:
            ready =
                static_cast<std::int64_t>(k.first_op) + static_cast<std::int64_t>(below(rng, 4));
            break;
        default:
            k.input_ready.push_back(-1);
        }
        break;
    }
    case 6:
        k.output_level = k.output_level == dfx::MemoryLevel::L3 ? dfx::MemoryLevel::External
                                                                : dfx::MemoryLevel::L3;
        counts = true;
        break;
    case 7: { // the op range
        const std::array<std::int64_t, 6> deltas{-2, -1, 1, 2, 1000, -1000};
        auto& field = coin(rng) ? k.first_op : k.op_count;
        field = static_cast<std::uint32_t>(static_cast<std::int64_t>(field) +
                                           deltas[below(rng, deltas.size())]);
        break;
    }
    case 8: { // the tilings
        switch (below(rng, 3)) {
        case 0:
            k.tilings.clear();
            break;
        case 1:
            if (!k.tilings.empty())
                k.tilings.pop_back(); // the L3 tiling is left
            break;
        default:
            k.tilings.push_back(std::make_unique<dfx::LevelTilingT>());
            k.tilings.back()->level = dfx::MemoryLevel::L2;
            k.tilings.back()->tile = {1, 1, 1, 1};
            counts = true;
        }
        break;
    }
    default: { // the encoding or the version
        if (coin(rng))
            k.ops_encoding = dfx::OpsEncoding::Explicit;
        else
            p.format_major = static_cast<std::uint16_t>(below(rng, 6));
    }
    }
    if (counts && coin(rng))
        recount(p, index);
    return true;
}

bool corruptData(Rng& rng, const Seed&, dfx::ProgramT& p) {
    const auto t = below(rng, p.tensors.size());
    dfx::TensorT& tensor = *p.tensors[t];
    const auto bytes = byteSize(tensor.shape, dtypeSize(dfx::fromDType(tensor.dtype))).value_or(0);
    switch (below(rng, 5)) {
    case 0: { // values of the wrong size (or of the right one on a tensor that may not have any)
        const std::array<std::int64_t, 6> deltas{-1, 1, -16, 16, 0, 4096};
        const std::int64_t size = std::max<std::int64_t>(0, static_cast<std::int64_t>(bytes) +
                                                                deltas[below(rng, deltas.size())]);
        if (size > (1 << 24))
            return false;
        tensor.data.resize(static_cast<std::size_t>(size), 0x3c);
        return true;
    }
    case 1: // values removed: the constant gets seeded ones (valid)
        if (tensor.data.empty())
            return false;
        tensor.data.clear();
        return true;
    case 2: // another element type: the stored bytes no longer match
        if (tensor.data.empty())
            return false;
        tensor.dtype = anyValue<dfx::DType>(rng, 7);
        return true;
    case 3: // NaNs, infinities and denormals as values
        if (tensor.data.empty() || tensor.role != dfx::TensorRole::Constant)
            return false;
        for (std::uint8_t& b : tensor.data)
            b = static_cast<std::uint8_t>(rng() % 4 == 0 ? 0xFF : rng() % 4 == 0 ? 0x7F : b);
        return true;
    default: { // the shape changed, the values resized to match it
        if (tensor.data.empty())
            return false;
        corruptShape(rng, tensor.shape);
        const auto resized = byteSize(tensor.shape, dtypeSize(dfx::fromDType(tensor.dtype)));
        if (resized && *resized <= (1u << 24))
            tensor.data.resize(*resized);
        return true;
    }
    }
}

bool corruptStaticInputs(Rng& rng, const Seed&, dfx::ProgramT& p) {
    if (p.static_inputs.empty())
        return false;
    dfx::StaticInputT& s = *anyOf(rng, p.static_inputs);
    switch (below(rng, 6)) {
    case 0:
        corruptShape(rng, s.shape);
        return true;
    case 1:
        s.dtype = anyValue<dfx::DType>(rng, 7);
        return true;
    case 2: {
        const std::array<std::int64_t, 5> deltas{-1, 1, -8, 8, -16};
        s.data.resize(static_cast<std::size_t>(std::max<std::int64_t>(
            0, static_cast<std::int64_t>(s.data.size()) + deltas[below(rng, deltas.size())])));
        return true;
    }
    case 3: {
        const std::array<std::uint32_t, 4> positions{0, s.position + 1, 0xFFFFFFFFu,
                                                     static_cast<std::uint32_t>(below(rng, 4))};
        s.position = positions[below(rng, positions.size())];
        return true;
    }
    case 4: {
        const std::array<std::string, 3> names{"", p.tensors.front()->name, s.name};
        auto copy = std::make_unique<dfx::StaticInputT>(s);
        copy->name = names[below(rng, names.size())];
        copy->position = s.position + static_cast<std::uint32_t>(below(rng, 2));
        if (coin(rng))
            s.name = copy->name;
        else
            p.static_inputs.push_back(std::move(copy));
        return true;
    }
    default: // many of them, valid (positions beyond the graph's inputs are refused)
        for (int m = 0; m < 100; ++m) {
            auto more = std::make_unique<dfx::StaticInputT>(s);
            more->name = s.name + "." + std::to_string(m);
            more->position = s.position + 1 + static_cast<std::uint32_t>(m);
            p.static_inputs.push_back(std::move(more));
        }
        return true;
    }
}

// The 4-D canonical view of a tensor of the object API (nullopt for shapes without one).
std::optional<std::array<std::uint64_t, 4>> viewOf(const dfx::TensorT& t) {
    return canonicalView4(t.shape);
}

// A windowed kernel (pool, depthwise, im2col) given an extreme stride, dilation and padding that
// still produce its output's size, so that the shape checks pass: windows that start far outside
// the input, or read nothing but padding.
bool extremeWindow(Rng& rng, dfx::ProgramT& p) {
    std::vector<std::size_t> windowed;
    for (std::size_t k = 0; k < p.kernels.size(); ++k)
        if (const auto kind = p.kernels[k]->kind;
            kind == dfx::KernelKind::MaxPool2D || kind == dfx::KernelKind::AvgPool2D ||
            kind == dfx::KernelKind::DepthwiseConv2D || kind == dfx::KernelKind::Im2Col)
            windowed.push_back(k);
    if (windowed.empty())
        return false;
    dfx::KernelT& k = *p.kernels[windowed[below(rng, windowed.size())]];
    if (!k.params || k.params->window.size() != 10 || k.iteration_space.size() != 4)
        return false;
    const auto in = viewOf(*p.tensors[k.inputs[0]]);
    if (!in)
        return false;
    auto& w = k.params->window;
    const bool pool = k.kind == dfx::KernelKind::MaxPool2D || k.kind == dfx::KernelKind::AvgPool2D;
    constexpr std::array<std::uint64_t, 7> kStrides{1,        2,        3,       1u << 16,
                                                    1u << 20, 1u << 24, 1u << 28};
    for (std::size_t axis = 0; axis < 2; ++axis) { // height, then width
        const std::uint64_t size = (*in)[1 + axis], outputs = k.iteration_space[1 + axis];
        const std::uint64_t kernel = w[axis];
        const std::uint64_t stride = kStrides[below(rng, kStrides.size())];
        const std::uint64_t dilation = pool ? 1 : kStrides[below(rng, 4)];
        // outputs = (size + padding - span) / stride + 1, with the padding split before / after.
        const std::uint64_t span = dilation * (kernel - 1) + 1;
        const std::uint64_t needed = (outputs - 1) * stride + span + below(rng, stride);
        if (needed < size || needed - size > 2 * std::uint64_t{0xFFFFFFFFu})
            continue;
        const std::uint64_t padding = needed - size;
        const std::uint64_t least = padding > 0xFFFFFFFFu ? padding - 0xFFFFFFFFu : 0;
        const std::uint64_t before =
            least + below(rng, std::min(padding, std::uint64_t{0xFFFFFFFFu}) - least + 1);
        w[2 + axis] = static_cast<std::uint32_t>(stride);
        w[4 + axis] = static_cast<std::uint32_t>(dilation);
        w[6 + 2 * axis] = static_cast<std::uint32_t>(before);
        w[7 + 2 * axis] = static_cast<std::uint32_t>(padding - before);
    }
    return true;
}

// Operator parameters of a kernel or of a graph node (which the reference executor reads).
bool corruptParams(Rng& rng, const Seed&, dfx::ProgramT& p) {
    if (below(rng, 3) == 0)
        return extremeWindow(rng, p);
    std::unique_ptr<dfx::KernelParamsT>& params =
        coin(rng) ? anyOf(rng, p.kernels)->params : anyOf(rng, p.graph)->params;
    if (!params)
        params = std::make_unique<dfx::KernelParamsT>();
    constexpr std::array<std::uint32_t, 6> kWindow{0, 1, 2, 65536, 65537, 0xFFFFFFFFu};
    switch (below(rng, 8)) {
    case 0: {
        const std::array<std::int32_t, 6> axes{-5, -1, 0,
                                               3,  4,  std::numeric_limits<std::int32_t>::min()};
        params->axis = coin(rng) ? axes[below(rng, axes.size())]
                                 : static_cast<std::int32_t>(below(rng, 9)) - 4;
        break;
    }
    case 1:
        if (params->perm.empty() || coin(rng))
            params->perm.resize(below(rng, 6), 0);
        if (!params->perm.empty())
            anyOf(rng, params->perm) = static_cast<std::uint8_t>(below(rng, coin(rng) ? 4 : 256));
        break;
    case 2:
        if (params->window.empty() || coin(rng))
            params->window.resize(below(rng, 12), 1);
        if (!params->window.empty())
            anyOf(rng, params->window) = kWindow[below(rng, kWindow.size())];
        break;
    case 3:
        if (params->padding.empty() || coin(rng))
            params->padding.resize(below(rng, 10), 0);
        if (!params->padding.empty())
            anyOf(rng, params->padding) = kWindow[below(rng, kWindow.size())];
        break;
    case 4:
        params->transpose_b = !params->transpose_b;
        break;
    case 5: {
        const std::array<double, 5> values{std::numeric_limits<double>::quiet_NaN(),
                                           std::numeric_limits<double>::infinity(), -1.0, 0.0,
                                           1e300};
        (coin(rng)   ? params->epsilon
         : coin(rng) ? params->min
                     : params->max) = values[below(rng, values.size())];
        break;
    }
    case 6:
        params->bias_input = static_cast<std::int8_t>(rng());
        break;
    default:
        params.reset(); // every field at its default
    }
    return true;
}

// ---- the campaign ------------------------------------------------------------------------------

using ByteMutation = void (*)(Rng&, std::vector<std::uint8_t>&);
using StructuredMutation = bool (*)(Rng&, const Seed&, dfx::ProgramT&);

struct Kind {
    std::string_view name;
    int mutants;
    ByteMutation bytes = nullptr;
    StructuredMutation structured = nullptr;
};

// How many mutants of each kind: 5450 in all, about 10 s of CPU in a Release build, most of it
// spent running the mutants the verifier accepts.
const std::array<Kind, 14> kKinds{{
    {"truncation", 400, truncateBytes},
    {"bit flips", 600, flipBits},
    {"byte overwrites", 450, overwriteBytes},
    {"offset words", 600, corruptWords},
    {"indices", 450, nullptr, corruptIndices},
    {"dependencies", 350, nullptr, corruptDependencies},
    {"op lists", 300, nullptr, corruptOpLists},
    {"shapes", 400, nullptr, corruptShapes},
    {"enum values", 450, nullptr, corruptEnums},
    {"regions, tilings", 300, nullptr, corruptRegions},
    {"tile loops", 450, nullptr, corruptTileLoops},
    {"tensor data", 250, nullptr, corruptData},
    {"static inputs", 150, nullptr, corruptStaticInputs},
    {"params", 300, nullptr, corruptParams},
}};

// One generator per mutant, from the kind and the mutant's number: any mutant can be rebuilt
// alone.
Rng mutantRng(std::size_t kind, int mutant) {
    std::uint64_t x = 0x6b7075'6d7574ull * (kind + 1) + static_cast<std::uint64_t>(mutant);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull; // splitmix64's finaliser
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return Rng(x ^ (x >> 31));
}

struct Mutant {
    std::string seed;
    std::vector<std::uint8_t> bytes;
};

Mutant makeMutant(std::size_t kind, int mutant) {
    const auto& all = seeds();
    Rng rng = mutantRng(kind, mutant);
    const Kind& k = kKinds[kind];
    if (k.bytes) {
        const Seed& s = all[static_cast<std::size_t>(mutant) % all.size()];
        Mutant m{s.name, s.bytes};
        k.bytes(rng, m.bytes);
        return m;
    }
    for (;;) { // until a seed has something to mutate (every kind applies to some seed)
        const Seed& s = all[below(rng, all.size())];
        dfx::ProgramT p = s.program;
        if (k.structured(rng, s, p))
            return {s.name, compiler::serializeProgram(p)};
    }
}

std::string mebibytes(std::size_t bytes) {
    std::ostringstream out;
    out << std::fixed << std::setprecision(1) << static_cast<double>(bytes) / (1 << 20) << " MiB";
    return out.str();
}

// A misbehaving mutant is kept for the report: /tmp/mutation-findings/<name>.kpu.
std::string keepMutant(std::string name, const std::vector<std::uint8_t>& bytes) {
    std::ranges::replace_if(
        name, [](char c) { return c == ' ' || c == ',' || c == '#'; }, '-');
    const std::filesystem::path dir = std::filesystem::temp_directory_path() / "mutation-findings";
    std::error_code ignored;
    std::filesystem::create_directories(dir, ignored);
    const std::string path = (dir / (name + ".kpu")).string();
    (void)writeBinaryFile(path, bytes);
    return path;
}

// The seeds themselves load, bind and run: the campaign's mutants start from objects that reach
// every step.
TEST(MutationSeeds, LoadBindAndRun) {
    ASSERT_EQ(seeds().size(), 14u);
    for (const Seed& s : seeds()) {
        SCOPED_TRACE(s.name);
        EXPECT_LE(s.bytes.size(), 200u << 10);
        const MutantRun run = runMutant(s.bytes, 1);
        EXPECT_EQ(run.problem, "");
        EXPECT_EQ(run.outcome,
                  s.name == "matmul.dfg (tile loops)" ? Outcome::TimingOnly : Outcome::Ran);
        std::cout << s.name << ": " << s.bytes.size() << " bytes, " << s.programOps
                  << " program ops, peak heap " << mebibytes(run.peakBytes) << ", "
                  << run.seconds * 1e3 << " ms\n";
    }
}

// The counting allocator sees the heap, and the cap refuses what would pass it.
TEST(MutationSeeds, HeapIsCountedAndCapped) {
    {
        // Calls of the functions themselves: a new-expression's allocation may be elided.
        HeapWatch watch(std::size_t{64} << 20);
        void* block = ::operator new (std::size_t{8} << 20);
        EXPECT_GE(watch.peak(), std::size_t{8} << 20);
        ::operator delete(block);
        EXPECT_THROW(::operator delete(::operator new (std::size_t{80} << 20)), std::bad_alloc);
        EXPECT_EQ(watch.refusedRequest(), std::size_t{80} << 20);
    }
    auto* aligned = new (std::align_val_t{64}) double[100];
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(aligned) % 64, 0u);
    ::operator delete[](aligned, std::align_val_t{64});
}

// Replays one object, e.g. a mutant the campaign kept: KPU_MUTATION_REPLAY=<file.kpu> (and
// KPU_MUTATION_CAP_MIB=<n> to measure one above the cap). Skipped without it.
TEST(Mutation, ReplaysAKeptMutant) {
    const char* path = std::getenv("KPU_MUTATION_REPLAY");
    if (!path)
        GTEST_SKIP() << "set KPU_MUTATION_REPLAY to an object file";
    auto bytes = readBinaryFile(path);
    ASSERT_TRUE(bytes) << bytes.error().message;
    const char* capMiB = std::getenv("KPU_MUTATION_CAP_MIB");
    const MutantRun run = runMutant(*bytes, 1, capMiB ? std::stoull(capMiB) << 20 : kHeapCap);
    std::cout << path << ": " << kOutcomeNames[static_cast<std::size_t>(run.outcome)]
              << ", peak heap " << mebibytes(run.peakBytes) << ", " << run.seconds * 1e3 << " ms\n"
              << run.refusal << '\n';
    EXPECT_EQ(run.problem, "");
}

// The campaign: every mutant is refused with an error that starts with its name, or runs, within
// the heap cap; the table of outcomes per kind, the peak heap and the slowest mutant are printed.
TEST(Mutation, EveryMutantIsRefusedWithItsNameOrRuns) {
    ASSERT_FALSE(seeds().empty());
    std::array<std::array<int, kOutcomes>, kKinds.size()> counts{};
    std::array<double, kKinds.size()> kindSeconds{};
    std::size_t peak = 0;
    double slowest = 0;
    std::string slowestMutant, peakMutant;
    int total = 0;
    // KPU_MUTATION_LOG: each mutant's name before it runs, and its bytes in
    // /tmp/mutation-findings/last.kpu (should it crash), then how it ended.
    const bool log = std::getenv("KPU_MUTATION_LOG") != nullptr;
    // KPU_MUTATION_SCALE=<n>: n times as many mutants of each kind (the usual ones first), for a
    // longer hunt.
    const int scale = std::getenv("KPU_MUTATION_SCALE")
                          ? std::max(1, std::atoi(std::getenv("KPU_MUTATION_SCALE")))
                          : 1;
    const std::string lastMutant = log ? keepMutant("last", {}) : std::string();
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t kind = 0; kind < kKinds.size(); ++kind) {
        for (int i = 0; i < kKinds[kind].mutants * scale; ++i) {
            Mutant m = makeMutant(kind, i);
            const std::string label =
                std::string(kKinds[kind].name) + " #" + std::to_string(i) + " of " + m.seed;
            if (log) {
                std::cerr << label << std::endl;
                (void)writeBinaryFile(lastMutant, m.bytes);
            }
            const MutantRun run = runMutant(m.bytes, static_cast<std::uint64_t>(i));
            if (log)
                std::cerr << "  " << kOutcomeNames[static_cast<std::size_t>(run.outcome)] << " ("
                          << run.seconds * 1e3 << " ms, " << mebibytes(run.peakBytes)
                          << "): " << run.refusal.substr(0, 300) << std::endl;
            ++counts[kind][static_cast<std::size_t>(run.outcome)];
            kindSeconds[kind] += run.seconds;
            ++total;
            EXPECT_EQ(run.problem, "")
                << label << ", kept as "
                << keepMutant(std::string(kKinds[kind].name) + "-" + std::to_string(i), m.bytes);
            if (run.seconds > slowest) {
                slowest = run.seconds;
                slowestMutant = label;
            }
            if (run.peakBytes > peak) {
                peak = run.peakBytes;
                peakMutant = label;
            }
        }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    std::ostringstream table;
    table << std::left << std::setw(18) << "mutation" << std::right << std::setw(8) << "mutants";
    for (std::string_view name : kOutcomeNames)
        table << std::setw(11) << name;
    table << std::setw(9) << "seconds" << '\n';
    std::array<int, kOutcomes> totals{};
    for (std::size_t kind = 0; kind < kKinds.size(); ++kind) {
        table << std::left << std::setw(18) << kKinds[kind].name << std::right << std::setw(8)
              << kKinds[kind].mutants * scale;
        for (std::size_t o = 0; o < kOutcomes; ++o) {
            table << std::setw(11) << counts[kind][o];
            totals[o] += counts[kind][o];
        }
        table << std::setw(9) << std::fixed << std::setprecision(2) << kindSeconds[kind] << '\n';
    }
    table << std::left << std::setw(18) << "total" << std::right << std::setw(8) << total;
    for (int n : totals)
        table << std::setw(11) << n;
    table << std::setw(9) << seconds << "\n\npeak heap of one mutant " << mebibytes(peak)
          << " (cap " << mebibytes(kHeapCap) << "), " << peakMutant << "\nslowest mutant "
          << std::fixed << std::setprecision(3) << slowest * 1e3 << " ms, " << slowestMutant << "\n"
          << total << " mutants in " << seconds << " s\n";
    std::cout << table.str();
    RecordProperty("mutants", total);
    RecordProperty("peak_heap_bytes", std::to_string(peak));
    RecordProperty("slowest_mutant_ms", std::to_string(slowest * 1e3));

    EXPECT_GE(total, 5000);
    // Each way a mutant can end happens: the verifier refuses, the binder refuses, a program runs.
    EXPECT_GT(totals[static_cast<std::size_t>(Outcome::Verifier)], 0);
    EXPECT_GT(totals[static_cast<std::size_t>(Outcome::Binder)], 0);
    EXPECT_GT(totals[static_cast<std::size_t>(Outcome::Ran)], 0);
}

} // namespace
} // namespace kpu::loader
