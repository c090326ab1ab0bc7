// Tests for batch normalization: the ops (ops/batch_norm.hpp) in training and evaluation
// form against a naive computation and finite differences, and the BatchNorm1d /
// BatchNorm2d layers (nn/batch_norm.hpp): PyTorch's running-statistics update, eval mode,
// refusals, and the layer inside a Network (names, parameter gradients); a ReLU or
// LeakyReLU fused into it, against the two ops.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "nn/network_gradcheck.hpp"
#include "test_util.hpp"
#include "vaegan/nn/activation_layer.hpp"
#include "vaegan/nn/batch_norm.hpp"
#include "vaegan/nn/network.hpp"
#include "vaegan/nn/reshape.hpp"
#include "vaegan/nn/sequential.hpp"
#include "vaegan/ops/batch_norm.hpp"

using vaegan::BatchNorm1d;
using vaegan::BatchNorm2d;
using vaegan::Dense;
using vaegan::ForwardContext;
using vaegan::Index;
using vaegan::Rng;
using vaegan::Sequential;
using vaegan::Shape;
using vaegan::ShapeError;
using vaegan::Tape;
using vaegan::Tensor;
using vaegan::Var;
using vaegan::test::random_normal;
using vaegan::test::random_uniform;
using vaegan::test::Vars;

namespace {

// x [N, C, ...] as N x C x S values (S = 1 for [N, C]).
struct Layout {
  Index n, c, s;
  Index at(Index b, Index ch, Index k) const { return (b * c + ch) * s + k; }
};
Layout layout_of(const Shape& x) { return {x[0], x[1], x.numel() / (x[0] * x[1])}; }

// Per-channel mean and biased variance of x, by the textbook loops.
struct Moments {
  std::vector<double> mean, var;
};
Moments naive_moments(const Tensor<double>& x) {
  const Layout l = layout_of(x.shape());
  Moments m{std::vector<double>(static_cast<std::size_t>(l.c), 0.0),
            std::vector<double>(static_cast<std::size_t>(l.c), 0.0)};
  const double count = static_cast<double>(l.n * l.s);
  for (Index ch = 0; ch < l.c; ++ch) {
    double sum = 0.0;
    for (Index b = 0; b < l.n; ++b)
      for (Index k = 0; k < l.s; ++k) sum += x[l.at(b, ch, k)];
    const double mean = sum / count;
    double sq = 0.0;
    for (Index b = 0; b < l.n; ++b)
      for (Index k = 0; k < l.s; ++k) sq += (x[l.at(b, ch, k)] - mean) * (x[l.at(b, ch, k)] - mean);
    m.mean[static_cast<std::size_t>(ch)] = mean;
    m.var[static_cast<std::size_t>(ch)] = sq / count;
  }
  return m;
}

// y = gamma (x - mean) / sqrt(var + eps) + beta with the given per-channel statistics.
Tensor<double> naive_normalize(const Tensor<double>& x, const Moments& m, const std::vector<double>& gamma,
                               const std::vector<double>& beta, double eps) {
  const Layout l = layout_of(x.shape());
  Tensor<double> y(x.shape());
  for (Index b = 0; b < l.n; ++b)
    for (Index ch = 0; ch < l.c; ++ch)
      for (Index k = 0; k < l.s; ++k) {
        const auto c = static_cast<std::size_t>(ch);
        y[l.at(b, ch, k)] = gamma[c] * (x[l.at(b, ch, k)] - m.mean[c]) / std::sqrt(m.var[c] + eps) + beta[c];
      }
  return y;
}

std::vector<double> to_vector(const Tensor<double>& t) { return std::vector<double>(t.data(), t.data() + t.numel()); }

const ForwardContext kTrain = ForwardContext::train_without_noise();
const ForwardContext kEval = ForwardContext::eval();

}  // namespace

TEST_CASE("batch_norm: training-form values match a naive computation, 1-d and 2-d") {
  Rng rng(1);
  for (const Shape& shape : {Shape{5, 3}, Shape{2, 3, 2, 3}, Shape{4, 2, 5}, Shape{2, 4}}) {
    INFO("x ", shape.str());
    const Index c = shape[1];
    const Tensor<double> x = random_normal<double>(shape, rng, 2.0, 3.0);  // a mean far from 0
    const Tensor<double> gamma = random_uniform<double>(Shape{c}, rng, 0.5, 1.5);
    const Tensor<double> beta = random_normal<double>(Shape{c}, rng);
    const double eps = 1e-3;
    Tape<double> tape;
    const Tensor<double> y =
        vaegan::test::value_of(vaegan::batch_norm(tape.constant(x), tape.constant(gamma), tape.constant(beta), eps));
    const Tensor<double> expected = naive_normalize(x, naive_moments(x), to_vector(gamma), to_vector(beta), eps);
    CHECK(vaegan::test::max_abs_diff(y, expected) < 1e-12);
  }
}

