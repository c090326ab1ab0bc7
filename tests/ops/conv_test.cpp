// Tests for the convolution ops (ops/conv2d.hpp) and layers (nn/conv2d.hpp): forward
// against direct loops written here, gradients of x, w and b against central differences,
// conv_transpose2d as the adjoint of conv2d, the layers' shape refusals, init and
// parameter gradients through a network (the MNIST shapes among them).
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "nn/network_gradcheck.hpp"
#include "test_util.hpp"
#include "vaegan/core/profile.hpp"
#include "vaegan/nn/activation_layer.hpp"
#include "vaegan/nn/conv2d.hpp"
#include "vaegan/nn/network.hpp"
#include "vaegan/nn/sequential.hpp"
#include "vaegan/ops/conv2d.hpp"
#include "vaegan/ops/elementwise.hpp"
#include "vaegan/ops/reduce.hpp"
#include "vaegan/ops/rows.hpp"

using vaegan::Conv2d;
using vaegan::ConvTranspose2d;
using vaegan::ForwardContext;
using vaegan::Index;
using vaegan::Rng;
using vaegan::Sequential;
using vaegan::Shape;
using vaegan::ShapeError;
using vaegan::Tanh;
using vaegan::Tape;
using vaegan::Tensor;
using vaegan::Var;
using vaegan::test::count_ops;
using vaegan::test::random_normal;
using vaegan::test::Vars;

namespace {

// One convolution's sizes. For conv2d: x [n, c_in, h, w], weight [c_out, c_in, kh, kw].
// For conv_transpose2d: x [n, c_in, h, w], weight [c_in, c_out, kh, kw].
struct Geometry {
  Index n, c_in, h, w, c_out, kh, kw, stride, padding, output_padding;
};

Shape conv_weight_shape(const Geometry& g) { return Shape{g.c_out, g.c_in, g.kh, g.kw}; }
Shape conv_t_weight_shape(const Geometry& g) { return Shape{g.c_in, g.c_out, g.kh, g.kw}; }

// The direct definition: y[n, o, r, c] = b[o] + sum w[o, i, a, e] x[n, i, r s - p + a, c s - p + e].
template <class T>
Tensor<double> naive_conv2d(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& b, Index s, Index p) {
  const Shape xs = x.shape(), ws = w.shape();
  const Index oh = (xs[2] + 2 * p - ws[2]) / s + 1, ow = (xs[3] + 2 * p - ws[3]) / s + 1;
  Tensor<double> y(Shape{xs[0], ws[0], oh, ow});
  for (Index n = 0; n < xs[0]; ++n)
    for (Index o = 0; o < ws[0]; ++o)
      for (Index r = 0; r < oh; ++r)
        for (Index c = 0; c < ow; ++c) {
          double acc = b[o];
          for (Index i = 0; i < xs[1]; ++i)
            for (Index a = 0; a < ws[2]; ++a)
              for (Index e = 0; e < ws[3]; ++e) {
                const Index hr = r * s - p + a, hc = c * s - p + e;
                if (hr < 0 || hr >= xs[2] || hc < 0 || hc >= xs[3]) continue;
                acc += static_cast<double>(w[((o * ws[1] + i) * ws[2] + a) * ws[3] + e]) *
                       static_cast<double>(x[((n * xs[1] + i) * xs[2] + hr) * xs[3] + hc]);
              }
          y[((n * ws[0] + o) * oh + r) * ow + c] = acc;
        }
  return y;
}

// The scatter definition: every x[n, i, r, c] adds x w[i, o, a, e] into y[n, o, r s - p + a, c s - p + e].
template <class T>
Tensor<double> naive_conv_transpose2d(const Tensor<T>& x, const Tensor<T>& w, const Tensor<T>& b, Index s, Index p,
                                      Index op) {
  const Shape xs = x.shape(), ws = w.shape();
  const Index oh = (xs[2] - 1) * s - 2 * p + ws[2] + op, ow = (xs[3] - 1) * s - 2 * p + ws[3] + op;
  Tensor<double> y(Shape{xs[0], ws[1], oh, ow});
  for (Index n = 0; n < xs[0]; ++n)
    for (Index o = 0; o < ws[1]; ++o)
      for (Index q = 0; q < oh * ow; ++q) y[(n * ws[1] + o) * oh * ow + q] = b[o];
  for (Index n = 0; n < xs[0]; ++n)
    for (Index i = 0; i < xs[1]; ++i)
      for (Index r = 0; r < xs[2]; ++r)
        for (Index c = 0; c < xs[3]; ++c)
          for (Index o = 0; o < ws[1]; ++o)
            for (Index a = 0; a < ws[2]; ++a)
              for (Index e = 0; e < ws[3]; ++e) {
                const Index yr = r * s - p + a, yc = c * s - p + e;
                if (yr < 0 || yr >= oh || yc < 0 || yc >= ow) continue;
                y[((n * ws[1] + o) * oh + yr) * ow + yc] +=
                    static_cast<double>(x[((n * xs[1] + i) * xs[2] + r) * xs[3] + c]) *
                    static_cast<double>(w[((i * ws[1] + o) * ws[2] + a) * ws[3] + e]);
              }
  return y;
}

// max |a - b| / max(1, max |b|)
template <class T>
double max_relative_diff(const Tensor<T>& a, const Tensor<double>& b) {
  REQUIRE(a.shape() == b.shape());
  double worst = 0.0, scale = 1.0;
  for (Index i = 0; i < b.numel(); ++i) scale = std::max(scale, std::abs(b[i]));
  for (Index i = 0; i < a.numel(); ++i) worst = std::max(worst, std::abs(static_cast<double>(a[i]) - b[i]));
  return worst / scale;
}

double dot(const Tensor<double>& a, const Tensor<double>& b) {
  REQUIRE(a.numel() == b.numel());
  double s = 0.0;
  for (Index i = 0; i < a.numel(); ++i) s += a[i] * b[i];
  return s;
}

// Corner cases: 1x1 kernels, a stride larger than the kernel (output positions no window
// reaches, inputs no window reads), odd and non-square sizes, batch 1, padding, a
// non-square kernel, the MNIST k4 s2 p1. The ops compute in one of two layouts, chosen by
// the sizes (detail::use_rows: rows when a window holds more values than the small side has
// channels); the lists cover both (checked below).
const std::vector<Geometry> kConvCases = {
    {2, 3, 4, 5, 2, 1, 1, 1, 0, 0},   // 1x1 kernel
    {2, 2, 7, 7, 3, 2, 2, 3, 0, 0},   // stride 3 > kernel 2 (7 - 2 = 5 is no multiple of 3: floored)
    {2, 2, 5, 7, 3, 3, 3, 2, 1, 0},   // odd 5x7, padding 1, stride 2
    {1, 1, 4, 4, 2, 3, 3, 1, 2, 0},   // batch 1, padding 2
    {2, 2, 5, 6, 2, 2, 3, 1, 1, 0},   // a 2x3 kernel
    {2, 1, 6, 6, 2, 4, 4, 2, 1, 0},   // k4 s2 p1
    {2, 1, 6, 6, 16, 4, 4, 2, 1, 0},  // k4 s2 p1 from one channel to 16: the column layout
    {2, 2, 5, 7, 8, 1, 1, 1, 0, 0},   // 1x1 kernel, more channels out than in: columns
    {3, 2, 7, 5, 18, 3, 3, 3, 1, 0},  // stride 3 > kernel 3 - 1, padding: columns
};
const std::vector<Geometry> kConvTransposeCases = {
    {2, 3, 3, 4, 2, 1, 1, 1, 0, 0},   // 1x1 kernel (columns)
    {2, 2, 3, 3, 2, 2, 2, 3, 0, 0},   // stride 3 > kernel 2: output rows no input reaches
    {2, 2, 3, 4, 2, 3, 3, 2, 1, 1},   // output_padding 1
    {1, 2, 5, 7, 1, 4, 4, 2, 1, 0},   // batch 1, odd 5x7, k4 s2 p1
    {2, 2, 3, 3, 2, 2, 3, 1, 0, 0},   // a 2x3 kernel
    {1, 1, 2, 3, 2, 1, 1, 2, 0, 1},   // 1x1 kernel, stride 2, output_padding 1
    {2, 16, 3, 3, 1, 4, 4, 2, 1, 0},  // k4 s2 p1 from 16 channels to one: the column layout
    {1, 4, 3, 4, 1, 2, 2, 3, 0, 2},   // stride 3 > kernel 2, output_padding 2: columns
};

// Whether the op computes g in the row layout (detail::use_rows).
bool conv_uses_rows(const Geometry& g) { return g.c_in * g.kh * g.kw > g.c_out; }
bool conv_transpose_uses_rows(const Geometry& g) { return g.c_out * g.kh * g.kw > g.c_in; }

std::string describe(const Geometry& g) {
  return "x [" + std::to_string(g.n) + ", " + std::to_string(g.c_in) + ", " + std::to_string(g.h) + ", " +
         std::to_string(g.w) + "], c_out " + std::to_string(g.c_out) + ", kernel " + std::to_string(g.kh) + "x" +
         std::to_string(g.kw) + ", stride " + std::to_string(g.stride) + ", padding " + std::to_string(g.padding) +
         ", output_padding " + std::to_string(g.output_padding);
}

}  // namespace

