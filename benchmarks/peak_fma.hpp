#pragma once
// The machine's limits the benchmarks compare with, measured in the same run:
// fma_peak_gflops (FP32 FMA throughput: independent chains of vector FMAs on registers,
// no memory traffic) and triad_bandwidth_gbs (a[i] = b[i] + s c[i] over arrays far larger
// than the caches: the memory bandwidth a streaming phase can use). Used by bench_peak
// and by bench_step --profile.
#include <algorithm>
#include <chrono>
#include <vector>

#if defined(__AVX512F__) || defined(__FMA__)
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

namespace vaegan_bench {

constexpr int kAccumulators = 12;  // > latency (4) x FMA ports (2) on Zen 4 / Ice Lake

#if defined(__AVX512F__)
constexpr const char* kIsa = "avx512";
constexpr int kLanes = 16;
// Runs `iters` rounds of kAccumulators independent FMAs; returns a value so nothing is
// optimised away.
inline float fma_loop(long iters) {
  __m512 acc[kAccumulators];
  for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i) * 1e-3f);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (long n = 0; n < iters; ++n)
    for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  __m512 sum = acc[0];
  for (int i = 1; i < kAccumulators; ++i) sum = _mm512_add_ps(sum, acc[i]);
  return _mm512_reduce_add_ps(sum);
}
#elif defined(__FMA__)
constexpr const char* kIsa = "avx2-fma";
constexpr int kLanes = 8;
inline float fma_loop(long iters) {
  __m256 acc[kAccumulators];
  for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i) * 1e-3f);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (long n = 0; n < iters; ++n)
    for (int i = 0; i < kAccumulators; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  __m256 sum = acc[0];
  for (int i = 1; i < kAccumulators; ++i) sum = _mm256_add_ps(sum, acc[i]);
  float lanes[8];
  _mm256_storeu_ps(lanes, sum);
  float total = 0;
  for (float v : lanes) total += v;
  return total;
}
#else
constexpr const char* kIsa = "scalar";
constexpr int kLanes = 1;
inline float fma_loop(long iters) {
  float acc[kAccumulators];
  for (int i = 0; i < kAccumulators; ++i) acc[i] = static_cast<float>(i) * 1e-3f;
  for (long n = 0; n < iters; ++n)
    for (int i = 0; i < kAccumulators; ++i) acc[i] = __builtin_fmaf(acc[i], 0.999999f, 1e-7f);
  float total = 0;
  for (float v : acc) total += v;
  return total;
}
#endif

inline volatile float g_sink = 0;

// GFLOP/s of `threads` threads each running `iters` rounds.
inline double fma_sample(int threads, long iters) {
  const auto t0 = std::chrono::steady_clock::now();
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
#endif
  {
    const float r = fma_loop(iters);
#ifdef _OPENMP
#pragma omp critical
#endif
    g_sink = g_sink + r;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double flops = 2.0 * kLanes * kAccumulators * static_cast<double>(iters) * threads;
  return flops / s / 1e9;
}

// The median over `reps` samples of about `ms` milliseconds each, in GFLOP/s.
inline double fma_peak_gflops(int threads, double ms = 200, int reps = 5) {
  // Calibrate the round count so one sample lasts about `ms`.
  long iters = 1 << 16;
  while (true) {
    const auto t0 = std::chrono::steady_clock::now();
    g_sink = g_sink + fma_loop(iters);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s > 0.02) {
      iters = static_cast<long>(static_cast<double>(iters) * (ms * 1e-3 / s));
      break;
    }
    iters *= 2;
  }
  fma_sample(threads, iters / 10);  // wake the team
  std::vector<double> gflops;
  for (int r = 0; r < reps; ++r) gflops.push_back(fma_sample(threads, iters));
  std::sort(gflops.begin(), gflops.end());
  return gflops[gflops.size() / 2];
}

// The median over `reps` triads a = b + s c of 3 x 64 MiB (12 bytes per element: two
// reads and a write; write-allocate traffic not counted, as STREAM does), in GB/s.
inline double triad_bandwidth_gbs(int threads, int reps = 7) {
  const long n = 1L << 24;
  std::vector<float> a(static_cast<std::size_t>(n), 0.f), b(static_cast<std::size_t>(n), 1.f),
      c(static_cast<std::size_t>(n), 2.f);
  std::vector<double> gbs;
  for (int r = 0; r <= reps; ++r) {
    const float s = 0.5f + static_cast<float>(r);
    const auto t0 = std::chrono::steady_clock::now();
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
    for (long i = 0; i < n; ++i)
      a[static_cast<std::size_t>(i)] = b[static_cast<std::size_t>(i)] + s * c[static_cast<std::size_t>(i)];
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r > 0) gbs.push_back(12.0 * static_cast<double>(n) / sec / 1e9);  // the first touches the pages
  }
  g_sink = g_sink + a[static_cast<std::size_t>(n / 2)];
  std::sort(gbs.begin(), gbs.end());
  return gbs[gbs.size() / 2];
}

}  // namespace vaegan_bench
