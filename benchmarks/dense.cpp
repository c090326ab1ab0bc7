// bench_dense: Google Benchmark micro-benchmarks of the Dense layer kernels, each next to
// plain OpenBLAS cblas_sgemm calls of the same GEMMs, for every Dense shape of the `mlp`
// preset at batch 64 and 256 on 1 and 2 threads (see dense_workload.hpp for the work).
//
//   BM_DenseForward           tape.reset() + relu(x W + b) through the fused linear op
//   BM_DenseBackward          tape.backward() over one recording of that forward + sum()
//   BM_DenseForwardBackward   both, as one training step runs them
//   BM_Sgemm{Forward,Backward,ForwardBackward}   the same GEMMs, nothing else
//
// FLOPS is a rate counter of the GEMMs' floating-point operations per wall-clock second.
// Wall-clock time because the work runs on OpenMP / OpenBLAS threads the CPU-time clock
// of the benchmark thread does not see. Each benchmark runs 5 repetitions and reports
// their mean, median and spread unless --benchmark_repetitions / --benchmark_report_aggregates_only
// say otherwise. bench_dense_compare prints the side-by-side table with ratios.
//
// One flag of its own besides Google Benchmark's: --pin gives every thread its own CPU
// (Linux; see thread_pinning.hpp), for a machine that other processes keep busy.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "dense_workload.hpp"
#include "thread_pinning.hpp"

namespace {

using vaegan_bench::Index;
using vaegan_bench::Pass;

// Args of every benchmark: in, out, batch, threads.
void mlp_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"in", "out", "batch", "threads"});
  for (int threads : vaegan_bench::mlp_threads())
    for (Index batch : vaegan_bench::mlp_batches())
      for (const vaegan_bench::MlpLayer& layer : vaegan_bench::mlp_layers())
        b->Args({layer.in, layer.out, batch, threads});
}

struct Config {
  Index in, out, batch;
  int threads;
};

// Reads the args, sets both libraries' thread counts and labels the run with its layers.
Config setup(benchmark::State& state) {
  const Config c{state.range(0), state.range(1), state.range(2), static_cast<int>(state.range(3))};
  vaegan_bench::set_threads(c.threads);
  for (const vaegan_bench::MlpLayer& layer : vaegan_bench::mlp_layers())
    if (layer.in == c.in && layer.out == c.out) state.SetLabel(layer.layers);
  return c;
}

void report_flops(benchmark::State& state, Pass pass, const Config& c) {
  state.counters["FLOPS"] = benchmark::Counter(vaegan_bench::gemm_flops(pass, c.batch, c.in, c.out),
                                               benchmark::Counter::kIsIterationInvariantRate);
}

void BM_DenseForward(benchmark::State& state) {
  const Config c = setup(state);
  vaegan_bench::DenseLayerRun run(c.batch, c.in, c.out);
  run.forward();  // first recording sizes the tape's buffers and the GEMM packing buffers
  for (auto _ : state) {
    vaegan::Var<float> y = run.forward();
    benchmark::DoNotOptimize(y.node().value);
    benchmark::ClobberMemory();
  }
  report_flops(state, Pass::forward, c);
}

void BM_DenseBackward(benchmark::State& state) {
  const Config c = setup(state);
  vaegan_bench::DenseLayerRun run(c.batch, c.in, c.out);
  run.record();
  run.backward();
  for (auto _ : state) {
    run.backward();
    benchmark::DoNotOptimize(run.input_grad());
    benchmark::ClobberMemory();
  }
  report_flops(state, Pass::backward, c);
}

void BM_DenseForwardBackward(benchmark::State& state) {
  const Config c = setup(state);
  vaegan_bench::DenseLayerRun run(c.batch, c.in, c.out);
  run.forward_backward();
  for (auto _ : state) {
    benchmark::DoNotOptimize(run.forward_backward());
    benchmark::ClobberMemory();
  }
  report_flops(state, Pass::forward_backward, c);
}

void BM_SgemmForward(benchmark::State& state) {
  const Config c = setup(state);
  vaegan_bench::GemmLayerRun run(vaegan_bench::GemmBackend::openblas, c.batch, c.in, c.out);
  run.forward();
  for (auto _ : state) {
    benchmark::DoNotOptimize(run.forward());
    benchmark::ClobberMemory();
  }
  report_flops(state, Pass::forward, c);
}

void BM_SgemmBackward(benchmark::State& state) {
  const Config c = setup(state);
  vaegan_bench::GemmLayerRun run(vaegan_bench::GemmBackend::openblas, c.batch, c.in, c.out);
  run.backward();
  for (auto _ : state) {
    run.backward();
    benchmark::DoNotOptimize(run.input_grad());
    benchmark::ClobberMemory();
  }
  report_flops(state, Pass::backward, c);
}

void BM_SgemmForwardBackward(benchmark::State& state) {
  const Config c = setup(state);
  vaegan_bench::GemmLayerRun run(vaegan_bench::GemmBackend::openblas, c.batch, c.in, c.out);
  run.forward_backward();
  for (auto _ : state) {
    run.forward_backward();
    benchmark::DoNotOptimize(run.input_grad());
    benchmark::ClobberMemory();
  }
  report_flops(state, Pass::forward_backward, c);
}

}  // namespace

BENCHMARK(BM_DenseForward)->Apply(mlp_args)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SgemmForward)->Apply(mlp_args)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_DenseBackward)->Apply(mlp_args)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SgemmBackward)->Apply(mlp_args)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_DenseForwardBackward)->Apply(mlp_args)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SgemmForwardBackward)->Apply(mlp_args)->UseRealTime()->Unit(benchmark::kMicrosecond);

int main(int argc, char** argv) {
  // Repetitions by default, so the report has medians. The defaults go first: Google
  // Benchmark parses flags in order, so the same flag on the command line wins.
  static char repetitions[] = "--benchmark_repetitions=5";
  static char aggregates_only[] = "--benchmark_report_aggregates_only=true";
  std::vector<char*> args{argv[0], repetitions, aggregates_only};
  bool pin = false;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--pin") pin = true;
    else args.push_back(argv[i]);
  }
  int count = static_cast<int>(args.size());
  args.push_back(nullptr);

  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;
  if (pin) {
    const std::vector<int>& threads = vaegan_bench::mlp_threads();
    try {
      benchmark::AddCustomContext(
          "pinning", vaegan_bench::pin_benchmark_threads(*std::max_element(threads.begin(), threads.end())));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_dense: %s\n", e.what());
      return 1;
    }
  }
  benchmark::AddCustomContext("openblas", vaegan_bench::openblas_config());
  benchmark::AddCustomContext("eigen", std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) +
                                           "." + std::to_string(EIGEN_MINOR_VERSION) + " (" +
                                           Eigen::SimdInstructionSetsInUse() + ")");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