TEST_CASE("batch_norm: training-form gradients w.r.t. x, gamma and beta match finite differences") {
  Rng rng(2);
  struct Case {
    Shape shape;
    double eps;
  };
  // [2, 3]: the batch-2 corner of 1-d, where xhat is +-1 up to eps (a large eps keeps its
  // derivative well above the finite differences' noise); [2, 3, 2, 3]: batch 2 in 2-d.
  for (const Case& k :
       {Case{Shape{5, 3}, 1e-5}, Case{Shape{2, 3, 2, 3}, 1e-5}, Case{Shape{2, 3}, 0.5}, Case{Shape{3, 2, 4}, 1e-5}}) {
    INFO("x ", k.shape.str(), " eps ", k.eps);
    const Index c = k.shape[1];
    const Tensor<double> x = random_normal<double>(k.shape, rng, 0.5, 1.5);
    const Tensor<double> gamma = random_uniform<double>(Shape{c}, rng, 0.5, 1.5);
    const Tensor<double> beta = random_normal<double>(Shape{c}, rng);
    const double eps = k.eps;
    VAEGAN_CHECK_GRADIENTS([&](Tape<double>&, const Vars& in) { return vaegan::batch_norm(in[0], in[1], in[2], eps); },
                           {x, gamma, beta});
  }
}

TEST_CASE("batch_norm: gradients accumulate over several consumers and skip inputs that need none") {
  Rng rng(3);
  const Tensor<double> x = random_normal<double>(Shape{4, 2, 2, 2}, rng);
  const Tensor<double> x2 = random_normal<double>(Shape{4, 2, 2, 2}, rng);
  const Tensor<double> gamma = random_uniform<double>(Shape{2}, rng, 0.5, 1.5);
  const Tensor<double> beta = random_normal<double>(Shape{2}, rng);
  const double mean[2] = {0.3, -0.2}, var[2] = {1.7, 0.6};
  // x, gamma and beta each reach the loss twice (keep = 1 on the second write).
  VAEGAN_CHECK_GRADIENTS(
      [&](Tape<double>& t, const Vars& in) {
        Var<double> a = vaegan::batch_norm(in[0], in[1], in[2]);
        Var<double> b = vaegan::batch_norm(vaegan::mul(in[0], in[0]), in[1], in[2]);
        Var<double> e = vaegan::batch_norm_eval(t.constant(x2), in[1], in[2], mean, var);
        return vaegan::add(vaegan::add(a, vaegan::mul(b, in[0])), e);
      },
      {x, gamma, beta});
  // Only x takes a gradient (gamma and beta are constants), then only gamma.
  VAEGAN_CHECK_GRADIENTS(
      [&](Tape<double>& t, const Vars& in) { return vaegan::batch_norm(in[0], t.constant(gamma), t.constant(beta)); },
      {x});
  VAEGAN_CHECK_GRADIENTS(
      [&](Tape<double>& t, const Vars& in) { return vaegan::batch_norm(t.constant(x), in[0], t.constant(beta)); },
      {gamma});
  // A constant input records no backward at all.
  Tape<double> tape;
  Var<double> y = vaegan::batch_norm(tape.constant(x), tape.constant(gamma), tape.constant(beta));
  const bool has_backward = y.node().backward != nullptr;
  CHECK_FALSE(has_backward);
}

