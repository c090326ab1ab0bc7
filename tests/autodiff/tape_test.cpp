// Tests for autodiff/: the tape's backward pass, gradient targets and accumulation,
// buffer reuse, ParameterSet, and the gradient checker itself.
#include <cmath>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>
#include <vector>
#ifdef __GLIBC__
#include <malloc.h>  // mallopt(M_PERTURB)
#endif

#include "test_util.hpp"

using vaegan::Index;
using vaegan::ParameterSet;
using vaegan::Rng;
using vaegan::Shape;
using vaegan::Tape;
using vaegan::Tensor;
using vaegan::Var;
using vaegan::test::grad_of;
using vaegan::test::max_abs_diff;
using vaegan::test::random_normal;

TEST_CASE_TEMPLATE("tape: a value used twice receives both gradient contributions", T, float, double) {
  Tape<T> tape;
  Var<T> x = tape.variable(Tensor<T>(Shape{3}, {T(1), T(-2), T(0.5)}));
  // L = sum(x * x) + sum(3x): dL/dx = 2x + 3, from three uses of x.
  Var<T> loss = vaegan::add(vaegan::sum(vaegan::mul(x, x)), vaegan::sum(vaegan::scale(x, T(3))));
  tape.backward(loss);
  CHECK(x.grad()(0, 0) == doctest::Approx(5.0));
  CHECK(x.grad()(0, 1) == doctest::Approx(-1.0));
  CHECK(x.grad()(0, 2) == doctest::Approx(4.0));
}

TEST_CASE_TEMPLATE("tape: an intermediate used by two ops sums both paths", T, float, double) {
  Tape<T> tape;
  Var<T> x = tape.variable(Tensor<T>(Shape{2}, {T(0.3), T(-0.7)}));
  Var<T> h = vaegan::exp(x);
  Var<T> loss = vaegan::sum(vaegan::add(vaegan::mul(h, h), h));  // e^2x + e^x: d/dx = 2e^2x + e^x
  tape.backward(loss);
  for (Index i = 0; i < 2; ++i) {
    const double xv = static_cast<double>(x.value()(0, i));
    CHECK(static_cast<double>(x.grad()(0, i)) == doctest::Approx(2 * std::exp(2 * xv) + std::exp(xv)));
  }
}

TEST_CASE_TEMPLATE("tape: detach stops the gradient and keeps the value", T, float, double) {
  Tape<T> tape;
  Var<T> x = tape.variable(Tensor<T>(Shape{3}, {T(1), T(2), T(3)}));
  Var<T> d = vaegan::detach(x);
  CHECK(d.node().value == x.node().value);  // a view, not a copy
  CHECK_FALSE(d.node().requires_grad);
  Var<T> loss = vaegan::sum(vaegan::mul(x, d));  // d/dx through the first factor only: x
  tape.backward(loss);
  for (Index i = 0; i < 3; ++i) CHECK(x.grad()(0, i) == x.value()(0, i));

  tape.reset();
  Var<T> y = tape.variable(Tensor<T>(Shape{2}, T(4)));
  Var<T> only_detached = vaegan::sum(vaegan::detach(y));
  tape.backward(only_detached);  // nothing requires a gradient: a no-op, y's gradient reads zero
  CHECK(y.grad().isZero());
}

TEST_CASE_TEMPLATE("tape: NoGradGuard records values without gradients and restores the mode", T, float, double) {
  Tape<T> tape;
  Var<T> x = tape.variable(Tensor<T>(Shape{2}, {T(1), T(2)}));
  Var<T> y;
  {
    vaegan::NoGradGuard<T> guard(tape);
    CHECK_FALSE(tape.grad_enabled());
    y = vaegan::sum(vaegan::mul(x, x));
    CHECK(y.item() == T(5));  // values are still computed
    CHECK_FALSE(y.node().requires_grad);
    CHECK_FALSE(static_cast<bool>(y.node().backward));
    { vaegan::NoGradGuard<T> nested(tape); }
    CHECK_FALSE(tape.grad_enabled());  // the inner guard restores "off", not "on"
  }
  CHECK(tape.grad_enabled());
  tape.backward(y);
  CHECK(x.grad().isZero());

  Var<T> z = vaegan::sum(vaegan::mul(x, x));  // after the guard, gradients flow again
  tape.backward(z);
  CHECK(x.grad()(0, 1) == T(4));
}

