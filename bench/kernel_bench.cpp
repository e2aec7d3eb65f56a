// Tile kernel benchmark: measures this core's AVX2 and AVX-512 FMA peaks (same run, same
// conditions), then the reference, AVX2 and AVX-512 gemm kernels on the tiles the simulator
// computes, reporting GFLOP/s and the fraction of the peak of the kernel's own ISA; then the
// vectorised vector kernels (elementwise, epilogue, conversions) in GB/s. The machine is a
// shared VM whose speed drifts (other guests), so each gemm benchmark interleaves short blocks
// of kernel calls with equally short blocks of the peak loop and reports the ratio of the two
// rates measured side by side:
//   kpu-kernel-bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// and read the medians of fraction_of_peak (also printed as a summary table at the end, on
// stderr, so that --benchmark_format=json keeps stdout machine-readable).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>
#include <immintrin.h>

#include "kernels/reference.h"
#include "kernels/sgemm_avx2.h"
#include "kernels/sgemm_avx512.h"
#include "kernels/vector_rows.h"
#include "kpu/common/float_convert.h"
#include "kpu/simulator/tile_kernels.h"
#include "kpu/simulator/vector_kernels.h"

namespace {

// Rates use this thread's CPU time, not wall time: on a shared 2-vCPU machine the process is
// often descheduled, which would otherwise count as kernel time (hyperthread sharing with
// another busy thread still slows both the peak loop and the kernels; compare medians).
double threadSeconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// --- FMA peaks -----------------------------------------------------------------------------

// Independent accumulators acc = acc * x + y (x < 1 keeps the values bounded and normal):
// more chains than FMA latency x ports (4 x 2), and few enough to stay in registers with x and
// y (16 ymm registers with AVX2, 32 zmm with AVX-512).
constexpr int kChainsAvx2 = 12;
constexpr int kChainsAvx512 = 16;

__attribute__((target("avx2,fma"))) float fmaChainsAvx2(std::int64_t iterations) {
    __m256 acc[kChainsAvx2];
    for (int i = 0; i < kChainsAvx2; ++i)
        acc[i] = _mm256_set1_ps(static_cast<float>(i));
    const __m256 x = _mm256_set1_ps(0.999999f);
    const __m256 y = _mm256_set1_ps(1e-3f);
    for (std::int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 16
        for (int i = 0; i < kChainsAvx2; ++i)
            acc[i] = _mm256_fmadd_ps(acc[i], x, y);
    }
    __m256 sum = acc[0];
    for (int i = 1; i < kChainsAvx2; ++i)
        sum = _mm256_add_ps(sum, acc[i]);
    return _mm256_cvtss_f32(sum);
}

__attribute__((target("avx512f"))) float fmaChainsAvx512(std::int64_t iterations) {
    __m512 acc[kChainsAvx512];
    for (int i = 0; i < kChainsAvx512; ++i)
        acc[i] = _mm512_set1_ps(static_cast<float>(i));
    const __m512 x = _mm512_set1_ps(0.999999f);
    const __m512 y = _mm512_set1_ps(1e-3f);
    for (std::int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 16
        for (int i = 0; i < kChainsAvx512; ++i)
            acc[i] = _mm512_fmadd_ps(acc[i], x, y);
    }
    __m512 sum = acc[0];
    for (int i = 1; i < kChainsAvx512; ++i)
        sum = _mm512_add_ps(sum, acc[i]);
    return _mm512_cvtss_f32(sum); // every chain feeds lane 0 of the sum
}

enum class Isa { Scalar, Avx2, Avx512 };

// fp32 flops per iteration of the peak loop; the scalar reference is measured against AVX2.
double peakFlopsPerIteration(Isa isa) {
    return isa == Isa::Avx512 ? 2.0 * 16 * kChainsAvx512 : 2.0 * 8 * kChainsAvx2;
}

// Runs about `flops` fp32 flops of the ISA's peak loop; returns the flops executed.
double runPeak(Isa isa, double flops) {
    std::int64_t iterations =
        std::max<std::int64_t>(1, static_cast<std::int64_t>(flops / peakFlopsPerIteration(isa)));
    benchmark::DoNotOptimize(iterations); // opaque trip count: the call cannot be hoisted
    if (isa == Isa::Avx512)
        benchmark::DoNotOptimize(fmaChainsAvx512(iterations));
    else
        benchmark::DoNotOptimize(fmaChainsAvx2(iterations));
    return peakFlopsPerIteration(isa) * static_cast<double>(iterations);
}

void BM_FmaPeak(benchmark::State& state, Isa isa) {
    const double start = threadSeconds();
    double flops = 0;
    for (auto _ : state)
        flops += runPeak(isa, 1e6);
    state.counters["GFLOP/s"] = flops / (threadSeconds() - start) / 1e9;
    state.SetLabel(isa == Isa::Avx512 ? std::to_string(kChainsAvx512) + " zmm fp32 FMA chains"
                                      : std::to_string(kChainsAvx2) + " ymm fp32 FMA chains");
}

// fraction_of_peak of every run of every gemm benchmark with its iteration count, for the
// summary at the end (which keeps the repetitions: the runs with the final iteration count).
std::map<std::string, std::vector<std::pair<std::int64_t, double>>>& fractions() {
    static std::map<std::string, std::vector<std::pair<std::int64_t, double>>> all;
    return all;
}

// --- gemm ----------------------------------------------------------------------------------

struct Shape {
    std::int64_t m, n, k;
    std::int64_t ld = 0; // 0: packed operands (lda = k, ldb = ldc = n); else lda = ldb = ldc = ld
};

std::string shapeName(const Shape& s) {
    std::string name = std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k);
    return s.ld == 0 ? name : name + ".ld" + std::to_string(s.ld);
}