TEST_CASE("batch_norm: evaluation-form values and gradients, 1-d and 2-d") {
  Rng rng(4);
  for (const Shape& shape : {Shape{5, 3}, Shape{2, 3, 2, 3}, Shape{1, 3}}) {
    INFO("x ", shape.str());
    const Index c = shape[1];
    const Tensor<double> x = random_normal<double>(shape, rng);
    const Tensor<double> gamma = random_uniform<double>(Shape{c}, rng, 0.5, 1.5);
    const Tensor<double> beta = random_normal<double>(Shape{c}, rng);
    Moments stats{std::vector<double>(static_cast<std::size_t>(c)), std::vector<double>(static_cast<std::size_t>(c))};
    for (Index i = 0; i < c; ++i) {
      stats.mean[static_cast<std::size_t>(i)] = rng.uniform(-1.0, 1.0);
      stats.var[static_cast<std::size_t>(i)] = rng.uniform(0.3, 2.0);
    }
    const double eps = 1e-5;
    Tape<double> tape;
    const Tensor<double> y = vaegan::test::value_of(vaegan::batch_norm_eval(
        tape.constant(x), tape.constant(gamma), tape.constant(beta), stats.mean.data(), stats.var.data(), eps));
    CHECK(vaegan::test::max_abs_diff(y, naive_normalize(x, stats, to_vector(gamma), to_vector(beta), eps)) < 1e-12);
    VAEGAN_CHECK_GRADIENTS(
        [&](Tape<double>&, const Vars& in) {
          return vaegan::batch_norm_eval(in[0], in[1], in[2], stats.mean.data(), stats.var.data(), eps);
        },
        {x, gamma, beta});
  }
}

TEST_CASE("batch_norm: a repeated step reuses the node's buffers") {
  Rng rng(5);
  const Tensor<double> x = random_normal<double>(Shape{4, 3, 2, 2}, rng);
  const Tensor<double> gamma(Shape{3}, 1.0), beta(Shape{3}, 0.0);
  Tape<double> tape;
  const double* saved = nullptr;
  const double* value = nullptr;
  for (int step = 0; step < 3; ++step) {
    tape.reset();
    Var<double> xv = tape.variable(x);
    Var<double> y = vaegan::batch_norm(xv, tape.variable(gamma), tape.variable(beta));
    tape.backward(vaegan::sum(vaegan::mul(y, y)));
    if (step == 0) {
      saved = y.node().saved.data();
      value = y.node().value;
    }
    CHECK(y.node().saved.data() == saved);
    CHECK(y.node().value == value);
    CHECK(y.node().saved.shape() == Shape({4, 3}));  // mu, r, scale and shift per channel
  }
}

TEST_CASE("batch_norm: BatchNorm layers update running statistics as PyTorch does and use them in eval mode") {
  Rng rng(6);
  for (int dims : {1, 2}) {
    INFO("BatchNorm", dims, "d");
    const Index c = 3;
    const Shape sample = dims == 1 ? Shape{c} : Shape{c, 2, 3};
    const Shape batch = dims == 1 ? Shape{5, c} : Shape{2, c, 2, 3};
    const double momentum = 0.1, eps = 1e-5;
    Sequential<double> seq;
    if (dims == 1) seq.add(BatchNorm1d<double>(c));
    else seq.add(BatchNorm2d<double>(c));
    vaegan::Network<double> net("net", sample, std::move(seq));
    auto& params = net.parameters();
    // Trained parameters that are not the initial 1 and 0, so eval mode shows them.
    const std::vector<double> gamma = {0.8, 1.3, 1.1}, beta = {0.2, -0.4, 0.0};
    std::copy(gamma.begin(), gamma.end(), params.value_ptr(0));
    std::copy(beta.begin(), beta.end(), params.value_ptr(1));

    std::vector<double> running_mean(3, 0.0), running_var(3, 1.0);
    Tape<double> tape;
    for (int step = 0; step < 3; ++step) {
      const Tensor<double> x = random_normal<double>(batch, rng, 1.0 + step, 2.0);
      tape.reset();
      const Tensor<double> y = vaegan::test::value_of(net.forward(tape.constant(x), kTrain));
      // The batch's own statistics normalize in train mode.
      const Moments m = naive_moments(x);
      CHECK(vaegan::test::max_abs_diff(y, naive_normalize(x, m, gamma, beta, eps)) < 1e-12);
      // PyTorch: running = (1 - momentum) running + momentum batch, the variance unbiased.
      const double count = static_cast<double>(x.numel()) / static_cast<double>(c);
      for (std::size_t i = 0; i < 3; ++i) {
        running_mean[i] = (1 - momentum) * running_mean[i] + momentum * m.mean[i];
        running_var[i] = (1 - momentum) * running_var[i] + momentum * m.var[i] * count / (count - 1);
      }
    }
    const auto& buffers = params.buffer_slices();
    REQUIRE(buffers.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
      CHECK(params.buffer_ptr(0)[i] == vaegan::test::relative(running_mean[i], 1e-12));
      CHECK(params.buffer_ptr(1)[i] == vaegan::test::relative(running_var[i], 1e-12));
    }
    CHECK(params.buffer_ptr(2)[0] == 3.0);

    // Eval mode normalizes with the running statistics and leaves them alone.
    const Tensor<double> x = random_normal<double>(batch, rng);
    tape.reset();
    const Tensor<double> y = vaegan::test::value_of(net.forward(tape.constant(x), kEval));
    CHECK(vaegan::test::max_abs_diff(y, naive_normalize(x, Moments{running_mean, running_var}, gamma, beta, eps)) <
          1e-12);
    CHECK(params.buffer_ptr(2)[0] == 3.0);
    CHECK(params.buffer_ptr(0)[0] == vaegan::test::relative(running_mean[0], 1e-12));
    // Eval mode takes a batch of one; gradients reach the input and the parameters.
    VAEGAN_CHECK_GRADIENTS([&](Tape<double>&, const Vars& in) { return net.forward(in[0], kEval); },
                           {random_normal<double>(batch.with_rows(1), rng)});
    const double error = vaegan::test::network_gradient_error(net, x, kEval);
    INFO("eval parameter gradient error ", error);
    CHECK(error < 1e-6);

    // reset_parameters restores PyTorch's initial state.
    Rng init(1);
    net.reset_parameters(init);
    for (Index i = 0; i < c; ++i) {
      CHECK(params.value_ptr(0)[i] == 1.0);
      CHECK(params.value_ptr(1)[i] == 0.0);
      CHECK(params.buffer_ptr(0)[i] == 0.0);
      CHECK(params.buffer_ptr(1)[i] == 1.0);
    }
    CHECK(params.buffer_ptr(2)[0] == 0.0);
  }
}

