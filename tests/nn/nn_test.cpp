// Tests for nn/: the fused linear op, Dense, Sequential and weight initialization, and an
// end-to-end check that a small MLP learns XOR.
#include <cmath>
#include <string>
#include <vector>

#include "test_util.hpp"
#include "vaegan/nn/dropout.hpp"
#include "vaegan/nn/network.hpp"

using vaegan::Activation;
using vaegan::Dense;
using vaegan::Index;
using vaegan::Init;
using vaegan::ParameterSet;
using vaegan::Rng;
using vaegan::Sequential;
using vaegan::Shape;
using vaegan::ShapeError;
using vaegan::Tape;
using vaegan::Tensor;
using vaegan::Var;
using vaegan::test::random_normal;
using vaegan::test::Vars;

namespace {
using TapeD = Tape<double>;

const std::vector<Activation> kActivations = {Activation::identity(), Activation::relu(), Activation::leaky_relu(0.2),
                                              Activation::sigmoid(),  Activation::tanh(), Activation::softplus()};

// Smallest |x W + b| over all elements: the distance of the pre-activations from the
// relu kink, which must exceed what a 1e-6 perturbation can move them by.
double min_abs_preactivation(const Tensor<double>& x, const Tensor<double>& w, const Tensor<double>& b) {
  double smallest = 1e300;
  for (Index r = 0; r < x.rows(); ++r)
    for (Index c = 0; c < w.cols(); ++c) {
      double z = b[c];
      for (Index k = 0; k < x.cols(); ++k) z += x(r, k) * w(k, c);
      smallest = std::min(smallest, std::abs(z));
    }
  return smallest;
}
}  // namespace

// ---- linear ----------------------------------------------------------------------------

TEST_CASE("linear: gradients with respect to x, W and b for every activation") {
  Rng rng(12);
  const Tensor<double> x = random_normal(Shape{5, 4}, rng);
  const Tensor<double> w = random_normal(Shape{4, 3}, rng);
  const Tensor<double> b = random_normal(Shape{3}, rng);
  REQUIRE(min_abs_preactivation(x, w, b) > 1e-3);
  for (const Activation& act : kActivations) {
    CAPTURE(act.name());
    VAEGAN_CHECK_GRADIENTS([act](TapeD&, const Vars& in) { return vaegan::linear(in[0], in[1], in[2], act); },
                           {x, w, b});
    // The incoming gradient of a fused op feeding another op.
    VAEGAN_CHECK_GRADIENTS(
        [act](TapeD&, const Vars& in) {
          return vaegan::exp(vaegan::scale(vaegan::linear(in[0], in[1], in[2], act), 0.3));
        },
        {x, w, b});
  }
}

TEST_CASE("linear: gradients of a two-layer stack with a shared input") {
  Rng rng(13);
  const Tensor<double> x = random_normal(Shape{3, 4}, rng);
  const Tensor<double> w1 = random_normal(Shape{4, 4}, rng);
  const Tensor<double> b1 = random_normal(Shape{4}, rng);
  VAEGAN_CHECK_GRADIENTS(
      [](TapeD&, const Vars& in) {
        Var<double> h = vaegan::linear(in[0], in[1], in[2], Activation::tanh());
        return vaegan::add(vaegan::linear(h, in[1], in[2], Activation::sigmoid()), in[0]);  // W, b and x used twice
      },
      {x, w1, b1});
}

TEST_CASE_TEMPLATE("linear: equals matmul + add_bias + activation", T, float, double) {
  Rng rng(14);
  const Tensor<T> x = random_normal<T>(Shape{6, 5}, rng);
  const Tensor<T> w = random_normal<T>(Shape{5, 4}, rng);
  const Tensor<T> b = random_normal<T>(Shape{4}, rng);
  for (const Activation& act : kActivations) {
    CAPTURE(act.name());
    Tape<T> tape;
    Var<T> xv = tape.constant(x), wv = tape.constant(w), bv = tape.constant(b);
    const Tensor<T> fused = vaegan::test::value_of(vaegan::linear(xv, wv, bv, act));
    const Tensor<T> separate =
        vaegan::test::value_of(vaegan::activate(vaegan::add_bias(vaegan::matmul(xv, wv), bv), act));
    CHECK(vaegan::test::max_abs_diff(fused, separate) < 1e-5);
  }
}

TEST_CASE("linear: shape errors name the op and the shapes") {
  Tape<float> tape;
  Var<float> x = tape.variable(Tensor<float>(Shape{2, 3}));
  Var<float> w = tape.variable(Tensor<float>(Shape{4, 5}));
  Var<float> b = tape.variable(Tensor<float>(Shape{5}));
  CHECK_THROWS_WITH_AS(vaegan::linear(x, w, b), "linear: x [batch, in] needs W [in, out] (got [2, 3] and [4, 5])",
                       ShapeError);
  Var<float> w_ok = tape.variable(Tensor<float>(Shape{3, 5}));
  Var<float> b_bad = tape.variable(Tensor<float>(Shape{4}));
  CHECK_THROWS_WITH_AS(vaegan::linear(x, w_ok, b_bad), "linear: bias must be [out] of W [in, out] (got [3, 5] and [4])",
                       ShapeError);
}