// ---- forward against direct loops --------------------------------------------------------

TEST_CASE("conv2d: the test geometries cover both layouts of both ops") {
  int rows = 0, columns = 0;
  for (const Geometry& g : kConvCases) (conv_uses_rows(g) ? rows : columns) += 1;
  CHECK(rows >= 3);
  CHECK(columns >= 3);
  rows = columns = 0;
  for (const Geometry& g : kConvTransposeCases) (conv_transpose_uses_rows(g) ? rows : columns) += 1;
  CHECK(rows >= 3);
  CHECK(columns >= 3);
  // The op's own rule agrees with the test's.
  vaegan::detail::ConvGeometry geometry;
  geometry.channels = 1;
  geometry.kh = geometry.kw = 4;
  CHECK(!vaegan::detail::use_rows(geometry, 32));  // conv1 of the conv preset: 16 values, 32 channels
  geometry.channels = 32;
  CHECK(vaegan::detail::use_rows(geometry, 64));  // conv2: 512 values, 64 channels
}

TEST_CASE("conv2d: forward matches a direct convolution loop") {
  Rng rng(1);
  for (const Geometry& g : kConvCases) {
    INFO(describe(g));
    const Tensor<double> x = random_normal<double>(Shape{g.n, g.c_in, g.h, g.w}, rng);
    const Tensor<double> w = random_normal<double>(conv_weight_shape(g), rng);
    const Tensor<double> b = random_normal<double>(Shape{g.c_out}, rng);
    Tape<double> tape;
    const Var<double> y = vaegan::conv2d(tape.constant(x), tape.constant(w), tape.constant(b), g.stride, g.padding);
    CHECK(max_relative_diff(vaegan::test::value_of(y), naive_conv2d(x, w, b, g.stride, g.padding)) < 1e-13);
  }
}

TEST_CASE("conv_transpose2d: forward matches a direct scatter loop") {
  Rng rng(2);
  for (const Geometry& g : kConvTransposeCases) {
    INFO(describe(g));
    const Tensor<double> x = random_normal<double>(Shape{g.n, g.c_in, g.h, g.w}, rng);
    const Tensor<double> w = random_normal<double>(conv_t_weight_shape(g), rng);
    const Tensor<double> b = random_normal<double>(Shape{g.c_out}, rng);
    Tape<double> tape;
    const Var<double> y = vaegan::conv_transpose2d(tape.constant(x), tape.constant(w), tape.constant(b), g.stride,
                                                   g.padding, g.output_padding);
    CHECK(max_relative_diff(vaegan::test::value_of(y),
                            naive_conv_transpose2d(x, w, b, g.stride, g.padding, g.output_padding)) < 1e-13);
  }
}