TEST_CASE("batch_norm: a training batch of one value per channel is refused, not turned into NaN") {
  vaegan::Network<double> net1("net", Shape{3}, Sequential<double>(BatchNorm1d<double>(3)));
  Tape<double> tape;
  const Tensor<double> one(Shape{1, 3}, 0.5);
  CHECK_THROWS_WITH_AS(net1.forward(tape.constant(one), kTrain),
                       "BatchNorm1d 'net.0': expected more than 1 value per channel when training, got input [1, 3]: "
                       "the variance of one sample is undefined; train with a batch of 2 or more, or run it in eval "
                       "mode (running statistics)",
                       vaegan::Error);
  // Nothing was updated by the refused step.
  CHECK(net1.parameters().buffer_ptr(2)[0] == 0.0);
  CHECK(net1.parameters().buffer_ptr(1)[0] == 1.0);
  // 2-d: one image of one pixel; one image of several pixels is fine.
  vaegan::Network<double> net2("net", Shape{2, 1, 1}, Sequential<double>(BatchNorm2d<double>(2)));
  CHECK_THROWS_WITH_AS(net2.forward(tape.constant(Tensor<double>(Shape{1, 2, 1, 1}, 1.0)), kTrain),
                       doctest::Contains("the variance of one sample is undefined"), vaegan::Error);
  vaegan::Network<double> net3("net", Shape{2, 2, 2}, Sequential<double>(BatchNorm2d<double>(2)));
  Rng rng(7);
  CHECK(std::isfinite(
      vaegan::test::value_of(net3.forward(tape.constant(random_normal<double>(Shape{1, 2, 2, 2}, rng)), kTrain))[0]));
  // The op refuses it too.
  CHECK_THROWS_WITH_AS(vaegan::batch_norm(tape.constant(one), tape.constant(Tensor<double>(Shape{3}, 1.0)),
                                          tape.constant(Tensor<double>(Shape{3}, 0.0))),
                       doctest::Contains("batch_norm: expected more than 1 value per channel when training"),
                       vaegan::Error);
}

