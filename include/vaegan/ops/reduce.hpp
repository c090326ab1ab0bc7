#pragma once
// Reductions: sum and mean over all elements (-> [1]) or over each row (-> [rows, 1]).
//   sum:       dX = dY broadcast            mean:      dX = dY / numel
//   sum_rows:  dX[r, :] = dY[r]             mean_rows: dX[r, :] = dY[r] / cols
#include "vaegan/autodiff/tape.hpp"

namespace vaegan {

namespace detail {
template <class T>
struct SumAllOp {
  // factor (ScaleAttrs) = 1 (sum) or 1 / numel (mean)
  static void backward(Tape<T>& tape, Node<T>& n) {
    Node<T>& x = tape.input(n, 0);
    const T factor = std::get<ScaleAttrs<T>>(n.attrs).factor;
    if (x.needed) tape.accumulate(x, Eigen::Array<T, Eigen::Dynamic, 1>::Constant(x.numel(), factor * n.grad[0]));
  }
};
template <class T>
struct SumRowsOp {
  // factor (ScaleAttrs) = 1 (sum) or 1 / cols (mean)
  static void backward(Tape<T>& tape, Node<T>& n) {
    Node<T>& x = tape.input(n, 0);
    if (!x.needed) return;
    const T factor = std::get<ScaleAttrs<T>>(n.attrs).factor;
    T keep;
    T* dx = tape.grad_for_write(x, &keep);
    MatrixMap<T> dxm(dx, x.shape.rows(), x.shape.cols());
    Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>> dy(n.grad, n.shape.rows());
    if (keep == T(0)) dxm.colwise() = factor * dy;
    else dxm.colwise() += factor * dy;
  }
};
}  // namespace detail

template <class T>
Var<T> sum(const Var<T>& x) {
  Tape<T>& tape = x.tape();
  Node<T>& n = tape.record("sum", &detail::SumAllOp<T>::backward, Shape::scalar(), {x});
  n.attrs = ScaleAttrs<T>{T(1)};
  n.value[0] = x.array().sum();
  return tape.last();
}
template <class T>
Var<T> mean(const Var<T>& x) {
  Tape<T>& tape = x.tape();
  Node<T>& n = tape.record("mean", &detail::SumAllOp<T>::backward, Shape::scalar(), {x});
  const T factor = T(1) / static_cast<T>(x.numel());
  n.attrs = ScaleAttrs<T>{factor};
  n.value[0] = x.array().sum() * factor;
  return tape.last();
}
template <class T>
Var<T> sum_rows(const Var<T>& x) {
  Tape<T>& tape = x.tape();
  Node<T>& n = tape.record("sum_rows", &detail::SumRowsOp<T>::backward, Shape::matrix(x.rows(), 1), {x});
  n.attrs = ScaleAttrs<T>{T(1)};
  n.value_matrix() = x.value().rowwise().sum();
  return tape.last();
}
template <class T>
Var<T> mean_rows(const Var<T>& x) {
  Tape<T>& tape = x.tape();
  Node<T>& n = tape.record("mean_rows", &detail::SumRowsOp<T>::backward, Shape::matrix(x.rows(), 1), {x});
  const T factor = T(1) / static_cast<T>(x.cols());
  n.attrs = ScaleAttrs<T>{factor};
  n.value_matrix() = x.value().rowwise().sum() * factor;
  return tape.last();
}

}  // namespace vaegan
