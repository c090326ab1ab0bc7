#pragma once
// linear(x, W, b, act) = act(x W + b), x [batch, in], W [in, out], b [out] -> [batch, out]:
// the op of Dense<T> (nn/dense.hpp).
//
// One fused op: the GEMM writes y, then one pass over y adds the bias and applies the
// activation (no separate bias and activation nodes, two fewer passes over memory forward
// and backward). Backward, from the saved output y:
//   dZ = dY * act'(y)       (skipped for identity: dZ is dY)
//   dW += x^T dZ,  db += sum over rows of dZ,  dX = dZ W^T
#include <algorithm>

#include "vaegan/autodiff/tape.hpp"
#include "vaegan/core/activation_kind.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/core/parallel.hpp"
#include "vaegan/core/profile.hpp"
#include "vaegan/detail/gemm.hpp"
#include "vaegan/ops/activation.hpp"

namespace vaegan {

namespace detail {
template <class T>
struct LinearOp {
  // inputs: x, W, b; attrs: the fused Activation; saved: dZ
  // Only the rows of dY that can be non-zero (tape.grad_rows) take part: when a loss
  // reaches just the fake rows of a pass over [real; fake], the real rows cost nothing.
  static void backward(Tape<T>& tape, Node<T>& n) {
    Node<T>& x = tape.input(n, 0);
    Node<T>& w = tape.input(n, 1);
    Node<T>& b = tape.input(n, 2);
    const Activation act = std::get<Activation>(n.attrs);
    const Index out = n.shape.cols(), in = x.shape.cols();
    const auto [row0, row1] = tape.grad_rows(n);
    const Index rows = row1 - row0;
    const T* dz = n.grad + row0 * out;
    if (act.kind != ActivationKind::identity) {
      // dZ = dY * act'(Y), from the saved output
      n.saved.resize(n.shape);
      T* dzw = n.saved.data() + row0 * out;
      const T* y = n.value + row0 * out;
      const T* dy = n.grad + row0 * out;
      parallel_for(rows * out, [&](Index s, Index e) { activation_grad(act, y, dy, dzw, s, e, T(0)); });
      dz = dzw;
    }
    if (w.needed) {
      // dW = X^T dZ
      VAEGAN_PROFILE_SCOPE("linear weight grad", profile::layer(x.shape, n.shape), 2.0 * double(rows * in * out), 0);
      T keep;
      T* dw = tape.grad_for_write(w, &keep);
      gemm<T>(true, false, in, out, rows, T(1), x.value + row0 * in, in, dz, out, keep, dw, out);  // [in, out]
    }
    if (b.needed) {
      // db = column sums of dZ
      T keep;
      T* db = tape.grad_for_write(b, &keep);
      Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>> dbm(db, out);
      ConstMatrixMap<T> dzm(dz, rows, out);
      if (keep == T(0)) dbm = dzm.colwise().sum();
      else dbm += dzm.colwise().sum();
    }
    if (x.needed) {
      // dX = dZ W^T, rows [row0, row1) only
      VAEGAN_PROFILE_SCOPE("linear input grad", profile::layer(x.shape, n.shape), 2.0 * double(rows * in * out), 0);
      T keep;
      T* dx = tape.grad_for_write_rows(x, row0, row1, &keep);
      gemm<T>(false, true, rows, in, out, T(1), dz, out, w.value, out, keep, dx + row0 * in, in);  // [rows, in]
    }
  }
};
}  // namespace detail

// act(x W + b) as one recorded op.
template <class T>
Var<T> linear(const Var<T>& x, const Var<T>& w, const Var<T>& b, const Activation& act = Activation::identity()) {
  if (w.shape().rank() != 2 || x.cols() != w.rows())
    detail::throw_shape("linear", "x [batch, in] needs W [in, out]", x.shape(), w.shape());
  if (b.numel() != w.cols()) detail::throw_shape("linear", "bias must be [out] of W [in, out]", w.shape(), b.shape());
  Tape<T>& tape = x.tape();
  const Index batch = x.rows(), in = w.rows(), out = w.cols();
  Node<T>& n = tape.record("linear", &detail::LinearOp<T>::backward, Shape::matrix(batch, out), {x, w, b});
  n.attrs = act;
  VAEGAN_PROFILE_SCOPE("linear forward", profile::layer(x.shape(), n.shape), 2.0 * double(batch * in * out), 0);
  T* y = n.value;
  detail::gemm<T>(false, false, batch, out, in, T(1), x.node().value, in, w.node().value, out, T(0), y, out);
  // Epilogue: bias and activation in one pass, parallel over row blocks.
  const T* bias = b.node().value;
  const Index grain_rows = std::max<Index>(1, detail::kParallelGrain / std::max<Index>(out, 1));
  detail::parallel_for(
      batch,
      [&](Index r0, Index r1) {
        RowArrayMap<T> block(y + r0 * out, r1 - r0, out);
        block.rowwise() += Eigen::Map<const Eigen::Array<T, 1, Eigen::Dynamic>>(bias, out);
        detail::apply_activation(act, y, y, r0 * out, r1 * out);
      },
      grain_rows);
  return tape.last();
}

}  // namespace vaegan
