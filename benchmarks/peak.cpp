// bench_peak: the machine's FP32 FMA throughput, the physical limit the step benchmark's
// GFLOP/s are compared with. One JSON line per thread count:
//
//   {"threads":2,"peak_gflops":..,"isa":"avx512","triad_gbs":..}
//
//   bench_peak [--threads N[,N...]] [--ms MS] [--reps N] [--no-bandwidth] [--help]
//
// Each thread runs independent chains of vector FMAs on registers (enough accumulators to
// cover the FMA latency on every current x86 core), no memory traffic; a sample lasts
// --ms milliseconds (default 200) and the figure is the median of --reps samples
// (default 5) of total FLOPs / wall time. triad_gbs is the memory bandwidth of the same
// threads (a STREAM triad over 3 x 64 MiB, peak_fma.hpp), left out with --no-bandwidth. Built with -march=native
// (VAEGAN_NATIVE), it uses the widest FMA the compiler targets: AVX-512, else AVX2+FMA, else scalar fma(). Accepts
// --benchmark_list_tests like the Google Benchmark programs (prints the ISA).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "cli.hpp"       // examples/common/cli.hpp
#include "peak_fma.hpp"  // the measurements

int main(int argc, char** argv) {
  std::vector<std::int64_t> thread_list{1, 2};
  std::int64_t reps = 5;
  double ms = 200;
  bool list = false, no_bandwidth = false;
  cli::Parser p("bench_peak", "The machine's FP32 FMA peak, one JSON line per thread count.");
  p.add("threads", &thread_list, "thread counts");
  p.add("ms", &ms, "milliseconds per sample");
  p.add("reps", &reps, "samples per thread count; the median is reported");
  p.add_switch("no-bandwidth", &no_bandwidth, "leave out the memory bandwidth (about 1 s per thread count)");
  p.add_switch("benchmark_list_tests", &list, "print the ISA and exit, as in Google Benchmark programs");
  p.require([&] { return std::all_of(thread_list.begin(), thread_list.end(), [](std::int64_t t) { return t > 0; }); },
            "--threads needs positive integers");
  p.require([&] { return ms > 0; }, "--ms needs a positive number");
  p.require([&] { return reps > 0; }, "--reps needs a positive integer");
  p.parse(argc, argv);
  if (list) {
    std::printf("fma_peak/%s\n", vaegan_bench::kIsa);
    return 0;
  }
  std::vector<int> thread_counts(thread_list.begin(), thread_list.end());
#ifndef _OPENMP
  if (thread_counts.size() > 1 || thread_counts[0] > 1) thread_counts = {1};
#endif
  for (int threads : thread_counts) {
    std::printf("{\"threads\":%d,\"peak_gflops\":%.2f,\"isa\":\"%s\"", threads,
                vaegan_bench::fma_peak_gflops(threads, ms, static_cast<int>(reps)), vaegan_bench::kIsa);
    if (!no_bandwidth) std::printf(",\"triad_gbs\":%.1f", vaegan_bench::triad_bandwidth_gbs(threads));
    std::printf("}\n");
    std::fflush(stdout);
  }
  return 0;
}
