// Tests for ops/rows.hpp (concat_rows, slice_rows, split_rows), ops/reparam.hpp and
// ops/dropout.hpp. The random ops are gradient-checked with the Rng recreated inside
// the checked function, so every evaluation draws the same noise.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "test_util.hpp"

using vaegan::Index;
using vaegan::Rng;
using vaegan::Shape;
using vaegan::ShapeError;
using vaegan::Tape;
using vaegan::Tensor;
using vaegan::Var;
using vaegan::test::random_normal;
using vaegan::test::value_of;
using vaegan::test::Vars;

namespace {
using TapeD = Tape<double>;
}

// ---- concat_rows / slice_rows / split_rows ---------------------------------------------

TEST_CASE("rows: gradients of concat_rows with 2, 3 and 4 parts") {
  Rng rng(1);
  const Tensor<double> a = random_normal(Shape{2, 3}, rng);
  const Tensor<double> b = random_normal(Shape{4, 3}, rng);
  const Tensor<double> c = random_normal(Shape{1, 3}, rng);
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::concat_rows(in[0], in[1]); }, {a, b});
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::concat_rows(in[0], in[1], in[2]); }, {a, b, c});
  VAEGAN_CHECK_GRADIENTS(
      [](TapeD&, const Vars& in) {
        return vaegan::concat_rows<double>({in[2], in[0], in[1], in[0]});
      },
      {a, b, c});
}

TEST_CASE("rows: gradients of slice_rows and split_rows") {
  Rng rng(2);
  const Tensor<double> x = random_normal(Shape{6, 3}, rng);
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::slice_rows(in[0], 1, 4); }, {x});
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::exp(vaegan::slice_rows(in[0], 5, 6)); }, {x});
  // Two overlapping slices of one tensor: both contributions land in the same rows.
  VAEGAN_CHECK_GRADIENTS(
      [](TapeD&, const Vars& in) {
        return vaegan::mul(vaegan::slice_rows(in[0], 0, 3), vaegan::slice_rows(in[0], 2, 5));
      },
      {x});
  // Every part used, in another order, one of them twice; and a part left unused.
  VAEGAN_CHECK_GRADIENTS(
      [](TapeD&, const Vars& in) {
        auto [p, q, r] = vaegan::split_rows<double, 3>(in[0], {1, 2, 3});
        return vaegan::concat_rows<double>({r, vaegan::scale(q, 2.0), q, p});
      },
      {x});
  VAEGAN_CHECK_GRADIENTS(
      [](TapeD&, const Vars& in) {
        auto parts = vaegan::split_rows<double, 2>(in[0], {4, 2});
        return vaegan::tanh(parts[1]);
      },
      {x});
  // A slice of a computed (non-leaf) value.
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::slice_rows(vaegan::sigmoid(in[0]), 2, 6); }, {x});
}

TEST_CASE_TEMPLATE("rows: concat copies the parts in order, slices are views", T, float, double) {
  Tape<T> tape;
  Var<T> a = tape.constant(Tensor<T>(Shape{1, 2}, {T(1), T(2)}));
  Var<T> b = tape.constant(Tensor<T>(Shape{2, 2}, {T(3), T(4), T(5), T(6)}));
  Var<T> c = vaegan::concat_rows(b, a);
  CHECK(c.shape() == Shape({3, 2}));
  const Tensor<T> cv = value_of(c);
  const std::vector<T> expected = {T(3), T(4), T(5), T(6), T(1), T(2)};
  for (Index i = 0; i < 6; ++i) CHECK(cv[i] == expected[static_cast<std::size_t>(i)]);

  Var<T> s = vaegan::slice_rows(c, 1, 3);
  CHECK(s.shape() == Shape({2, 2}));
  CHECK(s.node().value == c.node().value + 2);  // no copy
  CHECK(s.value()(1, 0) == T(1));
  auto [top, bottom] = vaegan::split_rows<T, 2>(c, {2, 1});
  CHECK(top.shape() == Shape({2, 2}));
  CHECK(bottom.value()(0, 1) == T(2));
  Var<T> empty = vaegan::slice_rows(c, 2, 2);
  CHECK(empty.numel() == 0);

  // Rank-1 parts stack into a matrix; rank-3 parts keep their row shape.
  Var<T> v1 = tape.constant(Tensor<T>(Shape{3}, T(1)));
  CHECK(vaegan::concat_rows(v1, v1).shape() == Shape({2, 3}));
  Var<T> img = tape.constant(Tensor<T>(Shape{2, 2, 2}, T(0)));
  CHECK(vaegan::concat_rows(img, img, img).shape() == Shape({6, 2, 2}));
  CHECK(vaegan::slice_rows(vaegan::concat_rows(img, img), 1, 3).shape() == Shape({2, 2, 2}));
}

