// Tests for ops/matmul.hpp, ops/elementwise.hpp, ops/activation.hpp, ops/clamp.hpp and ops/reduce.hpp:
// gradient checks in double for every op, forward values against direct formulas, and
// shape errors that name the op and both shapes.
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "test_util.hpp"

using vaegan::Activation;
using vaegan::Index;
using vaegan::Rng;
using vaegan::Shape;
using vaegan::ShapeError;
using vaegan::Tape;
using vaegan::Tensor;
using vaegan::Var;
using vaegan::test::random_normal;
using vaegan::test::random_off_zero;
using vaegan::test::random_uniform;
using vaegan::test::value_of;
using vaegan::test::Vars;

namespace {
using TapeD = Tape<double>;

// Shape and message of the exception `f` throws.
template <class F>
std::string shape_error_message(F&& f) {
  try {
    f();
  } catch (const ShapeError& e) {
    return e.what();
  }
  return "(no ShapeError thrown)";
}
}  // namespace

// ---- matmul ----------------------------------------------------------------------------

TEST_CASE("matmul: gradients for every transpose combination") {
  Rng rng(1);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      CAPTURE(ta);
      CAPTURE(tb);
      // op(A) [3, 4], op(B) [4, 5]
      const Tensor<double> a = random_normal(ta ? Shape{4, 3} : Shape{3, 4}, rng);
      const Tensor<double> b = random_normal(tb ? Shape{5, 4} : Shape{4, 5}, rng);
      VAEGAN_CHECK_GRADIENTS([=](TapeD&, const Vars& in) { return vaegan::matmul(in[0], in[1], ta, tb); }, {a, b});
    }
}

TEST_CASE("matmul: gradients when both operands are the same value") {
  Rng rng(2);
  const Tensor<double> a = random_normal(Shape{4, 4}, rng);
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::matmul(in[0], in[0], false, true); }, {a});
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::matmul(in[0], in[0], true, false); }, {a});
}

TEST_CASE("matmul: gradients for vector operands (a rank-1 tensor is one row)") {
  Rng rng(3);
  const Tensor<double> v = random_normal(Shape{4}, rng);
  const Tensor<double> m = random_normal(Shape{4, 3}, rng);
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::matmul(in[0], in[1]); }, {v, m});
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::matmul(in[0], in[1], false, true); },
                         {v, random_normal(Shape{4}, rng)});  // a dot product [1, 1]
}

TEST_CASE_TEMPLATE("matmul: forward and backward match the triple loop, single and threaded", T, float, double) {
  vaegan::test::ThreadCountGuard guard;
  const Index m = 96, k = 64, n = 80;  // m * n * k >= 2^18: the GEMMs split across threads
  Rng rng(4);
  for (int threads : {1, 2})
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        CAPTURE(threads);
        CAPTURE(ta);
        CAPTURE(tb);
        vaegan::set_num_threads(threads);
        const Tensor<T> a = random_uniform<T>(ta ? Shape{k, m} : Shape{m, k}, rng, -1, 1);
        const Tensor<T> b = random_uniform<T>(tb ? Shape{n, k} : Shape{k, n}, rng, -1, 1);
        const Tensor<T> dc = random_uniform<T>(Shape{m, n}, rng, -1, 1);
        Tape<T> tape;
        Var<T> av = tape.variable(a), bv = tape.variable(b);
        Var<T> c = vaegan::matmul(av, bv, ta, tb);
        REQUIRE(c.shape() == Shape({m, n}));
        tape.backward(vaegan::sum(vaegan::mul(c, tape.constant(dc))));  // dL/dC = dc

        const double tol = 1e-12 + 8 * static_cast<double>(std::numeric_limits<T>::epsilon()) * k;
        const auto ref = vaegan::test::naive_matmul(ta, tb, m, n, k, a.data(), a.cols(), b.data(), b.cols());
        double worst = 0.0;
        for (Index i = 0; i < m * n; ++i)
          worst = std::max(worst, std::abs(static_cast<double>(c.node().value[i]) - ref[static_cast<std::size_t>(i)]));
        CHECK(worst < tol);
        // dA' = dC B'^T [m, k], stored transposed when ta; dB' = A'^T dC [k, n].
        const auto da = vaegan::test::naive_matmul(false, !tb, m, k, n, dc.data(), n, b.data(), b.cols());
        const auto db = vaegan::test::naive_matmul(!ta, false, k, n, m, a.data(), a.cols(), dc.data(), n);
        double worst_da = 0.0, worst_db = 0.0;
        for (Index i = 0; i < m; ++i)
          for (Index j = 0; j < k; ++j) {
            const double got = static_cast<double>(ta ? av.grad()(j, i) : av.grad()(i, j));
            worst_da = std::max(worst_da, std::abs(got - da[static_cast<std::size_t>(i * k + j)]));
          }
        for (Index i = 0; i < k; ++i)
          for (Index j = 0; j < n; ++j) {
            const double got = static_cast<double>(tb ? bv.grad()(j, i) : bv.grad()(i, j));
            worst_db = std::max(worst_db, std::abs(got - db[static_cast<std::size_t>(i * n + j)]));
          }
        CHECK(worst_da < 8 * static_cast<double>(std::numeric_limits<T>::epsilon()) * n + 1e-12);
        CHECK(worst_db < 8 * static_cast<double>(std::numeric_limits<T>::epsilon()) * m + 1e-12);
      }
}