namespace {

// Two tiny "networks" with their own parameter sets: L = sum(tanh(x W1) W2 + b2)^2 / 2.
template <class T>
struct TwoNets {
  ParameterSet<T> first{"first"};
  ParameterSet<T> second{"second"};
  int w1, w2, b2;
  Tensor<T> input;
  explicit TwoNets(std::uint64_t seed) {
    Rng rng(seed);
    w1 = first.add("w1", Shape{3, 4});
    w2 = second.add("w2", Shape{4, 2});
    b2 = second.add("b2", Shape{2});
    rng.fill_normal(first.values().data(), first.size());
    rng.fill_normal(second.values().data(), second.size());
    input = vaegan::test::random_normal<T>(Shape{5, 3}, rng);
  }
  Var<T> loss(Tape<T>& tape) {
    Var<T> x = tape.constant(input);
    Var<T> h = vaegan::tanh(vaegan::matmul(x, tape.parameter(first, w1)));
    Var<T> y = vaegan::add_bias(vaegan::matmul(h, tape.parameter(second, w2)), tape.parameter(second, b2));
    return vaegan::scale(vaegan::sum(vaegan::mul(y, y)), T(0.5));
  }
};

}  // namespace

TEST_CASE_TEMPLATE("tape: backward with targets computes only the chosen set's gradients", T, float, double) {
  TwoNets<T> nets(3);
  Tape<T> tape;
  nets.second.grads().fill(T(7));  // a sentinel: the second set must not be touched at all
  Var<T> loss = nets.loss(tape);
  tape.backward(loss, {nets.first});
  CHECK(nets.first.grads().array().abs().maxCoeff() > T(0));
  CHECK((nets.second.grads().array() == T(7)).all());

  // The gradients of the first set equal those of a backward with no targets.
  Tensor<T> targeted = nets.first.grads();
  nets.first.zero_grad();
  nets.second.zero_grad();
  tape.reset();
  Var<T> again = nets.loss(tape);
  tape.backward(again);
  CHECK(max_abs_diff(targeted, nets.first.grads()) == 0.0);
  CHECK(nets.second.grads().array().abs().maxCoeff() > T(0));
}

TEST_CASE_TEMPLATE("tape: a Var can be a target, and a loss not depending on the targets is a no-op", T, float,
                   double) {
  Tape<T> tape;
  Var<T> a = tape.variable(Tensor<T>(Shape{2}, {T(1), T(2)}));
  Var<T> b = tape.variable(Tensor<T>(Shape{2}, {T(3), T(4)}));
  Var<T> loss = vaegan::sum(vaegan::mul(a, b));
  tape.backward(loss, {b});
  CHECK(b.grad()(0, 0) == T(1));
  CHECK(b.grad()(0, 1) == T(2));
  CHECK(a.grad().isZero());  // not a target: no gradient computed

  ParameterSet<T> unrelated("unrelated");
  unrelated.add("w", Shape{2});
  unrelated.grads().fill(T(-1));
  tape.backward(loss, {unrelated});
  CHECK((unrelated.grads().array() == T(-1)).all());
  CHECK(b.grad().isZero());  // this pass reached nothing
}

TEST_CASE_TEMPLATE("tape: parameter gradients accumulate across backward calls until zero_grad", T, float, double) {
  TwoNets<T> nets(11);
  Tape<T> tape;
  Var<T> loss = nets.loss(tape);
  tape.backward(loss);
  const Tensor<T> once_first = nets.first.grads();
  const Tensor<T> once_second = nets.second.grads();
  tape.backward(loss);  // the same loss again: twice the gradient
  Tensor<T> twice = once_first;
  twice.array() *= T(2);
  CHECK(max_abs_diff(twice, nets.first.grads()) == 0.0);  // the same pass twice: exactly 2x
  nets.first.zero_grad();
  nets.second.zero_grad();
  CHECK(nets.first.grads().array().abs().maxCoeff() == T(0));
  CHECK(nets.second.grads().array().abs().maxCoeff() == T(0));
  tape.backward(loss);
  CHECK(max_abs_diff(once_first, nets.first.grads()) == 0.0);
  CHECK(max_abs_diff(once_second, nets.second.grads()) == 0.0);
}

