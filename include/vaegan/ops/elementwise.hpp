#pragma once
// Element-wise arithmetic: add, sub, mul, scale, add_bias (row broadcast), exp, log.
#include <cmath>

#include "vaegan/autodiff/tape.hpp"
#include "vaegan/core/parallel.hpp"

namespace vaegan {

namespace detail {

// Shared forward for binary element-wise ops on equal shapes.
template <class T, class F>
Var<T> binary_elementwise(const char* op, BackwardFn<T> backward, const Var<T>& a, const Var<T>& b, F&& f) {
  require_same_shape(op, a.shape(), b.shape());
  Tape<T>& tape = a.tape();
  Node<T>& n = tape.record(op, backward, a.shape(), {a, b});
  const T* pa = a.node().value;
  const T* pb = b.node().value;
  T* out = n.value;
  parallel_for(n.numel(), [&](Index s, Index e) {
    ConstArrayMap<T> xa(pa + s, e - s), xb(pb + s, e - s);
    ArrayMap<T> y(out + s, e - s);
    f(xa, xb, y);
  });
  return tape.last();
}

template <class T>
struct AddOp {
  // dA = dY, dB = sign * dY  (sign = +1 for add, -1 for sub: the node's ScaleAttrs factor)
  static void backward(Tape<T>& tape, Node<T>& n) {
    const auto dy = n.grad_array();
    if (tape.input(n, 0).needed) tape.accumulate(tape.input(n, 0), dy);
    if (tape.input(n, 1).needed) tape.accumulate(tape.input(n, 1), std::get<ScaleAttrs<T>>(n.attrs).factor * dy);
  }
};

template <class T>
struct MulOp {
  // dA = dY * B, dB = dY * A
  static void backward(Tape<T>& tape, Node<T>& n) {
    Node<T>& a = tape.input(n, 0);
    Node<T>& b = tape.input(n, 1);
    const auto dy = n.grad_array();
    if (a.needed) tape.accumulate(a, dy * b.value_array());
    if (b.needed) tape.accumulate(b, dy * a.value_array());
  }
};

template <class T>
struct ScaleOp {
  // y = s * x + c:  dX = s * dY
  static void backward(Tape<T>& tape, Node<T>& n) {
    Node<T>& x = tape.input(n, 0);
    if (x.needed) tape.accumulate(x, std::get<ScaleAttrs<T>>(n.attrs).factor * n.grad_array());
  }
};

template <class T>
struct AddBiasOp {
  // Y[r, :] = X[r, :] + b:  dX = dY,  db = sum over rows of dY
  static void backward(Tape<T>& tape, Node<T>& n) {
    Node<T>& x = tape.input(n, 0);
    Node<T>& b = tape.input(n, 1);
    if (x.needed) tape.accumulate(x, n.grad_array());
    if (b.needed) {
      T keep;
      T* db = tape.grad_for_write(b, &keep);
      Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>> dbm(db, n.shape.cols());
      if (keep == T(0)) dbm = n.grad_matrix().colwise().sum();
      else dbm += n.grad_matrix().colwise().sum();
    }
  }
};

template <class T>
struct ExpOp {
  // y = e^x:  dX = dY * y
  static void backward(Tape<T>& tape, Node<T>& n) {
    Node<T>& x = tape.input(n, 0);
    if (x.needed) tape.accumulate(x, n.grad_array() * n.value_array());
  }
};

template <class T>
struct LogOp {
  // y = log x:  dX = dY / x
  static void backward(Tape<T>& tape, Node<T>& n) {
    Node<T>& x = tape.input(n, 0);
    if (x.needed) tape.accumulate(x, n.grad_array() / x.value_array());
  }
};

}  // namespace detail

template <class T>
Var<T> add(const Var<T>& a, const Var<T>& b) {
  Var<T> y = detail::binary_elementwise("add", &detail::AddOp<T>::backward, a, b,
                                        [](const auto& x, const auto& z, auto& out) { out = x + z; });
  y.node().attrs = ScaleAttrs<T>{T(1)};
  return y;
}
template <class T>
Var<T> sub(const Var<T>& a, const Var<T>& b) {
  Var<T> y = detail::binary_elementwise("sub", &detail::AddOp<T>::backward, a, b,
                                        [](const auto& x, const auto& z, auto& out) { out = x - z; });
  y.node().attrs = ScaleAttrs<T>{T(-1)};
  return y;
}
template <class T>
Var<T> mul(const Var<T>& a, const Var<T>& b) {
  return detail::binary_elementwise("mul", &detail::MulOp<T>::backward, a, b,
                                    [](const auto& x, const auto& z, auto& out) { out = x * z; });
}

// y = s * x + c.
template <class T>
Var<T> scale(const Var<T>& x, T s, T c = T(0)) {
  Tape<T>& tape = x.tape();
  Node<T>& n = tape.record("scale", &detail::ScaleOp<T>::backward, x.shape(), {x});
  n.attrs = ScaleAttrs<T>{s};
  n.value_array() = s * x.array() + c;
  return tape.last();
}

// [rows, cols] + [cols] (or [1, cols]) broadcast over rows.
template <class T>
Var<T> add_bias(const Var<T>& x, const Var<T>& bias) {
  if (bias.numel() != x.cols() || bias.rows() != 1)
    detail::throw_shape("add_bias", "bias must be [cols] or [1, cols] of x", x.shape(), bias.shape());
  Tape<T>& tape = x.tape();
  Node<T>& n = tape.record("add_bias", &detail::AddBiasOp<T>::backward, x.shape(), {x, bias});
  Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>> b(bias.node().value, x.cols());
  n.value_matrix() = x.value().rowwise() + b;
  return tape.last();
}

template <class T>
Var<T> exp(const Var<T>& x) {
  Tape<T>& tape = x.tape();
  Node<T>& n = tape.record("exp", &detail::ExpOp<T>::backward, x.shape(), {x});
  n.value_array() = x.array().exp();
  return tape.last();
}
// Natural log; inputs must be positive (no clamping: a non-positive input gives NaN/-inf,
// which the trainers' non-finite checks report).
template <class T>
Var<T> log(const Var<T>& x) {
  Tape<T>& tape = x.tape();
  Node<T>& n = tape.record("log", &detail::LogOp<T>::backward, x.shape(), {x});
  n.value_array() = x.array().log();
  return tape.last();
}

template <class T>
Var<T> operator+(const Var<T>& a, const Var<T>& b) {
  return add(a, b);
}
template <class T>
Var<T> operator-(const Var<T>& a, const Var<T>& b) {
  return sub(a, b);
}
template <class T>
Var<T> operator*(const Var<T>& a, const Var<T>& b) {
  return mul(a, b);
}
template <class T>
Var<T> operator*(const Var<T>& a, T s) {
  return scale(a, s);
}
template <class T>
Var<T> operator*(T s, const Var<T>& a) {
  return scale(a, s);
}

}  // namespace vaegan