TEST_CASE("batch_norm: shapes and settings that do not fit are refused") {
  CHECK(BatchNorm1d<float>(4).output_shape(Shape{4}) == Shape{4});
  CHECK(BatchNorm2d<float>(3).output_shape(Shape{3, 5, 7}) == Shape({3, 5, 7}));
  CHECK_THROWS_WITH_AS(BatchNorm1d<float>(4).output_shape(Shape{4, 2, 2}),
                       "BatchNorm1d takes samples of [features], got [4, 2, 2] (use BatchNorm2d for images)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(BatchNorm1d<float>(4).output_shape(Shape{5}),
                       "BatchNorm1d normalizes 4 features, got samples of [5] (5 features)", ShapeError);
  CHECK_THROWS_WITH_AS(BatchNorm2d<float>(3).output_shape(Shape{12}),
                       "BatchNorm2d takes samples of [channels, height, width], got [12] (use BatchNorm1d for "
                       "feature vectors)",
                       ShapeError);
  CHECK_THROWS_WITH_AS(BatchNorm2d<float>(3).output_shape(Shape{1, 5, 5}),
                       "BatchNorm2d normalizes 3 channels, got samples of [1, 5, 5] (1 channels)", ShapeError);
  // In a network: the network and the part are named.
  CHECK_THROWS_WITH_AS(vaegan::Network<float>("critic", Shape{1, 4, 4},
                                              Sequential<float>(BatchNorm2d<float>(3), vaegan::Flatten<float>())),
                       doctest::Contains("layer '0' (BatchNorm2d): BatchNorm2d normalizes 3 channels"), ShapeError);
  // A forward on a batch of another shape.
  vaegan::Network<double> net("net", Shape{3}, Sequential<double>(BatchNorm1d<double>(3)));
  Tape<double> tape;
  CHECK_THROWS_WITH_AS(net.forward(tape.constant(Tensor<double>(Shape{4, 2}, 0.0)), kTrain),
                       "BatchNorm1d 'net.0': expects a batch of [N, features], got [4, 2]", ShapeError);
  // The op: gamma and beta need one value per channel.
  CHECK_THROWS_WITH_AS(
      vaegan::batch_norm(tape.constant(Tensor<double>(Shape{4, 3, 2, 2}, 0.0)),
                         tape.constant(Tensor<double>(Shape{2}, 1.0)), tape.constant(Tensor<double>(Shape{3}, 0.0))),
      "batch_norm: gamma and beta need one value per channel (3 for x [4, 3, 2, 2]), got [2] and [3]", ShapeError);
  CHECK_THROWS_WITH_AS(
      vaegan::batch_norm(tape.constant(Tensor<double>(Shape{4}, 0.0)), tape.constant(Tensor<double>(Shape{1}, 1.0)),
                         tape.constant(Tensor<double>(Shape{1}, 0.0))),
      doctest::Contains("x must be [N, C] or [N, C, H, W]"), ShapeError);
  // Settings.
  CHECK_THROWS_WITH_AS(BatchNorm1d<float>(0), "BatchNorm1d: num_features must be >= 1, got 0", vaegan::Error);
  CHECK_THROWS_WITH_AS(BatchNorm2d<float>(3, 0.0), "BatchNorm2d: eps must be > 0, got 0", vaegan::Error);
  CHECK_THROWS_WITH_AS(BatchNorm2d<float>(3, 1e-5, 1.5), "BatchNorm2d: momentum must be in [0, 1], got 1.5",
                       vaegan::Error);
  // A layer used before a network bound it.
  Tape<float> tf;
  CHECK_THROWS_WITH_AS(BatchNorm1d<float>(3).forward(tf.constant(Tensor<float>(Shape{2, 3}, 0.0f)), kEval),
                       doctest::Contains("BatchNorm1d(3): the layer is not part of a network yet"), vaegan::Error);
}