TEST_CASE("tape: a parameter recorded twice accumulates both uses into its set") {
  ParameterSet<double> params("p");
  const int w = params.add("w", Shape{2});
  params.value_matrix(w) << 3.0, -1.0;
  Tape<double> tape;
  // L = sum(w * w) with w recorded as two separate parameter nodes: dL/dw = 2w.
  Var<double> loss = vaegan::sum(vaegan::mul(tape.parameter(params, w), tape.parameter(params, w)));
  tape.backward(loss);
  CHECK(params.grads()[0] == 6.0);
  CHECK(params.grads()[1] == -2.0);
}

namespace {

// A small VAE-GAN with the reference step's structure: encoder E, decoder Dec, critic D.
struct MiniVaeGan {
  ParameterSet<double> e{"E"}, dec{"Dec"}, d{"D"};
  vaegan::Sequential<double> encoder, mu_head, logvar_head, decoder, critic;
  Tensor<double> x;
  static constexpr std::uint64_t kNoiseSeed = 77;

  explicit MiniVaeGan(Rng& rng)
      : encoder(e, {6, 5}, {vaegan::Activation::tanh()}, rng, "trunk"),
        mu_head(e, {5, 2}, {vaegan::Activation::identity()}, rng, "mu"),
        logvar_head(e, {5, 2}, {vaegan::Activation::identity()}, rng, "logvar"),
        decoder(dec, {2, 5, 6}, {vaegan::Activation::tanh(), vaegan::Activation::identity()}, rng, "dec"),
        critic(d, {6, 4, 1}, {vaegan::Activation::leaky_relu(0.2), vaegan::Activation::identity()}, rng, "disc"),
        x(vaegan::test::random_uniform<double>(Shape{4, 6}, rng, 0.0, 1.0)) {}

  struct Losses {
    Var<double> l_d, l_e, l_dec;
  };
  // Records the whole forward pass with one critic pass over [x, x_r, x_p].
  Losses forward(Tape<double>& tape) {
    Rng noise(kNoiseSeed);
    Var<double> xv = tape.constant(x);
    Var<double> h = encoder(xv, vaegan::ForwardContext::eval());
    Var<double> mu = mu_head(h, vaegan::ForwardContext::eval()),
                logvar = logvar_head(h, vaegan::ForwardContext::eval());
    Var<double> z = vaegan::reparameterize(mu, logvar, noise);
    Var<double> x_r = decoder(z, vaegan::ForwardContext::eval());
    Tensor<double> zp(Shape{4, 2});
    noise.fill_normal(zp.data(), zp.numel());
    Var<double> x_p = decoder(tape.constant(zp), vaegan::ForwardContext::eval());
    Var<double> logits =
        critic(vaegan::concat_rows(xv, vaegan::sigmoid(x_r), vaegan::sigmoid(x_p)), vaegan::ForwardContext::eval());
    auto [d_real, d_rec, d_prior] = vaegan::split_rows<double, 3>(logits, {4, 4, 4});
    Var<double> rec = vaegan::bce_with_logits(x_r, xv, vaegan::Reduction::batch_mean);
    Var<double> kl = vaegan::kl_normal(mu, logvar);
    Losses l;
    l.l_d = vaegan::bce_with_logits(d_real, 1.0) + vaegan::bce_with_logits(d_rec, 0.0) +
            vaegan::bce_with_logits(d_prior, 0.0);
    l.l_e = kl + rec;
    l.l_dec = rec + vaegan::bce_with_logits(d_rec, 1.0) + vaegan::bce_with_logits(d_prior, 1.0);
    return l;
  }
  void zero_grad() {
    e.zero_grad();
    dec.zero_grad();
    d.zero_grad();
  }
};

}  // namespace

