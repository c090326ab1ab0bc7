// Tests for optim/: Adam and SGD against scalar reference loops that implement
// PyTorch's update formulas, over several steps with changing gradients.
#include <cmath>
#include <limits>
#include <vector>

#include "test_util.hpp"

using vaegan::Adam;
using vaegan::AdamOptions;
using vaegan::Index;
using vaegan::ParameterSet;
using vaegan::Sgd;
using vaegan::SgdOptions;
using vaegan::Shape;

namespace {

const std::vector<double> kInitial = {0.5, -1.25, 2.0, 0.0, -0.01, 3.5, 1e-3};
constexpr int kSteps = 3;

// The gradient the "loss" gives at p on step t: a quadratic pull towards 1 plus a term
// that changes sign between steps, so momentum and moments see varied input.
double gradient(double p, int i, int t) { return 2.0 * (p - 1.0) + 0.3 * std::cos(1.7 * i + 2.1 * t); }

// torch.optim.Adam (amsgrad=False), one parameter.
struct AdamReference {
  AdamOptions o;
  double m = 0.0, v = 0.0;
  int t = 0;
  double step(double p, double g) {
    ++t;
    if (o.weight_decay != 0.0) g += o.weight_decay * p;
    m = o.beta1 * m + (1 - o.beta1) * g;
    v = o.beta2 * v + (1 - o.beta2) * g * g;
    const double bias_correction1 = 1 - std::pow(o.beta1, t);
    const double bias_correction2 = 1 - std::pow(o.beta2, t);
    const double step_size = o.lr / bias_correction1;
    const double denom = std::sqrt(v) / std::sqrt(bias_correction2) + o.eps;
    return p - step_size * m / denom;
  }
};

// torch.optim.SGD (dampening=0), one parameter.
struct SgdReference {
  SgdOptions o;
  double buf = 0.0;
  bool has_buf = false;
  double step(double p, double g) {
    double d_p = g + o.weight_decay * p;
    if (o.momentum != 0.0) {
      buf = has_buf ? o.momentum * buf + d_p : d_p;
      has_buf = true;
      d_p = o.nesterov ? d_p + o.momentum * buf : buf;
    }
    return p - o.lr * d_p;
  }
};

// Runs `steps` optimizer steps on a ParameterSet<T> and on per-element references and
// returns the largest difference between them.
template <class T, class Optimizer, class Reference, class Options>
double worst_difference_from_reference(const Options& options, int steps = kSteps) {
  ParameterSet<T> params("p");
  const Index n = static_cast<Index>(kInitial.size());
  params.add("w", Shape{n});
  for (Index i = 0; i < n; ++i) params.values()[i] = static_cast<T>(kInitial[static_cast<std::size_t>(i)]);
  Optimizer opt(params, options);
  std::vector<Reference> refs(kInitial.size(), Reference{options});
  std::vector<double> expected = kInitial;
  double worst = 0.0;
  for (int t = 0; t < steps; ++t) {
    opt.zero_grad();
    for (Index i = 0; i < n; ++i) {
      const auto k = static_cast<std::size_t>(i);
      // Both see the gradient at their own current parameter value.
      params.grads()[i] = static_cast<T>(gradient(static_cast<double>(params.values()[i]), static_cast<int>(i), t));
      expected[k] = refs[k].step(expected[k], gradient(expected[k], static_cast<int>(i), t));
    }
    opt.step();
    for (Index i = 0; i < n; ++i)
      worst =
          std::max(worst, std::abs(static_cast<double>(params.values()[i]) - expected[static_cast<std::size_t>(i)]));
  }
  CHECK(opt.steps() == steps);
  return worst;
}

template <class T>
double tolerance() {
  return std::is_same_v<T, float> ? 2e-6 : 1e-13;
}

}  // namespace