TEST_CASE("batch_norm: layers in a Network register PyTorch's names, and gradients match finite differences") {
  // 1-d: Dense -> BatchNorm1d -> Tanh -> Dense
  vaegan::Network<double> net("net", Shape{4},
                              Sequential<double>(Dense<double>(4, 6), BatchNorm1d<double>(6, 1e-5, 0.2),
                                                 vaegan::Tanh<double>(), Dense<double>(6, 2)));
  const auto s = net.structure();
  REQUIRE(s.parameters.size() == 6);
  CHECK(s.parameters[2].name == "net.1.weight");
  CHECK(s.parameters[3].name == "net.1.bias");
  CHECK(s.parameters[2].shape == Shape{6});
  REQUIRE(s.buffers.size() == 3);
  CHECK(s.buffers[0].name == "net.1.running_mean");
  CHECK(s.buffers[1].name == "net.1.running_var");
  CHECK(s.buffers[2].name == "net.1.num_batches_tracked");
  CHECK(s.buffers[2].shape == Shape{1});
  CHECK(s.layers[1].type == "BatchNorm1d");
  CHECK(s.layers[1].attributes == vaegan::Attributes{{"num_features", "6"}, {"eps", "1e-05"}, {"momentum", "0.2"}});
  Rng rng(8);
  const Tensor<double> x = random_normal<double>(Shape{5, 4}, rng);
  VAEGAN_CHECK_GRADIENTS([&](Tape<double>&, const Vars& in) { return net.forward(in[0], kTrain); }, {x});
  double error = vaegan::test::network_gradient_error(net, x, kTrain);
  INFO("1-d train parameter gradient error ", error);
  CHECK(error < 1e-6);

  // 2-d: BatchNorm2d -> Tanh -> Flatten -> Dense, batch 2.
  vaegan::Network<double> conv("critic", Shape{3, 2, 3},
                               Sequential<double>(BatchNorm2d<double>(3), vaegan::Tanh<double>(),
                                                  vaegan::Flatten<double>(), Dense<double>(18, 2)));
  const auto s2 = conv.structure();
  CHECK(s2.layers[0].type == "BatchNorm2d");
  REQUIRE(s2.buffers.size() == 3);
  CHECK(s2.buffers[0].name == "net.0.running_mean");
  const Tensor<double> images = random_normal<double>(Shape{2, 3, 2, 3}, rng, 0.5, 2.0);
  VAEGAN_CHECK_GRADIENTS([&](Tape<double>&, const Vars& in) { return conv.forward(in[0], kTrain); }, {images});
  error = vaegan::test::network_gradient_error(conv, images, kTrain);
  INFO("2-d train parameter gradient error ", error);
  CHECK(error < 1e-6);
  VAEGAN_CHECK_GRADIENTS([&](Tape<double>&, const Vars& in) { return conv.forward(in[0], kEval); }, {images});
  error = vaegan::test::network_gradient_error(conv, images, kEval);
  INFO("2-d eval parameter gradient error ", error);
  CHECK(error < 1e-6);
}

TEST_CASE("batch_norm: BatchNorm2d in float agrees with double") {
  Rng rng(9);
  const Tensor<double> xd = random_normal<double>(Shape{4, 2, 3, 3}, rng, 1.0, 2.0);
  Tensor<float> xf(xd.shape());
  for (Index i = 0; i < xd.numel(); ++i) xf[i] = static_cast<float>(xd[i]);
  vaegan::Network<float> nf("net", Shape{2, 3, 3}, Sequential<float>(BatchNorm2d<float>(2)));
  vaegan::Network<double> nd("net", Shape{2, 3, 3}, Sequential<double>(BatchNorm2d<double>(2)));
  Tape<float> tf;
  Tape<double> td;
  const Tensor<float> yf = vaegan::test::value_of(nf.forward(tf.constant(xf), kTrain));
  const Tensor<double> yd = vaegan::test::value_of(nd.forward(td.constant(xd), kTrain));
  double worst = 0.0;
  for (Index i = 0; i < yd.numel(); ++i) worst = std::max(worst, std::abs(static_cast<double>(yf[i]) - yd[i]));
  CHECK(worst < 1e-5);
  CHECK(std::abs(static_cast<double>(nf.parameters().buffer_ptr(1)[1]) - nd.parameters().buffer_ptr(1)[1]) < 1e-5);
}

TEST_CASE("batch_norm: results are bit-identical whatever the thread count (channels split across threads)") {
  vaegan::test::ThreadCountGuard guard;
  Rng rng(10);
  // 16 channels of 8 x 32 x 32 = 8192 values: several chunks of channels, so threads share the work.
  const Tensor<double> x = random_normal<double>(Shape{8, 16, 32, 32}, rng, 1.0, 2.0);
  const Tensor<double> gamma = random_uniform<double>(Shape{16}, rng, 0.5, 1.5);
  const Tensor<double> beta = random_normal<double>(Shape{16}, rng);
  const Tensor<double> r = random_normal<double>(x.shape(), rng);
  auto run = [&](int threads, Tensor<double>& y, Tensor<double>& dx, Tensor<double>& dgamma) {
    vaegan::set_num_threads(threads);
    Tape<double> tape;
    Var<double> xv = tape.variable(x), g = tape.variable(gamma);
    Var<double> out = vaegan::batch_norm(xv, g, tape.variable(beta));
    tape.backward(vaegan::sum(vaegan::mul(out, tape.constant(r))));
    y = vaegan::test::value_of(out);
    dx = vaegan::test::grad_of(xv);
    dgamma = vaegan::test::grad_of(g);
  };
  Tensor<double> y1, dx1, dg1, y4, dx4, dg4;
  run(1, y1, dx1, dg1);
  run(4, y4, dx4, dg4);
  CHECK(vaegan::test::max_abs_diff(y1, y4) == 0.0);
  CHECK(vaegan::test::max_abs_diff(dx1, dx4) == 0.0);
  CHECK(vaegan::test::max_abs_diff(dg1, dg4) == 0.0);
  CHECK(vaegan::test::max_abs_diff(y1, naive_normalize(x, naive_moments(x), to_vector(gamma), to_vector(beta), 1e-5)) <
        1e-12);
  // The input gradient of a batch norm sums to zero per channel (the mean is removed).
  for (Index c = 0; c < 16; ++c) {
    double s = 0.0;
    for (Index b = 0; b < 8; ++b)
      for (Index k = 0; k < 1024; ++k) s += dx1[(b * 16 + c) * 1024 + k];
    CHECK(std::abs(s) < 1e-9);
  }
}