TEST_CASE("matmul: shape errors name the op and both shapes") {
  Tape<float> tape;
  Var<float> a = tape.variable(Tensor<float>(Shape{2, 3}));
  Var<float> b = tape.variable(Tensor<float>(Shape{4, 5}));
  const std::string inner = shape_error_message([&] { vaegan::matmul(a, b); });
  CHECK(inner.find("matmul") != std::string::npos);
  CHECK(inner.find("[2, 3]") != std::string::npos);
  CHECK(inner.find("[4, 5]") != std::string::npos);
  CHECK(inner.find("inner dimensions") != std::string::npos);
  // With transposes the check uses the transposed extents: [2, 3]^T [2, 4] fits.
  Var<float> c = tape.variable(Tensor<float>(Shape{2, 4}));
  CHECK(vaegan::matmul(a, c, true, false).shape() == Shape({3, 4}));
  CHECK_THROWS_WITH_AS(vaegan::matmul(a, c, false, true), "matmul: inner dimensions differ (got [2, 3] and [2, 4])",
                       ShapeError);
  Var<float> cube = tape.variable(Tensor<float>(Shape{2, 3, 4}));
  CHECK_THROWS_WITH_AS(vaegan::matmul(cube, b), doctest::Contains("operands must be matrices"), ShapeError);
}

// ---- element-wise ----------------------------------------------------------------------

TEST_CASE("elementwise: gradients of add, sub and mul, including an input used twice") {
  Rng rng(10);
  const Tensor<double> a = random_normal(Shape{3, 4}, rng);
  const Tensor<double> b = random_normal(Shape{3, 4}, rng);
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::add(in[0], in[1]); }, {a, b});
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::sub(in[0], in[1]); }, {a, b});
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::mul(in[0], in[1]); }, {a, b});
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::mul(in[0], in[0]); }, {a});
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::sub(in[0], in[0] * in[1]); }, {a, b});
}

TEST_CASE("elementwise: gradients of scale, add_bias, exp and log") {
  Rng rng(11);
  const Tensor<double> x = random_normal(Shape{4, 3}, rng);
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::scale(in[0], -1.7, 0.4); }, {x});
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return 2.5 * in[0]; }, {x});
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::add_bias(in[0], in[1]); },
                         {x, random_normal(Shape{3}, rng)});
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::add_bias(in[0], in[1]); },
                         {x, random_normal(Shape{1, 3}, rng)});
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::exp(in[0]); }, {x});
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::log(in[0]); },
                         {random_uniform(Shape{4, 3}, rng, 0.5, 2.0)});
}

TEST_CASE_TEMPLATE("elementwise: forward values match the formulas", T, float, double) {
  Tape<T> tape;
  Var<T> a = tape.variable(Tensor<T>(Shape{2, 3}, {T(1), T(-2), T(3), T(0.5), T(4), T(-1)}));
  Var<T> b = tape.variable(Tensor<T>(Shape{2, 3}, {T(2), T(2), T(-1), T(8), T(0.25), T(3)}));
  Var<T> bias = tape.constant(Tensor<T>(Shape{3}, {T(10), T(20), T(30)}));
  const Tensor<T> sum = value_of(a + b), diff = value_of(a - b), prod = value_of(a * b);
  const Tensor<T> scaled = value_of(vaegan::scale(a, T(3), T(1)));
  const Tensor<T> biased = value_of(vaegan::add_bias(a, bias));
  const Tensor<T> e = value_of(vaegan::exp(a));
  const Tensor<T> l = value_of(vaegan::log(b * b));
  for (Index i = 0; i < 6; ++i) {
    const T av = a.node().value[i], bv = b.node().value[i];
    CHECK(sum[i] == av + bv);
    CHECK(diff[i] == av - bv);
    CHECK(prod[i] == av * bv);
    CHECK(scaled[i] == doctest::Approx(3 * av + 1));
    CHECK(biased[i] == av + bias.node().value[i % 3]);
    CHECK(e[i] == doctest::Approx(std::exp(av)));
    CHECK(l[i] == doctest::Approx(std::log(bv * bv)));
  }
}

