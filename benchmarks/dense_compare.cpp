// bench_dense_compare: the Dense-vs-sgemm summary table. For every Dense shape of the
// `mlp` preset, batch size and thread count it times vaegan's layer (forward, backward,
// forward+backward; see dense_workload.hpp) and plain cblas_sgemm calls of the same GEMMs,
// then prints a Markdown table of GFLOP/s and the ratio vaegan / sgemm, plus the whole
// preset (all 10 Dense layers, each shape weighted by how many layers have it). A last
// column times vaegan's bare detail::gemm on the forward+backward GEMMs against the same
// sgemm calls: the part of the gap that is the GEMM kernel, not the layer around it.
//
// The two sides are timed alternately (ABBA order; see compare()), so that load from other
// processes on a shared machine falls on both alike; each ratio is the median of the
// per-pair ratios, with its quartiles to show the noise.
//
//   bench_dense_compare [--reps N] [--sample-ms MS] [--threads 1,2] [--batches 64,256]
//                       [--clock wall|cpu] [--pin] [--list] [--help]
//
// --clock cpu times with the benchmark thread's CPU-time clock instead of the wall clock:
// on a machine shared with other busy processes it leaves out the time the thread was
// preempted. Only for --threads 1, where all the work runs on that thread.
// --pin gives every thread its own CPU (see thread_pinning.hpp): on a busy machine it
// keeps the scheduler from stacking a worker thread onto the CPU of its waiting caller.
//
// Not a Google Benchmark program (bench_dense is): the interleaving and the table are the
// point here. It accepts --benchmark_list_tests like one, as a synonym of --list.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "cli.hpp"  // examples/common/cli.hpp
#include "dense_workload.hpp"
#include "thread_pinning.hpp"