namespace {

// Values, the gradients of x, gamma and beta and the running statistics of batch norm with
// `act` fused (fused) or as its own op after it, under the loss sum(y r), r fixed.
template <class T>
std::vector<Tensor<T>> batch_norm_then(const Tensor<double>& x, const Tensor<double>& gamma, const Tensor<double>& beta,
                                       const vaegan::Activation& act, bool train, bool fused) {
  auto cast = [](const Tensor<double>& t) {
    Tensor<T> out(t.shape());
    for (Index i = 0; i < t.numel(); ++i) out[i] = static_cast<T>(t[i]);
    return out;
  };
  const Index c = x.shape()[1];
  Tensor<T> running_mean(Shape{c}, T(0.25)), running_var(Shape{c}, T(1.5));
  Tape<T> tape;
  const Var<T> xv = tape.variable(cast(x)), g = tape.variable(cast(gamma)), b = tape.variable(cast(beta));
  const vaegan::Activation none = vaegan::Activation::identity();
  Var<T> y = train
                 ? vaegan::batch_norm(xv, g, b, 1e-5, running_mean.data(), running_var.data(), 0.1, fused ? act : none)
                 : vaegan::batch_norm_eval(xv, g, b, running_mean.data(), running_var.data(), 1e-5, fused ? act : none);
  if (!fused) y = vaegan::activate(y, act);
  Rng weights(17);
  const Tensor<T> r = random_normal<T>(y.shape(), weights);
  tape.backward(vaegan::sum(vaegan::mul(y, tape.constant(r))));
  return {vaegan::test::value_of(y),
          vaegan::test::grad_of(xv),
          vaegan::test::grad_of(g),
          vaegan::test::grad_of(b),
          running_mean,
          running_var};
}

}  // namespace

TEST_CASE("batch_norm: a fused relu or leaky_relu gives bit for bit batch norm then the activation op") {
  Rng rng(21);
  for (const Shape& shape : {Shape{6, 5, 3, 4}, Shape{7, 9}, Shape{4, 3, 5, 7}}) {
    const Index c = shape[1];
    const Tensor<double> x = random_normal<double>(shape, rng, 0.3, 1.2);
    const Tensor<double> gamma = random_uniform<double>(Shape{c}, rng, -1.5, 1.5);  // some negative
    const Tensor<double> beta = random_normal<double>(Shape{c}, rng);
    for (const vaegan::Activation& act : {vaegan::Activation::relu(), vaegan::Activation::leaky_relu(0.2)})
      for (const bool train : {true, false}) {
        INFO("x ", shape.str(), ", ", act.name(), train ? ", training form" : ", eval form");
        const auto fused_f = batch_norm_then<float>(x, gamma, beta, act, train, true);
        const auto apart_f = batch_norm_then<float>(x, gamma, beta, act, train, false);
        const auto fused_d = batch_norm_then<double>(x, gamma, beta, act, train, true);
        const auto apart_d = batch_norm_then<double>(x, gamma, beta, act, train, false);
        for (std::size_t i = 0; i < fused_f.size(); ++i) {
          INFO("result ", i, " (y, dx, dgamma, dbeta, running mean, running var)");
          CHECK(vaegan::test::max_abs_diff(fused_f[i], apart_f[i]) == 0.0);
          CHECK(vaegan::test::max_abs_diff(fused_d[i], apart_d[i]) == 0.0);
        }
        // The rectifier did act: some outputs clipped (relu) or scaled (leaky).
        Index negative_inputs = 0;
        for (Index i = 0; i < fused_d[0].numel(); ++i) negative_inputs += fused_d[0][i] <= 0.0 ? 1 : 0;
        CHECK(negative_inputs > 0);
      }
  }
}