// ---- Dense -----------------------------------------------------------------------------

TEST_CASE("dense: forward and parameter gradients equal linear() on plain variables") {
  Rng rng(15);
  ParameterSet<double> params("net");
  Dense<double> layer(params, 4, 3, Activation::tanh(), rng, Init::xavier_uniform, "fc");
  rng.fill_normal(params.values().data() + params.slice(layer.bias_index()).offset, 3);  // a non-zero bias
  const Tensor<double> x = random_normal(Shape{5, 4}, rng);

  Tape<double> tape;
  Var<double> y = layer(tape.constant(x));
  tape.backward(vaegan::sum(vaegan::mul(y, y)));

  Tape<double> reference;
  Tensor<double> w(Shape{4, 3}), b(Shape{3});
  w.matrix() = params.value_matrix(layer.weight_index());
  b.matrix() = params.value_matrix(layer.bias_index());
  Var<double> wv = reference.variable(w), bv = reference.variable(b);
  Var<double> yr = vaegan::linear(reference.constant(x), wv, bv, Activation::tanh());
  reference.backward(vaegan::sum(vaegan::mul(yr, yr)));

  CHECK(vaegan::test::max_abs_diff(vaegan::test::value_of(y), vaegan::test::value_of(yr)) == 0.0);
  CHECK((params.grad_matrix(layer.weight_index()) - wv.grad()).cwiseAbs().maxCoeff() == 0.0);
  CHECK((params.grad_matrix(layer.bias_index()) - bv.grad()).cwiseAbs().maxCoeff() == 0.0);
  CHECK(params.slices()[0].name == "fc.weight");
  CHECK(params.slices()[1].name == "fc.bias");
  CHECK(layer.in_features() == 4);
  CHECK(layer.out_features() == 3);
}

TEST_CASE("dense: widths and input width are checked") {
  Rng rng(1);
  ParameterSet<float> params;
  CHECK_THROWS_WITH_AS(Dense<float>(params, 0, 3, Activation::relu(), rng, Init::automatic, "bad"),
                       "Dense: widths must be >= 1, got 0 -> 3", ShapeError);
  Dense<float> layer(params, 4, 2, Activation::relu(), rng, Init::automatic, "fc");
  Tape<float> tape;
  Var<float> x = tape.constant(Tensor<float>(Shape{3, 5}));
  CHECK_THROWS_WITH_AS(layer(x), "Dense 'fc': input has 5 features per sample, the layer expects 4 (input [3, 5])",
                       ShapeError);
}

// ---- initialization --------------------------------------------------------------------

TEST_CASE("init: he_normal has standard deviation sqrt(2 / fan_in)") {
  Rng rng(16);
  ParameterSet<float> params;
  Dense<float> layer(params, 784, 512, Activation::relu(), rng);  // automatic -> He for relu
  const auto w = params.value_matrix(layer.weight_index()).template cast<double>().array();
  const double n = static_cast<double>(w.size());
  const double mean = w.mean(), sd = std::sqrt((w - mean).square().mean());
  const double expected = std::sqrt(2.0 / 784.0);
  CHECK(std::abs(mean) < 5 * expected / std::sqrt(n));
  CHECK(std::abs(sd / expected - 1.0) < 5 / std::sqrt(2 * n));  // sd of a sample sd: sigma / sqrt(2n)
  CHECK(params.value_matrix(layer.bias_index()).isZero());      // biases start at zero
}

TEST_CASE("init: xavier_uniform stays within sqrt(6 / (fan_in + fan_out)) and fills it") {
  Rng rng(17);
  ParameterSet<double> params;
  Dense<double> layer(params, 300, 100, Activation::sigmoid(), rng);  // automatic -> Xavier
  const auto w = params.value_matrix(layer.weight_index()).array();
  const double a = std::sqrt(6.0 / 400.0);
  CHECK(w.abs().maxCoeff() <= a);
  CHECK(w.maxCoeff() > 0.99 * a);
  CHECK(w.minCoeff() < -0.99 * a);
  const double n = static_cast<double>(w.size());
  const double var = w.square().mean();
  // Uniform(-a, a): variance a^2 / 3; the variance of x^2 is a^4 (1/5 - 1/9).
  CHECK(std::abs(var - a * a / 3) < 5 * a * a * std::sqrt(1.0 / 5 - 1.0 / 9) / std::sqrt(n));
}

TEST_CASE("init: automatic picks He for relu-family layers and Xavier otherwise") {
  CHECK(vaegan::resolve_init(Init::automatic, Activation::relu()) == Init::he_normal);
  CHECK(vaegan::resolve_init(Init::automatic, Activation::leaky_relu(0.2)) == Init::he_normal);
  CHECK(vaegan::resolve_init(Init::automatic, Activation::tanh()) == Init::xavier_uniform);
  CHECK(vaegan::resolve_init(Init::automatic, Activation::identity()) == Init::xavier_uniform);
  CHECK(vaegan::resolve_init(Init::zeros, Activation::relu()) == Init::zeros);
  Rng rng(3);
  ParameterSet<float> params;
  Dense<float> zeros(params, 5, 5, Activation::relu(), rng, Init::zeros);
  CHECK(params.values().array().abs().maxCoeff() == 0.0f);
}