TEST_CASE("conv2d: float forward matches the direct loops in both layouts, for any thread count") {
  // Row layout: chunks of samples in parallel (5 and 20 samples, several chunks). Column
  // layout: small per-sample products run the samples in parallel; large ones (16 x 144 x
  // 196 multiply-adds >= gemm's threading threshold) run the samples in turn, gemm
  // threading each.
  // conv2d with the case's stride and padding; conv_transpose2d with stride 2, padding 1.
  struct Case {
    Index batch, c_in, size, c_out, kernel, stride, padding, output_padding;
  };
  const std::vector<Case> cases = {
      {5, 16, 14, 2, 3, 1, 1, 1},    // rows (conv K = 144 > 2; transposed K = 18 > 16)
      {5, 16, 14, 16, 3, 1, 1, 1},   // rows (144 > 16; 144 > 16)
      {20, 32, 14, 64, 1, 1, 0, 0},  // columns (32 <= 64; the transposed 64 > 32: rows)
      {20, 32, 14, 1, 4, 2, 1, 0},   // conv rows (512 > 1); transposed columns (16 <= 32)
      {3, 8, 9, 144, 3, 1, 1, 0},    // columns, threaded GEMM per sample (144 x 72 x 81)
  };
  vaegan::test::ThreadCountGuard guard;
  Rng rng(3);
  for (const Case& c : cases) {
    INFO("batch ", c.batch, ", channels ", c.c_in, " -> ", c.c_out, ", kernel ", c.kernel);
    const Tensor<float> x = random_normal<float>(Shape{c.batch, c.c_in, c.size, c.size}, rng);
    const Tensor<float> w = random_normal<float>(Shape{c.c_out, c.c_in, c.kernel, c.kernel}, rng, 0.0, 0.1);
    const Tensor<float> wt = random_normal<float>(Shape{c.c_in, c.c_out, c.kernel, c.kernel}, rng, 0.0, 0.1);
    const Tensor<float> b = random_normal<float>(Shape{c.c_out}, rng);
    std::vector<Tensor<float>> conv_out, conv_t_out;
    for (const int threads : {1, 3}) {
      vaegan::set_num_threads(threads);
      Tape<float> tape;
      conv_out.push_back(vaegan::test::value_of(
          vaegan::conv2d(tape.constant(x), tape.constant(w), tape.constant(b), c.stride, c.padding)));
      conv_t_out.push_back(vaegan::test::value_of(vaegan::conv_transpose2d(
          tape.constant(x), tape.constant(wt), tape.constant(b), Index{2}, Index{1}, c.output_padding)));
    }
    CHECK(max_relative_diff(conv_out[0], naive_conv2d(x, w, b, c.stride, c.padding)) < 1e-5);
    CHECK(max_relative_diff(conv_t_out[0], naive_conv_transpose2d(x, wt, b, 2, 1, c.output_padding)) < 1e-5);
    CHECK(vaegan::test::max_abs_diff(conv_out[0], conv_out[1]) == 0.0);
    CHECK(vaegan::test::max_abs_diff(conv_t_out[0], conv_t_out[1]) == 0.0);
  }
}

TEST_CASE("conv2d: float gradients match double ones in both layouts, bit-identical for any thread count") {
  // Every backward path in float (the double gradchecks below run Eigen's kernel; float
  // runs the AVX-512 one where the build has it), with some samples outside the gradient's
  // row range, against the same op in double.
  struct Case {
    Index batch, c_in, size, c_out, kernel;
  };
  const std::vector<Case> cases = {
      {20, 32, 14, 64, 4},  // conv rows; transposed rows
      {20, 1, 28, 32, 4},   // conv columns; transposed rows
      {20, 32, 14, 1, 4},   // conv rows; transposed columns
      {6, 1, 9, 16, 3},     // odd sizes: conv columns (9 <= 16); transposed rows
      {6, 16, 9, 1, 3},     // odd sizes: conv rows; transposed columns (17 x 17 output)
      {6, 2, 21, 32, 4},    // conv columns with an input gradient (32 <= 32); transposed rows
      {7, 2, 9, 18, 3},     // conv columns, dW 18 x 18: partial tiles of the AVX-512 kernel
  };
  vaegan::test::ThreadCountGuard guard;
  Rng rng(13);
  for (const Case& c : cases) {
    for (const bool transposed : {false, true}) {
      INFO("batch ", c.batch, ", channels ", c.c_in, " -> ", c.c_out, std::string(transposed ? ", transposed" : ""));
      const Tensor<double> x = random_normal<double>(Shape{c.batch, c.c_in, c.size, c.size}, rng);
      const Shape ws =
          transposed ? Shape{c.c_in, c.c_out, c.kernel, c.kernel} : Shape{c.c_out, c.c_in, c.kernel, c.kernel};
      const Tensor<double> w = random_normal<double>(ws, rng, 0.0, 0.1);
      const Tensor<double> b = random_normal<double>(Shape{c.c_out}, rng);
      // The loss reads samples [3, batch - 2) only, weighted by a fixed random tensor.
      auto run = [&](auto zero, int threads) {
        using T = decltype(zero);
        vaegan::set_num_threads(threads);
        Tape<T> tape;
        auto cast = [](const Tensor<double>& t) {
          Tensor<T> out(t.shape());
          for (Index i = 0; i < t.numel(); ++i) out[i] = static_cast<T>(t[i]);
          return out;
        };
        const Var<T> xv = tape.variable(cast(x)), wv = tape.variable(cast(w)), bv = tape.variable(cast(b));
        const Var<T> y = transposed ? vaegan::conv_transpose2d(xv, wv, bv, 2, 1) : vaegan::conv2d(xv, wv, bv, 2, 1);
        const Var<T> part = vaegan::slice_rows(y, 3, c.batch - 2);
        Rng weights(99);
        const Tensor<T> r = random_normal<T>(part.shape(), weights);
        tape.backward(vaegan::sum(vaegan::mul(part, tape.constant(r))));
        return std::vector<Tensor<T>>{vaegan::test::grad_of(xv), vaegan::test::grad_of(wv), vaegan::test::grad_of(bv)};
      };
      const auto reference = run(0.0, 1);
      const auto one = run(0.0f, 1);
      const auto three = run(0.0f, 3);
      for (int i = 0; i < 3; ++i) {
        INFO("gradient ", i, " (x, w, b)");
        CHECK(max_relative_diff(one[i], reference[i]) < 1e-4);
        CHECK(vaegan::test::max_abs_diff(one[i], three[i]) == 0.0);
      }
      // Samples outside the loss's rows get an exact zero gradient.
      float outside = 0.0f;
      for (Index q = 0; q < 3 * x.numel() / c.batch; ++q) outside = std::max(outside, std::abs(one[0][q]));
      CHECK(outside == 0.0f);
    }
  }
}