TEST_CASE("batch_norm: gradients through a fused rectifier match finite differences, both forms") {
  Rng rng(22);
  const Tensor<double> x = random_normal<double>(Shape{4, 3, 2, 3}, rng, 0.2, 1.3);
  const Tensor<double> gamma = random_uniform<double>(Shape{3}, rng, 0.5, 1.5);
  const Tensor<double> beta = random_normal<double>(Shape{3}, rng, 0.0, 0.5);
  const double mean[3] = {0.3, -0.2, 0.1}, var[3] = {1.7, 0.6, 1.1};
  for (const vaegan::Activation& act : {vaegan::Activation::relu(), vaegan::Activation::leaky_relu(0.2)}) {
    INFO(act.name());
    VAEGAN_CHECK_GRADIENTS(
        [&](Tape<double>&, const Vars& in) {
          return vaegan::batch_norm(in[0], in[1], in[2], 1e-5, static_cast<double*>(nullptr),
                                    static_cast<double*>(nullptr), 0.0, act);
        },
        {x, gamma, beta});
    VAEGAN_CHECK_GRADIENTS(
        [&](Tape<double>&, const Vars& in) {
          return vaegan::batch_norm_eval(in[0], in[1], in[2], mean, var, 1e-5, act);
        },
        {x, gamma, beta});
  }
}

TEST_CASE("batch_norm: only relu and leaky_relu are fused, and a Sequential fuses them into the batch norm before") {
  Tape<double> tape;
  const Var<double> x = tape.constant(Tensor<double>(Shape{4, 3}, 1.0));
  const Var<double> g = tape.constant(Tensor<double>(Shape{3}, 1.0)), b = tape.constant(Tensor<double>(Shape{3}, 0.0));
  CHECK_THROWS_WITH_AS(vaegan::batch_norm(x, g, b, 1e-5, static_cast<double*>(nullptr), static_cast<double*>(nullptr),
                                          0.0, vaegan::Activation::sigmoid()),
                       doctest::Contains("must be relu or leaky_relu"), vaegan::Error);
  const double stats[3] = {0.0, 0.0, 0.0}, ones[3] = {1.0, 1.0, 1.0};
  CHECK_THROWS_WITH_AS(vaegan::batch_norm_eval(x, g, b, stats, ones, 1e-5, vaegan::Activation::tanh()),
                       doctest::Contains("apply it as its own op"), vaegan::Error);

  // The same network fused and not (keep_output keeps the batch norm's own output): equal
  // outputs and parameter gradients, train and eval; the structure lists the layers composed.
  Rng rng(23);
  const Tensor<double> input = random_normal<double>(Shape{5, 2, 3, 3}, rng);
  std::vector<std::vector<Tensor<double>>> results;
  for (const bool fuse : {true, false}) {
    Sequential<double> trunk(BatchNorm2d<double>(2), vaegan::LeakyReLU<double>(0.2));
    if (!fuse) trunk.keep_output(0);
    vaegan::Network<double> net("net", Shape{2, 3, 3}, std::move(trunk));
    std::vector<std::string> types;
    for (const auto& layer : net.structure().layers) types.push_back(layer.type);
    CHECK(std::count(types.begin(), types.end(), "BatchNorm2d") == 1);
    CHECK(std::count(types.begin(), types.end(), "LeakyReLU") == 1);
    std::vector<Tensor<double>> out;
    for (const bool train : {true, false}) {
      Tape<double> t;
      const Var<double> y = net.forward(t.constant(input), train ? ForwardContext::train() : ForwardContext::eval());
      out.push_back(vaegan::test::value_of(y));
      net.parameters().zero_grad();
      t.backward(vaegan::sum(vaegan::mul(y, y)));
      out.push_back(net.parameters().grads());
      out.push_back(net.parameters().buffers());
    }
    results.push_back(out);
  }
  REQUIRE(results[0].size() == results[1].size());
  for (std::size_t i = 0; i < results[0].size(); ++i)
    CHECK(vaegan::test::max_abs_diff(results[0][i], results[1][i]) == 0.0);
}
