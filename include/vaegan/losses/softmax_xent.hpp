#pragma once
// Softmax cross-entropy on logits [batch, classes] with integer labels, mean over the batch:
//   l_r = logsumexp(x_r) - x_r[label_r],   dx_r = (softmax(x_r) - onehot(label_r)) / batch * dL
// The softmax is computed with the row maximum subtracted and saved for backward.
#include <cmath>
#include <string>
#include <vector>

#include "vaegan/autodiff/tape.hpp"

namespace vaegan {

namespace detail {
template <class T>
struct SoftmaxXentOp {
  // node.saved = softmax probabilities; input 1 = labels as a constant [batch] tensor
  static void backward(Tape<T>& tape, Node<T>& n) {
    Node<T>& x = tape.input(n, 0);
    if (!x.needed) return;
    const Node<T>& labels = tape.input(n, 1);
    const Index rows = x.shape.rows(), cols = x.shape.cols();
    const T g = n.grad[0] / static_cast<T>(rows);
    T keep;
    T* dx = tape.grad_for_write(x, &keep);
    for (Index r = 0; r < rows; ++r) {
      const Index label = static_cast<Index>(labels.value[r]);
      for (Index c = 0; c < cols; ++c) {
        const T v = g * (n.saved[r * cols + c] - (c == label ? T(1) : T(0)));
        // Select, not v + keep * dx: a first contribution overwrites a reused buffer,
        // whose stale contents may be inf or NaN (0 * NaN is NaN).
        dx[r * cols + c] = keep == T(0) ? v : v + dx[r * cols + c];
      }
    }
  }
};
}  // namespace detail

template <class T>
Var<T> softmax_cross_entropy(const Var<T>& logits, const int* labels, Index count) {
  const Index rows = logits.rows(), cols = logits.cols();
  if (count != rows)
    throw ShapeError("softmax_cross_entropy: " + std::to_string(count) + " labels for logits " + logits.shape().str());
  Tape<T>& tape = logits.tape();
  Var<T> label_var = tape.full(Shape::vector(rows), T(0));
  for (Index r = 0; r < rows; ++r) {
    if (labels[r] < 0 || labels[r] >= cols)
      throw Error("softmax_cross_entropy: label " + std::to_string(labels[r]) + " at row " + std::to_string(r) +
                  " is outside [0, " + std::to_string(cols) + ")");
    label_var.node().value[r] = static_cast<T>(labels[r]);
  }
  Node<T>& n =
      tape.record("softmax_cross_entropy", &detail::SoftmaxXentOp<T>::backward, Shape::scalar(), {logits, label_var});
  n.saved.resize(logits.shape());
  MatrixMap<T> p = n.saved.matrix();
  const auto x = logits.value();
  T total = T(0);
  for (Index r = 0; r < rows; ++r) {
    const T m = x.row(r).maxCoeff();
    p.row(r) = (x.row(r).array() - m).exp();
    const T z = p.row(r).sum();
    p.row(r) /= z;
    total += m + std::log(z) - x(r, labels[r]);
  }
  n.value[0] = total / static_cast<T>(rows);
  return tape.last();
}
template <class T>
Var<T> softmax_cross_entropy(const Var<T>& logits, const std::vector<int>& labels) {
  return softmax_cross_entropy(logits, labels.data(), static_cast<Index>(labels.size()));
}

}  // namespace vaegan