TEST_CASE("conv2d: the input gradient by stride phases matches double, written and accumulated") {
  // 32 input channels: the float input gradient runs by phases (ops/conv2d.hpp) on AVX-512
  // builds. Geometries with phases of different tap counts, phases no tap reaches (stride
  // larger than the kernel), pixels no window reads, stride 1, odd and non-square sizes.
  struct Case {
    Index batch, height, width, c_out, kh, kw, stride, padding;
  };
  const std::vector<Case> cases = {
      {5, 14, 14, 64, 4, 4, 2, 1},  // conv2 of the conv preset
      {3, 7, 9, 16, 3, 3, 1, 1},    // stride 1: one phase, the whole kernel flipped
      {3, 8, 8, 8, 2, 2, 3, 0},     // stride 3 > kernel 2: a third of the pixels read by no window
      {3, 9, 7, 8, 5, 3, 2, 2},     // odd sizes, a 5 x 3 kernel: phases of 3 and 2 taps
      {3, 10, 10, 8, 3, 3, 2, 0},   // (10 - 3) / 2 floored: the last row and column unread
      {2, 5, 5, 8, 1, 1, 2, 0},     // 1 x 1 kernel, stride 2
      {2, 10, 11, 8, 4, 4, 3, 2},   // stride 3, padding 2
  };
  const Index c_in = 32;
  Rng rng(29);
  for (const Case& c : cases) {
    INFO("x [", c.batch, ", 32, ", c.height, ", ", c.width, "], c_out ", c.c_out, ", kernel ", c.kh, "x", c.kw,
         ", stride ", c.stride, ", padding ", c.padding);
#ifdef __AVX512F__
    vaegan::detail::ConvGeometry geometry;
    geometry.channels = c_in;
    CHECK(vaegan::detail::input_grad_by_phases<float>(geometry));
    CHECK(!vaegan::detail::input_grad_by_phases<double>(geometry));
#endif
    const Tensor<double> x = random_normal<double>(Shape{c.batch, c_in, c.height, c.width}, rng);
    const Tensor<double> w1 = random_normal<double>(Shape{c.c_out, c_in, c.kh, c.kw}, rng, 0.0, 0.1);
    const Tensor<double> w2 = random_normal<double>(Shape{c.c_out, c_in, c.kh, c.kw}, rng, 0.0, 0.1);
    const Tensor<double> b = random_normal<double>(Shape{c.c_out}, rng);
    // uses = 1: dx written; 2: x feeds two convolutions, the second gradient added.
    // constant_weight: dx alone asked for (as through a discriminator for the generator's
    // loss), where the backward pass makes no dY^T.
    auto run = [&](auto zero, int uses, bool constant_weight) {
      using T = decltype(zero);
      auto cast = [](const Tensor<double>& t) {
        Tensor<T> out(t.shape());
        for (Index i = 0; i < t.numel(); ++i) out[i] = static_cast<T>(t[i]);
        return out;
      };
      Tape<T> tape;
      const Var<T> xv = tape.variable(cast(x)), bv = tape.variable(cast(b));
      Var<T> loss;
      for (int u = 0; u < uses; ++u) {
        const Var<T> wv =
            constant_weight ? tape.constant(cast(u == 0 ? w1 : w2)) : tape.variable(cast(u == 0 ? w1 : w2));
        const Var<T> y = vaegan::conv2d(xv, wv, bv, c.stride, c.padding);
        Rng weights(7 + u);
        const Var<T> term = vaegan::sum(vaegan::mul(y, tape.constant(random_normal<T>(y.shape(), weights))));
        loss = u == 0 ? term : vaegan::add(loss, term);
      }
      tape.backward(loss);
      return vaegan::test::grad_of(xv);
    };
    for (const int uses : {1, 2}) {
      INFO("uses of x: ", uses);
      CHECK(max_relative_diff(run(0.0f, uses, false), run(0.0, uses, false)) < 1e-4);
    }
    INFO("the weight a constant");
    CHECK(max_relative_diff(run(0.0f, 1, true), run(0.0, 1, true)) < 1e-4);
    CHECK(vaegan::test::max_abs_diff(run(0.0f, 1, true), run(0.0f, 1, false)) == 0.0);
  }
}

TEST_CASE(
    "conv2d: detail::PackedB gives gemm_serial's result bit for bit, for any product height, also read in place") {
  // The row layout's chunked products multiply one packed weight by chunks of rows; each
  // chunk's result must be exactly the serial GEMM's (the kernel, tiles and order are the same).
  Rng rng(21);
  for (const bool trans_a : {false, true})
    for (const bool trans_b : {false, true})
      for (const Index n : {Index{7}, Index{32}, Index{64}, Index{70}})
        for (const Index k : {Index{5}, Index{300}}) {
          INFO("trans_a ", trans_a, ", trans_b ", trans_b, ", n ", n, ", k ", k);
          const Tensor<float> b = random_normal<float>(Shape{k, n}, rng);  // [k, n], or [n, k] when trans_b
          const vaegan::detail::PackedB<float> packed(trans_b, n, k, b.data(), trans_b ? k : n);
          for (const Index m : {Index{1}, Index{5}, Index{49}, Index{98}}) {
            const Tensor<float> a = random_normal<float>(Shape{m, k}, rng);  // [m, k], or [k, m] when trans_a
            Tensor<float> c(Shape{m, n}), reference(Shape{m, n});
            c.set_zero();
            reference.set_zero();
            packed.multiply(trans_a, m, a.data(), trans_a ? m : k, 1.0f, 0.0f, c.data(), n);
            const vaegan::detail::GemmKernel kernel = vaegan::detail::gemm_kernel_for<float>(12, n);
            vaegan::detail::gemm_serial(kernel, trans_a, trans_b, m, n, k, 1.0f, a.data(), trans_a ? m : k, b.data(),
                                        trans_b ? k : n, 0.0f, reference.data(), n);
            CHECK(vaegan::test::max_abs_diff(c, reference) == 0.0);
            if (packed.implicit() && !trans_a) {
              // A read in place: row r at a + r k, column t at offset t.
              std::vector<const float*> rows(static_cast<std::size_t>(m));
              std::vector<Index> offsets(static_cast<std::size_t>(k));
              for (Index r = 0; r < m; ++r) rows[static_cast<std::size_t>(r)] = a.data() + r * k;
              for (Index t = 0; t < k; ++t) offsets[static_cast<std::size_t>(t)] = t;
              Tensor<float> implicit(Shape{m, n});
              implicit.set_zero();
              packed.multiply_implicit(m, rows.data(), offsets.data(), 1.0f, 0.0f, implicit.data(), n);
              CHECK(vaegan::test::max_abs_diff(implicit, reference) == 0.0);
            }
          }
        }
}