TEST_CASE("tape: one forward with three targeted backward calls equals three separate passes") {
  Rng rng(5);
  MiniVaeGan model(rng);
  Tape<double> tape;

  // As the VAE-GAN step does: one forward, then L_D -> D, L_E -> E, L_Dec -> Dec.
  MiniVaeGan::Losses shared = model.forward(tape);
  tape.backward(shared.l_d, {model.d});
  tape.backward(shared.l_e, {model.e});
  tape.backward(shared.l_dec, {model.dec});
  const Tensor<double> grad_d = model.d.grads(), grad_e = model.e.grads(), grad_dec = model.dec.grads();
  CHECK(grad_d.array().abs().maxCoeff() > 0.0);
  CHECK(grad_e.array().abs().maxCoeff() > 0.0);
  CHECK(grad_dec.array().abs().maxCoeff() > 0.0);

  // Reference: a fresh forward for each loss, backward to its network only.
  model.zero_grad();
  tape.reset();
  tape.backward(model.forward(tape).l_d, {model.d});
  tape.reset();
  tape.backward(model.forward(tape).l_e, {model.e});
  tape.reset();
  tape.backward(model.forward(tape).l_dec, {model.dec});
  CHECK(max_abs_diff(grad_d, model.d.grads()) == 0.0);
  CHECK(max_abs_diff(grad_e, model.e.grads()) == 0.0);
  CHECK(max_abs_diff(grad_dec, model.dec.grads()) == 0.0);

  // And each differs from the gradient of the full sum (the targets really select).
  model.zero_grad();
  tape.reset();
  MiniVaeGan::Losses all = model.forward(tape);
  tape.backward(all.l_d + all.l_e + all.l_dec);
  CHECK(max_abs_diff(grad_d, model.d.grads()) > 1e-6);
  CHECK(max_abs_diff(grad_dec, model.dec.grads()) > 1e-6);
}

TEST_CASE("tape: reset reuses every node buffer across steps") {
  Rng rng(8);
  MiniVaeGan model(rng);
  Tape<double> tape;
  auto step = [&] {
    tape.reset();
    MiniVaeGan::Losses l = model.forward(tape);
    tape.backward(l.l_d, {model.d});
    tape.backward(l.l_e, {model.e});
    tape.backward(l.l_dec, {model.dec});
    model.zero_grad();
  };
  step();
  const int nodes = tape.size();
  std::vector<const double*> values, grads, saved;
  std::vector<Index> capacities;
  for (int i = 0; i < nodes; ++i) {
    const auto& n = tape.node(i);
    values.push_back(n.value_buf.data());
    grads.push_back(n.grad_buf.data());
    saved.push_back(n.saved.data());
    capacities.push_back(n.value_buf.capacity() + n.grad_buf.capacity() + n.saved.capacity());
  }
  for (int s = 0; s < 3; ++s) step();
  REQUIRE(tape.size() == nodes);
  int moved = 0;
  for (int i = 0; i < nodes; ++i) {
    const auto& n = tape.node(i);
    moved += n.value_buf.data() != values[static_cast<std::size_t>(i)];
    moved += n.grad_buf.data() != grads[static_cast<std::size_t>(i)];
    moved += n.saved.data() != saved[static_cast<std::size_t>(i)];
    moved +=
        n.value_buf.capacity() + n.grad_buf.capacity() + n.saved.capacity() != capacities[static_cast<std::size_t>(i)];
  }
  CHECK(moved == 0);
}

TEST_CASE("tape: a reused node holds only the attributes of the op recorded in it") {
  Tape<float> tape;
  const Var<float> a = tape.variable(Tensor<float>(Shape{2, 3})), b = tape.variable(Tensor<float>(Shape{2, 4}));
  const Var<float> c = vaegan::matmul(a, b, true, false);  // node 2: MatmulAttrs
  REQUIRE(c.id() == 2);
  CHECK(std::get<vaegan::MatmulAttrs>(c.node().attrs).transpose_a);
  tape.reset();
  const Var<float> x = tape.variable(Tensor<float>(Shape{4, 3}));
  (void)vaegan::sum(x);                               // node 1: ScaleAttrs
  const Var<float> y = tape.full(Shape{2, 2}, 1.0f);  // node 2: a leaf, no attributes
  REQUIRE(y.id() == 2);
  CHECK(std::holds_alternative<std::monostate>(y.node().attrs));
  CHECK(std::get<vaegan::ScaleAttrs<float>>(tape.node(1).attrs).factor == 1.0f);
  // An op reads back only its own family's attributes.
  CHECK_THROWS_AS((void)std::get<vaegan::ConvAttrs>(tape.node(1).attrs), std::bad_variant_access);
}

namespace {

// Turns on glibc's malloc perturbation for its lifetime: freed memory is filled with a
// pattern, so a read through a dangling pointer gives garbage instead of the old value.
class FreedMemoryPoison {
 public:
  FreedMemoryPoison() {
#ifdef __GLIBC__
    mallopt(M_PERTURB, 0xa5);
#endif
  }
  ~FreedMemoryPoison() {
#ifdef __GLIBC__
    const char* env = std::getenv("MALLOC_PERTURB_");  // restore what the environment asked for
    mallopt(M_PERTURB, env != nullptr ? std::atoi(env) : 0);
#endif
  }
  FreedMemoryPoison(const FreedMemoryPoison&) = delete;
  FreedMemoryPoison& operator=(const FreedMemoryPoison&) = delete;
};

}  // namespace

