// Tests for losses/: bce_with_logits, mse, kl_normal, softmax_cross_entropy and the
// reductions. Gradient checks in double; forward values against the direct formulas.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "test_util.hpp"

using vaegan::Index;
using vaegan::Reduction;
using vaegan::Rng;
using vaegan::Shape;
using vaegan::ShapeError;
using vaegan::Tape;
using vaegan::Tensor;
using vaegan::Var;
using vaegan::test::random_normal;
using vaegan::test::random_uniform;
using vaegan::test::Vars;

namespace {
using TapeD = Tape<double>;
const Reduction kReductions[] = {Reduction::mean, Reduction::sum, Reduction::batch_mean};

// The factor each reduction multiplies the total by, written out independently.
double reduction_factor(Reduction r, Index rows, Index numel) {
  if (r == Reduction::sum) return 1.0;
  if (r == Reduction::mean) return 1.0 / static_cast<double>(numel);
  return 1.0 / static_cast<double>(rows);
}

// -[t log sigmoid(x) + (1 - t) log(1 - sigmoid(x))], straight from the definition (only
// for moderate x, where it does not overflow).
double bce_reference(double x, double t) {
  const double s = 1.0 / (1.0 + std::exp(-x));
  return -(t * std::log(s) + (1.0 - t) * std::log(1.0 - s));
}
}  // namespace

// ---- bce_with_logits -------------------------------------------------------------------

TEST_CASE("bce_with_logits: gradients with tensor targets, for every reduction") {
  Rng rng(1);
  const Tensor<double> logits = random_normal(Shape{4, 3}, rng, 0.0, 2.0);
  const Tensor<double> targets = random_uniform(Shape{4, 3}, rng, 0.0, 1.0);
  for (Reduction r : kReductions) {
    CAPTURE(static_cast<int>(r));
    // With respect to the logits and the (soft) targets.
    VAEGAN_CHECK_GRADIENTS([r](TapeD&, const Vars& in) { return vaegan::bce_with_logits(in[0], in[1], r); },
                           {logits, targets});
    // Scaled afterwards, so the incoming gradient is not 1.
    VAEGAN_CHECK_GRADIENTS(
        [r](TapeD&, const Vars& in) { return vaegan::scale(vaegan::bce_with_logits(in[0], in[1], r), -3.0); },
        {logits, targets});
  }
}

TEST_CASE("bce_with_logits: gradients with a scalar target") {
  Rng rng(2);
  const Tensor<double> logits = random_normal(Shape{5, 2}, rng, 0.0, 3.0);
  for (Reduction r : kReductions)
    for (double t : {0.0, 1.0, 0.9}) {
      CAPTURE(static_cast<int>(r));
      CAPTURE(t);
      VAEGAN_CHECK_GRADIENTS([r, t](TapeD&, const Vars& in) { return vaegan::bce_with_logits(in[0], t, r); }, {logits});
    }
}

TEST_CASE_TEMPLATE("bce_with_logits: values match the definition for each reduction", T, float, double) {
  Rng rng(3);
  const Tensor<T> logits = random_normal<T>(Shape{3, 4}, rng, 0.0, 2.0);
  const Tensor<T> targets = random_uniform<T>(Shape{3, 4}, rng, 0.0, 1.0);
  double total = 0.0, total_ones = 0.0;
  for (Index i = 0; i < 12; ++i) {
    total += bce_reference(static_cast<double>(logits[i]), static_cast<double>(targets[i]));
    total_ones += bce_reference(static_cast<double>(logits[i]), 1.0);
  }
  for (Reduction r : kReductions) {
    CAPTURE(static_cast<int>(r));
    Tape<T> tape;
    Var<T> x = tape.constant(logits);
    const double factor = reduction_factor(r, 3, 12);
    CHECK(static_cast<double>(vaegan::bce_with_logits(x, tape.constant(targets), r).item()) ==
          doctest::Approx(total * factor));
    CHECK(static_cast<double>(vaegan::bce_with_logits(x, T(1), r).item()) == doctest::Approx(total_ones * factor));
  }
  Tape<T> tape;  // the default reduction is the mean over all elements
  CHECK(static_cast<double>(vaegan::bce_with_logits(tape.constant(logits), tape.constant(targets)).item()) ==
        doctest::Approx(total / 12));
}

