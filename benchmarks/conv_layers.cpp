// bench_conv_layers: forward + backward of each convolution and batch-norm layer of the
// `conv` preset (docs/reference-workloads.md), one layer at a time, one JSON line per
// configuration:
//
//   {"impl":"vaegan","layer":"conv2","batch":64,"threads":1,"reps":50,"clock":"wall",
//    "median_ms":..,"min_ms":..,"max_ms":..,"flops":..,"gflops":..}
//
//   bench_conv_layers [--layer L[,L...]] [--batch N[,N...]] [--threads N[,N...]]
//                     [--reps N] [--warmup N] [--clock wall|cpu] [--pin] [--list]
//
// Layers (names shared with benchmarks/reference/conv_layers_torch.py):
//   conv1   Conv2d(1->32, k4 s2 p1)            [N, 1, 28, 28] -> [N, 32, 14, 14]  (no input gradient)
//   conv2   Conv2d(32->64, k4 s2 p1)           [N, 32, 14, 14] -> [N, 64, 7, 7]
//   convt1  ConvTranspose2d(64->32, k4 s2 p1)  [N, 64, 7, 7] -> [N, 32, 14, 14]
//   convt2  ConvTranspose2d(32->1, k4 s2 p1)   [N, 32, 14, 14] -> [N, 1, 28, 28]
//   bn64    BatchNorm2d(64), training mode     [N, 64, 7, 7]
//   bn32    BatchNorm2d(32), training mode     [N, 32, 14, 14]
//   bn3136  BatchNorm1d(3136), training mode   [N, 3136]
//
// One timed repetition is one whole layer step as a network runs it: tape.reset(), the
// layer's forward on a fixed input, and a backward pass that computes the gradients of
// the layer's weight and bias (in the parameter set's overwrite mode, as the trainers run
// it) and of its input (written, not added: as for an earlier layer's output), except for
// conv1, whose input is the image (PyTorch skips that gradient too). The output gradient
// is a fixed random tensor handed to the layer as the next layer's backward would leave it
// (no copy, no loss op). The input is a view of a fixed buffer (no copy either). Each repetition is timed alone;
// median, min and max are over the --reps timed ones, after --warmup untimed ones.
//
// --clock cpu times with the calling thread's CPU-time clock (1 thread only), which leaves
// out the time the thread was preempted on a busy machine. flops counts the multiply-adds
// of the convolution (2 FLOPs each; forward, weight gradient and, where computed, input
// gradient), 0 for batch norm. --benchmark_list_tests lists the configurations, for the
// CTest smoke test.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include <vaegan/vaegan.hpp>

#include "cli.hpp"  // examples/common/cli.hpp
#include "thread_pinning.hpp"

