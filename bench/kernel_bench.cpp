// Tile kernel benchmark: measures this core's AVX2 FMA peak (same run, same conditions), then
// the reference and AVX2 gemm kernels on L1/L2-resident tiles, reporting GFLOP/s and the
// fraction of the measured peak. The machine is a shared VM whose speed drifts (other guests),
// so each gemm benchmark interleaves short blocks of kernel calls with equally short blocks of
// the peak loop and reports the ratio of the two rates measured side by side:
//   kpu-kernel-bench --benchmark_repetitions=9 --benchmark_report_aggregates_only=true
// and read the medians of fraction_of_peak.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <immintrin.h>

#include "kernels/reference.h"
#include "kernels/sgemm_avx2.h"
#include "kpu/simulator/tile_kernels.h"

namespace {

// Rates use this thread's CPU time, not wall time: on a shared 2-vCPU machine the process is
// often descheduled, which would otherwise count as kernel time (hyperthread sharing with
// another busy thread still slows both the peak loop and the kernels; compare medians).
double threadSeconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// --- AVX2 FMA peak -----------------------------------------------------------------------

constexpr int kChains = 12;                         // independent accumulators (>= latency x ports)
constexpr std::int64_t kPeakInnerIterations = 4096; // FMAs per chain per benchmark iteration
constexpr double kPeakFlopsPerIteration = 2.0 * 8 * kChains * kPeakInnerIterations;

// kChains independent chains acc = acc * x + y; x < 1 keeps the values bounded and normal.
__attribute__((target("avx2,fma"))) float fmaChains(std::int64_t iterations) {
    __m256 acc[kChains];
    for (int i = 0; i < kChains; ++i)
        acc[i] = _mm256_set1_ps(static_cast<float>(i));
    const __m256 x = _mm256_set1_ps(0.999999f);
    const __m256 y = _mm256_set1_ps(1e-3f);
    for (std::int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 12
        for (int i = 0; i < kChains; ++i)
            acc[i] = _mm256_fmadd_ps(acc[i], x, y);
    }
    __m256 sum = acc[0];
    for (int i = 1; i < kChains; ++i)
        sum = _mm256_add_ps(sum, acc[i]);
    return _mm256_cvtss_f32(sum);
}

void BM_Avx2FmaPeak(benchmark::State& state) {
    const double start = threadSeconds();
    for (auto _ : state) {
        // Opaque trip count: stops the compiler from hoisting the (pure) call out of the loop.
        std::int64_t iterations = kPeakInnerIterations;
        benchmark::DoNotOptimize(iterations);
        benchmark::DoNotOptimize(fmaChains(iterations));
    }
    const double seconds = threadSeconds() - start;
    const double flops = kPeakFlopsPerIteration * static_cast<double>(state.iterations());
    const double rate = flops / seconds;
    state.counters["GFLOP/s"] = rate / 1e9;
    state.SetLabel("12 ymm fp32 FMA chains");
}

// --- gemm ----------------------------------------------------------------------------------

struct Shape {
    std::int64_t m, n, k;
};

std::string shapeName(const Shape& s) {
    return std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k);
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

// C = A * B on a tile whose operands stay in L1/L2 across iterations (packed, ld = width).
// peakScale: 1 for fp32, 0.5 for fp64 (half the lanes per FMA).
template <class T, class Args>
void BM_Gemm(benchmark::State& state, void (*fn)(const Args&), Shape s, double peakScale) {
    auto a = alignedRandom<T>(s.m * s.k, 1);
    auto b = alignedRandom<T>(s.k * s.n, 2);
    auto c = alignedRandom<T>(s.m * s.n, 3);
    Args p;
    p.m = s.m;
    p.n = s.n;
    p.k = s.k;
    p.a = a.get();
    p.lda = s.k;
    p.b = b.get();
    p.ldb = s.n;
    p.c = c.get();
    p.ldc = s.n;
    p.accumulate = false;
    fn(p); // warm the caches and the packing buffers
    // Each benchmark iteration: a block of kernel calls, then a block of the peak loop of about
    // the same length, each timed on this thread's CPU clock. Blocks of 20 MFLOP (~0.25 ms at
    // peak) are long enough that the AVX units' power-up after scalar code (the reference
    // kernel) costs the peak block only a few percent.
    const double flopsPerCall = 2.0 * static_cast<double>(s.m * s.n * s.k);
    const std::int64_t callsPerBlock =
        std::max<std::int64_t>(1, static_cast<std::int64_t>(2e7 / flopsPerCall));
    const std::int64_t peakIterationsPerBlock = std::max<std::int64_t>(
        1, static_cast<std::int64_t>(flopsPerCall * static_cast<double>(callsPerBlock) /
                                     (2.0 * 8 * kChains)));
    double kernelSeconds = 0, peakSeconds = 0;
    std::int64_t calls = 0, peakIterations = 0;
    for (auto _ : state) {
        const double t0 = threadSeconds();
        for (std::int64_t i = 0; i < callsPerBlock; ++i) {
            fn(p);
            benchmark::DoNotOptimize(c.get());
            benchmark::ClobberMemory();
        }
        const double t1 = threadSeconds();
        std::int64_t iterations = peakIterationsPerBlock;
        benchmark::DoNotOptimize(iterations);
        benchmark::DoNotOptimize(fmaChains(iterations));
        const double t2 = threadSeconds();
        kernelSeconds += t1 - t0;
        peakSeconds += t2 - t1;
        calls += callsPerBlock;
        peakIterations += iterations;
    }
    const double rate = flopsPerCall * static_cast<double>(calls) / kernelSeconds;
    const double peak = 2.0 * 8 * kChains * static_cast<double>(peakIterations) / peakSeconds;
    state.counters["GFLOP/s"] = rate / 1e9;
    state.counters["peak_GFLOP/s"] = peak / 1e9;
    state.counters["fraction_of_peak"] = rate / (peak * peakScale);
}

} // namespace

