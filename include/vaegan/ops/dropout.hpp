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
  // Rng: batch draws, a block at a time, so the choice below is a vector select, not a
  // branch on a random draw (mispredicted about a p-th of the time: 5x the generator's cost).
  // Each block's mask and output in one pass.
  const T* xv = x.node().value;
  T* y = n.value;
  rng.batch_uniform_blocks(n.numel(), [&](Index i0, const double* u, Index count) {
    // Locals, not the captures: the stores might otherwise change kept and p for all the
    // compiler knows, and the loop would stay scalar.
    const T keep = kept;
    const double drop = p;
    T* m = mask + i0;
    for (Index j = 0; j < count; ++j) m[j] = u[j] >= drop ? keep : T(0);
    const T* xb = xv + i0;
    T* yb = y + i0;
    for (Index j = 0; j < count; ++j) yb[j] = xb[j] * m[j];
  });
  return tape.last();
}

}  // namespace vaegan