TEST_CASE("elementwise: shape errors name the op and both shapes") {
  Tape<double> tape;
  Var<double> a = tape.variable(Tensor<double>(Shape{2, 3}));
  Var<double> b = tape.variable(Tensor<double>(Shape{3, 2}));
  CHECK_THROWS_WITH_AS(vaegan::add(a, b), "add: shapes must match (got [2, 3] and [3, 2])", ShapeError);
  CHECK_THROWS_WITH_AS(vaegan::sub(a, b), "sub: shapes must match (got [2, 3] and [3, 2])", ShapeError);
  CHECK_THROWS_WITH_AS(vaegan::mul(a, b), "mul: shapes must match (got [2, 3] and [3, 2])", ShapeError);
  Var<double> wrong_bias = tape.variable(Tensor<double>(Shape{4}));
  CHECK_THROWS_WITH_AS(vaegan::add_bias(a, wrong_bias),
                       "add_bias: bias must be [cols] or [1, cols] of x (got [2, 3] and [4])", ShapeError);
  Var<double> column_bias = tape.variable(Tensor<double>(Shape{3, 1}));  // 3 elements, but a column
  CHECK_THROWS_WITH_AS(vaegan::add_bias(a, column_bias), doctest::Contains("(got [2, 3] and [3, 1])"), ShapeError);
}

// ---- activations -----------------------------------------------------------------------

TEST_CASE("activation: gradients of every activation") {
  Rng rng(20);
  // relu-family inputs stay at least 0.1 from the kink; the smooth ones get any sign.
  const Tensor<double> off_zero = random_off_zero(Shape{4, 5}, rng);
  const Tensor<double> normal = random_normal(Shape{4, 5}, rng, 0.0, 2.0);
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::relu(in[0]); }, {off_zero});
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::leaky_relu(in[0]); }, {off_zero});
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::leaky_relu(in[0], 0.01); }, {off_zero});
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::sigmoid(in[0]); }, {normal});
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::tanh(in[0]); }, {normal});
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::softplus(in[0]); }, {normal});
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::activate(in[0], Activation::identity()); },
                         {normal});
  // Far tails, where a naive formula would overflow or cancel.
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::softplus(in[0]); },
                         {random_uniform(Shape{3, 4}, rng, -30.0, 30.0)});
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::sigmoid(in[0]); },
                         {random_uniform(Shape{3, 4}, rng, -12.0, 12.0)});
}

TEST_CASE_TEMPLATE("activation: forward values match the formulas, also at large magnitudes", T, float, double) {
  const std::vector<T> xs = {T(-100), T(-20), T(-3), T(-0.5), T(0), T(0.25), T(2), T(20), T(100)};
  Tape<T> tape;
  Tensor<T> input(Shape{static_cast<Index>(xs.size())});
  std::copy(xs.begin(), xs.end(), input.data());
  Var<T> x = tape.constant(input);
  const Tensor<T> r = value_of(vaegan::relu(x)), lr = value_of(vaegan::leaky_relu(x, 0.1));
  const Tensor<T> s = value_of(vaegan::sigmoid(x)), t = value_of(vaegan::tanh(x));
  const Tensor<T> sp = value_of(vaegan::softplus(x));
  const Tensor<T> id = value_of(vaegan::activate(x, Activation::identity()));
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const T v = xs[i];
    const double dv = static_cast<double>(v);
    const Index j = static_cast<Index>(i);
    CAPTURE(dv);
    CHECK(r[j] == (v > 0 ? v : T(0)));
    CHECK(lr[j] == doctest::Approx(v > 0 ? dv : 0.1 * dv));
    CHECK(static_cast<double>(t[j]) == doctest::Approx(std::tanh(dv)));
    CHECK(id[j] == v);
    // Sigmoid and softplus to a few ulps, relative, down to the smallest normal number
    // (below it, as for x = -100 in float, only "tiny and not negative" is meaningful).
    const double sigmoid_ref = 1.0 / (1.0 + std::exp(-dv));
    const double softplus_ref = std::max(dv, 0.0) + std::log1p(std::exp(-std::abs(dv)));
    const double ulps = 8 * static_cast<double>(std::numeric_limits<T>::epsilon());
    const double tiny = static_cast<double>(std::numeric_limits<T>::min());
    for (const auto& [got, ref] :
         {std::pair<T, double>{s[j], sigmoid_ref}, std::pair<T, double>{sp[j], softplus_ref}}) {
      CHECK(std::isfinite(got));
      if (ref >= tiny) {
        CHECK(static_cast<double>(got) == vaegan::test::relative(ref, ulps));
      } else {
        CHECK(got >= T(0));
        CHECK(static_cast<double>(got) < 4 * tiny);
      }
    }
  }
}