TEST_CASE("tape: ops record the right shape when their node makes the node vector grow") {
  // Ops pass an input's shape(), which lives in the node vector, to record(); appending
  // the output node may reallocate that vector. Placing each op after 0 to 20 other nodes
  // puts it on every growth boundary of a fresh tape.
  FreedMemoryPoison poison;
  using Op = Var<double> (*)(Var<double>, Var<double>);
  const std::vector<std::pair<const char*, Op>> ops = {
      {"scale", [](Var<double> x, Var<double>) { return vaegan::scale(x, 2.0); }},
      {"add", [](Var<double> x, Var<double> y) { return vaegan::add(x, y); }},
      {"mul", [](Var<double> x, Var<double> y) { return vaegan::mul(x, y); }},
      {"exp", [](Var<double> x, Var<double>) { return vaegan::exp(x); }},
      {"log", [](Var<double> x, Var<double>) { return vaegan::log(x); }},
      {"tanh", [](Var<double> x, Var<double>) { return vaegan::tanh(x); }},
      {"detach", [](Var<double> x, Var<double>) { return vaegan::detach(x); }},
      {"matmul", [](Var<double> x, Var<double> y) { return vaegan::matmul(x, y, false, true); }},  // [3, 3]
      {"reparameterize",
       [](Var<double> x, Var<double> y) {
         Rng rng(1);
         return vaegan::reparameterize(x, y, rng);
       }},
      {"dropout",
       [](Var<double> x, Var<double>) {
         Rng rng(1);
         return vaegan::dropout(x, 0.5, rng, true);
       }},
      {"full", [](Var<double> x, Var<double>) { return x.tape().full(x.shape(), 1.0); }},
      {"bce", [](Var<double> x, Var<double>) { return vaegan::bce_with_logits(x, 1.0); }},  // full(x.shape())
  };
  for (const auto& [name, op] : ops) {
    for (int padding = 0; padding <= 20; ++padding) {
      CAPTURE(name);
      CAPTURE(padding);
      Tape<double> tape;
      Var<double> x = tape.variable(Tensor<double>(Shape{3, 2}, 1.5));
      Var<double> y = tape.variable(Tensor<double>(Shape{3, 2}, 0.5));
      for (int i = 0; i < padding; ++i) tape.full(Shape{1}, 0.0);
      const Var<double> out = op(x, y);
      const Shape expected = std::string(name) == "matmul" ? Shape{3, 3}
                             : std::string(name) == "bce"  ? Shape{1}
                                                           : Shape{3, 2};
      REQUIRE(out.shape() == expected);
      if (std::string(name) != "detach")  // a view has no buffer of its own
        CHECK(out.node().value_buf.numel() == expected.numel());
    }
  }
}

TEST_CASE_TEMPLATE("tape: backward needs a one-element loss from this tape", T, float, double) {
  Tape<T> tape, other;
  Var<T> x = tape.variable(Tensor<T>(Shape{2, 3}, T(1)));
  Var<T> y = vaegan::scale(x, T(2));
  CHECK_THROWS_WITH_AS(tape.backward(y), "backward: the loss must have one element, got [2, 3] from op 'scale'",
                       vaegan::ShapeError);
  Var<T> foreign = other.variable(Tensor<T>(Shape{1}, T(1)));
  CHECK_THROWS_WITH_AS(tape.backward(foreign), doctest::Contains("does not belong to this tape"), vaegan::Error);
  CHECK_THROWS_WITH_AS(tape.backward(Var<T>()), doctest::Contains("backward"), vaegan::Error);
  CHECK_THROWS_WITH_AS(y.item(), doctest::Contains("one-element"), vaegan::ShapeError);
}

TEST_CASE_TEMPLATE("tape: ops reject a Var from another tape or from before a reset", T, float, double) {
  Tape<T> tape, other;
  Var<T> a = tape.variable(Tensor<T>(Shape{2}, T(1)));
  Var<T> b = other.variable(Tensor<T>(Shape{2}, T(2)));
  CHECK_THROWS_WITH_AS(vaegan::add(a, b), "add: the Var does not belong to this tape, or the tape was reset since",
                       vaegan::Error);
  Var<T> c = vaegan::scale(a, T(3));
  tape.reset();
  Var<T> d = tape.variable(Tensor<T>(Shape{2}, T(1)));
  (void)d;
  CHECK_THROWS_WITH_AS(vaegan::mul(c, c), doctest::Contains("mul: the Var does not belong"), vaegan::Error);
}