// ---- Sequential ------------------------------------------------------------------------

TEST_CASE_TEMPLATE("sequential: layer shapes, parameter layout and output shape", T, float, double) {
  Rng rng(18);
  Sequential<T> net({5, 8, 3}, {Activation::relu(), Activation::identity()}, rng, "mlp");
  CHECK(net.size() == 2);
  CHECK(net.output_shape(Shape{5}) == Shape{3});
  CHECK(net.parameters().size() == 5 * 8 + 8 + 8 * 3 + 3);
  CHECK(net.parameters().slices()[2].name == "mlp1.weight");
  CHECK(net.dense_layers()[0]->applied_activation() == Activation::relu());
  Tape<T> tape;
  Var<T> y = net(tape.constant(random_normal<T>(Shape{4, 5}, rng)), vaegan::ForwardContext::eval());
  CHECK(y.shape() == Shape({4, 3}));

  // Two stacks sharing one parameter set append to the same flat buffer.
  ParameterSet<T> shared("encoder");
  Sequential<T> trunk(shared, {6, 4}, {Activation::relu()}, rng, "trunk");
  Sequential<T> head(shared, {4, 2}, {Activation::identity()}, rng, "head");
  CHECK(shared.size() == 6 * 4 + 4 + 4 * 2 + 2);
  CHECK(shared.slices()[2].name == "head0.weight");
}

TEST_CASE("sequential: widths and activations must agree") {
  Rng rng(1);
  CHECK_THROWS_WITH_AS(Sequential<float>({4}, {}, rng), doctest::Contains("at least two widths"), ShapeError);
  CHECK_THROWS_WITH_AS(Sequential<float>({4, 3, 2}, {Activation::relu()}, rng),
                       "Sequential: 3 widths need 2 activations, got 1", ShapeError);
  CHECK_THROWS_WITH_AS(vaegan::Dropout<float>(1.0), doctest::Contains("p must be in [0, 1)"), vaegan::Error);
}

TEST_CASE("sequential: dropout layers act in training only") {
  Rng rng(19);
  vaegan::Network<double> net(
      "net", Shape{4},
      Sequential<double>(vaegan::Dense<double>(4, 16), vaegan::ReLU<double>(), vaegan::Dropout<double>(0.5),
                         vaegan::Dense<double>(16, 16), vaegan::ReLU<double>(), vaegan::Dropout<double>(0.5),
                         vaegan::Dense<double>(16, 2)));
  const Tensor<double> x = random_normal(Shape{3, 4}, rng);
  Tape<double> tape;
  Rng drop(5);
  const Tensor<double> plain = vaegan::test::value_of(net.forward(tape.constant(x), vaegan::ForwardContext::eval()));
  const Tensor<double> quiet =
      vaegan::test::value_of(net.forward(tape.constant(x), vaegan::ForwardContext::train_without_noise()));
  const int before = tape.size();
  const Tensor<double> train =
      vaegan::test::value_of(net.forward(tape.constant(x), vaegan::ForwardContext::train(drop)));
  CHECK(vaegan::test::max_abs_diff(plain, quiet) == 0.0);
  CHECK(vaegan::test::max_abs_diff(plain, train) > 0.0);
  int dropout_nodes = 0;
  for (int i = before; i < tape.size(); ++i) dropout_nodes += std::string(tape.node(i).op) == "dropout";
  CHECK(dropout_nodes == 2);
  CHECK(net.stochastic());
}

// ---- end to end ------------------------------------------------------------------------

TEST_CASE("sequential: an MLP learns XOR in float to a BCE below 0.05") {
  Rng rng(2024);
  Sequential<float> net({2, 8, 1}, {Activation::tanh(), Activation::identity()}, rng, "xor");
  vaegan::AdamOptions options;
  options.lr = 0.05;
  options.beta1 = 0.9;
  vaegan::Adam<float> adam(net.parameters(), options);
  const Tensor<float> inputs(Shape{4, 2}, {0, 0, 0, 1, 1, 0, 1, 1});
  const Tensor<float> labels(Shape{4, 1}, {0, 1, 1, 0});
  Tape<float> tape;
  float loss = 0.0f, first_loss = 0.0f;
  for (int step = 0; step < 300; ++step) {
    tape.reset();
    adam.zero_grad();
    Var<float> l =
        vaegan::bce_with_logits(net(tape.constant(inputs), vaegan::ForwardContext::train()), tape.constant(labels));
    tape.backward(l);
    adam.step();
    loss = l.item();
    if (step == 0) first_loss = loss;
  }
  CHECK(first_loss > 0.5f);  // it started out wrong
  CHECK(loss < 0.05f);
  tape.reset();
  Var<float> logits = net(tape.constant(inputs), vaegan::ForwardContext::eval());
  for (Index i = 0; i < 4; ++i) CHECK((logits.value()(i, 0) > 0.0f) == (labels[i] > 0.5f));
}
