#pragma once
// KL(N(mu, exp(logvar)) || N(0, I)) = sum over dims of -(1 + logvar - mu^2 - exp(logvar)) / 2
//   dmu = mu * factor * dL,   dlogvar = (exp(logvar) - 1) / 2 * factor * dL
// Default reduction: summed over latent dims, mean over the batch (docs/reference-workloads.md).
#include "vaegan/autodiff/tape.hpp"
#include "vaegan/losses/reduction.hpp"

namespace vaegan {

namespace detail {
template <class T>
struct KlNormalOp {
  static void backward(Tape<T>& tape, Node<T>& n) {
    Node<T>& mu = tape.input(n, 0);
    Node<T>& logvar = tape.input(n, 1);
    const T g = std::get<ScaleAttrs<T>>(n.attrs).factor * n.grad[0];
    if (mu.needed) tape.accumulate(mu, g * mu.value_array());
    if (logvar.needed) tape.accumulate(logvar, (T(0.5) * g) * (logvar.value_array().exp() - T(1)));
  }
};
}  // namespace detail

template <class T>
Var<T> kl_normal(const Var<T>& mu, const Var<T>& logvar, Reduction reduction = Reduction::batch_mean) {
  detail::require_same_shape("kl_normal", mu.shape(), logvar.shape());
  Tape<T>& tape = mu.tape();
  Node<T>& n = tape.record("kl_normal", &detail::KlNormalOp<T>::backward, Shape::scalar(), {mu, logvar});
  const T factor = detail::reduction_factor<T>(reduction, mu.shape());
  n.attrs = ScaleAttrs<T>{factor};
  const auto m = mu.array();
  const auto lv = logvar.array();
  n.value[0] = factor * T(-0.5) * (T(1) + lv - m.square() - lv.exp()).sum();
  return tape.last();
}

}  // namespace vaegan
