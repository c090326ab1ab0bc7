#pragma once
// reshape: the same values under another shape that keeps the batch (first) dimension,
// as a view of the input's memory (no copy forward).
//   dX = dY viewed in X's shape: the rows of dY that can be non-zero are the rows of dX.
// When dX has nothing yet, dY's buffer becomes dX (Tape::hand_over_grad): no copy.
#include <string>

#include "vaegan/autodiff/tape.hpp"

namespace vaegan {

namespace detail {
template <class T>
struct ReshapeOp {
  static void backward(Tape<T>& tape, Node<T>& n) {
    Node<T>& x = tape.input(n, 0);
    if (!x.needed || tape.hand_over_grad(n, x)) return;
    const auto [row0, row1] = tape.grad_rows(n);
    const Index row_size = n.shape.cols();
    T keep;
    T* dx = tape.grad_for_write_rows(x, row0, row1, &keep);
    ArrayMap<T> block(dx + row0 * row_size, (row1 - row0) * row_size);
    ConstArrayMap<T> dy(n.grad + row0 * row_size, (row1 - row0) * row_size);
    if (keep == T(0)) block = dy;
    else block += dy;
  }
};
}  // namespace detail

// x [N, ...] viewed as `shape`, which must be [N, ...] with as many elements.
template <class T>
Var<T> reshape(const Var<T>& x, const Shape& shape) {
  if (shape.numel() != x.numel() || shape.rows() != x.rows() || shape.rank() < 2)
    detail::throw_shape("reshape", "the new shape must keep the batch dimension and the element count", x.shape(),
                        shape);
  Tape<T>& tape = x.tape();
  tape.record_view("reshape", &detail::ReshapeOp<T>::backward, shape, x.node().value, {x});
  return tape.last();
}

}  // namespace vaegan
