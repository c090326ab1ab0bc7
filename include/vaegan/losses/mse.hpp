#pragma once
// Mean squared error: l = (p - t)^2;  dp = 2 (p - t) * factor * dL,  dt = -dp.
#include "vaegan/autodiff/tape.hpp"
#include "vaegan/losses/reduction.hpp"

namespace vaegan {

namespace detail {
template <class T>
struct MseOp {
  static void backward(Tape<T>& tape, Node<T>& n) {
    Node<T>& p = tape.input(n, 0);
    Node<T>& t = tape.input(n, 1);
    const T g = T(2) * std::get<ScaleAttrs<T>>(n.attrs).factor * n.grad[0];
    if (p.needed) tape.accumulate(p, g * (p.value_array() - t.value_array()));
    if (t.needed) tape.accumulate(t, g * (t.value_array() - p.value_array()));
  }
};
}  // namespace detail

template <class T>
Var<T> mse(const Var<T>& predictions, const Var<T>& targets, Reduction reduction = Reduction::mean) {
  detail::require_same_shape("mse", predictions.shape(), targets.shape());
  Tape<T>& tape = predictions.tape();
  Node<T>& n = tape.record("mse", &detail::MseOp<T>::backward, Shape::scalar(), {predictions, targets});
  const T factor = detail::reduction_factor<T>(reduction, predictions.shape());
  n.attrs = ScaleAttrs<T>{factor};
  n.value[0] = factor * (predictions.array() - targets.array()).square().sum();
  return tape.last();
}

}  // namespace vaegan