TEST_CASE("tape: a Var's gradient reads zero when nothing reached it") {
  Tape<double> tape;
  Var<double> used = tape.variable(Tensor<double>(Shape{2}, 1.0));
  Var<double> unused = tape.variable(Tensor<double>(Shape{3}, 1.0));
  tape.backward(vaegan::sum(used));
  CHECK(unused.grad().rows() == 1);
  CHECK(unused.grad().cols() == 3);
  CHECK(unused.grad().isZero());
  CHECK(used.grad().isOnes());
}

// ---- ParameterSet ----------------------------------------------------------------------

TEST_CASE("parameters: slices are laid out back to back in one flat buffer") {
  ParameterSet<float> params("net");
  const int w = params.add("layer0.weight", Shape{3, 2});
  const int b = params.add("layer0.bias", Shape{2});
  CHECK(params.name() == "net");
  CHECK(params.size() == 8);
  CHECK(params.slice(w).offset == 0);
  CHECK(params.slice(b).offset == 6);
  CHECK(params.slice(b).name == "layer0.bias");
  CHECK(params.value_ptr(b) == params.values().data() + 6);
  CHECK(params.grad_ptr(b) == params.grads().data() + 6);
  params.value_matrix(w)(2, 1) = 4.0f;
  CHECK(params.values()[5] == 4.0f);
  params.grad_matrix(b)(0, 1) = -1.0f;
  CHECK(params.grads()[7] == -1.0f);
  CHECK_THROWS_AS(params.slice(2), std::out_of_range);
  // Values already set survive a later add (offsets, not pointers).
  params.add("layer1.weight", Shape{2, 2});
  CHECK(params.values()[5] == 4.0f);
  CHECK(params.values()[8] == 0.0f);
}

// ---- gradcheck -------------------------------------------------------------------------

namespace {

// y = x^2 with a deliberately wrong backward (dx = dy * x, missing the factor 2).
struct WrongSquareOp {
  static void backward(Tape<double>& tape, vaegan::Node<double>& n) {
    vaegan::Node<double>& x = tape.input(n, 0);
    if (x.needed) tape.accumulate(x, n.grad_array() * x.value_array());
  }
};
Var<double> wrong_square(const Var<double>& x) {
  Tape<double>& tape = x.tape();
  vaegan::Node<double>& n = tape.record("wrong_square", &WrongSquareOp::backward, x.shape(), {x});
  n.value_array() = x.array().square();
  return tape.last();
}

}  // namespace

TEST_CASE("gradcheck: detects a wrong gradient") {
  Rng rng(4);
  const Tensor<double> x = random_normal(Shape{3, 4}, rng);
  const vaegan::GradcheckResult r =
      vaegan::gradcheck([](Tape<double>&, const vaegan::test::Vars& in) { return wrong_square(in[0]); }, {x});
  // analytic = x * p, numeric = 2x * p: ||a - n|| / ||a + n|| = 1/3.
  CHECK(r.max_relative_error == doctest::Approx(1.0 / 3.0).epsilon(1e-6));
  CHECK(r.worst_input == 0);
  CHECK(r.max_abs_error > 0.1);
  CHECK(r.report().find("3.333e-01") != std::string::npos);
}

TEST_CASE("gradcheck: passes a correct gradient and reports per-input errors") {
  Rng rng(4);
  const Tensor<double> a = random_normal(Shape{3, 4}, rng);
  const Tensor<double> b = random_normal(Shape{3, 4}, rng);
  const vaegan::GradcheckResult r = vaegan::gradcheck(
      [](Tape<double>&, const vaegan::test::Vars& in) { return vaegan::mul(in[0], vaegan::exp(in[1])); }, {a, b});
  REQUIRE(r.relative_errors.size() == 2);
  CHECK(r.max_relative_error < vaegan::test::kGradcheckTolerance);
  CHECK(r.max_relative_error == std::max(r.relative_errors[0], r.relative_errors[1]));
  vaegan::test::GradcheckLedger::instance().record(__FILE__, r.max_relative_error);
}