namespace {

using vaegan::Index;
using vaegan::Shape;

struct LayerSpec {
  const char* name;
  const char* description;
  enum Kind { conv, conv_transpose, bn2d, bn1d } kind;
  Index in, out, height, width;  // channels (features for bn1d) and the input's spatial size
  bool input_grad;
};

const std::vector<LayerSpec>& layer_specs() {
  static const std::vector<LayerSpec> specs = {
      {"conv1", "Conv2d(1->32, k4 s2 p1) [N,1,28,28]", LayerSpec::conv, 1, 32, 28, 28, false},
      {"conv2", "Conv2d(32->64, k4 s2 p1) [N,32,14,14]", LayerSpec::conv, 32, 64, 14, 14, true},
      {"convt1", "ConvTranspose2d(64->32, k4 s2 p1) [N,64,7,7]", LayerSpec::conv_transpose, 64, 32, 7, 7, true},
      {"convt2", "ConvTranspose2d(32->1, k4 s2 p1) [N,32,14,14]", LayerSpec::conv_transpose, 32, 1, 14, 14, true},
      {"bn64", "BatchNorm2d(64) [N,64,7,7]", LayerSpec::bn2d, 64, 64, 7, 7, true},
      {"bn32", "BatchNorm2d(32) [N,32,14,14]", LayerSpec::bn2d, 32, 32, 14, 14, true},
      {"bn3136", "BatchNorm1d(3136) [N,3136]", LayerSpec::bn1d, 3136, 3136, 1, 1, true},
  };
  return specs;
}

const LayerSpec* find_spec(const std::string& name) {
  for (const LayerSpec& s : layer_specs())
    if (name == s.name) return &s;
  return nullptr;
}

// Multiply-adds x 2 of one forward + backward of a convolution layer.
double conv_flops(const LayerSpec& s, Index batch) {
  if (s.kind != LayerSpec::conv && s.kind != LayerSpec::conv_transpose) return 0.0;
  // The product both kinds share: in x out x k^2 per position of the smaller image.
  const Index small_positions = s.kind == LayerSpec::conv ? (s.height / 2) * (s.width / 2) : s.height * s.width;
  const double one = 2.0 * static_cast<double>(batch * small_positions * s.in * s.out * 16);
  return one * (s.input_grad ? 3.0 : 2.0);
}

// The loss node of the benchmark: its backward hands the fixed output gradient (the node's
// value pointer, which views the benchmark's dy buffer) to its input without a copy.
template <class T>
void hand_output_gradient(vaegan::Tape<T>& tape, vaegan::Node<T>& n) {
  vaegan::Node<T>& y = tape.input(n, 0);
  y.grad = n.value;
  y.grad_set = true;
  y.grad_rows_begin = 0;
  y.grad_rows_end = y.shape.rows();
}

// One layer on its own tape, its parameters in `params_`, its input in `inputs_`.
class LayerRun {
 public:
  LayerRun(const LayerSpec& spec, Index batch) : spec_(spec), params_("layer"), inputs_("upstream") {
    vaegan::Rng rng(1);
    Shape sample;
    switch (spec.kind) {
      case LayerSpec::conv:
        layer_ = std::make_unique<vaegan::Conv2d<float>>(spec.in, spec.out, 4, 2, 1);
        sample = Shape{spec.in, spec.height, spec.width};
        break;
      case LayerSpec::conv_transpose:
        layer_ = std::make_unique<vaegan::ConvTranspose2d<float>>(spec.in, spec.out, 4, 2, 1);
        sample = Shape{spec.in, spec.height, spec.width};
        break;
      case LayerSpec::bn2d:
        layer_ = std::make_unique<vaegan::BatchNorm2d<float>>(spec.in);
        sample = Shape{spec.in, spec.height, spec.width};
        break;
      case LayerSpec::bn1d:
        layer_ = std::make_unique<vaegan::BatchNorm1d<float>>(spec.in);
        sample = Shape{spec.in};
        break;
    }
    layer_->bind(params_, "layer.");
    layer_->reset_parameters(rng);
    Shape x_shape = sample;
    x_shape = sample.rank() == 3 ? Shape{batch, sample[0], sample[1], sample[2]} : Shape{batch, sample[0]};
    inputs_.add("x", x_shape);
    // Pixels in [0, 1) for the image, N(0, 1) activations elsewhere.
    if (spec.input_grad) rng.fill_normal(inputs_.value_ptr(0), x_shape.numel());
    else rng.fill_uniform(inputs_.value_ptr(0), x_shape.numel(), 0.0, 1.0);
    const Shape y_sample = layer_->output_shape(sample);
    dy_.resize(static_cast<std::size_t>(batch * y_sample.numel()));
    rng.fill_normal(dy_.data(), static_cast<Index>(dy_.size()));
    rng_ = vaegan::Rng(2);
  }

  // One layer step: forward, then the backward pass of the layer alone.
  void step() {
    tape_.reset();
    const vaegan::Var<float> x = tape_.parameter(inputs_, 0);
    const vaegan::Var<float> y = layer_->forward(x, vaegan::ForwardContext::train(rng_));
    vaegan::Node<float>& loss =
        tape_.record_view("output_gradient", &hand_output_gradient<float>, Shape{1}, dy_.data(), {y});
    (void)loss;
    // Overwrite mode for both sets: the first gradient written replaces the old one, as for
    // the trainers' parameters and for an input computed by an earlier layer.
    params_.begin_overwrite();
    inputs_.begin_overwrite();
    if (spec_.input_grad) tape_.backward(tape_.last(), {params_, inputs_});
    else tape_.backward(tape_.last(), {params_});
    inputs_.end_overwrite();
    params_.end_overwrite();
  }

