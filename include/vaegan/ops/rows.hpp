#pragma once
// Row operations: concat_rows stacks up to four tensors with the same row width (to run
// one discriminator pass over real and generated rows together); slice_rows and
// split_rows take row ranges back out as views (no copy); detach stops gradients.
//   concat: dX_i = the rows of dY that came from X_i
//   slice:  dX[begin:end] += dY, the other rows of dX get nothing
// The tape tracks which rows of a gradient can be non-zero (Node::grad_rows_begin/end):
// slice_rows narrows it, linear and concat_rows use it to skip work on zero rows.
#include <array>
#include <string>

#include "vaegan/autodiff/tape.hpp"

namespace vaegan {

namespace detail {
template <class T>
struct ConcatRowsOp {
  static void backward(Tape<T>& tape, Node<T>& n) {
    // A part whose rows all lie outside dY's non-zero rows gets no gradient at all.
    const auto [live_begin, live_end] = tape.grad_rows(n);
    Index offset = 0, row = 0;
    for (int j = 0; j < n.num_inputs; ++j) {
      Node<T>& x = tape.input(n, j);
      const Index count = x.numel(), rows = x.shape.rows();
      if (x.needed && row < live_end && row + rows > live_begin)
        tape.accumulate(x, ConstArrayMap<T>(n.grad + offset, count));
      offset += count;
      row += rows;
    }
  }
};
template <class T>
struct SliceRowsOp {
  // attrs (SliceAttrs): the rows [begin, end) of x this node views
  static void backward(Tape<T>& tape, Node<T>& n) {
    Node<T>& x = tape.input(n, 0);
    if (!x.needed) return;
    // Only rows [begin, end) of dX are touched: tell the tape, so ops before it can skip
    // the rows that stay zero.
    const SliceAttrs rows = std::get<SliceAttrs>(n.attrs);
    T keep;
    T* dx = tape.grad_for_write_rows(x, rows.begin, rows.end, &keep);
    ArrayMap<T> block(dx + rows.begin * (x.numel() / x.shape.rows()), n.numel());
    if (keep == T(0)) block = n.grad_array();
    else block += n.grad_array();
  }
};
}  // namespace detail

template <class T>
Var<T> concat_rows(std::initializer_list<Var<T>> parts) {
  if (parts.size() < 1 || parts.size() > static_cast<std::size_t>(Node<T>::kMaxInputs))
    throw Error("concat_rows: takes 1 to 4 tensors, got " + std::to_string(parts.size()));
  const Var<T>& first = *parts.begin();
  Index rows = 0;
  for (const Var<T>& p : parts) {
    if (p.cols() != first.cols() || p.shape().rank() != first.shape().rank())
      detail::throw_shape("concat_rows", "all parts need the same row shape", first.shape(), p.shape());
    rows += p.rows();
  }
  Tape<T>& tape = first.tape();
  Node<T>& n = tape.record("concat_rows", &detail::ConcatRowsOp<T>::backward, first.shape().with_rows(rows), parts);
  T* out = n.value;
  for (const Var<T>& p : parts) out = std::copy(p.node().value, p.node().value + p.numel(), out);
  return tape.last();
}
template <class T>
Var<T> concat_rows(const Var<T>& a, const Var<T>& b) {
  return concat_rows<T>({a, b});
}
template <class T>
Var<T> concat_rows(const Var<T>& a, const Var<T>& b, const Var<T>& c) {
  return concat_rows<T>({a, b, c});
}

// Rows [begin, end) of x, as a view of x's memory.
template <class T>
Var<T> slice_rows(const Var<T>& x, Index begin, Index end) {
  if (begin < 0 || end > x.rows() || begin > end)
    throw ShapeError("slice_rows: rows [" + std::to_string(begin) + ", " + std::to_string(end) + ") out of range for " +
                     x.shape().str());
  Tape<T>& tape = x.tape();
  T* view = x.node().value + begin * x.cols();
  Node<T>& n =
      tape.record_view("slice_rows", &detail::SliceRowsOp<T>::backward, x.shape().with_rows(end - begin), view, {x});
  n.attrs = SliceAttrs{begin, end};
  return tape.last();
}

// Splits x into consecutive row blocks of the given sizes (which must add up to its rows).
template <class T, std::size_t N>
std::array<Var<T>, N> split_rows(const Var<T>& x, const std::array<Index, N>& sizes) {
  Index total = 0;
  for (Index s : sizes) total += s;
  if (total != x.rows())
    throw ShapeError("split_rows: sizes add up to " + std::to_string(total) + " rows, tensor " + x.shape().str() +
                     " has " + std::to_string(x.rows()));
  std::array<Var<T>, N> out;
  Index begin = 0;
  for (std::size_t i = 0; i < N; ++i) {
    out[i] = slice_rows(x, begin, begin + sizes[i]);
    begin += sizes[i];
  }
  return out;
}

// The same value with no gradient path back to x (a view, no copy).
template <class T>
Var<T> detach(const Var<T>& x) {
  Tape<T>& tape = x.tape();
  tape.record_view("detach", nullptr, x.shape(), x.node().value, {x});
  return tape.last();
}

}  // namespace vaegan