namespace {

using vaegan_bench::Index;
using vaegan_bench::Pass;
enum class ClockKind { wall, cpu };

struct Options {
  int reps = 21;            // samples per side; medians and quartiles are taken over these
  double sample_ms = 10.0;  // each sample runs enough calls to last about this long
  std::vector<int> threads = vaegan_bench::mlp_threads();
  std::vector<Index> batches = vaegan_bench::mlp_batches();
  ClockKind clock = ClockKind::wall;
  bool pin = false;
  bool list = false;
};

Options parse_options(int argc, char** argv) {
  Options o;
  std::int64_t reps = o.reps;
  std::vector<std::int64_t> threads(o.threads.begin(), o.threads.end());
  std::vector<std::int64_t> batches(o.batches.begin(), o.batches.end());
  std::string clock = "wall";
  cli::Parser p("bench_dense_compare",
                "The Dense-vs-sgemm summary table of the `mlp` preset (see the comment at the top of\n"
                "benchmarks/dense_compare.cpp).");
  p.add("reps", &reps, "timed samples per side and configuration (at least 3)");
  p.add("sample-ms", &o.sample_ms, "length of one sample in milliseconds");
  p.add("threads", &threads, "thread counts for vaegan and OpenBLAS");
  p.add("batches", &batches, "batch sizes");
  p.add("clock", &clock, "wall, or cpu: the thread's CPU time, for --threads 1 on a busy machine");
  p.add_switch("pin", &o.pin, "one CPU per thread (Linux), for a machine other processes keep busy");
  p.add_switch("list", &o.list, "print the configurations and exit");
  p.add_switch("benchmark_list_tests", &o.list, "the same as --list, as in Google Benchmark programs");
  p.require([&] { return reps >= 3; },
            [&] { return "--reps: need at least 3 samples for quartiles, got " + std::to_string(reps); });
  p.require([&] { return o.sample_ms > 0; }, "--sample-ms: expected a positive number of milliseconds");
  p.require([&] { return std::all_of(threads.begin(), threads.end(), [](std::int64_t t) { return t >= 1; }); },
            "--threads: expected a comma-separated list of positive integers");
  p.require([&] { return std::all_of(batches.begin(), batches.end(), [](std::int64_t b) { return b >= 1; }); },
            "--batches: expected a comma-separated list of positive integers");
  p.require([&] { return clock == "wall" || clock == "cpu"; },
            [&] { return "--clock: expected 'wall' or 'cpu', got '" + clock + "'"; });
  p.require([&] { return clock == "wall" || (threads.size() == 1 && threads[0] == 1); },
            "--clock cpu measures one thread's CPU time: use it with --threads 1");
  p.parse(argc, argv);
  o.reps = static_cast<int>(reps);
  o.threads.assign(threads.begin(), threads.end());
  o.batches.assign(batches.begin(), batches.end());
  o.clock = clock == "cpu" ? ClockKind::cpu : ClockKind::wall;
  return o;
}

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const std::size_t lo = static_cast<std::size_t>(pos);
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

double now_seconds(ClockKind clock) {
  if (clock == ClockKind::cpu) {
#ifdef CLOCK_THREAD_CPUTIME_ID
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
#else
    throw vaegan::Error("--clock cpu: this platform has no per-thread CPU-time clock");
#endif
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Seconds per call of f, over `calls` calls.
double time_per_call(const std::function<void()>& f, long calls, ClockKind clock) {
  const double start = now_seconds(clock);
  for (long c = 0; c < calls; ++c) {
    f();
    benchmark::ClobberMemory();
  }
  return (now_seconds(clock) - start) / static_cast<double>(calls);
}

// How many calls make one sample of about `ms` milliseconds (after a warm-up call).
long calls_per_sample(const std::function<void()>& f, double ms, ClockKind clock) {
  f();
  long calls = 1;
  for (;;) {
    const double t = time_per_call(f, calls, clock) * static_cast<double>(calls);
    if (t * 1e3 >= ms / 4 || calls >= (1L << 24)) return std::max(1L, static_cast<long>(calls * ms / 1e3 / t));
    calls *= 4;
  }
}

struct Comparison {
  double ours_seconds = 0;   // median seconds per call
  double sgemm_seconds = 0;  // median seconds per call
  double ratio = 0;          // median of the paired ratios ours GFLOP/s / sgemm GFLOP/s
  double ratio_q1 = 0, ratio_q3 = 0;
};

// How long the other side's idle worker threads may keep a core busy after its last call.
// Measured on the machine of docs/benchmarks.md: OpenBLAS's workers spin for about 100 ms
// (its default thread timeout), libgomp's for about 10 ms.
constexpr std::chrono::milliseconds kPoolSettle{150};

// Times `ours` and `sgemm`, `reps` samples each, alternating in blocks in the order
// A B B A A B ... so that slow drifts in the machine's load fall on both sides alike. On
// one thread a block is one sample. With more threads the two libraries' thread pools
// would take cores from each other (see kPoolSettle), so each side runs a third of its
// samples at a time, after a pause and one untimed call that wakes its workers.
Comparison compare(const std::function<void()>& ours, const std::function<void()>& sgemm, int threads,
                   const Options& o) {
  const bool pools = threads > 1;
  const long ours_calls = calls_per_sample(ours, o.sample_ms, o.clock);
  const long sgemm_calls = calls_per_sample(sgemm, o.sample_ms, o.clock);
  const int block = pools ? (o.reps + 2) / 3 : 1;
  std::vector<double> t_ours(static_cast<std::size_t>(o.reps)), t_sgemm(t_ours.size());
  auto run_block = [&](bool side_ours, int first, int count) {
    const std::function<void()>& f = side_ours ? ours : sgemm;
    if (pools) {
      std::this_thread::sleep_for(kPoolSettle);
      f();
    }
    for (int i = first; i < first + count; ++i) {
      const std::size_t at = static_cast<std::size_t>(i);
      if (side_ours) t_ours[at] = time_per_call(ours, ours_calls, o.clock);
      else t_sgemm[at] = time_per_call(sgemm, sgemm_calls, o.clock);
    }
  };
  for (int first = 0, b = 0; first < o.reps; first += block, ++b) {
    const int count = std::min(block, o.reps - first);
    run_block(b % 2 == 0, first, count);
    run_block(b % 2 != 0, first, count);
  }
  // Same flops on both sides: the rate ratio is the inverse time ratio.
  std::vector<double> ratios;
  for (std::size_t i = 0; i < t_ours.size(); ++i) ratios.push_back(t_sgemm[i] / t_ours[i]);
  return {quantile(t_ours, 0.5), quantile(t_sgemm, 0.5), quantile(ratios, 0.5), quantile(ratios, 0.25),
          quantile(ratios, 0.75)};
}

struct Row {
  const vaegan_bench::MlpLayer* layer;
  Index batch;
  Comparison pass[3];    // forward, backward, forward+backward
  Comparison gemm_only;  // forward+backward GEMMs: detail::gemm vs sgemm
};

constexpr Pass kPasses[3] = {Pass::forward, Pass::backward, Pass::forward_backward};

Row measure(const vaegan_bench::MlpLayer& layer, Index batch, int threads, const Options& o) {
  Row row{&layer, batch, {}, {}};
  vaegan_bench::DenseLayerRun dense(batch, layer.in, layer.out);
  vaegan_bench::GemmLayerRun sgemm(vaegan_bench::GemmBackend::openblas, batch, layer.in, layer.out);
  vaegan_bench::GemmLayerRun gemm(vaegan_bench::GemmBackend::vaegan, batch, layer.in, layer.out);
  row.pass[0] = compare([&] { benchmark::DoNotOptimize(dense.forward().node().value); },
                        [&] { benchmark::DoNotOptimize(sgemm.forward()); }, threads, o);
  dense.record();
  row.pass[1] = compare([&] { dense.backward(); }, [&] { sgemm.backward(); }, threads, o);
  row.pass[2] = compare([&] { benchmark::DoNotOptimize(dense.forward_backward()); }, [&] { sgemm.forward_backward(); },
                        threads, o);
  row.gemm_only = compare([&] { gemm.forward_backward(); }, [&] { sgemm.forward_backward(); }, threads, o);
  return row;
}

double gflops(double flops, double seconds) { return flops / seconds * 1e-9; }

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  return "unknown CPU";
}

void print_table(int threads, const std::vector<Row>& rows) {
  std::printf("\n### %d thread%s\n\n", threads, threads == 1 ? "" : "s");
  std::printf(
      "| layers | in -> out | batch | fwd vaegan | fwd sgemm | fwd ratio | bwd vaegan | bwd sgemm | bwd ratio | "
      "f+b vaegan | f+b sgemm | f+b ratio [q1, q3] | f+b GEMMs only |\n");
  std::printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|\n");
  for (const Row& r : rows) {
    std::printf("| %s | %td -> %td | %td", r.layer->layers, r.layer->in, r.layer->out, r.batch);
    for (int p = 0; p < 3; ++p) {
      const double f = vaegan_bench::gemm_flops(kPasses[p], r.batch, r.layer->in, r.layer->out);
      const Comparison& c = r.pass[p];
      std::printf(" | %.1f | %.1f | ", gflops(f, c.ours_seconds), gflops(f, c.sgemm_seconds));
      if (p < 2) std::printf("%.2f", c.ratio);
      else std::printf("**%.2f** [%.2f, %.2f]", c.ratio, c.ratio_q1, c.ratio_q3);
    }
    std::printf(" | %.2f |\n", r.gemm_only.ratio);
  }
  // The whole preset: every Dense layer once, from the per-shape medians.
  std::vector<Index> batches;
  for (const Row& r : rows)
    if (std::find(batches.begin(), batches.end(), r.batch) == batches.end()) batches.push_back(r.batch);
  for (Index batch : batches) {
    std::printf("| **mlp preset, all %d Dense layers** | | %td", vaegan_bench::mlp_dense_layer_count(), batch);
    for (int p = 0; p < 3; ++p) {
      double flops = 0, ours_time = 0, sgemm_time = 0;
      for (const Row& r : rows) {
        if (r.batch != batch) continue;
        flops += r.layer->count * vaegan_bench::gemm_flops(kPasses[p], batch, r.layer->in, r.layer->out);
        ours_time += r.layer->count * r.pass[p].ours_seconds;
        sgemm_time += r.layer->count * r.pass[p].sgemm_seconds;
      }
      const char* bold = p == 2 ? "**" : "";
      std::printf(" | %.1f | %.1f | %s%.2f%s", gflops(flops, ours_time), gflops(flops, sgemm_time), bold,
                  sgemm_time / ours_time, bold);
    }
    double gemm_time = 0, sgemm_time = 0;
    for (const Row& r : rows) {
      if (r.batch != batch) continue;
      gemm_time += r.layer->count * r.gemm_only.ours_seconds;
      sgemm_time += r.layer->count * r.gemm_only.sgemm_seconds;
    }
    std::printf(" | %.2f |\n", sgemm_time / gemm_time);
  }
}

}  // namespace

int main(int argc, char** argv) try {
  const Options o = parse_options(argc, argv);
  if (o.list) {
    for (int t : o.threads)
      for (Index b : o.batches)
        for (const auto& l : vaegan_bench::mlp_layers())
          std::printf("dense_compare/in:%td/out:%td/batch:%td/threads:%d\n", l.in, l.out, b, t);
    return EXIT_SUCCESS;
  }

  std::string pinning = "threads not pinned";
  if (o.pin) pinning = vaegan_bench::pin_benchmark_threads(*std::max_element(o.threads.begin(), o.threads.end()));

  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M", std::localtime(&now));
  std::printf("## Dense layer vs cblas_sgemm, `mlp` preset\n\n");
  std::printf("- %s, %s; CPU: %s\n", date, vaegan_bench::openblas_config().c_str(), cpu_model().c_str());
  std::printf("- Eigen %d.%d.%d (%s); %d samples of ~%.0f ms per side, alternating; %s clock\n", EIGEN_WORLD_VERSION,
              EIGEN_MAJOR_VERSION, EIGEN_MINOR_VERSION, Eigen::SimdInstructionSetsInUse(), o.reps, o.sample_ms,
              o.clock == ClockKind::cpu ? "thread CPU-time" : "wall");
  std::printf("- %s\n", pinning.c_str());
  std::printf("- GFLOP/s of the GEMMs (median sample); ratio = vaegan / sgemm, median of paired samples\n");
  std::fflush(stdout);

  for (int threads : o.threads) {
    vaegan_bench::set_threads(threads);
    std::vector<Row> rows;
    for (Index batch : o.batches)
      for (const auto& layer : vaegan_bench::mlp_layers()) rows.push_back(measure(layer, batch, threads, o));
    print_table(threads, rows);
    std::fflush(stdout);
  }
  return EXIT_SUCCESS;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_dense_compare: %s\n", e.what());
  return EXIT_FAILURE;
}