template <class T>
struct AlignedFree {
    void operator()(T* p) const { std::free(p); }
};

template <class T>
std::unique_ptr<T[], AlignedFree<T>> alignedRandom(std::int64_t count, std::uint32_t seed) {
    const std::size_t bytes = (static_cast<std::size_t>(count) * sizeof(T) + 63) / 64 * 64;
    std::unique_ptr<T[], AlignedFree<T>> p(static_cast<T*>(std::aligned_alloc(64, bytes)));
    std::mt19937 gen(seed);
    std::uniform_real_distribution<T> dist(T(-1), T(1));
    for (std::int64_t i = 0; i < count; ++i)
        p[i] = dist(gen);
    return p;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n == 0 ? 0.0 : n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Interleaves blocks of `work` (returning the flops it did) with blocks of the ISA's peak loop
// of about the same length, each timed on this thread's CPU clock, and reports the median over
// the pairs of blocks of the kernel's rate and of its ratio to the peak (times peakScale: 0.5
// for fp64). Short blocks (~2 MFLOP, tens of microseconds) and medians make the ratio robust
// to what other processes do to the caches, the clock and the scheduling meanwhile.
void interleaveWithPeak(benchmark::State& state, const std::string& name, Isa isa, double peakScale,
                        const std::function<double()>& work) {
    std::vector<double> rates, ratios, peaks;
    for (auto _ : state) {
        const double t0 = threadSeconds();
        const double flops = work();
        const double t1 = threadSeconds();
        const double done = runPeak(isa == Isa::Scalar ? Isa::Avx2 : isa, flops);
        const double t2 = threadSeconds();
        if (t1 <= t0 || t2 <= t1)
            continue; // below the clock's resolution
        const double rate = flops / (t1 - t0);
        const double peak = done / (t2 - t1) * peakScale;
        rates.push_back(rate);
        peaks.push_back(peak);
        ratios.push_back(rate / peak);
    }
    const double fraction = median(ratios);
    state.counters["GFLOP/s"] = median(rates) / 1e9;
    state.counters["peak_GFLOP/s"] = median(peaks) / 1e9;
    state.counters["fraction_of_peak"] = fraction;
    fractions()[name].emplace_back(state.iterations(), fraction);
}

// C = A * B on a tile whose operands stay in the caches across calls.
template <class T, class Args>
void BM_Gemm(benchmark::State& state, const std::string& name, void (*fn)(const Args&), Shape s,
             Isa isa, double peakScale) {
    const std::int64_t lda = s.ld != 0 ? s.ld : s.k;
    const std::int64_t ldb = s.ld != 0 ? s.ld : s.n;
    const std::int64_t ldc = s.ld != 0 ? s.ld : s.n;
    auto a = alignedRandom<T>(s.m * lda, 1);
    auto b = alignedRandom<T>(s.k * ldb, 2);
    auto c = alignedRandom<T>(s.m * ldc, 3);
    const Args p{s.m, s.n, s.k, a.get(), lda, b.get(), ldb, c.get(), ldc, false};
    fn(p); // warm the caches and the packing buffers
    const double flopsPerCall = 2.0 * static_cast<double>(s.m * s.n * s.k);
    const std::int64_t callsPerBlock =
        std::max<std::int64_t>(1, static_cast<std::int64_t>(2e6 / flopsPerCall));
    interleaveWithPeak(state, name, isa, peakScale, [&] {
        for (std::int64_t i = 0; i < callsPerBlock; ++i) {
            fn(p);
            benchmark::DoNotOptimize(c.get());
            benchmark::ClobberMemory();
        }
        return flopsPerCall * static_cast<double>(callsPerBlock);
    });
}

// --- vector kernels --------------------------------------------------------------------------

// Rows of 64 KiB blocks of f32 (16384 elements): bytes read + written per call, in GB/s.
constexpr std::size_t kBlock = 16384;

void reportBytes(benchmark::State& state, double bytesPerCall) {
    state.SetBytesProcessed(static_cast<std::int64_t>(bytesPerCall) * state.iterations());
}

void BM_Binary(benchmark::State& state, kpu::sim::vec::BinaryRowFn fn) {
    auto a = alignedRandom<float>(kBlock, 1);
    auto b = alignedRandom<float>(kBlock, 2);
    auto c = alignedRandom<float>(kBlock, 3);
    for (auto _ : state) {
        fn(c.get(), a.get(), 1, b.get(), 1, kBlock);
        benchmark::ClobberMemory();
    }
    reportBytes(state, 3.0 * kBlock * sizeof(float));
}

void BM_Unary(benchmark::State& state, kpu::sim::vec::UnaryRowFn fn) {
    auto a = alignedRandom<float>(kBlock, 1);
    auto c = alignedRandom<float>(kBlock, 3);
    for (auto _ : state) {
        fn(c.get(), a.get(), kBlock, 0.0f, 6.0f);
        benchmark::ClobberMemory();
    }
    reportBytes(state, 2.0 * kBlock * sizeof(float));
}

// In place on a fresh copy of the block each time (repeated activations would drift into
// subnormals), bias along the rows: bytes = the copy's read and write plus the epilogue's.
void BM_Epilogue(benchmark::State& state, kpu::Activation act) {
    constexpr std::uint32_t m = 128, n = kBlock / m;
    auto src = alignedRandom<float>(kBlock, 3);
    auto c = alignedRandom<float>(kBlock, 3);
    auto bias = alignedRandom<float>(n, 4);
    for (auto _ : state) {
        std::copy(src.get(), src.get() + kBlock, c.get());
        kpu::sim::applyEpilogueF32(c.get(), m, n, bias.get(), act, 0.0, 6.0);
        benchmark::ClobberMemory();
    }
    reportBytes(state, 4.0 * kBlock * sizeof(float));
}

void BM_ConvertToF32(benchmark::State& state, kpu::DType from) {
    std::vector<std::uint8_t> src(kBlock * kpu::dtypeSize(from));
    std::mt19937 gen(5);
    for (auto& x : src)
        x = static_cast<std::uint8_t>(gen() & 0x3F); // small finite values for every type
    std::vector<float> dst(kBlock);
    for (auto _ : state) {
        kpu::convertToF32(from, src.data(), dst.data(), kBlock);
        benchmark::ClobberMemory();
    }
    reportBytes(state, static_cast<double>(kBlock * (4 + kpu::dtypeSize(from))));
}

void BM_ConvertFromF32(benchmark::State& state, kpu::DType to) {
    auto src = alignedRandom<float>(kBlock, 6);
    std::vector<std::uint8_t> dst(kBlock * kpu::dtypeSize(to));
    for (auto _ : state) {
        kpu::convertFromF32(to, src.get(), dst.data(), kBlock);
        benchmark::ClobberMemory();
    }
    reportBytes(state, static_cast<double>(kBlock * (4 + kpu::dtypeSize(to))));
}

void registerVectorBenchmarks() {
    using namespace kpu::sim::vec;
    for (const RowKernels* set : {&scalarRowKernels(), avx2RowKernels(), avx512RowKernels()}) {
        if (set == nullptr)
            continue;
        const std::string isa(set->isa);
        benchmark::RegisterBenchmark(("vec_add_f32_" + isa + "/64KiB").c_str(), BM_Binary,
                                     set->add);
        benchmark::RegisterBenchmark(("vec_relu_f32_" + isa + "/64KiB").c_str(), BM_Unary,
                                     set->relu);
        benchmark::RegisterBenchmark(("vec_sigmoid_f32_" + isa + "/64KiB").c_str(), BM_Unary,
                                     set->sigmoid);
    }
    for (auto [name, act] :
         {std::pair{"relu", kpu::Activation::Relu}, std::pair{"gelu", kpu::Activation::Gelu},
          std::pair{"tanh", kpu::Activation::Tanh}})
        benchmark::RegisterBenchmark((std::string("epilogue_bias_") + name + "_f32/64KiB").c_str(),
                                     BM_Epilogue, act);
    for (auto [name, t] : {std::pair{"f16", kpu::DType::F16}, std::pair{"i8", kpu::DType::I8},
                           std::pair{"i32", kpu::DType::I32}}) {
        benchmark::RegisterBenchmark((std::string("convert_") + name + "_to_f32/16Ki").c_str(),
                                     BM_ConvertToF32, t);
        benchmark::RegisterBenchmark((std::string("convert_f32_to_") + name + "/16Ki").c_str(),
                                     BM_ConvertFromF32, t);
    }
}

// The summary: median fraction_of_peak of every gemm benchmark over its repetitions.
void printSummary() {
    if (fractions().empty())
        return;
    std::fprintf(stderr, "\nmedian fraction_of_peak (own ISA's peak, interleaved):\n");
    for (const auto& [name, runs] : fractions()) {
        std::int64_t final = 0;
        for (const auto& run : runs)
            final = std::max(final, run.first);
        std::vector<double> values;
        for (const auto& [iterations, fraction] : runs)
            if (iterations == final)
                values.push_back(fraction);
        std::fprintf(stderr, "  %-48s %6.3f  (%zu runs)\n", name.c_str(), median(values),
                     values.size());
    }
}

} // namespace

