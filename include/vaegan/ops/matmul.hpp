#pragma once
// matmul: C = op(A) op(B), where op transposes when asked.
//
// With A' = op(A), B' = op(B), C = A' B':  dA' = dC B'^T,  dB' = A'^T dC, so
//   dA = trans_a ? B' dC^T : dC B'^T        dB = trans_b ? dC^T A' : A'^T dC
// Every case is one call of detail::gemm with the right transpose flags; no transposed
// copies are made.
#include "vaegan/autodiff/tape.hpp"
#include "vaegan/detail/gemm.hpp"

namespace vaegan {

namespace detail {
template <class T>
struct MatmulOp {
  static void backward(Tape<T>& tape, Node<T>& n) {
    Node<T>& a = tape.input(n, 0);
    Node<T>& b = tape.input(n, 1);
    const MatmulAttrs& attrs = std::get<MatmulAttrs>(n.attrs);
    const bool ta = attrs.transpose_a, tb = attrs.transpose_b;
    const Index m = n.shape.rows(), nn = n.shape.cols();
    const Index k = ta ? a.shape.rows() : a.shape.cols();
    const Index lda = a.shape.cols(), ldb = b.shape.cols();
    if (a.needed) {
      T keep;
      T* da = tape.grad_for_write(a, &keep);
      if (!ta)  // dA[m, k] = dC[m, n] B'^T
        gemm<T>(false, !tb, m, k, nn, T(1), n.grad, nn, b.value, ldb, keep, da, lda);
      else  // dA[k, m] = B'[k, n] dC^T
        gemm<T>(tb, true, k, m, nn, T(1), b.value, ldb, n.grad, nn, keep, da, lda);
    }
    if (b.needed) {
      T keep;
      T* db = tape.grad_for_write(b, &keep);
      if (!tb)  // dB[k, n] = A'^T dC
        gemm<T>(!ta, false, k, nn, m, T(1), a.value, lda, n.grad, nn, keep, db, ldb);
      else  // dB[n, k] = dC^T A'
        gemm<T>(true, ta, nn, k, m, T(1), n.grad, nn, a.value, lda, keep, db, ldb);
    }
  }
};
}  // namespace detail

// [m, k] x [k, n] -> [m, n] (with the transposes applied to the stored shapes first).
template <class T>
Var<T> matmul(const Var<T>& a, const Var<T>& b, bool trans_a = false, bool trans_b = false) {
  // Copies, not references: a Var's shape lives in the tape's node vector, which may
  // reallocate when record() appends the output node below.
  const Shape sa = a.shape();
  const Shape sb = b.shape();
  if (sa.rank() > 2 || sb.rank() > 2) detail::throw_shape("matmul", "operands must be matrices (rank 1 or 2)", sa, sb);
  const Index m = trans_a ? sa.cols() : sa.rows();
  const Index k = trans_a ? sa.rows() : sa.cols();
  const Index k2 = trans_b ? sb.cols() : sb.rows();
  const Index n_cols = trans_b ? sb.rows() : sb.cols();
  if (k != k2) detail::throw_shape("matmul", "inner dimensions differ", sa, sb);
  Tape<T>& tape = a.tape();
  Node<T>& n = tape.record("matmul", &detail::MatmulOp<T>::backward, Shape::matrix(m, n_cols), {a, b});
  n.attrs = MatmulAttrs{trans_a, trans_b};
  detail::gemm<T>(trans_a, trans_b, m, n_cols, k, T(1), a.node().value, sa.cols(), b.node().value, sb.cols(), T(0),
                  n.value, n_cols);
  return tape.last();
}

}  // namespace vaegan