// ---- gradients ---------------------------------------------------------------------------

TEST_CASE("conv2d: gradients of x, w and b match finite differences") {
  Rng rng(4);
  for (const Geometry& g : kConvCases) {
    INFO(describe(g));
    VAEGAN_CHECK_GRADIENTS(
        [&](Tape<double>&, const Vars& in) { return vaegan::conv2d(in[0], in[1], in[2], g.stride, g.padding); },
        {random_normal<double>(Shape{g.n, g.c_in, g.h, g.w}, rng), random_normal<double>(conv_weight_shape(g), rng),
         random_normal<double>(Shape{g.c_out}, rng)});
  }
}

TEST_CASE("conv_transpose2d: gradients of x, w and b match finite differences") {
  Rng rng(5);
  for (const Geometry& g : kConvTransposeCases) {
    INFO(describe(g));
    VAEGAN_CHECK_GRADIENTS(
        [&](Tape<double>&, const Vars& in) {
          return vaegan::conv_transpose2d(in[0], in[1], in[2], g.stride, g.padding, g.output_padding);
        },
        {random_normal<double>(Shape{g.n, g.c_in, g.h, g.w}, rng), random_normal<double>(conv_t_weight_shape(g), rng),
         random_normal<double>(Shape{g.c_out}, rng)});
  }
}

TEST_CASE("conv2d: gradients accumulate over two uses and skip the samples no loss reaches") {
  // Two convolutions of the same x, w, b, read through samples [1, 3) and [0, 2)
  // (slice_rows): each op's backward sees a gradient that is non-zero in two of the three
  // samples only (the tape's row range), the first writes samples 0 and 1 of dX (and
  // zeroes 2), the second must add into sample 1 and 2, and dW, db accumulate.
  Rng rng(6);
  for (const Geometry& g : {Geometry{3, 2, 5, 4, 2, 3, 3, 2, 1, 0}, Geometry{3, 2, 5, 4, 18, 3, 3, 2, 1, 0}}) {
    INFO(describe(g), conv_uses_rows(g) ? " (rows)" : " (columns)");
    VAEGAN_CHECK_GRADIENTS(
        [&](Tape<double>&, const Vars& in) {
          const Var<double> y1 = vaegan::conv2d(in[0], in[1], in[2], g.stride, g.padding);
          const Var<double> y2 = vaegan::conv2d(in[0], in[1], in[2], g.stride, g.padding);
          const Var<double> a = vaegan::slice_rows(y1, 1, 3);
          return vaegan::add(a, vaegan::mul(a, vaegan::slice_rows(y2, 0, 2)));
        },
        {random_normal<double>(Shape{g.n, g.c_in, g.h, g.w}, rng), random_normal<double>(conv_weight_shape(g), rng),
         random_normal<double>(Shape{g.c_out}, rng)});
  }
}

TEST_CASE("conv_transpose2d: gradients accumulate over two uses and skip the samples no loss reaches") {
  Rng rng(7);
  for (const Geometry& g : {Geometry{3, 2, 3, 2, 2, 3, 3, 2, 1, 1}, Geometry{3, 9, 3, 2, 1, 3, 3, 2, 1, 1}}) {
    INFO(describe(g), conv_transpose_uses_rows(g) ? " (rows)" : " (columns)");
    VAEGAN_CHECK_GRADIENTS(
        [&](Tape<double>&, const Vars& in) {
          const Var<double> y1 = vaegan::conv_transpose2d(in[0], in[1], in[2], g.stride, g.padding, g.output_padding);
          const Var<double> y2 = vaegan::conv_transpose2d(in[0], in[1], in[2], g.stride, g.padding, g.output_padding);
          const Var<double> a = vaegan::slice_rows(y1, 1, 3);
          return vaegan::add(a, vaegan::mul(a, vaegan::slice_rows(y2, 0, 2)));
        },
        {random_normal<double>(Shape{g.n, g.c_in, g.h, g.w}, rng), random_normal<double>(conv_t_weight_shape(g), rng),
         random_normal<double>(Shape{g.c_out}, rng)});
  }
}

TEST_CASE("conv_transpose2d: is the adjoint of conv2d with the same weight") {
  // <conv2d(x, w), y> = <x, conv_transpose2d(y, w)>, w [C_out, C_in, k, k] read by the
  // transposed conv as [C_in', C_out'] = [C_out, C_in]; output_padding gives back the
  // sizes conv2d floors away.
  Rng rng(8);
  const std::vector<Geometry> cases = {
      {2, 2, 7, 7, 3, 3, 3, 2, 1, 0},  // 7 -> 4 -> 7
      {2, 2, 8, 8, 3, 3, 3, 2, 1, 1},  // 8 -> 4 -> 8 needs output_padding 1
      {1, 3, 5, 5, 2, 1, 1, 1, 0, 0},  // 1x1
      {2, 1, 9, 9, 2, 2, 2, 3, 0, 1},  // stride 3 > kernel 2: 9 -> 3 -> 9
      {1, 2, 6, 10, 2, 4, 4, 2, 1, 0}, {2, 2, 5, 7, 3, 3, 3, 2, 1, 0},
  };
  for (const Geometry& g : cases) {
    INFO(describe(g));
    const Tensor<double> x = random_normal<double>(Shape{g.n, g.c_in, g.h, g.w}, rng);
    const Tensor<double> w = random_normal<double>(conv_weight_shape(g), rng);
    Tape<double> tape;
    const Var<double> cx =
        vaegan::conv2d(tape.constant(x), tape.constant(w), tape.full(Shape{g.c_out}, 0.0), g.stride, g.padding);
    const Tensor<double> y = random_normal<double>(cx.shape(), rng);
    const Var<double> ty = vaegan::conv_transpose2d(tape.constant(y), tape.constant(w), tape.full(Shape{g.c_in}, 0.0),
                                                    g.stride, g.padding, g.output_padding);
    REQUIRE(ty.shape() == x.shape());
    const double lhs = dot(vaegan::test::value_of(cx), y), rhs = dot(x, vaegan::test::value_of(ty));
    CHECK(std::abs(lhs - rhs) <= 1e-12 * std::max(1.0, std::abs(lhs)));
  }
}