TEST_CASE("rows: shape errors name the op and the shapes") {
  Tape<float> tape;
  Var<float> a = tape.variable(Tensor<float>(Shape{2, 3}));
  Var<float> b = tape.variable(Tensor<float>(Shape{2, 4}));
  CHECK_THROWS_WITH_AS(vaegan::concat_rows(a, b),
                       "concat_rows: all parts need the same row shape (got [2, 3] and [2, 4])", ShapeError);
  CHECK_THROWS_WITH_AS(vaegan::concat_rows<float>({a, a, a, a, a}), doctest::Contains("takes 1 to 4 tensors, got 5"),
                       vaegan::Error);
  CHECK_THROWS_WITH_AS(vaegan::slice_rows(a, 1, 3), "slice_rows: rows [1, 3) out of range for [2, 3]", ShapeError);
  CHECK_THROWS_AS(vaegan::slice_rows(a, -1, 1), ShapeError);
  CHECK_THROWS_AS(vaegan::slice_rows(a, 2, 1), ShapeError);
  CHECK_THROWS_WITH_AS((vaegan::split_rows<float, 2>(a, {1, 2})),
                       "split_rows: sizes add up to 3 rows, tensor [2, 3] has 2", ShapeError);
}

// ---- reparameterize --------------------------------------------------------------------

TEST_CASE("reparameterize: gradients with respect to mu and logvar") {
  Rng rng(3);
  const Tensor<double> mu = random_normal(Shape{4, 3}, rng);
  const Tensor<double> logvar = random_normal(Shape{4, 3}, rng, 0.0, 0.5);
  auto f = [](TapeD&, const Vars& in) {
    Rng noise(2024);  // recreated per evaluation: the same eps every time
    return vaegan::reparameterize(in[0], in[1], noise);
  };
  VAEGAN_CHECK_GRADIENTS(f, {mu, logvar});
  // Through a nonlinearity, so dz is not the projection alone.
  VAEGAN_CHECK_GRADIENTS(
      [](TapeD&, const Vars& in) {
        Rng noise(7);
        return vaegan::tanh(vaegan::reparameterize(in[0], in[1], noise));
      },
      {mu, logvar});
}

TEST_CASE_TEMPLATE("reparameterize: z = mu + eps * exp(logvar / 2) with eps from the Rng", T, float, double) {
  Rng rng(4);
  const Tensor<T> mu = random_normal<T>(Shape{3, 2}, rng);
  const Tensor<T> logvar = random_normal<T>(Shape{3, 2}, rng);
  Tape<T> tape;
  Rng noise(99), same(99);
  Var<T> z = vaegan::reparameterize(tape.constant(mu), tape.constant(logvar), noise);
  for (int i = 0; i < 6; ++i) same.normal();
  CHECK(noise.state() == same.state());  // it drew exactly one normal per element
  Rng replay(99);
  for (Index i = 0; i < 6; ++i) {
    const double eps = static_cast<double>(static_cast<T>(replay.normal()));
    const double expected = static_cast<double>(mu[i]) + eps * std::exp(static_cast<double>(logvar[i]) / 2);
    CHECK(static_cast<double>(z.node().value[i]) == doctest::Approx(expected));
  }
}

TEST_CASE("reparameterize: samples have the requested mean and variance") {
  const Index n = 100000;
  Tape<double> tape;
  Rng noise(5);
  Var<double> z = vaegan::reparameterize(tape.constant(Tensor<double>(Shape{n}, 1.5)),
                                         tape.constant(Tensor<double>(Shape{n}, std::log(4.0))), noise);
  const auto values = z.array();
  const double mean = values.mean();
  const double var = (values - mean).square().mean();
  CHECK(std::abs(mean - 1.5) < 5 * 2.0 / std::sqrt(static_cast<double>(n)));  // sd 2
  CHECK(std::abs(var - 4.0) < 5 * 4.0 * std::sqrt(2.0 / n));
}