TEST_CASE_TEMPLATE("activation: softplus and sigmoid gradients stay accurate in the tails", T, float, double) {
  // d softplus / dx = sigmoid(x): tiny but representable for x << 0, where 1 - e^-y
  // would cancel to zero or lose most digits.
  const std::vector<double> xs = {-30.0, -15.0, -8.0, -1.0, 0.5, 6.0, 15.0};
  Tensor<T> input(Shape{static_cast<Index>(xs.size())});
  for (std::size_t i = 0; i < xs.size(); ++i) input[static_cast<Index>(i)] = static_cast<T>(xs[i]);
  Tape<T> tape;
  Var<T> x = tape.variable(input);
  tape.backward(vaegan::sum(vaegan::softplus(x)));
  const Tensor<T> d_softplus = vaegan::test::grad_of(x);
  tape.reset();
  Var<T> x2 = tape.variable(input);
  tape.backward(vaegan::sum(vaegan::sigmoid(x2)));
  const Tensor<T> d_sigmoid = vaegan::test::grad_of(x2);
  const double rel = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const double v = static_cast<double>(input[static_cast<Index>(i)]);
    const double sig = 1.0 / (1.0 + std::exp(-v));
    CAPTURE(v);
    CHECK(static_cast<double>(d_softplus[static_cast<Index>(i)]) == vaegan::test::relative(sig, rel));
    CHECK(std::isfinite(d_sigmoid[static_cast<Index>(i)]));
    // The sigmoid derivative is computed from y: 1 - y has an absolute error of ~eps.
    const double eps = static_cast<double>(std::numeric_limits<T>::epsilon());
    CHECK(std::abs(static_cast<double>(d_sigmoid[static_cast<Index>(i)]) - sig * (1.0 - sig)) < 2 * eps);
  }
}

TEST_CASE_TEMPLATE("activation: relu and leaky_relu use the documented subgradient at 0", T, float, double) {
  Tape<T> tape;
  Var<T> x = tape.variable(Tensor<T>(Shape{3}, {T(-1), T(0), T(2)}));
  tape.backward(vaegan::sum(vaegan::relu(x)));
  CHECK(x.grad()(0, 0) == T(0));
  CHECK(x.grad()(0, 1) == T(0));
  CHECK(x.grad()(0, 2) == T(1));
  tape.backward(vaegan::sum(vaegan::leaky_relu(x, 0.25)), {x});
  CHECK(x.grad()(0, 0) == T(0.25));
  CHECK(x.grad()(0, 1) == T(0.25));
  CHECK(x.grad()(0, 2) == T(1));
}

TEST_CASE("activation: leaky_relu needs a positive slope and activations have names") {
  Tape<float> tape;
  Var<float> x = tape.variable(Tensor<float>(Shape{2}));
  CHECK_THROWS_WITH_AS(vaegan::leaky_relu(x, 0.0), doctest::Contains("slope must be > 0"), vaegan::Error);
  CHECK_THROWS_AS(vaegan::leaky_relu(x, -0.2), vaegan::Error);
  CHECK(Activation::relu().name() == "relu");
  CHECK(Activation::leaky_relu(0.2).name().find("leaky_relu(0.2") == 0);
  CHECK(Activation::softplus().name() == "softplus");
  CHECK(Activation::leaky_relu(0.2) == Activation::leaky_relu(0.2));
  CHECK_FALSE(Activation::leaky_relu(0.2) == Activation::leaky_relu(0.1));
  CHECK(Activation::identity().kind == vaegan::ActivationKind::identity);
}