TEST_CASE("conv2d: a repeated step reuses every buffer, and only what is asked for is computed") {
  Rng rng(9);
  // x, conv weight, transposed-conv weight: row layouts [2, 2, 6, 6] -> [2, 3, 3, 3] -> [2, 2, 6, 6]
  // (a window of 18 > 3 and 32 > 3 values), then column layouts [2, 1, 6, 6] -> [2, 8, 4, 4] ->
  // [2, 1, 6, 6] (4 <= 8 and 4 <= 8).
  const Shape layouts[2][3] = {{Shape{2, 2, 6, 6}, Shape{3, 2, 3, 3}, Shape{3, 2, 4, 4}},
                               {Shape{2, 1, 6, 6}, Shape{8, 1, 2, 2}, Shape{8, 1, 2, 2}}};
  for (const auto& shapes : layouts) {
    INFO("x ", shapes[0].str(), ", weights ", shapes[1].str(), " and ", shapes[2].str());
    const Tensor<double> x = random_normal<double>(shapes[0], rng);
    const Tensor<double> w = random_normal<double>(shapes[1], rng);
    const Tensor<double> wt = random_normal<double>(shapes[2], rng);
    const Tensor<double> b = random_normal<double>(Shape{shapes[1][0]}, rng);
    const Tensor<double> bt = random_normal<double>(Shape{shapes[2][1]}, rng);
    Tape<double> tape;
    std::vector<const double*> first;
    Tensor<double> first_grads[3];
    for (int step = 0; step < 2; ++step) {
      tape.reset();
      const Var<double> xv = tape.variable(x);
      const Var<double> wv = tape.variable(w), bv = tape.variable(b);
      const Var<double> wtv = tape.variable(wt), btv = tape.variable(bt);
      const Var<double> y = vaegan::conv2d(xv, wv, bv, 2, 1);
      const Var<double> z = vaegan::conv_transpose2d(vaegan::tanh(y), wtv, btv, 2, 1);
      REQUIRE(z.shape() == x.shape());
      tape.backward(vaegan::sum(vaegan::mul(z, z)));
      std::vector<const double*> buffers;
      for (int i = 0; i < tape.size(); ++i) {
        const auto& n = tape.node(i);
        buffers.insert(buffers.end(), {n.value_buf.data(), n.grad_buf.data(), n.saved.data()});
      }
      const Tensor<double> grads[3] = {vaegan::test::grad_of(xv), vaegan::test::grad_of(wv),
                                       vaegan::test::grad_of(wtv)};
      if (step == 0) {
        first = buffers;
        for (int k = 0; k < 3; ++k) first_grads[k] = grads[k];
      } else {
        CHECK(buffers == first);
        for (int k = 0; k < 3; ++k) CHECK(vaegan::test::max_abs_diff(grads[k], first_grads[k]) == 0.0);
      }
    }
  }
  const Tensor<double> x = random_normal<double>(Shape{2, 2, 6, 6}, rng);
  const Tensor<double> w = random_normal<double>(Shape{3, 2, 3, 3}, rng);
  const Tensor<double> b = random_normal<double>(Shape{3}, rng);
  Tape<double> tape;
  // A backward pass for w alone leaves x's gradient untouched (zero).
  tape.reset();
  const Var<double> xv = tape.variable(x);
  const Var<double> wv = tape.variable(w);
  const Var<double> y = vaegan::conv2d(xv, wv, tape.constant(b), 1, 0);
  tape.backward(vaegan::sum(vaegan::mul(y, y)), {wv});
  CHECK(count_ops(tape, "conv2d") == 1);
  CHECK(vaegan::test::grad_of(xv).array().abs().maxCoeff() == 0.0);
  CHECK(vaegan::test::grad_of(wv).array().abs().maxCoeff() > 0.0);
}

TEST_CASE("conv2d: the ops refuse shapes that do not fit") {
  Tape<double> tape;
  const Var<double> x = tape.full(Shape{2, 3, 5, 5}, 1.0);
  const Var<double> b4 = tape.full(Shape{4}, 0.0);
  CHECK_THROWS_WITH_AS(vaegan::conv2d(x, tape.full(Shape{4, 2, 3, 3}, 1.0), b4),
                       doctest::Contains("x has 3 channels, the weight takes 2"), ShapeError);
  CHECK_THROWS_WITH_AS(vaegan::conv2d(x, tape.full(Shape{4, 3, 6, 6}, 1.0), b4),
                       doctest::Contains("larger than the padded input"), ShapeError);
  CHECK_THROWS_WITH_AS(vaegan::conv2d(x, tape.full(Shape{4, 3, 3, 3}, 1.0), tape.full(Shape{3}, 0.0)),
                       doctest::Contains("the bias must be [C_out]"), ShapeError);
  CHECK_THROWS_AS(vaegan::conv2d(x, tape.full(Shape{4, 3, 3, 3}, 1.0), b4, 0), ShapeError);
  CHECK_THROWS_AS(vaegan::conv2d(tape.full(Shape{2, 75}, 1.0), tape.full(Shape{4, 3, 3, 3}, 1.0), b4), ShapeError);
  CHECK_THROWS_WITH_AS(vaegan::conv_transpose2d(x, tape.full(Shape{3, 4, 3, 3}, 1.0), b4, 2, 1, 2),
                       doctest::Contains("output_padding must be >= 0 and smaller than the stride"), ShapeError);
}

// ---- layers ------------------------------------------------------------------------------

