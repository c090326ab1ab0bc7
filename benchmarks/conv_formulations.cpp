// bench_conv_formulations: one convolution product, y^T = R W^T (the forward pass of
// Conv2d(32->64, k4 s2 p1) on [N, 32, 14, 14] by default), computed three ways, one JSON
// line per way and batch:
//
//   {"impl":"vaegan","formulation":"rows","batch":64,"reps":50,"median_ms":..,"gflops":..}
//
//   bench_conv_formulations [--batch N[,N...]] [--channels C] [--out C] [--size S] [--reps N]
//
// - columns: per sample, col = im2col(x_n) [K, P] and y_n = W col (one GEMM per sample,
//   output in place): the layout the library used for every layer before (and still uses
//   when a window has fewer values than the output has channels).
// - rows: the row layout of ops/conv2d.hpp: per chunk of samples, R = im2row(x) [rows, K]
//   from a zero-padded copy of each image, then R W^T against the weight packed once.
// - implicit: the same chunks without R: the GEMM kernel's 12 x 32 tile broadcasts each
//   value of R straight from the padded images (a pointer per window, an offset per kernel
//   tap) against the same packed weight (PackedB::multiply_implicit, AVX-512 builds only):
//   what ops/conv2d.hpp now runs for this product.
// Each repetition computes the whole batch on one thread (set by --threads, default 1);
// the ways take turns, one repetition each per round; median of --reps rounds after 5
// warm-up rounds. The three results are compared (max abs
// difference printed to stderr). docs/performance.md quotes this program.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <vaegan/vaegan.hpp>

#include "cli.hpp"  // examples/common/cli.hpp

