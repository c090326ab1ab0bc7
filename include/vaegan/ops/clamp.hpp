#pragma once
// clamp(x, lo, hi): element-wise clamp. dX = dY where lo < x < hi, else 0 (a clamped
// value does not move with x). The trainers use it on the encoder's log-variance so an
// exploding encoder cannot turn exp(logvar) in the KL into inf/NaN.
#include <string>

#include "vaegan/autodiff/tape.hpp"

namespace vaegan {

namespace detail {
template <class T>
struct ClampOp {
  // saved: 1 where x was inside (lo, hi), 0 where clamped
  static void backward(Tape<T>& tape, Node<T>& n) {
    Node<T>& x = tape.input(n, 0);
    if (x.needed) tape.accumulate(x, n.grad_array() * n.saved.array());
  }
};
}  // namespace detail

template <class T>
Var<T> clamp(const Var<T>& x, T lo, T hi) {
  if (!(lo <= hi)) throw Error("clamp: need lo <= hi, got " + std::to_string(lo) + " > " + std::to_string(hi));
  Tape<T>& tape = x.tape();
  Node<T>& n = tape.record("clamp", &detail::ClampOp<T>::backward, x.shape(), {x});
  n.saved.resize(x.shape());
  const auto xa = x.array();
  n.saved.array() = (xa > lo && xa < hi).template cast<T>();
  n.value_array() = xa.max(lo).min(hi);
  return tape.last();
}

}  // namespace vaegan