int main(int argc, char** argv) {
    using namespace kpu::sim;
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;

    const bool hasAvx2 = avx2Kernels() != nullptr;
    const bool hasAvx512 = avx512Kernels() != nullptr;
    // The standalone peaks come first, for information; every gemm benchmark measures its
    // ISA's peak again, interleaved with its own kernel calls, for its fraction_of_peak.
    if (hasAvx2)
        benchmark::RegisterBenchmark("fma_peak/avx2/fp32", BM_FmaPeak, Isa::Avx2);
    if (hasAvx512)
        benchmark::RegisterBenchmark("fma_peak/avx512/fp32", BM_FmaPeak, Isa::Avx512);

    // The simulator's tiles first (16x16 array passes: k = 512 packed and in place in a
    // 2048-wide matrix, k = 1024), then square tiles and an edge tile.
    const std::vector<Shape> shapes = {
        {16, 16, 512}, {16, 16, 512, 2048}, {16, 16, 1024},  {16, 16, 288}, {32, 32, 32},
        {64, 64, 64},  {64, 64, 256},       {128, 128, 128}, {37, 91, 53},
    };
    struct SgemmVariant {
        const char* name;
        GemmF32Fn fn;
        Isa isa;
    };
    std::vector<SgemmVariant> sgemms = {{"sgemm_ref", sgemmReference, Isa::Scalar}};
    if (hasAvx2)
        sgemms.push_back({"sgemm_avx2_6x16", sgemmAvx2, Isa::Avx2});
    if (hasAvx512) {
        sgemms.push_back({"sgemm_avx512_14x32", sgemmAvx512, Isa::Avx512});
        // The same kernel with the B-panel policy forced, to show what copying B costs or buys.
        sgemms.push_back({"sgemm_avx512_14x32.packedB", sgemmAvx512Packed, Isa::Avx512});
    }
    for (const Shape& s : shapes)
        for (const SgemmVariant& v : sgemms) {
            // The reference is slow: only a few shapes, for scale.
            const bool forScale = s.ld == 0 && (s.k == 512 || s.m == 32 || s.m == 37);
            if (v.isa == Isa::Scalar && !forScale)
                continue;
            const std::string name = std::string(v.name) + "/" + shapeName(s);
            benchmark::RegisterBenchmark(name.c_str(), BM_Gemm<float, GemmF32Args>, name, v.fn, s,
                                         v.isa, 1.0);
        }
    // fp64 for information: fraction_of_peak against half the fp32 peak.
    for (const Shape& s : {Shape{16, 16, 512}, Shape{64, 64, 64}, Shape{64, 64, 256}}) {
        const std::string avx2Name = "dgemm_avx2_6x8/" + shapeName(s);
        const std::string avx512Name = "dgemm_avx512_14x16/" + shapeName(s);
        if (hasAvx2)
            benchmark::RegisterBenchmark(avx2Name.c_str(), BM_Gemm<double, GemmF64Args>, avx2Name,
                                         dgemmAvx2, s, Isa::Avx2, 0.5);
        if (hasAvx512)
            benchmark::RegisterBenchmark(avx512Name.c_str(), BM_Gemm<double, GemmF64Args>,
                                         avx512Name, dgemmAvx512, s, Isa::Avx512, 0.5);
    }
    registerVectorBenchmarks();

    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    printSummary();
    return 0;
}
