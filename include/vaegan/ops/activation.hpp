#pragma once
// Activations: relu, leaky_relu, sigmoid, tanh, softplus.
//
// Every derivative here is computed from the saved output y alone (no saved input):
//   relu:        dx = dy * (y > 0)                 subgradient 0 at x = 0
//   leaky_relu:  dx = dy * (y > 0 ? 1 : slope)     slope > 0 keeps the sign of x in y; 0 at x = 0 uses slope
//   sigmoid:     dx = dy * y * (1 - y)
//   tanh:        dx = dy * (1 - y^2)
//   softplus:    y = log(1 + e^x), dx = dy * sigmoid(x) = dy * (1 - e^-y) = -dy * expm1(-y)
// Dense layers reuse apply_activation / activation_grad to fuse the activation with the GEMM.
#include <cmath>
#include <string>

#include "vaegan/autodiff/tape.hpp"
#include "vaegan/core/activation_kind.hpp"
#include "vaegan/core/parallel.hpp"
#include "vaegan/core/profile.hpp"

namespace vaegan {

namespace detail {

// Numerically stable softplus: log(1 + e^x) = max(x, 0) + log1p(e^-|x|).
template <class T>
T softplus_scalar(T x) {
  return std::max(x, T(0)) + std::log1p(std::exp(-std::abs(x)));
}

// y = act(x) over [begin, end), in place allowed (x == y).
template <class T>
void apply_activation(const Activation& act, const T* x, T* y, Index begin, Index end) {
  const Index n = end - begin;
  ConstArrayMap<T> xa(x + begin, n);
  ArrayMap<T> ya(y + begin, n);
  const T slope = static_cast<T>(act.slope);
  switch (act.kind) {
    case ActivationKind::identity:
      if (x != y) ya = xa;
      break;
    case ActivationKind::relu: ya = xa.max(T(0)); break;
    case ActivationKind::leaky_relu: ya = (xa > T(0)).select(xa, slope * xa); break;
    case ActivationKind::sigmoid: ya = T(1) / (T(1) + (-xa).exp()); break;
    case ActivationKind::tanh: ya = xa.tanh(); break;
    case ActivationKind::softplus:
      for (Index i = 0; i < n; ++i) ya[i] = softplus_scalar(xa[i]);
      break;
  }
}

// dx = dy * act'(x), computed from the output y, over [begin, end).
template <class T>
void activation_grad(const Activation& act, const T* y, const T* dy, T* dx, Index begin, Index end, T keep) {
  const Index n = end - begin;
  ConstArrayMap<T> ya(y + begin, n), dya(dy + begin, n);
  ArrayMap<T> dxa(dx + begin, n);
  const T slope = static_cast<T>(act.slope);
  auto write = [&](const auto& expr) {
    if (keep == T(0)) dxa = expr;
    else dxa += expr;
  };
  switch (act.kind) {
    case ActivationKind::identity: write(dya); break;
    case ActivationKind::relu: write((ya > T(0)).select(dya, T(0))); break;
    case ActivationKind::leaky_relu: write((ya > T(0)).select(dya, slope * dya)); break;
    case ActivationKind::sigmoid: write(dya * ya * (T(1) - ya)); break;
    case ActivationKind::tanh: write(dya * (T(1) - ya.square())); break;
    // -expm1(-y), not 1 - e^-y: for x << 0, y is tiny and 1 - e^-y cancels to 0 in float.
    case ActivationKind::softplus: write(dya * -((-ya).expm1())); break;
  }
}

template <class T>
struct ActivationOp {
  static void backward(Tape<T>& tape, Node<T>& n) {
    Node<T>& x = tape.input(n, 0);
    if (!x.needed) return;
    VAEGAN_PROFILE_SCOPE("activation backward", n.shape.str(), 0, 3 * sizeof(T) * double(n.numel()));
    const Activation act = std::get<Activation>(n.attrs);
    T keep;
    T* dx = tape.grad_for_write(x, &keep);
    const T* y = n.value;
    const T* dy = n.grad;
    parallel_for(n.numel(), [&](Index b, Index e) { activation_grad(act, y, dy, dx, b, e, keep); });
  }
};

}  // namespace detail

// act(x), element-wise, as one recorded op.
template <class T>
Var<T> activate(const Var<T>& x, const Activation& act) {
  Tape<T>& tape = x.tape();
  Node<T>& n = tape.record(act.kind == ActivationKind::identity ? "identity" : "activation",
                           &detail::ActivationOp<T>::backward, x.shape(), {x});
  n.attrs = act;
  VAEGAN_PROFILE_SCOPE("activation forward", n.shape.str(), 0, 2 * sizeof(T) * double(n.numel()));
  const T* in = x.node().value;
  T* out = n.value;
  detail::parallel_for(n.numel(), [&](Index b, Index e) { detail::apply_activation(act, in, out, b, e); });
  return tape.last();
}

template <class T>
Var<T> relu(const Var<T>& x) {
  return activate(x, Activation::relu());
}
template <class T>
Var<T> leaky_relu(const Var<T>& x, double slope = 0.2) {
  if (!(slope > 0.0)) throw Error("leaky_relu: slope must be > 0 (the backward pass reads the sign from the output)");
  return activate(x, Activation::leaky_relu(slope));
}
template <class T>
Var<T> sigmoid(const Var<T>& x) {
  return activate(x, Activation::sigmoid());
}
template <class T>
Var<T> tanh(const Var<T>& x) {
  return activate(x, Activation::tanh());
}
template <class T>
Var<T> softplus(const Var<T>& x) {
  return activate(x, Activation::softplus());
}

}  // namespace vaegan