// ---- clamp -----------------------------------------------------------------------------

TEST_CASE("clamp: gradients inside and outside the range") {
  Rng rng(25);
  const double lo = -0.5, hi = 0.8;
  Tensor<double> x = random_uniform(Shape{5, 4}, rng, -2.0, 2.0);
  // Keep every input at least 0.05 from a bound, where the derivative jumps.
  for (double& v : x) {
    if (std::abs(v - lo) < 0.05) v = lo - 0.1;
    if (std::abs(v - hi) < 0.05) v = hi + 0.1;
  }
  int inside = 0;
  for (double v : x) inside += v > lo && v < hi;
  REQUIRE(inside > 0);  // both branches are exercised
  REQUIRE(inside < x.numel());
  VAEGAN_CHECK_GRADIENTS([=](TapeD&, const Vars& in) { return vaegan::clamp(in[0], lo, hi); }, {x});
  VAEGAN_CHECK_GRADIENTS([=](TapeD&, const Vars& in) { return vaegan::exp(vaegan::clamp(in[0], lo, hi)); }, {x});
}

TEST_CASE_TEMPLATE("clamp: values are limited to [lo, hi] and a clamped value gets no gradient", T, float, double) {
  Tape<T> tape;
  Var<T> x = tape.variable(Tensor<T>(Shape{5}, {T(-3), T(-1), T(0.25), T(1), T(7)}));
  Var<T> y = vaegan::clamp(x, T(-1), T(1));
  const std::vector<T> expected = {T(-1), T(-1), T(0.25), T(1), T(1)};
  for (Index i = 0; i < 5; ++i) CHECK(y.value()(0, i) == expected[static_cast<std::size_t>(i)]);
  tape.backward(vaegan::sum(y));
  // Only the strictly interior element moves with x; the bounds themselves count as clamped.
  const std::vector<T> grads = {T(0), T(0), T(1), T(0), T(0)};
  for (Index i = 0; i < 5; ++i) CHECK(x.grad()(0, i) == grads[static_cast<std::size_t>(i)]);
  CHECK_THROWS_WITH_AS(vaegan::clamp(x, T(2), T(1)), doctest::Contains("clamp: need lo <= hi"), vaegan::Error);
  CHECK(vaegan::clamp(x, T(0.5), T(0.5)).value().isConstant(T(0.5)));
}

// ---- reductions ------------------------------------------------------------------------

TEST_CASE("reduce: gradients of sum, mean, sum_rows and mean_rows") {
  Rng rng(30);
  const Tensor<double> x = random_normal(Shape{4, 5}, rng);
  const Tensor<double> cube = random_normal(Shape{3, 2, 4}, rng);
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::sum(in[0]); }, {x});
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::mean(in[0]); }, {x});
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::sum_rows(in[0]); }, {x});
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::mean_rows(in[0]); }, {x});
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::sum_rows(in[0]); }, {cube});
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::mean_rows(in[0]); }, {cube});
  // A reduction feeding another op, so its incoming gradient is not all ones.
  VAEGAN_CHECK_GRADIENTS([](TapeD&, const Vars& in) { return vaegan::exp(vaegan::mean_rows(in[0])); }, {x});
}

TEST_CASE_TEMPLATE("reduce: forward values and shapes", T, float, double) {
  Tape<T> tape;
  Var<T> x = tape.constant(Tensor<T>(Shape{2, 3}, {T(1), T(2), T(3), T(4), T(5), T(9)}));
  CHECK(vaegan::sum(x).item() == T(24));
  CHECK(vaegan::mean(x).item() == T(4));
  Var<T> rs = vaegan::sum_rows(x), rm = vaegan::mean_rows(x);
  CHECK(rs.shape() == Shape({2, 1}));
  CHECK(rs.value()(0, 0) == T(6));
  CHECK(rs.value()(1, 0) == T(18));
  CHECK(rm.value()(0, 0) == doctest::Approx(2.0));
  CHECK(rm.value()(1, 0) == doctest::Approx(6.0));
  CHECK(vaegan::sum(x).shape() == Shape::scalar());
  Var<T> cube = tape.constant(Tensor<T>(Shape{2, 2, 2}, T(1)));
  CHECK(vaegan::sum_rows(cube).value()(1, 0) == T(4));
}
