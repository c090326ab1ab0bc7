#pragma once
// Binary cross-entropy on logits, stable for any logit magnitude:
//   l(x, t) = max(x, 0) - x t + log1p(e^-|x|)        (never exponentiates a positive number)
//   dx = (sigmoid(x) - t) * factor * dL,   dt = -x * factor * dL
#include <cmath>

#include "vaegan/autodiff/tape.hpp"
#include "vaegan/losses/reduction.hpp"

namespace vaegan {

namespace detail {
template <class T>
struct BceWithLogitsOp {
  // attrs: ScaleAttrs, the reduction factor
  static void backward(Tape<T>& tape, Node<T>& n) {
    Node<T>& x = tape.input(n, 0);
    Node<T>& t = tape.input(n, 1);
    const T g = std::get<ScaleAttrs<T>>(n.attrs).factor * n.grad[0];
    const auto xa = x.value_array();
    if (x.needed) tape.accumulate(x, g * (T(1) / (T(1) + (-xa).exp()) - t.value_array()));
    if (t.needed) tape.accumulate(t, -g * xa);
  }
};
}  // namespace detail

template <class T>
Var<T> bce_with_logits(const Var<T>& logits, const Var<T>& targets, Reduction reduction = Reduction::mean) {
  detail::require_same_shape("bce_with_logits", logits.shape(), targets.shape());
  Tape<T>& tape = logits.tape();
  Node<T>& n =
      tape.record("bce_with_logits", &detail::BceWithLogitsOp<T>::backward, Shape::scalar(), {logits, targets});
  const T factor = detail::reduction_factor<T>(reduction, logits.shape());
  n.attrs = ScaleAttrs<T>{factor};
  const auto x = logits.array();
  const auto t = targets.array();
  n.value[0] = factor * (x.max(T(0)) - x * t + (-x.abs()).exp().log1p()).sum();
  return tape.last();
}

// Against one target value for every element (1 for "real", 0 for "fake").
template <class T>
Var<T> bce_with_logits(const Var<T>& logits, T target, Reduction reduction = Reduction::mean) {
  Var<T> t = logits.tape().full(logits.shape(), target);
  return bce_with_logits(logits, t, reduction);
}

}  // namespace vaegan