TEST_CASE("gradcheck: an input the output ignores has zero error, not NaN") {
  Rng rng(6);
  const Tensor<double> a = random_normal(Shape{2}, rng);
  const Tensor<double> unused = random_normal(Shape{2}, rng);
  const vaegan::GradcheckResult r =
      vaegan::gradcheck([](Tape<double>&, const vaegan::test::Vars& in) { return vaegan::exp(in[0]); }, {a, unused});
  REQUIRE(r.relative_errors.size() == 2);
  CHECK(r.relative_errors[1] == 0.0);
  CHECK(r.max_relative_error < vaegan::test::kGradcheckTolerance);
}

// ---- numerics debug mode -------------------------------------------------------------------

TEST_CASE("tape: check_numerics names the first op whose output is not finite") {
  Tape<float> tape;
  tape.set_check_numerics(true);
  Var<float> x = tape.variable(Tensor<float>(Shape{3}, {1.0f, -2.0f, 0.5f}));
  // log of a negative number is the first NaN; exp and sum only carry it on.
  Var<float> loss = vaegan::sum(vaegan::exp(vaegan::log(x)));
  std::string message;
  try {
    tape.backward(loss);
  } catch (const vaegan::NumericError& e) {
    message = e.what();
  }
  INFO(message);
  CHECK(message.find("first non-finite value") != std::string::npos);
  CHECK(message.find("op 'log' (node 1") != std::string::npos);
  CHECK(message.find("finite inputs: op 'variable'") != std::string::npos);
  // Off (the default), the same tape runs the backward pass without complaint.
  tape.set_check_numerics(false);
  tape.backward(loss);
}

TEST_CASE("tape: check_numerics names the op whose backward produced the first non-finite gradient") {
  Tape<float> tape;
  tape.set_check_numerics(true);
  ParameterSet<float> params("net");
  const int w = params.add("layer.weight", Shape{1, 1});
  const int b = params.add("layer.bias", Shape{1});
  params.value_ptr(w)[0] = 1e-38f;
  params.value_ptr(b)[0] = 0.0f;
  params.zero_grad();
  // Forward: 3e38 * 1e-38 = 3, finite. Backward: dW = sum of x = 6e38, beyond float's range.
  Var<float> x = tape.constant(Tensor<float>(Shape{2, 1}, {3e38f, 3e38f}));
  Var<float> loss = vaegan::sum(vaegan::linear(x, tape.parameter(params, w), tape.parameter(params, b)));
  CHECK(std::isfinite(loss.item()));
  std::string message;
  try {
    tape.backward(loss, {params});
  } catch (const vaegan::NumericError& e) {
    message = e.what();
  }
  INFO(message);
  CHECK(message.find("first non-finite gradient") != std::string::npos);
  CHECK(message.find("backward of op 'linear'") != std::string::npos);
  CHECK(message.find("parameter 'net.layer.weight'") != std::string::npos);
}

TEST_CASE("parameters: overwrite mode gives the gradients of zero_grad + backward, and zeroes unwritten slices") {
  Rng rng(21);
  ParameterSet<double> params("net");
  vaegan::Dense<double> used(params, 4, 4, vaegan::Activation::tanh(), rng, vaegan::Init::automatic, "used");
  const int unused = params.add("unused", Shape{5});
  const Tensor<double> x = random_normal(Shape{6, 4}, rng);
  auto run = [&](bool overwrite) {
    // Stale garbage in the buffer, as a previous step would leave.
    for (Index i = 0; i < params.size(); ++i) params.grads()[i] = 1e3 + static_cast<double>(i);
    if (overwrite) params.begin_overwrite();
    else params.zero_grad();
    Tape<double> tape;
    Var<double> h = used(tape.constant(x));
    // The layer is used twice: the second use must add to the first, not overwrite it.
    tape.backward(vaegan::sum(vaegan::add(h, used(h))), {params});
    if (overwrite) params.end_overwrite();
    return params.grads();
  };
  const Tensor<double> expected = run(false);
  const Tensor<double> got = run(true);
  CHECK(max_abs_diff(expected, got) == 0.0);
  for (Index i = 0; i < 5; ++i) CHECK(params.grad_ptr(unused)[i] == 0.0);
  // Outside overwrite mode, gradients accumulate as before.
  CHECK_FALSE(params.take_first_write(0));
}
