#pragma once
// Dense<T>: y = act(x W + b), x [batch, in], W [in, out], b [out] -> y [batch, out].
//
// linear() is one fused op: the GEMM writes y, then one pass over y adds the bias and
// applies the activation (no separate bias and activation nodes, two fewer passes over
// memory forward and backward). Backward, from the saved output y:
//   dZ = dY * act'(y)       (skipped for identity: dZ is dY)
//   dW += x^T dZ,  db += sum over rows of dZ,  dX = dZ W^T
#include <algorithm>
#include <string>

#include "vaegan/autodiff/parameters.hpp"
#include "vaegan/autodiff/tape.hpp"
#include "vaegan/detail/gemm.hpp"
#include "vaegan/nn/init.hpp"
#include "vaegan/nn/module.hpp"
#include "vaegan/ops/activation.hpp"

namespace vaegan {

namespace detail {
template <class T>
struct LinearOp {
  // inputs: x, W, b; node.activation: the fused activation; saved: dZ
  // Only the rows of dY that can be non-zero (tape.grad_rows) take part: when a loss
  // reaches just the fake rows of a pass over [real; fake], the real rows cost nothing.
  static void backward(Tape<T>& tape, Node<T>& n) {
    Node<T>& x = tape.input(n, 0);
    Node<T>& w = tape.input(n, 1);
    Node<T>& b = tape.input(n, 2);
    const Activation act = n.activation;
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
  n.activation = act;
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

// A fully connected layer, act(x W + b): sample [in] -> [out]. Its activation is the one
// given here, or the activation layer that follows it in a Sequential (fused: one pass).
template <class T>
class Dense : public Module<T> {
 public:
  // A layer to compose: its parameters are registered when its network binds it.
  Dense(Index in, Index out, Activation act = Activation::identity(), Init init = Init::automatic)
      : in_(in), out_(out), act_(act), init_(init) {
    if (in < 1 || out < 1)
      throw ShapeError("Dense: widths must be >= 1, got " + std::to_string(in) + " -> " + std::to_string(out));
  }
  // A layer used on its own: registers "<name>.weight" [in, out] and "<name>.bias" [out]
  // in `params` now and initializes them.
  Dense(ParameterSet<T>& params, Index in, Index out, Activation act, Rng& rng, Init init = Init::automatic,
        const std::string& name = "dense")
      : Dense(in, out, act, init) {
    bind(params, name + ".");
    reset_parameters(rng);
  }

  std::string type() const override { return "Dense"; }
  Shape output_shape(const Shape& input) const override {
    if (input.rank() != 1 || input[0] != in_)
      throw ShapeError(
          detail::layer_label("Dense", path_) + " takes samples of [" + std::to_string(in_) + "], got " + input.str() +
          (input.rank() > 1 ? " (put a Flatten before it)" : " (the layer before it gives another width)"));
    return Shape{out_};
  }
  Attributes attributes() const override {
    Attributes a{{"in", std::to_string(in_)}, {"out", std::to_string(out_)}};
    if (act_.kind != ActivationKind::identity) a.emplace_back("activation", act_.name());
    return a;
  }
  void bind(ParameterSet<T>& params, const std::string& prefix) override {
    params_ = &params;
    path_ = prefix.empty() ? "" : prefix.substr(0, prefix.size() - 1);
    weight_ = params.add(prefix + "weight", Shape::matrix(in_, out_), TorchLayout::transposed);
    bias_ = params.add(prefix + "bias", Shape::vector(out_));
  }
  // Weights by the init (automatic: from the activation applied after the layer), bias 0.
  void reset_parameters(Rng& rng) override {
    require_bound();
    initialize_weights(params_->value_ptr(weight_), in_, out_, resolve_init(init_, applied_activation()), rng);
    std::fill(params_->value_ptr(bias_), params_->value_ptr(bias_) + out_, T(0));
  }
  bool fuse_activation(const Activation& act) override {
    if (act_.kind != ActivationKind::identity || fused_.kind != ActivationKind::identity) return false;
    fused_ = act;
    return true;
  }

  Var<T> forward(const Var<T>& x, const ForwardContext& /*ctx*/) const override { return forward(x); }
  Var<T> forward(const Var<T>& x) const {
    require_bound();
    Tape<T>& tape = x.tape();
    if (x.cols() != in_)
      throw ShapeError(detail::layer_label("Dense", path_) + ": input has " + std::to_string(x.cols()) +
                       " features per sample, the layer expects " + std::to_string(in_) + " (input " + x.shape().str() +
                       ")");
    return linear(x, tape.parameter(*params_, weight_), tape.parameter(*params_, bias_), applied_activation());
  }
  Var<T> operator()(const Var<T>& x) const { return forward(x); }

  Index in_features() const { return in_; }
  Index out_features() const { return out_; }
  // The activation the layer computes: its own, or the one fused from the next layer.
  Activation applied_activation() const { return act_.kind != ActivationKind::identity ? act_ : fused_; }
  int weight_index() const { return weight_; }
  int bias_index() const { return bias_; }
  ParameterSet<T>& parameters() const {
    require_bound();
    return *params_;
  }

 private:
  void require_bound() const {
    if (params_ == nullptr)
      throw Error("Dense " + std::to_string(in_) + " -> " + std::to_string(out_) +
                  ": the layer is not part of a network yet; compose it into a Sequential and a model (or "
                  "construct it with a ParameterSet)");
  }

  ParameterSet<T>* params_ = nullptr;
  std::string path_;
  Index in_, out_;
  Activation act_;
  Activation fused_;
  Init init_;
  int weight_ = -1, bias_ = -1;
};

}  // namespace vaegan
