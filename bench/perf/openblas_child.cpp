#include "openblas_child.h"

#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#ifdef KPU_PERF_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace kpu::perf {

bool haveOpenBlas() {
#ifdef KPU_PERF_HAVE_OPENBLAS
    return true;
#else
    return false;
#endif
}

int openBlasChild(int n) {
#ifdef KPU_PERF_HAVE_OPENBLAS
    if (n <= 0)
        return 2;
    const std::size_t count = static_cast<std::size_t>(n) * static_cast<std::size_t>(n);
    std::vector<float> a(count), b(count), c(count);
    std::mt19937 gen(1);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    for (std::size_t i = 0; i < count; ++i) {
        a[i] = dist(gen);
        b[i] = dist(gen);
    }
    auto multiply = [&] {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(),
                    n, 0.0f, c.data(), n);
    };
    multiply(); // warm-up: page faults, packing buffers, the thread server
    const auto start = std::chrono::steady_clock::now();
    multiply();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("seconds %.9g core %s threads %d check %g\n", seconds, openblas_get_corename(),
                openblas_get_num_threads(), static_cast<double>(c[count / 2]));
    return 0;
#else
    (void)n;
    std::fprintf(stderr, "kpu-perf: built without OpenBLAS\n");
    return 3;
#endif
}

} // namespace kpu::perf
