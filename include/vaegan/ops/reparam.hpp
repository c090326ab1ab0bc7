#pragma once
// The reparameterization trick: z = mu + eps * exp(logvar / 2), eps ~ N(0, I) drawn from
// the given Rng and saved for backward.
//   dmu = dz,   dlogvar = dz * eps * exp(logvar / 2) / 2 = dz * (z - mu) / 2
#include <cmath>

#include "vaegan/autodiff/tape.hpp"
#include "vaegan/core/rng.hpp"

namespace vaegan {

namespace detail {
template <class T>
struct ReparamOp {
  static void backward(Tape<T>& tape, Node<T>& n) {
    Node<T>& mu = tape.input(n, 0);
    Node<T>& logvar = tape.input(n, 1);
    const auto dz = n.grad_array();
    if (mu.needed) tape.accumulate(mu, dz);
    if (logvar.needed) tape.accumulate(logvar, T(0.5) * dz * (n.value_array() - mu.value_array()));
  }
};
}  // namespace detail

template <class T>
Var<T> reparameterize(const Var<T>& mu, const Var<T>& logvar, Rng& rng) {
  detail::require_same_shape("reparameterize", mu.shape(), logvar.shape());
  Tape<T>& tape = mu.tape();
  Node<T>& n = tape.record("reparameterize", &detail::ReparamOp<T>::backward, mu.shape(), {mu, logvar});
  n.saved.resize(mu.shape());
  rng.batch_fill_normal(n.saved.data(), n.numel());  // one eps per batch element (Rng: batch draws)
  n.value_array() = mu.array() + n.saved.array() * (T(0.5) * logvar.array()).exp();
  return tape.last();
}

}  // namespace vaegan
