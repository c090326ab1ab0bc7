// bench_peak: the machine's FP32 FMA throughput, the physical limit the step benchmark's
// GFLOP/s are compared with. One JSON line per thread count:
//
//   {"threads":2,"peak_gflops":..,"isa":"avx512"}
//
//   bench_peak [--threads N[,N...]] [--ms MS] [--reps N] [--help]
//
// Each thread runs independent chains of vector FMAs on registers (enough accumulators to
// cover the FMA latency on every current x86 core), no memory traffic; a sample lasts
// --ms milliseconds (default 200) and the figure is the median of --reps samples
// (default 5) of total FLOPs / wall time. Built with -march=native (VAEGAN_NATIVE), it
// uses the widest FMA the compiler targets: AVX-512, else AVX2+FMA, else scalar fma().
// Accepts --benchmark_list_tests like the Google Benchmark programs (prints the ISA).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#if defined(__AVX512F__) || defined(__FMA__)
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cli.hpp"  // examples/common/cli.hpp

namespace {

constexpr int kAccumulators = 12;  // > latency (4) x FMA ports (2) on Zen 4 / Ice Lake

#if defined(__AVX512F__)
constexpr const char* kIsa = "avx512";
constexpr int kLanes = 16;
// Runs `iters` rounds of kAccumulators independent FMAs; returns a value so nothing is
// optimised away.
float fma_loop(long iters) {
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
float fma_loop(long iters) {
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
float fma_loop(long iters) {
  float acc[kAccumulators];
  for (int i = 0; i < kAccumulators; ++i) acc[i] = static_cast<float>(i) * 1e-3f;
  for (long n = 0; n < iters; ++n)
    for (int i = 0; i < kAccumulators; ++i) acc[i] = __builtin_fmaf(acc[i], 0.999999f, 1e-7f);
  float total = 0;
  for (float v : acc) total += v;
  return total;
}
#endif

volatile float g_sink = 0;

// GFLOP/s of `threads` threads each running `iters` rounds.
double sample(int threads, long iters) {
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

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::int64_t> thread_list{1, 2};
  std::int64_t reps = 5;
  double ms = 200;
  bool list = false;
  cli::Parser p("bench_peak", "The machine's FP32 FMA peak, one JSON line per thread count.");
  p.add("threads", &thread_list, "thread counts");
  p.add("ms", &ms, "milliseconds per sample");
  p.add("reps", &reps, "samples per thread count; the median is reported");
  p.add_switch("benchmark_list_tests", &list, "print the ISA and exit, as in Google Benchmark programs");
  p.require([&] { return std::all_of(thread_list.begin(), thread_list.end(), [](std::int64_t t) { return t > 0; }); },
            "--threads needs positive integers");
  p.require([&] { return ms > 0; }, "--ms needs a positive number");
  p.require([&] { return reps > 0; }, "--reps needs a positive integer");
  p.parse(argc, argv);
  if (list) {
    std::printf("fma_peak/%s\n", kIsa);
    return 0;
  }
  std::vector<int> thread_counts(thread_list.begin(), thread_list.end());
#ifndef _OPENMP
  if (thread_counts.size() > 1 || thread_counts[0] > 1) thread_counts = {1};
#endif
  for (int threads : thread_counts) {
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
    sample(threads, iters / 10);  // wake the team
    std::vector<double> gflops;
    for (int r = 0; r < reps; ++r) gflops.push_back(sample(threads, iters));
    std::sort(gflops.begin(), gflops.end());
    std::printf("{\"threads\":%d,\"peak_gflops\":%.2f,\"isa\":\"%s\"}\n", threads, gflops[gflops.size() / 2], kIsa);
    std::fflush(stdout);
  }
  return 0;
}
