#pragma once
// Inverted dropout: in training, each element is kept with probability 1 - p and scaled
// by 1 / (1 - p), so evaluation is the identity. The mask is drawn from the given Rng
// (seeded, reproducible) and saved for backward:  dX = dY * mask.
#include <string>

#include "vaegan/autodiff/tape.hpp"
#include "vaegan/core/rng.hpp"

namespace vaegan {

namespace detail {
template <class T>
struct DropoutOp {
  static void backward(Tape<T>& tape, Node<T>& n) {
    Node<T>& x = tape.input(n, 0);
    if (x.needed) tape.accumulate(x, n.grad_array() * n.saved.array());
  }
};
}  // namespace detail

template <class T>
Var<T> dropout(const Var<T>& x, double p, Rng& rng, bool training) {
  if (!(p >= 0.0 && p < 1.0)) throw Error("dropout: p must be in [0, 1), got " + std::to_string(p));
  if (!training || p == 0.0) return x;
  Tape<T>& tape = x.tape();
  Node<T>& n = tape.record("dropout", &detail::DropoutOp<T>::backward, x.shape(), {x});
  n.saved.resize(x.shape());
  const T kept = static_cast<T>(1.0 / (1.0 - p));
  T* mask = n.saved.data();
  rng.batch_uniforms(n.numel(), [&](Index i, double u) { mask[i] = u >= p ? kept : T(0); });  // Rng: batch draws
  n.value_array() = x.array() * n.saved.array();
  return tape.last();
}

}  // namespace vaegan