int main(int argc, char** argv) {
    using namespace kpu::sim;
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;

    // The standalone peak comes first, for information; every gemm benchmark measures the peak
    // again, interleaved with its own kernel calls, for its fraction_of_peak.
    const TileKernels* avx2 = avx2Kernels();
    if (avx2 == nullptr) {
        benchmark::RegisterBenchmark("avx2_fma_peak", [](benchmark::State& state) {
            state.SkipWithError("this CPU lacks AVX2 or FMA (cpuid)");
            for (auto _ : state) {
            }
        });
    } else {
        benchmark::RegisterBenchmark("avx2_fma_peak/fp32", BM_Avx2FmaPeak);
    }

    const std::vector<Shape> shapes = {
        {32, 32, 32}, {64, 64, 64}, {64, 64, 256}, {37, 91, 53}, {128, 128, 128}};
    struct SgemmVariant {
        const char* name;
        GemmF32Fn fn;
        bool needsAvx2;
    };
    const std::vector<SgemmVariant> sgemms = {
        {"sgemm_ref", sgemmReference, false},
        {"sgemm_avx2_6x16", sgemmAvx2, true},
        // The same kernel with the B-panel policy forced, to show what packing costs or buys.
        {"sgemm_avx2_6x16.directB", sgemmAvx2Direct, true},
        {"sgemm_avx2_6x16.packedB", sgemmAvx2Packed, true},
    };
    for (const Shape& s : shapes) {
        for (const SgemmVariant& v : sgemms) {
            if (v.needsAvx2 && avx2 == nullptr)
                continue;
            benchmark::RegisterBenchmark((std::string(v.name) + "/" + shapeName(s)).c_str(),
                                         BM_Gemm<float, GemmF32Args>, v.fn, s, 1.0);
        }
    }
    if (avx2 != nullptr) {
        // fp64 for information: fraction_of_peak against half the fp32 peak.
        for (const Shape& s : {Shape{32, 32, 32}, Shape{64, 64, 64}, Shape{64, 64, 256}})
            benchmark::RegisterBenchmark(("dgemm_avx2_6x8/" + shapeName(s)).c_str(),
                                         BM_Gemm<double, GemmF64Args>, dgemmAvx2, s, 0.5);
    }

    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