TEST_CASE_TEMPLATE("bce_with_logits: finite and exact for logits up to 1e4", T, float, double) {
  // Analytic limits: for |x| >> 1, l(x, t) = max(x, 0) - x t (the log1p term underflows)
  // and dl/dx = sigmoid(x) - t, which is 0 or 1 minus t.
  const std::vector<double> xs = {-1e4, -1e3, -100.0, 100.0, 1e3, 1e4};
  const std::vector<double> ts = {0.0, 1.0, 0.25};
  for (double xv : xs)
    for (double tv : ts) {
      CAPTURE(xv);
      CAPTURE(tv);
      Tape<T> tape;
      Var<T> x = tape.variable(Tensor<T>(Shape{1}, static_cast<T>(xv)));
      Var<T> t = tape.variable(Tensor<T>(Shape{1}, static_cast<T>(tv)));
      Var<T> loss = vaegan::bce_with_logits(x, t, Reduction::sum);
      const double expected = std::max(xv, 0.0) - xv * tv;
      CHECK(std::isfinite(loss.item()));
      CHECK(static_cast<double>(loss.item()) == doctest::Approx(expected).epsilon(1e-6));
      tape.backward(loss);
      const double dx = static_cast<double>(x.grad()(0, 0)), dt = static_cast<double>(t.grad()(0, 0));
      CHECK(std::isfinite(dx));
      CHECK(std::isfinite(dt));
      CHECK(dx == doctest::Approx((xv > 0 ? 1.0 : 0.0) - tv));
      CHECK(dt == doctest::Approx(-xv));
    }
}

TEST_CASE("bce_with_logits: the log1p term is kept where it matters") {
  // At x = -40 with target 0 the loss is log1p(e^-40) = 4.25e-18: not rounded to 0 in
  // double, as log(1 + e^x) would be.
  Tape<double> tape;
  Var<double> x = tape.constant(Tensor<double>(Shape{1}, -40.0));
  CHECK(vaegan::bce_with_logits(x, 0.0).item() == vaegan::test::relative(std::log1p(std::exp(-40.0)), 1e-12));
}

TEST_CASE("bce_with_logits: shapes must match") {
  Tape<double> tape;
  Var<double> x = tape.variable(Tensor<double>(Shape{4, 1}));
  Var<double> t = tape.variable(Tensor<double>(Shape{4}));
  CHECK_THROWS_WITH_AS(vaegan::bce_with_logits(x, t), "bce_with_logits: shapes must match (got [4, 1] and [4])",
                       ShapeError);
}

// ---- mse -------------------------------------------------------------------------------

TEST_CASE("mse: gradients for every reduction") {
  Rng rng(4);
  const Tensor<double> p = random_normal(Shape{3, 5}, rng);
  const Tensor<double> t = random_normal(Shape{3, 5}, rng);
  for (Reduction r : kReductions) {
    CAPTURE(static_cast<int>(r));
    VAEGAN_CHECK_GRADIENTS([r](TapeD&, const Vars& in) { return vaegan::mse(in[0], in[1], r); }, {p, t});
  }
}

TEST_CASE_TEMPLATE("mse: values match the definition", T, float, double) {
  Tape<T> tape;
  Var<T> p = tape.constant(Tensor<T>(Shape{2, 2}, {T(1), T(2), T(3), T(4)}));
  Var<T> t = tape.constant(Tensor<T>(Shape{2, 2}, {T(0), T(4), T(3), T(1)}));
  // squared errors 1, 4, 0, 9: sum 14
  CHECK(vaegan::mse(p, t, Reduction::sum).item() == T(14));
  CHECK(vaegan::mse(p, t).item() == T(3.5));
  CHECK(vaegan::mse(p, t, Reduction::batch_mean).item() == T(7));
  CHECK(vaegan::mse(p, p).item() == T(0));
  Var<T> wrong = tape.constant(Tensor<T>(Shape{4}));
  CHECK_THROWS_WITH_AS(vaegan::mse(p, wrong), "mse: shapes must match (got [2, 2] and [4])", ShapeError);
}

// ---- kl_normal -------------------------------------------------------------------------

TEST_CASE("kl_normal: gradients for every reduction") {
  Rng rng(5);
  const Tensor<double> mu = random_normal(Shape{4, 3}, rng);
  const Tensor<double> logvar = random_normal(Shape{4, 3}, rng, 0.0, 0.7);
  for (Reduction r : kReductions) {
    CAPTURE(static_cast<int>(r));
    VAEGAN_CHECK_GRADIENTS([r](TapeD&, const Vars& in) { return vaegan::kl_normal(in[0], in[1], r); }, {mu, logvar});
  }
}

TEST_CASE_TEMPLATE("kl_normal: matches the closed form and is 0 at the prior", T, float, double) {
  Rng rng(6);
  const Tensor<T> mu = random_normal<T>(Shape{3, 2}, rng);
  const Tensor<T> logvar = random_normal<T>(Shape{3, 2}, rng, 0.0, 0.5);
  // KL(N(m, s^2) || N(0, 1)) = log(1 / s) + (s^2 + m^2) / 2 - 1/2 per dim.
  double total = 0.0;
  for (Index i = 0; i < 6; ++i) {
    const double m = static_cast<double>(mu[i]), s = std::exp(static_cast<double>(logvar[i]) / 2);
    total += std::log(1.0 / s) + (s * s + m * m) / 2 - 0.5;
  }
  Tape<T> tape;
  Var<T> mv = tape.constant(mu), lv = tape.constant(logvar);
  CHECK(static_cast<double>(vaegan::kl_normal(mv, lv).item()) == doctest::Approx(total / 3));  // batch mean
  CHECK(static_cast<double>(vaegan::kl_normal(mv, lv, Reduction::sum).item()) == doctest::Approx(total));
  CHECK(static_cast<double>(vaegan::kl_normal(mv, lv, Reduction::mean).item()) == doctest::Approx(total / 6));

  Var<T> zeros_mu = tape.variable(Tensor<T>(Shape{3, 2}));
  Var<T> zeros_lv = tape.variable(Tensor<T>(Shape{3, 2}));
  Var<T> kl0 = vaegan::kl_normal(zeros_mu, zeros_lv);
  CHECK(kl0.item() == T(0));
  tape.backward(kl0);  // and the prior is a minimum: zero gradient
  CHECK(zeros_mu.grad().isZero());
  CHECK(zeros_lv.grad().isZero());
  CHECK(vaegan::kl_normal(mv, lv).item() > T(0));
}