TEST_CASE("reparameterize: mu and logvar need the same shape") {
  Tape<double> tape;
  Rng rng(1);
  Var<double> mu = tape.variable(Tensor<double>(Shape{2, 3}));
  Var<double> logvar = tape.variable(Tensor<double>(Shape{3, 2}));
  CHECK_THROWS_WITH_AS(vaegan::reparameterize(mu, logvar, rng),
                       "reparameterize: shapes must match (got [2, 3] and [3, 2])", ShapeError);
}

// ---- dropout ---------------------------------------------------------------------------

TEST_CASE("dropout: gradients in training mode with a fixed mask") {
  Rng rng(6);
  const Tensor<double> x = random_normal(Shape{5, 4}, rng);
  for (double p : {0.2, 0.5}) {
    CAPTURE(p);
    VAEGAN_CHECK_GRADIENTS(
        [p](TapeD&, const Vars& in) {
          Rng mask(31);
          return vaegan::dropout(vaegan::exp(in[0]), p, mask, true);
        },
        {x});
  }
  VAEGAN_CHECK_GRADIENTS(
      [](TapeD&, const Vars& in) {
        Rng mask(31);
        return vaegan::dropout(in[0], 0.3, mask, false);  // evaluation: the identity
      },
      {x});
}

TEST_CASE_TEMPLATE("dropout: evaluation and p = 0 are the identity", T, float, double) {
  Tape<T> tape;
  Rng rng(7);
  Var<T> x = tape.variable(random_normal<T>(Shape{3, 3}, rng));
  const Rng::State before = rng.state();
  Var<T> eval = vaegan::dropout(x, 0.5, rng, false);
  Var<T> zero_p = vaegan::dropout(x, 0.0, rng, true);
  CHECK(eval.id() == x.id());  // not even a node: the same value
  CHECK(zero_p.id() == x.id());
  CHECK(rng.state() == before);  // and no random numbers drawn
}

TEST_CASE_TEMPLATE("dropout: keeps about 1 - p of the elements, scaled by 1 / (1 - p)", T, float, double) {
  const Index n = 100000;
  for (double p : {0.1, 0.5, 0.8}) {
    CAPTURE(p);
    Tape<T> tape;
    Rng rng(8);
    Var<T> x = tape.variable(Tensor<T>(Shape{n}, T(2)));
    Var<T> y = vaegan::dropout(x, p, rng, true);
    const T kept_value = static_cast<T>(T(2) * static_cast<T>(1.0 / (1.0 - p)));
    Index kept = 0, other = 0;
    for (Index i = 0; i < n; ++i) {
      const T v = y.node().value[i];
      if (v == kept_value) ++kept;
      else if (v != T(0)) ++other;
    }
    CHECK(other == 0);
    const double rate = static_cast<double>(kept) / n;
    CHECK(std::abs(rate - (1 - p)) < 5 * std::sqrt(p * (1 - p) / n));
    // Inverted dropout keeps the expected value, E[y] = x; sd(y) = 2 sqrt(p / (1 - p)).
    const double mean = y.array().template cast<double>().mean();
    CHECK(std::abs(mean - 2.0) < 5 * 2 * std::sqrt(p / (1 - p) / n));
    // The gradient uses the same mask: dX = dY * mask.
    tape.backward(vaegan::sum(y));
    Index mismatched = 0;
    for (Index i = 0; i < n; ++i) {
      const bool dropped = y.node().value[i] == T(0);
      const T g = x.grad()(0, i);
      mismatched += dropped ? g != T(0) : g != static_cast<T>(1.0 / (1.0 - p));
    }
    CHECK(mismatched == 0);
  }
}

TEST_CASE("dropout: the same seed gives the same mask, another seed a different one") {
  Tape<float> tape;
  Var<float> x = tape.constant(Tensor<float>(Shape{1000}, 1.0f));
  Rng a(9), b(9), c(10);
  const Tensor<float> ya = value_of(vaegan::dropout(x, 0.5, a, true));
  const Tensor<float> yb = value_of(vaegan::dropout(x, 0.5, b, true));
  const Tensor<float> yc = value_of(vaegan::dropout(x, 0.5, c, true));
  CHECK(vaegan::test::max_abs_diff(ya, yb) == 0.0);
  CHECK(vaegan::test::max_abs_diff(ya, yc) > 0.0);
}