 private:
  const LayerSpec& spec_;
  vaegan::ParameterSet<float> params_;
  vaegan::ParameterSet<float> inputs_;  // x and its gradient
  std::unique_ptr<vaegan::Module<float>> layer_;
  std::vector<float> dy_;
  vaegan::Rng rng_{2};
  vaegan::Tape<float> tape_;
};

struct Options {
  std::vector<std::string> layers;
  std::vector<Index> batches{64, 256};
  std::vector<int> threads{1, 2};
  int reps = 50;
  int warmup = 5;
  bool cpu_clock = false;
  bool pin = false;
  bool list = false;
};

double now_ms(bool cpu_clock) {
  if (cpu_clock) {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
  }
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Options parse(int argc, char** argv) {
  Options o;
  for (const LayerSpec& s : layer_specs()) o.layers.emplace_back(s.name);
  std::vector<std::int64_t> batches(o.batches.begin(), o.batches.end()), threads(o.threads.begin(), o.threads.end());
  std::int64_t reps = o.reps, warmup = o.warmup;
  std::string clock = "wall";
  cli::Parser p("bench_conv_layers",
                "Forward + backward of each conv / batch-norm layer of the conv preset, one JSON line per\n"
                "configuration (see the comment at the top of benchmarks/conv_layers.cpp).");
  p.add("layer", &o.layers, "layers: conv1, conv2, convt1, convt2, bn64, bn32, bn3136");
  p.add("batch", &batches, "batch sizes");
  p.add("threads", &threads, "thread counts");
  p.add("reps", &reps, "timed repetitions per configuration");
  p.add("warmup", &warmup, "untimed repetitions before them");
  p.add("clock", &clock, "wall, or cpu: the thread's CPU time (needs --threads 1)");
  p.add_switch("pin", &o.pin, "one CPU per thread (Linux), for a machine other processes keep busy");
  p.add_switch("list", &o.list, "print the configurations and exit");
  p.add_switch("benchmark_list_tests", &o.list, "the same as --list, as in Google Benchmark programs");
  p.require(
      [&] { return std::all_of(o.layers.begin(), o.layers.end(), [](const std::string& l) { return find_spec(l); }); },
      "--layer takes conv1, conv2, convt1, convt2, bn64, bn32, bn3136");
  p.require([&] { return std::all_of(batches.begin(), batches.end(), [](std::int64_t v) { return v >= 2; }); },
            "--batch needs integers >= 2 (batch norm refuses one sample)");
  p.require([&] { return std::all_of(threads.begin(), threads.end(), [](std::int64_t v) { return v > 0; }); },
            "--threads needs positive integers");
  p.require([&] { return reps > 0 && warmup >= 0; }, "--reps needs a positive integer, --warmup one >= 0");
  p.require([&] { return clock == "wall" || clock == "cpu"; }, "--clock must be wall or cpu");
  p.require([&] { return clock == "wall" || threads == std::vector<std::int64_t>{1}; },
            "--clock cpu needs --threads 1 (other threads' time would be missed)");
  p.parse(argc, argv);
  o.batches.assign(batches.begin(), batches.end());
  o.threads.assign(threads.begin(), threads.end());
  o.reps = static_cast<int>(reps);
  o.warmup = static_cast<int>(warmup);
  o.cpu_clock = clock == "cpu";
  return o;
}

void run(const LayerSpec& spec, Index batch, int threads, const Options& o) {
  LayerRun layer(spec, batch);
  for (int i = 0; i < o.warmup; ++i) layer.step();
  std::vector<double> ms;
  ms.reserve(static_cast<std::size_t>(o.reps));
  for (int i = 0; i < o.reps; ++i) {
    const double t0 = now_ms(o.cpu_clock);
    layer.step();
    ms.push_back(now_ms(o.cpu_clock) - t0);
  }
  std::sort(ms.begin(), ms.end());
  const std::size_t n = ms.size();
  const double median = n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
  const double flops = conv_flops(spec, batch);
  std::printf(
      "{\"impl\":\"vaegan\",\"layer\":\"%s\",\"batch\":%ld,\"threads\":%d,\"reps\":%d,\"clock\":\"%s\","
      "\"median_ms\":%.4f,\"min_ms\":%.4f,\"max_ms\":%.4f,\"flops\":%.0f,\"gflops\":%.2f}\n",
      spec.name, static_cast<long>(batch), threads, o.reps, o.cpu_clock ? "cpu" : "wall", median, ms.front(), ms.back(),
      flops, flops / (median * 1e-3) / 1e9);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (o.list) {
    for (int threads : o.threads)
      for (Index batch : o.batches)
        for (const std::string& l : o.layers)
          std::printf("%s/batch:%ld/threads:%d  %s\n", l.c_str(), static_cast<long>(batch), threads,
                      find_spec(l)->description);
    return 0;
  }
  try {
    for (int threads : o.threads) {
      vaegan::set_num_threads(threads);
      if (o.pin) {
        const std::string why = vaegan_bench::pin_benchmark_threads(threads);
        if (!why.empty()) std::fprintf(stderr, "bench_conv_layers: --pin: %s\n", why.c_str());
      }
      for (Index batch : o.batches)
        for (const std::string& l : o.layers) run(*find_spec(l), batch, threads, o);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_conv_layers: %s\n", e.what());
    return 1;
  }
  return 0;
}