TEST_CASE("kl_normal: shapes must match") {
  Tape<double> tape;
  Var<double> mu = tape.variable(Tensor<double>(Shape{2, 3}));
  Var<double> lv = tape.variable(Tensor<double>(Shape{2, 4}));
  CHECK_THROWS_WITH_AS(vaegan::kl_normal(mu, lv), "kl_normal: shapes must match (got [2, 3] and [2, 4])", ShapeError);
}

// ---- softmax_cross_entropy -------------------------------------------------------------

TEST_CASE("softmax_cross_entropy: gradients") {
  Rng rng(7);
  const Tensor<double> logits = random_normal(Shape{4, 5}, rng, 0.0, 2.0);
  const std::vector<int> labels = {0, 4, 2, 2};
  VAEGAN_CHECK_GRADIENTS([&](TapeD&, const Vars& in) { return vaegan::softmax_cross_entropy(in[0], labels); },
                         {logits});
  VAEGAN_CHECK_GRADIENTS(
      [&](TapeD&, const Vars& in) {
        return vaegan::scale(vaegan::softmax_cross_entropy(vaegan::tanh(in[0]), labels), 2.0);
      },
      {logits});
}

TEST_CASE_TEMPLATE("softmax_cross_entropy: values match log-sum-exp, also for huge logits", T, float, double) {
  const std::vector<int> labels = {1, 0};
  Tape<T> tape;
  Var<T> x = tape.constant(Tensor<T>(Shape{2, 3}, {T(1), T(2), T(3), T(-1), T(0), T(0.5)}));
  const double row0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 2.0;
  const double row1 = std::log(std::exp(-1.0) + std::exp(0.0) + std::exp(0.5)) + 1.0;
  CHECK(static_cast<double>(vaegan::softmax_cross_entropy(x, labels).item()) == doctest::Approx((row0 + row1) / 2));
  // Shifting every logit of a row by 1000 changes nothing (the row maximum is subtracted).
  Var<T> shifted = tape.constant(Tensor<T>(Shape{2, 3}, {T(1001), T(1002), T(1003), T(999), T(1000), T(1000.5)}));
  const T value = vaegan::softmax_cross_entropy(shifted, labels).item();
  CHECK(std::isfinite(value));
  CHECK(static_cast<double>(value) == doctest::Approx((row0 + row1) / 2).epsilon(1e-4));
}

TEST_CASE("softmax_cross_entropy: a reused gradient buffer with stale NaN does not leak") {
  Tape<double> tape;
  // Step 1 leaves an infinite gradient in the buffer of node 0 (d log(x) / dx at x = 0).
  Var<double> x = tape.variable(Tensor<double>(Shape{2, 2}, {0.0, 1.0, 2.0, 3.0}));
  tape.backward(vaegan::sum(vaegan::log(x)));
  REQUIRE(std::isinf(x.grad()(0, 0)));
  // Step 2 records a new node 0 over the same buffer; its first gradient must overwrite.
  tape.reset();
  Var<double> logits = tape.variable(Tensor<double>(Shape{2, 2}, {0.0, 1.0, 2.0, 3.0}));
  REQUIRE(logits.id() == x.id());
  tape.backward(vaegan::softmax_cross_entropy(logits, std::vector<int>{0, 1}));
  CHECK(logits.grad().allFinite());
  const double p = 1.0 / (1.0 + std::exp(1.0));  // softmax([0, 1])[0]
  CHECK(logits.grad()(0, 0) == doctest::Approx((p - 1.0) / 2));
}

TEST_CASE("softmax_cross_entropy: label count and range are checked") {
  Tape<double> tape;
  Var<double> x = tape.variable(Tensor<double>(Shape{2, 3}));
  CHECK_THROWS_WITH_AS(vaegan::softmax_cross_entropy(x, std::vector<int>{0}),
                       "softmax_cross_entropy: 1 labels for logits [2, 3]", ShapeError);
  CHECK_THROWS_WITH_AS(vaegan::softmax_cross_entropy(x, std::vector<int>{0, 3}),
                       "softmax_cross_entropy: label 3 at row 1 is outside [0, 3)", vaegan::Error);
  CHECK_THROWS_AS(vaegan::softmax_cross_entropy(x, std::vector<int>{-1, 0}), vaegan::Error);
}