TEST_CASE_TEMPLATE("adam: three steps match PyTorch's update", T, float, double) {
  AdamOptions defaults;  // the reference workloads' lr 2e-4, betas (0.5, 0.999)
  CHECK(worst_difference_from_reference<T, Adam<T>, AdamReference>(defaults) < tolerance<T>());

  AdamOptions fast;
  fast.lr = 0.1;
  fast.beta1 = 0.9;
  fast.beta2 = 0.99;
  fast.eps = 1e-3;  // large enough to matter in the denominator
  CHECK(worst_difference_from_reference<T, Adam<T>, AdamReference>(fast) < tolerance<T>());

  AdamOptions decayed = fast;
  decayed.weight_decay = 0.05;
  CHECK(worst_difference_from_reference<T, Adam<T>, AdamReference>(decayed) < tolerance<T>());
}

TEST_CASE_TEMPLATE("adam: the first step moves each parameter by about lr against its gradient sign", T, float,
                   double) {
  // Bias correction makes m / sqrt(v) = g / |g| on step 1, whatever the gradient's size.
  ParameterSet<T> params("p");
  params.add("w", Shape{4});
  params.values().set_zero();
  AdamOptions o;
  o.lr = 1e-2;
  Adam<T> adam(params, o);
  const std::vector<T> grads = {T(1e-3), T(-250), T(0.5), T(-1e-2)};
  for (Index i = 0; i < 4; ++i) params.grads()[i] = grads[static_cast<std::size_t>(i)];
  adam.step();
  for (Index i = 0; i < 4; ++i) {
    const double g = static_cast<double>(grads[static_cast<std::size_t>(i)]);
    CAPTURE(g);
    const double expected = g > 0 ? -o.lr : o.lr;
    CHECK(static_cast<double>(params.values()[i]) == vaegan::test::relative(expected, 1e-4));
  }
  CHECK(adam.steps() == 1);
}

TEST_CASE("adam: moments and step count are exposed for checkpoints") {
  ParameterSet<double> params("p");
  params.add("w", Shape{2});
  Adam<double> adam(params);
  params.grads()[0] = 2.0;
  params.grads()[1] = -4.0;
  adam.step();
  CHECK(adam.first_moment()[0] == doctest::Approx(0.5 * 2.0));  // (1 - beta1) g with beta1 = 0.5
  CHECK(adam.second_moment()[1] == doctest::Approx(0.001 * 16.0));
  // Restoring the state reproduces the next step.
  ParameterSet<double> copy("p");
  copy.add("w", Shape{2});
  copy.values() = params.values();
  copy.grads() = params.grads();
  Adam<double> restored(copy);
  restored.first_moment() = adam.first_moment();
  restored.second_moment() = adam.second_moment();
  restored.set_steps(adam.steps());
  adam.step();
  restored.step();
  CHECK(vaegan::test::max_abs_diff(params.values(), copy.values()) == 0.0);
  adam.set_lr(0.5);
  CHECK(adam.options().lr == 0.5);
}

TEST_CASE_TEMPLATE("sgd: plain, momentum, nesterov and weight decay match PyTorch", T, float, double) {
  SgdOptions plain;
  plain.lr = 0.1;
  CHECK(worst_difference_from_reference<T, Sgd<T>, SgdReference>(plain) < tolerance<T>());
  SgdOptions momentum = plain;
  momentum.momentum = 0.9;
  CHECK(worst_difference_from_reference<T, Sgd<T>, SgdReference>(momentum) < tolerance<T>());
  SgdOptions nesterov = momentum;
  nesterov.nesterov = true;
  CHECK(worst_difference_from_reference<T, Sgd<T>, SgdReference>(nesterov) < tolerance<T>());
  SgdOptions decay = plain;
  decay.weight_decay = 0.01;
  CHECK(worst_difference_from_reference<T, Sgd<T>, SgdReference>(decay) < tolerance<T>());
  SgdOptions everything = nesterov;
  everything.weight_decay = 0.01;
  CHECK(worst_difference_from_reference<T, Sgd<T>, SgdReference>(everything) < tolerance<T>());
  SgdOptions heavy = momentum;
  heavy.weight_decay = 0.2;
  CHECK(worst_difference_from_reference<T, Sgd<T>, SgdReference>(heavy, 6) < tolerance<T>());
}