TEST_CASE("dropout: p must lie in [0, 1)") {
  Tape<float> tape;
  Rng rng(1);
  Var<float> x = tape.variable(Tensor<float>(Shape{4}));
  CHECK_THROWS_WITH_AS(vaegan::dropout(x, 1.0, rng, true), doctest::Contains("p must be in [0, 1)"), vaegan::Error);
  CHECK_THROWS_AS(vaegan::dropout(x, -0.1, rng, true), vaegan::Error);
  CHECK_THROWS_AS(vaegan::dropout(x, std::numeric_limits<double>::quiet_NaN(), rng, true), vaegan::Error);
  CHECK_THROWS_AS(vaegan::dropout(x, 1.5, rng, false), vaegan::Error);  // checked in evaluation too
}

// ---- gradients that reach only some rows -------------------------------------------------
// slice_rows tells the tape which rows of a gradient can be non-zero; linear and
// concat_rows then skip the others. These are the discriminator-pass shapes: a loss on the
// fake rows only of layers over [real; fake], plus a second loss over all rows.

TEST_CASE("rows: linear layers over stacked rows, a loss on some rows only") {
  Rng rng(11);
  const Tensor<double> real = random_normal(Shape{3, 4}, rng);
  const Tensor<double> fake = random_normal(Shape{2, 4}, rng);
  const Tensor<double> w1 = random_normal(Shape{4, 5}, rng, 0.0, 0.5);
  const Tensor<double> b1 = random_normal(Shape{5}, rng);
  const Tensor<double> w2 = random_normal(Shape{5, 3}, rng, 0.0, 0.5);
  const Tensor<double> b2 = random_normal(Shape{3}, rng);
  const auto layers = [](const Vars& in) {
    Var<double> h =
        vaegan::linear(vaegan::concat_rows(in[0], in[1]), in[2], in[3], vaegan::Activation::leaky_relu(0.2));
    return vaegan::linear(h, in[4], in[5]);
  };
  // The fake rows only (the generator's loss): every input, weights included.
  VAEGAN_CHECK_GRADIENTS([&](TapeD&, const Vars& in) { return vaegan::slice_rows(layers(in), 3, 5); },
                         {real, fake, w1, b1, w2, b2});
  // A middle block, then two disjoint blocks used by two losses that add up.
  VAEGAN_CHECK_GRADIENTS([&](TapeD&, const Vars& in) { return vaegan::slice_rows(layers(in), 1, 4); },
                         {real, fake, w1, b1, w2, b2});
  VAEGAN_CHECK_GRADIENTS(
      [&](TapeD&, const Vars& in) {
        Var<double> out = layers(in);
        return vaegan::add(vaegan::sum(vaegan::slice_rows(out, 0, 1)),
                           vaegan::sum(vaegan::exp(vaegan::slice_rows(out, 4, 5))));
      },
      {real, fake, w1, b1, w2, b2});
}

TEST_CASE("rows: a loss on the fake rows leaves the real part without a gradient, and a reused buffer clean") {
  Rng rng(12);
  Tape<double> tape;
  vaegan::ParameterSet<double> params("d");
  vaegan::Dense<double> layer(params, 4, 3, vaegan::Activation::relu(), rng, vaegan::Init::automatic, "layer");
  const Tensor<double> real = random_normal(Shape{3, 4}, rng);
  const Tensor<double> fake = random_normal(Shape{2, 4}, rng);
  // Step 1: a loss over all rows fills every row of the buffers. Step 2 on the same tape:
  // a loss on the fake rows only must not see step 1's values in the real rows.
  for (int step = 0; step < 2; ++step) {
    tape.reset();
    Var<double> x_real = tape.variable(real);
    Var<double> x_fake = tape.variable(fake);
    Var<double> out = layer(vaegan::concat_rows(x_real, x_fake));
    Var<double> loss = step == 0 ? vaegan::sum(out) : vaegan::sum(vaegan::slice_rows(out, 3, 5));
    tape.backward(loss);
    if (step == 1) {
      for (Index i = 0; i < real.numel(); ++i) CHECK(x_real.grad().data()[i] == 0.0);
      // The fake rows' gradient equals that of the layer applied to the fake rows alone.
      Tape<double> alone;
      Var<double> f = alone.variable(fake);
      alone.backward(vaegan::sum(layer(f)));
      CHECK(vaegan::test::max_abs_diff(vaegan::test::grad_of(x_fake), vaegan::test::grad_of(f)) < 1e-12);
    }
  }
}