namespace {

using vaegan::Index;
namespace detail = vaegan::detail;

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The median milliseconds of each way, timed in turn (one repetition of each per round, so
// drift in the machine's load falls on all alike), after 5 warm-up rounds.
std::vector<double> median_ms(int reps, const std::vector<std::function<void()>>& ways) {
  for (int i = 0; i < 5; ++i)
    for (const auto& f : ways) f();
  std::vector<std::vector<double>> ms(ways.size());
  for (int i = 0; i < reps; ++i)
    for (std::size_t w = 0; w < ways.size(); ++w) {
      const double t0 = now_ms();
      ways[w]();
      ms[w].push_back(now_ms() - t0);
    }
  std::vector<double> medians;
  for (auto& m : ms) {
    std::sort(m.begin(), m.end());
    medians.push_back(m[m.size() / 2]);
  }
  return medians;
}

struct Shape {
  Index batch, channels, out, size;
};

void run(const Shape& s, int reps) {
  detail::ConvGeometry g;
  g.channels = s.channels;
  g.height = g.width = s.size;
  g.kh = g.kw = 4;
  g.stride = 2;
  g.padding = 1;
  g.out_h = g.out_w = (s.size + 2 - 4) / 2 + 1;
  const Index n = s.batch, k = g.window(), p = g.positions(), image = g.image_size(), c_out = s.out;
  std::vector<float> x(static_cast<std::size_t>(n * image)), w(static_cast<std::size_t>(c_out * k));
  vaegan::Rng rng(1);
  rng.fill_normal(x.data(), static_cast<Index>(x.size()));
  rng.fill_normal(w.data(), static_cast<Index>(w.size()), 0.0, 0.05);
  const double flops = 2.0 * static_cast<double>(n * p * k * c_out);
  auto report = [&](const char* name, double ms) {
    std::printf(
        "{\"impl\":\"vaegan\",\"formulation\":\"%s\",\"channels\":%ld,\"out\":%ld,\"size\":%ld,\"batch\":%ld,"
        "\"reps\":%d,\"median_ms\":%.4f,\"gflops\":%.1f}\n",
        name, static_cast<long>(s.channels), static_cast<long>(c_out), static_cast<long>(s.size), static_cast<long>(n),
        reps, ms, flops / (ms * 1e-3) / 1e9);
    std::fflush(stdout);
  };

  // columns: per sample, im2col + one GEMM with the output [C_out, P] in place.
  std::vector<float> col(static_cast<std::size_t>(k * p)), y_columns(static_cast<std::size_t>(n * c_out * p));
  std::vector<const char*> names;
  std::vector<std::function<void()>> ways;
  names.push_back("columns");
  ways.push_back([&] {
    for (Index i = 0; i < n; ++i) {
      detail::im2col(g, x.data() + i * image, col.data());
      detail::gemm<float>(false, false, c_out, p, k, 1.0f, w.data(), k, col.data(), p, 0.0f,
                          y_columns.data() + i * c_out * p, p);
    }
  });

  // rows: chunks of samples, im2row + the packed weight (output position-major, [N P, C_out]),
  // the row layout as it was before the implicit product.
  std::vector<float> y_rows(static_cast<std::size_t>(n * p * c_out));
  const Index chunk = detail::samples_per_chunk(n, p * k);
  std::vector<float> r(static_cast<std::size_t>(chunk * p * k));
  names.push_back("rows");
  ways.push_back([&] {
    const detail::PackedB<float> weight_t(true, c_out, k, w.data(), k);
    for (Index a = 0; a < n; a += chunk) {
      const Index e = std::min(n, a + chunk);
      detail::im2row(g, x.data(), a, e, 0, g.channels, r.data());
      weight_t.multiply(false, (e - a) * p, r.data(), k, 1.0f, 0.0f, y_rows.data() + a * p * c_out, c_out);
    }
  });

  // implicit: the same chunks, R read in place from the padded images (where the build has
  // the AVX-512 kernel: PackedB::implicit()).
  std::vector<float> y_implicit(static_cast<std::size_t>(n * p * c_out));
  if (detail::PackedB<float>(true, c_out, k, w.data(), k).implicit()) {
    names.push_back("implicit");
    ways.push_back([&] {
      const detail::PackedB<float> weight_t(true, c_out, k, w.data(), k);
      const Index* offsets = detail::tap_offsets(g);
      for (Index a = 0; a < n; a += chunk) {
        const Index e = std::min(n, a + chunk);
        detail::window_product(g, weight_t, offsets, x.data(), a, e, r.data(), y_implicit.data() + a * p * c_out,
                               c_out);
      }
    });
  }
  const std::vector<double> ms = median_ms(reps, ways);
  for (std::size_t i = 0; i < ways.size(); ++i) report(names[i], ms[i]);
  double worst = 0.0;
  for (Index i = 0; i < n; ++i)
    for (Index c = 0; c < c_out; ++c)
      for (Index q = 0; q < p; ++q)
        worst =
            std::max(worst, static_cast<double>(std::abs(y_columns[static_cast<std::size_t>((i * c_out + c) * p + q)] -
                                                         y_rows[static_cast<std::size_t>((i * p + q) * c_out + c)])));
  if (ways.size() > 2)
    for (std::size_t i = 0; i < y_rows.size(); ++i)
      worst = std::max(worst, static_cast<double>(std::abs(y_rows[i] - y_implicit[i])));
  std::fprintf(stderr, "bench_conv_formulations: batch %ld: max abs difference between the formulations %.3g\n",
               static_cast<long>(n), worst);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::int64_t> batches{64, 256};
  std::int64_t channels = 32, out = 64, size = 14, reps = 50, threads = 1;
  bool list = false;
  cli::Parser parser("bench_conv_formulations",
                     "One convolution product three ways: per-sample im2col + GEMM, im2row chunks + the packed\n"
                     "weight, implicit GEMM (see the comment at the top of benchmarks/conv_formulations.cpp).");
  parser.add("batch", &batches, "batch sizes");
  parser.add("channels", &channels, "input channels");
  parser.add("out", &out, "output channels (a multiple of 32 for the implicit kernel)");
  parser.add("size", &size, "input height and width (even)");
  parser.add("reps", &reps, "timed repetitions");
  parser.add("threads", &threads, "threads (the products run on one; this sets vaegan's count)");
  parser.add_switch("list", &list, "print the configurations and exit");
  parser.add_switch("benchmark_list_tests", &list, "the same as --list, as in Google Benchmark programs");
  parser.require([&] { return channels > 0 && out > 0 && size >= 4 && size % 2 == 0 && reps > 0 && threads > 0; },
                 "--channels, --out, --reps and --threads need positive integers, --size an even one >= 4");
  parser.require([&] { return std::all_of(batches.begin(), batches.end(), [](std::int64_t b) { return b > 0; }); },
                 "--batch needs positive integers");
  parser.parse(argc, argv);
  if (list) {
    for (std::int64_t b : batches)
      for (const char* f : {"columns", "rows", "implicit"}) std::printf("%s/batch:%ld\n", f, static_cast<long>(b));
    return 0;
  }
  vaegan::set_num_threads(static_cast<int>(threads));
  for (std::int64_t b : batches) run({b, channels, out, size}, static_cast<int>(reps));
  return 0;
}