TEST_CASE("sgd: the first momentum step is a plain step, later ones accumulate") {
  ParameterSet<double> params("p");
  params.add("w", Shape{1});
  SgdOptions o;
  o.lr = 0.5;
  o.momentum = 0.9;
  Sgd<double> sgd(params, o);
  params.grads()[0] = 1.0;
  sgd.step();
  CHECK(params.values()[0] == doctest::Approx(-0.5));  // buf = g
  sgd.step();
  CHECK(params.values()[0] == doctest::Approx(-0.5 - 0.5 * 1.9));  // buf = 0.9 + 1
  CHECK(sgd.momentum_buffer()[0] == doctest::Approx(1.9));
}

TEST_CASE("optim: invalid options are rejected with the rule that was broken") {
  ParameterSet<float> params("p");
  params.add("w", Shape{3});
  auto adam_with = [&](auto change) {
    AdamOptions o;
    change(o);
    Adam<float> adam(params, o);
  };
  CHECK_THROWS_WITH_AS(adam_with([](AdamOptions& o) { o.lr = -1e-3; }), doctest::Contains("lr >= 0"), vaegan::Error);
  CHECK_THROWS_AS(adam_with([](AdamOptions& o) { o.lr = std::numeric_limits<double>::quiet_NaN(); }), vaegan::Error);
  CHECK_THROWS_WITH_AS(adam_with([](AdamOptions& o) { o.beta1 = 1.0; }), doctest::Contains("betas in [0, 1)"),
                       vaegan::Error);
  CHECK_THROWS_AS(adam_with([](AdamOptions& o) { o.beta1 = -0.1; }), vaegan::Error);
  CHECK_THROWS_AS(adam_with([](AdamOptions& o) { o.beta2 = 1.0; }), vaegan::Error);
  CHECK_THROWS_AS(adam_with([](AdamOptions& o) { o.eps = -1e-8; }), vaegan::Error);
  CHECK_THROWS_WITH_AS(adam_with([](AdamOptions& o) { o.weight_decay = -0.1; }), doctest::Contains("weight_decay"),
                       vaegan::Error);
  CHECK_NOTHROW(adam_with([](AdamOptions& o) { o.beta1 = 0.0; }));

  auto sgd_with = [&](auto change) {
    SgdOptions o;
    change(o);
    Sgd<float> sgd(params, o);
  };
  CHECK_THROWS_WITH_AS(sgd_with([](SgdOptions& o) { o.lr = -0.1; }), doctest::Contains("lr >= 0"), vaegan::Error);
  CHECK_THROWS_AS(sgd_with([](SgdOptions& o) { o.momentum = -0.5; }), vaegan::Error);
  CHECK_THROWS_AS(sgd_with([](SgdOptions& o) { o.weight_decay = -0.5; }), vaegan::Error);
  CHECK_THROWS_WITH_AS(sgd_with([](SgdOptions& o) { o.nesterov = true; }), "Sgd: nesterov needs momentum > 0",
                       vaegan::Error);
  CHECK_NOTHROW(sgd_with([](SgdOptions& o) {
    o.nesterov = true;
    o.momentum = 0.9;
  }));
}

TEST_CASE("optim: a parameter set that grew after the optimizer was made is an error") {
  ParameterSet<double> params("net");
  params.add("w", Shape{2});
  Adam<double> adam(params);
  Sgd<double> sgd(params);
  params.add("late", Shape{1});
  CHECK_THROWS_WITH_AS(adam.step(), doctest::Contains("'net' changed size"), vaegan::Error);
  CHECK_THROWS_WITH_AS(sgd.step(), doctest::Contains("'net' changed size"), vaegan::Error);
}