TEST_CASE("conv2d: the layers refuse sizes that give no whole output, naming layer, input, kernel, stride, padding") {
  CHECK_THROWS_WITH_AS(Conv2d<float>(1, 32, 4, 2, 1).output_shape(Shape{1, 3, 3}),
                       doctest::Contains("Conv2d (in 1, out 32, kernel 4, stride 2, padding 1): input [1, 3, 3] "
                                         "gives an output size of 1.5 x 1.5"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(Conv2d<float>(1, 4, 5).output_shape(Shape{1, 3, 8}),
                       doctest::Contains("input [1, 3, 8] gives an output size of -1 x 4"), ShapeError);
  CHECK_THROWS_WITH_AS(Conv2d<float>(3, 4, 3).output_shape(Shape{1, 8, 8}),
                       doctest::Contains("Conv2d (in 3, out 4, kernel 3, stride 1, padding 0): takes samples of "
                                         "[3, H, W], got [1, 8, 8]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(Conv2d<float>(1, 4, 3).output_shape(Shape{784}),
                       doctest::Contains("got [784] (put a Reshape before it)"), ShapeError);
  CHECK_THROWS_WITH_AS(
      ConvTranspose2d<float>(4, 1, 4, 2, 3).output_shape(Shape{4, 1, 1}),
      doctest::Contains("ConvTranspose2d (in 4, out 1, kernel 4, stride 2, padding 3, output_padding 0): input "
                        "[4, 1, 1] gives an output size of -2 x -2"),
      ShapeError);
  // Sizes that fit, the MNIST ones among them.
  CHECK(Conv2d<float>(1, 32, 4, 2, 1).output_shape(Shape{1, 28, 28}) == Shape{32, 14, 14});
  CHECK(Conv2d<float>(2, 3, 3, 2, 1).output_shape(Shape{2, 5, 7}) == Shape{3, 3, 4});
  CHECK(ConvTranspose2d<float>(32, 1, 4, 2, 1).output_shape(Shape{32, 14, 14}) == Shape{1, 28, 28});
  CHECK(ConvTranspose2d<float>(2, 3, 3, 2, 1, 1).output_shape(Shape{2, 4, 4}) == Shape{3, 8, 8});
  // Settings PyTorch refuses too.
  CHECK_THROWS_WITH_AS(Conv2d<float>(1, 4, 0), doctest::Contains("kernel 0, stride 1, padding 0): the kernel must be"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(Conv2d<float>(1, 4, 3, 0), doctest::Contains("the stride must be >= 1"), ShapeError);
  CHECK_THROWS_WITH_AS(Conv2d<float>(1, 4, 3, 1, -1), doctest::Contains("the padding must be >= 0"), ShapeError);
  CHECK_THROWS_WITH_AS(Conv2d<float>(0, 4, 3), doctest::Contains("the channel counts must be >= 1"), ShapeError);
  CHECK_THROWS_WITH_AS(ConvTranspose2d<float>(4, 1, 4, 2, 1, 2),
                       doctest::Contains("output_padding must be >= 0 and smaller than the stride"), ShapeError);
  // In a network, the message says which layer.
  using Net = vaegan::Network<float>;
  CHECK_THROWS_WITH_AS(
      Net("net", Shape{1, 28, 28},
          Sequential<float>(Conv2d<float>(1, 4, 4, 2, 1), Tanh<float>(), Conv2d<float>(4, 8, 3, 2, 0))),
      doctest::Contains("Conv2d (in 4, out 8, kernel 3, stride 2, padding 0): input [4, 14, 14] "
                        "gives an output size of 6.5 x 6.5"),
      ShapeError);
  // A bound layer fed a batch of another rank.
  Net net("net", Shape{1, 6, 6}, Sequential<float>(Conv2d<float>(1, 2, 3)));
  Tape<float> tape;
  CHECK_THROWS_WITH_AS(net.forward(tape.full(Shape{2, 36}, 1.0f), vaegan::ForwardContext::eval()),
                       doctest::Contains("Conv2d 'net.0' (in 1, out 2, kernel 3, stride 1, padding 0): takes a batch"),
                       ShapeError);
}

TEST_CASE("conv2d: layer structure, parameter layouts and PyTorch's default init") {
  vaegan::Network<double> net(
      "net", Shape{3, 8, 8}, Sequential<double>(Conv2d<double>(3, 8, 3, 1, 1), ConvTranspose2d<double>(8, 2, 4, 2, 1)));
  const auto s = net.structure();
  REQUIRE(s.layers.size() == 2);
  CHECK(s.layers[0].type == "Conv2d");
  CHECK(s.layers[1].type == "ConvTranspose2d");
  CHECK(s.layers[0].output == Shape{8, 8, 8});
  CHECK(s.layers[1].output == Shape{2, 16, 16});
  const vaegan::Attributes expected{{"in", "8"},     {"out", "2"},     {"kernel", "4"},
                                    {"stride", "2"}, {"padding", "1"}, {"output_padding", "0"}};
  CHECK(s.layers[1].attributes == expected);
  CHECK(s.layers[0].attributes.size() == 5);
  REQUIRE(s.parameters.size() == 4);
  CHECK(s.parameters[0].name == "net.0.weight");
  CHECK(s.parameters[0].shape == Shape{8, 3, 3, 3});
  CHECK(s.parameters[1].name == "net.0.bias");
  CHECK(s.parameters[2].shape == Shape{8, 2, 4, 4});  // ConvTranspose2d: [in, out, k, k]
  CHECK(s.parameters[3].shape == Shape{2});
  for (const auto& p : s.parameters) CHECK(p.torch_layout == vaegan::TorchLayout::same);
  // U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = weight dim 1 * k * k: 3*9 and 2*16.
  const auto& params = net.parameters();
  const double bounds[4] = {1 / std::sqrt(27.0), 1 / std::sqrt(27.0), 1 / std::sqrt(32.0), 1 / std::sqrt(32.0)};
  for (int i = 0; i < 4; ++i) {
    const auto& slice = params.slice(i);
    double largest = 0.0;
    for (Index j = 0; j < slice.shape.numel(); ++j)
      largest = std::max(largest, std::abs(params.values()[slice.offset + j]));
    INFO(slice.name, ": largest ", largest, ", bound ", bounds[i]);
    CHECK(largest <= bounds[i]);
    if (slice.shape.numel() > 100) CHECK(largest > 0.9 * bounds[i]);
  }
}

TEST_CASE("conv2d: layer parameter gradients through a network match finite differences") {
  Rng rng(10);
  SUBCASE("odd sizes") {
    vaegan::Network<double> net(
        "net", Shape{2, 5, 7},
        Sequential<double>(Conv2d<double>(2, 3, 3, 2, 1), Tanh<double>(), ConvTranspose2d<double>(3, 2, 3, 2, 1)));
    CHECK(net.output_shape() == Shape{2, 5, 7});
    const double error = vaegan::test::network_gradient_error(net, random_normal<double>(Shape{2, 2, 5, 7}, rng));
    vaegan::test::GradcheckLedger::instance().record(__FILE__, error);
    INFO(error);
    CHECK(error < vaegan::test::kGradcheckTolerance);
  }
  SUBCASE("the MNIST shapes: 1x28x28 -> 4x14x14 -> 1x28x28") {
    vaegan::Network<double> net(
        "net", Shape{1, 28, 28},
        Sequential<double>(Conv2d<double>(1, 4, 4, 2, 1), Tanh<double>(), ConvTranspose2d<double>(4, 1, 4, 2, 1)));
    CHECK(net.structure().layers[0].output == Shape{4, 14, 14});
    CHECK(net.output_shape() == Shape{1, 28, 28});
    const double error = vaegan::test::network_gradient_error(net, random_normal<double>(Shape{2, 1, 28, 28}, rng));
    vaegan::test::GradcheckLedger::instance().record(__FILE__, error);
    INFO(error);
    CHECK(error < vaegan::test::kGradcheckTolerance);
  }
}

TEST_CASE("conv2d: parameter gradients in overwrite mode equal zero_grad + backward, whatever the buffer held") {
  vaegan::Network<double> net(
      "net", Shape{1, 6, 6},
      Sequential<double>(Conv2d<double>(1, 2, 3, 1, 1), Tanh<double>(), ConvTranspose2d<double>(2, 1, 2, 2, 0),
                         Tanh<double>(), Conv2d<double>(1, 1, 1)));
  Rng rng(12);
  const Tensor<double> x = random_normal<double>(Shape{2, 1, 6, 6}, rng);
  auto& params = net.parameters();
  auto run = [&](bool overwrite) {
    Tape<double> tape;
    const Var<double> y = net.forward(tape.constant(x), vaegan::ForwardContext::eval());
    if (overwrite) {
      params.grads().fill(std::numeric_limits<double>::quiet_NaN());
      params.begin_overwrite();
    } else {
      params.zero_grad();
    }
    tape.backward(vaegan::sum(vaegan::mul(y, y)), {params});
    params.end_overwrite();
    return Tensor<double>(params.grads());
  };
  const Tensor<double> reference = run(false);
  const Tensor<double> overwritten = run(true);
  CHECK(vaegan::test::max_abs_diff(reference, overwritten) == 0.0);
}

TEST_CASE("conv2d and conv_transpose2d: the profiler splits a step into forward, weight and input gradient") {
  // conv2 of the conv preset (row layout) and its transposed twin, at batch 2; the FLOPs the
  // profile records are the GEMMs' 2 N P K C.
  Rng rng(5);
  Tape<float> tape;
  const Var<float> x = tape.variable(random_normal<float>(Shape{2, 32, 14, 14}, rng));
  const Var<float> w = tape.variable(random_normal<float>(Shape{64, 32, 4, 4}, rng));
  const Var<float> b = tape.variable(random_normal<float>(Shape{64}, rng));
  const Var<float> wt = tape.variable(random_normal<float>(Shape{64, 32, 4, 4}, rng));
  const Var<float> bt = tape.variable(random_normal<float>(Shape{32}, rng));
  auto& registry = vaegan::profile::Registry::instance();
  registry.clear();
  vaegan::profile::set_enabled(true);
  const Var<float> y = vaegan::conv2d(x, w, b, 2, 1);
  const Var<float> z = vaegan::conv_transpose2d(y, wt, bt, 2, 1);
  tape.backward(vaegan::sum(vaegan::mul(z, z)));
  vaegan::profile::set_enabled(false);
  const auto entries = registry.entries();
  registry.clear();
  const double gemm = 2.0 * 2 * 49 * (32 * 16) * 64;  // N P K C_out, either op
  for (const char* phase : {"conv2d forward", "conv2d weight grad", "conv2d input grad", "conv_transpose2d forward",
                            "conv_transpose2d weight grad", "conv_transpose2d input grad"}) {
    INFO(phase);
    double flops = -1;
    for (const auto& e : entries)
      if (e.phase == phase) flops = e.flops;
    CHECK(flops == gemm);
  }
  double seconds = 0;
  for (const auto& e : entries) {
    CHECK(e.seconds >= 0.0);
    seconds += e.seconds;
  }
  CHECK(seconds > 0.0);
}

TEST_CASE("conv layout copies: NCHW <-> NHWC equal the element-wise transpose for every block shape") {
  // The AVX-512 16 x 16 register transposes (whole and partial blocks) against the plain loop,
  // bit for bit: with and without bias, and accumulating.
  Rng rng(9);
  for (Index channels : {1, 3, 16, 17, 32, 64})
    for (Index plane : {1, 5, 16, 49, 196}) {
      INFO("channels " << channels << ", plane " << plane);
      const Tensor<float> x = random_normal<float>(Shape{channels * plane}, rng);
      const Tensor<float> bias = random_normal<float>(Shape{channels}, rng);
      const Tensor<float> old = random_normal<float>(Shape{channels * plane}, rng);
      std::vector<float> xt(static_cast<std::size_t>(channels * plane), -1.f);
      vaegan::detail::to_position_major(x.data(), channels, plane, xt.data());
      bool same = true;
      for (Index c = 0; c < channels; ++c)
        for (Index q = 0; q < plane; ++q)
          same = same && xt[static_cast<std::size_t>(q * channels + c)] == x[c * plane + q];
      CHECK(same);
      for (int mode = 0; mode < 3; ++mode) {  // plain, bias, accumulate
        std::vector<float> y(old.data(), old.data() + channels * plane);
        vaegan::detail::from_position_major(xt.data(), channels, plane, mode == 1 ? bias.data() : nullptr, mode == 2,
                                            y.data());
        bool equal = true;
        for (Index c = 0; c < channels; ++c)
          for (Index q = 0; q < plane; ++q) {
            const float v = x[c * plane + q];
            const float expected = mode == 2 ? old[c * plane + q] + v : v + (mode == 1 ? bias[c] : 0.f);
            equal = equal && y[static_cast<std::size_t>(c * plane + q)] == expected;
          }
        CHECK(equal);
      }
    }
}
